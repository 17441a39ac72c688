/* conv and dwconv layers: finite-difference gradient checks over stride,
 * padding, kernel size, bias and channel counts; forward against a direct
 * convolution written out here, backward against its double-precision
 * gradients (on no pool, 2 and 3 threads, the backward by shares of the
 * batch on and off; the same pool twice gives the same bits); a frozen conv
 * gets no weight gradient; im2col and col2im are adjoint. */
#include "al_test.h"

/* The gradients of naive_pass, summed in double: dw [F,C,k,k] (depthwise
 * [C,1,k,k]), db [F], dx [n,C,H,W]; each with the sum of the absolute
 * values of its terms (*_abs), from which a float sum's rounding error is
 * bounded whatever the order of its terms. */
typedef struct naive_grads {
    double *dw, *dw_abs, *db, *db_abs, *dx, *dx_abs;
} naive_grads;

/* Direct convolution of n samples x [C,H,W], w [F,C,k,k] (depthwise:
 * [C,1,k,k], F = C), summed in double: y [F,Ho,Wo] each when y is not
 * NULL; with dy [n,F,Ho,Wo], the gradients into gr (zeroed first). */
static void naive_pass(const float *x, int n, int C, int H, int W, const float *w, const float *b, int F, int k,
                       int s, int p, int depthwise, float *y, const float *dy, const naive_grads *gr) {
    int Ho = (H + 2 * p - k) / s + 1, Wo = (W + 2 * p - k) / s + 1;
    size_t nw = (size_t)F * (depthwise ? 1 : C) * k * k, xs = (size_t)C * H * W, ys = (size_t)F * Ho * Wo;
    if (dy) {
        memset(gr->dw, 0, sizeof(double) * nw);
        memset(gr->dw_abs, 0, sizeof(double) * nw);
        memset(gr->db, 0, sizeof(double) * F);
        memset(gr->db_abs, 0, sizeof(double) * F);
        memset(gr->dx, 0, sizeof(double) * xs * n);
        memset(gr->dx_abs, 0, sizeof(double) * xs * n);
    }
    for (int i = 0; i < n; i++)
        for (int f = 0; f < F; f++)
            for (int oy = 0; oy < Ho; oy++)
                for (int ox = 0; ox < Wo; ox++) {
                    size_t yi = i * ys + ((size_t)f * Ho + oy) * Wo + ox;
                    double acc = b ? b[f] : 0.0, g = dy ? dy[yi] : 0.0;
                    if (dy) {
                        gr->db[f] += g;
                        gr->db_abs[f] += fabs(g);
                    }
                    int c0 = depthwise ? f : 0, c1 = depthwise ? f + 1 : C;
                    for (int c = c0; c < c1; c++)
                        for (int ky = 0; ky < k; ky++)
                            for (int kx = 0; kx < k; kx++) {
                                int iy = oy * s - p + ky, ix = ox * s - p + kx;
                                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                                size_t wi = depthwise ? ((size_t)f * k + ky) * k + kx : (((size_t)f * C + c) * k + ky) * k + kx;
                                size_t xi = i * xs + ((size_t)c * H + iy) * W + ix;
                                acc += (double)w[wi] * x[xi];
                                if (!dy) continue;
                                gr->dw[wi] += g * x[xi];
                                gr->dw_abs[wi] += fabs(g * x[xi]);
                                gr->dx[xi] += g * w[wi];
                                gr->dx_abs[xi] += fabs(g * w[wi]);
                            }
                    if (y) y[yi] = (float)acc;
                }
}

/* One sample's y. */
static void naive_conv(const float *x, int C, int H, int W, const float *w, const float *b, int F, int k, int s,
                       int p, int depthwise, float *y) {
    naive_pass(x, 1, C, H, W, w, b, F, k, s, p, depthwise, y, NULL, NULL);
}

/* How many of got[0..cnt) are off the double sums by more than a float
 * sum's rounding allows (1e-5 of the sum of the terms' absolute values). */
static int count_off(const char *what, const char *spec, int threads, const float *got, const double *want,
                     const double *abs_sum, size_t cnt) {
    int bad = 0;
    for (size_t i = 0; i < cnt; i++)
        if (!(fabs((double)got[i] - want[i]) <= 1e-5 * abs_sum[i] + 1e-7))
            if (bad++ < 3)
                fprintf(stderr, "%s threads=%d: %s[%zu] = %.9g, want %.9g (terms' absolute sum %.4g)\n", spec, threads,
                        what, i, got[i], want[i], abs_sum[i]);
    return bad;
}

/* Forward and backward of a one-layer model against naive_pass, n
 * samples, on no pool and on each of pools[0..npools) (conv: with the
 * backward by shares of the batch forced on and off); the same pool twice
 * gives the same bits. */
