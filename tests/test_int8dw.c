/* int8 depthwise convolution (kernels.h, "int8 depthwise"; the layer's int8
 * forward in src/layers/quant_forward.c):
 *  - every variant (ref, avx2, vnni, neon: those the CPU has) returns the
 *    reference's floats bit for bit, from int8 planes (al_i8dw_forward) and
 *    from float planes it quantizes itself (al_i8dw_forward_planes: the
 *    vnni variant's padded int16 path and its float-kernel path, in groups of planes), on odd shapes (H, W 1..49, k 1..7,
 *    stride 1..3, padding 0..k-1, each fused activation), and the
 *    reference matches the convolution written out here; no variant writes
 *    past the plane (guard values) or reads past it (ASan, exact sizes);
 *  - the vector plane quantizer (al_i8_quantize) is al_quantize_row_i8 bit
 *    for bit (ties, zeros, the 127 clamp, every tail length);
 *  - a quantized dwconv node against the float forward of the same
 *    (dequantized) weights within the bound the activation rounding gives
 *    (per plane: sum |w| * max|x| / 254), for every variant; 1 and 2 threads
 *    bitwise the same; al_quantize_frozen_dw picks dwconv nodes (not
 *    dilated or trainable ones), al_quantize_frozen leaves them float;
 *  - save/load keeps the dwconv's int8 weights bit for bit, hostile files
 *    are refused, a float file still loads;
 *  - a small MobileNet-like block stack: the int8 frozen part's logits
 *    against float's. */
#include "al_test.h"
#include "cloud/compile/quant.h"
#include "kernels/kernels.h"

#include <unistd.h>

static int cases;

/* the convolution written out, with the reference's epilogue formula */
static void naive(const al_dw_geom *g, const int8_t *x, float sx, const int8_t *w, float sw, float b, int act,
                  float *y) {
    for (int oy = 0; oy < g->Ho; oy++)
        for (int ox = 0; ox < g->Wo; ox++) {
            long acc = 0;
            for (int ky = 0; ky < g->k; ky++)
                for (int kx = 0; kx < g->k; kx++) {
                    int iy = oy * g->s + ky - g->p, ix = ox * g->s + kx - g->p;
                    if (iy >= 0 && iy < g->H && ix >= 0 && ix < g->W)
                        acc += (long)w[ky * g->k + kx] * x[iy * g->W + ix];
                }
            float v = (float)acc * (sx * sw) + b;
            if (act == 1) v = v > 0.0f ? v : 0.0f;
            if (act == 2) v = v < 0.0f ? 0.0f : v > 6.0f ? 6.0f : v;
            y[oy * g->Wo + ox] = v;
        }
}

