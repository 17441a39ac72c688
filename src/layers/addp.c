/* Addp: y = x + p, with p a learned tensor of x's per-sample shape, the
 * same for every sample (PyTorch: x + nn.Parameter of shape [1, ...]; a
 * vision transformer's position embedding). p is the parameter "weight",
 * initialised as torchvision's ViT does, normal with std 0.02. Backward:
 * dx = dy; dp += the sum of dy over the batch (each element of p summed over
 * the samples in order on one thread: deterministic for any pool). */

#include "layers/layers.h"

#include <string.h>

static al_status addp_shape(al_node *nd, const al_shape *in) {
    if (in->ndim < 1 || in->ndim > 4) return al_error(AL_ESHAPE, "addp: the input needs 1 to 4 dimensions");
    al_node_param(nd, 0, "weight", in->ndim, in->d, 0);
    nd->out = *in;
    return AL_OK;
}

static void addp_init(al_node *nd, al_rng *rng) {
    for (size_t j = 0; j < nd->params[0].n; j++) nd->params[0].w[j] = 0.02f * al_rng_normal(rng);
}

typedef struct addp_args {
    const float *x, *p, *dy;
    float *y, *g;
    size_t numel;
    int n;
} addp_args;

static void addp_fwd_range(void *va, long lo, long hi) {
    const addp_args *a = va;
    for (long r = lo; r < hi; r++) {
        const float *x = a->x + (size_t)r * a->numel;
        float *y = a->y + (size_t)r * a->numel;
        for (size_t j = 0; j < a->numel; j++) y[j] = x[j] + a->p[j];
    }
}

/* elements [lo, hi) of p: the sum over the batch of dy */
static void addp_grad_range(void *va, long lo, long hi) {
    const addp_args *a = va;
    for (int i = 0; i < a->n; i++) {
        const float *dy = a->dy + (size_t)i * a->numel;
        for (long j = lo; j < hi; j++) a->g[j] += dy[j];
    }
}

static al_status addp_forward(al_node *nd, const al_exec *e, const float *x, float *y, int n) {
    addp_args a = {x, nd->params[0].w, NULL, y, NULL, al_shape_numel(&nd->in), n};
    al_par_for(e->pool, n, (size_t)n * a.numel, addp_fwd_range, &a);
    return AL_OK;
}

static void addp_backward(al_node *nd, const al_exec *e, const float *x, const float *y, const float *dy, float *dx,
                          int n) {
    AL_UNUSED(x);
    AL_UNUSED(y);
    addp_args a = {NULL, NULL, dy, NULL, nd->params[0].g, al_shape_numel(&nd->in), n};
    if (nd->trainable && a.g) al_par_for(e->pool, (long)a.numel, (size_t)n * a.numel, addp_grad_range, &a);
    if (dx) memcpy(dx, dy, sizeof(float) * (size_t)n * a.numel);
}

/* One addition per element counts as one MAC. */
static uint64_t addp_macs(const al_node *nd) { return (uint64_t)al_shape_numel(&nd->in); }

const al_layer_vt al_addp_vt = {"addp", addp_shape, addp_init, addp_forward, addp_backward, addp_macs, NULL};
