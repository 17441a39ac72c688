/* The training loop: mini-batch SGD-family training of a classifier (or a
 * per-position classifier such as a language model) with softmax
 * cross-entropy, evaluation, early stopping and progress reporting.
 *
 * Everything a step touches is allocated before the first step: the model is
 * planned for cfg.batch and the batch buffers are carved when the trainer is
 * created; the label buffer and permutation when a run starts. A step is
 *   gather batch -> zero grads -> forward -> softmax CE -> backward -> clip
 *   -> optimizer step at the scheduled lr.
 * The shuffle of epoch e is a pure function of (cfg.seed, e), and all
 * compute splits work statically, so a run is bit-reproducible for a given
 * seed and thread count.
 *
 * Calling al_trainer_run again continues: the optimizer state and the epoch
 * count (so the shuffles) carry over, the lr schedule starts afresh over the
 * new run's cfg.epochs. On an error or cancellation the model keeps the
 * weights of the last completed step; best weights are restored only when a
 * run completes (early stop or all epochs). */

#include "train/train.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

void al_train_config_default(al_train_config *c) {
    if (!c) return;
    memset(c, 0, sizeof *c);
    c->optim = AL_OPT_SGD;
    c->lr = 0.01;
    c->momentum = 0.9;
    c->nesterov = 0;
    c->weight_decay = 0.0;
    c->beta1 = 0.9;
    c->beta2 = 0.999;
    c->eps = 1e-8;
    c->sched = AL_SCHED_CONST;
    c->step_size = 10;
    c->gamma = 0.1;
    c->warmup_steps = 0;
    c->min_lr = 0.0;
    c->clip_norm = 0.0;
    c->epochs = 1;
    c->batch = 32;
    c->shuffle = 1;
    c->seed = 42;
    c->patience = 0;
    c->checkpoint_path = NULL;
    c->checkpoint_every = 0;
    c->max_rollbacks = 3;
    c->rollback_lr_factor = 0.1;
    c->l2sp = 0.0;
    c->lr_split = 0;
    c->lr_below = 1.0;
    c->train_end = 0;
    c->l2sp_ref = NULL;
}

void al_train_recipe_image(al_train_config *t, int batch, int epochs, double lr, uint64_t seed) {
    al_train_config_default(t);
    t->optim = AL_OPT_SGD;
    t->momentum = 0.9;
    t->lr = lr;
    t->epochs = epochs;
    t->batch = batch;
    t->sched = AL_SCHED_COSINE;
    t->seed = seed;
}

