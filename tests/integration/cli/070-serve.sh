#!/usr/bin/env bash
# boxlite serve: the REST API over real HTTP (curl) against real boxes. Routes, the error
# envelope, auth, X-Request-Id, body limits, both network shapes, concurrency, hostile input,
# shutdown on SIGTERM/SIGINT, a SIGKILLed server, two servers and the CLI on one home.
# shellcheck disable=SC2034 # RC is read by assert_rc (tests/lib/tap.sh)
. "$(dirname "$0")/../../lib/tap.sh"

command -v curl >/dev/null || skip_all "curl is not installed (tools/install-deps.sh installs it)"
command -v python3 >/dev/null || skip_all "python3 is not installed"
{ ldconfig -p 2>/dev/null || /sbin/ldconfig -p 2>/dev/null; } | grep -q 'libmicrohttpd\.so\.12' ||
    skip_all "libmicrohttpd12 is not installed (tools/install-deps.sh installs it)"

JSON='Content-Type: application/json'

setup() { bl load -i "$(fixture busybox oci)" >/dev/null; assert_rc 0; }

# serve_start [ARGS...]: a server on a free port of 127.0.0.1 in the test's home; sets SRV_PID,
# URL (and SRV_LOG, its stderr).
serve_start() {
    SRV_LOG=$(mktemp "$T_HOME/serve-XXXXXX.log")
    "$BOXLITE_BIN" --home "$T_HOME" serve --port 0 "$@" </dev/null 2>"$SRV_LOG" &
    SRV_PID=$!
    wait_until 10 grep -q 'listening on' "$SRV_LOG" || { fail "server did not start: $(cat "$SRV_LOG")"; return 1; }
    URL=$(grep -o 'http://[^ ]*' "$SRV_LOG" | head -n1)
}
# serve_stop [SIGNAL]: stop the server; checks it exits 0 (within 30 s).
serve_stop() {
    local sig=${1:-TERM} rc
    kill -"$sig" "$SRV_PID" 2>/dev/null
    wait_until 30 server_gone || fail "server still alive 30 s after SIG$sig"
    wait "$SRV_PID"; rc=$?
    assert_eq "$rc" 0 "exit code of serve after SIG$sig"
    [ "$rc" -eq 0 ] || sed 's/^/#   /' "$SRV_LOG" | tail -n 60
    grep -q 'Shutting down' "$SRV_LOG" || fail "no shutdown line: $(cat "$SRV_LOG")"
}
server_fds() { find "/proc/$SRV_PID/fd" -mindepth 1 -maxdepth 1 | wc -l; }
server_threads() { find "/proc/$SRV_PID/task" -mindepth 1 -maxdepth 1 | wc -l; }
server_back_to() { [ "$(server_fds)" -le "$1" ] && [ "$(server_threads)" -le "$2" ]; }
server_gone() { ! kill -0 "$SRV_PID" 2>/dev/null; }

# api METHOD PATH [CURL ARGS...]: sets CODE, BODY, HDRS (the response headers).
api() {
    local m=$1 p=$2 b h
    shift 2
    b=$(mktemp) h=$(mktemp)
    CODE=$(curl -s -o "$b" -D "$h" -w '%{http_code}' -X "$m" "$@" "$URL$p")
    BODY=$(cat "$b") HDRS=$(tr -d '\r' <"$h")
    rm -f "$b" "$h"
}
# jq-like: jget EXPR evaluates a Python expression on d = the last BODY.
jget() { python3 -c 'import json,sys; d=json.loads(sys.argv[1]); v=eval(sys.argv[2]); print(json.dumps(v) if not isinstance(v,str) else v)' "$BODY" "$1" 2>/dev/null; }
assert_code() { [ "$CODE" = "$1" ] || fail "HTTP $CODE, expected $1: ${BODY:0:300}"; }
# assert_error STATUS TYPE CODE: the envelope, with the request id of the X-Request-Id header.
assert_error() {
    assert_code "$1"
    assert_eq "$(jget 'd["error"]["type"]')" "$2" "error type"
    assert_eq "$(jget 'd["error"]["code"]')" "$3" "error code"
    local rid; rid=$(printf '%s\n' "$HDRS" | sed -n 's/^[Xx]-[Rr]equest-[Ii]d: //p')
    assert_eq "$(jget 'd["error"]["request_id"]')" "$rid" "request_id of the envelope"
}
create() { api POST /v1/boxes -H "$JSON" -d "$1"; }

