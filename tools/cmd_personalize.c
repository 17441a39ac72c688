/* autlearn personalize: the device side. Loads the cloud model, freezes its
 * prefix and trains the rest on private images (or text), with
 * augmentation and the runtime cache; writes the personal model. A thin
 * shell over the device library's al_personalize() / al_lm_personalize():
 * the freeze point, the memory budget and the cache bound are the
 * library's to resolve and apply. The images are the user's own data
 * (tools/cli_own.c: classes matched by name, new ones grown by imprinting)
 * or, with --user K, a simulated user's, which come from the cloud library
 * (the same split as `autlearn scenario`). */
#include "autlearn_cloud.h"
#include "cli.h"
#include "cloud/sim/sim.h"
#include "train/train.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void usage(FILE *f) {
    fprintf(f, "usage: autlearn personalize --model CLOUD --data DIR --out PERSONAL [--test DIR2 | --val F] [options]\n"
               "       autlearn personalize --model CLOUD --data DIR --user K --out PERSONAL [options]\n"
               "       autlearn personalize --scenario text --model CLOUD --user NAME --out PERSONAL\n"
               "       autlearn personalize --model CLOUD --text FILE... [--test FILE...] --out PERSONAL\n"
               "                [--new-words N=2] [--max-new-words N=1000] (and the text options below)\n"
               "                [--data DIR=data/sotu] [--user-tokens N=30000] [--epochs E=3] [--lr X=0.003]\n"
               "                [--batch B=8] [--freeze K] [--train-words N] [--cache-mb MB=256] [--cache-spill FILE]\n"
               "                [--threads T] [--seed S] [--mem-budget MB] [--dry-run] [--checkpoint FILE] [--checkpoint-every N]\n"
               "                [--resume] [--max-rollbacks N] [--no-cache] [--naive-plan] [--forward-chunk N]\n"
               "                [--verbose] [--json]\n"
               "\n"
               "Without --user the device job runs on your own data: an image folder (your\n"
               "photos: one subfolder of .jpg/.png images per class, read with the model's stored\n"
               "preprocessing), scored before and after on the folder --test DIR2 or a held-out\n"
               "--val fraction (default 0.1); or an IDX directory's training split, scored on the\n"
               "test split of --test DIR2 (default: DIR's). Classes are matched to the model's by\n"
               "name (IDX: the label numbers); a class of the training data the model does not\n"
               "know becomes a new output class, its row imprinted from the class's mean frozen\n"
               "feature. With --user K, simulated user K's private data is drawn with --seed\n"
               "(and --users/--per-user) exactly as 'autlearn scenario' draws it. Nothing is\n"
               "uploaded; the only file written is --out (owner-only permissions).\n"
               "\n"
               "  --model FILE          the cloud model (required)\n"
               "  --data DIR            image folder or IDX directory (required; --user: IDX)\n"
               "  --out FILE            the personal model to write (required)\n"
               "  --test DIR2           own data: the image folder, or the IDX directory whose test\n"
               "                        split, scores the job (default: DIR's test split; image\n"
               "                        folders: --val 0.1)\n"
               "  --val F               own image folder: hold out this fraction of each class for\n"
               "                        the scores (drawn with --seed)\n"
               "  --user K              a simulated user, 0-based, instead of your own data\n"
               "  --users N             simulated users in the split (default 20)\n"
               "  --per-user N          private training images per simulated user (default 200)\n"
               "  --test-per-user N     private test images per simulated user (default 200)\n");
    fprintf(f, "  --recipe R            images: what the device trains: auto (default: the device\n"
               "                        tries the recipes below on a validation split of the data,\n"
               "                        cheapest first, picks the best and keeps it only if it beats\n"
               "                        the cloud model there; docs/RECIPES.md), prior, head,\n"
               "                        last-block, bn, bias, deep, full, or config (--freeze as given).\n"
               "                        --freeze, --train-rows, --aug-variants, --no-cache,\n"
               "                        --naive-plan and --predict-first imply config\n"
               "  --auto-folds K        --recipe auto, images: score each recipe by K-fold\n"
               "                        cross-validation (2..10, K runs each; default 5), or 1: one\n"
               "                        held-out split (a fifth of the search)\n"
               "  --auto-val F          --recipe auto: validate on one split, the fraction of each\n"
               "                        class held out (text: always; default 0.2)\n"
               "  --budget-mmacs M      --recipe auto: the search's budget, millions of multiply-adds\n"
               "                        (default: none)\n"
               "  --freeze K            first trainable node (default: the model's autlearn.freeze)\n"
               "  --epochs E            (default 10)\n"
               "  --lr X                SGD learning rate, momentum 0.9, cosine (default 0.01)\n"
               "  --batch B             (default 32)\n"
               "  --aug-variants K      fixed augmented variants per image (default 1 = none)\n"
               "  --label-prior A       before training, shift the output bias by log(p/q): p the\n"
               "                        user's class frequencies (pseudo-count A), q the cloud's\n"
               "                        (default 1; 0 = off)\n"
               "  --l2sp X              L2-SP: pull the trained weights toward the cloud's with\n"
               "                        strength X (default 1; 0 = off)\n"
               "  --rehearsal DIR       the cloud's exemplars (an IDX directory's training split, as\n"
               "                        'pretrain --exemplars-out' writes it; labels: the model's\n"
               "                        classes): where your data hold a class the model does\n"
               "                        not know, the job trains on them with your data, L2-SP\n"
               "                        off, and undoes their class prior after (docs/RECIPES.md)\n"
               "  --cache-mb MB         runtime cache bound (default 64; past it, recompute)\n"
               "  --cache-spill FILE    past the bound, keep entries in FILE instead (owner-only,\n"
               "                        removed at the end)\n"
               "  --no-cache            no runtime cache: the frozen prefix is recomputed at every\n"
               "                        epoch (text: one pass over the stream per epoch, state\n"
               "                        carried); the same weights, more work (a benchmark switch)\n"
               "  --naive-plan          activation memory without liveness (every buffer apart), the\n"
               "                        layout before the planner, which every model, compiled or\n"
               "                        not, uses by default; the same weights (a benchmark switch)\n"
               "  --forward-chunk N     the frozen part's forward in chunks of N samples (-1: node by\n"
               "                        node over the whole batch; 0, the default: sized by the\n"
               "                        caches); the same weights (docs/COMPILE.md)\n");
    fprintf(f, "  --predict-first       classify the private images before training, as the app did\n"
               "                        when they were taken: the predictions fill the runtime cache\n"
               "                        (timed apart: predict_cpu_seconds); the same weights\n"
               "  --mem-budget MB       memory budget of the whole job (the loaded data set aside):\n"
               "                        the cache bound shrinks first, then the batch halves (which\n"
               "                        changes the result); exit 1 before training if it cannot fit\n"
               "  --dry-run             print the memory plan and stop: no training, nothing written\n"
               "  --threads T           worker threads (default: AL_THREADS or 1)\n"
               "  --seed S              (default 1)\n"
               "  --checkpoint FILE     write a crash-safe checkpoint to FILE (owner-only) every\n"
               "                        --checkpoint-every steps and at the end; FILE is kept\n"
               "  --checkpoint-every N  steps between checkpoints (default 10)\n"
               "  --resume              continue from --checkpoint FILE when it exists (a finished\n"
               "                        one only re-writes --out); refused if the data or options differ\n"
               "  --max-rollbacks N     on NaN/Inf, roll back to the last good state and lower the\n"
               "                        learning rate x0.1, at most N times (default 3; 0: fail)\n");
    fprintf(f, "  --train-rows N        images: train only the output rows of the N classes most\n"
               "                        frequent in the training data (the freeze point defaults to\n"
               "                        the output layer; no augmentation; default 0 = every row)\n"
               "  --recipe auto         text (--scenario text): the device's chooser (docs/RECIPES.md,\n"
               "                        \"The text chooser\"): the unigram prior, head, last-block and\n"
               "                        deep tried on the last 20%% of the text, each also mixed with\n"
               "                        the user's bigram model, chosen by validation log-loss and\n"
               "                        kept only below the cloud model's; --budget-mmacs bounds it\n"
               "                        (default: config, the freeze point as given)\n"
               "  --ngram-mix 0|1       --recipe auto: 1 (default) the bigram mixture is a candidate\n"
               "                        (its weight is stored as autlearn.ngram_mix); 0 the model alone\n"
               "  --train-words N       text: train only the output rows of the user's N most used\n"
               "                        words (the softmax stays exact over every word; the other\n"
               "                        rows keep the cloud's values); the freeze point defaults to\n"
               "                        the output layer, the only one it can be (default 0 = every row)\n"
               "  --text FILE...        text: train on the user's own UTF-8 text files (no --user);\n"
               "                        the vocabulary is the model's\n"
               "  --test FILE...        text: measure on these files (default: the last tenth of\n"
               "                        the --text files, held out)\n"
               "  --new-words N         text: a word the vocabulary lacks that occurs N times in the\n"
               "                        training text gets its own entry, the embedding and output\n"
               "                        layer grow by its rows (default 2; 0 = off)\n"
               "  --max-new-words N     text: at most N new words (default 1000)\n"
               "  --verbose             report checkpoints, resumes and rollbacks on stderr\n"
               "  --json                print a JSON summary on stdout\n"
               "  -h, --help            this help\n");
}

