/* autlearn info: what a model file holds: the spec, each node (type, output
 * shape, parameters, MACs, frozen or trainable), totals and the metadata.
 * Per-node detail and the list of metadata keys are not in the public API,
 * so this file reads struct al_model (the level headers). */
#include "train/train.h"
#include "cli.h"
#include "cloud/compile/compile.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void usage(FILE *f) {
    fprintf(f, "usage: autlearn info FILE [--freeze K] [--batch B] [--json]\n"
               "\n"
               "Loads the model file FILE (verifying its checksum) and prints its architecture\n"
               "spec, every node (index, type, output shape, parameters, MACs per sample,\n"
               "trainable or frozen), the totals, the file size and the metadata. A training\n"
               "checkpoint (--checkpoint of train/personalize) is verified the same way and its\n"
               "position printed.\n"
               "\n"
               "It also prints the peak training memory of one step, planned before the first\n"
               "step: the memory planner's arena (buffers placed by liveness) against the naive\n"
               "layout (every buffer its own bytes), and a compiled model's stored plan.\n"
               "\n"
               "  --freeze K            plan for this freeze point (default: the file's)\n"
               "  --batch B             plan for this batch (default: the stored plan's, else 32)\n"
               "  --json                print a JSON object on stdout\n"
               "  -h, --help            this help\n");
}

static al_tensor shape_of(const al_shape *s) {
    al_tensor t;
    memset(&t, 0, sizeof t);
    t.ndim = s->ndim < 3 ? s->ndim : 3;
    for (int i = 0; i < s->ndim && i < 3; i++) t.shape[i] = s->d[i];
    return t;
}

static void json_shape(cli_json *j, const char *key, const al_tensor *t) {
    cli_json_begin_array(j, key);
    for (int i = 0; i < t->ndim; i++) cli_json_int(j, NULL, t->shape[i]);
    cli_json_end_array(j);
}

/* Trained weights and saved-but-untrained state (batch-norm statistics). */
static void node_counts(const al_node *nd, size_t *params, size_t *state) {
    *params = *state = 0;
    for (int p = 0; p < nd->nparams; p++) {
        if (nd->params[p].is_state)
            *state += nd->params[p].n;
        else
            *params += nd->params[p].n;
    }
}

/* Metadata comes from the file: keep control characters (terminal escapes)
 * off the screen. */
static void print_clean(const char *s) {
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) putchar(*p < 0x20 || *p == 0x7F ? '?' : *p);
}

/* A checkpoint: where its run stands (it is not a model file). */
static int checkpoint_info(const char *cmd, const char *file, const al_trainer_pos *p, int json) {
    if (json) {
        cli_json j;
        cli_json_init(&j, stdout);
        cli_json_begin_object(&j, NULL);
        cli_json_str(&j, "command", "info");
        cli_json_str(&j, "file", file);
        cli_json_str(&j, "kind", "checkpoint");
        cli_json_int(&j, "steps_done", p->steps_done);
        cli_json_int(&j, "epochs_done", p->epochs_done);
        cli_json_int(&j, "runs_done", p->runs_done);
        cli_json_bool(&j, "in_run", p->in_run);
        cli_json_int(&j, "epoch", p->epoch + 1);
        cli_json_int(&j, "step_in_epoch", p->step);
        cli_json_int(&j, "rollbacks", p->rollbacks);
        cli_json_num(&j, "lr_scale", p->lr_scale);
        cli_json_end_object(&j);
        cli_json_end(&j);
    } else {
        printf("%s: training checkpoint, %lld steps (%lld epochs) done, %s", file, p->steps_done, p->epochs_done,
               p->in_run ? "run in progress" : "run finished");
        if (p->in_run) printf(" at epoch %d, step %lld", p->epoch + 1, p->step);
        if (p->rollbacks) printf(", %d rollbacks (lr x%g)", p->rollbacks, p->lr_scale);
        printf("\n");
    }
    return cli_finish(cmd, CLI_EXIT_OK);
}

