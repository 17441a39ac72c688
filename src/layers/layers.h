/* The layers level (src/layers): one file per operator, each a vtable
 * (shape, init, forward, backward, macs); the node that holds a layer's
 * configuration, weights and planned buffers; the softmax cross-entropy
 * loss; and the int8 forward of a frozen quantized dense or conv node.
 * Calls kernels and core. */
#ifndef AL_LAYERS_H
#define AL_LAYERS_H

#include "kernels/kernels.h"

/* ---- layers (src/layers) ------------------------------------------------------ */

#define AL_MAX_NAME 64
/* The most inputs a node may read besides its primary one (cfg.src, then
 * cfg.more[0..nmore)): concat and sum take up to this many. */
#define AL_MAX_SRCS 64
/* The most outputs a node may have (split's parts). */
#define AL_MAX_OUTS 64

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
    AL_L_HARDSWISH,
    AL_L_HARDSIGMOID,
    AL_L_MUL,
    AL_L_GRU,
    AL_L_SILU,
    AL_L_GELU,
    AL_L_CLIP,
    AL_L_SOFTMAX,
    AL_L_LAYERNORM,
    AL_L_REDUCEMEAN,
    AL_L_REDUCESUM,
    AL_L_TRANSPOSE,
    AL_L_RESHAPE,
    AL_L_SQUEEZE,
    AL_L_UNSQUEEZE,
    AL_L_IDENTITY,
    AL_L_SLICE,
    AL_L_SUB,
    AL_L_DIV,
    AL_L_CONCAT,
    AL_L_MATMUL,
    AL_L_SCALE,
    AL_L_GCONV,
    AL_L_EXPAND,
    AL_L_SUM,
    AL_L_ADDP,
    AL_L_PREPEND,
    AL_L_SPLIT,
    AL_L_MAX,
    AL_L_MIN,
    AL_L_PAD,
    AL_L_COUNT
} al_layer_type;

/* The hyper-parameters of one layer. Unused fields are 0. What each layer
 * reads is documented in its file and in docs/SPEC.md. */
typedef struct al_layer_cfg {
    al_layer_type type;
    int units;     /* dense: outputs; conv: filters; lstm, gru: hidden; embedding: dim */
    int k;         /* conv/pool kernel size (square) */
    int stride;    /* conv/pool stride (0 means: conv 1, pool k) */
    int pad;       /* conv/pool zero padding */
    int vocab;     /* embedding: number of token ids */
    int src;       /* add, mul, ... (al_layer_reads_src): index of the earlier node whose output is the second
                    * operand (-1: the input); concat, sum: the first of their operands */
    int bias;      /* dense/conv: 1 = has bias (the default) */
    float rate;    /* dropout probability */
    float eps;     /* batchnorm epsilon (default 1e-5) */
    float momentum;/* batchnorm running-average momentum (default 0.1, PyTorch's) */
    int act;       /* dense/conv: activation fused after the bias (al_act; the compiler's fusion) */
    int rank;      /* lstm: W_hh stored as U [4H, rank] V [rank, H]; 0 = full (src/layers/lstm.c) */
    int back;      /* the primary input: node i reads node i - 1 - back's output (0, the default: the
                    * previous node, as in a chain; i: the model input). al_node_input gives the index. */
    int ceil;      /* maxpool, avgpool: 1 = PyTorch's ceil_mode (the last window may run past the border) */
    int group;     /* gconv: the number of groups (>= 2; C and F multiples of it) */
    char name[AL_MAX_NAME]; /* the output tensor's name, "" for none (al_name_valid) */
    /* The shape and tensor operators (docs/SPEC.md). A per-sample axis a
     * counts the dims after the batch from 0; a < 0 counts from the end
     * (-1: the last), resolved against the input by the layer's shape(). */
    int axis;      /* softmax, concat, slice: the axis */
    int axes;      /* reducemean, reducesum, squeeze, unsqueeze: a set of axes (al_axes_bit); 0: squeeze
                    * every size-1 axis, reduce over all axes */
    int keepdims;  /* reducemean, reducesum: 1 keeps each reduced axis with size 1 */
    int start, end, step; /* slice: Python's x[start:end:step] along axis (step >= 1; end AL_SLICE_END: to the end) */
    int mode;      /* gelu: 0 the erf form, 1 the tanh form; mul: 0 the squeeze-excite scale, 1 NumPy broadcasting */
    int ndims;     /* reshape: the target shape dims[0..ndims) (one -1 is inferred);
                    * transpose: the permutation dims[0..ndims) of the input's axes */
    int dims[AL_SHAPE_MAX];
    float lo, hi;  /* clip: y = min(max(x, lo), hi) */
    float alpha, beta; /* scale: y = alpha * x + beta (attention's 1/sqrt(d); a constant operand) */
    /* concat, sum (al_layer_nary): the operands after src, in order: earlier
     * nodes, -1 the model input (al_cfg_src gives operand k of the list). */
    int nmore;
    int more[AL_MAX_SRCS - 1];
    /* Several outputs (docs/SPEC.md, "Ports"). A tensor is (node, port):
     * port 0 is a node's first output, the only one of every layer but
     * split. Each reference to an earlier tensor carries its port: in_port
     * for the primary input (cfg.back), src_port for cfg.src, more_port[k]
     * for cfg.more[k]; 0 (the default) is the node's first output. */
    int nout;      /* split: the number of outputs, 1..AL_MAX_OUTS; lstm 0..3, gru 0..2 (ports 1, 2: the
                    * final h and c); 0 for every other layer (one) */
    int in_port;
    int src_port;
    int more_port[AL_MAX_SRCS - 1];
    int sizes[AL_MAX_OUTS]; /* split: the size of each part along axis, nout of them */
    int dil;       /* conv, dwconv, gconv: the dilation (0 or 1: none; ONNX `dilations`) */
    int pads[4];   /* pad: zeros added to H and W, top, left, bottom, right (ONNX Pad's order) */
    float padval;  /* pad: the value padded with (0; -inf before a max pool padded unevenly) */
} al_layer_cfg;

