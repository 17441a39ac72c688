/* Personalization on the device: transfer learning with a frozen prefix,
 * augmentation, and the runtime cache.
 *
 * The trainer runs its usual loop, but a batch source hands it the input of
 * the first trainable node for each sample: from the cache when the
 * (sample, variant) pair was seen before (in an earlier epoch, or by
 * al_model_predict_cached), otherwise by augmenting the sample and running
 * the frozen prefix once for all the batch's misses. Epochs after the first
 * therefore run only the trainable suffix. Without a cache the same code
 * recomputes the prefix every time, which is what the tests compare with. */

#include "train/train.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define AL_PRIOR_MAX_CLASSES 1024

static void apply_label_prior(al_model *m, const al_dataset *d, double alpha);
#include <time.h>

void al_personalize_config_default(al_personalize_config *c) {
    if (!c) return;
    memset(c, 0, sizeof *c);
    al_train_config_default(&c->train);
    c->train.epochs = 10;
    c->train.lr = 0.01;
    c->train.batch = 32;
    c->freeze = -1;
    c->aug_variants = 1;
    al_augment_config_default(&c->aug);
    c->val_fraction = 0.2;
    c->val_folds = AL_AUTO_DEFAULT_FOLDS;
    c->auto_aug_variants = 4;
    c->ngram_mix = 1;
}

typedef struct {
    al_model *m;
    al_pool *pool;
    const al_dataset *d;
    const uint64_t *ids;
    uint64_t *keys; /* without ids: the batch's cache keys (batch entries) */
    al_cache *cache;
    const al_personalize_config *c; /* &cfg */
    al_personalize_config cfg;
    int freeze;
    int C, H, W;
    size_t xn, feat;
    float *stage;  /* batch * xn: augmented inputs of the misses */
    int *miss;     /* batch: positions of the misses in the batch */
    uint64_t prefix_samples, suffix_samples;
    /* epoch timing through the progress callback */
    al_progress_fn user_progress;
    void *user_progress_user;
    double first_epoch, later_sum;
    int epochs_seen;
    al_mem_plan plan; /* the job's memory plan (src/train/membudget.c) */
} psrc;

/* The variant sample `id` uses in `epoch`: a pure function of both. */
static int variant_of(const psrc *s, uint64_t id, long long epoch) {
    int k = s->c->aug_variants;
    if (k <= 1) return 0;
    al_rng r;
    al_rng_seed(&r, s->c->train.seed ^ (id * 0x9E3779B97F4A7C15ULL), 0xe0000 + (uint64_t)epoch);
    return (int)al_rng_below(&r, (uint32_t)k);
}

static al_status make_input(const psrc *s, uint64_t id, int v, const float *x, float *dst) {
    if (v == 0) {
        memcpy(dst, x, sizeof(float) * s->xn);
        return AL_OK;
    }
    return al_augment_image(&s->c->aug, s->c->train.seed, id, v, x, dst, s->C, s->H, s->W);
}

/* Without ids (where a sample's id is its position): the cache key of
 * sample i in variant v is its content hash, with the position too for an
 * augmented variant, whose pixels depend on it. With ids, the id is the key. */
static uint64_t cache_key(const psrc *s, int i, int v) {
    uint64_t h = al_cache_content_key(s->d->x + (size_t)i * s->xn, s->xn);
    return v == 0 ? h : al_hash_bytes(h, &i, sizeof i);
}

