#!/usr/bin/env bash
# Session 22: the pool's idle workers spin 100 us (by the clock) before they
# sleep, where they spun 500 pauses (about 10 us on this CPU). OLD: a build
# of b135f54; NEW: this build (AL_SPIN_US unset = 100 us; AL_SPIN_US=10 is
# about the old spin, 0 sleeps at once).
#   1. bench_pool 50 2000 (what a task costs above its work, by the gap
#      before it), OLD, NEW, NEW at 10 and NEW at 0 in turn, R rounds.
#   2. bench_train's CNN, LM and MobileNetV2 steps at 2 threads, OLD and NEW
#      in turn, R rounds: ms a step, CPU ms a step, and the futex and
#      sched_yield calls of one run of each under strace (the calls, not
#      the time, which strace distorts); and at 4 and 8 threads, more
#      threads than this machine's 2 cores, as an app gets beside others
#      that hold cores (a spinning worker then holds a core that a thread
#      with work waits for; the new spin yields it about every microsecond).
# usage: ab.sh OLD_BUILD NEW_BUILD [ROUNDS]   (build directories)
set -eu
OLD=$(readlink -f "$1"); NEW=$(readlink -f "$2"); R=${3:-3}
echo "# $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, $(date -u +%F)"
for r in $(seq 1 "$R"); do
  echo "== bench_pool round $r: old"; "$OLD/bench_pool" 50 2000 | tail -n +3
  echo "== bench_pool round $r: new"; env -u AL_SPIN_US "$NEW/bench_pool" 50 2000 | tail -n +3
  echo "== bench_pool round $r: new AL_SPIN_US=10"; AL_SPIN_US=10 "$NEW/bench_pool" 50 2000 | tail -n +3
  echo "== bench_pool round $r: new AL_SPIN_US=0"; AL_SPIN_US=0 "$NEW/bench_pool" 50 2000 | tail -n +3
done
samples() { case "$1" in lm) echo 640 ;; mnv2) echo 256 ;; *) echo 1024 ;; esac; }
for job in cnn lm mnv2; do
  n=$(samples $job)
  for b in old new; do
    d=$OLD; [ $b = new ] && d=$NEW
    calls=$(env -u AL_SPIN_US strace -f -c -e trace=futex,sched_yield "$d/bench_train" --job $job --samples "$n" --threads 2 2>&1 >/dev/null |
      awk '$NF=="futex"||$NF=="sched_yield"{printf "%s %s ", $NF, $4}')
    echo "calls $job $b $calls"
  done
done
for r in $(seq 1 "$R"); do
  for job in cnn lm mnv2; do
    n=$(samples $job)
    for t in 2 4 8; do
      echo "step $job $t old $("$OLD/bench_train" --job $job --samples "$n" --threads $t 2>/dev/null)"
      echo "step $job $t new $(env -u AL_SPIN_US "$NEW/bench_train" --job $job --samples "$n" --threads $t 2>/dev/null)"
    done
  done
done
