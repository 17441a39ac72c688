/* The transfer-learning knobs of personalization: L2-SP (weight decay toward
 * the starting weights, or toward a reference model's), discriminative learning rates (lr_split/lr_below),
 * the frozen suffix (train_end), the label-prior correction of the output
 * bias, and the checkpoint fields they add. */
#include "al_test.h"

#include "train/train.h"

/* 2 inputs -> 8 hidden -> 3 classes: nodes 0 dense, 1 relu, 2 dense */
#define SPEC "input 2; dense 8; relu; dense 3"

static al_model *fresh(void) {
    al_model *m;
    REQUIRE_OK(al_model_from_spec(SPEC, 5, &m));
    return m;
}

static void sgd(al_train_config *c, double lr, double l2sp) {
    al_train_config_default(c);
    c->momentum = 0.0;
    c->lr = lr;
    c->l2sp = l2sp;
    c->epochs = 20;
    c->batch = 8;
    c->seed = 3;
}

/* One optimizer step of t on m with a zero data gradient moves the weights
 * by the finite difference of P(w) = lam/2 * ||w - anchor||^2 (step lr),
 * and moves some of them. */
static void check_penalty_step(al_model *m, al_trainer *t, const float *anchor, double lam, double lr) {
    size_t n = m->nweights;
    float *w1 = malloc(sizeof(float) * n);
    memcpy(w1, m->wblock, sizeof(float) * n);
    al_model_zero_grad(m);
    al_optim_step(&t->opt, NULL, (float)lr);
    double worst = 0.0;
    int moved = 0;
    for (size_t i = 0; i < n; i++) {
        double applied = ((double)w1[i] - (double)m->wblock[i]) / lr;
        /* central difference of P in coordinate i */
        double h = 1e-3, a = (double)w1[i] + h - anchor[i], b = (double)w1[i] - h - anchor[i];
        double fd = (0.5 * lam * a * a - 0.5 * lam * b * b) / (2 * h);
        worst = fmax(worst, fabs(applied - fd));
        moved += m->wblock[i] != w1[i];
    }
    CHECK(moved > 0);
    CHECK(worst < 1e-4);
    free(w1);
}

/* The penalty's gradient, as the optimizer applies it, equals the finite
 * difference of P(w) = l2sp/2 * ||w - w0||^2 (w0: the weights at creation). */
static void test_l2sp_gradient(void) {
    const double lam = 0.7, lr = 0.125;
    al_model *m = fresh();
    al_train_config c;
    sgd(&c, lr, lam);
    al_trainer *t;
    REQUIRE_OK(al_trainer_new(m, NULL, &c, &t));
    size_t n = m->nweights;
    float *w0 = malloc(sizeof(float) * n);
    memcpy(w0, m->wblock, sizeof(float) * n);
    /* move away from the start, then step with a zero data gradient */
    for (size_t i = 0; i < n; i++) m->wblock[i] += 0.25f * (float)((int)(i % 7) - 3);
    check_penalty_step(m, t, w0, lam, lr);
    al_trainer_free(t);
    free(w0);
    al_model_free(m);
}

/* With a reference model (l2sp_ref) the penalty is P(w) = l2sp/2 *
 * ||w - r||^2, r the reference's weights, not the starting point's: its
 * gradient, as applied, equals P's finite difference at the start (where
 * the starting-point penalty's is zero). A reference of another
 * architecture is refused; without l2sp it is not read. */
