#!/usr/bin/env bash
# bench/net.sh: box networking (issue 6), in one invocation, against the host
# talking to itself. Prints a markdown report on stdout.
#
#   bench/net.sh                   # 5 s of iperf3 per path, 300 connections
#   NET_SECONDS=10 NET_CONNECTS=1000 bench/net.sh
#
# Paths, each measured with iperf3 (TCP throughput, client -> server) and with
# bench/tcp-rr.py (a fresh connection, one byte there and back, close: median
# and 90th percentile of NET_CONNECTS rounds):
#   1. host -> host               127.0.0.1 on the host (the baseline)
#   2. box -> host loopback       a box with --allow-net host.boxlite.internal:PORT
#                                 to a server on the host's 127.0.0.1 (slirp4netns)
#   3. host -> box through -p     a server in a detached box, published on
#                                 127.0.0.1 (the shim's relay)
# The boxes use `--rootfs /` (the host's root, read-only below the box's own
# upper dir) so that iperf3 and python3 exist inside them.
#
# Needs root, iperf3, python3. BOXLITE: the binary (default build/release/boxlite).
set -euo pipefail
cd "$(dirname "$0")/.."
BOXLITE=${BOXLITE:-build/release/boxlite}
SECS=${NET_SECONDS:-5}
N=${NET_CONNECTS:-300}
[ -x "$BOXLITE" ] || make -j2 >/dev/null
command -v iperf3 >/dev/null || { echo "bench/net.sh: needs iperf3 (Debian's iperf3)" >&2; exit 1; }
HOME_DIR=$(mktemp -d "${TMPDIR:-/tmp}/bl-net-XXXXXX")
PIDS=""
cleanup() {
    local p
    for p in $PIDS; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    "$BOXLITE" --home "$HOME_DIR" rm -f srv srv2 >/dev/null 2>&1 || true
    rm -rf "$HOME_DIR"
}
trap cleanup EXIT
bl() { "$BOXLITE" --home "$HOME_DIR" "$@"; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
gbps() { python3 -c 'import json,sys; d=json.load(sys.stdin); print("%.2f" % (d["end"]["sum_received"]["bits_per_second"] / 1e9))'; }
RR=$(pwd)/bench/tcp-rr.py

# servers on the host's loopback
P_IPERF=$(free_port); P_RR=$(free_port)
iperf3 -s -B 127.0.0.1 -p "$P_IPERF" >/dev/null 2>&1 & PIDS="$PIDS $!"
python3 "$RR" server 127.0.0.1 "$P_RR" >/dev/null & PIDS="$PIDS $!"
sleep 0.5

host_tp=$(iperf3 -c 127.0.0.1 -p "$P_IPERF" -t "$SECS" -J | gbps)
host_rr=$(python3 "$RR" client 127.0.0.1 "$P_RR" "$N")

allow="--allow-net host.boxlite.internal:$P_IPERF --allow-net host.boxlite.internal:$P_RR"
# shellcheck disable=SC2086
box_tp=$(bl run --rm --rootfs / $allow iperf3 -c 10.0.2.2 -p "$P_IPERF" -t "$SECS" -J | gbps)
# shellcheck disable=SC2086
box_rr=$(bl run --rm --rootfs / $allow python3 "$RR" client 10.0.2.2 "$P_RR" "$N")

# servers in boxes, published
P_PUB=$(free_port); P_PUB_RR=$(free_port)
bl run -d --name srv --rootfs / -p "127.0.0.1:$P_PUB:5201" iperf3 -s -p 5201 >/dev/null
bl run -d --name srv2 --rootfs / -p "127.0.0.1:$P_PUB_RR:7000" python3 "$RR" server 0.0.0.0 7000 >/dev/null
for _ in $(seq 100); do
    python3 "$RR" client 127.0.0.1 "$P_PUB_RR" 1 >/dev/null 2>&1 && break
    sleep 0.05
done
sleep 0.3
pub_tp=$(iperf3 -c 127.0.0.1 -p "$P_PUB" -t "$SECS" -J | gbps)
pub_rr=$(python3 "$RR" client 127.0.0.1 "$P_PUB_RR" "$N")

cat <<REPORT
## Network (\`bench/net.sh\`, $(date -u '+%Y-%m-%d %H:%M UTC'), NET_SECONDS=$SECS NET_CONNECTS=$N)

| path | TCP throughput | connect + 1-byte round trip, median | p90 |
|---|---|---|---|
| host -> host (127.0.0.1) | ${host_tp} Gbit/s | ${host_rr% *} µs | ${host_rr#* } µs |
| box -> host loopback (host alias, slirp4netns) | ${box_tp} Gbit/s | ${box_rr% *} µs | ${box_rr#* } µs |
| host -> box (\`-p\`, the shim's relay) | ${pub_tp} Gbit/s | ${pub_rr% *} µs | ${pub_rr#* } µs |
REPORT