/* The number of outputs of a node of this config (1 unless a split, or an
 * lstm or gru with its final states as ports). */
static inline int al_cfg_nout(const al_layer_cfg *c) { return c->nout > 1 ? c->nout : 1; }
/* The most outputs a layer type has: split AL_MAX_OUTS; lstm 3 (the
 * sequence, then h_T and c_T: ONNX's Y, Y_h, Y_c); gru 2 (Y, Y_h); 1 else. */
static inline int al_layer_max_outs(int t) {
    return t == AL_L_SPLIT ? AL_MAX_OUTS : t == AL_L_LSTM ? 3 : t == AL_L_GRU ? 2 : 1;
}

/* slice's end when it runs to the end of the axis */
#define AL_SLICE_END 2147483647
/* The bit of per-sample axis a (-AL_SHAPE_MAX .. AL_SHAPE_MAX-1) in
 * cfg.axes: bits 0..3 for 0..3, bits 4..7 for -4..-1. */
static inline int al_axes_bit(int a) { return a >= 0 ? 1 << a : 1 << (AL_SHAPE_MAX * 2 + a); }
/* cfg.axes resolved against rank r: bit d set for each axis d in 0..r-1
 * named; -1 when an axis is outside the rank. */
static inline int al_axes_resolve(int axes, int r) {
    int m = 0;
    for (int b = 0; b < 2 * AL_SHAPE_MAX; b++) {
        if (!(axes >> b & 1)) continue;
        int a = b < AL_SHAPE_MAX ? b : b - 2 * AL_SHAPE_MAX;
        if (a < 0) a += r;
        if (a < 0 || a >= r) return -1;
        m |= 1 << a;
    }
    return m;
}

/* A tensor name: 1 to AL_MAX_NAME - 1 bytes of printable ASCII other than
 * space ; = : , and not starting with a digit, '-' or '+' (so a name never
 * reads as a node index), and not "input" (the model input's name). */
int al_name_valid(const char *s);

/* 1 for the layers that also read an earlier node's output (cfg.src) as
 * their second operand: add, sub, mul, div, max, min, concat, matmul and sum (the
 * last two also any more, cfg.more; al_cfg_nsrc counts them). The executor
 * binds it (nd->x2) and routes its gradient (nd->dx2); the memory planner
 * keeps it alive; a freeze point between the two puts it on the frozen
 * frontier (al_model_frontier_count). */
