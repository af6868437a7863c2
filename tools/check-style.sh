#!/bin/sh
# Banned calls and fd flags in src/ (house style §3.11). Prints offending lines; fails on any.
set -u
cd "$(dirname "$0")/.." || exit 1
fail=0
check() { # message, grep -E pattern, [files]
    msg=$1; pat=$2; shift 2
    out=$(grep -nE "$pat" "$@" 2>/dev/null | grep -v 'NOLINT' || true)
    if [ -n "$out" ]; then echo "check-style: $msg"; echo "$out" | sed 's/^/  /'; fail=1; fi
}
SRC=$(find src -name '*.c' -o -name '*.h')
# shellcheck disable=SC2086
check "banned function" '(^|[^_a-z0-9.>])(strcpy|strcat|sprintf|vsprintf|gets|strtok|atoi|atol|system|popen|signal|dup|dup2|basename|dirname|mktemp|tmpnam)\(' $SRC
LIB_SRC=$(find src/lib src/basic -name '*.c')
# shellcheck disable=SC2086
check "exit() in the library" '(^|[^_a-z])exit\(' $LIB_SRC
NOT_PARSE_SRC=$(echo "$SRC" | grep -v '^src/basic/parse-util.c$')
# shellcheck disable=SC2086
check "integer parsing outside src/basic/parse-util.c (use bl_parse_*/bl_scan_u64)" '(^|[^_a-z])strto(l|ll|ul|ull|imax|umax)\(' $NOT_PARSE_SRC
# shellcheck disable=SC2086
out=$(grep -nE '(^|[^_a-z])(open|openat|socket|socketpair|accept4|pipe2)\(' $SRC | grep -E 'O_(RDONLY|WRONLY|RDWR|PATH)|SOCK_(STREAM|DGRAM|SEQPACKET)|pipe2' | grep -vE 'CLOEXEC|NOLINT' || true)
if [ -n "$out" ]; then echo "check-style: fd opened without CLOEXEC"; echo "$out" | sed 's/^/  /'; fail=1; fi
[ "$fail" -eq 0 ] && echo "check-style: ok"
exit $fail
