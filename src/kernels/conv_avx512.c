/* AVX-512F forms of im2col, col2im and the implicit-GEMM packer for the
 * common "same" convolution: stride 1, 2p = k - 1, so Ho = H and Wo = W.
 * (conv.c calls them only then, and only on a CPU with AVX-512F.)
 *
 * Why that shape is special: with Wo = W the column matrix's row
 * (c, ky, kx) is the channel's image shifted by d = (ky-p)*W + (kx-p) in
 * the flattened pixel index, col[(c,ky,kx)][q] = x[c][q + d], with the
 * entries whose input pixel falls in the padding set to zero. So 16
 * columns at once are one masked load from x[c] + q + d: the mask holds
 * the lanes whose (oy+ky-p, ox+kx-p) is inside the image, and masked-off
 * lanes are neither read (no fault past the image's ends) nor kept (zero).
 * The plain forms copy runs of Wo = 7 or 14 floats with a bounds test per
 * run; this does 16 floats per instruction.
 *
 * col2im is the adjoint: dx[c][q] = sum over taps of col[(c,tap)][q - d]
 * for the taps whose output pixel q - d is inside the image, which is the
 * im2col mask of the mirrored tap (k-1-ky, k-1-kx) because k-1-p = p. Each
 * pixel's sum is formed in the registers in the plain form's tap order,
 * starting from 0 (masked-off taps add +0), so the result is bitwise the
 * plain form's, and dx needs no clearing pass.
 *
 * Masks are computed once per call for 16-lane blocks of one image plane
 * (k*k taps x ceil(H*W/16) blocks, at most SAME_MASKS_MAX; the caller falls
 * back to the plain form above that). Pointers to masked-off lanes may lie
 * outside the image; they are formed as integers and only used by masked
 * loads and stores. */
#include "kernels/kernels.h"

#include <immintrin.h>
#include <stdint.h>

#define SAME_MASKS_MAX 4096

static inline const float *shift_ptr(const float *base, long off) {
    return (const float *)((uintptr_t)base + (uintptr_t)((intptr_t)off * (intptr_t)sizeof(float)));
}

/* m[tap*nb + b]: lanes q = 16b + t of a plane (q < H*W) whose input pixel
 * under tap (ky, kx) is inside the image. Returns nb, 0 when the table
 * would exceed SAME_MASKS_MAX entries. */
static int same_masks(int H, int W, int k, int p, __mmask16 *m) {
    long P = (long)H * W, nb = (P + 15) / 16;
    if (nb * k * k > SAME_MASKS_MAX || nb > INT32_MAX / 16) return 0;
    const __m512i iota = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    const __m512i vW = _mm512_set1_epi32(W), one = _mm512_set1_epi32(1), v16 = _mm512_set1_epi32(16);
    /* lane t of block b: oy, ox of q = 16b + t, carried from block to block */
    __m512i ox = iota, oy = _mm512_setzero_si512();
    for (;;) { /* q = t might already pass W (W < 16) */
        __mmask16 wrap = _mm512_cmpge_epi32_mask(ox, vW);
        if (!wrap) break;
        ox = _mm512_mask_sub_epi32(ox, wrap, ox, vW);
        oy = _mm512_mask_add_epi32(oy, wrap, oy, one);
    }
    for (long b = 0; b < nb; b++) {
        long left = P - 16 * b;
        __mmask16 inplane = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1u);
        __mmask16 rowok[32], colok[32];
        for (int t = 0; t < k; t++) {
            __m512i iy = _mm512_add_epi32(oy, _mm512_set1_epi32(t - p));
            __m512i ix = _mm512_add_epi32(ox, _mm512_set1_epi32(t - p));
            rowok[t] = _mm512_cmpge_epi32_mask(iy, _mm512_setzero_si512()) &
                       _mm512_cmplt_epi32_mask(iy, _mm512_set1_epi32(H));
            colok[t] = _mm512_cmpge_epi32_mask(ix, _mm512_setzero_si512()) & _mm512_cmplt_epi32_mask(ix, vW);
        }
        for (int ky = 0; ky < k; ky++)
            for (int kx = 0; kx < k; kx++) m[(long)(ky * k + kx) * nb + b] = rowok[ky] & colok[kx] & inplane;
        ox = _mm512_add_epi32(ox, v16);
        for (;;) {
            __mmask16 wrap = _mm512_cmpge_epi32_mask(ox, vW);
            if (!wrap) break;
            ox = _mm512_mask_sub_epi32(ox, wrap, ox, vW);
            oy = _mm512_mask_add_epi32(oy, wrap, oy, one);
        }
    }
    return (int)nb;
}

