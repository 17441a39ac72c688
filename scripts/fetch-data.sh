#!/usr/bin/env bash
# Fetches data sets into data/ (ignored by git) from Debian packages.
#   scripts/fetch-data.sh fashion   -> data/fashion-mnist/ (the four IDX .gz files)
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-fashion}"
case "$what" in
  fashion)
    dst=data/fashion-mnist
    if [ -f "$dst/t10k-labels-idx1-ubyte.gz" ]; then exit 0; fi
    src=/usr/share/datasets/fashion-mnist
    if [ ! -f "$src/train-images-idx3-ubyte.gz" ]; then
      SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
      $SUDO apt-get update -qq
      DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq dataset-fashion-mnist >/dev/null
    fi
    mkdir -p "$dst"
    cp "$src"/*-ubyte.gz "$dst"/
    echo "Fashion-MNIST in $dst" >&2
    ;;
  *) echo "fetch-data.sh: unknown data set '$what' (known: fashion)" >&2; exit 2 ;;
esac
