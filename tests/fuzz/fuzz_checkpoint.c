/* libFuzzer target for the checkpoint reader (src/train/checkpoint.c): a
 * checkpoint is a GGUF file with the weights, the optimizer state and the
 * trainer's position, read by al_checkpoint_info and al_trainer_resume.
 *
 * The input is the file, written to a private temporary directory (the
 * reader works on paths). It is read by al_checkpoint_info, then resumed
 * into the trainer of fuzz_ckpt_setup (the configuration the seeds in
 * tests/fuzz/corpus/fuzz_checkpoint/ were written with, so the fingerprints
 * match and the fuzzer reaches the state behind them; CRCs are not checked
 * in a fuzzing build), which then trains a slice of 3 steps. What must
 * hold: any status with a message, the position al_checkpoint_info reports
 * is sane, and a resumed trainer trains or refuses cleanly.
 * Build and run: scripts/fuzz.sh (CMake -DAL_FUZZ=ON, clang). */
#include "fuzz_common.h"

#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_begin();
    const char *path = fuzz_scratch_path("job.ckpt");
    FUZZ_ASSERT(fuzz_write_file(path, data, size));

    al_trainer_pos pos;
    al_status st = al_checkpoint_info(path, &pos);
    fuzz_check_status(st);
    if (st == AL_OK)
        FUZZ_ASSERT(pos.epochs_done >= 0 && pos.steps_done >= 0 && pos.runs_done >= 0 && pos.epoch >= 0 &&
                    pos.step >= 0 && pos.rollbacks >= 0);

    al_model *m;
    al_dataset *d;
    al_trainer *t;
    fuzz_begin();
    st = fuzz_ckpt_setup(&m, &d, &t);
    fuzz_check_status(st);
    if (st == AL_OK) {
        st = al_trainer_resume(t, path);
        fuzz_check_status(st);
        if (st == AL_OK) {
            int done = 0;
            al_train_report r;
            fuzz_begin();
            fuzz_check_status(al_trainer_run_slice(t, d, d, 3, 0, &done, &r));
        }
    }
    al_trainer_free(t);
    al_dataset_free(d);
    al_model_free(m);
    unlink(path);
    return 0;
}
