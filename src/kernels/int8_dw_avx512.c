/* int8 depthwise convolution of one plane, AVX-512BW + VNNI (kernels.h,
 * "int8 depthwise"), and the plane quantizer in the same vectors.
 *
 * Pairs of taps: vpdpwssd multiplies 16-bit pairs and adds both products to
 * an int32 lane. Sign-extending 32 bytes of a row (vpmovsxbw) gives 16
 * lanes holding (x[c0 + 2j + kx], x[c0 + 2j + kx + 1]); with the weights
 * broadcast as the pair (w[kx], w[kx + 1]) (the second 0 past k) one
 * instruction adds two taps of 16 outputs. At stride 2 lane j is output
 * c + j; at stride 1 the same load serves the even outputs c + 2j and one
 * byte further the odd ones, and the epilogue interleaves the two vectors
 * (vpermt2ps). So a 3x3 tap row costs 2 instructions, not 3, and stride 2
 * needs no deinterleaving. Each step makes 32 outputs of one row in two
 * independent accumulators; the borders read from al_i8dw_window's
 * zero-filled copy, the interior straight from the plane. */
#include "kernels/kernels.h"

#include <immintrin.h>
#include <stdint.h>

#define VNNI_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))
#define AI static inline __attribute__((always_inline))

static inline __mmask16 lanes(long left) {
    return left >= 16 ? (__mmask16)0xFFFF : left <= 0 ? (__mmask16)0 : (__mmask16)((1u << left) - 1u);
}

VNNI_TARGET AI __m512 finish(__m512i acc, __m512 sc, __m512 b, int act) {
    __m512 y = _mm512_add_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(acc), sc), b);
    const __m512 zero = _mm512_setzero_ps();
    if (act == 1) y = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(y, zero, _CMP_NLE_UQ), y);
    else if (act == 2) y = _mm512_min_ps(_mm512_set1_ps(6.0f), _mm512_max_ps(zero, y));
    return y;
}

VNNI_TARGET AI __m512i taps(__m512i acc, const int8_t *p, int32_t wpair) {
    __m512i v = _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)p));
    return _mm512_dpwssd_epi32(acc, v, _mm512_set1_epi32(wpair));
}

VNNI_TARGET AI void plane(const al_dw_geom *g, const int8_t *x, const int32_t *wp, float sc, float b, int act,
                          float *y, int k, int s) {
    const int np = (k + 1) / 2, off1 = s == 1 ? 1 : 32, span = 2 * (np - 1) + off1 + 32;
    const __m512 scv = _mm512_set1_ps(sc), bv = _mm512_set1_ps(b);
    const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    int8_t tmp[AL_DW_KMAX][AL_I8DW_TMPW];
    const int8_t *r[AL_DW_KMAX];
    for (int oy = 0; oy < g->Ho; oy++) {
        float *yr = y + (size_t)oy * g->Wo;
        for (int c = 0; c < g->Wo; c += 32) {
            al_i8dw_window(g, x, oy, c * s - g->p, span, tmp, r);
            __m512i a0 = _mm512_setzero_si512(), a1 = a0;
            for (int ky = 0; ky < k; ky++)
                for (int j = 0; j < np; j++) {
                    a0 = taps(a0, r[ky] + 2 * j, wp[ky * np + j]);
                    a1 = taps(a1, r[ky] + 2 * j + off1, wp[ky * np + j]);
                }
            __m512 y0 = finish(a0, scv, bv, act), y1 = finish(a1, scv, bv, act);
            if (s == 1) {
                __m512 z0 = _mm512_permutex2var_ps(y0, lo, y1), z1 = _mm512_permutex2var_ps(y0, hi, y1);
                y0 = z0;
                y1 = z1;
            }
            _mm512_mask_storeu_ps(yr + c, lanes(g->Wo - c), y0);
            _mm512_mask_storeu_ps(yr + c + 16, lanes(g->Wo - c - 16), y1);
        }
    }
}

VNNI_TARGET void al_i8dw_forward_avx512(const al_dw_geom *g, const int8_t *x, float sx, const int8_t *w, float sw,
                                        float b, int act, float *y) {
    const int k = g->k, np = (k + 1) / 2;
    int32_t wp[AL_DW_KMAX * ((AL_DW_KMAX + 1) / 2)];
    for (int ky = 0; ky < k; ky++)
        for (int j = 0; j < np; j++) {
            int kx = 2 * j;
            uint32_t w0 = (uint16_t)(int16_t)w[ky * k + kx], w1 = kx + 1 < k ? (uint16_t)(int16_t)w[ky * k + kx + 1] : 0;
            wp[ky * np + j] = (int32_t)(w0 | w1 << 16);
        }
    float sc = sx * sw;
    if (k == 3 && g->s == 1)
        plane(g, x, wp, sc, b, act, y, 3, 1);
    else if (k == 3)
        plane(g, x, wp, sc, b, act, y, 3, 2);
    else if (g->s == 1)
        plane(g, x, wp, sc, b, act, y, k, 1);
    else
        plane(g, x, wp, sc, b, act, y, k, 2);
}

/* al_quantize_row_i8 bit for bit: the max of |x| (NaN never wins: max_ps
 * keeps its second operand), then round half away from zero and clamp. */
VNNI_TARGET float al_i8_quantize_avx512(const float *x, long n, int8_t *q) {
    __m512 mx = _mm512_setzero_ps();
    long i = 0;
    for (; i + 16 <= n; i += 16) mx = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(x + i)), mx);
    if (i < n) mx = _mm512_max_ps(_mm512_abs_ps(_mm512_maskz_loadu_ps(lanes(n - i), x + i)), mx);
    float m = _mm512_reduce_max_ps(mx);
    float s = m > 0.0f ? m / 127.0f : 1.0f;
    const __m512 inv = _mm512_set1_ps(1.0f / s), half = _mm512_set1_ps(0.5f), mhalf = _mm512_set1_ps(-0.5f);
    const __m512i lo = _mm512_set1_epi32(-127), hi = _mm512_set1_epi32(127);
    for (i = 0; i < n; i += 16) {
        __mmask16 tm = lanes(n - i);
        __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(tm, x + i), inv);
        __mmask16 pos = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_GE_OQ);
        __m512i r = _mm512_cvttps_epi32(_mm512_add_ps(v, _mm512_mask_blend_ps(pos, mhalf, half)));
        r = _mm512_min_epi32(_mm512_max_epi32(r, lo), hi);
        _mm512_mask_cvtepi32_storeu_epi8(q + i, tm, r);
    }
    return s;
}
