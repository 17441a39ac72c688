/* The trainer of the checkpoint fuzz target and its seeds, shared by
 * tests/fuzz/fuzz_common.h (fuzz_checkpoint, gen_corpus) and
 * tests/test_checkpoint_hostile.c, which resumes the seeds and the hostile
 * files written from them: the same model, data and configuration, so the
 * fingerprints a checkpoint carries match. */
#ifndef AL_CKPT_FIXTURE_H
#define AL_CKPT_FIXTURE_H

#include "train/train.h"

/* The trainer fuzz_checkpoint resumes into, and gen_corpus writes its seed
 * checkpoints with: a model with batch-norm state, Adam's moments, early
 * stopping's best weights, 24 samples of 6 features in 3 classes. */
#define FUZZ_CKPT_SPEC "input 6; dense 5; batchnorm; relu; dropout 0.2; dense 3"

static inline al_status fuzz_ckpt_setup(al_model **m, al_dataset **d, al_trainer **t) {
    float x[24 * 6];
    int32_t y[24];
    for (int i = 0; i < 24; i++) {
        y[i] = i % 3;
        for (int j = 0; j < 6; j++) x[i * 6 + j] = (float)((i * 7 + j * 3) % 11) * 0.1f - 0.5f + (float)(j == y[i]);
    }
    al_tensor xs = {NULL, 1, {6, 0, 0, 0}};
    *m = NULL;
    *d = NULL;
    *t = NULL;
    al_status st = al_model_from_spec(FUZZ_CKPT_SPEC, 3, m);
    if (!st) st = al_dataset_from_arrays(x, y, 24, &xs, 1, 3, d);
    if (st) return st;
    al_train_config c;
    al_train_config_default(&c);
    c.optim = AL_OPT_ADAM;
    c.lr = 0.01;
    c.batch = 5;
    c.epochs = 3;
    c.patience = 2;
    c.seed = 9;
    return al_trainer_new(*m, NULL, &c, t);
}

#endif
