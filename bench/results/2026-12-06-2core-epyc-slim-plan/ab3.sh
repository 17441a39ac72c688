#!/usr/bin/env bash
# Session 20: the compiled refcnn (bench/ablation.sh's OUT/work/img-compiled.gguf)
# in the image job with the default chunk (0: 16 samples at 597271d), 11 and 8.
# usage: ab3.sh BUILD MODEL [ROUNDS]
set -u
B=$1; M=$2; R=${3:-8}
D=$(cd "$(dirname "$0")/../../.." && pwd)/data/fashion-mnist
for r in $(seq 1 $R); do
  if [ $((r % 2)) = 1 ]; then order="0 11 8"; else order="8 11 0"; fi
  for c in $order; do for u in 0 1; do
    taskset -c 1 $B/autlearn personalize --model $M --user $u --out /tmp/ab-p3.gguf --threads 1 --json --data $D --predict-first --no-cache --forward-chunk $c 2>/dev/null |
      python3 -c "import json,sys; j=json.load(sys.stdin); print('chunk=$c user $u train_cpu %.4f predict_cpu %.4f alloc %.2f planned %.2f' % (j['train_cpu_seconds'], j['predict_cpu_seconds'], j['job_peak_alloc_mb'], j['planned_mb']))"
  done; done
done
