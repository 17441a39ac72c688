/* Device recipes and the chooser (src/train/recipe.c, docs/RECIPES.md):
 * bias-only changes only biases (and the batch-norm affine), bn changes
 * only the running statistics (and the affine when asked) and re-estimates
 * them exactly, prior changes only the output bias, the chooser's split is
 * stratified, its report complete, its result deterministic for a seed,
 * its "full" candidate trains everything and is one when deep already
 * does, and its gate keeps the cloud model when no recipe beats it on the
 * validation split, and a trained model when one does. */
#include "al_test.h"

#include <unistd.h>

#define PLAIN "input 1x8x8; conv 3 k=3 p=1; relu; maxpool k=2; flatten; dense 8; relu; dense 3"
#define DEEPER "input 1x8x8; conv 3 k=3 p=1; relu; conv 3 k=3 p=1; relu; maxpool k=2; flatten; dense 8; relu; dense 3"
#define BN "input 1x8x8; conv 3 k=3 p=1; batchnorm; relu; maxpool k=2; flatten; dense 8; relu; dense 3"

static al_model *make(const char *spec, uint64_t seed) {
    al_model *m;
    REQUIRE_OK(al_model_from_spec(spec, seed, &m));
    al_test_randomize_bn(m, seed + 1);
    return m;
}

static void cfg(al_personalize_config *c, al_recipe r) {
    al_personalize_config_default(c);
    c->train.epochs = 3;
    c->train.batch = 8;
    c->train.lr = 0.05;
    c->train.seed = 7;
    c->recipe = r;
    c->val_folds = 1; /* the single split: most checks below count its parts (test_folds: K folds) */
}

/* Per tensor of m against z: 1 where it differs. */
static int differs(const al_model *m, const al_model *z, int node, const char *name) {
    const al_node *a = &m->nodes[node], *b = &z->nodes[node];
    for (int p = 0; p < a->nparams; p++)
        if (strcmp(a->params[p].name, name) == 0)
            return memcmp(a->params[p].w, b->params[p].w, sizeof(float) * a->params[p].n) != 0;
    return -1;
}

static void test_bias_only(const al_dataset *d) {
    al_personalize_config c;
    cfg(&c, AL_RECIPE_BIAS);
    c.label_prior = 0.0;
    al_model *m = make(PLAIN, 3), *z = make(PLAIN, 3);
    al_personalize_report r;
    REQUIRE_OK(al_personalize(m, NULL, d, NULL, NULL, &c, NULL, &r));
    for (int i = 0; i < m->nnodes; i++) {
        if (differs(m, z, i, "weight") >= 0) CHECK(differs(m, z, i, "weight") == 0); /* bit-identical */
        if (differs(m, z, i, "bias") >= 0) CHECK(differs(m, z, i, "bias") == 1);
    }
    CHECK(r.train.steps > 0 && r.macs > 0);
    /* with batch norm: its affine trains too, its statistics move (state), every other weight stays */
    al_model *b = make(BN, 4), *bz = make(BN, 4);
    REQUIRE_OK(al_personalize(b, NULL, d, NULL, NULL, &c, NULL, &r));
    CHECK(differs(b, bz, 0, "weight") == 0 && differs(b, bz, 5, "weight") == 0 && differs(b, bz, 7, "weight") == 0);
    CHECK(differs(b, bz, 0, "bias") == 1 && differs(b, bz, 7, "bias") == 1);
    CHECK(differs(b, bz, 1, "weight") == 1 && differs(b, bz, 1, "bias") == 1);
    al_model_free(b);
    al_model_free(bz);
    al_model_free(m);
    al_model_free(z);
}

