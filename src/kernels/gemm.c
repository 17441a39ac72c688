/* SGEMM: C = alpha * op(A) * op(B) + beta * C, row-major, BLIS style.
 *
 * Loops, outermost first (BLIS's five loops around a micro-kernel):
 *   jc over N by NC     B block (KC x NC) packed into NR-column panels (L3/L2)
 *   pc over K by KC     first block applies beta, later ones accumulate
 *   ic over M by MC     A block (MC x KC) packed into MR-row panels (L2)
 *   jr over NC by NR    one B panel (KC x NR) stays in L1 ...
 *   ir over MC by MR    ... while the A panels stream past it
 * Packing is where the transposes go: all four op() combinations reach the
 * micro-kernel as the same contiguous panels, padded with zeros to full
 * tiles. Edge tiles run the same kernel into a small buffer and are copied
 * out.
 *
 * Threads split the output statically into a tm x tn grid of whole tiles;
 * each thread packs its own panels. Every element is summed in the same
 * order whatever the split (K blocking and tile boundaries are fixed by the
 * matrix, not the thread), so the result is bitwise the same for any thread
 * count.
 *
 * Pack buffers are per thread and kept between calls (grown when a larger
 * call needs more, freed when the thread exits), so a training step does
 * not allocate. If that allocation fails the call falls back to an
 * unpacked loop: al_sgemm cannot fail. */
#include "kernels/kernels.h"

#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef void (*ukr_ep_fn)(long k, const float *a, const float *b, float *c, long ldc, const float *rb,
                          const float *cb, int first, int act);

typedef struct gemm_kernel {
    al_gemm_variant v;
    int mr, nr;     /* tile */
    int kc, mc, nc; /* blocking; mc a multiple of mr, nc of nr */
    al_gemm_ukr_fn ukr;
    ukr_ep_fn ukr_ep; /* al_sgemm_ep's epilogue in the kernel; NULL: the driver's, per tile */
} gemm_kernel;

/* Blocking: an A block mc x kc of about 100-200 KB sits in L2, a B panel
 * kc x nr of 16-32 KB in L1 (this is the register tile times kc). */
static const gemm_kernel k_c = {AL_GEMM_C, 4, 8, 256, 128, 2048, al_gemm_ukr_c_4x8, NULL};
#if defined(__x86_64__) || defined(_M_X64)
#define AL_GEMM_X86 1
static const gemm_kernel k_avx2 = {AL_GEMM_AVX2, 6, 16, 256, 144, 2048, al_gemm_ukr_avx2_6x16, NULL};
static const gemm_kernel k_avx512 = {AL_GEMM_AVX512, 12, 32, 256, 144, 2048, al_gemm_ukr_avx512_12x32,
                                      al_gemm_ukr_avx512_12x32_ep};
static const gemm_kernel k_avx512_8 = {AL_GEMM_AVX512, 8, 32, 256, 144, 2048, al_gemm_ukr_avx512_8x32,
                                        al_gemm_ukr_avx512_8x32_ep};
/* gemm_pack_avx512.c (kernels.h): pack_strided for R = 32 and R = 8 by
 * register transposes, pack_contig for R = 32 by masked loads (bitwise the
 * same panels) */
#endif
#if defined(__aarch64__)
static const gemm_kernel k_neon = {AL_GEMM_NEON, 8, 12, 256, 128, 2040, al_gemm_ukr_neon_8x12, NULL};
#endif

#define TILE_MAX (16 * 64)

/* ---- variant selection -------------------------------------------------- */

static const char *const variant_names[AL_GEMM_NVARIANTS] = {"ref", "c", "avx2", "avx512", "neon"};

const char *al_gemm_variant_name(al_gemm_variant v) {
    if ((int)v < 0 || v >= AL_GEMM_NVARIANTS) return "auto";
    return variant_names[v];
}

int al_gemm_available(al_gemm_variant v) {
    switch (v) {
    case AL_GEMM_REF:
    case AL_GEMM_C: return 1;
#ifdef AL_GEMM_X86
    case AL_GEMM_AVX2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case AL_GEMM_AVX512: return __builtin_cpu_supports("avx512f");
#endif
#if defined(__aarch64__)
    case AL_GEMM_NEON: return 1;
#endif
    default: return 0;
    }
}

static pthread_once_t select_once = PTHREAD_ONCE_INIT;
static al_gemm_variant auto_variant = AL_GEMM_C;
static atomic_int forced_variant = -1;

static int available(int v) { return al_gemm_available((al_gemm_variant)v); }

static void select_variant(void) {
    al_gemm_variant best = AL_GEMM_C;
    if (al_gemm_available(AL_GEMM_NEON)) best = AL_GEMM_NEON;
    if (al_gemm_available(AL_GEMM_AVX2)) best = AL_GEMM_AVX2;
    if (al_gemm_available(AL_GEMM_AVX512)) best = AL_GEMM_AVX512;
    auto_variant = (al_gemm_variant)al_env_variant("AL_GEMM", variant_names, AL_GEMM_NVARIANTS, available, (int)best);
}

