/* autlearn train: build a model from a spec (or start from a model file),
 * train it on the train split of an IDX directory, evaluate on the test split
 * after every epoch, and save it. */
#include "cli.h"
#include "core/core.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The batch of the final evaluation; `autlearn eval` uses the same default so
 * both report the same numbers for the same file. */
#define EVAL_BATCH 256

static void usage(FILE *f) {
    fprintf(f,
            "usage: autlearn train --arch NAME|SPEC --data DIR --out FILE [options]\n"
            "\n"
            "Trains on DIR's training split (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz]),\n"
            "evaluates on its test split (t10k-*) after every epoch, and saves the model to FILE (GGUF).\n"
            "Progress goes to stderr; the final result to stdout.\n"
            "\n"
            "model:\n"
            "  --arch NAME|SPEC      built-in (refcnn, mlp, reflm) or a spec such as\n"
            "                        'input 1x28x28; flatten; dense 10' (docs/SPEC.md)\n"
            "  --init FILE           start from this model file instead of --arch (fine-tuning)\n"
            "  --freeze K            freeze nodes 0..K-1 (default: from --arch all trainable;\n"
            "                        an --init file keeps its own freeze point)\n"
            "  --seed S              weight initialisation and shuffling seed (default 1)\n"
            "data:\n"
            "  --data DIR            IDX directory, or an image folder (one subfolder of .jpg/.png\n"
            "                        images per class; docs/CLI.md, \"Image folders\") (required)\n"
            "  --test FOLDER         image folder: the test images (default: --val 0.1)\n"
            "  --val F               image folder: hold out this fraction of each class for testing\n"
            "  --resize stretch|crop image folder: how images become the input size (default stretch)\n"
            "  --mean M[,M,M]        image folder: per-channel mean subtracted after scaling to [0,1]\n"
            "  --std S[,S,S]         image folder: per-channel std divided by (default 1)\n"
            "  --limit N             train on the first N training samples only (default: all)\n"
            "optimization:\n"
            "  --epochs N            epochs (default 10)\n"
            "  --batch B             mini-batch size (default 32)\n"
            "  --optim sgd|adam|adamw  optimizer (default sgd)\n"
            "  --lr X                peak learning rate (default 0.05 for sgd, 0.001 for adam/adamw)\n"
            "  --momentum M          SGD momentum in [0,1) (default 0.9)\n"
            "  --nesterov            Nesterov momentum (SGD)\n"
            "  --weight-decay W      SGD/Adam: L2 on the gradient; AdamW: decoupled\n"
            "                        (default 0; 0.01 for adamw)\n"
            "  --sched const|step|cosine  learning-rate schedule (default cosine)\n"
            "  --step-size N         step: epochs between decays (default 10)\n"
            "  --gamma G             step: decay factor (default 0.1)\n"
            "  --min-lr X            cosine: final learning rate (default 0)\n"
            "  --warmup STEPS        linear warm-up steps from 0 (default 0)\n"
            "  --clip NORM           clip the global gradient norm (default 0: off)\n"
            "  --patience P          stop after P epochs without a better test loss and keep\n"
            "                        the best weights (default 0: off)\n"
            "run:\n"
            "  --out FILE            model file to write (required; written atomically)\n"
            "  --threads T           worker threads (default: AL_THREADS or 1)\n"
            "  --mem-budget MB       memory budget of the training job (the loaded data set aside):\n"
            "                        the batch halves until the plan fits (which changes the result);\n"
            "                        exit 1 before training if batch 1 does not fit\n"
            "  --dry-run             print the memory plan and stop: no training, nothing written\n"
            "  --checkpoint FILE     write a crash-safe checkpoint to FILE (owner-only) every\n"
            "                        --checkpoint-every steps and at the end; FILE is kept\n"
            "  --checkpoint-every N  steps between checkpoints (default 10)\n"
            "  --resume              continue from --checkpoint FILE when it exists (a finished\n"
            "                        one only re-writes --out); refused if the data or options differ\n"
            "  --max-rollbacks N     on NaN/Inf, roll back to the last good state and lower the\n"
            "                        learning rate x0.1, at most N times (default 3; 0: fail)\n"
            "  --verbose             report checkpoints, resumes and rollbacks on stderr\n"
            "  --quiet               no per-epoch lines on stderr\n"
            "  --json                print a JSON summary on stdout\n"
            "  -h, --help            this help\n");
}

