/* ReLU and ReLU6 in place, AVX-512F (kernels.h: al_act_*), 16 lanes, the
 * tail under a mask. Bitwise the reference: ReLU keeps y > 0 and NaN and
 * writes +0 elsewhere (-0 too); ReLU6 is min(6, max(0, y)) in that operand
 * order, and vmaxps/vminps return the second operand when one is NaN, so NaN
 * and -0 pass as in the reference's comparisons. */
#include "kernels/kernels.h"

#include <immintrin.h>

static inline __mmask16 tail(size_t left) { return (__mmask16)(left >= 16 ? 0xffffu : ((1u << left) - 1u)); }

void al_relu_inplace_avx512(float *y, size_t n) {
    const __m512 zero = _mm512_setzero_ps();
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 m = tail(n - i);
        __m512 v = _mm512_maskz_loadu_ps(m, y + i);
        v = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, zero, _CMP_NLE_UQ), v);
        _mm512_mask_storeu_ps(y + i, m, v);
    }
}

void al_relu6_inplace_avx512(float *y, size_t n) {
    const __m512 zero = _mm512_setzero_ps(), six = _mm512_set1_ps(6.0f);
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 m = tail(n - i);
        __m512 v = _mm512_maskz_loadu_ps(m, y + i);
        v = _mm512_min_ps(six, _mm512_max_ps(zero, v));
        _mm512_mask_storeu_ps(y + i, m, v);
    }
}
