/* The image scenario's user split: disjoint, non-IID as configured,
 * deterministic by seed, and clear errors when the data cannot serve it. */
#include "autlearn_cloud.h"
#include "al_test.h"

#include <math.h>

/* x of sample i is its index (so origins can be traced), label i % 10. */
static al_dataset *make(int n, int offset) {
    float *x = malloc(sizeof(float) * (size_t)n);
    int32_t *y = malloc(sizeof(int32_t) * (size_t)n);
    for (int i = 0; i < n; i++) {
        x[i] = (float)(i + offset);
        y[i] = (i * 7 + i / 13) % 10;
    }
    al_tensor xs = {NULL, 1, {1, 0, 0, 0}};
    al_dataset *d;
    REQUIRE_OK(al_dataset_from_arrays(x, y, n, &xs, 1, 10, &d));
    free(x);
    free(y);
    return d;
}

/* [1, 8, 8] images, all the same picture (a diagonal ramp) but for pixel 0,
 * which marks the sample ((i + offset) * 1e-5); label i % 10. */
static al_dataset *make_images(int n, int offset) {
    float *x = malloc(sizeof(float) * 64 * (size_t)n);
    int32_t *y = malloc(sizeof(int32_t) * (size_t)n);
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < 64; j++) x[i * 64 + j] = (float)(j % 8 + j / 8) / 14.0f;
        x[i * 64] = (float)(i + offset) * 1e-5f;
        y[i] = i % 10;
    }
    al_tensor xs = {NULL, 3, {1, 8, 8, 0}};
    al_dataset *d;
    REQUIRE_OK(al_dataset_from_arrays(x, y, n, &xs, 1, 10, &d));
    free(x);
    free(y);
    return d;
}

static int same_x(const al_dataset *a, const al_dataset *b) {
    return a->n == b->n && memcmp(a->x, b->x, sizeof(float) * 64 * (size_t)a->n) == 0;
}

/* largest pixel difference between sample 0 of a and sample 0 of b */
static float diff0(const al_dataset *a, const al_dataset *b) {
    float m = 0.0f;
    for (int j = 1; j < 64; j++) m = fmaxf(m, fabsf(a->x[j] - b->x[j]));
    return m;
}

