/* The user's own data for `autlearn personalize` without --user: a training
 * set and a test set with class names, matched to the model's classes by
 * name. The source is an image folder (the user's photos: read with the
 * model's stored preprocessing, the test images from --test FOLDER or a
 * held-out --val fraction) or an IDX directory (its training split; the
 * test split of --test DIR, else of the same directory), whose classes are
 * named by their label numbers. */
#include "cli.h"
#include "train/train.h" /* al_error */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cli_own_free(cli_own *o) {
    if (!o) return;
    al_dataset_free(o->train);
    al_dataset_free(o->test);
    for (int j = 0; j < o->nnames; j++) free(o->names[j]);
    free(o->names);
    free(o->new_names);
    memset(o, 0, sizeof *o);
}

/* Names "0".."n-1": an IDX file's classes are its label numbers. */
static al_status number_names(cli_own *o, int n) {
    o->names = calloc((size_t)n, sizeof *o->names);
    if (!o->names) return al_error(AL_ENOMEM, "no memory for %d class names", n);
    o->nnames = n;
    for (int j = 0; j < n; j++) {
        char b[16];
        snprintf(b, sizeof b, "%d", j);
        if (!(o->names[j] = strdup(b))) return al_error(AL_ENOMEM, "no memory for class names");
    }
    return AL_OK;
}

/* The model's class names (its autlearn.classes, else the label numbers),
 * allocated here: free with free_names, not the library's
 * al_class_list_free (personalize counts the library's allocations). */
static al_status model_names(const al_model *m, al_class_list *l) {
    int n = al_model_num_classes(m);
    l->n = 0;
    l->names = NULL;
    /* an image folder's classes (al_dataset_from_image_folder): a model of
     * 2^26 outputs (a 6 KB file) asked for 2^26 names here */
    if (n > 65536) return al_error(AL_ERANGE, "the model has %d outputs, more than the 65536 classes of images", n);
    l->names = calloc((size_t)(n > 0 ? n : 1), sizeof *l->names);
    if (!l->names) return al_error(AL_ENOMEM, "no memory for %d class names", n);
    /* one walk over the list (al_model_class_name walks it from its first
     * line for each class) */
    const char *s = al_model_meta(m, "autlearn.classes");
    for (; l->n < n; l->n++) {
        char b[AL_CLASS_NAME_MAX];
        al_status st = al_class_name_next(&s, l->n, b);
        if (st) return st;
        if (!(l->names[l->n] = strdup(b))) return al_error(AL_ENOMEM, "no memory for class names");
    }
    return AL_OK;
}

static void free_names(al_class_list *l) {
    for (int j = 0; j < l->n; j++) free(l->names[j]);
    free(l->names);
    l->n = 0;
    l->names = NULL;
}

/* An image folder: the model's preprocessing (none stored: refused, the
 * device must read images exactly as the cloud did), class folders matched
 * to the model's classes by name, unknown ones kept as new classes. */
static int own_images(const char *cmd, const al_model *m, const char *data, const cli_image_opts *img,
                      uint64_t seed, cli_own *o) {
    al_image_prep p;
    al_status st = al_model_image_prep(m, &p);
    if (st == AL_ESTATE)
        return cli_fail(cmd, "%s is an image folder, but the model holds no image preprocessing (autlearn.image.*): "
                             "train or pretrain it on an image folder, or give 'autlearn import' --input-size, "
                             "--mean and --std", data);
    if (st) return cli_fail_lib(cmd, st);
    al_class_list known = {0, NULL}, names = {0, NULL};
    if ((st = model_names(m, &known)) != AL_OK) {
        free_names(&known);
        return cli_fail_lib(cmd, st);
    }
    cli_image_opts io = *img;
    if (!io.test && io.val <= 0.0) io.val = CLI_OWN_VAL;
    int rc = cli_load_images(cmd, data, &p, &known, 1, &io, seed, &o->train, &o->test, &names);
    free_names(&known);
    if (rc) return rc;
    o->images = 1;
    /* the names the library allocated, copied into ours */
    o->names = calloc((size_t)(names.n > 0 ? names.n : 1), sizeof *o->names);
    for (int j = 0; o->names && j < names.n; j++, o->nnames++)
        if (!(o->names[j] = strdup(names.names[j]))) break;
    int n = names.n;
    al_class_list_free(&names);
    return o->nnames == n ? 0 : cli_fail(cmd, "no memory for %d class names", n);
}

