#!/usr/bin/env bash
# Session 23: the chunked forward lends each part a GEMM pack buffer of
# what its range's GEMMs ask (the layers' pack_floats), where it lent one
# of al_gemm_pack_floats_max (2.2 MB on AVX-512) per part (749f74c); and the
# memory plans count each pool thread's own pack buffer at the most the
# job's passes ask of one thread, where they counted that maximum too
# (fe44f33). OLD: a build of 0baaf67; NEW: this build. bench_train's jobs whose frozen forward runs in
# chunks (MobileNetV2-0.5's training step and frozen forward, the
# personalization job) and the CNN and LM steps (no chunked range), at 1,
# 2, 4 and 8 threads, OLD and NEW in turn, R rounds: the memory the job's
# plan counts (planned_mb: al_trainer_plan_memory / al_personalize_plan_memory,
# what a memory budget is held against), the process's RSS increase over
# its footprint before the job (rss_increase_mb), ms a step, and the final
# loss (which must not change). 4 and 8 threads run on 2 cores here: their
# memory is what they would take on 4 or 8, their times are not quoted.
# OLD needs bench_train's planned_mb: build 0baaf67 with this commit's
# bench/bench_train.c (git show HEAD:bench/bench_train.c > bench/bench_train.c).
# usage: ab.sh OLD_BUILD NEW_BUILD [ROUNDS]   (build directories)
set -eu
OLD=$(readlink -f "$1"); NEW=$(readlink -f "$2"); R=${3:-3}
echo "# $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, $(date -u +%F)"
samples() { case "$1" in lm) echo 320 ;; mnv2|mnv2_frozen) echo 256 ;; personalize) echo 512 ;; *) echo 512 ;; esac; }
for r in $(seq 1 "$R"); do
  for job in mnv2 mnv2_frozen personalize cnn lm; do
    n=$(samples $job)
    for t in 1 2 4 8; do
      if [ $((r % 2)) = 1 ]; then order="old new"; else order="new old"; fi
      for b in $order; do
        d=$OLD; [ $b = new ] && d=$NEW
        echo "run $r $job $t $b $("$d/bench_train" --job $job --samples "$n" --threads $t 2>/dev/null | tail -1)"
      done
    done
  done
done