static al_status source(void *user, const int *idx, int b, long long epoch, float *xb) {
    psrc *s = user;
    s->suffix_samples += (uint64_t)b;
    if (s->freeze == 0) {
        /* nothing frozen: the source only augments */
        for (int j = 0; j < b; j++) {
            uint64_t id = s->ids ? s->ids[idx[j]] : (uint64_t)idx[j];
            al_status st = make_input(s, id, variant_of(s, id, epoch), s->d->x + (size_t)idx[j] * s->xn,
                                      xb + (size_t)j * s->xn);
            if (st) return st;
        }
        return AL_OK;
    }
    int nm = 0;
    for (int j = 0; j < b; j++) {
        uint64_t id = s->ids ? s->ids[idx[j]] : (uint64_t)idx[j];
        int v = variant_of(s, id, epoch);
        if (s->keys) s->keys[j] = cache_key(s, idx[j], v);
        if (s->cache && al_cache_lookup(s->cache, s->keys ? s->keys[j] : id, v, xb + (size_t)j * s->feat)) continue;
        al_status st = make_input(s, id, v, s->d->x + (size_t)idx[j] * s->xn, s->stage + (size_t)nm * s->xn);
        if (st) return st;
        s->miss[nm++] = j;
    }
    if (nm == 0) return AL_OK;
    /* the frozen prefix runs in inference mode (its nodes are not trainable) */
    al_status st = al_model_forward_range(s->m, s->pool, 0, s->freeze, s->stage, nm, 1);
    if (st) return st;
    for (int i = 0; i < nm; i++) {
        int j = s->miss[i];
        float *row = xb + (size_t)j * s->feat;
        al_model_frontier_row(s->m, s->freeze, i, row); /* the frozen frontier, packed */
        if (s->cache) {
            uint64_t id = s->ids ? s->ids[idx[j]] : (uint64_t)idx[j];
            int v = variant_of(s, id, epoch);
            al_cache_store(s->cache, s->keys ? s->keys[j] : id, v, row);
        }
    }
    s->prefix_samples += (uint64_t)nm;
    return AL_OK;
}

static int progress(void *user, const al_epoch_info *info, int final) {
    psrc *s = user;
    if (final) {
        if (s->epochs_seen == 0)
            s->first_epoch = info->seconds;
        else
            s->later_sum += info->seconds;
        s->epochs_seen++;
    }
    return s->user_progress ? s->user_progress(s->user_progress_user, info, final) : 0;
}

static void psrc_free(void *user) {
    psrc *s = user;
    if (!s) return;
    al_free(s->stage);
    al_free(s->miss);
    al_free(s->keys);
    al_free(s);
}

/* What the source adds to the trainer's state, for checkpoints: a resume
 * with another freeze point, augmentation or id list is refused. */
static uint64_t source_fingerprint(const psrc *s) {
    const al_augment_config *a = &s->c->aug;
    uint64_t v[12];
    float f[5] = {a->rotate_deg, a->brightness, a->contrast, a->noise, 0.0f};
    v[0] = (uint64_t)s->freeze;
    v[1] = (uint64_t)s->c->aug_variants;
    v[2] = s->c->aug_variants > 1 ? (uint64_t)(uint32_t)a->shift : 0;
    v[3] = s->c->aug_variants > 1 ? (uint64_t)(uint32_t)a->hflip : 0;
    v[4] = s->c->aug_variants > 1 ? (uint64_t)(uint32_t)a->cutout : 0;
    v[5] = s->ids != NULL;
    memset(&v[6], 0, sizeof(uint64_t) * 6);
    if (s->c->aug_variants > 1) memcpy(&v[6], f, sizeof f);
    uint64_t h = al_hash_bytes(0x5012cef9ULL, v, sizeof v);
    if (s->ids) h = al_hash_bytes(h, s->ids, sizeof(uint64_t) * (size_t)s->d->n);
    if (s->c->train_rows > 0) { /* (absent otherwise: earlier checkpoints keep their fingerprint) */
        uint64_t tr = (uint64_t)s->c->train_rows;
        h = al_hash_bytes(h, &tr, sizeof tr);
    }
    return h;
}

/* What augmented variants (> 0) are made with: the settings and the seed
 * (al_augment_image's inputs besides the sample); 0 without variants. */
static uint64_t augment_fingerprint(const al_personalize_config *c) {
    if (c->aug_variants <= 1) return 0;
    const al_augment_config *a = &c->aug;
    int32_t iv[3] = {a->shift, a->hflip, a->cutout};
    float fv[4] = {a->rotate_deg, a->brightness, a->contrast, a->noise};
    uint64_t h = al_hash_bytes(0xa06e7ULL, &c->train.seed, sizeof c->train.seed);
    h = al_hash_bytes(h, iv, sizeof iv);
    h = al_hash_bytes(h, fv, sizeof fv);
    return h | 1; /* never 0, the tag of variant 0 */
}

