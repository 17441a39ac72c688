/* autlearn personalize: the device side. Loads the cloud model, freezes its
 * prefix and trains the rest on one user's private images, with
 * augmentation and the runtime cache; writes the personal model. A thin
 * shell over al_personalize(). */
#include "train/train.h"
#include "cli.h"
#include "cloud/sim/sim.h"


#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void usage(FILE *f) {
    fprintf(f, "usage: autlearn personalize --model CLOUD --data DIR --user K --out PERSONAL [options]\n"
               "       autlearn personalize --scenario text --model CLOUD --user NAME --out PERSONAL\n"
               "                [--data DIR=data/sotu] [--user-tokens N=30000] [--epochs E=3] [--lr X=0.003]\n"
               "                [--batch B=8] [--freeze K] [--train-words N] [--cache-mb MB=256] [--cache-spill FILE]\n"
               "                [--threads T] [--seed S] [--mem-budget MB] [--dry-run] [--checkpoint FILE] [--checkpoint-every N]\n"
               "                [--resume] [--max-rollbacks N] [--no-cache] [--naive-plan] [--verbose] [--json]\n"
               "\n"
               "User K's private data is drawn with --seed (and --users/--per-user) exactly as\n"
               "'autlearn scenario' draws it. Nothing is uploaded; the only file written is --out\n"
               "(owner-only permissions).\n"
               "\n"
               "  --model FILE          the cloud model (required)\n"
               "  --data DIR            IDX directory (required)\n"
               "  --user K              which user, 0-based (required)\n"
               "  --out FILE            the personal model to write (required)\n"
               "  --users N             users in the split (default 20)\n"
               "  --per-user N          private training images per user (default 200)\n"
               "  --test-per-user N     private test images per user (default 200)\n"
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
               "  --cache-mb MB         runtime cache bound (default 64; past it, recompute)\n"
               "  --cache-spill FILE    past the bound, keep entries in FILE instead (owner-only,\n"
               "                        removed at the end)\n"
               "  --no-cache            no runtime cache: the frozen prefix is recomputed at every\n"
               "                        epoch (text: one pass over the stream per epoch, state\n"
               "                        carried); the same weights, more work (a benchmark switch)\n"
               "  --naive-plan          activation memory without liveness (every buffer apart), as\n"
               "                        an uncompiled model would need; the same weights (a benchmark\n"
               "                        switch)\n"
               "  --predict-first       classify the private images before training, as the app did\n"
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
    fprintf(f, "  --train-words N       text: train only the output rows of the user's N most used\n"
               "                        words (the softmax stays exact over every word; the other\n"
               "                        rows keep the cloud's values); the freeze point defaults to\n"
               "                        the output layer, the only one it can be (default 0 = every row)\n"
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

/* --scenario text: one president's addresses; the vocabulary comes from the
 * model file. The keyboard's predict pass over the private text fills the
 * runtime cache first (as typing would), then al_lm_personalize trains.
 * With --mem-budget the plan comes first, and the cache's bound is set
 * before the predict pass fills it. */
/* The options of the device job that both paths take: output, checkpoints,
 * memory budget and the benchmark switches. */
typedef struct job_opts {
    int json, resume, verbose, dry_run, no_cache, naive_plan, max_rollbacks, ckpt_every;
    double mem_mb;
    const char *ckpt, *spill;
} job_opts;

static void job_opts_default(job_opts *o) {
    memset(o, 0, sizeof *o);
    o->max_rollbacks = 3;
}

/* 1 when the current argument is one of the job's options (parsed into o). */
static int job_option(cli_args *a, job_opts *o) {
    if (cli_flag(a, "json"))
        o->json = 1;
    else if (cli_flag(a, "resume"))
        o->resume = 1;
    else if (cli_flag(a, "verbose"))
        o->verbose = 1;
    else if (cli_flag(a, "dry-run"))
        o->dry_run = 1;
    else if (cli_flag(a, "no-cache"))
        o->no_cache = 1;
    else if (cli_flag(a, "naive-plan"))
        o->naive_plan = 1;
    else if (!cli_double(a, "mem-budget", 1.0 / 1024, 1 << 30, &o->mem_mb) && !cli_str(a, "checkpoint", &o->ckpt) &&
             !cli_int(a, "checkpoint-every", 1, 1 << 30, &o->ckpt_every) &&
             !cli_int(a, "max-rollbacks", 0, 1000, &o->max_rollbacks) && !cli_str(a, "cache-spill", &o->spill))
        return 0;
    return 1;
}

static int personalize_text(int argc, char **argv) {
    const char *cmd = "personalize";
    al_scenario_config c;
    al_scenario_config_text_default(&c);
    const char *model = NULL, *out = NULL, *user = NULL, *scenario = NULL;
    int threads = 0, freeze = -1, cache_mb = (int)(c.cache_bytes >> 20), user_tokens = (int)c.user_tokens;
    job_opts o;
    job_opts_default(&o);
    cli_args a;
    cli_args_init(&a, cmd, argc, argv);
    while (cli_next(&a)) {
        if (cli_flag(&a, "help")) {
        } else if (job_option(&a, &o)) {
        } else if (cli_str(&a, "data", &c.data_dir) || cli_str(&a, "out", &out) || cli_str(&a, "model", &model) ||
                   cli_str(&a, "user", &user) || cli_str(&a, "scenario", &scenario)) {
        } else if (cli_int(&a, "freeze", 0, 63, &freeze) || cli_int(&a, "epochs", 1, 10000, &c.epochs) ||
                   cli_int(&a, "batch", 1, 1 << 16, &c.device_batch) ||
                   cli_int(&a, "user-tokens", 0, 1 << 30, &user_tokens) ||
                   cli_int(&a, "train-words", 0, 1 << 30, &c.train_words) ||
                   cli_int(&a, "cache-mb", 0, 1 << 20, &cache_mb) || cli_int(&a, "threads", 1, 1024, &threads)) {
        } else if (cli_double(&a, "lr", 1e-9, 10.0, &c.lr)) {
        } else if (cli_u64(&a, "seed", &c.seed)) {
        } else
            cli_unknown(&a);
    }
    if (a.help) {
        usage(stdout);
        return cli_finish(cmd, CLI_EXIT_OK);
    }
    if (a.error) return a.error;
    if (!model) return cli_usage_error(cmd, "--model FILE is required");
    if (!user) return cli_usage_error(cmd, "--user NAME is required (a president, e.g. barack_obama)");
    if (!out) return cli_usage_error(cmd, "--out FILE is required");
    if (o.resume && !o.ckpt) return cli_usage_error(cmd, "--resume needs --checkpoint FILE");
    if (o.ckpt && o.ckpt_every == 0) o.ckpt_every = 10;
    if (o.verbose) cli_log_verbose();
    al_pool *pool = NULL;
    al_model *m = NULL;
    al_cache *cache = NULL;
    al_ids train = {0}, test = {0};
    al_status st;
    long long resumed_at = -1;
    if (cli_pool(cmd, threads, &pool)) return CLI_EXIT_RUNTIME;
    if ((st = al_model_load(model, &m)) != AL_OK) goto fail;
    m->plan_naive = o.naive_plan;
    al_model_release_plan(m); /* planned anew, with or without liveness */
    const char *vocab = al_model_meta(m, "autlearn.vocab");
    if (!vocab) {
        st = AL_EINVAL;
        cli_fail(cmd, "%s has no vocabulary (autlearn.vocab): not a text model", model);
        goto out_fail;
    }
    if ((st = al_sim_text_user(c.data_dir, vocab, user, user_tokens, &train, &test)) != AL_OK) goto fail;
    if (freeze < 0 && c.train_words > 0) {
        freeze = al_model_num_nodes(m) - 1; /* only output rows train: the freeze point is the output layer */
    } else if (freeze < 0) {
        freeze = cli_model_freeze(m);
    }
    if ((st = al_model_freeze(m, freeze)) != AL_OK) goto fail;
    if (!o.no_cache && (st = al_cache_new((size_t)cache_mb << 20, o.spill, &cache)) != AL_OK) goto fail;
    al_personalize_config pc;
    al_personalize_config_default(&pc);
    al_train_config_default(&pc.train);
    pc.train.optim = AL_OPT_ADAM;
    pc.train.lr = c.lr;
    pc.train.epochs = c.epochs;
    pc.train.batch = c.device_batch;
    pc.train.sched = AL_SCHED_COSINE;
    pc.train.clip_norm = 1.0;
    pc.train.seed = c.seed + 1000;
    pc.freeze = freeze;
    pc.train_rows = c.train_words;
    pc.train.checkpoint_path = o.ckpt;
    pc.train.checkpoint_every = o.ckpt_every;
    pc.train.max_rollbacks = o.max_rollbacks;
    pc.resume = o.resume;
    /* the memory plan first: a budget that cannot be met fails here, before
     * the predict pass, training or any output */
    pc.mem_budget_bytes = (size_t)(o.mem_mb * 1048576.0);
    al_mem_plan plan;
    if ((st = al_lm_plan_memory(m, pool, train.n, cache, &pc, &plan)) != AL_OK) goto fail;
    if (o.dry_run || (o.mem_mb > 0 && !o.json)) cli_mem_plan_show(cmd, &plan, o.json, 1);
    if (o.dry_run) {
        al_ids_free(&train);
        al_ids_free(&test);
        al_cache_free(cache);
        al_model_free(m);
        al_pool_free(pool);
        return cli_finish(cmd, CLI_EXIT_OK);
    }
    if ((st = resume_note(cmd, o.resume, o.ckpt, &resumed_at)) != AL_OK) goto fail;
    /* the keyboard's cache within the budget before typing fills it */
    if (pc.mem_budget_bytes) al_cache_set_bound(cache, plan.cache_used);
    al_lm_eval before, after;
    if ((st = al_lm_evaluate(m, pool, test.v, test.n, NULL, &before)) != AL_OK) goto fail;
    /* the job: the predict pass (which fills the cache) and the training, the
     * model planned anew inside it */
    al_model_release_plan(m);
    size_t mark = cnt_mark();
    double cpu0 = al_cpu_seconds();
    if ((st = al_lm_predict_stream(m, pool, train.v, train.n, cache)) != AL_OK) goto fail;
    double cpu1 = al_cpu_seconds();
    al_personalize_report r;
    if ((st = al_lm_personalize(m, pool, train.v, train.n, cache, &pc, &r)) != AL_OK) goto fail;
    double train_cpu = al_cpu_seconds() - cpu1, predict_cpu = cpu1 - cpu0, job_peak = cnt_peak_mb(mark);
    r.mem.cache_requested = plan.cache_requested; /* the bound asked for, before the budget lowered it */
    if ((st = al_lm_evaluate(m, pool, test.v, test.n, NULL, &after)) != AL_OK) goto fail;
    al_model_set_meta(m, "autlearn.personalized", "1");
    if ((st = al_model_save(m, out)) != AL_OK) goto fail;
    if (o.json) {
        cli_json j;
        cli_json_init(&j, stdout);
        cli_json_begin_object(&j, NULL);
        cli_json_str(&j, "command", cmd);
        cli_json_str(&j, "user", user);
        cli_mem_plan_json(&j, &r.mem, 1);
        cli_json_int(&j, "tokens", train.n);
        cli_json_int(&j, "test_tokens", test.n);
        cli_json_int(&j, "freeze", freeze);
        cli_json_int(&j, "train_words", c.train_words);
        cli_json_num(&j, "test_top3_before", before.top3);
        cli_json_num(&j, "test_top3_after", after.top3);
        cli_json_num(&j, "test_top1_after", after.top1);
        cli_json_num(&j, "test_ppl_after", after.ppl);
        cli_json_num(&j, "seconds", r.train.seconds);
        cli_json_num(&j, "train_cpu_seconds", train_cpu);
        cli_json_num(&j, "predict_cpu_seconds", predict_cpu);
        cli_json_num(&j, "job_peak_alloc_mb", job_peak);
        cli_json_bool(&j, "cache", !o.no_cache);
        cli_json_bool(&j, "naive_plan", o.naive_plan);
        cli_json_int(&j, "prefix_windows", (long long)r.prefix_samples);
        /* without a runtime cache, r.cache describes the job's per-epoch buffer of the windows */
        cli_json_int(&j, "cache_hits", cache ? (long long)r.cache.hits : 0);
        cli_json_int(&j, "macs", (long long)r.macs);
        json_job_tail(&j, &r, resumed_at, out);
        cli_json_end(&j);
    } else {
        printf("%s: %ld private tokens, test top-3 %.2f%% -> %.2f%% (%.2f s, frozen-prefix windows run %llu, "
               "cache hits %llu); wrote %s\n",
               user, train.n, 100 * before.top3, 100 * after.top3, r.train.seconds,
               (unsigned long long)r.prefix_samples, (unsigned long long)r.cache.hits, out);
    }
    al_ids_free(&train);
    al_ids_free(&test);
    al_cache_free(cache);
    al_model_free(m);
    al_pool_free(pool);
    return cli_finish(cmd, CLI_EXIT_OK);
fail:
    cli_fail_lib(cmd, st);
out_fail:
    al_ids_free(&train);
    al_ids_free(&test);
    al_cache_free(cache);
    al_model_free(m);
    al_pool_free(pool);
    return CLI_EXIT_RUNTIME;
}

static int personalize_image(int argc, char **argv) {
    const char *cmd = "personalize";
    al_scenario_config c;
    al_scenario_config_default(&c);
    c.data_dir = NULL;
    const char *model = NULL, *out = NULL;
    int user = -1, threads = 0, freeze = -1, cache_mb = 64, predict_first = 0;
    job_opts o;
    job_opts_default(&o);
    cli_args a;
    cli_args_init(&a, cmd, argc, argv);
    while (cli_next(&a)) {
        if (cli_flag(&a, "help")) {
        } else if (job_option(&a, &o)) {
        } else if (cli_flag(&a, "predict-first")) {
            predict_first = 1;
        } else if (cli_str(&a, "data", &c.data_dir) || cli_str(&a, "out", &out) || cli_str(&a, "model", &model)) {
        } else if (cli_int(&a, "user", 0, 100000, &user) || cli_int(&a, "users", 1, 100000, &c.users.users) ||
                   cli_int(&a, "per-user", 10, 1000000, &c.users.per_user) ||
                   cli_int(&a, "test-per-user", 1, 1000000, &c.users.test_per_user) ||
                   cli_int(&a, "freeze", 0, 63, &freeze) || cli_int(&a, "epochs", 1, 10000, &c.epochs) ||
                   cli_int(&a, "batch", 1, 1 << 16, &c.batch) ||
                   cli_int(&a, "aug-variants", 1, 1024, &c.aug_variants) ||
                   cli_int(&a, "cache-mb", 0, 1 << 20, &cache_mb) || cli_int(&a, "threads", 1, 1024, &threads)) {
        } else if (cli_double(&a, "lr", 1e-9, 10.0, &c.lr) || cli_double(&a, "label-prior", 0.0, 1e6, &c.label_prior) ||
                   cli_double(&a, "l2sp", 0.0, 1e6, &c.l2sp)) {
        } else if (cli_u64(&a, "seed", &c.seed)) {
        } else
            cli_unknown(&a);
    }
    if (a.help) {
        usage(stdout);
        return cli_finish(cmd, CLI_EXIT_OK);
    }
    if (a.error) return a.error;
    if (!model) return cli_usage_error(cmd, "--model FILE is required");
    if (!c.data_dir) return cli_usage_error(cmd, "--data DIR is required");
    if (user < 0) return cli_usage_error(cmd, "--user K is required");
    if (!out) return cli_usage_error(cmd, "--out FILE is required");
    if (user >= c.users.users) return cli_usage_error(cmd, "--user %d: there are %d users", user, c.users.users);
    if (o.resume && !o.ckpt) return cli_usage_error(cmd, "--resume needs --checkpoint FILE");
    if (o.ckpt && o.ckpt_every == 0) o.ckpt_every = 10;
    if (o.verbose) cli_log_verbose();

    al_users *u = NULL;
    al_pool *pool = NULL;
    al_model *m = NULL;
    al_cache *cache = NULL;
    uint64_t *ids = NULL;
    al_status st;
    if (cli_pool(cmd, threads, &pool)) return CLI_EXIT_RUNTIME;
    if ((st = al_model_load(model, &m)) != AL_OK) goto fail;
    m->plan_naive = o.naive_plan;
    al_model_release_plan(m); /* planned anew, with or without liveness */
    if ((st = al_sim_load_users(&c, &u)) != AL_OK) goto fail;
    const al_dataset *tr = al_users_train(u, user), *te = al_users_test(u, user);
    if (freeze < 0) freeze = cli_model_freeze(m);
    al_personalize_config pc;
    al_personalize_config_default(&pc);
    al_train_recipe_image(&pc.train, c.batch, c.epochs, c.lr, c.seed + 1000 + (uint64_t)user);
    pc.freeze = freeze;
    pc.aug_variants = c.aug_variants;
    pc.label_prior = c.label_prior;
    pc.train.l2sp = c.l2sp;
    pc.train.checkpoint_path = o.ckpt;
    pc.train.checkpoint_every = o.ckpt_every;
    pc.train.max_rollbacks = o.max_rollbacks;
    pc.resume = o.resume;
    long long resumed_at = -1;
    if ((st = resume_note(cmd, o.resume, o.ckpt, &resumed_at)) != AL_OK) goto fail;
    if (!o.no_cache && (st = al_cache_new((size_t)cache_mb << 20, o.spill, &cache)) != AL_OK) goto fail;
    ids = malloc(sizeof(uint64_t) * (size_t)al_dataset_size(tr));
    if (!ids) {
        st = AL_ENOMEM;
        goto fail;
    }
    for (int i = 0; i < al_dataset_size(tr); i++) ids[i] = (uint64_t)al_users_train_origin(u, user, i);
    /* the memory plan first: a budget that cannot be met fails here, before
     * anything is trained or written; the evaluations use the batch it keeps */
    pc.mem_budget_bytes = (size_t)(o.mem_mb * 1048576.0);
    al_mem_plan plan;
    if ((st = al_personalize_plan_memory(m, pool, tr, cache, &pc, &plan)) != AL_OK) goto fail;
    if (o.dry_run || (o.mem_mb > 0 && !o.json)) cli_mem_plan_show(cmd, &plan, o.json, 1);
    if (o.dry_run) {
        free(ids);
        al_cache_free(cache);
        al_model_free(m);
        al_users_free(u);
        al_pool_free(pool);
        return cli_finish(cmd, CLI_EXIT_OK);
    }
    double before, after;
    if ((st = al_evaluate(m, pool, te, plan.batch_used, NULL, &before)) != AL_OK) goto fail;
    /* the app's earlier inference on the same photos: with a cache it keeps
     * the frozen prefix's outputs, which training then reuses */
    double predict_cpu = 0.0;
    if (predict_first) {
        int np = al_dataset_size(tr);
        /* the app runs the model frozen where it will be personalized: the
         * cache keys the prefix's outputs by the freeze point */
        if ((st = al_model_freeze(m, freeze)) != AL_OK) goto fail;
        float *yp = malloc(sizeof(float) * (size_t)np * al_shape_numel(&m->nodes[m->nnodes - 1].out));
        if (!yp) {
            st = al_error(AL_ENOMEM, "no memory for %d predictions", np);
            goto fail;
        }
        double pc0 = al_cpu_seconds();
        st = cache ? al_model_predict_cached(m, pool, tr->x, np, ids, cache, yp) : al_model_predict(m, pool, tr->x, np, yp);
        predict_cpu = al_cpu_seconds() - pc0;
        free(yp);
        if (st != AL_OK) goto fail;
    }
    al_personalize_report r;
    /* the job, the model planned anew inside it */
    al_model_release_plan(m);
    size_t mark = cnt_mark();
    double cpu0 = al_cpu_seconds();
    if ((st = al_personalize(m, pool, tr, ids, cache, &pc, NULL, &r)) != AL_OK) goto fail;
    double train_cpu = al_cpu_seconds() - cpu0, job_peak = cnt_peak_mb(mark);
    if ((st = al_evaluate(m, pool, te, plan.batch_used, NULL, &after)) != AL_OK) goto fail;
    al_model_set_meta(m, "autlearn.personalized", "1");
    if ((st = al_model_save(m, out)) != AL_OK) goto fail;
    if (o.json) {
        cli_json j;
        cli_json_init(&j, stdout);
        cli_json_begin_object(&j, NULL);
        cli_json_str(&j, "command", cmd);
        cli_json_int(&j, "user", user);
        cli_mem_plan_json(&j, &r.mem, 1);
        cli_json_int(&j, "samples", al_dataset_size(tr));
        cli_json_int(&j, "freeze", freeze);
        cli_json_num(&j, "test_acc_before", before);
        cli_json_num(&j, "test_acc_after", after);
        cli_json_num(&j, "seconds", r.train.seconds);
        cli_json_num(&j, "train_cpu_seconds", train_cpu);
        if (predict_first)
            cli_json_num(&j, "predict_cpu_seconds", predict_cpu);
        else
            cli_json_null(&j, "predict_cpu_seconds");
        cli_json_num(&j, "job_peak_alloc_mb", job_peak);
        cli_json_bool(&j, "cache", !o.no_cache);
        cli_json_bool(&j, "naive_plan", o.naive_plan);
        cli_json_num(&j, "first_epoch_seconds", r.first_epoch_seconds);
        cli_json_num(&j, "later_epoch_seconds", r.later_epoch_seconds);
        cli_json_int(&j, "macs", (long long)r.macs);
        cli_json_int(&j, "cache_hits", (long long)r.cache.hits);
        json_job_tail(&j, &r, resumed_at, out);
        cli_json_end(&j);
    } else {
        printf("user %d: %d private images, test accuracy %.2f%% -> %.2f%% (%.2f s; first epoch %.3f s, later %.4f s); "
               "wrote %s\n",
               user, al_dataset_size(tr), 100 * before, 100 * after, r.train.seconds, r.first_epoch_seconds,
               r.later_epoch_seconds, out);
    }
    free(ids);
    al_cache_free(cache);
    al_model_free(m);
    al_users_free(u);
    al_pool_free(pool);
    return cli_finish(cmd, CLI_EXIT_OK);
fail:
    free(ids);
    al_cache_free(cache);
    al_model_free(m);
    al_users_free(u);
    al_pool_free(pool);
    return cli_fail_lib(cmd, st);
}

int cmd_personalize(int argc, char **argv) {
    int text = 0;
    for (int i = 1; i < argc; i++)
        if ((!strcmp(argv[i], "--scenario") && i + 1 < argc && !strcmp(argv[i + 1], "text")) ||
            !strcmp(argv[i], "--scenario=text"))
            text = 1;
    /* every object of the job is created and freed inside, under the counting allocator */
    cnt_install(1);
    int rc = text ? personalize_text(argc, argv) : personalize_image(argc, argv);
    cnt_install(0);
    return rc;
}
