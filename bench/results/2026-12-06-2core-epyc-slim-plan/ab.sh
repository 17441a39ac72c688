#!/usr/bin/env bash
# Session 20: whole plans (OLD: a build of 15c3489) against slim plans (NEW:
# a build of 597271d), and NEW with the nodes' scratch counted in the chunk
# cap (ws: a trial switch, AL_DBG_WS=1, not kept in the code: the runs of
# it are in ab.txt and ab-scratch-cap.txt only). Each run its own process,
# the order of the variants reversed every other round.
# usage: ab.sh OLD_BUILD NEW_BUILD IMAGE_CLOUD_GGUF [ROUNDS]
#   IMAGE_CLOUD_GGUF: out/cloud-image.gguf of `make demo`
set -u
OLD=$1; NEW=$2; M=$3; R=${4:-6}
D=$(cd "$(dirname "$0")/../../.." && pwd)/data/fashion-mnist
run_img() { # label bin ws
  env ${3:+AL_DBG_WS=1} taskset -c 1 $2/autlearn personalize --model $M --user 0 --out /tmp/ab-p.gguf --threads 1 --json --data $D --predict-first --no-cache 2>/dev/null |
  python3 -c "import json,sys; j=json.load(sys.stdin); print('$1 image train_cpu %.4f predict_cpu %.4f job_peak_alloc_mb %.2f planned_mb %.2f acc %.4f' % (j['train_cpu_seconds'], j['predict_cpu_seconds'], j['job_peak_alloc_mb'], j['planned_mb'], 0))"
}
run_b() { # label bin ws job threads
  pre=""; [ $5 = 1 ] && pre="taskset -c 1"
  env ${3:+AL_DBG_WS=1} $pre $2/bench_train --job $4 --samples 320 --threads $5 2>/dev/null |
  python3 -c "import json,sys; j=json.load(sys.stdin); print('$1 %s threads %d ms %.3f peak_rss_mb %.1f rss_increase_mb %.1f' % (j['job'], j['threads'], j['ms_per_step'], j['peak_rss_mb'], j['rss_increase_mb']))"
}
for r in $(seq 1 $R); do
  if [ $((r % 2)) = 1 ]; then order="old new ws"; else order="ws new old"; fi
  for v in $order; do case $v in old) b=$OLD; w="";; new) b=$NEW; w="";; ws) b=$NEW; w=1;; esac
    run_img $v $b "$w"
    for t in 1 2; do for j in mnv2_frozen mnv2; do run_b $v $b "$w" $j $t; done; done
  done
done
