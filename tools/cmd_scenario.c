/* autlearn scenario: the whole simulation of a cloud and its users, per user
 * comparing the global model, local-only training, autonomous learning,
 * centralized training and federated averaging (src/cloud/sim/). */
#include "cli.h"
#include "cloud/sim/sim.h"

#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
            "usage: autlearn scenario image|text [options] --json FILE [--svg FILE]\n"
            "\n"
            "Splits the training data into public data (the cloud's) and non-IID users, pre-trains\n"
            "in the cloud, then compares per user on that user's private test set:\n"
            "  global       the pre-trained model as is\n"
            "  local        the architecture trained from scratch on the user's data only\n"
            "  autonomous   pre-training + on-device transfer learning + augmentation + cache\n"
            "  centralized  the cloud model trained on public + all private data pooled\n"
            "  fedavg       federated averaging from the cloud model\n"
            "\n"
            "data and users:\n"
            "  --data DIR             IDX directory (default data/fashion-mnist)\n"
            "  --users N              users (default 20)\n"
            "text (next-word prediction on State of the Union addresses; docs/TEXT.md):\n"
            "  --data DIR             the addresses, YYYY_first_last_party.txt (default data/sotu)\n"
            "  --users A,B            presidents as in the file names (default: the 10 with most\n"
            "                         addresses since 1901)\n"
            "  --user-tokens N        cap on a user's private text, most recent tokens (default 30000)\n"
            "  --pretrain-tokens N    public token budget of pre-training (default 600000)\n"
            "  --vocab N              words in the vocabulary besides <unk> </s> <num> (default 5000)\n"
            "  --public-extra DIRS    comma-separated off-domain public text directories\n"
            "  --select-public        Moore-Lewis selection of public documents; also reports random\n"
            "                         public text at the same budget for global and autonomous\n"
            "  --device-batch B       the autonomous method's batch (default 8)\n"
            "  --train-words N        autonomous trains only the output rows of the user's N most used\n"
            "                         words (exact softmax; personalize --train-words; default 0 = all)\n"
            "  --val-per-user N       hold the most recent N tokens of each user's private text out\n"
            "                         as its validation text (default 0)\n"
            "  --public-val N         hold the public stream's last N tokens out of pre-training as\n"
            "                         the cloud's validation text\n"
            "  --evaluate SET         score every method on 'test' (default) or 'validation'\n"
            "  --recipe R             autonomous: auto (default: the device chooses among the unigram\n"
            "                         prior, head, last-block and deep on the last 20%% of its text,\n"
            "                         gated against the cloud model), prior, head, last-block, deep,\n"
            "                         or config (--freeze, --train-words)\n"
            "  --ngram-mix 0|1        1 (default): the chooser (autonomous, fedavg-ft) and the +p\n"
            "                         methods mix the user's bigram model (counted on its own text)\n"
            "                         into the predictions at a weight chosen on the device's split\n"
            "                         of its text; 0: the model alone\n"
            "  --label-prior S        the unigram prior's strength for global+p, central+p, fedavg+p\n"
            "                         and a fixed recipe (default 0.5 for the +p methods, 0 = none for\n"
            "                         a fixed recipe)\n"
            "  --fed-lr X             fedavg's (and fedrep's) client learning rate (default --lr); they\n"
            "                         train at --device-batch like autonomous; fedrep's output layer is\n"
            "                         its personal head, the LSTM its shared body; ditto's personal\n"
            "                         LM trains all but the embedding, as fedavg's client\n"
            "  text defaults: --pretrain-epochs 1 --pretrain-lr 0.002 --epochs 3 --lr 0.003\n"
            "                 --local-epochs 2 --local-lr 0.002 --rounds 2 --batch 32 (streams)\n"
            "                 --cache-mb 256; Adam, cosine schedule, gradient clipping 1\n"
            );
    fprintf(f,
            "image:\n"
            "  --per-user N           private training images per user, 10.. (default 200)\n"
            "  --test-per-user N      private test images per user (default 200)\n"
            "  --public-frac F        share of the training split that is public (default 0.5)\n"
            "  --dominant K           dominant classes per user (default 2)\n"
            "  --dominant-frac F      share of a user's images from them (default 0.8)\n"
            "  --shift S              how users differ from the public data: label (class mix, the\n"
            "                         default), feature (each user's own image transform, uniform\n"
            "                         class mix), both, newclass (the cloud never sees the last\n"
            "                         --new-classes N labels, default 3; each user holds one or more;\n"
            "                         the device grows its output layer; docs/SCENARIOS.md)\n"
            "  --val-per-user N       carve N of each user's --per-user images out as its\n"
            "                         validation set (default 0)\n"
            "  --public-val N         carve N public images out as the cloud's validation set\n"
            "  --evaluate SET         score every method on 'test' (default) or 'validation'\n"
            "                         (tuning: the test sets are not touched)\n"
    );
    fprintf(f,
            "cloud:\n"
            "  --arch A               architecture spec or built-in (default refcnn)\n"
            "  --pretrain-epochs E    (default 3)      --pretrain-lr X (default 0.05)\n"
            "  --cloud FILE           use this pre-trained model instead of pre-training\n"
            "  --save-cloud FILE      write the pre-trained model\n"
            "device:\n"
            "  --epochs E             autonomous epochs (default 10)   --lr X (default 0.01)\n"
            "  --freeze K             first trainable node (default: the output layer)\n"
            "  --label-prior A        shift the output bias by log(user / cloud class prior) before\n"
            "                         training; A is the pseudo-count (default 1; 0 = off)\n"
            "  --l2sp X               L2-SP: pull trained weights toward the cloud's (default 1; 0 = off)\n"
            "  --lr-split K --lr-below X  trained nodes below K learn at lr * X (default off)\n"
            "  --rehearsal E          image: the cloud ships E public images of each of its classes;\n"
            "                         a device holding a class the cloud never saw (--shift\n"
            "                         newclass) trains on them with its own, L2-SP off, and\n"
            "                         undoes their class prior after (default 0 = off; a no-op\n"
            "                         without new classes). Used by autonomous, fedavg-ft's\n"
            "                         fine-tuning, fedrep's head step and ditto's personal step\n"
            "                         (its pull toward the global model stays); each counts them\n"
            "                         once in its bytes down\n"
            "  --aug-variants K       fixed augmented variants per image (default 1 = none; implies\n"
            "                         --recipe config)\n"
            "  --recipe R             image: the device recipe, auto (default: chosen per user on a\n"
            "                         validation split of its data, gated against the cloud model),\n"
            "                         prior, head, last-block, bn, bias, deep, full, or config (--freeze)\n"
            "  --budget-mmacs M       --recipe auto: the search's compute budget in millions of\n"
            "                         multiply-adds per user (default: none)\n"
            "  --auto-folds K         image, --recipe auto: the chooser scores each recipe by K-fold\n"
            "                         cross-validation (2..10, K runs each; default 5), or 1: one\n"
            "                         held-out split (a fifth of the search)\n"
            "  --auto-val F           image, --recipe auto: validate on one split instead, the\n"
            "                         fraction of each class held out (default 0.2)\n"
            "  --aug-shift N --aug-rotate DEG --aug-contrast X --aug-brightness X --aug-noise X\n"
            "                         their augmentation (defaults 2, 10, 0.2, 0.1, 0.02)\n"
            "  --cache-mb MB          runtime cache bound (default 64)\n"
            "  --local-epochs E       local-only epochs (default 20)   --local-lr X (default 0.02)\n"
            "  --rounds R             fedavg rounds (default 5)   --fed-epochs E (default 1)\n"
            "  --fed-lr X             fedavg's client learning rate (default 0.05)\n"
            "  --fed-cosine           fedavg's (and fedper's, fedrep's) clients use a cosine schedule\n"
            "                         within each round (default constant)\n"
            "  --fedrep-head-epochs E fedrep: epochs of the head step each round, before the body's\n"
            "                         --fed-epochs (default 2)\n"
            "  --ditto-lambda X       ditto: the personal model's pull toward the round's global model,\n"
            "                         lambda/2 ||v - w||^2 (default 1; 0 = local training; both scenarios)\n"
            "  --ditto-epochs E       ditto: epochs of the personal step each round, at fedavg's client\n"
            "                         learning rate and schedule (default --fed-epochs)\n"
            "  --fed-rollbacks N      federated clients: rollbacks to a lower learning rate before a\n"
            "                         client's training counts as diverged; its update is then left out\n"
            "                         of that round (default 3; counted as clients_dropped in --json)\n"
            );
    fprintf(f,
            "  --central-epochs E     centralized epochs over the pooled data (default 1)\n"
            "  --central-lr X         centralized's learning rate (default pretrain-lr * 0.2)\n"
            "  --methods LIST         comma-separated subset of the methods (default the five above);\n"
            "                         image also: global+p, central+p, fedavg+p (output bias shifted by\n"
            "                         the user's class mix), fedavg-ft (fedavg, then the device's\n"
            "                         job as autonomous: chooser or --recipe), fedper (shared body,\n"
            "                         personal output layer), fedrep (the same; each round the head\n"
            "                         trained first on the body held, then the body under the head),\n"
            "                         ditto (fedavg, and each user a personal model trained beside it\n"
            "                         toward the global one, never uploaded; image and text)\n"
            "  --batch B              (default 32)\n"
            "run:\n"
            "  --threads T            worker threads (default: AL_THREADS or 1)\n"
            "  --seed S               (default 1)\n"
            "  --json FILE            write the results (required)\n"
            "  --svg FILE             write the figure\n"
            "  --quiet                no progress lines on stderr\n"
            "  -h, --help             this help\n");
}

