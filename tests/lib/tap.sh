# shellcheck shell=bash
# Bash TAP library for integration tests that drive the real boxlite binary.
# Every test runs in a fresh home; its teardown fails the test if any boxes/*/shim.pid names a
# live process, or any mount or cgroup of the home is left behind.
#
#   . "$(dirname "$0")/../../lib/tap.sh"
#   t_load() { bl load -i "$(fixture busybox docker)"; assert_rc 0; }
#   run_tests t_load ...
set -u
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-release}
BOXLITE_BIN=${BOXLITE_BIN:-$TOP/build/$BUILD/boxlite}
FIXTURES=${BOXLITE_FIXTURES:-$TOP/build/fixtures}
T_NUM=0
T_FAILED=0
T_CUR_FAIL=0
OUT="" ERR="" RC=0

diag() { printf '# %s\n' "$*"; }
fail() { diag "FAIL: $*"; T_CUR_FAIL=1; }

# bl ARGS...: run boxlite in the test's home; sets OUT, ERR, RC. Stdin is /dev/null unless
# BL_STDIN names a file.
bl() {
    local o e
    o=$(mktemp) e=$(mktemp)
    "$BOXLITE_BIN" --home "$T_HOME" "$@" <"${BL_STDIN:-/dev/null}" >"$o" 2>"$e"
    RC=$?
    OUT=$(cat "$o") ERR=$(cat "$e")
    rm -f "$o" "$e"
}

assert_rc() { [ "$RC" -eq "$1" ] || fail "exit code $RC, expected $1 (stdout: ${OUT:0:300}) (stderr: ${ERR:0:300})"; }
assert_eq() { [ "$1" = "$2" ] || fail "${3:-value}: got '$1', expected '$2'"; }
assert_contains() { [[ $1 == *"$2"* ]] || fail "${3:-output} does not contain '$2': ${1:0:400}"; }
assert_not_contains() { [[ $1 != *"$2"* ]] || fail "${3:-output} contains '$2': ${1:0:400}"; }
assert_match() { [[ $1 =~ $2 ]] || fail "${3:-output} does not match /$2/: ${1:0:400}"; }
assert_one_error_line() {
    local n; n=$(printf '%s\n' "$ERR" | grep -c .)
    [ "$n" -eq 1 ] || fail "expected one stderr line, got $n: $ERR"
    [[ $ERR == Error:* ]] || [[ $ERR == error:* ]] || fail "stderr does not start with Error: $ERR"
}

skip_all() { echo "1..0 # SKIP $*"; exit 0; }
need_root() { [ "$(id -u)" -eq 0 ] || skip_all "needs root${1:+: $1}"; }
# The suite also runs as a plain user (tools/run-as-user), whose boxes have a user namespace
# with a subordinate id range ("range") or with one id ("single"). Per test:
#   needs_root "why" || return      skips the test (visibly) without root
#   needs_ids "why" || return       skips it when the box has only one id
ROOTLESS_IDS=host
[ "$(id -u)" -eq 0 ] || ROOTLESS_IDS=${BOXLITE_TEST_IDMAP:-single}
needs_root() { [ "$(id -u)" -eq 0 ] && return 0; T_SKIP="needs root: $1"; return 1; }
# Without root, a box's network needs /dev/net/tun open to users (slirp4netns opens it).
needs_net() {
    [ "$(id -u)" -eq 0 ] && return 0
    [ -r /dev/net/tun ] && [ -w /dev/net/tun ] && return 0
    T_SKIP="without root and with /dev/net/tun closed to users, a box has loopback only: $1"; return 1
}
# Without root, limits and cgroup statistics need a cgroup delegated to the user (the range run
# of tools/run-as-user has one): v1, our memory cgroup is ours; cgroup2, the parent of ours is.
has_cgroups() {
    [ "$(id -u)" -eq 0 ] && return 0
    local own
    if [ -e /sys/fs/cgroup/cgroup.controllers ]; then
        own=$(awk -F: '$1 == 0 {print $3}' /proc/self/cgroup)
        [ -n "${own%/*}" ] && [ -w "/sys/fs/cgroup${own%/*}" ]
    else
        own=$(awk -F: '$2 ~ /(^|,)memory(,|$)/ {print $3}' /proc/self/cgroup)
        [ -n "$own" ] && [ "$own" != / ] && [ -w "/sys/fs/cgroup/memory$own" ]
    fi
}
needs_cgroups() { has_cgroups && return 0; T_SKIP="no cgroup delegated to this user: $1"; return 1; }
needs_ids() { [ "$ROOTLESS_IDS" != single ] && return 0; T_SKIP="one-id box (no /etc/subuid range): $1"; return 1; }

