/* The model level (src/model): the model (its nodes, weights, planned
 * buffers), the spec language, the memory planner, the int8 runtime
 * (installing and copying a node's int8 weights), the GGUF container and
 * model files. Calls layers, kernels and core. */
#ifndef AL_MODEL_H
#define AL_MODEL_H

#include "layers/layers.h"

#include <stdio.h>

/* ---- model (src/model) ---------------------------------------------------------- */

/* The most nodes a model may have. Nothing is sized by it: the nodes, the
 * memory plan and every per-node table are allocated for the model at hand.
 * It bounds untrusted input (model files, checkpoints, specs, ONNX graphs)
 * far above any mobile network (EfficientNet-B0 has about 250 nodes), and
 * al_model_build enforces it too, so every model it builds can be saved and
 * loaded again. */
#define AL_MAX_NODES (1 << 16)
#define AL_MAX_META 32

/* The chunked forward's plan (src/model/chunk.c): made for nodes
 * [from, to) in chunks of nb samples. off[t]: tensor t's offset in the
 * chunk arena when it is chunk-local, AL_CHUNK_FULL when it keeps its own
 * buffer; ws_off, aux_off: each node's scratch and aux in the arena (made
 * for chunks of nb samples, it serves smaller ones too). ins:
 * the tensors made below `from` that the range reads; outs: those it
 * writes whole (read past it, or its last node's). */
#define AL_CHUNK_FULL ((size_t)-1)
#define AL_CHUNK_MSG 256
typedef struct al_chunkplan {
    int from, to, nb, threads;
    int asked; /* the chunk size it was made for (nb: made smaller to fit in the plan) */
    /* threads arenas of `bytes` each, then the pack buffers: in a span of
     * the memory plan that the range leaves unused (owned 0), else
     * allocated (owned 1) */
    char *block;
    int owned;
    size_t bytes;
    size_t *off, *ws_off, *aux_off; /* ntensors, nnodes, nnodes entries (one allocation) */
    int *ins, *outs;                /* nins, nouts entries (one allocation of 2 * ntensors) */
    int nins, nouts;
    /* per thread: a copy of the node that runs and of its operand list
     * (nmore entries: the longest in the range), and a failure's status and
     * message */
    al_node *tnodes;
    al_operand *tmore;
    size_t nmore;
    al_status *tst;
    char *tmsg;                     /* threads * AL_CHUNK_MSG */
    float *pack;                    /* threads GEMM pack buffers of pack_floats (in block, after the arenas; none on one thread) */
    size_t pack_floats;
} al_chunkplan;

