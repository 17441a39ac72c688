/* The conv forward kernels (direct, winograd) against im2col + GEMM on odd
 * shapes: channels 1, 3, 7, 33; spatial 1, 7, 29; with and without padding,
 * bias and stride; 1 and 2 threads. Then whole models: the reference CNN
 * built under each forced kernel predicts what the im2col build predicts,
 * and the cost model picks the documented kernels for its layers.
 * Tolerances: direct sums in another order than the GEMM (1e-5 relative to
 * the largest |y|); winograd's transforms add error (1e-4, kernels.h). */
#include "al_test.h"
#include "kernels/kernels.h"

static al_model *one_conv(int C, int H, int W, int F, int k, int s, int p, int bias, al_conv_algo a) {
    al_shape in = {3, {C, H, W}};
    al_layer_cfg l = {0};
    l.type = AL_L_CONV2D;
    l.units = F;
    l.k = k;
    l.stride = s;
    l.pad = p;
    l.bias = bias;
    al_conv_force(a);
    al_model *m;
    REQUIRE_OK(al_model_build(&in, 0, &l, 1, &m));
    al_conv_force(AL_CONV_AUTO);
    al_model_init_weights(m, 11);
    return m;
}

static int compared;

static void conv_case(al_pool *pool, int C, int HW, int F, int k, int s, int p, int bias, int n) {
    int H = HW, W = HW + (HW > 1 ? 2 : 0); /* non-square where possible */
    if (H + 2 * p < k || W + 2 * p < k) return;
    al_model *ref = one_conv(C, H, W, F, k, s, p, bias, AL_CONV_IM2COL);
    CHECK(ref->nodes[0].conv_algo == AL_CONV_IM2COL);
    size_t nx = (size_t)n * C * H * W, ny = (size_t)n * al_shape_numel(&ref->nodes[0].out);
    float *x = malloc(sizeof(float) * nx), *want = malloc(sizeof(float) * ny), *got = malloc(sizeof(float) * ny);
    al_rng r;
    al_rng_seed(&r, (uint64_t)(C * 131 + HW * 7 + k), 9);
    for (size_t i = 0; i < nx; i++) x[i] = 2.0f * al_rng_uniform(&r) - 1.0f;
    REQUIRE_OK(al_model_predict(ref, NULL, x, n, want));
    double ymax = 0.0;
    for (size_t i = 0; i < ny; i++) ymax = fmax(ymax, fabs(want[i]));
    for (int a = AL_CONV_DIRECT; a < AL_CONV_NALGOS; a++) {
        if (!al_conv_algo_applies((al_conv_algo)a, k, s)) continue;
        al_model *m = one_conv(C, H, W, F, k, s, p, bias, (al_conv_algo)a);
        CHECK(m->nodes[0].conv_algo == a);
        REQUIRE_OK(al_model_copy_weights(m, ref));
        double tol = (a == AL_CONV_WINOGRAD ? 1e-4 : 1e-5) * (ymax + 1e-3);
        for (int t = 0; t < 2; t++) {
            memset(got, 0xff, sizeof(float) * ny); /* NaN: every output must be written */
            REQUIRE_OK(al_model_predict(m, t ? pool : NULL, x, n, got));
            double err = 0.0;
            for (size_t i = 0; i < ny; i++) {
                double d = fabs((double)got[i] - want[i]);
                err = fmax(err, d == d ? d : INFINITY); /* fmax would drop a NaN */
            }
            if (!(err <= tol))
                fprintf(stderr, "%s C=%d HW=%d F=%d k=%d s=%d p=%d bias=%d n=%d threads=%d: err %g > %g\n",
                        al_conv_algo_name((al_conv_algo)a), C, HW, F, k, s, p, bias, n, t + 1, err, tol);
            CHECK(err <= tol);
            compared++;
        }
        al_model_free(m);
    }
    al_model_free(ref);
    free(x);
    free(want);
    free(got);
}

static void test_kernels(al_pool *pool) {
    static const int chans[] = {1, 3, 7, 33}, sp[] = {1, 7, 29};
    for (size_t c = 0; c < 4; c++)
        for (size_t h = 0; h < 3; h++)
            for (int pad = 0; pad <= 1; pad++) {
                int F = c == 3 ? 5 : 17;
                conv_case(pool, chans[c], sp[h], F, 3, 1, pad, pad, 3);
                if (h == 1) conv_case(pool, chans[c], sp[h], F, 3, 2, pad, 1 - pad, 2); /* stride 2 */
            }
    conv_case(pool, 3, 7, 4, 5, 1, 2, 1, 2);  /* 5x5: no winograd */
    conv_case(pool, 7, 7, 3, 1, 1, 0, 1, 2);  /* 1x1 */
    conv_case(pool, 2, 29, 8, 3, 3, 1, 0, 1); /* stride 3 */
    CHECK(compared > 60);
}

