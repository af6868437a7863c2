#!/usr/bin/env bash
# shellcheck disable=SC2034 # T_SKIP is read by tap.sh's run_tests
# Pulling images from registries: Debian's docker-registry on 127.0.0.1 (plain http, TLS with a
# test CA, htpasswd basic auth, token auth with tests/fixtures/token-server.py), seeded with the
# local fixtures by tests/fixtures/regpush.py (including a two-platform index), and
# tests/fixtures/flaky-proxy.py in front of it for faults (a connection cut mid-layer, a
# registry that dies, a redirect to another host). Every registry, proxy and token server is
# stopped by the EXIT trap.
. "$(dirname "$0")/../../lib/tap.sh"

command -v docker-registry >/dev/null || skip_all "docker-registry is not installed (tools/install-deps.sh)"
for tool in python3 openssl htpasswd; do
    command -v "$tool" >/dev/null || skip_all "$tool is not installed (tools/install-deps.sh)"
done

# the CA bundle is the system's unless a test says otherwise; no proxy between us and 127.0.0.1
unset CURL_CA_BUNDLE SSL_CERT_FILE http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
W=$(mktemp -d "${TMPDIR:-/tmp}/bl-reg-XXXXXX")
PIDFILES=()
stop_all() {
    local f p
    for f in "${PIDFILES[@]}"; do
        p=$(cat "$f" 2>/dev/null) && [ -n "$p" ] && kill "$p" 2>/dev/null
    done
    for f in "${PIDFILES[@]}"; do
        p=$(cat "$f" 2>/dev/null) && [ -n "$p" ] && wait "$p" 2>/dev/null
    done
    rm -rf "$W"
}
trap stop_all EXIT
FIXDIR=$TOP/tests/fixtures

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# bg NAME CMD...: start a helper in the background, remember its pid for the trap.
bg() {
    local name=$1; shift
    "$@" >"$W/$name.out" 2>&1 &
    echo $! >"$W/$name.pid"
    PIDFILES+=("$W/$name.pid")
}
stop() { local p; p=$(cat "$W/$1.pid" 2>/dev/null) && kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; rm -f "$W/$1.pid"; return 0; }

# start_registry NAME [EXTRA_YAML]: a registry on a free port over the shared storage; its
# host:port is in $W/NAME.host.
start_registry() {
    local name=$1 extra=${2:-} port
    port=$(free_port)
    cat >"$W/$name.yml" <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $W/storage
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$port
  secret: boxlite-test
$extra
EOF
    bg "$name" docker-registry serve "$W/$name.yml"
    wait_until 10 port_open "$port" || { echo "Bail out! registry $name did not start: $(cat "$W/$name.out")"; exit 1; }
    echo "127.0.0.1:$port" >"$W/$name.host"
}

# start_proxy NAME UPSTREAM MODE [--port N] [--upstream-auth U:P]
start_proxy() {
    local name=$1 up=$2 mode=$3; shift 3
    rm -f "$W/$name.port" "$W/$name.log"
    touch "$W/$name.log"
    bg "$name" python3 "$FIXDIR/flaky-proxy.py" --upstream "$up" --mode "$mode" \
        --port-file "$W/$name.port" --log "$W/$name.log" "$@"
    wait_until 10 test -s "$W/$name.port" || { echo "Bail out! proxy $name did not start"; exit 1; }
    echo "127.0.0.1:$(cat "$W/$name.port")" >"$W/$name.host"
}

# ---------------------------------------------------------------- setup ----
fixture busybox oci-dir >/dev/null && fixture multi oci-dir >/dev/null && fixture shared oci-dir >/dev/null
start_registry plain
PLAIN=$(cat "$W/plain.host")
python3 "$FIXDIR/regpush.py" seed --registry "$PLAIN" --fixtures "$FIXTURES" >"$W/seed.out" ||
    { echo "Bail out! seeding the registry failed"; exit 1; }

# config digests, for the expected "Digest:" lines
cfg_digest() { python3 -c 'import json,sys; d=sys.argv[1]; i=json.load(open(d+"/index.json")); m=json.load(open(d+"/blobs/sha256/"+i["manifests"][0]["digest"][7:])); print(m["config"]["digest"])' "$1"; }
BUSYBOX_CFG=$(cfg_digest "$FIXTURES/busybox.oci-dir")
MULTI_CFG=$(cfg_digest "$FIXTURES/multi.oci-dir")
ARM64_CFG=$(awk '/ linux\/arm64 config / {print $NF}' "$W/seed.out")

