#!/usr/bin/env bash
# shellcheck disable=SC2034 # RC is read by tap.sh's assertions
# The caller's stdio and the box: pipes, sockets and terminals are handed to the box as they are
# (zero copy), but a host file, directory or device is never handed over, since the box could
# reopen it through /proc/self/fd/N with more access than it was given (read a `>>` log, truncate
# it, overwrite a `<` input, walk a directory): those go through a pipe that boxlite copies on
# the caller's side. Each attack below succeeded before that relay; the rest shows that the
# relay is exact (bytes, order, EOF, exit codes) for run and exec.
# shellcheck disable=SC2016 # the $ in sh -c '...' are the box shell's
. "$(dirname "$0")/../../lib/tap.sh"

setup() { bl load -i "$(fixture busybox oci)" >/dev/null; assert_rc 0; }
# blx ARGS...: boxlite in the test's home with the caller's own redirections; sets RC.
blx() { "$BOXLITE_BIN" --home "$T_HOME" "$@"; RC=$?; }

# What a box tries on the fd it was given as stdout (fd 3 = a copy of it): read what the file
# held before, then truncate it; it prints "after" last.
ATTACK_OUT='exec 3>&$0
timeout 2 cat /proc/self/fd/3 >/tmp/got 2>/dev/null
grep -q secret /tmp/got && echo LEAKED >&2
: >/proc/self/fd/3 2>/dev/null
echo after >&3'

t_stdout_file_not_reopened() {
    setup
    local log=$T_HOME/log
    printf 'secret-earlier\n' >"$log"
    blx run --rm busybox sh -c "$ATTACK_OUT" 1 >>"$log" 2>"$T_HOME/err"
    assert_rc 0
    assert_eq "$(cat "$log")" "$(printf 'secret-earlier\nafter')" "the log"
    assert_not_contains "$(cat "$T_HOME/err")" LEAKED "stderr"
}

t_stderr_file_not_reopened() {
    setup
    local log=$T_HOME/log
    printf 'secret-earlier\n' >"$log"
    blx run --rm busybox sh -c "$ATTACK_OUT" 2 2>>"$log" >"$T_HOME/out"
    assert_rc 0
    assert_eq "$(cat "$log")" "$(printf 'secret-earlier\nafter')" "the log"
}

t_exec_stdout_file_not_reopened() {
    setup
    bl run -d --name e busybox sleep 1000; assert_rc 0
    local log=$T_HOME/log
    printf 'secret-earlier\n' >"$log"
    blx exec e sh -c "$ATTACK_OUT" 1 >>"$log" 2>"$T_HOME/err"
    assert_rc 0
    assert_eq "$(cat "$log")" "$(printf 'secret-earlier\nafter')" "the log"
    assert_not_contains "$(cat "$T_HOME/err")" LEAKED "stderr"
    printf 'secret-earlier\n' >"$log"
    blx exec e sh -c "$ATTACK_OUT" 2 2>>"$log" >/dev/null
    assert_eq "$(cat "$log")" "$(printf 'secret-earlier\nafter')" "the log (stderr)"
    bl rm -f e; assert_rc 0
}

# -i < FILE: the box must not be able to write its input file.
t_stdin_file_not_reopened() {
    setup
    bl run -d --name e busybox sleep 1000; assert_rc 0
    local in=$T_HOME/in
    printf 'precious input\n' >"$in"
    blx run --rm -i busybox sh -c 'echo pwned >/proc/self/fd/0 2>/dev/null; true' <"$in"
    assert_rc 0
    assert_eq "$(cat "$in")" "precious input" "run -i input file"
    blx exec -i e sh -c 'echo pwned >/proc/self/fd/0 2>/dev/null; true' <"$in"
    assert_rc 0
    assert_eq "$(cat "$in")" "precious input" "exec -i input file"
    bl rm -f e; assert_rc 0
}

# A host directory as stdin (`< /`) was a way into the host's file system.
t_stdin_directory_not_handed_over() {
    setup
    local out
    out=$("$BOXLITE_BIN" --home "$T_HOME" run --rm -i busybox sh -c \
        'ls /proc/self/fd/0/ 2>/dev/null; readlink /proc/self/fd/0' </)
    assert_match "$out" '^pipe:' "the box's stdin"
    assert_not_contains "$out" "boot" "the box's view of fd 0"
    bl run -d --name e busybox sleep 1000; assert_rc 0
    out=$("$BOXLITE_BIN" --home "$T_HOME" exec -i e sh -c 'ls /proc/self/fd/0/ 2>/dev/null; readlink /proc/self/fd/0' </)
    assert_match "$out" '^pipe:' "the exec's stdin"
    bl rm -f e; assert_rc 0
}

