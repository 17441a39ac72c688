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
#ifndef AL_EXPF_H
#define AL_EXPF_H

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

#endif /* AL_EXPF_H */
