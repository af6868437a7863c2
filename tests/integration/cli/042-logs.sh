#!/usr/bin/env bash
# logs: the main command's stdout and stderr of detached runs, kept per box in a bounded,
# rotated file (logs/console.log, CRI records); --tail, --timestamps, --follow.
# shellcheck disable=SC2034 # RC is read by assert_rc (tests/lib/tap.sh)
. "$(dirname "$0")/../../lib/tap.sh"

setup() { bl load -i "$(fixture busybox oci)" >/dev/null; assert_rc 0; }

box_stopped() { # NAME
    "$BOXLITE_BIN" --home "$T_HOME" inspect -f '{{.State.Status}}' "$1" | grep -q stopped
}

t_streams_and_tail() {
    setup
    bl run -d --name j busybox sh -c 'echo oops >&2; sleep 0.2; for i in $(seq 1 10); do echo "Line $i"; done; printf "no newline"'
    assert_rc 0
    wait_until 10 box_stopped j || fail "box did not stop"
    bl logs j; assert_rc 0
    assert_eq "$OUT" "$(seq -f 'Line %g' 1 10; printf 'no newline')"
    assert_eq "$ERR" oops
    # --tail counts the lines of both streams, in the order they were written; the last one
    # counts even without its newline
    bl logs --tail 3 j; assert_eq "$OUT" $'Line 9\nLine 10\nno newline'; assert_eq "$ERR" ""
    bl logs -n 1 j; assert_eq "$OUT" "no newline"
    bl logs --tail 11 j; assert_eq "$ERR" ""
    bl logs --tail 12 j; assert_eq "$ERR" "oops"
    bl logs --tail 100 j; assert_eq "$(printf '%s\n' "$OUT" | wc -l)" 11
    bl logs --tail 0 j; assert_eq "$(printf '%s\n' "$OUT" | wc -l)" 11 "--tail 0 is all"
    bl logs --tail x j; assert_rc 2
    # a restart appends
    bl start j; assert_rc 0
    wait_until 10 box_stopped j || fail "box did not stop"
    bl logs j; assert_eq "$(printf '%s\n' "$OUT" | grep -c 'Line 1$')" 2
    bl rm j; assert_rc 0
}

t_binary_safe() {
    setup
    # every byte value, lines of any length, a partial last line
    head -c 300000 /dev/urandom >"$T_HOME/data"
    bl run -d --name b -v "$T_HOME/data:/data:ro" busybox cat /data; assert_rc 0
    wait_until 10 box_stopped b || fail "box did not stop"
    "$BOXLITE_BIN" --home "$T_HOME" logs b >"$T_HOME/out" 2>/dev/null
    cmp "$T_HOME/data" "$T_HOME/out" || fail "logs are not byte-exact"
    bl rm b
}

t_timestamps() {
    setup
    bl run -d --name t busybox sh -c 'echo a; echo b >&2'; assert_rc 0
    wait_until 10 box_stopped t || fail "box did not stop"
    bl logs -t t
    assert_match "$OUT" '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{9}Z a$'
    assert_match "$ERR" '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\.[0-9]{9}Z b$'
    bl logs --timestamps --tail 1 t
    assert_eq "$OUT" ""
    bl rm t
}

t_follow() {
    setup
    bl run -d --name f busybox sh -c 'echo first; sleep 0.6; echo second; sleep 0.6; echo third'
    "$BOXLITE_BIN" --home "$T_HOME" logs -f f >"$T_HOME/out" 2>"$T_HOME/err" &
    local pid=$!
    # the follower ends by itself when the box stops
    wait_until 10 sh -c "! kill -0 $pid 2>/dev/null" || { fail "logs -f did not end"; kill "$pid"; }
    wait "$pid"; RC=$?
    assert_rc 0
    assert_eq "$(cat "$T_HOME/out")" $'first\nsecond\nthird'
    assert_contains "$(cat "$T_HOME/err")" "Following log output (Ctrl+C to stop)..."
    # Ctrl-C ends it too, with exit 0
    bl run -d --name f2 busybox sh -c 'echo up; sleep 1000'
    "$BOXLITE_BIN" --home "$T_HOME" logs -f f2 >"$T_HOME/out2" 2>"$T_HOME/err2" &
    pid=$!
    wait_until 10 grep -q up "$T_HOME/out2" || fail "no output followed"
    kill -INT "$pid"; wait "$pid"; RC=$?
    assert_rc 0
    assert_contains "$(cat "$T_HOME/err2")" "Stopped following logs."
    # a stopped box: the log, and done
    bl stop -t 0 f2
    bl logs -f f2; assert_rc 0; assert_eq "$OUT" up
    bl rm f f2
}

# Checked with rotation disabled (a log_max of 0): the file then grows past the bound.
t_bounded_and_rotated() {
    setup
    BOXLITE_LOG_MAX_BYTES=20000 bl run -d --name r busybox sh -c 'seq 1 20000'
    assert_rc 0
    wait_until 20 box_stopped r || fail "box did not stop"
    local id
    id=$("$BOXLITE_BIN" --home "$T_HOME" inspect -f '{{.Id}}' r)
    local size old
    size=$(stat -c %s "$T_HOME/boxes/$id/logs/console.log")
    old=$(stat -c %s "$T_HOME/boxes/$id/logs/console.log.1")
    [ "$size" -le 40000 ] && [ "$old" -le 40000 ] || fail "log not bounded: $size + $old bytes"
    [ ! -e "$T_HOME/boxes/$id/logs/console.log.2" ] || fail "more than one old generation"
    # what is kept reads as a run of whole lines ending with the last one
    bl logs r
    assert_eq "$(printf '%s\n' "$OUT" | tail -n1)" 20000
    local first
    first=$(printf '%s\n' "$OUT" | head -n1)
    assert_eq "$(printf '%s\n' "$OUT" | wc -l)" $((20000 - first + 1)) "contiguous lines"
    bl rm r
}

t_not_logged_and_missing() {
    setup
    # a foreground run's output goes to the terminal only (docs/design/decisions.md)
    bl run --name fg busybox echo hello; assert_eq "$OUT" hello
    bl logs fg; assert_rc 0
    assert_contains "$ERR" "No log file found for box 'fg'"
    assert_contains "$ERR" "The box may not have been started yet."
    assert_contains "$ERR" "Log path: $T_HOME/boxes/"
    bl logs nosuch; assert_rc 1; assert_eq "$ERR" "Error: No such box: nosuch"
    bl logs; assert_rc 2
    bl rm fg
}

run_tests t_streams_and_tail t_binary_safe t_timestamps t_follow t_bounded_and_rotated \
    t_not_logged_and_missing
