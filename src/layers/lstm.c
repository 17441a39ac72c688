/* LSTM layer (one layer, unidirectional), PyTorch's nn.LSTM(batch_first=True).
 * Spec: "lstm H" (cfg.units = H). Input per sample [T, E], output [T, H]: the
 * hidden state after every step. x is (n, T, E), y is (n, T, H), batch-major.
 *
 * Parameters, exactly PyTorch's names, shapes and gate order (i, f, g, o), so
 * weights interchange with nn.LSTM and golden values compare directly:
 *   weight_ih [4H, E], weight_hh [4H, H], bias_ih [4H], bias_hh [4H];
 * all four initialised U(-1/sqrt(H), 1/sqrt(H)) (PyTorch's default).
 *
 * Low rank ("lstm H rank=r", 1 <= r <= H; cfg.rank, 0 = full): W_hh = U V
 * is stored as its two factors instead of weight_hh,
 *   weight_ih [4H, E], weight_hh_u [4H, r], weight_hh_v [r, H], bias_ih, bias_hh,
 * and each step adds U (V h_{t-1}): one GEMM down to r, one up to 4H
 * (r*5H MACs instead of 4H*H). The SVD compression (src/cloud/compile/compress.h)
 * sets it. weight_hh_u is initialised U(-1/sqrt(r), 1/sqrt(r)) (its fan-in),
 * weight_hh_v like the rest. The full-rank path is untouched by it.
 *
 *   z_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh          (4H)
 *   i = sig(z[0:H])  f = sig(z[H:2H])  g = tanh(z[2H:3H])  o = sig(z[3H:4H])
 *   c_t = f * c_{t-1} + i * g        h_t = o * tanh(c_t)
 *
 * Forward: the input projection of all T steps is one GEMM ((n*T) x E times
 * E x 4H) into scratch; then each step adds h_{t-1} W_hh^T with one GEMM
 * and runs the fused element-wise gate math.
 *
 * Initial state and truncated BPTT. h0 = c0 = 0 unless nd->carry_state is on;
 * then h0/c0 are read from nd->state, laid out as
 *   state[0 .. maxbatch*H)            h, row b = sample b
 *   state[maxbatch*H .. 2*maxbatch*H) c, row b = sample b
 * (only the first n rows are used). The final h_T, c_T are written back to
 * nd->state when carry_state is on (streaming inference or TBPTT training)
 * or in a training pass (e->training); a plain inference pass without carry
 * leaves the state untouched, so an evaluation between training windows
 * does not disturb a carried stream. The carried h0/c0 are constants for the
 * gradient: backward never propagates into the previous window.
 *
 * aux layout (saved by every forward, training or not, because the gate
 * buffer is also the forward's working memory; so backward is valid after
 * any forward with the same n). Per sample, contiguous; sample b occupies
 * aux[b*P .. (b+1)*P) with P = aux_per_sample = T*6H + 2H:
 *   [0,      T*4H)   gates after activation, step-major: step t at t*4H,
 *                    within a step i | f | g | o (H each; i,f,o sigmoid, g tanh)
 *   [T*4H,   T*5H)   c_t,       step t at T*4H + t*H
 *   [T*5H,   T*6H)   tanh(c_t), step t at T*5H + t*H
 *   [T*6H,   T*6H+H) h0 used by this window (zeros when not carried)
 *   [T*6H+H, P)      c0 used by this window
 * aux_fixed = 0. h_t itself is not saved: it is the layer's output y.
 *
 * Scratch (e->ws), ws_per_sample = T*5H + 2H, offsets for batch n:
 *   [0, n*T*4H)      forward: pre-activations z (n, T, 4H);
 *                    backward: dz for all steps (n, T, 4H)
 *   [n*T*4H, +n*T*H) backward: h_{t-1} for all steps (n, T, H), for dW_hh
 *   then n*H         backward: dh arriving through the recurrence (n, H)
 *   then n*H         backward: dc_{t+1} * f_{t+1} (n, H)
 * and with rank r, ws_per_sample grows by 2*T*r:
 *   then n*T*r       forward: V h_{t-1} of one step (n, r);
 *                    backward: V h_{t-1} for all steps (n, T, r), for dU
 *   then n*T*r       backward: dz_t U for all steps (n, T, r), for dV and dh
 */
#include "layers/layers.h"

#include <math.h>
#include <string.h>

/* Element-wise work per step below this many cells stays on one thread: a
 * pool wake-up costs more than the math. */
#define LSTM_PAR_CELLS 4096

