/* 2-D convolution, PyTorch's nn.Conv2d (groups 1), as GEMM.
 *
 * Per sample x is [C,H,W], y is [F,Ho,Wo] with Ho = (H + 2p - k) / s + 1
 * (dilation d: Ho = (H + 2p - d*(k-1) - 1) / s + 1; a dilated conv takes
 * the plain im2col + GEMM path of conv_forward_dil, nothing below);
 * weight [F,C,k,k] is the matrix W [F, CKK] (CKK = C*k*k), bias [F].
 * Let P = Ho*Wo. The column matrix of a batch of n is col [CKK, n*P]: sample
 * i's columns sit at offset i*P, so the whole batch is one matrix.
 *
 *   forward   y_i = W * col_i + b          [F,P] = [F,CKK] [CKK,P]
 *   dW       += dYt * col^T                [F,CKK] = [F,nP] [nP,CKK]
 *   dcol      = W^T * dYt ; dx_i = col2im(dcol_i)
 * where dYt [F, nP] is dy with the batch moved inside the rows. dW is one
 * GEMM over a chunk of samples (its K = n*P is long, which GEMM likes), not
 * n accumulating ones. On several threads each thread takes a share of the
 * batch through those steps alone, and the shares' weight gradients are
 * summed in thread order (bwd_shares).
 *
 * Forward takes one of two routes. Large images (P >= CONV_FUSED_MIN):
 * threads take whole samples, im2col one sample and multiply it straight
 * into y (the sample's columns stay in cache). Small images (the later
 * layers of a CNN, P = 49 or 196): the per-sample GEMM would be thin, so
 * the whole batch is multiplied at once into scratch [F, nP] and scattered.
 * 1x1 stride-1 unpadded convolutions (MobileNet's pointwise layers) take
 * the same two routes: on a large image the per-sample GEMM reads x_i as
 * col_i (no im2col); on a small one the batch GEMM packs its B panels
 * straight from the images (P = 36 or 9 columns per sample would leave
 * most of a 32-wide micro-kernel tile idle; bench_dwconv: 1.3 to 2.5x
 * faster). Backward likewise: dx_i = W^T dy_i per sample on large images,
 * one GEMM over the batch on small ones.
 * Either route is an implicit GEMM: al_sgemm_bpack's packer
 * (al_im2col_pack) builds each B panel straight from the images, so the
 * column matrix is never written and read back (AL_CONV_IMPLICIT=0 brings
 * back im2col + al_sgemm, for A/B timing).
 *
 * One input channel, 3x3, stride 1, padding 1 (an image CNN's first conv)
 * takes direct AVX-512 kernels where the CPU has them (al_conv1c3_forward,
 * al_conv1c3_dweight): as GEMMs its K is 9 and its weight gradient 9 wide,
 * shapes the packed GEMM spends on packing. The weight gradient then needs
 * no column matrix; the input gradient (when wanted) takes the GEMM route.
 *
 * Scratch (e->ws): col [CKK, nP] then out/dYt [F, nP]. Nothing is saved in
 * aux: backward recomputes im2col, chunk by chunk of samples (see
 * conv_backward), which is cheap next to the GEMMs when it stays in cache.
 *
 * A fused activation (cfg.act) is applied to each sample's output right
 * after its bias, while it is in cache; backward masks dy by the derivative
 * read from y as it copies dy into dYt, so it needs no more scratch. A 1x1
 * layer with an activation then takes the general dx route (col2im with
 * k = 1 is a copy) instead of multiplying dy directly. */
#include "layers/layers.h"

#include <limits.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define CONV_FUSED_MIN 256
/* Below this many floats of work a sample loop stays on the calling thread. */
#define CONV_PAR_MIN 32768

/* Backward by shares of the batch (bwd_shares): AL_CONV_SHARES=0 turns it
 * off (A/B measurements), al_conv_force_shares overrides that. */
static atomic_int shares_env = -1, shares_forced = -1;

void al_conv_force_shares(int on) { atomic_store(&shares_forced, on < 0 ? -1 : on != 0); }

static int conv_shares(void) {
    int f = atomic_load(&shares_forced);
    if (f >= 0) return f;
    return al_env_on_once(&shares_env, "AL_CONV_SHARES");
}

/* AL_CONV_IMPLICIT=0 turns the implicit GEMM off (A/B measurements). */
static atomic_int implicit_env = -1;

static int conv_implicit(void) { return al_env_on_once(&implicit_env, "AL_CONV_IMPLICIT"); }

typedef al_conv_geom conv_geom;

static conv_geom geom(const al_node *nd) { return al_conv_geometry(nd); }

static int is_1x1(const conv_geom *g) { return g->k == 1 && g->s == 1 && g->p == 0; }