typedef struct train_ui {
    cli_progress bar;
    int epochs;
    int batch;
    int n;          /* training samples */
    int quiet;
    double rate;    /* training samples/s of the current epoch, before evaluation */
} train_ui;

static int on_progress(void *user, const al_epoch_info *info, int final) {
    train_ui *ui = user;
    long long done = (long long)info->step * ui->batch;
    if (done > ui->n) done = ui->n;
    char pre[64], text[200];
    if (!final) {
        /* at the epoch's end `seconds` includes the evaluation: keep the rate from here */
        double rate = info->seconds > 0.0 ? (double)done / info->seconds : 0.0;
        ui->rate = rate;
        snprintf(pre, sizeof pre, "epoch %d/%d", info->epoch, ui->epochs);
        snprintf(text, sizeof text, "loss %.4f acc %.2f%% lr %.3g %.0f/s", info->loss, 100.0 * info->train_acc,
                 info->lr, rate);
        cli_progress_draw(&ui->bar, pre, info->step, info->steps, text, 0);
        return 0;
    }
    cli_progress_clear(&ui->bar);
    if (ui->quiet) return 0;
    fprintf(stderr, "epoch %d/%d  steps %d  loss %.4f  acc %.2f%%", info->epoch, ui->epochs, info->steps, info->loss,
            100.0 * info->train_acc);
    if (info->eval_acc >= 0.0) fprintf(stderr, "  test_loss %.4f  test_acc %.2f%%", info->eval_loss, 100.0 * info->eval_acc);
    fprintf(stderr, "  lr %.3g  %.0f samples/s  %.1f s\n", info->lr, ui->rate, info->seconds);
    return 0;
}

static al_status set_meta_int(al_model *m, const char *key, long long v) {
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", v);
    return al_model_set_meta(m, key, buf);
}

static al_status set_meta_num(al_model *m, const char *key, double v) {
    char buf[40];
    snprintf(buf, sizeof buf, "%.9g", v);
    return al_model_set_meta(m, key, buf);
}

static const char *const optims[] = {"sgd", "adam", "adamw", NULL};
static const char *const scheds[] = {"const", "step", "cosine", NULL};

typedef struct train_opts {
    cli_job j;
    cli_image_opts img;
    const char *arch, *init, *data, *out;
    int epochs, optim, sched, warmup, patience, limit, step_size, nesterov;
    double lr, momentum, wd, clip, gamma, min_lr;
} train_opts;

