/* LSTM layer: gradient checks, a naive per-step reference (forward and
 * backward, in double), carried state across windows (truncated BPTT), a
 * frozen layer, threads, shape errors; the low-rank W_hh (rank=r): gradient
 * checks (also from a carried state), equivalence with the full layer for
 * W_hh = U V, names, MACs and the model file. */
#include "al_test.h"

/* ---- naive reference: one sample, one step at a time, in double -------------
 * w_ih [4H,E], w_hh [4H,H], biases [4H]; x (T,E); gate order i, f, g, o.
 * Saves gates (T,4H) after activation and c (T,H) for the backward. */
typedef struct ref_lstm {
    int T, E, H;
    const float *w_ih, *w_hh, *b_ih, *b_hh;
} ref_lstm;

static double ref_sig(double z) { return 1.0 / (1.0 + exp(-z)); }

static void ref_forward(const ref_lstm *r, const float *x, const double *h0, const double *c0, double *y,
                        double *c, double *gates) {
    int T = r->T, E = r->E, H = r->H;
    for (int t = 0; t < T; t++) {
        const double *hp = t ? y + (size_t)(t - 1) * H : h0;
        const double *cp = t ? c + (size_t)(t - 1) * H : c0;
        double *gt = gates + (size_t)t * 4 * H;
        for (int k = 0; k < 4 * H; k++) {
            double z = (double)r->b_ih[k] + r->b_hh[k];
            for (int j = 0; j < E; j++) z += (double)r->w_ih[k * E + j] * x[t * E + j];
            for (int j = 0; j < H; j++) z += (double)r->w_hh[k * H + j] * hp[j];
            gt[k] = (k >= 2 * H && k < 3 * H) ? tanh(z) : ref_sig(z);
        }
        for (int j = 0; j < H; j++) {
            c[t * H + j] = gt[H + j] * cp[j] + gt[j] * gt[2 * H + j];
            y[t * H + j] = gt[3 * H + j] * tanh(c[t * H + j]);
        }
    }
}

/* Accumulates d(sum dy*y)/d(params) into g_* and writes dx (T,E); h0, c0 are
 * constants. Scratch: dz (4H), dh and dc (H each). */
static void ref_backward(const ref_lstm *r, const float *x, const double *h0, const double *c0, const double *y,
                         const double *c, const double *gates, const float *dy, double *g_ih, double *g_hh,
                         double *g_bih, double *g_bhh, double *dx) {
    int T = r->T, E = r->E, H = r->H;
    double *dz = calloc((size_t)4 * H, sizeof(double));
    double *dhn = calloc((size_t)H, sizeof(double)), *dcn = calloc((size_t)H, sizeof(double));
    for (int t = T - 1; t >= 0; t--) {
        const double *gt = gates + (size_t)t * 4 * H;
        const double *hp = t ? y + (size_t)(t - 1) * H : h0;
        const double *cp = t ? c + (size_t)(t - 1) * H : c0;
        for (int j = 0; j < H; j++) {
            double gi = gt[j], gf = gt[H + j], gg = gt[2 * H + j], go = gt[3 * H + j];
            double tc = tanh(c[t * H + j]);
            double dh = dy[t * H + j] + dhn[j];
            double dc = dh * go * (1 - tc * tc) + dcn[j];
            dz[j] = dc * gg * gi * (1 - gi);
            dz[H + j] = dc * cp[j] * gf * (1 - gf);
            dz[2 * H + j] = dc * gi * (1 - gg * gg);
            dz[3 * H + j] = dh * tc * go * (1 - go);
            dcn[j] = dc * gf;
        }
        for (int k = 0; k < 4 * H; k++) {
            g_bih[k] += dz[k];
            g_bhh[k] += dz[k];
            for (int j = 0; j < E; j++) g_ih[k * E + j] += dz[k] * x[t * E + j];
            for (int j = 0; j < H; j++) g_hh[k * H + j] += dz[k] * hp[j];
        }
        for (int j = 0; j < E; j++) {
            double s = 0;
            for (int k = 0; k < 4 * H; k++) s += dz[k] * r->w_ih[k * E + j];
            dx[t * E + j] = s;
        }
        for (int j = 0; j < H; j++) {
            double s = 0;
            for (int k = 0; k < 4 * H; k++) s += dz[k] * r->w_hh[k * H + j];
            dhn[j] = s;
        }
    }
    free(dz);
    free(dhn);
    free(dcn);
}

