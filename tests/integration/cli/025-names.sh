#!/usr/bin/env bash
# Names and paths (issue 12, finding 8): box names follow upstream's rule
# ^[a-zA-Z0-9][a-zA-Z0-9._-]*$, at most 128 characters, and anything else is refused by create
# and run with one "Error: ..." line (create 1, run 125) before anything is made; a message that
# quotes what the user typed never sends a control character to the terminal; `--home ''` is a
# usage error rather than a silent ~/.boxlite. Each case failed before its fix.
. "$(dirname "$0")/../../lib/tap.sh"

setup() { bl load -i "$(fixture busybox oci)" >/dev/null; assert_rc 0; }

# Whether a string holds a control character other than a newline (one-line messages are
# checked with assert_one_error_line).
has_control() { local LC_ALL=C; [[ $1 == *[$'\x01'-$'\x09'$'\x0b'-$'\x1f'$'\x7f']* ]]; }

t_valid_names() {
    setup
    local long; long=$(printf 'n%.0s' $(seq 1 128))
    local name
    for name in a Z 0 9box a.b a_b a-b A.b_C-d.. x...y "$long"; do
        bl create --name "$name" busybox; assert_rc 0
        [ "$RC" -eq 0 ] || diag "name: $name"
        bl inspect -f '{{.Name}}' "$name"; assert_eq "$OUT" "$name"
        bl rm "$name"; assert_rc 0
    done
    bl run --rm --name "$long" busybox true; assert_rc 0
}

t_invalid_names() {
    setup
    local names=("" "/" "a/b" "../x" ".." "." ".hidden" "-rf" "_a" "a b" " a" "a:b" "a@b"
        $'a\nb' $'\e[31mred\e[0m' $'\e]0;title\a' $'a\tb' $'a\rb' "é" "a*" "$(printf 'n%.0s' $(seq 1 129))"
        "$(printf 'x%.0s' $(seq 1 5000))")
    local name
    for name in "${names[@]}"; do
        bl create --name "$name" busybox; assert_rc 1; assert_one_error_line
        assert_match "$ERR" '^Error: invalid argument: ' "create --name ${name:0:20}"
        has_control "$ERR" && fail "a control character reached the terminal: $(printf %q "$ERR")"
        [ "${#ERR}" -lt 400 ] || fail "error line of ${#ERR} characters"
        bl run --rm --name "$name" busybox true; assert_rc 125; assert_one_error_line
        has_control "$ERR" && fail "a control character reached the terminal (run)"
    done
    bl ls -a -q; assert_eq "$OUT" "" "no box was made"
    [ -z "$(ls -A "$T_HOME/boxes" 2>/dev/null)" ] || fail "a box directory was left"
    # the messages
    bl create --name "a/b" busybox
    assert_eq "$ERR" 'Error: invalid argument: invalid box name "a/b": only [a-zA-Z0-9][a-zA-Z0-9_.-]* is allowed'
    bl create --name $'\e[31mred' busybox
    assert_eq "$ERR" 'Error: invalid argument: invalid box name "\x1b[31mred": only [a-zA-Z0-9][a-zA-Z0-9_.-]* is allowed'
    bl create --name $'a\nb' busybox
    assert_eq "$ERR" 'Error: invalid argument: invalid box name "a\nb": only [a-zA-Z0-9][a-zA-Z0-9_.-]* is allowed'
    bl create --name "" busybox
    assert_eq "$ERR" 'Error: invalid argument: a box name must not be empty'
    bl create --name "$(printf 'x%.0s' $(seq 1 5000))" busybox
    assert_eq "$ERR" 'Error: invalid argument: a box name is at most 128 characters long (this one has 5000)'
}

# Any message that quotes what the user typed (here: a box that does not exist) is safe to
# print: control characters and invalid UTF-8 arrive escaped; ordinary UTF-8 is kept.
t_messages_escaped() {
    setup
    bl exec $'\e]0;pwned\a\e[2J' true; assert_rc 1; assert_one_error_line
    has_control "$ERR" && fail "a control character reached the terminal: $(printf %q "$ERR")"
    assert_eq "$ERR" 'Error: No such box: \x1b]0;pwned\x07\x1b[2J'
    # usage errors quote too
    bl ls $'\e[2J'; assert_rc 2
    has_control "$ERR" && fail "a control character reached the terminal: $(printf %q "$ERR")"
    assert_eq "$(head -n1 <<<"$ERR")" "error: unexpected argument '\\x1b[2J' found"
    bl cp $'nosuch\e[1m:/x' "$T_HOME/x"; assert_rc 1; assert_one_error_line
    assert_eq "$ERR" 'Error: box '"'"'nosuch\x1b[1m'"'"' not found'
    # C1 controls (U+009B is a CSI on some terminals) and stray bytes too; é stays é
    bl cp $'n\xc2\x9b2J\xff-é:/x' "$T_HOME/x"; assert_rc 1
    assert_eq "$ERR" 'Error: box '"'"'n\xc2\x9b2J\xff-é'"'"' not found'
}

# `--home ''` meant ~/.boxlite in silence: a usage error now, before anything is opened.
t_empty_home() {
    local fake="$T_HOME/fakehome"
    mkdir -p "$fake"
    local rc
    HOME=$fake BOXLITE_HOME='' "$BOXLITE_BIN" --home '' ls >"$T_HOME/out" 2>"$T_HOME/err"; rc=$?
    assert_eq "$rc" 2 "--home ''"
    assert_eq "$(head -n1 "$T_HOME/err")" "error: invalid value '' for '--home <HOME>': the home directory must not be empty"
    [ ! -e "$fake/.boxlite" ] || fail "--home '' opened ~/.boxlite"
    HOME=$fake "$BOXLITE_BIN" --home= ls >/dev/null 2>&1; rc=$?
    assert_eq "$rc" 2 "--home="
    HOME=$fake "$BOXLITE_BIN" ls --home '' >/dev/null 2>&1; rc=$?
    assert_eq "$rc" 2 "--home '' after the command"
    HOME=$fake "$BOXLITE_BIN" ls --home= >/dev/null 2>&1; rc=$?
    assert_eq "$rc" 2 "--home= after the command"
    [ ! -e "$fake/.boxlite" ] || fail "--home '' opened ~/.boxlite"
    # unset stays the default; a relative one stays an error of the runtime
    HOME=$fake BOXLITE_HOME='' "$BOXLITE_BIN" ls -q >/dev/null 2>&1; rc=$?
    assert_eq "$rc" 0 "no --home"
    [ -d "$fake/.boxlite" ] || fail "the default home was not used"
}

# Every command that names a box it cannot find quotes it escaped (start/stop/rm/inspect), so
# a hostile argument (or a name read back from a script) never reaches the terminal raw.
t_lookup_errors_escaped() {
    local esc=$'\e]0;owned\a' cmd
    for cmd in start stop rm inspect; do
        bl "$cmd" "$esc"
        assert_rc 1
        [[ $ERR != *$'\e'* && $ERR != *$'\a'* ]] || fail "$cmd printed a raw control character: ${ERR@Q}"
        assert_contains "$ERR" '\x1b]0;owned\x07' "$cmd's error"
    done
    bl ls --format $'\e[2J'; assert_rc 1
    [[ $ERR != *$'\e'* ]] || fail "ls --format printed a raw escape: ${ERR@Q}"
}

run_tests t_valid_names t_invalid_names t_messages_escaped t_empty_home t_lookup_errors_escaped
