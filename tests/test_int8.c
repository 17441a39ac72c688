/* int8 kernels: every int8 GEMM variant this CPU has against the plain-C
 * reference (exact integer equality) on odd sizes (1, 7, 33, 257 and
 * K around the 16/64-byte chunk edges), padded leading dimensions, with and
 * without precomputed row sums, 1 and 2 threads; the extreme values +-127;
 * the activation quantizer's error bound; int8 im2row against the float
 * im2col; the VNNI quantize-and-pack loops against al_quantize_row_i8. */
#include "al_test.h"
#include "kernels/kernels.h"

static void rand_i8(al_rng *r, int8_t *v, size_t n, int extreme) {
    for (size_t i = 0; i < n; i++) {
        int x = (int)(al_rng_uniform(r) * 255.0f) - 127;
        if (x > 127) x = 127;
        if (extreme) x = al_rng_uniform(r) < 0.5f ? -127 : 127;
        v[i] = (int8_t)x;
    }
}

static int cases;

static int dot_cases;

/* The neon variant's sdot copy on (1), off (0) or back to the default
 * (-1); 0 where it cannot be so */
static int neon_dot(int on) {
#if defined(__aarch64__)
    return al_i8_neon_force_dot(on);
#else
    return on <= 0;
#endif
}

static void gemm_case(al_pool *pools[2], al_rng *r, int M, int N, int K, int pad, int extreme) {
    int lda = K + pad, ldb = K + 2 * pad, ldc = N + pad;
    int8_t *A = malloc((size_t)M * lda + 1), *B = malloc((size_t)N * ldb + 1);
    int32_t *want = malloc(sizeof(int32_t) * (size_t)M * ldc), *got = malloc(sizeof(int32_t) * (size_t)M * ldc);
    int32_t *bsum = malloc(sizeof(int32_t) * (size_t)N);
    rand_i8(r, A, (size_t)M * lda, extreme);
    rand_i8(r, B, (size_t)N * ldb, extreme);
    al_i8_rowsums(B, N, K, ldb, bsum);
    for (size_t i = 0; i < (size_t)M * ldc; i++) want[i] = -777;
    al_i8gemm_ref(M, N, K, A, lda, B, ldb, want, ldc);
    /* the neon variant with and without its sdot copy */
    for (int v = 0, dot = 0; v < AL_I8_NVARIANTS; dot = !dot, v += !dot) {
        if ((dot && v != AL_I8_NEON) || !al_i8_force((al_i8_variant)v) || !neon_dot(dot)) continue;
        for (int t = 0; t < 2; t++)
            for (int withsum = 0; withsum < 2; withsum++) {
                for (size_t i = 0; i < (size_t)M * ldc; i++) got[i] = -777; /* padding must stay */
                al_i8gemm(pools[t], M, N, K, A, lda, B, ldb, withsum ? bsum : NULL, got, ldc);
                int same = memcmp(got, want, sizeof(int32_t) * (size_t)M * ldc) == 0;
                if (!same)
                    fprintf(stderr, "i8gemm %s%s threads=%d M=%d N=%d K=%d pad=%d bsum=%d differs from ref\n",
                            al_i8_variant_name((al_i8_variant)v), dot ? " sdot" : "", t + 1, M, N, K, pad, withsum);
                dot_cases += dot;
                CHECK(same);
                cases++;
            }
    }
    al_i8_force(AL_I8_AUTO);
    neon_dot(-1);
    free(A);
    free(B);
    free(want);
    free(got);
    free(bsum);
}

