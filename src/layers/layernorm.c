/* Layer normalization over the last axis (PyTorch's nn.LayerNorm(D) with
 * D the input's last dimension, elementwise affine): for each row of D
 * elements, mean and biased variance in double (eps 0 means 1e-5),
 *   xhat = (x - mean) / sqrt(var + eps),  y = xhat * weight + bias.
 * weight and bias are [D] (initialised to 1 and 0). Backward recomputes
 * mean and 1/sqrt(var + eps) from x into the node's scratch, then
 *   dx = rstd * (g - mean(g) - xhat * mean(g * xhat)), g = dy * weight,
 * split over rows; weight.grad += sum dy * xhat and bias.grad += sum dy,
 * split over columns, each summed over rows in a fixed order. */

#include "layers/layers.h"

#include <math.h>

static al_status layernorm_shape(al_node *nd, const al_shape *in) {
    if (in->ndim < 1) return al_error(AL_ESHAPE, "layernorm: input has no dimensions");
    if (nd->cfg.eps == 0.0f) nd->cfg.eps = 1e-5f; /* PyTorch's default */
    if (!(nd->cfg.eps > 0.0f)) return al_error(AL_EINVAL, "layernorm: eps must be positive");
    int D = in->d[in->ndim - 1];
    al_node_param(nd, 0, "weight", 1, &D, 0);
    al_node_param(nd, 1, "bias", 1, &D, 0);
    nd->out = *in;
    nd->ws_per_sample = 2 * (al_shape_numel(in) / (size_t)D); /* mean, rstd per row */
    return AL_OK;
}

static void layernorm_init(al_node *nd, al_rng *rng) {
    AL_UNUSED(rng);
    for (size_t j = 0; j < nd->params[0].n; j++) {
        nd->params[0].w[j] = 1.0f;
        nd->params[1].w[j] = 0.0f;
    }
}

typedef struct ln_args {
    size_t D, rows;
    float eps;
    const float *x, *dy, *w, *b;
    float *y, *dx, *stat, *gw, *gb;
} ln_args;

static void ln_stats(const float *x, size_t D, float eps, float *mean, float *rstd) {
    double s = 0.0, q = 0.0;
    for (size_t j = 0; j < D; j++) s += x[j];
    double m = s / (double)D;
    for (size_t j = 0; j < D; j++) q += ((double)x[j] - m) * ((double)x[j] - m);
    *mean = (float)m;
    *rstd = (float)(1.0 / sqrt(q / (double)D + (double)eps));
}

static void ln_fwd_range(void *va, long lo, long hi) {
    const ln_args *a = va;
    for (long r = lo; r < hi; r++) {
        const float *x = a->x + (size_t)r * a->D;
        float *y = a->y + (size_t)r * a->D;
        float m, rs;
        ln_stats(x, a->D, a->eps, &m, &rs);
        for (size_t j = 0; j < a->D; j++) y[j] = (x[j] - m) * rs * a->w[j] + a->b[j];
    }
}

static al_status layernorm_forward(al_node *nd, const al_exec *e, const float *x, float *y, int n) {
    size_t D = (size_t)nd->in.d[nd->in.ndim - 1], rows = (size_t)n * al_shape_numel(&nd->in) / D;
    ln_args a = {D, rows, nd->cfg.eps, x, NULL, nd->params[0].w, nd->params[1].w, y, NULL, NULL, NULL, NULL};
    al_par_for(e->pool, (long)rows, 6 * rows * D, ln_fwd_range, &a);
    return AL_OK;
}

/* rows: statistics, then dx when wanted */
static void ln_bwd_rows(void *va, long lo, long hi) {
    const ln_args *a = va;
    for (long r = lo; r < hi; r++) {
        const float *x = a->x + (size_t)r * a->D, *dy = a->dy + (size_t)r * a->D;
        float *st = a->stat + 2 * (size_t)r;
        ln_stats(x, a->D, a->eps, &st[0], &st[1]);
        if (!a->dx) continue;
        float *dx = a->dx + (size_t)r * a->D;
        double sg = 0.0, sgx = 0.0;
        for (size_t j = 0; j < a->D; j++) {
            double g = (double)dy[j] * a->w[j], xh = ((double)x[j] - st[0]) * st[1];
            sg += g;
            sgx += g * xh;
        }
        float mg = (float)(sg / (double)a->D), mgx = (float)(sgx / (double)a->D);
        for (size_t j = 0; j < a->D; j++) {
            float xh = (x[j] - st[0]) * st[1];
            dx[j] = st[1] * (dy[j] * a->w[j] - mg - xh * mgx);
        }
    }
}

/* columns [lo, hi): the weight and bias gradients */
static void ln_bwd_cols(void *va, long lo, long hi) {
    const ln_args *a = va;
    for (long j = lo; j < hi; j++) {
        double sw = 0.0, sb = 0.0;
        for (size_t r = 0; r < a->rows; r++) {
            const float *st = a->stat + 2 * r;
            float xh = (a->x[r * a->D + (size_t)j] - st[0]) * st[1], g = a->dy[r * a->D + (size_t)j];
            sw += (double)g * xh;
            sb += g;
        }
        a->gw[j] += (float)sw;
        a->gb[j] += (float)sb;
    }
}

static void layernorm_backward(al_node *nd, const al_exec *e, const float *x, const float *y, const float *dy,
                               float *dx, int n) {
    AL_UNUSED(y);
    if (!dx && !nd->trainable) return;
    size_t D = (size_t)nd->in.d[nd->in.ndim - 1], rows = (size_t)n * al_shape_numel(&nd->in) / D;
    ln_args a = {D, rows, nd->cfg.eps, x, dy, nd->params[0].w, NULL, NULL, dx, e->ws, nd->params[0].g,
                 nd->params[1].g};
    al_par_for(e->pool, (long)rows, 8 * rows * D, ln_bwd_rows, &a);
    if (nd->trainable && a.gw && a.gb) al_par_for(e->pool, (long)D, 4 * rows * D, ln_bwd_cols, &a);
}

/* about eight operations per element */
static uint64_t layernorm_macs(const al_node *nd) { return 8 * (uint64_t)al_shape_numel(&nd->in); }

const al_layer_vt al_layernorm_vt = {"layernorm", layernorm_shape, layernorm_init, layernorm_forward,
                                     layernorm_backward, layernorm_macs, NULL};
