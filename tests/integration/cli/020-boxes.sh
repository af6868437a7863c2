#!/usr/bin/env bash
# Boxes: run/exec exit codes, isolation, lifecycle, and nothing leaked on any path.
# Every test runs in a fresh home; the teardown (tests/lib/tap.sh leak_check) fails a test that
# leaves a live shim, a mount or a cgroup of its boxes.
. "$(dirname "$0")/../../lib/tap.sh"

setup() { bl load -i "$(fixture busybox oci)" >/dev/null; assert_rc 0; }

t_exit_codes() {
    setup
    bl run --rm busybox true; assert_rc 0
    bl run --rm busybox sh -c 'exit 42'; assert_rc 42
    bl run --rm busybox sh -c 'exit 125'; assert_rc 125
    bl run --rm busybox sh -c 'exit 255'; assert_rc 255
    # PID 1 of a pid namespace ignores signals it has no handler for (docker semantics)
    bl run --rm busybox sh -c 'kill -TERM $$; exit 3'; assert_rc 3
    # with --init the command is not PID 1 and dies of its own signals
    bl run --rm --init busybox sh -c 'kill -TERM $$'; assert_rc 143
    bl run --rm --init busybox sh -c 'kill -INT $$'; assert_rc 130
    bl run --rm --init busybox sh -c 'kill -KILL $$'; assert_rc 137
}

t_command_not_found_127() {
    setup
    bl run --rm busybox nosuchcommand
    assert_rc 127
    assert_contains "$ERR" "nosuchcommand"
    assert_contains "$ERR" "not found"
    [ -z "$(ls "$T_HOME/boxes")" ] || fail "--rm box left after exec failure"
}

t_cannot_invoke_126() {
    setup
    bl run busybox /etc
    assert_rc 126
    assert_contains "$ERR" "is a directory"
    bl ls -a -q
    [ -n "$OUT" ] || fail "the failed box should stay registered"
    bl rm -f "$OUT"; assert_rc 0
}

t_bad_workdir_125() {
    setup
    bl run --rm -w /nonexistent/deep busybox true
    assert_rc 125
    assert_contains "$ERR" "/nonexistent/deep"
}

t_image_missing_125() {
    # a missing image is pulled; from a registry that is not there (a closed port on
    # loopback: tests never reach the internet) that fails with 125 and nothing is left
    bl run --rm 127.0.0.1:1/nosuchimage true
    assert_rc 125
    assert_contains "$ERR" "failed to pull"
    [ -z "$(ls "$T_HOME/boxes" 2>/dev/null)" ] || fail "box left behind"
}

t_output_never_lost() {
    setup
    bl run --rm busybox echo hello; assert_rc 0; assert_eq "$OUT" "hello"
    bl run --rm busybox sh -c 'echo out; echo err >&2; exit 5'
    assert_rc 5; assert_eq "$OUT" "out"; assert_eq "$ERR" "err"
    local i
    for i in 1 2 3 4 5; do
        bl run --rm busybox echo "fast $i"; assert_eq "$OUT" "fast $i"
    done
    bl run --rm busybox sh -c 'seq 1 20000'
    assert_eq "$(printf '%s\n' "$OUT" | wc -l)" 20000 "line count"
}

t_stdin() {
    setup
    echo "from host" >"$T_HOME/in"
    BL_STDIN=$T_HOME/in bl run --rm -i busybox cat; assert_eq "$OUT" "from host"
    # without -i the command gets an empty stdin
    BL_STDIN=$T_HOME/in bl run --rm busybox cat; assert_rc 0; assert_eq "$OUT" ""
}

t_process_config() {
    needs_ids "runs as uid 1000 and nobody" || return
    setup
    bl run --rm busybox sh -c 'echo $$'; assert_eq "$OUT" "1"
    bl run --rm -e FOO=bar -e EMPTY= busybox sh -c 'echo "$FOO|$EMPTY|$PATH"'
    assert_eq "$OUT" "bar||/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    bl run --rm -w /tmp busybox pwd; assert_eq "$OUT" "/tmp"
    bl run --rm -u 1000 busybox id -u; assert_eq "$OUT" "1000"
    bl run --rm -u nobody busybox id -un; assert_eq "$OUT" "nobody"
    bl run --rm --entrypoint /bin/echo busybox a b; assert_eq "$OUT" "a b"
    bl run --rm busybox; assert_rc 0   # image default: sh with an empty stdin
}

