/* tanh, element-wise on any shape. Backward reads y: dx = dy * (1 - y^2). */

#include "layers/layers.h"

#include <math.h>

static al_status tanh_shape(al_node *nd, const al_shape *in) {
    if (in->ndim < 1) return al_error(AL_ESHAPE, "tanh: input has no dimensions");
    nd->out = *in;
    return AL_OK;
}

typedef struct tanh_args {
    const float *x, *y, *dy;
    float *out;
} tanh_args;

static void tanh_fwd_range(void *va, long lo, long hi) {
    const tanh_args *a = va;
    for (long i = lo; i < hi; i++) {
        float v = a->x[i];
        a->out[i] = tanhf(v);
    }
}

static void tanh_bwd_range(void *va, long lo, long hi) {
    const tanh_args *a = va;
    for (long i = lo; i < hi; i++) {
        float v = a->y[i];
        a->out[i] = a->dy[i] * (1.0f - v * v);
    }
}

static al_status tanh_forward(al_node *nd, const al_exec *e, const float *x, float *y, int n) {
    size_t k = (size_t)n * al_shape_numel(&nd->in);
    tanh_args a = {x, NULL, NULL, y};
    al_par_for(e->pool, (long)k, k, tanh_fwd_range, &a);
    return AL_OK;
}

static void tanh_backward(al_node *nd, const al_exec *e, const float *x, const float *y, const float *dy, float *dx,
                          int n) {
    AL_UNUSED(x);
    if (!dx) return; /* no weights */
    size_t k = (size_t)n * al_shape_numel(&nd->in);
    tanh_args a = {NULL, y, dy, dx};
    al_par_for(e->pool, (long)k, k, tanh_bwd_range, &a);
}

/* One operation per element counts as one MAC. */
static uint64_t tanh_macs(const al_node *nd) { return (uint64_t)al_shape_numel(&nd->in); }

const al_layer_vt al_tanh_vt = {"tanh", tanh_shape, NULL, tanh_forward, tanh_backward, tanh_macs, NULL};