int al_personalize_freeze(const al_model *m, const al_personalize_config *c) {
    if (c->freeze < 0 && c->train_rows > 0) return m->nnodes - 1; /* only output rows train */
    return al_model_resolve_freeze(m, c->freeze);
}

void al_personalize_mem_job(const al_model *m, const al_personalize_config *c, al_mem_job *x) {
    memset(x, 0, sizeof *x);
    x->train = &c->train;
    x->freeze = al_personalize_freeze(m, c);
    x->variants = c->aug_variants;
    x->train_rows = c->train_rows;
    x->resume = c->resume;
    x->budget = c->mem_budget_bytes;
}

/* al_personalize_plan_memory for data already checked (a job's begin_job) */
static al_status plan_job(const al_model *m, const al_pool *pool, const al_dataset *train, const al_cache *cache,
                          const al_personalize_config *c, al_mem_plan *out) {
    /* a recipe plans as its job; the chooser as its final job's cheapest
     * training recipe, the output layer (each candidate is fitted on its own) */
    al_personalize_config rc = *c;
    if (rc.recipe == AL_RECIPE_AUTO || rc.recipe == AL_RECIPE_PRIOR) rc.recipe = AL_RECIPE_HEAD;
    if (rc.recipe == AL_RECIPE_AUTO || rc.recipe != AL_RECIPE_CONFIG) {
        al_status st = al_recipe_resolve(m, &rc, &rc);
        if (st) return st;
    }
    c = &rc;
    al_mem_job x;
    al_personalize_mem_job(m, c, &x);
    return al_mem_plan_fit(m, pool, train, cache, &x, out);
}

al_status al_personalize_plan_memory(const al_model *m, const al_pool *pool, const al_dataset *train,
                                     const al_cache *cache, const al_personalize_config *c, al_mem_plan *out) {
    if (!m || !c || !train || !out) return al_error(AL_EINVAL, "al_personalize_plan_memory: NULL argument");
    al_status st = al_personalize_check_points(c);
    if (!st) st = al_check_data(m, train, "training data", NULL); /* as the job would */
    return st ? st : plan_job(m, pool, train, cache, c, out);
}

al_status al_personalize_check_points(const al_personalize_config *c) {
    if (c->freeze < -1)
        return al_error(AL_ERANGE, "freeze must be a node index or -1 (the model's default), got %d", c->freeze);
    if (c->resume && !c->train.checkpoint_path)
        return al_error(AL_EINVAL, "resume needs train.checkpoint_path (the checkpoint to continue from)");
    return AL_OK;
}

/* Checks c against m (frozen at its freeze point). */
static al_status check_job(const al_model *m, const al_personalize_config *c) {
    int freeze = m->freeze;
    if (freeze >= m->nnodes)
        return al_error(AL_EINVAL, "freeze point %d leaves nothing to train (the model has %d nodes)", freeze,
                        m->nnodes);
    int across = al_model_src_across(m, freeze);
    if (across >= 0)
        return al_error(AL_EINVAL, "node %d %s the model input across the freeze point %d; move the freeze point", across,
                        al_model_src_verb(m, across), freeze);
    if (c->aug_variants > 1 && (m->in.ndim != 3 || m->input_tokens))
        return al_error(AL_EINVAL, "augmentation variants need an image model (input CxHxW)");
    if (!(c->label_prior >= 0.0 && c->label_prior <= 1e6))
        return al_error(AL_ERANGE, "label_prior must be in 0..1e6, got %g", c->label_prior);
    if (c->train_rows < 0) return al_error(AL_ERANGE, "train_rows must be >= 0, got %d", c->train_rows);
    if (c->train_rows > 0 && c->aug_variants > 1)
        return al_error(AL_EINVAL, "training only some output rows needs one variant per sample (no augmentation)");
    return AL_OK;
}

