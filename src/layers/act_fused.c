/* Activations fused into dense and conv (cfg.act), the element-wise twins of
 * relu.c and relu6.c with the same conventions: NaN passes through ReLU's
 * forward; backward reads the output y, dx = dy where 0 < y (ReLU) or
 * 0 < y < 6 (ReLU6), else 0. Because the derivative is read from y, a
 * fused layer needs no more saved state than the plain one. */

#include "layers/layers.h"

#include <math.h>

const char *al_act_name(int act) {
    switch (act) {
    case AL_ACT_RELU: return "relu";
    case AL_ACT_RELU6: return "relu6";
    default: return NULL;
    }
}

/* The kernels level's in-place ReLU / ReLU6 (AVX-512, AVX2 or plain C,
 * bitwise the same): NaN passes both; ReLU maps -0 to +0, ReLU6 keeps -0. */
void al_act_apply(int act, float *y, size_t k) {
    if (act == AL_ACT_RELU)
        al_relu_inplace(y, k);
    else if (act == AL_ACT_RELU6)
        al_relu6_inplace(y, k);
}

typedef struct act_args {
    int act;
    const float *y, *dy;
    float *out;
} act_args;

static void fwd_range(void *va, long lo, long hi) {
    const act_args *a = va;
    al_act_apply(a->act, a->out + lo, (size_t)(hi - lo));
}

static void bwd_range(void *va, long lo, long hi) {
    const act_args *a = va;
    /* out never overlaps y or dy (a node's scratch or its input gradient);
     * branch-free, dy read for every element: the loops vectorize (a branch
     * per element mispredicts on every sign change of y) */
    const float *restrict y = a->y, *restrict dy = a->dy;
    float *restrict out = a->out;
    if (a->act == AL_ACT_RELU6)
        for (long i = lo; i < hi; i++) {
            float v = y[i], d = dy[i];
            out[i] = ((v > 0.0f) & (v < 6.0f)) ? d : 0.0f;
        }
    else
        for (long i = lo; i < hi; i++) {
            float v = y[i], d = dy[i];
            out[i] = v > 0.0f ? d : 0.0f;
        }
}

void al_act_forward(al_pool *pool, int act, float *y, size_t k) {
    if (act == AL_ACT_NONE) return;
    act_args a = {act, NULL, NULL, y};
    al_par_for(pool, (long)k, k, fwd_range, &a);
}

void al_act_backward(al_pool *pool, int act, const float *y, const float *dy, float *out, size_t k) {
    act_args a = {act, y, dy, out};
    al_par_for(pool, (long)k, 2 * k, bwd_range, &a);
}