void al_train_recipe_text(al_train_config *t, int batch, int epochs, double lr, uint64_t seed) {
    al_train_config_default(t);
    t->optim = AL_OPT_ADAM;
    t->lr = lr;
    t->epochs = epochs;
    t->batch = batch;
    t->sched = AL_SCHED_COSINE;
    t->clip_norm = 1.0;
    t->seed = seed;
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static al_status check_config(const al_train_config *c) {
    if (c->batch <= 0 || c->batch > (1 << 20)) return al_error(AL_EINVAL, "batch must be in 1..%d, got %d", 1 << 20, c->batch);
    if (c->epochs < 0) return al_error(AL_EINVAL, "epochs must be >= 0, got %d", c->epochs);
    if (!(c->lr > 0.0) || !isfinite(c->lr)) return al_error(AL_EINVAL, "learning rate must be positive, got %g", c->lr);
    if (c->optim != AL_OPT_SGD && c->optim != AL_OPT_ADAM && c->optim != AL_OPT_ADAMW)
        return al_error(AL_EINVAL, "unknown optimizer %d", (int)c->optim);
    if (!(c->weight_decay >= 0.0) || !isfinite(c->weight_decay))
        return al_error(AL_EINVAL, "weight decay must be >= 0, got %g", c->weight_decay);
    if (c->optim == AL_OPT_SGD) {
        if (!(c->momentum >= 0.0 && c->momentum < 1.0))
            return al_error(AL_EINVAL, "SGD momentum must be in [0,1), got %g", c->momentum);
        if (c->nesterov && c->momentum == 0.0) return al_error(AL_EINVAL, "Nesterov momentum needs momentum > 0");
    } else {
        if (!(c->beta1 >= 0.0 && c->beta1 < 1.0) || !(c->beta2 >= 0.0 && c->beta2 < 1.0))
            return al_error(AL_EINVAL, "Adam betas must be in [0,1), got %g and %g", c->beta1, c->beta2);
        if (!(c->eps > 0.0)) return al_error(AL_EINVAL, "Adam eps must be positive, got %g", c->eps);
    }
    if (c->sched != AL_SCHED_CONST && c->sched != AL_SCHED_STEP && c->sched != AL_SCHED_COSINE)
        return al_error(AL_EINVAL, "unknown schedule %d", (int)c->sched);
    if (c->sched == AL_SCHED_STEP && (c->step_size <= 0 || !(c->gamma > 0.0)))
        return al_error(AL_EINVAL, "step schedule needs step_size > 0 and gamma > 0, got %d and %g", c->step_size,
                        c->gamma);
    if (c->sched == AL_SCHED_COSINE && !(c->min_lr >= 0.0 && c->min_lr <= c->lr))
        return al_error(AL_EINVAL, "cosine schedule needs 0 <= min_lr <= lr, got min_lr %g, lr %g", c->min_lr, c->lr);
    if (c->warmup_steps < 0) return al_error(AL_EINVAL, "warmup_steps must be >= 0, got %d", c->warmup_steps);
    if (!(c->clip_norm >= 0.0)) return al_error(AL_EINVAL, "clip_norm must be >= 0, got %g", c->clip_norm);
    if (c->patience < 0) return al_error(AL_EINVAL, "patience must be >= 0, got %d", c->patience);
    if (!(c->l2sp >= 0.0 && c->l2sp <= 1e6)) return al_error(AL_EINVAL, "l2sp must be in 0..1e6, got %g", c->l2sp);
    if (c->lr_split < 0) return al_error(AL_EINVAL, "lr_split must be >= 0, got %d", c->lr_split);
    if (c->lr_split > 0 && !(c->lr_below >= 0.0 && c->lr_below <= 1e3))
        return al_error(AL_EINVAL, "lr_below must be in 0..1000, got %g", c->lr_below);
    if (c->train_end < 0) return al_error(AL_EINVAL, "train_end must be >= 0, got %d", c->train_end);
    if (c->checkpoint_every < 0)
        return al_error(AL_EINVAL, "checkpoint_every must be >= 0 steps, got %d", c->checkpoint_every);
    if (c->checkpoint_path && !*c->checkpoint_path) return al_error(AL_EINVAL, "checkpoint_path is empty");
    if (c->max_rollbacks < 0 || c->max_rollbacks > 1000)
        return al_error(AL_EINVAL, "max_rollbacks must be in 0..1000, got %d", c->max_rollbacks);
    if (c->max_rollbacks > 0 && !(c->rollback_lr_factor > 0.0 && c->rollback_lr_factor < 1.0))
        return al_error(AL_EINVAL, "rollback_lr_factor must be in (0,1), got %g", c->rollback_lr_factor);
    return AL_OK;
}

static void format_shape(const al_shape *s, char *buf, size_t cap) {
    size_t o = 0;
    buf[0] = 0;
    for (int i = 0; i < s->ndim && o < cap; i++) {
        int w = snprintf(buf + o, cap - o, i ? "x%d" : "%d", s->d[i]);
        if (w < 0) break;
        o += (size_t)w;
    }
}

al_status al_check_data(const al_model *m, const al_dataset *d, const char *what, int *k_out) {
    int same = d->xs.ndim == m->in.ndim;
    for (int i = 0; same && i < m->in.ndim; i++) same = d->xs.d[i] == m->in.d[i];
    if (!same) {
        char a[64], b[64];
        format_shape(&d->xs, a, sizeof a);
        format_shape(&m->in, b, sizeof b);
        return al_error(AL_ESHAPE, "%s samples have shape [%s] but the model's input is [%s]", what, a, b);
    }
    size_t yo = al_shape_numel(&m->nodes[m->nnodes - 1].out);
    if (d->y_len <= 0 || yo % (size_t)d->y_len != 0)
        return al_error(AL_ESHAPE, "%s has %d labels per sample; the model's %zu outputs do not split into that many rows",
                        what, d->y_len, yo);
    int k = (int)(yo / (size_t)d->y_len);
    size_t ny = (size_t)d->n * (size_t)d->y_len;
    for (size_t i = 0; i < ny; i++)
        if (d->y[i] >= k)
            return al_error(AL_ERANGE, "%s: label %d of sample %zu is out of range for the model's %d classes (0..%d)",
                            what, (int)d->y[i], i / (size_t)d->y_len, k, k - 1);
    if (k_out) *k_out = k;
    return AL_OK;
}

al_status al_trainer_new(al_model *m, al_pool *pool, const al_train_config *cfg, al_trainer **out) {
    if (!out) return al_error(AL_EINVAL, "al_trainer_new: out is NULL");
    *out = NULL;
    if (!m || !cfg) return al_error(AL_EINVAL, "al_trainer_new: NULL argument");
    al_status st = check_config(cfg);
    if (st != AL_OK) return st;
    al_trainer *t = al_calloc(1, sizeof *t);
    if (!t) return AL_ENOMEM;
    t->m = m;
    t->pool = pool;
    t->cfg = *cfg;
    t->perm_epoch = -1;
    t->fp_kind = AL_FP_KIND;
    t->pos.rep.lr_scale = 1.0;
    t->xn = al_shape_numel(&m->in);
    t->yo = al_shape_numel(&m->nodes[m->nnodes - 1].out);
    st = al_optim_init(&t->opt, m, cfg);
    if (st != AL_OK) goto fail;
    t->cfg.l2sp_ref = NULL; /* read by al_optim_init alone: borrowed for this call */
    st = al_model_plan(m, cfg->batch);
    if (st != AL_OK) goto fail;
    size_t B = (size_t)cfg->batch;
    al_arena a = {0};
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) {
            a.size = a.used;
            a.used = 0;
            a.base = al_malloc(a.size);
            if (!a.base) {
                st = AL_ENOMEM;
                goto fail;
            }
            t->block = a.base;
        }
        float *xb = al_arena_floats(&a, B * t->xn);
        float *dl = al_arena_floats(&a, B * t->yo);
        if (pass == 1) {
            t->xb = xb;
            t->dlogits = dl;
        }
    }
    *out = t;
    return AL_OK;