static int train_parse(int argc, char **argv, train_opts *o) {
    const char *cmd = "train";
    memset(o, 0, sizeof *o);
    cli_job_init(&o->j,
                 CLI_JOB_THREADS | CLI_JOB_SEED | CLI_JOB_JSON | CLI_JOB_VERBOSE | CLI_JOB_QUIET | CLI_JOB_FREEZE |
                     CLI_JOB_BATCH | CLI_JOB_CHECKPOINT | CLI_JOB_BUDGET,
                 32, 0);
    o->epochs = 10;
    o->optim = AL_OPT_SGD;
    o->sched = AL_SCHED_COSINE;
    o->step_size = 10;
    o->lr = -1.0;
    o->momentum = 0.9;
    o->wd = -1.0;
    o->gamma = 0.1;
    cli_image_opts_init(&o->img);
    cli_args a;
    cli_args_init(&a, cmd, argc, argv);
    while (cli_next(&a)) {
        if (cli_flag(&a, "help") || cli_job_option(&a, &o->j) || cli_image_option(&a, &o->img, 1)) {
        } else if (cli_flag(&a, "nesterov")) {
            o->nesterov = 1;
        } else if (cli_str(&a, "arch", &o->arch) || cli_str(&a, "init", &o->init) || cli_str(&a, "data", &o->data) ||
                   cli_str(&a, "out", &o->out)) {
        } else if (cli_int(&a, "epochs", 1, 1000000, &o->epochs) || cli_int(&a, "warmup", 0, INT_MAX, &o->warmup) ||
                   cli_int(&a, "patience", 0, 1000000, &o->patience) || cli_int(&a, "limit", 1, INT_MAX, &o->limit) ||
                   cli_int(&a, "step-size", 1, 1000000, &o->step_size)) {
        } else if (cli_double(&a, "lr", 1e-12, 1e6, &o->lr) || cli_double(&a, "momentum", 0.0, 0.999999, &o->momentum) ||
                   cli_double(&a, "weight-decay", 0.0, 1e6, &o->wd) || cli_double(&a, "clip", 0.0, 1e12, &o->clip) ||
                   cli_double(&a, "gamma", 1e-12, 1e6, &o->gamma) || cli_double(&a, "min-lr", 0.0, 1e6, &o->min_lr)) {
        } else if (cli_choice(&a, "optim", optims, &o->optim) || cli_choice(&a, "sched", scheds, &o->sched)) {
        } else
            cli_unknown(&a);
    }
    if (a.help) {
        usage(stdout);
        return -1;
    }
    if (a.error) return a.error;
    if (!o->arch && !o->init) return cli_usage_error(cmd, "--arch NAME|SPEC (or --init FILE) is required");
    if (o->arch && o->init) return cli_usage_error(cmd, "give either --arch or --init, not both");
    if (!o->data) return cli_usage_error(cmd, "--data DIR is required");
    if (!o->out) return cli_usage_error(cmd, "--out FILE is required");
    if (o->img.test && o->img.val > 0.0) return cli_usage_error(cmd, "give either --test or --val, not both");
    int rc = cli_job_check(cmd, &o->j);
    if (rc) return rc;
    if (o->lr < 0.0) o->lr = o->optim == AL_OPT_SGD ? 0.05 : 0.001;
    if (o->wd < 0.0) o->wd = o->optim == AL_OPT_ADAMW ? 0.01 : 0.0;
    if (o->sched == AL_SCHED_COSINE && o->min_lr > o->lr)
        return cli_usage_error(cmd, "--min-lr %g is above the learning rate %g", o->min_lr, o->lr);
    return 0;
}

typedef struct train_run {
    al_dataset *train, *test;
    int images;                /* --data is an image folder */
    al_image_prep prep;
    al_class_list classes;
    al_model *m;
    al_pool *pool;
    al_trainer *t;
    train_ui ui;
    al_train_config c;
    al_mem_plan plan;
    al_train_report r;
    double seconds, test_loss, test_acc;
    long long resumed_at;
} train_run;

static void train_run_free(train_run *t) {
    al_trainer_free(t->t);
    al_pool_free(t->pool);
    al_model_free(t->m);
    al_dataset_free(t->train);
    al_dataset_free(t->test);
    al_class_list_free(&t->classes);
}

/* The IDX splits, or the image folder's (after the model: its input shape,
 * preprocessing and classes decide); --limit keeps the first N training
 * samples. */
static al_status train_data(const train_opts *o, train_run *t) {
    al_status st;
    if (!t->images) {
        if ((st = al_idx_load_dir(o->data, 0, &t->train)) != AL_OK) return st;
        if ((st = al_idx_load_dir(o->data, 1, &t->test)) != AL_OK) return st;
    }
    if (o->limit <= 0 || o->limit >= al_dataset_size(t->train)) return AL_OK;
    int *idx = malloc(sizeof(int) * (size_t)o->limit);
    if (!idx) return al_error(AL_ENOMEM, "out of memory");
    for (int i = 0; i < o->limit; i++) idx[i] = i;
    al_dataset *sub;
    st = al_dataset_subset(t->train, idx, o->limit, &sub);
    free(idx);
    if (st) return st;
    al_dataset_free(t->train);
    t->train = sub;
    return AL_OK;
}

