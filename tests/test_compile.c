/* The compiler (src/cloud/compile/compile.c) and the memory planner
 * (src/model/memplan.c): fused activations pass gradient checks; compiled
 * and uncompiled models predict the same within the documented tolerance
 * (|a - b| <= 1e-4 * max(1, |a|), docs/COMPILE.md) and train along the same
 * loss trajectory; plans never overlap live buffers, their size is what
 * al_model_plan allocates, and training through a liveness plan is
 * bit-identical to training through the naive one. */
#include "al_test.h"
#include "cloud/compile/compile.h"

#include <unistd.h>

#define REL_TOL 1e-4

/* Random, non-trivial batch-norm statistics and affine weights, as after
 * pre-training (a fresh BN folds to the identity, which would prove little). */
static void randomize_bn(al_model *m, uint64_t seed) {
    al_rng r;
    al_rng_seed(&r, seed, 41);
    for (int i = 0; i < m->nnodes; i++) {
        al_node *nd = &m->nodes[i];
        if (nd->cfg.type != AL_L_BATCHNORM) continue;
        for (size_t c = 0; c < nd->params[0].n; c++) {
            nd->params[0].w[c] = 0.5f + al_rng_uniform(&r);
            nd->params[1].w[c] = 0.3f * al_rng_normal(&r);
            nd->params[2].w[c] = 0.2f * al_rng_normal(&r);
            nd->params[3].w[c] = 0.3f + al_rng_uniform(&r);
        }
    }
}

static al_model *make(const char *spec, uint64_t seed) {
    al_model *m = NULL;
    if (al_model_from_spec(spec, seed, &m) != AL_OK) {
        fprintf(stderr, "%s: %s\n", spec, al_last_error());
        exit(1);
    }
    randomize_bn(m, seed);
    return m;
}

static float *random_input(const al_model *m, int n, uint64_t seed) {
    size_t k = (size_t)n * al_shape_numel(&m->in);
    float *x = malloc(sizeof(float) * k);
    al_rng r;
    al_rng_seed(&r, seed, 5);
    for (size_t i = 0; i < k; i++) x[i] = al_rng_normal(&r);
    return x;
}

/* max over outputs of |a - b| / max(1, |a|) */
static double max_rel(const float *a, const float *b, size_t k) {
    double d = 0;
    for (size_t i = 0; i < k; i++) d = fmax(d, fabs((double)a[i] - b[i]) / fmax(1.0, fabs((double)a[i])));
    return d;
}

/* ---- fused activations ----------------------------------------------------------- */

static void test_fused_gradcheck(void) {
    gc_opts o = gc_defaults();
    const char *specs[] = {
        "input 6; dense 8 act=relu; dense 3",
        "input 6; dense 8 act=relu6 bias=0; dense 3",
        "input 3x5; dense 4 act=relu",
        "input 2x4x4; conv 3 k=3 p=1 act=relu; flatten; dense 2",
        "input 3x3x3; conv 2 k=1 act=relu6; flatten; dense 2", /* 1x1: no im2col */
        "input 3x6x6; dwconv 3 p=1 act=relu6; flatten; dense 2",
        "input 2x7x7; dwconv 3 s=2 act=relu bias=0; flatten; dense 2",
    };
    /* a conv weight moves many outputs at once: a smaller step keeps the
     * central differences off the kinks */
    o.eps = 1e-3;
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) CHECK(gradcheck_spec(specs[i], &o) == 0);
    /* relu6's upper kink: inputs scaled so that many pre-activations pass 6 */
    al_model *m = make("input 4; dense 6 act=relu6", 3);
    for (size_t j = 0; j < m->nodes[0].params[0].n; j++) m->nodes[0].params[0].w[j] *= 8.0f;
    REQUIRE_OK(al_model_plan(m, 4));
    float *x = random_input(m, 4, 9);
    const float *y;
    REQUIRE_OK(al_model_forward_from(m, NULL, 0, x, 4, 1, &y));
    int clipped = 0, bad = 0;
    for (int j = 0; j < 24; j++) {
        clipped += y[j] == 6.0f;
        bad += y[j] < 0.0f || y[j] > 6.0f;
    }
    CHECK(clipped > 0 && bad == 0);
    free(x);
    al_model_free(m);
    /* the same for a depthwise conv's fused ReLU6 (applied per output plane) */
    m = make("input 2x5x5; dwconv 3 p=1 act=relu6", 3);
    for (size_t j = 0; j < m->nodes[0].params[0].n; j++) m->nodes[0].params[0].w[j] *= 8.0f;
    REQUIRE_OK(al_model_plan(m, 4));
    x = random_input(m, 4, 9);
    REQUIRE_OK(al_model_forward_from(m, NULL, 0, x, 4, 1, &y));
    clipped = bad = 0;
    int zero = 0;
    for (int j = 0; j < 4 * 50; j++) {
        clipped += y[j] == 6.0f;
        zero += y[j] == 0.0f;
        bad += y[j] < 0.0f || y[j] > 6.0f;
    }
    CHECK(clipped > 0 && zero > 0 && bad == 0);
    free(x);
    al_model_free(m);
}

