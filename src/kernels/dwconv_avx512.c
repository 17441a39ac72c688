/* Depthwise convolution of one plane, AVX-512F (kernels.h: al_dw_*).
 *
 * Vectors run along an output row, 16 columns at a time. The input window
 * of a tap is loaded under a mask of the lanes whose input column lies in
 * the image, so the padding reads as zeros with no border code; stride 2
 * loads 32 columns and keeps the even ones (vpermt2ps). Forward sums each
 * output as the reference does (bias, then the taps in (ky, kx) order) with
 * fused multiply-adds; the weight gradient keeps one vector accumulator per
 * tap over the plane and reduces it at the end.
 *
 * Input gradient: at stride 1 it is the forward of dy with the kernel
 * flipped and padding k-1-p (the full correlation); at stride 2 each dx
 * column ix takes dy[(ix + p - kx) / 2] where that is a whole index: a
 * masked load of dy expanded to 16 lanes, odd lanes zero (vpermps). */
#include "kernels/kernels.h"

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#define AI static inline __attribute__((always_inline))

/* lanes j in [0, len) with 0 <= base + j < n */
AI __mmask16 cmask(int base, int n, int len) {
    int lo = base < 0 ? -base : 0;
    int hi = n - base;
    if (hi > len) hi = len;
    if (hi <= lo) return 0;
    return (__mmask16)((((uint32_t)1 << hi) - 1) & ~(((uint32_t)1 << lo) - 1));
}

/* The masks of one 16-column chunk starting at output column c, per tap
 * column kx: the same for every row, so they are made once per chunk
 * (the chunk loop is the outer one). A load under an all-zero mask reads
 * nothing (AVX-512 suppresses faults of masked-off lanes). */
typedef struct chunk_masks {
    __mmask16 m0[AL_DW_KMAX], m1[AL_DW_KMAX];
} chunk_masks;

AI void make_masks(chunk_masks *cm, int c, int W, int k, int s, int p) {
    for (int kx = 0; kx < k; kx++) {
        cm->m0[kx] = cmask(c * s - p + kx, W, 16);
        cm->m1[kx] = s == 2 ? cmask(c * s - p + kx + 16, W, 16) : 0;
    }
}

/* lanes j: row[base + j*s] of tap column kx, zero outside the image */
AI __m512 win(const float *row, int base, const chunk_masks *cm, int kx, int s) {
    if (s == 1) return _mm512_maskz_loadu_ps(cm->m0[kx], row + base);
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    return _mm512_permutex2var_ps(_mm512_maskz_loadu_ps(cm->m0[kx], row + base), even,
                                  _mm512_maskz_loadu_ps(cm->m1[kx], row + base + 16));
}

AI void fwd_plane(const al_dw_geom *g, const float *x, const float *w, float b, int act, float *y, int k, int s) {
    const int H = g->H, W = g->W, p = g->p, Wo = g->Wo;
    __m512 wv[AL_DW_KMAX * AL_DW_KMAX];
    for (int t = 0; t < k * k; t++) wv[t] = _mm512_set1_ps(w[t]);
    for (int c = 0; c < Wo; c += 16) {
        chunk_masks cm;
        make_masks(&cm, c, W, k, s, p);
        __mmask16 om = cmask(c, Wo, 16);
        for (int oy = 0; oy < g->Ho; oy++) {
            int ky0 = AL_MAX(0, p - oy * s), ky1 = AL_MIN(k, H + p - oy * s);
            __m512 acc = _mm512_set1_ps(b);
            for (int ky = ky0; ky < ky1; ky++) {
                const float *row = x + (size_t)(oy * s - p + ky) * W + c * s - p;
                for (int kx = 0; kx < k; kx++) acc = _mm512_fmadd_ps(wv[ky * k + kx], win(row, kx, &cm, kx, s), acc);
            }
            _mm512_mask_storeu_ps(y + (size_t)oy * Wo + c, om, al_act16(acc, act));
        }
    }
}

/* The first nr (1 to 4) of four output rows of a chunk, Wo apart, under
 * the chunk's column mask, through the fused activation. */
