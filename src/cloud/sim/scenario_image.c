/* The image scenario: one simulation, on one machine, of a cloud and its
 * users' devices, comparing per user
 *   global       the pre-trained cloud model as is
 *   local        the same architecture trained from scratch on the user's data
 *   autonomous   cloud model + on-device transfer learning (frozen prefix,
 *                augmentation, runtime cache) on the user's data
 *   centralized  the cloud model trained further on public + all private data
 *                pooled (what privacy forbids)
 *   fedavg       federated averaging from the cloud model
 * and, when named, the prior-corrected and personalized federated baselines
 * (sim.h; ditto: fedavg with a personal model per user beside it).
 * Every device-side job is timed on its own; evaluation for the learning
 * curves is excluded from the cost. One function per phase and method; what
 * the text scenario shares with it is in scenario_common.c.
 * Under --shift newclass the cloud model knows only the seen classes (its
 * output layer has that many rows); each method is scored through a map
 * from its outputs to the data set's labels, so that a class a model lacks
 * counts as wrong (docs/SCENARIOS.md says what each method may do). */
#include "sim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void al_scenario_config_default(al_scenario_config *c) {
    memset(c, 0, sizeof *c);
    c->scenario = "image";
    c->data_dir = "data/fashion-mnist";
    c->arch = "refcnn";
    al_users_config_default(&c->users);
    c->pretrain_epochs = 3;
    c->pretrain_lr = 0.05;
    c->epochs = 10;
    /* device defaults measured on seeds 1-3 (README, "Choosing the defaults"):
     * label-prior correction, then a gentle fine-tune of the output layer
     * held near that starting point by L2-SP */
    c->lr = 0.01;
    c->fed_lr = 0.05;
    c->local_epochs = 20;
    c->local_lr = 0.02;
    c->rounds = 5;
    c->fed_epochs = 1;
    /* FedRep (Collins et al. 2021) trains the head for more local passes
     * than the body (10 against 1 there, on a head trained from scratch);
     * here the head starts as the cloud's output layer and a user holds
     * about 200 images, so 2 passes per round (docs/SCENARIOS.md) */
    c->fedrep_head_epochs = 2;
    /* Ditto (Li et al. 2021): lambda 1, the middle of the range the paper
     * searches (0.01..2; docs/SCENARIOS.md); the personal step as many
     * epochs per round as the client's update of the global model */
    c->ditto_lambda = 1.0;
    c->ditto_epochs = 0;
    c->central_epochs = 1;
    c->freeze = -1;
    c->aug_variants = 1;
    c->recipe = AL_RECIPE_AUTO;
    al_augment_config_default(&c->aug);
    c->label_prior = 1.0;
    c->l2sp = 1.0;
    c->lr_split = 0;
    c->lr_below = 1.0;
    c->fed_rollbacks = -1;
    c->cache_bytes = (size_t)64 << 20;
    c->batch = 32;
    c->threads = 1;
    c->seed = 1;
}

/* Public + all private training data in one set (the centralized baseline). */
static al_status pool_data(const al_users *u, al_dataset **out) {
    const al_dataset *pub = al_users_public(u);
    int n = pub->n;
    for (int k = 0; k < al_users_count(u); k++) n += al_users_train(u, k)->n;
    int K = pub->num_classes;
    if (al_users_count(u) > 0 && al_users_train(u, 0)->num_classes > K) K = al_users_train(u, 0)->num_classes;
    al_dataset *d;
    al_status st = al_dataset_alloc(n, &pub->xs, 1, K, &d);
    if (st) return st;
    size_t xn = al_shape_numel(&pub->xs);
    int o = 0;
    for (int k = -1; k < al_users_count(u); k++) {
        const al_dataset *s = k < 0 ? pub : al_users_train(u, k);
        memcpy(d->x + (size_t)o * xn, s->x, sizeof(float) * xn * (size_t)s->n);
        memcpy(d->y + o, s->y, sizeof(int32_t) * (size_t)s->n);
        o += s->n;
    }
    *out = d;
    return AL_OK;
}

al_status al_sim_load_users(const al_scenario_config *c, al_users **out) {
    al_dataset *train = NULL, *test = NULL;
    al_status st = al_idx_load_dir(c->data_dir, 0, &train);
    if (st == AL_OK) st = al_idx_load_dir(c->data_dir, 1, &test);
    al_users_config uc = c->users;
    uc.seed = c->seed;
    if (st == AL_OK) st = al_users_split(train, test, &uc, out);
    al_dataset_free(train);
    al_dataset_free(test);
    return st;
}

/* A fresh model of spec with its output layer (the last layer, a dense
 * one) sized K: the cloud's architecture for the seen classes only (or,
 * from the cloud model, for all of them). */
static al_status model_with_outputs(const char *spec, int K, uint64_t seed, al_model **out) {
    al_layer_cfg *layers;
    al_shape in;
    int tokens = 0, n = 0;
    al_status st = al_spec_parse_alloc(spec, &in, &tokens, &layers, &n);
    if (st) return st;
    if (n < 1 || layers[n - 1].type != AL_L_DENSE)
        st = al_error(AL_EINVAL, "--shift newclass needs an architecture whose last layer is a dense one (one output "
                                 "per class)");
    if (st == AL_OK) {
        layers[n - 1].units = K;
        if ((st = al_model_build(&in, tokens, layers, n, out)) == AL_OK) al_model_init_weights(*out, seed);
    }
    al_free(layers);
    return st;
}

al_status al_sim_pretrain(const al_scenario_config *c, al_pool *pool, const al_dataset *pub, al_progress_fn progress,
                          void *progress_user, al_model **out) {
    al_model *m;
    al_status st = al_model_from_spec(c->arch, c->seed, &m);
    if (st) return st;
    if (c->users.shift == AL_SHIFT_NEWCLASS && pub->y_len == 1 && al_model_num_classes(m) != pub->num_classes) {
        /* the cloud knows the seen classes only: its output layer has one row each */
        al_model *seen;
        st = model_with_outputs(m->spec, pub->num_classes, c->seed, &seen);
        al_model_free(m);
        if (st) return st;
        m = seen;
    }
    al_train_config tc;
    al_train_recipe_image(&tc, c->batch, c->pretrain_epochs, c->pretrain_lr, c->seed);
    tc.progress = progress;
    tc.progress_user = progress_user;
    al_trainer *t;
    if ((st = al_trainer_new(m, pool, &tc, &t)) == AL_OK) {
        al_train_report tr;
        st = al_trainer_run(t, pub, NULL, &tr);
        al_trainer_free(t);
    }
    if (st == AL_OK) st = al_model_set_meta(m, "autlearn.scenario", c->scenario);
    if (st == AL_OK) {
        char buf[32];
        snprintf(buf, sizeof buf, "%d", al_model_arch_freeze(m));
        st = al_model_set_meta(m, "autlearn.freeze", buf);
    }
    if (st == AL_OK && pub->y_len == 1 && pub->num_classes >= 2 && pub->num_classes <= 1024 && pub->n > 0) {
        /* the public class prior, for the device's label-prior correction */
        int K = pub->num_classes;
        double *cnt = calloc((size_t)K, sizeof(double));
        char *buf = malloc((size_t)K * 24 + 1);
        if (!cnt || !buf) {
            st = al_error(AL_ENOMEM, "out of memory");
        } else {
            for (int i = 0; i < pub->n; i++)
                if (pub->y[i] >= 0 && pub->y[i] < K) cnt[pub->y[i]] += 1.0;
            size_t o = 0;
            for (int k = 0; k < K; k++)
                o += (size_t)snprintf(buf + o, 24, "%s%.6g", k ? "," : "", (cnt[k] + 1.0) / (pub->n + K));
            st = al_model_set_meta(m, "autlearn.class_prior", buf);
        }
        free(cnt);
        free(buf);
    }
    if (st) {
        al_model_free(m);
        return st;
    }
    *out = m;
    return AL_OK;
}