static al_status conv_shape(al_node *nd, const al_shape *in) {
    const al_layer_cfg *c = &nd->cfg;
    if (in->ndim != 3) return al_error(AL_ESHAPE, "conv: input must be [C,H,W], got %d dimensions", in->ndim);
    if (c->units <= 0) return al_error(AL_EINVAL, "conv: filters must be positive, got %d", c->units);
    if (c->k <= 0) return al_error(AL_EINVAL, "conv: kernel size must be positive, got %d", c->k);
    if (c->stride < 0 || c->pad < 0)
        return al_error(AL_EINVAL, "conv: stride %d and padding %d must not be negative", c->stride, c->pad);
    if (c->dil < 0 || c->dil > 64) return al_error(AL_EINVAL, "conv: dilation %d must be 1..64", c->dil);
    int ke = (c->dil > 1 ? c->dil : 1) * (c->k - 1) + 1; /* the dilated kernel's extent */
    if (in->d[1] + 2 * c->pad < ke || in->d[2] + 2 * c->pad < ke)
        return al_error(AL_ESHAPE, "conv: kernel %d (dilated: %d) is larger than the padded input %dx%d (padding %d)",
                        c->k, ke, in->d[1], in->d[2], c->pad);
    conv_geom g = geom(nd);
    if (g.CKK > INT_MAX / 2 || (double)g.F * g.CKK > (double)INT_MAX)
        return al_error(AL_ESHAPE, "conv: weight %d x %ld is too large", g.F, g.CKK);
    nd->out.ndim = 3;
    nd->out.d[0] = g.F;
    nd->out.d[1] = g.Ho;
    nd->out.d[2] = g.Wo;
    int wd[4] = {g.F, g.C, g.k, g.k};
    al_node_param(nd, 0, "weight", 4, wd, 0);
    if (c->bias) al_node_param(nd, 1, "bias", 1, wd, 0);
    nd->aux_per_sample = nd->aux_fixed = 0;
    nd->ws_fixed = 0;
    /* im2col's scratch is always there: backward uses it whatever the
     * forward kernel */
    nd->ws_per_sample = (size_t)g.CKK * (size_t)g.P + (size_t)g.F * (size_t)g.P;
    if (c->act < 0 || c->act >= AL_ACT_COUNT) return al_error(AL_EINVAL, "conv: unknown fused activation %d", c->act);
    /* a dilated conv takes the plain im2col path only (conv_forward_dil) */
    nd->conv_algo = g.d > 1 ? (int)AL_CONV_IM2COL : (int)al_conv_choose(g.C, g.H, g.W, g.F, g.k, g.s, g.p);
    if (nd->conv_algo == AL_CONV_WINOGRAD) {
        size_t wino = 16 * al_winograd_tiles(g.Ho, g.Wo) * (size_t)(g.C + g.F);
        if (wino > nd->ws_per_sample) nd->ws_per_sample = wino;
        nd->ws_fixed = 16 * (size_t)g.F * (size_t)g.C;
    }
    return AL_OK;
}

static void conv_init(al_node *nd, al_rng *rng) {
    /* PyTorch: kaiming_uniform(a=sqrt(5)) for the weight and the bias bound
     * both come to U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = C*k*k. */
    const al_param *w = &nd->params[0];
    float bound = 1.0f / sqrtf((float)(w->dims[1] * w->dims[2] * w->dims[3]));
    for (int i = 0; i < nd->nparams; i++)
        for (size_t j = 0; j < nd->params[i].n; j++)
            nd->params[i].w[j] = (2.0f * al_rng_uniform(rng) - 1.0f) * bound;
}

/* ---- sample loops ------------------------------------------------------------ */

typedef struct conv_run conv_run;
typedef void (*sample_fn)(const conv_run *r, int i, int ith_first);
/* block b of nb of sample i (its channels and filters cut in nb) */
typedef void (*block_fn)(const conv_run *r, int i, int b, int nb);

struct conv_run {
    const al_node *nd;
    conv_geom g;
    int n;
    const float *x, *dy, *w, *b;
    float *y, *dx, *col, *out;
    const float *yr; /* backward: the output, for a fused activation's derivative */
    al_pool *gemm_pool; /* pool for GEMMs issued inside a sample fn (NULL inside a task) */
    int want_col;       /* backward: bwd_prepare also writes the chunk's im2col */
    sample_fn fn;
    block_fn bfn;
    int nb; /* for_blocks: blocks a sample */
};

static void samples_task(void *arg, int ith, int nth) {
    const conv_run *r = arg;
    long lo, hi;
    al_split(r->n, ith, nth, &lo, &hi);
    for (long i = lo; i < hi; i++) r->fn(r, (int)i, (int)lo);
}

/* Runs r->fn for every sample, split statically over the pool's threads;
 * `ith_first` tells the fn the first sample of its thread (its scratch
 * slot). With fewer samples than threads the samples run in turn and the
 * GEMMs inside them get the threads instead. */
static void for_samples(al_pool *pool, conv_run *r, size_t work, sample_fn fn) {
    r->fn = fn;
    int nth = al_pool_size(pool);
    if (nth > 1 && r->n >= nth && work >= CONV_PAR_MIN) {
        r->gemm_pool = NULL;
        al_pool_run(pool, samples_task, r);
    } else {
        r->gemm_pool = pool;
        for (int i = 0; i < r->n; i++) fn(r, i, 0);
    }
}

static void blocks_task(void *arg, int ith, int nth) {
    const conv_run *r = arg;
    long lo, hi;
    al_split((long)r->n * r->nb, ith, nth, &lo, &hi);
    for (long u = lo; u < hi; u++) r->bfn(r, (int)(u / r->nb), (int)(u % r->nb), r->nb);
}