static inline int al_layer_reads_src(al_layer_type t) {
    return t == AL_L_ADD || t == AL_L_MUL || t == AL_L_SUB || t == AL_L_DIV || t == AL_L_CONCAT ||
           t == AL_L_MATMUL || t == AL_L_SUM || t == AL_L_MAX || t == AL_L_MIN;
}
/* 1 for the layers that take any number of extra operands (cfg.more):
 * concat and sum. */
static inline int al_layer_nary(al_layer_type t) { return t == AL_L_CONCAT || t == AL_L_SUM; }
/* The number of extra inputs a node reads besides its primary one (0 for
 * most layers; 1 + nmore for the al_layer_reads_src ones), and the k-th of
 * them (k = 0: cfg.src). */
static inline int al_cfg_nsrc(const al_layer_cfg *c) {
    return al_layer_reads_src(c->type) ? 1 + (al_layer_nary(c->type) ? c->nmore : 0) : 0;
}
static inline int al_cfg_src(const al_layer_cfg *c, int k) { return k == 0 ? c->src : c->more[k - 1]; }
static inline int *al_cfg_src_ref(al_layer_cfg *c, int k) { return k == 0 ? &c->src : &c->more[k - 1]; }
/* The port of operand k (k = 0: cfg.src_port). */
static inline int al_cfg_src_port(const al_layer_cfg *c, int k) { return k == 0 ? c->src_port : c->more_port[k - 1]; }
static inline int *al_cfg_src_port_ref(al_layer_cfg *c, int k) { return k == 0 ? &c->src_port : &c->more_port[k - 1]; }

/* 1 for those whose backward reads the second operand too (so the memory
 * planner keeps it until this node's backward step): mul, div, matmul, max, min. */
static inline int al_layer_bwd_reads_src(al_layer_type t) {
    return t == AL_L_MUL || t == AL_L_DIV || t == AL_L_MATMUL || t == AL_L_MAX || t == AL_L_MIN;
}

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

/* An extra operand of an n-ary node past the second (cfg.more[k]): its
 * per-sample shape (set by the model builder before shape()), its data and
 * where its gradient accumulates (+=; NULL when not needed), bound by the
 * executor as nd->x2 and nd->dx2 are. */
typedef struct al_operand {
    const float *x;
    float *dx;
    al_shape in;
} al_operand;

/* What a layer needs while it runs: threads, a seeded RNG stream (dropout),
 * scratch memory, and whether this is a training pass. */
struct al_exec {
    al_pool *pool;
    al_rng *rng;
    int training;
    float *ws;       /* scratch of at least node->ws_fixed + n * node->ws_per_sample floats */
    /* The int8 chain (src/model/model.c; docs/KERNELS.md, "int8
     * activations"), set for quantized nodes only: x_i8, x holds int8 bytes
     * at the node's static input scale (nd->q->in_scale), not floats;
     * y_scale > 0, the node writes y as int8 bytes at that scale (its
     * reader's static input scale). 0 for everything else. An int8 add
     * (nd->add_scale > 0) gets x_i8 only with both operands int8: x at
     * nd->add_scale, x2 at x2_scale. */
    int x_i8;
    float y_scale;
    float x2_scale;
};

/* One vtable per layer type. Shapes are per sample; n is the batch size.
 * x: n * numel(in) floats; y: n * numel(out) floats.
 *  shape:    validate cfg and `in`, set nd->out, declare params (name, dims,
 *            is_state) and the aux / scratch sizes. No allocation.
 *  init:     initialise weights (PyTorch's default init for the twin layer).
 *  forward:  compute y; in training mode save what backward needs in nd->aux.
 *  backward: given dy, accumulate weight gradients when nd->trainable and
 *            write dx when dx != NULL (dx is overwritten, not accumulated).
 *  macs:     forward multiply-accumulates per sample.
 *  pack_floats: the most floats of GEMM pack buffer (al_gemm_pack_floats)
 *            one thread's part of the forward (backward 0) or of the
 *            backward (backward 1: weight and input gradients) of n samples
 *            asks, on any pool: the request for a whole product bounds its
 *            parts'; never less for a larger n (a GEMM whose K grows with
 *            the samples is bounded by al_gemm_pack_floats_upto). The
 *            chunked forward's parts (src/model/chunk.c) are lent buffers
 *            of the largest over their nodes' forwards, and a job's memory
 *            plan counts each pool thread's own buffer at the largest over
 *            the job's passes (al_model_pack_floats). NULL: neither pass
 *            makes a GEMM call. */
