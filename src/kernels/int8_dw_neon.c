/* int8 depthwise convolution of one plane, NEON (aarch64; kernels.h,
 * "int8 depthwise"), and the plane quantizer in the same vectors.
 *
 * 8 outputs of a row per step: the tap's 8 input bytes (stride 2: vld2_s8
 * keeps the even ones of 16) widened to int16 (vmovl_s8), multiplied by the
 * tap's weight and accumulated into two int32x4 (vmlal_n_s16, its high
 * form). Borders through al_i8dw_window. Compares and selects, not
 * vmaxq/vminq (which return NaN and order +0 above -0), keep the
 * epilogue and the quantizer bitwise the reference's. */
#include "kernels/kernels.h"

#include <arm_neon.h>
#include <string.h>

#define AI static inline __attribute__((always_inline))

AI float32x4_t finish(int32x4_t acc, float32x4_t sc, float32x4_t b, int act) {
    float32x4_t y = vaddq_f32(vmulq_f32(vcvtq_f32_s32(acc), sc), b);
    const float32x4_t zero = vdupq_n_f32(0.0f);
    if (act == 1) {
        y = vbslq_f32(vcleq_f32(y, zero), zero, y);
    } else if (act == 2) {
        y = vbslq_f32(vcgtq_f32(zero, y), zero, y);
        const float32x4_t six = vdupq_n_f32(6.0f);
        y = vbslq_f32(vcltq_f32(six, y), six, y);
    }
    return y;
}

AI void store4(float *y, int left, float32x4_t v) {
    if (left >= 4) {
        vst1q_f32(y, v);
    } else if (left > 0) {
        float t[4];
        vst1q_f32(t, v);
        memcpy(y, t, sizeof(float) * (size_t)left);
    }
}

/* al_i8_q(y * inv) of 4 floats: clamp in float by compares and selects
 * (NaN to -127), round half away from zero (vcvtq truncates) */
AI int32x4_t q4(float32x4_t y, float32x4_t inv) {
    const float32x4_t lo = vdupq_n_f32(-127.0f), hi = vdupq_n_f32(127.0f), zero = vdupq_n_f32(0.0f);
    float32x4_t v = vmulq_f32(y, inv);
    v = vbslq_f32(vcgtq_f32(v, lo), v, lo);
    v = vbslq_f32(vcltq_f32(v, hi), v, hi);
    v = vaddq_f32(v, vbslq_f32(vcgeq_f32(v, zero), vdupq_n_f32(0.5f), vdupq_n_f32(-0.5f)));
    return vcvtq_s32_f32(v);
}

/* 8 outputs at element o: floats, or int8 at 1 / inv */
AI void out8(float *y, int8_t *yq, float32x4_t inv, size_t o, int left, float32x4_t v0, float32x4_t v1) {
    if (!yq) {
        store4(y + o, left, v0);
        store4(y + o + 4, left - 4, v1);
        return;
    }
    if (left <= 0) return;
    int8x8_t b = vmovn_s16(vcombine_s16(vmovn_s32(q4(v0, inv)), vmovn_s32(q4(v1, inv))));
    if (left >= 8) {
        vst1_s8(yq + o, b);
    } else {
        int8_t t[8];
        vst1_s8(t, b);
        memcpy(yq + o, t, (size_t)left);
    }
}

AI void plane(const al_dw_geom *g, const int8_t *x, const int8_t *w, float sc, float b, int act, float *y,
              int8_t *yq, float yinv, int k, int s) {
    const int span = k - 1 + (s == 1 ? 8 : 16);
    const float32x4_t scv = vdupq_n_f32(sc), bv = vdupq_n_f32(b), inv = vdupq_n_f32(yinv);
    int8_t tmp[AL_DW_KMAX][AL_I8DW_TMPW];
    const int8_t *r[AL_DW_KMAX];
    for (int oy = 0; oy < g->Ho; oy++) {
        size_t yr = (size_t)oy * g->Wo;
        for (int c = 0; c < g->Wo; c += 8) {
            al_i8dw_window(g, x, oy, c * s - g->p, span, tmp, r);
            int32x4_t a0 = vdupq_n_s32(0), a1 = a0;
            for (int ky = 0; ky < k; ky++)
                for (int kx = 0; kx < k; kx++) {
                    int8x8_t b8 = s == 1 ? vld1_s8(r[ky] + kx) : vld2_s8(r[ky] + kx).val[0];
                    int16x8_t v = vmovl_s8(b8);
                    int16_t wv = w[ky * k + kx];
                    a0 = vmlal_n_s16(a0, vget_low_s16(v), wv);
                    a1 = vmlal_high_n_s16(a1, v, wv);
                }
            out8(y, yq, inv, yr + c, g->Wo - c, finish(a0, scv, bv, act), finish(a1, scv, bv, act));
        }
    }
}