/* Fused == separate: "conv act=relu" against "conv; relu" with the same
 * weights gives the same output, weight gradients and input gradient, on
 * every conv route (batched GEMM, per-sample for P >= 256, 1x1) and dense. */
static void check_fused_equals_separate(const char *fused, const char *separate) {
    al_model *a = make(fused, 7), *b = make(separate, 7);
    for (int p = 0; p < a->nodes[0].nparams; p++)
        memcpy(b->nodes[0].params[p].w, a->nodes[0].params[p].w, sizeof(float) * a->nodes[0].params[p].n);
    for (int p = 0; p < a->nodes[a->nnodes - 1].nparams; p++)
        memcpy(b->nodes[b->nnodes - 1].params[p].w, a->nodes[a->nnodes - 1].params[p].w,
               sizeof(float) * a->nodes[a->nnodes - 1].params[p].n);
    int n = 3;
    a->want_input_grad = b->want_input_grad = 1;
    float *x = random_input(a, n, 4);
    size_t k = (size_t)n * al_shape_numel(&a->nodes[a->nnodes - 1].out), xin = (size_t)n * al_shape_numel(&a->in);
    float *dl = malloc(sizeof(float) * k);
    for (size_t i = 0; i < k; i++) dl[i] = (float)(i % 7) - 3.0f;
    const float *ya, *yb;
    REQUIRE_OK(al_model_plan(a, n));
    REQUIRE_OK(al_model_plan(b, n));
    al_model_zero_grad(a);
    al_model_zero_grad(b);
    REQUIRE_OK(al_model_forward_from(a, NULL, 0, x, n, 1, &ya));
    REQUIRE_OK(al_model_forward_from(b, NULL, 0, x, n, 1, &yb));
    CHECK(max_rel(ya, yb, k) <= 1e-6);
    REQUIRE_OK(al_model_backward(a, NULL, x, dl, n));
    REQUIRE_OK(al_model_backward(b, NULL, x, dl, n));
    CHECK(max_rel(a->dinput, b->dinput, xin) <= 1e-6);
    for (int p = 0; p < a->nodes[0].nparams; p++)
        CHECK(max_rel(a->nodes[0].params[p].g, b->nodes[0].params[p].g, a->nodes[0].params[p].n) <= 1e-6);
    double act = 0; /* the activation did something: some outputs were clipped */
    for (size_t i = 0; i < xin; i++) act += a->dinput[i] != 0.0f;
    CHECK(act > 0);
    free(dl);
    free(x);
    al_model_free(a);
    al_model_free(b);
}

static void test_fused_equals_separate(void) {
    check_fused_equals_separate("input 2x6x6; conv 3 k=3 p=1 act=relu; flatten; dense 2",
                                "input 2x6x6; conv 3 k=3 p=1; relu; flatten; dense 2");
    check_fused_equals_separate("input 1x17x17; conv 2 k=3 act=relu6; flatten; dense 2",
                                "input 1x17x17; conv 2 k=3; relu6; flatten; dense 2");
    check_fused_equals_separate("input 3x4x4; conv 2 k=1 act=relu; flatten; dense 2",
                                "input 3x4x4; conv 2 k=1; relu; flatten; dense 2");
    check_fused_equals_separate("input 3x5; dense 4 act=relu6; flatten; dense 2",
                                "input 3x5; dense 4; relu6; flatten; dense 2");
    check_fused_equals_separate("input 4x9x9; dwconv 3 p=1 act=relu6; flatten; dense 2",
                                "input 4x9x9; dwconv 3 p=1; relu6; flatten; dense 2");
    check_fused_equals_separate("input 3x8x8; dwconv 3 s=2 p=1 act=relu; flatten; dense 2",
                                "input 3x8x8; dwconv 3 s=2 p=1; relu; flatten; dense 2");
}

