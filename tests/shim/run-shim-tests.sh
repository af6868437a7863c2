#!/usr/bin/env bash
# shellcheck disable=SC2016 # box commands are single-quoted on purpose: they run in the box
# SPDX-License-Identifier: MIT
# boxlite-shim driven by hand (no library): box directories are made here around a busybox
# rootfs, the shim is started by tests/shim/drive.py (spawn channel on fd 3) and exec requests
# go to BOX_DIR/shim.sock. Every test then checks that nothing is left: no process of the box,
# no mount naming the work dir, no cgroup of the box, no shim.pid/shim.sock.
#   tests/shim/run-shim-tests.sh            (BUILD=asan or SHIM=/path/to/boxlite-shim to pick)
# Output is TAP. Needs root (skips otherwise).
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-release}
SHIM=${SHIM:-$TOP/build/$BUILD/boxlite-shim}
SHIMCONF=${SHIMCONF:-$TOP/build/$BUILD/fixtures/shimconf} # the library's shim.conf encoder
DRIVE=(python3 "$TOP/tests/shim/drive.py")
CAPS=00000000a80425fb # docker's default set
[ "$(id -u)" -eq 0 ] || { echo "1..0 # SKIP needs root"; exit 0; }
[ -x "$SHIM" ] || { echo "Bail out! $SHIM not built"; exit 1; }
[ -x "$SHIMCONF" ] || { echo "Bail out! $SHIMCONF not built"; exit 1; }
[ -x /bin/busybox ] || { echo "1..0 # SKIP needs /bin/busybox (busybox-static)"; exit 0; }

