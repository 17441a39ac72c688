/* int8 depthwise convolution of one plane, AVX2 (kernels.h, "int8
 * depthwise"), and the plane quantizer in the same vectors.
 *
 * vpmaddwd multiplies 16-bit pairs and adds the two products. Stride 2:
 * 16 bytes of a row sign-extended (vpmovsxbw) are 8 pairs (x[c0 + 2j +
 * kx], x[c0 + 2j + kx + 1]), two taps of outputs c + j against the weight
 * pair (w[kx], w[kx + 1]). Stride 1: 8 bytes sign-extended to 32 bits
 * (vpmovsxbd) against the pair (w[kx], 0) give one tap of 8 outputs (the
 * high half of each lane is the sign, times 0). 16 outputs per step in two
 * accumulators; borders through al_i8dw_window. */
#include "kernels/kernels.h"

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#define AI static inline __attribute__((always_inline))

AI __m256 finish(__m256i acc, __m256 sc, __m256 b, int act) {
    __m256 y = _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(acc), sc), b);
    const __m256 zero = _mm256_setzero_ps();
    if (act == 1) y = _mm256_and_ps(_mm256_cmp_ps(y, zero, _CMP_NLE_UQ), y);
    else if (act == 2) y = _mm256_min_ps(_mm256_set1_ps(6.0f), _mm256_max_ps(zero, y));
    return y;
}

AI void store8(float *y, int left, __m256 v) {
    if (left >= 8) {
        _mm256_storeu_ps(y, v);
    } else if (left > 0) {
        float t[8];
        _mm256_storeu_ps(t, v);
        memcpy(y, t, sizeof(float) * (size_t)left);
    }
}

/* al_i8_q(v * inv) of 8 floats, as 8 bytes in the low half of the result:
 * clamp in float (vmaxps(v, -127) gives -127 for NaN), then round half away
 * from zero (truncate v +- 0.5) */
AI __m128i q8(__m256 y, __m256 inv) {
    __m256 v = _mm256_mul_ps(y, inv);
    v = _mm256_min_ps(_mm256_max_ps(v, _mm256_set1_ps(-127.0f)), _mm256_set1_ps(127.0f));
    __m256 pos = _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_GE_OQ);
    __m256i r = _mm256_cvttps_epi32(_mm256_add_ps(v, _mm256_blendv_ps(_mm256_set1_ps(-0.5f), _mm256_set1_ps(0.5f), pos)));
    __m128i h = _mm_packs_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
    return _mm_packs_epi16(h, h);
}

/* The output of 8 lanes at element o: floats, or int8 at 1 / inv. */
AI void out8(float *y, int8_t *yq, __m256 inv, size_t o, int left, __m256 v) {
    if (!yq) {
        store8(y + o, left, v);
        return;
    }
    if (left <= 0) return;
    __m128i b = q8(v, inv);
    if (left >= 8) {
        _mm_storel_epi64((__m128i *)(yq + o), b);
    } else {
        int8_t t[16];
        _mm_storeu_si128((__m128i *)t, b);
        memcpy(yq + o, t, (size_t)left);
    }
}

AI __m256i pair_taps(__m256i acc, const int8_t *p, int32_t wpair) {
    __m256i v = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)p));
    return _mm256_add_epi32(acc, _mm256_madd_epi16(v, _mm256_set1_epi32(wpair)));
}

AI __m256i one_tap(__m256i acc, const int8_t *p, int32_t w0) {
    __m256i v = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)p));
    return _mm256_add_epi32(acc, _mm256_madd_epi16(v, _mm256_set1_epi32(w0)));
}

AI void plane(const al_dw_geom *g, const int8_t *x, const int32_t *wp, const int32_t *w1, float sc, float b, int act,
              float *y, int8_t *yq, float yinv, int k, int s) {
    const int np = (k + 1) / 2, span = s == 1 ? k - 1 + 16 : 2 * (np - 1) + 32;
    const __m256 scv = _mm256_set1_ps(sc), bv = _mm256_set1_ps(b), inv = _mm256_set1_ps(yinv);
    int8_t tmp[AL_DW_KMAX][AL_I8DW_TMPW];
    const int8_t *r[AL_DW_KMAX];
    for (int oy = 0; oy < g->Ho; oy++) {
        size_t yr = (size_t)oy * g->Wo;
        for (int c = 0; c < g->Wo; c += 16) {
            al_i8dw_window(g, x, oy, c * s - g->p, span, tmp, r);
            __m256i a0 = _mm256_setzero_si256(), a1 = a0;
            for (int ky = 0; ky < k; ky++) {
                if (s == 1) {
                    for (int kx = 0; kx < k; kx++) {
                        a0 = one_tap(a0, r[ky] + kx, w1[ky * k + kx]);
                        a1 = one_tap(a1, r[ky] + kx + 8, w1[ky * k + kx]);
                    }
                } else {
                    for (int j = 0; j < np; j++) {
                        a0 = pair_taps(a0, r[ky] + 2 * j, wp[ky * np + j]);
                        a1 = pair_taps(a1, r[ky] + 2 * j + 16, wp[ky * np + j]);
                    }
                }
            }
            out8(y, yq, inv, yr + c, g->Wo - c, finish(a0, scv, bv, act));
            out8(y, yq, inv, yr + c + 8, g->Wo - c - 8, finish(a1, scv, bv, act));
        }
    }
}

