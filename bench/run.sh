#!/usr/bin/env bash
# The benchmark, one command (`make bench` installs the peers with
# scripts/deps.sh bench, builds, then runs this): in one run, side by side,
#   gemm         autlearn's SGEMM against OpenBLAS, square 64..1024, 1 thread,
#                and the core's peak FLOP/s from an FMA loop (bench_gemm --json)
#   cnn          reference-CNN training step, batch 32, every layer trained,
#                against PyTorch, 1 and 2 threads
#   lm           reference-LM training step (batch 32 x 20 tokens, TBPTT),
#                against PyTorch, 1 and 2 threads
#   mnv2         MobileNetV2-0.5 at 96x96 (the network `autlearn import` makes of
#                torchvision's model, batch norms folded, compiled as `autlearn
#                compile` does): a training step with
#                features[:15] frozen (nodes [0, 78)) and the last three blocks,
#                the 1x1 conv to 1280 and the classifier trained (mnv2), and the
#                frozen part's forward alone in float (mnv2_frozen) and int8
#                (mnv2_frozen_int8; mnv2_frozen_int8s with static scales,
#                compile --calib; mnv2_frozen_int8all with --int8-dw
#                --int8-min-k 8 as well, every conv in int8 as on PyTorch's
#                side), against torchvision's model in PyTorch,
#                AL_BENCH_MNV2_THREADS threads
#   personalize  a personalization job (refcnn frozen below the output layer,
#                200 images, 10 epochs, batch 32, cache on) against the same
#                job in PyTorch as its users write it (the frozen features
#                computed once, inside the timer), and a second, named row
#                against PyTorch recomputing the frozen part every epoch
#                (personalize_nocache), 1 thread
#   size         the device library stripped (strip --strip-unneeded of a copy):
#                libautlearn.so (the real file, libautlearn.so.0.x.y) and
#                libautlearn.a, with the archive's largest objects; the cloud
#                library (libautlearn_cloud.a) and the CLI alongside. Alone:
#                AL_BENCH_JOBS=size bench/run.sh (needs no PyTorch)
# Each training run is its own process; autlearn and PyTorch runs alternate
# and the table shows the median by wall time. PyTorch gets T threads through
# torch.set_num_threads and OMP/OPENBLAS/MKL_NUM_THREADS=T (Debian's libtorch
# runs its BLAS on OpenBLAS's own threads otherwise, so a "1 thread" PyTorch
# run used 2 cores). Prints one table of ratios (autlearn / PyTorch,
# bench/report.py) and writes everything to out/bench/results.json.
#
# Settings (environment):
#   BUILD               build directory, relative to the repo (default: build)
#   AL_BENCH_SAMPLES    CNN training samples per run (default 2048, a multiple of 32)
#   AL_BENCH_LM_SAMPLES LM windows of 20 tokens per run (default 640: 20 steps)
#   AL_BENCH_THREADS    thread counts for cnn and lm (default "1 2")
#   AL_BENCH_MNV2_SAMPLES  images per MobileNetV2 run (default 320: 10 batches)
#   AL_BENCH_MNV2_THREADS  thread counts for mnv2 (default: AL_BENCH_THREADS)
#   AL_BENCH_JOBS       what to run (default "gemm cnn lm mnv2 personalize size")
#   AL_BENCH_REPEAT     runs per implementation, job and thread count (default 3)
#   AL_BENCH_DATA       directory with the IDX files (default: Debian's
#                       Fashion-MNIST; synthetic data when that is absent)
#   AL_BENCH_OUT        output directory (default: out/bench)
#   AL_BENCH_PYTHON     the Python with PyTorch (default /usr/bin/python3, Debian's;
#                       bench/device.sh passes a current PyTorch's)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD:-build}"
case "$build" in /*) ;; *) build="$root/$build" ;; esac
bin="$build/bench_train"
py="${AL_BENCH_PYTHON:-/usr/bin/python3}"
samples="${AL_BENCH_SAMPLES:-2048}"
lm_samples="${AL_BENCH_LM_SAMPLES:-640}"
threads="${AL_BENCH_THREADS:-1 2}"
jobs="${AL_BENCH_JOBS:-gemm cnn lm mnv2 personalize size}"
mnv2_samples="${AL_BENCH_MNV2_SAMPLES:-320}"
mnv2_threads="${AL_BENCH_MNV2_THREADS:-$threads}"
repeat="${AL_BENCH_REPEAT:-3}"
batch=32
out="${AL_BENCH_OUT:-$root/out/bench}"

die() { echo "bench/run.sh: $*" >&2; exit 1; }
has_job() { case " $jobs " in *" $1 "*) return 0 ;; esac; return 1; }

[ -x "$py" ] || die "$py not found; install python3 (make bench runs scripts/deps.sh bench)"
if has_job mnv2; then
  "$py" -c 'import torchvision' 2>/dev/null ||
    die "torchvision is missing: install python3-torchvision (make bench runs scripts/deps.sh bench, which does)"
fi
if has_job cnn || has_job lm || has_job personalize || has_job mnv2; then
  "$py" -c 'import torch, numpy' 2>/dev/null ||
    die "PyTorch is missing: install python3-torch and python3-numpy (make bench runs scripts/deps.sh bench, which does)"
  [ -x "$bin" ] || die "$bin not found; build first (make bench, or cmake --build $build)"
fi
if has_job size; then
  { [ -f "$build/libautlearn.a" ] && [ -e "$build/libautlearn.so" ]; } ||
    die "$build/libautlearn.a or libautlearn.so not found; build first (make bench, or cmake --build $build)"
fi

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

run_one() { # impl job threads args...
  local impl="$1" job="$2" t="$3" line err
  shift 3
  err="$(mktemp)"
  if [ "$impl" = autlearn ]; then
    line="$("$bin" --job "$job" --threads "$t" --batch "$batch" "$@" 2>"$err")" ||
      { cat "$err" >&2; rm -f "$err"; die "bench_train --job $job --threads $t failed"; }
  else
    line="$(OMP_NUM_THREADS="$t" OPENBLAS_NUM_THREADS="$t" MKL_NUM_THREADS="$t" \
      "$py" "$root/bench/torch_train.py" --job "$job" --threads "$t" --batch "$batch" "$@" 2>"$err")" ||
      { cat "$err" >&2; rm -f "$err"; die "torch_train.py --job $job --threads $t failed"; }
  fi
  rm -f "$err"
  line="$(printf '%s\n' "$line" | tail -n 1)"
  case "$line" in "{"*"}") ;; *) die "$impl $job --threads $t printed no JSON line: $line" ;; esac
  printf '%s\n' "$line" >>"$runs"
  printf '  %-8s %-11s threads %s: %s\n' "$impl" "$job" "$t" "$line" >&2
}

load="$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo 0)"
if awk -v l="$load" 'BEGIN { exit !(l > 0.5) }'; then
  echo "bench/run.sh: note: load average is $load before the runs; other work on the machine makes the times noisy" >&2
fi

gemm_json="$out/gemm.json"
echo '{}' >"$gemm_json"
if has_job gemm; then
  echo "gemm: autlearn vs OpenBLAS, 1 thread" >&2
  "$build/bench_gemm" 1 --json >"$gemm_json" || die "bench_gemm failed"
fi

if has_job cnn || has_job lm || has_job personalize || has_job mnv2; then
  echo "training: data $data_name, $repeat run(s) each, interleaved" >&2
fi
for _ in $(seq 1 "$repeat"); do
  for t in $threads; do
    if has_job cnn; then
      run_one autlearn cnn "$t" --samples "$samples" "${data_args[@]}"
      run_one pytorch cnn "$t" --samples "$samples" "${data_args[@]}"
    fi
    if has_job lm; then
      run_one autlearn lm "$t" --samples "$lm_samples"
      run_one pytorch lm "$t" --samples "$lm_samples"
    fi
  done
  if has_job mnv2; then
    for t in $mnv2_threads; do
      for j in mnv2 mnv2_frozen mnv2_frozen_int8 mnv2_frozen_int8s mnv2_frozen_int8all; do
        run_one autlearn "$j" "$t" --samples "$mnv2_samples"
        run_one pytorch "$j" "$t" --samples "$mnv2_samples"
      done
    done
  fi
  if has_job personalize; then
    run_one autlearn personalize 1 --samples 200 "${data_args[@]}"
    run_one pytorch personalize 1 --samples 200 "${data_args[@]}"
    run_one pytorch personalize_nocache 1 --samples 200 "${data_args[@]}"
  fi
done

size_json="$out/size.json"
echo '{}' >"$size_json"
if has_job size; then
  tmp="$(mktemp -d)"
  # --strip-unneeded keeps the symbols a link needs: the stripped archives
  # still link, the stripped .so keeps its dynamic symbols (its API)
  files=()
  for f in "$build/libautlearn.so" "$build/libautlearn.a" "$build/libautlearn_cloud.a" "$build/autlearn"; do
    [ -e "$f" ] || continue
    real="$(readlink -f "$f")"
    strip --strip-unneeded -o "$tmp/$(basename "$real")" "$real"
    files+=("$real")
  done
  mkdir "$tmp/objs"
  (cd "$tmp/objs" && ar x "$build/libautlearn.a")
  STRIPPED="$tmp" OBJS="$tmp/objs" "$py" -c '
import json, os, sys
d, s = os.environ["OBJS"], os.environ["STRIPPED"]
objs = sorted(((os.path.getsize(os.path.join(d, f)), f) for f in os.listdir(d)), reverse=True)
files = [{"file": os.path.basename(f), "bytes": os.path.getsize(f),
          "stripped_bytes": os.path.getsize(os.path.join(s, os.path.basename(f)))} for f in sys.argv[1:]]
by = {f["file"]: f for f in files}
so = next(f for f in files if f["file"].startswith("libautlearn.so"))
a = by["libautlearn.a"]
# library/bytes/stripped_bytes: the static device library, as before the cut
print(json.dumps({"library": "libautlearn.a", "bytes": a["bytes"], "stripped_bytes": a["stripped_bytes"],
                  "shared_library": so["file"], "shared_bytes": so["bytes"],
                  "shared_stripped_bytes": so["stripped_bytes"], "files": files,
                  "objects": len(objs), "top": [{"object": f, "bytes": b} for b, f in objs[:8]]}))' "${files[@]}" >"$size_json"
  rm -rf "$tmp"
fi

RUNS="$runs" GEMM="$gemm_json" SIZE="$size_json" OUT="$out/results.json" DATA="$data_name" LOAD="$load" \
  "$py" "$root/bench/report.py"
