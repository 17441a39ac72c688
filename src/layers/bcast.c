/* NumPy broadcasting of two per-sample operands, shared by add, sub, mul
 * (mode 1), div, max and min. The shapes are aligned at their last axis and padded
 * with leading ones to AL_SHAPE_MAX axes; an axis of size 1 stretches to
 * the other operand's size. Forward walks the output once per sample;
 * backward walks it once too, adding each element's gradient into the
 * operand element it came from, so a stretched axis sums. Samples are
 * independent (the batch is never broadcast) and are split over threads. */

#include "layers/layers.h"

#include <stdio.h>
#include <string.h>

void al_shape_str(const al_shape *s, char *buf, size_t cap) {
    size_t o = (size_t)snprintf(buf, cap, "[");
    for (int d = 0; d < s->ndim && o < cap; d++) o += (size_t)snprintf(buf + o, cap - o, d ? ",%d" : "%d", s->d[d]);
    if (o < cap) snprintf(buf + o, cap - o, "]");
}

al_status al_bcast_init(const char *name, const al_shape *a, const al_shape *b, al_shape *out, al_bcast *g) {
    memset(g, 0, sizeof *g);
    if (a->ndim < 1 || b->ndim < 1 || a->ndim > AL_SHAPE_MAX || b->ndim > AL_SHAPE_MAX)
        return al_error(AL_ESHAPE, "%s: an operand has no dimensions or too many", name);
    int pa[AL_SHAPE_MAX], pb[AL_SHAPE_MAX];
    for (int d = 0; d < AL_SHAPE_MAX; d++) {
        int ia = d - (AL_SHAPE_MAX - a->ndim), ib = d - (AL_SHAPE_MAX - b->ndim);
        pa[d] = ia >= 0 ? a->d[ia] : 1;
        pb[d] = ib >= 0 ? b->d[ib] : 1;
        if (pa[d] != pb[d] && pa[d] != 1 && pb[d] != 1) {
            char x[64], y[64];
            al_shape_str(a, x, sizeof x);
            al_shape_str(b, y, sizeof y);
            return al_error(AL_ESHAPE, "%s: shapes %s and %s do not broadcast (NumPy's rule, per sample)", name, x,
                            y);
        }
        g->od[d] = pa[d] > pb[d] ? pa[d] : pb[d];
    }
    size_t ca = 1, cb = 1;
    for (int d = AL_SHAPE_MAX - 1; d >= 0; d--) {
        g->sa[d] = pa[d] == 1 ? 0 : ca;
        g->sb[d] = pb[d] == 1 ? 0 : cb;
        ca *= (size_t)pa[d];
        cb *= (size_t)pb[d];
    }
    g->na = ca;
    g->nb = cb;
    out->ndim = a->ndim > b->ndim ? a->ndim : b->ndim;
    g->no = 1;
    for (int d = 0; d < out->ndim; d++) {
        out->d[d] = g->od[AL_SHAPE_MAX - out->ndim + d];
        g->no *= (size_t)out->d[d];
    }
    g->same = g->na == g->no && g->nb == g->no;
    return AL_OK;
}

al_status al_bcast_shape(const char *name, al_node *nd, const al_shape *in) {
    if (nd->cfg.src < -1 || nd->cfg.src >= nd->index)
        return al_error(AL_EINVAL, "%s: operand node %d must be an earlier node or -1 (the input)", name, nd->cfg.src);
    al_bcast g;
    return al_bcast_init(name, in, &nd->in2, &nd->out, &g);
}

typedef struct bc_args {
    const al_bcast *g;
    al_binop op;
    const float *a, *b, *dy;
    float *y, *da, *db;
} bc_args;

static inline float apply(al_binop op, float a, float b) {
    switch (op) {
    case AL_BIN_ADD: return a + b;
    case AL_BIN_SUB: return a - b;
    case AL_BIN_MUL: return a * b;
    case AL_BIN_DIV: return a / b;
    case AL_BIN_MAX: return a >= b ? a : b;
    case AL_BIN_MIN: return a <= b ? a : b;
    }
    return 0.0f;
}