struct al_model {
    al_shape in;               /* per-sample input shape */
    int input_tokens;          /* 1: the input holds token ids (embedding first) */
    int nnodes;
    al_node *nodes;            /* nnodes entries (al_calloc'd by al_model_build) */
    int freeze;
    char *spec;                /* canonical spec */
    /* parameters: one block for weights, one for gradients */
    float *wblock, *gblock;
    size_t nweights;
    /* planned buffers for a batch (al_model_plan) */
    int maxbatch;
    char *plan_block;
    /* The tensors: output p of node i is tensor al_model_tensor(m, i, p):
     * i for port 0, so act[i] is node i's (first) output as it always was;
     * the further outputs of multi-output nodes (split) follow, from
     * nnodes on. */
    int ntensors;
    int *xbase;                /* nnodes entries: tensor of (i, p >= 1) is xbase[i] + p - 1 */
    int *t_node, *t_port;      /* ntensors entries: the tensor's producer and port */
    int *t_last_reader;        /* the last node reading tensor t (any operand); -1: none */
    int *t_last_primary;       /* the last node reading t as its primary input; -1: none */
    float **act;               /* act[t]: tensor t (maxbatch * numel) */
    float **dact;              /* dact[t]: gradient w.r.t. act[t], or NULL */
    float *ws;                 /* shared scratch */
    size_t ws_n;
    al_rng rng;                /* dropout stream */
    int want_input_grad;       /* tests: backward also computes d(loss)/d(input) */
    float *dinput;             /* maxbatch * numel(in) when planned with want_input_grad */
    float **dside;             /* dside[t]: gradient arriving at tensor t through an add, or a later
                                * output's zeros when nobody reads it */
    float *dside_input;        /* same for the model input */
    /* memory planner (src/model/model.h): plan_naive = 1 asks for the
     * layout without liveness (comparisons, tests); plan_lowest is the lowest
     * backward node the current plan supports. */
    int plan_naive;
    int plan_lowest;
    /* The slim plan (al_chunk_slim): nodes [0, plan_slim) run in chunks in
     * every forward, and their chunk-local tensors, scratch and aux have no
     * whole-batch buffers (0: a whole plan). plan_whole = 1: make whole
     * plans only (set when a forward ran those nodes whole). plan_size:
     * the block's bytes. */
    int plan_slim;
    int plan_whole;
    size_t plan_size;
    /* > 0 while an inference call runs (al_model_plan_infer,
     * al_model_infer_range: al_model_predict, al_evaluate,
     * al_model_predict_cached): no backward follows, so any plan that holds
     * the batch serves it as made, and a plan it has to make is made as for
     * the model frozen entirely (plan_lowest nnodes: no gradients, nothing
     * kept for backward), its slim range ending at node `infer` (nnodes:
     * the whole chunkable prefix; the cache's freeze point, where the
     * frontier must be kept whole). A training forward later finds such a
     * plan too shallow and re-plans. */
    int infer;
    int input_last_reader;     /* the last node that reads the model input */
    /* The int8 chain (docs/KERNELS.md, "int8 activations"): 1 (the default)
     * lets a quantized node hand its output as int8 to a quantized node
     * with a static input scale that alone reads it; 0 keeps floats
     * between all nodes (the same results bit for bit: tests, benchmarks). */
    int i8_chain;
    /* the chain of the current forward (model.c, i8_plan): per node, the
     * scale its output travels at as int8 (0: floats), and 1 for an add
     * that runs in int8 */
    float *i8_y;
    unsigned char *i8_add;
    /* Called before node i's forward with its primary input (floats, n
     * samples) when set: calibration (src/cloud/compile/quant.c) reads every
     * quantized node's input through it. */
    void (*observe)(void *ctx, int node, const float *x, int n);
    void *observe_ctx;
    /* The chunked forward (chunk.c; al_model_set_forward_chunk): samples a
     * chunk (0: sized by the caches, < 0: never), and the plan of the last
     * chunked range (NULL: none; freed with the memory plan). */
    int chunk;
    al_chunkplan *cplan;
    /* per forward kind (0 evaluation, 1 training) from node 0: the end of
     * its chunked range when the plan was made (al_chunk_end; < 2: none)
     * and the largest span of the plan that range leaves unused, where its
     * arenas go when they fit (chunk.c, al_chunk_gap) */
    struct { int e; size_t off, size; } chunk_gap[2];
    char *meta_key[AL_MAX_META];
    char *meta_val[AL_MAX_META];
    int nmeta;
};

/* Tensor (node, port) (node -1: the model input, -1), and a tensor's
 * per-sample shape (src/model/memplan.c: the planner's tensor table, which
 * the executor reads). */
int al_model_tensor(const al_model *m, int node, int port);
const al_shape *al_model_tensor_shape(const al_model *m, int t);

/* Builds from parsed layer configs (validates and infers shapes). */
al_status al_model_build(const al_shape *in, int input_tokens, const al_layer_cfg *layers, int n,
                         al_model **out);
/* Parses a spec into at most max layer configs (AL_ERANGE past that). */
al_status al_spec_parse(const char *spec, al_shape *in, int *input_tokens, al_layer_cfg *layers, int max,
                        int *n);
/* The same into an array sized for the spec (al_malloc'd, *layers; the
 * caller frees it with al_free; NULL on failure). */
al_status al_spec_parse_alloc(const char *spec, al_shape *in, int *input_tokens, al_layer_cfg **layers, int *n);
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
 * (the plan depends on how far backward reaches); freeze < 0: as it is.
 * Both build a memory plan (al_memplan_build), which allocates; 0 when that
 * fails (out of memory; the message is set). */
size_t al_model_plan_bytes_at(const al_model *m, int maxbatch, int freeze);
/* Frees the planned block (the next forward or al_model_plan re-plans), so a
 * model planned for a larger batch can be planned smaller. */
void al_model_release_plan(al_model *m);
/* Inference (al_model_predict, al_evaluate, al_model_predict_cached): the
 * plan for batches up to maxbatch of inference alone whose forward from
 * node 0 runs to node cut (1..nnodes) and on from there -- the current plan
 * when it holds maxbatch and serves that forward (whatever it was made
 * for), else one made as for the model frozen entirely, whatever its
 * freeze point, its chunked range ending at cut (m->infer;
 * al_memplan_build_infer). A model frozen as loaded (node 0) would
 * otherwise plan every activation and gradient of a training step to
 * predict. */
al_status al_model_plan_infer(al_model *m, int maxbatch, int cut);
/* The evaluation forward of nodes [from, to) (al_model_forward_range)
 * under the same rule. */
al_status al_model_infer_range(al_model *m, al_pool *pool, int from, int to, const float *x, int n, int cut);
/* The evaluation forward of the whole model under the same rule (cut
 * nnodes); *y: the output (owned by the model). */
