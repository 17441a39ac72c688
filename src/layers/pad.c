/* Constant padding of H and W on each side: x [C,H,W] -> y [C, t+H+b, l+W+r],
 * cfg.pads = {t, l, b, r} (ONNX Pad's [t, l, b, r] on H and W, constant
 * mode; PyTorch's F.pad(x, (l, r, t, b)) and nn.ZeroPad2d), the value
 * cfg.padval: 0, or -inf before a max pool (whose padding never wins). The
 * importer puts one before a conv or a pool whose padding is not the same
 * on all four sides (TensorFlow's and padding='same' exports with an even
 * kernel, auto_pad SAME_UPPER / SAME_LOWER), so the kernels keep one
 * symmetric padding. Backward crops dy. */

#include "layers/layers.h"

#include <math.h>
#include <string.h>

static al_status pad_shape(al_node *nd, const al_shape *in) {
    const int *p = nd->cfg.pads;
    if (in->ndim != 3) return al_error(AL_ESHAPE, "pad: input must be [C,H,W], got %d dimensions", in->ndim);
    for (int k = 0; k < 4; k++)
        if (p[k] < 0 || p[k] > 64) return al_error(AL_EINVAL, "pad: padding %d must be 0..64", p[k]);
    if (isnan(nd->cfg.padval)) return al_error(AL_EINVAL, "pad: the value must not be NaN");
    nd->out.ndim = 3;
    nd->out.d[0] = in->d[0];
    nd->out.d[1] = in->d[1] + p[0] + p[2];
    nd->out.d[2] = in->d[2] + p[1] + p[3];
    return AL_OK;
}

typedef struct pad_args {
    const al_node *nd;
    const float *src;
    float *dst;
    int back;
} pad_args;

/* planes [lo, hi) of n*C */
static void pad_range(void *va, long lo, long hi) {
    const pad_args *a = va;
    const int *p = a->nd->cfg.pads;
    int H = a->nd->in.d[1], W = a->nd->in.d[2], Ho = a->nd->out.d[1], Wo = a->nd->out.d[2];
    for (long pl = lo; pl < hi; pl++) {
        if (a->back) {
            const float *dy = a->src + (size_t)pl * Ho * Wo;
            float *dx = a->dst + (size_t)pl * H * W;
            for (int r = 0; r < H; r++)
                memcpy(dx + (size_t)r * W, dy + (size_t)(r + p[0]) * Wo + p[1], sizeof(float) * (size_t)W);
        } else {
            const float *x = a->src + (size_t)pl * H * W;
            float *y = a->dst + (size_t)pl * Ho * Wo;
            float v = a->nd->cfg.padval;
            for (size_t q = 0; q < (size_t)Ho * Wo; q++) y[q] = v;
            for (int r = 0; r < H; r++)
                memcpy(y + (size_t)(r + p[0]) * Wo + p[1], x + (size_t)r * W, sizeof(float) * (size_t)W);
        }
    }
}

static al_status pad_forward(al_node *nd, const al_exec *e, const float *x, float *y, int n) {
    pad_args a = {nd, x, y, 0};
    al_par_for(e->pool, (long)n * nd->in.d[0], (size_t)n * al_shape_numel(&nd->out), pad_range, &a);
    return AL_OK;
}

static void pad_backward(al_node *nd, const al_exec *e, const float *x, const float *y, const float *dy, float *dx,
                         int n) {
    AL_UNUSED(x);
    AL_UNUSED(y);
    if (!dx) return; /* no weights */
    pad_args a = {nd, dy, dx, 1};
    al_par_for(e->pool, (long)n * nd->in.d[0], (size_t)n * al_shape_numel(&nd->in), pad_range, &a);
}

/* A copy: no arithmetic. */
static uint64_t pad_macs(const al_node *nd) {
    AL_UNUSED(nd);
    return 0;
}

const al_layer_vt al_pad_vt = {"pad", pad_shape, NULL, pad_forward, pad_backward, pad_macs, NULL};
