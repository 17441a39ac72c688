/* autlearn pretrain: the cloud side. Trains an architecture on the public
 * part of the data only (the same split `scenario` and `personalize` use for
 * the same seed) and writes the cloud model. */
#include "cli.h"
#include "cloud/sim/sim.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

static void usage(FILE *f) {
    fprintf(f, "usage: autlearn pretrain [--scenario image|text] --data DIR --out CLOUD [options]\n"
               "\n"
               "Trains on the public data only: a --public-frac share of the training split, drawn\n"
               "with --seed exactly as 'autlearn scenario' and 'autlearn personalize' draw it.\n"
               "\n"
               "  --data DIR            IDX directory, or an image folder: then all its images (less\n"
               "                        --val or --test) are public, and --public-frac does not apply\n"
               "  --test FOLDER, --val F  image folder: test images to report accuracy on\n"
               "  --resize stretch|crop, --mean M, --std S   image folder: preprocessing (docs/CLI.md)\n"
               "  --out FILE            the cloud model to write (required)\n"
               "  --scenario image      the scenario (image; the default)\n"
               "  --arch A              architecture spec or built-in (default refcnn)\n"
               "  --epochs E            (default 3)\n"
               "  --lr X                SGD learning rate, momentum 0.9, cosine schedule (default 0.05)\n"
               "  --batch B             (default 32)\n"
               "  --public-frac F       (default 0.5)\n"
               "  --threads T           worker threads (default: AL_THREADS or 1)\n"
               "  --seed S              (default 1)\n"
               "  --exemplars E --exemplars-out DIR  IDX data: also write E public images of each\n"
               "                        class (drawn with --seed) to DIR as an IDX pair\n"
               "                        (train-images-idx3-ubyte, train-labels-idx1-ubyte), for\n"
               "                        'personalize --rehearsal DIR' (docs/RECIPES.md)\n"
               "  --json                print a JSON summary on stdout\n"
               "text (docs/TEXT.md): --data defaults to data/sotu; public text is every address of a\n"
               "president who is not a user; defaults --epochs 1 --lr 0.002 (Adam) --batch 32 streams\n"
               "  --users A,B           the users, whose text the cloud never sees (default: the 10\n"
               "                        presidents with most addresses since 1901)\n"
               "  --pretrain-tokens N   public token budget (default 600000)\n"
               "  --vocab N             vocabulary words besides <unk> </s> <num> (default 5000)\n"
               "  --public-extra DIRS   off-domain public text directories (comma-separated)\n"
               "  --select-public       Moore-Lewis selection of the public documents\n"
               "  -h, --help            this help\n");
}

typedef struct {
    cli_progress bar;
    int epochs;
} progress_state;

static int on_progress(void *user, const al_epoch_info *info, int final) {
    progress_state *p = user;
    char text[160], prefix[64];
    snprintf(prefix, sizeof prefix, "epoch %d/%d", info->epoch, p->epochs);
    snprintf(text, sizeof text, "loss %.4f acc %.4f", info->loss, info->train_acc);
    cli_progress_draw(&p->bar, prefix, info->step, info->steps, text, final);
    if (final) {
        cli_progress_clear(&p->bar);
        fprintf(stderr, "epoch %d/%d: loss %.4f, train accuracy %.4f, %.1f s\n", info->epoch, p->epochs, info->loss,
                info->train_acc, info->seconds);
    }
    return 0;
}

/* The text scenario's cloud: the same data preparation, vocabulary and
 * pre-training as 'autlearn scenario text' (src/cloud/sim/scenario_text.c). */
