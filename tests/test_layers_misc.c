/* dropout, flatten, add (residual), mul (squeeze-excite scale) and
 * embedding: gradient checks, values, modes, errors, the memory plan's
 * liveness of mul's second operand, and thread-count independence. */
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

/* ---- mul ------------------------------------------------------------------------ */

/* A squeeze-excite block: node 1 (relu, [4,5,5]) is scaled per channel by
 * the gate computed from it (gap -> dense -> relu -> dense -> hardsigmoid). */
#define SE_SPEC "input 3x5x5; conv 4 k=3 p=1; relu; gap; dense 2; relu; dense 4; hardsigmoid; mul 1; conv 3 k=1; flatten; dense 3"

static void test_mul_values(void) {
    /* mul -1 on the input: y = x * x, dx = 2 x dy (both operands are x) */
    al_model *m = build("input 3; mul -1", 2, 1);
    const float x[6] = {1, -2, 0.5f, 3, 0, -1}, dl[6] = {1, 2, 3, -1, -2, -3};
    const float *y;
    REQUIRE_OK(al_model_forward_from(m, NULL, 0, x, 2, 1, &y));
    for (int i = 0; i < 6; i++) CHECK_NEAR(y[i], x[i] * x[i], 0);
    REQUIRE_OK(al_model_backward(m, NULL, x, dl, 2));
    for (int i = 0; i < 6; i++) CHECK_NEAR(m->dinput[i], 2 * x[i] * dl[i], 0);
    CHECK(al_model_macs(m) == 3);
    al_model_free(m);

    /* a per-channel scale [C] of an earlier [C,H,W]: y = x2 * s[c]; the
     * scale's gradient is sum over H,W of dy * x2, the earlier node's
     * gradient dy * s[c] on top of what its successor sends */
    m = build("input 2x2x3; gap; mul -1", 2, 1);
    CHECK(m->nodes[1].out.ndim == 3 && m->nodes[1].out.d[0] == 2 && m->nodes[1].out.d[2] == 3);
    CHECK(al_model_macs(m) == 12 + 12);
    float xi[24], dy[24];
    for (int i = 0; i < 24; i++) {
        xi[i] = 0.25f * (float)(i % 7) - 0.5f;
        dy[i] = 0.5f * (float)(i % 5) - 1.0f;
    }
    REQUIRE_OK(al_model_forward_from(m, NULL, 0, xi, 2, 1, &y));
    for (int b = 0; b < 2; b++)
        for (int c = 0; c < 2; c++) {
            double mean = 0;
            for (int k = 0; k < 6; k++) mean += xi[b * 12 + c * 6 + k];
            mean /= 6;
            CHECK_NEAR(m->act[0][b * 2 + c], mean, 1e-6);
            for (int k = 0; k < 6; k++) CHECK_NEAR(y[b * 12 + c * 6 + k], xi[b * 12 + c * 6 + k] * m->act[0][b * 2 + c], 0);
        }
    REQUIRE_OK(al_model_backward(m, NULL, xi, dy, 2));
    for (int b = 0; b < 2; b++)
        for (int c = 0; c < 2; c++) {
            double ds = 0;
            for (int k = 0; k < 6; k++) ds += (double)dy[b * 12 + c * 6 + k] * xi[b * 12 + c * 6 + k];
            CHECK_NEAR(m->dact[0][b * 2 + c], ds, 1e-6);
            float s = m->act[0][b * 2 + c];
            for (int k = 0; k < 6; k++) { /* through the gap (ds / 6) and through the mul (dy * s) */
                int e = b * 12 + c * 6 + k;
                CHECK_NEAR(m->dinput[e], (float)(ds / 6.0) + dy[e] * s, 1e-6);
            }
        }
    al_model_free(m);

    /* shapes: the scale must be the earlier output's leading dimensions
     * (then ones), the operand an earlier node */
    al_model *bad = NULL;
    CHECK_STATUS(al_model_from_spec("input 3; dense 3; mul 5", 1, &bad), AL_EINVAL);
    CHECK_STATUS(al_model_from_spec("input 3; dense 3; mul 1", 1, &bad), AL_EINVAL);
    CHECK_STATUS(al_model_from_spec("input 3; dense 2; mul -1", 1, &bad), AL_ESHAPE);
    CHECK(strstr(al_last_error(), "leading dimensions") != NULL);
    CHECK_STATUS(al_model_from_spec("input 2x3x3; flatten; dense 3; mul -1", 1, &bad), AL_ESHAPE);
    CHECK_STATUS(al_model_from_spec("input 2x3x3; conv 3 k=1; mul -1", 1, &bad), AL_ESHAPE); /* [3,3,3] vs [2,3,3] */
    CHECK_STATUS(al_model_from_spec("input 2x3x3; maxpool k=3; mul -1", 1, &bad), AL_OK);     /* [2,1,1]: per channel */
    al_model_free(bad);
    bad = NULL;
    CHECK(bad == NULL);
    REQUIRE_OK(al_model_from_spec("input 2x3x3; conv 2 k=3 p=1; mul -1", 1, &bad)); /* element-wise */
    al_model_free(bad);
    REQUIRE_OK(al_model_from_spec("input 4x3x3; dwconv k=3; mul -1", 1, &bad)); /* [4,1,1] per channel */
    CHECK(bad->nodes[1].out.d[0] == 4 && bad->nodes[1].out.d[1] == 3);
    al_model_free(bad);

    gc_opts o = gc_defaults();
    /* the block as MobileNetV3 has it: ReLUs of small layers put points
     * within 1e-2 of a kink, so this one takes smaller steps */
    gc_opts fine = o;
    fine.eps = 1e-3;
    CHECK(gradcheck_spec(SE_SPEC, &fine) == 0);
    const char *specs[] = {
        "input 3x5x5; conv 4 k=3 p=1; tanh; gap; dense 2; tanh; dense 4; hardsigmoid; mul 1; conv 3 k=1; flatten; dense 3",
        "input 3; mul -1",
        "input 4; dense 4; tanh; dense 4; mul 0; dense 2",                      /* element-wise, node 0 feeds two places */
        "input 2x3x4; gap; dense 2; sigmoid; mul -1; dense 3",                  /* the scale of the input */
        "input 3x4x4; conv 4 k=1; gap; dense 4; hardsigmoid; mul 0; add 0; flatten; dense 2", /* mul and add on one node */
        "input 4x3x3; dwconv k=3; mul -1; flatten; dense 2",                    /* a [C,1,1] scale */
        "input 3x4; dense 5; relu; dense 1; mul 1; dense 2",                    /* a per-row [T,1] scale */
    };
    CHECK(gradchecks(specs, sizeof specs / sizeof specs[0], &o) == 0);
}

