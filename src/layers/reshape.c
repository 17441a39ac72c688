/* The layers that change a per-sample shape but not the row-major data,
 * so forward and backward are copies (as flatten's):
 *   reshape    to cfg.dims[0..cfg.ndims) (one -1 is inferred from the
 *              element count; torch.reshape / ONNX Reshape without the batch)
 *   squeeze    drops the axes in cfg.axes, each of size 1 (0: every axis of
 *              size 1; at least one axis stays)
 *   unsqueeze  inserts axes of size 1 at the output positions in cfg.axes
 *   identity   the same shape (ONNX Identity; a named copy of a tensor) */

#include "layers/layers.h"

#include <string.h>

static al_status reshape_shape(al_node *nd, const al_shape *in) {
    const al_layer_cfg *c = &nd->cfg;
    if (c->ndims < 1 || c->ndims > AL_SHAPE_MAX)
        return al_error(AL_EINVAL, "reshape: the target needs 1 to %d dims, got %d", AL_SHAPE_MAX, c->ndims);
    size_t have = al_shape_numel(in), known = 1;
    int infer = -1;
    /* every size is checked, also after the product has passed the input's
     * count (a -1 left there was once kept as a size, and the output's count
     * taken mod 2^64); the product stops growing past have (<= 2^26), so it
     * cannot wrap */
    for (int d = 0; d < c->ndims; d++) {
        if (c->dims[d] == -1 && infer < 0) {
            infer = d;
            continue;
        }
        if (c->dims[d] < 1) return al_error(AL_EINVAL, "reshape: dim %d is %d (sizes are >= 1, one may be -1)", d, c->dims[d]);
        if (known <= have) known *= (size_t)c->dims[d];
    }
    nd->out.ndim = c->ndims;
    for (int d = 0; d < c->ndims; d++) nd->out.d[d] = c->dims[d];
    if (known > have) {
        char a[64];
        al_shape_str(in, a, sizeof a);
        return al_error(AL_ESHAPE, "reshape: the target's sizes hold more than the %zu elements of %s", have, a);
    }
    if (infer >= 0) {
        if (known == 0 || have % known) return al_error(AL_ESHAPE, "reshape: %zu elements do not divide by %zu", have, known);
        nd->out.d[infer] = (int)(have / known);
    }
    if (al_shape_numel(&nd->out) != have) {
        char a[64], b[64];
        al_shape_str(in, a, sizeof a);
        al_shape_str(&nd->out, b, sizeof b);
        return al_error(AL_ESHAPE, "reshape: %s and %s hold different numbers of elements", a, b);
    }
    return AL_OK;
}

static al_status squeeze_shape(al_node *nd, const al_shape *in) {
    int r = in->ndim, mask;
    if (nd->cfg.axes) {
        mask = al_axes_resolve(nd->cfg.axes, r);
        if (mask < 0) return al_error(AL_ESHAPE, "squeeze: an axis is outside the input's %d dimension(s)", r);
        for (int d = 0; d < r; d++)
            if ((mask >> d & 1) && in->d[d] != 1)
                return al_error(AL_ESHAPE, "squeeze: axis %d has size %d, not 1", d, in->d[d]);
    } else {
        mask = 0;
        for (int d = 0; d < r; d++)
            if (in->d[d] == 1) mask |= 1 << d;
    }
    nd->out.ndim = 0;
    for (int d = 0; d < r; d++)
        if (!(mask >> d & 1)) nd->out.d[nd->out.ndim++] = in->d[d];
    if (nd->out.ndim == 0) return al_error(AL_ESHAPE, "squeeze: no axis would be left");
    return AL_OK;
}

static al_status unsqueeze_shape(al_node *nd, const al_shape *in) {
    int k = 0;
    for (int b = 0; b < 2 * AL_SHAPE_MAX; b++) k += nd->cfg.axes >> b & 1;
    int r = in->ndim + k, mask = al_axes_resolve(nd->cfg.axes, r);
    if (k == 0) return al_error(AL_EINVAL, "unsqueeze: no axis given");
    if (r > AL_SHAPE_MAX) return al_error(AL_ESHAPE, "unsqueeze: the output would have more than %d dims", AL_SHAPE_MAX);
    int got = 0;
    for (int d = 0; mask >= 0 && d < r; d++) got += mask >> d & 1;
    if (mask < 0 || got != k) return al_error(AL_ESHAPE, "unsqueeze: the axes must be distinct output axes of %d", r);
    nd->out.ndim = r;
    for (int d = 0, j = 0; d < r; d++) nd->out.d[d] = (mask >> d & 1) ? 1 : in->d[j++];
    return AL_OK;
}

static al_status identity_shape(al_node *nd, const al_shape *in) {
    if (in->ndim < 1) return al_error(AL_ESHAPE, "identity: input has no dimensions");
    nd->out = *in;
    return AL_OK;
}

static al_status copy_forward(al_node *nd, const al_exec *e, const float *x, float *y, int n) {
    AL_UNUSED(e);
    if (y != x) memcpy(y, x, sizeof(float) * (size_t)n * al_shape_numel(&nd->in));
    return AL_OK;
}

static void copy_backward(al_node *nd, const al_exec *e, const float *x, const float *y, const float *dy, float *dx,
                          int n) {
    AL_UNUSED(e);
    AL_UNUSED(x);
    AL_UNUSED(y);
    if (dx && dx != dy) memcpy(dx, dy, sizeof(float) * (size_t)n * al_shape_numel(&nd->in));
}

/* A copy: no arithmetic. */
static uint64_t copy_macs(const al_node *nd) {
    AL_UNUSED(nd);
    return 0;
}

const al_layer_vt al_reshape_vt = {"reshape", reshape_shape, NULL, copy_forward, copy_backward, copy_macs, NULL};
const al_layer_vt al_squeeze_vt = {"squeeze", squeeze_shape, NULL, copy_forward, copy_backward, copy_macs, NULL};
const al_layer_vt al_unsqueeze_vt = {"unsqueeze", unsqueeze_shape, NULL, copy_forward, copy_backward, copy_macs, NULL};
const al_layer_vt al_identity_vt = {"identity", identity_shape, NULL, copy_forward, copy_backward, copy_macs, NULL};
