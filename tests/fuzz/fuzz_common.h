/* Shared by the libFuzzer targets (tests/fuzz/fuzz_*.c).
 *
 * A capped allocator: a valid spec or file may ask for gigabytes, which is a
 * legitimate request and not a bug, but it would trip libFuzzer's memory
 * limit. Through al_set_allocator every library allocation above FUZZ_CAP
 * fails instead, so such inputs exercise the AL_ENOMEM paths (which must be
 * clean: no leak, no crash) rather than the machine's memory.
 *
 * fuzz_check_status: a failure must come with a message. A crash, a
 * sanitizer report, a leak, or a failed FUZZ_ASSERT is a finding. */
#ifndef AL_FUZZ_COMMON_H
#define AL_FUZZ_COMMON_H

#include "train/train.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FUZZ_CAP ((size_t)32 << 20)

#define FUZZ_ASSERT(cond)                                                                                       \
    do {                                                                                                        \
        if (!(cond)) {                                                                                          \
            fprintf(stderr, "%s:%d: FUZZ_ASSERT failed: %s\n", __FILE__, __LINE__, #cond);                     \
            abort();                                                                                            \
        }                                                                                                       \
    } while (0)

static void *fuzz_malloc(void *user, size_t size) {
    (void)user;
    return size > FUZZ_CAP ? NULL : malloc(size);
}

static void fuzz_free(void *user, void *p) {
    (void)user;
    free(p);
}

/* Called at the start of every input: installs the allocator once and
 * clears the last error, so the message check below sees this input's. */
static void fuzz_begin(void) {
    static int done;
    if (!done) {
        done = 1;
        static const al_allocator a = {fuzz_malloc, fuzz_free, NULL};
        al_set_allocator(&a);
    }
    al_error(AL_OK, "%s", "");
}

/* ---- scratch files --------------------------------------------------------------
 * One private directory per fuzzing process (under $TMPDIR or /tmp), made on
 * first use and removed at exit with the files named through
 * fuzz_scratch_path. */
#define FUZZ_MAX_SCRATCH 4
static char fuzz_dir[4096];
static char fuzz_scratch[FUZZ_MAX_SCRATCH][4200];
static int fuzz_nscratch;

static void fuzz_scratch_cleanup(void) {
    for (int i = 0; i < fuzz_nscratch; i++) unlink(fuzz_scratch[i]);
    rmdir(fuzz_dir);
}

static const char *fuzz_scratch_dir(void) {
    if (!fuzz_dir[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(fuzz_dir, sizeof fuzz_dir, "%s/al_fuzz.XXXXXX", t && *t ? t : "/tmp");
        FUZZ_ASSERT(mkdtemp(fuzz_dir) != NULL);
        atexit(fuzz_scratch_cleanup);
    }
    return fuzz_dir;
}

/* The path of scratch file `name` (the same string on every call). */
static const char *fuzz_scratch_path(const char *name) {
    const char *d = fuzz_scratch_dir();
    char want[4200];
    snprintf(want, sizeof want, "%s/%s", d, name);
    for (int i = 0; i < fuzz_nscratch; i++)
        if (strcmp(fuzz_scratch[i], want) == 0) return fuzz_scratch[i];
    FUZZ_ASSERT(fuzz_nscratch < FUZZ_MAX_SCRATCH);
    memcpy(fuzz_scratch[fuzz_nscratch], want, sizeof want);
    return fuzz_scratch[fuzz_nscratch++];
}

/* Writes n bytes to path (created owner-only, truncated). 0 when the file
 * system refuses the name; a failed write is a finding. */
static int fuzz_write_file(const char *path, const uint8_t *p, size_t n) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return 0;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        FUZZ_ASSERT(w > 0);
        p += w;
        n -= (size_t)w;
    }
    FUZZ_ASSERT(close(fd) == 0);
    return 1;
}

/* Every status is acceptable; an error must be a known status and say what
 * went wrong. */
static void fuzz_check_status(al_status st) {
    if (st == AL_OK) return;
    FUZZ_ASSERT(st < 0 && st >= AL_ECANCELED);
    const char *msg = al_last_error();
    FUZZ_ASSERT(msg != NULL && msg[0] != '\0' && strcmp(msg, "no error") != 0);
}

/* Forward MACs per sample above which the passes are skipped: a valid spec
 * may describe an hour of compute. */
#define FUZZ_MAX_MACS 2000000u

/* A training forward + backward pass and an inference pass on a batch of 2
 * (small models only): the shapes the layers inferred are the shapes their
 * kernels use, or the sanitizers say so. */
static void fuzz_run_passes(al_model *m) {
    if (al_model_macs(m) > FUZZ_MAX_MACS) return;
    const int n = 2;
    al_status st = al_model_plan(m, n);
    fuzz_check_status(st);
    if (st) return;
    size_t xn = al_shape_numel(&m->in), yn = al_shape_numel(&m->nodes[m->nnodes - 1].out);
    float *x = calloc((size_t)n * xn, sizeof(float));
    float *dy = malloc((size_t)n * yn * sizeof(float));
    float *y = malloc((size_t)n * yn * sizeof(float));
    FUZZ_ASSERT(x && dy && y);
    /* token models read ids: 0 is valid for any vocabulary */
    if (!m->input_tokens)
        for (size_t i = 0; i < (size_t)n * xn; i++) x[i] = (float)(i % 7) * 0.25f - 0.5f;
    for (size_t i = 0; i < (size_t)n * yn; i++) dy[i] = (float)(i % 5) * 0.01f - 0.02f;
    const float *out;
    al_model_zero_grad(m);
    st = al_model_forward_from(m, NULL, 0, x, n, 1, &out);
    fuzz_check_status(st);
    if (!st) fuzz_check_status(al_model_backward(m, NULL, x, dy, n));
    fuzz_check_status(al_model_predict(m, NULL, x, n, y));
    free(x);
    free(dy);
    free(y);
}

#include "ckpt_fixture.h"

#endif /* AL_FUZZ_COMMON_H */