void al_i8dw_forward_neon(const al_dw_geom *g, const int8_t *x, float sx, const int8_t *w, float sw, float b, int act,
                          float *y, int8_t *yq, float yinv) {
    float sc = sx * sw;
    if (g->k == 3 && g->s == 1)
        plane(g, x, w, sc, b, act, y, yq, yinv, 3, 1);
    else if (g->k == 3)
        plane(g, x, w, sc, b, act, y, yq, yinv, 3, 2);
    else if (g->s == 1)
        plane(g, x, w, sc, b, act, y, yq, yinv, g->k, 1);
    else
        plane(g, x, w, sc, b, act, y, yq, yinv, g->k, 2);
}

/* al_quantize_row_i8 bit for bit: the max as its a > mx ? a : mx, then
 * the static quantizer at inv = 1 / s (the same bytes: |x * inv| passes
 * 127 only by inv's rounding, and clamping before or after rounding gives
 * 127). */
float al_i8_quantize_neon(const float *x, long n, int8_t *q) {
    float32x4_t mx = vdupq_n_f32(0.0f);
    long i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t a = vabsq_f32(vld1q_f32(x + i));
        mx = vbslq_f32(vcgtq_f32(a, mx), a, mx);
    }
    float lanes[4], m = 0.0f;
    vst1q_f32(lanes, mx);
    for (int l = 0; l < 4; l++) m = lanes[l] > m ? lanes[l] : m;
    for (long t = i; t < n; t++) {
        float a = x[t] < 0.0f ? -x[t] : x[t];
        m = a > m ? a : m;
    }
    float s = m > 0.0f ? m / 127.0f : 1.0f, invs = 1.0f / s;
    al_i8_quantize_static_neon(x, n, invs, q);
    return s;
}

void al_i8_epilogue_neon(const int32_t *acc, long n, float sc, float b, int act, float *y, int8_t *yq, float yinv) {
    const float32x4_t scv = vdupq_n_f32(sc), bv = vdupq_n_f32(b), inv = vdupq_n_f32(yinv);
    long i = 0;
    for (; i + 8 <= n; i += 8)
        out8(y, yq, inv, (size_t)i, 8, finish(vld1q_s32(acc + i), scv, bv, act), finish(vld1q_s32(acc + i + 4), scv, bv, act));
    if (i < n) al_i8_epilogue_ref(acc + i, n - i, sc, b, act, y ? y + i : NULL, yq ? yq + i : NULL, yinv);
}

void al_i8_quantize_static_neon(const float *x, long n, float inv, int8_t *q) {
    const float32x4_t iv = vdupq_n_f32(inv);
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        int32x4_t r0 = q4(vld1q_f32(x + i), iv), r1 = q4(vld1q_f32(x + i + 4), iv);
        vst1_s8(q + i, vmovn_s16(vcombine_s16(vmovn_s32(r0), vmovn_s32(r1))));
    }
    for (; i < n; i++) q[i] = al_i8_q(x[i] * inv);
}

void al_i8_add_neon(const int8_t *a, float sa, const int8_t *b, float sb, long n, float *y, int8_t *yq, float yinv) {
    const float32x4_t sav = vdupq_n_f32(sa), sbv = vdupq_n_f32(sb), inv = vdupq_n_f32(yinv);
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        int16x8_t a16 = vmovl_s8(vld1_s8(a + i)), b16 = vmovl_s8(vld1_s8(b + i));
        float32x4_t v[2];
        for (int h = 0; h < 2; h++) {
            int16x4_t ah = h ? vget_high_s16(a16) : vget_low_s16(a16), bh = h ? vget_high_s16(b16) : vget_low_s16(b16);
            /* two products, then the sum: vmulq + vaddq as the reference (no vfmaq) */
            v[h] = vaddq_f32(vmulq_f32(vcvtq_f32_s32(vmovl_s16(ah)), sav), vmulq_f32(vcvtq_f32_s32(vmovl_s16(bh)), sbv));
        }
        out8(y, yq, inv, (size_t)i, 8, v[0], v[1]);
    }
    if (i < n) al_i8_add_ref(a + i, sa, b + i, sb, n - i, y ? y + i : NULL, yq ? yq + i : NULL, yinv);
}
