/* The depthwise-conv kernels (kernels.h: al_dw_*) and the 1x1 conv of a
 * MobileNet block under every kernel variant the CPU has.
 *
 * 1. Per plane, every available variant (avx512, avx2, neon) against the
 *    plain reference: forward, input gradient, weight and bias gradients;
 *    odd sizes (1 .. 29, non-square), k 1/3/5/7, stride 1/2 (and 3, which
 *    the reference takes), padding 0 .. 3. Outputs start as NaN so every
 *    element must be written. Tolerance: 1e-6 per summed term plus 1e-5,
 *    absolute (values are N(0,1)): forward and dx sum k*k terms, dw and db
 *    Ho*Wo terms; the variants use fused multiply-adds and another order.
 *    al_dw_forward_planes (several planes, the channel wrapping, each
 *    activation) and al_dw_backward_channels (a range of channels, each
 *    gradient left out in turn) the same way: the avx512 variant's
 *    small-plane forms run there.
 * 2. A block "1x1 expand; depthwise 3x3 stride 2; 1x1 project" with odd
 *    channel counts: forward and backward (all gradients) with 1, 2 and 3
 *    threads are bitwise the same; under each GEMM and depthwise variant
 *    they match the reference variants (1e-4 relative to the largest
 *    magnitude: the 1x1 GEMMs sum up to 13 channels, dw up to 2 x 49). */
#include "al_test.h"
#include "kernels/kernels.h"

static double maxdiff(const float *a, const float *b, size_t n) {
    double e = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        e = d == d ? fmax(e, d) : INFINITY;
    }
    return e;
}

static int ncases;

/* The plane's geometry; 0 when the kernel does not fit the padded plane. */
static int geom_of(int H, int W, int k, int s, int p, al_dw_geom *g) {
    if (H + 2 * p < k || W + 2 * p < k) return 0;
    al_dw_geom t = {H, W, k, s, p, (H + 2 * p - k) / s + 1, (W + 2 * p - k) / s + 1};
    *g = t;
    return 1;
}

/* al_dw_forward_planes: planes [1, 6) of 7 (3 channels, so the channel
 * wraps inside the range), with each activation, against the reference
 * per plane and the plain activation, and bitwise the same variant's
 * al_dw_forward and activation pass; planes outside the range untouched */