typedef struct al_layer_vt {
    const char *name;
    al_status (*shape)(al_node *nd, const al_shape *in);
    void (*init)(al_node *nd, al_rng *rng);
    al_status (*forward)(al_node *nd, const al_exec *e, const float *x, float *y, int n);
    void (*backward)(al_node *nd, const al_exec *e, const float *x, const float *y, const float *dy, float *dx,
                     int n);
    uint64_t (*macs)(const al_node *nd);
    size_t (*pack_floats)(const al_node *nd, int n, int backward);
} al_layer_vt;

/* The second vtable of the layers with several outputs (split), used by
 * the model in place of forward and backward: y[p] is output p
 * (n * numel(al_node_out(nd, p)) floats), dy[p] its gradient (never NULL:
 * zeros for an output nobody reads). Single-output layers have none. */
typedef struct al_layer_multi_vt {
    al_status (*forward)(al_node *nd, const al_exec *e, const float *x, float *const *y, int n);
    void (*backward)(al_node *nd, const al_exec *e, const float *x, const float *const *y, const float *const *dy,
                     float *dx, int n);
} al_layer_multi_vt;

struct al_node {
    al_layer_cfg cfg;
    const al_layer_vt *vt;
    const al_layer_multi_vt *mvt; /* several outputs: al_layer_multi_vtable; NULL for one */
    int index;
    int trainable;       /* 0: frozen (no weight gradient; batchnorm uses running stats) */
    al_shape in, out;   /* out: output 0's per-sample shape */
    /* outputs 1..nout-1 of a multi-output node (al_cfg_nout(&cfg) - 1
     * shapes, set by shape(); owned by the model; NULL for one output) */
    al_shape *xout;
    al_param params[AL_MAX_PARAMS];
    int nparams;
    size_t aux_per_sample, aux_fixed; /* floats kept from forward for backward */
    size_t ws_per_sample, ws_fixed;   /* scratch floats during forward/backward */
    float *aux;          /* aux_fixed + maxbatch * aux_per_sample floats */
    int maxbatch;        /* batch the model is planned for */
    /* add, mul, ... (al_layer_reads_src): the second operand, node cfg.src's
     * output; its per-sample shape (set by the model builder before shape());
     * and where its gradient accumulates. */
    const float *x2;
    al_shape in2;
    float *dx2;          /* accumulate (+=) into it; NULL when not needed */
    /* concat, sum: operands 2.. (cfg.more[0..cfg.nmore)), owned by the
     * model (NULL when nmore is 0) */
    al_operand *more;
    /* Recurrent state carried between calls (LSTM, GRU truncated BPTT): h and c
     * of the last step, maxbatch * units each (a GRU uses h only); see al_model_reset_state. */
    float *state;
    int carry_state;
    /* This node's scratch (e->ws for its forward and backward), placed by
     * the memory planner (src/model/model.h). */
    float *ws;
    /* This node's gradient route (set by al_model_build): 1 when it writes
     * the gradient of its primary input straight into that tensor's dact
     * (it is the input's last reader as primary input), 0 when it writes
     * into dxbuf (planned) and adds that into the input's dside. */
    int dx_direct;
    float *dxbuf;
    int primary_read; /* 1: a later node reads this node's output 0 as its primary input */
    int last_reader;  /* the last node that reads this node's output 0 (either way); -1: none (the output);
                       * per tensor: al_model.t_last_reader */
    /* add (frozen, equal shapes): the static scale of its primary input from
     * calibration (al_quant_set_add_scale); with it, where both operands
     * arrive as int8, the add runs in int8 (al_i8_add; docs/KERNELS.md "int8
     * activations"). 0: a float add. */
    float add_scale;
    /* int8 weights of a quantized frozen dense/conv node, or NULL
     * (src/cloud/compile/quant.h; owned by the node, freed with the model). */
    struct al_qnode *q;
    /* conv: the forward kernel chosen by shape (al_conv_algo). */
    int conv_algo;
};

