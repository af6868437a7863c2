#!/usr/bin/env bash
# bench/pull.sh: wall-clock time of a cold pull of one ~100 MB, 5-layer image
# from a local registry (Debian's docker-registry on 127.0.0.1, plain http),
# with `boxlite pull` and with the usual tools (skopeo copy docker:// → oci:,
# the same plus umoci unpack, and podman pull), on this machine, in one
# invocation. Prints a markdown report on stdout.
#
#   bench/pull.sh                      # N=5 timed runs of each case
#   BENCH_RUNS=9 bench/pull.sh         # N=9
#
# Environment:
#   BENCH_RUNS     timed runs per case (default 5); the table shows the median
#   BOXLITE        boxlite binary (default build/release/boxlite; built with
#                  `make -j2` if missing). Copied into the scratch dir first so
#                  a rebuild during the benchmark cannot disturb it.
#   BENCH_FIXTURES where big.oci-dir lives or is built (default
#                  build/fixtures, by tests/fixtures/mkimage.py --name big)
#   TMPDIR         the scratch directory is made under it (default /tmp)
#
# Every run pulls into a new, empty store (a fresh boxlite home, OCI layout
# or podman root), so every case downloads every blob and, where the tool
# does that, unpacks every layer. The registry, its storage and every output
# live in the scratch directory and are removed on exit. Needs root (podman's
# overlay storage, umoci unpack without --rootless), docker-registry, skopeo,
# umoci, python3; podman is measured when it is installed (apt-get install
# podman) and works. Exits non-zero if a tool fails (its log is on stderr).
set -euo pipefail
export LC_ALL=C
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY # 127.0.0.1 only

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNS=${BENCH_RUNS:-5}
BOXLITE=${BOXLITE:-$ROOT/build/release/boxlite}
FIX=${BENCH_FIXTURES:-$ROOT/build/fixtures}

die() { printf 'bench/pull.sh: %s\n' "$*" >&2; exit 1; }
note() { printf '%s\n' "$*" >&2; }