al_status al_model_infer(al_model *m, al_pool *pool, const float *x, int n, const float **y);
/* Forward over nodes [from, nnodes): x is the model input when from == 0,
 * else the frozen frontier at `from`, packed (al_model_frontier_pack). Returns the output buffer (owned by the model). */
al_status al_model_forward_from(al_model *m, al_pool *pool, int from, const float *x, int n, int training,
                                const float **y);
/* Forward over nodes [from, to) only; the output is m->act[to - 1]. The
 * nodes al_chunk_end admits run in chunks of samples when the batch is
 * larger than a chunk (src/model/chunk.c): afterwards only the tensors a
 * node past that range reads, its last node's outputs and the model output
 * hold the whole batch; the others (read only inside it) hold nothing (in
 * a slim plan, m->plan_slim > 0, they have no buffer at all, and a forward
 * from node 0 always runs its range in chunks; one that ends or starts
 * inside that range makes a whole plan first, AL_ESTATE when its input
 * lies in the plan). */
al_status al_model_forward_range(al_model *m, al_pool *pool, int from, int to, const float *x, int n,
                                 int training);
/* Backward from dlogits (n * numel(out)); fills weight gradients of trainable
 * nodes; stops below the lowest trainable node. `x` is the model input. */
al_status al_model_backward(al_model *m, al_pool *pool, const float *x, const float *dlogits, int n);
void al_model_zero_grad(al_model *m);
/* The same, the gradients laid end to end and split statically over the
 * pool's threads (at 64-byte boundaries) when they are many; pool may be NULL. */
void al_model_zero_grad_pool(al_model *m, al_pool *pool);
/* Zeroes the carried recurrent state (start of a new text stream). */
void al_model_reset_state(al_model *m);
void al_model_set_carry_state(al_model *m, int on);

/* ---- model files (src/model/model_io.c) --------------------------------------- */
/* al_model_load over n bytes in memory (borrowed; the fuzz target's entry). */
al_status al_model_load_mem(const void *buf, size_t n, al_model **out);
/* Metadata keys (model.c; model_io.c saves and loads by them): AL_OK when
 * a model file can hold metadata under `key` (al_model_set_meta's check):
 * 1..65,535 bytes, not one of the layout's own keys; and whether key
 * p[0..n) is one of those (every other string key is free-form metadata). */
al_status al_model_meta_key_check(const char *key);
int al_model_meta_reserved(const char *p, size_t n);

/* ---- the freeze point ------------------------------------------------------- */

/* The freeze point K: nodes [0, K) are frozen, [K, n) trainable. It is
 * resolved here and nowhere else: a caller's K >= 0 is taken as it is; a
 * negative K (none given) means the model's default, its stored
 * autlearn.freeze when that is a node number 0..n, else the architecture's
 * default: the last node with trained weights (the output layer), chosen
 * by measurement (README, "Choosing the freeze point"). */
int al_model_resolve_freeze(const al_model *m, int freeze);
/* The frozen frontier at K: the tensors below K that nodes at or past K
 * read -- node K - 1's output, and in a graph every earlier output a later
 * node still reads (a residual's shortcut, a squeeze-excite's input). The
 * suffix [K, n) needs exactly these: the runtime cache keeps them, packed
 * per sample in node order (al_model_frontier_pack: sample i's floats are
 * [i * numel, (i + 1) * numel)), and al_model_forward_from(m, K, x) takes
 * them packed. With one tensor the packing is node K - 1's output as it is. */
int al_model_frontier_count(const al_model *m, int K);
/* 1 when the frontier at K is node K - 1's output 0 alone (packed, it is
 * act[K - 1] as it is). */
int al_model_frontier_plain(const al_model *m, int K);
size_t al_model_frontier_numel(const al_model *m, int K);
void al_model_frontier_pack(const al_model *m, int K, int n, float *dst);
/* The most floats of GEMM pack buffer one thread's part of a pass asks in
 * a job on batches of at most n whose backward reaches node `from` (the
 * freeze point; m->nnodes: none): the largest over every node's forward and
 * the backward of the nodes from `from` on (the layers' pack_floats). A
 * pool thread's own buffer never grows past al_gemm_own_bytes of it in
 * such a job (src/train/membudget.c counts each thread at that). */
size_t al_model_pack_floats(const al_model *m, int n, int from);
/* Sample i's packed frontier (al_model_frontier_numel floats) into dst. */
void al_model_frontier_row(const al_model *m, int K, int i, float *dst);
/* The first node at or past `freeze` that reads the model input (as its
 * primary input, or as any other operand: an add's, a concat's ...), or -1. The
 * model input cannot be part of the frontier: a job frozen there is
 * refused. al_model_src_verb says what node i does with it ("reads",
 * "adds", "multiplies by") for the message. */
int al_model_src_across(const al_model *m, int freeze);
const char *al_model_src_verb(const al_model *m, int i);
int al_model_arch_freeze(const al_model *m);