typedef struct lstm_dims {
    int T, E, H;
    int r;    /* rank of W_hh = U V; 0: full (weight_hh) */
    size_t P; /* aux floats per sample */
} lstm_dims;

static lstm_dims lstm_get_dims(const al_node *nd) {
    lstm_dims d;
    d.T = nd->in.d[0];
    d.E = nd->in.d[1];
    d.H = nd->cfg.units;
    d.r = nd->cfg.rank;
    d.P = nd->aux_per_sample;
    return d;
}

/* Parameter slots: weight_ih, then weight_hh or (weight_hh_u, weight_hh_v),
 * then the two biases. */
static int bias_slot(const al_node *nd) { return nd->cfg.rank ? 3 : 2; }

static al_status lstm_shape(al_node *nd, const al_shape *in) {
    int H = nd->cfg.units;
    if (H <= 0) return al_error(AL_EINVAL, "lstm: units must be positive, got %d", H);
    if (in->ndim != 2)
        return al_error(AL_ESHAPE, "lstm: input must be 2-D [T, E] (a sequence of vectors), got %d dims", in->ndim);
    int T = in->d[0], E = in->d[1], r = nd->cfg.rank;
    if (T <= 0 || E <= 0) return al_error(AL_ESHAPE, "lstm: input [%d, %d] is empty", T, E);
    if (r < 0 || r > H) return al_error(AL_EINVAL, "lstm: rank=%d must be in 0..%d (0: full W_hh)", r, H);
    /* keep 4H, n*T and every per-sample size far from int/size overflow */
    if (H > (1 << 20) || (size_t)T * 6 * (size_t)H + 2 * (size_t)H > ((size_t)1 << 28))
        return al_error(AL_ESHAPE, "lstm: %d units over %d steps is too large", H, T);
    nd->out.ndim = 2;
    nd->out.d[0] = T;
    nd->out.d[1] = H;
    nd->out.d[2] = 0;
    for (int p = 1; p < al_cfg_nout(&nd->cfg); p++) { /* h_T, c_T: [H] each */
        memset(&nd->xout[p - 1], 0, sizeof nd->xout[p - 1]);
        nd->xout[p - 1].ndim = 1;
        nd->xout[p - 1].d[0] = H;
    }
    int wih[2] = {4 * H, E}, whh[2] = {4 * H, H}, b[1] = {4 * H};
    al_node_param(nd, 0, "weight_ih", 2, wih, 0);
    if (r) {
        int u[2] = {4 * H, r}, v[2] = {r, H};
        al_node_param(nd, 1, "weight_hh_u", 2, u, 0);
        al_node_param(nd, 2, "weight_hh_v", 2, v, 0);
    } else {
        al_node_param(nd, 1, "weight_hh", 2, whh, 0);
    }
    al_node_param(nd, bias_slot(nd), "bias_ih", 1, b, 0);
    al_node_param(nd, bias_slot(nd) + 1, "bias_hh", 1, b, 0);
    nd->aux_per_sample = (size_t)T * 6 * (size_t)H + 2 * (size_t)H;
    nd->aux_fixed = 0;
    nd->ws_per_sample = (size_t)T * 5 * (size_t)H + 2 * (size_t)H + 2 * (size_t)T * (size_t)r;
    nd->ws_fixed = 0;
    return AL_OK;
}

static void lstm_init(al_node *nd, al_rng *rng) {
    float bound = 1.0f / sqrtf((float)nd->cfg.units);
    for (int i = 0; i < nd->nparams; i++) {
        float bi = nd->cfg.rank && i == 1 ? 1.0f / sqrtf((float)nd->cfg.rank) : bound;
        for (size_t j = 0; j < nd->params[i].n; j++)
            nd->params[i].w[j] = (2.0f * al_rng_uniform(rng) - 1.0f) * bi;
    }
}

/* The gate nonlinearities are the polynomial forms of kernels/kernels.h, so
 * a step's gate loop vectorizes (libm's expf/tanhf calls, five per cell,
 * were most of the forward's time). */
static inline float sigm(float z) { return al_sigmoidf_poly(z); }

/* ---- forward ---------------------------------------------------------------- */

typedef struct fwd_step {
    lstm_dims d;
    int t, n;
    const float *pre;               /* (n, T, 4H) pre-activations incl. W_hh h_{t-1} */
    const float *b_ih, *b_hh;       /* (4H) */
    float *aux;                     /* per-sample layout, see the top of the file */
    float *y;                       /* (n, T, H) */
} fwd_step;

