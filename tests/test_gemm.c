/* Every GEMM variant this CPU has against al_sgemm_ref: all four transpose
 * combinations, alpha/beta cases, odd and unit sizes, padded leading
 * dimensions, blocks larger than the kernels' KC/MC/NC, with 1, 2, 3 and 8
 * threads. Also: beta = 0 never reads C (NaN stays out), and the packed
 * variants give bitwise the same result for every thread count. */
#include "al_test.h"

#include <limits.h>
#include <stdint.h>

typedef struct gcase {
    int M, N, K;
} gcase;

static float *rand_mat(al_rng *r, size_t n) {
    float *m = malloc(sizeof(float) * (n ? n : 1));
    for (size_t i = 0; i < n; i++) m[i] = 2.0f * al_rng_uniform(r) - 1.0f;
    return m;
}

static int checked_cases;

/* The AVX-512 packers (kernels.h) against the plain rule, bitwise: every
 * width 1..32 (8 for t8; panels of 8 and 12 for nr), odd kc, a padded leading dimension whose extra
 * floats are NaN, so a packer that read past its rows or columns into the
 * panel's zero padding shows it. */
static void check_avx512_packs(void) {
#if defined(__x86_64__) || defined(_M_X64)
    if (!al_gemm_available(AL_GEMM_AVX512)) return;
    enum { KC = 37, LD = 45 };
    float *src = malloc(sizeof(float) * LD * 40), *got = malloc(sizeof(float) * 32 * 48),
          *want = malloc(sizeof(float) * 32 * 48);
    int bad = 0;
    for (int w = 1; w <= 32; w++) {
        /* n32: rows p of kc, columns c < w of each; t32/t8: rows r < w of kc */
        for (int i = 0; i < LD * 40; i++) src[i] = NAN;
        for (int p = 0; p < KC; p++)
            for (int c = 0; c < w; c++) src[p * LD + c] = (float)(p * 100 + c) - 0.5f;
        al_pack_n32_avx512(src, LD, w, KC, got);
        for (int p = 0; p < KC; p++)
            for (int c = 0; c < 32; c++) want[p * 32 + c] = c < w ? src[p * LD + c] : 0.0f;
        bad += memcmp(got, want, sizeof(float) * 32 * KC) != 0;
        for (int i = 0; i < LD * 40; i++) src[i] = NAN;
        for (int r = 0; r < w; r++)
            for (int p = 0; p < KC; p++) src[r * LD + p] = (float)(r * 100 + p) + 0.25f;
        al_pack_t32_avx512(src, LD, w, KC, got);
        for (int p = 0; p < KC; p++)
            for (int r = 0; r < 32; r++) want[p * 32 + r] = r < w ? src[r * LD + p] : 0.0f;
        bad += memcmp(got, want, sizeof(float) * 32 * KC) != 0;
        for (int R = 8; R <= 12; R += 4) { /* w > R: several panels side by side */
            const int np = (w + R - 1) / R;
            for (int i = 0; i < LD * 40; i++) src[i] = NAN;
            for (int p = 0; p < KC; p++)
                for (int c = 0; c < w; c++) src[p * LD + c] = (float)(p * 100 + c) + 0.75f;
            for (int i = 0; i < 32 * 48; i++) got[i] = -1.0f;
            al_pack_nr_avx512(src, LD, w, R, KC, got);
            for (int q = 0; q < np; q++)
                for (int p = 0; p < KC; p++)
                    for (int c = 0; c < R; c++)
                        want[(q * KC + p) * R + c] = q * R + c < w ? src[p * LD + q * R + c] : 0.0f;
            for (int i = np * R * KC; i < 32 * 48; i++) want[i] = -1.0f; /* nothing past the panels */
            bad += memcmp(got, want, sizeof(float) * 32 * 48) != 0;
        }
        for (int i = 0; i < LD * 40; i++) src[i] = NAN;
        for (int r = 0; r < w; r++)
            for (int p = 0; p < KC; p++) src[r * LD + p] = (float)(r * 100 + p) + 0.25f;
        if (w <= 8) {
            al_pack_t8_avx512(src, LD, w, KC, got);
            for (int p = 0; p < KC; p++)
                for (int r = 0; r < 8; r++) want[p * 8 + r] = r < w ? src[r * LD + p] : 0.0f;
            bad += memcmp(got, want, sizeof(float) * 8 * KC) != 0;
        }
    }
    CHECK(bad == 0);
    free(src);
    free(got);
    free(want);
#endif
}

