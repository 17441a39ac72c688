/* ARM NEON int8 GEMM in dot-product form (contract in kernels.h). Per 16
 * bytes: vmull_s8 / vmlal_high_s8 form 8 int16 sums of two products (at
 * most 2 * 127 * 127 = 32258, no overflow since values avoid -128), and
 * vpadalq_s16 folds them pairwise into 4 int32 accumulators. With the
 * dot-product extension (sdot, compiled in when the target has it) one
 * vdotq_s32 does all of that. Tile: 4 rows of A x 4 rows of B, 16
 * accumulators; K's tail past a multiple of 16 in plain C. Compiled only
 * on aarch64 (CMake filters *_neon*.c). */

#include "kernels/kernels.h"

#include <arm_neon.h>

static inline int32x4_t dot16(int32x4_t acc, int8x16_t a, int8x16_t b) {
#if defined(__ARM_FEATURE_DOTPROD)
    return vdotq_s32(acc, a, b);
#else
    int16x8_t p = vmull_s8(vget_low_s8(a), vget_low_s8(b));
    p = vmlal_high_s8(p, a, b);
    return vpadalq_s16(acc, p);
#endif
}

void al_i8gemm_neon(int M, int N, int K, const int8_t *A, int lda, const int8_t *B, int ldb, int32_t *C, int ldc) {
    int K16 = K & ~15;
    for (int i = 0; i < M; i += 4) {
        const int8_t *a[4];
        for (int r = 0; r < 4; r++) a[r] = A + (size_t)(i + r < M ? i + r : i) * lda;
        for (int j = 0; j < N; j += 4) {
            const int8_t *b[4];
            for (int t = 0; t < 4; t++) b[t] = B + (size_t)(j + t < N ? j + t : j) * ldb;
            int32x4_t acc[4][4];
            for (int r = 0; r < 4; r++)
                for (int t = 0; t < 4; t++) acc[r][t] = vdupq_n_s32(0);
            for (int p = 0; p < K16; p += 16) {
                int8x16_t w0 = vld1q_s8(b[0] + p), w1 = vld1q_s8(b[1] + p), w2 = vld1q_s8(b[2] + p),
                          w3 = vld1q_s8(b[3] + p);
                for (int r = 0; r < 4; r++) {
                    int8x16_t x = vld1q_s8(a[r] + p);
                    acc[r][0] = dot16(acc[r][0], x, w0);
                    acc[r][1] = dot16(acc[r][1], x, w1);
                    acc[r][2] = dot16(acc[r][2], x, w2);
                    acc[r][3] = dot16(acc[r][3], x, w3);
                }
            }
            for (int r = 0; r < 4 && i + r < M; r++)
                for (int t = 0; t < 4 && j + t < N; t++) {
                    int32_t s = vaddvq_s32(acc[r][t]);
                    for (int p = K16; p < K; p++) s += (int32_t)a[r][p] * b[t][p];
                    C[(size_t)(i + r) * ldc + j + t] = s;
                }
        }
    }
}
