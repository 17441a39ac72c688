/* Helpers shared by the small layers (pools, activations, dropout, batch norm,
 * embedding): a parallel loop over [0, n) with a static split, and the window
 * geometry of 2-D pooling. Internal to src/layers. */
#ifndef AL_LAYER_UTIL_H
#define AL_LAYER_UTIL_H

#include "al_internal.h"

/* Below this many floats of work a loop runs on the calling thread: waking
 * the pool costs more than it saves. */
#define AL_PAR_MIN_WORK 32768

/* fn(arg, lo, hi) processes items [lo, hi). */
typedef void (*al_range_fn)(void *arg, long lo, long hi);

typedef struct al_par_args {
    al_range_fn fn;
    void *arg;
    long n;
} al_par_args;

static void al_par_task(void *va, int ith, int nth) {
    const al_par_args *a = va;
    long lo, hi;
    al_split(a->n, ith, nth, &lo, &hi);
    if (lo < hi) a->fn(a->arg, lo, hi);
}

/* Runs fn over [0, n) items split statically over the pool's threads.
 * `work` (floats touched in total) decides whether threads pay. Every item
 * is processed by exactly one thread in the same way, so results never
 * depend on the thread count. */
static inline void al_par_for(al_pool *pool, long n, size_t work, al_range_fn fn, void *arg) {
    if (n <= 0) return;
    if (!pool || al_pool_size(pool) == 1 || work < AL_PAR_MIN_WORK || n == 1) {
        fn(arg, 0, n);
        return;
    }
    al_par_args a = {fn, arg, n};
    al_pool_run(pool, al_par_task, &a);
}

/* ---- 2-D pooling geometry -------------------------------------------------- */

/* Input [C,H,W], square window k, stride s, zero/-inf padding p on every
 * side; output [C,OH,OW] with OH = floor((H + 2p - k) / s) + 1 (PyTorch's
 * floor mode). */
typedef struct al_pool_geom {
    int C, H, W, k, s, p, OH, OW;
} al_pool_geom;

/* Validates a pool layer's cfg against its input, normalises stride 0 to k,
 * sets nd->out and fills *g. `name` prefixes the messages. */
static al_status al_pool_geom_init(const char *name, al_node *nd, const al_shape *in, al_pool_geom *g) {
    al_layer_cfg *c = &nd->cfg;
    if (in->ndim != 3)
        return al_error(AL_ESHAPE, "%s: input must be [C,H,W], got %d dimension(s)", name, in->ndim);
    if (c->k < 1) return al_error(AL_EINVAL, "%s: kernel size must be positive, got %d", name, c->k);
    if (c->stride == 0) c->stride = c->k;
    if (c->stride < 1) return al_error(AL_EINVAL, "%s: stride must be positive, got %d", name, c->stride);
    /* PyTorch's rule; it also guarantees every window holds a real element */
    if (c->pad < 0 || c->pad > c->k / 2)
        return al_error(AL_EINVAL, "%s: padding %d must be in 0..%d (at most half of kernel %d)", name, c->pad,
                        c->k / 2, c->k);
    int ph = in->d[1] + 2 * c->pad, pw = in->d[2] + 2 * c->pad;
    if (c->k > ph || c->k > pw)
        return al_error(AL_ESHAPE, "%s: kernel %d larger than padded input %dx%d", name, c->k, ph, pw);
    g->C = in->d[0];
    g->H = in->d[1];
    g->W = in->d[2];
    g->k = c->k;
    g->s = c->stride;
    g->p = c->pad;
    g->OH = (ph - c->k) / c->stride + 1;
    g->OW = (pw - c->k) / c->stride + 1;
    nd->out.ndim = 3;
    nd->out.d[0] = g->C;
    nd->out.d[1] = g->OH;
    nd->out.d[2] = g->OW;
    return AL_OK;
}

static inline al_pool_geom al_pool_geom_of(const al_node *nd) {
    al_pool_geom g = {nd->in.d[0], nd->in.d[1], nd->in.d[2], nd->cfg.k,
                      nd->cfg.stride, nd->cfg.pad, nd->out.d[1], nd->out.d[2]};
    return g;
}

#endif /* AL_LAYER_UTIL_H */