al_gemm_variant al_gemm_current(void) {
    int f = atomic_load_explicit(&forced_variant, memory_order_relaxed);
    if (f >= 0) return (al_gemm_variant)f;
    pthread_once(&select_once, select_variant);
    return auto_variant;
}

int al_gemm_force(al_gemm_variant v) {
    if ((int)v < 0) {
        atomic_store(&forced_variant, -1);
        return 1;
    }
    if (v >= AL_GEMM_NVARIANTS || !al_gemm_available(v)) return 0;
    atomic_store(&forced_variant, (int)v);
    return 1;
}

static const gemm_kernel *kernel_of(al_gemm_variant v) {
    switch (v) {
#ifdef AL_GEMM_X86
    case AL_GEMM_AVX2: return &k_avx2;
    case AL_GEMM_AVX512: return &k_avx512;
#endif
#if defined(__aarch64__)
    case AL_GEMM_NEON: return &k_neon;
#endif
    default: return &k_c;
    }
}

/* The kernel for an M-row product: AVX-512's 8-row tile when it pads M to
 * fewer rows than the 12-row one (M = 32, 64); the shape alone decides, so
 * results stay the same for any thread count. */
static const gemm_kernel *kernel_for(al_gemm_variant v, int M) {
#ifdef AL_GEMM_X86
    if (v == AL_GEMM_AVX512 && (M + 7) / 8 * 8 < (M + 11) / 12 * 12) return &k_avx512_8;
#endif
    AL_UNUSED(M);
    return kernel_of(v);
}

/* ---- per-thread pack buffer --------------------------------------------- */

static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static pthread_key_t buf_key;
static int buf_key_ok;
static _Thread_local void *tl_raw;
static _Thread_local size_t tl_cap; /* floats */

static void buf_destroy(void *p) { al_free(p); }
static void key_init(void) { buf_key_ok = pthread_key_create(&buf_key, buf_destroy) == 0; }

/* A buffer lent to this thread (al_gemm_lend_buffer), used before its own */
static _Thread_local float *tl_lent;
static _Thread_local size_t tl_lent_n;
/* requests a lent buffer was too small for (al_gemm_lend_misses), and the
 * largest request a thread's own buffer served since the last reset
 * (al_gemm_own_peak) */
static atomic_ulong lend_misses;
static atomic_size_t own_peak;

/* Floats a thread's own buffer is made of to serve a request of n: whole
 * 64 KiB steps, so a growing request reallocates rarely */
static size_t own_floats(size_t n) { return (n + 16383) & ~(size_t)16383; }

/* A 64-byte aligned buffer of at least n floats: the one lent to this
 * thread when it is large enough, else this thread's own; NULL when that
 * cannot be allocated. */
static float *thread_buffer(size_t n) {
    if (tl_lent && n <= tl_lent_n) return tl_lent;
    if (tl_lent) atomic_fetch_add_explicit(&lend_misses, 1, memory_order_relaxed);
    size_t peak = atomic_load_explicit(&own_peak, memory_order_relaxed);
    while (n > peak && !atomic_compare_exchange_weak_explicit(&own_peak, &peak, n, memory_order_relaxed,
                                                              memory_order_relaxed)) {
    }
    if (n > tl_cap) {
        pthread_once(&key_once, key_init);
        size_t cap = own_floats(n);
        void *p = al_malloc(cap * sizeof(float) + 64);
        if (!p) return NULL;
        al_free(tl_raw);
        tl_raw = p;
        tl_cap = cap;
        if (buf_key_ok) pthread_setspecific(buf_key, p);
    }
    return (float *)(((uintptr_t)tl_raw + 63) & ~(uintptr_t)63);
}

/* K's block: K in equal blocks of at most kc (288 = 144 + 144, not 256 +
 * 32, whose short block pays a whole pass over C (load, add, store) for 32
 * multiply-adds an element). Depends on K only. */
static int k_block(const gemm_kernel *kn, int K) {
    int nkb = (K + kn->kc - 1) / kn->kc;
    return (K + nkb - 1) / nkb;
}

/* The floats region_packed packs into for `rows` rows and `cols` columns
 * of a product whose K blocks are `kdepth` deep: an A block of the rows
 * (at most mc, whole tiles) and a B block of the columns (at most nc). */
static size_t pack_request(const gemm_kernel *kn, long rows, long cols, int kdepth) {
    size_t mc = (size_t)(AL_MIN(rows, (long)kn->mc) + kn->mr - 1) / (size_t)kn->mr * (size_t)kn->mr;
    size_t nc = (size_t)(AL_MIN(cols, (long)kn->nc) + kn->nr - 1) / (size_t)kn->nr * (size_t)kn->nr;
    return (mc + nc) * (size_t)kdepth;
}

