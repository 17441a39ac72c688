/* The int8 forward of a frozen quantized dense, conv or depthwise conv node
 * (layers.h).
 *
 * Forward shapes. Dense: x [rows, K] -> xq [rows, K] int8 and sx [rows];
 * acc [rows, N] = xq . Wq^T (al_i8gemm); y = acc * sx[r] * sw[c] + b[c].
 * Conv, per sample: x [C,H,W] -> xq int8 (one scale), im2row -> R [P, CKK],
 * acc [P, F] = R . Wq^T, y[f][p] = acc[p][f] * sx * sw[f] + b[f].
 * Depthwise, per plane (sample i, channel c): x [H,W] -> xq int8 with the
 * plane's own scale sx, acc [Ho,Wo] int32, y = acc * sx * sw[c] + b[c] and
 * the fused activation in the epilogue (al_i8dw_forward_planes); scratch:
 * one plane's int8 copy per thread, at its first plane's place in [n,C,H,W]
 * bytes (the vnni variant keeps padded copies on its stack instead).
 * Scratch (e->ws), per sample for conv (one slot per thread, at the
 * thread's first sample like conv2d.c's slots) and per batch for dense:
 * the int8 buffers, then the int32 accumulators, then (dense) the scales.
 *
 * Static scales and the int8 chain (docs/KERNELS.md, "int8 activations"):
 * a node with a calibrated input scale (q->in_scale > 0) quantizes a float
 * input with it (al_i8_q(x / in_scale): no scale search, a sample's output
 * still independent of its batch), or reads x as int8 at that scale when
 * the executor says so (e->x_i8); with e->y_scale > 0 the epilogue writes
 * al_i8_q(y / y_scale) bytes instead of floats (the fused activation
 * applied first). Every form computes the same integers and float
 * operations as the reference path, so an int8 output is bitwise the float
 * output quantized by its reader. */
#include "layers/layers.h"

#include <math.h>
#include <string.h>

/* ---- geometry -------------------------------------------------------------------- */

typedef al_conv_geom qgeom;

static qgeom conv_qgeom(const al_node *nd) { return al_conv_geometry(nd); }

static size_t bytes_to_floats(size_t b) { return (b + sizeof(float) - 1) / sizeof(float); }

/* 64-byte aligned offsets inside a slot keep the int8 rows aligned */
static size_t round64(size_t b) { return (b + 63) & ~(size_t)63; }

/* Conv slot: xq [CHW] | rows [P, CKK] | acc [P, F] int32, in floats; the
 * implicit-GEMM path uses only the phase planes (stride 2) and then xq4
 * [ceil(C/4), H*W] words. */
static size_t conv_slot_floats(const qgeom *g) {
    size_t b = round64((size_t)g->C * g->H * g->W) + round64((size_t)g->P * g->CKK) +
               sizeof(int32_t) * (size_t)g->P * g->F;
    size_t b4 = sizeof(uint32_t) * ((((size_t)g->C + 3) / 4) * (size_t)g->H * g->W +
                                    al_i8conv_phase_words(g->C, g->H, g->W, g->k, g->s, g->p));
    return bytes_to_floats(b > b4 ? b : b4);
}

static int dense_rows_per_sample(const al_node *nd) {
    int rows = 1;
    for (int i = 0; i < nd->in.ndim - 1; i++) rows *= nd->in.d[i];
    return rows;
}

/* Dense, per row: xq [K] | acc [N] int32 | sx (1 float); rounded per row so
 * the batch's block is rows times this. */
static size_t dense_row_floats(const al_node *nd) {
    size_t K = (size_t)nd->params[0].dims[1], N = (size_t)nd->cfg.units;
    return bytes_to_floats(K) + N + 1;
}


void al_qnode_free(struct al_qnode *q) {
    if (!q) return;
    al_free(q->w);
    al_free(q->scale);
    al_free(q->rowsum);
    al_free(q->wpack);
    al_free(q);
}