static void kernel_case(al_rng *r, int H, int W, int k, int s, int p, int act) {
    al_dw_geom g = {H, W, k, s, p, (H + 2 * p - k) / s + 1, (W + 2 * p - k) / s + 1};
    if (g.Ho <= 0 || g.Wo <= 0 || H + 2 * p < k || W + 2 * p < k) return;
    size_t np = (size_t)H * W, no = (size_t)g.Ho * g.Wo;
    int8_t *x = malloc(np), w[AL_DW_KMAX * AL_DW_KMAX];
    float *want = malloc(sizeof(float) * no), *got = malloc(sizeof(float) * (no + 16));
    float *nv = malloc(sizeof(float) * no);
    int extreme = cases % 5 == 0;
    for (size_t i = 0; i < np; i++) x[i] = extreme ? (i % 3 ? 127 : -127) : (int8_t)((int)al_rng_below(r, 255) - 127);
    for (int t = 0; t < k * k; t++) w[t] = extreme ? (t % 2 ? -127 : 127) : (int8_t)((int)al_rng_below(r, 255) - 127);
    float sx = 0.01f + al_rng_uniform(r) * 0.05f, sw = 0.002f + al_rng_uniform(r) * 0.01f;
    float b = act ? 3.0f * (al_rng_uniform(r) - 0.5f) : (al_rng_uniform(r) - 0.5f);
    al_i8dw_forward_ref(&g, x, sx, w, sw, b, act, want);
    naive(&g, x, sx, w, sw, b, act, nv);
    CHECK(memcmp(want, nv, sizeof(float) * no) == 0);
    /* the float entry: a plane quantized by al_quantize_row_i8, then the reference */
    float *xf = malloc(sizeof(float) * np), *wantf = malloc(sizeof(float) * no);
    int8_t *xq = malloc(np), *scratch = malloc(np);
    for (size_t i = 0; i < np; i++) xf[i] = (float)x[i] * 0.37f + (extreme ? 0.0f : al_rng_uniform(r) - 0.5f);
    float sxf = al_quantize_row_i8(xf, (long)np, xq);
    al_i8dw_forward_ref(&g, xq, sxf, w, sw, b, act, wantf);
    for (int v = 0; v < AL_I8_NVARIANTS; v++) {
        if (!al_i8_force((al_i8_variant)v)) continue;
        for (int form = 0; form < 2; form++) {
            for (size_t i = 0; i < no + 16; i++) got[i] = -1234.5f;
            if (form == 0)
                al_i8dw_forward(&g, x, sx, w, sw, b, act, got);
            else
                al_i8dw_forward_planes(&g, 1, 0, 1, xf, scratch, w, &sw, &b, act, got);
            int same = memcmp(form ? wantf : want, got, sizeof(float) * no) == 0, guard = 1;
            for (size_t i = no; i < no + 16; i++) guard &= got[i] == -1234.5f;
            if (!same || !guard)
                fprintf(stderr, "%s%s: H %d W %d k %d s %d p %d act %d: %s\n", al_i8_variant_name((al_i8_variant)v),
                        form ? " (float input)" : "", H, W, k, s, p, act,
                        same ? "wrote past the plane" : "differs from the reference");
            CHECK(same && guard);
        }
    }
    free(xf);
    free(wantf);
    free(xq);
    free(scratch);
    al_i8_force(AL_I8_AUTO);
    cases++;
    free(x);
    free(want);
    free(got);
    free(nv);
}

static void test_kernels(void) {
    al_rng r;
    al_rng_seed(&r, 11, 3);
    static const int hs[] = {1, 2, 5, 8, 13, 24, 33}, ws[] = {1, 3, 7, 9, 16, 17, 31, 32, 33, 48, 49};
    for (size_t a = 0; a < sizeof hs / sizeof *hs; a++)
        for (size_t c = 0; c < sizeof ws / sizeof *ws; c++)
            for (int k = 1; k <= 7; k += 2)
                for (int s = 1; s <= 3; s++)
                    for (int p = 0; p < k; p += k > 3 ? 2 : 1)
                        kernel_case(&r, hs[a], ws[c], k, s, p, (int)((a + c + k + p) % 3));
    /* even kernels and k = 7 with full padding */
    kernel_case(&r, 12, 19, 2, 1, 1, 0);
    kernel_case(&r, 12, 19, 4, 2, 3, 2);
    kernel_case(&r, 9, 40, 7, 1, 6, 1);
    kernel_case(&r, 130, 129, 3, 1, 1, 2); /* over AL_I8DW_PADDED: the masked int8 path */
    kernel_case(&r, 126, 126, 3, 2, 1, 2); /* just within it */
    fprintf(stderr, "int8 depthwise kernels: %d shapes\n", cases);
    CHECK(cases > 500);
}

/* Many planes and channels in one call (the vnni variant's groups of
 * planes, and ranges that start mid-tensor as a thread's share does), each
 * plane against the reference. */
