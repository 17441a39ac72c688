/* autlearn predict: per-sample predictions of a model file, with the top-K
 * softmax probabilities, for a split of an IDX directory or for raw float32
 * samples. For a model whose output is a sequence of rows ([T, C], e.g. a
 * language model) the prediction is the one at the last position. */
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void usage(FILE *f) {
    fprintf(f, "usage: autlearn predict --model FILE (--data DIR | --input FILE.f32) [options]\n"
               "\n"
               "Prints one line per sample: 'index predicted label class:prob ...' with the K most\n"
               "probable classes (softmax); label is '-' for --input. With --json: a JSON array.\n"
               "\n"
               "  --model FILE          model file (required)\n"
               "  --data DIR            IDX directory, or an image folder (all its images, in label\n"
               "                        order, by name within a class; the label is the folder's\n"
               "                        class matched to the model's classes by name)\n"
               "  --split test|train    which split of an IDX directory (default test)\n"
               "  --resize stretch|crop, --mean M, --std S   image folder: override the model's\n"
               "                        preprocessing (default: the model's autlearn.image.*)\n"
               "  --input FILE.f32      raw little-endian float32 samples, n * (input size) values\n"
               "  --limit N             only the first N samples (default: all)\n"
               "  --top K               probabilities of the K most probable classes (default 1)\n"
               "  --batch B             inference batch size (default 256, fewer where 256 samples'\n"
               "                        inputs and outputs would pass 8 MiB)\n"
               "  --threads T           worker threads (default: AL_THREADS or 1)\n"
               "  --json                print a JSON array on stdout\n"
               "  --raw FILE.f32        also write every sample's whole output (logits, all rows)\n"
               "                        as little-endian float32\n"
               "  -h, --help            this help\n");
}

/* Where samples come from: a dataset or a float32 file read in chunks. */
typedef struct source {
    const al_dataset *d;
    FILE *f;
    const char *path;
    int is_le;          /* host is little-endian: no byte swap */
} source;

