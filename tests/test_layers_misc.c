/* dropout, flatten, add (residual) and embedding: gradient checks, values,
 * modes, errors and thread-count independence. */
#include "al_test.h"

static al_model *build(const char *spec, int maxbatch, int want_input_grad) {
    al_model *m;
    REQUIRE_OK(al_model_from_spec(spec, 1, &m));
    m->want_input_grad = want_input_grad;
    REQUIRE_OK(al_model_plan(m, maxbatch));
    return m;
}

static int gradchecks(const char *const *specs, size_t n, const gc_opts *o) {
    int fails = 0;
    for (size_t i = 0; i < n; i++) {
        int f = gradcheck_spec(specs[i], o);
        if (f) fprintf(stderr, "gradcheck failed: %s\n", specs[i]);
        fails += f != 0;
    }
    return fails;
}

/* ---- dropout ------------------------------------------------------------------ */

static void test_dropout(void) {
    enum { N = 100, K = 1000 };
    float *x = malloc(sizeof(float) * N * K), *y1 = malloc(sizeof(float) * N * K);
    al_rng r;
    al_rng_seed(&r, 4, 4);
    for (int i = 0; i < N * K; i++) x[i] = al_rng_normal(&r) + 0.01f; /* never exactly 0 */
    al_model *m = build("input 1000; dropout 0.3", N, 1);
    const float *y;

    /* eval: the identity */
    REQUIRE_OK(al_model_forward_from(m, NULL, 0, x, N, 0, &y));
    CHECK(memcmp(x, y, sizeof(float) * N * K) == 0);

    /* training: about 30% zeroed, the rest scaled by 1/0.7 */
    REQUIRE_OK(al_model_forward_from(m, NULL, 0, x, N, 1, &y));
    long zeros = 0, badscale = 0;
    float keep = 1.0f / (1.0f - 0.3f);
    for (int i = 0; i < N * K; i++) {
        if (y[i] == 0.0f)
            zeros++;
        else if (y[i] != x[i] * keep)
            badscale++;
    }
    double rate = (double)zeros / (N * K);
    CHECK_NEAR(rate, 0.3, 0.01); /* 7 standard deviations at 1e5 draws */
    CHECK(badscale == 0);
    memcpy(y1, y, sizeof(float) * N * K);

    /* backward multiplies by the same mask */
    float *dl = malloc(sizeof(float) * N * K);
    for (int i = 0; i < N * K; i++) dl[i] = 2.0f;
    REQUIRE_OK(al_model_backward(m, NULL, x, dl, N));
    long mism = 0;
    for (int i = 0; i < N * K; i++)
        if (m->dinput[i] != (y1[i] == 0.0f ? 0.0f : 2.0f * keep)) mism++;
    CHECK(mism == 0);

    /* the stream moves on: the next mask differs */
    REQUIRE_OK(al_model_forward_from(m, NULL, 0, x, N, 1, &y));
    CHECK(memcmp(y, y1, sizeof(float) * N * K) != 0);
    /* after an eval forward, backward is the identity too */
    REQUIRE_OK(al_model_forward_from(m, NULL, 0, x, N, 0, &y));
    REQUIRE_OK(al_model_backward(m, NULL, x, dl, N));
    CHECK(m->dinput[0] == 2.0f && m->dinput[N * K - 1] == 2.0f);
    al_model_free(m);

    /* frozen dropout: identity even in a training pass */
    m = build("input 1000; dropout 0.5; dense 2", N, 0);
    REQUIRE_OK(al_model_freeze(m, 1));
    REQUIRE_OK(al_model_forward_from(m, NULL, 0, x, N, 1, &y));
    CHECK(memcmp(m->act[0], x, sizeof(float) * N * K) == 0);
    al_model_free(m);

    /* same mask and result with 1 and 3 threads (the mask is drawn serially) */
    al_pool *pool;
    REQUIRE_OK(al_pool_new(3, &pool));
    m = build("input 1000; dropout 0.4", N, 0);
    REQUIRE_OK(al_model_forward_from(m, NULL, 0, x, N, 1, &y));
    memcpy(y1, y, sizeof(float) * N * K);
    al_model_free(m);
    m = build("input 1000; dropout 0.4", N, 0);
    REQUIRE_OK(al_model_forward_from(m, pool, 0, x, N, 1, &y));
    CHECK(memcmp(y1, y, sizeof(float) * N * K) == 0);
    al_model_free(m);
    al_pool_free(pool);

    gc_opts o = gc_defaults();
    const char *specs[] = {"input 10; dense 8; dropout 0.3; dense 3", "input 3x4; dropout 0.5",
                           "input 2x3x3; dropout 0.2; dense 2"};
    CHECK(gradchecks(specs, sizeof specs / sizeof specs[0], &o) == 0);
    free(dl);
    free(x);
    free(y1);
}

/* ---- flatten -------------------------------------------------------------------- */

