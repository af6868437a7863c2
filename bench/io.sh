#!/usr/bin/env bash
# bench/io.sh: data in and out of a box, against the same work on the host. Prints a markdown
# report on stdout.
#
#   bench/io.sh                          # 1 GiB, 3 timed rounds
#   BENCH_MIB=256 BENCH_RUNS=5 bench/io.sh
#
# What it measures (median wall time of BENCH_RUNS rounds, each case once per round, in an
# order rotated every round; one untimed warm-up round first):
#   1. a stream of BENCH_MIB MiB through `boxlite exec -i BOX cat`, vs through `cat` on the host
#      (dd from /dev/zero | X | dd to /dev/null, 1 MiB blocks)
#   2. the same stream written by the box to its stdout (`boxlite exec BOX dd if=/dev/zero`) vs
#      by the same dd on the host
#   3. a file of BENCH_MIB MiB through `boxlite exec -i BOX cat <FILE >FILE2` (a file is never
#      handed to the box: boxlite copies it through a pipe of the box's own), vs `cat` on the host
#   4. a tree of BENCH_MIB MiB (1 MiB files, 32 per directory) copied into a running box with
#      `boxlite cp`, vs `tar -c | tar -x` on the host between two directories of the same disk
#   5. the same tree copied out of the box with `boxlite cp`, and into and out of a stopped box
# The page cache is warm (nothing is dropped: other work may share the machine); copies write
# to the same disk as the source.
#
# Environment: BENCH_MIB (1024), BENCH_RUNS (3), BOXLITE (build/release/boxlite), BENCH_FIXTURES
# (build/fixtures), TMPDIR (scratch, default /tmp). Needs root and python3 (for the fixture).
set -euo pipefail
export LC_ALL=C

SELF=$(realpath "${BASH_SOURCE[0]}")
ROOT=$(cd "$(dirname "$SELF")/.." && pwd)
MIB=${BENCH_MIB:-1024}
RUNS=${BENCH_RUNS:-3}
BOXLITE=${BOXLITE:-$ROOT/build/release/boxlite}
FIX=${BENCH_FIXTURES:-$ROOT/build/fixtures}

