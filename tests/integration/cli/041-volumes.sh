#!/usr/bin/env bash
# Volumes: -v HOST:BOX[:OPTS] binds and anonymous -v /BOX[:ro|rw] volumes, parsed with the
# VolumeFlags rules and messages of spec/cli.md §4.1; read-only is really read-only; a missing
# host path is a clear error; anonymous volumes live under the home and go with their box. An
# option we do not know or do not do is an error (never a silent read-write mount), and so are
# box paths that are "/", hold "..", or lie in /proc.
. "$(dirname "$0")/../../lib/tap.sh"

setup() { bl load -i "$(fixture busybox oci)" >/dev/null; assert_rc 0; }

t_bind_rw() {
    setup
    local h="$T_HOME/host"
    mkdir -p "$h/sub"; echo from-host >"$h/sub/f"
    bl run --rm -v "$h:/data" busybox sh -c 'cat /data/sub/f; echo from-box > /data/new'
    assert_rc 0; assert_eq "$OUT" from-host
    assert_eq "$(cat "$h/new")" from-box "written through the bind"
    # options: a comma list of docker's words (z: nothing to relabel, see t_options)
    bl run --rm -v "$h:/data:rw,z" busybox cat /data/new; assert_eq "$OUT" from-box
    # a single file
    bl run --rm -v "$h/sub/f:/etc/motd" busybox cat /etc/motd; assert_eq "$OUT" from-host
    # a relative host path is taken from the current directory
    (cd "$T_HOME" && bl run --rm -v host/sub:/s busybox cat /s/f); assert_eq "$OUT" from-host
    # nested targets: the outer one first, whatever the order given
    mkdir -p "$T_HOME/inner"; echo inner >"$T_HOME/inner/i"
    bl run --rm -v "$T_HOME/inner:/data/sub/in" -v "$h:/data" busybox cat /data/sub/in/i
    assert_eq "$OUT" inner
    bl create --name m -v "$h:/data:ro" -v /anon busybox; assert_rc 0
    bl inspect -f '{{json .Mounts}}' m
    assert_contains "$OUT" "\"Destination\":\"/data\""
    assert_contains "$OUT" "\"RW\":false"
    assert_contains "$OUT" "\"Type\":\"volume\""
    bl rm m; assert_rc 0
}

# Checked by mounting without the read-only attribute: the write then succeeds.
t_read_only_is_read_only() {
    setup
    local h="$T_HOME/host"
    mkdir -p "$h/d"; echo keep >"$h/d/f"
    bl run --rm -v "$h:/ro:ro" busybox sh -c 'echo x > /ro/d/f'
    [ "$RC" -ne 0 ] || fail "write to a read-only volume succeeded"
    assert_contains "$ERR" "Read-only file system"
    bl run --rm -v "$h:/ro:ro" busybox sh -c 'rm /ro/d/f; mkdir /ro/x; touch /ro/d/g'
    [ "$RC" -ne 0 ] || fail "changes to a read-only volume succeeded"
    # the box's root cannot make it writable again (no CAP_SYS_ADMIN)
    bl run --rm -v "$h:/ro:ro" busybox sh -c 'mount -o remount,rw /ro && echo x > /ro/d/f'
    [ "$RC" -ne 0 ] || fail "remounted read-write"
    assert_eq "$(cat "$h/d/f")" keep "the host file"
    [ ! -e "$h/x" ] && [ ! -e "$h/d/g" ] || fail "files appeared on the host"
    # read-only covers mounts below the host path too (recursive)
    mkdir -p "$h/sub" "$T_HOME/other"
    mount --bind "$T_HOME/other" "$h/sub"
    bl run --rm -v "$h:/ro:ro" busybox sh -c 'touch /ro/sub/f'
    [ "$RC" -ne 0 ] || fail "a submount of a read-only volume is writable"
    umount "$h/sub"
    # anonymous read-only: empty and read-only
    bl run --rm -v /anon:ro busybox sh -c 'ls -A /anon | wc -l; touch /anon/f'
    [ "$RC" -ne 0 ] || fail "anonymous :ro volume writable"
    assert_eq "$OUT" 0
}

