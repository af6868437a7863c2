#!/bin/sh
# The module graph of src/ must have no loops (issue 13, docs/design/architecture.md). For each
# part (basic, lib, shim, cli) two graphs are checked with tsort(1), which fails on a loop and
# names its modules:
#   includes: module A -> B when A.c or A.h includes "B.h" of the same part;
#   calls:    module A -> B when A.o uses a global symbol that B.o defines (needs a build:
#             build/$BUILD, default release; skipped with a note when absent).
# A module is a .c with its .h (same base name). Calls through function pointers (callbacks)
# are not edges: that is how a lower module is handed work from above.
# In src/lib, the floors must only point down (a module may use its own floor and those below):
#   0 src/lib/*.c (home, store, staging, helpers, ids, caps, seccomp) < 1 src/lib/image/ <
#   2 src/lib/box/ < 3 the API facade (src/lib/api.c).
# -g prints both graphs ("A B" = A uses B) instead of checking.
set -u
cd "$(dirname "$0")/.." || exit 1
PARTS="src/basic src/lib src/shim src/cli"
includes() {
    for f in $(find "$1" -name '*.[ch]' | sort); do
        from=$(basename "$f"); from=${from%.*}
        echo "$from $from"
        # "boxlite/x.h" is the public API (include/), not a module of the part
        grep -oE '^#include "[^"/]+\.h"' "$f" | sed 's/^#include "//; s/\.h"$//' |
            while read -r to; do
                [ "$to" = "$from" ] && continue
                [ -n "$(find "$1" -name "$to.h" | head -n1)" ] && echo "$from $to"
            done
    done | sort -u
}
calls() {
    objdir=build/${BUILD:-release}/$1
    [ -d "$objdir" ] || return 0
    tmp=$(mktemp -d) || return 1
    for o in $(find "$objdir" -name '*.o' | sort); do
        src=${o#build/"${BUILD:-release}"/}
        [ -f "${src%.o}.c" ] || continue # a stale object of a source that moved
        m=$(basename "$o" .o)
        echo "$m $m"
        nm --defined-only "$o" | awk -v m="$m" '$2 ~ /^[TDBR]$/ {print $3, m}' >>"$tmp/defs"
        nm -u "$o" | awk -v m="$m" '{print $2, m}' >>"$tmp/uses"
    done
    sort -k1,1 "$tmp/defs" >"$tmp/defs.s"
    sort -k1,1 "$tmp/uses" >"$tmp/uses.s"
    join "$tmp/uses.s" "$tmp/defs.s" | awk '$2 != $3 {print $2, $3}' | sort -u
    rm -rf "$tmp"
}
if [ "${1:-}" = -g ]; then
    for part in $PARTS; do
        echo "# $part includes"; includes $part | awk '$1 != $2'
        echo "# $part calls"; calls $part | awk '$1 != $2'
    done
    exit 0
fi
floor() { # module of src/lib -> its floor
    case $(find src/lib -name "$1.c" -o -name "$1.h" | head -n1) in
    src/lib/api.c) echo 3 ;;
    src/lib/box/*) echo 2 ;;
    src/lib/image/*) echo 1 ;;
    *) echo 0 ;;
    esac
}
fail=0
for kind in includes calls; do
    $kind src/lib | while read -r a b; do
        [ "$a" = "$b" ] && continue
        fa=$(floor "$a") fb=$(floor "$b")
        [ "$fa" -ge "$fb" ] || echo "check-layers: $a (floor $fa) $kind $b (floor $fb): a floor above"
    done
done | grep . && fail=1
for part in $PARTS; do
    for kind in includes calls; do
        if ! out=$($kind $part | tsort 2>&1 >/dev/null) || [ -n "$out" ]; then
            echo "check-layers: loop in the $kind of $part:"; echo "$out" | grep -v 'input contains a loop' | sed 's/^tsort: /  /'
            fail=1
        fi
    done
    [ -d "build/${BUILD:-release}/$part" ] || echo "check-layers: no build/${BUILD:-release}/$part: calls of $part not checked"
done
[ "$fail" -eq 0 ] && echo "check-layers: ok"
exit $fail
