/* GELU, element-wise on any shape (PyTorch's nn.GELU). cfg.mode 0 is the
 * exact form y = x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)); mode 1 the tanh
 * approximation (approximate='tanh'):
 *   y = 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3).
 * Backward reads x:
 *   erf:  dx = dy (Phi(x) + x phi(x)), phi(x) = exp(-x^2/2) / sqrt(2 pi)
 *   tanh: dx = dy (0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 0.044715 x^2)), t = tanh(u) */

#include "layers/layers.h"

#include <math.h>

#define GELU_K 0.7978845608028654f /* sqrt(2 / pi) */
#define GELU_C 0.044715f
static inline float gelu_f(int mode, float v) {
    if (mode) return 0.5f * v * (1.0f + tanhf(GELU_K * (v + GELU_C * v * v * v)));
    return 0.5f * v * (1.0f + erff(v * 0.7071067811865476f));
}
static inline float gelu_d(int mode, float v) {
    if (mode) {
        float t = tanhf(GELU_K * (v + GELU_C * v * v * v));
        return 0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * GELU_K * (1.0f + 3.0f * GELU_C * v * v);
    }
    return 0.5f * (1.0f + erff(v * 0.7071067811865476f)) + v * expf(-0.5f * v * v) * 0.3989422804014327f;
}

static al_status gelu_shape(al_node *nd, const al_shape *in) {
    if (in->ndim < 1) return al_error(AL_ESHAPE, "gelu: input has no dimensions");
    if (nd->cfg.mode != 0 && nd->cfg.mode != 1)
        return al_error(AL_EINVAL, "gelu: mode must be 0 (erf) or 1 (tanh), got %d", nd->cfg.mode);
    nd->out = *in;
    return AL_OK;
}

typedef struct gelu_args {
    const al_layer_cfg *c;
    const float *x, *dy;
    float *out;
} gelu_args;

static void gelu_fwd_range(void *va, long lo, long hi) {
    const gelu_args *a = va;
    const al_layer_cfg *c = a->c;
    AL_UNUSED(c);
    for (long i = lo; i < hi; i++) {
        const float v = a->x[i];
        a->out[i] = gelu_f(c->mode, v);
    }
}

static void gelu_bwd_range(void *va, long lo, long hi) {
    const gelu_args *a = va;
    const al_layer_cfg *c = a->c;
    AL_UNUSED(c);
    for (long i = lo; i < hi; i++) {
        const float v = a->x[i];
        a->out[i] = a->dy[i] * (gelu_d(c->mode, v));
    }
}

static al_status gelu_forward(al_node *nd, const al_exec *e, const float *x, float *y, int n) {
    size_t k = (size_t)n * al_shape_numel(&nd->in);
    gelu_args a = {&nd->cfg, x, NULL, y};
    al_par_for(e->pool, (long)k, 8 * k, gelu_fwd_range, &a);
    return AL_OK;
}

/* reads x (not y: the derivative is a function of x) */
static void gelu_backward(al_node *nd, const al_exec *e, const float *x, const float *y, const float *dy, float *dx,
                          int n) {
    AL_UNUSED(y);
    if (!dx) return; /* no weights */
    size_t k = (size_t)n * al_shape_numel(&nd->in);
    gelu_args a = {&nd->cfg, x, dy, dx};
    al_par_for(e->pool, (long)k, 8 * k, gelu_bwd_range, &a);
}

/* One operation per element counts as one MAC. */
static uint64_t gelu_macs(const al_node *nd) { return (uint64_t)al_shape_numel(&nd->in); }

const al_layer_vt al_gelu_vt = {"gelu", gelu_shape, NULL, gelu_forward, gelu_backward, gelu_macs, NULL};