static int pretrain_text(const al_scenario_config *img, al_scenario_config *c, const char *out, int json,
                         int threads) {
    const char *cmd = "pretrain";
    c->data_dir = img->data_dir;
    c->save_cloud = out;
    c->methods = AL_M_PRETRAIN_ONLY;
    c->threads = threads > 0 ? threads : al_threads_default();
    c->verbose = !json;
    al_scenario_result r;
    double t0 = cli_now();
    al_status st = al_scenario_text(c, &r);
    if (st) return cli_fail_lib(cmd, st);
    double secs = cli_now() - t0;
    if (json) {
        cli_json j;
        cli_json_init(&j, stdout);
        cli_json_begin_object(&j, NULL);
        cli_json_str(&j, "command", cmd);
        cli_json_str(&j, "model", out);
        cli_json_int(&j, "public_tokens", (long long)r.public_samples);
        cli_json_int(&j, "epochs", c->pretrain_epochs);
        cli_json_int(&j, "freeze", r.freeze);
        cli_json_num(&j, "seconds", secs);
        cli_json_end_object(&j);
        cli_json_end(&j);
    } else {
        printf("wrote %s (%.0f public tokens, %.1f s)\n", out, r.public_samples, secs);
    }
    al_scenario_result_free(&r);
    return cli_finish(cmd, CLI_EXIT_OK);
}

/* An image folder: the cloud model trains on all of it (less --val or
 * --test), with the image recipe, and stores the preprocessing and the
 * class names. */
static int pretrain_images(al_scenario_config *c, const cli_image_opts *io, const char *out, int json, int threads) {
    const char *cmd = "pretrain";
    al_model *probe = NULL, *m = NULL;
    al_dataset *train = NULL, *test = NULL;
    al_class_list names = {0, NULL};
    al_pool *pool = NULL;
    al_image_prep prep;
    int rc;
    double t0 = cli_now(), acc = -1.0, loss = 0.0;
    al_status st = al_model_from_spec(c->arch, c->seed, &probe);
    if (st) return cli_fail_lib(cmd, st);
    if ((rc = cli_image_prep(cmd, probe, io, &prep)) != 0) goto done;
    if ((rc = cli_load_images(cmd, c->data_dir, &prep, NULL, 0, io, c->seed, &train, &test, &names)) != 0) goto done;
    if ((rc = cli_check_classes(cmd, probe, &names)) != 0) goto done;
    if ((rc = cli_pool(cmd, threads, &pool)) != 0) goto done;
    progress_state p;
    cli_progress_init(&p.bar);
    p.epochs = c->pretrain_epochs;
    if (!json) fprintf(stderr, "pre-training %s on %d images\n", c->arch, al_dataset_size(train));
    if ((st = al_sim_pretrain(c, pool, train, on_progress, &p, &m)) != AL_OK) goto lib_fail;
    if ((rc = cli_model_set_images(cmd, m, &prep, &names)) != 0) goto done;
    if (test && (st = al_evaluate(m, pool, test, 256, &loss, &acc)) != AL_OK) goto lib_fail;
    if ((st = al_model_save(m, out)) != AL_OK) goto lib_fail;
    double secs = cli_now() - t0;
    if (json) {
        cli_json j;
        cli_json_init(&j, stdout);
        cli_json_begin_object(&j, NULL);
        cli_json_str(&j, "command", cmd);
        cli_json_str(&j, "model", out);
        cli_json_int(&j, "public_samples", al_dataset_size(train));
        cli_json_int(&j, "classes", names.n);
        cli_json_int(&j, "epochs", c->pretrain_epochs);
        cli_json_str(&j, "freeze", al_model_meta(m, "autlearn.freeze"));
        if (test) {
            cli_json_int(&j, "test_size", al_dataset_size(test));
            cli_json_num(&j, "test_acc", acc);
        }
        cli_json_num(&j, "seconds", secs);
        cli_json_end_object(&j);
        cli_json_end(&j);
    } else if (test) {
        printf("wrote %s (%d images, %d classes, test accuracy %.4f on %d, %.1f s)\n", out, al_dataset_size(train),
               names.n, acc, al_dataset_size(test), secs);
    } else {
        printf("wrote %s (%d images, %d classes, %.1f s)\n", out, al_dataset_size(train), names.n, secs);
    }
    rc = cli_finish(cmd, CLI_EXIT_OK);
    goto done;
lib_fail:
    rc = cli_fail_lib(cmd, st);
done:
    al_model_free(probe);
    al_model_free(m);
    al_dataset_free(train);
    al_dataset_free(test);
    al_class_list_free(&names);
    al_pool_free(pool);
    return rc;
}

