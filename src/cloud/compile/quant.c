/* int8 quantization of the frozen part at compile time (quant.h). The
 * weights computed here are installed through the model's int8 runtime
 * (al_quant_install, src/model/quant.c), the same path a model file takes. */
#include "quant.h"

#include <math.h>
#include <string.h>

al_status al_quantize_node(al_model *m, int i) {
    int N, K;
    al_status st = al_quant_check(m, i, &N, &K);
    if (st) return st;
    const al_node *nd = &m->nodes[i];
    const float *w = nd->params[0].w;
    for (size_t j = 0; j < nd->params[0].n; j++)
        if (!isfinite(w[j])) return al_error(AL_EINVAL, "quantize: node %d has a non-finite weight", i);
    int8_t *q = al_malloc((size_t)N * (size_t)K);
    float *scale = al_malloc(sizeof(float) * (size_t)N);
    if (!q || !scale) {
        al_free(q);
        al_free(scale);
        return AL_ENOMEM;
    }
    for (int c = 0; c < N; c++) scale[c] = al_quantize_row_i8(w + (size_t)c * K, K, q + (size_t)c * K);
    st = al_quant_install(m, i, q, scale);
    al_free(q);
    al_free(scale);
    return st;
}

al_status al_quantize_frozen_k(al_model *m, int dw, int min_k, int *count) {
    if (!m) return al_error(AL_EINVAL, "al_quantize_frozen: model is NULL");
    for (int i = 0; i < m->freeze; i++) {
        const al_node *nd = &m->nodes[i];
        if (nd->q || nd->trainable) continue;
        if (nd->cfg.dil > 1) continue; /* the int8 kernels know no dilation: a dilated conv stays in float */
        if (nd->cfg.type == AL_L_DWCONV2D) {
            if (!dw) continue;
            /* K = k*k: no GEMM reduction, the int8 depthwise kernels are
             * direct; a shape they do not take stays float */
            if (!al_quant_takes(nd)) continue;
        } else {
            if (nd->cfg.type != AL_L_DENSE && nd->cfg.type != AL_L_CONV2D) continue;
            if (nd->params[0].n / (size_t)nd->params[0].dims[0] < (size_t)(min_k > 0 ? min_k : 1)) continue;
        }
        al_status st = al_quantize_node(m, i);
        if (st) return st;
    }
    if (count) *count = al_model_quantized_count(m);
    return AL_OK;
}

al_status al_quantize_frozen(al_model *m, int *count) { return al_quantize_frozen_k(m, 0, AL_QUANT_MIN_K, count); }

al_status al_quantize_frozen_dw(al_model *m, int *count) { return al_quantize_frozen_k(m, 1, AL_QUANT_MIN_K, count); }

/* ---- calibration: static input scales ---------------------------------------------- */

#define CALIB_BINS 2048
#define CALIB_BATCH 32

typedef struct calib {
    int pass;          /* 0: the largest |x| per node; 1: histograms of |x| */
    float *mx;         /* [nnodes] */
    uint64_t *hist;    /* [nnodes][CALIB_BINS], pass 1 only */
    uint64_t *count;   /* [nnodes] finite values seen */
    const unsigned char *want; /* [nnodes] 1: a quantized node */
} calib;

/* The observer sees n samples of the node's input; its size comes from the
 * model (nd->in), so it is set up per model. */
typedef struct calib_run {
    calib c;
    const al_model *m;
} calib_run;

static void calib_node(void *ctx, int node, const float *x, int n) {
    calib_run *r = ctx;
    calib *c = &r->c;
    if (!c->want[node]) return;
    size_t len = (size_t)n * al_shape_numel(&r->m->nodes[node].in);
    if (c->pass == 0) {
        float mx = c->mx[node];
        for (size_t i = 0; i < len; i++) {
            float a = fabsf(x[i]);
            if (a > mx && isfinite(a)) mx = a;
        }
        c->mx[node] = mx;
        return;
    }
    float mx = c->mx[node];
    if (!(mx > 0.0f)) return;
    uint64_t *h = c->hist + (size_t)node * CALIB_BINS, seen = 0;
    const float scale = (float)CALIB_BINS / mx;
    for (size_t i = 0; i < len; i++) {
        float a = fabsf(x[i]);
        if (!isfinite(a)) continue;
        int b = (int)(a * scale);
        h[b < CALIB_BINS ? b : CALIB_BINS - 1]++;
        seen++;
    }
    c->count[node] += seen;
}

/* The scale from node i's statistics: the pct-th percentile of |x| (the
 * upper edge of the histogram bin where the cumulative count reaches it),
 * the largest |x| when pct >= 100, over 127; an input that was all zero
 * gets 1/127 (any scale quantizes zeros to zeros). */
static float calib_scale(const calib *c, int i, double pct) {
    float mx = c->mx[i];
    if (!(mx > 0.0f)) return 1.0f / 127.0f;
    if (pct >= 100.0 || c->count[i] == 0) return mx / 127.0f;
    const uint64_t *h = c->hist + (size_t)i * CALIB_BINS;
    double need = pct / 100.0 * (double)c->count[i], cum = 0.0;
    int b = 0;
    for (; b < CALIB_BINS - 1; b++) {
        cum += (double)h[b];
        if (cum >= need) break;
    }
    float t = mx * (float)(b + 1) / (float)CALIB_BINS;
    return t / 127.0f;
}

