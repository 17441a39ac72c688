/* Long model specs for the memory planner's test (test_memplan_place) and
 * its benchmark (bench/bench_memplan): one builder, so the benchmark times
 * the shapes the test checks.
 *   "dense-relu"   n nodes of dense and ReLU (activations kept for backward:
 *                  nested lifetimes)
 *   "activations"  n weightless activations (each buffer lives a step or two)
 *   "residual"     n conv-batchnorm-relu-add blocks (4 nodes each) between a
 *                  conv stem and a pooled dense head
 * The spec is malloc'd (NULL when out of memory); the caller frees it. */
#ifndef AL_CHAIN_SPEC_H
#define AL_CHAIN_SPEC_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *al_chain_spec(const char *kind, int n) {
    size_t cap = 128 + 64 * (size_t)n, o = 0;
    char *s = malloc(cap);
    if (!s) return NULL;
    if (!strcmp(kind, "residual")) {
        o += (size_t)snprintf(s + o, cap - o, "input 1x8x8; conv 8 k=3 p=1; dropout 0.1");
        for (int b = 0, in = 1, k = 2; b < n; b++, k += 4) {
            o += (size_t)snprintf(s + o, cap - o, "; conv 8 k=3 p=1; batchnorm; relu; add %d", in);
            in = k + 3;
        }
        snprintf(s + o, cap - o, "; maxpool k=2; flatten; dense 16; relu; dense 3");
        return s;
    }
    o += (size_t)snprintf(s + o, cap - o, "input 8");
    for (int k = 0; k < n; k++) {
        static const char *const acts[] = {"relu", "sigmoid", "tanh", "relu"};
        if (!strcmp(kind, "dense-relu"))
            o += (size_t)snprintf(s + o, cap - o, k % 2 ? "; relu" : "; dense %d", 4 + k % 7);
        else
            o += (size_t)snprintf(s + o, cap - o, "; %s", acts[k % 4]);
    }
    return s;
}

#endif