static void test_l2sp_ref(void) {
    const double lam = 0.7, lr = 0.125;
    al_model *m = fresh(), *ref = fresh(), *other;
    REQUIRE_OK(al_model_from_spec("input 2; dense 4; relu; dense 3", 5, &other));
    size_t n = m->nweights;
    for (size_t i = 0; i < n; i++) ref->wblock[i] += 0.5f * (float)((int)(i % 5) - 2);
    al_train_config c;
    sgd(&c, lr, lam);
    c.l2sp_ref = ref;
    al_trainer *t;
    REQUIRE_OK(al_trainer_new(m, NULL, &c, &t));
    check_penalty_step(m, t, ref->wblock, lam, lr);
    CHECK(t->cfg.l2sp_ref == NULL); /* borrowed for al_trainer_new only */
    al_trainer_free(t);
    c.l2sp_ref = other;
    CHECK(al_trainer_new(m, NULL, &c, &t) == AL_EINVAL);
    CHECK(strstr(al_last_error(), "same architecture") != NULL);
    c.l2sp = 0.0;
    REQUIRE_OK(al_trainer_new(m, NULL, &c, &t));
    al_trainer_free(t);
    al_model_free(m);
    al_model_free(ref);
    al_model_free(other);
}

static double drift(const al_dataset *d, double l2sp) {
    al_model *m = fresh(), *z = fresh();
    al_train_config c;
    sgd(&c, 0.01, l2sp);
    al_trainer *t;
    REQUIRE_OK(al_trainer_new(m, NULL, &c, &t));
    al_train_report r;
    REQUIRE_OK(al_trainer_run(t, d, NULL, &r));
    double s = 0;
    for (size_t i = 0; i < m->nweights; i++) s += fabs((double)m->wblock[i] - z->wblock[i]);
    al_trainer_free(t);
    al_model_free(m);
    al_model_free(z);
    return s;
}

/* A huge penalty keeps the weights at the start; none lets them move. */
static void test_l2sp_holds(const al_dataset *d) {
    double free_drift = drift(d, 0.0), held = drift(d, 100.0); /* lr * l2sp = 1: pulled back each step */
    CHECK(free_drift > 1.0);
    CHECK(held < 0.05 * free_drift);
}

/* lr_below 0 freezes the trained nodes below lr_split in effect; 1 is the
 * plain optimizer bit for bit. */
static void test_lr_split(const al_dataset *d) {
    al_model *a = fresh(), *b = fresh(), *p = fresh(), *z = fresh();
    al_train_config c;
    sgd(&c, 0.05, 0.0);
    c.epochs = 2;
    al_trainer *t;
    al_train_report r;
    REQUIRE_OK(al_trainer_new(a, NULL, &c, &t));
    REQUIRE_OK(al_trainer_run(t, d, NULL, &r));
    al_trainer_free(t);
    c.lr_split = 2;
    c.lr_below = 1.0;
    REQUIRE_OK(al_trainer_new(b, NULL, &c, &t));
    REQUIRE_OK(al_trainer_run(t, d, NULL, &r));
    al_trainer_free(t);
    CHECK(memcmp(a->wblock, b->wblock, sizeof(float) * a->nweights) == 0);
    c.lr_below = 0.0;
    REQUIRE_OK(al_trainer_new(p, NULL, &c, &t));
    REQUIRE_OK(al_trainer_run(t, d, NULL, &r));
    al_trainer_free(t);
    size_t low = 0;
    for (int k = 0; k < p->nodes[0].nparams; k++) low += p->nodes[0].params[k].n;
    CHECK(low > 0 && memcmp(p->wblock, z->wblock, sizeof(float) * low) == 0);
    CHECK(memcmp(p->wblock + low, z->wblock + low, sizeof(float) * (p->nweights - low)) != 0);
    c.lr_below = -1.0;
    CHECK_STATUS(al_trainer_new(p, NULL, &c, &t), AL_EINVAL);
    al_model_free(a);
    al_model_free(b);
    al_model_free(p);
    al_model_free(z);
}

/* train_end: the nodes from it on keep their bytes while the ones below
 * train on the gradient that flows through them (FedRep's body step); the
 * trained tensors are those below it only, and 0 is the plain trainer bit
 * for bit. */