# write_config FILE JSON-ENTRIES...: a --config file with these image_registries entries
write_config() { local f=$1; shift; local IFS=,; printf '{"image_registries":[%s]}\n' "$*" >"$f"; }
http_entry() { printf '{"host":"%s","transport":"http"%s}' "$1" "${2:-}"; }
write_config "$W/plain.json" "$(http_entry "$PLAIN" ',"search":true')"

assert_store_clean() {
    local left
    left=$(find "$T_HOME/images/blobs/sha256" "$T_HOME/images/layers" "$T_HOME/tmp" -mindepth 1 2>/dev/null | head -3)
    [ -z "$left" ] || fail "store not clean: $left"
}
n_layers_stored() { find "$T_HOME/images/layers" -mindepth 1 -maxdepth 1 | wc -l; }
blob_gets() { grep -c "GET /v2/.*/blobs/sha256:" "$1" || true; }

# ---------------------------------------------------------------- tests ----
t_pull_plain_http() {
    bl --config "$W/plain.json" pull "$PLAIN/busybox"
    assert_rc 0
    assert_eq "$OUT" "Pulled: $PLAIN/busybox
Digest: $BUSYBOX_CFG
Layers: 1" "pull output"
    assert_eq "$ERR" "" "stderr"
    bl --config "$W/plain.json" pull -q "$PLAIN/test/multi:1.0"
    assert_rc 0
    assert_eq "$OUT" "$MULTI_CFG" "pull -q output"
    bl images --format json
    assert_contains "$OUT" '"Repository": "test/multi"'
    assert_eq "$(n_layers_stored)" 3 "layers stored (busybox's is shared)"
    [ -z "$(ls -A "$T_HOME/tmp")" ] || fail "staging left: $(ls -A "$T_HOME/tmp")"
    bl image inspect "$PLAIN/test/multi:1.0"
    assert_rc 0
    assert_contains "$OUT" "application/vnd.oci.image.layer.v1.tar+zstd"
}

# Unqualified names: search registries in order (--registry first); docker.io when none.
t_search_registries() {
    bl --config "$W/plain.json" pull busybox
    assert_rc 0
    assert_eq "$OUT" "Pulled: busybox
Digest: $BUSYBOX_CFG
Layers: 1" "pull output"
    bl images --format json
    assert_contains "$OUT" '"Repository": "busybox"'
    # --registry HOST is https with search=true, but a configured entry for the host decides
    # its transport
    write_config "$T_HOME/c.json" "$(http_entry "$PLAIN")"
    bl --registry "$PLAIN" --config "$T_HOME/c.json" pull -q test/multi:1.0
    assert_rc 0
    assert_eq "$OUT" "$MULTI_CFG" "digest via --registry"
    # the search order: a registry without the image, then one with it
    local empty; empty=$(free_port)
    write_config "$T_HOME/two.json" "$(http_entry "127.0.0.1:$empty" ',"search":true')" "$(http_entry "$PLAIN" ',"search":true')"
    bl --config "$T_HOME/two.json" pull test/shared:v2
    assert_rc 0
    assert_contains "$OUT" "Pulled: test/shared:v2"
    # nothing found anywhere: one line naming every candidate
    bl --config "$T_HOME/two.json" pull nosuch/image:1
    assert_rc 1
    assert_one_error_line
    assert_contains "$ERR" "failed to pull 'nosuch/image:1' after trying 2 registries"
    assert_contains "$ERR" "127.0.0.1:$empty/nosuch/image:1: cannot reach registry"
    assert_contains "$ERR" "$PLAIN/nosuch/image:1: manifest unknown"
}

t_pull_is_idempotent_and_cached() {
    start_proxy p1 "$PLAIN" pass
    local px; px=$(cat "$W/p1.host")
    write_config "$T_HOME/c.json" "$(http_entry "$px")"
    bl --config "$T_HOME/c.json" pull "$px/test/multi:1.0"
    assert_rc 0
    [ "$(blob_gets "$W/p1.log")" -eq 4 ] || fail "expected 4 blob GETs (config + 3 layers): $(cat "$W/p1.log")"
    stop p1 # the registry is gone: a cached image still "pulls"
    bl --config "$T_HOME/c.json" pull "$px/test/multi:1.0"
    assert_rc 0
    assert_eq "$OUT" "Pulled: $px/test/multi:1.0
Digest: $MULTI_CFG
Layers: 3" "second pull"
    bl --config "$T_HOME/c.json" pull -q "$px/test/multi:1.0"
    assert_eq "$OUT" "$MULTI_CFG" "-q from cache"
}

