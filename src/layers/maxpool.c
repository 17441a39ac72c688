/* 2-D max pooling, PyTorch's nn.MaxPool2d (floor mode, dilation 1).
 * x is (n, C, H, W), y is (n, C, OH, OW); padding counts as -inf, so it never
 * wins. cfg: k (window), stride (0 = k), pad (at most k/2), ceil (ceil_mode:
 * a last window past the border holds only what lies inside).
 * Forward saves in aux, for every output, the index h*W + w of the winner in
 * its input plane (int32 in the float slot); backward routes dy there.
 * Ties go to the first element in scan order and NaN propagates, as in
 * PyTorch's CPU kernel.
 *
 * The common 2x2 window, stride 2, no padding (every CNN here) has its own
 * loops: windows are disjoint, so the four candidates are compared without
 * an inner loop (the compiler vectorizes over ow). A window holding a NaN goes back to the general loop, so the
 * results are those of the general path bit for bit (test_layers_misc). */

#include "layers/layers.h"

#include <math.h>
#include <string.h>

_Static_assert(sizeof(int32_t) == sizeof(float), "argmax indices live in float slots");

static al_status maxpool_shape(al_node *nd, const al_shape *in) {
    al_pool_geom g = {0};
    al_status st = al_pool_geom_init("maxpool", nd, in, &g);
    if (st != AL_OK) return st;
    if ((size_t)g.H * (size_t)g.W > (size_t)INT32_MAX)
        return al_error(AL_ESHAPE, "maxpool: input plane %dx%d is too large", g.H, g.W);
    nd->aux_per_sample = al_shape_numel(&nd->out);
    return AL_OK;
}

typedef struct maxpool_args {
    al_pool_geom g;
    const float *x;
    float *y;
    int32_t *arg;
    const float *dy;
    float *dx;
} maxpool_args;

/* ceil mode on an odd side leaves a last window of one column or row: not
 * the fast loops' shape */
static int is_2x2(const al_pool_geom *g) {
    return g->k == 2 && g->s == 2 && g->p == 0 && 2 * g->OH <= g->H && 2 * g->OW <= g->W;
}

/* The AVX-512 rows (src/kernels/pool_avx512.c), bitwise the plain ones. */
#if defined(__x86_64__) || defined(_M_X64)
#define MAXPOOL_X86 1
int al_maxpool2x2_row_avx512(const float *r0, const float *r1, int OW, int32_t base, int W, float *y, int32_t *arg);
#endif

/* The general window at (oh, ow) of one plane. */
static void window_max(const al_pool_geom *g, const float *x, int oh, int ow, float *yo, int32_t *argo) {
    int h0 = oh * g->s - g->p, h1 = AL_MIN(h0 + g->k, g->H);
    if (h0 < 0) h0 = 0;
    int w0 = ow * g->s - g->p, w1 = AL_MIN(w0 + g->k, g->W);
    if (w0 < 0) w0 = 0;
    float best = -INFINITY;
    int32_t bi = h0 * g->W + w0; /* pad <= k/2: the window holds a real element */
    for (int h = h0; h < h1; h++)
        for (int w = w0; w < w1; w++) {
            float v = x[(size_t)h * g->W + w];
            if (v > best || isnan(v)) {
                best = v;
                bi = h * g->W + w;
                if (isnan(v)) goto done;
            }
        }
done:
    *yo = best;
    *argo = bi;
}

/* One output row of a 2x2/2 pool: r0, r1 are input rows 2*oh and 2*oh+1.
 * Candidates in scan order a b / c d; a later one wins only when strictly
 * greater (ties to the first, as the general loop). Returns 1 when some
 * window held a NaN (the caller redoes those windows). */
static int row_2x2(const float *restrict r0, const float *restrict r1, int OW, int32_t base, int W,
                   float *restrict y, int32_t *restrict arg) {
    int nan = 0;
    for (int ow = 0; ow < OW; ow++) {
        float a = r0[2 * ow], b = r0[2 * ow + 1], c = r1[2 * ow], d = r1[2 * ow + 1];
        nan |= (a != a) | (b != b) | (c != c) | (d != d);
        int32_t i = base + 2 * ow;
        float m = a;
        int32_t mi = i;
        mi = b > m ? i + 1 : mi;
        m = b > m ? b : m;
        mi = c > m ? i + W : mi;
        m = c > m ? c : m;
        mi = d > m ? i + W + 1 : mi;
        m = d > m ? d : m;
        y[ow] = m;
        arg[ow] = mi;
    }
    return nan;
}

