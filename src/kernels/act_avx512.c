/* ReLU and ReLU6 in place, AVX-512F (kernels.h: al_act_*), 16 lanes, the
 * tail under a mask. Bitwise the reference: ReLU keeps y > 0 and NaN and
 * writes +0 elsewhere (-0 too); ReLU6 is min(6, max(0, y)) in that operand
 * order, and vmaxps/vminps return the second operand when one is NaN, so NaN
 * and -0 pass as in the reference's comparisons. */
#include "kernels/kernels.h"

#include <immintrin.h>

static inline __mmask16 tail(size_t left) { return (__mmask16)(left >= 16 ? 0xffffu : ((1u << left) - 1u)); }

static inline void act_pass(float *y, size_t n, int act) {
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 m = tail(n - i);
        _mm512_mask_storeu_ps(y + i, m, al_act16(_mm512_maskz_loadu_ps(m, y + i), act));
    }
}

void al_relu_inplace_avx512(float *y, size_t n) { act_pass(y, n, 1); }

void al_relu6_inplace_avx512(float *y, size_t n) { act_pass(y, n, 2); }
