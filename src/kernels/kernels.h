/* The kernels level (src/kernels): pure compute, no allocation. GEMM
 * (reference and packed micro-kernels, dispatched by CPU), the conv kernels
 * and their choice by shape, the int8 kernels of the quantized frozen part,
 * and the polynomial exp of the element-wise layers. Calls only core. */
#ifndef AL_KERNELS_H
#define AL_KERNELS_H

#include "core/core.h"

#include <stdint.h>
#include <string.h>

/* ---- kernels (src/kernels): pure compute, no allocation -------------------- */

/* C = alpha * op(A) * op(B) + beta * C, row-major. op(A) is M x K, op(B) K x N.
 * ta/tb: 0 = as stored, 1 = transposed. Dispatches to the fastest variant for
 * this CPU; runs on the pool's threads with a static split. */
void al_sgemm(al_pool *pool, int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc);
/* The same with op(B) K x N produced by a packing callback instead of a
 * stored matrix (implicit GEMM: conv packs straight from the image).
 * pack(ctx, p0, kc, j0, nc, NR, dst) writes op(B)[p0 .. p0+kc) x [j0 .. j0+nc)
 * as NR-column panels: the panel of columns c .. c+NR (c a multiple of NR)
 * starts at dst + c*kc and holds dst[p*NR + j] = op(B)[p0+p][j0+c+j],
 * columns past nc zero. It runs on the GEMM's threads, concurrently. */
typedef void (*al_bpack_fn)(const void *ctx, int p0, int kc, int j0, int nc, int NR, float *dst);
void al_sgemm_bpack(al_pool *pool, int ta, int M, int N, int K, float alpha, const float *A, int lda,
                    al_bpack_fn pack, const void *ctx, float beta, float *C, int ldc);
/* The two with an epilogue, applied to each tile of C while it is in
 * cache: C = act(op(A) op(B) + bias), alpha 1. The bias is a row's
 * (row_bias[i] added to row i: a conv's [F, P] output) or a column's
 * (col_bias[j] added to column j: a dense layer's [n, out]), at most one
 * of the two; act 0 none, 1 ReLU, 2 ReLU6 (al_act_rows). Bitwise the same
 * as filling C with the bias (or, without one, beta 0), calling al_sgemm /
 * al_sgemm_bpack with alpha 1 and beta 1, then the activation over C: a
 * layer's forward without its two passes over the output. Never runs the
 * product transposed. */
typedef struct al_gemm_ep {
    const float *row_bias, *col_bias;
    int act;
} al_gemm_ep;
void al_sgemm_ep(al_pool *pool, int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B,
                 int ldb, const al_gemm_ep *ep, float *C, int ldc);
void al_sgemm_bpack_ep(al_pool *pool, int ta, int M, int N, int K, const float *A, int lda, al_bpack_fn pack,
                       const void *ctx, const al_gemm_ep *ep, float *C, int ldc);
/* The plain-C reference every fast variant is checked against. */
void al_sgemm_ref(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                  int ldb, float beta, float *C, int ldc);

/* ---- gemm variants and conv kernels (src/kernels/gemm.c, conv.c) ---------- */

/* GEMM implementations. al_sgemm picks the best one for the CPU at the first
 * call; the environment variable AL_GEMM=ref|c|avx2|avx512|neon overrides
 * it, and al_gemm_force (tests, benchmarks) overrides both. */
typedef enum al_gemm_variant {
    AL_GEMM_AUTO = -1,
    AL_GEMM_REF = 0, /* al_sgemm_ref, rows split over threads */
    AL_GEMM_C,       /* packed, portable C micro-kernel */
    AL_GEMM_AVX2,    /* packed, AVX2+FMA 6x16 */
    AL_GEMM_AVX512,  /* packed, AVX-512F 12x32 */
    AL_GEMM_NEON,    /* packed, NEON 8x12 (aarch64) */
    AL_GEMM_NVARIANTS
} al_gemm_variant;
int al_gemm_available(al_gemm_variant v);
/* Returns 0 (and changes nothing) when v is not available; AL_GEMM_AUTO
 * returns to the automatic choice. Process-wide: not for concurrent use. */
int al_gemm_force(al_gemm_variant v);
al_gemm_variant al_gemm_current(void);
/* The most a thread's GEMM pack buffer (kept between calls) can grow to, in
 * bytes, for the current variant (memory budgets). */
size_t al_gemm_pack_bytes_max(void);
/* The same in floats: the most a GEMM's packing takes at once. */
size_t al_gemm_pack_floats_max(void);
/* Lends buf (64-byte aligned, `floats` of them; NULL: none) to this
 * thread's GEMMs as their pack buffer until the next call: they then
 * allocate nothing (and none falls back to the unpacked loop, whose sums
 * may round differently, when memory is short). The chunked forward's
 * threads (model.c) take theirs from its plan, made ahead on the caller's
 * thread, so how many allocations a forward makes does not depend on which
 * pool thread ran which part. */
void al_gemm_lend_buffer(float *buf, size_t floats);
/* The most floats of pack buffer one thread's al_sgemm or al_sgemm_bpack
 * asks for an M x N x K product, run whole (a NULL or one-thread pool),
 * in either orientation, for the current variant; 0 when it packs nothing.
 * Never less for a larger M or N; K is cut in blocks of at most kc, so a
 * longer K may ask less (257: two blocks of 129, against one of 256). A
 * buffer lent of this size serves the call. The chunked forward sizes its
 * lent buffers with it, through the layers' pack_floats (layers.h). */
size_t al_gemm_pack_floats(long M, long N, long K);
/* The same for every product of at most M x N x K: never less for a larger
 * M, N or K (for a K that grows with the samples, as a weight gradient's
 * sum over them). */
size_t al_gemm_pack_floats_upto(long M, long N, long K);
/* How many GEMM requests so far found the buffer lent to their thread too
 * small and took the thread's own (process-wide; for tests). */
unsigned long al_gemm_lend_misses(void);
/* The largest request (floats) any thread's own pack buffer served since
 * the last reset (process-wide; for tests); reset 1 returns it and starts
 * again from 0. */
size_t al_gemm_own_peak(int reset);
/* The bytes a thread's own pack buffer takes to serve requests of at most
 * `floats` (0: none is made): memory plans count the pool's threads at it. */
size_t al_gemm_own_bytes(size_t floats);
const char *al_gemm_variant_name(al_gemm_variant v);

/* NCHW image <-> column matrix for convolution as GEMM. One sample x [C,H,W],
 * square kernel k, stride s, zero padding p, output Ho x Wo with
 * Ho = (H + 2p - k) / s + 1. The column matrix has C*k*k rows (c, ky, kx)
 * and Ho*Wo columns (oy, ox), rows ldcol floats apart (ldcol >= Ho*Wo, so
 * several samples can sit side by side). im2col overwrites col; col2im
 * overwrites x with the sum of every column entry that reads each pixel. */
void al_im2col(const float *x, int C, int H, int W, int k, int s, int p, float *col, long ldcol);
void al_col2im(const float *col, long ldcol, int C, int H, int W, int k, int s, int p, float *x);
/* The column matrix of n samples side by side ([C*k*k, n*Ho*Wo], sample i
 * at column i*Ho*Wo) as al_sgemm_bpack's B, packed from the images x
 * [n,C,H,W] without writing the matrix (ctx: an al_im2col_src). */
