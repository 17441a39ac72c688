/* Flatten: any per-sample shape to [numel] (PyTorch's nn.Flatten over the
 * dims after the batch). The row-major layout does not change, so forward
 * and backward are copies. */

#include "layers/layers.h"

#include <string.h>

static al_status flatten_shape(al_node *nd, const al_shape *in) {
    if (in->ndim < 1) return al_error(AL_ESHAPE, "flatten: input has no dimensions");
    size_t k = al_shape_numel(in);
    if (k > (size_t)1 << 26) return al_error(AL_ESHAPE, "flatten: %zu elements is too many", k);
    nd->out.ndim = 1;
    nd->out.d[0] = (int)k;
    return AL_OK;
}

static al_status flatten_forward(al_node *nd, const al_exec *e, const float *x, float *y, int n) {
    AL_UNUSED(e);
    if (y != x) memcpy(y, x, sizeof(float) * (size_t)n * al_shape_numel(&nd->in));
    return AL_OK;
}

static void flatten_backward(al_node *nd, const al_exec *e, const float *x, const float *y, const float *dy,
                             float *dx, int n) {
    AL_UNUSED(e);
    AL_UNUSED(x);
    AL_UNUSED(y);
    if (dx && dx != dy) memcpy(dx, dy, sizeof(float) * (size_t)n * al_shape_numel(&nd->in));
}

/* A copy: no arithmetic. */
static uint64_t flatten_macs(const al_node *nd) {
    AL_UNUSED(nd);
    return 0;
}

const al_layer_vt al_flatten_vt = {"flatten", flatten_shape, NULL, flatten_forward, flatten_backward, flatten_macs,
                                   NULL};
