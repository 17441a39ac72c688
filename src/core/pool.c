/* A fixed pool of worker threads. al_pool_run runs a task's nth parts
 * fn(arg, ith, nth), ith = 0 .. nth-1; the split of work by ith is up to
 * the task and is static, so results never depend on timing. Workers spin
 * on a generation counter for a while (al_pool_set_spin_us, AL_SPIN_US;
 * 100 microseconds by default) before sleeping on a condition variable: a
 * training step issues tens to hundreds of tasks with gaps of a few to a few
 * tens of microseconds between them, and a wake-up through the kernel at
 * each would dominate the small ones.
 *
 * Which thread runs which part is not fixed: every thread, the caller
 * included, claims the next unstarted part until none is left. On a machine
 * shared with other jobs a worker may be descheduled for a whole time slice
 * right when a task starts; with fixed parts the caller then waited for it
 * at every task (a 2-thread CNN step ran slower than 1 thread), now it runs
 * the part itself. A part's result depends only on (ith, nth), so this
 * changes no result. The claim counter carries the generation in its high
 * half, so a worker waking late cannot claim a part of a later task. */
#include "core/core.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    struct al_pool *p;
    int ith;
} worker_arg;

/* The serial pool's record (al_pool_new_serial): per task function. */
#define AL_POOL_MAX_STATS 64

struct al_pool {
    int n;
    int serial; /* al_pool_new_serial: the n parts run on the caller, timed */
    int nstats;
    al_pool_stat *stats;
    double timer_s; /* one reading of the thread's CPU clock, calibrated */
    double timer_total_s; /* the readings' cost since the last reset */
    pthread_t *threads;
    /* the workers' arguments live as long as the pool: a worker that freed
     * its own would call the allocator hook at a moment nobody chose (a
     * counting allocator saw its live bytes change in the middle of a
     * measurement) */
    worker_arg *args;
    pthread_mutex_t mu;
    pthread_cond_t cv_work, cv_done;
    atomic_int quit;
    atomic_int spin_us; /* how long an idle worker spins before it sleeps */
    atomic_long sleeps; /* the times a worker went to sleep (al_pool_sleeps) */
    al_task_fn fn;
    void *arg;
    /* The three counters written while a task runs each get a cache line of
     * their own (padding, not _Alignas: the pool comes from al_calloc, which
     * promises 16-byte alignment only): idle workers spin reading gen, and
     * every part's claim (next) and finish (done) would otherwise pull that
     * line away from them, and from each other, at every part. */
    char pad0[64];
    atomic_uint gen;
    char pad1[64];
    _Atomic unsigned long long next; /* generation << 32 | next part to claim */
    char pad2[64];
    atomic_int done; /* parts finished in this task */
    char pad3[64];
};

/* How long an idle worker waits for the next task spinning, by default,
 * before it sleeps. A training step's tasks come a few to a few tens of
 * microseconds apart (bench_pool, bench/README.md). The earlier spin of 500
 * pauses lasted about 10 us on the 2-core EPYC (19 ns a pause; 11.5 ns on
 * the 2-core Xeon, 140 cycles on some Intel parts), so most gaps of 20 us or
 * more paid a wake-up (a 2-thread LM run made 3,464 futex calls, now 179:
 * bench/README.md); a time, unlike a count of pauses, means the same on
 * every CPU. Peers spin
 * longer still: pthreadpool (under XNNPACK) a million iterations, libgomp
 * 300,000 spins by default (100 where it has more threads than CPUs). An
 * app that prefers battery to speed sets it lower, 0 to sleep at once. */
#define AL_POOL_SPIN_US_DEFAULT 100
#define AL_POOL_SPIN_US_MAX 100000

/* Pauses the caller spins waiting for the task's last parts before it
 * yields its core between checks. */
#define AL_POOL_CALLER_PAUSES 100

/* A spin-wait hint: lets the sibling hyper-thread run and keeps the spinning
 * core from flooding the memory system with loads of a line it already has. */
static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* Claims and runs parts of task generation g until none is left; returns
 * when the task's parts are all claimed (not necessarily finished). */
