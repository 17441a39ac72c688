/* The trainer on a separable toy problem (three 2-D Gaussian blobs):
 * convergence with SGD and Adam, bit-reproducibility for 1 and 2 threads,
 * early stopping with restoration of the best weights, progress callback and
 * cancellation, NaN detection, input validation, and frozen layers. */
#include "al_test.h"

#define SPEC "input 2; dense 16; relu; dense 3"

static al_train_config base_config(al_optim_kind k) {
    al_train_config c;
    al_train_config_default(&c);
    c.optim = k;
    c.lr = k == AL_OPT_SGD ? 0.05 : 0.01;
    c.batch = 16;
    c.epochs = 15;
    c.seed = 7;
    return c;
}

static void test_converges(al_optim_kind k, const al_dataset *tr, const al_dataset *ev) {
    al_model *m;
    REQUIRE_OK(al_model_from_spec(SPEC, 1, &m));
    al_train_config c = base_config(k);
    if (k == AL_OPT_ADAMW) c.weight_decay = 0.01;
    c.sched = AL_SCHED_COSINE;
    c.warmup_steps = 5;
    c.clip_norm = 5.0;
    al_trainer *t;
    REQUIRE_OK(al_trainer_new(m, NULL, &c, &t));
    double loss, acc;
    REQUIRE_OK(al_evaluate(m, NULL, ev, 64, &loss, &acc));
    CHECK(acc < 0.8); /* untrained: the check below means something */
    al_train_report r;
    REQUIRE_OK(al_trainer_run(t, tr, ev, &r));
    REQUIRE_OK(al_evaluate(m, NULL, ev, 64, &loss, &acc));
    fprintf(stderr, "optimizer %d: train loss %.4f acc %.3f, eval loss %.4f acc %.3f, %lld steps\n", (int)k,
            r.final_loss, r.final_train_acc, loss, acc, r.steps);
    CHECK(acc > 0.95);
    CHECK(r.final_train_acc > 0.95);
    CHECK(r.epochs_run == 15 && r.steps == 15 * 19 && r.samples == 15 * 300);
    CHECK_NEAR(r.final_eval_acc, acc, 1e-12);
    CHECK(r.best_epoch >= 1 && r.best_eval_loss > 0);
    CHECK(r.seconds >= 0);
    CHECK(!r.stopped_early);
    al_trainer_free(t);
    al_model_free(m);
}

/* Trains a fresh model and returns a copy of all its weights. */
static float *train_weights(int threads, uint64_t seed, const al_dataset *tr, size_t *nw) {
    al_pool *pool = NULL;
    if (threads > 1) REQUIRE_OK(al_pool_new(threads, &pool));
    al_model *m;
    REQUIRE_OK(al_model_from_spec("input 2; dense 32; relu; dropout 0.2; dense 32; relu; dense 3", 1, &m));
    al_train_config c = base_config(AL_OPT_ADAM);
    c.epochs = 3;
    c.seed = seed;
    al_trainer *t;
    REQUIRE_OK(al_trainer_new(m, pool, &c, &t));
    REQUIRE_OK(al_trainer_run(t, tr, NULL, NULL));
    *nw = m->nweights;
    float *w = malloc(sizeof(float) * m->nweights);
    memcpy(w, m->wblock, sizeof(float) * m->nweights);
    al_trainer_free(t);
    al_model_free(m);
    al_pool_free(pool);
    return w;
}

static void test_determinism(const al_dataset *tr) {
    for (int threads = 1; threads <= 2; threads++) {
        size_t n1, n2, n3;
        float *a = train_weights(threads, 11, tr, &n1);
        float *b = train_weights(threads, 11, tr, &n2);
        float *c = train_weights(threads, 12, tr, &n3);
        CHECK(n1 == n2 && n1 == n3);
        CHECK(memcmp(a, b, sizeof(float) * n1) == 0);
        CHECK(memcmp(a, c, sizeof(float) * n1) != 0); /* the seed matters */
        free(a);
        free(b);
        free(c);
    }
}

typedef struct progress_log {
    int steps, finals, cancel_at;
    int last_epoch;
    double last_eval_loss;
    int bad;
} progress_log;

static int on_progress(void *user, const al_epoch_info *info, int final) {
    progress_log *p = user;
    if (final) {
        p->finals++;
        p->last_epoch = info->epoch;
        p->last_eval_loss = info->eval_loss;
        if (info->step != info->steps) p->bad++;
    } else {
        p->steps++;
        if (info->eval_loss != -1.0 || info->step < 1 || info->step > info->steps || !(info->lr > 0)) p->bad++;
    }
    return p->cancel_at > 0 && p->steps >= p->cancel_at;
}

