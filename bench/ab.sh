#!/usr/bin/env bash
# Two builds of bench_train side by side: A (the change) against B (the
# baseline), in pairs (A B, then B A: which runs first alternates) so that a
# machine whose speed drifts moves both, each pair's ratio taken on its own.
#
#   bench/ab.sh BUILD_A BUILD_B [JOB ...]     (default jobs: cnn mnv2_frozen mnv2)
#
# A baseline build of another commit: git worktree add /tmp/base REV, then
# cmake -S /tmp/base -B /tmp/base/build -DCMAKE_BUILD_TYPE=Release and
# cmake --build /tmp/base/build --target bench_train.
# Per job: the median of each build's CPU ms a step (the process's CPU
# time over the timed steps, so another job on the machine disturbs it less
# than wall time; AB_METRIC=wall: wall ms a step, for several threads,
# whose workers' spin counts as CPU time) and the median, min and max of
# the pairs' ratios A/B.
# Environment: AB_ROUNDS (pairs, default 10), AB_THREADS (default 1),
# AB_PIN (a CPU list for taskset; default none), AB_SAMPLES (default: per job
# as bench/threads-model.sh, times 2).
set -euo pipefail
[ $# -ge 2 ] || { sed -n '2,20p' "$0" >&2; exit 2; }
a="$1/bench_train" b="$2/bench_train"
shift 2
for x in "$a" "$b"; do [ -x "$x" ] || { echo "bench/ab.sh: $x not found" >&2; exit 1; }; done
jobs="${*:-cnn mnv2_frozen mnv2}"
rounds="${AB_ROUNDS:-10}"
threads="${AB_THREADS:-1}"
pin=()
[ -n "${AB_PIN:-}" ] && pin=(taskset -c "$AB_PIN")
samples() {
  [ -n "${AB_SAMPLES:-}" ] && { echo "$AB_SAMPLES"; return; }
  case "$1" in lm) echo 1280 ;; mnv2_frozen*) echo 2048 ;; mnv2*) echo 1024 ;; *) echo 2048 ;; esac
}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
run() { "${pin[@]}" "$1" --job "$2" --samples "$3" --threads "$threads" 2>/dev/null; }
for job in $jobs; do
  n=$(samples "$job")
  for r in $(seq 1 "$rounds"); do
    if [ $((r % 2)) = 1 ]; then # which runs first alternates too
      ra=$(run "$a" "$job" "$n"); rb=$(run "$b" "$job" "$n")
    else
      rb=$(run "$b" "$job" "$n"); ra=$(run "$a" "$job" "$n")
    fi
    echo "$job A $ra" >>"$out"
    echo "$job B $rb" >>"$out"
  done
done
python3 - "$out" "$threads" "$rounds" "${AB_METRIC:-cpu}" <<'PY'
import json, re, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    job, side, js = line.split(" ", 2)
    # a NaN loss is not JSON; only the timing fields are read
    key = "seconds" if sys.argv[4] == "wall" else "cpu_seconds"
    sec = float(re.search(r'"' + key + r'":([0-9.]+)', js).group(1))
    steps = int(re.search(r'"steps":([0-9]+)', js).group(1))
    rows.setdefault(job, {"A": [], "B": []})[side].append(1000.0 * sec / steps)
what = "wall" if sys.argv[4] == "wall" else "CPU"
print(f"threads {sys.argv[2]}, {sys.argv[3]} pairs, {what} ms a step (medians); ratio A/B pair by pair")
print("| job | A | B | A/B median | min | max |")
print("|---|---|---|---|---|---|")
for job, d in rows.items():
    r = [x / y for x, y in zip(d["A"], d["B"])]
    print(f"| {job} | {statistics.median(d['A']):.2f} | {statistics.median(d['B']):.2f} | {statistics.median(r):.3f} | {min(r):.3f} | {max(r):.3f} |")
PY
