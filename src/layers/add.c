/* Add: y = x + x2, where x2 (nd->x2, bound by the executor) is the output
 * of the earlier node cfg.src, or the model input when src = -1. Equal
 * shapes (the residual add) take a flat loop; other shapes broadcast as
 * NumPy does (src/layers/bcast.c). Backward passes dy to both operands:
 * dx = dy (overwritten) and dx2 += dy (accumulated, since the earlier node's
 * output also feeds others), each summed over its stretched axes. */

#include "layers/layers.h"

#include <string.h>

static al_status add_shape(al_node *nd, const al_shape *in) { return al_bcast_shape("add", nd, in); }

static int add_same(const al_node *nd) {
    al_bcast g;
    al_shape o;
    return al_bcast_init("add", &nd->in, &nd->in2, &o, &g) == AL_OK && g.same;
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

/* The int8 residual add (the executor's x_i8: both operands int8, x at
 * nd->add_scale, x2 at e->x2_scale; docs/KERNELS.md "int8 activations"):
 * floats out, or int8 at e->y_scale */
typedef struct add_i8_args {
    const int8_t *a, *b;
    float sa, sb, yinv;
    float *y;
    int8_t *yq;
} add_i8_args;

static void add_i8_range(void *va, long lo, long hi) {
    const add_i8_args *a = va;
    al_i8_add(a->a + lo, a->sa, a->b + lo, a->sb, hi - lo, a->y ? a->y + lo : NULL, a->yq ? a->yq + lo : NULL,
              a->yinv);
}

static al_status add_forward(al_node *nd, const al_exec *e, const float *x, float *y, int n) {
    if (!nd->x2) return al_error(AL_ESTATE, "add: second operand (node %d) is not bound", nd->cfg.src);
    if (e->x_i8) {
        size_t k = (size_t)n * al_shape_numel(&nd->in);
        add_i8_args a = {(const int8_t *)x, (const int8_t *)nd->x2, nd->add_scale, e->x2_scale,
                         e->y_scale > 0.0f ? 1.0f / e->y_scale : 0.0f, e->y_scale > 0.0f ? NULL : y,
                         e->y_scale > 0.0f ? (int8_t *)y : NULL};
        al_par_for(e->pool, (long)k, k, add_i8_range, &a);
        return AL_OK;
    }
    if (!add_same(nd)) {
        al_bcast g;
        al_shape o;
        al_bcast_init("add", &nd->in, &nd->in2, &o, &g);
        al_bcast_forward(e->pool, &g, AL_BIN_ADD, x, nd->x2, y, n);
        return AL_OK;
    }
    size_t k = (size_t)n * al_shape_numel(&nd->in);
    add_args a = {x, nd->x2, y};
    al_par_for(e->pool, (long)k, 2 * k, add_range, &a);
    return AL_OK;
}

static void add_backward(al_node *nd, const al_exec *e, const float *x, const float *y, const float *dy, float *dx,
                         int n) {
    AL_UNUSED(y);
    if (!add_same(nd)) {
        al_bcast g;
        al_shape o;
        al_bcast_init("add", &nd->in, &nd->in2, &o, &g);
        al_bcast_backward(e->pool, &g, AL_BIN_ADD, x, nd->x2, dy, dx, nd->dx2, n);
        return;
    }
    size_t k = (size_t)n * al_shape_numel(&nd->in);
    if (dx && dx != dy) memcpy(dx, dy, sizeof(float) * k);
    if (nd->dx2) {
        add_args a = {dy, NULL, nd->dx2};
        al_par_for(e->pool, (long)k, 2 * k, add_range, &a);
    }
}

/* One add per output element. */
static uint64_t add_macs(const al_node *nd) { return (uint64_t)al_shape_numel(&nd->out); }

const al_layer_vt al_add_vt = {"add", add_shape, NULL, add_forward, add_backward, add_macs, NULL};
