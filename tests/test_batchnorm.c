/* Batch normalisation: gradient checks in training mode, the running
 * statistics update (PyTorch's rule, by hand), the frozen / eval affine map
 * and its gradients. */
#include "al_test.h"

static void test_gradchecks(void) {
    gc_opts o = gc_defaults();
    o.batch = 4;
    const char *specs[] = {
        "input 3x4x4; batchnorm; dense 2",
        "input 2x3x5; dense 4; batchnorm; flatten; dense 3",
        "input 5; batchnorm; dense 3",
        "input 4; dense 5; batchnorm; dense 3",
        "input 4; dense 6; batchnorm eps=0.001 momentum=0.3; tanh; dense 2",
    };
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        int f = gradcheck_spec(specs[i], &o);
        if (f) fprintf(stderr, "gradcheck failed: %s\n", specs[i]);
        CHECK(f == 0);
    }
    o.batch = 7;
    CHECK(gradcheck_spec("input 2x1x3; batchnorm; dense 2", &o) == 0);
}

/* [C] input, batch 4, momentum 0.2, two training steps by hand. */
static void test_running_stats_vector(void) {
    al_model *m;
    REQUIRE_OK(al_model_from_spec("input 2; batchnorm momentum=0.2", 1, &m));
    REQUIRE_OK(al_model_plan(m, 4));
    al_node *bn = &m->nodes[0];
    CHECK(bn->nparams == 4);
    CHECK(bn->params[2].is_state && bn->params[3].is_state && !bn->params[0].is_state);
    CHECK(bn->params[0].w[0] == 1.0f && bn->params[1].w[0] == 0.0f);
    CHECK(bn->params[2].w[1] == 0.0f && bn->params[3].w[1] == 1.0f);
    CHECK(al_model_num_params(m) == 4); /* running statistics are not trained */
    /* channel 0: 1 2 3 6 (mean 3, biased var 3.5, unbiased 14/3);
     * channel 1: 0 0 1 -1 (mean 0, biased var 0.5, unbiased 2/3) */
    const float x[8] = {1, 0, 2, 0, 3, 1, 6, -1};
    const float *y;
    REQUIRE_OK(al_model_forward_from(m, NULL, 0, x, 4, 1, &y));
    float *rm = bn->params[2].w, *rv = bn->params[3].w;
    CHECK_NEAR(rm[0], 0.2 * 3.0, 1e-6);
    CHECK_NEAR(rv[0], 0.8 + 0.2 * 14.0 / 3.0, 1e-6);
    CHECK_NEAR(rm[1], 0.0, 1e-6);
    CHECK_NEAR(rv[1], 0.8 + 0.2 * 2.0 / 3.0, 1e-6);
    /* normalised with the biased variance */
    for (int b = 0; b < 4; b++) {
        CHECK_NEAR(y[2 * b], (x[2 * b] - 3.0) / sqrt(3.5 + 1e-5), 1e-5);
        CHECK_NEAR(y[2 * b + 1], x[2 * b + 1] / sqrt(0.5 + 1e-5), 1e-5);
    }
    REQUIRE_OK(al_model_forward_from(m, NULL, 0, x, 4, 1, &y));
    CHECK_NEAR(rm[0], 0.8 * 0.6 + 0.2 * 3.0, 1e-6);
    CHECK_NEAR(rv[0], 0.8 * (0.8 + 0.2 * 14.0 / 3.0) + 0.2 * 14.0 / 3.0, 1e-5);
    /* eval mode: running statistics used and left alone */
    float rm0 = rm[0], rv0 = rv[0];
    REQUIRE_OK(al_model_forward_from(m, NULL, 0, x, 4, 0, &y));
    CHECK(rm[0] == rm0 && rv[0] == rv0);
    CHECK_NEAR(y[0], (1.0 - rm0) / sqrt(rv0 + 1e-5), 1e-5);
    /* one value per channel cannot be normalised in training mode */
    CHECK_STATUS(al_model_forward_from(m, NULL, 0, x, 1, 1, &y), AL_ERANGE);
    CHECK_OK(al_model_forward_from(m, NULL, 0, x, 1, 0, &y));
    al_model_free(m);
}

