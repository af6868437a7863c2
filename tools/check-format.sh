#!/usr/bin/env bash
# Checks that every C file (*.c, *.h under src include tests examples bench) is formatted as the
# repository's .clang-format says, with Debian's clang-format 14 in dry-run mode; changes nothing.
# Prints the files that differ; fails if any does. Fix one with `clang-format -i FILE`.
#   tools/check-format.sh [-v]    (-v: show every place that differs)
#   CLANG_FORMAT=clang-format-14 tools/check-format.sh
set -u
cd "$(dirname "$0")/.." || exit 1
verbose=0
[ "${1:-}" = -v ] && verbose=1

cf=${CLANG_FORMAT:-}
if [ -z "$cf" ]; then
    if command -v clang-format-14 >/dev/null 2>&1; then cf=clang-format-14; else cf=clang-format; fi
fi
command -v "$cf" >/dev/null 2>&1 || { echo "check-format: $cf not found (apt-get install clang-format)"; exit 1; }
version=$("$cf" --version)
# other versions break lines differently: their complaints would not be ours
[[ $version =~ version\ 14\. ]] || echo "check-format: warning: $version; the tree follows clang-format 14"

dirs=(src include tests examples bench)
files=()
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    while IFS= read -r f; do
        [ -f "$f" ] && files+=("$f")
    done < <(git ls-files --cached --others --exclude-standard -- "${dirs[@]}" | grep -E '\.[ch]$' | LC_ALL=C sort)
else
    while IFS= read -r f; do
        files+=("$f")
    done < <(find "${dirs[@]}" -type f -name '*.[ch]' 2>/dev/null | LC_ALL=C sort)
fi
[ "${#files[@]}" -gt 0 ] || { echo "check-format: no C files found"; exit 1; }

out=$("$cf" --style=file --dry-run -Werror "${files[@]}" 2>&1)
rc=$?
if [ "$rc" -eq 0 ]; then
    echo "check-format: ok (${#files[@]} files)"
    exit 0
fi
# "FILE:LINE:COL: error: code should be clang-formatted [-Wclang-format-violations]"
bad=$(printf '%s\n' "$out" | sed -n 's/^\([^:]*\):[0-9]*:[0-9]*: error: code should be clang-formatted.*/\1/p' | uniq -c)
if [ -z "$bad" ]; then # clang-format failed for another reason: show it
    printf '%s\n' "$out"
    echo "check-format: $cf failed (exit status $rc)"
    exit 1
fi
echo "check-format: not formatted as .clang-format says (places per file; clang-format -i FILE fixes):"
printf '%s\n' "$bad" | while read -r n f; do printf '  %s (%s)\n' "$f" "$n"; done
[ "$verbose" -eq 1 ] && printf '%s\n' "$out"
echo "check-format: $(printf '%s\n' "$bad" | wc -l) of ${#files[@]} files differ"
exit 1
