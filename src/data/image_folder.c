/* Image datasets: an image folder (one subfolder per class), a list of files
 * with labels, decoded pixel buffers (Android's RGBA bytes or ARGB ints).
 * What is an error and what is a skipped file with a warning is listed in
 * docs/DATA.md; the library never prints, so warnings go to the caller in
 * an al_image_report. */
#include "data/data.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define MAX_FILES (1 << 20)
#define MAX_CLASSES (1 << 16)
#define MAX_NAME 255

/* ---- string lists ------------------------------------------------------------------ */

typedef struct strs {
    char **v;
    int n, cap;
} strs;

static void strs_free(strs *s) {
    for (int i = 0; i < s->n; i++) al_free(s->v[i]);
    al_free(s->v);
    memset(s, 0, sizeof *s);
}

/* Takes ownership of str (freed on failure). */
static al_status strs_take(strs *s, char *str) {
    if (!str) return AL_ENOMEM;
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 16;
        char **v = al_malloc(sizeof(char *) * (size_t)cap);
        if (!v) {
            al_free(str);
            return AL_ENOMEM;
        }
        if (s->n) memcpy(v, s->v, sizeof(char *) * (size_t)s->n);
        al_free(s->v);
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = str;
    return AL_OK;
}

static char *fmt_str(const char *a, const char *sep, const char *b) {
    size_t la = strlen(a), ls = strlen(sep), lb = strlen(b);
    char *s = al_malloc(la + ls + lb + 1);
    if (!s) return NULL;
    memcpy(s, a, la);
    memcpy(s + la, sep, ls);
    memcpy(s + la + ls, b, lb + 1);
    return s;
}

static int by_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* A known class name and its index, sorted by name, then index: folders
 * find their label by binary search, not by a scan of every known name
 * (up to MAX_CLASSES of each). */
typedef struct known_ix {
    const char *name;
    int i;
} known_ix;

static int by_known(const void *a, const void *b) {
    const known_ix *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->i > y->i) - (x->i < y->i);
}

/* The index of name among the n sorted known names (the lowest of equal
 * ones, as a scan in order finds), or -1. */
