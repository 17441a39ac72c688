/* Training only some output rows (al_personalize_config.train_rows,
 * src/train/head.c): the loss stays the exact softmax cross-entropy over all
 * classes, the gradient of the trained rows is that loss's (checked against
 * a plain double-precision reference and by finite differences), the other
 * rows stay bit for bit, the result equals ordinary training when every
 * class is trained, and checkpoints resume it exactly. */
#include "al_test.h"

#include "train/train.h"

/* 3 positions per sample, 5 features -> 4 (frozen) -> 12 classes */
#define SPEC "input 3x5; dense 4; dense 12"
#define K 12
#define P 3
#define F 4
#define N 24

static al_dataset *make_data(int all_classes, uint64_t seed) {
    float x[N * P * 5];
    int32_t y[N * P];
    al_rng r;
    al_rng_seed(&r, seed, 1);
    for (int i = 0; i < N * P * 5; i++) x[i] = 2.0f * al_rng_uniform(&r) - 1.0f;
    for (int i = 0; i < N * P; i++) {
        /* skewed: class c about twice as often as c + 1; class 11 only when all_classes */
        uint32_t u = al_rng_below(&r, 4096);
        int c = 0;
        while (c < 10 && u < 2048u >> c) c++;
        y[i] = (int32_t)c;
        if (all_classes && i < K) y[i] = (int32_t)i;
        if (i % 17 == 5 && i >= K) y[i] = -1; /* ignored positions */
    }
    al_tensor xs = {NULL, 2, {P, 5}};
    al_dataset *d;
    REQUIRE_OK(al_dataset_from_arrays(x, y, N, &xs, P, K, &d));
    return d;
}

static al_model *cloud(void) {
    al_model *m;
    REQUIRE_OK(al_model_from_spec(SPEC, 11, &m));
    return m;
}

/* The frozen features (node 0's output) of every sample, N*P x F. */
static void features(al_model *m, const al_dataset *d, double *f) {
    REQUIRE_OK(al_model_forward_range(m, NULL, 0, 1, al_dataset_x(d, 0), N, 0));
    for (int i = 0; i < N * P * F; i++) f[i] = m->act[0][i];
}

/* The mean softmax cross-entropy over all K classes, in double; with g:
 * its gradient (K x F then K bias), acc: argmax accuracy. */
static double ref_loss(const double *f, const al_dataset *d, const double *w, const double *b, double *g,
                       double *acc) {
    double l = 0.0;
    long cnt = 0, hit = 0;
    if (g) memset(g, 0, sizeof(double) * K * (F + 1));
    const int32_t *y = al_dataset_y(d, 0);
    for (int q = 0; q < N * P; q++) {
        if (y[q] < 0) continue;
        double z[K], mx = -INFINITY;
        int am = 0;
        for (int k = 0; k < K; k++) {
            z[k] = b[k];
            for (int j = 0; j < F; j++) z[k] += w[k * F + j] * f[q * F + j];
            if (z[k] > mx) mx = z[k], am = k;
        }
        double se = 0.0;
        for (int k = 0; k < K; k++) se += exp(z[k] - mx);
        l += mx + log(se) - z[y[q]];
        cnt++;
        hit += am == y[q];
        if (g)
            for (int k = 0; k < K; k++) {
                double dz = exp(z[k] - mx) / se - (k == y[q]);
                for (int j = 0; j < F; j++) g[k * F + j] += dz * f[q * F + j];
                g[K * F + k] += dz;
            }
    }
    if (g)
        for (int i = 0; i < K * (F + 1); i++) g[i] /= (double)cnt;
    if (acc) *acc = (double)hit / (double)cnt;
    return l / (double)cnt;
}

static void config(al_personalize_config *c, int rows) {
    al_personalize_config_default(c);
    c->train.momentum = 0.0;
    c->train.lr = 1.0;
    c->train.batch = N;
    c->train.epochs = 1;
    c->train.max_rollbacks = 0;
    c->freeze = 1;
    c->train_rows = rows;
}