int cli_own_load(const char *cmd, const al_model *m, const char *data, const cli_image_opts *img, uint64_t seed,
                 cli_own *o) {
    memset(o, 0, sizeof *o);
    const char *test = img->test;
    int rc = 0;
    if (cli_is_image_folder(data)) {
        if (test && !cli_is_image_folder(test))
            return cli_usage_error(cmd, "--test %s: --data is an image folder, so --test must be one too", test);
        if ((rc = own_images(cmd, m, data, img, seed, o)) != 0) return rc;
    } else {
        if (img->val > 0.0) return cli_usage_error(cmd, "--val is for image folders; %s is not one", data);
        if (test && cli_is_image_folder(test))
            return cli_usage_error(cmd, "--test %s is an image folder, but --data %s is not one", test, data);
        al_status st = al_idx_load_dir(data, 0, &o->train);
        if (!st) st = al_idx_load_dir(test ? test : data, 1, &o->test);
        if (st) return cli_fail_lib(cmd, st);
    }
    const char *tname = test ? test : data;
    if (al_dataset_size(o->train) == 0) return cli_fail(cmd, "%s: the training data is empty", data);
    if (al_dataset_size(o->test) == 0) return cli_fail(cmd, "%s: the test data is empty", tname);
    if (al_dataset_y_len(o->train) != 1 || al_dataset_y_len(o->test) != 1)
        return cli_fail(cmd, "personalizing a classifier needs one label per sample");
    if (o->images) return 0;
    int n = al_dataset_num_classes(o->train), nt = al_dataset_num_classes(o->test);
    al_status st = number_names(o, n > nt ? n : nt);
    return st ? cli_fail_lib(cmd, st) : 0;
}

/* 1 when some sample of d has label j. */
static int has_label(const al_dataset *d, int j) {
    for (int i = 0; i < al_dataset_size(d); i++)
        if (al_dataset_y(d, i)[0] == j) return 1;
    return 0;
}

al_status cli_own_match(cli_own *o, const al_model *m) {
    int n = o->nnames, unknown = 0;
    int *map = malloc(sizeof(int) * (size_t)(n > 0 ? n : 1));
    o->new_names = malloc(sizeof(char *) * (size_t)(n > 0 ? n : 1));
    if (!map || !o->new_names) {
        free(map);
        return al_error(AL_ENOMEM, "no memory for %d classes", n);
    }
    o->classes_before = al_model_num_classes(m);
    al_status st = al_model_match_classes(m, (const char *const *)o->names, n, map, &unknown);
    o->n_new = 0;
    /* the training data's classes the model lacks become new outputs, in
     * the data's order; a test class nobody knows cannot be scored */
    for (int j = 0; j < n && st == AL_OK; j++) {
        if (map[j] >= 0) continue;
        if (has_label(o->train, j)) {
            map[j] = o->classes_before + o->n_new;
            o->new_names[o->n_new++] = o->names[j];
        } else if (has_label(o->test, j)) {
            st = al_error(AL_EINVAL, "the test data has class '%s', which neither the model nor the training data has",
                          o->names[j]);
        }
    }
    int classes = o->classes_before + o->n_new;
    if (!st) st = al_dataset_map_labels(o->train, map, n, classes);
    if (!st) st = al_dataset_map_labels(o->test, map, n, classes);
    free(map);
    return st;
}

/* The samples of d whose label is below k (old = 1) or at or past it. */
static al_status split_at(const al_dataset *d, int k, int old, al_dataset **out) {
    int n = al_dataset_size(d), c = 0;
    int *idx = malloc(sizeof(int) * (size_t)(n > 0 ? n : 1));
    if (!idx) return al_error(AL_ENOMEM, "no memory for %d indices", n);
    for (int i = 0; i < n; i++)
        if ((al_dataset_y(d, i)[0] < k) == old) idx[c++] = i;
    al_status st = al_dataset_subset(d, idx, c, out);
    free(idx);
    return st;
}

al_status cli_own_split(const cli_own *o, al_dataset **old_test, al_dataset **new_test) {
    *old_test = *new_test = NULL;
    al_status st = split_at(o->test, o->classes_before, 1, old_test);
    if (!st) st = split_at(o->test, o->classes_before, 0, new_test);
    return st;
}
