/* Slice: x[..., start:end:step, ...] along one per-sample axis (cfg.axis),
 * with Python's rules: a negative start or end counts from the end of the
 * axis, both are clamped to it, end AL_SLICE_END runs to the end; step >= 1
 * (ONNX Slice with one axis and a positive step; torch's x[:, a:b:s]). The
 * slice must not be empty. Forward copies the selected rows; backward
 * writes dy there and zeros elsewhere. */

#include "layers/layers.h"

#include <string.h>

typedef struct sl_geom {
    size_t outer, len, inner, start, count, step;
} sl_geom;

static al_status sl_geometry(const al_layer_cfg *c, const al_shape *in, sl_geom *g) {
    int a = al_axis_resolve(c->axis, in->ndim);
    if (a < 0) return al_error(AL_ESHAPE, "slice: axis %d is outside the input's %d dimension(s)", c->axis, in->ndim);
    if (c->step < 1) return al_error(AL_EINVAL, "slice: step must be at least 1, got %d", c->step);
    al_axis_split(in, a, &g->outer, &g->len, &g->inner);
    long L = (long)g->len, s = c->start, e = c->end;
    if (s < 0) s += L;
    if (e < 0) e += L;
    if (s < 0) s = 0;
    if (s > L) s = L;
    if (e < 0) e = 0;
    if (e > L) e = L;
    if (e <= s)
        return al_error(AL_ESHAPE, "slice: start %d, end %d of an axis of %ld is empty", c->start, c->end, L);
    g->start = (size_t)s;
    g->step = (size_t)c->step;
    g->count = ((size_t)(e - s) + g->step - 1) / g->step;
    return AL_OK;
}

static al_status slice_shape(al_node *nd, const al_shape *in) {
    sl_geom g = {0, 0, 0, 0, 0, 0};
    al_status st = sl_geometry(&nd->cfg, in, &g);
    if (st) return st;
    nd->out = *in;
    nd->out.d[al_axis_resolve(nd->cfg.axis, in->ndim)] = (int)g.count;
    return AL_OK;
}

/* rows [lo, hi) of n * outer: copy (or scatter back) the selected inner blocks */
typedef struct sl_args {
    sl_geom g;
    const float *src;
    float *dst;
    int back;
} sl_args;

static void sl_range(void *va, long lo, long hi) {
    const sl_args *a = va;
    const sl_geom *g = &a->g;
    size_t blk = sizeof(float) * g->inner;
    for (long r = lo; r < hi; r++) {
        if (a->back) {
            const float *dy = a->src + (size_t)r * g->count * g->inner;
            float *dx = a->dst + (size_t)r * g->len * g->inner;
            memset(dx, 0, blk * g->len);
            for (size_t j = 0; j < g->count; j++) memcpy(dx + (g->start + j * g->step) * g->inner, dy + j * g->inner, blk);
        } else {
            const float *x = a->src + (size_t)r * g->len * g->inner;
            float *y = a->dst + (size_t)r * g->count * g->inner;
            for (size_t j = 0; j < g->count; j++) memcpy(y + j * g->inner, x + (g->start + j * g->step) * g->inner, blk);
        }
    }
}

static al_status slice_forward(al_node *nd, const al_exec *e, const float *x, float *y, int n) {
    sl_args a;
    sl_geometry(&nd->cfg, &nd->in, &a.g);
    a.src = x;
    a.dst = y;
    a.back = 0;
    al_par_for(e->pool, (long)((size_t)n * a.g.outer), (size_t)n * al_shape_numel(&nd->out), sl_range, &a);
    return AL_OK;
}

static void slice_backward(al_node *nd, const al_exec *e, const float *x, const float *y, const float *dy, float *dx,
                           int n) {
    AL_UNUSED(x);
    AL_UNUSED(y);
    if (!dx) return; /* no weights */
    sl_args a;
    sl_geometry(&nd->cfg, &nd->in, &a.g);
    a.src = dy;
    a.dst = dx;
    a.back = 1;
    al_par_for(e->pool, (long)((size_t)n * a.g.outer), (size_t)n * al_shape_numel(&nd->in), sl_range, &a);
}

/* A copy: no arithmetic. */
static uint64_t slice_macs(const al_node *nd) {
    AL_UNUSED(nd);
    return 0;
}

const al_layer_vt al_slice_vt = {"slice", slice_shape, NULL, slice_forward, slice_backward, slice_macs, NULL};