static void test_gemm(void) {
    al_pool *pools[2] = {NULL, NULL};
    REQUIRE_OK(al_pool_new(2, &pools[1]));
    al_rng r;
    al_rng_seed(&r, 7, 1);
    static const int sz[] = {1, 7, 33, 257};
    static const int ks[] = {1, 7, 9, 15, 16, 17, 33, 63, 64, 65, 257, 576};
    for (size_t a = 0; a < 4; a++)
        for (size_t b = 0; b < 4; b++)
            for (size_t k = 0; k < sizeof ks / sizeof ks[0]; k++) {
                if (sz[a] * sz[b] * ks[k] > 3000000) continue;
                gemm_case(pools, &r, sz[a], sz[b], ks[k], (int)((a + k) % 3), 0);
            }
    /* all +-127: the largest sums, where a saturating variant would differ */
    gemm_case(pools, &r, 9, 5, 4099, 1, 1);
    gemm_case(pools, &r, 4, 4, 128, 0, 1);
    CHECK(cases > 100);
    /* where the CPU has sdot (qemu's default CPU does), its copy ran too */
    if (neon_dot(1)) {
        fprintf(stderr, "test_int8: checked the neon sdot copy (%d cases)\n", dot_cases);
        CHECK(dot_cases > 100);
    }
    neon_dot(-1);
    for (int v = 0; v < AL_I8_NVARIANTS; v++)
        if (al_i8_available((al_i8_variant)v)) fprintf(stderr, "test_int8: checked variant %s\n", al_i8_variant_name((al_i8_variant)v));
    /* AL_I8_AUTO is always available and the names are distinct */
    CHECK(al_i8_available(AL_I8_REF));
    CHECK(strcmp(al_i8_variant_name(AL_I8_REF), al_i8_variant_name(AL_I8_AVX2)) != 0);
    CHECK(!al_i8_force((al_i8_variant)AL_I8_NVARIANTS));
    al_pool_free(pools[1]);
}

/* |x - s*q| <= s/2 for every element, s = max|x|/127, q in [-127, 127]. */
static void test_quantize_row(void) {
    al_rng r;
    al_rng_seed(&r, 3, 2);
    for (int n = 1; n <= 257; n += 64) {
        float *x = malloc(sizeof(float) * (size_t)n);
        int8_t *q = malloc((size_t)n);
        float mx = 0.0f;
        for (int i = 0; i < n; i++) {
            x[i] = (al_rng_uniform(&r) - 0.5f) * 7.0f;
            mx = fmaxf(mx, fabsf(x[i]));
        }
        float s = al_quantize_row_i8(x, n, q);
        CHECK_NEAR(s, mx / 127.0f, 1e-7);
        int bad = 0, hit = 0;
        for (int i = 0; i < n; i++) {
            if (q[i] < -127) bad++;
            if (fabsf(x[i] - s * (float)q[i]) > 0.5f * s * 1.0001f) bad++;
            if (fabsf(x[i]) == mx && abs(q[i]) == 127) hit = 1;
        }
        CHECK(bad == 0);
        CHECK(hit); /* the largest magnitude maps to +-127 */
        free(x);
        free(q);
    }
    float z[5] = {0};
    int8_t qz[5] = {1, 1, 1, 1, 1};
    CHECK(al_quantize_row_i8(z, 5, qz) == 1.0f);
    CHECK(qz[0] == 0 && qz[4] == 0);
    /* NaN and infinities (a model file or an input may hold them; found by
     * fuzz_gguf): no undefined float-to-int conversion (UBSan), NaN gives
     * -127; with an infinity in the row the scale is inf, every finite
     * value 0 and the infinities (inf * 0 = NaN) -127 */
    float sp[4] = {1.0f, NAN, -2.0f, 0.5f};
    int8_t qs[4];
    CHECK(al_quantize_row_i8(sp, 4, qs) == 2.0f / 127.0f);
    CHECK((qs[0] == 63 || qs[0] == 64) && qs[1] == -127 && qs[2] == -127 && (qs[3] == 31 || qs[3] == 32));
    float si[3] = {INFINITY, 3.0f, -INFINITY};
    CHECK(isinf(al_quantize_row_i8(si, 3, qs)));
    CHECK(qs[0] == -127 && qs[1] == 0 && qs[2] == -127);
}

