/* The device's recipe chooser (docs/RECIPES.md): al_personalize_auto
 * picks a recipe (recipe.c) per user on a validation split carved from the
 * user's own training data, runs the candidates through al_personalize
 * (personalize.c), and keeps the personal model only when it beats the
 * cloud model there. */
#include "train/train.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Class k's samples (positions in d) in a seeded shuffle into cls; their count. */
static int class_shuffle(const al_dataset *d, int k, uint64_t seed, int *cls) {
    int nk = 0;
    for (int i = 0; i < d->n; i++)
        if (d->y[i] == k) cls[nk++] = i;
    al_rng r;
    al_rng_seed(&r, seed, 0x7a11d000ULL + (uint64_t)k);
    for (int i = nk - 1; i > 0; i--) { /* Fisher-Yates */
        int j = (int)al_rng_below(&r, (uint32_t)(i + 1));
        int t = cls[i];
        cls[i] = cls[j];
        cls[j] = t;
    }
    return nk;
}

/* The stratified validation split: per class, a seeded shuffle of its
 * samples, the first round(frac * n_k) held out (at least one when n_k >= 2,
 * never all). va[] and tr[] list positions in ascending order. */
static al_status split(const al_dataset *d, double frac, uint64_t seed, int *tr, int *ntr, int *va, int *nva) {
    int K = d->num_classes, n = d->n;
    int *cls = al_malloc(sizeof(int) * (size_t)(n ? n : 1));
    char *held = al_calloc((size_t)(n ? n : 1), 1);
    if (!cls || !held) {
        al_free(cls);
        al_free(held);
        return AL_ENOMEM;
    }
    for (int k = 0; k < K; k++) {
        int nk = class_shuffle(d, k, seed, cls);
        int nv = (int)floor(frac * nk + 0.5);
        if (nv == 0 && nk >= 2) nv = 1;
        if (nv >= nk) nv = nk - 1;
        for (int i = 0; i < nv; i++) held[cls[i]] = 1;
    }
    *ntr = *nva = 0;
    for (int i = 0; i < n; i++) {
        if (held[i])
            va[(*nva)++] = i;
        else
            tr[(*ntr)++] = i;
    }
    al_free(cls);
    al_free(held);
    return AL_OK;
}

/* K-fold cross-validation's folds: each class's shuffle (as split's) dealt
 * in turn into folds 0..K-1, the deal going on from one class to the next
 * (then samples without a class, in order), so that every class's count in
 * a fold and the folds' sizes differ by one at most; fold[i] is sample i's
 * fold, size[f] fold f's sample count. */
static al_status deal_folds(const al_dataset *d, int K, uint64_t seed, int *fold, int *size) {
    int n = d->n, next = 0;
    int *cls = al_malloc(sizeof(int) * (size_t)(n ? n : 1));
    if (!cls) return AL_ENOMEM;
    for (int i = 0; i < n; i++) fold[i] = -1;
    for (int f = 0; f < K; f++) size[f] = 0;
    for (int k = 0; k < d->num_classes; k++) {
        int nk = class_shuffle(d, k, seed, cls);
        for (int i = 0; i < nk; i++) {
            fold[cls[i]] = next;
            size[next]++;
            next = (next + 1) % K;
        }
    }
    for (int i = 0; i < n; i++)
        if (fold[i] < 0) {
            fold[i] = next;
            size[next]++;
            next = (next + 1) % K;
        }
    al_free(cls);
    return AL_OK;
}

/* The estimated multiply-adds of a candidate: frozen prefix once per
 * sample and variant it meets (every epoch without a cache), the suffix's
 * forward and backward (3x forward) every epoch, and the validation pass. */
static uint64_t estimate(const al_model *m, const al_personalize_config *c, al_recipe r, int freeze, int variants,
                         int ntr, int nva, int cached) {
    uint64_t fwd = al_macs_range(m, 0, m->nnodes), val = fwd * (uint64_t)nva;
    if (r == AL_RECIPE_PRIOR) return val;
    if (r == AL_RECIPE_BN) {
        int last = -1;
        for (int i = 0; i < m->nnodes; i++)
            if (m->nodes[i].cfg.type == AL_L_BATCHNORM) last = i;
        return al_macs_range(m, 0, last + 1) * (uint64_t)ntr + val;
    }
    uint64_t E = (uint64_t)(c->train.epochs > 0 ? c->train.epochs : 1);
    uint64_t seen = cached ? (variants > 1 ? ((uint64_t)variants < E ? (uint64_t)variants : E) : 1) : E;
    return al_macs_range(m, 0, freeze) * (uint64_t)ntr * seen + 3 * al_macs_range(m, freeze, m->nnodes) * (uint64_t)ntr * E +
           val;
}