static void check_against_naive(al_pool **pools, int npools, int n, int C, int H, int W, int F, int k, int s, int p,
                                int bias, int depthwise) {
    char spec[160];
    if (depthwise)
        snprintf(spec, sizeof spec, "input %dx%dx%d; dwconv %d s=%d p=%d bias=%d", C, H, W, k, s, p, bias);
    else
        snprintf(spec, sizeof spec, "input %dx%dx%d; conv %d k=%d s=%d p=%d bias=%d", C, H, W, F, k, s, p, bias);
    if (depthwise) F = C;
    al_model *m;
    REQUIRE_OK(al_model_from_spec(spec, 7, &m));
    m->want_input_grad = 1;
    REQUIRE_OK(al_model_plan(m, n));
    int Ho = (H + 2 * p - k) / s + 1, Wo = (W + 2 * p - k) / s + 1;
    size_t xs = (size_t)C * H * W, ys = (size_t)F * Ho * Wo;
    CHECK(al_shape_numel(&m->nodes[0].out) == ys);
    float *x = malloc(sizeof(float) * xs * n), *want = malloc(sizeof(float) * ys * n);
    float *dl = malloc(sizeof(float) * ys * n);
    al_rng r;
    al_rng_seed(&r, 99, 3);
    for (size_t i = 0; i < xs * n; i++) x[i] = al_rng_normal(&r);
    for (size_t i = 0; i < ys * n; i++) dl[i] = al_rng_normal(&r);
    const float *w = m->nodes[0].params[0].w, *b = bias ? m->nodes[0].params[1].w : NULL;
    size_t nw = m->nodes[0].params[0].n, nb = bias ? m->nodes[0].params[1].n : 0;
    double *ref = malloc(sizeof(double) * 2 * (nw + (size_t)F + xs * n));
    naive_grads gr = {ref, ref + nw, ref + 2 * nw, ref + 2 * nw + F, ref + 2 * nw + 2 * F, ref + 2 * nw + 2 * F + xs * n};
    naive_pass(x, n, C, H, W, w, b, F, k, s, p, depthwise, want, dl, &gr);
    float *first = malloc(sizeof(float) * (nw + nb + xs * n));
    for (int t = 0; t <= npools; t++)
        for (int shares = 1; shares >= 0; shares--) {
            if (!shares && (depthwise || t == 0)) continue;
            al_pool *pl = t ? pools[t - 1] : NULL;
            int threads = al_pool_size(pl);
            al_conv_force_shares(shares);
            for (int again = 0; again < 2; again++) {
                const float *y;
                REQUIRE_OK(al_model_forward_from(m, pl, 0, x, n, 1, &y));
                int bad = 0;
                double tol = 1e-5 * (k * k * (depthwise ? 1 : C) + 1);
                for (size_t i = 0; i < ys * n; i++)
                    if (!(fabs((double)y[i] - want[i]) <= tol)) {
                        if (bad++ < 3)
                            fprintf(stderr, "%s threads=%d: y[%zu] = %.7g, want %.7g\n", spec, threads, i, y[i], want[i]);
                    }
                CHECK(bad == 0);
                al_model_zero_grad(m);
                REQUIRE_OK(al_model_backward(m, pl, x, dl, n));
                const float *gw = m->nodes[0].params[0].g, *gb = bias ? m->nodes[0].params[1].g : NULL;
                if (again) {
                    /* deterministic for a thread count */
                    CHECK(memcmp(first, gw, sizeof(float) * nw) == 0);
                    CHECK(!nb || memcmp(first + nw, gb, sizeof(float) * nb) == 0);
                    CHECK(memcmp(first + nw + nb, m->dinput, sizeof(float) * xs * n) == 0);
                    continue;
                }
                memcpy(first, gw, sizeof(float) * nw);
                if (nb) memcpy(first + nw, gb, sizeof(float) * nb);
                memcpy(first + nw + nb, m->dinput, sizeof(float) * xs * n);
                int off = count_off("dw", spec, threads, gw, gr.dw, gr.dw_abs, nw);
                if (nb) off += count_off("db", spec, threads, gb, gr.db, gr.db_abs, nb);
                off += count_off("dx", spec, threads, m->dinput, gr.dx, gr.dx_abs, xs * n);
                CHECK(off == 0);
            }
        }
    al_conv_force_shares(-1);
    free(x);
    free(want);
    free(dl);
    free(ref);
    free(first);
    al_model_free(m);
}

