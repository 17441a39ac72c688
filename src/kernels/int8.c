/* int8 GEMM driver, reference, dispatch, activation quantizer and int8
 * im2row (see kernels.h for the contracts). */

#include "kernels/kernels.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(_M_X64)
#define AL_I8_X86 1
#endif

/* ---- variant selection ------------------------------------------------------- */

static const char *const i8_names[AL_I8_NVARIANTS] = {"ref", "avx2", "vnni", "neon"};

const char *al_i8_variant_name(al_i8_variant v) {
    if ((int)v < 0 || v >= AL_I8_NVARIANTS) return "auto";
    return i8_names[v];
}

int al_i8_available(al_i8_variant v) {
    switch (v) {
    case AL_I8_REF: return 1;
#ifdef AL_I8_X86
    case AL_I8_AVX2: return __builtin_cpu_supports("avx2");
    case AL_I8_VNNI:
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
#endif
#if defined(__aarch64__)
    case AL_I8_NEON: return 1;
#endif
    default: return 0;
    }
}

static pthread_once_t i8_once = PTHREAD_ONCE_INIT;
static al_i8_variant i8_auto = AL_I8_REF;
static atomic_int i8_forced = -1;

static int available(int v) { return al_i8_available((al_i8_variant)v); }

static void i8_select(void) {
    al_i8_variant best = AL_I8_REF;
    if (al_i8_available(AL_I8_NEON)) best = AL_I8_NEON;
    if (al_i8_available(AL_I8_AVX2)) best = AL_I8_AVX2;
    if (al_i8_available(AL_I8_VNNI)) best = AL_I8_VNNI;
    i8_auto = (al_i8_variant)al_env_variant("AL_I8GEMM", i8_names, AL_I8_NVARIANTS, available, (int)best);
}

al_i8_variant al_i8_current(void) {
    int f = atomic_load_explicit(&i8_forced, memory_order_relaxed);
    if (f >= 0) return (al_i8_variant)f;
    pthread_once(&i8_once, i8_select);
    return i8_auto;
}

int al_i8_force(al_i8_variant v) {
    if ((int)v < 0) {
        atomic_store(&i8_forced, -1);
        return 1;
    }
    if (v >= AL_I8_NVARIANTS || !al_i8_available(v)) return 0;
    atomic_store(&i8_forced, (int)v);
    return 1;
}

/* ---- reference ------------------------------------------------------------------ */

void al_i8gemm_ref(int M, int N, int K, const int8_t *A, int lda, const int8_t *B, int ldb, int32_t *C, int ldc) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            const int8_t *a = A + (size_t)i * lda, *b = B + (size_t)j * ldb;
            int32_t acc = 0;
            for (int p = 0; p < K; p++) acc += (int32_t)a[p] * (int32_t)b[p];
            C[(size_t)i * ldc + j] = acc;
        }
}

void al_i8_rowsums(const int8_t *B, int N, int K, int ldb, int32_t *out) {
    for (int j = 0; j < N; j++) {
        int32_t s = 0;
        for (int p = 0; p < K; p++) s += B[(size_t)j * ldb + p];
        out[j] = s;
    }
}

/* ---- driver ------------------------------------------------------------------------ */

typedef struct i8_args {
    al_i8_variant v;
    int M, N, K, lda, ldb, ldc;
    const int8_t *A, *B;
    const int32_t *bsum;
    int32_t *C;
} i8_args;

static void i8_range(const i8_args *g, int m0, int m1) {
    int M = m1 - m0;
    const int8_t *A = g->A + (size_t)m0 * g->lda;
    int32_t *C = g->C + (size_t)m0 * g->ldc;
    switch (g->v) {
#ifdef AL_I8_X86
    case AL_I8_AVX2: al_i8gemm_avx2(M, g->N, g->K, A, g->lda, g->B, g->ldb, C, g->ldc); return;
    case AL_I8_VNNI: al_i8gemm_vnni(M, g->N, g->K, A, g->lda, g->B, g->ldb, g->bsum, C, g->ldc); return;
#endif
#if defined(__aarch64__)
    case AL_I8_NEON: al_i8gemm_neon(M, g->N, g->K, A, g->lda, g->B, g->ldb, C, g->ldc); return;
#endif
    default: al_i8gemm_ref(M, g->N, g->K, A, g->lda, g->B, g->ldb, C, g->ldc); return;
    }
}