static al_status run_candidate(al_model *cloud, al_pool *pool, const al_dataset *dtr, const uint64_t *ids_tr,
                               const al_dataset *dva, al_cache *cache, const al_personalize_config *c,
                               al_recipe_try *t) {
    al_model *w = NULL;
    al_status st = al_model_clone(cloud, &w);
    if (st) return st;
    al_personalize_config cc = *c;
    cc.recipe = t->recipe;
    cc.freeze = -1;
    cc.train_rows = 0;
    cc.bn_affine = 0;
    cc.aug_variants = t->aug_variants;
    cc.train.checkpoint_path = NULL;
    cc.train.checkpoint_every = 0;
    cc.train.progress = NULL;
    cc.train.progress_user = NULL;
    cc.resume = 0;
    al_personalize_report pr;
    st = al_personalize(w, pool, dtr, ids_tr, cache, &cc, NULL, &pr);
    if (st == AL_EBUDGET) {
        t->status = AL_TRY_MEMORY;
        al_model_free(w);
        return AL_OK;
    }
    if (st == AL_OK) st = al_evaluate(w, pool, dva, c->train.batch > 0 ? c->train.batch : 32, NULL, &t->val_acc);
    t->macs = pr.macs + al_macs_range(w, 0, w->nnodes) * (uint64_t)dva->n;
    al_model_free(w);
    return st;
}

/* The samples of d at positions idx[0..k) with a label (>= 0): what an
 * accuracy counts. */
static long labelled(const al_dataset *d, const int *idx, int k) {
    long c = 0;
    for (int i = 0; i < k; i++) c += d->y[idx[i]] >= 0;
    return c;
}

/* A candidate by K-fold cross-validation: K runs of run_candidate, run f
 * trained on every fold but f (ids: the user's, so the cache's frozen
 * features serve every fold) and scored on fold f; t->val_acc the
 * accuracy pooled over the K held-out folds (all samples), t->macs the
 * runs' sum. tr, va, ids_tr: scratch of train->n entries. */
static al_status run_folds(al_model *cloud, al_pool *pool, const al_dataset *train, const uint64_t *ids,
                           const int *fold, int K, al_cache *cache, const al_personalize_config *c, int *tr, int *va,
                           uint64_t *ids_tr, al_recipe_try *t) {
    const int n = train->n;
    double correct = 0.0;
    long counted = 0;
    uint64_t macs = 0;
    al_status st = AL_OK;
    for (int f = 0; f < K && !st; f++) {
        int ntr = 0, nva = 0;
        for (int i = 0; i < n; i++) {
            if (fold[i] == f) {
                va[nva++] = i;
            } else {
                ids_tr[ntr] = ids[i];
                tr[ntr++] = i;
            }
        }
        al_dataset *dtr = NULL, *dva = NULL;
        if ((st = al_dataset_subset(train, tr, ntr, &dtr)) == AL_OK &&
            (st = al_dataset_subset(train, va, nva, &dva)) == AL_OK) {
            t->macs = 0;
            st = run_candidate(cloud, pool, dtr, ids_tr, dva, cache, c, t);
            macs += t->macs;
            if (st == AL_OK && t->status == AL_TRY_RUN) {
                long cf = labelled(train, va, nva);
                correct += (double)llround(t->val_acc * (double)cf);
                counted += cf;
            }
        }
        al_dataset_free(dtr);
        al_dataset_free(dva);
        if (t->status != AL_TRY_RUN) break; /* over the memory budget: skipped */
    }
    t->macs = macs; /* what ran, also when a later fold did not fit */
    t->val_acc = counted ? correct / (double)counted : 0.0;
    return st;
}