# A layer already in the store (from another image) is not downloaded again.
t_shared_layers_download_once() {
    start_proxy p2 "$PLAIN" pass
    local px; px=$(cat "$W/p2.host")
    write_config "$T_HOME/c.json" "$(http_entry "$px")"
    bl load -i "$(fixture busybox oci)"
    assert_rc 0
    bl --config "$T_HOME/c.json" pull "$px/test/shared:v2"
    assert_rc 0
    assert_eq "$OUT" "Pulled: $px/test/shared:v2
Digest: $(cfg_digest "$FIXTURES/shared.oci-dir")
Layers: 2" "pull output"
    [ "$(blob_gets "$W/p2.log")" -eq 2 ] || fail "expected 2 blob GETs (config + new layer): $(cat "$W/p2.log")"
    assert_eq "$(n_layers_stored)" 2 "layers"
    stop p2
}

t_index_platform_selection() {
    bl --config "$W/plain.json" pull "$PLAIN/test/multiarch"
    assert_rc 0
    assert_contains "$OUT" "Digest: $BUSYBOX_CFG" # the host's manifest (amd64 here)
    bl --config "$W/plain.json" pull --platform linux/arm64 "$PLAIN/test/multiarch"
    assert_rc 0
    assert_eq "$OUT" "Pulled: $PLAIN/test/multiarch
Digest: $ARM64_CFG
Layers: 1" "arm64 pull"
    bl --config "$W/plain.json" pull --platform linux/arm64/v8 -q "$PLAIN/test/multiarch"
    assert_eq "$OUT" "$ARM64_CFG" "arm64/v8"
    bl --config "$W/plain.json" pull --platform linux/s390x "$PLAIN/test/multiarch"
    assert_rc 1
    assert_one_error_line
    assert_contains "$ERR" "failed to pull '$PLAIN/test/multiarch': no image for platform linux/s390x"
    bl --config "$W/plain.json" pull --platform bad "$PLAIN/test/multiarch"
    assert_rc 1
    assert_contains "$ERR" "invalid platform 'bad'"
    # by digest: the index digest pins the image
    local idx; idx=$(awk '$1 == "test/multiarch:latest" {print $2}' "$W/seed.out")
    bl --config "$W/plain.json" pull -q "$PLAIN/test/multiarch@$idx"
    assert_rc 0
    assert_eq "$OUT" "$BUSYBOX_CFG" "pull by index digest"
}

t_docker_schema2_manifest() {
    bl --config "$W/plain.json" pull "$PLAIN/docker/busybox:v2s2"
    assert_rc 0
    assert_contains "$OUT" "Digest: $BUSYBOX_CFG"
    bl image inspect "$PLAIN/docker/busybox:v2s2"
    assert_contains "$OUT" "application/vnd.docker.image.rootfs.diff.tar.gzip"
}

t_errors_missing_tag_and_repo() {
    bl --config "$W/plain.json" pull "$PLAIN/busybox:nosuchtag"
    assert_rc 1
    assert_one_error_line
    assert_eq "$ERR" "Error: failed to pull '$PLAIN/busybox:nosuchtag': manifest unknown"
    bl --config "$W/plain.json" pull "$PLAIN/no/such/repo"
    assert_rc 1
    assert_one_error_line
    assert_contains "$ERR" "failed to pull '$PLAIN/no/such/repo'"
    local dead; dead=$(free_port)
    write_config "$T_HOME/dead.json" "$(http_entry "127.0.0.1:$dead")"
    bl --config "$T_HOME/dead.json" pull "127.0.0.1:$dead/busybox"
    assert_rc 1
    assert_one_error_line
    assert_contains "$ERR" "failed to pull '127.0.0.1:$dead/busybox': cannot reach registry '127.0.0.1:$dead'"
    # TLS is the default: a plain-http registry is not silently used
    bl pull "$PLAIN/busybox"
    assert_rc 1
    assert_contains "$ERR" "failed to pull '$PLAIN/busybox': cannot reach registry"
    bl pull "Invalid//Ref"
    assert_rc 1
    assert_contains "$ERR" "invalid reference format"
    assert_store_clean
}