/* k is at most 31 here (rowok/colok above); conv.c checks. */
int al_im2col_same_avx512(const float *x, int C, int H, int W, int k, int p, float *col, long ldcol) {
    __mmask16 m[SAME_MASKS_MAX];
    int nb = same_masks(H, W, k, p, m);
    if (!nb) return 0;
    const long P = (long)H * W;
    const __mmask16 tail = (__mmask16)((1u << (P - 16L * (nb - 1))) - 1u);
    for (int c = 0; c < C; c++) {
        const float *xc = x + (size_t)c * (size_t)P;
        for (int t = 0; t < k * k; t++) {
            long d = (long)(t / k - p) * W + (t % k - p);
            float *dst = col + (size_t)(c * k * k + t) * (size_t)ldcol;
            const __mmask16 *mt = m + (long)t * nb;
            int b = 0;
            for (; b < nb - 1; b++) _mm512_storeu_ps(dst + 16 * b, _mm512_maskz_loadu_ps(mt[b], shift_ptr(xc, 16L * b + d)));
            _mm512_mask_storeu_ps(dst + 16 * b, tail, _mm512_maskz_loadu_ps(mt[b], shift_ptr(xc, 16L * b + d)));
        }
    }
    return 1;
}

int al_col2im_same_avx512(const float *col, long ldcol, int C, int H, int W, int k, int p, float *x) {
    __mmask16 m[SAME_MASKS_MAX];
    int nb = same_masks(H, W, k, p, m);
    if (!nb) return 0;
    const long P = (long)H * W;
    const int kk = k * k;
    const __mmask16 tail = (__mmask16)((1u << (P - 16L * (nb - 1))) - 1u);
    for (int c = 0; c < C; c++) {
        const float *cc = col + (size_t)c * (size_t)kk * (size_t)ldcol;
        float *xc = x + (size_t)c * (size_t)P;
        for (int b = 0; b < nb; b++) {
            __m512 acc = _mm512_setzero_ps();
            for (int t = 0; t < kk; t++) {
                /* tap t reads pixel q from output q - d; its mask is the
                 * mirrored tap's im2col mask */
                long d = (long)(t / k - p) * W + (t % k - p);
                __mmask16 mk = m[(long)(kk - 1 - t) * nb + b];
                acc = _mm512_add_ps(acc, _mm512_maskz_loadu_ps(mk, shift_ptr(cc + (size_t)t * ldcol, 16L * b - d)));
            }
            if (b < nb - 1)
                _mm512_storeu_ps(xc + 16 * b, acc);
            else
                _mm512_mask_storeu_ps(xc + 16 * b, tail, acc);
        }
    }
    return 1;
}

/* The implicit GEMM's B panels (al_im2col_pack's contract, NR = 32): lane
 * t of a panel is batch pixel j = j0 + t, sample j / P, pixel q = j % P.
 * With P >= 32 a panel spans at most two samples: lanes [0, tA) of sample
 * i, lanes [tA, 32) of sample i+1, so every row of the panel is at most
 * two masked loads per 16 lanes. The lane masks are per panel (rows and
 * columns of its pixels inside the image under each tap). */