t_isolation() {
    setup
    bl run --rm busybox cat /proc/net/dev
    assert_not_contains "$OUT" "eth"
    assert_contains "$OUT" "lo:"
    bl run --rm busybox sh -c 'grep -E "^(CapEff|CapBnd|NoNewPrivs|Seccomp):" /proc/self/status'
    assert_contains "$OUT" "00000000a80425fb"
    assert_match "$OUT" "NoNewPrivs:"$'\t'"1"
    assert_match "$OUT" "Seccomp:"$'\t'"2"
    bl run --rm busybox ps -o pid,comm
    assert_eq "$(printf '%s\n' "$OUT" | grep -vc PID)" 1 "processes visible"
    bl run --rm busybox sh -c 'cat /proc/kcore | wc -c'; assert_eq "$OUT" "0"
    bl run --rm busybox sh -c 'echo 1 > /proc/sys/kernel/domainname'; [ "$RC" -ne 0 ] || fail "/proc/sys writable"
    bl run --rm busybox sh -c 'mount -t tmpfs x /mnt'; [ "$RC" -ne 0 ] || fail "mount allowed"
    bl run --rm busybox sh -c 'ls /dev | tr "\n" " "'
    assert_contains "$OUT" "null"; assert_contains "$OUT" "urandom"; assert_contains "$OUT" "pts"
    bl run --rm --cap-drop ALL busybox sh -c 'grep CapEff /proc/self/status'
    assert_contains "$OUT" "0000000000000000"
    bl run --rm --cap-add NET_ADMIN busybox sh -c 'grep CapEff /proc/self/status'
    assert_contains "$OUT" "00000000a80435fb"
}

t_rm_removes_before_return() {
    setup
    bl run --rm --name gone busybox sh -c 'exit 3'; assert_rc 3
    bl ls -a -q; assert_eq "$OUT" ""
    [ -z "$(ls "$T_HOME/boxes")" ] || fail "box dir left"
    bl run --rm --name gone busybox true; assert_rc 0   # the name is free again
}

t_stopped_box_keeps_exit_code() {
    setup
    # (the sleep makes a restarted box outlive its starter's connection: a 'start' must not tie
    # the box to the CLI that started it)
    bl run --name keep busybox sh -c 'echo data > /keep; sleep 0.3; exit 42'; assert_rc 42
    bl inspect --format '{{.State.ExitCode}} {{.State.Status}}' keep
    assert_eq "$OUT" "42 stopped"
    bl ls -a; assert_contains "$OUT" "Stopped"
    # the box's writes persist across starts; start re-runs the main command
    bl start keep; assert_rc 0; assert_eq "$OUT" "keep"
    wait_until 10 sh -c "! '$BOXLITE_BIN' --home '$T_HOME' ls -q | grep -q ." || fail "box still running"
    bl inspect --format '{{.State.ExitCode}}' keep; assert_eq "$OUT" "42"
    bl rm keep; assert_rc 0; assert_eq "$OUT" "keep"
}

t_detached_lifecycle() {
    setup
    bl run -d --name bg busybox sleep 1000
    assert_rc 0; assert_match "$OUT" '^[0-9A-Za-z]{12}$'
    local id=$OUT
    bl ls; assert_contains "$OUT" "Running"; assert_contains "$OUT" "bg"
    bl exec bg echo inside; assert_rc 0; assert_eq "$OUT" "inside"
    bl exec bg -- sh -c 'exit 9'; assert_rc 9
    bl exec bg sh -c 'kill -TERM $$'; assert_rc 143
    bl exec bg sh -c 'kill -KILL $$'; assert_rc 137
    bl exec bg nosuch; assert_rc 127
    bl exec -e A=1 -w /tmp bg sh -c 'echo $A $(pwd)'; assert_eq "$OUT" "1 /tmp"
    bl rm bg; assert_rc 1; assert_contains "$ERR" "Use force=true to stop first"
    bl stop -t 1 bg; assert_rc 0; assert_eq "$OUT" "bg"
    bl inspect --format '{{.State.Status}} {{.State.ExitCode}}' "$id"
    assert_eq "$OUT" "stopped 137"
    bl rm "${id:0:6}"; assert_rc 0
}