static void test_spec_act(void) {
    al_model *m;
    REQUIRE_OK(al_model_from_spec("input 2x5x5; conv 3 k=3 act=relu6; flatten; dense 4 act=relu; dense 2", 1, &m));
    CHECK(m->nodes[0].cfg.act == AL_ACT_RELU6 && m->nodes[2].cfg.act == AL_ACT_RELU && m->nodes[3].cfg.act == 0);
    CHECK(strstr(al_model_spec(m), "conv 3 k=3 s=1 p=0 act=relu6") != NULL);
    CHECK(strstr(al_model_spec(m), "dense 4 act=relu;") != NULL);
    al_model *back;
    REQUIRE_OK(al_model_from_spec(al_model_spec(m), 1, &back));
    CHECK(strcmp(al_model_spec(back), al_model_spec(m)) == 0);
    al_model_free(back);
    al_model_free(m);
    REQUIRE_OK(al_model_from_spec("input 3x6x6; dwconv 3 s=2 p=1 act=relu6; flatten; dense 2", 1, &m));
    CHECK(m->nodes[0].cfg.act == AL_ACT_RELU6);
    CHECK(strstr(al_model_spec(m), "act=relu6") != NULL);
    REQUIRE_OK(al_model_from_spec(al_model_spec(m), 1, &back));
    CHECK(strcmp(al_model_spec(back), al_model_spec(m)) == 0);
    al_model_free(back);
    al_model_free(m);
    CHECK_STATUS(al_model_from_spec("input 4; relu act=relu; dense 2", 1, &m), AL_EINVAL);
    CHECK_STATUS(al_model_from_spec("input 4; dense 2 act=tanh", 1, &m), AL_EINVAL);
}

/* ---- compiled == uncompiled ---------------------------------------------------------- */

static void check_same_predictions(const char *spec, int freeze, int expect_removed) {
    al_model *m = make(spec, 11);
    REQUIRE_OK(al_model_freeze(m, freeze));
    al_model *c;
    al_compile_report r;
    REQUIRE_OK(al_compile(m, freeze, NULL, &c, &r));
    CHECK(r.nodes_out == m->nnodes - expect_removed);
    if (r.nodes_out != m->nnodes - expect_removed)
        fprintf(stderr, "%s freeze %d: %d nodes -> %d (%s)\n", spec, freeze, m->nnodes, r.nodes_out, al_model_spec(c));
    CHECK(r.nodes_in - r.nodes_out == r.folded_bn + r.fused_act + r.dropped);
    CHECK(c->freeze == r.freeze_out);
    CHECK(al_model_meta(c, "autlearn.freeze") && atoi(al_model_meta(c, "autlearn.freeze")) == r.freeze_out);
    /* the frozen prefix ends at the same activation: map[freeze-1] is the last frozen compiled node */
    if (freeze > 0) CHECK(r.map[freeze - 1] == r.freeze_out - 1);
    al_compile_report_free(&r);
    int n = 6;
    float *x = random_input(m, n, 2);
    size_t k = (size_t)n * al_shape_numel(&m->nodes[m->nnodes - 1].out);
    float *ya = malloc(sizeof(float) * k), *yb = malloc(sizeof(float) * k);
    REQUIRE_OK(al_model_predict(m, NULL, x, n, ya));
    REQUIRE_OK(al_model_predict(c, NULL, x, n, yb));
    double d = max_rel(ya, yb, k);
    if (!(d <= REL_TOL)) fprintf(stderr, "%s freeze %d: compiled differs by %g\n", spec, freeze, d);
    CHECK(d <= REL_TOL);
    /* and the comparison can fail: a perturbed compiled weight shows */
    int pn = 0;
    while (c->nodes[pn].nparams == 0) pn++;
    c->nodes[pn].params[0].w[0] += 0.5f;
    REQUIRE_OK(al_model_predict(c, NULL, x, n, yb));
    CHECK(max_rel(ya, yb, k) > REL_TOL);
    free(ya);
    free(yb);
    free(x);
    al_model_free(c);
    al_model_free(m);
}

#define SE_CNN                                                                                                     \
    "input 2x6x6; conv 4 k=3 p=1; batchnorm; relu; gap; dense 2; relu; dense 4; hardsigmoid; mul 2; flatten; "      \
    "dense 3"

#define BN_CNN                                                                                                     \
    "input 1x8x8; conv 4 k=3 p=1; batchnorm; relu; maxpool k=2; conv 8 k=3 p=1 bias=0; batchnorm; relu6; "       \
    "flatten; dense 16; batchnorm; relu; dropout 0.3; dense 3"

#define MNV2_BLOCKS                                                                                                \
    "input 3x12x12; conv 8 k=3 s=2 p=1; relu6; dwconv 3 p=1; relu6; conv 8 k=1; conv 24 k=1; relu6; "           \
    "dwconv 3 p=1; relu6; conv 8 k=1; add 4; conv 16 k=1; relu6; dwconv 3 s=2 p=1; relu6; conv 8 k=1; gap; "     \
    "dense 3"

