/* Static activation scales and the int8 chain (docs/KERNELS.md, "int8
 * activations"; docs/COMPILE.md, "int8 frozen part"):
 *  - the static quantizer (al_i8_quantize_static) of every variant is the
 *    reference's al_i8_q bytes (NaN, infinities, saturation, ties, -0, every
 *    tail), and within +-127 al_quantize_row_i8's bytes for its own scale;
 *    the conv epilogue (al_i8_epilogue) of every variant is the plain loop's;
 *  - int8 depthwise planes in every input form (floats with their own
 *    scales, floats with a static scale, int8) and output form (floats,
 *    int8 at a static scale), every variant, against the reference composed
 *    by hand (quantize, al_i8dw_forward_ref, al_i8_q), bit for bit, with
 *    guard bytes past the output;
 *  - a frozen conv (implicit-GEMM and im2row shapes), dense and dwconv node
 *    in every form and variant, 1 and 2 threads, against the ref variant bit
 *    for bit; an int8 input equals the float input quantized with the static
 *    scale, an int8 output equals the float output quantized (al_i8_q);
 *  - the int8 residual add (al_i8_add) of every variant, floats and int8
 *    out, against the plain loop bit for bit (saturation, every tail, guard
 *    bytes);
 *  - a model with chains (conv -> dwconv -> conv, a residual add, dense ->
 *    dense): calibration's scales (pct 100 on the input: max|x| / 127
 *    exactly; the add's too), the chain's edges (al_model_i8_links) and
 *    int8 adds (al_model_i8_adds), the same outputs on 1 and 2 threads,
 *    split at the freeze point (the cache's path) and whole, close to the
 *    float model and to the chain off; without the add's scale the same
 *    outputs bit for bit with the chain on and off; unfreezing drops the
 *    chain;
 *  - save and load: the scales bit for bit (format version 7 with an add's
 *    scale, 6 without; a model without scales keeps an older version),
 *    hostile scales (NaN, 0, negative, infinite, on a float layer or a
 *    non-add, in a version-5 or version-6 file) refused. */
#include "al_test_gguf.h"
#include "cloud/compile/quant.h"
#include "kernels/kernels.h"

#include <unistd.h>

static al_model *build(const char *spec, uint64_t seed) {
    al_model *m;
    REQUIRE_OK(al_model_from_spec(spec, 1, &m));
    al_model_init_weights(m, seed);
    return m;
}

/* ---- the static quantizer --------------------------------------------------------- */

static void test_quantizer(void) {
    float x[80];
    int8_t want[80], got[80 + 16];
    al_rng r;
    al_rng_seed(&r, 5, 5);
    const float inv = 20.0f; /* a scale of 0.05 */
    for (int i = 0; i < 80; i++) x[i] = 16.0f * al_rng_uniform(&r) - 8.0f;
    const float special[] = {NAN, INFINITY, -INFINITY, 1e30f, -1e30f, -0.0f, 0.0f, 0.025f, -0.025f, 0.075f,
                             6.35f, 6.375f, -6.375f, 6.3499999f, 1e-40f, 0.02499999f};
    for (size_t i = 0; i < sizeof special / sizeof *special; i++) x[3 + 5 * i] = special[i];
    al_i8_quantize_static_ref(x, 80, inv, want);
    for (int i = 0; i < 80; i++) CHECK(want[i] >= -127 && want[i] <= 127);
    CHECK(want[3] == -127 && want[8] == 127 && want[13] == -127 && want[18] == 127 && want[23] == -127);
    CHECK(want[28] == 0 && want[33] == 0 && want[38] == 1 && want[43] == -1 && want[48] == 2);
    CHECK(want[53] == 127 && want[58] == 127 && want[63] == -127);
    int variants = 0;
    for (int v = 0; v < AL_I8_NVARIANTS; v++) {
        if (!al_i8_force((al_i8_variant)v)) continue;
        variants++;
        for (int n = 0; n <= 80; n++) {
            memset(got, 0x55, sizeof got);
            al_i8_quantize_static(x, n, inv, got);
            int same = memcmp(got, want, (size_t)n) == 0, guard = 1;
            for (int i = n; i < 80 + 16; i++) guard &= got[i] == 0x55;
            if (!same || !guard)
                fprintf(stderr, "static quantizer %s, n %d: %s\n", al_i8_variant_name((al_i8_variant)v), n,
                        same ? "wrote past the end" : "differs from the reference");
            CHECK(same && guard);
        }
    }
    al_i8_force(AL_I8_AUTO);
    CHECK(variants >= 1);
    /* within +-127 (a row's own scale) the bytes are al_quantize_row_i8's */
    for (int i = 0; i < 80; i++) x[i] = 10.0f * al_rng_uniform(&r) - 5.0f;
    x[7] = 5.5f;
    int8_t a[80], b[80];
    float s = al_quantize_row_i8(x, 80, a);
    al_i8_quantize_static_ref(x, 80, 1.0f / s, b);
    CHECK(memcmp(a, b, 80) == 0);
}

/* The conv epilogue (al_i8_epilogue) of every variant against the plain-C
 * loop: every length to 70, each activation, float and int8 outputs
 * (saturating), guards past the end. */