static void run_parts(al_pool *p, unsigned g) {
    for (;;) {
        unsigned long long st = atomic_load_explicit(&p->next, memory_order_acquire);
        if ((unsigned)(st >> 32) != g || (int)(unsigned)st >= p->n) return;
        if (!atomic_compare_exchange_weak_explicit(&p->next, &st, st + 1, memory_order_acq_rel,
                                                   memory_order_acquire))
            continue;
        p->fn(p->arg, (int)(unsigned)st, p->n);
        if (atomic_fetch_add_explicit(&p->done, 1, memory_order_acq_rel) + 1 == p->n) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->cv_done);
            pthread_mutex_unlock(&p->mu);
        }
    }
}

static double mono_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Spins until the generation moves past `seen` (1, the new one in *g) or
 * the pool's spin time has passed (0). Every 32 pauses it reads the clock
 * (a vDSO call, about 25 ns), and at most every half microsecond it yields
 * its core: where the pool has more threads than free cores (an app beside
 * others, or more threads than the phone has), a spinning worker would
 * otherwise hold a core that a thread with work is waiting for. On the
 * 2-core EPYC (32 pauses: 0.6 us, so a yield at every reading), 8 threads:
 * a CNN step 14.9 ms spinning 100 us without yielding, 11.1 with the old
 * 10 us spin, 8.4 with the yield (session 22, bench/README.md; a
 * sched_yield with nobody waiting returns at once). The half microsecond
 * keeps a CPU whose pause is short (aarch64's `yield` is about a cycle)
 * from spinning in system calls. */
#define AL_POOL_YIELD_S 0.5e-6

static int spin_wait(al_pool *p, unsigned seen, unsigned *g) {
    int us = atomic_load_explicit(&p->spin_us, memory_order_relaxed);
    if (us <= 0) return (*g = atomic_load_explicit(&p->gen, memory_order_acquire)) != seen;
    double t = mono_s(), end = t + 1e-6 * us, next_yield = t + AL_POOL_YIELD_S;
    for (unsigned i = 1;; i++) {
        if ((*g = atomic_load_explicit(&p->gen, memory_order_acquire)) != seen) return 1;
        cpu_relax();
        if (i % 32 == 0) {
            t = mono_s();
            if (t >= end) return 0;
            if (t >= next_yield) {
                sched_yield();
                next_yield = t + AL_POOL_YIELD_S;
            }
        }
    }
}

static void *worker(void *va) {
    worker_arg wa = *(worker_arg *)va;
    al_pool *p = wa.p;
    unsigned seen = 0;
    for (;;) {
        unsigned g;
        if (!spin_wait(p, seen, &g)) {
            pthread_mutex_lock(&p->mu);
            for (int slept = 0; (g = atomic_load(&p->gen)) == seen && !atomic_load(&p->quit); slept = 1) {
                if (!slept) atomic_fetch_add_explicit(&p->sleeps, 1, memory_order_relaxed);
                pthread_cond_wait(&p->cv_work, &p->mu);
            }
            int quit = atomic_load(&p->quit) && g == seen;
            pthread_mutex_unlock(&p->mu);
            if (quit) return NULL;
        }
        seen = g;
        if (atomic_load_explicit(&p->quit, memory_order_acquire)) return NULL;
        run_parts(p, g);
    }
}

int al_threads_default(void) {
    long v;
    if (!al_env_number("AL_THREADS", &v) || v < 1) return 1;
    return v > 256 ? 256 : (int)v;
}

/* The spin time from AL_SPIN_US (microseconds, 0 to AL_POOL_SPIN_US_MAX),
 * else the default; a value that is not such a number is ignored. */
static int spin_us_default(void) {
    long v;
    if (!al_env_number("AL_SPIN_US", &v) || v < 0 || v > AL_POOL_SPIN_US_MAX) return AL_POOL_SPIN_US_DEFAULT;
    return (int)v;
}

al_status al_pool_set_spin_us(al_pool *p, int us) {
    if (!p) return al_error(AL_EINVAL, "al_pool_set_spin_us: pool is NULL");
    if (us < 0 || us > AL_POOL_SPIN_US_MAX)
        return al_error(AL_ERANGE, "al_pool_set_spin_us: %d microseconds, not 0 to %d", us, AL_POOL_SPIN_US_MAX);
    atomic_store_explicit(&p->spin_us, us, memory_order_relaxed);
    return AL_OK;
}

long al_pool_sleeps(const al_pool *p) { return p ? atomic_load_explicit(&p->sleeps, memory_order_relaxed) : 0; }

int al_pool_spin_us(const al_pool *p) {
    return p ? atomic_load_explicit(&p->spin_us, memory_order_relaxed) : 0;
}

/* A pool of n parts with its locks and counters set up and no workers yet:
 * what al_pool_new and al_pool_new_serial share, and al_pool_free undoes. */
static al_pool *pool_alloc(int n) {
    al_pool *p = al_calloc(1, sizeof *p);
    if (!p) return NULL;
    p->n = n;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv_work, NULL);
    pthread_cond_init(&p->cv_done, NULL);
    atomic_init(&p->gen, 0);
    atomic_init(&p->done, 0);
    atomic_init(&p->quit, 0);
    atomic_init(&p->spin_us, spin_us_default());
    atomic_init(&p->sleeps, 0L);
    atomic_init(&p->next, 0ULL);
    return p;
}

