/* Depthwise 2-D convolution, PyTorch's nn.Conv2d(C, C, k, groups=C):
 * channel multiplier 1, every channel filtered by its own k x k kernel.
 * Per sample x is [C,H,W], y is [C,Ho,Wo] with Ho = (H + 2p - k) / s + 1
 * (dilation d, cfg.dil: Ho = (H + 2p - d*(k-1) - 1) / s + 1; only the
 * reference kernels take a dilation: al_dw_forward_dil, al_dw_backward_dil);
 * weight [C,1,k,k], bias [C]. Direct loops: with one input channel per
 * output there is no reduction for a GEMM to exploit. The per-plane
 * kernels (forward; input, weight and bias gradients) are the kernels
 * level's al_dw_forward / al_dw_backward: AVX-512, AVX2 or NEON by CPU,
 * the plain-C reference for other shapes (kernels.h).
 *
 * A fused activation (cfg.act: ReLU, ReLU6; `autlearn compile` puts the
 * ReLU6 of a MobileNet block here) is applied to each output plane right
 * after it is computed, while it is still in cache; backward first turns dy
 * into the activation's input gradient in the node's scratch (as dense.c).
 *
 * Threads: forward splits the n*C planes; backward splits the channels (a
 * thread owns dW[c] and db[c] and walks the samples in order), so the
 * gradient sums never depend on the thread count. */
#include "layers/layers.h"

#include <math.h>
#include <string.h>

/* al_dw_forward_planes takes the fused activation as 1 ReLU, 2 ReLU6 */
_Static_assert(AL_ACT_RELU == 1 && AL_ACT_RELU6 == 2, "al_act numbering the kernels read");

#define DW_PAR_MIN 32768

typedef struct dw_geom {
    int C, H, W, k, s, p, Ho, Wo, d;
} dw_geom;

static dw_geom dgeom(const al_node *nd) {
    dw_geom g;
    g.C = nd->in.d[0];
    g.H = nd->in.d[1];
    g.W = nd->in.d[2];
    g.k = nd->cfg.k;
    g.s = nd->cfg.stride > 0 ? nd->cfg.stride : 1;
    g.p = nd->cfg.pad;
    g.d = nd->cfg.dil > 1 ? nd->cfg.dil : 1;
    g.Ho = (g.H + 2 * g.p - g.d * (g.k - 1) - 1) / g.s + 1;
    g.Wo = (g.W + 2 * g.p - g.d * (g.k - 1) - 1) / g.s + 1;
    return g;
}

static al_status dw_shape(al_node *nd, const al_shape *in) {
    const al_layer_cfg *c = &nd->cfg;
    if (in->ndim != 3) return al_error(AL_ESHAPE, "dwconv: input must be [C,H,W], got %d dimensions", in->ndim);
    if (c->k <= 0) return al_error(AL_EINVAL, "dwconv: kernel size must be positive, got %d", c->k);
    if (c->stride < 0 || c->pad < 0)
        return al_error(AL_EINVAL, "dwconv: stride %d and padding %d must not be negative", c->stride, c->pad);
    if (c->dil < 0 || c->dil > 64) return al_error(AL_EINVAL, "dwconv: dilation %d must be 1..64", c->dil);
    int ke = (c->dil > 1 ? c->dil : 1) * (c->k - 1) + 1; /* the dilated kernel's extent */
    if (in->d[1] + 2 * c->pad < ke || in->d[2] + 2 * c->pad < ke)
        return al_error(AL_ESHAPE, "dwconv: kernel %d (dilated: %d) is larger than the padded input %dx%d (padding %d)",
                        c->k, ke, in->d[1], in->d[2], c->pad);
    if (c->act < 0 || c->act >= AL_ACT_COUNT) return al_error(AL_EINVAL, "dwconv: unknown fused activation %d", c->act);
    dw_geom g = dgeom(nd);
    nd->out.ndim = 3;
    nd->out.d[0] = g.C;
    nd->out.d[1] = g.Ho;
    nd->out.d[2] = g.Wo;
    int wd[4] = {g.C, 1, g.k, g.k};
    al_node_param(nd, 0, "weight", 4, wd, 0);
    if (c->bias) al_node_param(nd, 1, "bias", 1, wd, 0);
    nd->aux_per_sample = nd->aux_fixed = 0;
    nd->ws_fixed = 0;
    nd->ws_per_sample = c->act ? al_shape_numel(&nd->out) : 0; /* backward: the activation's input gradient */
    return AL_OK;
}

static void dw_init(al_node *nd, al_rng *rng) {
    /* PyTorch's default, fan_in = (C / groups) * k * k = k * k */
    float bound = 1.0f / (float)nd->params[0].dims[2];
    for (int i = 0; i < nd->nparams; i++)
        for (size_t j = 0; j < nd->params[i].n; j++)
            nd->params[i].w[j] = (2.0f * al_rng_uniform(rng) - 1.0f) * bound;
}

