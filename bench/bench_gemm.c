/* GEMM timing: GFLOP/s of every variant this CPU has, single thread, for
 * square sizes and for the shapes the reference CNN's layers produce, with
 * OpenBLAS (loaded at run time when installed) as the peer in the same run.
 * Not a test: it asserts nothing about time.
 *   bench_gemm [threads]        (default 1) the table
 *   bench_gemm 1 --json         one JSON line for bench/run.sh: square sizes
 *                               64..1024, the automatic variant and OpenBLAS,
 *                               and the core's peak from an FMA loop */
#include "train/train.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef void (*cblas_sgemm_fn)(int, int, int, int, int, int, float, const float *, int, const float *, int, float,
                               float *, int);

/* Single-threaded runs count this thread's CPU time, so a busy machine
 * (time slices lost to other processes) disturbs the figures less. */
static clockid_t clock_id = CLOCK_MONOTONIC;

static double now(void) {
    struct timespec t;
    clock_gettime(clock_id, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

typedef struct shape {
    const char *what;
    int ta, tb, M, N, K;
} shape;

static double timeit(al_pool *pool, cblas_sgemm_fn blas, const shape *s, float *A, float *B, float *C) {
    int lda = s->ta ? s->M : s->K, ldb = s->tb ? s->K : s->N;
    double flop = 2.0 * s->M * s->N * s->K, best = 1e30;
    int reps = (int)(2e8 / flop) + 1;
    for (int trial = 0; trial < 5; trial++) {
        double t0 = now();
        for (int r = 0; r < reps; r++) {
            if (blas)
                blas(101, s->ta ? 112 : 111, s->tb ? 112 : 111, s->M, s->N, s->K, 1.0f, A, lda, B, ldb, 0.0f, C,
                     s->N);
            else
                al_sgemm(pool, s->ta, s->tb, s->M, s->N, s->K, 1.0f, A, lda, B, ldb, 0.0f, C, s->N);
        }
        double t = (now() - t0) / reps;
        if (t < best) best = t;
    }
    return flop / best * 1e-9;
}

/* The core's peak single-precision FLOP/s: independent FMA chains (enough
 * to cover latency x issue width), measured in thread CPU time. */
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
__attribute__((target("avx512f"))) static double fma_peak_avx512(void) {
    __m512 acc[12], m = _mm512_set1_ps(0.999f), a = _mm512_set1_ps(1e-3f);
    for (int i = 0; i < 12; i++) acc[i] = _mm512_set1_ps((float)i);
    long iters = 20000000;
    double t0 = now();
    for (long it = 0; it < iters; it++)
        for (int i = 0; i < 12; i++) acc[i] = _mm512_fmadd_ps(acc[i], m, a);
    double t = now() - t0;
    float sink = 0;
    for (int i = 0; i < 12; i++) sink += _mm512_reduce_add_ps(acc[i]);
    return (sink == 12345.0f ? 0.0 : 1.0) * 2.0 * 16 * 12 * (double)iters / t * 1e-9;
}
__attribute__((target("avx2,fma"))) static double fma_peak_avx2(void) {
    __m256 acc[12], m = _mm256_set1_ps(0.999f), a = _mm256_set1_ps(1e-3f);
    for (int i = 0; i < 12; i++) acc[i] = _mm256_set1_ps((float)i);
    long iters = 20000000;
    double t0 = now();
    for (long it = 0; it < iters; it++)
        for (int i = 0; i < 12; i++) acc[i] = _mm256_fmadd_ps(acc[i], m, a);
    double t = now() - t0;
    float buf[8], sink = 0;
    for (int i = 0; i < 12; i++) {
        _mm256_storeu_ps(buf, acc[i]);
        for (int j = 0; j < 8; j++) sink += buf[j];
    }
    return (sink == 12345.0f ? 0.0 : 1.0) * 2.0 * 8 * 12 * (double)iters / t * 1e-9;
}
#endif

static double fma_peak(void) {
#if defined(__x86_64__) && defined(__GNUC__)
    double best = 0;
    for (int r = 0; r < 3; r++) {
        double p = __builtin_cpu_supports("avx512f") ? fma_peak_avx512()
                   : __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? fma_peak_avx2() : 0;
        if (p > best) best = p;
    }
    return best;
#else
    return 0; /* unknown here: run.sh takes the best GEMM instead */
#endif
}

static int json_mode(al_pool *pool, cblas_sgemm_fn blas) {
    static const int sizes[] = {64, 128, 256, 512, 1024};
    size_t maxe = 1024 * 1024;
    float *A = malloc(sizeof(float) * maxe), *B = malloc(sizeof(float) * maxe), *C = malloc(sizeof(float) * maxe);
    if (!A || !B || !C) return 1;
    for (size_t i = 0; i < maxe; i++) {
        A[i] = (float)((i * 7) % 13) / 13.0f - 0.5f;
        B[i] = (float)((i * 5) % 11) / 11.0f - 0.5f;
    }
    printf("{\"variant\":\"%s\",\"fma_peak_gflops\":%.1f,\"openblas\":%s,\"sizes\":[",
           al_gemm_variant_name(al_gemm_current()), fma_peak(), blas ? "true" : "false");
    for (int i = 0; i < 5; i++) {
        shape s = {"square", 0, 0, sizes[i], sizes[i], sizes[i]};
        double ga = timeit(pool, NULL, &s, A, B, C), gb = blas ? timeit(pool, blas, &s, A, B, C) : 0;
        printf("%s{\"n\":%d,\"autlearn_gflops\":%.1f,\"openblas_gflops\":%.1f}", i ? "," : "", sizes[i], ga, gb);
    }
    printf("]}\n");
    free(A);
    free(B);
    free(C);
    return 0;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 1;
    int json = argc > 2 && !strcmp(argv[2], "--json");
    if (threads <= 0) threads = 1;
    al_pool *pool = NULL;
    if (al_pool_new(threads, &pool) != AL_OK) return 1;
    if (threads == 1) clock_id = CLOCK_THREAD_CPUTIME_ID;
    cblas_sgemm_fn blas = NULL;
    void *h = dlopen("libopenblas.so.0", RTLD_NOW);
    if (h) {
        blas = (cblas_sgemm_fn)(uintptr_t)dlsym(h, "cblas_sgemm");
        void (*set)(int) = (void (*)(int))(uintptr_t)dlsym(h, "openblas_set_num_threads");
        if (set) set(threads);
    }
    if (json) {
        int rc = json_mode(pool, blas);
        al_pool_free(pool);
        if (h) dlclose(h);
        return rc;
    }
    static const shape shapes[] = {
        {"square 64", 0, 0, 64, 64, 64},
        {"square 128", 0, 0, 128, 128, 128},
        {"square 256", 0, 0, 256, 256, 256},
        {"square 512", 0, 0, 512, 512, 512},
        {"square 1024", 0, 0, 1024, 1024, 1024},
        /* the reference CNN's convolutions at batch 32 (conv2d.c's GEMMs) */
        {"conv1 fwd  W*col_i", 0, 0, 32, 784, 9},
        {"conv1 dW   dY*col^T", 0, 1, 32, 9, 32 * 784},
        {"conv2 fwd  W*col", 0, 0, 64, 32 * 196, 288},
        {"conv3 fwd  W*col", 0, 0, 128, 32 * 49, 576},
        {"conv2 dW   dY*col^T", 0, 1, 64, 288, 32 * 196},
        {"conv2 dcol W^T*dY", 1, 0, 288, 32 * 196, 64},
        {"dense fwd  x*W^T", 0, 1, 32, 256, 1152},
        {"small 32x32x32", 0, 0, 32, 32, 32},
    };
    int ns = (int)(sizeof shapes / sizeof shapes[0]);
    size_t maxe = 0;
    for (int i = 0; i < ns; i++) {
        size_t a = (size_t)shapes[i].M * shapes[i].K, b = (size_t)shapes[i].K * shapes[i].N,
               c = (size_t)shapes[i].M * shapes[i].N;
        if (a > maxe) maxe = a;
        if (b > maxe) maxe = b;
        if (c > maxe) maxe = c;
    }
    float *A = malloc(sizeof(float) * maxe), *B = malloc(sizeof(float) * maxe), *C = malloc(sizeof(float) * maxe);
    if (!A || !B || !C) return 1;
    for (size_t i = 0; i < maxe; i++) {
        A[i] = (float)((i * 7) % 13) / 13.0f - 0.5f;
        B[i] = (float)((i * 5) % 11) / 11.0f - 0.5f;
    }
    printf("GFLOP/s, %d thread(s)%s\n%-22s", threads, threads == 1 ? " (thread CPU time)" : "", "shape");
    for (int v = AL_GEMM_C; v < AL_GEMM_NVARIANTS; v++)
        if (al_gemm_available((al_gemm_variant)v)) printf("%9s", al_gemm_variant_name((al_gemm_variant)v));
    printf("%10s%14s\n", blas ? "openblas" : "", blas ? "best/openblas" : "");
    for (int i = 0; i < ns; i++) {
        const shape *s = &shapes[i];
        printf("%-22s", s->what);
        double bestv = 0;
        for (int v = AL_GEMM_C; v < AL_GEMM_NVARIANTS; v++) {
            if (!al_gemm_force((al_gemm_variant)v)) continue;
            double gf = timeit(pool, NULL, s, A, B, C);
            if (gf > bestv) bestv = gf;
            printf("%9.1f", gf);
        }
        if (blas) {
            double gb = timeit(pool, blas, s, A, B, C);
            printf("%10.1f%14.2f", gb, bestv / gb);
        }
        printf("\n");
        fflush(stdout);
    }
    al_gemm_force(AL_GEMM_AUTO);
    free(A);
    free(B);
    free(C);
    al_pool_free(pool);
    if (h) dlclose(h);
    return 0;
}
