/* Multiply by a scale: y = x2 * s, where x2 (nd->x2, bound by the executor)
 * is the output of the earlier node cfg.src (or the model input when src =
 * -1) and the scale s is this node's input x, the output of the previous
 * node: the squeeze-excite gate of MobileNetV3 and EfficientNet (gap ->
 * dense -> relu -> dense -> hardsigmoid -> mul). The output has x2's shape.
 *
 * The scale's dimensions are x2's leading ones, possibly followed by ones:
 * for x2 [C,H,W], s is [C] or [C,1,1] (one factor per channel, broadcast
 * over H and W), [C,H] (per row) or [C,H,W] (element-wise). With I the
 * elements of x2 each factor covers (H*W per channel):
 *   y[j*I + i]   = x2[j*I + i] * s[j]
 *   dx[j]        = sum_i dy[j*I + i] * x2[j*I + i]   (overwritten; summed in double)
 *   dx2[j*I + i] += dy[j*I + i] * s[j]               (accumulated, as add's, since
 *                                                     node src's output feeds others)
 * Backward reads x2, so the memory planner keeps node src's output alive until
 * this node's backward step (src/model/memplan.c).
 *
 * With cfg.mode = 1 (spec bcast=1) it is NumPy's broadcasting multiply
 * instead, y = x * x2 over the broadcast shape (src/layers/bcast.c): the
 * same as the scale for operands of equal rank ([C,1,1] by [C,H,W]), but a
 * scale of lower rank aligns at the last axis. */

#include "layers/layers.h"

static al_status mul_shape(al_node *nd, const al_shape *in) {
    if (nd->cfg.mode) return al_bcast_shape("mul", nd, in);
    const al_shape *o = &nd->in2;
    if (in->ndim < 1 || o->ndim < 1) return al_error(AL_ESHAPE, "mul: an operand has no dimensions");
    if (nd->cfg.src < -1 || nd->cfg.src >= nd->index)
        return al_error(AL_EINVAL, "mul: operand node %d must be an earlier node or -1 (the input)", nd->cfg.src);
    /* the scale's dimensions: x2's first j, then ones */
    int j = 0;
    while (j < in->ndim && j < o->ndim && in->d[j] == o->d[j]) j++;
    int ok = j >= 1;
    for (int d = j; ok && d < in->ndim; d++) ok = in->d[d] == 1;
    if (!ok) {
        char a[64], b[64];
        al_shape_str(in, a, sizeof a);
        al_shape_str(o, b, sizeof b);
        return al_error(AL_ESHAPE,
                        "mul: the scale %s does not fit node %d's output %s (it must be its leading dimensions, "
                        "e.g. [C] or [C,1,1] for [C,H,W])",
                        a, nd->cfg.src, b);
    }
    nd->out = *o;
    return AL_OK;
}

typedef struct mul_args {
    const float *s, *x2, *dy;
    float *y, *ds, *dx2;
    size_t inner;
} mul_args;

/* groups [lo, hi): group j is s[j] and the inner elements of x2 it scales */
static void mul_fwd_range(void *va, long lo, long hi) {
    const mul_args *a = va;
    for (long j = lo; j < hi; j++) {
        const float s = a->s[j];
        const float *x2 = a->x2 + (size_t)j * a->inner;
        float *y = a->y + (size_t)j * a->inner;
        for (size_t i = 0; i < a->inner; i++) y[i] = x2[i] * s;
    }
}

static void mul_bwd_range(void *va, long lo, long hi) {
    const mul_args *a = va;
    for (long j = lo; j < hi; j++) {
        const float *dy = a->dy + (size_t)j * a->inner;
        if (a->ds) {
            const float *x2 = a->x2 + (size_t)j * a->inner;
            double acc = 0.0;
            for (size_t i = 0; i < a->inner; i++) acc += (double)dy[i] * (double)x2[i];
            a->ds[j] = (float)acc;
        }
        if (a->dx2) {
            const float s = a->s[j];
            float *dx2 = a->dx2 + (size_t)j * a->inner;
            for (size_t i = 0; i < a->inner; i++) dx2[i] += dy[i] * s;
        }
    }
}

static al_status mul_forward(al_node *nd, const al_exec *e, const float *x, float *y, int n) {
    if (!nd->x2) return al_error(AL_ESTATE, "mul: second operand (node %d) is not bound", nd->cfg.src);
    if (nd->cfg.mode) {
        al_bcast g;
        al_shape o;
        al_bcast_init("mul", &nd->in, &nd->in2, &o, &g);
        al_bcast_forward(e->pool, &g, AL_BIN_MUL, x, nd->x2, y, n);
        return AL_OK;
    }
    size_t groups = (size_t)n * al_shape_numel(&nd->in), total = (size_t)n * al_shape_numel(&nd->out);
    mul_args a = {x, nd->x2, NULL, y, NULL, NULL, total / groups};
    al_par_for(e->pool, (long)groups, 2 * total, mul_fwd_range, &a);
    return AL_OK;
}

static void mul_backward(al_node *nd, const al_exec *e, const float *x, const float *y, const float *dy, float *dx,
                         int n) {
    AL_UNUSED(y);
    if (!dx && !nd->dx2) return;
    if (nd->cfg.mode) {
        al_bcast g;
        al_shape o;
        al_bcast_init("mul", &nd->in, &nd->in2, &o, &g);
        al_bcast_backward(e->pool, &g, AL_BIN_MUL, x, nd->x2, dy, dx, nd->dx2, n);
        return;
    }
    size_t groups = (size_t)n * al_shape_numel(&nd->in), total = (size_t)n * al_shape_numel(&nd->out);
    mul_args a = {x, nd->x2, dy, NULL, dx, nd->dx2, total / groups};
    al_par_for(e->pool, (long)groups, 3 * total, mul_bwd_range, &a);
}

/* One multiply per output element. */
static uint64_t mul_macs(const al_node *nd) { return (uint64_t)al_shape_numel(&nd->out); }

const al_layer_vt al_mul_vt = {"mul", mul_shape, NULL, mul_forward, mul_backward, mul_macs, NULL};