AI void store_rows(float *yr, int Wo, int nr, __mmask16 om, int act, __m512 a0, __m512 a1, __m512 a2, __m512 a3) {
    _mm512_mask_storeu_ps(yr, om, al_act16(a0, act));
    if (nr > 1) _mm512_mask_storeu_ps(yr + Wo, om, al_act16(a1, act));
    if (nr > 2) _mm512_mask_storeu_ps(yr + 2 * (size_t)Wo, om, al_act16(a2, act));
    if (nr > 3) _mm512_mask_storeu_ps(yr + 3 * (size_t)Wo, om, al_act16(a3, act));
}

/* Stride 1, k = 3: four output rows of a chunk at once. Each input row's
 * three windows are loaded once and feed the (up to three) output rows that
 * read it, so a row of outputs costs 4.5 loads instead of 9, in four
 * independent accumulators. Each output still sums the bias, then its taps
 * in (ky, kx) order, skipping the rows outside the image: bitwise
 * fwd_plane's result. */
#define ROWS 4
AI void fwd_rows_k3s1(const al_dw_geom *g, const float *x, const float *w, float b, int act, float *y) {
    const int H = g->H, W = g->W, p = g->p, Wo = g->Wo, Ho = g->Ho;
    __m512 wv[9];
    for (int t = 0; t < 9; t++) wv[t] = _mm512_set1_ps(w[t]);
    for (int c = 0; c < Wo; c += 16) {
        chunk_masks cm;
        make_masks(&cm, c, W, 3, 1, p);
        const __mmask16 om = cmask(c, Wo, 16);
        for (int oy0 = 0; oy0 < Ho; oy0 += ROWS) {
            __m512 a0 = _mm512_set1_ps(b), a1 = a0, a2 = a0, a3 = a0;
            /* input row j of the block is iy = oy0 - p + j; output row r
             * reads it as tap row ky = j - r */
            for (int j = 0; j < ROWS + 2; j++) {
                const int iy = oy0 - p + j;
                if (iy < 0 || iy >= H) continue;
                const float *row = x + (size_t)iy * W + c - p;
                for (int kx = 0; kx < 3; kx++) {
                    const __m512 v = _mm512_maskz_loadu_ps(cm.m0[kx], row + kx);
                    if (j < 3) a0 = _mm512_fmadd_ps(wv[j * 3 + kx], v, a0);
                    if (j >= 1 && j < 4) a1 = _mm512_fmadd_ps(wv[(j - 1) * 3 + kx], v, a1);
                    if (j >= 2 && j < 5) a2 = _mm512_fmadd_ps(wv[(j - 2) * 3 + kx], v, a2);
                    if (j >= 3) a3 = _mm512_fmadd_ps(wv[(j - 3) * 3 + kx], v, a3);
                }
            }
            store_rows(y + (size_t)oy0 * Wo + c, Wo, AL_MIN(ROWS, Ho - oy0), om, act, a0, a1, a2, a3);
        }
    }
}

/* Stride 2, k = 3: four output rows of a chunk at once, as above. Output
 * row r of the block reads input rows 2r .. 2r + 2 of the block's nine, so
 * each input row is loaded once (three vectors: 33 columns) for the (up to
 * two) output rows that read it, and its three tap windows come from those
 * loads: the even columns and the odd ones (vpermt2ps), and the even ones
 * one further (valignd with the 33rd column), instead of two loads and a
 * permute per tap. The windows hold the same values as fwd_plane's (zeros
 * outside the image), and each output sums the bias, then its taps in (ky,
 * kx) order, skipping the rows outside the image: bitwise fwd_plane's. */
