/* The int8 runtime of the model (model.h): installing a node's int8
 * weights (from a file, from the cloud's quantizer, from another model) and
 * dropping them. The forward itself is src/layers/quant_forward.c; the
 * format of the weights is docs/COMPILE.md, "int8". */
#include "model/model.h"

#include <math.h>
#include <string.h>

static int quantizable(const al_node *nd) {
    return nd->cfg.type == AL_L_DENSE || nd->cfg.type == AL_L_CONV2D || nd->cfg.type == AL_L_DWCONV2D;
}

/* The int8 depthwise kernels know stride, padding and kernel size only: a
 * node whose output is not (H + 2p - k) / s + 1 square by that rule (a
 * dilated one) stays float. */
static int dw_plain_shape(const al_node *nd) {
    int s = nd->cfg.stride > 0 ? nd->cfg.stride : 1, k = nd->cfg.k, p = nd->cfg.pad;
    return nd->in.ndim == 3 && nd->out.ndim == 3 && k >= 1 && k <= AL_DW_KMAX &&
           nd->out.d[1] == (nd->in.d[1] + 2 * p - k) / s + 1 && nd->out.d[2] == (nd->in.d[2] + 2 * p - k) / s + 1;
}

static al_status qnode_new(int N, int K, struct al_qnode **out) {
    struct al_qnode *q = al_calloc(1, sizeof *q);
    if (!q) return AL_ENOMEM;
    q->N = N;
    q->K = K;
    q->w = al_malloc((size_t)N * (size_t)K);
    q->scale = al_malloc(sizeof(float) * (size_t)N);
    q->rowsum = al_malloc(sizeof(int32_t) * (size_t)N);
    if (!q->w || !q->scale || !q->rowsum) {
        al_qnode_free(q);
        return AL_ENOMEM;
    }
    *out = q;
    return AL_OK;
}

/* Raises the node's scratch to what the int8 forward needs and drops the
 * model's plan when that changed it. */
static void reserve_scratch(al_model *m, al_node *nd) {
    size_t per = al_quant_ws_per_sample(nd);
    if (per > nd->ws_per_sample) {
        nd->ws_per_sample = per;
        al_model_release_plan(m);
    }
}

int al_quant_takes(const al_node *nd) {
    return quantizable(nd) && (nd->cfg.type != AL_L_DWCONV2D || dw_plain_shape(nd));
}

al_status al_quant_check(const al_model *m, int i, int *N, int *K) {
    if (!m) return al_error(AL_EINVAL, "quantize: model is NULL");
    if (i < 0 || i >= m->nnodes) return al_error(AL_ERANGE, "quantize: node %d out of range 0..%d", i, m->nnodes - 1);
    const al_node *nd = &m->nodes[i];
    if (!quantizable(nd))
        return al_error(AL_EINVAL, "quantize: node %d is %s; only dense, conv and dwconv nodes are quantized", i,
                        nd->vt->name);
    if (nd->cfg.dil > 1) /* the int8 kernels know no dilation: such a node stays in float */
        return al_error(AL_EUNSUPPORTED, "quantize: node %d is a %s with dilation %d; the int8 path takes none", i,
                        nd->vt->name, nd->cfg.dil);
    if (nd->cfg.type == AL_L_DWCONV2D && !dw_plain_shape(nd))
        return al_error(AL_EINVAL, "quantize: dwconv node %d: kernel %d or its dilation is not one the int8 "
                        "kernels take", i, nd->cfg.k);
    if (nd->trainable) return al_error(AL_ESTATE, "quantize: node %d is trainable; only frozen nodes are quantized", i);
    const al_param *w = &m->nodes[i].params[0];
    *N = w->dims[0];
    *K = (int)(w->n / (size_t)w->dims[0]);
    if (*K > AL_I8_KMAX)
        return al_error(AL_ERANGE, "quantize: node %d has %d inputs per channel, the int8 kernels take at most %d", i,
                        *K, AL_I8_KMAX);
    return AL_OK;
}
/* The VNNI kernels' weight layouts: dense always, conv when the shape
 * takes the implicit-GEMM path (kept whatever the CPU: packing is
 * portable, the kernel is picked per call). */
static al_status pack_fast(const al_node *nd, struct al_qnode *q) {
    if (nd->cfg.type == AL_L_DWCONV2D) return AL_OK; /* the depthwise kernels read w as it is */
    if (nd->cfg.type == AL_L_DENSE) {
        q->wpack = al_malloc(sizeof(uint32_t) * al_i8dense_wpack_words(q->N, q->K));
        if (!q->wpack) return AL_ENOMEM;
        al_i8dense_pack_weights(q->w, q->N, q->K, q->wpack);
        return AL_OK;
    }
    al_conv_geom g = al_conv_geometry(nd);
    if (!al_i8conv_applies(g.C, g.H, g.W, g.k, g.s, g.p)) return AL_OK;
    q->wpack = al_malloc(sizeof(uint32_t) * al_i8conv_wpack_words(g.F, g.C, g.k));
    if (!q->wpack) return AL_ENOMEM;
    al_i8conv_pack_weights(q->w, g.F, g.C, g.k, q->wpack);
    return AL_OK;
}