al_status al_personalize_auto(al_model *m, al_pool *pool, const al_dataset *train, const uint64_t *ids,
                              al_cache *cache, const al_personalize_config *c, al_auto_report *r) {
    al_auto_report local;
    if (!r) r = &local;
    memset(r, 0, sizeof *r);
    r->best = -1;
    if (!m || !train || !c) return al_error(AL_EINVAL, "al_personalize_auto: NULL argument");
    al_status cs = al_personalize_check_points(c);
    if (cs) return cs;
    cs = al_check_data(m, train, "training data", NULL); /* before it is split */
    if (cs) return cs;
    if (train->y_len != 1 || train->num_classes < 2)
        return al_error(AL_EUNSUPPORTED, "the recipe chooser needs single-label data of 2 classes or more");
    /* K-fold cross-validation (0 or 1: the single split) */
    if (c->val_folds < 0 || c->val_folds > AL_AUTO_MAX_FOLDS)
        return al_error(AL_ERANGE, "val_folds must be 0 or 1 (one validation split) or 2..%d (K-fold), got %d",
                        AL_AUTO_MAX_FOLDS, c->val_folds);
    int n = train->n;
    /* fewer samples than folds: one sample a fold (leave-one-out); one sample: no fold to train on (below) */
    const int K = c->val_folds >= 2 ? AL_MIN(c->val_folds, AL_MAX(n, 1)) : 0;
    if (!K && !(c->val_fraction > 0.0 && c->val_fraction <= 0.9))
        return al_error(AL_ERANGE, "val_fraction must be in (0, 0.9], got %g", c->val_fraction);
    if (c->auto_aug_variants < 1 || c->auto_aug_variants > 1024)
        return al_error(AL_ERANGE, "auto_aug_variants must be 1..1024, got %d", c->auto_aug_variants);
    r->val_fraction = K ? 0.0 : c->val_fraction;
    r->folds = K;
    r->budget_macs = c->budget_macs;
    r->recipe = AL_RECIPE_CONFIG;
    r->aug_variants = 1;
    int *tr = al_malloc(sizeof(int) * (size_t)(n ? n : 1)), *va = al_malloc(sizeof(int) * (size_t)(n ? n : 1));
    uint64_t *ids_tr = al_malloc(sizeof(uint64_t) * (size_t)(n ? n : 1)), *ids_all = NULL;
    int *fold = NULL, fsize[AL_AUTO_MAX_FOLDS];
    al_dataset *dtr = NULL, *dva = NULL;
    al_status st = AL_OK;
    if (!tr || !va || !ids_tr || (K && !(fold = al_malloc(sizeof(int) * (size_t)n)))) {
        st = AL_ENOMEM;
        goto done;
    }
    if (K) {
        /* every sample held out once: n_val all of them, n_train the largest training part */
        if ((st = deal_folds(train, K, c->train.seed, fold, fsize)) != AL_OK) goto done;
        int smallest = n;
        for (int f = 0; f < K; f++) smallest = AL_MIN(smallest, fsize[f]);
        r->n_val = n;
        r->n_train = n - smallest;
    } else if ((st = split(train, c->val_fraction, c->train.seed, tr, &r->n_train, va, &r->n_val)) != AL_OK) {
        goto done;
    }
    if (r->n_val == 0 || r->n_train == 0) {
        snprintf(r->why, sizeof r->why, "kept the cloud model: %d samples leave no validation split to check a "
                 "personal model on", n);
        goto done;
    }
    if (!K && ((st = al_dataset_subset(train, tr, r->n_train, &dtr)) != AL_OK ||
               (st = al_dataset_subset(train, va, r->n_val, &dva)) != AL_OK))
        goto done;
    /* the cache keys of the candidates' samples: the caller's ids, else
     * positions in `train` (the final job then uses positions too) */
    if (!ids) {
        if (!(ids_all = al_malloc(sizeof(uint64_t) * (size_t)n))) {
            st = AL_ENOMEM;
            goto done;
        }
        for (int i = 0; i < n; i++) ids_all[i] = (uint64_t)i;
        ids = ids_all;
    }
    if (!K)
        for (int i = 0; i < r->n_train; i++) ids_tr[i] = ids[tr[i]];
    int batch = c->train.batch > 0 ? c->train.batch : 32;
    /* the cloud model on the validation split; with folds on every sample (its K folds pooled) */
    if ((st = al_evaluate(m, pool, K ? train : dva, batch, NULL, &r->cloud_val_acc)) != AL_OK) goto done;
    r->search_macs = al_macs_range(m, 0, m->nnodes) * (uint64_t)r->n_val;

    /* the candidates, cheapest first; an augmented one right after its plain
     * sibling (the same freeze point: the cache's plain entries serve both) */
    static const al_recipe order[] = {AL_RECIPE_PRIOR, AL_RECIPE_HEAD, AL_RECIPE_LAST_BLOCK, AL_RECIPE_BN,
                                      AL_RECIPE_BIAS,  AL_RECIPE_DEEP, AL_RECIPE_FULL};
    int image = m->in.ndim == 3 && !m->input_tokens;
    int A = c->auto_aug_variants;
    uint64_t key[AL_AUTO_MAX_TRIES];
    for (size_t q = 0; q < sizeof order / sizeof order[0]; q++) {
        al_recipe rc = order[q];
        int trains = rc != AL_RECIPE_PRIOR && rc != AL_RECIPE_BN;
        for (int a = 0; a < (trains && image && A > 1 ? 2 : 1); a++) {
            al_recipe_try *t = &r->tries[r->ntries];
            t->recipe = rc;
            t->aug_variants = a ? A : 1;
            t->freeze = al_recipe_freeze(m, rc);
            /* two recipes at one freeze point that train the same tensors are one candidate */
            int dup = 0;
            for (int j = 0; j < r->ntries; j++)
                if (r->tries[j].freeze == t->freeze && r->tries[j].aug_variants == t->aug_variants &&
                    r->tries[j].recipe != AL_RECIPE_PRIOR && r->tries[j].recipe != AL_RECIPE_BN &&
                    rc != AL_RECIPE_BIAS && r->tries[j].recipe != AL_RECIPE_BIAS)
                    dup = 1;
            t->status = t->freeze < 0 || dup ? AL_TRY_NA : AL_TRY_RUN;
            if (t->freeze < 0)
                t->est_macs = 0;
            else if (!K)
                t->est_macs = estimate(m, c, rc, t->freeze, t->aug_variants, r->n_train, r->n_val, cache != NULL);
            else /* K runs: each fold's (the cache may serve later folds: an upper bound then) */
                for (int f = 0; f < K; f++)
                    t->est_macs += estimate(m, c, rc, t->freeze, t->aug_variants, n - fsize[f], fsize[f],
                                            cache != NULL);
            key[r->ntries] = a ? key[r->ntries - 1] : t->est_macs;
            r->ntries++;
        }
    }
    for (int i = 1; i < r->ntries; i++) /* insertion sort by key: stable */
        for (int j = i; j > 0 && key[j] < key[j - 1]; j--) {
            uint64_t k = key[j];
            key[j] = key[j - 1];
            key[j - 1] = k;
            al_recipe_try t = r->tries[j];
            r->tries[j] = r->tries[j - 1];
            r->tries[j - 1] = t;
        }
    for (int i = 0; i < r->ntries; i++) {
        al_recipe_try *t = &r->tries[i];
        if (t->status != AL_TRY_RUN) continue;
        if (c->budget_macs && r->search_macs + t->est_macs > c->budget_macs) {
            t->status = AL_TRY_BUDGET;
            continue;
        }
        st = K ? run_folds(m, pool, train, ids, fold, K, cache, c, tr, va, ids_tr, t)
               : run_candidate(m, pool, dtr, ids_tr, dva, cache, c, t);
        if (st != AL_OK) goto done;
        r->search_macs += t->macs; /* 0 for a single split's candidate over the memory budget */
        if (t->status != AL_TRY_RUN) continue;
        if (r->best < 0 || t->val_acc > r->tries[r->best].val_acc) r->best = i;
    }
    if (r->best < 0) {
        snprintf(r->why, sizeof r->why, "kept the cloud model: no candidate ran within the budget");
        goto done;
    }
    const al_recipe_try *b = &r->tries[r->best];
    /* the gate: a trained pick must beat the cloud model; the prior shift
     * (no training, Bayes' rule for the user's counted class mix) must do
     * at least as well */
    int prior_ok = b->recipe == AL_RECIPE_PRIOR && c->label_prior > 0.0 && b->val_acc >= r->cloud_val_acc;
    /* how the pick was scored, for the report: the single split or K folds */
    char kind[48] = "validation accuracy", held[48] = "validation samples";
    if (K) {
        snprintf(kind, sizeof kind, "%d-fold cross-validation accuracy", K);
        snprintf(held, sizeof held, "samples (%d-fold cross-validation)", K);
    }
    const char *over = K ? "over all" : "on";
    if (!(b->val_acc > r->cloud_val_acc) && !prior_ok) {
        snprintf(r->why, sizeof r->why,
                 "kept the cloud model: the best candidate, %s%s, scored %.4f %s%s %d %s, not above the cloud "
                 "model's %.4f",
                 al_recipe_name(b->recipe), b->aug_variants > 1 ? "+aug" : "", b->val_acc, over, K ? "" : " the",
                 r->n_val, held, r->cloud_val_acc);
        goto done;
    }
    /* the final job: the pick's recipe on all the training data */
    al_personalize_config fc = *c;
    fc.recipe = b->recipe;
    fc.freeze = -1;
    fc.train_rows = 0;
    fc.bn_affine = 0;
    fc.aug_variants = b->aug_variants;
    if ((st = al_personalize(m, pool, train, ids, cache, &fc, NULL, &r->final)) != AL_OK) goto done;
    r->kept = 1;
    r->recipe = b->recipe;
    r->aug_variants = b->aug_variants;
    snprintf(r->why, sizeof r->why, "%s%s: the best %s, %.4f %s %d samples, %s the cloud model's %.4f; %s all %d samples",
             al_recipe_name(b->recipe), b->aug_variants > 1 ? "+aug" : "", kind, b->val_acc, over, r->n_val,
             b->val_acc > r->cloud_val_acc ? "above" : "no training and as high as", r->cloud_val_acc,
             b->recipe == AL_RECIPE_PRIOR ? "the class mix counted on" : "trained again on", n);
done:
    al_free(tr);
    al_free(va);
    al_free(fold);
    al_free(ids_tr);
    al_free(ids_all);
    al_dataset_free(dtr);
    al_dataset_free(dva);
    return st;
}

