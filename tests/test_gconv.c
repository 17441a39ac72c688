/* Grouped convolution (gconv): gradients by finite differences on odd
 * shapes (stride, padding, bias or not, 2 and 3 groups); forward and
 * backward against the same computation written with plain layers (each
 * group a slice of the channels and its own conv, then a concat), with the
 * weights copied across; spec and model-file round trips; refusals. */
#include "al_test.h"

#include <unistd.h>

static void test_gradients(void) {
    gc_opts o = gc_defaults();
    o.batch = 2;
    const char *specs[] = {
        "input 4x5x6; gconv 6 g=2 k=3 p=1; tanh; flatten; dense 3",
        "input 6x7x5; gconv 9 g=3 k=3 s=2 p=0; flatten; dense 2",
        "input 4x4x4; gconv 4 g=2 k=1 bias=0; gap; dense 2",
        "input 6x5x5; conv 6 k=1; gconv 6 g=3 k=2 s=1 p=1; tanh; gap; dense 2",
    };
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        int f = gradcheck_spec(specs[i], &o);
        if (f) fprintf(stderr, "gradcheck failed: %s\n", specs[i]);
        CHECK(f == 0);
    }
}

/* gconv 6 g=2 on [4, 5, 6] against slice 0..2 -> conv 3, slice 2..4 ->
 * conv 3, concat: the same outputs, input gradient and weight gradients. */
static void test_against_groups(void) {
    al_model *a, *b;
    REQUIRE_OK(al_model_from_spec("input 4x5x6; gconv 6 g=2 k=3 s=2 p=1", 3, &a));
    REQUIRE_OK(al_model_from_spec("input 4x5x6; slice axis=0 start=0 end=2; conv 3 k=3 s=2 p=1; "
                                  "slice axis=0 start=2 end=4 in=-1; conv 3 k=3 s=2 p=1; concat 3 axis=0 in=1",
                                  3, &b));
    const al_param *gw = &a->nodes[0].params[0], *gb = &a->nodes[0].params[1];
    for (int g = 0; g < 2; g++) {
        al_node *c = &b->nodes[g == 0 ? 1 : 3];
        memcpy(c->params[0].w, gw->w + (size_t)g * 3 * 2 * 9, sizeof(float) * 3 * 2 * 9);
        memcpy(c->params[1].w, gb->w + (size_t)g * 3, sizeof(float) * 3);
    }
    const int n = 2;
    size_t xn = (size_t)n * 4 * 5 * 6, yn = (size_t)n * 6 * 3 * 3;
    float *x = malloc(sizeof(float) * xn), *r = malloc(sizeof(float) * yn);
    al_rng rng;
    al_rng_seed(&rng, 5, 1);
    for (size_t i = 0; i < xn; i++) x[i] = al_rng_normal(&rng);
    for (size_t i = 0; i < yn; i++) r[i] = al_rng_normal(&rng);
    a->want_input_grad = b->want_input_grad = 1;
    REQUIRE_OK(al_model_plan(a, n));
    REQUIRE_OK(al_model_plan(b, n));
    const float *ya, *yb;
    REQUIRE_OK(al_model_forward_from(a, NULL, 0, x, n, 1, &ya));
    REQUIRE_OK(al_model_forward_from(b, NULL, 0, x, n, 1, &yb));
    double d = 0;
    for (size_t i = 0; i < yn; i++) d = fmax(d, fabs((double)ya[i] - yb[i]));
    CHECK(d < 1e-5);
    al_model_zero_grad(a);
    al_model_zero_grad(b);
    REQUIRE_OK(al_model_backward(a, NULL, x, r, n));
    REQUIRE_OK(al_model_backward(b, NULL, x, r, n));
    double dx = 0, dw = 0;
    for (size_t i = 0; i < xn; i++) dx = fmax(dx, fabs((double)a->dinput[i] - b->dinput[i]));
    for (int g = 0; g < 2; g++) {
        const al_node *c = &b->nodes[g == 0 ? 1 : 3];
        for (size_t i = 0; i < 54; i++) dw = fmax(dw, fabs((double)gw->g[(size_t)g * 54 + i] - c->params[0].g[i]));
        for (size_t i = 0; i < 3; i++) dw = fmax(dw, fabs((double)gb->g[(size_t)g * 3 + i] - c->params[1].g[i]));
    }
    fprintf(stderr, "test_gconv: against per-group convs: y %.3g, dx %.3g, dw %.3g\n", d, dx, dw);
    CHECK(dx < 1e-5 && dw < 1e-4);
    free(x);
    free(r);
    al_model_free(a);
    al_model_free(b);
}

static void test_round_trip_and_refusals(void) {
    al_model *m, *l;
    REQUIRE_OK(al_model_from_spec("input 4x6x6; gconv 8 g=4 k=3 s=2 p=1 bias=0; flatten; dense 2", 1, &m));
    CHECK(strstr(al_model_spec(m), "gconv 8 g=4 k=3 s=2 p=1 bias=0") != NULL);
    CHECK(m->nodes[0].params[0].dims[1] == 1 && m->nodes[0].nparams == 1);
    char path[] = "/tmp/al-gconv.XXXXXX";
    int fd = mkstemp(path);
    REQUIRE_OK(fd >= 0 ? AL_OK : AL_EIO);
    close(fd);
    REQUIRE_OK(al_model_save(m, path));
    REQUIRE_OK(al_model_load(path, &l));
    CHECK(strcmp(al_model_spec(l), al_model_spec(m)) == 0 && memcmp(l->wblock, m->wblock, sizeof(float) * m->nweights) == 0);
    unlink(path);
    al_model_free(l);
    al_model_free(m);
    m = NULL;
    CHECK_STATUS(al_model_from_spec("input 4x6x6; gconv 6 g=4", 1, &m), AL_ESHAPE);   /* 6 filters, 4 groups */
    CHECK_STATUS(al_model_from_spec("input 5x6x6; gconv 8 g=4", 1, &m), AL_ESHAPE);   /* 5 channels */
    CHECK_STATUS(al_model_from_spec("input 4x6x6; gconv 8", 1, &m), AL_EINVAL);       /* no g= */
    CHECK_STATUS(al_model_from_spec("input 4x6x6; gconv 8 g=1", 1, &m), AL_EINVAL);   /* one group: conv */
    CHECK(m == NULL);
}

int main(void) {
    test_gradients();
    test_against_groups();
    test_round_trip_and_refusals();
    TEST_END("test_gconv");
}
