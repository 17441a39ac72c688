/* Inverted dropout, PyTorch's nn.Dropout, element-wise on any shape.
 * Training (e->training): each element is kept with probability 1 - rate and
 * scaled by 1 / (1 - rate), else zeroed; eval, or a frozen node: identity.
 * The mask is drawn from the model's dropout stream e->rng (sequentially, so
 * it depends only on the seed, never on the thread count) and saved in aux
 * as the factor applied to each element (0 or 1 / (1 - rate)):
 * aux_per_sample = numel; aux_fixed = 1, the flag 1.0 when the last forward
 * applied a mask (backward then multiplies by it) or 0.0 when it was the
 * identity. */

#include "layers/layers.h"

#include <string.h>

static al_status dropout_shape(al_node *nd, const al_shape *in) {
    if (in->ndim < 1) return al_error(AL_ESHAPE, "dropout: input has no dimensions");
    if (!(nd->cfg.rate >= 0.0f && nd->cfg.rate < 1.0f))
        return al_error(AL_EINVAL, "dropout: rate must be in [0, 1), got %g", (double)nd->cfg.rate);
    nd->out = *in;
    nd->aux_fixed = 1;
    nd->aux_per_sample = al_shape_numel(in);
    return AL_OK;
}

typedef struct dropout_args {
    const float *a, *mask;
    float *out;
} dropout_args;

static void dropout_mul_range(void *va, long lo, long hi) {
    const dropout_args *a = va;
    for (long i = lo; i < hi; i++) a->out[i] = a->a[i] * a->mask[i];
}

static al_status dropout_forward(al_node *nd, const al_exec *e, const float *x, float *y, int n) {
    size_t k = (size_t)n * al_shape_numel(&nd->in);
    float *flag = nd->aux, *mask = nd->aux + 1;
    if (!e->training) {
        *flag = 0.0f;
        if (y != x) memcpy(y, x, sizeof(float) * k);
        return AL_OK;
    }
    if (!e->rng) return al_error(AL_ESTATE, "dropout: training pass without a random stream");
    float p = nd->cfg.rate, keep = 1.0f / (1.0f - p);
    for (size_t i = 0; i < k; i++) mask[i] = al_rng_uniform(e->rng) >= p ? keep : 0.0f;
    *flag = 1.0f;
    dropout_args a = {x, mask, y};
    al_par_for(e->pool, (long)k, k, dropout_mul_range, &a);
    return AL_OK;
}

static void dropout_backward(al_node *nd, const al_exec *e, const float *x, const float *y, const float *dy,
                             float *dx, int n) {
    AL_UNUSED(x);
    AL_UNUSED(y);
    if (!dx) return; /* no weights */
    size_t k = (size_t)n * al_shape_numel(&nd->in);
    if (nd->aux[0] == 0.0f) {
        if (dx != dy) memcpy(dx, dy, sizeof(float) * k);
        return;
    }
    dropout_args a = {dy, nd->aux + 1, dx};
    al_par_for(e->pool, (long)k, k, dropout_mul_range, &a);
}

/* The identity at inference: no arithmetic. */
static uint64_t dropout_macs(const al_node *nd) {
    AL_UNUSED(nd);
    return 0;
}

const al_layer_vt al_dropout_vt = {"dropout", dropout_shape, NULL, dropout_forward, dropout_backward, dropout_macs,
                                   NULL};