/* im2row's row (oy, ox) is im2col's column (oy, ox), on odd shapes. */
static void test_im2row(void) {
    al_rng r;
    al_rng_seed(&r, 5, 3);
    static const int shapes[][6] = {/* C H W k s p */
                                    {1, 1, 1, 1, 1, 0}, {3, 7, 7, 3, 1, 1}, {2, 7, 5, 3, 2, 1},
                                    {7, 29, 29, 3, 1, 0}, {1, 9, 8, 5, 3, 2}, {3, 4, 4, 3, 1, 2}};
    for (size_t t = 0; t < sizeof shapes / sizeof shapes[0]; t++) {
        int C = shapes[t][0], H = shapes[t][1], W = shapes[t][2], k = shapes[t][3], s = shapes[t][4], p = shapes[t][5];
        int Ho = (H + 2 * p - k) / s + 1, Wo = (W + 2 * p - k) / s + 1, P = Ho * Wo, CKK = C * k * k;
        int8_t *x = malloc((size_t)C * H * W), *rows = malloc((size_t)P * (CKK + 3));
        float *xf = malloc(sizeof(float) * (size_t)C * H * W), *col = malloc(sizeof(float) * (size_t)P * CKK);
        rand_i8(&r, x, (size_t)C * H * W, 0);
        for (int i = 0; i < C * H * W; i++) xf[i] = x[i];
        al_im2row_i8(x, C, H, W, k, s, p, rows, CKK + 3);
        al_im2col(xf, C, H, W, k, s, p, col, P);
        int bad = 0;
        for (int q = 0; q < P; q++)
            for (int c = 0; c < CKK; c++)
                if ((float)rows[(size_t)q * (CKK + 3) + c] != col[(size_t)c * P + q]) bad++;
        CHECK(bad == 0);
        free(x);
        free(rows);
        free(xf);
        free(col);
    }
}

#if defined(__x86_64__) || defined(_M_X64)
/* The AVX-512 VNNI quantize-and-pack loops with a dynamic scale are the
 * static ones at inv = 1 / al_i8_scale_avx512: bytes (+ 128) and scale
 * bit for bit al_quantize_row_i8's, on lengths around the 16- and 64-float
 * chunks, ties at half steps and the largest magnitude exactly 127. */
static void test_quantize_vnni(void) {
    if (!al_i8_available(AL_I8_VNNI)) return;
    al_rng r;
    al_rng_seed(&r, 11, 4);
    for (int n = 1; n <= 200; n += (n < 70 ? 1 : 13)) {
        for (int kind = 0; kind < 4; kind++) {
            int n4 = (n + 3) & ~3;
            float *x = malloc(sizeof(float) * (size_t)n);
            int8_t *ref = malloc((size_t)n);
            uint8_t *u = malloc((size_t)n4 + 64);
            for (int i = 0; i < n; i++)
                x[i] = kind == 0 ? 50.0f * (al_rng_uniform(&r) - 0.5f)
                     : kind == 1 ? (float)((int)al_rng_below(&r, 509) - 254) * 0.5f
                                 : 0.0f;
            if (kind == 1) x[n / 2] = -127.0f;
            if (kind == 3) { /* NaN, and for odd n an infinity */
                for (int i = 0; i < n; i++) x[i] = 9.0f * (al_rng_uniform(&r) - 0.5f);
                x[n / 3] = NAN;
                if (n % 2) x[n - 1] = n % 4 == 1 ? INFINITY : -INFINITY;
            }
            float s = al_quantize_row_i8(x, n, ref);
            CHECK(al_i8_scale_avx512(x, n) == s);
            memset(u, 0xAB, (size_t)n4 + 64);
            CHECK(al_i8_quantize_row_u8_vnni(x, n, u) == s);
            int bad = 0;
            for (int i = 0; i < n4; i++) bad += u[i] != (uint8_t)(i < n ? ref[i] + 128 : 128);
            for (int i = n4; i < n4 + 64; i++) bad += u[i] != 0xAB; /* nothing past the padded row */
            CHECK(bad == 0);
            /* the conv packing: the same n floats as C channels of P pixels */
            for (int C = 1; C <= 5; C += 2) {
                if (n % C) continue;
                long P = n / C;
                int C4 = (C + 3) / 4;
                uint32_t *w = malloc(sizeof(uint32_t) * (size_t)C4 * (size_t)P);
                CHECK(al_i8conv_quantize_vnni(x, C, P, w) == s);
                bad = 0;
                for (int cb = 0; cb < C4; cb++)
                    for (long q = 0; q < P; q++)
                        for (int j = 0; j < 4; j++) {
                            int c = 4 * cb + j;
                            unsigned want = c < C ? (unsigned)(ref[(size_t)c * P + q] + 128) : 128u;
                            bad += ((w[(size_t)cb * P + q] >> (8 * j)) & 0xFFu) != want;
                        }
                CHECK(bad == 0);
                free(w);
            }
            free(x);
            free(ref);
            free(u);
        }
    }
}
#endif

int main(void) {
    test_gemm();
    test_quantize_row();
    test_im2row();
#if defined(__x86_64__) || defined(_M_X64)
    test_quantize_vnni();
#endif
    TEST_END("test_int8");
}
