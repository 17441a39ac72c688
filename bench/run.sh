#!/usr/bin/env bash
# Training benchmark: autlearn (bench_train) against PyTorch (torch_train.py)
# on the reference CNN, same data, same settings, each run in its own process,
# for 1 and 2 threads. Prints a table of ratios (autlearn / pytorch) and writes
# all runs to out/bench/results.json. `make bench` installs the peers
# (scripts/deps.sh bench), builds, then runs this.
#
# Settings (environment):
#   BUILD               build directory, relative to the repo (default: build)
#   AL_BENCH_SAMPLES    training samples per run (default 2048, a multiple of 32)
#   AL_BENCH_THREADS    thread counts (default "1 2")
#   AL_BENCH_REPEAT     runs per implementation and thread count; the table
#                       shows the median by time (default 3)
#   AL_BENCH_DATA       directory with the IDX files (default: Debian's
#                       Fashion-MNIST; synthetic data when that is absent)
#   AL_BENCH_OUT        output directory (default: out/bench)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD:-build}"
case "$build" in /*) ;; *) build="$root/$build" ;; esac
bin="$build/bench_train"
py=/usr/bin/python3
samples="${AL_BENCH_SAMPLES:-2048}"
threads="${AL_BENCH_THREADS:-1 2}"
repeat="${AL_BENCH_REPEAT:-3}"
batch=32
epochs=1
out="${AL_BENCH_OUT:-$root/out/bench}"

die() { echo "bench/run.sh: $*" >&2; exit 1; }

[ -x "$py" ] || die "$py not found; install python3 (make bench runs scripts/deps.sh bench)"
"$py" -c 'import torch, numpy' 2>/dev/null ||
  die "PyTorch is missing: install python3-torch and python3-numpy (make bench runs scripts/deps.sh bench, which does)"
[ -x "$bin" ] || die "$bin not found; build first (make bench, or cmake --build $build)"

data_args=()
data_name=synthetic
if [ -n "${AL_BENCH_DATA:-}" ]; then
  [ -d "$AL_BENCH_DATA" ] || die "AL_BENCH_DATA=$AL_BENCH_DATA is not a directory"
  data_args=(--data "$AL_BENCH_DATA")
  data_name="$AL_BENCH_DATA"
elif ls /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte* >/dev/null 2>&1; then
  data_args=(--data /usr/share/datasets/fashion-mnist)
  data_name=fashion-mnist
else
  echo "bench/run.sh: Fashion-MNIST not installed (dataset-fashion-mnist); using synthetic data" >&2
fi

mkdir -p "$out"
runs="$out/runs.jsonl"
: >"$runs"
common=(--samples "$samples" --epochs "$epochs" --batch "$batch" "${data_args[@]}")

run_one() { # impl threads
  local line err
  err="$(mktemp)"
  if [ "$1" = autlearn ]; then
    line="$("$bin" "${common[@]}" --threads "$2" 2>"$err")" || { cat "$err" >&2; rm -f "$err"; die "bench_train --threads $2 failed"; }
  else
    line="$("$py" "$root/bench/torch_train.py" "${common[@]}" --threads "$2" 2>"$err")" || { cat "$err" >&2; rm -f "$err"; die "torch_train.py --threads $2 failed"; }
  fi
  rm -f "$err"
  line="$(printf '%s\n' "$line" | tail -n 1)"
  case "$line" in "{"*"}") ;; *) die "$1 --threads $2 printed no JSON line: $line" ;; esac
  printf '%s\n' "$line" >>"$runs"
  printf '  %-8s threads %s: %s\n' "$1" "$2" "$line" >&2
}

load="$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo 0)"
if awk -v l="$load" 'BEGIN { exit !(l > 0.5) }'; then
  echo "bench/run.sh: note: load average is $load before the runs; other work on the machine makes the times noisy" >&2
fi
echo "training benchmark: refcnn, batch $batch, $samples samples x $epochs epoch, data $data_name, $repeat run(s) each" >&2
# Interleaved, so slow drift of the machine hits both sides alike.
for _ in $(seq 1 "$repeat"); do
  for t in $threads; do
    run_one autlearn "$t"
    run_one pytorch "$t"
  done
done

RUNS="$runs" OUT="$out/results.json" DATA="$data_name" LOAD="$load" "$py" - <<'EOF'
import json, os, platform, statistics

runs = [json.loads(l) for l in open(os.environ["RUNS"]) if l.strip()]

def median_run(impl, t):
    rs = sorted((r for r in runs if r["impl"] == impl and r["threads"] == t), key=lambda r: r["seconds"])
    return rs[(len(rs) - 1) // 2] if rs else None

cpu = ""
try:
    for l in open("/proc/cpuinfo"):
        if l.startswith("model name"):
            cpu = l.split(":", 1)[1].strip()
            break
except OSError:
    pass

summary = []
for t in sorted({r["threads"] for r in runs}):
    a, p = median_run("autlearn", t), median_run("pytorch", t)
    summary.append({"threads": t, "autlearn": a, "pytorch": p,
                    "time_ratio": a["seconds"] / p["seconds"],
                    "mem_ratio": a["peak_rss_mb"] / p["peak_rss_mb"],
                    "process_mem_ratio": a["process_peak_rss_mb"] / p["process_peak_rss_mb"],
                    "cpu_ratio": a["cpu_seconds"] / p["cpu_seconds"]})

first = runs[0]
doc = {"benchmark": "train-refcnn", "data": os.environ["DATA"], "samples": first["samples"],
       "epochs": first["epochs"], "batch": first["batch"], "steps": first["steps"],
       "cpu": cpu, "cores": os.cpu_count(), "machine": platform.machine(),
       "loadavg_before": float(os.environ["LOAD"]),
       "summary": summary, "runs": runs}
with open(os.environ["OUT"], "w") as f:
    json.dump(doc, f, indent=1)
    f.write("\n")

print("refcnn training, batch %d, %d steps, data %s, median of %d run(s); ratio = autlearn / pytorch"
      % (first["batch"], first["steps"], os.environ["DATA"], len(runs) // (2 * len(summary))))
print("%-7s  %12s  %12s  %10s  %11s  %11s  %9s  %9s" % ("threads", "autlearn ms", "pytorch ms", "time ratio",
                                                       "autlearn MB", "pytorch MB", "mem ratio", "cpu ratio"))
for s in summary:
    a, p = s["autlearn"], s["pytorch"]
    print("%-7d  %12.2f  %12.2f  %10.2f  %11.1f  %11.1f  %9.2f  %9.2f" % (s["threads"], a["ms_per_step"],
          p["ms_per_step"], s["time_ratio"], a["peak_rss_mb"], p["peak_rss_mb"], s["mem_ratio"], s["cpu_ratio"]))
print("ms = wall time per training step (batch of %d); MB = peak RSS while training; cpu = process CPU time"
      % first["batch"])
print("final loss: " + ", ".join("%s/%dT %.4f" % (r["impl"], r["threads"], r["final_loss"])
                                 for s in summary for r in (s["autlearn"], s["pytorch"])))
print("results: %s" % os.environ["OUT"])
EOF
