#!/usr/bin/env bash
# Images from files: load (docker-archive, oci-archive, OCI layout, stdin), images, rmi,
# image inspect, and the store staying exactly as it was after a bad archive.
. "$(dirname "$0")/../../lib/tap.sh"

# Everything in the home that is image data: blobs, layers, staging.
store_files() { find "$T_HOME/images" "$T_HOME/tmp" -mindepth 1 | sort; }
assert_store_empty() {
    local left; left=$(find "$T_HOME/images/blobs/sha256" "$T_HOME/images/layers" "$T_HOME/tmp" -mindepth 1 | head -5)
    [ -z "$left" ] || fail "store not empty: $left"
}

t_load_docker_archive() {
    bl load -i "$(fixture busybox docker)"
    assert_rc 0
    assert_eq "$OUT" "Loaded image: docker.io/library/busybox:latest"
    bl images
    assert_rc 0
    assert_match "$OUT" "│ library/busybox │ latest │ [0-9a-f]{12} │ [0-9-]{10} [0-9:]{8} UTC │"
    [ -x "$(ls -d "$T_HOME"/images/layers/*)/bin/busybox" ] || fail "busybox not unpacked"
}

t_load_oci_archive() {
    bl load -i "$(fixture busybox oci)"
    assert_rc 0
    assert_eq "$OUT" "Loaded image: docker.io/library/busybox:latest"
    bl images -q
    assert_match "$OUT" '^sha256:[0-9a-f]{64}$'
}

t_load_oci_layout_dir() {
    bl load -i "$(fixture multi oci-dir)"
    assert_rc 0
    assert_eq "$OUT" "Loaded image: docker.io/library/multi:1.0"
    [ "$(ls "$T_HOME/images/layers" | wc -l)" -eq 3 ] || fail "expected 3 layers"
}

t_load_stdin() {
    BL_STDIN=$(fixture busybox docker) bl load
    assert_rc 0
    assert_eq "$OUT" "Loaded image: docker.io/library/busybox:latest"
    BL_STDIN=$(fixture multi oci) bl load -i -
    assert_rc 0
    assert_eq "$OUT" "Loaded image: docker.io/library/multi:1.0"
}

t_load_gzipped_archive() {
    local gz="$T_HOME/busybox.tar.gz"
    gzip -c "$(fixture busybox docker)" >"$gz"
    bl load -i "$gz"
    assert_rc 0
    assert_eq "$OUT" "Loaded image: docker.io/library/busybox:latest"
}