/* The job's own memory: the library's allocations go through a counting
 * allocator, and job_peak_alloc_mb is the peak of live bytes during the job
 * over those live when it starts (the loaded data set and the cloud model
 * excluded). Unlike a resident-set difference, it does not depend on what
 * libc keeps from earlier frees. */
static atomic_size_t cnt_live, cnt_peak;

static void *cnt_malloc(void *u, size_t n) {
    (void)u;
    char *p = malloc(n + 16);
    if (!p) return NULL;
    memcpy(p, &n, sizeof n);
    size_t now = atomic_fetch_add(&cnt_live, n) + n, pk = atomic_load(&cnt_peak);
    while (now > pk && !atomic_compare_exchange_weak(&cnt_peak, &pk, now)) {
    }
    return p + 16;
}

static void cnt_free(void *u, void *q) {
    (void)u;
    if (!q) return;
    char *p = (char *)q - 16;
    size_t n;
    memcpy(&n, p, sizeof n);
    atomic_fetch_sub(&cnt_live, n);
    free(p);
}

static void cnt_install(int on) {
    al_allocator a = {cnt_malloc, cnt_free, NULL};
    al_set_allocator(on ? &a : NULL);
}

/* Starts the job's window: the live bytes now */
static size_t cnt_mark(void) {
    size_t now = atomic_load(&cnt_live);
    atomic_store(&cnt_peak, now);
    return now;
}

static double cnt_peak_mb(size_t mark) { return (double)(atomic_load(&cnt_peak) - mark) / 1048576.0; }

/* The keys both paths end their JSON with: the job's spills, steps,
 * rollbacks, resume point, uploads (none) and the model written. */
static void json_job_tail(cli_json *j, const al_personalize_report *r, long long resumed_at, const char *out) {
    cli_json_int(j, "cache_entries_spilled", (long long)r->cache.entries_spilled);
    cli_json_int(j, "steps", r->train.steps);
    cli_json_int(j, "rollbacks", r->train.rollbacks);
    if (resumed_at >= 0)
        cli_json_int(j, "resumed_at_step", resumed_at);
    else
        cli_json_null(j, "resumed_at_step");
    cli_json_int(j, "bytes_uploaded", 0);
    cli_json_str(j, "model", out);
    cli_json_end_object(j);
}

/* Says where a --resume goes on from (the library verifies the file again);
 * *at receives the checkpoint's step, -1 without one. */
static al_status resume_note(const char *cmd, int resume, const char *ckpt, long long *at) {
    struct stat sb;
    *at = -1;
    if (!resume || stat(ckpt, &sb) != 0) return AL_OK;
    al_trainer_pos p;
    al_status st = al_checkpoint_info(ckpt, &p);
    if (st) return st;
    *at = p.steps_done;
    if (p.in_run)
        fprintf(stderr, "autlearn %s: resuming from %s at step %lld (epoch %d)\n", cmd, ckpt, p.steps_done, p.epoch + 1);
    else
        fprintf(stderr, "autlearn %s: %s holds a finished run (%lld steps); writing its weights\n", cmd, ckpt,
                p.steps_done);
    return AL_OK;
}

/* The device job's defaults, the same as the scenarios' autonomous method
 * (src/cloud/sim/scenario_image.c, scenario_text.c). */
#define IMG_EPOCHS 10
#define IMG_LR 0.01
#define IMG_BATCH 32
#define IMG_LABEL_PRIOR 1.0
#define IMG_L2SP 1.0
#define TXT_EPOCHS 3
#define TXT_LR 0.003
#define TXT_BATCH 8
#define TXT_USER_TOKENS 30000
#define TXT_DATA "data/sotu"
#define TXT_NEW_WORDS 2      /* --text: chosen on validation text (scripts/measure-newwords.sh) */
#define TXT_MAX_NEW_WORDS 1000

#define JOB_TAKES                                                                                                    \
    (CLI_JOB_THREADS | CLI_JOB_SEED | CLI_JOB_JSON | CLI_JOB_VERBOSE | CLI_JOB_FREEZE | CLI_JOB_BATCH |               \
     CLI_JOB_CHECKPOINT | CLI_JOB_BUDGET | CLI_JOB_CACHE_MB | CLI_JOB_CACHE)

/* The job options that go into the personalization config. */
static void job_config(al_personalize_config *pc, const cli_job *j) {
    pc->freeze = j->freeze;
    pc->train.checkpoint_path = j->ckpt;
    pc->train.checkpoint_every = j->ckpt_every;
    pc->train.max_rollbacks = j->max_rollbacks;
    pc->resume = j->resume;
    pc->mem_budget_bytes = (size_t)(j->mem_mb * 1048576.0);
}

