#!/usr/bin/env bash
# cp: host -> box and box -> host (spec/cli.md §4.11), on running, stopped and never started
# boxes (a box that is not running is copied to and from without starting it); every file
# type, modes and times, byte-exact; and no symlink of the box can make a copy read or write
# outside the box (absolute links, symlinked parents, links followed with -L, a swap during
# the copy). Device nodes and sockets are never copied, either way: inside a tree they are left
# out, named as the source they are an error; FIFOs are recreated, never opened.
. "$(dirname "$0")/../../lib/tap.sh"

setup() { bl load -i "$(fixture busybox oci)" >/dev/null; assert_rc 0; }

# A tree with every file type, odd modes and times, hard links, every byte value.
make_tree() { # DIR
    local d=$1
    mkdir -p "$d/sub/deeper" "$d/empty"
    printf 'hello\n' >"$d/file"
    python3 -c 'import sys; sys.stdout.buffer.write(bytes(range(256)) * 4097)' >"$d/sub/bytes"
    : >"$d/sub/zero-length"
    ln "$d/file" "$d/sub/hardlink"
    ln -s file "$d/rel-link"
    ln -s /etc/passwd "$d/abs-link"
    ln -s nowhere "$d/dangling"
    mkfifo "$d/fifo"
    # device nodes need root (CAP_MKNOD): a user's tree has none
    if [ "$(id -u)" -eq 0 ]; then
        mknod "$d/char" c 1 3
        mknod "$d/block" b 7 123
    fi
    chmod 0640 "$d/file"; chmod 4755 "$d/sub/bytes"; chmod 0700 "$d/sub/deeper"
    chmod 1777 "$d/empty"; chmod 0555 "$d/sub"
    touch -h -d '2001-02-03 04:05:06.789' "$d/rel-link"
    touch -d '2001-02-03 04:05:06.789' "$d/file" "$d/sub/deeper" "$d/fifo"
    touch -d '1999-12-31 23:59:59' "$d/sub"
}

# "type mode size mtime target/major:minor" of every entry, sorted (no inode numbers).
describe() { # DIR
    (cd "$1" && find . -mindepth 1 -printf '%p %y %m %s %TY-%Tm-%Td_%TT %l\n' | sort |
        while read -r p y m s t l; do
            case $y in c|b) l=$(stat -c '%t:%T' "$p"); s=0 ;; d) s=0 ;; esac
            echo "$p $y $m $s $t $l"
        done)
}

# describe's lines without device nodes (cp leaves them out).
no_devices() { grep -v '^[^ ]* [bc] '; }

# The same, from inside the box (busybox find lacks -printf: stat does it).
describe_in_box() { # BOX DIR
    "$BOXLITE_BIN" --home "$T_HOME" exec "$1" sh -c "cd '$2' && find . -mindepth 1 | sort |
        while read -r p; do stat -c '%n %F %a %s %y %N %t:%T' \"\$p\"; done"
}

t_both_ways_running() {
    setup
    make_tree "$T_HOME/src"
    bl run -d --name r busybox sleep 1000; assert_rc 0
    bl cp "$T_HOME/src" r:/tmp/in; assert_rc 0; assert_eq "$OUT" ""
    # in the box: the directory with its own name (include-parent), types and modes
    bl exec r sh -c 'cd /tmp/in/src && stat -c "%n %F %a" file sub/bytes sub fifo char block rel-link 2>/dev/null | sort'
    # (the host's device nodes stay out of the box: t_special_files)
    assert_eq "$OUT" "fifo fifo 644
file regular file 640
rel-link symbolic link 777
sub directory 555
sub/bytes regular file 4755"
    bl exec r sh -c 'readlink /tmp/in/src/abs-link; md5sum < /tmp/in/src/sub/bytes; stat -c %h /tmp/in/src/file'
    assert_eq "$OUT" "/etc/passwd
$(md5sum <"$T_HOME/src/sub/bytes")
2"
    # and back out: identical to the original, but set-id bits are dropped on the way out
    bl cp r:/tmp/in/src "$T_HOME/back"; assert_rc 0
    assert_eq "$(describe "$T_HOME/back/src")" "$(describe "$T_HOME/src" | no_devices | sed 's/ 4755 / 755 /')"
    cmp "$T_HOME/src/sub/bytes" "$T_HOME/back/src/sub/bytes" || fail "not byte-exact"
    [ "$(stat -c %i "$T_HOME/back/src/file")" = "$(stat -c %i "$T_HOME/back/src/sub/hardlink")" ] ||
        fail "hard link not kept"
    bl rm -f r
}