static void check_adjoint(int C, int H, int W, int k, int s, int p) {
    int Ho = (H + 2 * p - k) / s + 1, Wo = (W + 2 * p - k) / s + 1;
    long P = (long)Ho * Wo, ld = P + 3; /* padded rows */
    size_t xs = (size_t)C * H * W, cs = (size_t)C * k * k * ld;
    float *x = malloc(sizeof(float) * xs), *x2 = malloc(sizeof(float) * xs);
    float *col = malloc(sizeof(float) * cs), *c2 = malloc(sizeof(float) * cs);
    al_rng r;
    al_rng_seed(&r, 5, 5);
    for (size_t i = 0; i < xs; i++) x[i] = al_rng_normal(&r);
    for (size_t i = 0; i < cs; i++) c2[i] = col[i] = al_rng_normal(&r);
    al_im2col(x, C, H, W, k, s, p, col, ld);
    al_col2im(c2, ld, C, H, W, k, s, p, x2);
    /* <im2col(x), c2> == <x, col2im(c2)> over the P used columns */
    double lhs = 0, rhs = 0;
    for (long row = 0; row < (long)C * k * k; row++)
        for (long q = 0; q < P; q++) lhs += (double)col[row * ld + q] * c2[row * ld + q];
    for (size_t i = 0; i < xs; i++) rhs += (double)x[i] * x2[i];
    CHECK_NEAR(lhs, rhs, 1e-4 * (fabs(lhs) + 1));
    /* the padding between rows is left alone */
    for (long row = 0; row < (long)C * k * k; row++)
        for (long q = P; q < ld; q++) CHECK(col[row * ld + q] == c2[row * ld + q]);
    free(x);
    free(x2);
    free(col);
    free(c2);
}

/* al_sgemm_bpack with al_im2col_pack (implicit GEMM over n samples side
 * by side) against im2col + al_sgemm_ref, on every GEMM variant, 1 and 2
 * threads (bitwise equal for the packed variants); M around the 8 and 12
 * row tiles. */
static void check_implicit(al_pool *pools[2], int n, int C, int H, int W, int F, int k, int s, int p) {
    int Ho = (H + 2 * p - k) / s + 1, Wo = (W + 2 * p - k) / s + 1, P = Ho * Wo, CKK = C * k * k, nP = n * P;
    al_rng r;
    al_rng_seed(&r, (uint64_t)(n * 131 + C * 17 + H * 7 + F), 1);
    float *x = malloc(sizeof(float) * (size_t)n * C * H * W), *w = malloc(sizeof(float) * (size_t)F * CKK);
    float *col = malloc(sizeof(float) * (size_t)CKK * nP), *want = malloc(sizeof(float) * (size_t)F * nP);
    float *got = malloc(sizeof(float) * (size_t)F * nP), *got1 = malloc(sizeof(float) * (size_t)F * nP);
    for (size_t i = 0; i < (size_t)n * C * H * W; i++) x[i] = al_rng_normal(&r);
    for (size_t i = 0; i < (size_t)F * CKK; i++) w[i] = al_rng_normal(&r);
    for (int i = 0; i < n; i++) al_im2col(x + (size_t)i * C * H * W, C, H, W, k, s, p, col + (size_t)i * P, nP);
    for (size_t i = 0; i < (size_t)F * nP; i++) want[i] = 0.5f * (float)i;
    al_sgemm_ref(0, 0, F, nP, CKK, 1.0f, w, CKK, col, nP, 0.5f, want, nP);
    al_im2col_src src = {x, C, H, W, k, s, p, Ho, Wo};
    for (int v = 0; v < AL_GEMM_NVARIANTS; v++) {
        if (!al_gemm_force((al_gemm_variant)v)) continue;
        for (int t = 0; t < 2; t++) {
            for (size_t i = 0; i < (size_t)F * nP; i++) got[i] = 0.5f * (float)i;
            al_sgemm_bpack(pools[t], 0, F, nP, CKK, 1.0f, w, CKK, al_im2col_pack, &src, 0.5f, got, nP);
            int bad = 0;
            for (size_t i = 0; i < (size_t)F * nP; i++)
                if (!(fabsf(got[i] - want[i]) <= 1e-4f * (CKK + 1) * (1.0f + fabsf(want[i])))) {
                    if (bad++ < 3)
                        fprintf(stderr, "implicit %s t=%d n=%d C=%d %dx%d F=%d k=%d s=%d p=%d: [%zu] %g want %g\n",
                                al_gemm_variant_name((al_gemm_variant)v), t + 1, n, C, H, W, F, k, s, p, i, got[i],
                                want[i]);
                }
            CHECK(bad == 0);
            if (t == 0) memcpy(got1, got, sizeof(float) * (size_t)F * nP);
            if (t == 1 && v != AL_GEMM_REF) CHECK(memcmp(got1, got, sizeof(float) * (size_t)F * nP) == 0);
        }
    }
    al_gemm_force(AL_GEMM_AUTO);
    free(x);
    free(w);
    free(col);
    free(want);
    free(got);
    free(got1);
}

/* The dispatching im2col, col2im and implicit packer (AVX-512 forms for
 * stride-1 "same" convs where the CPU has them) against the plain-C forms:
 * bitwise equal (copies; col2im sums each pixel in the same tap order).
 * Padding columns between rows and the floats after the image are left
 * alone; packer panels start anywhere in the batch, cross samples and end
 * in partial panels. */