static void test_predictions(void) {
    /* 13 nodes: at freeze 12 (only the last dense trains) 3 BNs fold, 3
     * activations fuse and the dropout goes */
    check_same_predictions(BN_CNN, 12, 7);
    /* at freeze 0 everything trains: no BN folds and no dropout goes, so
     * no activation follows a conv/dense directly */
    check_same_predictions(BN_CNN, 0, 0);
    /* freeze 6: the second BN (node 5) is frozen and folds; its relu6
     * (node 6) is trainable but fuses into the frozen conv all the same */
    check_same_predictions(BN_CNN, 6, 4);
    check_same_predictions("refcnn", 12, 4);
    check_same_predictions("refcnn", 0, 4);
    check_same_predictions("mlp", 3, 1);
    /* residual: the add's source is remapped; a conv whose pre-activation
     * output feeds an add keeps its separate relu */
    check_same_predictions("input 2x6x6; conv 2 k=3 p=1; relu; conv 2 k=3 p=1; batchnorm; add 1; relu; "
                           "flatten; dense 3",
                           7, 2);
    check_same_predictions("input 2x6x6; conv 2 k=3 p=1; relu; add 0; flatten; dense 3", 4, 0);
    check_same_predictions("input 2x6x6; dropout 0.2; conv 2 k=3 p=1; add -1; relu; flatten; dense 3", 5, 1);
    /* squeeze-excite: conv+bn+relu fold into one node that the mul reads */
    check_same_predictions(SE_CNN, 11, 3);
    /* inverted residual blocks: the ReLU6 after each 1x1 conv and after
     * each depthwise conv fuses (6 of them), the project convs feed adds or
     * the next block and have no activation */
    check_same_predictions(MNV2_BLOCKS, 10, 6);
    check_same_predictions(MNV2_BLOCKS, 0, 6);
}

/* The squeeze-excite mul's source after renumbering. */
static void test_remap_mul(void) {
    al_model *m = make(SE_CNN, 4);
    al_model *c;
    al_compile_report r;
    REQUIRE_OK(al_compile(m, 11, NULL, &c, &r));
    /* conv+bn+relu, gap, dense+relu, dense, hardsigmoid, mul 0, flatten, dense */
    CHECK(c->nnodes == 8 && c->nodes[5].cfg.type == AL_L_MUL && c->nodes[5].cfg.src == 0);
    CHECK(c->nodes[0].cfg.act == AL_ACT_RELU && c->nodes[2].cfg.act == AL_ACT_RELU);
    CHECK(r.folded_bn == 1 && r.fused_act == 2 && r.map[2] == 0 && r.map[8] == 5);
    al_compile_report_free(&r);
    al_model_free(c);
    al_model_free(m);
}

/* The residual case in detail: sources and freeze point after renumbering. */
static void test_remap(void) {
    al_model *m = make("input 2x6x6; conv 2 k=3 p=1; relu; conv 2 k=3 p=1; batchnorm; add 1; relu; flatten; dense 3",
                       4);
    al_model *c;
    al_compile_report r;
    REQUIRE_OK(al_compile(m, 7, NULL, &c, &r));
    /* conv+relu, conv+bn, add, relu?, flatten, dense: the relu after the add
     * cannot fuse (an add is not a conv/dense) */
    CHECK(c->nnodes == 6);
    CHECK(c->nodes[0].cfg.act == AL_ACT_RELU && c->nodes[1].cfg.type == AL_L_CONV2D && c->nodes[1].cfg.bias == 1);
    CHECK(c->nodes[2].cfg.type == AL_L_ADD && c->nodes[2].cfg.src == 0);
    CHECK(r.folded_bn == 1 && r.fused_act == 1 && r.freeze_out == 5 && c->freeze == 5);
    CHECK(al_model_meta(c, "autlearn.plan.nodes") &&
          strstr(al_model_meta(c, "autlearn.plan.nodes"), "conv+relu(0-1) conv+batchnorm(2-3) add(4)") != NULL);
    CHECK(r.map[0] == 0 && r.map[1] == 0 && r.map[2] == 1 && r.map[3] == 1 && r.map[4] == 2);
    al_compile_report_free(&r);
    al_model_free(c);
    al_model_free(m);
}

/* ---- training: same loss trajectory ---------------------------------------------------- */