/* The depthwise node's plane geometry (dwconv2d.c's). */
static al_dw_geom dw_qgeom(const al_node *nd) {
    al_dw_geom g;
    g.H = nd->in.d[1];
    g.W = nd->in.d[2];
    g.k = nd->cfg.k;
    g.s = nd->cfg.stride > 0 ? nd->cfg.stride : 1;
    g.p = nd->cfg.pad;
    g.Ho = (g.H + 2 * g.p - g.k) / g.s + 1;
    g.Wo = (g.W + 2 * g.p - g.k) / g.s + 1;
    return g;
}

size_t al_quant_ws_per_sample(const al_node *nd) {
    if (nd->cfg.type == AL_L_DWCONV2D) return bytes_to_floats((size_t)al_shape_numel(&nd->in));
    if (nd->cfg.type == AL_L_CONV2D) {
        qgeom g = conv_qgeom(nd);
        return conv_slot_floats(&g);
    }
    return (size_t)dense_rows_per_sample(nd) * dense_row_floats(nd);
}

/* ---- forward ------------------------------------------------------------------------ */

/* A node's input and output forms for one forward (see the file comment). */
typedef struct qio {
    const int8_t *x8; /* the input as int8 (e->x_i8), or NULL: floats */
    float sin, inv;   /* the static input scale and 1 / it; 0: found per sample at run time */
    int8_t *y8;       /* the output as int8 at 1 / yinv, or NULL: floats */
    float yinv;
} qio;

static qio make_qio(const al_node *nd, const al_exec *e, const float *x, float *y) {
    qio io = {NULL, nd->q->in_scale, 0.0f, NULL, 0.0f};
    if (io.sin > 0.0f) {
        io.inv = 1.0f / io.sin;
        if (e->x_i8) io.x8 = (const int8_t *)x;
    }
    if (e->y_scale > 0.0f) {
        io.y8 = (int8_t *)y;
        io.yinv = 1.0f / e->y_scale;
    }
    return io;
}

/* One output: al_i8_finish, then float or int8. */
static inline void put(const qio *io, float *y, size_t o, int32_t acc, float sc, float b, int act) {
    float v = al_i8_finish(acc, sc, b, act);
    if (io->y8)
        io->y8[o] = al_i8_q(v * io->yinv);
    else
        y[o] = v;
}

/* One input row (a dense row, a conv sample) into int8: the static scale,
 * else its own; returns the scale. */
static float quant_row(const qio *io, const float *x, long n, int8_t *q) {
    if (io->sin > 0.0f) {
        al_i8_quantize_static(x, n, io->inv, q);
        return io->sin;
    }
    return al_quantize_row_i8(x, n, q);
}

#ifdef AL_I8_HAVE_VNNI
typedef struct dense_i8_run {
    al_i8dense_args a;
    int nb; /* column blocks of 16 */
} dense_i8_run;

/* Threads take whole groups of 4 column blocks (the kernel's tile). */
static void dense_i8_task(void *arg, int ith, int nth) {
    const dense_i8_run *r = arg;
    long lo, hi;
    al_split((r->nb + 3) / 4, ith, nth, &lo, &hi);
    if (lo < hi) al_i8dense_vnni(&r->a, (int)lo * 4, (int)AL_MIN(hi * 4, (long)r->nb));
}
#endif