/* For the passes that need no scratch of their own and whose channels (or
 * filters) are independent: the samples cut into blocks of channels, so a
 * chunk of fewer samples than threads (backward's cache-sized chunks: 2 to
 * 16 samples for the reference CNN) or a count that does not divide among
 * the threads still gives every thread a share. At least 4 blocks a thread;
 * a block's values do not depend on the cut. */
static void for_blocks(al_pool *pool, conv_run *r, size_t work, block_fn bfn) {
    int nth = al_pool_size(pool);
    if (nth > 1 && work >= CONV_PAR_MIN) {
        r->bfn = bfn;
        r->nb = (4 * nth + r->n - 1) / r->n;
        al_pool_run(pool, blocks_task, r);
    } else {
        for (int i = 0; i < r->n; i++) bfn(r, i, 0, 1);
    }
}

/* ---- forward ------------------------------------------------------------------ */

/* y_i = act(W * col_i + b), im2col into the thread's own slot of the
 * scratch (or packed straight from the image); the bias and the fused
 * activation in the GEMM's epilogue, tile by tile (al_sgemm_ep). */
static void fwd_fused(const conv_run *r, int i, int ith_first) {
    const conv_geom *g = &r->g;
    float *y = r->y + (size_t)i * g->F * g->P;
    const float *xi = r->x + (size_t)i * g->C * g->H * g->W, *col = xi;
    const al_gemm_ep ep = {r->b, NULL, r->nd->cfg.act};
    if (!is_1x1(g) && conv_implicit()) {
        al_im2col_src src = {xi, g->C, g->H, g->W, g->k, g->s, g->p, g->Ho, g->Wo};
        al_sgemm_bpack_ep(r->gemm_pool, 0, g->F, (int)g->P, (int)g->CKK, r->w, (int)g->CKK, al_im2col_pack, &src,
                          &ep, y, (int)g->P);
        return;
    }
    if (!is_1x1(g)) {
        float *slot = r->col + (size_t)ith_first * g->CKK * g->P;
        al_im2col(xi, g->C, g->H, g->W, g->k, g->s, g->p, slot, g->P);
        col = slot;
    }
    al_sgemm_ep(r->gemm_pool, 0, 0, g->F, (int)g->P, (int)g->CKK, r->w, (int)g->CKK, col, (int)g->P, &ep, y,
                (int)g->P);
}

/* One input channel, 3x3, stride 1, padding 1: the direct AVX-512 kernel
 * (al_conv1c3_forward), bitwise the implicit GEMM's y. */
static int is_c1k3(const conv_geom *g) {
    return g->C == 1 && g->k == 3 && g->s == 1 && g->p == 1 && al_conv1c3_available(g->H, g->W);
}

/* The stride-2 stem on few channels (al_conv_stem_forward), bitwise the
 * implicit GEMM's y with its epilogue; a sample it declines (its width
 * limit) takes the fused route. */
static int is_stem(const conv_geom *g) {
    return g->C <= 4 && g->k == 3 && g->s == 2 && g->p == 1 && al_cnn_simd();
}

static void fwd_stem(const conv_run *r, int i, int ith_first) {
    const conv_geom *g = &r->g;
    if (!al_conv_stem_forward(r->x + (size_t)i * g->C * g->H * g->W, g->C, g->H, g->W, r->w, r->b, r->nd->cfg.act,
                              g->F, r->y + (size_t)i * g->F * g->P))
        fwd_fused(r, i, ith_first);
}

static void fwd_c1k3(const conv_run *r, int i, int ith_first) {
    const conv_geom *g = &r->g;
    float *y = r->y + (size_t)i * g->F * g->P;
    if (!al_conv1c3_forward(r->x + (size_t)i * g->H * g->W, g->H, g->W, r->w, r->b, g->F, y)) {
        fwd_fused(r, i, ith_first);
        return;
    }
    al_act_apply(r->nd->cfg.act, y, (size_t)g->F * (size_t)g->P);
}

/* Input channels [c0, c1) of col_i into the batch's column matrix
 * [CKK, nP] at column i*P (their rows c0*k*k .. c1*k*k). */
static void im2col_channels(const conv_run *r, int i, long c0, long c1) {
    const conv_geom *g = &r->g;
    size_t ldc = (size_t)r->n * g->P, plane = (size_t)g->H * g->W;
    al_im2col(r->x + ((size_t)i * g->C + (size_t)c0) * plane, (int)(c1 - c0), g->H, g->W, g->k, g->s, g->p,
              r->col + (size_t)c0 * g->k * g->k * ldc + (size_t)i * g->P, (long)ldc);
}

/* col_i into the batch's column matrix, every channel. */
static void im2col_batch(const conv_run *r, int i, int ith_first) {
    AL_UNUSED(ith_first);
    im2col_channels(r, i, 0, r->g.C);
}

/* y_i[f] = out[f, iP .. iP+P) + b[f] */
static void scatter_out(const conv_run *r, int i, int ith_first) {
    AL_UNUSED(ith_first);
    const conv_geom *g = &r->g;
    size_t ld = (size_t)r->n * g->P;
    for (int f = 0; f < g->F; f++) {
        const float *src = r->out + (size_t)f * ld + (size_t)i * g->P;
        float *dst = r->y + ((size_t)i * g->F + f) * g->P;
        float b = r->b ? r->b[f] : 0.0f;
        if (r->b)
            for (long q = 0; q < g->P; q++) dst[q] = src[q] + b;
        else
            memcpy(dst, src, sizeof(float) * (size_t)g->P);
    }
    al_act_apply(r->nd->cfg.act, r->y + (size_t)i * g->F * g->P, (size_t)g->F * (size_t)g->P);
}