static void planes_case(al_rng *r, int n, int C, int H, int W, int k, int s, int p, int bias, long pl0, long pl1) {
    al_dw_geom g = {H, W, k, s, p, (H + 2 * p - k) / s + 1, (W + 2 * p - k) / s + 1};
    size_t in_plane = (size_t)H * W, out_plane = (size_t)g.Ho * g.Wo, np = (size_t)n * C;
    float *x = malloc(sizeof(float) * np * in_plane), *y = malloc(sizeof(float) * np * out_plane);
    float *want = malloc(sizeof(float) * out_plane), *sw = malloc(sizeof(float) * C), *b = malloc(sizeof(float) * C);
    int8_t *w = malloc((size_t)C * k * k), *xq = malloc(in_plane), *scratch = malloc(in_plane);
    for (size_t i = 0; i < np * in_plane; i++) x[i] = (al_rng_uniform(r) - 0.3f) * (float)(1 + i / in_plane % 7);
    for (int i = 0; i < C * k * k; i++) w[i] = (int8_t)((int)al_rng_below(r, 255) - 127);
    for (int c = 0; c < C; c++) {
        sw[c] = 0.001f + 0.01f * al_rng_uniform(r);
        b[c] = al_rng_uniform(r) - 0.5f;
    }
    for (int v = 0; v < AL_I8_NVARIANTS; v++) {
        if (!al_i8_force((al_i8_variant)v)) continue;
        for (size_t i = 0; i < np * out_plane; i++) y[i] = -1234.5f;
        al_i8dw_forward_planes(&g, C, pl0, pl1, x, scratch, w, sw, bias ? b : NULL, 2, y);
        int bad = 0;
        for (long pl = 0; pl < (long)np; pl++) {
            float *yp = y + (size_t)pl * out_plane;
            if (pl < pl0 || pl >= pl1) {
                for (size_t i = 0; i < out_plane; i++) bad += yp[i] != -1234.5f; /* not its share */
                continue;
            }
            int c = (int)(pl % C);
            float sx = al_quantize_row_i8(x + (size_t)pl * in_plane, (long)in_plane, xq);
            al_i8dw_forward_ref(&g, xq, sx, w + (size_t)c * k * k, sw[c], bias ? b[c] : 0.0f, 2, want);
            bad += memcmp(want, yp, sizeof(float) * out_plane) != 0;
        }
        if (bad)
            fprintf(stderr, "%s: %d planes of n %d C %d %dx%d k %d s %d differ\n", al_i8_variant_name((al_i8_variant)v),
                    bad, n, C, H, W, k, s);
        CHECK(bad == 0);
    }
    al_i8_force(AL_I8_AUTO);
    free(x);
    free(y);
    free(want);
    free(sw);
    free(b);
    free(w);
    free(xq);
    free(scratch);
}

static void test_planes(void) {
    al_rng r;
    al_rng_seed(&r, 12, 1);
    planes_case(&r, 2, 75, 6, 6, 3, 1, 1, 1, 0, 150);   /* groups of 64 planes and a rest */
    planes_case(&r, 3, 13, 6, 6, 3, 2, 1, 0, 7, 30);    /* a share starting mid-tensor, no bias */
    planes_case(&r, 2, 7, 48, 48, 3, 1, 1, 1, 0, 14);   /* 6 padded 48x48 planes per group */
    planes_case(&r, 2, 5, 48, 48, 3, 2, 1, 1, 3, 10);
    planes_case(&r, 1, 9, 12, 12, 5, 1, 2, 1, 0, 9);
    planes_case(&r, 2, 20, 12, 12, 3, 1, 1, 1, 0, 40);  /* 12x12 across the lanes: groups of 16, a rest of 8 */
    planes_case(&r, 1, 37, 12, 12, 3, 2, 1, 0, 3, 37);  /* stride 2, a share from plane 3 */
    planes_case(&r, 1, 4, 130, 129, 3, 1, 1, 1, 1, 4);  /* too large to pad: the masked path */
    /* stride 1 past the float kernels' buffer (4096 floats): the int16 pairs */
    planes_case(&r, 1, 3, 70, 70, 3, 1, 1, 1, 0, 3);    /* flat form */
    planes_case(&r, 1, 3, 70, 64, 3, 1, 1, 1, 0, 3);    /* padded rows of 32-lane chunks */
}