static al_status dense_forward_i8(al_node *nd, const al_exec *e, const float *x, float *y, int n) {
    const struct al_qnode *q = nd->q;
    int rows = n * dense_rows_per_sample(nd), K = q->K, N = q->N, act = nd->cfg.act;
    const float *bias = nd->cfg.bias ? nd->params[1].w : NULL;
    const qio io = make_qio(nd, e, x, y);
#ifdef AL_I8_HAVE_VNNI
    if (q->wpack && al_i8_current() == AL_I8_VNNI) {
        /* xq [rows, ceil(K/4)] words | sx [rows]: within the block below */
        size_t K4 = ((size_t)K + 3) / 4;
        uint32_t *xq = (uint32_t *)e->ws;
        float *sx = e->ws + (size_t)rows * K4;
        for (int r = 0; r < rows; r++) {
            uint8_t *qr = (uint8_t *)(xq + (size_t)r * K4);
            if (io.x8)
                al_i8_pack_row_u8_vnni(io.x8 + (size_t)r * K, K, qr);
            else if (io.sin > 0.0f)
                al_i8_quantize_row_u8_static_vnni(x + (size_t)r * K, K, io.inv, qr);
            sx[r] = io.sin > 0.0f ? io.sin : al_i8_quantize_row_u8_vnni(x + (size_t)r * K, K, qr);
        }
        dense_i8_run run = {{xq, q->wpack, q->rowsum, sx, q->scale, bias, rows, N, K, act, y, io.y8, io.yinv},
                            (N + 15) / 16};
        if (al_pool_size(e->pool) > 1 && (long)rows * N * K >= 65536L)
            al_pool_run(e->pool, dense_i8_task, &run);
        else
            al_i8dense_vnni(&run.a, 0, run.nb);
        return AL_OK;
    }
#endif
    /* the batch's block: xq [rows, K] | acc [rows, N] | sx [rows] */
    int8_t *xq = (int8_t *)e->ws;
    int32_t *acc = (int32_t *)(e->ws + bytes_to_floats((size_t)rows * K));
    float *sx = (float *)(acc + (size_t)rows * N);
    for (int r = 0; r < rows; r++)
        sx[r] = io.x8 ? io.sin : quant_row(&io, x + (size_t)r * K, K, xq + (size_t)r * K);
    al_i8gemm(e->pool, rows, N, K, io.x8 ? io.x8 : xq, K, q->w, K, q->rowsum, acc, N);
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < N; c++)
            put(&io, y, (size_t)r * N + c, acc[(size_t)r * N + c], sx[r] * q->scale[c], bias ? bias[c] : 0.0f, act);
    return AL_OK;
}

typedef struct conv_i8_run {
    const al_node *nd;
    qio io;
    qgeom g;
    int n;
    const float *x;
    float *y, *ws;
    size_t slot;
    al_pool *gemm_pool;
    /* implicit-GEMM VNNI path (q->wpack, VNNI chosen): its masks and tap
     * offsets, and the node's activation, which the epilogue applies
     * (ReLU, ReLU6) */
    int fast, act;
    const uint16_t *masks;
    const long *toff;
    int nb;
    /* one sample's arguments while the filter blocks are split (fast path
     * with fewer samples than threads) */
    al_i8conv_args one;
} conv_i8_run;

#ifdef AL_I8_HAVE_VNNI
/* sample i's arguments, its input already in xq4 at scale sx */
static al_i8conv_args fast_args(const conv_i8_run *r, const uint32_t *xq4, float sx, int i) {
    const qgeom *g = &r->g;
    const struct al_qnode *q = r->nd->q;
    size_t o = (size_t)i * g->F * g->P;
    al_i8conv_args a = {xq4,    q->wpack, r->masks, r->toff, q->rowsum, q->scale,
                        r->nd->cfg.bias ? r->nd->params[1].w : NULL,
                        sx,     (g->C + 3) / 4, g->k, g->F, r->nb, g->P, r->act,
                        r->io.y8 ? NULL : r->y + o, r->io.y8 ? r->io.y8 + o : NULL, r->io.yinv};
    return a;
}

/* sample i's input into the words the kernel reads, at the slot's start
 * (xq4, or at stride 2 the phase planes, xq4 after them); returns its
 * scale */