/* The job's pool and model, the model checked against --freeze: an exit
 * code (the caller frees what was made), or 0 with *st the library's status. */
static int job_open(const char *cmd, const cli_job *j, const char *model, al_pool **pool, al_model **m, al_status *st) {
    if (cli_pool(cmd, j->threads, pool)) return CLI_EXIT_RUNTIME;
    *st = al_model_load(model, m);
    return *st ? 0 : cli_job_freeze_check(cmd, (cli_job *)j, *m); /* resolves --freeze NAME in j */
}

/* ---- --scenario text: one president's addresses --------------------------------- */

/* The vocabulary comes from the model file. The keyboard's predict pass over
 * the private text fills the runtime cache first (as typing would), then
 * al_lm_personalize trains. With --mem-budget the plan comes first, and the
 * cache's bound is set before the predict pass fills it. */
typedef struct text_opts {
    cli_job j;
    const char *model, *out, *user, *scenario, *data;
    int epochs, user_tokens, train_words;
    double lr;
    cli_text_files tf; /* --text: the user's own files (tools/cli_text.c) */
    const char *recipe_name;
    int auto_recipe;   /* --recipe auto: the device's text chooser (al_lm_personalize_auto) */
    double budget_mmacs;
    int ngram_mix;     /* --ngram-mix: the chooser's bigram mixture (-1: not given, the library's default) */
} text_opts;

static int text_parse(int argc, char **argv, text_opts *o) {
    const char *cmd = "personalize";
    memset(o, 0, sizeof *o);
    cli_job_init(&o->j, JOB_TAKES, TXT_BATCH, CLI_CACHE_MB_TEXT);
    o->data = TXT_DATA;
    o->epochs = TXT_EPOCHS;
    o->lr = TXT_LR;
    o->user_tokens = TXT_USER_TOKENS;
    o->tf.min_count = -1;
    o->tf.max_new = -1;
    o->ngram_mix = -1;
    cli_args a;
    cli_args_init(&a, cmd, argc, argv);
    while (cli_next(&a)) {
        if (cli_flag(&a, "help") || cli_job_option(&a, &o->j) || cli_text_option(&a, &o->tf)) {
        } else if (cli_str(&a, "data", &o->data) || cli_str(&a, "out", &o->out) || cli_str(&a, "model", &o->model) ||
                   cli_str(&a, "user", &o->user) || cli_str(&a, "scenario", &o->scenario) ||
                   cli_str(&a, "recipe", &o->recipe_name)) {
        } else if (cli_double(&a, "budget-mmacs", 0.0, 1e12, &o->budget_mmacs)) {
        } else if (cli_int(&a, "epochs", 1, 10000, &o->epochs) ||
                   cli_int(&a, "user-tokens", 0, 1 << 30, &o->user_tokens) ||
                   cli_int(&a, "train-words", 0, 1 << 30, &o->train_words) || cli_double(&a, "lr", 1e-9, 10.0, &o->lr) ||
                   cli_int(&a, "ngram-mix", 0, 1, &o->ngram_mix)) {
        } else
            cli_unknown(&a);
    }
    if (a.help) {
        usage(stdout);
        return -1;
    }
    if (a.error) return a.error;
    if (!o->model) return cli_usage_error(cmd, "--model FILE is required");
    if (o->tf.ntrain && (o->user || o->scenario))
        return cli_usage_error(cmd, "--text FILE... is the user's own text: no --user or --scenario");
    if (!o->tf.ntrain && (o->tf.ntest || o->tf.min_count >= 0 || o->tf.max_new >= 0))
        return cli_usage_error(cmd, "--test, --new-words and --max-new-words need --text FILE...");
    if (o->tf.min_count < 0) o->tf.min_count = TXT_NEW_WORDS;
    if (o->tf.max_new < 0) o->tf.max_new = TXT_MAX_NEW_WORDS;
    if (!o->user && !o->tf.ntrain)
        return cli_usage_error(cmd, "--user NAME is required (a president, e.g. barack_obama), or --text FILE...");
    if (!o->out) return cli_usage_error(cmd, "--out FILE is required");
    if (o->recipe_name) {
        if (!strcmp(o->recipe_name, "auto"))
            o->auto_recipe = 1;
        else if (strcmp(o->recipe_name, "config") != 0)
            return cli_usage_error(cmd, "--recipe: text takes auto or config, got '%s'", o->recipe_name);
    }
    if (o->auto_recipe && (o->train_words > 0 || o->j.freeze != -1 || o->j.freeze_name || o->tf.ntrain ||
                           o->j.mem_mb > 0))
        return cli_usage_error(cmd, "--recipe auto chooses the trained layers itself: no --freeze, --train-words, "
                                    "--text or --mem-budget");
    if (!o->auto_recipe && o->budget_mmacs > 0) return cli_usage_error(cmd, "--budget-mmacs is --recipe auto's");
    if (!o->auto_recipe && o->ngram_mix >= 0) return cli_usage_error(cmd, "--ngram-mix is --recipe auto's");
    return cli_job_check(cmd, &o->j);
}

typedef struct text_run {
    al_pool *pool;
    al_model *m;
    al_cache *cache;
    al_ids train, test;
    al_personalize_config pc;
    al_mem_plan plan;
    al_personalize_report r;
    al_lm_eval before, after;
    al_lm_auto_report ar; /* --recipe auto */
    double train_cpu, predict_cpu, job_peak;
    long long resumed_at;
    cli_text_data td; /* --text: the test text's word lengths, the cloud's results, the new words */
} text_run;

static void text_run_free(text_run *t) {
    al_ids_free(&t->train);
    al_ids_free(&t->test);
    cli_text_data_free(&t->td);
    al_cache_free(t->cache);
    al_model_free(t->m);
    al_pool_free(t->pool);
}

/* The model, the user's text and the job's configuration. */
static al_status text_setup(const text_opts *o, text_run *t) {
    al_status st;
    t->m->plan_naive = o->j.naive_plan;
    al_model_release_plan(t->m); /* planned anew, with or without liveness */
    al_model_set_forward_chunk(t->m, o->j.forward_chunk);
    const char *vocab = al_model_meta(t->m, "autlearn.vocab");
    if (!vocab) return al_error(AL_EINVAL, "%s has no vocabulary (autlearn.vocab): not a text model", o->model);
    if (o->tf.ntrain) {
        /* the user's own files: the model grows by their new words here */
        if ((st = cli_text_load(&o->tf, t->m, t->pool, o->user_tokens, &t->td)) != AL_OK) return st;
        t->train = t->td.train;
        t->test = t->td.test;
        memset(&t->td.train, 0, sizeof t->td.train);
        memset(&t->td.test, 0, sizeof t->td.test);
    } else if ((st = al_sim_text_user(o->data, vocab, o->user, o->user_tokens, &t->train, &t->test)) != AL_OK) {
        return st;
    }
    if (!o->j.no_cache && (st = al_cache_new((size_t)o->j.cache_mb << 20, o->j.spill, &t->cache)) != AL_OK) return st;
    al_personalize_config_default(&t->pc);
    al_train_recipe_text(&t->pc.train, o->j.batch, o->epochs, o->lr, o->j.seed + 1000);
    job_config(&t->pc, &o->j);
    t->pc.train_rows = o->train_words;
    /* the keyboard runs the model frozen where it will be personalized: its
     * predict pass keys the prefix's outputs by the freeze point */
    return al_model_freeze(t->m, al_personalize_freeze(t->m, &t->pc));
}

