/* GRU layer: gradient checks (also from a carried state), carried state
 * across windows (truncated BPTT), threads, shapes, parameter names, MACs,
 * init bound, the spec and the model file. Golden values against PyTorch's
 * nn.GRU are in tests/golden (gru, gru_lm). */
#include "al_test.h"

static void fill_normal(float *v, size_t n, uint64_t seed) {
    al_rng r;
    al_rng_seed(&r, seed, 3);
    for (size_t i = 0; i < n; i++) v[i] = al_rng_normal(&r);
}

/* Central differences of sum(r * y) for every weight, from a carried state
 * restored before every evaluation (a constant for the gradient). */
static double carried_loss(al_model *m, const float *state0, size_t ns, const float *x, const float *rr, int n) {
    memcpy(m->nodes[0].state, state0, sizeof(float) * ns);
    const float *y;
    if (al_model_forward_from(m, NULL, 0, x, n, 0, &y) != AL_OK) return NAN;
    double s = 0;
    for (size_t i = 0; i < (size_t)n * al_shape_numel(&m->nodes[0].out); i++) s += (double)rr[i] * y[i];
    return s;
}

static void test_gradcheck_carried(void) {
    enum { T = 3, E = 2, H = 4, N = 2 };
    al_model *m;
    REQUIRE_OK(al_model_from_spec("input 3x2; gru 4", 71, &m));
    REQUIRE_OK(al_model_plan(m, N));
    al_model_set_carry_state(m, 1);
    float x0[N * T * E], x[N * T * E], rr[N * T * H];
    fill_normal(x0, sizeof x0 / sizeof x0[0], 72);
    fill_normal(x, sizeof x / sizeof x[0], 73);
    fill_normal(rr, sizeof rr / sizeof rr[0], 74);
    const float *y;
    al_model_reset_state(m);
    REQUIRE_OK(al_model_forward_from(m, NULL, 0, x0, N, 0, &y));
    size_t ns = 2 * (size_t)N * H;
    float st0[2 * N * H];
    memcpy(st0, m->nodes[0].state, sizeof st0);
    double sa = 0;
    for (size_t i = 0; i < ns; i++) sa += fabs(st0[i]);
    CHECK(sa > 0.0);
    al_model_zero_grad(m);
    memcpy(m->nodes[0].state, st0, sizeof st0);
    REQUIRE_OK(al_model_forward_from(m, NULL, 0, x, N, 1, &y));
    REQUIRE_OK(al_model_backward(m, NULL, x, rr, N));
    int bad = 0;
    for (int p = 0; p < m->nodes[0].nparams; p++) {
        al_param *pr = &m->nodes[0].params[p];
        for (size_t i = 0; i < pr->n; i++) {
            float orig = pr->w[i];
            pr->w[i] = orig + 1e-2f;
            double fp = carried_loss(m, st0, ns, x, rr, N);
            pr->w[i] = orig - 1e-2f;
            double fm = carried_loss(m, st0, ns, x, rr, N);
            pr->w[i] = orig;
            double de = (double)(orig + 1e-2f) - (double)(orig - 1e-2f);
            double num = (fp - fm) / de, a = pr->g[i];
            if (fabs(num - a) > 2e-3 + 2e-2 * fabs(num)) {
                if (bad++ < 5) fprintf(stderr, "carried gradcheck %s[%zu]: analytic %g numeric %g\n", pr->name, i, a, num);
            }
        }
    }
    CHECK(bad == 0);
    al_model_free(m);
}

