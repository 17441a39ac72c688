/* max, min (element-wise, NumPy broadcasting; ONNX Max / Min) and pad (zero
 * padding of H and W, each side its own amount; ONNX Pad, auto_pad SAME_*):
 *  - gradients by finite differences on odd shapes (a stretched operand,
 *    the model input as operand, a pad before a strided conv);
 *  - the tie rule of max and min against what PyTorch 1.13's torch.maximum /
 *    torch.minimum give (each operand dy / 2; a stretched one sums them);
 *  - spec and model-file round trips, refusals.
 * (PyTorch goldens: tests/golden/{max_bcast,min_bcast,pad,pad_s2}.bin.) */
#include "al_test.h"

#include <unistd.h>

static void test_gradients(void) {
    gc_opts o = gc_defaults();
    o.batch = 2;
    const char *specs[] = {
        "input 3x5; a: dense 5; b: dense 1 in=input; max a; tanh; dense 2",
        "input 2x3x4; a: conv 2 k=1; b: reducemean axes=0 keepdims=1 in=input; min a; flatten; dense 2",
        "input 5; a: dense 5; max -1; dense 2",
        "input 4x3; a: dense 3; b: reducemean axes=0 in=a; min a; tanh; dense 2",
        "input 2x5x4; pad pads=1,0,2,3; conv 3 k=2; tanh; flatten; dense 2",
        "input 3x6x7; conv 2 k=1; pad pads=0,1,1,0; conv 2 k=2 s=2; flatten; dense 2",
        "input 2x5x6; pad pads=0,1,1,0 value=-inf; maxpool k=2; flatten; dense 2",
    };
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        /* max and min: a step of 1e-2 crosses too many near-ties; 1e-3 (pad: the default) */
        o.eps = strstr(specs[i], "max") || strstr(specs[i], "min") ? 1e-3 : 1e-2;
        int f = gradcheck_spec(specs[i], &o);
        if (f) fprintf(stderr, "gradcheck failed: %s\n", specs[i]);
        CHECK(f == 0);
    }
}

/* torch 1.13: a = [1, 2, 3, 4], b = [1, 0, 5, 4]; maximum(a, b).sum().backward()
 * gives a.grad = [0.5, 1, 0, 0.5], b.grad = [0.5, 0, 1, 0.5]; minimum the
 * complements on the strict elements, 0.5 on the ties. */
static void test_ties(void) {
    al_shape s = {1, {4, 0, 0}};
    al_bcast g;
    al_shape o;
    REQUIRE_OK(al_bcast_init("max", &s, &s, &o, &g));
    const float a[4] = {1, 2, 3, 4}, b[4] = {1, 0, 5, 4}, dy[4] = {1, 1, 1, 1};
    float y[4], da[4], db[4] = {0};
    al_bcast_forward(NULL, &g, AL_BIN_MAX, a, b, y, 1);
    CHECK(y[0] == 1 && y[1] == 2 && y[2] == 5 && y[3] == 4);
    al_bcast_backward(NULL, &g, AL_BIN_MAX, a, b, dy, da, db, 1);
    CHECK(da[0] == 0.5f && da[1] == 1 && da[2] == 0 && da[3] == 0.5f);
    CHECK(db[0] == 0.5f && db[1] == 0 && db[2] == 1 && db[3] == 0.5f);
    memset(db, 0, sizeof db);
    al_bcast_forward(NULL, &g, AL_BIN_MIN, a, b, y, 1);
    CHECK(y[0] == 1 && y[1] == 0 && y[2] == 3 && y[3] == 4);
    al_bcast_backward(NULL, &g, AL_BIN_MIN, a, b, dy, da, db, 1);
    CHECK(da[0] == 0.5f && da[1] == 0 && da[2] == 1 && da[3] == 0.5f);
    CHECK(db[0] == 0.5f && db[1] == 1 && db[2] == 0 && db[3] == 0.5f);
    /* a stretched operand: b [1] against a [4] (2 ties, 1 win) sums its shares */
    al_shape s1 = {1, {1, 0, 0}};
    REQUIRE_OK(al_bcast_init("max", &s, &s1, &o, &g));
    const float b1[1] = {2};
    float db1[1] = {0};
    const float a2[4] = {2, 1, 2, 3};
    al_bcast_backward(NULL, &g, AL_BIN_MAX, a2, b1, dy, da, db1, 1);
    CHECK(db1[0] == 2.0f && da[0] == 0.5f && da[1] == 0 && da[2] == 0.5f && da[3] == 1);
}

