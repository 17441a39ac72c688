/* Language models (train.h): TBPTT training, the keyboard's predict pass
 * that fills the runtime cache, personalization, and next-word evaluation.
 *
 * Streams and state. A text is one stream as the user typed it; the model
 * reads it in windows of T tokens and carries the LSTM state (h, c) from a
 * window to the next. For training, al_text_windows cuts the stream into B
 * parallel streams, one per batch row, and the trainer runs without
 * shuffling, so row j of consecutive batches continues stream j; the state
 * is reset (zeroed) when an epoch starts. */

#include "train/train.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

/* The nodes' carry flags, saved while a pass sets its own (passes nest: a
 * personalization's epoch-end refill runs a stream pass). */
typedef struct {
    int *carry; /* nnodes entries (al_malloc'd by carry_push, freed by carry_pop) */
} carry_save;

static al_status carry_push(al_model *m, carry_save *s, int on) {
    s->carry = al_malloc(sizeof *s->carry * (size_t)m->nnodes);
    if (!s->carry) return AL_ENOMEM;
    for (int i = 0; i < m->nnodes; i++) s->carry[i] = m->nodes[i].carry_state;
    al_model_set_carry_state(m, on);
    return AL_OK;
}

static void carry_pop(al_model *m, carry_save *s) {
    for (int i = 0; i < m->nnodes; i++) m->nodes[i].carry_state = s->carry[i];
    al_free(s->carry);
    s->carry = NULL;
}

static int has_lstm(const al_model *m, int lo, int hi) {
    for (int i = lo; i < hi; i++)
        if (m->nodes[i].cfg.type == AL_L_LSTM || m->nodes[i].cfg.type == AL_L_GRU) return 1;
    return 0;
}

static al_status check_lm(const al_model *m, int *T, int *V) {
    if (!m) return al_error(AL_EINVAL, "language model: NULL model");
    if (!m->input_tokens || m->in.ndim != 1)
        return al_error(AL_EINVAL, "not a language model: the input must be 'tokens T'");
    *T = m->in.d[0];
    size_t yo = al_shape_numel(&m->nodes[m->nnodes - 1].out);
    if (yo % (size_t)*T) return al_error(AL_ESHAPE, "language model: %zu outputs do not split into %d rows", yo, *T);
    *V = (int)(yo / (size_t)*T);
    return AL_OK;
}

/* Resets the carried state after every epoch (the next starts afresh), after
 * the caller's own callback (which may evaluate). */
typedef struct {
    al_model *m;
    al_progress_fn fn;
    void *user;
} reset_cb;

static int reset_each_epoch(void *user, const al_epoch_info *info, int final) {
    reset_cb *r = user;
    int stop = r->fn ? r->fn(r->user, info, final) : 0;
    if (final) al_model_reset_state(r->m);
    return stop;
}

al_status al_lm_train(al_model *m, al_pool *pool, const al_dataset *d, const al_train_config *cfg,
                      al_train_report *r) {
    int T, V;
    al_status st = check_lm(m, &T, &V);
    if (st) return st;
    if (!d || !cfg) return al_error(AL_EINVAL, "al_lm_train: NULL argument");
    if (d->n % cfg->batch)
        return al_error(AL_EINVAL, "TBPTT: %d windows do not form whole batches of %d streams", d->n, cfg->batch);
    al_train_config tc = *cfg;
    tc.shuffle = 0;
    reset_cb rc = {m, cfg->progress, cfg->progress_user};
    tc.progress = reset_each_epoch;
    tc.progress_user = &rc;
    carry_save cs;
    if ((st = carry_push(m, &cs, 1))) return st;
    al_trainer *t = NULL;
    st = al_trainer_new(m, pool, &tc, &t);
    if (!st) {
        al_model_reset_state(m);
        st = al_trainer_run(t, d, NULL, r);
    }
    al_trainer_free(t);
    carry_pop(m, &cs);
    return st;
}

/* ---- evaluation ---------------------------------------------------------------------- */