/* One run of the image scenario: what its phases share. */
typedef struct image_run {
    const al_scenario_config *c;
    al_scenario_result *r;
    al_users *u;
    al_pool *pool;
    al_model *cloud;
    int users;
    double model_macs;   /* forward MACs of one sample */
    double ft_wall, ft_cpu, ft_macs; /* fedavg-ft: the device fine-tuning's sums over users */
    /* newclass: the data's classes C, the cloud's (the seen ones, labels
     * 0..S-1); grown: the cloud model with C outputs, the unseen classes'
     * rows as a fresh layer's (where the baselines that cannot imprint start) */
    int C, S, newclass;
    al_model *grown;
    /* --rehearsal E: E public images of each of the cloud's classes, shipped
     * with the model (al_exemplars); autonomous mixes them in where the
     * device holds a class the cloud never saw (al_personalize_config.rehearsal) */
    al_dataset *exemplars;
    al_sim_ditto *ditto; /* ditto: the users' personal models, while fedavg runs */
} image_run;

static const al_dataset *score_set(const image_run *s, int k);
static al_status score(image_run *s, al_model *model, const int *label, int k, int method);
static int wants(const image_run *s, int method) { return (s->c->methods & (1u << method)) != 0; }

/* The model's output layer, when it is a dense layer over K classes with a
 * bias: its node, else NULL. */
static al_node *output_dense(al_model *m, int K) {
    al_node *out = &m->nodes[m->nnodes - 1];
    if (out->cfg.type != AL_L_DENSE || !out->cfg.bias || out->cfg.units != K || out->nparams < 2 ||
        out->params[1].n != (size_t)K)
        return NULL;
    return out;
}

/* Class frequencies of d (K entries, summing to 1, add-one smoothed). */
static void class_freq(const al_dataset *d, int K, double *q) {
    for (int k = 0; k < K; k++) q[k] = 1.0;
    for (int i = 0; i < d->n; i++)
        if (d->y[i] >= 0 && d->y[i] < K) q[d->y[i]] += 1.0;
    for (int k = 0; k < K; k++) q[k] /= (double)(d->n + K);
}

/* The baselines' label-prior correction (what autonomous does before
 * training, al_personalize_config.label_prior): the output bias shifted by
 * log(p_k / q_k), p the user's training mix (pseudo-count alpha), q the mix
 * the model was trained on. A model without a dense output over K classes
 * is left as is. */
static void prior_shift(al_model *m, const al_dataset *user, const double *q, double alpha) {
    /* over the model's classes (under newclass the cloud's seen ones: the
     * user's samples of the others are not counted) */
    int K = al_model_num_classes(m);
    al_node *out = output_dense(m, K);
    if (!out || alpha <= 0.0 || K > 256) return;
    double p[256] = {0};
    int n = 0;
    for (int i = 0; i < user->n; i++)
        if (user->y[i] >= 0 && user->y[i] < K) {
            p[user->y[i]] += 1.0;
            n++;
        }
    for (int k = 0; k < K; k++)
        out->params[1].w[k] += (float)log((p[k] + alpha) / (n + K * alpha) / q[k]);
}

/* The prior-corrected score of `model` for every user into method's
 * results (q: the training mix of the model). */
static al_status prior_scores(image_run *s, const al_model *model, const double *q, int method) {
    al_model *w = NULL;
    al_status st = al_model_clone(model, &w);
    for (int k = 0; k < s->users && st == AL_OK; k++) {
        al_model_copy_weights(w, model);
        prior_shift(w, al_users_train(s->u, k), q, s->c->label_prior > 0 ? s->c->label_prior : 1.0);
        st = score(s, w, NULL, k, method);
    }
    al_model_free(w);
    return st;
}

/* The class mix of all users' training data together. */
static void users_freq(const image_run *s, int K, double *q) {
    int n = 0;
    for (int k = 0; k < K; k++) q[k] = 1.0;
    for (int u = 0; u < s->users; u++) {
        const al_dataset *d = al_users_train(s->u, u);
        for (int i = 0; i < d->n; i++)
            if (d->y[i] >= 0 && d->y[i] < K) q[d->y[i]] += 1.0;
        n += d->n;
    }
    for (int k = 0; k < K; k++) q[k] /= (double)(n + K);
}

/* Where user k's methods are scored: its validation set when tuning
 * (c->eval_validation), else its test set. */
static const al_dataset *score_set(const image_run *s, int k) {
    return s->c->eval_validation ? al_users_validation(s->u, k) : al_users_test(s->u, k);
}

/* Scores `model` for user k into method's results. Without newclass: top-1
 * accuracy (al_evaluate). With it: the prediction is output o's label,
 * label[o] (NULL: o itself), so a class the model has no output for is
 * always wrong; the accuracy on the seen and on the unseen classes' samples
 * is kept apart too. */
