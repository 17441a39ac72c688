/* AVX-512 VNNI int8 GEMM in dot-product form (contract in kernels.h).
 * vpdpbusd multiplies unsigned by signed bytes and adds groups of 4 into
 * int32 lanes without intermediate saturation, 64 multiply-adds per
 * instruction. A (activations, signed) is made unsigned by flipping the sign
 * bit, a + 128, and the 128 * sum_p B[j][p] that adds is subtracted at the
 * end (bsum, kept with the weights). The K tail is a masked load: masked
 * bytes of B are 0, so whatever A holds there contributes nothing.
 * Tile: 4 rows of A x 4 rows of B, 16 zmm accumulators, reduced together
 * by a transpose-and-add tree at the end. */

#include "kernels/kernels.h"

#include <immintrin.h>

#define VNNI_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))

/* Sums of the 16 lanes of each of 4 vectors v0..v3 into lanes 0..3 of a
 * 128-bit result. */
VNNI_TARGET static inline __m128i reduce4(__m512i v0, __m512i v1, __m512i v2, __m512i v3) {
    /* per 128-bit chunk: [v0 (l0+l2), v1 (l0+l2), v0 (l1+l3), v1 (l1+l3)] */
    __m512i a = _mm512_add_epi32(_mm512_unpacklo_epi32(v0, v1), _mm512_unpackhi_epi32(v0, v1));
    __m512i b = _mm512_add_epi32(_mm512_unpacklo_epi32(v2, v3), _mm512_unpackhi_epi32(v2, v3));
    /* per chunk: [v0, v1, v2, v3] partial sums of that chunk */
    __m512i c = _mm512_add_epi32(_mm512_unpacklo_epi64(a, b), _mm512_unpackhi_epi64(a, b));
    __m256i d = _mm256_add_epi32(_mm512_castsi512_si256(c), _mm512_extracti64x4_epi64(c, 1));
    return _mm_add_epi32(_mm256_castsi256_si128(d), _mm256_extracti128_si256(d, 1));
}

VNNI_TARGET void al_i8gemm_vnni(int M, int N, int K, const int8_t *A, int lda, const int8_t *B, int ldb,
                                const int32_t *bsum, int32_t *C, int ldc) {
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    int K64 = K & ~63;
    __mmask64 tail = K - K64 ? (~(__mmask64)0 >> (64 - (K - K64))) : 0;
    for (int j = 0; j < N; j += 4) {
        const int8_t *b[4];
        int32_t bs[4];
        for (int t = 0; t < 4; t++) {
            int jt = j + t < N ? j + t : j; /* a missing row repeats row j; dropped */
            b[t] = B + (size_t)jt * ldb;
            if (bsum) {
                bs[t] = bsum[jt];
            } else {
                int32_t s = 0;
                for (int p = 0; p < K; p++) s += b[t][p];
                bs[t] = s;
            }
        }
        int nr = N - j < 4 ? N - j : 4;
        for (int i = 0; i < M; i += 4) {
            const int8_t *a[4];
            for (int t = 0; t < 4; t++) a[t] = A + (size_t)(i + t < M ? i + t : i) * lda;
            __m512i acc[4][4];
            for (int r = 0; r < 4; r++)
                for (int t = 0; t < 4; t++) acc[r][t] = _mm512_setzero_si512();
            for (int p = 0; p <= K64; p += 64) {
                __m512i w[4], x;
                if (p < K64) {
                    for (int t = 0; t < 4; t++) w[t] = _mm512_loadu_si512((const void *)(b[t] + p));
                } else {
                    if (!tail) break;
                    for (int t = 0; t < 4; t++) w[t] = _mm512_maskz_loadu_epi8(tail, b[t] + p);
                }
                for (int r = 0; r < 4; r++) {
                    x = p < K64 ? _mm512_loadu_si512((const void *)(a[r] + p)) : _mm512_maskz_loadu_epi8(tail, a[r] + p);
                    x = _mm512_xor_si512(x, flip);
                    acc[r][0] = _mm512_dpbusd_epi32(acc[r][0], x, w[0]);
                    acc[r][1] = _mm512_dpbusd_epi32(acc[r][1], x, w[1]);
                    acc[r][2] = _mm512_dpbusd_epi32(acc[r][2], x, w[2]);
                    acc[r][3] = _mm512_dpbusd_epi32(acc[r][3], x, w[3]);
                }
            }
            __m128i comp = _mm_slli_epi32(_mm_loadu_si128((const __m128i *)bs), 7);
            for (int r = 0; r < 4 && i + r < M; r++) {
                __m128i s = _mm_sub_epi32(reduce4(acc[r][0], acc[r][1], acc[r][2], acc[r][3]), comp);
                int32_t o[4];
                _mm_storeu_si128((__m128i *)o, s);
                for (int t = 0; t < nr; t++) C[(size_t)(i + r) * ldc + j + t] = o[t];
            }
        }
    }
}

/* ---- dense with packed weights (al_i8dense_*, kernels.h) ---------------------------------
 * The activations are the broadcast operand (4 bytes of a row, unsigned:
 * q + 128), the weights the vector operand (16 output columns x 4 k), so
 * the accumulators are rows of y and go through the epilogue (offset
 * correction, scale, bias) to y directly, no reductions, no int32 buffer.
 * Tile: 4 rows x 64 columns, 16 accumulators; per k-step 4 loads and 4
 * broadcasts for 16 vpdpbusd. The same float operations as the reference
 * epilogue, acc * (sx[r] * sw[j]) + b[j], so the results are bitwise its. */

