/* Optimizers, gradient clipping and learning-rate schedules (internal).
 * Semantics follow PyTorch's torch.optim.SGD / Adam / AdamW,
 * torch.nn.utils.clip_grad_norm_ and the usual warm-up + decay schedules. */
#ifndef AL_OPTIM_H
#define AL_OPTIM_H

#include "al_internal.h"

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
    size_t nfloats;    /* trained floats in all */
    void *block;
} al_optim;

/* Collects the trained tensors and allocates the state (zeroed). */
al_status al_optim_init(al_optim *o, al_model *m, const al_train_config *cfg);
void al_optim_free(al_optim *o);
/* Zeroes the state and the step count (a fresh optimizer). */
void al_optim_reset(al_optim *o);
/* 1 when the model's trained set still equals the one at init. */
int al_optim_matches(const al_optim *o, const al_model *m);
/* One update of every trained tensor with learning rate lr. */
void al_optim_step(al_optim *o, float lr);
/* Global L2 norm of the gradients (in double); when clip > 0 and the norm
 * exceeds it, scales every gradient by clip / (norm + 1e-6) as PyTorch's
 * clip_grad_norm_. Returns the norm before clipping (NaN/Inf passes through). */
double al_optim_clip(al_optim *o, double clip);

/* Learning rate for 0-based global step `step` of a run of `total` steps with
 * `per_epoch` steps an epoch: linear warm-up lr * (step+1) / warmup_steps
 * over the first warmup_steps steps, then
 *  CONST:  lr;
 *  STEP:   lr * gamma^floor(epoch / step_size), epoch = step / per_epoch;
 *  COSINE: min_lr + (lr - min_lr) * (1 + cos(pi * q)) / 2, q the fraction of
 *          the post-warm-up steps done, (step - warmup) / (total - warmup). */
double al_sched_lr(const al_train_config *c, long long step, long long per_epoch, long long total);

/* ---- the trainer (src/train/trainer.c); here so checkpoints can reach its state */

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
     * set, a step asks it for the input of node `start` for the batch's
     * samples (indices into the training set, epoch over all runs) instead
     * of copying model inputs, and forwards from node `start`. */
    int start;
    al_trainer_source_fn source;
    void *source_user;
    long long epochs_done; /* over all runs: seeds the shuffle */
    long long steps_done;
};

/* Installs a batch source that delivers `feat` floats per sample, the input
 * of node `start`; nodes below `start` must be frozen. Sizes the batch buffer
 * (not inside a step). */
al_status al_trainer_set_source(al_trainer *t, int start, size_t feat, al_trainer_source_fn fn, void *user);

#endif /* AL_OPTIM_H */