static ref_lstm ref_of(const al_node *nd) {
    ref_lstm r = {nd->in.d[0], nd->in.d[1], nd->cfg.units, nd->params[0].w, nd->params[1].w, nd->params[2].w,
                  nd->params[3].w};
    return r;
}

static void fill_normal(float *v, size_t n, uint64_t seed) {
    al_rng g;
    al_rng_seed(&g, seed, 3);
    for (size_t i = 0; i < n; i++) v[i] = al_rng_normal(&g);
}

static double max_abs_diff_fd(const float *a, const double *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - b[i]));
    return m;
}

/* The library forward on a batch equals the naive reference per sample; the
 * backward (weights, biases, input) equals the naive backward. h0/c0 of each
 * sample come from `h0c0` ((n,H) h then (n,H) c) or are zero when NULL. */
static void check_against_ref(al_model *m, const float *x, int n, const float *y, const float *dy,
                              const double *h0c0, const char *what) {
    const al_node *nd = &m->nodes[0];
    ref_lstm r = ref_of(nd);
    int T = r.T, E = r.E, H = r.H;
    double *ry = calloc((size_t)T * H, sizeof(double)), *rc = calloc((size_t)T * H, sizeof(double));
    double *rg = calloc((size_t)T * 4 * H, sizeof(double)), *zero = calloc((size_t)H, sizeof(double));
    double *g_ih = calloc(nd->params[0].n, sizeof(double)), *g_hh = calloc(nd->params[1].n, sizeof(double));
    double *g_bih = calloc((size_t)4 * H, sizeof(double)), *g_bhh = calloc((size_t)4 * H, sizeof(double));
    double *rdx = calloc((size_t)T * E, sizeof(double));
    double fwd = 0, dxd = 0;
    for (int b = 0; b < n; b++) {
        const double *h0 = h0c0 ? h0c0 + (size_t)b * H : zero;
        const double *c0 = h0c0 ? h0c0 + (size_t)(n + b) * H : zero;
        const float *xb = x + (size_t)b * T * E;
        ref_forward(&r, xb, h0, c0, ry, rc, rg);
        fwd = fmax(fwd, max_abs_diff_fd(y + (size_t)b * T * H, ry, (size_t)T * H));
        if (dy) {
            ref_backward(&r, xb, h0, c0, ry, rc, rg, dy + (size_t)b * T * H, g_ih, g_hh, g_bih, g_bhh, rdx);
            dxd = fmax(dxd, max_abs_diff_fd(m->dinput + (size_t)b * T * E, rdx, (size_t)T * E));
        }
    }
    if (fwd > 1e-5) fprintf(stderr, "%s: forward differs from the reference by %g\n", what, fwd);
    CHECK(fwd <= 1e-5);
    if (dy) {
        double gd = 0;
        gd = fmax(gd, max_abs_diff_fd(nd->params[0].g, g_ih, nd->params[0].n));
        gd = fmax(gd, max_abs_diff_fd(nd->params[1].g, g_hh, nd->params[1].n));
        gd = fmax(gd, max_abs_diff_fd(nd->params[2].g, g_bih, nd->params[2].n));
        gd = fmax(gd, max_abs_diff_fd(nd->params[3].g, g_bhh, nd->params[3].n));
        if (gd > 1e-4 || dxd > 1e-4) fprintf(stderr, "%s: grads differ by %g, dx by %g\n", what, gd, dxd);
        CHECK(gd <= 1e-4);
        CHECK(dxd <= 1e-4);
    }
    free(ry);
    free(rc);
    free(rg);
    free(zero);
    free(g_ih);
    free(g_hh);
    free(g_bih);
    free(g_bhh);
    free(rdx);
}

/* Forward and backward of a bare "input TxE; lstm H" against the reference,
 * with a batch smaller than the plan. */