/* The index of node nd's primary input: an earlier node, or -1 for the
 * model input (its port: cfg.in_port). */
static inline int al_node_input(const al_node *nd) { return nd->index - 1 - nd->cfg.back; }
/* The per-sample shape of output p of nd. */
static inline const al_shape *al_node_out(const al_node *nd, int p) { return p == 0 ? &nd->out : &nd->xout[p - 1]; }

/* Returns the vtable for a type, or NULL. Names are the spec keywords. */
const al_layer_vt *al_layer_vtable(al_layer_type t);
/* The multi-output vtable of a type (split, lstm, gru), or NULL. The model
 * uses it for a node with more than one output. */
const al_layer_multi_vt *al_layer_multi_vtable(al_layer_type t);
int al_layer_type_from_name(const char *name, al_layer_type *out);
const char *al_layer_type_name(al_layer_type t);

/* Helper for layers: declare param slot i with a full shape. */
void al_node_param(al_node *nd, int i, const char *name, int ndim, const int *dims, int is_state);

/* The geometry of a conv node (input [C,H,W], F filters k x k, stride s,
 * padding p, dilation d, output [F,Ho,Wo]; P = Ho*Wo output pixels, CKK = C*k*k rows of
 * the column matrix), shared by the float and the int8 forward. */
typedef struct al_conv_geom {
    int C, H, W, F, k, s, p, Ho, Wo;
    long P, CKK;
    int d; /* dilation, >= 1 (Ho = (H + 2p - d*(k-1) - 1) / s + 1) */
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
    g.d = nd->cfg.dil > 1 ? nd->cfg.dil : 1;
    g.Ho = (g.H + 2 * g.p - g.d * (g.k - 1) - 1) / g.s + 1;
    g.Wo = (g.W + 2 * g.p - g.d * (g.k - 1) - 1) / g.s + 1;
    g.P = (long)g.Ho * g.Wo;
    g.CKK = (long)g.C * g.k * g.k;
    return g;
}

/* The conv backward by shares of the batch on several threads (conv2d.c,
 * bwd_shares): on by default, AL_CONV_SHARES=0 turns it off, and
 * al_conv_force_shares (tests, benchmarks) overrides both: 1 on, 0 off,
 * -1 back to the environment's choice. */
void al_conv_force_shares(int on);

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

/* ---- the int8 forward of frozen dense/conv/dwconv nodes (quant_forward.c) ---- */

/* int8 weights of a node (docs/COMPILE.md, "int8"): installed by the model
 * level (al_quant_install) or the cloud's quantizer; owned by the node. */
struct al_qnode {
    int N, K;        /* output channels (rows of w); inputs per channel (in, C*k*k, dwconv k*k) */
    /* The static input scale from calibration (al_quant_set_in_scale): the
     * input is quantized as al_i8_q(x / in_scale), and a quantized node
     * whose output only this node reads hands it int8; 0: none, each
     * sample's (dwconv: plane's) scale is found at run time. */
    float in_scale;
    int8_t *w;       /* N x K, row-major (PyTorch's weight layout, flattened) */
    float *scale;    /* N */
    int32_t *rowsum; /* N: sum_k w[c][k], for the VNNI kernel */
    uint32_t *wpack; /* w packed for the VNNI kernels (kernels.h, int8): dense
                      * always, conv when al_i8conv_applies; else NULL */
};
void al_qnode_free(struct al_qnode *q);
/* Floats of scratch per sample the int8 forward of nd needs. */
size_t al_quant_ws_per_sample(const al_node *nd);
/* The int8 forward of a dense, conv or depthwise conv node with nd->q (the
 * layers' forward calls it for frozen quantized nodes). */
al_status al_quant_forward(al_node *nd, const al_exec *e, const float *x, float *y, int n);

