/* Dense (fully connected) layer, PyTorch's nn.Linear.
 * Applies to the last dimension: x is (rows, in) with rows = n * prod(leading
 * dims), weight is (out, in), bias (out), y is (rows, out).
 * With a fused activation (cfg.act) y = act(x W^T + b); backward first
 * masks dy into scratch (rows, out) by the derivative read from y. */
#include "layers/layers.h"

#include <math.h>
#include <string.h>

static al_status dense_shape(al_node *nd, const al_shape *in) {
    if (nd->cfg.units <= 0) return al_error(AL_EINVAL, "dense: units must be positive, got %d", nd->cfg.units);
    if (in->ndim < 1) return al_error(AL_ESHAPE, "dense: input has no dimensions");
    int fin = in->d[in->ndim - 1];
    nd->out = *in;
    nd->out.d[in->ndim - 1] = nd->cfg.units;
    int wd[2] = {nd->cfg.units, fin};
    al_node_param(nd, 0, "weight", 2, wd, 0);
    if (nd->cfg.bias) al_node_param(nd, 1, "bias", 1, wd, 0);
    if (nd->cfg.act < 0 || nd->cfg.act >= AL_ACT_COUNT)
        return al_error(AL_EINVAL, "dense: unknown fused activation %d", nd->cfg.act);
    nd->ws_fixed = 0;
    nd->ws_per_sample = nd->cfg.act ? al_shape_numel(&nd->out) : 0;
    return AL_OK;
}

static void dense_init(al_node *nd, al_rng *rng) {
    /* PyTorch: kaiming_uniform(a=sqrt(5)) == U(-1/sqrt(in), 1/sqrt(in)) */
    float bound = 1.0f / sqrtf((float)nd->params[0].dims[1]);
    for (int i = 0; i < nd->nparams; i++)
        for (size_t j = 0; j < nd->params[i].n; j++)
            nd->params[i].w[j] = (2.0f * al_rng_uniform(rng) - 1.0f) * bound;
}

static int dense_rows(const al_node *nd, int n) {
    int rows = n;
    for (int i = 0; i < nd->in.ndim - 1; i++) rows *= nd->in.d[i];
    return rows;
}

static al_status dense_forward(al_node *nd, const al_exec *e, const float *x, float *y, int n) {
    int rows = dense_rows(nd, n), in = nd->params[0].dims[1], out = nd->cfg.units;
    const float *w = nd->params[0].w;
    if (nd->q && !nd->trainable) return al_quant_forward(nd, e, x, y, n);
    /* the bias and the fused activation in the GEMM's epilogue, tile by
     * tile: no pass over all of y (the LM's output layer: 640 x 5001) */
    const al_gemm_ep ep = {NULL, nd->cfg.bias ? nd->params[1].w : NULL, nd->cfg.act};
    al_sgemm_ep(e->pool, 0, 1, rows, out, in, x, in, w, in, &ep, y, out);
    return AL_OK;
}

typedef struct bias_args {
    const float *dy;
    float *db;
    int rows, out;
} bias_args;

/* db[o] += sum over rows of dy[r][o] for the columns of 16-wide blocks
 * [lo, hi): every column is summed in row order by one thread, so the split
 * changes no result. */
static void bias_grad_range(void *va, long lo, long hi) {
    const bias_args *a = va;
    int c0 = (int)lo * 16, c1 = (int)AL_MIN(hi * 16, (long)a->out);
    float *restrict db = a->db;
    for (int r = 0; r < a->rows; r++) {
        const float *restrict d = a->dy + (size_t)r * (size_t)a->out;
        for (int o = c0; o < c1; o++) db[o] += d[o];
    }
}

static void dense_backward(al_node *nd, const al_exec *e, const float *x, const float *y, const float *dy,
                           float *dx, int n) {
    int rows = dense_rows(nd, n), in = nd->params[0].dims[1], out = nd->cfg.units;
    if (nd->cfg.act) {
        al_act_backward(e->pool, nd->cfg.act, y, dy, e->ws, (size_t)rows * (size_t)out);
        dy = e->ws;
    }
    if (nd->trainable) {
        al_sgemm(e->pool, 1, 0, out, in, rows, 1.0f, dy, out, x, in, 1.0f, nd->params[0].g, in);
        if (nd->cfg.bias) {
            /* a pass over all of dy (the LM's output layer: 640 x 5001):
             * split over the pool by column blocks */
            bias_args ba = {dy, nd->params[1].g, rows, out};
            al_par_for(e->pool, (out + 15) / 16, (size_t)rows * (size_t)out, bias_grad_range, &ba);
        }
    }
    if (dx) al_sgemm(e->pool, 0, 0, rows, in, out, 1.0f, dy, out, nd->params[0].w, in, 0.0f, dx, in);
}

static uint64_t dense_macs(const al_node *nd) {
    uint64_t rows = 1;
    for (int i = 0; i < nd->in.ndim - 1; i++) rows *= (uint64_t)nd->in.d[i];
    return rows * (uint64_t)nd->params[0].dims[1] * (uint64_t)nd->cfg.units;
}

/* One GEMM over the batch's rows (the int8 form packs no floats); the
 * backward's weight gradient (out x in over the rows) and input gradient
 * (rows x in over out). */
static size_t dense_pack_floats(const al_node *nd, int n, int backward) {
    const long rows = dense_rows(nd, n), in = nd->params[0].dims[1], out = nd->cfg.units;
    if (backward) return AL_MAX(al_gemm_pack_floats_upto(out, in, rows), al_gemm_pack_floats(rows, in, out));
    if (nd->q && !nd->trainable) return 0;
    return al_gemm_pack_floats(rows, out, in);
}

const al_layer_vt al_dense_vt = {"dense", dense_shape, dense_init, dense_forward, dense_backward, dense_macs,
                                 dense_pack_floats};