typedef struct dw_run {
    dw_geom g;
    int n, act;
    const float *x, *dy, *w, *b;
    float *y, *dx, *dw, *db;
} dw_run;

static al_dw_geom kgeom(const dw_geom *g) {
    al_dw_geom k = {g->H, g->W, g->k, g->s, g->p, g->Ho, g->Wo};
    return k;
}

static void dw_fwd_task(void *arg, int ith, int nth) {
    const dw_run *r = arg;
    const dw_geom *g = &r->g;
    long lo, hi;
    al_split((long)r->n * g->C, ith, nth, &lo, &hi);
    al_dw_geom kg = kgeom(g);
    size_t in_plane = (size_t)g->H * g->W, out_plane = (size_t)g->Ho * g->Wo;
    if (g->d <= 1) {
        al_dw_forward_planes(&kg, g->C, lo, hi, r->x, r->w, r->b, r->act, r->y);
        return;
    }
    for (long pl = lo; pl < hi; pl++) {
        int c = (int)(pl % g->C);
        al_dw_forward_dil(&kg, g->d, r->x + (size_t)pl * in_plane, r->w + (size_t)c * g->k * g->k,
                          r->b ? r->b[c] : 0.0f, r->y + (size_t)pl * out_plane);
        al_act_apply(r->act, r->y + (size_t)pl * out_plane, out_plane);
    }
}

static al_status dw_forward(al_node *nd, const al_exec *e, const float *x, float *y, int n) {
    if (nd->q && !nd->trainable) return al_quant_forward(nd, e, x, y, n); /* int8 (quant_forward.c) */
    dw_run r = {0};
    r.g = dgeom(nd);
    r.n = n;
    r.act = nd->cfg.act;
    r.x = x;
    r.y = y;
    r.w = nd->params[0].w;
    r.b = nd->cfg.bias ? nd->params[1].w : NULL;
    size_t work = (size_t)n * r.g.C * (size_t)r.g.Ho * r.g.Wo * (size_t)r.g.k * r.g.k;
    if (work >= DW_PAR_MIN)
        al_pool_run(e->pool, dw_fwd_task, &r);
    else
        dw_fwd_task(&r, 0, 1);
    return AL_OK;
}

/* Channel c over all samples: dW[c], db[c] (when trained), dx[:, c]. */
static void dw_bwd_task(void *arg, int ith, int nth) {
    const dw_run *r = arg;
    const dw_geom *g = &r->g;
    long clo, chi;
    al_split(g->C, ith, nth, &clo, &chi);
    al_dw_geom kg = kgeom(g);
    size_t in_plane = (size_t)g->H * g->W, out_plane = (size_t)g->Ho * g->Wo;
    if (g->d <= 1) {
        al_dw_backward_channels(&kg, g->C, (int)clo, (int)chi, r->n, r->x, r->dy, r->w, r->dx, r->dw, r->db);
        return;
    }
    for (long c = clo; c < chi; c++) {
        const float *w = r->w + (size_t)c * g->k * g->k;
        float *dw = r->dw ? r->dw + (size_t)c * g->k * g->k : NULL;
        size_t pl = (size_t)c;
        al_dw_backward_dil(&kg, g->d, r->n, (long)((size_t)g->C * in_plane), (long)((size_t)g->C * out_plane),
                           r->x + pl * in_plane, r->dy + pl * out_plane, w, r->dx ? r->dx + pl * in_plane : NULL, dw,
                           r->db ? r->db + c : NULL);
    }
}

static void dw_backward(al_node *nd, const al_exec *e, const float *x, const float *y, const float *dy, float *dx,
                        int n) {
    dw_run r = {0};
    r.g = dgeom(nd);
    r.n = n;
    r.x = x;
    r.dy = dy;
    r.dx = dx;
    r.w = nd->params[0].w;
    if (nd->trainable) {
        r.dw = nd->params[0].g;
        r.db = nd->cfg.bias ? nd->params[1].g : NULL;
    }
    if (!r.dw && !r.dx) return;
    if (nd->cfg.act) {
        al_act_backward(e->pool, nd->cfg.act, y, dy, e->ws, (size_t)n * al_shape_numel(&nd->out));
        r.dy = e->ws;
    }
    size_t work = (size_t)n * r.g.C * (size_t)r.g.Ho * r.g.Wo * (size_t)r.g.k * r.g.k;
    if (work >= DW_PAR_MIN)
        al_pool_run(e->pool, dw_bwd_task, &r);
    else
        dw_bwd_task(&r, 0, 1);
}

static uint64_t dw_macs(const al_node *nd) {
    dw_geom g = dgeom(nd);
    return (uint64_t)g.C * (uint64_t)g.Ho * (uint64_t)g.Wo * (uint64_t)g.k * (uint64_t)g.k;
}

const al_layer_vt al_dwconv2d_vt = {"dwconv", dw_shape, dw_init, dw_forward, dw_backward, dw_macs, NULL};