t_both_ways_stopped() {
    setup
    make_tree "$T_HOME/src"
    # a finished job: copying must not run it again
    bl run --name job busybox sh -c 'echo ran >> /runs; echo data > /out'; assert_rc 0
    bl cp job:/out "$T_HOME/out"; assert_rc 0
    assert_eq "$(cat "$T_HOME/out")" data
    bl cp "$T_HOME/src" job:/copied; assert_rc 0
    bl cp job:/copied/src "$T_HOME/back"; assert_rc 0
    assert_eq "$(describe "$T_HOME/back/src")" "$(describe "$T_HOME/src" | no_devices | sed 's/ 4755 / 755 /')"
    bl cp job:/runs "$T_HOME/runs"; assert_eq "$(cat "$T_HOME/runs")" ran "the job ran once"
    bl inspect -f '{{.State.Status}}' job; assert_eq "$OUT" stopped
    # nothing is left mounted or running (the leak guard checks too)
    grep -q "$T_HOME" /proc/self/mountinfo && fail "a mount was left"
    # what was copied in is there when the box runs
    bl start job; assert_rc 0
    wait_until 10 sh -c "'$BOXLITE_BIN' --home '$T_HOME' inspect -f '{{.State.Status}}' job | grep -q stopped"
    bl run --rm --name never-started busybox true
    bl create --name fresh busybox; assert_rc 0
    bl cp "$T_HOME/src/file" fresh:/etc/new; assert_rc 0
    bl inspect -f '{{.State.Status}}' fresh; assert_eq "$OUT" configured
    bl run -d --name later busybox sleep 1000
    bl rm -f later job
    # volumes of a stopped box are copied through too
    mkdir "$T_HOME/vol"
    bl create --name withvol -v "$T_HOME/vol:/v" busybox; assert_rc 0
    bl cp "$T_HOME/src/file" withvol:/v/f; assert_rc 0
    assert_eq "$(cat "$T_HOME/vol/f")" hello
    bl rm -f fresh withvol
}

t_destination_rules() {
    setup
    bl run -d --name d busybox sleep 1000
    mkdir -p "$T_HOME/dir"; echo one >"$T_HOME/dir/a"; echo f >"$T_HOME/f"
    # a file: DST exactly (parents made), or inside an existing directory / DST/
    bl cp "$T_HOME/f" d:/x/y/renamed; assert_rc 0
    bl exec d cat /x/y/renamed; assert_eq "$OUT" f
    bl cp "$T_HOME/f" d:/x/; assert_rc 0
    bl exec d cat /x/f; assert_eq "$OUT" f
    bl cp "$T_HOME/f" d:/newdir/; assert_rc 0
    bl exec d cat /newdir/f; assert_eq "$OUT" f
    # a directory: inside an existing one; a new DST is made and receives it
    bl cp "$T_HOME/dir" d:/x; assert_rc 0
    bl exec d cat /x/dir/a; assert_eq "$OUT" one
    bl cp "$T_HOME/dir" d:/fresh; assert_rc 0
    bl exec d cat /fresh/dir/a; assert_eq "$OUT" one
    # "SRC/." copies what the directory holds
    bl cp "$T_HOME/dir/." d:/contents; assert_rc 0
    bl exec d cat /contents/a; assert_eq "$OUT" one
    # overwrite a file; not a directory with a file, nor a file with a directory
    echo two >"$T_HOME/dir/a"
    bl cp "$T_HOME/dir/a" d:/x/dir/a; assert_rc 0
    bl exec d cat /x/dir/a; assert_eq "$OUT" two
    bl cp "$T_HOME/f" d:/x/y/renamed/; assert_rc 1
    bl cp "$T_HOME/dir" d:/x/f; assert_rc 1; assert_contains "$ERR" "cannot overwrite non-directory"
    # out: the same rules on the host
    bl cp d:/x/f "$T_HOME/out/deep/f2"; assert_rc 0; assert_eq "$(cat "$T_HOME/out/deep/f2")" f
    bl cp d:/x/dir "$T_HOME/out"; assert_rc 0; assert_eq "$(cat "$T_HOME/out/dir/a")" two
    # --no-overwrite: an existing DST is an error
    bl cp --no-overwrite d:/x/f "$T_HOME/out/deep/f2"; assert_rc 1
    assert_eq "$ERR" "Error: destination $T_HOME/out/deep/f2 exists and overwrite=false"
    bl cp --no-overwrite "$T_HOME/f" d:/x/f; assert_rc 1
    assert_contains "$ERR" "exists and overwrite=false"
    bl cp --no-overwrite d:/x/f "$T_HOME/brand-new"; assert_rc 0
    bl rm -f d
}

