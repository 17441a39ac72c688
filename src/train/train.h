/* The train level (src/train): optimizers, schedules, the trainer, its
 * snapshots and checkpoints, training only some output rows, the runtime
 * cache, memory budgets, augmentation, personalization and the language
 * models' training. Calls model, data and the levels below. */
#ifndef AL_TRAIN_H
#define AL_TRAIN_H

#include "data/data.h"
#include "model/model.h"

/* Optimizers, gradient clipping and learning-rate schedules (internal).
 * Semantics follow PyTorch's torch.optim.SGD / Adam / AdamW,
 * torch.nn.utils.clip_grad_norm_ and the usual warm-up + decay schedules. */


/* The trained parameter tensors of a model (not is_state, node trainable at
 * creation) and their optimizer state, all carved out of one block:
 *  SGD with momentum: buf[p] (the momentum buffer), p->n floats;
 *  Adam/AdamW:        m[p], v[p] (first and second moments). */
typedef struct al_optim {
    al_optim_kind kind;
    float momentum, weight_decay, beta1, beta2, eps;
    int nesterov;
    long long t;       /* optimizer steps taken (Adam's bias correction) */
    int np;            /* trained tensors */
    al_param **p;      /* np pointers into the model */
    const al_node **node; /* np: the node owning p[i] */
    float **s1, **s2;  /* np state buffers each (NULL when unused) */
    /* L2-SP: anchor[i] holds p[i]'s weights when the optimizer was made
     * (NULL when cfg.l2sp == 0); the gradient gets l2sp * (w - anchor) */
    float **anchor;
    float l2sp;
    /* discriminative rates: tensors of nodes below lr_split train at
     * lr * lr_below (lr_split NULL: all at lr) */
    const al_node *lr_split;
    float lr_below;
    /* the frozen suffix: tensors of nodes from train_end on are not trained
     * (al_train_config.train_end; NULL: none) */
    const al_node *train_end;
    size_t nfloats;    /* trained floats in all */
    void *block;
    /* al_optim_restrict_rows: the tensors of node rnode are updated (and
     * clipped, and counted in the norm) only in rows rrows[0..rn) of their
     * first dimension; NULL: no restriction */
    const al_node *rnode;
    const int *rrows;
    int rn;
    /* the trained tensors laid end to end: tensor i is floats
     * [off[i], off[i+1]) (np + 1 entries), split statically over a pool's
     * threads by al_optim_step and al_optim_clip */
    size_t *off;
    /* the norm's chunks of AL_OPTIM_CHUNK floats: tensor i's are
     * [chunk0[i], chunk0[i+1]); partial[c] is chunk c's sum of squares */
    long *chunk0;
    double *partial;
    int subset;        /* al_train_config.param_subset */
} al_optim;

/* Floats per chunk of the gradient norm: the norm is a sum of per-chunk
 * sums in a fixed order, whatever the thread count. */
#define AL_OPTIM_CHUNK 8192

/* Whether tensor p of node nd is in the parameter subset (an
 * al_param_subset): the optimizer's rule, and the memory plan's. */
int al_optim_in_subset(const al_node *nd, const al_param *p, int subset);
/* Collects the trained tensors and allocates the state (zeroed). */
al_status al_optim_init(al_optim *o, al_model *m, const al_train_config *cfg);
void al_optim_free(al_optim *o);
/* Zeroes the state and the step count (a fresh optimizer). */
void al_optim_reset(al_optim *o);
/* 1 when the model's trained set still equals the one at init. */
int al_optim_matches(const al_optim *o, const al_model *m);
/* From now on, node nd's trained tensors change only in these rows of
 * their first dimension (borrowed; sorted, distinct): the other rows are
 * frozen, their gradients never read. nd NULL lifts the restriction. */
void al_optim_restrict_rows(al_optim *o, const al_node *nd, const int *rows, int nrows);
/* One update of every trained tensor with learning rate lr; with a pool of
 * several threads and enough floats the tensors are split statically over
 * its threads (the same weights for every thread count). pool may be NULL. */
void al_optim_step(al_optim *o, al_pool *pool, float lr);
/* Global L2 norm of the gradients (in double); when clip > 0 and the norm
 * exceeds it, scales every gradient by clip / (norm + 1e-6) as PyTorch's
 * clip_grad_norm_. Returns the norm before clipping (NaN/Inf passes through).
 * The norm sums chunks of AL_OPTIM_CHUNK floats in a fixed order, on the
 * pool's threads when it has several (the same norm for every count). */
