/* ONNX import of hostile files (tests/fuzz/corpus/fuzz_onnx/hostile_*.onnx,
 * written by tests/fuzz/make_onnx_hostile.py): numbers that drove the
 * importer into integer overflow or an out-of-bounds read before it checked
 * them. Each must fail with its status and a message naming the node or the
 * input (or, where the file is valid, import to the right shape), never
 * crash; under the sanitizer build (make test) also without a report. Skips
 * when the build has no ONNX import. */
#include "al_test.h"
#include "autlearn_cloud.h"

#define CORPUS AL_SOURCE_DIR "/tests/fuzz/corpus/fuzz_onnx"

/* Imports hostile_<name>.onnx: status `want` and a message containing `msg`;
 * on success the model, else NULL. */
static al_model *expect(const char *name, al_status want, const char *msg) {
    char path[1024];
    snprintf(path, sizeof path, "%s/hostile_%s.onnx", CORPUS, name);
    al_model *m = NULL;
    al_status st = al_model_import_onnx(path, &m);
    al_test_expect(name, st, want, msg);
    if (st) {
        CHECK(m == NULL);
        return NULL;
    }
    return m;
}

int main(void) {
    al_model *m = NULL;
    if (al_model_import_onnx_mem("x", 1, &m) == AL_EUNSUPPORTED && strstr(al_last_error(), "not built")) {
        fprintf(stderr, "test_onnx_hostile: SKIP: %s\n", al_last_error());
        return 0;
    }

    /* a fixed batch of 2^62; 2^72 values per sample at the input, out of an
     * Expand, out of a Concat (products and sums of sizes overflowed) */
    expect("batch_huge", AL_EUNSUPPORTED, "input 'x' has a fixed batch of 4611686018427387904");
    expect("input_numel_huge", AL_ERANGE, "input 'x' holds more than 67108864 values per sample");
    expect("expand_numel_huge", AL_ERANGE, "node 'expand' (Expand): output 'e' would hold more than 67108864");
    expect("concat_numel_huge", AL_ERANGE, "node 'cat' (Concat): the inputs add up to 4362076160 along axis 1");
    /* Slice of an empty constant with a negative step: empty (index 0 was read) */
    expect("slice_empty_negstep", AL_EFORMAT, "node 'gather' (Gather): index 0 is out of range 0..0");
    /* Slice of a layer output with step INT64_MAX: its first element (the length overflowed) */
    m = expect("slice_step_max", AL_OK, NULL);
    if (m) {
        al_tensor y = al_model_output_shape(m);
        CHECK(y.ndim == 1 && y.shape[0] == 1);
        al_model_free(m);
    }
    /* Range of int64 near 2^63: one element (start + delta passed 2^63 when
     * the count, taken in doubles, was 2) */
    expect("range_overflow", AL_EFORMAT, "node 'gather' (Gather): index 1 is out of range 0..1");
    /* ConstantOfShape of INT64_MAX: the value exact (it went through a double) */
    expect("cos_int64max", AL_EUNSUPPORTED, "node 'pad' (Pad): pad 9223372036854775807: each must be 0..64");
    /* a constant [N, N, 3] (the batch size past axis 0) joined to [N, 1, 3] on
     * axis 1: refused (its element count wrapped: a heap overflow) */
    expect("prepend_batch_axis", AL_EUNSUPPORTED, "node 'cat' (Concat): the constant's size along axis 1 must be");
    TEST_END("test_onnx_hostile");
}
