/* Implicit-GEMM int8 convolution on AVX-512 VNNI, stride 1 "same" (2p =
 * k - 1, so Ho = H, Wo = W) and stride 2; the contract is in kernels.h
 * (al_i8conv_*).
 *
 * Why no im2col: the K order of the weights is (tap, channel block of 4,
 * channel in block), and the activations are stored as one 32-bit word per
 * (channel block, pixel) holding the 4 channels' bytes, xq4 [C4, P]. Then
 * the operand vpdpbusd needs for 16 output pixels at one (tap, block) -- 16
 * words, 4 channels each -- is the block's image shifted by the tap's
 * d = (ky-p)*W + (kx-p) pixels: one masked load from xq4 + cb*P + q + d,
 * the mask keeping the pixels whose input lies inside the image (as in
 * conv_avx512.c for floats). At stride 2 the image is first dealt into
 * four phase planes of Ho x Wo words (even and odd rows, even and odd
 * columns): output (oy, ox) at tap (ky, kx) reads input (2oy + ky - p,
 * 2ox + kx - p), which is plane ((ky-p) mod 2, (kx-p) mod 2) at (oy + dy,
 * ox + dx), dy = floor((ky-p)/2): again one plane shifted by a constant,
 * so the same tile serves both strides with a table of tap offsets.
 * Masked-off lanes are not read and take the byte 128, which is the
 * offset form of 0 (see below), so padding costs
 * nothing. The quantizer writes xq4 straight from the float image, so the
 * int8 path has no im2row, no packing pass and no int32 buffer: the
 * accumulators go through the epilogue (integer offset correction, scale,
 * bias, ReLU) to y [F, P] in the registers.
 *
 * Unsigned activations: vpdpbusd multiplies unsigned by signed bytes, so
 * activations are stored as q + 128 (1..255) and each sum starts at
 * -128 * rowsum[f], which gives exactly the signed sum. Weights
 * (signed) are broadcast 4 bytes at a time from the packed [fb][tap][cb][8]
 * words. Tile: 8 filters x 32 pixels, 16 zmm accumulators, per k-step 2
 * vector loads and 8 broadcasts for 16 vpdpbusd; a 16-pixel tile at the
 * end of the image. The epilogue's per-filter constants are made once per
 * filter block, and with a fused ReLU or ReLU6 the requantization skips
 * the sign test (al_i8_q16_nonneg).
 *
 * Every value matches the reference path (al_quantize_row_i8, al_im2row_i8,
 * al_i8gemm_ref, then acc * (sx * sw[f]) + b[f]) bit for bit: the same
 * float operations in the same order (multiply, then add; no FMA), exact
 * integer sums. tests/test_quant.c checks it. Pointers to masked-off lanes
 * may lie outside the image; they are formed as integers and used only by
 * masked loads. */

#include "kernels/kernels.h"

#include <immintrin.h>

#define VNNI_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))
#define MR AL_I8C_MR
_Static_assert(AL_I8C_MR == 8, "tile() names 8 accumulator rows");

static inline const void *word_ptr(const uint32_t *base, long off) {
    return (const void *)((uintptr_t)base + (uintptr_t)((intptr_t)off * (intptr_t)sizeof(uint32_t)));
}

/* x [C, P] floats -> xq4 [C4, P] words with a static scale: byte j of word
 * (cb, q) is al_i8_q(x[4cb + j][q] * inv) + 128 (128 for channels past C) */
VNNI_TARGET void al_i8conv_quantize_static_vnni(const float *x, int C, long P, float inv, uint32_t *xq4) {
    const __m512 iv = _mm512_set1_ps(inv);
    const __m512i off = _mm512_set1_epi32(128);
    int C4 = (C + 3) / 4;
    for (int cb = 0; cb < C4; cb++) {
        uint32_t *dst = xq4 + (size_t)cb * (size_t)P;
        for (long q = 0; q < P; q += 16) {
            __mmask16 tm = al_mask16(P - q);
            __m512i word = _mm512_setzero_si512();
            for (int j = 0; j < 4; j++) {
                int c = 4 * cb + j;
                __m512i r = off;
                if (c < C)
                    r = _mm512_add_epi32(al_i8_q16(_mm512_maskz_loadu_ps(tm, x + (size_t)c * (size_t)P + q), iv), off);
                word = _mm512_or_si512(word, _mm512_slli_epi32(r, 8 * j));
            }
            _mm512_mask_storeu_epi32(dst + q, tm, word);
        }
    }
}

