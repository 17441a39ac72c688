/* Element-wise maximum and minimum of two operands: y = max(x, x2) or
 * min(x, x2), where x is the primary input and x2 (nd->x2) the output of
 * the earlier node cfg.src (-1: the model input), broadcast as NumPy does
 * (src/layers/bcast.c). ONNX Max and Min (variadic: the importer chains
 * them), torch.maximum and torch.minimum.
 *
 * Backward: dy goes to the operand that was chosen; on a tie (x == x2)
 * each operand gets dy / 2, as PyTorch's torch.maximum / torch.minimum do
 * (checked on Debian's torch 1.13: maximum(a, a') with a == a' gives both
 * a gradient of 0.5). A stretched operand sums its elements' shares. It
 * reads both operands (al_layer_bwd_reads_src). */

#include "layers/layers.h"

static al_status max_shape(al_node *nd, const al_shape *in) { return al_bcast_shape("max", nd, in); }
static al_status min_shape(al_node *nd, const al_shape *in) { return al_bcast_shape("min", nd, in); }

static al_status mm_forward(al_node *nd, const al_exec *e, const float *x, float *y, int n, const char *name,
                            al_binop op) {
    if (!nd->x2) return al_error(AL_ESTATE, "%s: second operand (node %d) is not bound", name, nd->cfg.src);
    al_bcast g;
    al_shape o;
    al_bcast_init(name, &nd->in, &nd->in2, &o, &g);
    al_bcast_forward(e->pool, &g, op, x, nd->x2, y, n);
    return AL_OK;
}

static void mm_backward(al_node *nd, const al_exec *e, const float *x, const float *dy, float *dx, int n,
                        const char *name, al_binop op) {
    al_bcast g;
    al_shape o;
    al_bcast_init(name, &nd->in, &nd->in2, &o, &g);
    al_bcast_backward(e->pool, &g, op, x, nd->x2, dy, dx, nd->dx2, n);
}

static al_status max_forward(al_node *nd, const al_exec *e, const float *x, float *y, int n) {
    return mm_forward(nd, e, x, y, n, "max", AL_BIN_MAX);
}
static al_status min_forward(al_node *nd, const al_exec *e, const float *x, float *y, int n) {
    return mm_forward(nd, e, x, y, n, "min", AL_BIN_MIN);
}

static void max_backward(al_node *nd, const al_exec *e, const float *x, const float *y, const float *dy, float *dx,
                         int n) {
    AL_UNUSED(y);
    mm_backward(nd, e, x, dy, dx, n, "max", AL_BIN_MAX);
}
static void min_backward(al_node *nd, const al_exec *e, const float *x, const float *y, const float *dy, float *dx,
                         int n) {
    AL_UNUSED(y);
    mm_backward(nd, e, x, dy, dx, n, "min", AL_BIN_MIN);
}

/* One comparison per output element. */
static uint64_t mm_macs(const al_node *nd) { return (uint64_t)al_shape_numel(&nd->out); }

const al_layer_vt al_max_vt = {"max", max_shape, NULL, max_forward, max_backward, mm_macs, NULL};
const al_layer_vt al_min_vt = {"min", min_shape, NULL, min_forward, min_backward, mm_macs, NULL};