/* al_gemm_pack_floats (upto 0) and al_gemm_pack_floats_upto (1): in
 * either orientation (al_sgemm may run C^T = op(B)^T op(A)^T); K's blocks
 * as K cuts them, or at their deepest for any K' <= K: kc from K' = kc on,
 * since a longer K is cut in blocks of kc or less (5,200 in 21 of 248,
 * where 4,000 takes 16 of 250). */
static size_t pack_bound(long M, long N, long K, int upto) {
    al_gemm_variant v = al_gemm_current();
    if (v == AL_GEMM_REF || M <= 0 || N <= 0 || K <= 0 || M > INT_MAX || N > INT_MAX || K > INT_MAX) return 0;
    const gemm_kernel *km = kernel_for(v, (int)M), *kn = kernel_for(v, (int)N);
    const int dm = upto ? (int)AL_MIN(K, (long)km->kc) : k_block(km, (int)K);
    const int dn = upto ? (int)AL_MIN(K, (long)kn->kc) : k_block(kn, (int)K);
    return AL_MAX(pack_request(km, M, N, dm), pack_request(kn, N, M, dn));
}

size_t al_gemm_pack_floats(long M, long N, long K) { return pack_bound(M, N, K, 0); }

size_t al_gemm_pack_floats_upto(long M, long N, long K) { return pack_bound(M, N, K, 1); }

unsigned long al_gemm_lend_misses(void) { return atomic_load_explicit(&lend_misses, memory_order_relaxed); }

size_t al_gemm_own_peak(int reset) {
    return reset ? atomic_exchange_explicit(&own_peak, 0, memory_order_relaxed)
                 : atomic_load_explicit(&own_peak, memory_order_relaxed);
}

size_t al_gemm_own_bytes(size_t floats) { return floats ? own_floats(floats) * sizeof(float) + 64 : 0; }

/* region_packed's largest request in floats (0: the plain variant packs
 * nothing), rounded as thread_buffer rounds it */
size_t al_gemm_pack_floats_max(void) {
    al_gemm_variant v = al_gemm_current();
    if (v == AL_GEMM_REF) return 0;
    const gemm_kernel *kn = kernel_of(v);
    return own_floats((size_t)(kn->mc + kn->mr + kn->nc + kn->nr) * (size_t)kn->kc);
}

size_t al_gemm_pack_bytes_max(void) { return al_gemm_own_bytes(al_gemm_pack_floats_max()); }

void al_gemm_lend_buffer(float *buf, size_t floats) {
    tl_lent = buf;
    tl_lent_n = buf ? floats : 0;
}

/* ---- the driver ------------------------------------------------------------ */

typedef struct gemm_args {
    int ta, tb, M, N, K;
    float alpha, beta;
    const float *A, *B;
    int lda, ldb, ldc;
    float *C;
    const gemm_kernel *kn;
    int tm, tn; /* thread grid */
    /* 1: this is the swapped product C^T = op(B)^T op(A)^T of the call
     * `orig`; element (i, j) is stored at C[j*ldc + i] */
    int ct;
    const struct gemm_args *orig;
    /* al_sgemm_bpack: op(B) comes from this packer (B and tb unused) */
    al_bpack_fn bpack;
    const void *bctx;
    /* al_sgemm_ep: C starts as the bias, row i's ep_rb[i] or column j's
     * ep_cb[j] (beta is then 1), and ep_act runs over each tile after its
     * last K block */
    const float *ep_rb, *ep_cb;
    int ep_act;
    int ep; /* any of the three */
} gemm_args;

#if defined(__GNUC__)
#define AL_INLINE static inline __attribute__((always_inline))
#define AL_PREFETCH(p) __builtin_prefetch(p)
#else
#define AL_INLINE static inline
#define AL_PREFETCH(p) ((void)(p))
#endif

/* Interleaves `rows` rows of length kc (src, ld apart) into a panel of
 * width R: dst[p*R + r] = src[r*ld + p], rows past `rows` zero. This is the
 * strided half of packing (op(A) stored by rows, op(B) stored by columns).
 * It walks one cache line of each row at a time and prefetches the next:
 * R interleaved strided streams defeat the hardware prefetcher, and every
 * load would otherwise wait on memory. */
AL_INLINE void pack_strided(const float *src, size_t ld, int rows, const int R, int kc, float *dst) {
    int p = 0;
    for (; p + 16 <= kc; p += 16) {
        for (int r = 0; r < rows; r++) {
            const float *sr = src + r * ld + p;
            AL_PREFETCH(sr + 32);
            for (int q = 0; q < 16; q++) dst[(size_t)(p + q) * R + r] = sr[q];
        }
        for (int r = rows; r < R; r++)
            for (int q = 0; q < 16; q++) dst[(size_t)(p + q) * R + r] = 0.0f;
    }
    for (; p < kc; p++)
        for (int r = 0; r < R; r++) dst[(size_t)p * R + r] = r < rows ? src[r * ld + p] : 0.0f;
}