static al_status score(image_run *s, al_model *model, const int *label, int k, int method) {
    al_method_result *m = &s->r->m[method];
    const al_dataset *d = score_set(s, k);
    if (!s->newclass) return al_evaluate(model, s->pool, d, s->c->batch, NULL, &m->acc[k]);
    int K = al_model_num_classes(model), B = s->c->batch > 0 ? s->c->batch : 32;
    size_t xn = al_shape_numel(&d->xs);
    float *y = malloc(sizeof(float) * (size_t)K * (size_t)B);
    if (!y) return al_error(AL_ENOMEM, "out of memory");
    int right[2] = {0, 0}, count[2] = {0, 0};
    al_status st = AL_OK;
    for (int o = 0; o < d->n && st == AL_OK; o += B) {
        int b = d->n - o < B ? d->n - o : B;
        if ((st = al_model_predict(model, s->pool, d->x + (size_t)o * xn, b, y)) != AL_OK) break;
        for (int i = 0; i < b; i++) {
            const float *row = y + (size_t)i * (size_t)K;
            int best = 0;
            for (int j = 1; j < K; j++)
                if (row[j] > row[best]) best = j;
            int truth = d->y[o + i], unseen = truth >= s->S;
            count[unseen]++;
            right[unseen] += (label ? label[best] : best) == truth;
        }
    }
    free(y);
    if (st) return st;
    m->acc[k] = d->n > 0 ? (double)(right[0] + right[1]) / d->n : 0.0;
    m->acc_seen[k] = count[0] ? (double)right[0] / count[0] : -1.0;
    m->acc_new[k] = count[1] ? (double)right[1] / count[1] : -1.0;
    return AL_OK;
}

/* The learning curve's evaluation (al_sim_curve.eval): top-1 accuracy. */
static al_status image_eval(const al_sim_curve *cb, double *acc) {
    return al_evaluate(cb->m, cb->pool, cb->test, cb->batch, NULL, acc);
}

/* ---- data: the public set and the users ---- */
static al_status image_data(image_run *s) {
    const al_scenario_config *c = s->c;
    al_scenario_result *r = s->r;
    const int D = c->users.dominant;
    al_status st;
    if (c->eval_validation && c->users.val_per_user < 1)
        return al_error(AL_EINVAL, "scoring on validation needs a validation split (val_per_user > 0)");
    if ((st = al_sim_load_users(c, &s->u)) != AL_OK) return st;
    s->users = r->users = al_users_count(s->u);
    r->ndominant = D;
    r->dominant = calloc((size_t)s->users * (size_t)D, sizeof(int));
    if (!r->dominant && s->users > 0 && D > 0) return al_error(AL_ENOMEM, "out of memory");
    if ((st = al_sim_results_alloc(r, s->users, 0)) != AL_OK) return st;
    for (int k = 0; k < s->users; k++) memcpy(r->dominant + k * D, al_users_dominant(s->u, k), sizeof(int) * (size_t)D);
    if ((st = al_pool_new(c->threads, &s->pool)) != AL_OK) return st;
    r->public_samples = al_users_public(s->u)->n;
    s->S = al_users_public(s->u)->num_classes;
    s->C = s->users > 0 ? al_users_train(s->u, 0)->num_classes : s->S;
    s->newclass = c->users.shift == AL_SHIFT_NEWCLASS;
    if (s->newclass) {
        if (s->S > 256 || s->C > 256) return al_error(AL_ERANGE, "--shift newclass handles up to 256 classes");
        for (int i = 0; i < AL_M_COUNT; i++) {
            r->m[i].acc_seen = calloc((size_t)s->users, sizeof(double));
            r->m[i].acc_new = calloc((size_t)s->users, sizeof(double));
            if (!r->m[i].acc_seen || !r->m[i].acc_new) return al_error(AL_ENOMEM, "out of memory");
        }
    }
    return AL_OK;
}

/* ---- cloud: pre-train on public data (or load), the freeze point ---- */
static al_status image_cloud(image_run *s) {
    const al_scenario_config *c = s->c;
    al_scenario_result *r = s->r;
    al_status st;
    double t0 = al_wall_seconds();
    if (c->cloud_model) {
        if ((st = al_model_load(c->cloud_model, &s->cloud)) != AL_OK) return st;
    } else {
        al_sim_say(c, "cloud: pre-training %s on %d public samples, %d epochs", c->arch, al_users_public(s->u)->n,
                   c->pretrain_epochs);
        if ((st = al_sim_pretrain(c, s->pool, al_users_public(s->u), NULL, NULL, &s->cloud)) != AL_OK) return st;
        if (c->save_cloud && (st = al_model_save(s->cloud, c->save_cloud)) != AL_OK) return st;
    }
    r->pretrain_seconds = al_wall_seconds() - t0;
    /* the cloud's own validation split (--public-val): what the cloud's settings are chosen on
     * (scripts/tune-cloud.py), never the users' data or the test split */
    const al_dataset *pv = al_users_public_validation(s->u);
    if (pv && pv->n > 0 && (st = al_evaluate(s->cloud, s->pool, pv, c->batch, NULL, &r->cloud_public_val_acc)) != AL_OK)
        return st;
    r->macs_per_sample = (double)al_model_macs(s->cloud);
    r->freeze = al_model_resolve_freeze(s->cloud, c->freeze);
    if (r->freeze >= s->cloud->nnodes)
        return al_error(AL_ERANGE, "freeze point %d out of range (the model has %d nodes)", r->freeze,
                        s->cloud->nnodes);
    al_sim_say(c, "cloud: ready in %.1f s; freeze point %d of %d nodes", r->pretrain_seconds, r->freeze,
               s->cloud->nnodes);
    s->model_macs = (double)al_model_macs(s->cloud);
    if (s->newclass) {
        int K = al_model_num_classes(s->cloud);
        if (K != s->S)
            return al_error(AL_EINVAL,
                            "--shift newclass: the cloud model has %d classes, the public data %d seen ones (a cloud "
                            "pre-trained with --shift newclass and the same --new-classes is needed)",
                            K, s->S);
        /* the baselines that start from the cloud model and cannot imprint:
         * the unseen classes' rows as a fresh layer's (seeded), the rest the cloud's */
        if ((st = model_with_outputs(s->cloud->spec, s->C, c->seed + 6000, &s->grown)) != AL_OK) return st;
        if (s->grown->nnodes != s->cloud->nnodes) return al_error(AL_EINVAL, "newclass: the grown model differs");
        for (int i = 0; i < s->cloud->nnodes; i++) {
            al_node *a = &s->grown->nodes[i], *b = &s->cloud->nodes[i];
            for (int p = 0; p < b->nparams && p < a->nparams; p++) {
                size_t n = b->params[p].n < a->params[p].n ? b->params[p].n : a->params[p].n;
                /* the output layer's weight [units, F] and bias [units]: the seen rows come first */
                memcpy(a->params[p].w, b->params[p].w, sizeof(float) * n);
            }
        }
        const char *prior = al_model_meta(s->cloud, "autlearn.freeze");
        if (prior && (st = al_model_set_meta(s->grown, "autlearn.freeze", prior)) != AL_OK) return st;
    }
    return AL_OK;
}

/* One model download (or upload): its weights as floats. */
static double model_bytes(const image_run *s) { return (double)s->cloud->nweights * sizeof(float); }