# fixture NAME FORMAT: path of a locally built image (see tests/fixtures/mkimage.py).
fixture() {
    local name=$1 fmt=$2
    local path="$FIXTURES/$name.$fmt"
    [ "$fmt" = "oci-dir" ] && path="$FIXTURES/$name.oci-dir"
    [ "$fmt" = "docker" ] && path="$FIXTURES/$name.docker.tar"
    [ "$fmt" = "oci" ] && path="$FIXTURES/$name.oci.tar"
    if [ ! -e "$path" ]; then
        mkdir -p "$FIXTURES"
        (
            flock 9
            [ -e "$path" ] || python3 "$TOP/tests/fixtures/mkimage.py" --name "$name" --out "$FIXTURES" >&2
        ) 9>"$FIXTURES/.lock"
    fi
    echo "$path"
}

# Leak guard: nothing of the home may be alive or mounted after a test.
leak_check() {
    local home=$1 leaked=0 f pid
    for f in "$home"/boxes/*/shim.pid; do
        [ -e "$f" ] || continue
        pid=$(head -n1 "$f")
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
            diag "leak: live shim $pid ($f)"; leaked=1
            kill -9 "$pid" 2>/dev/null
        fi
    done
    if grep -q " $home" /proc/self/mountinfo; then
        diag "leak: mounts under $home:"; grep " $home" /proc/self/mountinfo | sed 's/^/#   /'
        leaked=1
    fi
    # network helpers of the home's boxes (their stderr is the box's net.log)
    for pid in $(pgrep -x slirp4netns 2>/dev/null); do
        if [[ $(readlink "/proc/$pid/fd/2" 2>/dev/null) == "$home/"* ]]; then
            diag "leak: slirp4netns $pid of $home"; leaked=1
            kill -9 "$pid" 2>/dev/null
        fi
    done
    local id
    if [ -d "$home/boxes" ]; then
        for d in "$home"/boxes/*/; do
            [ -d "$d" ] || continue
            id=$(basename "$d")
            if find /sys/fs/cgroup -maxdepth 5 -type d -name "boxlite-$id*" 2>/dev/null | grep -q .; then
                diag "leak: cgroup of box $id"; leaked=1
                # do not let one failure spill into the next tests or the machine
                find /sys/fs/cgroup -maxdepth 5 -type d -name "boxlite-$id*" -exec rmdir {} + 2>/dev/null
            fi
            if pgrep -f "boxlite-shim.*$id" >/dev/null 2>&1; then
                diag "leak: process naming box $id"; leaked=1
            fi
        done
    fi
    return $leaked
}

run_tests() {
    echo "1..$#"
    local t
    for t in "$@"; do
        T_NUM=$((T_NUM + 1))
        T_CUR_FAIL=0
        T_HOME=$(mktemp -d "${TMPDIR:-/tmp}/bl-it-XXXXXX")
        T_SKIP=""
        "$t"
        if ! leak_check "$T_HOME"; then T_CUR_FAIL=1; fi
        if [ -n "$T_SKIP" ]; then
            echo "ok $T_NUM - $t # SKIP $T_SKIP"
        elif [ "$T_CUR_FAIL" -eq 0 ]; then
            echo "ok $T_NUM - $t"
        else
            echo "not ok $T_NUM - $t"; T_FAILED=$((T_FAILED + 1))
        fi
        rm -rf "$T_HOME"
    done
    [ "$T_FAILED" -eq 0 ]
}

# wait_until SECONDS CMD...: poll CMD every 20 ms until it succeeds; fails after SECONDS.
wait_until() {
    local limit=$1; shift
    local end=$((SECONDS + limit))
    until "$@"; do
        [ "$SECONDS" -lt "$end" ] || return 1
        sleep 0.02
    done
}

# The pid in a box's shim.pid, if any.
shim_pid_of() { head -n1 "$T_HOME/boxes/$1/shim.pid" 2>/dev/null; }
no_live_shims() {
    local f pid
    for f in "$T_HOME"/boxes/*/shim.pid; do
        [ -e "$f" ] || continue
        pid=$(head -n1 "$f"); [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && return 1
    done
    return 0
}
# Whether any process still runs the shim of this test's home.
no_shim_processes() { ! pgrep -f "boxlite-shim $T_HOME/" >/dev/null; }
