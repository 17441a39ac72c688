/* Learning-rate schedules with linear warm-up; see al_sched_lr in train.h.
 * Warm-up reaches the full rate on step warmup_steps - 1 (step 0 gets
 * lr / warmup_steps, never 0, so no step is wasted). */

#include "train/train.h"

#include <math.h>

double al_sched_lr(const al_train_config *c, long long step, long long per_epoch, long long total) {
    if (step < 0) step = 0;
    double lr = c->lr;
    switch (c->sched) {
    case AL_SCHED_CONST: break;
    case AL_SCHED_STEP: {
        long long epoch = per_epoch > 0 ? step / per_epoch : 0;
        if (c->step_size > 0) lr *= pow(c->gamma, (double)(epoch / c->step_size));
        break;
    }
    case AL_SCHED_COSINE: {
        long long w = c->warmup_steps > 0 ? c->warmup_steps : 0;
        long long span = total - w;
        double q = span > 0 ? (double)(step - w) / (double)span : (step < w ? 0.0 : 1.0);
        if (q < 0.0) q = 0.0;
        if (q > 1.0) q = 1.0;
        lr = c->min_lr + (c->lr - c->min_lr) * 0.5 * (1.0 + cos(3.14159265358979323846 * q));
        break;
    }
    }
    if (c->warmup_steps > 0 && step < c->warmup_steps) lr *= (double)(step + 1) / (double)c->warmup_steps;
    return lr;
}