static void i8_task(void *arg, int ith, int nth) {
    const i8_args *g = arg;
    long lo, hi;
    al_split((g->M + 3) / 4, ith, nth, &lo, &hi);
    int m0 = (int)(lo * 4), m1 = (int)AL_MIN(hi * 4, (long)g->M);
    if (m0 < m1) i8_range(g, m0, m1);
}

void al_i8gemm(al_pool *pool, int M, int N, int K, const int8_t *A, int lda, const int8_t *B, int ldb,
               const int32_t *bsum, int32_t *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {
        for (int i = 0; i < M; i++) memset(C + (size_t)i * ldc, 0, sizeof(int32_t) * (size_t)N);
        return;
    }
    i8_args g = {al_i8_current(), M, N, K, lda, ldb, ldc, A, B, bsum, C};
    if (al_pool_size(pool) > 1 && (long)M * N * K >= 65536L && M >= 8)
        al_pool_run(pool, i8_task, &g);
    else
        i8_range(&g, 0, M);
}

/* ---- activations ------------------------------------------------------------------ */

float al_quantize_row_i8(const float *x, long n, int8_t *q) {
    float mx = 0.0f;
    for (long i = 0; i < n; i++) {
        float a = fabsf(x[i]);
        mx = a > mx ? a : mx;
    }
    /* NaN never wins the comparison above; an all-zero row gets scale 1 */
    float s = mx > 0.0f ? mx / 127.0f : 1.0f;
    float inv = 1.0f / s;
    /* round half away from zero after a clamp in float (inv's rounding at
     * 127; NaN, and an infinity times inv = 0, give -127 as in the vector
     * kernels; a float past int's range never reaches the conversion) */
    for (long i = 0; i < n; i++) q[i] = al_i8_q(x[i] * inv);
    return s;
}

void al_i8_epilogue(const int32_t *acc, long n, float sc, float b, int act, float *y, int8_t *yq, float yinv) {
    switch (al_i8_current()) {
#ifdef AL_I8_X86
    case AL_I8_VNNI: al_i8_epilogue_avx512(acc, n, sc, b, act, y, yq, yinv); return;
    case AL_I8_AVX2: al_i8_epilogue_avx2(acc, n, sc, b, act, y, yq, yinv); return;
#endif
#if defined(__aarch64__)
    case AL_I8_NEON: al_i8_epilogue_neon(acc, n, sc, b, act, y, yq, yinv); return;
#endif
    default: al_i8_epilogue_ref(acc, n, sc, b, act, y, yq, yinv); return;
    }
}

void al_i8_quantize_static(const float *x, long n, float inv, int8_t *q) {
    switch (al_i8_current()) {
#ifdef AL_I8_X86
    case AL_I8_VNNI: al_i8_quantize_static_avx512(x, n, inv, q); return;
    case AL_I8_AVX2: al_i8_quantize_static_avx2(x, n, inv, q); return;
#endif
#if defined(__aarch64__)
    case AL_I8_NEON: al_i8_quantize_static_neon(x, n, inv, q); return;
#endif
    default: al_i8_quantize_static_ref(x, n, inv, q); return;
    }
}

void al_i8_add(const int8_t *a, float sa, const int8_t *b, float sb, long n, float *y, int8_t *yq, float yinv) {
    switch (al_i8_current()) {
#ifdef AL_I8_X86
    case AL_I8_VNNI: al_i8_add_avx512(a, sa, b, sb, n, y, yq, yinv); return;
    case AL_I8_AVX2: al_i8_add_avx2(a, sa, b, sb, n, y, yq, yinv); return;
#endif
#if defined(__aarch64__)
    case AL_I8_NEON: al_i8_add_neon(a, sa, b, sb, n, y, yq, yinv); return;
#endif
    default: al_i8_add_ref(a, sa, b, sb, n, y, yq, yinv); return;
    }
}