static void test_flatten(void) {
    al_model *m = build("input 2x3x4; flatten", 2, 1);
    CHECK(m->nodes[0].out.ndim == 1 && m->nodes[0].out.d[0] == 24);
    CHECK(al_model_macs(m) == 0);
    float x[48], dl[48];
    for (int i = 0; i < 48; i++) {
        x[i] = (float)i - 20.0f;
        dl[i] = 0.5f * (float)i;
    }
    const float *y;
    REQUIRE_OK(al_model_forward_from(m, NULL, 0, x, 2, 1, &y));
    CHECK(memcmp(x, y, sizeof x) == 0);
    REQUIRE_OK(al_model_backward(m, NULL, x, dl, 2));
    CHECK(memcmp(dl, m->dinput, sizeof dl) == 0);
    al_model_free(m);
    gc_opts o = gc_defaults();
    const char *specs[] = {"input 2x3x4; flatten; dense 3", "input 2x3x4; dense 5; flatten; dense 2",
                           "input 6; flatten; dense 2"};
    CHECK(gradchecks(specs, sizeof specs / sizeof specs[0], &o) == 0);
}

/* ---- add -------------------------------------------------------------------------- */

static void test_add(void) {
    /* add -1 straight on the input: y = 2x, dx = 2 dy */
    al_model *m = build("input 3; add -1", 2, 1);
    const float x[6] = {1, -2, 0.5f, 3, 0, -1}, dl[6] = {1, 2, 3, -1, -2, -3};
    const float *y;
    REQUIRE_OK(al_model_forward_from(m, NULL, 0, x, 2, 1, &y));
    for (int i = 0; i < 6; i++) CHECK_NEAR(y[i], 2 * x[i], 0);
    REQUIRE_OK(al_model_backward(m, NULL, x, dl, 2));
    for (int i = 0; i < 6; i++) CHECK_NEAR(m->dinput[i], 2 * dl[i], 0);
    al_model_free(m);

    /* the operand is the earlier node's output */
    m = build("input 3; dense 3; tanh; add 0", 2, 0);
    REQUIRE_OK(al_model_forward_from(m, NULL, 0, x, 2, 1, &y));
    for (int i = 0; i < 6; i++) CHECK_NEAR(y[i], m->act[0][i] + tanhf(m->act[0][i]), 1e-6);
    al_model_free(m);

    al_model *bad = NULL;
    CHECK_STATUS(al_model_from_spec("input 3; dense 3; add 5", 1, &bad), AL_EINVAL);
    CHECK_STATUS(al_model_from_spec("input 3; dense 2; add -1", 1, &bad), AL_ESHAPE);
    CHECK(bad == NULL);

    gc_opts o = gc_defaults();
    const char *specs[] = {
        "input 4; dense 4; relu; dense 4; add 0",
        "input 4; dense 4; add -1",
        "input 4; dense 4; relu; dense 4; add -1; dense 2",
        "input 3; add -1",
        "input 4; dense 4; tanh; add 0; dense 4; add 2; dense 2", /* node 0 feeds two places */
        "input 2x3x3; dense 3; sigmoid; add 0; dense 2",
    };
    CHECK(gradchecks(specs, sizeof specs / sizeof specs[0], &o) == 0);
}

/* ---- embedding ------------------------------------------------------------------ */