/* ---- global: the cloud model as is ---- */
static al_status image_global(image_run *s) {
    al_method_result *m = &s->r->m[AL_M_GLOBAL];
    for (int k = 0; k < s->users; k++) {
        al_status st = score(s, s->cloud, NULL, k, AL_M_GLOBAL);
        if (st) return st;
    }
    m->bytes_downloaded = model_bytes(s);
    al_sim_method_done(m, s->users);
    return AL_OK;
}

/* ---- global+p: the cloud model shifted by each user's class mix ---- */
static al_status image_global_prior(image_run *s) {
    al_method_result *m = &s->r->m[AL_M_GLOBAL_PRIOR];
    double q[256];
    int K = al_users_public(s->u)->num_classes;
    class_freq(al_users_public(s->u), K, q);
    al_status st = prior_scores(s, s->cloud, q, AL_M_GLOBAL_PRIOR);
    if (st) return st;
    m->bytes_downloaded = model_bytes(s);
    al_sim_method_done(m, s->users);
    return AL_OK;
}

/* ---- autonomous: the cloud model personalized on each device ---- */
static void autonomous_config(const al_scenario_config *c, int freeze, int k, al_personalize_config *pc) {
    al_personalize_config_default(pc);
    al_train_recipe_image(&pc->train, c->batch, c->epochs, c->lr, c->seed + 1000 + (uint64_t)k);
    pc->freeze = freeze;
    pc->aug_variants = c->aug_variants;
    pc->aug = c->aug;
    pc->label_prior = c->label_prior;
    pc->train.l2sp = c->l2sp;
    pc->train.lr_split = c->lr_split;
    pc->train.lr_below = c->lr_below;
}

/* The device's job on model w (autonomous, and fedavg-ft after FedAvg):
 * the recipe chooser by default (c->recipe auto: al_personalize_auto, the
 * search's MACs counted in pr->macs), else the fixed recipe (tune.py's
 * search passes --recipe config). */
/* The device's job on w. A job whose training diverged past the trainer's
 * rollbacks (AL_ENUMERIC) leaves w at its last good weights, which the
 * device keeps, as an app would: that is scored, counted in *diverged and
 * said; any other error stops the run. */
static al_status device_job(const al_scenario_config *c, al_model *w, al_pool *pool, const al_dataset *tr,
                            const uint64_t *ids, al_cache *cache, al_personalize_config *pc, al_auto_report *ar,
                            al_personalize_report *pr, int *diverged) {
    al_status st;
    memset(pr, 0, sizeof *pr);
    memset(ar, 0, sizeof *ar);
    if (c->recipe == AL_RECIPE_AUTO) {
        pc->freeze = -1;
        pc->budget_macs = c->budget_macs;
        if (c->auto_val > 0) pc->val_fraction = c->auto_val;
        pc->val_folds = al_sim_auto_folds(c);
        st = al_personalize_auto(w, pool, tr, ids, cache, pc, ar);
        *pr = ar->final;
        pr->macs = ar->search_macs + ar->final.macs;
    } else {
        if (c->recipe != AL_RECIPE_CONFIG) {
            pc->recipe = c->recipe;
            pc->freeze = -1;
        }
        st = al_personalize(w, pool, tr, ids, cache, pc, NULL, pr);
    }
    if (st == AL_ENUMERIC) {
        al_sim_say(c, "a device's training diverged (%s); it keeps its last good weights", al_last_error());
        (*diverged)++;
        st = AL_OK;
    }
    return st;
}

/* newclass: the device's new classes. The unseen labels its training data
 * hold become outputs S, S + 1, ... in label order (label[] maps each
 * output back to its label); *mapped is the training data relabelled so,
 * and the model's output layer grows by them, each new row imprinted from
 * the class's frozen features (al_model_add_classes, the own-photos
 * feature). *macs: the forward pass over the data that imprinting costs. */
static al_status grow_device(const image_run *s, al_model *work, const al_dataset *tr, int *label,
                             al_dataset **mapped, double *macs) {
    int map[256], n_new = 0;
    char held[256] = {0};
    for (int i = 0; i < tr->n; i++)
        if (tr->y[i] >= 0 && tr->y[i] < s->C) held[tr->y[i]] = 1;
    for (int j = 0; j < s->C; j++) {
        map[j] = j < s->S ? j : held[j] ? s->S + n_new++ : -1;
        if (map[j] >= 0) label[map[j]] = j;
    }
    int idx_n = tr->n;
    int *idx = malloc(sizeof(int) * (size_t)(idx_n ? idx_n : 1));
    if (!idx) return al_error(AL_ENOMEM, "out of memory");
    for (int i = 0; i < idx_n; i++) idx[i] = i;
    al_status st = al_dataset_subset(tr, idx, idx_n, mapped);
    free(idx);
    if (st == AL_OK) st = al_dataset_map_labels(*mapped, map, s->C, s->S + n_new);
    *macs = 0;
    if (st == AL_OK && n_new > 0) {
        *macs = (double)al_model_macs(work) * (double)tr->n;
        st = al_model_add_classes(work, s->pool, *mapped, n_new, NULL);
    }
    return st;
}

