/* Token embedding, PyTorch's nn.Embedding: x is (n, T) token ids stored as
 * floats, weight is (vocab, D) with D = cfg.units, y is (n, T, D), row
 * y[b,t] = weight[x[b,t]]. It is always the first layer of a 'tokens' model.
 * An id that is not a whole number in [0, vocab) is an error of the forward
 * pass (the ids come from user data), never an out-of-bounds read.
 * Backward scatters dy rows into the weight gradient; there is no gradient
 * with respect to integer ids. */

#include "layers/layers.h"

#include <math.h>
#include <string.h>

static al_status embedding_shape(al_node *nd, const al_shape *in) {
    if (in->ndim != 1)
        return al_error(AL_ESHAPE, "embedding: input must be [T] token ids, got %d dimensions", in->ndim);
    if (nd->cfg.units <= 0) return al_error(AL_EINVAL, "embedding: size must be positive, got %d", nd->cfg.units);
    if (nd->cfg.vocab <= 0 || nd->cfg.vocab > (1 << 24))
        return al_error(AL_EINVAL, "embedding: vocab must be in 1..%d (ids are floats), got %d", 1 << 24,
                        nd->cfg.vocab);
    nd->out.ndim = 2;
    nd->out.d[0] = in->d[0];
    nd->out.d[1] = nd->cfg.units;
    int wd[2] = {nd->cfg.vocab, nd->cfg.units};
    al_node_param(nd, 0, "weight", 2, wd, 0);
    return AL_OK;
}

static void embedding_init(al_node *nd, al_rng *rng) {
    for (size_t i = 0; i < nd->params[0].n; i++) nd->params[0].w[i] = al_rng_normal(rng);
}

typedef struct embedding_args {
    const float *ids;
    const float *a; /* forward: weight; backward: dy */
    float *b;       /* forward: y; backward: weight gradient */
    long tokens;
    int dim;
} embedding_args;

/* tokens [lo, hi): copy their weight rows */
static void embedding_fwd_range(void *va, long lo, long hi) {
    const embedding_args *a = va;
    size_t d = (size_t)a->dim;
    for (long t = lo; t < hi; t++) memcpy(a->b + (size_t)t * d, a->a + (size_t)a->ids[t] * d, sizeof(float) * d);
}

/* columns [lo, hi) of the gradient, every token in order: threads never
 * touch the same element and the sum order does not depend on them */
static void embedding_bwd_range(void *va, long lo, long hi) {
    const embedding_args *a = va;
    size_t d = (size_t)a->dim;
    for (long t = 0; t < a->tokens; t++) {
        const float *dy = a->a + (size_t)t * d;
        float *g = a->b + (size_t)a->ids[t] * d;
        for (long j = lo; j < hi; j++) g[j] += dy[j];
    }
}

static al_status embedding_forward(al_node *nd, const al_exec *e, const float *x, float *y, int n) {
    int T = nd->in.d[0], V = nd->cfg.vocab;
    long tokens = (long)n * T;
    for (long t = 0; t < tokens; t++) {
        float v = x[t];
        if (!(v >= 0.0f && v < (float)V))
            return al_error(AL_ERANGE, "embedding: token id %g at sample %ld position %ld is outside [0, %d)",
                            (double)v, t / T, t % T, V);
        if (v != floorf(v))
            return al_error(AL_ERANGE, "embedding: token id %g at sample %ld position %ld is not a whole number",
                            (double)v, t / T, t % T);
    }
    embedding_args a = {x, nd->params[0].w, y, tokens, nd->cfg.units};
    al_par_for(e->pool, tokens, (size_t)tokens * (size_t)a.dim, embedding_fwd_range, &a);
    return AL_OK;
}

static void embedding_backward(al_node *nd, const al_exec *e, const float *x, const float *y, const float *dy,
                               float *dx, int n) {
    AL_UNUSED(y);
    long tokens = (long)n * nd->in.d[0];
    /* ids are not differentiable; define their gradient as 0 if asked */
    if (dx) memset(dx, 0, sizeof(float) * (size_t)tokens);
    if (!nd->trainable) return;
    embedding_args a = {x, dy, nd->params[0].g, tokens, nd->cfg.units};
    al_par_for(e->pool, a.dim, (size_t)tokens * (size_t)a.dim, embedding_bwd_range, &a);
}

/* A row lookup: no arithmetic. */
static uint64_t embedding_macs(const al_node *nd) {
    AL_UNUSED(nd);
    return 0;
}

const al_layer_vt al_embedding_vt = {"embedding", embedding_shape, embedding_init, embedding_forward,
                                     embedding_backward, embedding_macs, NULL};