static void test_reference(void) {
    al_model *m;
    REQUIRE_OK(al_model_from_spec("input 5x3; lstm 4", 11, &m));
    m->want_input_grad = 1;
    REQUIRE_OK(al_model_plan(m, 4));
    int n = 3;
    float x[3 * 5 * 3], dy[3 * 5 * 4];
    fill_normal(x, sizeof x / sizeof x[0], 1);
    fill_normal(dy, sizeof dy / sizeof dy[0], 2);
    const float *y;
    al_model_zero_grad(m);
    REQUIRE_OK(al_model_forward_from(m, NULL, 0, x, n, 1, &y));
    REQUIRE_OK(al_model_backward(m, NULL, x, dy, n));
    check_against_ref(m, x, n, y, dy, NULL, "reference");
    /* inference gives the same outputs */
    float y1[3 * 5 * 4];
    memcpy(y1, y, sizeof y1);
    REQUIRE_OK(al_model_forward_from(m, NULL, 0, x, n, 0, &y));
    CHECK(memcmp(y1, y, sizeof y1) == 0);
    al_model_free(m);
}

/* Two consecutive windows of T with carried state equal one window of 2T;
 * the second window's gradients treat the carried h0/c0 as constants. */
static void test_carry(void) {
    enum { T = 4, E = 3, H = 5, N = 3, MB = 4 };
    al_model *lg, *sh;
    REQUIRE_OK(al_model_from_spec("input 8x3; lstm 5", 5, &lg));
    REQUIRE_OK(al_model_from_spec("input 4x3; lstm 5", 6, &sh));
    for (int p = 0; p < 4; p++) {
        CHECK(lg->nodes[0].params[p].n == sh->nodes[0].params[p].n);
        memcpy(sh->nodes[0].params[p].w, lg->nodes[0].params[p].w, sizeof(float) * lg->nodes[0].params[p].n);
    }
    REQUIRE_OK(al_model_plan(lg, N));
    sh->want_input_grad = 1;
    REQUIRE_OK(al_model_plan(sh, MB)); /* state rows are maxbatch apart; use fewer */
    float xl[N * 2 * T * E], w1[N * T * E], w2[N * T * E];
    fill_normal(xl, sizeof xl / sizeof xl[0], 9);
    for (int b = 0; b < N; b++) {
        memcpy(w1 + b * T * E, xl + b * 2 * T * E, sizeof(float) * T * E);
        memcpy(w2 + b * T * E, xl + b * 2 * T * E + T * E, sizeof(float) * T * E);
    }
    const float *yl, *ys;
    REQUIRE_OK(al_model_forward_from(lg, NULL, 0, xl, N, 0, &yl));

    al_model_reset_state(sh);
    al_model_set_carry_state(sh, 1);
    REQUIRE_OK(al_model_forward_from(sh, NULL, 0, w1, N, 1, &ys));
    double d1 = 0;
    for (int b = 0; b < N; b++)
        for (int i = 0; i < T * H; i++) d1 = fmax(d1, fabs(ys[b * T * H + i] - yl[b * 2 * T * H + i]));
    CHECK(d1 <= 1e-6);
    /* the state now holds h_T, c_T of window 1 */
    double h0c0[2 * N * H];
    const float *st = sh->nodes[0].state;
    for (int b = 0; b < N; b++)
        for (int j = 0; j < H; j++) {
            h0c0[b * H + j] = st[b * H + j];
            h0c0[(N + b) * H + j] = st[(MB + b) * H + j];
        }
    CHECK(fabs(h0c0[H + 2] - ys[(1 * T + T - 1) * H + 2]) == 0.0);
    double cn = 0;
    for (int i = 0; i < N * H; i++) cn += fabs(h0c0[N * H + i]);
    CHECK(cn > 0.0);

    float dy[N * T * H];
    fill_normal(dy, sizeof dy / sizeof dy[0], 10);
    al_model_zero_grad(sh);
    REQUIRE_OK(al_model_forward_from(sh, NULL, 0, w2, N, 1, &ys));
    double d2 = 0;
    for (int b = 0; b < N; b++)
        for (int i = 0; i < T * H; i++)
            d2 = fmax(d2, fabs(ys[b * T * H + i] - yl[b * 2 * T * H + T * H + i]));
    CHECK(d2 <= 1e-6);
    REQUIRE_OK(al_model_backward(sh, NULL, w2, dy, N));
    check_against_ref(sh, w2, N, ys, dy, h0c0, "carry window 2");

    /* without carry, window 2 starts from zeros and differs */
    float y2[N * T * H];
    memcpy(y2, ys, sizeof y2);
    al_model_set_carry_state(sh, 0);
    float saved[2 * MB * H];
    memcpy(saved, sh->nodes[0].state, sizeof saved);
    REQUIRE_OK(al_model_forward_from(sh, NULL, 0, w2, N, 0, &ys));
    CHECK(memcmp(y2, ys, sizeof y2) != 0);
    check_against_ref(sh, w2, N, ys, NULL, NULL, "no carry");
    /* an inference pass without carry leaves the carried state alone */
    CHECK(memcmp(saved, sh->nodes[0].state, sizeof saved) == 0);
    al_model_reset_state(sh);
    double s = 0;
    for (int i = 0; i < 2 * MB * H; i++) s += fabs(sh->nodes[0].state[i]);
    CHECK(s == 0.0);
    al_model_free(lg);
    al_model_free(sh);
}

