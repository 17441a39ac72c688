/* Clip: y = min(max(x, lo), hi), element-wise on any shape (PyTorch's
 * torch.clamp, ONNX Clip). Backward reads x and passes dy where
 * lo <= x <= hi, as PyTorch does (both ends included), else 0. */

#include "layers/layers.h"

#include <math.h>

static al_status clip_shape(al_node *nd, const al_shape *in) {
    if (in->ndim < 1) return al_error(AL_ESHAPE, "clip: input has no dimensions");
    if (!(nd->cfg.lo <= nd->cfg.hi))
        return al_error(AL_EINVAL, "clip: min %g must not exceed max %g", (double)nd->cfg.lo, (double)nd->cfg.hi);
    nd->out = *in;
    return AL_OK;
}

typedef struct clip_args {
    const al_layer_cfg *c;
    const float *x, *dy;
    float *out;
} clip_args;

static void clip_fwd_range(void *va, long lo, long hi) {
    const clip_args *a = va;
    const al_layer_cfg *c = a->c;
    AL_UNUSED(c);
    for (long i = lo; i < hi; i++) {
        const float v = a->x[i];
        a->out[i] = v < c->lo ? c->lo : v > c->hi ? c->hi : v;
    }
}

static void clip_bwd_range(void *va, long lo, long hi) {
    const clip_args *a = va;
    const al_layer_cfg *c = a->c;
    AL_UNUSED(c);
    for (long i = lo; i < hi; i++) {
        const float v = a->x[i];
        a->out[i] = a->dy[i] * (v >= c->lo && v <= c->hi ? 1.0f : 0.0f);
    }
}

static al_status clip_forward(al_node *nd, const al_exec *e, const float *x, float *y, int n) {
    size_t k = (size_t)n * al_shape_numel(&nd->in);
    clip_args a = {&nd->cfg, x, NULL, y};
    al_par_for(e->pool, (long)k, 1 * k, clip_fwd_range, &a);
    return AL_OK;
}

/* reads x (not y: the derivative is a function of x) */
static void clip_backward(al_node *nd, const al_exec *e, const float *x, const float *y, const float *dy, float *dx,
                          int n) {
    AL_UNUSED(y);
    if (!dx) return; /* no weights */
    size_t k = (size_t)n * al_shape_numel(&nd->in);
    clip_args a = {&nd->cfg, x, dy, dx};
    al_par_for(e->pool, (long)k, 1 * k, clip_bwd_range, &a);
}

/* One operation per element counts as one MAC. */
static uint64_t clip_macs(const al_node *nd) { return (uint64_t)al_shape_numel(&nd->in); }

const al_layer_vt al_clip_vt = {"clip", clip_shape, NULL, clip_forward, clip_backward, clip_macs, NULL};
