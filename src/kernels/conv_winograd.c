/* Winograd F(2x2, 3x3) transforms (kernels.h). With
 *   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]
 *   G   = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]
 *   A^T = [1 1 1 0; 0 1 -1 -1]
 * a 2x2 output tile is Y = A^T [(G g G^T) .* (B^T d B)] A for the 4x4 input
 * tile d whose top-left pixel is (2*ty - p, 2*tx - p) (zeros outside the
 * image). The 16 element-wise products, summed over input channels, are 16
 * GEMMs [F, C] x [C, tiles] done by the caller (conv2d.c). Element e of a
 * 4x4 transform is e = 4*row + col. */

#include "kernels/kernels.h"

#include <string.h>

size_t al_winograd_tiles(int Ho, int Wo) { return (size_t)((Ho + 1) / 2) * (size_t)((Wo + 1) / 2); }

void al_winograd_filter(const float *w, int F, int C, float *U) {
    size_t FC = (size_t)F * C;
    for (int f = 0; f < F; f++)
        for (int c = 0; c < C; c++) {
            const float *g = w + ((size_t)f * C + c) * 9;
            float t[4][3], u[4][4];
            for (int j = 0; j < 3; j++) { /* t = G g, column j */
                float g0 = g[j], g1 = g[3 + j], g2 = g[6 + j];
                t[0][j] = g0;
                t[1][j] = 0.5f * (g0 + g1 + g2);
                t[2][j] = 0.5f * (g0 - g1 + g2);
                t[3][j] = g2;
            }
            for (int i = 0; i < 4; i++) { /* u = t G^T, row i */
                float a = t[i][0], b = t[i][1], cc = t[i][2];
                u[i][0] = a;
                u[i][1] = 0.5f * (a + b + cc);
                u[i][2] = 0.5f * (a - b + cc);
                u[i][3] = cc;
            }
            for (int e = 0; e < 16; e++) U[(size_t)e * FC + (size_t)f * C + c] = u[e / 4][e % 4];
        }
}

void al_winograd_input(const float *x, int C, int H, int W, int p, int Ho, int Wo, float *V, long ldv, long t0) {
    int th = (Ho + 1) / 2, tw = (Wo + 1) / 2;
    size_t CL = (size_t)C * (size_t)ldv;
    for (int c = 0; c < C; c++) {
        const float *xc = x + (size_t)c * H * W;
        float *vc = V + (size_t)c * ldv + t0;
        for (int ty = 0; ty < th; ty++)
            for (int tx = 0; tx < tw; tx++) {
                int y0 = 2 * ty - p, x0 = 2 * tx - p;
                float d[4][4];
                if (y0 >= 0 && x0 >= 0 && y0 + 4 <= H && x0 + 4 <= W) {
                    for (int i = 0; i < 4; i++)
                        for (int j = 0; j < 4; j++) d[i][j] = xc[(size_t)(y0 + i) * W + x0 + j];
                } else {
                    for (int i = 0; i < 4; i++)
                        for (int j = 0; j < 4; j++) {
                            int iy = y0 + i, ix = x0 + j;
                            d[i][j] = iy >= 0 && iy < H && ix >= 0 && ix < W ? xc[(size_t)iy * W + ix] : 0.0f;
                        }
                }
                float t[4][4];
                for (int j = 0; j < 4; j++) { /* t = B^T d */
                    t[0][j] = d[0][j] - d[2][j];
                    t[1][j] = d[1][j] + d[2][j];
                    t[2][j] = d[2][j] - d[1][j];
                    t[3][j] = d[1][j] - d[3][j];
                }
                float *v = vc + (size_t)ty * tw + tx;
                for (int i = 0; i < 4; i++) { /* V = t B */
                    v[(size_t)(4 * i + 0) * CL] = t[i][0] - t[i][2];
                    v[(size_t)(4 * i + 1) * CL] = t[i][1] + t[i][2];
                    v[(size_t)(4 * i + 2) * CL] = t[i][2] - t[i][1];
                    v[(size_t)(4 * i + 3) * CL] = t[i][1] - t[i][3];
                }
            }
    }
}

void al_winograd_output(const float *M, long ldm, long t0, int F, int Ho, int Wo, const float *b, float *y) {
    int th = (Ho + 1) / 2, tw = (Wo + 1) / 2;
    size_t FL = (size_t)F * (size_t)ldm;
    for (int f = 0; f < F; f++) {
        const float *mf = M + (size_t)f * ldm + t0;
        float *yf = y + (size_t)f * Ho * Wo;
        float bf = b ? b[f] : 0.0f;
        for (int ty = 0; ty < th; ty++)
            for (int tx = 0; tx < tw; tx++) {
                const float *mt = mf + (size_t)ty * tw + tx;
                float m[16];
                for (int e = 0; e < 16; e++) m[e] = mt[(size_t)e * FL];
                float s[2][4];
                for (int j = 0; j < 4; j++) { /* s = A^T m */
                    s[0][j] = m[j] + m[4 + j] + m[8 + j];
                    s[1][j] = m[4 + j] - m[8 + j] - m[12 + j];
                }
                int oy = 2 * ty, ox = 2 * tx;
                for (int i = 0; i < 2 && oy + i < Ho; i++) { /* Y = s A */
                    float *yr = yf + (size_t)(oy + i) * Wo + ox;
                    yr[0] = s[i][0] + s[i][1] + s[i][2] + bf;
                    if (ox + 1 < Wo) yr[1] = s[i][1] - s[i][2] - s[i][3] + bf;
                }
            }
    }
}
