/* Internal declarations shared by the library's modules. Not installed. */
#ifndef AL_INTERNAL_H
#define AL_INTERNAL_H

#include "autlearn.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#define AL_UNUSED(x) ((void)(x))
#define AL_MIN(a, b) ((a) < (b) ? (a) : (b))
#define AL_MAX(a, b) ((a) > (b) ? (a) : (b))

#if defined(__GNUC__)
#define AL_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define AL_PRINTF(f, a)
#endif

/* ---- core: errors, logging, allocation (src/core) ------------------------- */

/* Sets this thread's last-error message and returns `s`, so error paths read
 *   return al_error(AL_EINVAL, "batch must be positive, got %d", b); */
al_status al_error(al_status s, const char *fmt, ...) AL_PRINTF(2, 3);
void al_log(al_log_level level, const char *fmt, ...) AL_PRINTF(2, 3);

/* All library allocations go through these (the hook of al_set_allocator).
 * al_malloc/al_calloc set AL_ENOMEM's message on failure and return NULL.
 * al_calloc checks n*size for overflow. */
void *al_malloc(size_t size);
void *al_calloc(size_t n, size_t size);
void al_free(void *p);
char *al_strdup(const char *s);

/* Test hook (SQLite style): make allocation number k (1-based, counted from
 * the call) fail; k = 0 disables. Returns the number of allocations so far. */
void al_alloc_fail_at(long k);
long al_alloc_count(void);

/* ---- core: threads ---------------------------------------------------------- */

/* fn(arg, ith, nth) is called once for each ith in [0, nth) where
 * nth = al_pool_size(pool) (1 when pool is NULL); the caller's thread runs
 * ith = 0. Returns when all have finished. Not re-entrant. */
typedef void (*al_task_fn)(void *arg, int ith, int nth);
void al_pool_run(al_pool *pool, al_task_fn fn, void *arg);
/* Static split of [0, n) into nth nearly equal contiguous parts. */
static inline void al_split(long n, int ith, int nth, long *lo, long *hi) {
    long q = n / nth, r = n % nth;
    *lo = ith * q + (ith < r ? ith : r);
    *hi = *lo + q + (ith < r ? 1 : 0);
}

/* ---- core: arena -------------------------------------------------------------- */

/* A bump allocator over one block: sized in a first pass (base == NULL, only
 * counts) and carved in a second. Every carve is 64-byte aligned. */
typedef struct al_arena {
    char *base;
    size_t size, used;
} al_arena;
float *al_arena_floats(al_arena *a, size_t n);
void *al_arena_bytes(al_arena *a, size_t n);

/* ---- shapes ------------------------------------------------------------------- */

/* A per-sample shape (no batch dimension), at most 3 dims. */
typedef struct al_shape {
    int ndim;
    int d[3];
} al_shape;
static inline size_t al_shape_numel(const al_shape *s) {
    size_t n = 1;
    for (int i = 0; i < s->ndim; i++) n *= (size_t)s->d[i];
    return n;
}

/* ---- layers (src/layers) ------------------------------------------------------ */

typedef enum al_layer_type {
    AL_L_DENSE = 0,
    AL_L_CONV2D,
    AL_L_DWCONV2D,
    AL_L_MAXPOOL,
    AL_L_AVGPOOL,
    AL_L_GAP,
    AL_L_BATCHNORM,
    AL_L_RELU,
    AL_L_RELU6,
    AL_L_TANH,
    AL_L_SIGMOID,
    AL_L_DROPOUT,
    AL_L_FLATTEN,
    AL_L_EMBEDDING,
    AL_L_LSTM,
    AL_L_ADD,
    AL_L_COUNT
} al_layer_type;

/* The hyper-parameters of one layer. Unused fields are 0. What each layer
 * reads is documented in its file and in docs/SPEC.md. */
