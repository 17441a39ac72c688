/* SVD compression (src/compile): the Jacobi SVD on odd sizes, factorization
 * of dense, conv, LSTM-input and output layers at full rank (same
 * predictions) and at lower rank (MACs as computed), the rank policies, and
 * the remapping of the freeze point, metadata and residual adds. */
#include "al_test.h"
#include "cloud/compile/compress.h"

static void fill_random(float *a, size_t n, uint64_t seed) {
    al_rng r;
    al_rng_seed(&r, seed, 1);
    for (size_t i = 0; i < n; i++) a[i] = al_rng_normal(&r);
}

/* a (rows x cols) = u diag(s) vt, sorted non-negative s, orthonormal factors. */
static void check_svd(const float *a, int rows, int cols) {
    int k = AL_MIN(rows, cols);
    float *u = malloc(sizeof(float) * (size_t)rows * k), *s = malloc(sizeof(float) * k);
    float *vt = malloc(sizeof(float) * (size_t)k * cols);
    CHECK_OK(al_svd(a, rows, cols, u, s, vt));
    double amax = 0, err = 0, orth_u = 0, orth_v = 0;
    for (size_t i = 0; i < (size_t)rows * cols; i++) amax = fmax(amax, fabs(a[i]));
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) {
            double r = 0;
            for (int q = 0; q < k; q++) r += (double)u[(size_t)i * k + q] * s[q] * vt[(size_t)q * cols + j];
            err = fmax(err, fabs(r - a[(size_t)i * cols + j]));
        }
    for (int p = 0; p < k; p++) {
        CHECK(s[p] >= 0.0f);
        if (p > 0) CHECK(s[p] <= s[p - 1]);
        for (int q = 0; q < k; q++) {
            double du = 0, dv = 0;
            for (int i = 0; i < rows; i++) du += (double)u[(size_t)i * k + p] * u[(size_t)i * k + q];
            for (int j = 0; j < cols; j++) dv += (double)vt[(size_t)p * cols + j] * vt[(size_t)q * cols + j];
            orth_u = fmax(orth_u, fabs(du - (p == q)));
            orth_v = fmax(orth_v, fabs(dv - (p == q)));
        }
    }
    if (err > 1e-5 * (amax > 0 ? amax : 1) || orth_u > 1e-5 || orth_v > 1e-5)
        fprintf(stderr, "svd %dx%d: reconstruction %g (max |a| %g), orthonormality U %g V %g\n", rows, cols, err,
                amax, orth_u, orth_v);
    CHECK(err <= 1e-5 * (amax > 0 ? amax : 1));
    CHECK(orth_u <= 1e-5);
    CHECK(orth_v <= 1e-5);
    free(u);
    free(s);
    free(vt);
}

static void test_svd(void) {
    static const int sizes[][2] = {{1, 1}, {7, 3}, {3, 7}, {33, 257}, {257, 33}, {16, 16}};
    for (size_t t = 0; t < sizeof sizes / sizeof sizes[0]; t++) {
        int r = sizes[t][0], c = sizes[t][1];
        float *a = malloc(sizeof(float) * (size_t)r * c);
        fill_random(a, (size_t)r * c, 10 + t);
        check_svd(a, r, c);
        free(a);
    }
    /* rank 2 (6 x 5): three zero singular values, still orthonormal factors */
    float a[30], x[12], y[10];
    fill_random(x, 12, 3);
    fill_random(y, 10, 4);
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 5; j++) a[i * 5 + j] = x[i * 2] * y[j] + x[i * 2 + 1] * y[5 + j];
    check_svd(a, 6, 5);
    float s[5];
    CHECK_OK(al_svd(a, 6, 5, NULL, s, NULL));
    CHECK(s[1] > 1e-3f && s[2] < 1e-4f * s[0]);
    /* known singular values: a scaled permutation */
    float d[9] = {0, 2, 0, 0, 0, -5, 1, 0, 0};
    CHECK_OK(al_svd(d, 3, 3, NULL, s, NULL));
    CHECK_NEAR(s[0], 5, 1e-6);
    CHECK_NEAR(s[1], 2, 1e-6);
    CHECK_NEAR(s[2], 1, 1e-6);
    check_svd(d, 3, 3);
    float z[6] = {0};
    check_svd(z, 2, 3); /* all zero: completed factors */
    CHECK_STATUS(al_svd(a, 0, 5, NULL, s, NULL), AL_EINVAL);
}

