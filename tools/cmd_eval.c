/* autlearn eval: loss and accuracy of a model file on a split of an IDX
 * directory. Loading verifies the whole file (checksum included). */
#include "cli.h"

#include <limits.h>
#include <stdlib.h>

static void usage(FILE *f) {
    fprintf(f, "usage: autlearn eval --model FILE --data DIR [options]\n"
               "\n"
               "Loads FILE (verifying its checksum) and reports the mean cross-entropy loss and the\n"
               "accuracy on a split of the IDX directory DIR.\n"
               "\n"
               "  --model FILE          model file (required)\n"
               "  --data DIR            IDX directory, or an image folder (all its images; classes\n"
               "                        matched to the model's by name) (required)\n"
               "  --split test|train    which split of an IDX directory (default test)\n"
               "  --resize stretch|crop, --mean M, --std S   image folder: override the model's\n"
               "                        preprocessing (default: the model's autlearn.image.*)\n"
               "  --limit N             only the first N samples of the split (default: all)\n"
               "  --batch B             evaluation batch size (default 256)\n"
               "  --threads T           worker threads (default: AL_THREADS or 1)\n"
               "  --json                print a JSON summary on stdout\n"
               "  -h, --help            this help\n");
}

int cmd_eval(int argc, char **argv) {
    static const char *const splits[] = {"train", "test", NULL};
    const char *cmd = "eval";
    const char *model = NULL, *data = NULL;
    int split = 1, batch = 256, threads = 0, limit = 0, json = 0;

    cli_job job;
    cli_job_init(&job, CLI_JOB_JSON | CLI_JOB_THREADS | CLI_JOB_BATCH, 256, 0);
    cli_image_opts io;
    cli_image_opts_init(&io);
    cli_args a;
    cli_args_init(&a, cmd, argc, argv);
    while (cli_next(&a)) {
        if (cli_flag(&a, "help") || cli_job_option(&a, &job) || cli_image_option(&a, &io, 0)) {
        } else if (cli_str(&a, "model", &model) || cli_str(&a, "data", &data)) {
        } else if (cli_choice(&a, "split", splits, &split)) {
        } else if (cli_int(&a, "limit", 1, INT_MAX, &limit)) {
        } else
            cli_unknown(&a);
    }
    if (a.help) {
        usage(stdout);
        return cli_finish(cmd, CLI_EXIT_OK);
    }
    if (a.error) return a.error;
    json = job.json;
    batch = job.batch;
    threads = job.threads;
    if (!model) return cli_usage_error(cmd, "--model FILE is required");
    if (!data) return cli_usage_error(cmd, "--data DIR is required");

    int rc = CLI_EXIT_RUNTIME;
    al_model *m = NULL;
    al_dataset *d = NULL;
    al_pool *pool = NULL;
    int *idx = NULL;
    al_status st;
    double t0 = cli_now();

    if ((st = al_model_load(model, &m)) != AL_OK) goto lib_fail;
    int images = cli_is_image_folder(data);
    if (images) {
        if ((rc = cli_eval_images(cmd, m, data, &io, &d)) != 0) goto done;
        rc = CLI_EXIT_RUNTIME;
    } else if (io.resize >= 0 || io.mean || io.std) {
        rc = cli_usage_error(cmd, "--resize, --mean and --std are for image folders; %s is not one", data);
        goto done;
    } else if ((st = al_idx_load_dir(data, split, &d)) != AL_OK)
        goto lib_fail;
    if (limit > 0 && limit < al_dataset_size(d)) {
        idx = malloc(sizeof(int) * (size_t)limit);
        if (!idx) {
            rc = cli_fail(cmd, "out of memory");
            goto done;
        }
        for (int i = 0; i < limit; i++) idx[i] = i;
        al_dataset *sub;
        if ((st = al_dataset_subset(d, idx, limit, &sub)) != AL_OK) goto lib_fail;
        al_dataset_free(d);
        d = sub;
    }
    if ((rc = cli_pool(cmd, threads, &pool)) != CLI_EXIT_OK) goto done;
    rc = CLI_EXIT_RUNTIME;
    double loss, acc;
    if ((st = al_evaluate(m, pool, d, batch, &loss, &acc)) != AL_OK) goto lib_fail;
    double seconds = cli_now() - t0;

    if (json) {
        cli_json j;
        cli_json_init(&j, stdout);
        cli_json_begin_object(&j, NULL);
        cli_json_str(&j, "command", "eval");
        cli_json_str(&j, "model", model);
        cli_json_str(&j, "data", data);
        cli_json_str(&j, "split", images ? "folder" : splits[split]);
        cli_json_int(&j, "samples", al_dataset_size(d));
        cli_json_num(&j, "loss", loss);
        cli_json_num(&j, "acc", acc);
        cli_json_num_digits(&j, "seconds", seconds, 4);
        cli_json_end_object(&j);
        cli_json_end(&j);
    } else {
        printf("%s%s: %d samples  loss %.4f  accuracy %.4f\n", images ? "image folder" : splits[split],
               images ? "" : " split", al_dataset_size(d), loss, acc);
    }
    rc = cli_finish(cmd, CLI_EXIT_OK);
    goto done;

lib_fail:
    rc = cli_fail_lib(cmd, st);
done:
    free(idx);
    al_pool_free(pool);
    al_dataset_free(d);
    al_model_free(m);
    return rc;
}