AI void fwd_rows_k3s2(const al_dw_geom *g, const float *x, const float *w, float b, int act, float *y) {
    const int H = g->H, W = g->W, p = g->p, Wo = g->Wo, Ho = g->Ho;
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    __m512 wv[9];
    for (int t = 0; t < 9; t++) wv[t] = _mm512_set1_ps(w[t]);
    for (int c = 0; c < Wo; c += 16) {
        const int base = 2 * c - p; /* input column of lane 0's tap kx = 0 */
        const __mmask16 m0 = cmask(base, W, 16), m1 = cmask(base + 16, W, 16), m2 = cmask(base + 32, W, 1);
        const __mmask16 om = cmask(c, Wo, 16);
        for (int oy0 = 0; oy0 < Ho; oy0 += ROWS) {
            __m512 a0 = _mm512_set1_ps(b), a1 = a0, a2 = a0, a3 = a0;
            /* input row j of the block is iy = 2 * oy0 - p + j; output row
             * r reads it as tap row ky = j - 2r */
            for (int j = 0; j < 2 * ROWS + 1; j++) {
                const int iy = 2 * oy0 - p + j;
                if (iy < 0 || iy >= H) continue;
                if (j >= 2 * (Ho - oy0) + 1) break; /* past the block's last output row */
                /* addresses formed as integers: a masked-off part may lie
                 * outside the plane */
                const uintptr_t row = (uintptr_t)(x + (size_t)iy * W) + (uintptr_t)((intptr_t)base * 4);
                const __m512 v0 = _mm512_maskz_loadu_ps(m0, (const void *)row);
                const __m512 v1 = _mm512_maskz_loadu_ps(m1, (const void *)(row + 64));
                const __m512 v2 = _mm512_maskz_loadu_ps(m2, (const void *)(row + 128));
                const __m512 e = _mm512_permutex2var_ps(v0, even, v1), o = _mm512_permutex2var_ps(v0, odd, v1);
                const __m512 e2 = _mm512_castsi512_ps(
                    _mm512_alignr_epi32(_mm512_castps_si512(v2), _mm512_castps_si512(e), 1));
#define TAPS(a, ky)                                                                                                    \
    a = _mm512_fmadd_ps(wv[(ky) * 3], e, a);                                                                           \
    a = _mm512_fmadd_ps(wv[(ky) * 3 + 1], o, a);                                                                       \
    a = _mm512_fmadd_ps(wv[(ky) * 3 + 2], e2, a);
                if (j < 3) { TAPS(a0, j) }
                if (j >= 2 && j < 5) { TAPS(a1, j - 2) }
                if (j >= 4 && j < 7) { TAPS(a2, j - 4) }
                if (j >= 6) { TAPS(a3, j - 6) }
#undef TAPS
            }
            store_rows(y + (size_t)oy0 * Wo + c, Wo, AL_MIN(ROWS, Ho - oy0), om, act, a0, a1, a2, a3);
        }
    }
}

/* ---- planes of at most 8 output columns: several rows in one vector ------------
 * The row kernels above give each output row its own vector, so a 6x6 or
 * 3x3 plane fills 6 or 3 of 16 lanes, and each tap costs a masked load. Here
 * one vector holds R whole output rows (R * Wo <= 16), and the input rows
 * they read (at most 32 floats: two loads) stay in two registers; tap (ky,
 * kx) of lane (r, ox) is element base + ky*W + kx of that window, taken by
 * a vpermt2ps, and added under the mask of the lanes whose input pixel lies
 * in the image (mask3 FMA: padding taps are skipped, as in the reference).
 * Per plane that is 2 loads and k*k permutes and FMAs per R rows, and no
 * call per plane. Each output sums the bias, then the taps in (ky, kx)
 * order, with fused multiply-adds. */
#define SMALL_VMAX 16
#define SMALL_TAPS (AL_DW_KMAX * AL_DW_KMAX)

typedef struct small_plan {
    int nv, kk;
    int in0[SMALL_VMAX], nin[SMALL_VMAX];   /* the window: floats [in0, in0 + nin) of the plane, nin <= 32 */
    int out0[SMALL_VMAX], nout[SMALL_VMAX]; /* lanes [0, nout) are outputs [out0, out0 + nout) */
    __m512i base[SMALL_VMAX];               /* lane's window element under tap (0, 0) */
    __mmask16 valid[SMALL_VMAX][SMALL_TAPS];
    int toff[SMALL_TAPS]; /* ky * W + kx */
} small_plan;

/* The input rows [*lo, *hi) that output rows [oy0, oy0 + rows) read. */
static void small_rows(const al_dw_geom *g, int oy0, int rows, int *lo, int *hi) {
    *lo = AL_MAX(0, oy0 * g->s - g->p);
    *hi = AL_MIN(g->H, (oy0 + rows - 1) * g->s - g->p + g->k);
    if (*hi < *lo) *hi = *lo;
}

