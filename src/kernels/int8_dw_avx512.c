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
 * independent accumulators; the input bytes are loaded under a mask of the
 * columns inside the image (vmovdqu8), so the padding reads as zeros with
 * no border code, as in the float kernel (dwconv_avx512.c). */
#include "kernels/kernels.h"

#include <immintrin.h>
#include <stdint.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define VNNI_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))
#define AI static inline __attribute__((always_inline))


/* al_i8_finish of 16 sums held as floats (exact integers) */
VNNI_TARGET AI __m512 finish_f(__m512 acc, __m512 sc, __m512 b, int act) {
    __m512 y = _mm512_add_ps(_mm512_mul_ps(acc, sc), b);
    const __m512 zero = _mm512_setzero_ps();
    if (act == 1) y = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(y, zero, _CMP_NLE_UQ), y);
    else if (act == 2) y = _mm512_min_ps(_mm512_set1_ps(6.0f), _mm512_max_ps(zero, y));
    return y;
}

VNNI_TARGET AI __m512 finish(__m512i acc, __m512 sc, __m512 b, int act) {
    return finish_f(_mm512_cvtepi32_ps(acc), sc, b, act);
}

/* 16 outputs at element o under mask m: floats into y, or (yq) int8 at
 * 1 / inv (after a fused ReLU or ReLU6, act != 0, without the sign test:
 * al_i8_q16_nonneg) */
VNNI_TARGET AI void out16(float *y, int8_t *yq, __m512 inv, size_t o, __mmask16 m, __m512 v, int act) {
    if (yq)
        al_store_i8x16(yq + o, m, al_i8_q16_act(v, inv, act));
    else
        _mm512_mask_storeu_ps(y + o, m, v);
}

/* bytes i in [0, 32) with 0 <= base + i < W */
static inline __mmask32 bmask(int base, int W) {
    int lo = base < 0 ? -base : 0, hi = W - base < 32 ? W - base : 32;
    if (hi <= lo) return 0;
    return (__mmask32)((((uint64_t)1 << hi) - 1) & ~(((uint64_t)1 << lo) - 1));
}

/* 32 bytes at row + off under mask m (masked-off bytes read as 0 and are
 * not touched: the address is formed as an integer, it may lie outside the
 * plane), sign-extended to 16 pairs, times the weight pair, added to acc */
VNNI_TARGET AI __m512i taps(__m512i acc, const int8_t *row, long off, __mmask32 m, int32_t wpair) {
    const void *p = (const void *)((uintptr_t)row + (uintptr_t)(intptr_t)off);
    __m512i v = _mm512_cvtepi8_epi16(_mm256_maskz_loadu_epi8(m, p));
    return _mm512_dpwssd_epi32(acc, v, _mm512_set1_epi32(wpair));
}

/* Chunks of 32 outputs are the outer loop: the load masks of a chunk (per
 * tap pair and accumulator) are the same for every row. */
VNNI_TARGET AI void plane(const al_dw_geom *g, const int8_t *x, const int32_t *wp, float sc, float b, int act,
                          float *y, int8_t *yq, float yinv, int k, int s) {
    const int np = (k + 1) / 2, off1 = s == 1 ? 1 : 32, H = g->H, W = g->W, p = g->p;
    const __m512 scv = _mm512_set1_ps(sc), bv = _mm512_set1_ps(b), inv = _mm512_set1_ps(yinv);
    const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    for (int c = 0; c < g->Wo; c += 32) {
        const int c0 = c * s - p;
        __mmask32 m0[(AL_DW_KMAX + 1) / 2], m1[(AL_DW_KMAX + 1) / 2];
        for (int j = 0; j < np; j++) {
            m0[j] = bmask(c0 + 2 * j, W);
            m1[j] = bmask(c0 + 2 * j + off1, W);
        }
        for (int oy = 0; oy < g->Ho; oy++) {
            int ky0 = AL_MAX(0, p - oy * s), ky1 = AL_MIN(k, H + p - oy * s);
            __m512i a0 = _mm512_setzero_si512(), a1 = a0;
            for (int ky = ky0; ky < ky1; ky++) {
                const int8_t *row = x + (size_t)(oy * s - p + ky) * W;
                for (int j = 0; j < np; j++) {
                    a0 = taps(a0, row, c0 + 2 * j, m0[j], wp[ky * np + j]);
                    a1 = taps(a1, row, c0 + 2 * j + off1, m1[j], wp[ky * np + j]);
                }
            }
            __m512 y0 = finish(a0, scv, bv, act), y1 = finish(a1, scv, bv, act);
            if (s == 1) {
                __m512 z0 = _mm512_permutex2var_ps(y0, lo, y1), z1 = _mm512_permutex2var_ps(y0, hi, y1);
                y0 = z0;
                y1 = z1;
            }
            size_t yr = (size_t)oy * g->Wo;
            out16(y, yq, inv, yr + c, al_mask16(g->Wo - c), y0, act);
            out16(y, yq, inv, yr + c + 16, al_mask16(g->Wo - c - 16), y1, act);
        }
    }
}

VNNI_TARGET void al_i8dw_forward_avx512(const al_dw_geom *g, const int8_t *x, float sx, const int8_t *w, float sw,
                                        float b, int act, float *y, int8_t *yq, float yinv) {
    const int k = g->k;
    int32_t wp[AL_DW_KMAX * ((AL_DW_KMAX + 1) / 2)];
    al_i8dw_wpairs(w, k, wp);
    float sc = sx * sw;
    if (k == 3 && g->s == 1)
        plane(g, x, wp, sc, b, act, y, yq, yinv, 3, 1);
    else if (k == 3)
        plane(g, x, wp, sc, b, act, y, yq, yinv, 3, 2);
    else if (g->s == 1)
        plane(g, x, wp, sc, b, act, y, yq, yinv, k, 1);
    else
        plane(g, x, wp, sc, b, act, y, yq, yinv, k, 2);
}

