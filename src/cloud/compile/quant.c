/* int8 quantization of the frozen part at compile time (quant.h). The
 * weights computed here are installed through the model's int8 runtime
 * (al_quant_install, src/model/quant.c), the same path a model file takes. */
#include "quant.h"

#include <math.h>

al_status al_quantize_node(al_model *m, int i) {
    int N, K;
    al_status st = al_quant_check(m, i, &N, &K);
    if (st) return st;
    const al_node *nd = &m->nodes[i];
    const float *w = nd->params[0].w;
    for (size_t j = 0; j < nd->params[0].n; j++)
        if (!isfinite(w[j])) return al_error(AL_EINVAL, "quantize: node %d has a non-finite weight", i);
    int8_t *q = al_malloc((size_t)N * (size_t)K);
    float *scale = al_malloc(sizeof(float) * (size_t)N);
    if (!q || !scale) {
        al_free(q);
        al_free(scale);
        return AL_ENOMEM;
    }
    for (int c = 0; c < N; c++) scale[c] = al_quantize_row_i8(w + (size_t)c * K, K, q + (size_t)c * K);
    st = al_quant_install(m, i, q, scale);
    al_free(q);
    al_free(scale);
    return st;
}

static al_status quantize_frozen(al_model *m, int dw, int *count) {
    if (!m) return al_error(AL_EINVAL, "al_quantize_frozen: model is NULL");
    for (int i = 0; i < m->freeze; i++) {
        const al_node *nd = &m->nodes[i];
        if (nd->q || nd->trainable) continue;
        if (nd->cfg.dil > 1) continue; /* the int8 kernels know no dilation: a dilated conv stays in float */
        if (nd->cfg.type == AL_L_DWCONV2D) {
            if (!dw) continue;
            /* K = k*k: no GEMM reduction, the int8 depthwise kernels are
             * direct; a shape they do not take stays float */
            if (!al_quant_takes(nd)) continue;
        } else {
            if (nd->cfg.type != AL_L_DENSE && nd->cfg.type != AL_L_CONV2D) continue;
            if (nd->params[0].n / (size_t)nd->params[0].dims[0] < AL_QUANT_MIN_K) continue;
        }
        al_status st = al_quantize_node(m, i);
        if (st) return st;
    }
    if (count) *count = al_model_quantized_count(m);
    return AL_OK;
}

al_status al_quantize_frozen(al_model *m, int *count) { return quantize_frozen(m, 0, count); }

al_status al_quantize_frozen_dw(al_model *m, int *count) { return quantize_frozen(m, 1, count); }