double al_optim_clip(al_optim *o, al_pool *pool, double clip);

/* Learning rate for 0-based global step `step` of a run of `total` steps with
 * `per_epoch` steps an epoch: linear warm-up lr * (step+1) / warmup_steps
 * over the first warmup_steps steps, then
 *  CONST:  lr;
 *  STEP:   lr * gamma^floor(epoch / step_size), epoch = step / per_epoch;
 *  COSINE: min_lr + (lr - min_lr) * (1 + cos(pi * q)) / 2, q the fraction of
 *          the post-warm-up steps done, (step - warmup) / (total - warmup). */
double al_sched_lr(const al_train_config *c, long long step, long long per_epoch, long long total);

/* The two training recipes of the device (and of the scenarios that
 * simulate it), on top of al_train_config_default:
 *  image: SGD with momentum 0.9, cosine schedule;
 *  text:  Adam, cosine schedule, gradient clipping at norm 1. */
void al_train_recipe_image(al_train_config *t, int batch, int epochs, double lr, uint64_t seed);
void al_train_recipe_text(al_train_config *t, int batch, int epochs, double lr, uint64_t seed);

/* ---- the trainer (src/train/trainer.c); here so checkpoints can reach its state */

/* Where a run stands: with the weights, optimizer and model streams, all a
 * run needs to go on exactly as it would have; saved in checkpoints. */
typedef struct al_run_pos {
    int active;            /* a run is in progress */
    int ep;                /* epoch of the run, 0-based */
    long long step;        /* steps done in that epoch */
    long long gstep;       /* steps done in the run (the schedule's clock) */
    double loss_sum;       /* the epoch's running sums */
    long long counted, correct;
    int bad_epochs, have_best;
    /* the loss since the last rollback point, and the lowest such interval
     * mean of the run (-1: none yet): a point is only taken while the loss
     * has not exploded (see AL_LOSS_GUARD in trainer.c) */
    double iv_loss, ref_loss;
    long long iv_count;
    al_train_report rep;   /* the run's report so far (seconds aside) */
} al_run_pos;

/* A copy of the whole training state: the rollback point and what a
 * checkpoint file holds. One block, allocated outside the steps. */
typedef struct al_snap {
    int valid;
    al_run_pos pos;
    long long epochs_done, steps_done, runs_done, opt_t;
    al_rng rng;            /* the model's dropout stream */
    uint64_t train_fp, eval_fp;
    int fp_kind;           /* AL_FP_KIND or AL_FP_KIND_V1: how train_fp and eval_fp were made */
    int train_n, has_eval;
    float *w;              /* m->nweights: every weight and state tensor */
    float *s1, *s2;        /* opt.nfloats each (NULL when the optimizer has no such buffer) */
    float *best;           /* m->nweights when cfg.patience > 0, else NULL */
    float *lstm;           /* carried LSTM state, cfg.batch rows of h and c per LSTM node */
    size_t lstm_n;
    void *block;
} al_snap;

typedef struct al_head al_head; /* src/train/head.c */

typedef al_status (*al_trainer_source_fn)(void *user, const int *idx, int b, long long epoch, float *xb);