WORK=$(mktemp -d /tmp/bl-shim-XXXXXX)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}:log_path=$WORK/asan
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}:log_path=$WORK/ubsan
BG_PIDS=()
cleanup() {
    local p
    for p in "${BG_PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
    find /sys/fs/cgroup -maxdepth 3 -type d -name "boxlite-t${WORK##*-}*" -exec rmdir {} \; 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

T_NUM=0 T_FAILED=0 T_CUR_FAIL=0
diag() { printf '# %s\n' "$*"; }
fail() { diag "FAIL: $*"; T_CUR_FAIL=1; }
assert_eq() { [ "$1" = "$2" ] || fail "${3:-value}: got '$1', expected '$2'"; }
assert_contains() { [[ $1 == *"$2"* ]] || fail "${3:-output} does not contain '$2': ${1:0:600}"; }
assert_not_contains() { [[ $1 != *"$2"* ]] || fail "${3:-output} contains '$2': ${1:0:600}"; }
assert_match() { [[ $1 =~ $2 ]] || fail "${3:-output} does not match /$2/: ${1:0:400}"; }
assert_rc() { [ "$RC" -eq "$1" ] || fail "status $RC, expected $1 (out: ${OUT:0:300}) (msgs: ${MSGS:0:600})"; }

# ---- fixtures ------------------------------------------------------------------------------

L=$WORK/layer0
mkdir -p "$L/bin" "$L/etc" "$L/tmp" "$L/root" "$L/home/user"
cp /bin/busybox "$L/bin/busybox"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox "$L/bin/$a"; done
chmod 1777 "$L/tmp"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\nuser:x:1000:1000:user:/home/user:/bin/sh\n' >"$L/etc/passwd"
printf 'root:x:0:root\nwheel:x:10:root,user\nnogroup:x:65534:\nuser:x:1000:\nstaff:x:50:\n' >"$L/etc/group"
echo lower >"$L/etc/motd"
L2=$WORK/layer1 # on top of L
mkdir -p "$L2/etc" "$L2/usr/local/bin"
echo layer1 >"$L2/etc/motd"
printf '#!/bin/sh\necho hello from layer1 "$@"\n' >"$L2/usr/local/bin/hello"
chmod 755 "$L2/usr/local/bin/hello"

# A seccomp program (raw struct sock_filter[]) failing mkdir and mkdirat with EPERM on x86-64.
SECCOMP=$WORK/deny-mkdir.bpf
python3 - "$SECCOMP" <<'EOF'
import struct, sys
prog = [
    (0x20, 0, 0, 4),            # ld arch
    (0x15, 0, 3, 0xC000003E),   # jeq AUDIT_ARCH_X86_64, else allow
    (0x20, 0, 0, 0),            # ld nr
    (0x15, 2, 0, 83),           # jeq mkdir -> errno
    (0x15, 1, 0, 258),          # jeq mkdirat -> errno
    (0x06, 0, 0, 0x7FFF0000),   # ret ALLOW
    (0x06, 0, 0, 0x00050001),   # ret ERRNO(EPERM)
]
open(sys.argv[1], "wb").write(b"".join(struct.pack("<HBBI", *i) for i in prog))
EOF

# ---- boxes ---------------------------------------------------------------------------------

N=0 BOX="" CG="" PID1="" CONF=()
# new_box [KEY VALUE]...: a fresh box dir; pairs are added after the defaults (a scalar key
# given again wins, list keys - layer, arg, env - append).
new_box() {
    N=$((N + 1))
    BOX=$WORK/box$N
    mkdir -p "$BOX/upper" "$BOX/work" "$BOX/merged"
    CG=boxlite-t${WORK##*-}$(head -c 64 /dev/urandom | tr -dc a-z0-9 | head -c 6)
    CONF=(id "box$N" hostname "box$N" layer "$L" upper "$BOX/upper" work "$BOX/work"
        merged "$BOX/merged" cwd / user "" caps "$CAPS" seccomp "" init 0 detach 0
        cgroup "$CG" env PATH=/usr/local/bin:/usr/bin:/bin "$@")
    write_conf "${CONF[@]}"
    PID1=""
}

# write_conf [KEY VALUE]...: $BOX/shim.conf with these records, in order, written by the
# library's encoder (tests/fixtures/shimconf).
write_conf() {
    local args=()
    while [ $# -ge 2 ]; do
        args+=("$1=$2")
        shift 2
    done
    "$SHIMCONF" "$BOX/shim.conf" "${args[@]}" || fail "cannot write $BOX/shim.conf"
}

# run_box [drive options]: run the box in the foreground; sets RC, OUT (box stdout), ERR (box
# stderr without drive lines), MSGS (drive lines: protocol messages). Stdin: $STDIN or null.
run_box() {
    "${DRIVE[@]}" run "$BOX" --shim "$SHIM" --started-file "$BOX.started" "$@" \
        <"${STDIN:-/dev/null}" >"$BOX.out" 2>"$BOX.err"
    RC=$?
    OUT=$(cat "$BOX.out")
    MSGS=$(grep '^drive: ' "$BOX.err")
    ERR=$(grep -v '^drive: ' "$BOX.err")
    [ -e "$BOX.started" ] && PID1=$(head -n1 "$BOX.started")
    # The shim exits 0 after reporting `exit`, 1 after `error` (and 1 if LSan found a leak).
    if [[ $MSGS == *"drive: exit "* ]]; then
        assert_contains "$MSGS" "shim exited with 0"
    elif [[ $MSGS == *"drive: error "* ]]; then
        assert_contains "$MSGS" "shim exited with 1"
    fi
}

# start_box [drive options]: run the box in the background and wait for `started`.
start_box() {
    rm -f "$BOX.started"
    "${DRIVE[@]}" run "$BOX" --shim "$SHIM" --started-file "$BOX.started" "$@" \
        </dev/null >"$BOX.out" 2>"$BOX.err" &
    BG=$!
    BG_PIDS+=("$BG")
    local i
    for ((i = 0; i < 500; i++)); do
        [ -e "$BOX.started" ] && break
        kill -0 "$BG" 2>/dev/null || break
        sleep 0.01
    done
    [ -e "$BOX.started" ] || { fail "box did not start: $(cat "$BOX.err")"; return 1; }
    PID1=$(head -n1 "$BOX.started")
    SHIM_PID=$(sed -n 2p "$BOX.started")
}

# wait_bg: wait for the background driver; sets RC and MSGS.
wait_bg() {
    wait "$BG"
    RC=$?
    MSGS=$(grep '^drive: ' "$BOX.err")
    OUT=$(cat "$BOX.out")
}

# ex [drive exec options] -- ARGV: exec in the running box; sets RC, OUT, ERR.
ex() {
    local opts=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do opts+=("$1"); shift; done
    "${DRIVE[@]}" exec "${opts[@]}" "$BOX" "$@" </dev/null >"$BOX.exec.out" 2>"$BOX.exec.err"
    RC=$?
    OUT=$(cat "$BOX.exec.out")
    ERR=$(cat "$BOX.exec.err")
}

ctl() { "${DRIVE[@]}" ctl "$BOX" "$@" 2>&1; }

gone() { # wait until pid $1 is gone or a zombie (up to ${2:-5} s)
    local i st
    for ((i = 0; i < ${2:-5} * 100; i++)); do
        st=$(sed 's/.*) //' /proc/"$1"/stat 2>/dev/null | cut -c1)
        [ -z "$st" ] || [ "$st" = Z ] && return 0
        sleep 0.01
    done
    return 1
}

# Leak guard after each test.
leak_check() {
    local left
    if [ -n "${PID1:-}" ] && ! gone "$PID1" 2; then
        fail "leak: PID 1 ($PID1) still alive"
        kill -9 "$PID1" 2>/dev/null
    fi
    left=$(pgrep -f "$WORK/box" | grep -vx "$$" || true)
    if [ -n "$left" ]; then
        sleep 0.2
        left=$(pgrep -f "$WORK/box" || true)
        [ -n "$left" ] && fail "leak: processes naming the box: $(ps -o pid,args -p "$(echo "$left" | tr ' ' ,)")"
    fi
    if grep -q "$WORK" /proc/self/mountinfo; then
        fail "leak: mounts: $(grep "$WORK" /proc/self/mountinfo)"
    fi
    left=$(find /sys/fs/cgroup -maxdepth 3 -type d -name "$CG" 2>/dev/null)
    [ -n "$left" ] && fail "leak: cgroups: $left"
    [ -e "$BOX/shim.pid" ] && fail "leak: shim.pid left"
    [ -e "$BOX/shim.sock" ] && fail "leak: shim.sock left"
    return 0
}

run_test() {
    T_NUM=$((T_NUM + 1))
    T_CUR_FAIL=0
    BOX="" CG="" PID1=""
    "$1"
    [ -n "$BOX" ] && leak_check
    if [ "$T_CUR_FAIL" -eq 0 ]; then
        echo "ok $T_NUM - $1"
    else
        echo "not ok $T_NUM - $1"
        T_FAILED=$((T_FAILED + 1))
        [ -n "$BOX" ] && [ -e "$BOX/shim.log" ] && sed 's/^/#   shim.log: /' "$BOX/shim.log" | tail -15
    fi
}

# ---- tests: status codes -------------------------------------------------------------------

t_true() {
    new_box arg true
    run_box
    assert_rc 0
    assert_contains "$MSGS" "drive: started $PID1"
    assert_contains "$MSGS" "drive: exit 0 "
    assert_eq "$(cat "$BOX/exit.json")" '{"exit_code": 0}' exit.json
    assert_contains "$MSGS" "shim exited with 0"
}

t_exit_42() {
    new_box arg sh arg -c arg 'exit 42'
    run_box
    assert_rc 42
    assert_eq "$(cat "$BOX/exit.json")" '{"exit_code": 42}' exit.json
}

t_exit_125_is_an_exit() {
    new_box arg sh arg -c arg 'exit 125'
    run_box
    assert_rc 125
    assert_contains "$MSGS" "drive: exit 125 "
    assert_not_contains "$MSGS" "error"
}

t_pid1_ignores_its_own_sigkill() {
    # PID 1 of a pid namespace has no default action for signals from inside it.
    new_box arg sh arg -c arg 'kill -KILL $$; echo survived'
    run_box
    assert_rc 0
    assert_eq "$OUT" survived
}

t_init_command_killed() {
    new_box init 1 arg sh arg -c arg 'echo $$; kill -KILL $$'
    run_box
    assert_rc 137
    assert_eq "$OUT" 2 "pid under the init"
}

t_init_exit_status() {
    new_box init 1 arg sh arg -c arg 'exit 3'
    run_box
    assert_rc 3
}

t_not_found() {
    new_box arg nonexistent
    run_box
    assert_rc 127
    assert_contains "$MSGS" 'drive: error 127 exec: "nonexistent": executable file not found in $PATH'
    assert_eq "$(cat "$BOX/exit.json")" '{"exit_code": 127}' exit.json
}

t_no_such_path() {
    new_box arg /no/such/file
    run_box
    assert_rc 127
    assert_contains "$MSGS" 'exec: "/no/such/file": no such file or directory'
}

t_is_a_directory() {
    new_box arg /etc
    run_box
    assert_rc 126
    assert_contains "$MSGS" 'drive: error 126 exec: "/etc": is a directory'
}

t_permission_denied() {
    new_box arg /etc/passwd
    run_box
    assert_rc 126
    assert_contains "$MSGS" 'exec: "/etc/passwd": permission denied'
}

t_bad_cwd() {
    new_box cwd /nonexistent arg true
    run_box
    assert_rc 125
    assert_contains "$MSGS" "drive: error 125 cannot change to working directory '/nonexistent': No such file or directory"
}

t_unknown_user() {
    new_box user nosuchuser arg true
    run_box
    assert_rc 125
    assert_contains "$MSGS" "unable to find user nosuchuser"
}

t_unknown_group() {
    new_box user 1000:nosuchgroup arg true
    run_box
    assert_rc 125
    assert_contains "$MSGS" "unable to find group nosuchgroup"
}

t_bad_layer() {
    new_box layer "$WORK/no-such-layer" arg true
    run_box
    assert_rc 125
    assert_contains "$MSGS" "drive: error 125 "
    assert_contains "$MSGS" "no-such-layer"
}

t_bad_conf() {
    new_box
    write_conf id x layer "$L" upper "$BOX/upper" work "$BOX/work"
    run_box
    assert_rc 125
    assert_contains "$MSGS" "missing 'merged'"
}

t_not_by_hand() {
    local out rc
    out=$("$SHIM" /tmp 3</dev/null 2>&1)
    rc=$?
    assert_eq "$rc" 2 "status"
    assert_contains "$out" "not by hand"
}

# ---- tests: the box --------------------------------------------------------------------------

t_stdio() {
    new_box arg sh arg -c arg 'cat; echo out; echo err >&2'
    printf 'from stdin\n' >"$WORK/stdin.txt"
    STDIN=$WORK/stdin.txt run_box
    assert_rc 0
    assert_eq "$OUT" $'from stdin\nout'
    assert_eq "$ERR" err stderr
}

t_pid1_is_the_command() {
    new_box arg sh arg -c arg 'echo $$; read c </proc/1/comm; echo $c'
    run_box
    assert_rc 0
    assert_eq "$OUT" $'1\nsh'
}

t_clean_process_state() {
    # Only 0/1/2 are open; no signal ignored or blocked even if the client ignores some.
    # (ls itself, not a shell: shells keep fds of their own; ls's 3 is the directory it reads)
    new_box arg ls arg -l arg /proc/self/fd
    run_box
    assert_rc 0
    assert_eq "$(awk 'NR > 1 { printf "%s%s ", $9, $11 }' <<<"$OUT")" "0/dev/null 1$BOX.out 2$BOX.err 3 "
    leak_check
    new_box arg grep arg -E arg '^Sig(Blk|Ign)' arg /proc/self/status
    (
        trap '' HUP USR1
        run_box
        assert_rc 0
        assert_eq "$OUT" $'SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000'
        exit "$T_CUR_FAIL"
    ) || T_CUR_FAIL=1
}

t_hostname_hosts_resolv() {
    new_box hostname myhost arg sh arg -c arg 'hostname; cat /etc/hostname; grep myhost /etc/hosts; grep -c localhost /etc/hosts; cat /etc/resolv.conf'
    run_box
    assert_rc 0
    assert_eq "$OUT" "$(printf 'myhost\nmyhost\n127.0.1.1\tmyhost\n2\n%s' "$(cat /etc/resolv.conf)")"
}

t_masked_paths() {
    new_box arg sh arg -c arg 'wc -c </proc/keys; wc -c </proc/timer_list; ls /proc/acpi | wc -l; ls /sys/firmware | wc -l; touch /proc/acpi/x 2>&1; ls -l /dev/core'
    run_box
    assert_rc 0
    local lines
    mapfile -t lines <<<"$OUT"
    assert_eq "${lines[0]}" 0 "/proc/keys size"
    assert_eq "${lines[1]}" 0 "/proc/timer_list size"
    assert_eq "${lines[2]}" 0 "/proc/acpi entries"
    assert_eq "${lines[3]}" 0 "/sys/firmware entries"
    assert_contains "${lines[4]}" "Read-only file system"
}

t_readonly_paths() {
    new_box arg sh arg -c arg '(echo x >/proc/sys/kernel/hostname) 2>&1; grep -E " /proc/(sys|bus|fs|irq) " /proc/self/mountinfo | grep -c " ro,"; touch /sys/x 2>&1; echo done'
    run_box
    assert_rc 0
    local lines
    mapfile -t lines <<<"$OUT"
    assert_contains "${lines[0]}" "Read-only file system" "write to /proc/sys"
    assert_eq "${lines[1]}" 4 "read-only /proc mounts"
    assert_contains "${lines[2]}" "Read-only file system" "touch /sys/x"
}

t_network_is_lo_only() {
    new_box arg sh arg -c arg 'tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " "; ip -o link | wc -l; ip link show lo | head -1'
    run_box
    assert_rc 0
    local lines
    mapfile -t lines <<<"$OUT"
    assert_eq "${lines[0]}" lo "interfaces"
    assert_eq "${lines[1]}" 1 "link count"
    assert_contains "${lines[2]}" ",UP" "lo flags"
}

# The listener's stdin stays open (a fifo we hold) until the client is done: with /dev/null it
# half-closes at once, and a client that sees that FIN before reading its own stdin exits
# without sending (busybox nc, as nc 1.10 does): 6 runs in 300 under load printed nothing.
t_loopback_works() {
    new_box arg sh arg -c arg 'mkfifo /tmp/in; nc -l -p 5555 </tmp/in >/tmp/got & exec 3>/tmp/in; for i in $(seq 50); do echo ping | nc -w 1 127.0.0.1 5555 2>/dev/null && break; sleep 0.1; done; exec 3>&-; wait; cat /tmp/got'
    run_box
    assert_rc 0
    assert_eq "$OUT" ping
}

t_caps_root() {
    new_box arg sh arg -c arg 'grep -E "^Cap(Inh|Prm|Eff|Bnd|Amb)" /proc/self/status | tr -d "\t"'
    run_box
    assert_rc 0
    local want have
    have=$(grep CapPrm /proc/self/status | cut -f2)
    want=$(printf '%016x' $((0x$CAPS & 0x$have)))
    assert_eq "$OUT" "$(printf 'CapInh:0000000000000000\nCapPrm:%s\nCapEff:%s\nCapBnd:%s\nCapAmb:0000000000000000' "$want" "$want" "$want")"
}

t_caps_non_root() {
    new_box user 1000:1000 arg sh arg -c arg 'id; grep -E "^Cap(Prm|Eff|Bnd)" /proc/self/status | tr -d "\t"'
    run_box
    assert_rc 0
    assert_eq "$OUT" "$(printf 'uid=1000(user) gid=1000(user) groups=1000(user)\nCapPrm:0000000000000000\nCapEff:0000000000000000\nCapBnd:%s' "$CAPS")"
}

t_user_by_name() {
    new_box user user arg sh arg -c arg 'id; echo $HOME; umask'
    run_box
    assert_rc 0
    assert_eq "$OUT" $'uid=1000(user) gid=1000(user) groups=10(wheel),1000(user)\n/home/user\n0022'
}

t_user_name_group() {
    new_box user nobody:staff arg id
    run_box
    assert_rc 0
    assert_eq "$OUT" 'uid=65534(nobody) gid=50(staff) groups=50(staff)'
}

t_no_new_privs() {
    new_box arg grep arg NoNewPrivs arg /proc/self/status
    run_box
    assert_rc 0
    assert_eq "$OUT" $'NoNewPrivs:\t1'
}

t_seccomp() {
    new_box seccomp "$SECCOMP" arg sh arg -c arg 'grep "^Seccomp:" /proc/self/status; mkdir /tmp/x 2>&1; touch /tmp/y && echo touch ok'
    run_box
    assert_rc 0
    assert_contains "$OUT" $'Seccomp:\t2'
    assert_contains "$OUT" "Operation not permitted"
    assert_contains "$OUT" "touch ok"
}

t_bad_seccomp() {
    printf 'abc' >"$WORK/bad.bpf"
    new_box seccomp "$WORK/bad.bpf" arg true
    run_box
    assert_rc 125
    assert_contains "$MSGS" "not a BPF program"
}

t_dev() {
    new_box arg sh arg -c arg 'for d in null zero full random urandom tty; do [ -c /dev/$d ] || echo "no $d"; done; head -c 5 /dev/zero | wc -c; stat -c %a /dev/shm; grep -c " /dev/pts .* devpts " /proc/self/mountinfo; readlink /dev/ptmx; readlink /dev/fd; echo x >/dev/null && echo ok'
    run_box
    assert_rc 0
    assert_eq "$OUT" $'5\n1777\n1\npts/ptmx\n/proc/self/fd\nok'
}

t_layers_and_upper() {
    new_box layer "$L2" arg sh arg -c arg 'cat /etc/motd; hello world; ls /persist 2>/dev/null; touch /persist'
    run_box
    assert_rc 0
    assert_eq "$OUT" $'layer1\nhello from layer1 world'
    [ -e "$BOX/upper/persist" ] || fail "write did not land in the upper dir"
    [ -e "$L/persist" ] || [ -e "$L2/persist" ] && fail "write landed in a layer"
    rm -f "$BOX.started"
    run_box # same box again: the upper dir persists
    assert_rc 0
    assert_contains "$OUT" "/persist"
}

t_many_layers() {
    # Far more lowerdir text than one page: needs the new mount API's "lowerdir+".
    local i layers=() dir
    for ((i = 0; i < 90; i++)); do
        dir=$WORK/many-layers-with-a-rather-long-directory-name-to-fill-the-page-$i
        mkdir -p "$dir"
        echo "$i" >"$dir/which"
        layers+=(layer "$dir")
    done
    new_box "${layers[@]}" arg cat arg /which
    run_box
    assert_rc 0
    assert_eq "$OUT" 89
}

t_symlinks_stay_in_the_rootfs() {
    local L3=$WORK/layer-evil evil=/tmp/bl-shim-evil-$$
    mkdir -p "$L3/etc"
    ln -s "$evil" "$L3/etc/hosts"                        # dangling absolute link
    ln -s ../../../../../../..$evil-2 "$L3/etc/hostname" # dangling, climbing out
    ln -s /etc/motd "$L3/etc/resolv.conf"                 # resolves inside the rootfs
    new_box layer "$L3" arg sh arg -c arg 'grep -c localhost /etc/hosts; cat /etc/hostname; cat /etc/motd'
    run_box
    assert_rc 0
    assert_eq "$OUT" "$(printf '2\nbox%s\n%s' "$N" "$(cat /etc/resolv.conf)")"
    [ -e "$evil" ] || [ -e "$evil-2" ] && fail "a mount or file escaped to the host"
    rm -f "$evil" "$evil-2"
}

t_detached() {
    new_box detach 1 arg sh arg -c arg 'echo out; echo err >&2; readlink /proc/self/fd/0 | cut -d: -f1'
    run_box
    assert_rc 0
    assert_eq "$OUT" "" "client stdout"
    # CRI records: "<RFC 3339 time> <stream> F|P <content>"; the two pipes are read
    # separately, so only each stream's own order is certain
    local log
    log=$(cat "$BOX/logs/console.log")
    assert_match "$log" '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\.[0-9]{9}Z std(out|err) F '
    assert_eq "$(grep ' stdout ' <<<"$log" | cut -d' ' -f2-)" $'stdout F out\nstdout F pipe'
    assert_eq "$(grep ' stderr ' <<<"$log" | cut -d' ' -f2-)" 'stderr F err'
}

t_detached_outlives_client() {
    new_box detach 1 arg sleep arg 100
    start_box --close-after-started
    wait "$BG"
    sleep 0.3
    kill -0 "$SHIM_PID" 2>/dev/null || fail "detached shim died with its client"
    assert_eq "$(ctl ping)" "pong $PID1"
    assert_eq "$(ctl stop 0)" "exit 137"
    gone "$SHIM_PID" || fail "shim still running after stop"
}

t_client_stdio_released() {
    new_box
    start_box
    local fd
    for fd in 0 1 2; do
        assert_eq "$(readlink /proc/"$SHIM_PID"/fd/$fd)" /dev/null "shim fd $fd"
    done
    ctl stop 0 >/dev/null
    wait_bg
}

# ---- tests: exec and control ---------------------------------------------------------------

t_exec_into_idle_box() {
    new_box hostname idlebox
    start_box
    assert_eq "$(ctl ping)" "pong $PID1"
    ex -- sh -c 'echo hi; exit 7'
    assert_rc 7
    assert_eq "$OUT" hi
    # (the init is not dumpable: the box cannot read its /proc/1/ns; compare from outside)
    ex -- sh -c 'hostname; tr -d "\\0" </proc/1/cmdline; echo; for n in net mnt cgroup uts ipc pid; do readlink /proc/self/ns/$n; done; ls -d /bin/busybox'
    assert_rc 0
    local n ns=""
    for n in net mnt cgroup uts ipc pid; do ns+=$(readlink "/proc/$PID1/ns/$n")$'\n'; done
    assert_eq "$OUT" $'idlebox\ninit\n'"$ns"/bin/busybox
    # nor its exe, the host's boxlite-shim (CVE-2019-5736), nor trace it
    ex -- sh -c 'readlink /proc/1/exe || echo refused; cat /proc/1/exe >/dev/null || echo refused'
    assert_eq "$OUT" $'refused\nrefused'
    ex --cwd /tmp --user user --env FOO=bar -- sh -c 'pwd; id -u; echo $FOO $HOME; echo $PATH'
    assert_rc 0
    assert_eq "$OUT" $'/tmp\n1000\nbar /home/user\n/usr/local/bin:/usr/bin:/bin'
    ex -- sh -c 'grep -E "^(CapEff|NoNewPrivs)" /proc/self/status | tr -d "\t"'
    assert_eq "$OUT" "$(printf 'CapEff:%016x\nNoNewPrivs:1' $((0x$CAPS & 0x$(grep CapPrm /proc/self/status | cut -f2))))"
    ex -- ls /proc/self/fd
    assert_eq "${OUT//$'\n'/ }" "0 1 2 3" "fds of an exec'd process"
    ex -- nonexistent
    assert_rc 127
    assert_contains "$ERR" 'drive: error 127 exec: "nonexistent": executable file not found in $PATH'
    ex --cwd /nope -- true
    assert_rc 125
    assert_contains "$ERR" "cannot change to working directory '/nope'"
    ex -- /etc
    assert_rc 126
    assert_eq "$(ctl signal 10)" ok # the idle init has no handler for it: ignored
    assert_eq "$(ctl bogus)" "error 125 unknown request 'bogus'"
    assert_eq "$(ctl stop 5000)" "exit 0"
    wait_bg
    assert_rc 0
    assert_contains "$MSGS" "drive: exit 0 "
}

t_exec_killed_with_its_client() {
    new_box
    start_box
    ex --close-after-pid --pid-file "$WORK/exec.pid" -- sleep 100
    local pid
    pid=$(cat "$WORK/exec.pid")
    gone "$pid" 3 || fail "exec'd process $pid survived its client"
    ex --detach --pid-file "$WORK/exec.pid" -- sleep 0.3
    pid=$(cat "$WORK/exec.pid")
    sleep 0.1
    kill -0 "$pid" 2>/dev/null || fail "detached exec $pid was killed"
    gone "$pid" 3 || fail "detached exec did not end"
    # `signal` on the exec connection reaches the exec'd process.
    "${DRIVE[@]}" exec "$BOX" -- sleep 100 </dev/null >/dev/null 2>"$WORK/exec.err" &
    local drv=$!
    sleep 0.3
    kill -TERM "$drv"
    wait "$drv"
    RC=$?
    assert_rc 143
    ex -- sh -c 'sleep 0.1 & exit 0' # orphan for the init to reap
    sleep 0.3
    ex -- sh -c 'ps -o stat | grep -c Z'
    assert_eq "$OUT" 0 "zombies"
    ctl stop 0 >/dev/null
    wait_bg
}

t_stop_zero_grace() {
    new_box arg sleep arg 100
    start_box
    local out
    out=$(ctl stop 0)
    assert_eq "$out" "exit 137"
    wait_bg
    assert_rc 137
}

t_stop_command_ignoring_sigterm() {
    new_box arg sleep arg 100
    start_box
    local t0 t1
    t0=$(date +%s%N)
    assert_eq "$(ctl stop 300)" "exit 137"
    t1=$(date +%s%N)
    [ $(((t1 - t0) / 1000000)) -ge 290 ] || fail "stop did not wait the grace period"
    wait_bg
    assert_rc 137
}

t_stop_through_init() {
    new_box init 1 arg sleep arg 100
    start_box
    local t0 t1
    t0=$(date +%s%N)
    assert_eq "$(ctl stop 5000)" "exit 143"
    t1=$(date +%s%N)
    [ $(((t1 - t0) / 1000000)) -lt 3000 ] || fail "SIGTERM was not forwarded"
    wait_bg
    assert_rc 143
}

t_signal_from_spawn_channel() {
    new_box init 1 arg sleep arg 100
    run_box --signal 15 --signal-delay 100
    assert_rc 143
}

t_wait_and_stop() {
    new_box
    start_box
    ctl wait >"$WORK/wait.out" &
    local w=$!
    sleep 0.2
    assert_eq "$(ctl stop 1000)" "exit 0"
    wait "$w"
    assert_eq "$(cat "$WORK/wait.out")" "exit 0" "wait reply"
    wait_bg
}

t_second_shim_refused() {
    new_box
    start_box
    local box1=$BOX
    "${DRIVE[@]}" run "$BOX" --shim "$SHIM" </dev/null >/dev/null 2>"$WORK/second.err"
    RC=$?
    assert_rc 125
    assert_contains "$(cat "$WORK/second.err")" "box is already running"
    assert_eq "$(ctl ping)" "pong $PID1" "first box after the refused start"
    BOX=$box1
    ctl stop 0 >/dev/null
    wait_bg
}

t_spawn_channel_closed() {
    new_box arg sleep arg 100
    start_box --close-after-started
    wait "$BG"
    gone "$SHIM_PID" 5 || fail "shim survived its client"
    gone "$PID1" 1 || fail "PID 1 survived"
    assert_eq "$(cat "$BOX/exit.json")" '{"exit_code": 137}' exit.json
}

t_shim_killed() {
    new_box
    start_box
    ex --detach --pid-file "$WORK/exec.pid" -- sleep 100
    local epid
    epid=$(cat "$WORK/exec.pid")
    kill -9 "$SHIM_PID"
    gone "$PID1" 3 || fail "PID 1 survived the shim (no PDEATHSIG)"
    gone "$epid" 3 || fail "exec'd process survived the shim"
    wait "$BG"
    # What the library's recovery does: remove the leftovers of a killed shim.
    local d
    find /sys/fs/cgroup -maxdepth 3 -type d -name "$CG" -exec rmdir {} + || fail "rmdir $CG"
    rm -f "$BOX/shim.pid" "$BOX/shim.sock"
}

t_shim_sigterm() {
    new_box arg sleep arg 100
    start_box
    kill -TERM "$SHIM_PID"
    wait_bg
    assert_rc 137
    gone "$SHIM_PID" 2 || fail "shim did not exit"
}

t_pure_cgroup2() {
    # A private mount namespace where /sys/fs/cgroup is the cgroup2 hierarchy (most users'
    # machines): one leaf, joined with CLONE_INTO_CGROUP, no v1 hierarchy.
    new_box
    unshare -m --propagation private sh -c 'mount -t cgroup2 none /sys/fs/cgroup && exec "$@"' sh \
        "${DRIVE[@]}" run "$BOX" --shim "$SHIM" --started-file "$BOX.started" \
        </dev/null >"$BOX.out" 2>"$BOX.err" &
    BG=$!
    BG_PIDS+=("$BG")
    local i
    for ((i = 0; i < 500; i++)); do
        [ -e "$BOX.started" ] && break
        sleep 0.01
    done
    PID1=$(head -n1 "$BOX.started")
    local cg
    cg=$(cat /proc/"$PID1"/cgroup)
    assert_contains "$cg" "0::/$CG" "cgroup2 membership"
    assert_not_contains "$(grep -v '^0::' <<<"$cg")" "$CG" "v1 membership"
    assert_eq "$(ctl stop 0)" "exit 137"
    wait_bg
    assert_rc 137
}

# Limits in a pure cgroup2 hierarchy that lacks the controllers (here: only hugetlb): a default
# ("~") is skipped with a log line, a required limit fails the start.
pure_cgroup2_run() {
    unshare -m --propagation private sh -c 'mount -t cgroup2 none /sys/fs/cgroup && exec "$@"' sh \
        "${DRIVE[@]}" run "$BOX" --shim "$SHIM" --started-file "$BOX.started" \
        </dev/null >"$BOX.out" 2>"$BOX.err"
    RC=$?
    MSGS=$(grep '^drive: ' "$BOX.err")
}

t_limits_pure_cgroup2() {
    if grep -qw memory /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null; then
        diag "cgroup2 has the memory controller here: nothing to check"; return
    fi
    new_box memory '~67108864' cpus '~1000' arg true
    pure_cgroup2_run
    assert_rc 0
    assert_contains "$(cat "$BOX/shim.log")" "the default memory limit is not applied"
    new_box memory 67108864 arg true
    pure_cgroup2_run
    assert_rc 125
    assert_contains "$MSGS" "cannot apply the memory limit: no memory cgroup controller"
}

t_limits_v1() {
    [ -d /sys/fs/cgroup/memory ] || { diag "no cgroup v1 memory hierarchy"; return; }
    new_box memory 33554432 cpus 500 pids 7 arg sh arg -c arg 'sleep 0.5'
    start_box
    assert_eq "$(cat "/sys/fs/cgroup/memory/$CG/memory.limit_in_bytes")" 33554432 memory
    assert_eq "$(cat "/sys/fs/cgroup/cpu/$CG/cpu.cfs_quota_us")" 50000 cpu
    assert_eq "$(cat "/sys/fs/cgroup/pids/$CG/pids.max")" 7 pids
    assert_contains "$(ctl stats)" "memory_limit=33554432"
    wait_bg
    assert_rc 0
    new_box memory 0 arg true
    run_box
    assert_rc 125
    assert_contains "$MSGS" "bad value of 'memory'"
    new_box volume relative/path volume_target /x arg true
    run_box
    assert_rc 125
    assert_contains "$MSGS" "volume 'relative/path' on '/x': paths must be absolute"
    new_box volume_target /x arg true
    run_box
    assert_rc 125
    assert_contains "$MSGS" "bad value of 'volume_target'"
}

t_stale_cgroup() {
    new_box arg sh arg -c arg 'cat /proc/self/cgroup | grep -c ":/$"'
    local d
    for d in /sys/fs/cgroup/unified /sys/fs/cgroup/memory; do mkdir "$d/$CG"; done
    run_box
    assert_rc 0
    [ "${OUT:-0}" -ge 5 ] || fail "box not rooted in its cgroups: $OUT"
}

t_idle_shim_rss() {
    new_box
    start_box
    local rss
    rss=$(ps -o rss= -p "$SHIM_PID" | tr -d ' ')
    diag "idle shim RSS: ${rss} KiB ($BUILD)"
    if [ "$BUILD" = release ] && [ "${rss:-99999}" -gt 1536 ]; then fail "RSS $rss KiB"; fi
    ctl stop 0 >/dev/null
    wait_bg
}

t_timing() {
    new_box arg true
    local line
    while read -r line; do diag "true: $line"; done < <("${DRIVE[@]}" bench "$BOX" --shim "$SHIM" -n 20)
    PID1=""
}

TESTS=(t_true t_exit_42 t_exit_125_is_an_exit t_pid1_ignores_its_own_sigkill t_init_command_killed
    t_init_exit_status t_not_found t_no_such_path t_is_a_directory t_permission_denied t_bad_cwd
    t_unknown_user t_unknown_group t_bad_layer t_bad_conf t_not_by_hand t_stdio t_pid1_is_the_command
    t_clean_process_state t_hostname_hosts_resolv t_masked_paths t_readonly_paths t_network_is_lo_only t_loopback_works
    t_caps_root t_caps_non_root t_user_by_name t_user_name_group t_no_new_privs t_seccomp
    t_bad_seccomp t_dev t_layers_and_upper t_many_layers t_symlinks_stay_in_the_rootfs t_detached
    t_detached_outlives_client t_client_stdio_released t_exec_into_idle_box
    t_exec_killed_with_its_client t_stop_zero_grace t_stop_command_ignoring_sigterm
    t_stop_through_init t_signal_from_spawn_channel t_wait_and_stop t_second_shim_refused
    t_spawn_channel_closed t_shim_killed t_shim_sigterm t_pure_cgroup2 t_limits_pure_cgroup2
    t_limits_v1 t_stale_cgroup t_idle_shim_rss
    t_timing)
if [ $# -gt 0 ]; then TESTS=("$@"); fi
echo "1..$((${#TESTS[@]} + 1))"
for t in "${TESTS[@]}"; do run_test "$t"; done

# Sanitizer reports (asan/ubsan builds log to files: the shim's stderr is /dev/null).
T_NUM=$((T_NUM + 1))
reports=$(find "$WORK" -maxdepth 1 \( -name 'asan.*' -o -name 'ubsan.*' \))
if [ -n "$reports" ]; then
    echo "not ok $T_NUM - no sanitizer reports"
    find "$WORK" -maxdepth 1 \( -name 'asan.*' -o -name 'ubsan.*' \) -exec cat {} + | head -60 | sed 's/^/# /'
    T_FAILED=$((T_FAILED + 1))
else
    echo "ok $T_NUM - no sanitizer reports"
fi
[ "$T_FAILED" -eq 0 ]