/* ---- NumPy broadcasting of two operands (src/layers/bcast.c) ------------------- */

/* The element-wise binary operators add, sub, mul (mode 1), div, max and min
 * (max, min: the gradient to the chosen operand, halved on a tie). */
typedef enum al_binop { AL_BIN_ADD, AL_BIN_SUB, AL_BIN_MUL, AL_BIN_DIV, AL_BIN_MAX, AL_BIN_MIN } al_binop;

/* Two per-sample shapes broadcast as NumPy does (aligned at the last axis,
 * missing leading axes and axes of size 1 stretched), padded to
 * AL_SHAPE_MAX axes; sa/sb are the operands' element strides per output
 * axis, 0 where an operand is stretched. The batch is never broadcast. */
typedef struct al_bcast {
    int od[AL_SHAPE_MAX];
    size_t sa[AL_SHAPE_MAX], sb[AL_SHAPE_MAX];
    size_t na, nb, no; /* elements per sample of a, b and the output */
    int same;          /* a, b and the output have the same shape */
} al_bcast;

/* Fills *g and out (the broadcast shape), or says why the shapes do not
 * broadcast (name prefixes the message). */
al_status al_bcast_init(const char *name, const al_shape *a, const al_shape *b, al_shape *out, al_bcast *g);
/* y = a op b over n samples. */
void al_bcast_forward(al_pool *pool, const al_bcast *g, al_binop op, const float *a, const float *b, float *y,
                      int n);
/* da = d(a op b)/da * dy summed over a's stretched axes (overwritten; NULL:
 * not wanted); db += the same for b (accumulated; NULL: not wanted). */
void al_bcast_backward(al_pool *pool, const al_bcast *g, al_binop op, const float *a, const float *b,
                       const float *dy, float *da, float *db, int n);
/* The broadcast layers' shape(): the operands are the input and nd->in2. */
al_status al_bcast_shape(const char *name, al_node *nd, const al_shape *in);

/* A per-sample axis a (< 0 counts from the end) resolved against rank r;
 * -1 when outside. */
static inline int al_axis_resolve(int a, int r) {
    if (a < 0) a += r;
    return a >= 0 && a < r ? a : -1;
}
/* The elements before axis a (per sample), along it, and after it. */
static inline void al_axis_split(const al_shape *s, int a, size_t *outer, size_t *len, size_t *inner) {
    *outer = *inner = 1;
    for (int d = 0; d < a; d++) *outer *= (size_t)s->d[d];
    for (int d = a + 1; d < s->ndim; d++) *inner *= (size_t)s->d[d];
    *len = (size_t)s->d[a];
}

/* "[2,3,4]" into buf (messages). */
void al_shape_str(const al_shape *s, char *buf, size_t cap);

/* ---- helpers of the small layers ------------------------------------------ */
/* Helpers shared by the small layers (pools, activations, dropout, batch norm,
 * embedding): a parallel loop over [0, n) with a static split, and the window
 * geometry of 2-D pooling. Internal to src/layers. */


/* Below this many floats of work a loop runs on the calling thread: waking
 * the pool costs more than it saves. */
#define AL_PAR_MIN_WORK 32768

/* fn(arg, lo, hi) processes items [lo, hi). */
typedef void (*al_range_fn)(void *arg, long lo, long hi);

typedef struct al_par_args {
    al_range_fn fn;
    void *arg;
    long n;
} al_par_args;

static void al_par_task(void *va, int ith, int nth) {
    const al_par_args *a = va;
    long lo, hi;
    al_split(a->n, ith, nth, &lo, &hi);
    if (lo < hi) a->fn(a->arg, lo, hi);
}

/* Runs fn over [0, n) items split statically over the pool's threads.
 * `work` (floats touched in total) decides whether threads pay. Every item
 * is processed by exactly one thread in the same way, so results never
 * depend on the thread count. */
static inline void al_par_for(al_pool *pool, long n, size_t work, al_range_fn fn, void *arg) {
    if (n <= 0) return;
    if (!pool || al_pool_size(pool) == 1 || work < AL_PAR_MIN_WORK || n == 1) {
        fn(arg, 0, n);
        return;
    }
    al_par_args a = {fn, arg, n};
    al_pool_run(pool, al_par_task, &a);
}