struct al_trainer {
    al_model *m;
    al_pool *pool;
    al_train_config cfg;
    al_optim opt;
    size_t xn, yo;       /* floats per sample: model input, model output */
    /* batch buffers, one block carved at creation: */
    char *block;
    float *xb;           /* cfg.batch * xn: the gathered inputs */
    float *dlogits;      /* cfg.batch * yo */
    /* sized by the first run's data (once; grown only if a later run needs more) */
    int32_t *yb;         /* cfg.batch * y_len: the gathered labels */
    size_t yb_cap;
    int *perm;           /* the epoch's sample order */
    int perm_cap;
    float *best;         /* m->nweights: best weights for early stopping, or NULL */
    /* Optional batch source (personalization, src/train/personalize.c): when
     * set, a step asks it for the input of node `freeze` for the batch's
     * samples (indices into the training set, epoch over all runs) instead
     * of copying model inputs, and forwards from node `freeze`. */
    int freeze;
    al_trainer_source_fn source;
    void *source_user;
    void (*source_free)(void *user); /* when the trainer owns source_user */
    uint64_t source_fp;  /* fingerprint of what the source adds (freeze, augmentation, ids) */
    long long epochs_done; /* over all runs: seeds the shuffle */
    long long steps_done;
    long long runs_done;
    al_run_pos pos;      /* the run in progress */
    /* the data of the run in progress, checked when a slice or a resumed
     * run continues */
    const al_dataset *train_ptr, *eval_ptr;
    uint64_t train_fp, eval_fp;
    int fp_kind;         /* AL_FP_KIND, or AL_FP_KIND_V1 for a run resumed from an older checkpoint */
    int train_n, has_eval, data_checked;
    long long perm_epoch; /* the epoch t->perm holds, -1: none */
    double run_seconds, ep_elapsed;
    al_snap snap;        /* the last good state (src/train/checkpoint.c) */
    al_head *head;       /* only some output rows trained (head.c), or NULL */
};

/* Installs a batch source that delivers `feat` floats per sample, the input
 * of node `freeze`; nodes below it must be frozen. Sizes the batch buffer
 * (not inside a step). */
al_status al_trainer_set_source(al_trainer *t, int freeze, size_t feat, al_trainer_source_fn fn, void *user);

/* The data fit the model: the same per-sample input shape, the output
 * splits into y_len rows of k logits (*k_out, may be NULL), every label is
 * < k; AL_ESHAPE or AL_ERANGE naming `what` otherwise. */
al_status al_check_data(const al_model *m, const al_dataset *d, const char *what, int *k_out);

/* AL_OK when al_augment_image takes c (src/train/augment.c). */
al_status al_augment_check(const al_augment_config *c);

/* Applies a plan fitted into a budget (no-op without one), once per job,
 * before the job fills its cache: lowers the cache's bound to the plan's,
 * drops the model's plan when it was made for a larger batch than the
 * plan's, and logs (AL_LOG_WARN) what the budget changed against what was
 * asked; silent when nothing shrank (src/train/membudget.c). */
void al_mem_plan_apply(al_model *m, al_cache *cache, const al_mem_plan *plan);

/* ---- some output rows trained (src/train/head.c) -------------------------------- */

/* From now on the trainer trains only the output layer's rows (weights and
 * bias) of the train_rows classes most frequent in train's labels (fewer
 * when fewer occur), with the exact softmax over all classes; see head.c.
 * Needs the trainer's input to be the output layer's (the freeze point at
 * the last node, a dense layer without fused activation). Runs on `train`
 * only. */
al_status al_trainer_set_head(al_trainer *t, const al_dataset *train, int train_rows);
/* The step's forward, loss and gradients in that mode (weights' gradients
 * written only in the trained rows). */
al_status al_head_step(al_trainer *t, const al_dataset *train, const int *idx, int b, const int32_t *yb, long want,
                       double *loss, long *count, long *correct);
void al_head_free(al_head *h);
/* Multiply-adds the mode ran; forget what it knows of the frozen rows
 * (after weights were replaced by a checkpoint). */
uint64_t al_head_macs(const al_head *h);
void al_head_forget(al_head *h);
/* Bytes al_trainer_set_head allocates for these sizes (the memory plan). */
size_t al_head_bytes(int n, int y_len, int V, int r, int train_rows, int batch);

/* ---- checkpoints (src/train/checkpoint.c) ---------------------------------------- */

/* A fast 64-bit hash of n bytes, continuing from h (not cryptographic). */
uint64_t al_hash_bytes(uint64_t h, const void *p, size_t n);
/* A 64-bit fingerprint of a dataset's shape, labels and input bits, of the
 * kind a run records (AL_FP_KIND: its input bytes hashed in segments over
 * the pool, the same value for any pool; AL_FP_KIND_V1: one serial chain,
 * what checkpoints written before kind 2 hold). */
#define AL_FP_KIND_V1 1
#define AL_FP_KIND 2
uint64_t al_dataset_fingerprint(const al_dataset *d, al_pool *pool, int kind);
/* Allocates t->snap (no-op when done). */
al_status al_snap_alloc(al_trainer *t);
void al_snap_free(al_snap *s);
/* Copies the live state into t->snap, or t->snap back into the live state
 * (rollbacks and lr_scale of the run in progress are the caller's). */
