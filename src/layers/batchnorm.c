/* Batch normalisation over channel dim 0, PyTorch's BatchNorm1d/2d.
 * x is (n, C, S) with S = prod(dims after the first) (S = 1 for a [C]
 * input); statistics are taken per channel over the n*S values.
 *   training: y = weight * (x - mean_b) / sqrt(var_b + eps) + bias with the
 *             batch mean and biased variance; the running statistics move by
 *             running = (1 - momentum) * running + momentum * stat, the
 *             variance using the unbiased batch variance (PyTorch's rule);
 *   eval / frozen (e->training == 0): the same affine map with the running
 *             statistics, which are left alone.
 * Params: weight [C] (1), bias [C] (0); state running_mean [C] (0),
 * running_var [C] (1). aux_fixed = 2C + 1: the mean and 1/sqrt(var + eps)
 * the forward used, then 1.0 when they were batch statistics (backward then
 * differentiates through them) or 0.0 when they were the running ones. */

#include "layers/layers.h"

#include <math.h>

static al_status batchnorm_shape(al_node *nd, const al_shape *in) {
    if (in->ndim < 1) return al_error(AL_ESHAPE, "batchnorm: input has no dimensions");
    if (!(nd->cfg.eps > 0.0f))
        return al_error(AL_EINVAL, "batchnorm: eps must be positive, got %g", (double)nd->cfg.eps);
    if (!(nd->cfg.momentum > 0.0f && nd->cfg.momentum <= 1.0f))
        return al_error(AL_EINVAL, "batchnorm: momentum must be in (0, 1], got %g", (double)nd->cfg.momentum);
    int C = in->d[0];
    nd->out = *in;
    al_node_param(nd, 0, "weight", 1, &C, 0);
    al_node_param(nd, 1, "bias", 1, &C, 0);
    al_node_param(nd, 2, "running_mean", 1, &C, 1);
    al_node_param(nd, 3, "running_var", 1, &C, 1);
    nd->aux_fixed = 2 * (size_t)C + 1;
    return AL_OK;
}

static void batchnorm_init(al_node *nd, al_rng *rng) {
    AL_UNUSED(rng);
    for (size_t c = 0; c < nd->params[0].n; c++) {
        nd->params[0].w[c] = 1.0f;
        nd->params[1].w[c] = 0.0f;
        nd->params[2].w[c] = 0.0f;
        nd->params[3].w[c] = 1.0f;
    }
}

typedef struct bn_args {
    al_node *nd;
    int n, C;
    size_t S;
    int batch_stats;
    const float *x, *dy;
    float *y, *dx;
} bn_args;

/* channels [lo, hi) */
static void bn_fwd_range(void *va, long lo, long hi) {
    const bn_args *a = va;
    al_node *nd = a->nd;
    const float *gamma = nd->params[0].w, *beta = nd->params[1].w;
    float *rmean = nd->params[2].w, *rvar = nd->params[3].w;
    float *mean = nd->aux, *invstd = nd->aux + a->C;
    size_t CS = (size_t)a->C * a->S;
    double cnt = (double)a->n * (double)a->S;
    for (long c = lo; c < hi; c++) {
        double mu, var;
        if (a->batch_stats) {
            /* two passes in double: exact enough and stable for large planes */
            double s = 0.0;
            for (int b = 0; b < a->n; b++) {
                const float *x = a->x + (size_t)b * CS + (size_t)c * a->S;
                for (size_t i = 0; i < a->S; i++) s += x[i];
            }
            mu = s / cnt;
            double q = 0.0;
            for (int b = 0; b < a->n; b++) {
                const float *x = a->x + (size_t)b * CS + (size_t)c * a->S;
                for (size_t i = 0; i < a->S; i++) q += ((double)x[i] - mu) * ((double)x[i] - mu);
            }
            var = q / cnt;
            double m = nd->cfg.momentum;
            rmean[c] = (float)((1.0 - m) * rmean[c] + m * mu);
            rvar[c] = (float)((1.0 - m) * rvar[c] + m * (q / (cnt - 1.0)));
        } else {
            mu = rmean[c];
            var = rvar[c];
        }
        float m = (float)mu, is = (float)(1.0 / sqrt(var + (double)nd->cfg.eps));
        mean[c] = m;
        invstd[c] = is;
        float scale = gamma[c] * is, shift = beta[c] - m * scale;
        for (int b = 0; b < a->n; b++) {
            const float *x = a->x + (size_t)b * CS + (size_t)c * a->S;
            float *y = a->y + (size_t)b * CS + (size_t)c * a->S;
            for (size_t i = 0; i < a->S; i++) y[i] = x[i] * scale + shift;
        }
    }
}