/* What a pass over a token stream needs first: the model planned for one
 * stream, a window of T inputs (*x, al_malloc'd; al_free it), the carried
 * state switched on (carry_pop(m, cs) restores it) and zeroed. */
static al_status stream_begin(al_model *m, int T, float **x, carry_save *cs) {
    al_status st = al_model_plan(m, 1);
    if (st) return st;
    if (!(*x = al_malloc(sizeof(float) * (size_t)T))) return AL_ENOMEM;
    if ((st = carry_push(m, cs, 1))) {
        al_free(*x);
        *x = NULL;
        return st;
    }
    al_model_reset_state(m);
    return AL_OK;
}

/* The keyboard's 3 suggestions: the top-3 of a row of k logits, never
 * <unk> (a keyboard cannot suggest it); missing places are -1. */
static void top3(const float *z, int k, int *best) {
    best[0] = best[1] = best[2] = -1;
    float b0 = -INFINITY, b1 = -INFINITY, b2 = -INFINITY;
    for (int j = 0; j < k; j++) {
        if (j == AL_TOK_UNK) continue;
        float v = z[j];
        if (v > b2 || best[2] < 0) {
            if (v > b0 || best[0] < 0) {
                b2 = b1, best[2] = best[1];
                b1 = b0, best[1] = best[0];
                b0 = v, best[0] = j;
            } else if (v > b1 || best[1] < 0) {
                b2 = b1, best[2] = best[1];
                b1 = v, best[1] = j;
            } else {
                b2 = v, best[2] = j;
            }
        }
    }
}

/* The metrics' running sums over a stream's targets. */
typedef struct {
    double loss, keys, saved, wkeys, wsaved;
    long c1, c3, cnt, wc3, wcnt, wunk;
} eval_sums;

/* Target y at stream position pos (ids[pos]) scored: b its 3 suggestions,
 * loss its cross-entropy. */
static void sums_add(eval_sums *a, const int *b, double loss, int32_t y, long pos, const al_vocab *v,
                     const int32_t *lens) {
    a->loss += loss;
    a->cnt++;
    int hit1 = y != AL_TOK_UNK && b[0] == y;
    int hit3 = y != AL_TOK_UNK && (b[0] == y || b[1] == y || b[2] == y);
    a->c1 += hit1;
    a->c3 += hit3;
    /* keystrokes: a word's letters and a space; a suggested word is one tap */
    const char *w = v ? al_vocab_word(v, y) : NULL;
    int is_word = w && y >= AL_TOK_SPECIALS && ((unsigned char)w[0] >= 'a' || w[0] == '\'');
    if (is_word) {
        double len_w = (double)strlen(w) + 1.0;
        a->keys += len_w;
        if (hit3) a->saved += len_w - 1.0;
    }
    /* word targets: by the text's own token when its lengths are
     * known, else by the vocabulary (an <unk> target counted) */
    int wl = lens ? lens[pos] : 0;
    if (lens ? wl > 0 : (is_word || (y == AL_TOK_UNK && v))) {
        a->wcnt++;
        a->wc3 += hit3;
        a->wunk += y == AL_TOK_UNK;
        if (lens) {
            a->wkeys += (double)wl + 1.0;
            if (hit3) a->wsaved += (double)wl;
        }
    }
}

static void sums_finish(const eval_sums *a, int has_lens, al_lm_eval *r) {
    memset(r, 0, sizeof *r);
    r->tokens = a->cnt;
    r->top1 = a->cnt ? (double)a->c1 / (double)a->cnt : 0;
    r->top3 = a->cnt ? (double)a->c3 / (double)a->cnt : 0;
    r->loss = a->cnt ? a->loss / (double)a->cnt : 0;
    r->ppl = exp(r->loss);
    r->saved = a->keys > 0 ? a->saved / a->keys : 0;
    r->word_targets = a->wcnt;
    r->word_unknown = a->wunk;
    r->word_top3 = a->wcnt ? (double)a->wc3 / (double)a->wcnt : 0;
    r->word_saved = has_lens ? (a->wkeys > 0 ? a->wsaved / a->wkeys : 0) : r->saved;
}

