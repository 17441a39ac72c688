/* PCG32 (O'Neill): 64-bit state, the stream id selects the increment so that
 * two streams of one seed are independent sequences. */
#include "core/core.h"

#include <math.h>

void al_rng_seed(al_rng *r, uint64_t seed, uint64_t stream) {
    if (!r) return;
    r->state = 0;
    r->inc = (stream << 1u) | 1u;
    (void)al_rng_u32(r);
    r->state += seed;
    (void)al_rng_u32(r);
}

uint32_t al_rng_u32(al_rng *r) {
    if (!r) return 0;
    uint64_t old = r->state;
    r->state = old * 6364136223846793005ULL + r->inc;
    uint32_t xorshifted = (uint32_t)(((old >> 18u) ^ old) >> 27u);
    uint32_t rot = (uint32_t)(old >> 59u);
    return (xorshifted >> rot) | (xorshifted << ((-rot) & 31));
}

uint32_t al_rng_below(al_rng *r, uint32_t bound) {
    if (bound == 0 || !r) return 0;
    /* rejection sampling: no modulo bias */
    uint32_t threshold = (uint32_t)(-bound) % bound;
    for (;;) {
        uint32_t v = al_rng_u32(r);
        if (v >= threshold) return v % bound;
    }
}

float al_rng_uniform(al_rng *r) { return (float)(al_rng_u32(r) >> 8) * (1.0f / 16777216.0f); }

float al_rng_normal(al_rng *r) {
    if (!r) return 0.0f;
    /* Box-Muller; u1 in (0,1] so log is finite */
    double u1 = ((double)(al_rng_u32(r) >> 8) + 1.0) / 16777216.0;
    double u2 = (double)(al_rng_u32(r) >> 8) / 16777216.0;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}
