/* int8 quantization of the frozen part (src/cloud/compile/quant.c):
 *  - per-channel weight error: |w - q*s| <= s/2, s = max|w_c|/127, and the
 *    node's floats become exactly q*s;
 *  - the int8 forward of one conv / one dense node against the float
 *    forward of the same (dequantized) weights, within the bound that the
 *    activation rounding gives: |dy_c| <= sum_k |w_ck| * max|x| / 254 per
 *    row (plus float rounding), for every int8 GEMM variant; 1 and 2
 *    threads give bitwise the same outputs;
 *  - a quantized-then-trained model: only the float suffix changes, the
 *    loss goes down, the int8 prefix is untouched;
 *  - unfreezing drops the int8 weights (floats stay), clone keeps them;
 *  - save/load round trip is bit-exact (int8, scales, floats, predictions),
 *    and hostile variants of the file are refused. */
#include "al_test.h"
#include "cloud/compile/quant.h"
#include "kernels/kernels.h"

#include <unistd.h>

static al_model *build(const char *spec, uint64_t seed) {
    al_model *m;
    REQUIRE_OK(al_model_from_spec(spec, 1, &m));
    al_model_init_weights(m, seed);
    return m;
}

static void test_weight_error(void) {
    al_model *m = build("input 4x7x7; conv 33 k=3 p=1; relu; flatten; dense 7", 3);
    float *orig = malloc(sizeof(float) * m->nweights);
    memcpy(orig, m->wblock, sizeof(float) * m->nweights);
    CHECK_STATUS(al_quantize_node(m, 0), AL_ESTATE); /* trainable: refused */
    CHECK_STATUS(al_quantize_node(m, 1), AL_EINVAL); /* relu: refused */
    REQUIRE_OK(al_model_freeze(m, 3));
    int count = -1;
    REQUIRE_OK(al_quantize_frozen(m, &count));
    CHECK(count == 1 && al_node_is_quantized(m, 0) && !al_node_is_quantized(m, 3));
    const struct al_qnode *q = m->nodes[0].q;
    CHECK(q->N == 33 && q->K == 36);
    int bad = 0;
    for (int c = 0; c < q->N; c++) {
        float mx = 0.0f;
        for (int k = 0; k < q->K; k++) mx = fmaxf(mx, fabsf(orig[(size_t)c * q->K + k]));
        if (fabsf(q->scale[c] - mx / 127.0f) > 1e-6f * mx) bad++;
        for (int k = 0; k < q->K; k++) {
            size_t o = (size_t)c * q->K + k;
            if (fabsf(orig[o] - q->w[o] * q->scale[c]) > 0.5f * q->scale[c] * 1.0001f) bad++;
            if (m->nodes[0].params[0].w[o] != (float)q->w[o] * q->scale[c]) bad++;
            if (q->w[o] == -128) bad++;
        }
    }
    CHECK(bad == 0);
    /* the bias and the trainable dense stay as they were */
    CHECK(memcmp(m->nodes[0].params[1].w, orig + q->N * q->K, sizeof(float) * (size_t)q->N) == 0);
    CHECK(memcmp(m->nodes[3].params[0].w, orig + (m->nodes[3].params[0].w - m->wblock),
                 sizeof(float) * m->nodes[3].params[0].n) == 0);
    free(orig);
    al_model_free(m);
}

