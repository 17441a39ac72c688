/* AVX-512F micro-kernel, 8 x 32 tile (see kernels.h for the
 * contract): the 12x32 kernel's loop with 8 rows, 16 zmm accumulators.
 * The driver takes it instead of 12x32 when M is a multiple of 8 but not
 * of 12 (the reference CNN's 32 and 64 filters), where 12-row tiles would
 * compute padding rows: 64 rows are 6 tiles of 12 (72 rows) or 8 of 8.
 * Each element is still one sum over p in order, so results equal the
 * 12x32 kernel's bit for bit. */

#include "kernels/kernels.h"

#include <immintrin.h>

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
    } while (0)

/* alpha and beta as in the 12x32 kernel: multiplying by 1 is skipped (exact) */
#define STORE(i)                                                                                                \
    do {                                                                                                        \
        float *c_ = c + (i) * ldc;                                                                              \
        __m512 x0 = c##i##_0, x1 = c##i##_1;                                                                    \
        if (!alpha1) {                                                                                          \
            x0 = _mm512_mul_ps(va, x0);                                                                         \
            x1 = _mm512_mul_ps(va, x1);                                                                         \
        }                                                                                                       \
        if (mode == 1) {                                                                                        \
            x0 = _mm512_add_ps(x0, _mm512_loadu_ps(c_));                                                        \
            x1 = _mm512_add_ps(x1, _mm512_loadu_ps(c_ + 16));                                                   \
        } else if (mode == 2) {                                                                                 \
            x0 = _mm512_add_ps(x0, _mm512_mul_ps(vb, _mm512_loadu_ps(c_)));                                     \
            x1 = _mm512_add_ps(x1, _mm512_mul_ps(vb, _mm512_loadu_ps(c_ + 16)));                                \
        }                                                                                                       \
        _mm512_storeu_ps(c_, x0);                                                                               \
        _mm512_storeu_ps(c_ + 16, x1);                                                                          \
    } while (0)

/* ep 0: the contract of kernels.h (alpha, beta); ep 1: al_sgemm_ep's
 * epilogue (kernels.h, ep_store_row). Each caller passes a constant ep. */
static inline __attribute__((always_inline)) void kernel(long k, const float *a, const float *b, float *c, long ldc,
                                                         float alpha, float beta, int ep, const float *rb,
                                                         const float *cb, int first, int act) {
    __m512 z = _mm512_setzero_ps();
    __m512 c0_0 = z, c0_1 = z, c1_0 = z, c1_1 = z, c2_0 = z, c2_1 = z, c3_0 = z, c3_1 = z;
    __m512 c4_0 = z, c4_1 = z, c5_0 = z, c5_1 = z, c6_0 = z, c6_1 = z, c7_0 = z, c7_1 = z;
    for (int i = 0; i < 8; i++) _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
    long p = 0;
    for (; p + 2 <= k; p += 2) {
        const float *ap = a;
        STEP(ap, b);
        ap = a + 8;
        STEP(ap, b + 32);
        a += 16;
        b += 64;
    }
    for (; p < k; p++) {
        const float *ap = a;
        STEP(ap, b);
        a += 8;
        b += 32;
    }
    if (ep) {
        AL_GEMM_EP_BEGIN;
        AL_GEMM_EP_ROWS_0_7;
        return;
    }
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    int alpha1 = alpha == 1.0f, mode = beta == 0.0f ? 0 : beta == 1.0f ? 1 : 2;
    STORE(0);
    STORE(1);
    STORE(2);
    STORE(3);
    STORE(4);
    STORE(5);
    STORE(6);
    STORE(7);
}

void al_gemm_ukr_avx512_8x32(long k, const float *a, const float *b, float *c, long ldc, float alpha, float beta) {
    kernel(k, a, b, c, ldc, alpha, beta, 0, NULL, NULL, 0, 0);
}

void al_gemm_ukr_avx512_8x32_ep(long k, const float *a, const float *b, float *c, long ldc, const float *rb,
                                const float *cb, int first, int act) {
    kernel(k, a, b, c, ldc, 1.0f, 1.0f, 1, rb, cb, first, act);
}