/* ---- the text side: a language model on the user's stream ---------------------------- */

const double al_lm_prior_strengths[AL_LM_PRIOR_NSTRENGTHS] = {0.25, 0.5, 1.0};
const double al_lm_mix_weights[AL_LM_MIX_NWEIGHTS] = {0.0, 0.1, 0.2, 0.3, 0.4};

/* m scored on a stream: *e0 alone; with the bigram model g (may be NULL:
 * m alone), *eb at the mixture weight of al_lm_mix_weights with the lowest
 * log-loss (ties: the smaller weight), *weight that weight. */
static al_status lm_score(al_model *m, al_pool *pool, const al_lm_ngram *g, const int32_t *ids, long n, al_lm_eval *e0,
                          al_lm_eval *eb, double *weight, uint64_t *macs) {
    al_lm_eval e[AL_LM_MIX_NWEIGHTS];
    int nw = g ? AL_LM_MIX_NWEIGHTS : 1;
    al_status st = al_lm_mix_eval(m, pool, g, al_lm_mix_weights, nw, ids, n, e, macs);
    if (st) return st;
    int k = 0;
    for (int i = 1; i < nw; i++)
        if (e[i].loss < e[k].loss) k = i;
    *e0 = e[0];
    if (eb) *eb = e[k];
    if (weight) *weight = al_lm_mix_weights[k];
    return AL_OK;
}

