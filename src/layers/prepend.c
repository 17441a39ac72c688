/* Prepend: y = concat(p, x) along a per-sample axis (cfg.axis, < 0 from the
 * end), with p a learned tensor of x's per-sample shape except cfg.units
 * entries on that axis, the same for every sample (PyTorch:
 * torch.cat([p.expand(n, ...), x], dim); a vision transformer's class token,
 * [1, D] before [T, D] tokens). p is the parameter "weight", initialised to
 * zeros as torchvision's ViT does. Backward: dx is dy's part past p; dp +=
 * the sum over the batch of dy's first part (each element of p summed over
 * the samples in order on one thread: deterministic for any pool). */

#include "layers/layers.h"

#include <string.h>

static al_status prepend_shape(al_node *nd, const al_shape *in) {
    int a = al_axis_resolve(nd->cfg.axis, in->ndim);
    if (in->ndim < 1 || in->ndim > 4 || a < 0)
        return al_error(AL_ESHAPE, "prepend: axis %d does not fit an input of %d dimensions (1 to 4)", nd->cfg.axis,
                        in->ndim);
    if (nd->cfg.units < 1 || nd->cfg.units > (1 << 24))
        return al_error(AL_EINVAL, "prepend: the count must be 1 to %d, got %d", 1 << 24, nd->cfg.units);
    al_shape ps = *in;
    ps.d[a] = nd->cfg.units;
    al_node_param(nd, 0, "weight", ps.ndim, ps.d, 0);
    nd->out = *in;
    nd->out.d[a] += nd->cfg.units;
    return AL_OK;
}

typedef struct pp_args {
    const float *x, *p, *dy;
    float *y, *dx, *g;
    size_t pblk, xblk, rows_ps; /* floats of p and of x per outer row; outer rows per sample */
    int n;
} pp_args;

static pp_args pp_geom(const al_node *nd, int n) {
    pp_args a;
    memset(&a, 0, sizeof a);
    size_t outer, len, inner;
    al_axis_split(&nd->in, al_axis_resolve(nd->cfg.axis, nd->in.ndim), &outer, &len, &inner);
    a.rows_ps = outer;
    a.xblk = len * inner;
    a.pblk = (size_t)nd->cfg.units * inner;
    a.n = n;
    return a;
}

static void pp_fwd_range(void *va, long lo, long hi) {
    const pp_args *a = va;
    for (long r = lo; r < hi; r++) {
        float *y = a->y + (size_t)r * (a->pblk + a->xblk);
        memcpy(y, a->p + ((size_t)r % a->rows_ps) * a->pblk, sizeof(float) * a->pblk);
        memcpy(y + a->pblk, a->x + (size_t)r * a->xblk, sizeof(float) * a->xblk);
    }
}

static void pp_dx_range(void *va, long lo, long hi) {
    const pp_args *a = va;
    for (long r = lo; r < hi; r++)
        memcpy(a->dx + (size_t)r * a->xblk, a->dy + (size_t)r * (a->pblk + a->xblk) + a->pblk,
               sizeof(float) * a->xblk);
}

/* elements [lo, hi) of p (rows_ps * pblk of them): the sum over the batch */
static void pp_grad_range(void *va, long lo, long hi) {
    const pp_args *a = va;
    for (int i = 0; i < a->n; i++)
        for (long j = lo; j < hi; j++) {
            size_t r = (size_t)j / a->pblk, k = (size_t)j % a->pblk;
            a->g[j] += a->dy[((size_t)i * a->rows_ps + r) * (a->pblk + a->xblk) + k];
        }
}

static al_status prepend_forward(al_node *nd, const al_exec *e, const float *x, float *y, int n) {
    pp_args a = pp_geom(nd, n);
    a.x = x;
    a.p = nd->params[0].w;
    a.y = y;
    size_t rows = (size_t)n * a.rows_ps;
    al_par_for(e->pool, (long)rows, rows * (a.pblk + a.xblk), pp_fwd_range, &a);
    return AL_OK;
}

static void prepend_backward(al_node *nd, const al_exec *e, const float *x, const float *y, const float *dy,
                             float *dx, int n) {
    AL_UNUSED(x);
    AL_UNUSED(y);
    pp_args a = pp_geom(nd, n);
    a.dy = dy;
    a.dx = dx;
    a.g = nd->params[0].g;
    size_t rows = (size_t)n * a.rows_ps;
    if (nd->trainable && a.g)
        al_par_for(e->pool, (long)(a.rows_ps * a.pblk), rows * a.pblk, pp_grad_range, &a);
    if (dx) al_par_for(e->pool, (long)rows, rows * a.xblk, pp_dx_range, &a);
}

/* A copy: no arithmetic. */
static uint64_t prepend_macs(const al_node *nd) {
    AL_UNUSED(nd);
    return 0;
}

const al_layer_vt al_prepend_vt = {"prepend", prepend_shape, NULL, prepend_forward, prepend_backward, prepend_macs,
                                   NULL};