/* --exemplars: per_class public images of each class, as an IDX pair in dir */
static al_status write_exemplars(const al_dataset *pub, int per_class, uint64_t seed, const char *dir) {
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) return al_error(AL_EIO, "%s: cannot create: %s", dir, strerror(errno));
    char ip[4096], lp[4096];
    if (snprintf(ip, sizeof ip, "%s/train-images-idx3-ubyte", dir) >= (int)sizeof ip ||
        snprintf(lp, sizeof lp, "%s/train-labels-idx1-ubyte", dir) >= (int)sizeof lp)
        return al_error(AL_EINVAL, "%s: path too long", dir);
    al_dataset *ex = NULL;
    al_status st = al_exemplars(pub, per_class, seed, &ex);
    if (st == AL_OK) st = al_idx_save(ex, ip, lp);
    al_dataset_free(ex);
    return st;
}

int cmd_pretrain(int argc, char **argv) {
    const char *cmd = "pretrain";
    al_scenario_config c, tc;
    al_scenario_config_default(&c);
    al_scenario_config_text_default(&tc);
    c.data_dir = NULL;
    const char *users = NULL;
    int user_tokens = (int)tc.user_tokens, pretrain_tokens = (int)tc.pretrain_tokens, tepochs = -1;
    double tlr = -1;
    const char *out = NULL, *scenario = "image", *ex_dir = NULL;
    int threads = 0, json = 0, exemplars = 0;
    cli_job job;
    cli_job_init(&job, CLI_JOB_JSON | CLI_JOB_THREADS | CLI_JOB_SEED | CLI_JOB_BATCH, c.batch, 0);
    cli_image_opts io;
    cli_image_opts_init(&io);
    cli_args a;
    cli_args_init(&a, cmd, argc, argv);
    while (cli_next(&a)) {
        if (cli_flag(&a, "help") || cli_job_option(&a, &job) || cli_image_option(&a, &io, 1)) {
        } else if (cli_str(&a, "data", &c.data_dir) || cli_str(&a, "out", &out) || cli_str(&a, "arch", &c.arch) ||
                 cli_str(&a, "scenario", &scenario) || cli_str(&a, "exemplars-out", &ex_dir) ||
                 cli_int(&a, "exemplars", 1, 100000, &exemplars)) {
        } else if (cli_flag(&a, "select-public")) {
            tc.select_public = 1;
        } else if (cli_str(&a, "users", &users) || cli_str(&a, "public-extra", &tc.extra_dirs)) {
        } else if (cli_int(&a, "user-tokens", 0, 1 << 30, &user_tokens) ||
                   cli_int(&a, "pretrain-tokens", 0, 1 << 30, &pretrain_tokens) ||
                   cli_int(&a, "vocab", 1, 1 << 20, &tc.vocab_words)) {
        } else if (cli_int(&a, "epochs", 0, 10000, &tepochs)) {
        } else if (cli_double(&a, "lr", 1e-9, 10.0, &tlr) ||
                   cli_double(&a, "public-frac", 0.01, 0.99, &c.users.public_frac)) {
        } else
            cli_unknown(&a);
    }
    if (a.help) {
        usage(stdout);
        return cli_finish(cmd, CLI_EXIT_OK);
    }
    if (a.error) return a.error;
    json = job.json;
    threads = job.threads;
    c.seed = job.seed;
    c.batch = job.batch;
    if (tepochs >= 0) c.pretrain_epochs = tc.pretrain_epochs = tepochs;
    if (tlr > 0) c.pretrain_lr = tc.pretrain_lr = tlr;
    tc.batch = c.batch;
    tc.arch = strcmp(c.arch, "refcnn") ? c.arch : tc.arch;
    tc.seed = c.seed;
    tc.user_tokens = user_tokens;
    tc.pretrain_tokens = pretrain_tokens;
    if (users && strcmp(scenario, "text") != 0) return cli_usage_error(cmd, "--users is for --scenario text");
    tc.user_list = users;
    if (!c.data_dir && !strcmp(scenario, "text")) c.data_dir = tc.data_dir;
    if (strcmp(scenario, "image") != 0 && strcmp(scenario, "text") != 0)
        return cli_usage_error(cmd, "unknown scenario '%s' (available: image, text)", scenario);
    if ((exemplars > 0) != (ex_dir != NULL))
        return cli_usage_error(cmd, "--exemplars E and --exemplars-out DIR go together");
    if (ex_dir && (!strcmp(scenario, "text") || (c.data_dir && cli_is_image_folder(c.data_dir))))
        return cli_usage_error(cmd, "--exemplars is for IDX image data");
    if (!strcmp(scenario, "text")) return pretrain_text(&c, &tc, out, json, threads);
    if (!c.data_dir) return cli_usage_error(cmd, "--data DIR is required");
    if (!out) return cli_usage_error(cmd, "--out FILE is required");
    if (io.test && io.val > 0.0) return cli_usage_error(cmd, "give either --test or --val, not both");
    if (cli_is_image_folder(c.data_dir)) return pretrain_images(&c, &io, out, json, threads);
    if (io.test || io.val > 0.0 || io.resize >= 0 || io.mean || io.std)
        return cli_usage_error(cmd, "--test, --val, --resize, --mean and --std are for image folders; %s is not one",
                               c.data_dir);
    /* only the public part is needed; one user keeps the split cheap */
    c.users.users = 1;
    c.users.per_user = 10;
    c.users.test_per_user = 1;
    al_users *u = NULL;
    al_pool *pool = NULL;
    al_model *m = NULL;
    al_status st;
    double t0 = cli_now();
    if (cli_pool(cmd, threads, &pool)) return CLI_EXIT_RUNTIME;
    if ((st = al_sim_load_users(&c, &u)) != AL_OK) goto fail;
    progress_state p;
    cli_progress_init(&p.bar);
    p.epochs = c.pretrain_epochs;
    if (!json) fprintf(stderr, "pre-training %s on %d public samples\n", c.arch, al_dataset_size(al_users_public(u)));
    if ((st = al_sim_pretrain(&c, pool, al_users_public(u), on_progress, &p, &m)) != AL_OK) goto fail;
    if ((st = al_model_save(m, out)) != AL_OK) goto fail;
    if (ex_dir && (st = write_exemplars(al_users_public(u), exemplars, c.seed, ex_dir)) != AL_OK) goto fail;
    double secs = cli_now() - t0;
    if (json) {
        cli_json j;
        cli_json_init(&j, stdout);
        cli_json_begin_object(&j, NULL);
        cli_json_str(&j, "command", cmd);
        cli_json_str(&j, "model", out);
        cli_json_int(&j, "public_samples", al_dataset_size(al_users_public(u)));
        cli_json_int(&j, "epochs", c.pretrain_epochs);
        if (ex_dir) cli_json_str(&j, "exemplars", ex_dir);
        cli_json_str(&j, "freeze", al_model_meta(m, "autlearn.freeze"));
        cli_json_num(&j, "seconds", secs);
        cli_json_end_object(&j);
        cli_json_end(&j);
    } else {
        printf("wrote %s (%d public samples, %.1f s)\n", out, al_dataset_size(al_users_public(u)), secs);
    }
    al_model_free(m);
    al_users_free(u);
    al_pool_free(pool);
    return cli_finish(cmd, CLI_EXIT_OK);
fail:
    al_model_free(m);
    al_users_free(u);
    al_pool_free(pool);
    return cli_fail_lib(cmd, st);
}