typedef struct al_im2col_src {
    const float *x;
    int C, H, W, k, s, p, Ho, Wo;
} al_im2col_src;
void al_im2col_pack(const void *ctx, int p0, int kc, int j0, int nc, int NR, float *dst);
/* The plain-C forms of the three. The ones above take AVX-512 forms for
 * stride-1 "same" convs (2p = k-1) on a CPU with AVX-512F (AL_CONV_SIMD=0
 * turns them off), and the packer also for the other convs of stride 1 or
 * 2 with Wo >= 6 and k*k <= 64 (a stride-2 stem) and for 1x1 convs of
 * stride 1 on planes of at least 6 pixels; the tests check them against
 * these, bitwise. */
void al_im2col_ref(const float *x, int C, int H, int W, int k, int s, int p, float *col, long ldcol);
void al_col2im_ref(const float *col, long ldcol, int C, int H, int W, int k, int s, int p, float *x);
void al_im2col_pack_ref(const void *ctx, int p0, int kc, int j0, int nc, int NR, float *dst);
/* The same two with a dilation d (conv_dil.c; plain C; d <= 1 calls the
 * two above): tap (ky, kx) reads x[c][oy*s - p + ky*d][ox*s - p + kx*d],
 * Ho = al_conv_out_dil(H, k, s, p, d) = (H + 2p - d*(k-1) - 1) / s + 1. */
int al_conv_out_dil(int H, int k, int s, int p, int d);
void al_im2col_dil(const float *x, int C, int H, int W, int k, int s, int p, int d, float *col, long ldcol);
void al_col2im_dil(const float *col, long ldcol, int C, int H, int W, int k, int s, int p, int d, float *x);
/* Direct kernels for a conv of one input channel, 3x3, stride 1, padding 1
 * (an image CNN's first conv), where its GEMMs (K = 9; a 9-wide weight
 * gradient) are packing-bound. al_conv1c3_available: they run here (AVX-512F,
 * AL_CONV_SIMD not 0, H*W not too large); else the two return 0 and do
 * nothing. forward: y [F,H,W] of one sample x [H,W], w [F,9], b [F] or NULL
 * (bitwise the AVX-512 implicit GEMM's y). dweight: dw [F,9] and db [F] (or
 * NULL) += the gradients of filters [f0, f1) over n samples x [n,H,W],
 * dy [n,F,H,W]; relu: dy counts only where y > 0. */
int al_conv1c3_available(int H, int W);
/* The stem of MobileNet-class networks: a 3x3 conv of stride 2, padding 1,
 * on 1 to 4 input channels, where im2col's K = 9C leaves the GEMM packing
 * most of the time. y [F,Ho,Wo] = act(conv(x) + b) of one sample x [C,H,W],
 * w [F,C,3,3], b [F] or NULL, act 0 none, 1 ReLU, 2 ReLU6; Ho = (H-1)/2+1,
 * Wo likewise, at most 256. Each output is the sum of its 9C taps in the
 * GEMM's order (c, ky, kx), FMAs from zero, then the bias and the
 * activation: bitwise the AVX-512 implicit GEMM with its epilogue
 * (al_sgemm_bpack_ep). Returns 0 and does nothing where it does not run
 * (no AVX-512F, AL_CONV_SIMD=0, another shape). */
int al_conv_stem_forward(const float *x, int C, int H, int W, const float *w, const float *b, int act, int F,
                         float *y);
/* 1 when the AVX-512F forms of the CNN kernels (conv.c, maxpool) may run:
 * the CPU has AVX-512F and AL_CONV_SIMD is not 0. */
int al_cnn_simd(void);
int al_conv1c3_forward(const float *x, int H, int W, const float *w, const float *b, int F, float *y);
int al_conv1c3_dweight(const float *x, const float *dy, const float *y, int relu, int n, int H, int W, int F, int f0,
                       int f1, float *dw, float *db);

/* ---- the GEMM micro-kernels (private to the GEMM files) ---------------------- */
/* Private to the GEMM files: the micro-kernel contract and the kernels.
 *
 * A micro-kernel computes one MR x NR tile of C from packed panels:
 *   a: k * MR floats, column p of the tile's rows at a[p*MR .. p*MR+MR)
 *   b: k * NR floats, row p of the tile's columns at b[p*NR .. p*NR+NR)
 *   C[i*ldc + j] = alpha * sum_p a[p*MR+i] * b[p*NR+j] + beta * C[i*ldc + j]
 * beta == 0 means C is not read (it may hold NaN). The epilogue is computed
 * as alpha*acc + beta*c with separate multiplies and one add (no fused
 * multiply-add), the same rounding as the driver's C code for edge tiles, so
 * an element's value never depends on which path wrote it. */

typedef void (*al_gemm_ukr_fn)(long k, const float *a, const float *b, float *c, long ldc, float alpha,
                               float beta);

void al_gemm_ukr_c_4x8(long k, const float *a, const float *b, float *c, long ldc, float alpha, float beta);
#if defined(__x86_64__) || defined(_M_X64)
void al_gemm_ukr_avx2_6x16(long k, const float *a, const float *b, float *c, long ldc, float alpha, float beta);
void al_gemm_ukr_avx512_12x32(long k, const float *a, const float *b, float *c, long ldc, float alpha,
                              float beta);
void al_gemm_ukr_avx512_8x32(long k, const float *a, const float *b, float *c, long ldc, float alpha, float beta);
/* The two with al_sgemm_ep's epilogue (ep_store_row below) in place of alpha
 * and beta: the first K block adds the tile's row biases rb[0 .. MR) or
 * column biases cb[0 .. 32) (both NULL: nothing), later blocks C; act (0
 * none, 1 ReLU, 2 ReLU6) is given for the last block. */
void al_gemm_ukr_avx512_12x32_ep(long k, const float *a, const float *b, float *c, long ldc, const float *rb,
                                 const float *cb, int first, int act);
void al_gemm_ukr_avx512_8x32_ep(long k, const float *a, const float *b, float *c, long ldc, const float *rb,
                                const float *cb, int first, int act);
#if defined(__AVX512F__)
#include <immintrin.h>

/* The AVX-512 micro-kernels' epilogue for al_sgemm_ep, shared by
 * gemm_avx512_12x32.c and gemm_avx512_8x32.c (built with -mavx512f): one
 * row of a 32-wide tile, alpha 1. The first K block adds the bias (the
 * row's, rb; else the columns', cb0 and cb1, when cols), later ones the
 * partial sum in C; then act (0 none, 1 ReLU, 2 ReLU6, only on the last K
 * block) with act_avx512.c's operations. Bitwise what the driver computes
 * by filling C with the bias, the kernel's beta-1 store, then al_act_rows:
 * acc + b rounds once either way, and the activation is a select. */
/* act on 16 lanes (0 none, 1 ReLU, 2 ReLU6): the operations of
 * al_relu_inplace_avx512 / al_relu6_inplace_avx512, which use it, so every
 * AVX-512 kernel that fuses an activation (this epilogue, the stem conv,
 * the depthwise rows) is bitwise the in-place pass. */