/* One cell row of H units: z (4H pre-activations without bias), biases
 * (4H each), c_{t-1} -> gates (4H), c_t, tanh c_t, h_t. Restrict
 * parameters: the compiler vectorizes the loop over j only when it knows no
 * store aliases a load (more than 10 run-time alias checks and it gives up). */
static void cell_fwd(int H, const float *restrict z, const float *restrict bi, const float *restrict bh,
                     const float *restrict cprev, float *restrict gt, float *restrict c, float *restrict tc,
                     float *restrict h) {
    for (int j = 0; j < H; j++) {
        float gi = sigm(z[j] + bi[j] + bh[j]);
        float gf = sigm(z[H + j] + bi[H + j] + bh[H + j]);
        float gg = al_tanhf_poly(z[2 * H + j] + bi[2 * H + j] + bh[2 * H + j]);
        float go = sigm(z[3 * H + j] + bi[3 * H + j] + bh[3 * H + j]);
        float cj = gf * cprev[j] + gi * gg;
        float tj = al_tanhf_poly(cj);
        gt[j] = gi;
        gt[H + j] = gf;
        gt[2 * H + j] = gg;
        gt[3 * H + j] = go;
        c[j] = cj;
        tc[j] = tj;
        h[j] = go * tj;
    }
}

/* Gate math of step t for samples [lo, hi). */
static void fwd_cells(const fwd_step *a, long lo, long hi) {
    const int H = a->d.H, T = a->d.T, t = a->t;
    const size_t G = 4 * (size_t)H;
    for (long b = lo; b < hi; b++) {
        const float *z = a->pre + ((size_t)b * T + t) * G;
        float *ab = a->aux + (size_t)b * a->d.P;
        float *c = ab + (size_t)T * G + (size_t)t * H;
        const float *cprev = t == 0 ? ab + (size_t)T * 6 * H + H : c - H;
        cell_fwd(H, z, a->b_ih, a->b_hh, cprev, ab + (size_t)t * G, c, ab + (size_t)T * 5 * H + (size_t)t * H,
                 a->y + ((size_t)b * T + t) * H);
    }
}

static void fwd_task(void *arg, int ith, int nth) {
    const fwd_step *a = arg;
    long lo, hi;
    al_split(a->n, ith, nth, &lo, &hi);
    fwd_cells(a, lo, hi);
}

static al_status lstm_forward(al_node *nd, const al_exec *e, const float *x, float *y, int n) {
    const lstm_dims d = lstm_get_dims(nd);
    const int T = d.T, E = d.E, H = d.H, G = 4 * H;
    const float *w_ih = nd->params[0].w, *w_hh = nd->params[1].w;
    const float *w_v = d.r ? nd->params[2].w : NULL; /* with rank: w_hh is U [4H, r] */
    float *pre = e->ws;
    float *vh = pre + (size_t)n * ((size_t)T * 5 * H + 2 * (size_t)H); /* (n, r) */
    const int carry = nd->carry_state && nd->state != NULL;
    const size_t mb = (size_t)nd->maxbatch;

    /* z = x W_ih^T for all n*T rows at once: (nT x E)(E x 4H) */
    al_sgemm(e->pool, 0, 1, n * T, G, E, 1.0f, x, E, w_ih, E, 0.0f, pre, G);

    /* h0/c0 of this window into aux (zeros or the carried state) */
    for (int b = 0; b < n; b++) {
        float *h0 = nd->aux + (size_t)b * d.P + (size_t)T * 6 * H;
        if (carry) {
            memcpy(h0, nd->state + (size_t)b * H, sizeof(float) * (size_t)H);
            memcpy(h0 + H, nd->state + (mb + (size_t)b) * H, sizeof(float) * (size_t)H);
        } else {
            memset(h0, 0, sizeof(float) * 2 * (size_t)H);
        }
    }

    fwd_step a = {d, 0, n, pre, nd->params[bias_slot(nd)].w, nd->params[bias_slot(nd) + 1].w, nd->aux, y};
    const int par = (long)n * H >= LSTM_PAR_CELLS && al_pool_size(e->pool) > 1;
    for (int t = 0; t < T; t++) {
        /* z_t += h_{t-1} W_hh^T: (n x H)(H x 4H); rows of z_t are T*4H apart.
         * h_{t-1} is y's step t-1 (rows T*H apart), or h0 in aux (rows P
         * apart); a zero h0 contributes nothing and is skipped. */
        if (d.r) {
            /* low rank: vh = h_{t-1} V^T (n x r), then z_t += vh U^T (n x 4H) */
            if (t > 0 || carry) {
                const float *hp = t > 0 ? y + (size_t)(t - 1) * H : nd->aux + (size_t)T * 6 * H;
                al_sgemm(e->pool, 0, 1, n, d.r, H, 1.0f, hp, t > 0 ? T * H : (int)d.P, w_v, H, 0.0f, vh, d.r);
                al_sgemm(e->pool, 0, 1, n, G, d.r, 1.0f, vh, d.r, w_hh, d.r, 1.0f, pre + (size_t)t * G, T * G);
            }
        } else if (t > 0)
            al_sgemm(e->pool, 0, 1, n, G, H, 1.0f, y + (size_t)(t - 1) * H, T * H, w_hh, H, 1.0f,
                     pre + (size_t)t * G, T * G);
        else if (carry)
            al_sgemm(e->pool, 0, 1, n, G, H, 1.0f, nd->aux + (size_t)T * 6 * H, (int)d.P, w_hh, H, 1.0f, pre,
                     T * G);
        a.t = t;
        if (par)
            al_pool_run(e->pool, fwd_task, &a);
        else
            fwd_cells(&a, 0, n);
    }

    if (nd->state && (carry || e->training)) {
        for (int b = 0; b < n; b++) {
            const float *ab = nd->aux + (size_t)b * d.P;
            memcpy(nd->state + (size_t)b * H, y + ((size_t)b * T + (size_t)(T - 1)) * H, sizeof(float) * (size_t)H);
            memcpy(nd->state + (mb + (size_t)b) * H, ab + (size_t)T * 4 * H + (size_t)(T - 1) * H,
                   sizeof(float) * (size_t)H);
        }
    }
    return AL_OK;
}