/* A copy of m shifted by the unigram prior (q counted on ids[0..n)). */
static al_status lm_shifted(const al_model *m, const double *q, const int32_t *ids, long n, double strength,
                            al_model **out) {
    al_status st = al_model_clone(m, out);
    if (!st) st = al_lm_prior_shift(*out, q, ids, n, strength);
    if (st) {
        al_model_free(*out);
        *out = NULL;
    }
    return st;
}

static void lm_train_config(const al_personalize_config *c, int freeze, al_personalize_config *cc) {
    *cc = *c;
    cc->recipe = AL_RECIPE_CONFIG;
    cc->freeze = freeze;
    cc->train_rows = 0;
    cc->aug_variants = 1;
    cc->label_prior = 0.0;
    cc->train.checkpoint_path = NULL;
    cc->train.checkpoint_every = 0;
    cc->train.progress = NULL;
    cc->train.progress_user = NULL;
    cc->resume = 0;
}

/* The stream's split for validation: the last val_fraction (rounded) is held out. */
static long lm_val_tokens(double val_fraction, long n) { return (long)floor(val_fraction * (double)n + 0.5); }

/* The bigram model of ids[0..n) over V words into *g. */
static al_status lm_ngram(int V, const int32_t *ids, long n, al_lm_ngram **g) {
    al_status st = al_lm_ngram_new(V, g);
    if (!st && (st = al_lm_ngram_count(*g, ids, n))) {
        al_lm_ngram_free(*g);
        *g = NULL;
    }
    return st;
}

/* What a try or pick is, as the sentences say it: "head+prior 0.5+bigram 0.3". */
static void lm_pick_name(const al_recipe_try *t, double strength, double mix, char *out, size_t cap) {
    int n = 0;
    if (t->recipe != AL_RECIPE_PRIOR) n = snprintf(out, cap, "%s", al_recipe_name(t->recipe));
    if (strength > 0 && n >= 0 && (size_t)n < cap) n += snprintf(out + n, cap - (size_t)n, "%sprior %.2g", n ? "+" : "", strength);
    if (mix > 0 && n >= 0 && (size_t)n < cap) n += snprintf(out + n, cap - (size_t)n, "%sbigram %.2g", n ? "+" : "", mix);
    if (n == 0) snprintf(out, cap, "the cloud model");
}

