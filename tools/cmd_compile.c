/* autlearn compile: a trained model and a freeze point to the device model
 * file: batch norms folded, activations fused, frozen dropouts dropped, and
 * the memory plan of a training step stored as autlearn.plan.* metadata
 * (src/cloud/compile/, docs/COMPILE.md). */
#include "train/train.h"
#include "cli.h"
#include "cloud/compile/compile.h"
#include "cloud/sim/sim.h"

#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f, "usage: autlearn compile --model IN --out OUT [options]\n"
               "\n"
               "Compiles a trained model for on-device training at a freeze point: frozen batch\n"
               "norms are folded into the conv/dense before them, a relu/relu6 after a conv/dense\n"
               "is fused into it, frozen dropouts are removed, and the memory plan (every\n"
               "activation and gradient buffer placed by liveness in one arena) is stored in the\n"
               "file. Predictions agree with the input model within 1e-4 (relative).\n"
               "\n"
               "  --model FILE          the trained model (also positional)\n"
               "  --out FILE            the device model file to write (required)\n"
               "  --freeze K            first trainable node, in IN's numbering (default: IN's\n"
               "                        autlearn.freeze, else the output layer)\n"
               "  --batch B             batch the stored plan is made for (default 32)\n"
               "  --no-fold             keep batch norms\n"
               "  --no-fuse             keep activations separate\n"
               "  --int8                int8 weights (per-channel symmetric) and int8 kernels for\n"
               "                        the frozen dense/conv layers (docs/KERNELS.md)\n"
               "  --int8-dw             --int8, and the frozen depthwise convs in int8 too\n"
               "  --int8-min-k K        int8 for the dense/conv layers with at least K inputs per\n"
               "                        output channel (default 32; 8: MobileNet's thin 1x1 convs too,\n"
               "                        which pays with --calib on AVX-512 VNNI, docs/COMPILE.md)\n"
               "  --calib DATA          with --int8: static activation scales calibrated on DATA (an\n"
               "                        IDX directory's training split or an image folder), so int8\n"
               "                        layers hand int8 to each other (docs/COMPILE.md)\n"
               "  --calib-samples N     calibration samples, spread over DATA (default 256)\n"
               "  --calib-pct P         the percentile of |activation| a scale covers (default 99.99;\n"
               "                        100: the largest)\n"
               "  --json                print a JSON object on stdout\n"
               "  -h, --help            this help\n");
}

/* the adds among the calibrated nodes (static scales on adds: the int8 residual add) */
static int calib_adds(const al_model *m) {
    int c = 0;
    for (int i = 0; i < m->nnodes; i++) c += m->nodes[i].add_scale > 0.0f;
    return c;
}