t_anonymous_volumes() {
    setup
    bl run -d --name a -v /cache busybox sleep 1000; assert_rc 0
    local d
    d=$(find "$T_HOME/volumes/anonymous" -mindepth 1 -maxdepth 1)
    [ -d "$d" ] || fail "no anonymous volume directory"
    assert_match "$(basename "$d")" '^[0-9A-HJKMNP-TV-Z]{26}$' "ULID"
    bl exec a sh -c 'echo kept > /cache/f'
    assert_eq "$(cat "$d/f")" kept
    # it persists across stop and start
    bl stop -t 0 a; bl start a; assert_rc 0
    bl exec a cat /cache/f; assert_eq "$OUT" kept
    # and goes with the box
    bl rm -f a; assert_rc 0
    [ ! -e "$d" ] || fail "anonymous volume left after rm"
    # a --rm box's volumes go when it does
    bl run --rm -v /tmpvol busybox true; assert_rc 0
    [ -z "$(ls -A "$T_HOME/volumes/anonymous")" ] || fail "--rm left a volume"
}

t_missing_host_path() {
    setup
    bl run --rm -v "$T_HOME/nope:/x" busybox true; assert_rc 125
    assert_eq "$ERR" "Error: volume host path \"$T_HOME/nope\": No such file or directory"
    bl create -v "$T_HOME/nope:/x" busybox; assert_rc 1
    assert_one_error_line
    bl ls -a -q; assert_eq "$OUT" "" "no box left behind"
    # removed after create: the start says which path
    mkdir "$T_HOME/gone"
    bl create --name g -v "$T_HOME/gone:/x" busybox; assert_rc 0
    rmdir "$T_HOME/gone"
    bl start g; assert_rc 1
    assert_contains "$ERR" "volume host path \"$T_HOME/gone\": No such file or directory"
    bl rm g; assert_rc 0
}

t_parse_errors() {
    setup
    local spec msg
    while IFS='|' read -r spec msg; do
        bl create -v "$spec" busybox
        assert_rc 1
        assert_eq "$ERR" "Error: $msg" "-v '$spec'"
    done <<'EOF'
|empty volume spec
   |empty volume spec
data|anonymous volume box path must be absolute (e.g. /data), got "data"
data:ro|anonymous volume box path must be absolute (e.g. /data), got "data"
:/app|volume host path must be non-empty
/data:|volume box path must be non-empty
/a:b:c:d|invalid volume spec "/a:b:c:d"; use hostPath:boxPath[:options] or boxPath[:ro|rw]
/tmp:rel|volume box path must be absolute (e.g. /data), got "rel"
/tmp:/|volume box path must not be "/"
C:\data:/app/data:ro|volume host path "C:\data": No such file or directory
D:\path:/mnt:rw|volume host path "D:\path": No such file or directory
EOF
    bl run -v "" busybox true; assert_rc 125; assert_eq "$ERR" "Error: empty volume spec"
    bl run -v; assert_rc 2
    bl ls -a -q; assert_eq "$OUT" ""
    [ -z "$(ls -A "$T_HOME/volumes/anonymous" 2>/dev/null)" ] || fail "a failed create left a volume"
    # the accepted forms
    bl create -v /data -v /data2:ro -v /data3:rw -v "$T_HOME:/h" -v " $T_HOME : /h2 : ro " busybox
    assert_rc 0
    bl inspect -f '{{json .Mounts}}' "$OUT"
    assert_contains "$OUT" "\"Destination\":\"/h2\",\"RW\":false"
    bl rm -a -f >/dev/null
}

