/* The AVX-512 micro-kernels' epilogue for al_sgemm_ep (kernels.h), shared
 * by gemm_avx512_12x32.c and gemm_avx512_8x32.c: one row of a 32-wide tile,
 * alpha 1. The first K block adds the row's bias (bias NULL: nothing),
 * later ones the partial sum in C; then act (0 none, 1 ReLU, 2 ReLU6, only
 * on the last K block) with act_avx512.c's operations. Bitwise what the
 * driver computes by filling C with the bias, the kernel's beta-1 store,
 * then al_act_rows: acc + b rounds once either way, and the activation is a
 * select. */
#ifndef AL_GEMM_AVX512_EP_H
#define AL_GEMM_AVX512_EP_H

#include <immintrin.h>

static inline __m512 ep_act(__m512 x, int act) {
    const __m512 zero = _mm512_setzero_ps();
    if (act == 1) return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(x, zero, _CMP_NLE_UQ), x);
    if (act == 2) return _mm512_min_ps(_mm512_set1_ps(6.0f), _mm512_max_ps(zero, x));
    return x;
}

static inline void ep_store_row(float *c, __m512 x0, __m512 x1, const float *bias, int first, int act) {
    if (!first) {
        x0 = _mm512_add_ps(x0, _mm512_loadu_ps(c));
        x1 = _mm512_add_ps(x1, _mm512_loadu_ps(c + 16));
    } else if (bias) {
        __m512 b = _mm512_set1_ps(*bias);
        x0 = _mm512_add_ps(x0, b);
        x1 = _mm512_add_ps(x1, b);
    }
    _mm512_storeu_ps(c, ep_act(x0, act));
    _mm512_storeu_ps(c + 16, ep_act(x1, act));
}

#endif
