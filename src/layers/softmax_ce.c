/* Softmax cross-entropy, PyTorch's F.cross_entropy(ignore_index < 0) fused
 * with its gradient. logits is (rows, k) row-major; targets (rows).
 *
 * Per row: loss = log(sum_j exp(z_j - max)) - (z_t - max), which never
 * overflows; dlogits = (softmax(z) - onehot(t)) * scale, where the caller
 * passes scale = 1/counted rows for a mean loss. The sums run in double so a
 * large k (a 5,000-word vocabulary) loses no precision.
 *
 * Targets < 0 are ignored (padding). Targets >= k are a caller error (the
 * trainer validates labels before training); they are treated as ignored so
 * a bad label can never index outside the row. */
#include "al_internal.h"

#include <math.h>
#include <string.h>

void al_softmax_ce(const float *logits, const int32_t *targets, int rows, int k, float scale, float *dlogits,
                   double *loss_sum, long *count, long *correct) {
    double ls = 0.0;
    long cnt = 0, cor = 0;
    for (int r = 0; r < rows; r++) {
        const float *z = logits + (size_t)r * (size_t)k;
        float *dz = dlogits ? dlogits + (size_t)r * (size_t)k : NULL;
        int32_t t = targets[r];
        if (t < 0 || t >= k || k <= 0) {
            if (dz) memset(dz, 0, sizeof(float) * (size_t)(k > 0 ? k : 0));
            continue;
        }
        /* argmax: the first maximum, as torch.argmax */
        int am = 0;
        float mx = z[0];
        for (int j = 1; j < k; j++)
            if (z[j] > mx) {
                mx = z[j];
                am = j;
            }
        /* dz holds exp(z - max) between the two passes */
        double se = 0.0;
        for (int j = 0; j < k; j++) {
            double e = exp((double)z[j] - (double)mx);
            se += e;
            if (dz) dz[j] = (float)e;
        }
        ls += log(se) - ((double)z[t] - (double)mx);
        cnt++;
        cor += am == t;
        if (dz) {
            double inv = 1.0 / se;
            for (int j = 0; j < k; j++) dz[j] = (float)((double)dz[j] * inv) * scale;
            dz[t] -= scale;
        }
    }
    if (loss_sum) *loss_sum = ls;
    if (count) *count = cnt;
    if (correct) *correct = cor;
}