/* ---- backward ----------------------------------------------------------------- */

typedef struct bwd_step {
    lstm_dims d;
    int t, n;
    const float *aux, *dy; /* dy (n, T, H) */
    const float *dhrec;    /* (n, H) dh from step t+1 through W_hh; NULL at t = T-1 */
    float *dcn;            /* (n, H) in: dc_{t+1} f_{t+1}; out: dc_t f_t */
    float *dz;             /* (n, T, 4H) */
} bwd_step;

/* One cell row backward: gates gt (4H), tanh c_t, c_{t-1}, dy_t, the
 * recurrent dh (scaled by dhs: 0 at the last step, where dhr is unused),
 * dcn (in: dc_{t+1} f_{t+1}, out: dc_t f_t) -> dz (4H). */
static void cell_bwd(int H, const float *restrict gt, const float *restrict tc, const float *restrict cprev,
                     const float *restrict dyt, const float *restrict dhr, float dhs, float *restrict dcn,
                     float *restrict dz) {
    for (int j = 0; j < H; j++) {
        float gi = gt[j], gf = gt[H + j], gg = gt[2 * H + j], go = gt[3 * H + j], tj = tc[j];
        float dh = dyt[j] + dhs * dhr[j];
        float dc = dh * go * (1.0f - tj * tj) + dcn[j];
        dz[j] = dc * gg * gi * (1.0f - gi);
        dz[H + j] = dc * cprev[j] * gf * (1.0f - gf);
        dz[2 * H + j] = dc * gi * (1.0f - gg * gg);
        dz[3 * H + j] = dh * tj * go * (1.0f - go);
        dcn[j] = dc * gf;
    }
}

static void bwd_cells(const bwd_step *a, long lo, long hi) {
    const int H = a->d.H, T = a->d.T, t = a->t;
    const size_t G = 4 * (size_t)H;
    for (long b = lo; b < hi; b++) {
        const float *ab = a->aux + (size_t)b * a->d.P;
        const float *cprev = t == 0 ? ab + (size_t)T * 6 * H + H : ab + (size_t)T * G + (size_t)(t - 1) * H;
        const float *dyt = a->dy + ((size_t)b * T + t) * H;
        /* no recurrent gradient at the last step: dy alone (dhr unused, x 0) */
        const float *dhr = a->dhrec ? a->dhrec + (size_t)b * H : dyt;
        cell_bwd(H, ab + (size_t)t * G, ab + (size_t)T * 5 * H + (size_t)t * H, cprev, dyt, dhr,
                 a->dhrec ? 1.0f : 0.0f, a->dcn + (size_t)b * H, a->dz + ((size_t)b * T + t) * G);
    }
}