static void test_round_trip(void) {
    al_model *m, *l;
    REQUIRE_OK(al_model_from_spec("input 3x5x6; a: conv 4 k=3 p=1; b: pad pads=1,0,1,2 in=input; c: conv 4 k=3 s=1 p=0; "
                                  "d: relu in=a; max c; min a; e: pad pads=1,0,0,1 value=-inf; maxpool k=2 s=1; gap; "
                                  "dense 3",
                                  1, &m));
    const char *sp = al_model_spec(m);
    CHECK(strstr(sp, "pad pads=1,0,1,2 in=-1") != NULL && strstr(sp, "max 2") != NULL && strstr(sp, "min 0") != NULL);
    CHECK(strstr(sp, "pad pads=1,0,0,1 value=-inf") != NULL);
    CHECK(m->nodes[1].out.d[1] == 7 && m->nodes[1].out.d[2] == 8);
    al_model_init_weights(m, 4);
    char path[] = "/tmp/al-mmpad.XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) exit(1);
    close(fd);
    REQUIRE_OK(al_model_save(m, path));
    REQUIRE_OK(al_model_load(path, &l));
    unlink(path);
    CHECK(l->nodes[1].cfg.type == AL_L_PAD && l->nodes[1].cfg.pads[0] == 1 && l->nodes[1].cfg.pads[3] == 2);
    CHECK(l->nodes[4].cfg.type == AL_L_MAX && l->nodes[4].cfg.src == 2 && l->nodes[5].cfg.type == AL_L_MIN);
    CHECK(l->nodes[6].cfg.type == AL_L_PAD && isinf(l->nodes[6].cfg.padval) && l->nodes[6].cfg.padval < 0 &&
          l->nodes[1].cfg.padval == 0.0f);
    float *x = al_test_rand_input(m, 2, 9);
    float *ya = al_test_predict(m, x, 2), *yb = al_test_predict(l, x, 2);
    CHECK(al_test_max_abs_diff(ya, yb, 6) == 0.0);
    free(x);
    free(ya);
    free(yb);
    al_model_free(l);
    al_model_free(m);
    /* refusals */
    m = NULL;
    CHECK_STATUS(al_model_from_spec("input 3x5x6; pad pads=1,2,3", 1, &m), AL_EINVAL);
    CHECK_STATUS(al_model_from_spec("input 3x5x6; pad pads=1,2,3,65", 1, &m), AL_EINVAL);
    CHECK_STATUS(al_model_from_spec("input 3x5x6; pad pads=1,-1,0,0", 1, &m), AL_EINVAL);
    CHECK_STATUS(al_model_from_spec("input 30; pad pads=1,1,1,1", 1, &m), AL_ESHAPE);
    CHECK_STATUS(al_model_from_spec("input 3x5x6; pad pads=1,1,1,1 value=nan", 1, &m), AL_EINVAL);
    CHECK_STATUS(al_model_from_spec("input 30; dense 4; max", 1, &m), AL_EINVAL);
    CHECK_STATUS(al_model_from_spec("input 3x5; dense 4; min -1", 1, &m), AL_ESHAPE); /* [4] and [3,5]... */
    CHECK(m == NULL);
}

int main(void) {
    test_gradients();
    test_ties();
    test_round_trip();
    TEST_END("test_maxmin_pad");
}
