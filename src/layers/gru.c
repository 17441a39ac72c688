/* GRU layer (one layer, unidirectional), PyTorch's nn.GRU(batch_first=True).
 * Spec: "gru H" (cfg.units = H). Input per sample [T, E], output [T, H]: the
 * hidden state after every step. x is (n, T, E), y is (n, T, H), batch-major.
 *
 * Parameters, exactly PyTorch's names, shapes and gate order (r, z, n):
 *   weight_ih [3H, E], weight_hh [3H, H], bias_ih [3H], bias_hh [3H];
 * all four initialised U(-1/sqrt(H), 1/sqrt(H)) (PyTorch's default).
 *
 *   a = W_ih x_t + b_ih        g = W_hh h_{t-1} + b_hh       (3H each)
 *   r = sig(a_r + g_r)   z = sig(a_z + g_z)   n = tanh(a_n + r * g_n)
 *   h_t = (1 - z) * n + z * h_{t-1}
 * (ONNX's GRU with linear_before_reset = 1.)
 *
 * Forward: the input projection of all T steps is one GEMM into scratch;
 * each step computes h_{t-1} W_hh^T with one GEMM into a separate (n, 3H)
 * buffer (the n gate needs g_n on its own) and runs the fused gate math.
 * Sigmoid and tanh are the polynomial forms of kernels/kernels.h, as in
 * lstm.c.
 *
 * Initial state and truncated BPTT, as lstm.c: h0 = 0 unless
 * nd->carry_state is on; then h0 is read from nd->state rows [0, maxbatch*H)
 * (row b = sample b). The state buffer has lstm.c's size (2 * maxbatch * H,
 * so the trainer's snapshot treats both alike); the second half is unused
 * and stays zero. h_T is written back when carrying or training.
 *
 * aux, per sample, P = aux_per_sample = T*4H + H:
 *   [0,    T*3H)   gates after activation, step t at t*3H: r | z | n
 *   [T*3H, T*4H)   g_n = (W_hh h_{t-1} + b_hh)[n part], step t at T*3H + t*H
 *   [T*4H, P)      h0 used by this window
 * aux_fixed = 0.
 *
 * Scratch (e->ws), ws_per_sample = T*7H + H, offsets for batch n:
 *   [0, n*T*3H)          forward: input projections (n, T, 3H);
 *                        backward: da, the input-side pre-activation grads
 *   [n*T*3H, +n*T*3H)    forward: W_hh h_{t-1} of one step (n, 3H);
 *                        backward: dg, the hidden-side grads (n, T, 3H)
 *   [n*T*6H, +n*T*H)     backward: h_{t-1} for all steps (n, T, H)
 *   then n*H             backward: dh arriving through the recurrence
 */
#include "layers/layers.h"

#include <math.h>
#include <string.h>

#define GRU_PAR_CELLS 4096

typedef struct gru_dims {
    int T, E, H;
    size_t P;
} gru_dims;

static gru_dims gru_get_dims(const al_node *nd) {
    gru_dims d;
    d.T = nd->in.d[0];
    d.E = nd->in.d[1];
    d.H = nd->cfg.units;
    d.P = nd->aux_per_sample;
    return d;
}

static al_status gru_shape(al_node *nd, const al_shape *in) {
    int H = nd->cfg.units;
    if (H <= 0) return al_error(AL_EINVAL, "gru: units must be positive, got %d", H);
    if (in->ndim != 2)
        return al_error(AL_ESHAPE, "gru: input must be 2-D [T, E] (a sequence of vectors), got %d dims", in->ndim);
    int T = in->d[0], E = in->d[1];
    if (T <= 0 || E <= 0) return al_error(AL_ESHAPE, "gru: input [%d, %d] is empty", T, E);
    if (nd->cfg.rank) return al_error(AL_EINVAL, "gru: rank is not supported");
    if (H > (1 << 20) || (size_t)T * 7 * (size_t)H + (size_t)H > ((size_t)1 << 28))
        return al_error(AL_ESHAPE, "gru: %d units over %d steps is too large", H, T);
    nd->out.ndim = 2;
    nd->out.d[0] = T;
    nd->out.d[1] = H;
    nd->out.d[2] = 0;
    if (al_cfg_nout(&nd->cfg) > 1) { /* h_T: [H] */
        memset(&nd->xout[0], 0, sizeof nd->xout[0]);
        nd->xout[0].ndim = 1;
        nd->xout[0].d[0] = H;
    }
    int wih[2] = {3 * H, E}, whh[2] = {3 * H, H}, b[1] = {3 * H};
    al_node_param(nd, 0, "weight_ih", 2, wih, 0);
    al_node_param(nd, 1, "weight_hh", 2, whh, 0);
    al_node_param(nd, 2, "bias_ih", 1, b, 0);
    al_node_param(nd, 3, "bias_hh", 1, b, 0);
    nd->aux_per_sample = (size_t)T * 4 * (size_t)H + (size_t)H;
    nd->aux_fixed = 0;
    nd->ws_per_sample = (size_t)T * 7 * (size_t)H + (size_t)H;
    nd->ws_fixed = 0;
    return AL_OK;
}