t_config_errors() {
    bl --config "$T_HOME/none.json" pull busybox
    assert_rc 1
    assert_eq "$ERR" "Error: Configuration file not found: $T_HOME/none.json"
    echo '{ bad json' >"$T_HOME/bad.json"
    bl --config "$T_HOME/bad.json" images
    assert_rc 1
    assert_contains "$ERR" "Error: Failed to parse config file $T_HOME/bad.json:"
    echo '{"image_registries":[{"host":"h:1","transport":"ftp"}]}' >"$T_HOME/t.json"
    bl --config "$T_HOME/t.json" images
    assert_rc 1
    assert_contains "$ERR" "transport"
    echo '{"image_registries":[{"host":"https://h:1"}]}' >"$T_HOME/s.json"
    bl --config "$T_HOME/s.json" images
    assert_rc 1
    assert_contains "$ERR" "no scheme"
    echo '{"unknown_key": 1, "image_registries": []}' >"$T_HOME/u.json"
    bl --config "$T_HOME/u.json" images
    assert_rc 0
    bl --registry "http://x" images
    assert_rc 1
    assert_contains "$ERR" "invalid registry 'http://x'"
    # home_dir from the configuration; --home (what `bl` passes) wins
    printf '{"home_dir": "%s/other"}\n' "$T_HOME" >"$T_HOME/h.json"
    "$BOXLITE_BIN" --config "$T_HOME/h.json" images >/dev/null 2>&1 || fail "images with home_dir"
    [ -d "$T_HOME/other/images" ] || fail "home_dir not used"
}

# TLS with a test CA: refused without it; trusted through SSL_CERT_FILE, the entry's "ca",
# or skip_verify for that host.
t_tls_test_ca() {
    local d=$W/tls
    if [ ! -f "$d/srv.pem" ]; then
        mkdir -p "$d"
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
            -subj /CN=boxlite-test-ca -keyout "$d/ca.key" -out "$d/ca.pem" 2>/dev/null
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=127.0.0.1 \
            -keyout "$d/srv.key" -out "$d/srv.csr" 2>/dev/null
        printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$d/ext"
        openssl x509 -req -in "$d/srv.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
            -days 2 -extfile "$d/ext" -out "$d/srv.pem" 2>/dev/null
        start_registry tls "  tls:
    certificate: $d/srv.pem
    key: $d/srv.key"
    fi
    local host; host=$(cat "$W/tls.host")
    bl pull "$host/busybox"
    assert_rc 1
    assert_one_error_line
    assert_contains "$ERR" "failed to pull '$host/busybox': cannot reach registry '$host'"
    assert_contains "$ERR" "certificate"
    SSL_CERT_FILE=$d/ca.pem bl pull "$host/busybox"
    assert_rc 0
    assert_contains "$OUT" "Digest: $BUSYBOX_CFG"
    CURL_CA_BUNDLE=$d/ca.pem SSL_CERT_FILE=/nonexistent bl pull -q "$host/busybox:latest"
    assert_rc 0
    bl rmi "$host/busybox"
    CURL_CA_BUNDLE=$d/ca.pem SSL_CERT_FILE=/nonexistent bl pull -q "$host/busybox"
    assert_rc 0
    assert_eq "$OUT" "$BUSYBOX_CFG" "with CURL_CA_BUNDLE"
    printf '{"image_registries":[{"host":"%s","ca":"%s"}]}\n' "$host" "$d/ca.pem" >"$T_HOME/ca.json"
    bl --config "$T_HOME/ca.json" pull -q "$host/test/multi:1.0"
    assert_rc 0
    assert_eq "$OUT" "$MULTI_CFG" "with ca"
    printf '{"image_registries":[{"host":"%s","skip_verify":true}]}\n' "$host" >"$T_HOME/skip.json"
    bl --config "$T_HOME/skip.json" pull -q "$host/test/shared:v2"
    assert_rc 0
    # skip_verify is for that host only
    printf '{"image_registries":[{"host":"localhost:1","skip_verify":true}]}\n' >"$T_HOME/other.json"
    bl --config "$T_HOME/other.json" pull "$host/busybox:other"
    assert_rc 1
    assert_contains "$ERR" "certificate"
}

start_basic_registry() {
    [ -f "$W/basic.host" ] && return
    htpasswd -Bbn alice 's3cret-pw' >"$W/htpasswd" 2>/dev/null
    start_registry basic "auth:
  htpasswd:
    realm: boxlite-test
    path: $W/htpasswd"
}

