#!/usr/bin/env bash
# boxlite completion bash|zsh|fish (hidden, spec/cli.md §4.18): every visible command and flag,
# no hidden one, and scripts the shells accept.
. "$(dirname "$0")/../../lib/tap.sh"

visible_commands() {
    "$BOXLITE_BIN" --help | sed -n '/^Commands:/,/^$/p' | awk 'NR > 1 && NF { print $1 }'
}

t_scripts_cover_everything() {
    local shell c
    for shell in bash zsh fish; do
        bl completion "$shell"; assert_rc 0
        [ -n "$OUT" ] || fail "$shell: empty script"
        for c in $(visible_commands); do
            assert_contains "$OUT" "$c" "$shell script"
        done
        for c in --rootfs --cpus --memory --pids-limit --volume --tty --interactive --follow \
            --tail --timestamps --stream --no-overwrite --follow-symlinks --format --home; do
            [[ $OUT == *"${c#--}"* ]] || fail "$shell: no $c"
        done
        for c in kernel initramfs nested-virtualization; do
            assert_not_contains "$OUT" "$c" "$shell script"
        done
    done
}

# Help and completion come from the same option tables: every flag a command's --help lists is
# among that command's completion words, and the other way round.
t_help_and_completion_agree() {
    local c script line help_flags comp_flags
    bl completion bash; script=$OUT
    for c in $(visible_commands); do
        [ "$c" = help ] && continue
        bl "$c" --help; assert_rc 0
        help_flags=$(sed -n 's/^ *\(-[a-zA-Z], \)\?--\([a-z-]*\).*/--\2/p' <<<"$OUT" | sort -u)
        line=$(grep -E "^        $c(\|[a-z|]+)?\) words=" <<<"$script") \
            || { fail "$c: no completion case"; continue; }
        # --config and --registry are listed by `boxlite --help` only
        comp_flags=$(grep -o -- '--[a-z-]*' <<<"${line#*words=}" |
            grep -v -x -e --config -e --registry | sort -u)
        assert_eq "$comp_flags" "$help_flags" "$c: completion words vs --help"
    done
}

t_hidden_and_errors() {
    bl --help; assert_rc 0; assert_not_contains "$OUT" completion
    local c
    for c in $(visible_commands); do
        bl "$c" --help; assert_not_contains "$OUT" completion "$c --help"
    done
    bl completion powershell; assert_rc 2; assert_contains "$ERR" "invalid value 'powershell'"
    bl completion; assert_rc 2
}

t_shells_accept_them() {
    bl completion bash
    bash -n <<<"$OUT" || fail "bash: syntax error"
    # complete `boxlite ru` and `boxlite run --me` with the generated function
    local words
    words=$(bash -c "$OUT"'
        COMP_WORDS=(boxlite ru); COMP_CWORD=1; _boxlite; echo "${COMPREPLY[*]}"
        COMP_WORDS=(boxlite run --me); COMP_CWORD=2; _boxlite; echo "${COMPREPLY[*]}"
        COMP_WORDS=(boxlite logs --ta); COMP_CWORD=2; _boxlite; echo "${COMPREPLY[*]}"')
    assert_eq "$words" $'run\n--memory\n--tail'
    if command -v zsh >/dev/null; then
        bl completion zsh; zsh -n <<<"$OUT" || fail "zsh: syntax error"
    fi
    if command -v fish >/dev/null; then
        bl completion fish; fish -n <<<"$OUT" || fail "fish: syntax error"
    fi
}

run_tests t_scripts_cover_everything t_help_and_completion_agree t_hidden_and_errors \
    t_shells_accept_them