static void gru_init(al_node *nd, al_rng *rng) {
    float bound = 1.0f / sqrtf((float)nd->cfg.units);
    for (int i = 0; i < nd->nparams; i++)
        for (size_t j = 0; j < nd->params[i].n; j++)
            nd->params[i].w[j] = (2.0f * al_rng_uniform(rng) - 1.0f) * bound;
}

/* ---- forward ---------------------------------------------------------------- */

typedef struct fwd_step {
    gru_dims d;
    int t, n;
    const float *pre;         /* (n, T, 3H) W_ih x, no bias */
    const float *gh;          /* (n, 3H) W_hh h_{t-1}, no bias */
    const float *b_ih, *b_hh; /* (3H) */
    float *aux;
    float *y; /* (n, T, H) */
} fwd_step;

static void cell_fwd(int H, const float *restrict a, const float *restrict g, const float *restrict bi,
                     const float *restrict bh, const float *restrict hprev, float *restrict gt,
                     float *restrict gn, float *restrict h) {
    for (int j = 0; j < H; j++) {
        float r = al_sigmoidf_poly(a[j] + bi[j] + g[j] + bh[j]);
        float z = al_sigmoidf_poly(a[H + j] + bi[H + j] + g[H + j] + bh[H + j]);
        float ghn = g[2 * H + j] + bh[2 * H + j];
        float nn = al_tanhf_poly(a[2 * H + j] + bi[2 * H + j] + r * ghn);
        gt[j] = r;
        gt[H + j] = z;
        gt[2 * H + j] = nn;
        gn[j] = ghn;
        h[j] = (1.0f - z) * nn + z * hprev[j];
    }
}

static void fwd_cells(const fwd_step *s, long lo, long hi) {
    const int H = s->d.H, T = s->d.T, t = s->t;
    const size_t G = 3 * (size_t)H;
    for (long b = lo; b < hi; b++) {
        float *ab = s->aux + (size_t)b * s->d.P;
        float *h = s->y + ((size_t)b * T + t) * H;
        const float *hprev = t == 0 ? ab + (size_t)T * 4 * H : h - H;
        cell_fwd(H, s->pre + ((size_t)b * T + t) * G, s->gh + (size_t)b * G, s->b_ih, s->b_hh, hprev,
                 ab + (size_t)t * G, ab + (size_t)T * G + (size_t)t * H, h);
    }
}

static void fwd_task(void *arg, int ith, int nth) {
    const fwd_step *s = arg;
    long lo, hi;
    al_split(s->n, ith, nth, &lo, &hi);
    fwd_cells(s, lo, hi);
}

