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
#ifndef AL_GEMM_KERNELS_H
#define AL_GEMM_KERNELS_H

typedef void (*al_gemm_ukr_fn)(long k, const float *a, const float *b, float *c, long ldc, float alpha,
                               float beta);

void al_gemm_ukr_c_4x8(long k, const float *a, const float *b, float *c, long ldc, float alpha, float beta);
#if defined(__x86_64__) || defined(_M_X64)
void al_gemm_ukr_avx2_6x16(long k, const float *a, const float *b, float *c, long ldc, float alpha, float beta);
void al_gemm_ukr_avx512_12x32(long k, const float *a, const float *b, float *c, long ldc, float alpha,
                              float beta);
void al_gemm_ukr_avx512_8x32(long k, const float *a, const float *b, float *c, long ldc, float alpha, float beta);
#endif
#if defined(__aarch64__)
void al_gemm_ukr_neon_8x12(long k, const float *a, const float *b, float *c, long ldc, float alpha, float beta);
#endif

#endif
