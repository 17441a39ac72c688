#!/usr/bin/env bash
# The main job: the autonomous-learning pipeline on its default data.
# Fetches Fashion-MNIST (Debian package) into data/, then runs the image
# scenario with its defaults: pre-training in the "cloud" on public data, and
# per user the global model, local-only training, autonomous learning
# (on-device transfer learning with the runtime cache), centralized training
# and federated averaging. Results: out/scenario-image.json and .svg.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/fetch-data.sh fashion
mkdir -p out
threads="${AL_THREADS:-$(nproc)}"
echo "== autlearn scenario image (threads: $threads) ==" >&2
build/autlearn scenario image --data data/fashion-mnist --threads "$threads" \
  --save-cloud out/cloud-image.gguf --json out/scenario-image.json --svg out/scenario-image.svg
echo >&2
echo "== one user's device, by hand: personalize the cloud model for user 0 ==" >&2
build/autlearn personalize --model out/cloud-image.gguf --data data/fashion-mnist --user 0 \
  --threads "$threads" --out out/personal-user0.gguf
build/autlearn info out/personal-user0.gguf | head -20
