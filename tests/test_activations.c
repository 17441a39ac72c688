/* Element-wise activations: relu, relu6, tanh, sigmoid, hardswish,
 * hardsigmoid. Gradient checks, values and input gradients at known points
 * (PyTorch's at the kinks), and thread-count independence; the in-place
 * ReLU / ReLU6 kernels (kernels.h: al_act_*, the fused activations) of
 * every variant the CPU has against the plain-C reference, bitwise. */
#include "al_test.h"
#include "kernels/kernels.h"

#include <float.h>

/* Runs a one-layer model "input 8; <act>" forward on x (8 values) and
 * backward with dy = 1 + i; fills y and dx. */
static void run_points(const char *act, const float *x, float *y, float *dx) {
    char spec[64];
    snprintf(spec, sizeof spec, "input 8; %s", act);
    al_model *m;
    REQUIRE_OK(al_model_from_spec(spec, 1, &m));
    m->want_input_grad = 1;
    REQUIRE_OK(al_model_plan(m, 1));
    const float *out;
    REQUIRE_OK(al_model_forward_from(m, NULL, 0, x, 1, 1, &out));
    memcpy(y, out, sizeof(float) * 8);
    float dy[8];
    for (int i = 0; i < 8; i++) dy[i] = 1.0f + (float)i;
    REQUIRE_OK(al_model_backward(m, NULL, x, dy, 1));
    memcpy(dx, m->dinput, sizeof(float) * 8);
    al_model_free(m);
}

static void test_gradchecks(void) {
    gc_opts o = gc_defaults();
    const char *specs[] = {
        "input 6; dense 8; relu; dense 3",          "input 2x3x4; relu",
        "input 6; dense 8; relu6; dense 3",         "input 2x3x4; relu6",
        "input 6; dense 8; tanh; dense 3",          "input 2x3x4; tanh",
        "input 6; dense 8; sigmoid; dense 3",       "input 2x3x4; sigmoid",
        "input 5; dense 7; tanh; dense 7; sigmoid",
        "input 6; dense 8; hardswish; dense 3",     "input 2x3x4; hardswish",
        "input 6; dense 8; hardsigmoid; dense 3",   "input 2x3x4; hardsigmoid",
        "input 2x5x5; conv 3 k=3 p=1; hardswish; gap; dense 3; hardsigmoid",
    };
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        int f = gradcheck_spec(specs[i], &o);
        if (f) fprintf(stderr, "gradcheck failed: %s\n", specs[i]);
        CHECK(f == 0);
    }
}

/* A gradient check of a model whose first dense weights are scaled by 6, so
 * that the pre-activations spread over every piece of a hard activation
 * (x < -3, the middle, x > 3); the finite differences skip points within eps
 * of a kink. */
static void test_gradcheck_wide(void) {
    const char *acts[] = {"hardswish", "hardsigmoid"};
    for (size_t a = 0; a < 2; a++) {
        char spec[96];
        snprintf(spec, sizeof spec, "input 8; dense 24; %s; dense 3", acts[a]);
        al_model *m;
        REQUIRE_OK(al_model_from_spec(spec, 42, &m));
        for (size_t k = 0; k < m->nodes[0].params[0].n; k++) m->nodes[0].params[0].w[k] *= 6.0f;
        m->want_input_grad = 1;
        REQUIRE_OK(al_model_plan(m, 3));
        float x[3 * 8], r[3 * 3];
        al_rng g;
        al_rng_seed(&g, 3, 3);
        for (int k = 0; k < 3 * 8; k++) x[k] = al_rng_normal(&g);
        for (int k = 0; k < 3 * 3; k++) r[k] = al_rng_normal(&g);
        gc_opts o = gc_defaults();
        o.eps = 1e-3;
        al_model_zero_grad(m);
        (void)gc_loss(m, NULL, x, r, 3, o.seed);
        REQUIRE_OK(al_model_backward(m, NULL, x, r, 3));
        /* the pre-activations do land in every piece */
        int lo = 0, mid = 0, hi = 0;
        for (int k = 0; k < 3 * 24; k++) {
            float v = m->act[0][k];
            lo += v < -3.0f;
            hi += v > 3.0f;
            mid += v > -3.0f && v < 3.0f;
        }
        CHECK(lo > 5 && mid > 5 && hi > 5);
        for (int i = 0; i < m->nnodes; i++)
            for (int p = 0; p < m->nodes[i].nparams; p++) {
                al_param *pr = &m->nodes[i].params[p];
                float *gr = malloc(sizeof(float) * pr->n);
                memcpy(gr, pr->g, sizeof(float) * pr->n);
                int f = gc_compare(spec, pr->w, gr, pr->n, m, x, r, 3, &o);
                if (f) fprintf(stderr, "gradcheck failed: %s node %d %s\n", spec, i, pr->name);
                CHECK(f == 0);
                free(gr);
            }
        float gx[3 * 8];
        memcpy(gx, m->dinput, sizeof gx);
        CHECK(gc_compare(spec, x, gx, 3 * 8, m, x, r, 3, &o) == 0);
        al_model_free(m);
    }
}