static int host_is_le(void) {
    const uint32_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

/* Reads up to `want` samples of `xn` floats into x; *got receives the count.
 * Returns 0 or a CLI exit code. */
static int read_samples(const char *cmd, source *s, long start, int want, size_t xn, float *x, const float **px,
                        int *got) {
    if (s->d) {
        int n = al_dataset_size(s->d);
        *got = (int)((long)n - start < want ? (long)n - start : want);
        *px = al_dataset_x(s->d, (int)start);
        return 0;
    }
    size_t r = fread(x, sizeof(float), (size_t)want * xn, s->f);
    if (ferror(s->f)) return cli_fail(cmd, "%s: read error: %s", s->path, strerror(errno));
    if (r % xn != 0)
        return cli_fail(cmd, "%s: ends inside a sample (sample %ld has %zu of %zu floats)", s->path,
                        start + (long)(r / xn), r % xn, xn);
    if (!s->is_le) {
        for (size_t i = 0; i < r; i++) {
            unsigned char *b = (unsigned char *)&x[i], t;
            t = b[0], b[0] = b[3], b[3] = t;
            t = b[1], b[1] = b[2], b[2] = t;
        }
    }
    *got = (int)(r / xn);
    *px = x;
    return 0;
}

/* The indices of the k largest of v[0..c) (ties: lower index first). */
static void top_k(const double *v, int c, int k, int *out) {
    for (int j = 0; j < k; j++) {
        int best = -1;
        for (int i = 0; i < c; i++) {
            int used = 0;
            for (int q = 0; q < j; q++) used |= out[q] == i;
            if (used) continue;
            if (best < 0 || v[i] > v[best] || (isnan(v[best]) && !isnan(v[i]))) best = i;
        }
        out[j] = best;
    }
}

/* The --data split, checked against the model's input. 0 or an exit code. */
static int open_data(const char *cmd, const al_model *m, const cli_image_opts *io, const char *data, int split,
                     const al_tensor *is, al_dataset **d) {
    if (cli_is_image_folder(data)) return cli_eval_images(cmd, m, data, io, d);
    if (io->resize >= 0 || io->mean || io->std)
        return cli_usage_error(cmd, "--resize, --mean and --std are for image folders; %s is not one", data);
    al_status st = al_idx_load_dir(data, split, d);
    if (st) return cli_fail_lib(cmd, st);
    al_tensor ds = al_dataset_x_shape(*d);
    if (al_tensor_numel(&ds) == al_tensor_numel(is)) return 0;
    char a1[64], a2[64];
    cli_shape_str(&ds, a1, sizeof a1);
    cli_shape_str(is, a2, sizeof a2);
    return cli_fail(cmd, "%s: samples have shape [%s] but the model's input is [%s]", data, a1, a2);
}

/* Opens the --input file of float32 samples and counts them (*total:
 * LONG_MAX when it is not a regular file: read to its end). 0 or an exit code. */
static int open_input(const char *cmd, const char *input, size_t xn, FILE **f, long *total) {
    *f = fopen(input, "rb");
    if (!*f) return cli_fail(cmd, "%s: cannot open: %s", input, strerror(errno));
    struct stat sb;
    size_t bytes = xn * sizeof(float);
    *total = LONG_MAX;
    if (fstat(fileno(*f), &sb) == 0 && S_ISREG(sb.st_mode)) {
        if (sb.st_size == 0 || (unsigned long long)sb.st_size % bytes != 0)
            return cli_fail(cmd, "%s: size %lld is not a positive multiple of one sample (%zu floats = %zu bytes)",
                            input, (long long)sb.st_size, xn, bytes);
        *total = (long)((unsigned long long)sb.st_size / bytes);
    } else if (S_ISDIR(sb.st_mode)) {
        return cli_fail(cmd, "%s: is a directory", input);
    }
    return 0;
}

/* n outputs to --raw as little-endian float32. 0 or an exit code. */
static int write_raw(const char *cmd, const char *raw, FILE *rawf, const float *y, size_t n) {
    for (size_t q = 0; q < n; q++) {
        unsigned char b[4];
        uint32_t u;
        memcpy(&u, &y[q], 4);
        b[0] = (unsigned char)u, b[1] = (unsigned char)(u >> 8), b[2] = (unsigned char)(u >> 16), b[3] = (unsigned char)(u >> 24);
        if (fwrite(b, 1, 4, rawf) != 4) return cli_fail(cmd, "%s: write error: %s", raw, strerror(errno));
    }
    return 0;
}

/* prob = softmax(z) over `classes` (in double), best = its top `top`. */
static void softmax_top(const float *z, int classes, int top, double *prob, int *best) {
    double mx = -INFINITY, sum = 0.0;
    for (int c = 0; c < classes; c++)
        if (z[c] > mx) mx = z[c];
    for (int c = 0; c < classes; c++) sum += prob[c] = exp((double)z[c] - mx);
    for (int c = 0; c < classes; c++) prob[c] /= sum;
    top_k(prob, classes, top, best);
}

/* One sample's line, or its JSON object when j is not NULL. */
static void print_sample(cli_json *j, long index, int label, const double *prob, const int *best, int top) {
    if (!j) {
        if (label >= 0)
            printf("%ld %d %d", index, best[0], label);
        else
            printf("%ld %d -", index, best[0]);
        for (int q = 0; q < top; q++) printf(" %d:%.6f", best[q], prob[best[q]]);
        putchar('\n');
        return;
    }
    cli_json_begin_object(j, NULL);
    cli_json_int(j, "index", index);
    cli_json_int(j, "predicted", best[0]);
    if (label >= 0)
        cli_json_int(j, "label", label);
    else
        cli_json_null(j, "label");
    cli_json_begin_array(j, "top");
    for (int q = 0; q < top; q++) {
        cli_json_begin_object(j, NULL);
        cli_json_int(j, "class", best[q]);
        cli_json_num_digits(j, "prob", prob[best[q]], 6);
        cli_json_end_object(j);
    }
    cli_json_end_array(j);
    cli_json_end_object(j);
}

static const char *const splits[] = {"train", "test", NULL};

/* The default batch: 256 samples, fewer where their buffers -- the inputs
 * read from --input (xn floats a sample; none with --data, which is in
 * memory already) and the outputs (yn) -- would pass 8 MiB: a 3x224x224
 * image is 0.6 MB, a language model's 20 x 5001 logits 0.4 MB, which at
 * 256 took 154 and 102 MB. The predictions do not depend on the batch. */
static int default_batch(size_t xn, size_t yn) {
    const size_t per = sizeof(float) * (xn + yn), cap = (size_t)8 << 20;
    return per * 256 <= cap ? 256 : (int)AL_MAX((size_t)1, cap / per);
}

typedef struct predict_opts {
    cli_image_opts img;
    const char *model, *data, *input, *raw;
    int split, limit, top, batch, threads, json;
} predict_opts;

static int predict_parse(int argc, char **argv, predict_opts *o) {
    const char *cmd = "predict";
    memset(o, 0, sizeof *o);
    o->split = 1;
    o->top = 1;
    cli_image_opts_init(&o->img);
    cli_job job;
    cli_job_init(&job, CLI_JOB_JSON | CLI_JOB_THREADS | CLI_JOB_BATCH, 0, 0); /* 0: default_batch */
    cli_args a;
    cli_args_init(&a, cmd, argc, argv);
    while (cli_next(&a)) {
        if (cli_flag(&a, "help") || cli_job_option(&a, &job) || cli_image_option(&a, &o->img, 0)) {
        } else if (cli_str(&a, "model", &o->model) || cli_str(&a, "data", &o->data) || cli_str(&a, "input", &o->input) ||
                   cli_str(&a, "raw", &o->raw)) {
        } else if (cli_choice(&a, "split", splits, &o->split)) {
        } else if (cli_int(&a, "limit", 1, INT_MAX, &o->limit) || cli_int(&a, "top", 1, 1 << 24, &o->top)) {
        } else
            cli_unknown(&a);
    }
    if (a.help) {
        usage(stdout);
        return -1;
    }
    if (a.error) return a.error;
    o->json = job.json;
    o->batch = job.batch;
    o->threads = job.threads;
    if (!o->model) return cli_usage_error(cmd, "--model FILE is required");
    if (!o->data && !o->input) return cli_usage_error(cmd, "--data DIR or --input FILE.f32 is required");
    if (o->data && o->input) return cli_usage_error(cmd, "give either --data or --input, not both");
    return 0;
}

int cmd_predict(int argc, char **argv) {
    const char *cmd = "predict";
    predict_opts o;
    int prc = predict_parse(argc, argv, &o);
    if (prc) return prc < 0 ? cli_finish(cmd, CLI_EXIT_OK) : prc;
    const char *model = o.model, *data = o.data, *input = o.input, *raw = o.raw;
    int split = o.split, limit = o.limit, top = o.top, batch = o.batch, threads = o.threads, json = o.json;

    int rc = CLI_EXIT_RUNTIME;
    al_model *m = NULL;
    al_dataset *d = NULL;
    al_pool *pool = NULL;
    FILE *f = NULL, *rawf = NULL;
    float *xbuf = NULL, *ybuf = NULL;
    double *prob = NULL;
    int *best = NULL;
    al_status st;
    source src = {0};
    src.is_le = host_is_le();

    if ((st = al_model_load(model, &m)) != AL_OK) goto lib_fail;
    al_tensor is = al_model_input_shape(m), os = al_model_output_shape(m);
    size_t xn = al_tensor_numel(&is), yn = al_tensor_numel(&os);
    int classes = os.ndim > 0 ? os.shape[os.ndim - 1] : 1;
    int rows = classes > 0 ? (int)(yn / (size_t)classes) : 0;
    if (xn == 0 || classes <= 0 || rows <= 0) {
        rc = cli_fail(cmd, "%s: the model has an empty input or output", model);
        goto done;
    }
    if (top > classes) {
        rc = cli_usage_error(cmd, "--top %d: the model has only %d classes", top, classes);
        goto done;
    }

    long total;
    int y_len = 0;
    if (data) {
        if ((rc = open_data(cmd, m, &o.img, data, split, &is, &d)) != 0) goto done;
        rc = CLI_EXIT_RUNTIME;
        y_len = al_dataset_y_len(d);
        src.d = d;
        total = al_dataset_size(d);
    } else {
        if ((rc = open_input(cmd, input, xn, &f, &total)) != 0) goto done;
        rc = CLI_EXIT_RUNTIME;
        src.f = f;
        src.path = input;
    }
    if (limit > 0 && limit < total) total = limit;
    src.d = d;
    if (batch == 0) batch = default_batch(d ? 0 : xn, yn);
    if (input) xbuf = malloc(sizeof(float) * xn * (size_t)batch);

    ybuf = malloc(sizeof(float) * yn * (size_t)batch);
    prob = malloc(sizeof(double) * (size_t)classes);
    best = malloc(sizeof(int) * (size_t)top);
    if (!ybuf || !prob || !best || (input && !xbuf)) {
        rc = cli_fail(cmd, "out of memory (batch %d of %zu outputs)", batch, yn);
        goto done;
    }
    if ((rc = cli_pool(cmd, threads, &pool)) != CLI_EXIT_OK) goto done;
    if (raw && !(rawf = fopen(raw, "wb"))) {
        rc = cli_fail(cmd, "%s: cannot create: %s", raw, strerror(errno));
        goto done;
    }
    rc = CLI_EXIT_RUNTIME;

    cli_json j;
    cli_json_init(&j, stdout);
    if (json) cli_json_begin_array(&j, NULL);
    long done_n = 0, labelled = 0, correct = 0;
    while (done_n < total) {
        int want = (int)(total - done_n < batch ? total - done_n : batch), got = 0;
        const float *x;
        int e = read_samples(cmd, &src, done_n, want, xn, xbuf, &x, &got);
        if (e) {
            rc = e;
            goto done;
        }
        if (got == 0) break;
        if ((st = al_model_predict(m, pool, x, got, ybuf)) != AL_OK) goto lib_fail;
        if (rawf && (rc = write_raw(cmd, raw, rawf, ybuf, (size_t)got * yn)) != 0) goto done;
        rc = CLI_EXIT_RUNTIME;
        for (int i = 0; i < got; i++) {
            long index = done_n + i;
            /* the last row: the only one for a classifier */
            softmax_top(ybuf + (size_t)i * yn + (size_t)(rows - 1) * (size_t)classes, classes, top, prob, best);
            int label = -1;
            if (d && y_len > 0) label = al_dataset_y(d, (int)index)[y_len - 1];
            if (label >= 0) {
                labelled++;
                correct += label == best[0];
            }
            print_sample(json ? &j : NULL, index, label, prob, best, top);
        }
        done_n += got;
    }
    if (done_n == 0) {
        rc = cli_fail(cmd, "%s: no samples", input ? input : data);
        goto done;
    }
    if (json) {
        cli_json_end_array(&j);
        cli_json_end(&j);
    } else if (labelled > 0) {
        fprintf(stderr, "%ld samples, accuracy %.4f\n", done_n, (double)correct / (double)labelled);
    }
    if (rawf) {
        int bad = fclose(rawf) != 0;
        rawf = NULL;
        if (bad) {
            rc = cli_fail(cmd, "%s: write error: %s", raw, strerror(errno));
            goto done;
        }
    }
    rc = cli_finish(cmd, CLI_EXIT_OK);
    goto done;

lib_fail:
    rc = cli_fail_lib(cmd, st);
done:
    if (f) fclose(f);
    if (rawf) fclose(rawf);
    free(xbuf);
    free(ybuf);
    free(prob);
    free(best);
    al_pool_free(pool);
    al_dataset_free(d);
    al_model_free(m);
    return rc;
}
