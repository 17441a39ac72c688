/* Logistic sigmoid, y = 1 / (1 + exp(-x)), element-wise on any shape.
 * exp is only taken of -|x| so it never overflows. Backward reads y:
 * dx = dy * y * (1 - y). */

#include "layers/layers.h"

#include <math.h>

static al_status sigmoid_shape(al_node *nd, const al_shape *in) {
    if (in->ndim < 1) return al_error(AL_ESHAPE, "sigmoid: input has no dimensions");
    nd->out = *in;
    return AL_OK;
}

static inline float sigmoid_of(float v) {
    float t = expf(-fabsf(v)); /* in (0, 1] */
    return v >= 0.0f ? 1.0f / (1.0f + t) : t / (1.0f + t);
}

typedef struct sigmoid_args {
    const float *x, *y, *dy;
    float *out;
} sigmoid_args;

static void sigmoid_fwd_range(void *va, long lo, long hi) {
    const sigmoid_args *a = va;
    for (long i = lo; i < hi; i++) {
        float v = a->x[i];
        a->out[i] = sigmoid_of(v);
    }
}

static void sigmoid_bwd_range(void *va, long lo, long hi) {
    const sigmoid_args *a = va;
    for (long i = lo; i < hi; i++) {
        float v = a->y[i];
        a->out[i] = a->dy[i] * v * (1.0f - v);
    }
}

static al_status sigmoid_forward(al_node *nd, const al_exec *e, const float *x, float *y, int n) {
    size_t k = (size_t)n * al_shape_numel(&nd->in);
    sigmoid_args a = {x, NULL, NULL, y};
    al_par_for(e->pool, (long)k, k, sigmoid_fwd_range, &a);
    return AL_OK;
}

static void sigmoid_backward(al_node *nd, const al_exec *e, const float *x, const float *y, const float *dy, float *dx,
                             int n) {
    AL_UNUSED(x);
    if (!dx) return; /* no weights */
    size_t k = (size_t)n * al_shape_numel(&nd->in);
    sigmoid_args a = {NULL, y, dy, dx};
    al_par_for(e->pool, (long)k, k, sigmoid_bwd_range, &a);
}

/* One operation per element counts as one MAC. */
static uint64_t sigmoid_macs(const al_node *nd) { return (uint64_t)al_shape_numel(&nd->in); }

const al_layer_vt al_sigmoid_vt = {"sigmoid", sigmoid_shape, NULL, sigmoid_forward, sigmoid_backward, sigmoid_macs,
                                   NULL};