/* 1 and the plan when the shape fits: Wo <= 8, stride 1 or 2, k <= KMAX,
 * at least two output rows per vector, at most SMALL_VMAX vectors. */
static int small_plan_make(const al_dw_geom *g, small_plan *sp) {
    const int W = g->W, k = g->k, s = g->s, p = g->p, Ho = g->Ho, Wo = g->Wo;
    if (Wo > 8 || Wo < 1 || k < 1 || k > AL_DW_KMAX || (s != 1 && s != 2) || p < 0 || Ho < 2) return 0;
    int R = 0;
    for (int r = AL_MIN(16 / Wo, Ho); r >= 2 && !R; r--) {
        int fits = (Ho + r - 1) / r <= SMALL_VMAX;
        for (int oy0 = 0; oy0 < Ho && fits; oy0 += r) {
            int lo, hi;
            small_rows(g, oy0, AL_MIN(r, Ho - oy0), &lo, &hi);
            fits = (hi - lo) * W <= 32;
        }
        if (fits) R = r;
    }
    if (!R) return 0;
    sp->kk = k * k;
    sp->nv = (Ho + R - 1) / R;
    for (int t = 0; t < sp->kk; t++) sp->toff[t] = (t / k) * W + t % k;
    for (int v = 0; v < sp->nv; v++) {
        int oy0 = v * R, rows = AL_MIN(R, Ho - oy0), lo, hi;
        small_rows(g, oy0, rows, &lo, &hi);
        sp->in0[v] = lo * W;
        sp->nin[v] = (hi - lo) * W;
        sp->out0[v] = oy0 * Wo;
        sp->nout[v] = rows * Wo;
        int32_t b[16] = {0};
        for (int t = 0; t < sp->kk; t++) sp->valid[v][t] = 0;
        for (int l = 0; l < rows * Wo; l++) {
            int iy0 = (oy0 + l / Wo) * s - p, ix0 = (l % Wo) * s - p;
            b[l] = (iy0 - lo) * W + ix0;
            for (int t = 0; t < sp->kk; t++) {
                int iy = iy0 + t / k, ix = ix0 + t % k;
                if (iy >= 0 && iy < g->H && ix >= 0 && ix < W) sp->valid[v][t] |= (__mmask16)(1u << l);
            }
        }
        sp->base[v] = _mm512_loadu_si512(b);
    }
    return 1;
}

/* the window of vector v of a plane; the second half's address may lie
 * past the plane (and the tensor) when the window is shorter than 17
 * floats: it is formed as an integer and loaded under an empty mask */
AI void small_window(const small_plan *sp, int v, const float *x, __m512 *lo, __m512 *hi) {
    const float *w0 = x + sp->in0[v];
    *lo = _mm512_maskz_loadu_ps(al_mask16(sp->nin[v]), w0);
    *hi = _mm512_maskz_loadu_ps(al_mask16(sp->nin[v] - 16), (const void *)((uintptr_t)w0 + 16 * sizeof(float)));
}

AI __m512 small_tap(const small_plan *sp, int v, int t, __m512 lo, __m512 hi) {
    return _mm512_permutex2var_ps(lo, _mm512_add_epi32(sp->base[v], _mm512_set1_epi32(sp->toff[t])), hi);
}

AI void small_fwd(const small_plan *sp, const float *x, const float *w, float b, int act, float *y, int kk) {
    for (int v = 0; v < sp->nv; v++) {
        __m512 lo, hi, acc = _mm512_set1_ps(b);
        small_window(sp, v, x, &lo, &hi);
        for (int t = 0; t < kk; t++) {
            __mmask16 m = sp->valid[v][t];
            if (m) acc = _mm512_mask3_fmadd_ps(_mm512_set1_ps(w[t]), small_tap(sp, v, t, lo, hi), acc, m);
        }
        _mm512_mask_storeu_ps(y + sp->out0[v], al_mask16(sp->nout[v]), al_act16(acc, act));
    }
}

/* The thread's last forward plan and its shape: a caller that runs a few
 * planes a call (the int8 depthwise conv's groups, int8_dw_avx512.c) would
 * otherwise make the same plan each time (about 2,000 cycles, a quarter of
 * the time of 64 6x6 planes). */