static int known_find(const known_ix *k, int n, const char *name) {
    int lo = 0, hi = n;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (strcmp(k[mid].name, name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && !strcmp(k[lo].name, name) ? k[lo].i : -1;
}

/* A folder by its label, then its place in name order. */
typedef struct folder_ix {
    int label, i;
} folder_ix;

static int by_label(const void *a, const void *b) {
    const folder_ix *x = a, *y = b;
    if (x->label != y->label) return (x->label > y->label) - (x->label < y->label);
    return (x->i > y->i) - (x->i < y->i);
}

void al_image_report_free(al_image_report *r) {
    if (!r) return;
    for (int i = 0; i < r->n_warnings; i++) al_free(r->warnings[i]);
    al_free(r->warnings);
    for (int i = 0; i < r->classes.n; i++) al_free(r->classes.names[i]);
    al_free(r->classes.names);
    memset(r, 0, sizeof *r);
}

/* The report's lists come from strs (moved in). */
typedef struct rep_acc {
    strs warn;
    int skipped, ignored, empty;
} rep_acc;

static al_status warn(rep_acc *ra, const char *path, const char *reason) {
    return strs_take(&ra->warn, fmt_str(path, ": ", reason));
}

static int has_image_ext(const char *name) {
    const char *dot = strrchr(name, '.');
    if (!dot || dot == name) return 0;
    return !strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg") || !strcasecmp(dot, ".png");
}

static al_status prep_shape(const al_image_prep *p, al_shape *xs) {
    al_status st = al_image_prep_check(p);
    if (st != AL_OK) return st;
    memset(xs, 0, sizeof *xs);
    xs->ndim = 3;
    xs->d[0] = p->channels;
    xs->d[1] = p->height;
    xs->d[2] = p->width;
    return AL_OK;
}

/* Decodes and preprocesses paths[i] (label labels[i]) into a dataset;
 * unusable files are skipped with a warning; running out of memory ends
 * the load. counts[c] (if not NULL) receives the images kept per class. */
static al_status load_files(char *const *paths, const int32_t *labels, int n, int num_classes, const al_image_prep *p,
                            rep_acc *ra, int *counts, al_dataset **out) {
    al_shape xs;
    al_status st = prep_shape(p, &xs);
    if (st != AL_OK) return st;
    al_dataset *d;
    if ((st = al_dataset_alloc(n, &xs, 1, num_classes, &d)) != AL_OK) return st;
    size_t numel = al_shape_numel(&xs);
    int k = 0;
    for (int i = 0; i < n; i++) {
        al_image img;
        st = al_image_read(paths[i], &img);
        if (st == AL_OK) {
            st = al_image_preprocess(&img, p, d->x + (size_t)k * numel);
            al_image_free(&img);
        }
        if (st == AL_ENOMEM) break;
        if (st != AL_OK) {
            ra->skipped++;
            /* al_image_read's messages name the path already */
            const char *msg = al_last_error();
            size_t lp = strlen(paths[i]);
            st = strncmp(msg, paths[i], lp) == 0 ? strs_take(&ra->warn, al_strdup(msg)) : warn(ra, paths[i], msg);
            if (st != AL_OK) break;
            continue;
        }
        d->y[k] = labels[i];
        if (counts) counts[labels[i]]++;
        k++;
    }
    if (st != AL_OK) {
        al_dataset_free(d);
        return st;
    }
    d->n = k;
    *out = d;
    return AL_OK;
}

static void report_fill(al_image_report *rep, rep_acc *ra, strs *classes, int new_classes) {
    if (!rep) {
        strs_free(&ra->warn);
        if (classes) strs_free(classes);
        return;
    }
    rep->skipped = ra->skipped;
    rep->ignored = ra->ignored;
    rep->empty_classes = ra->empty;
    rep->new_classes = new_classes;
    rep->n_warnings = ra->warn.n;
    rep->warnings = ra->warn.v;
    memset(&ra->warn, 0, sizeof ra->warn);
    if (classes) {
        rep->classes.n = classes->n;
        rep->classes.names = classes->v;
        memset(classes, 0, sizeof *classes);
    }
}

static int valid_class_name(const char *s) {
    size_t n = strlen(s);
    if (n < 1 || n > MAX_NAME) return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '\n' || s[i] == '\r' || s[i] == '/') return 0;
    return 1;
}

/* Entries of dir, sorted, without "." and "..". */
static al_status list_dir(const char *dir, strs *names) {
    DIR *dh = opendir(dir);
    if (!dh) return al_error(AL_EIO, "cannot open folder %s: %s", dir, strerror(errno));
    struct dirent *de;
    al_status st = AL_OK;
    while ((de = readdir(dh)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        if (names->n >= MAX_FILES) {
            st = al_error(AL_ERANGE, "folder %s has more than %d entries", dir, MAX_FILES);
            break;
        }
        if ((st = strs_take(names, al_strdup(de->d_name))) != AL_OK) break;
    }
    closedir(dh);
    if (st == AL_OK && names->n > 1) qsort(names->v, (size_t)names->n, sizeof(char *), by_str);
    return st;
}

al_status al_dataset_from_image_folder(const char *dir, const al_image_prep *p, const char *const *known, int n_known,
                                       al_image_report *rep, al_dataset **out) {
    if (rep) memset(rep, 0, sizeof *rep);
    if (!out) return al_error(AL_EINVAL, "al_dataset_from_image_folder: out is NULL");
    *out = NULL;
    if (!dir || (n_known > 0 && !known) || n_known < 0)
        return al_error(AL_EINVAL, "al_dataset_from_image_folder: NULL argument");
    if (n_known > MAX_CLASSES) return al_error(AL_ERANGE, "more than %d known classes", MAX_CLASSES);
    al_shape xs;
    al_status st = prep_shape(p, &xs);
    if (st != AL_OK) return st;
    if (!al_images_supported()) return al_error(AL_EUNSUPPORTED, "this build has no image decoders (cmake -DAL_IMAGES=ON)");
    rep_acc ra;
    memset(&ra, 0, sizeof ra);
    strs entries = {0}, folders = {0}, classes = {0}, files = {0};
    int *label_of = NULL, *counts = NULL;
    int32_t *labels = NULL;
    char *path = NULL;
    if ((st = list_dir(dir, &entries)) != AL_OK) goto done;
    for (int i = 0; i < entries.n; i++) {
        const char *nm = entries.v[i];
        if (nm[0] == '.') {
            ra.ignored++;
            continue;
        }
        al_free(path);
        if (!(path = fmt_str(dir, "/", nm))) {
            st = AL_ENOMEM;
            goto done;
        }
        struct stat sb;
        if (stat(path, &sb) != 0) { /* a dangling link or a symlink loop */
            ra.ignored++;
            if ((st = warn(&ra, path, strerror(errno))) != AL_OK) goto done;
            continue;
        }
        if (!S_ISDIR(sb.st_mode)) {
            ra.ignored++;
            continue;
        }
        if (!valid_class_name(nm)) {
            st = al_error(AL_EINVAL, "class folder name '%s' in %s is not a valid class name (1..%d bytes, no line breaks)",
                          nm, dir, MAX_NAME);
            goto done;
        }
        if (folders.n >= MAX_CLASSES) {
            st = al_error(AL_ERANGE, "%s has more than %d class folders", dir, MAX_CLASSES);
            goto done;
        }
        if ((st = strs_take(&folders, al_strdup(nm))) != AL_OK) goto done;
    }
    if (!known && folders.n < 2) {
        st = al_error(AL_EINVAL,
                      "image folder %s has %d class subfolder%s; at least 2 are needed (one subfolder per class, "
                      "named by the class)",
                      dir, folders.n, folders.n == 1 ? "" : "s");
        goto done;
    }
    if (folders.n < 1) {
        st = al_error(AL_EINVAL, "image folder %s has no class subfolders (one subfolder per class)", dir);
        goto done;
    }
    /* labels: the known classes' indices, then the new names in order */
    for (int i = 0; i < n_known; i++) {
        if (!known[i] || !valid_class_name(known[i])) {
            st = al_error(AL_EINVAL, "known class %d is not a valid class name", i);
            goto done;
        }
        if ((st = strs_take(&classes, al_strdup(known[i]))) != AL_OK) goto done;
    }
    label_of = al_malloc(sizeof(int) * (size_t)folders.n);
    known_ix *kx = al_malloc(sizeof *kx * (size_t)(n_known > 0 ? n_known : 1));
    if (!label_of || !kx) {
        al_free(kx);
        st = AL_ENOMEM;
        goto done;
    }
    for (int k = 0; k < n_known; k++) kx[k] = (known_ix){known[k], k};
    if (n_known > 1) qsort(kx, (size_t)n_known, sizeof *kx, by_known);
    int new_classes = 0;
    for (int i = 0; i < folders.n && st == AL_OK; i++) {
        int l = known_find(kx, n_known, folders.v[i]);
        if (l < 0) {
            l = classes.n;
            new_classes++;
            st = strs_take(&classes, al_strdup(folders.v[i]));
        }
        label_of[i] = l;
    }
    al_free(kx);
    if (st != AL_OK) goto done;
    /* the files, class by class in label order, by name within a class */
    folder_ix *order = al_malloc(sizeof *order * (size_t)folders.n);
    if (!order) {
        st = AL_ENOMEM;
        goto done;
    }
    for (int i = 0; i < folders.n; i++) order[i] = (folder_ix){label_of[i], i};
    qsort(order, (size_t)folders.n, sizeof *order, by_label);
    int cap = 0;
    for (int oi = 0; oi < folders.n && st == AL_OK; oi++) {
        int fi = order[oi].i;
        char *cdir = fmt_str(dir, "/", folders.v[fi]);
        strs names = {0};
        if (!cdir) st = AL_ENOMEM;
        if (st == AL_OK) {
            st = list_dir(cdir, &names);
            if (st != AL_OK && st != AL_ENOMEM) { /* an unreadable class folder: skipped, its class empty */
                st = strs_take(&ra.warn, al_strdup(al_last_error()));
                ra.skipped++;
            }
        }
        for (int k = 0; k < names.n && st == AL_OK; k++) {
            if (names.v[k][0] == '.' || !has_image_ext(names.v[k])) {
                ra.ignored++;
                continue;
            }
            char *fp = fmt_str(cdir, "/", names.v[k]);
            struct stat sb;
            if (fp && stat(fp, &sb) == 0 && S_ISDIR(sb.st_mode)) {
                ra.ignored++;
                al_free(fp);
                continue;
            }
            if (files.n >= MAX_FILES) {
                al_free(fp);
                st = al_error(AL_ERANGE, "%s holds more than %d images", dir, MAX_FILES);
                break;
            }
            if ((st = strs_take(&files, fp)) != AL_OK) break;
            if (files.n > cap) {
                int ncap = cap ? 2 * cap : 256;
                int32_t *nl = al_malloc(sizeof(int32_t) * (size_t)ncap);
                if (!nl) {
                    st = AL_ENOMEM;
                    break;
                }
                if (cap) memcpy(nl, labels, sizeof(int32_t) * (size_t)cap);
                al_free(labels);
                labels = nl;
                cap = ncap;
            }
            labels[files.n - 1] = label_of[fi];
        }
        strs_free(&names);
        al_free(cdir);
    }
    al_free(order);
    if (st != AL_OK) goto done;
    counts = al_calloc((size_t)classes.n, sizeof(int));
    if (!counts) {
        st = AL_ENOMEM;
        goto done;
    }
    al_dataset *d = NULL;
    if ((st = load_files(files.v, labels, files.n, classes.n, p, &ra, counts, &d)) != AL_OK) goto done;
    if (d->n == 0) {
        al_dataset_free(d);
        st = al_error(AL_EINVAL, "image folder %s holds no usable .jpg, .jpeg or .png image (%d skipped)", dir,
                      ra.skipped);
        goto done;
    }
    for (int i = 0; i < folders.n && st == AL_OK; i++)
        if (counts[label_of[i]] == 0) {
            ra.empty++;
            char *cdir = fmt_str(dir, "/", folders.v[i]);
            st = cdir ? warn(&ra, cdir, "no usable image: the class has no samples") : AL_ENOMEM;
            al_free(cdir);
        }
    if (st != AL_OK) {
        al_dataset_free(d);
        goto done;
    }
    *out = d;
    report_fill(rep, &ra, &classes, new_classes);
done:
    strs_free(&ra.warn);
    strs_free(&entries);
    strs_free(&folders);
    strs_free(&classes);
    strs_free(&files);
    al_free(label_of);
    al_free(counts);
    al_free(labels);
    al_free(path);
    return st;
}

al_status al_dataset_from_image_files(const char *const *paths, const int32_t *labels, int n, int num_classes,
                                      const al_image_prep *p, al_image_report *rep, al_dataset **out) {
    if (rep) memset(rep, 0, sizeof *rep);
    if (!out) return al_error(AL_EINVAL, "al_dataset_from_image_files: out is NULL");
    *out = NULL;
    if (n < 0 || n > MAX_FILES) return al_error(AL_ERANGE, "image count %d is out of range 0..%d", n, MAX_FILES);
    if (n > 0 && (!paths || !labels)) return al_error(AL_EINVAL, "al_dataset_from_image_files: NULL argument");
    if (num_classes < 1) return al_error(AL_ERANGE, "number of classes must be positive, got %d", num_classes);
    for (int i = 0; i < n; i++) {
        if (!paths[i]) return al_error(AL_EINVAL, "image path %d is NULL", i);
        if (labels[i] < 0 || labels[i] >= num_classes)
            return al_error(AL_ERANGE, "label %d of image %d (%s) is out of range 0..%d", (int)labels[i], i, paths[i],
                            num_classes - 1);
    }
    al_shape xs;
    al_status st = prep_shape(p, &xs);
    if (st != AL_OK) return st;
    if (!al_images_supported()) return al_error(AL_EUNSUPPORTED, "this build has no image decoders (cmake -DAL_IMAGES=ON)");
    rep_acc ra;
    memset(&ra, 0, sizeof ra);
    st = load_files((char *const *)paths, labels, n, num_classes, p, &ra, NULL, out);
    if (st == AL_OK) report_fill(rep, &ra, NULL, 0);
    strs_free(&ra.warn);
    return st;
}

al_status al_dataset_from_pixels(const void *const *pixels, const int *widths, const int *heights, const int *strides,
                                 al_pixel_format fmt, const int32_t *labels, int n, int num_classes,
                                 const al_image_prep *p, al_dataset **out) {
    if (!out) return al_error(AL_EINVAL, "al_dataset_from_pixels: out is NULL");
    *out = NULL;
    if (n < 0 || n > MAX_FILES) return al_error(AL_ERANGE, "image count %d is out of range 0..%d", n, MAX_FILES);
    if (n > 0 && (!pixels || !widths || !heights || !strides || !labels))
        return al_error(AL_EINVAL, "al_dataset_from_pixels: NULL argument");
    if (fmt != AL_PIXELS_RGBA && fmt != AL_PIXELS_ARGB)
        return al_error(AL_EINVAL, "al_dataset_from_pixels: unknown pixel format %d", (int)fmt);
    if (num_classes < 1) return al_error(AL_ERANGE, "number of classes must be positive, got %d", num_classes);
    for (int i = 0; i < n; i++) {
        if (!pixels[i]) return al_error(AL_EINVAL, "pixels of image %d are NULL", i);
        if (widths[i] < 1 || heights[i] < 1 || widths[i] > AL_IMAGE_MAX_SIDE || heights[i] > AL_IMAGE_MAX_SIDE ||
            (long long)widths[i] * heights[i] > AL_IMAGE_MAX_PIXELS)
            return al_error(AL_ERANGE, "image %d: %dx%d pixels is out of range", i, widths[i], heights[i]);
        if (strides[i] < 4 * widths[i] || (fmt == AL_PIXELS_ARGB && strides[i] % 4 != 0))
            return al_error(AL_EINVAL, "image %d: a row stride of %d bytes is too small for %d pixels%s", i,
                            strides[i], widths[i], fmt == AL_PIXELS_ARGB ? " (or not a multiple of 4)" : "");
        if (labels[i] < 0 || labels[i] >= num_classes)
            return al_error(AL_ERANGE, "label %d of image %d is out of range 0..%d", (int)labels[i], i,
                            num_classes - 1);
    }
    al_shape xs;
    al_status st = prep_shape(p, &xs);
    if (st != AL_OK) return st;
    al_dataset *d;
    if ((st = al_dataset_alloc(n, &xs, 1, num_classes, &d)) != AL_OK) return st;
    size_t numel = al_shape_numel(&xs);
    for (int i = 0; i < n && st == AL_OK; i++) {
        int w = widths[i], h = heights[i];
        al_image img = {w, h, 3, al_malloc((size_t)w * h * 3)};
        if (!img.pixels) {
            st = AL_ENOMEM;
            break;
        }
        const uint8_t *base = pixels[i];
        for (int y = 0; y < h; y++) {
            const uint8_t *r = base + (size_t)y * (size_t)strides[i];
            uint8_t *o = img.pixels + (size_t)y * w * 3;
            for (int x = 0; x < w; x++) {
                if (fmt == AL_PIXELS_RGBA) {
                    o[3 * x] = r[4 * x];
                    o[3 * x + 1] = r[4 * x + 1];
                    o[3 * x + 2] = r[4 * x + 2];
                } else {
                    uint32_t v;
                    memcpy(&v, r + 4 * (size_t)x, 4);
                    o[3 * x] = (uint8_t)(v >> 16);
                    o[3 * x + 1] = (uint8_t)(v >> 8);
                    o[3 * x + 2] = (uint8_t)v;
                }
            }
        }
        st = al_image_preprocess(&img, p, d->x + (size_t)i * numel);
        al_image_free(&img);
        d->y[i] = labels[i];
    }
    if (st != AL_OK) {
        al_dataset_free(d);
        return st;
    }
    *out = d;
    return AL_OK;
}