static inline __m512 al_act16(__m512 x, int act) {
    const __m512 zero = _mm512_setzero_ps();
    if (act == 1) return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(x, zero, _CMP_NLE_UQ), x);
    if (act == 2) return _mm512_min_ps(_mm512_set1_ps(6.0f), _mm512_max_ps(zero, x));
    return x;
}

static inline void ep_store_row(float *c, __m512 x0, __m512 x1, const float *rb, int cols, __m512 cb0, __m512 cb1,
                                int first, int act) {
    if (!first) {
        x0 = _mm512_add_ps(x0, _mm512_loadu_ps(c));
        x1 = _mm512_add_ps(x1, _mm512_loadu_ps(c + 16));
    } else if (rb) {
        __m512 b = _mm512_set1_ps(*rb);
        x0 = _mm512_add_ps(x0, b);
        x1 = _mm512_add_ps(x1, b);
    } else if (cols) {
        x0 = _mm512_add_ps(x0, cb0);
        x1 = _mm512_add_ps(x1, cb1);
    }
    _mm512_storeu_ps(c, al_act16(x0, act));
    _mm512_storeu_ps(c + 16, al_act16(x1, act));
}

/* In a kernel whose accumulators are c<i>_0, c<i>_1 and whose arguments are
 * c, ldc, rb, cb, first, act: the column biases, then the store of row i. */
#define AL_GEMM_EP_BEGIN                                                                                       \
    const int cols = first && !rb && cb;                                                                       \
    const __m512 cb0 = cols ? _mm512_loadu_ps(cb) : _mm512_setzero_ps(),                                       \
                 cb1 = cols ? _mm512_loadu_ps(cb + 16) : _mm512_setzero_ps()