/* Copies kc runs of `cols` contiguous floats (src, ld apart) into a panel
 * of width R: dst[p*R + c] = src[p*ld + c], columns past `cols` zero. The
 * contiguous half of packing. */
AL_INLINE void pack_contig(const float *src, size_t ld, int cols, const int R, int kc, float *dst) {
    for (int p = 0; p < kc; p++) {
        const float *sp = src + (size_t)p * ld;
        float *d = dst + (size_t)p * R;
        if (cols == R)
            for (int c = 0; c < R; c++) d[c] = sp[c];
        else
            for (int c = 0; c < R; c++) d[c] = c < cols ? sp[c] : 0.0f;
    }
}

/* op(A)[i0 .. i0+mc) x [p0 .. p0+kc) into MR-row panels: panel r holds
 * dst[p*MR + i] = op(A)[i0+r+i][p0+p], rows past mc zero. Inlined with a
 * constant MR so the inner loops unroll. */
AL_INLINE void pack_a_mr(const gemm_args *g, const int MR, int i0, int mc, int p0, int kc, float *dst) {
#ifdef AL_GEMM_X86
    if (g->ta && MR <= 16 && g->kn->v == AL_GEMM_AVX512) { /* all the block's panels, row by row */
        al_pack_nr_avx512(g->A + (size_t)p0 * g->lda + i0, (size_t)g->lda, mc, MR, kc, dst);
        return;
    }
#endif
    for (int r = 0; r < mc; r += MR, dst += (size_t)MR * kc) {
        int mr = AL_MIN(MR, mc - r);
#ifdef AL_GEMM_X86
        if (!g->ta && MR == 8 && g->kn == &k_avx512_8) {
            al_pack_t8_avx512(g->A + (size_t)(i0 + r) * g->lda + p0, (size_t)g->lda, mr, kc, dst);
            continue;
        }
#endif
        if (!g->ta) /* A stored M x K */
            pack_strided(g->A + (size_t)(i0 + r) * g->lda + p0, (size_t)g->lda, mr, MR, kc, dst);
        else /* A stored K x M */
            pack_contig(g->A + (size_t)p0 * g->lda + i0 + r, (size_t)g->lda, mr, MR, kc, dst);
    }
}

/* op(B)[p0 .. p0+kc) x [j0 .. j0+nc) into NR-column panels: panel c holds
 * dst[p*NR + j] = op(B)[p0+p][j0+c+j], columns past nc zero. */
AL_INLINE void pack_b_nr(const gemm_args *g, const int NR, int p0, int kc, int j0, int nc, float *dst) {
    for (int c = 0; c < nc; c += NR, dst += (size_t)NR * kc) {
        int nr = AL_MIN(NR, nc - c);
#ifdef AL_GEMM_X86
        if (g->tb && NR == 32 && g->kn->v == AL_GEMM_AVX512) {
            al_pack_t32_avx512(g->B + (size_t)(j0 + c) * g->ldb + p0, (size_t)g->ldb, nr, kc, dst);
            continue;
        }
        if (!g->tb && NR == 32 && g->kn->v == AL_GEMM_AVX512) {
            al_pack_n32_avx512(g->B + (size_t)p0 * g->ldb + j0 + c, (size_t)g->ldb, nr, kc, dst);
            continue;
        }
#endif
        if (!g->tb) /* B stored K x N */
            pack_contig(g->B + (size_t)p0 * g->ldb + j0 + c, (size_t)g->ldb, nr, NR, kc, dst);
        else /* B stored N x K */
            pack_strided(g->B + (size_t)(j0 + c) * g->ldb + p0, (size_t)g->ldb, nr, NR, kc, dst);
    }
}

static void pack_a(const gemm_args *g, int MR, int i0, int mc, int p0, int kc, float *dst) {
    switch (MR) {
    case 4: pack_a_mr(g, 4, i0, mc, p0, kc, dst); break;
    case 6: pack_a_mr(g, 6, i0, mc, p0, kc, dst); break;
    case 8: pack_a_mr(g, 8, i0, mc, p0, kc, dst); break;
    case 12: pack_a_mr(g, 12, i0, mc, p0, kc, dst); break;
    default: pack_a_mr(g, MR, i0, mc, p0, kc, dst); break;
    }
}

static void pack_b(const gemm_args *g, int NR, int p0, int kc, int j0, int nc, float *dst) {
    switch (NR) {
    case 8: pack_b_nr(g, 8, p0, kc, j0, nc, dst); break;
    case 12: pack_b_nr(g, 12, p0, kc, j0, nc, dst); break;
    case 16: pack_b_nr(g, 16, p0, kc, j0, nc, dst); break;
    case 32: pack_b_nr(g, 32, p0, kc, j0, nc, dst); break;
    default: pack_b_nr(g, NR, p0, kc, j0, nc, dst); break;
    }
}