fail:
    al_trainer_free(t);
    return st;
}

al_status al_trainer_set_source(al_trainer *t, int freeze, size_t feat, al_trainer_source_fn fn, void *user) {
    if (!t || !fn) return al_error(AL_EINVAL, "al_trainer_set_source: NULL argument");
    al_model *m = t->m;
    if (freeze < 0 || freeze >= m->nnodes)
        return al_error(AL_ERANGE, "batch source node (freeze point) %d out of range 0..%d", freeze, m->nnodes - 1);
    for (int i = 0; i < freeze; i++)
        for (int p = 0; p < m->nodes[i].nparams; p++)
            if (m->nodes[i].trainable && !m->nodes[i].params[p].is_state)
                return al_error(AL_EINVAL, "node %d is trainable but lies below the batch source's node (the freeze point) %d", i,
                                freeze);
    size_t want = freeze ? al_model_frontier_numel(m, freeze) : t->xn;
    if (feat != want) return al_error(AL_ESHAPE, "batch source gives %zu floats per sample, node %d takes %zu", feat, freeze, want);
    if (feat > t->xn) {
        /* a new block: inputs of node `freeze` may be larger than the model's */
        size_t B = (size_t)t->cfg.batch;
        al_arena a = {0};
        (void)al_arena_floats(&a, B * feat);
        (void)al_arena_floats(&a, B * t->yo);
        char *blk = al_malloc(a.used);
        if (!blk) return AL_ENOMEM;
        al_arena b = {blk, a.used, 0};
        t->xb = al_arena_floats(&b, B * feat);
        t->dlogits = al_arena_floats(&b, B * t->yo);
        al_free(t->block);
        t->block = blk;
    }
    t->freeze = freeze;
    t->source = fn;
    t->source_user = user;
    return AL_OK;
}

al_status al_trainer_check_finished(const al_trainer *t, const al_dataset *train) {
    if (!t || !train) return al_error(AL_EINVAL, "al_trainer_check_finished: NULL argument");
    if (t->pos.active || t->runs_done == 0) return AL_OK;
    /* a finished checkpoint is the result only for the data it was trained on */
    if (train->n != t->train_n || al_dataset_fingerprint(train, t->pool, t->fp_kind) != t->train_fp)
        return al_error(AL_EINVAL,
                        "%s holds a finished run on other training data (%d samples, fingerprint %016llx; these: %d "
                        "samples): remove it or name another checkpoint",
                        t->cfg.checkpoint_path ? t->cfg.checkpoint_path : "the checkpoint", t->train_n,
                        (unsigned long long)t->train_fp, train->n);
    return AL_OK;
}

