/* Grouped 2-D convolution, PyTorch's nn.Conv2d with 1 < groups (ResNeXt,
 * ShuffleNet, RegNet; groups = channels = filters is `dwconv`, one group is
 * `conv`). x is (n, C, H, W), y is (n, F, Ho, Wo); cfg: units F, group G
 * (C and F multiples of G), k, stride, pad, bias. Group g maps input
 * channels [g*C/G, (g+1)*C/G) to output channels [g*F/G, (g+1)*F/G) with
 * weight rows [g*F/G, (g+1)*F/G) of weight [F, C/G, k, k]. Each (sample,
 * group) is an im2col of its C/G channels and a GEMM; backward recomputes
 * the columns (nothing is saved) and col2im's the input gradient per group
 * (disjoint channels); a dilation (cfg.dil) takes the plain column path
 * (al_im2col_dil, al_col2im_dil). The scratch holds one group's columns and their
 * gradient: 2 * (C/G)*k*k * Ho*Wo floats. GEMMs run on the pool, so results
 * depend on the thread count only as al_sgemm's do (not at all). */

#include "layers/layers.h"

#include <limits.h>
#include <math.h>
#include <string.h>

typedef struct gconv_geom {
    int C, H, W, F, G, k, s, p, Ho, Wo, Cg, Fg, d;
    long P, CKKg;
} gconv_geom;

static gconv_geom geom(const al_node *nd) {
    gconv_geom g;
    g.C = nd->in.d[0];
    g.H = nd->in.d[1];
    g.W = nd->in.d[2];
    g.F = nd->cfg.units;
    g.G = nd->cfg.group;
    g.k = nd->cfg.k;
    g.s = nd->cfg.stride > 0 ? nd->cfg.stride : 1;
    g.p = nd->cfg.pad;
    g.d = nd->cfg.dil > 1 ? nd->cfg.dil : 1;
    g.Ho = (g.H + 2 * g.p - g.d * (g.k - 1) - 1) / g.s + 1;
    g.Wo = (g.W + 2 * g.p - g.d * (g.k - 1) - 1) / g.s + 1;
    g.Cg = g.G > 0 ? g.C / g.G : 0;
    g.Fg = g.G > 0 ? g.F / g.G : 0;
    g.P = (long)g.Ho * g.Wo;
    g.CKKg = (long)g.Cg * g.k * g.k;
    return g;
}

static al_status gconv_shape(al_node *nd, const al_shape *in) {
    al_layer_cfg *c = &nd->cfg;
    if (in->ndim != 3) return al_error(AL_ESHAPE, "gconv: input must be [C,H,W], got %d dimensions", in->ndim);
    if (c->units <= 0) return al_error(AL_EINVAL, "gconv: filters must be positive, got %d", c->units);
    if (c->group < 2) return al_error(AL_EINVAL, "gconv: groups must be 2 or more, got %d (one group: conv)", c->group);
    if (in->d[0] % c->group || c->units % c->group)
        return al_error(AL_ESHAPE, "gconv: %d input channels and %d filters must both be multiples of %d groups",
                        in->d[0], c->units, c->group);
    if (c->k <= 0) return al_error(AL_EINVAL, "gconv: kernel size must be positive, got %d", c->k);
    if (c->stride == 0) c->stride = 1;
    if (c->stride < 0 || c->pad < 0)
        return al_error(AL_EINVAL, "gconv: stride %d and padding %d must not be negative", c->stride, c->pad);
    if (c->act) return al_error(AL_EINVAL, "gconv: no fused activation");
    if (c->dil < 0 || c->dil > 64) return al_error(AL_EINVAL, "gconv: dilation %d must be 1..64", c->dil);
    int ke = (c->dil > 1 ? c->dil : 1) * (c->k - 1) + 1; /* the dilated kernel's extent */
    if (in->d[1] + 2 * c->pad < ke || in->d[2] + 2 * c->pad < ke)
        return al_error(AL_ESHAPE, "gconv: kernel %d (dilated: %d) is larger than the padded input %dx%d (padding %d)",
                        c->k, ke, in->d[1], in->d[2], c->pad);
    nd->in = *in;
    gconv_geom g = geom(nd);
    if (g.CKKg > INT_MAX / 4 || (double)g.CKKg * (double)g.P > (double)INT_MAX / 4 || g.P > INT_MAX / 4)
        return al_error(AL_ESHAPE, "gconv: a group's column matrix %ld x %ld is too large", g.CKKg, g.P);
    nd->out.ndim = 3;
    nd->out.d[0] = g.F;
    nd->out.d[1] = g.Ho;
    nd->out.d[2] = g.Wo;
    int wd[4] = {g.F, g.Cg, g.k, g.k};
    al_node_param(nd, 0, "weight", 4, wd, 0);
    if (c->bias) al_node_param(nd, 1, "bias", 1, wd, 0);
    nd->aux_per_sample = nd->aux_fixed = 0;
    nd->ws_per_sample = 0;
    nd->ws_fixed = 2 * (size_t)g.CKKg * (size_t)g.P;
    return AL_OK;
}