static void test_epilogue(void) {
    int32_t acc[70];
    al_rng r;
    al_rng_seed(&r, 6, 6);
    for (int i = 0; i < 70; i++) acc[i] = (int32_t)al_rng_below(&r, 200001) - 100000;
    acc[3] = 0, acc[4] = 2147483647, acc[5] = -2147483647;
    float want[70], got[70 + 16];
    int8_t wantq[70], gotq[70 + 16];
    int bad = 0, variants = 0;
    for (int v = 0; v < AL_I8_NVARIANTS; v++) {
        if (!al_i8_force((al_i8_variant)v)) continue;
        variants++;
        for (int act = 0; act < 3; act++)
            for (int n = 0; n <= 70; n++) {
                const float sc = 1e-4f, b = act ? -0.25f : -0.0f, yinv = 40.0f;
                al_i8_epilogue_ref(acc, n, sc, b, act, want, NULL, 0.0f);
                al_i8_epilogue_ref(acc, n, sc, b, act, NULL, wantq, yinv);
                for (int i = 0; i < 70 + 16; i++) got[i] = -3.0f, gotq[i] = 0x55;
                al_i8_epilogue(acc, n, sc, b, act, got, NULL, 0.0f);
                al_i8_epilogue(acc, n, sc, b, act, NULL, gotq, yinv);
                bad += memcmp(want, got, sizeof(float) * n) != 0 || memcmp(wantq, gotq, (size_t)n) != 0 ||
                       got[n] != -3.0f || gotq[n] != 0x55;
            }
    }
    al_i8_force(AL_I8_AUTO);
    for (int i = 0; i < 70; i++) bad += wantq[i] != al_i8_q(want[i] * 40.0f);
    CHECK(bad == 0 && variants >= 1);
}

/* ---- depthwise planes in every form ------------------------------------------------- */

static int dw_cases;

/* The vnni variant's 3x3 byte-permute planes on (1), off (0) or back to
 * the default (-1); 0 where the CPU lacks them (asked on) */
static int force_vbmi(int on) {
#if defined(__x86_64__) || defined(_M_X64)
    return al_i8dw_force_vbmi(on);
#else
    return on <= 0;
#endif
}

/* One form: input 0 floats with their own scales, 1 floats with a static
 * scale, 2 int8; output 0 floats, 1 int8. */
static void dw_case(al_rng *r, int H, int W, int k, int s, int p, int act) {
    al_dw_geom g = {H, W, k, s, p, (H + 2 * p - k) / s + 1, (W + 2 * p - k) / s + 1};
    if (g.Ho <= 0 || g.Wo <= 0 || H + 2 * p < k || W + 2 * p < k) return;
    const int C = 3, n = 2, np = n * C;
    size_t pin = (size_t)H * W, pout = (size_t)g.Ho * g.Wo;
    float *x = malloc(sizeof(float) * np * pin);
    float *want = malloc(sizeof(float) * pout), *got = malloc(sizeof(float) * (np * pout + 16));
    int8_t *x8 = malloc(np * pin), *xq = malloc(pin), *wantq = malloc(pout), *gotq = malloc(np * pout + 16);
    int8_t w[3 * AL_DW_KMAX * AL_DW_KMAX];
    float sw[3], b[3];
    for (size_t i = 0; i < np * pin; i++) x[i] = 6.0f * al_rng_uniform(r) - 2.0f;
    if (np * pin > 5) x[5] = 40.0f; /* saturates with the static scale */
    for (int t = 0; t < C * k * k; t++) w[t] = (int8_t)((int)al_rng_below(r, 255) - 127);
    for (int c = 0; c < C; c++) {
        sw[c] = 0.002f + 0.01f * al_rng_uniform(r);
        b[c] = al_rng_uniform(r) - 0.5f;
    }
    const float sx = 4.0f / 127.0f, yinv = 1.0f / (0.03f + 0.02f * al_rng_uniform(r));
    al_i8_quantize_static_ref(x, (long)(np * pin), 1.0f / sx, x8);
    /* the vnni variant with and without its byte-permute planes (VBMI) */
    for (int v = 0, vb = 0; v < AL_I8_NVARIANTS; vb = !vb, v += !vb) {
        if ((vb && v != AL_I8_VNNI) || !al_i8_force((al_i8_variant)v) || !force_vbmi(vb)) continue;
        for (int in = 0; in < 3; in++)
            for (int out = 0; out < 2; out++) {
                al_i8dw_io io = {in < 2 ? x : NULL, in == 2 ? x8 : NULL, in ? sx : 0.0f, out ? NULL : got,
                                 out ? gotq : NULL, out ? yinv : 0.0f};
                for (size_t i = 0; i < np * pout + 16; i++) got[i] = -1234.5f, gotq[i] = 0x55;
                /* two calls, the second starting mid-tensor as a thread's share does */
                al_i8dw_planes(&g, C, 0, 2, &io, xq, w, sw, b, act);
                al_i8dw_planes(&g, C, 2, np, &io, xq, w, sw, b, act);
                int bad = 0;
                for (int pl = 0; pl < np; pl++) {
                    int c = pl % C;
                    const float *xp = x + (size_t)pl * pin;
                    float sc = sx;
                    if (in == 0)
                        sc = al_quantize_row_i8(xp, (long)pin, xq);
                    else
                        al_i8_quantize_static_ref(xp, (long)pin, 1.0f / sx, xq);
                    if (out) {
                        al_i8dw_forward_q_ref(&g, xq, sc, w + c * k * k, sw[c], b[c], act, yinv, wantq);
                        bad += memcmp(wantq, gotq + (size_t)pl * pout, pout) != 0;
                    } else {
                        al_i8dw_forward_ref(&g, xq, sc, w + c * k * k, sw[c], b[c], act, want);
                        bad += memcmp(want, got + (size_t)pl * pout, sizeof(float) * pout) != 0;
                    }
                }
                for (size_t i = np * pout; i < np * pout + 16; i++) bad += out ? gotq[i] != 0x55 : got[i] != -1234.5f;
                if (bad)
                    fprintf(stderr, "dw %s%s in %d out %d: H %d W %d k %d s %d p %d act %d: %d bad planes or guards\n",
                            al_i8_variant_name((al_i8_variant)v), vb ? " vbmi" : "", in, out, H, W, k, s, p, act, bad);
                CHECK(bad == 0);
            }
        /* one plane, int8 out: al_i8dw_forward_q is the reference's floats quantized */
        al_i8dw_forward_ref(&g, x8, sx, w, sw[0], b[0], act, want);
        memset(gotq, 0x55, pout + 16);
        al_i8dw_forward_q(&g, x8, sx, w, sw[0], b[0], act, yinv, gotq);
        int same = 1;
        for (size_t o = 0; o < pout; o++) same &= gotq[o] == al_i8_q(want[o] * yinv);
        CHECK(same && gotq[pout] == 0x55);
    }
    al_i8_force(AL_I8_AUTO);
    force_vbmi(-1);
    dw_cases++;
    free(x), free(want), free(got), free(x8), free(xq), free(wantq), free(gotq);
}

