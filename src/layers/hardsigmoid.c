/* HardSigmoid, y = relu6(x + 3) / 6 (PyTorch's nn.Hardsigmoid, the gate of
 * MobileNetV3's squeeze-excite), element-wise on any shape. Backward reads x
 * and takes PyTorch's gradient: dy / 6 for -3 < x < 3, else 0 (strict at both
 * kinks, as in PyTorch). */

#include "layers/layers.h"

#include <math.h>

static al_status hardsigmoid_shape(al_node *nd, const al_shape *in) {
    if (in->ndim < 1) return al_error(AL_ESHAPE, "hardsigmoid: input has no dimensions");
    nd->out = *in;
    return AL_OK;
}

typedef struct hardsigmoid_args {
    const float *x, *dy;
    float *out;
} hardsigmoid_args;

static void hardsigmoid_fwd_range(void *va, long lo, long hi) {
    const hardsigmoid_args *a = va;
    for (long i = lo; i < hi; i++) {
        float v = a->x[i];
        a->out[i] = isnan(v) ? v : fminf(fmaxf(v + 3.0f, 0.0f), 6.0f) / 6.0f;
    }
}

static void hardsigmoid_bwd_range(void *va, long lo, long hi) {
    const hardsigmoid_args *a = va;
    const float sixth = 1.0f / 6.0f;
    for (long i = lo; i < hi; i++) {
        float v = a->x[i];
        a->out[i] = v > -3.0f && v < 3.0f ? a->dy[i] * sixth : 0.0f;
    }
}

static al_status hardsigmoid_forward(al_node *nd, const al_exec *e, const float *x, float *y, int n) {
    size_t k = (size_t)n * al_shape_numel(&nd->in);
    hardsigmoid_args a = {x, NULL, y};
    al_par_for(e->pool, (long)k, k, hardsigmoid_fwd_range, &a);
    return AL_OK;
}

static void hardsigmoid_backward(al_node *nd, const al_exec *e, const float *x, const float *y, const float *dy,
                                 float *dx, int n) {
    AL_UNUSED(y);
    if (!dx) return; /* no weights */
    size_t k = (size_t)n * al_shape_numel(&nd->in);
    hardsigmoid_args a = {x, dy, dx};
    al_par_for(e->pool, (long)k, k, hardsigmoid_bwd_range, &a);
}

/* One operation per element counts as one MAC. */
static uint64_t hardsigmoid_macs(const al_node *nd) { return (uint64_t)al_shape_numel(&nd->in); }

const al_layer_vt al_hardsigmoid_vt = {"hardsigmoid", hardsigmoid_shape, NULL, hardsigmoid_forward,
                                       hardsigmoid_backward, hardsigmoid_macs, NULL};
