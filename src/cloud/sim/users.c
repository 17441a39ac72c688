/* The image scenario's users: a deterministic, non-IID split of a labelled
 * data set into public data and private per-user train/test sets. */
#include "autlearn_cloud.h"
#include "data/data.h"

#include <math.h>
#include <string.h>

struct al_users {
    int n;
    int dominant;
    al_dataset *pub, *pubval;
    al_dataset **train, **test, **val;
    int **origin;   /* origin[k][i]: index of user k's sample i in the training split */
    int *dom;       /* n * dominant classes */
};

void al_users_config_default(al_users_config *c) {
    if (!c) return;
    memset(c, 0, sizeof *c);
    c->seed = 1;
    c->users = 20;
    c->per_user = 200;
    c->test_per_user = 200;
    c->public_frac = 0.5;
    c->dominant = 2;
    c->dominant_frac = 0.8;
    c->new_classes = 3;
}

void al_users_free(al_users *u) {
    if (!u) return;
    al_dataset_free(u->pub);
    al_dataset_free(u->pubval);
    for (int k = 0; k < u->n; k++) {
        if (u->train) al_dataset_free(u->train[k]);
        if (u->test) al_dataset_free(u->test[k]);
        if (u->val) al_dataset_free(u->val[k]);
        if (u->origin) al_free(u->origin[k]);
    }
    al_free(u->train);
    al_free(u->test);
    al_free(u->val);
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

/* ---- feature shift: each user's "camera" ----
 * One transform per user, drawn from (seed, user) on a stream of its own (so
 * the class draws are those of the label shift):
 *   geometry  rotation in +-30 degrees, scale 0.8..1.2 per axis, shear +-0.3,
 *             translation +-2.5 pixels (bilinear, zero outside)
 *   strokes   one 3x3 erosion, none, or one 3x3 dilation (thinner, as is, bolder)
 *   tone      gamma exp(U(-1,1)) (0.37..2.7), contrast 0.5..1, brightness
 *             0..(1 - contrast); with probability 1/2 the negative (1 - v) */
typedef struct user_look {
    float a, b, c, d, tx, ty; /* output pixel (x, y) reads input at A (x - cx, y - cy) + (cx, cy) - t */
    int stroke;               /* -1 erode, 0, +1 dilate */
    float gamma, contrast, bright;
    int invert;
} user_look;

static void look_draw(uint64_t seed, int k, user_look *l) {
    al_rng r;
    al_rng_seed(&r, seed, 0x20000 + (uint64_t)k);
    double th = (al_rng_uniform(&r) * 2.0 - 1.0) * 30.0 * 3.14159265358979 / 180.0;
    double sx = 0.8 + 0.4 * al_rng_uniform(&r), sy = 0.8 + 0.4 * al_rng_uniform(&r);
    double sh = (al_rng_uniform(&r) * 2.0 - 1.0) * 0.3;
    /* the inverse map of rotate(th) * shear(sh) * scale(sx, sy) */
    double m00 = cos(th) * sx, m01 = cos(th) * sh * sy - sin(th) * sy;
    double m10 = sin(th) * sx, m11 = sin(th) * sh * sy + cos(th) * sy;
    double det = m00 * m11 - m01 * m10;
    l->a = (float)(m11 / det);
    l->b = (float)(-m01 / det);
    l->c = (float)(-m10 / det);
    l->d = (float)(m00 / det);
    l->tx = (al_rng_uniform(&r) * 2.0f - 1.0f) * 2.5f;
    l->ty = (al_rng_uniform(&r) * 2.0f - 1.0f) * 2.5f;
    l->stroke = (int)al_rng_below(&r, 3) - 1;
    l->gamma = (float)exp(al_rng_uniform(&r) * 2.0 - 1.0);
    l->contrast = 0.5f + 0.5f * al_rng_uniform(&r);
    l->bright = (1.0f - l->contrast) * al_rng_uniform(&r);
    l->invert = (int)al_rng_below(&r, 2);
}

/* Applies user look l to every sample of d ([C, H, W] images, values in
 * [0, 1]); tmp holds 2 * H * W floats. */
static void look_apply(const user_look *l, al_dataset *d, float *tmp) {
    int C = d->xs.d[0], H = d->xs.d[1], W = d->xs.d[2];
    size_t hw = (size_t)H * (size_t)W;
    float cx = 0.5f * (float)(W - 1), cy = 0.5f * (float)(H - 1);
    float *g = tmp, *h = tmp + hw;
    for (int i = 0; i < d->n; i++) {
        for (int ch = 0; ch < C; ch++) {
            float *x = d->x + ((size_t)i * (size_t)C + (size_t)ch) * hw;
            for (int y = 0; y < H; y++)
                for (int xo = 0; xo < W; xo++) {
                    float u = (float)xo - cx - l->tx, v = (float)y - cy - l->ty;
                    float sxf = l->a * u + l->b * v + cx, syf = l->c * u + l->d * v + cy;
                    float fx = floorf(sxf), fy = floorf(syf);
                    int x0 = (int)fx, y0 = (int)fy;
                    float wx = sxf - fx, wy = syf - fy, acc = 0.0f;
                    for (int dy = 0; dy < 2; dy++)
                        for (int dx = 0; dx < 2; dx++) {
                            int xx = x0 + dx, yy = y0 + dy;
                            if (xx < 0 || yy < 0 || xx >= W || yy >= H) continue;
                            acc += (dx ? wx : 1.0f - wx) * (dy ? wy : 1.0f - wy) * x[(size_t)yy * (size_t)W + (size_t)xx];
                        }
                    g[(size_t)y * (size_t)W + (size_t)xo] = acc;
                }
            if (l->stroke) {
                for (int y = 0; y < H; y++)
                    for (int xo = 0; xo < W; xo++) {
                        float e = g[(size_t)y * (size_t)W + (size_t)xo];
                        for (int dy = -1; dy <= 1; dy++)
                            for (int dx = -1; dx <= 1; dx++) {
                                int xx = xo + dx, yy = y + dy;
                                float q = xx < 0 || yy < 0 || xx >= W || yy >= H ? 0.0f
                                                                                : g[(size_t)yy * (size_t)W + (size_t)xx];
                                e = l->stroke > 0 ? fmaxf(e, q) : fminf(e, q);
                            }
                        h[(size_t)y * (size_t)W + (size_t)xo] = e;
                    }
                memcpy(g, h, sizeof(float) * hw);
            }
            for (size_t j = 0; j < hw; j++) {
                float v = fminf(fmaxf(g[j], 0.0f), 1.0f);
                v = l->bright + l->contrast * powf(v, l->gamma);
                x[j] = l->invert ? 1.0f - v : v;
            }
        }
    }
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
    if (c->shift < AL_SHIFT_LABEL || c->shift > AL_SHIFT_NEWCLASS)
        return al_error(AL_ERANGE, "shift must be label, feature, both or newclass (%d..%d), got %d", AL_SHIFT_LABEL,
                        AL_SHIFT_NEWCLASS, c->shift);
    int newclass = c->shift == AL_SHIFT_NEWCLASS;
    /* newclass: labels seen..C-1 are the cloud's unseen classes */
    int seen = newclass ? C - c->new_classes : C;
    if (newclass && (c->new_classes < 1 || seen < 2))
        return al_error(AL_ERANGE, "new classes must be 1..%d (the cloud keeps 2 classes or more of the %d), got %d",
                        C - 2, C, c->new_classes);
    int feature = c->shift == AL_SHIFT_FEATURE || c->shift == AL_SHIFT_BOTH;
    if (feature && (train->xs.ndim != 3 || train->xs.d[1] < 3 || train->xs.d[2] < 3 ||
                    train->xs.d[1] > 4096 || train->xs.d[2] > 4096))
        return al_error(AL_EINVAL, "the feature shift needs [C, H, W] images of at least 3x3 pixels");
    if (c->val_per_user < 0 || c->val_per_user >= c->per_user)
        return al_error(AL_ERANGE, "validation samples per user must be 0..%d (less than the training draw), got %d",
                        c->per_user - 1, c->val_per_user);
    int npub_all = (int)(train->n * c->public_frac);
    if (c->public_val < 0 || (c->public_val > 0 && c->public_val >= npub_all))
        return al_error(AL_ERANGE, "public validation samples must be 0..%d (fewer than the public samples), got %d",
                        AL_MAX(npub_all - 1, 0), c->public_val);
    /* feature only: the class mix is uniform (each dominant class gets its 1/C share) */
    double dfrac = c->shift == AL_SHIFT_FEATURE ? (double)c->dominant / (double)C : c->dominant_frac;

    al_users *u = al_calloc(1, sizeof *u);
    if (!u) return AL_ENOMEM;
    u->n = c->users;
    u->dominant = c->dominant;
    u->train = al_calloc((size_t)u->n, sizeof *u->train);
    u->test = al_calloc((size_t)u->n, sizeof *u->test);
    u->val = al_calloc((size_t)u->n, sizeof *u->val);
    u->origin = al_calloc((size_t)u->n, sizeof *u->origin);
    u->dom = al_calloc((size_t)u->n * (size_t)c->dominant, sizeof(int));
    int *perm = al_malloc(sizeof(int) * (size_t)train->n);
    int *tperm = al_malloc(sizeof(int) * (size_t)test->n);
    int *pick = al_malloc(sizeof(int) * (size_t)AL_MAX(c->per_user, c->test_per_user));
    float *tmp = feature ? al_malloc(sizeof(float) * 2 * (size_t)al_shape_numel(&train->xs)) : NULL;
    class_pool tp = {0}, sp = {0};
    al_status st = AL_OK;
    if (!u->train || !u->test || !u->val || !u->origin || !u->dom || !perm || !tperm || !pick ||
        (feature && !tmp)) {
        st = AL_ENOMEM;
        goto done;
    }
    al_rng r;
    al_rng_seed(&r, c->seed, 0x05e5);
    for (int i = 0; i < train->n; i++) perm[i] = i;
    for (int i = 0; i < test->n; i++) tperm[i] = i;
    shuffle(perm, train->n, &r);
    int npub = (int)(train->n * c->public_frac);
    if (newclass) {
        /* the public samples of the unseen classes are left out (and given to no one) */
        int o = 0, pv = 0;
        int *kept = al_malloc(sizeof(int) * (size_t)(npub > 0 ? npub : 1));
        if (!kept) {
            st = AL_ENOMEM;
            goto done;
        }
        for (int i = 0; i < npub; i++)
            if (train->y[(size_t)perm[i] * (size_t)train->y_len] < seen) {
                kept[o++] = perm[i];
                pv += i >= npub - c->public_val;
            }
        if (o - pv < 1)
            st = al_error(AL_ERANGE, "no public sample of the %d seen classes is left", seen);
        if (st == AL_OK) st = al_dataset_subset(train, kept, o - pv, &u->pub);
        if (st == AL_OK && pv > 0) st = al_dataset_subset(train, kept + o - pv, pv, &u->pubval);
        al_free(kept);
        if (st) goto done;
        u->pub->num_classes = seen;
        if (u->pubval) u->pubval->num_classes = seen;
    } else {
        st = al_dataset_subset(train, perm, npub - c->public_val, &u->pub);
        if (st) goto done;
        /* the cloud's validation set: the last public_val of the public samples */
        if (c->public_val > 0 &&
            (st = al_dataset_subset(train, perm + npub - c->public_val, c->public_val, &u->pubval)) != AL_OK)
            goto done;
    }
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
            /* newclass: the first dominant class is an unseen one */
            int t = newclass && j == 0 ? seen + (int)al_rng_below(&ur, (uint32_t)(C - seen))
                                       : j + (int)al_rng_below(&ur, (uint32_t)(C - j));
            int sw = cls[j];
            cls[j] = cls[t];
            cls[t] = sw;
            dom[j] = cls[j];
        }
        st = draw_user(&tp, dom, c->dominant, c->per_user, dfrac, &ur, pick, "training", k);
        if (st) goto done;
        int ntrain = c->per_user - c->val_per_user;
        if (c->val_per_user > 0) {
            /* the validation set: a random val_per_user of the draw (a stream of its own) */
            al_rng vr;
            al_rng_seed(&vr, c->seed, 0x30000 + (uint64_t)k);
            shuffle(pick, c->per_user, &vr);
            if ((st = al_dataset_subset(train, pick + ntrain, c->val_per_user, &u->val[k])) != AL_OK) goto done;
        }
        u->origin[k] = al_malloc(sizeof(int) * (size_t)ntrain);
        if (!u->origin[k]) {
            st = AL_ENOMEM;
            goto done;
        }
        memcpy(u->origin[k], pick, sizeof(int) * (size_t)ntrain);
        if ((st = al_dataset_subset(train, pick, ntrain, &u->train[k])) != AL_OK) goto done;
        st = draw_user(&sp, dom, c->dominant, c->test_per_user, dfrac, &ur, pick, "test", k);
        if (st) goto done;
        if ((st = al_dataset_subset(test, pick, c->test_per_user, &u->test[k])) != AL_OK) goto done;
        if (feature) {
            user_look l;
            look_draw(c->seed, k, &l);
            look_apply(&l, u->train[k], tmp);
            look_apply(&l, u->test[k], tmp);
            if (u->val[k]) look_apply(&l, u->val[k], tmp);
        }
    }