al_status al_pool_new(int nthreads, al_pool **out) {
    if (!out) return al_error(AL_EINVAL, "al_pool_new: out is NULL");
    *out = NULL;
    if (nthreads <= 0) nthreads = al_threads_default();
    if (nthreads > 256) return al_error(AL_ERANGE, "thread count %d exceeds 256", nthreads);
    al_pool *p = pool_alloc(nthreads);
    if (!p) return AL_ENOMEM;
    if (nthreads > 1) {
        p->threads = al_calloc((size_t)nthreads, sizeof(pthread_t));
        p->args = al_calloc((size_t)nthreads, sizeof(worker_arg));
        if (!p->threads || !p->args) {
            al_pool_free(p);
            return AL_ENOMEM;
        }
        for (int i = 1; i < nthreads; i++) {
            worker_arg *wa = &p->args[i];
            wa->p = p;
            wa->ith = i;
            if (pthread_create(&p->threads[i], NULL, worker, wa) != 0) {
                p->n = i;
                al_pool_free(p);
                return al_error(AL_ENOMEM, "cannot create worker thread %d", i);
            }
        }
    }
    *out = p;
    return AL_OK;
}

void al_pool_free(al_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->quit, 1);
    atomic_fetch_add(&p->gen, 1);
    pthread_cond_broadcast(&p->cv_work);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n && p->threads; i++) pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv_work);
    pthread_cond_destroy(&p->cv_done);
    al_free(p->threads);
    al_free(p->args);
    al_free(p->stats);
    al_free(p);
}

int al_pool_size(const al_pool *p) { return p ? p->n : 1; }

/* The calling thread's CPU time: the serial pool's parts are timed by it, so
 * a machine shared with other jobs (this thread descheduled) does not
 * lengthen them. */