/* Runs one shape/transpose/alpha/beta case on every variant and pool. */
#define NPOOLS 4 /* 1, 2, 3 and 8 threads */

static void run_case(al_pool *pools[NPOOLS], al_rng *r, int ta, int tb, gcase gc, float alpha, float beta, int pad) {
    int M = gc.M, N = gc.N, K = gc.K;
    int lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
    size_t na = (size_t)(ta ? K : M) * lda, nb = (size_t)(tb ? N : K) * ldb, nc = (size_t)M * ldc;
    float *A = rand_mat(r, na), *B = rand_mat(r, nb), *C0 = rand_mat(r, nc);
    float *want = malloc(sizeof(float) * nc), *got = malloc(sizeof(float) * nc), *got1 = malloc(sizeof(float) * nc);
    if (beta == 0.0f)
        for (size_t i = 0; i < nc; i++) C0[i] = NAN; /* must not leak into the result */
    memcpy(want, C0, sizeof(float) * nc);
    al_sgemm_ref(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, want, ldc);
    double tol = 2e-6 * (K + 1) * (fabs(alpha) + fabs(beta) + 1.0);
    for (int v = 0; v < AL_GEMM_NVARIANTS; v++) {
        if (!al_gemm_force((al_gemm_variant)v)) continue;
        for (int t = 0; t < NPOOLS; t++) {
            memcpy(got, C0, sizeof(float) * nc);
            al_pool *pool = pools[t];
            al_sgemm(pool, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, got, ldc);
            int bad = 0;
            for (int i = 0; i < M && bad < 3; i++)
                for (int j = 0; j < ldc; j++) {
                    size_t o = (size_t)i * ldc + j;
                    int ok;
                    if (j >= N) /* padding between rows is never touched */
                        ok = memcmp(&got[o], &C0[o], sizeof(float)) == 0;
                    else
                        ok = fabs((double)got[o] - want[o]) <= tol;
                    if (!ok && bad++ < 3)
                        fprintf(stderr,
                                "gemm %s threads=%d ta=%d tb=%d M=%d N=%d K=%d alpha=%g beta=%g pad=%d: "
                                "C[%d][%d] = %.8g, want %.8g\n",
                                al_gemm_variant_name((al_gemm_variant)v), al_pool_size(pool), ta, tb, M, N, K, alpha,
                                beta, pad,
                                i, j, got[o], j < N ? want[o] : C0[o]);
                }
            CHECK(bad == 0);
            if (t == 0) memcpy(got1, got, sizeof(float) * nc);
            /* the packed variants sum every element in the same order for
             * any thread count */
            if (t > 0 && v != AL_GEMM_REF) CHECK(memcmp(got1, got, sizeof(float) * nc) == 0);
            checked_cases++;
        }
    }
    al_gemm_force(AL_GEMM_AUTO);
    free(A);
    free(B);
    free(C0);
    free(want);
    free(got);
    free(got1);
}

/* A lent pack buffer of al_gemm_pack_floats(M, N, K) floats serves a
 * whole (one-thread) al_sgemm of any transposes and al_sgemm_bpack: no
 * request misses it, and the result is the one the thread's own buffer
 * gives, bit for bit. One float fewer misses where that orientation's
 * request is the bound. The bound never falls as M or N grows (a chunk
 * plan made for more samples serves fewer). Every packed variant. */
