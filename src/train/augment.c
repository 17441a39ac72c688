/* On-device image augmentation. One affine warp (rotation about the centre
 * plus a shift, bilinear sampling, zero outside) followed by optional mirror,
 * brightness/contrast jitter, noise and cutout. Every random draw comes from
 * a PCG stream keyed by (sample id, variant), so variants are reproducible
 * without storing them. */
#include "train/train.h"

#include <math.h>
#include <string.h>

void al_augment_config_default(al_augment_config *c) {
    if (!c) return;
    memset(c, 0, sizeof *c);
    c->shift = 2;
    c->rotate_deg = 10.0f;
    c->hflip = 0;
    c->brightness = 0.1f;
    c->contrast = 0.2f;
    c->noise = 0.02f;
    c->cutout = 0;
}

al_status al_augment_check(const al_augment_config *c) {
    if (!c) return al_error(AL_EINVAL, "augment: NULL argument");
    if (c->shift < 0 || c->cutout < 0 || c->rotate_deg < 0 || c->brightness < 0 || c->contrast < 0 ||
        c->noise < 0 || c->contrast >= 1.0f)
        return al_error(AL_ERANGE, "augment: negative strength or contrast >= 1");
    /* NaN passes the tests above and would reach every pixel; a shift past
     * this would take sampling coordinates past what an int holds */
    if (!isfinite(c->rotate_deg) || !isfinite(c->brightness) || !isfinite(c->contrast) || !isfinite(c->noise))
        return al_error(AL_ERANGE, "augment: a strength is not a finite number");
    if (c->shift > AL_AUGMENT_MAX_SHIFT)
        return al_error(AL_ERANGE, "augment: shift %d is over %d pixels", c->shift, AL_AUGMENT_MAX_SHIFT);
    return AL_OK;
}

static float sym(al_rng *r, float a) { return (2.0f * al_rng_uniform(r) - 1.0f) * a; }

static float clamp01(float v) { return v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v); }

al_status al_augment_image(const al_augment_config *c, uint64_t seed, uint64_t sample_id, int variant,
                           const float *src, float *dst, int C, int H, int W) {
    if (!c || !src || !dst) return al_error(AL_EINVAL, "augment: NULL argument");
    if (C <= 0 || H <= 0 || W <= 0 || (size_t)C * H * W > ((size_t)1 << 26))
        return al_error(AL_ESHAPE, "augment: bad image shape %dx%dx%d", C, H, W);
    if (variant < 0) return al_error(AL_ERANGE, "augment: negative variant %d", variant);
    al_status st = al_augment_check(c);
    if (st) return st;
    size_t plane = (size_t)H * W;
    if (variant == 0) {
        memcpy(dst, src, sizeof(float) * (size_t)C * plane);
        return AL_OK;
    }
    al_rng r;
    al_rng_seed(&r, seed ^ (sample_id * 0x9E3779B97F4A7C15ULL), 0xa000 + (uint64_t)variant);
    float ang = sym(&r, c->rotate_deg) * 3.14159265f / 180.0f;
    float tx = c->shift ? (float)((int)al_rng_below(&r, 2u * (uint32_t)c->shift + 1) - c->shift) : 0.0f;
    float ty = c->shift ? (float)((int)al_rng_below(&r, 2u * (uint32_t)c->shift + 1) - c->shift) : 0.0f;
    int flip = c->hflip && (al_rng_u32(&r) & 1u);
    float bright = sym(&r, c->brightness), contrast = 1.0f + sym(&r, c->contrast);
    float cs = cosf(ang), sn = sinf(ang);
    float cy = 0.5f * (float)(H - 1), cx = 0.5f * (float)(W - 1);
    for (int ch = 0; ch < C; ch++) {
        const float *s = src + (size_t)ch * plane;
        float *d = dst + (size_t)ch * plane;
        double mean = 0;
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                /* inverse map: where in the source does output (y, x) come from */
                float ox = (float)(flip ? W - 1 - x : x) - cx - tx, oy = (float)y - cy - ty;
                float sx = cs * ox + sn * oy + cx, sy = -sn * ox + cs * oy + cy;
                int x0 = (int)floorf(sx), y0 = (int)floorf(sy);
                float fx = sx - (float)x0, fy = sy - (float)y0, v = 0.0f;
                for (int dy = 0; dy < 2; dy++)
                    for (int dx = 0; dx < 2; dx++) {
                        int yy = y0 + dy, xx = x0 + dx;
                        if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
                        v += s[(size_t)yy * W + xx] * (dy ? fy : 1.0f - fy) * (dx ? fx : 1.0f - fx);
                    }
                d[(size_t)y * W + x] = v;
                mean += v;
            }
        float m = (float)(mean / (double)plane);
        for (size_t i = 0; i < plane; i++) {
            float v = (d[i] - m) * contrast + m + bright;
            if (c->noise > 0.0f) v += c->noise * al_rng_normal(&r);
            d[i] = clamp01(v);
        }
    }
    if (c->cutout > 0) {
        int side = AL_MIN(c->cutout, AL_MIN(H, W));
        int y0 = (int)al_rng_below(&r, (uint32_t)(H - side + 1)), x0 = (int)al_rng_below(&r, (uint32_t)(W - side + 1));
        for (int ch = 0; ch < C; ch++)
            for (int y = y0; y < y0 + side; y++) memset(dst + (size_t)ch * plane + (size_t)y * W + x0, 0, sizeof(float) * (size_t)side);
    }
    return AL_OK;
}