t_errors() {
    setup
    bl create --name e busybox
    bl cp a b; assert_rc 1
    assert_eq "$ERR" "Error: at least one of SRC or DST must reference a box (format BOX:PATH)"
    bl cp e:/a e:/b; assert_rc 1
    assert_eq "$ERR" "Error: copy between boxes is not supported (both SRC and DST reference a box)"
    bl cp e: /tmp/x; assert_rc 1; assert_eq "$ERR" "Error: source path cannot be empty"
    bl cp /etc/hostname e:; assert_rc 1; assert_eq "$ERR" "Error: destination path cannot be empty"
    bl cp nosuch:/a /tmp/x; assert_rc 1; assert_eq "$ERR" "Error: box 'nosuch' not found"
    bl cp e:/no/such "$T_HOME/x"; assert_rc 1; assert_contains "$ERR" "No such file or directory"
    bl cp "$T_HOME/no/such" e:/x; assert_rc 1; assert_contains "$ERR" "No such file or directory"
    bl cp e:/a; assert_rc 2
    # a host path with ':' is a host path when it starts with / or .
    echo c >"$T_HOME/a:b"
    bl cp "$T_HOME/a:b" e:/colon; assert_rc 0
    bl cp e:/colon "./$(basename "$T_HOME")-colon-out"; assert_rc 0
    assert_eq "$(cat "./$(basename "$T_HOME")-colon-out")" c
    rm -f "./$(basename "$T_HOME")-colon-out"
    bl rm e
}

# ---- symlink attacks: each one checked by replacing the RESOLVE_IN_ROOT lookups of
# src/lib/box-cp.c with plain opens, which then wrote to (or read from) the host. ----

t_attack_absolute_links_in_destination() {
    setup
    local victim="$T_HOME/victim"
    mkdir -p "$victim"; echo secret >"$victim/secret"
    bl run -d --name a busybox sleep 1000
    # links in the box naming host paths, as paths and as parents of the destination
    bl exec a sh -c "ln -s '$victim' /evil-dir; ln -s '$victim/secret' /evil-file; ln -s / /root-link"
    echo pwned >"$T_HOME/payload"
    # the host path does not exist in the box: the parent is a dangling link there, an error
    bl cp "$T_HOME/payload" a:/evil-dir/planted; assert_rc 1
    # a link as the destination file itself is replaced, not written through
    bl cp "$T_HOME/payload" a:/evil-file; assert_rc 0
    bl exec a sh -c '[ -L /evil-file ] || cat /evil-file'; assert_eq "$OUT" pwned
    # once the path exists in the box, everything lands there
    bl exec a mkdir -p "$victim"
    bl cp "$T_HOME/payload" a:/evil-dir/planted; assert_rc 0
    bl cp "$T_HOME/payload" "a:/root-link/$victim/via-root"; assert_rc 0
    bl cp "$T_HOME/payload" "a:/../../../$victim/dotdot"; assert_rc 0
    bl cp "$T_HOME/payload" "a:/proc/self/root/$victim/magic"
    assert_eq "$(ls "$victim")" secret "host directory"
    assert_eq "$(cat "$victim/secret")" secret "host file"
    bl exec a sh -c "cat '$victim/planted' '$victim/via-root' '$victim/dotdot'"
    assert_eq "$OUT" $'pwned\npwned\npwned'
    bl rm -f a
}

