#!/usr/bin/env bash
# shellcheck disable=SC2034 # T_SKIP is read by tap.sh's run_tests
# Resource limits: --memory, --cpus, --pids-limit through the box's cgroups (v1 controllers
# here; cgroup2 where /sys/fs/cgroup is cgroup2), shown by inspect, enforced in the box, and
# every parse error of the ResourceFlags table (spec/cli.md §4.1).
. "$(dirname "$0")/../../lib/tap.sh"
has_cgroups || skip_all "no cgroup delegated to this user: limits need one (asking for one is then an explicit error: 050-rootless)"

setup() { bl load -i "$(fixture busybox oci)" >/dev/null; assert_rc 0; }

# The file of the box's cgroup that holds a limit, v1 or v2 (at a hierarchy's top as root; in a
# delegated cgroup without root).
cg_file() { # ID V1_CONTROLLER V1_FILE V2_FILE
    local id=$1 d
    d=$(find "/sys/fs/cgroup/$2" -maxdepth 4 -type d -name "boxlite-$id" 2>/dev/null | head -n1)
    if [ -n "$d" ] && [ -e "$d/$3" ]; then
        cat "$d/$3"
        return
    fi
    d=$(find /sys/fs/cgroup -maxdepth 4 -type d -name "boxlite-$id" 2>/dev/null | head -n1)
    [ -n "$d" ] && [ -e "$d/$4" ] && cat "$d/$4"
}

t_limits_applied_and_inspected() {
    setup
    bl run -d --name lim --memory 64 --cpus 0.5 --pids-limit 40 busybox sleep 1000
    assert_rc 0
    local id=$OUT
    assert_eq "$(cg_file "$id" memory memory.limit_in_bytes memory.max)" 67108864 "memory limit"
    local cpu
    cpu=$(cg_file "$id" cpu cpu.cfs_quota_us cpu.max)
    [[ $cpu == 50000* ]] || fail "cpu quota: $cpu"
    assert_eq "$(cg_file "$id" pids pids.max pids.max)" 40 "pids limit"
    bl inspect --format '{{.Cpus}} {{.Memory}} {{.PidsLimit}}' lim
    assert_eq "$OUT" "0.5 67108864 40"
    bl inspect -f '{{json .Memory}}' lim; assert_eq "$OUT" 67108864
    bl rm -f lim; assert_rc 0
}

t_defaults() {
    setup
    # upstream's box is a 1-CPU, 1 GiB machine; so is ours (best effort: a host without the
    # controller runs the box unlimited, an explicit limit fails there instead)
    bl create --name def busybox; assert_rc 0
    bl inspect --format '{{.Cpus}} {{.Memory}} {{.PidsLimit}}' def
    assert_eq "$OUT" "1 1073741824 0"
    bl inspect def; assert_contains "$OUT" '"Memory": 1073741824'
    bl start def; assert_rc 0
    local id
    id=$("$BOXLITE_BIN" --home "$T_HOME" inspect -f '{{.Id}}' def)
    assert_eq "$(cg_file "$id" memory memory.limit_in_bytes memory.max)" 1073741824 "default memory"
    local cpu
    cpu=$(cg_file "$id" cpu cpu.cfs_quota_us cpu.max)
    [[ $cpu == 100000* ]] || fail "default cpu quota: $cpu"
    bl rm -f def; assert_rc 0
    bl run --rm --cpus 2.25 busybox true; assert_rc 0
}

# Checked by dropping the memory limit from shim.conf: dd then succeeds and run returns 0.
t_memory_hog_killed_137() {
    setup
    # dd allocates its whole block: 256 MiB against a 32 MiB box
    bl run --rm --memory 32 busybox dd if=/dev/zero of=/dev/null bs=256M count=1
    assert_rc 137
    # the hog is killed in the box, not the box's PID 1 when it is another process
    bl run --rm --memory 32 busybox sh -c 'dd if=/dev/zero of=/dev/null bs=256M count=1; echo "dd: $?"'
    assert_rc 0; assert_eq "$OUT" "dd: 137"
    # with room enough the same command runs
    bl run --rm --memory 512 busybox dd if=/dev/zero of=/dev/null bs=256M count=1
    assert_rc 0
    # a detached box over its limit stops with 137 too
    bl run -d --name hog --memory 32 busybox dd if=/dev/zero of=/dev/null bs=256M count=1
    wait_until 10 sh -c "'$BOXLITE_BIN' --home '$T_HOME' inspect -f '{{.State.Status}}' hog | grep -q stopped" || fail "hog still running"
    bl inspect -f '{{.State.ExitCode}}' hog; assert_eq "$OUT" 137
    bl rm hog; assert_rc 0
}

