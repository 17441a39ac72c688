/* 2-D max pooling, PyTorch's nn.MaxPool2d (floor mode, dilation 1).
 * x is (n, C, H, W), y is (n, C, OH, OW); padding counts as -inf, so it never
 * wins. cfg: k (window), stride (0 = k), pad (at most k/2).
 * Forward saves in aux, for every output, the index h*W + w of the winner in
 * its input plane (int32 in the float slot); backward routes dy there.
 * Ties go to the first element in scan order and NaN propagates, as in
 * PyTorch's CPU kernel. */
#include "layer_util.h"

#include <math.h>
#include <string.h>

_Static_assert(sizeof(int32_t) == sizeof(float), "argmax indices live in float slots");

static al_status maxpool_shape(al_node *nd, const al_shape *in) {
    al_pool_geom g = {0};
    al_status st = al_pool_geom_init("maxpool", nd, in, &g);
    if (st != AL_OK) return st;
    if ((size_t)g.H * (size_t)g.W > (size_t)INT32_MAX)
        return al_error(AL_ESHAPE, "maxpool: input plane %dx%d is too large", g.H, g.W);
    nd->aux_per_sample = al_shape_numel(&nd->out);
    return AL_OK;
}

typedef struct maxpool_args {
    al_pool_geom g;
    const float *x;
    float *y;
    int32_t *arg;
    const float *dy;
    float *dx;
} maxpool_args;

/* planes [lo, hi) of the n*C input planes */
static void maxpool_fwd_range(void *va, long lo, long hi) {
    const maxpool_args *a = va;
    const al_pool_geom g = a->g;
    size_t in_plane = (size_t)g.H * g.W, out_plane = (size_t)g.OH * g.OW;
    for (long pl = lo; pl < hi; pl++) {
        const float *x = a->x + (size_t)pl * in_plane;
        float *y = a->y + (size_t)pl * out_plane;
        int32_t *arg = a->arg + (size_t)pl * out_plane;
        for (int oh = 0; oh < g.OH; oh++) {
            int h0 = oh * g.s - g.p, h1 = AL_MIN(h0 + g.k, g.H);
            if (h0 < 0) h0 = 0;
            for (int ow = 0; ow < g.OW; ow++) {
                int w0 = ow * g.s - g.p, w1 = AL_MIN(w0 + g.k, g.W);
                if (w0 < 0) w0 = 0;
                float best = -INFINITY;
                int32_t bi = h0 * g.W + w0; /* pad <= k/2: the window holds a real element */
                for (int h = h0; h < h1; h++)
                    for (int w = w0; w < w1; w++) {
                        float v = x[(size_t)h * g.W + w];
                        if (v > best || isnan(v)) {
                            best = v;
                            bi = h * g.W + w;
                            if (isnan(v)) goto done;
                        }
                    }
            done:
                y[(size_t)oh * g.OW + ow] = best;
                arg[(size_t)oh * g.OW + ow] = bi;
            }
        }
    }
}

static al_status maxpool_forward(al_node *nd, const al_exec *e, const float *x, float *y, int n) {
    maxpool_args a = {al_pool_geom_of(nd), x, y, (int32_t *)nd->aux, NULL, NULL};
    size_t work = (size_t)n * al_shape_numel(&nd->in);
    al_par_for(e->pool, (long)n * a.g.C, work, maxpool_fwd_range, &a);
    return AL_OK;
}

static void maxpool_bwd_range(void *va, long lo, long hi) {
    const maxpool_args *a = va;
    const al_pool_geom g = a->g;
    size_t in_plane = (size_t)g.H * g.W, out_plane = (size_t)g.OH * g.OW;
    for (long pl = lo; pl < hi; pl++) {
        float *dx = a->dx + (size_t)pl * in_plane;
        const float *dy = a->dy + (size_t)pl * out_plane;
        const int32_t *arg = a->arg + (size_t)pl * out_plane;
        memset(dx, 0, sizeof(float) * in_plane);
        for (size_t o = 0; o < out_plane; o++) dx[arg[o]] += dy[o];
    }
}

static void maxpool_backward(al_node *nd, const al_exec *e, const float *x, const float *y, const float *dy,
                             float *dx, int n) {
    AL_UNUSED(x);
    AL_UNUSED(y);
    if (!dx) return; /* no weights */
    maxpool_args a = {al_pool_geom_of(nd), NULL, NULL, (int32_t *)nd->aux, dy, dx};
    size_t work = (size_t)n * al_shape_numel(&nd->in);
    al_par_for(e->pool, (long)n * a.g.C, work, maxpool_bwd_range, &a);
}

/* One comparison per window element counts as one MAC. */
static uint64_t maxpool_macs(const al_node *nd) {
    return (uint64_t)al_shape_numel(&nd->out) * (uint64_t)nd->cfg.k * (uint64_t)nd->cfg.k;
}

const al_layer_vt al_maxpool_vt = {"maxpool", maxpool_shape, NULL, maxpool_forward, maxpool_backward, maxpool_macs};