t_attack_links_in_source() {
    setup
    local victim="$T_HOME/victim"
    mkdir -p "$victim"; echo secret >"$victim/secret"
    bl run -d --name s busybox sleep 1000
    bl exec s sh -c "mkdir /d; ln -s '$victim/secret' /d/abs; ln -s ../../../../$victim/secret /d/rel; ln -s '$victim' /dirlink"
    # links are copied as links
    bl cp s:/d "$T_HOME/out"; assert_rc 0
    assert_eq "$(readlink "$T_HOME/out/d/abs")" "$victim/secret"
    # followed (-L), they resolve inside the box, where there is no such file: copied as the
    # dangling links they are there, never with the host's content
    bl cp -L s:/d "$T_HOME/out-L"; assert_rc 0
    grep -rq secret "$T_HOME/out-L" && fail "host content copied out of a box link"
    [ -L "$T_HOME/out-L/d/abs" ] || fail "dangling link not kept as a link"
    bl cp s:/dirlink/secret "$T_HOME/x"; assert_rc 1
    bl cp -L s:/dirlink "$T_HOME/x"; assert_rc 1
    [ ! -e "$T_HOME/x" ] || fail "copied out through a link to the host"
    # a link to something in the box is followed with -L
    bl exec s sh -c 'echo inbox > /target; ln -s /target /d/good'
    bl cp -L s:/d/good "$T_HOME/good"; assert_rc 0
    assert_eq "$(cat "$T_HOME/good")" inbox
    # a loop through links ends with an error, not forever
    bl exec s sh -c 'mkdir -p /loop/a; ln -s /loop /loop/a/back'
    bl cp -L s:/loop "$T_HOME/loop"; assert_rc 1; assert_contains "$ERR" "symlink loop"
    bl cp s:/loop "$T_HOME/loop-links"; assert_rc 0
    assert_eq "$(readlink "$T_HOME/loop-links/loop/a/back")" /loop
    bl rm -f s
}

t_attack_swap_during_copy() {
    setup
    local victim="$T_HOME/victim"
    mkdir -p "$victim"
    echo secret >"$victim/secret"
    mkdir -p "$T_HOME/big/d"
    local i
    for i in $(seq 1 200); do echo "$i" >"$T_HOME/big/d/f$i"; done
    bl run -d --name w busybox sh -c "mkdir -p /t/d; while true; do
        mv /t/d /t/real 2>/dev/null; ln -s '$victim' /t/d 2>/dev/null; rm -f /t/d; mv /t/real /t/d 2>/dev/null;
        mv /t/out /t/outreal 2>/dev/null; ln -s '$victim' /t/out 2>/dev/null; rm -f /t/out; mv /t/outreal /t/out 2>/dev/null
    done"
    bl exec w sh -c 'mkdir -p /t/out; for i in $(seq 1 200); do echo $i > /t/out/f$i; done; ln -s /etc /t/out/zz'
    for i in 1 2 3 4 5 6 7 8 9 10; do
        "$BOXLITE_BIN" --home "$T_HOME" cp "$T_HOME/big/d" w:/t/d/ >/dev/null 2>&1
        "$BOXLITE_BIN" --home "$T_HOME" cp w:/t/out "$T_HOME/copied-$i" >/dev/null 2>&1
    done
    assert_eq "$(ls "$victim")" secret "the host directory"
    # (a link caught in place is copied out as the link it is: only files matter)
    [ -z "$(find "$T_HOME"/copied-* -type f -exec grep -l secret {} + 2>/dev/null)" ] ||
        fail "host content copied out"
    bl rm -f w
}

