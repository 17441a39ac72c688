/* Checkpoints whose counters once overflowed (tests/fuzz/corpus/
 * fuzz_checkpoint/hostile_*.ckpt, written by tests/fuzz/make_gguf_hostile.py
 * from the seed ckpt0 with one value set to 2^63 - 1 and the checksums made
 * again): the resume accepted them and the next training step, epoch or run
 * added to the counter (UBSan: signed integer overflow in trainer.c and
 * optim.c). The trainer here is fuzz_ckpt_setup's (tests/fuzz/ckpt_fixture.h),
 * which wrote the seeds, so that the fingerprints match and the counters
 * are what is refused. The seeds themselves still resume and train. */
#include "al_test.h"
#include "fuzz/ckpt_fixture.h"

#define CORPUS AL_SOURCE_DIR "/tests/fuzz/corpus/fuzz_checkpoint"

static void setup(al_model **m, al_dataset **d, al_trainer **t) { REQUIRE_OK(fuzz_ckpt_setup(m, d, t)); }

/* Resumes from `file` (want: the status), then trains to the end of the run. */
static void resume(const char *file, al_status want, const char *msg) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", CORPUS, file);
    al_model *m;
    al_dataset *d;
    al_trainer *t;
    setup(&m, &d, &t);
    al_trainer_pos pos;
    char what[1100];
    snprintf(what, sizeof what, "%s: al_checkpoint_info", file);
    al_test_expect(what, al_checkpoint_info(path, &pos), want, msg);
    al_test_expect(file, al_trainer_resume(t, path), want, msg);
    /* refused or not, the trainer trains on (from the start after a refusal) */
    int done = 0;
    al_train_report r;
    CHECK_OK(al_trainer_run_slice(t, d, d, 0, 0.0, &done, &r));
    CHECK(done == 1);
    al_trainer_free(t);
    al_dataset_free(d);
    al_model_free(m);
}

int main(void) {
    static const char *const keys[] = {"steps_done", "epochs_done", "runs_done", "opt_t", "run.gstep",
                                       "run.counted", "run.correct", "run.iv_count", "rep.steps", "rep.samples"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        char file[64], msg[160];
        snprintf(file, sizeof file, "hostile_%s_max.ckpt", keys[i]);
        for (char *p = file; *p; p++)
            if (*p == '.' && strcmp(p, ".ckpt") != 0) *p = '_';
        snprintf(msg, sizeof msg, "autlearn.ckpt.%s = 9223372036854775807 is outside 0..4611686018427387904", keys[i]);
        resume(file, AL_EFORMAT, msg);
    }
    for (int i = 0; i < 3; i++) {
        char file[16];
        snprintf(file, sizeof file, "ckpt%d", i);
        resume(file, AL_OK, NULL);
    }
    TEST_END("test_checkpoint_hostile");
}