/* Freezes m at the job's freeze point and checks the job. */
static al_status begin_job(al_model *m, const al_dataset *train, const al_personalize_config *c) {
    if (!m || !train || !c) return al_error(AL_EINVAL, "al_personalize: NULL argument");
    if (c->aug_variants < 1 || c->aug_variants > 1024)
        return al_error(AL_ERANGE, "augmentation variants must be 1..1024, got %d", c->aug_variants);
    al_status st = al_personalize_check_points(c);
    if (st) return st;
    /* before anything reads the data or changes the model (the untrained
     * recipes' forwards included) */
    st = al_check_data(m, train, "training data", NULL);
    if (st) return st;
    if (c->aug_variants > 1 && (st = al_augment_check(&c->aug))) return st;
    st = al_model_freeze(m, al_personalize_freeze(m, c));
    return st ? st : check_job(m, c);
}

static al_status start_job(al_model *m, al_pool *pool, const al_dataset *train, const uint64_t *ids, al_cache *cache,
                           const al_personalize_config *c, const al_mem_plan *fitted, al_trainer **out);
static al_status run_job(al_trainer *t, al_model *m, const al_dataset *train, const al_personalize_config *c,
                         const al_dataset *eval, al_personalize_report *r);

al_status al_personalize_new(al_model *m, al_pool *pool, const al_dataset *train, const uint64_t *ids,
                             al_cache *cache, const al_personalize_config *c, al_trainer **out) {
    if (!out) return al_error(AL_EINVAL, "al_personalize_new: out is NULL");
    *out = NULL;
    if (!m || !train || !c) return al_error(AL_EINVAL, "al_personalize: NULL argument");
    al_personalize_config rc;
    al_status st = al_recipe_resolve(m, c, &rc);
    if (st) return st;
    if (!al_recipe_trains(&rc))
        return al_error(AL_EINVAL, "recipe %s trains nothing: run it with al_personalize", al_recipe_name(rc.recipe));
    c = &rc;
    if ((st = begin_job(m, train, c)) != AL_OK) return st;
    if (c->recipe == AL_RECIPE_BN && (st = al_bn_reestimate(m, pool, train, c->train.batch, NULL)) != AL_OK)
        return st;
    /* the memory budget: fitted before anything is allocated */
    al_mem_plan plan;
    if ((st = plan_job(m, pool, train, cache, c, &plan))) return st; /* begin_job checked the data */
    al_mem_plan_apply(m, m->freeze > 0 ? cache : NULL, &plan);
    return start_job(m, pool, train, ids, cache, c, &plan, out);
}

al_status al_personalize_new_planned(al_model *m, al_pool *pool, const al_dataset *train, const uint64_t *ids,
                                     al_cache *cache, const al_personalize_config *c, const al_mem_plan *plan,
                                     al_trainer **out) {
    if (!out || !plan) return al_error(AL_EINVAL, "al_personalize_new_planned: NULL argument");
    *out = NULL;
    al_status st = begin_job(m, train, c);
    return st ? st : start_job(m, pool, train, ids, cache, c, plan, out);
}

/* The job on m frozen and checked, its memory plan fitted and applied:
 * builds the trainer with its batch source, at the plan's batch. */
static al_status start_job(al_model *m, al_pool *pool, const al_dataset *train, const uint64_t *ids, al_cache *cache,
                           const al_personalize_config *c, const al_mem_plan *fitted, al_trainer **out) {
    int freeze = m->freeze;
    al_mem_plan plan = *fitted;
    psrc *s = al_calloc(1, sizeof *s);
    if (!s) return AL_ENOMEM;
    /* before the trainer exists, so L2-SP's starting point includes the shift */
    apply_label_prior(m, train, c->label_prior);
    s->plan = plan;
    s->cfg = *c;
    s->c = &s->cfg;
    s->m = m;
    s->pool = pool;
    s->d = train;
    s->ids = ids;
    s->cache = freeze > 0 ? cache : NULL;
    s->freeze = freeze;
    s->xn = al_shape_numel(&m->in);
    s->feat = freeze > 0 ? al_model_frontier_numel(m, freeze) : s->xn;
    if (c->aug_variants > 1) {
        s->C = m->in.d[0];
        s->H = m->in.d[1];
        s->W = m->in.d[2];
    }
    al_train_config tc = c->train;
    if (plan.budget > 0) tc.batch = s->cfg.train.batch = plan.batch_used;
    s->user_progress = tc.progress;
    s->user_progress_user = tc.progress_user;
    tc.progress = progress;
    tc.progress_user = s;
    al_trainer *t = NULL;
    al_status st = al_trainer_new(m, pool, &tc, &t);
    if (st) {
        psrc_free(s);
        return st;
    }
    t->source_user = s; /* owned from here on: al_trainer_free frees it */
    t->source_free = psrc_free;
    s->stage = al_malloc(sizeof(float) * s->xn * (size_t)tc.batch);
    s->miss = al_malloc(sizeof(int) * (size_t)tc.batch);
    if (!s->stage || !s->miss) {
        st = AL_ENOMEM;
        goto fail;
    }
    if (s->cache && !ids && !(s->keys = al_malloc(sizeof(uint64_t) * (size_t)tc.batch))) {
        st = AL_ENOMEM;
        goto fail;
    }
    if ((st = al_trainer_set_source(t, freeze, s->feat, source, s)) != AL_OK) goto fail;
    if (c->train_rows > 0 && (st = al_trainer_set_head(t, train, c->train_rows)) != AL_OK) goto fail;
    t->source_fp = source_fingerprint(s);
    if (s->cache) {
        al_cache_bind(s->cache, s->feat, al_model_prefix_fingerprint(m));
        al_cache_bind_augment(s->cache, augment_fingerprint(c));
    }
    *out = t;
    return AL_OK;
fail:
    al_trainer_free(t);
    return st;
}

