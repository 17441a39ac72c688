/* The plain-C reference of ReLU and ReLU6 in place (kernels.h): what
 * every SIMD variant must match bit for bit, and their tail. In a file of
 * its own so that the variants and the dispatch (act.c) both call down to
 * it and not into each other. */
#include "kernels/kernels.h"

void al_relu_inplace_ref(float *y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = y[i] <= 0.0f ? 0.0f : y[i];
}

void al_relu6_inplace_ref(float *y, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float v = y[i];
        y[i] = v < 0.0f ? 0.0f : (v > 6.0f ? 6.0f : v);
    }
}
