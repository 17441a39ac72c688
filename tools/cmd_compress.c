/* autlearn compress: the cloud side's SVD low-rank compression
 * (src/cloud/compile/compress.h), then retraining on the public data to recover
 * accuracy. Image models retrain on the public split `pretrain` uses (same
 * --seed and --public-frac) and are scored on the official test split; the
 * language model retrains on the text scenario's public stream and is
 * scored by top-3 next-word accuracy on the users' held-out text, exactly as
 * `scenario text` scores its global model. */
#include "cli.h"
#include "cloud/compile/compress.h"
#include "train/train.h"
#include "cloud/sim/sim.h"

#include <math.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f, "usage: autlearn compress --model IN --out OUT [policy] [--data DIR [--retrain-epochs N]] [options]\n"
               "\n"
               "Replaces dense, conv and LSTM-input weight matrices by two factors of a lower rank\n"
               "(SVD), prints the rank and MACs of every layer, writes an ordinary model file.\n"
               "\n"
               "  --model FILE          the model to compress (required)\n"
               "  --out FILE            the compressed model to write (required)\n"
               "policy (one of; default --mac-reduction 2):\n"
               "  --energy X            per layer the smallest rank keeping >= X of sum(s^2), X in (0,1]\n"
               "  --mac-reduction X     the model's MACs drop by the factor X > 1 (common energy, bisected)\n"
               "  --param-reduction X   the model's parameters drop by the factor X > 1\n"
               "  (a layer whose factors would not save MACs is kept as it is)\n"
               "retraining and accuracy (public data only):\n"
               "  --data DIR            image: IDX directory; text: State of the Union directory.\n"
               "                        Reports accuracy before, after factorization and after retraining\n"
               "  --retrain-epochs N    epochs on the public data (default 1 with --data)\n"
               "  --scenario image|text (default: text for a token model, else image)\n"
               "  --lr X                image: SGD momentum 0.9, cosine (default 0.01);\n"
               "                        text: Adam, cosine (default 0.001)\n"
               "  --batch B             (default 32; text: streams)\n"
               "  --seed S              the public split's seed, as given to pretrain (default 1)\n"
               "  --public-frac F       image: as given to pretrain (default 0.5)\n"
               "  --users A,B  --pretrain-tokens N  --vocab N\n"
               "                        text: as given to pretrain (defaults as there)\n"
               "  --threads T           worker threads (default: AL_THREADS or 1)\n"
               "  --json                print a JSON summary on stdout\n"
               "  -h, --help            this help\n"
               "Exit codes: 0 ok, 1 runtime error (bad model or data, unreachable target), 2 usage error.\n");
}

/* One compression job; the scenario supplies eval() and retrain(). */
typedef struct job {
    const char *in, *out;
    al_compress_policy pol;
    const char *policy_name;
    int epochs, json, text;
    double lr;
    al_pool *pool;
    al_scenario_config c;
    /* scenario data */
    const al_dataset *pub, *test;  /* image */
    const al_text_cloud *tc;       /* text */
    /* results */
    al_compress_plan plan;
    int have_plan, have_acc;
    double acc[3];                 /* before, factorized, retrained (-1: not run) */
    double retrain_seconds;
    al_model *result;
} job;

static al_status eval_model(job *j, al_model *m, double *acc) {
    if (!j->text) return al_evaluate(m, j->pool, j->test, 256, NULL, acc);
    double sum = 0;
    for (int k = 0; k < j->tc->users; k++) {
        al_lm_eval e;
        al_status st = al_lm_evaluate(m, j->pool, j->tc->test[k].v, j->tc->test[k].n, j->tc->vocab, &e);
        if (st) return st;
        sum += e.top3;
    }
    *acc = j->tc->users ? sum / j->tc->users : 0;
    return AL_OK;
}

static int on_epoch(void *user, const al_epoch_info *info, int final) {
    const job *j = user;
    if (final && !j->json)
        fprintf(stderr, "retraining: epoch %d/%d, loss %.4f, %.1f s\n", info->epoch, j->epochs, info->loss,
                info->seconds);
    return 0;
}