static void planes_case(al_dw_variant v, int H, int W, int k, int s, int p) {
    al_dw_geom g;
    if (!geom_of(H, W, k, s, p, &g)) return;
    const int C = 3, np = 7, pl0 = 1, pl1 = 6;
    size_t xs = (size_t)H * W, ys = (size_t)g.Ho * g.Wo, ks = (size_t)k * k;
    float *x = malloc(sizeof(float) * np * xs), *w = malloc(sizeof(float) * C * ks), b[3];
    float *y0 = malloc(sizeof(float) * np * ys), *y1 = malloc(sizeof(float) * np * ys);
    al_rng r;
    al_rng_seed(&r, (uint64_t)(H * 1000 + W * 10 + k), (uint64_t)(s * 10 + p + 7));
    for (size_t i = 0; i < np * xs; i++) x[i] = al_rng_normal(&r);
    for (size_t i = 0; i < C * ks; i++) w[i] = al_rng_normal(&r);
    for (int c = 0; c < C; c++) b[c] = al_rng_normal(&r);
    for (int act = 0; act <= 2; act++)
        for (int bias = 0; bias <= 1; bias++) {
            for (size_t i = 0; i < np * ys; i++) y0[i] = y1[i] = -3.0f;
            for (int pl = pl0; pl < pl1; pl++) {
                float *yp = y0 + (size_t)pl * ys;
                al_dw_forward_ref(&g, x + (size_t)pl * xs, w + (size_t)(pl % C) * ks, bias ? b[pl % C] : 0.0f, yp);
                if (act == 1) al_relu_inplace_ref(yp, ys);
                if (act == 2) al_relu6_inplace_ref(yp, ys);
            }
            for (size_t i = (size_t)pl0 * ys; i < (size_t)pl1 * ys; i++) memset(&y1[i], 0xff, sizeof(float));
            CHECK(al_dw_force(v));
            al_dw_forward_planes(&g, C, pl0, pl1, x, w, bias ? b : NULL, act, y1);
            /* the activation fused into the variant's kernel: bitwise its
             * plane forward, then the activation as a pass */
            int same = 1;
            for (int pl = pl0; pl < pl1; pl++) {
                float *y2 = malloc(sizeof(float) * ys);
                al_dw_forward(&g, x + (size_t)pl * xs, w + (size_t)(pl % C) * ks, bias ? b[pl % C] : 0.0f, y2);
                if (act == 1) al_relu_inplace(y2, ys);
                if (act == 2) al_relu6_inplace(y2, ys);
                same &= memcmp(y2, y1 + (size_t)pl * ys, sizeof(float) * ys) == 0;
                free(y2);
            }
            if (!same)
                fprintf(stderr, "planes %s H=%d W=%d k=%d s=%d p=%d act %d bias %d: not bitwise the unfused forward\n",
                        al_dw_variant_name(v), H, W, k, s, p, act, bias);
            CHECK(same);
            al_dw_force(AL_DW_AUTO);
            double e = maxdiff(y0, y1, np * ys), tk = 1e-6 * (double)ks + 1e-5;
            if (!(e <= tk))
                fprintf(stderr, "planes %s H=%d W=%d k=%d s=%d p=%d act %d bias %d: y %g (tol %g)\n",
                        al_dw_variant_name(v), H, W, k, s, p, act, bias, e, tk);
            CHECK(e <= tk);
        }
    free(x);
    free(w);
    free(y0);
    free(y1);
}

/* al_dw_backward_channels: channels [1, 3) of 4, 3 samples, against the
 * reference per channel; dx overwritten in the range and untouched outside
 * it, dw and db accumulated; then with dx, dw, db each left out */
static void channels_case(al_dw_variant v, int H, int W, int k, int s, int p) {
    al_dw_geom g;
    if (!geom_of(H, W, k, s, p, &g)) return;
    const int C = 4, n = 3, c0 = 1, c1 = 3;
    size_t xs = (size_t)H * W, ys = (size_t)g.Ho * g.Wo, ks = (size_t)k * k, nx = (size_t)n * C * xs;
    size_t ny = (size_t)n * C * ys;
    float *x = malloc(sizeof(float) * nx), *dy = malloc(sizeof(float) * ny), *w = malloc(sizeof(float) * C * ks);
    float *dx0 = malloc(sizeof(float) * nx), *dx1 = malloc(sizeof(float) * nx);
    float *dw0 = malloc(sizeof(float) * C * ks), *dw1 = malloc(sizeof(float) * C * ks), db0[4], db1[4];
    al_rng r;
    al_rng_seed(&r, (uint64_t)(H * 1000 + W * 10 + k), (uint64_t)(s * 10 + p + 3));
    for (size_t i = 0; i < nx; i++) x[i] = al_rng_normal(&r);
    for (size_t i = 0; i < ny; i++) dy[i] = al_rng_normal(&r);
    for (size_t i = 0; i < C * ks; i++) w[i] = al_rng_normal(&r);
    double tk = 1e-6 * (double)ks + 1e-5, tp = 1e-6 * (double)(n * ys) + 1e-5;
    for (int want = 0; want < 4; want++) { /* 0: all; 1: no dx; 2: no dw; 3: no db */
        for (size_t i = 0; i < nx; i++) dx0[i] = dx1[i] = 7.0f;
        for (size_t i = 0; i < C * ks; i++) dw0[i] = dw1[i] = 0.25f;
        for (int c = 0; c < C; c++) db0[c] = db1[c] = 0.5f;
        for (int c = c0; c < c1; c++)
            al_dw_backward_ref(&g, n, (long)(C * xs), (long)(C * ys), x + c * xs, dy + c * ys, w + c * ks,
                               want == 1 ? NULL : dx0 + c * xs, want == 2 ? NULL : dw0 + c * ks,
                               want == 3 ? NULL : db0 + c);
        for (int i = 0; i < n; i++)
            for (int c = c0; c < c1 && want != 1; c++) memset(dx1 + ((size_t)i * C + c) * xs, 0xff, sizeof(float) * xs);
        CHECK(al_dw_force(v));
        al_dw_backward_channels(&g, C, c0, c1, n, x, dy, w, want == 1 ? NULL : dx1, want == 2 ? NULL : dw1,
                                want == 3 ? NULL : db1);
        al_dw_force(AL_DW_AUTO);
        double ex = maxdiff(dx0, dx1, nx), ew = maxdiff(dw0, dw1, C * ks), eb = maxdiff(db0, db1, C);
        if (!(ex <= tk && ew <= tp && eb <= tp))
            fprintf(stderr, "channels %s H=%d W=%d k=%d s=%d p=%d want %d: dx %g dw %g db %g (tol %g, %g)\n",
                    al_dw_variant_name(v), H, W, k, s, p, want, ex, ew, eb, tk, tp);
        CHECK(ex <= tk);
        CHECK(ew <= tp);
        CHECK(eb <= tp);
    }
    free(x);
    free(dy);
    free(w);
    free(dx0);
    free(dx1);
    free(dw0);
    free(dw1);
}