/* The int8 forward of node 0 against the float forward of the same weights. */
static void check_forward(const char *spec, int n, al_pool *pool) {
    al_model *f = build(spec, 9), *q;
    REQUIRE_OK(al_model_freeze(f, 1));
    REQUIRE_OK(al_model_clone(f, &q));
    REQUIRE_OK(al_quantize_node(q, 0)); /* any K, also below AL_QUANT_MIN_K */
    REQUIRE_OK(al_model_copy_weights(f, q)); /* the float model gets the dequantized weights */
    CHECK(al_model_quantized_count(q) == 1 && al_model_quantized_count(f) == 0);
    al_node *nd = &q->nodes[0];
    size_t nin = al_shape_numel(&q->in), nout = al_shape_numel(&nd->out);
    float *x = malloc(sizeof(float) * n * nin), *yf = malloc(sizeof(float) * n * nout);
    float *yq = malloc(sizeof(float) * n * nout), *yq2 = malloc(sizeof(float) * n * nout);
    al_rng r;
    al_rng_seed(&r, 4, 4);
    for (size_t i = 0; i < n * nin; i++) x[i] = 3.0f * al_rng_uniform(&r) - 1.0f;
    REQUIRE_OK(al_model_plan(f, n));
    REQUIRE_OK(al_model_forward_range(f, NULL, 0, 1, x, n, 0));
    memcpy(yf, f->act[0], sizeof(float) * n * nout);
    /* per output: sum_k |w_ck| * max|x of its quantization row| / 254 */
    int conv = nd->cfg.type == AL_L_CONV2D;
    int K = nd->q->K, rowlen = conv ? (int)nin : K;
    int rows_per_sample = conv ? 1 : (int)(nin / (size_t)K);
    for (int v = 0; v < AL_I8_NVARIANTS; v++) {
        if (!al_i8_force((al_i8_variant)v)) continue;
        REQUIRE_OK(al_model_plan(q, n));
        REQUIRE_OK(al_model_forward_range(q, NULL, 0, 1, x, n, 0));
        memcpy(yq, q->act[0], sizeof(float) * n * nout);
        REQUIRE_OK(al_model_forward_range(q, pool, 0, 1, x, n, 0));
        memcpy(yq2, q->act[0], sizeof(float) * n * nout);
        CHECK(memcmp(yq, yq2, sizeof(float) * n * nout) == 0);
        int bad = 0;
        double worst = 0.0;
        for (int s = 0; s < n * rows_per_sample; s++) {
            const float *xr = x + (size_t)s * rowlen;
            float xmax = 0.0f;
            for (int i = 0; i < rowlen; i++) xmax = fmaxf(xmax, fabsf(xr[i]));
            int F = nd->q->N;
            size_t per = conv ? nout / (size_t)F : 1; /* outputs per channel in the row */
            for (int c = 0; c < F; c++) {
                double wsum = 0.0;
                for (int k = 0; k < K; k++) wsum += fabsf(nd->params[0].w[(size_t)c * K + k]);
                double bound = wsum * xmax / 254.0 * 1.001 + 1e-5;
                for (size_t o = 0; o < per; o++) {
                    size_t idx = conv ? (size_t)s * nout + (size_t)c * per + o : (size_t)s * F + c;
                    double d = fabs((double)yq[idx] - yf[idx]);
                    if (!(d <= bound)) bad++;
                    worst = fmax(worst, d / bound);
                }
            }
        }
        if (bad) fprintf(stderr, "%s (%s): %d outputs beyond the bound\n", spec, al_i8_variant_name((al_i8_variant)v), bad);
        CHECK(bad == 0);
        CHECK(worst > 0.0); /* activations really were rounded */
    }
    al_i8_force(AL_I8_AUTO);
    free(x);
    free(yf);
    free(yq);
    free(yq2);
    al_model_free(f);
    al_model_free(q);
}