int al_im2col_pack_same_avx512(const al_im2col_src *a, int p0, int kc, int j0, int nc, float *dst) {
    const int k = a->k, p = a->p, H = a->H, W = a->W, kk = k * k;
    const long P = (long)H * W, HW = P, CHW = (long)a->C * P;
    if (P < 32 || k > 31) return 0;
    uint32_t mA[31 * 31], mB[31 * 31];
    long offA[31 * 31], offB[31 * 31];
    for (int cb = 0; cb < nc; cb += 32, dst += (size_t)32 * kc) {
        int ncols = AL_MIN(32, nc - cb);
        long j = (long)j0 + cb, i = j / P, q0 = j % P;
        int tA = (int)AL_MIN((long)ncols, P - q0);
        uint32_t lanes = ncols == 32 ? 0xFFFFFFFFu : ((1u << ncols) - 1u);
        uint32_t partA = tA == 32 ? 0xFFFFFFFFu : ((1u << tA) - 1u);
        uint32_t rowok[31] = {0}, colok[31] = {0};
        int oy = (int)(q0 / W), ox = (int)(q0 % W);
        for (int t = 0; t < ncols; t++) {
            if (t == tA) oy = ox = 0; /* the next sample starts */
            for (int u = 0; u < k; u++) {
                int iy = oy + u - p, ix = ox + u - p;
                if (iy >= 0 && iy < H) rowok[u] |= 1u << t;
                if (ix >= 0 && ix < W) colok[u] |= 1u << t;
            }
            if (++ox == W) {
                ox = 0;
                oy++;
            }
        }
        for (int t = 0; t < kk; t++) {
            long d = (long)(t / k - p) * W + (t % k - p);
            uint32_t mt = rowok[t / k] & colok[t % k] & lanes;
            mA[t] = mt & partA;
            mB[t] = mt & ~partA;
            offA[t] = i * CHW + q0 + d;            /* lane 0 of sample i */
            offB[t] = (i + 1) * CHW - tA + d;      /* lane 0, were sample i+1 to start there */
        }
        int c = p0 / kk, t = p0 % kk;
        for (int pp = 0; pp < kc; pp++) {
            float *o = dst + (size_t)pp * 32;
            long cofs = (long)c * HW;
            __m512 lo = _mm512_maskz_loadu_ps((__mmask16)mA[t], shift_ptr(a->x, offA[t] + cofs));
            __m512 hi = _mm512_maskz_loadu_ps((__mmask16)(mA[t] >> 16), shift_ptr(a->x, offA[t] + cofs + 16));
            if (mB[t]) {
                lo = _mm512_mask_loadu_ps(lo, (__mmask16)mB[t], shift_ptr(a->x, offB[t] + cofs));
                hi = _mm512_mask_loadu_ps(hi, (__mmask16)(mB[t] >> 16), shift_ptr(a->x, offB[t] + cofs + 16));
            }
            _mm512_storeu_ps(o, lo);
            _mm512_storeu_ps(o + 16, hi);
            if (++t == kk) {
                t = 0;
                c++;
            }
        }
    }
    return 1;
}

/* The implicit GEMM's B panels for the other convs of stride 1 or 2 (any
 * padding: the stride-2 stem of MobileNet-class networks, "valid" convs).
 * Lane t of a panel is batch pixel j = j0 + t; the lanes of each 16-lane
 * half fall into runs of one output row of one sample (at most RUNS_MAX
 * when Wo >= 6), and within a run lane a + v reads input column ix0 + s*v.
 * So one run of one row (c, ky, kx) is 32 consecutive floats of the image
 * row, loaded under the mask of the columns it needs that lie in the image
 * (the others read as zero, as the padding must), and a vpermt2ps that
 * takes every s-th one into the run's lanes. Found once per panel and tap:
 * each run's offset into the batch and its two masks; each row then costs
 * two loads and a permute per run. Copies only, so the panels are bitwise
 * al_im2col_pack_ref's. */
#define RUNS_MAX 4
#define PACK_TAPS_MAX 64

typedef struct pack_run {
    int half, a, len; /* lanes [a, a + len) of half `half`, a within the half (runs in lane order) */
    long base;        /* sample offset + iy0 * W + ix0 */
    int iy0, ix0;     /* oy*s - p, ox*s - p of the run's first lane */
} pack_run;

/* bits [lo, hi) of a 32-bit word */
static inline uint32_t bits(int lo, int hi) {
    if (hi <= lo) return 0;
    return (uint32_t)((((uint64_t)1 << hi) - 1) & ~(((uint64_t)1 << lo) - 1));
}

