/* Checkpoints: the whole training state in memory (the rollback point) and
 * in a GGUF file (crash-safe resume).
 *
 * What a run needs to go on exactly as it would have: the weights of the
 * trainable nodes (state tensors such as batch-norm statistics included),
 * the optimizer's buffers and step count, the position (epoch, step in the
 * epoch, the run's schedule clock, the epoch's running sums, early-stopping
 * state and best weights, the report so far, rollbacks and the lr factor),
 * the model's dropout stream and the carried LSTM state. The shuffle of an
 * epoch is a pure function of (seed, epochs_done) and a batch source's
 * augmentation of (seed, sample, epoch), so neither is stored; the runtime
 * cache is an accelerator whose entries equal recomputation bit for bit.
 *
 * A file also holds what must match for a resume to make sense: the
 * architecture (spec, trainable flags), a fingerprint of the frozen weights,
 * the training configuration field by field (so a refusal names the field),
 * the batch source's fingerprint, and fingerprints of the run's data.
 * Layout: docs/FORMAT.md, "Checkpoints". */

#include "train/train.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define CKPT_ARCH "autlearn-checkpoint"
#define CKPT_VERSION 1u
#define K(x) "autlearn.ckpt." x

/* ---- fingerprints ------------------------------------------------------------ */

/* 64-bit words through a multiply-xorshift mix: fast enough to run over a
 * whole data set at the start of each run (not a cryptographic hash). */
static uint64_t mix(uint64_t h, uint64_t v) {
    h ^= v;
    h *= 0x9E3779B97F4A7C15ULL;
    return h ^ (h >> 32);
}

uint64_t al_hash_bytes(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, b + i, 8);
        h = mix(h, v);
    }
    uint64_t tail = 0;
    for (size_t j = 0; i + j < n; j++) tail |= (uint64_t)b[i + j] << (8 * j);
    return mix(h, tail ^ ((uint64_t)n << 56));
}

/* The shape and label fields both kinds of fingerprint begin with. */
static uint64_t data_header(uint64_t h, const al_dataset *d) {
    h = mix(h, (uint64_t)(uint32_t)d->n);
    h = mix(h, (uint64_t)(uint32_t)d->xs.ndim);
    for (int i = 0; i < d->xs.ndim; i++) h = mix(h, (uint64_t)(uint32_t)d->xs.d[i]);
    h = mix(h, (uint64_t)(uint32_t)d->y_len);
    return mix(h, (uint64_t)(uint32_t)d->num_classes);
}

/* Kind 1 (checkpoints written before kind 2): one chain over every byte,
 * about 6 cycles a word on one thread. Kept to check a resumed run of that
 * kind. */
static uint64_t fingerprint_v1(const al_dataset *d) {
    uint64_t h = data_header(0xa1d5e7ULL, d);
    if (d->n > 0) {
        h = al_hash_bytes(h, d->x, sizeof(float) * (size_t)d->n * al_shape_numel(&d->xs));
        h = al_hash_bytes(h, d->y, sizeof(int32_t) * (size_t)d->n * (size_t)d->y_len);
    }
    return h;
}

/* Kind 2: the input bytes in at most FP_SEGMENTS segments (a count and
 * bounds fixed by the byte count alone, so the value is the same for any
 * pool), each hashed by four interleaved chains (four words in flight, not
 * one), the segments' hashes then chained in order. The segments run over
 * the pool: a run's fingerprint of 256 MobileNet images (28 MB) took 7.7 ms
 * of serial time as kind 1. */
#define FP_SEGMENTS 64
#define FP_SEGMENT_MIN ((size_t)1 << 16)

static uint64_t hash_lanes(uint64_t seed, const unsigned char *b, size_t n) {
    uint64_t l0 = mix(seed, 1), l1 = mix(seed, 2), l2 = mix(seed, 3), l3 = mix(seed, 4);
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        uint64_t v[4];
        memcpy(v, b + i, sizeof v);
        l0 = mix(l0, v[0]);
        l1 = mix(l1, v[1]);
        l2 = mix(l2, v[2]);
        l3 = mix(l3, v[3]);
    }
    uint64_t h = mix(mix(mix(mix(mix(seed, (uint64_t)n), l0), l1), l2), l3);
    return al_hash_bytes(h, b + i, n - i);
}

typedef struct {
    const unsigned char *b;
    size_t n, seg;   /* bytes; a segment's bytes (the last may be shorter) */
    int nseg;
    uint64_t *out;   /* nseg hashes */
} fp_args;

static void fp_task(void *arg, int ith, int nth) {
    const fp_args *a = arg;
    long lo, hi;
    al_split(a->nseg, ith, nth, &lo, &hi);
    for (long s = lo; s < hi; s++) {
        size_t at = (size_t)s * a->seg, len = AL_MIN(a->seg, a->n - at);
        a->out[s] = hash_lanes(0x5e6ULL + (uint64_t)s, a->b + at, len);
    }
}

