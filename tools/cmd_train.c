/* autlearn train: build a model from a spec (or start from a model file),
 * train it on the train split of an IDX directory, evaluate on the test split
 * after every epoch, and save it. */
#include "cli.h"

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
            "  --freeze K            freeze nodes 0..K-1 (default 0: all trainable)\n"
            "  --seed S              weight initialisation and shuffling seed (default 1)\n"
            "data:\n"
            "  --data DIR            IDX directory (required)\n"
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
            "  --checkpoint-every N  steps between checkpoints (default 100)\n"
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

int cmd_train(int argc, char **argv) {
    static const char *const optims[] = {"sgd", "adam", "adamw", NULL};
    static const char *const scheds[] = {"const", "step", "cosine", NULL};
    const char *cmd = "train";
    const char *arch = NULL, *init = NULL, *data = NULL, *out = NULL, *ckpt = NULL;
    int ckpt_every = 0, resume = 0, verbose = 0, max_rollbacks = 3, dry_run = 0;
    double mem_mb = 0.0;
    int epochs = 10, batch = 32, optim = AL_OPT_SGD, sched = AL_SCHED_COSINE, warmup = 0, patience = 0;
    int threads = 0, limit = 0, freeze = 0, step_size = 10, nesterov = 0, quiet = 0, json = 0;
    double lr = -1.0, momentum = 0.9, wd = -1.0, clip = 0.0, gamma = 0.1, min_lr = 0.0;
    uint64_t seed = 1;

    cli_args a;
    cli_args_init(&a, cmd, argc, argv);
    while (cli_next(&a)) {
        if (cli_flag(&a, "help")) {
        } else if (cli_flag(&a, "json"))
            json = 1;
        else if (cli_flag(&a, "quiet"))
            quiet = 1;
        else if (cli_flag(&a, "nesterov"))
            nesterov = 1;
        else if (cli_flag(&a, "resume"))
            resume = 1;
        else if (cli_flag(&a, "verbose"))
            verbose = 1;
        else if (cli_flag(&a, "dry-run"))
            dry_run = 1;
        else if (cli_double(&a, "mem-budget", 1.0 / 1024, 1 << 30, &mem_mb)) {
        } else if (cli_str(&a, "checkpoint", &ckpt) || cli_int(&a, "checkpoint-every", 1, INT_MAX, &ckpt_every) ||
                 cli_int(&a, "max-rollbacks", 0, 1000, &max_rollbacks)) {
        }
        else if (cli_str(&a, "arch", &arch) || cli_str(&a, "init", &init) || cli_str(&a, "data", &data) ||
                 cli_str(&a, "out", &out)) {
        } else if (cli_int(&a, "epochs", 1, 1000000, &epochs) || cli_int(&a, "batch", 1, 1 << 20, &batch) ||
                   cli_int(&a, "warmup", 0, INT_MAX, &warmup) || cli_int(&a, "patience", 0, 1000000, &patience) ||
                   cli_int(&a, "threads", 1, 1024, &threads) || cli_int(&a, "limit", 1, INT_MAX, &limit) ||
                   cli_int(&a, "freeze", 0, 1 << 16, &freeze) || cli_int(&a, "step-size", 1, 1000000, &step_size)) {
        } else if (cli_double(&a, "lr", 1e-12, 1e6, &lr) || cli_double(&a, "momentum", 0.0, 0.999999, &momentum) ||
                   cli_double(&a, "weight-decay", 0.0, 1e6, &wd) || cli_double(&a, "clip", 0.0, 1e12, &clip) ||
                   cli_double(&a, "gamma", 1e-12, 1e6, &gamma) || cli_double(&a, "min-lr", 0.0, 1e6, &min_lr)) {
        } else if (cli_choice(&a, "optim", optims, &optim) || cli_choice(&a, "sched", scheds, &sched)) {
        } else if (cli_u64(&a, "seed", &seed)) {
        } else
            cli_unknown(&a);
    }
    if (a.help) {
        usage(stdout);
        return cli_finish(cmd, CLI_EXIT_OK);
    }
    if (a.error) return a.error;
    if (!arch && !init) return cli_usage_error(cmd, "--arch NAME|SPEC (or --init FILE) is required");
    if (arch && init) return cli_usage_error(cmd, "give either --arch or --init, not both");
    if (!data) return cli_usage_error(cmd, "--data DIR is required");
    if (!out) return cli_usage_error(cmd, "--out FILE is required");
    if (resume && !ckpt) return cli_usage_error(cmd, "--resume needs --checkpoint FILE");
    if (ckpt && ckpt_every == 0) ckpt_every = 100;
    if (verbose) cli_log_verbose();
    if (lr < 0.0) lr = optim == AL_OPT_SGD ? 0.05 : 0.001;
    if (wd < 0.0) wd = optim == AL_OPT_ADAMW ? 0.01 : 0.0;
    if (sched == AL_SCHED_COSINE && min_lr > lr)
        return cli_usage_error(cmd, "--min-lr %g is above the learning rate %g", min_lr, lr);

    int rc = CLI_EXIT_RUNTIME;
    al_dataset *train = NULL, *test = NULL;
    al_model *m = NULL;
    al_pool *pool = NULL;
    al_trainer *t = NULL;
    int *idx = NULL;
    al_status st;

    if ((st = al_idx_load_dir(data, 0, &train)) != AL_OK) goto lib_fail;
    if ((st = al_idx_load_dir(data, 1, &test)) != AL_OK) goto lib_fail;
    if (limit > 0 && limit < al_dataset_size(train)) {
        idx = malloc(sizeof(int) * (size_t)limit);
        if (!idx) {
            rc = cli_fail(cmd, "out of memory");
            goto done;
        }
        for (int i = 0; i < limit; i++) idx[i] = i;
        al_dataset *sub;
        if ((st = al_dataset_subset(train, idx, limit, &sub)) != AL_OK) goto lib_fail;
        al_dataset_free(train);
        train = sub;
    }
    if (init)
        st = al_model_load(init, &m);
    else
        st = al_model_from_spec(arch, seed, &m);
    if (st != AL_OK) goto lib_fail;
    if (freeze > 0) {
        if (freeze >= al_model_num_nodes(m)) {
            rc = cli_usage_error(cmd, "--freeze %d: the model has %d nodes, so at most %d can be frozen", freeze,
                                 al_model_num_nodes(m), al_model_num_nodes(m) - 1);
            goto done;
        }
        if ((st = al_model_freeze(m, freeze)) != AL_OK) goto lib_fail;
    }
    if ((rc = cli_pool(cmd, threads, &pool)) != CLI_EXIT_OK) goto done;
    rc = CLI_EXIT_RUNTIME;

    train_ui ui;
    memset(&ui, 0, sizeof ui);
    cli_progress_init(&ui.bar);
    ui.epochs = epochs;
    ui.batch = batch;
    ui.n = al_dataset_size(train);
    ui.quiet = quiet;

    al_train_config c;
    al_train_config_default(&c);
    c.optim = (al_optim_kind)optim;
    c.lr = lr;
    c.momentum = optim == AL_OPT_SGD ? momentum : 0.0;
    c.nesterov = nesterov;
    c.weight_decay = wd;
    c.sched = (al_sched_kind)sched;
    c.step_size = step_size;
    c.gamma = gamma;
    c.min_lr = min_lr;
    c.warmup_steps = warmup;
    c.clip_norm = clip;
    c.epochs = epochs;
    c.batch = batch;
    c.shuffle = 1;
    c.seed = seed;
    c.patience = patience;
    c.progress = on_progress;
    c.progress_user = &ui;
    c.checkpoint_path = ckpt;
    c.checkpoint_every = ckpt_every;
    c.max_rollbacks = max_rollbacks;
    /* the memory plan first: a budget that cannot be met fails here, before
     * training; within it the batch it leaves (also for the evaluations) */
    al_mem_plan plan;
    if ((st = al_trainer_plan_memory(m, pool, train, &c, (size_t)(mem_mb * 1048576.0), &plan)) != AL_OK)
        goto lib_fail;
    c.batch = ui.batch = plan.batch_used;
    if (dry_run || (mem_mb > 0 && !json)) cli_mem_plan_show(cmd, &plan, json, 0);
    if (dry_run) {
        rc = cli_finish(cmd, CLI_EXIT_OK);
        goto done;
    }
    if (plan.batch_used < plan.batch_requested)
        fprintf(stderr, "autlearn %s: memory budget %.2f MiB: batch %d (asked %d)\n", cmd, mem_mb, plan.batch_used,
                plan.batch_requested);
    if ((st = al_trainer_new(m, pool, &c, &t)) != AL_OK) goto lib_fail;
    al_trainer_pos pos;
    al_trainer_get_pos(t, &pos);
    long long resumed_at = -1;
    struct stat sb;
    if (resume && stat(ckpt, &sb) == 0) {
        if ((st = al_trainer_resume(t, ckpt)) != AL_OK) goto lib_fail;
        al_trainer_get_pos(t, &pos);
        resumed_at = pos.steps_done;
        if (pos.in_run)
            fprintf(stderr, "autlearn %s: resuming from %s at step %lld (epoch %d)\n", cmd, ckpt, pos.steps_done,
                    pos.epoch + 1);
        else if ((st = al_trainer_check_finished(t, train)) != AL_OK)
            goto lib_fail;
        else
            fprintf(stderr, "autlearn %s: %s holds a finished run (%lld steps); writing its weights\n", cmd, ckpt,
                    pos.steps_done);
    }

    if (!quiet)
        fprintf(stderr, "training %s on %d samples (%s), %zu parameters, %llu MACs/sample, %d thread%s\n",
                init ? init : arch, ui.n, data, al_model_num_params(m), (unsigned long long)al_model_macs(m),
                al_pool_size(pool), al_pool_size(pool) == 1 ? "" : "s");
    al_train_report r;
    double t0 = cli_now();
    if (pos.in_run || pos.runs_done == 0)
        st = al_trainer_run(t, train, test, &r);
    else
        al_trainer_get_report(t, &r); /* a finished checkpoint: its weights are the result */
    double seconds = cli_now() - t0;
    cli_progress_clear(&ui.bar);
    if (st != AL_OK) goto lib_fail;

    /* measured on the weights being saved (the best ones under --patience) */
    double test_loss, test_acc;
    if ((st = al_evaluate(m, pool, test, mem_mb > 0 ? plan.batch_used : EVAL_BATCH, &test_loss, &test_acc)) != AL_OK)
        goto lib_fail;

    char base[256];
    cli_basename(data, base, sizeof base);
    if ((st = al_model_set_meta(m, "autlearn.trained_on", base)) != AL_OK ||
        (st = set_meta_int(m, "autlearn.train.epochs", r.epochs_run)) != AL_OK ||
        (st = set_meta_int(m, "autlearn.train.samples", ui.n)) != AL_OK ||
        (st = al_model_set_meta(m, "autlearn.train.optim", optims[optim])) != AL_OK ||
        (st = set_meta_num(m, "autlearn.train.lr", lr)) != AL_OK ||
        (st = set_meta_int(m, "autlearn.train.batch", c.batch)) != AL_OK ||
        (st = set_meta_int(m, "autlearn.train.seed", (long long)seed)) != AL_OK ||
        (st = set_meta_num(m, "autlearn.train.test_acc", test_acc)) != AL_OK)
        goto lib_fail;
    if ((st = al_model_save(m, out)) != AL_OK) goto lib_fail;

    if (json) {
        cli_json j;
        cli_json_init(&j, stdout);
        cli_json_begin_object(&j, NULL);
        cli_json_str(&j, "command", "train");
        cli_json_int(&j, "epochs", r.epochs_run);
        cli_json_bool(&j, "stopped_early", r.stopped_early);
        cli_json_int(&j, "best_epoch", r.best_epoch);
        cli_json_num(&j, "test_acc", test_acc);
        cli_json_num(&j, "test_loss", test_loss);
        cli_json_num(&j, "train_loss", r.final_loss);
        cli_json_num(&j, "train_acc", r.final_train_acc);
        cli_json_num_digits(&j, "seconds", seconds, 4);
        cli_json_int(&j, "samples", r.samples);
        cli_json_int(&j, "train_size", ui.n);
        cli_json_int(&j, "test_size", al_dataset_size(test));
        cli_json_str(&j, "model", out);
        cli_json_str(&j, "spec", al_model_spec(m));
        cli_json_int(&j, "params", (long long)al_model_num_params(m));
        cli_json_int(&j, "macs", (long long)al_model_macs(m));
        cli_json_int(&j, "threads", al_pool_size(pool));
        cli_json_int(&j, "rollbacks", r.rollbacks);
        cli_mem_plan_json(&j, &plan, 0);
        if (resumed_at >= 0)
            cli_json_int(&j, "resumed_at_step", resumed_at);
        else
            cli_json_null(&j, "resumed_at_step");
        cli_json_end_object(&j);
        cli_json_end(&j);
    } else {
        printf("test accuracy %.4f  test loss %.4f  (%d epoch%s, %.1f s, %lld samples) -> %s\n", test_acc, test_loss,
               r.epochs_run, r.epochs_run == 1 ? "" : "s", seconds, r.samples, out);
    }
    rc = cli_finish(cmd, CLI_EXIT_OK);
    goto done;

lib_fail:
    rc = cli_fail_lib(cmd, st);
done:
    free(idx);
    al_trainer_free(t);
    al_pool_free(pool);
    al_model_free(m);
    al_dataset_free(train);
    al_dataset_free(test);
    return rc;
}