int al_im2col_pack_s12_avx512(const al_im2col_src *a, int p0, int kc, int j0, int nc, float *dst) {
    const int k = a->k, s = a->s, p = a->p, H = a->H, W = a->W, Wo = a->Wo, kk = k * k;
    const long P = (long)a->Ho * Wo, HW = (long)H * W, CHW = (long)a->C * HW;
    if ((s != 1 && s != 2) || Wo < 6 || kk > PACK_TAPS_MAX) return 0;
    /* element s*v of the 32 loaded: every other bit for stride 2 */
    const uint32_t every = s == 1 ? 0xFFFFFFFFu : 0x55555555u;
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    __m512i idx[2 * RUNS_MAX];
    pack_run run[2 * RUNS_MAX];
    uint32_t lmask[2 * RUNS_MAX][PACK_TAPS_MAX];
    __mmask16 omask[2 * RUNS_MAX][PACK_TAPS_MAX];
    long toff[PACK_TAPS_MAX];
    for (int t = 0; t < kk; t++) toff[t] = (long)(t / k) * W + t % k;
    for (int cb = 0; cb < nc; cb += 32, dst += (size_t)32 * kc) {
        const int ncols = AL_MIN(32, nc - cb);
        int nrun = 0;
        for (int t = 0; t < ncols;) {
            long j = (long)j0 + cb + t, i = j / P, q = j % P;
            int oy = (int)(q / Wo), ox = (int)(q % Wo), half = t / 16;
            int len = AL_MIN(AL_MIN(Wo - ox, ncols - t), 16 * (half + 1) - t);
            if (nrun == 2 * RUNS_MAX) return 0; /* not with Wo >= 6 */
            pack_run *r = &run[nrun++];
            r->half = half;
            r->a = t - 16 * half;
            r->len = len;
            r->iy0 = oy * s - p;
            r->ix0 = ox * s - p;
            r->base = i * CHW + (long)r->iy0 * W + r->ix0;
            t += len;
        }
        for (int u = 0; u < nrun; u++) {
            const pack_run *r = &run[u];
            /* lane a + v takes element s*v of the 32 loaded (lanes outside
             * the run take junk, dropped by its output mask) */
            __m512i d = _mm512_sub_epi32(iota, _mm512_set1_epi32(r->a));
            idx[u] = s == 1 ? d : _mm512_add_epi32(d, d);
            for (int t = 0; t < kk; t++) {
                int iy = r->iy0 + t / k, c0 = r->ix0 + t % k;
                /* the v in [0, len) with 0 <= c0 + s*v < W: [lo, hi) */
                int lo = c0 >= 0 ? 0 : (-c0 + s - 1) / s;
                int hi = c0 >= W ? 0 : (W - c0 + s - 1) / s;
                hi = AL_MIN(hi, r->len);
                if (iy < 0 || iy >= H || hi <= lo) {
                    lmask[u][t] = 0;
                    omask[u][t] = 0;
                    continue;
                }
                lmask[u][t] = bits(s * lo, s * (hi - 1) + 1) & every;
                omask[u][t] = (__mmask16)bits(r->a + lo, r->a + hi);
            }
        }
        int nrun0 = 0; /* the runs of the first half come first */
        while (nrun0 < nrun && run[nrun0].half == 0) nrun0++;
        int c = p0 / kk, t = p0 % kk;
        for (int pp = 0; pp < kc; pp++) {
            /* two named vectors, not an array indexed by the run's half: the
             * compiler kept that in memory, and a masked store then a load
             * of the same vector stalls on every run */
            __m512 h0 = _mm512_setzero_ps(), h1 = _mm512_setzero_ps();
            const long cofs = (long)c * HW + toff[t];
            for (int u = 0; u < nrun; u++) {
                const uint32_t lm = lmask[u][t];
                if (!lm) continue;
                const long off = run[u].base + cofs;
                __m512 lo = _mm512_maskz_loadu_ps((__mmask16)lm, shift_ptr(a->x, off));
                __m512 hi = _mm512_maskz_loadu_ps((__mmask16)(lm >> 16), shift_ptr(a->x, off + 16));
                __m512 v = _mm512_permutex2var_ps(lo, idx[u], hi);
                if (u < nrun0)
                    h0 = _mm512_mask_mov_ps(h0, omask[u][t], v);
                else
                    h1 = _mm512_mask_mov_ps(h1, omask[u][t], v);
            }
            _mm512_storeu_ps(dst + (size_t)pp * 32, h0);
            _mm512_storeu_ps(dst + (size_t)pp * 32 + 16, h1);
            if (++t == kk) {
                t = 0;
                c++;
            }
        }
    }
    return 1;
}