static void test_train_end(const al_dataset *d) {
    al_model *a = fresh(), *b = fresh(), *p = fresh(), *z = fresh();
    al_train_config c;
    sgd(&c, 0.05, 0.0);
    c.momentum = 0.9;
    c.epochs = 2;
    al_trainer *t;
    al_train_report r;
    REQUIRE_OK(al_trainer_new(a, NULL, &c, &t));
    REQUIRE_OK(al_trainer_run(t, d, NULL, &r));
    al_trainer_free(t);
    c.train_end = 3; /* the node count: nothing held */
    REQUIRE_OK(al_trainer_new(b, NULL, &c, &t));
    REQUIRE_OK(al_trainer_run(t, d, NULL, &r));
    al_trainer_free(t);
    CHECK(memcmp(a->wblock, b->wblock, sizeof(float) * a->nweights) == 0);
    c.train_end = 2; /* the output layer held, the hidden layer trained */
    c.clip_norm = 0.5;
    c.l2sp = 0.1;
    REQUIRE_OK(al_trainer_new(p, NULL, &c, &t));
    CHECK(t->opt.np == 2); /* node 0's weight and bias */
    REQUIRE_OK(al_trainer_run(t, d, NULL, &r));
    al_trainer_free(t);
    const al_node *out = &p->nodes[2], *zout = &z->nodes[2];
    CHECK(out->nparams == 2);
    for (int k = 0; k < out->nparams; k++)
        CHECK(memcmp(out->params[k].w, zout->params[k].w, sizeof(float) * out->params[k].n) == 0);
    for (int k = 0; k < p->nodes[0].nparams; k++)
        CHECK(memcmp(p->nodes[0].params[k].w, z->nodes[0].params[k].w, sizeof(float) * p->nodes[0].params[k].n) != 0);
    /* the body learned through the fixed head: the loss fell */
    double before, after;
    REQUIRE_OK(al_evaluate(z, NULL, d, 8, &before, NULL));
    REQUIRE_OK(al_evaluate(p, NULL, d, 8, &after, NULL));
    CHECK(after < before);
    c.train_end = 4;
    CHECK_STATUS(al_trainer_new(p, NULL, &c, &t), AL_EINVAL);
    c.train_end = -1;
    CHECK_STATUS(al_trainer_new(p, NULL, &c, &t), AL_EINVAL);
    al_model_free(a);
    al_model_free(b);
    al_model_free(p);
    al_model_free(z);
}

/* The output bias moves by log(p_k / q_k) when the job is created. */
static void test_label_prior(void) {
    al_dataset *all = al_test_blobs(60, 4, 0); /* 20 per class */
    int idx[26], n = 0;
    for (int i = 0; i < 60 && n < 26; i++) /* 16 of class 0, 5 of class 1, 5 of class 2 */
        if ((i % 3 == 0 && n < 16) || (i % 3 != 0 && n >= 16)) idx[n++] = i;
    CHECK(n == 26);
    al_dataset *d;
    REQUIRE_OK(al_dataset_subset(all, idx, n, &d));
    int cnt[3] = {0};
    for (int i = 0; i < d->n; i++) cnt[d->y[i]]++;
    for (int pass = 0; pass < 3; pass++) {
        al_model *m = fresh(), *z = fresh();
        double q[3] = {1.0 / 3, 1.0 / 3, 1.0 / 3};
        if (pass == 1) {
            REQUIRE_OK(al_model_set_meta(m, "autlearn.class_prior", "0.5,0.25,0.25"));
            q[0] = 0.5;
            q[1] = q[2] = 0.25;
        }
        al_personalize_config c;
        al_personalize_config_default(&c);
        c.freeze = 2;
        c.label_prior = pass == 2 ? 0.0 : 1.0;
        al_trainer *t;
        REQUIRE_OK(al_personalize_new(m, NULL, d, NULL, NULL, &c, &t));
        const float *b = m->nodes[2].params[1].w, *b0 = z->nodes[2].params[1].w;
        for (int k = 0; k < 3; k++) {
            double want = pass == 2 ? 0.0 : log((cnt[k] + 1.0) / (d->n + 3.0) / q[k]);
            CHECK_NEAR((double)b[k] - b0[k], want, 1e-5);
        }
        if (pass == 0) CHECK(b[0] - b0[0] > 0.5 && b[1] - b0[1] < -0.3);
        /* nothing else changed */
        CHECK(memcmp(m->nodes[2].params[0].w, z->nodes[2].params[0].w, sizeof(float) * 24) == 0);
        al_trainer_free(t);
        al_model_free(m);
        al_model_free(z);
    }
    /* a malformed cloud prior falls back to uniform */
    al_model *m = fresh(), *z = fresh();
    REQUIRE_OK(al_model_set_meta(m, "autlearn.class_prior", "0.5,x,0.25"));
    al_personalize_config c;
    al_personalize_config_default(&c);
    c.freeze = 2;
    c.label_prior = 1.0;
    al_trainer *t;
    REQUIRE_OK(al_personalize_new(m, NULL, d, NULL, NULL, &c, &t));
    CHECK_NEAR((double)m->nodes[2].params[1].w[0] - z->nodes[2].params[1].w[0], log(17.0 / 29.0 * 3.0), 1e-5);
    al_trainer_free(t);
    c.label_prior = -1.0;
    CHECK_STATUS(al_personalize_new(m, NULL, d, NULL, NULL, &c, &t), AL_ERANGE);
    al_model_free(m);
    al_model_free(z);
    al_dataset_free(d);
    al_dataset_free(all);
}