/* x [C, P] floats -> xq4 [C4, P] words, byte j of word (cb, q) is
 * q(x[4cb + j][q]) + 128 (128 for channels past C). The scale and the
 * bytes are al_quantize_row_i8's over the whole sample: its scale, then
 * the static form with inv = 1 / s (kernels.h, al_i8_q16). */
VNNI_TARGET float al_i8conv_quantize_vnni(const float *x, int C, long P, uint32_t *xq4) {
    float s = al_i8_scale_avx512(x, (long)C * P);
    al_i8conv_quantize_static_vnni(x, C, P, 1.0f / s, xq4);
    return s;
}

/* Four channel planes of 16 bytes interleaved into 16 words: byte j of word
 * l is channel j's pixel l, + 128 (the sign bit flipped). Runs of 64
 * pixels go through zmm registers: the byte and word unpacks work within
 * 128-bit lanes, so lane L of the four results holds pixels 16L + 0..3,
 * 4..7, 8..11 and 12..15, and a 4 x 4 transpose of lanes (vshufi32x4)
 * puts them in order; the rest 16 at a time. */
VNNI_TARGET void al_i8conv_pack_i8_vnni(const int8_t *x, int C, long P, uint32_t *xq4) {
    const __m128i flip = _mm_set1_epi8((char)0x80);
    const __m512i flip64 = _mm512_set1_epi8((char)0x80);
    int C4 = (C + 3) / 4;
    for (int cb = 0; cb < C4; cb++) {
        uint32_t *dst = xq4 + (size_t)cb * (size_t)P;
        const int8_t *src[4];
        for (int j = 0; j < 4; j++) src[j] = 4 * cb + j < C ? x + (size_t)(4 * cb + j) * (size_t)P : NULL;
        long q = 0;
        for (; q + 64 <= P; q += 64) {
            __m512i v[4];
            for (int j = 0; j < 4; j++)
                v[j] = _mm512_xor_si512(src[j] ? _mm512_loadu_si512(src[j] + q) : _mm512_setzero_si512(), flip64);
            __m512i lo01 = _mm512_unpacklo_epi8(v[0], v[1]), hi01 = _mm512_unpackhi_epi8(v[0], v[1]);
            __m512i lo23 = _mm512_unpacklo_epi8(v[2], v[3]), hi23 = _mm512_unpackhi_epi8(v[2], v[3]);
            __m512i a = _mm512_unpacklo_epi16(lo01, lo23), b = _mm512_unpackhi_epi16(lo01, lo23);
            __m512i c = _mm512_unpacklo_epi16(hi01, hi23), d = _mm512_unpackhi_epi16(hi01, hi23);
            __m512i t0 = _mm512_shuffle_i32x4(a, b, 0x44), t1 = _mm512_shuffle_i32x4(c, d, 0x44);
            __m512i t2 = _mm512_shuffle_i32x4(a, b, 0xEE), t3 = _mm512_shuffle_i32x4(c, d, 0xEE);
            _mm512_storeu_si512(dst + q, _mm512_shuffle_i32x4(t0, t1, 0x88));
            _mm512_storeu_si512(dst + q + 16, _mm512_shuffle_i32x4(t0, t1, 0xDD));
            _mm512_storeu_si512(dst + q + 32, _mm512_shuffle_i32x4(t2, t3, 0x88));
            _mm512_storeu_si512(dst + q + 48, _mm512_shuffle_i32x4(t2, t3, 0xDD));
        }
        for (; q < P; q += 16) {
            __mmask16 tm = al_mask16(P - q);
            /* a missing channel is 0, which is the byte 128 */
            __m128i v[4];
            for (int j = 0; j < 4; j++)
                v[j] = _mm_xor_si128(src[j] ? _mm_maskz_loadu_epi8(tm, src[j] + q) : _mm_setzero_si128(), flip);
            __m128i lo01 = _mm_unpacklo_epi8(v[0], v[1]), hi01 = _mm_unpackhi_epi8(v[0], v[1]);
            __m128i lo23 = _mm_unpacklo_epi8(v[2], v[3]), hi23 = _mm_unpackhi_epi8(v[2], v[3]);
            __m512i word = _mm512_inserti32x4(
                _mm512_inserti32x4(_mm512_inserti32x4(_mm512_castsi128_si512(_mm_unpacklo_epi16(lo01, lo23)),
                                                      _mm_unpackhi_epi16(lo01, lo23), 1),
                                   _mm_unpacklo_epi16(hi01, hi23), 2),
                _mm_unpackhi_epi16(hi01, hi23), 3);
            _mm512_mask_storeu_epi32(dst + q, tm, word);
        }
    }
}

