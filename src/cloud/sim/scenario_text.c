/* The input-method scenario: next-word prediction on State of the Union
 * addresses, one user per president. The same methods, costs and report as
 * the image scenario (scenario_image.c):
 *   global       the cloud LM, pre-trained on public text only
 *   local        the LM trained from scratch on the user's text only
 *   autonomous   the cloud LM personalized on the device: embedding (and, at
 *                the default freeze point, the LSTM) frozen; the keyboard's
 *                predict pass fills the runtime cache, training reuses it
 *   centralized  the cloud LM trained further on public + all users' text
 *   fedavg       federated averaging from the cloud LM
 * A user's private text is all their addresses but the latest (capped to
 * the most recent user_tokens tokens), the test text the latest address.
 * Public text: the addresses of every other president, plus off-domain text
 * (extra_dirs). The vocabulary is built from public text only.
 * Accuracy is top-3 next-word accuracy (an <unk> target is a miss). */
#include "sim.h"


#include <math.h>
#include <stdlib.h>
#include <string.h>

#define LM_T 20

void al_scenario_config_text_default(al_scenario_config *c) {
    al_scenario_config_default(c);
    c->scenario = "text";
    c->data_dir = "data/sotu";
    c->arch = "reflm";
    c->users.users = 10;
    c->pretrain_epochs = 1;
    c->pretrain_lr = 0.002;
    c->epochs = 3;
    c->lr = 0.003;
    c->fed_lr = 0.0;
    c->label_prior = 0.0; /* image-only device options */
    c->l2sp = 0.0;
    c->device_batch = 8;
    c->local_epochs = 2;
    c->local_lr = 0.002;
    c->rounds = 2;
    c->fed_epochs = 1;
    c->central_epochs = 1;
    c->cache_bytes = (size_t)256 << 20;
    c->batch = 32;
    c->user_tokens = 30000;
    c->pretrain_tokens = 600000;
    c->vocab_words = 5000;
}