static al_model *random_model(const char *spec, uint64_t seed) {
    al_model *m;
    REQUIRE_OK(al_model_from_spec(spec, seed, &m));
    return m;
}

/* max |predict(a) - predict(b)| over n random inputs (token ids for text). */
static double max_diff(al_model *a, al_model *b, int n, uint64_t seed) {
    size_t xn = al_shape_numel(&a->in), yn = al_shape_numel(&a->nodes[a->nnodes - 1].out);
    float *x = malloc(sizeof(float) * xn * n), *ya = malloc(sizeof(float) * yn * n), *yb = malloc(sizeof(float) * yn * n);
    al_rng r;
    al_rng_seed(&r, seed, 2);
    for (size_t i = 0; i < xn * n; i++)
        x[i] = a->input_tokens ? (float)al_rng_below(&r, (uint32_t)a->nodes[0].cfg.vocab) : al_rng_uniform(&r);
    REQUIRE_OK(al_model_predict(a, NULL, x, n, ya));
    REQUIRE_OK(al_model_predict(b, NULL, x, n, yb));
    double d = 0;
    for (size_t i = 0; i < yn * n; i++) d = fmax(d, fabs(ya[i] - yb[i]));
    free(x);
    free(ya);
    free(yb);
    return d;
}

static al_model *compress(al_model *m, al_rank_policy kind, double v, int force, al_compress_plan *keep) {
    al_compress_plan p;
    REQUIRE_OK(al_compress_analyze(m, &p));
    al_compress_policy pol = {kind, v, force};
    REQUIRE_OK(al_compress_choose(&p, &pol));
    al_model *o;
    REQUIRE_OK(al_compress_apply(m, &p, &o));
    if (keep)
        *keep = p;
    else
        al_compress_plan_free(&p);
    return o;
}

#define CNN "input 1x8x8; conv 6 k=3 p=1; relu; conv 8 k=3 s=2 p=1; relu; flatten; dense 24; relu; dense 3"
#define LM "tokens 5; embedding 8 vocab=40; lstm 12; dense 40"