static void pack_b_any(const gemm_args *g, int NR, int p0, int kc, int j0, int nc, float *dst) {
    if (g->bpack)
        g->bpack(g->bctx, p0, kc, j0, nc, NR, dst);
    else
        pack_b(g, NR, p0, kc, j0, nc, dst);
}

/* C[m0..m1) x [n0..n1) *= beta (beta 0 clears, never reads C). */
static void scale_c(const gemm_args *g, int m0, int m1, int n0, int n1) {
    for (int i = m0; i < m1; i++) {
        float *c = g->C + (size_t)i * g->ldc;
        if (g->beta == 0.0f)
            memset(c + n0, 0, sizeof(float) * (size_t)(n1 - n0));
        else if (g->beta != 1.0f)
            for (int j = n0; j < n1; j++) c[j] *= g->beta;
    }
}

/* The epilogue (al_sgemm_ep) on C[m0..m1) x [n0..n1): the bias before
 * the product, the activation after it. */
static void ep_fill(const gemm_args *g, int m0, int m1, int n0, int n1) {
    if (!g->ep_rb && !g->ep_cb) return;
    for (int i = m0; i < m1; i++) {
        float *c = g->C + (size_t)i * g->ldc;
        if (g->ep_rb) {
            float b = g->ep_rb[i];
            for (int j = n0; j < n1; j++) c[j] = b;
        } else if (g->ep_cb) {
            memcpy(c + n0, g->ep_cb + n0, sizeof(float) * (size_t)(n1 - n0));
        }
    }
}

static void ep_act(const gemm_args *g, int m0, int m1, int n0, int n1) {
    if (g->ep_act) al_act_rows(g->ep_act, g->C + (size_t)m0 * g->ldc + n0, (size_t)g->ldc, m1 - m0, n1 - n0);
}

/* Unpacked i-p-j loop: the fallback when no pack buffer can be had. */
static void region_plain(const gemm_args *g, int m0, int m1, int n0, int n1) {
    scale_c(g, m0, m1, n0, n1);
    for (int i = m0; i < m1; i++) {
        float *c = g->C + (size_t)i * g->ldc;
        for (int p = 0; p < g->K; p++) {
            float a = g->alpha * (g->ta ? g->A[(size_t)p * g->lda + i] : g->A[(size_t)i * g->lda + p]);
            if (!g->tb) {
                const float *b = g->B + (size_t)p * g->ldb;
                for (int j = n0; j < n1; j++) c[j] += a * b[j];
            } else {
                for (int j = n0; j < n1; j++) c[j] += a * g->B[(size_t)j * g->ldb + p];
            }
        }
    }
}

/* The unpacked fallback for a packer's B: one column of op(B) at a time,
 * K_CHUNK rows per call, through a stack buffer. */
#define K_CHUNK 256
static void region_plain_bpack(const gemm_args *g, int m0, int m1, int n0, int n1) {
    float bcol[K_CHUNK];
    scale_c(g, m0, m1, n0, n1);
    for (int j = n0; j < n1; j++)
        for (int p0 = 0; p0 < g->K; p0 += K_CHUNK) {
            int kc = AL_MIN(K_CHUNK, g->K - p0);
            g->bpack(g->bctx, p0, kc, j, 1, 1, bcol);
            for (int i = m0; i < m1; i++) {
                float s = 0.0f;
                for (int p = 0; p < kc; p++)
                    s += (g->ta ? g->A[(size_t)(p0 + p) * g->lda + i] : g->A[(size_t)i * g->lda + p0 + p]) * bcol[p];
                g->C[(size_t)i * g->ldc + j] += g->alpha * s;
            }
        }
}

/* An edge tile (mr x nr of the tile buffer t, row stride NR) into C at
 * (i0, j0): C = alpha*t + beta*C, the kernels' epilogue in plain C. */
static void store_tile(const gemm_args *g, const float *t, int NR, int i0, int mr, int j0, int nr, float beta) {
    for (int i = 0; i < mr; i++) {
        float *ci = g->C + (size_t)(i0 + i) * g->ldc + j0;
        const float *ti = t + (size_t)i * NR;
        if (beta == 0.0f)
            for (int j = 0; j < nr; j++) ci[j] = g->alpha * ti[j];
        else
            for (int j = 0; j < nr; j++) ci[j] = g->alpha * ti[j] + beta * ci[j];
    }
}

/* The same for a swapped product: tile element (i, j) goes to C[j][i]. */
static void store_tile_t(const gemm_args *g, const float *t, int NR, int i0, int mr, int j0, int nr, float beta) {
    for (int j = 0; j < nr; j++) {
        float *cj = g->C + (size_t)(j0 + j) * g->ldc + i0;
        if (beta == 0.0f)
            for (int i = 0; i < mr; i++) cj[i] = g->alpha * t[(size_t)i * NR + j];
        else
            for (int i = 0; i < mr; i++) cj[i] = g->alpha * t[(size_t)i * NR + j] + beta * cj[i];
    }
}