/* ---- direct kernels for one input channel, 3x3, stride 1, padding 1 ---------
 * The first conv of an image CNN (refcnn: 1x28x28 -> 32). As a GEMM its K
 * is 9 (forward) and its weight gradient is 32 x 9: the packed GEMM spends
 * more on packing and on storing tiles than on multiply-adds. Here the nine
 * shifted images of a 16-pixel block are nine masked loads, kept in
 * registers while every filter uses them. */

/* y [F,H,W] of one sample x [H,W]; w [F,9], b [F] or NULL. Each output is
 * the sum over taps in order from 0, then plus the bias: the AVX-512
 * GEMM's rounding (its tile sums K in order, the bias is the C it adds), so
 * y is bitwise what the implicit GEMM computes. */
int al_conv1c3_forward_avx512(const float *x, int H, int W, const float *w, const float *b, int F, float *y) {
    __mmask16 m[SAME_MASKS_MAX];
    int nb = same_masks(H, W, 3, 1, m);
    if (!nb) return 0;
    const long P = (long)H * W;
    const __mmask16 tail = (__mmask16)((1u << (P - 16L * (nb - 1))) - 1u);
    for (int bl = 0; bl < nb; bl++) {
        __m512 xv[9];
        for (int t = 0; t < 9; t++)
            xv[t] = _mm512_maskz_loadu_ps(m[(long)t * nb + bl], shift_ptr(x, 16L * bl + (t / 3 - 1) * W + (t % 3 - 1)));
        for (int f = 0; f < F; f++) {
            const float *wf = w + (size_t)f * 9;
            __m512 acc = _mm512_mul_ps(_mm512_set1_ps(wf[0]), xv[0]);
            for (int t = 1; t < 9; t++) acc = _mm512_fmadd_ps(_mm512_set1_ps(wf[t]), xv[t], acc);
            if (b) acc = _mm512_add_ps(acc, _mm512_set1_ps(b[f]));
            float *yf = y + (size_t)f * (size_t)P + 16 * bl;
            if (bl < nb - 1)
                _mm512_storeu_ps(yf, acc);
            else
                _mm512_mask_storeu_ps(yf, tail, acc);
        }
    }
    return 1;
}

/* Weight and bias gradients of filters [f0, f1) over n samples:
 * dw[f][t] += sum_i sum_q g_i[f][q] * x_i[q + d_t] (masked), db[f] += sum g,
 * where g = dy, or dy where y > 0 when relu (the fused activation's
 * derivative). x [n,H,W], dy and y [n,F,H,W]; db may be NULL. Two filters at
 * a time: 18 + 2 accumulators over all samples and pixels, reduced once at
 * the end (the order depends on the shape only). */