typedef struct al_layer_cfg {
    al_layer_type type;
    int units;     /* dense: outputs; conv: filters; lstm: hidden; embedding: dim */
    int k;         /* conv/pool kernel size (square) */
    int stride;    /* conv/pool stride (0 means: conv 1, pool k) */
    int pad;       /* conv/pool zero padding */
    int vocab;     /* embedding: number of token ids */
    int src;       /* add: index of the node whose output is added (earlier node) */
    int bias;      /* dense/conv: 1 = has bias (the default) */
    float rate;    /* dropout probability */
    float eps;     /* batchnorm epsilon (default 1e-5) */
    float momentum;/* batchnorm running-average momentum (default 0.1, PyTorch's) */
    int act;       /* dense/conv: activation fused after the bias (al_act; the compiler's fusion) */
    int rank;      /* lstm: W_hh stored as U [4H, rank] V [rank, H]; 0 = full (src/layers/lstm.c) */
} al_layer_cfg;

/* Activations a dense or conv layer can apply in place after its bias
 * (spec option act=relu|relu6). Backward multiplies dy by the derivative,
 * read from the output y as the separate layers do (src/layers/act_fused.c). */
typedef enum al_act { AL_ACT_NONE = 0, AL_ACT_RELU, AL_ACT_RELU6, AL_ACT_COUNT } al_act;
const char *al_act_name(int act); /* "relu", "relu6"; NULL for none or unknown */
/* y[0..k) = act(y), in place; split over the pool when large. */
void al_act_forward(al_pool *pool, int act, float *y, size_t k);
/* out[j] = dy[j] * act'(from y[j]); out may be dy's buffer only when not const elsewhere. */
void al_act_backward(al_pool *pool, int act, const float *y, const float *dy, float *out, size_t k);
/* The same on one contiguous slice, on the calling thread (inside a task). */
void al_act_apply(int act, float *y, size_t k);

#define AL_MAX_PARAMS 6

/* A named weight tensor of a node. `g` is NULL for state that is saved but not
 * trained (batch-norm running statistics). */
typedef struct al_param {
    const char *name; /* "weight", "bias", "running_mean", ... (static string) */
    int ndim;         /* 1..4 */
    int dims[4];      /* PyTorch's layout, e.g. conv [F, C, k, k], dense [out, in] */
    size_t n;         /* number of floats */
    float *w;
    float *g;         /* gradient, accumulated by backward; NULL for state */
    int is_state;     /* 1: not trained (no gradient, no optimizer) */
} al_param;

typedef struct al_node al_node;
typedef struct al_exec al_exec;

/* What a layer needs while it runs: threads, a seeded RNG stream (dropout),
 * scratch memory, and whether this is a training pass. */
struct al_exec {
    al_pool *pool;
    al_rng *rng;
    int training;
    float *ws;       /* scratch of at least node->ws_fixed + n * node->ws_per_sample floats */
};

/* One vtable per layer type. Shapes are per sample; n is the batch size.
 * x: n * numel(in) floats; y: n * numel(out) floats.
 *  shape:    validate cfg and `in`, set nd->out, declare params (name, dims,
 *            is_state) and the aux / scratch sizes. No allocation.
 *  init:     initialise weights (PyTorch's default init for the twin layer).
 *  forward:  compute y; in training mode save what backward needs in nd->aux.
 *  backward: given dy, accumulate weight gradients when nd->trainable and
 *            write dx when dx != NULL (dx is overwritten, not accumulated).
 *  macs:     forward multiply-accumulates per sample. */
typedef struct al_layer_vt {
    const char *name;
    al_status (*shape)(al_node *nd, const al_shape *in);
    void (*init)(al_node *nd, al_rng *rng);
    al_status (*forward)(al_node *nd, const al_exec *e, const float *x, float *y, int n);
    void (*backward)(al_node *nd, const al_exec *e, const float *x, const float *y, const float *dy, float *dx,
                     int n);
    uint64_t (*macs)(const al_node *nd);
} al_layer_vt;

