/* autlearn quantize: int8 weights for the frozen part of a model file
 * (src/cloud/compile/quant.h). The output is a model file whose frozen dense and
 * conv layers carry I8 weights and per-channel scales; `autlearn eval` of it
 * measures the accuracy, and inference and personalization run the int8
 * forward for those layers. With --calib they also carry static input
 * scales (the int8 chain, as compile --int8 --calib). */
#include "cli.h"
#include "cloud/compile/quant.h"
#include "cloud/sim/sim.h"

#include <stdlib.h>

static void usage(FILE *f) {
    fprintf(f, "usage: autlearn quantize --model IN --out OUT [options]\n"
               "\n"
               "Freezes IN below node K and quantizes every frozen dense and conv layer to int8\n"
               "(per-output-channel symmetric weights; activations are quantized per sample at run\n"
               "time), then writes OUT. The trainable layers stay float32.\n"
               "\n"
               "  --model IN            model file (required)\n"
               "  --out OUT             output model file (required; written atomically)\n"
               "  --dw                  the frozen depthwise convs in int8 too (off by default: not\n"
               "                        faster on the x86 CPUs measured, docs/COMPILE.md)\n"
               "  --freeze K            first trainable node (default: IN's autlearn.freeze, else the\n"
               "                        output layer, as personalize does)\n"
               "  --calib DATA          static activation scales calibrated on DATA (an IDX\n"
               "                        directory's training split or an image folder), so int8\n"
               "                        layers hand int8 to each other, residual adds included\n"
               "                        (as compile --int8 --calib, docs/COMPILE.md)\n"
               "  --calib-samples N     calibration samples, spread over DATA (default 256)\n"
               "  --calib-pct P         the percentile of |activation| a scale covers (default 99.99;\n"
               "                        100: the largest)\n"
               "  --json                print a JSON summary on stdout\n"
               "  -h, --help            this help\n"
               "\n"
               "Exit codes: 0 ok, 1 runtime error (bad file, nothing to quantize), 2 usage error.\n");
}

int cmd_quantize(int argc, char **argv) {
    const char *cmd = "quantize";
    const char *in = NULL, *out = NULL;
    int freeze = -1, json = 0, dw = 0, calib_n = 256, calibrated = 0;
    const char *calib = NULL;
    double calib_pct = AL_CALIB_PCT_DEFAULT;
    cli_job job;
    cli_job_init(&job, CLI_JOB_JSON | CLI_JOB_FREEZE, 0, 0);
    cli_args a;
    cli_args_init(&a, cmd, argc, argv);
    while (cli_next(&a)) {
        if (cli_flag(&a, "help") || cli_job_option(&a, &job)) {
        } else if (cli_flag(&a, "dw")) {
            dw = 1;
        } else if (cli_str(&a, "calib", &calib) || cli_int(&a, "calib-samples", 1, 1 << 20, &calib_n) ||
                   cli_double(&a, "calib-pct", 1e-9, 100.0, &calib_pct)) {
        } else if (cli_str(&a, "model", &in) || cli_str(&a, "out", &out)) {
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
    if (!in) return cli_usage_error(cmd, "--model IN is required");
    if (!out) return cli_usage_error(cmd, "--out OUT is required");

    al_model *m = NULL;
    al_status st;
    int rc = CLI_EXIT_RUNTIME, count = 0;
    if ((st = al_model_load(in, &m)) != AL_OK) goto lib_fail;
    if ((rc = cli_job_freeze_check(cmd, &job, m)) != 0) goto done;
    rc = CLI_EXIT_RUNTIME;
    freeze = al_model_resolve_freeze(m, freeze);
    if ((st = al_model_freeze(m, freeze)) != AL_OK) goto lib_fail;
    if ((st = dw ? al_quantize_frozen_dw(m, &count) : al_quantize_frozen(m, &count)) != AL_OK) goto lib_fail;
    if (count == 0) {
        rc = cli_fail(cmd, "no dense or conv layer below node %d: nothing to quantize", freeze);
        goto done;
    }
    if (calib) {
        al_dataset *cd = NULL;
        if ((rc = cli_load_calib(cmd, m, calib, &cd)) != 0) goto done;
        rc = CLI_EXIT_RUNTIME;
        st = al_quantize_calibrate(m, NULL, cd, calib_n, calib_pct, &calibrated);
        al_dataset_free(cd);
        if (st != AL_OK) goto lib_fail;
    }
    if ((st = al_model_save(m, out)) != AL_OK) goto lib_fail;
    if (json) {
        cli_json j;
        cli_json_init(&j, stdout);
        cli_json_begin_object(&j, NULL);
        cli_json_str(&j, "command", "quantize");
        cli_json_str(&j, "model", in);
        cli_json_str(&j, "out", out);
        cli_json_int(&j, "freeze", freeze);
        cli_json_int(&j, "static_scales", calibrated);
        cli_json_int(&j, "int8_edges", al_model_i8_links(m));
        cli_json_int(&j, "int8_adds", al_model_i8_adds(m));
        cli_json_begin_array(&j, "quantized");
        for (int i = 0; i < al_model_num_nodes(m); i++)
            if (al_node_is_quantized(m, i)) {
                cli_json_begin_object(&j, NULL);
                cli_json_int(&j, "node", i);
                cli_json_str(&j, "type", al_model_node_type(m, i));
                cli_json_end_object(&j);
            }
        cli_json_end_array(&j);
        cli_json_end_object(&j);
        cli_json_end(&j);
    } else {
        printf("%s: %d layer(s) below node %d quantized to int8:", out, count, freeze);
        for (int i = 0; i < al_model_num_nodes(m); i++)
            if (al_node_is_quantized(m, i)) printf(" %d (%s)", i, al_model_node_type(m, i));
        printf("\n");
        if (calib)
            printf("%s: %d static input scales calibrated on %s; %d nodes hand int8 on, %d add(s) run in int8\n", out,
                   calibrated, calib, al_model_i8_links(m), al_model_i8_adds(m));
    }
    rc = cli_finish(cmd, CLI_EXIT_OK);
    goto done;
lib_fail:
    rc = cli_fail_lib(cmd, st);
done:
    al_model_free(m);
    return rc;
}