void al_trainer_free(al_trainer *t) {
    if (!t) return;
    al_optim_free(&t->opt);
    al_free(t->block);
    al_free(t->yb);
    al_free(t->perm);
    al_free(t->best);
    al_snap_free(&t->snap);
    al_head_free(t->head);
    if (t->source_free) t->source_free(t->source_user);
    al_free(t);
}

al_status al_evaluate(al_model *m, al_pool *pool, const al_dataset *d, int batch, double *loss, double *acc) {
    if (!m || !d) return al_error(AL_EINVAL, "al_evaluate: NULL argument");
    if (batch <= 0) return al_error(AL_EINVAL, "al_evaluate: batch must be positive, got %d", batch);
    int k;
    al_status st = al_check_data(m, d, "evaluation data", &k);
    if (st != AL_OK) return st;
    /* planned for the largest call it makes: a batch past the data's size
     * would plan buffers no call fills */
    st = al_model_plan_infer(m, AL_MAX(1, AL_MIN(batch, d->n)), m->nnodes);
    if (st != AL_OK) return st;
    size_t xn = al_shape_numel(&m->in);
    double ls = 0.0;
    long cnt = 0, cor = 0;
    /* consecutive samples are one contiguous (b, xn) matrix: no copy */
    for (int s = 0; s < d->n; s += batch) {
        int b = AL_MIN(batch, d->n - s);
        const float *logits;
        st = al_model_infer(m, pool, d->x + (size_t)s * xn, b, &logits);
        if (st != AL_OK) return st;
        double l;
        long c, r;
        al_softmax_ce(logits, d->y + (size_t)s * (size_t)d->y_len, b * d->y_len, k, 1.0f, NULL, &l, &c, &r);
        ls += l;
        cnt += c;
        cor += r;
    }
    if (loss) *loss = cnt ? ls / (double)cnt : 0.0;
    if (acc) *acc = cnt ? (double)cor / (double)cnt : 0.0;
    return AL_OK;
}

/* Sizes the per-run buffers (not per step). */
static al_status prepare_run(al_trainer *t, const al_dataset *train, const al_dataset *eval) {
    size_t ycap = (size_t)t->cfg.batch * (size_t)train->y_len;
    if (ycap > t->yb_cap) {
        int32_t *y = al_malloc(sizeof(int32_t) * ycap);
        if (!y) return AL_ENOMEM;
        al_free(t->yb);
        t->yb = y;
        t->yb_cap = ycap;
    }
    if (train->n > t->perm_cap) {
        int *p = al_malloc(sizeof(int) * (size_t)train->n);
        if (!p) return AL_ENOMEM;
        al_free(t->perm);
        t->perm = p;
        t->perm_cap = train->n;
        t->perm_epoch = -1;
    }
    if (t->cfg.patience > 0 && eval && !t->best) {
        t->best = al_malloc(sizeof(float) * (t->m->nweights ? t->m->nweights : 1));
        if (!t->best) return AL_ENOMEM;
    }
    const al_train_config *c = &t->cfg;
    if (c->max_rollbacks > 0 || c->checkpoint_every > 0) {
        al_status st = al_snap_alloc(t);
        if (st != AL_OK) return st;
    }
    return al_model_plan(t->m, t->cfg.batch);
}

/* Epoch e's order: Fisher-Yates from the identity with stream (seed, e). */
static void shuffle(int *perm, int n, uint64_t seed, long long epoch, int on) {
    for (int i = 0; i < n; i++) perm[i] = i;
    if (!on) return;
    al_rng r;
    al_rng_seed(&r, seed, 0x5f1e0000ULL + (uint64_t)epoch);
    for (int i = n - 1; i > 0; i--) {
        int j = (int)al_rng_below(&r, (uint32_t)i + 1u);
        int tmp = perm[i];
        perm[i] = perm[j];
        perm[j] = tmp;
    }
}

/* A new run: a fresh position, the data's fingerprints (so a resumed run can
 * refuse other data) and, with rollbacks on, the first good state. */
