/* Scale: y = alpha * x + beta with constants alpha and beta (cfg.alpha,
 * cfg.beta), element-wise on any shape: multiplying or dividing by a
 * constant (attention's 1/sqrt(d)), adding one. Backward: dx = alpha * dy. */

#include "layers/layers.h"

#include <math.h>

static al_status scale_shape(al_node *nd, const al_shape *in) {
    if (in->ndim < 1) return al_error(AL_ESHAPE, "scale: input has no dimensions");
    if (!isfinite(nd->cfg.alpha) || !isfinite(nd->cfg.beta)) return al_error(AL_EINVAL, "scale: alpha and beta must be finite");
    nd->out = *in;
    return AL_OK;
}

typedef struct scale_args {
    const al_layer_cfg *c;
    const float *x, *dy;
    float *out;
} scale_args;

static void scale_fwd_range(void *va, long lo, long hi) {
    const scale_args *a = va;
    const al_layer_cfg *c = a->c;
    AL_UNUSED(c);
    for (long i = lo; i < hi; i++) {
        const float v = a->x[i];
        a->out[i] = c->alpha * v + c->beta;
    }
}

static void scale_bwd_range(void *va, long lo, long hi) {
    const scale_args *a = va;
    const al_layer_cfg *c = a->c;
    AL_UNUSED(c);
    for (long i = lo; i < hi; i++) {
        a->out[i] = a->dy[i] * c->alpha;
    }
}

static al_status scale_forward(al_node *nd, const al_exec *e, const float *x, float *y, int n) {
    size_t k = (size_t)n * al_shape_numel(&nd->in);
    scale_args a = {&nd->cfg, x, NULL, y};
    al_par_for(e->pool, (long)k, 1 * k, scale_fwd_range, &a);
    return AL_OK;
}

/* the derivative is the constant alpha */
static void scale_backward(al_node *nd, const al_exec *e, const float *x, const float *y, const float *dy, float *dx,
                          int n) {
    AL_UNUSED(y);
    if (!dx) return; /* no weights */
    size_t k = (size_t)n * al_shape_numel(&nd->in);
    scale_args a = {&nd->cfg, x, dy, dx};
    al_par_for(e->pool, (long)k, 1 * k, scale_bwd_range, &a);
}

/* One operation per element counts as one MAC. */
static uint64_t scale_macs(const al_node *nd) { return (uint64_t)al_shape_numel(&nd->in); }

const al_layer_vt al_scale_vt = {"scale", scale_shape, NULL, scale_forward, scale_backward, scale_macs, NULL};