static void test_values(void) {
    const float x[8] = {-3.0f, -0.5f, 0.0f, 0.25f, 2.0f, 5.5f, 6.0f, 7.5f};
    float y[8], dx[8];

    run_points("relu", x, y, dx);
    const float ry[8] = {0, 0, 0, 0.25f, 2.0f, 5.5f, 6.0f, 7.5f};
    for (int i = 0; i < 8; i++) {
        CHECK_NEAR(y[i], ry[i], 0);
        CHECK_NEAR(dx[i], x[i] > 0 ? 1.0f + (float)i : 0.0f, 0); /* 0 at x = 0, like PyTorch */
    }

    run_points("relu6", x, y, dx);
    const float r6[8] = {0, 0, 0, 0.25f, 2.0f, 5.5f, 6.0f, 6.0f};
    for (int i = 0; i < 8; i++) {
        CHECK_NEAR(y[i], r6[i], 0);
        CHECK_NEAR(dx[i], x[i] > 0 && x[i] < 6 ? 1.0f + (float)i : 0.0f, 0); /* strict at 0 and 6 */
    }

    /* NaN propagates through the forward */
    const float nanx[8] = {NAN, 1, -1, NAN, 0, 0, 7, NAN};
    run_points("relu", nanx, y, dx);
    CHECK(isnan(y[0]) && isnan(y[3]) && y[1] == 1.0f && y[2] == 0.0f);
    run_points("relu6", nanx, y, dx);
    CHECK(isnan(y[0]) && isnan(y[7]) && y[6] == 6.0f);

    /* reference values from double-precision libm */
    run_points("tanh", x, y, dx);
    for (int i = 0; i < 8; i++) {
        double t = tanh((double)x[i]);
        CHECK_NEAR(y[i], t, 2e-7);
        CHECK_NEAR(dx[i], (1.0 + i) * (1.0 - t * t), 1e-6 * (1.0 + i));
    }
    CHECK_NEAR(y[3], 0.24491866240370913, 1e-7);

    run_points("sigmoid", x, y, dx);
    for (int i = 0; i < 8; i++) {
        double s = 1.0 / (1.0 + exp(-(double)x[i]));
        CHECK_NEAR(y[i], s, 2e-7);
        CHECK_NEAR(dx[i], (1.0 + i) * s * (1.0 - s), 1e-6 * (1.0 + i));
    }
    CHECK_NEAR(y[2], 0.5, 0);
    CHECK_NEAR(y[4], 0.8807970779778823, 1e-7);

    /* hardswish and hardsigmoid: PyTorch's values and gradients, kinks
     * included (torch 1.13: hardswish'(-3) = -1/2, hardswish'(3) = 3/2;
     * hardsigmoid' is 0 at both kinks) */
    const float hx[8] = {-4.0f, -3.0f, -1.5f, 0.0f, 1.0f, 3.0f, 3.5f, -2.9999998f};
    run_points("hardswish", hx, y, dx);
    for (int i = 0; i < 8; i++) {
        float rr = fminf(fmaxf(hx[i] + 3.0f, 0.0f), 6.0f);
        CHECK_NEAR(y[i], hx[i] * rr / 6.0f, 0);
    }
    CHECK(y[0] == 0.0f && y[1] == 0.0f && y[3] == 0.0f && y[5] == 3.0f && y[6] == 3.5f);
    CHECK_NEAR(y[2], -0.375f, 1e-7);
    CHECK_NEAR(y[4], 2.0f / 3.0f, 1e-7);
    const float hd[8] = {0.0f, -0.5f, 0.0f, 0.5f, 1.0f / 3.0f + 0.5f, 1.5f, 1.0f, -2.9999998f / 3.0f + 0.5f};
    for (int i = 0; i < 8; i++) CHECK_NEAR(dx[i], (1.0f + (float)i) * hd[i], 1e-6 * (1.0 + i));
    run_points("hardsigmoid", hx, y, dx);
    const float sy[8] = {0.0f, 0.0f, 0.25f, 0.5f, 4.0f / 6.0f, 1.0f, 1.0f, 2.3841858e-07f / 6.0f};
    for (int i = 0; i < 8; i++) CHECK_NEAR(y[i], sy[i], 1e-7);
    for (int i = 0; i < 8; i++)
        CHECK_NEAR(dx[i], hx[i] > -3.0f && hx[i] < 3.0f ? (1.0f + (float)i) * (1.0f / 6.0f) : 0.0f, 1e-6 * (1.0 + i));
    run_points("hardswish", nanx, y, dx);
    CHECK(isnan(y[0]) && isnan(y[7]) && y[6] == 7.0f && y[2] == -1.0f * 2.0f / 6.0f);
    run_points("hardsigmoid", nanx, y, dx);
    CHECK(isnan(y[0]) && isnan(y[7]) && y[6] == 1.0f && dx[0] == 0.0f);

    /* extremes: no overflow, no NaN, saturation */
    const float big[8] = {-200.0f, -90.0f, -20.0f, 20.0f, 90.0f, 200.0f, -1e30f, 1e30f};
    run_points("sigmoid", big, y, dx);
    for (int i = 0; i < 8; i++) {
        CHECK(isfinite(y[i]) && y[i] >= 0.0f && y[i] <= 1.0f);
        CHECK(isfinite(dx[i]));
    }
    CHECK(y[0] == 0.0f && y[5] == 1.0f && y[6] == 0.0f && y[7] == 1.0f);
    run_points("tanh", big, y, dx);
    CHECK(y[0] == -1.0f && y[5] == 1.0f && dx[0] == 0.0f && dx[5] == 0.0f);
}

