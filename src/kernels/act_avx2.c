/* ReLU and ReLU6 in place, AVX2 (kernels.h: al_act_*), 8 lanes, the tail
 * in plain C. Bitwise the reference (see act_avx512.c): ReLU clears the
 * lanes with y <= 0 (ordered: NaN stays); ReLU6 is min(6, max(0, y)). */
#include "kernels/kernels.h"

#include <immintrin.h>

void al_relu_inplace_avx2(float *y, size_t n) {
    const __m256 zero = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(y + i);
        _mm256_storeu_ps(y + i, _mm256_andnot_ps(_mm256_cmp_ps(v, zero, _CMP_LE_OQ), v));
    }
    al_relu_inplace_ref(y + i, n - i);
}

void al_relu6_inplace_avx2(float *y, size_t n) {
    const __m256 zero = _mm256_setzero_ps(), six = _mm256_set1_ps(6.0f);
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_min_ps(six, _mm256_max_ps(zero, _mm256_loadu_ps(y + i))));
    al_relu6_inplace_ref(y + i, n - i);
}
