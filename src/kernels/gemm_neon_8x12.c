/* ARM NEON micro-kernel, 8 x 12 tile (see kernels.h for the contract).
 * 24 q-register accumulators, 2 for the A column and 3 for the B row: 29 of
 * the 32 registers; each k step is 5 loads and 24 lane FMAs. Compiled only
 * on aarch64 (CMake filters *_neon*.c). */

#include "kernels/kernels.h"

#include <arm_neon.h>

static inline void store4(float *c, float32x4_t x, float32x4_t va, float32x4_t vb, int beta0) {
    x = vmulq_f32(va, x);
    if (!beta0) x = vaddq_f32(x, vmulq_f32(vb, vld1q_f32(c)));
    vst1q_f32(c, x);
}

void al_gemm_ukr_neon_8x12(long k, const float *a, const float *b, float *c, long ldc, float alpha, float beta) {
    float32x4_t acc[8][3];
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 3; j++) acc[i][j] = vdupq_n_f32(0.0f);
    for (long p = 0; p < k; p++) {
        float32x4_t a0 = vld1q_f32(a), a1 = vld1q_f32(a + 4);
        float32x4_t b0 = vld1q_f32(b), b1 = vld1q_f32(b + 4), b2 = vld1q_f32(b + 8);
#define NEON_ROW(i, av, lane)                                                                                   \
    acc[i][0] = vfmaq_laneq_f32(acc[i][0], b0, av, lane);                                                       \
    acc[i][1] = vfmaq_laneq_f32(acc[i][1], b1, av, lane);                                                       \
    acc[i][2] = vfmaq_laneq_f32(acc[i][2], b2, av, lane);
        NEON_ROW(0, a0, 0)
        NEON_ROW(1, a0, 1)
        NEON_ROW(2, a0, 2)
        NEON_ROW(3, a0, 3)
        NEON_ROW(4, a1, 0)
        NEON_ROW(5, a1, 1)
        NEON_ROW(6, a1, 2)
        NEON_ROW(7, a1, 3)
#undef NEON_ROW
        a += 8;
        b += 12;
    }
    float32x4_t va = vdupq_n_f32(alpha), vb = vdupq_n_f32(beta);
    int beta0 = beta == 0.0f;
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 3; j++) store4(c + i * ldc + 4 * j, acc[i][j], va, vb, beta0);
}