static void test_train_suffix(void) {
    al_dataset *d = al_test_images(96, 5);
    al_model *m = build("input 1x8x8; conv 8 k=3 p=1; relu; maxpool k=2; flatten; dense 16; relu; dense 3", 2);
    REQUIRE_OK(al_model_freeze(m, 4));
    int count = -1;
    REQUIRE_OK(al_quantize_frozen(m, &count));
    CHECK(count == 0); /* K = 9 < AL_QUANT_MIN_K: stays float */
    REQUIRE_OK(al_quantize_node(m, 0));
    CHECK(al_node_is_quantized(m, 0));
    float *before = malloc(sizeof(float) * m->nweights);
    memcpy(before, m->wblock, sizeof(float) * m->nweights);
    int8_t q0 = m->nodes[0].q->w[5];
    al_train_config c;
    al_train_config_default(&c);
    c.optim = AL_OPT_ADAM;
    c.lr = 0.01;
    c.batch = 16;
    c.epochs = 6;
    c.seed = 1;
    double loss0, acc0, loss1, acc1;
    REQUIRE_OK(al_evaluate(m, NULL, d, 32, &loss0, &acc0));
    al_trainer *t;
    REQUIRE_OK(al_trainer_new(m, NULL, &c, &t));
    REQUIRE_OK(al_trainer_run(t, d, NULL, NULL));
    al_trainer_free(t);
    REQUIRE_OK(al_evaluate(m, NULL, d, 32, &loss1, &acc1));
    fprintf(stderr, "quantized prefix, trained suffix: loss %.3f -> %.3f, acc %.3f -> %.3f\n", loss0, loss1, acc0,
            acc1);
    CHECK(loss1 < 0.7 * loss0);
    CHECK(al_node_is_quantized(m, 0) && m->nodes[0].q->w[5] == q0);
    size_t nprefix = (size_t)(m->nodes[4].params[0].w - m->wblock);
    CHECK(memcmp(before, m->wblock, sizeof(float) * nprefix) == 0);          /* frozen: unchanged */
    CHECK(memcmp(before + nprefix, m->wblock + nprefix, sizeof(float) * (m->nweights - nprefix)) != 0); /* trained */
    /* unfreezing drops the int8 weights and keeps the floats */
    REQUIRE_OK(al_model_freeze(m, 0));
    CHECK(al_model_quantized_count(m) == 0);
    CHECK(memcmp(before, m->wblock, sizeof(float) * nprefix) == 0);
    free(before);
    al_model_free(m);
    al_dataset_free(d);
}

static void tmp_path(char *buf, size_t cap, const char *tag) {
    snprintf(buf, cap, "%s/test_quant_%ld_%s.gguf", AL_BINARY_DIR, (long)getpid(), tag);
}

static void test_save_load(void) {
    al_model *m = build("input 4x9x9; conv 5 k=3 p=1; relu; flatten; dense 7; relu; dense 3", 8);
    REQUIRE_OK(al_model_freeze(m, 5));
    REQUIRE_OK(al_quantize_frozen(m, NULL));
    CHECK(al_model_quantized_count(m) == 2);
    char path[512], bad[512];
    tmp_path(path, sizeof path, "ok");
    tmp_path(bad, sizeof bad, "bad");
    REQUIRE_OK(al_model_save(m, path));
    al_model *l;
    REQUIRE_OK(al_model_load(path, &l));
    CHECK(al_model_quantized_count(l) == 2);
    for (int i = 0; i < m->nnodes; i++) {
        const struct al_qnode *a = m->nodes[i].q, *b = l->nodes[i].q;
        CHECK(!a == !b);
        if (!a || !b) continue;
        CHECK(a->N == b->N && a->K == b->K);
        CHECK(memcmp(a->w, b->w, (size_t)a->N * a->K) == 0);
        CHECK(memcmp(a->scale, b->scale, sizeof(float) * a->N) == 0);
    }
    CHECK(memcmp(m->wblock, l->wblock, sizeof(float) * m->nweights) == 0);
    float x[2 * 4 * 81], ya[6], yb[6];
    for (int i = 0; i < 2 * 4 * 81; i++) x[i] = (float)((i * 37) % 19) / 9.0f - 1.0f;
    REQUIRE_OK(al_model_predict(m, NULL, x, 2, ya));
    REQUIRE_OK(al_model_predict(l, NULL, x, 2, yb));
    CHECK(memcmp(ya, yb, sizeof ya) == 0);
    /* the clone keeps the int8 weights too */
    al_model *c;
    REQUIRE_OK(al_model_clone(l, &c));
    CHECK(al_model_quantized_count(c) == 2);
    REQUIRE_OK(al_model_predict(c, NULL, x, 2, yb));
    CHECK(memcmp(ya, yb, sizeof ya) == 0);
    al_model_free(c);
    al_model_free(l);

    /* hostile: an int8 weight on a trainable node, a zero scale, a -128 */
    m->nodes[0].trainable = 1;
    REQUIRE_OK(al_model_save(m, bad));
    CHECK_STATUS(al_model_load(bad, &l), AL_EFORMAT);
    m->nodes[0].trainable = 0;
    float s0 = m->nodes[0].q->scale[1];
    m->nodes[0].q->scale[1] = 0.0f;
    REQUIRE_OK(al_model_save(m, bad));
    CHECK_STATUS(al_model_load(bad, &l), AL_EFORMAT);
    m->nodes[0].q->scale[1] = NAN;
    REQUIRE_OK(al_model_save(m, bad));
    CHECK_STATUS(al_model_load(bad, &l), AL_EFORMAT);
    m->nodes[0].q->scale[1] = s0;
    int8_t w0 = m->nodes[3].q->w[0];
    m->nodes[3].q->w[0] = -128;
    REQUIRE_OK(al_model_save(m, bad));
    CHECK_STATUS(al_model_load(bad, &l), AL_EFORMAT);
    m->nodes[3].q->w[0] = w0;
    REQUIRE_OK(al_model_save(m, bad));
    REQUIRE_OK(al_model_load(bad, &l)); /* restored: loads again */
    al_model_free(l);
    /* a float file of the same model still loads, unquantized */
    al_dequantize(m);
    REQUIRE_OK(al_model_save(m, bad));
    REQUIRE_OK(al_model_load(bad, &l));
    CHECK(al_model_quantized_count(l) == 0);
    al_model_free(l);
    al_model_free(m);
    unlink(path);
    unlink(bad);
}

