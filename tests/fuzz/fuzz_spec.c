/* libFuzzer target for the architecture spec language (docs/SPEC.md), the
 * text behind `autlearn train --arch` and al_model_from_spec.
 *
 * The input is the spec string. What must hold:
 *  - al_spec_parse and al_model_from_spec agree, and fail with a message;
 *  - a model built from a spec has a canonical spec (al_model_spec) that
 *    builds the same architecture again;
 *  - a small built model runs a training forward and backward pass and an
 *    inference pass on a batch of 2 without a sanitizer report: the shapes
 *    the layers infer are the shapes their kernels use.
 * Build and run: scripts/fuzz.sh (CMake -DAL_FUZZ=ON, clang). */
#include "fuzz_common.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_begin();
    /* 64 KiB hold over 10000 statements; longer inputs only repeat them
     * (the parser's own 64 MiB limit is tested in test_core) */
    if (size > 65537) return 0;
    char *s = malloc(size + 1);
    FUZZ_ASSERT(s);
    memcpy(s, data, size);
    s[size] = '\0';

    al_layer_cfg *layers = NULL;
    al_shape in;
    int tokens = 0, n = 0;
    al_status pst = al_spec_parse_alloc(s, &in, &tokens, &layers, &n);
    fuzz_check_status(pst);
    FUZZ_ASSERT(pst ? layers == NULL : layers != NULL);
    if (!pst) FUZZ_ASSERT(n >= 1 && n <= AL_MAX_NODES && in.ndim >= 1 && in.ndim <= 3);
    al_free(layers);

    fuzz_begin();
    al_model *m = NULL;
    al_status st = al_model_from_spec(s, 7, &m);
    fuzz_check_status(st);
    FUZZ_ASSERT(st == AL_OK ? m != NULL : m == NULL);
    /* a spec the parser rejects is never built */
    if (pst) FUZZ_ASSERT(st == pst);
    if (st == AL_OK) {
        FUZZ_ASSERT(m->nnodes == n);
        const char *canon = al_model_spec(m);
        FUZZ_ASSERT(canon != NULL);
        al_model *m2 = NULL;
        fuzz_begin();
        al_status st2 = al_model_from_spec(canon, 7, &m2);
        fuzz_check_status(st2);
        if (st2 != AL_ENOMEM) {
            if (st2 != AL_OK) fprintf(stderr, "canonical spec '%s' does not build: %s\n", canon, al_last_error());
            FUZZ_ASSERT(st2 == AL_OK);
            FUZZ_ASSERT(m2->nnodes == m->nnodes && m2->input_tokens == m->input_tokens);
            FUZZ_ASSERT(al_model_num_params(m2) == al_model_num_params(m));
            FUZZ_ASSERT(al_model_macs(m2) == al_model_macs(m));
            for (int i = 0; i < m->nnodes; i++) {
                FUZZ_ASSERT(m2->nodes[i].cfg.type == m->nodes[i].cfg.type);
                FUZZ_ASSERT(m2->nodes[i].out.ndim == m->nodes[i].out.ndim);
                FUZZ_ASSERT(memcmp(m2->nodes[i].out.d, m->nodes[i].out.d, sizeof m->nodes[i].out.d) == 0);
            }
            FUZZ_ASSERT(strcmp(al_model_spec(m2), canon) == 0);
        }
        al_model_free(m2);
        fuzz_run_passes(m);
        al_model_free(m);
    }
    free(s);
    return 0;
}
