/* SiLU (swish): y = x * sigmoid(x), element-wise on any shape (PyTorch's
 * nn.SiLU). exp is only taken of -|x|, so it never overflows. Backward reads
 * x: dx = dy * s * (1 + x * (1 - s)) with s = sigmoid(x). */

#include "layers/layers.h"

#include <math.h>

static inline float silu_sig(float v) {
    float t = expf(-fabsf(v)); /* in (0, 1] */
    return v >= 0.0f ? 1.0f / (1.0f + t) : t / (1.0f + t);
}

static al_status silu_shape(al_node *nd, const al_shape *in) {
    if (in->ndim < 1) return al_error(AL_ESHAPE, "silu: input has no dimensions");
    nd->out = *in;
    return AL_OK;
}

typedef struct silu_args {
    const al_layer_cfg *c;
    const float *x, *dy;
    float *out;
} silu_args;

static void silu_fwd_range(void *va, long lo, long hi) {
    const silu_args *a = va;
    const al_layer_cfg *c = a->c;
    AL_UNUSED(c);
    for (long i = lo; i < hi; i++) {
        const float v = a->x[i];
        a->out[i] = v * silu_sig(v);
    }
}

static void silu_bwd_range(void *va, long lo, long hi) {
    const silu_args *a = va;
    const al_layer_cfg *c = a->c;
    AL_UNUSED(c);
    for (long i = lo; i < hi; i++) {
        const float v = a->x[i];
        a->out[i] = a->dy[i] * (silu_sig(v) * (1.0f + v * (1.0f - silu_sig(v))));
    }
}

static al_status silu_forward(al_node *nd, const al_exec *e, const float *x, float *y, int n) {
    size_t k = (size_t)n * al_shape_numel(&nd->in);
    silu_args a = {&nd->cfg, x, NULL, y};
    al_par_for(e->pool, (long)k, 4 * k, silu_fwd_range, &a);
    return AL_OK;
}

/* reads x (not y: the derivative is a function of x) */
static void silu_backward(al_node *nd, const al_exec *e, const float *x, const float *y, const float *dy, float *dx,
                          int n) {
    AL_UNUSED(y);
    if (!dx) return; /* no weights */
    size_t k = (size_t)n * al_shape_numel(&nd->in);
    silu_args a = {&nd->cfg, x, dy, dx};
    al_par_for(e->pool, (long)k, 4 * k, silu_bwd_range, &a);
}

/* One operation per element counts as one MAC. */
static uint64_t silu_macs(const al_node *nd) { return (uint64_t)al_shape_numel(&nd->in); }

const al_layer_vt al_silu_vt = {"silu", silu_shape, NULL, silu_forward, silu_backward, silu_macs, NULL};