static void test_embedding(void) {
    al_model *m = build("tokens 5; embedding 3 vocab=7; dense 2", 2, 0);
    al_node *em = &m->nodes[0];
    CHECK(em->out.ndim == 2 && em->out.d[0] == 5 && em->out.d[1] == 3);
    CHECK(em->params[0].dims[0] == 7 && em->params[0].dims[1] == 3);
    const float ids[10] = {0, 6, 3, 3, 1, 2, 2, 5, 4, 0};
    const float *y;
    REQUIRE_OK(al_model_forward_from(m, NULL, 0, ids, 2, 1, &y));
    for (int t = 0; t < 10; t++)
        for (int j = 0; j < 3; j++) CHECK(m->act[0][t * 3 + j] == em->params[0].w[(int)ids[t] * 3 + j]);

    /* weight gradient: rows accumulate the dy of every occurrence */
    float dl[20];
    for (int i = 0; i < 20; i++) dl[i] = (float)(i % 5) - 2.0f;
    al_model_zero_grad(m);
    REQUIRE_OK(al_model_backward(m, NULL, ids, dl, 2));
    float want[21] = {0};
    for (int t = 0; t < 10; t++)
        for (int j = 0; j < 3; j++) want[(int)ids[t] * 3 + j] += m->dact[0][t * 3 + j];
    for (int i = 0; i < 21; i++) CHECK_NEAR(em->params[0].g[i], want[i], 1e-6);

    /* bad ids: an error naming the id and where it is, never a crash */
    float bad[10];
    memcpy(bad, ids, sizeof bad);
    bad[7] = 7.0f;
    CHECK_STATUS(al_model_forward_from(m, NULL, 0, bad, 2, 1, &y), AL_ERANGE);
    CHECK(strstr(al_last_error(), "token id 7 at sample 1 position 2") != NULL);
    bad[7] = -1.0f;
    CHECK_STATUS(al_model_forward_from(m, NULL, 0, bad, 2, 0, &y), AL_ERANGE);
    CHECK(strstr(al_last_error(), "-1") != NULL);
    bad[7] = NAN;
    CHECK_STATUS(al_model_forward_from(m, NULL, 0, bad, 2, 0, &y), AL_ERANGE);
    bad[7] = 2.5f;
    CHECK_STATUS(al_model_forward_from(m, NULL, 0, bad, 2, 0, &y), AL_ERANGE);
    bad[7] = 1e30f;
    CHECK_STATUS(al_model_forward_from(m, NULL, 0, bad, 2, 0, &y), AL_ERANGE);
    CHECK_OK(al_model_forward_from(m, NULL, 0, ids, 2, 0, &y));

    /* frozen: no weight gradient, and the (meaningless) input gradient is 0 */
    REQUIRE_OK(al_model_freeze(m, 1));
    m->want_input_grad = 1;
    REQUIRE_OK(al_model_plan(m, 2));
    REQUIRE_OK(al_model_forward_from(m, NULL, 0, ids, 2, 1, &y));
    al_model_zero_grad(m);
    for (int i = 0; i < 10; i++) m->dinput[i] = 123.0f; /* must be overwritten */
    REQUIRE_OK(al_model_backward(m, NULL, ids, dl, 2));
    for (int i = 0; i < 21; i++) CHECK(em->params[0].g[i] == 0.0f);
    for (int i = 0; i < 10; i++) CHECK(m->dinput[i] == 0.0f);
    al_model_free(m);

    /* init N(0,1), like PyTorch */
    REQUIRE_OK(al_model_from_spec("tokens 2; embedding 40 vocab=500", 7, &m));
    double s = 0, q = 0;
    size_t cnt = m->nodes[0].params[0].n;
    for (size_t i = 0; i < cnt; i++) {
        s += m->nodes[0].params[0].w[i];
        q += (double)m->nodes[0].params[0].w[i] * m->nodes[0].params[0].w[i];
    }
    CHECK_NEAR(s / cnt, 0.0, 0.03);
    CHECK_NEAR(q / cnt, 1.0, 0.05);
    CHECK(al_model_num_params(m) == 500 * 40);
    al_model_free(m);

    gc_opts o = gc_defaults();
    const char *specs[] = {"tokens 5; embedding 3 vocab=7; dense 2", "tokens 6; embedding 4 vocab=3; tanh; dense 3",
                           "tokens 1; embedding 2 vocab=1"};
    CHECK(gradchecks(specs, sizeof specs / sizeof specs[0], &o) == 0);
}

/* Residual add and embedding split work over threads: same results. */
static void test_threads(void) {
    al_pool *pool;
    REQUIRE_OK(al_pool_new(3, &pool));
    enum { N = 8, T = 64, D = 256, V = 50 };
    float *ids = malloc(sizeof(float) * N * T), *out[2], *g[2];
    al_rng r;
    al_rng_seed(&r, 1, 1);
    for (int i = 0; i < N * T; i++) ids[i] = (float)al_rng_below(&r, V);
    float *dl = malloc(sizeof(float) * N * T * D);
    for (int i = 0; i < N * T * D; i++) dl[i] = al_rng_normal(&r);
    for (int t = 0; t < 2; t++) {
        al_model *m;
        REQUIRE_OK(al_model_from_spec("tokens 64; embedding 256 vocab=50; relu; add 0", 3, &m));
        REQUIRE_OK(al_model_plan(m, N));
        const float *y;
        REQUIRE_OK(al_model_forward_from(m, t ? pool : NULL, 0, ids, N, 1, &y));
        out[t] = malloc(sizeof(float) * N * T * D);
        memcpy(out[t], y, sizeof(float) * N * T * D);
        al_model_zero_grad(m);
        REQUIRE_OK(al_model_backward(m, t ? pool : NULL, ids, dl, N));
        g[t] = malloc(sizeof(float) * V * D);
        memcpy(g[t], m->nodes[0].params[0].g, sizeof(float) * V * D);
        al_model_free(m);
    }
    CHECK(memcmp(out[0], out[1], sizeof(float) * N * T * D) == 0);
    CHECK(memcmp(g[0], g[1], sizeof(float) * V * D) == 0);
    for (int t = 0; t < 2; t++) {
        free(out[t]);
        free(g[t]);
    }
    free(ids);
    free(dl);
    al_pool_free(pool);
}

int main(void) {
    test_dropout();
    test_flatten();
    test_add();
    test_embedding();
    test_threads();
    TEST_END("test_layers_misc");
}