static _Thread_local struct {
    al_dw_geom g;
    int ok;
    small_plan sp;
} last_plan;

static const small_plan *small_plan_cached(const al_dw_geom *g) {
    if (last_plan.ok && !memcmp(&last_plan.g, g, sizeof *g)) return &last_plan.sp;
    last_plan.ok = 0;
    if (!small_plan_make(g, &last_plan.sp)) return NULL;
    last_plan.g = *g;
    last_plan.ok = 1;
    return &last_plan.sp;
}

static void fwd_act(const al_dw_geom *g, const float *x, const float *w, float b, int act, float *y);

/* al_dw_forward_planes: small planes several rows to a vector, larger ones
 * by the row kernels, the activation in the registers either way */
int al_dw_forward_planes_avx512(const al_dw_geom *g, int C, long pl0, long pl1, const float *x, const float *w,
                                const float *b, int act, float *y) {
    const small_plan *cached = small_plan_cached(g);
    const size_t in_plane = (size_t)g->H * g->W, out_plane = (size_t)g->Ho * g->Wo;
    if (!cached) { /* larger planes: the row kernels, the activation fused */
        for (long pl = pl0; pl < pl1; pl++) {
            const int c = (int)(pl % C);
            fwd_act(g, x + (size_t)pl * in_plane, w + (size_t)c * g->k * g->k, b ? b[c] : 0.0f, act,
                    y + (size_t)pl * out_plane);
        }
        return 1;
    }
    /* a copy on the stack: the stores to y cannot alias it, so the kernel
     * keeps its fields in registers (through the pointer it ran 3x slower) */
    const small_plan plan = *cached, *sp = &plan;
    const int kk = sp->kk;
    for (long pl = pl0; pl < pl1; pl++) {
        const int c = (int)(pl % C);
        const float *xp = x + (size_t)pl * in_plane, *wc = w + (size_t)c * kk;
        float *yp = y + (size_t)pl * out_plane, bc = b ? b[c] : 0.0f;
        if (kk == 9)
            small_fwd(sp, xp, wc, bc, act, yp, 9);
        else
            small_fwd(sp, xp, wc, bc, act, yp, kk);
    }
    return 1;
}

/* Backward of channels [c0, c1) over n samples on small planes (the
 * layout of al_dw_backward_channels): per channel the weight and bias
 * gradients in one vector accumulator per tap (reduced once), the input
 * gradient (stride 1) as the forward of dy with the flipped kernel. The
 * plans are made once for all the channels. 0 when the shape does not fit. */
AI void small_bwd_channel(const small_plan *sp, const small_plan *fp, int n, long xs, long ys, const float *x,
                          const float *dy, const float *w, float *dx, float *dw, float *db, int kk) {
    float wf[SMALL_TAPS];
    for (int t = 0; t < kk; t++) wf[t] = w[kk - 1 - t];
    __m512 acc[SMALL_TAPS], accb = _mm512_setzero_ps();
    for (int t = 0; t < kk; t++) acc[t] = _mm512_setzero_ps();
    for (int i = 0; i < n; i++) {
        const float *xi = x + (size_t)i * xs, *dyi = dy + (size_t)i * ys;
        if (dw || db)
            for (int v = 0; v < sp->nv; v++) {
                __m512 d = _mm512_maskz_loadu_ps(al_mask16(sp->nout[v]), dyi + sp->out0[v]);
                accb = _mm512_add_ps(accb, d);
                if (!dw) continue;
                __m512 lo, hi;
                small_window(sp, v, xi, &lo, &hi);
                for (int t = 0; t < kk; t++) {
                    __mmask16 m = sp->valid[v][t];
                    if (m) acc[t] = _mm512_mask3_fmadd_ps(d, small_tap(sp, v, t, lo, hi), acc[t], m);
                }
            }
        if (dx) small_fwd(fp, dyi, wf, 0.0f, 0, dx + (size_t)i * xs, kk);
    }
    if (dw)
        for (int t = 0; t < kk; t++) dw[t] += _mm512_reduce_add_ps(acc[t]);
    if (db) *db += _mm512_reduce_add_ps(accb);
}