#define AL_GEMM_EP_ROW(i)                                                                                      \
    ep_store_row(c + (i) * ldc, c##i##_0, c##i##_1, rb ? rb + (i) : NULL, cols, cb0, cb1, first, act)
#define AL_GEMM_EP_ROWS_0_7                                                                                    \
    AL_GEMM_EP_ROW(0);                                                                                         \
    AL_GEMM_EP_ROW(1);                                                                                         \
    AL_GEMM_EP_ROW(2);                                                                                         \
    AL_GEMM_EP_ROW(3);                                                                                         \
    AL_GEMM_EP_ROW(4);                                                                                         \
    AL_GEMM_EP_ROW(5);                                                                                         \
    AL_GEMM_EP_ROW(6);                                                                                         \
    AL_GEMM_EP_ROW(7)
#endif
/* The AVX-512 GEMM's packing (gemm_pack_avx512.c; callable only on a CPU
 * with AVX-512F): panels of width 32 from rows stored ld apart,
 * dst[p*32 + r] = src[r*ld + p] for r < rows (t32: a transpose), or
 * dst[p*32 + c] = src[p*ld + c] for c < cols (n32: a copy), zeros past
 * rows / cols; width 8 for t8. Bitwise gemm.c's plain loops. */
void al_pack_t32_avx512(const float *src, size_t ld, int rows, int kc, float *dst);
void al_pack_n32_avx512(const float *src, size_t ld, int cols, int kc, float *dst);
/* the copy for a panel width R <= 16, cols >= 1 of them side by side:
 * panel q (R*kc floats apart) holds dst[q*R*kc + p*R + c] = src[p*ld +
 * q*R + c] for q*R + c < cols, zeros past cols */
void al_pack_nr_avx512(const float *src, size_t ld, int cols, int R, int kc, float *dst);
void al_pack_t8_avx512(const float *src, size_t ld, int rows, int kc, float *dst);
#endif
#if defined(__aarch64__)
void al_gemm_ukr_neon_8x12(long k, const float *a, const float *b, float *c, long ldc, float alpha, float beta);
#endif

/* ---- conv kernels and their choice ----------------------------------------- */
/* Forward kernels of the 2-D convolution (src/layers/conv2d.c) and their
 * choice by shape.
 *
 *   im2col   im2col + one GEMM (conv2d.c); any shape. The reference.
 *   direct   sliding dot products straight from the image, no column
 *            matrix: for few input channels (the reference CNN's first
 *            conv has C = 1, where im2col's K = 9 leaves the GEMM idle).
 *   winograd F(2x2, 3x3): 3x3 stride-1 only. Per 4x4 input tile
 *            V = B^T d B, per filter U = G g G^T, 16 GEMMs M_e = U_e V_e
 *            over all tiles of the batch, Y = A^T M A: 16 multiplies per 4
 *            outputs instead of 36. Float error grows a little (the
 *            transforms add and subtract before the products); the tests
 *            allow 1e-4 relative to the largest |y|.
 *
 * The choice is made when a conv node is built (its shape function) and
 * kept in the node (nd->conv_algo); the scratch it needs is reserved then.
 * Order: al_conv_force (tests, benches), then the environment variable
 * AL_CONV=im2col|direct|winograd, then the cost model (al_conv_choose's
 * comment). A forced kernel that does not apply to a shape (winograd on a
 * 5x5) falls back to the cost model's choice for that node. Backward always
 * uses im2col. */


typedef enum al_conv_algo {
    AL_CONV_AUTO = -1,
    AL_CONV_IM2COL = 0,
    AL_CONV_DIRECT,
    AL_CONV_WINOGRAD,
    AL_CONV_NALGOS
} al_conv_algo;

const char *al_conv_algo_name(al_conv_algo a);
/* -1 for an unknown name. */
int al_conv_algo_from_name(const char *name);
int al_conv_algo_applies(al_conv_algo a, int k, int s);
/* Process-wide override for nodes built from now on; AL_CONV_AUTO clears. */
void al_conv_force(al_conv_algo a);
/* The kernel for a conv of this shape: input [C,H,W], F filters k x k,
 * stride s, padding p. */
al_conv_algo al_conv_choose(int C, int H, int W, int F, int k, int s, int p);

/* direct: one sample, x [C,H,W], w [F,C,k,k], b [F] or NULL, y [F,Ho,Wo]. */
void al_conv_direct(const float *x, int C, int H, int W, const float *w, const float *b, int F, int k, int s, int p,
                    float *y);

/* winograd: tiles of 2x2 outputs, th x tw = ceil(Ho/2) x ceil(Wo/2) per
 * sample. Scratch: U [16][F][C] (fixed), V [16][C][n*T] and M [16][F][n*T]
 * with T = th*tw (per sample). */
size_t al_winograd_tiles(int Ho, int Wo);
/* U[e][f][c] = (G w[f][c] G^T)[e] for a 3x3 weight w [F,C,3,3]. */
void al_winograd_filter(const float *w, int F, int C, float *U);
/* One sample's tiles into V[e][c][t0 + t], rows ldv floats apart. */
void al_winograd_input(const float *x, int C, int H, int W, int p, int Ho, int Wo, float *V, long ldv, long t0);
/* One sample's outputs from M[e][f][t0 + t]: y [F,Ho,Wo] (+ b[f]). */
void al_winograd_output(const float *M, long ldm, long t0, int F, int Ho, int Wo, const float *b, float *y);

/* ---- ReLU and ReLU6 in place (act.c, act_avx512.c, act_avx2.c) -------------------
 * relu:  y <= 0 -> +0 (so -0 -> +0), else y (NaN stays)
 * relu6: y < 0 -> +0, y > 6 -> 6, else y (NaN and -0 stay)
 * the layers' fused activations (al_act_apply). Variants (isa): 0 the
 * plain-C reference, 1 AVX2, 2 AVX-512F; the best the CPU has is picked at
 * the first call. Every variant is bitwise the reference. */
int al_act_isa_available(int isa);
void al_relu_inplace(float *y, size_t n);
void al_relu6_inplace(float *y, size_t n);
void al_relu_inplace_ref(float *y, size_t n);
void al_relu6_inplace_ref(float *y, size_t n);
/* act (1 ReLU, 2 ReLU6, anything else: nothing) over a block of rows x
 * cols floats whose rows lie ld apart, the variant picked once for the
 * block: each row as al_relu_inplace / al_relu6_inplace would do it. */
void al_act_rows(int act, float *y, size_t ld, int rows, int cols);
#if defined(__x86_64__) || defined(_M_X64)
void al_relu_inplace_avx512(float *y, size_t n);
void al_relu6_inplace_avx512(float *y, size_t n);
void al_relu_inplace_avx2(float *y, size_t n);
void al_relu6_inplace_avx2(float *y, size_t n);
#endif

/* ---- depthwise convolution (dwconv.c, dwconv_avx512.c, dwconv_avx2.c, dwconv_neon.c) ----
 * One plane of a depthwise conv (PyTorch's groups = C, channel multiplier 1):
 * x [H,W], y [Ho,Wo] with Ho = (H + 2p - k) / s + 1, weight [k,k].
 *   forward   y = b + sum over taps of w[ky,kx] * x shifted (zero padding)
 *   backward  over n samples of one channel (sample i's planes at x + i*xs,
 *             dy + i*ys, dx + i*xs): dx [H,W] of each (overwritten; NULL:
 *             not wanted), dw [k,k] += and *db += (NULL: not wanted) the sums
 *             over the n planes (one reduction per channel, not per plane)
 * Variants: ref (plain C, the reference), avx2 (AVX2+FMA, 8 lanes),
 * avx512 (AVX-512F, 16 lanes, masked loads at the borders), neon (aarch64,
 * 4 lanes, scalar borders). The fast variants take stride 1 or 2 and
 * k <= AL_DW_KMAX (al_dw_simd_applies); other shapes run the reference.
 * The best for the CPU is picked at the first call; AL_DWCONV=ref|avx2|
 * avx512|neon overrides it, al_dw_force (tests, benchmarks) both. A
 * variant's sums run in an order fixed by the shape, so results never
 * depend on the thread that runs a plane; the variants differ from the
 * reference by rounding (fused multiply-adds, another order of the sums). */
#define AL_DW_KMAX 7
typedef struct al_dw_geom {
    int H, W, k, s, p, Ho, Wo;
} al_dw_geom;
typedef enum al_dw_variant {
    AL_DW_AUTO = -1,
    AL_DW_REF = 0,
    AL_DW_AVX2,
    AL_DW_AVX512,
    AL_DW_NEON,
    AL_DW_NVARIANTS
} al_dw_variant;
int al_dw_available(al_dw_variant v);
/* 0 (nothing changes) when v is not available; AL_DW_AUTO restores the
 * automatic choice. Process-wide, not for concurrent use. */
int al_dw_force(al_dw_variant v);
al_dw_variant al_dw_current(void);
const char *al_dw_variant_name(al_dw_variant v);
int al_dw_simd_applies(const al_dw_geom *g);
void al_dw_forward(const al_dw_geom *g, const float *x, const float *w, float b, float *y);
/* Planes [pl0, pl1) of x [n, C, H, W] (plane pl is channel pl % C, weights
 * w + c*k*k, bias b[c] or 0 when b is NULL), each al_dw_forward then the
 * activation act (0 none, 1 ReLU, 2 ReLU6: al_relu_inplace,
 * al_relu6_inplace), into y [n, C, Ho, Wo]. The avx512 variant runs planes
 * of at most 8 output columns several rows to a vector, with the
 * activation in the registers (dwconv_avx512.c, "planes of at most 8"). */
void al_dw_forward_planes(const al_dw_geom *g, int C, long pl0, long pl1, const float *x, const float *w,
                          const float *b, int act, float *y);
void al_dw_backward(const al_dw_geom *g, int n, long xs, long ys, const float *x, const float *dy, const float *w,
                    float *dx, float *dw, float *db);
/* al_dw_backward for channels [c0, c1) of n samples x, dy [n, C, ...]
 * (dx likewise; dw [C, k, k], db [C] accumulate; each may be NULL). The
 * avx512 variant runs planes of at most 8 output columns with one plan for
 * all the channels (dwconv_avx512.c). */
void al_dw_backward_channels(const al_dw_geom *g, int C, int c0, int c1, int n, const float *x, const float *dy,
                             const float *w, float *dx, float *dw, float *db);
void al_dw_forward_ref(const al_dw_geom *g, const float *x, const float *w, float b, float *y);
void al_dw_backward_ref(const al_dw_geom *g, int n, long xs, long ys, const float *x, const float *dy, const float *w,
                    float *dx, float *dw, float *db);
/* The reference with a dilation d >= 1 (ONNX `dilations`): tap (ky, kx)
 * reads the input pixel (oy*s - p + ky*d, ox*s - p + kx*d), and g's Ho, Wo
 * are (H + 2p - d*(k-1) - 1) / s + 1. No SIMD variant takes a dilation:
 * a dilated dwconv always runs these (src/layers/dwconv2d.c). */
void al_dw_forward_dil(const al_dw_geom *g, int d, const float *x, const float *w, float b, float *y);
void al_dw_backward_dil(const al_dw_geom *g, int d, int n, long xs, long ys, const float *x, const float *dy,
                        const float *w, float *dx, float *dw, float *db);
#if defined(__x86_64__) || defined(_M_X64)
void al_dw_forward_avx512(const al_dw_geom *g, const float *x, const float *w, float b, float *y);
int al_dw_backward_channels_avx512(const al_dw_geom *g, int C, int c0, int c1, int n, const float *x,
                                   const float *dy, const float *w, float *dx, float *dw, float *db);
int al_dw_forward_planes_avx512(const al_dw_geom *g, int C, long pl0, long pl1, const float *x, const float *w,
                                const float *b, int act, float *y);
void al_dw_backward_avx512(const al_dw_geom *g, int n, long xs, long ys, const float *x, const float *dy, const float *w,
                    float *dx, float *dw, float *db);
void al_dw_forward_avx2(const al_dw_geom *g, const float *x, const float *w, float b, float *y);
void al_dw_backward_avx2(const al_dw_geom *g, int n, long xs, long ys, const float *x, const float *dy, const float *w,
                    float *dx, float *dw, float *db);
#endif
#if defined(__aarch64__)
void al_dw_forward_neon(const al_dw_geom *g, const float *x, const float *w, float b, float *y);
void al_dw_backward_neon(const al_dw_geom *g, int n, long xs, long ys, const float *x, const float *dy, const float *w,
                    float *dx, float *dw, float *db);
#endif

/* ---- int8 ---------------------------------------------------------------------- */
/* int8 kernels for the quantized frozen part (src/cloud/compile/quant.c).
 *
 * The GEMM is in dot-product form: both operands are row-major with K
 * contiguous, which is how the quantized weights are stored ([F, C*k*k],
 * [out, in]) and how the quantized activations are written (one row per
 * dense row, one row per output pixel for conv, see al_im2row_i8):
 *
 *   C[i*ldc + j] = sum_{p<K} A[i*lda + p] * B[j*ldb + p]      int32
 *
 * A holds activations (M rows), B weights (N rows). Values must lie in
 * [-127, 127] (the quantizers never produce -128) and K <= AL_I8_KMAX, so no
 * sum can overflow int32 on any variant, and every variant returns exactly
 * the reference's integers.
 *
 * bsum[j] = sum_p B[j*ldb + p] (al_i8_rowsums) may be passed by callers that
 * keep it with the weights: the VNNI variant needs it (it computes
 * (a + 128) * b with vpdpbusd and subtracts 128 * bsum); NULL makes it
 * compute the sums itself.
 *
 * Variants: ref (plain C), avx2 (int16-widened vpmaddwd), vnni (AVX-512
 * VNNI vpdpbusd), neon (vmull_s8 + vpadalq_s16, aarch64). The best for the
 * CPU is picked at the first call; AL_I8GEMM=ref|avx2|vnni|neon overrides
 * it, al_i8_force (tests, benchmarks) overrides both. */


#include <stdint.h>

#define AL_I8_KMAX 65536 /* 65536 * 255 * 127 < 2^31 */

typedef enum al_i8_variant {
    AL_I8_AUTO = -1,
    AL_I8_REF = 0,
    AL_I8_AVX2,
    AL_I8_VNNI,
    AL_I8_NEON,
    AL_I8_NVARIANTS
} al_i8_variant;

int al_i8_available(al_i8_variant v);
/* 0 (nothing changes) when v is not available; AL_I8_AUTO restores the
 * automatic choice. Process-wide, not for concurrent use. */
int al_i8_force(al_i8_variant v);
al_i8_variant al_i8_current(void);
const char *al_i8_variant_name(al_i8_variant v);

/* Threads split the rows of A statically (whole 4-row tiles), so the result
 * is the same for any thread count (it is exact anyway). */
void al_i8gemm(al_pool *pool, int M, int N, int K, const int8_t *A, int lda, const int8_t *B, int ldb,
               const int32_t *bsum, int32_t *C, int ldc);
void al_i8gemm_ref(int M, int N, int K, const int8_t *A, int lda, const int8_t *B, int ldb, int32_t *C, int ldc);
void al_i8_rowsums(const int8_t *B, int N, int K, int ldb, int32_t *out);

/* Symmetric quantization of n floats with one scale: s = max|x| / 127
 * (1 when x is all zero), q = round(x / s) in [-127, 127]. Returns s. */
float al_quantize_row_i8(const float *x, long n, int8_t *q);

/* ---- static activation scales: the int8 chain -----------------------------------
 * A quantized layer calibrated at compile time has one static input scale s
 * (al_qnode.in_scale, docs/KERNELS.md "int8 activations"): it quantizes a
 * float input as al_i8_q(x * inv), inv = 1.0f / s, with no search for a
 * scale; and a quantized layer whose output only such a layer reads writes
 * that int8 straight from its epilogue: y as the float epilogue computes it
 * (al_i8_finish: acc * sc + b, then the fused activation), then
 * al_i8_q(y * inv). al_i8_q clamps in float first (NaN to -127, anything
 * past +-127 to +-127: saturation), then rounds half away from zero. Every
 * variant does these float operations in this order (no FMA), so the int8
 * outputs are the reference's bit for bit, and an int8 chain computes
 * exactly what float outputs quantized by their reader would. For values
 * within +-127 and NaN the bytes are al_quantize_row_i8's for the same inv. */
static inline int8_t al_i8_q(float v) {
    v = v > -127.0f ? v : -127.0f; /* the order of vmaxps(v, -127): NaN gives -127 */
    v = v < 127.0f ? v : 127.0f;
    return (int8_t)(int)(v >= 0.0f ? v + 0.5f : v - 0.5f);
}
/* y = acc * sc + b, then act: 0 none, 1 ReLU (y <= 0 gives +0, NaN passes),
 * 2 ReLU6 (min(6, max(0, y)) in vmaxps/vminps operand order: NaN and -0
 * pass), as al_act_apply. */
static inline float al_i8_finish(int32_t acc, float sc, float b, int act) {
    float y = (float)acc * sc + b;
    if (act == 1) {
        if (y <= 0.0f) y = 0.0f;
    } else if (act == 2) {
        y = 0.0f > y ? 0.0f : y;
        y = 6.0f < y ? 6.0f : y;
    }
    return y;
}
/* The epilogue of n sums with one scale and bias (a row of a conv's [F, P]
 * output): y[i] = al_i8_finish(acc[i], sc, b, act), or with yq not NULL
 * yq[i] = al_i8_q(that * yinv), in the int8 variant's vectors; bitwise
 * the plain-C loop. */
void al_i8_epilogue(const int32_t *acc, long n, float sc, float b, int act, float *y, int8_t *yq, float yinv);
void al_i8_epilogue_ref(const int32_t *acc, long n, float sc, float b, int act, float *y, int8_t *yq, float yinv);
#if defined(__x86_64__) || defined(_M_X64)
void al_i8_epilogue_avx512(const int32_t *acc, long n, float sc, float b, int act, float *y, int8_t *yq, float yinv);
void al_i8_epilogue_avx2(const int32_t *acc, long n, float sc, float b, int act, float *y, int8_t *yq, float yinv);
#endif
#if defined(__aarch64__)
void al_i8_epilogue_neon(const int32_t *acc, long n, float sc, float b, int act, float *y, int8_t *yq, float yinv);
#endif
/* q[i] = al_i8_q(x[i] * inv) in the int8 variant's vectors (ref: plain C). */
void al_i8_quantize_static(const float *x, long n, float inv, int8_t *q);
void al_i8_quantize_static_ref(const float *x, long n, float inv, int8_t *q);
#if defined(__x86_64__) || defined(_M_X64)
void al_i8_quantize_static_avx512(const float *x, long n, float inv, int8_t *q);
void al_i8_quantize_static_avx2(const float *x, long n, float inv, int8_t *q);
#endif
#if defined(__aarch64__)
void al_i8_quantize_static_neon(const float *x, long n, float inv, int8_t *q);
#endif
/* The int8 residual add (docs/KERNELS.md, "int8 activations"): a at scale
 * sa, b at scale sb, y = (float)a * sa + (float)b * sb (two products, then
 * their sum: no FMA), as floats, or with yq not NULL as al_i8_q(y * yinv).
 * Every variant computes these float operations in this order, so its
 * outputs are the reference's bit for bit. */
void al_i8_add(const int8_t *a, float sa, const int8_t *b, float sb, long n, float *y, int8_t *yq, float yinv);
void al_i8_add_ref(const int8_t *a, float sa, const int8_t *b, float sb, long n, float *y, int8_t *yq, float yinv);
#if defined(__x86_64__) || defined(_M_X64)
void al_i8_add_avx512(const int8_t *a, float sa, const int8_t *b, float sb, long n, float *y, int8_t *yq, float yinv);
void al_i8_add_avx2(const int8_t *a, float sa, const int8_t *b, float sb, long n, float *y, int8_t *yq, float yinv);
#endif
#if defined(__aarch64__)
void al_i8_add_neon(const int8_t *a, float sa, const int8_t *b, float sb, long n, float *y, int8_t *yq, float yinv);
#endif
#if defined(__x86_64__) || defined(_M_X64)
/* al_quantize_row_i8's scale of n floats (max |x| / 127, 1 when that is 0;
 * NaN never wins) in AVX-512 vectors: the one abs-max loop of the
 * AVX-512 int8 quantizers (int8_dw_avx512.c). */
float al_i8_scale_avx512(const float *x, long n);
#endif
#if defined(__AVX512F__)
/* Shared by the AVX-512 int8 files (built with -mavx512f): the mask of the
 * first min(left, 16) lanes (none when left <= 0), and al_i8_q(x * inv) in
 * 16 int32 lanes: clamp in float (vmaxps(v, -127) gives -127 for NaN), then
 * round half away from zero (truncate v +- 0.5). For a dynamic scale
 * (inv = 1 / al_i8_scale_avx512) these are al_quantize_row_i8's bytes:
 * |x * inv| exceeds 127 only by inv's rounding, and clamping before or
 * after rounding gives 127 there. */
#include <immintrin.h>
static inline __attribute__((always_inline)) __mmask16 al_mask16(long left) {
    return left >= 16 ? (__mmask16)0xFFFF : left <= 0 ? (__mmask16)0 : (__mmask16)((1u << left) - 1u);
}
static inline __attribute__((always_inline)) __m512i al_i8_q16(__m512 x, __m512 inv) {
    __m512 v = _mm512_mul_ps(x, inv);
    v = _mm512_min_ps(_mm512_max_ps(v, _mm512_set1_ps(-127.0f)), _mm512_set1_ps(127.0f));
    __mmask16 pos = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_GE_OQ);
    return _mm512_cvttps_epi32(_mm512_add_ps(v, _mm512_mask_blend_ps(pos, _mm512_set1_ps(-0.5f), _mm512_set1_ps(0.5f))));
}
#if defined(__AVX512BW__) && defined(__AVX512VL__)
/* The low bytes of 16 int32 lanes (-127..127) to p[0..16) under m: packed
 * in a register, then stored (unmasked when all 16 are), not the
 * masked vpmovdb to memory the compiler would otherwise fuse them into,
 * which took the largest share of the int8 depthwise epilogue on the AMD
 * machine (perf). The empty asm keeps the two apart. */
