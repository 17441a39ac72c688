/* Image folders wherever --data takes an IDX directory (docs/CLI.md, "Image
 * folders"): detection, the preprocessing options, loading with the
 * warnings printed, and the held-out split (--test FOLDER or --val F). */
#include "cli.h"
#include "core/core.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

static const char *const resizes[] = {"stretch", "crop", NULL};

void cli_image_opts_init(cli_image_opts *o) {
    memset(o, 0, sizeof *o);
    o->resize = -1;
}

int cli_image_option(cli_args *a, cli_image_opts *o, int split) {
    if (split && (cli_str(a, "test", &o->test) || cli_double(a, "val", 0.01, 0.9, &o->val))) return 1;
    return cli_choice(a, "resize", resizes, &o->resize) || cli_str(a, "mean", &o->mean) || cli_str(a, "std", &o->std);
}

static int is_dir(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static int image_name(const char *n) {
    const char *dot = strrchr(n, '.');
    return n[0] != '.' && dot && (!strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg") || !strcasecmp(dot, ".png"));
}

/* An IDX directory (its training images file) is never an image folder. */
static int has_idx(const char *dir) {
    char p[4096];
    struct stat sb;
    snprintf(p, sizeof p, "%s/train-images-idx3-ubyte", dir);
    if (stat(p, &sb) == 0) return 1;
    snprintf(p, sizeof p, "%s/train-images-idx3-ubyte.gz", dir);
    if (stat(p, &sb) == 0) return 1;
    snprintf(p, sizeof p, "%s/t10k-images-idx3-ubyte", dir);
    if (stat(p, &sb) == 0) return 1;
    snprintf(p, sizeof p, "%s/t10k-images-idx3-ubyte.gz", dir);
    return stat(p, &sb) == 0;
}

int cli_is_image_folder(const char *dir) {
    if (!dir || !is_dir(dir) || has_idx(dir)) return 0;
    DIR *d = opendir(dir);
    if (!d) return 0;
    int found = 0;
    struct dirent *de;
    /* a subfolder with an image in it */
    while (!found && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') continue;
        char sub[4096];
        snprintf(sub, sizeof sub, "%s/%s", dir, de->d_name);
        if (!is_dir(sub)) continue;
        DIR *s = opendir(sub);
        if (!s) continue;
        struct dirent *e;
        while (!found && (e = readdir(s)) != NULL) found = image_name(e->d_name);
        closedir(s);
    }
    closedir(d);
    return found;
}

/* "a,b,c" (C values) or one value for all channels. */
static int parse_channels(const char *cmd, const char *opt, const char *s, int C, float *v) {
    float tmp[3];
    int n = 0;
    const char *p = s;
    while (n < 3) {
        const char *e = strchr(p, ',');
        char buf[64];
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len >= sizeof buf) break;
        memcpy(buf, p, len);
        buf[len] = '\0';
        double d;
        if (!cli_parse_double(buf, -1e6, 1e6, &d)) return cli_usage_error(cmd, "--%s: '%s' is not a number", opt, buf);
        tmp[n++] = (float)d;
        if (!e) {
            p = NULL;
            break;
        }
        p = e + 1;
    }
    if (p) return cli_usage_error(cmd, "--%s: at most 3 comma-separated numbers, got '%s'", opt, s);
    if (n != 1 && n != C)
        return cli_usage_error(cmd, "--%s: give one number or %d (one per channel), got %d", opt, C, n);
    for (int c = 0; c < C; c++) v[c] = tmp[n == 1 ? 0 : c];
    return 0;
}

int cli_image_prep_apply(const char *cmd, const cli_image_opts *o, al_image_prep *p) {
    if (o->resize >= 0) p->resize = (al_resize_rule)o->resize;
    int rc;
    if (o->mean && (rc = parse_channels(cmd, "mean", o->mean, p->channels, p->mean)) != 0) return rc;
    if (o->std && (rc = parse_channels(cmd, "std", o->std, p->channels, p->std)) != 0) return rc;
    for (int c = 0; c < p->channels; c++)
        if (p->std[c] == 0.0f) return cli_usage_error(cmd, "--std: a standard deviation of 0");
    return 0;
}

int cli_image_prep(const char *cmd, const al_model *m, const cli_image_opts *o, al_image_prep *p) {
    al_status st = al_model_image_prep(m, p);
    if (st == AL_ESTATE) {
        al_tensor is = al_model_input_shape(m);
        if (is.ndim != 3 || (is.shape[0] != 1 && is.shape[0] != 3) || is.shape[1] > 4096 || is.shape[2] > 4096) {
            char s[64];
            cli_shape_str(&is, s, sizeof s);
            return cli_fail(cmd, "the model's input [%s] is not an image (channels 1 or 3 x height x width)", s);
        }
        al_image_prep_default(p, is.shape[0], is.shape[1], is.shape[2]);
    } else if (st != AL_OK) {
        return cli_fail_lib(cmd, st);
    }
    return cli_image_prep_apply(cmd, o, p);
}

static void print_report(const char *cmd, const char *dir, const al_dataset *d, const al_image_report *r) {
    enum { SHOWN = 20 };
    for (int i = 0; i < r->n_warnings && i < SHOWN; i++) fprintf(stderr, "autlearn %s: warning: %s\n", cmd, r->warnings[i]);
    if (r->n_warnings > SHOWN) fprintf(stderr, "autlearn %s: warning: ... and %d more\n", cmd, r->n_warnings - SHOWN);
    fprintf(stderr, "%s: %d images in %d classes (%d skipped, %d other entries ignored)\n", dir, al_dataset_size(d),
            r->classes.n, r->skipped, r->ignored);
}

/* Moves the class names out of the report into *names. */
static void take_classes(al_image_report *r, al_class_list *names) {
    *names = r->classes;
    r->classes.n = 0;
    r->classes.names = NULL;
}

/* Stratified held-out split: per class, round(val * n_c) samples (fewer
 * than n_c), drawn with the seed; both parts keep the folder's order. */
static al_status split_val(const al_dataset *d, double val, uint64_t seed, al_dataset **train, al_dataset **test) {
    int n = al_dataset_size(d), K = al_dataset_num_classes(d);
    int *cls = malloc(sizeof(int) * (size_t)n), *held = calloc((size_t)n, sizeof(int));
    int *tr = malloc(sizeof(int) * (size_t)n), *te = malloc(sizeof(int) * (size_t)n);
    al_status st = AL_OK;
    if (!cls || !held || !tr || !te) {
        st = al_error(AL_ENOMEM, "out of memory");
        goto done;
    }
    al_rng rng;
    al_rng_seed(&rng, seed, 0x696d61676573ull); /* "images" */
    for (int k = 0; k < K; k++) {
        int nc = 0;
        for (int i = 0; i < n; i++)
            if (al_dataset_y(d, i)[0] == k) cls[nc++] = i;
        int take = (int)(val * nc + 0.5);
        if (take >= nc) take = nc - 1;
        for (int i = 0; i < take; i++) { /* a partial Fisher-Yates shuffle */
            int j = i + (int)al_rng_below(&rng, (uint32_t)(nc - i));
            int t = cls[i];
            cls[i] = cls[j];
            cls[j] = t;
            held[cls[i]] = 1;
        }
    }
    int ntr = 0, nte = 0;
    for (int i = 0; i < n; i++) {
        if (held[i])
            te[nte++] = i;
        else
            tr[ntr++] = i;
    }
    if (nte == 0) {
        st = al_error(AL_EINVAL, "--val %g holds out no image (too few images per class)", val);
        goto done;
    }
    if ((st = al_dataset_subset(d, tr, ntr, train)) == AL_OK && (st = al_dataset_subset(d, te, nte, test)) != AL_OK) {
        al_dataset_free(*train);
        *train = NULL;
    }
done:
    free(cls);
    free(held);
    free(tr);
    free(te);
    return st;
}

int cli_load_images(const char *cmd, const char *dir, const al_image_prep *p, const al_class_list *known,
                    int allow_new, const cli_image_opts *o, uint64_t seed, al_dataset **train, al_dataset **test,
                    al_class_list *names) {
    *train = NULL;
    if (test) *test = NULL;
    names->n = 0;
    names->names = NULL;
    al_image_report r;
    al_dataset *all = NULL;
    int nk = known ? known->n : 0;
    const char *const *kn = nk ? (const char *const *)known->names : NULL;
    al_status st = al_dataset_from_image_folder(dir, p, kn, nk, &r, &all);
    if (st != AL_OK) return cli_fail_lib(cmd, st);
    print_report(cmd, dir, all, &r);
    if (r.new_classes > 0 && nk > 0 && !allow_new) {
        int rc = cli_fail(cmd, "%s: class folder '%s' is not one of the model's %d classes%s", dir,
                          r.classes.names[nk], nk, r.new_classes > 1 ? " (nor are others)" : "");
        al_image_report_free(&r);
        al_dataset_free(all);
        return rc;
    }
    take_classes(&r, names);
    al_image_report_free(&r);
    if (test && o && o->test) {
        /* the test folder's classes are matched to the training folder's */
        al_dataset *t = NULL;
        st = al_dataset_from_image_folder(o->test, p, (const char *const *)names->names, names->n, &r, &t);
        if (st != AL_OK) {
            al_dataset_free(all);
            al_class_list_free(names);
            return cli_fail_lib(cmd, st);
        }
        print_report(cmd, o->test, t, &r);
        if (r.new_classes > 0) {
            int rc = cli_fail(cmd, "%s: class folder '%s' is not a class of %s", o->test, r.classes.names[names->n], dir);
            al_image_report_free(&r);
            al_dataset_free(all);
            al_dataset_free(t);
            al_class_list_free(names);
            return rc;
        }
        al_image_report_free(&r);
        *train = all;
        *test = t;
        return 0;
    }
    if (test && o && o->val > 0.0) {
        st = split_val(all, o->val, seed, train, test);
        al_dataset_free(all);
        if (st != AL_OK) {
            al_class_list_free(names);
            return cli_fail_lib(cmd, st);
        }
        fprintf(stderr, "%s: %d images for training, %d held out (--val %g)\n", dir, al_dataset_size(*train),
                al_dataset_size(*test), o->val);
        return 0;
    }
    *train = all;
    return 0;
}

int cli_model_set_images(const char *cmd, al_model *m, const al_image_prep *p, const al_class_list *names) {
    al_status st = al_model_set_image_prep(m, p);
    if (st == AL_OK && names && names->n > 0)
        st = al_model_set_classes(m, (const char *const *)names->names, names->n);
    return st == AL_OK ? 0 : cli_fail_lib(cmd, st);
}

int cli_check_classes(const char *cmd, const al_model *m, const al_class_list *names) {
    al_tensor os = al_model_output_shape(m);
    int outputs = os.ndim > 0 ? os.shape[os.ndim - 1] : 0;
    if (names->n == outputs) return 0;
    return cli_fail(cmd, "the image folder has %d classes but the model's output has %d: give an --arch whose last "
                         "layer has %d outputs (e.g. '... ; dense %d')",
                    names->n, outputs, names->n, names->n);
}

int cli_eval_images(const char *cmd, const al_model *m, const char *dir, const cli_image_opts *o, al_dataset **d) {
    al_image_prep p;
    int rc = cli_image_prep(cmd, m, o, &p);
    if (rc) return rc;
    al_class_list known = {0, NULL}, names = {0, NULL};
    al_status st = al_model_classes(m, &known);
    if (st != AL_OK) return cli_fail_lib(cmd, st);
    rc = cli_load_images(cmd, dir, &p, &known, 0, NULL, 0, d, NULL, &names);
    al_class_list_free(&known);
    if (rc) return rc;
    al_tensor os = al_model_output_shape(m);
    int outputs = os.ndim > 0 ? os.shape[os.ndim - 1] : 0;
    if (names.n > outputs) {
        rc = cli_fail(cmd, "%s has %d classes but the model's output has %d", dir, names.n, outputs);
        al_dataset_free(*d);
        *d = NULL;
    }
    al_class_list_free(&names);
    return rc;
}

int cli_load_calib(const char *cmd, const al_model *m, const char *dir, al_dataset **d) {
    *d = NULL;
    if (cli_is_image_folder(dir)) {
        cli_image_opts io;
        cli_image_opts_init(&io);
        return cli_eval_images(cmd, m, dir, &io, d);
    }
    al_status st = al_idx_load_dir(dir, 0, d);
    return st == AL_OK ? CLI_EXIT_OK : cli_fail_lib(cmd, st);
}
