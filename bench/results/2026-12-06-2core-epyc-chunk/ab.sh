#!/usr/bin/env bash
# Session 17: the chunked forward at HEAD against --forward-chunk -1 /
# AL_BENCH_CHUNK=-1, the same binary, alternating, each run its own process.
# usage: ab.sh BUILD MODEL_GGUF ROUNDS
set -u
B=$1; M=$2; R=${3:-5}
echo "# $(date -u +%FT%TZ) $(git -C /work/main log -1 --format=%h) $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# image job: $B/autlearn personalize --model img-cloud.gguf --user 0 --threads 1 --data data/fashion-mnist --predict-first --no-cache [--forward-chunk -1], taskset -c 1"
for r in $(seq 1 $R); do for fc in -1 0; do
  taskset -c 1 $B/autlearn personalize --model $M --user 0 --out /tmp/ab-p.gguf --threads 1 --json --data /work/main/data/fashion-mnist --predict-first --no-cache --forward-chunk $fc 2>/dev/null |
  python3 -c "import json,sys; j=json.load(sys.stdin); print('image chunk=%d train_cpu %.4f predict_cpu %.4f job_peak_alloc_mb %.2f planned_mb %.2f' % ($fc, j['train_cpu_seconds'], j['predict_cpu_seconds'], j['job_peak_alloc_mb'], j['planned_mb']))"
done; done
echo "# bench_train: AL_BENCH_CHUNK=C $B/bench_train --job J --samples 320 --threads T (T=1 under taskset -c 1)"
for r in $(seq 1 $R); do for t in 1 2; do for j in mnv2_frozen mnv2 mnv2_frozen_int8all; do for c in -1 0; do
  pre=""; [ $t = 1 ] && pre="taskset -c 1"
  AL_BENCH_CHUNK=$c $pre $B/bench_train --job $j --samples 320 --threads $t 2>/dev/null |
  python3 -c "import json,sys; j=json.load(sys.stdin); print('%s threads %d chunk=%d ms %.3f cpu_s %.4f peak_rss_mb %.1f rss_increase_mb %.1f' % (j['job'], j['threads'], $c, j['ms_per_step'], j['cpu_seconds'], j['peak_rss_mb'], j['rss_increase_mb']))"
done; done; done; done
