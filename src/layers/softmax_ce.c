/* Softmax cross-entropy, PyTorch's F.cross_entropy(ignore_index < 0) fused
 * with its gradient. logits is (rows, k) row-major; targets (rows).
 *
 * Per row: loss = log(sum_j exp(z_j - max)) - (z_t - max), which never
 * overflows; dlogits = (softmax(z) - onehot(t)) * scale, where the caller
 * passes scale = 1/counted rows for a mean loss.
 *
 * Speed: a language model's loss is rows = B*T = 640 rows of k = 5,001, 3.2M
 * exponentials a step; libm's double exp() made this as slow as the output
 * layer's GEMMs. exp here is a float polynomial (al_expf_poly in kernels/kernels.h,
 * within 2 ulp of expf on [-87, 0], the range z - max lives in) in loops without branches
 * that the compiler vectorizes; the sum of a row still runs in double (float
 * partial sums over blocks of 256), so k = 5,000 loses no precision. Rows are
 * split over the pool's threads (al_softmax_ce_pool); the loss is summed per
 * thread, then in thread order, so it is deterministic for a thread count.
 *
 * Targets < 0 are ignored (padding). Targets >= k are a caller error (the
 * trainer validates labels before training); they are treated as ignored so
 * a bad label can never index outside the row. */
#include "layers/layers.h"

#include <math.h>
#include <string.h>

#if defined(__x86_64__) || defined(_M_X64)
double al_expsum_avx512(const float *z, int k, float mx, float *e); /* src/kernels/expsum_avx512.c */
int al_rowmax16_avx512(const float *z, int k, float acc[16]);       /* the same file: row_max's loops */
int al_find_eq_avx512(const float *z, int k, float v);
#define AL_EXPSUM_X86 1
#endif

#ifdef AL_EXPSUM_X86
/* The AVX-512 loops when the GEMM runs AVX-512 (the CPU has it and AL_GEMM /
 * al_gemm_force did not pick another variant, so tests can run both paths). */
static int simd(void) { return al_gemm_current() == AL_GEMM_AVX512; }
#endif

/* Largest of z[0..k) (NaN skipped unless all are) in 16 lanes, then the first
 * index holding it (torch.argmax's tie rule). The two loops have AVX-512
 * forms, bitwise these (the plain 16 accumulators were not vectorized: 5%
 * of the LM step). */
static float row_max(const float *z, int k, int *am) {
    float acc[16];
    int i = 0;
#ifdef AL_EXPSUM_X86
    const int v = simd();
    if (v) i = al_rowmax16_avx512(z, k, acc);
    else
#endif
    {
        for (int j = 0; j < 16; j++) acc[j] = -INFINITY;
        for (; i + 16 <= k; i += 16)
            for (int j = 0; j < 16; j++) acc[j] = z[i + j] > acc[j] ? z[i + j] : acc[j];
    }
    for (; i < k; i++) acc[0] = z[i] > acc[0] ? z[i] : acc[0];
    float mx = acc[0];
    for (int j = 1; j < 16; j++) mx = acc[j] > mx ? acc[j] : mx;
    *am = 0;
#ifdef AL_EXPSUM_X86
    if (v) {
        int j = al_find_eq_avx512(z, k, mx);
        *am = j < 0 ? 0 : j;
    } else
#endif
        for (int j = 0; j < k; j++)
            if (z[j] == mx) {
                *am = j;
                break;
            }
    if (mx == -INFINITY || isnan(z[0])) mx = z[0]; /* all -inf, or a NaN row: the old rule, max = z[0] */
    return mx;
}

/* sum over j of e[j] = exp(z[j] - mx), e stored when e != NULL. */
static double row_expsum(const float *restrict z, int k, float mx, float *restrict e) {
    double se = 0.0;
    for (int b = 0; b < k; b += 256) {
        int hi = b + 256 < k ? b + 256 : k;
        float acc[16] = {0};
        int j = b;
        if (e) {
            for (; j + 16 <= hi; j += 16)
                for (int l = 0; l < 16; l++) {
                    float v = al_expf_poly(z[j + l] - mx);
                    e[j + l] = v;
                    acc[l] += v;
                }
            for (; j < hi; j++) {
                e[j] = al_expf_poly(z[j] - mx);
                acc[0] += e[j];
            }
        } else {
            for (; j + 16 <= hi; j += 16)
                for (int l = 0; l < 16; l++) acc[l] += al_expf_poly(z[j + l] - mx);
            for (; j < hi; j++) acc[0] += al_expf_poly(z[j] - mx);
        }
        float t = 0.0f;
        for (int l = 0; l < 16; l++) t += acc[l];
        se += (double)t;
    }
    return se;
}

