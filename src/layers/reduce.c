/* reducemean and reducesum over a set of per-sample axes (cfg.axes,
 * al_axes_bit; 0: all of them), PyTorch's x.mean(dims) / x.sum(dims) on the
 * dims after the batch; keepdims (cfg.keepdims) keeps each reduced axis with
 * size 1 (reducing every axis without keepdims leaves [1]). Forward sums in
 * double per output element; backward spreads dy back: dx = dy (sum) or
 * dy / count (mean) at every input element of the output's group. Elements
 * map through strides: the output index of an input index drops (or zeroes)
 * its reduced coordinates. */

#include "layers/layers.h"

#include <string.h>

typedef struct red_geom {
    int id[AL_SHAPE_MAX];    /* input dims, padded at the front with ones */
    size_t os[AL_SHAPE_MAX]; /* output stride per input axis, 0 on reduced axes */
    size_t ni, no, count;    /* per sample: input and output elements, inputs per output */
} red_geom;

static al_status red_geometry(const char *name, const al_layer_cfg *c, const al_shape *in, al_shape *out,
                              red_geom *g) {
    int r = in->ndim, mask = c->axes ? al_axes_resolve(c->axes, r) : (1 << r) - 1;
    if (mask < 0) return al_error(AL_ESHAPE, "%s: an axis is outside the input's %d dimension(s)", name, r);
    int pad = AL_SHAPE_MAX - r;
    out->ndim = 0;
    g->ni = g->count = 1;
    for (int d = 0; d < AL_SHAPE_MAX; d++) g->id[d] = d < pad ? 1 : in->d[d - pad];
    for (int d = 0; d < r; d++) {
        g->ni *= (size_t)in->d[d];
        if (mask >> d & 1) {
            g->count *= (size_t)in->d[d];
            if (c->keepdims) out->d[out->ndim++] = 1;
        } else {
            out->d[out->ndim++] = in->d[d];
        }
    }
    if (out->ndim == 0) out->d[out->ndim++] = 1;
    size_t st = 1;
    g->no = 1;
    for (int d = AL_SHAPE_MAX - 1; d >= 0; d--) {
        int red = d >= pad && (mask >> (d - pad) & 1);
        g->os[d] = red ? 0 : st;
        if (!red) st *= (size_t)g->id[d];
    }
    g->no = st;
    return AL_OK;
}

static al_status red_shape(const char *name, al_node *nd, const al_shape *in) {
    if (in->ndim < 1) return al_error(AL_ESHAPE, "%s: input has no dimensions", name);
    if (nd->cfg.keepdims != 0 && nd->cfg.keepdims != 1) return al_error(AL_EINVAL, "%s: keepdims must be 0 or 1", name);
    red_geom g;
    return red_geometry(name, &nd->cfg, in, &nd->out, &g);
}
static al_status mean_shape(al_node *nd, const al_shape *in) { return red_shape("reducemean", nd, in); }
static al_status sum_shape(al_node *nd, const al_shape *in) { return red_shape("reducesum", nd, in); }

typedef struct red_args {
    red_geom g;
    float scale;
    const float *x, *dy;
    float *y, *dx;
    double *acc; /* forward: g.no doubles per sample of scratch */
} red_args;

/* the output offset of every input element of a sample, in input order */
#define RED_WALK(g, BODY)                                                                                       \
    do {                                                                                                        \
        size_t i_ = 0;                                                                                          \
        for (int i0 = 0; i0 < (g).id[0]; i0++)                                                                  \
            for (int i1 = 0; i1 < (g).id[1]; i1++)                                                              \
                for (int i2 = 0; i2 < (g).id[2]; i2++) {                                                        \
                    size_t ob_ = (size_t)i0 * (g).os[0] + (size_t)i1 * (g).os[1] + (size_t)i2 * (g).os[2];      \
                    for (int i3 = 0; i3 < (g).id[3]; i3++, i_++) {                                              \
                        size_t o_ = ob_ + (size_t)i3 * (g).os[3];                                               \
                        BODY;                                                                                   \
                    }                                                                                           \
                }                                                                                               \
    } while (0)

static void red_fwd_range(void *va, long lo, long hi) {
    const red_args *a = va;
    for (long s = lo; s < hi; s++) {
        const float *x = a->x + (size_t)s * a->g.ni;
        double *acc = a->acc + (size_t)s * a->g.no;
        memset(acc, 0, sizeof(double) * a->g.no);
        RED_WALK(a->g, acc[o_] += x[i_]);
        float *y = a->y + (size_t)s * a->g.no;
        for (size_t o = 0; o < a->g.no; o++) y[o] = (float)(acc[o] * a->scale);
    }
}

static void red_bwd_range(void *va, long lo, long hi) {
    const red_args *a = va;
    for (long s = lo; s < hi; s++) {
        const float *dy = a->dy + (size_t)s * a->g.no;
        float *dx = a->dx + (size_t)s * a->g.ni;
        RED_WALK(a->g, dx[i_] = dy[o_] * a->scale);
    }
}

static red_args red_args_of(const al_node *nd) {
    red_args a;
    memset(&a, 0, sizeof a);
    al_shape o;
    red_geometry("reduce", &nd->cfg, &nd->in, &o, &a.g);
    a.scale = nd->cfg.type == AL_L_REDUCEMEAN ? (float)(1.0 / (double)a.g.count) : 1.0f;
    return a;
}

static al_status red_forward(al_node *nd, const al_exec *e, const float *x, float *y, int n) {
    red_args a = red_args_of(nd);
    a.x = x;
    a.y = y;
    a.acc = (double *)e->ws;
    al_par_for(e->pool, n, 2 * (size_t)n * a.g.ni, red_fwd_range, &a);
    return AL_OK;
}

static void red_backward(al_node *nd, const al_exec *e, const float *x, const float *y, const float *dy, float *dx,
                         int n) {
    AL_UNUSED(x);
    AL_UNUSED(y);
    if (!dx) return; /* no weights */
    red_args a = red_args_of(nd);
    a.dy = dy;
    a.dx = dx;
    al_par_for(e->pool, n, 2 * (size_t)n * a.g.ni, red_bwd_range, &a);
}

/* One add per input element. */
static uint64_t red_macs(const al_node *nd) { return (uint64_t)al_shape_numel(&nd->in); }

/* forward's double accumulators: 2 floats per output element (set after shape) */
static al_status mean_shape_ws(al_node *nd, const al_shape *in) {
    al_status st = mean_shape(nd, in);
    nd->ws_per_sample = 2 * al_shape_numel(&nd->out);
    return st;
}
static al_status sum_shape_ws(al_node *nd, const al_shape *in) {
    al_status st = sum_shape(nd, in);
    nd->ws_per_sample = 2 * al_shape_numel(&nd->out);
    return st;
}

const al_layer_vt al_reducemean_vt = {"reducemean", mean_shape_ws, NULL, red_forward, red_backward, red_macs, NULL};
const al_layer_vt al_reducesum_vt = {"reducesum", sum_shape_ws, NULL, red_forward, red_backward, red_macs, NULL};