static int parse_methods(const char *s, unsigned *mask) {
    *mask = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int found = 0;
        for (int i = 0; i < AL_M_COUNT; i++)
            if (!strcmp(t, al_method_names[i])) {
                *mask |= 1u << i;
                found = 1;
            }
        if (!found) return 0;
    }
    return *mask != 0;
}

/* --shift and --evaluate (image scenario only) into c; 0 or a usage error. */
static int image_options(const char *cmd, int text, const char *shift, const char *evaluate, int new_classes,
                         al_scenario_config *c) {
    if (shift) {
        if (text) return cli_usage_error(cmd, "--shift is for the image scenario");
        if (!strcmp(shift, "label"))
            c->users.shift = AL_SHIFT_LABEL;
        else if (!strcmp(shift, "feature"))
            c->users.shift = AL_SHIFT_FEATURE;
        else if (!strcmp(shift, "both"))
            c->users.shift = AL_SHIFT_BOTH;
        else if (!strcmp(shift, "newclass"))
            c->users.shift = AL_SHIFT_NEWCLASS;
        else
            return cli_usage_error(cmd, "--shift takes label, feature, both or newclass, got '%s'", shift);
    }
    if (new_classes >= 0) {
        if (c->users.shift != AL_SHIFT_NEWCLASS) return cli_usage_error(cmd, "--new-classes needs --shift newclass");
        c->users.new_classes = new_classes;
    }
    if (evaluate) {
        if (!strcmp(evaluate, "validation"))
            c->eval_validation = 1;
        else if (strcmp(evaluate, "test") != 0)
            return cli_usage_error(cmd, "--evaluate takes test or validation, got '%s'", evaluate);
        if (c->eval_validation && c->users.val_per_user < 1)
            return cli_usage_error(cmd, "--evaluate validation needs --val-per-user N");
    }
    return 0;
}