/* ---- the memory planner (src/model/memplan.c) --------------------------------- */
/* The memory planner (device side: libc only). It lists every buffer a
 * training step of a model needs at a batch size -- activations, their
 * gradients, residual side gradients, each layer's saved state (aux) and
 * scratch, the LSTM carried state, the input gradient -- with the steps
 * during which each one holds a value, and gives each an offset in one
 * arena so that buffers alive at the same time never share bytes. The model
 * planner (model.c, al_model_plan) carves its block from this plan, so
 * al_model_plan_bytes is the plan's total and the peak training memory is
 * known before the first step. docs/COMPILE.md explains the schedule. */


/* Schedule of one training step over n nodes with L the lowest node
 * backward reaches (al_memplan_lowest):
 *   forward of node i          at time i           (0 .. n-1)
 *   backward of node i (i >= L) at time 2n-1-i      (n .. 2n-1-L)
 * Buffers that outlive a step (LSTM state, the pointer tables) are alive
 * over [0, end] with end = 2n + 1 (al_memplan.end). Intervals are inclusive. */

typedef enum al_membuf_kind {
    AL_MB_TABLES = 0, /* the act/dact/dside pointer tables */
    AL_MB_ACT,        /* act of tensor (node, port), an output of node i */
    AL_MB_DACT,       /* dact of (node, port), the gradient w.r.t. that output */
    AL_MB_DSIDE,      /* dside of (node, port), gradient reaching it through an add */
    AL_MB_AUX,        /* node i's aux: what forward keeps for backward */
    AL_MB_STATE,      /* node i's carried recurrent state */
    AL_MB_WS,         /* node i's scratch (-1: one scratch shared by all, naive plan) */
    AL_MB_DINPUT,     /* gradient w.r.t. the model input (want_input_grad) */
    AL_MB_DSIDE_INPUT,/* gradient reaching the input through an add */
    AL_MB_DX,         /* node i's dxbuf: its primary input's gradient, added to that input's dside */
    AL_MB_CHUNK       /* a slim plan's span for the chunked forward's arena (al_chunk_slim) */
} al_membuf_kind;

typedef struct al_membuf {
    al_membuf_kind kind;
    int node;         /* node index; -1 for model-wide buffers */
    int port;         /* act, dact, dside: the node's output; 0 for the others */
    size_t bytes;     /* a multiple of 64 */
    size_t offset;    /* from the arena's start, a multiple of 64 */
    int nlive;        /* 1 or 2 live intervals (scratch: its forward and its backward step) */
    int t0[2], t1[2];
} al_membuf;

/* A plan owns its buffer list: al_memplan_build allocates it (at most 7
 * buffers per node, 3 per further output, plus the model-wide ones),
 * al_memplan_free releases it. */
typedef struct al_memplan {
    int nbuf;
    al_membuf *buf;   /* nbuf entries (al_malloc'd; al_memplan_free) */
    int end;          /* the last step of the schedule: 2 * nnodes + 1 */
    size_t total;     /* bytes of the arena: the peak */
    size_t live_peak; /* the most bytes alive at one step: the bound no placement beats */
    int lowest;       /* L the plan was made for */
    int naive;        /* 1: every buffer alive all the time (the planner before liveness) */
    int slim;         /* > 0: a slim plan for the chunked range [0, slim) (al_chunk_slim) */
} al_memplan;

/* The lowest node backward reaches: 0 with want_input_grad, else the lowest
 * trainable node with trained weights, nnodes when there is none. */
int al_memplan_lowest(const al_model *m);
/* The same after al_model_freeze(m, freeze) (freeze < 0: as m stands). */
int al_memplan_lowest_at(const al_model *m, int freeze);
/* The lowest node the current forward keeps buffers for: al_memplan_lowest,
 * or in an inference call (m->infer) the plan's own (plan_lowest) where that
 * is higher: an inference plan keeps nothing for backward. */
int al_memplan_forward_lowest(const al_model *m);

/* Lists the buffers of m at batch maxbatch and places them. naive = 1 gives
 * the layout without liveness: one buffer per activation and gradient of
 * every node, aux for every node, one shared scratch, laid end to end (what
 * an uncompiled model would need; the comparison in autlearn info).
 * *p is an output (its old contents are not read: free an earlier plan in
 * it first); on success it owns an allocation that al_memplan_free
 * releases, on failure it holds nothing to free. */
al_status al_memplan_build(const al_model *m, int maxbatch, int naive, al_memplan *p);
/* The same for the model frozen at `freeze` (< 0: as it stands). Both
 * (chunk.c) make the slim plan al_chunk_slim asks for. */
