#!/usr/bin/env bash
# bench/run.sh: the cost of running a box, boxlite vs crun vs bubblewrap, on
# this machine, in one invocation, all on the same root filesystem (the
# busybox image's unpacked layer). Prints a markdown report on stdout.
#
#   bench/run.sh                       # 50 timed runs of each command
#   BENCH_RUNS=20 BENCH_BOXES=10 bench/run.sh
#
# What it measures (medians over BENCH_RUNS runs, after BENCH_WARMUP untimed ones):
#   1. boxlite run --rm busybox true   (boxlite's seccomp filter, cgroups, overlay rootfs)
#   2. crun run of an equivalent OCI bundle (`crun spec`, adjusted), without a
#      seccomp profile and with podman's default one
#   3. bwrap --unshare-all --die-with-parent --bind ROOTFS / --proc /proc --dev /dev true
#   4. boxlite exec BOX true (detached box)  vs  crun exec CTR true (crun run -d)
#   1b. the same with the default network (slirp4netns); 1 uses --network disabled,
#      the footing of crun and bwrap (loopback only), as do 4 and 5
#   5. host memory per idle box: BENCH_BOXES detached boxes running
#      `sleep 100000`: the shims' RSS and PSS, the boxes' PID 1s, the memory
#      cgroups' charge, and the kernel's growth (/proc/meminfo deltas).
#
# Environment:
#   BENCH_RUNS      timed runs per command (default 50)
#   BENCH_WARMUP    untimed runs first (default 3)
#   BENCH_BOXES     idle boxes for the memory measurement (default 50)
#   BENCH_GAP       seconds of (untimed) sleep before each run of the "spaced"
#                   measurements of run and exec (default 0.3; 0: skip them).
#                   Back-to-back runs share kernel state that an isolated start
#                   does not find (see "spaced" in the report).
#   BOXLITE         boxlite binary (default build/release/boxlite, built with
#                   `make -j2` if missing); boxlite-shim is taken from beside
#                   it. Both are copied into the scratch directory first, so a
#                   rebuild during the benchmark cannot disturb it.
#   BENCH_FIXTURES  where busybox.oci.tar is or is built (default build/fixtures)
#   BENCH_SECCOMP   podman-format seccomp profile for crun (default
#                   /usr/share/containers/seccomp.json, from containers-common);
#                   when missing, a built-in allowlist (x86_64 names) is used
#   TMPDIR          the scratch directory is made under it (default /tmp)
#
# Timing uses `hyperfine -N` (no shell) when installed, else a bash loop on
# EPOCHREALTIME. Needs root, crun, bwrap, jq, unshare (util-linux), python3
# (to build the fixture). crun runs inside a private mount namespace (one for
# all its runs) whose /sys/fs/cgroup holds only the v1 hierarchies: crun
# 1.8.1 refuses a hybrid layout (v1 controllers + cgroup2 at .../unified).
# Everything it creates is removed on exit; leftovers are reported on stderr.
set -euo pipefail
export LC_ALL=C

SELF=$(realpath "${BASH_SOURCE[0]}")
ROOT=$(cd "$(dirname "$SELF")/.." && pwd)
RUNS=${BENCH_RUNS:-50}
WARMUP=${BENCH_WARMUP:-3}
BOXES=${BENCH_BOXES:-50}
GAP=${BENCH_GAP:-0.3}
BOXLITE=${BOXLITE:-$ROOT/build/release/boxlite}
FIX=${BENCH_FIXTURES:-$ROOT/build/fixtures}
PODMAN_SECCOMP=${BENCH_SECCOMP:-/usr/share/containers/seccomp.json}
HYPERFINE=${HYPERFINE-$(command -v hyperfine || true)}
export HYPERFINE

die() { printf 'bench/run.sh: %s\n' "$*" >&2; exit 1; }
note() { printf '%s\n' "$*" >&2; }
warn() { printf 'bench/run.sh: warning: %s\n' "$*" >&2; }