void al_snap_capture(al_trainer *t);
void al_snap_restore(al_trainer *t);
/* Writes t->snap to path (atomic) and logs it at AL_LOG_INFO. */
al_status al_snap_write(al_trainer *t, const char *path);
/* Makes the live state the rollback point (t->snap) if it is good: finite
 * weights, and a mean loss since the last point of at most AL_LOSS_GUARD x
 * the run's best interval mean (or its starting loss) + AL_LOSS_GUARD_ABS.
 * Returns 1 when taken, 0 when the loss exploded (periodic: the interval
 * restarts, logged), -1 for non-finite weights. Not periodic: the live
 * state is left as it was unless taken. */
#define AL_LOSS_GUARD 100.0
#define AL_LOSS_GUARD_ABS 10.0
int al_trainer_point(al_trainer *t, int periodic);
/* 1 when every trained weight is finite. */
int al_trainer_weights_finite(const al_trainer *t);

/* ---- runtime cache internals (src/train/cache.c) -------------------------------- */
/* Binds the cache to a prefix: feature size in floats and a fingerprint of
 * the frozen weights and freeze point; a change clears the cache. */
void al_cache_bind(al_cache *c, size_t feat, uint64_t fingerprint);
/* Binds the data where ids are positions in it (a text stream): a change
 * clears the cache. Callers whose ids name samples do not call it. */
void al_cache_bind_data(al_cache *c, uint64_t data);
/* Binds the augmented variants (> 0) to a fingerprint of the augmentation
 * settings and seed: entries made under another are never served (they
 * are dropped at once when the cache holds nothing else). */
void al_cache_bind_augment(al_cache *c, uint64_t aug);
/* The key of a sample without a caller's id: a hash of its n floats. */
uint64_t al_cache_content_key(const float *x, size_t n);
/* 1 and fills out[feat] on a hit, 0 on a miss. */
int al_cache_lookup(al_cache *c, uint64_t id, int variant, float *out);
/* 1 when the cache holds (id, variant); no statistics are touched. */
int al_cache_contains(const al_cache *c, uint64_t id, int variant);
/* Keeps a copy if the bound (or the spill file) allows; never fails. */
void al_cache_store(al_cache *c, uint64_t id, int variant, const float *f);
uint64_t al_model_prefix_fingerprint(const al_model *m);
/* Memory budgets (src/train/membudget.c): the cache's byte bound, whether it
 * has a spill file, and lowering the bound (entries held in memory past the
 * new bound are dropped: they get recomputed). */
size_t al_cache_bound(const al_cache *c);
int al_cache_has_spill(const al_cache *c);
void al_cache_set_bound(al_cache *c, size_t max_bytes);
/* A training job as the memory planner sees it (src/train/membudget.c):
 * personalization, its text path and the plain trainer each describe
 * theirs. */
typedef struct al_mem_job {
    const al_train_config *train; /* optimizer, batch asked, L2-SP, patience, rollbacks, checkpoints */
    int freeze;         /* the job's freeze point, resolved (al_personalize_freeze) */
    int variants;       /* cache keys per sample (augmentation variants; 0 counts as 1) */
    int train_rows;     /* only some output rows trained (head.c); 0: all */
    int resume;         /* a checkpoint at train->checkpoint_path may be resumed (its size counted) */
    size_t budget;      /* bytes; 0: no budget, nothing is fitted */
    size_t entries;     /* cache keys the job stores; 0: samples x variants */
    int cache_required; /* entries that cannot be recomputed exactly: without a spill
                         * file the bound never drops below them (AL_EBUDGET instead) */
    int own_cache;      /* no cache given: the job makes its own, holding every entry */
    size_t staging;     /* bytes the job allocates besides (the text path's windows) */
    int trainer_only;   /* al_trainer_new without a batch source: no staging */
} al_mem_job;
/* The plan of the job, fitted into job->budget when there is one: the cache
 * bound shrinks first, then the batch halves, else AL_EBUDGET. */
al_status al_mem_plan_fit(const al_model *m, const al_pool *pool, const al_dataset *train, const al_cache *cache,
                          const al_mem_job *job, al_mem_plan *out);

/* ---- personalization (src/train/personalize.c) ------------------------------------ */