t_config_me_metrics_routes() {
    serve_start || return
    api GET /v1/config; assert_code 200
    assert_eq "$(jget 'd["capabilities"]["snapshots_enabled"]')" false
    assert_eq "$(jget 'd["capabilities"]["linux_capabilities_enabled"]')" true
    assert_contains "$(jget 'd["unsupported"]')" '"exec"'
    api GET /v1/me; assert_code 200
    assert_eq "$(jget 'd["path_prefix"]')" null; assert_eq "$(jget 'd["prefix"]')" null
    assert_eq "$(jget 'd["sub"]')" local-anonymous
    api GET /v1/metrics; assert_code 200
    assert_eq "$(jget 'sorted(d)')" '["boxes_created_total", "boxes_failed_total", "boxes_stopped_total", "num_running_boxes", "total_commands_executed", "total_exec_errors"]'
    # request ids: echoed, or a minted UUID
    api GET /v1/boxes -H 'X-Request-Id: my-req.42'; assert_code 200
    assert_contains "$HDRS" "X-Request-Id: my-req.42"
    api GET /v1/boxes; assert_match "$HDRS" 'X-Request-Id: [0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}'
    # unknown routes and methods
    api GET /v1/nothing; assert_error 404 NotFoundError not_found
    assert_eq "$(jget 'd["error"]["message"]')" "no route for GET /v1/nothing"
    api GET /; assert_error 404 NotFoundError not_found
    api GET /v1/boxes/x/y/z/w/v/u/t; assert_error 404 NotFoundError not_found
    api GET /v1//boxes; assert_error 404 NotFoundError not_found
    api PATCH /v1/boxes -H 'X-Request-Id: r405'; assert_code 405
    assert_contains "$HDRS" "Allow: GET, POST"
    assert_eq "$(jget 'd["error"]["request_id"]')" r405
    api DELETE /v1/config; assert_code 405; assert_contains "$HDRS" "Allow: GET, HEAD"
    # routes of later steps: UnsupportedError, which clients understand
    local r
    for r in "POST /v1/boxes/b/exec" "GET /v1/boxes/b/executions" "GET /v1/boxes/b/executions/e" \
        "DELETE /v1/boxes/b/executions/e" "POST /v1/boxes/b/executions/e/signal" \
        "POST /v1/boxes/b/executions/e/resize" "GET /v1/boxes/b/executions/e/attach" \
        "GET /v1/boxes/b/attach" "GET /v1/boxes/b/files" "PUT /v1/boxes/b/files" \
        "GET /v1/boxes/b/snapshots" "POST /v1/boxes/b/snapshots" "GET /v1/boxes/b/snapshots/s" \
        "DELETE /v1/boxes/b/snapshots/s" "POST /v1/boxes/b/snapshots/s/restore" \
        "POST /v1/boxes/b/clone" "POST /v1/boxes/b/export" "POST /v1/boxes/import" \
        "GET /v1/volumes" "POST /v1/volumes" "GET /v1/volumes/v" "DELETE /v1/volumes/v" \
        "POST /v1/boxes/b/network/tunnel"; do
        # shellcheck disable=SC2086 # method and path
        api $r; assert_error 400 UnsupportedError unsupported
        assert_contains "$(jget 'd["error"]["message"]')" "not implemented by this server yet"
    done
    serve_stop
}

t_auth() {
    serve_start --api-key s3cret || return
    api GET /v1/config; assert_code 200 # never needs the key
    api GET /v1/boxes; assert_error 401 AuthError unauthenticated
    assert_eq "$(jget 'd["error"]["message"]')" "invalid or missing API key"
    api GET /v1/boxes -H 'Authorization: Bearer wrong'; assert_error 401 AuthError unauthenticated
    api GET /v1/boxes -H 'Authorization: Bearer s3cre'; assert_code 401
    api GET /v1/boxes -H 'Authorization: Bearer s3cretX'; assert_code 401
    api GET /v1/boxes -H 'Authorization: Bearer '; assert_code 401
    api GET /v1/boxes -H 'Authorization: Basic s3cret'; assert_code 401
    api GET /v1/boxes -H 'Authorization: s3cret'; assert_code 401
    api GET /v1/boxes -H 'Authorization: Bearer s3cret'; assert_code 200
    api GET /v1/boxes -H 'Authorization: bearer s3cret'; assert_code 200
    # auth comes before routing: no key, no 404 either
    api GET /v1/nothing; assert_code 401
    serve_stop
    # the key from the environment
    BOXLITE_SERVE_API_KEY=k2 serve_start || return
    api GET /v1/me; assert_code 401
    api GET /v1/me -H 'Authorization: Bearer k2'; assert_code 200
    serve_stop
}