al_status al_lm_mix_choose(const al_model *m, al_pool *pool, const int32_t *ids, long n, double val_fraction,
                           double strength, double *weight, uint64_t *macs) {
    if (!m || !weight || (!ids && n)) return al_error(AL_EINVAL, "al_lm_mix_choose: NULL argument");
    *weight = 0.0;
    if (!m->input_tokens || m->in.ndim != 1)
        return al_error(AL_EINVAL, "not a language model: the input must be 'tokens T'");
    if (!(val_fraction > 0.0 && val_fraction <= 0.9))
        return al_error(AL_ERANGE, "val_fraction must be in (0, 0.9], got %g", val_fraction);
    const int T = m->in.d[0];
    const long nva = lm_val_tokens(val_fraction, n), ntr = n - nva;
    if (nva < T + 1 || ntr < 2) return AL_OK;
    const int V = (int)(al_shape_numel(&m->nodes[m->nnodes - 1].out) / (size_t)T);
    al_model *w = NULL;
    al_lm_ngram *g = NULL;
    double *q = NULL;
    al_status st = al_model_clone(m, &w);
    if (!st && strength > 0) {
        if (!(q = al_malloc(sizeof(double) * (size_t)V))) st = AL_ENOMEM;
        if (!st) st = al_lm_marginal(w, pool, ids, ntr, q, macs);
        if (!st) st = al_lm_prior_shift(w, q, ids, ntr, strength);
    }
    if (!st) st = lm_ngram(V, ids, ntr, &g);
    al_lm_eval e0;
    if (!st) st = lm_score(w, pool, g, ids + ntr, nva, &e0, NULL, weight, macs);
    al_free(q);
    al_lm_ngram_free(g);
    al_model_free(w);
    return st;
}

