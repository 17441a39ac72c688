/* Shared pieces of the autlearn command-line tool: option parsing with strict
 * numbers, error reporting with the documented exit codes, JSON output and a
 * progress line on stderr. Each subcommand lives in its own tools/cmd_*.c. */
#ifndef AL_CLI_H
#define AL_CLI_H

#include "autlearn.h"

#include <stdint.h>
#include <stdio.h>

#if defined(__GNUC__)
#define CLI_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define CLI_PRINTF(f, a)
#endif

/* Exit codes (docs/CLI.md). */
enum { CLI_EXIT_OK = 0, CLI_EXIT_RUNTIME = 1, CLI_EXIT_USAGE = 2 };

/* The subcommands; argv[0] is the subcommand's name. */
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_pretrain(int argc, char **argv);
int cmd_personalize(int argc, char **argv);
int cmd_scenario(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_compile(int argc, char **argv);
int cmd_compress(int argc, char **argv);
int cmd_quantize(int argc, char **argv);

/* ---- errors ----------------------------------------------------------------- */

/* "autlearn <cmd>: <message>" on stderr; returns CLI_EXIT_RUNTIME. */
int cli_fail(const char *cmd, const char *fmt, ...) CLI_PRINTF(2, 3);
/* Same with al_last_error() as the message (falls back to al_strerror(st)). */
int cli_fail_lib(const char *cmd, al_status st);
/* "autlearn <cmd>: <message>" plus a hint to --help; returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) CLI_PRINTF(2, 3);
/* Flushes stdout and reports a failed write (full disk, closed pipe) as a
 * runtime error; returns `code` when stdout is fine. */
int cli_finish(const char *cmd, int code);

/* ---- option parsing ------------------------------------------------------------ */

/* A cursor over argv[1..]. Options are "--name value" or "--name=value".
 * Loop shape, in each subcommand:
 *     cli_args a;  cli_args_init(&a, "train", argc, argv);
 *     while (cli_next(&a)) {
 *         if (cli_flag(&a, "json")) json = 1;
 *         else if (cli_int(&a, "epochs", 1, 1000000, &epochs)) {}
 *         else if (cli_positional(&a, &file)) {}
 *         else cli_unknown(&a);
 *     }
 *     if (a.error) return CLI_EXIT_USAGE;
 * Every matcher returns 1 when the current argument is its option (whether
 * or not the value parsed); a bad value prints a message and sets a.error,
 * which ends the loop. */
typedef struct cli_args {
    const char *cmd;
    int argc;
    char **argv;
    int i;              /* index of the current argument */
    const char *arg;    /* the current argument */
    int error;          /* set on the first usage error */
    int help;           /* set by cli_flag(&a, "help") or -h */
} cli_args;

void cli_args_init(cli_args *a, const char *cmd, int argc, char **argv);
int cli_next(cli_args *a);
int cli_flag(cli_args *a, const char *name);
int cli_str(cli_args *a, const char *name, const char **out);
int cli_int(cli_args *a, const char *name, long lo, long hi, int *out);
int cli_u64(cli_args *a, const char *name, uint64_t *out);
int cli_double(cli_args *a, const char *name, double lo, double hi, double *out);
/* One of `choices` (NULL-terminated); *out gets its index. */
int cli_choice(cli_args *a, const char *name, const char *const *choices, int *out);
/* A non-option argument; a second one where one is allowed is an error. */
int cli_positional(cli_args *a, const char **out);
/* Reports the current argument as unknown (always returns 1). */
int cli_unknown(cli_args *a);

/* Strict conversions of a whole string (no trailing junk, no overflow, finite);
 * 1 on success. */
int cli_parse_long(const char *s, long lo, long hi, long *out);

int cli_parse_double(const char *s, double lo, double hi, double *out);

/* --verbose: library messages from AL_LOG_INFO up (checkpoints written,
 * resumes, rollbacks) on stderr as "autlearn: info: ...". */
void cli_log_verbose(void);

/* --threads (0 = AL_THREADS or 1): a pool, or an error message. */
int cli_pool(const char *cmd, int threads, al_pool **out);

/* "1x28x28" into buf. */
void cli_shape_str(const al_tensor *t, char *buf, size_t cap);
/* The last path component of `path` without trailing slashes, into buf. */
void cli_basename(const char *path, char *buf, size_t cap);
/* Seconds from a monotonic clock. */
double cli_now(void);
/* "LABEL SPEC\n" on stdout, at most CLI_SPEC_LAYERS layers of a long spec,
 * then how many more and the command that lists them all (autlearn info
 * FILE) */
#define CLI_SPEC_LAYERS 24
void cli_print_spec(const char *label, const char *spec, const char *file);

/* ---- job options (tools/cli_job.c; docs/CLI.md, "Job options") ------------------- */

/* Which of the shared options a command takes. */
enum {
    CLI_JOB_THREADS = 1u << 0,    /* --threads T */
    CLI_JOB_SEED = 1u << 1,       /* --seed S (default 1) */
    CLI_JOB_JSON = 1u << 2,       /* --json (a summary on stdout) */
    CLI_JOB_VERBOSE = 1u << 3,    /* --verbose */
    CLI_JOB_QUIET = 1u << 4,      /* --quiet */
    CLI_JOB_FREEZE = 1u << 5,     /* --freeze K or --freeze NAME (a tensor name: freeze through its node) */
    CLI_JOB_BATCH = 1u << 6,      /* --batch B */
    CLI_JOB_CHECKPOINT = 1u << 7, /* --checkpoint, --checkpoint-every, --resume, --max-rollbacks */
    CLI_JOB_BUDGET = 1u << 8,     /* --mem-budget, --dry-run */
    CLI_JOB_CACHE_MB = 1u << 9,   /* --cache-mb */
    CLI_JOB_CACHE = 1u << 10      /* --cache-spill, --no-cache, --naive-plan, --forward-chunk */
};
/* --freeze takes 0..CLI_MAX_NODES, then 0..nodes of the loaded model. */
#define CLI_MAX_NODES 65536
/* --checkpoint-every when --checkpoint is given without it. */
#define CLI_CHECKPOINT_EVERY 10
/* --cache-mb defaults: the task's (an image job's features are small, a
 * language model's windows many). */
#define CLI_CACHE_MB_IMAGE 64
#define CLI_CACHE_MB_TEXT 256

typedef struct cli_job {
    unsigned takes;
    int threads;          /* 0: AL_THREADS or 1 */
    uint64_t seed;
    int json, verbose, quiet;
    int freeze;           /* -1: not given (the library's default freeze point); -2: freeze_name */
    const char *freeze_name; /* --freeze NAME, resolved against the model by cli_job_freeze_check */
    int batch;
    const char *ckpt;
    int ckpt_every, resume, max_rollbacks;
    double mem_mb;        /* 0: no budget */
    int dry_run;
    int cache_mb;
    const char *spill;
    int no_cache, naive_plan;
    int forward_chunk;    /* --forward-chunk: al_model_set_forward_chunk (0: the library's default) */
} cli_job;
/* Defaults: seed 1, freeze -1, max-rollbacks 3, and the task's batch and cache bound. */
void cli_job_init(cli_job *j, unsigned takes, int batch, int cache_mb);
/* 1 when the current argument is one of the job options j takes (parsed into j). */
int cli_job_option(cli_args *a, cli_job *j);
/* After parsing: --resume needs --checkpoint; the default --checkpoint-every;
 * --verbose turns on the library's messages. A usage exit code, or 0. */
int cli_job_check(const char *cmd, cli_job *j);
/* --freeze against the loaded model (0..its nodes); --freeze NAME becomes
 * the node after the one that makes tensor NAME. A usage exit code, or 0. */
int cli_job_freeze_check(const char *cmd, cli_job *j, const al_model *m);
/* A usage exit code when --freeze NAME was given to a command without a
 * model to resolve it against, or 0. */
int cli_job_freeze_numeric(const char *cmd, const cli_job *j);

/* ---- image folders (tools/cli_images.c; docs/CLI.md, "Image folders") ------------- */

typedef struct cli_image_opts {
    const char *test;     /* --test FOLDER: the held-out images */
    double val;           /* --val F: hold out this fraction of each class (0: none) */
    int resize;           /* --resize stretch|crop; -1: not given */
    const char *mean, *std; /* --mean, --std: one number or one per channel; NULL: not given */
} cli_image_opts;
void cli_image_opts_init(cli_image_opts *o);
/* 1 when the current argument is --resize, --mean, --std, or (split != 0)
 * --test or --val; parsed into o. */
int cli_image_option(cli_args *a, cli_image_opts *o, int split);
/* A directory holding a subfolder with a .jpg/.jpeg/.png file, and no IDX
 * training or test images (an IDX directory stays one). */
int cli_is_image_folder(const char *dir);
/* The preprocessing for model m: its stored autlearn.image.* keys, else
 * the defaults for its input shape (CxHxW, C 1 or 3); then the options.
 * 0 or an exit code. */
int cli_image_prep(const char *cmd, const al_model *m, const cli_image_opts *o, al_image_prep *p);
int cli_image_prep_apply(const char *cmd, const cli_image_opts *o, al_image_prep *p);
/* Loads the image folder dir (warnings and a summary on stderr), its
 * classes matched to `known` by name (NULL or empty: sorted by name); a
 * class not in a non-empty `known` is an error unless allow_new. With test
 * not NULL, o's --test FOLDER or --val F gives *test (else *test stays
 * NULL and every image is in *train). *names receives the class names in
 * label order. 0 or an exit code. `personalize` loads the user's photos with it
 * (cli_own_load). */
int cli_load_images(const char *cmd, const char *dir, const al_image_prep *p, const al_class_list *known,
                    int allow_new, const cli_image_opts *o, uint64_t seed, al_dataset **train, al_dataset **test,
                    al_class_list *names);
/* eval and predict: the whole folder, with the model's preprocessing (and
 * the options), classes matched to the model's (none new allowed). */
int cli_eval_images(const char *cmd, const al_model *m, const char *dir, const cli_image_opts *o, al_dataset **d);
/* The calibration set of compile/quantize --calib: an image folder (read
 * with the model's preprocessing) or an IDX directory (its training
 * split). */
int cli_load_calib(const char *cmd, const al_model *m, const char *dir, al_dataset **d);
/* Writes the preprocessing and the class names into the model's metadata. */
int cli_model_set_images(const char *cmd, al_model *m, const al_image_prep *p, const al_class_list *names);
/* The folder's class count must equal the model's outputs (train, pretrain). */
int cli_check_classes(const char *cmd, const al_model *m, const al_class_list *names);

/* ---- the user's own data (tools/cli_own.c) ----------------------------------------- */

/* A personalization's own data: the training and test sets, the data's
 * class names (per data label), and after cli_own_match the labels mapped
 * to the model's outputs, the new classes (the training data's classes the
 * model lacks: outputs classes_before .. classes_before + n_new - 1). */
typedef struct cli_own {
    al_dataset *train, *test;
    int images; /* the data is an image folder */
    char **names;
    int nnames;
    int classes_before, n_new;
    const char **new_names; /* n_new, pointing into names */
} cli_own;
/* An image folder's held-out fraction when neither --test nor --val is given. */
#define CLI_OWN_VAL 0.1
/* The user's data: an image folder data (cli_is_image_folder) read with
 * m's stored preprocessing (refused when m has none), its classes named by
 * their folders (the model's known ones first, in its order; new ones
 * after), the test images from img->test (a folder) or img->val (default
 * CLI_OWN_VAL) drawn with seed; or an IDX directory's training split and
 * the test split of img->test (NULL: of data), classes named by their
 * numbers (img->val refused). 0 or an exit code (the error printed).
 * Frees with cli_own_free. */
int cli_own_load(const char *cmd, const al_model *m, const char *data, const cli_image_opts *img, uint64_t seed,
                 cli_own *o);
/* Matches the data's classes to m's by name and relabels both sets. */
al_status cli_own_match(cli_own *o, const al_model *m);
/* The test samples of the model's classes before and of the new ones. */
al_status cli_own_split(const cli_own *o, al_dataset **old_test, al_dataset **new_test);
void cli_own_free(cli_own *o);

/* ---- the user's own text (tools/cli_text.c; personalize --text) ------------------ */

#include "train/train.h"

typedef struct cli_text_files {
    const char **train, **test; /* --text FILE..., --test FILE... (malloc'd arrays of argv strings) */
    int ntrain, ntest;
    int min_count, max_new;     /* --new-words N, --max-new-words N */
} cli_text_files;
/* 1 when the current argument is --text, --test, --new-words or --max-new-words. */
int cli_text_option(cli_args *a, cli_text_files *f);
void cli_text_files_free(cli_text_files *f);

typedef struct cli_text_data {
    al_ids train;        /* the training text's ids (the grown vocabulary), its most recent `cap` */
    al_ids test, test_lens; /* the test text's ids (the grown vocabulary) and word lengths */
    al_lm_eval before;   /* the cloud model on the test text (its own vocabulary) */
    int new_words;
} cli_text_data;
/* Reads and checks the files, measures the cloud model m on the test text
 * (--test, else the training text's last tenth), learns the new words of
 * the training text (m grows in place), and tokenizes both with m's
 * vocabulary. */
al_status cli_text_load(const cli_text_files *f, al_model *m, al_pool *pool, long cap, cli_text_data *d);
void cli_text_data_free(cli_text_data *d);

/* ---- JSON output ----------------------------------------------------------------- */

/* A small streaming writer that places commas and escapes strings (invalid
 * UTF-8 becomes U+FFFD, so the output always parses). `key` is NULL inside
 * arrays and at the top level. Non-finite numbers are written as null. */
typedef struct cli_json {
    FILE *f;
    int depth;
    int first[32];      /* first[d]: no element written yet at depth d */
} cli_json;

void cli_json_init(cli_json *j, FILE *f);
void cli_json_begin_object(cli_json *j, const char *key);
void cli_json_end_object(cli_json *j);
void cli_json_begin_array(cli_json *j, const char *key);
void cli_json_end_array(cli_json *j);
void cli_json_str(cli_json *j, const char *key, const char *v); /* NULL: null */
void cli_json_num(cli_json *j, const char *key, double v);
/* With `digits` significant digits (probabilities, timings). */
void cli_json_num_digits(cli_json *j, const char *key, double v, int digits);
void cli_json_int(cli_json *j, const char *key, long long v);
void cli_json_bool(cli_json *j, const char *key, int v);
void cli_json_null(cli_json *j, const char *key);
/* Ends the document with a newline. */
void cli_json_end(cli_json *j);
/* A JSON string literal for `s` on f. */
void cli_json_escape(FILE *f, const char *s);

/* ---- progress on stderr ------------------------------------------------------------ */

/* Redraws one status line at most ~10 times a second, only when stderr is a
 * terminal; in a pipe or a file it writes nothing. */
typedef struct cli_progress {
    int enabled;
    double last;        /* time of the last draw */
    int drawn;          /* a line is on screen and must be cleared */
} cli_progress;

void cli_progress_init(cli_progress *p);
/* Draws "<prefix> [=====>    ] done/total <text>" unless drawn too recently
 * (force: always). Either string may be NULL. */
void cli_progress_draw(cli_progress *p, const char *prefix, long long done, long long total, const char *text,
                       int force);
/* Erases the line so ordinary output can follow. */
void cli_progress_clear(cli_progress *p);

/* Memory plans (tools/cli_mem.c, docs/CLI.md): the keys of al_mem_plan in a
 * JSON summary, with the process's measured peak RSS (peak_rss_mb); the
 * one-line text form; and both as the --dry-run / --mem-budget output.
 * with_cache 0: no cache keys (the plain trainer has no cache). */
void cli_mem_plan_json(cli_json *j, const al_mem_plan *p, int with_cache);
void cli_mem_plan_print(const al_mem_plan *p, int with_cache);
void cli_mem_plan_show(const char *cmd, const al_mem_plan *p, int json, int with_cache);

#endif /* AL_CLI_H */