/* xq4 [C4][H*W] -> the phase planes [4][C4][Ho*Wo] that the taps of a
 * stride-2 conv read: row a of plane (py, px) holds the words of input row
 * 2a + py at columns px, px + 2, ... Two loads of 16 words give 16 even and
 * 16 odd columns (vpermt2d). Positions past the image are not written: the
 * masks never let a tap read them. */
VNNI_TARGET void al_i8conv_split_vnni(const uint32_t *xq4, int C4, int H, int W, int Ho, int Wo, int k, int p,
                                      uint32_t *xph) {
    const long P = (long)Ho * Wo, HW = (long)H * W;
    /* the planes some tap reads: parity of ky - p and of kx - p */
    int rows[2] = {0, 0}, cols[2] = {0, 0};
    for (int t = 0; t < k; t++) rows[((t - p) % 2 + 2) % 2] = cols[((t - p) % 2 + 2) % 2] = 1;
    const __m512i ev = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i od = _mm512_add_epi32(ev, _mm512_set1_epi32(1));
    for (int cb = 0; cb < C4; cb++)
        for (int py = 0; py < 2; py++) {
            if (!rows[py]) continue;
            uint32_t *d0 = xph + ((size_t)(2 * py) * C4 + cb) * (size_t)P;
            uint32_t *d1 = xph + ((size_t)(2 * py + 1) * C4 + cb) * (size_t)P;
            for (int a = 0; a < Ho && 2 * a + py < H; a++) {
                const uint32_t *src = xq4 + (size_t)cb * (size_t)HW + (size_t)(2 * a + py) * (size_t)W;
                for (int b = 0; b < Wo; b += 16) {
                    long c = 2L * b;
                    __m512i lo = _mm512_maskz_loadu_epi32(al_mask16(W - c), src + c);
                    __m512i hi = _mm512_maskz_loadu_epi32(al_mask16(W - c - 16), src + c + 16);
                    __mmask16 m = al_mask16(Wo - b);
                    size_t o = (size_t)a * Wo + b;
                    if (cols[0]) _mm512_mask_storeu_epi32(d0 + o, m, _mm512_permutex2var_epi32(lo, ev, hi));
                    if (cols[1]) _mm512_mask_storeu_epi32(d1 + o, m, _mm512_permutex2var_epi32(lo, od, hi));
                }
            }
        }
}

/* A filter block's epilogue constants, made once for all its tiles (made
 * per tile, their scalar loads, the product sx * sw[f] and the broadcasts
 * were more instructions than a thin layer's vpdpbusd). */
typedef struct fb_consts {
    __m512i corr[MR]; /* -128 * rowsum[f]: the accumulators' start */
    __m512 sc[MR], bf[MR];
    int nr; /* filters in the block (< 8 at F's tail) */
} fb_consts;

VNNI_TARGET static void make_consts(const al_i8conv_args *a, int fb, fb_consts *c) {
    c->nr = a->F - fb * MR < MR ? a->F - fb * MR : MR;
    for (int r = 0; r < MR; r++) {
        int f = fb * MR + (r < c->nr ? r : 0);
        c->corr[r] = _mm512_set1_epi32(-128 * a->rowsum[f]);
        c->sc[r] = _mm512_set1_ps(a->sx * a->sw[f]);
        c->bf[r] = _mm512_set1_ps(a->bias ? a->bias[f] : 0.0f);
    }
}

/* One tile: filters [8 fb, 8 fb + 8) x pixel blocks b0 (and b0 + 1 when
 * nv = 2) of 16. Inlined with nv, act and the output form constant, so
 * the nv = 1 form carries no dead accumulators and the epilogue no tests. */