/* SGD steps on a fixed batch; losses[s] is the mean loss before step s. */
static void train_steps(al_model *m, const float *x, const int32_t *y, int n, int steps, double *losses) {
    int k = (int)al_shape_numel(&m->nodes[m->nnodes - 1].out);
    float *dl = malloc(sizeof(float) * (size_t)n * (size_t)k);
    REQUIRE_OK(al_model_plan(m, n));
    for (int s = 0; s < steps; s++) {
        const float *logits;
        al_model_zero_grad(m);
        REQUIRE_OK(al_model_forward_from(m, NULL, 0, x, n, 1, &logits));
        double sum;
        long cnt, correct;
        al_softmax_ce(logits, y, n, k, 1.0f / (float)n, dl, &sum, &cnt, &correct);
        losses[s] = sum / (double)cnt;
        REQUIRE_OK(al_model_backward(m, NULL, x, dl, n));
        for (int i = 0; i < m->nnodes; i++)
            for (int p = 0; p < m->nodes[i].nparams; p++) {
                al_param *pr = &m->nodes[i].params[p];
                if (!m->nodes[i].trainable || pr->is_state) continue;
                for (size_t j = 0; j < pr->n; j++) pr->w[j] -= 0.1f * pr->g[j];
            }
    }
    free(dl);
}

static void check_same_training(const char *spec, int freeze) {
    al_model *m = make(spec, 21);
    REQUIRE_OK(al_model_freeze(m, freeze));
    al_model *c;
    REQUIRE_OK(al_compile(m, freeze, NULL, &c, NULL));
    enum { N = 8, STEPS = 6 };
    float *x = random_input(m, N, 8);
    int32_t y[N];
    int k = (int)al_shape_numel(&m->nodes[m->nnodes - 1].out);
    for (int i = 0; i < N; i++) y[i] = i % k;
    double la[STEPS], lb[STEPS];
    train_steps(m, x, y, N, STEPS, la);
    train_steps(c, x, y, N, STEPS, lb);
    int ok = 1;
    for (int s = 0; s < STEPS; s++) ok &= fabs(la[s] - lb[s]) <= REL_TOL * fmax(1.0, fabs(la[s]));
    if (!ok)
        for (int s = 0; s < STEPS; s++) fprintf(stderr, "%s freeze %d step %d: %.7f vs %.7f\n", spec, freeze, s, la[s], lb[s]);
    CHECK(ok);
    CHECK(la[STEPS - 1] < la[0]); /* it did train */
    free(x);
    al_model_free(c);
    al_model_free(m);
}

static void test_training(void) {
    check_same_training(BN_CNN, 12);
    check_same_training(BN_CNN, 8); /* dense 16 and its trainable BN (kept) train */
    check_same_training(BN_CNN, 0);
    check_same_training("mlp", 1);
    /* refcnn's conv2 and conv3 run backward in chunks of 4 and 7 samples
     * (conv2d.c): the fused activation's mask must follow the chunks */
    check_same_training("refcnn", 0);
}

/* ---- the memory plan ------------------------------------------------------------------- */

static void check_plan(al_model *m, int batch) {
    for (int naive = 0; naive < 2; naive++) {
        al_memplan p;
        REQUIRE_OK(al_memplan_build(m, batch, naive, &p));
        char why[256];
        int bad = al_memplan_check(&p, why, sizeof why);
        if (bad) fprintf(stderr, "plan of %s batch %d: %s\n", al_model_spec(m), batch, why);
        CHECK(!bad);
        CHECK(naive || (p.total >= p.live_peak && p.live_peak > 0));
        m->plan_naive = naive;
        CHECK(al_model_plan_bytes(m, batch) == p.total);
        al_model_release_plan(m);
        REQUIRE_OK(al_model_plan(m, batch));
        /* the planner's offsets are where the model's buffers are */
        const al_membuf *b = al_memplan_find(&p, AL_MB_ACT, m->nnodes - 1);
        CHECK(b && (char *)m->act[m->nnodes - 1] == m->plan_block + b->offset);
        al_memplan_free(&p);
        al_model_release_plan(m);
        m->plan_naive = 0;
    }
}