t_box_lifecycle() {
    setup
    serve_start || return
    create '{"image":"busybox","name":"web","cmd":["sleep","300"],"env":{"A":"1"},"working_dir":"/tmp","cpus":2,"memory_mib":256}'
    assert_code 201
    local id; id=$(jget 'd["box_id"]')
    assert_match "$id" '^[0-9A-Za-z]{12}$'
    assert_eq "$(jget 'd["status"]')" configured
    assert_eq "$(jget 'd["name"]')" web
    assert_eq "$(jget 'd["pid"]')" null
    assert_eq "$(jget 'd["cpus"]')" 2
    assert_eq "$(jget 'd["memory_mib"]')" 256
    assert_eq "$(jget 'd["labels"]')" '{}'
    assert_match "$(jget 'd["created_at"]')" '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\.[0-9]{3}Z$'
    # the CLI sees it as it was asked for
    bl inspect web; assert_rc 0
    assert_contains "$OUT" '"WorkingDir": "/tmp"'
    assert_contains "$OUT" '"A=1"'
    # by id, name and prefix
    api GET "/v1/boxes/$id"; assert_code 200; assert_eq "$(jget 'd["name"]')" web
    api GET /v1/boxes/web; assert_code 200; assert_eq "$(jget 'd["box_id"]')" "$id"
    api GET "/v1/boxes/${id:0:6}"; assert_code 200
    api HEAD /v1/boxes/web -I; assert_code 204
    api HEAD /v1/boxes/nope -I; assert_code 404
    api GET /v1/boxes/nope; assert_error 404 NotFoundError not_found
    assert_eq "$(jget 'd["error"]["message"]')" "box not found: nope"
    api GET /v1/boxes; assert_code 200
    assert_eq "$(jget '[b["name"] for b in d["boxes"]]')" '["web"]'
    assert_eq "$(jget 'd["next_page_token"]')" null
    # a name clash is upstream's invalid argument
    create '{"image":"busybox","name":"web"}'; assert_error 400 InvalidArgumentError invalid_argument
    # metrics of a box with a main command that is not running: refused, not started
    api GET /v1/boxes/web/metrics; assert_error 409 InvalidStateError invalid_state
    # start (non-detached: the server owns it), twice (idempotent)
    api POST /v1/boxes/web/start; assert_code 200
    assert_eq "$(jget 'd["status"]')" running
    assert_match "$(jget 'd["pid"]')" '^[0-9]+$'
    api POST /v1/boxes/web/start; assert_code 200
    api GET /v1/boxes/web/metrics; assert_code 200
    assert_match "$(jget 'd["memory_bytes"]')" '^[0-9]+$'
    assert_eq "$(jget 'd["commands_executed_total"]')" 0
    # removing a running box needs force (which defaults to false)
    api DELETE /v1/boxes/web; assert_error 409 InvalidStateError invalid_state
    api DELETE '/v1/boxes/web?force=maybe'; assert_error 400 InvalidArgumentError invalid_argument
    # stop, with the OpenAPI's optional body
    api POST /v1/boxes/web/stop -H "$JSON" -d '{"timeout_seconds":1}'; assert_code 200
    assert_eq "$(jget 'd["status"]')" stopped
    assert_eq "$(jget 'd["pid"]')" null
    assert_match "$(jget 'd["exit_code"]')" '^[0-9]+$'
    api POST /v1/boxes/web/stop -H "$JSON" -d '{"timeout_seconds":-1}'
    assert_error 400 InvalidArgumentError invalid_argument
    api POST /v1/boxes/web/stop -H "$JSON" -d '{"grace":1}'; assert_error 422 InvalidArgumentError invalid_argument
    api POST /v1/boxes/web/stop; assert_code 200 # stopping a stopped box: no-op
    # started again (detached this time), removed by force
    create '{"image":"busybox","name":"bg","cmd":["sleep","300"],"detach":true}'; assert_code 201
    assert_eq "$(jget 'd["detach"]')" true
    api POST /v1/boxes/bg/start; assert_code 200; assert_eq "$(jget 'd["status"]')" running
    api DELETE '/v1/boxes/bg?force=true'; assert_code 204
    api DELETE /v1/boxes/web; assert_code 204
    api GET /v1/boxes/web; assert_code 404
    api DELETE /v1/boxes/web; assert_code 404
    api POST /v1/boxes/web/start; assert_code 404
    api POST /v1/boxes/web/stop; assert_code 404
    # a command that cannot start
    create '{"image":"busybox","name":"bad","cmd":["/no/such/thing"],"detach":true}'; assert_code 201
    api POST /v1/boxes/bad/start; assert_error 422 ExecutionError execution_failed
    api DELETE '/v1/boxes/bad?force=1'; assert_code 204
    api GET /v1/metrics
    assert_eq "$(jget 'd["boxes_created_total"]')" 3
    assert_eq "$(jget 'd["boxes_failed_total"]')" 2 # the clash and the bad start
    assert_eq "$(jget 'd["num_running_boxes"]')" 0
    serve_stop
}