/* The model from --arch or --init, frozen at --freeze when given (from
 * scratch everything trains; an --init file keeps its own freeze point). */
static int train_model(const char *cmd, const train_opts *o, train_run *t, al_status *st) {
    *st = o->init ? al_model_load(o->init, &t->m) : al_model_from_spec(o->arch, o->j.seed, &t->m);
    if (*st) return 0;
    int rc = cli_job_freeze_check(cmd, (cli_job *)&o->j, t->m);
    if (rc || o->j.freeze < 0) return rc;
    int n = al_model_num_nodes(t->m);
    if (o->j.freeze >= n)
        return cli_usage_error(cmd, "--freeze %d: the model has %d nodes, so at most %d can be frozen", o->j.freeze, n,
                               n - 1);
    *st = al_model_freeze(t->m, o->j.freeze);
    return 0;
}

/* An image folder: the preprocessing from the model (an --init file's
 * stored one) and the options, the classes matched to an --init file's. */
static int train_images(const char *cmd, const train_opts *o, train_run *t) {
    int rc = cli_image_prep(cmd, t->m, &o->img, &t->prep);
    if (rc) return rc;
    al_class_list known = {0, NULL};
    al_status st = al_model_classes(t->m, &known);
    if (st != AL_OK) return cli_fail_lib(cmd, st);
    cli_image_opts io = o->img;
    if (!io.test && io.val <= 0.0) io.val = 0.1;
    rc = cli_load_images(cmd, o->data, &t->prep, &known, 0, &io, o->j.seed, &t->train, &t->test, &t->classes);
    al_class_list_free(&known);
    if (rc) return rc;
    return cli_check_classes(cmd, t->m, &t->classes);
}

static void train_config(const train_opts *o, train_run *t) {
    al_train_config *c = &t->c;
    al_train_config_default(c);
    c->optim = (al_optim_kind)o->optim;
    c->lr = o->lr;
    c->momentum = o->optim == AL_OPT_SGD ? o->momentum : 0.0;
    c->nesterov = o->nesterov;
    c->weight_decay = o->wd;
    c->sched = (al_sched_kind)o->sched;
    c->step_size = o->step_size;
    c->gamma = o->gamma;
    c->min_lr = o->min_lr;
    c->warmup_steps = o->warmup;
    c->clip_norm = o->clip;
    c->epochs = o->epochs;
    c->batch = o->j.batch;
    c->shuffle = 1;
    c->seed = o->j.seed;
    c->patience = o->patience;
    c->progress = on_progress;
    c->progress_user = &t->ui;
    c->checkpoint_path = o->j.ckpt;
    c->checkpoint_every = o->j.ckpt_every;
    c->max_rollbacks = o->j.max_rollbacks;
}

/* The trainer, resumed from --checkpoint when asked and the file exists;
 * *pos says where it stands. */
static al_status train_start(const char *cmd, const train_opts *o, train_run *t, al_trainer_pos *pos) {
    al_status st;
    if ((st = al_trainer_new(t->m, t->pool, &t->c, &t->t)) != AL_OK) return st;
    al_trainer_get_pos(t->t, pos);
    struct stat sb;
    if (!o->j.resume || stat(o->j.ckpt, &sb) != 0) return AL_OK;
    if ((st = al_trainer_resume(t->t, o->j.ckpt)) != AL_OK) return st;
    al_trainer_get_pos(t->t, pos);
    t->resumed_at = pos->steps_done;
    if (pos->in_run) {
        fprintf(stderr, "autlearn %s: resuming from %s at step %lld (epoch %d)\n", cmd, o->j.ckpt, pos->steps_done,
                pos->epoch + 1);
        return AL_OK;
    }
    if ((st = al_trainer_check_finished(t->t, t->train)) != AL_OK) return st;
    fprintf(stderr, "autlearn %s: %s holds a finished run (%lld steps); writing its weights\n", cmd, o->j.ckpt,
            pos->steps_done);
    return AL_OK;
}

