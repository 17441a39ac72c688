/* Divide: y = x / x2, where x is the primary input and x2 (nd->x2, bound by
 * the executor) the output of the earlier node cfg.src (-1: the model input),
 * broadcast as NumPy does (src/layers/bcast.c). Backward:
 * dx = dy / x2 (overwritten), dx2 -= dy * x / x2^2 (accumulated), each summed
 * over its stretched axes; it reads both operands, so the memory planner
 * keeps x2 until this node's backward step. Division by zero gives IEEE
 * infinities, as in PyTorch. */

#include "layers/layers.h"

static al_status div_shape(al_node *nd, const al_shape *in) { return al_bcast_shape("div", nd, in); }

static al_status div_forward(al_node *nd, const al_exec *e, const float *x, float *y, int n) {
    if (!nd->x2) return al_error(AL_ESTATE, "div: second operand (node %d) is not bound", nd->cfg.src);
    al_bcast g;
    al_shape o;
    al_bcast_init("div", &nd->in, &nd->in2, &o, &g);
    al_bcast_forward(e->pool, &g, AL_BIN_DIV, x, nd->x2, y, n);
    return AL_OK;
}

static void div_backward(al_node *nd, const al_exec *e, const float *x, const float *y, const float *dy, float *dx,
                         int n) {
    AL_UNUSED(y);
    al_bcast g;
    al_shape o;
    al_bcast_init("div", &nd->in, &nd->in2, &o, &g);
    al_bcast_backward(e->pool, &g, AL_BIN_DIV, x, nd->x2, dy, dx, nd->dx2, n);
}

/* One operation per output element. */
static uint64_t div_macs(const al_node *nd) { return (uint64_t)al_shape_numel(&nd->out); }

const al_layer_vt al_div_vt = {"div", div_shape, NULL, div_forward, div_backward, div_macs, NULL};
