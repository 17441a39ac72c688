#!/usr/bin/env bash
# The conv backward by shares of the batch against the chunked route it
# replaces on several threads: the same binary, AL_CONV_SHARES=1 / 0,
# alternating in each round, the order swapped every other round (the
# first run of a pair was about 4% slower in the model: 15 rounds in one
# order, MobileNetV2 rows, whose code is the same both ways).
#   bench/results/2026-12-06-2core-epyc-conv-shares/ab.sh [BUILD] [ROUNDS]
# Prints one JSON line a run, prefixed "model JOB T SHARES" (the serial
# pool's model of T threads, bench/threads-model.sh) or "wall JOB T SHARES"
# (real threads); summarize.py reads them.
set -euo pipefail
build="${1:-build}"
rounds="${2:-7}"
bin="$build/bench_train"
for r in $(seq 1 "$rounds"); do
  if [ $((r % 2)) = 1 ]; then order="1 0"; else order="0 1"; fi
  for job in cnn mnv2; do
    n=1024; [ "$job" = mnv2 ] && n=256
    for t in 2 4 8 16; do
      for s in $order; do
        AL_CONV_SHARES=$s "$bin" --job "$job" --samples "$n" --model-threads "$t" 2>/dev/null | sed "s/^/model $job $t $s /"
      done
    done
  done
  # real threads: 4,096 images (128 steps; the first steps after the
  # warm-up of a 2-thread run were slow on this virtual machine)
  for t in 1 2; do
    for s in $order; do
      AL_CONV_SHARES=$s "$bin" --job cnn --samples 4096 --threads "$t" 2>/dev/null | sed "s/^/wall cnn $t $s /"
    done
  done
  for s in $order; do
    AL_CONV_SHARES=$s "$bin" --job mnv2 --samples 512 --threads 2 2>/dev/null | sed "s/^/wall mnv2 2 $s /"
  done
done