void al_im2row_i8(const int8_t *x, int C, int H, int W, int k, int s, int p, int8_t *rows, long ldrow) {
    int Ho = (H + 2 * p - k) / s + 1, Wo = (W + 2 * p - k) / s + 1;
    for (int oy = 0; oy < Ho; oy++)
        for (int ox = 0; ox < Wo; ox++) {
            int8_t *r = rows + ((size_t)oy * Wo + ox) * (size_t)ldrow;
            int iy0 = oy * s - p, ix0 = ox * s - p;
            if (iy0 >= 0 && ix0 >= 0 && iy0 + k <= H && ix0 + k <= W) {
                /* inside the image: k runs of k bytes per channel, copied
                 * inline (a memcpy call per 3 bytes costs more than the
                 * bytes) */
                if (k == 3) { /* the common case, unrolled */
                    for (int c = 0; c < C; c++, r += 9) {
                        const int8_t *s0 = x + ((size_t)c * H + iy0) * W + ix0, *s1 = s0 + W, *s2 = s1 + W;
                        r[0] = s0[0], r[1] = s0[1], r[2] = s0[2];
                        r[3] = s1[0], r[4] = s1[1], r[5] = s1[2];
                        r[6] = s2[0], r[7] = s2[1], r[8] = s2[2];
                    }
                    continue;
                }
                for (int c = 0; c < C; c++) {
                    const int8_t *src = x + ((size_t)c * H + iy0) * W + ix0;
                    for (int ky = 0; ky < k; ky++, r += k, src += W)
                        for (int kx = 0; kx < k; kx++) r[kx] = src[kx];
                }
                continue;
            }
            for (int c = 0; c < C; c++)
                for (int ky = 0; ky < k; ky++, r += k) {
                    int iy = iy0 + ky;
                    for (int kx = 0; kx < k; kx++) {
                        int ix = ix0 + kx;
                        r[kx] = iy >= 0 && iy < H && ix >= 0 && ix < W ? x[((size_t)c * H + iy) * W + ix] : 0;
                    }
                }
        }
}

/* ---- implicit-GEMM conv: portable helpers -------------------------------------------- */

static int out_size(int n, int k, int s, int p) { return (n + 2 * p - k) / s + 1; }

int al_i8conv_applies(int C, int H, int W, int k, int s, int p) {
    if (k < 1 || C < 1 || H < 1 || W < 1 || p < 0 || k * k > AL_I8C_TAPS_MAX) return 0;
    if (s == 1) {
        if (2 * p != k - 1) return 0;
    } else if (s == 2) {
        if (H + 2 * p < k || W + 2 * p < k) return 0;
        /* every input pixel inside its phase plane (a <= (H-1)/2 < Ho) */
        if ((H + 1) / 2 > out_size(H, k, 2, p) || (W + 1) / 2 > out_size(W, k, 2, p)) return 0;
    } else {
        return 0;
    }
    long nb = ((long)out_size(H, k, s, p) * out_size(W, k, s, p) + 15) / 16;
    /* the kernel's word offsets (C4 * P) are longs, its masks one table */
    return nb * k * k <= AL_I8C_MASKS_MAX && (long)C * k * k <= AL_I8_KMAX;
}

size_t al_i8conv_phase_words(int C, int H, int W, int k, int s, int p) {
    if (s != 2) return 0;
    return 4 * (((size_t)C + 3) / 4) * (size_t)out_size(H, k, 2, p) * (size_t)out_size(W, k, 2, p);
}

