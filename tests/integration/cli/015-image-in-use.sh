#!/usr/bin/env bash
# rmi refuses an image a box uses unless -f; with -f the box keeps its layers and still runs.
. "$(dirname "$0")/../../lib/tap.sh"

t_rmi_refuses_image_in_use() {
    bl load -i "$(fixture busybox oci)"; assert_rc 0
    bl create --name user busybox echo still here; assert_rc 0
    bl rmi busybox
    assert_rc 1; assert_one_error_line
    assert_contains "$ERR" "in use by box"
    bl images -q; [ -n "$OUT" ] || fail "image removed despite the refusal"
    bl rmi -f busybox; assert_rc 0
    bl images -q; assert_eq "$OUT" ""
    [ -n "$(ls "$T_HOME/images/layers")" ] || fail "the box's layers were freed"
    bl start user; assert_rc 0
    wait_until 10 sh -c "'$BOXLITE_BIN' --home '$T_HOME' inspect -f '{{.State.Status}}' user | grep -q stopped" || fail "box did not run"
    assert_contains "$(cat "$T_HOME"/boxes/*/logs/console.log)" "still here"
    bl rm user; assert_rc 0
    # the last user gone, a later rmi/gc may free the layers; loading again reuses nothing stale
    bl load -i "$(fixture busybox oci)"; assert_rc 0
    bl run --rm busybox true; assert_rc 0
}

run_tests t_rmi_refuses_image_in_use