# Device nodes: a box's root makes one world-writable (c 136 N is a host terminal, allowed in a
# box for its own ptys) and a copy out must not plant it on the host, where any user could then
# open what the host's own /dev refuses them; nor may a host device reach the box. Sockets are not files to copy. FIFOs are
# recreated, never opened (a copy would hang on one). Checked against the code before the
# policy: the nodes were planted both ways with the box's mode.
t_special_files() {
    setup
    bl run -d --name sp busybox sleep 1000; assert_rc 0
    local devs_in_box=0
    if [ "$(id -u)" -eq 0 ]; then
        bl exec sp sh -c 'mkdir /d && mknod /d/pty c 136 0 && mknod /d/null c 1 3 && chmod 0666 /d/pty /d/null'
        assert_rc 0; devs_in_box=1
    else
        bl exec sp mkdir /d
    fi
    bl exec sp sh -c 'mkfifo /d/fifo && echo data > /d/file'; assert_rc 0
    # out, a tree: the file and the FIFO arrive, no device node does
    timeout 30 "$BOXLITE_BIN" --home "$T_HOME" cp sp:/d "$T_HOME/out" || fail "cp of a tree out: $?"
    [ -z "$(find "$T_HOME/out" -type b -o -type c)" ] || fail "device nodes planted on the host: $(ls -l "$T_HOME/out/d")"
    [ -p "$T_HOME/out/d/fifo" ] || fail "FIFO not recreated"
    assert_eq "$(cat "$T_HOME/out/d/file")" data
    if [ "$devs_in_box" = 1 ]; then
        # out, the node itself: an error, nothing made
        bl cp sp:/d/pty "$T_HOME/pty"; assert_rc 1; assert_one_error_line
        assert_eq "$ERR" "Error: cannot copy box path '/d/pty': a device node (device nodes are not copied)"
        [ ! -e "$T_HOME/pty" ] && [ ! -L "$T_HOME/pty" ] || fail "device node planted on the host"
        bl cp sp:/d/null "$T_HOME/null"; assert_rc 1
        [ ! -e "$T_HOME/null" ] || fail "device node planted on the host"
    fi
    # in: a host FIFO is recreated, not read (a read would wait for a writer forever)
    mkfifo "$T_HOME/pipe"
    timeout 30 "$BOXLITE_BIN" --home "$T_HOME" cp "$T_HOME/pipe" sp:/pipe; assert_eq "$?" 0 "cp of a FIFO in"
    bl exec sp stat -c %F /pipe; assert_eq "$OUT" fifo
    # in: a host device is not read endlessly, nor created in the box
    local rc
    timeout 30 "$BOXLITE_BIN" --home "$T_HOME" cp /dev/zero sp:/zero 2>"$T_HOME/err"; rc=$?
    [ "$rc" -ne 124 ] || fail "cp /dev/zero into a box did not end"
    assert_eq "$rc" 1 "cp /dev/zero"
    assert_eq "$(cat "$T_HOME/err")" "Error: cannot copy '/dev/zero': a device node (device nodes are not copied)"
    bl exec sp sh -c '[ -e /zero ] && ls -l /zero'; assert_eq "$OUT" "" "/dev/zero in the box"
    bl cp /dev/null sp:/null; assert_rc 1
    bl exec sp sh -c '[ -e /null ] && ls -l /null'; assert_eq "$OUT" "" "/dev/null in the box"
    # in: device nodes and sockets inside a tree are left out, the rest arrives
    mkdir "$T_HOME/tree"; echo f >"$T_HOME/tree/file"; mkfifo "$T_HOME/tree/fifo"
    python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$T_HOME/tree/sock"
    [ "$(id -u)" -eq 0 ] && mknod "$T_HOME/tree/mem" c 1 1 && chmod 0666 "$T_HOME/tree/mem"
    timeout 30 "$BOXLITE_BIN" --home "$T_HOME" cp "$T_HOME/tree" sp:/tree; assert_eq "$?" 0 "cp of a tree in"
    bl exec sp sh -c 'cd /tree/tree && for f in *; do stat -c "%n %F" "$f"; done'
    assert_eq "$OUT" "fifo fifo
file regular file"
    # a socket named as the source is an error too
    bl cp "$T_HOME/tree/sock" sp:/sock; assert_rc 1
    assert_eq "$ERR" "Error: cannot copy '$T_HOME/tree/sock': a socket (sockets are not copied)"
    bl rm -f sp
}

run_tests t_both_ways_running t_both_ways_stopped t_destination_rules t_errors \
    t_attack_absolute_links_in_destination t_attack_links_in_source t_attack_swap_during_copy \
    t_special_files
