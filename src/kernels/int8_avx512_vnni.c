/* AVX-512 VNNI int8 GEMM in dot-product form (contract in int8.h).
 * vpdpbusd multiplies unsigned by signed bytes and adds groups of 4 into
 * int32 lanes without intermediate saturation, 64 multiply-adds per
 * instruction. A (activations, signed) is made unsigned by flipping the sign
 * bit, a + 128, and the 128 * sum_p B[j][p] that adds is subtracted at the
 * end (bsum, kept with the weights). The K tail is a masked load: masked
 * bytes of B are 0, so whatever A holds there contributes nothing.
 * Tile: 4 rows of A x 4 rows of B, 16 zmm accumulators, reduced together
 * by a transpose-and-add tree at the end. */
#include "int8.h"

#include <immintrin.h>

#define VNNI_TARGET __attribute__((target("avx512f,avx512bw,avx512vnni")))

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
