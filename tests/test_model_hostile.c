/* Model files and spec strings whose numbers once drove the library past
 * its checks (tests/fuzz/corpus/fuzz_gguf/hostile_*.gguf, written by
 * tests/fuzz/make_gguf_hostile.py with valid checksums, so the loader's
 * checks behind them are what is tested). Each must fail with its status
 * and a message naming the layer and what is wrong, never build a model;
 * under the sanitizer build (make test) also without a report. */
#include "al_test.h"

#define CORPUS AL_SOURCE_DIR "/tests/fuzz/corpus/fuzz_gguf"

/* Loads hostile_<name>.gguf: status `want` and a message containing `msg`. */
static void expect_file(const char *name, al_status want, const char *msg) {
    char path[1024];
    snprintf(path, sizeof path, "%s/hostile_%s.gguf", CORPUS, name);
    al_model *m = NULL;
    al_status st = al_model_load(path, &m);
    al_test_expect(name, st, want, msg);
    CHECK(st != AL_OK || m != NULL);
    if (st) CHECK(m == NULL);
    al_model_free(m);
}

static void expect_spec(const char *spec, al_status want, const char *msg) {
    al_model *m = NULL;
    al_status st = al_model_from_spec(spec, 1, &m);
    al_test_expect(spec, st, want, msg);
    al_model_free(m);
}

int main(void) {
    /* reshape of a 1-value input to 6700417 x 16711935 x 164737 x -1: the
     * product of the sizes is 1 mod 2^64 (the three are the factors of
     * 2^64 - 1, the -1 counted as 2^64 - 1), and the check of each size
     * stopped at the first one past the input's count, so the model was
     * built with a -1 size and a concat of it along axis 1 copied 2^64 -
     * 2753074036095 floats (ASan: negative-size-param in cc_fwd_range) */
    expect_file("reshape_wrap", AL_EFORMAT,
                "model file: layer 0 (reshape): reshape: the target's sizes hold more than the 1 elements of [1]");
    expect_spec("input 1; reshape shape=6700417,16711935,164737,-1; concat 0 axis=1", AL_ESHAPE,
                "layer 0 (reshape): reshape: the target's sizes hold more than the 1 elements of [1]");
    /* the same product with the -1 first (inferred) or a size that is
     * checked only after the product is past the count */
    expect_spec("input 1; reshape shape=-1,6700417,16711935,164737", AL_ESHAPE, "hold more than the 1 elements");
    expect_spec("input 2; reshape shape=3,0", AL_EINVAL, "reshape: dim 1 is 0");
    expect_spec("input 2; reshape shape=3,-1,-1", AL_EINVAL, "reshape: dim 2 is -1");
    /* a concat of 65 operands of 2^26 along its axis: the sum, taken in an
     * int, wrapped to 2^26 (UBSan: signed integer overflow in concat_shape;
     * the forward then wrote 65 x 2^26 floats into the 2^26 of its output) */
    expect_file("concat_sum", AL_EFORMAT,
                "model file: layer 1 (concat): concat: the 65 operands add up to 4362076160 along axis 0, more than "
                "67108864");
    char spec[512];
    int o = snprintf(spec, sizeof spec, "input 4x4096x4096; flatten; concat 0");
    for (int k = 0; k < 63; k++) o += snprintf(spec + o, sizeof spec - (size_t)o, ",0");
    snprintf(spec + o, sizeof spec - (size_t)o, " axis=0");
    expect_spec(spec, AL_ESHAPE, "layer 1 (concat): concat: the 65 operands add up to 4362076160 along axis 0");
    expect_spec("input 4x4096x4096; flatten; concat 0 axis=0", AL_ESHAPE, "the 2 operands add up to 134217728");
    expect_spec("input 2x4096x4096; flatten; concat 0 axis=0", AL_OK, NULL);
    /* 2^26 outputs and 1000 class names (a 6 KB file): matching a name to
     * the classes walked the list from its first line for every output
     * (about 7 minutes a name); now one walk. The classes past the list's
     * last line are named by their numbers, as al_model_class_name says. */
    char path[1024];
    snprintf(path, sizeof path, "%s/hostile_classes_many.gguf", CORPUS);
    al_model *m = NULL;
    CHECK_OK(al_model_load(path, &m));
    if (m) {
        CHECK(al_model_num_classes(m) == 1 << 26);
        const char *names[] = {"zzz", "c999", "c0", "1000", "999", "67108863", "67108864", "01000", ""};
        const int want[] = {-1, 999, 0, 1000, -1, 67108863, -1, -1, -1};
        int map[9], unknown = -1;
        CHECK_OK(al_model_match_classes(m, names, 9, map, &unknown));
        for (int j = 0; j < 9; j++)
            if (map[j] != want[j]) {
                fprintf(stderr, "class '%s' matched %d, expected %d\n", names[j], map[j], want[j]);
                al_test_failures++;
            }
        CHECK(unknown == 5);
        char nm[64];
        CHECK_OK(al_model_class_name(m, 999, nm, sizeof nm));
        CHECK(strcmp(nm, "c999") == 0);
        CHECK_OK(al_model_class_name(m, 1000, nm, sizeof nm));
        CHECK(strcmp(nm, "1000") == 0);
        al_model_free(m);
    }
    /* what is right still builds: -1 inferred, sizes that multiply to the count */
    expect_spec("input 2x3x4; reshape shape=4,-1,2; flatten; dense 2", AL_OK, NULL);
    expect_spec("input 2x3x4; reshape shape=24,1,1,1", AL_OK, NULL);
    TEST_END("test_model_hostile");
}