# Whiteouts become overlay whiteouts; zstd, gzip and plain layers all unpack.
t_whiteouts_and_compression() {
    bl load -i "$(fixture multi oci)"
    assert_rc 0
    local wh opq
    wh=$(find "$T_HOME/images/layers" -path '*/etc/motd' -type c)
    [ -n "$wh" ] || fail "no whiteout device for /etc/motd"
    [ "$(stat -c '%t:%T' "$wh")" = "0:0" ] || fail "whiteout is not 0:0"
    # root writes trusted.overlay.*; without root only user.overlay.* can be (mounted "userxattr")
    local ns=trusted
    [ "$(id -u)" -eq 0 ] || ns=user
    opq=$(python3 -c 'import os,sys,glob
for d in glob.glob(sys.argv[1]+"/images/layers/*/opt/app"):
    try: print(os.getxattr(d,sys.argv[2]+".overlay.opaque").decode())
    except OSError: pass' "$T_HOME" "$ns")
    assert_contains "$opq" "y" "opaque xattr ($ns.overlay.opaque)"
    [ -z "$(find "$T_HOME/images/layers" -name '.wh.*')" ] || fail ".wh. files left in layers"
    # and a box sees the image as the layers meant it
    bl run --rm multi:1.0 sh -c 'ls /opt/app; test -e /etc/motd && echo motd-present; exit 0'
    assert_rc 0
    assert_eq "$OUT" "current"$'\n'"new.txt"$'\n'"new.txt.hardlink" "/opt/app (opaque) in the box"
}

# Layers are shared by digest; rmi frees only what no image uses.
t_shared_layers_and_rmi() {
    bl load -i "$(fixture busybox oci)"; assert_rc 0
    bl load -i "$(fixture shared oci)"; assert_rc 0
    assert_eq "$(ls "$T_HOME/images/layers" | wc -l)" 2 "layer count"
    bl rmi busybox
    assert_rc 0
    assert_contains "$OUT" "Untagged: docker.io/library/busybox:latest"
    assert_contains "$OUT" "Deleted: sha256:"
    assert_eq "$(ls "$T_HOME/images/layers" | wc -l)" 2 "layers still used by shared"
    bl rmi localhost:5000/test/shared:v2
    assert_rc 0
    assert_store_empty
    bl images -q
    assert_eq "$OUT" ""
}

t_load_twice_is_idempotent() {
    bl load -i "$(fixture busybox docker)"; assert_rc 0
    local before; before=$(store_files)
    bl load -i "$(fixture busybox docker)"; assert_rc 0
    assert_eq "$(store_files)" "$before" "store after second load"
    bl images -q
    assert_eq "$(printf '%s\n' "$OUT" | wc -l)" 1 "image count"
}

corrupt_case() { # kind format
    local bad="$T_HOME/bad.tar"
    python3 "$TOP/tests/fixtures/mkimage.py" --corrupt "$1" --in "$(fixture multi "$2")" --out "$bad" >/dev/null
    bl load -i "$bad"
    assert_rc 1
    assert_one_error_line
    assert_contains "$ERR" "$3"
    bl images -q
    assert_eq "$OUT" "" "images after failed load"
    assert_store_empty
}
t_corrupt_truncated_docker() { corrupt_case truncate docker "truncated or corrupt"; }
t_corrupt_truncated_oci() { corrupt_case truncate oci "truncated or corrupt"; }
t_corrupt_digest_docker() { corrupt_case digest docker "sha256:"; }
t_corrupt_digest_oci() { corrupt_case digest oci "digest mismatch"; }
t_corrupt_missing_blob_docker() { corrupt_case missing-blob docker "missing"; }
t_corrupt_missing_blob_oci() { corrupt_case missing-blob oci "missing"; }
t_corrupt_bad_manifest_docker() { corrupt_case bad-manifest docker "not valid JSON"; }
t_corrupt_bad_manifest_oci() { corrupt_case bad-manifest oci "not valid JSON"; }

# A good image already stored survives a bad load untouched. (The damaged layer is the busybox
# layer, which the store already has: a docker-archive layer is still checked against its diff_id.)
t_failed_load_keeps_existing() {
    bl load -i "$(fixture busybox oci)"; assert_rc 0
    local before; before=$(store_files)
    local bad="$T_HOME/bad.tar"
    python3 "$TOP/tests/fixtures/mkimage.py" --corrupt digest --in "$(fixture shared docker)" --out "$bad" >/dev/null
    bl load -i "$bad"
    assert_rc 1
    assert_contains "$ERR" "digest mismatch"
    rm -f "$bad"
    assert_eq "$(store_files)" "$before" "store after failed load"
}

# A symlink or hardlink whose target is empty, which libarchive reads as NULL (the fuzzer's
# fuzz-image-load/symlink-without-target, which crashed load): one error, store as it was.
t_link_without_target() {
    bl load -i "$(fixture busybox oci)"; assert_rc 0
    local before; before=$(store_files)
    local kind bad="$T_HOME/bad.tar"
    for kind in sym hard; do
        python3 - "$(fixture shared oci)" "$bad" "$kind" <<'EOF'
import sys, tarfile
src, out, kind = sys.argv[1:]
with tarfile.open(src) as i, tarfile.open(out, "w", format=tarfile.USTAR_FORMAT) as o:
    for m in i.getmembers():
        o.addfile(m, i.extractfile(m) if m.isfile() else None)
    x = tarfile.TarInfo("x")
    x.type = tarfile.SYMTYPE if kind == "sym" else tarfile.LNKTYPE
    o.addfile(x)
EOF
        bl load -i "$bad"
        assert_rc 1; assert_one_error_line
        if [ "$kind" = sym ]; then
            assert_contains "$ERR" "link 'x' has no target"
        else
            assert_contains "$ERR" "'x' has no file type"
        fi
        assert_eq "$(store_files)" "$before" "store after failed load ($kind)"
    done
    rm -f "$bad"
}

t_not_an_archive() {
    echo "hello" >"$T_HOME/x.txt"
    bl load -i "$T_HOME/x.txt"
    assert_rc 1; assert_one_error_line
    bl load -i "$T_HOME/nope.tar"
    assert_rc 1; assert_one_error_line
    assert_contains "$ERR" "No such file"
}

t_images_formats() {
    bl images
    assert_rc 0
    assert_eq "$OUT" "$(printf '┌────────────┬─────┬──────────┬─────────┐\n│ REPOSITORY │ TAG │ IMAGE ID │ CREATED │\n└────────────┴─────┴──────────┴─────────┘')"
    bl images --format json; assert_eq "$OUT" "[]"
    bl images --format YAML; assert_eq "$OUT" "[]"
    bl load -i "$(fixture shared docker)"; assert_rc 0
    bl images --format json
    assert_rc 0
    python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert list(d[0])==["Repository","Tag","ID","CreatedAt"], d; assert d[0]["Repository"]=="test/shared" and d[0]["Tag"]=="v2", d' "$OUT" || fail "bad json: $OUT"
    bl images --format yaml
    assert_match "$OUT" "^- Repository: test/shared"$'\n'"  Tag: v2"$'\n'"  ID: "
    bl images --format xml
    assert_rc 1
    assert_eq "$ERR" "Error: Unknown format: 'xml'. Valid formats: table, json, yaml"
}

t_image_inspect() {
    bl load -i "$(fixture multi oci)"; assert_rc 0
    bl image inspect multi:1.0
    assert_rc 0
    python3 -c '
import json,sys
d=json.loads(sys.argv[1])[0]
assert d["Digest"].startswith("sha256:"), d
assert d["RepoTags"]==["docker.io/library/multi:1.0"], d
assert len(d["Layers"])==3 and all(l["DiffID"].startswith("sha256:") for l in d["Layers"]), d
assert d["Size"]==sum(l["Size"] for l in d["Layers"]), d
assert d["Config"]["Cmd"]==["sh"], d
' "$OUT" || fail "bad inspect: $OUT"
    local id; id=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])[0]["Id"][7:19])' "$OUT")
    bl image inspect "$id"; assert_rc 0
    bl image inspect nosuch
    assert_rc 1
    assert_contains "$ERR" "No such image: nosuch"
}

