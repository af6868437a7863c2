#!/usr/bin/env bash
# bench/load.sh: wall-clock time to load one ~100 MB, 5-layer image with
# `boxlite load` and with the usual tools (skopeo copy, umoci unpack), on this
# machine, in one invocation. Prints a markdown report on stdout.
#
#   bench/load.sh                      # N=5 timed runs of each case
#   BENCH_RUNS=9 bench/load.sh         # N=9
#
# Environment:
#   BENCH_RUNS     timed runs per case (default 5); the table shows the median
#   BENCH_CLEAN    end (default): every run writes into a new directory and all
#                  of them are removed on exit; each: rm -rf each run's output
#                  right after it (untimed). See "Deletions" in the report.
#   BOXLITE        boxlite binary (default build/release/boxlite; built with
#                  `make -j2` if missing). It is copied into the temp dir first
#                  so that a rebuild during the benchmark cannot disturb it.
#   BENCH_FIXTURES where big.{docker.tar,oci.tar,oci-dir} live or are built
#                  (default build/fixtures, built by tests/fixtures/mkimage.py)
#   TMPDIR         the scratch directory is made under it (default /tmp)
#
# Needs root (umoci unpack without --rootless), skopeo, umoci and python3.
# Exits non-zero if any tool fails (its log is shown on stderr).
set -euo pipefail
export LC_ALL=C

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNS=${BENCH_RUNS:-5}
CLEAN=${BENCH_CLEAN:-end}
BOXLITE=${BOXLITE:-$ROOT/build/release/boxlite}
FIX=${BENCH_FIXTURES:-$ROOT/build/fixtures}

die() { printf 'bench/load.sh: %s\n' "$*" >&2; exit 1; }
note() { printf '%s\n' "$*" >&2; }