int al_conv1c3_dweight_avx512(const float *x, const float *dy, const float *y, int relu, int n, int H, int W, int F,
                              int f0, int f1, float *dw, float *db) {
    __mmask16 m[SAME_MASKS_MAX];
    int nb = same_masks(H, W, 3, 1, m);
    if (!nb) return 0;
    const long P = (long)H * W;
    const __mmask16 tail = (__mmask16)((1u << (P - 16L * (nb - 1))) - 1u);
    const __m512 zero = _mm512_setzero_ps();
    for (int f = f0; f < f1; f += 2) {
        const int two = f + 1 < f1;
        __m512 a0[9], a1[9], s0 = zero, s1 = zero;
        for (int t = 0; t < 9; t++) a0[t] = a1[t] = zero;
        for (int i = 0; i < n; i++) {
            const float *xi = x + (size_t)i * (size_t)P;
            const float *g0 = dy + ((size_t)i * F + f) * (size_t)P, *y0 = y + ((size_t)i * F + f) * (size_t)P;
            for (int bl = 0; bl < nb; bl++) {
                __mmask16 in = bl < nb - 1 ? (__mmask16)0xFFFF : tail;
                __m512 d0 = _mm512_maskz_loadu_ps(in, g0 + 16 * bl), d1 = zero;
                if (two) d1 = _mm512_maskz_loadu_ps(in, g0 + P + 16 * bl);
                if (relu) {
                    d0 = _mm512_maskz_mov_ps(_mm512_mask_cmp_ps_mask(in, _mm512_maskz_loadu_ps(in, y0 + 16 * bl), zero, _CMP_GT_OQ), d0);
                    if (two)
                        d1 = _mm512_maskz_mov_ps(
                            _mm512_mask_cmp_ps_mask(in, _mm512_maskz_loadu_ps(in, y0 + P + 16 * bl), zero, _CMP_GT_OQ), d1);
                }
                s0 = _mm512_add_ps(s0, d0);
                s1 = _mm512_add_ps(s1, d1);
                for (int t = 0; t < 9; t++) {
                    __m512 xv = _mm512_maskz_loadu_ps(m[(long)t * nb + bl],
                                                      shift_ptr(xi, 16L * bl + (t / 3 - 1) * W + (t % 3 - 1)));
                    a0[t] = _mm512_fmadd_ps(d0, xv, a0[t]);
                    a1[t] = _mm512_fmadd_ps(d1, xv, a1[t]);
                }
            }
        }
        for (int t = 0; t < 9; t++) dw[(size_t)f * 9 + t] += _mm512_reduce_add_ps(a0[t]);
        if (db) db[f] += _mm512_reduce_add_ps(s0);
        if (two) {
            for (int t = 0; t < 9; t++) dw[(size_t)(f + 1) * 9 + t] += _mm512_reduce_add_ps(a1[t]);
            if (db) db[f + 1] += _mm512_reduce_add_ps(s1);
        }
    }
    return 1;
}

/* ---- the stride-2 stem: 3x3, stride 2, padding 1, few input channels ---- */

/* Row iy of channel x (H x W) split for a stride-2 3x3 tap row: o[j] =
 * x[iy][2j] (tap kx = 1 of output column j) and e[j] = x[iy][2j - 1] (kx =
 * 0; kx = 2 reads e[j + 1]), zeros outside the image, n = Wo + 1 entries
 * of each written (the caller's buffers hold a multiple of 16 past that). */
static void stem_split(const float *x, int H, int W, int iy, int Wo, float *e, float *o) {
    const int n = Wo + 1;
    if (iy < 0 || iy >= H) {
        memset(e, 0, sizeof(float) * (size_t)((n + 15) / 16 * 16 + 16));
        memset(o, 0, sizeof(float) * (size_t)((n + 15) / 16 * 16 + 16));
        return;
    }
    const float *r = x + (size_t)iy * W;
    const __m512i ev = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i od = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    e[0] = 0.0f;
    for (int j = 0; j < n; j += 16) {
        /* x[2j .. 2j + 32) (zeros past W): evens are o[j ..], odds e[j + 1 ..] */
        int a = 2 * j;
        __mmask16 m0 = a >= W ? 0 : W - a >= 16 ? 0xffff : (__mmask16)((1u << (W - a)) - 1u);
        __mmask16 m1 = a + 16 >= W ? 0 : W - a - 16 >= 16 ? 0xffff : (__mmask16)((1u << (W - a - 16)) - 1u);
        __m512 v0 = _mm512_maskz_loadu_ps(m0, r + (m0 ? a : 0)), v1 = _mm512_maskz_loadu_ps(m1, r + (m1 ? a + 16 : 0));
        _mm512_storeu_ps(o + j, _mm512_permutex2var_ps(v0, ev, v1));
        _mm512_storeu_ps(e + j + 1, _mm512_permutex2var_ps(v0, od, v1));
    }
}