t_basic_auth() {
    start_basic_registry
    local host; host=$(cat "$W/basic.host")
    write_config "$T_HOME/anon.json" "$(http_entry "$host")"
    bl --config "$T_HOME/anon.json" pull "$host/busybox"
    assert_rc 1
    assert_one_error_line
    assert_contains "$ERR" "failed to pull '$host/busybox': unauthorized"
    write_config "$T_HOME/bad.json" "$(http_entry "$host" ',"auth":{"type":"basic","username":"alice","password":"wrong"}')"
    bl --config "$T_HOME/bad.json" pull "$host/busybox"
    assert_rc 1
    assert_contains "$ERR" "unauthorized"
    assert_not_contains "$ERR" "wrong"
    write_config "$T_HOME/ok.json" "$(http_entry "$host" ',"auth":{"type":"basic","username":"alice","password":"s3cret-pw"}')"
    bl --debug --config "$T_HOME/ok.json" pull "$host/test/multi:1.0"
    assert_rc 0
    assert_contains "$OUT" "Digest: $MULTI_CFG"
    assert_not_contains "$ERR" "s3cret-pw" "debug log"
    assert_not_contains "$ERR" "YWxpY2U6czNjcmV0LXB3" "debug log" # base64 of alice:s3cret-pw
    # credentials from a docker config.json (auths, base64 "user:password")
    mkdir -p "$T_HOME/dh/.docker"
    printf '{"auths":{"http://%s/v2/":{"auth":"%s"}}}\n' "$host" "$(printf 'alice:s3cret-pw' | base64)" >"$T_HOME/dh/.docker/config.json"
    HOME=$T_HOME/dh bl --config "$T_HOME/anon.json" pull -q "$host/busybox"
    assert_rc 0
    assert_eq "$OUT" "$BUSYBOX_CFG" "with docker config.json"
    # an explicit anonymous entry sends nothing, even when config.json has credentials
    write_config "$T_HOME/anon2.json" "$(http_entry "$host" ',"auth":{"type":"anonymous"}')"
    HOME=$T_HOME/dh bl --config "$T_HOME/anon2.json" pull "$host/test/shared:v2"
    assert_rc 1
    assert_contains "$ERR" "unauthorized"
}

# Blobs redirected to another host: followed, without the registry's credentials.
t_redirect_does_not_leak_credentials() {
    start_basic_registry
    local host; host=$(cat "$W/basic.host")
    start_proxy p3 "$host" redirect --upstream-auth 'alice:s3cret-pw'
    local px; px=$(cat "$W/p3.host")
    write_config "$T_HOME/c.json" "$(http_entry "$px" ',"auth":{"type":"basic","username":"alice","password":"s3cret-pw"}')"
    bl --config "$T_HOME/c.json" pull "$px/test/multi:1.0"
    assert_rc 0
    assert_contains "$OUT" "Digest: $MULTI_CFG"
    grep -q '^storage GET .* auth=no$' "$W/p3.log" || fail "no redirected blob GET: $(cat "$W/p3.log")"
    if grep -q '^storage .* auth=yes$' "$W/p3.log"; then fail "credentials sent to the redirect target: $(cat "$W/p3.log")"; fi
    grep -q '^main GET /v2/test/multi/manifests/1.0 .* auth=yes$' "$W/p3.log" || fail "no authenticated manifest GET: $(cat "$W/p3.log")"
    stop p3
}

