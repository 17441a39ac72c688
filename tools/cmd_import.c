/* autlearn import: an ONNX model (exported from PyTorch or another framework)
 * to an autlearn model file. Cloud side: the importer is part of
 * the cloud library, real only when protobuf-c is found (cmake/onnx.cmake);
 * without it this command says so and fails. docs/ONNX.md lists what is
 * supported. */
#include "cli.h"

#ifdef AL_HAVE_ONNX
#include "autlearn_cloud.h"
#endif

#include <limits.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f, "usage: autlearn import MODEL.onnx -o OUT.gguf [options]\n"
               "\n"
               "Converts an ONNX model to an autlearn model file (weights included). Unsupported\n"
               "operators or attributes are refused with the node's name; a final Softmax is\n"
               "dropped (autlearn models output logits) and noted in the metadata 'onnx.notes'.\n"
               "Supported operators: docs/ONNX.md.\n"
               "\n"
               "  -o, --out FILE        the model file to write (required)\n"
               "  --freeze K|NAME       freeze nodes 0..K-1 in the written file (default 0); a tensor\n"
               "                        NAME (autlearn info lists them): through the node that makes it\n"
               "  --json                print a JSON object on stdout\n"
               "  -h, --help            this help\n");
}

int cmd_import(int argc, char **argv) {
    const char *cmd = "import";
    const char *in = NULL, *out = NULL;
    int json = 0, freeze = 0;
    cli_job job;
    cli_job_init(&job, CLI_JOB_JSON | CLI_JOB_FREEZE, 0, 0);
    cli_args a;
    cli_args_init(&a, cmd, argc, argv);
    while (cli_next(&a)) {
        if (cli_flag(&a, "help") || cli_job_option(&a, &job)) {
        } else if (!strcmp(a.arg, "-o")) { /* the short form of --out */
            if (a.i + 1 >= a.argc) {
                cli_usage_error(cmd, "-o needs a value");
                a.error = CLI_EXIT_USAGE;
            } else {
                out = a.argv[++a.i];
            }
        } else if (cli_str(&a, "out", &out)) {
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
    freeze = job.freeze < 0 ? 0 : job.freeze;
    if (!in) return cli_usage_error(cmd, "MODEL.onnx is required");
    if (!out) return cli_usage_error(cmd, "-o OUT.gguf is required");
#ifndef AL_HAVE_ONNX
    (void)json;
    (void)freeze;
    return cli_fail(cmd, "this build has no ONNX import: install libprotobuf-c-dev, protobuf-c-compiler and "
                         "python3-onnx, then reconfigure (cmake -DAL_ONNX=ON)");
#else
    al_model *m = NULL;
    al_status st = al_model_import_onnx(in, &m);
    if (st != AL_OK) return cli_fail_lib(cmd, st);
    int rc = CLI_EXIT_RUNTIME;
    if (job.freeze_name) { /* --freeze NAME: through the node that makes that tensor */
        if ((rc = cli_job_freeze_check(cmd, &job, m)) != 0) goto done;
        rc = CLI_EXIT_RUNTIME;
        freeze = job.freeze;
    }
    if (freeze > 0) {
        if (freeze >= al_model_num_nodes(m)) {
            rc = cli_usage_error(cmd, "--freeze %d: the model has %d nodes, so at most %d can be frozen", freeze,
                                 al_model_num_nodes(m), al_model_num_nodes(m) - 1);
            goto done;
        }
        if ((st = al_model_freeze(m, freeze)) != AL_OK) goto lib_fail;
    }
    if ((st = al_model_save(m, out)) != AL_OK) goto lib_fail;
    const char *notes = al_model_meta(m, "onnx.notes");
    al_tensor is = al_model_input_shape(m), os = al_model_output_shape(m);
    char ins[64], outs[64];
    cli_shape_str(&is, ins, sizeof ins);
    cli_shape_str(&os, outs, sizeof outs);
    if (json) {
        cli_json j;
        cli_json_init(&j, stdout);
        cli_json_begin_object(&j, NULL);
        cli_json_str(&j, "onnx", in);
        cli_json_str(&j, "model", out);
        cli_json_str(&j, "spec", al_model_spec(m));
        cli_json_int(&j, "nodes", al_model_num_nodes(m));
        cli_json_int(&j, "params", (long long)al_model_num_params(m));
        cli_json_str(&j, "input_shape", ins);
        cli_json_str(&j, "output_shape", outs);
        cli_json_str(&j, "producer", al_model_meta(m, "onnx.producer"));
        cli_json_str(&j, "notes", notes);
        cli_json_end_object(&j);
        cli_json_end(&j);
    } else {
        printf("%s -> %s: %d nodes, %zu parameters, input %s, output %s\n", in, out, al_model_num_nodes(m),
               al_model_num_params(m), ins, outs);
        printf("spec: %s\n", al_model_spec(m));
        if (notes) printf("note: %s\n", notes);
    }
    rc = cli_finish(cmd, CLI_EXIT_OK);
    goto done;
lib_fail:
    rc = cli_fail_lib(cmd, st);
done:
    al_model_free(m);
    return rc;
#endif
}