static void test_bn(const al_dataset *d) {
    al_personalize_config c;
    cfg(&c, AL_RECIPE_BN);
    c.label_prior = 0.0;
    c.train.batch = d->n; /* one batch: the statistics are the data's exactly */
    al_model *m = make(BN, 5), *z = make(BN, 5);
    al_personalize_report r;
    REQUIRE_OK(al_personalize(m, NULL, d, NULL, NULL, &c, NULL, &r));
    CHECK(r.train.steps == 0 && r.macs > 0);
    for (int i = 0; i < m->nnodes; i++) {
        const char *names[2] = {"weight", "bias"};
        for (int k = 0; k < 2; k++)
            if (differs(m, z, i, names[k]) >= 0) CHECK(differs(m, z, i, names[k]) == 0);
    }
    CHECK(differs(m, z, 1, "running_mean") == 1 && differs(m, z, 1, "running_var") == 1);
    /* the statistics: the conv's output over the data, mean and unbiased variance per channel */
    REQUIRE_OK(al_model_forward_range(z, NULL, 0, 1, d->x, d->n, 0));
    const float *y = z->act[0];
    size_t S = 64;
    for (int ch = 0; ch < 3; ch++) {
        double s = 0, q = 0, cnt = (double)d->n * (double)S;
        for (int i = 0; i < d->n; i++)
            for (size_t p = 0; p < S; p++) s += y[((size_t)i * 3 + (size_t)ch) * S + p];
        double mu = s / cnt;
        for (int i = 0; i < d->n; i++)
            for (size_t p = 0; p < S; p++) {
                double v = y[((size_t)i * 3 + (size_t)ch) * S + p] - mu;
                q += v * v;
            }
        CHECK_NEAR(m->nodes[1].params[2].w[ch], mu, 1e-5);
        CHECK_NEAR(m->nodes[1].params[3].w[ch], q / (cnt - 1), 1e-4);
    }
    /* several batches: the mean of the batches' statistics (momentum 1/b) */
    al_model *w = make(BN, 5);
    c.train.batch = 8;
    REQUIRE_OK(al_personalize(w, NULL, d, NULL, NULL, &c, NULL, &r));
    CHECK_NEAR(w->nodes[1].params[2].w[0], m->nodes[1].params[2].w[0], 0.05);
    /* with the affine: statistics and affine change, nothing else */
    al_model *a = make(BN, 5);
    c.bn_affine = 1;
    REQUIRE_OK(al_personalize(a, NULL, d, NULL, NULL, &c, NULL, &r));
    CHECK(r.train.steps > 0);
    CHECK(differs(a, z, 1, "weight") == 1 && differs(a, z, 1, "bias") == 1);
    CHECK(differs(a, z, 0, "weight") == 0 && differs(a, z, 0, "bias") == 0);
    CHECK(differs(a, z, 5, "weight") == 0 && differs(a, z, 7, "weight") == 0 && differs(a, z, 7, "bias") == 0);
    /* a model without batch norm: refused with a clear message */
    al_model *p = make(PLAIN, 5);
    c.bn_affine = 0;
    CHECK_STATUS(al_personalize(p, NULL, d, NULL, NULL, &c, NULL, &r), AL_EINVAL);
    CHECK(strstr(al_last_error(), "no batch-norm") != NULL);
    /* a fixed recipe with a freeze point of its own: refused */
    c.recipe = AL_RECIPE_HEAD;
    c.freeze = 2;
    CHECK_STATUS(al_personalize(p, NULL, d, NULL, NULL, &c, NULL, &r), AL_EINVAL);
    c.recipe = AL_RECIPE_AUTO;
    c.freeze = -1;
    CHECK_STATUS(al_personalize(p, NULL, d, NULL, NULL, &c, NULL, &r), AL_EINVAL);
    al_model_free(p);
    al_model_free(a);
    al_model_free(w);
    al_model_free(m);
    al_model_free(z);
}

static void test_prior_and_freeze_points(const al_dataset *d) {
    al_model *m = make(PLAIN, 6), *z = make(PLAIN, 6);
    CHECK(al_recipe_freeze(m, AL_RECIPE_HEAD) == 6);
    CHECK(al_recipe_freeze(m, AL_RECIPE_LAST_BLOCK) == 4);
    CHECK(al_recipe_freeze(m, AL_RECIPE_DEEP) == 0);
    CHECK(al_recipe_freeze(m, AL_RECIPE_BN) == -1);
    CHECK(al_recipe_freeze(m, AL_RECIPE_BIAS) == 0);
    al_personalize_config c;
    cfg(&c, AL_RECIPE_PRIOR);
    c.label_prior = 1.0;
    al_personalize_report r;
    REQUIRE_OK(al_personalize(m, NULL, d, NULL, NULL, &c, NULL, &r));
    CHECK(r.train.steps == 0 && r.macs == 0);
    CHECK(differs(m, z, 6, "bias") == 1 && differs(m, z, 6, "weight") == 0 && differs(m, z, 4, "bias") == 0);
    al_recipe x;
    for (int i = 0; i < AL_RECIPE_COUNT; i++) {
        CHECK_OK(al_recipe_parse(al_recipe_name((al_recipe)i), &x));
        CHECK((int)x == i);
    }
    CHECK_STATUS(al_recipe_parse("everything", &x), AL_EINVAL);
    al_model_free(m);
    al_model_free(z);
}

