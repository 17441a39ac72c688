/* The allocator hook, and the failure-injection hook tests use to make
 * allocation number k fail (SQLite's approach to out-of-memory testing). */
#include "core/core.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void *default_malloc(void *user, size_t size) {
    AL_UNUSED(user);
    return malloc(size);
}
static void default_free(void *user, void *p) {
    AL_UNUSED(user);
    free(p);
}

static al_allocator cur = {default_malloc, default_free, NULL};
static atomic_long alloc_count;
static atomic_long fail_at;

void al_set_allocator(const al_allocator *a) {
    if (a && a->malloc_fn && a->free_fn)
        cur = *a;
    else {
        cur.malloc_fn = default_malloc;
        cur.free_fn = default_free;
        cur.user = NULL;
    }
}

void al_alloc_fail_at(long k) {
    atomic_store(&alloc_count, 0);
    atomic_store(&fail_at, k);
}

long al_alloc_count(void) { return atomic_load(&alloc_count); }

void *al_malloc(size_t size) {
    long c = atomic_fetch_add(&alloc_count, 1) + 1;
    long f = atomic_load(&fail_at);
    void *p = (f > 0 && c == f) ? NULL : cur.malloc_fn(cur.user, size ? size : 1);
    if (!p) al_error(AL_ENOMEM, "out of memory allocating %zu bytes", size);
    return p;
}

void *al_calloc(size_t n, size_t size) {
    if (size && n > SIZE_MAX / size) {
        al_error(AL_ENOMEM, "allocation of %zu x %zu bytes overflows", n, size);
        return NULL;
    }
    void *p = al_malloc(n * size);
    if (p) memset(p, 0, n * size);
    return p;
}

void al_free(void *p) {
    if (p) cur.free_fn(cur.user, p);
}

char *al_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = al_malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}
