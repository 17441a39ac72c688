#!/usr/bin/env bash
# From PyTorch in the cloud to a personal model on the device, with a
# MobileNetV2 (README, "From PyTorch to a personal model"):
#   1. image folders from Fashion-MNIST: the cloud's (9 classes, bag held
#      out, 300 images a class) and the user's photos (20 other images of each
#      of the 10 classes; 50 a class to score on);
#   2. the cloud trains torchvision's MobileNetV2-0.5 on its folder with
#      Debian's PyTorch and exports ONNX (scripts/train-mobilenet.py);
#   3. autlearn import, with the preprocessing and the class names;
#   4. autlearn personalize on the user's photos, frozen through the tensor
#      /features/features.16/Add (the last two blocks, the 1x1 conv to 1280
#      and the classifier train), bag a new class.
# Needs the build (make build), python3-torch, python3-torchvision,
# python3-pil, python3-numpy and the data set (scripts/deps.sh demo, make data).
# About two minutes on 2 cores, most of it the cloud's training.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-out/pytorch-to-device}
data=${DATA:-data/fashion-mnist}
epochs=${EPOCHS:-6}
threads=${AL_THREADS:-2}
rm -rf "$out"
mkdir -p "$out"
scripts/make-image-folder.py --data "$data" --out "$out/cloud" --size 40 --color \
  --per-class 300 --test-per-class 50 --hold-out bag
scripts/make-image-folder.py --data "$data" --out "$out/photos" --size 40 --color --seed 2 \
  --skip 1000 --per-class 20 --test-per-class 50
/usr/bin/python3 scripts/train-mobilenet.py "$out/cloud" "$out/mnv2-cloud.onnx" "$epochs" 2>&1 | grep -v Warning
build/autlearn import "$out/mnv2-cloud.onnx" -o "$out/mnv2-cloud.gguf" --input-size 40x40 \
  --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225 --classes "$out/mnv2-cloud.classes" >"$out/import.txt"
head -1 "$out/import.txt"
build/autlearn eval --model "$out/mnv2-cloud.gguf" --data "$out/cloud/test"
build/autlearn personalize --model "$out/mnv2-cloud.gguf" --data "$out/photos/train" --test "$out/photos/test" \
  --freeze /features/features.16/Add --threads "$threads" --out "$out/mnv2-personal.gguf"