/* A frozen LSTM: no weight gradient, but the input gradient is the same as
 * when it trains. */
static void test_frozen(void) {
    const char *spec = "input 4x3; lstm 5; dense 2";
    enum { N = 2 };
    float x[N * 4 * 3], dl[N * 4 * 2], dx_train[N * 4 * 3];
    fill_normal(x, sizeof x / sizeof x[0], 21);
    fill_normal(dl, sizeof dl / sizeof dl[0], 22);
    const float *y;
    for (int frozen = 0; frozen < 2; frozen++) {
        al_model *m;
        REQUIRE_OK(al_model_from_spec(spec, 3, &m));
        REQUIRE_OK(al_model_freeze(m, frozen));
        m->want_input_grad = 1;
        REQUIRE_OK(al_model_plan(m, N));
        al_model_zero_grad(m);
        REQUIRE_OK(al_model_forward_from(m, NULL, 0, x, N, 1, &y));
        REQUIRE_OK(al_model_backward(m, NULL, x, dl, N));
        double g = 0, dxs = 0;
        for (int p = 0; p < 4; p++)
            for (size_t i = 0; i < m->nodes[0].params[p].n; i++) g += fabs(m->nodes[0].params[p].g[i]);
        for (size_t i = 0; i < sizeof x / sizeof x[0]; i++) dxs += fabs(m->dinput[i]);
        CHECK(dxs > 0.0);
        if (!frozen) {
            CHECK(g > 0.0);
            memcpy(dx_train, m->dinput, sizeof dx_train);
        } else {
            CHECK(g == 0.0);
            double d = 0;
            for (size_t i = 0; i < sizeof x / sizeof x[0]; i++) d = fmax(d, fabs(m->dinput[i] - dx_train[i]));
            CHECK(d <= 1e-6);
        }
        al_model_free(m);
    }
}

/* With a pool the element-wise steps split over the batch; results match one
 * thread. 64 samples x 64 units reaches the parallel threshold. */
static void test_threads(void) {
    enum { N = 64, T = 3, E = 8, H = 64 };
    al_model *m;
    REQUIRE_OK(al_model_from_spec("input 3x8; lstm 64", 4, &m));
    m->want_input_grad = 1;
    REQUIRE_OK(al_model_plan(m, N));
    size_t nx = (size_t)N * T * E, ny = (size_t)N * T * H, nw = m->nodes[0].params[0].n;
    float *x = malloc(sizeof(float) * nx), *dy = malloc(sizeof(float) * ny);
    float *y1 = malloc(sizeof(float) * ny), *dx1 = malloc(sizeof(float) * nx), *g1 = malloc(sizeof(float) * nw);
    fill_normal(x, nx, 31);
    fill_normal(dy, ny, 32);
    for (int th = 1; th <= 3; th += 2) {
        al_pool *pool;
        REQUIRE_OK(al_pool_new(th, &pool));
        const float *y;
        al_model_zero_grad(m);
        REQUIRE_OK(al_model_forward_from(m, pool, 0, x, N, 1, &y));
        REQUIRE_OK(al_model_backward(m, pool, x, dy, N));
        if (th == 1) {
            memcpy(y1, y, sizeof(float) * ny);
            memcpy(dx1, m->dinput, sizeof(float) * nx);
            memcpy(g1, m->nodes[0].params[0].g, sizeof(float) * nw);
        } else {
            double dyv = 0, dxv = 0, dg = 0;
            for (size_t i = 0; i < ny; i++) dyv = fmax(dyv, fabs(y[i] - y1[i]));
            for (size_t i = 0; i < nx; i++) dxv = fmax(dxv, fabs(m->dinput[i] - dx1[i]));
            for (size_t i = 0; i < nw; i++) dg = fmax(dg, fabs(m->nodes[0].params[0].g[i] - g1[i]));
            CHECK(dyv <= 1e-5);
            CHECK(dxv <= 1e-4);
            CHECK(dg <= 1e-3);
        }
        al_pool_free(pool);
    }
    free(x);
    free(dy);
    free(y1);
    free(dx1);
    free(g1);
    al_model_free(m);
}