static void test_dw_forms(void) {
    al_rng r;
    al_rng_seed(&r, 7, 1);
    static const int hs[] = {1, 3, 6, 12, 24}, ws[] = {1, 6, 9, 17, 33, 48};
    for (size_t a = 0; a < sizeof hs / sizeof *hs; a++)
        for (size_t c = 0; c < sizeof ws / sizeof *ws; c++)
            for (int k = 1; k <= 5; k += 2)
                for (int s = 1; s <= 2; s++) dw_case(&r, hs[a], ws[c], k, s, k / 2, (int)((a + c + k) % 3));
    dw_case(&r, 13, 40, 7, 1, 3, 2);
    dw_case(&r, 9, 9, 2, 1, 1, 1);   /* an even kernel: the reference's shape */
    dw_case(&r, 130, 129, 3, 1, 1, 2); /* over AL_I8DW_PADDED: the masked int8 path */
    /* 3x3 byte-permute planes: padding 0 and 2, one 64-byte load a vector
     * (17 columns; 20: its last index 63), two (33; 21 columns; 52: its
     * last index 127), two a row (48 at stride 2), over VB_VEC vectors
     * (70x70) and over VB_PAD bytes (96x96) */
    dw_case(&r, 12, 20, 3, 1, 1, 2);
    dw_case(&r, 12, 21, 3, 1, 1, 1);
    dw_case(&r, 5, 52, 3, 1, 1, 0);
    dw_case(&r, 5, 53, 3, 1, 1, 2); /* one more column: cut, or past 127 */
    dw_case(&r, 7, 21, 3, 1, 1, 1); /* the same past 63 */
    dw_case(&r, 20, 30, 3, 1, 0, 2);
    dw_case(&r, 21, 31, 3, 2, 2, 1);
    dw_case(&r, 48, 48, 3, 2, 1, 0);
    dw_case(&r, 70, 70, 3, 1, 1, 2);
    dw_case(&r, 96, 96, 3, 2, 1, 2);
    fprintf(stderr, "int8 depthwise forms: %d shapes\n", dw_cases);
    CHECK(dw_cases > 150);
}

/* ---- one node in every form ------------------------------------------------------- */

/* ---- the int8 residual add -------------------------------------------------------- */

static void test_add_kernel(void) {
    enum { N = 100 };
    int8_t a[N], b[N], want8[N], got8[N + 16];
    float want[N], got[N + 4];
    al_rng r;
    al_rng_seed(&r, 8, 8);
    for (int i = 0; i < N; i++) {
        a[i] = (int8_t)((int)al_rng_below(&r, 255) - 127);
        b[i] = (int8_t)((int)al_rng_below(&r, 255) - 127);
    }
    a[5] = b[5] = 127; /* saturates at the output scale below */
    a[6] = b[6] = -127;
    const float sa = 0.037f, sb = 0.0213f, ys = 0.05f;
    al_i8_add_ref(a, sa, b, sb, N, want, NULL, 0.0f);
    al_i8_add_ref(a, sa, b, sb, N, NULL, want8, 1.0f / ys);
    int exact = 1;
    for (int i = 0; i < N; i++) exact &= want[i] == (float)a[i] * sa + (float)b[i] * sb;
    CHECK(exact);
    CHECK(want8[5] == 127 && want8[6] == -127);
    CHECK(want8[7] == al_i8_q(want[7] * (1.0f / ys)));
    int variants = 0;
    for (int v = 0; v < AL_I8_NVARIANTS; v++) {
        if (!al_i8_force((al_i8_variant)v)) continue;
        variants++;
        for (int n = 0; n <= N; n++) {
            for (int i = 0; i < N + 4; i++) got[i] = -9.0f;
            memset(got8, 0x55, sizeof got8);
            al_i8_add(a, sa, b, sb, n, got, NULL, 0.0f);
            al_i8_add(a, sa, b, sb, n, NULL, got8, 1.0f / ys);
            int ok = memcmp(got, want, sizeof(float) * (size_t)n) == 0 && got[n] == -9.0f &&
                     memcmp(got8, want8, (size_t)n) == 0 && got8[n] == 0x55;
            if (!ok) fprintf(stderr, "int8 add (%s) n=%d differs from the reference\n",
                             al_i8_variant_name((al_i8_variant)v), n);
            CHECK(ok);
        }
    }
    al_i8_force(AL_I8_AUTO);
    CHECK(variants >= 1);
}

