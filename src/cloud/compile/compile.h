/* The network compiler (library-internal; docs/COMPILE.md). Input: a trained
 * model and a freeze point K (nodes [0, K) frozen). Output: an equivalent
 * model for the device whose training step at that freeze point needs less
 * memory and time:
 *   fold_bn       a frozen batch norm right after a conv/dense (output [F,..]
 *                 or [F]) is folded into its weight and bias and removed;
 *   fuse_act      a relu/relu6 right after a conv/dense becomes the layer's
 *                 fused activation (cfg.act) and is removed;
 *   drop_dropout  a frozen dropout (the identity: frozen nodes run in
 *                 inference mode) is removed;
 * and the memory plan (model.h) of the result, which drops everything the
 * frozen part needs only for back-propagation (no gradient, no saved aux,
 * activations reused). Every pass is exact for training too: nothing
 * trainable is folded, and a layer whose pre-activation output feeds an add
 * is left alone. Removing nodes renumbers them; the freeze point and the
 * adds' sources are remapped. Device side: libc and libm only. */
#ifndef AL_COMPILE_H
#define AL_COMPILE_H

#include "model/model.h"

typedef struct al_compile_opts {
    int fold_bn, fuse_act, drop_dropout; /* passes; 1 = on (al_compile_defaults) */
    /* 1: int8 weights for the frozen dense/conv nodes (al_quantize_frozen,
     * src/cloud/compile/quant.h); off by default. */
    int quantize_frozen;
    /* 1 (with quantize_frozen): the frozen depthwise convs too
     * (al_quantize_frozen_dw); off by default: with float activations
     * between the layers the int8 depthwise kernel is not faster than the
     * float one on the x86 CPUs measured (bench/README.md). */
    int quantize_dw;
    /* With quantize_frozen: the dense and conv nodes with at least this many
     * inputs per output channel (K) get int8 weights (default
     * AL_QUANT_MIN_K, 32: the thin ones stay float). */
    int quant_min_k;
    /* With quantize_frozen: calib_n samples (the model's input shape each,
     * laid end to end) to calibrate static input scales on
     * (al_quantize_calibrate; the int8 chain), at percentile calib_pct
     * (default AL_CALIB_PCT_DEFAULT); NULL: none, scales found at run time. */
    const float *calib_x;
    int calib_n;
    double calib_pct;
    int batch; /* the batch the stored plan is made for (default 32) */
} al_compile_opts;

void al_compile_defaults(al_compile_opts *o);

typedef struct al_compile_report {
    int nodes_in, nodes_out;
    int freeze_in, freeze_out;     /* the freeze point before and after renumbering */
    int folded_bn, fused_act, dropped;
    int quantized;                 /* frozen nodes given int8 weights */
    int calibrated;                /* of them, given a static input scale */
    int batch;
    size_t uncompiled_bytes;       /* input model, naive plan: what it needed before */
    size_t input_plan_bytes;       /* input model, liveness plan (the planner alone) */
    size_t plan_bytes;             /* compiled model, liveness plan: its peak */
    /* of input_plan_bytes and plan_bytes, the span a slim plan keeps for
     * the chunked forward's arena on one thread (model.h, al_chunk_slim;
     * 0: a whole plan): it grows with the chunk, which the widest frozen
     * node sets (fused activations make it narrower, the chunk larger) */
    size_t input_arena_bytes, arena_bytes;
    /* input node -> compiled node producing its output (-1: the input);
     * nodes_in entries, owned by the report: al_compile_report_free */
    int *map;
} al_compile_report;

/* Compiles `in` (unchanged) frozen at `freeze` into *out, a new model with
 * its freeze point, the autlearn.freeze metadata and the plan as
 * autlearn.plan.* metadata (docs/FORMAT.md). r may be NULL; when given, it
 * is filled on success only and then owns its map (al_compile_report_free);
 * on failure it is left as it was. */
al_status al_compile(const al_model *in, int freeze, const al_compile_opts *o, al_model **out,
                     al_compile_report *r);
/* Frees the report's map (r may be NULL; its map may be NULL). */
void al_compile_report_free(al_compile_report *r);

/* For a model carrying autlearn.plan.batch / .peak_bytes: recomputes the
 * plan with this build's planner and compares. AL_OK with *stored = 0 when
 * the model carries no plan; AL_ESTATE (message with both figures) when the
 * peaks differ. *now is the recomputed peak. */
al_status al_compile_check_plan(const al_model *m, size_t *stored, size_t *now);

#endif /* AL_COMPILE_H */