/* The job: the predict pass (which fills the cache) and the training, the
 * model planned anew inside it; before and after on the held-out text. */
static al_status text_job(const char *cmd, const text_opts *o, text_run *t) {
    al_status st;
    if ((st = resume_note(cmd, o->j.resume, o->j.ckpt, &t->resumed_at)) != AL_OK) return st;
    /* the keyboard's cache within the budget before typing fills it */
    if (t->pc.mem_budget_bytes) al_cache_set_bound(t->cache, t->plan.cache_used);
    if (o->tf.ntrain)
        t->before = t->td.before; /* measured on the cloud model before it grew */
    else if ((st = al_lm_evaluate(t->m, t->pool, t->test.v, t->test.n, NULL, &t->before)) != AL_OK)
        return st;
    al_model_release_plan(t->m);
    size_t mark = cnt_mark();
    double cpu0 = al_cpu_seconds();
    if ((st = al_lm_predict_stream(t->m, t->pool, t->train.v, t->train.n, t->cache)) != AL_OK) return st;
    double cpu1 = al_cpu_seconds();
    if (o->auto_recipe) {
        t->pc.budget_macs = (uint64_t)(o->budget_mmacs * 1e6);
        if (o->ngram_mix >= 0) t->pc.ngram_mix = o->ngram_mix;
        if ((st = al_lm_personalize_auto(t->m, t->pool, t->train.v, t->train.n, t->cache, &t->pc, &t->ar)) != AL_OK)
            return st;
        t->r = t->ar.a.final;
        t->r.macs = t->ar.a.search_macs + t->ar.a.final.macs;
    } else if ((st = al_lm_personalize(t->m, t->pool, t->train.v, t->train.n, t->cache, &t->pc, &t->r)) != AL_OK) {
        return st;
    }
    t->train_cpu = al_cpu_seconds() - cpu1;
    t->predict_cpu = cpu1 - cpu0;
    t->job_peak = cnt_peak_mb(mark);
    t->r.mem.cache_requested = t->plan.cache_requested; /* the bound asked for, before the budget lowered it */
    /* the keyboard's predictions after: mixed with its bigram model of the
     * user's whole text when the chooser picked a weight */
    al_lm_ngram *g = NULL;
    if (o->auto_recipe && t->ar.mix_chosen > 0 &&
        ((st = al_lm_ngram_new(al_model_output_shape(t->m).shape[1], &g)) != AL_OK ||
         (st = al_lm_ngram_count(g, t->train.v, t->train.n)) != AL_OK)) {
        al_lm_ngram_free(g);
        return st;
    }
    st = al_lm_evaluate_mix(t->m, t->pool, g, g ? t->ar.mix_chosen : 0.0, t->test.v,
                            t->td.test_lens.n ? t->td.test_lens.v : NULL, t->test.n, NULL, &t->after);
    al_lm_ngram_free(g);
    if (st != AL_OK) return st;
    al_model_set_meta(t->m, "autlearn.personalized", "1");
    return al_model_save(t->m, o->out);
}

static void text_report(const char *cmd, const text_opts *o, const text_run *t) {
    if (!o->j.json) {
        printf("%s: %ld private tokens, test top-3 %.2f%% -> %.2f%% (%.2f s, frozen-prefix windows run %llu, "
               "cache hits %llu); wrote %s\n",
               o->user ? o->user : "text", t->train.n, 100 * t->before.top3, 100 * t->after.top3, t->r.train.seconds,
               (unsigned long long)t->r.prefix_samples, (unsigned long long)t->r.cache.hits, o->out);
        if (o->auto_recipe) printf("recipe: %s\n", t->ar.a.why);
        return;
    }
    cli_json j;
    cli_json_init(&j, stdout);
    cli_json_begin_object(&j, NULL);
    cli_json_str(&j, "command", cmd);
    if (o->user)
        cli_json_str(&j, "user", o->user);
    else
        cli_json_null(&j, "user");
    cli_mem_plan_json(&j, &t->r.mem, 1);
    cli_json_int(&j, "tokens", t->train.n);
    cli_json_int(&j, "test_tokens", t->test.n);
    cli_json_int(&j, "freeze", al_model_freeze_point(t->m));
    cli_json_int(&j, "train_words", o->train_words);
    cli_json_num(&j, "test_top3_before", t->before.top3);
    cli_json_num(&j, "test_top3_after", t->after.top3);
    cli_json_num(&j, "test_top1_after", t->after.top1);
    cli_json_num(&j, "test_ppl_after", t->after.ppl);
    cli_json_num(&j, "seconds", t->r.train.seconds);
    cli_json_num(&j, "train_cpu_seconds", t->train_cpu);
    cli_json_num(&j, "predict_cpu_seconds", t->predict_cpu);
    cli_json_num(&j, "job_peak_alloc_mb", t->job_peak);
    cli_json_bool(&j, "cache", !o->j.no_cache);
    cli_json_bool(&j, "naive_plan", o->j.naive_plan);
    cli_json_int(&j, "forward_chunk", o->j.forward_chunk);
    cli_json_int(&j, "prefix_windows", (long long)t->r.prefix_samples);
    /* without a runtime cache, r.cache describes the job's per-epoch buffer of the windows */
    cli_json_int(&j, "cache_hits", t->cache ? (long long)t->r.cache.hits : 0);
    cli_json_int(&j, "macs", (long long)t->r.macs);
    if (o->auto_recipe) {
        const al_auto_report *a = &t->ar.a;
        cli_json_str(&j, "recipe", a->kept ? al_recipe_name(a->recipe) : "cloud");
        cli_json_begin_object(&j, "recipe_search");
        cli_json_int(&j, "train_tokens", t->ar.train_tokens);
        cli_json_int(&j, "val_tokens", t->ar.val_tokens);
        cli_json_num(&j, "cloud_val_top3", a->cloud_val_acc);
        cli_json_num(&j, "prior_strength", t->ar.prior_chosen);
        cli_json_num(&j, "ngram_mix", t->ar.mix_chosen);
        cli_json_num(&j, "cloud_val_loss", t->ar.cloud_val_loss);
        cli_json_bool(&j, "kept", a->kept);
        cli_json_int(&j, "search_macs", (long long)a->search_macs);
        cli_json_str(&j, "why", a->why);
        cli_json_end_object(&j);
    }
    if (o->tf.ntrain) {
        /* over word targets, unknown words included (misses, typed in full) */
        cli_json_int(&j, "new_words", t->td.new_words);
        cli_json_int(&j, "test_word_targets", t->after.word_targets);
        cli_json_int(&j, "test_word_unknown_before", t->before.word_unknown);
        cli_json_int(&j, "test_word_unknown_after", t->after.word_unknown);
        cli_json_num(&j, "test_word_top3_before", t->before.word_top3);
        cli_json_num(&j, "test_word_top3_after", t->after.word_top3);
        cli_json_num(&j, "test_keystroke_savings_before", t->before.word_saved);
        cli_json_num(&j, "test_keystroke_savings_after", t->after.word_saved);
    }
    json_job_tail(&j, &t->r, t->resumed_at, o->out);
    cli_json_end(&j);
}