/* The ref variant's outputs of node nd for x: floats into ref and int8 at
 * scale ys into refq; 1 when every int8 output is the float output
 * quantized (al_i8_q). */
static int ref_forms(al_model *m, al_node *nd, const float *x, int n, float ys, float *ref, int8_t *refq) {
    CHECK(al_i8_force(AL_I8_REF));
    al_exec e = {NULL, &m->rng, 0, nd->ws, 0, 0.0f, 0.0f};
    REQUIRE_OK(al_quant_forward(nd, &e, x, ref, n));
    e.y_scale = ys;
    REQUIRE_OK(al_quant_forward(nd, &e, x, (float *)refq, n));
    int same = 1;
    for (size_t i = 0; i < (size_t)n * al_shape_numel(&nd->out); i++) same &= refq[i] == al_i8_q(ref[i] * (1.0f / ys));
    return same;
}

/* Node 0 of spec, frozen and quantized with a static input scale, run by
 * al_quant_forward in the forms (input floats / int8; output floats /
 * int8) under every variant and 1 or 2 threads, against the ref variant. */
static void node_case(const char *spec, int n, al_pool *pool) {
    al_model *m = build(spec, 31);
    for (size_t j = 0; j < m->nodes[0].params[0].n; j++) m->nodes[0].params[0].w[j] *= 4.0f; /* outputs that saturate */
    REQUIRE_OK(al_model_freeze(m, 1));
    REQUIRE_OK(al_quantize_node(m, 0));
    al_node *nd = &m->nodes[0];
    const float sin = 3.0f / 127.0f, ys = 0.01f; /* outputs past 1.27 saturate */
    REQUIRE_OK(al_quant_set_in_scale(m, 0, sin));
    size_t nin = al_shape_numel(&m->in), nout = al_shape_numel(&nd->out);
    float *x = malloc(sizeof(float) * n * nin), *ref = malloc(sizeof(float) * n * nout);
    float *y = malloc(sizeof(float) * n * nout);
    int8_t *x8 = malloc(n * nin), *refq = malloc(n * nout), *yq = malloc(n * nout + 64);
    al_rng r;
    al_rng_seed(&r, 3, 9);
    for (size_t i = 0; i < n * nin; i++) x[i] = 8.0f * al_rng_uniform(&r) - 4.0f; /* some past 3: saturated */
    al_i8_quantize_static_ref(x, (long)(n * nin), 1.0f / sin, x8);
    REQUIRE_OK(al_model_plan(m, n));
    CHECK(ref_forms(m, nd, x, n, ys, ref, refq)); /* an int8 output is the float output quantized */
    int sat = 0;
    for (size_t i = 0; i < n * nout; i++) sat += refq[i] == 127 || refq[i] == -127;
    if (!sat) fprintf(stderr, "%s n=%d: no output saturated\n", spec, n);
    CHECK(sat > 0);
    for (int v = 0; v < AL_I8_NVARIANTS; v++) {
        if (!al_i8_force((al_i8_variant)v)) continue;
        for (int t = 0; t < 2; t++)
            for (int in8 = 0; in8 < 2; in8++)
                for (int out8 = 0; out8 < 2; out8++) {
                    al_exec f = {t ? pool : NULL, &m->rng, 0, nd->ws, in8, out8 ? ys : 0.0f, 0.0f};
                    for (size_t i = 0; i < n * nout; i++) y[i] = -7.0f;
                    memset(yq, 0x55, n * nout + 64);
                    REQUIRE_OK(al_quant_forward(nd, &f, in8 ? (const float *)x8 : x, out8 ? (float *)yq : y, n));
                    int ok = out8 ? memcmp(yq, refq, n * nout) == 0 && yq[n * nout] == 0x55
                                  : memcmp(y, ref, sizeof(float) * n * nout) == 0;
                    if (!ok)
                        fprintf(stderr, "%s n=%d (%s, %d thread(s), input %s, output %s): differs from ref\n", spec, n,
                                al_i8_variant_name((al_i8_variant)v), t + 1, in8 ? "int8" : "floats",
                                out8 ? "int8" : "floats");
                    CHECK(ok);
                }
    }
    al_i8_force(AL_I8_AUTO);
    free(x), free(ref), free(y), free(x8), free(refq), free(yq);
    al_model_free(m);
}

/* Node 0 of spec (a fused ReLU or ReLU6) with biases NaN, +-inf, +-1e30,
 * -0 and 0.3 in turn and an int8 output at a static scale: every variant's
 * bytes are the ref variant's, and those are the float outputs quantized
 * (al_i8_q: NaN gives -127). The fast epilogues drop al_i8_q16's sign test
 * after the activation (al_i8_q16_nonneg), which must hold for these. */
