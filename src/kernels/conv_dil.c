/* im2col / col2im with a dilation (ONNX Conv `dilations`, PyTorch's
 * nn.Conv2d(dilation=d); DeepLab's atrous convolutions). Tap (ky, kx) of
 * output pixel (oy, ox) reads x[c][oy*s - p + ky*d][ox*s - p + kx*d]; the
 * output is Ho = (H + 2p - d*(k-1) - 1) / s + 1. The plain path only: the
 * AVX-512 forms, the implicit GEMM's packer, the direct and Winograd
 * kernels all assume d = 1 and are never chosen for d > 1 (conv2d.c,
 * gconv.c); with d <= 1 these two call al_im2col / al_col2im. */
#include "kernels/kernels.h"

#include <string.h>

int al_conv_out_dil(int H, int k, int s, int p, int d) {
    if (d < 1) d = 1;
    if (s < 1) s = 1;
    return (H + 2 * p - d * (k - 1) - 1) / s + 1;
}

void al_im2col_dil(const float *x, int C, int H, int W, int k, int s, int p, int d, float *col, long ldcol) {
    if (d <= 1) {
        al_im2col(x, C, H, W, k, s, p, col, ldcol);
        return;
    }
    int Ho = al_conv_out_dil(H, k, s, p, d), Wo = al_conv_out_dil(W, k, s, p, d);
    for (int c = 0; c < C; c++)
        for (int ky = 0; ky < k; ky++)
            for (int kx = 0; kx < k; kx++) {
                float *dst = col + (size_t)((c * k + ky) * k + kx) * (size_t)ldcol;
                for (int oy = 0; oy < Ho; oy++, dst += Wo) {
                    int iy = oy * s - p + ky * d;
                    if (iy < 0 || iy >= H) {
                        for (int ox = 0; ox < Wo; ox++) dst[ox] = 0.0f;
                        continue;
                    }
                    const float *row = x + ((size_t)c * H + iy) * W;
                    for (int ox = 0; ox < Wo; ox++) {
                        int ix = ox * s - p + kx * d;
                        dst[ox] = ix >= 0 && ix < W ? row[ix] : 0.0f;
                    }
                }
            }
}

void al_col2im_dil(const float *col, long ldcol, int C, int H, int W, int k, int s, int p, int d, float *x) {
    if (d <= 1) {
        al_col2im(col, ldcol, C, H, W, k, s, p, x);
        return;
    }
    int Ho = al_conv_out_dil(H, k, s, p, d), Wo = al_conv_out_dil(W, k, s, p, d);
    memset(x, 0, sizeof(float) * (size_t)C * H * W);
    for (int c = 0; c < C; c++)
        for (int ky = 0; ky < k; ky++)
            for (int kx = 0; kx < k; kx++) {
                const float *src = col + (size_t)((c * k + ky) * k + kx) * (size_t)ldcol;
                for (int oy = 0; oy < Ho; oy++, src += Wo) {
                    int iy = oy * s - p + ky * d;
                    if (iy < 0 || iy >= H) continue;
                    float *row = x + ((size_t)c * H + iy) * W;
                    for (int ox = 0; ox < Wo; ox++) {
                        int ix = ox * s - p + kx * d;
                        if (ix >= 0 && ix < W) row[ix] += src[ox];
                    }
                }
            }
}