# Byte-exact, large, both directions, run and exec.
t_large_exact() {
    setup
    local big=$T_HOME/big
    head -c 52428800 /dev/urandom >"$big"
    blx run --rm -i busybox cat <"$big" >"$T_HOME/o1"
    assert_rc 0
    cmp -s "$big" "$T_HOME/o1" || fail "run -i cat <50MB >file differs"
    blx run --rm -i busybox sh -c 'cat >&2' <"$big" 2>"$T_HOME/o2" >/dev/null
    cmp -s "$big" "$T_HOME/o2" || fail "run: 50 MB on stderr differs"
    bl run -d --name e busybox sleep 1000; assert_rc 0
    blx exec -i e cat <"$big" >"$T_HOME/o3"
    assert_rc 0
    cmp -s "$big" "$T_HOME/o3" || fail "exec -i cat <50MB >file differs"
    # a file in, a pipe out (and a pipe in, a file out)
    "$BOXLITE_BIN" --home "$T_HOME" exec -i e cat <"$big" | cat >"$T_HOME/o4"
    cmp -s "$big" "$T_HOME/o4" || fail "exec -i cat <file | cat differs"
    cat "$big" | "$BOXLITE_BIN" --home "$T_HOME" exec -i e cat >"$T_HOME/o5"
    cmp -s "$big" "$T_HOME/o5" || fail "cat | exec -i cat >file differs"
    # all of the output of a command that exits at once
    blx exec e head -c 30000000 /dev/zero >"$T_HOME/o6"
    assert_eq "$(stat -c %s "$T_HOME/o6")" 30000000 "exec output size"
    blx run --rm busybox head -c 30000000 /dev/zero >"$T_HOME/o7"
    assert_eq "$(stat -c %s "$T_HOME/o7")" 30000000 "run output size"
    bl rm -f e; assert_rc 0
}

# stdout and stderr to one file (>> and 2>&1): one stream, in the order the box wrote it.
t_same_file_in_order() {
    setup
    local log=$T_HOME/log expect=$T_HOME/expect i
    printf 'first\n' >"$log"
    { echo first; for ((i = 0; i < 3000; i++)); do echo "out $i"; echo "err $i"; done; } >"$expect"
    local prog='i=0; while [ $i -lt 3000 ]; do echo "out $i"; echo "err $i" >&2; i=$((i+1)); done'
    blx run --rm busybox sh -c "$prog" >>"$log" 2>&1
    assert_rc 0
    cmp -s "$expect" "$log" || fail "run >>log 2>&1: not the box's order ($(diff "$expect" "$log" | head -3))"
    bl run -d --name e busybox sleep 1000; assert_rc 0
    printf 'first\n' >"$log"
    blx exec e sh -c "$prog" >>"$log" 2>&1
    cmp -s "$expect" "$log" || fail "exec >>log 2>&1: not the box's order"
    bl rm -f e; assert_rc 0
}

# Exit codes through the relay, and input the box never reads (no SIGPIPE for boxlite).
t_exit_codes_and_eof() {
    setup
    local big=$T_HOME/big
    head -c 10000000 /dev/zero >"$big"
    blx run --rm busybox sh -c 'echo hi; echo ho >&2; exit 7' >"$T_HOME/o" 2>"$T_HOME/e"
    assert_rc 7
    assert_eq "$(cat "$T_HOME/o")/$(cat "$T_HOME/e")" "hi/ho" "outputs"
    blx run --rm -i busybox true <"$big" >"$T_HOME/o"
    assert_rc 0
    blx run --rm -i busybox sh -c 'head -c 5 >/dev/null; exit 3' <"$big" >"$T_HOME/o"
    assert_rc 3
    bl run -d --name e busybox sleep 1000; assert_rc 0
    blx exec -i e true <"$big" >"$T_HOME/o"
    assert_rc 0
    blx exec -i e sh -c 'kill -TERM $$' <"$big" >"$T_HOME/o"
    assert_rc 143
    # EOF reaches the box: the command goes on after its input ends
    printf 'line one\nline two\n' >"$T_HOME/in"
    blx exec -i e sh -c 'cat; echo done' <"$T_HOME/in" >"$T_HOME/o"
    assert_rc 0
    assert_eq "$(cat "$T_HOME/o")" "$(printf 'line one\nline two\ndone')" "exec -i with EOF"
    blx run --rm -i busybox sh -c 'wc -l; echo done' <"$T_HOME/in" >"$T_HOME/o"
    assert_eq "$(cat "$T_HOME/o")" "$(printf '2\ndone')" "run -i with EOF"
    bl rm -f e; assert_rc 0
}