static inline __attribute__((always_inline)) void al_store_i8x16(int8_t *p, __mmask16 m, __m512i q) {
    __m128i b = _mm512_cvtepi32_epi8(q);
    __asm__("" : "+v"(b));
    if (m == (__mmask16)0xFFFF)
        _mm_storeu_si128((__m128i *)(void *)p, b);
    else
        _mm_mask_storeu_epi8(p, m, b);
}
#endif
/* al_i8_q16 for x >= -0 or NaN (after a fused ReLU or ReLU6, inv > 0):
 * the same bytes with the sign test gone. v + 0.5 is what al_i8_q16 adds
 * to v <= 127; past 127 it is >= 127.5, which the clamp makes 127.5, and
 * so 127; NaN stays NaN through the add, and max(NaN, -127.5) gives
 * -127.5 (its second operand), so -127, as al_i8_q16 gives for NaN. */
static inline __attribute__((always_inline)) __m512i al_i8_q16_nonneg(__m512 x, __m512 inv) {
    __m512 v = _mm512_add_ps(_mm512_mul_ps(x, inv), _mm512_set1_ps(0.5f));
    v = _mm512_min_ps(_mm512_max_ps(v, _mm512_set1_ps(-127.5f)), _mm512_set1_ps(127.5f));
    return _mm512_cvttps_epi32(v);
}
/* The requantization of an output after the fused activation act (0 none,
 * 1 ReLU, 2 ReLU6): al_i8_q16_nonneg after one, al_i8_q16 without. */