static uint64_t hash_segments(al_pool *pool, uint64_t h, const void *p, size_t n) {
    uint64_t out[FP_SEGMENTS];
    int nseg = (int)AL_MAX((size_t)1, AL_MIN((size_t)FP_SEGMENTS, n / FP_SEGMENT_MIN));
    size_t seg = ((n + (size_t)nseg - 1) / (size_t)nseg + 31) / 32 * 32;
    if (seg == 0) seg = 32;
    nseg = (int)((n + seg - 1) / seg); /* rounding the segments up may leave fewer */
    fp_args a = {p, n, seg, nseg, out};
    if (nseg > 1 && al_pool_size(pool) > 1)
        al_pool_run(pool, fp_task, &a);
    else
        fp_task(&a, 0, 1);
    h = mix(h, (uint64_t)n);
    for (int s = 0; s < nseg; s++) h = mix(h, out[s]);
    return h;
}

uint64_t al_dataset_fingerprint(const al_dataset *d, al_pool *pool, int kind) {
    if (kind == AL_FP_KIND_V1) return fingerprint_v1(d);
    uint64_t h = data_header(0xa1d5e8ULL, d);
    if (d->n > 0) {
        h = hash_segments(pool, h, d->x, sizeof(float) * (size_t)d->n * al_shape_numel(&d->xs));
        h = hash_lanes(h, (const unsigned char *)d->y, sizeof(int32_t) * (size_t)d->n * (size_t)d->y_len);
    }
    return h;
}

/* The frozen nodes' weights: a resume on another cloud model is refused. */
static uint64_t frozen_fingerprint(const al_model *m) {
    uint64_t h = 0xf002e2ULL;
    for (int i = 0; i < m->nnodes; i++) {
        if (m->nodes[i].trainable) continue;
        for (int p = 0; p < m->nodes[i].nparams; p++)
            h = al_hash_bytes(h, m->nodes[i].params[p].w, sizeof(float) * m->nodes[i].params[p].n);
    }
    return h;
}

/* ---- the snapshot in memory --------------------------------------------------- */

static size_t trainable_floats(const al_model *m) {
    size_t n = 0;
    for (int i = 0; i < m->nnodes; i++)
        if (m->nodes[i].trainable)
            for (int p = 0; p < m->nodes[i].nparams; p++) n += m->nodes[i].params[p].n;
    return n;
}

/* Rows of carried LSTM state kept: the training batch's (the rest is never read by training). */
static size_t lstm_floats(const al_trainer *t) {
    size_t n = 0;
    for (int i = 0; i < t->m->nnodes; i++) {
        const al_node *nd = &t->m->nodes[i];
        if (nd->state && nd->maxbatch >= t->cfg.batch) n += 2 * (size_t)t->cfg.batch * (size_t)nd->cfg.units;
    }
    return n;
}

static size_t snap_wn(const al_trainer *t) { return trainable_floats(t->m); }

al_status al_snap_alloc(al_trainer *t) {
    al_snap *s = &t->snap;
    if (s->block) return AL_OK;
    size_t wn = snap_wn(t), of = t->opt.nfloats;
    int nb = 0;
    for (int i = 0; i < t->opt.np; i++) nb = AL_MAX(nb, (t->opt.s1[i] != NULL) + (t->opt.s2[i] != NULL));
    size_t best = t->cfg.patience > 0 ? t->m->nweights : 0, ln = lstm_floats(t);
    al_arena a = {0};
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) {
            a.size = a.used;
            a.used = 0;
            a.base = al_malloc(a.size ? a.size : 1);
            if (!a.base) return AL_ENOMEM;
        }
        float *w = al_arena_floats(&a, wn);
        float *s1 = nb >= 1 ? al_arena_floats(&a, of) : NULL;
        float *s2 = nb >= 2 ? al_arena_floats(&a, of) : NULL;
        float *b = best ? al_arena_floats(&a, best) : NULL;
        float *l = ln ? al_arena_floats(&a, ln) : NULL;
        if (pass == 1) {
            memset(s, 0, sizeof *s);
            s->block = a.base;
            s->w = w;
            s->s1 = s1;
            s->s2 = s2;
            s->best = b;
            s->lstm = l;
            s->lstm_n = ln;
        }
    }
    return AL_OK;
}

void al_snap_free(al_snap *s) {
    if (!s) return;
    al_free(s->block);
    memset(s, 0, sizeof *s);
}

int al_trainer_weights_finite(const al_trainer *t) {
    for (int i = 0; i < t->opt.np; i++) {
        const float *w = t->opt.p[i]->w;
        for (size_t j = 0; j < t->opt.p[i]->n; j++)
            if (!isfinite(w[j])) return 0;
    }
    return 1;
}

/* A loss on its way to Inf stays finite for a few steps; a point taken then
 * would only lead back into the divergence. */