static uint64_t node_macs(const al_node *nd) { return nd->vt && nd->vt->macs ? nd->vt->macs(nd) : 0; }

int cmd_info(int argc, char **argv) {
    const char *cmd = "info";
    const char *file = NULL;
    int json = 0, freeze = -1, batch = 0;

    cli_job job;
    cli_job_init(&job, CLI_JOB_JSON | CLI_JOB_FREEZE | CLI_JOB_BATCH, 0, 0);
    cli_args a;
    cli_args_init(&a, cmd, argc, argv);
    while (cli_next(&a)) {
        if (cli_flag(&a, "help") || cli_job_option(&a, &job)) {
        } else if (cli_str(&a, "model", &file) || cli_positional(&a, &file)) {
        } else
            cli_unknown(&a);
    }
    if (a.help) {
        usage(stdout);
        return cli_finish(cmd, CLI_EXIT_OK);
    }
    if (a.error) return a.error;
    json = job.json;
    freeze = job.freeze;
    batch = job.batch;
    if (!file) return cli_usage_error(cmd, "a model FILE is required");

    al_trainer_pos pos;
    if (al_checkpoint_info(file, &pos) == AL_OK) return checkpoint_info(cmd, file, &pos, json);
    al_model *m = NULL;
    al_status st = al_model_load(file, &m);
    if (st != AL_OK) return cli_fail_lib(cmd, st);
    struct stat sb;
    long long bytes = stat(file, &sb) == 0 ? (long long)sb.st_size : -1;

    al_tensor is = al_model_input_shape(m), os = al_model_output_shape(m);
    size_t tot_params = 0, tot_state = 0;
    for (int i = 0; i < m->nnodes; i++) {
        size_t p, s;
        node_counts(&m->nodes[i], &p, &s);
        tot_params += p;
        tot_state += s;
    }
    uint64_t macs = al_model_macs(m);
    int ft = al_model_freeze_point(m);

    /* the memory plan: this build's planner at (freeze, batch), the naive
     * layout for comparison, and the plan a compiled file carries */
    if (freeze > m->nnodes) {
        int nn = m->nnodes;
        al_model_free(m);
        return cli_fail(cmd, "--freeze %d is beyond the model's %d nodes", freeze, nn);
    }
    size_t stored = 0, stored_now = 0;
    al_status pst = al_compile_check_plan(m, &stored, &stored_now);
    const char *sb_meta = al_model_meta(m, "autlearn.plan.batch");
    long sbv = 0;
    if (batch <= 0) batch = sb_meta && cli_parse_long(sb_meta, 1, 1 << 20, &sbv) ? (int)sbv : 32;
    int pf = freeze >= 0 ? freeze : ft;
    al_memplan *mp = malloc(sizeof *mp);
    size_t peak = 0, naive = 0;
    if (mp && al_memplan_build_at(m, batch, 0, pf, mp) == AL_OK) peak = mp->total, al_memplan_free(mp);
    if (mp && al_memplan_build_at(m, batch, 1, pf, mp) == AL_OK) naive = mp->total, al_memplan_free(mp);
    free(mp);
    const char *unc = al_model_meta(m, "autlearn.plan.uncompiled_bytes");

    if (json) {
        cli_json j;
        cli_json_init(&j, stdout);
        cli_json_begin_object(&j, NULL);
        cli_json_str(&j, "command", "info");
        cli_json_str(&j, "file", file);
        cli_json_int(&j, "file_bytes", bytes);
        cli_json_str(&j, "spec", al_model_spec(m));
        cli_json_bool(&j, "input_tokens", m->input_tokens);
        json_shape(&j, "input", &is);
        json_shape(&j, "output", &os);
        cli_json_int(&j, "first_trainable", ft);
        cli_json_begin_array(&j, "nodes");
        for (int i = 0; i < m->nnodes; i++) {
            const al_node *nd = &m->nodes[i];
            size_t p, s;
            node_counts(nd, &p, &s);
            al_tensor o = shape_of(&nd->out);
            cli_json_begin_object(&j, NULL);
            cli_json_int(&j, "index", i);
            cli_json_str(&j, "type", al_model_node_type(m, i));
            json_shape(&j, "output", &o);
            cli_json_int(&j, "params", (long long)p);
            cli_json_int(&j, "state", (long long)s);
            cli_json_int(&j, "macs", (long long)node_macs(nd));
            cli_json_bool(&j, "trainable", nd->trainable);
            cli_json_end_object(&j);
        }
        cli_json_end_array(&j);
        cli_json_int(&j, "params", (long long)tot_params);
        cli_json_int(&j, "state", (long long)tot_state);
        cli_json_int(&j, "macs", (long long)macs);
        cli_json_begin_object(&j, "memory");
        cli_json_int(&j, "batch", batch);
        cli_json_int(&j, "freeze", pf);
        cli_json_int(&j, "peak_bytes", (long long)peak);
        cli_json_int(&j, "naive_bytes", (long long)naive);
        cli_json_num(&j, "ratio", naive ? (double)peak / (double)naive : 0.0);
        if (stored) {
            cli_json_int(&j, "stored_peak_bytes", (long long)stored);
            cli_json_bool(&j, "stored_matches", pst == AL_OK);
            cli_json_str(&j, "stored_uncompiled_bytes", unc);
        }
        cli_json_end_object(&j);
        cli_json_begin_object(&j, "metadata");
        for (int i = 0; i < m->nmeta; i++) cli_json_str(&j, m->meta_key[i], m->meta_val[i]);
        cli_json_end_object(&j);
        cli_json_end_object(&j);
        cli_json_end(&j);
    } else {
        char ib[64], ob[64];
        cli_shape_str(&is, ib, sizeof ib);
        cli_shape_str(&os, ob, sizeof ob);
        printf("file:    %s (%lld bytes)\n", file, bytes);
        printf("spec:    %s\n", al_model_spec(m) ? al_model_spec(m) : "(none)");
        printf("input:   %s%s\n", ib, m->input_tokens ? " token ids" : "");
        printf("output:  %s\n", ob);
        if (ft > 0)
            printf("frozen:  nodes 0..%d (first trainable node %d)\n", ft - 1, ft);
        else
            printf("frozen:  none\n");
        printf("\n%5s  %-10s %-14s %12s %14s  %s\n", "node", "type", "output", "params", "MACs", "trainable");
        for (int i = 0; i < m->nnodes; i++) {
            const al_node *nd = &m->nodes[i];
            size_t p, s;
            node_counts(nd, &p, &s);
            al_tensor o = shape_of(&nd->out);
            char sb2[64];
            cli_shape_str(&o, sb2, sizeof sb2);
            printf("%5d  %-10s %-14s %12zu %14llu  %s", i, al_model_node_type(m, i), sb2, p,
                   (unsigned long long)node_macs(nd), nd->trainable ? "yes" : "frozen");
            if (s) printf("  (+%zu state)", s);
            putchar('\n');
        }
        printf("\ntotal:   %zu parameters", tot_params);
        if (tot_state) printf(" (+%zu state values)", tot_state);
        printf(", %llu MACs per sample\n", (unsigned long long)macs);
        printf("memory:  peak training memory at batch %d, freeze %d: %zu bytes planned, %zu naive (%.3f)\n", batch,
               pf, peak, naive, naive ? (double)peak / (double)naive : 0.0);
        if (stored)
            printf("plan:    stored peak %zu bytes (%s this build's %zu)%s%s%s\n", stored,
                   pst == AL_OK ? "equals" : "differs from", stored_now, unc ? ", uncompiled model " : "",
                   unc ? unc : "", unc ? " bytes" : "");
        if (m->nmeta > 0) {
            printf("\nmetadata:\n");
            for (int i = 0; i < m->nmeta; i++) {
                fputs("  ", stdout);
                print_clean(m->meta_key[i]);
                fputs(" = ", stdout);
                print_clean(m->meta_val[i]);
                putchar('\n');
            }
        }
    }
    al_model_free(m);
    return cli_finish(cmd, CLI_EXIT_OK);
}