/* Trains (or takes a finished checkpoint's weights) and measures the weights
 * being saved (the best ones under --patience). */
static al_status train_job(const char *cmd, const train_opts *o, train_run *t) {
    al_trainer_pos pos;
    al_status st = train_start(cmd, o, t, &pos);
    if (st) return st;
    if (!o->j.quiet)
        fprintf(stderr, "training %s on %d samples (%s), %zu parameters, %llu MACs/sample, %d thread%s\n",
                o->init ? o->init : o->arch, t->ui.n, o->data, al_model_num_params(t->m),
                (unsigned long long)al_model_macs(t->m), al_pool_size(t->pool), al_pool_size(t->pool) == 1 ? "" : "s");
    double t0 = cli_now();
    if (pos.in_run || pos.runs_done == 0)
        st = al_trainer_run(t->t, t->train, t->test, &t->r);
    else
        al_trainer_get_report(t->t, &t->r); /* a finished checkpoint: its weights are the result */
    t->seconds = cli_now() - t0;
    cli_progress_clear(&t->ui.bar);
    if (st) return st;
    return al_evaluate(t->m, t->pool, t->test, o->j.mem_mb > 0 ? t->plan.batch_used : EVAL_BATCH, &t->test_loss,
                       &t->test_acc);
}

static al_status train_save(const train_opts *o, train_run *t) {
    char base[256];
    cli_basename(o->data, base, sizeof base);
    al_model *m = t->m;
    al_status st;
    if ((st = al_model_set_meta(m, "autlearn.trained_on", base)) != AL_OK ||
        (st = set_meta_int(m, "autlearn.train.epochs", t->r.epochs_run)) != AL_OK ||
        (st = set_meta_int(m, "autlearn.train.samples", t->ui.n)) != AL_OK ||
        (st = al_model_set_meta(m, "autlearn.train.optim", optims[o->optim])) != AL_OK ||
        (st = set_meta_num(m, "autlearn.train.lr", o->lr)) != AL_OK ||
        (st = set_meta_int(m, "autlearn.train.batch", t->c.batch)) != AL_OK ||
        (st = set_meta_int(m, "autlearn.train.seed", (long long)o->j.seed)) != AL_OK ||
        (st = set_meta_num(m, "autlearn.train.test_acc", t->test_acc)) != AL_OK)
        return st;
    if (t->images && cli_model_set_images("train", m, &t->prep, &t->classes) != 0)
        return al_error(AL_EINVAL, "the image metadata could not be stored");
    return al_model_save(m, o->out);
}

static void train_report(const train_opts *o, const train_run *t) {
    const al_train_report *r = &t->r;
    if (!o->j.json) {
        printf("test accuracy %.4f  test loss %.4f  (%d epoch%s, %.1f s, %lld samples) -> %s\n", t->test_acc,
               t->test_loss, r->epochs_run, r->epochs_run == 1 ? "" : "s", t->seconds, r->samples, o->out);
        return;
    }
    cli_json j;
    cli_json_init(&j, stdout);
    cli_json_begin_object(&j, NULL);
    cli_json_str(&j, "command", "train");
    cli_json_int(&j, "epochs", r->epochs_run);
    cli_json_bool(&j, "stopped_early", r->stopped_early);
    cli_json_int(&j, "best_epoch", r->best_epoch);
    cli_json_num(&j, "test_acc", t->test_acc);
    cli_json_num(&j, "test_loss", t->test_loss);
    cli_json_num(&j, "train_loss", r->final_loss);
    cli_json_num(&j, "train_acc", r->final_train_acc);
    cli_json_num_digits(&j, "seconds", t->seconds, 4);
    cli_json_int(&j, "samples", r->samples);
    cli_json_int(&j, "train_size", t->ui.n);
    cli_json_int(&j, "test_size", al_dataset_size(t->test));
    cli_json_str(&j, "model", o->out);
    cli_json_str(&j, "spec", al_model_spec(t->m));
    cli_json_int(&j, "params", (long long)al_model_num_params(t->m));
    cli_json_int(&j, "macs", (long long)al_model_macs(t->m));
    cli_json_int(&j, "threads", al_pool_size(t->pool));
    cli_json_int(&j, "rollbacks", r->rollbacks);
    cli_mem_plan_json(&j, &t->plan, 0);
    if (t->resumed_at >= 0)
        cli_json_int(&j, "resumed_at_step", t->resumed_at);
    else
        cli_json_null(&j, "resumed_at_step");
    cli_json_end_object(&j);
    cli_json_end(&j);
}