/* One plain SGD step at lr 1 over the whole set: w1 = w0 - grad. */
static void test_gradient(void) {
    al_dataset *d = make_data(0, 5);
    al_model *m = cloud();
    double f[N * P * F], w0[K * F], b0[K], g[K * (F + 1)], acc;
    features(m, d, f);
    al_node *out = &m->nodes[1];
    for (int i = 0; i < K * F; i++) w0[i] = out->params[0].w[i];
    for (int k = 0; k < K; k++) b0[k] = out->params[1].w[k];
    double l0 = ref_loss(f, d, w0, b0, g, &acc);
    /* the 5 most frequent classes are 0..4 by construction; check the counts */
    long cnt[K] = {0};
    for (int q = 0; q < N * P; q++)
        if (al_dataset_y(d, 0)[q] >= 0) cnt[al_dataset_y(d, 0)[q]]++;
    for (int k = 0; k + 1 < 5; k++) CHECK(cnt[k] > cnt[k + 1]);
    CHECK(cnt[4] > cnt[5] && cnt[11] == 0);
    al_personalize_config c;
    config(&c, 5);
    al_personalize_report rep;
    REQUIRE_OK(al_personalize(m, NULL, d, NULL, NULL, &c, NULL, &rep));
    /* the reported loss and accuracy are those of the full softmax */
    CHECK_NEAR(rep.train.final_loss, l0, 1e-5);
    CHECK_NEAR(rep.train.final_train_acc, acc, 1e-12);
    double worst = 0.0, fd_worst = 0.0;
    for (int k = 0; k < K; k++) {
        int trained = k < 5;
        for (int j = 0; j <= F; j++) {
            double before = j < F ? w0[k * F + j] : b0[k];
            float after = j < F ? out->params[0].w[k * F + j] : out->params[1].w[k];
            if (!trained) {
                CHECK(after == (float)before); /* bit for bit */
                continue;
            }
            double step = before - (double)after, want = j < F ? g[k * F + j] : g[K * F + k];
            worst = fmax(worst, fabs(step - want));
            /* finite differences of the reference loss */
            double wp[K * F], bp[K], h = 1e-5;
            memcpy(wp, w0, sizeof wp);
            memcpy(bp, b0, sizeof bp);
            double *v = j < F ? &wp[k * F + j] : &bp[k];
            *v = before + h;
            double lp = ref_loss(f, d, wp, bp, NULL, NULL);
            *v = before - h;
            double lm = ref_loss(f, d, wp, bp, NULL, NULL);
            fd_worst = fmax(fd_worst, fabs((lp - lm) / (2 * h) - step));
        }
    }
    CHECK(worst < 2e-6);
    CHECK(fd_worst < 1e-5);
    CHECK(rep.macs > 0);
    al_model_free(m);
    al_dataset_free(d);
}

static int same_weights(const al_model *a, const al_model *b, double tol) {
    double worst = 0.0;
    for (size_t i = 0; i < a->nweights; i++) worst = fmax(worst, fabs((double)a->wblock[i] - (double)b->wblock[i]));
    if (getenv("AL_TEST_VERBOSE")) fprintf(stderr, "largest weight difference %g (tolerance %g)\n", worst, tol);
    return worst <= tol;
}

/* Every class trained: the same as ordinary training (Adam, clipping,
 * shuffled batches, several epochs), up to float summation order; and the
 * same bits with a runtime cache as without. */
static void test_all_rows(void) {
    al_dataset *d = make_data(1, 6);
    al_model *a = cloud(), *b = cloud(), *e = cloud();
    al_personalize_config c;
    config(&c, K);
    c.train.optim = AL_OPT_ADAM;
    c.train.lr = 0.01;
    c.train.batch = 5;
    c.train.epochs = 4;
    c.train.clip_norm = 0.5;
    c.train.shuffle = 1;
    REQUIRE_OK(al_personalize(a, NULL, d, NULL, NULL, &c, NULL, NULL));
    al_cache *cache;
    REQUIRE_OK(al_cache_new(1 << 20, NULL, &cache));
    REQUIRE_OK(al_personalize(e, NULL, d, NULL, cache, &c, NULL, NULL));
    al_cache_free(cache);
    c.train_rows = 0;
    REQUIRE_OK(al_personalize(b, NULL, d, NULL, NULL, &c, NULL, NULL));
    CHECK(same_weights(a, b, 2e-5));
    al_model *c0 = cloud();
    CHECK(!same_weights(a, c0, 1e-3)); /* it trained */
    al_model_free(c0);
    CHECK(memcmp(a->wblock, e->wblock, sizeof(float) * a->nweights) == 0);
    al_model_free(a);
    al_model_free(b);
    al_model_free(e);
    al_dataset_free(d);
}

