/* The memory planner's time on long chains (docs/COMPILE.md, "The
 * conflicting buffers are found by time"): al_memplan_build, batch 4, of
 * a dense-relu chain (its activations kept for backward: nested
 * lifetimes), a chain of weightless activations (each buffer lives a step
 * or two) and a residual CNN of conv-batchnorm-relu-add blocks, each of
 * about N nodes; median of 5 builds, seconds, with the plan's buffer count
 * and size. Not a test: it asserts nothing about time.
 *   bench_memplan [N]   (default 12000) */
#include "chain_spec.h"
#include "model/model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 12000;
    if (n < 8 || n > 60000) {
        fprintf(stderr, "usage: bench_memplan [nodes 8..60000]\n");
        return 2;
    }
    static const char *const kinds[] = {"dense-relu", "activations", "residual"};
    printf("%-12s %7s %8s %12s %10s\n", "chain", "nodes", "buffers", "bytes", "seconds");
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        char *spec = al_chain_spec(kinds[i], strcmp(kinds[i], "residual") ? n : n / 4);
        al_model *m = NULL;
        al_status st = spec ? al_model_from_spec(spec, 1, &m) : AL_ENOMEM;
        free(spec);
        if (st) {
            fprintf(stderr, "bench_memplan: %s: %s\n", kinds[i], al_last_error());
            return 1;
        }
        double t[5];
        al_memplan p;
        for (int r = 0; r < 5; r++) {
            double t0 = now();
            st = al_memplan_build(m, 4, 0, &p);
            t[r] = now() - t0;
            if (st) {
                fprintf(stderr, "bench_memplan: %s: plan: %s\n", kinds[i], al_last_error());
                return 1;
            }
            if (r < 4) al_memplan_free(&p);
        }
        qsort(t, 5, sizeof *t, cmp);
        printf("%-12s %7d %8d %12zu %10.4f\n", kinds[i], al_model_num_nodes(m), p.nbuf, p.total, t[2]);
        al_memplan_free(&p);
        al_model_free(m);
    }
    return 0;
}