t_bearer_token_flow() {
    local d=$W/token
    if [ ! -f "$W/token-reg.host" ]; then
        mkdir -p "$d"
        openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=boxlite-token \
            -keyout "$d/key.pem" -out "$d/cert.pem" 2>/dev/null
        : >"$d/log"
        bg tokensrv python3 "$FIXDIR/token-server.py" --key "$d/key.pem" --cert "$d/cert.pem" \
            --service boxlite-test --issuer boxlite-test-issuer --user 'bob:t0ken-pw' \
            --port-file "$d/port" --log "$d/log"
        wait_until 10 test -s "$d/port" || { echo "Bail out! token server did not start"; exit 1; }
        start_registry token-reg "auth:
  token:
    realm: http://127.0.0.1:$(cat "$d/port")/token
    service: boxlite-test
    issuer: boxlite-test-issuer
    rootcertbundle: $d/cert.pem"
    fi
    local host; host=$(cat "$W/token-reg.host")
    write_config "$T_HOME/anon.json" "$(http_entry "$host")"
    bl --config "$T_HOME/anon.json" pull "$host/busybox"
    assert_rc 1
    assert_one_error_line
    assert_contains "$ERR" "failed to pull '$host/busybox': unauthorized"
    write_config "$T_HOME/bad.json" "$(http_entry "$host" ',"auth":{"type":"basic","username":"bob","password":"nope"}')"
    bl --config "$T_HOME/bad.json" pull "$host/busybox"
    assert_rc 1
    assert_contains "$ERR" "unauthorized"
    : >"$d/log"
    write_config "$T_HOME/ok.json" "$(http_entry "$host" ',"auth":{"type":"basic","username":"bob","password":"t0ken-pw"}')"
    bl --debug --config "$T_HOME/ok.json" pull "$host/test/multi:1.0"
    assert_rc 0
    assert_contains "$OUT" "Digest: $MULTI_CFG"
    # one token for the whole pull (manifest, config and three layers), asked with credentials
    assert_eq "$(grep -c . "$d/log")" 1 "token requests: $(cat "$d/log")"
    grep -q '^/token creds=yes scope=repository:test/multi:pull$' "$d/log" || fail "token request: $(cat "$d/log")"
    assert_not_contains "$ERR" "t0ken-pw" "debug log"
    assert_not_contains "$ERR" "eyJ" "debug log (a JWT)"
    # a configured bearer token is sent as it is
    local tok
    tok=$(python3 -c 'import base64,json,sys,urllib.request
r=urllib.request.Request(sys.argv[1]+"?service=boxlite-test&scope=repository:test/shared:pull", headers={"Authorization":"Basic "+base64.b64encode(b"bob:t0ken-pw").decode()})
print(json.load(urllib.request.urlopen(r))["token"])' "http://127.0.0.1:$(cat "$d/port")/token")
    write_config "$T_HOME/tok.json" "$(http_entry "$host" ",\"auth\":{\"type\":\"bearer\",\"token\":\"$tok\"}")"
    bl --config "$T_HOME/tok.json" pull -q "$host/test/shared:v2"
    assert_rc 0
    assert_eq "$OUT" "$(cfg_digest "$FIXTURES/shared.oci-dir")" "with a configured token"
}

# The connection is cut in the middle of a layer: the download resumes with Range.
t_resume_after_cut() {
    start_proxy p4 "$PLAIN" cut
    local px; px=$(cat "$W/p4.host")
    write_config "$T_HOME/c.json" "$(http_entry "$px")"
    bl --config "$T_HOME/c.json" pull "$px/busybox"
    assert_rc 0
    assert_contains "$OUT" "Digest: $BUSYBOX_CFG"
    grep -q 'GET /v2/busybox/blobs/sha256:.* range=bytes=[1-9][0-9]*-' "$W/p4.log" ||
        fail "no resumed (Range) request: $(cat "$W/p4.log")"
    [ -x "$(ls -d "$T_HOME"/images/layers/*)/bin/busybox" ] || fail "layer not unpacked"
    stop p4
}

# The registry dies mid-layer: one error line, nothing stored; back again, the pull succeeds.
t_registry_dies_mid_pull() {
    local port; port=$(free_port)
    start_proxy p5 "$PLAIN" cut-die --port "$port"
    local px="127.0.0.1:$port"
    write_config "$T_HOME/c.json" "$(http_entry "$px")"
    bl --config "$T_HOME/c.json" pull "$px/test/multi:1.0"
    assert_rc 1
    assert_one_error_line
    assert_contains "$ERR" "failed to pull '$px/test/multi:1.0': "
    assert_store_clean
    bl images -q
    assert_eq "$OUT" "" "images after a failed pull"
    stop p5
    start_proxy p5 "$PLAIN" pass --port "$port"
    bl --config "$T_HOME/c.json" pull "$px/test/multi:1.0"
    assert_rc 0
    assert_contains "$OUT" "Digest: $MULTI_CFG"
    stop p5
}

