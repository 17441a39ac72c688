/* libFuzzer target for the model loader (not built by CMake yet). One way:
 *   CC=clang cmake -S . -B build-fuzz -DAL_BUILD_TESTS=OFF -DAL_BUILD_BENCH=OFF \
 *     -DCMAKE_C_FLAGS="-fsanitize=fuzzer-no-link,address,undefined \
 *                      -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION"
 *   cmake --build build-fuzz --target autlearn_static
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Isrc \
 *     tests/fuzz/fuzz_gguf.c build-fuzz/libautlearn.a -lz -lm -lpthread -o fuzz_gguf
 *   ./fuzz_gguf corpus/          (seed corpus: a few saved .gguf models)
 * FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION makes the reader ignore CRC
 * mismatches (a fuzzer cannot forge them), so the checks behind the CRC get
 * fuzzed too; never define it in a real build.
 * The input goes straight to al_model_load_mem, the same path al_model_load
 * takes after reading the file. Any status is fine; a crash, a sanitizer
 * report or a leak is a bug. */
#include "al_internal.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    al_model *m = NULL;
    if (al_model_load_mem(data, size, &m) == AL_OK) {
        /* exercise what a loaded model offers without touching the disk */
        (void)al_model_num_params(m);
        (void)al_model_macs(m);
        (void)al_model_spec(m);
        al_model_free(m);
    }
    return 0;
}
