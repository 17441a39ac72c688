#!/usr/bin/env bash
# The benchmark on a many-core machine with a current PyTorch, from a tree
# built elsewhere (no compiler needed there): the same bench/run.sh, with
# the machine, the PyTorch build and the thread settings printed first.
#
#   bench/device.sh PREBUILT OUTDIR
#
# PREBUILT holds bench_train (and bench_gemm for the gemm job) built on
# another x86-64 machine, e.g.
#   cmake --build build && mkdir -p devbin && cp build/bench_train build/bench_gemm build/bench_pool devbin/
# OUTDIR receives machine.txt, log.txt and results.json (bench/run.sh's),
# and model.md: bench/threads-model.sh's ceilings for the same build (one
# round; AL_DEVICE_MODEL=0 skips it), to set the measured scaling beside
# what the work split allows; and chunk.txt: the chunked forward against
# node by node (AL_BENCH_CHUNK=-1) for MobileNetV2's frozen forward, float
# and every-conv int8, and its training step at the MobileNetV2 thread
# counts, alternating, AL_BENCH_REPEAT rounds (AL_DEVICE_CHUNK=0 skips it);
# shares.txt: the CNN step with the conv backward by shares of the batch
# (the default) against the chunked route (AL_CONV_SHARES=0), alternating,
# the order swapped every other round, at the CNN thread counts, 4,096
# images (AL_DEVICE_SHARES=0 skips it); pool.txt: bench_pool's cost of a
# task beyond its work at 2 to 16 threads, with the workers' default spin
# (100 us) and about the spin before session 22 (AL_SPIN_US=10), when
# PREBUILT holds bench_pool (AL_DEVICE_POOL=0 skips it); spin.txt: the CNN,
# LM and MobileNetV2 steps at 4, 8 and 16 threads at those two spins,
# alternating (AL_DEVICE_SPIN=0 skips it).
# Settings: as bench/run.sh (AL_BENCH_JOBS, AL_BENCH_THREADS,
# AL_BENCH_MNV2_THREADS, AL_BENCH_REPEAT, ...); the defaults here sweep
# 1 2 4 8 16 threads for the CNN and LM steps and 1 4 8 16 for MobileNetV2.
# PYTHON (default: python3 on the PATH) must import torch and torchvision.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
pre="$(cd "${1:?usage: bench/device.sh PREBUILT OUTDIR}" && pwd)"
out="${2:?usage: bench/device.sh PREBUILT OUTDIR}"
mkdir -p "$out"
py="${PYTHON:-$(command -v python3)}"
[ -x "$pre/bench_train" ] || { echo "bench/device.sh: $pre/bench_train not found" >&2; exit 1; }
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "cores: $(nproc)"
  grep -m1 'model name' /proc/cpuinfo || true
  grep -m1 -o 'avx512[a-z_]*' /proc/cpuinfo | head -1 | sed 's/^/simd: /' || true
  "$py" -c 'import sys, torch, torchvision
print("python:", sys.version.split()[0])
print("torch:", torch.__version__, "torchvision:", torchvision.__version__)
print("torch threads default:", torch.get_num_threads(), "interop:", torch.get_num_interop_threads())
print(torch.__config__.parallel_info())
print(torch.__config__.show())'
} >"$out/machine.txt" 2>&1
cat "$out/machine.txt"
export AL_BENCH_PYTHON="$py"
export AL_BENCH_JOBS="${AL_BENCH_JOBS:-cnn lm mnv2}"
export AL_BENCH_THREADS="${AL_BENCH_THREADS:-1 2 4 8 16}"
export AL_BENCH_MNV2_THREADS="${AL_BENCH_MNV2_THREADS:-1 4 8 16}"
export AL_BENCH_REPEAT="${AL_BENCH_REPEAT:-2}"
export AL_BENCH_OUT="$out"
BUILD="$pre" "$root/bench/run.sh" 2>&1 | tee "$out/log.txt"
if [ "${AL_DEVICE_MODEL:-1}" != 0 ]; then
  AL_MODEL_ROUNDS="${AL_MODEL_ROUNDS:-1}" "$root/bench/threads-model.sh" "$pre" | tee "$out/model.md"
fi
# fields LINE: the step time, peak RSS (when asked: rss) and final loss of
# one bench_train JSON line, space-separated, in the line's order
fields() {
  local re='"ms_per_step":[0-9.]*\|"final_loss":[-0-9.e]*'
  [ "${2:-}" = rss ] && re="$re"'\|"peak_rss_mb":[0-9.]*'
  echo "$1" | grep -o "$re" | cut -d: -f2 | tr '\n' ' '
}
if [ "${AL_DEVICE_CHUNK:-1}" != 0 ]; then
  {
    echo "# threads job chunk(-1: node by node, 0: default) ms_per_step peak_rss_mb final_loss"
    for r in $(seq "$AL_BENCH_REPEAT"); do
      for t in $AL_BENCH_MNV2_THREADS; do
        for job in mnv2_frozen mnv2_frozen_int8all mnv2; do
          for c in -1 0; do
            line=$(AL_BENCH_CHUNK=$c "$pre/bench_train" --job "$job" --samples 256 --threads "$t" 2>/dev/null) || line=""
            echo "$t $job $c $(fields "$line" rss)"
          done
        done
      done
    done
  } | tee "$out/chunk.txt"
fi
if [ "${AL_DEVICE_SHARES:-1}" != 0 ]; then
  {
    echo "# threads AL_CONV_SHARES ms_per_step final_loss (cnn, 4096 images)"
    for r in $(seq "$AL_BENCH_REPEAT"); do
      if [ $((r % 2)) = 1 ]; then order="1 0"; else order="0 1"; fi
      for t in $AL_BENCH_THREADS; do
        for s in $order; do
          line=$(AL_CONV_SHARES=$s "$pre/bench_train" --job cnn --samples 4096 --threads "$t" 2>/dev/null) || line=""
          echo "$t $s $(fields "$line")"
        done
      done
    done
  } | tee "$out/shares.txt"
fi
if [ "${AL_DEVICE_POOL:-1}" != 0 ] && [ -x "$pre/bench_pool" ]; then
  for sp in 100 10; do
    echo "# AL_SPIN_US=$sp"
    AL_SPIN_US=$sp "$pre/bench_pool" 50 2000
  done | tee "$out/pool.txt"
fi
if [ "${AL_DEVICE_SPIN:-1}" != 0 ]; then
  {
    echo "# job threads AL_SPIN_US ms_per_step final_loss"
    for r in $(seq "$AL_BENCH_REPEAT"); do
      if [ $((r % 2)) = 1 ]; then order="100 10"; else order="10 100"; fi
      for job in cnn lm mnv2; do
        case $job in lm) n=640 ;; mnv2) n=256 ;; *) n=1024 ;; esac
        for t in 4 8 16; do
          for sp in $order; do
            line=$(AL_SPIN_US=$sp "$pre/bench_train" --job $job --samples $n --threads "$t" 2>/dev/null) || line=""
            echo "$job $t $sp $(fields "$line")"
          done
        done
      done
    done
  } | tee "$out/spin.txt"
fi