/* The freeze point of a personalization job, resolved once here: c->freeze
 * when >= 0; else the output layer when only some of its rows train
 * (train_rows > 0); else the model's default (al_model_resolve_freeze). */
int al_personalize_freeze(const al_model *m, const al_personalize_config *c);
/* The job's freeze point and resume settings, before any work: AL_ERANGE
 * for a freeze below -1, AL_EINVAL for resume without a checkpoint path. */
al_status al_personalize_check_points(const al_personalize_config *c);
/* The memory planner's description of a personalization job with c. */
void al_personalize_mem_job(const al_model *m, const al_personalize_config *c, al_mem_job *x);
/* al_personalize_new and al_personalize with the memory plan already fitted
 * (the text path fits its own: its windows depend on the batch): the plan
 * is not fitted again (c->mem_budget_bytes is not read), and the caller has
 * applied it (al_mem_plan_apply). */
al_status al_personalize_new_planned(al_model *m, al_pool *pool, const al_dataset *train, const uint64_t *ids,
                                     al_cache *cache, const al_personalize_config *c, const al_mem_plan *plan,
                                     al_trainer **out);
al_status al_personalize_planned(al_model *m, al_pool *pool, const al_dataset *train, const uint64_t *ids,
                                 al_cache *cache, const al_personalize_config *c, const al_mem_plan *plan,
                                 al_personalize_report *r);

/* ---- recipes and the chooser (src/train/recipe.c; the chooser: chooser.c) ---------------------------------- */

/* The freeze point of a fixed recipe on m (prior and head: the output
 * layer; last-block and deep: the second and third layer with weights from
 * the end, batch norms not counted; bn: the first batch norm; bias: the
 * first node with weights), or -1 where it does not apply. */
int al_recipe_freeze(const al_model *m, al_recipe r);
/* c with its recipe turned into the freeze point and trained tensors of an
 * ordinary job (AL_RECIPE_CONFIG: c as it is). out may be c. */
/* Rehearsal (al_personalize_config.rehearsal), for al_personalize and for
 * any trainer that would rehearse the cloud's classes (the scenarios'
 * baselines): when `train` (one label a sample) holds a class beyond the
 * exemplars' (label >= e->num_classes, a class the cloud never saw, grown by
 * al_model_add_classes), *mix gets train's samples followed by the
 * exemplars (num_classes train's) and, with ids and mix_ids, *mix_ids their
 * ids (an exemplar's its content hash with a tag of its own; free with
 * al_free). Otherwise (e NULL or empty, no new class) *mix (and *mix_ids)
 * stay NULL: a no-op. AL_EINVAL when the exemplars' shape differs from
 * train's or a label is outside their classes. */
al_status al_rehearsal_mix(const al_dataset *train, const uint64_t *ids, const al_dataset *e, al_dataset **mix,
                           uint64_t **mix_ids);
/* After training on mix: the model fits the mix's class prior; the output
 * bias b_k gets log(p_k / m_k), p the class frequencies of user and m those
 * of mix, each smoothed by the pseudo-count alpha. Where the output layer is
 * not a dense one with a bias and one output per class: a no-op. */
void al_rehearsal_unmix(al_model *m, const al_dataset *user, const al_dataset *mix, double alpha);
al_status al_recipe_resolve(const al_model *m, const al_personalize_config *c, al_personalize_config *out);
/* 0 for a resolved recipe that trains nothing (prior; bn without affine). */
int al_recipe_trains(const al_personalize_config *c);
/* Forward multiply-accumulates per sample of nodes [from, to) of m (recipe.c). */
uint64_t al_macs_range(const al_model *m, int from, int to);
/* Re-estimates every batch norm's running statistics on d (see recipe.c);
 * *macs (may be NULL): the forward multiply-adds it ran. */
al_status al_bn_reestimate(al_model *m, al_pool *pool, const al_dataset *d, int batch, uint64_t *macs);

/* ---- language models: training, the keyboard's predict pass, evaluation
 * (src/train/lm.c). A model here is a 'tokens T' model whose output is T rows
 * of vocabulary logits: embedding -> LSTM -> dense (the reference LM). */

/* Truncated BPTT over a dataset laid out by al_text_windows with cfg->batch
 * streams: no shuffling, the LSTM state carried from batch to batch and
 * reset at the start of every epoch. */