static void test_early_stopping(const al_dataset *tr) {
    /* evaluation labels disagree with training labels, so the eval loss
     * rises as training succeeds and early stopping must trigger */
    al_dataset *ev = al_test_blobs(90, 3, 1);
    al_model *m;
    REQUIRE_OK(al_model_from_spec(SPEC, 1, &m));
    al_train_config c = base_config(AL_OPT_SGD);
    c.epochs = 40;
    c.patience = 2;
    progress_log pl = {0};
    c.progress = on_progress;
    c.progress_user = &pl;
    al_trainer *t;
    REQUIRE_OK(al_trainer_new(m, NULL, &c, &t));
    al_train_report r;
    REQUIRE_OK(al_trainer_run(t, tr, ev, &r));
    fprintf(stderr, "early stopping: %d epochs, best %d (eval loss %.4f)\n", r.epochs_run, r.best_epoch,
            r.best_eval_loss);
    CHECK(r.stopped_early == 1);
    CHECK(r.epochs_run < 40);
    CHECK(r.epochs_run == r.best_epoch + c.patience);
    CHECK(pl.finals == r.epochs_run && pl.steps == r.epochs_run * 19 && pl.bad == 0);
    CHECK(pl.last_eval_loss > r.best_eval_loss);
    /* the model holds the best epoch's weights again */
    double loss, acc;
    REQUIRE_OK(al_evaluate(m, NULL, ev, c.batch, &loss, &acc));
    CHECK(loss == r.best_eval_loss);
    CHECK(acc == r.best_eval_acc && r.final_eval_acc == r.best_eval_acc);

    /* cancellation from the callback */
    pl = (progress_log){0};
    pl.cancel_at = 5;
    CHECK_STATUS(al_trainer_run(t, tr, ev, &r), AL_ECANCELED);
    CHECK(pl.steps == 5);
    al_trainer_free(t);
    al_model_free(m);
    al_dataset_free(ev);
}

static void test_errors(const al_dataset *tr) {
    al_model *m;
    REQUIRE_OK(al_model_from_spec(SPEC, 1, &m));
    al_train_config c = base_config(AL_OPT_SGD);
    al_trainer *t = NULL;
    c.batch = 0;
    CHECK_STATUS(al_trainer_new(m, NULL, &c, &t), AL_EINVAL);
    CHECK(t == NULL);
    c = base_config(AL_OPT_SGD);
    c.epochs = -1;
    CHECK_STATUS(al_trainer_new(m, NULL, &c, &t), AL_EINVAL);
    c = base_config(AL_OPT_SGD);
    c.lr = 0;
    CHECK_STATUS(al_trainer_new(m, NULL, &c, &t), AL_EINVAL);
    c = base_config(AL_OPT_SGD);
    REQUIRE_OK(al_trainer_new(m, NULL, &c, &t));

    /* samples of 3 values for a 2-input model */
    float x3[6] = {0, 1, 2, 3, 4, 5};
    int32_t y2[2] = {0, 1};
    al_tensor s3 = {NULL, 1, {3, 0, 0, 0}};
    al_dataset *d;
    REQUIRE_OK(al_dataset_from_arrays(x3, y2, 2, &s3, 1, 3, &d));
    CHECK_STATUS(al_trainer_run(t, d, NULL, NULL), AL_ESHAPE);
    CHECK(strstr(al_last_error(), "[3]") && strstr(al_last_error(), "[2]"));
    CHECK_STATUS(al_trainer_run(t, tr, d, NULL), AL_ESHAPE); /* a bad eval set too */
    CHECK_STATUS(al_evaluate(m, NULL, d, 8, NULL, NULL), AL_ESHAPE);
    al_dataset_free(d);

    /* label 4 for a 3-class model (the dataset itself allows 5 classes) */
    float x2[4] = {0, 1, 2, 3};
    int32_t yb[2] = {0, 4};
    al_tensor s2 = {NULL, 1, {2, 0, 0, 0}};
    REQUIRE_OK(al_dataset_from_arrays(x2, yb, 2, &s2, 1, 5, &d));
    CHECK_STATUS(al_trainer_run(t, d, NULL, NULL), AL_ERANGE);
    CHECK(strstr(al_last_error(), "label 4") != NULL);
    al_dataset_free(d);

    /* an empty training set */
    REQUIRE_OK(al_dataset_from_arrays(NULL, NULL, 0, &s2, 1, 3, &d));
    CHECK_STATUS(al_trainer_run(t, d, NULL, NULL), AL_EINVAL);
    al_dataset_free(d);

    /* freezing after creation changes the trained set */
    REQUIRE_OK(al_model_freeze(m, 2));
    CHECK_STATUS(al_trainer_run(t, tr, NULL, NULL), AL_ESTATE);
    REQUIRE_OK(al_model_freeze(m, 0));
    al_trainer_free(t);

    /* a diverging run is reported, not trained through */
    c = base_config(AL_OPT_SGD);
    c.lr = 1e30;
    REQUIRE_OK(al_trainer_new(m, NULL, &c, &t));
    CHECK_STATUS(al_trainer_run(t, tr, NULL, NULL), AL_ENUMERIC);
    CHECK(strstr(al_last_error(), "NaN") || strstr(al_last_error(), "Inf"));
    al_trainer_free(t);
    al_model_free(m);
}

