#!/usr/bin/env bash
# The ids of a box without root (issue 7), run by tools/run-as-user in both of its modes:
#  range:  /etc/subuid and /etc/subgid grant the user 65536 ids; the box's 0 is the user and
#          1..65536 are those ids, so image files keep their owners and `-u 1000` works, and
#          whatever those ids leave behind is still removed by `rm`, `rmi` and the store;
#  single: the user is the box's 0 and its only id; image files of other owners become root's.
. "$(dirname "$0")/../../lib/tap.sh"
[ "$(id -u)" -ne 0 ] || skip_all "runs as a plain user (tools/run-as-user single|range)"

setup() { bl load -i "$(fixture busybox oci)"; assert_rc 0; }

t_map_and_owners() {
    setup
    bl info; assert_rc 0
    local info=$OUT
    bl run --rm busybox sh -c 'cat /proc/self/uid_map | wc -l; stat -c %u:%g /home/user'
    assert_rc 0
    if [ "$ROOTLESS_IDS" = range ]; then
        assert_contains "$info" "idMapping: subordinate range"
        assert_eq "$OUT" "2"$'\n'"1000:1000" "two map lines; /home/user keeps its owner"
    else
        assert_contains "$info" "idMapping: single id"
        assert_eq "$OUT" "1"$'\n'"0:0" "one map line; /home/user becomes root's"
    fi
}

t_other_user_in_box() {
    setup
    bl run --rm -u 1000 busybox sh -c 'id -u; touch /tmp/f; stat -c %u /tmp/f'
    if [ "$ROOTLESS_IDS" = range ]; then
        assert_rc 0; assert_eq "$OUT" "1000"$'\n'"1000"
    else
        assert_rc 125; assert_contains "$ERR" "not mapped in the box"; assert_one_error_line
    fi
}

# Files of the box's other ids, in a directory only they may enter, still go with the box.
t_rm_removes_files_of_other_ids() {
    needs_ids "the box has no other id" || return
    setup
    bl run --name k -u 1000 busybox sh -c 'mkdir -p /tmp/d/e; echo x >/tmp/d/e/f; chmod 700 /tmp/d'
    assert_rc 0
    local id; id=$(ls "$T_HOME/boxes")
    [ -n "$id" ] || { fail "no box directory"; return; }
    rm -rf "$T_HOME/boxes/$id" 2>/dev/null && fail "the user alone could remove the box's files"
    bl rm k; assert_rc 0
    [ -z "$(ls -A "$T_HOME/boxes")" ] || fail "box directory left: $(ls -A "$T_HOME/boxes")"
}

# A layer owned by the box's other ids is removed with its image.
t_rmi_removes_layers_of_other_ids() {
    needs_ids "layers are the user's alone" || return
    setup
    bl load -i "$(fixture multi oci)"; assert_rc 0
    find "$T_HOME/images/layers" -mindepth 2 ! -user "$(id -u)" | grep -q . ||
        fail "no layer file of another id (owners not applied?)"
    bl rmi multi:1.0 busybox; assert_rc 0
    [ -z "$(find "$T_HOME/images/layers" -mindepth 1)" ] || fail "layers left"
}

# cp acts as the box's root, in the box's user namespace: directories and files of the box's
# other ids are within reach, stopped (mounted by the shim) or running.
t_cp_files_of_other_ids() {
    needs_ids "the box has no other id" || return
    setup
    bl create --name c busybox; assert_rc 0
    echo hello >"$T_HOME/in"
    bl cp "$T_HOME/in" c:/home/user/in; assert_rc 0
    bl cp c:/home/user/in "$T_HOME/out"; assert_rc 0
    assert_eq "$(cat "$T_HOME/out")" hello
    bl run -d --name r -u 1000 busybox sh -c 'umask 077; mkdir /tmp/p; echo secret >/tmp/p/s; exec sleep 1000'
    assert_rc 0
    wait_until 5 "$BOXLITE_BIN" --home "$T_HOME" exec r test -e /tmp/p/s || fail "no file"
    bl cp r:/tmp/p "$T_HOME/p"; assert_rc 0
    assert_eq "$(cat "$T_HOME/p/p/s")" secret "(a directory goes inside the destination, as BoxLite does)"
    bl cp "$T_HOME/in" r:/tmp/p/in; assert_rc 0
    bl exec r sh -c 'cat /tmp/p/in; stat -c %u /tmp/p/in'
    assert_eq "$OUT" "hello"$'\n'"0" "copied in as the box's root"
    bl rm -f c r; assert_rc 0
}

run_tests t_map_and_owners t_other_user_in_box t_rm_removes_files_of_other_ids \
    t_rmi_removes_layers_of_other_ids t_cp_files_of_other_ids