static void region_packed(const gemm_args *g, int m0, int m1, int n0, int n1) {
    const gemm_kernel *kn = g->kn;
    const int MR = kn->mr, NR = kn->nr;
    if (g->K == 0 || g->alpha == 0.0f) {
        if (g->ct) {
            scale_c(g->orig, n0, n1, m0, m1);
        } else {
            ep_fill(g, m0, m1, n0, n1);
            scale_c(g, m0, m1, n0, n1);
            ep_act(g, m0, m1, n0, n1);
        }
        return;
    }
    const int kcb = k_block(kn, g->K), kcmax = AL_MIN(g->K, kcb);
    const size_t mcmax = (size_t)(AL_MIN(m1 - m0, kn->mc) + MR - 1) / MR * MR;
    float *pa = thread_buffer(pack_request(kn, m1 - m0, n1 - n0, kcmax));
    if (!pa) {
        ep_fill(g, m0, m1, n0, n1);
        if (g->bpack)
            region_plain_bpack(g, m0, m1, n0, n1);
        else if (g->ct)
            region_plain(g->orig, n0, n1, m0, m1);
        else
            region_plain(g, m0, m1, n0, n1);
        ep_act(g, m0, m1, n0, n1);
        return;
    }
    float *pb = pa + mcmax * (size_t)kcmax;
    _Alignas(64) float tile[TILE_MAX];
    const long ldc = g->ldc;
    for (int jc = n0; jc < n1; jc += kn->nc) {
        int nc = AL_MIN(kn->nc, n1 - jc);
        for (int pc = 0; pc < g->K; pc += kcb) {
            int kc = AL_MIN(kcb, g->K - pc);
            float beta = pc == 0 ? g->beta : 1.0f;
            const int first = pc == 0, last = pc + kc >= g->K;
            /* When all of M is one A block, each B panel is used right
             * after it is packed (from L1), instead of packing the whole
             * kc x nc block (up to 2 MB, past L2) and reading it back. */
            int one_block = m1 - m0 <= kn->mc;
            if (!one_block) pack_b_any(g, NR, pc, kc, jc, nc, pb);
            for (int ic = m0; ic < m1; ic += kn->mc) {
                int mc = AL_MIN(kn->mc, m1 - ic);
                pack_a(g, MR, ic, mc, pc, kc, pa);
                for (int jr = 0; jr < nc; jr += NR) {
                    int nr = AL_MIN(NR, nc - jr);
                    const float *bp = pb + (size_t)jr * kc;
                    if (one_block) pack_b_any(g, NR, pc, kc, jc + jr, nr, pb + (size_t)jr * kc);
                    for (int ir = 0; ir < mc; ir += MR) {
                        int mr = AL_MIN(MR, mc - ir);
                        const float *ap = pa + (size_t)ir * kc;
                        if (g->ep) {
                            if (mr == MR && nr == NR && kn->ukr_ep) {
                                kn->ukr_ep(kc, ap, bp, g->C + (size_t)(ic + ir) * ldc + jc + jr, ldc,
                                           g->ep_rb ? g->ep_rb + ic + ir : NULL,
                                           g->ep_cb ? g->ep_cb + jc + jr : NULL, first, last ? g->ep_act : 0);
                                continue;
                            }
                            if (first) ep_fill(g, ic + ir, ic + ir + mr, jc + jr, jc + jr + nr);
                        }
                        if (mr == MR && nr == NR && !g->ct) {
                            kn->ukr(kc, ap, bp, g->C + (size_t)(ic + ir) * ldc + jc + jr, ldc, g->alpha, beta);
                        } else {
                            kn->ukr(kc, ap, bp, tile, NR, 1.0f, 0.0f);
                            if (g->ct)
                                store_tile_t(g, tile, NR, ic + ir, mr, jc + jr, nr, beta);
                            else
                                store_tile(g, tile, NR, ic + ir, mr, jc + jr, nr, beta);
                        }
                        if (last && g->ep_act) ep_act(g, ic + ir, ic + ir + mr, jc + jr, jc + jr + nr);
                    }
                }
            }
        }
    }
}

static void gemm_task(void *arg, int ith, int nth) {
    const gemm_args *g = arg;
    AL_UNUSED(nth);
    int it = ith / g->tn, jt = ith % g->tn;
    long tiles_m = (g->M + g->kn->mr - 1) / g->kn->mr, tiles_n = (g->N + g->kn->nr - 1) / g->kn->nr;
    long ml, mh, nl, nh;
    al_split(tiles_m, it, g->tm, &ml, &mh);
    al_split(tiles_n, jt, g->tn, &nl, &nh);
    int m0 = (int)(ml * g->kn->mr), m1 = (int)AL_MIN(mh * g->kn->mr, (long)g->M);
    int n0 = (int)(nl * g->kn->nr), n1 = (int)AL_MIN(nh * g->kn->nr, (long)g->N);
    if (m0 < m1 && n0 < n1) region_packed(g, m0, m1, n0, n1);
}