t_create_validation() {
    setup
    serve_start || return
    create '{"image":'; assert_error 400 InvalidArgumentError invalid_argument
    assert_contains "$(jget 'd["error"]["message"]')" "invalid JSON body"
    create '[1]'; assert_error 422 InvalidArgumentError invalid_argument
    create '{"image":"busybox","security":{}}'; assert_error 422 InvalidArgumentError invalid_argument
    assert_contains "$(jget 'd["error"]["message"]')" '`security`'
    create '{"image":"busybox","ports":[]}'; assert_code 422
    create '{"image":"busybox","name":"a","name":"b"}'; assert_code 400 # duplicate key
    create '{"image":5}'; assert_error 422 InvalidArgumentError invalid_argument
    create '{"image":"busybox","cmd":"sleep"}'; assert_code 422
    create '{"image":"busybox","env":{"A":1}}'; assert_code 422
    create '{"image":"busybox","env":{"A=B":"1"}}'; assert_code 400
    create '{"image":"busybox","cpus":0}'; assert_error 400 InvalidArgumentError invalid_argument
    create '{"image":"busybox","tty":"yes"}'; assert_code 422
    create '{"image":"busybox","auto_stop":60}'; assert_error 400 UnsupportedError unsupported
    create '{"image":"busybox","volumes":[{"guest_path":"/x"}]}'; assert_error 400 UnsupportedError unsupported
    create '{"image":"busybox","secrets":[{"name":"x"}]}'; assert_error 400 UnsupportedError unsupported
    create '{"image":"busybox","rootfs_path":"/x"}'; assert_code 400
    create '{"image":"127.0.0.1:1/none/such:latest"}'; assert_error 422 ImageError image_pull_failed
    # a JSON body needs its content type
    api POST /v1/boxes -d '{"image":"busybox"}' -H 'Content-Type: text/plain'
    assert_error 415 InvalidArgumentError invalid_argument
    # bodies over 1 MiB: announced (refused before reading) or chunked (counted)
    head -c 2000000 /dev/zero | tr '\0' ' ' >"$T_HOME/big"
    api POST /v1/boxes -H "$JSON" --data-binary @"$T_HOME/big"
    assert_error 413 PayloadTooLargeError payload_too_large
    api POST /v1/boxes -H "$JSON" -H 'Transfer-Encoding: chunked' --data-binary @"$T_HOME/big"
    assert_error 413 PayloadTooLargeError payload_too_large
    # what was accepted: empty arrays, the lifecycle fields at 0, capabilities, entrypoint
    create '{"image":"busybox","name":"ok","volumes":[],"secrets":[],"auto_stop":0,"auto_delete":0,"auto_resume":true,"disk_size_gb":1,"advanced":{"capabilities":{"drop":["NET_RAW"]}},"entrypoint":["sh","-c"],"cmd":["exit 3"],"detach":true}'
    assert_code 201
    bl inspect ok
    assert_match "$OUT" '"Entrypoint": \[[^]]*"sh",[^]]*"-c",[^]]*"exit 3"'
    api POST /v1/boxes/ok/start; assert_code 200
    wait_until 10 box_is ok stopped || fail "box ok did not stop"
    api GET /v1/boxes/ok; assert_eq "$(jget 'd["exit_code"]')" 3
    api DELETE /v1/boxes/ok; assert_code 204
    # the server still serves
    api GET /v1/boxes; assert_code 200; assert_eq "$(jget 'd["boxes"]')" '[]'
    serve_stop
}
box_is() { api GET "/v1/boxes/$1"; [ "$(jget 'd["status"]')" = "$2" ]; }