static al_status gru_forward(al_node *nd, const al_exec *e, const float *x, float *y, int n) {
    const gru_dims d = gru_get_dims(nd);
    const int T = d.T, E = d.E, H = d.H, G = 3 * H;
    const float *w_ih = nd->params[0].w, *w_hh = nd->params[1].w;
    float *pre = e->ws;
    float *gh = pre + (size_t)n * T * G; /* (n, 3H) */
    const int carry = nd->carry_state && nd->state != NULL;

    al_sgemm(e->pool, 0, 1, n * T, G, E, 1.0f, x, E, w_ih, E, 0.0f, pre, G);

    for (int b = 0; b < n; b++) {
        float *h0 = nd->aux + (size_t)b * d.P + (size_t)T * 4 * H;
        if (carry)
            memcpy(h0, nd->state + (size_t)b * H, sizeof(float) * (size_t)H);
        else
            memset(h0, 0, sizeof(float) * (size_t)H);
    }

    fwd_step s = {d, 0, n, pre, gh, nd->params[2].w, nd->params[3].w, nd->aux, y};
    const int par = (long)n * H >= GRU_PAR_CELLS && al_pool_size(e->pool) > 1;
    for (int t = 0; t < T; t++) {
        if (t > 0)
            al_sgemm(e->pool, 0, 1, n, G, H, 1.0f, y + (size_t)(t - 1) * H, T * H, w_hh, H, 0.0f, gh, G);
        else if (carry)
            al_sgemm(e->pool, 0, 1, n, G, H, 1.0f, nd->aux + (size_t)T * 4 * H, (int)d.P, w_hh, H, 0.0f, gh, G);
        else
            memset(gh, 0, sizeof(float) * (size_t)n * G);
        s.t = t;
        if (par)
            al_pool_run(e->pool, fwd_task, &s);
        else
            fwd_cells(&s, 0, n);
    }

    if (nd->state && (carry || e->training))
        for (int b = 0; b < n; b++)
            memcpy(nd->state + (size_t)b * H, y + ((size_t)b * T + (size_t)(T - 1)) * H, sizeof(float) * (size_t)H);
    return AL_OK;
}

/* ---- backward ----------------------------------------------------------------- */

typedef struct bwd_step {
    gru_dims d;
    int t, n;
    const float *aux, *y, *dy;
    float *dhr; /* (n, H) in: dh from step t+1; out: dh_t z_t (the direct path to h_{t-1}) */
    float *da;  /* (n, T, 3H) */
    float *dg;  /* (n, T, 3H) */
} bwd_step;

static void cell_bwd(int H, const float *restrict gt, const float *restrict gn, const float *restrict hprev,
                     const float *restrict dyt, float *restrict dhr, float *restrict da, float *restrict dg) {
    for (int j = 0; j < H; j++) {
        float r = gt[j], z = gt[H + j], nn = gt[2 * H + j];
        float dh = dyt[j] + dhr[j];
        float dan = dh * (1.0f - z) * (1.0f - nn * nn);
        float daz = dh * (hprev[j] - nn) * z * (1.0f - z);
        float dar = dan * gn[j] * r * (1.0f - r);
        da[j] = dar;
        da[H + j] = daz;
        da[2 * H + j] = dan;
        dg[j] = dar;
        dg[H + j] = daz;
        dg[2 * H + j] = dan * r;
        dhr[j] = dh * z;
    }
}

static void bwd_cells(const bwd_step *s, long lo, long hi) {
    const int H = s->d.H, T = s->d.T, t = s->t;
    const size_t G = 3 * (size_t)H;
    for (long b = lo; b < hi; b++) {
        const float *ab = s->aux + (size_t)b * s->d.P;
        const float *hprev = t == 0 ? ab + (size_t)T * 4 * H : s->y + ((size_t)b * T + (size_t)(t - 1)) * H;
        size_t row = ((size_t)b * T + t) * G;
        cell_bwd(H, ab + (size_t)t * G, ab + (size_t)T * G + (size_t)t * H, hprev,
                 s->dy + ((size_t)b * T + t) * H, s->dhr + (size_t)b * H, s->da + row, s->dg + row);
    }
}

static void bwd_task(void *arg, int ith, int nth) {
    const bwd_step *s = arg;
    long lo, hi;
    al_split(s->n, ith, nth, &lo, &hi);
    bwd_cells(s, lo, hi);
}

/* dyh (n, H; NULL: zero): the gradient of the final h_T (gru H
 * outputs=2), which joins the last step's dh. */
