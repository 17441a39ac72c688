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
#include "optim.h"

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

/* The data must fit the model: same per-sample input shape, the output
 * splits into y_len rows of k logits, and every label is < k. */
static al_status check_data(const al_model *m, const al_dataset *d, const char *what, int *k_out) {
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
    t->xn = al_shape_numel(&m->in);
    t->yo = al_shape_numel(&m->nodes[m->nnodes - 1].out);
    st = al_optim_init(&t->opt, m, cfg);
    if (st != AL_OK) goto fail;
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

al_status al_trainer_set_source(al_trainer *t, int start, size_t feat, al_trainer_source_fn fn, void *user) {
    if (!t || !fn) return al_error(AL_EINVAL, "al_trainer_set_source: NULL argument");
    al_model *m = t->m;
    if (start < 0 || start >= m->nnodes)
        return al_error(AL_ERANGE, "batch source start node %d out of range 0..%d", start, m->nnodes - 1);
    for (int i = 0; i < start; i++)
        for (int p = 0; p < m->nodes[i].nparams; p++)
            if (m->nodes[i].trainable && !m->nodes[i].params[p].is_state)
                return al_error(AL_EINVAL, "node %d is trainable but lies below the batch source's start node %d", i,
                                start);
    size_t want = start ? al_shape_numel(&m->nodes[start - 1].out) : t->xn;
    if (feat != want) return al_error(AL_ESHAPE, "batch source gives %zu floats per sample, node %d takes %zu", feat, start, want);
    if (feat > t->xn) {
        /* a new block: inputs of node `start` may be larger than the model's */
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
    t->start = start;
    t->source = fn;
    t->source_user = user;
    return AL_OK;
}

void al_trainer_free(al_trainer *t) {
    if (!t) return;
    al_optim_free(&t->opt);
    al_free(t->block);
    al_free(t->yb);
    al_free(t->perm);
    al_free(t->best);
    al_free(t);
}

al_status al_evaluate(al_model *m, al_pool *pool, const al_dataset *d, int batch, double *loss, double *acc) {
    if (!m || !d) return al_error(AL_EINVAL, "al_evaluate: NULL argument");
    if (batch <= 0) return al_error(AL_EINVAL, "al_evaluate: batch must be positive, got %d", batch);
    int k;
    al_status st = check_data(m, d, "evaluation data", &k);
    if (st != AL_OK) return st;
    st = al_model_plan(m, batch);
    if (st != AL_OK) return st;
    size_t xn = al_shape_numel(&m->in);
    double ls = 0.0;
    long cnt = 0, cor = 0;
    /* consecutive samples are one contiguous (b, xn) matrix: no copy */
    for (int s = 0; s < d->n; s += batch) {
        int b = AL_MIN(batch, d->n - s);
        const float *logits;
        st = al_model_forward_from(m, pool, 0, d->x + (size_t)s * xn, b, 0, &logits);
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
    }
    if (t->cfg.patience > 0 && eval && !t->best) {
        t->best = al_malloc(sizeof(float) * (t->m->nweights ? t->m->nweights : 1));
        if (!t->best) return AL_ENOMEM;
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

static al_status run(al_trainer *t, const al_dataset *train, const al_dataset *eval, al_train_report *r) {
    al_model *m = t->m;
    const al_train_config *c = &t->cfg;
    if (train->n <= 0) return al_error(AL_EINVAL, "the training set is empty");
    int k;
    al_status st = check_data(m, train, "training data", &k);
    if (st != AL_OK) return st;
    if (eval) {
        st = check_data(m, eval, "evaluation data", NULL);
        if (st != AL_OK) return st;
    }
    if (!al_optim_matches(&t->opt, m))
        return al_error(AL_ESTATE, "the model's frozen layers changed after the trainer was created; create a new trainer");
    st = prepare_run(t, train, eval);
    if (st != AL_OK) return st;

    const int n = train->n, B = c->batch, yl = train->y_len;
    const size_t xn = t->xn;
    const long long per_epoch = (n + B - 1) / B, total = per_epoch * (long long)c->epochs;
    const int early = c->patience > 0 && eval;
    int bad_epochs = 0, have_best = 0;
    long long gstep = 0;

    for (int ep = 0; ep < c->epochs; ep++) {
        double te = now_seconds();
        shuffle(t->perm, n, c->seed, t->epochs_done, c->shuffle);
        double loss_sum = 0.0;
        long counted = 0, correct = 0;
        al_epoch_info info = {0};
        info.epoch = ep + 1;
        info.steps = (int)per_epoch;
        info.eval_loss = info.eval_acc = -1.0;
        for (long long s = 0; s < per_epoch; s++, gstep++) {
            int b = (int)AL_MIN((long long)B, (long long)n - s * B);
            const int *idx = t->perm + s * B;
            int32_t *yb = t->yb;
            long want = 0;
            for (int j = 0; j < b; j++) {
                if (!t->source) memcpy(t->xb + (size_t)j * xn, train->x + (size_t)idx[j] * xn, sizeof(float) * xn);
                memcpy(yb + (size_t)j * yl, train->y + (size_t)idx[j] * yl, sizeof(int32_t) * (size_t)yl);
            }
            if (t->source && (st = t->source(t->source_user, idx, b, t->epochs_done, t->xb)) != AL_OK) return st;
            for (int j = 0; j < b * yl; j++) want += yb[j] >= 0;
            double lr = al_sched_lr(c, gstep, per_epoch, total);
            if (want > 0) {
                /* mean over the counted rows, as F.cross_entropy(reduction='mean') */
                al_model_zero_grad(m);
                const float *logits;
                st = al_model_forward_from(m, t->pool, t->start, t->xb, b, 1, &logits);
                if (st != AL_OK) return st;
                double l;
                long cn, cr;
                al_softmax_ce(logits, yb, b * yl, k, 1.0f / (float)want, t->dlogits, &l, &cn, &cr);
                if (!isfinite(l))
                    return al_error(AL_ENUMERIC,
                                    "the training loss became %s at epoch %d, step %lld (lr %g); "
                                    "try a lower learning rate or gradient clipping",
                                    isnan(l) ? "NaN" : "Inf", ep + 1, s + 1, lr);
                st = al_model_backward(m, t->pool, t->xb, t->dlogits, b);
                if (st != AL_OK) return st;
                if (c->clip_norm > 0.0) {
                    double gn = al_optim_clip(&t->opt, c->clip_norm);
                    if (!isfinite(gn))
                        return al_error(AL_ENUMERIC, "the gradient norm became %s at epoch %d, step %lld (lr %g)",
                                        isnan(gn) ? "NaN" : "Inf", ep + 1, s + 1, lr);
                }
                al_optim_step(&t->opt, (float)lr);
                loss_sum += l;
                counted += cn;
                correct += cr;
            }
            t->steps_done++;
            r->steps++;
            r->samples += b;
            if (c->progress) {
                info.step = (int)(s + 1);
                info.loss = counted ? loss_sum / (double)counted : 0.0;
                info.train_acc = counted ? (double)correct / (double)counted : 0.0;
                info.lr = lr;
                info.seconds = now_seconds() - te;
                if (c->progress(c->progress_user, &info, 0))
                    return al_error(AL_ECANCELED, "training canceled by the progress callback at epoch %d, step %lld",
                                    ep + 1, s + 1);
            }
        }
        t->epochs_done++;
        r->epochs_run = ep + 1;
        r->final_loss = counted ? loss_sum / (double)counted : 0.0;
        r->final_train_acc = counted ? (double)correct / (double)counted : 0.0;
        info.step = (int)per_epoch;
        info.loss = r->final_loss;
        info.train_acc = r->final_train_acc;
        info.lr = al_sched_lr(c, gstep > 0 ? gstep - 1 : 0, per_epoch, total);
        int stop = 0;
        if (eval) {
            double el, ea;
            st = al_evaluate(m, t->pool, eval, B, &el, &ea);
            if (st != AL_OK) return st;
            info.eval_loss = el;
            info.eval_acc = ea;
            r->final_eval_acc = ea;
            if (r->best_epoch == 0 || el < r->best_eval_loss) {
                r->best_epoch = ep + 1;
                r->best_eval_loss = el;
                r->best_eval_acc = ea;
                bad_epochs = 0;
                if (early) {
                    memcpy(t->best, m->wblock, sizeof(float) * m->nweights);
                    have_best = 1;
                }
            } else if (early && ++bad_epochs >= c->patience) {
                stop = 1;
            }
        }
        info.seconds = now_seconds() - te;
        if (c->progress && c->progress(c->progress_user, &info, 1))
            return al_error(AL_ECANCELED, "training canceled by the progress callback after epoch %d", ep + 1);
        if (stop) {
            r->stopped_early = 1;
            break;
        }
    }
    if (have_best && r->best_epoch != r->epochs_run) {
        /* the weights of the best epoch, and the numbers that go with them */
        memcpy(m->wblock, t->best, sizeof(float) * m->nweights);
        r->final_eval_acc = r->best_eval_acc;
    }
    return AL_OK;
}

al_status al_trainer_run(al_trainer *t, const al_dataset *train, const al_dataset *eval, al_train_report *r) {
    al_train_report local;
    if (!r) r = &local;
    memset(r, 0, sizeof *r);
    r->best_eval_loss = r->best_eval_acc = r->final_eval_acc = -1.0;
    if (!t || !train) return al_error(AL_EINVAL, "al_trainer_run: NULL argument");
    double t0 = now_seconds();
    al_status st = run(t, train, eval, r);
    r->seconds = now_seconds() - t0; /* also for a failed or canceled run: what was done */
    return st;
}