VNNI_TARGET void al_i8_epilogue_avx512(const int32_t *acc, long n, float sc, float b, int act, float *y, int8_t *yq,
                                       float yinv) {
    const __m512 scv = _mm512_set1_ps(sc), bv = _mm512_set1_ps(b), inv = _mm512_set1_ps(yinv);
    for (long i = 0; i < n; i += 16) {
        __mmask16 m = al_mask16(n - i);
        out16(y, yq, inv, (size_t)i, m, finish(_mm512_maskz_loadu_epi32(m, acc + i), scv, bv, act), act);
    }
}

VNNI_TARGET void al_i8_quantize_static_avx512(const float *x, long n, float inv, int8_t *q) {
    const __m512 iv = _mm512_set1_ps(inv);
    for (long i = 0; i < n; i += 16) {
        __mmask16 tm = al_mask16(n - i);
        al_store_i8x16(q + i, tm, al_i8_q16(_mm512_maskz_loadu_ps(tm, x + i), iv));
    }
}

VNNI_TARGET void al_i8_add_avx512(const int8_t *a, float sa, const int8_t *b, float sb, long n, float *y, int8_t *yq,
                                  float yinv) {
    const __m512 sav = _mm512_set1_ps(sa), sbv = _mm512_set1_ps(sb), inv = _mm512_set1_ps(yinv);
    for (long i = 0; i < n; i += 16) {
        __mmask16 m = al_mask16(n - i);
        __m512 fa = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, a + i)));
        __m512 fb = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, b + i)));
        out16(y, yq, inv, (size_t)i, m, _mm512_add_ps(_mm512_mul_ps(fa, sav), _mm512_mul_ps(fb, sbv)), 0);
    }
}

/* al_quantize_row_i8's scale of n floats. Four running maxima: this is
 * the first read of the layer's input, and one chain of vmaxps (4 cycles
 * per 64 bytes) would hold it below what the caches deliver. The maximum
 * is exact in any order, and NaN never wins (max_ps keeps its second
 * operand). */
VNNI_TARGET float al_i8_scale_avx512(const float *x, long n) {
    __m512 mx = _mm512_setzero_ps(), m1 = mx, m2 = mx, m3 = mx;
    long i = 0;
    for (; i + 64 <= n; i += 64) {
        mx = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(x + i)), mx);
        m1 = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(x + i + 16)), m1);
        m2 = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(x + i + 32)), m2);
        m3 = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(x + i + 48)), m3);
    }
    mx = _mm512_max_ps(_mm512_max_ps(mx, m1), _mm512_max_ps(m2, m3));
    for (; i + 16 <= n; i += 16) mx = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(x + i)), mx);
    if (i < n) mx = _mm512_max_ps(_mm512_abs_ps(_mm512_maskz_loadu_ps(al_mask16(n - i), x + i)), mx);
    float m = _mm512_reduce_max_ps(mx);
    return m > 0.0f ? m / 127.0f : 1.0f;
}

/* al_quantize_row_i8 bit for bit: its scale, then the static quantizer
 * with inv = 1 / s (the same bytes: kernels.h, al_i8_q16). */
VNNI_TARGET float al_i8_quantize_avx512(const float *x, long n, int8_t *q) {
    float s = al_i8_scale_avx512(x, n);
    al_i8_quantize_static_avx512(x, n, 1.0f / s, q);
    return s;
}

/* ---- quantized straight into a padded int16 plane ------------------------------- */

/* Output row oy of the padded plane xp (row stride Ws, the image at row p,
 * column p, zeros around it): lane l of a0 / a1 is output c + l (stride 2)
 * or c + 2l / c + 2l + 1 (stride 1, interleaved at the end), as in plane(). */
VNNI_TARGET AI void padded_plane(const al_dw_geom *g, const int16_t *xp, int Ws, const int32_t *wp, float sc, float b,
                                 int act, float *y, int8_t *yq, float yinv, int k, int s) {
    const int np = (k + 1) / 2, off1 = s == 1 ? 1 : 32;
    const __m512 scv = _mm512_set1_ps(sc), bv = _mm512_set1_ps(b), inv = _mm512_set1_ps(yinv);
    const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    for (int oy = 0; oy < g->Ho; oy++) {
        const int16_t *r0 = xp + (size_t)oy * s * Ws;
        size_t yr = (size_t)oy * g->Wo;
        for (int c = 0; c < g->Wo; c += 32) {
            __m512i a0 = _mm512_setzero_si512(), a1 = a0;
            for (int ky = 0; ky < k; ky++) {
                const int16_t *row = r0 + (size_t)ky * Ws + c * s;
                for (int j = 0; j < np; j++) {
                    const __m512i wv = _mm512_set1_epi32(wp[ky * np + j]);
                    a0 = _mm512_dpwssd_epi32(a0, _mm512_loadu_si512(row + 2 * j), wv);
                    a1 = _mm512_dpwssd_epi32(a1, _mm512_loadu_si512(row + 2 * j + off1), wv);
                }
            }
            __m512 y0 = finish(a0, scv, bv, act), y1 = finish(a1, scv, bv, act);
            if (s == 1) {
                __m512 z0 = _mm512_permutex2var_ps(y0, lo, y1), z1 = _mm512_permutex2var_ps(y0, hi, y1);
                y0 = z0;
                y1 = z1;
            }
            out16(y, yq, inv, yr + c, al_mask16(g->Wo - c), y0, act);
            out16(y, yq, inv, yr + c + 16, al_mask16(g->Wo - c - 16), y1, act);
        }
    }
}

