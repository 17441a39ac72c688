/* ReLU, y = max(x, 0), element-wise on any shape. Backward reads y:
 * dx = dy where y > 0, else 0 (the subgradient at 0 is 0, as in PyTorch).
 * NaN passes through the forward unchanged. */

#include "layers/layers.h"

#include <math.h>

static al_status relu_shape(al_node *nd, const al_shape *in) {
    if (in->ndim < 1) return al_error(AL_ESHAPE, "relu: input has no dimensions");
    nd->out = *in;
    return AL_OK;
}

typedef struct relu_args {
    const float *x;
    float *out;
} relu_args;

/* The loop loads every operand unconditionally into restrict locals and
 * select, so the compiler emits vector blends: the branchy form mispredicted
 * on every sign change and cost 4x the memory traffic's time. */
static void relu_fwd_range(void *va, long lo, long hi) {
    const relu_args *a = va;
    const float *restrict x = a->x;
    float *restrict out = a->out;
    for (long i = lo; i < hi; i++) {
        float v = x[i];
        out[i] = ((v > 0.0f) | (v != v)) ? v : 0.0f;
    }
}

static al_status relu_forward(al_node *nd, const al_exec *e, const float *x, float *y, int n) {
    size_t k = (size_t)n * al_shape_numel(&nd->in);
    relu_args a = {x, y};
    al_par_for(e->pool, (long)k, k, relu_fwd_range, &a);
    return AL_OK;
}

static void relu_backward(al_node *nd, const al_exec *e, const float *x, const float *y, const float *dy, float *dx,
                          int n) {
    AL_UNUSED(x);
    if (!dx) return; /* no weights */
    /* the fused activation's backward (act_fused.c): the same rule */
    al_act_backward(e->pool, AL_ACT_RELU, y, dy, dx, (size_t)n * al_shape_numel(&nd->in));
}

/* One operation per element counts as one MAC. */
static uint64_t relu_macs(const al_node *nd) { return (uint64_t)al_shape_numel(&nd->in); }

const al_layer_vt al_relu_vt = {"relu", relu_shape, NULL, relu_forward, relu_backward, relu_macs, NULL};