static int personalize_text(int argc, char **argv) {
    const char *cmd = "personalize";
    text_opts o;
    int rc = text_parse(argc, argv, &o);
    if (rc) {
        cli_text_files_free(&o.tf);
        return rc < 0 ? cli_finish(cmd, CLI_EXIT_OK) : rc;
    }
    text_run t;
    memset(&t, 0, sizeof t);
    t.resumed_at = -1;
    al_status st = AL_OK;
    if ((rc = job_open(cmd, &o.j, o.model, &t.pool, &t.m, &st)) != 0) {
        text_run_free(&t);
        cli_text_files_free(&o.tf);
        return rc;
    }
    if (!st) st = text_setup(&o, &t);
    /* the memory plan first: a budget that cannot be met fails here, before
     * the predict pass, training or any output */
    if (!st) st = al_lm_plan_memory(t.m, t.pool, t.train.n, t.cache, &t.pc, &t.plan);
    if (!st && (o.j.dry_run || (o.j.mem_mb > 0 && !o.j.json))) cli_mem_plan_show(cmd, &t.plan, o.j.json, 1);
    if (!st && !o.j.dry_run && (st = text_job(cmd, &o, &t)) == AL_OK) text_report(cmd, &o, &t);
    text_run_free(&t);
    cli_text_files_free(&o.tf);
    return st ? cli_fail_lib(cmd, st) : cli_finish(cmd, CLI_EXIT_OK);
}

/* ---- images: user K of the simulated split ------------------------------------------ */

typedef struct image_opts {
    cli_job j;
    const char *model, *out, *data, *test, *rehearsal;
    int user, epochs, aug_variants, predict_first, train_rows, auto_folds;
    int sim_opts; /* --users, --per-user or --test-per-user given */
    int aug_given;
    const char *recipe_name;
    al_recipe recipe; /* resolved: AL_RECIPE_AUTO unless a recipe or a flag fixes it */
    double lr, label_prior, l2sp, val, auto_val, budget_mmacs;
    al_users_config users;
} image_opts;

static int image_parse(int argc, char **argv, image_opts *o) {
    const char *cmd = "personalize";
    memset(o, 0, sizeof *o);
    cli_job_init(&o->j, JOB_TAKES, IMG_BATCH, CLI_CACHE_MB_IMAGE);
    al_users_config_default(&o->users);
    o->user = -1;
    o->epochs = IMG_EPOCHS;
    o->lr = IMG_LR;
    o->aug_variants = 1;
    o->label_prior = IMG_LABEL_PRIOR;
    o->l2sp = IMG_L2SP;
    cli_args a;
    cli_args_init(&a, cmd, argc, argv);
    while (cli_next(&a)) {
        if (cli_flag(&a, "help") || cli_job_option(&a, &o->j)) {
        } else if (cli_flag(&a, "predict-first")) {
            o->predict_first = 1;
        } else if (cli_str(&a, "data", &o->data) || cli_str(&a, "out", &o->out) || cli_str(&a, "model", &o->model) ||
                   cli_str(&a, "test", &o->test) || cli_str(&a, "rehearsal", &o->rehearsal)) {
        } else if (cli_int(&a, "users", 1, 100000, &o->users.users) ||
                   cli_int(&a, "per-user", 10, 1000000, &o->users.per_user) ||
                   cli_int(&a, "test-per-user", 1, 1000000, &o->users.test_per_user)) {
            o->sim_opts = 1;
        } else if (cli_int(&a, "aug-variants", 1, 1024, &o->aug_variants)) {
            o->aug_given = 1;
        } else if (cli_str(&a, "recipe", &o->recipe_name) ||
                   cli_double(&a, "budget-mmacs", 0.0, 1e12, &o->budget_mmacs) ||
                   cli_double(&a, "auto-val", 0.01, 0.9, &o->auto_val)) {
        } else if (cli_int(&a, "user", 0, 100000, &o->user) || cli_int(&a, "epochs", 1, 10000, &o->epochs) ||
                   cli_int(&a, "train-rows", 0, 1 << 30, &o->train_rows) ||
                   cli_int(&a, "auto-folds", 1, 10, &o->auto_folds)) {
        } else if (cli_double(&a, "lr", 1e-9, 10.0, &o->lr) || cli_double(&a, "label-prior", 0.0, 1e6, &o->label_prior) ||
                   cli_double(&a, "l2sp", 0.0, 1e6, &o->l2sp) || cli_double(&a, "val", 0.01, 0.9, &o->val)) {
        } else
            cli_unknown(&a);
    }
    if (a.help) {
        usage(stdout);
        return -1;
    }
    if (a.error) return a.error;
    if (!o->model) return cli_usage_error(cmd, "--model FILE is required");
    if (!o->data) return cli_usage_error(cmd, "--data DIR is required");
    if (!o->out) return cli_usage_error(cmd, "--out FILE is required");
    if (o->user < 0 && o->sim_opts)
        return cli_usage_error(cmd, "--users, --per-user and --test-per-user shape simulated users: they need --user K");
    if (o->user >= 0 && (o->test || o->val > 0.0))
        return cli_usage_error(cmd, "--test and --val are for your own data; a simulated user (--user) has its own "
                                    "test images");
    if (o->test && o->val > 0.0) return cli_usage_error(cmd, "give either --test or --val, not both");
    if (o->user >= o->users.users)
        return cli_usage_error(cmd, "--user %d: there are %d users", o->user, o->users.users);
    /* the recipe: the chooser by default; the old flags fix one (as configured) */
    int fixing = o->j.freeze != -1 || o->j.freeze_name || o->train_rows > 0 || o->aug_given || o->j.no_cache ||
                 o->j.naive_plan || o->predict_first;
    o->recipe = fixing ? AL_RECIPE_CONFIG : AL_RECIPE_AUTO;
    if (o->recipe_name) {
        if (al_recipe_parse(o->recipe_name, &o->recipe) != AL_OK) return cli_usage_error(cmd, "--recipe: %s", al_last_error());
        if (o->recipe == AL_RECIPE_AUTO && fixing)
            return cli_usage_error(cmd, "--recipe auto chooses the freeze point, rows and augmentation itself: no --freeze, "
                                        "--train-rows, --aug-variants, --no-cache, --naive-plan or --predict-first");
        if (o->recipe != AL_RECIPE_AUTO && o->recipe != AL_RECIPE_CONFIG && (o->j.freeze != -1 || o->j.freeze_name || o->train_rows > 0))
            return cli_usage_error(cmd, "--recipe %s sets the freeze point and the trained rows: no --freeze or --train-rows",
                                   o->recipe_name);
    }
    if (o->recipe != AL_RECIPE_AUTO && (o->auto_val > 0.0 || o->budget_mmacs > 0.0 || o->auto_folds > 0))
        return cli_usage_error(cmd, "--auto-val, --auto-folds and --budget-mmacs are the chooser's (--recipe auto)");
    if (o->auto_val > 0.0 && o->auto_folds > 1)
        return cli_usage_error(cmd, "--auto-val and --auto-folds are two ways to validate: give one");
    return cli_job_check(cmd, &o->j);
}