static inline __attribute__((always_inline)) __m512i al_i8_q16_act(__m512 x, __m512 inv, int act) {
    return act ? al_i8_q16_nonneg(x, inv) : al_i8_q16(x, inv);
}
#endif

/* im2col for int8 in row form: one row of C*k*k values (c, ky, kx) per
 * output pixel (oy, ox), rows ldrow bytes apart, zeros in the padding. The
 * transpose of al_im2col's column matrix, so a conv is
 * out[P, F] = rows[P, CKK] . W[F, CKK]^T in the dot-product GEMM. */
void al_im2row_i8(const int8_t *x, int C, int H, int W, int k, int s, int p, int8_t *rows, long ldrow);

/* The variants' range functions (the driver calls them on a block of rows). */
void al_i8gemm_avx2(int M, int N, int K, const int8_t *A, int lda, const int8_t *B, int ldb, int32_t *C, int ldc);
void al_i8gemm_vnni(int M, int N, int K, const int8_t *A, int lda, const int8_t *B, int ldb, const int32_t *bsum,
                    int32_t *C, int ldc);
void al_i8gemm_neon(int M, int N, int K, const int8_t *A, int lda, const int8_t *B, int ldb, int32_t *C, int ldc);
/* The neon variant's sdot copy (int8_neon.c) on (1), off (0: vmull +
 * vpadal) or back to the default (-1: on where the CPU reports it, unless
 * AL_I8_DOTPROD=0); 0 when asked on and the CPU lacks it, or asked off in
 * a build for a target that has it. aarch64 only. */
int al_i8_neon_force_dot(int on);

/* ---- implicit-GEMM int8 conv (int8_conv_avx512_vnni.c) ---------------------------
 * Per sample, on AVX-512 VNNI, for stride 1 with 2p = k - 1 ("same": Ho = H,
 * Wo = W) and for stride 2 (al_i8conv_applies): the quantizer writes the
 * image as xq4 [C4 = ceil(C/4), H*W] words (byte j of word (cb, q) =
 * q(x[4cb + j][q]) + 128); at stride 2 al_i8conv_split_vnni then deals it
 * into four phase planes xph [4][C4][P = Ho*Wo], plane (py, px) position
 * (a, b) = pixel (2a + py, 2b + px), so that every tap reads one plane
 * shifted by a constant, as at stride 1. The GEMM reads its operands from
 * the planes shifted per tap (toff) under masks, with no im2row; the
 * epilogue writes y [F, P] = acc * (sx * sw[f]) + b[f] (and ReLU) directly.
 * Bitwise the reference path's results. Weights are packed once
 * (al_i8conv_pack_weights) as words [ceil(F/8)][k*k][C4][8], byte j of
 * word (fb, t, cb, r) = w[8fb + r][(4cb + j) * k*k + t], 0 past F and C. */