t_graceful_stop() {
    setup
    bl run -d --name g busybox sh -c 'trap "exit 7" TERM; while true; do sleep 0.1; done'
    assert_rc 0
    bl stop g; assert_rc 0
    bl inspect --format '{{.State.ExitCode}}' g; assert_eq "$OUT" "7"
    bl rm g; assert_rc 0
}

t_create_start_exec() {
    setup
    bl create --name idle busybox; assert_rc 0; assert_match "$OUT" '^[0-9A-Za-z]{12}$'
    bl ls -a; assert_contains "$OUT" "Configured"
    # no user command: exec starts the box on demand; the image's sh waits on a silent stdin
    bl exec idle echo ok; assert_rc 0; assert_eq "$OUT" "ok"
    bl ls; assert_contains "$OUT" "Running"
    bl restart idle; assert_rc 0
    bl exec idle true; assert_rc 0
    bl rm -f idle; assert_rc 0
    bl ls -a -q; assert_eq "$OUT" ""
}

t_exec_refused_after_main_command() {
    setup
    bl create --name job busybox echo finished; assert_rc 0
    bl exec job true; assert_rc 1
    assert_contains "$ERR" "starting the box would run its main command"
    bl start job; assert_rc 0
    wait_until 10 sh -c "'$BOXLITE_BIN' --home '$T_HOME' inspect --format '{{.State.Status}}' job | grep -q stopped" || fail "job did not stop"
    bl exec job true; assert_rc 1
    assert_contains "$ERR" "its main command has already run"
    bl inspect --format '{{.State.Status}}' job; assert_eq "$OUT" "stopped"
    bl rm job; assert_rc 0
}

t_rootfs() {
    local root="$T_HOME/rootfs"
    mkdir -p "$root/bin" "$root/etc"
    cp /bin/busybox "$root/bin/busybox"
    ln -s busybox "$root/bin/sh"; ln -s busybox "$root/bin/cat"
    echo "hello rootfs" >"$root/etc/motd"
    bl run --rm --rootfs "$root" /bin/cat /etc/motd
    assert_rc 0; assert_eq "$OUT" "hello rootfs"
    bl run --rm --rootfs "$root" /bin/sh -c 'echo changed > /etc/motd'
    assert_eq "$(cat "$root/etc/motd")" "hello rootfs" "the rootfs itself is never written"
}

t_bad_input() {
    setup
    bl exec nosuch true; assert_rc 1; assert_one_error_line; assert_contains "$ERR" "No such box: nosuch"
    bl stop nosuch; assert_rc 1; assert_contains "$ERR" "No such box: nosuch"
    bl create --name dup busybox; assert_rc 0
    bl create --name dup busybox; assert_rc 1; assert_contains "$ERR" "already exists"
    bl run --rm --name dup busybox true; assert_rc 125; assert_contains "$ERR" "already exists"
    bl create busybox; bl create busybox; bl create busybox; bl create busybox
    # ids are 12 base62 chars: a 1-char prefix shared by two boxes is ambiguous
    local ids p=""
    ids=$("$BOXLITE_BIN" --home "$T_HOME" ls -a -q)
    p=$(printf '%s\n' "$ids" | cut -c1 | sort | uniq -d | head -n1)
    if [ -n "$p" ]; then
        bl inspect "$p"; assert_rc 1
        bl exec "$p" true; assert_rc 1; assert_contains "$ERR" "multiple boxes match prefix"
    fi
    bl run -t busybox true; assert_rc 1; assert_eq "$ERR" "Error: the input device is not a TTY."
    bl exec -t dup true; assert_rc 1; assert_eq "$ERR" "Error: the input device is not a TTY."
    bl inspect; assert_rc 1; assert_eq "$ERR" "Error: no names or ids specified"
    bl inspect --format table dup; assert_rc 1; assert_eq "$ERR" "Error: inspect does not support table format"
    bl inspect nosuch; assert_rc 1; assert_eq "$OUT" "[]"; assert_eq "$ERR" "Error: no such box: nosuch"
    bl run; assert_rc 1; assert_eq "$ERR" "Error: provide IMAGE or --rootfs PATH"
    bl rm -a -f; assert_rc 0
}