/* --shift feature/both, validation splits */
static void shifts(void) {
    al_dataset *train = make_images(4000, 0), *test = make_images(2000, 100000);
    al_users_config c;
    al_users_config_default(&c);
    c.users = 4;
    c.per_user = 60;
    c.test_per_user = 40;
    c.val_per_user = 20;
    c.public_val = 100;
    al_users *lab, *f1, *f2, *both;
    REQUIRE_OK(al_users_split(train, test, &c, &lab));
    c.shift = AL_SHIFT_FEATURE;
    REQUIRE_OK(al_users_split(train, test, &c, &f1));
    REQUIRE_OK(al_users_split(train, test, &c, &f2));
    c.shift = AL_SHIFT_BOTH;
    REQUIRE_OK(al_users_split(train, test, &c, &both));
    /* validation: carved from the training draw, never overlapping train, test or the public sets */
    CHECK(al_dataset_size(al_users_public(lab)) == 2000 - 100);
    CHECK(al_dataset_size(al_users_public_validation(lab)) == 100);
    char *seen = calloc(200000, 1);
    int dup = 0;
    const al_dataset *pub = al_users_public(lab), *pv = al_users_public_validation(lab);
    for (int i = 0; i < pub->n; i++) dup += seen[(int)lroundf(pub->x[i * 64] * 1e5f)]++ != 0;
    for (int i = 0; i < pv->n; i++) dup += seen[(int)lroundf(pv->x[i * 64] * 1e5f)]++ != 0;
    for (int k = 0; k < 4; k++) {
        const al_dataset *set[3] = {al_users_train(lab, k), al_users_validation(lab, k), al_users_test(lab, k)};
        CHECK(set[0]->n == 40 && set[1]->n == 20 && set[2]->n == 40);
        for (int s = 0; s < 3; s++)
            for (int i = 0; i < set[s]->n; i++) dup += seen[(int)lroundf(set[s]->x[i * 64] * 1e5f)]++ != 0;
        for (int i = 0; i < 40; i++) CHECK((int)lroundf(set[0]->x[i * 64] * 1e5f) == al_users_train_origin(lab, k, i));
    }
    CHECK(dup == 0);
    free(seen);
    /* feature: deterministic per seed; train, validation and test transformed, values in [0, 1] */
    for (int k = 0; k < 4; k++) {
        CHECK(same_x(al_users_train(f1, k), al_users_train(f2, k)));
        CHECK(same_x(al_users_test(f1, k), al_users_test(f2, k)));
        CHECK(same_x(al_users_validation(f1, k), al_users_validation(f2, k)));
        CHECK(diff0(al_users_test(f1, k), al_users_test(lab, k)) > 0.05f);
        CHECK(diff0(al_users_validation(f1, k), al_users_validation(lab, k)) > 0.05f);
        /* both: feature's looks on label's class draws */
        CHECK(memcmp(al_users_test(both, k)->y, al_users_test(lab, k)->y, sizeof(int32_t) * 40) == 0);
        CHECK(diff0(al_users_test(both, k), al_users_test(lab, k)) > 0.05f);
        const al_dataset *tr = al_users_train(f1, k);
        int out = 0;
        for (int i = 0; i < tr->n * 64; i++) out += !(tr->x[i] >= 0.0f && tr->x[i] <= 1.0f);
        CHECK(out == 0);
        /* the same picture through another user's look differs */
        for (int j = 0; j < k; j++) CHECK(diff0(al_users_test(f1, k), al_users_test(f1, j)) > 0.05f);
    }
    /* the public data is never transformed */
    CHECK(same_x(al_users_public(both), al_users_public(lab)));
    /* the feature shift's class mix is uniform: no class near the label shift's 40% */
    for (int k = 0; k < 4; k++) {
        int cnt[10] = {0}, mx = 0;
        const al_dataset *te = al_users_test(f1, k);
        for (int i = 0; i < te->n; i++) cnt[te->y[i]]++;
        for (int j = 0; j < 10; j++) mx = cnt[j] > mx ? cnt[j] : mx;
        CHECK(mx <= 10);
    }
    al_users_free(f2);
    /* another seed, other looks */
    c.shift = AL_SHIFT_FEATURE;
    c.seed = 2;
    REQUIRE_OK(al_users_split(train, test, &c, &f2));
    CHECK(diff0(al_users_test(f1, 0), al_users_test(f2, 0)) > 0.05f);
    al_users_free(f2);
    /* bad configurations */
    c.val_per_user = 60;
    CHECK_STATUS(al_users_split(train, test, &c, &f2), AL_ERANGE);
    c.val_per_user = 0;
    c.public_val = 2000;
    CHECK_STATUS(al_users_split(train, test, &c, &f2), AL_ERANGE);
    c.public_val = 0;
    c.shift = 7;
    CHECK_STATUS(al_users_split(train, test, &c, &f2), AL_ERANGE);
    al_users_free(lab);
    al_users_free(f1);
    al_users_free(both);
    al_dataset_free(train);
    al_dataset_free(test);
}

/* --shift newclass: the public data (and the cloud's validation set) hold
 * only the seen classes, each user's first dominant class is unseen, and
 * the users' sets keep every label */
