/* The image scenario's users: a deterministic, non-IID split of a labelled
 * data set into public data and private per-user train/test sets. */
#include "autlearn_cloud.h"
#include "data/data.h"

#include <string.h>

struct al_users {
    int n;
    int dominant;
    al_dataset *pub;
    al_dataset **train, **test;
    int **origin;   /* origin[k][i]: index of user k's sample i in the training split */
    int *dom;       /* n * dominant classes */
};

void al_users_config_default(al_users_config *c) {
    memset(c, 0, sizeof *c);
    c->seed = 1;
    c->users = 20;
    c->per_user = 200;
    c->test_per_user = 200;
    c->public_frac = 0.5;
    c->dominant = 2;
    c->dominant_frac = 0.8;
}

void al_users_free(al_users *u) {
    if (!u) return;
    al_dataset_free(u->pub);
    for (int k = 0; k < u->n; k++) {
        if (u->train) al_dataset_free(u->train[k]);
        if (u->test) al_dataset_free(u->test[k]);
        if (u->origin) al_free(u->origin[k]);
    }
    al_free(u->train);
    al_free(u->test);
    al_free(u->origin);
    al_free(u->dom);
    al_free(u);
}

static void shuffle(int *v, int n, al_rng *r) {
    for (int i = n - 1; i > 0; i--) {
        int j = (int)al_rng_below(r, (uint32_t)i + 1);
        int t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
}

/* Per-class queues of sample indices, consumed front to back. */
typedef struct {
    int *idx;    /* all indices grouped by class */
    int *start;  /* start[c]..start[c+1] */
    int *next;   /* next unused position per class */
    int ncls;
} class_pool;

static al_status pool_build(class_pool *p, const al_dataset *d, const int *idx, int n, al_rng *r) {
    int C = d->num_classes;
    p->ncls = C;
    p->idx = al_malloc(sizeof(int) * (size_t)(n ? n : 1));
    p->start = al_calloc((size_t)C + 1, sizeof(int));
    p->next = al_calloc((size_t)C, sizeof(int));
    if (!p->idx || !p->start || !p->next) return AL_ENOMEM;
    for (int i = 0; i < n; i++) p->start[d->y[(size_t)idx[i] * (size_t)d->y_len] + 1]++;
    for (int c = 0; c < C; c++) p->start[c + 1] += p->start[c];
    for (int c = 0; c < C; c++) p->next[c] = p->start[c];
    for (int i = 0; i < n; i++) {
        int c = d->y[(size_t)idx[i] * (size_t)d->y_len];
        p->idx[p->next[c]++] = idx[i];
    }
    for (int c = 0; c < C; c++) {
        p->next[c] = p->start[c];
        shuffle(p->idx + p->start[c], p->start[c + 1] - p->start[c], r);
    }
    return AL_OK;
}

static void pool_free(class_pool *p) {
    al_free(p->idx);
    al_free(p->start);
    al_free(p->next);
}

static int pool_take(class_pool *p, int c) {
    if (p->next[c] >= p->start[c + 1]) return -1;
    return p->idx[p->next[c]++];
}

/* Draws `count` samples for a user: the first round(count * frac) from the
 * dominant classes in turn, the rest from uniformly chosen other classes. */
static al_status draw_user(class_pool *p, const int *dom, int ndom, int count, double frac, al_rng *r, int *out,
                           const char *what, int user) {
    int ndomsamp = (int)(count * frac + 0.5);
    int other[256], nother = 0;
    for (int c = 0; c < p->ncls; c++) {
        int isdom = 0;
        for (int j = 0; j < ndom; j++) isdom |= dom[j] == c;
        if (!isdom) other[nother++] = c;
    }
    for (int i = 0; i < count; i++) {
        int v = -1;
        if (i < ndomsamp || nother == 0) {
            v = pool_take(p, dom[i % ndom]);
        } else {
            /* a uniformly chosen other class; if it ran dry, the next one that has samples */
            int c0 = (int)al_rng_below(r, (uint32_t)nother);
            for (int t = 0; t < nother && v < 0; t++) v = pool_take(p, other[(c0 + t) % nother]);
        }
        if (v < 0)
            return al_error(AL_ERANGE, "not enough %s samples for user %d (%d wanted): use fewer users or samples",
                            what, user, count);
        out[i] = v;
    }
    return AL_OK;
}

al_status al_users_split(const al_dataset *train, const al_dataset *test, const al_users_config *c,
                         al_users **out) {
    if (!train || !test || !c || !out) return al_error(AL_EINVAL, "al_users_split: NULL argument");
    *out = NULL;
    if (c->users < 1 || c->users > 100000) return al_error(AL_ERANGE, "users must be 1..100000, got %d", c->users);
    if (c->per_user < 1 || c->test_per_user < 1)
        return al_error(AL_ERANGE, "samples per user must be positive (train %d, test %d)", c->per_user,
                        c->test_per_user);
    if (!(c->public_frac >= 0.0 && c->public_frac < 1.0))
        return al_error(AL_ERANGE, "public fraction must be in [0,1), got %g", c->public_frac);
    if (!(c->dominant_frac >= 0.0 && c->dominant_frac <= 1.0))
        return al_error(AL_ERANGE, "dominant fraction must be in [0,1], got %g", c->dominant_frac);
    int C = train->num_classes;
    if (train->y_len != 1 || test->y_len != 1 || C < 2 || C > 256 || test->num_classes > C)
        return al_error(AL_EINVAL, "users need single-label data with 2..256 classes");
    if (c->dominant < 1 || c->dominant > C)
        return al_error(AL_ERANGE, "dominant classes must be 1..%d, got %d", C, c->dominant);
    if (train->xs.ndim != test->xs.ndim || al_shape_numel(&train->xs) != al_shape_numel(&test->xs))
        return al_error(AL_ESHAPE, "train and test samples have different shapes");

    al_users *u = al_calloc(1, sizeof *u);
    if (!u) return AL_ENOMEM;
    u->n = c->users;
    u->dominant = c->dominant;
    u->train = al_calloc((size_t)u->n, sizeof *u->train);
    u->test = al_calloc((size_t)u->n, sizeof *u->test);
    u->origin = al_calloc((size_t)u->n, sizeof *u->origin);
    u->dom = al_calloc((size_t)u->n * (size_t)c->dominant, sizeof(int));
    int *perm = al_malloc(sizeof(int) * (size_t)train->n);
    int *tperm = al_malloc(sizeof(int) * (size_t)test->n);
    int *pick = al_malloc(sizeof(int) * (size_t)AL_MAX(c->per_user, c->test_per_user));
    class_pool tp = {0}, sp = {0};
    al_status st = AL_OK;
    if (!u->train || !u->test || !u->origin || !u->dom || !perm || !tperm || !pick) {
        st = AL_ENOMEM;
        goto done;
    }
    al_rng r;
    al_rng_seed(&r, c->seed, 0x05e5);
    for (int i = 0; i < train->n; i++) perm[i] = i;
    for (int i = 0; i < test->n; i++) tperm[i] = i;
    shuffle(perm, train->n, &r);
    int npub = (int)(train->n * c->public_frac);
    st = al_dataset_subset(train, perm, npub, &u->pub);
    if (st) goto done;
    if ((st = pool_build(&tp, train, perm + npub, train->n - npub, &r)) != AL_OK) goto done;
    if ((st = pool_build(&sp, test, tperm, test->n, &r)) != AL_OK) goto done;
    for (int k = 0; k < u->n; k++) {
        al_rng ur;
        al_rng_seed(&ur, c->seed, 0x10000 + (uint64_t)k);
        int *dom = u->dom + (size_t)k * (size_t)c->dominant;
        /* distinct dominant classes: a partial Fisher-Yates over the classes */
        int cls[256];
        for (int j = 0; j < C; j++) cls[j] = j;
        for (int j = 0; j < c->dominant; j++) {
            int t = j + (int)al_rng_below(&ur, (uint32_t)(C - j));
            int tmp = cls[j];
            cls[j] = cls[t];
            cls[t] = tmp;
            dom[j] = cls[j];
        }
        st = draw_user(&tp, dom, c->dominant, c->per_user, c->dominant_frac, &ur, pick, "training", k);
        if (st) goto done;
        u->origin[k] = al_malloc(sizeof(int) * (size_t)c->per_user);
        if (!u->origin[k]) {
            st = AL_ENOMEM;
            goto done;
        }
        memcpy(u->origin[k], pick, sizeof(int) * (size_t)c->per_user);
        if ((st = al_dataset_subset(train, pick, c->per_user, &u->train[k])) != AL_OK) goto done;
        st = draw_user(&sp, dom, c->dominant, c->test_per_user, c->dominant_frac, &ur, pick, "test", k);
        if (st) goto done;
        if ((st = al_dataset_subset(test, pick, c->test_per_user, &u->test[k])) != AL_OK) goto done;
    }
done:
    pool_free(&tp);
    pool_free(&sp);
    al_free(perm);
    al_free(tperm);
    al_free(pick);
    if (st) {
        al_users_free(u);
        return st;
    }
    *out = u;
    return AL_OK;
}

int al_users_count(const al_users *u) { return u ? u->n : 0; }
const al_dataset *al_users_public(const al_users *u) { return u ? u->pub : NULL; }
const al_dataset *al_users_train(const al_users *u, int k) { return u && k >= 0 && k < u->n ? u->train[k] : NULL; }
const al_dataset *al_users_test(const al_users *u, int k) { return u && k >= 0 && k < u->n ? u->test[k] : NULL; }
const int *al_users_dominant(const al_users *u, int k) {
    return u && k >= 0 && k < u->n ? u->dom + (size_t)k * (size_t)u->dominant : NULL;
}
int al_users_train_origin(const al_users *u, int k, int i) {
    if (!u || k < 0 || k >= u->n || i < 0 || i >= u->train[k]->n) return -1;
    return u->origin[k][i];
}