done:
    pool_free(&tp);
    pool_free(&sp);
    al_free(perm);
    al_free(tperm);
    al_free(pick);
    al_free(tmp);
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
const al_dataset *al_users_validation(const al_users *u, int k) {
    return u && k >= 0 && k < u->n ? u->val[k] : NULL;
}
const al_dataset *al_users_public_validation(const al_users *u) { return u ? u->pubval : NULL; }
const int *al_users_dominant(const al_users *u, int k) {
    return u && k >= 0 && k < u->n ? u->dom + (size_t)k * (size_t)u->dominant : NULL;
}
int al_users_train_origin(const al_users *u, int k, int i) {
    if (!u || k < 0 || k >= u->n || i < 0 || i >= u->train[k]->n) return -1;
    return u->origin[k][i];
}

al_status al_exemplars(const al_dataset *d, int per_class, uint64_t seed, al_dataset **out) {
    if (!out) return al_error(AL_EINVAL, "al_exemplars: NULL argument");
    *out = NULL;
    if (!d) return al_error(AL_EINVAL, "al_exemplars: NULL argument");
    if (per_class < 1) return al_error(AL_EINVAL, "exemplars: per class must be >= 1, got %d", per_class);
    if (d->y_len != 1) return al_error(AL_EINVAL, "exemplars: need one label per sample, the data have %d", d->y_len);
    int K = d->num_classes;
    int *perm = al_malloc(sizeof(int) * (size_t)(d->n > 0 ? d->n : 1));
    int *pick = al_malloc(sizeof(int) * (size_t)(d->n > 0 ? d->n : 1));
    int *got = al_calloc((size_t)(K > 0 ? K : 1), sizeof(int));
    al_status st = AL_OK;
    if (!perm || !pick || !got) {
        st = al_error(AL_ENOMEM, "out of memory");
        goto done;
    }
    al_rng r;
    al_rng_seed(&r, seed, 0xe8e3);
    for (int i = 0; i < d->n; i++) perm[i] = i;
    shuffle(perm, d->n, &r);
    /* the first per_class of each class in the drawn order, then grouped by label */
    int n = 0;
    for (int i = 0; i < d->n; i++) {
        int y = d->y[perm[i]];
        if (y >= 0 && y < K && got[y] < per_class) got[y]++;
        else perm[i] = -1;
    }
    for (int k = 0; k < K; k++)
        for (int i = 0; i < d->n; i++)
            if (perm[i] >= 0 && d->y[perm[i]] == k) pick[n++] = perm[i];
    st = al_dataset_subset(d, pick, n, out);
done:
    al_free(perm);
    al_free(pick);
    al_free(got);
    return st;
}