int al_trainer_point(al_trainer *t, int periodic) {
    al_run_pos *p = &t->pos;
    if (!al_trainer_weights_finite(t)) return -1;
    double mean = p->iv_count ? p->iv_loss / (double)p->iv_count : 0.0;
    if (p->active && p->ref_loss >= 0.0 && !(mean <= AL_LOSS_GUARD * p->ref_loss + AL_LOSS_GUARD_ABS)) {
        if (periodic) {
            al_log(AL_LOG_INFO, "step %lld: mean loss %g since the last good state is far above the run's best %g; "
                                "no rollback point or checkpoint taken", t->steps_done, mean, p->ref_loss);
            p->iv_loss = 0.0;
            p->iv_count = 0;
        }
        return 0;
    }
    if (p->iv_count) p->ref_loss = p->ref_loss < 0.0 ? mean : AL_MIN(p->ref_loss, mean);
    p->iv_loss = 0.0;
    p->iv_count = 0;
    al_snap_capture(t);
    return 1;
}

/* dir 0: live -> snapshot, 1: snapshot -> live. */
static void copy_state(al_trainer *t, int dir) {
    al_snap *s = &t->snap;
    al_model *m = t->m;
    size_t o = 0, wn = snap_wn(t);
    for (int i = 0; i < m->nnodes; i++) {
        if (!m->nodes[i].trainable) continue;
        for (int p = 0; p < m->nodes[i].nparams; p++) {
            al_param *pr = &m->nodes[i].params[p];
            if (o + pr->n > wn) return; /* the trained set changed: callers check al_optim_matches first */
            if (dir)
                memcpy(pr->w, s->w + o, sizeof(float) * pr->n);
            else
                memcpy(s->w + o, pr->w, sizeof(float) * pr->n);
            o += pr->n;
        }
    }
    o = 0;
    for (int i = 0; i < t->opt.np; i++) {
        size_t n = t->opt.p[i]->n;
        if (t->opt.s1[i] && s->s1) {
            if (dir)
                memcpy(t->opt.s1[i], s->s1 + o, sizeof(float) * n);
            else
                memcpy(s->s1 + o, t->opt.s1[i], sizeof(float) * n);
        }
        if (t->opt.s2[i] && s->s2) {
            if (dir)
                memcpy(t->opt.s2[i], s->s2 + o, sizeof(float) * n);
            else
                memcpy(s->s2 + o, t->opt.s2[i], sizeof(float) * n);
        }
        o += n;
    }
    if (s->best && t->best) {
        if (dir)
            memcpy(t->best, s->best, sizeof(float) * m->nweights);
        else
            memcpy(s->best, t->best, sizeof(float) * m->nweights);
    }
    o = 0;
    for (int i = 0; i < m->nnodes && s->lstm; i++) {
        al_node *nd = &m->nodes[i];
        if (!nd->state || nd->maxbatch < t->cfg.batch) continue;
        size_t rows = (size_t)t->cfg.batch * (size_t)nd->cfg.units, half = (size_t)nd->maxbatch * (size_t)nd->cfg.units;
        if (o + 2 * rows > s->lstm_n) break;
        /* h rows then c rows (nd->state holds maxbatch rows of each) */
        for (int hc = 0; hc < 2; hc++) {
            if (dir)
                memcpy(nd->state + hc * half, s->lstm + o, sizeof(float) * rows);
            else
                memcpy(s->lstm + o, nd->state + hc * half, sizeof(float) * rows);
            o += rows;
        }
    }
}

void al_snap_capture(al_trainer *t) {
    al_snap *s = &t->snap;
    if (!s->block) return;
    s->pos = t->pos;
    s->epochs_done = t->epochs_done;
    s->steps_done = t->steps_done;
    s->runs_done = t->runs_done;
    s->opt_t = t->opt.t;
    s->rng = t->m->rng;
    s->train_fp = t->train_fp;
    s->eval_fp = t->eval_fp;
    s->fp_kind = t->fp_kind;
    s->train_n = t->train_n;
    s->has_eval = t->has_eval;
    copy_state(t, 0);
    s->valid = 1;
}

void al_snap_restore(al_trainer *t) {
    al_snap *s = &t->snap;
    if (!s->valid) return;
    t->pos = s->pos;
    t->epochs_done = s->epochs_done;
    t->steps_done = s->steps_done;
    t->runs_done = s->runs_done;
    t->opt.t = s->opt_t;
    t->m->rng = s->rng;
    t->train_fp = s->train_fp;
    t->eval_fp = s->eval_fp;
    t->fp_kind = s->fp_kind;
    t->train_n = s->train_n;
    t->has_eval = s->has_eval;
    copy_state(t, 1);
    t->perm_epoch = -1; /* the shuffle is recomputed for the restored epoch */
}

/* ---- the configuration, field by field ------------------------------------------ */

typedef struct cfg_field {
    const char *name;
    int real;
    int64_t i;
    double d;
    /* optional: written only when it differs from dflt, and read as dflt
     * when absent, so checkpoints from before the field still load */
    int optional;
    double dflt;
} cfg_field;

