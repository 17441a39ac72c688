/* int8 kernels for the quantized frozen part (src/compile/quant.c).
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
#ifndef AL_KERNELS_INT8_H
#define AL_KERNELS_INT8_H

#include "al_internal.h"

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

/* ---- implicit-GEMM "same" conv (int8_conv_avx512_vnni.c) --------------------------
 * For stride 1, 2p = k - 1 (Ho = H, Wo = W), per sample, on AVX-512 VNNI:
 * the quantizer writes the image as xq4 [C4 = ceil(C/4), P = H*W] words
 * (byte j of word (cb, q) = q(x[4cb + j][q]) + 128), and the GEMM reads its
 * operands from xq4 shifted per tap under masks, with no im2row; the
 * epilogue writes y [F, P] = acc * (sx * sw[f]) + b[f] (and ReLU) directly.
 * Bitwise the reference path's results. Weights are packed once
 * (al_i8conv_pack_weights) as words [ceil(F/8)][k*k][C4][8], byte j of
 * word (fb, t, cb, r) = w[8fb + r][(4cb + j) * k*k + t], 0 past F and C. */
#define AL_I8C_MR 8
#if defined(__x86_64__) || defined(_M_X64)
#define AL_I8_HAVE_VNNI 1 /* the VNNI kernel files are built on x86-64 only */
#endif
#define AL_I8C_MASKS_MAX 4096 /* k*k * ceil(P/16) mask words per call */

typedef struct al_i8conv_args {
    const uint32_t *xq4;    /* [C4, P] */
    const uint32_t *wpack;  /* al_i8conv_pack_weights */
    const uint16_t *masks;  /* [k*k][nb] (al_i8conv_masks) */
    const int32_t *rowsum;  /* [F] sum_k w[f][k] */
    const float *sw, *bias; /* [F]; bias may be NULL */
    float sx;               /* the sample's activation scale */
    int C4, H, W, k, F, nb, relu;
    float *y; /* [F, P] */
} al_i8conv_args;

/* 1 when the shape takes the implicit-GEMM path (any C and F). */
int al_i8conv_same_applies(int C, int H, int W, int k, int s, int p);
size_t al_i8conv_wpack_words(int F, int C, int k);
void al_i8conv_pack_weights(const int8_t *w, int F, int C, int k, uint32_t *dst);
/* m[t*nb + b], bit l: pixel q = 16b + l exists and its tap-t input pixel is
 * inside the image. Returns nb = ceil(H*W/16). */
int al_i8conv_masks(int H, int W, int k, uint16_t *m);
float al_i8conv_quantize_vnni(const float *x, int C, long P, uint32_t *xq4);
/* Filter blocks [fb0, fb1) of 8 (a thread's static share). */
void al_i8conv_same_vnni(const al_i8conv_args *a, int fb0, int fb1);

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
    float *y;
} al_i8dense_args;

size_t al_i8dense_wpack_words(int N, int K);
void al_i8dense_pack_weights(const int8_t *w, int N, int K, uint32_t *dst);
/* Quantizes a row as al_quantize_row_i8 and stores q + 128, padded with
 * 128 to a whole number of words; returns the scale. */
float al_i8_quantize_row_u8_vnni(const float *x, int K, uint8_t *q);
/* Column blocks [jb0, jb1) of 16, jb0 and jb1 multiples of 4 (or jb1 the
 * last block + 1). */
void al_i8dense_vnni(const al_i8dense_args *a, int jb0, int jb1);

#endif
