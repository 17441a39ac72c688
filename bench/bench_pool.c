/* What a task costs the thread pool (src/core/pool.c) beyond its work: T
 * threads run tasks of W microseconds of busy work split into T parts, with
 * G microseconds of serial work on the calling thread between tasks. A
 * worker spins for the next task for the pool's spin time (100 us by
 * default; AL_SPIN_US sets it, al_pool_set_spin_us) and then sleeps, so a
 * gap longer than the spin pays a wake-up at the next task. A training step issues tens of tasks (bench_train
 * --model-threads T lists them) with gaps of a few to a few hundred
 * microseconds between them; the serial-pool model of
 * bench/threads-model.sh leaves this cost out. Prints one line per (T, G):
 * microseconds per task above the ideal W / T + G, the median of 5 runs of
 * N tasks. Not a test: it asserts nothing about time.
 *   bench_pool [W_us] [N]   (default 50 and 2000; T = 2 4 8 16 up to
 *                            the cores, G = 0 5 20 50 200) */
#include "core/core.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static volatile double sink;

/* Busy work for us microseconds (a loop reading the clock). */
static void busy(double us) {
    double t0 = now(), x = 0.0;
    while (now() - t0 < us * 1e-6) x += 1.0;
    sink = x;
}

static double part_us;

static void task(void *arg, int ith, int nth) {
    (void)arg;
    (void)ith;
    (void)nth;
    busy(part_us);
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    double w = argc > 1 ? atof(argv[1]) : 50.0;
    int n = argc > 2 ? atoi(argv[2]) : 2000;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (w <= 0.0 || n <= 0) {
        fprintf(stderr, "usage: bench_pool [W_us > 0] [N > 0]\n");
        return 2;
    }
    const int ts[] = {2, 4, 8, 16};
    const double gaps[] = {0, 5, 20, 50, 200};
    al_pool *q;
    if (al_pool_new(1, &q) != AL_OK) {
        fprintf(stderr, "bench_pool: %s\n", al_last_error());
        return 1;
    }
    printf("# cores %ld, work %.0f us a task, %d tasks a run, median of 5 runs, workers spin %d us\n", cores, w, n,
           al_pool_spin_us(q));
    al_pool_free(q);
    printf("threads gap_us us_per_task ideal_us overhead_us\n");
    for (size_t a = 0; a < sizeof ts / sizeof ts[0]; a++) {
        int t = ts[a];
        if (t > cores) break;
        al_pool *p;
        if (al_pool_new(t, &p) != AL_OK) {
            fprintf(stderr, "bench_pool: %s\n", al_last_error());
            return 1;
        }
        part_us = w / t;
        for (size_t b = 0; b < sizeof gaps / sizeof gaps[0]; b++) {
            double g = gaps[b], runs[5];
            for (int r = 0; r < 5; r++) {
                for (int i = 0; i < 50; i++) {
                    al_pool_run(p, task, NULL);
                    busy(g);
                }
                double t0 = now();
                for (int i = 0; i < n; i++) {
                    al_pool_run(p, task, NULL);
                    busy(g);
                }
                runs[r] = (now() - t0) / n * 1e6;
            }
            qsort(runs, 5, sizeof runs[0], cmp);
            printf("%d %.0f %.2f %.2f %.2f\n", t, g, runs[2], w / t + g, runs[2] - w / t - g);
        }
        al_pool_free(p);
    }
    return 0;
}