#define NCFG 25
/* Every field that changes the trajectory (not the callbacks, nor where and
 * how often checkpoints go). */
static void cfg_fields(const al_train_config *c, cfg_field *f) {
    int n = 0;
#define I(nm, v) f[n++] = (cfg_field){nm, 0, (int64_t)(v), 0.0, 0, 0.0}
#define D(nm, v) f[n++] = (cfg_field){nm, 1, 0, (double)(v), 0, 0.0}
#define OI(nm, v, df) f[n++] = (cfg_field){nm, 0, (int64_t)(v), 0.0, 1, (double)(df)}
#define OD(nm, v, df) f[n++] = (cfg_field){nm, 1, 0, (double)(v), 1, (double)(df)}
    I("optim", c->optim);
    D("lr", c->lr);
    D("momentum", c->momentum);
    I("nesterov", c->nesterov);
    D("weight_decay", c->weight_decay);
    D("beta1", c->beta1);
    D("beta2", c->beta2);
    D("eps", c->eps);
    I("sched", c->sched);
    I("step_size", c->step_size);
    D("gamma", c->gamma);
    I("warmup_steps", c->warmup_steps);
    D("min_lr", c->min_lr);
    D("clip_norm", c->clip_norm);
    I("epochs", c->epochs);
    I("batch", c->batch);
    I("shuffle", c->shuffle);
    I("seed", (int64_t)c->seed);
    I("patience", c->patience);
    I("max_rollbacks", c->max_rollbacks);
    D("rollback_lr_factor", c->rollback_lr_factor);
    OD("l2sp", c->l2sp, 0.0);
    OI("lr_split", c->lr_split, 0);
    OD("lr_below", c->lr_below, 1.0);
    OI("train_end", c->train_end, 0);
#undef OI
#undef OD
#undef I
#undef D
}

/* ---- writing ------------------------------------------------------------------------ */

static void set_report(gguf_writer *w, const al_train_report *r) {
    gguf_set_i32(w, K("rep.epochs_run"), r->epochs_run);
    gguf_set_i32(w, K("rep.best_epoch"), r->best_epoch);
    gguf_set_f64(w, K("rep.final_loss"), r->final_loss);
    gguf_set_f64(w, K("rep.final_train_acc"), r->final_train_acc);
    gguf_set_f64(w, K("rep.best_eval_loss"), r->best_eval_loss);
    gguf_set_f64(w, K("rep.best_eval_acc"), r->best_eval_acc);
    gguf_set_f64(w, K("rep.final_eval_acc"), r->final_eval_acc);
    gguf_set_i64(w, K("rep.steps"), r->steps);
    gguf_set_i64(w, K("rep.samples"), r->samples);
    gguf_set_bool(w, K("rep.stopped_early"), r->stopped_early);
    gguf_set_i32(w, K("rep.rollbacks"), r->rollbacks);
    gguf_set_f64(w, K("rep.lr_scale"), r->lr_scale);
}

static void add_f32(gguf_writer *w, const char *name, const float *v, size_t n) {
    if (!v || n == 0) return;
    uint64_t ne[1] = {(uint64_t)n};
    gguf_add_tensor(w, name, GGML_T_F32, 1, ne, v);
}