/* The report is complete and the split stratified. */
static void check_report(const al_auto_report *r, int n) {
    CHECK(r->n_train + r->n_val == n);
    CHECK(r->n_val > 0 && r->ntries >= 8 && r->ntries <= AL_AUTO_MAX_TRIES);
    CHECK(r->why[0] != '\0');
    CHECK(r->cloud_val_acc >= 0.0 && r->cloud_val_acc <= 1.0);
    uint64_t sum = 0, last_plain = 0;
    for (int i = 0; i < r->ntries; i++) {
        const al_recipe_try *t = &r->tries[i];
        if (t->status != AL_TRY_RUN) continue;
        CHECK(t->val_acc >= 0.0 && t->val_acc <= 1.0);
        CHECK(t->macs > 0 && t->est_macs > 0);
        sum += t->macs;
        if (t->aug_variants == 1) { /* cheapest first (an augmented candidate follows its plain one) */
            CHECK(last_plain <= t->est_macs);
            last_plain = t->est_macs;
        }
    }
    CHECK(r->search_macs > sum); /* and the cloud's validation pass */
    CHECK(r->best >= 0 && r->tries[r->best].status == AL_TRY_RUN);
    for (int i = 0; i < r->ntries; i++) /* ties go to the cheaper: none before the best scores as high */
        if (i < r->best && r->tries[i].status == AL_TRY_RUN) CHECK(r->tries[i].val_acc < r->tries[r->best].val_acc);
}

static void test_chooser_helps_and_is_deterministic(const al_dataset *d) {
    /* an untrained cloud model: training on the user's data helps */
    al_model *a = make(PLAIN, 8), *b = make(PLAIN, 8), *z = make(PLAIN, 8);
    al_personalize_config c;
    cfg(&c, AL_RECIPE_AUTO);
    c.train.epochs = 6;
    c.label_prior = 0.0;
    al_auto_report ra, rb;
    al_cache *cache;
    REQUIRE_OK(al_cache_new(16 << 20, NULL, &cache));
    REQUIRE_OK(al_personalize_auto(a, NULL, d, NULL, cache, &c, &ra));
    REQUIRE_OK(al_personalize_auto(b, NULL, d, NULL, NULL, &c, &rb));
    check_report(&ra, d->n);
    CHECK(ra.kept == 1 && ra.recipe != AL_RECIPE_PRIOR && ra.recipe != AL_RECIPE_CONFIG);
    CHECK(ra.tries[ra.best].val_acc > ra.cloud_val_acc);
    CHECK(ra.final.train.steps > 0);
    CHECK(memcmp(a->wblock, z->wblock, sizeof(float) * a->nweights) != 0);
    /* the same seed, the same choice and weights (with or without a cache) */
    CHECK(ra.best == rb.best && ra.recipe == rb.recipe && ra.ntries == rb.ntries);
    for (int i = 0; i < ra.ntries; i++) CHECK(ra.tries[i].val_acc == rb.tries[i].val_acc);
    CHECK(memcmp(a->wblock, b->wblock, sizeof(float) * a->nweights) == 0);
    /* the split: every class holds one sample out at least */
    int K = d->num_classes, cnt[3] = {0, 0, 0};
    for (int i = 0; i < d->n; i++) cnt[d->y[i]]++;
    int expect = 0;
    for (int k = 0; k < K; k++) {
        int nv = (int)floor(0.2 * cnt[k] + 0.5);
        expect += nv < 1 ? 1 : nv;
    }
    CHECK(ra.n_val == expect);
    /* a budget that admits only the cheapest candidates */
    al_model *e = make(PLAIN, 8);
    c.budget_macs = ra.tries[2].est_macs + ra.tries[1].est_macs + ra.tries[0].est_macs;
    al_auto_report re;
    REQUIRE_OK(al_personalize_auto(e, NULL, d, NULL, cache, &c, &re));
    int over = 0;
    for (int i = 0; i < re.ntries; i++) over += re.tries[i].status == AL_TRY_BUDGET;
    CHECK(over > 0 && re.search_macs <= c.budget_macs);
    al_model_free(e);
    al_cache_free(cache);
    al_model_free(a);
    al_model_free(b);
    al_model_free(z);
}

/* A cloud model that is right on every validation sample: nothing can beat
 * it there, so the gate keeps it (bit for bit), even with a recipe that
 * would wreck it (shuffled labels, a large learning rate). */