int cmd_compile(int argc, char **argv) {
    const char *cmd = "compile";
    const char *in = NULL, *out = NULL;
    int json = 0, freeze = -1, no_fold = 0, no_fuse = 0, calib_n = 256;
    const char *calib = NULL;
    double calib_pct;
    al_compile_opts o;
    al_compile_defaults(&o);
    calib_pct = o.calib_pct;
    cli_job job;
    cli_job_init(&job, CLI_JOB_JSON | CLI_JOB_FREEZE | CLI_JOB_BATCH, 32, 0);
    cli_args a;
    cli_args_init(&a, cmd, argc, argv);
    while (cli_next(&a)) {
        if (cli_flag(&a, "help") || cli_job_option(&a, &job)) {
        } else if (cli_flag(&a, "no-fold"))
            no_fold = 1;
        else if (cli_flag(&a, "no-fuse"))
            no_fuse = 1;
        else if (cli_flag(&a, "int8"))
            o.quantize_frozen = 1;
        else if (cli_flag(&a, "int8-dw"))
            o.quantize_frozen = o.quantize_dw = 1;
        else if (cli_int(&a, "int8-min-k", 1, AL_I8_KMAX, &o.quant_min_k)) {
        } else if (cli_str(&a, "calib", &calib) || cli_int(&a, "calib-samples", 1, 1 << 20, &calib_n) ||
                 cli_double(&a, "calib-pct", 1e-9, 100.0, &calib_pct)) {
        } else if (cli_str(&a, "model", &in) || cli_str(&a, "out", &out)) {
        } else if (cli_positional(&a, &in)) {
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
    o.batch = job.batch;
    if (!in) return cli_usage_error(cmd, "--model IN is required");
    if (!out) return cli_usage_error(cmd, "--out OUT is required");
    if (calib && !o.quantize_frozen) return cli_usage_error(cmd, "--calib needs --int8 or --int8-dw");
    o.fold_bn = !no_fold;
    o.fuse_act = !no_fuse;
    o.calib_pct = calib_pct;

    al_model *m = NULL, *c = NULL;
    al_dataset *cd = NULL;
    float *cx = NULL;
    al_status st = al_model_load(in, &m);
    if (st != AL_OK) return cli_fail_lib(cmd, st);
    if (calib) {
        /* the samples spread over the set, laid end to end */
        int rc = cli_load_calib(cmd, m, calib, &cd);
        if (rc) {
            al_model_free(m);
            return rc;
        }
        int size = al_dataset_size(cd);
        if (calib_n > size) calib_n = size;
        al_tensor xs = al_dataset_x_shape(cd);
        size_t per = al_tensor_numel(&xs);
        cx = malloc(sizeof(float) * per * (size_t)(calib_n > 0 ? calib_n : 1));
        if (!cx) {
            al_dataset_free(cd);
            al_model_free(m);
            return cli_fail(cmd, "out of memory");
        }
        for (int i = 0; i < calib_n; i++)
            memcpy(cx + (size_t)i * per, al_dataset_x(cd, (int)((long long)i * size / calib_n)), sizeof(float) * per);
        al_dataset_free(cd);
        al_tensor is = al_model_input_shape(m);
        if (per != al_tensor_numel(&is)) {
            free(cx);
            al_model_free(m);
            return cli_fail(cmd, "%s: samples of %zu values, the model reads %zu", calib, per, al_tensor_numel(&is));
        }
        o.calib_x = cx;
        o.calib_n = calib_n;
    }
    int frc = cli_job_freeze_check(cmd, &job, m);
    if (frc) {
        al_model_free(m);
        return frc;
    }
    freeze = al_model_resolve_freeze(m, freeze);
    al_compile_report r;
    if ((st = al_compile(m, freeze, &o, &c, &r)) == AL_OK) {
        al_compile_report_free(&r); /* its node map is not shown */
        st = al_model_save(c, out);
    }
    free(cx);
    if (st != AL_OK) {
        int rc = cli_fail_lib(cmd, st);
        al_model_free(c);
        al_model_free(m);
        return rc;
    }
    double ratio = (double)r.plan_bytes / (double)r.uncompiled_bytes;
    if (json) {
        cli_json j;
        cli_json_init(&j, stdout);
        cli_json_begin_object(&j, NULL);
        cli_json_str(&j, "command", "compile");
        cli_json_str(&j, "model", in);
        cli_json_str(&j, "out", out);
        cli_json_str(&j, "spec", al_model_spec(c));
        cli_json_int(&j, "nodes_in", r.nodes_in);
        cli_json_int(&j, "nodes_out", r.nodes_out);
        cli_json_int(&j, "freeze_in", r.freeze_in);
        cli_json_int(&j, "freeze", r.freeze_out);
        cli_json_int(&j, "folded_bn", r.folded_bn);
        cli_json_int(&j, "fused_act", r.fused_act);
        cli_json_int(&j, "dropped", r.dropped);
        cli_json_int(&j, "int8_nodes", r.quantized);
        cli_json_int(&j, "static_scales", r.calibrated);
        cli_json_int(&j, "int8_edges", al_model_i8_links(c));
        cli_json_int(&j, "int8_adds", al_model_i8_adds(c));
        cli_json_int(&j, "batch", r.batch);
        cli_json_int(&j, "uncompiled_bytes", (long long)r.uncompiled_bytes);
        cli_json_int(&j, "planner_only_bytes", (long long)r.input_plan_bytes);
        cli_json_int(&j, "peak_bytes", (long long)r.plan_bytes);
        cli_json_int(&j, "chunk_arena_bytes", (long long)r.arena_bytes);
        cli_json_int(&j, "planner_only_chunk_arena_bytes", (long long)r.input_arena_bytes);
        cli_json_num(&j, "ratio", ratio);
        cli_json_str(&j, "nodes", al_model_meta(c, "autlearn.plan.nodes"));
        cli_json_end_object(&j);
        cli_json_end(&j);
    } else {
        printf("compiled %s -> %s\n", in, out);
        printf("nodes:   %d -> %d (%d batch norms folded, %d activations fused, %d dropouts dropped)\n", r.nodes_in,
               r.nodes_out, r.folded_bn, r.fused_act, r.dropped);
        printf("freeze:  %d -> %d\n", r.freeze_in, r.freeze_out);
        if (o.quantize_frozen && !calib) printf("int8:    %d frozen dense/conv nodes\n", r.quantized);
        if (calib)
            printf("int8:    %d frozen %s nodes, %d with static input scales calibrated on %d samples of %s "
                   "(%d of them residual adds); %d nodes hand int8 on, %d add(s) run in int8\n",
                   r.quantized, o.quantize_dw ? "dense/conv/dwconv" : "dense/conv", r.calibrated, calib_n, calib,
                   calib_adds(c), al_model_i8_links(c), al_model_i8_adds(c));
        cli_print_spec("spec:    ", al_model_spec(c), out);
        printf("plan:    peak training memory at batch %d: %zu bytes compiled, %zu uncompiled (%.3f); "
               "the memory planner alone on the input: %zu\n",
               r.batch, r.plan_bytes, r.uncompiled_bytes, ratio, r.input_plan_bytes);
        if (r.arena_bytes || r.input_arena_bytes)
            printf("         of them the frozen part's chunk arena (one thread): %zu compiled, %zu planner alone\n",
                   r.arena_bytes, r.input_arena_bytes);
    }
    al_model_free(c);
    al_model_free(m);
    return cli_finish(cmd, CLI_EXIT_OK);
}