/* Flat: output (oy, ox) is position f = oy * P + ox, and every tap reads
 * one constant offset from f, so a vector of 32 positions spans several
 * output rows (lanes with ox >= Wo are junk, dropped by compressing the
 * valid lanes before the store; a 6x6 plane would leave most lanes of a
 * row's 32-lane chunk idle). Stride 1: P = Ws, tap (ky, kx) reads xp[f +
 * ky*Ws + kx]. Stride 2: the padded rows are stored even rows first, then
 * odd rows (xp_odd), and P = Ws / 2 words of two columns, so tap pair (ky,
 * 2j) of output f reads the word (x[2ox + 2j], x[2ox + 2j + 1]) at word f +
 * (ky / 2) * P + j of the rows of ky's parity: no lane is spent on the
 * skipped rows and columns. */
VNNI_TARGET AI void flat_plane(const al_dw_geom *g, const int16_t *xp, const int16_t *xp_odd, int Ws,
                               const int32_t *wp, float sc, float b, int act, float *y, int8_t *yq, float yinv, int k,
                               int s) {
    const int np = (k + 1) / 2, P = s == 1 ? Ws : Ws / 2, Wo = g->Wo;
    const long end = (long)(g->Ho - 1) * P + Wo; /* one past the last valid position */
    const __m512 scv = _mm512_set1_ps(sc), bv = _mm512_set1_ps(b), inv = _mm512_set1_ps(yinv);
    const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i pv = _mm512_set1_epi32(P), wov = _mm512_set1_epi32(Wo);
    size_t yo = 0;
    int ox0 = 0; /* f0 % P */
    for (long f0 = 0; f0 < end; f0 += 32) {
        __m512i a0 = _mm512_setzero_si512(), a1 = a0;
        for (int ky = 0; ky < k; ky++) {
            const int16_t *row = s == 1 ? xp + (size_t)ky * Ws + f0
                                        : ((ky & 1) ? xp_odd : xp) + (size_t)(ky >> 1) * Ws + 2 * (size_t)f0;
            for (int j = 0; j < np; j++) {
                const __m512i wv = _mm512_set1_epi32(wp[ky * np + j]);
                a0 = _mm512_dpwssd_epi32(a0, _mm512_loadu_si512(row + 2 * j), wv);
                a1 = _mm512_dpwssd_epi32(a1, _mm512_loadu_si512(row + 2 * j + (s == 1 ? 1 : 32)), wv);
            }
        }
        __m512 y0 = finish(a0, scv, bv, act), y1 = finish(a1, scv, bv, act);
        if (s == 1) {
            __m512 z0 = _mm512_permutex2var_ps(y0, lo, y1), z1 = _mm512_permutex2var_ps(y0, hi, y1);
            y0 = z0;
            y1 = z1;
        }
        /* the lanes' columns: ox0 + l reduced below P */
        __m512i c0 = _mm512_add_epi32(iota, _mm512_set1_epi32(ox0)), c1 = _mm512_add_epi32(c0, _mm512_set1_epi32(16));
        for (int t = (ox0 + 31) / P; t > 0; t--) {
            c0 = _mm512_mask_sub_epi32(c0, _mm512_cmpge_epi32_mask(c0, pv), c0, pv);
            c1 = _mm512_mask_sub_epi32(c1, _mm512_cmpge_epi32_mask(c1, pv), c1, pv);
        }
        __mmask16 m0 = _mm512_cmplt_epi32_mask(c0, wov) & al_mask16(end - f0);
        __mmask16 m1 = _mm512_cmplt_epi32_mask(c1, wov) & al_mask16(end - f0 - 16);
        int n0 = __builtin_popcount(m0), n1 = __builtin_popcount(m1);
        out16(y, yq, inv, yo, al_mask16(n0), _mm512_maskz_compress_ps(m0, y0), act);
        out16(y, yq, inv, yo + (size_t)n0, al_mask16(n1), _mm512_maskz_compress_ps(m1, y1), act);
        yo += (size_t)(n0 + n1);
        ox0 = (ox0 + 32) % P;
    }
}

/* Reads past a row's padded width land in the next row (junk only in
 * lanes that are never stored, or times a zero weight: the phantom tap k
 * of an odd kernel); past the last row, in SLACK zeros (the flat form at
 * stride 2 reads up to 2 * 32 + 64 elements past the last valid one).
 * Planes of a group lie one after the other, so reads past one plane land
 * in the next: junk in lanes that are dropped, or times the zero weight. */
#define SLACK (160 + 2 * AL_DW_KMAX)


/* x [H, W] quantized with scale sx into the interior of the padded plane
 * (row stride Ws, image at row p, column p); with odd_rows, padded row r
 * is stored at (r & 1) * odd_rows + r / 2 (even rows first, then odd). */
VNNI_TARGET static void quantize_padded(const float *x, int H, int W, float sx, int16_t *xp, int Ws, int p,
                                        int odd_rows) {
    /* al_i8_q's float clamp: the same bytes as al_quantize_row_i8 within
     * its range, and a static scale's values past +-127 saturate */
    const __m512 inv = _mm512_set1_ps(1.0f / sx);
    for (int iy = 0; iy < H; iy++) {
        int pr = iy + p, rr = odd_rows ? (pr & 1) * odd_rows + pr / 2 : pr;
        int16_t *dst = xp + (size_t)rr * Ws + p;
        const float *src = x + (size_t)iy * W;
        for (int c = 0; c < W; c += 16) {
            __mmask16 tm = al_mask16(W - c);
            _mm512_mask_cvtepi32_storeu_epi16(dst + c, tm, al_i8_q16(_mm512_maskz_loadu_ps(tm, src + c), inv));
        }
    }
}

/* An int8 plane x [H, W] widened into the padded plane, as quantize_padded
 * places it. */
