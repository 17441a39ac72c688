/* autlearn personalize: the device side. Loads the cloud model, freezes its
 * prefix and trains the rest on one user's private images, with
 * augmentation and the runtime cache; writes the personal model. A thin
 * shell over al_personalize(). */
#include "cli.h"
#include "sim/sim.h"

#include <stdlib.h>

static void usage(FILE *f) {
    fprintf(f, "usage: autlearn personalize --model CLOUD --data DIR --user K --out PERSONAL [options]\n"
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
               "  --lr X                SGD learning rate, momentum 0.9, cosine (default 0.05)\n"
               "  --batch B             (default 32)\n"
               "  --aug-variants K      fixed augmented variants per image (default 1 = none)\n"
               "  --cache-mb MB         runtime cache bound (default 64; past it, recompute)\n"
               "  --cache-spill FILE    past the bound, keep entries in FILE instead (owner-only,\n"
               "                        removed at the end)\n"
               "  --threads T           worker threads (default: AL_THREADS or 1)\n"
               "  --seed S              (default 1)\n"
               "  --json                print a JSON summary on stdout\n"
               "  -h, --help            this help\n");
}

int cmd_personalize(int argc, char **argv) {
    const char *cmd = "personalize";
    al_scenario_config c;
    al_scenario_config_default(&c);
    c.data_dir = NULL;
    const char *model = NULL, *out = NULL, *spill = NULL;
    int user = -1, threads = 0, json = 0, freeze = -1, cache_mb = 64;
    cli_args a;
    cli_args_init(&a, cmd, argc, argv);
    while (cli_next(&a)) {
        if (cli_flag(&a, "help")) {
        } else if (cli_flag(&a, "json"))
            json = 1;
        else if (cli_str(&a, "data", &c.data_dir) || cli_str(&a, "out", &out) || cli_str(&a, "model", &model) ||
                 cli_str(&a, "cache-spill", &spill)) {
        } else if (cli_int(&a, "user", 0, 100000, &user) || cli_int(&a, "users", 1, 100000, &c.users.users) ||
                   cli_int(&a, "per-user", 10, 1000000, &c.users.per_user) ||
                   cli_int(&a, "test-per-user", 1, 1000000, &c.users.test_per_user) ||
                   cli_int(&a, "freeze", 0, 63, &freeze) || cli_int(&a, "epochs", 1, 10000, &c.epochs) ||
                   cli_int(&a, "batch", 1, 1 << 16, &c.batch) ||
                   cli_int(&a, "aug-variants", 1, 1024, &c.aug_variants) ||
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
    if (!c.data_dir) return cli_usage_error(cmd, "--data DIR is required");
    if (user < 0) return cli_usage_error(cmd, "--user K is required");
    if (!out) return cli_usage_error(cmd, "--out FILE is required");
    if (user >= c.users.users) return cli_usage_error(cmd, "--user %d: there are %d users", user, c.users.users);

    al_users *u = NULL;
    al_pool *pool = NULL;
    al_model *m = NULL;
    al_cache *cache = NULL;
    uint64_t *ids = NULL;
    al_status st;
    if (cli_pool(cmd, threads, &pool)) return CLI_EXIT_RUNTIME;
    if ((st = al_model_load(model, &m)) != AL_OK) goto fail;
    if ((st = al_sim_load_users(&c, &u)) != AL_OK) goto fail;
    const al_dataset *tr = al_users_train(u, user), *te = al_users_test(u, user);
    if (freeze < 0) {
        const char *f = al_model_meta(m, "autlearn.freeze");
        freeze = f ? atoi(f) : al_default_freeze(m);
    }
    al_personalize_config pc;
    al_personalize_config_default(&pc);
    al_sim_train_config(&pc.train, &c, c.epochs, c.lr, c.seed + 1000 + (uint64_t)user);
    pc.freeze = freeze;
    pc.aug_variants = c.aug_variants;
    if ((st = al_cache_new((size_t)cache_mb << 20, spill, &cache)) != AL_OK) goto fail;
    ids = malloc(sizeof(uint64_t) * (size_t)al_dataset_size(tr));
    if (!ids) {
        st = AL_ENOMEM;
        goto fail;
    }
    for (int i = 0; i < al_dataset_size(tr); i++) ids[i] = (uint64_t)al_users_train_origin(u, user, i);
    double before, after;
    if ((st = al_evaluate(m, pool, te, c.batch, NULL, &before)) != AL_OK) goto fail;
    al_personalize_report r;
    if ((st = al_personalize(m, pool, tr, ids, cache, &pc, NULL, &r)) != AL_OK) goto fail;
    if ((st = al_evaluate(m, pool, te, c.batch, NULL, &after)) != AL_OK) goto fail;
    al_model_set_meta(m, "autlearn.personalized", "1");
    if ((st = al_model_save(m, out)) != AL_OK) goto fail;
    if (json) {
        cli_json j;
        cli_json_init(&j, stdout);
        cli_json_begin_object(&j, NULL);
        cli_json_str(&j, "command", cmd);
        cli_json_int(&j, "user", user);
        cli_json_int(&j, "samples", al_dataset_size(tr));
        cli_json_int(&j, "freeze", freeze);
        cli_json_num(&j, "test_acc_before", before);
        cli_json_num(&j, "test_acc_after", after);
        cli_json_num(&j, "seconds", r.train.seconds);
        cli_json_num(&j, "first_epoch_seconds", r.first_epoch_seconds);
        cli_json_num(&j, "later_epoch_seconds", r.later_epoch_seconds);
        cli_json_int(&j, "macs", (long long)r.macs);
        cli_json_int(&j, "cache_hits", (long long)r.cache.hits);
        cli_json_int(&j, "cache_entries_spilled", (long long)r.cache.entries_spilled);
        cli_json_int(&j, "bytes_uploaded", 0);
        cli_json_str(&j, "model", out);
        cli_json_end_object(&j);
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