/* One window of 6 steps equals two carried windows of 3 (same weights). */
static void test_carry(void) {
    enum { N = 2, E = 3, H = 5 };
    al_model *lg, *sh;
    REQUIRE_OK(al_model_from_spec("input 6x3; gru 5", 9, &lg));
    REQUIRE_OK(al_model_from_spec("input 3x3; gru 5", 9, &sh));
    for (int p = 0; p < 4; p++) {
        CHECK(lg->nodes[0].params[p].n == sh->nodes[0].params[p].n);
        memcpy(sh->nodes[0].params[p].w, lg->nodes[0].params[p].w, sizeof(float) * lg->nodes[0].params[p].n);
    }
    REQUIRE_OK(al_model_plan(lg, N));
    REQUIRE_OK(al_model_plan(sh, N));
    float x[N * 6 * E], xa[N * 3 * E], xb[N * 3 * E], yl[N * 6 * H], ys[N * 6 * H];
    fill_normal(x, sizeof x / sizeof x[0], 5);
    for (int b = 0; b < N; b++) {
        memcpy(xa + b * 3 * E, x + b * 6 * E, sizeof(float) * 3 * E);
        memcpy(xb + b * 3 * E, x + b * 6 * E + 3 * E, sizeof(float) * 3 * E);
    }
    const float *y;
    REQUIRE_OK(al_model_forward_from(lg, NULL, 0, x, N, 0, &y));
    memcpy(yl, y, sizeof yl);
    al_model_set_carry_state(sh, 1);
    al_model_reset_state(sh);
    REQUIRE_OK(al_model_forward_from(sh, NULL, 0, xa, N, 0, &y));
    for (int b = 0; b < N; b++) memcpy(ys + b * 6 * H, y + b * 3 * H, sizeof(float) * 3 * H);
    REQUIRE_OK(al_model_forward_from(sh, NULL, 0, xb, N, 0, &y));
    for (int b = 0; b < N; b++) memcpy(ys + b * 6 * H + 3 * H, y + b * 3 * H, sizeof(float) * 3 * H);
    double d = 0;
    for (size_t i = 0; i < sizeof yl / sizeof yl[0]; i++) d = fmax(d, fabs(yl[i] - ys[i]));
    CHECK(d <= 1e-6);
    /* the state holds h_T in its first maxbatch rows; the second half stays zero */
    CHECK(sh->nodes[0].state[H + 2] == y[(1 * 3 + 2) * H + 2]);
    double cz = 0;
    for (int i = 0; i < N * H; i++) cz += fabs(sh->nodes[0].state[N * H + i]);
    CHECK(cz == 0.0);
    /* without carry, an inference pass leaves the state alone and starts from zero */
    float saved[2 * N * H];
    memcpy(saved, sh->nodes[0].state, sizeof saved);
    al_model_set_carry_state(sh, 0);
    REQUIRE_OK(al_model_forward_from(sh, NULL, 0, xb, N, 0, &y));
    CHECK(memcmp(saved, sh->nodes[0].state, sizeof saved) == 0);
    CHECK(memcmp(y, ys + 3 * H, sizeof(float) * 3 * H) != 0);
    al_model_free(lg);
    al_model_free(sh);
}

static void test_threads(void) {
    enum { N = 64, T = 3, E = 8, H = 64 };
    al_model *m;
    REQUIRE_OK(al_model_from_spec("input 3x8; gru 64", 4, &m));
    m->want_input_grad = 1;
    REQUIRE_OK(al_model_plan(m, N));
    size_t nx = (size_t)N * T * E, ny = (size_t)N * T * H, nw = m->nodes[0].params[1].n;
    float *x = malloc(sizeof(float) * nx), *dy = malloc(sizeof(float) * ny);
    float *y1 = malloc(sizeof(float) * ny), *dx1 = malloc(sizeof(float) * nx), *g1 = malloc(sizeof(float) * nw);
    fill_normal(x, nx, 31);
    fill_normal(dy, ny, 32);
    for (int th = 1; th <= 3; th += 2) {
        al_pool *pool;
        REQUIRE_OK(al_pool_new(th, &pool));
        const float *y;
        al_model_zero_grad(m);
        REQUIRE_OK(al_model_forward_from(m, pool, 0, x, N, 1, &y));
        REQUIRE_OK(al_model_backward(m, pool, x, dy, N));
        if (th == 1) {
            memcpy(y1, y, sizeof(float) * ny);
            memcpy(dx1, m->dinput, sizeof(float) * nx);
            memcpy(g1, m->nodes[0].params[1].g, sizeof(float) * nw);
        } else {
            double dyv = 0, dxv = 0, dg = 0;
            for (size_t i = 0; i < ny; i++) dyv = fmax(dyv, fabs(y[i] - y1[i]));
            for (size_t i = 0; i < nx; i++) dxv = fmax(dxv, fabs(m->dinput[i] - dx1[i]));
            for (size_t i = 0; i < nw; i++) dg = fmax(dg, fabs(m->nodes[0].params[1].g[i] - g1[i]));
            CHECK(dyv <= 1e-5);
            CHECK(dxv <= 1e-4);
            CHECK(dg <= 1e-3);
        }
        al_pool_free(pool);
    }
    free(x);
    free(dy);
    free(y1);
    free(dx1);
    free(g1);
    al_model_free(m);
}