/* ---- direct and winograd forward (src/kernels/kernels.h) --------------------- */

static void fwd_direct(const conv_run *r, int i, int ith_first) {
    AL_UNUSED(ith_first);
    const conv_geom *g = &r->g;
    al_conv_direct(r->x + (size_t)i * g->C * g->H * g->W, g->C, g->H, g->W, r->w, r->b, g->F, g->k, g->s, g->p,
                   r->y + (size_t)i * g->F * g->P);
}

/* Winograd scratch: U [16][F][C] (ws_fixed) | V [16][C][nT] | M [16][F][nT];
 * r->col is V, r->out is M. The filter transform is redone on every call:
 * it costs 16*F*C*~3 flops against the GEMMs' 16*F*C*nT (under 1% for
 * batch 32 on the reference CNN), and it can never go stale, frozen or not. */
static void wino_input(const conv_run *r, int i, int ith_first) {
    AL_UNUSED(ith_first);
    const conv_geom *g = &r->g;
    long T = (long)al_winograd_tiles(g->Ho, g->Wo);
    al_winograd_input(r->x + (size_t)i * g->C * g->H * g->W, g->C, g->H, g->W, g->p, g->Ho, g->Wo, r->col,
                      (long)r->n * T, (long)i * T);
}

static void wino_output(const conv_run *r, int i, int ith_first) {
    AL_UNUSED(ith_first);
    const conv_geom *g = &r->g;
    long T = (long)al_winograd_tiles(g->Ho, g->Wo);
    al_winograd_output(r->out, (long)r->n * T, (long)i * T, g->F, g->Ho, g->Wo, r->b,
                       r->y + (size_t)i * g->F * g->P);
}

static al_status conv_forward_winograd(al_node *nd, const al_exec *e, conv_run *r, size_t work) {
    const conv_geom *g = &r->g;
    long T = (long)al_winograd_tiles(g->Ho, g->Wo), nT = (long)r->n * T;
    if (nT > INT_MAX) return al_error(AL_ERANGE, "conv: batch %d x %ld tiles exceeds the GEMM's range", r->n, T);
    float *U = e->ws;
    r->col = U + 16 * (size_t)g->F * g->C;
    r->out = r->col + 16 * (size_t)g->C * (size_t)nT;
    al_winograd_filter(nd->params[0].w, g->F, g->C, U);
    for_samples(e->pool, r, work, wino_input);
    for (int el = 0; el < 16; el++)
        al_sgemm(e->pool, 0, 0, g->F, (int)nT, g->C, 1.0f, U + (size_t)el * g->F * g->C, g->C,
                 r->col + (size_t)el * g->C * nT, (int)nT, 0.0f, r->out + (size_t)el * g->F * nT, (int)nT);
    for_samples(e->pool, r, work, wino_output);
    return AL_OK;
}

/* ---- dilated (d > 1): the plain path ------------------------------------------ */

static float sum16(const float *v, size_t n);

/* Sample by sample, on the node's scratch (col [CKK,P] then dYt [F,P]):
 * y_i = W * im2col_dil(x_i) + b. None of the fast kernels (the implicit
 * GEMM's packer, the AVX-512 im2col, direct, Winograd, the one-channel
 * 3x3) knows a dilation, so none is reached from here. */
static al_status conv_forward_dil(al_node *nd, const al_exec *e, const float *x, float *y, int n) {
    const conv_geom g = geom(nd);
    const float *w = nd->params[0].w, *b = nd->cfg.bias ? nd->params[1].w : NULL;
    float *col = e->ws;
    for (int i = 0; i < n; i++) {
        float *yi = y + (size_t)i * g.F * g.P;
        al_im2col_dil(x + (size_t)i * g.C * g.H * g.W, g.C, g.H, g.W, g.k, g.s, g.p, g.d, col, g.P);
        al_sgemm(e->pool, 0, 0, g.F, (int)g.P, (int)g.CKK, 1.0f, w, (int)g.CKK, col, (int)g.P, 0.0f, yi, (int)g.P);
        for (int f = 0; f < g.F; f++)
            for (long q = 0; q < g.P && b; q++) yi[(size_t)f * g.P + q] += b[f];
        al_act_apply(nd->cfg.act, yi, (size_t)g.F * (size_t)g.P);
    }
    return AL_OK;
}

/* dW += dYt_i col_i^T, db += row sums of dYt_i, dx_i = col2im_dil(W^T dYt_i),
 * where dYt_i is dy_i times the fused activation's derivative. */
