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
 * Accuracy is top-3 next-word accuracy (an <unk> target is a miss).
 * Validation (users.val_per_user = N > 0): the last N tokens of each user's
 * private text (the most recent, after the cap) are held out of every
 * method's training; with eval_validation every method is scored there and
 * the test text is never read. users.public_val = P > 0: the last P tokens
 * of the public stream are held out of pre-training (and centralized) and
 * the cloud model's top-3 on them is reported. The unigram-prior baselines
 * (global+p, central+p, fedavg+p) shift the model's output bias by the
 * user's word counts against the model's own mean prediction on the user's
 * text (al_lm_prior_shift); autonomous runs the device's recipe chooser
 * (al_lm_personalize_auto) unless a recipe is fixed. Ditto (named in
 * methods) runs inside fedavg's rounds: each user's personal LM (all but the
 * embedding, as fedavg's client) trained toward the round's global model.
 * One function per phase and method; what the image scenario shares with it
 * is in scenario_common.c. */
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
    c->label_prior = 0.0; /* text: the unigram prior's strength of a fixed recipe and the +p baselines (0: 0.5) */
    c->recipe = AL_RECIPE_AUTO;
    c->ngram_mix = 1;
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

/* The users (presidents) and their text. */
typedef struct {
    int nusers;
    int *user_of;        /* per doc: user index or -1 (public) */
    char **names;
    al_ids *train, *test, *val; /* per user (val: empty without users.val_per_user) */
} text_users;

static void users_free(text_users *u) {
    if (!u->names) return;
    for (int k = 0; k < u->nusers; k++) {
        free(u->names[k]);
        al_ids_free(&u->train[k]);
        al_ids_free(&u->test[k]);
        al_ids_free(&u->val[k]);
    }
    free(u->names);
    free(u->train);
    free(u->test);
    free(u->val);
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
                    al_status st = al_error(AL_EINVAL, "user '%s' is listed twice", t);
                    free(buf);
                    return st;
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
    u->val = calloc((size_t)u->nusers, sizeof(al_ids));
    if (!u->train || !u->test || !u->val) return al_error(AL_ENOMEM, "out of memory");
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

/* One run of the text scenario: what its phases share. */
typedef struct text_run {
    const al_scenario_config *c;
    al_scenario_result *r;
    al_text_corpus cp;
    int nsotu;             /* the first nsotu documents are addresses, the rest off-domain text */
    text_users u;
    int users;
    al_vocab *v;
    int V;                 /* vocabulary size */
    al_ids *pub;           /* the public documents (cp.n allocated, npub used) */
    int npub;
    int *order;            /* npub: the order of pre-training */
    int *is_sample;        /* npub: in the in-domain sample of Moore-Lewis selection */
    double *score;         /* npub: Moore-Lewis scores */
    al_ids pubstream;      /* the pre-training text */
    al_ids pubval;         /* the public validation text (users.public_val tokens cut from the stream's end) */
    char spec[256];        /* the cloud architecture */
    al_pool *pool;
    al_model *cloud;
    double model_macs;     /* forward MACs of one window */
    double ft_wall, ft_cpu, ft_macs, ft_macs_prior; /* fedavg-ft's device job, fedavg+p's shift (sums over users) */
    double fp_wall, fp_cpu, fp_peak; /* fedavg+p's shift and mixture weight: seconds (sums), peak MB (largest) */
    al_sim_ditto *ditto;   /* ditto: the users' personal models, while fedavg runs */
} text_run;

static void text_run_free(text_run *s) {
    if (s->pub)
        for (int j = 0; j < s->cp.n; j++) al_ids_free(&s->pub[j]);
    free(s->pub);
    free(s->order);
    free(s->is_sample);
    free(s->score);
    al_ids_free(&s->pubstream);
    al_ids_free(&s->pubval);
    al_model_free(s->cloud);
    al_pool_free(s->pool);
    al_vocab_free(s->v);
    users_free(&s->u);
    al_text_corpus_free(&s->cp);
}

/* A model's results on user k's test text into the method's per-user arrays. */
static void set_user(al_method_result *m, int k, const al_lm_eval *e) {
    m->acc[k] = e->top3;
    m->acc_top1[k] = e->top1;
    m->ppl[k] = e->ppl;
    m->saved[k] = e->saved;
    m->word_acc[k] = e->word_top3;
}

/* Evaluation of one model on every user's test text. */
static al_status eval_users(al_model *m, al_pool *pool, const text_users *u, const al_vocab *v, int validation,
                            al_method_result *res, double *secs) {
    double t0 = al_wall_seconds();
    for (int k = 0; k < u->nusers; k++) {
        al_lm_eval e;
        const al_ids *at = validation ? &u->val[k] : &u->test[k];
        al_status st = al_lm_evaluate(m, pool, at->v, at->n, v, &e);
        if (st) return st;
        set_user(res, k, &e);
    }
    *secs += al_wall_seconds() - t0;
    return AL_OK;
}

/* The learning curve's evaluation (al_sim_curve.eval): top-3 accuracy. */
static al_status text_eval(const al_sim_curve *cb, double *acc) {
    const al_ids *test = cb->test;
    al_lm_eval e;
    al_status st = al_lm_evaluate(cb->m, cb->pool, test->v, test->n, cb->vocab, &e);
    if (!st) *acc = e.top3;
    return st;
}

/* order = 0..n-1 in the seeded random order of the public documents. */
static void random_order(int *order, int n, uint64_t seed) {
    for (int j = 0; j < n; j++) order[j] = j;
    al_rng rg;
    al_rng_seed(&rg, seed, 0x7e47);
    for (int j = n - 1; j > 0; j--) {
        int q = (int)al_rng_below(&rg, (uint32_t)j + 1u), tmp = order[j];
        order[j] = order[q];
        order[q] = tmp;
    }
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
        if (!st)
            al_sim_say(c, "cloud: %ld tokens, %d epoch(s), loss %.3f, %.1f s", stream->n, epochs, tr.final_loss,
                       tr.seconds);
    }
    al_dataset_free(d);
    if (st) {
        al_model_free(m);
        return st;
    }
    *out = m;
    return AL_OK;
}

/* ---- data: corpus, users, vocabulary, public text ---- */

/* The addresses, then the off-domain public text. */
static al_status text_corpus(text_run *s) {
    const al_scenario_config *c = s->c;
    al_status st = al_text_corpus_add_dir(&s->cp, c->data_dir, AL_CORPUS_SOTU);
    if (st) return st;
    s->nsotu = s->cp.n;
    if (c->extra_dirs) {
        char *buf = strdup(c->extra_dirs), *save = NULL;
        if (!buf) return al_error(AL_ENOMEM, "out of memory");
        for (char *t = strtok_r(buf, ",", &save); t && !st; t = strtok_r(NULL, ",", &save))
            st = al_text_corpus_add_dir(&s->cp, t, strstr(t, "ham") || strstr(t, "spam") ? AL_CORPUS_MAIL : AL_CORPUS_PLAIN);
        free(buf);
    }
    return st;
}

/* The users, their names in the result, the result arrays; the vocabulary of the public documents. */
static al_status text_users_vocab(text_run *s) {
    const al_scenario_config *c = s->c;
    al_scenario_result *r = s->r;
    al_status st = pick_users(&s->cp, c->user_list, c->users.users > 0 ? c->users.users : 10, &s->u);
    if (st) return st;
    for (int i = s->nsotu; i < s->cp.n; i++) s->u.user_of[i] = -1;
    s->users = r->users = s->u.nusers;
    if (!(r->user_names = calloc((size_t)s->users, sizeof(char *)))) return al_error(AL_ENOMEM, "out of memory");
    for (int k = 0; k < s->users; k++) r->user_names[k] = strdup(s->u.names[k]);
    if ((st = al_sim_results_alloc(r, s->users, 1))) return st;
    if ((st = al_vocab_new(&s->v))) return st;
    for (int i = 0; i < s->cp.n; i++)
        if (s->u.user_of[i] < 0 && (st = al_vocab_count_text(s->v, s->cp.docs[i].text, s->cp.docs[i].len))) return st;
    if ((st = al_vocab_finish(s->v, c->vocab_words))) return st;
    s->V = al_vocab_size(s->v);
    return AL_OK;
}

/* The public docs, and per user: all addresses but the latest (the most
 * recent user_tokens tokens), then the latest; the in-domain sample for
 * selection: one address (the first) per non-user president. */
static al_status text_encode(text_run *s) {
    const al_text_corpus *cp = &s->cp;
    text_users *u = &s->u;
    al_status st = AL_OK;
    s->pub = calloc((size_t)cp->n, sizeof(al_ids));
    s->order = malloc(sizeof(int) * (size_t)cp->n);
    s->is_sample = calloc((size_t)cp->n, sizeof(int));
    s->score = calloc((size_t)cp->n, sizeof(double));
    int *pub_doc = malloc(sizeof(int) * (size_t)cp->n);
    if (!s->pub || !s->order || !s->is_sample || !s->score || !pub_doc) {
        free(pub_doc);
        return al_error(AL_ENOMEM, "out of memory");
    }
    for (int i = 0; i < cp->n && !st; i++) {
        int k = u->user_of[i];
        if (k < 0) {
            pub_doc[s->npub] = i;
            st = al_vocab_encode(s->v, cp->docs[i].text, cp->docs[i].len, &s->pub[s->npub++]);
            continue;
        }
        int latest = 1;
        for (int j = i + 1; j < s->nsotu; j++) latest &= u->user_of[j] != k;
        st = al_vocab_encode(s->v, cp->docs[i].text, cp->docs[i].len, latest ? &u->test[k] : &u->train[k]);
    }
    if (st) {
        free(pub_doc);
        return st;
    }
    const long cap = s->c->user_tokens;
    for (int k = 0; k < s->users; k++) {
        al_ids *a = &u->train[k];
        if (cap > 0 && a->n > cap) {
            memmove(a->v, a->v + (a->n - cap), sizeof(int32_t) * (size_t)cap);
            a->n = cap;
        }
        const long nv = s->c->users.val_per_user;
        if (nv > 0) {
            /* the user's validation text: the most recent nv tokens of the private text */
            if (a->n - nv < 2L * LM_T * AL_MAX(s->c->batch, s->c->device_batch) + 1) {
                free(pub_doc);
                return al_error(AL_EINVAL, "user '%s': %ld private tokens leave too little to train after %ld held out "
                                           "for validation", u->names[k], a->n, nv);
            }
            for (long i = a->n - nv; i < a->n && !st; i++) st = al_ids_push(&u->val[k], a->v[i]);
            a->n -= nv;
            if (st) {
                free(pub_doc);
                return st;
            }
        }
        s->r->user_tokens_mean += (double)a->n / s->users;
        s->r->test_tokens_mean += (double)u->test[k].n / s->users;
    }
    for (int j = 0; j < s->npub; j++) {
        int i = pub_doc[j], first = i < s->nsotu;
        for (int q = 0; q < j && first; q++)
            first = !(pub_doc[q] < s->nsotu && !strcmp(cp->docs[pub_doc[q]].name, cp->docs[i].name));
        s->is_sample[j] = first;
    }
    free(pub_doc);
    return AL_OK;
}

/* Pre-training text: public docs in a seeded random order (or by
 * Moore-Lewis score) up to the token budget. */
static al_status text_public_stream(text_run *s) {
    const al_scenario_config *c = s->c;
    const int n = s->npub;
    random_order(s->order, n, c->seed);
    long budget = c->pretrain_tokens > 0 ? c->pretrain_tokens : (1L << 40);
    moore_lewis(s->pub, n, s->is_sample, s->V, s->score);
    if (c->select_public) {
        /* stable sort of the random order by descending score */
        for (int a = 1; a < n; a++) {
            int x = s->order[a], b = a - 1;
            while (b >= 0 && s->score[s->order[b]] < s->score[x]) {
                s->order[b + 1] = s->order[b];
                b--;
            }
            s->order[b + 1] = x;
        }
    }
    al_status st = concat_budget(s->pub, s->order, n, budget, &s->pubstream);
    if (st) return st;
    const long pv = c->users.public_val;
    if (pv > 0) {
        /* the cloud's validation text: the stream's last pv tokens, never pre-trained on */
        if (s->pubstream.n - pv < 2L * LM_T * c->batch + 1)
            return al_error(AL_EINVAL, "the public stream's %ld tokens leave too little to pre-train on after %ld held "
                                       "out for validation", s->pubstream.n, pv);
        for (long i = s->pubstream.n - pv; i < s->pubstream.n && !st; i++)
            st = al_ids_push(&s->pubval, s->pubstream.v[i]);
        s->pubstream.n -= pv;
        if (st) return st;
    }
    s->r->public_samples = (double)s->pubstream.n;
    return AL_OK;
}

static al_status text_data(text_run *s) {
    al_scenario_result *r = s->r;
    double t0 = al_wall_seconds();
    al_status st;
    if ((st = text_corpus(s)) || (st = text_users_vocab(s)) || (st = text_encode(s)) || (st = text_public_stream(s)) ||
        (st = al_pool_new(s->c->threads, &s->pool)))
        return st;
    r->seconds_data = al_wall_seconds() - t0;
    al_sim_say(s->c, "data: %d addresses, %d users, %d public documents, vocabulary %d; public stream %ld tokens; "
                     "private text %.0f tokens/user, test %.0f tokens/user (%.1f s)",
               s->nsotu, s->users, s->npub, s->V, s->pubstream.n, r->user_tokens_mean, r->test_tokens_mean,
               r->seconds_data);
    return AL_OK;
}

/* ---- cloud: the language model pre-trained on public text (or loaded) ---- */

/* c->cloud_model, which must hold this run's vocabulary. */
static al_status text_cloud_load(text_run *s) {
    const char *path = s->c->cloud_model;
    al_status st = al_model_load(path, &s->cloud);
    if (st) return st;
    const char *vs = al_model_meta(s->cloud, "autlearn.vocab");
    if (!vs) return al_error(AL_EINVAL, "%s has no vocabulary (autlearn.vocab)", path);
    al_vocab *mv = NULL;
    if ((st = al_vocab_parse(vs, &mv))) return st;
    int same = al_vocab_size(mv) == s->V;
    for (int i = 0; same && i < s->V; i++) same = !strcmp(al_vocab_word(mv, i), al_vocab_word(s->v, i));
    al_vocab_free(mv);
    if (!same) return al_error(AL_EINVAL, "%s was pre-trained with another vocabulary (other users or data)", path);
    return AL_OK;
}

/* Pre-training on the public stream; the vocabulary, scenario and freeze point go into the model. */
static al_status text_cloud_pretrain(text_run *s) {
    const al_scenario_config *c = s->c;
    al_sim_say(c, "cloud: pre-training on %ld public tokens, %d epoch(s)%s", s->pubstream.n, c->pretrain_epochs,
               c->select_public ? " (Moore-Lewis selected)" : "");
    al_status st = pretrain_on(c, s->pool, s->spec, &s->pubstream, c->pretrain_epochs, &s->cloud);
    if (st) return st;
    char *vocab_str = al_vocab_serialize(s->v);
    if (!vocab_str) return AL_ENOMEM;
    char fz[32];
    snprintf(fz, sizeof fz, "%d", al_model_resolve_freeze(s->cloud, c->freeze));
    if (!(st = al_model_set_meta(s->cloud, "autlearn.vocab", vocab_str)) &&
        !(st = al_model_set_meta(s->cloud, "autlearn.scenario", "text")))
        st = al_model_set_meta(s->cloud, "autlearn.freeze", fz);
    al_free(vocab_str);
    if (!st && c->save_cloud) st = al_model_save(s->cloud, c->save_cloud);
    return st;
}

static al_status text_cloud(text_run *s) {
    const al_scenario_config *c = s->c;
    al_scenario_result *r = s->r;
    if (!strcmp(c->arch, "reflm"))
        snprintf(s->spec, sizeof s->spec, "tokens %d; embedding 64 vocab=%d; lstm 128; dense %d", LM_T, s->V, s->V);
    else
        snprintf(s->spec, sizeof s->spec, "%s", c->arch);
    double t0 = al_wall_seconds();
    al_status st = c->cloud_model ? text_cloud_load(s) : text_cloud_pretrain(s);
    if (st) return st;
    r->pretrain_seconds = al_wall_seconds() - t0;
    r->macs_per_sample = (double)al_model_macs(s->cloud);
    r->freeze = al_model_resolve_freeze(s->cloud, c->freeze);
    if (r->freeze < 1 || r->freeze >= s->cloud->nnodes)
        return al_error(AL_ERANGE, "freeze point %d: the embedding stays frozen and something must train (1..%d)",
                        r->freeze, s->cloud->nnodes - 1);
    s->model_macs = (double)al_model_macs(s->cloud);
    if (s->pubval.n > 0) {
        al_lm_eval e;
        if ((st = al_lm_evaluate(s->cloud, s->pool, s->pubval.v, s->pubval.n, s->v, &e))) return st;
        r->public_val_top3 = e.top3;
        al_sim_say(c, "cloud: top-3 %.4f on the %ld public validation tokens", e.top3, s->pubval.n);
    }
    return AL_OK;
}

/* Where user k's methods are scored: the validation text when tuning
 * (eval_validation), else the test text. */
static const al_ids *score_ids(const text_run *s, int k) {
    return s->c->eval_validation ? &s->u.val[k] : &s->u.test[k];
}

/* One model download: its weights as floats. */
static double model_bytes(const text_run *s) { return (double)s->cloud->nweights * sizeof(float); }

/* The prior strength of the +p baselines and a fixed recipe's shift. */
static double prior_strength(const al_scenario_config *c) { return c->label_prior > 0 ? c->label_prior : 0.5; }

/* model shifted by user k's unigram prior (against model's own mean
 * prediction on the user's training text) into *out; *macs += its work. */
static al_status prior_model(const text_run *s, const al_model *model, int k, double strength, al_model **out,
                             double *macs) {
    const al_ids *tr = &s->u.train[k];
    /* the model's outputs (a given architecture may have more than the vocabulary's words) */
    const size_t V = al_shape_numel(&model->nodes[model->nnodes - 1].out) / (size_t)model->in.d[0];
    double *q = malloc(sizeof(double) * V);
    if (!q) return al_error(AL_ENOMEM, "out of memory");
    uint64_t qm = 0;
    al_status st = al_model_clone(model, out);
    if (!st) st = al_lm_marginal(*out, s->pool, tr->v, tr->n, q, &qm);
    if (!st) st = al_lm_prior_shift(*out, q, tr->v, tr->n, strength);
    free(q);
    if (st) {
        al_model_free(*out);
        *out = NULL;
    }
    if (macs) *macs += (double)qm;
    return st;
}

/* Scores `model` on user k's scoring text mixed with the user's bigram
 * model (counted on the training text) at `weight` (0: the model alone). */
static al_status eval_mixed(const text_run *s, al_model *model, int k, double weight, al_lm_eval *e) {
    const al_ids *tr = &s->u.train[k], *at = score_ids(s, k);
    if (!(weight > 0)) return al_lm_evaluate(model, s->pool, at->v, at->n, s->v, e);
    al_lm_ngram *g = NULL;
    /* the model's outputs (a given architecture may have more than the vocabulary's words) */
    al_status st = al_lm_ngram_new((int)(al_shape_numel(&model->nodes[model->nnodes - 1].out) / (size_t)model->in.d[0]), &g);
    if (!st) st = al_lm_ngram_count(g, tr->v, tr->n);
    if (!st) st = al_lm_evaluate_mix(model, s->pool, g, weight, at->v, NULL, at->n, s->v, e);
    al_lm_ngram_free(g);
    return st;
}

/* The weight of user k's bigram mixture where the chooser does not pick it
 * itself (the +p methods, fedavg-ft, a fixed recipe): chosen by the device
 * as the chooser would, on the last part of its text with the bigram model
 * of the rest (al_lm_mix_choose), for `model` shifted by the prior at the
 * +p strength. The pooled methods pass the cloud model, which the device
 * holds before its text is used anywhere: their own models trained on the
 * device's text, split included, so it would tell them nothing. 0 without
 * c->ngram_mix. *macs += the device's work. */
static al_status mix_weight(const text_run *s, const al_model *model, int k, double *weight, double *macs) {
    const al_ids *tr = &s->u.train[k];
    *weight = 0.0;
    if (!s->c->ngram_mix) return AL_OK;
    al_personalize_config pc;
    al_personalize_config_default(&pc);
    uint64_t wm = 0;
    al_status st = al_lm_mix_choose(model, s->pool, tr->v, tr->n, pc.val_fraction, prior_strength(s->c), weight, &wm);
    *macs += (double)wm;
    return st;
}

/* The +p methods: `model` as the device personalizes it without training --
 * shifted by user k's unigram prior, and mixed with the user's bigram model
 * (mix_weight, chosen with the cloud model) -- scored into *e; *macs += the
 * device's work, dev[0] and dev[1] += its wall and CPU seconds, dev[2] the
 * largest resident-set peak above the start of its work (the scoring not
 * included). */
static al_status prior_eval(const text_run *s, const al_model *model, int k, al_lm_eval *e, double *macs, double dev[3]) {
    double weight = 0.0, wall, cpu, base = al_sim_rss_now_mb();
    al_sim_clock clk;
    al_rss_reset_peak();
    al_sim_clock_start(&clk);
    al_status st = mix_weight(s, s->cloud, k, &weight, macs);
    al_model *w = NULL;
    if (!st) st = prior_model(s, model, k, prior_strength(s->c), &w, macs);
    al_sim_clock_stop(&clk, 0, &wall, &cpu);
    dev[0] += wall;
    dev[1] += cpu;
    double pk = al_rss_peak_mb() - base;
    if (pk > dev[2]) dev[2] = pk;
    if (!st) st = eval_mixed(s, w, k, weight, e);
    al_model_free(w);
    return st;
}

/* The prior-shifted (and mixed) model's scores for every user into m (the
 * device's cost: the marginal passes and their seconds, per user). */
static al_status prior_scores(text_run *s, const al_model *model, al_method_result *m) {
    al_status st = AL_OK;
    double macs = 0, dev[3] = {0, 0, 0};
    for (int k = 0; k < s->users && !st; k++) {
        al_lm_eval e;
        if (!(st = prior_eval(s, model, k, &e, &macs, dev))) set_user(m, k, &e);
    }
    m->macs = macs / s->users;
    m->seconds = dev[0] / s->users;
    m->cpu_seconds = dev[1] / s->users;
    m->peak_rss_mb = dev[2];
    return st;
}

/* ---- autonomous: the cloud LM personalized on each device ---- */

/* One user's autonomous learning from `cloud`; returns the top-3 after and
 * the costs. c->recipe: AL_RECIPE_AUTO the device's chooser (why: its
 * sentence, malloc'd; may be NULL), prior the unigram prior alone, head,
 * last-block or deep that recipe's freeze point (with the prior first when
 * label_prior > 0), config the configured freeze point (r->freeze). The
 * bigram mixture: the chooser picks its weight with the rest, unless
 * `pooled` (fedavg-ft: `cloud` trained on the device's text, its split
 * included), where, as for a fixed recipe, mix_weight gives it. */
static al_status autonomous_user(const text_run *s, const al_model *cloud, int pooled, int k, double *curve,
                                 al_lm_eval *e, al_personalize_report *pr, double *secs, double *cpu, double *pred,
                                 char **why) {
    const al_scenario_config *c = s->c;
    const al_ids *train = &s->u.train[k], *test = score_ids(s, k);
    al_model *work = NULL;
    al_cache *cache = NULL;
    al_status st = AL_OK;
    const al_recipe rc = c->recipe;
    int freeze = s->r->freeze;
    if (rc == AL_RECIPE_HEAD || rc == AL_RECIPE_LAST_BLOCK || rc == AL_RECIPE_DEEP || rc == AL_RECIPE_PRIOR) {
        freeze = al_recipe_freeze(cloud, rc == AL_RECIPE_PRIOR ? AL_RECIPE_HEAD : rc);
        if (freeze < 0) return al_error(AL_EINVAL, "recipe %s does not apply to this model", al_recipe_name(rc));
    } else if (rc != AL_RECIPE_AUTO && rc != AL_RECIPE_CONFIG) {
        return al_error(AL_EINVAL, "recipe %s is for image models (text: auto, prior, head, last-block, deep, config)",
                        al_recipe_name(rc));
    }
    double shift_macs = 0;
    al_sim_clock clk;
    al_sim_clock_start(&clk);
    /* a fixed recipe with the prior: the shift first (what the chooser may do too) */
    if (rc == AL_RECIPE_PRIOR || (rc != AL_RECIPE_AUTO && c->label_prior > 0))
        st = prior_model(s, cloud, k, prior_strength(c), &work, &shift_macs);
    else
        st = al_model_clone(cloud, &work);
    if (!st) st = al_model_freeze(work, freeze);
    if (!st) st = al_cache_new(c->cache_bytes, NULL, &cache);
    /* the keyboard, while the user typed: suggestions, and the cache fills */
    double p0 = al_wall_seconds();
    if (!st) st = al_lm_predict_stream(work, s->pool, train->v, train->n, cache);
    *pred = al_wall_seconds() - p0;
    al_personalize_config pc;
    al_personalize_config_default(&pc);
    al_train_recipe_text(&pc.train, c->batch, c->epochs, c->lr, c->seed + 1000);
    if (c->device_batch > 0) pc.train.batch = c->device_batch;
    pc.ngram_mix = c->ngram_mix && !pooled;
    pc.freeze = freeze;
    pc.train_rows = rc == AL_RECIPE_CONFIG ? c->train_words : 0;
    pc.budget_macs = c->budget_macs;
    al_sim_curve cb = {text_eval, work, s->pool, test, 0, s->v, curve, 0, AL_OK};
    pc.train.progress = curve ? al_sim_on_epoch : NULL;
    pc.train.progress_user = &cb;
    memset(pr, 0, sizeof *pr);
    double mix = 0.0;
    if (!st && (rc != AL_RECIPE_AUTO || pooled)) st = mix_weight(s, pooled ? s->cloud : cloud, k, &mix, &shift_macs);
    if (!st && rc == AL_RECIPE_AUTO) {
        al_lm_auto_report ar;
        st = al_lm_personalize_auto(work, s->pool, train->v, train->n, cache, &pc, &ar);
        if (!st) {
            *pr = ar.a.final;
            pr->macs = ar.a.search_macs + ar.a.final.macs;
            if (!pooled) mix = ar.mix_chosen;
            for (int i = 0; i < ar.a.ntries; i++)
                if (ar.a.tries[i].status == AL_TRY_RUN)
                    al_sim_say(c, "autonomous: %s tried %s%s (prior strength %.2g, bigram weight %.2g): validation "
                               "log-loss %.4f, top-3 %.4f, %.3g MACs",
                               s->u.names[k],
                               ar.a.tries[i].recipe == AL_RECIPE_PRIOR && ar.prior[i] == 0
                                   ? "the bigram"
                                   : al_recipe_name(ar.a.tries[i].recipe),
                               ar.a.tries[i].recipe == AL_RECIPE_PRIOR ? " only" : "", ar.prior[i], ar.mix[i],
                               ar.loss[i], ar.a.tries[i].val_acc, (double)ar.a.tries[i].macs);
            al_sim_say(c, "autonomous: %s chose %s", s->u.names[k], ar.a.why);
            if (why) *why = strdup(ar.a.why);
        }
    } else if (!st && rc != AL_RECIPE_PRIOR) {
        st = al_lm_personalize(work, s->pool, train->v, train->n, cache, &pc, pr);
    }
    pr->macs += (uint64_t)shift_macs;
    /* the predict pass is the keyboard's: not the training's cost */
    al_sim_clock_stop(&clk, cb.eval_seconds + *pred, secs, cpu);
    if (!st && cb.st) st = cb.st;
    /* the keyboard's predictions: the personal model, mixed with the
     * user's bigram model of its whole text when the chooser picked a weight */
    if (!st) st = eval_mixed(s, work, k, mix, e);
    /* a job that trained fewer epochs (the cloud model kept, the prior
     * alone) stays at its final accuracy for the rest of the curve */
    if (!st && curve)
        for (int ep = pr->train.epochs_run; ep < c->epochs && ep < AL_MAX_CURVE; ep++) curve[ep] += e->top3;
    al_cache_free(cache);
    al_model_free(work);
    return st;
}

static al_status autonomous_job(void *ctx, int k, al_sim_meter *t) {
    text_run *s = ctx;
    al_scenario_result *r = s->r;
    al_lm_eval e;
    al_personalize_report pr;
    double secs, cpu, pred;
    al_rss_reset_peak();
    char *why = NULL;
    al_status st = autonomous_user(s, s->cloud, 0, k, t->m->curve, &e, &pr, &secs, &cpu, &pred, &why);
    if (r->choice && why) r->choice[k] = why;
    else free(why);
    if (st) return st;
    al_sim_meter_peak(t);
    set_user(t->m, k, &e);
    al_sim_meter_add(t, secs, cpu, (double)pr.macs);
    r->first_epoch_seconds += pr.first_epoch_seconds / s->users;
    r->later_epoch_seconds += pr.later_epoch_seconds / s->users;
    al_sim_say(s->c, "autonomous: %s top-3 %.4f (%.1f s training, prefix windows run %llu, cache hits %llu; "
                     "predict pass %.1f s)",
               s->u.names[k], e.top3, secs, (unsigned long long)pr.prefix_samples, (unsigned long long)pr.cache.hits,
               pred);
    return AL_OK;
}

/* ---- local: from scratch on the user's text ---- */
static al_status local_job(void *ctx, int k, al_sim_meter *t) {
    text_run *s = ctx;
    const al_scenario_config *c = s->c;
    const al_ids *train = &s->u.train[k], *test = score_ids(s, k);
    al_model *work = NULL;
    al_dataset *d = NULL;
    al_status st;
    if ((st = al_model_from_spec(s->cloud->spec, c->seed + 2000 + (uint64_t)k, &work)) ||
        (st = al_text_windows(train->v, train->n, LM_T, c->batch, s->V, &d, NULL)))
        goto done;
    al_train_config tc;
    al_train_recipe_text(&tc, c->batch, c->local_epochs, c->local_lr, c->seed + 3000 + (uint64_t)k);
    al_sim_curve cb = {text_eval, work, s->pool, test, 0, s->v, t->m->curve, 0, AL_OK};
    tc.progress = al_sim_on_epoch;
    tc.progress_user = &cb;
    al_sim_clock clk;
    double wall, cpu;
    al_rss_reset_peak();
    al_sim_clock_start(&clk);
    al_train_report tr;
    st = al_lm_train(work, s->pool, d, &tc, &tr);
    al_sim_clock_stop(&clk, cb.eval_seconds, &wall, &cpu);
    al_dataset_free(d);
    d = NULL;
    if (!st && cb.st) st = cb.st;
    if (st) goto done;
    al_sim_meter_peak(t);
    al_sim_meter_add(t, wall, cpu, 3.0 * s->model_macs * (double)tr.samples);
    al_lm_eval e;
    if ((st = al_lm_evaluate(work, s->pool, test->v, test->n, s->v, &e))) goto done;
    set_user(t->m, k, &e);
done:
    al_dataset_free(d);
    al_model_free(work);
    return st;
}

/* ---- centralized: the cloud LM trained on public + all private text ---- */
static al_status text_centralized(text_run *s) {
    const al_scenario_config *c = s->c;
    al_method_result *m = &s->r->m[AL_M_CENTRALIZED];
    al_ids pooled = {0};
    al_model *work = NULL;
    al_dataset *d = NULL;
    al_status st = AL_OK;
    /* interleave: the users' texts, then as much public text again */
    long priv = 0;
    for (int k = 0; k < s->users && !st; k++) {
        for (long i = 0; i < s->u.train[k].n && !st; i++) st = al_ids_push(&pooled, s->u.train[k].v[i]);
        priv += s->u.train[k].n;
    }
    for (long i = 0; i < AL_MIN(priv, s->pubstream.n) && !st; i++) st = al_ids_push(&pooled, s->pubstream.v[i]);
    if (!st) st = al_model_clone(s->cloud, &work);
    if (!st) st = al_model_freeze(work, 0);
    if (!st) st = al_text_windows(pooled.v, pooled.n, LM_T, c->batch, s->V, &d, NULL);
    if (!st) {
        al_train_config tc;
        al_train_recipe_text(&tc, c->batch, c->central_epochs, c->central_lr > 0 ? c->central_lr : c->pretrain_lr * 0.5,
                             c->seed + 4000);
        al_train_report tr;
        al_sim_say(c, "centralized: training on %ld pooled tokens, %d epoch(s)", pooled.n, c->central_epochs);
        st = al_lm_train(work, s->pool, d, &tc, &tr);
    }
    al_dataset_free(d);
    if (!st) st = eval_users(work, s->pool, &s->u, s->v, s->c->eval_validation, m, &s->r->seconds_eval);
    if (!st) {
        /* the device uploads its text: about 6 bytes a token (a word and a space) */
        m->bytes_uploaded = 6.0 * s->r->user_tokens_mean;
        m->bytes_downloaded = model_bytes(s);
        al_sim_method_done(m, s->users);
    }
    if (!st && (s->c->methods & (1u << AL_M_CENTRAL_PRIOR))) {
        /* the same model, shifted by each user's words against its own prediction on them */
        al_method_result *mp = &s->r->m[AL_M_CENTRAL_PRIOR];
        if (!(st = prior_scores(s, work, mp))) {
            mp->bytes_uploaded = m->bytes_uploaded;
            mp->bytes_downloaded = m->bytes_downloaded;
            al_sim_method_done(mp, s->users);
            al_sim_say_method(c, AL_M_CENTRAL_PRIOR, mp);
        }
    }
    al_model_free(work);
    al_ids_free(&pooled);
    return st;
}

/* ---- federated averaging from the cloud LM (all layers but the embedding; al_sim_fedavg) ---- */
static al_status fed_train(void *ctx, al_model *work, int rd, int k, al_sim_meter *t, double *weight) {
    text_run *s = ctx;
    const al_scenario_config *c = s->c;
    const al_ids *train = &s->u.train[k];
    al_dataset *d = NULL;
    /* the device's batch (autonomous's), fedavg's own client learning rate */
    const int B = c->device_batch > 0 ? c->device_batch : c->batch;
    al_status st = al_text_windows(train->v, train->n, LM_T, B, s->V, &d, NULL);
    if (st) return st;
    al_train_config tc;
    al_train_recipe_text(&tc, B, c->fed_epochs, c->fed_lr > 0 ? c->fed_lr : c->lr,
                         c->seed + 5000 + (uint64_t)(rd * s->users + k));
    if (!c->fed_cosine) tc.sched = AL_SCHED_CONST;
    if (c->fed_rollbacks >= 0) tc.max_rollbacks = c->fed_rollbacks;
    al_sim_clock clk;
    double wall, cpu;
    al_rss_reset_peak();
    al_sim_clock_start(&clk);
    al_train_report tr;
    st = al_lm_train(work, s->pool, d, &tc, &tr);
    al_sim_clock_stop(&clk, 0, &wall, &cpu);
    al_sim_meter_peak(t);
    al_dataset_free(d);
    if (st) return st;
    al_sim_meter_add(t, wall, cpu, 3.0 * s->model_macs * (double)tr.samples);
    *weight = (double)train->n;
    return AL_OK;
}

static al_status fed_eval(void *ctx, al_model *global, int k, int last, double *acc) {
    text_run *s = ctx;
    const al_ids *at = score_ids(s, k);
    al_lm_eval e;
    al_status st = al_lm_evaluate(global, s->pool, at->v, at->n, s->v, &e);
    if (st) return st;
    *acc = e.top3;
    if (!last) return AL_OK;
    set_user(&s->r->m[AL_M_FEDAVG], k, &e);
    if (s->c->methods & (1u << AL_M_FEDAVG_PRIOR)) {
        /* the final model shifted by the user's words (and mixed with its bigram model) */
        double macs = 0, dev[3] = {0, 0, 0};
        if ((st = prior_eval(s, global, k, &e, &macs, dev))) return st;
        set_user(&s->r->m[AL_M_FEDAVG_PRIOR], k, &e);
        s->ft_macs_prior += macs;
        s->fp_wall += dev[0];
        s->fp_cpu += dev[1];
        if (dev[2] > s->fp_peak) s->fp_peak = dev[2];
    }
    if (s->c->methods & (1u << AL_M_FEDAVG_FT)) {
        /* the final model personalized on the device as autonomous is (the chooser by default) */
        al_personalize_report pr;
        double secs, cpu, pred;
        char *why = NULL;
        st = autonomous_user(s, global, 1, k, NULL, &e, &pr, &secs, &cpu, &pred, &why);
        free(why);
        if (st) return st;
        set_user(&s->r->m[AL_M_FEDAVG_FT], k, &e);
        s->ft_wall += secs;
        s->ft_cpu += cpu;
        s->ft_macs += (double)pr.macs;
    }
    return AL_OK;
}

/* Ditto's personal step of user k in round rd (al_sim_fedavg.personal): the
 * user's personal LM trained on its text as fedavg's client trains the
 * global one (the device's batch, the client's learning rate and schedule,
 * ditto_epochs), with L2-SP toward the round's global model (Ditto's
 * proximal term). Diverged past the rollbacks: the last good weights stay. */
static al_status ditto_step(void *ctx, const al_model *global, int rd, int k) {
    text_run *s = ctx;
    const al_scenario_config *c = s->c;
    al_sim_ditto *d = s->ditto;
    const al_ids *train = &s->u.train[k];
    const int B = c->device_batch > 0 ? c->device_batch : c->batch;
    al_dataset *data = NULL;
    al_status st = al_text_windows(train->v, train->n, LM_T, B, s->V, &data, NULL);
    if (st) return st;
    al_sim_ditto_load(d, k);
    al_train_config tc;
    al_train_recipe_text(&tc, B, c->ditto_epochs > 0 ? c->ditto_epochs : c->fed_epochs, c->fed_lr > 0 ? c->fed_lr : c->lr,
                         c->seed + 5000 + (uint64_t)(rd * s->users + k));
    if (!c->fed_cosine) tc.sched = AL_SCHED_CONST;
    if (c->fed_rollbacks >= 0) tc.max_rollbacks = c->fed_rollbacks;
    tc.l2sp = c->ditto_lambda;
    tc.l2sp_ref = global;
    al_sim_clock clk;
    double wall, cpu;
    al_rss_reset_peak();
    al_sim_clock_start(&clk);
    al_train_report tr;
    memset(&tr, 0, sizeof tr);
    st = al_lm_train(d->work, s->pool, data, &tc, &tr);
    al_sim_clock_stop(&clk, 0, &wall, &cpu);
    al_sim_meter_peak(&d->t);
    al_dataset_free(data);
    if (st == AL_ENUMERIC) {
        al_sim_say(c, "ditto: round %d: %s's personal step diverged (%s); it keeps its last good weights", rd + 1,
                   s->u.names[k], al_last_error());
        d->m->diverged++;
        st = AL_OK;
    }
    if (st) return st;
    al_sim_meter_add(&d->t, wall, cpu, 3.0 * s->model_macs * (double)tr.samples);
    al_sim_ditto_store(d, k);
    return AL_OK;
}

/* User k's score of a personal model (ditto's, fedrep's) on its scoring
 * text, into method's results: mixed with the user's bigram model at the
 * weight the device chooses with the cloud model (mix_weight, as for the
 * pooled methods: the personal model has trained on the device's split), so
 * these baselines get the keyboard's n-gram that autonomous gets. Choosing
 * the weight is the device's work: its MACs and seconds join the method's. */
static al_status score_personal(text_run *s, al_model *model, int k, int method) {
    al_lm_eval e;
    double weight = 0.0, macs = 0.0, wall, cpu;
    al_sim_clock clk;
    al_sim_clock_start(&clk);
    al_status st = mix_weight(s, s->cloud, k, &weight, &macs);
    al_sim_clock_stop(&clk, 0, &wall, &cpu);
    if (!st) st = eval_mixed(s, model, k, weight, &e);
    if (st == AL_OK) {
        al_method_result *m = &s->r->m[method];
        set_user(m, k, &e);
        m->macs += macs / s->users;
        m->seconds += wall / s->users;
        m->cpu_seconds += cpu / s->users;
    }
    return st;
}

static al_status ditto_score(void *ctx, al_model *model, int k) { return score_personal(ctx, model, k, AL_M_DITTO); }

static al_status text_fedavg(text_run *s) {
    al_method_result *m = &s->r->m[AL_M_FEDAVG];
    al_sim_fedavg f = {fed_train, fed_eval, s, 1, "top-3", 1, NULL, NULL};
    al_sim_ditto ditto;
    memset(&ditto, 0, sizeof ditto);
    al_status st = AL_OK;
    if (s->c->methods & (1u << AL_M_DITTO)) {
        /* the personal models start as the cloud LM; the embedding stays the cloud's, as fedavg's */
        s->ditto = &ditto;
        f.personal = ditto_step;
        st = al_sim_ditto_begin(&ditto, s->cloud, 1, s->c->device_batch > 0 ? s->c->device_batch : s->c->batch,
                                s->users, &s->r->m[AL_M_DITTO]);
        f.final_weights = ditto.global;
    }
    if (st == AL_OK) st = al_sim_fedavg_run(s->c, s->cloud, s->users, &f, m);
    if (st) {
        al_sim_ditto_free(&ditto);
        s->ditto = NULL;
        return st;
    }
    /* each round uploads the trained weights (all but the embedding), but not from a client whose training
     * diverged */
    size_t up = 0;
    for (int i = 1; i < s->cloud->nnodes; i++)
        for (int p = 0; p < s->cloud->nodes[i].nparams; p++) up += s->cloud->nodes[i].params[p].n;
    m->bytes_uploaded = ((double)s->c->rounds - (double)m->clients_dropped / s->users) * (double)up * sizeof(float);
    /* the device downloads the cloud model, each round's and the final one */
    m->bytes_downloaded = (double)(s->c->rounds + 1) * model_bytes(s);
    for (int i = AL_M_FEDAVG_PRIOR; i <= AL_M_FEDAVG_FT; i++) {
        if (!(s->c->methods & (1u << i))) continue;
        al_method_result *e = &s->r->m[i];
        al_sim_copy_costs(e, m);
        if (i == AL_M_FEDAVG_PRIOR) {
            e->macs += s->ft_macs_prior / s->users;
            e->seconds += s->fp_wall / s->users;
            e->cpu_seconds += s->fp_cpu / s->users;
            if (s->fp_peak > e->peak_rss_mb) e->peak_rss_mb = s->fp_peak;
        }
        if (i == AL_M_FEDAVG_FT) {
            e->seconds += s->ft_wall / s->users;
            e->cpu_seconds += s->ft_cpu / s->users;
            e->macs += s->ft_macs / s->users;
        }
        al_sim_method_done(e, s->users);
        al_sim_say_method(s->c, i, e);
    }
    if (s->ditto) {
        st = al_sim_ditto_end(&ditto, m, ditto_score, s);
        al_sim_ditto_free(&ditto);
        s->ditto = NULL;
        if (st) return st; /* (its line: al_sim_run_methods) */
    }
    return AL_OK;
}

/* ---- fedrep: a shared body (the LSTM; the embedding stays the cloud's, as
 * fedavg's), a personal output layer per user (al_sim_personal_run) ---- */

/* FedRep's local update of user k in round rd: the output layer trained for
 * fedrep_head_epochs with everything below it held, then the LSTM for
 * fed_epochs under the held output layer (al_train_config.train_end), both
 * at the device's batch and fedavg's client learning rate. */
static al_status fedrep_train(void *ctx, al_model *work, int rd, int k, al_sim_meter *t, double *weight) {
    text_run *s = ctx;
    const al_scenario_config *c = s->c;
    const al_ids *train = &s->u.train[k];
    const int B = c->device_batch > 0 ? c->device_batch : c->batch, hnode = work->nnodes - 1;
    const al_node *head = &work->nodes[hnode];
    const double lr = c->fed_lr > 0 ? c->fed_lr : c->lr, head_macs = head->vt->macs ? (double)head->vt->macs(head) : 0;
    const uint64_t seed = (uint64_t)(rd * s->users + k);
    al_dataset *d = NULL;
    al_status st = al_text_windows(train->v, train->n, LM_T, B, s->V, &d, NULL);
    if (st) return st;
    al_sim_clock clk;
    double wall, cpu, macs = 0;
    al_rss_reset_peak();
    al_sim_clock_start(&clk);
    al_train_config tc;
    al_train_report tr;
    if (c->fedrep_head_epochs > 0 && (st = al_model_freeze(work, hnode)) == AL_OK) {
        al_train_recipe_text(&tc, B, c->fedrep_head_epochs, lr, c->seed + 7000 + seed);
        if (c->fed_rollbacks >= 0) tc.max_rollbacks = c->fed_rollbacks;
        if (!c->fed_cosine) tc.sched = AL_SCHED_CONST;
        /* the forward through everything, the backward of the output layer alone */
        if ((st = al_lm_train(work, s->pool, d, &tc, &tr)) == AL_OK)
            macs += (s->model_macs + 2.0 * head_macs) * (double)tr.samples;
    }
    if (st == AL_OK && (st = al_model_freeze(work, 1)) == AL_OK) {
        al_train_recipe_text(&tc, B, c->fed_epochs, lr, c->seed + 5000 + seed);
        if (c->fed_rollbacks >= 0) tc.max_rollbacks = c->fed_rollbacks;
        if (!c->fed_cosine) tc.sched = AL_SCHED_CONST;
        tc.train_end = hnode;
        if ((st = al_lm_train(work, s->pool, d, &tc, &tr)) == AL_OK) macs += 3.0 * s->model_macs * (double)tr.samples;
    }
    al_sim_clock_stop(&clk, 0, &wall, &cpu);
    al_sim_meter_peak(t);
    al_dataset_free(d);
    if (st) return st;
    al_sim_meter_add(t, wall, cpu, macs);
    *weight = (double)train->n;
    return AL_OK;
}

static al_status fedrep_score(void *ctx, al_model *model, int k) { return score_personal(ctx, model, k, AL_M_FEDREP); }

static al_status text_fedrep(text_run *s) {
    al_method_result *m = &s->r->m[AL_M_FEDREP];
    al_sim_personal p = {fedrep_train, fedrep_score, s, AL_M_FEDREP, 1, 1};
    size_t hn = 0;
    al_status st = al_sim_personal_run(s->c, s->cloud, s->users, &p, m, &hn);
    if (st) return st;
    /* the body that trains and goes up: every node between the embedding and the output layer */
    size_t body = 0;
    for (int i = 1; i < s->cloud->nnodes - 1; i++)
        for (int q = 0; q < s->cloud->nodes[i].nparams; q++) body += s->cloud->nodes[i].params[q].n;
    m->bytes_uploaded = ((double)s->c->rounds - (double)m->clients_dropped / s->users) * (double)body * sizeof(float);
    /* the cloud model, then each round's mean body (the last one the final body) */
    m->bytes_downloaded = model_bytes(s) + (double)s->c->rounds * (double)body * sizeof(float);
    return AL_OK;
}

static al_status text_method(void *ctx, int method) {
    text_run *s = ctx;
    switch (method) {
    case AL_M_GLOBAL: {
        al_method_result *m = &s->r->m[AL_M_GLOBAL];
        al_status st = eval_users(s->cloud, s->pool, &s->u, s->v, s->c->eval_validation, m, &s->r->seconds_eval);
        m->bytes_downloaded = model_bytes(s);
        if (!st) al_sim_method_done(m, s->users);
        return st;
    }
    case AL_M_GLOBAL_PRIOR: {
        al_method_result *m = &s->r->m[AL_M_GLOBAL_PRIOR];
        al_status st = prior_scores(s, s->cloud, m);
        m->bytes_downloaded = model_bytes(s);
        if (!st) al_sim_method_done(m, s->users);
        return st;
    }
    case AL_M_AUTONOMOUS: {
        al_status st = al_sim_each_user(&s->r->m[AL_M_AUTONOMOUS], s->users, 1, s->c->epochs, autonomous_job, s);
        s->r->m[AL_M_AUTONOMOUS].bytes_downloaded = model_bytes(s);
        return st;
    }
    case AL_M_LOCAL: return al_sim_each_user(&s->r->m[AL_M_LOCAL], s->users, 1, s->c->local_epochs, local_job, s);
    case AL_M_CENTRALIZED: return text_centralized(s);
    case AL_M_FEDAVG: return text_fedavg(s);
    case AL_M_FEDREP: return text_fedrep(s);
    }
    return AL_OK;
}

/* ---- selected vs random public text at the same token budget ---- */
static al_status text_selection(text_run *s) {
    const al_scenario_config *c = s->c;
    al_scenario_result *r = s->r;
    /* the run above used the selected text; pre-train again on random docs */
    al_ids rnd = {0};
    random_order(s->order, s->npub, c->seed);
    al_status st = concat_budget(s->pub, s->order, s->npub, s->pubstream.n, &rnd);
    al_model *alt = NULL;
    if (!st) st = pretrain_on(c, s->pool, s->spec, &rnd, c->pretrain_epochs, &alt);
    al_ids_free(&rnd);
    double g = 0, a = 0;
    for (int k = 0; k < s->users && !st; k++) {
        al_lm_eval e;
        al_personalize_report pr;
        double secs, cpu, pred;
        if ((st = al_lm_evaluate(alt, s->pool, score_ids(s, k)->v, score_ids(s, k)->n, s->v, &e))) break;
        g += e.top3 / s->users;
        if ((st = autonomous_user(s, alt, 0, k, NULL, &e, &pr, &secs, &cpu, &pred, NULL))) break;
        a += e.top3 / s->users;
    }
    al_model_free(alt);
    if (st) return st;
    r->sel_global[0] = g;
    r->sel_autonomous[0] = a;
    r->sel_global[1] = r->m[AL_M_GLOBAL].ran ? r->m[AL_M_GLOBAL].mean_acc : -1;
    r->sel_autonomous[1] = r->m[AL_M_AUTONOMOUS].ran ? r->m[AL_M_AUTONOMOUS].mean_acc : -1;
    al_sim_say(c, "selection at %ld public tokens: global %.4f random vs %.4f selected; autonomous %.4f vs %.4f",
               s->pubstream.n, g, r->sel_global[1], a, r->sel_autonomous[1]);
    return AL_OK;
}

al_status al_scenario_text(const al_scenario_config *c0, al_scenario_result *r) {
    memset(r, 0, sizeof *r);
    r->cloud_public_val_acc = -1.0;
    r->sel_global[0] = r->sel_global[1] = r->sel_autonomous[0] = r->sel_autonomous[1] = -1;
    /* the by-products run with their base method */
    al_scenario_config cc = *c0;
    const al_scenario_config *c = &cc;
    if (cc.methods & (1u << AL_M_CENTRAL_PRIOR)) cc.methods |= 1u << AL_M_CENTRALIZED;
    if (cc.methods & ((1u << AL_M_FEDAVG_PRIOR) | (1u << AL_M_FEDAVG_FT) | (1u << AL_M_DITTO)))
        cc.methods |= 1u << AL_M_FEDAVG;
    if (cc.methods & (1u << AL_M_FEDPER)) return al_error(AL_EINVAL, "fedper is an image scenario method");
    if (cc.eval_validation && cc.users.val_per_user < 1)
        return al_error(AL_EINVAL, "scoring on validation needs a validation split (val_per_user > 0 tokens)");
    text_run s = {0};
    s.c = c;
    s.r = r;
    al_status st;
    if ((st = text_data(&s)) || (st = text_cloud(&s))) goto done;
    if (c->recipe == AL_RECIPE_AUTO && !(r->choice = calloc((size_t)s.users, sizeof(char *)))) {
        st = al_error(AL_ENOMEM, "out of memory");
        goto done;
    }
    if (c->cloud_step) {
        al_text_cloud tcd = {s.pool, &s.pubstream, s.users, s.u.test, s.v};
        st = c->cloud_step(c->cloud_step_user, s.cloud, &tcd);
        goto done;
    }
    if (c->methods & AL_M_PRETRAIN_ONLY) goto done;
    if ((st = al_sim_run_methods(c, r, text_method, &s))) goto done;
    if (c->select_public && !c->cloud_model) st = text_selection(&s);
done:
    text_run_free(&s);
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
