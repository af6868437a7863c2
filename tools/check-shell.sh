#!/usr/bin/env bash
# Runs shellcheck (-x -S warning) over every shell script in the repository: the *.sh files and
# every file whose first line is a shell's shebang (tools/run-tests, .ci/run, ...). Prints what
# it found wrong; fails on any warning or error.
#   tools/check-shell.sh [-l]    (-l: only list the scripts)
set -u
cd "$(dirname "$0")/.." || exit 1

list_files() { # every file of the source tree: git's list, or a walk that skips the build
    if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        git ls-files --cached --others --exclude-standard
    else
        find . -path ./build -prune -o -path ./.git -prune -o -type f -print | sed 's|^\./||'
    fi
}

scripts=()
while IFS= read -r f; do
    [ -f "$f" ] || continue
    case $f in
        *.sh | *.bash) scripts+=("$f"); continue ;;
    esac
    IFS= read -r first <"$f" 2>/dev/null || continue
    if [[ $first =~ ^#![[:space:]]*(/usr)?/bin/(env[[:space:]]+)?(ba|da|k)?sh([[:space:]]|$) ]]; then
        scripts+=("$f")
    fi
done < <(list_files | LC_ALL=C sort)

if [ "${1:-}" = -l ]; then
    printf '%s\n' "${scripts[@]}"
    exit 0
fi
[ "${#scripts[@]}" -gt 0 ] || { echo "check-shell: no scripts found"; exit 1; }
if shellcheck -x -S warning "${scripts[@]}"; then
    echo "check-shell: ok (${#scripts[@]} scripts)"
else
    echo "check-shell: shellcheck found problems (in ${#scripts[@]} scripts)"
    exit 1
fi