static void test_shapes(void) {
    al_model *m = NULL;
    CHECK_STATUS(al_model_from_spec("input 12; lstm 4", 1, &m), AL_ESHAPE);
    CHECK(m == NULL);
    CHECK_STATUS(al_model_from_spec("input 2x3x4; lstm 4", 1, &m), AL_ESHAPE);
    al_shape in = {2, {6, 4, 0}};
    al_layer_cfg c;
    memset(&c, 0, sizeof c);
    c.type = AL_L_LSTM;
    c.units = 0;
    CHECK_STATUS(al_model_build(&in, 0, &c, 1, &m), AL_EINVAL);
    c.units = -3;
    CHECK_STATUS(al_model_build(&in, 0, &c, 1, &m), AL_EINVAL);

    REQUIRE_OK(al_model_from_spec("input 6x4; lstm 3", 1, &m));
    const al_node *nd = &m->nodes[0];
    CHECK(nd->out.ndim == 2 && nd->out.d[0] == 6 && nd->out.d[1] == 3);
    CHECK(nd->nparams == 4);
    CHECK(!strcmp(nd->params[0].name, "weight_ih") && nd->params[0].dims[0] == 12 && nd->params[0].dims[1] == 4);
    CHECK(!strcmp(nd->params[1].name, "weight_hh") && nd->params[1].dims[0] == 12 && nd->params[1].dims[1] == 3);
    CHECK(!strcmp(nd->params[2].name, "bias_ih") && nd->params[2].ndim == 1 && nd->params[2].dims[0] == 12);
    CHECK(!strcmp(nd->params[3].name, "bias_hh") && nd->params[3].ndim == 1 && nd->params[3].dims[0] == 12);
    CHECK(al_model_num_params(m) == 12 * 4 + 12 * 3 + 12 + 12);
    CHECK(al_model_macs(m) == (uint64_t)6 * (4 + 3) * 4 * 3);
    /* PyTorch init: U(-1/sqrt(H), 1/sqrt(H)), not all equal */
    float bound = 1.0f / sqrtf(3.0f), lo = 1, hi = -1;
    for (int p = 0; p < 4; p++)
        for (size_t i = 0; i < nd->params[p].n; i++) {
            lo = fminf(lo, nd->params[p].w[i]);
            hi = fmaxf(hi, nd->params[p].w[i]);
        }
    CHECK(lo >= -bound && hi <= bound && hi - lo > bound);
    al_model_free(m);
}

/* ---- low rank (rank=r: W_hh = U V) ------------------------------------------ */

/* A full "input TxE; lstm H" and a rank-r one with the same W_ih and biases
 * and W_hh = U V (computed in double): same outputs, and the gradients
 * agree by the chain rule (dU = dW_hh V^T, dV = U^T dW_hh), over two windows
 * with the state carried (the second starts from the first's h_T, c_T). */