al_status al_memplan_build_at(const al_model *m, int maxbatch, int naive, int freeze, al_memplan *p);
/* The plan of inference whose forward from node 0 ends at node cut
 * (1..nnodes): no backward (lowest nnodes), the slim range as for the
 * model frozen at cut (al_chunk_slim: the tensors a node past cut reads
 * keep their buffers). cut nnodes: al_memplan_build_at(.., nnodes, ..). */
al_status al_memplan_build_infer(const al_model *m, int maxbatch, int naive, int cut, al_memplan *p);
/* The plan with the slim range given: the chunked range [0, es) whose
 * chunk-local tensors, scratch and aux get no buffers, and the span of
 * `reserve` bytes for its arena over steps [0, er) (es 0, or naive: a
 * whole plan). */
al_status al_memplan_build_slim(const al_model *m, int maxbatch, int naive, int freeze, int es, int er, size_t reserve,
                                al_memplan *p);
/* Releases the plan's buffer list (p may be NULL or a failed build's). */
void al_memplan_free(al_memplan *p);

/* ---- the chunked forward (src/model/chunk.c) --------------------------------- */

/* The end e of the nodes from `from` that al_model_forward_range may run in
 * chunks of samples: below the lowest node backward reaches, none
 * training in this forward, none recurrent; e == from: none. */
int al_chunk_end(const al_model *m, int from, int to, int training);
/* The end of a forward from node 0's chunked range in a plan made for the
 * model frozen at `freeze` (< 0: as it stands): al_chunk_end with that
 * freeze point; 0 when chunks are off or an observer is set. */
int al_chunk_end_at(const al_model *m, int freeze, int training);
/* Samples a chunk of [from, e) for a forward of n on `threads` threads (n:
 * no chunks): m->chunk when set; by default as many as keep the widest
 * node's inputs and outputs within about 2 MB, and on several threads at
 * most a thread's even share of the batch (none when the batch is smaller
 * than the thread count: the nodes' own threads serve it better), the share
 * cut in chunks of even size (32 as 8 + 8 + 8 + 8, not 10 + 10 + 10 + 2). */
int al_chunk_samples(const al_model *m, int from, int e, int n, int threads);
/* 1 when [from, e) can run in chunks of *nb samples (or fewer: *nb is
 * then lowered to the size whose arenas fit in the plan's unused span) in
 * `threads` parts (each on a thread of its own, or one part on the caller)
 * for this forward of n (x: the model input): its
 * arenas are made (or the last ones reused) in m->cplan and no tensor
 * written whole overlaps one read from below; 0 otherwise (the forward
 * then runs whole). */
int al_chunk_ready(al_model *m, int threads, int from, int e, int *nb, const float *x, int n);
/* The slim plan of m at maxbatch, frozen at freeze (< 0: as it stands):
 * a forward from node 0 runs the nodes that may run in chunks in chunks
 * always, so the tensors that only they read (not the model output), and
 * their scratch and aux, need no whole-batch buffers. *es: the training
 * forward's chunked range [0, es) whose buffers are left out (0: none;
 * the plan is whole: chunks off or observed, plan_whole, a batch of one,
 * or a range under two nodes); *er: the evaluation forward's range (es or
 * more), over whose steps the plan keeps *reserve bytes for the arena of
 * a one-thread forward of maxbatch samples (block of al_chunk_forced
 * samples). */
al_status al_chunk_slim(const al_model *m, int maxbatch, int freeze, int *es, int *er, size_t *reserve);
/* Frees m->cplan (memplan.c, with the memory plan). */
void al_chunk_release(al_model *m);
/* The bytes of the chunk arena of [from, e) in chunks of nb samples (0
 * for an empty range), without allocating it. */
al_status al_chunk_arena_bytes(const al_model *m, int from, int e, int nb, size_t *bytes);
/* The largest chunk block (arenas and lent pack buffers) that a forward of
 * at most plan_batch samples on `threads` threads allocates beyond the
 * memory plan for plan_batch, m frozen at `freeze` (a training forward and
 * an evaluation one from node 0; one block exists at a time): 0 when it
 * fits in the span of the plan that the range leaves unused. The memory
 * budget counts it with the activations. */
al_status al_chunk_arena_bound(const al_model *m, int freeze, int plan_batch, int threads, size_t *bytes);
/* The largest span of plan p (made for m) that a chunked forward of nodes
 * [0, e) leaves unused: no buffer alive during its steps lies there but
 * the whole-batch buffers of its chunk-local tensors and its nodes'
 * scratch and aux, which the chunks do not touch. Sets off and size (0:
 * none); AL_ENOMEM when its scratch cannot be allocated (size 0). */
al_status al_chunk_gap(const al_model *m, const al_memplan *p, int e, size_t *off, size_t *size);

