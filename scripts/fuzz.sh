#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/fuzz_*.c) with clang and runs each
# for SECONDS (default 60) from its seed corpus in tests/fuzz/corpus/<name>/.
# Fails (exit 1) on any finding: a crash, a sanitizer report, a leak, a
# timeout, a failed assertion of a harness. The input that triggered it is
# kept as $FUZZ_BUILD/fuzz-artifacts/<name>-crash-* (reproduce with
# `$FUZZ_BUILD/<name> <file>`); add it to the corpus once the bug is fixed.
#   scripts/fuzz.sh [SECONDS]
# Environment: FUZZ_BUILD (build directory, default build-fuzz), JOBS
# (fuzzers run at once, default 2), FUZZ_CC (default clang).
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-60}
case "$SECS" in '' | *[!0-9]*) echo "fuzz.sh: SECONDS must be a number, got '$SECS'" >&2; exit 2 ;; esac
BUILD=${FUZZ_BUILD:-build-fuzz}
JOBS=${JOBS:-2}
CC=${FUZZ_CC:-clang}
command -v "$CC" >/dev/null || { echo "fuzz.sh: $CC not found (scripts/deps.sh test installs clang)" >&2; exit 1; }

names=()
for f in tests/fuzz/fuzz_*.c; do names+=("$(basename "$f" .c)"); done
[ ${#names[@]} -gt 0 ] || { echo "fuzz.sh: no fuzz targets in tests/fuzz" >&2; exit 1; }

CC=$CC cmake -S . -B "$BUILD" -DAL_FUZZ=ON -DAL_BUILD_TESTS=OFF -DAL_BUILD_BENCH=OFF \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j "$JOBS" --target "${names[@]}" >"$BUILD/fuzz-build.log" 2>&1 ||
    { cat "$BUILD/fuzz-build.log" >&2; echo "fuzz.sh: build failed" >&2; exit 1; }

ART=$BUILD/fuzz-artifacts
LOGS=$BUILD/fuzz-logs
WORK=$(mktemp -d "${TMPDIR:-/tmp}/autlearn-fuzz.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$ART" "$LOGS"

# One fuzzer: new inputs go to a scratch corpus (the committed one is only
# read); -timeout flags an input that runs for more than 10 s.
run_one() {
    local name=$1 dict=() seeds=tests/fuzz/corpus/$1
    [ -f "tests/fuzz/$name.dict" ] && dict=(-dict="tests/fuzz/$name.dict")
    [ -d "$seeds" ] || { echo "fuzz.sh: $name has no seed corpus ($seeds)" >"$LOGS/$name.log"; return 1; }
    mkdir -p "$WORK/$name" "$WORK/tmp-$name"
    TMPDIR="$WORK/tmp-$name" ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        "$BUILD/$name" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$ART/$name-" "${dict[@]}" "$WORK/$name" "$seeds" >"$LOGS/$name.log" 2>&1
}

echo "fuzz.sh: ${names[*]} for ${SECS} s each, $JOBS at a time" >&2
running=0
for name in "${names[@]}"; do
    if [ "$running" -ge "$JOBS" ]; then
        wait -n || true
        running=$((running - 1))
    fi
    ( rc=0; run_one "$name" || rc=$?; echo "$rc" >"$WORK/$name.rc" ) &
    running=$((running + 1))
done
wait
fail=0
npass=0
for name in "${names[@]}"; do
    if [ "$(cat "$WORK/$name.rc" 2>/dev/null)" = 0 ]; then
        npass=$((npass + 1))
        runs=$(grep -Eo '^stat::number_of_executed_units: *[0-9]+' "$LOGS/$name.log" | grep -Eo '[0-9]+$' || echo '?')
        cov=$(grep -Eo 'DONE +cov: [0-9]+' "$LOGS/$name.log" | grep -Eo '[0-9]+$' || echo '?')
        echo "fuzz.sh: $name ok ($runs inputs, coverage $cov)" >&2
    else
        fail=1
        echo "fuzz.sh: $name FAILED; log $LOGS/$name.log, input in $ART/:" >&2
        grep -E 'ERROR|SUMMARY|FUZZ_ASSERT|Test unit written|==[0-9]+==' "$LOGS/$name.log" | head -20 >&2 || true
    fi
done
nfail=$((${#names[@]} - npass))
echo "fuzz: $npass passed, $nfail failed"
exit "$fail"
