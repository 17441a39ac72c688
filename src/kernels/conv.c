/* im2col / col2im for NCHW convolution as GEMM (declared in al_internal.h).
 *
 * Row (c, ky, kx) of the column matrix holds, for every output pixel
 * (oy, ox), the input pixel x[c][oy*s - p + ky][ox*s - p + kx], or 0 where
 * that falls in the padding. For each row the valid ox form one interval
 * [lo, hi), computed once, so the inner loops have no bounds tests and copy
 * contiguous runs when s = 1. The runs are short (Wo = 7 or 14 floats in a
 * small CNN's later layers), so they are copied by inline loops: a memcpy
 * call per run cost as much as the copying (about half of im2col's time). */
#include "al_internal.h"

#include <string.h>

/* The ox in [0, Wo) with 0 <= ox*s - p + kx < W: [*lo, *hi). */
static void valid_range(int W, int Wo, int s, int p, int kx, int *lo, int *hi) {
    int off = p - kx; /* ix = ox*s - off */
    int l = off <= 0 ? 0 : (off + s - 1) / s;
    int h = W - 1 + off < 0 ? 0 : (W - 1 + off) / s + 1;
    if (l > Wo) l = Wo;
    if (h > Wo) h = Wo;
    if (h < l) h = l;
    *lo = l;
    *hi = h;
}

void al_im2col(const float *x, int C, int H, int W, int k, int s, int p, float *col, long ldcol) {
    int Ho = (H + 2 * p - k) / s + 1, Wo = (W + 2 * p - k) / s + 1;
    for (int c = 0; c < C; c++)
        for (int ky = 0; ky < k; ky++)
            for (int kx = 0; kx < k; kx++) {
                float *dst = col + (size_t)((c * k + ky) * k + kx) * (size_t)ldcol;
                int lo, hi;
                valid_range(W, Wo, s, p, kx, &lo, &hi);
                for (int oy = 0; oy < Ho; oy++, dst += Wo) {
                    int iy = oy * s - p + ky;
                    if (iy < 0 || iy >= H) {
                        for (int ox = 0; ox < Wo; ox++) dst[ox] = 0.0f;
                        continue;
                    }
                    for (int ox = 0; ox < lo; ox++) dst[ox] = 0.0f;
                    if (lo < hi) {
                        /* the first valid pixel, ix = lo*s - p + kx >= 0 */
                        const float *src = x + ((size_t)c * H + iy) * W + (lo * s - p + kx);
                        if (s == 1)
                            for (int ox = lo; ox < hi; ox++) dst[ox] = src[ox - lo];
                        else
                            for (int ox = lo; ox < hi; ox++) dst[ox] = src[(size_t)(ox - lo) * s];
                    }
                    for (int ox = hi; ox < Wo; ox++) dst[ox] = 0.0f;
                }
            }
}

void al_col2im(const float *col, long ldcol, int C, int H, int W, int k, int s, int p, float *x) {
    int Ho = (H + 2 * p - k) / s + 1, Wo = (W + 2 * p - k) / s + 1;
    memset(x, 0, sizeof(float) * (size_t)C * H * W);
    for (int c = 0; c < C; c++)
        for (int ky = 0; ky < k; ky++)
            for (int kx = 0; kx < k; kx++) {
                const float *src = col + (size_t)((c * k + ky) * k + kx) * (size_t)ldcol;
                int lo, hi;
                valid_range(W, Wo, s, p, kx, &lo, &hi);
                for (int oy = 0; oy < Ho; oy++, src += Wo) {
                    int iy = oy * s - p + ky;
                    if (iy < 0 || iy >= H) continue;
                    if (lo == hi) continue;
                    float *dst = x + ((size_t)c * H + iy) * W + (lo * s - p + kx);
                    if (s == 1)
                        for (int ox = lo; ox < hi; ox++) dst[ox - lo] += src[ox];
                    else
                        for (int ox = lo; ox < hi; ox++) dst[(size_t)(ox - lo) * s] += src[ox];
                }
            }
}
