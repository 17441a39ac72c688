# Thin wrapper over CMake. The two commands of the README:
#   make demo   install what is missing, build, run the main job
#   make test   install what is missing, build, run the tests (also under ASan+UBSan)
JOBS ?= 2
BUILD ?= build
ASAN_BUILD ?= build-asan
ARM_BUILD ?= build-arm64
PREFIX ?= /usr/local
FUZZ_BUILD ?= build-fuzz
TSAN_BUILD ?= build-tsan
TSAN_TESTS ?= test_concurrent test_pool test_core test_serial_pool test_optim test_chunk test_trainer test_gemm test_conv
FUZZ_SECONDS ?= 60
CMAKE_FLAGS ?=

.PHONY: all build asan deps install test-arm test test-fast test-asan test-fuzz test-tsan demo bench clean golden data

all: build

deps:
	@scripts/deps.sh build

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

asan: deps
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAL_SANITIZE=ON -DAL_BUILD_BENCH=OFF $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)

# make install PREFIX=... [DESTDIR=...]: the device library (autlearn.h,
# libautlearn.a/.so), the cloud library (autlearn_cloud.h, libautlearn_cloud.a),
# the CLI, autlearn.pc, autlearn_cloud.pc and the CMake package (lib/cmake/autlearn)
install: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=$(abspath $(PREFIX)) $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)
	@DESTDIR="$(DESTDIR)" cmake --install $(BUILD)

# cross-build for aarch64 (Debian's gcc-aarch64-linux-gnu) and run the C unit
# tests, NEON GEMM kernel included, under qemu-aarch64
test-arm:
	@scripts/deps.sh arm
	@ARM_BUILD=$(ARM_BUILD) JOBS=$(JOBS) scripts/test-arm.sh

test-fast: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

test-asan: asan
	@cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest --output-on-failure -j $(JOBS)

# the tests that run threads, under ThreadSanitizer (its own build directory;
# not part of make test)
test-tsan: deps
	@cmake -S . -B $(TSAN_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAL_TSAN=ON -DAL_BUILD_BENCH=OFF $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(TSAN_BUILD) -j $(JOBS) --target $(TSAN_TESTS)
	@cd $(TSAN_BUILD) && TSAN_OPTIONS=halt_on_error=1 ctest --output-on-failure -j $(JOBS) \
		-R "^($(shell echo $(TSAN_TESTS) | tr ' ' '|'))$$"

# each libFuzzer target for FUZZ_SECONDS (clang, its own build directory)
test-fuzz:
	@scripts/deps.sh test
	@FUZZ_BUILD=$(FUZZ_BUILD) JOBS=$(JOBS) scripts/fuzz.sh $(FUZZ_SECONDS)

test:
	@scripts/deps.sh test
	@$(MAKE) --no-print-directory test-fast
	@$(MAKE) --no-print-directory test-asan
	@$(MAKE) --no-print-directory test-arm
	@$(MAKE) --no-print-directory test-fuzz

data:
	@scripts/deps.sh demo
	@scripts/fetch-data.sh fashion

demo:
	@scripts/deps.sh demo
	@$(MAKE) --no-print-directory build
	@scripts/demo.sh

bench:
	@scripts/deps.sh bench
	@$(MAKE) --no-print-directory build
	@bench/run.sh

golden:
	@scripts/deps.sh golden
	@/usr/bin/python3 scripts/gen_golden.py tests/golden

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(ARM_BUILD) $(FUZZ_BUILD)