static void test_plan_sound(void) {
    const char *specs[] = {BN_CNN, "refcnn", "mlp", "reflm",
                           "input 2x6x6; conv 2 k=3 p=1; relu; conv 2 k=3 p=1; batchnorm; add 1; relu; flatten; dense 3",
                           "input 4; dense 4; add -1; dense 3"};
    for (size_t s = 0; s < sizeof specs / sizeof specs[0]; s++) {
        al_model *m = make(specs[s], 1);
        int n = m->nnodes;
        int freezes[4] = {0, 1, n / 2, n - 1};
        for (int f = 0; f < 4; f++) {
            REQUIRE_OK(al_model_freeze(m, freezes[f]));
            check_plan(m, 3);
            m->want_input_grad = !m->input_tokens;
            check_plan(m, 2);
            m->want_input_grad = 0;
        }
        al_model_free(m);
    }
    /* the checker catches an overlap: put two buffers alive together at one offset */
    al_model *m = make("refcnn", 1);
    al_memplan p;
    REQUIRE_OK(al_memplan_build(m, 4, 0, &p));
    char why[256];
    CHECK(al_memplan_check(&p, why, sizeof why) == 0);
    al_membuf *a1 = (al_membuf *)al_memplan_find(&p, AL_MB_ACT, 1), *a2 = (al_membuf *)al_memplan_find(&p, AL_MB_ACT, 2);
    REQUIRE_OK(a1 && a2 ? AL_OK : AL_EINVAL);
    a2->offset = a1->offset;
    CHECK(al_memplan_check(&p, why, sizeof why) == 1 && strstr(why, "overlap") != NULL);
    al_memplan_free(&p);
    al_model_free(m);
}

/* Training through the liveness plan gives the bit-identical losses and
 * gradients of the naive plan (every buffer its own bytes): whatever the
 * planner shares is really dead. LSTM with carried state, adds, trainable
 * and frozen batch norm, dropout, the input gradient. */
static void test_plan_exact(void) {
    const char *specs[] = {BN_CNN, "refcnn",
                           ("input 2x6x6; conv 2 k=3 p=1; relu; conv 2 k=3 p=1; batchnorm; add 1; relu; flatten; "
                            "dropout 0.2; dense 3"),
                           "tokens 6; embedding 5 vocab=11; lstm 7; dense 11"};
    for (size_t s = 0; s < sizeof specs / sizeof specs[0]; s++)
        for (int f = 0; f < 3; f++) {
            al_model *m[2];
            double loss[2][3];
            float *g[2];
            size_t gn = 0;
            for (int v = 0; v < 2; v++) {
                m[v] = make(specs[s], 5);
                int freeze = f == 0 ? 0 : f == 1 ? m[v]->nnodes / 2 : m[v]->nnodes - 1;
                REQUIRE_OK(al_model_freeze(m[v], freeze));
                m[v]->plan_naive = v;
                m[v]->want_input_grad = f == 0 && !m[v]->input_tokens;
                al_model_set_carry_state(m[v], 1);
                int n = 4, T = m[v]->input_tokens ? m[v]->in.d[0] : 1;
                int k = (int)al_shape_numel(&m[v]->nodes[m[v]->nnodes - 1].out) / T;
                float *x = random_input(m[v], n, 3);
                if (m[v]->input_tokens)
                    for (int i = 0; i < n * T; i++) x[i] = (float)(i * 7 % 11);
                int32_t *y = malloc(sizeof(int32_t) * (size_t)(n * T));
                for (int i = 0; i < n * T; i++) y[i] = i % k;
                /* three steps (the LSTM carries its state between them) */
                REQUIRE_OK(al_model_plan(m[v], n));
                float *dl = malloc(sizeof(float) * (size_t)(n * T * k));
                for (int st = 0; st < 3; st++) {
                    const float *logits;
                    al_model_zero_grad(m[v]);
                    REQUIRE_OK(al_model_forward_from(m[v], NULL, 0, x, n, 1, &logits));
                    double sum;
                    long cnt, cor;
                    al_softmax_ce(logits, y, n * T, k, 1.0f, dl, &sum, &cnt, &cor);
                    loss[v][st] = sum;
                    REQUIRE_OK(al_model_backward(m[v], NULL, x, dl, n));
                }
                size_t xin = m[v]->want_input_grad ? (size_t)n * al_shape_numel(&m[v]->in) : 0;
                g[v] = malloc(sizeof(float) * (m[v]->nweights + xin));
                size_t ng = 0;
                for (int i = 0; i < m[v]->nnodes; i++)
                    for (int p = 0; p < m[v]->nodes[i].nparams; p++)
                        if (m[v]->nodes[i].params[p].g) {
                            memcpy(g[v] + ng, m[v]->nodes[i].params[p].g, sizeof(float) * m[v]->nodes[i].params[p].n);
                            ng += m[v]->nodes[i].params[p].n;
                        }
                if (xin) memcpy(g[v] + ng, m[v]->dinput, sizeof(float) * xin);
                ng += xin;
                gn = ng;
                free(dl);
                free(y);
                free(x);
            }
            CHECK(memcmp(loss[0], loss[1], sizeof loss[0]) == 0);
            CHECK(memcmp(g[0], g[1], sizeof(float) * gn) == 0);
            /* and the liveness plan is smaller */
            CHECK(al_model_plan_bytes(m[0], 4) < (m[1]->plan_naive = 1, al_model_plan_bytes(m[1], 4)));
            for (int v = 0; v < 2; v++) {
                free(g[v]);
                al_model_free(m[v]);
            }
        }
}