# ---- nothing leaks: one test per path ----
# How each was checked to fail without its teardown: see the comment in each test.

start_fg() { # start a foreground run in the background; sets FG_PID, waits until running
    "$BOXLITE_BIN" --home "$T_HOME" run "$@" >"$T_HOME/fg.out" 2>"$T_HOME/fg.err" &
    FG_PID=$!
    wait_until 10 sh -c "ls '$T_HOME'/boxes/*/shim.pid >/dev/null 2>&1" || fail "box did not start"
}

# Checked by making the shim ignore the forwarded signal: the test then times out.
t_leak_sigterm_to_cli() {
    setup
    start_fg --rm --init busybox sleep 1000
    kill -TERM "$FG_PID"; wait "$FG_PID"; RC=$?
    assert_rc 143
    [ -z "$(ls "$T_HOME/boxes")" ] || fail "--rm box left after SIGTERM"
}
t_leak_sigint_to_cli() {
    setup
    start_fg --init busybox sleep 1000
    kill -INT "$FG_PID"; wait "$FG_PID"; RC=$?
    assert_rc 130
    bl ls -a; assert_contains "$OUT" "Stopped"
}
# A terminal's Ctrl-C goes to the whole foreground process group. Only the CLI may act on it
# (forwarding it to the command); checked without the shim's setpgid: the shim took the
# SIGINT as "stop the box" and run returned 137.
t_sigint_to_process_group() {
    setup
    setsid "$BOXLITE_BIN" --home "$T_HOME" run --rm --init busybox sleep 1000 >/dev/null 2>&1 &
    local pid=$!
    wait_until 10 sh -c "ls '$T_HOME'/boxes/*/shim.pid >/dev/null 2>&1" || fail "box did not start"
    kill -INT -- "-$pid"
    wait "$pid"; RC=$?
    assert_rc 130
}
t_leak_sighup_to_cli() {
    setup
    start_fg --rm busybox sh -c 'trap "exit 9" HUP; while true; do sleep 0.1; done'
    kill -HUP "$FG_PID"; wait "$FG_PID"; RC=$?
    assert_rc 9
}
# Checked by disabling the shim's channel-EOF teardown: the shim and sleep stay alive and the
# leak guard fails.
t_leak_sigkill_cli() {
    setup
    start_fg --rm busybox sleep 1000
    kill -KILL "$FG_PID"; wait "$FG_PID" 2>/dev/null
    wait_until 10 no_shim_processes || fail "shim survived its client"
    # the next command repairs: the stale --rm box is gone
    bl ls -a -q; assert_eq "$OUT" ""
    [ -z "$(ls "$T_HOME/boxes")" ] || fail "stale --rm box not removed"
}
t_leak_sigkill_cli_keeps_record() {
    setup
    start_fg --name k busybox sleep 1000
    kill -KILL "$FG_PID"; wait "$FG_PID" 2>/dev/null
    wait_until 10 no_shim_processes || fail "shim survived its client"
    bl inspect --format '{{.State.Status}} {{.State.ExitCode}}' k
    assert_eq "$OUT" "stopped 137"
}
# A create killed after it moved the box's directory into boxes/ but before its row was
# committed leaves its stage (tmp/box-<id>-*, no longer locked) and a directory no row names; the
# next open removes that directory, and keeps one whose row did get committed. On 96718d8 the
# soak found such orphans in boxes/ (the state is laid out here by hand: the window is tiny).
t_killed_create_leaves_no_orphan() {
    setup
    bl create --name real busybox true; assert_rc 0
    local id; id=$("$BOXLITE_BIN" --home "$T_HOME" inspect -f '{{.Id}}' real)
    mkdir -p "$T_HOME/boxes/AAAAAAAAAAAA/rootfs" "$T_HOME/tmp/box-AAAAAAAAAAAA-x1y2z3" \
        "$T_HOME/tmp/box-$id-q1w2e3"
    bl ls -a -q; assert_rc 0
    assert_eq "$OUT" "$id" "boxes after the next open"
    [ ! -e "$T_HOME/boxes/AAAAAAAAAAAA" ] || fail "orphan box directory kept"
    [ -d "$T_HOME/boxes/$id" ] || fail "a committed box's directory was removed"
    assert_eq "$(ls -A "$T_HOME/tmp")" "" "stages left in tmp/"
}
# The window of the test above, made certain: the client is killed after its shim has run the
# box but before it recorded 'running'; the shim leaves exit.json. On 5603ffb recovery never
# looked at a 'configured' box, which stayed 'configured 0' (seen in CI as a flaky failure of
# t_leak_sigkill_cli_keeps_record in the slower rootless run).
t_killed_first_start_recorded() {
    setup
    bl create --name k busybox sleep 1000; assert_rc 0
    local id; id=$("$BOXLITE_BIN" --home "$T_HOME" inspect -f '{{.Id}}' k)
    printf '{"exit_code": 137}\n' >"$T_HOME/boxes/$id/exit.json"
    bl inspect --format '{{.State.Status}} {{.State.ExitCode}}' k
    assert_eq "$OUT" "stopped 137"
    bl create --name fresh busybox true; assert_rc 0
    bl inspect --format '{{.State.Status}}' fresh
    assert_eq "$OUT" "configured" "a box never started"
}
# Checked by removing PR_SET_PDEATHSIG from PID 1: sleep survives and the cgroup stays.
t_leak_sigkill_shim() {
    setup
    start_fg --rm busybox sleep 1000
    local id; id=$(ls "$T_HOME/boxes")
    kill -KILL "$(shim_pid_of "$id")"
    wait "$FG_PID"; RC=$?
    assert_rc 137
    [ -z "$(ls "$T_HOME/boxes")" ] || fail "--rm box left after the shim was killed"
}
t_leak_nonzero_and_signal_exit() {
    setup
    bl run busybox sh -c 'exit 1'; assert_rc 1
    bl run --init busybox sh -c 'kill -KILL $$'; assert_rc 137
    bl rm -a -f; assert_rc 0
}
t_leak_detached_outlives_cli() {
    setup
    bl run -d --name d busybox sleep 1000; assert_rc 0
    local id=$OUT
    kill -0 "$(shim_pid_of "$id")" || fail "detached shim is not running"
    bl ls -q; assert_eq "$OUT" "$id"
    bl rm -f d; assert_rc 0
}