al_status al_snap_write(al_trainer *t, const char *path) {
    const al_snap *s = &t->snap;
    const al_model *m = t->m;
    if (!s->valid) return al_error(AL_ESTATE, "no training state to write");
    gguf_writer *w;
    al_status st = gguf_writer_new(GGUF_DEFAULT_ALIGNMENT, &w);
    if (st) return st;
    uint8_t *tr = al_malloc((size_t)m->nnodes);
    if (!tr) {
        gguf_writer_free(w);
        return AL_ENOMEM;
    }
    /* setters remember the first failure; gguf_writer_save reports it */
    gguf_set_str(w, "general.architecture", CKPT_ARCH);
    gguf_set_u32(w, K("version"), CKPT_VERSION);
    gguf_set_str(w, K("spec"), m->spec ? m->spec : "");
    gguf_set_i32(w, K("first_trainable"), m->freeze);
    for (int i = 0; i < m->nnodes; i++) tr[i] = (uint8_t)(m->nodes[i].trainable != 0);
    gguf_set_arr(w, K("trainable"), GGUF_T_U8, tr, (size_t)m->nnodes); /* copied */
    al_free(tr);
    gguf_set_u64(w, K("frozen_fp"), frozen_fingerprint(m));
    gguf_set_u64(w, K("source_fp"), t->source_fp);
    cfg_field f[NCFG];
    cfg_fields(&t->cfg, f);
    char key[96];
    for (int i = 0; i < NCFG; i++) {
        if (f[i].optional && (f[i].real ? f[i].d : (double)f[i].i) == f[i].dflt) continue;
        snprintf(key, sizeof key, K("cfg.%s"), f[i].name);
        if (f[i].real)
            gguf_set_f64(w, key, f[i].d);
        else
            gguf_set_i64(w, key, f[i].i);
    }
    gguf_set_u64(w, K("data.train_fp"), s->train_fp);
    gguf_set_i32(w, K("data.train_n"), s->train_n);
    gguf_set_bool(w, K("data.has_eval"), s->has_eval);
    gguf_set_u64(w, K("data.eval_fp"), s->eval_fp);
    /* kind 1 is written as older builds wrote it: without the key */
    if (s->fp_kind != AL_FP_KIND_V1) gguf_set_u32(w, K("data.fp_kind"), (uint32_t)s->fp_kind);
    gguf_set_i64(w, K("epochs_done"), s->epochs_done);
    gguf_set_i64(w, K("steps_done"), s->steps_done);
    gguf_set_i64(w, K("runs_done"), s->runs_done);
    gguf_set_i64(w, K("opt_t"), s->opt_t);
    gguf_set_u64(w, K("rng.state"), s->rng.state);
    gguf_set_u64(w, K("rng.inc"), s->rng.inc);
    const al_run_pos *p = &s->pos;
    gguf_set_bool(w, K("run.active"), p->active);
    gguf_set_i32(w, K("run.epoch"), p->ep);
    gguf_set_i64(w, K("run.step"), p->step);
    gguf_set_i64(w, K("run.gstep"), p->gstep);
    gguf_set_f64(w, K("run.loss_sum"), p->loss_sum);
    gguf_set_i64(w, K("run.counted"), p->counted);
    gguf_set_i64(w, K("run.correct"), p->correct);
    gguf_set_i32(w, K("run.bad_epochs"), p->bad_epochs);
    gguf_set_bool(w, K("run.have_best"), p->have_best);
    gguf_set_f64(w, K("run.iv_loss"), p->iv_loss);
    gguf_set_i64(w, K("run.iv_count"), p->iv_count);
    gguf_set_f64(w, K("run.ref_loss"), p->ref_loss);
    set_report(w, &p->rep);
    add_f32(w, "weights", s->w, snap_wn(t));
    add_f32(w, "opt.m1", s->s1, t->opt.nfloats);
    add_f32(w, "opt.m2", s->s2, t->opt.nfloats);
    if (p->have_best) add_f32(w, "best", s->best, m->nweights);
    add_f32(w, "lstm.state", s->lstm, s->lstm_n);
    st = gguf_writer_save(w, path);
    gguf_writer_free(w);
    if (st) {
        char msg[400];
        snprintf(msg, sizeof msg, "%s", al_last_error());
        return al_error(st, "checkpoint %s: %s", path, msg);
    }
    al_log(AL_LOG_INFO, "checkpoint %s: step %lld written (epoch %d, step %lld of the epoch)", path, s->steps_done,
           p->ep + 1, p->step);
    return AL_OK;
}

/* ---- reading -------------------------------------------------------------------------- */

static al_status get_int(const gguf_reader *r, const char *key, int lo, int hi, int *out) {
    int32_t v;
    al_status st = gguf_get_i32(r, key, &v);
    if (st) return st;
    if (v < lo || v > hi) return al_error(AL_EFORMAT, "%s = %d is outside %d..%d", key, (int)v, lo, hi);
    *out = (int)v;
    return AL_OK;
}

/* A counter the run goes on adding to (steps, epochs, samples, the
 * optimizer's step): 0..2^62, so that no run can take it past 2^63 (one
 * at INT64_MAX overflowed on the next step, epoch or run). */
#define CKPT_MAX_COUNT ((int64_t)1 << 62)

static al_status get_ll(const gguf_reader *r, const char *key, long long *out) {
    int64_t v;
    al_status st = gguf_get_i64(r, key, &v);
    if (st) return st;
    if (v < 0 || v > CKPT_MAX_COUNT)
        return al_error(AL_EFORMAT, "%s = %lld is outside 0..%lld", key, (long long)v, (long long)CKPT_MAX_COUNT);
    *out = (long long)v;
    return AL_OK;
}

static al_status get_real(const gguf_reader *r, const char *key, double *out) {
    double v;
    al_status st = gguf_get_f64(r, key, &v);
    if (st) return st;
    if (isnan(v)) return al_error(AL_EFORMAT, "%s is NaN", key);
    *out = v;
    return AL_OK;
}