static void test_full_rank(void) {
    /* conv (stride 1 and 2), dense, output layer: all at full rank */
    al_model *m = random_model(CNN, 7);
    al_compress_plan p;
    al_model *o = compress(m, AL_RANK_FIXED, 1e6, 1, &p);
    CHECK(o->nnodes == m->nnodes + 4);
    CHECK(p.nlayers == 4);
    CHECK(!strcmp(al_model_node_type(o, 0), "conv") && o->nodes[0].cfg.units == 6 && !o->nodes[0].cfg.bias);
    CHECK(o->nodes[1].cfg.k == 1 && o->nodes[1].cfg.bias);
    CHECK(o->nodes[3].cfg.stride == 2 && o->nodes[3].cfg.units == 8); /* min(8, 6*9) */
    double d = max_diff(m, o, 5, 1);
    if (d > 1e-4) fprintf(stderr, "cnn full rank: predictions differ by %g\n", d);
    CHECK(d <= 1e-4);
    /* it still differs from a model with other weights (the check can fail) */
    al_model *other = random_model(CNN, 8);
    CHECK(max_diff(m, other, 5, 1) > 1e-3);
    al_model_free(other);
    /* the file round trip keeps it */
    char path[512];
    snprintf(path, sizeof path, "%s/test_compress_%d.gguf", AL_BINARY_DIR, 1);
    REQUIRE_OK(al_model_save(o, path));
    al_model *l;
    REQUIRE_OK(al_model_load(path, &l));
    CHECK(!strcmp(al_model_spec(l), al_model_spec(o)));
    CHECK(max_diff(o, l, 3, 2) == 0.0);
    remove(path);
    al_model_free(l);
    al_compress_plan_free(&p);
    al_model_free(o);
    al_model_free(m);

    /* LSTM input (a dense r inserted before the LSTM) and the LM's output layer */
    m = random_model(LM, 9);
    o = compress(m, AL_RANK_FIXED, 1e6, 1, NULL);
    CHECK(o->nnodes == 5);
    CHECK(!strcmp(al_model_node_type(o, 1), "dense") && o->nodes[1].cfg.units == 8 && !o->nodes[1].cfg.bias);
    CHECK(!strcmp(al_model_node_type(o, 2), "lstm") && o->nodes[2].params[0].dims[1] == 8);
    CHECK(!strcmp(al_model_node_type(o, 3), "dense") && o->nodes[3].cfg.units == 12);
    /* W_hh [48, 12] at full rank 12: the LSTM's own factors U [48, 12], V [12, 12] */
    CHECK(o->nodes[2].cfg.rank == 12 && o->nodes[2].nparams == 5);
    CHECK(!strcmp(o->nodes[2].params[1].name, "weight_hh_u") && o->nodes[2].params[1].dims[1] == 12);
    d = max_diff(m, o, 4, 3);
    if (d > 1e-4) fprintf(stderr, "lm full rank: predictions differ by %g\n", d);
    CHECK(d <= 1e-4);
    al_model_free(o);
    /* W_hh alone (the forced full rank of W_ih and the output layer would be
     * kept without force; here rank 12 is forced on W_hh only) */
    REQUIRE_OK(al_compress_analyze(m, &p));
    CHECK(p.nlayers == 3 && p.layers[0].kind == AL_CK_LSTM_IH && p.layers[1].kind == AL_CK_LSTM_HH);
    CHECK(p.layers[1].node == 1 && p.layers[1].m == 48 && p.layers[1].n == 12 && p.layers[1].rows == 5);
    al_compress_policy fix = {AL_RANK_FIXED, 12, 1};
    CHECK_OK(al_compress_choose(&p, &fix));
    p.layers[0].rank = p.layers[2].rank = 0;
    REQUIRE_OK(al_compress_apply(m, &p, &o));
    CHECK(o->nnodes == m->nnodes && o->nodes[1].cfg.rank == 12);
    d = max_diff(m, o, 4, 3);
    if (d > 1e-4) fprintf(stderr, "lm W_hh full rank: predictions differ by %g\n", d);
    CHECK(d <= 1e-4);
    /* and the file round trip keeps the factors */
    snprintf(path, sizeof path, "%s/test_compress_%d.gguf", AL_BINARY_DIR, 2);
    REQUIRE_OK(al_model_save(o, path));
    REQUIRE_OK(al_model_load(path, &l));
    remove(path);
    CHECK(!strcmp(al_model_spec(l), "tokens 5; embedding 8 vocab=40; lstm 12 rank=12; dense 40"));
    CHECK(max_diff(o, l, 3, 2) == 0.0);
    al_model_free(l);
    al_compress_plan_free(&p);
    al_model_free(o);
    /* the weights really matter: a different W_hh changes the predictions */
    for (size_t i = 0; i < m->nodes[1].params[1].n; i++) m->nodes[1].params[1].w[i] *= -1.0f;
    REQUIRE_OK(al_compress_analyze(m, &p));
    CHECK_OK(al_compress_choose(&p, &fix));
    p.layers[0].rank = p.layers[2].rank = 0;
    REQUIRE_OK(al_compress_apply(m, &p, &o));
    al_model *m0 = random_model(LM, 9);
    CHECK(max_diff(m0, o, 4, 3) > 1e-3);
    al_model_free(m0);
    al_compress_plan_free(&p);
    al_model_free(o);
    al_model_free(m);

    /* a residual add keeps pointing at the same tensor */
    m = random_model("input 10; dense 10; relu; dense 10; add 1; dense 4", 11);
    o = compress(m, AL_RANK_FIXED, 1e6, 1, NULL);
    CHECK(o->nnodes == 8 && o->nodes[5].cfg.type == AL_L_ADD && o->nodes[5].cfg.src == 2);
    CHECK(max_diff(m, o, 4, 4) <= 1e-4);
    al_model_free(o);
    al_model_free(m);
}