static void bwd_task(void *arg, int ith, int nth) {
    const bwd_step *a = arg;
    long lo, hi;
    al_split(a->n, ith, nth, &lo, &hi);
    bwd_cells(a, lo, hi);
}

/* dyh, dyc (n, H; NULL: zero): the gradients of the final h_T and c_T
 * (the ports of lstm H outputs=3): they join the last step's dh and dc. */
static void lstm_backward_ports(al_node *nd, const al_exec *e, const float *x, const float *y, const float *dy,
                                const float *dyh, const float *dyc, float *dx, int n) {
    if (!nd->trainable && !dx) return;
    const lstm_dims d = lstm_get_dims(nd);
    const int T = d.T, E = d.E, H = d.H, G = 4 * H;
    const size_t nT = (size_t)n * T;
    const float *w_ih = nd->params[0].w, *w_hh = nd->params[1].w;
    const float *w_v = d.r ? nd->params[2].w : NULL; /* with rank: w_hh is U [4H, r] */
    const int R = d.r;
    float *dz = e->ws;
    float *hprev = dz + nT * G;
    float *dhrec = hprev + nT * H;
    float *dcn = dhrec + (size_t)n * H;
    float *vh = dcn + (size_t)n * H; /* (n, T, r) */
    float *dvh = vh + nT * (size_t)R; /* (n, T, r) */
    if (dyc)
        memcpy(dcn, dyc, sizeof(float) * (size_t)n * H);
    else
        memset(dcn, 0, sizeof(float) * (size_t)n * H);

    bwd_step a = {d, 0, n, nd->aux, dy, NULL, dcn, dz};
    const int par = (long)n * H >= LSTM_PAR_CELLS && al_pool_size(e->pool) > 1;
    for (int t = T - 1; t >= 0; t--) {
        a.t = t;
        a.dhrec = t == T - 1 ? dyh : dhrec; /* the last step: dh_T from the h_T port, if any */
        if (par)
            al_pool_run(e->pool, bwd_task, &a);
        else
            bwd_cells(&a, 0, n);
        /* dh_{t-1} through the recurrence: dz_t (n x 4H, rows T*4H apart) W_hh
         * (4H x H). None at t = 0: the window's h0 is a constant. */
        if (R) {
            /* dvh_t = dz_t U (n x r); dh_{t-1} = dvh_t V (n x H). dvh of
             * every step is kept for dV; at t = 0 only then. */
            if (t > 0 || nd->trainable)
                al_sgemm(e->pool, 0, 0, n, R, G, 1.0f, dz + (size_t)t * G, T * G, w_hh, R, 0.0f, dvh + (size_t)t * R,
                         T * R);
            if (t > 0) al_sgemm(e->pool, 0, 0, n, H, R, 1.0f, dvh + (size_t)t * R, T * R, w_v, H, 0.0f, dhrec, H);
        } else if (t > 0)
            al_sgemm(e->pool, 0, 0, n, H, G, 1.0f, dz + (size_t)t * G, T * G, w_hh, H, 0.0f, dhrec, H);
    }

    if (nd->trainable) {
        /* dW_ih += dz^T x: (4H x nT)(nT x E) */
        al_sgemm(e->pool, 1, 0, G, E, (int)nT, 1.0f, dz, G, x, E, 1.0f, nd->params[0].g, E);
        /* dW_hh += dz^T hprev: (4H x nT)(nT x H), hprev row (b,t) = h_{t-1} */
        for (int b = 0; b < n; b++) {
            float *hp = hprev + (size_t)b * T * H;
            memcpy(hp, nd->aux + (size_t)b * d.P + (size_t)T * 6 * H, sizeof(float) * (size_t)H);
            if (T > 1) memcpy(hp + H, y + (size_t)b * T * H, sizeof(float) * (size_t)(T - 1) * H);
        }
        if (R) {
            /* vh = hprev V^T (nT x r); dU += dz^T vh (4H x r); dV += dvh^T hprev (r x H) */
            al_sgemm(e->pool, 0, 1, (int)nT, R, H, 1.0f, hprev, H, w_v, H, 0.0f, vh, R);
            al_sgemm(e->pool, 1, 0, G, R, (int)nT, 1.0f, dz, G, vh, R, 1.0f, nd->params[1].g, R);
            al_sgemm(e->pool, 1, 0, R, H, (int)nT, 1.0f, dvh, R, hprev, H, 1.0f, nd->params[2].g, H);
        } else {
            al_sgemm(e->pool, 1, 0, G, H, (int)nT, 1.0f, dz, G, hprev, H, 1.0f, nd->params[1].g, H);
        }
        /* both biases receive the column sums of dz */
        float *db_ih = nd->params[bias_slot(nd)].g, *db_hh = nd->params[bias_slot(nd) + 1].g;
        for (size_t r = 0; r < nT; r++)
            for (int k = 0; k < G; k++) {
                db_ih[k] += dz[r * G + k];
                db_hh[k] += dz[r * G + k];
            }
    }
    /* dx = dz W_ih: (nT x 4H)(4H x E) */
    if (dx) al_sgemm(e->pool, 0, 0, (int)nT, E, G, 1.0f, dz, G, w_ih, E, 0.0f, dx, E);
}