static void test_gate_keeps_cloud(const al_dataset *d) {
    al_model *m = make(PLAIN, 9);
    al_personalize_config c;
    cfg(&c, AL_RECIPE_CONFIG);
    c.train.epochs = 30;
    c.freeze = 0;
    REQUIRE_OK(al_personalize(m, NULL, d, NULL, NULL, &c, NULL, NULL));
    double acc;
    REQUIRE_OK(al_evaluate(m, NULL, d, 16, NULL, &acc));
    CHECK(acc == 1.0);
    al_model *cloud;
    REQUIRE_OK(al_model_clone(m, &cloud));
    /* the user's labels shuffled: training on them hurts */
    al_dataset *s = al_test_images(d->n, 1);
    al_rng r;
    al_rng_seed(&r, 99, 1);
    for (int i = s->n - 1; i > 0; i--) {
        int j = (int)al_rng_below(&r, (uint32_t)(i + 1));
        int32_t t = s->y[i];
        s->y[i] = s->y[j];
        s->y[j] = t;
    }
    al_personalize_config a;
    cfg(&a, AL_RECIPE_AUTO);
    a.train.lr = 0.5;
    al_auto_report rep;
    REQUIRE_OK(al_personalize_auto(m, NULL, d, NULL, NULL, &a, &rep));
    CHECK(rep.cloud_val_acc == 1.0 && rep.kept == 0 && rep.recipe == AL_RECIPE_CONFIG);
    CHECK(strstr(rep.why, "kept the cloud model") != NULL);
    CHECK(rep.final.train.steps == 0);
    CHECK(memcmp(m->wblock, cloud->wblock, sizeof(float) * m->nweights) == 0);
    /* with the label prior: the shift alone may be kept at a tie, nothing trained */
    al_model *q;
    REQUIRE_OK(al_model_clone(cloud, &q));
    a.label_prior = 1.0;
    REQUIRE_OK(al_personalize_auto(q, NULL, d, NULL, NULL, &a, &rep));
    if (rep.kept) {
        CHECK(rep.recipe == AL_RECIPE_PRIOR && rep.tries[rep.best].val_acc == 1.0 && rep.final.train.steps == 0);
        CHECK(strstr(rep.why, "as high as") != NULL);
    } else {
        CHECK(memcmp(q->wblock, cloud->wblock, sizeof(float) * q->nweights) == 0);
    }
    al_model_free(q);
    a.label_prior = 0.0;
    /* on shuffled labels: whatever the search finds, what is returned is
     * either the cloud model untouched or a model that beat it on validation */
    al_auto_report rs;
    REQUIRE_OK(al_personalize_auto(m, NULL, s, NULL, NULL, &a, &rs));
    if (!rs.kept)
        CHECK(memcmp(m->wblock, cloud->wblock, sizeof(float) * m->nweights) == 0);
    else
        CHECK(rs.tries[rs.best].val_acc > rs.cloud_val_acc);
    /* too little data for a split: the cloud model */
    al_dataset *tiny = al_test_images(2, 5);
    tiny->y[0] = 0;
    tiny->y[1] = 1;
    REQUIRE_OK(al_personalize_auto(m, NULL, tiny, NULL, NULL, &a, &rs));
    CHECK(rs.kept == 0 && rs.n_val == 0 && rs.ntries == 0);
    a.val_fraction = 0.0;
    CHECK_STATUS(al_personalize_auto(m, NULL, d, NULL, NULL, &a, &rs), AL_ERANGE);
    al_dataset_free(tiny);
    al_dataset_free(s);
    al_model_free(cloud);
    al_model_free(m);
}

/* Checkpoints with the chooser on the path: they cover its final job. A
 * checkpoint of that job written part way (as a crash leaves it) is
 * resumed after the search runs again, and the model equals the
 * uninterrupted one. */
static void test_resume_through_chooser(const al_dataset *d) {
    char dir[] = "/tmp/test_recipe.XXXXXX", p1[300], p2[300];
    REQUIRE_OK(mkdtemp(dir) ? AL_OK : AL_EIO);
    snprintf(p1, sizeof p1, "%s/a.ckpt", dir);
    snprintf(p2, sizeof p2, "%s/b.ckpt", dir);
    al_personalize_config c;
    cfg(&c, AL_RECIPE_AUTO);
    c.train.epochs = 6;
    c.label_prior = 0.0;
    c.train.checkpoint_path = p1;
    c.train.checkpoint_every = 2;
    al_model *a = make(PLAIN, 8), *b = make(PLAIN, 8), *e = make(PLAIN, 8);
    al_auto_report ra, rb;
    REQUIRE_OK(al_personalize_auto(a, NULL, d, NULL, NULL, &c, &ra));
    CHECK(ra.kept == 1 && ra.final.train.steps > 10);
    /* the final job, stopped after 5 steps with a checkpoint (ids: positions, as the chooser keys them) */
    uint64_t *ids = malloc(sizeof(uint64_t) * (size_t)d->n);
    for (int i = 0; i < d->n; i++) ids[i] = (uint64_t)i;
    al_personalize_config f = c;
    f.recipe = ra.recipe;
    f.aug_variants = ra.aug_variants;
    f.train.checkpoint_path = p2;
    al_trainer *t;
    REQUIRE_OK(al_personalize_new(b, NULL, d, ids, NULL, &f, &t));
    int done = 0;
    REQUIRE_OK(al_trainer_run_slice(t, d, NULL, 5, 0.0, &done, NULL));
    CHECK(!done);
    REQUIRE_OK(al_trainer_checkpoint(t, p2));
    al_trainer_free(t);
    /* the "restarted" process: the search again, then the final job goes on from the checkpoint */
    c.train.checkpoint_path = p2;
    c.resume = 1;
    REQUIRE_OK(al_personalize_auto(e, NULL, d, NULL, NULL, &c, &rb));
    CHECK(rb.kept == 1 && rb.recipe == ra.recipe && rb.aug_variants == ra.aug_variants);
    CHECK(rb.final.train.steps > 0);
    CHECK(memcmp(a->wblock, e->wblock, sizeof(float) * a->nweights) == 0);
    free(ids);
    unlink(p1);
    unlink(p2);
    rmdir(dir);
    al_model_free(a);
    al_model_free(b);
    al_model_free(e);
}