# net_of NAME: the network the CLI sees, "MODE ALLOW_NET_JSON"
net_of() {
    "$BOXLITE_BIN" --home "$T_HOME" inspect "$1" |
        python3 -c 'import json,sys; n=json.load(sys.stdin)[0]["NetworkSettings"]; print(n["Mode"], json.dumps(n["AllowNet"]))'
}

t_network_shapes() {
    setup
    serve_start || return
    # the old flat shape
    create '{"image":"busybox","name":"f1","network":{"mode":"disabled"}}'; assert_code 201
    assert_eq "$(net_of f1)" 'disabled []'
    create '{"image":"busybox","name":"f2","network":{"allow_net":["example.com"]}}'; assert_code 201
    assert_eq "$(net_of f2)" 'enabled ["example.com"]'
    # the newest OpenAPI's nested shape, as the Node SDK sends it
    create '{"image":"busybox","name":"n1","network":{"outbound":{"mode":"disabled"},"inbound":{"mode":"enabled"}}}'
    assert_code 201; assert_eq "$(net_of n1)" 'disabled []'
    create '{"image":"busybox","name":"n2","network":{"outbound":{"mode":"enabled","allow_net":["10.0.0.0/8"]},"inbound":{"mode":"disabled","allow_net":[]}}}'
    assert_code 201; assert_eq "$(net_of n2)" 'enabled ["10.0.0.0/8"]'
    create '{"image":"busybox","name":"n3","network":{"inbound":{"mode":"enabled"}}}'
    assert_code 201; assert_eq "$(net_of n3)" 'enabled []'
    # refused: both shapes at once, inbound allow lists, bad modes, unknown keys
    create '{"image":"busybox","network":{"mode":"enabled","outbound":{"mode":"enabled"}}}'
    assert_error 400 InvalidArgumentError invalid_argument
    assert_contains "$(jget 'd["error"]["message"]')" "not both"
    create '{"image":"busybox","network":{"allow_net":[],"inbound":{"mode":"enabled"}}}'; assert_code 400
    create '{"image":"busybox","network":{"inbound":{"mode":"enabled","allow_net":["1.2.3.4"]}}}'
    assert_error 400 InvalidArgumentError invalid_argument
    create '{"image":"busybox","network":{"mode":"open"}}'; assert_error 400 InvalidArgumentError invalid_argument
    create '{"image":"busybox","network":{"outbound":{"mode":"on"}}}'; assert_code 400
    create '{"image":"busybox","network":{"outbound":{"mode":"enabled","ports":[]}}}'; assert_code 422
    create '{"image":"busybox","network":{"mode":"disabled","allow_net":["a.com"]}}'; assert_code 400
    create '{"image":"busybox","network":"enabled"}'; assert_code 422
    local b
    for b in f1 f2 n1 n2 n3; do api DELETE "/v1/boxes/$b"; assert_code 204; done
    serve_stop
}

# auto_delete: a non-detached box is removed once it stops (not before it starts, whatever
# other requests run meanwhile).
t_auto_delete() {
    setup
    serve_start || return
    create '{"image":"busybox","name":"once","cmd":["sleep","1"],"auto_delete":1}'; assert_code 201
    assert_eq "$(jget 'd["auto_delete"]')" 1
    api GET /v1/boxes; api GET /v1/boxes/once; assert_code 200
    api POST /v1/boxes/once/start; assert_code 200
    wait_until 15 box_gone once || fail "auto_delete box still there after it stopped"
    create '{"image":"busybox","name":"twice","cmd":["sleep","300"],"auto_delete":60}'; assert_code 201
    api POST /v1/boxes/twice/start; assert_code 200
    api POST /v1/boxes/twice/stop -H "$JSON" -d '{"timeout_seconds":0}'; assert_code 200
    assert_eq "$(jget 'd["status"]')" stopped
    api GET /v1/boxes/twice; assert_code 404
    # a detached box is not removed by the server
    create '{"image":"busybox","name":"det","cmd":["true"],"auto_delete":1,"detach":true}'; assert_code 201
    assert_eq "$(jget 'd["auto_delete"]')" 0
    api DELETE /v1/boxes/det; assert_code 204
    serve_stop
}
box_gone() { api GET "/v1/boxes/$1"; [ "$CODE" = 404 ]; }