static void test_rank_equiv(int r) {
    enum { T = 4, E = 3, H = 5, N = 3, MB = 4 };
    char spec[64];
    snprintf(spec, sizeof spec, "input 4x3; lstm 5 rank=%d", r);
    al_model *fm, *lm;
    REQUIRE_OK(al_model_from_spec("input 4x3; lstm 5", 41, &fm));
    REQUIRE_OK(al_model_from_spec(spec, 42, &lm));
    al_node *fn = &fm->nodes[0], *ln = &lm->nodes[0];
    CHECK(ln->nparams == 5 && ln->cfg.rank == r);
    const float *U = ln->params[1].w, *V = ln->params[2].w;
    for (int k = 0; k < 4 * H; k++)
        for (int j = 0; j < H; j++) {
            double s = 0;
            for (int q = 0; q < r; q++) s += (double)U[k * r + q] * V[q * H + j];
            fn->params[1].w[k * H + j] = (float)s;
        }
    memcpy(ln->params[0].w, fn->params[0].w, sizeof(float) * fn->params[0].n);
    memcpy(ln->params[3].w, fn->params[2].w, sizeof(float) * fn->params[2].n);
    memcpy(ln->params[4].w, fn->params[3].w, sizeof(float) * fn->params[3].n);
    fm->want_input_grad = lm->want_input_grad = 1;
    REQUIRE_OK(al_model_plan(fm, MB));
    REQUIRE_OK(al_model_plan(lm, MB));
    al_model_set_carry_state(fm, 1);
    al_model_set_carry_state(lm, 1);
    float x[N * T * E], dy[N * T * H], yf[N * T * H];
    for (int w = 0; w < 2; w++) {
        fill_normal(x, sizeof x / sizeof x[0], 50 + (uint64_t)w);
        fill_normal(dy, sizeof dy / sizeof dy[0], 60 + (uint64_t)w);
        const float *y;
        al_model_zero_grad(fm);
        al_model_zero_grad(lm);
        REQUIRE_OK(al_model_forward_from(fm, NULL, 0, x, N, 1, &y));
        memcpy(yf, y, sizeof yf);
        REQUIRE_OK(al_model_forward_from(lm, NULL, 0, x, N, 1, &y));
        double dyv = 0, s = 0;
        for (int i = 0; i < N * T * H; i++) {
            dyv = fmax(dyv, fabs(y[i] - yf[i]));
            s += fabs(yf[i]);
        }
        if (dyv > 1e-5) fprintf(stderr, "rank %d window %d: outputs differ by %g\n", r, w, dyv);
        CHECK(dyv <= 1e-5 && s > 0.1);
        REQUIRE_OK(al_model_backward(fm, NULL, x, dy, N));
        float dxf[N * T * E];
        memcpy(dxf, fm->dinput, sizeof dxf);
        REQUIRE_OK(al_model_backward(lm, NULL, x, dy, N));
        double dxd = 0, gd = 0;
        for (int i = 0; i < N * T * E; i++) dxd = fmax(dxd, fabs(lm->dinput[i] - dxf[i]));
        for (size_t i = 0; i < fn->params[0].n; i++) gd = fmax(gd, fabs(ln->params[0].g[i] - fn->params[0].g[i]));
        for (int b = 0; b < 2; b++)
            for (int k = 0; k < 4 * H; k++) gd = fmax(gd, fabs(ln->params[3 + b].g[k] - fn->params[2 + b].g[k]));
        const float *dW = fn->params[1].g;
        for (int k = 0; k < 4 * H; k++)
            for (int q = 0; q < r; q++) {
                double du = 0;
                for (int j = 0; j < H; j++) du += (double)dW[k * H + j] * V[q * H + j];
                gd = fmax(gd, fabs(ln->params[1].g[k * r + q] - du));
            }
        for (int q = 0; q < r; q++)
            for (int j = 0; j < H; j++) {
                double dv = 0;
                for (int k = 0; k < 4 * H; k++) dv += (double)U[k * r + q] * dW[k * H + j];
                gd = fmax(gd, fabs(ln->params[2].g[q * H + j] - dv));
            }
        if (gd > 1e-4 || dxd > 1e-5) fprintf(stderr, "rank %d window %d: grads differ by %g, dx by %g\n", r, w, gd, dxd);
        CHECK(gd <= 1e-4 && dxd <= 1e-5);
    }
    /* the carried state is the same too */
    double sd = 0;
    for (int i = 0; i < 2 * MB * H; i++) sd = fmax(sd, fabs(ln->state[i] - fn->state[i]));
    CHECK(sd <= 1e-5);
    al_model_free(fm);
    al_model_free(lm);
}