VNNI_TARGET static void widen_padded(const int8_t *x, int H, int W, int16_t *xp, int Ws, int p, int odd_rows) {
    for (int iy = 0; iy < H; iy++) {
        int pr = iy + p, rr = odd_rows ? (pr & 1) * odd_rows + pr / 2 : pr;
        int16_t *dst = xp + (size_t)rr * Ws + p;
        const int8_t *src = x + (size_t)iy * W;
        for (int c = 0; c < W; c += 32) {
            __mmask32 tm = W - c >= 32 ? (__mmask32)0xFFFFFFFFu : (__mmask32)((1u << (W - c)) - 1u);
            _mm512_mask_storeu_epi16(dst + c, tm, _mm512_cvtepi8_epi16(_mm256_maskz_loadu_epi8(tm, src + c)));
        }
    }
}

#define GROUP_MAX 64

/* ---- small planes through the float kernels ------------------------------------- */

/* Planes of at most FLOAT_MAX_W columns (MobileNet's 12x12 and 6x6), and
 * at stride 1 any plane whose input and output fit FLOAT_BUF (48x48,
 * 24x24), run through the float depthwise kernels: their small-plane forms
 * keep more lanes busy than flat_plane (a group of planes a call: the float
 * kernels keep their last plan, dwconv_avx512.c), and their stride-1 row
 * kernels, reading a plane converted into this L1 buffer, beat the int16
 * pairs (bench_i8dw, session 15: 96 planes of 24x24 0.93 -> 0.72 ms a
 * batch of 32, 16 of 48x48 0.41 -> 0.38; at stride 2 the float row kernel
 * was slower, 0.39 -> 0.52 at 24x24, and still after its four-row form
 * (fwd_rows_k3s2), 0.71 -> 1.04 at 48x48, so larger stride-2 planes stay
 * on the int16 pairs). The quantized input and the int8 weights as floats
 * (integers of at most 127 in magnitude), no bias, no activation.
 * Every product is an integer below 2^14 and every partial sum of at most
 * AL_DW_KMAX^2 of them one below 2^20, so each float operation is exact and
 * the float sum is the int32 sum, in any order; the epilogue is finish()'s
 * operations on it. So the result is bitwise the integer kernels'. */
#define FLOAT_MAX_W 12
#define FLOAT_BUF 4096 /* floats of input, and of sums, a group */

/* The integer sums of a group's planes (floats) into the epilogue: plane i
 * at scale sxs[i] * sw[c], bias b[c], act, into the output form. */
VNNI_TARGET static void float_epilogue(const float *acc, size_t out_plane, long g0, int gn, int C, const float *sxs,
                                       const float *sw, const float *b, int act, const al_i8dw_io *io) {
    const __m512 inv = _mm512_set1_ps(io->yinv);
    for (int i = 0, c = (int)(g0 % C); i < gn; i++, c = c + 1 == C ? 0 : c + 1) {
        const __m512 scv = _mm512_set1_ps(sxs[i] * sw[c]), bv = _mm512_set1_ps(b ? b[c] : 0.0f);
        const float *a = acc + (size_t)i * out_plane;
        const size_t o0 = (size_t)(g0 + i) * out_plane;
        for (size_t o = 0; o < out_plane; o += 16) {
            __mmask16 m = al_mask16((long)(out_plane - o));
            __m512 y = finish_f(_mm512_maskz_loadu_ps(m, a + o), scv, bv, act);
            out16(io->y8 ? NULL : io->y, io->y8, inv, o0 + o, m, y, act);
        }
    }
}

/* x[at, at + n) in the input's form as the integers of its quantized
 * values, floats, into xf (inv: 1 / the scale, for float input) */
VNNI_TARGET static void quantized_floats(const al_i8dw_io *io, size_t at, size_t n, __m512 inv, float *xf) {
    for (size_t e = 0; e < n; e += 16) {
        __mmask16 m = al_mask16((long)(n - e));
        __m512i q = io->x8 ? _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, io->x8 + at + e))
                           : al_i8_q16(_mm512_maskz_loadu_ps(m, io->x + at + e), inv);
        _mm512_mask_storeu_ps(xf + e, m, _mm512_cvtepi32_ps(q));
    }
}

/* 16 planes across the lanes: small planes waste most of a vector along a
 * row (6 of 16 lanes at 6x6), so 16 planes of a group are transposed to
 * one vector per pixel (lane i: plane i), each output pixel is k*k fused
 * multiply-adds of whole vectors against the taps' weight vectors (lane i:
 * plane i's channel), and the sums are transposed back for the epilogue.
 * The border is zeros: every sum is of integers below 2^20 (see above), so
 * adding the zero taps, in any order, gives the same exact sum. */
#define T16_PAD 256 /* padded input pixels */
#define T16_OUT 144 /* output pixels */

static int t16_fits(const al_dw_geom *g) {
    return (long)(g->H + 2 * g->p) * (g->W + 2 * g->p) <= T16_PAD && (long)g->Ho * g->Wo <= T16_OUT;
}