static al_status autonomous_user(void *ctx, int k, al_sim_meter *t) {
    image_run *s = ctx;
    const al_scenario_config *c = s->c;
    al_method_result *m = t->m;
    const al_dataset *tr = al_users_train(s->u, k), *test = score_set(s, k);
    al_model *work = NULL;
    al_cache *cache = NULL;
    al_dataset *mapped = NULL;
    uint64_t *ids = NULL;
    int label[256];
    double grow_macs = 0, grow_wall = 0;
    al_status st;
    if ((st = al_model_clone(s->cloud, &work)) != AL_OK || (st = al_cache_new(c->cache_bytes, NULL, &cache)) != AL_OK)
        goto done;
    if (s->newclass) {
        /* the device grows its output layer by the classes it holds that the cloud never saw */
        double t0 = al_wall_seconds();
        if ((st = grow_device(s, work, tr, label, &mapped, &grow_macs)) != AL_OK) goto done;
        grow_wall = al_wall_seconds() - t0;
        tr = mapped;
    }
    al_personalize_config pc;
    autonomous_config(c, s->r->freeze, k, &pc);
    pc.rehearsal = s->exemplars;
    /* (newclass: no learning curve; its test labels are not the grown model's outputs) */
    al_sim_curve cb = {image_eval, work, s->pool, s->newclass ? NULL : test, c->batch, NULL, m->curve, 0, AL_OK};
    pc.train.progress = al_sim_on_epoch;
    pc.train.progress_user = &cb;
    if (!(ids = malloc(sizeof(uint64_t) * (size_t)tr->n))) {
        st = al_error(AL_ENOMEM, "out of memory");
        goto done;
    }
    for (int i = 0; i < tr->n; i++) ids[i] = (uint64_t)al_users_train_origin(s->u, k, i);
    al_personalize_report pr;
    al_sim_clock clk;
    double wall, cpu;
    al_rss_reset_peak();
    al_sim_clock_start(&clk);
    /* ---- recipe chooser (branch recipe): the device picks its recipe on a
     * validation split of its own data and keeps the cloud model unless the
     * pick beats it there (al_personalize_auto) ---- */
    al_auto_report ar;
    int chooser = c->recipe == AL_RECIPE_AUTO;
    st = device_job(c, work, s->pool, tr, ids, cache, &pc, &ar, &pr, &m->diverged);
    /* ---- end recipe chooser ---- */
    al_sim_clock_stop(&clk, cb.eval_seconds, &wall, &cpu);
    al_sim_meter_peak(t);
    free(ids);
    ids = NULL;
    al_cache_free(cache);
    cache = NULL;
    if (st == AL_OK && cb.st) st = cb.st;
    if (st) goto done;
    al_sim_meter_add(t, wall + grow_wall, cpu + grow_wall, (double)pr.macs + grow_macs);
    s->r->first_epoch_seconds += pr.first_epoch_seconds;
    s->r->later_epoch_seconds += pr.later_epoch_seconds;
    if ((st = score(s, work, s->newclass ? label : NULL, k, AL_M_AUTONOMOUS)) != AL_OK) goto done;
    al_sim_say(c, "autonomous: user %d/%d accuracy %.4f (%.2f s; first epoch %.3f s, later %.4f s)", k + 1, s->users,
               m->acc[k], wall, pr.first_epoch_seconds, pr.later_epoch_seconds);
    /* a job that trained fewer epochs (the cloud model kept, the prior
     * alone) stays at its final accuracy for the rest of the curve */
    for (int e = pr.train.epochs_run; e < c->epochs && e < AL_MAX_CURVE; e++) m->curve[e] += m->acc[k];
    if (chooser) {
        for (int i = 0; i < ar.ntries; i++)
            if (ar.tries[i].status == AL_TRY_RUN)
                al_sim_say(c, "autonomous: user %d tried %s%s: validation %.4f, %.3g MACs", k + 1,
                           al_recipe_name(ar.tries[i].recipe), ar.tries[i].aug_variants > 1 ? "+aug" : "",
                           ar.tries[i].val_acc, (double)ar.tries[i].macs);
        if (ar.folds > 1) /* (its sentence names the folds and the images) */
            al_sim_say(c, "autonomous: user %d chose %s", k + 1, ar.why);
        else
            al_sim_say(c, "autonomous: user %d chose %s (searched on %d of its images, checked on %d)", k + 1, ar.why,
                       ar.n_train, ar.n_val);
    }
done:
    free(ids);
    al_cache_free(cache);
    al_model_free(work);
    al_dataset_free(mapped);
    return st;
}

/* The exemplars as the device downloads them, IDX files (1 byte a pixel and
 * a label, two 16- and 8-byte headers), per user: only a device that holds
 * a class the cloud never saw fetches them (elsewhere al_rehearsal_mix
 * mixes nothing in); 0 without --rehearsal. */
static double exemplar_bytes(const image_run *s) {
    if (!s->exemplars || s->users <= 0) return 0.0;
    int need = 0;
    for (int k = 0; k < s->users; k++) {
        const al_dataset *t = al_users_train(s->u, k);
        int beyond = 0;
        for (int i = 0; t && i < t->n && !beyond; i++) beyond = t->y[i] >= s->exemplars->num_classes;
        need += beyond;
    }
    double one = 24.0 + (double)s->exemplars->n * (1.0 + (double)al_shape_numel(&s->exemplars->xs));
    return one * (double)need / (double)s->users;
}

static al_status image_autonomous(image_run *s) {
    al_status st = al_sim_each_user(&s->r->m[AL_M_AUTONOMOUS], s->users, 0, s->c->epochs, autonomous_user, s);
    if (st) return st;
    s->r->m[AL_M_AUTONOMOUS].bytes_downloaded = model_bytes(s) + exemplar_bytes(s);
    s->r->first_epoch_seconds /= s->users;
    s->r->later_epoch_seconds /= s->users;
    return AL_OK;
}

/* ---- local: from scratch on the user's data ---- */
static al_status local_user(void *ctx, int k, al_sim_meter *t) {
    image_run *s = ctx;
    const al_scenario_config *c = s->c;
    al_method_result *m = t->m;
    const al_dataset *tr = al_users_train(s->u, k), *test = score_set(s, k);
    al_model *work = NULL;
    al_status st;
    /* newclass: the architecture with one output per class of the data (local learns every class it holds) */
    if ((st = s->newclass ? model_with_outputs(s->cloud->spec, s->C, c->seed + 2000 + (uint64_t)k, &work)
                          : al_model_from_spec(s->cloud->spec, c->seed + 2000 + (uint64_t)k, &work)) != AL_OK)
        return st;
    al_train_config tc;
    al_train_recipe_image(&tc, c->batch, c->local_epochs, c->local_lr, c->seed + 3000 + (uint64_t)k);
    al_sim_curve cb = {image_eval, work, s->pool, test, c->batch, NULL, m->curve, 0, AL_OK};
    tc.progress = al_sim_on_epoch;
    tc.progress_user = &cb;
    al_trainer *trainer;
    if ((st = al_trainer_new(work, s->pool, &tc, &trainer)) != AL_OK) goto done;
    al_sim_clock clk;
    double wall, cpu;
    al_rss_reset_peak();
    al_sim_clock_start(&clk);
    al_train_report rep;
    st = al_trainer_run(trainer, tr, NULL, &rep);
    al_sim_clock_stop(&clk, cb.eval_seconds, &wall, &cpu);
    al_sim_meter_peak(t);
    al_trainer_free(trainer);
    if (st == AL_OK && cb.st) st = cb.st;
    if (st) goto done;
    al_sim_meter_add(t, wall, cpu, 3.0 * s->model_macs * (double)rep.samples);
    st = score(s, work, NULL, k, AL_M_LOCAL);
done:
    al_model_free(work);
    return st;
}

