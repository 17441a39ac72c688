/* Portable C micro-kernel, 4 x 8 tile (see kernels.h, "the GEMM micro-kernels", for the contract).
 * 32 accumulators fit the 16 registers of baseline SSE2 as 8 vectors, and
 * the compiler vectorises the j loops on most targets. It is the fallback
 * for CPUs without a hand-written kernel. */
#include "kernels/kernels.h"


#define MR 4
#define NR 8

void al_gemm_ukr_c_4x8(long k, const float *a, const float *b, float *c, long ldc, float alpha, float beta) {
    float acc[MR][NR] = {{0}};
    for (long p = 0; p < k; p++) {
        const float *ap = a + p * MR, *bp = b + p * NR;
        for (int i = 0; i < MR; i++)
            for (int j = 0; j < NR; j++) acc[i][j] += ap[i] * bp[j];
    }
    for (int i = 0; i < MR; i++) {
        float *ci = c + i * ldc;
        if (beta == 0.0f)
            for (int j = 0; j < NR; j++) ci[j] = alpha * acc[i][j];
        else
            for (int j = 0; j < NR; j++) ci[j] = alpha * acc[i][j] + beta * ci[j];
    }
}
