#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The libFuzzer targets of tests/fuzz as a TAP test (docs/design/fuzzing.md): builds them
# (make BUILD=fuzz fuzz), then for every target replays its committed corpus
# (tests/fuzz/corpus/<target>/) and fuzzes it for FUZZ_TIME seconds (default 20), two targets at
# a time. Known crashes (tests/fuzz/crashes/<target>/) are replayed too: one that still crashes
# is an open bug, reported as a TODO and counted as skipped; one that no longer crashes says so.
# New inputs found while fuzzing go to a scratch directory, never into the committed corpus; a
# crash is kept under build/fuzz/artifacts/ with its log. Ends with one line
# "N passed, N failed, N skipped". Without clang's libFuzzer runtime everything is skipped,
# loudly, with the reason.
#
#   tests/fuzz/run.sh [-t SECONDS] [--no-build] [TARGET...]    (TARGET: fuzz-net, ...)
set -u
cd "$(dirname "$0")/../.." || exit 1
# absolute paths throughout: some targets chdir into a scratch directory of their own
TOP=$PWD
FUZZ_TIME=${FUZZ_TIME:-20}
BUILD_FIRST=1
while [ $# -gt 0 ]; do
    case $1 in
    -t) FUZZ_TIME=$2; shift 2 ;;
    --no-build) BUILD_FIRST=0; shift ;;
    *) break ;;
    esac
done
JOBS=${JOBS:-$(nproc)}
[ "$JOBS" -gt 2 ] && PAR=2 || PAR=$JOBS
[ "$PAR" -ge 1 ] || PAR=1