/* All layers train; the freeze point the model ships with is kept. */
static al_status retrain(job *j, al_model *m) {
    int ft = al_model_freeze_point(m);
    al_status st = al_model_freeze(m, 0);
    if (st) return st;
    al_train_config tc;
    al_train_report tr;
    if (!j->text) {
        al_train_recipe_image(&tc, j->c.batch, j->epochs, j->lr, j->c.seed + 77);
        tc.progress = on_epoch;
        tc.progress_user = j;
        al_trainer *t = NULL;
        st = al_trainer_new(m, j->pool, &tc, &t);
        if (!st) st = al_trainer_run(t, j->pub, NULL, &tr);
        al_trainer_free(t);
    } else {
        al_dataset *d = NULL;
        st = al_text_windows(j->tc->pub->v, j->tc->pub->n, m->in.d[0], j->c.batch, al_model_output_shape(m).shape[1],
                             &d, NULL);
        al_train_recipe_text(&tc, j->c.batch, j->epochs, j->lr, j->c.seed + 77);
        tc.progress = on_epoch;
        tc.progress_user = j;
        if (!st) st = al_lm_train(m, j->pool, d, &tc, &tr);
        al_dataset_free(d);
    }
    if (!st) st = al_model_freeze(m, ft);
    return st;
}

/* Accuracy before, factorization, accuracy after, retraining, accuracy. */
static al_status run(job *j, al_model *src, int with_data) {
    al_status st;
    j->acc[0] = j->acc[1] = j->acc[2] = -1;
    if (with_data && (st = eval_model(j, src, &j->acc[0]))) return st;
    if ((st = al_compress_analyze(src, &j->plan))) return st;
    j->have_plan = 1;
    if ((st = al_compress_choose(&j->plan, &j->pol))) return st;
    if ((st = al_compress_apply(src, &j->plan, &j->result))) return st;
    if ((st = al_model_set_meta(j->result, "autlearn.compress", j->policy_name))) return st;
    if (!with_data) return AL_OK;
    j->have_acc = 1;
    if ((st = eval_model(j, j->result, &j->acc[1]))) return st;
    if (j->epochs > 0) {
        double t0 = cli_now();
        if ((st = retrain(j, j->result))) return st;
        j->retrain_seconds = cli_now() - t0;
        if ((st = eval_model(j, j->result, &j->acc[2]))) return st;
    }
    return AL_OK;
}

static al_status text_step(void *user, al_model *cloud, const al_text_cloud *d) {
    job *j = user;
    j->tc = d;
    j->pool = d->pool;
    return run(j, cloud, 1);
}

static const char *kind_name(al_compress_kind k) {
    return k == AL_CK_CONV ? "conv" : k == AL_CK_DENSE ? "dense" : k == AL_CK_LSTM_HH ? "lstm W_hh" : "lstm W_ih";
}

static void report(const job *j, double secs) {
    const al_compress_plan *p = &j->plan;
    double mred = p->macs_after ? (double)p->macs_before / (double)p->macs_after : 0;
    double pred = p->params_after ? (double)p->params_before / (double)p->params_after : 0;
    const char *metric = j->text ? "top3" : "top1";
    if (j->json) {
        cli_json js;
        cli_json_init(&js, stdout);
        cli_json_begin_object(&js, NULL);
        cli_json_str(&js, "command", "compress");
        cli_json_str(&js, "model", j->in);
        cli_json_str(&js, "out", j->out);
        cli_json_str(&js, "scenario", j->text ? "text" : "image");
        cli_json_str(&js, "policy", j->policy_name);
        cli_json_num(&js, "threshold", p->threshold);
        cli_json_begin_array(&js, "layers");
        for (int i = 0; i < p->nlayers; i++) {
            const al_compress_layer *l = &p->layers[i];
            cli_json_begin_object(&js, NULL);
            cli_json_int(&js, "node", l->node);
            cli_json_str(&js, "type", kind_name(l->kind));
            cli_json_int(&js, "m", l->m);
            cli_json_int(&js, "n", l->n);
            cli_json_int(&js, "full_rank", l->full);
            cli_json_int(&js, "rank", l->rank);
            cli_json_num_digits(&js, "energy", l->energy, 6);
            cli_json_int(&js, "macs_before", (long long)l->macs_before);
            cli_json_int(&js, "macs_after", (long long)l->macs_after);
            cli_json_int(&js, "params_before", (long long)l->params_before);
            cli_json_int(&js, "params_after", (long long)l->params_after);
            cli_json_end_object(&js);
        }
        cli_json_end_array(&js);
        cli_json_int(&js, "macs_before", (long long)p->macs_before);
        cli_json_int(&js, "macs_after", (long long)p->macs_after);
        cli_json_num_digits(&js, "mac_reduction", mred, 6);
        cli_json_int(&js, "params_before", (long long)p->params_before);
        cli_json_int(&js, "params_after", (long long)p->params_after);
        cli_json_num_digits(&js, "param_reduction", pred, 6);
        if (j->have_acc) {
            cli_json_begin_object(&js, "accuracy");
            cli_json_str(&js, "metric", metric);
            cli_json_num_digits(&js, "before", j->acc[0], 6);
            cli_json_num_digits(&js, "factorized", j->acc[1], 6);
            if (j->acc[2] >= 0)
                cli_json_num_digits(&js, "retrained", j->acc[2], 6);
            else
                cli_json_null(&js, "retrained");
            cli_json_end_object(&js);
        } else {
            cli_json_null(&js, "accuracy");
        }
        cli_json_int(&js, "retrain_epochs", j->have_acc ? j->epochs : 0);
        cli_json_num_digits(&js, "retrain_seconds", j->retrain_seconds, 4);
        cli_json_num_digits(&js, "seconds", secs, 4);
        cli_json_end_object(&js);
        cli_json_end(&js);
        return;
    }
    printf("policy %s (energy threshold %.6g)\n", j->policy_name, p->threshold);
    printf("%5s  %-9s  %11s  %11s  %8s  %12s  %12s\n", "node", "layer", "matrix", "rank/full", "energy", "MACs before",
           "MACs after");
    for (int i = 0; i < p->nlayers; i++) {
        const al_compress_layer *l = &p->layers[i];
        char mat[32], rk[32];
        snprintf(mat, sizeof mat, "%dx%d", l->m, l->n);
        if (l->rank)
            snprintf(rk, sizeof rk, "%d/%d", l->rank, l->full);
        else
            snprintf(rk, sizeof rk, "kept/%d", l->full);
        printf("%5d  %-9s  %11s  %11s  %8.4f  %12llu  %12llu\n", l->node, kind_name(l->kind), mat, rk, l->energy,
               (unsigned long long)l->macs_before, (unsigned long long)l->macs_after);
    }
    printf("total MACs %llu -> %llu (%.2fx fewer), parameters %zu -> %zu (%.2fx fewer)\n",
           (unsigned long long)p->macs_before, (unsigned long long)p->macs_after, mred, p->params_before,
           p->params_after, pred);
    if (j->have_acc) {
        printf("accuracy (%s, %s): before %.4f, factorized %.4f", metric,
               j->text ? "users' held-out text" : "test split", j->acc[0], j->acc[1]);
        if (j->acc[2] >= 0) printf(", retrained %d epoch(s) %.4f", j->epochs, j->acc[2]);
        printf("\n");
    }
    printf("wrote %s (%d layers, %.1f s)\n", j->out, al_model_num_nodes(j->result), secs);
}