/* [C,H,W] input: running statistics against a double-precision reference. */
static void test_running_stats_image(void) {
    enum { C = 3, H = 2, W = 5, N = 4, S = H * W };
    al_model *m;
    REQUIRE_OK(al_model_from_spec("input 3x2x5; batchnorm", 1, &m));
    REQUIRE_OK(al_model_plan(m, N));
    float x[N * C * S];
    al_rng r;
    al_rng_seed(&r, 3, 3);
    for (int i = 0; i < N * C * S; i++) x[i] = 2.0f * al_rng_normal(&r) + 1.0f;
    const float *y;
    REQUIRE_OK(al_model_forward_from(m, NULL, 0, x, N, 1, &y));
    al_node *bn = &m->nodes[0];
    for (int c = 0; c < C; c++) {
        double s = 0, q = 0;
        for (int b = 0; b < N; b++)
            for (int i = 0; i < S; i++) s += x[(b * C + c) * S + i];
        double mu = s / (N * S);
        for (int b = 0; b < N; b++)
            for (int i = 0; i < S; i++) q += (x[(b * C + c) * S + i] - mu) * (x[(b * C + c) * S + i] - mu);
        CHECK_NEAR(bn->params[2].w[c], 0.1 * mu, 1e-6);
        CHECK_NEAR(bn->params[3].w[c], 0.9 + 0.1 * q / (N * S - 1), 1e-5);
        double is = 1.0 / sqrt(q / (N * S) + 1e-5), ym = 0, yv = 0;
        for (int b = 0; b < N; b++)
            for (int i = 0; i < S; i++) {
                double want = (x[(b * C + c) * S + i] - mu) * is;
                CHECK_NEAR(y[(b * C + c) * S + i], want, 1e-5);
                ym += y[(b * C + c) * S + i];
                yv += y[(b * C + c) * S + i] * y[(b * C + c) * S + i];
            }
        CHECK_NEAR(ym / (N * S), 0.0, 1e-6);
        CHECK_NEAR(yv / (N * S), 1.0, 1e-3);
    }
    al_model_free(m);
}

/* Frozen BN (freeze point after it): the affine map with the running
 * statistics, no weight gradient, input gradient dy * weight / sqrt(var + eps). */
static void test_frozen(void) {
    enum { C = 2, S = 3, N = 4 };
    al_model *m;
    REQUIRE_OK(al_model_from_spec("input 2x1x3; batchnorm; dense 2", 1, &m));
    REQUIRE_OK(al_model_freeze(m, 0 + 1));
    m->want_input_grad = 1; /* so backward reaches the frozen BN and asks for dx */
    REQUIRE_OK(al_model_plan(m, N));
    al_node *bn = &m->nodes[0];
    const float gam[C] = {1.5f, -0.5f}, bet[C] = {0.1f, 0.2f}, mean[C] = {0.5f, -1.0f}, var[C] = {2.0f, 0.25f};
    for (int c = 0; c < C; c++) {
        bn->params[0].w[c] = gam[c];
        bn->params[1].w[c] = bet[c];
        bn->params[2].w[c] = mean[c];
        bn->params[3].w[c] = var[c];
    }
    float x[N * C * S];
    for (int i = 0; i < N * C * S; i++) x[i] = (float)((i * 5) % 11) - 4.0f;
    const float *y;
    al_model_zero_grad(m);
    REQUIRE_OK(al_model_forward_from(m, NULL, 0, x, N, 1, &y)); /* a training pass */
    const float *bny = m->act[0];
    for (int b = 0; b < N; b++)
        for (int c = 0; c < C; c++)
            for (int i = 0; i < S; i++) {
                int j = (b * C + c) * S + i;
                double want = gam[c] * (x[j] - mean[c]) / sqrt(var[c] + 1e-5) + bet[c];
                CHECK_NEAR(bny[j], want, 1e-5);
            }
    for (int c = 0; c < C; c++) CHECK(bn->params[2].w[c] == mean[c] && bn->params[3].w[c] == var[c]);
    float dl[N * C * 2]; /* dense 2 over the last dim: output [C,1,2] */
    for (int i = 0; i < N * C * 2; i++) dl[i] = (float)(i % 7) - 3.0f;
    REQUIRE_OK(al_model_backward(m, NULL, x, dl, N));
    for (int p = 0; p < 2; p++)
        for (int c = 0; c < C; c++) CHECK(bn->params[p].g[c] == 0.0f);
    double gd = 0;
    for (size_t i = 0; i < m->nodes[1].params[0].n; i++) gd += fabs(m->nodes[1].params[0].g[i]);
    CHECK(gd > 0); /* the trainable dense above still learns */
    for (int b = 0; b < N; b++)
        for (int c = 0; c < C; c++)
            for (int i = 0; i < S; i++) {
                int j = (b * C + c) * S + i;
                CHECK_NEAR(m->dinput[j], m->dact[0][j] * gam[c] / sqrt(var[c] + 1e-5), 1e-5);
            }
    al_model_free(m);
}