/* The memory plan keeps node src's output alive until mul's backward: mul's
 * scale gradient reads it there. It matters when backward stops above src
 * (nothing else reads act[src] that late): here the conv, relu and gap are
 * frozen (backward's lowest node L is the first dense, 3) and the mul reads
 * the relu (node 1). Were act[src] released after mul's forward, as an
 * add's operand is, the planner would reuse its bytes for the activations
 * and gradients of the tail before mul's backward reads them; the gradients
 * of the planned model must equal those of the naive layout (every buffer
 * alive throughout) bit for bit. */
static void test_mul_liveness(void) {
    /* a tail after the block: activations and gradients born after mul's
     * forward that could take act[src]'s bytes */
    const char *spec = SE_SPEC "; relu; dense 40; relu; dense 40; relu; dense 3";
    const int B = 4, FREEZE = 3, mul = 7, src = 1;
    al_model *m, *naive;
    REQUIRE_OK(al_model_from_spec(spec, 5, &m));
    REQUIRE_OK(al_model_from_spec(spec, 5, &naive));
    REQUIRE_OK(al_model_freeze(m, FREEZE));
    REQUIRE_OK(al_model_freeze(naive, FREEZE));
    naive->plan_naive = 1;
    const int n = m->nnodes;
    CHECK(m->nodes[mul].cfg.type == AL_L_MUL && m->nodes[mul].cfg.src == src);
    CHECK(al_memplan_lowest(m) == FREEZE);
    al_memplan p;
    REQUIRE_OK(al_memplan_build(m, B, 0, &p));
    char why[256] = "";
    CHECK(al_memplan_check(&p, why, sizeof why) == 0);
    const al_membuf *a = al_memplan_find(&p, AL_MB_ACT, src);
    CHECK(a != NULL && a->t1[a->nlive - 1] >= 2 * n - 1 - mul); /* alive until mul's backward step */
    al_memplan_free(&p);

    size_t xi = (size_t)B * al_shape_numel(&m->in), yo = (size_t)B * 3;
    float *x = malloc(sizeof(float) * xi), *dl = malloc(sizeof(float) * yo);
    al_rng r;
    al_rng_seed(&r, 8, 8);
    for (size_t i = 0; i < xi; i++) x[i] = al_rng_normal(&r);
    for (size_t i = 0; i < yo; i++) dl[i] = al_rng_normal(&r);
    al_model *ms[2] = {m, naive};
    for (int t = 0; t < 2; t++) {
        REQUIRE_OK(al_model_plan(ms[t], B));
        REQUIRE_OK(al_model_forward_from(ms[t], NULL, 0, x, B, 1, NULL));
        al_model_zero_grad(ms[t]);
        REQUIRE_OK(al_model_backward(ms[t], NULL, x, dl, B));
    }
    CHECK(m->nweights == naive->nweights);
    size_t ng = al_model_num_params(m);
    CHECK(memcmp(m->gblock, naive->gblock, sizeof(float) * ng) == 0);
    /* the gate's weights (node 3, dense) got a gradient through mul's scale */
    double gsum = 0;
    for (size_t i = 0; i < m->nodes[3].params[0].n; i++) gsum += fabs(m->nodes[3].params[0].g[i]);
    CHECK(gsum > 0);
    CHECK(al_model_plan_bytes(m, B) < al_model_plan_bytes(naive, B));
    free(x);
    free(dl);
    al_model_free(m);
    al_model_free(naive);
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
    test_mul_values();
    test_mul_liveness();
    test_embedding();
    test_threads();
    TEST_END("test_layers_misc");
}