al_status al_lm_train(al_model *m, al_pool *pool, const al_dataset *d, const al_train_config *cfg,
                      al_train_report *r);

typedef struct al_lm_eval {
    double top1, top3;  /* next-token accuracy; an <unk> target is a miss */
    double loss, ppl;   /* mean cross-entropy (nats) over all targets, exp of it */
    double saved;       /* keystroke savings: see docs/TEXT.md */
    long tokens;
    /* over word targets only (not punctuation, </s>, <num>), an <unk>
     * target a miss: top-3, and keystroke savings with unknown words typed
     * in full (al_lm_evaluate_lens; without lengths, the words the
     * vocabulary knows, as saved) */
    double word_top3, word_saved;
    long word_targets, word_unknown; /* word targets, and those the vocabulary maps to <unk> */
} al_lm_eval;
/* Next-token prediction over one stream of n ids read as typed: windows of T
 * tokens in order, the state carried from the first (zero) to the last. */
al_status al_lm_evaluate(al_model *m, al_pool *pool, const int32_t *ids, long n, const al_vocab *v, al_lm_eval *r);

/* The keyboard's predict pass over one stream as typed (windows of T in order,
 * state carried): the suggestions are computed and the frozen prefix's output
 * of each window is stored in the cache under the window's start offset. */
al_status al_lm_predict_stream(al_model *m, al_pool *pool, const int32_t *ids, long n, al_cache *c);

/* Personalization of a language model on the device: the user's stream of n
 * ids, windows keyed by offset. A prefix holding the LSTM (freeze point at
 * the output layer) takes its features from the cache, which a predict pass
 * filled; windows it lacks are computed by one pass over the stream (counted
 * in prefix_samples). With the LSTM trainable, training is TBPTT over
 * c->train.batch streams. cache may be NULL: no runtime cache, so a prefix
 * holding the LSTM is recomputed at every epoch by one pass over the stream
 * with its state carried, into a private buffer of the windows' features
 * (the same weights as with a cache; prefix_samples counts every pass, the
 * report's cache statistics are that buffer's). */
al_status al_lm_personalize(al_model *m, al_pool *pool, const int32_t *ids, long n, al_cache *cache,
                            const al_personalize_config *c, al_personalize_report *r);
/* The memory plan of al_lm_personalize over a stream of n ids (the
 * al_personalize_plan_memory of the text path; nothing is allocated). With
 * c->mem_budget_bytes > 0, al_lm_personalize trains within it: the cache
 * bound shrinks first, but with the LSTM in the frozen prefix never below
 * the stream pass's windows (their features carry the state of the whole
 * stream before them and cannot be recomputed exactly) unless the cache has
 * a spill file; then the batch halves (with the LSTM trained: fewer
 * streams); else AL_EBUDGET before anything is allocated. The caller's
 * stream is not counted (`dataset`); the windows cut from it are (staging). */
al_status al_lm_plan_memory(const al_model *m, const al_pool *pool, long n, const al_cache *cache,
                            const al_personalize_config *c, al_mem_plan *out);

/* The unigram prior (the text twin of the label-prior shift; docs/TEXT.md):
 * Bayes' rule for a user whose words come with other frequencies than the
 * model expects. al_lm_marginal: the model's mean next-word distribution
 * q over the positions of a stream (read as typed; *macs, may be NULL: its
 * forward work). al_lm_prior_shift: the output bias b_w += strength *
 * log(p_w / q_w), p_w = (n_w + AL_LM_PRIOR_PSEUDO) / (n + V *
 * AL_LM_PRIOR_PSEUDO) the user's counted frequency of word w in the
 * stream; strength 0 leaves m unchanged. Needs the last node to be a dense
 * layer with a bias over the V words. */
#define AL_LM_PRIOR_PSEUDO 0.5
al_status al_lm_marginal(al_model *m, al_pool *pool, const int32_t *ids, long n, double *q, uint64_t *macs);
al_status al_lm_prior_shift(al_model *m, const double *q, const int32_t *ids, long n, double strength);

