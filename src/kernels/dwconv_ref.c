/* Depthwise convolution, one plane at a time (src/layers/dwconv2d.c): the
 * plain-C reference every SIMD variant is checked against, and their
 * fallback for the shapes they leave out (dispatch: dwconv.c).
 *
 * For each kernel tap (ky, kx) the output columns whose input pixel is
 * inside the image form one interval [lo, hi) (the same for every row), so
 * the reference's inner loops run without bounds tests. The reference
 * alone takes a dilation d (al_dw_forward_dil, al_dw_backward_dil): tap
 * (ky, kx) reads the input pixel (oy*s - p + ky*d, ox*s - p + kx*d). */
#include "kernels/kernels.h"

#include <string.h>

/* ---- reference ------------------------------------------------------------- */

/* The ox in [0, Wo) with 0 <= ox*s - p + kx*d < W: [*lo, *hi). */
static void dw_range(const al_dw_geom *g, int d, int kx, int *lo, int *hi) {
    int off = g->p - kx * d;
    int l = off <= 0 ? 0 : (off + g->s - 1) / g->s;
    int h = g->W - 1 + off < 0 ? 0 : (g->W - 1 + off) / g->s + 1;
    if (l > g->Wo) l = g->Wo;
    if (h > g->Wo) h = g->Wo;
    if (h < l) h = l;
    *lo = l;
    *hi = h;
}

void al_dw_forward_dil(const al_dw_geom *g, int d, const float *x, const float *w, float b, float *y) {
    if (d < 1) d = 1;
    for (size_t q = 0; q < (size_t)g->Ho * g->Wo; q++) y[q] = b;
    for (int ky = 0; ky < g->k; ky++)
        for (int kx = 0; kx < g->k; kx++) {
            float wv = w[ky * g->k + kx];
            int lo, hi;
            dw_range(g, d, kx, &lo, &hi);
            if (lo >= hi) continue;
            for (int oy = 0; oy < g->Ho; oy++) {
                int iy = oy * g->s - g->p + ky * d;
                if (iy < 0 || iy >= g->H) continue;
                const float *src = x + (size_t)iy * g->W + (lo * g->s - g->p + kx * d);
                float *dst = y + (size_t)oy * g->Wo;
                if (g->s == 1)
                    for (int ox = lo; ox < hi; ox++) dst[ox] += wv * src[ox - lo];
                else
                    for (int ox = lo; ox < hi; ox++) dst[ox] += wv * src[(size_t)(ox - lo) * g->s];
            }
        }
}

static void bwd_plane_ref(const al_dw_geom *g, int d, const float *x, const float *dy, const float *w, float *dx, float *dw,
                          float *db) {
    size_t in_plane = (size_t)g->H * g->W, out_plane = (size_t)g->Ho * g->Wo;
    if (db) {
        float s = 0.0f;
        for (size_t q = 0; q < out_plane; q++) s += dy[q];
        *db += s;
    }
    if (dx) memset(dx, 0, sizeof(float) * in_plane);
    for (int ky = 0; ky < g->k; ky++)
        for (int kx = 0; kx < g->k; kx++) {
            int lo, hi;
            dw_range(g, d, kx, &lo, &hi);
            if (lo >= hi) continue;
            float wv = w[ky * g->k + kx], acc = 0.0f;
            for (int oy = 0; oy < g->Ho; oy++) {
                int iy = oy * g->s - g->p + ky * d;
                if (iy < 0 || iy >= g->H) continue;
                size_t xo = (size_t)iy * g->W + (size_t)(lo * g->s - g->p + kx * d);
                const float *dyr = dy + (size_t)oy * g->Wo;
                if (dw)
                    for (int ox = lo; ox < hi; ox++) acc += dyr[ox] * x[xo + (size_t)(ox - lo) * g->s];
                if (dx)
                    for (int ox = lo; ox < hi; ox++) dx[xo + (size_t)(ox - lo) * g->s] += wv * dyr[ox];
            }
            if (dw) dw[ky * g->k + kx] += acc;
        }
}

void al_dw_backward_dil(const al_dw_geom *g, int d, int n, long xs, long ys, const float *x, const float *dy,
                        const float *w, float *dx, float *dw, float *db) {
    if (d < 1) d = 1;
    for (int i = 0; i < n; i++)
        bwd_plane_ref(g, d, x + (size_t)i * xs, dy + (size_t)i * ys, w, dx ? dx + (size_t)i * xs : NULL, dw, db);
}

void al_dw_forward_ref(const al_dw_geom *g, const float *x, const float *w, float b, float *y) {
    al_dw_forward_dil(g, 1, x, w, b, y);
}

void al_dw_backward_ref(const al_dw_geom *g, int n, long xs, long ys, const float *x, const float *dy, const float *w,
                        float *dx, float *dw, float *db) {
    al_dw_backward_dil(g, 1, n, xs, ys, x, dy, w, dx, dw, db);
}
