/* Pooling layers: maxpool, avgpool, gap. Gradient checks over several
 * geometries (stride != k, padding, odd sizes), hand-computed forwards,
 * shape errors, and thread-count independence. */
#include "al_test.h"

/* Builds `spec`, runs one forward of n samples; returns the model (caller
 * frees) and its output in *y. */
static al_model *fwd(const char *spec, const float *x, int n, al_pool *pool, const float **y) {
    al_model *m;
    REQUIRE_OK(al_model_from_spec(spec, 1, &m));
    REQUIRE_OK(al_model_plan(m, n));
    REQUIRE_OK(al_model_forward_from(m, pool, 0, x, n, 1, y));
    return m;
}

static int contains(const char *s, const char *sub) { return strstr(s, sub) != NULL; }

static int run_gradchecks(const char *const *specs, size_t n, const gc_opts *o) {
    int fails = 0;
    for (size_t i = 0; i < n; i++) {
        int f = gradcheck_spec(specs[i], o);
        if (f) fprintf(stderr, "gradcheck failed: %s\n", specs[i]);
        fails += f != 0;
    }
    return fails;
}

static void test_gradchecks(void) {
    /* Max pooling is piecewise linear: a perturbation larger than the gap
     * between two inputs of a window moves the argmax, and with up to k*k
     * overlapping windows per input the harness's kink test (eps vs eps/2)
     * does not always catch it. A small eps keeps such near-ties rare; the
     * max pool reads the random input directly (a dense below it would make
     * every weight perturbation move many windows at once). */
    gc_opts o = gc_defaults();
    o.eps = 1e-3;
    const char *maxspecs[] = {
        "input 2x5x5; maxpool k=2 s=1; dense 3",
        "input 2x5x5; maxpool k=2; flatten; dense 3", /* odd size: floor drops the last row/column */
        "input 3x7x6; maxpool k=3 s=2 p=1; dense 4",
        "input 1x6x5; maxpool k=3 s=1 p=1; flatten; dense 2",
        "input 2x6x6; maxpool k=2 s=3; flatten; dense 2", /* stride > k: some inputs feed no window */
        /* ceil mode: the last window runs past the border */
        "input 2x7x6; maxpool k=3 s=2 ceil=1; flatten; dense 3",
        "input 2x5x5; maxpool k=2 ceil=1; flatten; dense 3",
    };
    CHECK(run_gradchecks(maxspecs, sizeof maxspecs / sizeof maxspecs[0], &o) == 0);
    o = gc_defaults();
    const char *specs[] = {
        "input 2x5x5; avgpool k=2 s=1; dense 3",
        "input 2x5x5; avgpool k=2; flatten; dense 3",
        "input 3x7x6; avgpool k=3 s=2 p=1; dense 4",
        "input 1x6x5; avgpool k=3 s=1 p=1; flatten; dense 2",
        "input 2x4x4; dense 4; avgpool k=2 s=3 p=1",
        "input 3x4x5; gap; dense 2",
        "input 4x3x3; dense 3; gap",
        "input 2x1x1; gap",
        /* ceil mode: windows clipped to the padded input divide by less */
        "input 2x6x6; avgpool k=3 s=2 p=1 ceil=1; flatten; dense 3",
        "input 1x5x4; avgpool k=2 ceil=1; flatten; dense 2",
    };
    CHECK(run_gradchecks(specs, sizeof specs / sizeof specs[0], &o) == 0);
}

/* Ceil mode against values computed here: a 1x3x5 plane of 1..15, window
 * 2, stride 2: ceil gives 2x3 windows (floor 1x2); the last column window
 * holds one column, the last row window one row. Max: the largest inside.
 * Average: divided by the clipped window (no padding: its real size). */