static void special_bias_case(const char *spec, int n, al_pool *pool) {
    static const float specials[] = {NAN, INFINITY, -INFINITY, 1e30f, -1e30f, -0.0f, 0.3f};
    al_model *m = build(spec, 41);
    al_node *nd = &m->nodes[0];
    CHECK(nd->cfg.act == AL_ACT_RELU || nd->cfg.act == AL_ACT_RELU6);
    CHECK(nd->cfg.bias && nd->nparams > 1);
    for (size_t j = 0; j < nd->params[1].n; j++) nd->params[1].w[j] = specials[j % 7];
    REQUIRE_OK(al_model_freeze(m, 1));
    REQUIRE_OK(al_quantize_node(m, 0));
    REQUIRE_OK(al_quant_set_in_scale(m, 0, 3.0f / 127.0f));
    const float ys = 0.02f;
    size_t nin = al_shape_numel(&m->in), nout = al_shape_numel(&nd->out);
    float *x = malloc(sizeof(float) * n * nin), *ref = malloc(sizeof(float) * n * nout);
    int8_t *refq = malloc(n * nout), *yq = malloc(n * nout + 64);
    al_rng r;
    al_rng_seed(&r, 5, 2);
    for (size_t i = 0; i < n * nin; i++) x[i] = 6.0f * al_rng_uniform(&r) - 3.0f;
    REQUIRE_OK(al_model_plan(m, n));
    CHECK(ref_forms(m, nd, x, n, ys, ref, refq));
    int nan = 0;
    for (size_t i = 0; i < n * nout; i++) nan += isnan(ref[i]);
    CHECK(nan > 0);
    for (int v = 0; v < AL_I8_NVARIANTS; v++) {
        if (!al_i8_force((al_i8_variant)v)) continue;
        for (int t = 0; t < 2; t++) {
            al_exec f = {t ? pool : NULL, &m->rng, 0, nd->ws, 0, ys, 0.0f};
            memset(yq, 0x55, n * nout + 64);
            REQUIRE_OK(al_quant_forward(nd, &f, x, (float *)yq, n));
            int ok = memcmp(yq, refq, n * nout) == 0 && yq[n * nout] == 0x55;
            if (!ok)
                fprintf(stderr, "%s n=%d (%s, %d thread(s)), special biases: differs from ref\n", spec, n,
                        al_i8_variant_name((al_i8_variant)v), t + 1);
            CHECK(ok);
        }
    }
    al_i8_force(AL_I8_AUTO);
    free(x), free(ref), free(refq), free(yq);
    al_model_free(m);
}

static void test_nodes(al_pool *pool) {
    static const char *const specs[] = {
        "input 32x6x6; conv 17 k=1 act=relu6",   /* implicit GEMM, filter tail */
        "input 7x7x7; conv 33 k=3 p=1",          /* padding channels */
        "input 33x5x9; conv 8 k=3 p=1 act=relu", /* pixel tail */
        "input 9x11x13; conv 8 k=1",             /* 143 pixels: runs of 64 and a tail in the int8 packer */
        "input 6x9x9; conv 5 k=3 s=2 p=1",       /* stride 2: phase planes */
        "input 6x9x9; conv 5 k=3 s=2",           /* p = 0: im2row */
        "input 5x13x11; dwconv k=3 p=1 act=relu6",
        "input 7x24x24; dwconv k=3 s=2 p=1",
        "input 257; dense 33 act=relu",
        "input 7x33; dense 130",                 /* K % 4 = 1, 7 rows a sample */
        "input 64; dense 9 act=relu6 bias=0",
    };
    for (size_t i = 0; i < sizeof specs / sizeof *specs; i++) {
        node_case(specs[i], 3, pool);
        node_case(specs[i], 1, pool);
    }
    static const char *const special[] = {
        "input 8x6x6; conv 16 k=1 act=relu6",
        "input 8x6x6; conv 16 k=1 act=relu",
        "input 5x9x9; conv 16 k=3 s=2 p=1 act=relu6",
        "input 16x13x11; dwconv k=3 p=1 act=relu6",
        "input 16x24x24; dwconv k=3 s=2 p=1 act=relu",
        "input 16x6x6; dwconv k=3 p=1 act=relu6", /* via the float kernels */
        "input 5x9x9; conv 16 k=3 s=2 act=relu",   /* im2row and al_i8_epilogue */
        "input 64; dense 16 act=relu6",
        "input 3x40; dense 23 act=relu",            /* 3 rows a sample, a column tail */
    };
    for (size_t i = 0; i < sizeof special / sizeof *special; i++) special_bias_case(special[i], 2, pool);
}

/* ---- a model with chains ----------------------------------------------------------- */

/* Nodes: 0 conv 32 (from the input), 1 dwconv, 2 conv 32 1x1 (-> 3), 3 add
 * 0 (the residual: int8 with its calibrated scale), 4 conv 48 1x1, 5
 * dwconv s=2, 6 conv 16 1x1, 7 flatten, 8 dense 64, 9 dense 32, 10 dense 5
 * (trained). Chain edges: 0 -> 1 and 3 (int8 to both readers), 1 -> 2,
 * 2 -> 3, 3 -> 4, 4 -> 5, 5 -> 6, 8 -> 9; without the add's scale 0 -> no
 * (the float add reads it), 1 -> 2, 4 -> 5, 5 -> 6, 8 -> 9. */