t_concurrent_requests() {
    setup
    serve_start || return
    local i pids=() fds threads
    api GET /v1/boxes; assert_code 200
    fds=$(server_fds) threads=$(server_threads)
    for i in $(seq 1 20); do
        (
            c=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "$JSON" -d "{\"image\":\"busybox\",\"name\":\"c$i\",\"cmd\":[\"sleep\",\"300\"]}" "$URL/v1/boxes")
            [ "$c" = 201 ] || { echo "create c$i: $c"; exit 1; }
            if [ $((i % 3)) = 0 ]; then
                c=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$URL/v1/boxes/c$i/start")
                [ "$c" = 200 ] || { echo "start c$i: $c"; exit 1; }
            fi
            c=$(curl -s -o /dev/null -w '%{http_code}' "$URL/v1/boxes")
            [ "$c" = 200 ] || { echo "list: $c"; exit 1; }
            c=$(curl -s -o /dev/null -w '%{http_code}' "$URL/v1/boxes/c$i")
            [ "$c" = 200 ] || { echo "get c$i: $c"; exit 1; }
            c=$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "$URL/v1/boxes/c$i?force=true")
            [ "$c" = 204 ] || { echo "delete c$i: $c"; exit 1; }
        ) >"$T_HOME/c$i.out" 2>&1 &
        pids+=($!)
    done
    for i in "${!pids[@]}"; do
        wait "${pids[$i]}" || fail "client $((i + 1)): $(cat "$T_HOME/c$((i + 1)).out")"
    done
    api GET /v1/boxes; assert_code 200; assert_eq "$(jget 'd["boxes"]')" '[]'
    api GET /v1/metrics; assert_eq "$(jget 'd["boxes_created_total"]')" 20
    # nothing kept: the connections' threads end, their fds are closed
    wait_until 10 server_back_to "$fds" "$threads" ||
        fail "server fds $(server_fds) (were $fds), threads $(server_threads) (were $threads)"
    serve_stop
    wait_until 10 no_live_shims || fail "shims left"
}

# The server stops the non-detached boxes it started, and only those.
t_shutdown_stops_owned_boxes() {
    setup
    local sig
    for sig in TERM INT; do
        serve_start || return
        create '{"image":"busybox","name":"own","cmd":["sleep","300"]}'; assert_code 201
        api POST /v1/boxes/own/start; assert_code 200
        create '{"image":"busybox","name":"det","cmd":["sleep","300"],"detach":true}'; assert_code 201
        api POST /v1/boxes/det/start; assert_code 200
        local own_id; own_id=$(jget 'd["box_id"]')
        serve_stop "$sig"
        bl inspect -f '{{.State.Status}}' own; assert_eq "$OUT" stopped "owned box after SIG$sig"
        bl inspect -f '{{.State.Status}}' det; assert_eq "$OUT" running "detached box after SIG$sig"
        bl rm -f own det; assert_rc 0
        [ -n "$own_id" ] || fail "no id"
    done
    # a server with nothing to stop exits at once
    serve_start || return
    serve_stop TERM
}

# A SIGKILLed server: its non-detached boxes die with it; the CLI (and the next server)
# manage what is left.
t_sigkill_then_cli() {
    setup
    serve_start || return
    create '{"image":"busybox","name":"own","cmd":["sleep","300"]}'; assert_code 201
    api POST /v1/boxes/own/start; assert_code 200
    local own_id; own_id=$(jget 'd["box_id"]')
    create '{"image":"busybox","name":"det","cmd":["sleep","300"],"detach":true}'; assert_code 201
    api POST /v1/boxes/det/start; assert_code 200
    kill -KILL "$SRV_PID"; wait "$SRV_PID" 2>/dev/null
    wait_until 10 shim_dead "$own_id" || fail "the owned box outlived its server"
    bl ls -a; assert_rc 0
    assert_contains "$OUT" det; assert_contains "$OUT" own
    bl inspect -f '{{.State.Status}}' own; assert_eq "$OUT" stopped
    bl inspect -f '{{.State.Status}}' det; assert_eq "$OUT" running
    serve_start || return
    api GET /v1/boxes/det; assert_eq "$(jget 'd["status"]')" running
    api POST /v1/boxes/own/start; assert_code 200
    serve_stop
    bl rm -f own det; assert_rc 0
}
shim_dead() { local p; p=$(shim_pid_of "$1"); [ -z "$p" ] || ! kill -0 "$p" 2>/dev/null; }