/* full: freeze 0, every tensor trained (deep leaves the first conv alone);
 * in the chooser the most expensive plain candidate, skipped as a
 * duplicate where deep already starts at node 0, and over a budget that
 * admits everything else. */
static void test_full(const al_dataset *d) {
    al_model *m = make(DEEPER, 11), *z = make(DEEPER, 11), *p = make(PLAIN, 11);
    CHECK(al_recipe_freeze(m, AL_RECIPE_DEEP) == 2);
    CHECK(al_recipe_freeze(m, AL_RECIPE_FULL) == 0);
    CHECK(al_recipe_freeze(p, AL_RECIPE_FULL) == 0);
    al_recipe x;
    CHECK_OK(al_recipe_parse("full", &x));
    CHECK(x == AL_RECIPE_FULL);
    al_personalize_config c;
    cfg(&c, AL_RECIPE_DEEP);
    c.label_prior = 0.0;
    al_personalize_report r;
    REQUIRE_OK(al_personalize(m, NULL, d, NULL, NULL, &c, NULL, &r));
    CHECK(differs(m, z, 0, "weight") == 0 && differs(m, z, 0, "bias") == 0 && differs(m, z, 2, "weight") == 1);
    uint64_t deep_macs = r.macs;
    al_model_copy_weights(m, z);
    cfg(&c, AL_RECIPE_FULL);
    c.label_prior = 0.0;
    REQUIRE_OK(al_personalize(m, NULL, d, NULL, NULL, &c, NULL, &r));
    for (int i = 0; i < m->nnodes; i++)
        if (differs(m, z, i, "weight") >= 0) CHECK(differs(m, z, i, "weight") == 1 && differs(m, z, i, "bias") == 1);
    CHECK(r.train.steps > 0 && r.macs > deep_macs);
    /* the chooser: full runs, last of the plain candidates */
    al_model_copy_weights(m, z);
    al_personalize_config a;
    cfg(&a, AL_RECIPE_AUTO);
    a.label_prior = 0.0;
    al_auto_report ra;
    REQUIRE_OK(al_personalize_auto(m, NULL, d, NULL, NULL, &a, &ra));
    check_report(&ra, d->n);
    int full = -1, deep = -1;
    uint64_t others = 0;
    for (int i = 0; i < ra.ntries; i++) {
        if (ra.tries[i].recipe == AL_RECIPE_FULL && ra.tries[i].aug_variants == 1) full = i;
        if (ra.tries[i].recipe == AL_RECIPE_DEEP && ra.tries[i].aug_variants == 1) deep = i;
    }
    REQUIRE_OK(full >= 0 && deep >= 0 ? AL_OK : AL_EINVAL);
    CHECK(ra.tries[full].status == AL_TRY_RUN && ra.tries[full].freeze == 0 && ra.tries[full].macs > 0);
    CHECK(ra.tries[full].est_macs > ra.tries[deep].est_macs && full > deep);
    for (int i = 0; i < ra.ntries; i++)
        if (ra.tries[i].status == AL_TRY_RUN && ra.tries[i].recipe != AL_RECIPE_FULL) others += ra.tries[i].macs;
    /* a budget for everything but full (and its augmented sibling) */
    al_model_copy_weights(m, z);
    a.budget_macs = ra.search_macs - ra.tries[full].macs - (full + 1 < ra.ntries ? ra.tries[full + 1].macs : 0);
    al_auto_report rb;
    REQUIRE_OK(al_personalize_auto(m, NULL, d, NULL, NULL, &a, &rb));
    for (int i = 0; i < rb.ntries; i++)
        if (rb.tries[i].recipe == AL_RECIPE_FULL) CHECK(rb.tries[i].status == AL_TRY_BUDGET);
    CHECK(rb.search_macs <= a.budget_macs && others > 0);
    /* a model whose deep already starts at node 0: full is the same candidate */
    a.budget_macs = 0;
    REQUIRE_OK(al_personalize_auto(p, NULL, d, NULL, NULL, &a, &rb));
    for (int i = 0; i < rb.ntries; i++)
        if (rb.tries[i].recipe == AL_RECIPE_FULL) CHECK(rb.tries[i].status == AL_TRY_NA);
    al_model_free(m);
    al_model_free(z);
    al_model_free(p);
}