int cmd_train(int argc, char **argv) {
    const char *cmd = "train";
    train_opts o;
    int rc = train_parse(argc, argv, &o);
    if (rc) return rc < 0 ? cli_finish(cmd, CLI_EXIT_OK) : rc;
    train_run t;
    memset(&t, 0, sizeof t);
    t.resumed_at = -1;
    t.images = cli_is_image_folder(o.data);
    if (!t.images && (o.img.test || o.img.val > 0.0 || o.img.resize >= 0 || o.img.mean || o.img.std)) {
        rc = cli_usage_error(cmd, "--test, --val, --resize, --mean and --std are for image folders; %s is not one",
                             o.data);
        goto done;
    }
    al_status st = AL_OK;
    if (t.images) {
        /* the model first: its input shape and classes decide how images load */
        if ((rc = train_model(cmd, &o, &t, &st)) != 0) goto done;
        if (st) goto lib_fail;
        if ((rc = train_images(cmd, &o, &t)) != 0) goto done;
        st = train_data(&o, &t);
    } else {
        st = train_data(&o, &t);
        if (!st && (rc = train_model(cmd, &o, &t, &st)) != 0) goto done;
    }
    if (st) goto lib_fail;
    if ((rc = cli_pool(cmd, o.j.threads, &t.pool)) != CLI_EXIT_OK) goto done;
    cli_progress_init(&t.ui.bar);
    t.ui.epochs = o.epochs;
    t.ui.batch = o.j.batch;
    t.ui.n = al_dataset_size(t.train);
    t.ui.quiet = o.j.quiet;
    train_config(&o, &t);
    /* the memory plan first: a budget that cannot be met fails here, before
     * training; within it the batch it leaves (also for the evaluations) */
    if ((st = al_trainer_plan_memory(t.m, t.pool, t.train, &t.c, (size_t)(o.j.mem_mb * 1048576.0), &t.plan)) != AL_OK)
        goto lib_fail;
    t.c.batch = t.ui.batch = t.plan.batch_used;
    if (o.j.dry_run || (o.j.mem_mb > 0 && !o.j.json)) cli_mem_plan_show(cmd, &t.plan, o.j.json, 0);
    if (o.j.dry_run) {
        rc = cli_finish(cmd, CLI_EXIT_OK);
        goto done;
    }
    if (t.plan.batch_used < t.plan.batch_requested)
        fprintf(stderr, "autlearn %s: memory budget %.2f MiB: batch %d (asked %d)\n", cmd, o.j.mem_mb, t.plan.batch_used,
                t.plan.batch_requested);
    if ((st = train_job(cmd, &o, &t)) != AL_OK || (st = train_save(&o, &t)) != AL_OK) goto lib_fail;
    train_report(&o, &t);
    rc = cli_finish(cmd, CLI_EXIT_OK);
    goto done;
lib_fail:
    rc = cli_fail_lib(cmd, st);
done:
    train_run_free(&t);
    return rc;
}
