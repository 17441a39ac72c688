/* The plain-C references of the static-scale int8 element-wise steps
 * (kernels.h, "int8"): quantizing with a fixed scale, and the output
 * epilogue (dequantize, bias, activation, then float out or requantized
 * int8 out), and the int8 residual add. The SIMD variants (int8_dw_avx2.c, int8_dw_neon.c, ...) finish
 * their tails with them and the dispatch in int8.c falls back to them: this
 * file sits below both. */
#include "kernels/kernels.h"

void al_i8_quantize_static_ref(const float *x, long n, float inv, int8_t *q) {
    for (long i = 0; i < n; i++) q[i] = al_i8_q(x[i] * inv);
}

void al_i8_epilogue_ref(const int32_t *acc, long n, float sc, float b, int act, float *y, int8_t *yq, float yinv) {
    if (yq)
        for (long i = 0; i < n; i++) yq[i] = al_i8_q(al_i8_finish(acc[i], sc, b, act) * yinv);
    else
        for (long i = 0; i < n; i++) y[i] = al_i8_finish(acc[i], sc, b, act);
}

void al_i8_add_ref(const int8_t *a, float sa, const int8_t *b, float sb, long n, float *y, int8_t *yq, float yinv) {
    for (long i = 0; i < n; i++) {
        float pa = (float)a[i] * sa, pb = (float)b[i] * sb, v = pa + pb;
        if (yq)
            yq[i] = al_i8_q(v * yinv);
        else
            y[i] = v;
    }
}