/* ---- the user's bigram model (src/train/ngram.c; docs/RECIPES.md, "The
 * text chooser") ---- the keyboard's personal n-gram, counted on the user's
 * own text and mixed into the model's next-word distribution: p = (1 -
 * weight) p_model + weight p_bigram, p_bigram interpolated absolute
 * discounting (discount AL_LM_NGRAM_DISCOUNT) backing off to the
 * add-1/2 unigram. al_lm_ngram_count adds a stream's unigrams and bigrams
 * (an id outside 0..V-1: AL_ERANGE, nothing counted);
 * al_lm_ngram_probs fills p[0..V) with p_bigram(. | prev) (a prev outside
 * 0..V-1 or never counted as a context: the unigram). */
#define AL_LM_NGRAM_DISCOUNT 0.75
#define AL_LM_NGRAM_MAX_WORDS (1 << 24)
typedef struct al_lm_ngram al_lm_ngram;
al_status al_lm_ngram_new(int V, al_lm_ngram **out);
void al_lm_ngram_free(al_lm_ngram *g);
int al_lm_ngram_words(const al_lm_ngram *g);
al_status al_lm_ngram_count(al_lm_ngram *g, const int32_t *ids, long n);
void al_lm_ngram_probs(const al_lm_ngram *g, int32_t prev, double *p);
/* al_lm_evaluate_lens on the mixture of m's predictions with g's (weight
 * in [0, 1]; g NULL or weight 0: the model alone, the same numbers as
 * al_lm_evaluate_lens). g must have the model's V words. */
al_status al_lm_evaluate_mix(al_model *m, al_pool *pool, const al_lm_ngram *g, double weight, const int32_t *ids,
                             const int32_t *lens, long n, const al_vocab *v, al_lm_eval *r);
/* The mixture at each of nw (1..AL_LM_MIX_NWEIGHTS) weights in one
 * forward pass: r[k] at weights[k] (no vocabulary: the word and keystroke
 * fields are 0); *macs += the pass's forward work (may be NULL). */
al_status al_lm_mix_eval(al_model *m, al_pool *pool, const al_lm_ngram *g, const double *weights, int nw,
                         const int32_t *ids, long n, al_lm_eval *r, uint64_t *macs);
/* The mixture weights the device tries (0 first: the model alone). */
#define AL_LM_MIX_NWEIGHTS 5
extern const double al_lm_mix_weights[AL_LM_MIX_NWEIGHTS];
/* The weight of the bigram mixture for m as the device chooses it, without
 * training: the stream's last val_fraction is held out (as the chooser's
 * split), m is shifted by the unigram prior at `strength` counted on the
 * rest (0: not shifted), the bigram counted on the rest, and the weight of
 * al_lm_mix_weights with the lowest log-loss on the held-out part wins
 * (ties: the smaller). *weight 0 when the stream is too short to split. m
 * is not changed; *macs += the forward work (may be NULL). */
al_status al_lm_mix_choose(const al_model *m, al_pool *pool, const int32_t *ids, long n, double val_fraction,
                           double strength, double *weight, uint64_t *macs);

/* The device's recipe chooser on a language model (src/train/chooser.c, the
 * text side of al_personalize_auto): the validation split is the last
 * c->val_fraction of the stream (the most recent text; the rest trains).
 * Candidates, cheapest first within c->budget_macs: the unigram prior
 * alone at strengths AL_LM_PRIOR_STRENGTHS (no training), then head (the
 * output layer), last-block (the recurrent layer and the output layer) and
 * deep (from the third weighted layer from the end: for the reference LM
 * everything, the embedding included), each trained from the cloud model
 * shifted by the best prior (when it beat the cloud model on validation).
 * With c->ngram_mix, every candidate (and the cloud model itself: "the
 * bigram alone") is also scored mixed with the user's bigram model
 * counted on the training part, at each of al_lm_mix_weights, and keeps
 * its best weight. Scored by the next-word log-loss on the validation
 * split (smooth: top-3 on a few hundred tokens cannot tell candidates a
 * point apart); the lowest wins (within AL_LM_MARGIN_NATS: the cheaper),
 * kept only when below the cloud model's by more than that margin (else m
 * unchanged). A kept pick is redone on the whole
 * stream (the prior counted on it; training with the caller's cache,
 * which the predict pass filled) and its mixture weight is stored in m's
 * AL_LM_MIX_META (the caller mixes in its bigram model of the whole
 * stream: al_lm_evaluate_mix). c->train is every candidate's training
 * config; c->recipe, freeze and train_rows are not read. */