typedef struct image_run {
    al_pool *pool;
    al_model *m;
    al_users *u;
    al_cache *cache;
    uint64_t *ids;
    const al_dataset *tr, *te;
    /* own data: the sets, the cloud model (kept for the before score when
     * classes are added) and the test split by old and new classes */
    cli_own own;
    al_model *cloud;
    al_dataset *te_old, *te_new;
    al_dataset *rehearsal; /* --rehearsal: the cloud's exemplars */
    double old_before, old_after, new_after;
    al_personalize_config pc;
    al_mem_plan plan;
    al_personalize_report r;
    al_auto_report ar; /* --recipe auto */
    double before, after, train_cpu, predict_cpu, job_peak;
    long long resumed_at;
} image_run;

static void image_run_free(image_run *t) {
    cli_own_free(&t->own);
    al_model_free(t->cloud);
    al_dataset_free(t->te_old);
    al_dataset_free(t->te_new);
    al_dataset_free(t->rehearsal);
    free(t->ids);
    al_cache_free(t->cache);
    al_model_free(t->m);
    al_users_free(t->u);
    al_pool_free(t->pool);
}

/* User K's private data: the IDX directory split as `autlearn scenario`
 * splits it (the same seed and sizes). */
static al_status image_user(const image_opts *o, image_run *t) {
    al_dataset *train = NULL, *test = NULL;
    al_status st = al_idx_load_dir(o->data, 0, &train);
    if (st == AL_OK) st = al_idx_load_dir(o->data, 1, &test);
    al_users_config uc = o->users;
    uc.seed = o->j.seed;
    if (st == AL_OK) st = al_users_split(train, test, &uc, &t->u);
    al_dataset_free(train);
    al_dataset_free(test);
    if (st) return st;
    t->tr = al_users_train(t->u, o->user);
    t->te = al_users_test(t->u, o->user);
    int n = al_dataset_size(t->tr);
    t->ids = malloc(sizeof(uint64_t) * (size_t)(n > 0 ? n : 1));
    if (!t->ids) return al_error(AL_ENOMEM, "no memory for %d sample ids", n);
    for (int i = 0; i < n; i++) t->ids[i] = (uint64_t)al_users_train_origin(t->u, o->user, i);
    return AL_OK;
}

/* The user's own data (loaded by cli_own_load): classes matched by name;
 * the training data's new classes grow the output layer by imprinting (the
 * cloud model is kept to score the test data before). Samples are cached
 * by their content. */
static al_status own_data(image_run *t) {
    al_status st = cli_own_match(&t->own, t->m);
    if (st) return st;
    t->tr = t->own.train;
    t->te = t->own.test;
    if (t->own.n_new == 0) return AL_OK;
    if ((st = al_model_clone(t->m, &t->cloud)) != AL_OK || (st = cli_own_split(&t->own, &t->te_old, &t->te_new)))
        return st;
    return al_model_add_classes(t->m, t->pool, t->tr, t->own.n_new, t->own.new_names);
}

static al_status image_setup(const image_opts *o, image_run *t) {
    al_status st;
    t->m->plan_naive = o->j.naive_plan;
    al_model_release_plan(t->m); /* planned anew, with or without liveness */
    al_model_set_forward_chunk(t->m, o->j.forward_chunk);
    if (o->rehearsal) {
        /* the exemplars' labels are the cloud model's classes, before any grow */
        int K0 = al_model_num_classes(t->m);
        if ((st = al_idx_load_dir(o->rehearsal, 0, &t->rehearsal)) != AL_OK) return st;
        if (K0 < 1 || t->rehearsal->num_classes > K0)
            return al_error(AL_EINVAL, "--rehearsal %s: labels up to %d, the model has %d classes", o->rehearsal,
                            t->rehearsal->num_classes - 1, K0);
        t->rehearsal->num_classes = K0;
    }
    if ((st = o->user >= 0 ? image_user(o, t) : own_data(t)) != AL_OK) return st;
    al_personalize_config_default(&t->pc);
    al_train_recipe_image(&t->pc.train, o->j.batch, o->epochs, o->lr,
                          o->j.seed + 1000 + (uint64_t)(o->user >= 0 ? o->user : 0));
    job_config(&t->pc, &o->j);
    t->pc.train_rows = o->train_rows;
    t->pc.aug_variants = o->aug_variants;
    t->pc.label_prior = o->label_prior;
    t->pc.train.l2sp = o->l2sp;
    t->pc.rehearsal = t->rehearsal;
    t->pc.recipe = o->recipe;
    if (o->auto_val > 0.0) t->pc.val_fraction = o->auto_val;
    /* the chooser's validation: the library's default (K folds) unless told; --auto-val the single split */
    if (o->auto_folds > 0) t->pc.val_folds = o->auto_folds;
    else if (o->auto_val > 0.0) t->pc.val_folds = 1;
    t->pc.budget_macs = (uint64_t)(o->budget_mmacs * 1e6);
    if (!o->j.no_cache && (st = al_cache_new((size_t)o->j.cache_mb << 20, o->j.spill, &t->cache)) != AL_OK)
        return st;
    return AL_OK;
}

/* The app's earlier inference on the same photos: with a cache it keeps the
 * frozen prefix's outputs, which training then reuses. The app runs the
 * model frozen where it will be personalized: the cache keys the prefix's
 * outputs by the freeze point. */
static al_status image_predict_first(image_run *t) {
    al_status st;
    if ((st = al_model_freeze(t->m, al_personalize_freeze(t->m, &t->pc))) != AL_OK) return st;
    int np = al_dataset_size(t->tr);
    al_tensor os = al_model_output_shape(t->m);
    float *yp = malloc(sizeof(float) * (size_t)np * al_tensor_numel(&os));
    if (!yp) return al_error(AL_ENOMEM, "no memory for %d predictions", np);
    double pc0 = al_cpu_seconds();
    const float *x = al_dataset_x(t->tr, 0);
    st = t->cache ? al_model_predict_cached(t->m, t->pool, x, np, t->ids, t->cache, yp)
                  : al_model_predict(t->m, t->pool, x, np, yp);
    t->predict_cpu = al_cpu_seconds() - pc0;
    free(yp);
    return st;
}