/* Add node i gets a static scale (the int8 residual add) when it is frozen,
 * adds two earlier outputs of one shape, and each operand comes from a
 * quantized node or from an add that gets one (want[p] == 2). Whether both operands then arrive as int8 is the executor's call
 * (model.c, i8_plan). */
static int calib_add(const al_model *m, int i, const unsigned char *want) {
    const al_node *nd = &m->nodes[i];
    if (nd->cfg.type != AL_L_ADD || nd->trainable || nd->cfg.src < 0 || nd->cfg.src_port != 0 || nd->cfg.in_port)
        return 0;
    if (nd->in.ndim != nd->in2.ndim || al_shape_numel(&nd->in) != al_shape_numel(&nd->in2)) return 0;
    for (int d = 0; d < nd->in.ndim; d++)
        if (nd->in.d[d] != nd->in2.d[d]) return 0;
    int ops[2] = {al_node_input(nd), nd->cfg.src};
    for (int k = 0; k < 2; k++) {
        int p = ops[k];
        if (p < 0 || m->nodes[p].trainable) return 0;
        if (!m->nodes[p].q && want[p] != 2) return 0;
    }
    return 1;
}

al_status al_quantize_calibrate_x(al_model *m, al_pool *pool, const float *x, int n, double pct, int *count) {
    if (!m || !x) return al_error(AL_EINVAL, "calibrate: NULL argument");
    if (n < 1) return al_error(AL_EINVAL, "calibrate: no samples");
    if (!(pct > 0.0 && pct <= 100.0)) return al_error(AL_EINVAL, "calibrate: percentile %g is outside (0, 100]", pct);
    int last = -1;
    for (int i = 0; i < m->nnodes; i++)
        if (m->nodes[i].q) last = i;
    if (count) *count = 0;
    if (last < 0) return AL_OK;
    const int nn = m->nnodes;
    calib_run run;
    memset(&run, 0, sizeof run);
    run.m = m;
    unsigned char *want = al_calloc((size_t)nn, 1);
    struct al_qnode **saved = al_calloc((size_t)nn, sizeof *saved);
    run.c.mx = al_calloc((size_t)nn, sizeof(float));
    run.c.count = al_calloc((size_t)nn, sizeof(uint64_t));
    run.c.hist = pct < 100.0 ? al_calloc((size_t)nn * CALIB_BINS, sizeof(uint64_t)) : NULL;
    al_status st = AL_OK;
    if (!want || !saved || !run.c.mx || !run.c.count || (pct < 100.0 && !run.c.hist)) st = AL_ENOMEM;
    run.c.want = want;
    /* the float forward of the dequantized weights (what int8 approximates):
     * the int8 weights set aside meanwhile */
    for (int i = 0; i < nn && !st; i++)
        if (calib_add(m, i, want)) {
            want[i] = 2;
            last = AL_MAX(last, i);
        }
    for (int i = 0; i < nn && !st; i++)
        if (m->nodes[i].q) {
            want[i] = 1;
            saved[i] = m->nodes[i].q;
            m->nodes[i].q = NULL;
        }
    m->observe = calib_node;
    m->observe_ctx = &run;
    const size_t per = al_shape_numel(&m->in);
    for (int pass = 0; pass < (pct < 100.0 ? 2 : 1) && !st; pass++) {
        run.c.pass = pass;
        for (int s = 0; s < n && !st; s += CALIB_BATCH) {
            int b = AL_MIN(CALIB_BATCH, n - s);
            st = al_model_forward_range(m, pool, 0, last + 1, x + (size_t)s * per, b, 0);
        }
    }
    m->observe = NULL;
    m->observe_ctx = NULL;
    for (int i = 0; i < nn && saved; i++)
        if (saved[i]) m->nodes[i].q = saved[i];
    int set = 0;
    for (int i = 0; i < nn && !st; i++)
        if (want[i] == 1 && (st = al_quant_set_in_scale(m, i, calib_scale(&run.c, i, pct))) == AL_OK) set++;
        else if (want[i] == 2 && (st = al_quant_set_add_scale(m, i, calib_scale(&run.c, i, pct))) == AL_OK) set++;
    if (!st && count) *count = set;
    al_free(want);
    al_free(saved);
    al_free(run.c.mx);
    al_free(run.c.count);
    al_free(run.c.hist);
    return st;
}

al_status al_quantize_calibrate(al_model *m, al_pool *pool, const al_dataset *d, int samples, double pct,
                                int *count) {
    if (!m || !d) return al_error(AL_EINVAL, "calibrate: NULL argument");
    int size = al_dataset_size(d);
    if (samples <= 0 || samples > size) samples = size;
    if (size < 1) return al_error(AL_EINVAL, "calibrate: the data set is empty");
    al_tensor xs = al_dataset_x_shape(d);
    size_t per = 1;
    for (int k = 0; k < xs.ndim; k++) per *= (size_t)xs.shape[k];
    if (per != al_shape_numel(&m->in))
        return al_error(AL_ESHAPE, "calibrate: samples of %zu values, the model reads %zu", per,
                        al_shape_numel(&m->in));
    /* samples spread evenly over the set (not its first ones: a set
     * sorted by class would calibrate on one class) */
    float *x = al_malloc(sizeof(float) * per * (size_t)samples);
    if (!x) return AL_ENOMEM;
    for (int i = 0; i < samples; i++)
        memcpy(x + (size_t)i * per, al_dataset_x(d, (int)((long long)i * size / samples)), sizeof(float) * per);
    al_status st = al_quantize_calibrate_x(m, pool, x, samples, pct, count);
    al_free(x);
    return st;
}