/* Every int8 fast path gives bitwise the plain int8 reference's outputs
 * (AL_I8_REF: al_quantize_row_i8, al_im2row_i8, al_i8gemm_ref, the scalar
 * epilogue): the same integers and the same float operations. For conv
 * that covers the implicit-GEMM VNNI kernel on "same" shapes (odd C, F,
 * H, W, tails of 16 pixels and of 8 filters, channel blocks of 4 with
 * padding channels, k = 1, 3, 5, fused ReLU, ReLU6 and none, no bias, an all-zero
 * sample) and at stride 2 (the phase planes: odd and even sizes, k = 1, 3,
 * 4, 5, one output row), and the im2row path on the others; for dense the packed-weight
 * VNNI kernel (K not a multiple of 4, column and row tails); 1 and 2
 * threads, with fewer and more samples than threads (the filter-block
 * split). */
static void check_fast_vs_ref(const char *spec, int n, al_pool *pool) {
    al_model *m = build(spec, 21);
    int relu6 = m->nodes[0].cfg.act == AL_ACT_RELU6;
    if (relu6) /* larger weights: outputs past 6 that ReLU6 clips */
        for (size_t j = 0; j < m->nodes[0].params[0].n; j++) m->nodes[0].params[0].w[j] *= 8.0f;
    REQUIRE_OK(al_model_freeze(m, 1));
    REQUIRE_OK(al_quantize_node(m, 0));
    size_t nin = al_shape_numel(&m->in), nout = al_shape_numel(&m->nodes[0].out);
    float *x = malloc(sizeof(float) * n * nin), *ref = malloc(sizeof(float) * n * nout);
    float *y = malloc(sizeof(float) * n * nout);
    al_rng r;
    al_rng_seed(&r, 8, 1);
    for (size_t i = 0; i < n * nin; i++) x[i] = 4.0f * al_rng_uniform(&r) - 2.0f;
    if (n > 1) memset(x + nin, 0, sizeof(float) * nin); /* sample 1: all zero, scale 1 */
    REQUIRE_OK(al_model_plan(m, n));
    CHECK(al_i8_force(AL_I8_REF));
    REQUIRE_OK(al_model_forward_range(m, NULL, 0, 1, x, n, 0));
    memcpy(ref, m->act[0], sizeof(float) * n * nout);
    int nonzero = 0, six = 0;
    for (size_t i = 0; i < n * nout; i++) {
        nonzero += ref[i] != 0.0f;
        six += ref[i] == 6.0f;
    }
    if (relu6) CHECK(six > 0);
    CHECK(nonzero > 0);
    for (int v = 1; v < AL_I8_NVARIANTS; v++) {
        if (!al_i8_force((al_i8_variant)v)) continue;
        for (int t = 0; t < 2; t++) {
            for (size_t i = 0; i < n * nout; i++) m->act[0][i] = -7.0f; /* stale values must not survive */
            REQUIRE_OK(al_model_forward_range(m, t ? pool : NULL, 0, 1, x, n, 0));
            memcpy(y, m->act[0], sizeof(float) * n * nout);
            int same = memcmp(y, ref, sizeof(float) * n * nout) == 0;
            if (!same)
                fprintf(stderr, "%s n=%d (%s, %d thread(s)): differs from the int8 reference\n", spec, n,
                        al_i8_variant_name((al_i8_variant)v), t + 1);
            CHECK(same);
        }
    }
    al_i8_force(AL_I8_AUTO);
    free(x);
    free(ref);
    free(y);
    al_model_free(m);
}

