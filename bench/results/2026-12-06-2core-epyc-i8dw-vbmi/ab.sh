#!/bin/sh
# The int8 frozen MobileNetV2 forward (bench_train --job mnv2_frozen_int8all,
# batch 32, 640 synthetic images) with the 3x3 byte-permute depthwise planes
# off (AL_I8DW_VBMI=0) and on (the default where the CPU has AVX-512 VBMI),
# the same binary, alternating; then bench_i8dw's per-layer table each way.
#   ab.sh BUILD ROUNDS
B=${1:-build}; R=${2:-8}
for r in $(seq "$R"); do
  for e in 0 1; do
    printf 'round %s vbmi %s 1t ' "$r" "$e"
    AL_I8DW_VBMI=$e taskset -c 1 "$B/bench_train" --job mnv2_frozen_int8all --threads 1 --samples 640 2>/dev/null |
      grep -o '"ms_per_step":[0-9.]*\|"cpu_seconds":[0-9.]*' | tr '\n' ' '; echo
    printf 'round %s vbmi %s 2t ' "$r" "$e"
    AL_I8DW_VBMI=$e "$B/bench_train" --job mnv2_frozen_int8all --threads 2 --samples 640 2>/dev/null |
      grep -o '"ms_per_step":[0-9.]*\|"cpu_seconds":[0-9.]*' | tr '\n' ' '; echo
  done
done
for e in 0 1 0 1; do echo "bench_i8dw AL_I8DW_VBMI=$e"; AL_I8DW_VBMI=$e taskset -c 1 "$B/bench_i8dw"; done