/* The check: refcnn at the default personalization freeze point
 * (the output layer, node 12) and batch 32, compiled peak <= half the
 * uncompiled one; at freeze 0 it still shrinks. With the frozen part in
 * chunks (slim plans) and without (whole plans): the compiled model's
 * fused activations are fewer whole-batch buffers, but with chunks its
 * narrower widest node gives a larger chunk, whose arena may outweigh
 * them, so there the planner alone compares without its arena. */
static void test_refcnn_ratio(void) {
    al_model *m = make("refcnn", 1);
    for (int whole = 0; whole < 2; whole++)
        for (int f = 0; f < 2; f++) {
            int freeze = f ? 0 : 12;
            al_model_set_forward_chunk(m, whole ? -1 : 0);
            al_model *c;
            al_compile_report r;
            REQUIRE_OK(al_compile(m, freeze, NULL, &c, &r));
            fprintf(stderr,
                    "refcnn freeze %d batch 32 chunks %s: uncompiled %zu bytes, planner only %zu (arena %zu), "
                    "compiled %zu (arena %zu; %.3f)\n",
                    freeze, whole ? "off" : "on", r.uncompiled_bytes, r.input_plan_bytes, r.input_arena_bytes,
                    r.plan_bytes, r.arena_bytes, (double)r.plan_bytes / (double)r.uncompiled_bytes);
            CHECK(r.batch == 32 && r.plan_bytes == al_model_plan_bytes(c, 32) && c->chunk == m->chunk);
            CHECK(r.plan_bytes - r.arena_bytes < r.input_plan_bytes - r.input_arena_bytes &&
                  r.input_plan_bytes < r.uncompiled_bytes);
            /* chunks (freeze 12: the frozen part runs in them) */
            CHECK((whole || freeze == 0) ? r.arena_bytes == 0 && r.input_arena_bytes == 0
                                         : r.arena_bytes > 0 && r.input_arena_bytes > 0);
            if (freeze == 12) CHECK(2 * r.plan_bytes <= r.uncompiled_bytes);
            al_compile_report_free(&r);
            al_model_free(c);
        }
    al_model_free(m);
}

/* ---- errors, options, the model file --------------------------------------------------- */

static void test_errors(void) {
    al_model *m = make(BN_CNN, 1), *c = NULL;
    CHECK_STATUS(al_compile(m, -1, NULL, &c, NULL), AL_ERANGE);
    CHECK(strstr(al_last_error(), "freeze point -1 out of range 0..13") != NULL);
    CHECK_STATUS(al_compile(m, 14, NULL, &c, NULL), AL_ERANGE);
    CHECK(c == NULL);
    al_compile_opts o;
    al_compile_defaults(&o);
    o.batch = 0;
    CHECK_STATUS(al_compile(m, 12, &o, &c, NULL), AL_ERANGE);
    al_model_free(m);
    /* a frozen frontier of two tensors (the add's operand, the conv's
     * output) compiles; the model input on it does not */
    m = make("input 2x6x6; conv 2 k=3 p=1; relu; conv 2 k=3 p=1; add 1; flatten; dense 3", 1);
    REQUIRE_OK(al_compile(m, 3, NULL, &c, NULL));
    al_model_free(c);
    al_model *se = make("input 36; dense 36; tanh; add -1; dense 3", 1);
    CHECK_STATUS(al_compile(se, 2, NULL, &c, NULL), AL_EINVAL);
    CHECK(strstr(al_last_error(), "node 2 adds the model input across the freeze point 2") != NULL);
    al_model_free(se);
    /* passes off: nothing removed, the same graph */
    al_compile_defaults(&o);
    o.fold_bn = o.fuse_act = o.drop_dropout = 0;
    REQUIRE_OK(al_compile(m, 2, &o, &c, NULL));
    CHECK(c->nnodes == m->nnodes && strcmp(al_model_spec(c), al_model_spec(m)) == 0);
    al_model_free(c);
    al_model_free(m);
}