/* r[0..16) transposed in place: r[j] lane i = old r[i] lane j */
VNNI_TARGET AI void transpose16(__m512 r[16]) {
    __m512 a[16], b[16];
    for (int i = 0; i < 8; i++) {
        a[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        a[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++) {
        __m512d a0 = _mm512_castps_pd(a[4 * i]), a1 = _mm512_castps_pd(a[4 * i + 1]);
        __m512d a2 = _mm512_castps_pd(a[4 * i + 2]), a3 = _mm512_castps_pd(a[4 * i + 3]);
        b[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a0, a2));
        b[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a0, a2));
        b[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(a1, a3));
        b[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(a1, a3));
    }
    /* b[4g + j], 128-bit lane L: column 4L + j of rows 4g .. 4g + 3 */
    for (int j = 0; j < 4; j++) {
        __m512 t0 = _mm512_shuffle_f32x4(b[j], b[4 + j], 0x44), t1 = _mm512_shuffle_f32x4(b[8 + j], b[12 + j], 0x44);
        __m512 t2 = _mm512_shuffle_f32x4(b[j], b[4 + j], 0xEE), t3 = _mm512_shuffle_f32x4(b[8 + j], b[12 + j], 0xEE);
        r[j] = _mm512_shuffle_f32x4(t0, t1, 0x88);
        r[4 + j] = _mm512_shuffle_f32x4(t0, t1, 0xDD);
        r[8 + j] = _mm512_shuffle_f32x4(t2, t3, 0x88);
        r[12 + j] = _mm512_shuffle_f32x4(t2, t3, 0xDD);
    }
}

/* The sums of 16 planes xf [16][H*W] (weights wf [16][k*k]) into acc
 * [16][Ho*Wo]; xp: T16_PAD vectors whose border (outside the image at
 * padding p) is zero, the interior overwritten here. */
VNNI_TARGET AI void t16_planes(const al_dw_geom *g, const float *xf, const float *wf, float *acc, __m512 *xp,
                               __m512 *ap, int k) {
    const int H = g->H, W = g->W, p = g->p, s = g->s, Wp = W + 2 * p, Ho = g->Ho, Wo = g->Wo, kk = k * k;
    const long in_plane = (long)H * W, out_plane = (long)Ho * Wo;
    __m512 r[16];
    for (long q0 = 0; q0 < in_plane; q0 += 16) {
        const __mmask16 m = al_mask16(in_plane - q0);
        for (int i = 0; i < 16; i++) r[i] = _mm512_maskz_loadu_ps(m, xf + (size_t)i * (size_t)in_plane + q0);
        transpose16(r);
        int iy = (int)(q0 / W), ix = (int)(q0 % W);
        for (int j = 0; j < 16 && q0 + j < in_plane; j++) {
            xp[(iy + p) * Wp + ix + p] = r[j];
            if (++ix == W) ix = 0, iy++;
        }
    }
    __m512 wv[AL_DW_KMAX * AL_DW_KMAX];
    const __m512i rows = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                            _mm512_set1_epi32(kk));
    for (int t = 0; t < kk; t++) wv[t] = _mm512_i32gather_ps(rows, wf + t, 4);
    for (int oy = 0; oy < Ho; oy++)
        for (int ox = 0; ox < Wo; ox++) {
            const __m512 *x0 = xp + (oy * s) * Wp + ox * s;
            __m512 a = _mm512_setzero_ps();
            for (int ky = 0; ky < k; ky++)
                for (int kx = 0; kx < k; kx++) a = _mm512_fmadd_ps(wv[ky * k + kx], x0[ky * Wp + kx], a);
            ap[oy * Wo + ox] = a;
        }
    for (long o0 = 0; o0 < out_plane; o0 += 16) {
        const __mmask16 m = al_mask16(out_plane - o0);
        for (int j = 0; j < 16; j++) r[j] = o0 + j < out_plane ? ap[o0 + j] : _mm512_setzero_ps();
        transpose16(r);
        for (int i = 0; i < 16; i++) _mm512_mask_storeu_ps(acc + (size_t)i * (size_t)out_plane + o0, m, r[i]);
    }
}

__attribute__((noinline)) VNNI_TARGET static void via_float(const al_dw_geom *g, int C, long pl0, long pl1,
                                                           const al_i8dw_io *io, const int8_t *w, const float *sw,
                                                           const float *b, int act) {
    const size_t in_plane = (size_t)g->H * g->W, out_plane = (size_t)g->Ho * g->Wo, kk = (size_t)g->k * g->k;
    long group = AL_MIN((long)(FLOAT_BUF / AL_MAX(in_plane, out_plane)), GROUP_MAX);
    _Alignas(64) float xf[FLOAT_BUF], acc[FLOAT_BUF], wf[GROUP_MAX * AL_DW_KMAX * AL_DW_KMAX];
    float sxs[GROUP_MAX];
    const int one = io->sx > 0.0f; /* one scale for all planes: static, or int8 already */
    const __m512 sinv = _mm512_set1_ps(one ? 1.0f / io->sx : 0.0f);
    /* 16 planes across the lanes for small planes and at least 16 planes */
    const int t16 = g->W <= FLOAT_MAX_W && g->H <= FLOAT_MAX_W && t16_fits(g) && pl1 - pl0 >= 16;
    __m512 xp[T16_PAD], ap[T16_OUT];
    if (t16) {
        for (int i = 0; i < T16_PAD; i++) xp[i] = _mm512_setzero_ps();
        if (group >= 16) group -= group % 16; /* whole blocks of 16 (12x12: 16 planes a group, not 28) */
    }
    for (long g0 = pl0; g0 < pl1; g0 += group) {
        const int gn = (int)AL_MIN(group, pl1 - g0);
        /* the group's planes lie one after the other: with one scale they
         * are converted in one run, else each with its own */
        if (one) quantized_floats(io, (size_t)g0 * in_plane, (size_t)gn * in_plane, sinv, xf);
        for (int i = 0, c = (int)(g0 % C); i < gn; i++, c = c + 1 == C ? 0 : c + 1) {
            const size_t at = (size_t)(g0 + i) * in_plane;
            sxs[i] = one ? io->sx : al_i8_scale_avx512(io->x + at, (long)in_plane);
            if (!one) quantized_floats(io, at, in_plane, _mm512_set1_ps(1.0f / sxs[i]), xf + (size_t)i * in_plane);
            /* channel c = (g0 + i) % C's weights as plane i's channel */
            for (size_t t = 0; t < kk; t += 16) {
                __mmask16 m = al_mask16((long)(kk - t));
                __m512i wi = _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, w + (size_t)c * kk + t));
                _mm512_mask_storeu_ps(wf + (size_t)i * kk + t, m, _mm512_cvtepi32_ps(wi));
            }
        }
        int i0 = 0;
        if (t16)
            for (; i0 + 16 <= gn; i0 += 16) {
                const float *xi = xf + (size_t)i0 * in_plane, *wi = wf + (size_t)i0 * kk;
                float *ai = acc + (size_t)i0 * out_plane;
                if (g->k == 3)
                    t16_planes(g, xi, wi, ai, xp, ap, 3);
                else
                    t16_planes(g, xi, wi, ai, xp, ap, g->k);
            }
        if (i0 < gn)
            al_dw_forward_planes(g, gn - i0, 0, gn - i0, xf + (size_t)i0 * in_plane, wf + (size_t)i0 * kk, NULL, 0,
                                 acc + (size_t)i0 * out_plane);
        float_epilogue(acc, out_plane, g0, gn, C, sxs, sw, b, act, io);
    }
}