static void begin_run(al_trainer *t, const al_dataset *train, const al_dataset *eval) {
    memset(&t->pos, 0, sizeof t->pos);
    t->pos.active = 1;
    t->pos.rep.best_eval_loss = t->pos.rep.best_eval_acc = t->pos.rep.final_eval_acc = -1.0;
    t->pos.rep.lr_scale = 1.0;
    t->pos.ref_loss = -1.0;
    t->train_ptr = train;
    t->eval_ptr = eval;
    t->train_n = train->n;
    t->has_eval = eval != NULL;
    t->fp_kind = AL_FP_KIND;
    t->train_fp = al_dataset_fingerprint(train, t->pool, t->fp_kind);
    t->eval_fp = eval ? al_dataset_fingerprint(eval, t->pool, t->fp_kind) : 0;
    t->data_checked = 1;
    t->run_seconds = 0.0;
    t->ep_elapsed = 0.0;
    if (t->cfg.max_rollbacks > 0) al_snap_capture(t);
}

/* A run continued by a later slice or after al_trainer_resume: same data. */
static al_status check_same_data(al_trainer *t, const al_dataset *train, const al_dataset *eval) {
    if (t->data_checked && train == t->train_ptr && eval == t->eval_ptr) return AL_OK;
    if (train->n != t->train_n || al_dataset_fingerprint(train, t->pool, t->fp_kind) != t->train_fp)
        return al_error(AL_EINVAL,
                        "the training data (%d samples) differ from those of the run in progress (%d samples, "
                        "fingerprint %016llx): continue a resumed or sliced run with the same data",
                        train->n, t->train_n, (unsigned long long)t->train_fp);
    if ((eval != NULL) != t->has_eval || (eval && al_dataset_fingerprint(eval, t->pool, t->fp_kind) != t->eval_fp))
        return al_error(AL_EINVAL, "the evaluation data differ from those of the run in progress (%s)",
                        t->has_eval ? "it had an evaluation set" : "it had none");
    t->train_ptr = train;
    t->eval_ptr = eval;
    t->data_checked = 1;
    return AL_OK;
}

/* Divergence: back to the last good state of this run with a lower learning
 * rate, or, past max_rollbacks, AL_ENUMERIC with the last good weights. */
static al_status rollback(al_trainer *t, const char *why) {
    const al_train_config *c = &t->cfg;
    int n = t->pos.rep.rollbacks;
    double scale = t->pos.rep.lr_scale;
    int have = t->snap.valid && t->snap.pos.active;
    if (!have || n >= c->max_rollbacks) {
        if (have) al_snap_restore(t);
        t->pos.active = 0;
        t->pos.rep.rollbacks = n;
        t->pos.rep.lr_scale = scale;
        if (n > 0)
            return al_error(AL_ENUMERIC, "%s, after %d rollback%s to lower learning rates (x%g); the model holds the "
                                         "last good weights", why, n, n == 1 ? "" : "s", scale);
        return al_error(AL_ENUMERIC, "%s; try a lower learning rate or gradient clipping", why);
    }
    al_snap_restore(t);
    t->pos.rep.rollbacks = n + 1;
    t->pos.rep.lr_scale = scale * c->rollback_lr_factor;
    al_log(AL_LOG_WARN,
           "%s: rolled back to step %lld of the run (epoch %d) and lowered the learning rate to x%g of its schedule "
           "(rollback %d of at most %d)",
           why, t->pos.gstep, t->pos.ep + 1, t->pos.rep.lr_scale, n + 1, c->max_rollbacks);
    return AL_OK;
}

/* The batch's images gathered by sample over the pool: a copy, the same
 * bytes whatever the split. MobileNetV2's 96x96 batch of 32 is 3.5 MB,
 * which on one thread was a serial 0.5 ms of every step. */
typedef struct gather_args {
    float *dst;
    const float *src;
    const int *idx;
    size_t xn;
    int b;
} gather_args;

static void gather_task(void *arg, int ith, int nth) {
    const gather_args *a = arg;
    long lo, hi;
    al_split(a->b, ith, nth, &lo, &hi);
    for (long j = lo; j < hi; j++) memcpy(a->dst + (size_t)j * a->xn, a->src + (size_t)a->idx[j] * a->xn, sizeof(float) * a->xn);
}

