/* AVX-512 forms of max pooling's 2x2 stride-2 rows (src/layers/maxpool.c):
 * 16 windows at a time. The plain loops read every other float (stride 2),
 * which the compiler does not vectorize well; here two loads per input row
 * and a two-source permute split a row into the windows' left and right
 * columns. The same comparisons in the same order (a later candidate wins
 * only when strictly greater, ties to the first), so y and the argmax are
 * bitwise the plain loop's; a NaN is only reported, and the caller redoes
 * the row with the general loop. Built with -mavx512f. */
#include "kernels/kernels.h"

#include <immintrin.h>

/* 2*ow + {0,1} of 32 floats (lo: 0..15, hi: 16..31) */
static inline void split_even_odd(const float *r, __mmask16 mlo, __mmask16 mhi, __m512 *ev, __m512 *od) {
    const __m512i ie = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i io = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
    __m512 lo = _mm512_maskz_loadu_ps(mlo, r), hi = _mm512_maskz_loadu_ps(mhi, r + 16);
    *ev = _mm512_permutex2var_ps(lo, ie, hi);
    *od = _mm512_permutex2var_ps(lo, io, hi);
}

/* One output row: r0, r1 input rows 2*oh, 2*oh+1; base = 2*oh*W. Returns 1
 * when a window held a NaN. */
int al_maxpool2x2_row_avx512(const float *r0, const float *r1, int OW, int32_t base, int W, float *y, int32_t *arg) {
    __mmask16 nan = 0;
    const __m512i lane2 = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    for (int ow = 0; ow < OW; ow += 16) {
        int left = OW - ow < 16 ? OW - ow : 16;
        __mmask16 m = (__mmask16)((1u << left) - 1u);
        int fl = 2 * left; /* input floats of these windows */
        __mmask16 mlo = (__mmask16)(fl >= 16 ? 0xFFFF : (1u << fl) - 1u);
        __mmask16 mhi = (__mmask16)(fl >= 32 ? 0xFFFF : fl > 16 ? (1u << (fl - 16)) - 1u : 0u);
        __m512 a, b, c, d;
        split_even_odd(r0 + 2 * ow, mlo, mhi, &a, &b);
        split_even_odd(r1 + 2 * ow, mlo, mhi, &c, &d);
        nan |= _mm512_mask_cmp_ps_mask(m, a, b, _CMP_UNORD_Q) | _mm512_mask_cmp_ps_mask(m, c, d, _CMP_UNORD_Q);
        __m512i i = _mm512_add_epi32(_mm512_set1_epi32(base + 2 * ow), lane2);
        __m512 mx = a;
        __m512i mi = i;
        __mmask16 k = _mm512_cmp_ps_mask(b, mx, _CMP_GT_OQ);
        mi = _mm512_mask_add_epi32(mi, k, i, _mm512_set1_epi32(1));
        mx = _mm512_mask_mov_ps(mx, k, b);
        k = _mm512_cmp_ps_mask(c, mx, _CMP_GT_OQ);
        mi = _mm512_mask_add_epi32(mi, k, i, _mm512_set1_epi32(W));
        mx = _mm512_mask_mov_ps(mx, k, c);
        k = _mm512_cmp_ps_mask(d, mx, _CMP_GT_OQ);
        mi = _mm512_mask_add_epi32(mi, k, i, _mm512_set1_epi32(W + 1));
        mx = _mm512_mask_mov_ps(mx, k, d);
        _mm512_mask_storeu_ps(y + ow, m, mx);
        _mm512_mask_storeu_epi32(arg + ow, m, mi);
    }
    return nan != 0;
}
