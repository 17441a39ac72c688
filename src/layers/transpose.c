/* Transpose: permutes the per-sample axes, output axis j = input axis
 * cfg.dims[j] (cfg.ndims = the input's rank; torch.permute on the dims
 * after the batch, ONNX Transpose's perm without the batch). Forward
 * gathers each output element from its input offset; backward scatters dy
 * back the same way (a permutation: every dx element written once). */

#include "layers/layers.h"

typedef struct tr_geom {
    int od[AL_SHAPE_MAX];    /* output dims padded at the front with ones */
    size_t is[AL_SHAPE_MAX]; /* input stride of each output axis */
    size_t per;
} tr_geom;

static al_status tr_geometry(const al_layer_cfg *c, const al_shape *in, al_shape *out, tr_geom *g) {
    int r = in->ndim;
    if (c->ndims != r)
        return al_error(AL_ESHAPE, "transpose: the permutation has %d axes, the input %d", c->ndims, r);
    int seen = 0;
    for (int j = 0; j < r; j++) {
        int a = c->dims[j];
        if (a < 0 || a >= r || (seen >> a & 1))
            return al_error(AL_EINVAL, "transpose: dims must be a permutation of 0..%d", r - 1);
        seen |= 1 << a;
    }
    size_t st[AL_SHAPE_MAX], s = 1;
    for (int d = r - 1; d >= 0; d--) {
        st[d] = s;
        s *= (size_t)in->d[d];
    }
    g->per = s;
    out->ndim = r;
    int pad = AL_SHAPE_MAX - r;
    for (int j = 0; j < AL_SHAPE_MAX; j++) {
        g->od[j] = j < pad ? 1 : in->d[c->dims[j - pad]];
        g->is[j] = j < pad ? 0 : st[c->dims[j - pad]];
    }
    for (int j = 0; j < r; j++) out->d[j] = g->od[pad + j];
    return AL_OK;
}

static al_status transpose_shape(al_node *nd, const al_shape *in) {
    tr_geom g;
    return tr_geometry(&nd->cfg, in, &nd->out, &g);
}

typedef struct tr_args {
    tr_geom g;
    const float *src;
    float *dst;
    int scatter; /* 0: dst[out order] = src[input offset]; 1: dst[input offset] = src[out order] */
} tr_args;

static void tr_range(void *va, long lo, long hi) {
    const tr_args *a = va;
    const tr_geom *g = &a->g;
    for (long s = lo; s < hi; s++) {
        const float *src = a->src + (size_t)s * g->per;
        float *dst = a->dst + (size_t)s * g->per;
        size_t o = 0;
        for (int i0 = 0; i0 < g->od[0]; i0++)
            for (int i1 = 0; i1 < g->od[1]; i1++)
                for (int i2 = 0; i2 < g->od[2]; i2++) {
                    size_t b = (size_t)i0 * g->is[0] + (size_t)i1 * g->is[1] + (size_t)i2 * g->is[2];
                    if (a->scatter)
                        for (int i3 = 0; i3 < g->od[3]; i3++, o++) dst[b + (size_t)i3 * g->is[3]] = src[o];
                    else
                        for (int i3 = 0; i3 < g->od[3]; i3++, o++) dst[o] = src[b + (size_t)i3 * g->is[3]];
                }
    }
}

static al_status transpose_forward(al_node *nd, const al_exec *e, const float *x, float *y, int n) {
    tr_args a;
    al_shape o;
    tr_geometry(&nd->cfg, &nd->in, &o, &a.g);
    a.src = x;
    a.dst = y;
    a.scatter = 0;
    al_par_for(e->pool, n, 2 * (size_t)n * a.g.per, tr_range, &a);
    return AL_OK;
}

static void transpose_backward(al_node *nd, const al_exec *e, const float *x, const float *y, const float *dy,
                               float *dx, int n) {
    AL_UNUSED(x);
    AL_UNUSED(y);
    if (!dx) return; /* no weights */
    tr_args a;
    al_shape o;
    tr_geometry(&nd->cfg, &nd->in, &o, &a.g);
    a.src = dy;
    a.dst = dx;
    a.scatter = 1;
    al_par_for(e->pool, n, 2 * (size_t)n * a.g.per, tr_range, &a);
}

/* A copy: no arithmetic. */
static uint64_t transpose_macs(const al_node *nd) {
    AL_UNUSED(nd);
    return 0;
}

const al_layer_vt al_transpose_vt = {"transpose", transpose_shape, NULL, transpose_forward, transpose_backward,
                                     transpose_macs, NULL};
