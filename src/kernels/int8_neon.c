/* ARM NEON int8 GEMM in dot-product form (contract in kernels.h). Per 16
 * bytes: vmull_s8 / vmlal_high_s8 form 8 int16 sums of two products (at
 * most 2 * 127 * 127 = 32258, no overflow since values avoid -128), and
 * vpadalq_s16 folds them pairwise into 4 int32 accumulators. With the
 * dot-product extension (ARMv8.2 sdot: nearly every phone core since
 * 2018, Cortex-A55/A75 on) one sdot does all of that. A build for a target
 * that has it (__ARM_FEATURE_DOTPROD) uses it always; a baseline ARMv8.0
 * build on Linux or Android also compiles a copy of the kernel for it and
 * takes that copy where the CPU reports it (getauxval(AT_HWCAP) &
 * HWCAP_ASIMDDP), unless AL_I8_DOTPROD=0. Integer sums are exact either
 * way: the two copies give the same bits. Tile: 4 rows of A x 4 rows of
 * B, 16 accumulators; K's tail past a multiple of 16 in plain C. Compiled
 * only on aarch64 (CMake filters *_neon*.c). */

#include "kernels/kernels.h"

#include <arm_neon.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#define AI static inline __attribute__((always_inline))

#if !defined(__ARM_FEATURE_DOTPROD) && defined(__linux__) && defined(__GNUC__)
#define DOT_RUNTIME 1
#include <sys/auxv.h>
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1UL << 20)
#endif
/* the instruction through inline asm in a function built for it: gcc 12's
 * arm_neon.h and clang 14's offer vdotq_s32 only to a file built so */
#if defined(__clang__)
#define DOT_TARGET __attribute__((target("dotprod")))
#else
#define DOT_TARGET __attribute__((target("arch=armv8.2-a+dotprod")))
#endif
#endif

typedef int32x4_t (*dot_fn)(int32x4_t acc, int8x16_t a, int8x16_t b);

AI int32x4_t dot_mull(int32x4_t acc, int8x16_t a, int8x16_t b) {
    int16x8_t p = vmull_s8(vget_low_s8(a), vget_low_s8(b));
    p = vmlal_high_s8(p, a, b);
    return vpadalq_s16(acc, p);
}

#if defined(__ARM_FEATURE_DOTPROD)
AI int32x4_t dot_sdot(int32x4_t acc, int8x16_t a, int8x16_t b) { return vdotq_s32(acc, a, b); }
#elif DOT_RUNTIME
DOT_TARGET AI int32x4_t dot_sdot(int32x4_t acc, int8x16_t a, int8x16_t b) {
    __asm__("sdot %0.4s, %1.16b, %2.16b" : "+w"(acc) : "w"(a), "w"(b));
    return acc;
}
#endif

AI void gemm(int M, int N, int K, const int8_t *A, int lda, const int8_t *B, int ldb, int32_t *C, int ldc,
             dot_fn dot) {
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
                    acc[r][0] = dot(acc[r][0], x, w0);
                    acc[r][1] = dot(acc[r][1], x, w1);
                    acc[r][2] = dot(acc[r][2], x, w2);
                    acc[r][3] = dot(acc[r][3], x, w3);
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

#if defined(__ARM_FEATURE_DOTPROD)
int al_i8_neon_force_dot(int on) { return on != 0; }

void al_i8gemm_neon(int M, int N, int K, const int8_t *A, int lda, const int8_t *B, int ldb, int32_t *C, int ldc) {
    gemm(M, N, K, A, lda, B, ldb, C, ldc, dot_sdot);
}
#else
static void gemm_mull(int M, int N, int K, const int8_t *A, int lda, const int8_t *B, int ldb, int32_t *C, int ldc) {
    gemm(M, N, K, A, lda, B, ldb, C, ldc, dot_mull);
}

#if DOT_RUNTIME
DOT_TARGET static void gemm_sdot(int M, int N, int K, const int8_t *A, int lda, const int8_t *B, int ldb, int32_t *C,
                                 int ldc) {
    gemm(M, N, K, A, lda, B, ldb, C, ldc, dot_sdot);
}

static int dot_has(void) { return (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0; }
#else
static int dot_has(void) { return 0; }
#endif

static pthread_once_t dot_once = PTHREAD_ONCE_INIT;
static int dot_auto;
static atomic_int dot_forced = -1;

static void dot_select(void) {
    dot_auto = dot_has() && !al_env_off("AL_I8_DOTPROD");
}

int al_i8_neon_force_dot(int on) {
    if (on < 0) {
        atomic_store(&dot_forced, -1);
        return 1;
    }
    if (on && !dot_has()) return 0;
    atomic_store(&dot_forced, on ? 1 : 0);
    return 1;
}

void al_i8gemm_neon(int M, int N, int K, const int8_t *A, int lda, const int8_t *B, int ldb, int32_t *C, int ldc) {
    int f = atomic_load_explicit(&dot_forced, memory_order_relaxed);
    if (f < 0) {
        pthread_once(&dot_once, dot_select);
        f = dot_auto;
    }
#if DOT_RUNTIME
    if (f) {
        gemm_sdot(M, N, K, A, lda, B, ldb, C, ldc);
        return;
    }
#endif
    gemm_mull(M, N, K, A, lda, B, ldb, C, ldc);
}
#endif