struct al_node {
    al_layer_cfg cfg;
    const al_layer_vt *vt;
    int index;
    int trainable;       /* 0: frozen (no weight gradient; batchnorm uses running stats) */
    al_shape in, out;
    al_param params[AL_MAX_PARAMS];
    int nparams;
    size_t aux_per_sample, aux_fixed; /* floats kept from forward for backward */
    size_t ws_per_sample, ws_fixed;   /* scratch floats during forward/backward */
    float *aux;          /* aux_fixed + maxbatch * aux_per_sample floats */
    int maxbatch;        /* batch the model is planned for */
    /* Residual add: the other operand and where its gradient accumulates. */
    const float *x2;
    float *dx2;          /* accumulate (+=) into it; NULL when not needed */
    /* Recurrent state carried between calls (LSTM truncated BPTT): h and c
     * of the last step, maxbatch * units each; see al_model_reset_state. */
    float *state;
    int carry_state;
    /* This node's scratch (e->ws for its forward and backward), placed by
     * the memory planner (src/compile/memplan.h). */
    float *ws;
    /* int8 weights of a quantized frozen dense/conv node, or NULL
     * (src/compile/quant.h; owned by the node, freed with the model). */
    struct al_qnode *q;
    /* conv: the forward kernel chosen by shape (al_conv_algo). */
    int conv_algo;
};

/* Returns the vtable for a type, or NULL. Names are the spec keywords. */
const al_layer_vt *al_layer_vtable(al_layer_type t);
int al_layer_type_from_name(const char *name, al_layer_type *out);
const char *al_layer_type_name(al_layer_type t);

/* Helper for layers: declare param slot i with a full shape. */
void al_node_param(al_node *nd, int i, const char *name, int ndim, const int *dims, int is_state);

/* The geometry of a conv node (input [C,H,W], F filters k x k, stride s,
 * padding p, output [F,Ho,Wo]; P = Ho*Wo output pixels, CKK = C*k*k rows of
 * the column matrix), shared by the float and the int8 forward. */
typedef struct al_conv_geom {
    int C, H, W, F, k, s, p, Ho, Wo;
    long P, CKK;
} al_conv_geom;
static inline al_conv_geom al_conv_geometry(const al_node *nd) {
    al_conv_geom g;
    g.C = nd->in.d[0];
    g.H = nd->in.d[1];
    g.W = nd->in.d[2];
    g.F = nd->cfg.units;
    g.k = nd->cfg.k;
    g.s = nd->cfg.stride > 0 ? nd->cfg.stride : 1;
    g.p = nd->cfg.pad;
    g.Ho = (g.H + 2 * g.p - g.k) / g.s + 1;
    g.Wo = (g.W + 2 * g.p - g.k) / g.s + 1;
    g.P = (long)g.Ho * g.Wo;
    g.CKK = (long)g.C * g.k * g.k;
    return g;
}

/* ---- kernels (src/kernels): pure compute, no allocation -------------------- */

/* C = alpha * op(A) * op(B) + beta * C, row-major. op(A) is M x K, op(B) K x N.
 * ta/tb: 0 = as stored, 1 = transposed. Dispatches to the fastest variant for
 * this CPU; runs on the pool's threads with a static split. */
void al_sgemm(al_pool *pool, int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc);
/* The same with op(B) K x N produced by a packing callback instead of a
 * stored matrix (implicit GEMM: conv packs straight from the image).
 * pack(ctx, p0, kc, j0, nc, NR, dst) writes op(B)[p0 .. p0+kc) x [j0 .. j0+nc)
 * as NR-column panels: the panel of columns c .. c+NR (c a multiple of NR)
 * starts at dst + c*kc and holds dst[p*NR + j] = op(B)[p0+p][j0+c+j],
 * columns past nc zero. It runs on the GEMM's threads, concurrently. */
typedef void (*al_bpack_fn)(const void *ctx, int p0, int kc, int j0, int nc, int NR, float *dst);
void al_sgemm_bpack(al_pool *pool, int ta, int M, int N, int K, float alpha, const float *A, int lda,
                    al_bpack_fn pack, const void *ctx, float beta, float *C, int ldc);
/* The plain-C reference every fast variant is checked against. */
void al_sgemm_ref(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                  int ldb, float beta, float *C, int ldc);

/* ---- gemm variants and conv kernels (src/kernels/gemm.c, conv.c) ---------- */

/* GEMM implementations. al_sgemm picks the best one for the CPU at the first
 * call; the environment variable AL_GEMM=ref|c|avx2|avx512|neon overrides
 * it, and al_gemm_force (tests, benchmarks) overrides both. */