/* One pass over the stream, scored nw times: r[k] for the model's
 * predictions mixed with g's at weights[k] (weight 0 or no g: the model's
 * logits as they are). *windows: the forward passes run. */
static al_status eval_stream(al_model *m, al_pool *pool, const int32_t *ids, const int32_t *lens, long n,
                             const al_vocab *v, const al_lm_ngram *g, const double *weights, int nw, al_lm_eval *r,
                             uint64_t *windows) {
    int T, V;
    al_status st = check_lm(m, &T, &V);
    if (st) return st;
    if (!r || (!ids && n) || nw < 1 || nw > AL_LM_MIX_NWEIGHTS || (nw > 1 && !weights))
        return al_error(AL_EINVAL, "al_lm_evaluate: NULL argument");
    int mix = 0;
    for (int k = 0; k < nw; k++) {
        double w = weights ? weights[k] : 0.0;
        if (!(w >= 0.0 && w <= 1.0)) return al_error(AL_ERANGE, "mixture weight must be in 0..1, got %g", w);
        mix |= w > 0.0 && g;
    }
    if (mix && al_lm_ngram_words(g) != V)
        return al_error(AL_EINVAL, "the bigram model has %d words, the model %d", al_lm_ngram_words(g), V);
    for (int k = 0; k < nw; k++) memset(&r[k], 0, sizeof r[k]);
    eval_sums sums[AL_LM_MIX_NWEIGHTS];
    memset(sums, 0, sizeof sums);
    double *pm = NULL, *pb = NULL;
    float *pz = NULL;
    if (mix) {
        pm = al_malloc(sizeof(double) * (size_t)V);
        pb = al_malloc(sizeof(double) * (size_t)V);
        pz = al_malloc(sizeof(float) * (size_t)V);
        if (!pm || !pb || !pz) {
            al_free(pm);
            al_free(pb);
            al_free(pz);
            return AL_ENOMEM;
        }
    }
    float *x;
    carry_save cs;
    uint64_t nwin = 0;
    if ((st = stream_begin(m, T, &x, &cs))) {
        al_free(pm);
        al_free(pb);
        al_free(pz);
        return st;
    }
    for (long p = 0; p + 1 < n; p += T) {
        int len = (int)AL_MIN((long)T, n - 1 - p);
        for (int t = 0; t < T; t++) x[t] = t < len ? (float)ids[p + t] : 0.0f;
        const float *z;
        if ((st = al_model_forward_from(m, pool, 0, x, 1, 0, &z))) break;
        nwin++;
        for (int t = 0; t < len; t++) {
            const float *row = z + (size_t)t * (size_t)V;
            int32_t y = ids[p + t + 1];
            if (y < 0 || y >= V) {
                st = al_error(AL_ERANGE, "token %ld has id %d outside the model's %d outputs", p + t + 1, (int)y, V);
                break;
            }
            int b[3], am;
            /* softmax's vectorized maximum and exp-sum (float terms, double
             * blocks): exact enough for a mean log-loss, and the
             * evaluation's hot loop */
            float mx = al_row_max(row, V, &am);
            double se = al_softmax_expsum(row, V, mx);
            if (mix) {
                for (int j = 0; j < V; j++) pm[j] = exp((double)row[j] - (double)mx) / se;
                al_lm_ngram_probs(g, ids[p + t], pb);
            }
            for (int k = 0; k < nw; k++) {
                double w = weights ? weights[k] : 0.0;
                if (!mix || w == 0.0) {
                    top3(row, V, b);
                    sums_add(&sums[k], b, log(se) - ((double)row[y] - (double)mx), y, p + t + 1, v, lens);
                    continue;
                }
                for (int j = 0; j < V; j++) pz[j] = (float)((1.0 - w) * pm[j] + w * pb[j]);
                top3(pz, V, b);
                sums_add(&sums[k], b, -log((1.0 - w) * pm[y] + w * pb[y]), y, p + t + 1, v, lens);
            }
        }
        if (st) break;
    }
    carry_pop(m, &cs);
    al_model_reset_state(m);
    al_free(x);
    al_free(pm);
    al_free(pb);
    al_free(pz);
    if (st) return st;
    for (int k = 0; k < nw; k++) sums_finish(&sums[k], lens != NULL, &r[k]);
    if (windows) *windows = nwin;
    return AL_OK;
}