static void check_lent_bound(al_rng *r) {
    static const gcase shapes[] = {{64, 300, 100}, {33, 9, 300}, {7, 3, 700}, {32, 9, 1000}, {80, 288, 480},
                                   {480, 288, 80}, {257, 33, 257}, {7, 2100, 5}, {1, 257, 300}, {150, 2300, 600}};
    int tested = 0;
    for (int v = 1; v < AL_GEMM_NVARIANTS; v++) {
        if (!al_gemm_force((al_gemm_variant)v)) continue;
        for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
            const int M = shapes[i].M, N = shapes[i].N, K = shapes[i].K;
            const size_t need = al_gemm_pack_floats(M, N, K), nc = (size_t)M * N;
            float *A = rand_mat(r, (size_t)M * K), *B = rand_mat(r, (size_t)K * N), *own = rand_mat(r, nc),
                  *got = rand_mat(r, nc);
            void *raw = malloc(sizeof(float) * need + 64);
            float *buf = (float *)(((uintptr_t)raw + 63) & ~(uintptr_t)63);
            CHECK(need > 0 && need <= al_gemm_pack_floats_max());
            for (int ta = 0; ta < 2; ta++)
                for (int tb = 0; tb < 3; tb++) { /* tb 2: al_sgemm_bpack, B from the 1x1 "image" packer */
                    const al_im2col_src src = {B, K, 1, N, 1, 1, 0, 1, N};
                    for (int lend = 0; lend < 2; lend++) {
                        float *C = lend ? got : own;
                        const unsigned long before = al_gemm_lend_misses();
                        al_gemm_lend_buffer(lend ? buf : NULL, lend ? need : 0);
                        if (tb == 2)
                            al_sgemm_bpack(NULL, ta, M, N, K, 1.0f, A, ta ? M : K, al_im2col_pack, &src, 0.0f, C, N);
                        else
                            al_sgemm(NULL, ta, tb, M, N, K, 1.0f, A, ta ? M : K, B, tb ? K : N, 0.0f, C, N);
                        al_gemm_lend_buffer(NULL, 0);
                        CHECK(al_gemm_lend_misses() == before);
                    }
                    CHECK(memcmp(own, got, sizeof(float) * nc) == 0);
                    tested++;
                }
            free(raw);
            free(A);
            free(B);
            free(own);
            free(got);
        }
        /* 64 x 300 x 100 runs as it stands, and its request is the bound */
        float *A = rand_mat(r, 64 * 100), *B = rand_mat(r, 100 * 300), *C = rand_mat(r, 64 * 300);
        const size_t need = al_gemm_pack_floats(64, 300, 100);
        float *buf = malloc(sizeof(float) * need);
        const unsigned long before = al_gemm_lend_misses();
        al_gemm_lend_buffer(buf, need - 1);
        al_sgemm(NULL, 0, 0, 64, 300, 100, 1.0f, A, 100, B, 300, 0.0f, C, 300);
        al_gemm_lend_buffer(NULL, 0);
        CHECK(al_gemm_lend_misses() > before);
        free(A);
        free(B);
        free(C);
        free(buf);
        /* never less for a larger M or N; the _upto form also for a larger
         * K (a longer K is cut in more, shallower blocks, 257 in two of
         * 129: the exact bound falls there, which the sweep must see) */
        int falls = 0, upto_falls = 0, k_falls = 0;
        for (int K = 32; K <= 1400; K += 32)
            for (int M = 1; M <= 300; M += 11)
                for (int N = 1; N <= 2200; N += 23) {
                    const size_t f = al_gemm_pack_floats(M, N, K), u = al_gemm_pack_floats_upto(M, N, K);
                    falls += al_gemm_pack_floats(M + 11, N, K) < f || al_gemm_pack_floats(M, N + 23, K) < f ||
                             al_gemm_pack_floats(M + 1, N, K) < f || al_gemm_pack_floats(M, N + 1, K) < f;
                    upto_falls += u < f || al_gemm_pack_floats_upto(M + 11, N, K) < u ||
                                  al_gemm_pack_floats_upto(M, N + 23, K) < u ||
                                  al_gemm_pack_floats_upto(M, N, K + 1) < u || al_gemm_pack_floats_upto(M, N, K + 64) < u;
                    k_falls += al_gemm_pack_floats(M, N, K + 1) < f;
                }
        CHECK(falls == 0 && upto_falls == 0 && k_falls > 0);
        /* a product of 5 x 27 over K = 4,000 (a conv weight gradient's chunk
         * of 10 samples of 400 pixels) asks more than one over 5,200 (13
         * samples): the bound for at most 5,200 covers it */
        CHECK(al_gemm_pack_floats(5, 27, 4000) > al_gemm_pack_floats(5, 27, 5200) &&
              al_gemm_pack_floats(5, 27, 4000) <= al_gemm_pack_floats_upto(5, 27, 5200));
    }
    al_gemm_force(AL_GEMM_REF);
    CHECK(al_gemm_pack_floats(64, 300, 100) == 0); /* the reference packs nothing */
    al_gemm_force(AL_GEMM_AUTO);
    CHECK(al_gemm_pack_floats(0, 3, 3) == 0 && al_gemm_pack_floats(3, 3, 0) == 0 &&
          al_gemm_pack_floats(3, 3, (long)INT_MAX + 1) == 0);
    CHECK(tested >= 60);
}