static void test_fast_vs_ref(al_pool *pool) {
    static const char *const specs[] = {
        "input 1x1x1; conv 1 k=1",
        "input 1x1x1; conv 7 k=3 p=1",
        "input 7x7x7; conv 33 k=3 p=1",
        "input 33x7x7; conv 7 k=3 p=1 act=relu",
        "input 3x33x33; conv 9 k=3 p=1 bias=0",
        "input 5x7x33; conv 17 k=5 p=2 act=relu",
        "input 257x1x7; conv 8 k=3 p=1",
        "input 4x17x1; conv 16 k=1 act=relu bias=0",
        "input 32x14x14; conv 64 k=3 p=1 act=relu",
        "input 32x14x14; conv 64 k=3 p=1 act=relu6", /* the VNNI epilogue's ReLU6 */
        "input 48x6x6; conv 17 k=1 act=relu6",
        "input 6x9x9; conv 5 k=3 s=2 p=1",      /* stride 2: phase planes, odd H and W */
        "input 3x96x96; conv 16 k=3 s=2 p=1 act=relu6", /* MobileNet's first conv: 576 pixel blocks */
        "input 5x10x7; conv 9 k=3 s=2 p=1",     /* even H, odd W */
        "input 7x8x8; conv 17 k=1 s=2",         /* 1x1 at stride 2: one plane */
        "input 4x11x12; conv 8 k=5 s=2 p=2 act=relu", /* dy, dx from -1 to 1 */
        "input 3x9x9; conv 8 k=4 s=2 p=2",      /* even k: dy = -1, -1, 0, 0 */
        "input 33x2x3; conv 7 k=3 s=2 p=1",     /* one output row */
        "input 6x9x9; conv 5 k=3 s=2",          /* p = 0: not all of the input reaches a plane: im2row */
        "input 6x9x9; conv 5 k=3 s=3 p=1",      /* stride 3: im2row */
        "input 6x9x9; conv 5 k=3",              /* stride 1, not "same": im2row */
        "input 257; dense 33",
        "input 7x33; dense 130 act=relu", /* K % 4 = 1, 9 column blocks, 7 rows a sample */
        "input 1; dense 1 bias=0",
        "input 3x65; dense 9",
    };
    for (size_t i = 0; i < sizeof specs / sizeof *specs; i++) {
        check_fast_vs_ref(specs[i], 3, pool);
        check_fast_vs_ref(specs[i], 1, pool);
    }
}

int main(void) {
    al_pool *pool;
    REQUIRE_OK(al_pool_new(2, &pool));
    test_weight_error();
    check_forward("input 3x7x7; conv 33 k=3 p=1", 5, pool);
    check_forward("input 7x29x29; conv 7 k=3 s=2", 3, pool);
    check_forward("input 1x29x29; conv 8 k=3 p=1", 4, pool);
    check_forward("input 257; dense 33", 7, pool);
    check_forward("input 3x65; dense 9", 4, pool);
    test_fast_vs_ref(pool);
    test_train_suffix();
    test_save_load();
    al_pool_free(pool);
    TEST_END("test_quant");
}