t_two_servers_and_cli() {
    setup
    serve_start || return
    local u1=$URL p1=$SRV_PID l1=$SRV_LOG
    serve_start || return
    local u2=$URL
    URL=$u1; create '{"image":"busybox","name":"shared","cmd":["sleep","300"],"detach":true}'; assert_code 201
    URL=$u2; api GET /v1/boxes/shared; assert_code 200
    api POST /v1/boxes/shared/start; assert_code 200
    bl ls; assert_contains "$OUT" shared
    URL=$u1; api GET /v1/boxes/shared; assert_eq "$(jget 'd["status"]')" running
    bl stop shared; assert_rc 0
    URL=$u2; api GET /v1/boxes/shared; assert_eq "$(jget 'd["status"]')" stopped
    bl create --name cli busybox; assert_rc 0
    URL=$u1; api DELETE /v1/boxes/cli; assert_code 204
    api DELETE /v1/boxes/shared; assert_code 204
    serve_stop
    SRV_PID=$p1 SRV_LOG=$l1 serve_stop
}

# Malformed requests, raw on the socket: none gets a 500 (they get a 4xx, or the connection is
# closed); the server keeps serving.
t_hostile_input() {
    serve_start || return
    python3 - "${URL#http://}" <<'EOF' || fail "raw requests: see above"
import socket, sys
host, port = sys.argv[1].rsplit(":", 1)
reqs = [
    b"GARBAGE\r\n\r\n",
    b"GET\r\n\r\n",
    b"GET /v1/boxes HTTP/9.9\r\nHost: x\r\n\r\n",
    b"GET /v1/boxes HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n",
    b"GET /v1/boxes HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100000 + b"\r\n\r\n",
    b"POST /v1/boxes HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
    b"POST /v1/boxes HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n",
    b"POST /v1/boxes HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    b"POST /v1/boxes HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10\r\n\r\n{\"a\x00\xff\"",
    b"GET /v1/boxes/\x00\x01\x7f HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /v1/boxes/%00%2e%2e%2f HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /v1/boxes/" + b"x" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST /v1/boxes HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 4\r\n\r\n\xc3\x28\xa0\xa1",
    b"GET /v1/boxes HTTP/1.1\r\nHost: x\r\nX-Request-Id: \x1b[31m\r\n\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64,  # a TLS hello
    b"GET /v1/boxes HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n",  # then hang up
]
for r in reqs:
    s = socket.create_connection((host, int(port)), timeout=10)
    try:
        s.sendall(r)
        s.shutdown(socket.SHUT_WR)
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            data += chunk
    except (BrokenPipeError, ConnectionResetError):
        data = b""
    finally:
        s.close()
    status = data.split(b" ", 2)[1] if data.startswith(b"HTTP/") else b"-"
    if status == b"500":
        print("# unexpected reply to %r: %r" % (r[:60], data[:200]))
        sys.exit(1)
EOF
    kill -0 "$SRV_PID" || fail "the server died"
    api GET /v1/config; assert_code 200
    # 50 idle connections that send nothing: another client still gets answers at once
    python3 - "${URL#http://}" "$URL/v1/boxes" <<'EOF' || fail "idle connections starve the server"
import socket, subprocess, sys, time
host, port = sys.argv[1].rsplit(":", 1)
idle = [socket.create_connection((host, int(port))) for _ in range(50)]
t = time.monotonic()
code = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-m", "5", sys.argv[2]],
                      capture_output=True, text=True).stdout
took = time.monotonic() - t
for s in idle:
    s.close()
if code != "200" or took > 2:
    print("# GET with 50 idle connections: %s in %.2f s" % (code, took))
    sys.exit(1)
EOF
    # an escape sequence in the request id is not echoed
    api GET /v1/boxes -H $'X-Request-Id: a\tb'; assert_not_contains "$HDRS" $'a\tb'
    serve_stop
}