/* Appends a buffer of `bytes` (rounded up to 64; none when 0) alive over
 * steps [t0, t1] to p's list, which must have room for it. */
void al_memplan_add(al_memplan *p, al_membuf_kind kind, int node, int port, size_t bytes, int t0, int t1);
/* Places the buffers listed in p (nbuf of them, with their live intervals
 * within steps 0..end, t0 <= t1) in one arena by liveness, as
 * al_memplan_build does: sets each offset, total and live_peak. Its
 * scratch, freed before it returns: a segment tree over the steps (64
 * bytes a step) and the unions of byte spans it keeps (16 bytes a span,
 * at most a few per buffer and level). AL_ENOMEM (set) when the scratch
 * cannot be allocated. The chunked forward's arena (chunk.c) uses it. */
al_status al_memplan_place(al_memplan *p);

/* 0 when the plan is sound: every buffer lies inside total, and no two
 * buffers whose live intervals intersect share a byte. Otherwise 1 with a
 * description of the first conflict in why[cap]. */
int al_memplan_check(const al_memplan *p, char *why, size_t cap);

/* The buffer of (kind, node) (port 0), or NULL; of (kind, node, port). */
const al_membuf *al_memplan_find(const al_memplan *p, al_membuf_kind kind, int node);
const al_membuf *al_memplan_find_port(const al_memplan *p, al_membuf_kind kind, int node, int port);

/* ---- the int8 runtime (src/model/quant.c) ------------------------------------- */

/* Installs int8 weights on frozen dense/conv/dwconv node i: q is N x K, scale N
 * (finite, > 0); sets the float weights to q * scale, so the float and the
 * int8 path compute with the same weights. The quantizer (cloud) and model
 * files (model_io.c) both go through it. */
al_status al_quant_install(al_model *m, int i, const int8_t *q, const float *scale);
/* Validates node i for int8 weights (dense, conv or dwconv, frozen, K inputs per
 * channel within the kernels' limit) and returns its weight matrix N x K. */
al_status al_quant_check(const al_model *m, int i, int *N, int *K);
/* 1 when the int8 runtime takes the node's type and shape: dense, conv, and
 * dwconv of kernel <= 7 without dilation (trainable or not). */
int al_quant_takes(const al_node *nd);
/* Copies src's int8 weights into dst (same architecture; al_model_clone). */
al_status al_quant_copy(al_model *dst, const al_model *src);
/* Sets quantized node i's static input scale (al_qnode.in_scale; the int8
 * chain, docs/KERNELS.md "int8 activations"): finite and > 0, else
 * AL_EINVAL; AL_ESTATE when node i holds no int8 weights. Calibration
 * (cloud) and model files both go through it. */
al_status al_quant_set_in_scale(al_model *m, int i, float s);
/* The edges of the int8 chain a forward over the whole model takes: int8
 * nodes that hand their output to the next as int8 (al_model.i8_chain). */
int al_model_i8_links(const al_model *m);
/* The adds of that forward that run in int8 (both operands int8). */
int al_model_i8_adds(const al_model *m);
/* Sets add node i's static input scale (al_node.add_scale; the int8
 * residual add): the node must be a frozen add of two operands of one
 * shape, s finite in 1e-30..1e30 (AL_EINVAL otherwise; AL_ESTATE for a
 * trainable add). */
al_status al_quant_set_add_scale(al_model *m, int i, float s);
/* The number of quantized nodes with a static input scale, and of adds with one. */
int al_model_static_scale_count(const al_model *m);
/* Drops every node's int8 weights; the dequantized floats stay. */
void al_dequantize(al_model *m);
/* 1 when node i holds int8 weights. */
int al_node_is_quantized(const al_model *m, int i);
int al_model_quantized_count(const al_model *m);

/* ---- GGUF (src/model/gguf.c) -------------------------------------------------- */
/* A generic GGUF (version 3) reader and writer: typed key-value metadata and
 * named tensors at aligned offsets, little-endian on every host. Model files
 * (model_io.c) and checkpoints are built on it; the layout and the autlearn
 * keys are documented in docs/FORMAT.md.
 *
 * Both sides add integrity: the writer always emits two uint32 keys,
 * GGUF_KEY_CRC_HEADER (CRC-32 of bytes [0, data_start) with that key's own 4
 * value bytes read as zero) and GGUF_KEY_CRC_DATA (CRC-32 of bytes
 * [data_start, end of file)); the reader verifies them after a purely
 * structural, bounds-checked parse and before anything else is interpreted.
 *
 * Ownership: strings and tensors handed out by the reader point into its
 * buffer (gguf_str is NOT NUL-terminated) and live as long as the reader; a
 * reader opened over caller memory borrows it. The writer copies keys, names
 * and values, but only borrows tensor data until gguf_writer_save returns. */


#include <stdio.h>