static void finish_node(al_model *m, al_node *nd, struct al_qnode *q) {
    float *w = nd->params[0].w;
    for (int c = 0; c < q->N; c++)
        for (int k = 0; k < q->K; k++) w[(size_t)c * q->K + k] = (float)q->w[(size_t)c * q->K + k] * q->scale[c];
    al_i8_rowsums(q->w, q->N, q->K, q->K, q->rowsum);
    al_qnode_free(nd->q);
    nd->q = q;
    reserve_scratch(m, nd);
}

void al_dequantize(al_model *m) {
    if (!m) return;
    for (int i = 0; i < m->nnodes; i++) {
        al_qnode_free(m->nodes[i].q);
        m->nodes[i].q = NULL;
        m->nodes[i].add_scale = 0.0f;
    }
}

int al_node_is_quantized(const al_model *m, int i) { return m && i >= 0 && i < m->nnodes && m->nodes[i].q; }

int al_model_quantized_count(const al_model *m) {
    int c = 0;
    for (int i = 0; m && i < m->nnodes; i++) c += m->nodes[i].q != NULL;
    return c;
}

al_status al_quant_install(al_model *m, int i, const int8_t *qw, const float *scale) {
    int N, K;
    al_status st = al_quant_check(m, i, &N, &K);
    if (st) return st;
    for (int c = 0; c < N; c++)
        if (!isfinite(scale[c]) || !(scale[c] > 0.0f))
            return al_error(AL_EFORMAT, "node %d: int8 scale %d is %g, must be finite and positive", i, c,
                            (double)scale[c]);
    for (size_t j = 0; j < (size_t)N * K; j++)
        if (qw[j] == -128) return al_error(AL_EFORMAT, "node %d: int8 weight -128 (the range is -127..127)", i);
    struct al_qnode *q;
    if ((st = qnode_new(N, K, &q))) return st;
    memcpy(q->w, qw, (size_t)N * K);
    memcpy(q->scale, scale, sizeof(float) * (size_t)N);
    if ((st = pack_fast(&m->nodes[i], q))) {
        al_qnode_free(q);
        return st;
    }
    finish_node(m, &m->nodes[i], q);
    return AL_OK;
}

al_status al_quant_set_in_scale(al_model *m, int i, float s) {
    if (!m || i < 0 || i >= m->nnodes) return al_error(AL_EINVAL, "static input scale: no node %d", i);
    if (!m->nodes[i].q) return al_error(AL_ESTATE, "node %d: a static input scale needs int8 weights", i);
    /* the largest scale still has a finite 1 / s; the smallest, one whose
     * 1 / s is finite (a float's range is about 1e-38 to 3e38) */
    if (!isfinite(s) || !(s >= 1e-30f) || !(s <= 1e30f))
        return al_error(AL_EINVAL, "node %d: static input scale %g, must be finite, in 1e-30..1e30", i, (double)s);
    m->nodes[i].q->in_scale = s;
    return AL_OK;
}

static int same_shape(const al_shape *a, const al_shape *b) {
    if (a->ndim != b->ndim) return 0;
    for (int d = 0; d < a->ndim; d++)
        if (a->d[d] != b->d[d]) return 0;
    return 1;
}

al_status al_quant_set_add_scale(al_model *m, int i, float s) {
    if (!m || i < 0 || i >= m->nnodes) return al_error(AL_EINVAL, "static add scale: no node %d", i);
    const al_node *nd = &m->nodes[i];
    if (nd->cfg.type != AL_L_ADD || !same_shape(&nd->in, &nd->in2) || nd->cfg.src < 0 || nd->cfg.src_port != 0 ||
        nd->cfg.in_port != 0)
        return al_error(AL_EINVAL, "node %d: a static add scale needs an add of two earlier nodes' outputs of one shape",
                        i);
    if (nd->trainable) return al_error(AL_ESTATE, "node %d: a static add scale needs the add frozen", i);
    if (!isfinite(s) || !(s >= 1e-30f) || !(s <= 1e30f))
        return al_error(AL_EINVAL, "node %d: static add scale %g, must be finite, in 1e-30..1e30", i, (double)s);
    m->nodes[i].add_scale = s;
    return AL_OK;
}

int al_model_static_scale_count(const al_model *m) {
    int c = 0;
    for (int i = 0; m && i < m->nnodes; i++)
        c += (m->nodes[i].q && m->nodes[i].q->in_scale > 0.0f) || m->nodes[i].add_scale > 0.0f;
    return c;
}

al_status al_quant_copy(al_model *dst, const al_model *src) {
    if (!dst || !src || dst->nnodes != src->nnodes) return al_error(AL_EINVAL, "al_quant_copy: bad models");
    for (int i = 0; i < src->nnodes; i++) {
        const struct al_qnode *q = src->nodes[i].q;
        if (!q) continue;
        int trainable = dst->nodes[i].trainable;
        dst->nodes[i].trainable = 0; /* installing checks it; src's node is frozen */
        al_status st = al_quant_install(dst, i, q->w, q->scale);
        dst->nodes[i].trainable = trainable;
        if (!st && q->in_scale > 0.0f) st = al_quant_set_in_scale(dst, i, q->in_scale);
        if (st) return st;
    }
    for (int i = 0; i < src->nnodes; i++) dst->nodes[i].add_scale = src->nodes[i].add_scale;
    return AL_OK;
}

