#!/usr/bin/env bash
# The measurements behind the image scenario's personalization defaults
# (README: "Choosing the defaults"): each device recipe on seeds 1, 2 and 3,
# global and autonomous only, one cloud model per seed (pre-trained once
# with the default recipe, reused). Prints one markdown row per recipe:
# autonomous accuracy (gain over global, later-epoch cache speed-up) per
# seed and the mean gain.
#   scripts/image-personalization.sh            the table of README
#   scripts/image-personalization.sh -- ARGS    one row for your own ARGS
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/fetch-data.sh fashion
threads=${AL_THREADS:-$(nproc)}
bin=${AUTLEARN:-build/autlearn}
mkdir -p out
for s in 1 2 3; do
  [ -f "out/cloud-s$s.gguf" ] || "$bin" pretrain --data data/fashion-mnist --seed "$s" --threads "$threads" \
    --out "out/cloud-s$s.gguf" >/dev/null
done
row() {  # row LABEL ARGS...
  local label=$1; shift
  for s in 1 2 3; do
    "$bin" scenario image --cloud "out/cloud-s$s.gguf" --seed "$s" --methods global,autonomous \
      --threads "$threads" --quiet --json "out/persweep-s$s.json" "$@" >/dev/null
  done
  /usr/bin/python3 - "$label" <<'PY'
import json, sys
cells, gains = [], []
for s in (1, 2, 3):
    j = json.load(open(f"out/persweep-s{s}.json"))
    g, a = j["global"]["mean_acc"], j["autonomous"]["mean_acc"]
    gains.append(a - g)
    sp = j["autonomous_epoch_seconds"]["speedup"]
    cells.append(f"{100*a:.2f} ({100*(a-g):+.2f}, " + (f"{sp:.0f}x)" if sp else "-)"))
print(f"| {sys.argv[1]} | " + " | ".join(cells) + f" | {100*sum(gains)/3:+.2f} |")
PY
}
echo "| recipe | seed 1 | seed 2 | seed 3 | mean gain |"
echo "|---|---|---|---|---|"
if [ "${1:-}" = "--" ]; then shift; row "$*" "$@"; exit 0; fi
off="--label-prior 0 --l2sp 0"
row "head, lr 0.05 (old default)" $off --lr 0.05
row "head + dense 256, lr 0.01" $off --freeze 10 --lr 0.01
row "conv3 and up, lr 0.01" $off --freeze 6 --lr 0.01
row "head + dense 256, L2-SP 1, lr 0.05" --label-prior 0 --freeze 10 --lr 0.05 --l2sp 1
row "head + dense 256, L2-SP 0.1, lr 0.05, 30 epochs" --label-prior 0 --freeze 10 --lr 0.05 --l2sp 0.1 --epochs 30
row "head + dense 256, lr 0.05 / 0.01 below" $off --freeze 10 --lr 0.05 --lr-split 12 --lr-below 0.2
row "head, 4 variants shift 1 only" $off --lr 0.05 --aug-variants 4 --aug-shift 1 --aug-rotate 0 \
  --aug-noise 0 --aug-contrast 0 --aug-brightness 0
row "label prior only (--epochs 1 --lr 1e-9: no training)" --l2sp 0 --epochs 1 --lr 1e-9
row "label prior, lr 0.05" --l2sp 0 --lr 0.05
row "label prior, lr 0.01" --l2sp 0 --lr 0.01
row "label prior, lr 0.003" --l2sp 0 --lr 0.003
row "label prior, L2-SP 1, lr 0.05" --lr 0.05
row "label prior, L2-SP 10, lr 0.01" --l2sp 10
row "label prior, L2-SP 1, lr 0.01 (default)"
