/* A model's image preprocessing and class names, stored as metadata
 * (docs/FORMAT.md):
 *   autlearn.image.size    "CxHxW"            e.g. "3x32x32"
 *   autlearn.image.resize  "stretch" | "crop"
 *   autlearn.image.scale   a float            e.g. "0.00392156886"
 *   autlearn.image.mean    C floats, commas   e.g. "0.485,0.456,0.406"
 *   autlearn.image.std     C floats, commas
 *   autlearn.classes       the names joined by '\n' in output-index order
 * Floats are written with 9 significant digits, so they read back exactly. */
#include "train/train.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CLASS_NAME 255
#define MAX_CLASSES (1 << 16)

static void floats_str(const float *v, int n, char *buf, size_t cap) {
    size_t o = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && o < cap; i++) {
        int w = snprintf(buf + o, cap - o, i ? ",%.9g" : "%.9g", (double)v[i]);
        if (w < 0) break;
        o += (size_t)w;
    }
}

al_status al_model_set_image_prep(al_model *m, const al_image_prep *p) {
    if (!m || !p) return al_error(AL_EINVAL, "al_model_set_image_prep: NULL argument");
    al_status st = al_image_prep_check(p);
    if (st != AL_OK) return st;
    char buf[160];
    snprintf(buf, sizeof buf, "%dx%dx%d", p->channels, p->height, p->width);
    if ((st = al_model_set_meta(m, "autlearn.image.size", buf)) != AL_OK) return st;
    if ((st = al_model_set_meta(m, "autlearn.image.resize", p->resize == AL_RESIZE_CROP ? "crop" : "stretch")))
        return st;
    snprintf(buf, sizeof buf, "%.9g", (double)p->scale);
    if ((st = al_model_set_meta(m, "autlearn.image.scale", buf)) != AL_OK) return st;
    floats_str(p->mean, p->channels, buf, sizeof buf);
    if ((st = al_model_set_meta(m, "autlearn.image.mean", buf)) != AL_OK) return st;
    floats_str(p->std, p->channels, buf, sizeof buf);
    return al_model_set_meta(m, "autlearn.image.std", buf);
}

/* n comma-separated finite floats, nothing else. */
static int parse_floats(const char *s, float *v, int n) {
    if (!s) return 0;
    for (int i = 0; i < n; i++) {
        if (!*s || *s == ' ' || *s == '\t') return 0;
        char *end;
        errno = 0;
        double d = strtod(s, &end);
        if (end == s || errno || !(d > -1e30 && d < 1e30)) return 0;
        v[i] = (float)d;
        s = end;
        if (i + 1 < n) {
            if (*s != ',') return 0;
            s++;
        }
    }
    return *s == '\0';
}

/* In place of sscanf's %d, which took signs and spaces and is undefined
 * past INT_MAX. max is at most INT_MAX. */
int al_parse_sizes(const char *s, int *v, int n, long max) {
    for (int i = 0; i < n; i++) {
        long x = 0;
        const char *d = s;
        while (*s >= '0' && *s <= '9') {
            x = x * 10 + (*s++ - '0');
            if (x > max) return 0;
        }
        if (s == d || x < 1) return 0;
        v[i] = (int)x;
        if (i + 1 < n && *s++ != 'x') return 0;
    }
    return *s == '\0';
}

al_status al_model_image_prep(const al_model *m, al_image_prep *out) {
    if (!m || !out) return al_error(AL_EINVAL, "al_model_image_prep: NULL argument");
    const char *size = al_model_meta(m, "autlearn.image.size");
    if (!size) return al_error(AL_ESTATE, "the model holds no image preprocessing (autlearn.image.*)");
    int d[3];
    /* each 1..2^30 here; al_image_prep_check bounds them further */
    if (!al_parse_sizes(size, d, 3, 1L << 30)) return al_error(AL_EFORMAT, "autlearn.image.size '%s' is not CxHxW", size);
    int c = d[0], h = d[1], w = d[2];
    al_image_prep p;
    al_image_prep_default(&p, c, h, w);
    const char *rs = al_model_meta(m, "autlearn.image.resize");
    if (!rs || !strcmp(rs, "stretch"))
        p.resize = AL_RESIZE_STRETCH;
    else if (!strcmp(rs, "crop"))
        p.resize = AL_RESIZE_CROP;
    else
        return al_error(AL_EFORMAT, "autlearn.image.resize '%s' is neither stretch nor crop", rs);
    int nc = c == 1 || c == 3 ? c : 1;
    const char *sc = al_model_meta(m, "autlearn.image.scale"), *mean = al_model_meta(m, "autlearn.image.mean"),
               *sd = al_model_meta(m, "autlearn.image.std");
    if (sc && !parse_floats(sc, &p.scale, 1)) return al_error(AL_EFORMAT, "autlearn.image.scale '%s' is not a number", sc);
    if (mean && !parse_floats(mean, p.mean, nc))
        return al_error(AL_EFORMAT, "autlearn.image.mean '%s' is not %d comma-separated numbers", mean, nc);
    if (sd && !parse_floats(sd, p.std, nc))
        return al_error(AL_EFORMAT, "autlearn.image.std '%s' is not %d comma-separated numbers", sd, nc);
    al_status st = al_image_prep_check(&p);
    if (st != AL_OK) return al_error(AL_EFORMAT, "the model's autlearn.image.* keys: %s", al_last_error());
    *out = p;
    return AL_OK;
}