int al_dw_backward_channels_avx512(const al_dw_geom *g, int C, int c0, int c1, int n, const float *x,
                                   const float *dy, const float *w, float *dx, float *dw, float *db) {
    small_plan sp, fp;
    const int k = g->k, kk = k * k;
    if (!small_plan_make(g, &sp)) return 0;
    al_dw_geom f = {g->Ho, g->Wo, k, 1, k - 1 - g->p, g->H, g->W};
    if (dx && (g->s != 1 || f.p < 0 || !small_plan_make(&f, &fp))) return 0;
    const size_t in_plane = (size_t)g->H * g->W, out_plane = (size_t)g->Ho * g->Wo;
    const long xs = (long)((size_t)C * in_plane), ys = (long)((size_t)C * out_plane);
    for (int c = c0; c < c1; c++) {
        const float *xc = x + (size_t)c * in_plane, *dyc = dy + (size_t)c * out_plane, *wc = w + (size_t)c * kk;
        float *dxc = dx ? dx + (size_t)c * in_plane : NULL, *dwc = dw ? dw + (size_t)c * kk : NULL;
        float *dbc = db ? db + c : NULL;
        if (kk == 9)
            small_bwd_channel(&sp, &fp, n, xs, ys, xc, dyc, wc, dxc, dwc, dbc, 9);
        else
            small_bwd_channel(&sp, &fp, n, xs, ys, xc, dyc, wc, dxc, dwc, dbc, kk);
    }
    return 1;
}

/* Rows of at most 8 outputs fill half a vector or less: the AVX2 variant's
 * 8 lanes do the same work in fewer instructions (bench_dwconv: 6x6 and
 * 3x3 planes 1.4x faster), so those planes go there. */
#define AVX2_MAX_WO 8

/* One plane, then the fused activation act: in the registers before the
 * store, except on the AVX2 variant's planes (a pass over the plane). */
static void fwd_act(const al_dw_geom *g, const float *x, const float *w, float b, int act, float *y) {
    if (g->Wo <= AVX2_MAX_WO) {
        al_dw_forward_avx2(g, x, w, b, y);
        if (act == 1) al_relu_inplace_avx512(y, (size_t)g->Ho * g->Wo);
        if (act == 2) al_relu6_inplace_avx512(y, (size_t)g->Ho * g->Wo);
        return;
    }
    if (g->k == 3 && g->s == 1)
        fwd_rows_k3s1(g, x, w, b, act, y);
    else if (g->k == 3 && g->s == 2)
        fwd_rows_k3s2(g, x, w, b, act, y);
    else
        fwd_plane(g, x, w, b, act, y, g->k, g->s);
}

void al_dw_forward_avx512(const al_dw_geom *g, const float *x, const float *w, float b, float *y) {
    fwd_act(g, x, w, b, 0, y);
}

AI void dw_plane(const al_dw_geom *g, int n, long xs, long ys, const float *x0, const float *dy0, float *dw,
                 float *db, int k, int s) {
    const int H = g->H, W = g->W, p = g->p, Wo = g->Wo;
    __m512 acc[AL_DW_KMAX * AL_DW_KMAX], dacc = _mm512_setzero_ps();
    for (int t = 0; t < k * k; t++) acc[t] = _mm512_setzero_ps();
    for (int c = 0; c < Wo; c += 16) {
        chunk_masks cm;
        make_masks(&cm, c, W, k, s, p);
        __mmask16 om = cmask(c, Wo, 16);
        for (int i = 0; i < n; i++)
        for (int oy = 0; oy < g->Ho; oy++) {
            const float *x = x0 + (size_t)i * xs, *dy = dy0 + (size_t)i * ys;
            int ky0 = AL_MAX(0, p - oy * s), ky1 = AL_MIN(k, H + p - oy * s);
            __m512 d = _mm512_maskz_loadu_ps(om, dy + (size_t)oy * Wo + c);
            dacc = _mm512_add_ps(dacc, d);
            if (!dw) continue;
            for (int ky = ky0; ky < ky1; ky++) {
                const float *row = x + (size_t)(oy * s - p + ky) * W + c * s - p;
                for (int kx = 0; kx < k; kx++)
                    acc[ky * k + kx] = _mm512_fmadd_ps(d, win(row, kx, &cm, kx, s), acc[ky * k + kx]);
            }
        }
    }
    if (dw)
        for (int t = 0; t < k * k; t++) dw[t] += _mm512_reduce_add_ps(acc[t]);
    if (db) *db += _mm512_reduce_add_ps(dacc);
}