static void test_low_rank(void) {
    al_model *m = random_model(CNN, 7);
    uint64_t before = al_model_macs(m);
    al_compress_plan p;
    al_model *o = compress(m, AL_RANK_FIXED, 2, 0, &p);
    /* by hand, rank 2 everywhere (each pays: 2*(m+n) < m*n): conv1 6x9 on 64
     * pixels, conv2 8x54 on 16 pixels (stride 2), dense 24x128, dense 3x24 */
    uint64_t want = before - 64 * 6 * 9 + 64 * 2 * 15 - 16 * 8 * 54 + 16 * 2 * 62 - 24 * 128 + 2 * 152 - 3 * 24 + 2 * 27;
    CHECK(p.macs_after == want);
    CHECK(al_model_macs(o) == want);
    CHECK(al_model_num_params(o) == p.params_after);
    CHECK(max_diff(m, o, 3, 5) > 1e-4); /* rank 2 is not exact */
    al_compress_plan_free(&p);
    al_model_free(o);

    /* the MAC rule: dense 3x24 at rank 3 (3*27 >= 72) is kept unless forced */
    o = compress(m, AL_RANK_FIXED, 3, 0, &p);
    CHECK(p.layers[3].rank == 0 && p.layers[3].macs_after == p.layers[3].macs_before);
    CHECK(p.layers[2].rank == 3);
    CHECK(o->nnodes == m->nnodes + 3 && o->nodes[o->nnodes - 1].cfg.units == 3);
    al_compress_plan_free(&p);
    al_model_free(o);
    o = compress(m, AL_RANK_FIXED, 3, 1, &p);
    CHECK(p.layers[3].rank == 3 && o->nnodes == m->nnodes + 4);
    al_compress_plan_free(&p);
    al_model_free(o);
    al_model_free(m);

    /* the LM's output layer alone: 40x12 at rank 4 */
    m = random_model(LM, 9);
    before = al_model_macs(m);
    o = compress(m, AL_RANK_FIXED, 4, 0, &p);
    /* lstm W_ih 48x8 at rank 4: 5 steps * 4*(48+8) < 5*384 -> factorized too;
     * W_hh 48x12 at rank 4: 5 steps * 4*(48+12) < 5*576 -> the LSTM gets rank=4 */
    want = before - 5 * 40 * 12 + 5 * 4 * 52 - 5 * 48 * 8 + 5 * 4 * 56 - 5 * 48 * 12 + 5 * 4 * 60;
    CHECK(al_model_macs(o) == want && p.macs_after == want);
    CHECK(al_model_num_params(o) == p.params_after);
    CHECK(o->nodes[2].cfg.rank == 4 && p.layers[1].params_after == 4 * 60);
    CHECK(max_diff(m, o, 3, 5) > 1e-4);
    al_compress_plan_free(&p);
    al_model_free(o);
    /* the MAC rule for W_hh: rank 10 (10*60 >= 576) is kept, rank 9 (540) pays */
    o = compress(m, AL_RANK_FIXED, 10, 0, &p);
    CHECK(p.layers[1].kind == AL_CK_LSTM_HH && p.layers[1].rank == 0 && o->nodes[1].cfg.rank == 0);
    CHECK(o->nodes[1].nparams == 4 && al_model_macs(o) == before);
    al_compress_plan_free(&p);
    al_model_free(o);
    o = compress(m, AL_RANK_FIXED, 9, 0, &p);
    CHECK(p.layers[1].rank == 9 && p.layers[0].rank == 0);
    CHECK(al_model_macs(o) == p.macs_after && p.macs_after == before - 5 * 48 * 12 + 5 * 9 * 60 - 5 * 40 * 12 + 5 * 9 * 52);
    /* an LSTM with a factorized W_hh offers only W_ih to a second pass */
    al_compress_plan q;
    REQUIRE_OK(al_compress_analyze(o, &q));
    CHECK(q.nlayers == 3 && q.layers[0].kind == AL_CK_LSTM_IH && q.layers[1].kind == AL_CK_DENSE);
    al_compress_plan_free(&q);
    al_compress_plan_free(&p);
    al_model_free(o);
    al_model_free(m);
}