static void say(const al_scenario_config *c, const char *fmt, ...) AL_PRINTF(2, 3);
static void say(const al_scenario_config *c, const char *fmt, ...) {
    if (!c->verbose) return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* The device and cloud training configuration: Adam, cosine, clipping. */
typedef struct {
    int nusers;
    int *user_of;        /* per doc: user index or -1 (public) */
    char **names;
    al_ids *train, *test; /* per user */
} text_users;

static void users_free(text_users *u) {
    if (!u->names) return;
    for (int k = 0; k < u->nusers; k++) {
        free(u->names[k]);
        al_ids_free(&u->train[k]);
        al_ids_free(&u->test[k]);
    }
    free(u->names);
    free(u->train);
    free(u->test);
    free(u->user_of);
    memset(u, 0, sizeof *u);
}

typedef struct {
    const char *name;
    int count;
} name_count;

static int by_count_desc(const void *a, const void *b) {
    const name_count *x = a, *y = b;
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* Users: the named presidents, or the `want` with most addresses since 1901. */
static al_status pick_users(const al_text_corpus *cp, const char *list, int want, text_users *u) {
    u->user_of = malloc(sizeof(int) * (size_t)cp->n);
    u->names = calloc((size_t)cp->n + 1, sizeof(char *));
    if (!u->user_of || !u->names) return al_error(AL_ENOMEM, "out of memory");
    for (int i = 0; i < cp->n; i++) u->user_of[i] = -1;
    if (list) {
        char *buf = strdup(list), *save = NULL;
        if (!buf) return al_error(AL_ENOMEM, "out of memory");
        for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            int n = 0;
            for (int i = 0; i < cp->n; i++) n += !strcmp(cp->docs[i].name, t);
            if (n < 2) {
                al_status st = al_error(AL_EINVAL, "user '%s': %d addresses in the corpus, a user needs at least 2", t, n);
                free(buf);
                return st;
            }
            for (int k = 0; k < u->nusers; k++)
                if (!strcmp(u->names[k], t)) {
                    free(buf);
                    return al_error(AL_EINVAL, "user '%s' is listed twice", t);
                }
            u->names[u->nusers++] = strdup(t);
        }
        free(buf);
    } else {
        name_count *nc = calloc((size_t)cp->n, sizeof *nc);
        int nn = 0;
        if (!nc) return al_error(AL_ENOMEM, "out of memory");
        for (int i = 0; i < cp->n; i++) {
            if (cp->docs[i].year < 1901) continue;
            int j = 0;
            while (j < nn && strcmp(nc[j].name, cp->docs[i].name)) j++;
            if (j == nn) nc[nn++].name = cp->docs[i].name;
            nc[j].count++;
        }
        qsort(nc, (size_t)nn, sizeof *nc, by_count_desc);
        for (int j = 0; j < nn && u->nusers < want; j++)
            if (nc[j].count >= 2) u->names[u->nusers++] = strdup(nc[j].name);
        free(nc);
    }
    if (u->nusers == 0) return al_error(AL_EINVAL, "no users: the corpus has no president with 2 addresses");
    for (int i = 0; i < cp->n; i++)
        for (int k = 0; k < u->nusers; k++)
            if (!strcmp(cp->docs[i].name, u->names[k])) u->user_of[i] = k;
    u->train = calloc((size_t)u->nusers, sizeof(al_ids));
    u->test = calloc((size_t)u->nusers, sizeof(al_ids));
    if (!u->train || !u->test) return al_error(AL_ENOMEM, "out of memory");
    return AL_OK;
}

/* Unigram Moore-Lewis: score(doc) = mean over its tokens of
 *   log p_in(w) - log p_pool(w)
 * with add-one smoothed unigram models over the vocabulary: p_in from a small
 * in-domain public sample (one address per non-user president), p_pool from
 * the whole public pool. Higher is more in-domain. */
static void moore_lewis(const al_ids *docs, int ndocs, const int *is_sample, int V, double *score) {
    double *cin = calloc((size_t)V, sizeof(double)), *cpool = calloc((size_t)V, sizeof(double));
    double nin = 0, npool = 0;
    for (int d = 0; d < ndocs; d++)
        for (long i = 0; i < docs[d].n; i++) {
            cpool[docs[d].v[i]] += 1;
            npool += 1;
            if (is_sample[d]) {
                cin[docs[d].v[i]] += 1;
                nin += 1;
            }
        }
    for (int d = 0; d < ndocs; d++) {
        double s = 0;
        for (long i = 0; i < docs[d].n; i++) {
            int w = docs[d].v[i];
            s += log((cin[w] + 1) / (nin + V)) - log((cpool[w] + 1) / (npool + V));
        }
        score[d] = docs[d].n ? s / (double)docs[d].n : -INFINITY;
    }
    free(cin);
    free(cpool);
}

/* Appends docs in `order` until `budget` tokens (the last one cut). */
static al_status concat_budget(const al_ids *docs, const int *order, int n, long budget, al_ids *out) {
    for (int j = 0; j < n && out->n < budget; j++) {
        const al_ids *d = &docs[order[j]];
        for (long i = 0; i < d->n && out->n < budget; i++) {
            al_status st = al_ids_push(out, d->v[i]);
            if (st) return st;
        }
    }
    return AL_OK;
}

/* Evaluation of one model on every user's test text. */
static al_status eval_users(al_model *m, al_pool *pool, const text_users *u, const al_vocab *v, al_method_result *res,
                            double *secs) {
    double t0 = al_wall_seconds();
    for (int k = 0; k < u->nusers; k++) {
        al_lm_eval e;
        al_status st = al_lm_evaluate(m, pool, u->test[k].v, u->test[k].n, v, &e);
        if (st) return st;
        res->acc[k] = e.top3;
        res->acc_top1[k] = e.top1;
        res->ppl[k] = e.ppl;
        res->saved[k] = e.saved;
    }
    *secs += al_wall_seconds() - t0;
    return AL_OK;
}

typedef struct {
    al_model *m;
    al_pool *pool;
    const al_ids *test;
    const al_vocab *v;
    double *curve;
    double eval_seconds;
    al_status st;
} curve_cb;

static int on_epoch(void *user, const al_epoch_info *info, int final) {
    curve_cb *cb = user;
    if (!final || !cb->test) return 0;
    double t0 = al_wall_seconds();
    al_lm_eval e;
    al_status st = al_lm_evaluate(cb->m, cb->pool, cb->test->v, cb->test->n, cb->v, &e);
    if (st) {
        cb->st = st;
        return 1;
    }
    if (info->epoch - 1 < AL_MAX_CURVE) cb->curve[info->epoch - 1] += e.top3;
    cb->eval_seconds += al_wall_seconds() - t0;
    return 0;
}

static al_status pretrain_on(const al_scenario_config *c, al_pool *pool, const char *spec, const al_ids *stream,
                             int epochs, al_model **out) {
    al_model *m;
    al_status st = al_model_from_spec(spec, c->seed, &m);
    if (st) return st;
    al_dataset *d = NULL;
    st = al_text_windows(stream->v, stream->n, LM_T, c->batch, al_model_output_shape(m).shape[1], &d, NULL);
    if (!st) {
        al_train_config tc;
        al_train_recipe_text(&tc, c->batch, epochs, c->pretrain_lr, c->seed);
        al_train_report tr;
        st = al_lm_train(m, pool, d, &tc, &tr);
        if (!st) say(c, "cloud: %ld tokens, %d epoch(s), loss %.3f, %.1f s", stream->n, epochs, tr.final_loss, tr.seconds);
    }
    al_dataset_free(d);
    if (st) {
        al_model_free(m);
        return st;
    }
    *out = m;
    return AL_OK;
}

/* One user's autonomous learning; returns the top-3 after and the costs. */
static al_status autonomous_user(const al_scenario_config *c, al_pool *pool, const al_model *cloud, int freeze,
                                 const al_ids *train, const al_ids *test, const al_vocab *v, double *curve,
                                 al_lm_eval *e, al_personalize_report *pr, double *secs, double *cpu, double *pred) {
    al_model *work = NULL;
    al_cache *cache = NULL;
    al_status st = al_model_clone(cloud, &work);
    if (!st) st = al_model_freeze(work, freeze);
    if (!st) st = al_cache_new(c->cache_bytes, NULL, &cache);
    /* the keyboard, while the user typed: suggestions, and the cache fills */
    double p0 = al_wall_seconds();
    if (!st) st = al_lm_predict_stream(work, pool, train->v, train->n, cache);
    *pred = al_wall_seconds() - p0;
    al_personalize_config pc;
    al_personalize_config_default(&pc);
    al_train_recipe_text(&pc.train, c->batch, c->epochs, c->lr, c->seed + 1000);
    if (c->device_batch > 0) pc.train.batch = c->device_batch;
    pc.freeze = freeze;
    pc.train_rows = c->train_words;
    curve_cb cb = {work, pool, test, v, curve, 0, AL_OK};
    pc.train.progress = curve ? on_epoch : NULL;
    pc.train.progress_user = &cb;
    double w0 = al_wall_seconds(), c0 = al_cpu_seconds();
    if (!st) st = al_lm_personalize(work, pool, train->v, train->n, cache, &pc, pr);
    double w1 = al_wall_seconds(), c1 = al_cpu_seconds();
    if (!st && cb.st) st = cb.st;
    *secs = w1 - w0 - cb.eval_seconds;
    *cpu = c1 - c0 - cb.eval_seconds * (c1 - c0) / (w1 - w0 > 0 ? w1 - w0 : 1);
    if (!st) st = al_lm_evaluate(work, pool, test->v, test->n, v, e);
    al_cache_free(cache);
    al_model_free(work);
    return st;
}

static al_status alloc_result(al_method_result *m, int U) {
    m->acc = calloc((size_t)U, sizeof(double));
    m->acc_top1 = calloc((size_t)U, sizeof(double));
    m->ppl = calloc((size_t)U, sizeof(double));
    m->saved = calloc((size_t)U, sizeof(double));
    if (!m->acc || !m->acc_top1 || !m->ppl || !m->saved) return al_error(AL_ENOMEM, "out of memory");
    return AL_OK;
}

al_status al_scenario_text(const al_scenario_config *c, al_scenario_result *r) {
    memset(r, 0, sizeof *r);
    r->sel_global[0] = r->sel_global[1] = r->sel_autonomous[0] = r->sel_autonomous[1] = -1;
    al_text_corpus cp = {0};
    text_users u = {0};
    al_vocab *v = NULL;
    al_ids *pub = NULL, pubstream = {0}, pooled = {0};
    al_model *cloud = NULL, *work = NULL, *global = NULL;
    al_pool *pool = NULL;
    int *order = NULL, *is_sample = NULL;
    double *score = NULL, *fedsum = NULL;
    char *vocab_str = NULL;
    al_status st;
    unsigned mask = c->methods ? c->methods : (1u << AL_M_COUNT) - 1;
    int npub = 0;
    double t0 = al_wall_seconds();

    /* ---- data: corpus, users, public text, vocabulary ---- */
    if ((st = al_text_corpus_add_dir(&cp, c->data_dir, AL_CORPUS_SOTU))) goto done;
    const int nsotu = cp.n;
    if (c->extra_dirs) {
        char *buf = strdup(c->extra_dirs), *save = NULL;
        for (char *t = strtok_r(buf, ",", &save); t && !st; t = strtok_r(NULL, ",", &save))
            st = al_text_corpus_add_dir(&cp, t, strstr(t, "ham") || strstr(t, "spam") ? AL_CORPUS_MAIL : AL_CORPUS_PLAIN);
        free(buf);
        if (st) goto done;
    }
    if ((st = pick_users(&cp, c->user_list, c->users.users > 0 ? c->users.users : 10, &u))) goto done;
    for (int i = nsotu; i < cp.n; i++) u.user_of[i] = -1;
    const int U = u.nusers;
    r->users = U;
    r->user_names = calloc((size_t)U, sizeof(char *));
    for (int k = 0; k < U; k++) r->user_names[k] = strdup(u.names[k]);
    for (int i = 0; i < AL_M_COUNT; i++)
        if ((st = alloc_result(&r->m[i], U))) goto done;
    if ((st = al_vocab_new(&v))) goto done;
    for (int i = 0; i < cp.n; i++)
        if (u.user_of[i] < 0 && (st = al_vocab_count_text(v, cp.docs[i].text, cp.docs[i].len))) goto done;
    if ((st = al_vocab_finish(v, c->vocab_words))) goto done;
    const int V = al_vocab_size(v);
    pub = calloc((size_t)cp.n, sizeof(al_ids));
    order = malloc(sizeof(int) * (size_t)cp.n);
    is_sample = calloc((size_t)cp.n, sizeof(int));
    score = calloc((size_t)cp.n, sizeof(double));
    if (!pub || !order || !is_sample || !score) {
        st = al_error(AL_ENOMEM, "out of memory");
        goto done;
    }
    /* the public docs, and per user: all addresses but the latest, then the latest */
    int *pub_doc = malloc(sizeof(int) * (size_t)cp.n);
    for (int i = 0; i < cp.n && !st; i++) {
        int k = u.user_of[i];
        if (k < 0) {
            pub_doc[npub] = i;
            st = al_vocab_encode(v, cp.docs[i].text, cp.docs[i].len, &pub[npub++]);
            continue;
        }
        int latest = 1;
        for (int j = i + 1; j < nsotu; j++) latest &= u.user_of[j] != k;
        st = al_vocab_encode(v, cp.docs[i].text, cp.docs[i].len, latest ? &u.test[k] : &u.train[k]);
    }
    if (st) {
        free(pub_doc);
        goto done;
    }
    for (int k = 0; k < U; k++) {
        al_ids *a = &u.train[k];
        if (c->user_tokens > 0 && a->n > c->user_tokens) {
            memmove(a->v, a->v + (a->n - c->user_tokens), sizeof(int32_t) * (size_t)c->user_tokens);
            a->n = c->user_tokens;
        }
        r->user_tokens_mean += (double)a->n / U;
        r->test_tokens_mean += (double)u.test[k].n / U;
    }
    /* the in-domain sample for selection: one address (the first) per non-user president */
    for (int j = 0; j < npub; j++) {
        int i = pub_doc[j], first = i < nsotu;
        for (int q = 0; q < j && first; q++) first = !(pub_doc[q] < nsotu && !strcmp(cp.docs[pub_doc[q]].name, cp.docs[i].name));
        is_sample[j] = first;
    }
    free(pub_doc);
    /* pre-training text: public docs in a seeded random order (or by Moore-Lewis
     * score) up to the token budget */
    for (int j = 0; j < npub; j++) order[j] = j;
    {
        al_rng rg;
        al_rng_seed(&rg, c->seed, 0x7e47);
        for (int j = npub - 1; j > 0; j--) {
            int q = (int)al_rng_below(&rg, (uint32_t)j + 1u), tmp = order[j];
            order[j] = order[q];
            order[q] = tmp;
        }
    }
    long budget = c->pretrain_tokens > 0 ? c->pretrain_tokens : (1L << 40);
    moore_lewis(pub, npub, is_sample, V, score);
    if (c->select_public) {
        /* stable sort of the random order by descending score */
        for (int a = 1; a < npub; a++) {
            int x = order[a], b = a - 1;
            while (b >= 0 && score[order[b]] < score[x]) {
                order[b + 1] = order[b];
                b--;
            }
            order[b + 1] = x;
        }
    }
    if ((st = concat_budget(pub, order, npub, budget, &pubstream))) goto done;
    r->public_samples = (double)pubstream.n;
    if ((st = al_pool_new(c->threads, &pool))) goto done;
    r->seconds_data = al_wall_seconds() - t0;
    say(c, "data: %d addresses, %d users, %d public documents, vocabulary %d; public stream %ld tokens; "
           "private text %.0f tokens/user, test %.0f tokens/user (%.1f s)",
        nsotu, U, npub, V, pubstream.n, r->user_tokens_mean, r->test_tokens_mean, r->seconds_data);

    /* ---- cloud ---- */
    char spec[256];
    if (!strcmp(c->arch, "reflm"))
        snprintf(spec, sizeof spec, "tokens %d; embedding 64 vocab=%d; lstm 128; dense %d", LM_T, V, V);
    else
        snprintf(spec, sizeof spec, "%s", c->arch);
    t0 = al_wall_seconds();
    if (c->cloud_model) {
        if ((st = al_model_load(c->cloud_model, &cloud))) goto done;
        const char *vs = al_model_meta(cloud, "autlearn.vocab");
        al_vocab *mv = NULL;
        if (!vs) {
            st = al_error(AL_EINVAL, "%s has no vocabulary (autlearn.vocab)", c->cloud_model);
            goto done;
        }
        if ((st = al_vocab_parse(vs, &mv))) goto done;
        int same = al_vocab_size(mv) == V;
        for (int i = 0; same && i < V; i++) same = !strcmp(al_vocab_word(mv, i), al_vocab_word(v, i));
        al_vocab_free(mv);
        if (!same) {
            st = al_error(AL_EINVAL, "%s was pre-trained with another vocabulary (other users or data)", c->cloud_model);
            goto done;
        }
    } else {
        say(c, "cloud: pre-training on %ld public tokens, %d epoch(s)%s", pubstream.n, c->pretrain_epochs,
            c->select_public ? " (Moore-Lewis selected)" : "");
        if ((st = pretrain_on(c, pool, spec, &pubstream, c->pretrain_epochs, &cloud))) goto done;
        vocab_str = al_vocab_serialize(v);
        if (!vocab_str) {
            st = AL_ENOMEM;
            goto done;
        }
        char fz[32];
        snprintf(fz, sizeof fz, "%d", al_model_resolve_freeze(cloud, c->freeze));
        if ((st = al_model_set_meta(cloud, "autlearn.vocab", vocab_str)) ||
            (st = al_model_set_meta(cloud, "autlearn.scenario", "text")) ||
            (st = al_model_set_meta(cloud, "autlearn.freeze", fz)))
            goto done;
        if (c->save_cloud && (st = al_model_save(cloud, c->save_cloud))) goto done;
    }
    r->pretrain_seconds = al_wall_seconds() - t0;
    r->macs_per_sample = (double)al_model_macs(cloud);
    r->freeze = al_model_resolve_freeze(cloud, c->freeze);
    if (r->freeze < 1 || r->freeze >= cloud->nnodes) {
        st = al_error(AL_ERANGE, "freeze point %d: the embedding stays frozen and something must train (1..%d)",
                      r->freeze, cloud->nnodes - 1);
        goto done;
    }
    const double model_macs = (double)al_model_macs(cloud);
    if (c->cloud_step) {
        al_text_cloud tcd = {pool, &pubstream, U, u.test, v};
        st = c->cloud_step(c->cloud_step_user, cloud, &tcd);
        goto done;
    }
    if (mask & AL_M_PRETRAIN_ONLY) goto done;

    /* ---- global ---- */
    if (mask & (1u << AL_M_GLOBAL)) {
        al_method_result *m = &r->m[AL_M_GLOBAL];
        t0 = al_wall_seconds();
        if ((st = eval_users(cloud, pool, &u, v, m, &r->seconds_eval))) goto done;
        m->ran = 1;
        al_sim_stats(m, U);
        r->seconds_method[AL_M_GLOBAL] = al_wall_seconds() - t0;
        say(c, "global: top-3 %.4f, top-1 %.4f, perplexity %.1f", m->mean_acc, m->mean_top1, m->mean_ppl);
    }

    /* ---- autonomous ---- */
    if (mask & (1u << AL_M_AUTONOMOUS)) {
        al_method_result *m = &r->m[AL_M_AUTONOMOUS];
        double base = al_sim_rss_now_mb(), peak = 0, t1 = al_wall_seconds();
        for (int k = 0; k < U; k++) {
            al_lm_eval e;
            al_personalize_report pr;
            double secs, cpu, pred;
            al_rss_reset_peak();
            if ((st = autonomous_user(c, pool, cloud, r->freeze, &u.train[k], &u.test[k], v, m->curve, &e, &pr, &secs,
                                      &cpu, &pred)))
                goto done;
            double pk = al_rss_peak_mb() - base;
            if (pk > peak) peak = pk;
            m->acc[k] = e.top3;
            m->acc_top1[k] = e.top1;
            m->ppl[k] = e.ppl;
            m->saved[k] = e.saved;
            m->seconds += secs / U;
            m->cpu_seconds += cpu / U;
            m->macs += (double)pr.macs / U;
            r->first_epoch_seconds += pr.first_epoch_seconds / U;
            r->later_epoch_seconds += pr.later_epoch_seconds / U;
            say(c, "autonomous: %s top-3 %.4f (%.1f s training, prefix windows run %llu, cache hits %llu; "
                   "predict pass %.1f s)", u.names[k], e.top3, secs, (unsigned long long)pr.prefix_samples,
                (unsigned long long)pr.cache.hits, pred);
        }
        m->ncurve = AL_MIN(c->epochs, AL_MAX_CURVE);
        for (int e = 0; e < m->ncurve; e++) m->curve[e] /= U;
        m->peak_rss_mb = peak;
        m->ran = 1;
        al_sim_stats(m, U);
        r->seconds_method[AL_M_AUTONOMOUS] = al_wall_seconds() - t1;
        say(c, "autonomous: top-3 %.4f, top-1 %.4f, perplexity %.1f", m->mean_acc, m->mean_top1, m->mean_ppl);
    }

    /* ---- local: from scratch on the user's text ---- */
    if (mask & (1u << AL_M_LOCAL)) {
        al_method_result *m = &r->m[AL_M_LOCAL];
        double base = al_sim_rss_now_mb(), peak = 0, t1 = al_wall_seconds();
        for (int k = 0; k < U; k++) {
            al_dataset *d = NULL;
            if ((st = al_model_from_spec(cloud->spec, c->seed + 2000 + (uint64_t)k, &work))) goto done;
            if ((st = al_text_windows(u.train[k].v, u.train[k].n, LM_T, c->batch, V, &d, NULL))) goto done;
            al_train_config tc;
            al_train_recipe_text(&tc, c->batch, c->local_epochs, c->local_lr, c->seed + 3000 + (uint64_t)k);
            curve_cb cb = {work, pool, &u.test[k], v, m->curve, 0, AL_OK};
            tc.progress = on_epoch;
            tc.progress_user = &cb;
            al_rss_reset_peak();
            double w0 = al_wall_seconds(), c0 = al_cpu_seconds();
            al_train_report tr;
            st = al_lm_train(work, pool, d, &tc, &tr);
            double w1 = al_wall_seconds(), c1 = al_cpu_seconds();
            al_dataset_free(d);
            if (!st && cb.st) st = cb.st;
            if (st) goto done;
            double pk = al_rss_peak_mb() - base;
            if (pk > peak) peak = pk;
            m->seconds += (w1 - w0 - cb.eval_seconds) / U;
            m->cpu_seconds += (c1 - c0 - cb.eval_seconds * (c1 - c0) / (w1 - w0 > 0 ? w1 - w0 : 1)) / U;
            m->macs += 3.0 * model_macs * (double)tr.samples / U;
            al_lm_eval e;
            if ((st = al_lm_evaluate(work, pool, u.test[k].v, u.test[k].n, v, &e))) goto done;
            m->acc[k] = e.top3;
            m->acc_top1[k] = e.top1;
            m->ppl[k] = e.ppl;
            m->saved[k] = e.saved;
            al_model_free(work);
            work = NULL;
        }
        m->ncurve = AL_MIN(c->local_epochs, AL_MAX_CURVE);
        for (int e = 0; e < m->ncurve; e++) m->curve[e] /= U;
        m->peak_rss_mb = peak;
        m->ran = 1;
        al_sim_stats(m, U);
        r->seconds_method[AL_M_LOCAL] = al_wall_seconds() - t1;
        say(c, "local: top-3 %.4f, top-1 %.4f, perplexity %.1f", m->mean_acc, m->mean_top1, m->mean_ppl);
    }

    /* ---- centralized: the cloud LM trained on public + all private text ---- */
    if (mask & (1u << AL_M_CENTRALIZED)) {
        al_method_result *m = &r->m[AL_M_CENTRALIZED];
        double t1 = al_wall_seconds();
        /* interleave: the users' texts, then as much public text again */
        long priv = 0;
        for (int k = 0; k < U && !st; k++) {
            for (long i = 0; i < u.train[k].n && !st; i++) st = al_ids_push(&pooled, u.train[k].v[i]);
            priv += u.train[k].n;
        }
        for (long i = 0; i < AL_MIN(priv, pubstream.n) && !st; i++) st = al_ids_push(&pooled, pubstream.v[i]);
        al_dataset *d = NULL;
        if (!st) st = al_model_clone(cloud, &work);
        if (!st) st = al_model_freeze(work, 0);
        if (!st) st = al_text_windows(pooled.v, pooled.n, LM_T, c->batch, V, &d, NULL);
        if (!st) {
            al_train_config tc;
            al_train_recipe_text(&tc, c->batch, c->central_epochs, c->pretrain_lr * 0.5, c->seed + 4000);
            al_train_report tr;
            say(c, "centralized: training on %ld pooled tokens, %d epoch(s)", pooled.n, c->central_epochs);
            st = al_lm_train(work, pool, d, &tc, &tr);
        }
        al_dataset_free(d);
        if (!st) st = eval_users(work, pool, &u, v, m, &r->seconds_eval);
        if (st) goto done;
        /* the device uploads its text: about 6 bytes a token (a word and a space) */
        m->bytes_uploaded = 6.0 * r->user_tokens_mean;
        m->ran = 1;
        al_sim_stats(m, U);
        al_model_free(work);
        work = NULL;
        r->seconds_method[AL_M_CENTRALIZED] = al_wall_seconds() - t1;
        say(c, "centralized: top-3 %.4f, top-1 %.4f, perplexity %.1f", m->mean_acc, m->mean_top1, m->mean_ppl);
    }

    /* ---- federated averaging from the cloud LM (all layers but the embedding) ---- */
    if (mask & (1u << AL_M_FEDAVG)) {
        al_method_result *m = &r->m[AL_M_FEDAVG];
        double t1 = al_wall_seconds(), base = al_sim_rss_now_mb(), peak = 0;
        if ((st = al_model_clone(cloud, &global)) || (st = al_model_freeze(global, 1)) ||
            (st = al_model_clone(global, &work)))
            goto done;
        size_t nw = global->nweights;
        fedsum = calloc(nw, sizeof(double));
        double total = 0;
        for (int rd = 0; rd < c->rounds && !st; rd++) {
            memset(fedsum, 0, sizeof(double) * nw);
            total = 0;
            for (int k = 0; k < U && !st; k++) {
                al_dataset *d = NULL;
                al_model_copy_weights(work, global);
                if ((st = al_text_windows(u.train[k].v, u.train[k].n, LM_T, c->batch, V, &d, NULL))) break;
                al_train_config tc;
                al_train_recipe_text(&tc, c->batch, c->fed_epochs, c->lr, c->seed + 5000 + (uint64_t)(rd * U + k));
                tc.sched = AL_SCHED_CONST;
                al_rss_reset_peak();
                double w0 = al_wall_seconds(), c0 = al_cpu_seconds();
                al_train_report tr;
                st = al_lm_train(work, pool, d, &tc, &tr);
                m->seconds += al_wall_seconds() - w0;
                m->cpu_seconds += al_cpu_seconds() - c0;
                double pk = al_rss_peak_mb() - base;
                if (pk > peak) peak = pk;
                al_dataset_free(d);
                m->macs += 3.0 * model_macs * (double)tr.samples;
                for (size_t i = 0; i < nw; i++) fedsum[i] += (double)u.train[k].n * work->wblock[i];
                total += (double)u.train[k].n;
            }
            if (st) break;
            for (size_t i = 0; i < nw; i++) global->wblock[i] = (float)(fedsum[i] / total);
            double acc = 0;
            for (int k = 0; k < U && !st; k++) {
                al_lm_eval e;
                st = al_lm_evaluate(global, pool, u.test[k].v, u.test[k].n, v, &e);
                acc += e.top3;
                if (rd == c->rounds - 1) {
                    m->acc[k] = e.top3;
                    m->acc_top1[k] = e.top1;
                    m->ppl[k] = e.ppl;
                    m->saved[k] = e.saved;
                }
            }
            if (rd < AL_MAX_CURVE) m->curve[rd] = acc / U;
            say(c, "fedavg: round %d/%d top-3 %.4f", rd + 1, c->rounds, acc / U);
        }
        if (st) goto done;
        m->ncurve = AL_MIN(c->rounds, AL_MAX_CURVE);
        m->seconds /= U;
        m->cpu_seconds /= U;
        m->macs /= U;
        m->peak_rss_mb = peak;
        /* each round uploads the trained weights (all but the embedding) */
        size_t up = 0;
        for (int i = 1; i < global->nnodes; i++)
            for (int p = 0; p < global->nodes[i].nparams; p++) up += global->nodes[i].params[p].n;
        m->bytes_uploaded = (double)c->rounds * (double)up * sizeof(float);
        m->ran = 1;
        al_sim_stats(m, U);
        r->seconds_method[AL_M_FEDAVG] = al_wall_seconds() - t1;
    }

    /* ---- selected vs random public text at the same token budget ---- */
    if (c->select_public && !c->cloud_model) {
        /* the run above used the selected text; pre-train again on random docs */
        al_ids rnd = {0};
        for (int j = 0; j < npub; j++) order[j] = j;
        al_rng rg;
        al_rng_seed(&rg, c->seed, 0x7e47);
        for (int j = npub - 1; j > 0; j--) {
            int q = (int)al_rng_below(&rg, (uint32_t)j + 1u), tmp = order[j];
            order[j] = order[q];
            order[q] = tmp;
        }
        st = concat_budget(pub, order, npub, pubstream.n, &rnd);
        al_model *alt = NULL;
        if (!st) st = pretrain_on(c, pool, spec, &rnd, c->pretrain_epochs, &alt);
        al_ids_free(&rnd);
        double g = 0, a = 0;
        for (int k = 0; k < U && !st; k++) {
            al_lm_eval e;
            al_personalize_report pr;
            double secs, cpu, pred;
            if ((st = al_lm_evaluate(alt, pool, u.test[k].v, u.test[k].n, v, &e))) break;
            g += e.top3 / U;
            if ((st = autonomous_user(c, pool, alt, r->freeze, &u.train[k], &u.test[k], v, NULL, &e, &pr, &secs, &cpu,
                                      &pred)))
                break;
            a += e.top3 / U;
        }
        al_model_free(alt);
        if (st) goto done;
        r->sel_global[0] = g;
        r->sel_autonomous[0] = a;
        r->sel_global[1] = r->m[AL_M_GLOBAL].ran ? r->m[AL_M_GLOBAL].mean_acc : -1;
        r->sel_autonomous[1] = r->m[AL_M_AUTONOMOUS].ran ? r->m[AL_M_AUTONOMOUS].mean_acc : -1;
        say(c, "selection at %ld public tokens: global %.4f random vs %.4f selected; autonomous %.4f vs %.4f",
            pubstream.n, g, r->sel_global[1], a, r->sel_autonomous[1]);
    }
done:
    free(fedsum);
    if (pub)
        for (int j = 0; j < cp.n; j++) al_ids_free(&pub[j]);
    free(pub);
    free(order);
    free(is_sample);
    free(score);
    al_free(vocab_str);
    al_ids_free(&pubstream);
    al_ids_free(&pooled);
    al_model_free(global);
    al_model_free(work);
    al_model_free(cloud);
    al_pool_free(pool);
    al_vocab_free(v);
    users_free(&u);
    al_text_corpus_free(&cp);
    if (st) al_scenario_result_free(r);
    return st;
}

al_status al_sim_text_user(const char *data_dir, const char *vocab, const char *name, long cap, al_ids *train,
                           al_ids *test) {
    al_text_corpus cp = {0};
    al_vocab *v = NULL;
    al_status st = al_vocab_parse(vocab, &v);
    if (!st) st = al_text_corpus_add_dir(&cp, data_dir, AL_CORPUS_SOTU);
    int last = -1, n = 0;
    for (int i = 0; i < cp.n && !st; i++)
        if (!strcmp(cp.docs[i].name, name)) last = i, n++;
    if (!st && n < 2) st = al_error(AL_EINVAL, "user '%s': %d addresses in %s, a user needs at least 2", name, n, data_dir);
    for (int i = 0; i < cp.n && !st; i++)
        if (!strcmp(cp.docs[i].name, name))
            st = al_vocab_encode(v, cp.docs[i].text, cp.docs[i].len, i == last ? test : train);
    if (!st && cap > 0 && train->n > cap) {
        memmove(train->v, train->v + (train->n - cap), sizeof(int32_t) * (size_t)cap);
        train->n = cap;
    }
    al_vocab_free(v);
    al_text_corpus_free(&cp);
    return st;
}
