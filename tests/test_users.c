/* The image scenario's user split: disjoint, non-IID as configured,
 * deterministic by seed, and clear errors when the data cannot serve it. */
#include "autlearn_cloud.h"
#include "al_test.h"

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

int main(void) {
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