# A blob corrupted on the server: a digest mismatch, nothing stored; repaired, the pull works.
t_corrupt_blob_on_server() {
    local blob hex f
    blob=$(python3 -c 'import json,sys; d=sys.argv[1]; i=json.load(open(d+"/index.json")); m=json.load(open(d+"/blobs/sha256/"+i["manifests"][0]["digest"][7:])); print(m["layers"][1]["digest"])' "$FIXTURES/multi.oci-dir")
    hex=${blob#sha256:}
    f=$W/storage/docker/registry/v2/blobs/sha256/${hex:0:2}/$hex/data
    [ -f "$f" ] || { fail "blob file $f not found"; return; }
    cp "$f" "$W/blob.orig"
    python3 -c 'import sys; p=sys.argv[1]; b=bytearray(open(p,"rb").read()); b[len(b)//2]^=0xff; open(p,"wb").write(b)' "$f"
    bl --config "$W/plain.json" pull "$PLAIN/test/multi:1.0"
    assert_rc 1
    assert_one_error_line
    assert_contains "$ERR" "failed to pull '$PLAIN/test/multi:1.0': "
    assert_contains "$ERR" "digest mismatch"
    assert_store_clean
    cp "$W/blob.orig" "$f"
    bl --config "$W/plain.json" pull "$PLAIN/test/multi:1.0"
    assert_rc 0
    assert_contains "$OUT" "Digest: $MULTI_CFG"
}

# Two processes pull the same image at once: both succeed, one copy.
t_concurrent_pulls() {
    local i pids=()
    for i in 1 2 3; do
        "$BOXLITE_BIN" --home "$T_HOME" --config "$W/plain.json" pull "$PLAIN/test/multi:1.0" >"$T_HOME/out$i" 2>&1 &
        pids+=($!)
    done
    wait "${pids[@]}" # not a bare wait: the registries are children of this shell too
    for i in 1 2 3; do
        grep -q "^Digest: $MULTI_CFG$" "$T_HOME/out$i" || fail "pull $i: $(cat "$T_HOME/out$i")"
    done
    assert_eq "$(n_layers_stored)" 3 "layers"
    bl images -q
    assert_eq "$OUT" "$(awk '$1 == "test/multi:1.0" {print $2}' "$W/seed.out")" "one image"
    [ -z "$(ls -A "$T_HOME/tmp")" ] || fail "staging left: $(ls -A "$T_HOME/tmp")"
    # every file is intact: pulling another name of the same content changes nothing
    local before; before=$(find "$T_HOME/images" -mindepth 1 | sort)
    bl load -i "$(fixture multi oci)"
    assert_rc 0
    assert_eq "$(find "$T_HOME/images" -mindepth 1 | sort)" "$before" "store after a load of the same image"
}

# A live display on a terminal; none otherwise.
t_progress_only_on_a_terminal() {
    command -v script >/dev/null || { T_SKIP="no script(1)"; return; }
    local out
    out=$(script -qec "$BOXLITE_BIN --home $T_HOME --config $W/plain.json pull $PLAIN/test/multi:1.0" /dev/null)
    assert_contains "$out" "Pull complete"
    assert_contains "$out" "Pulled: $PLAIN/test/multi:1.0"
    bl --config "$W/plain.json" pull "$PLAIN/busybox"
    assert_rc 0
    assert_not_contains "$OUT" $'\033' "output without a terminal"
    assert_not_contains "$OUT" "Pull complete" "output without a terminal"
}

# `run IMAGE` with a cold cache pulls, then runs (the API's create, src/lib/api.c, ensures the image with bl_image_ensure()).
t_run_pulls_a_missing_image() {
    [ "$(id -u)" -eq 0 ] || { T_SKIP="needs root"; return; }
    bl --config "$W/plain.json" run --rm "$PLAIN/busybox" echo hello-from-pulled
    if [[ $ERR == *"No such image"* ]]; then
        T_SKIP="run does not pull missing images yet (src/lib/api.c: bl_image_ensure)"
        return
    fi
    assert_rc 0
    assert_contains "$OUT" "hello-from-pulled"
    bl images -q
    assert_match "$OUT" '^sha256:[0-9a-f]{64}$'
}

run_tests t_pull_plain_http t_search_registries t_pull_is_idempotent_and_cached \
    t_shared_layers_download_once t_index_platform_selection t_docker_schema2_manifest \
    t_errors_missing_tag_and_repo t_config_errors t_tls_test_ca t_basic_auth \
    t_redirect_does_not_leak_credentials t_bearer_token_flow t_resume_after_cut \
    t_registry_dies_mid_pull t_corrupt_blob_on_server t_concurrent_pulls \
    t_progress_only_on_a_terminal t_run_pulls_a_missing_image