#define AL_LM_PRIOR_NSTRENGTHS 3
/* The chooser's margin: a candidate replaces the (cheaper) best so far, a
 * pick replaces the cloud model and a prior becomes the trained
 * candidates' start only when it lowers the validation log-loss by more
 * than this (nats): a change too small to matter (training at a vanishing
 * rate) does not buy the dearer model. */
#define AL_LM_MARGIN_NATS 1e-3
/* The model metadata key of a personal model's bigram mixture weight. */
#define AL_LM_MIX_META "autlearn.ngram_mix"
extern const double al_lm_prior_strengths[AL_LM_PRIOR_NSTRENGTHS];
typedef struct al_lm_auto_report {
    al_auto_report a;                          /* tries, gate, why; cloud_val_acc/val_acc are top-3 */
    double prior[AL_AUTO_MAX_TRIES];           /* per try: the prior strength it ran with (0: none) */
    double prior_chosen;                       /* the strength in the returned model (0: none) */
    double mix[AL_AUTO_MAX_TRIES];             /* per try: its best bigram mixture weight (0: none) */
    double mix_chosen;                         /* the returned model's (also its AL_LM_MIX_META) */
    double loss[AL_AUTO_MAX_TRIES];            /* per try: its validation log-loss (nats), what it is chosen by */
    double cloud_val_loss;                     /* the cloud model's */
    long val_tokens, train_tokens;
} al_lm_auto_report;
al_status al_lm_personalize_auto(al_model *m, al_pool *pool, const int32_t *ids, long n, al_cache *cache,
                                 const al_personalize_config *c, al_lm_auto_report *r);

/* ---- new words (src/train/newwords.c) ---- */
/* Grows the model's vocabulary-sized layers (every embedding of V ids and
 * the output layer, a dense layer of V outputs) to v's size (v's first V
 * words the model's), the new rows initialised from <unk>'s (see
 * newwords.c: counts[i] occurrences of new word V+i, unk the text's
 * <unk> tokens before), autlearn.vocab replaced and autlearn.new_words
 * set to the number of rows added; m keeps its handle (unchanged on error).
 * AL_EUNSUPPORTED for int8 weights or another output layer. */
al_status al_lm_grow(al_model *m, const al_vocab *v, const uint64_t *counts, uint64_t unk);
/* Learns the text's new words (al_vocab_learn over the model's vocabulary)
 * and grows the model by them; off when min_count or max_new <= 0. */
al_status al_lm_learn_words(al_model *m, const char *text, size_t len, int min_count, int max_new, int *added);
/* The text's ids under the model's own vocabulary; lens (may be NULL): per
 * token its word length (al_vocab_encode_lens). */
al_status al_lm_encode(const al_model *m, const char *text, size_t len, al_ids *ids, al_ids *lens);
/* AL_EINVAL naming `name` when a stream is empty or every token is <unk>. */
al_status al_lm_check_stream(const int32_t *ids, long n, const char *name);
/* al_lm_evaluate with each target's word length (lens from
 * al_vocab_encode_lens): word_top3 and word_saved then count every word
 * target, unknown words included (never suggested, typed in full), so
 * models with other vocabularies compare on the same text. */
al_status al_lm_evaluate_lens(al_model *m, al_pool *pool, const int32_t *ids, const int32_t *lens, long n,
                              const al_vocab *v, al_lm_eval *r);

/* ---- class names (src/train/classes.c) ---- */

/* Bytes of a class name's buffer, its '\0' included. */
#define AL_CLASS_NAME_MAX 256
/* One step of a walk over a model's class names, from *s =
 * al_model_meta(m, "autlearn.classes") and k = 0: class k's name (its
 * line, or its label number past the last line, al_model_class_name's
 * rules) into buf (AL_CLASS_NAME_MAX bytes), *s moved on to the next line
 * (NULL past the last). AL_ERANGE (set) for a line too long. */
al_status al_class_name_next(const char **s, int k, char *buf);

/* ---- image sizes (src/train/image_meta.c) ---- */

/* n sizes "AxB..." of digits only, each 1..max, into v (the model's
 * autlearn.image.size, the CLI's --input-size). 0 on anything else: a
 * sign, a space, an empty or out-of-range size, a missing or extra part. */
int al_parse_sizes(const char *s, int *v, int n, long max);

#endif /* AL_TRAIN_H */