/* The cloud's training prior q (K entries) from the model's metadata
 * "autlearn.class_prior" (comma-separated, written by pre-training); uniform
 * when absent or malformed. */
static void cloud_prior(const al_model *m, int K, double *q) {
    for (int k = 0; k < K; k++) q[k] = 1.0 / K;
    const char *s = al_model_meta(m, "autlearn.class_prior");
    if (!s) return;
    double v[AL_PRIOR_MAX_CLASSES], sum = 0.0;
    for (int k = 0; k < K; k++) {
        char *end;
        v[k] = strtod(s, &end);
        if (end == s || !(v[k] > 0.0 && v[k] <= 1.0) || (k < K - 1 ? *end != ',' : *end != '\0')) return;
        sum += v[k];
        s = end + 1;
    }
    for (int k = 0; k < K; k++) q[k] = v[k] / sum;
}

/* The output layer's bias when it is a dense layer with a bias and one
 * output per class of K (2..AL_PRIOR_MAX_CLASSES), where a class prior
 * shifts the logits; else NULL. */
static float *class_bias(al_model *m, int K) {
    al_node *out = &m->nodes[m->nnodes - 1];
    if (K < 2 || K > AL_PRIOR_MAX_CLASSES || out->cfg.type != AL_L_DENSE || !out->cfg.bias || out->cfg.units != K ||
        out->nparams < 2 || out->params[1].n != (size_t)K)
        return NULL;
    return out->params[1].w;
}

/* p[k] = (n_k + alpha) / (n + K * alpha): d's class frequencies over its
 * samples with a label in 0..K-1, smoothed by the pseudo-count alpha. */
static void class_freq(const al_dataset *d, int K, double alpha, double *p) {
    double n[AL_PRIOR_MAX_CLASSES] = {0};
    int total = 0;
    for (int i = 0; i < d->n; i++)
        if (d->y[i] >= 0 && d->y[i] < K) {
            n[d->y[i]] += 1.0;
            total++;
        }
    for (int k = 0; k < K; k++) p[k] = (n[k] + alpha) / (total + K * alpha);
}

/* The label-prior correction of al_personalize_config.label_prior: shifts
 * the output bias (K floats) by log(p_k / q_k). With a shifted prior and an
 * unchanged p(x | y), Bayes' rule turns the cloud's posterior into the
 * user's by exactly this shift of the logits. */
static void apply_label_prior(al_model *m, const al_dataset *d, double alpha) {
    int K = d->num_classes;
    float *b = alpha > 0.0 && d->y_len == 1 && m->nodes[m->nnodes - 1].trainable ? class_bias(m, K) : NULL;
    if (!b) return;
    double p[AL_PRIOR_MAX_CLASSES], q[AL_PRIOR_MAX_CLASSES];
    class_freq(d, K, alpha, p);
    cloud_prior(m, K, q);
    for (int k = 0; k < K; k++) b[k] += (float)log(p[k] / q[k]);
}