/* al_sgemm_ep and al_sgemm_bpack_ep against what they replace: C filled
 * with each row's or each column's bias (NaN where there is none: beta 0
 * must not read it),
 * al_sgemm / al_sgemm_bpack with beta 1 (0), then al_act_rows. Bitwise, for
 * every variant (the AVX-512 kernels' own epilogue, the driver's per tile
 * elsewhere and on edge tiles, the reference's per region), on 1 and 3 and
 * 8 threads, with K in one and two blocks and K = 0 (C = act(bias), where
 * a bias of -0 shows ReLU's +0 and ReLU6's -0), full and edge tiles, thin
 * products that al_sgemm runs transposed, the padding between rows
 * untouched. */
static void ep_expect(int M, int N, const al_gemm_ep *ep, float *C, int ldc) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++)
            C[(size_t)i * ldc + j] = ep->row_bias ? ep->row_bias[i] : ep->col_bias ? ep->col_bias[j] : NAN;
}

static void check_epilogue(al_pool *pools[NPOOLS], al_rng *r) {
    static const gcase shapes[] = {{12, 32, 16}, {24, 64, 300}, {7, 33, 5}, {96, 100, 16}, {13, 70, 257},
                                   {8, 2304, 48}, {5, 9, 0},   {40, 96, 512},
                                   /* thin: al_sgemm swaps them, and so the epilogue runs after it */
                                   {32, 9, 300}, {32, 10, 256}};
    int cases = 0;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int M = shapes[s].M, N = shapes[s].N, K = shapes[s].K, ta = (int)s % 2, tb = (int)(s / 2) % 2;
        const int lda = (ta ? M : K) + 1, ldb = (tb ? K : N) + 2, ldc = N + 3;
        size_t na = (size_t)(ta ? K : M) * lda, nb = (size_t)(tb ? N : K) * ldb, nc = (size_t)M * ldc;
        float *A = rand_mat(r, na), *B = rand_mat(r, nb), *C0 = rand_mat(r, nc), *bias = rand_mat(r, (size_t)M);
        float *cbias = rand_mat(r, (size_t)N);
        float *want = malloc(sizeof(float) * nc), *got = malloc(sizeof(float) * nc);
        for (int i = 0; i < M; i++) bias[i] *= 8.0f; /* outputs on both sides of 0 and 6 */
        bias[0] = -0.0f;
        for (int j = 0; j < N; j++) cbias[j] *= 8.0f;
        for (int v = 0; v < AL_GEMM_NVARIANTS; v++) {
            if (!al_gemm_force((al_gemm_variant)v)) continue;
            for (int t = 0; t < NPOOLS; t += 2) {
                al_pool *pool = pools[t == 2 ? 3 : t];
                for (int withb = 0; withb < 3; withb++) /* none, a row's, a column's */
                    for (int act = 0; act < 3; act++) {
                        al_gemm_ep ep = {withb == 1 ? bias : NULL, withb == 2 ? cbias : NULL, act};
                        memcpy(want, C0, sizeof(float) * nc);
                        ep_expect(M, N, &ep, want, ldc);
                        al_sgemm(pool, ta, tb, M, N, K, 1.0f, A, lda, B, ldb, withb ? 1.0f : 0.0f, want, ldc);
                        al_act_rows(act, want, (size_t)ldc, M, N);
                        memcpy(got, C0, sizeof(float) * nc);
                        al_sgemm_ep(pool, ta, tb, M, N, K, A, lda, B, ldb, &ep, got, ldc);
                        int same = memcmp(got, want, sizeof(float) * nc) == 0;
                        if (!same)
                            fprintf(stderr, "gemm_ep %s threads=%d ta=%d tb=%d M=%d N=%d K=%d bias=%d act=%d differs\n",
                                    al_gemm_variant_name((al_gemm_variant)v), al_pool_size(pool), ta, tb, M, N, K,
                                    withb, act);
                        CHECK(same);
                        cases++;
                    }
            }
        }
        if (K == 0) { /* act(bias) exactly: ReLU turns -0 into +0, ReLU6 keeps it */
            al_gemm_force(AL_GEMM_AUTO);
            al_gemm_ep relu = {bias, NULL, 1}, relu6 = {bias, NULL, 2};
            al_sgemm_ep(NULL, ta, tb, M, N, K, A, lda, B, ldb, &relu, got, ldc);
            CHECK(got[0] == 0.0f && !signbit(got[0]));
            al_sgemm_ep(NULL, ta, tb, M, N, K, A, lda, B, ldb, &relu6, got, ldc);
            CHECK(got[0] == 0.0f && signbit(got[0]));
            for (int i = 1; i < M; i++) CHECK(got[(size_t)i * ldc] == AL_MIN(6.0f, AL_MAX(0.0f, bias[i])));
        }
        free(A);
        free(B);
        free(C0);
        free(bias);
        free(cbias);
        free(want);
        free(got);
    }
    /* the implicit-GEMM form: a 3x3 conv packed from the image */
    const int C = 5, H = 9, W = 11, F = 14, P = H * W, CK = C * 9;
    float *x = rand_mat(r, (size_t)C * H * W), *w = rand_mat(r, (size_t)F * CK), *bias = rand_mat(r, (size_t)F);
    float *want = malloc(sizeof(float) * F * P), *got = malloc(sizeof(float) * F * P);
    for (int i = 0; i < F; i++) bias[i] *= 4.0f;
    al_im2col_src src = {x, C, H, W, 3, 1, 1, H, W};
    for (int v = 0; v < AL_GEMM_NVARIANTS; v++) {
        if (!al_gemm_force((al_gemm_variant)v)) continue;
        for (int t = 0; t < NPOOLS; t += 3)
            for (int act = 0; act < 3; act++) {
                al_gemm_ep ep = {bias, NULL, act};
                ep_expect(F, P, &ep, want, P);
                al_sgemm_bpack(pools[t], 0, F, P, CK, 1.0f, w, CK, al_im2col_pack, &src, 1.0f, want, P);
                al_act_rows(act, want, (size_t)P, F, P);
                al_sgemm_bpack_ep(pools[t], 0, F, P, CK, w, CK, al_im2col_pack, &src, &ep, got, P);
                CHECK(memcmp(got, want, sizeof(float) * F * P) == 0);
                cases++;
            }
    }
    al_gemm_force(AL_GEMM_AUTO);
    free(x);
    free(w);
    free(bias);
    free(want);
    free(got);
    CHECK(cases > 100);
}