/* ---- 3x3 planes through byte permutes (AVX-512 VBMI) ------------------------------ */

/* vpdpbusd adds four u8 x s8 products to an int32 lane. With lane j
 * holding the bytes (x[q_j], x[q_j + 1], x[q_j + 2], any) of the padded
 * plane and the weights broadcast as (w[ky][0], w[ky][1], w[ky][2], 0),
 * one instruction adds a 3-tap row to 16 outputs: a 3x3 plane costs 3 per
 * 16 outputs, with no transposes and no widening. The 16 outputs of a
 * vector are consecutive in the output plane (so small planes fill the
 * lanes across rows), and their taps lie within 128 bytes of the first
 * output's (a vector is cut where they would not): vpermt2b picks them out
 * of two 64-byte loads with one index vector per output vector, the same
 * for the three rows ky (they lie Wp bytes apart). The input is stored
 * offset by 128 (x ^ 0x80 = x + 128 as u8, the padding 0x80 = a zero), so
 * every sum carries 128 times the sum of the channel's weights, taken off
 * where it starts: an exact int32 sum, so bitwise the reference. */
#define VB_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx512vbmi")))
#define VB_PAD 8192 /* padded plane bytes */
#define VB_VEC 256  /* output vectors a plane */
/* Smaller planes (MobileNet's 6x6, and 12x12 at stride 2: 3 vectors a
 * plane) stay on the float path below, 16 planes across the lanes, where
 * the padded copy and the weights are set up once for 16 planes
 * (bench_i8dw, session 18: 192 planes of 6x6 0.13 ms a batch of 32 that
 * way, 0.19 here). */
#define VB_MIN_OUT 128

typedef struct {
    int nv, mode; /* mode 1: one load a vector; 2: two; 3: two a row */
    int base[VB_VEC]; /* first tap of the vector's first output in the padded plane */
    int o0[VB_VEC];   /* the vector's first output */
    int n[VB_VEC];    /* outputs in it, 1..16 */
    _Alignas(64) uint8_t idx[VB_VEC][64];
} vb_plan;

static pthread_once_t vb_once = PTHREAD_ONCE_INIT;
static int vb_auto;
static atomic_int vb_forced = -1;

static void vb_select(void) {
    vb_auto = __builtin_cpu_supports("avx512vbmi") && !al_env_off("AL_I8DW_VBMI");
}

static int vb_enabled(void) {
    int f = atomic_load_explicit(&vb_forced, memory_order_relaxed);
    if (f >= 0) return f;
    pthread_once(&vb_once, vb_select);
    return vb_auto;
}

int al_i8dw_force_vbmi(int on) {
    if (on < 0) {
        atomic_store(&vb_forced, -1);
        return 1;
    }
    if (on && !__builtin_cpu_supports("avx512vbmi")) return 0;
    atomic_store(&vb_forced, on ? 1 : 0);
    return 1;
}

/* The vectors of a plane of geometry g (k = 3) padded to rows of Wp
 * bytes, each spanning at most lim + 1 bytes of a row: their number, 0
 * when there are more than VB_VEC; their tables into t unless t is NULL.
 * Lane j's first tap lies q_j bytes past the vector's first; its index
 * bytes are q_j .. q_j + 3 (the fourth meets the zero weight, so any byte
 * will do; q_j + 3 <= lim + 1 <= 128 fits a byte). */
VB_TARGET static int vb_cut(const al_dw_geom *g, int Wp, long lim, vb_plan *t) {
    const int s = g->s, Wo = g->Wo, Ho = g->Ho;
    const long row = (long)s * Wp; /* bytes from one output row's taps to the next's */
    int nv = 0, oy = 0, ox = 0;
    long o = 0;
    while (oy < Ho) {
        if (nv == VB_VEC) return 0;
        const long base = oy * row + (long)ox * s;
        int32_t q[16];
        int n = 0, y = oy, x = ox;
        while (n < 16 && y < Ho) {
            long d = y * row + (long)x * s - base;
            if (d + 2 > lim) break;
            q[n++] = (int32_t)d;
            if (++x == Wo) x = 0, y++;
        }
        if (n == 0) return 0;
        if (t) {
            for (int j = n; j < 16; j++) q[j] = q[0];
            __m512i qv = _mm512_loadu_si512(q);
            qv = _mm512_add_epi32(_mm512_mullo_epi32(qv, _mm512_set1_epi32(0x01010101)), _mm512_set1_epi32(0x03020100));
            _mm512_store_si512(t->idx[nv], qv);
            t->base[nv] = (int)base, t->o0[nv] = (int)o, t->n[nv] = n;
        }
        nv++;
        o += n, oy = y, ox = x;
    }
    if (t) t->nv = nv;
    return nv;
}