#define STEM_MAX_C 4
#define STEM_MAX_WO 256 /* the rows live on the stack: 29 KB */
#define STEM_LD (STEM_MAX_WO + 48)

/* nf <= 16 filters (weights wg [nf][C][3][3], biases bg or NULL) on 16
 * output columns from ox of one output row (the split rows in buf), into
 * y (filter f at y + f*P) under the mask om. The taps in the GEMM's order,
 * p = (c*3 + ky)*3 + kx, each an FMA from zero: bitwise its K loop; then
 * the bias and the activation as its epilogue. */
static inline __attribute__((always_inline)) void stem_block(const float *buf, int C, int ox, const float *wg,
                                                             const float *bg, int act, int nf, float *y, size_t P,
                                                             __mmask16 om) {
    __m512 acc[16];
    for (int f = 0; f < 16; f++) acc[f] = _mm512_setzero_ps();
    for (int c = 0; c < C; c++)
        for (int ky = 0; ky < 3; ky++) {
            const float *e = buf + ((size_t)(c * 3 + ky) * 2) * STEM_LD, *o = e + STEM_LD;
            const __m512 t0 = _mm512_loadu_ps(e + ox), t1 = _mm512_loadu_ps(o + ox), t2 = _mm512_loadu_ps(e + ox + 1);
            const float *wp = wg + (size_t)(c * 3 + ky) * 3;
            for (int f = 0; f < nf; f++) {
                const float *wf = wp + (size_t)f * C * 9;
                acc[f] = _mm512_fmadd_ps(_mm512_set1_ps(wf[0]), t0, acc[f]);
                acc[f] = _mm512_fmadd_ps(_mm512_set1_ps(wf[1]), t1, acc[f]);
                acc[f] = _mm512_fmadd_ps(_mm512_set1_ps(wf[2]), t2, acc[f]);
            }
        }
    for (int f = 0; f < nf; f++) {
        __m512 v = acc[f];
        if (bg) v = _mm512_add_ps(v, _mm512_set1_ps(bg[f]));
        _mm512_mask_storeu_ps(y + (size_t)f * P, om, al_act16(v, act));
    }
}

int al_conv_stem_forward_avx512(const float *x, int C, int H, int W, const float *w, const float *b, int act, int F,
                                float *y) {
    const int Ho = (H - 1) / 2 + 1, Wo = (W - 1) / 2 + 1;
    if (C < 1 || C > STEM_MAX_C || H < 1 || W < 1 || Wo > STEM_MAX_WO || F < 1) return 0;
    /* [c][ky]: the e and o rows of input row 2*oy - 1 + ky */
    _Alignas(64) float buf[STEM_MAX_C * 3 * 2 * STEM_LD];
    const size_t P = (size_t)Ho * Wo;
    for (int oy = 0; oy < Ho; oy++) {
        for (int c = 0; c < C; c++)
            for (int ky = 0; ky < 3; ky++) {
                float *e = buf + ((size_t)(c * 3 + ky) * 2) * STEM_LD;
                stem_split(x + (size_t)c * H * W, H, W, 2 * oy - 1 + ky, Wo, e, e + STEM_LD);
            }
        for (int ox = 0; ox < Wo; ox += 16) {
            const __mmask16 om = Wo - ox >= 16 ? 0xffff : (__mmask16)((1u << (Wo - ox)) - 1u);
            for (int f0 = 0; f0 < F; f0 += 16) {
                const float *wg = w + (size_t)f0 * C * 9, *bg = b ? b + f0 : NULL;
                float *yo = y + (size_t)f0 * P + (size_t)oy * Wo + ox;
                if (F - f0 >= 16)
                    stem_block(buf, C, ox, wg, bg, act, 16, yo, P, om); /* unrolled: acc in registers */
                else
                    stem_block(buf, C, ox, wg, bg, act, F - f0, yo, P, om);
            }
        }
    }
    return 1;
}