[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS must be a positive integer, not '$RUNS'"
[[ $CLEAN == end || $CLEAN == each ]] || die "BENCH_CLEAN must be 'end' or 'each', not '$CLEAN'"
[[ -n ${EPOCHREALTIME:-} ]] || die "needs bash >= 5 (EPOCHREALTIME)"
((EUID == 0)) || die "run as root (umoci unpack needs it; see umoci --rootless)"
for t in skopeo umoci python3 sync; do
    command -v "$t" >/dev/null || die "$t not found (tools/install-deps.sh; apt-get install $t)"
done

# ---------------------------------------------------------------- inputs ----
if [[ ! -x $BOXLITE ]]; then
    [[ $BOXLITE == "$ROOT/build/release/boxlite" ]] || die "BOXLITE=$BOXLITE is not executable"
    note "building boxlite (make -j2) ..."
    make -C "$ROOT" -j2 >&2 || die "make failed"
fi
DOCKER_TAR=$FIX/big.docker.tar
OCI_TAR=$FIX/big.oci.tar
OCI_DIR=$FIX/big.oci-dir
if [[ ! -f $DOCKER_TAR || ! -f $OCI_TAR || ! -f $OCI_DIR/index.json ]]; then
    note "building the fixture into $FIX ..."
    python3 "$ROOT/tests/fixtures/mkimage.py" --name big --out "$FIX" >&2 ||
        die "mkimage.py --name big failed"
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/boxlite-bench.XXXXXX")
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
mkdir "$WORK/bin" "$WORK/logs" "$WORK/runs"
cp "$BOXLITE" "$WORK/bin/boxlite"
BX=$WORK/bin/boxlite

# ----------------------------------------------------------------- cases ----
# Each case gets a fresh, not yet existing directory $1 for everything it
# writes (a boxlite home, an OCI layout, a bundle).
NAMES=(boxlite_docker boxlite_oci skopeo umoci skopeo_umoci)
declare -A LABEL=(
    [boxlite_docker]='boxlite load (docker-archive)'
    [boxlite_oci]='boxlite load (oci-archive)'
    [skopeo]='skopeo copy docker-archive → oci'
    [umoci]='umoci unpack (OCI layout, gzip layers)'
    [skopeo_umoci]='skopeo copy + umoci unpack'
)
case_boxlite_docker() { "$BX" --home "$1/home" load -i "$DOCKER_TAR"; }
case_boxlite_oci()    { "$BX" --home "$1/home" load -i "$OCI_TAR"; }
case_skopeo()         { skopeo copy "docker-archive:$DOCKER_TAR" "oci:$1/oci:big"; }
case_umoci()          { umoci unpack --image "$OCI_DIR:latest" "$1/bundle"; }
case_skopeo_umoci() {
    skopeo copy "docker-archive:$DOCKER_TAR" "oci:$1/oci:big" &&
        umoci unpack --image "$1/oci:big" "$1/bundle"
}
# The exact commands, for the report (D is the run's fresh directory).
rel() { if [[ $1 == "$ROOT"/* ]]; then echo "${1#"$ROOT"/}"; else echo "$1"; fi; }
R_DOCKER=$(rel "$DOCKER_TAR") R_OCI=$(rel "$OCI_TAR") R_DIR=$(rel "$OCI_DIR")
declare -A CMD=(
    [boxlite_docker]="boxlite --home D/home load -i $R_DOCKER"
    [boxlite_oci]="boxlite --home D/home load -i $R_OCI"
    [skopeo]="skopeo copy docker-archive:$R_DOCKER oci:D/oci:big"
    [umoci]="umoci unpack --image $R_DIR:latest D/bundle"
    [skopeo_umoci]="skopeo copy docker-archive:$R_DOCKER oci:D/oci:big && umoci unpack --image D/oci:big D/bundle"
)

# Sets CPU_US to the CPU time (user + sys, microseconds) used so far by this
# shell's waited-for children, from the `times` builtin, whose second line is
# e.g. "0m1.234s 0m0.567s". No subshell: a fork would start from zero.
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
    sync                        # earlier runs' writeback is not billed here
    children_cpu
    c0=$CPU_US
    t0=${EPOCHREALTIME//[!0-9]/}
    "case_$name" "$dir" >"$WORK/logs/$name.$tag.log" 2>&1 || rc=$?
    t1=${EPOCHREALTIME//[!0-9]/}
    children_cpu
    c1=$CPU_US
    if ((rc != 0)); then
        note "bench/load.sh: $name (run $tag) failed with status $rc:"
        tail -n 20 "$WORK/logs/$name.$tag.log" >&2
        exit 1
    fi
    [[ $CLEAN == each ]] && rm -rf "$dir"
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
fstype=${fs%% *}
if [[ $fstype == ext4 ]]; then
    dev=$(basename "${fs#* }")
    if [[ $(cat "/sys/fs/ext4/$dev/journal_task" 2>/dev/null) == "<none>" ]]; then
        fs="$fs, no journal"
    fi
fi
v_skopeo=$(skopeo --version)
v_umoci=$(umoci --version)
v_boxlite=$("$BX" --version)
commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
load0=$(cut -d' ' -f1-3 /proc/loadavg)

note "warm-up: one untimed run of each case ..."
for name in "${NAMES[@]}"; do
    run_case "$name" warmup >/dev/null
done
if [[ $CLEAN == end ]]; then    # every run is kept until exit: is there room?
    per_round=$(du -sk "$WORK/runs" | cut -f1)
    avail=$(df -Pk "$WORK" | awk 'NR == 2 { print $4 }')
    ((per_round * RUNS + 1048576 < avail)) ||
        die "need ~$((per_round * RUNS / 1024)) MiB free under $WORK; try BENCH_CLEAN=each"
fi

# Probe: the cost of creating an empty file here now. On ext4 without a
# journal it is ~10x higher for a few minutes after a large rm -rf (see the
# note printed at the end), which would inflate every unpacking case.
mkdir "$WORK/probe"
t0=${EPOCHREALTIME//[!0-9]/}
for ((i = 0; i < 2000; i++)); do : >"$WORK/probe/f$i"; done
t1=${EPOCHREALTIME//[!0-9]/}
probe_us=$(((10#$t1 - 10#$t0) / 2000))
((probe_us < 150)) ||
    note "warning: creating a file takes ${probe_us} µs here now; results will be inflated"

declare -A WALL=() CPU=()
n=${#NAMES[@]}
for ((r = 1; r <= RUNS; r++)); do
    note "round $r/$RUNS ..."
    for ((i = 0; i < n; i++)); do            # rotate the order every round
        name=${NAMES[(i + r - 1) % n]}
        out=$(run_case "$name" "$r")
        WALL[$name]+="${out% *} "
        CPU[$name]+="${out#* } "
    done
done
load1=$(cut -d' ' -f1-3 /proc/loadavg)

# --------------------------------------------------------------- report ----
cat <<EOF
## Loading a ~100 MB multi-layer image

- command: \`bench/load.sh\` (BENCH_RUNS=$RUNS BENCH_CLEAN=$CLEAN), $(date -u '+%Y-%m-%d %H:%M UTC')
- machine: nproc=$(nproc), $cpu, $mem, kernel $(uname -r) ($(uname -m)); scratch fs: $fs
- tools: $v_skopeo; $v_umoci; $v_boxlite (commit $commit)
- load average before/after: $load0 / $load1; empty-file creation probe: ${probe_us} µs/file
- image: 5 layers, $(du -k "$DOCKER_TAR" | cut -f1) KiB as docker-archive (uncompressed layers), \
$(du -k "$OCI_TAR" | cut -f1) KiB as oci-archive / OCI layout (gzip layers)

Wall-clock seconds, median of $RUNS runs (min and max beside it). Page cache is
not dropped; one untimed warm-up run of each case comes first so that every
case reads its inputs from page cache alike. Every run writes into a new empty
directory (\`sync\` before each run, outside the timed region); rounds run each
case once, in an order rotated every round.

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

Commands (D is the run's fresh directory):

EOF
for name in "${NAMES[@]}"; do
    printf -- '- %s: %s%s%s\n' "${LABEL[$name]}" '`' "${CMD[$name]}" '`'
done
if [[ $CLEAN == end ]]; then
    what='outputs are removed only on exit (BENCH_CLEAN=end), not between runs.'
else
    what='every run is followed by an rm -rf of its output (BENCH_CLEAN=each).'
fi
cat <<EOF

Deletions: $what
On ext4 without a journal the inode allocator skips, one by one, every inode
freed in the last 60 s (360 s while its inode-table block is dirty), so a run
that follows an rm -rf of thousands of files creates its own files many times
slower (compare the probe above with a tmpfs's ~10 µs).
EOF
