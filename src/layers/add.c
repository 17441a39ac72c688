/* Residual add: y = x + x2, where x2 (nd->x2, bound by the executor) is the
 * output of the earlier node cfg.src, or the model input when src = -1; the
 * executor has checked that both have the same shape. Backward passes dy to
 * both operands: dx = dy (overwritten) and dx2 += dy (accumulated, since the
 * earlier node's output also feeds its direct successor). */

#include "layers/layers.h"

#include <string.h>

static al_status add_shape(al_node *nd, const al_shape *in) {
    if (in->ndim < 1) return al_error(AL_ESHAPE, "add: input has no dimensions");
    if (nd->cfg.src < -1 || nd->cfg.src >= nd->index)
        return al_error(AL_EINVAL, "add: operand node %d must be an earlier node or -1 (the input)", nd->cfg.src);
    nd->out = *in;
    return AL_OK;
}

typedef struct add_args {
    const float *a, *b;
    float *out;
} add_args;

/* out = a + b, or out += a when b is NULL */
static void add_range(void *va, long lo, long hi) {
    const add_args *a = va;
    if (a->b)
        for (long i = lo; i < hi; i++) a->out[i] = a->a[i] + a->b[i];
    else
        for (long i = lo; i < hi; i++) a->out[i] += a->a[i];
}

static al_status add_forward(al_node *nd, const al_exec *e, const float *x, float *y, int n) {
    if (!nd->x2) return al_error(AL_ESTATE, "add: second operand (node %d) is not bound", nd->cfg.src);
    size_t k = (size_t)n * al_shape_numel(&nd->in);
    add_args a = {x, nd->x2, y};
    al_par_for(e->pool, (long)k, 2 * k, add_range, &a);
    return AL_OK;
}

static void add_backward(al_node *nd, const al_exec *e, const float *x, const float *y, const float *dy, float *dx,
                         int n) {
    AL_UNUSED(x);
    AL_UNUSED(y);
    size_t k = (size_t)n * al_shape_numel(&nd->in);
    if (dx && dx != dy) memcpy(dx, dy, sizeof(float) * k);
    if (nd->dx2) {
        add_args a = {dy, NULL, nd->dx2};
        al_par_for(e->pool, (long)k, 2 * k, add_range, &a);
    }
}

/* One add per element. */
static uint64_t add_macs(const al_node *nd) { return (uint64_t)al_shape_numel(&nd->in); }

const al_layer_vt al_add_vt = {"add", add_shape, NULL, add_forward, add_backward, add_macs};
