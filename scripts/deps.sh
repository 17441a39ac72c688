#!/usr/bin/env bash
# Installs the Debian packages a target needs, only those that are missing.
#   scripts/deps.sh build   compiler, cmake, zlib, libjpeg-turbo, libpng
#   scripts/deps.sh test    build + what the test suite uses
#   scripts/deps.sh demo    build + the Fashion-MNIST data set, and PIL and NumPy
#                           (the demo writes an image folder from it)
#   scripts/deps.sh bench   build + PyTorch and OpenBLAS (the peers)
#   scripts/deps.sh arm     build + the aarch64 cross compiler, qemu-user and
#                           zlib, libjpeg-turbo and libpng for arm64 (Debian multiarch: adds
#                           the arm64 architecture)
#   scripts/deps.sh text    build + Node.js and npm (to fetch the text data sets)
set -euo pipefail
want=(gcc make cmake pkg-config zlib1g-dev libjpeg62-turbo-dev libpng-dev)
case "${1:-build}" in
  build) ;;
  test) want+=(clang libclang-rt-14-dev strace binutils) ;;
  demo) want+=(dataset-fashion-mnist python3-pil python3-numpy) ;;
  bench) want+=(python3-torch python3-torchvision python3-numpy libopenblas-dev dataset-fashion-mnist) ;;
  golden) want+=(python3-torch python3-numpy) ;;
  arm) want+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user zlib1g-dev:arm64
       libjpeg62-turbo-dev:arm64 libpng-dev:arm64) ;;
  text) want+=(nodejs npm) ;;
  *) echo "deps.sh: unknown target '$1'" >&2; exit 2 ;;
esac
# test: the Java binding's test (a JDK) and the report test's renderers
if [ "${1:-build}" = test ]; then want+=(openjdk-17-jdk-headless chromium librsvg2-bin); fi
# test: the image tests make their JPEG and PNG files with PIL
if [ "${1:-build}" = test ]; then want+=(python3-pil); fi
# test: ONNX import (protobuf-c, onnx.proto from python3-onnx) and its test's exporter (PyTorch)
if [ "${1:-build}" = test ]; then want+=(libprotobuf-c-dev protobuf-c-compiler python3-onnx python3-torch python3-torchvision python3-numpy); fi
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
# packages named <name>:arm64 come from Debian's arm64 archive (multiarch)
if printf '%s\n' "${missing[@]}" | grep -q ':arm64$' && ! dpkg --print-foreign-architectures | grep -qx arm64; then
  $SUDO dpkg --add-architecture arm64
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