/* K-fold cross-validation's folds as RECIPES.md specifies them, computed
 * here from the spec: each class's seeded shuffle (the single split's)
 * dealt in turn into folds 0..K-1, the deal going on from class to class. */
static void spec_folds(const al_dataset *d, int K, uint64_t seed, int *fold) {
    int next = 0, cls[256];
    REQUIRE_OK(d->n <= 256 ? AL_OK : AL_EINVAL);
    for (int k = 0; k < d->num_classes; k++) {
        int nk = 0;
        for (int i = 0; i < d->n; i++)
            if (d->y[i] == k) cls[nk++] = i;
        al_rng r;
        al_rng_seed(&r, seed, 0x7a11d000ULL + (uint64_t)k);
        for (int i = nk - 1; i > 0; i--) {
            int j = (int)al_rng_below(&r, (uint32_t)(i + 1));
            int t = cls[i];
            cls[i] = cls[j];
            cls[j] = t;
        }
        for (int i = 0; i < nk; i++) {
            fold[cls[i]] = next;
            next = (next + 1) % K;
        }
    }
}

/* The reports of two chooser runs agree in everything they decided. */
static int same_report(const al_auto_report *a, const al_auto_report *b) {
    int ok = a->n_train == b->n_train && a->n_val == b->n_val && a->cloud_val_acc == b->cloud_val_acc &&
             a->search_macs == b->search_macs && a->ntries == b->ntries && a->best == b->best && a->kept == b->kept &&
             a->recipe == b->recipe && strcmp(a->why, b->why) == 0 && a->final.macs == b->final.macs;
    for (int i = 0; ok && i < a->ntries; i++)
        ok = a->tries[i].recipe == b->tries[i].recipe && a->tries[i].status == b->tries[i].status &&
             a->tries[i].val_acc == b->tries[i].val_acc && a->tries[i].macs == b->tries[i].macs &&
             a->tries[i].est_macs == b->tries[i].est_macs;
    return ok;
}

/* K-fold cross-validation (val_folds): 1 is the single split bit for bit;
 * with K folds every sample is held out once and a candidate's score is
 * the accuracy pooled over K explicit al_personalize runs (recomputed here
 * by hand), with or without the runtime cache; the budget counts K runs;
 * bad K and too few samples are refused; a class with fewer samples than
 * folds is dealt into some of them. */