# ---------------------------------------------------------------- timing ----
# measure KEY CMD...: runs CMD (no shell, stdio on /dev/null) WARMUP times
# untimed, then RUNS times timed; writes "median_us min_us max_us" to
# $RES/KEY. Fails if any run fails. With SPACING=S, every run is preceded by
# an untimed `sleep S`.
measure() {
    local key=$1 t0 t1 i spacing=${SPACING:-0}
    shift
    local -a us=() prep=()
    [[ $spacing == 0 ]] || prep=(--prepare "sleep $spacing")
    if [[ -n $HYPERFINE ]]; then
        local cmd
        cmd=$(printf '%q ' "$@")
        "$HYPERFINE" -N --style basic --runs "$RUNS" --warmup "$WARMUP" "${prep[@]}" \
            --export-json "$RES/$key.json" -- "$cmd" >"$RES/$key.log" 2>&1 || {
            tail -n 20 "$RES/$key.log" >&2
            die "$key: '$cmd' failed"
        }
        jq -r '.results[0] | [.median, .min, .max] | map(. * 1e6 | floor) | join(" ")' \
            "$RES/$key.json" >"$RES/$key"
        return
    fi
    for ((i = 0; i < WARMUP + RUNS; i++)); do
        [[ $spacing == 0 ]] || sleep "$spacing"
        t0=${EPOCHREALTIME//[!0-9]/}
        "$@" </dev/null >/dev/null 2>"$RES/$key.log" || {
            tail -n 20 "$RES/$key.log" >&2
            die "$key: '$*' failed"
        }
        t1=${EPOCHREALTIME//[!0-9]/}
        ((i < WARMUP)) || us+=($((10#$t1 - 10#$t0)))
    done
    mapfile -t us < <(printf '%s\n' "${us[@]}" | sort -n)
    local n=${#us[@]} med
    if ((n % 2)); then med=${us[n / 2]}; else med=$(((us[n / 2 - 1] + us[n / 2]) / 2)); fi
    echo "$med ${us[0]} ${us[n - 1]}" >"$RES/$key"
}

# measure2 KEY CMD...: measure back-to-back, then (unless BENCH_GAP=0) spaced
# into KEY.spaced.
measure2() {
    measure "$@"
    [[ $GAP == 0 ]] || SPACING=$GAP measure "$1.spaced" "${@:2}"
}

# ------------------------------------------------- crun, in its namespace ----
# Run by `unshare -m --propagation private "$SELF" __crun_ns WORK SUFFIX` (or
# __crun_ns_cleanup WORK): every crun command of the benchmark runs in that
# one mount namespace.

# Hybrid cgroups: hide the cgroup2 mount, keep every v1 hierarchy (and the
# cpu -> cpu,cpuacct style symlinks, if any). Writes what it did to $1.
hide_cgroup2() {
    if [[ $(stat -f -c %T /sys/fs/cgroup) == tmpfs &&
        $(stat -f -c %T /sys/fs/cgroup/unified 2>/dev/null) == cgroup2* ]]; then
        local -a v1=() links=()
        local mp opts l
        mapfile -t v1 < <(awk '{ for (i = 7; $i != "-"; i++); if ($(i + 1) == "cgroup") print $5, $(i + 3) }' \
            /proc/self/mountinfo)
        for l in /sys/fs/cgroup/*; do
            [[ -L $l ]] && links+=("$l $(readlink "$l")")
        done
        mount -t tmpfs -o mode=755,nosuid,nodev,noexec bench_cgroup_root /sys/fs/cgroup
        for l in "${v1[@]}"; do
            read -r mp opts <<<"$l"
            opts=$(tr , '\n' <<<"$opts" | grep -Ev '^(rw|ro|release_agent=.*)$' | paste -sd,)
            mkdir -p "$mp"
            mount -t cgroup -o "$opts" cgroup "$mp"
        done
        for l in "${links[@]}"; do
            ln -s "${l#* }" "${l%% *}"
        done
        echo "/sys/fs/cgroup replaced by a tmpfs holding only the v1 hierarchies" \
            "($(awk '$9 == "cgroup" && $5 ~ "^/sys/fs/cgroup/" && !seen[$5]++ { printf "%s%s", s, substr($5, 16); s = " " }' \
                /proc/self/mountinfo))" >"$1"
    else
        echo "the host's /sys/fs/cgroup as is ($(stat -f -c %T /sys/fs/cgroup))" >"$1"
    fi
}

crun_delete_all() { # STATE-DIR
    local c
    for c in $(crun --root "$1" list -q 2>/dev/null); do
        crun --root "$1" delete -f "$c" >/dev/null 2>&1 || warn "crun delete -f $c failed"
    done
}

crun_in_namespace() { # WORK SUFFIX
    local work=$1 suf=$2
    RES=$work/res
    local state=$work/crun-state
    local id_run=bench-run-$suf id_sec=bench-sec-$suf id_idle=bench-idle-$suf
    # shellcheck disable=SC2064 # expand now
    trap "crun_delete_all '$state'" EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    hide_cgroup2 "$RES/crun-cgroups"

    # Check once that the bundles do what they claim (seccomp mode 0 vs 2).
    crun --root "$state" run -b "$work/bundle-probe-nosec" "$id_run" >"$RES/probe-crun-nosec" 2>&1 ||
        die "crun run (probe) failed: $(cat "$RES/probe-crun-nosec")"
    crun --root "$state" run -b "$work/bundle-probe-sec" "$id_sec" >"$RES/probe-crun-sec" 2>&1 ||
        die "crun run (probe, seccomp) failed: $(cat "$RES/probe-crun-sec")"

    note "  crun run (no seccomp) ..."
    measure2 crun_nosec crun --root "$state" run -b "$work/bundle-nosec" "$id_run"
    note "  crun run (seccomp) ..."
    measure2 crun_sec crun --root "$state" run -b "$work/bundle-sec" "$id_sec"
    note "  crun exec ..."
    crun --root "$state" run -d -b "$work/bundle-idle" "$id_idle" </dev/null >/dev/null 2>&1 ||
        die "crun run -d failed"
    measure2 crun_exec crun --root "$state" exec "$id_idle" true
    crun --root "$state" delete -f "$id_idle" >/dev/null
}

case ${1:-} in
__crun_ns)
    crun_in_namespace "$2" "$3"
    exit 0
    ;;
__crun_ns_cleanup)
    hide_cgroup2 /dev/null
    crun_delete_all "$2/crun-state"
    exit 0
    ;;
esac

# ---------------------------------------------------------------- checks ----
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS must be a positive integer, not '$RUNS'"
[[ $WARMUP =~ ^[0-9]+$ ]] || die "BENCH_WARMUP must be a non-negative integer, not '$WARMUP'"
[[ $BOXES =~ ^[1-9][0-9]*$ ]] || die "BENCH_BOXES must be a positive integer, not '$BOXES'"
[[ $GAP =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "BENCH_GAP must be a number of seconds, not '$GAP'"
[[ -n ${EPOCHREALTIME:-} ]] || die "needs bash >= 5 (EPOCHREALTIME)"
((EUID == 0)) || die "run as root"
for t in crun bwrap jq unshare python3 awk stat; do
    command -v "$t" >/dev/null || die "$t not found (apt-get install -y crun bubblewrap jq)"
done
[[ -n $HYPERFINE ]] || note "hyperfine not found: timing with a bash loop (apt-get install -y hyperfine)"

if [[ ! -x $BOXLITE ]]; then
    [[ $BOXLITE == "$ROOT/build/release/boxlite" ]] || die "BOXLITE=$BOXLITE is not executable"
    note "building boxlite (make -j2) ..."
    make -C "$ROOT" -j2 >&2 || die "make failed"
fi
SHIM_SRC=$(dirname "$BOXLITE")/boxlite-shim
[[ -x $SHIM_SRC ]] || die "no boxlite-shim beside $BOXLITE"
if [[ ! -f $FIX/busybox.oci.tar ]]; then
    note "building the busybox fixture into $FIX ..."
    python3 "$ROOT/tests/fixtures/mkimage.py" --name busybox --out "$FIX" >&2 ||
        die "mkimage.py --name busybox failed"
fi

# ---------------------------------------------------------------- set up ----
SUF=$(printf '%04x%04x' "$RANDOM" "$RANDOM")
WORK=$(mktemp -d "${TMPDIR:-/tmp}/boxlite-bench-run.XXXXXX")
RES=$WORK/res
BIN=$WORK/bin
H=$WORK/home
mkdir "$RES" "$BIN"
cp "$BOXLITE" "$BIN/boxlite"
cp "$SHIM_SRC" "$BIN/boxlite-shim"
BX=("$BIN/boxlite" --home "$H")
CSTATE=$WORK/crun-state

# boxlite-* cgroups that exist before we start (other users' boxes).
list_box_cgroups() {
    find /sys/fs/cgroup -mindepth 2 -maxdepth 2 -name 'boxlite-*' -printf '%f\n' 2>/dev/null | sort -u
}
list_box_cgroups >"$WORK/cgroups-before"
: >"$WORK/our-ids"

# Leftover check: processes of our binaries, mounts under WORK, our boxes'
# and containers' cgroups, boxlite-* cgroups that appeared meanwhile.
check_leftovers() {
    local p exe id c bad=0
    for p in /proc/[0-9]*; do
        exe=$(readlink "$p/exe" 2>/dev/null) || continue
        if [[ $exe == "$WORK"/* ]]; then
            warn "leftover process ${p#/proc/}: $exe"
            bad=1
        fi
    done
    if grep -qF "$WORK" /proc/self/mountinfo; then
        warn "leftover mounts: $(grep -F "$WORK" /proc/self/mountinfo | awk '{ print $5 }' | paste -sd' ')"
        bad=1
    fi
    if [[ -d $CSTATE ]] && [[ -n $(crun --root "$CSTATE" list -q 2>/dev/null) ]]; then
        warn "leftover crun containers: $(crun --root "$CSTATE" list -q | paste -sd' ')"
        bad=1
    fi
    for id in bench-run-$SUF bench-sec-$SUF bench-idle-$SUF; do
        for c in /sys/fs/cgroup/*/"$id"; do
            [[ -e $c ]] && { warn "leftover crun cgroup $c"; bad=1; }
        done
    done
    while read -r id; do
        [[ -n $id ]] || continue
        for c in /sys/fs/cgroup/*/"boxlite-$id"; do
            [[ -e $c ]] && { warn "leftover cgroup of one of our boxes: $c"; bad=1; }
        done
    done <"$WORK/our-ids"
    local new
    new=$(comm -13 "$WORK/cgroups-before" <(list_box_cgroups) | grep -vxFf <(sed 's/^/boxlite-/' "$WORK/our-ids") |
        paste -sd' ' || true)
    if [[ -n $new ]]; then
        warn "boxlite-* cgroups that appeared during the benchmark and remain (boxes of" \
            "our 'run --rm' runs, or of another boxlite user on this machine): $new"
        bad=1
    fi
    local old
    old=$(comm -12 "$WORK/cgroups-before" <(list_box_cgroups) | wc -l)
    ((old == 0)) || note "note: $old boxlite-* cgroup(s) that predate this benchmark are still present (not ours)"
    return "$bad"
}

remove_our_boxes() {
    local -a ids=()
    [[ -d $H ]] || return 0
    mapfile -t ids < <("${BX[@]}" ls -a -q 2>/dev/null)
    ((${#ids[@]} == 0)) || "${BX[@]}" rm -f "${ids[@]}" >/dev/null || warn "boxlite rm -f failed"
}

cleanup() {
    local rc=$?
    trap - EXIT
    remove_our_boxes
    if [[ -d $CSTATE ]] && [[ -n $(crun --root "$CSTATE" list -q 2>/dev/null) ]]; then
        # Containers left by an interrupted run: delete them in a namespace
        # like the one they were made in.
        unshare -m --propagation private "$SELF" __crun_ns_cleanup "$WORK" >/dev/null 2>&1 || true
    fi
    check_leftovers || true
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

note "loading busybox into a fresh home ..."
"${BX[@]}" load -i "$FIX/busybox.oci.tar" >/dev/null
mapfile -t diffs < <("${BX[@]}" image inspect busybox | jq -r '.[0].RootFS.diff_ids[]')
((${#diffs[@]} == 1)) || die "expected a one-layer busybox image, got ${#diffs[@]} layers"
LAYER=$H/images/layers/${diffs[0]#sha256:}
[[ -x $LAYER/bin/true || -L $LAYER/bin/true ]] || die "$LAYER has no /bin/true"
ROOTFS=$WORK/rootfs                # crun and bwrap: a copy of the same layer
cp -a "$LAYER" "$ROOTFS"

# ------------------------------------------------------------ crun bundles ----
# docker's default capabilities: what boxlite gives a box (crun spec's three
# would make the seccomp profile drop its cap-conditional rules differently).
CAPS='["CAP_CHOWN","CAP_DAC_OVERRIDE","CAP_FSETID","CAP_FOWNER","CAP_MKNOD","CAP_NET_RAW",
"CAP_SETGID","CAP_SETUID","CAP_SETFCAP","CAP_SETPCAP","CAP_NET_BIND_SERVICE","CAP_SYS_CHROOT",
"CAP_KILL","CAP_AUDIT_WRITE"]'
case $(uname -m) in
x86_64) SCMP_ARCH=SCMP_ARCH_X86_64 GOARCH=amd64 SUBARCHES='["SCMP_ARCH_X86","SCMP_ARCH_X32"]' ;;
aarch64) SCMP_ARCH=SCMP_ARCH_AARCH64 GOARCH=arm64 SUBARCHES='["SCMP_ARCH_ARM"]' ;;
*) die "unsupported architecture $(uname -m)" ;;
esac

mkdir "$WORK/spec"
(cd "$WORK/spec" && crun spec)
# The adjustments: our rootfs, writable; args; no terminal; no rlimits (root
# here lacks CAP_SYS_RESOURCE); docker's caps; the same six namespaces as a box.
jq --arg root "$ROOTFS" --argjson caps "$CAPS" '
    .root = {path: $root, readonly: false}
    | .process.args = ["true"]
    | .process.terminal = false
    | del(.process.rlimits)
    | .process.capabilities = {bounding: $caps, effective: $caps, permitted: $caps}
    | .linux.namespaces = [{type: "pid"}, {type: "mount"}, {type: "uts"}, {type: "ipc"},
                           {type: "network"}, {type: "cgroup"}]
    | del(.linux.seccomp)' "$WORK/spec/config.json" >"$WORK/config-nosec.json"

# linux.seccomp: podman's default profile, converted as podman does it
# (containers/common pkg/seccomp setupSeccomp): the native arch and its
# sub-arches; a rule is kept when its includes match (arch, all caps in the
# bounding set) and its excludes do not (arch, any cap in the bounding set).
if [[ -f $PODMAN_SECCOMP ]]; then
    pkg=$(dpkg -S "$PODMAN_SECCOMP" 2>/dev/null | cut -d: -f1 | head -n 1 || true)
    [[ -z $pkg ]] || pkg=" from $(dpkg-query -W -f '${Package} ${Version}' "$pkg")"
    SECCOMP_DESC="podman's default (\`$PODMAN_SECCOMP\`$pkg) converted to OCI form with jq"
    jq --arg arch "$SCMP_ARCH" --arg goarch "$GOARCH" --argjson caps "$CAPS" '
        def has($l; $x): ($l // []) | index([$x]) != null;
        . as $p
        | {defaultAction: $p.defaultAction,
           architectures: ([$p.archMap[]? | select(.architecture == $arch)
                            | [.architecture] + (.subArchitectures // [])] | add // [$arch]),
           syscalls: [$p.syscalls[]
             | select(has(.excludes.arches; $goarch) | not)
             | select([(.excludes.caps // [])[] as $c | has($caps; $c)] | any | not)
             | select(((.includes.arches // []) | length) == 0 or has(.includes.arches; $goarch))
             | select([(.includes.caps // [])[] as $c | has($caps; $c)] | all)
             | {names: (if .name then [.name] else .names end), action}
               + (if .errnoRet then {errnoRet} else {} end)
               + (if ((.args // []) | length) > 0
                  then {args: [.args[] | {index, value, valueTwo: (.valueTwo // 0), op}]}
                  else {} end)]}
        + (if $p.defaultErrnoRet then {defaultErrnoRet: $p.defaultErrnoRet} else {} end)' \
        "$PODMAN_SECCOMP" >"$WORK/seccomp.json"
else
    SECCOMP_DESC="built-in allowlist (podman's default allowlist, x86_64 names; \
$PODMAN_SECCOMP not found), ENOSYS otherwise"
    read -r -d '' ALLOW <<'EOF' || true
accept accept4 access adjtimex alarm arch_prctl bind brk capget capset chdir chmod chown chroot
clock_adjtime clock_getres clock_gettime clock_nanosleep clone clone3 close close_range connect
copy_file_range creat dup dup2 dup3 epoll_create epoll_create1 epoll_ctl epoll_ctl_old
epoll_pwait epoll_pwait2 epoll_wait epoll_wait_old eventfd eventfd2 execve execveat exit
exit_group faccessat faccessat2 fadvise64 fallocate fanotify_mark fchdir fchmod fchmodat fchown
fchownat fcntl fdatasync fgetxattr flistxattr flock fork fremovexattr fsconfig fsetxattr fsmount
fsopen fspick fstat fstatfs fsync ftruncate futex futimesat get_mempolicy get_robust_list
get_thread_area getcpu getcwd getdents getdents64 getegid geteuid getgid getgroups getitimer
getpeername getpgid getpgrp getpid getppid getpriority getrandom getresgid getresuid getrlimit
getrusage getsid getsockname getsockopt gettid gettimeofday getuid getxattr inotify_add_watch
inotify_init inotify_init1 inotify_rm_watch io_cancel io_destroy io_getevents io_setup io_submit
ioctl ioprio_get ioprio_set keyctl kill landlock_add_rule landlock_create_ruleset
landlock_restrict_self lchown lgetxattr link linkat listen listxattr llistxattr lremovexattr
lseek lsetxattr lstat madvise mbind membarrier memfd_create memfd_secret mincore mkdir mkdirat
mknod mknodat mlock mlock2 mlockall mmap modify_ldt mount mount_setattr move_mount mprotect
mq_getsetattr mq_notify mq_open mq_timedreceive mq_timedsend mq_unlink mremap msgctl msgget
msgrcv msgsnd msync munlock munlockall munmap name_to_handle_at nanosleep newfstatat open
open_tree openat openat2 pause personality pidfd_getfd pidfd_open pidfd_send_signal pipe pipe2
pivot_root pkey_alloc pkey_free pkey_mprotect poll ppoll prctl pread64 preadv preadv2 prlimit64
process_mrelease process_vm_readv process_vm_writev pselect6 ptrace pwrite64 pwritev pwritev2
read readahead readlink readlinkat readv reboot recvfrom recvmmsg recvmsg remap_file_pages
removexattr rename renameat renameat2 restart_syscall rmdir rseq rt_sigaction rt_sigpending
rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend rt_sigtimedwait rt_tgsigqueueinfo
sched_get_priority_max sched_get_priority_min sched_getaffinity sched_getattr sched_getparam
sched_getscheduler sched_rr_get_interval sched_setaffinity sched_setattr sched_setparam
sched_setscheduler sched_yield seccomp select semctl semget semop semtimedop sendfile sendmmsg
sendmsg sendto set_mempolicy set_robust_list set_thread_area set_tid_address setfsgid setfsuid
setgid setgroups setitimer setns setpgid setpriority setregid setresgid setresuid setreuid
setrlimit setsid setsockopt setuid setxattr shmat shmctl shmdt shmget shutdown sigaltstack
signalfd signalfd4 socket socketpair splice stat statfs statx symlink symlinkat sync
sync_file_range syncfs sysinfo syslog tee tgkill time timer_create timer_delete timer_getoverrun
timer_gettime timer_settime timerfd_create timerfd_gettime timerfd_settime times tkill truncate
umask umount2 uname unlink unlinkat unshare utime utimensat utimes vfork vmsplice wait4 waitid
write writev
EOF
    # shellcheck disable=SC2086 # word splitting of the list is the point
    printf '%s\n' $ALLOW | jq -R . | jq -s --arg arch "$SCMP_ARCH" --argjson sub "$SUBARCHES" '
        {defaultAction: "SCMP_ACT_ERRNO", defaultErrnoRet: 38, architectures: ([$arch] + $sub),
         syscalls: [{names: ., action: "SCMP_ACT_ALLOW"}]}' >"$WORK/seccomp.json"
fi
SECCOMP_NAMES=$(jq '[.syscalls[] | select(.action == "SCMP_ACT_ALLOW") | .names[]] | unique | length' \
    "$WORK/seccomp.json")

make_bundle() { # DIR SECCOMP(0/1) ARGS-JSON
    mkdir "$1"
    if (($2)); then
        jq --slurpfile s "$WORK/seccomp.json" --argjson a "$3" '.linux.seccomp = $s[0] | .process.args = $a' \
            "$WORK/config-nosec.json" >"$1/config.json"
    else
        jq --argjson a "$3" '.process.args = $a' "$WORK/config-nosec.json" >"$1/config.json"
    fi
}
PROBE='["sh", "-c", "grep ^Seccomp: /proc/self/status"]'
make_bundle "$WORK/bundle-nosec" 0 '["true"]'
make_bundle "$WORK/bundle-sec" 1 '["true"]'
make_bundle "$WORK/bundle-idle" 1 '["sleep", "100000"]'
make_bundle "$WORK/bundle-probe-nosec" 0 "$PROBE"
make_bundle "$WORK/bundle-probe-sec" 1 "$PROBE"

# -------------------------------------------------------------- machine ----
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
mem=$(awk '/^MemTotal:/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
v_crun=$(crun --version | head -n 1)
v_bwrap=$(bwrap --version)
v_boxlite=$("${BX[@]}" --version)
v_hyperfine=$([[ -n $HYPERFINE ]] && "$HYPERFINE" --version || echo "none (bash EPOCHREALTIME loop)")
commit=$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)
fs=$(findmnt -no FSTYPE -T "$WORK" 2>/dev/null | head -n 1 || echo '?')
load0=$(cut -d' ' -f1-3 /proc/loadavg)

"${BX[@]}" run --rm busybox grep ^Seccomp: /proc/self/status >"$RES/probe-boxlite" 2>&1 ||
    die "boxlite run (probe) failed: $(cat "$RES/probe-boxlite")"
probe_bwrap=$(bwrap --unshare-all --die-with-parent --bind "$ROOTFS" / --proc /proc --dev /dev \
    grep ^Seccomp: /proc/self/status 2>&1) || die "bwrap (probe) failed: $probe_bwrap"
echo "$probe_bwrap" >"$RES/probe-bwrap"

# ------------------------------------------------------------------ time ----
note "timing ($RUNS runs each, $WARMUP warm-up) ..."
note "  boxlite run --rm ..."
# equal footing: crun's and bwrap's boxes have loopback only, like --network disabled
measure2 boxlite_run "${BX[@]}" run --rm --network disabled busybox true
note "  boxlite run --rm (default network: slirp4netns) ..."
measure2 boxlite_run_net "${BX[@]}" run --rm busybox true
note "  bwrap ..."
measure2 bwrap bwrap --unshare-all --die-with-parent --bind "$ROOTFS" / --proc /proc --dev /dev true
note "  process start-up (--version) ..."
measure boxlite_version "$BIN/boxlite" --version
measure crun_version crun --version
note "  boxlite exec ..."
EXEC_BOX=$("${BX[@]}" run -d --network disabled --name "bench-exec-$SUF" busybox sleep 100000)
echo "$EXEC_BOX" >>"$WORK/our-ids"
measure2 boxlite_exec "${BX[@]}" exec "$EXEC_BOX" true
"${BX[@]}" rm -f "$EXEC_BOX" >/dev/null
unshare -m --propagation private "$SELF" __crun_ns "$WORK" "$SUF"

# ---------------------------------------------------------------- memory ----
note "memory: $BOXES idle boxes ..."
meminfo() { awk '{ v[$1] = $2 } END {
    printf "%d %d %d %d %d %d\n", v["MemAvailable:"], v["Slab:"], v["SUnreclaim:"],
        v["KernelStack:"], v["PageTables:"], v["Percpu:"] }' /proc/meminfo; }
sync
sleep 1
read -r m0_avail m0_slab m0_sunr m0_kstack m0_pt m0_pcpu <<<"$(meminfo)"
for ((i = 1; i <= BOXES; i++)); do
    "${BX[@]}" run -d --network disabled --name "bench-mem-$SUF-$i" busybox sleep 100000 >>"$WORK/our-ids"
done
sync
sleep 2                             # deferred frees (RCU) of the starts settle
read -r m1_avail m1_slab m1_sunr m1_kstack m1_pt m1_pcpu <<<"$(meminfo)"
mapfile -t mem_ids < <("${BX[@]}" ls -q)
((${#mem_ids[@]} == BOXES)) || die "expected $BOXES running boxes, found ${#mem_ids[@]}"
shims=()
for p in /proc/[0-9]*; do
    [[ $(readlink "$p/exe" 2>/dev/null) == "$BIN/boxlite-shim" ]] && shims+=("$p")
done
# per box: the shim and its exec zygote (a fork of the shim, same executable)
((${#shims[@]} == BOXES || ${#shims[@]} == 2 * BOXES)) ||
    die "expected $BOXES shims (+ as many zygotes), found ${#shims[@]} processes"
mapfile -t pid1s < <("${BX[@]}" inspect "${mem_ids[@]}" | jq -r '.[].State.Pid' | sed 's|^|/proc/|')
rollup() { # DIR... -> "rss_kB pss_kB"
    local d
    for d in "$@"; do cat "$d/smaps_rollup"; done |
        awk '$1 == "Rss:" { r += $2 } $1 == "Pss:" { p += $2 } END { printf "%d %d\n", r, p }'
}
read -r shim_rss shim_pss <<<"$(rollup "${shims[@]}")"
read -r pid1_rss pid1_pss <<<"$(rollup "${pid1s[@]}")"
cg_usage=0 cg_kmem=0 cg_n=0
for id in "${mem_ids[@]}"; do
    d=/sys/fs/cgroup/memory/boxlite-$id
    [[ -r $d/memory.usage_in_bytes ]] || continue
    cg_usage=$((cg_usage + $(cat "$d/memory.usage_in_bytes")))
    [[ -r $d/memory.kmem.usage_in_bytes ]] && cg_kmem=$((cg_kmem + $(cat "$d/memory.kmem.usage_in_bytes")))
    cg_n=$((cg_n + 1))
done
# what the default network adds per box: its slirp4netns (the tap and netns exist anyway)
NET_BOXES=${BENCH_NET_BOXES:-10}
for ((i = 1; i <= NET_BOXES; i++)); do
    "${BX[@]}" run -d --name "bench-net-$SUF-$i" busybox sleep 100000 >>"$WORK/our-ids"
done
slirps=()
for p in /proc/[0-9]*; do
    [[ $(cat "$p/comm" 2>/dev/null) == slirp4netns && $(readlink "$p/fd/2" 2>/dev/null) == "$H"/* ]] &&
        slirps+=("$p")
done
read -r slirp_rss slirp_pss <<<"$(rollup "${slirps[@]}")"
slirp_n=${#slirps[@]}
note "removing the boxes ..."
remove_our_boxes
sync
sleep 2
read -r m2_avail m2_slab m2_sunr m2_kstack m2_pt m2_pcpu <<<"$(meminfo)"
load1=$(cut -d' ' -f1-3 /proc/loadavg)

# --------------------------------------------------------------- report ----
ms() { awk -v u="$1" 'BEGIN { printf "%.2f", u / 1000 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
row() { # COMMAND NOTE KEY BASE_KEY [plain]
    local med lo hi base smed sbase sp=''
    read -r med lo hi <"$RES/$3"
    read -r base _ <"$RES/$4"
    if [[ ${5:-} == plain ]]; then
        :
    elif [[ -f $RES/$3.spaced && -f $RES/$4.spaced ]]; then
        read -r smed _ <"$RES/$3.spaced"
        read -r sbase _ <"$RES/$4.spaced"
        sp=" $(ms "$smed") | $(ratio "$smed" "$sbase") |"
    elif [[ $GAP != 0 ]]; then
        sp=' – | – |'
    fi
    local bt='`'
    printf "| $bt%s$bt%s | %s | %s | %s | %s |%s\n" "$1" "$2" "$(ms "$med")" "$(ms "$lo")" "$(ms "$hi")" \
        "$(ratio "$med" "$base")" "$sp"
}
# Table header: COMMAND-TITLE RATIO-TITLE [plain]
thead() {
    if [[ $GAP != 0 && ${3:-} != plain ]]; then
        printf '| %s | median ms | min ms | max ms | ratio vs %s | spaced: median ms | spaced: ratio |\n' "$1" "$2"
        printf '| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n'
    else
        printf '| %s | median ms | min ms | max ms | ratio vs %s |\n| --- | ---: | ---: | ---: | ---: |\n' "$1" "$2"
    fi
}
seccomp_of() { sed -n 's/^Seccomp:[[:space:]]*//p' "$RES/$1" | head -n 1; }
kib() { awk -v k="$1" -v n="$2" 'BEGIN { printf "%.0f", k / n }'; }
per_box() { kib "$(($1))" "$BOXES"; }
kb_per_box() { awk -v b="$1" -v n="$2" 'BEGIN { printf "%.0f", b / 1024 / n }'; }
met() { if awk "BEGIN { exit !($1) }"; then echo "**met**"; else echo "**missed**"; fi; }

if [[ -n $HYPERFINE ]]; then timer='hyperfine -N: no shell'; else timer='bash loop on EPOCHREALTIME'; fi
spaced_note=''
[[ $GAP == 0 ]] || spaced_note="
\"spaced\": the same, with an untimed \`sleep $GAP\` before every run, i.e. isolated starts; runs
back to back share warm kernel state (on cgroup v1, a cgroup.procs write right after another
one skips the RCU grace period the first one waits for)."
# target_rows SUFFIX LABEL: the target table's rows for KEY$SUFFIX results.
target_rows() {
    local sfx=$1 lbl=$2 br bs bn be ce
    read -r br _ <"$RES/boxlite_run$sfx"
    read -r bs _ <"$RES/crun_sec$sfx"
    read -r bn _ <"$RES/crun_nosec$sfx"
    read -r be _ <"$RES/boxlite_exec$sfx"
    read -r ce _ <"$RES/crun_exec$sfx"
    printf '| boxlite run ≤ ½ × crun run (seccomp)%s | %s ms vs ½ × %s = %s ms | %s |\n' "$lbl" \
        "$(ms "$br")" "$(ms "$bs")" "$(ms $((bs / 2)))" "$(met "$br <= $bs / 2")"
    printf '| boxlite run ≤ crun run (no seccomp)%s | %s ms vs %s ms | %s |\n' "$lbl" \
        "$(ms "$br")" "$(ms "$bn")" "$(met "$br <= $bn")"
    printf '| boxlite exec ≤ ¼ × crun exec%s | %s ms vs ¼ × %s = %s ms | %s |\n' "$lbl" \
        "$(ms "$be")" "$(ms "$ce")" "$(ms $((ce / 4)))" "$(met "$be <= $ce / 4")"
}

shim_pss_box=$(per_box "$shim_pss")
kern_box=$(per_box "(m1_slab - m0_slab) + (m1_kstack - m0_kstack) + (m1_pt - m0_pt) + (m1_pcpu - m0_pcpu)")
host_box=$((shim_pss_box + kern_box))

cat <<EOF
## Running a box: boxlite vs crun vs bubblewrap

- command: \`bench/run.sh\` (BENCH_RUNS=$RUNS BENCH_WARMUP=$WARMUP BENCH_BOXES=$BOXES), $(date -u '+%Y-%m-%d %H:%M UTC')
- machine: nproc=$(nproc), $cpu, $mem, kernel $(uname -r) ($(uname -m)); scratch fs: $fs
- tools: $v_crun; $v_bwrap; $v_boxlite (commit $commit); timing: $v_hyperfine
- load average before/after: $load0 / $load1
- rootfs: the busybox fixture's single unpacked layer; boxlite uses it as its overlay lower
  layer, crun and bwrap a \`cp -a\` copy of it in the same scratch directory
- crun bundle: \`crun spec\` with root = that copy (writable), args ["true"], terminal false,
  no rlimits, namespaces pid/mount/uts/ipc/network/cgroup (no user ns), docker's 14 default
  capabilities (what boxlite grants); crun's default masked/read-only paths, mounts and
  device cgroup rules kept. cgroups (crun): $(cat "$RES/crun-cgroups")
- seccomp for "crun run (seccomp)": $SECCOMP_DESC; $SECCOMP_NAMES syscalls allowed.
  Seccomp mode seen by the command (/proc/self/status): boxlite $(seccomp_of probe-boxlite),
  crun $(seccomp_of probe-crun-nosec) / $(seccomp_of probe-crun-sec) (without / with), bwrap $(seccomp_of probe-bwrap)

Wall-clock milliseconds per command: median, min and max of $RUNS runs after $WARMUP warm-up
runs, back to back ($timer).$spaced_note

$(thead command 'crun run (seccomp)')
$(row 'boxlite run --rm --network disabled busybox true' '' boxlite_run crun_sec)
$(row 'boxlite run --rm busybox true' ' (default network: slirp4netns)' boxlite_run_net crun_sec)
$(row 'crun run' ' (no seccomp)' crun_nosec crun_sec)
$(row 'crun run' ' (seccomp)' crun_sec crun_sec)
$(row 'bwrap --unshare-all --die-with-parent --bind ROOTFS / --proc /proc --dev /dev true' '' bwrap crun_sec)

Process start-up alone, for reference (dynamic loading; no box):

$(thead command 'crun --version' plain)
$(row 'boxlite --version' '' boxlite_version crun_version plain)
$(row 'crun --version' '' crun_version crun_version plain)

$(thead 'command (into a running box / container)' 'crun exec')
$(row 'boxlite exec BOX true' ' (box: boxlite run -d busybox sleep 100000)' boxlite_exec crun_exec)
$(row 'crun exec CTR true' ' (container: crun run -d, sleep 100000)' crun_exec crun_exec)

Host memory of $BOXES idle boxes (\`boxlite run -d busybox sleep 100000\`), per box
(KiB). Kernel: growth of Slab + KernelStack + PageTables + Percpu in /proc/meminfo
while the boxes were started, over the whole machine (other activity adds noise).

| what | total KiB | per box KiB |
| --- | ---: | ---: |
| boxlite-shim + exec zygote RSS (smaps_rollup) | $shim_rss | $(per_box "$shim_rss") |
| boxlite-shim + exec zygote PSS | $shim_pss | $shim_pss_box |
| box PID 1 (\`sleep\`) RSS, for reference | $pid1_rss | $(per_box "$pid1_rss") |
| box PID 1 (\`sleep\`) PSS, for reference | $pid1_pss | $(per_box "$pid1_pss") |
| kernel: Slab growth | $((m1_slab - m0_slab)) | $(per_box "m1_slab - m0_slab") |
| kernel: … of which unreclaimable | $((m1_sunr - m0_sunr)) | $(per_box "m1_sunr - m0_sunr") |
| kernel: KernelStack growth | $((m1_kstack - m0_kstack)) | $(per_box "m1_kstack - m0_kstack") |
| kernel: PageTables growth | $((m1_pt - m0_pt)) | $(per_box "m1_pt - m0_pt") |
| kernel: Percpu growth | $((m1_pcpu - m0_pcpu)) | $(per_box "m1_pcpu - m0_pcpu") |
| box memory cgroups (v1), memory.usage_in_bytes ($cg_n boxes) | $((cg_usage / 1024)) | $(kb_per_box "$cg_usage" "$BOXES") |
| box memory cgroups (v1), memory.kmem.usage_in_bytes | $((cg_kmem / 1024)) | $(kb_per_box "$cg_kmem" "$BOXES") |
| MemAvailable drop (everything, incl. PID 1 and page cache) | $((m0_avail - m1_avail)) | $(per_box "m0_avail - m1_avail") |
| **host memory per idle box: shim + zygote PSS + kernel growth** | $((shim_pss + (m1_slab - m0_slab) + (m1_kstack - m0_kstack) + (m1_pt - m0_pt) + (m1_pcpu - m0_pcpu))) | **$host_box** |

These boxes run with \`--network disabled\`. The default network adds one slirp4netns per box:
$slirp_n of them over $NET_BOXES networked boxes, RSS $slirp_rss KiB, PSS $slirp_pss KiB in all,
**$(kib "$slirp_pss" "$((slirp_n > 0 ? slirp_n : 1))") KiB PSS per networked box** on top of the above.

After removing the boxes, against before starting them (KiB): Slab $((m2_slab - m0_slab))
(unreclaimable $((m2_sunr - m0_sunr))), KernelStack $((m2_kstack - m0_kstack)), PageTables $((m2_pt - m0_pt)),
Percpu $((m2_pcpu - m0_pcpu)), MemAvailable $((m2_avail - m0_avail)).

| target | measured | result |
| --- | --- | --- |
$(target_rows '' '')
| < 1 MiB host memory per idle box | $host_box KiB | $(met "$host_box < 1024") |
$([[ $GAP == 0 ]] || target_rows .spaced ', spaced')
EOF
note "done; checking for leftovers ..."