static void lstm_backward(al_node *nd, const al_exec *e, const float *x, const float *y, const float *dy,
                          float *dx, int n) {
    lstm_backward_ports(nd, e, x, y, dy, NULL, NULL, dx, n);
}

/* lstm H outputs=2|3: port 1 is h_T (the sequence's last row), port 2 c_T
 * (n, H each). */
static al_status lstm_forward_multi(al_node *nd, const al_exec *e, const float *x, float *const *y, int n) {
    al_status st = lstm_forward(nd, e, x, y[0], n);
    if (st) return st;
    const lstm_dims d = lstm_get_dims(nd);
    const int T = d.T, H = d.H, no = al_cfg_nout(&nd->cfg);
    for (int b = 0; b < n; b++) {
        memcpy(y[1] + (size_t)b * H, y[0] + ((size_t)b * T + (size_t)(T - 1)) * H, sizeof(float) * (size_t)H);
        if (no > 2)
            memcpy(y[2] + (size_t)b * H, nd->aux + (size_t)b * d.P + (size_t)T * 4 * H + (size_t)(T - 1) * H,
                   sizeof(float) * (size_t)H);
    }
    return AL_OK;
}

static void lstm_backward_multi(al_node *nd, const al_exec *e, const float *x, const float *const *y,
                                const float *const *dy, float *dx, int n) {
    lstm_backward_ports(nd, e, x, y[0], dy[0], dy[1], al_cfg_nout(&nd->cfg) > 2 ? dy[2] : NULL, dx, n);
}

static uint64_t lstm_macs(const al_node *nd) {
    uint64_t T = (uint64_t)nd->in.d[0], E = (uint64_t)nd->in.d[1], H = (uint64_t)nd->cfg.units;
    uint64_t r = (uint64_t)nd->cfg.rank;
    if (r) return T * (E * 4 * H + r * 5 * H);
    return T * (E + H) * 4 * H;
}

/* The forward's GEMMs: the input projection over all n*T rows, then a
 * step's recurrent product (n rows; with rank, through V then U). The
 * backward's: a step's recurrent gradient (n rows), then over all n*T
 * rows the weight gradients and the input gradient. */
static size_t lstm_pack_floats(const al_node *nd, int n, int backward) {
    const lstm_dims d = lstm_get_dims(nd);
    const long G = 4L * d.H, H = d.H, E = d.E, R = d.r, nT = (long)n * d.T;
    size_t f;
    if (!backward) {
        f = AL_MAX(al_gemm_pack_floats(nT, G, E), al_gemm_pack_floats(n, G, H));
        if (R) f = AL_MAX(f, AL_MAX(al_gemm_pack_floats(n, R, H), al_gemm_pack_floats(n, G, R)));
        return f;
    }
    f = AL_MAX(al_gemm_pack_floats(n, H, G), al_gemm_pack_floats_upto(G, E, nT));
    f = AL_MAX(f, AL_MAX(al_gemm_pack_floats_upto(G, H, nT), al_gemm_pack_floats(nT, E, G)));
    if (R) {
        f = AL_MAX(f, AL_MAX(al_gemm_pack_floats(n, R, G), al_gemm_pack_floats(n, H, R)));
        f = AL_MAX(f, AL_MAX(al_gemm_pack_floats(nT, R, H), al_gemm_pack_floats_upto(G, R, nT)));
        f = AL_MAX(f, al_gemm_pack_floats_upto(R, H, nT));
    }
    return f;
}

const al_layer_vt al_lstm_vt = {"lstm", lstm_shape, lstm_init, lstm_forward, lstm_backward, lstm_macs,
                                lstm_pack_floats};
const al_layer_multi_vt al_lstm_mvt = {lstm_forward_multi, lstm_backward_multi};