/* Same outputs and gradients, bit for bit, with 1 and 3 threads. */
static void test_threads(void) {
    const char *acts[] = {"relu", "relu6", "tanh", "sigmoid", "hardswish", "hardsigmoid"};
    al_pool *pool;
    REQUIRE_OK(al_pool_new(3, &pool));
    int n = 4, k = 20000;
    float *x = malloc(sizeof(float) * (size_t)n * k), *dl = malloc(sizeof(float) * (size_t)n * k);
    float *out[2], *din[2];
    al_rng r;
    al_rng_seed(&r, 9, 1);
    for (int i = 0; i < n * k; i++) {
        x[i] = 4.0f * al_rng_normal(&r);
        dl[i] = al_rng_normal(&r);
    }
    for (int t = 0; t < 2; t++) {
        out[t] = malloc(sizeof(float) * (size_t)n * k);
        din[t] = malloc(sizeof(float) * (size_t)n * k);
    }
    for (size_t a = 0; a < sizeof acts / sizeof acts[0]; a++) {
        char spec[64];
        snprintf(spec, sizeof spec, "input %d; %s", k, acts[a]);
        for (int t = 0; t < 2; t++) {
            al_model *m;
            REQUIRE_OK(al_model_from_spec(spec, 1, &m));
            m->want_input_grad = 1;
            REQUIRE_OK(al_model_plan(m, n));
            const float *y;
            REQUIRE_OK(al_model_forward_from(m, t ? pool : NULL, 0, x, n, 1, &y));
            memcpy(out[t], y, sizeof(float) * (size_t)n * k);
            REQUIRE_OK(al_model_backward(m, t ? pool : NULL, x, dl, n));
            memcpy(din[t], m->dinput, sizeof(float) * (size_t)n * k);
            al_model_free(m);
        }
        CHECK(memcmp(out[0], out[1], sizeof(float) * (size_t)n * k) == 0);
        CHECK(memcmp(din[0], din[1], sizeof(float) * (size_t)n * k) == 0);
    }
    for (int t = 0; t < 2; t++) {
        free(out[t]);
        free(din[t]);
    }
    free(x);
    free(dl);
    al_pool_free(pool);
}