/* The reference CNN under each forced kernel predicts the im2col build's
 * outputs; the argmax agrees on every sample. */
static void test_model(al_pool *pool) {
    const char *spec = al_spec_builtin("refcnn");
    al_shape in;
    int tokens, n;
    al_layer_cfg layers[16];
    REQUIRE_OK(al_spec_parse(spec, &in, &tokens, layers, 16, &n));
    al_model *ms[AL_CONV_NALGOS + 1];
    for (int a = -1; a < AL_CONV_NALGOS; a++) {
        al_conv_force((al_conv_algo)a);
        REQUIRE_OK(al_model_build(&in, tokens, layers, n, &ms[a + 1]));
        al_model_init_weights(ms[a + 1], 5);
    }
    al_conv_force(AL_CONV_AUTO);
    /* the cost model (kernels.h): im2col with a SIMD GEMM; the C = 1
     * layer goes direct with the portable one */
    al_model *aut = ms[0];
    int convs = 0, simd = al_gemm_current() != AL_GEMM_C && al_gemm_current() != AL_GEMM_REF;
    for (int i = 0; i < aut->nnodes; i++) {
        if (aut->nodes[i].cfg.type != AL_L_CONV2D) continue;
        int C = aut->nodes[i].in.d[0];
        CHECK(aut->nodes[i].conv_algo == (C == 1 && !simd ? AL_CONV_DIRECT : AL_CONV_IM2COL));
        convs++;
    }
    CHECK(convs == 3);
    CHECK(al_gemm_force(AL_GEMM_C));
    CHECK(al_conv_choose(1, 28, 28, 32, 3, 1, 1) == AL_CONV_DIRECT);
    CHECK(al_conv_choose(32, 14, 14, 64, 3, 1, 1) == AL_CONV_IM2COL);
    al_gemm_force(AL_GEMM_AUTO);
    int B = 9;
    size_t nx = (size_t)B * al_shape_numel(&in);
    float *x = malloc(sizeof(float) * nx), *y[AL_CONV_NALGOS + 1];
    al_rng r;
    al_rng_seed(&r, 1, 1);
    for (size_t i = 0; i < nx; i++) x[i] = al_rng_uniform(&r);
    for (int a = 0; a <= AL_CONV_NALGOS; a++) {
        y[a] = malloc(sizeof(float) * (size_t)B * 10);
        REQUIRE_OK(al_model_predict(ms[a], a % 2 ? pool : NULL, x, B, y[a]));
    }
    const float *want = y[1 + AL_CONV_IM2COL];
    for (int a = 0; a <= AL_CONV_NALGOS; a++) {
        double err = 0.0, mx = 0.0;
        int agree = 1;
        for (int b = 0; b < B; b++) {
            int aw = 0, ag = 0;
            for (int j = 0; j < 10; j++) {
                size_t o = (size_t)b * 10 + j;
                err = fmax(err, fabs((double)y[a][o] - want[o]));
                mx = fmax(mx, fabs(want[o]));
                if (want[o] > want[(size_t)b * 10 + aw]) aw = j;
                if (y[a][o] > y[a][(size_t)b * 10 + ag]) ag = j;
            }
            agree &= aw == ag;
        }
        if (err > 1e-4 * mx) fprintf(stderr, "model under %d: err %g (max |y| %g)\n", a - 1, err, mx);
        CHECK(err <= 1e-4 * mx);
        CHECK(agree);
    }
    for (int a = 0; a <= AL_CONV_NALGOS; a++) {
        al_model_free(ms[a]);
        free(y[a]);
    }
    free(x);
}

int main(void) {
    al_pool *pool;
    REQUIRE_OK(al_pool_new(2, &pool));
    CHECK(al_conv_algo_from_name("winograd") == AL_CONV_WINOGRAD && al_conv_algo_from_name("x") == -1);
    CHECK(!al_conv_algo_applies(AL_CONV_WINOGRAD, 3, 2) && !al_conv_algo_applies(AL_CONV_WINOGRAD, 5, 1));
    test_kernels(pool);
    test_model(pool);
    al_pool_free(pool);
    TEST_END("test_conv_algo");
}
