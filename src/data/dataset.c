/* In-memory datasets: n samples of a per-sample input shape (x, float) and
 * y_len int32 labels each (one class, or one per time step; < 0 = ignore).
 * Samples are stored contiguously, so a run of consecutive samples is one
 * (count, numel(xs)) matrix that evaluation can feed without copying. */
#include "data/data.h"

#include <string.h>

void al_dataset_free(al_dataset *d) {
    if (!d) return;
    al_free(d->x);
    al_free(d->y);
    al_free(d);
}

int al_dataset_size(const al_dataset *d) { return d ? d->n : 0; }

al_tensor al_dataset_x_shape(const al_dataset *d) {
    al_tensor t = {0};
    if (!d) return t;
    t.ndim = d->xs.ndim;
    for (int i = 0; i < d->xs.ndim; i++) t.shape[i] = d->xs.d[i];
    return t;
}

int al_dataset_y_len(const al_dataset *d) { return d ? d->y_len : 0; }
int al_dataset_num_classes(const al_dataset *d) { return d ? d->num_classes : 0; }

const float *al_dataset_x(const al_dataset *d, int i) {
    if (!d || i < 0 || i >= d->n) return NULL;
    return d->x + (size_t)i * al_shape_numel(&d->xs);
}

const int32_t *al_dataset_y(const al_dataset *d, int i) {
    if (!d || i < 0 || i >= d->n) return NULL;
    return d->y + (size_t)i * (size_t)d->y_len;
}

/* Per-sample input sizes are capped like a model's input (2^26 floats), the
 * whole dataset at 2^34 floats, so no size computation can overflow. */
al_status al_dataset_alloc(int n, const al_shape *xs, int y_len, int num_classes, al_dataset **out) {
    if (!out || !xs) return al_error(AL_EINVAL, "al_dataset_alloc: NULL argument");
    *out = NULL;
    if (n < 0) return al_error(AL_ERANGE, "dataset size must be >= 0, got %d", n);
    if (xs->ndim < 1 || xs->ndim > 3)
        return al_error(AL_ESHAPE, "a sample must have 1 to 3 dimensions, got %d", xs->ndim);
    for (int i = 0; i < xs->ndim; i++)
        if (xs->d[i] <= 0 || xs->d[i] > (1 << 24))
            return al_error(AL_ESHAPE, "sample dimension %d is %d, must be in 1..%d", i, xs->d[i], 1 << 24);
    size_t xn = al_shape_numel(xs);
    if (xn > (size_t)1 << 26) return al_error(AL_ESHAPE, "a sample of %zu floats is too large", xn);
    if (y_len <= 0 || y_len > (1 << 24)) return al_error(AL_ERANGE, "labels per sample must be in 1..%d, got %d", 1 << 24, y_len);
    if (num_classes <= 0) return al_error(AL_ERANGE, "number of classes must be positive, got %d", num_classes);
    if ((uint64_t)n * xn > (uint64_t)1 << 34 || (uint64_t)n * (uint64_t)y_len > (uint64_t)1 << 34)
        return al_error(AL_ERANGE, "dataset of %d samples x %zu floats is too large", n, xn);
    al_dataset *d = al_calloc(1, sizeof *d);
    if (!d) return AL_ENOMEM;
    d->n = n;
    d->xs = *xs;
    for (int i = xs->ndim; i < 3; i++) d->xs.d[i] = 0;
    d->y_len = y_len;
    d->num_classes = num_classes;
    /* malloc, not calloc: the caller fills every element, and a large
     * dataset's pages are then touched only once */
    d->x = al_malloc(sizeof(float) * (n ? (size_t)n * xn : 1));
    d->y = al_malloc(sizeof(int32_t) * (n ? (size_t)n * (size_t)y_len : 1));
    if (!d->x || !d->y) {
        al_dataset_free(d);
        return AL_ENOMEM;
    }
    *out = d;
    return AL_OK;
}

