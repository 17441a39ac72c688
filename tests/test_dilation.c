/* Dilated convolutions (cfg.dil; ONNX Conv `dilations`): conv, dwconv and
 * gconv.
 *  - gradients by finite differences on odd shapes: stride 2 + dilation 2
 *    + padding, non-square inputs, no bias, groups (a fused activation's
 *    kinks defeat the differences: the goldens conv_dil_relu and dwconv_dil
 *    (relu6) cover it);
 *  - forward and input gradient against a plain 7-loop reference written
 *    here, for a shape where the dilation-1 conv takes a fast kernel (the
 *    one-channel 3x3, Winograd when forced, every depthwise SIMD variant):
 *    a dilated node never takes one (conv_algo stays im2col, and the result
 *    matches the reference under every forced variant);
 *  - the spec keyword dil= and the model file key (written only when the
 *    dilation is not 1; format version 5 only then);
 *  - the int8 path: a frozen dilated conv stays in float (al_quantize_frozen
 *    skips it; al_quantize_node refuses it), a plain one beside it is
 *    quantized. (PyTorch goldens: tests/golden/{conv,dwconv,gconv}_dil.bin.) */
#include "al_test.h"
#include "cloud/compile/quant.h"
#include "kernels/kernels.h"

#include <unistd.h>

static void test_gradients(void) {
    gc_opts o = gc_defaults();
    o.batch = 2;
    const char *specs[] = {
        "input 2x9x7; conv 3 k=3 s=2 p=2 dil=2; tanh; flatten; dense 2",
        "input 2x8x11; conv 3 k=2 s=1 p=1 dil=3 bias=0; tanh; flatten; dense 2",
        "input 3x9x8; dwconv k=3 s=2 p=1 dil=2; tanh; flatten; dense 2",
        "input 3x7x10; dwconv k=3 s=1 p=2 dil=2 bias=0; tanh; flatten; dense 2",
        "input 4x9x7; gconv 6 g=2 k=3 s=2 p=2 dil=2; tanh; flatten; dense 2",
    };
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        int f = gradcheck_spec(specs[i], &o);
        if (f) fprintf(stderr, "gradcheck failed: %s\n", specs[i]);
        CHECK(f == 0);
    }
}

/* y[n,f,oy,ox] = b[f] + sum w[f,c,ky,kx] x[n, c*G.., oy*s-p+ky*d, ox*s-p+kx*d] (groups G), and dx = its
 * transpose applied to r. */
static void ref_conv(const float *x, const float *w, const float *b, int n, int C, int H, int W, int F, int G, int k,
                     int s, int p, int d, const float *r, float *y, float *dx) {
    int Ho = (H + 2 * p - d * (k - 1) - 1) / s + 1, Wo = (W + 2 * p - d * (k - 1) - 1) / s + 1;
    int Cg = C / G, Fg = F / G;
    memset(dx, 0, sizeof(float) * (size_t)n * C * H * W);
    for (int i = 0; i < n; i++)
        for (int f = 0; f < F; f++)
            for (int oy = 0; oy < Ho; oy++)
                for (int ox = 0; ox < Wo; ox++) {
                    double acc = b ? b[f] : 0.0;
                    size_t yo = (((size_t)i * F + f) * Ho + oy) * Wo + ox;
                    for (int cc = 0; cc < Cg; cc++)
                        for (int ky = 0; ky < k; ky++)
                            for (int kx = 0; kx < k; kx++) {
                                int iy = oy * s - p + ky * d, ix = ox * s - p + kx * d, c = f / Fg * Cg + cc;
                                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                                size_t xo = (((size_t)i * C + c) * H + iy) * W + ix;
                                float wv = w[(((size_t)f * Cg + cc) * k + ky) * k + kx];
                                acc += (double)wv * x[xo];
                                dx[xo] += wv * r[yo];
                            }
                    y[yo] = (float)acc;
                }
}