static void check_simd_forms(int n, int C, int H, int W, int k, int s, int p) {
    int Ho = (H + 2 * p - k) / s + 1, Wo = (W + 2 * p - k) / s + 1, CKK = C * k * k;
    long P = (long)Ho * Wo, ld = P + 5, nP = (long)n * P;
    size_t xs = (size_t)C * H * W;
    float *x = malloc(sizeof(float) * (xs * n + 8)), *x1 = malloc(sizeof(float) * (xs + 8)),
          *x2 = malloc(sizeof(float) * (xs + 8));
    float *c1 = malloc(sizeof(float) * CKK * ld), *c2 = malloc(sizeof(float) * CKK * ld);
    al_rng r;
    al_rng_seed(&r, (uint64_t)(C * 1000 + H * 37 + W * 3 + k), 2);
    for (size_t i = 0; i < xs * n + 8; i++) x[i] = al_rng_normal(&r);
    for (long i = 0; i < CKK * ld; i++) c1[i] = c2[i] = al_rng_normal(&r);
    al_im2col(x, C, H, W, k, s, p, c1, ld);
    al_im2col_ref(x, C, H, W, k, s, p, c2, ld);
    int bad = 0;
    for (long i = 0; i < CKK * ld; i++) bad += memcmp(&c1[i], &c2[i], sizeof(float)) != 0;
    if (bad) fprintf(stderr, "im2col C=%d %dx%d k=%d s=%d p=%d: %d differ\n", C, H, W, k, s, p, bad);
    CHECK(bad == 0);
    for (size_t i = 0; i < xs + 8; i++) x1[i] = x2[i] = -7.0f;
    al_col2im(c1, ld, C, H, W, k, s, p, x1);
    al_col2im_ref(c1, ld, C, H, W, k, s, p, x2);
    bad = 0;
    for (size_t i = 0; i < xs + 8; i++) bad += memcmp(&x1[i], &x2[i], sizeof(float)) != 0;
    for (size_t i = xs; i < xs + 8; i++) bad += x1[i] != -7.0f;
    if (bad) fprintf(stderr, "col2im C=%d %dx%d k=%d s=%d p=%d: %d differ\n", C, H, W, k, s, p, bad);
    CHECK(bad == 0);
    al_im2col_src src = {x, C, H, W, k, s, p, Ho, Wo};
    /* (p0, kc, j0, nc): whole, offset rows, panels across sample borders, ragged ends */
    long cases[][4] = {{0, CKK, 0, nP}, {1, CKK - 1, 3, nP - 3}, {CKK / 2, CKK - CKK / 2, P - 5, nP - P + 5},
                       {0, CKK, nP - 1, 1}, {CKK - 1, 1, 0, AL_MIN(nP, 33)}};
    for (size_t u = 0; u < sizeof cases / sizeof cases[0]; u++) {
        int p0 = (int)cases[u][0], kc = (int)cases[u][1], j0 = (int)AL_MAX(0, cases[u][2]);
        int nc = (int)AL_MIN(cases[u][3], nP - j0);
        if (kc <= 0 || nc <= 0) continue;
        size_t sz = (size_t)(nc + 31) / 32 * 32 * kc;
        float *a1 = malloc(sizeof(float) * sz), *a2 = malloc(sizeof(float) * sz);
        for (size_t i = 0; i < sz; i++) a1[i] = a2[i] = 3.0f;
        al_im2col_pack(&src, p0, kc, j0, nc, 32, a1);
        al_im2col_pack_ref(&src, p0, kc, j0, nc, 32, a2);
        bad = 0;
        for (size_t i = 0; i < sz; i++) bad += memcmp(&a1[i], &a2[i], sizeof(float)) != 0;
        if (bad)
            fprintf(stderr, "pack n=%d C=%d %dx%d k=%d p=%d (p0 %d kc %d j0 %d nc %d): %d differ\n", n, C, H, W, k, p,
                    p0, kc, j0, nc, bad);
        CHECK(bad == 0);
        free(a1);
        free(a2);
    }
    free(x);
    free(x1);
    free(x2);
    free(c1);
    free(c2);
}

/* The one-channel 3x3 direct kernels (where they run) against sums in
 * double: forward y = conv(x) + b; dweight over n samples with and without
 * the ReLU mask, the filters split in two ranges, accumulating into what
 * dw and db held. Odd plane sizes and filter counts. */