static void test_folds(const al_dataset *d) {
    al_model *z = make(PLAIN, 8), *a = make(PLAIN, 8), *b = make(PLAIN, 8);
    al_personalize_config c;
    cfg(&c, AL_RECIPE_AUTO);
    c.label_prior = 1.0;
    /* the library's default is K folds */
    al_personalize_config dflt;
    al_personalize_config_default(&dflt);
    CHECK(dflt.val_folds == AL_AUTO_DEFAULT_FOLDS && AL_AUTO_DEFAULT_FOLDS == 5);
    /* val_folds 1 (and 0) is the single split exactly */
    al_auto_report r0, r1;
    c.val_folds = 0;
    REQUIRE_OK(al_personalize_auto(a, NULL, d, NULL, NULL, &c, &r0));
    c.val_folds = 1;
    REQUIRE_OK(al_personalize_auto(b, NULL, d, NULL, NULL, &c, &r1));
    CHECK(same_report(&r0, &r1) && r0.folds == 0 && r1.folds == 0 && r1.val_fraction == 0.2);
    CHECK(memcmp(a->wblock, b->wblock, sizeof(float) * a->nweights) == 0);
    /* 4 folds: every sample held out once, the cloud scored on all */
    const int K = 4;
    c.val_folds = K;
    al_model_copy_weights(a, z);
    al_model_copy_weights(b, z);
    al_cache *cache;
    REQUIRE_OK(al_cache_new(16 << 20, NULL, &cache));
    al_auto_report ra, rb;
    REQUIRE_OK(al_personalize_auto(a, NULL, d, NULL, NULL, &c, &ra));
    REQUIRE_OK(al_personalize_auto(b, NULL, d, NULL, cache, &c, &rb));
    CHECK(ra.folds == K && ra.n_val == d->n && ra.n_train == d->n - d->n / K && ra.val_fraction == 0.0);
    double cloud_all;
    REQUIRE_OK(al_evaluate(z, NULL, d, 8, NULL, &cloud_all));
    CHECK(ra.cloud_val_acc == cloud_all);
    CHECK(ra.best >= 0 && strstr(ra.why, "4-fold") != NULL);
    /* the runtime cache (the user's samples' frozen features shared by the
     * folds) changes nothing */
    CHECK(ra.best == rb.best && ra.recipe == rb.recipe && ra.ntries == rb.ntries && ra.kept == rb.kept);
    for (int i = 0; i < ra.ntries; i++) CHECK(ra.tries[i].val_acc == rb.tries[i].val_acc);
    CHECK(memcmp(a->wblock, b->wblock, sizeof(float) * a->nweights) == 0);
    CHECK(rb.final.cache.hits > 0 || rb.tries[rb.best].freeze == 0); /* the cache served the final job */
    /* the folds: sizes differ by one at most, each class's counts too */
    int fold[256], size[4] = {0, 0, 0, 0}, per[4][3] = {{0}};
    spec_folds(d, K, c.train.seed, fold);
    for (int i = 0; i < d->n; i++) {
        size[fold[i]]++;
        per[fold[i]][d->y[i]]++;
    }
    for (int f = 0; f < K; f++) {
        CHECK(size[f] >= d->n / K && size[f] <= (d->n + K - 1) / K);
        for (int k = 0; k < 3; k++) CHECK(abs(per[f][k] - per[0][k]) <= 1);
    }
    /* two candidates by hand: head and last-block,
     * each K al_personalize runs on the other folds (ids: positions in d,
     * as the chooser's) scored on the held-out fold, pooled */
    static const al_recipe by_hand[] = {AL_RECIPE_HEAD, AL_RECIPE_LAST_BLOCK};
    for (int h = 0; h < 2; h++) {
        int ti = -1;
        for (int i = 0; i < ra.ntries; i++)
            if (ra.tries[i].recipe == by_hand[h] && ra.tries[i].aug_variants == 1) ti = i;
        REQUIRE_OK(ti >= 0 && ra.tries[ti].status == AL_TRY_RUN ? AL_OK : AL_EINVAL);
        long correct = 0, held = 0;
        uint64_t macs = 0;
        for (int f = 0; f < K; f++) {
            int tr[256], va[256], ntr = 0, nva = 0;
            uint64_t ids[256];
            for (int i = 0; i < d->n; i++) {
                if (fold[i] == f) {
                    va[nva++] = i;
                } else {
                    ids[ntr] = (uint64_t)i;
                    tr[ntr++] = i;
                }
            }
            held += nva;
            al_dataset *dtr, *dva;
            REQUIRE_OK(al_dataset_subset(d, tr, ntr, &dtr));
            REQUIRE_OK(al_dataset_subset(d, va, nva, &dva));
            al_model *w;
            REQUIRE_OK(al_model_clone(z, &w));
            al_personalize_config pc;
            cfg(&pc, by_hand[h]);
            pc.label_prior = 1.0;
            al_personalize_report pr;
            REQUIRE_OK(al_personalize(w, NULL, dtr, ids, NULL, &pc, NULL, &pr));
            double acc;
            REQUIRE_OK(al_evaluate(w, NULL, dva, 8, NULL, &acc));
            correct += lround(acc * nva);
            macs += pr.macs + al_model_macs(w) * (uint64_t)nva;
            al_model_free(w);
            al_dataset_free(dtr);
            al_dataset_free(dva);
        }
        CHECK(held == d->n);
        CHECK(ra.tries[ti].val_acc == (double)correct / (double)d->n);
        CHECK(ra.tries[ti].macs == macs);
    }
    /* bad K; fewer samples than folds */
    al_model *e = make(PLAIN, 8);
    c.val_folds = 11;
    CHECK_STATUS(al_personalize_auto(e, NULL, d, NULL, NULL, &c, &ra), AL_ERANGE);
    c.val_folds = -1;
    CHECK_STATUS(al_personalize_auto(e, NULL, d, NULL, NULL, &c, &ra), AL_ERANGE);
    /* fewer samples than folds: one sample a fold (leave-one-out); one sample: the cloud model kept */
    al_dataset *tiny = al_test_images(3, 5);
    c.val_folds = 4;
    REQUIRE_OK(al_personalize_auto(e, NULL, tiny, NULL, NULL, &c, &ra));
    CHECK(ra.folds == 3 && ra.n_val == 3 && ra.n_train == 2 && ra.ntries > 0);
    al_dataset *single = al_test_images(1, 5);
    al_model_copy_weights(e, z);
    REQUIRE_OK(al_personalize_auto(e, NULL, single, NULL, NULL, &c, &ra));
    CHECK(ra.kept == 0 && ra.ntries == 0 && strstr(ra.why, "kept the cloud model") != NULL);
    CHECK(memcmp(e->wblock, z->wblock, sizeof(float) * e->nweights) == 0);
    al_dataset_free(single);
    /* a class of one sample and one of two, 3 folds: each sample held out once, no crash */
    int pick[12], np = 0, one = 0, two = 0;
    for (int i = 0; i < d->n && np < 12; i++) {
        if (d->y[i] == 1 && one++ >= 1) continue;
        if (d->y[i] == 2 && two++ >= 2) continue;
        pick[np++] = i;
    }
    al_dataset *few;
    REQUIRE_OK(al_dataset_subset(d, pick, np, &few));
    c.val_folds = 3;
    REQUIRE_OK(al_personalize_auto(e, NULL, few, NULL, NULL, &c, &ra));
    CHECK(ra.n_val == np && ra.folds == 3 && ra.best >= 0);
    /* the budget counts K runs: 10 samples a class, 5 folds of 2 a class,
     * each run the single split's at val_fraction 0.2 */
    al_dataset *big = al_test_images(96, 2), *even;
    int ten[30], cnt[3] = {0, 0, 0}, nt = 0;
    for (int i = 0; i < big->n && nt < 30; i++)
        if (cnt[big->y[i]] < 10) {
            cnt[big->y[i]]++;
            ten[nt++] = i;
        }
    REQUIRE_OK(nt == 30 ? AL_OK : AL_EINVAL);
    REQUIRE_OK(al_dataset_subset(big, ten, nt, &even));
    al_auto_report rs, rk;
    c.val_folds = 0;
    al_model_copy_weights(e, z);
    REQUIRE_OK(al_personalize_auto(e, NULL, even, NULL, NULL, &c, &rs));
    CHECK(rs.n_train == 24 && rs.n_val == 6);
    c.val_folds = 5;
    al_model_copy_weights(e, z);
    REQUIRE_OK(al_personalize_auto(e, NULL, even, NULL, NULL, &c, &rk));
    CHECK(rk.ntries == rs.ntries && rk.n_val == 30 && rk.n_train == 24);
    uint64_t spent = 0;
    for (int i = 0; i < rk.ntries; i++) {
        CHECK(rk.tries[i].recipe == rs.tries[i].recipe && rk.tries[i].est_macs == 5 * rs.tries[i].est_macs);
        if (rk.tries[i].status == AL_TRY_RUN) spent += rk.tries[i].macs;
    }
    CHECK(rk.search_macs == spent + al_model_macs(z) * 30);
    /* a budget for the cloud's pass and the two cheapest candidates' K runs */
    int first[2], nf = 0;
    for (int i = 0; i < rk.ntries && nf < 2; i++)
        if (rk.tries[i].status == AL_TRY_RUN) first[nf++] = i;
    REQUIRE_OK(nf == 2 ? AL_OK : AL_EINVAL);
    c.budget_macs = al_model_macs(z) * 30 + rk.tries[first[0]].est_macs + rk.tries[first[1]].est_macs;
    al_model_copy_weights(e, z);
    REQUIRE_OK(al_personalize_auto(e, NULL, even, NULL, NULL, &c, &rk));
    int over = 0, ran = 0;
    for (int i = 0; i < rk.ntries; i++) {
        over += rk.tries[i].status == AL_TRY_BUDGET;
        ran += rk.tries[i].status == AL_TRY_RUN;
    }
    CHECK(over > 0 && ran == 2 && rk.search_macs <= c.budget_macs);
    CHECK(rk.tries[first[0]].status == AL_TRY_RUN && rk.tries[first[1]].status == AL_TRY_RUN);
    /* the same budget less one run of the second: it no longer fits */
    c.budget_macs -= rk.tries[first[1]].est_macs / 5;
    al_model_copy_weights(e, z);
    REQUIRE_OK(al_personalize_auto(e, NULL, even, NULL, NULL, &c, &rk));
    CHECK(rk.tries[first[0]].status == AL_TRY_RUN && rk.tries[first[1]].status == AL_TRY_BUDGET);
    al_dataset_free(big);
    al_dataset_free(even);
    al_dataset_free(few);
    al_dataset_free(tiny);
    al_cache_free(cache);
    al_model_free(e);
    al_model_free(a);
    al_model_free(b);
    al_model_free(z);
}

int main(void) {
    al_dataset *d = al_test_images(48, 1);
    test_bias_only(d);
    test_bn(d);
    test_prior_and_freeze_points(d);
    test_chooser_helps_and_is_deterministic(d);
    test_gate_keeps_cloud(d);
    test_resume_through_chooser(d);
    test_full(d);
    test_folds(d);
    /* the gradients the recipes train with: unchanged (finite differences) */
    gc_opts o = gc_defaults();
    CHECK(gradcheck_spec("input 1x4x4; conv 2 k=3 p=1; batchnorm; flatten; dense 3", &o) == 0);
    al_dataset_free(d);
    TEST_END("test_recipe");
}