# A box's environment (the image's Env and -e) is sent again with every exec: one that cannot
# be is refused when the box is made, with one line, and an exec whose own arguments and -e are
# too large says so; anything below the limits works for the main command and for exec.
t_env_limits() {
    setup
    local v100 v30 args=() i
    v100=$(head -c 100000 /dev/zero | tr '\0' a)
    v30=$(head -c 30000 /dev/zero | tr '\0' b)
    for i in 1 2 3 4 5 6 7 8 9 10 11; do args+=(-e "V$i=$v100"); done
    bl run --rm "${args[@]}" busybox true
    assert_rc 125; assert_one_error_line; assert_contains "$ERR" "environment is too large"
    bl create "${args[@]}" busybox
    assert_rc 1; assert_one_error_line; assert_contains "$ERR" "environment is too large"
    bl ls -a -q; assert_eq "$OUT" "" "boxes left by refused creates"
    # 90 kB: more than the old 64 KiB exec request, less than the limit
    bl run -d --name e -e "A=$v30" -e "B=$v30" -e "C=$v30" busybox sleep 1000; assert_rc 0
    bl exec e sh -c 'echo ${#A} ${#C}'; assert_rc 0; assert_eq "$OUT" "30000 30000"
    bl exec -e "C=x" -e "D=y" -e "D=z" e sh -c 'echo ${#A} $C $D'; assert_rc 0
    assert_eq "$OUT" "30000 x z" "exec -e overrides (the last one wins)"
    bl exec -e "W=$v100" e true
    assert_rc 125; assert_one_error_line; assert_contains "$ERR" "too large"
    bl exec e echo "$v100"
    assert_rc 125; assert_one_error_line; assert_contains "$ERR" "too large"
    bl rm -f e; assert_rc 0
}

