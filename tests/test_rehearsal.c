/* Rehearsal for new classes (al_personalize_config.rehearsal): with a class
 * beyond the exemplars' in the user's data, the job equals a plain job on
 * the user's data followed by the exemplars, L2-SP and the prior shift off,
 * then the output bias shifted by log(p_k / m_k) (recomputed here by a plain
 * loop); without such a class it changes nothing, bit for bit; exemplars of
 * another shape or with a label outside their classes are refused. Also the
 * cloud's exemplar pick (al_exemplars). */
#include "al_test.h"
#include "autlearn_cloud.h"

#include <math.h>

#define SPEC "input 1x6x6; flatten; dense 10; relu; dense 5"
#define N 30
#define E 9

/* n samples, labels i % classes + off, pixels seeded */
static al_dataset *make(int n, int classes, int off, int num_classes, int hw, uint64_t seed) {
    float x[64 * 36];
    int32_t y[64];
    al_rng r;
    al_rng_seed(&r, seed, 2);
    for (int i = 0; i < n; i++) {
        y[i] = i % classes + off;
        for (int j = 0; j < hw * hw; j++) x[i * hw * hw + j] = al_rng_uniform(&r) + (j % 5 == y[i] ? 0.8f : 0.0f);
    }
    al_tensor sh = {NULL, 3, {1, hw, hw}};
    al_dataset *d;
    REQUIRE_OK(al_dataset_from_arrays(x, y, n, &sh, 1, num_classes, &d));
    return d;
}

static void config(al_personalize_config *pc) {
    al_personalize_config_default(pc);
    pc->freeze = 0;
    pc->train.epochs = 3;
    pc->train.lr = 0.05;
    pc->train.batch = 8;
    pc->train.seed = 5;
    pc->label_prior = 1.0;
    pc->train.l2sp = 1.0;
}

static double max_diff(const al_model *a, const al_model *b) {
    double d = 0.0;
    for (size_t i = 0; i < a->nweights; i++) d = fmax(d, fabs((double)a->wblock[i] - b->wblock[i]));
    return d;
}

/* A copy of the cloud model personalized on user's data with the test's
 * settings, with exemplars ex (NULL: without). */
static al_model *personalized(const al_model *cloud, const al_dataset *user, const al_dataset *ex) {
    al_model *m;
    REQUIRE_OK(al_model_clone(cloud, &m));
    al_personalize_config pc;
    config(&pc);
    pc.rehearsal = ex;
    CHECK_OK(al_personalize(m, NULL, user, NULL, NULL, &pc, NULL, NULL));
    return m;
}

static void test_equivalence(const al_model *cloud, const al_dataset *user, const al_dataset *ex) {
    al_model *m = personalized(cloud, user, ex), *ref;
    REQUIRE_OK(al_model_clone(cloud, &ref));
    al_personalize_config pc;
    /* the reference: a plain job on the mix, then the bias shift */
    int n = user->n + ex->n;
    al_dataset *mix;
    REQUIRE_OK(al_dataset_alloc(n, &user->xs, 1, user->num_classes, &mix));
    size_t xn = al_shape_numel(&user->xs);
    memcpy(mix->x, user->x, sizeof(float) * xn * (size_t)user->n);
    memcpy(mix->x + xn * (size_t)user->n, ex->x, sizeof(float) * xn * (size_t)ex->n);
    memcpy(mix->y, user->y, sizeof(int32_t) * (size_t)user->n);
    memcpy(mix->y + user->n, ex->y, sizeof(int32_t) * (size_t)ex->n);
    config(&pc);
    pc.label_prior = 0.0;
    pc.train.l2sp = 0.0;
    CHECK_OK(al_personalize(ref, NULL, mix, NULL, NULL, &pc, NULL, NULL));
    double nu[5] = {0}, nm[5] = {0};
    for (int i = 0; i < user->n; i++) nu[user->y[i]] += 1.0;
    for (int i = 0; i < mix->n; i++) nm[mix->y[i]] += 1.0;
    float *b = ref->nodes[ref->nnodes - 1].params[1].w;
    for (int k = 0; k < 5; k++)
        b[k] += (float)(log((nu[k] + 1.0) / (user->n + 5.0)) - log((nm[k] + 1.0) / (mix->n + 5.0)));
    CHECK(max_diff(m, ref) <= 1e-6);
    /* ... and it differs from the job without exemplars */
    al_model *plain = personalized(cloud, user, NULL);
    CHECK(max_diff(m, plain) > 1e-3);
    al_model_free(plain);
    al_dataset_free(mix);
    al_model_free(m);
    al_model_free(ref);
}

