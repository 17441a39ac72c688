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
#include <math.h>
#include <stdlib.h>
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
               "image models (how a device reads images for it; stored as autlearn.image.*, written\n"
               "when any of these is given; docs/FORMAT.md):\n"
               "  --input-size HxW      the image size; must match the model's input (default: it)\n"
               "  --resize stretch|crop resize rule (default stretch)\n"
               "  --scale X             pixel values 0..255 are multiplied by X first (default 1/255)\n"
               "  --mean M[,M,M]        per-channel mean subtracted after scaling (default 0)\n"
               "  --std S[,S,S]         per-channel std divided by (default 1); e.g. ImageNet:\n"
               "                        --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225\n"
               "  --classes FILE        class names, one per line in output order (autlearn.classes)\n"
               "  --json                print a JSON object on stdout\n"
               "  -h, --help            this help\n");
}

#ifdef AL_HAVE_ONNX
/* --classes FILE: one name per line ('\r' before '\n' and a last empty line
 * allowed) into the model's autlearn.classes; the count must equal the
 * model's outputs. 0 or an exit code. */
static int import_classes(const char *cmd, al_model *m, const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return cli_fail(cmd, "--classes %s: cannot open", path);
    enum { MAX = 1 << 20 };
    char *buf = malloc(MAX + 1);
    size_t n = buf ? fread(buf, 1, MAX + 1, f) : 0;
    fclose(f);
    if (!buf) return cli_fail(cmd, "out of memory");
    if (n > MAX) {
        free(buf);
        return cli_fail(cmd, "--classes %s: over %d bytes", path, MAX);
    }
    buf[n] = '\0';
    if (n > 0 && buf[n - 1] == '\n') buf[--n] = '\0';
    int cnt = 1;
    for (size_t i = 0; i < n; i++) cnt += buf[i] == '\n';
    char **names = malloc(sizeof(char *) * (size_t)cnt);
    if (!names) {
        free(buf);
        return cli_fail(cmd, "out of memory");
    }
    char *p = buf;
    for (int i = 0; i < cnt; i++) {
        char *e = strchr(p, '\n');
        if (e) *e = '\0';
        size_t l = strlen(p);
        if (l > 0 && p[l - 1] == '\r') p[l - 1] = '\0';
        names[i] = p;
        p = e ? e + 1 : p + l;
    }
    al_tensor os = al_model_output_shape(m);
    int outputs = os.ndim > 0 ? os.shape[os.ndim - 1] : 0;
    int rc = 0;
    if (cnt != outputs)
        rc = cli_fail(cmd, "--classes %s: %d names, but the model has %d outputs", path, cnt, outputs);
    else {
        al_status st = al_model_set_classes(m, (const char *const *)names, cnt);
        if (st != AL_OK) rc = cli_fail(cmd, "--classes %s: %s", path, al_last_error());
    }
    free(names);
    free(buf);
    return rc;
}

/* The image options into the model's autlearn.image.* keys. */
static int import_prep(const char *cmd, al_model *m, const char *size, double scale, const cli_image_opts *io) {
    al_image_prep p;
    int rc = cli_image_prep(cmd, m, io, &p);
    if (rc) return rc;
    if (!isnan(scale)) p.scale = (float)scale;
    if (size) {
        int hw[2];
        if (!al_parse_sizes(size, hw, 2, 65536))
            return cli_usage_error(cmd, "--input-size: expected HxW (each 1..65536), got '%s'", size);
        if (hw[0] != p.height || hw[1] != p.width)
            return cli_fail(cmd, "--input-size %dx%d: the model's input is %dx%d", hw[0], hw[1], p.height, p.width);
    }
    al_status st = al_model_set_image_prep(m, &p);
    return st == AL_OK ? 0 : cli_fail_lib(cmd, st);
}
#endif

int cmd_import(int argc, char **argv) {
    const char *cmd = "import";
    const char *in = NULL, *out = NULL, *size = NULL, *classes = NULL;
    int json = 0, freeze = 0;
    double scale = NAN; /* not given */
    cli_job job;
    cli_job_init(&job, CLI_JOB_JSON | CLI_JOB_FREEZE, 0, 0);
    cli_image_opts io;
    cli_image_opts_init(&io);
    cli_args a;
    cli_args_init(&a, cmd, argc, argv);
    while (cli_next(&a)) {
        if (cli_flag(&a, "help") || cli_job_option(&a, &job)) {
        } else if (cli_image_option(&a, &io, 0) || cli_str(&a, "input-size", &size) || cli_str(&a, "classes", &classes) ||
                   cli_double(&a, "scale", -1e6, 1e6, &scale)) {
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
    if (scale == 0.0) return cli_usage_error(cmd, "--scale must not be 0");
#ifndef AL_HAVE_ONNX
    (void)json;
    (void)freeze;
    (void)size;
    (void)classes;
    (void)scale;
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
    if ((size || io.resize >= 0 || io.mean || io.std || !isnan(scale)) && (rc = import_prep(cmd, m, size, scale, &io)) != 0)
        goto done;
    if (classes && (rc = import_classes(cmd, m, classes)) != 0) goto done;
    rc = CLI_EXIT_RUNTIME;
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
        cli_print_spec("spec: ", al_model_spec(m), out);
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