/* two samples of one channel, planes XS = H*W + 3 and YS = Ho*Wo + 5 floats
 * apart (the gaps must stay untouched) */
static void plane_case(al_dw_variant v, int H, int W, int k, int s, int p) {
    al_dw_geom g;
    if (!geom_of(H, W, k, s, p, &g)) return;
    const int n = 2;
    size_t xs = (size_t)H * W, ys = (size_t)g.Ho * g.Wo, ks = (size_t)k * k, XS = xs + 3, YS = ys + 5;
    size_t nx = n * XS, ny = n * YS;
    float *x = malloc(sizeof(float) * nx), *dy = malloc(sizeof(float) * ny), *w = malloc(sizeof(float) * ks);
    float *y0 = malloc(sizeof(float) * ys), *y1 = malloc(sizeof(float) * ys);
    float *dx0 = malloc(sizeof(float) * nx), *dx1 = malloc(sizeof(float) * nx);
    float dw0[49], dw1[49], db0 = 0.5f, db1 = 0.5f;
    al_rng r;
    al_rng_seed(&r, (uint64_t)(H * 1000 + W * 10 + k), (uint64_t)(s * 10 + p));
    for (size_t i = 0; i < nx; i++) x[i] = al_rng_normal(&r);
    for (size_t i = 0; i < ny; i++) dy[i] = al_rng_normal(&r);
    for (size_t i = 0; i < ks; i++) {
        w[i] = al_rng_normal(&r);
        dw0[i] = dw1[i] = 0.25f; /* gradients accumulate */
    }
    float b = al_rng_normal(&r);
    memset(y1, 0xff, sizeof(float) * ys);
    for (size_t i = 0; i < nx; i++) dx0[i] = dx1[i] = 7.0f; /* the gaps */
    for (int i = 0; i < n; i++) memset(dx1 + i * XS, 0xff, sizeof(float) * xs); /* NaN: must be written */
    al_dw_forward_ref(&g, x + XS, w, b, y0);
    al_dw_backward_ref(&g, n, (long)XS, (long)YS, x, dy, w, dx0, dw0, &db0);
    CHECK(al_dw_force(v));
    al_dw_forward(&g, x + XS, w, b, y1);
    al_dw_backward(&g, n, (long)XS, (long)YS, x, dy, w, dx1, dw1, &db1);
    al_dw_force(AL_DW_AUTO);
    double tk = 1e-6 * (double)ks + 1e-5, tp = 1e-6 * (double)(n * ys) + 1e-5;
    double ey = maxdiff(y0, y1, ys), ex = maxdiff(dx0, dx1, nx), ew = maxdiff(dw0, dw1, ks);
    double eb = fabs((double)db0 - db1);
    if (!(ey <= tk && ex <= tk && ew <= tp && eb <= tp))
        fprintf(stderr, "%s H=%d W=%d k=%d s=%d p=%d: y %g dx %g dw %g db %g (tol %g, %g)\n", al_dw_variant_name(v), H,
                W, k, s, p, ey, ex, ew, eb, tk, tp);
    CHECK(ey <= tk);
    CHECK(ex <= tk);
    CHECK(ew <= tp);
    CHECK(eb <= tp);
    /* dx and dw not wanted: db still summed */
    float db2 = 0.0f;
    al_dw_force(v);
    al_dw_backward(&g, n, (long)XS, (long)YS, x, dy, w, NULL, NULL, &db2);
    al_dw_force(AL_DW_AUTO);
    CHECK(fabs((double)db2 - (db0 - 0.5)) <= tp);
    ncases++;
    free(x);
    free(dy);
    free(w);
    free(y0);
    free(y1);
    free(dx0);
    free(dx1);
}