static int file_exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* A recipe that trains nothing: the label-prior shift (and for bn the
 * re-estimated statistics). */
static al_status untrained_job(al_model *m, al_pool *pool, const al_dataset *train, const al_personalize_config *c,
                               al_personalize_report *r) {
    al_status st = begin_job(m, train, c);
    if (st) return st;
    apply_label_prior(m, train, c->label_prior);
    uint64_t macs = 0;
    if (c->recipe == AL_RECIPE_BN && (st = al_bn_reestimate(m, pool, train, c->train.batch, &macs)) != AL_OK)
        return st;
    if (r) {
        r->macs = macs;
        r->prefix_samples = c->recipe == AL_RECIPE_BN ? (uint64_t)train->n : 0;
    }
    return AL_OK;
}

/* Rehearsal (al_personalize_config.rehearsal; train.h). */
al_status al_rehearsal_mix(const al_dataset *train, const uint64_t *ids, const al_dataset *e, al_dataset **mix,
                           uint64_t **mix_ids) {
    *mix = NULL;
    if (mix_ids) *mix_ids = NULL;
    if (!e || e->n == 0 || train->y_len != 1) return AL_OK;
    int S = e->num_classes, K = train->num_classes, beyond = 0;
    if (S < 1 || S >= K) return AL_OK;
    for (int i = 0; i < train->n && !beyond; i++) beyond = train->y[i] >= S;
    if (!beyond) return AL_OK;
    int same = e->xs.ndim == train->xs.ndim && e->y_len == 1;
    for (int d = 0; same && d < e->xs.ndim; d++) same = e->xs.d[d] == train->xs.d[d];
    if (!same)
        return al_error(AL_EINVAL, "rehearsal: the exemplars' samples (%d dims, %d labels each) differ in shape from the "
                        "training data's (%d dims)", e->xs.ndim, e->y_len, train->xs.ndim);
    for (int i = 0; i < e->n; i++)
        if (e->y[i] < 0 || e->y[i] >= S)
            return al_error(AL_EINVAL, "rehearsal: exemplar %d has label %d, outside its %d classes", i, (int)e->y[i], S);
    if (e->n > INT_MAX - train->n) return al_error(AL_ERANGE, "rehearsal: too many samples with the exemplars");
    int n = train->n + e->n;
    al_status st = al_dataset_alloc(n, &train->xs, 1, K, mix);
    if (st) return st;
    size_t xn = al_shape_numel(&train->xs);
    memcpy((*mix)->x, train->x, sizeof(float) * xn * (size_t)train->n);
    memcpy((*mix)->x + xn * (size_t)train->n, e->x, sizeof(float) * xn * (size_t)e->n);
    memcpy((*mix)->y, train->y, sizeof(int32_t) * (size_t)train->n);
    memcpy((*mix)->y + train->n, e->y, sizeof(int32_t) * (size_t)e->n);
    if (ids && mix_ids) {
        if (!(*mix_ids = al_malloc(sizeof(uint64_t) * (size_t)n))) {
            al_dataset_free(*mix);
            *mix = NULL;
            return al_error(AL_ENOMEM, "out of memory");
        }
        memcpy(*mix_ids, ids, sizeof(uint64_t) * (size_t)train->n);
        for (int i = 0; i < e->n; i++)
            (*mix_ids)[train->n + i] = al_cache_content_key(e->x + xn * (size_t)i, xn) ^ 0x7265686561727365ULL;
    }
    return AL_OK;
}

/* After training on the mix (train.h): Bayes' rule, as for label_prior. */
void al_rehearsal_unmix(al_model *m, const al_dataset *user, const al_dataset *mix, double alpha) {
    int K = user->num_classes;
    float *b = class_bias(m, K);
    if (!b) return;
    double p[AL_PRIOR_MAX_CLASSES], q[AL_PRIOR_MAX_CLASSES];
    class_freq(user, K, alpha, p);
    class_freq(mix, K, alpha, q);
    for (int k = 0; k < K; k++) b[k] += (float)(log(p[k]) - log(q[k]));
}