al_status al_lm_evaluate(al_model *m, al_pool *pool, const int32_t *ids, long n, const al_vocab *v, al_lm_eval *r) {
    return al_lm_evaluate_lens(m, pool, ids, NULL, n, v, r);
}

al_status al_lm_evaluate_lens(al_model *m, al_pool *pool, const int32_t *ids, const int32_t *lens, long n,
                              const al_vocab *v, al_lm_eval *r) {
    return eval_stream(m, pool, ids, lens, n, v, NULL, NULL, 1, r, NULL);
}

al_status al_lm_evaluate_mix(al_model *m, al_pool *pool, const al_lm_ngram *g, double weight, const int32_t *ids,
                             const int32_t *lens, long n, const al_vocab *v, al_lm_eval *r) {
    return eval_stream(m, pool, ids, lens, n, v, g, &weight, 1, r, NULL);
}

al_status al_lm_mix_eval(al_model *m, al_pool *pool, const al_lm_ngram *g, const double *weights, int nw,
                         const int32_t *ids, long n, al_lm_eval *r, uint64_t *macs) {
    if (!weights) return al_error(AL_EINVAL, "al_lm_mix_eval: NULL argument");
    uint64_t windows = 0;
    al_status st = eval_stream(m, pool, ids, NULL, n, NULL, g, weights, nw, r, &windows);
    if (st) return st;
    if (macs) *macs += al_macs_range(m, 0, m->nnodes) * windows;
    return AL_OK;
}

/* ---- the predict pass -------------------------------------------------------------- */

/* The cache's binding for a stream: the frozen prefix and the stream itself
 * (a window's id is its offset, and its prefix output depends on every
 * token before it): another text clears the cache. */
static void bind_stream(al_cache *c, size_t feat, const al_model *m, const int32_t *ids, long n) {
    al_cache_bind(c, feat, al_model_prefix_fingerprint(m));
    al_cache_bind_data(c, al_hash_bytes(0x7e47ULL, ids, sizeof(int32_t) * (size_t)n));
}

/* Runs windows [0, n) of the stream in order with carried state; freeze > 0 is
 * the freeze point whose prefix output is cached. full: also the suffix
 * (the keyboard's suggestions); otherwise the prefix only. */
static al_status stream_pass(al_model *m, al_pool *pool, const int32_t *ids, long n, al_cache *c, int full,
                             uint64_t *windows) {
    int T, V;
    al_status st = check_lm(m, &T, &V);
    if (st) return st;
    int freeze = m->freeze;
    if (freeze > 0 && !al_model_frontier_plain(m, freeze))
        return al_error(AL_EUNSUPPORTED, "language model: the frozen prefix (nodes 0..%d) must end in one tensor, "
                                         "node %d's output; move the freeze point", freeze - 1, freeze - 1);
    float *x;
    carry_save cs;
    if ((st = stream_begin(m, T, &x, &cs))) return st;
    size_t feat = freeze > 0 ? al_shape_numel(&m->nodes[freeze - 1].out) : 0;
    if (c && freeze > 0) bind_stream(c, feat, m, ids, n);
    uint64_t w = 0;
    /* the windows training uses: a full window of inputs and targets */
    for (long p = 0; p + T < n; p += T) {
        for (int t = 0; t < T; t++) x[t] = (float)ids[p + t];
        if (freeze > 0) {
            if ((st = al_model_forward_range(m, pool, 0, freeze, x, 1, 0))) break;
            if (c) al_cache_store(c, (uint64_t)p, 0, m->act[freeze - 1]);
            w++;
            if (full && (st = al_model_forward_from(m, pool, freeze, m->act[freeze - 1], 1, 0, NULL))) break;
        } else if (full && (st = al_model_forward_from(m, pool, 0, x, 1, 0, NULL))) {
            break;
        }
    }
    carry_pop(m, &cs);
    al_model_reset_state(m);
    al_free(x);
    if (windows) *windows = w;
    return st;
}