static int floor2(int t) { return t >= 0 ? t / 2 : -((1 - t) / 2); }

/* dx of a stride-2 plane, every element written */
AI void dx_s2(const al_dw_geom *g, const float *dy, const float *w, float *dx, int k) {
    const int W = g->W, p = g->p, Ho = g->Ho, Wo = g->Wo;
    const __m512i idx0 = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
    const __m512i idx1 = _mm512_setr_epi32(0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8);
    __m512 wv[AL_DW_KMAX * AL_DW_KMAX];
    for (int t = 0; t < k * k; t++) wv[t] = _mm512_set1_ps(w[t]);
    for (int c = 0; c < W; c += 16) {
        /* per tap column: the first dy index, the parity, the load mask */
        int base[AL_DW_KMAX];
        __mmask16 lm[AL_DW_KMAX], pm[AL_DW_KMAX];
        __m512i ix[AL_DW_KMAX];
        for (int kx = 0; kx < k; kx++) {
            int t0 = c + p - kx, par;
            base[kx] = floor2(t0);
            par = t0 - 2 * base[kx];
            lm[kx] = cmask(base[kx], Wo, 16);
            pm[kx] = par ? (__mmask16)0xAAAA : (__mmask16)0x5555;
            ix[kx] = par ? idx1 : idx0;
        }
        __mmask16 om = cmask(c, W, 16);
        for (int iy = 0; iy < g->H; iy++) {
            __m512 acc = _mm512_setzero_ps();
            for (int ky = 0; ky < k; ky++) {
                int t = iy + p - ky;
                if (t < 0 || (t & 1) || t / 2 >= Ho) continue;
                const float *drow = dy + (size_t)(t / 2) * Wo;
                for (int kx = 0; kx < k; kx++) {
                    __m512 d = _mm512_maskz_loadu_ps(lm[kx], drow + base[kx]);
                    acc = _mm512_fmadd_ps(wv[ky * k + kx], _mm512_maskz_permutexvar_ps(pm[kx], ix[kx], d), acc);
                }
            }
            _mm512_mask_storeu_ps(dx + (size_t)iy * W + c, om, acc);
        }
    }
}

void al_dw_backward_avx512(const al_dw_geom *g, int n, long xs, long ys, const float *x, const float *dy, const float *w,
                           float *dx, float *dw, float *db) {
    if (g->Wo <= AVX2_MAX_WO) {
        al_dw_backward_avx2(g, n, xs, ys, x, dy, w, dx, dw, db);
        return;
    }
    if (dw || db) {
        if (g->k == 3 && g->s == 1)
            dw_plane(g, n, xs, ys, x, dy, dw, db, 3, 1);
        else if (g->k == 3)
            dw_plane(g, n, xs, ys, x, dy, dw, db, 3, 2);
        else
            dw_plane(g, n, xs, ys, x, dy, dw, db, g->k, g->s);
    }
    if (!dx) return;
    int k = g->k;
    if (g->s == 1 && g->p > k - 1) {
        al_dw_backward_ref(g, n, xs, ys, x, dy, w, dx, NULL, NULL);
        return;
    }
    float wf[AL_DW_KMAX * AL_DW_KMAX];
    for (int t = 0; t < k * k; t++) wf[t] = w[k * k - 1 - t];
    al_dw_geom f = {g->Ho, g->Wo, k, 1, k - 1 - g->p, g->H, g->W};
    for (int i = 0; i < n; i++) {
        const float *dyi = dy + (size_t)i * ys;
        float *dxi = dx + (size_t)i * xs;
        if (g->s == 2 && k == 3)
            dx_s2(g, dyi, w, dxi, 3);
        else if (g->s == 2)
            dx_s2(g, dyi, w, dxi, k);
        else if (k == 3)
            fwd_rows_k3s1(&f, dyi, wf, 0.0f, 0, dxi);
        else
            fwd_plane(&f, dyi, wf, 0.0f, 0, dxi, k, 1);
    }
}
