/* The serial pool (al_pool_new_serial) in training: it runs every task's
 * parts one after the other on the calling thread and times them, so
 * bench_train --model-threads can say what the work split allows at T
 * threads from one core. Its errors and record are checked in test_core.
 * Checked here: training with it gives the T-thread pool's weights bit for
 * bit, also where the conv backward's cache-sized chunks hold fewer samples
 * than threads (split by channels since, no longer one sample after another
 * on the calling thread); and those weights match one thread's to
 * rounding. */
#include "al_test.h"

/* Trains a small CNN a few steps on random 3x32x32 images, batch 8, with
 * pool; returns a copy of the weights. Its second conv's backward works in
 * chunks of 3 samples (144 x 1024 column floats a sample), fewer than 5 or
 * 16 threads. */
static float *train_cnn(al_pool *pool, size_t *nw) {
    const int n = 24, per = 3 * 32 * 32;
    float *x = malloc(sizeof(float) * (size_t)n * per);
    int32_t *y = malloc(sizeof(int32_t) * n);
    al_rng r;
    al_rng_seed(&r, 77, 1);
    for (long i = 0; i < (long)n * per; i++) x[i] = al_rng_uniform(&r);
    for (int i = 0; i < n; i++) y[i] = i % 4;
    al_tensor xs = {NULL, 3, {3, 32, 32, 0}};
    al_dataset *d;
    REQUIRE_OK(al_dataset_from_arrays(x, y, n, &xs, 1, 4, &d));
    al_model *m;
    REQUIRE_OK(al_model_from_spec("input 3x32x32; conv 16 k=3 p=1; relu; conv 16 k=3 p=1; relu; maxpool k=4; "
                                  "flatten; dense 4",
                                  5, &m));
    al_train_config c;
    al_train_config_default(&c);
    c.optim = AL_OPT_SGD;
    c.lr = 0.05;
    c.momentum = 0.9;
    c.epochs = 2;
    c.batch = 8;
    c.shuffle = 0;
    c.patience = 0;
    c.progress = NULL;
    c.seed = 3;
    al_trainer *t;
    REQUIRE_OK(al_trainer_new(m, pool, &c, &t));
    REQUIRE_OK(al_trainer_run(t, d, NULL, NULL));
    *nw = m->nweights;
    float *w = malloc(sizeof(float) * m->nweights);
    memcpy(w, m->wblock, sizeof(float) * m->nweights);
    al_trainer_free(t);
    al_model_free(m);
    al_dataset_free(d);
    free(x);
    free(y);
    return w;
}

static void test_training(void) {
    size_t n1, n5, s5, s16, s16b;
    float *one = train_cnn(NULL, &n1);
    al_pool *real, *ser;
    REQUIRE_OK(al_pool_new(5, &real));
    REQUIRE_OK(al_pool_new_serial(5, &ser));
    float *r5 = train_cnn(real, &n5);
    float *w5 = train_cnn(ser, &s5);
    CHECK(n1 == n5 && n5 == s5);
    CHECK(memcmp(r5, w5, sizeof(float) * n5) == 0); /* the serial pool is the 5-thread run */
    al_pool_stat st[64];
    int nst = al_pool_stats(ser, st, 64);
    int conv_tasks = 0;
    for (int i = 0; i < nst && i < 64; i++) conv_tasks += st[i].tasks > 0;
    CHECK(conv_tasks >= 3); /* the GEMMs, the conv passes and the optimizer went through it */
    al_pool_free(real);
    al_pool_free(ser);

    REQUIRE_OK(al_pool_new_serial(16, &ser));
    float *w16 = train_cnn(ser, &s16);
    float *w16b = train_cnn(ser, &s16b);
    CHECK(s16 == n1 && s16b == n1);
    CHECK(memcmp(w16, w16b, sizeof(float) * n1) == 0); /* deterministic at 16 */
    al_pool_free(ser);
    /* one thread and 16 parts differ only in rounding (edge tiles of the
     * GEMM split): after 6 steps the weights agree closely */
    double maxd = 0, maxw = 0;
    for (size_t i = 0; i < n1; i++) {
        maxd = fmax(maxd, fabs((double)w16[i] - one[i]));
        maxw = fmax(maxw, fabs((double)one[i]));
    }
    CHECK(maxw > 0);
    CHECK(maxd <= 1e-4 * maxw);
    free(one);
    free(r5);
    free(w5);
    free(w16);
    free(w16b);
}

int main(void) {
    test_training();
    TEST_END("test_serial_pool");
}