/* planes [lo, hi) of the n*C input planes */
static void maxpool_fwd_range(void *va, long lo, long hi) {
    const maxpool_args *a = va;
    const al_pool_geom g = a->g;
    if (is_2x2(&g)) {
        size_t in_plane = (size_t)g.H * g.W, out_plane = (size_t)g.OH * g.OW;
#ifdef MAXPOOL_X86
        const int simd = al_cnn_simd();
#endif
        for (long pl = lo; pl < hi; pl++) {
            const float *x = a->x + (size_t)pl * in_plane;
            float *y = a->y + (size_t)pl * out_plane;
            int32_t *arg = a->arg + (size_t)pl * out_plane;
            for (int oh = 0; oh < g.OH; oh++) {
                const float *r0 = x + (size_t)2 * oh * g.W;
                float *yr = y + (size_t)oh * g.OW;
                int32_t *ar = arg + (size_t)oh * g.OW;
                int nan;
#ifdef MAXPOOL_X86
                if (simd)
                    nan = al_maxpool2x2_row_avx512(r0, r0 + g.W, g.OW, 2 * oh * g.W, g.W, yr, ar);
                else
#endif
                    nan = row_2x2(r0, r0 + g.W, g.OW, 2 * oh * g.W, g.W, yr, ar);
                if (nan)
                    for (int ow = 0; ow < g.OW; ow++) window_max(&g, x, oh, ow, yr + ow, ar + ow);
            }
        }
        return;
    }
    size_t in_plane = (size_t)g.H * g.W, out_plane = (size_t)g.OH * g.OW;
    for (long pl = lo; pl < hi; pl++) {
        const float *x = a->x + (size_t)pl * in_plane;
        float *y = a->y + (size_t)pl * out_plane;
        int32_t *arg = a->arg + (size_t)pl * out_plane;
        for (int oh = 0; oh < g.OH; oh++)
            for (int ow = 0; ow < g.OW; ow++)
                window_max(&g, x, oh, ow, y + (size_t)oh * g.OW + ow, arg + (size_t)oh * g.OW + ow);
    }
}

static al_status maxpool_forward(al_node *nd, const al_exec *e, const float *x, float *y, int n) {
    maxpool_args a = {al_pool_geom_of(nd), x, y, (int32_t *)nd->aux, NULL, NULL};
    size_t work = (size_t)n * al_shape_numel(&nd->in);
    al_par_for(e->pool, (long)n * a.g.C, work, maxpool_fwd_range, &a);
    return AL_OK;
}

static void maxpool_bwd_range(void *va, long lo, long hi) {
    const maxpool_args *a = va;
    const al_pool_geom g = a->g;
    size_t in_plane = (size_t)g.H * g.W, out_plane = (size_t)g.OH * g.OW;
    for (long pl = lo; pl < hi; pl++) {
        float *dx = a->dx + (size_t)pl * in_plane;
        const float *dy = a->dy + (size_t)pl * out_plane;
        const int32_t *arg = a->arg + (size_t)pl * out_plane;
        memset(dx, 0, sizeof(float) * in_plane);
        for (size_t o = 0; o < out_plane; o++) dx[arg[o]] += dy[o];
    }
}

static void maxpool_backward(al_node *nd, const al_exec *e, const float *x, const float *y, const float *dy,
                             float *dx, int n) {
    AL_UNUSED(x);
    AL_UNUSED(y);
    if (!dx) return; /* no weights */
    maxpool_args a = {al_pool_geom_of(nd), NULL, NULL, (int32_t *)nd->aux, dy, dx};
    size_t work = (size_t)n * al_shape_numel(&nd->in);
    al_par_for(e->pool, (long)n * a.g.C, work, maxpool_bwd_range, &a);
}

/* One comparison per window element counts as one MAC. */
static uint64_t maxpool_macs(const al_node *nd) {
    return (uint64_t)al_shape_numel(&nd->out) * (uint64_t)nd->cfg.k * (uint64_t)nd->cfg.k;
}

const al_layer_vt al_maxpool_vt = {"maxpool", maxpool_shape, NULL, maxpool_forward, maxpool_backward, maxpool_macs,
                                   NULL};