/* The position, data fingerprints and streams (no tensors). */
static al_status read_pos(const gguf_reader *r, al_snap *s) {
    gguf_str arch;
    uint32_t ver;
    al_status st = gguf_get_str(r, "general.architecture", &arch);
    if (st) return st;
    if (!gguf_str_eq(arch, CKPT_ARCH))
        return al_error(AL_EFORMAT, "not an autlearn checkpoint: general.architecture is '%.*s'",
                        (int)AL_MIN(arch.n, 64), arch.p);
    if ((st = gguf_get_u32(r, K("version"), &ver))) return st;
    if (ver != CKPT_VERSION)
        return al_error(AL_EUNSUPPORTED, "checkpoint format version %u; this build reads version %u", ver, CKPT_VERSION);
    memset(s, 0, sizeof *s);
    /* data.fp_kind came with kind 2; a checkpoint without it holds kind 1 */
    s->fp_kind = AL_FP_KIND_V1;
    if (gguf_find_kv(r, K("data.fp_kind")) >= 0) {
        uint32_t kind;
        if ((st = gguf_get_u32(r, K("data.fp_kind"), &kind))) return st;
        if (kind != AL_FP_KIND_V1 && kind != AL_FP_KIND)
            return al_error(AL_EUNSUPPORTED, "data fingerprint kind %u; this build knows kinds %d and %d", kind,
                            AL_FP_KIND_V1, AL_FP_KIND);
        s->fp_kind = (int)kind;
    }
    al_run_pos *p = &s->pos;
    al_train_report *rp = &p->rep;
    long long counted, correct, steps, samples;
    int ep;
    if ((st = get_int(r, K("data.train_n"), 0, 1 << 30, &s->train_n)) ||
        (st = gguf_get_u64(r, K("data.train_fp"), &s->train_fp)) ||
        (st = gguf_get_bool(r, K("data.has_eval"), &s->has_eval)) ||
        (st = gguf_get_u64(r, K("data.eval_fp"), &s->eval_fp)) || (st = get_ll(r, K("epochs_done"), &s->epochs_done)) ||
        (st = get_ll(r, K("steps_done"), &s->steps_done)) || (st = get_ll(r, K("runs_done"), &s->runs_done)) ||
        (st = get_ll(r, K("opt_t"), &s->opt_t)) || (st = gguf_get_u64(r, K("rng.state"), &s->rng.state)) ||
        (st = gguf_get_u64(r, K("rng.inc"), &s->rng.inc)) || (st = gguf_get_bool(r, K("run.active"), &p->active)) ||
        (st = get_int(r, K("run.epoch"), 0, 1 << 30, &ep)) || (st = get_ll(r, K("run.step"), &p->step)) ||
        (st = get_ll(r, K("run.gstep"), &p->gstep)) || (st = get_real(r, K("run.loss_sum"), &p->loss_sum)) ||
        (st = get_ll(r, K("run.counted"), &counted)) || (st = get_ll(r, K("run.correct"), &correct)) ||
        (st = get_int(r, K("run.bad_epochs"), 0, 1 << 30, &p->bad_epochs)) ||
        (st = gguf_get_bool(r, K("run.have_best"), &p->have_best)) ||
        (st = get_real(r, K("run.iv_loss"), &p->iv_loss)) || (st = get_ll(r, K("run.iv_count"), &p->iv_count)) ||
        (st = get_real(r, K("run.ref_loss"), &p->ref_loss)) ||
        (st = get_int(r, K("rep.epochs_run"), 0, 1 << 30, &rp->epochs_run)) ||
        (st = get_int(r, K("rep.best_epoch"), 0, 1 << 30, &rp->best_epoch)) ||
        (st = get_real(r, K("rep.final_loss"), &rp->final_loss)) ||
        (st = get_real(r, K("rep.final_train_acc"), &rp->final_train_acc)) ||
        (st = get_real(r, K("rep.best_eval_loss"), &rp->best_eval_loss)) ||
        (st = get_real(r, K("rep.best_eval_acc"), &rp->best_eval_acc)) ||
        (st = get_real(r, K("rep.final_eval_acc"), &rp->final_eval_acc)) || (st = get_ll(r, K("rep.steps"), &steps)) ||
        (st = get_ll(r, K("rep.samples"), &samples)) ||
        (st = gguf_get_bool(r, K("rep.stopped_early"), &rp->stopped_early)) ||
        (st = get_int(r, K("rep.rollbacks"), 0, 1000, &rp->rollbacks)) ||
        (st = get_real(r, K("rep.lr_scale"), &rp->lr_scale)))
        return st;
    if (!(rp->lr_scale > 0.0 && rp->lr_scale <= 1.0))
        return al_error(AL_EFORMAT, "rep.lr_scale = %g is outside (0,1]", rp->lr_scale);
    if (!(s->rng.inc & 1)) return al_error(AL_EFORMAT, "rng.inc is even (not a PCG stream)");
    p->ep = ep;
    p->counted = counted;
    p->correct = correct;
    rp->steps = steps;
    rp->samples = samples;
    return AL_OK;
}

static al_status open_ckpt(const char *path, gguf_reader **r) {
    al_status st = gguf_reader_open_file(path, GGUF_REQUIRE_CRC, r);
    if (st) {
        char msg[400];
        snprintf(msg, sizeof msg, "%s", al_last_error());
        return al_error(st, "checkpoint %s: %s", path, msg);
    }
    return AL_OK;
}