al_status al_personalize(al_model *m, al_pool *pool, const al_dataset *train, const uint64_t *ids,
                         al_cache *cache, const al_personalize_config *c, const al_dataset *eval,
                         al_personalize_report *r) {
    if (r) memset(r, 0, sizeof *r);
    if (!m || !train || !c) return al_error(AL_EINVAL, "al_personalize: NULL argument");
    al_personalize_config rc;
    al_status rs = al_recipe_resolve(m, c, &rc);
    if (rs) return rs;
    if (!al_recipe_trains(&rc)) return untrained_job(m, pool, train, &rc, r);
    c = &rc;
    double alpha = rc.label_prior > 0.0 ? rc.label_prior : 1.0;
    al_dataset *mix = NULL;
    uint64_t *mix_ids = NULL;
    al_status st = al_rehearsal_mix(train, ids, c->rehearsal, &mix, &mix_ids);
    if (st) return st;
    if (mix) {
        /* the exemplars keep the cloud's classes in place of L2-SP; the
         * prior is the user's, set after training (al_rehearsal_unmix) */
        rc.label_prior = 0.0;
        rc.train.l2sp = 0.0;
        rc.rehearsal = NULL;
    }
    al_trainer *t;
    const al_dataset *tr = mix ? mix : train;
    st = al_personalize_new(m, pool, tr, mix ? mix_ids : ids, cache, c, &t);
    st = st ? st : run_job(t, m, tr, c, eval, r);
    if (mix && st == AL_OK) al_rehearsal_unmix(m, train, mix, alpha);
    al_dataset_free(mix);
    al_free(mix_ids);
    return st;
}

al_status al_personalize_planned(al_model *m, al_pool *pool, const al_dataset *train, const uint64_t *ids,
                                 al_cache *cache, const al_personalize_config *c, const al_mem_plan *plan,
                                 al_personalize_report *r) {
    if (r) memset(r, 0, sizeof *r);
    al_trainer *t;
    al_status st = al_personalize_new_planned(m, pool, train, ids, cache, c, plan, &t);
    return st ? st : run_job(t, m, train, c, NULL, r);
}

/* Runs (or resumes) the job to its end and fills the report; frees t and
 * the model's training plan (a prediction after the job plans inference
 * alone: MobileNetV2-0.5 trained from features[15] at batch 32 held 13.5
 * MB of training buffers, an inference plan 2.1). */
static al_status run_job(al_trainer *t, al_model *m, const al_dataset *train, const al_personalize_config *c,
                         const al_dataset *eval, al_personalize_report *r) {
    al_personalize_report local;
    if (!r) r = &local;
    memset(r, 0, sizeof *r);
    al_status st = AL_OK;
    psrc *s = t->source_user;
    const char *ck = c->train.checkpoint_path;
    if (c->resume && ck && file_exists(ck) && (st = al_trainer_resume(t, ck)) != AL_OK) goto done;
    if (t->pos.active || t->runs_done == 0) {
        st = al_trainer_run(t, train, eval, &r->train);
    } else if ((st = al_trainer_check_finished(t, train)) != AL_OK) {
        goto done;
    } else {
        /* a finished checkpoint: its weights are the result */
        r->train = t->pos.rep;
    }
    r->first_epoch_seconds = s->first_epoch;
    r->later_epoch_seconds = s->epochs_seen > 1 ? s->later_sum / (s->epochs_seen - 1) : 0.0;
    r->prefix_samples = s->prefix_samples;
    r->mem = s->plan;
    r->suffix_samples = s->suffix_samples;
    uint64_t pre = 0, suf = 0;
    int freeze = s->freeze;
    for (int i = 0; i < m->nnodes; i++) {
        uint64_t k = m->nodes[i].vt->macs ? m->nodes[i].vt->macs(&m->nodes[i]) : 0;
        if (i < freeze)
            pre += k;
        else
            suf += k;
    }
    /* only some output rows trained: what those steps ran, counted as they ran */
    r->macs = pre * s->prefix_samples + (t->head ? al_head_macs(t->head) : 3 * suf * s->suffix_samples);
    if (s->cache) al_cache_get_stats(s->cache, &r->cache);
done:
    al_trainer_free(t);
    al_model_release_plan(m);
    return st;
}
