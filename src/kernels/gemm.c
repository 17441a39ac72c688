/* SGEMM entry point. Provisional: splits rows of C over the pool and runs a
 * cache-friendly i-k-j loop; the packed micro-kernel version replaces it. */
#include "al_internal.h"

#include <string.h>

typedef struct {
    int ta, tb, M, N, K;
    float alpha, beta;
    const float *A, *B;
    int lda, ldb, ldc;
    float *C;
} gemm_args;

static void gemm_rows(const gemm_args *g, long i0, long i1) {
    for (long i = i0; i < i1; i++) {
        float *c = g->C + (size_t)i * g->ldc;
        if (g->beta == 0.0f)
            memset(c, 0, sizeof(float) * (size_t)g->N);
        else if (g->beta != 1.0f)
            for (int j = 0; j < g->N; j++) c[j] *= g->beta;
        for (int p = 0; p < g->K; p++) {
            float a = g->alpha * (g->ta ? g->A[(size_t)p * g->lda + i] : g->A[(size_t)i * g->lda + p]);
            if (!g->tb) {
                const float *b = g->B + (size_t)p * g->ldb;
                for (int j = 0; j < g->N; j++) c[j] += a * b[j];
            } else {
                for (int j = 0; j < g->N; j++) c[j] += a * g->B[(size_t)j * g->ldb + p];
            }
        }
    }
}

static void gemm_task(void *arg, int ith, int nth) {
    const gemm_args *g = arg;
    long lo, hi;
    al_split(g->M, ith, nth, &lo, &hi);
    gemm_rows(g, lo, hi);
}

void al_sgemm(al_pool *pool, int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    gemm_args g = {ta, tb, M, N, K, alpha, beta, A, B, lda, ldb, ldc, C};
    if ((long)M * N * K < 32768 || al_pool_size(pool) == 1)
        gemm_rows(&g, 0, M);
    else
        al_pool_run(pool, gemm_task, &g);
}
