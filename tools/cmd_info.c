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
               "layout (every buffer its own bytes), a compiled model's stored plan, and the\n"
               "plan of inference (predict, eval: the model as if frozen entirely; with the\n"
               "runtime cache, its frontier at the freeze point kept).\n"
               "\n"
               "  --freeze K            plan for this freeze point (default: the file's)\n"
               "  --batch B             plan for this batch (default: the stored plan's, else 32)\n"
               "  --json                print a JSON object on stdout\n"
               "  -h, --help            this help\n");
}

static al_tensor shape_of(const al_shape *s) {
    al_tensor t;
    memset(&t, 0, sizeof t);
    t.ndim = s->ndim < AL_MAX_DIMS ? s->ndim : AL_MAX_DIMS;
    for (int i = 0; i < t.ndim; i++) t.shape[i] = s->d[i];
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

/* What info shows of a model besides its nodes. */
typedef struct info_facts {
    const char *file;
    long long bytes;
    al_tensor is, os;
    size_t params, state;
    uint64_t macs;
    int ft, pf, batch;        /* freeze point of the file; of the plan shown; the plan's batch */
    size_t peak, naive;       /* this build's plan at (pf, batch), and the naive layout */
    size_t infer;             /* the plan of predict and eval at batch (the model frozen entirely) */
    size_t infer_cached;      /* of the cache's prediction at freeze pf (0 < pf < nnodes), else 0 */
    size_t stored, stored_now;
    al_status pst;            /* AL_OK when the stored plan equals this build's */
    const char *unc;          /* the stored uncompiled peak, or NULL */
} info_facts;

/* The memory plan: this build's planner at (freeze, batch), the naive
 * layout for comparison, and the plan a compiled file carries. */
static void info_plan(const al_model *m, int freeze, int batch, info_facts *f) {
    f->pst = al_compile_check_plan(m, &f->stored, &f->stored_now);
    const char *sb_meta = al_model_meta(m, "autlearn.plan.batch");
    long sbv = 0;
    f->batch = batch > 0 ? batch : sb_meta && cli_parse_long(sb_meta, 1, 1 << 20, &sbv) ? (int)sbv : 32;
    f->pf = freeze >= 0 ? freeze : f->ft;
    al_memplan *mp = malloc(sizeof *mp);
    if (mp && al_memplan_build_at(m, f->batch, 0, f->pf, mp) == AL_OK) f->peak = mp->total, al_memplan_free(mp);
    if (mp && al_memplan_build_at(m, f->batch, 1, f->pf, mp) == AL_OK) f->naive = mp->total, al_memplan_free(mp);
    if (mp && al_memplan_build_infer(m, f->batch, 0, m->nnodes, mp) == AL_OK) f->infer = mp->total, al_memplan_free(mp);
    if (mp && f->pf > 0 && f->pf < m->nnodes && al_memplan_build_infer(m, f->batch, 0, f->pf, mp) == AL_OK)
        f->infer_cached = mp->total, al_memplan_free(mp);
    free(mp);
    f->unc = al_model_meta(m, "autlearn.plan.uncompiled_bytes");
}

static void info_json(const al_model *m, const info_facts *f) {
    cli_json j;
    cli_json_init(&j, stdout);
    cli_json_begin_object(&j, NULL);
    cli_json_str(&j, "command", "info");
    cli_json_str(&j, "file", f->file);
    cli_json_int(&j, "file_bytes", f->bytes);
    cli_json_str(&j, "spec", al_model_spec(m));
    cli_json_bool(&j, "input_tokens", m->input_tokens);
    json_shape(&j, "input", &f->is);
    json_shape(&j, "output", &f->os);
    cli_json_int(&j, "first_trainable", f->ft);
    cli_json_begin_array(&j, "nodes");
    for (int i = 0; i < m->nnodes; i++) {
        const al_node *nd = &m->nodes[i];
        size_t p, s;
        node_counts(nd, &p, &s);
        al_tensor o = shape_of(&nd->out);
        cli_json_begin_object(&j, NULL);
        cli_json_int(&j, "index", i);
        cli_json_str(&j, "type", al_model_node_type(m, i));
        if (nd->cfg.name[0]) cli_json_str(&j, "name", nd->cfg.name);
        cli_json_begin_array(&j, "reads"); /* node indices, -1: the model input */
        cli_json_int(&j, NULL, al_node_input(nd));
        for (int k = 0; k < al_cfg_nsrc(&nd->cfg); k++) cli_json_int(&j, NULL, al_cfg_src(&nd->cfg, k));
        cli_json_end_array(&j);
        /* which output of each node in "reads" (only when one is not the first) */
        int ported = nd->cfg.in_port != 0;
        for (int k = 0; k < al_cfg_nsrc(&nd->cfg); k++) ported |= al_cfg_src_port(&nd->cfg, k) != 0;
        if (ported) {
            cli_json_begin_array(&j, "read_ports");
            cli_json_int(&j, NULL, nd->cfg.in_port);
            for (int k = 0; k < al_cfg_nsrc(&nd->cfg); k++) cli_json_int(&j, NULL, al_cfg_src_port(&nd->cfg, k));
            cli_json_end_array(&j);
        }
        json_shape(&j, "output", &o);
        if (al_cfg_nout(&nd->cfg) > 1) { /* a node of several outputs: each port's shape */
            cli_json_begin_array(&j, "outputs");
            for (int q = 0; q < al_cfg_nout(&nd->cfg); q++) {
                al_tensor oq = shape_of(al_node_out(nd, q));
                cli_json_begin_array(&j, NULL);
                for (int d = 0; d < oq.ndim; d++) cli_json_int(&j, NULL, oq.shape[d]);
                cli_json_end_array(&j);
            }
            cli_json_end_array(&j);
        }
        cli_json_int(&j, "params", (long long)p);
        cli_json_int(&j, "state", (long long)s);
        cli_json_int(&j, "macs", (long long)node_macs(nd));
        cli_json_bool(&j, "trainable", nd->trainable);
        cli_json_end_object(&j);
    }
    cli_json_end_array(&j);
    cli_json_int(&j, "params", (long long)f->params);
    cli_json_int(&j, "state", (long long)f->state);
    cli_json_int(&j, "macs", (long long)f->macs);
    cli_json_begin_object(&j, "memory");
    cli_json_int(&j, "batch", f->batch);
    cli_json_int(&j, "freeze", f->pf);
    cli_json_int(&j, "peak_bytes", (long long)f->peak);
    cli_json_int(&j, "naive_bytes", (long long)f->naive);
    cli_json_num(&j, "ratio", f->naive ? (double)f->peak / (double)f->naive : 0.0);
    cli_json_int(&j, "inference_bytes", (long long)f->infer);
    if (f->infer_cached) cli_json_int(&j, "cached_inference_bytes", (long long)f->infer_cached);
    if (f->stored) {
        cli_json_int(&j, "stored_peak_bytes", (long long)f->stored);
        cli_json_bool(&j, "stored_matches", f->pst == AL_OK);
        cli_json_str(&j, "stored_uncompiled_bytes", f->unc);
    }
    cli_json_end_object(&j);
    cli_json_begin_object(&j, "metadata");
    for (int i = 0; i < m->nmeta; i++) cli_json_str(&j, m->meta_key[i], m->meta_val[i]);
    cli_json_end_object(&j);
    /* only for models that carry them, so other models' output is unchanged */
    al_image_prep p;
    if (al_model_image_prep(m, &p) == AL_OK) {
        cli_json_begin_object(&j, "image");
        cli_json_int(&j, "channels", p.channels);
        cli_json_int(&j, "height", p.height);
        cli_json_int(&j, "width", p.width);
        cli_json_str(&j, "resize", p.resize == AL_RESIZE_CROP ? "crop" : "stretch");
        cli_json_num_digits(&j, "scale", p.scale, 9);
        cli_json_begin_array(&j, "mean");
        for (int c = 0; c < p.channels; c++) cli_json_num_digits(&j, NULL, p.mean[c], 9);
        cli_json_end_array(&j);
        cli_json_begin_array(&j, "std");
        for (int c = 0; c < p.channels; c++) cli_json_num_digits(&j, NULL, p.std[c], 9);
        cli_json_end_array(&j);
        cli_json_end_object(&j);
    }
    al_class_list cl;
    if (al_model_meta(m, "autlearn.classes") && al_model_classes(m, &cl) == AL_OK) {
        cli_json_begin_array(&j, "classes");
        for (int i = 0; i < cl.n; i++) cli_json_str(&j, NULL, cl.names[i]);
        cli_json_end_array(&j);
        al_class_list_free(&cl);
    }
    cli_json_end_object(&j);
    cli_json_end(&j);
}

/* The image preprocessing and class names, when the model has them. */
static void info_images(const al_model *m) {
    al_image_prep p;
    al_status st = al_model_image_prep(m, &p);
    if (st == AL_OK) {
        printf("images:  %dx%dx%d, resize %s, scale %.9g, mean", p.channels, p.height, p.width,
               p.resize == AL_RESIZE_CROP ? "crop" : "stretch", (double)p.scale);
        for (int c = 0; c < p.channels; c++) printf("%s%.9g", c ? "," : " ", (double)p.mean[c]);
        printf(", std");
        for (int c = 0; c < p.channels; c++) printf("%s%.9g", c ? "," : " ", (double)p.std[c]);
        putchar('\n');
    } else if (st != AL_ESTATE) {
        printf("images:  (malformed: %s)\n", al_last_error());
    }
    if (!al_model_meta(m, "autlearn.classes")) return;
    al_class_list cl;
    if (al_model_classes(m, &cl) != AL_OK) {
        printf("classes: (malformed: %s)\n", al_last_error());
        return;
    }
    printf("classes: %d:", cl.n);
    for (int i = 0; i < cl.n; i++) {
        fputs(i ? ", " : " ", stdout);
        print_clean(cl.names[i]);
    }
    putchar('\n');
    al_class_list_free(&cl);
}

static void info_text(const al_model *m, const info_facts *f) {
    char ib[64], ob[64];
    cli_shape_str(&f->is, ib, sizeof ib);
    cli_shape_str(&f->os, ob, sizeof ob);
    printf("file:    %s (%lld bytes)\n", f->file, f->bytes);
    printf("spec:    %s\n", al_model_spec(m) ? al_model_spec(m) : "(none)");
    printf("input:   %s%s\n", ib, m->input_tokens ? " token ids" : "");
    printf("output:  %s\n", ob);
    if (f->ft > 0)
        printf("frozen:  nodes 0..%d (first trainable node %d)\n", f->ft - 1, f->ft);
    else
        printf("frozen:  none\n");
    info_images(m);
    printf("\n%5s  %-10s %-11s %-14s %12s %14s  %s\n", "node", "type", "reads", "output", "params", "MACs",
           "trainable");
    for (int i = 0; i < m->nnodes; i++) {
        const al_node *nd = &m->nodes[i];
        size_t p, s;
        node_counts(nd, &p, &s);
        al_tensor o = shape_of(&nd->out);
        char sb2[64];
        cli_shape_str(&o, sb2, sizeof sb2);
        /* what the node reads: its primary input ("in": the model input),
         * then its other operands (an add's second, every input of a concat) */
        char rd[12 * (AL_MAX_SRCS + 1)];
        size_t o2 = 0;
        for (int k = -1; k < al_cfg_nsrc(&nd->cfg) && o2 < sizeof rd; k++) {
            int sk = k < 0 ? al_node_input(nd) : al_cfg_src(&nd->cfg, k);
            int pk = k < 0 ? nd->cfg.in_port : al_cfg_src_port(&nd->cfg, k);
            const char *sep = k < 0 ? "" : ",";
            /* port p > 0 of a node of several outputs: "3@1" */
            o2 += (size_t)(sk < 0 ? snprintf(rd + o2, sizeof rd - o2, "%sin", sep)
                           : pk ? snprintf(rd + o2, sizeof rd - o2, "%s%d@%d", sep, sk, pk)
                                : snprintf(rd + o2, sizeof rd - o2, "%s%d", sep, sk));
        }
        printf("%5d  %-10s %-11s %-14s %12zu %14llu  %s", i, al_model_node_type(m, i), rd, sb2, p,
               (unsigned long long)node_macs(nd), nd->trainable ? "yes" : "frozen");
        if (s) printf("  (+%zu state)", s);
        if (nd->cfg.name[0]) printf("  %s", nd->cfg.name);
        putchar('\n');
        for (int q = 1; q < al_cfg_nout(&nd->cfg); q++) { /* its later outputs, one line each */
            al_tensor oq = shape_of(al_node_out(nd, q));
            char port[16];
            cli_shape_str(&oq, sb2, sizeof sb2);
            snprintf(port, sizeof port, "@%d", q);
            printf("%5s  %-10s %-11s %s\n", port, "", "", sb2);
        }
    }
    printf("\ntotal:   %zu parameters", f->params);
    if (f->state) printf(" (+%zu state values)", f->state);
    printf(", %llu MACs per sample\n", (unsigned long long)f->macs);
    printf("memory:  peak training memory at batch %d, freeze %d: %zu bytes planned, %zu naive (%.3f)\n", f->batch,
           f->pf, f->peak, f->naive, f->naive ? (double)f->peak / (double)f->naive : 0.0);
    printf("         inference (predict, eval) at batch %d: %zu bytes planned", f->batch, f->infer);
    if (f->infer_cached) printf("; with the runtime cache at freeze %d: %zu", f->pf, f->infer_cached);
    putchar('\n');
    if (f->stored)
        printf("plan:    stored peak %zu bytes (%s this build's %zu)%s%s%s\n", f->stored,
               f->pst == AL_OK ? "equals" : "differs from", f->stored_now, f->unc ? ", uncompiled model " : "",
               f->unc ? f->unc : "", f->unc ? " bytes" : "");
    if (m->nmeta > 0) {
        printf("\nmetadata:\n");
        for (int i = 0; i < m->nmeta; i++) {
            if (!strcmp(m->meta_key[i], "autlearn.classes")) continue; /* on the classes: line */
            fputs("  ", stdout);
            print_clean(m->meta_key[i]);
            fputs(" = ", stdout);
            print_clean(m->meta_val[i]);
            putchar('\n');
        }
    }
}

int cmd_info(int argc, char **argv) {
    const char *cmd = "info";
    const char *file = NULL;
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
    if (!file) return cli_usage_error(cmd, "a model FILE is required");

    al_trainer_pos pos;
    if (al_checkpoint_info(file, &pos) == AL_OK) return checkpoint_info(cmd, file, &pos, job.json);
    al_model *m = NULL;
    al_status st = al_model_load(file, &m);
    if (st != AL_OK) return cli_fail_lib(cmd, st);
    int rc = cli_job_freeze_check(cmd, &job, m);
    if (rc) {
        al_model_free(m);
        return rc;
    }
    info_facts f;
    memset(&f, 0, sizeof f);
    f.file = file;
    struct stat sb;
    f.bytes = stat(file, &sb) == 0 ? (long long)sb.st_size : -1;
    f.is = al_model_input_shape(m);
    f.os = al_model_output_shape(m);
    for (int i = 0; i < m->nnodes; i++) {
        size_t p, s;
        node_counts(&m->nodes[i], &p, &s);
        f.params += p;
        f.state += s;
    }
    f.macs = al_model_macs(m);
    f.ft = al_model_freeze_point(m);
    info_plan(m, job.freeze, job.batch, &f);
    if (job.json)
        info_json(m, &f);
    else
        info_text(m, &f);
    al_model_free(m);
    return cli_finish(cmd, CLI_EXIT_OK);
}
