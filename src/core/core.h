/* The core level (src/core): errors and logging, allocation (with the
 * test hook), the thread pool's task runner and static work split, the
 * arena, per-sample shapes and CRC-32. Every other level builds on it; it
 * calls nothing above it. Not installed. */
#ifndef AL_CORE_H
#define AL_CORE_H

#include "autlearn.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define AL_UNUSED(x) ((void)(x))
#define AL_MIN(a, b) ((a) < (b) ? (a) : (b))
#define AL_MAX(a, b) ((a) > (b) ? (a) : (b))

#if defined(__GNUC__)
#define AL_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define AL_PRINTF(f, a)
#endif

/* ---- core: errors, logging, allocation (src/core) ------------------------- */

/* Sets this thread's last-error message and returns `s`, so error paths read
 *   return al_error(AL_EINVAL, "batch must be positive, got %d", b); */
al_status al_error(al_status s, const char *fmt, ...) AL_PRINTF(2, 3);
void al_log(al_log_level level, const char *fmt, ...) AL_PRINTF(2, 3);

/* All library allocations go through these (the hook of al_set_allocator).
 * al_malloc/al_calloc set AL_ENOMEM's message on failure and return NULL.
 * al_calloc checks n*size for overflow. */
void *al_malloc(size_t size);
void *al_calloc(size_t n, size_t size);
void al_free(void *p);
char *al_strdup(const char *s);

/* Test hook (SQLite style): make allocation number k (1-based, counted from
 * the call) fail; k = 0 disables. Returns the number of allocations so far. */
void al_alloc_fail_at(long k);
long al_alloc_count(void);

/* ---- core: threads ---------------------------------------------------------- */

/* fn(arg, ith, nth) is called once for each ith in [0, nth) where
 * nth = al_pool_size(pool) (1 when pool is NULL); the caller's thread runs
 * ith = 0. Returns when all have finished. Not re-entrant. */
typedef void (*al_task_fn)(void *arg, int ith, int nth);
void al_pool_run(al_pool *pool, al_task_fn fn, void *arg);
/* A pool that runs every task's nparts parts one after the other on the
 * calling thread (no workers), timing each part in this thread's CPU time:
 * the parts, and so the results, are those of an nparts-thread pool, bit for
 * bit. Per task function it records the tasks run, their parts' summed time
 * and the sum over tasks of the slowest part (a task's time if each part had
 * a core of its own). bench_train --model-threads T reads it to say, from one
 * core, what the work split allows at T threads: the time outside tasks (the
 * serial part) plus each task's slowest part. Not the memory bandwidth,
 * wake-ups or shared caches of a real run. al_pool_free frees it. */
typedef struct al_pool_stat {
    al_task_fn fn; /* NULL: the functions past the record's 64 */
    long tasks;
    double sum_s, max_s;
} al_pool_stat;
al_status al_pool_new_serial(int nparts, al_pool **out);
/* Copies up to cap records into out, in first-run order; returns how many
 * there are (0 for a pool that is not serial). */
int al_pool_stats(const al_pool *p, al_pool_stat *out, int cap);
/* The parts' times leave out the cost of reading the clock (calibrated when
 * the pool is made); this returns what the readings themselves cost since
 * the last reset, all of it outside the parts, for the caller to take off
 * the time it measured around the tasks (0 for a pool that is not serial). */
double al_pool_timer_s(const al_pool *p);
void al_pool_stats_reset(al_pool *p);
/* How many times the pool's workers have gone to sleep for want of a task
 * (past their spin, al_pool_set_spin_us): for tests. */
long al_pool_sleeps(const al_pool *p);

/* The environment switches (core/env.c). al_env_number: 1 and the value in
 * *v when variable `name` holds a whole decimal number, else 0 (unset,
 * empty, or anything else). al_env_off: 1 when it is set to a value
 * starting with '0' (a feature switched off). al_env_variant: the index of
 * the name among names[0..n) that it holds, when available(index) says the
 * CPU has it, else `best`, with a warning for an unknown or unavailable
 * name (unset or empty: best, silently). */
int al_env_number(const char *name, long *v);
int al_env_off(const char *name);
/* An off switch read once: 0 when `name` turns the feature off, else 1,
 * kept in *once (which starts at -1). The pool's threads may ask first at
 * the same time: every one of them reads the same environment. */
int al_env_on_once(atomic_int *once, const char *name);
int al_env_variant(const char *name, const char *const *names, int n, int (*available)(int), int best);

/* Static split of [0, n) into nth nearly equal contiguous parts. */
static inline void al_split(long n, int ith, int nth, long *lo, long *hi) {
    long q = n / nth, r = n % nth;
    *lo = ith * q + (ith < r ? ith : r);
    *hi = *lo + q + (ith < r ? 1 : 0);
}

/* ---- core: arena -------------------------------------------------------------- */

/* A bump allocator over one block: sized in a first pass (base == NULL, only
 * counts) and carved in a second. Every carve is 64-byte aligned. */
typedef struct al_arena {
    char *base;
    size_t size, used;
} al_arena;
float *al_arena_floats(al_arena *a, size_t n);
void *al_arena_bytes(al_arena *a, size_t n);

/* ---- shapes ------------------------------------------------------------------- */

/* A per-sample shape (no batch dimension), at most AL_SHAPE_MAX dims (a
 * model's input has at most 3; a layer's output up to 4, e.g. attention's
 * [heads, T, d]). */
#define AL_SHAPE_MAX 4
typedef struct al_shape {
    int ndim;
    int d[AL_SHAPE_MAX];
} al_shape;
static inline size_t al_shape_numel(const al_shape *s) {
    size_t n = 1;
    for (int i = 0; i < s->ndim; i++) n *= (size_t)s->d[i];
    return n;
}
/* The element count of s when every size is at least 1 and the count is at
 * most cap (cap <= 2^32), else 0. al_shape_numel of sizes a layer took from
 * a file can wrap (6700417 * 16711935 * 164737 * -1 is 1 mod 2^64); this
 * stops at the first partial count past cap, so nothing wraps. */
static inline size_t al_shape_numel_max(const al_shape *s, size_t cap) {
    size_t n = 1;
    for (int i = 0; i < s->ndim; i++) {
        if (s->d[i] < 1) return 0;
        n *= (size_t)s->d[i];
        if (n > cap) return 0;
    }
    return n;
}

/* ---- CRC32 (src/core/crc32.c) ------------------------------------------------ */
uint32_t al_crc32(uint32_t crc, const void *data, size_t n);

#endif /* AL_CORE_H */