static void check_c1k3(int n, int H, int W, int F) {
    if (!al_conv1c3_available(H, W)) return;
    long P = (long)H * W;
    al_rng r;
    al_rng_seed(&r, (uint64_t)(H * 1000 + W * 10 + F), 4);
    float *x = malloc(sizeof(float) * n * P), *w = malloc(sizeof(float) * F * 9), *b = malloc(sizeof(float) * F);
    float *y = malloc(sizeof(float) * n * F * P), *dy = malloc(sizeof(float) * n * F * P);
    float *dw = malloc(sizeof(float) * F * 9), *db = malloc(sizeof(float) * F);
    for (long i = 0; i < n * P; i++) x[i] = al_rng_normal(&r);
    for (int i = 0; i < F * 9; i++) w[i] = al_rng_normal(&r);
    for (int i = 0; i < F; i++) b[i] = al_rng_normal(&r);
    for (long i = 0; i < n * F * P; i++) dy[i] = al_rng_normal(&r);
    int bad = 0;
    for (int i = 0; i < n; i++) {
        CHECK(al_conv1c3_forward(x + i * P, H, W, w, i % 2 ? NULL : b, F, y + (size_t)i * F * P) == 1);
        float *want = malloc(sizeof(float) * F * P);
        naive_conv(x + i * P, 1, H, W, w, i % 2 ? NULL : b, F, 3, 1, 1, 0, want);
        for (long j = 0; j < F * P; j++)
            if (!(fabsf(y[(size_t)i * F * P + j] - want[j]) <= 1e-5f * (10 + fabsf(want[j])))) bad++;
        free(want);
    }
    if (bad) fprintf(stderr, "c1k3 forward n=%d %dx%d F=%d: %d differ\n", n, H, W, F, bad);
    CHECK(bad == 0);
    for (int relu = 0; relu < 2; relu++) {
        for (int i = 0; i < F * 9; i++) dw[i] = 0.25f;
        for (int i = 0; i < F; i++) db[i] = -0.5f;
        int fm = F / 2 | 1;
        if (fm > F) fm = F;
        CHECK(al_conv1c3_dweight(x, dy, y, relu, n, H, W, F, 0, fm, dw, db) == 1);
        CHECK(al_conv1c3_dweight(x, dy, y, relu, n, H, W, F, fm, F, dw, db) == 1);
        bad = 0;
        for (int f = 0; f < F; f++) {
            double sb = -0.5, sw[9] = {0};
            for (int i = 0; i < n; i++)
                for (int oy = 0; oy < H; oy++)
                    for (int ox = 0; ox < W; ox++) {
                        size_t o = ((size_t)i * F + f) * P + (size_t)oy * W + ox;
                        double g = relu && !(y[o] > 0.0f) ? 0.0 : dy[o];
                        sb += g;
                        for (int t = 0; t < 9; t++) {
                            int iy = oy + t / 3 - 1, ix = ox + t % 3 - 1;
                            if (iy >= 0 && iy < H && ix >= 0 && ix < W) sw[t] += g * x[i * P + (long)iy * W + ix];
                        }
                    }
            double tol = 1e-5 * sqrt((double)n * P) * 10;
            if (!(fabs(db[f] - sb) <= tol)) bad++;
            for (int t = 0; t < 9; t++)
                if (!(fabs(dw[f * 9 + t] - (0.25 + sw[t])) <= tol)) bad++;
        }
        if (bad) fprintf(stderr, "c1k3 dweight relu=%d n=%d %dx%d F=%d: %d differ\n", relu, n, H, W, F, bad);
        CHECK(bad == 0);
    }
    free(x);
    free(w);
    free(b);
    free(y);
    free(dy);
    free(dw);
    free(db);
}

/* The stride-2 stem (al_conv_stem_forward): bitwise the AVX-512 implicit
 * GEMM with its epilogue (what the layer ran before it), within rounding of
 * the naive conv, for 1 to 4 channels, odd and even sizes (the right and
 * bottom padding), 1 to 33 filters (a partial group of 16), with and
 * without bias, each activation; shapes past its limits are refused. */