#define GGUF_MAGIC 0x46554747u /* "GGUF" read as a little-endian uint32 */
#define GGUF_VERSION 3u
#define GGUF_DEFAULT_ALIGNMENT 32u
#define GGUF_MAX_DIMS 4
#define GGUF_MAX_NAME 64              /* tensor name bytes (ggml's limit) */
#define GGUF_MAX_KEY 65535            /* key bytes (the spec's limit) */
#define GGUF_MAX_STRING (1ull << 30)  /* any string value */
#define GGUF_MAX_KV (1ull << 20)
#define GGUF_MAX_TENSORS (1ull << 20)
#define GGUF_MAX_ALIGNMENT 65536u

#define GGUF_KEY_ALIGNMENT "general.alignment"
#define GGUF_KEY_CRC_HEADER "autlearn.crc32"
#define GGUF_KEY_CRC_DATA "autlearn.crc32_data"

/* Metadata value types (the spec's numbering). */
typedef enum gguf_type {
    GGUF_T_U8 = 0,
    GGUF_T_I8 = 1,
    GGUF_T_U16 = 2,
    GGUF_T_I16 = 3,
    GGUF_T_U32 = 4,
    GGUF_T_I32 = 5,
    GGUF_T_F32 = 6,
    GGUF_T_BOOL = 7,
    GGUF_T_STRING = 8,
    GGUF_T_ARRAY = 9,
    GGUF_T_U64 = 10,
    GGUF_T_I64 = 11,
    GGUF_T_F64 = 12,
    GGUF_T_COUNT
} gguf_type;

/* Tensor element types (ggml's numbering). Only these are known; a file with
 * another type fails with AL_EUNSUPPORTED. Q8_0 is blocks of 32 elements:
 * an f16 scale then 32 int8 (34 bytes), and ne[0] must be a multiple of 32. */
enum {
    GGML_T_F32 = 0,
    GGML_T_F16 = 1,
    GGML_T_Q8_0 = 8,
    GGML_T_I8 = 24,
    GGML_T_I16 = 25,
    GGML_T_I32 = 26,
    GGML_T_I64 = 27,
    GGML_T_F64 = 28
};

const char *gguf_type_name(gguf_type t);
const char *gguf_ggml_type_name(uint32_t t); /* "F32", ..., "?" */

/* A string inside a file: pointer and length, not NUL-terminated. */
typedef struct gguf_str {
    const char *p;
    size_t n;
} gguf_str;
int gguf_str_eq(gguf_str s, const char *c);

/* ---- writer ------------------------------------------------------------------
 * Collects KVs and tensors, then gguf_writer_save writes them in one go.
 * Setters return a status, and the first failure is also remembered, so a
 * caller may issue many setters and check only gguf_writer_save's result.
 * Keys must be unique (AL_EINVAL otherwise). */
typedef struct gguf_writer gguf_writer;

/* alignment: a power of two up to GGUF_MAX_ALIGNMENT; 0 = the default 32.
 * Emits GGUF_KEY_CRC_HEADER, GGUF_KEY_CRC_DATA and general.alignment. */
al_status gguf_writer_new(uint32_t alignment, gguf_writer **out);
void gguf_writer_free(gguf_writer *w);

al_status gguf_set_u8(gguf_writer *w, const char *key, uint8_t v);
al_status gguf_set_i8(gguf_writer *w, const char *key, int8_t v);
al_status gguf_set_u16(gguf_writer *w, const char *key, uint16_t v);
al_status gguf_set_i16(gguf_writer *w, const char *key, int16_t v);
al_status gguf_set_u32(gguf_writer *w, const char *key, uint32_t v);
al_status gguf_set_i32(gguf_writer *w, const char *key, int32_t v);
al_status gguf_set_u64(gguf_writer *w, const char *key, uint64_t v);
al_status gguf_set_i64(gguf_writer *w, const char *key, int64_t v);
al_status gguf_set_f32(gguf_writer *w, const char *key, float v);
al_status gguf_set_f64(gguf_writer *w, const char *key, double v);
al_status gguf_set_bool(gguf_writer *w, const char *key, int v);
al_status gguf_set_str(gguf_writer *w, const char *key, const char *v);
/* An array of n numbers or bools of type elem, given as host values (bool:
 * one byte each, 0 or 1). */
al_status gguf_set_arr(gguf_writer *w, const char *key, gguf_type elem, const void *v, size_t n);
al_status gguf_set_arr_str(gguf_writer *w, const char *key, const char *const *v, size_t n);

/* A tensor: ne[0] is the fastest-varying dimension (ggml order, the reverse
 * of PyTorch's). `data` holds the elements as host values (F32: floats,
 * I32: int32_t, ...; Q8_0: the raw blocks) and is read by gguf_writer_save. */