typedef enum al_gemm_variant {
    AL_GEMM_AUTO = -1,
    AL_GEMM_REF = 0, /* al_sgemm_ref, rows split over threads */
    AL_GEMM_C,       /* packed, portable C micro-kernel */
    AL_GEMM_AVX2,    /* packed, AVX2+FMA 6x16 */
    AL_GEMM_AVX512,  /* packed, AVX-512F 12x32 */
    AL_GEMM_NEON,    /* packed, NEON 8x12 (aarch64) */
    AL_GEMM_NVARIANTS
} al_gemm_variant;
int al_gemm_available(al_gemm_variant v);
/* Returns 0 (and changes nothing) when v is not available; AL_GEMM_AUTO
 * returns to the automatic choice. Process-wide: not for concurrent use. */
int al_gemm_force(al_gemm_variant v);
al_gemm_variant al_gemm_current(void);
/* The most a thread's GEMM pack buffer (kept between calls) can grow to, in
 * bytes, for the current variant (memory budgets). */
size_t al_gemm_pack_bytes_max(void);
const char *al_gemm_variant_name(al_gemm_variant v);

/* NCHW image <-> column matrix for convolution as GEMM. One sample x [C,H,W],
 * square kernel k, stride s, zero padding p, output Ho x Wo with
 * Ho = (H + 2p - k) / s + 1. The column matrix has C*k*k rows (c, ky, kx)
 * and Ho*Wo columns (oy, ox), rows ldcol floats apart (ldcol >= Ho*Wo, so
 * several samples can sit side by side). im2col overwrites col; col2im
 * overwrites x with the sum of every column entry that reads each pixel. */
void al_im2col(const float *x, int C, int H, int W, int k, int s, int p, float *col, long ldcol);
void al_col2im(const float *col, long ldcol, int C, int H, int W, int k, int s, int p, float *x);
/* The column matrix of n samples side by side ([C*k*k, n*Ho*Wo], sample i
 * at column i*Ho*Wo) as al_sgemm_bpack's B, packed from the images x
 * [n,C,H,W] without writing the matrix (ctx: an al_im2col_src). */
typedef struct al_im2col_src {
    const float *x;
    int C, H, W, k, s, p, Ho, Wo;
} al_im2col_src;
void al_im2col_pack(const void *ctx, int p0, int kc, int j0, int nc, int NR, float *dst);
/* The plain-C forms of the three. The ones above take AVX-512 forms for
 * stride-1 "same" convs (2p = k-1) on a CPU with AVX-512F (AL_CONV_SIMD=0
 * turns them off); the tests check them against these. */
void al_im2col_ref(const float *x, int C, int H, int W, int k, int s, int p, float *col, long ldcol);
void al_col2im_ref(const float *col, long ldcol, int C, int H, int W, int k, int s, int p, float *x);
void al_im2col_pack_ref(const void *ctx, int p0, int kc, int j0, int nc, int NR, float *dst);
/* Direct kernels for a conv of one input channel, 3x3, stride 1, padding 1
 * (an image CNN's first conv), where its GEMMs (K = 9; a 9-wide weight
 * gradient) are packing-bound. al_conv1c3_available: they run here (AVX-512F,
 * AL_CONV_SIMD not 0, H*W not too large); else the two return 0 and do
 * nothing. forward: y [F,H,W] of one sample x [H,W], w [F,9], b [F] or NULL
 * (bitwise the AVX-512 implicit GEMM's y). dweight: dw [F,9] and db [F] (or
 * NULL) += the gradients of filters [f0, f1) over n samples x [n,H,W],
 * dy [n,F,H,W]; relu: dy counts only where y > 0. */
int al_conv1c3_available(int H, int W);
/* 1 when the AVX-512F forms of the CNN kernels (conv.c, maxpool) may run:
 * the CPU has AVX-512F and AL_CONV_SIMD is not 0. */
int al_cnn_simd(void);
int al_conv1c3_forward(const float *x, int H, int W, const float *w, const float *b, int F, float *y);
int al_conv1c3_dweight(const float *x, const float *dy, const float *y, int relu, int n, int H, int W, int F, int f0,
                       int f1, float *dw, float *db);