/* Central differences of sum(r * y) for every weight of a rank-r LSTM in a
 * window that starts from a carried (nonzero) state, which is restored
 * before every evaluation; a constant for the gradient, as in training. */
static double carried_loss(al_model *m, const float *state0, size_t ns, const float *x, const float *rr, int n) {
    memcpy(m->nodes[0].state, state0, sizeof(float) * ns);
    const float *y;
    if (al_model_forward_from(m, NULL, 0, x, n, 0, &y) != AL_OK) return NAN;
    double s = 0;
    for (size_t i = 0; i < (size_t)n * al_shape_numel(&m->nodes[0].out); i++) s += (double)rr[i] * y[i];
    return s;
}

static void test_rank_gradcheck_carried(void) {
    enum { T = 3, E = 2, H = 4, N = 2 };
    al_model *m;
    REQUIRE_OK(al_model_from_spec("input 3x2; lstm 4 rank=2", 71, &m));
    REQUIRE_OK(al_model_plan(m, N));
    al_model_set_carry_state(m, 1);
    float x0[N * T * E], x[N * T * E], rr[N * T * H];
    fill_normal(x0, sizeof x0 / sizeof x0[0], 72);
    fill_normal(x, sizeof x / sizeof x[0], 73);
    fill_normal(rr, sizeof rr / sizeof rr[0], 74);
    const float *y;
    al_model_reset_state(m);
    REQUIRE_OK(al_model_forward_from(m, NULL, 0, x0, N, 0, &y)); /* a first window sets the state */
    size_t ns = 2 * (size_t)N * H;
    float st0[2 * N * H];
    memcpy(st0, m->nodes[0].state, sizeof st0);
    double sa = 0;
    for (size_t i = 0; i < ns; i++) sa += fabs(st0[i]);
    CHECK(sa > 0.0);
    al_model_zero_grad(m);
    memcpy(m->nodes[0].state, st0, sizeof st0);
    REQUIRE_OK(al_model_forward_from(m, NULL, 0, x, N, 1, &y));
    REQUIRE_OK(al_model_backward(m, NULL, x, rr, N));
    int bad = 0;
    for (int p = 0; p < m->nodes[0].nparams; p++) {
        al_param *pr = &m->nodes[0].params[p];
        for (size_t i = 0; i < pr->n; i++) {
            float orig = pr->w[i];
            pr->w[i] = orig + 1e-2f;
            double fp = carried_loss(m, st0, ns, x, rr, N);
            pr->w[i] = orig - 1e-2f;
            double fm = carried_loss(m, st0, ns, x, rr, N);
            pr->w[i] = orig;
            double de = (double)(orig + 1e-2f) - (double)(orig - 1e-2f);
            double num = (fp - fm) / de, a = pr->g[i];
            if (fabs(num - a) > 2e-3 + 2e-2 * fabs(num)) {
                if (bad++ < 5) fprintf(stderr, "carried gradcheck %s[%zu]: analytic %g numeric %g\n", pr->name, i, a, num);
            }
        }
    }
    CHECK(bad == 0);
    al_model_free(m);
}

