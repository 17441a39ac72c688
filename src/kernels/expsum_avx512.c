/* AVX-512 form of softmax's exp-and-sum (src/layers/softmax_ce.c): the same
 * polynomial as al_expf_poly (kernels/kernels.h), 16 lanes at a time with
 * fused multiply-adds, so a value may differ from the portable loop's in the
 * last bit. Built with -mavx512f (CMakeLists.txt: files named *_avx512*);
 * called only when the CPU has AVX-512F. */
#include "kernels/kernels.h"

#include <immintrin.h>
#include <math.h>

/* e[j] = exp(z[j] - mx) for j < k (stored when e != NULL); returns the sum,
 * in float per block of 256 (lanes added in a fixed order), the blocks in
 * double. */
double al_expsum_avx512(const float *z, int k, float mx, float *e) {
    const __m512 vmx = _mm512_set1_ps(mx), lo = _mm512_set1_ps(-87.3f), hi = _mm512_set1_ps(88.0f);
    const __m512 log2e = _mm512_set1_ps(1.44269504088896341f), half = _mm512_set1_ps(0.5f);
    const __m512 c1 = _mm512_set1_ps(0.693359375f), c2 = _mm512_set1_ps(2.12194440e-4f);
    const __m512 p0 = _mm512_set1_ps(1.9875691500e-4f), p1 = _mm512_set1_ps(1.3981999507e-3f),
                 p2 = _mm512_set1_ps(8.3334519073e-3f), p3 = _mm512_set1_ps(4.1665795894e-2f),
                 p4 = _mm512_set1_ps(1.6666665459e-1f), p5 = _mm512_set1_ps(5.0000001201e-1f),
                 one = _mm512_set1_ps(1.0f);
    double se = 0.0;
    for (int b = 0; b < k; b += 256) {
        int end = b + 256 < k ? b + 256 : k;
        __m512 acc = _mm512_setzero_ps();
        for (int j = b; j < end; j += 16) {
            __mmask16 m = al_mask16(end - j);
            __m512 xin = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, z + j), vmx);
            __m512 x = _mm512_min_ps(_mm512_max_ps(xin, lo), hi); /* NaN becomes -87.3 here */
            __m512 fn = _mm512_roundscale_ps(_mm512_fmadd_ps(x, log2e, half), _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
            __m512 r = _mm512_fmadd_ps(fn, c2, _mm512_fnmadd_ps(fn, c1, x));
            __m512 p = _mm512_fmadd_ps(p0, r, p1);
            p = _mm512_fmadd_ps(p, r, p2);
            p = _mm512_fmadd_ps(p, r, p3);
            p = _mm512_fmadd_ps(p, r, p4);
            p = _mm512_fmadd_ps(p, r, p5);
            p = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, _mm512_add_ps(r, one));
            __m512i n = _mm512_add_epi32(_mm512_cvtps_epi32(fn), _mm512_set1_epi32(127));
            __m512 v = _mm512_mul_ps(p, _mm512_castsi512_ps(_mm512_slli_epi32(n, 23)));
            v = _mm512_mask_mov_ps(v, _mm512_cmp_ps_mask(xin, xin, _CMP_UNORD_Q), xin); /* NaN stays NaN */
            if (e) _mm512_mask_storeu_ps(e + j, m, v);
            acc = _mm512_mask_add_ps(acc, m, acc, v);
        }
        float lanes[16];
        _mm512_storeu_ps(lanes, acc);
        float t = 0.0f;
        for (int l = 0; l < 16; l++) t += lanes[l];
        se += (double)t;
    }
    return se;
}

/* softmax_ce.c's row_max, its two loops: the 16 running maxima over the
 * whole blocks of 16 (lane j is the plain loop's acc[j], kept by
 * vmaxps(z, acc), which is `z > acc ? z : acc`: a NaN never wins; returns
 * the index after the blocks), and the first index holding v, 16 at a time
 * (-1 when none). */
int al_rowmax16_avx512(const float *z, int k, float acc[16]) {
    __m512 a = _mm512_set1_ps(-INFINITY);
    int i = 0;
    for (; i + 16 <= k; i += 16) a = _mm512_max_ps(_mm512_loadu_ps(z + i), a);
    _mm512_storeu_ps(acc, a);
    return i;
}

int al_find_eq_avx512(const float *z, int k, float v) {
    const __m512 vv = _mm512_set1_ps(v);
    for (int j = 0; j < k; j += 16) {
        __mmask16 m = al_mask16(k - j);
        __mmask16 eq = _mm512_mask_cmp_ps_mask(m, _mm512_maskz_loadu_ps(m, z + j), vv, _CMP_EQ_OQ);
        if (eq) return j + __builtin_ctz((unsigned)eq);
    }
    return -1;
}
