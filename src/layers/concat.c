/* Concat: joins the primary input x and the extra operands (nd->x2, the
 * output of the earlier node cfg.src, then nd->more[k] for cfg.more[k];
 * -1: the model input) along one per-sample axis (cfg.axis, < 0 from the
 * end): torch.cat([x, x2, ...], dim) on the dims after the batch. All have
 * the same rank and the same sizes off the axis; an operand may repeat.
 * Forward copies each operand's block in turn per outer index (one copy of
 * every input, however many there are); backward copies dy's blocks back:
 * dx (overwritten) and the others' gradients (accumulated). */

#include "layers/layers.h"

#include <string.h>

/* Operand j of the node's list (0: the primary input). */
static const al_shape *op_shape(const al_node *nd, int j) {
    return j == 0 ? &nd->in : j == 1 ? &nd->in2 : &nd->more[j - 2].in;
}

static al_status concat_shape(al_node *nd, const al_shape *in) {
    const int m = 1 + al_cfg_nsrc(&nd->cfg);
    if (m > 2 && !nd->more) return al_error(AL_ESTATE, "concat: operands 2.. are not set");
    int a = al_axis_resolve(nd->cfg.axis, in->ndim);
    /* up to 65 operands of up to 2^26 along the axis: the sum in 64 bits (in
     * an int, 64 copies of a 2^26 axis wrapped to 2^26, and the forward
     * wrote 65 x 2^26 floats into a 2^26 output) */
    long long total = 0;
    for (int j = 0; j < m; j++) {
        if (j > 0) {
            int s = al_cfg_src(&nd->cfg, j - 1);
            if (s < -1 || s >= nd->index)
                return al_error(AL_EINVAL, "concat: operand node %d must be an earlier node or -1 (the input)", s);
        }
        const al_shape *b = j == 0 ? in : op_shape(nd, j);
        int ok = a >= 0 && b->ndim == in->ndim;
        for (int d = 0; ok && d < in->ndim; d++) ok = d == a || in->d[d] == b->d[d];
        if (!ok) {
            char x[64], y[64];
            al_shape_str(in, x, sizeof x);
            al_shape_str(b, y, sizeof y);
            return al_error(AL_ESHAPE, "concat: %s and %s (operand %d) do not join along axis %d (same rank, same "
                                       "sizes off the axis)", x, y, j, nd->cfg.axis);
        }
        total += b->d[a];
    }
    if (total > (1LL << 26))
        return al_error(AL_ESHAPE, "concat: the %d operands add up to %lld along axis %d, more than %d", m, total,
                        nd->cfg.axis, 1 << 26);
    nd->out = *in;
    nd->out.d[a] = (int)total;
    return AL_OK;
}

typedef struct cc_args {
    const al_node *nd;
    int m;          /* operands */
    size_t inner;   /* floats after the axis */
    size_t row;     /* floats of y per outer index */
    const float *x, *dy;
    float *y, *dx;
} cc_args;

static size_t cc_block(const cc_args *a, int j) {
    int ax = al_axis_resolve(a->nd->cfg.axis, a->nd->in.ndim);
    return (size_t)op_shape(a->nd, j)->d[ax] * a->inner;
}

static const float *cc_in(const cc_args *a, int j) { return j == 0 ? a->x : j == 1 ? a->nd->x2 : a->nd->more[j - 2].x; }
static float *cc_din(const cc_args *a, int j) { return j == 0 ? a->dx : j == 1 ? a->nd->dx2 : a->nd->more[j - 2].dx; }

static void cc_fwd_range(void *va, long lo, long hi) {
    const cc_args *a = va;
    size_t off = 0;
    for (int j = 0; j < a->m; j++) {
        size_t b = cc_block(a, j);
        const float *in = cc_in(a, j);
        for (long r = lo; r < hi; r++) memcpy(a->y + (size_t)r * a->row + off, in + (size_t)r * b, sizeof(float) * b);
        off += b;
    }
}

/* Rows [lo, hi) for every operand: a repeated operand's gradients land in
 * the same rows, on the same thread. */
static void cc_bwd_range(void *va, long lo, long hi) {
    const cc_args *a = va;
    size_t off = 0;
    for (int j = 0; j < a->m; j++) {
        size_t b = cc_block(a, j);
        float *d = cc_din(a, j);
        for (long r = lo; d && r < hi; r++) {
            const float *dy = a->dy + (size_t)r * a->row + off;
            float *dr = d + (size_t)r * b;
            if (j == 0)
                memcpy(dr, dy, sizeof(float) * b);
            else
                for (size_t k = 0; k < b; k++) dr[k] += dy[k];
        }
        off += b;
    }
}

static cc_args cc_geom(const al_node *nd, size_t *rows, int n) {
    cc_args c;
    memset(&c, 0, sizeof c);
    size_t outer, len;
    int a = al_axis_resolve(nd->cfg.axis, nd->in.ndim);
    al_axis_split(&nd->out, a, &outer, &len, &c.inner);
    c.nd = nd;
    c.m = 1 + al_cfg_nsrc(&nd->cfg);
    c.row = len * c.inner;
    *rows = (size_t)n * outer;
    return c;
}

static al_status concat_forward(al_node *nd, const al_exec *e, const float *x, float *y, int n) {
    const int m = al_cfg_nsrc(&nd->cfg);
    for (int k = 0; k < m; k++)
        if (!(k == 0 ? nd->x2 : nd->more[k - 1].x))
            return al_error(AL_ESTATE, "concat: operand %d (node %d) is not bound", k + 1, al_cfg_src(&nd->cfg, k));
    size_t rows;
    cc_args a = cc_geom(nd, &rows, n);
    a.x = x;
    a.y = y;
    al_par_for(e->pool, (long)rows, rows * a.row, cc_fwd_range, &a);
    return AL_OK;
}

static void concat_backward(al_node *nd, const al_exec *e, const float *x, const float *y, const float *dy, float *dx,
                            int n) {
    AL_UNUSED(x);
    AL_UNUSED(y);
    size_t rows;
    cc_args a = cc_geom(nd, &rows, n);
    a.dy = dy;
    a.dx = dx;
    al_par_for(e->pool, (long)rows, rows * a.row, cc_bwd_range, &a);
}

/* A copy: no arithmetic. */
static uint64_t concat_macs(const al_node *nd) {
    AL_UNUSED(nd);
    return 0;
}

const al_layer_vt al_concat_vt = {"concat", concat_shape, NULL, concat_forward, concat_backward, concat_macs, NULL};