/* The cloud model's score before the job. With new classes it is the
 * cloud's on the old classes' test samples, the new ones counted wrong.
 * al_evaluate plans inference alone (al_model_plan_infer), so its plan is
 * no larger than the job's, which the memory budget counts, though the
 * model is frozen as loaded (often at node 0: a training step's plan there
 * was 96 MB for test_membudget.sh's model at batch 32). */
static al_status score_before(image_run *t) {
    al_status st;
    if (!t->cloud) return al_evaluate(t->m, t->pool, t->te, t->plan.batch_used, NULL, &t->before);
    int n_old = al_dataset_size(t->te_old), n = al_dataset_size(t->te);
    st = n_old ? al_evaluate(t->cloud, t->pool, t->te_old, t->plan.batch_used, NULL, &t->old_before) : AL_OK;
    t->before = n ? t->old_before * n_old / n : 0.0;
    al_model_free(t->cloud);
    t->cloud = NULL;
    return st;
}

/* After the job; with new classes also on the old and the new classes apart. */
static al_status score_after(image_run *t) {
    al_status st = al_evaluate(t->m, t->pool, t->te, t->plan.batch_used, NULL, &t->after);
    if (!st && t->te_old && al_dataset_size(t->te_old))
        st = al_evaluate(t->m, t->pool, t->te_old, t->plan.batch_used, NULL, &t->old_after);
    if (!st && t->te_new && al_dataset_size(t->te_new))
        st = al_evaluate(t->m, t->pool, t->te_new, t->plan.batch_used, NULL, &t->new_after);
    return st;
}

static al_status image_job(const image_opts *o, image_run *t) {
    al_status st;
    if ((st = score_before(t)) != AL_OK) return st;
    if (o->predict_first && (st = image_predict_first(t)) != AL_OK) return st;
    /* the job, the model planned anew inside it */
    al_model_release_plan(t->m);
    size_t mark = cnt_mark();
    double cpu0 = al_cpu_seconds();
    if (t->pc.recipe == AL_RECIPE_AUTO) {
        if ((st = al_personalize_auto(t->m, t->pool, t->tr, t->ids, t->cache, &t->pc, &t->ar)) != AL_OK) return st;
        t->r = t->ar.final;
        if (t->r.mem.total == 0) t->r.mem = t->plan; /* no training job ran: the plan it would have had */
    } else if ((st = al_personalize(t->m, t->pool, t->tr, t->ids, t->cache, &t->pc, NULL, &t->r)) != AL_OK) {
        return st;
    }
    t->train_cpu = al_cpu_seconds() - cpu0;
    t->job_peak = cnt_peak_mb(mark);
    if ((st = score_after(t)) != AL_OK) return st;
    al_model_set_meta(t->m, "autlearn.personalized", "1");
    al_model_set_meta(t->m, "autlearn.recipe",
                      t->pc.recipe == AL_RECIPE_AUTO && !t->ar.kept ? "cloud" : al_recipe_name(t->pc.recipe == AL_RECIPE_AUTO ? t->ar.recipe : t->pc.recipe));
    return al_model_save(t->m, o->out);
}

/* The human line of a job on the user's own data. */
static void own_line(const image_opts *o, const image_run *t) {
    const cli_own *w = &t->own;
    printf("own data: %d images, %d classes", al_dataset_size(t->tr), w->classes_before + w->n_new);
    for (int j = 0; j < w->n_new; j++) printf("%s%s", j ? ", " : " (new: ", w->new_names[j]);
    printf("%s; test accuracy %.2f%% -> %.2f%%", w->n_new ? ")" : "", 100 * t->before, 100 * t->after);
    if (w->n_new && al_dataset_size(t->te_old))
        printf(" (old classes %.2f%% -> %.2f%%", 100 * t->old_before, 100 * t->old_after);
    if (w->n_new && al_dataset_size(t->te_new))
        printf("%snew classes %.2f%%", al_dataset_size(t->te_old) ? ", " : " (", 100 * t->new_after);
    if (w->n_new && al_dataset_size(t->te)) printf(")");
    printf(" (%.2f s; first epoch %.3f s, later %.4f s); wrote %s\n", t->r.train.seconds, t->r.first_epoch_seconds,
           t->r.later_epoch_seconds, o->out);
}

/* The JSON keys of the user's own data (where the simulated path says "user"). */
static void own_json(cli_json *j, const image_opts *o, const image_run *t) {
    const cli_own *w = &t->own;
    cli_json_null(j, "user");
    cli_json_str(j, "data", o->data);
    cli_json_str(j, "test", o->test ? o->test : o->data);
    cli_json_bool(j, "images", w->images);
    if (w->images && !o->test)
        cli_json_num(j, "val", o->val > 0.0 ? o->val : CLI_OWN_VAL);
    else
        cli_json_null(j, "val");
    cli_json_int(j, "test_samples", al_dataset_size(t->te));
    cli_json_int(j, "classes", w->classes_before + w->n_new);
    cli_json_begin_array(j, "new_classes");
    for (int k = 0; k < w->n_new; k++) cli_json_str(j, NULL, w->new_names[k]);
    cli_json_end_array(j);
    int old = w->n_new && al_dataset_size(t->te_old), fresh = w->n_new && al_dataset_size(t->te_new);
    const char *keys[3] = {"test_acc_old_before", "test_acc_old_after", "test_acc_new_after"};
    const double vals[3] = {t->old_before, t->old_after, t->new_after};
    for (int k = 0; k < 3; k++) {
        if (k < 2 ? old : fresh)
            cli_json_num(j, keys[k], vals[k]);
        else
            cli_json_null(j, keys[k]);
    }
}

/* What the chooser tried, scored and chose (--recipe auto), for people. */
static void auto_lines(const al_auto_report *a) {
    static const char *const why[] = {"", "skipped: over the compute budget", "not applicable",
                                      "skipped: over the memory budget"};
    if (a->folds)
        printf("recipe search: %d-fold cross-validation, each of the %d samples held out once (up to %d trained a "
               "run); cloud model %.2f%% on them\n",
               a->folds, a->n_val, a->n_train, 100 * a->cloud_val_acc);
    else
        printf("recipe search: %d samples trained, %d held out for validation; cloud model %.2f%% on them\n",
               a->n_train, a->n_val, 100 * a->cloud_val_acc);
    for (int i = 0; i < a->ntries; i++) {
        const al_recipe_try *t = &a->tries[i];
        printf("  %-10s %-4s ", al_recipe_name(t->recipe), t->aug_variants > 1 ? "+aug" : "");
        if (t->status == AL_TRY_RUN)
            printf("validation %.2f%%  %.3g MACs%s\n", 100 * t->val_acc, (double)t->macs, i == a->best ? "  (best)" : "");
        else
            printf("%s\n", why[t->status]);
    }
    printf("recipe: %s\n", a->why);
}