static void ref_task(void *arg, int ith, int nth) {
    const gemm_args *g = arg;
    long lo, hi;
    al_split(g->M, ith, nth, &lo, &hi);
    if (lo >= hi) return;
    if (g->bpack) {
        region_plain_bpack(g, (int)lo, (int)hi, 0, g->N);
        return;
    }
    const float *a = g->ta ? g->A + lo : g->A + (size_t)lo * g->lda;
    al_sgemm_ref(g->ta, g->tb, (int)(hi - lo), g->N, g->K, g->alpha, a, g->lda, g->B, g->ldb, g->beta,
                 g->C + (size_t)lo * g->ldc, g->ldc);
}

static void run_packed(al_pool *pool, int nth, gemm_args *g);

/* Below this many multiply-adds waking the pool costs more than it saves. */
#define GEMM_PAR_MIN 65536L

/* The plain reference, split over the pool when it is worth threads. */
static void run_ref(al_pool *pool, int nth, gemm_args *g) {
    if (nth == 1)
        ref_task(g, 0, 1);
    else
        al_pool_run(pool, ref_task, g);
}

/* A thin product (N or M far from a multiple of the tile) may waste less
 * of the register tile as C^T = op(B)^T op(A)^T: conv's weight gradient
 * for one input channel is 32 x 9. Its tiles are written out transposed
 * through the tile buffer, which pays only for long K. */
static int swap_pays(const gemm_args *g, al_gemm_variant v) {
    const gemm_kernel *kn = kernel_for(v, g->M);
    long MR = kn->mr, NR = kn->nr, M = g->M, N = g->N;
    long normal = (M + MR - 1) / MR * MR * ((N + NR - 1) / NR * NR);
    long swapped = (N + MR - 1) / MR * MR * ((M + NR - 1) / NR * NR);
    return g->K >= 64 && g->alpha != 0.0f && 4 * swapped < 3 * normal;
}

void al_sgemm(al_pool *pool, int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    if (K < 0) K = 0;
    al_gemm_variant v = al_gemm_current();
    gemm_args g = {ta,   tb,   M,    N,    K,    alpha, beta, A, B, lda, ldb, ldc, C, kernel_for(v, M), 1, 1, 0,
                   NULL, NULL, NULL, NULL, NULL, 0,     0};
    int nth = al_pool_size(pool);
    if ((long)M * N * K < GEMM_PAR_MIN) nth = 1;
    if (v == AL_GEMM_REF) {
        run_ref(pool, nth, &g);
        return;
    }
    gemm_args sw;
    if (swap_pays(&g, v)) {
        sw = g;
        sw.ta = !tb;
        sw.tb = !ta;
        sw.M = N;
        sw.N = M;
        sw.A = B;
        sw.lda = ldb;
        sw.B = A;
        sw.ldb = lda;
        sw.ct = 1;
        sw.kn = kernel_for(v, N);
        sw.orig = &g;
        run_packed(pool, nth, &sw);
    } else {
        run_packed(pool, nth, &g);
    }
}

void al_sgemm_bpack(al_pool *pool, int ta, int M, int N, int K, float alpha, const float *A, int lda,
                    al_bpack_fn pack, const void *ctx, float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    if (K < 0) K = 0;
    al_gemm_variant v = al_gemm_current();
    gemm_args g = {ta,   0,    M,   N,    K,    alpha, beta, A, NULL, lda, 0, ldc, C, kernel_for(v, M), 1, 1, 0,
                   NULL, pack, ctx, NULL, NULL, 0,     0};
    int nth = al_pool_size(pool);
    if ((long)M * N * K < GEMM_PAR_MIN) nth = 1;
    if (v == AL_GEMM_REF) {
        run_ref(pool, nth, &g);
        return;
    }
    run_packed(pool, nth, &g);
}

/* The fill (phase 0) or the activation (phase 1) over all of C, rows split
 * over the pool (a dense layer's C is the LM's 640 x 5,001). */
typedef struct ep_whole {
    const gemm_args *g;
    int phase;
} ep_whole;

static void ep_whole_task(void *arg, int ith, int nth) {
    const ep_whole *w = arg;
    long lo, hi;
    al_split(w->g->M, ith, nth, &lo, &hi);
    if (lo >= hi) return;
    if (w->phase == 0)
        ep_fill(w->g, (int)lo, (int)hi, 0, w->g->N);
    else
        ep_act(w->g, (int)lo, (int)hi, 0, w->g->N);
}

static void ep_pass(al_pool *pool, const gemm_args *g, int phase) {
    ep_whole w = {g, phase};
    if (al_pool_size(pool) > 1 && (long)g->M * g->N >= GEMM_PAR_MIN)
        al_pool_run(pool, ep_whole_task, &w);
    else
        ep_whole_task(&w, 0, 1);
}

