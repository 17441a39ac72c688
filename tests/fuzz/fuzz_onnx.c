/* libFuzzer target for the ONNX importer (src/cloud/onnx/onnx_import.c).
 * Built by CMake with -DAL_FUZZ=ON (clang) and run by scripts/fuzz.sh, with
 * the seed corpus in tests/fuzz/corpus/fuzz_onnx/: small models exported by
 * tests/onnx_export.py with Debian's PyTorch (a conv + global pool + linear,
 * MobileNetV3's squeeze-excite pieces at opsets 13 and 14, an LSTM language
 * model, and the files the importer must refuse), and a dictionary of
 * operator and attribute names (fuzz_onnx.dict).
 * The input goes straight to al_model_import_onnx_mem, the path
 * al_model_import_onnx takes after reading the file: protobuf-c decodes it
 * (its allocations go through the library's allocator, so the fuzzers' cap
 * applies to them too), then the importer walks the graph. Any status with a
 * message is fine; a crash, a sanitizer report or a leak is a bug. A model
 * that imports must have a spec, a valid freeze point, and run (small ones:
 * a training and an inference pass). Without protobuf-c the importer is a
 * stub that refuses everything, which this target then checks. */
#include "fuzz_common.h"
#include "autlearn_cloud.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_begin();
    al_model *m = NULL;
    al_status st = al_model_import_onnx_mem(data, size, &m);
    fuzz_check_status(st);
    if (st != AL_OK) {
        FUZZ_ASSERT(m == NULL);
        return 0;
    }
    FUZZ_ASSERT(m != NULL);
    FUZZ_ASSERT(al_model_spec(m) != NULL);
    FUZZ_ASSERT(al_model_num_nodes(m) > 0);
    FUZZ_ASSERT(al_model_freeze_point(m) >= 0 && al_model_freeze_point(m) <= al_model_num_nodes(m));
    fuzz_run_passes(m);
    al_model_free(m);
    return 0;
}