/* What it refuses, with the reason. */
static void test_refused(void) {
    al_dataset *d = make_data(0, 7);
    al_model *m = cloud();
    al_personalize_config c;
    config(&c, 4);
    c.freeze = 0; /* the hidden layer would train too */
    CHECK_STATUS(al_personalize(m, NULL, d, NULL, NULL, &c, NULL, NULL), AL_EINVAL);
    CHECK(strstr(al_last_error(), "freeze point") != NULL);
    config(&c, -1);
    CHECK_STATUS(al_personalize(m, NULL, d, NULL, NULL, &c, NULL, NULL), AL_ERANGE);
    al_model_free(m);
    /* a fused activation on the output layer */
    REQUIRE_OK(al_model_from_spec("input 3x5; dense 4; dense 12 act=relu", 11, &m));
    config(&c, 4);
    CHECK_STATUS(al_personalize(m, NULL, d, NULL, NULL, &c, NULL, NULL), AL_EINVAL);
    CHECK(strstr(al_last_error(), "activation") != NULL);
    al_model_free(m);
    /* augmentation variants (an image model) */
    REQUIRE_OK(al_model_from_spec("input 1x4x4; flatten; dense 3", 11, &m));
    float x[8 * 16];
    int32_t y[8];
    for (int i = 0; i < 8 * 16; i++) x[i] = (float)(i % 7) / 7.0f;
    for (int i = 0; i < 8; i++) y[i] = i % 3;
    al_tensor xs = {NULL, 3, {1, 4, 4}};
    al_dataset *img;
    REQUIRE_OK(al_dataset_from_arrays(x, y, 8, &xs, 1, 3, &img));
    config(&c, 2);
    c.aug_variants = 2;
    CHECK_STATUS(al_personalize(m, NULL, img, NULL, NULL, &c, NULL, NULL), AL_EINVAL);
    al_dataset_free(img);
    al_model_free(m);
    al_dataset_free(d);
}

/* A run stopped after a checkpoint and resumed gives the uninterrupted
 * run's weights bit for bit; a checkpoint of another train_rows is refused. */
static void test_resume(void) {
    al_dataset *d = make_data(0, 8);
    const char *path = "test_head.ckpt";
    remove(path);
    al_personalize_config c;
    config(&c, 6);
    c.train.optim = AL_OPT_ADAM;
    c.train.lr = 0.02;
    c.train.batch = 4;
    c.train.epochs = 3;
    c.train.sched = AL_SCHED_COSINE;
    al_model *ref = cloud();
    REQUIRE_OK(al_personalize(ref, NULL, d, NULL, NULL, &c, NULL, NULL));
    c.train.checkpoint_path = path;
    c.train.checkpoint_every = 1;
    al_model *a = cloud();
    al_trainer *t;
    REQUIRE_OK(al_personalize_new(a, NULL, d, NULL, NULL, &c, &t));
    int done = 0;
    al_train_report r;
    REQUIRE_OK(al_trainer_run_slice(t, d, NULL, 7, 0.0, &done, &r));
    CHECK(!done && r.steps == 7);
    al_trainer_free(t); /* "the process died" after step 7's checkpoint */
    al_model_free(a);
    al_model *b = cloud();
    c.resume = 1;
    c.train_rows = 5;
    CHECK_STATUS(al_personalize(b, NULL, d, NULL, NULL, &c, NULL, NULL), AL_EINVAL);
    CHECK(strstr(al_last_error(), "output rows") != NULL);
    al_model_free(b);
    b = cloud();
    c.train_rows = 6;
    REQUIRE_OK(al_personalize(b, NULL, d, NULL, NULL, &c, NULL, NULL));
    CHECK(memcmp(b->wblock, ref->wblock, sizeof(float) * ref->nweights) == 0);
    remove(path);
    al_model_free(b);
    al_model_free(ref);
    al_dataset_free(d);
}

int main(void) {
    test_gradient();
    test_all_rows();
    test_refused();
    test_resume();
    TEST_END("test_head");
}