static void conv_backward_dil(al_node *nd, const al_exec *e, const float *x, const float *y, const float *dy,
                              float *dx, int n) {
    const conv_geom g = geom(nd);
    const float *w = nd->params[0].w;
    float *col = e->ws, *dyt = e->ws + (size_t)g.CKK * g.P;
    size_t xs = (size_t)g.C * g.H * g.W, ys = (size_t)g.F * g.P;
    for (int i = 0; i < n; i++) {
        if (nd->cfg.act)
            al_act_backward(e->pool, nd->cfg.act, y + (size_t)i * ys, dy + (size_t)i * ys, dyt, ys);
        else
            memcpy(dyt, dy + (size_t)i * ys, sizeof(float) * ys);
        if (nd->trainable) {
            al_im2col_dil(x + (size_t)i * xs, g.C, g.H, g.W, g.k, g.s, g.p, g.d, col, g.P);
            al_sgemm(e->pool, 0, 1, g.F, (int)g.CKK, (int)g.P, 1.0f, dyt, (int)g.P, col, (int)g.P, 1.0f,
                     nd->params[0].g, (int)g.CKK);
            if (nd->cfg.bias)
                for (int f = 0; f < g.F; f++) nd->params[1].g[f] += sum16(dyt + (size_t)f * g.P, (size_t)g.P);
        }
        if (!dx) continue;
        al_sgemm(e->pool, 1, 0, (int)g.CKK, (int)g.P, g.F, 1.0f, w, (int)g.CKK, dyt, (int)g.P, 0.0f, col, (int)g.P);
        al_col2im_dil(col, g.P, g.C, g.H, g.W, g.k, g.s, g.p, g.d, dx + (size_t)i * xs);
    }
}

static al_status conv_forward(al_node *nd, const al_exec *e, const float *x, float *y, int n) {
    if (nd->q && !nd->trainable) return al_quant_forward(nd, e, x, y, n);
    if (nd->cfg.dil > 1) return conv_forward_dil(nd, e, x, y, n);
    conv_run r = {0};
    r.nd = nd;
    r.g = geom(nd);
    r.n = n;
    r.x = x;
    r.y = y;
    r.w = nd->params[0].w;
    r.b = nd->cfg.bias ? nd->params[1].w : NULL;
    r.col = e->ws;
    r.out = e->ws + (size_t)n * r.g.CKK * r.g.P;
    if ((double)n * r.g.P > (double)INT_MAX)
        return al_error(AL_ERANGE, "conv: batch %d x %ld output pixels exceeds the GEMM's range", n, r.g.P);
    size_t work = (size_t)n * (size_t)r.g.P * (size_t)(r.g.CKK + r.g.F);
    if (nd->conv_algo == AL_CONV_DIRECT || nd->conv_algo == AL_CONV_WINOGRAD) {
        al_status st = AL_OK;
        if (nd->conv_algo == AL_CONV_DIRECT)
            for_samples(e->pool, &r, work, fwd_direct);
        else
            st = conv_forward_winograd(nd, e, &r, work);
        /* these kernels end with the bias; a fused activation follows */
        if (st == AL_OK && nd->cfg.act != AL_ACT_NONE)
            al_act_forward(e->pool, nd->cfg.act, y, (size_t)n * (size_t)r.g.F * (size_t)r.g.P);
        return st;
    }
    if (is_c1k3(&r.g)) {
        for_samples(e->pool, &r, work, fwd_c1k3);
        return AL_OK;
    }
    if (is_stem(&r.g)) {
        for_samples(e->pool, &r, work, fwd_stem);
        return AL_OK;
    }
    if (r.g.P >= CONV_FUSED_MIN) {
        for_samples(e->pool, &r, work, fwd_fused);
        return AL_OK;
    }
    int nP = (int)((long)n * r.g.P);
    if (conv_implicit()) {
        al_im2col_src src = {x, r.g.C, r.g.H, r.g.W, r.g.k, r.g.s, r.g.p, r.g.Ho, r.g.Wo};
        al_sgemm_bpack(e->pool, 0, r.g.F, nP, (int)r.g.CKK, 1.0f, r.w, (int)r.g.CKK, al_im2col_pack, &src, 0.0f,
                       r.out, nP);
    } else {
        for_samples(e->pool, &r, work, im2col_batch);
        al_sgemm(e->pool, 0, 0, r.g.F, nP, (int)r.g.CKK, 1.0f, r.w, (int)r.g.CKK, r.col, nP, 0.0f, r.out, nP);
    }
    for_samples(e->pool, &r, work, scatter_out);
    return AL_OK;
}

/* ---- backward ------------------------------------------------------------------ */

/* dYt[f, iP .. iP+P) = dy_i[f] (times the activation's derivative), and
 * col_i when the weights are trained: block b of nb, its share of the
 * filters and of the input channels. */
static void bwd_prepare(const conv_run *r, int i, int b, int nb) {
    const conv_geom *g = &r->g;
    size_t ld = (size_t)r->n * g->P;
    int act = r->nd->cfg.act;
    long f0, f1, c0, c1;
    al_split(g->F, b, nb, &f0, &f1);
    al_split(g->C, b, nb, &c0, &c1);
    for (long f = f0; f < f1; f++) {
        float *dst = r->out + (size_t)f * ld + (size_t)i * g->P;
        const float *dy = r->dy + ((size_t)i * g->F + f) * g->P, *y = r->yr + ((size_t)i * g->F + f) * g->P;
        if (act == AL_ACT_RELU)
            for (long q = 0; q < g->P; q++) dst[q] = y[q] > 0.0f ? dy[q] : 0.0f;
        else if (act == AL_ACT_RELU6)
            for (long q = 0; q < g->P; q++) dst[q] = y[q] > 0.0f && y[q] < 6.0f ? dy[q] : 0.0f;
        else
            memcpy(dst, dy, sizeof(float) * (size_t)g->P);
    }
    if (r->want_col && c0 < c1) im2col_channels(r, i, c0, c1);
}