# Checked against the parser before this rule: RO, readonly and ro2 mounted read-write, and
# the box wrote to the host through them.
t_options() {
    setup
    local h="$T_HOME/host" spec opt
    mkdir -p "$h"; echo keep >"$h/f"
    local valid="valid options: ro, rw, z, Z, private, rprivate, nocopy, consistent, cached, delegated"
    for opt in RO readonly ro2 Ro 'ro,' 'ro,bind' nodev; do
        spec="$h:/data:$opt"
        bl run --rm -v "$spec" busybox sh -c 'echo x > /data/f'; assert_rc 125; assert_one_error_line
        assert_eq "$ERR" "Error: invalid volume option \"${opt#ro,}\" in \"$spec\"; $valid" "-v ...:$opt"
        bl create -v "$spec" busybox; assert_rc 1; assert_one_error_line
    done
    assert_eq "$(cat "$h/f")" keep "the host file"
    bl run --rm -v "$h:/data:ro,rw" busybox true; assert_rc 125
    assert_eq "$ERR" "Error: conflicting volume options \"ro\" and \"rw\" in \"$h:/data:ro,rw\""
    for opt in shared rshared slave rslave; do
        bl run --rm -v "$h:/data:$opt" busybox true; assert_rc 125; assert_one_error_line
        assert_eq "$ERR" "Error: unsupported: volume option \"$opt\" in \"$h:/data:$opt\": volumes are private mounts (no mount propagation)"
    done
    bl create -v "$h:/data:nocopy" busybox; assert_rc 1
    assert_eq "$ERR" "Error: volume option \"nocopy\" in \"$h:/data:nocopy\" is for anonymous volumes only"
    bl ls -a -q; assert_eq "$OUT" "" "no box left behind"
    [ -z "$(ls -A "$T_HOME/volumes/anonymous" 2>/dev/null)" ] || fail "a refused spec left a volume"
    # the accepted ones, and ro still means read-only next to others
    bl run --rm -v "$h:/data:Z,rprivate,cached,ro" -v /anon:nocopy,rw busybox sh -c 'touch /anon/ok && echo x > /data/f'
    [ "$RC" -ne 0 ] || fail "ro with other options was writable"
    assert_contains "$ERR" "Read-only file system"
    assert_eq "$(cat "$h/f")" keep "the host file"
    bl run --rm -v "$h:/data:private,delegated" busybox cat /data/f; assert_rc 0; assert_eq "$OUT" keep
}

# Box paths: "/" (however written), any "..", and /proc are refused before anything is made;
# a tidy path is stored. Checked against the parser before this rule: "/tmp:/./" and the
# /proc and ".." forms were accepted.
t_box_paths() {
    setup
    local h="$T_HOME/host" spec msg
    mkdir -p "$h"
    while IFS='|' read -r spec msg; do
        bl run --rm -v "$h:$spec" busybox true; assert_rc 125; assert_one_error_line
        assert_eq "$ERR" "Error: $msg" "-v HOST:$spec"
    done <<'EOF'
/.|volume box path must not be "/"
//./|volume box path must not be "/"
/a/../b|volume box path "/a/../b" must not contain ".."
/..|volume box path "/.." must not contain ".."
/proc|volume box path "/proc" is in /proc, which cannot be mounted over
/proc/sys/kernel|volume box path "/proc/sys/kernel" is in /proc, which cannot be mounted over
//proc/|volume box path "//proc/" is in /proc, which cannot be mounted over
rel/x|volume box path must be absolute (e.g. /data), got "rel/x"
EOF
    bl run --rm -v /proc/x busybox true; assert_rc 125
    assert_eq "$ERR" "Error: volume box path \"/proc/x\" is in /proc, which cannot be mounted over"
    bl ls -a -q; assert_eq "$OUT" ""
    echo in >"$h/f"
    bl create --name t -v "$h:/a//./b/" busybox; assert_rc 0
    bl inspect -f '{{json .Mounts}}' t; assert_contains "$OUT" '"Destination":"/a/b"'
    bl rm t
}

run_tests t_bind_rw t_read_only_is_read_only t_anonymous_volumes t_missing_host_path t_parse_errors \
    t_options t_box_paths