/* The epilogue's calls: alpha 1, beta 1 over the filled bias or 0. In the
 * micro-kernel where it has an epilogue form (AVX-512), its edge tiles
 * filled and clipped by the driver, tile by tile. Elsewhere, and for a
 * product that pays to swap (al_sgemm), as before the epilogue: the bias
 * filled over C, the product, the activation over C. Filling tile by tile
 * in the driver was tried for every tile (session 13) and was slower than
 * the whole passes: a tile's rows lie a plane apart. */
static void run_ep(al_pool *pool, al_gemm_variant v, gemm_args *g, const al_gemm_ep *ep) {
    if (ep) {
        g->ep_rb = ep->row_bias;
        g->ep_cb = ep->row_bias ? NULL : ep->col_bias;
        g->ep_act = ep->act == 1 || ep->act == 2 ? ep->act : 0;
    }
    g->ep = g->ep_rb || g->ep_cb || g->ep_act;
    g->beta = g->ep_rb || g->ep_cb ? 1.0f : 0.0f;
    if (v == AL_GEMM_REF || !g->kn->ukr_ep || (!g->bpack && swap_pays(g, v))) {
        ep_pass(pool, g, 0);
        if (g->bpack)
            al_sgemm_bpack(pool, g->ta, g->M, g->N, g->K, 1.0f, g->A, g->lda, g->bpack, g->bctx, g->beta, g->C,
                           g->ldc);
        else
            al_sgemm(pool, g->ta, g->tb, g->M, g->N, g->K, 1.0f, g->A, g->lda, g->B, g->ldb, g->beta, g->C, g->ldc);
        ep_pass(pool, g, 1);
        return;
    }
    int nth = al_pool_size(pool);
    if ((long)g->M * g->N * g->K < GEMM_PAR_MIN) nth = 1;
    run_packed(pool, nth, g);
}

void al_sgemm_ep(al_pool *pool, int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B,
                 int ldb, const al_gemm_ep *ep, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    if (K < 0) K = 0;
    al_gemm_variant v = al_gemm_current();
    gemm_args g = {ta, tb, M, N, K, 1.0f, 0.0f, A, B, lda, ldb, ldc, C, kernel_for(v, M), 1, 1, 0, NULL, NULL, NULL,
                   NULL, NULL, 0, 0};
    run_ep(pool, v, &g, ep);
}

void al_sgemm_bpack_ep(al_pool *pool, int ta, int M, int N, int K, const float *A, int lda, al_bpack_fn pack,
                       const void *ctx, const al_gemm_ep *ep, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    if (K < 0) K = 0;
    al_gemm_variant v = al_gemm_current();
    gemm_args g = {ta, 0, M, N, K, 1.0f, 0.0f, A, NULL, lda, 0, ldc, C, kernel_for(v, M), 1, 1, 0, NULL, pack, ctx,
                   NULL, NULL, 0, 0};
    run_ep(pool, v, &g, ep);
}

/* What packing one float costs, in the multiply-adds of the register tile
 * (run_packed's grid choice): a transposed pack of dy measured about 27 on
 * the AVX-512 Xeon (0.44 ns a float against 0.016 ns a multiply-add). */
#ifndef GEMM_PACK_MACS
#define GEMM_PACK_MACS 24.0
#endif

static void run_packed(al_pool *pool, int nth, gemm_args *gp) {
    gemm_args g = *gp;
    if (nth == 1) {
        region_packed(&g, 0, g.M, 0, g.N);
        return;
    }
    /* The grid tm x tn = nth whose largest part costs least: its tiles'
     * multiply-adds plus its packing, since every part packs the A rows and
     * B columns it uses (A once per nc-wide block of its columns, B once).
     * Splitting only one way repacks the other operand in every part: the
     * LM's output-layer weight gradient (5,001 x 128 x 640, A the 3.2M-float
     * dy) split as 1 x 4 packed dy four times, 10.8 ms of work for 6.6 on
     * one thread. Splitting N is preferred on ties. */
    long tiles_m = (g.M + g.kn->mr - 1) / g.kn->mr, tiles_n = (g.N + g.kn->nr - 1) / g.kn->nr;
    double best = -1.0;
    for (int tm = 1; tm <= nth; tm++) {
        if (nth % tm) continue;
        int tn = nth / tm;
        double mp = (double)(((tiles_m + tm - 1) / tm) * g.kn->mr), np = (double)(((tiles_n + tn - 1) / tn) * g.kn->nr);
        double ncb = ceil(np / g.kn->nc);
        double w = mp * np * g.K + GEMM_PACK_MACS * (mp * g.K * ncb + np * g.K);
        if (best < 0 || w < best) {
            best = w;
            g.tm = tm;
            g.tn = tn;
        }
    }
    al_pool_run(pool, gemm_task, &g);
}