/* Below this many floats a batch is gathered on the calling thread. */
#define GATHER_PAR_MIN 65536

/* One step at the position: gather batch -> zero grads -> forward -> softmax
 * CE -> backward -> clip -> optimizer step. A non-finite loss or gradient
 * norm leaves the weights untouched and fills `why`. */
static al_status step(al_trainer *t, const al_dataset *train, int k, long long per_epoch, long long total,
                      char *why, size_t why_cap) {
    al_model *m = t->m;
    const al_train_config *c = &t->cfg;
    al_run_pos *p = &t->pos;
    const int n = train->n, B = c->batch, yl = train->y_len;
    const size_t xn = t->xn;
    const long long s = p->step;
    int b = (int)AL_MIN((long long)B, (long long)n - s * B);
    const int *idx = t->perm + s * B;
    int32_t *yb = t->yb;
    long want = 0;
    al_status st;
    if (!t->source) {
        gather_args ga = {t->xb, train->x, idx, xn, b};
        if (al_pool_size(t->pool) > 1 && (size_t)b * xn >= GATHER_PAR_MIN)
            al_pool_run(t->pool, gather_task, &ga);
        else
            gather_task(&ga, 0, 1);
    }
    for (int j = 0; j < b; j++) memcpy(yb + (size_t)j * yl, train->y + (size_t)idx[j] * yl, sizeof(int32_t) * (size_t)yl);
    if (t->source && (st = t->source(t->source_user, idx, b, t->epochs_done, t->xb)) != AL_OK) return st;
    for (int j = 0; j < b * yl; j++) want += yb[j] >= 0;
    /* x1.0 is exact: without a rollback the schedule's lr is used bit for bit */
    double lr = al_sched_lr(c, p->gstep, per_epoch, total) * p->rep.lr_scale;
    if (want > 0) {
        /* mean over the counted rows, as F.cross_entropy(reduction='mean') */
        double l;
        long cn, cr;
        if (t->head) {
            /* only some output rows trained: their logits, loss and gradients (head.c) */
            if ((st = al_head_step(t, train, idx, b, yb, want, &l, &cn, &cr)) != AL_OK) return st;
        } else {
            al_model_zero_grad_pool(m, t->pool);
            const float *logits;
            st = al_model_forward_from(m, t->pool, t->freeze, t->xb, b, 1, &logits);
            if (st != AL_OK) return st;
            al_softmax_ce_pool(t->pool, logits, yb, b * yl, k, 1.0f / (float)want, t->dlogits, &l, &cn, &cr);
        }
        if (!isfinite(l)) {
            snprintf(why, why_cap, "the training loss became %s at epoch %d, step %lld (lr %g)",
                     isnan(l) ? "NaN" : "Inf", p->ep + 1, s + 1, lr);
            return AL_OK;
        }
        if (!t->head && (st = al_model_backward(m, t->pool, t->xb, t->dlogits, b)) != AL_OK) return st;
        /* the norm is checked every step (NaN/Inf in any gradient); it clips only with clip_norm > 0 */
        double gn = al_optim_clip(&t->opt, t->pool, c->clip_norm);
        if (!isfinite(gn)) {
            snprintf(why, why_cap, "the gradient norm became %s at epoch %d, step %lld (lr %g)",
                     isnan(gn) ? "NaN" : "Inf", p->ep + 1, s + 1, lr);
            return AL_OK;
        }
        al_optim_step(&t->opt, t->pool, (float)lr);
        p->loss_sum += l;
        p->iv_loss += l;
        p->iv_count += cn;
        if (p->ref_loss < 0.0 && cn > 0) p->ref_loss = l / (double)cn; /* the run's starting loss */
        p->counted += cn;
        p->correct += cr;
    }
    p->step++;
    p->gstep++;
    t->steps_done++;
    p->rep.steps++;
    p->rep.samples += b;
    return AL_OK;
}

/* The end of an epoch: report, evaluation, early stopping. *stop = 1 ends
 * the run. */
