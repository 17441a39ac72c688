#include "al_test.h"

int main(void) {
    gc_opts o = gc_defaults();
    CHECK(gradcheck_spec("input 7; dense 5", &o) == 0);
    CHECK(gradcheck_spec("input 4; dense 3 bias=0", &o) == 0);
    /* dense applies to the last dimension of a sequence */
    CHECK(gradcheck_spec("input 3x6; dense 4", &o) == 0);
    CHECK(gradcheck_spec("input 33; dense 17; dense 2", &o) == 0);

    /* a frozen dense layer gets no weight gradient; a trainable one above it does */
    al_model *m;
    REQUIRE_OK(al_model_from_spec("input 4; dense 3; dense 2", 1, &m));
    REQUIRE_OK(al_model_freeze(m, 1));
    REQUIRE_OK(al_model_plan(m, 2));
    float x[8] = {1, 2, 3, 4, -1, -2, 0.5f, 0}, dl[4] = {1, -1, 0.5f, 2};
    const float *y;
    al_model_zero_grad(m);
    REQUIRE_OK(al_model_forward_from(m, NULL, 0, x, 2, 1, &y));
    REQUIRE_OK(al_model_backward(m, NULL, x, dl, 2));
    double g0 = 0, g1 = 0;
    for (size_t i = 0; i < m->nodes[0].params[0].n; i++) g0 += fabs(m->nodes[0].params[0].g[i]);
    for (size_t i = 0; i < m->nodes[1].params[0].n; i++) g1 += fabs(m->nodes[1].params[0].g[i]);
    CHECK(g0 == 0.0);
    CHECK(g1 > 0.0);
    CHECK(al_model_num_params(m) == 4 * 3 + 3 + 3 * 2 + 2);
    CHECK(al_model_macs(m) == 4 * 3 + 3 * 2);
    al_model_free(m);
    TEST_END("test_dense");
}