# Detached: run -d and exec -d never attach the caller's stdio (their output goes to the box's
# log, or nowhere), so a file given to them is neither read nor written.
t_detached_never_touch_files() {
    setup
    local log=$T_HOME/log
    printf 'secret-earlier\n' >"$log"
    blx run -d --name d busybox sh -c 'cat /proc/self/fd/1; : >/proc/self/fd/1; sleep 1000' >>"$log" 2>>"$log"
    assert_rc 0
    blx exec -d d sh -c 'cat /proc/self/fd/1; : >/proc/self/fd/1' >>"$log" 2>>"$log"
    assert_rc 0
    sleep 0.5
    # only the box id that run -d printed was added
    assert_eq "$(head -n1 "$log")" "secret-earlier" "the log"
    assert_eq "$(wc -l <"$log")" 2 "lines in the log"
    bl rm -f d; assert_rc 0
}

# Pipes are still the caller's own (zero copy): the box's fd is the very pipe of the shell.
t_pipes_stay_zero_copy() {
    setup
    local box
    box=$({ "$BOXLITE_BIN" --home "$T_HOME" run --rm busybox readlink /proc/self/fd/1
        readlink "/proc/$BASHPID/fd/1" >"$T_HOME/host"; } | cat)
    assert_match "$box" '^pipe:' "run's stdout"
    assert_eq "$box" "$(cat "$T_HOME/host")" "run's stdout pipe"
    bl run -d --name e busybox sleep 1000; assert_rc 0
    box=$(echo | { "$BOXLITE_BIN" --home "$T_HOME" exec -i e sh -c \
        'readlink /proc/self/fd/0; readlink /proc/self/fd/2'
        readlink "/proc/$BASHPID/fd/0" "/proc/$BASHPID/fd/2" >"$T_HOME/host"; } 2>&1 | cat)
    assert_match "$box" '^pipe:' "exec's stdin"
    assert_eq "$box" "$(cat "$T_HOME/host")" "exec's stdin and stderr"
    bl rm -f e; assert_rc 0
}

# A CLI started with 0, 1 or 2 closed: the next file it opens (the home, a box directory) must
# not take that number and reach the box as its stdio. On 8ff159a `run -i` and `exec -i` with
# stdin closed gave the box the host's home directory as fd 0 (ls /proc/self/fd/0/ listed it).
t_closed_stdio_not_refilled() {
    setup
    bl run -d --name cs busybox sleep 1000; assert_rc 0
    local out line n=0
    out=$({ "$BOXLITE_BIN" --home "$T_HOME" run --rm -i busybox sh -c \
        'for n in 0 1; do readlink /proc/self/fd/$n || echo none; done >&2'
        "$BOXLITE_BIN" --home "$T_HOME" exec -i cs sh -c \
        'for n in 0 1; do readlink /proc/self/fd/$n || echo none; done >&2'; } 2>&1 0<&- 1>&-)
    while IFS= read -r line; do
        n=$((n + 1))
        [[ $line == /dev/null || $line == pipe:* ]] || fail "the box's fd got a host file: $line"
    done <<<"$out"
    assert_eq "$n" 4 "lines from the boxes"
    bl rm -f cs; assert_rc 0
}

run_tests t_closed_stdio_not_refilled t_stdout_file_not_reopened t_stderr_file_not_reopened t_exec_stdout_file_not_reopened \
    t_stdin_file_not_reopened t_stdin_directory_not_handed_over t_large_exact t_same_file_in_order \
    t_exit_codes_and_eof t_detached_never_touch_files t_pipes_stay_zero_copy
