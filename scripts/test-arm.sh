#!/usr/bin/env bash
# Cross-builds autlearn for aarch64 with Debian's gcc-aarch64-linux-gnu
# (cmake/toolchain-aarch64-linux-gnu.cmake) and runs the C unit tests under
# user-mode QEMU through ctest; on aarch64 the GEMM dispatch picks the NEON
# micro-kernel and test_gemm checks it against the reference. The shell tests
# (tests/test_*.sh: CLI, install, scenarios, ONNX, Java, reports) are not run
# here: they drive the CLI and host tools, and run in the native builds.
# Image decoding is built when libjpeg62-turbo-dev:arm64 and libpng-dev:arm64
# are installed (AL_IMAGES=AUTO), else left out (docs/DATA.md).
# Packages: scripts/deps.sh arm.   Environment: ARM_BUILD (build-arm64), JOBS (2).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${ARM_BUILD:-build-arm64}
JOBS=${JOBS:-2}
case "$(uname -m)" in
  aarch64 | arm64)
    echo "test-arm: this machine is aarch64: the native test run already covered it (NEON included)"
    exit 0
    ;;
esac
for tool in aarch64-linux-gnu-gcc; do
  command -v "$tool" >/dev/null || { echo "test-arm: $tool not found (scripts/deps.sh arm)" >&2; exit 1; }
done
command -v qemu-aarch64 >/dev/null || command -v qemu-aarch64-static >/dev/null ||
  { echo "test-arm: qemu-aarch64 not found (scripts/deps.sh arm)" >&2; exit 1; }
cmake -S . -B "$BUILD" -DCMAKE_TOOLCHAIN_FILE="$PWD/cmake/toolchain-aarch64-linux-gnu.cmake" \
  -DCMAKE_BUILD_TYPE=Release -DAL_BUILD_BENCH=OFF -DAL_IMAGES=AUTO >/dev/null
cmake --build "$BUILD" -j "$JOBS"
echo "test-arm: the C unit tests for aarch64 under qemu-aarch64 (shell tests are run by the native builds only)"
cd "$BUILD" && ctest --output-on-failure -j "$JOBS"
