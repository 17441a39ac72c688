/* HardSwish, y = x * relu6(x + 3) / 6 (PyTorch's nn.Hardswish, MobileNetV3),
 * element-wise on any shape, computed in PyTorch's order: (x * r) / 6 with
 * r = min(max(x + 3, 0), 6). Backward reads x and takes PyTorch's gradient,
 * kinks included: 0 for x < -3, x / 3 + 1/2 for -3 <= x <= 3 (so -1/2 at -3
 * and 3/2 at 3), 1 for x > 3. */

#include "layers/layers.h"

#include <math.h>

static al_status hardswish_shape(al_node *nd, const al_shape *in) {
    if (in->ndim < 1) return al_error(AL_ESHAPE, "hardswish: input has no dimensions");
    nd->out = *in;
    return AL_OK;
}

typedef struct hardswish_args {
    const float *x, *dy;
    float *out;
} hardswish_args;

static void hardswish_fwd_range(void *va, long lo, long hi) {
    const hardswish_args *a = va;
    for (long i = lo; i < hi; i++) {
        float v = a->x[i];
        float r = fminf(fmaxf(v + 3.0f, 0.0f), 6.0f);
        a->out[i] = isnan(v) ? v : v * r / 6.0f;
    }
}

static void hardswish_bwd_range(void *va, long lo, long hi) {
    const hardswish_args *a = va;
    for (long i = lo; i < hi; i++) {
        float v = a->x[i];
        a->out[i] = v < -3.0f ? 0.0f : v <= 3.0f ? a->dy[i] * (v / 3.0f + 0.5f) : a->dy[i];
    }
}

static al_status hardswish_forward(al_node *nd, const al_exec *e, const float *x, float *y, int n) {
    size_t k = (size_t)n * al_shape_numel(&nd->in);
    hardswish_args a = {x, NULL, y};
    al_par_for(e->pool, (long)k, k, hardswish_fwd_range, &a);
    return AL_OK;
}

static void hardswish_backward(al_node *nd, const al_exec *e, const float *x, const float *y, const float *dy,
                               float *dx, int n) {
    AL_UNUSED(y);
    if (!dx) return; /* no weights */
    size_t k = (size_t)n * al_shape_numel(&nd->in);
    hardswish_args a = {x, dy, dx};
    al_par_for(e->pool, (long)k, k, hardswish_bwd_range, &a);
}

/* One operation per element counts as one MAC. */
static uint64_t hardswish_macs(const al_node *nd) { return (uint64_t)al_shape_numel(&nd->in); }

const al_layer_vt al_hardswish_vt = {"hardswish", hardswish_shape, NULL, hardswish_forward, hardswish_backward,
                                     hardswish_macs, NULL};
