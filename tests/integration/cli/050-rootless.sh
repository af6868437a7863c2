#!/usr/bin/env bash
# Rootless (issue 7, first part): a user without root runs, execs, copies, logs, stops and
# removes boxes from their own home. The box is root of its own user namespace, whose only id
# is the user's (a single-id mapping): it can reach nothing the user cannot. Without delegated
# cgroups (this machine's v1 hierarchies are root's), explicit limits are a clear error; the
# network needs /dev/net/tun open to users (else loopback only, and asking for more is an error).
#
# The test runs as root only to create its unprivileged user (boxlite-rootless); every boxlite
# command runs as that user, through a copy of the binaries in the test's home.
. "$(dirname "$0")/../../lib/tap.sh"
[ "$(id -u)" -eq 0 ] || skip_all "needs root: it creates its own user (the whole suite runs as a user through tools/run-as-user)"
command -v setpriv >/dev/null || skip_all "setpriv (util-linux) is missing"
[ "$(cat /proc/sys/user/max_user_namespaces 2>/dev/null || echo 0)" -gt 0 ] ||
    skip_all "user namespaces are disabled (user.max_user_namespaces = 0)"

RL_USER=boxlite-rootless
if ! id "$RL_USER" >/dev/null 2>&1; then
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$RL_USER" ||
        skip_all "cannot create the test user $RL_USER (useradd)"
fi
RL_UID=$(id -u "$RL_USER")
RL_GID=$(id -g "$RL_USER")

# Per test: the user's home (its ~/.boxlite is the boxlite home), the binaries, the image.
setup() {
    chmod 755 "$T_HOME"
    U_HOME="$T_HOME/user"
    mkdir -p "$U_HOME/bin"
    cp "$BOXLITE_BIN" "$(dirname "$BOXLITE_BIN")/boxlite-shim" "$U_HOME/bin/"
    cp "$(fixture busybox oci)" "$U_HOME/busybox.oci.tar"
    chown -R "$RL_UID:$RL_GID" "$U_HOME"
    ub load -i "$U_HOME/busybox.oci.tar"; assert_rc 0
}

# ub ARGS...: boxlite as the unprivileged user, home ~/.boxlite; sets OUT, ERR, RC.
ub() {
    local o e
    o=$(mktemp) e=$(mktemp)
    chmod 666 "$o" "$e"
    setpriv --reuid "$RL_UID" --regid "$RL_GID" --clear-groups \
        env -i HOME="$U_HOME" PATH=/usr/bin:/bin "$U_HOME/bin/boxlite" "$@" \
        <"${BL_STDIN:-/dev/null}" >"$o" 2>"$e"
    RC=$?
    OUT=$(cat "$o") ERR=$(cat "$e")
    rm -f "$o" "$e"
}

# Nothing of the user's may be left running, and no box directory once the boxes are gone.
user_clean() {
    local left
    # (a zombie is a dead shim of a detached box that the machine's init has not reaped yet)
    left=$(ps -u "$RL_UID" -o pid=,stat=,args= 2>/dev/null | awk '$2 !~ /^Z/')
    [ -z "$left" ] || fail "processes of $RL_USER left: $left"
    pkill -9 -u "$RL_UID" 2>/dev/null
    left=$(ls -A "$U_HOME/.boxlite/boxes" 2>/dev/null)
    [ -z "$left" ] || fail "box directories left: $left"
}

t_run_exit_codes() {
    setup
    ub run --rm busybox sh -c 'id -u; cat /proc/self/uid_map; echo out; echo err >&2; exit 3'
    assert_rc 3
    assert_match "$OUT" "^0"$'\n'" +0 +$RL_UID +1"$'\n'"out$" "root of a one-id user namespace"
    assert_eq "$ERR" err
    ub run --rm busybox sh -c 'sleep 100 & kill -9 $!; wait $!'; assert_rc 137
    ub run --rm busybox /no/such; assert_rc 127; assert_contains "$ERR" "/no/such"
    ub run --rm busybox /etc; assert_rc 126
    [ -d "$U_HOME/.boxlite" ] && [ "$(stat -c %u "$U_HOME/.boxlite")" = "$RL_UID" ] ||
        fail "the home is not the user's"
    user_clean
}