static void test_ceil_values(void) {
    float x[25]; /* the 5x5 plane below; the 3x5 one reads the first 15 */
    for (int i = 0; i < 25; i++) x[i] = (float)(i + 1);
    const float *y;
    al_model *m = fwd("input 1x3x5; maxpool k=2 ceil=1", x, 1, NULL, &y);
    CHECK(m->nodes[0].out.d[1] == 2 && m->nodes[0].out.d[2] == 3);
    const float wmax[6] = {7, 9, 10, 12, 14, 15};
    CHECK(memcmp(y, wmax, sizeof wmax) == 0);
    al_model_free(m);
    m = fwd("input 1x3x5; avgpool k=2 ceil=1", x, 1, NULL, &y);
    const float wavg[6] = {(1 + 2 + 6 + 7) / 4.0f, (3 + 4 + 8 + 9) / 4.0f, (5 + 10) / 2.0f,
                           (11 + 12) / 2.0f,       (13 + 14) / 2.0f,       15.0f};
    for (int i = 0; i < 6; i++) CHECK(fabsf(y[i] - wavg[i]) < 1e-6f);
    al_model_free(m);
    /* floor mode is unchanged; ceil=1 where it adds nothing gives floor's shape */
    m = fwd("input 1x4x4; maxpool k=2 ceil=1", x, 1, NULL, &y);
    CHECK(m->nodes[0].out.d[1] == 2 && m->nodes[0].out.d[2] == 2);
    CHECK(strstr(al_model_spec(m), "ceil=1") != NULL);
    al_model_free(m);
    /* PyTorch's rule: a window may not start in the right padding */
    m = fwd("input 1x5x5; maxpool k=2 s=2 p=1 ceil=1", x, 1, NULL, &y);
    CHECK(m->nodes[0].out.d[1] == 3 && m->nodes[0].out.d[2] == 3);
    al_model_free(m);
}

static void test_maxpool_values(void) {
    /* one 4x4 plane:
     *   3 1 -2  0
     *   4 2  8  5
     *  -1 9  7  6
     *   0 3  1 -4 */
    const float x[16] = {3, 1, -2, 0, 4, 2, 8, 5, -1, 9, 7, 6, 0, 3, 1, -4};
    const float *y;
    al_model *m = fwd("input 1x4x4; maxpool k=2", x, 1, NULL, &y);
    const float want[4] = {4, 8, 9, 7};
    for (int i = 0; i < 4; i++) CHECK_NEAR(y[i], want[i], 0);
    al_model_free(m);

    /* k=3 s=2 p=1: windows cover rows/cols {0,1} and {1,2,3} */
    m = fwd("input 1x4x4; maxpool k=3 s=2 p=1", x, 1, NULL, &y);
    const float want2[4] = {4, 8, 9, 9};
    CHECK(m->nodes[0].out.d[1] == 2 && m->nodes[0].out.d[2] == 2);
    for (int i = 0; i < 4; i++) CHECK_NEAR(y[i], want2[i], 0);
    al_model_free(m);

    /* padding is -inf, not 0: an all-negative plane stays negative */
    const float neg[4] = {-1, -2, -3, -4};
    m = fwd("input 1x2x2; maxpool k=3 s=1 p=1", neg, 1, NULL, &y);
    for (int i = 0; i < 4; i++) CHECK_NEAR(y[i], -1, 0);
    al_model_free(m);

    /* backward routes dy to the winner; a winner of two windows gets both */
    m = fwd("input 1x4x4; maxpool k=3 s=2 p=1", x, 1, NULL, &y);
    m->want_input_grad = 1;
    REQUIRE_OK(al_model_plan(m, 1));
    REQUIRE_OK(al_model_forward_from(m, NULL, 0, x, 1, 1, &y));
    const float dy[4] = {1, 2, 4, 8};
    REQUIRE_OK(al_model_backward(m, NULL, x, dy, 1));
    for (int i = 0; i < 16; i++) {
        /* 4 at (1,0) wins one window, 8 at (1,2) one, 9 at (2,1) two */
        float want3 = i == 4 ? 1.0f : i == 6 ? 2.0f : i == 9 ? 12.0f : 0.0f;
        CHECK_NEAR(m->dinput[i], want3, 0);
    }
    al_model_free(m);

    /* a tie goes to the first element in scan order, as in PyTorch; NaN wins */
    const float tie[8] = {2, 2, 2, 2, 1, NAN, 3, 1};
    m = fwd("input 2x2x2; maxpool k=2", tie, 1, NULL, &y);
    m->want_input_grad = 1;
    REQUIRE_OK(al_model_plan(m, 1));
    REQUIRE_OK(al_model_forward_from(m, NULL, 0, tie, 1, 1, &y));
    CHECK(y[0] == 2.0f && isnan(y[1]));
    const float dy2[2] = {5, 1};
    REQUIRE_OK(al_model_backward(m, NULL, tie, dy2, 1));
    const float wanttie[8] = {5, 0, 0, 0, 0, 1, 0, 0};
    for (int i = 0; i < 8; i++) CHECK_NEAR(m->dinput[i], wanttie[i], 0);
    al_model_free(m);

    /* two samples, two channels: planes are independent */
    float x2[2 * 2 * 2 * 2];
    for (int i = 0; i < 16; i++) x2[i] = (float)((i * 7) % 16);
    m = fwd("input 2x2x2; maxpool k=2", x2, 2, NULL, &y);
    for (int p = 0; p < 4; p++) {
        float mx = x2[4 * p];
        for (int j = 1; j < 4; j++) mx = fmaxf(mx, x2[4 * p + j]);
        CHECK_NEAR(y[p], mx, 0);
    }
    al_model_free(m);
}