/* Spec, shapes, parameter names, MACs, errors and the model file of rank=. */
static void test_rank_shapes(void) {
    al_model *m;
    REQUIRE_OK(al_model_from_spec("input 6x4; lstm 5 rank=2; dense 3", 1, &m));
    const al_node *nd = &m->nodes[0];
    CHECK(nd->nparams == 5);
    CHECK(!strcmp(nd->params[0].name, "weight_ih"));
    CHECK(!strcmp(nd->params[1].name, "weight_hh_u") && nd->params[1].dims[0] == 20 && nd->params[1].dims[1] == 2);
    CHECK(!strcmp(nd->params[2].name, "weight_hh_v") && nd->params[2].dims[0] == 2 && nd->params[2].dims[1] == 5);
    CHECK(!strcmp(nd->params[3].name, "bias_ih") && !strcmp(nd->params[4].name, "bias_hh"));
    CHECK(al_model_macs(m) == (uint64_t)6 * (4 * 20 + 2 * 25) + 6 * 5 * 3);
    CHECK(al_model_num_params(m) == 20 * 4 + 20 * 2 + 2 * 5 + 20 + 20 + 5 * 3 + 3);
    CHECK(!strcmp(al_model_spec(m), "input 6x4; lstm 5 rank=2; dense 3"));
    /* U is initialised with its fan-in r, V with H */
    float lo = 1, hi = -1;
    for (size_t i = 0; i < nd->params[1].n; i++) {
        lo = fminf(lo, nd->params[1].w[i]);
        hi = fmaxf(hi, nd->params[1].w[i]);
    }
    CHECK(hi <= 1.0f / sqrtf(2.0f) && lo >= -1.0f / sqrtf(2.0f) && hi > 1.0f / sqrtf(5.0f));
    /* the model file keeps rank= and the factor names */
    char path[512];
    snprintf(path, sizeof path, "%s/test_lstm_rank.gguf", AL_BINARY_DIR);
    REQUIRE_OK(al_model_save(m, path));
    al_model *l;
    REQUIRE_OK(al_model_load(path, &l));
    remove(path);
    CHECK(l->nodes[0].cfg.rank == 2 && !strcmp(l->nodes[0].params[2].name, "weight_hh_v"));
    CHECK(!strcmp(al_model_spec(l), al_model_spec(m)));
    float x[2 * 24];
    fill_normal(x, 48, 3);
    const float *y1, *y2;
    REQUIRE_OK(al_model_forward_from(m, NULL, 0, x, 2, 0, &y1));
    REQUIRE_OK(al_model_forward_from(l, NULL, 0, x, 2, 0, &y2));
    CHECK(memcmp(y1, y2, sizeof(float) * 2 * 6 * 3) == 0);
    al_model_free(l);
    al_model_free(m);
    /* rank=H is allowed (exact but larger), beyond H or negative is not; rank is lstm-only */
    REQUIRE_OK(al_model_from_spec("input 6x4; lstm 5 rank=5", 1, &m));
    al_model_free(m);
    m = NULL;
    CHECK_STATUS(al_model_from_spec("input 6x4; lstm 5 rank=6", 1, &m), AL_EINVAL);
    CHECK(m == NULL);
    CHECK_STATUS(al_model_from_spec("input 6x4; lstm 5 rank=-1", 1, &m), AL_EINVAL);
    CHECK_STATUS(al_model_from_spec("input 6x4; dense 5 rank=2", 1, &m), AL_EINVAL);
    /* rank=0 is the full layer, spelled without it */
    REQUIRE_OK(al_model_from_spec("input 6x4; lstm 5 rank=0", 1, &m));
    CHECK(m->nodes[0].nparams == 4 && !strcmp(al_model_spec(m), "input 6x4; lstm 5"));
    al_model_free(m);
}

/* A strong reference: the registry refers to layers weakly while they land
 * in parallel, and a weak reference alone does not pull lstm.o out of the
 * static library. */
extern const al_layer_vt al_lstm_vt;

int main(void) {
    CHECK(al_layer_vtable(AL_L_LSTM) == &al_lstm_vt);
    gc_opts o = gc_defaults();
    CHECK(gradcheck_spec("input 4x3; lstm 5", &o) == 0);
    CHECK(gradcheck_spec("input 1x2; lstm 3", &o) == 0);
    CHECK(gradcheck_spec("input 6x4; lstm 4; dense 3", &o) == 0);
    if (al_layer_vtable(AL_L_EMBEDDING) != NULL)
        CHECK(gradcheck_spec("tokens 5; embedding 3 vocab=9; lstm 4; dense 9", &o) == 0);
    else
        fprintf(stderr, "test_lstm: embedding layer absent, skipping the token-model gradient check\n");
    test_reference();
    test_carry();
    test_frozen();
    test_threads();
    test_shapes();
    CHECK(gradcheck_spec("input 4x3; lstm 5 rank=2", &o) == 0);
    CHECK(gradcheck_spec("input 6x4; lstm 4 rank=1; dense 3", &o) == 0);
    if (al_layer_vtable(AL_L_EMBEDDING) != NULL)
        CHECK(gradcheck_spec("tokens 5; embedding 3 vocab=9; lstm 4 rank=3; dense 9", &o) == 0);
    test_rank_equiv(2);
    test_rank_equiv(5);
    test_rank_gradcheck_carried();
    test_rank_shapes();
    TEST_END("test_lstm");
}