al_status al_checkpoint_info(const char *path, al_trainer_pos *out) {
    if (!path || !out) return al_error(AL_EINVAL, "al_checkpoint_info: NULL argument");
    gguf_reader *r;
    al_status st = open_ckpt(path, &r);
    if (st) return st;
    al_snap s;
    st = read_pos(r, &s);
    gguf_reader_free(r);
    if (st) {
        char msg[400];
        snprintf(msg, sizeof msg, "%s", al_last_error());
        return al_error(st, "checkpoint %s: %s", path, msg);
    }
    memset(out, 0, sizeof *out);
    out->epochs_done = s.epochs_done;
    out->steps_done = s.steps_done;
    out->runs_done = s.runs_done;
    out->in_run = s.pos.active;
    out->epoch = s.pos.ep;
    out->step = s.pos.step;
    out->rollbacks = s.pos.rep.rollbacks;
    out->lr_scale = s.pos.rep.lr_scale;
    return AL_OK;
}

/* The tensor `name` as exactly n floats, or NULL with an error (want 0: must be absent). */
static al_status find_f32(const gguf_reader *r, const char *name, size_t n, const gguf_tensor **out) {
    const gguf_tensor *t = gguf_find_tensor(r, name);
    *out = t;
    if (n == 0) {
        if (t) return al_error(AL_EFORMAT, "unexpected tensor '%s'", name);
        return AL_OK;
    }
    if (!t) return al_error(AL_EFORMAT, "tensor '%s' is missing", name);
    if (t->type != GGML_T_F32 || t->nelem != (uint64_t)n)
        return al_error(AL_EFORMAT, "tensor '%s' has %llu elements of type %s; this trainer needs %zu F32", name,
                        (unsigned long long)t->nelem, gguf_ggml_type_name(t->type), n);
    return AL_OK;
}

/* Everything that must equal the trainer's for a resume to make sense. */
static al_status check_match(const gguf_reader *r, const al_trainer *t) {
    const al_model *m = t->m;
    gguf_str spec;
    al_status st = gguf_get_str(r, K("spec"), &spec);
    if (st) return st;
    if (!gguf_str_eq(spec, m->spec ? m->spec : ""))
        return al_error(AL_EINVAL, "it was written for another architecture ('%.*s'; this model is '%s')",
                        (int)AL_MIN(spec.n, 200), spec.p, m->spec ? m->spec : "");
    int first = -1;
    if ((st = get_int(r, K("first_trainable"), 0, AL_MAX_NODES, &first))) return st;
    gguf_type et;
    uint64_t ntr;
    size_t got;
    if ((st = gguf_get_arr_info(r, K("trainable"), &et, &ntr))) return st;
    if (et != GGUF_T_U8) return gguf_get_arr(r, K("trainable"), GGUF_T_U8, NULL, 0, &got); /* its type error */
    int same = first == m->freeze && ntr == (uint64_t)m->nnodes;
    if (same) {
        uint8_t *tr = al_malloc((size_t)m->nnodes);
        if (!tr) return AL_ENOMEM;
        st = gguf_get_arr(r, K("trainable"), GGUF_T_U8, tr, (size_t)m->nnodes, &got);
        for (int i = 0; !st && same && i < m->nnodes; i++) same = (tr[i] != 0) == (m->nodes[i].trainable != 0);
        al_free(tr);
        if (st) return st;
    }
    if (!same)
        return al_error(AL_EINVAL, "it was written with another freeze point (first trainable node %d; this model: %d)",
                        first, m->freeze);
    uint64_t fp;
    if ((st = gguf_get_u64(r, K("frozen_fp"), &fp))) return st;
    if (fp != frozen_fingerprint(m))
        return al_error(AL_EINVAL, "its frozen layers' weights differ from this model's (another base model?)");
    if ((st = gguf_get_u64(r, K("source_fp"), &fp))) return st;
    if (fp != t->source_fp)
        return al_error(AL_EINVAL,
                        "it was written for another batch source (freeze point, augmentation, sample ids or trained output rows differ)");
    cfg_field f[NCFG];
    cfg_fields(&t->cfg, f);
    char key[96];
    for (int i = 0; i < NCFG; i++) {
        snprintf(key, sizeof key, K("cfg.%s"), f[i].name);
        if (f[i].optional && gguf_find_kv(r, key) < 0) {
            double have = f[i].real ? f[i].d : (double)f[i].i;
            if (have != f[i].dflt)
                return al_error(AL_EINVAL, "it was written with %s = %.17g; this trainer has %.17g", f[i].name,
                                f[i].dflt, have);
            continue;
        }
        if (f[i].real) {
            double v;
            if ((st = gguf_get_f64(r, key, &v))) return st;
            if (!(v == f[i].d))
                return al_error(AL_EINVAL, "it was written with %s = %.17g; this trainer has %.17g", f[i].name, v,
                                f[i].d);
        } else {
            int64_t v;
            if ((st = gguf_get_i64(r, key, &v))) return st;
            if (v != f[i].i)
                return al_error(AL_EINVAL, "it was written with %s = %lld; this trainer has %lld", f[i].name,
                                (long long)v, (long long)f[i].i);
        }
    }
    return AL_OK;
}