/* the AVX-512 exp-and-sum where simd(), else the portable loop */
static double expsum(const float *z, int k, float mx, float *e) {
#ifdef AL_EXPSUM_X86
    if (simd()) return al_expsum_avx512(z, k, mx, e);
#endif
    return row_expsum(z, k, mx, e);
}

double al_softmax_expsum(const float *z, int k, float mx) { return expsum(z, k, mx, NULL); }
float al_row_max(const float *z, int k, int *argmax) { return row_max(z, k, argmax); }

static void softmax_ce_rows(const float *logits, const int32_t *targets, int lo, int hi, int k, float scale,
                            float *dlogits, double *loss_sum, long *count, long *correct) {
    double ls = 0.0;
    long cnt = 0, cor = 0;
    for (int r = lo; r < hi; r++) {
        const float *z = logits + (size_t)r * (size_t)k;
        float *dz = dlogits ? dlogits + (size_t)r * (size_t)k : NULL;
        int32_t t = targets[r];
        if (t < 0 || t >= k || k <= 0) {
            if (dz) memset(dz, 0, sizeof(float) * (size_t)(k > 0 ? k : 0));
            continue;
        }
        int am;
        float mx = row_max(z, k, &am);
        /* dz holds exp(z - max) between the two passes */
        double se = expsum(z, k, mx, dz);
        ls += log(se) - ((double)z[t] - (double)mx);
        cnt++;
        cor += am == t;
        if (dz) {
            float f = (float)(1.0 / se) * scale;
            for (int j = 0; j < k; j++) dz[j] *= f;
            dz[t] -= scale;
        }
    }
    *loss_sum = ls;
    *count = cnt;
    *correct = cor;
}

#define SCE_MAX_THREADS 64

typedef struct sce_args {
    const float *logits;
    const int32_t *targets;
    int rows, k;
    float scale;
    float *dlogits;
    double ls[SCE_MAX_THREADS];
    long cnt[SCE_MAX_THREADS], cor[SCE_MAX_THREADS];
} sce_args;

static void sce_task(void *va, int ith, int nth) {
    sce_args *a = va;
    long lo, hi;
    al_split(a->rows, ith, nth, &lo, &hi);
    softmax_ce_rows(a->logits, a->targets, (int)lo, (int)hi, a->k, a->scale, a->dlogits, &a->ls[ith], &a->cnt[ith],
                    &a->cor[ith]);
}

void al_softmax_ce_pool(al_pool *pool, const float *logits, const int32_t *targets, int rows, int k, float scale,
                        float *dlogits, double *loss_sum, long *count, long *correct) {
    double ls = 0.0;
    long cnt = 0, cor = 0;
    int nth = al_pool_size(pool);
    if (nth > 1 && nth <= SCE_MAX_THREADS && rows >= nth && (size_t)rows * (size_t)(k > 0 ? k : 0) >= 32768) {
        sce_args a;
        a.logits = logits;
        a.targets = targets;
        a.rows = rows;
        a.k = k;
        a.scale = scale;
        a.dlogits = dlogits;
        al_pool_run(pool, sce_task, &a);
        for (int i = 0; i < nth; i++) {
            ls += a.ls[i];
            cnt += a.cnt[i];
            cor += a.cor[i];
        }
    } else {
        softmax_ce_rows(logits, targets, 0, rows, k, scale, dlogits, &ls, &cnt, &cor);
    }
    if (loss_sum) *loss_sum = ls;
    if (count) *count = cnt;
    if (correct) *correct = cor;
}

void al_softmax_ce(const float *logits, const int32_t *targets, int rows, int k, float scale, float *dlogits,
                   double *loss_sum, long *count, long *correct) {
    al_softmax_ce_pool(NULL, logits, targets, rows, k, scale, dlogits, loss_sum, count, correct);
}