static void test_avgpool_values(void) {
    /* count_include_pad: the divisor is always k*k = 4 */
    const float x[4] = {1, 2, 3, 4};
    const float *y;
    al_model *m = fwd("input 1x2x2; avgpool k=2 s=1 p=1", x, 1, NULL, &y);
    const float want[9] = {0.25f, 0.75f, 0.5f, 1.0f, 2.5f, 1.5f, 0.75f, 1.75f, 1.0f};
    CHECK(m->nodes[0].out.d[1] == 3 && m->nodes[0].out.d[2] == 3);
    for (int i = 0; i < 9; i++) CHECK_NEAR(y[i], want[i], 1e-6);
    al_model_free(m);

    /* backward: each input sits in four windows and gets a quarter of each dy */
    m = fwd("input 1x2x2; avgpool k=2 s=1 p=1", x, 1, NULL, &y);
    m->want_input_grad = 1;
    REQUIRE_OK(al_model_plan(m, 1));
    REQUIRE_OK(al_model_forward_from(m, NULL, 0, x, 1, 1, &y));
    const float dy[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    REQUIRE_OK(al_model_backward(m, NULL, x, dy, 1));
    const float wantdx[4] = {3, 4, 6, 7}; /* (1+2+4+5)/4, (2+3+5+6)/4, (4+5+7+8)/4, (5+6+8+9)/4 */
    for (int i = 0; i < 4; i++) CHECK_NEAR(m->dinput[i], wantdx[i], 1e-6);
    al_model_free(m);

    /* 3x3 plane, k=2 s=2: floor mode keeps only the top-left window */
    const float x3[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    m = fwd("input 1x3x3; avgpool k=2", x3, 1, NULL, &y);
    CHECK(m->nodes[0].out.d[1] == 1 && m->nodes[0].out.d[2] == 1);
    CHECK_NEAR(y[0], 3.0, 1e-6);
    al_model_free(m);
}

static void test_gap_values(void) {
    const float x[2 * 2 * 3] = {1, 2, 3, 4, 5, 6, -1, -1, -1, 2, 2, 5};
    const float *y;
    al_model *m = fwd("input 2x2x3; gap", x, 1, NULL, &y);
    CHECK(m->nodes[0].out.ndim == 1 && m->nodes[0].out.d[0] == 2);
    CHECK_NEAR(y[0], 3.5, 1e-6);
    CHECK_NEAR(y[1], 1.0, 1e-6);
    CHECK(al_model_macs(m) == 12);
    al_model_free(m);
}

static void test_errors(void) {
    al_model *m = NULL;
    CHECK_STATUS(al_model_from_spec("input 1x2x2; maxpool k=3", 1, &m), AL_ESHAPE);
    CHECK(contains(al_last_error(), "kernel 3 larger than padded input 2x2"));
    CHECK(m == NULL);
    CHECK_STATUS(al_model_from_spec("input 1x1x5; avgpool k=4 p=1", 1, &m), AL_ESHAPE);
    CHECK(contains(al_last_error(), "kernel 4 larger than padded input 3x7"));
    CHECK_STATUS(al_model_from_spec("input 1x8x8; maxpool k=3 p=2", 1, &m), AL_EINVAL);
    CHECK(contains(al_last_error(), "padding 2"));
    CHECK_STATUS(al_model_from_spec("input 8; maxpool k=2", 1, &m), AL_ESHAPE);
    CHECK(contains(al_last_error(), "[C,H,W]"));
    CHECK_STATUS(al_model_from_spec("input 8; gap", 1, &m), AL_ESHAPE);
    /* a kernel that fits only thanks to padding is fine */
    CHECK_OK(al_model_from_spec("input 1x2x2; maxpool k=3 p=1", 1, &m));
    al_model_free(m);
}

/* Same outputs and input gradients, bit for bit, with 1 and 3 threads on
 * tensors big enough to be split. */
static void test_threads(void) {
    const char *specs[] = {"input 8x30x30; maxpool k=3 s=2 p=1", "input 8x30x30; avgpool k=3 s=2 p=1",
                           "input 8x30x30; gap"};
    al_pool *pool;
    REQUIRE_OK(al_pool_new(3, &pool));
    int n = 6;
    size_t xin = (size_t)n * 8 * 30 * 30;
    float *x = malloc(sizeof(float) * xin);
    al_rng r;
    al_rng_seed(&r, 5, 1);
    for (size_t i = 0; i < xin; i++) x[i] = al_rng_normal(&r);
    for (size_t s = 0; s < sizeof specs / sizeof specs[0]; s++) {
        float *out[2] = {NULL, NULL}, *din[2] = {NULL, NULL};
        size_t yout = 0;
        for (int t = 0; t < 2; t++) {
            al_model *m;
            REQUIRE_OK(al_model_from_spec(specs[s], 1, &m));
            m->want_input_grad = 1;
            REQUIRE_OK(al_model_plan(m, n));
            const float *y;
            REQUIRE_OK(al_model_forward_from(m, t ? pool : NULL, 0, x, n, 1, &y));
            yout = (size_t)n * al_shape_numel(&m->nodes[0].out);
            out[t] = malloc(sizeof(float) * yout);
            memcpy(out[t], y, sizeof(float) * yout);
            float *dl = malloc(sizeof(float) * yout);
            for (size_t i = 0; i < yout; i++) dl[i] = (float)((int)(i % 13) - 6);
            REQUIRE_OK(al_model_backward(m, t ? pool : NULL, x, dl, n));
            din[t] = malloc(sizeof(float) * xin);
            memcpy(din[t], m->dinput, sizeof(float) * xin);
            free(dl);
            al_model_free(m);
        }
        CHECK(memcmp(out[0], out[1], sizeof(float) * yout) == 0);
        CHECK(memcmp(din[0], din[1], sizeof(float) * xin) == 0);
        for (int t = 0; t < 2; t++) {
            free(out[t]);
            free(din[t]);
        }
    }
    free(x);
    al_pool_free(pool);
}

int main(void) {
    test_gradchecks();
    test_maxpool_values();
    test_avgpool_values();
    test_ceil_values();
    test_gap_values();
    test_errors();
    test_threads();
    TEST_END("test_pool");
}