static void test_policies(void) {
    /* dense 20x20 with known singular values 6,5,3,2,1 and 0.1 fifteen times */
    al_model *m = random_model("input 20; dense 20 bias=0", 1);
    float *w = m->nodes[0].params[0].w;
    memset(w, 0, sizeof(float) * 400);
    const float sv[5] = {3, 6, 1, 5, 2}; /* unsorted on purpose */
    for (int i = 0; i < 20; i++) w[i * 20 + (i * 7) % 20] = i < 5 ? sv[i] : 0.1f;
    double total = 36 + 25 + 9 + 4 + 1 + 15 * ((double)0.1f * 0.1f);
    al_compress_plan p;
    REQUIRE_OK(al_compress_analyze(m, &p));
    CHECK_NEAR(p.layers[0].s[0], 6, 1e-5);
    CHECK_NEAR(p.layers[0].s[4], 1, 1e-5);
    CHECK_NEAR(p.layers[0].s[19], 0.1, 1e-5);
    /* smallest r whose energy is >= X */
    CHECK(al_compress_energy_rank(&p.layers[0], 36 / total) == 1);
    CHECK(al_compress_energy_rank(&p.layers[0], 36 / total + 1e-3) == 2);
    CHECK(al_compress_energy_rank(&p.layers[0], 0.99) == 5);
    CHECK(al_compress_energy_rank(&p.layers[0], 1.0) == 20);
    al_compress_policy pol = {AL_RANK_ENERGY, 0.9, 0};
    CHECK_OK(al_compress_choose(&p, &pol));
    CHECK(p.layers[0].rank == 3); /* (36+25+9)/75.15 = 0.93 */
    CHECK_NEAR(p.layers[0].energy, 70 / total, 1e-6);
    CHECK(p.macs_after == 3 * 40);
    pol.value = 1.0; /* full rank does not pay: kept */
    CHECK_OK(al_compress_choose(&p, &pol));
    CHECK(p.layers[0].rank == 0 && p.macs_after == 400);
    pol.value = 0.0;
    CHECK_STATUS(al_compress_choose(&p, &pol), AL_EINVAL);
    pol.value = 1.5;
    CHECK_STATUS(al_compress_choose(&p, &pol), AL_EINVAL);
    al_compress_plan_free(&p);
    al_model_free(m);

    /* MAC and parameter targets: a common threshold by bisection */
    m = random_model(CNN, 7);
    REQUIRE_OK(al_compress_analyze(m, &p));
    for (int kind = AL_RANK_MACS; kind <= AL_RANK_PARAMS; kind++) {
        const double factors[] = {1.5, 2.0, 3.0};
        for (int f = 0; f < 3; f++) {
            al_compress_policy q = {(al_rank_policy)kind, factors[f], 0};
            CHECK_OK(al_compress_choose(&p, &q));
            double before = kind == AL_RANK_MACS ? (double)p.macs_before : (double)p.params_before;
            double after = kind == AL_RANK_MACS ? (double)p.macs_after : (double)p.params_after;
            CHECK(after * factors[f] <= before);
            /* the largest such threshold: a little more energy misses the target */
            double thr = p.threshold;
            CHECK(thr > 0 && thr < 1);
            al_compress_policy e = {AL_RANK_ENERGY, fmin(1.0, thr + 1e-6), 0};
            CHECK_OK(al_compress_choose(&p, &e));
            after = kind == AL_RANK_MACS ? (double)p.macs_after : (double)p.params_after;
            CHECK(after * factors[f] > before);
            CHECK_OK(al_compress_choose(&p, &q));
            al_model *o;
            REQUIRE_OK(al_compress_apply(m, &p, &o));
            CHECK(al_model_macs(o) == p.macs_after);
            CHECK(al_model_num_params(o) == p.params_after);
            al_model_free(o);
        }
        al_compress_policy q = {(al_rank_policy)kind, 1000, 0};
        CHECK_STATUS(al_compress_choose(&p, &q), AL_ERANGE);
        q.value = 1.0;
        CHECK_STATUS(al_compress_choose(&p, &q), AL_EINVAL);
    }
    al_compress_plan_free(&p);
    al_model_free(m);

    /* the LM's W_hh is one of the matrices the common threshold ranks */
    m = random_model("tokens 6; embedding 16 vocab=50; lstm 32; dense 50", 3);
    REQUIRE_OK(al_compress_analyze(m, &p));
    CHECK(p.nlayers == 3 && p.layers[1].kind == AL_CK_LSTM_HH && p.layers[1].macs_before == 6 * 128 * 32);
    for (int kind = AL_RANK_ENERGY; kind <= AL_RANK_PARAMS; kind++) {
        al_compress_policy q = {(al_rank_policy)kind, kind == AL_RANK_ENERGY ? 0.5 : 2.0, 0};
        CHECK_OK(al_compress_choose(&p, &q));
        CHECK(p.layers[1].rank > 0 && p.layers[1].rank < 26); /* 26*160 >= 128*32 */
        if (kind == AL_RANK_ENERGY) CHECK(p.layers[1].rank == al_compress_energy_rank(&p.layers[1], 0.5));
        al_model *o;
        REQUIRE_OK(al_compress_apply(m, &p, &o));
        CHECK(o->nodes[1 + (p.layers[0].rank > 0)].cfg.rank == p.layers[1].rank);
        CHECK(al_model_macs(o) == p.macs_after);
        CHECK(al_model_num_params(o) == p.params_after);
        al_model_free(o);
    }
    al_compress_plan_free(&p);
    al_model_free(m);

    /* nothing to factorize */
    m = random_model("input 4; relu", 1);
    CHECK_STATUS(al_compress_analyze(m, &p), AL_EINVAL);
    al_model_free(m);
}