static void bwd_col2im(const conv_run *r, int i, int b, int nb) {
    const conv_geom *g = &r->g;
    long c0, c1;
    al_split(g->C, b, nb, &c0, &c1);
    if (c0 >= c1) return;
    size_t ldc = (size_t)r->n * g->P, plane = (size_t)g->H * g->W;
    al_col2im(r->col + (size_t)c0 * g->k * g->k * ldc + (size_t)i * g->P, (long)ldc, (int)(c1 - c0), g->H, g->W,
              g->k, g->s, g->p, r->dx + ((size_t)i * g->C + c0) * plane);
}

/* 1x1: dx_i = W^T * dy_i [C,P] = [C,F] [F,P], no col2im. */
static void bwd_dx_1x1(const conv_run *r, int i, int ith_first) {
    AL_UNUSED(ith_first);
    const conv_geom *g = &r->g;
    al_sgemm(r->gemm_pool, 1, 0, g->C, (int)g->P, g->F, 1.0f, r->w, g->C, r->dy + (size_t)i * g->F * g->P,
             (int)g->P, 0.0f, r->dx + (size_t)i * g->C * g->P, (int)g->P);
}

/* Sum of n floats in 16 interleaved partial sums (a fixed order, so the
 * result is the same on every run): a single running sum is bound by the
 * add latency, 4 cycles per element. */
static float sum16(const float *v, size_t n) {
    float acc[16] = {0};
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int j = 0; j < 16; j++) acc[j] += v[i + j];
    for (; i < n; i++) acc[i % 16] += v[i];
    for (int w = 8; w >= 1; w /= 2)
        for (int j = 0; j < w; j++) acc[j] += acc[j + w];
    return acc[0];
}

typedef struct bias_args {
    const float *dyt;
    float *db;
    int F;
    size_t len;
} bias_args;

static void bias_task(void *arg, int ith, int nth) {
    const bias_args *a = arg;
    long lo, hi;
    al_split(a->F, ith, nth, &lo, &hi);
    for (long f = lo; f < hi; f++) a->db[f] += sum16(a->dyt + (size_t)f * a->len, a->len);
}

/* Backward runs over chunks of samples sized so a chunk's column matrix
 * (CKK x chunk*P floats, at most 2 MiB) stays in cache: im2col writes it,
 * the dW GEMM reads it, the dcol GEMM overwrites it and col2im reads it
 * back, all from cache. Over the whole batch at once (7 MB for the reference
 * CNN's conv2) each of those passes went to memory and took as long as a
 * GEMM. 2 MiB rather than 1 (one core's L2 here): on one thread about the
 * same (bench_layers: conv2/conv3 backward 5.05/4.93 ms at 1 MiB,
 * 5.06/5.03 at 2), on two threads, each holding half of the chunk, the
 * bigger chunks halve the tasks and their barriers (3.29/2.75 -> 2.99/2.57
 * ms). The chunking depends on the shapes only, not on the threads, so
 * this route's results are the same for any thread count; on several
 * threads most convs take the shares of bwd_shares instead, whose sums
 * depend on the count. */
#define CONV_BWD_CHUNK_FLOATS (512 * 1024)

/* The backward of a chunk of n samples; the weight gradient goes to dw
 * (wbeta: 1 adds to it, 0 overwrites) and the bias gradient is added to db. */
static void bwd_chunk(const al_node *nd, al_pool *pool, const conv_geom *gp, const float *x, const float *y,
                      const float *dy, float *dx, int n, float *ws, int wdone, float *dw, float *db, float wbeta) {
    conv_run r = {0};
    r.nd = nd;
    r.g = *gp;
    r.n = n;
    r.x = x;
    r.yr = y;
    r.dy = dy;
    r.dx = dx;
    r.w = nd->params[0].w;
    r.col = ws;
    r.out = ws + (size_t)n * r.g.CKK * r.g.P;
    const conv_geom *g = &r.g;
    int nP = (int)((long)n * g->P), CKK = (int)g->CKK;
    size_t work = (size_t)n * (size_t)g->P * (size_t)(g->CKK + g->F);
    r.want_col = nd->trainable && !wdone;
    if (r.want_col) {
        for_blocks(pool, &r, work, bwd_prepare);
        al_sgemm(pool, 0, 1, g->F, CKK, nP, 1.0f, r.out, nP, r.col, nP, wbeta, dw, CKK);
        if (nd->cfg.bias) {
            bias_args ba = {r.out, db, g->F, (size_t)nP};
            if ((size_t)nP * (size_t)g->F >= CONV_PAR_MIN)
                al_pool_run(pool, bias_task, &ba);
            else
                bias_task(&ba, 0, 1);
        }
    }
    if (!dx) return;
    if (is_1x1(g) && !nd->cfg.act && g->P >= CONV_FUSED_MIN) {
        for_samples(pool, &r, work, bwd_dx_1x1);
        return;
    }
    if (!r.want_col) for_blocks(pool, &r, work, bwd_prepare);
    al_sgemm(pool, 1, 0, CKK, nP, g->F, 1.0f, r.w, CKK, r.out, nP, 0.0f, r.col, nP);
    for_blocks(pool, &r, work, bwd_col2im);
}