/* int8 weights of a node (src/compile/quant.c); NULL is fine. */
struct al_qnode;
void al_qnode_free(struct al_qnode *q);

/* ---- model (src/model) ---------------------------------------------------------- */

#define AL_MAX_NODES 64
#define AL_MAX_META 32

struct al_model {
    al_shape in;               /* per-sample input shape */
    int input_tokens;          /* 1: the input holds token ids (embedding first) */
    int nnodes;
    al_node nodes[AL_MAX_NODES];
    int first_trainable;
    char *spec;                /* canonical spec */
    /* parameters: one block for weights, one for gradients */
    float *wblock, *gblock;
    size_t nweights;
    /* planned buffers for a batch (al_model_plan) */
    int maxbatch;
    char *plan_block;
    float **act;               /* act[i]: output of node i (maxbatch * numel(out)) */
    float **dact;              /* dact[i]: gradient w.r.t. act[i], or NULL */
    float *ws;                 /* shared scratch */
    size_t ws_n;
    al_rng rng;                /* dropout stream */
    int want_input_grad;       /* tests: backward also computes d(loss)/d(input) */
    float *dinput;             /* maxbatch * numel(in) when planned with want_input_grad */
    float **dside;             /* dside[i]: gradient arriving at node i through an add */
    float *dside_input;        /* same for the model input */
    /* memory planner (src/compile/memplan.h): plan_naive = 1 asks for the
     * layout without liveness (comparisons, tests); plan_lowest is the lowest
     * backward node the current plan supports. */
    int plan_naive;
    int plan_lowest;
    char *meta_key[AL_MAX_META];
    char *meta_val[AL_MAX_META];
    int nmeta;
};

/* Builds from parsed layer configs (validates and infers shapes). */
al_status al_model_build(const al_shape *in, int input_tokens, const al_layer_cfg *layers, int n,
                         al_model **out);
al_status al_spec_parse(const char *spec, al_shape *in, int *input_tokens, al_layer_cfg *layers, int max,
                        int *n);
/* The spec of a built-in architecture ("refcnn", "reflm", "mlp"), or NULL. */
const char *al_spec_builtin(const char *name);
/* Writes the canonical spec for the model (al_malloc'd). */
char *al_spec_format(const al_shape *in, int input_tokens, const al_layer_cfg *layers, int n);
void al_model_init_weights(al_model *m, uint64_t seed);
/* Allocates activations, gradients and scratch for batches up to maxbatch
 * (no-op when already planned for at least that). */
al_status al_model_plan(al_model *m, int maxbatch);
/* The bytes al_model_plan(m, maxbatch) would allocate, without allocating
 * (memory budgets); 0 for a bad batch. */
size_t al_model_plan_bytes(const al_model *m, int maxbatch);
/* The same for the model as al_model_freeze(m, freeze) would leave it
 * (the plan depends on how far backward reaches); freeze < 0: as it is. */
size_t al_model_plan_bytes_at(const al_model *m, int maxbatch, int freeze);
/* Frees the planned block (the next forward or al_model_plan re-plans), so a
 * model planned for a larger batch can be planned smaller. */
void al_model_release_plan(al_model *m);
/* Forward over nodes [from, nnodes): x is the input of node `from` (the
 * model input when from == 0). Returns the output buffer (owned by the model). */
al_status al_model_forward_from(al_model *m, al_pool *pool, int from, const float *x, int n, int training,
                                const float **y);
/* Forward over nodes [from, to) only; the output is m->act[to - 1]. */
al_status al_model_forward_range(al_model *m, al_pool *pool, int from, int to, const float *x, int n,
                                 int training);
/* Backward from dlogits (n * numel(out)); fills weight gradients of trainable
 * nodes; stops below the lowest trainable node. `x` is the model input. */
al_status al_model_backward(al_model *m, al_pool *pool, const float *x, const float *dlogits, int n);
void al_model_zero_grad(al_model *m);
/* Zeroes the carried recurrent state (start of a new text stream). */
void al_model_reset_state(al_model *m);
void al_model_set_carry_state(al_model *m, int on);

/* ---- loss (src/layers/softmax_ce.c) ----------------------------------------- */