static al_status resume_reader(al_trainer *t, const gguf_reader *r) {
    al_status st = check_match(r, t);
    if (st) return st;
    al_snap s;
    if ((st = read_pos(r, &s))) return st;
    if (s.pos.active && (s.pos.ep >= t->cfg.epochs || s.pos.step > ((long long)s.train_n + t->cfg.batch - 1) / t->cfg.batch))
        return al_error(AL_EFORMAT, "the position (epoch %d, step %lld) is outside the run", s.pos.ep + 1, s.pos.step);
    if (s.pos.have_best && !t->snap.best)
        return al_error(AL_EFORMAT, "it holds early-stopping weights but patience is off");
    const gguf_tensor *tw, *t1, *t2, *tb, *tl;
    if ((st = find_f32(r, "weights", snap_wn(t), &tw)) ||
        (st = find_f32(r, "opt.m1", t->snap.s1 ? t->opt.nfloats : 0, &t1)) ||
        (st = find_f32(r, "opt.m2", t->snap.s2 ? t->opt.nfloats : 0, &t2)) ||
        (st = find_f32(r, "best", s.pos.have_best ? t->m->nweights : 0, &tb)) ||
        (st = find_f32(r, "lstm.state", t->snap.lstm_n, &tl)))
        return st;
    /* everything is checked: from here on only copies */
    al_snap *d = &t->snap;
    d->valid = 0;
    if ((st = gguf_tensor_read_f32(tw, d->w, snap_wn(t))) ||
        (t1 && (st = gguf_tensor_read_f32(t1, d->s1, t->opt.nfloats))) ||
        (t2 && (st = gguf_tensor_read_f32(t2, d->s2, t->opt.nfloats))) ||
        (tb && (st = gguf_tensor_read_f32(tb, d->best, t->m->nweights))) ||
        (tl && (st = gguf_tensor_read_f32(tl, d->lstm, d->lstm_n))))
        return st;
    d->pos = s.pos;
    d->epochs_done = s.epochs_done;
    d->steps_done = s.steps_done;
    d->runs_done = s.runs_done;
    d->opt_t = s.opt_t;
    d->rng = s.rng;
    d->train_fp = s.train_fp;
    d->eval_fp = s.eval_fp;
    d->fp_kind = s.fp_kind;
    d->train_n = s.train_n;
    d->has_eval = s.has_eval;
    d->valid = 1;
    al_snap_restore(t);
    al_head_forget(t->head); /* the frozen rows' sums are made again from the restored weights */
    return AL_OK;
}

al_status al_trainer_resume(al_trainer *t, const char *path) {
    if (!t || !path) return al_error(AL_EINVAL, "al_trainer_resume: NULL argument");
    if (!al_optim_matches(&t->opt, t->m))
        return al_error(AL_ESTATE, "the model's frozen layers changed after the trainer was created; create a new trainer");
    al_status st = al_snap_alloc(t);
    if (st) return st;
    if (t->cfg.patience > 0 && !t->best) {
        t->best = al_malloc(sizeof(float) * (t->m->nweights ? t->m->nweights : 1));
        if (!t->best) return AL_ENOMEM;
    }
    gguf_reader *r;
    if ((st = open_ckpt(path, &r))) return st;
    st = resume_reader(t, r);
    gguf_reader_free(r);
    if (st) {
        char msg[400];
        snprintf(msg, sizeof msg, "%s", al_last_error());
        return al_error(st, "cannot resume from checkpoint %s: %s", path, msg);
    }
    /* a process killed while writing this checkpoint left its temporary file */
    gguf_remove_stale_temps(path);
    /* the data of a resumed run are checked when it continues */
    t->train_ptr = t->eval_ptr = NULL;
    t->data_checked = 0;
    t->run_seconds = 0.0;
    t->ep_elapsed = 0.0;
    al_log(AL_LOG_INFO, "resumed from checkpoint %s: step %lld (epoch %d, step %lld of the epoch)%s", path,
           t->steps_done, t->pos.ep + 1, t->pos.step, t->pos.active ? "" : ", the run was complete");
    return AL_OK;
}

al_status al_trainer_checkpoint(al_trainer *t, const char *path) {
    if (!t || !path) return al_error(AL_EINVAL, "al_trainer_checkpoint: NULL argument");
    if (!al_optim_matches(&t->opt, t->m))
        return al_error(AL_ESTATE, "the model's frozen layers changed after the trainer was created; create a new trainer");
    al_status st = al_snap_alloc(t);
    if (st) return st;
    /* an explicit checkpoint is also a rollback point, so a resumed process
     * rolls back where this one would */
    if (al_trainer_point(t, 0) <= 0) {
        if (!t->snap.valid)
            return al_error(AL_ENUMERIC, "the training state is diverging and there is no good state to write to %s",
                            path);
        al_log(AL_LOG_WARN, "the training state is diverging; %s gets the last good state (step %lld)", path,
               t->snap.steps_done);
    }
    return al_snap_write(t, path);
}
