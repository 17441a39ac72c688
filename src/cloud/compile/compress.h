/* SVD low-rank compression (cloud side; library-internal API).
 *
 * A layer whose weight is a matrix W (m x n) is replaced by two layers of
 * rank r: W ~= (U_r sqrt(S_r)) (sqrt(S_r) V_r^T), the second factor applied
 * first. MACs per output row drop from m*n to r*(m+n).
 *   dense N (W [m=N, n=in])   -> dense r bias=0 (W1 [r, in]); dense N (W2 [N, r], the old bias)
 *   conv F k s p (W [F, C,k,k], m = F, n = C*k*k)
 *                             -> conv r k s p bias=0 (W1 [r, C,k,k]); conv F k=1 (W2 [F, r,1,1], the old bias)
 *   lstm H (W_ih [4H, E])     -> dense r bias=0 (W1 [r, E], on the last dim of [T,E]); lstm H with
 *                                W_ih = W2 [4H, r] (W_hh and biases as they were)
 *   lstm H (W_hh [4H, H])     -> lstm H rank=r with weight_hh_u = W2 [4H, r], weight_hh_v = W1 [r, H]
 *                                (no new node: the layer applies both factors each step)
 * An LSTM has two entries (W_ih and W_hh), with ranks chosen independently;
 * one whose W_hh is already factorized (rank= in its spec) has only W_ih.
 * The output model is an ordinary model with a longer spec. Node indices
 * after a factorized node shift; the freeze point, the "autlearn.freeze"
 * metadata and `add` references are moved to match (a frozen layer's two
 * factors stay frozen, a trainable layer's two factors stay trainable).
 *
 * Use:
 *     al_compress_plan p;
 *     al_compress_analyze(model, &p);          // SVD of every factorizable layer
 *     al_compress_policy pol = {AL_RANK_MACS, 2.0};
 *     al_compress_choose(&p, &pol);           // ranks for the policy
 *     al_compress_apply(model, &p, &out);     // the factorized model (weights set)
 *     al_compress_plan_free(&p);
 */
#ifndef AL_COMPRESS_H
#define AL_COMPRESS_H

#include "model/model.h"

/* Thin SVD of a (rows x cols, row-major): a = u diag(s) vt with k =
 * min(rows, cols), u (rows x k), s (k, descending, >= 0), vt (k x cols), all
 * row-major; u and vt have orthonormal columns / rows. u or vt may be NULL
 * (not wanted). One-sided Jacobi in double precision (src/cloud/compile/svd.c). */
al_status al_svd(const float *a, int rows, int cols, float *u, float *s, float *vt);

typedef enum al_compress_kind {
    AL_CK_DENSE = 0,   /* dense N */
    AL_CK_CONV,        /* conv F (any k, stride, padding) */
    AL_CK_LSTM_IH,     /* an LSTM's input weights W_ih */
    AL_CK_LSTM_HH      /* an LSTM's recurrent weights W_hh (the layer's rank=) */
} al_compress_kind;

/* One factorizable layer of the source model. */
typedef struct al_compress_layer {
    int node;                 /* its index in the source model */
    al_compress_kind kind;
    int m, n;                 /* the weight as a matrix: m outputs x n inputs */
    int full;                 /* min(m, n): the number of singular values */
    uint64_t rows;            /* output positions per sample: MACs = rows * m * n */
    int rank;                 /* chosen rank; 0 = kept as it is */
    double energy;            /* share of sum(s^2) the rank keeps (1 when kept) */
    uint64_t macs_before, macs_after;     /* of this layer (after: both factors) */
    size_t params_before, params_after;   /* weights and biases */
    /* the SVD of the weight matrix (al_malloc'd): u m x full, s full, vt full x n */
    float *u, *s, *vt;
} al_compress_layer;

/* The plan owns its layers (and their SVDs): al_compress_plan_free releases
 * them. A copy of the struct shares them; free exactly one. */
typedef struct al_compress_plan {
    int nlayers;
    al_compress_layer *layers; /* nlayers entries (al_malloc'd by al_compress_analyze) */
    uint64_t macs_before, macs_after;     /* the whole model, per sample */
    size_t params_before, params_after;
    double threshold;         /* the common energy threshold used (AL_RANK_MACS/PARAMS/ENERGY) */
} al_compress_plan;

typedef enum al_rank_policy {
    AL_RANK_ENERGY = 0,  /* per layer: the smallest r keeping >= value of sum(s^2) */
    AL_RANK_MACS,        /* a common energy threshold, bisected so that the model's
                            MACs drop by at least the factor value (> 1) */
    AL_RANK_PARAMS,      /* the same for the number of parameters */
    AL_RANK_FIXED        /* every layer at rank min(value, full) (tests, ablations) */
} al_rank_policy;

typedef struct al_compress_policy {
    al_rank_policy kind;
    double value;
    /* 1: factorize even when it does not reduce a layer's MACs
     * (r*(m+n) >= m*n); 0 (the default): such a layer is kept as it is. */
    int force;
} al_compress_policy;

/* Finds the factorizable layers of m (dense, conv, LSTM W_ih and W_hh) and
 * computes their SVDs; every rank starts at 0 (kept). AL_EINVAL when the
 * model has none. On error p holds nothing to free. */
al_status al_compress_analyze(const al_model *m, al_compress_plan *p);
/* Sets the ranks and the MAC and parameter totals for the policy.
 * AL_ERANGE when a reduction target cannot be reached even at rank 1
 * (the message names the best reachable factor), AL_EINVAL for a value out
 * of range (energy in (0, 1], factors > 1, fixed rank >= 1). */
al_status al_compress_choose(al_compress_plan *p, const al_compress_policy *pol);
/* The smallest rank of layer l keeping at least `energy` of sum(s^2). */
int al_compress_energy_rank(const al_compress_layer *l, double energy);
/* Builds the factorized model of m for the plan's ranks (a new model with
 * m's metadata; the freeze point and "autlearn.freeze" remapped). */
al_status al_compress_apply(const al_model *m, const al_compress_plan *p, al_model **out);
void al_compress_plan_free(al_compress_plan *p);

#endif /* AL_COMPRESS_H */