/* The direct weight gradient of a one-channel 3x3 conv (al_conv1c3_dweight),
 * filter pairs split over the threads: each filter's sums run over the
 * whole batch in an order fixed by the shape, whatever the split. */
typedef struct c1k3_dw_args {
    const al_node *nd;
    const float *x, *y, *dy;
    int n, H, W, F;
} c1k3_dw_args;

static void c1k3_dw_task(void *arg, int ith, int nth) {
    const c1k3_dw_args *a = arg;
    long lo, hi;
    al_split((a->F + 1) / 2, ith, nth, &lo, &hi);
    int f0 = (int)(2 * lo), f1 = (int)AL_MIN(2 * hi, (long)a->F);
    if (f0 >= f1) return;
    al_conv1c3_dweight(a->x, a->dy, a->y, a->nd->cfg.act == AL_ACT_RELU, a->n, a->H, a->W, a->F, f0, f1,
                       a->nd->params[0].g, a->nd->cfg.bias ? a->nd->params[1].g : NULL);
}

/* ---- backward by shares of the batch ------------------------------------------ */

/* On several threads, backward gives each thread an even share of the
 * batch instead of splitting every pass and GEMM of every chunk over the
 * threads: a thread runs its samples through bwd_chunk alone, in chunks
 * whose column matrix fits its own cache (CONV_SHARE_FLOATS), in its share
 * of the scratch (the scratch holds (CKK + F) P floats a sample; a share of
 * s samples uses s of them). Two tasks a backward instead of five a chunk,
 * each thread's GEMMs on whole panels (a split GEMM repacks the operand
 * its parts share, and a conv weight gradient of 64 x 288 does not divide
 * into 8 equal parts of whole tiles; bench/threads-model.sh).
 *
 * The weight and bias gradients of thread 0's share go into the node's
 * gradients; every other share's go into a partial sum at the start of its
 * scratch share, added to the gradients in thread order afterwards (a
 * second task, split by weight). The sums are grouped by share, so they
 * depend on the thread count, and on nothing else: the same bits for the
 * same count, like every other result of the library. */
#define CONV_SHARE_FLOATS (256 * 1024)
/* Planes of fewer output pixels keep the chunked route: on MobileNetV2's
 * 3x3 planes (its trained 1x1 convs) shares were not faster (3 to 4%
 * slower in two runs of the threads model at 2 threads, within the noise;
 * bench/results/2026-12-06-2core-epyc-conv-shares); the reference CNN's
 * 7x7 and 14x14 planes gain. */
#define CONV_SHARE_MIN_P 49

typedef struct share_run {
    const al_node *nd;
    const conv_geom *g;
    const float *x, *y, *dy;
    float *dx, *ws;
    int n, wdone;
    size_t per;  /* scratch floats a sample: (CKK + F) P */
    size_t part; /* floats of a partial sum (0: no weight gradient wanted) */
} share_run;

static void share_task(void *arg, int ith, int nth) {
    const share_run *r = arg;
    const conv_geom *g = r->g;
    long lo, hi;
    al_split(r->n, ith, nth, &lo, &hi);
    if (lo >= hi) return;
    float *ws = r->ws + (size_t)lo * r->per, *dw = NULL, *db = NULL;
    size_t room = (size_t)(hi - lo) * r->per; /* floats of the share's scratch */
    int own = ith > 0 && r->part > 0;
    if (r->part) {
        dw = own ? ws : r->nd->params[0].g;
        db = !r->nd->cfg.bias ? NULL : own ? ws + (size_t)g->F * g->CKK : r->nd->params[1].g;
        if (own) {
            if (db) memset(db, 0, sizeof(float) * (size_t)g->F);
            ws += r->part;
            room -= r->part;
        }
    }
    long cap = (long)AL_MAX(1, CONV_SHARE_FLOATS / (g->CKK * g->P)), fit = (long)(room / r->per);
    long chunk = AL_MIN(AL_MIN(cap, fit), hi - lo);
    size_t xs = (size_t)g->C * g->H * g->W, ys = (size_t)g->F * g->P;
    for (long s0 = lo; s0 < hi; s0 += chunk) {
        int cn = (int)AL_MIN(chunk, hi - s0);
        bwd_chunk(r->nd, NULL, g, r->x + (size_t)s0 * xs, r->y + (size_t)s0 * ys, r->dy + (size_t)s0 * ys,
                  r->dx ? r->dx + (size_t)s0 * xs : NULL, cn, ws, r->wdone, dw, db, own && s0 == lo ? 0.0f : 1.0f);
    }
}

/* The gradients += every other share's partial sum, in thread order. */
static void share_sum_task(void *arg, int ith, int nth) {
    const share_run *r = arg;
    const conv_geom *g = r->g;
    size_t nw = (size_t)g->F * g->CKK;
    long lo, hi;
    al_split((long)r->part, ith, nth, &lo, &hi);
    for (int t = 1; t < nth; t++) {
        long slo, shi;
        al_split(r->n, t, nth, &slo, &shi);
        const float *src = r->ws + (size_t)slo * r->per;
        float *dw = r->nd->params[0].g;
        for (long j = lo; j < AL_MIN(hi, (long)nw); j++) dw[j] += src[j];
        for (long j = AL_MAX(lo, (long)nw); j < hi; j++) r->nd->params[1].g[j - (long)nw] += src[j];
    }
}

