/* Split: one node with nout outputs, the consecutive parts of its input
 * along a per-sample axis (cfg.axis) of sizes cfg.sizes[0..nout) (ONNX
 * Split; torch.split(x, sizes, dim)). Output p is port p of the node
 * (docs/SPEC.md, "Ports"). Forward copies each part out; backward writes
 * each part's gradient back into its place (dx is the concatenation of the
 * dy's; an output nobody reads brings zeros). Input [.., L, ..] with
 * outer elements before the axis and inner after it; part p is
 * [.., sizes[p], ..]. */

#include "layers/layers.h"

#include <string.h>

static al_status split_shape(al_node *nd, const al_shape *in) {
    const al_layer_cfg *c = &nd->cfg;
    int a = al_axis_resolve(c->axis, in->ndim);
    if (a < 0) return al_error(AL_ESHAPE, "split: axis %d is outside the input's %d dimension(s)", c->axis, in->ndim);
    if (c->nout < 1 || c->nout > AL_MAX_OUTS)
        return al_error(AL_EINVAL, "split: %d outputs, must be 1..%d", c->nout, AL_MAX_OUTS);
    long sum = 0;
    for (int p = 0; p < c->nout; p++) {
        if (c->sizes[p] < 1) return al_error(AL_EINVAL, "split: part %d has size %d, must be at least 1", p, c->sizes[p]);
        sum += c->sizes[p];
    }
    if (sum != in->d[a])
        return al_error(AL_ESHAPE, "split: the parts add up to %ld, axis %d of the input has %d", sum, c->axis, in->d[a]);
    for (int p = 0; p < c->nout; p++) {
        al_shape *o = p == 0 ? &nd->out : &nd->xout[p - 1];
        *o = *in;
        o->d[a] = c->sizes[p];
    }
    return AL_OK;
}

typedef struct sp_args {
    size_t len, inner;
    int nout;
    const int *sizes;
    float *big;              /* the input (forward: read; backward: written) */
    float *const *part;      /* the outputs (forward: written; backward: read) */
    int back;
} sp_args;

/* rows [lo, hi) of n * outer */
static void sp_range(void *va, long lo, long hi) {
    const sp_args *a = va;
    for (long r = lo; r < hi; r++) {
        float *x = a->big + (size_t)r * a->len * a->inner;
        for (int p = 0; p < a->nout; p++) {
            size_t k = (size_t)a->sizes[p] * a->inner;
            float *y = a->part[p] + (size_t)r * k;
            if (a->back)
                memcpy(x, y, sizeof(float) * k);
            else
                memcpy(y, x, sizeof(float) * k);
            x += k;
        }
    }
}

static void sp_run(const al_node *nd, const al_exec *e, float *big, float *const *part, int n, int back) {
    sp_args a;
    size_t outer;
    al_axis_split(&nd->in, al_axis_resolve(nd->cfg.axis, nd->in.ndim), &outer, &a.len, &a.inner);
    a.nout = nd->cfg.nout;
    a.sizes = nd->cfg.sizes;
    a.big = big;
    a.part = part;
    a.back = back;
    al_par_for(e->pool, (long)((size_t)n * outer), (size_t)n * al_shape_numel(&nd->in), sp_range, &a);
}

static al_status split_forward_multi(al_node *nd, const al_exec *e, const float *x, float *const *y, int n) {
    sp_run(nd, e, (float *)x, y, n, 0); /* forward only reads x */
    return AL_OK;
}

static void split_backward_multi(al_node *nd, const al_exec *e, const float *x, const float *const *y,
                                 const float *const *dy, float *dx, int n) {
    (void)x, (void)y;
    if (!dx) return;
    sp_run(nd, e, dx, (float *const *)dy, n, 1); /* backward only reads dy */
}

/* One output only (nout 1): a copy. The model calls forward_multi; these
 * keep the single-output entries valid for code that walks the vtable. */
static al_status split_forward(al_node *nd, const al_exec *e, const float *x, float *y, int n) {
    float *ys[1] = {y};
    return split_forward_multi(nd, e, x, ys, n);
}

static void split_backward(al_node *nd, const al_exec *e, const float *x, const float *y, const float *dy, float *dx,
                           int n) {
    const float *ys[1] = {y}, *dys[1] = {dy};
    split_backward_multi(nd, e, x, ys, dys, dx, n);
}

static uint64_t split_macs(const al_node *nd) {
    (void)nd;
    return 0;
}

const al_layer_vt al_split_vt = {"split", split_shape, NULL, split_forward, split_backward, split_macs, NULL};
const al_layer_multi_vt al_split_mvt = {split_forward_multi, split_backward_multi};
