#!/usr/bin/env bash
# stats (CPU %, memory, pids, block I/O; table/json/yaml; --stream) and info (spec/cli.md
# §4.12, §4.14).
# shellcheck disable=SC2034 # RC is read by assert_rc (tests/lib/tap.sh)
. "$(dirname "$0")/../../lib/tap.sh"

setup() { bl load -i "$(fixture busybox oci)" >/dev/null; assert_rc 0; }

value_of() { # METRIC (from $OUT in JSON)
    printf '%s\n' "$OUT" | grep -A1 "\"Metric\": \"$1\"" | sed -n 's/.*"Value": "\(.*\)".*/\1/p'
}

t_stats_formats() {
    needs_cgroups "stats come from the box's cgroup" || return
    setup
    # two tasks: the shell execs its last command
    bl run -d --name s --memory 128 --pids-limit 64 busybox sh -c 'sleep 1000 & sleep 1000'
    assert_rc 0
    bl stats s; assert_rc 0
    local m
    for m in CPU Memory "Memory Limit" PIDs "Block Read" "Block Write" Commands Errors \
        "Boot Time" "Net Sent" "Net Recv" "TCP Connections" "TCP Errors"; do
        assert_contains "$OUT" "│ $m "
    done
    assert_match "$(printf '%s\n' "$OUT" | head -n2 | tail -n1)" '^│ METRIC +│ VALUE +│$'
    bl stats --format json s; assert_rc 0
    assert_eq "${OUT:0:1}" "[" "JSON starts with ["
    assert_match "$(value_of CPU)" '^[0-9]+\.[0-9]%$'
    assert_eq "$(value_of "Memory Limit")" "128.0 MiB"
    assert_eq "$(value_of PIDs)" 2
    assert_eq "$(value_of "PIDs Limit")" 64
    assert_match "$(value_of Memory)" '^[0-9.]+ (B|KiB|MiB)$'
    assert_match "$(value_of "Boot Time")" '^[0-9]+ ms$'
    assert_eq "$(value_of "Net Sent")" "0 B"
    bl stats --format YAML s; assert_rc 0
    assert_contains "$OUT" "- Metric: CPU"
    assert_contains "$OUT" "  Value: 128.0 MiB"
    bl stats --format xml s; assert_rc 1
    assert_eq "$ERR" "Error: Unknown format: 'xml'. Valid formats: table, json, yaml"
    # execs are counted
    bl exec s true; bl exec s nosuchcmd
    bl stats --format json s
    assert_eq "$(value_of Commands)" 1
    assert_eq "$(value_of Errors)" 1
    bl rm -f s
}

t_stats_block_io() {
    needs_cgroups "stats come from the box's cgroup" || return
    setup
    bl run -d --name io busybox sleep 1000; assert_rc 0
    # direct I/O reaches the block layer at once, without waiting for writeback
    bl exec io dd if=/dev/urandom of=/tmp/f bs=1M count=8 oflag=direct conv=fsync
    assert_rc 0
    bl stats --format json io
    local w
    w=$(value_of "Block Write")
    [[ $w == *MiB ]] && [ "${w%%.*}" -ge 8 ] || fail "block writes: $w"
    bl rm -f io
}

t_stats_stream_and_states() {
    setup
    bl run -d --name st busybox sleep 1000; assert_rc 0
    "$BOXLITE_BIN" --home "$T_HOME" stats --stream st >"$T_HOME/out" 2>&1 &
    local pid=$!
    sleep 2.5
    kill -INT "$pid"; wait "$pid"; RC=$?
    assert_rc 0
    local frames
    frames=$(grep -c $'\e\[2J\e\[1;1H' "$T_HOME/out")
    [ "$frames" -ge 2 ] || fail "only $frames frames in 2.5 s"
    bl rm -f st
    # a job's stats would start it again: refused; a box without a command is started
    bl create --name job busybox echo hi
    bl stats job; assert_rc 1
    assert_contains "$ERR" "Cannot metrics box"
    assert_contains "$ERR" "starting the box would run its main command"
    bl create --name idle busybox
    bl stats idle; assert_rc 0
    bl inspect -f '{{.State.Status}}' idle; assert_eq "$OUT" running
    bl stats nosuch; assert_rc 1; assert_eq "$ERR" "Error: No such box: nosuch"
    bl stats; assert_rc 2
    bl rm -f job idle
}

t_info() {
    setup
    bl create busybox; bl create busybox
    bl run -d busybox sleep 1000
    bl run busybox true
    bl info; assert_rc 0
    local k prev=0 line
    for k in version homeDir virtualization os arch boxesTotal boxesRunning boxesStopped \
        boxesConfigured imagesCount; do
        line=$(printf '%s\n' "$OUT" | grep -n "^$k: " | cut -d: -f1)
        [ -n "$line" ] && [ "$line" -gt "$prev" ] || fail "key $k missing or out of order"
        prev=${line:-$prev}
    done
    assert_contains "$OUT" "homeDir: $T_HOME"
    assert_contains "$OUT" "os: linux"
    assert_contains "$OUT" "boxesTotal: 4"
    assert_contains "$OUT" "boxesRunning: 1"
    assert_contains "$OUT" "boxesStopped: 1"
    assert_contains "$OUT" "boxesConfigured: 2"
    assert_contains "$OUT" "imagesCount: 1"
    # YAML ends with a blank line
    assert_eq "$("$BOXLITE_BIN" --home "$T_HOME" info | tail -n1)" "" "last line"
    bl info --format json; assert_rc 0
    assert_contains "$OUT" "\"boxesTotal\": 4,"
    assert_contains "$OUT" "\"arch\": \"$(uname -m)\""
    printf '%s\n' "$OUT" | python3 -c 'import json,sys; json.load(sys.stdin)' || fail "bad JSON"
    bl info --format table; assert_rc 2
    assert_contains "$ERR" "invalid value 'table' for '--format <FORMAT>'"
    assert_contains "$ERR" "[possible values: yaml, json]"
    bl rm -a -f >/dev/null
}

run_tests t_stats_formats t_stats_block_io t_stats_stream_and_states t_info