t_pids_limit_enforced() {
    setup
    # the shell cannot fork its fourth child (4 tasks: itself and three sleeps)
    bl run --rm --pids-limit 4 busybox sh -c 'for i in 1 2 3 4 5 6; do sleep 5 & done; wait'
    [ "$RC" -ne 0 ] || fail "pids limit not enforced"
    assert_contains "$ERR" "can't fork"
    bl run --rm --pids-limit 0 busybox sh -c 'for i in 1 2 3 4 5 6; do sleep 0.1 & done; wait; echo ok'
    assert_rc 0; assert_eq "$OUT" ok
}

# The CPU row of `stats` (two samples of the cgroup's CPU time) of a busy loop.
cpu_percent() {
    bl stats --format json "$1"
    local v
    v=$(printf '%s\n' "$OUT" | grep -A1 '"CPU"' | sed -n 's/.*"Value": "\([0-9.]*\)%".*/\1/p')
    echo "${v%.*}"
}

t_cpu_quota_enforced() {
    setup
    bl run -d --name slow --cpus 0.25 busybox sh -c 'while :; do :; done'; assert_rc 0
    local id=$OUT
    sleep 0.3
    local slow
    slow=$(cpu_percent slow)
    # the quota, not a busy host, held it back: the kernel throttled the box
    local throttled
    throttled=$(cg_file "$id" cpu cpu.stat cpu.stat | sed -n 's/^nr_throttled //p')
    bl rm -f slow
    bl run -d --name fast --cpus 1 busybox sh -c 'while :; do :; done'; assert_rc 0
    sleep 0.3
    local fast
    fast=$(cpu_percent fast)
    bl rm -f fast; assert_rc 0
    diag "busy loop: ${slow}% at --cpus 0.25 (throttled ${throttled}x), ${fast}% at --cpus 1"
    [ -n "$slow" ] && [ "$slow" -le 40 ] || fail "--cpus 0.25 used ${slow}% CPU"
    [ "${throttled:-0}" -gt 0 ] || fail "never throttled"
    [ -n "$fast" ] && [ "$fast" -gt 0 ] || fail "no CPU measured at --cpus 1"
}