static void test_quantize(void) {
    al_rng r;
    al_rng_seed(&r, 5, 1);
    for (int n = 1; n <= 70; n++) {
        for (int kind = 0; kind < 3; kind++) {
            float *x = malloc(sizeof(float) * (size_t)n);
            int8_t *a = malloc((size_t)n), *b = malloc((size_t)n);
            for (int i = 0; i < n; i++) {
                /* kind 1: ties at half steps of 127 = the max; kind 2: all zero */
                x[i] = kind == 0 ? 8.0f * (al_rng_uniform(&r) - 0.5f)
                     : kind == 1 ? (float)((int)al_rng_below(&r, 509) - 254) * 0.5f
                                 : 0.0f;
                if (kind == 1 && i == n / 2) x[i] = 127.0f;
            }
            for (int v = 0; v < AL_I8_NVARIANTS; v++) {
                if (!al_i8_force((al_i8_variant)v)) continue;
                float sa = al_quantize_row_i8(x, n, a), sb = al_i8_quantize(x, n, b);
                CHECK(sa == sb && memcmp(a, b, (size_t)n) == 0);
            }
            al_i8_force(AL_I8_AUTO);
            free(x);
            free(a);
            free(b);
        }
    }
}

static al_model *build(const char *spec, uint64_t seed) {
    al_model *m;
    REQUIRE_OK(al_model_from_spec(spec, 1, &m));
    al_model_init_weights(m, seed);
    return m;
}

/* Node 0 (a dwconv) int8 against float with the same weights. */
static void check_layer(const char *spec, int n, al_pool *pool) {
    al_model *f = build(spec, 9), *q;
    REQUIRE_OK(al_model_freeze(f, 1));
    REQUIRE_OK(al_model_clone(f, &q));
    int count = -1;
    REQUIRE_OK(al_quantize_frozen(q, &count));
    CHECK(count == 0); /* depthwise convs only on request */
    REQUIRE_OK(al_quantize_frozen_dw(q, &count));
    CHECK(count == 1 && al_node_is_quantized(q, 0));
    REQUIRE_OK(al_model_copy_weights(f, q));
    al_node *nd = &q->nodes[0];
    int C = nd->in.d[0];
    size_t nin = al_shape_numel(&q->in), nout = al_shape_numel(&nd->out), pin = nin / C, pout = nout / C;
    float *x = malloc(sizeof(float) * n * nin), *yf = malloc(sizeof(float) * n * nout);
    float *yq = malloc(sizeof(float) * n * nout), *yq2 = malloc(sizeof(float) * n * nout);
    al_rng r;
    al_rng_seed(&r, 4, 4);
    for (size_t i = 0; i < n * nin; i++) x[i] = (3.0f * al_rng_uniform(&r) - 1.0f) * (float)(1 + i / pin % 3);
    REQUIRE_OK(al_model_plan(f, n));
    REQUIRE_OK(al_model_forward_range(f, NULL, 0, 1, x, n, 0));
    memcpy(yf, f->act[0], sizeof(float) * n * nout);
    for (int v = 0; v < AL_I8_NVARIANTS; v++) {
        if (!al_i8_force((al_i8_variant)v)) continue;
        REQUIRE_OK(al_model_plan(q, n));
        REQUIRE_OK(al_model_forward_range(q, NULL, 0, 1, x, n, 0));
        memcpy(yq, q->act[0], sizeof(float) * n * nout);
        REQUIRE_OK(al_model_forward_range(q, pool, 0, 1, x, n, 0));
        memcpy(yq2, q->act[0], sizeof(float) * n * nout);
        CHECK(memcmp(yq, yq2, sizeof(float) * n * nout) == 0);
        int bad = 0;
        double worst = 0.0;
        for (int pl = 0; pl < n * C; pl++) {
            const float *xp = x + (size_t)pl * pin;
            float xmax = 0.0f;
            for (size_t i = 0; i < pin; i++) xmax = fmaxf(xmax, fabsf(xp[i]));
            int c = pl % C;
            double wsum = 0.0;
            for (int t = 0; t < nd->q->K; t++) wsum += fabsf(nd->params[0].w[(size_t)c * nd->q->K + t]);
            double bound = wsum * xmax / 254.0 * 1.001 + 1e-5;
            for (size_t o = 0; o < pout; o++) {
                double d = fabs((double)yq[(size_t)pl * pout + o] - yf[(size_t)pl * pout + o]);
                if (!(d <= bound)) bad++;
                worst = fmax(worst, d / bound);
            }
        }
        if (bad)
            fprintf(stderr, "%s (%s): %d outputs beyond the bound\n", spec, al_i8_variant_name((al_i8_variant)v), bad);
        CHECK(bad == 0);
        CHECK(worst > 0.0); /* activations really were rounded */
    }
    al_i8_force(AL_I8_AUTO);
    free(x);
    free(yf);
    free(yq);
    free(yq2);
    al_model_free(f);
    al_model_free(q);
}

