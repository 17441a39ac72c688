/* Bump allocation over one block, used by the model planner. A first pass with
 * base == NULL only measures; the second carves. */
#include "core/core.h"

void *al_arena_bytes(al_arena *a, size_t n) {
    size_t off = (a->used + 63u) & ~(size_t)63u;
    a->used = off + n;
    if (!a->base) return NULL;
    if (a->used > a->size) return NULL;
    return a->base + off;
}

float *al_arena_floats(al_arena *a, size_t n) { return al_arena_bytes(a, n * sizeof(float)); }

size_t al_tensor_numel(const al_tensor *t) {
    if (!t || t->ndim <= 0 || t->ndim > AL_MAX_DIMS) return 0; /* not a shape */
    size_t n = 1;
    for (int i = 0; i < t->ndim; i++) {
        if (t->shape[i] < 0) return 0; /* not a shape */
        n *= (size_t)t->shape[i];
    }
    return n;
}
