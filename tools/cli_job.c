/* The job options: the options several commands share, parsed here with one
 * set of defaults and ranges (docs/CLI.md, "Job options"). A command says
 * which it takes (a CLI_JOB_* mask) and the defaults that are its task's
 * (the batch; the cache bound of an image or a text job). */
#include "cli.h"
#include "model/model.h"

#include <string.h>

void cli_job_init(cli_job *j, unsigned takes, int batch, int cache_mb) {
    memset(j, 0, sizeof *j);
    j->takes = takes;
    j->seed = 1;
    j->freeze = -1;
    j->batch = batch;
    j->max_rollbacks = 3;
    j->cache_mb = cache_mb;
}

static int opt_output(cli_args *a, cli_job *j) {
    if ((j->takes & CLI_JOB_JSON) && cli_flag(a, "json"))
        j->json = 1;
    else if ((j->takes & CLI_JOB_VERBOSE) && cli_flag(a, "verbose"))
        j->verbose = 1;
    else if ((j->takes & CLI_JOB_QUIET) && cli_flag(a, "quiet"))
        j->quiet = 1;
    else
        return 0;
    return 1;
}

static int opt_run(cli_args *a, cli_job *j) {
    if ((j->takes & CLI_JOB_THREADS) && cli_int(a, "threads", 1, 1024, &j->threads)) return 1;
    if ((j->takes & CLI_JOB_SEED) && cli_u64(a, "seed", &j->seed)) return 1;
    if ((j->takes & CLI_JOB_FREEZE) && cli_str(a, "freeze", &j->freeze_name)) {
        long x;
        if (!j->freeze_name) return 1; /* the missing value is reported */
        if (cli_parse_long(j->freeze_name, 0, CLI_MAX_NODES, &x)) {
            j->freeze = (int)x;
            j->freeze_name = NULL;
        } else if (al_name_valid(j->freeze_name)) {
            j->freeze = -2;
        } else {
            a->error = cli_usage_error(a->cmd, "--freeze: expected a node count in 0..%d or a tensor name, got '%s'",
                                       CLI_MAX_NODES, j->freeze_name);
        }
        return 1;
    }
    if ((j->takes & CLI_JOB_BATCH) && cli_int(a, "batch", 1, 1 << 20, &j->batch)) return 1;
    return 0;
}

static int opt_checkpoint(cli_args *a, cli_job *j) {
    if (!(j->takes & CLI_JOB_CHECKPOINT)) return 0;
    if (cli_flag(a, "resume")) {
        j->resume = 1;
        return 1;
    }
    return cli_str(a, "checkpoint", &j->ckpt) || cli_int(a, "checkpoint-every", 1, 1 << 30, &j->ckpt_every) ||
           cli_int(a, "max-rollbacks", 0, 1000, &j->max_rollbacks);
}

static int opt_memory(cli_args *a, cli_job *j) {
    if ((j->takes & CLI_JOB_BUDGET) && cli_double(a, "mem-budget", 1.0 / 1024, 1 << 30, &j->mem_mb)) return 1;
    if ((j->takes & CLI_JOB_BUDGET) && cli_flag(a, "dry-run")) {
        j->dry_run = 1;
        return 1;
    }
    if ((j->takes & CLI_JOB_CACHE_MB) && cli_int(a, "cache-mb", 0, 1 << 20, &j->cache_mb)) return 1;
    if (!(j->takes & CLI_JOB_CACHE)) return 0;
    if (cli_flag(a, "no-cache")) {
        j->no_cache = 1;
        return 1;
    }
    if (cli_flag(a, "naive-plan")) {
        j->naive_plan = 1;
        return 1;
    }
    if (cli_int(a, "forward-chunk", -1, 1 << 20, &j->forward_chunk)) return 1;
    return cli_str(a, "cache-spill", &j->spill);
}

int cli_job_option(cli_args *a, cli_job *j) {
    return opt_output(a, j) || opt_run(a, j) || opt_checkpoint(a, j) || opt_memory(a, j);
}

int cli_job_check(const char *cmd, cli_job *j) {
    if (j->resume && !j->ckpt) return cli_usage_error(cmd, "--resume needs --checkpoint FILE");
    if (j->ckpt && j->ckpt_every == 0) j->ckpt_every = CLI_CHECKPOINT_EVERY;
    if (j->verbose) cli_log_verbose();
    return CLI_EXIT_OK;
}

int cli_job_freeze_numeric(const char *cmd, const cli_job *j) {
    if (j->freeze_name) return cli_usage_error(cmd, "--freeze %s: a tensor name needs a model file; give a node count", j->freeze_name);
    return CLI_EXIT_OK;
}

int cli_job_freeze_check(const char *cmd, cli_job *j, const al_model *m) {
    int n = al_model_num_nodes(m);
    if (j->freeze_name) {
        int k = al_model_find_node(m, j->freeze_name);
        if (k < 0) return cli_usage_error(cmd, "--freeze %s: the model has no tensor of that name (autlearn info lists them)", j->freeze_name);
        j->freeze = k + 1;
        j->freeze_name = NULL;
    }
    if (j->freeze > n) return cli_usage_error(cmd, "--freeze %d is beyond the model's %d nodes", j->freeze, n);
    return CLI_EXIT_OK;
}