# A detached box whose shim is killed: PID 1 dies with it (parent-death signal) and the next
# command marks the box stopped and removes its cgroups. Checked by removing the recovery's
# cgroup cleanup: the leak guard then finds the box's cgroups.
t_leak_sigkill_detached_shim() {
    setup
    bl run -d --name dd busybox sleep 1000; assert_rc 0
    local id=$OUT pid; pid=$(shim_pid_of "$id")
    kill -KILL "$pid"
    wait_until 10 sh -c "! kill -0 $pid 2>/dev/null" || fail "shim still alive"
    bl ls -a; assert_contains "$OUT" "Stopped"
    [ -z "$(find /sys/fs/cgroup -maxdepth 5 -type d -name "boxlite-$id")" ] || fail "cgroups left after recovery"
    bl rm dd; assert_rc 0
}

# rm killed half-way through deleting a big box: the next command must finish the job. On
# 8ff159a the row went first, then the directory: the kill left boxes/<id> without a row for
# ever (found by the soak).
t_rm_killed_midway_leaves_nothing() {
    setup
    bl create --name big busybox; assert_rc 0
    local id; id=$("$BOXLITE_BIN" --home "$T_HOME" inspect -f '{{.Id}}' big)
    # 20000 files in its upper directory, made on the host side: removing them takes a while
    local up="$T_HOME/boxes/$id/rootfs/upper"
    mkdir -p "$up/many" && (cd "$up/many" && seq 1 20000 | xargs touch)
    "$BOXLITE_BIN" --home "$T_HOME" rm big >/dev/null 2>&1 &
    local pid=$! n
    # kill it once the removal has begun: the box's files are leaving (or have left) boxes/
    for _ in $(seq 1 2000); do
        n=$(find "$up/many" -maxdepth 1 2>/dev/null | head -n 20001 | wc -l)
        [ "$n" -le 20000 ] && break
        kill -0 "$pid" 2>/dev/null || break
    done
    kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
    bl ls -a; assert_rc 0
    assert_not_contains "$OUT" big "ls after the kill"
    [ ! -e "$T_HOME/boxes/$id" ] || fail "box directory left without its box: $(find "$T_HOME/boxes/$id" | wc -l) entries"
    assert_eq "$(ls "$T_HOME/tmp" 2>/dev/null)" "" "staging left in tmp/"
}

# The exec zygote killed (as a box's OOM would) right before an exec: the exec starts a new one.
# Without the shim's check of the zygote's pidfd, ~1 in 6 such execs failed with 'Broken pipe'
# (found by the soak): the request went to a zygote that had exited but not yet closed its end.
t_exec_after_zygote_killed() {
    setup
    bl run -d --name zk busybox sleep 1000; assert_rc 0
    local id shim z i failed=0
    id=$("$BOXLITE_BIN" --home "$T_HOME" inspect -f '{{.Id}}' zk)
    shim=$(head -n1 "$T_HOME/boxes/$id/shim.pid")
    for i in $(seq 1 40); do
        bl exec zk true
        z=$(pgrep -P "$shim" -x boxlite-zygote)
        [ -n "$z" ] && kill -9 "$z"
        bl exec zk sh -c 'exit 7'
        [ "$RC" -eq 7 ] || { failed=$((failed + 1)); diag "exec $i after a zygote kill: $RC $ERR"; }
    done
    assert_eq "$failed" 0 "execs failed after a zygote kill"
    bl rm -f zk; assert_rc 0
}

run_tests t_killed_create_leaves_no_orphan t_killed_first_start_recorded t_exec_after_zygote_killed t_rm_killed_midway_leaves_nothing t_leak_sigkill_detached_shim t_exit_codes t_command_not_found_127 t_cannot_invoke_126 t_bad_workdir_125 \
    t_image_missing_125 t_output_never_lost t_stdin t_process_config t_isolation \
    t_rm_removes_before_return t_stopped_box_keeps_exit_code t_detached_lifecycle \
    t_graceful_stop t_create_start_exec t_exec_refused_after_main_command t_rootfs t_bad_input \
    t_leak_sigterm_to_cli t_leak_sigint_to_cli t_sigint_to_process_group t_leak_sighup_to_cli t_leak_sigkill_cli \
    t_leak_sigkill_cli_keeps_record t_leak_sigkill_shim t_leak_nonzero_and_signal_exit \
    t_leak_detached_outlives_cli t_env_limits
