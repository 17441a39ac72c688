/* AVX-512 forms of the GEMM's strided packing (gemm.c, pack_strided): the
 * rows of a row-major operand interleaved into a panel of width R,
 * dst[p*R + r] = src[r*ld + p], rows past `rows` zero. That is a transpose;
 * the plain loop does it one float at a time (one store per float), this
 * one 16 x 16 (R = 32, B panels of op(B) stored by columns: conv's weight
 * gradient reads the column matrix so, a dense layer's forward its weight)
 * or 8 x 8 (R = 8, A panels of the 8x32 kernel from a row-major A) blocks
 * in registers. Pure data movement: the panels are bitwise the plain
 * loop's. Built with -mavx512f (CMakeLists.txt); gemm.c calls these only
 * for the AVX-512 kernels. */
#include "kernels/kernels.h"

#include <immintrin.h>
#include <stdint.h>

/* r[0..16) rows in, r[q] = column q out */
static inline void transpose16(__m512 r[16]) {
    __m512 t[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++) {
        r[4 * i + 0] = _mm512_shuffle_ps(t[4 * i + 0], t[4 * i + 2], _MM_SHUFFLE(1, 0, 1, 0));
        r[4 * i + 1] = _mm512_shuffle_ps(t[4 * i + 0], t[4 * i + 2], _MM_SHUFFLE(3, 2, 3, 2));
        r[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(1, 0, 1, 0));
        r[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    /* r[4i + m] now holds, in 128-bit lane L, rows 4i..4i+3 of column 4L + m */
    for (int m = 0; m < 4; m++) {
        t[m] = _mm512_shuffle_f32x4(r[m], r[4 + m], 0x88);      /* rows 0-7, lanes 0, 2 */
        t[4 + m] = _mm512_shuffle_f32x4(r[m], r[4 + m], 0xdd);  /* rows 0-7, lanes 1, 3 */
        t[8 + m] = _mm512_shuffle_f32x4(r[8 + m], r[12 + m], 0x88);
        t[12 + m] = _mm512_shuffle_f32x4(r[8 + m], r[12 + m], 0xdd);
    }
    for (int m = 0; m < 4; m++) {
        r[m] = _mm512_shuffle_f32x4(t[m], t[8 + m], 0x88);          /* column m */
        r[4 + m] = _mm512_shuffle_f32x4(t[4 + m], t[12 + m], 0x88); /* column 4 + m */
        r[8 + m] = _mm512_shuffle_f32x4(t[m], t[8 + m], 0xdd);      /* column 8 + m */
        r[12 + m] = _mm512_shuffle_f32x4(t[4 + m], t[12 + m], 0xdd); /* column 12 + m */
    }
}

void al_pack_t32_avx512(const float *src, size_t ld, int rows, int kc, float *dst) {
    const __m512 z = _mm512_setzero_ps();
    for (int p = 0; p < kc; p += 16) {
        int kl = kc - p < 16 ? kc - p : 16;
        __mmask16 m = (__mmask16)((1u << kl) - 1u);
        for (int h = 0; h < 2; h++) {
            __m512 r[16];
            for (int i = 0; i < 16; i++) {
                int row = 16 * h + i;
                if (row < rows) {
                    const float *s = src + (size_t)row * ld + p;
                    _mm_prefetch((const char *)(s + 32), _MM_HINT_T0);
                    r[i] = _mm512_maskz_loadu_ps(m, s);
                } else {
                    r[i] = z;
                }
            }
            transpose16(r);
            for (int q = 0; q < kl; q++) _mm512_storeu_ps(dst + (size_t)(p + q) * 32 + 16 * h, r[q]);
        }
    }
}

/* R = 8: 8 rows x 8 columns a block, in ymm halves */
void al_pack_t8_avx512(const float *src, size_t ld, int rows, int kc, float *dst) {
    int p = 0;
    for (; p + 8 <= kc; p += 8) {
        __m256 r[8], t[8];
        for (int i = 0; i < 8; i++) {
            if (i < rows) {
                const float *s = src + (size_t)i * ld + p;
                _mm_prefetch((const char *)(s + 32), _MM_HINT_T0);
                r[i] = _mm256_loadu_ps(s);
            } else {
                r[i] = _mm256_setzero_ps();
            }
        }
        for (int i = 0; i < 4; i++) {
            t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
            t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
        }
        for (int i = 0; i < 2; i++) {
            r[4 * i + 0] = _mm256_shuffle_ps(t[4 * i + 0], t[4 * i + 2], _MM_SHUFFLE(1, 0, 1, 0));
            r[4 * i + 1] = _mm256_shuffle_ps(t[4 * i + 0], t[4 * i + 2], _MM_SHUFFLE(3, 2, 3, 2));
            r[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(1, 0, 1, 0));
            r[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(3, 2, 3, 2));
        }
        /* r[4i + m]: rows 4i..4i+3 of column m (low lane) and 4 + m (high lane) */
        for (int m = 0; m < 4; m++) {
            _mm256_storeu_ps(dst + (size_t)(p + m) * 8, _mm256_permute2f128_ps(r[m], r[4 + m], 0x20));
            _mm256_storeu_ps(dst + (size_t)(p + 4 + m) * 8, _mm256_permute2f128_ps(r[m], r[4 + m], 0x31));
        }
    }
    for (; p < kc; p++)
        for (int i = 0; i < 8; i++) dst[(size_t)p * 8 + i] = i < rows ? src[(size_t)i * ld + p] : 0.0f;
}

/* pack_contig for R = 32: dst[p*32 + c] = src[p*ld + c] for c < cols, 0
 * past cols (B panels of a B stored K x N: the 1x1 convs' images). Two
 * masked loads and two stores a row, where the plain loop's SSE copies
 * took eight of each. Copies: bitwise the plain loop. */
void al_pack_n32_avx512(const float *src, size_t ld, int cols, int kc, float *dst) {
    const __mmask16 m0 = al_mask16(cols), m1 = al_mask16(cols - 16);
    for (int p = 0; p < kc; p++) {
        const float *sp = src + (size_t)p * ld;
        _mm512_storeu_ps(dst + (size_t)p * 32, _mm512_maskz_loadu_ps(m0, sp));
        /* past the row (and B) when cols <= 16: formed as an integer, read
         * under an empty mask */
        _mm512_storeu_ps(dst + (size_t)p * 32 + 16,
                         _mm512_maskz_loadu_ps(m1, (const void *)((uintptr_t)sp + 16 * sizeof(float))));
    }
}

/* pack_contig for R <= 16 (A panels of the 12x32 and 8x32 kernels from an
 * A stored K x M: a dense layer's weight gradient reads the logits'
 * gradient so): one masked load of min(cols, R) floats and one masked store
 * of R a row, where the plain loop went float by float with a test each
 * (12% of the LM step). Copies: bitwise the plain loop. */
void al_pack_nr_avx512(const float *src, size_t ld, int cols, int R, int kc, float *dst) {
    /* row by row: each source row is read once, left to right, for all
     * the panels (panel by panel, a transposed A of 5,001 columns was read
     * 48 bytes a row per panel, and packing it took 8% of the LM step) */
    const int np = (cols + R - 1) / R;
    const __mmask16 sm = al_mask16(R), lm = al_mask16(cols - (np - 1) * R);
    for (int p = 0; p < kc; p++) {
        const float *s = src + (size_t)p * ld;
        float *d = dst + (size_t)p * R;
        for (int q = 0; q < np - 1; q++)
            _mm512_mask_storeu_ps(d + (size_t)q * R * kc, sm, _mm512_maskz_loadu_ps(sm, s + q * R));
        _mm512_mask_storeu_ps(d + (size_t)(np - 1) * R * kc, sm, _mm512_maskz_loadu_ps(lm, s + (np - 1) * R));
    }
}