/* ---- 2-D pooling geometry -------------------------------------------------- */

/* Input [C,H,W], square window k, stride s, zero/-inf padding p on every
 * side; output [C,OH,OW] with OH = floor((H + 2p - k) / s) + 1 (PyTorch's
 * floor mode), or with ceil = 1 (ceil_mode) ceil((H + 2p - k) / s) + 1, less
 * one when that last window would start past the input and its left
 * padding (PyTorch's rule: every window starts inside). A window running
 * past the padded border is clipped: max pooling ignores the outside, and
 * average pooling divides by the window clipped to the padded input
 * (al_pool_divisor; k * k for every window in floor mode). */
typedef struct al_pool_geom {
    int C, H, W, k, s, p, OH, OW, ceil;
} al_pool_geom;

static inline int al_pool_out(int n, int k, int s, int p, int ceil) {
    int span = n + 2 * p - k, o = (ceil ? (span + s - 1) / s : span / s) + 1;
    if (ceil && (o - 1) * s >= n + p) o--;
    return o;
}

/* The count_include_pad divisor of window (oh, ow): its extent clipped to
 * the padded input [-p, H + p). */
static inline int al_pool_divisor(const al_pool_geom *g, int oh, int ow) {
    int h0 = oh * g->s - g->p, w0 = ow * g->s - g->p;
    int h1 = AL_MIN(h0 + g->k, g->H + g->p), w1 = AL_MIN(w0 + g->k, g->W + g->p);
    return (h1 - h0) * (w1 - w0);
}

/* Validates a pool layer's cfg against its input, normalises stride 0 to k,
 * sets nd->out and fills *g. `name` prefixes the messages. */
static al_status al_pool_geom_init(const char *name, al_node *nd, const al_shape *in, al_pool_geom *g) {
    al_layer_cfg *c = &nd->cfg;
    if (in->ndim != 3)
        return al_error(AL_ESHAPE, "%s: input must be [C,H,W], got %d dimension(s)", name, in->ndim);
    if (c->k < 1) return al_error(AL_EINVAL, "%s: kernel size must be positive, got %d", name, c->k);
    if (c->stride == 0) c->stride = c->k;
    if (c->stride < 1) return al_error(AL_EINVAL, "%s: stride must be positive, got %d", name, c->stride);
    /* PyTorch's rule; it also guarantees every window holds a real element */
    if (c->pad < 0 || c->pad > c->k / 2)
        return al_error(AL_EINVAL, "%s: padding %d must be in 0..%d (at most half of kernel %d)", name, c->pad,
                        c->k / 2, c->k);
    int ph = in->d[1] + 2 * c->pad, pw = in->d[2] + 2 * c->pad;
    if (c->k > ph || c->k > pw)
        return al_error(AL_ESHAPE, "%s: kernel %d larger than padded input %dx%d", name, c->k, ph, pw);
    g->C = in->d[0];
    g->H = in->d[1];
    g->W = in->d[2];
    g->k = c->k;
    g->s = c->stride;
    g->p = c->pad;
    if (c->ceil != 0 && c->ceil != 1) return al_error(AL_EINVAL, "%s: ceil must be 0 or 1, got %d", name, c->ceil);
    g->ceil = c->ceil;
    g->OH = al_pool_out(in->d[1], c->k, c->stride, c->pad, c->ceil);
    g->OW = al_pool_out(in->d[2], c->k, c->stride, c->pad, c->ceil);
    nd->out.ndim = 3;
    nd->out.d[0] = g->C;
    nd->out.d[1] = g->OH;
    nd->out.d[2] = g->OW;
    return AL_OK;
}

static inline al_pool_geom al_pool_geom_of(const al_node *nd) {
    al_pool_geom g = {nd->in.d[0], nd->in.d[1], nd->in.d[2], nd->cfg.k,
                      nd->cfg.stride, nd->cfg.pad, nd->out.d[1], nd->out.d[2], nd->cfg.ceil};
    return g;
}

#endif /* AL_LAYERS_H */