# Without root: the box's cgroups are where the delegation puts them, each listed in the box's
# `cgroups` file: v1 below our own cgroup; cgroup2 beside ours when its parent is a delegated
# unit's (user.delegate=1, as systemd marks it), else below ours when ours is writable.
t_delegated_placement() {
    [ "$(id -u)" -ne 0 ] || { T_SKIP="as root, box cgroups sit at each hierarchy's top"; return; }
    setup
    bl run -d --name p busybox sleep 100; assert_rc 0
    local id=$OUT list own v2root want=""
    list=$(cat "$T_HOME/boxes/$id/cgroups" 2>/dev/null)
    own=$(awk -F: '$2 ~ /(^|,)memory(,|$)/ {print $3}' /proc/self/cgroup)
    [ -n "$own" ] && [ -w "/sys/fs/cgroup/memory$own" ] &&
        assert_contains "$list" "/sys/fs/cgroup/memory$own/boxlite-$id" "the v1 memory leaf"
    v2root=/sys/fs/cgroup/unified
    [ -e /sys/fs/cgroup/cgroup.controllers ] && v2root=/sys/fs/cgroup
    own=$(awk -F: '$1 == 0 {print $3}' /proc/self/cgroup)
    if [ -n "$own" ] && [ -w "$v2root${own%/*}" ] &&
        [ "$(python3 -c 'import os,sys; print(os.getxattr(sys.argv[1], "user.delegate").decode())' "$v2root${own%/*}" 2>/dev/null)" = 1 ]; then
        want="$v2root${own%/*}/boxlite-$id"
    elif [ -n "$own" ] && [ "$own" != / ] && [ -w "$v2root$own" ]; then
        want="$v2root$own/boxlite-$id"
    fi
    [ -z "$want" ] || assert_contains "$list" "$want" "the cgroup2 leaf"
    [ -d "${want:-/}" ] || fail "no cgroup2 leaf $want"
    bl rm -f p; assert_rc 0
}

t_parse_errors() {
    setup
    bl run --memory abc busybox true; assert_rc 2
    assert_contains "$ERR" "invalid value 'abc' for '--memory <MEMORY>': invalid digit found in string"
    bl run --memory 99999999999 busybox true; assert_rc 2
    assert_contains "$ERR" "number too large to fit in target type"
    bl run --memory '' busybox true; assert_rc 2
    assert_contains "$ERR" "cannot parse integer from empty string"
    bl run --memory 5 busybox true; assert_rc 2; assert_contains "$ERR" "the minimum is 6"
    bl run --cpus abc busybox true; assert_rc 2
    assert_contains "$ERR" "invalid value 'abc' for '--cpus <CPUS>'"
    bl run --cpus 0 busybox true; assert_rc 2; assert_contains "$ERR" "must be at least 0.001"
    bl run --cpus -1 busybox true; assert_rc 2
    bl create --cpus 1000 busybox; assert_rc 0
    assert_contains "$ERR" "Warning: --cpus 1000 is more than the maximum of 255; using 255"
    bl inspect -f '{{.Cpus}}' "$OUT"; assert_eq "$OUT" 255
    bl run --pids-limit x busybox true; assert_rc 2
    assert_contains "$ERR" "invalid value 'x' for '--pids-limit <PIDS_LIMIT>'"
    bl run --pids-limit -5 busybox true; assert_rc 2
    bl run --disk-size ten busybox true; assert_rc 2
    assert_contains "$ERR" "invalid value 'ten' for '--disk-size <DISK_SIZE>'"
    bl run --rm --disk-size 10 busybox true; assert_rc 0
    bl run --memory; assert_rc 2; assert_contains "$ERR" "a value is required for '--memory'"
    bl rm -a -f >/dev/null
}

# A --rm box whose cgroups cannot be removed yet (a task in them that does not die in time: a
# host process put into them and frozen through the v1 freezer, which the box does not use)
# keeps its record until they can be, and the next command removes both. On 8ff159a the record
# went at once and the cgroups stayed for ever (seen once in the soak, under load).
t_busy_cgroup_retried() {
    needs_root "the v1 freezer" || return
    [ -d /sys/fs/cgroup/freezer ] || { T_SKIP="no v1 freezer hierarchy"; return; }
    setup
    "$BOXLITE_BIN" --home "$T_HOME" run --rm --init --name fz busybox sleep 1000 >/dev/null 2>&1 &
    local fg=$! id fz=/sys/fs/cgroup/freezer/boxlite-test-$$ cg pid
    wait_until 10 sh -c "ls '$T_HOME'/boxes/*/shim.pid >/dev/null 2>&1" || fail "box did not start"
    id=$(ls "$T_HOME/boxes")
    cg=$(find /sys/fs/cgroup -maxdepth 3 -type d -name "boxlite-$id" | head -n1)
    sleep 1000 &
    pid=$!
    echo "$pid" >"$cg/cgroup.procs"
    mkdir "$fz" && echo "$pid" >"$fz/cgroup.procs" && echo FROZEN >"$fz/freezer.state"
    kill -TERM "$fg"
    wait_until 60 sh -c "! kill -0 $fg 2>/dev/null" || fail "run did not end"
    echo THAWED >"$fz/freezer.state"
    kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
    rmdir "$fz"
    bl ls -a -q; assert_rc 0
    assert_eq "$OUT" "" "boxes after the next open"
    assert_eq "$(find /sys/fs/cgroup -maxdepth 3 -type d -name "boxlite-$id" | wc -l)" 0 \
        "cgroups of the box after the next open"
}

run_tests t_busy_cgroup_retried t_limits_applied_and_inspected t_defaults t_memory_hog_killed_137 t_delegated_placement \
    t_pids_limit_enforced t_cpu_quota_enforced t_parse_errors