/* The chooser's report as JSON (--recipe auto). */
static void auto_json(cli_json *j, const al_auto_report *a) {
    static const char *const st[] = {"run", "over_budget", "not_applicable", "over_memory_budget"};
    cli_json_str(j, "recipe", a->kept ? al_recipe_name(a->recipe) : "cloud");
    cli_json_begin_object(j, "recipe_search");
    cli_json_int(j, "train_samples", a->n_train);
    cli_json_int(j, "val_samples", a->n_val);
    cli_json_num(j, "val_fraction", a->val_fraction);
    cli_json_int(j, "val_folds", a->folds);
    cli_json_int(j, "budget_macs", (long long)a->budget_macs);
    cli_json_int(j, "search_macs", (long long)a->search_macs);
    cli_json_num(j, "cloud_val_acc", a->cloud_val_acc);
    cli_json_begin_array(j, "tried");
    for (int i = 0; i < a->ntries; i++) {
        const al_recipe_try *t = &a->tries[i];
        cli_json_begin_object(j, NULL);
        cli_json_str(j, "recipe", al_recipe_name(t->recipe));
        cli_json_int(j, "aug_variants", t->aug_variants);
        cli_json_int(j, "freeze", t->freeze);
        cli_json_str(j, "status", st[t->status]);
        if (t->status == AL_TRY_RUN)
            cli_json_num(j, "val_acc", t->val_acc);
        else
            cli_json_null(j, "val_acc");
        cli_json_int(j, "est_macs", (long long)t->est_macs);
        cli_json_int(j, "macs", (long long)t->macs);
        cli_json_end_object(j);
    }
    cli_json_end_array(j);
    if (a->best >= 0)
        cli_json_int(j, "best", a->best);
    else
        cli_json_null(j, "best");
    cli_json_bool(j, "kept_personal", a->kept);
    cli_json_str(j, "chosen", a->kept ? al_recipe_name(a->recipe) : "cloud");
    cli_json_int(j, "chosen_aug_variants", a->aug_variants);
    cli_json_str(j, "why", a->why);
    cli_json_end_object(j);
}

static void image_report(const char *cmd, const image_opts *o, const image_run *t) {
    int chooser = t->pc.recipe == AL_RECIPE_AUTO;
    if (!o->j.json && chooser) auto_lines(&t->ar);
    if (!o->j.json && o->user < 0) {
        own_line(o, t);
        return;
    }
    if (!o->j.json) {
        printf("user %d: %d private images, test accuracy %.2f%% -> %.2f%% (%.2f s; first epoch %.3f s, later %.4f s); "
               "wrote %s\n",
               o->user, al_dataset_size(t->tr), 100 * t->before, 100 * t->after, t->r.train.seconds,
               t->r.first_epoch_seconds, t->r.later_epoch_seconds, o->out);
        return;
    }
    cli_json j;
    cli_json_init(&j, stdout);
    cli_json_begin_object(&j, NULL);
    cli_json_str(&j, "command", cmd);
    if (o->user >= 0)
        cli_json_int(&j, "user", o->user);
    else
        own_json(&j, o, t);
    cli_mem_plan_json(&j, &t->r.mem, 1);
    cli_json_int(&j, "samples", al_dataset_size(t->tr));
    cli_json_int(&j, "rehearsal_samples", t->rehearsal ? al_dataset_size(t->rehearsal) : 0);
    cli_json_int(&j, "freeze", al_model_freeze_point(t->m));
    if (chooser)
        auto_json(&j, &t->ar);
    else
        cli_json_str(&j, "recipe", al_recipe_name(t->pc.recipe));
    cli_json_num(&j, "test_acc_before", t->before);
    cli_json_num(&j, "test_acc_after", t->after);
    cli_json_num(&j, "seconds", t->r.train.seconds);
    cli_json_num(&j, "train_cpu_seconds", t->train_cpu);
    if (o->predict_first)
        cli_json_num(&j, "predict_cpu_seconds", t->predict_cpu);
    else
        cli_json_null(&j, "predict_cpu_seconds");
    cli_json_num(&j, "job_peak_alloc_mb", t->job_peak);
    cli_json_bool(&j, "cache", !o->j.no_cache);
    cli_json_bool(&j, "naive_plan", o->j.naive_plan);
    cli_json_int(&j, "forward_chunk", o->j.forward_chunk);
    cli_json_num(&j, "first_epoch_seconds", t->r.first_epoch_seconds);
    cli_json_num(&j, "later_epoch_seconds", t->r.later_epoch_seconds);
    cli_json_int(&j, "macs", (long long)t->r.macs);
    cli_json_int(&j, "search_macs", chooser ? (long long)t->ar.search_macs : 0);
    cli_json_int(&j, "cache_hits", (long long)t->r.cache.hits);
    json_job_tail(&j, &t->r, t->resumed_at, o->out);
    cli_json_end(&j);
}

static int personalize_image(int argc, char **argv) {
    const char *cmd = "personalize";
    image_opts o;
    int rc = image_parse(argc, argv, &o);
    if (rc) return rc < 0 ? cli_finish(cmd, CLI_EXIT_OK) : rc;
    image_run t;
    memset(&t, 0, sizeof t);
    t.resumed_at = -1;
    al_status st = AL_OK;
    if ((rc = job_open(cmd, &o.j, o.model, &t.pool, &t.m, &st)) != 0) {
        image_run_free(&t);
        return rc;
    }
    if (!st && o.user < 0) {
        /* the user's own data: an image folder or an IDX directory */
        cli_image_opts io;
        cli_image_opts_init(&io);
        io.test = o.test;
        io.val = o.val;
        if ((rc = cli_own_load(cmd, t.m, o.data, &io, o.j.seed, &t.own)) != 0) {
            image_run_free(&t);
            return rc;
        }
    }
    if (!st) st = image_setup(&o, &t);
    if (!st) st = resume_note(cmd, o.j.resume, o.j.ckpt, &t.resumed_at);
    /* the memory plan first: a budget that cannot be met fails here, before
     * anything is trained or written; the evaluations use the batch it keeps */
    if (!st) st = al_personalize_plan_memory(t.m, t.pool, t.tr, t.cache, &t.pc, &t.plan);
    if (!st && (o.j.dry_run || (o.j.mem_mb > 0 && !o.j.json))) cli_mem_plan_show(cmd, &t.plan, o.j.json, 1);
    if (!st && !o.j.dry_run && (st = image_job(&o, &t)) == AL_OK) image_report(cmd, &o, &t);
    image_run_free(&t);
    return st ? cli_fail_lib(cmd, st) : cli_finish(cmd, CLI_EXIT_OK);
}

int cmd_personalize(int argc, char **argv) {
    int text = 0;
    for (int i = 1; i < argc; i++)
        if ((!strcmp(argv[i], "--scenario") && i + 1 < argc && !strcmp(argv[i + 1], "text")) ||
            !strcmp(argv[i], "--scenario=text") || !strcmp(argv[i], "--text") || !strncmp(argv[i], "--text=", 7))
            text = 1;
    /* every object of the job is created and freed inside, under the counting allocator */
    cnt_install(1);
    int rc = text ? personalize_text(argc, argv) : personalize_image(argc, argv);
    cnt_install(0);
    return rc;
}