void al_class_list_free(al_class_list *l) {
    if (!l) return;
    for (int i = 0; i < l->n; i++) al_free(l->names[i]);
    al_free(l->names);
    l->n = 0;
    l->names = NULL;
}

static int by_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The first name that appears twice, or NULL (sorting a copy of the pointers). */
static const char *find_dup(const char *const *names, int n, al_status *st) {
    *st = AL_OK;
    if (n < 2) return NULL;
    const char **c = al_malloc(sizeof(char *) * (size_t)n);
    if (!c) {
        *st = AL_ENOMEM;
        return NULL;
    }
    memcpy(c, names, sizeof(char *) * (size_t)n);
    qsort(c, (size_t)n, sizeof(char *), by_str);
    const char *d = NULL;
    for (int i = 1; i < n && !d; i++)
        if (!strcmp(c[i - 1], c[i])) d = c[i];
    al_free(c);
    return d;
}

static int bad_name(const char *s, size_t n) {
    if (n < 1 || n > MAX_CLASS_NAME) return 1;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '\n' || s[i] == '\r' || s[i] == '/' || s[i] == '\0') return 1;
    return 0;
}

al_status al_model_set_classes(al_model *m, const char *const *names, int n) {
    if (!m || (n > 0 && !names)) return al_error(AL_EINVAL, "al_model_set_classes: NULL argument");
    if (n < 1 || n > MAX_CLASSES) return al_error(AL_ERANGE, "class count %d is out of range 1..%d", n, MAX_CLASSES);
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        if (!names[i] || bad_name(names[i], strlen(names[i])))
            return al_error(AL_EINVAL, "class name %d is not valid (1..%d bytes, no line breaks or '/')", i,
                            MAX_CLASS_NAME);
        total += strlen(names[i]) + 1;
    }
    al_status st;
    const char *dup = find_dup(names, n, &st);
    if (st != AL_OK) return st;
    if (dup) return al_error(AL_EINVAL, "class name '%s' appears twice", dup);
    char *s = al_malloc(total);
    if (!s) return AL_ENOMEM;
    size_t o = 0;
    for (int i = 0; i < n; i++) {
        size_t l = strlen(names[i]);
        memcpy(s + o, names[i], l);
        o += l;
        s[o++] = i + 1 < n ? '\n' : '\0';
    }
    st = al_model_set_meta(m, "autlearn.classes", s);
    al_free(s);
    return st;
}

al_status al_model_classes(const al_model *m, al_class_list *out) {
    if (!m || !out) return al_error(AL_EINVAL, "al_model_classes: NULL argument");
    out->n = 0;
    out->names = NULL;
    const char *s = al_model_meta(m, "autlearn.classes");
    if (!s) return AL_OK;
    int n = 1;
    for (const char *q = s; *q; q++) n += *q == '\n';
    if (n > MAX_CLASSES) return al_error(AL_EFORMAT, "autlearn.classes holds more than %d names", MAX_CLASSES);
    char **v = al_calloc((size_t)n, sizeof(char *));
    if (!v) return AL_ENOMEM;
    al_class_list l = {0, v};
    const char *q = s;
    for (int i = 0; i < n; i++) {
        const char *e = strchr(q, '\n');
        size_t len = e ? (size_t)(e - q) : strlen(q);
        if (bad_name(q, len)) {
            al_class_list_free(&l);
            return al_error(AL_EFORMAT, "autlearn.classes: name %d is empty or longer than %d bytes", i, MAX_CLASS_NAME);
        }
        if (!(v[i] = al_malloc(len + 1))) {
            al_class_list_free(&l);
            return AL_ENOMEM;
        }
        memcpy(v[i], q, len);
        v[i][len] = '\0';
        l.n = i + 1;
        q = e ? e + 1 : q + len;
    }
    al_status st;
    const char *dup = find_dup((const char *const *)v, n, &st);
    if (st != AL_OK || dup) {
        if (dup) st = al_error(AL_EFORMAT, "autlearn.classes: '%s' appears twice", dup);
        al_class_list_free(&l);
        return st;
    }
    *out = l;
    return AL_OK;
}