al_status al_lm_predict_stream(al_model *m, al_pool *pool, const int32_t *ids, long n, al_cache *c) {
    if (!ids && n) return al_error(AL_EINVAL, "al_lm_predict_stream: NULL ids");
    return stream_pass(m, pool, ids, n, c, 1, NULL);
}

/* ---- personalization ------------------------------------------------------------------ */

/* The memory plan of al_lm_personalize (see train.h). The windows dataset is
 * the job's own (staging); with the LSTM in the frozen prefix every window
 * of the stream pass must stay in the cache (in memory, or in its spill
 * file): a window recomputed later would start from a zero state and give
 * other features. With the LSTM trained, a shrunk batch means fewer streams,
 * so the windows are cut again for it and the plan made again. */
al_status al_lm_plan_memory(const al_model *m, const al_pool *pool, long n, const al_cache *cache,
                            const al_personalize_config *c, al_mem_plan *out) {
    int T, V;
    al_status st = check_lm(m, &T, &V);
    if (st) return st;
    if (!c || !out) return al_error(AL_EINVAL, "al_lm_plan_memory: NULL argument");
    const int freeze = al_personalize_freeze(m, c);
    if (freeze < 0 || freeze >= m->nnodes) return al_error(AL_EINVAL, "freeze point %d leaves nothing to train", freeze);
    const int rec_suffix = has_lstm(m, freeze, m->nnodes), rec_prefix = has_lstm(m, 0, freeze);
    al_train_config tc = c->train;
    for (;;) {
        const int B = rec_suffix ? tc.batch : 1;
        long W = n > 1 && B > 0 ? (n - 1) / ((long)B * T) : 0;
        if (W < 1)
            return al_error(AL_EINVAL, "a text of %ld tokens is too short for %d streams of %d-token windows", n, B,
                            T);
        if (W * (long)B > (1L << 30)) return al_error(AL_ERANGE, "too many windows");
        /* a dataset of the windows' shape (al_text_windows), nothing allocated */
        al_dataset d;
        memset(&d, 0, sizeof d);
        d.n = (int)(W * B);
        d.xs.ndim = 1;
        d.xs.d[0] = T;
        d.y_len = T;
        d.num_classes = V;
        al_mem_job x;
        al_personalize_mem_job(m, c, &x);
        x.train = &tc;
        x.staging = (size_t)d.n * ((sizeof(float) + sizeof(int32_t)) * (size_t)T + sizeof(uint64_t));
        if (rec_prefix) {
            x.entries = (size_t)((n - 1) / T); /* the windows the stream pass stores */
            x.cache_required = 1;
            x.own_cache = cache == NULL;
        }
        if ((st = al_mem_plan_fit(m, pool, &d, cache, &x, out))) return st;
        if (!rec_suffix || out->batch_used == tc.batch) break;
        tc.batch = out->batch_used;
    }
    out->batch_requested = c->train.batch;
    out->dataset = (size_t)n * sizeof(int32_t); /* the caller's stream */
    return AL_OK;
}

/* Without a runtime cache, a frozen prefix holding the LSTM is recomputed at
 * every epoch, exactly: before the epoch, one pass over the stream with its
 * state carried refills the job's own buffer of the windows' features (the
 * trainer shuffles windows, so they cannot be made one at a time from a zero
 * state). Chained after the caller's (or the TBPTT reset's) callback. */
typedef struct {
    al_model *m;
    al_pool *pool;
    const int32_t *ids;
    long n;
    al_cache *buf;
    int epochs;
    uint64_t windows; /* prefix windows run by the refills */
    al_status st;
    al_progress_fn fn;
    void *user;
} refill_cb;