size_t al_i8conv_wpack_words(int F, int C, int k) {
    size_t fb = ((size_t)F + AL_I8C_MR - 1) / AL_I8C_MR, c4 = ((size_t)C + 3) / 4;
    return fb * (size_t)k * k * c4 * AL_I8C_MR;
}

void al_i8conv_pack_weights(const int8_t *w, int F, int C, int k, uint32_t *dst) {
    int kk = k * k, C4 = (C + 3) / 4, FB = (F + AL_I8C_MR - 1) / AL_I8C_MR;
    for (int fb = 0; fb < FB; fb++)
        for (int t = 0; t < kk; t++)
            for (int cb = 0; cb < C4; cb++)
                for (int r = 0; r < AL_I8C_MR; r++, dst++) {
                    int f = fb * AL_I8C_MR + r;
                    uint32_t word = 0;
                    for (int j = 0; j < 4; j++) {
                        int c = 4 * cb + j;
                        if (f < F && c < C) word |= (uint32_t)(uint8_t)w[((size_t)f * C + c) * kk + t] << (8 * j);
                    }
                    *dst = word;
                }
}

/* floor(v / 2) for any sign */
static int half_floor(int v) { return v >= 0 ? v / 2 : -((1 - v) / 2); }

int al_i8conv_masks(int H, int W, int k, int s, int p, int C4, uint16_t *m, long *toff) {
    int Ho = out_size(H, k, s, p), Wo = out_size(W, k, s, p);
    long P = (long)Ho * Wo;
    int nb = (int)((P + 15) / 16);
    for (int t = 0; t < k * k; t++) {
        int ky = t / k - p, kx = t % k - p; /* the tap's input offset at output (0, 0) */
        if (s == 1) {
            toff[t] = (long)ky * W + kx;
        } else { /* phase plane (py, px), shifted by (dy, dx) plane pixels */
            int dy = half_floor(ky), dx = half_floor(kx), ph = 2 * (ky - 2 * dy) + (kx - 2 * dx);
            toff[t] = (long)ph * C4 * P + (long)dy * Wo + dx;
        }
        if (ky >= 0 && kx >= 0 && (long)(Ho - 1) * s + ky < H && (long)(Wo - 1) * s + kx < W) {
            /* every output's input inside the image (a 1x1 conv's one
             * tap): all lanes but the last block's tail, without the walk
             * (made per call, so per chunk of the chunked forward) */
            for (int b = 0; b < nb; b++) m[(long)t * nb + b] = 0xFFFF;
            if (P % 16) m[(long)t * nb + nb - 1] = (uint16_t)((1u << (P % 16)) - 1u);
            continue;
        }
        /* output pixel q = (oy, ox), walked in order (no division per lane) */
        int oy = 0, ox = 0;
        for (int b = 0; b < nb; b++) {
            unsigned bits = 0;
            for (int l = 0; l < 16 && 16L * b + l < P; l++) {
                int iy = oy * s + ky, ix = ox * s + kx;
                if (iy >= 0 && iy < H && ix >= 0 && ix < W) bits |= 1u << l;
                if (++ox == Wo) ox = 0, oy++;
            }
            m[(long)t * nb + b] = (uint16_t)bits;
        }
    }
    return nb;
}

/* ---- dense with packed weights: portable helper ----------------------------------- */

size_t al_i8dense_wpack_words(int N, int K) { return ((size_t)N + 15) / 16 * 16 * (((size_t)K + 3) / 4); }

void al_i8dense_pack_weights(const int8_t *w, int N, int K, uint32_t *dst) {
    int NB = (N + 15) / 16, K4 = (K + 3) / 4;
    for (int jb = 0; jb < NB; jb++)
        for (int p = 0; p < K4; p++)
            for (int l = 0; l < 16; l++, dst++) {
                int j = 16 * jb + l;
                uint32_t word = 0;
                for (int b = 0; b < 4; b++)
                    if (j < N && 4 * p + b < K) word |= (uint32_t)(uint8_t)w[(size_t)j * K + 4 * p + b] << (8 * b);
                *dst = word;
            }
}