static void test_freeze_meta(void) {
    /* freeze at the output layer (node 7): both its factors stay trainable */
    al_model *m = random_model(CNN, 7);
    REQUIRE_OK(al_model_freeze(m, 7));
    REQUIRE_OK(al_model_set_meta(m, "autlearn.freeze", "7"));
    REQUIRE_OK(al_model_set_meta(m, "autlearn.scenario", "image"));
    al_model *o = compress(m, AL_RANK_FIXED, 2, 1, NULL);
    CHECK(al_model_freeze_point(o) == 10);
    CHECK(!strcmp(al_model_meta(o, "autlearn.freeze"), "10"));
    CHECK(!strcmp(al_model_meta(o, "autlearn.scenario"), "image"));
    CHECK(!o->nodes[9].trainable && o->nodes[10].trainable && o->nodes[11].trainable);
    al_model_free(o);
    al_model_free(m);
}

/* The factorized model trains: its loss drops on a small set. */
static void test_retrain(void) {
    al_dataset *d = al_test_images(96, 5);
    al_model *m = random_model(CNN, 7);
    al_model *o = compress(m, AL_RANK_FIXED, 2, 0, NULL);
    double loss0, acc0, loss1, acc1;
    REQUIRE_OK(al_evaluate(o, NULL, d, 32, &loss0, &acc0));
    al_train_config tc;
    al_train_config_default(&tc);
    tc.epochs = 4;
    tc.lr = 0.05;
    al_trainer *t;
    REQUIRE_OK(al_trainer_new(o, NULL, &tc, &t));
    al_train_report r;
    REQUIRE_OK(al_trainer_run(t, d, NULL, &r));
    al_trainer_free(t);
    REQUIRE_OK(al_evaluate(o, NULL, d, 32, &loss1, &acc1));
    CHECK(loss1 < loss0);
    al_model_free(o);
    al_model_free(m);
    al_dataset_free(d);
}

int main(void) {
    test_svd();
    test_full_rank();
    test_low_rank();
    test_policies();
    test_freeze_meta();
    test_retrain();
    TEST_END("test_compress");
}