static float fast_input(const conv_i8_run *r, int i, uint32_t *slot) {
    const qgeom *g = &r->g;
    long hw = (long)g->H * g->W;
    size_t chw = (size_t)g->C * (size_t)hw, ph = al_i8conv_phase_words(g->C, g->H, g->W, g->k, g->s, g->p);
    uint32_t *xq4 = slot + ph;
    float sx = r->io.sin;
    if (r->io.x8)
        al_i8conv_pack_i8_vnni(r->io.x8 + (size_t)i * chw, g->C, hw, xq4);
    else if (r->io.sin > 0.0f)
        al_i8conv_quantize_static_vnni(r->x + (size_t)i * chw, g->C, hw, r->io.inv, xq4);
    else
        sx = al_i8conv_quantize_vnni(r->x + (size_t)i * chw, g->C, hw, xq4);
    if (ph) al_i8conv_split_vnni(xq4, (g->C + 3) / 4, g->H, g->W, g->Ho, g->Wo, g->k, g->p, slot);
    return sx;
}

static int fast_blocks(const qgeom *g) { return (g->F + AL_I8C_MR - 1) / AL_I8C_MR; }

static void conv_i8_blocks_task(void *arg, int ith, int nth) {
    const conv_i8_run *r = arg;
    long lo, hi;
    al_split(fast_blocks(&r->g), ith, nth, &lo, &hi);
    if (lo < hi) al_i8conv_vnni(&r->one, (int)lo, (int)hi);
}
#endif

static void conv_i8_sample(const conv_i8_run *r, int i, int slot_index) {
    const qgeom *g = &r->g;
    const struct al_qnode *q = r->nd->q;
    size_t chw = (size_t)g->C * g->H * g->W;
    char *base = (char *)(r->ws + (size_t)slot_index * r->slot);
#ifdef AL_I8_HAVE_VNNI
    if (r->fast) {
        uint32_t *xq4 = (uint32_t *)base;
        float sx = fast_input(r, i, xq4);
        al_i8conv_args a = fast_args(r, xq4, sx, i);
        al_i8conv_vnni(&a, 0, fast_blocks(g));
        return;
    }
#endif
    int8_t *xq = (int8_t *)base, *rows = (int8_t *)(base + round64(chw));
    int32_t *acc = (int32_t *)(base + round64(chw) + round64((size_t)g->P * g->CKK));
    float sx = r->io.sin;
    const int8_t *xs = r->io.x8 ? r->io.x8 + (size_t)i * chw : xq;
    if (!r->io.x8) sx = quant_row(&r->io, r->x + (size_t)i * chw, (long)chw, xq);
    al_im2row_i8(xs, g->C, g->H, g->W, g->k, g->s, g->p, rows, g->CKK);
    /* acc [F, P] = W . R^T: the weights as the GEMM's rows, so the
     * epilogue runs along contiguous rows of the output (the integers are
     * the same either way; the row sums of R are the kernel's to find) */
    al_i8gemm(r->gemm_pool, g->F, (int)g->P, (int)g->CKK, q->w, (int)g->CKK, rows, (int)g->CKK, NULL, acc, (int)g->P);
    const float *b = r->nd->cfg.bias ? r->nd->params[1].w : NULL;
    size_t o = (size_t)i * g->F * g->P; /* sample i's outputs [F, P] */
    for (int f = 0; f < g->F; f++) {
        size_t of = o + (size_t)f * g->P;
        al_i8_epilogue(acc + (size_t)f * g->P, g->P, sx * q->scale[f], b ? b[f] : 0.0f, r->nd->cfg.act,
                       r->io.y8 ? NULL : r->y + of, r->io.y8 ? r->io.y8 + of : NULL, r->io.yinv);
    }
}

static void conv_i8_task(void *arg, int ith, int nth) {
    const conv_i8_run *r = arg;
    long lo, hi;
    al_split(r->n, ith, nth, &lo, &hi);
    for (long i = lo; i < hi; i++) conv_i8_sample(r, (int)i, (int)lo);
}