/* ---- centralized: everything pooled in the cloud ---- */
static al_status image_centralized(image_run *s) {
    const al_scenario_config *c = s->c;
    al_method_result *m = &s->r->m[AL_M_CENTRALIZED];
    al_dataset *pooled = NULL;
    al_model *work = NULL;
    al_trainer *t;
    al_status st;
    if ((st = pool_data(s->u, &pooled)) != AL_OK || (st = al_model_clone(s->cloud, &work)) != AL_OK) goto done;
    if (s->newclass) {
        /* the pooled data hold the unseen classes: the cloud imprints their
         * rows from them as the device does (al_model_add_classes); a class
         * no user holds starts as a fresh row (the grown model) */
        int held[256] = {0}, all = 1;
        for (int i = 0; i < pooled->n; i++)
            if (pooled->y[i] >= 0 && pooled->y[i] < s->C) held[pooled->y[i]] = 1;
        for (int j = s->S; j < s->C; j++) all &= held[j];
        if (all) {
            st = al_model_add_classes(work, s->pool, pooled, s->C - s->S, NULL);
        } else {
            al_model_free(work);
            work = NULL;
            st = al_model_clone(s->grown, &work);
        }
        if (st) goto done;
    }
    (void)al_model_freeze(work, 0);
    al_train_config tc;
    al_train_recipe_image(&tc, c->batch, c->central_epochs, c->central_lr > 0 ? c->central_lr : c->pretrain_lr * 0.2,
                          c->seed + 4000);
    if ((st = al_trainer_new(work, s->pool, &tc, &t)) != AL_OK) goto done;
    al_sim_say(c, "centralized: training on %d pooled samples, %d epochs", pooled->n, c->central_epochs);
    al_train_report rep;
    st = al_trainer_run(t, pooled, NULL, &rep);
    al_trainer_free(t);
    if (st) goto done;
    for (int k = 0; k < s->users; k++)
        if ((st = score(s, work, NULL, k, AL_M_CENTRALIZED)) != AL_OK) goto done;
    /* the device does no training; it uploads its raw samples (8-bit pixels) and labels */
    m->bytes_uploaded = (double)(c->users.per_user - c->users.val_per_user) * (double)(al_shape_numel(&s->cloud->in) + 1);
    m->bytes_downloaded = model_bytes(s);
    al_sim_method_done(m, s->users);
    if (wants(s, AL_M_CENTRAL_PRIOR)) {
        /* the same model, shifted against the pooled data's class mix */
        al_method_result *mp = &s->r->m[AL_M_CENTRAL_PRIOR];
        double q[256];
        class_freq(pooled, pooled->num_classes, q);
        if ((st = prior_scores(s, work, q, AL_M_CENTRAL_PRIOR)) != AL_OK) goto done;
        mp->bytes_uploaded = m->bytes_uploaded;
        mp->bytes_downloaded = m->bytes_downloaded;
        al_sim_method_done(mp, s->users);
        al_sim_say_method(c, AL_M_CENTRAL_PRIOR, mp);
    }
done:
    al_model_free(work);
    al_dataset_free(pooled);
    return st;
}

/* ---- federated averaging from the cloud model (al_sim_fedavg) ---- */
/* One client's local training as fedavg's clients train (the client lr and
 * schedule, the rollbacks, the seed of round rd and user k) for `epochs` on
 * tr (user k's data, or for ditto's personal step its rehearsal mix); with
 * ref, L2-SP toward ref at strength lambda (ditto's personal step). The
 * job's peak goes to t; *wall, *cpu and *macs say what it ran (also when it
 * diverged: AL_ENUMERIC). */
static al_status client_job(image_run *s, al_model *w, const al_dataset *tr, int rd, int k, int epochs,
                            const al_model *ref, double lambda, al_sim_meter *t, double *wall, double *cpu,
                            double *macs) {
    const al_scenario_config *c = s->c;
    al_train_config tc;
    al_train_recipe_image(&tc, c->batch, epochs, c->fed_lr > 0 ? c->fed_lr : c->lr,
                          c->seed + 5000 + (uint64_t)(rd * s->users + k));
    if (!c->fed_cosine) tc.sched = AL_SCHED_CONST;
    if (c->fed_rollbacks >= 0) tc.max_rollbacks = c->fed_rollbacks;
    if (ref) {
        tc.l2sp = lambda;
        tc.l2sp_ref = ref;
    }
    al_trainer *trainer;
    al_status st = al_trainer_new(w, s->pool, &tc, &trainer);
    if (st) return st;
    al_sim_clock clk;
    al_rss_reset_peak();
    al_sim_clock_start(&clk);
    al_train_report rep;
    memset(&rep, 0, sizeof rep);
    st = al_trainer_run(trainer, tr, NULL, &rep);
    al_sim_clock_stop(&clk, 0, wall, cpu);
    al_sim_meter_peak(t);
    al_trainer_free(trainer);
    *macs = 3.0 * s->model_macs * (double)rep.samples;
    return st;
}

static al_status fed_train(void *ctx, al_model *work, int rd, int k, al_sim_meter *t, double *weight) {
    image_run *s = ctx;
    double wall, cpu, macs;
    al_status st = client_job(s, work, al_users_train(s->u, k), rd, k, s->c->fed_epochs, NULL, 0.0, t, &wall, &cpu,
                              &macs);
    if (st) return st;
    al_sim_meter_add(t, wall, cpu, macs);
    *weight = (double)al_users_train(s->u, k)->n;
    return AL_OK;
}

static al_status fed_eval(void *ctx, al_model *global, int k, int last, double *acc) {
    image_run *s = ctx;
    /* each round's score goes to fedavg's results; the last one stays */
    al_status st = score(s, global, NULL, k, AL_M_FEDAVG);
    *acc = s->r->m[AL_M_FEDAVG].acc[k];
    if (st || !last) return st;
    al_model *w = NULL;
    if (wants(s, AL_M_FEDAVG_PRIOR)) {
        /* the final model shifted against the users' pooled class mix (what it was trained on last) */
        double q[256];
        users_freq(s, al_users_train(s->u, k)->num_classes, q);
        if ((st = al_model_clone(global, &w)) != AL_OK) return st;
        prior_shift(w, al_users_train(s->u, k), q, s->c->label_prior > 0 ? s->c->label_prior : 1.0);
        st = score(s, w, NULL, k, AL_M_FEDAVG_PRIOR);
        al_model_free(w);
        w = NULL;
        if (st) return st;
    }
    if (wants(s, AL_M_FEDAVG_FT)) {
        /* the final model personalized on the device as autonomous is: the
         * same chooser (or the same fixed recipe), no cache */
        const al_dataset *tr = al_users_train(s->u, k);
        al_personalize_config pc;
        autonomous_config(s->c, s->r->freeze, k, &pc);
        pc.rehearsal = s->exemplars; /* the exemplars too, where the device holds a new class */
        if ((st = al_model_clone(global, &w)) != AL_OK) return st;
        al_personalize_report pr;
        al_auto_report ar;
        al_sim_clock clk;
        double wall, cpu;
        al_sim_clock_start(&clk);
        st = device_job(s->c, w, s->pool, tr, NULL, NULL, &pc, &ar, &pr, &s->r->m[AL_M_FEDAVG_FT].diverged);
        al_sim_clock_stop(&clk, 0, &wall, &cpu);
        s->ft_wall += wall;
        s->ft_cpu += cpu;
        s->ft_macs += (double)pr.macs;
        if (st == AL_OK && s->c->recipe == AL_RECIPE_AUTO) al_sim_say(s->c, "fedavg-ft: user %d chose %s", k + 1, ar.why);
        if (st == AL_OK)
            st = score(s, w, NULL, k, AL_M_FEDAVG_FT);
        al_model_free(w);
    }
    return st;
}