/* forward + backward of the block; out: y, then every gradient, then dx */
static size_t run_block(al_model *m, al_pool *pool, const float *x, const float *dl, int n, float *out) {
    const float *y;
    REQUIRE_OK(al_model_forward_from(m, pool, 0, x, n, 1, &y));
    size_t ny = (size_t)n * al_shape_numel(&m->nodes[m->nnodes - 1].out), o = 0;
    memcpy(out, y, sizeof(float) * ny);
    o += ny;
    al_model_zero_grad(m);
    REQUIRE_OK(al_model_backward(m, pool, x, dl, n));
    for (int i = 0; i < m->nnodes; i++)
        for (int j = 0; j < m->nodes[i].nparams; j++) {
            memcpy(out + o, m->nodes[i].params[j].g, sizeof(float) * m->nodes[i].params[j].n);
            o += m->nodes[i].params[j].n;
        }
    size_t nx = (size_t)n * al_shape_numel(&m->nodes[0].in);
    memcpy(out + o, m->dinput, sizeof(float) * nx);
    return o + nx;
}

static void block_case(const char *spec, int n) {
    al_model *m;
    REQUIRE_OK(al_model_from_spec(spec, 3, &m));
    m->want_input_grad = 1;
    REQUIRE_OK(al_model_plan(m, n));
    size_t nx = (size_t)n * al_shape_numel(&m->nodes[0].in), ny = (size_t)n * al_shape_numel(&m->nodes[m->nnodes - 1].out);
    size_t tot = ny + nx + al_model_num_params(m);
    float *x = malloc(sizeof(float) * nx), *dl = malloc(sizeof(float) * ny);
    float *ref = malloc(sizeof(float) * tot), *got = malloc(sizeof(float) * tot), *t1 = malloc(sizeof(float) * tot);
    al_rng r;
    al_rng_seed(&r, 17, 4);
    for (size_t i = 0; i < nx; i++) x[i] = al_rng_normal(&r);
    for (size_t i = 0; i < ny; i++) dl[i] = al_rng_normal(&r);
    al_pool *pools[3];
    for (int t = 0; t < 3; t++) REQUIRE_OK(al_pool_new(t + 1, &pools[t]));
    al_gemm_force(AL_GEMM_REF);
    al_dw_force(AL_DW_REF);
    CHECK(run_block(m, NULL, x, dl, n, ref) == tot);
    double mag = 0.0;
    for (size_t i = 0; i < tot; i++) mag = fmax(mag, fabs(ref[i]));
    for (int gv = AL_GEMM_REF; gv < AL_GEMM_NVARIANTS; gv++) {
        if (!al_gemm_available((al_gemm_variant)gv)) continue;
        for (int dv = AL_DW_REF; dv < AL_DW_NVARIANTS; dv++) {
            if (!al_dw_available((al_dw_variant)dv)) continue;
            al_gemm_force((al_gemm_variant)gv);
            al_dw_force((al_dw_variant)dv);
            for (int t = 0; t < 3; t++) {
                memset(got, 0xff, sizeof(float) * tot);
                run_block(m, pools[t], x, dl, n, t ? got : t1);
                if (t) {
                    int same = memcmp(got, t1, sizeof(float) * tot) == 0;
                    if (!same)
                        fprintf(stderr, "%s: gemm %s dw %s: %d threads differ from 1\n", spec,
                                al_gemm_variant_name((al_gemm_variant)gv), al_dw_variant_name((al_dw_variant)dv), t + 1);
                    CHECK(same);
                }
            }
            double e = maxdiff(ref, t1, tot);
            if (!(e <= 1e-4 * mag))
                fprintf(stderr, "%s: gemm %s dw %s: differs from the reference by %g (largest %g)\n", spec,
                        al_gemm_variant_name((al_gemm_variant)gv), al_dw_variant_name((al_dw_variant)dv), e, mag);
            CHECK(e <= 1e-4 * mag);
            ncases++;
        }
    }
    al_gemm_force(AL_GEMM_AUTO);
    al_dw_force(AL_DW_AUTO);
    for (int t = 0; t < 3; t++) al_pool_free(pools[t]);
    free(x);
    free(dl);
    free(ref);
    free(got);
    free(t1);
    al_model_free(m);
}

