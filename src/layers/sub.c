/* Subtract: y = x - x2, where x is the primary input and x2 (nd->x2, bound
 * by the executor) the output of the earlier node cfg.src (-1: the model
 * input), broadcast as NumPy does (src/layers/bcast.c). Backward:
 * dx = dy (overwritten), dx2 -= dy (accumulated), each summed over its
 * stretched axes; it reads neither operand. */

#include "layers/layers.h"

static al_status sub_shape(al_node *nd, const al_shape *in) { return al_bcast_shape("sub", nd, in); }

static al_status sub_forward(al_node *nd, const al_exec *e, const float *x, float *y, int n) {
    if (!nd->x2) return al_error(AL_ESTATE, "sub: second operand (node %d) is not bound", nd->cfg.src);
    al_bcast g;
    al_shape o;
    al_bcast_init("sub", &nd->in, &nd->in2, &o, &g);
    al_bcast_forward(e->pool, &g, AL_BIN_SUB, x, nd->x2, y, n);
    return AL_OK;
}

static void sub_backward(al_node *nd, const al_exec *e, const float *x, const float *y, const float *dy, float *dx,
                         int n) {
    AL_UNUSED(y);
    al_bcast g;
    al_shape o;
    al_bcast_init("sub", &nd->in, &nd->in2, &o, &g);
    al_bcast_backward(e->pool, &g, AL_BIN_SUB, x, nd->x2, dy, dx, nd->dx2, n);
}

/* One operation per output element. */
static uint64_t sub_macs(const al_node *nd) { return (uint64_t)al_shape_numel(&nd->out); }

const al_layer_vt al_sub_vt = {"sub", sub_shape, NULL, sub_forward, sub_backward, sub_macs, NULL};
