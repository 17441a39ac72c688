/* Global average pooling: x is (n, C, H, W) (or (n, C, L)), y is (n, C), the
 * mean of each channel plane; PyTorch's AdaptiveAvgPool2d(1) + flatten. */
#include "layers/layers.h"


static al_status gap_shape(al_node *nd, const al_shape *in) {
    if (in->ndim < 2)
        return al_error(AL_ESHAPE, "gap: input must be [C,H,W] (or [C,L]), got %d dimension(s)", in->ndim);
    nd->out.ndim = 1;
    nd->out.d[0] = in->d[0];
    return AL_OK;
}

typedef struct gap_args {
    size_t plane;
    const float *a; /* forward x, backward dy */
    float *b;       /* forward y, backward dx */
} gap_args;

/* planes [lo, hi) of the n*C planes; the sum is kept in double so a large
 * plane does not lose the small values */
static void gap_fwd_range(void *va, long lo, long hi) {
    const gap_args *a = va;
    for (long pl = lo; pl < hi; pl++) {
        const float *x = a->a + (size_t)pl * a->plane;
        double s = 0.0;
        for (size_t i = 0; i < a->plane; i++) s += x[i];
        a->b[pl] = (float)(s / (double)a->plane);
    }
}

static void gap_bwd_range(void *va, long lo, long hi) {
    const gap_args *a = va;
    for (long pl = lo; pl < hi; pl++) {
        float d = a->a[pl] / (float)a->plane;
        float *dx = a->b + (size_t)pl * a->plane;
        for (size_t i = 0; i < a->plane; i++) dx[i] = d;
    }
}

static size_t gap_plane(const al_node *nd) { return al_shape_numel(&nd->in) / (size_t)nd->in.d[0]; }

static al_status gap_forward(al_node *nd, const al_exec *e, const float *x, float *y, int n) {
    gap_args a = {gap_plane(nd), x, y};
    al_par_for(e->pool, (long)n * nd->in.d[0], (size_t)n * al_shape_numel(&nd->in), gap_fwd_range, &a);
    return AL_OK;
}

static void gap_backward(al_node *nd, const al_exec *e, const float *x, const float *y, const float *dy, float *dx,
                         int n) {
    AL_UNUSED(x);
    AL_UNUSED(y);
    if (!dx) return; /* no weights */
    gap_args a = {gap_plane(nd), dy, dx};
    al_par_for(e->pool, (long)n * nd->in.d[0], (size_t)n * al_shape_numel(&nd->in), gap_bwd_range, &a);
}

/* One add per input element. */
static uint64_t gap_macs(const al_node *nd) { return (uint64_t)al_shape_numel(&nd->in); }

const al_layer_vt al_gap_vt = {"gap", gap_shape, NULL, gap_forward, gap_backward, gap_macs, NULL};