[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS must be a positive integer, not '$RUNS'"
[[ -n ${EPOCHREALTIME:-} ]] || die "needs bash >= 5 (EPOCHREALTIME)"
((EUID == 0)) || die "run as root (podman overlay storage and umoci unpack need it)"
for t in docker-registry skopeo umoci python3 sync; do
    command -v "$t" >/dev/null || die "$t not found (tools/install-deps.sh; apt-get install $t)"
done

# ---------------------------------------------------------------- inputs ----
if [[ ! -x $BOXLITE ]]; then
    [[ $BOXLITE == "$ROOT/build/release/boxlite" ]] || die "BOXLITE=$BOXLITE is not executable"
    note "building boxlite (make -j2) ..."
    make -C "$ROOT" -j2 >&2 || die "make failed"
fi
OCI_DIR=$FIX/big.oci-dir
if [[ ! -f $OCI_DIR/index.json ]]; then
    note "building the fixture into $FIX ..."
    python3 "$ROOT/tests/fixtures/mkimage.py" --name big --out "$FIX" >&2 ||
        die "mkimage.py --name big failed"
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/boxlite-bench-pull.XXXXXX")
SHORT=$(mktemp -d /tmp/blpr.XXXXXX) # podman wants a runroot of at most 50 characters
REG_PID=
cleanup() {
    if [[ -n $REG_PID ]]; then kill "$REG_PID" 2>/dev/null || true; wait "$REG_PID" 2>/dev/null || true; fi
    rm -rf "$WORK" "$SHORT"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
mkdir "$WORK/bin" "$WORK/logs" "$WORK/runs"
cp "$BOXLITE" "$WORK/bin/boxlite"
BX=$WORK/bin/boxlite

# -------------------------------------------------------------- registry ----
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
REG=127.0.0.1:$PORT
cat >"$WORK/registry.yml" <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $WORK/storage
http:
  addr: $REG
  secret: boxlite-bench
EOF
docker-registry serve "$WORK/registry.yml" >"$WORK/logs/registry.log" 2>&1 &
REG_PID=$!
for ((i = 0; i < 200; i++)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
    sleep 0.05
done
(exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null || die "the registry did not start: $(cat "$WORK/logs/registry.log")"
python3 "$ROOT/tests/fixtures/regpush.py" push --registry "$REG" --src "$OCI_DIR" \
    --repo bench/big --tag latest >"$WORK/logs/push.log" || die "pushing the image failed"
IMAGE=$REG/bench/big:latest
printf '{"image_registries":[{"host":"%s","transport":"http"}]}\n' "$REG" >"$WORK/boxlite.json"

HAVE_PODMAN=0
PODMAN_NOTE=
podman_pull() {
    podman --root "$1/root" --runroot "$SHORT/${1##*/}" --tmpdir "$1/tmp" --storage-driver overlay \
        --cgroup-manager cgroupfs --events-backend file pull -q --tls-verify=false "$IMAGE"
}
if command -v podman >/dev/null; then
    if podman_pull "$WORK/podman-probe" >"$WORK/logs/podman-probe.log" 2>&1; then
        HAVE_PODMAN=1
    else
        PODMAN_NOTE="podman is installed but its pull failed here: $(tail -n 1 "$WORK/logs/podman-probe.log")"
    fi
    rm -rf "$WORK/podman-probe"
else
    PODMAN_NOTE="podman is not installed (apt-get install podman): not measured"
fi

# ----------------------------------------------------------------- cases ----
# Each case gets a fresh, not yet existing directory $1 for everything it writes.
NAMES=(boxlite skopeo skopeo_umoci)
((HAVE_PODMAN)) && NAMES+=(podman)
declare -A LABEL=(
    [boxlite]='boxlite pull (download, verify, unpack)'
    [skopeo]='skopeo copy docker:// → oci: (download only)'
    [skopeo_umoci]='skopeo copy + umoci unpack'
    [podman]='podman pull (overlay storage)'
)
case_boxlite() { "$BX" --home "$1/home" --config "$WORK/boxlite.json" pull "$IMAGE"; }
case_skopeo() { skopeo copy --src-tls-verify=false "docker://$IMAGE" "oci:$1/oci:big"; }
case_skopeo_umoci() {
    skopeo copy --src-tls-verify=false "docker://$IMAGE" "oci:$1/oci:big" &&
        umoci unpack --image "$1/oci:big" "$1/bundle"
}
case_podman() { podman_pull "$1"; }
declare -A CMD=(
    [boxlite]="boxlite --home D/home --config C pull $IMAGE"
    [skopeo]="skopeo copy --src-tls-verify=false docker://$IMAGE oci:D/oci:big"
    [skopeo_umoci]="skopeo copy … oci:D/oci:big && umoci unpack --image D/oci:big D/bundle"
    [podman]="podman --root D/root --runroot R --tmpdir D/tmp --storage-driver overlay --cgroup-manager cgroupfs --events-backend file pull -q --tls-verify=false $IMAGE"
)

# Sets CPU_US to the CPU time (user + sys, microseconds) of this shell's
# waited-for children so far, from the `times` builtin (no subshell).
children_cpu() {
    local f=$WORK/times.$BASHPID v m s
    local -a us
    times >"$f"
    { read -r _ && read -ra us; } <"$f"
    CPU_US=0
    for v in "${us[@]}"; do
        m=${v%%m*} s=${v#*m} s=${s%s}
        CPU_US=$((CPU_US + 10#$m * 60000000 + 10#${s%.*} * 1000000 + 10#${s#*.} * 1000))
    done
}

# run_case NAME TAG: one run into a fresh directory; prints "wall_us cpu_us".
run_case() {
    local name=$1 tag=$2 dir t0 t1 c0 c1 rc=0
    dir=$WORK/runs/$name.$tag
    mkdir "$dir"
    sync # earlier runs' writeback is not billed here
    children_cpu
    c0=$CPU_US
    t0=${EPOCHREALTIME//[!0-9]/}
    "case_$name" "$dir" >"$WORK/logs/$name.$tag.log" 2>&1 || rc=$?
    t1=${EPOCHREALTIME//[!0-9]/}
    children_cpu
    c1=$CPU_US
    if ((rc != 0)); then
        note "bench/pull.sh: $name (run $tag) failed with status $rc:"
        tail -n 20 "$WORK/logs/$name.$tag.log" >&2
        exit 1
    fi
    echo "$((10#$t1 - 10#$t0)) $((c1 - c0))"
}

secs() { printf '%d.%03d' "$(($1 / 1000000))" "$(($1 % 1000000 / 1000))"; }

# median/min/max of microsecond values, as seconds.
stats() {
    local -a v
    mapfile -t v < <(printf '%s\n' "$@" | sort -n)
    local n=${#v[@]} med
    if ((n % 2)); then med=${v[n / 2]}; else med=$(((v[n / 2 - 1] + v[n / 2]) / 2)); fi
    printf '%s %s %s' "$(secs "$med")" "$(secs "${v[0]}")" "$(secs "${v[n - 1]}")"
}

# ------------------------------------------------------------- machine ----
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
mem=$(awk '/^MemTotal:/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
fs=$(findmnt -no FSTYPE,SOURCE -T "$WORK" 2>/dev/null | head -n 1 | tr -s ' ' || true)
v_tools="$(skopeo --version); $(umoci --version)"
((HAVE_PODMAN)) && v_tools+="; $(podman --version)"
v_tools+="; $(docker-registry --version 2>/dev/null | head -n 1 || echo docker-registry)"
v_boxlite=$("$BX" --version)
commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
load0=$(cut -d' ' -f1-3 /proc/loadavg)
blobs_kib=$(du -k -s "$OCI_DIR/blobs" | cut -f1)

note "warm-up: one untimed run of each case ..."
for name in "${NAMES[@]}"; do
    run_case "$name" warmup >/dev/null
done

declare -A WALL=() CPU=()
n=${#NAMES[@]}
for ((r = 1; r <= RUNS; r++)); do
    note "round $r/$RUNS ..."
    for ((i = 0; i < n; i++)); do # rotate the order every round
        name=${NAMES[(i + r - 1) % n]}
        out=$(run_case "$name" "$r")
        WALL[$name]+="${out% *} "
        CPU[$name]+="${out#* } "
    done
done
load1=$(cut -d' ' -f1-3 /proc/loadavg)

# --------------------------------------------------------------- report ----
cat <<EOF
## Pulling from a local registry

- command: \`bench/pull.sh\` (BENCH_RUNS=$RUNS), $(date -u '+%Y-%m-%d %H:%M UTC')
- machine: nproc=$(nproc), $cpu, $mem, kernel $(uname -r) ($(uname -m)); scratch fs: $fs
- tools: $v_tools; $v_boxlite (commit $commit)
- load average before/after: $load0 / $load1
- image: \`tests/fixtures/mkimage.py --name big\` pushed to docker-registry on 127.0.0.1 (plain
  http, filesystem storage on the scratch fs): 5 gzip layers, $blobs_kib KiB of blobs, ~103 MiB
  unpacked

Wall-clock seconds, median of $RUNS runs (min and max beside it), each run pulling into a new
empty store (\`sync\` before each run, outside the timed region). One untimed warm-up run of each
case comes first; rounds run each case once, in an order rotated every round. CPU is the
client's only (the registry's is not counted).

| case | median s | min s | max s | CPU s (user+sys, median) |
| --- | ---: | ---: | ---: | ---: |
EOF
for name in "${NAMES[@]}"; do
    read -ra t <<<"${WALL[$name]}"
    read -r med lo hi <<<"$(stats "${t[@]}")"
    read -ra t <<<"${CPU[$name]}"
    read -r cpu _ <<<"$(stats "${t[@]}")"
    printf '| %s | %s | %s | %s | %s |\n' "${LABEL[$name]}" "$med" "$lo" "$hi" "$cpu"
done
cat <<EOF

Every run, in run order (wall s):

EOF
for name in "${NAMES[@]}"; do
    read -ra t <<<"${WALL[$name]}"
    printf -- '- %s:' "${LABEL[$name]}"
    for v in "${t[@]}"; do printf ' %s' "$(secs "$v")"; done
    printf '\n'
done
cat <<EOF

Commands (D is the run's fresh directory, R a short one for podman's runroot, C a config file with
\`{"image_registries":[{"host":"$REG","transport":"http"}]}\`):

EOF
for name in "${NAMES[@]}"; do
    printf -- '- %s: %s%s%s\n' "${LABEL[$name]}" '`' "${CMD[$name]}" '`'
done
[[ -z $PODMAN_NOTE ]] || printf '\n%s\n' "$PODMAN_NOTE"