static void gru_backward_ports(al_node *nd, const al_exec *e, const float *x, const float *y, const float *dy,
                               const float *dyh, float *dx, int n) {
    if (!nd->trainable && !dx) return;
    const gru_dims d = gru_get_dims(nd);
    const int T = d.T, E = d.E, H = d.H, G = 3 * H;
    const size_t nT = (size_t)n * T;
    const float *w_ih = nd->params[0].w, *w_hh = nd->params[1].w;
    float *da = e->ws;
    float *dg = da + nT * G;
    float *hprev = dg + nT * G;
    float *dhr = hprev + nT * H;
    if (dyh)
        memcpy(dhr, dyh, sizeof(float) * (size_t)n * H);
    else
        memset(dhr, 0, sizeof(float) * (size_t)n * H);

    bwd_step s = {d, 0, n, nd->aux, y, dy, dhr, da, dg};
    const int par = (long)n * H >= GRU_PAR_CELLS && al_pool_size(e->pool) > 1;
    for (int t = T - 1; t >= 0; t--) {
        s.t = t;
        if (par)
            al_pool_run(e->pool, bwd_task, &s);
        else
            bwd_cells(&s, 0, n);
        /* dh_{t-1} = dh_t z_t (already in dhr) + dg_t W_hh. None at t = 0. */
        if (t > 0) al_sgemm(e->pool, 0, 0, n, H, G, 1.0f, dg + (size_t)t * G, T * G, w_hh, H, 1.0f, dhr, H);
    }

    if (nd->trainable) {
        al_sgemm(e->pool, 1, 0, G, E, (int)nT, 1.0f, da, G, x, E, 1.0f, nd->params[0].g, E);
        for (int b = 0; b < n; b++) {
            float *hp = hprev + (size_t)b * T * H;
            memcpy(hp, nd->aux + (size_t)b * d.P + (size_t)T * 4 * H, sizeof(float) * (size_t)H);
            if (T > 1) memcpy(hp + H, y + (size_t)b * T * H, sizeof(float) * (size_t)(T - 1) * H);
        }
        al_sgemm(e->pool, 1, 0, G, H, (int)nT, 1.0f, dg, G, hprev, H, 1.0f, nd->params[1].g, H);
        float *db_ih = nd->params[2].g, *db_hh = nd->params[3].g;
        for (size_t r = 0; r < nT; r++)
            for (int k = 0; k < G; k++) {
                db_ih[k] += da[r * G + k];
                db_hh[k] += dg[r * G + k];
            }
    }
    if (dx) al_sgemm(e->pool, 0, 0, (int)nT, E, G, 1.0f, da, G, w_ih, E, 0.0f, dx, E);
}

static uint64_t gru_macs(const al_node *nd) {
    uint64_t T = (uint64_t)nd->in.d[0], E = (uint64_t)nd->in.d[1], H = (uint64_t)nd->cfg.units;
    return T * (E + H) * 3 * H;
}

static void gru_backward(al_node *nd, const al_exec *e, const float *x, const float *y, const float *dy,
                         float *dx, int n) {
    gru_backward_ports(nd, e, x, y, dy, NULL, dx, n);
}

/* gru H outputs=2: port 1 is h_T, the sequence's last row (n, H). */
static al_status gru_forward_multi(al_node *nd, const al_exec *e, const float *x, float *const *y, int n) {
    al_status st = gru_forward(nd, e, x, y[0], n);
    if (st) return st;
    const int T = nd->in.d[0], H = nd->cfg.units;
    for (int b = 0; b < n; b++)
        memcpy(y[1] + (size_t)b * H, y[0] + ((size_t)b * T + (size_t)(T - 1)) * H, sizeof(float) * (size_t)H);
    return AL_OK;
}

static void gru_backward_multi(al_node *nd, const al_exec *e, const float *x, const float *const *y,
                               const float *const *dy, float *dx, int n) {
    gru_backward_ports(nd, e, x, y[0], dy[0], dy[1], dx, n);
}

/* The forward's GEMMs: the input projection over all n*T rows, then a
 * step's recurrent product (n rows). The backward's: a step's recurrent
 * gradient, then over all n*T rows the weight gradients and the input
 * gradient. */
static size_t gru_pack_floats(const al_node *nd, int n, int backward) {
    const gru_dims d = gru_get_dims(nd);
    const long G = 3L * d.H, H = d.H, E = d.E, nT = (long)n * d.T;
    if (!backward) return AL_MAX(al_gemm_pack_floats(nT, G, E), al_gemm_pack_floats(n, G, H));
    size_t f = AL_MAX(al_gemm_pack_floats(n, H, G), al_gemm_pack_floats_upto(G, E, nT));
    return AL_MAX(f, AL_MAX(al_gemm_pack_floats_upto(G, H, nT), al_gemm_pack_floats(nT, E, G)));
}

const al_layer_vt al_gru_vt = {"gru", gru_shape, gru_init, gru_forward, gru_backward, gru_macs, gru_pack_floats};
const al_layer_multi_vt al_gru_mvt = {gru_forward_multi, gru_backward_multi};