static void test_file(void) {
    al_model *m = make(BN_CNN, 3), *c, *back;
    REQUIRE_OK(al_model_set_meta(m, "autlearn.plan.peak_bytes", "1")); /* a stale plan is not carried over */
    REQUIRE_OK(al_compile(m, 12, NULL, &c, NULL));
    char path[64];
    snprintf(path, sizeof path, "/tmp/al_test_compile_%d.gguf", (int)getpid());
    REQUIRE_OK(al_model_save(c, path));
    REQUIRE_OK(al_model_load(path, &back));
    remove(path);
    CHECK(strcmp(al_model_spec(back), al_model_spec(c)) == 0 && back->freeze == c->freeze);
    size_t stored, now;
    CHECK_OK(al_compile_check_plan(back, &stored, &now));
    CHECK(stored > 1 && stored == now && now == al_model_plan_bytes(back, 32));
    float *x = random_input(c, 3, 1), ya[9], yb[9];
    REQUIRE_OK(al_model_predict(c, NULL, x, 3, ya));
    REQUIRE_OK(al_model_predict(back, NULL, x, 3, yb));
    CHECK(memcmp(ya, yb, sizeof ya) == 0);
    /* a plan that does not match what this build computes is reported */
    REQUIRE_OK(al_model_set_meta(back, "autlearn.plan.peak_bytes", "12345"));
    CHECK_STATUS(al_compile_check_plan(back, &stored, &now), AL_ESTATE);
    CHECK(stored == 12345 && now != stored);
    free(x);
    al_model_free(back);
    al_model_free(c);
    al_model_free(m);
}

/* ---- int8 frozen part (--int8) ---------------------------------------------------------- */

/* Largest |a - b| over the largest |a|: int8 rounding is relative to the
 * range of the outputs, not to each entry. */
static double max_abs_over_range(const float *a, const float *b, size_t k) {
    double d = 0, r = 1e-12;
    for (size_t i = 0; i < k; i++) {
        double e = fabs((double)a[i] - (double)b[i]);
        if (e > d) d = e;
        if (fabs((double)a[i]) > r) r = fabs((double)a[i]);
    }
    return d / r;
}

static void test_int8(void) {
    /* conv K = 4*9 = 36 and 16*9 = 144, dense K = 16*4*4 = 256: all >= 32,
     * so the three frozen weight layers get int8; BN folds and the relus
     * fuse into the int8 layers first */
    const char *spec = "input 4x8x8; conv 16 k=3 p=1; batchnorm; relu; maxpool k=2; conv 16 k=3 p=1; relu; "
                       "flatten; dense 32; relu; dense 3";
    al_model *m = make(spec, 5);
    REQUIRE_OK(al_model_freeze(m, 9));
    al_compile_opts o;
    al_compile_defaults(&o);
    al_model *cf, *cq;
    al_compile_report rf, rq;
    REQUIRE_OK(al_compile(m, 9, &o, &cf, &rf));
    o.quantize_frozen = 1;
    REQUIRE_OK(al_compile(m, 9, &o, &cq, &rq));
    CHECK(rf.quantized == 0 && rq.quantized == 3);
    CHECK(rq.fused_act == 3 && rq.folded_bn == 1);
    CHECK(strstr(al_model_meta(cq, "autlearn.plan.passes"), "quantize_frozen=3") != NULL);
    int n = 5;
    float *x = random_input(m, n, 9);
    size_t k = (size_t)n * 3;
    float *ya = malloc(sizeof(float) * k), *yf = malloc(sizeof(float) * k), *yq = malloc(sizeof(float) * k);
    REQUIRE_OK(al_model_predict(m, NULL, x, n, ya));
    REQUIRE_OK(al_model_predict(cf, NULL, x, n, yf));
    REQUIRE_OK(al_model_predict(cq, NULL, x, n, yq));
    double dq = max_abs_over_range(yf, yq, k), da = max_abs_over_range(ya, yq, k);
    fprintf(stderr, "int8 compile: |float - int8| / range = %.4g (vs uncompiled %.4g)\n", dq, da);
    /* the int8 kernels ran (not bit-equal to float) and stayed close; a
     * missing fused relu in the int8 path would be far off */
    CHECK(dq > 0 && dq < 0.05 && da < 0.05);
    /* the trainable suffix still trains on top of the int8 prefix */
    int32_t y[5] = {0, 1, 2, 0, 1};
    double losses[3];
    train_steps(cq, x, y, n, 3, losses);
    CHECK(losses[2] < losses[0]);
    free(ya);
    free(yf);
    free(yq);
    free(x);
    al_compile_report_free(&rf);
    al_compile_report_free(&rq);
    al_model_free(cf);
    al_model_free(cq);
    al_model_free(m);
}

int main(void) {
    test_fused_gradcheck();
    test_fused_equals_separate();
    test_spec_act();
    test_predictions();
    test_remap();
    test_remap_mul();
    test_training();
    test_plan_sound();
    test_plan_exact();
    test_refcnn_ratio();
    test_int8();
    test_errors();
    test_file();
    TEST_END("test_compile");
}
