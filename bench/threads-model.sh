#!/usr/bin/env bash
# What the library's work split allows at T threads, from one core.
#
#   bench/threads-model.sh [BUILD_DIR]    (default: build)
#
# For each job, bench_train runs once on one thread (the one-thread CPU
# time) and once per T with --model-threads T: a serial pool that runs every
# task's T parts one after the other, the same split and the same results as
# T threads, each part timed in the thread's CPU time. The model's T-thread
# time is the time outside tasks plus each task's slowest part. It leaves
# out memory bandwidth, wake-ups and shared caches, so it is a ceiling on
# the speed-up, not a measurement of it (bench/device.sh measures that on a
# many-core machine). What it finds: the work that stays serial, the work a
# split adds (packing repeated per part), and parts of unequal size. CPU
# time, so a machine shared with other jobs disturbs it little.
#
# Environment: AL_MODEL_JOBS (default "cnn lm mnv2"), AL_MODEL_THREADS
# (default "2 4 8 16"), AL_MODEL_ROUNDS (default 3; medians), AL_MODEL_TASKS=1
# (each run's task table on stderr).
set -euo pipefail
build="${1:-build}"
bin="$build/bench_train"
[ -x "$bin" ] || { echo "bench/threads-model.sh: $bin not found (make build first)" >&2; exit 1; }
jobs="${AL_MODEL_JOBS:-cnn lm mnv2}"
threads="${AL_MODEL_THREADS:-2 4 8 16}"
rounds="${AL_MODEL_ROUNDS:-3}"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
samples() { case "$1" in lm) echo 640 ;; mnv2*) echo 256 ;; *) echo 1024 ;; esac; }
for r in $(seq 1 "$rounds"); do
  for job in $jobs; do
    n=$(samples "$job")
    "$bin" --job "$job" --samples "$n" 2>/dev/null | sed "s/^/$job 1 /" >>"$out"
    for t in $threads; do
      if [ "${AL_MODEL_TASKS:-0}" = 1 ]; then
        "$bin" --job "$job" --samples "$n" --model-threads "$t" | sed "s/^/$job $t /" >>"$out"
      else
        "$bin" --job "$job" --samples "$n" --model-threads "$t" 2>/dev/null | sed "s/^/$job $t /" >>"$out"
      fi
    done
  done
done
python3 - "$out" <<'PY'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    job, t, js = line.split(" ", 2)
    d = json.loads(js)
    rows.setdefault((job, int(t)), []).append(d)
med = lambda xs: statistics.median(xs)
print("| job | T | one thread, CPU ms a step | work at T (all parts), ms | serial (outside tasks), ms | model's ms a step at T | speed-up ceiling | efficiency ceiling |")
print("|---|---|---|---|---|---|---|---|")
for job in dict.fromkeys(j for j, _ in rows):
    one = med([1000 * d["cpu_seconds"] / d["steps"] for d in rows[(job, 1)]])
    for t in sorted(k for j, k in rows if j == job and k > 1):
        ds = rows[(job, t)]
        work = med([d["model_cpu_ms_per_step"] for d in ds])
        ser = med([d["model_outside_ms_per_step"] for d in ds])
        pred = med([d["model_ms_per_step"] for d in ds])
        print(f"| {job} | {t} | {one:.2f} | {work:.2f} | {ser:.2f} | {pred:.2f} | {one / pred:.2f} | {one / (t * pred):.2f} |")
PY