#define CHAIN_SPEC                                                                                                     \
    "input 3x12x12; conv 32 k=3 p=1 act=relu; dwconv k=3 p=1 act=relu6; conv 32 k=1; add 0; "                          \
    "conv 48 k=1 act=relu6; dwconv k=3 s=2 p=1 act=relu6; conv 16 k=1 act=relu; flatten; dense 64 act=relu; "         \
    "dense 32 act=relu; dense 5"
#define CHAIN_FREEZE 10

static al_model *chain_model(float **xcal, int ncal) {
    al_model *m = build(CHAIN_SPEC, 13);
    REQUIRE_OK(al_model_freeze(m, CHAIN_FREEZE));
    for (int i = 0; i < CHAIN_FREEZE; i++)
        if (i != 3 && i != 7) REQUIRE_OK(al_quantize_node(m, i));
    size_t per = al_shape_numel(&m->in);
    float *x = malloc(sizeof(float) * per * ncal);
    al_rng r;
    al_rng_seed(&r, 21, 2);
    for (size_t i = 0; i < per * ncal; i++) x[i] = 2.0f * al_rng_uniform(&r) - 1.0f;
    x[17] = 1.75f; /* the largest |x|: node 0's scale at pct 100 */
    *xcal = x;
    return m;
}

static void test_model(al_pool *pool) {
    const int ncal = 40, n = 6;
    float *x;
    al_model *m = chain_model(&x, ncal);
    CHECK(al_model_i8_links(m) == 0); /* no static scales yet */
    int count = -1;
    REQUIRE_OK(al_quantize_calibrate_x(m, NULL, x, ncal, 100.0, &count));
    CHECK(count == 9 && al_model_static_scale_count(m) == 9);
    CHECK(m->nodes[0].q->in_scale == 1.75f / 127.0f);
    float s100 = m->nodes[4].q->in_scale, a100 = m->nodes[3].add_scale;
    REQUIRE_OK(al_quantize_calibrate_x(m, pool, x, ncal, 99.0, &count));
    CHECK(count == 9 && m->nodes[4].q->in_scale < s100 && m->nodes[4].q->in_scale > 0.3f * s100);
    CHECK(m->nodes[3].add_scale > 0.0f && m->nodes[3].add_scale <= a100);
    CHECK_STATUS(al_quantize_calibrate_x(m, NULL, x, ncal, 0.0, NULL), AL_EINVAL);
    CHECK_STATUS(al_quantize_calibrate_x(m, NULL, x, 0, 99.0, NULL), AL_EINVAL);
    CHECK(al_model_i8_links(m) == 7 && al_model_i8_adds(m) == 1);
    const float add_scale = m->nodes[3].add_scale;

    /* the float model with the same (dequantized) weights */
    al_model *f;
    REQUIRE_OK(al_model_clone(m, &f));
    al_dequantize(f);
    size_t nout = 5;
    float *yf = malloc(sizeof(float) * n * nout), *ya = malloc(sizeof(float) * n * nout);
    float *yb = malloc(sizeof(float) * n * nout);
    REQUIRE_OK(al_model_predict(f, NULL, x, n, yf));
    for (int v = 0; v < AL_I8_NVARIANTS; v++) {
        if (!al_i8_force((al_i8_variant)v)) continue;
        /* without the add's scale the chain computes what floats between
         * the layers would, bit for bit */
        m->nodes[3].add_scale = 0.0f;
        CHECK(al_model_i8_links(m) == 4 && al_model_i8_adds(m) == 0);
        m->i8_chain = 1;
        REQUIRE_OK(al_model_predict(m, NULL, x, n, ya));
        m->i8_chain = 0;
        REQUIRE_OK(al_model_predict(m, NULL, x, n, yb));
        int same = memcmp(ya, yb, sizeof(float) * n * nout) == 0;
        if (!same) fprintf(stderr, "chain on and off differ (%s)\n", al_i8_variant_name((al_i8_variant)v));
        CHECK(same);
        /* with it the add runs in int8: its operands rounded to its scales,
         * close to the chain off (yb), not equal */
        m->nodes[3].add_scale = add_scale;
        m->i8_chain = 1;
        REQUIRE_OK(al_model_predict(m, NULL, x, n, ya));
        double off = 0.0, offmx = 0.0;
        for (size_t i = 0; i < n * nout; i++) {
            off = fmax(off, fabs((double)ya[i] - yb[i]));
            offmx = fmax(offmx, fabs(yb[i]));
        }
        CHECK(off > 0.0 && off < 0.05 * offmx);
        REQUIRE_OK(al_model_predict(m, pool, x, n, yb));
        CHECK(memcmp(ya, yb, sizeof(float) * n * nout) == 0);
        /* split at the freeze point, as the runtime cache runs it */
        float *fr = malloc(sizeof(float) * n * al_model_frontier_numel(m, CHAIN_FREEZE));
        const float *yo;
        REQUIRE_OK(al_model_forward_range(m, NULL, 0, CHAIN_FREEZE, x, n, 0));
        al_model_frontier_pack(m, CHAIN_FREEZE, n, fr);
        REQUIRE_OK(al_model_forward_from(m, NULL, CHAIN_FREEZE, fr, n, 0, &yo));
        CHECK(memcmp(yo, ya, sizeof(float) * n * nout) == 0);
        free(fr);
        double mx = 0.0, worst = 0.0;
        int agree = 0;
        for (size_t i = 0; i < n * nout; i++) {
            mx = fmax(mx, fabs(yf[i]));
            worst = fmax(worst, fabs((double)ya[i] - yf[i]));
        }
        for (int s = 0; s < n; s++) {
            int af = 0, aq = 0;
            for (int c = 1; c < (int)nout; c++) {
                if (yf[s * nout + c] > yf[s * nout + af]) af = c;
                if (ya[s * nout + c] > ya[s * nout + aq]) aq = c;
            }
            agree += af == aq;
        }
        fprintf(stderr, "chain model (%s): max |logit diff| %.3g of max |logit| %.3g, top-1 agreement %d/%d\n",
                al_i8_variant_name((al_i8_variant)v), worst, mx, agree, n);
        CHECK(worst < 0.08 * mx && worst > 0.0);
        CHECK(agree >= n - 1);
    }
    al_i8_force(AL_I8_AUTO);
    /* a node that reads a chained tensor but lies at or above the lowest
     * trained node breaks its edge; unfreezing drops the int8 weights */
    REQUIRE_OK(al_model_freeze(m, 6));
    CHECK(al_model_i8_links(m) == 5 && al_model_i8_adds(m) == 1 && al_model_static_scale_count(m) == 6);
    REQUIRE_OK(al_model_predict(m, pool, x, n, ya));
    al_model_free(f);
    al_model_free(m);
    free(x), free(yf), free(ya), free(yb);
}

