#!/usr/bin/env bash
# The main job: the autonomous-learning pipeline on its default data.
# Fetches Fashion-MNIST (Debian package) into data/, then runs the image
# scenario with its defaults: pre-training in the "cloud" on public data, and
# per user the global model, local-only training, autonomous learning
# (on-device transfer learning with the runtime cache), centralized training
# and federated averaging. Results: out/scenario-image.json and .svg.
# Then the same on a user's photos: an image folder written from
# Fashion-MNIST (JPEG and PNG, 40x40, color), a cloud model pre-trained on 9
# of its classes, personalized on the user's folder, which also holds the
# 10th (bag): before and after accuracy, the new class apart.
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
echo >&2
echo "== your photos: personalize on an image folder (a class the cloud never saw) ==" >&2
rm -rf out/images-cloud out/photos
# the cloud's images: 1000 per class of 9 classes (bag held out); the user's
# photos: 20 other images per class of all 10, and 50 per class to score on
scripts/make-image-folder.py --out out/images-cloud --size 40 --color \
  --per-class 1000 --test-per-class 100 --hold-out bag
scripts/make-image-folder.py --out out/photos --size 40 --color --seed 2 \
  --skip 1000 --per-class 20 --test-per-class 50
build/autlearn pretrain --data out/images-cloud/train --test out/images-cloud/test --epochs 8 \
  --arch 'input 3x32x32; conv 8 k=3 p=1; relu; maxpool k=2; conv 16 k=3 p=1; relu; maxpool k=2; flatten; dense 64; relu; dense 9' \
  --threads "$threads" --out out/cloud-photos.gguf
build/autlearn personalize --model out/cloud-photos.gguf --data out/photos/train --test out/photos/test \
  --threads "$threads" --out out/personal-photos.gguf
build/autlearn info out/personal-photos.gguf | grep -E '^(images|classes):'
