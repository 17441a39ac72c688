/* Concat: joins the primary input x and x2 (nd->x2, the output of the
 * earlier node cfg.src, -1: the model input) along one per-sample axis
 * (cfg.axis, < 0 from the end): torch.cat([x, x2], dim) on the dims after
 * the batch. Both have the same rank and the same sizes off the axis.
 * Forward copies x's block then x2's per outer index; backward copies dy's
 * blocks back: dx (overwritten) and dx2 (accumulated). */

#include "layers/layers.h"

#include <string.h>

static al_status concat_shape(al_node *nd, const al_shape *in) {
    const al_shape *b = &nd->in2;
    if (nd->cfg.src < -1 || nd->cfg.src >= nd->index)
        return al_error(AL_EINVAL, "concat: operand node %d must be an earlier node or -1 (the input)", nd->cfg.src);
    int a = in->ndim == b->ndim ? al_axis_resolve(nd->cfg.axis, in->ndim) : -1;
    int ok = a >= 0;
    for (int d = 0; ok && d < in->ndim; d++) ok = d == a || in->d[d] == b->d[d];
    if (!ok) {
        char x[64], y[64];
        al_shape_str(in, x, sizeof x);
        al_shape_str(b, y, sizeof y);
        return al_error(AL_ESHAPE, "concat: %s and %s do not join along axis %d (same rank, same sizes off the axis)",
                        x, y, nd->cfg.axis);
    }
    nd->out = *in;
    nd->out.d[a] = in->d[a] + b->d[a];
    return AL_OK;
}

typedef struct cc_args {
    size_t ba, bb; /* floats of x's and x2's block per outer index */
    const float *x, *x2, *dy;
    float *y, *dx, *dx2;
} cc_args;

static void cc_fwd_range(void *va, long lo, long hi) {
    const cc_args *a = va;
    for (long r = lo; r < hi; r++) {
        float *y = a->y + (size_t)r * (a->ba + a->bb);
        memcpy(y, a->x + (size_t)r * a->ba, sizeof(float) * a->ba);
        memcpy(y + a->ba, a->x2 + (size_t)r * a->bb, sizeof(float) * a->bb);
    }
}

static void cc_bwd_range(void *va, long lo, long hi) {
    const cc_args *a = va;
    for (long r = lo; r < hi; r++) {
        const float *dy = a->dy + (size_t)r * (a->ba + a->bb);
        if (a->dx) memcpy(a->dx + (size_t)r * a->ba, dy, sizeof(float) * a->ba);
        if (a->dx2) {
            float *d2 = a->dx2 + (size_t)r * a->bb;
            for (size_t j = 0; j < a->bb; j++) d2[j] += dy[a->ba + j];
        }
    }
}

static cc_args cc_geom(const al_node *nd, size_t *rows, int n) {
    cc_args c;
    memset(&c, 0, sizeof c);
    size_t outer, len, inner;
    int a = al_axis_resolve(nd->cfg.axis, nd->in.ndim);
    al_axis_split(&nd->in, a, &outer, &len, &inner);
    c.ba = len * inner;
    c.bb = (size_t)nd->in2.d[a] * inner;
    *rows = (size_t)n * outer;
    return c;
}

static al_status concat_forward(al_node *nd, const al_exec *e, const float *x, float *y, int n) {
    if (!nd->x2) return al_error(AL_ESTATE, "concat: second operand (node %d) is not bound", nd->cfg.src);
    size_t rows;
    cc_args a = cc_geom(nd, &rows, n);
    a.x = x;
    a.x2 = nd->x2;
    a.y = y;
    al_par_for(e->pool, (long)rows, rows * (a.ba + a.bb), cc_fwd_range, &a);
    return AL_OK;
}

static void concat_backward(al_node *nd, const al_exec *e, const float *x, const float *y, const float *dy, float *dx,
                            int n) {
    AL_UNUSED(x);
    AL_UNUSED(y);
    if (!dx && !nd->dx2) return;
    size_t rows;
    cc_args a = cc_geom(nd, &rows, n);
    a.dy = dy;
    a.dx = dx;
    a.dx2 = nd->dx2;
    al_par_for(e->pool, (long)rows, rows * (a.ba + a.bb), cc_bwd_range, &a);
}

/* A copy: no arithmetic. */
static uint64_t concat_macs(const al_node *nd) {
    AL_UNUSED(nd);
    return 0;
}

const al_layer_vt al_concat_vt = {"concat", concat_shape, NULL, concat_forward, concat_backward, concat_macs};