/* Softmax cross-entropy over rows of k logits. Targets < 0 are ignored.
 * Returns the summed loss over counted rows in *loss_sum, their count in
 * *count, correct argmax count in *correct; writes dlogits = (softmax -
 * onehot) * scale for counted rows, 0 for ignored rows (dlogits may be NULL). */
void al_softmax_ce(const float *logits, const int32_t *targets, int rows, int k, float scale, float *dlogits,
                   double *loss_sum, long *count, long *correct);
/* The same with rows split over the pool's threads (the loss summed per
 * thread, then in thread order: deterministic for a thread count). */
void al_softmax_ce_pool(al_pool *pool, const float *logits, const int32_t *targets, int rows, int k, float scale,
                        float *dlogits, double *loss_sum, long *count, long *correct);
/* sum over j < k of exp(z[j] - mx), in softmax's arithmetic (float terms,
 * double blocks; AVX-512 when the CPU has it). */
double al_softmax_expsum(const float *z, int k, float mx);
/* The largest of z[0..k) and the first index holding it (softmax's row maximum). */
float al_row_max(const float *z, int k, int *argmax);

/* ---- datasets (src/data) ------------------------------------------------------ */

struct al_dataset {
    int n;
    al_shape xs;       /* per-sample input shape */
    int y_len;
    int num_classes;
    float *x;          /* n * numel(xs) */
    int32_t *y;        /* n * y_len */
};
/* A dataset with uninitialised x and y (al_malloc'd separately; freed by
 * al_dataset_free) for loaders to fill. Validates and caps the sizes. */
al_status al_dataset_alloc(int n, const al_shape *xs, int y_len, int num_classes, al_dataset **out);

/* ---- CRC32 (src/model/crc32.c) ------------------------------------------------ */
uint32_t al_crc32(uint32_t crc, const void *data, size_t n);

/* ---- model files (src/model/model_io.c) --------------------------------------- */
/* al_model_load over n bytes in memory (borrowed; the fuzz target's entry). */
al_status al_model_load_mem(const void *buf, size_t n, al_model **out);


/* ---- runtime cache internals (src/train/cache.c) -------------------------------- */
/* Binds the cache to a prefix: feature size in floats and a fingerprint of
 * the frozen weights and freeze point; a change clears the cache. */
void al_cache_bind(al_cache *c, size_t feat, uint64_t fingerprint);
/* 1 and fills out[feat] on a hit, 0 on a miss. */
int al_cache_lookup(al_cache *c, uint64_t id, int variant, float *out);
/* 1 when the cache holds (id, variant); no statistics are touched. */
int al_cache_contains(const al_cache *c, uint64_t id, int variant);
/* Keeps a copy if the bound (or the spill file) allows; never fails. */
void al_cache_store(al_cache *c, uint64_t id, int variant, const float *f);
uint64_t al_model_prefix_fingerprint(const al_model *m);
/* Memory budgets (src/train/membudget.c): the cache's byte bound, whether it
 * has a spill file, and lowering the bound (entries held in memory past the
 * new bound are dropped: they get recomputed). */
size_t al_cache_bound(const al_cache *c);
int al_cache_has_spill(const al_cache *c);
void al_cache_set_bound(al_cache *c, size_t max_bytes);
/* What a job built on personalization knows about its memory that
 * al_personalize_config does not say (al_personalize_plan_memory is
 * al_plan_memory_job with x = NULL). */
typedef struct al_mem_job {
    size_t entries;     /* cache keys the job stores; 0: samples x variants */
    int cache_required; /* entries that cannot be recomputed exactly: without a spill
                         * file the bound never drops below them (AL_EBUDGET instead) */
    int own_cache;      /* no cache given: the job makes its own, holding every entry */
    size_t staging;     /* bytes the job allocates besides (the text path's windows) */
    int trainer_only;   /* al_trainer_new without a batch source: no staging */
} al_mem_job;
al_status al_plan_memory_job(const al_model *m, const al_pool *pool, const al_dataset *train, const al_cache *cache,
                             const al_personalize_config *c, const al_mem_job *x, al_mem_plan *out);

#endif /* AL_INTERNAL_H */