static double check_ref(const char *spec, int C, int H, int W, int F, int G, int k, int s, int p, int d) {
    al_model *m;
    REQUIRE_OK(al_model_from_spec(spec, 2, &m));
    al_model_init_weights(m, 7);
    const al_node *nd = &m->nodes[0];
    CHECK(nd->cfg.dil == d);
    if (nd->cfg.type == AL_L_CONV2D) CHECK(nd->conv_algo == AL_CONV_IM2COL);
    const int n = 2;
    size_t yn = (size_t)n * al_shape_numel(&nd->out), xn = (size_t)n * C * H * W;
    float *x = al_test_rand_input(m, n, 11), *r = malloc(sizeof(float) * yn), *y = malloc(sizeof(float) * yn);
    float *dx = malloc(sizeof(float) * xn);
    al_rng rng;
    al_rng_seed(&rng, 3, 1);
    for (size_t i = 0; i < yn; i++) r[i] = al_rng_normal(&rng);
    ref_conv(x, nd->params[0].w, nd->cfg.bias ? nd->params[1].w : NULL, n, C, H, W, F, G, k, s, p, d, r, y, dx);
    m->want_input_grad = 1;
    REQUIRE_OK(al_model_plan(m, n));
    const float *ym;
    REQUIRE_OK(al_model_forward_from(m, NULL, 0, x, n, 1, &ym));
    double e = al_test_max_abs_diff(ym, y, yn);
    al_model_zero_grad(m);
    REQUIRE_OK(al_model_backward(m, NULL, x, r, n));
    double ed = al_test_max_abs_diff(m->dinput, dx, xn);
    if (ed > e) e = ed;
    free(x);
    free(r);
    free(y);
    free(dx);
    al_model_free(m);
    return e;
}

static void test_no_fast_kernel(void) {
    /* one channel, 3x3, stride 1, padding 1: the dilation-1 conv's direct kernel (al_conv1c3_*) */
    al_model *m;
    REQUIRE_OK(al_model_from_spec("input 1x28x28; conv 8 k=3 p=1", 1, &m));
    int fast = m->nodes[0].conv_algo;
    al_model_free(m);
    double e = check_ref("input 1x28x28; conv 8 k=3 p=2 dil=2", 1, 28, 28, 8, 1, 3, 1, 2, 2);
    fprintf(stderr, "test_dilation: conv 1x28x28 dil=2 (dil=1 algo %d) vs reference %.3g\n", fast, e);
    CHECK(e < 1e-4);
    /* the kernels forced process-wide: a dilated conv still takes im2col */
    for (int a = AL_CONV_DIRECT; a < AL_CONV_NALGOS; a++) {
        al_conv_force((al_conv_algo)a);
        e = check_ref("input 8x13x11; conv 8 k=3 p=2 dil=2", 8, 13, 11, 8, 1, 3, 1, 2, 2);
        CHECK(e < 1e-4);
        e = check_ref("input 3x12x9; conv 5 k=3 s=2 p=1 dil=3", 3, 12, 9, 5, 1, 3, 2, 1, 3);
        CHECK(e < 1e-4);
    }
    al_conv_force(AL_CONV_AUTO);
    /* depthwise: every SIMD variant this CPU has, stride 1 and 2 (shapes they take at dilation 1) */
    for (int v = 0; v < AL_DW_NVARIANTS; v++) {
        if (!al_dw_force((al_dw_variant)v)) continue;
        al_dw_geom g = {9, 10, 3, 1, 2, 9, 10};
        CHECK(al_dw_simd_applies(&g)); /* dilation 1: this shape would take the variant */
        e = check_ref("input 4x9x10; dwconv k=3 p=2 dil=2", 4, 9, 10, 4, 4, 3, 1, 2, 2);
        double e2 = check_ref("input 3x11x8; dwconv k=3 s=2 p=1 dil=2", 3, 11, 8, 3, 3, 3, 2, 1, 2);
        fprintf(stderr, "test_dilation: dwconv dil=2 under %s vs reference %.3g %.3g\n",
                al_dw_variant_name((al_dw_variant)v), e, e2);
        CHECK(e < 1e-4 && e2 < 1e-4);
    }
    al_dw_force(AL_DW_AUTO);
    e = check_ref("input 6x10x9; gconv 4 g=2 k=3 s=2 p=2 dil=2", 6, 10, 9, 4, 2, 3, 2, 2, 2);
    CHECK(e < 1e-4);
}

static int file_has(const char *path, const char *s) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    size_t k = strlen(s);
    for (size_t i = 0; i + k <= n; i++)
        if (!memcmp(buf + i, s, k)) return 1;
    return 0;
}