al_status gguf_add_tensor(gguf_writer *w, const char *name, uint32_t ggml_type, int ndim, const uint64_t *ne,
                          const void *data);

/* Writes to `f` sequentially (no seeking; a pipe works). */
al_status gguf_writer_write(gguf_writer *w, FILE *f);
/* Atomic: writes "<path>.tmp.<pid>.<seq>" (mode 0600) in the target's
 * directory, fflush + fsync, renames it over `path`, fsyncs the directory.
 * On failure the temporary file is removed and `path` is untouched. */
al_status gguf_writer_save(gguf_writer *w, const char *path);
/* Removes "<path>.tmp.<pid>.<seq>" files whose process no longer exists
 * (killed during a save; nobody will rename them). gguf_writer_save calls
 * it before writing, so at most one temporary file per path outlives a
 * crash, and only until the next save. */
void gguf_remove_stale_temps(const char *path);

/* ---- reader ------------------------------------------------------------------ */
typedef struct gguf_reader gguf_reader;

typedef struct gguf_tensor {
    gguf_str name;
    uint32_t type;          /* ggml type code */
    int ndim;
    uint64_t ne[GGUF_MAX_DIMS]; /* ne[0] fastest; unused dims are 1 */
    uint64_t nelem;
    uint64_t offset;        /* relative to the start of the data section */
    size_t nbytes;
    const unsigned char *data; /* little-endian bytes inside the reader's buffer */
} gguf_tensor;

#define GGUF_REQUIRE_CRC 1u /* fail (AL_EFORMAT) when the CRC keys are absent */

/* Reads a whole regular file into one al_malloc'd buffer sized by fstat
 * (the caller frees it with al_free). */
al_status gguf_read_file(const char *path, void **buf, size_t *n);
/* Parses and verifies `buf` (borrowed; must outlive the reader). */
al_status gguf_reader_open_mem(const void *buf, size_t n, unsigned flags, gguf_reader **out);
/* Reads the whole file with one allocation sized by fstat, then as above. */
al_status gguf_reader_open_file(const char *path, unsigned flags, gguf_reader **out);
void gguf_reader_free(gguf_reader *r);

size_t gguf_num_kv(const gguf_reader *r);
gguf_str gguf_kv_key(const gguf_reader *r, size_t i);
gguf_type gguf_kv_type(const gguf_reader *r, size_t i);
/* Index of `key`, or -1. */
long gguf_find_kv(const gguf_reader *r, const char *key);

/* Typed getters: AL_EFORMAT with the key in the message when the key is
 * missing or has another type (no conversions), or a bool is not 0/1. */
al_status gguf_get_u8(const gguf_reader *r, const char *key, uint8_t *v);
al_status gguf_get_i8(const gguf_reader *r, const char *key, int8_t *v);
al_status gguf_get_u16(const gguf_reader *r, const char *key, uint16_t *v);
al_status gguf_get_i16(const gguf_reader *r, const char *key, int16_t *v);
al_status gguf_get_u32(const gguf_reader *r, const char *key, uint32_t *v);
al_status gguf_get_i32(const gguf_reader *r, const char *key, int32_t *v);
al_status gguf_get_u64(const gguf_reader *r, const char *key, uint64_t *v);
al_status gguf_get_i64(const gguf_reader *r, const char *key, int64_t *v);
al_status gguf_get_f32(const gguf_reader *r, const char *key, float *v);
al_status gguf_get_f64(const gguf_reader *r, const char *key, double *v);
al_status gguf_get_bool(const gguf_reader *r, const char *key, int *v);
al_status gguf_get_str(const gguf_reader *r, const char *key, gguf_str *v);
/* The string value of KV i (AL_EFORMAT if it is not a string). */
al_status gguf_kv_str(const gguf_reader *r, size_t i, gguf_str *v);
/* Arrays: element type and length; then the elements as host values into
 * dst (cap elements; AL_ERANGE when the array is longer), or string j. */
al_status gguf_get_arr_info(const gguf_reader *r, const char *key, gguf_type *elem, uint64_t *n);
al_status gguf_get_arr(const gguf_reader *r, const char *key, gguf_type elem, void *dst, size_t cap, size_t *n);
al_status gguf_get_arr_str(const gguf_reader *r, const char *key, size_t j, gguf_str *v);

size_t gguf_num_tensors(const gguf_reader *r);
const gguf_tensor *gguf_tensor_at(const gguf_reader *r, size_t i);
const gguf_tensor *gguf_find_tensor(const gguf_reader *r, const char *name); /* NULL if absent */
/* Decodes an F32 tensor of exactly n elements into host floats (bit-exact). */
al_status gguf_tensor_read_f32(const gguf_tensor *t, float *dst, size_t n);

#endif /* AL_MODEL_H */