static void test_shapes(void) {
    al_model *m = NULL;
    CHECK_STATUS(al_model_from_spec("input 12; gru 3", 1, &m), AL_ESHAPE);
    CHECK(m == NULL);
    CHECK_STATUS(al_model_from_spec("input 6x4; gru", 1, &m), AL_EINVAL);
    CHECK_STATUS(al_model_from_spec("input 6x4; gru 3 rank=2", 1, &m), AL_EINVAL);
    REQUIRE_OK(al_model_from_spec("input 6x4; gru 3; dense 2", 1, &m));
    const al_node *nd = &m->nodes[0];
    CHECK(nd->cfg.type == AL_L_GRU);
    CHECK(nd->out.ndim == 2 && nd->out.d[0] == 6 && nd->out.d[1] == 3);
    CHECK(nd->nparams == 4);
    CHECK(!strcmp(nd->params[0].name, "weight_ih") && nd->params[0].dims[0] == 9 && nd->params[0].dims[1] == 4);
    CHECK(!strcmp(nd->params[1].name, "weight_hh") && nd->params[1].dims[0] == 9 && nd->params[1].dims[1] == 3);
    CHECK(!strcmp(nd->params[2].name, "bias_ih") && nd->params[2].ndim == 1 && nd->params[2].dims[0] == 9);
    CHECK(!strcmp(nd->params[3].name, "bias_hh") && nd->params[3].ndim == 1 && nd->params[3].dims[0] == 9);
    CHECK(al_model_num_params(m) == 9 * 4 + 9 * 3 + 9 + 9 + 2 * 3 + 2);
    CHECK(al_model_macs(m) == (uint64_t)6 * (4 + 3) * 3 * 3 + 6 * 3 * 2);
    float bound = 1.0f / sqrtf(3.0f), lo = 1, hi = -1;
    for (int p = 0; p < 4; p++)
        for (size_t i = 0; i < nd->params[p].n; i++) {
            lo = fminf(lo, nd->params[p].w[i]);
            hi = fmaxf(hi, nd->params[p].w[i]);
        }
    CHECK(lo >= -bound && hi <= bound && hi - lo > bound);
    /* the spec and the model file round trip */
    CHECK(!strcmp(al_model_spec(m), "input 6x4; gru 3; dense 2"));
    al_model *s;
    REQUIRE_OK(al_model_from_spec(al_model_spec(m), 1, &s));
    CHECK(s->nodes[0].cfg.type == AL_L_GRU && s->nodes[0].cfg.units == 3 && !strcmp(al_model_spec(s), al_model_spec(m)));
    al_model_free(s);
    char path[512];
    snprintf(path, sizeof path, "%s/test_gru.gguf", AL_BINARY_DIR);
    REQUIRE_OK(al_model_save(m, path));
    al_model *l;
    REQUIRE_OK(al_model_load(path, &l));
    remove(path);
    CHECK(l->nodes[0].cfg.type == AL_L_GRU && !strcmp(al_model_spec(l), al_model_spec(m)));
    float x[2 * 24];
    fill_normal(x, 48, 3);
    const float *y1, *y2;
    REQUIRE_OK(al_model_forward_from(m, NULL, 0, x, 2, 0, &y1));
    REQUIRE_OK(al_model_forward_from(l, NULL, 0, x, 2, 0, &y2));
    CHECK(memcmp(y1, y2, sizeof(float) * 2 * 6 * 2) == 0);
    al_model_free(l);
    al_model_free(m);
}

extern const al_layer_vt al_gru_vt;

int main(void) {
    CHECK(al_layer_vtable(AL_L_GRU) == &al_gru_vt);
    gc_opts o = gc_defaults();
    CHECK(gradcheck_spec("input 4x3; gru 5", &o) == 0);
    CHECK(gradcheck_spec("input 1x2; gru 3", &o) == 0);
    CHECK(gradcheck_spec("input 6x4; gru 4; dense 3", &o) == 0);
    if (al_layer_vtable(AL_L_EMBEDDING) != NULL)
        CHECK(gradcheck_spec("tokens 5; embedding 3 vocab=9; gru 4; dense 9", &o) == 0);
    test_gradcheck_carried();
    test_carry();
    test_threads();
    test_shapes();
    TEST_END("test_gru");
}