static al_status end_epoch(al_trainer *t, const al_dataset *eval, long long per_epoch, long long total, double te,
                           int *stop) {
    al_model *m = t->m;
    const al_train_config *c = &t->cfg;
    al_run_pos *p = &t->pos;
    al_train_report *r = &p->rep;
    const int early = c->patience > 0 && eval;
    *stop = 0;
    t->epochs_done++;
    r->epochs_run = p->ep + 1;
    r->final_loss = p->counted ? p->loss_sum / (double)p->counted : 0.0;
    r->final_train_acc = p->counted ? (double)p->correct / (double)p->counted : 0.0;
    al_epoch_info info = {0};
    info.epoch = p->ep + 1;
    info.steps = (int)per_epoch;
    info.eval_loss = info.eval_acc = -1.0;
    info.step = (int)per_epoch;
    info.loss = r->final_loss;
    info.train_acc = r->final_train_acc;
    info.lr = al_sched_lr(c, p->gstep > 0 ? p->gstep - 1 : 0, per_epoch, total) * r->lr_scale;
    if (eval) {
        double el, ea;
        al_status st = al_evaluate(m, t->pool, eval, c->batch, &el, &ea);
        if (st != AL_OK) return st;
        info.eval_loss = el;
        info.eval_acc = ea;
        r->final_eval_acc = ea;
        if (r->best_epoch == 0 || el < r->best_eval_loss) {
            r->best_epoch = p->ep + 1;
            r->best_eval_loss = el;
            r->best_eval_acc = ea;
            p->bad_epochs = 0;
            if (early) {
                memcpy(t->best, m->wblock, sizeof(float) * m->nweights);
                p->have_best = 1;
            }
        } else if (early && ++p->bad_epochs >= c->patience) {
            *stop = 1;
        }
    }
    info.seconds = now_seconds() - te;
    if (c->progress && c->progress(c->progress_user, &info, 1))
        return al_error(AL_ECANCELED, "training canceled by the progress callback after epoch %d", p->ep + 1);
    p->ep++;
    p->step = 0;
    p->loss_sum = 0.0;
    p->counted = p->correct = 0;
    return AL_OK;
}

/* Runs steps until the budget is spent (*done = 0) or the run ends (*done =
 * 1). On return *touched says whether t->pos describes this call's run. */
static al_status slice(al_trainer *t, const al_dataset *train, const al_dataset *eval, long long max_steps,
                       double max_ms, int *done, int *touched) {
    al_model *m = t->m;
    const al_train_config *c = &t->cfg;
    if (train->n <= 0) return al_error(AL_EINVAL, "the training set is empty");
    int k;
    al_status st = al_check_data(m, train, "training data", &k);
    if (st != AL_OK) return st;
    if (eval) {
        st = al_check_data(m, eval, "evaluation data", NULL);
        if (st != AL_OK) return st;
    }
    if (!al_optim_matches(&t->opt, m))
        return al_error(AL_ESTATE, "the model's frozen layers changed after the trainer was created; create a new trainer");
    if (t->pos.active && (st = check_same_data(t, train, eval)) != AL_OK) return st;
    st = prepare_run(t, train, eval);
    if (st != AL_OK) return st;
    if (!t->pos.active) begin_run(t, train, eval);
    *touched = 1;

    const int n = train->n, B = c->batch;
    const long long per_epoch = (n + B - 1) / B, total = per_epoch * (long long)c->epochs;
    /* rollback points: every checkpoint, or at each epoch's start */
    const long long every = c->checkpoint_every > 0 ? c->checkpoint_every : c->max_rollbacks > 0 ? per_epoch : 0;
    const int to_disk = c->checkpoint_path && c->checkpoint_every > 0;
    const double t0 = now_seconds();
    double te = t0 - t->ep_elapsed;
    long long ran = 0;
    char why[200];
    al_run_pos *p = &t->pos;

    while (p->ep < c->epochs) {
        if (p->step >= per_epoch) {
            int stop;
            if ((st = end_epoch(t, eval, per_epoch, total, te, &stop)) != AL_OK) goto abort;
            te = now_seconds();
            if (stop) {
                p->rep.stopped_early = 1;
                break;
            }
            continue;
        }
        if (ran > 0 && ((max_steps > 0 && ran >= max_steps) || (max_ms > 0.0 && (now_seconds() - t0) * 1e3 >= max_ms))) {
            t->ep_elapsed = now_seconds() - te;
            return AL_OK;
        }
        if (t->perm_epoch != t->epochs_done) {
            shuffle(t->perm, n, c->seed, t->epochs_done, c->shuffle);
            t->perm_epoch = t->epochs_done;
        }
        why[0] = '\0';
        if ((st = step(t, train, k, per_epoch, total, why, sizeof why)) != AL_OK) goto abort;
        if (!why[0] && every > 0 && t->steps_done % every == 0) {
            int got = al_trainer_point(t, 1);
            if (got < 0)
                snprintf(why, sizeof why, "the weights became non-finite by epoch %d, step %lld", p->ep + 1, p->step);
            /* a failed write leaves the run in progress: the caller may retry */
            else if (got > 0 && to_disk && (st = al_snap_write(t, c->checkpoint_path)) != AL_OK)
                return st;
        }
        if (why[0]) {
            if ((st = rollback(t, why)) != AL_OK) return st;
            te = now_seconds();
            continue;
        }
        ran++;
        if (c->progress) {
            al_epoch_info info = {0};
            info.epoch = p->ep + 1;
            info.steps = (int)per_epoch;
            info.eval_loss = info.eval_acc = -1.0;
            info.step = (int)p->step;
            info.loss = p->counted ? p->loss_sum / (double)p->counted : 0.0;
            info.train_acc = p->counted ? (double)p->correct / (double)p->counted : 0.0;
            info.lr = al_sched_lr(c, p->gstep - 1, per_epoch, total) * p->rep.lr_scale;
            info.seconds = now_seconds() - te;
            if (c->progress(c->progress_user, &info, 0)) {
                st = al_error(AL_ECANCELED, "training canceled by the progress callback at epoch %d, step %lld",
                              p->ep + 1, p->step);
                goto abort;
            }
        }
    }
    if (p->have_best && p->rep.best_epoch != p->rep.epochs_run) {
        /* the weights of the best epoch, and the numbers that go with them */
        memcpy(m->wblock, t->best, sizeof(float) * m->nweights);
        p->rep.final_eval_acc = p->rep.best_eval_acc;
    }
    p->active = 0;
    t->runs_done++;
    *done = 1;
    if (to_disk) {
        al_snap_capture(t);
        if ((st = al_snap_write(t, c->checkpoint_path)) != AL_OK) return st;
    }
    return AL_OK;
abort:
    p->active = 0;
    return st;
}

