/* AVX-512 form of the GEMM's strided packing (gemm.c pack_strided) for
 * panels 16 rows at a time: dst[p*R + r] = src[r*ld + p] for r < R (a
 * multiple of 16, every row present) and p < kc. Sixteen rows of sixteen
 * floats are loaded, transposed in registers and stored as sixteen
 * contiguous runs, instead of 256 scalar stores R floats apart: packing
 * op(B) from a matrix stored by columns (x W^T, the dense layer's forward,
 * with W stored out x in) no longer costs more than the multiply when M is
 * small (one window of the keyboard's predict pass: M = 20). A pure data
 * movement: the packed panel is bit for bit the scalar one. Built with
 * -mavx512f (CMakeLists.txt: files named *_avx512*); used only when the
 * CPU has AVX-512F. */
#include "gemm_kernels.h"

#include <immintrin.h>
#include <stddef.h>

/* v[q] = column q of the 16 x 16 block held by rows v[0..16) */
static inline void transpose16(__m512 v[16]) {
    __m512 t[16], r[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(v[i], v[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(v[i], v[i + 1]);
    }
    /* per 128-bit lane L: r[4g+c] holds column 4L+c of rows 4g..4g+3 */
    for (int g = 0; g < 4; g++) {
        __m512d a = _mm512_castps_pd(t[4 * g]), b = _mm512_castps_pd(t[4 * g + 1]);
        __m512d c = _mm512_castps_pd(t[4 * g + 2]), d = _mm512_castps_pd(t[4 * g + 3]);
        r[4 * g + 0] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
        r[4 * g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
        r[4 * g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
        r[4 * g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
    }
    /* lanes (0, 2) and (1, 3) of row groups 0|1 and 2|3 */
    for (int c = 0; c < 4; c++) {
        t[c] = _mm512_shuffle_f32x4(r[c], r[4 + c], 0x88);
        t[4 + c] = _mm512_shuffle_f32x4(r[c], r[4 + c], 0xdd);
        t[8 + c] = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0x88);
        t[12 + c] = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0xdd);
    }
    for (int c = 0; c < 8; c++) {
        v[c] = _mm512_shuffle_f32x4(t[c], t[8 + c], 0x88);
        v[8 + c] = _mm512_shuffle_f32x4(t[c], t[8 + c], 0xdd);
    }
}

void al_gemm_pack_t_avx512(const float *src, size_t ld, int R, int kc, float *dst) {
    __m512 v[16];
    int p = 0;
    for (; p + 16 <= kc; p += 16)
        for (int r0 = 0; r0 < R; r0 += 16) {
            for (int i = 0; i < 16; i++) v[i] = _mm512_loadu_ps(src + (size_t)(r0 + i) * ld + (size_t)p);
            transpose16(v);
            for (int q = 0; q < 16; q++) _mm512_storeu_ps(dst + (size_t)(p + q) * (size_t)R + r0, v[q]);
        }
    if (p < kc) {
        const int left = kc - p;
        const __mmask16 m = (__mmask16)((1u << left) - 1u);
        for (int r0 = 0; r0 < R; r0 += 16) {
            for (int i = 0; i < 16; i++) v[i] = _mm512_maskz_loadu_ps(m, src + (size_t)(r0 + i) * ld + (size_t)p);
            transpose16(v);
            for (int q = 0; q < left; q++) _mm512_storeu_ps(dst + (size_t)(p + q) * (size_t)R + r0, v[q]);
        }
    }
}
