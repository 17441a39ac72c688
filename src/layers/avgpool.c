/* 2-D average pooling, PyTorch's nn.AvgPool2d with count_include_pad=True.
 * x is (n, C, H, W), y is (n, C, OH, OW); cfg: k, stride (0 = k), pad (at
 * most k/2), ceil (ceil_mode). Padding counts as zeros in the average, so
 * the divisor is k*k in floor mode; in ceil mode a last window that runs
 * past the padded border divides by its clipped extent, as PyTorch does
 * (al_pool_divisor). Nothing is saved for backward. */

#include "layers/layers.h"

#include <string.h>

static al_status avgpool_shape(al_node *nd, const al_shape *in) {
    al_pool_geom g = {0};
    return al_pool_geom_init("avgpool", nd, in, &g);
}

typedef struct avgpool_args {
    al_pool_geom g;
    const float *x; /* forward input, or backward dy */
    float *y;       /* forward output, or backward dx */
} avgpool_args;

/* planes [lo, hi) of the n*C planes */
static void avgpool_fwd_range(void *va, long lo, long hi) {
    const avgpool_args *a = va;
    const al_pool_geom g = a->g;
    size_t in_plane = (size_t)g.H * g.W, out_plane = (size_t)g.OH * g.OW;
    for (long pl = lo; pl < hi; pl++) {
        const float *x = a->x + (size_t)pl * in_plane;
        float *y = a->y + (size_t)pl * out_plane;
        for (int oh = 0; oh < g.OH; oh++) {
            int h0 = AL_MAX(oh * g.s - g.p, 0), h1 = AL_MIN(oh * g.s - g.p + g.k, g.H);
            for (int ow = 0; ow < g.OW; ow++) {
                int w0 = AL_MAX(ow * g.s - g.p, 0), w1 = AL_MIN(ow * g.s - g.p + g.k, g.W);
                float s = 0.0f, inv = 1.0f / (float)al_pool_divisor(&g, oh, ow);
                for (int h = h0; h < h1; h++)
                    for (int w = w0; w < w1; w++) s += x[(size_t)h * g.W + w];
                y[(size_t)oh * g.OW + ow] = s * inv;
            }
        }
    }
}

static al_status avgpool_forward(al_node *nd, const al_exec *e, const float *x, float *y, int n) {
    avgpool_args a = {al_pool_geom_of(nd), x, y};
    size_t work = (size_t)n * al_shape_numel(&nd->in);
    al_par_for(e->pool, (long)n * a.g.C, work, avgpool_fwd_range, &a);
    return AL_OK;
}

static void avgpool_bwd_range(void *va, long lo, long hi) {
    const avgpool_args *a = va;
    const al_pool_geom g = a->g;
    size_t in_plane = (size_t)g.H * g.W, out_plane = (size_t)g.OH * g.OW;
    for (long pl = lo; pl < hi; pl++) {
        const float *dy = a->x + (size_t)pl * out_plane;
        float *dx = a->y + (size_t)pl * in_plane;
        memset(dx, 0, sizeof(float) * in_plane);
        for (int oh = 0; oh < g.OH; oh++) {
            int h0 = AL_MAX(oh * g.s - g.p, 0), h1 = AL_MIN(oh * g.s - g.p + g.k, g.H);
            for (int ow = 0; ow < g.OW; ow++) {
                int w0 = AL_MAX(ow * g.s - g.p, 0), w1 = AL_MIN(ow * g.s - g.p + g.k, g.W);
                float d = dy[(size_t)oh * g.OW + ow] * (1.0f / (float)al_pool_divisor(&g, oh, ow));
                for (int h = h0; h < h1; h++)
                    for (int w = w0; w < w1; w++) dx[(size_t)h * g.W + w] += d;
            }
        }
    }
}

static void avgpool_backward(al_node *nd, const al_exec *e, const float *x, const float *y, const float *dy,
                             float *dx, int n) {
    AL_UNUSED(x);
    AL_UNUSED(y);
    if (!dx) return; /* no weights */
    avgpool_args a = {al_pool_geom_of(nd), dy, dx};
    size_t work = (size_t)n * al_shape_numel(&nd->in);
    al_par_for(e->pool, (long)n * a.g.C, work, avgpool_bwd_range, &a);
}

/* One add per window element counts as one MAC. */
static uint64_t avgpool_macs(const al_node *nd) {
    return (uint64_t)al_shape_numel(&nd->out) * (uint64_t)nd->cfg.k * (uint64_t)nd->cfg.k;
}

const al_layer_vt al_avgpool_vt = {"avgpool", avgpool_shape, NULL, avgpool_forward, avgpool_backward, avgpool_macs,
                                   NULL};