/* ---- model files -------------------------------------------------------------------- */

static void tmp_path(char *buf, size_t cap, const char *tag) {
    snprintf(buf, cap, "%s/test_int8chain_%ld_%s.gguf", AL_BINARY_DIR, (long)getpid(), tag);
}

static uint32_t file_version(const char *path) {
    gguf_reader *r;
    uint32_t v = 0;
    REQUIRE_OK(gguf_reader_open_file(path, GGUF_REQUIRE_CRC, &r));
    CHECK_OK(gguf_get_u32(r, "autlearn.format_version", &v));
    gguf_reader_free(r);
    return v;
}

enum { RW_SCALE, RW_ON_FLOAT, RW_VERSION5, RW_ADD_SCALE, RW_ADD_ON_CONV, RW_VERSION6 };

/* Copies the model file src to dst through the generic reader and writer,
 * with node 4's in_scale set to val (RW_SCALE), an in_scale added on the
 * add node 3 (RW_ON_FLOAT), the format version set to 5 (RW_VERSION5) or
 * 6 (RW_VERSION6), the add's add_scale set to val (RW_ADD_SCALE), or an
 * add_scale added on the conv node 4 (RW_ADD_ON_CONV). */
typedef struct {
    int mode;
    float val;
} rw_edit;

static int rewrite_kv(al_test_kv *kv, void *ctx) {
    const rw_edit *e = ctx;
    if (e->mode == RW_VERSION5 && !strcmp(kv->key, "autlearn.format_version")) kv->u32 = 5;
    if (e->mode == RW_VERSION6 && !strcmp(kv->key, "autlearn.format_version")) kv->u32 = 6;
    if (e->mode == RW_SCALE && !strcmp(kv->key, "autlearn.layer.4.in_scale")) kv->f32 = e->val;
    if (e->mode == RW_ADD_SCALE && !strcmp(kv->key, "autlearn.layer.3.add_scale")) kv->f32 = e->val;
    return 1;
}

static void rewrite(const char *src, const char *dst, int mode, float val) {
    gguf_reader *r;
    REQUIRE_OK(gguf_reader_open_file(src, GGUF_REQUIRE_CRC, &r));
    gguf_writer *w;
    REQUIRE_OK(gguf_writer_new(0, &w));
    rw_edit e = {mode, val};
    al_test_copy_kvs(r, w, rewrite_kv, &e);
    if (mode == RW_ON_FLOAT) gguf_set_f32(w, "autlearn.layer.3.in_scale", 0.5f);
    if (mode == RW_ADD_ON_CONV) gguf_set_f32(w, "autlearn.layer.4.add_scale", 0.5f);
    float *bufs[64] = {0};
    for (size_t i = 0; i < gguf_num_tensors(r) && i < 64; i++) {
        const gguf_tensor *t = gguf_tensor_at(r, i);
        char name[80];
        snprintf(name, sizeof name, "%.*s", (int)t->name.n, t->name.p);
        if (t->type == GGML_T_I8) {
            gguf_add_tensor(w, name, GGML_T_I8, t->ndim, t->ne, t->data);
        } else {
            bufs[i] = malloc(sizeof(float) * t->nelem);
            REQUIRE_OK(gguf_tensor_read_f32(t, bufs[i], (size_t)t->nelem));
            gguf_add_tensor(w, name, GGML_T_F32, t->ndim, t->ne, bufs[i]);
        }
    }
    REQUIRE_OK(gguf_writer_save(w, dst));
    gguf_writer_free(w);
    gguf_reader_free(r);
    for (int i = 0; i < 64; i++) free(bufs[i]);
}