static al_status batchnorm_forward(al_node *nd, const al_exec *e, const float *x, float *y, int n) {
    int C = nd->in.d[0];
    size_t S = al_shape_numel(&nd->in) / (size_t)C;
    int batch_stats = e->training != 0;
    if (batch_stats && (size_t)n * S < 2)
        return al_error(AL_ERANGE, "batchnorm: training needs more than one value per channel, got batch %d of %zu",
                        n, S);
    bn_args a = {nd, n, C, S, batch_stats, x, NULL, y, NULL};
    al_par_for(e->pool, C, (size_t)n * al_shape_numel(&nd->in), bn_fwd_range, &a);
    nd->aux[2 * (size_t)C] = batch_stats ? 1.0f : 0.0f;
    return AL_OK;
}

/* channels [lo, hi). With xh = (x - mean) * invstd and dxh = dy * weight,
 * through batch statistics dx = invstd * (dxh - mean(dxh) - xh * mean(dxh * xh));
 * through fixed ones dx = invstd * dxh. */
static void bn_bwd_range(void *va, long lo, long hi) {
    const bn_args *a = va;
    al_node *nd = a->nd;
    const float *gamma = nd->params[0].w;
    const float *mean = nd->aux, *invstd = nd->aux + a->C;
    size_t CS = (size_t)a->C * a->S;
    double cnt = (double)a->n * (double)a->S;
    for (long c = lo; c < hi; c++) {
        float m = mean[c], is = invstd[c];
        double sdy = 0.0, sdyxh = 0.0;
        for (int b = 0; b < a->n; b++) {
            const float *x = a->x + (size_t)b * CS + (size_t)c * a->S;
            const float *dy = a->dy + (size_t)b * CS + (size_t)c * a->S;
            for (size_t i = 0; i < a->S; i++) {
                sdy += dy[i];
                sdyxh += (double)dy[i] * (double)((x[i] - m) * is);
            }
        }
        if (nd->trainable) {
            nd->params[0].g[c] += (float)sdyxh;
            nd->params[1].g[c] += (float)sdy;
        }
        if (!a->dx) continue;
        float k = gamma[c] * is;
        float c0 = a->batch_stats ? (float)(sdy / cnt) : 0.0f;
        float c1 = a->batch_stats ? (float)(sdyxh / cnt) : 0.0f;
        for (int b = 0; b < a->n; b++) {
            const float *x = a->x + (size_t)b * CS + (size_t)c * a->S;
            const float *dy = a->dy + (size_t)b * CS + (size_t)c * a->S;
            float *dx = a->dx + (size_t)b * CS + (size_t)c * a->S;
            for (size_t i = 0; i < a->S; i++) dx[i] = k * (dy[i] - c0 - (x[i] - m) * is * c1);
        }
    }
}

static void batchnorm_backward(al_node *nd, const al_exec *e, const float *x, const float *y, const float *dy,
                               float *dx, int n) {
    AL_UNUSED(y);
    int C = nd->in.d[0];
    size_t S = al_shape_numel(&nd->in) / (size_t)C;
    /* the mode the forward actually ran in, not e->training */
    int batch_stats = nd->aux[2 * (size_t)C] != 0.0f;
    bn_args a = {nd, n, C, S, batch_stats, x, dy, NULL, dx};
    al_par_for(e->pool, C, (size_t)n * al_shape_numel(&nd->in), bn_bwd_range, &a);
}

/* One multiply-add per element (the inference form, an affine map). */
static uint64_t batchnorm_macs(const al_node *nd) { return (uint64_t)al_shape_numel(&nd->in); }

const al_layer_vt al_batchnorm_vt = {"batchnorm", batchnorm_shape, batchnorm_init, batchnorm_forward,
                                     batchnorm_backward, batchnorm_macs, NULL};
