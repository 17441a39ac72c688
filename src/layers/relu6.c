/* ReLU6, y = min(max(x, 0), 6) (PyTorch: hardtanh(0, 6)), element-wise on any
 * shape. Backward reads y: dx = dy where 0 < y < 6, else 0 (strict at both
 * ends, as in PyTorch). */

#include "layers/layers.h"

#include <math.h>

static al_status relu6_shape(al_node *nd, const al_shape *in) {
    if (in->ndim < 1) return al_error(AL_ESHAPE, "relu6: input has no dimensions");
    nd->out = *in;
    return AL_OK;
}

typedef struct relu6_args {
    const float *x;
    float *out;
} relu6_args;

static void relu6_fwd_range(void *va, long lo, long hi) {
    const relu6_args *a = va;
    const float *x = a->x;
    float *out = a->out;
    for (long i = lo; i < hi; i++) {
        float v = x[i];
        out[i] = v < 0.0f ? 0.0f : (v > 6.0f ? 6.0f : v); /* NaN passes: both tests are false */
    }
}

static al_status relu6_forward(al_node *nd, const al_exec *e, const float *x, float *y, int n) {
    size_t k = (size_t)n * al_shape_numel(&nd->in);
    relu6_args a = {x, y};
    al_par_for(e->pool, (long)k, k, relu6_fwd_range, &a);
    return AL_OK;
}

static void relu6_backward(al_node *nd, const al_exec *e, const float *x, const float *y, const float *dy, float *dx,
                           int n) {
    AL_UNUSED(x);
    if (!dx) return; /* no weights */
    /* the fused activation's backward (act_fused.c): the same rule */
    al_act_backward(e->pool, AL_ACT_RELU6, y, dy, dx, (size_t)n * al_shape_numel(&nd->in));
}

/* One operation per element counts as one MAC. */
static uint64_t relu6_macs(const al_node *nd) { return (uint64_t)al_shape_numel(&nd->in); }

const al_layer_vt al_relu6_vt = {"relu6", relu6_shape, NULL, relu6_forward, relu6_backward, relu6_macs, NULL};