int main(void) {
    CHECK(al_dw_available(AL_DW_REF));
    CHECK(!al_dw_force((al_dw_variant)AL_DW_NVARIANTS));
    int nvar = 0;
    for (int v = AL_DW_AVX2; v < AL_DW_NVARIANTS; v++) {
        if (!al_dw_available((al_dw_variant)v)) continue;
        nvar++;
        int sizes[][2] = {{1, 1}, {3, 3}, {5, 7}, {7, 5}, {12, 12}, {13, 11}, {6, 29}, {24, 24}, {17, 33},
                          {6, 6}, {2, 9}, {16, 4}, {33, 8}, {4, 2}};
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
            for (int k = 1; k <= 7; k += 2)
                for (int s = 1; s <= 3; s++)
                    for (int p = 0; p <= 3; p++) {
                        plane_case((al_dw_variant)v, sizes[i][0], sizes[i][1], k, s, p);
                        planes_case((al_dw_variant)v, sizes[i][0], sizes[i][1], k, s, p);
                        channels_case((al_dw_variant)v, sizes[i][0], sizes[i][1], k, s, p);
                    }
    }
#if defined(__x86_64__) || defined(__aarch64__)
    CHECK(nvar > 0); /* a fast variant exists on these machines */
#endif
    fprintf(stderr, "test_dwconv: %d fast variant(s), current %s\n", nvar, al_dw_variant_name(al_dw_current()));
    block_case("input 5x13x11; conv 13 k=1; dwconv 3 s=2 p=1; conv 7 k=1", 3);
    block_case("input 3x9x9; conv 11 k=1 act=relu6; dwconv 3 p=1; relu6; conv 5 k=1", 4);
    block_case("input 7x6x6; dwconv 5 p=2; conv 9 k=1", 2);
    CHECK(ncases > 0);
    if (al_test_failures) {
        fprintf(stderr, "test_dwconv: %d failure(s)\n", al_test_failures);
        return 1;
    }
    fprintf(stderr, "test_dwconv: %d cases ok\n", ncases);
    return 0;
}