al_status al_lm_personalize_auto(al_model *m, al_pool *pool, const int32_t *ids, long n, al_cache *cache,
                                 const al_personalize_config *c, al_lm_auto_report *lr) {
    al_lm_auto_report local;
    if (!lr) lr = &local;
    memset(lr, 0, sizeof *lr);
    al_auto_report *r = &lr->a;
    r->best = -1;
    r->recipe = AL_RECIPE_CONFIG;
    r->aug_variants = 1;
    if (!m || !c || (!ids && n)) return al_error(AL_EINVAL, "al_lm_personalize_auto: NULL argument");
    if (!m->input_tokens || m->in.ndim != 1)
        return al_error(AL_EINVAL, "not a language model: the input must be 'tokens T'");
    if (!(c->val_fraction > 0.0 && c->val_fraction <= 0.9))
        return al_error(AL_ERANGE, "val_fraction must be in (0, 0.9], got %g", c->val_fraction);
    const int T = m->in.d[0];
    const long nva = lm_val_tokens(c->val_fraction, n), ntr = n - nva;
    r->val_fraction = c->val_fraction;
    r->budget_macs = c->budget_macs;
    lr->val_tokens = nva;
    lr->train_tokens = ntr;
    /* windows: at least one of validation and one per training stream */
    int B = c->train.batch > 0 ? c->train.batch : 1;
    r->n_val = (int)AL_MIN(nva / T, (long)INT32_MAX);
    r->n_train = (int)AL_MIN(ntr / T, (long)INT32_MAX);
    if (nva < T + 1 || ntr < (long)B * T + 1) {
        snprintf(r->why, sizeof r->why,
                 "kept the cloud model: %ld tokens leave no validation split (%ld) and training text (%ld) of a "
                 "window each", n, nva, ntr);
        return AL_OK;
    }
    const int32_t *tr = ids, *va = ids + ntr;
    int V = (int)(al_shape_numel(&m->nodes[m->nnodes - 1].out) / (size_t)T);
    double *q = al_malloc(sizeof(double) * (size_t)V);
    al_model *base = NULL, *w = NULL;
    al_lm_ngram *g = NULL; /* the bigram model of the training part (the mixture's candidates) */
    al_status st = q ? AL_OK : AL_ENOMEM;
    if (st) return st;
    if (c->ngram_mix && (st = lm_ngram(V, tr, ntr, &g))) goto done;
    al_lm_eval e0, eb;
    double cloud_mix;
    if ((st = lm_score(m, pool, g, va, nva, &e0, &eb, &cloud_mix, &r->search_macs))) goto done;
    r->cloud_val_acc = e0.top3;
    lr->cloud_val_loss = e0.loss;
    const uint64_t valm = al_macs_range(m, 0, m->nnodes) * (uint64_t)((nva - 1 + T - 1) / T);
    /* 0. the bigram mixture alone (the cloud model's weights unchanged): a
     * candidate when a weight above 0 beats the model alone */
    if (g && cloud_mix > 0) {
        al_recipe_try *t = &r->tries[r->ntries];
        lr->mix[r->ntries] = cloud_mix;
        r->best = r->ntries++;
        t->recipe = AL_RECIPE_PRIOR;
        t->aug_variants = 1;
        t->freeze = m->nnodes - 1;
        t->status = AL_TRY_RUN;
        t->val_acc = eb.top3; /* scored with the cloud model's pass */
        lr->loss[r->ntries - 1] = eb.loss;
    }
    /* 1. the prior alone (its q: the cloud model's mean prediction on the training part) */
    uint64_t qmacs = 0;
    int prior_ok = 0, best_prior = -1;
    double prior_loss0[AL_LM_PRIOR_NSTRENGTHS]; /* each prior alone, without the bigram */
    {
        al_model *probe = NULL;
        prior_ok = al_model_clone(m, &probe) == AL_OK && al_lm_prior_shift(probe, q, tr, 0, 0.0) == AL_OK;
        al_model_free(probe);
        if (prior_ok && (st = al_lm_marginal(m, pool, tr, ntr, q, &qmacs))) goto done;
    }
    r->search_macs += qmacs;
    for (int i = 0; i < AL_LM_PRIOR_NSTRENGTHS; i++) {
        al_recipe_try *t = &r->tries[r->ntries];
        lr->prior[r->ntries] = al_lm_prior_strengths[i];
        r->ntries++;
        t->recipe = AL_RECIPE_PRIOR;
        t->aug_variants = 1;
        t->freeze = prior_ok ? m->nnodes - 1 : -1;
        t->est_macs = valm;
        t->status = prior_ok ? AL_TRY_RUN : AL_TRY_NA;
        if (!prior_ok) continue;
        if (c->budget_macs && r->search_macs + t->est_macs > c->budget_macs) {
            t->status = AL_TRY_BUDGET;
            continue;
        }
        if ((st = lm_shifted(m, q, tr, ntr, al_lm_prior_strengths[i], &w))) goto done;
        t->macs = 0;
        st = lm_score(w, pool, g, va, nva, &e0, &eb, &lr->mix[r->ntries - 1], &t->macs);
        al_model_free(w);
        w = NULL;
        if (st) goto done;
        r->search_macs += t->macs;
        t->val_acc = eb.top3;
        lr->loss[r->ntries - 1] = eb.loss;
        prior_loss0[i] = e0.loss;
        if (r->best < 0 || eb.loss < lr->loss[r->best] - AL_LM_MARGIN_NATS) r->best = r->ntries - 1;
        if (best_prior < 0 || prior_loss0[i] < prior_loss0[best_prior] - AL_LM_MARGIN_NATS) best_prior = i;
    }
    /* the trained candidates start from the best prior when it beat the
     * cloud model (each alone: the mixture comes after training) */
    double sbase =
        best_prior >= 0 && prior_loss0[best_prior] < lr->cloud_val_loss - AL_LM_MARGIN_NATS
            ? al_lm_prior_strengths[best_prior]
            : 0.0;
    if ((st = sbase > 0 ? lm_shifted(m, q, tr, ntr, sbase, &base) : al_model_clone(m, &base))) goto done;
    /* 2. training: cheapest first (a higher freeze point trains less) */
    static const al_recipe order[] = {AL_RECIPE_HEAD, AL_RECIPE_LAST_BLOCK, AL_RECIPE_DEEP};
    const uint64_t E = (uint64_t)(c->train.epochs > 0 ? c->train.epochs : 1), W = (uint64_t)(ntr / T);
    for (size_t k = 0; k < sizeof order / sizeof order[0]; k++) {
        al_recipe_try *t = &r->tries[r->ntries];
        lr->prior[r->ntries] = sbase;
        r->ntries++;
        t->recipe = order[k];
        t->aug_variants = 1;
        t->freeze = al_recipe_freeze(m, order[k]);
        int dup = 0;
        for (int j = 0; j < r->ntries - 1; j++)
            if (r->tries[j].recipe != AL_RECIPE_PRIOR && r->tries[j].freeze == t->freeze) dup = 1;
        t->status = t->freeze < 0 || dup ? AL_TRY_NA : AL_TRY_RUN;
        if (t->status != AL_TRY_RUN) continue;
        /* the prefix once per epoch (no cache for a candidate), the suffix forward and backward */
        t->est_macs =
            al_macs_range(m, 0, t->freeze) * W * E + 3 * al_macs_range(m, t->freeze, m->nnodes) * W * E + valm;
        if (c->budget_macs && r->search_macs + t->est_macs > c->budget_macs) {
            t->status = AL_TRY_BUDGET;
            continue;
        }
        al_personalize_config cc;
        lm_train_config(c, t->freeze, &cc);
        al_personalize_report pr;
        if ((st = al_model_clone(base, &w))) goto done;
        st = al_lm_personalize(w, pool, tr, ntr, NULL, &cc, &pr);
        if (st == AL_EBUDGET) {
            t->status = AL_TRY_MEMORY;
            al_model_free(w);
            w = NULL;
            st = AL_OK;
            continue;
        }
        t->macs = pr.macs;
        if (!st) st = lm_score(w, pool, g, va, nva, &e0, &eb, &lr->mix[r->ntries - 1], &t->macs);
        al_model_free(w);
        w = NULL;
        if (st) goto done;
        t->val_acc = eb.top3;
        lr->loss[r->ntries - 1] = eb.loss;
        r->search_macs += t->macs;
        if (r->best < 0 || eb.loss < lr->loss[r->best] - AL_LM_MARGIN_NATS) r->best = r->ntries - 1;
    }
    if (r->best < 0) {
        snprintf(r->why, sizeof r->why, "kept the cloud model: no candidate ran within the budget");
        goto done;
    }
    const al_recipe_try *b = &r->tries[r->best];
    const double sb = lr->prior[r->best], mb = lr->mix[r->best];
    char pname[40];
    lm_pick_name(b, sb, mb, pname, sizeof pname);
    const double bl = lr->loss[r->best];
    if (!(bl < lr->cloud_val_loss - AL_LM_MARGIN_NATS)) {
        snprintf(r->why, sizeof r->why,
                 "kept the cloud model: the best candidate, %s, log-loss %.4f on %ld validation tokens, not "
                 "below the cloud model's %.4f by %g",
                 pname, bl, nva, lr->cloud_val_loss, AL_LM_MARGIN_NATS);
        goto done;
    }
    /* the final job on the whole stream: the prior counted on all of it, then the pick's training */
    if (sb > 0) {
        uint64_t fm = 0;
        if ((st = al_lm_marginal(m, pool, ids, n, q, &fm)) || (st = al_lm_prior_shift(m, q, ids, n, sb))) goto done;
        r->final.macs += fm;
    }
    if (b->recipe != AL_RECIPE_PRIOR) {
        al_personalize_config fc;
        lm_train_config(c, b->freeze, &fc);
        fc.train.checkpoint_path = c->train.checkpoint_path;
        fc.train.checkpoint_every = c->train.checkpoint_every;
        fc.train.progress = c->train.progress;
        fc.train.progress_user = c->train.progress_user;
        uint64_t fm = r->final.macs;
        if ((st = al_lm_personalize(m, pool, ids, n, cache, &fc, &r->final))) goto done;
        r->final.macs += fm;
    }
    /* the mixture's weight goes with the model; its bigram model is the
     * caller's, counted on the whole stream (the keyboard keeps the text) */
    if (mb > 0 || al_model_meta(m, AL_LM_MIX_META)) {
        char wb[32];
        snprintf(wb, sizeof wb, "%.2f", mb);
        if ((st = al_model_set_meta(m, AL_LM_MIX_META, wb))) goto done;
    }
    r->kept = 1;
    r->recipe = b->recipe;
    lr->prior_chosen = sb;
    lr->mix_chosen = mb;
    snprintf(r->why, sizeof r->why,
             "%s: the lowest validation log-loss, %.3f on %ld tokens (top-3 %.4f), below the cloud model's %.3f "
             "(%.4f); %s all %ld",
             pname, bl, nva, b->val_acc, lr->cloud_val_loss, r->cloud_val_acc,
             b->recipe == AL_RECIPE_PRIOR ? "counted on" : "trained again on", n);
done:
    al_model_free(w);
    al_model_free(base);
    al_lm_ngram_free(g);
    al_free(q);
    return st;
}