static void gconv_init(al_node *nd, al_rng *rng) {
    /* PyTorch: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = C/G*k*k */
    const al_param *w = &nd->params[0];
    float bound = 1.0f / sqrtf((float)(w->dims[1] * w->dims[2] * w->dims[3]));
    for (int i = 0; i < nd->nparams; i++)
        for (size_t j = 0; j < nd->params[i].n; j++) nd->params[i].w[j] = (2.0f * al_rng_uniform(rng) - 1.0f) * bound;
}

static al_status gconv_forward(al_node *nd, const al_exec *e, const float *x, float *y, int n) {
    const gconv_geom g = geom(nd);
    const float *w = nd->params[0].w, *b = nd->cfg.bias ? nd->params[1].w : NULL;
    float *col = e->ws;
    size_t xs = (size_t)g.C * g.H * g.W, ys = (size_t)g.F * g.P, xg = (size_t)g.Cg * g.H * g.W;
    for (int i = 0; i < n; i++)
        for (int q = 0; q < g.G; q++) {
            const float *xi = x + (size_t)i * xs + (size_t)q * xg;
            float *yi = y + (size_t)i * ys + (size_t)q * g.Fg * g.P;
            al_im2col_dil(xi, g.Cg, g.H, g.W, g.k, g.s, g.p, g.d, col, g.P);
            al_sgemm(e->pool, 0, 0, g.Fg, (int)g.P, (int)g.CKKg, 1.0f, w + (size_t)q * g.Fg * g.CKKg, (int)g.CKKg, col,
                     (int)g.P, 0.0f, yi, (int)g.P);
            if (b)
                for (int f = 0; f < g.Fg; f++) {
                    float bf = b[q * g.Fg + f];
                    float *row = yi + (size_t)f * g.P;
                    for (long t = 0; t < g.P; t++) row[t] += bf;
                }
        }
    return AL_OK;
}

static void gconv_backward(al_node *nd, const al_exec *e, const float *x, const float *y, const float *dy,
                           float *dx, int n) {
    AL_UNUSED(y);
    const gconv_geom g = geom(nd);
    const float *w = nd->params[0].w;
    float *gw = nd->trainable ? nd->params[0].g : NULL;
    float *gb = nd->trainable && nd->cfg.bias ? nd->params[1].g : NULL;
    float *col = e->ws, *dcol = e->ws + (size_t)g.CKKg * g.P;
    size_t xs = (size_t)g.C * g.H * g.W, ys = (size_t)g.F * g.P, xg = (size_t)g.Cg * g.H * g.W;
    for (int i = 0; i < n; i++)
        for (int q = 0; q < g.G; q++) {
            const float *dyi = dy + (size_t)i * ys + (size_t)q * g.Fg * g.P;
            if (gw) {
                al_im2col_dil(x + (size_t)i * xs + (size_t)q * xg, g.Cg, g.H, g.W, g.k, g.s, g.p, g.d, col, g.P);
                al_sgemm(e->pool, 0, 1, g.Fg, (int)g.CKKg, (int)g.P, 1.0f, dyi, (int)g.P, col, (int)g.P, 1.0f,
                         gw + (size_t)q * g.Fg * g.CKKg, (int)g.CKKg);
            }
            if (gb)
                for (int f = 0; f < g.Fg; f++) {
                    double s = 0.0;
                    const float *row = dyi + (size_t)f * g.P;
                    for (long t = 0; t < g.P; t++) s += row[t];
                    gb[q * g.Fg + f] += (float)s;
                }
            if (dx) {
                al_sgemm(e->pool, 1, 0, (int)g.CKKg, (int)g.P, g.Fg, 1.0f, w + (size_t)q * g.Fg * g.CKKg, (int)g.CKKg,
                         dyi, (int)g.P, 0.0f, dcol, (int)g.P);
                al_col2im_dil(dcol, g.P, g.Cg, g.H, g.W, g.k, g.s, g.p, g.d, dx + (size_t)i * xs + (size_t)q * xg);
            }
        }
}

static uint64_t gconv_macs(const al_node *nd) {
    gconv_geom g = geom(nd);
    return (uint64_t)g.F * (uint64_t)g.P * (uint64_t)g.CKKg;
}

/* One GEMM a sample and group; backward, its weight gradient and its
 * column gradient. */
static size_t gconv_pack_floats(const al_node *nd, int n, int backward) {
    AL_UNUSED(n);
    const gconv_geom g = geom(nd);
    if (backward) return AL_MAX(al_gemm_pack_floats(g.Fg, g.CKKg, g.P), al_gemm_pack_floats(g.CKKg, g.P, g.Fg));
    return al_gemm_pack_floats(g.Fg, g.P, g.CKKg);
}

const al_layer_vt al_gconv_vt = {"gconv", gconv_shape, gconv_init, gconv_forward, gconv_backward, gconv_macs,
                                 gconv_pack_floats};