static void check_stem(int C, int H, int W, int F) {
    int Ho = (H - 1) / 2 + 1, Wo = (W - 1) / 2 + 1;
    long P = (long)Ho * Wo;
    al_rng r;
    al_rng_seed(&r, (uint64_t)(C * 100000 + H * 1000 + W * 10 + F), 5);
    float *x = malloc(sizeof(float) * C * H * W), *w = malloc(sizeof(float) * F * C * 9), *b = malloc(sizeof(float) * F);
    float *y = malloc(sizeof(float) * F * P), *want = malloc(sizeof(float) * F * P), *ref = malloc(sizeof(float) * F * P);
    for (long i = 0; i < (long)C * H * W; i++) x[i] = al_rng_normal(&r);
    for (int i = 0; i < F * C * 9; i++) w[i] = al_rng_normal(&r);
    for (int i = 0; i < F; i++) b[i] = 2.0f * al_rng_normal(&r);
    al_im2col_src src = {x, C, H, W, 3, 2, 1, Ho, Wo};
    int bad = 0;
    for (int withb = 0; withb < 2; withb++)
        for (int act = 0; act < 3; act++) {
            const float *bb = withb ? b : NULL;
            if (!al_conv_stem_forward(x, C, H, W, w, bb, act, F, y)) {
                CHECK(!al_cnn_simd()); /* it runs wherever the AVX-512 forms do */
                goto done;
            }
            CHECK(al_gemm_force(AL_GEMM_AVX512));
            al_gemm_ep ep = {bb, NULL, act};
            al_sgemm_bpack_ep(NULL, 0, F, (int)P, 9 * C, w, 9 * C, al_im2col_pack, &src, &ep, want, (int)P);
            al_gemm_force(AL_GEMM_AUTO);
            if (memcmp(y, want, sizeof(float) * F * P) != 0) bad++;
            naive_conv(x, C, H, W, w, bb, F, 3, 2, 1, 0, ref);
            for (long j = 0; j < F * P; j++) {
                float v = ref[j];
                if (act == 1) v = v <= 0.0f ? 0.0f : v;
                if (act == 2) v = v < 0.0f ? 0.0f : v > 6.0f ? 6.0f : v;
                if (!(fabsf(y[j] - v) <= 1e-5f * (10 + fabsf(v)))) bad++;
            }
        }
    if (bad) fprintf(stderr, "stem C=%d %dx%d F=%d: %d differ\n", C, H, W, F, bad);
    CHECK(bad == 0);
done:
    free(x);
    free(w);
    free(b);
    free(y);
    free(want);
    free(ref);
}

