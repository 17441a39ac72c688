#!/usr/bin/env bash
# The measurements behind the image scenario's defaults (README: "Choosing the
# defaults"): the freeze point and the device learning rate at 200 images per
# user, and augmentation at 20 images per user. Reuses one cloud model
# (pre-trained once, as the scenario does) and runs only global + autonomous.
#   scripts/image-sweeps.sh [CLOUD_MODEL]   (default out/cloud-image.gguf; made if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/fetch-data.sh fashion
cloud=${1:-out/cloud-image.gguf}
threads=${AL_THREADS:-$(nproc)}
bin=${AUTLEARN:-build/autlearn}
mkdir -p out
if [ ! -f "$cloud" ]; then
  "$bin" pretrain --data data/fashion-mnist --threads "$threads" --out "$cloud"
fi
run() {  # run LABEL ARGS...: one line of a markdown table
  local label=$1; shift
  # the recipe these rows measured: head training without the label-prior shift or L2-SP
  "$bin" scenario image --cloud "$cloud" --methods global,autonomous --threads "$threads" --quiet \
    --label-prior 0 --l2sp 0 --lr 0.05 \
    --json out/sweep.json "$@" >/dev/null
  /usr/bin/python3 - "$label" <<'PY'
import json, sys
j = json.load(open("out/sweep.json"))
g, a, c = j["global"], j["autonomous"], j["cost"]["autonomous"]
e = j["autonomous_epoch_seconds"]
print(f"| {sys.argv[1]} | {100*g['mean_acc']:.2f} | {100*a['mean_acc']:.2f} | {100*(a['mean_acc']-g['mean_acc']):+.2f} "
      f"| {c['macs_per_user']:.3g} | {c['seconds_per_user']:.3f} | {e['speedup']:.0f}x |")
PY
}
echo "| setting | global % | autonomous % | gain | MACs/user | s/user | later-epoch speed-up |"
echo "|---|---|---|---|---|---|---|"
for f in 10 12; do
  for lr in 0.01 0.05; do run "200/user, freeze $f, lr $lr" --freeze "$f" --lr "$lr"; done
done
for k in 1 4 8; do run "20/user, aug-variants $k" --per-user 20 --aug-variants "$k"; done
run "20/user, aug-variants 8, 20 epochs" --per-user 20 --aug-variants 8 --epochs 20
