/* AVX2 + FMA micro-kernel, 6 x 16 tile (see kernels.h for the
 * contract). 12 ymm accumulators, 2 for the B row and 1 broadcast of A:
 * 15 of the 16 registers; each k step is 2 loads, 6 broadcasts, 12 FMAs. */

#include "kernels/kernels.h"

#include <immintrin.h>

/* mode: 0 beta = 0, 1 beta = 1, 2 any beta; multiplying by an alpha or
 * beta of 1 is exact, so skipping it changes no bit of the result. */
static inline void store_row(float *c, __m256 x0, __m256 x1, __m256 va, __m256 vb, int alpha1, int mode) {
    if (!alpha1) {
        x0 = _mm256_mul_ps(va, x0);
        x1 = _mm256_mul_ps(va, x1);
    }
    if (mode == 1) {
        x0 = _mm256_add_ps(x0, _mm256_loadu_ps(c));
        x1 = _mm256_add_ps(x1, _mm256_loadu_ps(c + 8));
    } else if (mode == 2) {
        x0 = _mm256_add_ps(x0, _mm256_mul_ps(vb, _mm256_loadu_ps(c)));
        x1 = _mm256_add_ps(x1, _mm256_mul_ps(vb, _mm256_loadu_ps(c + 8)));
    }
    _mm256_storeu_ps(c, x0);
    _mm256_storeu_ps(c + 8, x1);
}

#define ROW(i)                                                                                                  \
    do {                                                                                                        \
        __m256 a_ = _mm256_broadcast_ss(ap + (i));                                                              \
        c##i##_0 = _mm256_fmadd_ps(a_, b0, c##i##_0);                                                           \
        c##i##_1 = _mm256_fmadd_ps(a_, b1, c##i##_1);                                                           \
    } while (0)

#define STEP(ap, bp)                                                                                            \
    do {                                                                                                        \
        __m256 b0 = _mm256_loadu_ps(bp), b1 = _mm256_loadu_ps((bp) + 8);                                        \
        ROW(0);                                                                                                 \
        ROW(1);                                                                                                 \
        ROW(2);                                                                                                 \
        ROW(3);                                                                                                 \
        ROW(4);                                                                                                 \
        ROW(5);                                                                                                 \
    } while (0)

void al_gemm_ukr_avx2_6x16(long k, const float *a, const float *b, float *c, long ldc, float alpha, float beta) {
    __m256 c0_0 = _mm256_setzero_ps(), c0_1 = c0_0, c1_0 = c0_0, c1_1 = c0_0, c2_0 = c0_0, c2_1 = c0_0;
    __m256 c3_0 = c0_0, c3_1 = c0_0, c4_0 = c0_0, c4_1 = c0_0, c5_0 = c0_0, c5_1 = c0_0;
    for (int i = 0; i < 6; i++) _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
    long p = 0;
    for (; p + 4 <= k; p += 4) {
        const float *ap = a;
        STEP(ap, b);
        ap = a + 6;
        STEP(ap, b + 16);
        ap = a + 12;
        STEP(ap, b + 32);
        ap = a + 18;
        STEP(ap, b + 48);
        a += 24;
        b += 64;
    }
    for (; p < k; p++) {
        const float *ap = a;
        STEP(ap, b);
        a += 6;
        b += 16;
    }
    __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
    int alpha1 = alpha == 1.0f, mode = beta == 0.0f ? 0 : beta == 1.0f ? 1 : 2;
    store_row(c + 0 * ldc, c0_0, c0_1, va, vb, alpha1, mode);
    store_row(c + 1 * ldc, c1_0, c1_1, va, vb, alpha1, mode);
    store_row(c + 2 * ldc, c2_0, c2_1, va, vb, alpha1, mode);
    store_row(c + 3 * ldc, c3_0, c3_1, va, vb, alpha1, mode);
    store_row(c + 4 * ldc, c4_0, c4_1, va, vb, alpha1, mode);
    store_row(c + 5 * ldc, c5_0, c5_1, va, vb, alpha1, mode);
}