VNNI_TARGET static inline __attribute__((always_inline)) void tile(const al_i8conv_args *a, const fb_consts *fc,
                                                                   int fb, int b0, int nv, int act, int q8) {
    const int kk = a->k * a->k, C4 = a->C4, nb = a->nb;
    const long P = a->P;
    const __m512i k80 = _mm512_set1_epi8((char)0x80);
    /* named accumulators: with arrays GCC 12 stored every one of them to
     * the stack after each vpdpbusd */
    /* each starts at -128 * rowsum[f], the offset's correction (the sums
     * wrap modulo 2^32 on the way, the result is exact) */
    __m512i c00 = fc->corr[0], c10 = fc->corr[1], c20 = fc->corr[2], c30 = fc->corr[3], c40 = fc->corr[4],
            c50 = fc->corr[5], c60 = fc->corr[6], c70 = fc->corr[7];
    __m512i c01 = c00, c11 = c10, c21 = c20, c31 = c30, c41 = c40, c51 = c50, c61 = c60, c71 = c70;
    const uint32_t *wp = a->wpack + (size_t)fb * (size_t)kk * (size_t)C4 * MR;
    for (int t = 0; t < kk; t++) {
        __mmask16 m0 = a->masks[(long)t * nb + b0], m1 = nv > 1 ? a->masks[(long)t * nb + b0 + 1] : 0;
        long o = 16L * b0 + a->toff[t];
        for (int cb = 0; cb < C4; cb++, o += P, wp += MR) {
            __m512i v0 = _mm512_mask_loadu_epi32(k80, m0, word_ptr(a->xq4, o)), v1 = v0, w;
            if (nv > 1) v1 = _mm512_mask_loadu_epi32(k80, m1, word_ptr(a->xq4, o + 16));
#define DP(r)                                                                                                          \
    w = _mm512_set1_epi32((int)wp[r]);                                                                                 \
    c##r##0 = _mm512_dpbusd_epi32(c##r##0, v0, w);                                                                     \
    if (nv > 1) c##r##1 = _mm512_dpbusd_epi32(c##r##1, v1, w);
            DP(0) DP(1) DP(2) DP(3) DP(4) DP(5) DP(6) DP(7)
#undef DP
        }
    }
    const __m512i acc0[MR] = {c00, c10, c20, c30, c40, c50, c60, c70};
    const __m512i acc1[MR] = {c01, c11, c21, c31, c41, c51, c61, c71};
    const __m512 zero = _mm512_setzero_ps(), six = _mm512_set1_ps(6.0f), inv = _mm512_set1_ps(a->yinv);
    for (int v = 0; v < nv; v++) {
        const long q = 16L * (b0 + v);
        const __mmask16 sm = al_mask16(P - q);
        for (int r = 0; r < MR; r++) {
            if (r >= fc->nr) break;
            const size_t o = (size_t)(fb * MR + r) * (size_t)P + (size_t)q;
            __m512 y = _mm512_cvtepi32_ps(v ? acc1[r] : acc0[r]);
            y = _mm512_add_ps(_mm512_mul_ps(y, fc->sc[r]), fc->bf[r]);
            /* ReLU as al_act_apply: keep y > 0 and NaN, else +0. ReLU6 as
             * al_act_apply: max and min return their second operand when
             * one is NaN, so NaN and -0 pass, y < 0 gives +0, y > 6 gives 6 */
            if (act == 1) y = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(y, zero, _CMP_NLE_UQ), y);
            else if (act == 2) y = _mm512_min_ps(six, _mm512_max_ps(zero, y));
            if (q8)
                al_store_i8x16(a->yq + o, sm, al_i8_q16_act(y, inv, act));
            else
                _mm512_mask_storeu_ps(a->y + o, sm, y);
        }
    }
}

/* The filter blocks with act and the output form constant */
VNNI_TARGET static inline __attribute__((always_inline)) void blocks(const al_i8conv_args *a, int fb0, int fb1, int act,
                                                                     int q8) {
    fb_consts fc;
    for (int fb = fb0; fb < fb1; fb++) {
        make_consts(a, fb, &fc);
        int b = 0;
        for (; b + 2 <= a->nb; b += 2) tile(a, &fc, fb, b, 2, act, q8);
        if (b < a->nb) tile(a, &fc, fb, b, 1, act, q8);
    }
}

VNNI_TARGET void al_i8conv_vnni(const al_i8conv_args *a, int fb0, int fb1) {
    int q8 = a->yq != NULL;
    if (a->act == 2) {
        if (q8) blocks(a, fb0, fb1, 2, 1);
        else blocks(a, fb0, fb1, 2, 0);
    } else if (a->act == 1) {
        if (q8) blocks(a, fb0, fb1, 1, 1);
        else blocks(a, fb0, fb1, 1, 0);
    } else {
        if (q8) blocks(a, fb0, fb1, 0, 1);
        else blocks(a, fb0, fb1, 0, 0);
    }
}