VNNI_TARGET void al_i8_quantize_row_u8_static_vnni(const float *x, int K, float inv, uint8_t *q) {
    const __m512 iv = _mm512_set1_ps(inv);
    const __m512i off = _mm512_set1_epi32(128);
    int K4 = (K + 3) & ~3;
    for (int i = 0; i < K4; i += 16) {
        __m512i r = _mm512_add_epi32(al_i8_q16(_mm512_maskz_loadu_ps(al_mask16(K - i), x + i), iv), off);
        /* lanes K..K4-1 hold 128 (0 past K): their weights are 0 */
        _mm_mask_storeu_epi8(q + i, al_mask16(K4 - i), _mm512_cvtepi32_epi8(r));
    }
}

/* al_quantize_row_i8's scale and bytes (+ 128): the static form with
 * inv = 1 / s (kernels.h, al_i8_q16) */
VNNI_TARGET float al_i8_quantize_row_u8_vnni(const float *x, int K, uint8_t *q) {
    float s = al_i8_scale_avx512(x, K);
    al_i8_quantize_row_u8_static_vnni(x, K, 1.0f / s, q);
    return s;
}

VNNI_TARGET void al_i8_pack_row_u8_vnni(const int8_t *x, int K, uint8_t *q) {
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    int K4 = (K + 3) & ~3;
    for (int i = 0; i < K4; i += 64) {
        int left = K - i, pad = K4 - i;
        __mmask64 m = left >= 64 ? ~(__mmask64)0 : left > 0 ? (~(__mmask64)0 >> (64 - left)) : 0;
        __mmask64 mp = pad >= 64 ? ~(__mmask64)0 : (~(__mmask64)0 >> (64 - pad));
        _mm512_mask_storeu_epi8(q + i, mp, _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, x + i), flip));
    }
}

VNNI_TARGET static inline __attribute__((always_inline)) void dense_tile(const al_i8dense_args *a, int i, int jb) {
    const int K4 = (a->K + 3) / 4, M = a->M;
    const uint32_t *row[4];
    for (int r = 0; r < 4; r++) row[r] = a->xq + (size_t)(i + r < M ? i + r : i) * (size_t)K4;
    __m512i c00 = _mm512_setzero_si512(), c01 = c00, c02 = c00, c03 = c00, c10 = c00, c11 = c00, c12 = c00,
            c13 = c00;
    __m512i c20 = c00, c21 = c00, c22 = c00, c23 = c00, c30 = c00, c31 = c00, c32 = c00, c33 = c00;
    int nv = (a->N - 16 * jb + 15) / 16;
    nv = nv > 4 ? 4 : nv;
    /* column blocks past N read block jb again; their results are dropped */
    const uint32_t *w0 = a->wpack + (size_t)jb * K4 * 16, *w1 = nv > 1 ? w0 + (size_t)K4 * 16 : w0;
    const uint32_t *w2 = nv > 2 ? w0 + (size_t)2 * K4 * 16 : w0, *w3 = nv > 3 ? w0 + (size_t)3 * K4 * 16 : w0;
    for (int p = 0; p < K4; p++) {
        __m512i b0 = _mm512_loadu_si512(w0 + 16 * p), b1 = _mm512_loadu_si512(w1 + 16 * p);
        __m512i b2 = _mm512_loadu_si512(w2 + 16 * p), b3 = _mm512_loadu_si512(w3 + 16 * p), x;
#define ROW(r)                                                                                                         \
    x = _mm512_set1_epi32((int)row[r][p]);                                                                             \
    c##r##0 = _mm512_dpbusd_epi32(c##r##0, x, b0);                                                                     \
    c##r##1 = _mm512_dpbusd_epi32(c##r##1, x, b1);                                                                     \
    c##r##2 = _mm512_dpbusd_epi32(c##r##2, x, b2);                                                                     \
    c##r##3 = _mm512_dpbusd_epi32(c##r##3, x, b3);
        ROW(0) ROW(1) ROW(2) ROW(3)
#undef ROW
    }
    const __m512i acc[4][4] = {{c00, c01, c02, c03}, {c10, c11, c12, c13}, {c20, c21, c22, c23}, {c30, c31, c32, c33}};
    for (int v = 0; v < nv; v++) {
        int j = 16 * (jb + v);
        __mmask16 tm = al_mask16(a->N - j);
        __m512i corr = _mm512_slli_epi32(_mm512_maskz_loadu_epi32(tm, a->rowsum + j), 7);
        __m512 sw = _mm512_maskz_loadu_ps(tm, a->sw + j);
        __m512 bf = a->bias ? _mm512_maskz_loadu_ps(tm, a->bias + j) : _mm512_setzero_ps();
        const __m512 zero = _mm512_setzero_ps(), six = _mm512_set1_ps(6.0f);
        for (int r = 0; r < 4 && i + r < M; r++) {
            __m512 y = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc[r][v], corr));
            y = _mm512_add_ps(_mm512_mul_ps(y, _mm512_mul_ps(_mm512_set1_ps(a->sx[i + r]), sw)), bf);
            /* the fused activation as al_i8_finish */
            if (a->act == 1) y = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(y, zero, _CMP_NLE_UQ), y);
            else if (a->act == 2) y = _mm512_min_ps(six, _mm512_max_ps(zero, y));
            if (a->yq)
                al_store_i8x16(a->yq + (size_t)(i + r) * a->N + j, tm,
                               al_i8_q16_act(y, _mm512_set1_ps(a->yinv), a->act));
            else
                _mm512_mask_storeu_ps(a->y + (size_t)(i + r) * a->N + j, tm, y);
        }
    }
}

VNNI_TARGET void al_i8dense_vnni(const al_i8dense_args *a, int jb0, int jb1) {
    for (int jb = jb0; jb < jb1; jb += 4)
        for (int i = 0; i < a->M; i += 4) dense_tile(a, i, jb);
}
