/* expand: NumPy broadcasting of the input to a larger per-sample shape
 * (ONNX Expand, torch's expand / broadcast_to), cfg.dims[0..cfg.ndims):
 * shapes aligned on the right, each input axis of size 1 or equal to the
 * target's, the target at least the input's rank (missing leading input
 * axes are size 1). Backward sums dy over every position an input element
 * was copied to (in double, in output order: deterministic). */

#include "layers/layers.h"

#include <string.h>

static al_status expand_shape(al_node *nd, const al_shape *in) {
    const al_layer_cfg *c = &nd->cfg;
    if (c->ndims < in->ndim || c->ndims > AL_SHAPE_MAX)
        return al_error(AL_EINVAL, "expand: the target needs %d to %d dims, got %d", in->ndim, AL_SHAPE_MAX, c->ndims);
    int off = c->ndims - in->ndim;
    size_t numel = 1;
    for (int d = 0; d < c->ndims; d++) {
        int t = c->dims[d], s = d >= off ? in->d[d - off] : 1;
        if (t < 1) return al_error(AL_EINVAL, "expand: dim %d is %d (sizes are >= 1)", d, t);
        if (s != 1 && s != t) return al_error(AL_ESHAPE, "expand: input axis of size %d cannot broadcast to %d", s, t);
        nd->out.d[d] = t;
        numel *= (size_t)t;
        if (numel > (size_t)1 << 26) return al_error(AL_ESHAPE, "expand: the output is too large");
    }
    nd->out.ndim = c->ndims;
    return AL_OK;
}

/* For output flat index o (row-major over out), the input flat index. */
typedef struct expand_map {
    int r;
    int od[AL_SHAPE_MAX];      /* output dims */
    size_t istride[AL_SHAPE_MAX]; /* input stride per output axis (0 where broadcast) */
} expand_map;

static expand_map map_of(const al_node *nd) {
    expand_map m;
    memset(&m, 0, sizeof m);
    m.r = nd->out.ndim;
    int off = m.r - nd->in.ndim;
    size_t st = 1;
    for (int d = m.r - 1; d >= 0; d--) {
        m.od[d] = nd->out.d[d];
        int s = d >= off ? nd->in.d[d - off] : 1;
        m.istride[d] = s == 1 ? 0 : st;
        st *= (size_t)s;
    }
    return m;
}

static al_status expand_forward(al_node *nd, const al_exec *e, const float *x, float *y, int n) {
    AL_UNUSED(e);
    expand_map m = map_of(nd);
    size_t xi = al_shape_numel(&nd->in), yo = al_shape_numel(&nd->out);
    for (int i = 0; i < n; i++) {
        const float *xs = x + (size_t)i * xi;
        float *ys = y + (size_t)i * yo;
        int idx[AL_SHAPE_MAX] = {0};
        for (size_t o = 0; o < yo; o++) {
            size_t src = 0;
            for (int d = 0; d < m.r; d++) src += (size_t)idx[d] * m.istride[d];
            ys[o] = xs[src];
            for (int d = m.r - 1; d >= 0 && ++idx[d] == m.od[d]; d--) idx[d] = 0;
        }
    }
    return AL_OK;
}

static void expand_backward(al_node *nd, const al_exec *e, const float *x, const float *y, const float *dy,
                            float *dx, int n) {
    AL_UNUSED(e);
    AL_UNUSED(x);
    AL_UNUSED(y);
    if (!dx) return;
    expand_map m = map_of(nd);
    size_t xi = al_shape_numel(&nd->in), yo = al_shape_numel(&nd->out);
    for (int i = 0; i < n; i++) {
        const float *ds = dy + (size_t)i * yo;
        float *dxs = dx + (size_t)i * xi;
        memset(dxs, 0, sizeof(float) * xi);
        int idx[AL_SHAPE_MAX] = {0};
        for (size_t o = 0; o < yo; o++) {
            size_t src = 0;
            for (int d = 0; d < m.r; d++) src += (size_t)idx[d] * m.istride[d];
            dxs[src] += ds[o];
            for (int d = m.r - 1; d >= 0 && ++idx[d] == m.od[d]; d--) idx[d] = 0;
        }
    }
}

static uint64_t expand_macs(const al_node *nd) { return 0 * al_shape_numel(&nd->out); }

const al_layer_vt al_expand_vt = {"expand", expand_shape, NULL, expand_forward, expand_backward, expand_macs, NULL};