/* Every available variant == the reference, bit for bit, on the special
 * values (NaN of both signs, +-0, +-inf, around 0 and 6) and random ones,
 * lengths 0 .. 40 and 1001 (tails of 8 and 16), at an unaligned start;
 * elements past the length stay untouched. */
static void test_kernels(void) {
    typedef void (*fn)(float *, size_t);
    typedef struct variant { int isa; fn relu, relu6; } variant;
    variant vs[3] = {{0, al_relu_inplace, al_relu6_inplace}}; /* the dispatch: the best variant */
    int nv = 1;
#if defined(__x86_64__) || defined(_M_X64)
    if (al_act_isa_available(1)) vs[nv++] = (variant){1, al_relu_inplace_avx2, al_relu6_inplace_avx2};
    if (al_act_isa_available(2)) vs[nv++] = (variant){2, al_relu_inplace_avx512, al_relu6_inplace_avx512};
    CHECK(nv > 1);
#endif
    enum { NMAX = 1001 };
    static float x[NMAX + 8], want[NMAX + 8], got[NMAX + 8];
    const float special[] = {NAN, -NAN, 0.0f, -0.0f, INFINITY, -INFINITY, -1e-30f, 1e-30f, 5.9999995f,
                             6.0f, 6.0000005f, 7.0f, -7.0f, 3.0f, -FLT_MIN, FLT_MAX};
    al_rng r;
    al_rng_seed(&r, 5, 5);
    for (int i = 0; i < NMAX + 8; i++)
        x[i] = i % 3 == 0 ? special[(i / 3) % (sizeof special / sizeof *special)] : 16.0f * al_rng_uniform(&r) - 6.0f;
    int lens[42];
    for (int i = 0; i <= 40; i++) lens[i] = i;
    lens[41] = NMAX;
    int bad = 0, clipped = 0;
    for (int v = 0; v < nv; v++)
        for (int a = 0; a < 2; a++)
            for (int li = 0; li < 42; li++) {
                size_t n = (size_t)lens[li];
                memcpy(want, x, sizeof x);
                memcpy(got, x, sizeof x);
                (a ? al_relu6_inplace_ref : al_relu_inplace_ref)(want + 1, n);
                (a ? vs[v].relu6 : vs[v].relu)(got + 1, n);
                if (memcmp(want, got, sizeof want) != 0) {
                    bad++;
                    fprintf(stderr, "act kernel isa %d %s n=%zu differs from the reference\n", vs[v].isa,
                            a ? "relu6" : "relu", n);
                }
                for (size_t i = 1; a && i <= n; i++) clipped += want[i] == 6.0f && x[i] != 6.0f;
            }
    CHECK(bad == 0);
    CHECK(clipped > 0);
    /* the reference's rules */
    float t[6] = {-0.0f, NAN, -2.0f, 8.0f, 2.5f, -0.0f};
    al_relu_inplace_ref(t, 3);
    al_relu6_inplace_ref(t + 3, 3);
    CHECK(t[0] == 0.0f && !signbit(t[0]) && isnan(t[1]) && t[2] == 0.0f);
    CHECK(t[3] == 6.0f && t[4] == 2.5f && t[5] == 0.0f && signbit(t[5]));
}

int main(void) {
    test_kernels();
    test_gradchecks();
    test_gradcheck_wide();
    test_values();
    test_threads();
    TEST_END("test_activations");
}
