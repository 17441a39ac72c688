/* AVX-512F micro-kernel, 12 x 32 tile (see kernels.h for the
 * contract). 24 zmm accumulators, 2 for the B row; A is broadcast straight
 * from memory into the FMA ({1to16} operand), so each k step is 2 loads and
 * 24 FMAs with 12 embedded broadcasts. */

#include "kernels/kernels.h"

#include <immintrin.h>

/* mode: 0 beta = 0, 1 beta = 1, 2 any beta; multiplying by an alpha or
 * beta of 1 is exact, so skipping it changes no bit of the result. */
static inline void store_row(float *c, __m512 x0, __m512 x1, __m512 va, __m512 vb, int alpha1, int mode) {
    if (!alpha1) {
        x0 = _mm512_mul_ps(va, x0);
        x1 = _mm512_mul_ps(va, x1);
    }
    if (mode == 1) {
        x0 = _mm512_add_ps(x0, _mm512_loadu_ps(c));
        x1 = _mm512_add_ps(x1, _mm512_loadu_ps(c + 16));
    } else if (mode == 2) {
        x0 = _mm512_add_ps(x0, _mm512_mul_ps(vb, _mm512_loadu_ps(c)));
        x1 = _mm512_add_ps(x1, _mm512_mul_ps(vb, _mm512_loadu_ps(c + 16)));
    }
    _mm512_storeu_ps(c, x0);
    _mm512_storeu_ps(c + 16, x1);
}

#define ROW(i)                                                                                                  \
    do {                                                                                                        \
        __m512 a_ = _mm512_set1_ps(ap[i]);                                                                      \
        c##i##_0 = _mm512_fmadd_ps(a_, b0, c##i##_0);                                                           \
        c##i##_1 = _mm512_fmadd_ps(a_, b1, c##i##_1);                                                           \
    } while (0)

#define STEP(ap, bp)                                                                                            \
    do {                                                                                                        \
        __m512 b0 = _mm512_loadu_ps(bp), b1 = _mm512_loadu_ps((bp) + 16);                                       \
        ROW(0);                                                                                                 \
        ROW(1);                                                                                                 \
        ROW(2);                                                                                                 \
        ROW(3);                                                                                                 \
        ROW(4);                                                                                                 \
        ROW(5);                                                                                                 \
        ROW(6);                                                                                                 \
        ROW(7);                                                                                                 \
        ROW(8);                                                                                                 \
        ROW(9);                                                                                                 \
        ROW(10);                                                                                                \
        ROW(11);                                                                                                \
    } while (0)

/* ep 0: the contract of kernels.h (alpha, beta); ep 1: al_sgemm_ep's
 * epilogue (kernels.h, ep_store_row). Each caller passes a constant ep. */
static inline __attribute__((always_inline)) void kernel(long k, const float *a, const float *b, float *c, long ldc,
                                                         float alpha, float beta, int ep, const float *rb,
                                                         const float *cb, int first, int act) {
    __m512 z = _mm512_setzero_ps();
    __m512 c0_0 = z, c0_1 = z, c1_0 = z, c1_1 = z, c2_0 = z, c2_1 = z, c3_0 = z, c3_1 = z;
    __m512 c4_0 = z, c4_1 = z, c5_0 = z, c5_1 = z, c6_0 = z, c6_1 = z, c7_0 = z, c7_1 = z;
    __m512 c8_0 = z, c8_1 = z, c9_0 = z, c9_1 = z, c10_0 = z, c10_1 = z, c11_0 = z, c11_1 = z;
    for (int i = 0; i < 12; i++) _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
    long p = 0;
    for (; p + 2 <= k; p += 2) {
        const float *ap = a;
        STEP(ap, b);
        ap = a + 12;
        STEP(ap, b + 32);
        a += 24;
        b += 64;
    }
    for (; p < k; p++) {
        const float *ap = a;
        STEP(ap, b);
        a += 12;
        b += 32;
    }
    if (ep) {
        AL_GEMM_EP_BEGIN;
        AL_GEMM_EP_ROWS_0_7;
        AL_GEMM_EP_ROW(8);
        AL_GEMM_EP_ROW(9);
        AL_GEMM_EP_ROW(10);
        AL_GEMM_EP_ROW(11);
        return;
    }
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    int alpha1 = alpha == 1.0f, mode = beta == 0.0f ? 0 : beta == 1.0f ? 1 : 2;
    store_row(c + 0 * ldc, c0_0, c0_1, va, vb, alpha1, mode);
    store_row(c + 1 * ldc, c1_0, c1_1, va, vb, alpha1, mode);
    store_row(c + 2 * ldc, c2_0, c2_1, va, vb, alpha1, mode);
    store_row(c + 3 * ldc, c3_0, c3_1, va, vb, alpha1, mode);
    store_row(c + 4 * ldc, c4_0, c4_1, va, vb, alpha1, mode);
    store_row(c + 5 * ldc, c5_0, c5_1, va, vb, alpha1, mode);
    store_row(c + 6 * ldc, c6_0, c6_1, va, vb, alpha1, mode);
    store_row(c + 7 * ldc, c7_0, c7_1, va, vb, alpha1, mode);
    store_row(c + 8 * ldc, c8_0, c8_1, va, vb, alpha1, mode);
    store_row(c + 9 * ldc, c9_0, c9_1, va, vb, alpha1, mode);
    store_row(c + 10 * ldc, c10_0, c10_1, va, vb, alpha1, mode);
    store_row(c + 11 * ldc, c11_0, c11_1, va, vb, alpha1, mode);
}

void al_gemm_ukr_avx512_12x32(long k, const float *a, const float *b, float *c, long ldc, float alpha, float beta) {
    kernel(k, a, b, c, ldc, alpha, beta, 0, NULL, NULL, 0, 0);
}

void al_gemm_ukr_avx512_12x32_ep(long k, const float *a, const float *b, float *c, long ldc, const float *rb,
                                 const float *cb, int first, int act) {
    kernel(k, a, b, c, ldc, 1.0f, 1.0f, 1, rb, cb, first, act);
}