#define AL_I8C_MR 8
#if defined(__x86_64__) || defined(_M_X64)
#define AL_I8_HAVE_VNNI 1 /* the VNNI kernel files are built on x86-64 only */
#endif
#define AL_I8C_MASKS_MAX 4096 /* k*k * ceil(P/16) mask words per call */
#define AL_I8C_TAPS_MAX 64    /* k*k: the tap offsets' table */

typedef struct al_i8conv_args {
    const uint32_t *xq4;    /* stride 1: [C4, P]; stride 2: the phase planes [4][C4][P] */
    const uint32_t *wpack;  /* al_i8conv_pack_weights */
    const uint16_t *masks;  /* [k*k][nb] (al_i8conv_masks) */
    const long *toff;       /* [k*k] words from a tile's first pixel to its tap-t operand (al_i8conv_masks) */
    const int32_t *rowsum;  /* [F] sum_k w[f][k] */
    const float *sw, *bias; /* [F]; bias may be NULL */
    float sx;               /* the sample's activation scale */
    int C4, k, F, nb;
    long P;   /* output pixels Ho*Wo: the planes' size and the stride of y's rows */
    int act;  /* applied in the epilogue: 0 none, 1 ReLU, 2 ReLU6 (layers' AL_ACT_*) */
    float *y; /* [F, P] */
    int8_t *yq; /* not NULL: the output as int8 [F, P], al_i8_q(y * yinv), in place of y */
    float yinv;
} al_i8conv_args;

/* 1 when the shape takes the implicit-GEMM path (any C and F): stride 1
 * "same", or stride 2 where every input pixel falls inside the Ho x Wo
 * phase planes (ceil(H/2) <= Ho, ceil(W/2) <= Wo; true for 2p >= k - 1). */
int al_i8conv_applies(int C, int H, int W, int k, int s, int p);
size_t al_i8conv_wpack_words(int F, int C, int k);
void al_i8conv_pack_weights(const int8_t *w, int F, int C, int k, uint32_t *dst);
/* m[t*nb + b], bit l: output pixel q = 16b + l exists and its tap-t input
 * pixel is inside the image; toff[t]: the word offset of tap t's operand
 * from the output pixel's own position, in xq4 (stride 1) or the phase
 * planes (stride 2) of C4 channel blocks. Returns nb = ceil(Ho*Wo/16). */
int al_i8conv_masks(int H, int W, int k, int s, int p, int C4, uint16_t *m, long *toff);
/* Words in the phase planes (stride 2; 0 at stride 1) */
size_t al_i8conv_phase_words(int C, int H, int W, int k, int s, int p);
float al_i8conv_quantize_vnni(const float *x, int C, long P, uint32_t *xq4);
/* The same words from floats with a static scale (bytes al_i8_q(x * inv) +
 * 128), and from int8 already quantized (x [C, P], -127..127). */
void al_i8conv_quantize_static_vnni(const float *x, int C, long P, float inv, uint32_t *xq4);
void al_i8conv_pack_i8_vnni(const int8_t *x, int C, long P, uint32_t *xq4);
/* xq4 [C4][H*W] -> the phase planes xph [4][C4][Ho*Wo] (stride 2, padding
 * p, kernel k, Ho x Wo the output: only the planes some tap reads; rows
 * and columns past the image are left as they are, no tap reads them). */
void al_i8conv_split_vnni(const uint32_t *xq4, int C4, int H, int W, int Ho, int Wo, int k, int p, uint32_t *xph);
/* Filter blocks [fb0, fb1) of 8 (a thread's static share). */
void al_i8conv_vnni(const al_i8conv_args *a, int fb0, int fb1);

/* ---- dense with packed weights (int8_avx512_vnni.c) ----------------------------------
 * y [M, N] = (xq . W^T) * (sx[r] * sw[j]) + b[j], bitwise the reference
 * path's. xq: M rows of K4 = ceil(K/4) words, the row's bytes q + 128
 * (al_i8_quantize_row_u8_vnni); wpack: words [ceil(N/16)][K4][16], byte j of
 * word (jb, p, l) = w[16jb + l][4p + j], 0 past N and K
 * (al_i8dense_pack_weights). */
typedef struct al_i8dense_args {
    const uint32_t *xq, *wpack;
    const int32_t *rowsum;
    const float *sx, *sw, *bias; /* [M], [N], [N] or NULL */
    int M, N, K;
    int act;    /* the fused activation, applied in the epilogue (0 none, 1 ReLU, 2 ReLU6) */
    float *y;
    int8_t *yq; /* not NULL: the output as int8 [M, N], al_i8_q(y * yinv), in place of y */
    float yinv;
} al_i8dense_args;

size_t al_i8dense_wpack_words(int N, int K);
void al_i8dense_pack_weights(const int8_t *w, int N, int K, uint32_t *dst);
/* Quantizes a row as al_quantize_row_i8 and stores q + 128, padded with
 * 128 to a whole number of words; returns the scale. */
float al_i8_quantize_row_u8_vnni(const float *x, int K, uint8_t *q);
/* The same bytes from a static scale (al_i8_q(x * inv) + 128) and from an
 * int8 row (x + 128). */
void al_i8_quantize_row_u8_static_vnni(const float *x, int K, float inv, uint8_t *q);
void al_i8_pack_row_u8_vnni(const int8_t *x, int K, uint8_t *q);
/* Column blocks [jb0, jb1) of 16, jb0 and jb1 multiples of 4 (or jb1 the
 * last block + 1). */
void al_i8dense_vnni(const al_i8dense_args *a, int jb0, int jb1);

/* ---- int8 depthwise convolution (int8_dw*.c) ------------------------------------
 * One plane, the geometry of the float kernels (al_dw_geom): x [H,W] int8
 * (values -127..127) with the plane's scale sx, w [k,k] int8 with the
 * channel's scale sw, bias b:
 *   acc[oy][ox] = sum_{ky,kx} w[ky][kx] * x[oy*s - p + ky][ox*s - p + kx]
 *                 (0 outside the image), int32, exact (k <= 7: |acc| < 2^20)
 *   y[oy][ox]   = (float)acc * (sx * sw) + b, then act: 0 none, 1 ReLU, 2
 *                 ReLU6 (al_act_apply's NaN and -0 rules)
 * The epilogue is the same float operations in every variant (multiply,
 * then add; no FMA), so every variant returns the reference's floats bit
 * for bit. Variants follow the int8 GEMM's choice (al_i8_current): vnni
 * (AVX-512BW + VNNI: vpdpwssd on pairs of taps, 32 outputs per step), avx2
 * (vpmaddwd), neon (vmlal_s16), ref; the fast ones take stride 1 or 2 and
 * k <= AL_DW_KMAX (al_dw_simd_applies), other shapes run the reference. */
void al_i8dw_forward(const al_dw_geom *g, const int8_t *x, float sx, const int8_t *w, float sw, float b, int act,
                     float *y);
void al_i8dw_forward_ref(const al_dw_geom *g, const int8_t *x, float sx, const int8_t *w, float sw, float b, int act,
                         float *y);
/* The same with an int8 output: yq[o] = al_i8_q(y[o] * yinv) (the int8
 * chain); bitwise al_i8dw_forward_ref's floats quantized so. */