static void newclass(void) {
    al_dataset *train = make_images(4000, 0), *test = make_images(2000, 100000);
    al_users_config c;
    al_users_config_default(&c);
    c.users = 5;
    c.per_user = 60;
    c.test_per_user = 40;
    c.public_val = 100;
    c.shift = AL_SHIFT_NEWCLASS;
    al_users *u;
    REQUIRE_OK(al_users_split(train, test, &c, &u));
    const al_dataset *pub = al_users_public(u), *pv = al_users_public_validation(u);
    CHECK(pub->num_classes == 7 && pv->num_classes == 7);
    int bad = 0;
    for (int i = 0; i < pub->n; i++) bad += pub->y[i] >= 7;
    for (int i = 0; i < pv->n; i++) bad += pv->y[i] >= 7;
    CHECK(bad == 0);
    CHECK(pub->n + pv->n > 1200 && pub->n + pv->n < 1600); /* 7 of 10 classes of 2000 public samples */
    for (int k = 0; k < 5; k++) {
        CHECK(al_users_dominant(u, k)[0] >= 7);
        const al_dataset *tr = al_users_train(u, k), *te = al_users_test(u, k);
        CHECK(tr->num_classes == 10);
        int nnew = 0, tnew = 0;
        for (int i = 0; i < tr->n; i++) nnew += tr->y[i] >= 7;
        for (int i = 0; i < te->n; i++) tnew += te->y[i] >= 7;
        CHECK(nnew >= 24 && tnew >= 16); /* the dominant unseen class: 40% of the draw */
    }
    al_users_free(u);
    /* too many new classes: fewer than 2 seen ones left */
    c.new_classes = 9;
    CHECK_STATUS(al_users_split(train, test, &c, &u), AL_ERANGE);
    c.new_classes = 0;
    CHECK_STATUS(al_users_split(train, test, &c, &u), AL_ERANGE);
    al_dataset_free(train);
    al_dataset_free(test);
}

int main(void) {
    shifts();
    newclass();
    al_dataset *train = make(6000, 0), *test = make(3000, 100000);
    al_users_config c;
    al_users_config_default(&c);
    c.users = 10;
    c.per_user = 100;
    c.test_per_user = 50;
    al_users *u, *u2;
    REQUIRE_OK(al_users_split(train, test, &c, &u));
    CHECK(al_users_count(u) == 10);
    CHECK(al_dataset_size(al_users_public(u)) == 3000);
    char *seen = calloc(200000, 1);
    int dup = 0;
    const al_dataset *pub = al_users_public(u);
    for (int i = 0; i < pub->n; i++) seen[(int)pub->x[i]]++;
    for (int k = 0; k < 10; k++) {
        const al_dataset *tr = al_users_train(u, k), *te = al_users_test(u, k);
        CHECK(tr->n == 100 && te->n == 50);
        const int *dom = al_users_dominant(u, k);
        CHECK(dom[0] != dom[1]);
        int ndom = 0, tdom = 0;
        for (int i = 0; i < tr->n; i++) {
            int v = (int)tr->x[i];
            dup += seen[v]++ != 0;
            CHECK(al_users_train_origin(u, k, i) == v);
            ndom += tr->y[i] == dom[0] || tr->y[i] == dom[1];
        }
        for (int i = 0; i < te->n; i++) {
            dup += seen[(int)te->x[i]]++ != 0;
            tdom += te->y[i] == dom[0] || te->y[i] == dom[1];
        }
        CHECK(ndom == 80); /* 80% from the two dominant classes, the rest from others */
        CHECK(tdom == 40);
    }
    CHECK(dup == 0);
    CHECK(al_users_train(u, 10) == NULL && al_users_dominant(u, -1) == NULL);
    /* deterministic by seed, different with another seed */
    REQUIRE_OK(al_users_split(train, test, &c, &u2));
    CHECK(memcmp(al_users_train(u, 3)->x, al_users_train(u2, 3)->x, sizeof(float) * 100) == 0);
    al_users_free(u2);
    c.seed = 2;
    REQUIRE_OK(al_users_split(train, test, &c, &u2));
    CHECK(memcmp(al_users_train(u, 3)->x, al_users_train(u2, 3)->x, sizeof(float) * 100) != 0);
    al_users_free(u2);
    /* more than the pool holds */
    c.users = 100;
    CHECK_STATUS(al_users_split(train, test, &c, &u2), AL_ERANGE);
    c.users = 0;
    CHECK_STATUS(al_users_split(train, test, &c, &u2), AL_ERANGE);
    c.users = 2;
    c.dominant = 11;
    CHECK_STATUS(al_users_split(train, test, &c, &u2), AL_ERANGE);
    al_users_free(u);
    al_dataset_free(train);
    al_dataset_free(test);
    free(seen);
    TEST_END("test_users");
}
