/* expand (NumPy broadcasting to a larger per-sample shape): values by hand,
 * gradients by finite differences (the input gradient sums over every copy),
 * spec and model-file round trips, refusals. */
#include "al_test.h"

static void test_values(void) {
    al_model *m;
    REQUIRE_OK(al_model_from_spec("input 3x1; expand shape=2,3,4", 1, &m));
    CHECK(m->nodes[0].out.ndim == 3 && m->nodes[0].out.d[0] == 2 && m->nodes[0].out.d[1] == 3 && m->nodes[0].out.d[2] == 4);
    float x[3] = {1, 2, 3}, y[24];
    REQUIRE_OK(al_model_predict(m, NULL, x, 1, y));
    int bad = 0;
    for (int a = 0; a < 2; a++)
        for (int b = 0; b < 3; b++)
            for (int c = 0; c < 4; c++) bad += y[a * 12 + b * 4 + c] != x[b];
    CHECK(bad == 0);
    CHECK(strstr(al_model_spec(m), "expand shape=2,3,4") != NULL);
    al_model_free(m);
    m = NULL;
    CHECK_STATUS(al_model_from_spec("input 3x2; expand shape=3,4", 1, &m), AL_ESHAPE); /* 2 cannot become 4 */
    CHECK_STATUS(al_model_from_spec("input 3x2; expand shape=2", 1, &m), AL_EINVAL);   /* fewer dims */
    CHECK_STATUS(al_model_from_spec("input 3x2; expand", 1, &m), AL_EINVAL);           /* no shape */
    CHECK(m == NULL);
}

static void test_gradients(void) {
    gc_opts o = gc_defaults();
    o.batch = 2;
    const char *specs[] = {
        "input 3x1; expand shape=3,5; tanh; flatten; dense 2",
        "input 1x4; dense 4; expand shape=2,3,4; sigmoid; flatten; dense 3",
        "input 2x1x3; expand shape=2,5,3; flatten; dense 2",
    };
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        int f = gradcheck_spec(specs[i], &o);
        if (f) fprintf(stderr, "gradcheck failed: %s\n", specs[i]);
        CHECK(f == 0);
    }
}

int main(void) {
    test_values();
    test_gradients();
    TEST_END("test_expand");
}