/* Eval mode on a trainable BN still differentiates (dx and weight grads)
 * through the fixed running statistics: a finite-difference check by hand. */
static void test_eval_backward(void) {
    al_model *m;
    REQUIRE_OK(al_model_from_spec("input 3; batchnorm", 1, &m));
    m->want_input_grad = 1;
    REQUIRE_OK(al_model_plan(m, 2));
    al_node *bn = &m->nodes[0];
    for (int c = 0; c < 3; c++) {
        bn->params[0].w[c] = 0.5f + (float)c;
        bn->params[1].w[c] = -0.25f * (float)c;
        bn->params[2].w[c] = 0.3f * (float)c;
        bn->params[3].w[c] = 1.0f + (float)c;
    }
    const float x[6] = {0.2f, -1.0f, 2.0f, 1.5f, 0.0f, -0.7f}, dl[6] = {1, -2, 0.5f, 3, 1, -1};
    const float *y;
    al_model_zero_grad(m);
    REQUIRE_OK(al_model_forward_from(m, NULL, 0, x, 2, 0, &y));
    REQUIRE_OK(al_model_backward(m, NULL, x, dl, 2));
    for (int c = 0; c < 3; c++) {
        double is = 1.0 / sqrt(1.0 + c + 1e-5), gw = 0, gb = 0;
        for (int b = 0; b < 2; b++) {
            gw += dl[b * 3 + c] * (x[b * 3 + c] - 0.3 * c) * is;
            gb += dl[b * 3 + c];
            CHECK_NEAR(m->dinput[b * 3 + c], dl[b * 3 + c] * (0.5 + c) * is, 1e-5);
        }
        CHECK_NEAR(bn->params[0].g[c], gw, 1e-5);
        CHECK_NEAR(bn->params[1].g[c], gb, 1e-5);
    }
    al_model_free(m);
}

static void test_errors_and_threads(void) {
    al_model *m = NULL;
    /* the spec parser rejects these already; the layer checks direct builds */
    al_shape in = {1, {3, 0, 0}};
    al_layer_cfg c;
    memset(&c, 0, sizeof c);
    c.type = AL_L_BATCHNORM;
    c.momentum = 2.0f;
    CHECK_STATUS(al_model_build(&in, 0, &c, 1, &m), AL_EINVAL);
    CHECK(strstr(al_last_error(), "momentum") != NULL);
    CHECK(m == NULL);
    /* channel-parallel statistics: same result with 1 and 3 threads */
    al_pool *pool;
    REQUIRE_OK(al_pool_new(3, &pool));
    enum { N = 8, C = 16, S = 24 * 24 };
    float *x = malloc(sizeof(float) * N * C * S), *dl = malloc(sizeof(float) * N * C * S);
    float *out[2], *din[2], rv[2][C];
    al_rng r;
    al_rng_seed(&r, 11, 2);
    for (int i = 0; i < N * C * S; i++) {
        x[i] = al_rng_normal(&r) + 0.5f;
        dl[i] = al_rng_normal(&r);
    }
    for (int t = 0; t < 2; t++) {
        REQUIRE_OK(al_model_from_spec("input 16x24x24; batchnorm", 1, &m));
        m->want_input_grad = 1;
        REQUIRE_OK(al_model_plan(m, N));
        const float *y;
        REQUIRE_OK(al_model_forward_from(m, t ? pool : NULL, 0, x, N, 1, &y));
        out[t] = malloc(sizeof(float) * N * C * S);
        memcpy(out[t], y, sizeof(float) * N * C * S);
        REQUIRE_OK(al_model_backward(m, t ? pool : NULL, x, dl, N));
        din[t] = malloc(sizeof(float) * N * C * S);
        memcpy(din[t], m->dinput, sizeof(float) * N * C * S);
        memcpy(rv[t], m->nodes[0].params[3].w, sizeof(float) * C);
        al_model_free(m);
    }
    CHECK(memcmp(out[0], out[1], sizeof(float) * N * C * S) == 0);
    CHECK(memcmp(din[0], din[1], sizeof(float) * N * C * S) == 0);
    CHECK(memcmp(rv[0], rv[1], sizeof rv[0]) == 0);
    for (int t = 0; t < 2; t++) {
        free(out[t]);
        free(din[t]);
    }
    free(x);
    free(dl);
    al_pool_free(pool);
}

int main(void) {
    test_gradchecks();
    test_running_stats_vector();
    test_running_stats_image();
    test_frozen();
    test_eval_backward();
    test_errors_and_threads();
    TEST_END("test_batchnorm");
}