static void test_frozen(const al_dataset *tr) {
    al_model *m;
    REQUIRE_OK(al_model_from_spec(SPEC, 1, &m));
    REQUIRE_OK(al_model_freeze(m, 2));
    size_t n0 = m->nodes[0].params[0].n + m->nodes[0].params[1].n;
    size_t n2 = m->nodes[2].params[0].n + m->nodes[2].params[1].n;
    float *w0 = malloc(sizeof(float) * n0), *w2 = malloc(sizeof(float) * n2);
    /* each node's weights then bias are adjacent in the weight block */
    memcpy(w0, m->nodes[0].params[0].w, sizeof(float) * n0);
    memcpy(w2, m->nodes[2].params[0].w, sizeof(float) * n2);
    al_train_config c = base_config(AL_OPT_ADAM);
    c.epochs = 3;
    c.weight_decay = 0.1; /* must not touch frozen weights either */
    al_trainer *t;
    REQUIRE_OK(al_trainer_new(m, NULL, &c, &t));
    al_train_report r;
    REQUIRE_OK(al_trainer_run(t, tr, NULL, &r));
    CHECK(memcmp(w0, m->nodes[0].params[0].w, sizeof(float) * n0) == 0);
    size_t changed = 0;
    for (size_t i = 0; i < n2; i++) changed += w2[i] != m->nodes[2].params[0].w[i];
    CHECK(changed == n2);
    CHECK(r.final_train_acc > 0.5); /* a random first layer still separates blobs */
    free(w0);
    free(w2);
    al_trainer_free(t);
    al_model_free(m);
}

/* Out of memory at every allocation of creating a trainer and running it,
 * in turn until the job allocates fewer times than k: a clean AL_ENOMEM
 * each time (ASan would report a leak or a bad access). */
static void test_oom(const al_dataset *tr, const al_dataset *ev) {
    int failed = 0, ok = 0;
    for (long k = 1; k <= 400 && !ok; k++) {
        al_model *m;
        REQUIRE_OK(al_model_from_spec(SPEC, 1, &m));
        al_train_config c = base_config(AL_OPT_ADAM);
        c.epochs = 1;
        c.patience = 1;
        al_trainer *t = NULL;
        al_alloc_fail_at(k);
        al_status st = al_trainer_new(m, NULL, &c, &t);
        if (st == AL_OK) st = al_trainer_run(t, tr, ev, NULL);
        al_alloc_fail_at(0);
        CHECK(st == AL_OK || st == AL_ENOMEM);
        failed += st == AL_ENOMEM;
        ok += st == AL_OK;
        al_trainer_free(t);
        al_model_free(m);
    }
    CHECK(failed >= 4 && ok == 1);
}

int main(void) {
    al_dataset *tr = al_test_blobs(300, 1, 0), *ev = al_test_blobs(150, 2, 0);
    test_converges(AL_OPT_SGD, tr, ev);
    test_converges(AL_OPT_ADAM, tr, ev);
    test_converges(AL_OPT_ADAMW, tr, ev);
    test_determinism(tr);
    test_early_stopping(tr);
    test_errors(tr);
    test_frozen(tr);
    test_oom(tr, ev);
    al_dataset_free(tr);
    al_dataset_free(ev);
    TEST_END("test_trainer");
}