/* The results table (and the text scenario's own columns and times). */
static void print_results(const al_scenario_result *r, int text) {
    printf("%-12s %9s %8s %12s %12s %10s %14s %14s\n", "method", "mean_acc", "std", "s/user", "cpu-s/user",
           "rss_MB", "MACs/user", "bytes_up/user");
    for (int i = 0; i < AL_M_COUNT; i++) {
        const al_method_result *m = &r->m[i];
        if (!m->ran) continue;
        printf("%-12s %8.2f%% %7.2f%% %12.3f %12.3f %10.1f %14.3g %14.0f\n", al_method_names[i], 100 * m->mean_acc,
               100 * m->std_acc, m->seconds, m->cpu_seconds, m->peak_rss_mb, m->macs, m->bytes_uploaded);
    }
    if (r->m[AL_M_AUTONOMOUS].ran && r->later_epoch_seconds > 0)
        printf("autonomous epochs: first %.4f s, later %.5f s (%.1fx faster with the cache)\n", r->first_epoch_seconds,
               r->later_epoch_seconds, r->first_epoch_seconds / r->later_epoch_seconds);
    if (text) {
        printf("%-12s %9s %9s %9s %9s %10s\n", "method", "top-3", "top-1", "ppl", "keys_saved", "word_top-3");
        for (int i = 0; i < AL_M_COUNT; i++)
            if (r->m[i].ran)
                printf("%-12s %8.2f%% %8.2f%% %9.1f %8.2f%% %9.2f%%\n", al_method_names[i], 100 * r->m[i].mean_acc,
                       100 * r->m[i].mean_top1, r->m[i].mean_ppl, 100 * r->m[i].mean_saved, 100 * r->m[i].mean_word_acc);
        printf("time: data %.1f s, pre-training %.1f s", r->seconds_data, r->pretrain_seconds);
        for (int i = 0; i < AL_M_COUNT; i++)
            if (r->m[i].ran) printf(", %s %.1f s", al_method_names[i], r->seconds_method[i]);
        printf("\n");
        if (r->sel_global[0] >= 0)
            printf("public text at an equal budget: global %.2f%% random vs %.2f%% selected; autonomous %.2f%% vs %.2f%%\n",
                   100 * r->sel_global[0], 100 * r->sel_global[1], 100 * r->sel_autonomous[0], 100 * r->sel_autonomous[1]);
    }
}