static void fwd_range(void *va, long lo, long hi) {
    const bc_args *t = va;
    const al_bcast *g = t->g;
    for (long s = lo; s < hi; s++) {
        const float *a = t->a + (size_t)s * g->na, *b = t->b + (size_t)s * g->nb;
        float *y = t->y + (size_t)s * g->no;
        if (g->same) {
            for (size_t i = 0; i < g->no; i++) y[i] = apply(t->op, a[i], b[i]);
            continue;
        }
        size_t o = 0;
        for (int i0 = 0; i0 < g->od[0]; i0++)
            for (int i1 = 0; i1 < g->od[1]; i1++)
                for (int i2 = 0; i2 < g->od[2]; i2++) {
                    size_t ja = i0 * g->sa[0] + i1 * g->sa[1] + i2 * g->sa[2];
                    size_t jb = i0 * g->sb[0] + i1 * g->sb[1] + i2 * g->sb[2];
                    for (int i3 = 0; i3 < g->od[3]; i3++, o++)
                        y[o] = apply(t->op, a[ja + i3 * g->sa[3]], b[jb + i3 * g->sb[3]]);
                }
    }
}

void al_bcast_forward(al_pool *pool, const al_bcast *g, al_binop op, const float *a, const float *b, float *y,
                      int n) {
    bc_args t = {g, op, a, b, NULL, y, NULL, NULL};
    al_par_for(pool, n, (size_t)n * 3 * g->no, fwd_range, &t);
}

/* one output element's gradient dy into its operands' elements */
static inline void grad1(const bc_args *t, float dy, float av, float bv, float *da, float *db) {
    switch (t->op) {
    case AL_BIN_ADD:
        if (da) *da += dy;
        if (db) *db += dy;
        break;
    case AL_BIN_SUB:
        if (da) *da += dy;
        if (db) *db -= dy;
        break;
    case AL_BIN_MUL:
        if (da) *da += dy * bv;
        if (db) *db += dy * av;
        break;
    case AL_BIN_DIV:
        if (da) *da += dy / bv;
        if (db) *db -= dy * av / (bv * bv);
        break;
    case AL_BIN_MAX:
    case AL_BIN_MIN: { /* to the chosen operand; a tie splits dy in halves (torch.maximum's rule) */
        float ga = av == bv ? 0.5f * dy : (av > bv) == (t->op == AL_BIN_MAX) ? dy : 0.0f;
        if (da) *da += ga;
        if (db) *db += av == bv ? 0.5f * dy : dy - ga;
        break;
    }
    }
}

static void bwd_range(void *va, long lo, long hi) {
    const bc_args *t = va;
    const al_bcast *g = t->g;
    for (long s = lo; s < hi; s++) {
        const float *a = t->a ? t->a + (size_t)s * g->na : NULL, *b = t->b ? t->b + (size_t)s * g->nb : NULL;
        const float *dy = t->dy + (size_t)s * g->no;
        float *da = t->da ? t->da + (size_t)s * g->na : NULL, *db = t->db ? t->db + (size_t)s * g->nb : NULL;
        if (da) memset(da, 0, sizeof(float) * g->na);
        size_t o = 0;
        for (int i0 = 0; i0 < g->od[0]; i0++)
            for (int i1 = 0; i1 < g->od[1]; i1++)
                for (int i2 = 0; i2 < g->od[2]; i2++) {
                    size_t ja = i0 * g->sa[0] + i1 * g->sa[1] + i2 * g->sa[2];
                    size_t jb = i0 * g->sb[0] + i1 * g->sb[1] + i2 * g->sb[2];
                    for (int i3 = 0; i3 < g->od[3]; i3++, o++) {
                        size_t ka = ja + i3 * g->sa[3], kb = jb + i3 * g->sb[3];
                        grad1(t, dy[o], a ? a[ka] : 0.0f, b ? b[kb] : 0.0f, da ? da + ka : NULL,
                              db ? db + kb : NULL);
                    }
                }
    }
}

void al_bcast_backward(al_pool *pool, const al_bcast *g, al_binop op, const float *a, const float *b,
                       const float *dy, float *da, float *db, int n) {
    if (!da && !db) return;
    /* add and sub read neither operand */
    int reads = op == AL_BIN_MUL || op == AL_BIN_DIV || op == AL_BIN_MAX || op == AL_BIN_MIN;
    bc_args t = {g, op, reads ? a : NULL, reads ? b : NULL, dy, NULL, da, db};
    al_par_for(pool, n, (size_t)n * 4 * g->no, bwd_range, &t);
}