int cmd_compress(int argc, char **argv) {
    const char *cmd = "compress";
    job j;
    memset(&j, 0, sizeof j);
    al_scenario_config tcfg;
    al_scenario_config_default(&j.c);
    al_scenario_config_text_default(&tcfg);
    const char *data = NULL, *scenario = NULL, *users = NULL;
    double energy = -1, macred = -1, parred = -1, lr = -1;
    int epochs = -1, threads = 0, batch = 32, npol = 0;
    int pretrain_tokens = (int)tcfg.pretrain_tokens, vocab = tcfg.vocab_words;
    double public_frac = j.c.users.public_frac;
    uint64_t seed = 1;
    cli_job jo;
    cli_job_init(&jo, CLI_JOB_JSON | CLI_JOB_THREADS | CLI_JOB_SEED | CLI_JOB_BATCH, batch, 0);
    cli_args a;
    cli_args_init(&a, cmd, argc, argv);
    while (cli_next(&a)) {
        if (cli_flag(&a, "help") || cli_job_option(&a, &jo)) {
        } else if (cli_str(&a, "model", &j.in) || cli_str(&a, "out", &j.out) || cli_str(&a, "data", &data) ||
                 cli_str(&a, "scenario", &scenario) || cli_str(&a, "users", &users)) {
        } else if (cli_double(&a, "energy", 1e-9, 1.0, &energy)) {
            npol++;
        } else if (cli_double(&a, "mac-reduction", 1.0, 1e6, &macred) ||
                   cli_double(&a, "param-reduction", 1.0, 1e6, &parred)) {
            npol++;
        } else if (cli_double(&a, "lr", 1e-9, 10.0, &lr) || cli_double(&a, "public-frac", 0.01, 0.99, &public_frac)) {
        } else if (cli_int(&a, "retrain-epochs", 0, 10000, &epochs) ||
                   cli_int(&a, "pretrain-tokens", 0, 1 << 30, &pretrain_tokens) ||
                   cli_int(&a, "vocab", 1, 1 << 20, &vocab)) {
        } else
            cli_unknown(&a);
    }
    if (a.help) {
        usage(stdout);
        return cli_finish(cmd, CLI_EXIT_OK);
    }
    if (a.error) return a.error;
    j.json = jo.json;
    threads = jo.threads;
    seed = jo.seed;
    batch = jo.batch;
    if (!j.in) return cli_usage_error(cmd, "--model FILE is required");
    if (!j.out) return cli_usage_error(cmd, "--out FILE is required");
    if (npol > 1) return cli_usage_error(cmd, "give one of --energy, --mac-reduction, --param-reduction");
    if (macred == 1.0 || parred == 1.0) return cli_usage_error(cmd, "a reduction factor must be greater than 1");
    if (epochs > 0 && !data) return cli_usage_error(cmd, "--retrain-epochs needs --data DIR (the public data)");
    if (scenario && strcmp(scenario, "image") && strcmp(scenario, "text"))
        return cli_usage_error(cmd, "unknown scenario '%s' (available: image, text)", scenario);
    char pname[64];
    if (energy > 0) {
        j.pol.kind = AL_RANK_ENERGY;
        j.pol.value = energy;
        snprintf(pname, sizeof pname, "energy %g", energy);
    } else if (parred > 0) {
        j.pol.kind = AL_RANK_PARAMS;
        j.pol.value = parred;
        snprintf(pname, sizeof pname, "param-reduction %g", parred);
    } else {
        j.pol.kind = AL_RANK_MACS;
        j.pol.value = macred > 0 ? macred : 2.0;
        snprintf(pname, sizeof pname, "mac-reduction %g", j.pol.value);
    }
    j.policy_name = pname;
    j.epochs = data ? (epochs >= 0 ? epochs : 1) : 0;

    al_model *src = NULL;
    al_users *u = NULL;
    al_dataset *test = NULL;
    al_status st;
    int rc = CLI_EXIT_RUNTIME;
    double t0 = cli_now();
    if ((st = al_model_load(j.in, &src)) != AL_OK) goto lib_fail;
    j.text = scenario ? !strcmp(scenario, "text") : src->input_tokens;
    if (j.text && !src->input_tokens) {
        rc = cli_fail(cmd, "%s is not a token model: --scenario text needs a language model", j.in);
        goto done;
    }
    j.lr = lr > 0 ? lr : j.text ? 0.001 : 0.01;
    if (!data) {
        if ((rc = cli_pool(cmd, threads, &j.pool)) != CLI_EXIT_OK) goto done;
        if ((st = run(&j, src, 0)) != AL_OK) goto lib_fail;
    } else if (!j.text) {
        /* the public split exactly as pretrain draws it (one user keeps it cheap) */
        j.c.data_dir = data;
        j.c.seed = seed;
        j.c.batch = batch;
        j.c.users.public_frac = public_frac;
        j.c.users.users = 1;
        j.c.users.per_user = 10;
        j.c.users.test_per_user = 1;
        if ((rc = cli_pool(cmd, threads, &j.pool)) != CLI_EXIT_OK) goto done;
        rc = CLI_EXIT_RUNTIME;
        if ((st = al_sim_load_users(&j.c, &u)) != AL_OK) goto lib_fail;
        if ((st = al_idx_load_dir(data, 1, &test)) != AL_OK) goto lib_fail;
        j.pub = al_users_public(u);
        j.test = test;
        if (!j.json)
            fprintf(stderr, "public data: %d samples; test split: %d samples\n", al_dataset_size(j.pub),
                    al_dataset_size(test));
        if ((st = run(&j, src, 1)) != AL_OK) goto lib_fail;
    } else {
        /* the text scenario prepares the public stream and the held-out text
         * as pretrain --scenario text did, checks the vocabulary, then calls us */
        j.c = tcfg;
        j.c.data_dir = data;
        j.c.seed = seed;
        j.c.batch = batch;
        j.c.user_list = users;
        j.c.pretrain_tokens = pretrain_tokens;
        j.c.vocab_words = vocab;
        j.c.cloud_model = j.in;
        j.c.threads = threads > 0 ? threads : al_threads_default();
        j.c.verbose = !j.json;
        j.c.cloud_step = text_step;
        j.c.cloud_step_user = &j;
        al_scenario_result r;
        st = al_scenario_text(&j.c, &r);
        j.pool = NULL; /* the scenario's, freed there */
        if (st) goto lib_fail;
        al_scenario_result_free(&r);
    }
    if ((st = al_model_save(j.result, j.out)) != AL_OK) goto lib_fail;
    report(&j, cli_now() - t0);
    rc = cli_finish(cmd, CLI_EXIT_OK);
    goto done;
lib_fail:
    rc = cli_fail_lib(cmd, st);
done:
    if (j.have_plan) al_compress_plan_free(&j.plan);
    al_model_free(j.result);
    al_model_free(src);
    al_users_free(u);
    al_dataset_free(test);
    al_pool_free(j.pool);
    return rc;
}