/* no class beyond the exemplars': the job without them, bit for bit */
static void test_noop(const al_model *cloud, const al_dataset *user, const al_dataset *ex) {
    al_model *m = personalized(cloud, user, ex), *ref = personalized(cloud, user, NULL);
    CHECK(max_diff(m, ref) == 0.0);
    al_model_free(m);
    al_model_free(ref);
}

static void test_refusals(const al_model *cloud, const al_dataset *user) {
    al_model *m;
    REQUIRE_OK(al_model_clone(cloud, &m));
    al_personalize_config pc;
    config(&pc);
    al_dataset *other = make(E, 3, 0, 3, 5, 7); /* 5x5 images */
    pc.rehearsal = other;
    CHECK_STATUS(al_personalize(m, NULL, user, NULL, NULL, &pc, NULL, NULL), AL_EINVAL);
    CHECK(strstr(al_last_error(), "rehearsal") != NULL);
    al_dataset *bad = make(E, 3, 0, 3, 6, 7);
    bad->y[4] = 3; /* outside its 3 classes */
    pc.rehearsal = bad;
    CHECK_STATUS(al_personalize(m, NULL, user, NULL, NULL, &pc, NULL, NULL), AL_EINVAL);
    CHECK(strstr(al_last_error(), "exemplar 4") != NULL);
    al_dataset_free(other);
    al_dataset_free(bad);
    al_model_free(m);
}

static void test_pick(const al_dataset *d) {
    al_dataset *e;
    REQUIRE_OK(al_exemplars(d, 2, 3, &e));
    CHECK(e->n == 10 && e->num_classes == 5 && e->y_len == 1);
    size_t xn = al_shape_numel(&d->xs);
    for (int i = 0; i < e->n; i++) {
        CHECK(e->y[i] == i / 2); /* two of each, grouped in label order */
        int found = 0;
        for (int j = 0; j < d->n && !found; j++)
            found = d->y[j] == e->y[i] && memcmp(d->x + xn * (size_t)j, e->x + xn * (size_t)i, sizeof(float) * xn) == 0;
        CHECK(found);
    }
    CHECK(memcmp(e->x, e->x + xn, sizeof(float) * xn) != 0); /* two different samples */
    al_dataset_free(e);
    REQUIRE_OK(al_exemplars(d, 100, 3, &e)); /* more than a class has: all of it */
    CHECK(e->n == d->n);
    al_dataset_free(e);
    CHECK_STATUS(al_exemplars(d, 0, 3, &e), AL_EINVAL);
    CHECK(e == NULL);
}

int main(void) {
    al_model *cloud;
    REQUIRE_OK(al_model_from_spec(SPEC, 4, &cloud));
    al_dataset *user = make(N, 5, 0, 5, 6, 9);    /* classes 0..4; 3 and 4 beyond the exemplars' */
    al_dataset *seen = make(N, 3, 0, 5, 6, 9);    /* only 0..2 */
    al_dataset *ex = make(E, 3, 0, 3, 6, 11);     /* exemplars of 0..2 */
    al_dataset *ex_all = make(E, 5, 0, 5, 6, 11); /* of every class: nothing beyond them */
    test_equivalence(cloud, user, ex);
    test_noop(cloud, seen, ex);
    test_noop(cloud, user, ex_all);
    test_refusals(cloud, user);
    test_pick(user);
    al_dataset_free(user);
    al_dataset_free(seen);
    al_dataset_free(ex);
    al_dataset_free(ex_all);
    al_model_free(cloud);
    TEST_END("test_rehearsal");
}
