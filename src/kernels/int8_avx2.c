/* AVX2 int8 GEMM in dot-product form (contract in kernels.h). Each 16-byte
 * chunk of a row is sign-extended to 16 int16 (vpmovsxbw) and multiplied
 * pairwise into 8 int32 (vpmaddwd): no int16 saturation, unlike vpmaddubsw
 * on two signed operands. Tile: 2 rows of A x 4 rows of B, 8 accumulators
 * plus 2 + 1 operand registers; K's tail past a multiple of 16 in plain C. */

#include "kernels/kernels.h"

#include <immintrin.h>

static inline int32_t hsum8(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

static inline __m256i ld16(const int8_t *p) { return _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)p)); }

static int32_t dot_tail(const int8_t *a, const int8_t *b, int p, int K) {
    int32_t s = 0;
    for (; p < K; p++) s += (int32_t)a[p] * b[p];
    return s;
}

void al_i8gemm_avx2(int M, int N, int K, const int8_t *A, int lda, const int8_t *B, int ldb, int32_t *C, int ldc) {
    int K16 = K & ~15;
    for (int i = 0; i < M; i += 2) {
        /* a missing second row re-reads the first; its results are dropped */
        const int8_t *a0 = A + (size_t)i * lda, *a1 = i + 1 < M ? a0 + lda : a0;
        for (int j = 0; j < N; j += 4) {
            const int8_t *b[4];
            for (int t = 0; t < 4; t++) b[t] = B + (size_t)(j + t < N ? j + t : j) * ldb;
            __m256i c00 = _mm256_setzero_si256(), c01 = c00, c02 = c00, c03 = c00;
            __m256i c10 = c00, c11 = c00, c12 = c00, c13 = c00;
            for (int p = 0; p < K16; p += 16) {
                __m256i x0 = ld16(a0 + p), x1 = ld16(a1 + p), w;
                w = ld16(b[0] + p);
                c00 = _mm256_add_epi32(c00, _mm256_madd_epi16(x0, w));
                c10 = _mm256_add_epi32(c10, _mm256_madd_epi16(x1, w));
                w = ld16(b[1] + p);
                c01 = _mm256_add_epi32(c01, _mm256_madd_epi16(x0, w));
                c11 = _mm256_add_epi32(c11, _mm256_madd_epi16(x1, w));
                w = ld16(b[2] + p);
                c02 = _mm256_add_epi32(c02, _mm256_madd_epi16(x0, w));
                c12 = _mm256_add_epi32(c12, _mm256_madd_epi16(x1, w));
                w = ld16(b[3] + p);
                c03 = _mm256_add_epi32(c03, _mm256_madd_epi16(x0, w));
                c13 = _mm256_add_epi32(c13, _mm256_madd_epi16(x1, w));
            }
            int32_t r[2][4] = {{hsum8(c00), hsum8(c01), hsum8(c02), hsum8(c03)},
                               {hsum8(c10), hsum8(c11), hsum8(c12), hsum8(c13)}};
            int nr = N - j < 4 ? N - j : 4;
            for (int t = 0; t < nr; t++) {
                C[(size_t)i * ldc + j + t] = r[0][t] + dot_tail(a0, b[t], K16, K);
                if (i + 1 < M) C[(size_t)(i + 1) * ldc + j + t] = r[1][t] + dot_tail(a1, b[t], K16, K);
            }
        }
    }
}