void al_i8dw_forward_q(const al_dw_geom *g, const int8_t *x, float sx, const int8_t *w, float sw, float b, int act,
                       float yinv, int8_t *yq);
void al_i8dw_forward_q_ref(const al_dw_geom *g, const int8_t *x, float sx, const int8_t *w, float sw, float b,
                           int act, float yinv, int8_t *yq);
/* What the layer runs: planes [pl0, pl1) of x [n, C, H, W] floats (plane pl
 * is channel pl % C), each quantized with its own scale (al_quantize_row_i8's
 * rule), then al_i8dw_forward with channel c's weights w + c*k*k, scale
 * sw[c] and bias b[c] (b may be NULL), into y [n, C, Ho, Wo]. xq: H*W bytes
 * of scratch, which a variant may leave untouched. The vnni variant takes
 * the planes in groups: the scales of the group, then each plane quantized
 * straight into a zero-padded int16 copy on its stack (at most
 * AL_I8DW_PADDED elements in all), then the convolutions without masks,
 * every tap pair one vpdpwssd with a memory operand, so no plane's
 * convolution waits on its own quantization (small planes are chains of
 * latencies). Bitwise the same as quantizing to xq and calling
 * al_i8dw_forward_ref per plane. */
#define AL_I8DW_PADDED 16384
void al_i8dw_forward_planes(const al_dw_geom *g, int C, long pl0, long pl1, const float *x, int8_t *xq,
                            const int8_t *w, const float *sw, const float *b, int act, float *y);
/* The layer's input and output in the three forms of the int8 chain: the
 * input as floats with each plane's own scale (x, sx = 0: the function
 * above), as floats with one static scale (x, sx > 0: al_i8_q(x / sx), no
 * scale search), or as int8 already (x8 at scale sx); the output as floats
 * (y) or as int8 at a static scale (y8 = al_i8_q(y * yinv)). */
typedef struct al_i8dw_io {
    const float *x;
    const int8_t *x8;
    float sx;
    float *y;
    int8_t *y8;
    float yinv;
} al_i8dw_io;
/* Planes [pl0, pl1) as al_i8dw_forward_planes, in any of the forms above;
 * bitwise the reference (quantize each plane, al_i8dw_forward_ref or
 * al_i8dw_forward_q_ref). */
void al_i8dw_planes(const al_dw_geom *g, int C, long pl0, long pl1, const al_i8dw_io *io, int8_t *xq,
                    const int8_t *w, const float *sw, const float *b, int act);
/* al_quantize_row_i8 (the same scale and bytes, bit for bit) in the int8
 * variant's vectors: the depthwise layer quantizes each input plane with it. */
float al_i8_quantize(const float *x, long n, int8_t *q);
/* For the fast variants: the k input rows (ky = 0..k-1) of output row oy,
 * columns [c0, c0 + span) (span <= AL_I8DW_TMPW). r[ky] points into x when
 * the row and all its columns lie in the image, else at a copy in
 * tmp[ky] (zeros outside the image), so the variants read no padding. */
#define AL_I8DW_TMPW 80
/* The weights of a k x k kernel as 16-bit pairs for vpmaddwd / vpdpwssd:
 * wp[ky * np + j] = (w[ky][2j], w[ky][2j + 1]) (0 past k), np = (k + 1) / 2. */
void al_i8dw_wpairs(const int8_t *w, int k, int32_t *wp);
void al_i8dw_window(const al_dw_geom *g, const int8_t *x, int oy, int c0, int span,
                    int8_t tmp[AL_DW_KMAX][AL_I8DW_TMPW], const int8_t **r);
/* The variants: y floats, or (yq not NULL) int8 at 1 / yinv. */
#if defined(__x86_64__) || defined(_M_X64)
void al_i8dw_forward_avx512(const al_dw_geom *g, const int8_t *x, float sx, const int8_t *w, float sw, float b,
                            int act, float *y, int8_t *yq, float yinv);
void al_i8dw_forward_avx2(const al_dw_geom *g, const int8_t *x, float sx, const int8_t *w, float sw, float b, int act,
                          float *y, int8_t *yq, float yinv);
float al_i8_quantize_avx512(const float *x, long n, int8_t *q);
int al_i8dw_planes_avx512(const al_dw_geom *g, int C, long pl0, long pl1, const al_i8dw_io *io, const int8_t *w,
                          const float *sw, const float *b, int act);
/* The vnni variant's 3x3 planes through byte permutes (AVX-512 VBMI,
 * int8_dw_avx512.c) where the CPU has them: on (1), off (0: the int16 and
 * float paths), or back to the default (-1: on where available, unless
 * AL_I8DW_VBMI=0). Returns 0 when asked on and the CPU lacks VBMI. */
int al_i8dw_force_vbmi(int on);
float al_i8_quantize_avx2(const float *x, long n, int8_t *q);
#endif
#if defined(__aarch64__)
void al_i8dw_forward_neon(const al_dw_geom *g, const int8_t *x, float sx, const int8_t *w, float sw, float b, int act,
                          float *y, int8_t *yq, float yinv);
float al_i8_quantize_neon(const float *x, long n, int8_t *q);
#endif

/* ---- exp, sigmoid, tanh for element-wise loops ------------------------------ */
/* exp, sigmoid and tanh in float for element-wise kernels (internal).
 *
 * al_expf_poly: x = n ln2 + r, |r| <= ln2/2 (ln2 split in two so n ln2 is
 * exact), a degree-6 polynomial for e^r (minimax coefficients, as in
 * Cephes' expf), 2^n built in the exponent bits. Within 2 ulp of expf on
 * [-87.3, 88]; below -87.3 it returns ~1e-38 instead of a denormal or 0
 * (no sum or ratio here can see the difference); NaN stays NaN. No branches
 * and no libm, so loops calling these vectorize: build the caller with
 * -fno-trapping-math (CMakeLists.txt), else the compiler keeps the selects
 * as branches. */

#include <stdint.h>
#include <string.h>

static inline float al_expf_poly(float xin) {
    /* clamped so the int conversion is defined (NaN compares false, becomes
     * -87.3, and is put back at the end) */
    float x = xin > -87.3f ? xin : -87.3f;
    x = x < 88.0f ? x : 88.0f;
    float fx = x * 1.44269504088896341f + 0.5f;
    int32_t n = (int32_t)fx; /* truncation; made a floor for negative fx */
    n -= (float)n > fx;
    float fn = (float)n;
    float r = x - fn * 0.693359375f + fn * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int32_t bits = (n + 127) * (1 << 23);
    float two_n;
    memcpy(&two_n, &bits, sizeof two_n);
    return xin != xin ? xin : p * two_n;
}

/* 1 / (1 + e^-z): saturates cleanly at both ends. */
static inline float al_sigmoidf_poly(float z) { return 1.0f / (1.0f + al_expf_poly(-z)); }

/* tanh z = 1 - 2 / (e^2z + 1): exact limits +-1; near 0 the absolute error
 * is a few 1e-8 (so the relative error of a tiny tanh is larger than
 * tanhf's, which no gradient here notices). */
static inline float al_tanhf_poly(float z) { return 1.0f - 2.0f / (al_expf_poly(2.0f * z) + 1.0f); }

#endif /* AL_KERNELS_H */