static int refill_each_epoch(void *user, const al_epoch_info *info, int final) {
    refill_cb *f = user;
    int stop = f->fn ? f->fn(f->user, info, final) : 0;
    if (stop || !final || info->epoch >= f->epochs) return stop;
    uint64_t w = 0;
    al_cache_clear(f->buf);
    f->st = stream_pass(f->m, f->pool, f->ids, f->n, f->buf, 0, &w);
    f->windows += w;
    return f->st != AL_OK;
}

al_status al_lm_personalize(al_model *m, al_pool *pool, const int32_t *ids, long n, al_cache *cache,
                            const al_personalize_config *c, al_personalize_report *r) {
    al_personalize_report local;
    if (!r) r = &local;
    memset(r, 0, sizeof *r);
    int T = 0, V = 0;
    al_status st = check_lm(m, &T, &V);
    if (st) return st;
    if (!c || (!ids && n)) return al_error(AL_EINVAL, "al_lm_personalize: NULL argument");
    if (c->aug_variants != 1) return al_error(AL_EINVAL, "text personalization takes no augmentation variants");
    if ((st = al_model_freeze(m, al_personalize_freeze(m, c)))) return st;
    const int freeze = m->freeze;
    if (freeze >= m->nnodes) return al_error(AL_EINVAL, "freeze point %d leaves nothing to train", freeze);
    const int rec_suffix = has_lstm(m, freeze, m->nnodes), rec_prefix = has_lstm(m, 0, freeze);
    /* the memory plan first: a budget that cannot be met fails here, before
     * anything is allocated; within it the cache bound and batch it gives */
    al_mem_plan plan;
    if ((st = al_lm_plan_memory(m, pool, n, cache, c, &plan))) return st;
    al_personalize_config pc = *c;
    pc.freeze = freeze;
    pc.train.batch = plan.batch_used;
    al_mem_plan_apply(m, cache, &plan); /* before the stream pass fills the cache */
    const int B = rec_suffix ? pc.train.batch : 1;
    al_dataset *d = NULL;
    uint64_t *off = NULL;
    al_cache *own = NULL;
    if ((st = al_text_windows(ids, n, T, B, V, &d, &off))) return st;
    if (rec_prefix) {
        /* The prefix's output depends on the whole stream before a window:
         * it comes from the cache, filled by the predict pass; any window it
         * lacks is made by one pass over the stream. A cache of our own
         * holds every window (the plan counted them). */
        if (!cache) {
            if ((st = al_cache_new(plan.cache_used, NULL, &own))) goto done;
            cache = own;
        }
        bind_stream(cache, al_shape_numel(&m->nodes[freeze - 1].out), m, ids, n);
        int complete = 1;
        for (int i = 0; i < d->n && complete; i++) complete = al_cache_contains(cache, off[i], 0);
        if (!complete) {
            uint64_t w = 0;
            if ((st = stream_pass(m, pool, ids, n, cache, 0, &w))) goto done;
            r->prefix_samples += w;
        }
    }
    reset_cb rc = {m, c->train.progress, c->train.progress_user};
    carry_save cs;
    if (rec_suffix) {
        pc.train.shuffle = 0;
        pc.train.progress = reset_each_epoch;
        pc.train.progress_user = &rc;
    }
    refill_cb fc = {m, pool, ids, n, own, pc.train.epochs, 0, AL_OK, pc.train.progress, pc.train.progress_user};
    if (own) {
        pc.train.progress = refill_each_epoch;
        pc.train.progress_user = &fc;
    }
    if ((st = carry_push(m, &cs, rec_suffix))) goto done;
    al_model_reset_state(m);
    uint64_t pre = r->prefix_samples;
    st = al_personalize_planned(m, pool, d, off, cache, &pc, &plan, r);
    if (fc.st) st = fc.st;
    r->mem = plan;
    pre += fc.windows;
    carry_pop(m, &cs);
    al_model_reset_state(m);
    /* the stream pass's prefix work, in samples and MACs */
    if (pre) {
        uint64_t pm = 0;
        for (int i = 0; i < freeze; i++) pm += m->nodes[i].vt->macs ? m->nodes[i].vt->macs(&m->nodes[i]) : 0;
        r->prefix_samples += pre;
        r->macs += pm * pre;
    }
done:
    al_cache_free(own);
    al_dataset_free(d);
    al_free(off);
    return st;
}