/* Ditto's personal step of user k in round rd (al_sim_fedavg.personal):
 * its personal model trained on its data as fedavg's client trains the
 * global one (the same recipe, learning rate and schedule, ditto_epochs),
 * with L2-SP toward the round's global model: the proximal term
 * lambda/2 ||v_k - w||^2 of Ditto's personal objective. The same seed as
 * the client's update of the global model: the same order of the user's
 * samples (with lambda 0 and one user the two are the same). A step that
 * diverges past the trainer's rollbacks leaves the device its last good
 * personal weights (counted in ditto's diverged). */
static al_status ditto_step(void *ctx, const al_model *global, int rd, int k) {
    image_run *s = ctx;
    const al_scenario_config *c = s->c;
    al_sim_ditto *d = s->ditto;
    al_sim_ditto_load(d, k);
    double wall, cpu, macs;
    /* --rehearsal under newclass: the personal step trains on the user's data and the exemplars (as
     * autonomous's device does, al_rehearsal_mix; Ditto's pull toward the global model stays), then the
     * output bias goes from the mix's class prior to the user's (al_rehearsal_unmix) */
    const al_dataset *user = al_users_train(s->u, k);
    al_dataset *mix = NULL;
    al_status st = al_rehearsal_mix(user, NULL, s->exemplars, &mix, NULL);
    if (st) return st;
    st = client_job(s, d->work, mix ? mix : user, rd, k, c->ditto_epochs > 0 ? c->ditto_epochs : c->fed_epochs,
                    global, c->ditto_lambda, &d->t, &wall, &cpu, &macs);
    /* (a diverged step's last good weights were trained on the mix too) */
    if (mix && (st == AL_OK || st == AL_ENUMERIC))
        al_rehearsal_unmix(d->work, user, mix, c->label_prior > 0 ? c->label_prior : 1.0);
    al_dataset_free(mix);
    if (st == AL_ENUMERIC) {
        al_sim_say(c, "ditto: round %d: user %d's personal step diverged (%s); it keeps its last good weights",
                   rd + 1, k + 1, al_last_error());
        d->m->diverged++;
        st = AL_OK;
    }
    if (st) return st;
    al_sim_meter_add(&d->t, wall, cpu, macs);
    al_sim_ditto_store(d, k);
    return AL_OK;
}

static al_status ditto_score(void *ctx, al_model *model, int k) { return score(ctx, model, NULL, k, AL_M_DITTO); }

static al_status image_fedavg(image_run *s) {
    al_method_result *m = &s->r->m[AL_M_FEDAVG];
    al_sim_fedavg f = {fed_train, fed_eval, s, 0, "mean accuracy", 0, NULL, NULL};
    /* newclass: from the cloud model grown by the unseen classes (the server
     * knows the label set, holds no image of them to imprint from) */
    const al_model *start = s->newclass ? s->grown : s->cloud;
    al_sim_ditto ditto;
    memset(&ditto, 0, sizeof ditto);
    al_status st = AL_OK;
    if (wants(s, AL_M_DITTO)) {
        /* the personal models start where fedavg does (newclass: the grown model, as fedavg does) */
        s->ditto = &ditto;
        f.personal = ditto_step;
        st = al_sim_ditto_begin(&ditto, start, 0, s->c->batch, s->users, &s->r->m[AL_M_DITTO]);
        f.final_weights = ditto.global;
    }
    if (st == AL_OK) st = al_sim_fedavg_run(s->c, start, s->users, &f, m);
    if (st) {
        al_sim_ditto_free(&ditto);
        s->ditto = NULL;
        return st;
    }
    /* each round uploads the whole model (a client whose training diverged sends nothing that round); the
     * device downloads the cloud model, each round's and the final one */
    m->bytes_uploaded = ((double)s->c->rounds - (double)m->clients_dropped / s->users) * model_bytes(s);
    m->bytes_downloaded = (double)(s->c->rounds + 1) * model_bytes(s);
    for (int i = AL_M_FEDAVG_PRIOR; i <= AL_M_FEDAVG_FT; i++) {
        if (!wants(s, i)) continue;
        al_method_result *e = &s->r->m[i];
        al_sim_copy_costs(e, m);
        if (i == AL_M_FEDAVG_FT) {
            e->seconds += s->ft_wall / s->users;
            e->cpu_seconds += s->ft_cpu / s->users;
            e->macs += s->ft_macs / s->users;
            e->bytes_downloaded += exemplar_bytes(s);
        }
        al_sim_method_done(e, s->users);
        al_sim_say_method(s->c, i, e);
    }
    if (s->ditto) {
        st = al_sim_ditto_end(&ditto, m, ditto_score, s);
        s->r->m[AL_M_DITTO].bytes_downloaded += exemplar_bytes(s); /* once, with the cloud model */
        al_sim_ditto_free(&ditto);
        s->ditto = NULL;
        if (st) return st; /* (its line: al_sim_run_methods) */
    }
    return AL_OK;
}

/* ---- fedper and fedrep: a shared body averaged, a personal output layer ---- */

/* FedRep's local update of user k in round rd (Collins et al. 2021): the
 * head step trains the output layer (node hnode) on the body held, as the
 * device trains its output layer (al_personalize: the body's features
 * computed once into the cache, then fedrep_head_epochs passes over the
 * head alone); the body step then trains every node below it for
 * fed_epochs with the head held (al_train_config.train_end), as fedavg's
 * client (fed_train) trains the whole model. */