if [ $# -gt 0 ]; then
    targets=("$@")
else
    targets=()
    for f in tests/fuzz/fuzz-*.c; do
        t=$(basename "$f" .c)
        targets+=("$t")
    done
fi

skip_all() {
    echo "1..0 # SKIP $1"
    echo "fuzz: SKIPPED: $1" >&2
    echo "0 passed, 0 failed, 1 skipped"
    exit 0
}

# The toolchain: clang with libFuzzer's runtime (Debian: clang and libclang-rt-14-dev, both in
# tools/install-deps.sh).
command -v clang >/dev/null || skip_all "clang is not installed (tools/install-deps.sh)"
probe_dir=$(mktemp -d) || exit 1
trap 'rm -rf "$probe_dir"' EXIT
printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
    'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);' \
    'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void) d; (void) n; return 0; }' \
    >"$probe_dir/p.c"
if ! clang -fsanitize=fuzzer,address,undefined -o "$probe_dir/p" "$probe_dir/p.c" \
    >"$probe_dir/log" 2>&1; then
    skip_all "clang cannot link -fsanitize=fuzzer,address,undefined (libclang-rt-14-dev missing?): $(head -n1 "$probe_dir/log")"
fi

if [ "$BUILD_FIRST" = 1 ]; then
    if ! make -s -j"$JOBS" BUILD=fuzz fuzz >"$probe_dir/build.log" 2>&1; then
        cat "$probe_dir/build.log" >&2
        echo "1..1"
        echo "not ok 1 - build the fuzz targets (make BUILD=fuzz fuzz)"
        echo "0 passed, 1 failed, 0 skipped"
        exit 1
    fi
fi

ART=$TOP/build/fuzz/artifacts
mkdir -p "$ART"
export ASAN_OPTIONS=${FUZZ_ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

# Where a crash happened: the first frame in src/ of its report ("image-pull.c:274"), so that a
# known open bug found again while fuzzing counts as that bug and not as a new failure.
signature() {
    grep -a -m1 -o -E 'src/([a-z]+/)+[a-z0-9-]+\.c:[0-9]+' "$1" | sed 's|.*/||'
}

# One target: replay, known crashes, fuzz. Writes $probe_dir/<target>.tap (lines without numbers).
run_target() {
    local t=$1 bin=$TOP/build/fuzz/fuzz/$1 out=$probe_dir/$1.tap corpus=$TOP/tests/fuzz/corpus/$1
    local scratch="$probe_dir/$t.new" log="$probe_dir/$t.log"
    : >"$out"
    if [ ! -x "$bin" ]; then
        echo "not ok - $t: no binary $bin" >>"$out"
        return
    fi
    if [ ! -d "$corpus" ] || [ -z "$(ls -A "$corpus")" ]; then
        echo "not ok - $t: no corpus in $corpus" >>"$out"
        return
    fi
    local n; n=$(find "$corpus" -type f | wc -l)
    if "$bin" -runs=0 -timeout=25 -rss_limit_mb=2048 -artifact_prefix="$ART/$t-replay-" \
        "$corpus" >"$log" 2>&1; then
        echo "ok - $t: replay $n corpus inputs" >>"$out"
    else
        echo "not ok - $t: replay $n corpus inputs (log: $ART/$t-replay.log)" >>"$out"
        cp "$log" "$ART/$t-replay.log"
        grep -a -m1 -A25 -E 'ERROR:|property failed' "$log" | sed 's/^/# /' >>"$out"
    fi
    local known=""
    for c in "$TOP"/tests/fuzz/crashes/"$t"/*; do
        [ -f "$c" ] || continue
        if "$bin" -runs=1 -timeout=25 "$c" >"$log.crash" 2>&1; then
            echo "ok - $t: known crash $(basename "$c") no longer crashes: move it into $corpus" >>"$out"
        else
            echo "not ok - $t: known crash $(basename "$c") still crashes # TODO open bug, see tests/fuzz/crashes/README.md" >>"$out"
            known="$known $(signature "$log.crash")"
        fi
    done
    mkdir -p "$scratch"
    local start=$SECONDS
    if "$bin" -max_total_time="$FUZZ_TIME" -timeout=25 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$ART/$t-" "$scratch" "$corpus" >"$log" 2>&1; then
        local runs; runs=$(grep -a -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
        echo "ok - $t: fuzzed $((SECONDS - start)) s, ${runs:-?} inputs, nothing found" >>"$out"
    elif sig=$(signature "$log") && [ -n "$sig" ] && [[ " $known " == *" $sig "* ]]; then
        cp "$log" "$ART/$t.log"
        echo "not ok - $t: fuzzing $((SECONDS - start)) s found the known crash at $sig again # TODO open bug, see tests/fuzz/crashes/README.md" >>"$out"
    else
        cp "$log" "$ART/$t.log"
        echo "not ok - $t: fuzzing found a crash (input and log in $ART/, $t.log)" >>"$out"
        grep -a -m1 -A25 -E 'ERROR:|property failed' "$log" | sed 's/^/# /' >>"$out"
    fi
}

start=$SECONDS
running=0
for t in "${targets[@]}"; do
    run_target "$t" &
    running=$((running + 1))
    if [ "$running" -ge "$PAR" ]; then
        wait -n
        running=$((running - 1))
    fi
done
wait

pass=0 fail=0 skip=0 n=0
lines=()
for t in "${targets[@]}"; do
    while IFS= read -r line; do
        lines+=("$line")
    done <"$probe_dir/$t.tap"
done
total=0
for line in "${lines[@]}"; do
    case $line in "ok "* | "not ok "*) total=$((total + 1)) ;; esac
done
echo "1..$total"
for line in "${lines[@]}"; do
    case $line in
    "ok "*)
        n=$((n + 1)) pass=$((pass + 1))
        echo "ok $n ${line#ok }"
        ;;
    "not ok "*"# TODO"*)
        n=$((n + 1)) skip=$((skip + 1))
        echo "not ok $n ${line#not ok }"
        ;;
    "not ok "*)
        n=$((n + 1)) fail=$((fail + 1))
        echo "not ok $n ${line#not ok }"
        ;;
    *) echo "$line" ;;
    esac
done
echo "# fuzz: ${#targets[@]} targets, $((SECONDS - start)) s"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