static al_status conv_forward_i8(al_node *nd, const al_exec *e, const float *x, float *y, int n) {
    conv_i8_run r = {nd, make_qio(nd, e, x, y), conv_qgeom(nd), n, x, y, e->ws, 0, NULL, 0, 0, NULL, NULL, 0, {0}};
    r.slot = conv_slot_floats(&r.g);
    int nth = al_pool_size(e->pool);
#ifdef AL_I8_HAVE_VNNI
    uint16_t masks[AL_I8C_MASKS_MAX]; /* 8 KiB */
    long toff[AL_I8C_TAPS_MAX];
    if (nd->q->wpack && al_i8_current() == AL_I8_VNNI) {
        r.fast = 1;
        r.act = nd->cfg.act; /* AL_ACT_NONE, RELU, RELU6: the kernel's 0, 1, 2 */
        r.nb = al_i8conv_masks(r.g.H, r.g.W, r.g.k, r.g.s, r.g.p, (r.g.C + 3) / 4, masks, toff);
        r.masks = masks;
        r.toff = toff;
    }
    if (r.fast && nth > 1 && n < nth) {
        /* fewer samples than threads: quantize each sample, then split its
         * filter blocks */
        for (int i = 0; i < n; i++) {
            uint32_t *xq4 = (uint32_t *)r.ws;
            float sx = fast_input(&r, i, xq4);
            r.one = fast_args(&r, xq4, sx, i);
            al_pool_run(e->pool, conv_i8_blocks_task, &r);
        }
        return AL_OK;
    }
#endif
    if (nth > 1 && n >= nth) {
        al_pool_run(e->pool, conv_i8_task, &r);
    } else {
        r.gemm_pool = e->pool;
        for (int i = 0; i < n; i++) conv_i8_sample(&r, i, 0);
    }
    return AL_OK;
}

/* ---- depthwise ------------------------------------------------------------------ */

typedef struct dw_i8_run {
    const al_node *nd;
    al_dw_geom g;
    int C, n;
    al_i8dw_io io;
    int8_t *xq; /* [n, C, H, W]: plane pl's int8 copy at pl * H*W */
} dw_i8_run;

/* Threads split the n*C planes; a plane is quantized and convolved by the
 * thread that owns it, while it is in cache. */
static void dw_i8_task(void *arg, int ith, int nth) {
    const dw_i8_run *r = arg;
    const struct al_qnode *q = r->nd->q;
    long lo, hi;
    al_split((long)r->n * r->C, ith, nth, &lo, &hi);
    if (lo < hi)
        al_i8dw_planes(&r->g, r->C, lo, hi, &r->io, r->xq + (size_t)lo * r->g.H * r->g.W, q->w, q->scale,
                       r->nd->cfg.bias ? r->nd->params[1].w : NULL, r->nd->cfg.act);
}

#define DW_I8_PAR_MIN 32768 /* MACs, as the float depthwise layer */

static al_status dwconv_forward_i8(al_node *nd, const al_exec *e, const float *x, float *y, int n) {
    const qio io = make_qio(nd, e, x, y);
    dw_i8_run r = {nd, dw_qgeom(nd), nd->in.d[0], n, {io.x8 ? NULL : x, io.x8, io.sin, io.y8 ? NULL : y, io.y8, io.yinv},
                   (int8_t *)e->ws};
    size_t work = (size_t)n * r.C * (size_t)r.g.Ho * r.g.Wo * (size_t)r.g.k * r.g.k;
    if (work >= DW_I8_PAR_MIN)
        al_pool_run(e->pool, dw_i8_task, &r);
    else
        dw_i8_task(&r, 0, 1);
    return AL_OK;
}

/* Every form applies the node's fused activation (cfg.act) in its
 * epilogue. */
_Static_assert(AL_ACT_NONE == 0 && AL_ACT_RELU == 1 && AL_ACT_RELU6 == 2, "the int8 epilogues' act codes");

al_status al_quant_forward(al_node *nd, const al_exec *e, const float *x, float *y, int n) {
    return nd->cfg.type == AL_L_CONV2D     ? conv_forward_i8(nd, e, x, y, n)
           : nd->cfg.type == AL_L_DWCONV2D ? dwconv_forward_i8(nd, e, x, y, n)
                                           : dense_forward_i8(nd, e, x, y, n);
}