static void test_layer(void) {
    al_pool *pool;
    REQUIRE_OK(al_pool_new(2, &pool));
    check_layer("input 5x13x11; dwconv k=3 p=1; flatten; dense 3", 3, pool);
    check_layer("input 7x24x24; dwconv k=3 s=2 p=1 act=relu6; flatten; dense 3", 2, pool);
    check_layer("input 3x9x40; dwconv k=5 p=2 act=relu; flatten; dense 3", 4, pool);
    check_layer("input 4x10x10; dwconv k=5 s=2 p=2 bias=0; flatten; dense 3", 1, pool);
    check_layer("input 4x6x6; dwconv k=2 s=3; flatten; dense 3", 2, pool); /* the reference's shape */
    al_pool_free(pool);
    /* trainable dwconv nodes stay float, and so does a kernel over 7 */
    al_model *m = build("input 4x9x9; dwconv k=9 p=4; dwconv k=3 p=1; flatten; dense 3", 1);
    REQUIRE_OK(al_model_freeze(m, 1));
    int count = -1;
    REQUIRE_OK(al_quantize_frozen_dw(m, &count));
    CHECK(count == 0);
    CHECK_STATUS(al_quantize_node(m, 0), AL_EINVAL);
    CHECK_STATUS(al_quantize_node(m, 1), AL_ESTATE);
    al_model_free(m);
}

static void tmp_path(char *buf, size_t cap, const char *tag) {
    snprintf(buf, cap, "%s/test_int8dw_%ld_%s.gguf", AL_BINARY_DIR, (long)getpid(), tag);
}

static void test_save_load(void) {
    al_model *m =
        build("input 32x8x8; conv 40 k=1 act=relu6; dwconv k=3 p=1 act=relu6; conv 8 k=1; flatten; dense 3", 8);
    REQUIRE_OK(al_model_freeze(m, 3));
    int count = -1;
    REQUIRE_OK(al_quantize_frozen(m, &count));
    CHECK(count == 2 && !al_node_is_quantized(m, 1));
    REQUIRE_OK(al_quantize_frozen_dw(m, &count));
    CHECK(count == 3 && al_node_is_quantized(m, 1));
    char path[512], bad[512];
    tmp_path(path, sizeof path, "ok");
    tmp_path(bad, sizeof bad, "bad");
    REQUIRE_OK(al_model_save(m, path));
    al_model *l;
    REQUIRE_OK(al_model_load(path, &l));
    CHECK(al_model_quantized_count(l) == 3);
    const struct al_qnode *a = m->nodes[1].q, *b = l->nodes[1].q;
    REQUIRE_OK(b ? AL_OK : AL_EFORMAT);
    CHECK(a->N == 40 && b->N == 40 && a->K == 9 && b->K == 9);
    CHECK(memcmp(a->w, b->w, (size_t)a->N * a->K) == 0 && memcmp(a->scale, b->scale, sizeof(float) * a->N) == 0);
    CHECK(memcmp(m->wblock, l->wblock, sizeof(float) * m->nweights) == 0);
    float *x = malloc(sizeof(float) * 2 * 32 * 64), ya[6], yb[6];
    for (int i = 0; i < 2 * 32 * 64; i++) x[i] = (float)((i * 37) % 19) / 9.0f - 1.0f;
    REQUIRE_OK(al_model_predict(m, NULL, x, 2, ya));
    REQUIRE_OK(al_model_predict(l, NULL, x, 2, yb));
    CHECK(memcmp(ya, yb, sizeof ya) == 0);
    al_model_free(l);
    /* hostile: the dwconv's int8 weight on a trainable node, a -128 */
    m->nodes[1].trainable = 1;
    REQUIRE_OK(al_model_save(m, bad));
    CHECK_STATUS(al_model_load(bad, &l), AL_EFORMAT);
    m->nodes[1].trainable = 0;
    int8_t w0 = m->nodes[1].q->w[4];
    m->nodes[1].q->w[4] = -128;
    REQUIRE_OK(al_model_save(m, bad));
    CHECK_STATUS(al_model_load(bad, &l), AL_EFORMAT);
    m->nodes[1].q->w[4] = w0;
    /* a float file of the same model loads unquantized, as before */
    al_dequantize(m);
    REQUIRE_OK(al_model_save(m, bad));
    REQUIRE_OK(al_model_load(bad, &l));
    CHECK(al_model_quantized_count(l) == 0);
    al_model_free(l);
    free(x);
    al_model_free(m);
    unlink(path);
    unlink(bad);
}