int main(void) {
    static const int nthreads[NPOOLS] = {1, 2, 3, 8};
    al_pool *pools[NPOOLS];
    for (int i = 0; i < NPOOLS; i++) REQUIRE_OK(al_pool_new(nthreads[i], &pools[i]));
    al_rng r;
    al_rng_seed(&r, 1234, 1);

    /* which variants this run covers */
    int nvar = 0;
    for (int v = 0; v < AL_GEMM_NVARIANTS; v++)
        if (al_gemm_available((al_gemm_variant)v)) {
            fprintf(stderr, "test_gemm: variant %s\n", al_gemm_variant_name((al_gemm_variant)v));
            nvar++;
        }
    CHECK(nvar >= 2); /* ref and the portable C kernel at least */
#if defined(__aarch64__)
    /* every aarch64 CPU has NEON: it must be checked below, and chosen */
    CHECK(al_gemm_available(AL_GEMM_NEON));
    if (!getenv("AL_GEMM")) CHECK(al_gemm_current() == AL_GEMM_NEON);
#endif
    CHECK(al_gemm_force(AL_GEMM_NVARIANTS) == 0);
    CHECK(al_gemm_force(AL_GEMM_C) == 1 && al_gemm_current() == AL_GEMM_C);
    CHECK(al_gemm_force(AL_GEMM_AUTO) == 1);
    check_avx512_packs();
    check_lent_bound(&r);
    check_epilogue(pools, &r);

    static const int small[] = {1, 7, 33};
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            /* every combination of small sizes */
            for (int a = 0; a < 3; a++)
                for (int b = 0; b < 3; b++)
                    for (int c = 0; c < 3; c++) {
                        gcase g = {small[a], small[b], small[c]};
                        run_case(pools, &r, ta, tb, g, 1.0f, 0.0f, (a + b + c) % 3);
                    }
            /* alpha / beta */
            gcase g = {33, 7, 33};
            run_case(pools, &r, ta, tb, g, 1.0f, 1.0f, 1);
            run_case(pools, &r, ta, tb, g, -0.5f, 2.0f, 0);
            run_case(pools, &r, ta, tb, g, 2.0f, 0.0f, 5);
            run_case(pools, &r, ta, tb, g, 0.0f, 0.5f, 0); /* only scales C */
            /* K = 0: C = beta * C */
            gcase k0 = {7, 33, 0};
            run_case(pools, &r, ta, tb, k0, 1.0f, 0.5f, 1);
            /* larger than one block in each of K (KC 256), M (MC 144), and
             * N (NC 2048), non-square, odd leading dimensions */
            gcase big[] = {{257, 33, 257}, {33, 257, 257}, {257, 257, 7}, {1, 257, 300}, {257, 1, 33}, {7, 2100, 5},
                           /* thin: run as C^T = B^T A^T (conv's dW for one channel is 32 x 9) */
                           {33, 9, 300}, {7, 3, 700}, {32, 9, 1000}};
            for (size_t i = 0; i < sizeof big / sizeof big[0]; i++)
                run_case(pools, &r, ta, tb, big[i], i % 2 ? 1.0f : 0.75f, i % 3 ? 0.0f : -1.0f, (int)i % 4);
        }
    /* the batch-sized shapes the layers use */
    gcase layer[] = {{32, 256, 129}, {64, 196, 288}, {128, 49, 576}, {32, 9, 6272}};
    for (size_t i = 0; i < sizeof layer / sizeof layer[0]; i++) run_case(pools, &r, 0, (int)i % 2, layer[i], 1.0f, 1.0f, 0);
    /* MobileNetV2-0.5's 1x1 convolutions at 3x3, batch 32 (forward, input
     * and weight gradients): grids of 10 x 9 and 40 x 9 tiles over 3 and 8
     * threads, K in one, two and five blocks */
    gcase mnv2[] = {{80, 288, 480}, {480, 288, 80}, {160, 288, 1280}, {80, 480, 288}};
    for (size_t i = 0; i < sizeof mnv2 / sizeof mnv2[0]; i++)
        run_case(pools, &r, (int)i % 2, (int)(i / 2) % 2, mnv2[i], 1.0f, i % 2 ? 1.0f : 0.0f, 0);
    CHECK(checked_cases > 0);
    for (int i = 0; i < NPOOLS; i++) al_pool_free(pools[i]);
    TEST_END("test_gemm");
}