/* Backward by shares when the pool has threads, every thread gets a
 * sample, the planes have at least CONV_SHARE_MIN_P pixels and each
 * partial sum fits beside a chunk of one sample in its share of the
 * scratch; 0: the caller takes the chunked route. */
static int bwd_shares(al_node *nd, const al_exec *e, const conv_geom *g, const float *x, const float *y,
                      const float *dy, float *dx, int n, int wdone) {
    int nth = al_pool_size(e->pool);
    if (nth < 2 || n < nth || g->P < CONV_SHARE_MIN_P || !conv_shares()) return 0;
    share_run r = {nd, g, x, y, dy, dx, e->ws, n, wdone, (size_t)(g->CKK + g->F) * (size_t)g->P, 0};
    if ((size_t)n * r.per < CONV_PAR_MIN) return 0;
    if (nd->trainable && !wdone) r.part = (size_t)g->F * g->CKK + (nd->cfg.bias ? (size_t)g->F : 0);
    if (!r.part && !dx) return 1; /* nothing wanted */
    long least = n / nth;         /* the smallest share */
    if (r.part && (size_t)least * r.per < r.part + r.per) return 0;
    al_pool_run(e->pool, share_task, &r);
    if (r.part) al_pool_run(e->pool, share_sum_task, &r);
    return 1;
}

static void conv_backward(al_node *nd, const al_exec *e, const float *x, const float *y, const float *dy,
                          float *dx, int n) {
    if (nd->cfg.dil > 1) {
        conv_backward_dil(nd, e, x, y, dy, dx, n);
        return;
    }
    const conv_geom g = geom(nd);
    int wdone = 0;
    if (nd->trainable && is_c1k3(&g) && (nd->cfg.act == AL_ACT_NONE || nd->cfg.act == AL_ACT_RELU)) {
        c1k3_dw_args a = {nd, x, y, dy, n, g.H, g.W, g.F};
        if (al_pool_size(e->pool) > 1 && (size_t)n * (size_t)g.P * (size_t)g.F >= CONV_PAR_MIN)
            al_pool_run(e->pool, c1k3_dw_task, &a);
        else
            c1k3_dw_task(&a, 0, 1);
        wdone = 1;
        if (!dx) return;
    }
    if (bwd_shares(nd, e, &g, x, y, dy, dx, n, wdone)) return;
    long per = g.CKK * g.P; /* column floats of one sample */
    int chunk = per > 0 ? (int)AL_MAX(1, CONV_BWD_CHUNK_FLOATS / per) : n;
    if (chunk > n) chunk = n;
    size_t xs = (size_t)g.C * g.H * g.W, ys = (size_t)g.F * g.P;
    for (int s0 = 0; s0 < n; s0 += chunk) {
        int cn = AL_MIN(chunk, n - s0);
        bwd_chunk(nd, e->pool, &g, x + (size_t)s0 * xs, y + (size_t)s0 * ys, dy + (size_t)s0 * ys,
                  dx ? dx + (size_t)s0 * xs : NULL, cn, e->ws, wdone, nd->params[0].g,
                  nd->cfg.bias ? nd->params[1].g : NULL, 1.0f);
    }
}

static uint64_t conv_macs(const al_node *nd) {
    conv_geom g = geom(nd);
    return (uint64_t)g.F * (uint64_t)g.P * (uint64_t)g.CKK;
}

/* The forward's GEMMs by route (conv_forward): a sample at a time on the
 * dilated path and for large images, Winograd's 16 products over the
 * batch's tiles, else one over the batch's pixels; direct, the
 * one-channel 3x3 kernel and int8 pack no floats. The backward's: the
 * weight gradient (F x CKK over the pixels) and the column gradient (CKK
 * x pixels over F) a sample at a time on the dilated path, else over a
 * chunk or share of the batch's pixels (at most all of them), and a 1x1
 * conv's input gradient a sample at a time. */
static size_t conv_pack_floats(const al_node *nd, int n, int backward) {
    const conv_geom g = geom(nd);
    if (backward) {
        const long P = nd->cfg.dil > 1 ? g.P : (long)n * g.P;
        size_t f = AL_MAX(al_gemm_pack_floats_upto(g.F, g.CKK, P), al_gemm_pack_floats(g.CKK, P, g.F));
        return AL_MAX(f, al_gemm_pack_floats(g.C, g.P, g.F));
    }
    if (nd->q && !nd->trainable) return 0;
    if (nd->cfg.dil > 1) return al_gemm_pack_floats(g.F, g.P, g.CKK);
    if (nd->conv_algo == AL_CONV_DIRECT) return 0;
    if (nd->conv_algo == AL_CONV_WINOGRAD)
        return al_gemm_pack_floats(g.F, (long)n * (long)al_winograd_tiles(g.Ho, g.Wo), g.C);
    if (is_c1k3(&g)) return 0;
    return al_gemm_pack_floats(g.F, g.P >= CONV_FUSED_MIN ? g.P : (long)n * g.P, g.CKK);
}

const al_layer_vt al_conv2d_vt = {"conv", conv_shape, conv_init, conv_forward, conv_backward, conv_macs,
                                  conv_pack_floats};