static void test_spec_and_file(void) {
    al_model *m, *l;
    REQUIRE_OK(al_model_from_spec("input 3x12x10; conv 4 k=3 s=2 p=2 dil=2; dwconv k=3 p=1 dil=3; "
                                  "gconv 4 g=2 k=2 p=1 dil=2; conv 2 k=3 p=1 dil=1; flatten; dense 2",
                                  1, &m));
    const char *sp = al_model_spec(m);
    CHECK(strstr(sp, "conv 4 k=3 s=2 p=2 dil=2") && strstr(sp, "dwconv k=3 s=1 p=1 dil=3") &&
          strstr(sp, "gconv 4 g=2 k=2 s=1 p=1 dil=2") && strstr(sp, "conv 2 k=3 s=1 p=1;"));
    /* Ho: (12 + 4 - 5) / 2 + 1 = 6, (10 + 4 - 5) / 2 + 1 = 5; then 6 + 2 - 7 + 1 = 2 ... */
    CHECK(m->nodes[0].out.d[1] == 6 && m->nodes[0].out.d[2] == 5);
    CHECK(m->nodes[1].out.d[1] == 2 && m->nodes[1].out.d[2] == 1);
    al_model_init_weights(m, 5);
    char path[] = "/tmp/al-dil.XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) exit(1);
    close(fd);
    REQUIRE_OK(al_model_save(m, path));
    CHECK(file_has(path, "autlearn.layer.0.dil") == 1 && file_has(path, "autlearn.layer.3.dil") == 0);
    REQUIRE_OK(al_model_load(path, &l));
    CHECK(l->nodes[0].cfg.dil == 2 && l->nodes[1].cfg.dil == 3 && l->nodes[2].cfg.dil == 2 && l->nodes[3].cfg.dil <= 1);
    float *x = al_test_rand_input(m, 2, 9);
    float *ya = al_test_predict(m, x, 2), *yb = al_test_predict(l, x, 2);
    CHECK(al_test_max_abs_diff(ya, yb, 4) == 0.0);
    free(x);
    free(ya);
    free(yb);
    al_model_free(l);
    al_model_free(m);
    /* without a dilation: no key at all, and the file stays at the older version */
    REQUIRE_OK(al_model_from_spec("input 3x8x8; conv 4 k=3 dil=1; flatten; dense 2", 1, &m));
    REQUIRE_OK(al_model_save(m, path));
    CHECK(file_has(path, ".dil") == 0);
    al_model_free(m);
    unlink(path);
    /* refusals */
    CHECK(al_model_from_spec("input 3x8x8; conv 4 k=3 dil=0", 1, &m) != AL_OK);
    CHECK(al_model_from_spec("input 3x8x8; conv 4 k=3 dil=65", 1, &m) != AL_OK);
    CHECK(al_model_from_spec("input 3x8x8; dense 4 dil=2", 1, &m) != AL_OK);
    CHECK(al_model_from_spec("input 3x8x8; maxpool k=2 dil=2", 1, &m) != AL_OK);
    /* the dilated kernel (extent 2*(5-1)+1 = 9) must fit the padded input */
    CHECK_STATUS(al_model_from_spec("input 3x8x8; conv 4 k=5 dil=2", 1, &m), AL_ESHAPE);
    CHECK_STATUS(al_model_from_spec("input 3x8x8; dwconv k=5 dil=2", 1, &m), AL_ESHAPE);
    REQUIRE_OK(al_model_from_spec("input 3x8x8; conv 4 k=5 p=1 dil=2", 1, &m)); /* 8 + 2 - 9 + 1 = 2 */
    CHECK(m->nodes[0].out.d[1] == 2);
    al_model_free(m);
}

static void test_int8_stays_float(void) {
    al_model *m;
    REQUIRE_OK(al_model_from_spec("input 4x9x9; conv 33 k=3 p=2 dil=2; relu; conv 8 k=3 p=1; relu; flatten; dense 3",
                                  1, &m));
    al_model_init_weights(m, 3);
    REQUIRE_OK(al_model_freeze(m, 4));
    float *x = al_test_rand_input(m, 2, 4);
    float *y0 = al_test_predict(m, x, 2);
    CHECK_STATUS(al_quantize_node(m, 0), AL_EUNSUPPORTED);
    int count = -1;
    REQUIRE_OK(al_quantize_frozen(m, &count));
    CHECK(count == 1 && !al_node_is_quantized(m, 0) && al_node_is_quantized(m, 2));
    float *y1 = al_test_predict(m, x, 2);
    double e = al_test_max_abs_diff(y0, y1, 6);
    fprintf(stderr, "test_dilation: int8 (dilated conv in float) vs float %.3g\n", e);
    CHECK(e < 0.05);
    free(x);
    free(y0);
    free(y1);
    al_model_free(m);
}

int main(void) {
    test_gradients();
    test_no_fast_kernel();
    test_spec_and_file();
    test_int8_stays_float();
    TEST_END("test_dilation");
}