/* The plan with the fewest loads that needs no more vectors than vectors
 * cut by a row's 128-byte window alone: the three rows' taps in one
 * 64-byte load, else in two, else two loads a row. */
static int vb_build(const al_dw_geom *g, int Wp, vb_plan *t) {
    const int n3 = vb_cut(g, Wp, 127, NULL);
    if (!n3) return 0;
    long lim = 127;
    t->mode = 3;
    for (int mode = 2; mode >= 1; mode--) {
        long l = (mode == 1 ? 63 : 127) - 2L * Wp;
        if (l >= 2 && vb_cut(g, Wp, l, NULL) == n3) lim = l, t->mode = mode;
    }
    return vb_cut(g, Wp, lim, t) > 0;
}

/* One plane (xp: padded, offset by 128) into the output form at element
 * offset at of the layer's output. */
VB_TARGET AI void vb_plane(const vb_plan *t, const uint8_t *xp, int Wp, const int8_t *w, float sc, float b, int act,
                           const al_i8dw_io *io, size_t at, int mode) {
    int32_t wr[3], wsum = 0;
    for (int ky = 0; ky < 3; ky++) {
        wr[ky] = (int32_t)((uint32_t)(uint8_t)w[3 * ky] | (uint32_t)(uint8_t)w[3 * ky + 1] << 8 |
                           (uint32_t)(uint8_t)w[3 * ky + 2] << 16);
        wsum += w[3 * ky] + w[3 * ky + 1] + w[3 * ky + 2];
    }
    const __m512i w0 = _mm512_set1_epi32(wr[0]), w1 = _mm512_set1_epi32(wr[1]), w2 = _mm512_set1_epi32(wr[2]);
    const __m512i corr = _mm512_set1_epi32(-128 * wsum);
    const __m512i row1 = _mm512_set1_epi8((char)Wp), row2 = _mm512_set1_epi8((char)(2 * Wp));
    const __m512 scv = _mm512_set1_ps(sc), bv = _mm512_set1_ps(b), inv = _mm512_set1_ps(io->yinv);
    for (int v = 0; v < t->nv; v++) {
        const __m512i ix = _mm512_load_si512(t->idx[v]);
        const uint8_t *r = xp + t->base[v];
        __m512i x0, x1, x2;
        if (mode == 1) {
            const __m512i a = _mm512_loadu_si512(r);
            x0 = _mm512_permutexvar_epi8(ix, a);
            x1 = _mm512_permutexvar_epi8(_mm512_add_epi8(ix, row1), a);
            x2 = _mm512_permutexvar_epi8(_mm512_add_epi8(ix, row2), a);
        } else if (mode == 2) {
            const __m512i a = _mm512_loadu_si512(r), c = _mm512_loadu_si512(r + 64);
            x0 = _mm512_permutex2var_epi8(a, ix, c);
            x1 = _mm512_permutex2var_epi8(a, _mm512_add_epi8(ix, row1), c);
            x2 = _mm512_permutex2var_epi8(a, _mm512_add_epi8(ix, row2), c);
        } else {
            x0 = _mm512_permutex2var_epi8(_mm512_loadu_si512(r), ix, _mm512_loadu_si512(r + 64));
            x1 = _mm512_permutex2var_epi8(_mm512_loadu_si512(r + Wp), ix, _mm512_loadu_si512(r + Wp + 64));
            x2 = _mm512_permutex2var_epi8(_mm512_loadu_si512(r + 2 * Wp), ix, _mm512_loadu_si512(r + 2 * Wp + 64));
        }
        __m512i a = _mm512_dpbusd_epi32(corr, x0, w0);
        a = _mm512_dpbusd_epi32(a, x1, w1);
        a = _mm512_dpbusd_epi32(a, x2, w2);
        out16(io->y8 ? NULL : io->y, io->y8, inv, at + (size_t)t->o0[v], al_mask16(t->n[v]), finish(a, scv, bv, act), act);
    }
}

/* Planes [pl0, pl1) of a 3x3 layer; 0 (nothing done) when the plane is
 * too large for the buffers. */
__attribute__((noinline)) VB_TARGET static int vb_planes(const al_dw_geom *g, int C, long pl0, long pl1,
                                                         const al_i8dw_io *io, const int8_t *w, const float *sw,
                                                         const float *b, int act) {
    const int H = g->H, W = g->W, p = g->p, Wp = W + 2 * p, Hp = H + 2 * p;
    if ((long)Hp * Wp > VB_PAD) return 0;
    vb_plan t;
    if (!vb_build(g, Wp, &t)) return 0;
    _Alignas(64) uint8_t xp[VB_PAD + 128];
    memset(xp, 0x80, (size_t)Hp * Wp + 128);
    const size_t in_plane = (size_t)H * W, out_plane = (size_t)g->Ho * g->Wo;
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    const __m128i flip16 = _mm_set1_epi8((char)0x80);
    for (long pl = pl0; pl < pl1; pl++) {
        const int c = (int)(pl % C);
        float sx = io->sx;
        if (io->x8) {
            const int8_t *src = io->x8 + (size_t)pl * in_plane;
            for (int iy = 0; iy < H; iy++)
                for (int cx = 0; cx < W; cx += 64) {
                    __mmask64 m = W - cx >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << (W - cx)) - 1);
                    __m512i v = _mm512_maskz_loadu_epi8(m, src + (size_t)iy * W + cx);
                    _mm512_mask_storeu_epi8(xp + (size_t)(iy + p) * Wp + p + cx, m, _mm512_xor_si512(v, flip));
                }
        } else {
            const float *src = io->x + (size_t)pl * in_plane;
            if (!(sx > 0.0f)) sx = al_i8_scale_avx512(src, (long)in_plane);
            const __m512 iv = _mm512_set1_ps(1.0f / sx);
            for (int iy = 0; iy < H; iy++)
                for (int cx = 0; cx < W; cx += 16) {
                    __mmask16 m = al_mask16(W - cx);
                    __m128i q = _mm512_cvtepi32_epi8(al_i8_q16(_mm512_maskz_loadu_ps(m, src + (size_t)iy * W + cx), iv));
                    _mm_mask_storeu_epi8(xp + (size_t)(iy + p) * Wp + p + cx, m, _mm_xor_si128(q, flip16));
                }
        }
        const int8_t *wc = w + (size_t)c * 9;
        const float sc = sx * sw[c], bc = b ? b[c] : 0.0f;
        const size_t at = (size_t)pl * out_plane;
        if (t.mode == 1)
            vb_plane(&t, xp, Wp, wc, sc, bc, act, io, at, 1);
        else if (t.mode == 2)
            vb_plane(&t, xp, Wp, wc, sc, bc, act, io, at, 2);
        else
            vb_plane(&t, xp, Wp, wc, sc, bc, act, io, at, 3);
    }
    return 1;
}