die() { printf 'bench/io.sh: %s\n' "$*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "needs root"
[ -x "$BOXLITE" ] || die "$BOXLITE not built (make -j2)"
[ -e "$FIX/busybox.oci.tar" ] || python3 "$ROOT/tests/fixtures/mkimage.py" --name busybox --out "$FIX" >&2

W=$(mktemp -d "${TMPDIR:-/tmp}/bl-bench-io-XXXXXX")
H=$W/home
bl() { "$BOXLITE" --home "$H" "$@"; }
cleanup() {
    bl rm -a -f >/dev/null 2>&1 || true
    rm -rf "$W"
}
trap cleanup EXIT

bl load -i "$FIX/busybox.oci.tar" >/dev/null
bl run -d --name io --memory 4096 --cpus 2 busybox sleep 100000 >/dev/null
bl create --name cold --memory 4096 busybox >/dev/null

# the tree: 1 MiB files of random bytes, 32 per directory
mkdir -p "$W/tree"
head -c $((1024 * 1024)) /dev/urandom >"$W/one"
for ((i = 0; i < MIB; i++)); do
    d="$W/tree/d$((i / 32))"
    mkdir -p "$d"
    cp "$W/one" "$d/f$i"
done

now() { date +%s.%N; }
declare -A T
timed() { # KEY CMD...
    local key=$1 t0 t1
    shift
    t0=$(now)
    "$@"
    t1=$(now)
    T[$key]+="$(echo "$t1 - $t0" | bc) "
}

BYTES=$((MIB * 1024 * 1024))
src() { dd if=/dev/zero bs=1M count="$MIB" status=none; }
sink() { dd of=/dev/null bs=1M status=none; }
case_pipe_host() { src | cat | sink; }
case_pipe_box() { src | bl exec -i io cat | sink; }
case_out_host() { dd if=/dev/zero bs=1M count="$MIB" status=none | sink; }
case_out_box() { bl exec io dd if=/dev/zero bs=1M count="$MIB" status=none | sink; }
case_file_host() { cat <"$W/in" >"$W/fout"; }
case_file_box() { bl exec -i io cat <"$W/in" >"$W/fout"; }
case_tar_host() {
    rm -rf "$W/tarcopy"; mkdir "$W/tarcopy"
    tar -C "$W" -cf - tree | tar -C "$W/tarcopy" -xf -
}
case_cp_in() { bl exec io rm -rf /tmp/in; bl cp "$W/tree" io:/tmp/in; }
case_cp_out() { rm -rf "$W/out"; bl cp io:/tmp/in/tree "$W/out"; }
case_cp_in_stopped() { bl cp "$W/tree" cold:/in-$RANDOM$RANDOM; }
case_cp_out_stopped() { rm -rf "$W/out2"; bl cp cold:/seed/tree "$W/out2"; }

bl cp "$W/tree" cold:/seed
head -c "$BYTES" /dev/zero >"$W/in"
CASES=(pipe_host pipe_box out_host out_box file_host file_box tar_host cp_in cp_out cp_in_stopped cp_out_stopped)
for ((r = 0; r <= RUNS; r++)); do
    n=${#CASES[@]}
    for ((k = 0; k < n; k++)); do
        c=${CASES[$(((k + r) % n))]}
        if [ "$r" -eq 0 ]; then "case_$c"; else timed "$c" "case_$c"; fi
        sync
    done
    bl exec io sh -c 'rm -rf /in-*' 2>/dev/null || true
done

median() { tr ' ' '\n' | grep . | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
rate() { echo "scale=2; $BYTES / 1048576 / $1 / 1024" | bc; } # GiB/s
declare -A M
for c in "${CASES[@]}"; do M[$c]=$(echo "${T[$c]}" | median); done
ratio() { echo "scale=0; 100 * $1 / $2" | bc; }

cat <<EOF
### Data in and out of a box ($MIB MiB)

Produced by \`BENCH_MIB=$MIB BENCH_RUNS=$RUNS bench/io.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC');
$(nproc) CPUs, $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg) at the end; medians of $RUNS rounds.

| case | median s | GiB/s | vs host |
| --- | ---: | ---: | ---: |
| host: \`dd \| cat \| dd\` | ${M[pipe_host]} | $(rate "${M[pipe_host]}") | 100% |
| \`dd \| boxlite exec -i BOX cat \| dd\` | ${M[pipe_box]} | $(rate "${M[pipe_box]}") | $(ratio "${M[pipe_host]}" "${M[pipe_box]}")% |
| host: \`dd if=/dev/zero \| dd\` | ${M[out_host]} | $(rate "${M[out_host]}") | 100% |
| \`boxlite exec BOX dd if=/dev/zero \| dd\` | ${M[out_box]} | $(rate "${M[out_box]}") | $(ratio "${M[out_host]}" "${M[out_box]}")% |
| host: \`cat <FILE >FILE2\` | ${M[file_host]} | $(rate "${M[file_host]}") | 100% |
| \`boxlite exec -i BOX cat <FILE >FILE2\` (relayed) | ${M[file_box]} | $(rate "${M[file_box]}") | $(ratio "${M[file_host]}" "${M[file_box]}")% |
| host: \`tar -c \| tar -x\` of the tree | ${M[tar_host]} | $(rate "${M[tar_host]}") | 100% |
| \`boxlite cp TREE BOX:/tmp/in\` (running) | ${M[cp_in]} | $(rate "${M[cp_in]}") | $(ratio "${M[tar_host]}" "${M[cp_in]}")% |
| \`boxlite cp BOX:/tmp/in/tree DIR\` (running) | ${M[cp_out]} | $(rate "${M[cp_out]}") | $(ratio "${M[tar_host]}" "${M[cp_out]}")% |
| \`boxlite cp TREE BOX:/x\` (stopped) | ${M[cp_in_stopped]} | $(rate "${M[cp_in_stopped]}") | $(ratio "${M[tar_host]}" "${M[cp_in_stopped]}")% |
| \`boxlite cp BOX:/x DIR\` (stopped) | ${M[cp_out_stopped]} | $(rate "${M[cp_out_stopped]}") | $(ratio "${M[tar_host]}" "${M[cp_out_stopped]}")% |

"vs host" is the host's time divided by boxlite's (above 100%: faster than the host command).
EOF