static double thread_cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* What one reading of that clock costs: the least gap between two readings
 * in a row, over a few tries. It is a system call, 0.05 to 1.3 us on the
 * machines seen (a virtual machine's is the dear one), and a part between
 * two readings is measured one reading too long, while the other reading's
 * cost falls between the parts; at 16 parts a task, about 140 tasks a
 * MobileNetV2 step, uncorrected that put 2.9 ms a step into the "serial"
 * time of the model (bench_train --model-threads). */
static double timer_cost_s(void) {
    double best = 1.0;
    for (int i = 0; i < 64; i++) {
        double t0 = thread_cpu_s(), t1 = thread_cpu_s();
        if (t1 - t0 < best) best = t1 - t0;
    }
    return best > 0.0 ? best : 0.0;
}

al_status al_pool_new_serial(int nparts, al_pool **out) {
    if (!out) return al_error(AL_EINVAL, "al_pool_new_serial: out is NULL");
    *out = NULL;
    if (nparts < 1 || nparts > 256) return al_error(AL_ERANGE, "serial pool: %d parts, not 1 to 256", nparts);
    al_pool *p = pool_alloc(nparts);
    if (!p) return AL_ENOMEM;
    p->serial = 1;
    p->stats = al_calloc(AL_POOL_MAX_STATS, sizeof *p->stats);
    if (!p->stats) {
        al_pool_free(p);
        return AL_ENOMEM;
    }
    p->timer_s = timer_cost_s();
    *out = p;
    return AL_OK;
}

/* Runs the n parts one after the other, each timed (less one reading of the
 * clock), into fn's record (the first AL_POOL_MAX_STATS functions seen;
 * later ones share the last entry, fn NULL). */
static void run_serial(al_pool *p, al_task_fn fn, void *arg) {
    double sum = 0.0, max = 0.0;
    for (int i = 0; i < p->n; i++) {
        double t0 = thread_cpu_s();
        fn(arg, i, p->n);
        double dt = thread_cpu_s() - t0 - p->timer_s;
        if (dt < 0.0) dt = 0.0;
        sum += dt;
        if (dt > max) max = dt;
    }
    p->timer_total_s += 2.0 * p->timer_s * p->n;
    int k = 0;
    while (k < p->nstats && p->stats[k].fn != fn) k++;
    if (k == p->nstats) {
        if (p->nstats < AL_POOL_MAX_STATS) {
            p->nstats++;
            p->stats[k].fn = fn;
        } else {
            k = AL_POOL_MAX_STATS - 1;
            p->stats[k].fn = NULL;
        }
    }
    p->stats[k].tasks++;
    p->stats[k].sum_s += sum;
    p->stats[k].max_s += max;
}

int al_pool_stats(const al_pool *p, al_pool_stat *out, int cap) {
    if (!p || !p->serial) return 0;
    for (int k = 0; k < p->nstats && k < cap; k++) out[k] = p->stats[k];
    return p->nstats;
}

void al_pool_stats_reset(al_pool *p) {
    if (!p || !p->serial) return;
    memset(p->stats, 0, AL_POOL_MAX_STATS * sizeof *p->stats);
    p->nstats = 0;
    p->timer_total_s = 0.0;
}

double al_pool_timer_s(const al_pool *p) { return p && p->serial ? p->timer_total_s : 0.0; }

void al_pool_run(al_pool *p, al_task_fn fn, void *arg) {
    if (p && p->serial) {
        run_serial(p, fn, arg);
        return;
    }
    if (!p || p->n == 1) {
        fn(arg, 0, 1);
        return;
    }
    /* Only this thread writes fn, arg and the counters between tasks: the
     * workers read fn and arg only after claiming a part of this task. */
    p->fn = fn;
    p->arg = arg;
    atomic_store_explicit(&p->done, 0, memory_order_relaxed);
    unsigned g = atomic_load_explicit(&p->gen, memory_order_relaxed) + 1;
    atomic_store_explicit(&p->next, (unsigned long long)g << 32, memory_order_release);
    pthread_mutex_lock(&p->mu);
    atomic_store_explicit(&p->gen, g, memory_order_release);
    pthread_cond_broadcast(&p->cv_work);
    pthread_mutex_unlock(&p->mu);
    run_parts(p, g);
    /* Parts still running elsewhere: spin briefly, then yield the core
     * between checks (the thread waited for may be queued behind this
     * one), then sleep. */
    int spins = 0;
    while (atomic_load_explicit(&p->done, memory_order_acquire) < p->n && spins < 200000) {
        if (++spins > AL_POOL_CALLER_PAUSES)
            sched_yield();
        else
            cpu_relax();
    }
    if (atomic_load_explicit(&p->done, memory_order_acquire) < p->n) {
        pthread_mutex_lock(&p->mu);
        while (atomic_load(&p->done) < p->n) pthread_cond_wait(&p->cv_done, &p->mu);
        pthread_mutex_unlock(&p->mu);
    }
}