al_status al_trainer_run_slice(al_trainer *t, const al_dataset *train, const al_dataset *eval, long long max_steps,
                               double max_ms, int *done, al_train_report *r) {
    al_train_report local;
    int done_local;
    if (!r) r = &local;
    if (!done) done = &done_local;
    *done = 0;
    memset(r, 0, sizeof *r);
    r->best_eval_loss = r->best_eval_acc = r->final_eval_acc = -1.0;
    r->lr_scale = 1.0;
    if (!t || !train) return al_error(AL_EINVAL, "al_trainer_run_slice: NULL argument");
    double t0 = now_seconds();
    int touched = 0;
    al_status st = slice(t, train, eval, max_steps, max_ms, done, &touched);
    if (touched) {
        /* also for a failed or canceled run: what was done */
        t->run_seconds += now_seconds() - t0;
        *r = t->pos.rep;
        r->seconds = t->run_seconds;
    }
    return st;
}

al_status al_trainer_run(al_trainer *t, const al_dataset *train, const al_dataset *eval, al_train_report *r) {
    int done;
    return al_trainer_run_slice(t, train, eval, 0, 0.0, &done, r);
}

void al_trainer_get_pos(const al_trainer *t, al_trainer_pos *p) {
    if (!p) return;
    memset(p, 0, sizeof *p);
    p->lr_scale = 1.0;
    if (!t) return;
    p->epochs_done = t->epochs_done;
    p->steps_done = t->steps_done;
    p->runs_done = t->runs_done;
    p->in_run = t->pos.active;
    p->epoch = t->pos.ep;
    p->step = t->pos.step;
    p->rollbacks = t->pos.rep.rollbacks;
    p->lr_scale = t->pos.rep.lr_scale;
}

void al_trainer_get_report(const al_trainer *t, al_train_report *r) {
    if (!r) return;
    memset(r, 0, sizeof *r);
    r->best_eval_loss = r->best_eval_acc = r->final_eval_acc = -1.0;
    r->lr_scale = 1.0;
    if (!t) return;
    *r = t->pos.rep;
    r->seconds = t->run_seconds;
}
