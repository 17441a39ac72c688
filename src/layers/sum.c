/* Sum: y = x + x2 + more[0].x + ... : the element-wise sum of the primary
 * input and the extra operands (cfg.src, then cfg.more; -1: the model
 * input), all of one shape (ONNX's Sum; its Mean is a sum and a scale). An
 * operand may repeat. Backward: dx = dy (overwritten), and dy added to each
 * extra operand's gradient (accumulated). */

#include "layers/layers.h"

#include <string.h>

static al_status sum_shape(al_node *nd, const al_shape *in) {
    const int m = al_cfg_nsrc(&nd->cfg);
    if (m > 1 && !nd->more) return al_error(AL_ESTATE, "sum: operands 2.. are not set");
    for (int k = 0; k < m; k++) {
        int s = al_cfg_src(&nd->cfg, k);
        if (s < -1 || s >= nd->index)
            return al_error(AL_EINVAL, "sum: operand node %d must be an earlier node or -1 (the input)", s);
        const al_shape *b = k == 0 ? &nd->in2 : &nd->more[k - 1].in;
        int ok = b->ndim == in->ndim;
        for (int d = 0; ok && d < in->ndim; d++) ok = b->d[d] == in->d[d];
        if (!ok) {
            char x[64], y[64];
            al_shape_str(in, x, sizeof x);
            al_shape_str(b, y, sizeof y);
            return al_error(AL_ESHAPE, "sum: operand %d has shape %s, the input %s (all must be the same)", k + 1, y,
                            x);
        }
    }
    nd->out = *in;
    return AL_OK;
}

typedef struct sum_args {
    const al_node *nd;
    const float *x, *dy;
    float *y, *dx;
} sum_args;

static const float *sum_in(const al_node *nd, int k) { return k == 0 ? nd->x2 : nd->more[k - 1].x; }
static float *sum_din(const al_node *nd, int k) { return k == 0 ? nd->dx2 : nd->more[k - 1].dx; }

/* In operand order, so the result does not depend on the thread count. */
static void sum_fwd_range(void *va, long lo, long hi) {
    const sum_args *a = va;
    const int m = al_cfg_nsrc(&a->nd->cfg);
    memcpy(a->y + lo, a->x + lo, sizeof(float) * (size_t)(hi - lo));
    for (int k = 0; k < m; k++) {
        const float *b = sum_in(a->nd, k);
        for (long i = lo; i < hi; i++) a->y[i] += b[i];
    }
}

static void sum_bwd_range(void *va, long lo, long hi) {
    const sum_args *a = va;
    const int m = al_cfg_nsrc(&a->nd->cfg);
    if (a->dx && a->dx != a->dy) memcpy(a->dx + lo, a->dy + lo, sizeof(float) * (size_t)(hi - lo));
    for (int k = 0; k < m; k++) {
        float *d = sum_din(a->nd, k);
        if (d)
            for (long i = lo; i < hi; i++) d[i] += a->dy[i];
    }
}

static al_status sum_forward(al_node *nd, const al_exec *e, const float *x, float *y, int n) {
    const int m = al_cfg_nsrc(&nd->cfg);
    for (int k = 0; k < m; k++)
        if (!sum_in(nd, k))
            return al_error(AL_ESTATE, "sum: operand %d (node %d) is not bound", k + 1, al_cfg_src(&nd->cfg, k));
    size_t len = (size_t)n * al_shape_numel(&nd->in);
    sum_args a = {nd, x, NULL, y, NULL};
    al_par_for(e->pool, (long)len, len * (size_t)(m + 1), sum_fwd_range, &a);
    return AL_OK;
}

static void sum_backward(al_node *nd, const al_exec *e, const float *x, const float *y, const float *dy, float *dx,
                         int n) {
    AL_UNUSED(x);
    AL_UNUSED(y);
    const int m = al_cfg_nsrc(&nd->cfg);
    size_t len = (size_t)n * al_shape_numel(&nd->in);
    sum_args a = {nd, NULL, dy, NULL, dx};
    al_par_for(e->pool, (long)len, len * (size_t)(m + 1), sum_bwd_range, &a);
}

/* One add per extra operand and element. */
static uint64_t sum_macs(const al_node *nd) {
    return (uint64_t)al_cfg_nsrc(&nd->cfg) * al_shape_numel(&nd->out);
}

const al_layer_vt al_sum_vt = {"sum", sum_shape, NULL, sum_forward, sum_backward, sum_macs, NULL};