VNNI_TARGET int al_i8dw_planes_avx512(const al_dw_geom *g, int C, long pl0, long pl1, const al_i8dw_io *io,
                                      const int8_t *w, const float *sw, const float *b, int act) {
    if (g->k == 3 && g->s <= 2 && (long)g->Ho * g->Wo >= VB_MIN_OUT && vb_enabled() && vb_planes(g, C, pl0, pl1, io, w, sw, b, act)) return 1;
    const long in_plane_f = (long)g->H * g->W, out_plane_f = (long)g->Ho * g->Wo;
    if (g->k <= AL_DW_KMAX && ((g->W <= FLOAT_MAX_W && g->H <= FLOAT_MAX_W) ||
                               (g->s == 1 && in_plane_f <= FLOAT_BUF && out_plane_f <= FLOAT_BUF))) {
        via_float(g, C, pl0, pl1, io, w, sw, b, act);
        return 1;
    }
    /* rows of an even number of elements, so that stride 2's words of two
     * columns line up in every row */
    const int H = g->H, W = g->W, p = g->p, k = g->k, kk = k * k, Hp = H + 2 * p;
    const int Ws = (W + 2 * p + 1) & ~1, s = g->s, odd_rows = s == 2 ? (Hp + 1) / 2 : 0;
    const long per = (long)Hp * Ws;
    if (per > AL_I8DW_PADDED) return 0;
    const long group = AL_MIN(AL_I8DW_PADDED / per, GROUP_MAX);
    const size_t in_plane = (size_t)H * W, out_plane = (size_t)g->Ho * g->Wo;
    /* stride 1: flat when it keeps more lanes busy than rows of 32-lane
     * chunks; stride 2: always */
    const int flat = s == 2 || (long)32 * ((g->Wo + 31) / 32) > (long)Ws;
    int16_t xp[AL_I8DW_PADDED + SLACK];
    float sxs[GROUP_MAX];
    for (long g0 = pl0; g0 < pl1; g0 += group) {
        const int gn = (int)AL_MIN(group, pl1 - g0);
        /* the scales: static (the layer's), else each plane's own */
        for (int i = 0; i < gn; i++)
            sxs[i] = io->sx > 0.0f ? io->sx : al_i8_scale_avx512(io->x + (size_t)(g0 + i) * in_plane, (long)in_plane);
        memset(xp, 0, sizeof(int16_t) * ((size_t)gn * (size_t)per + SLACK));
        for (int i = 0; i < gn; i++) {
            int16_t *xi = xp + (size_t)i * (size_t)per;
            if (io->x8)
                widen_padded(io->x8 + (size_t)(g0 + i) * in_plane, H, W, xi, Ws, p, odd_rows);
            else
                quantize_padded(io->x + (size_t)(g0 + i) * in_plane, H, W, sxs[i], xi, Ws, p, odd_rows);
        }
        for (int i = 0; i < gn; i++) {
            const int c = (int)((g0 + i) % C);
            const int8_t *wc = w + (size_t)c * kk;
            int32_t wp[AL_DW_KMAX * ((AL_DW_KMAX + 1) / 2)];
            al_i8dw_wpairs(wc, k, wp);
            const float sc = sxs[i] * sw[c], bc = b ? b[c] : 0.0f, yinv = io->yinv;
            const int16_t *xi = xp + (size_t)i * (size_t)per, *xo = xi + (size_t)odd_rows * Ws;
            float *yi = io->y8 ? NULL : io->y + (size_t)(g0 + i) * out_plane;
            int8_t *yqi = io->y8 ? io->y8 + (size_t)(g0 + i) * out_plane : NULL;
            if (flat) {
                if (k == 3 && s == 1)
                    flat_plane(g, xi, xo, Ws, wp, sc, bc, act, yi, yqi, yinv, 3, 1);
                else if (k == 3)
                    flat_plane(g, xi, xo, Ws, wp, sc, bc, act, yi, yqi, yinv, 3, 2);
                else if (s == 1)
                    flat_plane(g, xi, xo, Ws, wp, sc, bc, act, yi, yqi, yinv, k, 1);
                else
                    flat_plane(g, xi, xo, Ws, wp, sc, bc, act, yi, yqi, yinv, k, 2);
            } else if (k == 3) {
                padded_plane(g, xi, Ws, wp, sc, bc, act, yi, yqi, yinv, 3, 1);
            } else {
                padded_plane(g, xi, Ws, wp, sc, bc, act, yi, yqi, yinv, k, 1);
            }
        }
    }
    return 1;
}
