/* Forward kernels of the 2-D convolution (src/layers/conv2d.c) and their
 * choice by shape.
 *
 *   im2col   im2col + one GEMM (conv2d.c); any shape. The reference.
 *   direct   sliding dot products straight from the image, no column
 *            matrix: for few input channels (the reference CNN's first
 *            conv has C = 1, where im2col's K = 9 leaves the GEMM idle).
 *   winograd F(2x2, 3x3): 3x3 stride-1 only. Per 4x4 input tile
 *            V = B^T d B, per filter U = G g G^T, 16 GEMMs M_e = U_e V_e
 *            over all tiles of the batch, Y = A^T M A: 16 multiplies per 4
 *            outputs instead of 36. Float error grows a little (the
 *            transforms add and subtract before the products); the tests
 *            allow 1e-4 relative to the largest |y|.
 *
 * The choice is made when a conv node is built (its shape function) and
 * kept in the node (nd->conv_algo); the scratch it needs is reserved then.
 * Order: al_conv_force (tests, benches), then the environment variable
 * AL_CONV=im2col|direct|winograd, then the cost model (al_conv_choose's
 * comment). A forced kernel that does not apply to a shape (winograd on a
 * 5x5) falls back to the cost model's choice for that node. Backward always
 * uses im2col. */
#ifndef AL_KERNELS_CONV_ALGO_H
#define AL_KERNELS_CONV_ALGO_H

#include "al_internal.h"

typedef enum al_conv_algo {
    AL_CONV_AUTO = -1,
    AL_CONV_IM2COL = 0,
    AL_CONV_DIRECT,
    AL_CONV_WINOGRAD,
    AL_CONV_NALGOS
} al_conv_algo;

const char *al_conv_algo_name(al_conv_algo a);
/* -1 for an unknown name. */
int al_conv_algo_from_name(const char *name);
int al_conv_algo_applies(al_conv_algo a, int k, int s);
/* Process-wide override for nodes built from now on; AL_CONV_AUTO clears. */
void al_conv_force(al_conv_algo a);
/* The kernel for a conv of this shape: input [C,H,W], F filters k x k,
 * stride s, padding p. */
al_conv_algo al_conv_choose(int C, int H, int W, int F, int k, int s, int p);

/* direct: one sample, x [C,H,W], w [F,C,k,k], b [F] or NULL, y [F,Ho,Wo]. */
void al_conv_direct(const float *x, int C, int H, int W, const float *w, const float *b, int F, int k, int s, int p,
                    float *y);

/* winograd: tiles of 2x2 outputs, th x tw = ceil(Ho/2) x ceil(Wo/2) per
 * sample. Scratch: U [16][F][C] (fixed), V [16][C][n*T] and M [16][F][n*T]
 * with T = th*tw (per sample). */
size_t al_winograd_tiles(int Ho, int Wo);
/* U[e][f][c] = (G w[f][c] G^T)[e] for a 3x3 weight w [F,C,3,3]. */
void al_winograd_filter(const float *w, int F, int C, float *U);
/* One sample's tiles into V[e][c][t0 + t], rows ldv floats apart. */
void al_winograd_input(const float *x, int C, int H, int W, int p, int Ho, int Wo, float *V, long ldv, long t0);
/* One sample's outputs from M[e][f][t0 + t]: y [F,Ho,Wo] (+ b[f]). */
void al_winograd_output(const float *M, long ldm, long t0, int F, int Ho, int Wo, const float *b, float *y);

#endif