void al_i8dw_forward_avx2(const al_dw_geom *g, const int8_t *x, float sx, const int8_t *w, float sw, float b, int act,
                          float *y, int8_t *yq, float yinv) {
    const int k = g->k;
    int32_t wp[AL_DW_KMAX * ((AL_DW_KMAX + 1) / 2)], w1[AL_DW_KMAX * AL_DW_KMAX];
    al_i8dw_wpairs(w, k, wp);
    /* stride 1: one tap a lane, the pair (w, 0) */
    for (int t = 0; t < k * k; t++) w1[t] = (int32_t)(uint16_t)(int16_t)w[t];
    float sc = sx * sw;
    if (k == 3 && g->s == 1)
        plane(g, x, wp, w1, sc, b, act, y, yq, yinv, 3, 1);
    else if (k == 3)
        plane(g, x, wp, w1, sc, b, act, y, yq, yinv, 3, 2);
    else if (g->s == 1)
        plane(g, x, wp, w1, sc, b, act, y, yq, yinv, k, 1);
    else
        plane(g, x, wp, w1, sc, b, act, y, yq, yinv, k, 2);
}

/* al_quantize_row_i8 bit for bit: its scale (max_ps keeps its second
 * operand when the first is NaN: NaN never wins, as there), then the static
 * quantizer at inv = 1 / s (the same bytes: |x * inv| passes 127 only by
 * inv's rounding, and clamping before or after rounding gives 127). */
float al_i8_quantize_avx2(const float *x, long n, int8_t *q) {
    const __m256 absm = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    __m256 mx = _mm256_setzero_ps();
    long i = 0;
    for (; i + 8 <= n; i += 8) mx = _mm256_max_ps(_mm256_and_ps(_mm256_loadu_ps(x + i), absm), mx);
    float lanes[8], m = 0.0f;
    _mm256_storeu_ps(lanes, mx);
    for (int l = 0; l < 8; l++) m = lanes[l] > m ? lanes[l] : m;
    for (long t = i; t < n; t++) {
        float a = x[t] < 0.0f ? -x[t] : x[t];
        m = a > m ? a : m;
    }
    float s = m > 0.0f ? m / 127.0f : 1.0f, invs = 1.0f / s;
    al_i8_quantize_static_avx2(x, n, invs, q);
    return s;
}

void al_i8_epilogue_avx2(const int32_t *acc, long n, float sc, float b, int act, float *y, int8_t *yq, float yinv) {
    const __m256 scv = _mm256_set1_ps(sc), bv = _mm256_set1_ps(b), inv = _mm256_set1_ps(yinv);
    long i = 0;
    for (; i + 8 <= n; i += 8)
        out8(y, yq, inv, (size_t)i, 8, finish(_mm256_loadu_si256((const __m256i *)(acc + i)), scv, bv, act));
    if (i < n) al_i8_epilogue_ref(acc + i, n - i, sc, b, act, y ? y + i : NULL, yq ? yq + i : NULL, yinv);
}

void al_i8_quantize_static_avx2(const float *x, long n, float inv, int8_t *q) {
    const __m256 iv = _mm256_set1_ps(inv);
    long i = 0;
    for (; i + 8 <= n; i += 8) _mm_storel_epi64((__m128i *)(q + i), q8(_mm256_loadu_ps(x + i), iv));
    for (; i < n; i++) q[i] = al_i8_q(x[i] * inv);
}

void al_i8_add_avx2(const int8_t *a, float sa, const int8_t *b, float sb, long n, float *y, int8_t *yq, float yinv) {
    const __m256 sav = _mm256_set1_ps(sa), sbv = _mm256_set1_ps(sb), inv = _mm256_set1_ps(yinv);
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 fa = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(a + i))));
        __m256 fb = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(b + i))));
        out8(y, yq, inv, (size_t)i, 8, _mm256_add_ps(_mm256_mul_ps(fa, sav), _mm256_mul_ps(fb, sbv)));
    }
    if (i < n) al_i8_add_ref(a + i, sa, b + i, sb, n - i, y ? y + i : NULL, yq ? yq + i : NULL, yinv);
}