t_usage() {
    bl serve --port x; assert_rc 2
    bl serve --port 70000; assert_rc 2
    bl serve extra; assert_rc 2
    bl serve --help; assert_rc 0; assert_contains "$OUT" "BOXLITE_SERVE_API_KEY"
    bl serve --host no.such.host.invalid --port 0; assert_rc 1
    assert_contains "$ERR" "Error: invalid --host"
    serve_start || return
    bl serve --port "${URL##*:}"; assert_rc 1; assert_contains "$ERR" "cannot listen on"
    serve_stop
}

# Upstream's published Node SDK in REST mode (installed under /tmp, never in the repo):
# list, create with the nested network shape, info, start, stop, remove, errors.
# (one directory per user: the suite also runs as a plain user)
NODE_SDK_DIR=${BOXLITE_TEST_NODE_SDK_DIR:-/tmp/boxlite-test-node-sdk-0.10.0-$(id -u)}
node_sdk() {
    if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
        T_SKIP="node/npm not installed"; return 1
    fi
    mkdir -p "$NODE_SDK_DIR" || { T_SKIP="cannot create $NODE_SDK_DIR"; return 1; }
    (
        flock 9
        [ -e "$NODE_SDK_DIR/node_modules/@boxlite-ai/boxlite/package.json" ] && exit 0
        cd "$NODE_SDK_DIR" && timeout 300 npm install --ignore-scripts --no-audit --no-fund \
            --silent @boxlite-ai/boxlite@0.10.0 >npm.log 2>&1
    ) 9>"$NODE_SDK_DIR/.lock" || {
        T_SKIP="npm install @boxlite-ai/boxlite@0.10.0 failed (offline?): $(tail -n1 "$NODE_SDK_DIR/npm.log" 2>/dev/null)"
        return 1
    }
}
t_node_sdk_rest() {
    node_sdk || { diag "SKIP: $T_SKIP"; return; }
    setup
    serve_start --api-key k123 || return
    cat >"$NODE_SDK_DIR/smoke.mjs" <<'EOF'
import { JsBoxlite, BoxliteRestOptions, ApiKeyCredential } from '@boxlite-ai/boxlite';
const rt = JsBoxlite.rest(new BoxliteRestOptions({url: process.argv[2], credential: new ApiKeyCredential(process.argv[3])}));
const out = [];
out.push('list ' + (await rt.listInfo()).length);
const b = await rt.create({image: 'busybox', cmd: ['sleep', '300'], env: [{key: 'A', value: '1'}],
                           workingDir: '/tmp', network: {outbound: {mode: 'disabled'}}}, 'sdkbox');
out.push('created ' + (b.id.length === 12));
out.push('info ' + (await rt.getInfo('sdkbox')).state.status);
await b.start();
const info = await rt.getInfo('sdkbox');
out.push('started ' + info.state.status + ' ' + info.state.running + ' ' + (info.state.pid > 0));
out.push('list ' + (await rt.listInfo()).map(i => i.name).join(','));
await b.stop();
out.push('stopped ' + (await rt.getInfo('sdkbox')).state.status);
await rt.remove('sdkbox', false);
out.push('list ' + (await rt.listInfo()).length);
out.push('nope ' + ((await rt.getInfo('nope')) ?? 'null'));
const bad = JsBoxlite.rest(new BoxliteRestOptions({url: process.argv[2], credential: new ApiKeyCredential('wrong')}));
try { await bad.listInfo(); out.push('bad key accepted'); } catch (e) { out.push('bad key refused'); }
console.log(out.join('\n'));
EOF
    OUT=$(cd "$NODE_SDK_DIR" && timeout 120 node smoke.mjs "$URL" k123 2>&1); RC=$?
    assert_rc 0
    assert_eq "$OUT" $'list 0\ncreated true\ninfo configured\nstarted running true true\nlist sdkbox\nstopped stopped\nlist 0\nnope null\nbad key refused'
    bl inspect sdkbox; assert_rc 1 # removed for real
    serve_stop
}

run_tests t_config_me_metrics_routes t_auth t_box_lifecycle t_create_validation \
    t_network_shapes t_auto_delete t_concurrent_requests t_shutdown_stops_owned_boxes t_sigkill_then_cli \
    t_two_servers_and_cli t_hostile_input t_usage t_node_sdk_rest