static void test_files(void) {
    float *x;
    al_model *m = chain_model(&x, 16);
    char path[512], bad[512];
    tmp_path(path, sizeof path, "ok");
    tmp_path(bad, sizeof bad, "bad");
    /* int8 weights without scales: the version of before */
    REQUIRE_OK(al_model_save(m, path));
    CHECK(file_version(path) < 6);
    REQUIRE_OK(al_quantize_calibrate_x(m, NULL, x, 16, AL_CALIB_PCT_DEFAULT, NULL));
    /* without the add's scale: version 6, as before the int8 add */
    const float add_scale = m->nodes[3].add_scale;
    CHECK(add_scale > 0.0f);
    m->nodes[3].add_scale = 0.0f;
    REQUIRE_OK(al_model_save(m, path));
    CHECK(file_version(path) == 6);
    al_model *l;
    float ya[10], yb[10];
    REQUIRE_OK(al_model_load(path, &l));
    CHECK(al_model_static_scale_count(l) == 8 && al_model_i8_links(l) == 4 && al_model_i8_adds(l) == 0);
    REQUIRE_OK(al_model_predict(m, NULL, x, 2, ya));
    REQUIRE_OK(al_model_predict(l, NULL, x, 2, yb));
    CHECK(memcmp(ya, yb, sizeof ya) == 0);
    al_model_free(l);
    m->nodes[3].add_scale = add_scale;
    REQUIRE_OK(al_model_save(m, path));
    CHECK(file_version(path) == 7);
    REQUIRE_OK(al_model_load(path, &l));
    int same = al_model_static_scale_count(l) == 9 && al_model_i8_links(l) == 7 && al_model_i8_adds(l) == 1 &&
               memcmp(&l->nodes[3].add_scale, &add_scale, 4) == 0;
    for (int i = 0; i < m->nnodes; i++)
        if (m->nodes[i].q) same &= l->nodes[i].q && memcmp(&m->nodes[i].q->in_scale, &l->nodes[i].q->in_scale, 4) == 0;
    CHECK(same);
    REQUIRE_OK(al_model_predict(m, NULL, x, 2, ya));
    REQUIRE_OK(al_model_predict(l, NULL, x, 2, yb));
    CHECK(memcmp(ya, yb, sizeof ya) == 0);
    al_model_free(l);
    /* a copy through the rewriter loads; bad scales do not */
    rewrite(path, bad, RW_SCALE, m->nodes[4].q->in_scale);
    CHECK_STATUS(al_model_load(bad, &l), AL_OK);
    al_model_free(l);
    const float hostile[] = {NAN, 0.0f, -0.5f, INFINITY, -INFINITY, 1e-39f, 3e38f};
    for (size_t i = 0; i < sizeof hostile / sizeof *hostile; i++) {
        rewrite(path, bad, RW_SCALE, hostile[i]);
        l = NULL;
        CHECK_STATUS(al_model_load(bad, &l), AL_EFORMAT);
        CHECK(l == NULL && strstr(al_last_error(), "static input scale") != NULL);
    }
    rewrite(path, bad, RW_ADD_SCALE, add_scale);
    CHECK_STATUS(al_model_load(bad, &l), AL_OK);
    al_model_free(l);
    for (size_t i = 0; i < sizeof hostile / sizeof *hostile; i++) {
        rewrite(path, bad, RW_ADD_SCALE, hostile[i]);
        l = NULL;
        CHECK_STATUS(al_model_load(bad, &l), AL_EFORMAT);
        CHECK(l == NULL && strstr(al_last_error(), "static add scale") != NULL);
    }
    rewrite(path, bad, RW_ADD_ON_CONV, 0.0f);
    CHECK_STATUS(al_model_load(bad, &l), AL_EFORMAT);
    CHECK(strstr(al_last_error(), "needs an add") != NULL);
    rewrite(path, bad, RW_VERSION6, 0.0f);
    CHECK_STATUS(al_model_load(bad, &l), AL_EFORMAT);
    CHECK(strstr(al_last_error(), "version 7") != NULL);
    rewrite(path, bad, RW_ON_FLOAT, 0.0f);
    CHECK_STATUS(al_model_load(bad, &l), AL_EFORMAT);
    CHECK(strstr(al_last_error(), "needs int8 weights") != NULL);
    rewrite(path, bad, RW_VERSION5, 0.0f);
    CHECK_STATUS(al_model_load(bad, &l), AL_EFORMAT);
    CHECK(strstr(al_last_error(), "version 6") != NULL);
    /* the setter refuses them too */
    CHECK_STATUS(al_quant_set_in_scale(m, 4, NAN), AL_EINVAL);
    CHECK_STATUS(al_quant_set_in_scale(m, 4, -1.0f), AL_EINVAL);
    CHECK_STATUS(al_quant_set_in_scale(m, 3, 1.0f), AL_ESTATE);
    CHECK_STATUS(al_quant_set_add_scale(m, 3, NAN), AL_EINVAL);
    CHECK_STATUS(al_quant_set_add_scale(m, 3, 0.0f), AL_EINVAL);
    CHECK_STATUS(al_quant_set_add_scale(m, 4, 1.0f), AL_EINVAL);
    unlink(path);
    unlink(bad);
    al_model_free(m);
    free(x);
}

int main(void) {
    al_pool *pool;
    REQUIRE_OK(al_pool_new(2, &pool));
    test_quantizer();
    test_epilogue();
    test_dw_forms();
    test_add_kernel();
    test_nodes(pool);
    test_model(pool);
    test_files();
    al_pool_free(pool);
    TEST_END("test_int8chain");
}