/* Inverted-residual-like blocks (no skips), 1x1 convs of >= 32 inputs and
 * depthwise convs in int8, the head trained in float. */
static void logit_diff(const char *what, const float *yf, const float *yq, int n, double tol) {
    double err = 0.0, mag = 0.0;
    int agree = 0;
    for (int i = 0; i < n; i++) {
        int af = 0, aq = 0;
        for (int c = 0; c < 10; c++) {
            err = fmax(err, fabs((double)yf[i * 10 + c] - yq[i * 10 + c]));
            mag = fmax(mag, fabs((double)yf[i * 10 + c]));
            if (yf[i * 10 + c] > yf[i * 10 + af]) af = c;
            if (yq[i * 10 + c] > yq[i * 10 + aq]) aq = c;
        }
        agree += af == aq;
    }
    fprintf(stderr, "blocks, %s: max |logit diff| %.4g of max |logit| %.4g, top-1 agreement %d/%d\n", what, err, mag,
            agree, n);
    CHECK(err > 0.0 && err <= tol * mag);
}

static void test_blocks(void) {
    const char *spec = "input 3x32x32; conv 32 k=3 s=2 p=1 act=relu6; dwconv k=3 p=1 act=relu6; conv 32 k=1; "
                       "conv 96 k=1 act=relu6; dwconv k=3 s=2 p=1 act=relu6; conv 48 k=1; conv 144 k=1 act=relu6; "
                       "dwconv k=5 p=2 act=relu6; conv 48 k=1; gap; dense 10";
    al_model *f = build(spec, 21), *q, *qd;
    REQUIRE_OK(al_model_freeze(f, 9));
    REQUIRE_OK(al_model_clone(f, &q));
    REQUIRE_OK(al_model_clone(f, &qd));
    int count = -1;
    REQUIRE_OK(al_quantize_frozen(q, &count));
    CHECK(count == 5); /* the 1x1 convs; the first conv (K = 27) stays float */
    REQUIRE_OK(al_quantize_frozen_dw(qd, &count));
    CHECK(count == 8); /* and the three depthwise convs */
    int n = 16;
    size_t nin = al_shape_numel(&f->in);
    float *x = malloc(sizeof(float) * n * nin), yf[16 * 10], yq[16 * 10], yd[16 * 10];
    al_rng r;
    al_rng_seed(&r, 8, 8);
    for (size_t i = 0; i < n * nin; i++) x[i] = 2.0f * al_rng_uniform(&r) - 1.0f;
    REQUIRE_OK(al_model_predict(f, NULL, x, n, yf));
    REQUIRE_OK(al_model_predict(q, NULL, x, n, yq));
    REQUIRE_OK(al_model_predict(qd, NULL, x, n, yd));
    logit_diff("1x1 convs int8", yf, yq, n, 0.05);
    logit_diff("1x1 and depthwise convs int8", yf, yd, n, 0.05);
    free(x);
    al_model_free(f);
    al_model_free(q);
    al_model_free(qd);
}

int main(void) {
    test_kernels();
    test_planes();
    test_quantize();
    test_layer();
    test_save_load();
    test_blocks();
    TEST_END("int8dw");
}