/* Checkpoints record the new fields: another l2sp is refused, the same resumes. */
static void test_checkpoint_fields(const al_dataset *d) {
    const char *path = "test_adapt.ckpt";
    al_model *m = fresh();
    al_train_config c;
    sgd(&c, 0.01, 2.0);
    c.epochs = 1;
    al_trainer *t;
    al_train_report r;
    REQUIRE_OK(al_trainer_new(m, NULL, &c, &t));
    REQUIRE_OK(al_trainer_run(t, d, NULL, &r));
    REQUIRE_OK(al_trainer_checkpoint(t, path));
    al_trainer_free(t);
    al_model *m2 = fresh();
    REQUIRE_OK(al_trainer_new(m2, NULL, &c, &t));
    CHECK_OK(al_trainer_resume(t, path));
    al_trainer_free(t);
    c.l2sp = 0.0;
    REQUIRE_OK(al_trainer_new(m2, NULL, &c, &t));
    CHECK_STATUS(al_trainer_resume(t, path), AL_EINVAL);
    al_trainer_free(t);
    /* and a checkpoint without the fields (l2sp 0) refuses a trainer with l2sp */
    REQUIRE_OK(al_trainer_new(m2, NULL, &c, &t));
    REQUIRE_OK(al_trainer_run(t, d, NULL, &r));
    REQUIRE_OK(al_trainer_checkpoint(t, path));
    al_trainer_free(t);
    c.l2sp = 2.0;
    REQUIRE_OK(al_trainer_new(m, NULL, &c, &t));
    CHECK_STATUS(al_trainer_resume(t, path), AL_EINVAL);
    al_trainer_free(t);
    /* a frozen suffix is recorded too: the same resumes, none is refused */
    c.l2sp = 0.0;
    c.train_end = 2;
    REQUIRE_OK(al_trainer_new(m2, NULL, &c, &t));
    REQUIRE_OK(al_trainer_run(t, d, NULL, &r));
    REQUIRE_OK(al_trainer_checkpoint(t, path));
    al_trainer_free(t);
    REQUIRE_OK(al_trainer_new(m, NULL, &c, &t));
    CHECK_OK(al_trainer_resume(t, path));
    al_trainer_free(t);
    c.train_end = 0;
    REQUIRE_OK(al_trainer_new(m, NULL, &c, &t));
    CHECK_STATUS(al_trainer_resume(t, path), AL_EINVAL);
    al_trainer_free(t);
    remove(path);
    al_model_free(m);
    al_model_free(m2);
}

int main(void) {
    al_dataset *d = al_test_blobs(96, 1, 0);
    test_l2sp_gradient();
    test_l2sp_ref();
    test_l2sp_holds(d);
    test_lr_split(d);
    test_train_end(d);
    test_label_prior();
    test_checkpoint_fields(d);
    al_dataset_free(d);
    TEST_END("test_adapt");
}