static al_status fedrep_train(image_run *s, al_model *work, int hnode, al_cache *cache, int rd, int k, al_sim_meter *t,
                              double *weight) {
    const al_scenario_config *c = s->c;
    const al_dataset *tr = al_users_train(s->u, k);
    uint64_t seed = (uint64_t)(rd * s->users + k);
    double lr = c->fed_lr > 0 ? c->fed_lr : c->lr;
    uint64_t *ids = malloc(sizeof(uint64_t) * (size_t)(tr->n ? tr->n : 1));
    if (!ids) return al_error(AL_ENOMEM, "out of memory");
    for (int i = 0; i < tr->n; i++) ids[i] = (uint64_t)al_users_train_origin(s->u, k, i);
    al_personalize_config pc;
    al_personalize_config_default(&pc);
    al_train_recipe_image(&pc.train, c->batch, c->fedrep_head_epochs, lr, c->seed + 7000 + seed);
    if (c->fed_rollbacks >= 0) pc.train.max_rollbacks = c->fed_rollbacks;
    if (!c->fed_cosine) pc.train.sched = AL_SCHED_CONST;
    pc.freeze = hnode;
    /* --rehearsal under newclass: the head step (the personal part) gets the exemplars, as autonomous's
     * device does; the body step (uploaded and averaged) trains on the user's data alone */
    pc.rehearsal = s->exemplars;
    al_sim_clock clk;
    double wall, cpu, macs = 0;
    al_rss_reset_peak();
    al_sim_clock_start(&clk);
    al_status st = AL_OK;
    if (c->fedrep_head_epochs > 0) {
        al_personalize_report pr;
        st = al_personalize(work, s->pool, tr, ids, cache, &pc, NULL, &pr);
        macs += (double)pr.macs;
    }
    free(ids);
    al_trainer *trainer = NULL;
    al_train_config tc;
    al_train_recipe_image(&tc, c->batch, c->fed_epochs, lr, c->seed + 5000 + seed);
    if (c->fed_rollbacks >= 0) tc.max_rollbacks = c->fed_rollbacks;
    if (!c->fed_cosine) tc.sched = AL_SCHED_CONST;
    tc.train_end = hnode;
    if (st == AL_OK && (st = al_model_freeze(work, 0)) == AL_OK &&
        (st = al_trainer_new(work, s->pool, &tc, &trainer)) == AL_OK) {
        al_train_report rep;
        st = al_trainer_run(trainer, tr, NULL, &rep);
        /* forward and backward through everything (the head's input gradient too) */
        macs += 3.0 * s->model_macs * (double)rep.samples;
    }
    al_trainer_free(trainer);
    al_sim_clock_stop(&clk, 0, &wall, &cpu);
    al_sim_meter_peak(t);
    if (st) return st;
    al_sim_meter_add(t, wall, cpu, macs);
    *weight = (double)tr->n;
    return AL_OK;
}

/* The image scenario's FedRep state: its cache, for al_sim_personal's train. */
typedef struct fedrep_run {
    image_run *s;
    al_cache *cache;
} fedrep_run;

static al_status fedrep_user(void *ctx, al_model *work, int rd, int k, al_sim_meter *t, double *weight) {
    fedrep_run *f = ctx;
    return fedrep_train(f->s, work, work->nnodes - 1, f->cache, rd, k, t, weight);
}

static al_status fedper_score(void *ctx, al_model *model, int k) { return score(ctx, model, NULL, k, AL_M_FEDPER); }

static al_status fedrep_score(void *ctx, al_model *model, int k) {
    return score(((fedrep_run *)ctx)->s, model, NULL, k, AL_M_FEDREP);
}

/* FedPer (each user trains the whole model, as fedavg's clients) or FedRep
 * (fedrep_train) from the shared body and the user's own head; each round
 * the cloud averages the bodies; the head never leaves the device
 * (al_sim_personal_run). */
static al_status image_personal_fed(image_run *s, int method) {
    const al_scenario_config *c = s->c;
    al_method_result *m = &s->r->m[method];
    const al_model *start = s->newclass ? s->grown : s->cloud; /* as fedavg's */
    fedrep_run f = {s, NULL};
    al_sim_personal p = {fed_train, fedper_score, s, method, 0, 0};
    if (method == AL_M_FEDREP) {
        al_status st = al_cache_new(c->cache_bytes, NULL, &f.cache);
        if (st) return st;
        p.train = fedrep_user;
        p.score = fedrep_score;
        p.ctx = &f;
    }
    size_t hn = 0;
    al_status st = al_sim_personal_run(c, start, s->users, &p, m, &hn);
    al_cache_free(f.cache);
    if (st) return st;
    double body = (double)(start->nweights - hn) * sizeof(float);
    /* the body up each round (not from a client whose training diverged); down, the cloud model (head
     * included) before the first round, then each round's mean body, the last one the final body each
     * user is scored with (as fedavg counts its final model) */
    m->bytes_uploaded = ((double)c->rounds - (double)m->clients_dropped / s->users) * body;
    m->bytes_downloaded = model_bytes(s) + (double)c->rounds * body;
    /* FedRep's head step rehearses with the exemplars (--rehearsal): downloaded once, with the cloud model */
    if (method == AL_M_FEDREP) m->bytes_downloaded += exemplar_bytes(s);
    return AL_OK;
}

static al_status image_method(void *ctx, int method) {
    image_run *s = ctx;
    switch (method) {
    case AL_M_GLOBAL: return image_global(s);
    case AL_M_AUTONOMOUS: return image_autonomous(s);
    case AL_M_LOCAL: return al_sim_each_user(&s->r->m[AL_M_LOCAL], s->users, 0, s->c->local_epochs, local_user, s);
    case AL_M_CENTRALIZED: return image_centralized(s);
    case AL_M_FEDAVG: return image_fedavg(s);
    case AL_M_GLOBAL_PRIOR: return image_global_prior(s);
    case AL_M_FEDPER:
    case AL_M_FEDREP: return image_personal_fed(s, method);
    }
    return AL_OK;
}

al_status al_scenario_image(const al_scenario_config *c, al_scenario_result *r) {
    memset(r, 0, sizeof *r);
    r->cloud_public_val_acc = -1.0;
    /* the by-products run with their base method */
    al_scenario_config cc = *c;
    if (!cc.methods) cc.methods = AL_M_CLASSIC;
    if (cc.methods & (1u << AL_M_CENTRAL_PRIOR)) cc.methods |= 1u << AL_M_CENTRALIZED;
    if (cc.methods & ((1u << AL_M_FEDAVG_PRIOR) | (1u << AL_M_FEDAVG_FT) | (1u << AL_M_DITTO)))
        cc.methods |= 1u << AL_M_FEDAVG;
    image_run s = {&cc, r, NULL, NULL, NULL, 0, 0, 0, 0, 0, 0, 0, 0, NULL, NULL, NULL};
    al_status st;
    if ((st = image_data(&s)) == AL_OK && (st = image_cloud(&s)) == AL_OK &&
        (cc.rehearsal <= 0 || (st = al_exemplars(al_users_public(s.u), cc.rehearsal, cc.seed, &s.exemplars)) == AL_OK))
        st = al_sim_run_methods(&cc, r, image_method, &s);
    al_dataset_free(s.exemplars);
    al_model_free(s.cloud);
    al_model_free(s.grown);
    al_pool_free(s.pool);
    al_users_free(s.u);
    if (st) al_scenario_result_free(r);
    return st;
}