int cmd_scenario(int argc, char **argv) {
    const char *cmd = "scenario";
    al_scenario_config c;
    al_scenario_config_default(&c);
    int text = 0;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "text")) text = 1; /* the scenario's own defaults apply before the options */
    if (text) al_scenario_config_text_default(&c);
    c.verbose = 1;
    const char *json = NULL, *svg = NULL, *which = NULL, *methods = NULL, *users = NULL, *shift = NULL,
               *evaluate = NULL;
    const char *recipe_name = NULL;
    double budget_mmacs = 0.0;
    int new_classes = -1;
    int cache_mb = (int)(c.cache_bytes >> 20), threads = 0, quiet = 0, user_tokens = (int)c.user_tokens,
        pretrain_tokens = (int)c.pretrain_tokens;
    double aug_f[4] = {c.aug.rotate_deg, c.aug.noise, c.aug.contrast, c.aug.brightness};
    cli_job job;
    cli_job_init(&job, CLI_JOB_QUIET | CLI_JOB_THREADS | CLI_JOB_SEED | CLI_JOB_FREEZE | CLI_JOB_BATCH | CLI_JOB_CACHE_MB, c.batch, (int)(c.cache_bytes >> 20));
    cli_args a;
    cli_args_init(&a, cmd, argc, argv);
    while (cli_next(&a)) {
        if (cli_flag(&a, "help") || cli_job_option(&a, &job)) {
        } else if (cli_flag(&a, "select-public"))
            c.select_public = 1;
        else if (cli_flag(&a, "fed-cosine"))
            c.fed_cosine = 1;
        else if (cli_str(&a, "users", &users) || cli_str(&a, "public-extra", &c.extra_dirs)) {
        } else if (cli_int(&a, "user-tokens", 0, 1 << 30, &user_tokens) ||
                   cli_int(&a, "pretrain-tokens", 0, 1 << 30, &pretrain_tokens) ||
                   cli_int(&a, "vocab", 1, 1 << 20, &c.vocab_words) ||
                   cli_int(&a, "device-batch", 1, 1 << 16, &c.device_batch) ||
                   cli_int(&a, "train-words", 0, 1 << 30, &c.train_words) ||
                   cli_int(&a, "ngram-mix", 0, 1, &c.ngram_mix)) {
        } else if (cli_str(&a, "recipe", &recipe_name)) {
        } else if (cli_str(&a, "data", &c.data_dir) || cli_str(&a, "arch", &c.arch) || cli_str(&a, "json", &json) ||
                 cli_str(&a, "svg", &svg) || cli_str(&a, "cloud", &c.cloud_model) ||
                 cli_str(&a, "save-cloud", &c.save_cloud) || cli_str(&a, "methods", &methods) ||
                 cli_str(&a, "shift", &shift) || cli_str(&a, "evaluate", &evaluate)) {
        } else if (cli_int(&a, "per-user", 10, 1000000, &c.users.per_user) ||
                   cli_int(&a, "test-per-user", 1, 1000000, &c.users.test_per_user) ||
                   cli_int(&a, "dominant", 1, 256, &c.users.dominant) ||
                   cli_int(&a, "new-classes", 1, 255, &new_classes) ||
                   cli_int(&a, "val-per-user", 0, 1000000, &c.users.val_per_user) ||
                   cli_int(&a, "public-val", 0, 100000000, &c.users.public_val) ||
                   cli_int(&a, "pretrain-epochs", 0, 1000, &c.pretrain_epochs) ||
                   cli_int(&a, "epochs", 1, 10000, &c.epochs) || cli_int(&a, "local-epochs", 1, 10000, &c.local_epochs) ||
                   cli_int(&a, "rounds", 1, 10000, &c.rounds) || cli_int(&a, "fed-epochs", 1, 1000, &c.fed_epochs) ||
                   cli_int(&a, "fedrep-head-epochs", 0, 1000, &c.fedrep_head_epochs) ||
                   cli_int(&a, "ditto-epochs", 1, 1000, &c.ditto_epochs) ||
                   cli_int(&a, "central-epochs", 1, 1000, &c.central_epochs) ||
                   cli_int(&a, "fed-rollbacks", 0, 1000, &c.fed_rollbacks) ||
                   cli_int(&a, "aug-variants", 1, 1024, &c.aug_variants) ||
                   cli_int(&a, "lr-split", 0, CLI_MAX_NODES, &c.lr_split) ||
                   cli_int(&a, "rehearsal", 0, 100000, &c.rehearsal) || cli_int(&a, "auto-folds", 1, 10, &c.auto_folds) || cli_int(&a, "aug-shift", 0, 64, &c.aug.shift)) {
        } else if (cli_double(&a, "public-frac", 0.0, 0.99, &c.users.public_frac) ||
                   cli_double(&a, "dominant-frac", 0.0, 1.0, &c.users.dominant_frac) ||
                   cli_double(&a, "lr", 1e-9, 10.0, &c.lr) || cli_double(&a, "local-lr", 1e-9, 10.0, &c.local_lr) ||
                   cli_double(&a, "fed-lr", 1e-9, 10.0, &c.fed_lr) ||
                   cli_double(&a, "ditto-lambda", 0.0, 1e6, &c.ditto_lambda) ||
                   cli_double(&a, "budget-mmacs", 0.0, 1e12, &budget_mmacs) ||
                   cli_double(&a, "auto-val", 0.01, 0.9, &c.auto_val) ||
                   cli_double(&a, "central-lr", 1e-9, 10.0, &c.central_lr) ||
                   cli_double(&a, "pretrain-lr", 1e-9, 10.0, &c.pretrain_lr) ||
                   cli_double(&a, "l2sp", 0.0, 1e6, &c.l2sp) || cli_double(&a, "label-prior", 0.0, 1e6, &c.label_prior) || cli_double(&a, "aug-rotate", 0.0, 180.0, &aug_f[0]) ||
                   cli_double(&a, "aug-noise", 0.0, 1.0, &aug_f[1]) ||
                   cli_double(&a, "aug-contrast", 0.0, 0.99, &aug_f[2]) ||
                   cli_double(&a, "aug-brightness", 0.0, 1.0, &aug_f[3]) || cli_double(&a, "lr-below", 0.0, 1000.0, &c.lr_below)) {
        } else if (cli_positional(&a, &which)) {
        } else
            cli_unknown(&a);
    }
    if (a.help) {
        usage(stdout);
        return cli_finish(cmd, CLI_EXIT_OK);
    }
    if (a.error) return a.error;
    quiet = job.quiet;
    threads = job.threads;
    c.seed = job.seed;
    int frc = cli_job_freeze_numeric(cmd, &job);
    if (frc) return frc;
    c.freeze = job.freeze;
    /* the device recipe: the chooser unless a recipe, --freeze or
     * --aug-variants fixes it */
    if (recipe_name) {
        if (al_recipe_parse(recipe_name, &c.recipe) != AL_OK)
            return cli_usage_error(cmd, "--recipe: %s", al_last_error());
        if (c.recipe != AL_RECIPE_AUTO && c.recipe != AL_RECIPE_CONFIG && c.freeze >= 0)
            return cli_usage_error(cmd, "--recipe %s sets the freeze point: no --freeze", recipe_name);
    } else if (c.freeze >= 0 || c.aug_variants > 1 || c.train_words > 0) {
        c.recipe = AL_RECIPE_CONFIG;
    }
    if (budget_mmacs > 0) c.budget_macs = (uint64_t)(budget_mmacs * 1e6);
    if (c.auto_val > 0 && c.auto_folds > 1)
        return cli_usage_error(cmd, "--auto-val and --auto-folds are two ways to validate: give one");
    c.batch = job.batch;
    cache_mb = job.cache_mb;
    if (!which) which = "image";
    if (strcmp(which, "image") != 0 && strcmp(which, "text") != 0)
        return cli_usage_error(cmd, "unknown scenario '%s' (available: image, text)", which);
    if (users && !text) {
        char *end;
        long n = strtol(users, &end, 10);
        if (*users == '\0' || *end || n < 1 || n > 100000)
            return cli_usage_error(cmd, "--users takes a number in 1..100000, got '%s'", users);
        c.users.users = (int)n;
    } else if (users) {
        c.user_list = users;
    }
    int urc = image_options(cmd, text, shift, evaluate, new_classes, &c);
    if (urc) return urc;
    c.user_tokens = user_tokens;
    c.pretrain_tokens = pretrain_tokens;
    if (!json) return cli_usage_error(cmd, "--json FILE is required");
    if (methods && !parse_methods(methods, &c.methods))
        return cli_usage_error(cmd, "--methods takes a comma-separated list of global,local,autonomous,centralized,fedavg,"
                                    "global+p,central+p,fedavg+p,fedavg-ft,fedrep,ditto (image also fedper)");
    if (text && (c.methods & (1u << AL_M_FEDPER))) return cli_usage_error(cmd, "fedper is an image scenario method");
    c.cache_bytes = (size_t)cache_mb << 20;
    c.aug.rotate_deg = (float)aug_f[0];
    c.aug.noise = (float)aug_f[1];
    c.aug.contrast = (float)aug_f[2];
    c.aug.brightness = (float)aug_f[3];
    c.threads = threads > 0 ? threads : al_threads_default();
    c.verbose = !quiet;
    al_scenario_result r;
    double t0 = cli_now();
    al_status st = text ? al_scenario_text(&c, &r) : al_scenario_image(&c, &r);
    if (st) return cli_fail_lib(cmd, st);
    double secs = cli_now() - t0;
    if ((st = al_scenario_write_json(&c, &r, json)) != AL_OK) {
        al_scenario_result_free(&r);
        return cli_fail_lib(cmd, st);
    }
    if (svg && (st = al_scenario_write_svg(&c, &r, svg)) != AL_OK) {
        al_scenario_result_free(&r);
        return cli_fail_lib(cmd, st);
    }
    print_results(&r, text);
    printf("pre-training %.1f s; whole run %.1f s; freeze point %d; results in %s%s%s\n", r.pretrain_seconds, secs,
           r.freeze, json, svg ? " and " : "", svg ? svg : "");
    al_scenario_result_free(&r);
    return cli_finish(cmd, CLI_EXIT_OK);
}