t_rmi_errors() {
    bl rmi nosuch
    assert_rc 1; assert_one_error_line
    assert_eq "$ERR" "Error: No such image: nosuch"
    bl rmi
    assert_rc 2
    bl rmi 'Bad:Ref'
    assert_rc 1
}

t_rmi_by_id_prefix() {
    bl load -i "$(fixture busybox oci)"; assert_rc 0
    bl images -q
    local id=${OUT#sha256:}
    bl rmi "${id:0:12}"
    assert_rc 0
    assert_contains "$OUT" "Deleted: sha256:$id"
    assert_store_empty
}

t_cli_usage() {
    bl bogus; assert_rc 2; assert_contains "$ERR" "unrecognized subcommand 'bogus'"
    bl images --bogus; assert_rc 2; assert_contains "$ERR" "unexpected argument '--bogus'"
    bl --version; assert_rc 0; assert_match "$OUT" '^boxlite [0-9]+\.[0-9]+\.[0-9]+$'
    bl load --help; assert_rc 0; assert_contains "$OUT" "Usage: boxlite load"
    bl images -h; assert_rc 0; assert_contains "$OUT" "--format"
    bl; assert_rc 2   # no command
    bl --home relative/dir images   # the last --home wins
    assert_rc 1
    assert_contains "$ERR" "home_dir must be absolute path, got: relative/dir"
}

t_home_precedence() {
    local envhome="$T_HOME/envhome"
    BOXLITE_HOME=$envhome "$BOXLITE_BIN" load -i "$(fixture busybox oci)" >/dev/null || fail "load via env"
    [ -f "$envhome/db/boxlite.db" ] || fail "BOXLITE_HOME not used"
    HOME=$T_HOME/h BOXLITE_HOME='' "$BOXLITE_BIN" images -q >/dev/null || fail "images via HOME"
    [ -f "$T_HOME/h/.boxlite/db/boxlite.db" ] || fail "\$HOME/.boxlite not used"
    # --home beats BOXLITE_HOME
    local out; out=$(BOXLITE_HOME=$envhome "$BOXLITE_BIN" --home "$T_HOME/flag" images -q)
    assert_eq "$out" "" "--home wins"
}

# Eight processes loading, listing and removing at once on one home: nothing lost, nothing
# corrupted, no "database is locked".
t_concurrent_processes() {
    local busy shared multi i errs="$T_HOME/errs"
    busy=$(fixture busybox oci) shared=$(fixture shared docker) multi=$(fixture multi oci)
    mkdir -p "$errs"
    for i in 1 2 3 4 5 6 7 8; do
        (
            for round in 1 2 3; do
                case $((i % 4)) in
                    0) "$BOXLITE_BIN" --home "$T_HOME" load -i "$busy" >/dev/null ;;
                    1) "$BOXLITE_BIN" --home "$T_HOME" load -i "$shared" >/dev/null ;;
                    2) "$BOXLITE_BIN" --home "$T_HOME" load -i "$multi" >/dev/null &&
                       "$BOXLITE_BIN" --home "$T_HOME" rmi multi:1.0 >/dev/null ;;
                    3) "$BOXLITE_BIN" --home "$T_HOME" images >/dev/null ;;
                esac || echo "proc $i round $round failed" >>"$errs/$i"
            done
        ) 2>>"$errs/stderr-$i" &
    done
    wait
    local e; e=$(cat "$errs"/* 2>/dev/null | grep -v '^Error: No such image: multi:1.0$' || true)
    # rmi of multi may race with the other remover; only that is an allowed failure
    e=$(printf '%s\n' "$e" | grep -v 'proc [26] round' || true)
    [ -z "$e" ] || fail "concurrent errors: $e"
    assert_not_contains "$(cat "$errs"/*)" "locked"
    bl images --format json
    python3 -c 'import json,sys; r=sorted(x["Repository"] for x in json.loads(sys.argv[1])); assert r==["library/busybox","test/shared"], r' "$OUT" || fail "final images: $OUT"
    # every image's files are intact: a fresh load of each changes nothing
    local before; before=$(find "$T_HOME/images" -mindepth 1 | sort)
    bl load -i "$busy"; assert_rc 0
    bl load -i "$shared"; assert_rc 0
    assert_eq "$(find "$T_HOME/images" -mindepth 1 | sort)" "$before" "store after reload"
    [ -z "$(ls -A "$T_HOME/tmp")" ] || fail "staging left in tmp: $(ls -A "$T_HOME/tmp")"
    local integrity; integrity=$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("pragma integrity_check").fetchone()[0])' "$T_HOME/db/boxlite.db")
    assert_eq "$integrity" "ok" "database integrity"
}

# Many processes opening a brand-new home at once all succeed (the switch to WAL and the schema
# creation happen once, serialised). Without the init lock some failed "database is locked".
t_concurrent_first_open() {
    local round i pids errs=0
    for round in 1 2 3 4 5; do
        local h="$T_HOME/fresh$round"
        pids=()
        for i in $(seq 1 12); do
            "$BOXLITE_BIN" --home "$h" images -q >/dev/null 2>>"$T_HOME/open-errors" &
            pids+=($!)
        done
        for i in "${pids[@]}"; do wait "$i" || errs=$((errs + 1)); done
    done
    [ "$errs" -eq 0 ] || fail "$errs opens failed: $(sort -u "$T_HOME/open-errors" | head -3)"
}

# A staging directory left by a killed process is removed by the next command.
t_recovery_of_stale_staging() {
    bl images; assert_rc 0
    mkdir -p "$T_HOME/tmp/load-deadbeef/Lxyz"
    echo junk >"$T_HOME/tmp/load-deadbeef/f1"
    bl images; assert_rc 0
    [ ! -e "$T_HOME/tmp/load-deadbeef" ] || fail "stale staging dir survived"
}

run_tests t_load_docker_archive t_load_oci_archive t_load_oci_layout_dir t_load_stdin \
    t_load_gzipped_archive t_whiteouts_and_compression t_shared_layers_and_rmi \
    t_load_twice_is_idempotent t_corrupt_truncated_docker t_corrupt_truncated_oci \
    t_corrupt_digest_docker t_corrupt_digest_oci t_corrupt_missing_blob_docker \
    t_corrupt_missing_blob_oci t_corrupt_bad_manifest_docker t_corrupt_bad_manifest_oci \
    t_failed_load_keeps_existing t_link_without_target t_not_an_archive t_images_formats \
    t_image_inspect t_rmi_errors t_rmi_by_id_prefix t_cli_usage t_home_precedence \
    t_concurrent_processes t_recovery_of_stale_staging t_concurrent_first_open