al_status al_dataset_from_arrays(const float *x, const int32_t *y, int n, const al_tensor *x_shape, int y_len,
                                 int num_classes, al_dataset **out) {
    if (!out) return al_error(AL_EINVAL, "al_dataset_from_arrays: out is NULL");
    *out = NULL;
    if (!x_shape || (n > 0 && (!x || !y))) return al_error(AL_EINVAL, "al_dataset_from_arrays: NULL argument");
    if (x_shape->ndim < 1 || x_shape->ndim > 3)
        return al_error(AL_ESHAPE, "a sample must have 1 to 3 dimensions, got %d", x_shape->ndim);
    al_shape xs = {0};
    xs.ndim = x_shape->ndim;
    for (int i = 0; i < xs.ndim; i++) xs.d[i] = x_shape->shape[i];
    if (n > 0 && y_len > 0 && num_classes > 0) {
        /* labels first: nothing is allocated for a bad set */
        size_t ny = (size_t)n * (size_t)y_len;
        for (size_t i = 0; i < ny; i++)
            if (y[i] >= num_classes)
                return al_error(AL_ERANGE, "label %d of sample %zu is out of range 0..%d (negative = ignore)",
                                (int)y[i], i / (size_t)y_len, num_classes - 1);
    }
    al_dataset *d;
    al_status st = al_dataset_alloc(n, &xs, y_len, num_classes, &d);
    if (st != AL_OK) return st;
    if (n > 0) {
        memcpy(d->x, x, sizeof(float) * (size_t)n * al_shape_numel(&xs));
        memcpy(d->y, y, sizeof(int32_t) * (size_t)n * (size_t)y_len);
    }
    *out = d;
    return AL_OK;
}

al_status al_dataset_subset(const al_dataset *d, const int *idx, int n, al_dataset **out) {
    if (!out) return al_error(AL_EINVAL, "al_dataset_subset: out is NULL");
    *out = NULL;
    if (!d || (n > 0 && !idx)) return al_error(AL_EINVAL, "al_dataset_subset: NULL argument");
    if (n < 0) return al_error(AL_ERANGE, "subset size must be >= 0, got %d", n);
    for (int i = 0; i < n; i++)
        if (idx[i] < 0 || idx[i] >= d->n)
            return al_error(AL_ERANGE, "subset index %d (entry %d) is out of range 0..%d", idx[i], i, d->n - 1);
    al_dataset *s;
    al_status st = al_dataset_alloc(n, &d->xs, d->y_len, d->num_classes, &s);
    if (st != AL_OK) return st;
    size_t xn = al_shape_numel(&d->xs), yn = (size_t)d->y_len;
    for (int i = 0; i < n; i++) {
        memcpy(s->x + (size_t)i * xn, d->x + (size_t)idx[i] * xn, sizeof(float) * xn);
        memcpy(s->y + (size_t)i * yn, d->y + (size_t)idx[i] * yn, sizeof(int32_t) * yn);
    }
    *out = s;
    return AL_OK;
}

al_status al_dataset_map_labels(al_dataset *d, const int *map, int n_map, int num_classes) {
    if (!d || (n_map > 0 && !map)) return al_error(AL_EINVAL, "al_dataset_map_labels: NULL argument");
    if (num_classes <= 0) return al_error(AL_ERANGE, "number of classes must be positive, got %d", num_classes);
    size_t ny = (size_t)d->n * (size_t)d->y_len;
    /* checked whole before anything changes */
    for (size_t i = 0; i < ny; i++) {
        int32_t y = d->y[i];
        if (y < 0) continue; /* ignored positions stay ignored */
        if (y >= n_map)
            return al_error(AL_EINVAL, "label %d (sample %zu) has no class to map to: the map has %d entries", (int)y,
                            i / (size_t)d->y_len, AL_MAX(n_map, 0));
        if (map[y] < 0 || map[y] >= num_classes)
            return al_error(AL_EINVAL, "label %d (sample %zu) has no class to map to: map[%d] is %d, outside 0..%d",
                            (int)y, i / (size_t)d->y_len, (int)y, map[y], num_classes - 1);
    }
    for (size_t i = 0; i < ny; i++)
        if (d->y[i] >= 0) d->y[i] = map[d->y[i]];
    d->num_classes = num_classes;
    return AL_OK;
}
