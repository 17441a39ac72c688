/* ReLU and ReLU6 in place (kernels.h: al_act_*): the dispatch to the SIMD
 * variants (act_avx512.c, act_avx2.c) and the plain-C reference (act_ref.c). Every
 * variant gives bitwise the reference's output: the activation of one
 * element is a comparison and a select, no arithmetic. */
#include "kernels/kernels.h"

#include <pthread.h>

int al_act_isa_available(int isa) {
    switch (isa) {
    case 0: return 1;
#if defined(__x86_64__) || defined(_M_X64)
    case 1: return __builtin_cpu_supports("avx2");
    case 2: return __builtin_cpu_supports("avx512f");
#endif
    default: return 0;
    }
}

static pthread_once_t act_once = PTHREAD_ONCE_INIT;
static int act_isa;

static void act_select(void) {
    act_isa = al_act_isa_available(2) ? 2 : al_act_isa_available(1) ? 1 : 0;
}

static int current(void) {
    pthread_once(&act_once, act_select);
    return act_isa;
}

typedef void (*act_fn)(float *y, size_t n);

/* The variant of act (1 ReLU, 2 ReLU6) this CPU runs. */
static act_fn act_variant(int act) {
    int isa = current();
#if defined(__x86_64__) || defined(_M_X64)
    if (isa == 2) return act == 1 ? al_relu_inplace_avx512 : al_relu6_inplace_avx512;
    if (isa == 1) return act == 1 ? al_relu_inplace_avx2 : al_relu6_inplace_avx2;
#else
    (void)isa;
#endif
    return act == 1 ? al_relu_inplace_ref : al_relu6_inplace_ref;
}

void al_relu_inplace(float *y, size_t n) { act_variant(1)(y, n); }

void al_relu6_inplace(float *y, size_t n) { act_variant(2)(y, n); }

void al_act_rows(int act, float *y, size_t ld, int rows, int cols) {
    if ((act != 1 && act != 2) || rows <= 0 || cols <= 0) return;
    act_fn f = act_variant(act);
    for (int r = 0; r < rows; r++) f(y + (size_t)r * ld, (size_t)cols);
}