/* ---- the unigram prior (the text twin of the label-prior shift) --------------------- */

/* The model's mean next-word distribution over the stream's positions, read
 * as typed (windows of T in order, state carried): q[w], V entries, summing
 * to 1. */
al_status al_lm_marginal(al_model *m, al_pool *pool, const int32_t *ids, long n, double *q, uint64_t *macs) {
    int T = 0, V = 0;
    al_status st = check_lm(m, &T, &V);
    if (st) return st;
    if (!q || (!ids && n)) return al_error(AL_EINVAL, "al_lm_marginal: NULL argument");
    for (int j = 0; j < V; j++) q[j] = 0.0;
    float *x;
    carry_save cs;
    if ((st = stream_begin(m, T, &x, &cs))) return st;
    long rows = 0;
    uint64_t windows = 0;
    for (long p = 0; p + 1 < n && !st; p += T) {
        int len = (int)AL_MIN((long)T, n - 1 - p);
        for (int t = 0; t < T; t++) x[t] = t < len ? (float)ids[p + t] : 0.0f;
        const float *z;
        if ((st = al_model_forward_from(m, pool, 0, x, 1, 0, &z))) break;
        windows++;
        for (int t = 0; t < len; t++) {
            const float *row = z + (size_t)t * (size_t)V;
            int am;
            float mx = al_row_max(row, V, &am);
            double se = al_softmax_expsum(row, V, mx);
            for (int j = 0; j < V; j++) q[j] += exp((double)row[j] - (double)mx) / se;
            rows++;
        }
    }
    carry_pop(m, &cs);
    al_model_reset_state(m);
    al_free(x);
    if (st) return st;
    for (int j = 0; j < V; j++) q[j] = rows ? q[j] / (double)rows : 1.0 / V;
    if (macs) *macs = al_macs_range(m, 0, m->nnodes) * windows;
    return AL_OK;
}

/* The output layer of a language model over V words: the last node, a dense
 * layer with a bias of V entries; NULL otherwise. */
static al_node *lm_output(al_model *m, int V) {
    al_node *o = &m->nodes[m->nnodes - 1];
    if (o->cfg.type != AL_L_DENSE || !o->cfg.bias || o->nparams < 2 || o->params[1].n != (size_t)V) return NULL;
    return o;
}

al_status al_lm_prior_shift(al_model *m, const double *q, const int32_t *ids, long n, double strength) {
    int T = 0, V = 0;
    al_status st = check_lm(m, &T, &V);
    if (st) return st;
    if (!q || (!ids && n)) return al_error(AL_EINVAL, "al_lm_prior_shift: NULL argument");
    if (!(strength >= 0.0 && strength <= 100.0))
        return al_error(AL_ERANGE, "prior strength must be in 0..100, got %g", strength);
    al_node *o = lm_output(m, V);
    if (!o) return al_error(AL_EUNSUPPORTED, "the unigram prior needs a dense output layer with a bias of %d words", V);
    if (strength == 0.0 || n < 1) return AL_OK;
    double *cnt = al_calloc((size_t)V, sizeof(double));
    if (!cnt) return AL_ENOMEM;
    for (long i = 0; i < n; i++)
        if (ids[i] >= 0 && ids[i] < V) cnt[ids[i]] += 1.0;
    const double a = AL_LM_PRIOR_PSEUDO;
    for (int j = 0; j < V; j++) {
        double p = (cnt[j] + a) / ((double)n + a * V), qq = q[j] > 1e-12 ? q[j] : 1e-12;
        o->params[1].w[j] += (float)(strength * log(p / qq));
    }
    al_free(cnt);
    return AL_OK;
}
