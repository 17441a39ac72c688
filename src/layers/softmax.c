/* Softmax over one per-sample axis (cfg.axis; -1: the last), PyTorch's
 * torch.softmax(x, dim) on the dims after the batch. Each row along the
 * axis: y = exp(x - max) / sum exp(x - max), the sum in double. Backward
 * reads y: dx = y * (dy - sum_j dy_j y_j) along the row. */

#include "layers/layers.h"

#include <math.h>

static al_status softmax_shape(al_node *nd, const al_shape *in) {
    if (in->ndim < 1) return al_error(AL_ESHAPE, "softmax: input has no dimensions");
    if (al_axis_resolve(nd->cfg.axis, in->ndim) < 0)
        return al_error(AL_ESHAPE, "softmax: axis %d is outside the input's %d dimension(s)", nd->cfg.axis, in->ndim);
    nd->out = *in;
    return AL_OK;
}

typedef struct sm_args {
    size_t len, inner, per; /* per: elements of a sample */
    const float *x, *y, *dy;
    float *out;
} sm_args;

/* rows [lo, hi): row r is (sample * outer + o, i) flattened as r = (s*outer + o) * inner + i */
static void sm_fwd_range(void *va, long lo, long hi) {
    const sm_args *a = va;
    for (long r = lo; r < hi; r++) {
        size_t base = ((size_t)r / a->inner) * a->len * a->inner + (size_t)r % a->inner;
        const float *x = a->x + base;
        float *y = a->out + base;
        float mx = x[0];
        for (size_t j = 1; j < a->len; j++)
            if (x[j * a->inner] > mx) mx = x[j * a->inner];
        double sum = 0.0;
        for (size_t j = 0; j < a->len; j++) {
            float e = expf(x[j * a->inner] - mx);
            y[j * a->inner] = e;
            sum += e;
        }
        float inv = (float)(1.0 / sum);
        for (size_t j = 0; j < a->len; j++) y[j * a->inner] *= inv;
    }
}

static void sm_bwd_range(void *va, long lo, long hi) {
    const sm_args *a = va;
    for (long r = lo; r < hi; r++) {
        size_t base = ((size_t)r / a->inner) * a->len * a->inner + (size_t)r % a->inner;
        const float *y = a->y + base, *dy = a->dy + base;
        float *dx = a->out + base;
        double dot = 0.0;
        for (size_t j = 0; j < a->len; j++) dot += (double)dy[j * a->inner] * y[j * a->inner];
        float d = (float)dot;
        for (size_t j = 0; j < a->len; j++) dx[j * a->inner] = y[j * a->inner] * (dy[j * a->inner] - d);
    }
}

static sm_args sm_geom(const al_node *nd) {
    sm_args a = {0, 0, 0, NULL, NULL, NULL, NULL};
    size_t outer;
    al_axis_split(&nd->in, al_axis_resolve(nd->cfg.axis, nd->in.ndim), &outer, &a.len, &a.inner);
    a.per = outer * a.len * a.inner;
    return a;
}

static al_status softmax_forward(al_node *nd, const al_exec *e, const float *x, float *y, int n) {
    sm_args a = sm_geom(nd);
    a.x = x;
    a.out = y;
    size_t rows = (size_t)n * a.per / a.len;
    al_par_for(e->pool, (long)rows, 4 * (size_t)n * a.per, sm_fwd_range, &a);
    return AL_OK;
}

static void softmax_backward(al_node *nd, const al_exec *e, const float *x, const float *y, const float *dy,
                             float *dx, int n) {
    AL_UNUSED(x);
    if (!dx) return; /* no weights */
    sm_args a = sm_geom(nd);
    a.y = y;
    a.dy = dy;
    a.out = dx;
    size_t rows = (size_t)n * a.per / a.len;
    al_par_for(e->pool, (long)rows, 3 * (size_t)n * a.per, sm_bwd_range, &a);
}

/* exp, sum and scale: three operations per element. */
static uint64_t softmax_macs(const al_node *nd) { return 3 * (uint64_t)al_shape_numel(&nd->in); }

const al_layer_vt al_softmax_vt = {"softmax", softmax_shape, NULL, softmax_forward, softmax_backward, softmax_macs,
                                   NULL};