t_lifecycle() {
    setup
    ub run -d --name d busybox sh -c 'echo started; exec sleep 1000'; assert_rc 0
    ub exec d sh -c 'echo in-box; ps -o pid,comm | grep -c sleep'
    assert_rc 0; assert_contains "$OUT" "in-box"
    ub exec d sh -c 'exit 7'; assert_rc 7
    ub exec -u nobody d id
    assert_rc 125; assert_contains "$ERR" "not mapped in the box"; assert_one_error_line
    echo data >"$T_HOME/in"; chmod 644 "$T_HOME/in"
    ub cp "$T_HOME/in" d:/f; assert_rc 0
    ub exec d cat /f; assert_eq "$OUT" data
    ub cp d:/f "$U_HOME/out"; assert_rc 0
    assert_eq "$(cat "$U_HOME/out")" data
    ub logs d; assert_contains "$OUT" started
    ub stats d; assert_rc 0; assert_contains "$OUT" "PIDs"
    ub stop -t 1 d; assert_rc 0
    ub inspect -f '{{.State.Status}}' d; assert_eq "$OUT" stopped
    # a stopped box's files, mounted in a user and mount namespace of the user's own (found by
    # hand: "cannot create a mount namespace: Operation not permitted" before)
    ub cp "$T_HOME/in" d:/g; assert_rc 0
    ub cp d:/g "$U_HOME/out2"; assert_rc 0
    assert_eq "$(cat "$U_HOME/out2")" data
    ub start d; assert_rc 0
    ub exec d cat /g; assert_eq "$OUT" data
    ub exec d echo again; assert_eq "$OUT" again
    ub rm d; assert_rc 1; assert_contains "$ERR" "Use force=true"
    ub rm -f d; assert_rc 0
    ub ls -aq; assert_eq "$OUT" ""
    user_clean
}

# A host file the user cannot read stays unreadable to the box's root; the user's own files
# are the box root's. The same box started by root reads it: the user namespace is what makes
# the difference (checked below, so the test can fail).
t_no_more_than_the_user() {
    setup
    mkdir -p "$T_HOME/vol"; echo secret >"$T_HOME/vol/root-only"; chmod 600 "$T_HOME/vol/root-only"
    echo mine >"$T_HOME/vol/mine"; chown "$RL_UID:$RL_GID" "$T_HOME/vol/mine"
    chmod 755 "$T_HOME/vol"
    ub run --rm -v "$T_HOME/vol:/v" busybox sh -c 'cat /v/mine; cat /v/root-only; echo x > /v/new'
    [ "$RC" -ne 0 ] || fail "the box read or wrote what the user cannot"
    assert_contains "$OUT" mine
    assert_not_contains "$OUT" secret
    [ ! -e "$T_HOME/vol/new" ] || fail "the box wrote into a directory the user cannot write"
    bl load -i "$U_HOME/busybox.oci.tar" >/dev/null
    bl run --rm --network disabled -v "$T_HOME/vol:/v" busybox cat /v/root-only
    assert_eq "$OUT" secret "the contrast: root's box reads it"
    # nor the host's root-owned files through its own root
    ub run --rm busybox sh -c 'cat /proc/1/root/etc/shadow 2>/dev/null || echo refused'
    assert_contains "$OUT" refused
    user_clean
}

t_limits_and_network() {
    setup
    ub run --rm --memory 64 busybox true
    assert_rc 125; assert_contains "$ERR" "no delegated cgroup"; assert_one_error_line
    if setpriv --reuid "$RL_UID" --regid "$RL_GID" --clear-groups sh -c '[ -r /dev/net/tun ] && [ -w /dev/net/tun ]'; then
        ub run --rm busybox ls /sys/class/net; assert_rc 0; assert_eq "$OUT" "lo"$'\n'"tap0"
        ub run --rm -p 8080 busybox true; assert_rc 0
    else # loopback only, silently by default (ports still work); asked for, an error
        ub run --rm busybox ls /sys/class/net; assert_rc 0; assert_eq "$OUT" lo; assert_eq "$ERR" ""
        ub run --rm -p 8080 busybox true; assert_rc 0; assert_eq "$ERR" ""
        ub run --rm --network enabled busybox true
        assert_rc 125; assert_contains "$ERR" "/dev/net/tun open to users"; assert_one_error_line
    fi
    ub ls -aq; assert_eq "$OUT" ""
    ub info; assert_rc 0
    assert_contains "$OUT" "idMapping: single id, uid $RL_UID and gid $RL_GID are the root of each box"
    user_clean
}

# A killed shim takes its box with it, without root too.
t_killed_shim() {
    setup
    ub run -d --name k busybox sleep 1000; assert_rc 0
    ub inspect -f '{{.Id}}' k
    local pid; pid=$(head -n1 "$U_HOME/.boxlite/boxes/$OUT/shim.pid")
    [ -n "$pid" ] || fail "no shim pid"
    kill -9 "$pid"
    wait_until 5 sh -c "! pgrep -u $RL_UID sleep >/dev/null" || fail "the box outlived its shim"
    ub ls -a; assert_contains "$OUT" Stopped
    ub rm -f k; assert_rc 0
    user_clean
}

run_tests t_run_exit_codes t_lifecycle t_no_more_than_the_user t_limits_and_network t_killed_shim