int main(void) {
    gc_opts o = gc_defaults();
    {
        int sh[][4] = {{1, 1, 1, 1}, {3, 7, 7, 7}, {2, 28, 28, 32}, {2, 33, 5, 33}, {1, 1, 257, 3}, {3, 16, 16, 2}};
        for (size_t i = 0; i < sizeof sh / sizeof sh[0]; i++) check_c1k3(sh[i][0], sh[i][1], sh[i][2], sh[i][3]);
    }
    {
        static const int sh[][4] = {{3, 96, 96, 16}, {3, 7, 9, 33}, {1, 1, 1, 1},   {2, 2, 3, 17},
                                    {4, 33, 17, 16}, {3, 64, 40, 5}, {1, 5, 511, 3}, {3, 2, 66, 32}};
        for (size_t i = 0; i < sizeof sh / sizeof sh[0]; i++) check_stem(sh[i][0], sh[i][1], sh[i][2], sh[i][3]);
        float one = 1.0f, out[4];
        CHECK(al_conv_stem_forward(&one, 5, 1, 1, &one, NULL, 0, 1, out) == 0); /* 5 channels */
        CHECK(al_conv_stem_forward(&one, 1, 1, 513, &one, NULL, 0, 1, out) == 0); /* Wo 257 */
    }
    {
        /* same convs (the AVX-512 forms) on odd sizes, and shapes they leave to the plain forms */
        int sh[][7] = {{3, 1, 1, 1, 3, 1, 1},   {3, 1, 28, 28, 3, 1, 1}, {2, 3, 7, 7, 3, 1, 1},
                       {2, 32, 14, 14, 3, 1, 1}, {4, 2, 33, 7, 3, 1, 1}, {2, 2, 5, 9, 5, 1, 2},
                       {3, 1, 1, 257, 3, 1, 1},  {2, 3, 6, 6, 1, 1, 0},  {2, 2, 9, 9, 3, 2, 1},
                       {2, 2, 8, 8, 3, 1, 0},    {1, 1, 90, 90, 3, 1, 1}, {3, 5, 4, 8, 7, 1, 3},
                       /* the strided packer: stride 2 or no padding, Wo >= 6, runs across rows and samples */
                       {3, 3, 25, 31, 3, 2, 1},  {2, 4, 13, 17, 5, 2, 2}, {2, 2, 11, 14, 7, 2, 3},
                       {3, 3, 20, 20, 3, 1, 0},  {2, 3, 12, 13, 2, 2, 0}, {2, 2, 16, 16, 1, 2, 0},
                       {2, 3, 40, 40, 3, 2, 1},  {2, 2, 7, 47, 3, 2, 0},
                       /* 1x1 convs on small planes: one run per sample */
                       {7, 5, 3, 3, 1, 1, 0},    {9, 3, 2, 3, 1, 1, 0},  {5, 4, 1, 7, 1, 1, 0}};
        for (size_t i = 0; i < sizeof sh / sizeof sh[0]; i++)
            check_simd_forms(sh[i][0], sh[i][1], sh[i][2], sh[i][3], sh[i][4], sh[i][5], sh[i][6]);
    }
    {
        al_pool *pools[2] = {NULL, NULL};
        REQUIRE_OK(al_pool_new(1, &pools[0]));
        REQUIRE_OK(al_pool_new(2, &pools[1]));
        check_implicit(pools, 1, 1, 1, 1, 1, 1, 1, 0);
        check_implicit(pools, 3, 1, 28, 28, 32, 3, 1, 1); /* the reference CNN's first conv */
        check_implicit(pools, 2, 7, 7, 7, 33, 3, 1, 1);
        check_implicit(pools, 2, 3, 33, 29, 64, 5, 2, 2);
        check_implicit(pools, 3, 3, 24, 24, 16, 3, 2, 1); /* a MobileNet stem, Wo = 12 */
        check_implicit(pools, 9, 40, 3, 3, 24, 1, 1, 0);  /* a 1x1 conv on 3x3 planes */
        check_implicit(pools, 5, 33, 7, 7, 16, 3, 1, 0);
        check_implicit(pools, 1, 2, 9, 11, 7, 3, 3, 2);
        check_implicit(pools, 3, 4, 5, 5, 12, 1, 2, 1);
        check_implicit(pools, 2, 32, 14, 14, 64, 3, 1, 1); /* K = 288 > KC */
        check_implicit(pools, 4, 3, 17, 16, 257, 3, 1, 1);
        al_pool_free(pools[0]);
        al_pool_free(pools[1]);
    }
    /* conv: stride 1/2, pad 0/1/2, k 1/3/5, bias 0/1, C = 1..5, odd sizes */
    const char *conv_specs[] = {
        "input 1x5x5; conv 2 k=3 p=1",
        "input 3x7x6; conv 4 k=3 s=2 p=1",
        "input 2x6x5; conv 3 k=1",                /* 1x1 fast path */
        "input 2x5x5; conv 3 k=1 s=2 p=1",        /* 1x1, not the fast path */
        "input 5x9x7; conv 2 k=5 p=2 bias=0",
        "input 4x7x7; conv 3 k=3 s=2",
        "input 1x3x3; conv 1 k=3",                /* one output pixel */
        "input 2x17x16; conv 2 k=3 p=1",          /* 272 pixels: the fused forward */
        "input 2x8x7; conv 3 k=3 p=1; conv 2 k=3 s=2 p=2", /* gradient through a conv */
    };
    gradcheck_specs(conv_specs, sizeof conv_specs / sizeof conv_specs[0], &o);
    {
        /* one channel 3x3: the direct kernels, with the fused ReLU (a smaller
         * step keeps the central differences off its kinks, as test_compile) */
        gc_opts o2 = o;
        o2.eps = 1e-3;
        const char *c1[] = {"input 1x7x9; conv 3 k=3 p=1; flatten; dense 2",
                            "input 1x6x5; conv 3 k=3 p=1 act=relu; flatten; dense 2"};
        gradcheck_specs(c1, 2, &o2);
    }
    const char *dw_specs[] = {
        "input 3x7x7; dwconv 3 p=1",
        "input 2x8x9; dwconv 5 s=2 p=2",
        "input 4x6x5; dwconv 1 bias=0",
        "input 3x9x9; dwconv 3 s=3",
        "input 1x4x4; dwconv 3 p=2",
        "input 2x6x6; dwconv 3 p=1; dwconv 3 s=2",
    };
    gradcheck_specs(dw_specs, sizeof dw_specs / sizeof dw_specs[0], &o);

    /* forward and backward against the direct convolution, no pool and 2
     * and 3 threads. A conv's backward runs by shares of the batch where
     * each share holds a sample and its partial sum (bwd_shares): 7 samples
     * on 3 threads are shares of 3, 2 and 2; the 2x20x19 layer's 5 samples
     * on 3 threads leave a share of 1, too small, so that one takes the
     * chunked route */
    al_pool *pool[2];
    REQUIRE_OK(al_pool_new(2, &pool[0]));
    REQUIRE_OK(al_pool_new(3, &pool[1]));
    check_against_naive(pool, 2, 5, 3, 9, 8, 4, 3, 1, 1, 1, 0);   /* batched GEMM route */
    check_against_naive(pool, 2, 5, 2, 20, 19, 5, 3, 1, 1, 1, 0); /* fused route (380 pixels) */
    check_against_naive(pool, 2, 5, 3, 11, 13, 2, 5, 2, 2, 0, 0);
    check_against_naive(pool, 2, 5, 4, 6, 7, 3, 1, 1, 0, 1, 0);   /* 1x1 fast path */
    check_against_naive(pool, 2, 7, 16, 14, 14, 32, 3, 1, 1, 1, 0); /* a reference-CNN-like layer */
    check_against_naive(pool, 2, 10, 32, 7, 7, 64, 3, 1, 1, 1, 0);  /* partial sum > a sample: shares of 3 or more */
    check_against_naive(pool, 2, 2, 16, 14, 14, 32, 3, 1, 1, 0, 0); /* fewer samples than threads */
    check_against_naive(pool, 2, 9, 24, 16, 16, 24, 1, 1, 0, 0, 0); /* 1x1 on 256 pixels: dx per sample */
    check_against_naive(pool, 2, 3, 3, 24, 24, 16, 3, 2, 1, 1, 0); /* a stem: al_conv_stem_forward */
    check_against_naive(pool, 2, 2, 3, 3, 515, 4, 3, 2, 1, 0, 0);  /* a stem past its width: the fused route */
    check_against_naive(pool, 2, 5, 3, 9, 8, 0, 3, 1, 1, 1, 1);   /* depthwise */
    check_against_naive(pool, 2, 5, 5, 12, 11, 0, 5, 2, 2, 0, 1);
    {
        /* finite differences through the backward by shares of the batch:
         * 7 samples on 3 threads (shares of 3, 2 and 2), with a conv below
         * whose input gradient the shares compute too */
        gc_opts o3 = o;
        o3.pool = pool[1];
        o3.batch = 7;
        const char *sh[] = {"input 8x12x12; conv 8 k=3 p=1; flatten; dense 2",
                            "input 4x12x12; conv 8 k=3 p=1; conv 6 k=3 s=2 p=1 bias=0; flatten; dense 2"};
        gradcheck_specs(sh, 2, &o3);
    }
    al_pool_free(pool[0]);
    al_pool_free(pool[1]);

    check_adjoint(2, 7, 6, 3, 1, 1);
    check_adjoint(3, 9, 8, 5, 2, 2);
    check_adjoint(1, 4, 5, 2, 3, 0);

    /* shapes, parameters, MACs */
    al_model *m;
    REQUIRE_OK(al_model_from_spec("input 3x28x28; conv 8 k=3 s=2 p=1; dwconv 3 p=1", 1, &m));
    CHECK(m->nodes[0].out.d[0] == 8 && m->nodes[0].out.d[1] == 14 && m->nodes[0].out.d[2] == 14);
    CHECK(m->nodes[0].params[0].ndim == 4 && m->nodes[0].params[0].dims[1] == 3 && m->nodes[0].params[0].dims[3] == 3);
    CHECK(m->nodes[1].params[0].dims[0] == 8 && m->nodes[1].params[0].dims[1] == 1);
    CHECK(al_model_num_params(m) == 8 * 3 * 9 + 8 + 8 * 9 + 8);
    CHECK(al_model_macs(m) == (uint64_t)8 * 14 * 14 * 27 + (uint64_t)8 * 14 * 14 * 9);
    /* PyTorch's default init bound 1/sqrt(C*k*k) */
    float bound = 1.0f / sqrtf(27.0f), mx = 0;
    for (size_t i = 0; i < m->nodes[0].params[0].n; i++) mx = fmaxf(mx, fabsf(m->nodes[0].params[0].w[i]));
    CHECK(mx <= bound && mx > 0.8f * bound);
    al_model_free(m);
    CHECK_STATUS(al_model_from_spec("input 1x2x2; conv 4 k=5", 1, &m), AL_ESHAPE);
    CHECK_STATUS(al_model_from_spec("input 8; conv 4 k=1", 1, &m), AL_ESHAPE);
    CHECK_STATUS(al_model_from_spec("input 1x2x2; dwconv 3", 1, &m), AL_ESHAPE);

    /* a frozen conv gets no weight gradient; the trainable one above does */
    REQUIRE_OK(al_model_from_spec("input 2x6x6; conv 3 k=3 p=1; conv 2 k=3", 3, &m));
    REQUIRE_OK(al_model_freeze(m, 1));
    REQUIRE_OK(al_model_plan(m, 2));
    float x[2 * 72], dl[2 * 2 * 16];
    al_rng r;
    al_rng_seed(&r, 1, 1);
    for (size_t i = 0; i < sizeof x / sizeof x[0]; i++) x[i] = al_rng_normal(&r);
    for (size_t i = 0; i < sizeof dl / sizeof dl[0]; i++) dl[i] = al_rng_normal(&r);
    const float *y;
    al_model_zero_grad(m);
    REQUIRE_OK(al_model_forward_from(m, NULL, 0, x, 2, 1, &y));
    REQUIRE_OK(al_model_backward(m, NULL, x, dl, 2));
    double g0 = 0, g1 = 0;
    for (int p = 0; p < 2; p++) {
        for (size_t i = 0; i < m->nodes[0].params[p].n; i++) g0 += fabs(m->nodes[0].params[p].g[i]);
        for (size_t i = 0; i < m->nodes[1].params[p].n; i++) g1 += fabs(m->nodes[1].params[p].g[i]);
    }
    CHECK(g0 == 0.0);
    CHECK(g1 > 0.0);
    al_model_free(m);
    TEST_END("test_conv");
}
