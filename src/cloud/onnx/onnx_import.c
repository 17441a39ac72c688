/* ONNX import: an ONNX ModelProto (parsed by protobuf-c from the onnx.proto
 * that Debian's python3-onnx ships, compiled at build time) becomes an
 * autlearn model: a sequential list of layers plus residual adds and
 * squeeze-excite muls.
 *
 * The graph is walked once, in file order (ONNX requires a topological
 * order), with a small abstract interpreter over its values:
 *  - a constant (initializer, Constant node, or shape arithmetic such as
 *    Shape -> Gather -> Unsqueeze -> Concat that torch emits for
 *    x.view(x.size(0), -1) or an LSTM's zero initial state) holds its data;
 *    the batch size, unknown until run time, is the symbol BATCH;
 *  - a runtime value is the output of one of our layers (or the input)
 *    seen through an ONNX shape: its dims including the batch axis `bax`
 *    (which Transpose/Squeeze/Unsqueeze may move, as torch does around an
 *    LSTM), and our per-sample shape. Shape-only operators produce no layer
 *    as long as they leave the per-sample data in the same order.
 * A layer may only read the previous layer's output (an add or a mul may
 * also read an earlier one); anything else is refused with the node's name. Every
 * count and size read from the file is checked before it is used. */
#include "autlearn_cloud.h"

#include "model/model.h"
#include "onnx.pb-c.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAXR 8                        /* ranks we track */
#define BATCH INT64_MIN               /* "the batch size" inside int64 constants */
#define MAX_FILE ((size_t)1 << 31)    /* protobuf's own limit is 2 GiB */
#define MAX_NUMEL ((size_t)1 << 28)   /* floats in one tensor */
#define MAX_DIM ((int64_t)1 << 24)    /* the spec parser's limit on sizes */
#define MAX_GRAPH (1 << 16)           /* nodes, initializers, inputs */
#define MAX_SAMPLE ((int64_t)1 << 26) /* values per sample of a runtime value: al_model_build's
                                       * limit on the input and on every layer output */

/* BATCH * k inside int64 constants, k = 2 .. MAX_DIM: an axis holding the
 * batch times k (attention's N * heads, computed from Shape by Mul). Only a
 * Reshape target reads one (reshape_general: the batch and the factors of k
 * beside it in the data). */
#define BATCH_MUL(k) (BATCH + (int64_t)(k))
static int64_t batch_factor(int64_t v) { return v == BATCH ? 1 : v > BATCH + 1 && v <= BATCH + MAX_DIM ? v - BATCH : 0; }

/* ONNX TensorProto.DataType */
enum { T_FLOAT = 1, T_INT32 = 6, T_INT64 = 7, T_BOOL = 9 };

enum { V_CONST = 1, V_RUN = 2 };

typedef struct val {
    const char *name;   /* borrowed from the parsed proto */
    int kind;
    int ndim;
    int64_t dims[MAXR]; /* const: its dims; run: ONNX dims, dims[bax] = batch (-1 unknown) */
    /* const */
    int is_int;         /* data in i (int64) rather than f */
    size_t numel;
    float *f;
    int64_t *i;
    int fill;           /* ConstantOfShape over a shape with BATCH: every element is fillv */
    double fillv;
    int bcast;          /* with fill (fillv NaN): a float constant [1, ...] expanded over the batch
                         * on axis 0, f its numel elements of one sample, the same for every sample
                         * (a ViT's class token); only Concat (prepend_layer) reads one */
    /* run */
    int bax;            /* batch axis */
    int node;           /* our layer that produced the data, -1: the model input */
    int port;           /* which of its outputs (a Split's: port k; 0 for every other layer) */
    al_shape os;        /* our per-sample shape of that data */
    int pad;            /* pending zero padding of H and W (a Pad before a pool or conv) */
    int fresh;          /* straight out of a dense/conv: an Add of a constant is its bias */
    int softmax;        /* a final Softmax was dropped here */
    /* The batch fused with per-sample data in one ONNX axis (attention
     * heads: [T, N*h, d], or [T*N, E]): axis bax holds N * bpart elements,
     * the batch its outer factor when bouter, else its inner one. bpart <= 1:
     * axis bax is the batch alone. The per-sample data keeps its order
     * either way (a reshape never reorders), so the per-sample shape is the
     * ONNX dims with axis bax replaced by bpart (dropped when 1): the
     * "logical" shape, which os, the shape of the layer output holding the
     * data, may differ from by a reshape (logical_os, want_logical). */
    int bpart, bouter;
} val;

/* A layer to build, with its weights in PyTorch's layout. */
typedef struct pend {
    al_layer_cfg cfg;
    const char *pname[AL_MAX_PARAMS];
    float *w[AL_MAX_PARAMS];
    size_t n[AL_MAX_PARAMS];
    int np;
} pend;

typedef struct imp {
    const Onnx__GraphProto *g;
    int64_t opset;
    val *v;
    size_t nv, cap;
    pend *L;            /* the layers so far (al_malloc'd, grown by emit) */
    int nl, lcap;
    al_shape in;
    int input_tokens;
    char notes[512];
    int read_from;      /* the node the next emitted layer reads (-1: the model input); READ_PREV: the
                         * layer emitted last, as when one operator becomes several layers */
    int read_port;      /* and which of its outputs (a Split's port; else 0) */
    /* reshape layers want_logical made (layer `to` holds layer `from`'s
     * output as `os`), so a tensor read by several layers in one shape
     * (attention's q, k, v out of one projection) is copied once */
    struct { int from, from_port, to; al_shape os; } relog[16];
    int nrelog;
    unsigned char *skip; /* g->n_node flags: nodes a pattern already imported (fuse_gelu) */
    /* every name in the graph, sorted, built once (names_build): a lookup
     * by name costs O(log n), not a pass over every node or value, so that
     * a graph of MAX_GRAPH nodes imports in linear-log time */
    struct name_ent *names;
    size_t nnames;
    int *rdr;            /* the nodes reading each name (name_ent.rd, .nrd) */
} imp;

/* A name (of a value, a node) and what the import asks about it. */
typedef struct name_ent {
    const char *s;       /* borrowed from the parsed proto */
    size_t val;          /* 1 + its index in I->v; 0: not defined (yet) */
    int uses;            /* node inputs and graph outputs naming it */
    size_t rd, nrd;      /* the nodes reading it, I->rdr[rd .. rd + nrd), once per input, in file order */
    long konst;          /* the first Constant node with it as its one output, -1: none */
    int layer;           /* the layer last named so, -1: none (layer names are unique: name_last_layer) */
} name_ent;

#define READ_PREV (-2)

/* The next emitted layer reads runtime value x (its node and port). */
static void read_val(imp *I, const val *x) {
    I->read_from = x->node;
    I->read_port = x->port;
}

static const char *nm(const char *s) { return s ? s : ""; }

/* ---- errors ------------------------------------------------------------------------ */

static al_status nerr(const Onnx__NodeProto *nd, al_status st, const char *fmt, ...) AL_PRINTF(3, 4);
static al_status nerr(const Onnx__NodeProto *nd, al_status st, const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return al_error(st, "ONNX node '%.100s' (%.60s): %s", nm(nd->name), nm(nd->op_type), msg);
}

static void note(imp *I, const char *s) {
    size_t o = strlen(I->notes);
    if (strstr(I->notes, s)) return;
    snprintf(I->notes + o, sizeof I->notes - o, "%s%s", o ? "; " : "", s);
}

/* ---- values -------------------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static name_ent *name_at(const imp *I, const char *s) {
    size_t lo = 0, hi = I->nnames;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(s, I->names[mid].s);
        if (!c) return &I->names[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

/* The name index of graph g: every node input, output and name, initializer
 * and graph input and output name (values are defined under these names
 * only), each node's readers and the Constant nodes. */
static al_status names_build(imp *I, const Onnx__GraphProto *g) {
    size_t n = g->n_initializer + g->n_input + g->n_output, nin = 0;
    for (size_t k = 0; k < g->n_node; k++) {
        n += g->node[k]->n_input + g->node[k]->n_output + 1;
        nin += g->node[k]->n_input;
    }
    const char **p = n < SIZE_MAX / sizeof *p ? al_malloc(n * sizeof *p + 1) : NULL;
    if (!p) return AL_ENOMEM;
    size_t j = 0;
    for (size_t k = 0; k < g->n_node; k++) {
        const Onnx__NodeProto *nd = g->node[k];
        for (size_t q = 0; q < nd->n_input; q++) p[j++] = nm(nd->input[q]);
        for (size_t q = 0; q < nd->n_output; q++) p[j++] = nm(nd->output[q]);
        p[j++] = nm(nd->name);
    }
    for (size_t k = 0; k < g->n_initializer; k++) p[j++] = nm(g->initializer[k]->name);
    for (size_t k = 0; k < g->n_input; k++) p[j++] = nm(g->input[k]->name);
    for (size_t k = 0; k < g->n_output; k++) p[j++] = nm(g->output[k]->name);
    qsort(p, n, sizeof *p, cmp_str);
    I->names = al_malloc(n * sizeof *I->names + 1);
    I->rdr = al_malloc(nin * sizeof *I->rdr + 1);
    if (!I->names || !I->rdr) {
        al_free(p);
        return AL_ENOMEM;
    }
    for (size_t k = 0; k < n; k++) {
        if (I->nnames && !strcmp(I->names[I->nnames - 1].s, p[k])) continue;
        name_ent *e = &I->names[I->nnames++];
        memset(e, 0, sizeof *e);
        e->s = p[k];
        e->konst = -1;
        e->layer = -1;
    }
    al_free(p);
    /* readers: counted, then laid out name by name in file order */
    for (size_t k = 0; k < g->n_node; k++) {
        const Onnx__NodeProto *nd = g->node[k];
        for (size_t q = 0; q < nd->n_input; q++) name_at(I, nm(nd->input[q]))->nrd++;
        if (!strcmp(nm(nd->op_type), "Constant") && nd->n_output == 1) {
            name_ent *e = name_at(I, nm(nd->output[0]));
            if (e->konst < 0) e->konst = (long)k;
        }
    }
    size_t o = 0;
    for (size_t k = 0; k < I->nnames; k++) {
        name_ent *e = &I->names[k];
        e->rd = o;
        o += e->nrd;
        e->uses = (int)e->nrd;
        e->nrd = 0;
    }
    for (size_t k = 0; k < g->n_node; k++) {
        const Onnx__NodeProto *nd = g->node[k];
        for (size_t q = 0; q < nd->n_input; q++) {
            name_ent *e = name_at(I, nm(nd->input[q]));
            I->rdr[e->rd + e->nrd++] = (int)k;
        }
    }
    for (size_t k = 0; k < g->n_output; k++) name_at(I, nm(g->output[k]->name))->uses++;
    return AL_OK;
}

static val *find(imp *I, const char *name) {
    const name_ent *e = name_at(I, nm(name));
    return e && e->val ? &I->v[e->val - 1] : NULL;
}

static void val_free(val *v) {
    al_free(v->f);
    al_free(v->i);
    v->f = NULL;
    v->i = NULL;
}

/* 1 when runtime value v holds more than MAX_SAMPLE values per sample, in
 * our shape or in its ONNX dims, or its batch axis more than MAX_DIM samples
 * (times the per-sample part it holds), so that no product or sum of its
 * sizes below can overflow. No model with such a value builds. */
static int run_too_large(const val *v) {
    int64_t part = v->bpart > 1 ? v->bpart : 1, n = 1, m = part;
    if (v->os.ndim < 0 || v->os.ndim > AL_SHAPE_MAX || part > MAX_SAMPLE) return 1;
    for (int d = 0; d < v->os.ndim; d++) {
        if (v->os.d[d] < 0 || v->os.d[d] > MAX_SAMPLE) return 1;
        if ((n *= v->os.d[d]) > MAX_SAMPLE) return 1;
    }
    for (int d = 0; d < v->ndim; d++) {
        if (d == v->bax) {
            if (v->dims[d] > MAX_DIM * part) return 1; /* the batch, times the per-sample part it holds */
        } else if (v->dims[d] >= 0) { /* (a negative one is unknown; nothing multiplies it) */
            if (v->dims[d] > MAX_SAMPLE || (m *= v->dims[d]) > MAX_SAMPLE) return 1;
        }
    }
    return 0;
}

/* Adds a value named `name` (a copy of *tmpl, which it takes the buffers of). */
static al_status define(imp *I, const Onnx__NodeProto *nd, const char *name, val *tmpl) {
    name = nm(name);
    if (tmpl->kind == V_RUN && run_too_large(tmpl)) {
        al_status st = nd ? nerr(nd, AL_ERANGE, "output '%.100s' would hold more than %lld values per sample", name,
                                 (long long)MAX_SAMPLE)
                          : al_error(AL_ERANGE, "ONNX: input '%.100s' holds more than %lld values per sample", name,
                                     (long long)MAX_SAMPLE);
        val_free(tmpl);
        return st;
    }
    name_ent *e = name_at(I, name);
    if (!*name || (e && e->val)) {
        al_status st = nd ? nerr(nd, AL_EFORMAT, "output '%.100s' is empty or defined twice", name)
                          : al_error(AL_EFORMAT, "ONNX: value '%.100s' is defined twice", name);
        val_free(tmpl);
        return st;
    }
    if (!e) { /* not a name of the graph: a bug here, not in the file */
        val_free(tmpl);
        return al_error(AL_EINVAL, "ONNX: value '%.100s' is not named in the graph", name);
    }
    if (I->nv == I->cap) {
        size_t cap = I->cap ? I->cap * 2 : 64;
        val *nv = al_malloc(cap * sizeof *nv);
        if (!nv) {
            val_free(tmpl);
            return AL_ENOMEM;
        }
        if (I->nv) memcpy(nv, I->v, I->nv * sizeof *nv);
        al_free(I->v);
        I->v = nv;
        I->cap = cap;
    }
    I->v[I->nv] = *tmpl;
    I->v[I->nv].name = name;
    I->nv++;
    e->val = I->nv;
    return AL_OK;
}

/* A runtime value like *x (no buffers to share), fresh cleared. */
static al_status define_run(imp *I, const Onnx__NodeProto *nd, const char *name, const val *x) {
    val t = *x;
    t.f = NULL;
    t.i = NULL;
    t.fresh = 0;
    return define(I, nd, name, &t);
}

/* How many node inputs and graph outputs name `name`. */
static int uses(const imp *I, const char *name) {
    if (!name || !*name) return 0;
    const name_ent *e = name_at(I, name);
    return e ? e->uses : 0;
}

static int is_graph_output(const imp *I, const char *name) {
    for (size_t k = 0; k < I->g->n_output; k++)
        if (strcmp(nm(I->g->output[k]->name), name) == 0) return 1;
    return 0;
}

/* Input k of a node: NULL when absent (past the end or ""). */
static const char *in_name(const Onnx__NodeProto *nd, size_t k) {
    if (k >= nd->n_input) return NULL;
    const char *s = nm(nd->input[k]);
    return *s ? s : NULL;
}

static al_status get_in(imp *I, const Onnx__NodeProto *nd, size_t k, int required, val **out) {
    *out = NULL;
    const char *s = in_name(nd, k);
    if (!s) return required ? nerr(nd, AL_EFORMAT, "input %zu is missing", k) : AL_OK;
    val *v = find(I, s);
    if (!v)
        return nerr(nd, AL_EFORMAT,
                    "input '%.100s' is not defined before this node (the graph is not in topological order)", s);
    *out = v;
    return AL_OK;
}

static al_status get_const(imp *I, const Onnx__NodeProto *nd, size_t k, int required, int want_int, const char *what,
                           val **out) {
    al_status st = get_in(I, nd, k, required, out);
    if (st || !*out) return st;
    val *v = *out;
    if (v->kind != V_CONST)
        return nerr(nd, AL_EUNSUPPORTED, "input %zu (%s, '%.100s') must be a constant (an initializer)", k, what,
                    v->name);
    if (v->fill)
        return nerr(nd, AL_EUNSUPPORTED, "input %zu (%s) depends on the batch size", k, what);
    if (v->is_int != want_int)
        return nerr(nd, AL_EUNSUPPORTED, "input %zu (%s) must be of type %s", k, what, want_int ? "int64" : "float");
    return AL_OK;
}

/* The data input of a layer: any runtime value (an earlier layer's output
 * or the model input); the next layer emitted reads it. */
static al_status get_current(imp *I, const Onnx__NodeProto *nd, int allow_pad, val **out) {
    al_status st = get_in(I, nd, 0, 1, out);
    if (st) return st;
    val *x = *out;
    if (x->kind != V_RUN)
        return nerr(nd, AL_EUNSUPPORTED, "its data input '%.100s' is a constant; only the model input may flow in",
                    x->name);
    read_val(I, x);
    if (x->pad && !allow_pad) return nerr(nd, AL_EUNSUPPORTED, "it reads a padded tensor (Pad); only Conv and AveragePool can absorb a Pad");
    if (x->softmax) return nerr(nd, AL_EUNSUPPORTED, "a Softmax is only supported as the last node");
    return AL_OK;
}

/* ONNX dims without the batch axis are exactly our per-sample shape. */
static int exact(const val *x, int rank) {
    if (x->ndim != rank || x->bax != 0 || x->os.ndim != rank - 1) return 0;
    for (int d = 1; d < rank; d++)
        if (x->dims[d] != x->os.d[d - 1]) return 0;
    return 1;
}

/* 1 when a and b have the same ONNX dims, batch axis and per-sample shape,
 * with the batch alone in its axis: one element-wise operation covers them. */
static int same_layout(const val *a, const val *b) {
    if (a->ndim != b->ndim || a->bax != b->bax || a->bpart > 1 || b->bpart > 1 || a->os.ndim != b->os.ndim)
        return 0;
    for (int d = 0; d < a->ndim; d++)
        if (d != a->bax && a->dims[d] != b->dims[d]) return 0;
    for (int d = 0; d < a->os.ndim; d++)
        if (a->os.d[d] != b->os.d[d]) return 0;
    return 1;
}

/* ---- the batch inside an axis (attention) ------------------------------------- */

static al_status emit(imp *I, const Onnx__NodeProto *nd, al_layer_type type, pend **out);
static al_status fold_binary(imp *I, const Onnx__NodeProto *nd, const val *a, const val *b, char op);
static al_status prepend_layer(imp *I, const Onnx__NodeProto *nd, const val *c, const val *x, int64_t axis);
static al_status value_attr(const Onnx__NodeProto *nd, val *out);
static al_status fuse_layernorm(imp *I, const Onnx__NodeProto *nd, val *x);
static const char *other_input(const imp *I, long k, const char *name);
static al_status layernorm_layer(imp *I, const Onnx__NodeProto *nd, const val *x, const val *w, const val *b,
                                 float eps);
static al_status define_layer_out(imp *I, const Onnx__NodeProto *nd, const int64_t *dims, int ndim, int bax,
                                  const al_shape *os, int fresh);

/* The per-sample shape x's ONNX dims describe (see val.bpart); 0 when it has
 * more than AL_SHAPE_MAX axes or an unknown size. */
static int logical_os(const val *x, al_shape *os) {
    int k = 0;
    memset(os, 0, sizeof *os);
    for (int d = 0; d < x->ndim; d++) {
        int64_t v = x->dims[d];
        if (d == x->bax) {
            if (x->bpart <= 1) continue;
            v = x->bpart;
        }
        if (k >= AL_SHAPE_MAX || v < 1 || v > MAX_DIM) return 0;
        os->d[k++] = (int)v;
    }
    os->ndim = k;
    return 1;
}

/* The per-sample axis ONNX axis a of x holds; -1 for the batch alone. */
static int ps_axis(const val *x, int a) {
    if (a == x->bax && x->bpart <= 1) return -1;
    int k = 0;
    for (int d = 0; d < a; d++) k += d != x->bax || x->bpart > 1;
    return k;
}

static int same_shape(const al_shape *a, const al_shape *b) {
    if (a->ndim != b->ndim) return 0;
    for (int d = 0; d < a->ndim; d++)
        if (a->d[d] != b->d[d]) return 0;
    return 1;
}

/* Makes x's data available in its logical shape: a reshape layer when the
 * layer output holding it has another shape. *node: the layer to read;
 * *os: the logical shape. The next layer emitted reads *node. */
static al_status want_logical(imp *I, const Onnx__NodeProto *nd, const val *x, int *node, al_shape *os) {
    if (x->kind != V_RUN || x->pad || x->softmax)
        return nerr(nd, AL_EUNSUPPORTED, "input '%.100s' must be a layer output (not padded, no final Softmax)", x->name);
    if (!logical_os(x, os)) return nerr(nd, AL_EUNSUPPORTED, "input '%.100s' has more than %d per-sample axes", x->name, AL_SHAPE_MAX);
    if (al_shape_numel(os) != al_shape_numel(&x->os))
        return nerr(nd, AL_EUNSUPPORTED, "input '%.100s': its shape does not match its data", x->name);
    *node = x->node;
    if (same_shape(os, &x->os)) {
        read_val(I, x);
        return AL_OK;
    }
    for (int k = 0; k < I->nrelog; k++)
        if (I->relog[k].from == x->node && I->relog[k].from_port == x->port && same_shape(&I->relog[k].os, os)) {
            *node = I->relog[k].to;
            I->read_from = *node;
            I->read_port = 0;
            return AL_OK;
        }
    pend *L = NULL;
    read_val(I, x);
    al_status st = emit(I, nd, AL_L_RESHAPE, &L);
    if (st) return st;
    L->cfg.ndims = os->ndim;
    for (int d = 0; d < os->ndim; d++) L->cfg.dims[d] = os->d[d];
    *node = I->nl - 1;
    I->read_from = *node;
    I->read_port = 0;
    int k = I->nrelog < 16 ? I->nrelog++ : (int)((unsigned)*node % 16u);
    I->relog[k].from = x->node;
    I->relog[k].from_port = x->port;
    I->relog[k].to = *node;
    I->relog[k].os = *os;
    return AL_OK;
}

/* Defines the output of the layer just emitted with x's batch placement
 * and the given ONNX dims (the same rank and batch axis as `like`). */
static al_status define_like(imp *I, const Onnx__NodeProto *nd, const val *like, const int64_t *dims, int ndim,
                             const al_shape *os) {
    al_status st = define_layer_out(I, nd, dims, ndim, like->bax, os, 0);
    if (!st) {
        I->v[I->nv - 1].bpart = like->bpart;
        I->v[I->nv - 1].bouter = like->bouter;
    }
    return st;
}

/* The batch size of x, or -1 when unknown. */
static int64_t batch_n(const val *x) {
    int64_t b = x->dims[x->bax];
    if (b <= 0) return -1;
    return x->bpart > 1 ? b / x->bpart : b;
}

/* A Reshape of a layer output to a constant target (BATCH, 0 and -1
 * allowed) that regroups the data without reordering it, the batch staying
 * a factor of one axis, at its outer or inner end: [T, N, E] to
 * [T, N*h, d] (attention heads), [T, N, h, d] to [T*N, E]. No layer: the
 * per-sample data keeps its order; the value's dims and batch placement
 * change (a later layer that needs the shape gets a reshape,
 * want_logical). AL_EUNSUPPORTED (no error set) otherwise. */
static al_status reshape_general(imp *I, const Onnx__NodeProto *nd, const val *x, const val *s, int az) {
    if (x->pad || x->softmax || s->numel < 1 || s->numel > MAXR) return AL_EUNSUPPORTED;
    int64_t N = batch_n(x);
    /* the input's factors in order; B marks the batch */
    const int64_t B = -2;
    int64_t f[MAXR + 2];
    int nf = 0;
    int64_t per = 1;
    for (int d = 0; d < x->ndim; d++) {
        if (d == x->bax) {
            if (x->bpart > 1 && !x->bouter) f[nf++] = x->bpart;
            f[nf++] = B;
            if (x->bpart > 1 && x->bouter) f[nf++] = x->bpart;
            if (x->bpart > 1) per *= x->bpart;
        } else if (x->dims[d] != 1) {
            if (x->dims[d] < 1) return AL_EUNSUPPORTED;
            f[nf++] = x->dims[d];
            per *= x->dims[d];
        }
    }
    /* the target: BATCH, 0 (copy), -1 (infer), or a size */
    int r = (int)s->numel, inf = -1;
    int64_t t[MAXR], known = 1, tmul = 1;
    int tb = -1; /* the target axis that is the batch alone (BATCH, or 0 at the batch axis), or the
                  * batch times tmul (BATCH_MUL: attention's N * heads) */
    for (int q = 0; q < r; q++) {
        int64_t v = s->i[q];
        if (batch_factor(v) > 1) {
            if (tb >= 0) return AL_EUNSUPPORTED;
            tb = q;
            t[q] = B;
            tmul = batch_factor(v);
            if (known > MAX_DIM * MAX_DIM / tmul) return AL_EUNSUPPORTED; /* tmul <= MAX_DIM (batch_factor) */
            known *= tmul;
            continue;
        }
        if (v == 0 && !az) {
            if (q >= x->ndim) return AL_EUNSUPPORTED;
            if (q == x->bax && x->bpart <= 1) v = BATCH;
            else if (q == x->bax) return AL_EUNSUPPORTED;
            else v = x->dims[q];
        }
        if (v == BATCH) {
            if (tb >= 0) return AL_EUNSUPPORTED;
            tb = q;
            t[q] = B;
        } else if (v == -1) {
            if (inf >= 0) return AL_EUNSUPPORTED;
            inf = q;
            t[q] = -1;
        } else if (v >= 1) {
            t[q] = v;
            if (v > MAX_DIM || known > MAX_DIM * MAX_DIM / v) return AL_EUNSUPPORTED; /* known stays <= 2^48 */
            known *= v;
        } else {
            return AL_EUNSUPPORTED;
        }
    }
    if (inf >= 0) { /* elements over the known sizes; with the batch inside when no axis is the batch alone */
        int64_t all = per;
        if (tb < 0) {
            if (N < 0) return AL_EUNSUPPORTED;
            all *= N;
        }
        if (all % known) return AL_EUNSUPPORTED;
        t[inf] = all / known;
    }
    /* match the target axes to the factors */
    int k = 0, nbax = -1;
    int64_t outer = 1, inner = 1, od[MAXR];
    int64_t cur = nf ? f[0] : 1; /* what is left of factor k */
    for (int q = 0; q < r; q++) {
        int64_t need = t[q];
        int has_b = 0;
        int64_t before = 1, after = 1;
        if (need == B && q == tb && tmul > 1) { /* the batch and factors of tmul beside it, in data order */
            int64_t rem = tmul;
            int gotb = 0;
            while (rem > 1 || !gotb) {
                if (k >= nf) return AL_EUNSUPPORTED;
                if (f[k] == B) {
                    gotb = 1;
                    cur = ++k < nf ? f[k] : 1;
                    continue;
                }
                if (rem == 1) return AL_EUNSUPPORTED; /* the batch is not next */
                int64_t take = cur;
                if (rem % take) {
                    if (take % rem) return AL_EUNSUPPORTED;
                    take = rem;
                }
                rem /= take;
                cur /= take;
                if (gotb) after *= take;
                else before *= take;
                if (cur == 1) cur = ++k < nf ? f[k] : 1;
            }
            has_b = 1;
            need = 1;
        } else if (need == B) {
            while (k < nf && f[k] != B && cur == 1) cur = ++k < nf ? f[k] : 1;
            if (k >= nf || f[k] != B) return AL_EUNSUPPORTED;
            has_b = 1;
            need = 1;
            cur = ++k < nf ? f[k] : 1;
        }
        while (need > 1) {
            if (k >= nf) return AL_EUNSUPPORTED;
            if (f[k] == B) {
                if (N < 1 || need % N || has_b) return AL_EUNSUPPORTED;
                need /= N;
                has_b = 1;
                cur = ++k < nf ? f[k] : 1;
                continue;
            }
            int64_t take = cur;
            if (need % take) {
                if (take % need) return AL_EUNSUPPORTED;
                take = need; /* split the factor */
            }
            need /= take;
            cur /= take;
            if (has_b) after *= take;
            else before *= take;
            if (cur == 1) cur = ++k < nf ? f[k] : 1;
        }
        if (has_b) {
            if (before > 1 && after > 1) return AL_EUNSUPPORTED; /* the batch in the middle of an axis */
            nbax = q;
            outer = before;
            inner = after;
            od[q] = N > 0 ? N * before * after : -1;
        } else {
            od[q] = t[q];
        }
    }
    while (k < nf && f[k] != B && cur == 1) cur = ++k < nf ? f[k] : 1;
    if (k < nf || nbax < 0) return AL_EUNSUPPORTED;
    val v = *x;
    v.f = NULL;
    v.i = NULL;
    v.fresh = 0;
    v.ndim = r;
    memcpy(v.dims, od, sizeof(int64_t) * (size_t)r);
    v.bax = nbax;
    v.bpart = (int)(outer * inner);
    v.bouter = outer == 1;
    return define(I, nd, nd->output[0], &v);
}

static void fmt_dims(char *buf, size_t cap, const int64_t *d, int n, int bax) {
    size_t o = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < n && o < cap; i++) {
        const char *sep = i ? ", " : "";
        if (i == bax || d[i] == BATCH)
            o += (size_t)snprintf(buf + o, cap - o, "%sN", sep);
        else
            o += (size_t)snprintf(buf + o, cap - o, "%s%lld", sep, (long long)d[i]);
    }
    if (o < cap) snprintf(buf + o, cap - o, "]");
}

static al_status shape_err(const Onnx__NodeProto *nd, const val *x, const char *need) {
    char a[160];
    fmt_dims(a, sizeof a, x->dims, x->ndim, x->kind == V_RUN ? x->bax : -1);
    return nerr(nd, AL_EUNSUPPORTED, "input shape %s (batch axis %d) is not supported: it needs %s", a, x->bax,
                need);
}

/* ---- attributes ------------------------------------------------------------------ */

static const Onnx__AttributeProto *attr(const Onnx__NodeProto *nd, const char *name) {
    for (size_t k = 0; k < nd->n_attribute; k++)
        if (strcmp(nm(nd->attribute[k]->name), name) == 0) return nd->attribute[k];
    return NULL;
}

/* Every attribute of the node must be in `allowed` (NULL-terminated). */
static al_status check_attrs(const Onnx__NodeProto *nd, const char *const *allowed) {
    for (size_t k = 0; k < nd->n_attribute; k++) {
        const char *a = nm(nd->attribute[k]->name);
        int ok = 0;
        for (int q = 0; allowed && allowed[q]; q++) ok |= strcmp(a, allowed[q]) == 0;
        if (!ok) return nerr(nd, AL_EUNSUPPORTED, "attribute '%.60s' is not supported", a);
    }
    return AL_OK;
}

#define ATYPE(x) ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__##x

static int attr_is(const Onnx__AttributeProto *a, Onnx__AttributeProto__AttributeType t) {
    return a->has_type ? a->type == t : 1;
}

static al_status attr_int(const Onnx__NodeProto *nd, const char *name, int64_t def, int64_t *out) {
    const Onnx__AttributeProto *a = attr(nd, name);
    *out = def;
    if (!a) return AL_OK;
    if (!attr_is(a, ATYPE(INT)) || !a->has_i) return nerr(nd, AL_EFORMAT, "attribute '%s' must be an integer", name);
    *out = a->i;
    return AL_OK;
}

static al_status attr_float(const Onnx__NodeProto *nd, const char *name, float def, float *out) {
    const Onnx__AttributeProto *a = attr(nd, name);
    *out = def;
    if (!a) return AL_OK;
    if (!attr_is(a, ATYPE(FLOAT)) || !a->has_f) return nerr(nd, AL_EFORMAT, "attribute '%s' must be a float", name);
    if (!isfinite(a->f)) return nerr(nd, AL_EFORMAT, "attribute '%s' is not finite", name);
    *out = a->f;
    return AL_OK;
}

/* INTS attribute; absent: *n = 0. */
static al_status attr_ints(const Onnx__NodeProto *nd, const char *name, const int64_t **p, size_t *n) {
    const Onnx__AttributeProto *a = attr(nd, name);
    *p = NULL;
    *n = 0;
    if (!a) return AL_OK;
    if (!attr_is(a, ATYPE(INTS))) return nerr(nd, AL_EFORMAT, "attribute '%s' must be a list of integers", name);
    *p = a->ints;
    *n = a->n_ints;
    return AL_OK;
}

/* STRING attribute into buf (NUL-terminated); absent: def. */
static al_status attr_str(const Onnx__NodeProto *nd, const char *name, const char *def, char *buf, size_t cap) {
    const Onnx__AttributeProto *a = attr(nd, name);
    snprintf(buf, cap, "%s", def);
    if (!a) return AL_OK;
    if (!attr_is(a, ATYPE(STRING)) || !a->has_s) return nerr(nd, AL_EFORMAT, "attribute '%s' must be a string", name);
    if (a->s.len >= cap || (a->s.len && memchr(a->s.data, 0, a->s.len)))
        return nerr(nd, AL_EUNSUPPORTED, "attribute '%s' has an unsupported value", name);
    if (a->s.len) memcpy(buf, a->s.data, a->s.len);
    buf[a->s.len] = '\0';
    return AL_OK;
}

/* ---- tensors ------------------------------------------------------------------------- */

static al_status numel_of(const int64_t *dims, size_t n, size_t *out) {
    size_t e = 1;
    for (size_t d = 0; d < n; d++) {
        if (dims[d] < 0 || dims[d] > INT32_MAX) return AL_ERANGE;
        if (dims[d] && e > MAX_NUMEL / (size_t)dims[d]) return AL_ERANGE;
        e *= (size_t)dims[d];
    }
    if (e > MAX_NUMEL) return AL_ERANGE;
    *out = e;
    return AL_OK;
}

static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* A TensorProto (float, int32, int64, bool) into a constant value. `what`
 * names it in messages. */
static al_status load_tensor(const Onnx__TensorProto *t, const char *what, val *out) {
    memset(out, 0, sizeof *out);
    out->kind = V_CONST;
    if (t->n_external_data || (t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL))
        return al_error(AL_EUNSUPPORTED, "ONNX: tensor '%.100s' keeps its data in an external file; re-export with it embedded",
                        what);
    if (t->segment) return al_error(AL_EUNSUPPORTED, "ONNX: tensor '%.100s' is segmented", what);
    if (t->n_dims > MAXR) return al_error(AL_EUNSUPPORTED, "ONNX: tensor '%.100s' has %zu dimensions (max %d)", what, t->n_dims, MAXR);
    size_t n = 0;
    if (numel_of(t->dims, t->n_dims, &n))
        return al_error(AL_EFORMAT, "ONNX: tensor '%.100s' has negative or too large dimensions", what);
    out->ndim = (int)t->n_dims;
    for (size_t d = 0; d < t->n_dims; d++) out->dims[d] = t->dims[d];
    out->numel = n;
    int type = t->has_data_type ? t->data_type : 0;
    size_t esz = type == T_FLOAT || type == T_INT32 ? 4 : type == T_INT64 ? 8 : type == T_BOOL ? 1 : 0;
    if (!esz) return al_error(AL_EUNSUPPORTED, "ONNX: tensor '%.100s' has data type %d; float, int32, int64 and bool are supported", what, type);
    const uint8_t *raw = t->has_raw_data ? t->raw_data.data : NULL;
    if (raw && t->raw_data.len != n * esz)
        return al_error(AL_EFORMAT, "ONNX: tensor '%.100s' has %zu bytes of data, its %zu elements need %zu", what,
                        t->raw_data.len, n, n * esz);
    size_t have = type == T_FLOAT ? t->n_float_data : type == T_INT64 ? t->n_int64_data : t->n_int32_data;
    if (!raw && have != n)
        return al_error(AL_EFORMAT, "ONNX: tensor '%.100s' has %zu values, its dimensions need %zu", what, have, n);
    if (type == T_FLOAT) {
        out->f = al_malloc(n ? n * sizeof(float) : 1);
        if (!out->f) return AL_ENOMEM;
        for (size_t k = 0; k < n; k++) {
            if (raw) {
                uint32_t u = le32(raw + 4 * k);
                memcpy(&out->f[k], &u, 4);
            } else {
                out->f[k] = t->float_data[k];
            }
        }
    } else {
        out->is_int = 1;
        out->i = al_malloc(n ? n * sizeof(int64_t) : 1);
        if (!out->i) return AL_ENOMEM;
        for (size_t k = 0; k < n; k++) {
            int64_t x;
            if (type == T_INT64)
                x = raw ? (int64_t)((uint64_t)le32(raw + 8 * k) | (uint64_t)le32(raw + 8 * k + 4) << 32) : t->int64_data[k];
            else if (type == T_INT32)
                x = raw ? (int64_t)(int32_t)le32(raw + 4 * k) : t->int32_data[k];
            else
                x = raw ? raw[k] != 0 : t->int32_data[k] != 0;
            out->i[k] = x;
        }
    }
    return AL_OK;
}

/* ---- layers -------------------------------------------------------------------------- */

/* A new layer at the end; *out stays valid until the next emit. */
static al_status emit(imp *I, const Onnx__NodeProto *nd, al_layer_type type, pend **out) {
    if (I->nl >= AL_MAX_NODES)
        return nerr(nd, AL_ERANGE, "the model would have more than %d layers", AL_MAX_NODES);
    if (I->input_tokens && I->nl == 0 && type != AL_L_EMBEDDING)
        return nerr(nd, AL_EUNSUPPORTED, "a token (integer) input must first go through Gather (an embedding)");
    if (I->nl == I->lcap) {
        int cap = I->lcap ? 2 * I->lcap : 64;
        if (cap > AL_MAX_NODES) cap = AL_MAX_NODES;
        pend *L = al_malloc(sizeof *L * (size_t)cap);
        if (!L) return AL_ENOMEM;
        if (I->nl) memcpy(L, I->L, sizeof *L * (size_t)I->nl);
        al_free(I->L);
        I->L = L;
        I->lcap = cap;
    }
    pend *p = &I->L[I->nl++];
    memset(p, 0, sizeof *p);
    p->cfg.type = type;
    if (I->read_from != READ_PREV) {
        p->cfg.back = I->nl - 2 - I->read_from;
        p->cfg.in_port = I->read_port;
    }
    I->read_from = READ_PREV;
    I->read_port = 0;
    *out = p;
    return AL_OK;
}

/* Gives parameter `name` n floats (taken from *buf when buf is non-NULL,
 * else zeros). */
static al_status set_param(pend *p, const char *name, float **buf, size_t n) {
    float *w = buf ? *buf : al_calloc(n ? n : 1, sizeof(float));
    if (!w) return AL_ENOMEM;
    if (buf) *buf = NULL;
    p->pname[p->np] = name;
    p->w[p->np] = w;
    p->n[p->np] = n;
    p->np++;
    return AL_OK;
}

static float *param(pend *p, const char *name, size_t *n) {
    for (int k = 0; k < p->np; k++)
        if (!strcmp(p->pname[k], name)) {
            if (n) *n = p->n[k];
            return p->w[k];
        }
    return NULL;
}

static float *copy_floats(const float *src, size_t n) {
    float *w = al_malloc(n ? n * sizeof(float) : 1);
    if (w && n) memcpy(w, src, n * sizeof(float));
    return w;
}

/* Names the layer just emitted `s` when that is a valid name no earlier
 * layer has (al_model_find_node, --freeze NAME). Only the last layer is ever
 * named, and not after an earlier one, so names stay unique: the name index
 * remembers which layer took each, and that layer still has it unless it
 * was renamed while it was the last. */
static void name_last_layer(imp *I, const char *s) {
    if (I->nl < 1 || !al_name_valid(s)) return;
    name_ent *e = name_at(I, s);
    int h = e ? e->layer : -1;
    if (!e) { /* not a name of the graph (none such is passed): look at every layer */
        for (h = I->nl - 2; h >= 0 && strcmp(I->L[h].cfg.name, s); h--) continue;
    }
    if (h >= 0 && h < I->nl - 1 && !strcmp(I->L[h].cfg.name, s)) return;
    snprintf(I->L[I->nl - 1].cfg.name, sizeof I->L[I->nl - 1].cfg.name, "%s", s);
    if (e) e->layer = I->nl - 1;
}

/* A runtime value for the output of the layer just emitted. */
static al_status define_layer_out(imp *I, const Onnx__NodeProto *nd, const int64_t *dims, int ndim, int bax,
                                  const al_shape *os, int fresh) {
    val t;
    memset(&t, 0, sizeof t);
    t.kind = V_RUN;
    t.ndim = ndim;
    memcpy(t.dims, dims, sizeof(int64_t) * (size_t)ndim);
    t.bax = bax;
    t.node = I->nl - 1;
    t.os = *os;
    /* the layer's output tensor takes the ONNX node's name (else its
     * output's) when that is a valid name no other layer has
     * (al_model_find_node, --freeze NAME) */
    const char *vn = nm(nd->name);
    if (!*vn && nd->n_output) vn = nm(nd->output[0]);
    name_last_layer(I, vn);
    al_status st = define(I, nd, nd->n_output ? nd->output[0] : NULL, &t);
    if (!st) I->v[I->nv - 1].fresh = fresh;
    return st;
}

/* Same shape as x (activations, dropout, batch norm, add). */
static al_status define_same(imp *I, const Onnx__NodeProto *nd, const val *x) {
    return define_layer_out(I, nd, x->dims, x->ndim, x->bax, &x->os, 0);
}

/* Outputs past the first must not be used by anything. */
static al_status extra_outputs_unused(imp *I, const Onnx__NodeProto *nd) {
    for (size_t k = 1; k < nd->n_output; k++)
        if (uses(I, nm(nd->output[k])))
            return nerr(nd, AL_EUNSUPPORTED, "output %zu ('%.100s') is used; only the first output is supported", k,
                        nm(nd->output[k]));
    return AL_OK;
}

/* kernel_shape / strides / pads / dilations / auto_pad of a 2-D conv or
 * pool on an H x W input: a square kernel, one stride and one dilation for
 * H and W, pads {t, l, b, r} (ONNX's [H begin, W begin, H end, W end]),
 * each side its own. auto_pad SAME_UPPER / SAME_LOWER: the padding that
 * gives ceil(H / s) outputs, the odd one at the end (UPPER) or the begin
 * (LOWER). kdef: the kernel from the weights (0 for pools). */
static al_status window_full(const Onnx__NodeProto *nd, int kdef, int sdef, int H, int W, int *k, int *s, int pads[4],
                             int *d) {
    const int64_t *v;
    size_t n = 0;
    al_status st;
    char ap[32];
    if ((st = attr_str(nd, "auto_pad", "NOTSET", ap, sizeof ap))) return st;
    int same = !strcmp(ap, "SAME_UPPER") ? 1 : !strcmp(ap, "SAME_LOWER") ? 2 : 0;
    if (strcmp(ap, "NOTSET") && strcmp(ap, "VALID") && !same)
        return nerr(nd, AL_EUNSUPPORTED,
                    "attribute 'auto_pad' = %s is not supported (NOTSET, VALID, SAME_UPPER or SAME_LOWER)", ap);
    if ((st = attr_ints(nd, "kernel_shape", &v, &n))) return st;
    if (n == 0 && kdef == 0) return nerr(nd, AL_EFORMAT, "attribute 'kernel_shape' is missing");
    if (n && (n != 2 || v[0] != v[1] || v[0] < 1 || v[0] > 64 || (kdef && v[0] != kdef)))
        return nerr(nd, AL_EUNSUPPORTED, "attribute 'kernel_shape' must be a square 2-D kernel of 1..64 matching the weights");
    *k = n ? (int)v[0] : kdef;
    if ((st = attr_ints(nd, "strides", &v, &n))) return st;
    if (n && (n != 2 || v[0] != v[1] || v[0] < 1 || v[0] > 64))
        return nerr(nd, AL_EUNSUPPORTED, "attribute 'strides' must be equal in H and W, 1..64");
    *s = n ? (int)v[0] : sdef;
    if ((st = attr_ints(nd, "dilations", &v, &n))) return st;
    if (n && (n != 2 || v[0] != v[1] || v[0] < 1 || v[0] > 64))
        return nerr(nd, AL_EUNSUPPORTED, "attribute 'dilations' must be equal in H and W, 1..64");
    *d = n ? (int)v[0] : 1;
    if ((st = attr_ints(nd, "pads", &v, &n))) return st;
    if (n && n != 4) return nerr(nd, AL_EUNSUPPORTED, "attribute 'pads' must hold 4 values (2-D), has %zu", n);
    for (int q = 0; q < 4; q++) {
        if (n && (v[q] < 0 || v[q] > 64)) return nerr(nd, AL_EUNSUPPORTED, "attribute 'pads' = %lld: each must be 0..64", (long long)v[q]);
        pads[q] = n ? (int)v[q] : 0;
    }
    int any = pads[0] || pads[1] || pads[2] || pads[3];
    if (!strcmp(ap, "VALID") && any) return nerr(nd, AL_EUNSUPPORTED, "auto_pad VALID with non-zero 'pads'");
    if (same) {
        if (any) return nerr(nd, AL_EUNSUPPORTED, "auto_pad %s with explicit 'pads'", ap);
        int len[2] = {H, W};
        for (int a = 0; a < 2; a++) {
            long out = ((long)len[a] + *s - 1) / *s, ext = (long)*d * (*k - 1) + 1;
            long total = (out - 1) * *s + ext - len[a];
            if (total < 0) total = 0;
            if (total > 128) return nerr(nd, AL_EUNSUPPORTED, "auto_pad %s would pad %ld, more than 64 a side", ap, total);
            int lo = (int)(same == 1 ? total / 2 : total - total / 2);
            pads[a] = lo;
            pads[a + 2] = (int)total - lo;
        }
    }
    return AL_OK;
}

/* The same for the nodes that take one symmetric padding and no dilation:
 * pads the same on all four sides. */
static al_status window(const Onnx__NodeProto *nd, int kdef, int sdef, int H, int W, int *k, int *s, int *p) {
    int pads[4], d;
    *p = 0;
    al_status st = window_full(nd, kdef, sdef, H, W, k, s, pads, &d);
    if (st) return st;
    if (pads[0] != pads[1] || pads[0] != pads[2] || pads[0] != pads[3])
        return nerr(nd, AL_EUNSUPPORTED, "padding %d, %d, %d, %d (top, left, bottom, right): only the same on all four "
                                         "sides is supported here", pads[0], pads[1], pads[2], pads[3]);
    if (d != 1) return nerr(nd, AL_EUNSUPPORTED, "attribute 'dilations' must be 1");
    *p = pads[0];
    return AL_OK;
}

/* A pad layer reading I->read_from that adds pads {t, l, b, r} less m on
 * each side (m, the common part, stays with the conv or pool after it),
 * when they differ, filled with `value` (0; -inf before a max pool); *p = m.
 * Returns with I->read_from at the layer. */
static al_status pad_unequal(imp *I, const Onnx__NodeProto *nd, const int pads[4], float value, int *p) {
    int m = AL_MIN(AL_MIN(pads[0], pads[1]), AL_MIN(pads[2], pads[3]));
    *p = m;
    if (pads[0] == m && pads[1] == m && pads[2] == m && pads[3] == m) return AL_OK;
    pend *L = NULL;
    al_status st = emit(I, nd, AL_L_PAD, &L);
    if (st) return st;
    for (int q = 0; q < 4; q++) L->cfg.pads[q] = pads[q] - m;
    L->cfg.padval = value;
    I->read_from = READ_PREV;
    return AL_OK;
}

/* [N,C,H,W] -> [N,F,Ho,Wo]; F = 0 keeps C. */
static al_status spatial_out(const Onnx__NodeProto *nd, const val *x, int F, int k, int s, int p, int64_t *od,
                             al_shape *os) {
    int C = x->os.d[0], H = x->os.d[1], W = x->os.d[2];
    if (H + 2 * p < k || W + 2 * p < k)
        return nerr(nd, AL_ESHAPE, "kernel %d is larger than the padded input %dx%d (padding %d)", k, H, W, p);
    int Ho = (H + 2 * p - k) / s + 1, Wo = (W + 2 * p - k) / s + 1;
    od[0] = x->dims[0];
    od[1] = F ? F : C;
    od[2] = Ho;
    od[3] = Wo;
    os->ndim = 3;
    os->d[0] = (int)od[1];
    os->d[1] = Ho;
    os->d[2] = Wo;
    return AL_OK;
}

/* [N, C, 1, 1] held by us as [C]: the output of a global average pool
 * (GlobalAveragePool, ReduceMean), which squeeze-excite and classifier
 * heads feed to 1x1 convolutions. */
static int is_pooled(const val *x) {
    return x->kind == V_RUN && x->ndim == 4 && x->bax == 0 && x->os.ndim == 1 && x->dims[1] == x->os.d[0] &&
           x->dims[2] == 1 && x->dims[3] == 1 && !x->pad;
}

/* A 1x1 convolution (group 1, no padding; any stride keeps the 1x1 plane)
 * of a pooled [N, C, 1, 1] value is a dense layer with the same weights:
 * [F, C, 1, 1] is [F, C] in memory. */
static al_status op_conv_pooled(imp *I, const Onnx__NodeProto *nd, const val *x, const val *w, const val *b) {
    int C = x->os.d[0], k, s, p;
    int64_t group;
    al_status st;
    if (w->ndim != 4 || w->dims[2] != 1 || w->dims[3] != 1 || w->dims[1] != C || w->dims[0] < 1 ||
        w->dims[0] > MAX_DIM)
        return nerr(nd, AL_EUNSUPPORTED,
                    "on a pooled [N, %d, 1, 1] input only a 1x1 convolution with weights [F, %d, 1, 1] is supported", C, C);
    if ((st = window(nd, 1, 1, 1, 1, &k, &s, &p)) || (st = attr_int(nd, "group", 1, &group))) return st;
    if (group != 1 || p != 0)
        return nerr(nd, AL_EUNSUPPORTED, "on a pooled [N, %d, 1, 1] input only group 1 without padding is supported", C);
    int F = (int)w->dims[0];
    if (b && b->numel != (size_t)F) return nerr(nd, AL_EFORMAT, "bias has %zu values for %d filters", b->numel, F);
    pend *L = NULL;
    if ((st = emit(I, nd, AL_L_DENSE, &L))) return st;
    L->cfg.units = F;
    L->cfg.bias = b != NULL;
    float *wb = copy_floats(w->f, w->numel), *bb = b ? copy_floats(b->f, b->numel) : NULL;
    if (!wb || (b && !bb)) {
        al_free(wb);
        al_free(bb);
        return AL_ENOMEM;
    }
    st = set_param(L, "weight", &wb, w->numel);
    if (!st && b) st = set_param(L, "bias", &bb, b->numel);
    al_free(wb);
    al_free(bb);
    if (st) return st;
    int64_t od[4] = {x->dims[0], F, 1, 1};
    al_shape os = {1, {F, 0, 0}};
    return define_layer_out(I, nd, od, 4, 0, &os, 0);
}

/* x as [N, ...] of rank `rank` held exactly so (exact), for a conv or
 * pool ([N, C, H, W]) or a Gemm ([N, K]). When its data is held in another
 * per-sample shape (the Reshape-Transpose-Reshape of a channel shuffle
 * leaves [N, C, H, W] in the transpose's layout; a ViT's class token taken
 * by Gather keeps the sliced axis), a reshape layer comes first
 * (want_logical) and *x becomes t, x read through it. */
static al_status exact_in(imp *I, const Onnx__NodeProto *nd, val **x, val *t, int rank, const char *need) {
    if (exact(*x, rank)) return AL_OK;
    if ((*x)->ndim != rank || (*x)->bax != 0 || (*x)->bpart > 1 || (*x)->pad) return shape_err(nd, *x, need);
    int node;
    al_shape os;
    al_status st = want_logical(I, nd, *x, &node, &os);
    if (st) return st;
    *t = **x;
    t->node = node;
    t->os = os;
    t->fresh = 0;
    t->f = NULL;
    t->i = NULL;
    *x = t;
    return AL_OK;
}

static al_status op_conv(imp *I, const Onnx__NodeProto *nd) {
    static const char *const ok[] = {"auto_pad", "dilations", "group", "kernel_shape", "pads", "strides", NULL};
    val *x, *w, *b;
    al_status st;
    if ((st = check_attrs(nd, ok)) || (st = get_current(I, nd, 1, &x)) ||
        (st = get_const(I, nd, 1, 1, 0, "weights", &w)) || (st = get_const(I, nd, 2, 0, 0, "bias", &b)))
        return st;
    if (is_pooled(x)) return op_conv_pooled(I, nd, x, w, b);
    val xt;
    if ((st = exact_in(I, nd, &x, &xt, 4, "[N, C, H, W]"))) return st;
    if (w->ndim != 4 || w->dims[2] != w->dims[3] || w->dims[0] < 1 || w->dims[0] > MAX_DIM || w->dims[2] < 1 ||
        w->dims[2] > 64)
        return nerr(nd, AL_EUNSUPPORTED, "weights must be [F, C/group, k, k] with a square kernel of at most 64");
    int F = (int)w->dims[0], C = x->os.d[0], k, s, p, d, pads[4];
    int64_t group;
    /* auto_pad SAME_* is computed on the conv's input: after a Pad folded into it (x->pad) */
    if ((st = window_full(nd, (int)w->dims[2], 1, x->os.d[1] + 2 * x->pad, x->os.d[2] + 2 * x->pad, &k, &s, pads, &d)) ||
        (st = attr_int(nd, "group", 1, &group)))
        return st;
    al_layer_type type;
    if (group == 1 && w->dims[1] == C)
        type = AL_L_CONV2D;
    else if (group == C && F == C && w->dims[1] == 1)
        type = AL_L_DWCONV2D;
    else if (group > 1 && C % group == 0 && F % group == 0 && w->dims[1] == C / group)
        type = AL_L_GCONV;
    else
        return nerr(nd, AL_EUNSUPPORTED,
                    "attribute 'group' = %lld with %d input and %d output channels and weights [%lld, %lld, k, k]: "
                    "the channels and filters must be multiples of the groups",
                    (long long)group, C, F, (long long)w->dims[0], (long long)w->dims[1]);
    if (b && b->numel != (size_t)F) return nerr(nd, AL_EFORMAT, "bias has %zu values for %d filters", b->numel, F);
    for (int q = 0; q < 4; q++) pads[q] += x->pad; /* a Pad before, folded in */
    /* the output: the input padded as ONNX says, the dilated kernel's extent */
    int H = x->os.d[1], W = x->os.d[2], ext = d * (k - 1) + 1;
    if (H + pads[0] + pads[2] < ext || W + pads[1] + pads[3] < ext)
        return nerr(nd, AL_ESHAPE, "kernel %d (dilated: %d) is larger than the padded input %dx%d", k, ext, H, W);
    int64_t od[4] = {x->dims[0], F, (H + pads[0] + pads[2] - ext) / s + 1, (W + pads[1] + pads[3] - ext) / s + 1};
    al_shape os = {3, {F, (int)od[2], (int)od[3]}};
    /* padding that is not the same on all sides: a pad layer first, the common part stays with the conv */
    if ((st = pad_unequal(I, nd, pads, 0.0f, &p))) return st;
    pend *L = NULL;
    if ((st = emit(I, nd, type, &L))) return st;
    L->cfg.units = type == AL_L_DWCONV2D ? 0 : F;
    L->cfg.group = type == AL_L_GCONV ? (int)group : 0;
    L->cfg.k = k;
    L->cfg.stride = s;
    L->cfg.pad = p;
    L->cfg.dil = d > 1 ? d : 0;
    L->cfg.bias = b != NULL;
    float *wb = copy_floats(w->f, w->numel), *bb = b ? copy_floats(b->f, b->numel) : NULL;
    if (!wb || (b && !bb)) {
        al_free(wb);
        al_free(bb);
        return AL_ENOMEM;
    }
    st = set_param(L, "weight", &wb, w->numel);
    if (!st && b) st = set_param(L, "bias", &bb, b->numel);
    al_free(wb);
    al_free(bb);
    if (st) return st;
    return define_layer_out(I, nd, od, 4, 0, &os, 1);
}

static al_status op_pool(imp *I, const Onnx__NodeProto *nd, int is_max) {
    static const char *const okmax[] = {"auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads",
                                        "storage_order", "strides", NULL};
    static const char *const okavg[] = {"auto_pad", "ceil_mode", "count_include_pad", "dilations", "kernel_shape",
                                        "pads", "strides", NULL};
    val *x, xp;
    al_status st;
    int64_t ceil, cip, so;
    if ((st = check_attrs(nd, is_max ? okmax : okavg)) || (st = get_current(I, nd, 1, &x)) ||
        (st = attr_int(nd, "ceil_mode", 0, &ceil)) || (st = attr_int(nd, "count_include_pad", 0, &cip)) ||
        (st = attr_int(nd, "storage_order", 0, &so)) || (st = extra_outputs_unused(I, nd)))
        return st;
    val xt;
    if ((st = exact_in(I, nd, &x, &xt, 4, "[N, C, H, W]"))) return st;
    if (is_max && x->pad) {
        /* a zero Pad before a MaxPool: the zeros take part in the maximum (the pool's own padding does
         * not), so a pad layer makes them; the pool reads its output */
        pend *L = NULL;
        if ((st = emit(I, nd, AL_L_PAD, &L))) return st;
        for (int q = 0; q < 4; q++) L->cfg.pads[q] = x->pad;
        xp = *x;
        xp.f = NULL;
        xp.i = NULL;
        xp.dims[2] += 2 * x->pad;
        xp.dims[3] += 2 * x->pad;
        xp.os.d[1] += 2 * x->pad;
        xp.os.d[2] += 2 * x->pad;
        xp.pad = 0;
        xp.fresh = 0;
        xp.node = I->nl - 1;
        x = &xp;
    }
    if (ceil != 0 && ceil != 1) return nerr(nd, AL_EFORMAT, "attribute 'ceil_mode' = %lld must be 0 or 1", (long long)ceil);
    if (so) return nerr(nd, AL_EUNSUPPORTED, "attribute 'storage_order' = %lld is not supported", (long long)so);
    int k, s, p, d, pads[4];
    if ((st = window_full(nd, 0, 1, x->os.d[1] + 2 * x->pad, x->os.d[2] + 2 * x->pad, &k, &s, pads, &d))) return st;
    if (d != 1) return nerr(nd, AL_EUNSUPPORTED, "attribute 'dilations' must be 1");
    int uneq = pads[0] != pads[1] || pads[0] != pads[2] || pads[0] != pads[3];
    if (uneq && ceil)
        return nerr(nd, AL_EUNSUPPORTED, "padding %d, %d, %d, %d (top, left, bottom, right): a pool in ceil mode must "
                    "pad the same on all four sides", pads[0], pads[1], pads[2], pads[3]);
    for (int q = 0; q < 4 && uneq && is_max; q++)
        if (pads[q] >= k)
            return nerr(nd, AL_EUNSUPPORTED, "padding %d, %d, %d, %d (top, left, bottom, right): a MaxPool's padding "
                        "must be less than its window %d", pads[0], pads[1], pads[2], pads[3], k);
    if (!is_max && (pads[0] || pads[1] || pads[2] || pads[3]) && !cip)
        return nerr(nd, AL_EUNSUPPORTED,
                    "attribute 'count_include_pad' = 0 with padding: our average pool counts the padding");
    if (uneq) { /* an average counting the padding: zeros from a pad layer count the same; a max: -inf never wins */
        int64_t od[4] = {x->dims[0], x->dims[1], 0, 0};
        int Hp = x->os.d[1] + pads[0] + pads[2] + 2 * x->pad, Wp = x->os.d[2] + pads[1] + pads[3] + 2 * x->pad;
        for (int q = 0; q < 4; q++) pads[q] += x->pad;
        if (Hp < k || Wp < k) return nerr(nd, AL_ESHAPE, "kernel %d is larger than the padded input", k);
        if ((st = pad_unequal(I, nd, pads, is_max ? -INFINITY : 0.0f, &p))) return st;
        if (2 * p > k) return nerr(nd, AL_EUNSUPPORTED, "padding %d is more than half the window %d", p, k);
        od[2] = (Hp - k) / s + 1;
        od[3] = (Wp - k) / s + 1;
        al_shape os = {3, {x->os.d[0], (int)od[2], (int)od[3]}};
        pend *L = NULL;
        if ((st = emit(I, nd, is_max ? AL_L_MAXPOOL : AL_L_AVGPOOL, &L))) return st;
        L->cfg.k = k;
        L->cfg.stride = s;
        L->cfg.pad = p;
        return define_layer_out(I, nd, od, 4, 0, &os, 0);
    }
    p = pads[0];
    p += x->pad;
    if (2 * p > k) return nerr(nd, AL_EUNSUPPORTED, "padding %d is more than half the window %d", p, k);
    int64_t od[4];
    al_shape os;
    if ((st = spatial_out(nd, x, 0, k, s, p, od, &os))) return st;
    if (ceil) { /* the pool's own rule (al_pool_out) */
        od[2] = os.d[1] = al_pool_out(x->os.d[1], k, s, p, 1);
        od[3] = os.d[2] = al_pool_out(x->os.d[2], k, s, p, 1);
    }
    pend *L = NULL;
    if ((st = emit(I, nd, is_max ? AL_L_MAXPOOL : AL_L_AVGPOOL, &L))) return st;
    L->cfg.k = k;
    L->cfg.stride = s;
    L->cfg.pad = p;
    L->cfg.ceil = (int)ceil;
    return define_layer_out(I, nd, od, 4, 0, &os, 0);
}

static al_status op_gap(imp *I, const Onnx__NodeProto *nd) {
    val *x;
    al_status st;
    pend *L = NULL;
    val xt;
    if ((st = check_attrs(nd, NULL)) || (st = get_current(I, nd, 0, &x)) || (st = exact_in(I, nd, &x, &xt, 4, "[N, C, H, W]"))) return st;
    if ((st = emit(I, nd, AL_L_GAP, &L))) return st;
    int64_t od[4] = {x->dims[0], x->dims[1], 1, 1};
    al_shape os = {1, {x->os.d[0], 0, 0}};
    return define_layer_out(I, nd, od, 4, 0, &os, 0);
}

/* ReduceMean over every axis past the channels, [N, C, H, W] or [N, C, L]
 * (how the torch.export-based exporter writes adaptive_avg_pool2d(x, 1) and
 * x.mean((2, 3), keepdim)): `gap`. keepdims 1 gives [N, C, 1, 1], 0 [N, C]. */
static al_status op_reducemean(imp *I, const Onnx__NodeProto *nd) {
    static const char *const ok18[] = {"keepdims", "noop_with_empty_axes", NULL};
    static const char *const ok[] = {"axes", "keepdims", NULL};
    val *x;
    al_status st;
    int64_t keep, noop, ax[MAXR];
    size_t nax = 0;
    if ((st = check_attrs(nd, I->opset >= 18 ? ok18 : ok)) || (st = get_current(I, nd, 0, &x)) ||
        (st = attr_int(nd, "keepdims", 1, &keep)) || (st = attr_int(nd, "noop_with_empty_axes", 0, &noop)))
        return st;
    if ((st = fuse_layernorm(I, nd, x)) != AL_EUNSUPPORTED) return st;
    if (I->opset >= 18) {
        val *a;
        if ((st = get_const(I, nd, 1, 0, 1, "axes", &a))) return st;
        if (a && a->numel > MAXR) return nerr(nd, AL_EUNSUPPORTED, "too many axes (%zu)", a->numel);
        for (size_t q = 0; a && q < a->numel; q++) ax[q] = a->i[q];
        nax = a ? a->numel : 0;
    } else {
        const int64_t *p;
        if ((st = attr_ints(nd, "axes", &p, &nax))) return st;
        if (nax > MAXR) return nerr(nd, AL_EUNSUPPORTED, "too many axes (%zu)", nax);
        for (size_t q = 0; q < nax; q++) ax[q] = p[q];
    }
    int r = x->ndim;
    if ((r != 3 && r != 4) || !exact(x, r)) return shape_err(nd, x, "[N, C, H, W] or [N, C, L]");
    if (keep != 0 && keep != 1) return nerr(nd, AL_EFORMAT, "attribute 'keepdims' = %lld", (long long)keep);
    unsigned mark = 0;
    for (size_t q = 0; q < nax; q++) {
        int64_t a = ax[q] < 0 ? ax[q] + r : ax[q];
        if (a < 0 || a >= r || (mark >> a & 1u))
            return nerr(nd, AL_EFORMAT, "axis %lld is out of range or repeated", (long long)ax[q]);
        mark |= 1u << a;
    }
    unsigned want = r == 4 ? 0xcu : 0x4u; /* axes 2..r-1 */
    if (nax == 0 && noop) return nerr(nd, AL_EUNSUPPORTED, "an empty 'axes' with noop_with_empty_axes = 1 (an identity) is not supported");
    if (mark != want)
        return nerr(nd, AL_EUNSUPPORTED, "only the mean over the axes past the channels (%s, a global average pool) is supported",
                    r == 4 ? "2 and 3" : "2");
    pend *L = NULL;
    if ((st = emit(I, nd, AL_L_GAP, &L))) return st;
    int64_t od[4] = {x->dims[0], x->dims[1], 1, 1};
    al_shape os = {1, {x->os.d[0], 0, 0}};
    return define_layer_out(I, nd, od, keep ? r : 2, 0, &os, 0);
}

static al_status op_act(imp *I, const Onnx__NodeProto *nd, al_layer_type type);

/* HardSigmoid: PyTorch's relu6(x + 3) / 6, i.e. ONNX's alpha = 1/6, beta = 1/2. */
static al_status op_hardsigmoid(imp *I, const Onnx__NodeProto *nd) {
    static const char *const ok[] = {"alpha", "beta", NULL};
    float alpha, beta;
    al_status st;
    if ((st = check_attrs(nd, ok)) || (st = attr_float(nd, "alpha", 0.2f, &alpha)) ||
        (st = attr_float(nd, "beta", 0.5f, &beta)))
        return st;
    if (fabsf(alpha - 1.0f / 6.0f) > 1e-6f || beta != 0.5f)
        return nerr(nd, AL_EUNSUPPORTED, "alpha = %g, beta = %g: only PyTorch's hardsigmoid (alpha 1/6, beta 0.5) is supported",
                    (double)alpha, (double)beta);
    return op_act(I, nd, AL_L_HARDSIGMOID);
}

/* Relu, Sigmoid, Tanh, HardSwish, HardSigmoid (checked by op_hardsigmoid)
 * and Clip (ReLU6). */
static const char *const hsig_attrs[] = {"alpha", "beta", NULL};
static al_status op_act(imp *I, const Onnx__NodeProto *nd, al_layer_type type) {
    val *x;
    al_status st;
    pend *L = NULL;
    if ((st = check_attrs(nd, type == AL_L_HARDSIGMOID ? hsig_attrs : NULL)) || (st = get_current(I, nd, 0, &x)))
        return st;
    if ((st = emit(I, nd, type, &L))) return st;
    return define_same(I, nd, x);
}

static al_status op_clip(imp *I, const Onnx__NodeProto *nd) {
    static const char *const ok[] = {"min", "max", NULL};
    al_status st;
    float lo = -INFINITY, hi = INFINITY;
    if ((st = check_attrs(nd, ok))) return st;
    if (I->opset < 11) {
        if ((st = attr_float(nd, "min", -INFINITY, &lo)) || (st = attr_float(nd, "max", INFINITY, &hi))) return st;
        /* attr_float refuses non-finite values; the defaults stand for "none" */
        if (!attr(nd, "min")) lo = -INFINITY;
        if (!attr(nd, "max")) hi = INFINITY;
    } else {
        if (nd->n_attribute) return nerr(nd, AL_EUNSUPPORTED, "attribute '%.60s' is not supported (opset >= 11 takes min and max as inputs)", nm(nd->attribute[0]->name));
        val *a, *b;
        if ((st = get_const(I, nd, 1, 0, 0, "min", &a)) || (st = get_const(I, nd, 2, 0, 0, "max", &b))) return st;
        if ((a && a->numel != 1) || (b && b->numel != 1)) return nerr(nd, AL_EUNSUPPORTED, "min and max must be scalars");
        if (a) lo = a->f[0];
        if (b) hi = b->f[0];
    }
    if (lo == 0.0f && hi == 6.0f) return op_act(I, nd, AL_L_RELU6);
    if (lo == 0.0f && isinf(hi) && hi > 0) return op_act(I, nd, AL_L_RELU);
    if (!(lo <= hi) || isnan(lo) || isnan(hi))
        return nerr(nd, AL_EUNSUPPORTED, "min = %g, max = %g: min must not exceed max", (double)lo, (double)hi);
    /* any other bounds (torch.clamp_min, clamp): a clip layer */
    val *x;
    pend *L = NULL;
    if ((st = get_current(I, nd, 0, &x)) || (st = emit(I, nd, AL_L_CLIP, &L))) return st;
    L->cfg.lo = lo;
    L->cfg.hi = hi;
    return define_same(I, nd, x);
}

static al_status op_batchnorm(imp *I, const Onnx__NodeProto *nd) {
    static const char *const ok[] = {"epsilon", "momentum", "training_mode", "spatial", "is_test", NULL};
    val *x, *sc, *bi, *mu, *var;
    al_status st;
    float eps, mom;
    int64_t tm, sp;
    if ((st = check_attrs(nd, ok)) || (st = get_current(I, nd, 0, &x)) ||
        (st = get_const(I, nd, 1, 1, 0, "scale", &sc)) || (st = get_const(I, nd, 2, 1, 0, "B", &bi)) ||
        (st = get_const(I, nd, 3, 1, 0, "mean", &mu)) || (st = get_const(I, nd, 4, 1, 0, "var", &var)) ||
        (st = attr_float(nd, "epsilon", 1e-5f, &eps)) || (st = attr_float(nd, "momentum", 0.9f, &mom)) ||
        (st = attr_int(nd, "training_mode", 0, &tm)) || (st = attr_int(nd, "spatial", 1, &sp)) ||
        (st = extra_outputs_unused(I, nd)))
        return st;
    if (tm) return nerr(nd, AL_EUNSUPPORTED, "attribute 'training_mode' = 1: export the model in eval mode");
    if (sp != 1) return nerr(nd, AL_EUNSUPPORTED, "attribute 'spatial' = %lld is not supported", (long long)sp);
    if (x->ndim < 2 || !exact(x, x->ndim)) return shape_err(nd, x, "[N, C, ...]");
    size_t C = (size_t)x->os.d[0];
    if (sc->numel != C || bi->numel != C || mu->numel != C || var->numel != C)
        return nerr(nd, AL_EFORMAT, "scale, B, mean and var must have %zu values (the channels)", C);
    if (!(eps > 0.0f && eps <= 1.0f)) return nerr(nd, AL_EUNSUPPORTED, "attribute 'epsilon' = %g is outside (0, 1]", (double)eps);
    pend *L = NULL;
    if ((st = emit(I, nd, AL_L_BATCHNORM, &L))) return st;
    L->cfg.eps = eps;
    /* ONNX: running = momentum * running + (1 - momentum) * batch; PyTorch's
     * (and ours) weighs the batch by momentum */
    L->cfg.momentum = mom > 0.0f && mom < 1.0f ? 1.0f - mom : 0.0f;
    const val *src[4] = {sc, bi, mu, var};
    static const char *const names[4] = {"weight", "bias", "running_mean", "running_var"};
    for (int q = 0; q < 4; q++) {
        float *b = copy_floats(src[q]->f, C);
        if (!b) return AL_ENOMEM;
        if ((st = set_param(L, names[q], &b, C))) {
            al_free(b);
            return st;
        }
    }
    return define_same(I, nd, x);
}

/* Dense from x [.., K] with weight w [M, K] (transposed when wt: [K, M]),
 * scaled by alpha. */
static al_status emit_dense(imp *I, const Onnx__NodeProto *nd, const val *x, const val *w, int wt, float alpha,
                            pend **out) {
    int K = x->os.d[x->os.ndim - 1];
    if (w->ndim != 2) return nerr(nd, AL_EUNSUPPORTED, "the weight matrix must be 2-D, got %d dimensions", w->ndim);
    int64_t wk = wt ? w->dims[0] : w->dims[1], wm = wt ? w->dims[1] : w->dims[0];
    if (wk != K || wm < 1 || wm > MAX_DIM)
        return nerr(nd, AL_ESHAPE, "the weight matrix is %lldx%lld, the input has %d features",
                    (long long)w->dims[0], (long long)w->dims[1], K);
    int M = (int)wm;
    pend *L = NULL;
    al_status st = emit(I, nd, AL_L_DENSE, &L);
    if (st) return st;
    L->cfg.units = M;
    float *wb = al_malloc((size_t)M * (size_t)K * sizeof(float));
    if (!wb) return AL_ENOMEM;
    for (int m = 0; m < M; m++)
        for (int k = 0; k < K; k++)
            wb[(size_t)m * K + k] = alpha * (wt ? w->f[(size_t)k * M + m] : w->f[(size_t)m * K + k]);
    if ((st = set_param(L, "weight", &wb, (size_t)M * K))) {
        al_free(wb);
        return st;
    }
    *out = L;
    return AL_OK;
}

static al_status op_gemm(imp *I, const Onnx__NodeProto *nd) {
    static const char *const ok[] = {"alpha", "beta", "transA", "transB", NULL};
    val *x, *w, *c;
    al_status st;
    float alpha, beta;
    int64_t ta, tb;
    if ((st = check_attrs(nd, ok)) || (st = get_current(I, nd, 0, &x)) ||
        (st = get_const(I, nd, 1, 1, 0, "B", &w)) || (st = get_const(I, nd, 2, 0, 0, "C", &c)) ||
        (st = attr_float(nd, "alpha", 1.0f, &alpha)) || (st = attr_float(nd, "beta", 1.0f, &beta)) ||
        (st = attr_int(nd, "transA", 0, &ta)) || (st = attr_int(nd, "transB", 0, &tb)))
        return st;
    if (ta) return nerr(nd, AL_EUNSUPPORTED, "attribute 'transA' = %lld is not supported", (long long)ta);
    /* [T*N, E] with the batch fused into axis 0 (attention's output
     * projection): a dense on the last per-sample axis */
    int fusedin = x->ndim == 2 && x->bax == 0 && x->bpart > 1;
    val xt;
    if (!fusedin && (st = exact_in(I, nd, &x, &xt, 2, "[N, K] (a Flatten first)"))) return st;
    val xl = *x;
    if (fusedin) {
        int node;
        if ((st = want_logical(I, nd, x, &node, &xl.os))) return st;
        xl.node = node;
        xl.port = I->read_port;
    }
    pend *L = NULL;
    if ((st = emit_dense(I, nd, &xl, w, tb == 0, alpha, &L))) return st;
    int M = L->cfg.units;
    if (c) {
        /* C broadcasts to [N, M]: [M], [1, M] or a scalar */
        int okc = c->numel == 1 || (c->numel == (size_t)M && c->dims[c->ndim - 1] == M);
        if (!okc) return nerr(nd, AL_EUNSUPPORTED, "input C must be a bias of %d values (or a scalar)", M);
        float *b = al_malloc((size_t)M * sizeof(float));
        if (!b) return AL_ENOMEM;
        for (int m = 0; m < M; m++) b[m] = beta * c->f[c->numel == 1 ? 0 : m];
        L->cfg.bias = 1;
        if ((st = set_param(L, "bias", &b, (size_t)M))) {
            al_free(b);
            return st;
        }
    }
    int64_t od[2] = {x->dims[0], M};
    if (fusedin) {
        al_shape os = xl.os;
        os.d[os.ndim - 1] = M;
        st = define_like(I, nd, x, od, 2, &os);
        if (!st) I->v[I->nv - 1].fresh = c == NULL;
        return st;
    }
    al_shape os = {1, {M, 0, 0}};
    return define_layer_out(I, nd, od, 2, 0, &os, c == NULL);
}

/* MatMul of two layer outputs (attention's scores and weighted values):
 * the batch leading both, [N, ..., M, K] x [N, ..., K, P], becomes matmul
 * over the per-sample shapes; so does [N*h, M, K] x [N*h, K, P] with the
 * heads fused with the batch the same way in both (per sample [h, M, K]). */
static al_status matmul_layers(imp *I, const Onnx__NodeProto *nd, val *a, val *b) {
    int r = a->ndim;
    int fused_ok = a->bpart == b->bpart || (a->bpart <= 1 && b->bpart <= 1);
    if (fused_ok && a->bpart > 1) fused_ok = a->bouter == b->bouter;
    if (b->ndim != r || r < 3 || a->bax != 0 || b->bax != 0 || !fused_ok)
        return nerr(nd, AL_EUNSUPPORTED, "a MatMul of two layer outputs needs the batch on axis 0 of both and the same rank (>= 3)");
    if (a->dims[r - 1] != b->dims[r - 2])
        return nerr(nd, AL_ESHAPE, "MatMul: %lld columns against %lld rows", (long long)a->dims[r - 1], (long long)b->dims[r - 2]);
    al_status st;
    int na, nb, nbp;
    al_shape as, bs;
    if ((st = want_logical(I, nd, b, &nb, &bs))) return st;
    nbp = I->read_port;
    if ((st = want_logical(I, nd, a, &na, &as))) return st; /* sets what the matmul reads: a */
    pend *L = NULL;
    if ((st = emit(I, nd, AL_L_MATMUL, &L))) return st;
    L->cfg.src = nb;
    L->cfg.src_port = nbp;
    int64_t od[MAXR];
    for (int d = 0; d < r; d++) od[d] = a->dims[d] >= b->dims[d] ? a->dims[d] : b->dims[d];
    od[r - 2] = a->dims[r - 2];
    od[r - 1] = b->dims[r - 1];
    val t = *a;
    if (t.bpart <= 1) t.bpart = 0;
    al_shape os = as;
    for (int d = 0; d + 2 < os.ndim; d++) os.d[d] = as.d[d] >= bs.d[d] ? as.d[d] : bs.d[d];
    os.d[os.ndim - 1] = bs.d[bs.ndim - 1];
    return define_like(I, nd, &t, od, r, &os);
}

static al_status op_matmul(imp *I, const Onnx__NodeProto *nd) {
    val *x, *w;
    al_status st;
    if ((st = check_attrs(nd, NULL))) return st;
    val *a, *b;
    if ((st = get_in(I, nd, 0, 1, &a)) || (st = get_in(I, nd, 1, 1, &b))) return st;
    if (a->kind == V_RUN && b->kind == V_RUN) return matmul_layers(I, nd, a, b);
    if ((st = get_current(I, nd, 0, &x)) || (st = get_const(I, nd, 1, 1, 0, "B (weights)", &w))) return st;
    int r = x->ndim;
    if (r < 2 || x->bax == r - 1 || x->os.ndim < 1 || x->dims[r - 1] != x->os.d[x->os.ndim - 1])
        return shape_err(nd, x, "features on the last axis");
    pend *L = NULL;
    if ((st = emit_dense(I, nd, x, w, 1, 1.0f, &L))) return st;
    int64_t od[MAXR];
    memcpy(od, x->dims, sizeof od);
    od[r - 1] = L->cfg.units;
    al_shape os = x->os;
    os.d[os.ndim - 1] = L->cfg.units;
    st = define_like(I, nd, x, od, r, &os);
    if (!st) I->v[I->nv - 1].fresh = 1;
    return st;
}

/* x + c where x is straight out of a dense/conv and c broadcasts along its
 * channel axis only: c becomes (part of) that layer's bias. */
static al_status fold_bias(imp *I, const Onnx__NodeProto *nd, val *x, const val *c) {
    pend *L = &I->L[I->nl - 1];
    int chan = L->cfg.type == AL_L_DENSE ? x->ndim - 1 : 1;
    int64_t nch = x->dims[chan];
    int okc = c->ndim <= x->ndim && (c->numel == 1 || c->numel == (size_t)nch);
    for (int d = 0; okc && d < c->ndim; d++) {
        int xd = x->ndim - c->ndim + d;
        okc = c->dims[d] == 1 || (xd == chan && c->dims[d] == nch);
    }
    if (!okc) return nerr(nd, AL_EUNSUPPORTED, "an Add of a constant is only supported as a per-channel bias after MatMul, Gemm or Conv");
    size_t n = 0;
    float *b = param(L, "bias", &n);
    if (!b) {
        al_status st = set_param(L, "bias", NULL, (size_t)nch);
        if (st) return st;
        L->cfg.bias = 1;
        b = param(L, "bias", &n);
    }
    for (size_t q = 0; q < n; q++) b[q] += c->f[c->numel == 1 ? 0 : q];
    val t = *x;
    t.f = NULL;
    t.i = NULL;
    al_status st = define(I, nd, nd->output[0], &t);
    if (!st) I->v[I->nv - 1].fresh = 1;
    return st;
}

/* 1 when constant c has x's per-sample shape, with or without a leading 1
 * for the batch (a ViT's position embedding, [1, T, D] added to [N, T, D]). */
static int full_shape_const(const val *x, const val *c) {
    if (x->kind != V_RUN || x->bax != 0 || x->bpart > 1 || c->ndim < x->ndim - 1 || c->ndim > x->ndim) return 0;
    int off = x->ndim - c->ndim;
    if (off == 0 && c->dims[0] != 1) return 0;
    int some = 0;
    for (int d = 1; d < x->ndim; d++) {
        if (c->dims[d - off] != x->dims[d]) return 0;
        some |= x->dims[d] > 1;
    }
    return some && x->ndim >= 2;
}

/* Add of such a constant: an addp layer holding it as its learned weight. */
static al_status addp_layer(imp *I, const Onnx__NodeProto *nd, const val *x, const val *c) {
    int node;
    al_shape os;
    al_status st = want_logical(I, nd, x, &node, &os);
    if (st) return st;
    float *w = copy_floats(c->f, c->numel);
    if (!w) return AL_ENOMEM;
    pend *L = NULL;
    if ((st = emit(I, nd, AL_L_ADDP, &L)) || (st = set_param(L, "weight", &w, c->numel))) {
        al_free(w);
        return st;
    }
    return define_layer_out(I, nd, x->dims, x->ndim, 0, &os, 0);
}

static al_status op_add(imp *I, const Onnx__NodeProto *nd) {
    val *a, *b;
    al_status st;
    if ((st = check_attrs(nd, NULL)) || (st = get_in(I, nd, 0, 1, &a)) || (st = get_in(I, nd, 1, 1, &b))) return st;
    if (nd->n_input != 2) return nerr(nd, AL_EFORMAT, "Add takes 2 inputs, has %zu", nd->n_input);
    if (a->kind == V_CONST && b->kind == V_CONST) return fold_binary(I, nd, a, b, '+');
    if (a->kind == V_CONST || b->kind == V_CONST) {
        val *x = a->kind == V_RUN ? a : b, *c = a->kind == V_RUN ? b : a;
        if (c->is_int || c->fill) return nerr(nd, AL_EUNSUPPORTED, "the constant operand must be float");
        if (!(x->node == I->nl - 1 && x->fresh) && full_shape_const(x, c)) return addp_layer(I, nd, x, c);
        if (x->node != I->nl - 1 || !x->fresh || x->pad || uses(I, x->name) != 1)
            return nerr(nd, AL_EUNSUPPORTED,
                        "an Add of a constant is only supported as the bias of the MatMul, Gemm or Conv right before it");
        return fold_bias(I, nd, x, c);
    }
    /* a residual: the add reads the later operand and adds the earlier one */
    val *cur = a->node >= b->node ? a : b, *side = cur == a ? b : a;
    if (cur->pad || side->pad || cur->softmax || side->softmax) return nerr(nd, AL_EUNSUPPORTED, "operands must not be padded or softmaxed");
    int same = a->ndim == b->ndim && a->bax == b->bax && a->os.ndim == b->os.ndim;
    for (int d = 0; same && d < a->ndim; d++) same = d == a->bax || a->dims[d] == b->dims[d];
    for (int d = 0; same && d < a->os.ndim; d++) same = a->os.d[d] == b->os.d[d];
    if (!same) return nerr(nd, AL_EUNSUPPORTED, "the operands' shapes differ (broadcasting is not supported)");
    pend *L = NULL;
    read_val(I, cur);
    if ((st = emit(I, nd, AL_L_ADD, &L))) return st;
    L->cfg.src = side->node;
    L->cfg.src_port = side->port;
    return define_same(I, nd, cur);
}

/* The element buffer of constant t (t->numel int64 or float values by
 * t->is_int). */
static al_status const_alloc(val *t) {
    size_t n = t->numel ? t->numel : 1;
    if (t->is_int) t->i = al_malloc(n * sizeof(int64_t));
    else t->f = al_malloc(n * sizeof(float));
    return (t->is_int ? (void *)t->i : (void *)t->f) ? AL_OK : AL_ENOMEM;
}

/* Fills constant t (its type, dims and numel set) from constant x: element
 * idx of t (row-major over t's dims) is x's element
 * sum_d (b[d] + idx[d] * step[d]) * xs[d] (b NULL: 0; step NULL: 1) -- a
 * broadcast (xs[d] = 0 along a copied axis) or a strided slice. */
static al_status const_gather(val *t, const val *x, const int64_t *b, const int64_t *step, const int64_t *xs) {
    if (const_alloc(t)) return AL_ENOMEM;
    int r = t->ndim;
    int64_t idx[MAXR] = {0};
    for (size_t q = 0; q < t->numel; q++) {
        int64_t src = 0;
        for (int d = 0; d < r; d++) src += ((b ? b[d] : 0) + idx[d] * (step ? step[d] : 1)) * xs[d];
        if (t->is_int)
            t->i[q] = x->i[src];
        else
            t->f[q] = x->f[src];
        for (int d = r - 1; d >= 0; d--) {
            if (++idx[d] < t->dims[d]) break;
            idx[d] = 0;
        }
    }
    return AL_OK;
}

/* Arithmetic on constants (shape computations, attention's scale): a op b
 * element-wise, b one number or the same shape as a; op one of + - * / %
 * M m (Max, Min; M m are also the variadic Max and Min folded in pairs) (Mod: integers, the divisor's sign, as ONNX's fmod 0 and Python). The
 * batch size symbol takes no part. */
static al_status fold_binary(imp *I, const Onnx__NodeProto *nd, const val *a, const val *b, char op) {
    if (a->fill || b->fill) return nerr(nd, AL_EUNSUPPORTED, "the operands depend on the batch size");
    if (a->is_int != b->is_int) return nerr(nd, AL_EUNSUPPORTED, "the operands differ in type");
    if (!a->numel || !b->numel) return nerr(nd, AL_EUNSUPPORTED, "an empty constant operand");
    const val *big = a->numel >= b->numel ? a : b;
    if (!(a->numel == b->numel || a->numel == 1 || b->numel == 1))
        return nerr(nd, AL_EUNSUPPORTED, "constant operands of %zu and %zu elements do not broadcast", a->numel, b->numel);
    val t;
    memset(&t, 0, sizeof t);
    t.kind = V_CONST;
    t.is_int = a->is_int;
    t.ndim = big->ndim;
    memcpy(t.dims, big->dims, sizeof t.dims);
    t.numel = big->numel;
    if (const_alloc(&t)) return AL_ENOMEM;
    for (size_t q = 0; q < t.numel; q++) {
        size_t qa = a->numel == 1 ? 0 : q, qb = b->numel == 1 ? 0 : q;
        if (t.is_int) {
            int64_t x = a->i[qa], y = b->i[qb], z;
            int64_t fx = batch_factor(x), fy = batch_factor(y);
            if (fx || fy) { /* the batch times k, times or divided by a number */
                int64_t f = fx ? fx : fy, o = fx ? y : x, k = 0;
                if (op == '*' && !(fx && fy) && o >= 1 && o <= MAX_DIM && f * o <= MAX_DIM) k = f * o;
                if (op == '/' && fx && !fy && o >= 1 && f % o == 0) k = f / o;
                if (!k) {
                    val_free(&t);
                    return nerr(nd, AL_EUNSUPPORTED, "only the batch size times a number (or divided by a factor of "
                                                     "that number) is supported in shape arithmetic");
                }
                t.i[q] = k == 1 ? BATCH : BATCH_MUL(k);
                continue;
            }
            if (x == BATCH || y == BATCH || x < -MAX_DIM * MAX_DIM || x > MAX_DIM * MAX_DIM || y < -MAX_DIM * MAX_DIM ||
                y > MAX_DIM * MAX_DIM) {
                val_free(&t);
                return nerr(nd, AL_EUNSUPPORTED, "an operand is the batch size or too large");
            }
            if ((op == '/' || op == '%') && y == 0) {
                val_free(&t);
                return nerr(nd, AL_EFORMAT, "division by zero");
            }
            /* |x|, |y| <= MAX_DIM^2 = 2^48: a sum fits, a product may not */
            if (op == '*' && x != 0 && (y < 0 ? -y : y) > INT64_MAX / (x < 0 ? -x : x)) {
                val_free(&t);
                return nerr(nd, AL_EUNSUPPORTED, "a product in shape arithmetic overflows 64 bits");
            }
            switch (op) {
            case '+': z = x + y; break;
            case '-': z = x - y; break;
            case '*': z = x * y; break;
            case '/': z = x / y; break;
            case 'M': z = x > y ? x : y; break;
            case 'm': z = x < y ? x : y; break;
            default: z = x % y; if (z != 0 && ((z < 0) != (y < 0))) z += y; break;
            }
            t.i[q] = z;
        } else {
            float x = a->f[qa], y = b->f[qb];
            t.f[q] = op == '+' ? x + y : op == '-' ? x - y : op == '*' ? x * y : op == '/' ? x / y
                   : op == 'M' ? fmaxf(x, y) : op == 'm' ? fminf(x, y) : fmodf(x, y);
        }
    }
    return define(I, nd, nd->output[0], &t);
}

/* Cast and Sqrt of constants. */
static al_status op_cast(imp *I, const Onnx__NodeProto *nd, int is_sqrt) {
    static const char *const okc[] = {"to", "saturate", NULL};
    val *a;
    al_status st;
    int64_t to = 1;
    if ((st = check_attrs(nd, is_sqrt ? NULL : okc)) || (st = get_in(I, nd, 0, 1, &a))) return st;
    if (!is_sqrt && (st = attr_int(nd, "to", 1, &to))) return st;
    if (a->kind != V_CONST || a->fill)
        return nerr(nd, AL_EUNSUPPORTED, "only constants (shape and scale computations) are supported");
    /* ONNX types: 1 float, 6 int32, 7 int64, 11 double (held as float) */
    int to_int = is_sqrt ? 0 : (to == 6 || to == 7) ? 1 : (to == 1 || to == 11) ? 0 : -1;
    if (to_int < 0) return nerr(nd, AL_EUNSUPPORTED, "Cast to type %lld is not supported", (long long)to);
    if (is_sqrt && a->is_int) return nerr(nd, AL_EUNSUPPORTED, "Sqrt of integers");
    val t = *a;
    t.name = NULL;
    t.i = NULL;
    t.f = NULL;
    t.is_int = to_int;
    if (const_alloc(&t)) return AL_ENOMEM;
    for (size_t q = 0; q < t.numel; q++) {
        if (a->is_int && a->i[q] == BATCH) {
            val_free(&t);
            return nerr(nd, AL_EUNSUPPORTED, "the operand is the batch size");
        }
        double v = a->is_int ? (double)a->i[q] : (double)a->f[q];
        if (is_sqrt) v = sqrt(v);
        if (to_int) {
            if (!(v > -9.0e18 && v < 9.0e18)) {
                val_free(&t);
                return nerr(nd, AL_ERANGE, "a value does not fit an integer");
            }
            t.i[q] = (int64_t)v;
        } else {
            t.f[q] = (float)v;
        }
    }
    return define(I, nd, nd->output[0], &t);
}

/* Range of constants (torch.arange in shape computations): start, start +
 * delta, ... below limit (above it for a negative delta), at most 2^24. */
static al_status op_range(imp *I, const Onnx__NodeProto *nd) {
    val *a[3];
    al_status st;
    if ((st = check_attrs(nd, NULL))) return st;
    for (int q = 0; q < 3; q++) {
        if ((st = get_in(I, nd, (size_t)q, 1, &a[q]))) return st;
        if (a[q]->kind != V_CONST || a[q]->fill || a[q]->numel != 1 || a[q]->is_int != a[0]->is_int)
            return nerr(nd, AL_EUNSUPPORTED, "start, limit and delta must be constant numbers of one type");
        if (a[q]->is_int && a[q]->i[0] == BATCH) return nerr(nd, AL_EUNSUPPORTED, "an operand is the batch size");
    }
    double s = a[0]->is_int ? (double)a[0]->i[0] : a[0]->f[0], l = a[1]->is_int ? (double)a[1]->i[0] : a[1]->f[0],
           d = a[2]->is_int ? (double)a[2]->i[0] : a[2]->f[0];
    if (!(d != 0.0) || !isfinite(s) || !isfinite(l) || !isfinite(d)) return nerr(nd, AL_EFORMAT, "delta must be a finite non-zero number");
    double cnt = ceil((l - s) / d);
    if (cnt < 0) cnt = 0;
    if (a[0]->is_int) { /* exactly: doubles round integers past 2^53, and start + k * delta could pass 2^63 */
        int64_t is = a[0]->i[0], il = a[1]->i[0], id = a[2]->i[0]; /* id != 0, and not INT64_MIN (BATCH) */
        uint64_t span = id > 0 ? (il > is ? (uint64_t)il - (uint64_t)is : 0) : (is > il ? (uint64_t)is - (uint64_t)il : 0);
        uint64_t step = id > 0 ? (uint64_t)id : (uint64_t)-id;
        uint64_t c = span / step + (span % step != 0);
        cnt = c > (uint64_t)MAX_DIM ? (double)MAX_DIM + 1 : (double)c;
    }
    if (cnt > (double)MAX_DIM) return nerr(nd, AL_ERANGE, "the range has more than %lld elements", (long long)MAX_DIM);
    val t;
    memset(&t, 0, sizeof t);
    t.kind = V_CONST;
    t.is_int = a[0]->is_int;
    t.ndim = 1;
    t.numel = (size_t)cnt;
    t.dims[0] = (int64_t)cnt;
    if (const_alloc(&t)) return AL_ENOMEM;
    int64_t iv = t.is_int ? a[0]->i[0] : 0;
    for (size_t q = 0; q < t.numel; q++) {
        if (t.is_int) {
            t.i[q] = iv;
            if (q + 1 < t.numel) iv += a[2]->i[0]; /* the next element: inside [start, limit), so no overflow */
        } else {
            t.f[q] = (float)(s + (double)q * d);
        }
    }
    return define(I, nd, nd->output[0], &t);
}

/* Equal and Where of constants (torch's expand(-1) handling: where the
 * target is -1, keep the input's size). The batch size symbol equals only
 * itself. */
static al_status op_equal_where(imp *I, const Onnx__NodeProto *nd, int where) {
    val *a, *b, *c = NULL;
    al_status st;
    if ((st = check_attrs(nd, NULL)) || (st = get_in(I, nd, 0, 1, &a)) || (st = get_in(I, nd, 1, 1, &b)) ||
        (where && (st = get_in(I, nd, 2, 1, &c))))
        return st;
    const val *v[3] = {a, b, c};
    size_t n = 1;
    const val *big = a;
    for (int q = 0; q < (where ? 3 : 2); q++) {
        if (v[q]->kind != V_CONST || v[q]->fill) return nerr(nd, AL_EUNSUPPORTED, "only constants are supported (shape computations)");
        if (v[q]->numel > n) {
            n = v[q]->numel;
            big = v[q];
        }
    }
    for (int q = 0; q < (where ? 3 : 2); q++)
        if (v[q]->numel != 1 && v[q]->numel != n) return nerr(nd, AL_EUNSUPPORTED, "the operands do not broadcast");
    if (!where && a->is_int != b->is_int) return nerr(nd, AL_EUNSUPPORTED, "the operands differ in type");
    if (where && (!a->is_int || b->is_int != c->is_int)) return nerr(nd, AL_EUNSUPPORTED, "Where: condition or operand types");
    val t;
    memset(&t, 0, sizeof t);
    t.kind = V_CONST;
    t.is_int = where ? b->is_int : 1;
    t.ndim = big->ndim;
    memcpy(t.dims, big->dims, sizeof t.dims);
    t.numel = n;
    if (const_alloc(&t)) return AL_ENOMEM;
    for (size_t q = 0; q < n; q++) {
        size_t qa = a->numel == 1 ? 0 : q, qb = b->numel == 1 ? 0 : q;
        if (!where) {
            t.i[q] = a->is_int ? a->i[qa] == b->i[qb] : a->f[qa] == b->f[qb];
        } else {
            size_t qc = c->numel == 1 ? 0 : q;
            int pick = a->i[qa] != 0;
            if (t.is_int)
                t.i[q] = pick ? b->i[qb] : c->i[qc];
            else
                t.f[q] = pick ? b->f[qb] : c->f[qc];
        }
    }
    return define(I, nd, nd->output[0], &t);
}

static al_status op_arith(imp *I, const Onnx__NodeProto *nd, char op) {
    static const char *const okm[] = {"fmod", NULL};
    val *a, *b;
    al_status st;
    if ((st = check_attrs(nd, op == '%' ? okm : NULL)) || (st = get_in(I, nd, 0, 1, &a)) || (st = get_in(I, nd, 1, 1, &b)))
        return st;
    if (op == '%') {
        int64_t fm;
        if ((st = attr_int(nd, "fmod", 0, &fm))) return st;
        if (fm) return nerr(nd, AL_EUNSUPPORTED, "attribute 'fmod' = 1 is not supported");
    }
    if (a->kind == V_CONST && b->kind == V_CONST) return fold_binary(I, nd, a, b, op);
    return nerr(nd, AL_EUNSUPPORTED, "only constants are supported (shape computations)");
}

/* LayerNormalization over the last axis, scale and bias constant. */
static al_status op_layernorm(imp *I, const Onnx__NodeProto *nd) {
    static const char *const ok[] = {"axis", "epsilon", "stash_type", NULL};
    val *x, *w, *b;
    al_status st;
    int64_t axis;
    float eps;
    if ((st = check_attrs(nd, ok)) || (st = get_in(I, nd, 0, 1, &x)) || (st = get_const(I, nd, 1, 1, 0, "Scale", &w)) ||
        (st = get_const(I, nd, 2, 0, 0, "B", &b)) || (st = attr_int(nd, "axis", -1, &axis)) ||
        (st = attr_float(nd, "epsilon", 1e-5f, &eps)) || (st = extra_outputs_unused(I, nd)))
        return st;
    if (x->kind != V_RUN) return nerr(nd, AL_EUNSUPPORTED, "the input must be a layer output");
    if (axis < 0) axis += x->ndim;
    if (axis != x->ndim - 1 || ps_axis(x, (int)axis) < 0)
        return nerr(nd, AL_EUNSUPPORTED, "attribute 'axis' = %lld: only the last axis (not the batch) is supported", (long long)axis);
    int64_t D = x->dims[axis];
    if (w->numel != (size_t)D || (b && b->numel != (size_t)D))
        return nerr(nd, AL_ESHAPE, "Scale and B must hold %lld values", (long long)D);
    if (!(eps > 0.0f && eps <= 1.0f)) return nerr(nd, AL_EUNSUPPORTED, "attribute 'epsilon' = %g is outside (0, 1]", (double)eps);
    return layernorm_layer(I, nd, x, w, b, eps);
}

/* A layernorm layer over x's last axis (D values) with weight w and bias b
 * (NULL: zeros), named after nd. */
static al_status layernorm_layer(imp *I, const Onnx__NodeProto *nd, const val *x, const val *w, const val *b,
                                 float eps) {
    int node;
    al_shape os;
    int64_t D = x->dims[x->ndim - 1];
    al_status st = want_logical(I, nd, x, &node, &os);
    if (st) return st;
    pend *L = NULL;
    if ((st = emit(I, nd, AL_L_LAYERNORM, &L))) return st;
    L->cfg.eps = eps;
    float *wb = copy_floats(w->f, w->numel), *bb = b ? copy_floats(b->f, b->numel) : NULL;
    if (!wb || (b && !bb)) {
        al_free(wb);
        al_free(bb);
        return AL_ENOMEM;
    }
    st = set_param(L, "weight", &wb, w->numel);
    if (!st) st = set_param(L, "bias", b ? &bb : NULL, (size_t)D);
    al_free(wb);
    al_free(bb);
    if (st) return st;
    return define_like(I, nd, x, x->dims, x->ndim, &os);
}

/* x times a number (attention's 1/sqrt(d), or its square root on each of
 * Q and K): a scale layer. */
static al_status scale_layer(imp *I, const Onnx__NodeProto *nd, val *x, float alpha) {
    if (x->pad || x->softmax) return nerr(nd, AL_EUNSUPPORTED, "it scales a padded or softmaxed tensor");
    if (!isfinite(alpha)) return nerr(nd, AL_EUNSUPPORTED, "the constant factor is not finite");
    pend *L = NULL;
    read_val(I, x);
    al_status st = emit(I, nd, AL_L_SCALE, &L);
    if (st) return st;
    L->cfg.alpha = alpha;
    return define_like(I, nd, x, x->dims, x->ndim, &x->os);
}

/* Sum and Mean of layer outputs of one shape (no broadcasting): one `sum`
 * layer reading all n inputs (input 0 as its primary input), and for Mean
 * a scale by 1/n after it. */
static al_status op_sum(imp *I, const Onnx__NodeProto *nd, int mean) {
    al_status st;
    val *a0;
    if ((st = check_attrs(nd, NULL)) || (st = get_in(I, nd, 0, 1, &a0))) return st;
    if (nd->n_input < 1 || nd->n_input > AL_MAX_SRCS + 1)
        return nerr(nd, AL_EUNSUPPORTED, "%zu inputs; a sum reads 1 to %d", nd->n_input, AL_MAX_SRCS + 1);
    for (size_t q = 0; q < nd->n_input; q++) {
        val *a;
        if ((st = get_in(I, nd, q, 1, &a))) return st;
        if (a->kind != V_RUN)
            return nerr(nd, AL_EUNSUPPORTED, "input %zu ('%.100s') is a constant: only layer outputs are summed", q,
                        a->name);
        if (a->pad || a->softmax) return nerr(nd, AL_EUNSUPPORTED, "operands must not be padded or softmaxed");
        int same = a->ndim == a0->ndim && a->bax == a0->bax && a->os.ndim == a0->os.ndim;
        for (int d = 0; same && d < a->ndim; d++) same = d == a->bax || a->dims[d] == a0->dims[d];
        for (int d = 0; same && d < a->os.ndim; d++) same = a->os.d[d] == a0->os.d[d];
        if (!same) return nerr(nd, AL_EUNSUPPORTED, "the inputs' shapes differ (broadcasting is not supported)");
    }
    if (nd->n_input == 1) return define_run(I, nd, nd->output[0], a0);
    pend *L = NULL;
    read_val(I, a0);
    if ((st = emit(I, nd, AL_L_SUM, &L))) return st;
    L->cfg.nmore = (int)nd->n_input - 2;
    for (size_t q = 1; q < nd->n_input; q++) {
        const val *a = find(I, nd->input[q]);
        *al_cfg_src_ref(&L->cfg, (int)q - 1) = a->node;
        *al_cfg_src_port_ref(&L->cfg, (int)q - 1) = a->port;
    }
    if (!mean) return define_same(I, nd, a0);
    int s = I->nl - 1;
    I->read_from = s;
    if ((st = emit(I, nd, AL_L_SCALE, &L))) return st;
    L->cfg.alpha = 1.0f / (float)nd->n_input;
    return define_same(I, nd, a0);
}

/* The node that reads `name`, when exactly one does (and the graph output
 * does not); -1 otherwise. */
static long sole_reader(const imp *I, const char *name) {
    if (uses(I, name) != 1) return -1;
    const name_ent *e = name_at(I, name);
    return e->nrd ? I->rdr[e->rd] : -1;
}

/* The float scalar constant named `name` (defined already, or the output of
 * a Constant node still to come), within 1e-5 of `want`. */
static int scalar_value(imp *I, const char *name, double *out) {
    const val *c = find(I, name);
    if (c) {
        if (c->kind != V_CONST || c->is_int || c->fill || c->numel != 1) return 0;
        *out = c->f[0];
        return 1;
    }
    const name_ent *e = name_at(I, name);
    if (!e || e->konst < 0) return 0;
    val v;
    if (value_attr(I->g->node[e->konst], &v)) return 0; /* the Constant's own import reports it */
    int ok = !v.is_int && v.numel == 1 && v.f;
    if (ok) *out = v.f[0];
    val_free(&v);
    return ok;
}

static int scalar_is(imp *I, const char *name, double want) {
    double v;
    return scalar_value(I, name, &v) && fabs(v - want) < 1e-5;
}

/* The first node reading `name` whose operator is op, or -1. */
static long reader_op(const imp *I, const char *name, const char *op) {
    const name_ent *e = name_at(I, name);
    for (size_t q = 0; e && q < e->nrd; q++)
        if (!strcmp(nm(I->g->node[I->rdr[e->rd + q]]->op_type), op)) return I->rdr[e->rd + q];
    return -1;
}

/* A ReduceMean over the last axis only, keeping it (axes as an attribute). */
static int mean_last_axis(const Onnx__NodeProto *nd, int rank) {
    const int64_t *v;
    size_t n = 0;
    int64_t keep = 1;
    if (nd->n_input != 1 || nd->n_output != 1 || attr_ints(nd, "axes", &v, &n) || n != 1 ||
        attr_int(nd, "keepdims", 1, &keep) || !keep)
        return 0;
    return v[0] == -1 || v[0] == rank - 1;
}

/* LayerNorm as exports before opset 17 write it (nd: the first ReduceMean):
 * d = x - ReduceMean(x); d / Sqrt(ReduceMean(Pow(d, 2)) + eps) * w + b, each
 * step read only by the next (d by Pow and Div): one layernorm layer; the
 * steps after nd are marked done. AL_EUNSUPPORTED (no error set) when nd
 * does not start that pattern. */
static al_status fuse_layernorm(imp *I, const Onnx__NodeProto *nd, val *x) {
    if (x->kind != V_RUN || x->pad || x->softmax || !mean_last_axis(nd, x->ndim) || ps_axis(x, x->ndim - 1) < 0)
        return AL_EUNSUPPORTED;
    const char *xn = nm(nd->input[0]);
    long k[8];
    const Onnx__NodeProto *s;
    double eps, two;
    /* Sub(x, m) */
    if ((k[0] = sole_reader(I, nm(nd->output[0]))) < 0) return AL_EUNSUPPORTED;
    s = I->g->node[k[0]];
    if (strcmp(nm(s->op_type), "Sub") || s->n_input != 2 || s->n_output != 1 || strcmp(nm(s->input[0]), xn))
        return AL_EUNSUPPORTED;
    const char *dn = nm(s->output[0]);
    if (uses(I, dn) != 2 || (k[1] = reader_op(I, dn, "Pow")) < 0 || (k[5] = reader_op(I, dn, "Div")) < 0)
        return AL_EUNSUPPORTED;
    s = I->g->node[k[1]];
    if (s->n_input != 2 || s->n_output != 1 || strcmp(nm(s->input[0]), dn) || !scalar_value(I, nm(s->input[1]), &two) ||
        two != 2.0)
        return AL_EUNSUPPORTED;
    /* ReduceMean, Add eps, Sqrt, then Div(d, that) */
    static const char *const ops[] = {"ReduceMean", "Add", "Sqrt", "Div", "Mul", "Add"};
    const char *o = nm(s->output[0]);
    const val *w = NULL, *b = NULL;
    for (int j = 2; j < 8; j++) {
        long r = sole_reader(I, o);
        if (r < 0 || (j == 5 && r != k[5])) return AL_EUNSUPPORTED;
        k[j] = r;
        s = I->g->node[r];
        if (strcmp(nm(s->op_type), ops[j - 2]) || s->n_output != 1) return AL_EUNSUPPORTED;
        const char *oth = other_input(I, r, o);
        if (j == 2 && !mean_last_axis(s, x->ndim)) return AL_EUNSUPPORTED;
        if (j == 3 && !(oth && scalar_value(I, oth, &eps) && eps > 0.0 && eps <= 1.0)) return AL_EUNSUPPORTED;
        if (j == 5 && (s->n_input != 2 || strcmp(nm(s->input[0]), dn))) return AL_EUNSUPPORTED;
        if (j >= 6) {
            const val *c = oth ? find(I, oth) : NULL;
            if (!c || c->kind != V_CONST || c->is_int || c->fill || c->numel != (size_t)x->dims[x->ndim - 1])
                return AL_EUNSUPPORTED;
            *(j == 6 ? &w : &b) = c;
        }
        o = nm(s->output[0]);
    }
    al_status st = layernorm_layer(I, I->g->node[k[7]], x, w, b, (float)eps);
    if (st) return st;
    for (int j = 0; j < 8; j++) I->skip[k[j]] = 1;
    return AL_OK;
}

/* The other input of binary node k than `name`, or NULL. */
static const char *other_input(const imp *I, long k, const char *name) {
    const Onnx__NodeProto *nd = I->g->node[k];
    if (nd->n_input != 2) return NULL;
    if (!strcmp(nm(nd->input[0]), name)) return nm(nd->input[1]);
    if (!strcmp(nm(nd->input[1]), name)) return nm(nd->input[0]);
    return NULL;
}

/* GELU as exports before opset 20 write it, x * (1 + Erf(x / sqrt 2)) * 0.5
 * (nd: the Div; each step read by the next alone): one gelu layer; the
 * steps after the Div are marked done. AL_EUNSUPPORTED (no error set) when
 * nd does not start that pattern. */
static al_status fuse_gelu(imp *I, const Onnx__NodeProto *nd, val *x) {
    if (x->kind != V_RUN || nd->n_output != 1 || !scalar_is(I, nm(nd->input[1]), 1.4142135623730951))
        return AL_EUNSUPPORTED;
    long k[4];
    const char *o = nm(nd->output[0]), *xn = nm(nd->input[0]);
    static const char *const ops[4] = {"Erf", "Add", "Mul", "Mul"};
    for (int j = 0; j < 4; j++) {
        if ((k[j] = sole_reader(I, o)) < 0) return AL_EUNSUPPORTED;
        const Onnx__NodeProto *s = I->g->node[k[j]];
        if (strcmp(nm(s->op_type), ops[j]) || (nm(s->domain)[0] && strcmp(nm(s->domain), "ai.onnx")) ||
            s->n_output != 1)
            return AL_EUNSUPPORTED;
        const char *oth = j ? other_input(I, k[j], o) : NULL;
        if (j == 1 && !(oth && scalar_is(I, oth, 1.0))) return AL_EUNSUPPORTED;
        if (j == 2 && !(oth && !strcmp(oth, xn))) return AL_EUNSUPPORTED;
        if (j == 3 && !(oth && scalar_is(I, oth, 0.5))) return AL_EUNSUPPORTED;
        o = nm(s->output[0]);
    }
    if (x->pad || x->softmax) return AL_EUNSUPPORTED;
    const Onnx__NodeProto *last = I->g->node[k[3]];
    pend *L = NULL;
    I->read_from = x->node;
    al_status st = emit(I, last, AL_L_GELU, &L);
    if (st) return st;
    for (int j = 0; j < 4; j++) I->skip[k[j]] = 1;
    return define_like(I, last, x, x->dims, x->ndim, &x->os);
}

/* Max and Min (variadic, NumPy broadcasting): of constants, folded; of a
 * layer output and one number, a clip (max(x, c) = clip min=c); of layer
 * outputs, a chain of `max` / `min` layers, each reading the result so far
 * and the next input (operands with the batch on axis 0, of one rank). */
static al_status op_minmax(imp *I, const Onnx__NodeProto *nd, int is_max) {
    al_status st;
    val *a0;
    if ((st = check_attrs(nd, NULL)) || (st = get_in(I, nd, 0, 1, &a0))) return st;
    if (nd->n_input < 1 || nd->n_input > 64) return nerr(nd, AL_EUNSUPPORTED, "%zu inputs; 1 to 64 are supported", nd->n_input);
    if (nd->n_input == 1) return a0->kind == V_RUN ? define_run(I, nd, nd->output[0], a0) : nerr(nd, AL_EUNSUPPORTED, "one constant input");
    int nconst = 0;
    for (size_t q = 0; q < nd->n_input; q++) {
        val *a;
        if ((st = get_in(I, nd, q, 1, &a))) return st;
        nconst += a->kind == V_CONST;
    }
    if (nconst == (int)nd->n_input) {
        if (nd->n_input != 2) return nerr(nd, AL_EUNSUPPORTED, "of %zu constants: only two are folded", nd->n_input);
        val *b;
        if ((st = get_in(I, nd, 1, 1, &b))) return st;
        return fold_binary(I, nd, a0, b, is_max ? 'M' : 'm');
    }
    if (nconst) {
        val *a, *b;
        if ((st = get_in(I, nd, 1, 1, &b))) return st;
        a = a0->kind == V_RUN ? a0 : b;
        val *c = a == a0 ? b : a0;
        if (nd->n_input != 2 || c->is_int || c->fill || c->numel != 1 || !isfinite(c->f[0]))
            return nerr(nd, AL_EUNSUPPORTED, "a %s with a constant is only supported for a layer output and one finite "
                                             "number", is_max ? "Max" : "Min");
        if (a->pad || a->softmax) return nerr(nd, AL_EUNSUPPORTED, "operands must not be padded or softmaxed");
        pend *L = NULL;
        I->read_from = a->node;
        if ((st = emit(I, nd, AL_L_CLIP, &L))) return st;
        L->cfg.lo = is_max ? c->f[0] : -INFINITY;
        L->cfg.hi = is_max ? INFINITY : c->f[0];
        return define_like(I, nd, a, a->dims, a->ndim, &a->os);
    }
    /* layer outputs: ONNX dims right-aligned; ours per sample once the batch axis (0 in both) is dropped */
    int64_t od[MAXR];
    int r = a0->ndim;
    memcpy(od, a0->dims, sizeof(int64_t) * (size_t)r);
    for (size_t q = 0; q < nd->n_input; q++) {
        val *a = find(I, nd->input[q]);
        if (a->pad || a->softmax) return nerr(nd, AL_EUNSUPPORTED, "operands must not be padded or softmaxed");
        if (a->bax != 0 || a->bpart > 1 || a->ndim != r || r < 2) {
            char da[160];
            fmt_dims(da, sizeof da, a->dims, a->ndim, a->bax);
            return nerr(nd, AL_EUNSUPPORTED, "input %zu is %s: only operands of one rank with the batch on axis 0 "
                                             "are supported", q, da);
        }
        for (int d = 1; d < r; d++) {
            if (a->dims[d] != od[d] && a->dims[d] != 1 && od[d] != 1)
                return nerr(nd, AL_ESHAPE, "input %zu's axis %d (%lld) does not broadcast with %lld", q, d,
                            (long long)a->dims[d], (long long)od[d]);
            if (a->dims[d] > od[d]) od[d] = a->dims[d];
        }
    }
    int cur;
    al_shape cs;
    if ((st = want_logical(I, nd, a0, &cur, &cs))) return st;
    for (size_t q = 1; q < nd->n_input; q++) {
        val *a = find(I, nd->input[q]);
        int node;
        al_shape as;
        if ((st = want_logical(I, nd, a, &node, &as))) return st;
        pend *L = NULL;
        I->read_from = cur;
        if ((st = emit(I, nd, is_max ? AL_L_MAX : AL_L_MIN, &L))) return st;
        L->cfg.src = node;
        for (int d = 0; d < cs.ndim; d++) cs.d[d] = AL_MAX(cs.d[d], as.d[d]);
        cur = I->nl - 1;
    }
    return define_layer_out(I, nd, od, r, 0, &cs, 0);
}

static al_status op_div(imp *I, const Onnx__NodeProto *nd) {
    val *a, *b;
    al_status st;
    if ((st = check_attrs(nd, NULL)) || (st = get_in(I, nd, 0, 1, &a)) || (st = get_in(I, nd, 1, 1, &b))) return st;
    if (nd->n_input != 2) return nerr(nd, AL_EFORMAT, "Div takes 2 inputs, has %zu", nd->n_input);
    if ((st = fuse_gelu(I, nd, a)) != AL_EUNSUPPORTED) return st;
    if (a->kind == V_RUN && b->kind == V_CONST && !b->is_int && !b->fill && b->numel == 1 && b->f[0] != 0.0f)
        return scale_layer(I, nd, a, 1.0f / b->f[0]);
    if (a->kind == V_CONST && b->kind == V_CONST) return fold_binary(I, nd, a, b, '/');
    return nerr(nd, AL_EUNSUPPORTED, "only a division by one number, or of constants, is supported");
}

/* Mul of two layer outputs: one is the previous layer's (the scale s), the
 * other an earlier one (x2) that s broadcasts to, over x2's leading axes:
 * the squeeze-excite gate, [N, C, 1, 1] (or [N, C]) times [N, C, H, W], or
 * the same shape (element-wise). It becomes `mul` reading x2 as its src. */
static al_status op_mul(imp *I, const Onnx__NodeProto *nd) {
    val *a, *b;
    al_status st;
    if ((st = check_attrs(nd, NULL)) || (st = get_in(I, nd, 0, 1, &a)) || (st = get_in(I, nd, 1, 1, &b))) return st;
    if (nd->n_input != 2) return nerr(nd, AL_EFORMAT, "Mul takes 2 inputs, has %zu", nd->n_input);
    if (a->kind == V_CONST && b->kind == V_CONST) return fold_binary(I, nd, a, b, '*');
    if (a->kind == V_CONST || b->kind == V_CONST) {
        val *x = a->kind == V_RUN ? a : b, *c = x == a ? b : a;
        if (x->kind == V_RUN && !c->is_int && !c->fill && c->numel == 1) return scale_layer(I, nd, x, c->f[0]);
        return nerr(nd, AL_EUNSUPPORTED, "a Mul by a constant is only supported for one number (only the product of "
                                         "two layer outputs otherwise, such as a squeeze-excite gate)");
    }
    /* the scale is the later operand (the gate computed from the other) */
    val *cur = a->node >= b->node ? a : b, *side = cur == a ? b : a;
    if (cur->node == side->node && cur->port == side->port)
        return nerr(nd, AL_EUNSUPPORTED, "both operands are the same tensor (a square) is not supported");
    if (cur->pad || side->pad || cur->softmax || side->softmax) return nerr(nd, AL_EUNSUPPORTED, "operands must not be padded or softmaxed");
    /* x * Sigmoid(x) is SiLU and x * HardSigmoid(x) HardSwish (how opset 13
     * writes them; HardSigmoid is PyTorch's, op_hardsigmoid): when nothing
     * else reads the activation just emitted, it becomes the fused one and
     * takes the Mul's name */
    if (cur->node >= 0 && cur->node == I->nl - 1 && uses(I, cur->name) == 1 && same_layout(cur, side)) {
        al_layer_cfg *c = &I->L[cur->node].cfg;
        if (cur->node - 1 - c->back == side->node && (c->type == AL_L_SIGMOID || c->type == AL_L_HARDSIGMOID)) {
            c->type = c->type == AL_L_SIGMOID ? AL_L_SILU : AL_L_HARDSWISH;
            c->name[0] = 0;
            return define_layer_out(I, nd, side->dims, side->ndim, side->bax, &side->os, 0);
        }
    }
    /* the same ONNX shape held in the same per-sample shape (a gate times a
     * tensor of its own shape): element-wise */
    if (same_layout(cur, side)) {
        pend *L = NULL;
        I->read_from = cur->node;
        if ((st = emit(I, nd, AL_L_MUL, &L))) return st;
        L->cfg.src = side->node;
        return define_layer_out(I, nd, side->dims, side->ndim, side->bax, &side->os, 0);
    }
    /* ONNX: cur broadcasts to side (right-aligned); ours: cur's per-sample
     * dims are side's leading ones, then ones */
    int r = side->ndim, off = r - cur->ndim, fit = side->bax == 0 && off == 0 && cur->bax == 0 &&
                                                   exact(side, r) && side->os.ndim >= 1;
    int j = 1;
    while (fit && j < r && cur->dims[j] == side->dims[j]) j++;
    for (int d = j; fit && d < r; d++) fit = cur->dims[d] == 1;
    /* our scale must hold exactly side's dims 1..j-1, in that order */
    size_t lead = 1;
    for (int d = 1; fit && d < j; d++) lead *= (size_t)side->dims[d];
    fit = fit && j > 1 && al_shape_numel(&cur->os) == lead;
    int k = 0;
    while (fit && k < cur->os.ndim && k < side->os.ndim && cur->os.d[k] == side->os.d[k]) k++;
    for (int d = k; fit && d < cur->os.ndim; d++) fit = cur->os.d[d] == 1;
    if (!fit || k < 1) {
        char ca[160], sa[160];
        fmt_dims(ca, sizeof ca, cur->dims, cur->ndim, cur->bax);
        fmt_dims(sa, sizeof sa, side->dims, side->ndim, side->bax);
        return nerr(nd, AL_EUNSUPPORTED,
                    "%s times %s: only a scale over the leading axes of the earlier tensor is supported (a per-channel "
                    "[N, C, 1, 1] gate times [N, C, H, W], or equal shapes)",
                    ca, sa);
    }
    pend *L = NULL;
    read_val(I, cur);
    if ((st = emit(I, nd, AL_L_MUL, &L))) return st;
    L->cfg.src = side->node;
    L->cfg.src_port = side->port;
    return define_layer_out(I, nd, side->dims, side->ndim, 0, &side->os, 0);
}

static al_status op_flatten(imp *I, const Onnx__NodeProto *nd, val *x) {
    int64_t od[2] = {x->dims[0], (int64_t)al_shape_numel(&x->os)};
    al_shape os = {1, {(int)od[1], 0, 0}};
    if (x->os.ndim == 1) { /* already flat for us (after GlobalAveragePool): only the ONNX dims change */
        val t = *x;
        t.f = NULL;
        t.i = NULL;
        t.fresh = 0;
        t.ndim = 2;
        t.dims[1] = od[1];
        return define(I, nd, nd->output[0], &t);
    }
    pend *L = NULL;
    al_status st = emit(I, nd, AL_L_FLATTEN, &L);
    if (st) return st;
    return define_layer_out(I, nd, od, 2, 0, &os, 0);
}

static al_status op_flatten_node(imp *I, const Onnx__NodeProto *nd) {
    static const char *const ok[] = {"axis", NULL};
    val *x;
    al_status st;
    int64_t axis;
    if ((st = check_attrs(nd, ok)) || (st = get_current(I, nd, 0, &x)) || (st = attr_int(nd, "axis", 1, &axis))) return st;
    if (axis < 0) axis += x->ndim;
    if (axis != 1) return nerr(nd, AL_EUNSUPPORTED, "attribute 'axis' = %lld: only 1 (keep the batch axis) is supported", (long long)axis);
    if (x->bax != 0) return shape_err(nd, x, "the batch on axis 0");
    return op_flatten(I, nd, x);
}

/* A Reshape that only removes or inserts axes of size 1 and keeps the batch
 * axis (torch.export writes the Squeeze of an LSTM's direction axis as a
 * Reshape of [T, N, 1, H] to [T, N, H] with the export's batch): the data keeps
 * its order, no layer. The axes of size > 1 of both shapes must pair up in
 * order with equal sizes; the batch axis pairs with the target's batch size
 * (from Shape), a 0 that copies it, or the export's fixed batch (> 1).
 * AL_EUNSUPPORTED (no error set) when it is not such a reshape. */
static al_status reshape_squeeze(imp *I, const Onnx__NodeProto *nd, const val *x, const val *s, int az) {
    if (x->pad || s->ndim != 1 || s->numel < 1 || s->numel > MAXR || x->dims[x->bax] > MAX_DIM) return AL_EUNSUPPORTED;
    int n = (int)s->numel, tb = -1, neg = -1;
    int64_t b = x->dims[x->bax], v[MAXR], per = (int64_t)al_shape_numel(&x->os), known = 1;
    for (int q = 0; q < n; q++) {
        v[q] = s->i[q];
        if (v[q] == 0 && !az) {
            if (q >= x->ndim) return AL_EUNSUPPORTED;
            v[q] = q == x->bax ? BATCH : x->dims[q];
        }
        if (v[q] == BATCH) {
            if (tb >= 0) return AL_EUNSUPPORTED;
            tb = q;
        } else if (v[q] == -1) {
            if (neg >= 0) return AL_EUNSUPPORTED;
            neg = q;
        } else if (v[q] < 1 || v[q] > MAX_DIM) {
            return AL_EUNSUPPORTED;
        } else {
            /* at most MAXR factors of 2^24 would overflow: bound the
             * product by 2^40, checked before multiplying */
            if (known > ((int64_t)1 << 40) / v[q]) return AL_EUNSUPPORTED;
            known *= v[q];
        }
    }
    if (neg >= 0) { /* the inferred size */
        int64_t total = tb >= 0 ? per : b > 0 ? per * b : -1;
        if (total < 1 || known < 1 || total % known) return AL_EUNSUPPORTED;
        v[neg] = total / known;
        if (v[neg] > MAX_DIM) return AL_EUNSUPPORTED;
    }
    if (tb < 0 && b <= 1) return AL_EUNSUPPORTED; /* which axis is the batch? */
    val t = *x;
    t.f = NULL;
    t.i = NULL;
    t.fresh = 0;
    t.ndim = n;
    int i = 0, j = 0, nb = -1;
    for (;;) {
        while (i < x->ndim && i != x->bax && x->dims[i] == 1) i++;
        while (j < n && j != tb && v[j] == 1) j++;
        if (i == x->ndim || j == n) break;
        if (i == x->bax) {
            if (j != tb && (tb >= 0 || v[j] != b)) return AL_EUNSUPPORTED;
            nb = j;
        } else if (j == tb || v[j] != x->dims[i]) {
            return AL_EUNSUPPORTED;
        }
        i++, j++;
    }
    if (i != x->ndim || j != n || nb < 0) return AL_EUNSUPPORTED;
    for (int q = 0; q < n; q++) t.dims[q] = q == nb ? b : v[q];
    t.bax = nb;
    return define(I, nd, nd->output[0], &t);
}

/* Reshape of a constant (shape arithmetic): the same elements, new dims. */
static al_status reshape_const(imp *I, const Onnx__NodeProto *nd, const val *x, const val *s, int az) {
    if (x->fill) return nerr(nd, AL_EUNSUPPORTED, "the input depends on the batch size");
    if (s->numel > MAXR) return nerr(nd, AL_EUNSUPPORTED, "the target has %zu dimensions (max %d)", s->numel, MAXR);
    val t;
    memset(&t, 0, sizeof t);
    t.kind = V_CONST;
    t.is_int = x->is_int;
    t.ndim = (int)s->numel;
    int inf = -1;
    size_t known = 1;
    for (int q = 0; q < t.ndim; q++) {
        int64_t v = s->i[q];
        if (v == 0 && !az) v = q < x->ndim ? x->dims[q] : -2;
        if (v == -1 && inf < 0) {
            inf = q;
            continue;
        }
        if (v < 0 || v > MAX_DIM) return nerr(nd, AL_EUNSUPPORTED, "target dimension %d is not a size", q);
        if (v > 0 && known > ((size_t)1 << 48) / (size_t)v)
            return nerr(nd, AL_EUNSUPPORTED, "the target's sizes multiply past 2^48");
        t.dims[q] = v;
        known *= (size_t)v;
    }
    if (inf >= 0) {
        if (known == 0 || x->numel % known) return nerr(nd, AL_EFORMAT, "the target does not divide %zu elements", x->numel);
        t.dims[inf] = (int64_t)(x->numel / known);
        known = x->numel;
    }
    if (known != x->numel) return nerr(nd, AL_EFORMAT, "the target holds %zu elements, the input %zu", known, x->numel);
    t.numel = x->numel;
    size_t esz = t.is_int ? sizeof(int64_t) : sizeof(float);
    void *p = al_malloc(t.numel ? t.numel * esz : 1);
    if (!p) return AL_ENOMEM;
    if (t.numel) memcpy(p, t.is_int ? (const void *)x->i : (const void *)x->f, t.numel * esz);
    if (t.is_int)
        t.i = p;
    else
        t.f = p;
    return define(I, nd, nd->output[0], &t);
}

static al_status op_reshape(imp *I, const Onnx__NodeProto *nd) {
    static const char *const ok[] = {"allowzero", NULL};
    val *x, *s;
    al_status st;
    int64_t az;
    if ((st = check_attrs(nd, ok)) || (st = get_in(I, nd, 0, 1, &x))) return st;
    if (x->kind == V_CONST) {
        if ((st = get_const(I, nd, 1, 1, 1, "shape", &s)) || (st = attr_int(nd, "allowzero", 0, &az))) return st;
        return reshape_const(I, nd, x, s, (int)az);
    }
    if ((st = get_current(I, nd, 0, &x)) ||
        (st = get_const(I, nd, 1, 1, 1, "shape", &s)) || (st = attr_int(nd, "allowzero", 0, &az)))
        return st;
    int64_t numel = (int64_t)al_shape_numel(&x->os);
    /* allowzero only changes what a 0 in the target means */
    int zero = 0;
    for (size_t q = 0; q < s->numel; q++) zero |= s->i[q] == 0;
    int flat = s->numel == 2 && x->bax == 0 && (!az || !zero) &&
               (s->i[0] == 0 || s->i[0] == BATCH || (x->dims[0] > 0 && s->i[0] == x->dims[0])) &&
               (s->i[1] == -1 || s->i[1] == numel);
    if (!flat) {
        st = reshape_squeeze(I, nd, x, s, (int)az);
        if (st != AL_EUNSUPPORTED) return st;
        st = reshape_general(I, nd, x, s, (int)az);
        if (st != AL_EUNSUPPORTED) return st;
        char a[160];
        fmt_dims(a, sizeof a, s->i, (int)AL_MIN(s->numel, (size_t)MAXR), -1);
        return nerr(nd, AL_EUNSUPPORTED,
                    "Reshape to %s: the batch must stay a factor at one end of one axis, and the data in order", a);
    }
    return op_flatten(I, nd, x);
}

static al_status op_dropout(imp *I, const Onnx__NodeProto *nd) {
    static const char *const ok[] = {"ratio", "seed", "is_test", NULL};
    val *x, *r, *tm;
    al_status st;
    float ratio = 0.5f;
    if ((st = check_attrs(nd, ok)) || (st = get_current(I, nd, 0, &x)) || (st = extra_outputs_unused(I, nd))) return st;
    if (I->opset < 12) {
        if ((st = attr_float(nd, "ratio", 0.5f, &ratio))) return st;
    } else {
        if ((st = get_const(I, nd, 1, 0, 0, "ratio", &r)) || (st = get_in(I, nd, 2, 0, &tm))) return st;
        if (r && r->numel != 1) return nerr(nd, AL_EUNSUPPORTED, "ratio must be a scalar");
        if (r) ratio = r->f[0];
        if (tm && (tm->kind != V_CONST || !tm->is_int || tm->numel != 1 || tm->i[0] != 0))
            return nerr(nd, AL_EUNSUPPORTED, "input 'training_mode' must be a constant false");
    }
    if (!(ratio >= 0.0f && ratio <= 0.9f)) return nerr(nd, AL_EUNSUPPORTED, "ratio %g is outside 0..0.9", (double)ratio);
    if (ratio == 0.0f) return define_run(I, nd, nd->output[0], x);
    pend *L = NULL;
    if ((st = emit(I, nd, AL_L_DROPOUT, &L))) return st;
    L->cfg.rate = ratio;
    return define_same(I, nd, x);
}

/* Gather: an embedding (float table, the token input) or shape arithmetic. */
/* d with ONNX axis `axis` (not the batch's) dropped: the value of a Gather
 * of one index along it, held in d's layer output as it is. */
static val drop_axis(const val *d, int axis) {
    val t = *d;
    t.f = NULL;
    t.i = NULL;
    t.fresh = 0;
    t.ndim = d->ndim - 1;
    for (int q = axis; q + 1 < d->ndim; q++) t.dims[q] = d->dims[q + 1];
    if (t.bax > axis) t.bax--;
    return t;
}

static al_status op_gather(imp *I, const Onnx__NodeProto *nd) {
    static const char *const ok[] = {"axis", NULL};
    val *d, *ix;
    al_status st;
    int64_t axis;
    if ((st = check_attrs(nd, ok)) || (st = get_in(I, nd, 0, 1, &d)) || (st = get_in(I, nd, 1, 1, &ix)) ||
        (st = attr_int(nd, "axis", 0, &axis)))
        return st;
    if (axis != 0 && d->kind != V_RUN) /* a layer output: any per-sample axis (below) */
        return nerr(nd, AL_EUNSUPPORTED, "attribute 'axis' = %lld: only 0 is supported", (long long)axis);
    if (d->kind == V_CONST && !d->is_int && !d->fill && ix->kind == V_RUN) {
        if (!I->input_tokens || ix->node != -1 || I->nl != 0)
            return nerr(nd, AL_EUNSUPPORTED, "an embedding (Gather of a float table) must be the first node, on the integer token input");
        if (d->ndim != 2 || d->dims[0] < 1 || d->dims[1] < 1 || d->dims[0] > MAX_DIM || d->dims[1] > MAX_DIM)
            return nerr(nd, AL_EUNSUPPORTED, "the embedding table must be [vocab, dim]");
        if (ix->ndim != 2 || ix->bax != 0) return shape_err(nd, ix, "token ids [N, T]");
        pend *L;
        if ((st = emit(I, nd, AL_L_EMBEDDING, &L))) return st;
        L->cfg.units = (int)d->dims[1];
        L->cfg.vocab = (int)d->dims[0];
        float *w = copy_floats(d->f, d->numel);
        if (!w) return AL_ENOMEM;
        if ((st = set_param(L, "weight", &w, d->numel))) {
            al_free(w);
            return st;
        }
        int64_t od[3] = {ix->dims[0], ix->dims[1], d->dims[1]};
        al_shape os = {2, {(int)ix->dims[1], (int)d->dims[1], 0}};
        return define_layer_out(I, nd, od, 3, 0, &os, 0);
    }
    if (d->kind == V_CONST && d->is_int && !d->fill && d->ndim == 1 && ix->kind == V_CONST && ix->is_int &&
        !ix->fill && ix->ndim <= 1) {
        val t;
        memset(&t, 0, sizeof t);
        t.kind = V_CONST;
        t.is_int = 1;
        t.ndim = ix->ndim;
        t.dims[0] = (int64_t)ix->numel;
        t.numel = ix->numel;
        t.i = al_malloc(ix->numel ? ix->numel * sizeof(int64_t) : 1);
        if (!t.i) return AL_ENOMEM;
        for (size_t q = 0; q < ix->numel; q++) {
            int64_t k = ix->i[q] < 0 ? ix->i[q] + (int64_t)d->numel : ix->i[q];
            if (k < 0 || k >= (int64_t)d->numel) {
                al_free(t.i);
                return nerr(nd, AL_EFORMAT, "index %lld is out of range 0..%zu", (long long)ix->i[q], d->numel);
            }
            t.i[q] = d->i[k];
        }
        return define(I, nd, nd->output[0], &t);
    }
    if (d->kind == V_RUN && ix->kind == V_CONST && ix->is_int && !ix->fill && ix->ndim == 0 && ix->numel == 1) {
        /* one index along a per-sample axis (attention's q, k, v out of the
         * stacked projection; a ViT's class token, x[:, 0]): slice it, then
         * drop the axis */
        int r = d->ndim;
        if (axis < 0) axis += r;
        int a = axis >= 0 && axis < r ? ps_axis(d, (int)axis) : -1;
        if (a < 0) return nerr(nd, AL_EUNSUPPORTED, "a Gather along the batch axis is not supported");
        int64_t k = ix->i[0] < 0 ? ix->i[0] + d->dims[axis] : ix->i[0];
        if (k < 0 || k >= d->dims[axis]) return nerr(nd, AL_EFORMAT, "index %lld is out of range", (long long)ix->i[0]);
        val t = drop_axis(d, (int)axis);
        if (d->dims[axis] == 1 && !d->pad && !d->softmax) /* the only index of a size-1 axis (an LSTM's
                                                           * Y_h[0], the direction axis): the data as it is */
            return define(I, nd, nd->output[0], &t);
        int node;
        al_shape is;
        if ((st = want_logical(I, nd, d, &node, &is))) return st;
        pend *L = NULL;
        if ((st = emit(I, nd, AL_L_SLICE, &L))) return st;
        L->cfg.axis = a;
        L->cfg.start = (int)k;
        L->cfg.end = (int)k + 1;
        L->cfg.step = 1;
        al_shape os;
        if (!logical_os(&t, &os)) return nerr(nd, AL_EUNSUPPORTED, "too many per-sample axes");
        if (os.ndim == 0) return nerr(nd, AL_EUNSUPPORTED, "it leaves one number per sample");
        /* the slice's output, [.., 1, ..], held as the dropped shape by a reshape */
        if ((st = emit(I, nd, AL_L_RESHAPE, &L))) return st;
        L->cfg.ndims = os.ndim;
        for (int q = 0; q < os.ndim; q++) L->cfg.dims[q] = os.d[q];
        return define_like(I, nd, &t, t.dims, t.ndim, &os);
    }
    return nerr(nd, AL_EUNSUPPORTED, "only an embedding lookup (first node) or shape arithmetic on constants is supported");
}

static al_status op_shape(imp *I, const Onnx__NodeProto *nd) {
    val *x;
    al_status st;
    if ((st = check_attrs(nd, NULL)) || (st = get_in(I, nd, 0, 1, &x))) return st;
    val t;
    memset(&t, 0, sizeof t);
    t.kind = V_CONST;
    t.is_int = 1;
    t.ndim = 1;
    t.dims[0] = x->ndim;
    t.numel = (size_t)x->ndim;
    t.i = al_malloc(sizeof(int64_t) * MAXR);
    if (!t.i) return AL_ENOMEM;
    for (int d = 0; d < x->ndim; d++) t.i[d] = x->kind == V_RUN && d == x->bax ? BATCH : x->dims[d];
    if (x->kind == V_RUN && x->bpart > 1) { /* the batch times a per-sample part: known only with the batch */
        /* the export's batch when it is fixed, else the batch times the part (BATCH_MUL) */
        t.i[x->bax] = x->dims[x->bax] >= 1 ? x->dims[x->bax] : BATCH_MUL(x->bpart);
    }
    if (x->pad && x->kind == V_RUN) {
        t.i[2] += 2 * x->pad;
        t.i[3] += 2 * x->pad;
    }
    return define(I, nd, nd->output[0], &t);
}

/* Axes of Squeeze/Unsqueeze: an attribute before opset 13, an input since. */
static al_status axes_of(imp *I, const Onnx__NodeProto *nd, int64_t *ax, int *nax) {
    static const char *const ok[] = {"axes", NULL};
    al_status st = check_attrs(nd, I->opset < 13 ? ok : NULL);
    if (st) return st;
    const int64_t *p = NULL;
    size_t n = 0;
    if (I->opset < 13) {
        if ((st = attr_ints(nd, "axes", &p, &n))) return st;
    } else {
        val *a;
        if ((st = get_const(I, nd, 1, 0, 1, "axes", &a))) return st;
        if (a) {
            p = a->i;
            n = a->numel;
        }
    }
    if (n > MAXR) return nerr(nd, AL_EUNSUPPORTED, "too many axes (%zu)", n);
    for (size_t q = 0; q < n; q++) ax[q] = p[q];
    *nax = (int)n;
    return AL_OK;
}

static al_status op_squeeze(imp *I, const Onnx__NodeProto *nd, int un) {
    val *x;
    int64_t ax[MAXR];
    int nax = 0;
    al_status st;
    if ((st = get_in(I, nd, 0, 1, &x)) || (st = axes_of(I, nd, ax, &nax))) return st;
    if (x->fill) return nerr(nd, AL_EUNSUPPORTED, "input depends on the batch size");
    int r = x->ndim, ro = un ? r + nax : r;
    if (un && (nax == 0 || ro > MAXR)) return nerr(nd, AL_EUNSUPPORTED, "'axes' must name 1..%d new axes", MAXR - r);
    unsigned mark = 0;
    for (int q = 0; q < nax; q++) {
        int64_t a = ax[q] < 0 ? ax[q] + ro : ax[q];
        if (a < 0 || a >= ro || (mark >> a & 1u)) return nerr(nd, AL_EFORMAT, "axis %lld is out of range or repeated", (long long)ax[q]);
        mark |= 1u << a;
    }
    if (!un && nax == 0) /* all size-1 axes but the batch */
        for (int d = 0; d < r; d++)
            if (x->dims[d] == 1 && !(x->kind == V_RUN && d == x->bax)) mark |= 1u << d;
    val t = *x;
    t.f = NULL;
    t.i = NULL;
    t.fresh = 0;
    int o = 0, src = 0;
    for (int d = 0; d < ro; d++) {
        if (un) {
            if (mark >> d & 1u) {
                t.dims[o++] = 1;
            } else {
                if (x->kind == V_RUN && src == x->bax) t.bax = o;
                t.dims[o++] = x->dims[src++];
            }
        } else if (mark >> d & 1u) {
            if (x->kind == V_RUN && d == x->bax) return nerr(nd, AL_EUNSUPPORTED, "it squeezes the batch axis");
            if (x->dims[d] != 1) return nerr(nd, AL_EFORMAT, "axis %d has size %lld, not 1", d, (long long)x->dims[d]);
        } else {
            if (x->kind == V_RUN && d == x->bax) t.bax = o;
            t.dims[o++] = x->dims[d];
        }
    }
    t.ndim = o;
    if (x->kind == V_CONST) { /* same data, new dims */
        if (x->is_int) {
            t.i = al_malloc(x->numel ? x->numel * sizeof(int64_t) : 1);
            if (!t.i) return AL_ENOMEM;
            if (x->numel) memcpy(t.i, x->i, x->numel * sizeof(int64_t));
        } else {
            t.f = copy_floats(x->f, x->numel);
            if (!t.f) return AL_ENOMEM;
        }
    } else if (x->pad) {
        return nerr(nd, AL_EUNSUPPORTED, "it reshapes a padded tensor");
    }
    return define(I, nd, nd->output[0], &t);
}

/* Concat of constants: shape vectors (torch's Shape -> Gather -> Unsqueeze ->
 * Concat), or weights (the torch.export-based exporter reorders an LSTM's
 * gates from PyTorch's i, f, g, o to ONNX's i, o, f, c with Slice and Concat
 * of the weight matrix). Activations cannot be concatenated. */
/* Concat of layer outputs (Inception, SqueezeNet's fire modules, DenseNet):
 * along a per-sample axis, each input exactly our per-sample shape; n inputs
 * become one `concat` layer reading all n (input 0 as its primary input,
 * the others as its operands, in order), so each is copied once. */
static al_status concat_layers(imp *I, const Onnx__NodeProto *nd, int64_t axis) {
    al_status st;
    val *a0;
    if ((st = get_in(I, nd, 0, 1, &a0))) return st;
    int r = a0->ndim;
    if (axis < 0) axis += r;
    if (axis < 0 || axis >= r) return nerr(nd, AL_EFORMAT, "attribute 'axis' is out of range");
    int64_t od[MAXR];
    memcpy(od, a0->dims, sizeof od);
    for (size_t q = 0; q < nd->n_input; q++) {
        val *a;
        if ((st = get_in(I, nd, q, 1, &a))) return st;
        if (a->kind != V_RUN)
            return nerr(nd, AL_EUNSUPPORTED, "input %zu ('%.100s') is a constant: a Concat of a layer's output with a "
                                             "constant is not supported", q, a->name);
        if (!exact(a, r) || a->pad || a->softmax) return shape_err(nd, a, "the batch on axis 0, the same rank as input 0");
        if (axis == 0) return nerr(nd, AL_EUNSUPPORTED, "a Concat along the batch axis is not supported");
        for (int d = 1; d < r; d++)
            if (d != axis && a->dims[d] != a0->dims[d]) return nerr(nd, AL_EFORMAT, "the inputs' shapes differ off the axis");
        if (q) od[axis] += a->dims[axis]; /* each at most MAX_SAMPLE (define), at most 65 */
    }
    if (od[axis] > MAX_SAMPLE)
        return nerr(nd, AL_ERANGE, "the inputs add up to %lld along axis %lld, more than %lld values per sample",
                    (long long)od[axis], (long long)axis, (long long)MAX_SAMPLE);
    if (nd->n_input == 1) return define_run(I, nd, nd->output[0], a0);
    if (nd->n_input > AL_MAX_SRCS + 1)
        return nerr(nd, AL_EUNSUPPORTED, "%zu inputs; a concat reads at most %d", nd->n_input, AL_MAX_SRCS + 1);
    al_shape os = a0->os;
    pend *L = NULL;
    read_val(I, a0);
    if ((st = emit(I, nd, AL_L_CONCAT, &L))) return st;
    L->cfg.axis = (int)axis - 1;
    L->cfg.nmore = (int)nd->n_input - 2;
    for (size_t q = 1; q < nd->n_input; q++) {
        val *a = find(I, nd->input[q]);
        *al_cfg_src_ref(&L->cfg, (int)q - 1) = a->node;
        *al_cfg_src_port_ref(&L->cfg, (int)q - 1) = a->port;
        os.d[axis - 1] += a->os.d[axis - 1];
    }
    return define_layer_out(I, nd, od, r, 0, &os, 0);
}

static al_status op_concat(imp *I, const Onnx__NodeProto *nd) {
    static const char *const ok[] = {"axis", NULL};
    al_status st;
    int64_t axis;
    if ((st = check_attrs(nd, ok)) || (st = attr_int(nd, "axis", 0, &axis))) return st;
    if (nd->n_input < 1 || nd->n_input > AL_MAX_SRCS + 1) return nerr(nd, AL_EUNSUPPORTED, "%zu inputs", nd->n_input);
    val *first;
    if ((st = get_in(I, nd, 0, 1, &first))) return st;
    if (first->kind == V_RUN) return concat_layers(I, nd, axis);
    if (nd->n_input == 2 && first->fill && first->ndim >= 2 && first->dims[0] == BATCH) {
        val *x;
        if ((st = get_in(I, nd, 1, 1, &x))) return st;
        if (x->kind == V_RUN) return prepend_layer(I, nd, first, x, axis);
    }
    val *a0 = NULL;
    int64_t tot = 0;
    for (size_t q = 0; q < nd->n_input; q++) {
        val *a;
        if ((st = get_in(I, nd, q, 1, &a))) return st;
        if (a->kind != V_CONST)
            return nerr(nd, AL_EUNSUPPORTED, "input %zu ('%.100s') is a layer's output: only the Concat of constants "
                                             "(shapes, weights) is supported", q, a->name);
        if (a->fill) return nerr(nd, AL_EUNSUPPORTED, "input %zu depends on the batch size", q);
        if (q == 0) {
            a0 = a;
            if (a->ndim < 1) return nerr(nd, AL_EFORMAT, "the inputs must have at least one dimension");
            if (axis < 0) axis += a->ndim;
            if (axis < 0 || axis >= a->ndim) return nerr(nd, AL_EFORMAT, "attribute 'axis' is out of range");
        }
        if (a->is_int != a0->is_int || a->ndim != a0->ndim)
            return nerr(nd, AL_EFORMAT, "the inputs differ in type or rank");
        for (int d = 0; d < a->ndim; d++)
            if (d != axis && a->dims[d] != a0->dims[d]) return nerr(nd, AL_EFORMAT, "the inputs' shapes differ off the axis");
        tot += a->dims[axis]; /* each at most INT32_MAX, at most 64 of them */
    }
    val t;
    memset(&t, 0, sizeof t);
    t.kind = V_CONST;
    t.is_int = a0->is_int;
    t.ndim = a0->ndim;
    memcpy(t.dims, a0->dims, sizeof t.dims);
    t.dims[axis] = tot;
    if (numel_of(t.dims, (size_t)t.ndim, &t.numel)) return nerr(nd, AL_ERANGE, "the result is too large");
    size_t esz = t.is_int ? sizeof(int64_t) : sizeof(float), outer = 1, inner = 1;
    for (int d = 0; d < axis; d++) outer *= (size_t)t.dims[d];
    for (int d = (int)axis + 1; d < t.ndim; d++) inner *= (size_t)t.dims[d];
    unsigned char *o = al_malloc(t.numel ? t.numel * esz : 1);
    if (!o) return AL_ENOMEM;
    size_t off = 0;
    for (size_t r = 0; r < outer; r++)
        for (size_t q = 0; q < nd->n_input; q++) {
            const val *a = find(I, nd->input[q]);
            size_t blk = (size_t)a->dims[axis] * inner * esz;
            const unsigned char *src = t.is_int ? (const unsigned char *)a->i : (const unsigned char *)a->f;
            if (blk) memcpy(o + off, src + r * blk, blk);
            off += blk;
        }
    if (t.is_int)
        t.i = (int64_t *)(void *)o;
    else
        t.f = (float *)(void *)o;
    return define(I, nd, nd->output[0], &t);
}

/* A float constant expanded over the batch on axis 0 only (t: the
 * expanded dims, BATCH at 0): a bcast value holding one sample's elements. */
static al_status expand_bcast(imp *I, const Onnx__NodeProto *nd, const val *x, val *t) {
    int only0 = x->ndim == t->ndim && t->dims[0] == BATCH && x->dims[0] == 1 && !x->is_int;
    for (int d = 1; only0 && d < t->ndim; d++) only0 = t->dims[d] != BATCH;
    if (!only0)
        return nerr(nd, AL_EUNSUPPORTED, "it expands a constant that is not uniform over the batch size: only a float "
                                         "[1, ...] expanded on axis 0 (a class token), or equal elements, is supported");
    t->dims[0] = 1;
    if (numel_of(t->dims, (size_t)t->ndim, &t->numel) || t->numel > ((size_t)1 << 24))
        return nerr(nd, AL_ERANGE, "the constant is too large");
    int64_t xs[MAXR], acc = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        xs[d] = x->dims[d] == 1 ? 0 : acc;
        acc *= x->dims[d] ? x->dims[d] : 1;
    }
    if (const_gather(t, x, NULL, NULL, xs)) return AL_ENOMEM;
    t->dims[0] = BATCH;
    t->fill = 1;
    t->fillv = NAN;
    t->bcast = 1;
    return define(I, nd, nd->output[0], t);
}

/* Concat of [c, x]: c a constant [1 or N, ...] the same for every sample (a
 * ViT's class token, expanded over the batch), x a layer output: a prepend
 * layer holding c as its learned weight. */
static al_status prepend_layer(imp *I, const Onnx__NodeProto *nd, const val *c, const val *x, int64_t axis) {
    if (x->bax != 0 || x->bpart > 1 || c->ndim != x->ndim || c->is_int)
        return nerr(nd, AL_EUNSUPPORTED, "a constant joined to a layer output must be float, of the same rank, the "
                                         "batch on axis 0");
    if (axis < 0) axis += x->ndim;
    if (axis < 1 || axis >= x->ndim) return nerr(nd, AL_EUNSUPPORTED, "joining along the batch axis is not supported");
    for (int d = 1; d < x->ndim; d++)
        if (d != axis && c->dims[d] != x->dims[d])
            return nerr(nd, AL_EFORMAT, "the inputs' shapes differ off the axis");
    /* a fill's dims may hold the batch symbol (INT64_MIN) past axis 0 */
    if (c->dims[axis] < 1 || c->dims[axis] > MAX_DIM)
        return nerr(nd, AL_EUNSUPPORTED, "the constant's size along axis %lld must be a number in 1..%lld (not the "
                    "batch size)", (long long)axis, (long long)MAX_DIM);
    int node;
    al_shape os;
    al_status st = want_logical(I, nd, x, &node, &os);
    if (st) return st;
    size_t n = (size_t)c->dims[axis];
    for (int d = 1; d < x->ndim; d++)
        if (d != axis) n *= (size_t)c->dims[d];
    float *w = al_malloc(n ? n * sizeof(float) : 1);
    if (!w) return AL_ENOMEM;
    for (size_t q = 0; q < n; q++) w[q] = c->fill && !c->bcast ? (float)c->fillv : c->f[q]; /* uniform, or one sample's */
    pend *L = NULL;
    if ((st = emit(I, nd, AL_L_PREPEND, &L))) {
        al_free(w);
        return st;
    }
    L->cfg.units = (int)c->dims[axis];
    L->cfg.axis = ps_axis(x, (int)axis);
    if ((st = set_param(L, "weight", &w, n))) {
        al_free(w);
        return st;
    }
    int64_t od[MAXR];
    memcpy(od, x->dims, sizeof od);
    od[axis] += c->dims[axis];
    os.d[L->cfg.axis] += L->cfg.units;
    return define_layer_out(I, nd, od, x->ndim, 0, &os, 0);
}

/* Expand of a layer output to a constant shape (the batch axis kept): an
 * expand layer broadcasting the per-sample shape. */
static al_status expand_layer(imp *I, const Onnx__NodeProto *nd, const val *x, const val *s) {
    if (s->kind != V_CONST || !s->is_int || s->fill || s->ndim != 1 || s->numel > MAXR)
        return nerr(nd, AL_EUNSUPPORTED, "the shape must be a constant 1-D integer vector of at most %d", MAXR);
    if (x->bpart > 1 || x->bax != 0 || (int)s->numel != x->ndim)
        return nerr(nd, AL_EUNSUPPORTED, "only an Expand of a layer output to the same rank, the batch on axis 0, is supported");
    int r = x->ndim;
    int64_t od[MAXR];
    od[0] = x->dims[0];
    int64_t b = s->i[0];
    if (!(b == 1 || b == BATCH || b == x->dims[0])) return nerr(nd, AL_EUNSUPPORTED, "it expands the batch axis");
    al_shape os;
    os.ndim = r - 1;
    for (int d = 1; d < r; d++) {
        int64_t t = s->i[d], xd = x->dims[d];
        if (t == 1) t = xd;
        if (t < 1 || t > MAX_DIM || (xd != 1 && xd != t))
            return nerr(nd, AL_EFORMAT, "dimension %d of size %lld cannot be expanded to %lld", d, (long long)xd,
                        (long long)s->i[d]);
        od[d] = t;
        if (d - 1 >= AL_SHAPE_MAX) return nerr(nd, AL_EUNSUPPORTED, "more than %d per-sample axes", AL_SHAPE_MAX);
        os.d[d - 1] = (int)t;
    }
    int node;
    al_shape is;
    al_status st = want_logical(I, nd, x, &node, &is);
    if (st) return st;
    pend *L = NULL;
    if ((st = emit(I, nd, AL_L_EXPAND, &L))) return st;
    L->cfg.ndims = os.ndim;
    for (int d = 0; d < os.ndim; d++) L->cfg.dims[d] = os.d[d];
    return define_like(I, nd, x, od, r, &os);
}

/* Expand of a constant: numpy broadcasting to a constant shape. torch writes
 * an LSTM's zero initial state as zeros [1, B, H] (B the batch of the export)
 * expanded to [1, N, H] with N the batch size read by Shape -> Gather. A target
 * dimension that is the batch size over a dimension of 1 makes a constant that
 * depends on the batch size: only a uniform one (every element equal; zeros)
 * is supported, held as a fill. Expanding a layer's output is refused. */
static al_status op_expand(imp *I, const Onnx__NodeProto *nd) {
    val *x, *s;
    al_status st;
    if ((st = check_attrs(nd, NULL)) || (st = get_in(I, nd, 0, 1, &x)) || (st = get_in(I, nd, 1, 1, &s))) return st;
    if (x->kind == V_RUN) return expand_layer(I, nd, x, s);
    if (s->kind != V_CONST || !s->is_int || s->fill || s->ndim != 1 || s->numel > MAXR)
        return nerr(nd, AL_EUNSUPPORTED, "the shape must be a constant 1-D integer vector of at most %d", MAXR);
    int ns = (int)s->numel, r = x->ndim > ns ? x->ndim : ns, sym = 0;
    int64_t od[MAXR];
    for (int d = 0; d < r; d++) {
        int xi = d - (r - x->ndim), si = d - (r - ns);
        int64_t xd = xi >= 0 ? x->dims[xi] : 1, sd = si >= 0 ? s->i[si] : 1;
        if (xd == BATCH) { /* a fill's batch axis: stays the batch */
            if (sd != 1 && sd != BATCH)
                return nerr(nd, AL_EUNSUPPORTED, "dimension %d: the batch size expanded to %lld", d, (long long)sd);
            od[d] = BATCH;
        } else if (sd == BATCH) {
            od[d] = xd == 1 ? BATCH : xd;
            sym |= xd == 1;
        } else if (sd < 0 || sd > MAX_DIM) {
            return nerr(nd, AL_EFORMAT, "target dimension %lld is out of range", (long long)sd);
        } else if (sd == xd || sd == 1) {
            od[d] = xd;
        } else if (xd == 1) {
            od[d] = sd;
        } else {
            return nerr(nd, AL_EFORMAT, "dimension %d of size %lld cannot be expanded to %lld", d, (long long)xd,
                        (long long)sd);
        }
    }
    val t;
    memset(&t, 0, sizeof t);
    t.kind = V_CONST;
    t.is_int = x->is_int;
    t.ndim = r;
    memcpy(t.dims, od, sizeof(int64_t) * (size_t)r);
    if (sym || x->fill) {
        double v = 0.0;
        if (x->fill) {
            v = x->fillv;
        } else {
            if (x->numel == 0) return nerr(nd, AL_EUNSUPPORTED, "an empty constant expanded over the batch size");
            v = x->is_int ? (double)x->i[0] : (double)x->f[0];
            int uniform = 1;
            for (size_t q = 1; uniform && q < x->numel; q++)
                uniform = x->is_int ? x->i[q] == x->i[0] : x->f[q] == x->f[0];
            if (!uniform) return expand_bcast(I, nd, x, &t);
        }
        t.fill = 1;
        t.fillv = v;
        return define(I, nd, nd->output[0], &t);
    }
    if (numel_of(t.dims, (size_t)r, &t.numel) || t.numel > ((size_t)1 << 24))
        return nerr(nd, AL_ERANGE, "the constant is too large");
    /* strides of x in the broadcast output's axes (0 where x has size 1 or no axis) */
    int64_t xs[MAXR], acc = 1;
    for (int d = r - 1; d >= 0; d--) {
        int xi = d - (r - x->ndim);
        int64_t xd = xi >= 0 ? x->dims[xi] : 1;
        xs[d] = xd == 1 ? 0 : acc;
        acc *= xd ? xd : 1;
    }
    if (const_gather(&t, x, NULL, NULL, xs)) return AL_ENOMEM;
    return define(I, nd, nd->output[0], &t);
}

/* Slice of a constant (numpy slicing with starts, ends, axes, steps): the
 * torch.export-based exporter reorders an LSTM's gates this way; shape
 * vectors too. Slicing a layer's output is refused. */
/* A slice [start, end) (step 1) of a layer output along ONNX axis `axis`,
 * a per-sample axis: a slice layer, the value defined as output `out`. */
static al_status slice_layer(imp *I, const Onnx__NodeProto *nd, const val *x, int axis, int64_t start, int64_t end,
                             int64_t step, const char *out) {
    int a = axis >= 0 && axis < x->ndim ? ps_axis(x, axis) : -1;
    if (a < 0) return nerr(nd, AL_EUNSUPPORTED, "slicing the batch axis is not supported");
    if (x->bpart > 1 && axis == x->bax) return nerr(nd, AL_EUNSUPPORTED, "slicing an axis that holds the batch is not supported");
    int64_t n = x->dims[axis];
    if (start < 0) start += n;
    if (end < 0) end += n;
    if (start < 0) start = 0;
    if (end > n) end = n;
    if (step < 1) return nerr(nd, AL_EUNSUPPORTED, "a step of %lld is not supported (1 or more)", (long long)step);
    if (start >= end) return nerr(nd, AL_EUNSUPPORTED, "the slice is empty");
    /* a step past the axis (n <= MAX_SAMPLE, define) takes `start` alone, as a step of n does; one past an
     * int would overflow the length below and our int step */
    if (step > INT32_MAX) step = n;
    int node;
    al_shape os;
    al_status st = want_logical(I, nd, x, &node, &os);
    if (st) return st;
    pend *L = NULL;
    if ((st = emit(I, nd, AL_L_SLICE, &L))) return st;
    L->cfg.axis = a;
    L->cfg.start = (int)start;
    L->cfg.end = (int)end;
    L->cfg.step = (int)step;
    int64_t len = (end - start + step - 1) / step;
    int64_t od[MAXR];
    memcpy(od, x->dims, sizeof od);
    od[axis] = len;
    os.d[a] = (int)len;
    val t;
    memset(&t, 0, sizeof t);
    t.kind = V_RUN;
    t.ndim = x->ndim;
    memcpy(t.dims, od, sizeof t.dims);
    t.bax = x->bax;
    t.bpart = x->bpart;
    t.bouter = x->bouter;
    t.node = I->nl - 1;
    t.os = os;
    /* the layer takes its output's name (a Split has several) when free */
    name_last_layer(I, out);
    return define(I, nd, out, &t);
}

/* Split of a layer output into consecutive parts along a per-sample axis:
 * one split layer, output q of the ONNX node its port q (docs/ONNX.md).
 * Sizes from the 'split' input (opset 13+) or attribute (before), else
 * num_outputs (opset 18) or the outputs' count: equal parts, the last one
 * smaller when they do not divide. */
static al_status op_split(imp *I, const Onnx__NodeProto *nd) {
    static const char *const ok[] = {"axis", "split", "num_outputs", NULL};
    val *x, *sp = NULL;
    al_status st;
    int64_t axis;
    if ((st = check_attrs(nd, ok)) || (st = get_in(I, nd, 0, 1, &x)) || (st = attr_int(nd, "axis", 0, &axis))) return st;
    if (x->kind != V_RUN) return nerr(nd, AL_EUNSUPPORTED, "only the Split of a layer output is supported");
    if (axis < 0) axis += x->ndim;
    if (axis < 0 || axis >= x->ndim) return nerr(nd, AL_EFORMAT, "attribute 'axis' is out of range");
    size_t k = nd->n_output;
    if (k < 1 || k > 64) return nerr(nd, AL_EUNSUPPORTED, "%zu outputs", k);
    int64_t sizes[64], n = x->dims[axis];
    const int64_t *av = NULL;
    size_t na = 0;
    if (I->opset >= 13) {
        if ((st = get_const(I, nd, 1, 0, 1, "split", &sp))) return st;
        if (sp) av = sp->i, na = sp->numel;
    } else if ((st = attr_ints(nd, "split", &av, &na))) {
        return st;
    }
    if (av) {
        if (na != k) return nerr(nd, AL_EFORMAT, "'split' has %zu sizes for %zu outputs", na, k);
        int64_t tot = 0;
        for (size_t q = 0; q < k; q++) {
            if (av[q] < 1) return nerr(nd, AL_EUNSUPPORTED, "a part of size %lld", (long long)av[q]);
            if (av[q] > n) /* each at most the axis, so the sum of at most 64 cannot overflow */
                return nerr(nd, AL_EFORMAT, "a part of size %lld, the axis has %lld", (long long)av[q], (long long)n);
            sizes[q] = av[q];
            tot += av[q];
        }
        if (tot != n) return nerr(nd, AL_EFORMAT, "the parts add up to %lld, the axis has %lld", (long long)tot, (long long)n);
    } else { /* equal parts, the last one smaller when it does not divide */
        int64_t part = (n + (int64_t)k - 1) / (int64_t)k;
        for (size_t q = 0; q < k; q++) sizes[q] = AL_MIN(part, n - part * (int64_t)q);
        if (sizes[k - 1] < 1) return nerr(nd, AL_EFORMAT, "%lld elements do not split into %zu parts", (long long)n, k);
    }
    int64_t nout;
    if ((st = attr_int(nd, "num_outputs", (int64_t)k, &nout))) return st;
    if (nout != (int64_t)k)
        return nerr(nd, AL_EFORMAT, "attribute 'num_outputs' = %lld, the node has %zu outputs", (long long)nout, k);
    for (size_t q = 0; q < k; q++) {
        const char *out = nm(nd->output[q]);
        if (*out && uses(I, out) && find(I, out)) return nerr(nd, AL_EFORMAT, "output '%.100s' is defined twice", out);
    }
    int used = 0;
    for (size_t q = 0; q < k; q++) used |= *nm(nd->output[q]) && uses(I, nm(nd->output[q]));
    if (!used) return AL_OK; /* nothing reads it: no layer */
    int a = ps_axis(x, (int)axis);
    if (a < 0) return nerr(nd, AL_EUNSUPPORTED, "splitting the batch axis is not supported");
    if (x->bpart > 1 && axis == x->bax) return nerr(nd, AL_EUNSUPPORTED, "splitting an axis that holds the batch is not supported");
    int node;
    al_shape os;
    if ((st = want_logical(I, nd, x, &node, &os))) return st;
    pend *L = NULL;
    if ((st = emit(I, nd, AL_L_SPLIT, &L))) return st;
    L->cfg.axis = a;
    L->cfg.nout = (int)k;
    for (size_t q = 0; q < k; q++) L->cfg.sizes[q] = (int)sizes[q];
    /* the node takes its name, else its first output's, when free */
    const char *vn = *nm(nd->name) ? nm(nd->name) : nm(nd->output[0]);
    name_last_layer(I, vn);
    for (size_t q = 0; q < k; q++) {
        const char *out = nm(nd->output[q]);
        if (!*out || !uses(I, out)) continue;
        val t;
        memset(&t, 0, sizeof t);
        t.kind = V_RUN;
        t.ndim = x->ndim;
        memcpy(t.dims, x->dims, sizeof t.dims);
        t.dims[axis] = sizes[q];
        t.bax = x->bax;
        t.bpart = x->bpart;
        t.bouter = x->bouter;
        t.node = I->nl - 1;
        t.port = (int)q;
        t.os = os;
        t.os.d[a] = (int)sizes[q];
        if ((st = define(I, nd, out, &t))) return st;
    }
    return AL_OK;
}

static al_status op_slice(imp *I, const Onnx__NodeProto *nd) {
    static const char *const ok9[] = {"axes", "ends", "starts", NULL};
    val *x;
    al_status st;
    const int64_t *sv = NULL, *ev = NULL, *av = NULL, *pv = NULL;
    size_t ns = 0, ne = 0, na = 0, np = 0;
    if ((st = check_attrs(nd, I->opset < 10 ? ok9 : NULL)) || (st = get_in(I, nd, 0, 1, &x))) return st;
    if (x->kind == V_RUN && I->opset >= 10) { /* a layer output: one axis, constant bounds */
        val *s, *e, *a, *p;
        if ((st = get_const(I, nd, 1, 1, 1, "starts", &s)) || (st = get_const(I, nd, 2, 1, 1, "ends", &e)) ||
            (st = get_const(I, nd, 3, 0, 1, "axes", &a)) || (st = get_const(I, nd, 4, 0, 1, "steps", &p)))
            return st;
        if (s->numel != 1 || e->numel != 1 || (a && a->numel != 1) || (p && p->numel != 1))
            return nerr(nd, AL_EUNSUPPORTED, "the Slice of a layer output must name one axis");
        int64_t ax = a ? a->i[0] : 0;
        if (ax < 0) ax += x->ndim;
        int64_t e0 = e->i[0] > INT32_MAX ? INT32_MAX : e->i[0];
        return slice_layer(I, nd, x, (int)ax, s->i[0], e0, p ? p->i[0] : 1, nm(nd->output[0]));
    }
    if (x->kind != V_CONST)
        return nerr(nd, AL_EUNSUPPORTED, "only the Slice of a constant (weights, shapes) is supported; '%.100s' is a "
                                         "layer's output", x->name);
    if (x->fill) return nerr(nd, AL_EUNSUPPORTED, "input 0 depends on the batch size");
    if (I->opset < 10) {
        if ((st = attr_ints(nd, "starts", &sv, &ns)) || (st = attr_ints(nd, "ends", &ev, &ne)) ||
            (st = attr_ints(nd, "axes", &av, &na)))
            return st;
        if (nd->n_input > 1) return nerr(nd, AL_EFORMAT, "Slice before opset 10 takes 1 input");
    } else {
        val *s, *e, *a, *p;
        if ((st = get_const(I, nd, 1, 1, 1, "starts", &s)) || (st = get_const(I, nd, 2, 1, 1, "ends", &e)) ||
            (st = get_const(I, nd, 3, 0, 1, "axes", &a)) || (st = get_const(I, nd, 4, 0, 1, "steps", &p)))
            return st;
        sv = s->i, ns = s->numel, ev = e->i, ne = e->numel;
        if (a) av = a->i, na = a->numel;
        if (p) pv = p->i, np = p->numel;
        if (s->ndim != 1 || e->ndim != 1 || (a && a->ndim != 1) || (p && p->ndim != 1))
            return nerr(nd, AL_EFORMAT, "starts, ends, axes and steps must be 1-D");
    }
    int r = x->ndim;
    if (ns != ne || ns > (size_t)r || (av && na != ns) || (pv && np != ns) || (I->opset < 10 && na && na != ns))
        return nerr(nd, AL_EFORMAT, "starts, ends, axes and steps differ in length or name more axes than the rank %d", r);
    int64_t b[MAXR], step[MAXR], cnt[MAXR];
    for (int d = 0; d < r; d++) b[d] = 0, step[d] = 1, cnt[d] = x->dims[d];
    unsigned seen = 0;
    for (size_t q = 0; q < ns; q++) {
        int64_t a = av ? av[q] : (int64_t)q;
        if (a < 0) a += r;
        if (a < 0 || a >= r || (seen >> a & 1u)) return nerr(nd, AL_EFORMAT, "axis %lld is out of range or repeated", (long long)(av ? av[q] : (int64_t)q));
        seen |= 1u << a;
        int64_t dim = x->dims[a], s = sv[q], e = ev[q], p = pv ? pv[q] : 1;
        if (s == BATCH || e == BATCH)
            return nerr(nd, AL_EUNSUPPORTED, "starts or ends hold the batch size (or INT64_MIN)");
        if (p == 0) return nerr(nd, AL_EFORMAT, "a step of 0");
        /* |step| past every dimension (at most INT32_MAX) acts as 2^32; no overflow below */
        if (p > ((int64_t)1 << 32)) p = (int64_t)1 << 32;
        if (p < -((int64_t)1 << 32)) p = -((int64_t)1 << 32);
        if (s < 0) s += dim;
        if (e < 0) e += dim;
        int64_t n;
        if (p > 0) {
            s = s < 0 ? 0 : s > dim ? dim : s;
            e = e < 0 ? 0 : e > dim ? dim : e;
            n = e > s ? (e - s - 1) / p + 1 : 0;
        } else if (dim == 0) { /* nothing to take (the clamps below would make index 0) */
            s = 0;
            n = 0;
        } else {
            s = s < 0 ? 0 : s > dim - 1 ? dim - 1 : s;
            e = e < -1 ? -1 : e > dim - 1 ? dim - 1 : e;
            n = s > e ? (s - e - 1) / -p + 1 : 0;
        }
        b[a] = s, step[a] = p, cnt[a] = n;
    }
    val t;
    memset(&t, 0, sizeof t);
    t.kind = V_CONST;
    t.is_int = x->is_int;
    t.ndim = r;
    memcpy(t.dims, cnt, sizeof(int64_t) * (size_t)r);
    if (numel_of(t.dims, (size_t)r, &t.numel)) return nerr(nd, AL_ERANGE, "the result is too large");
    int64_t xs[MAXR], acc = 1; /* x's strides */
    for (int d = r - 1; d >= 0; d--) {
        xs[d] = acc;
        acc *= x->dims[d] ? x->dims[d] : 1;
    }
    /* every index lies inside x: 0 <= b + k*step < dims */
    if (const_gather(&t, x, b, step, xs)) return AL_ENOMEM;
    return define(I, nd, nd->output[0], &t);
}

/* A value attribute (one element) or 0.0f. */
static al_status value_attr(const Onnx__NodeProto *nd, val *out) {
    const Onnx__AttributeProto *a = attr(nd, "value");
    memset(out, 0, sizeof *out);
    if (!a) {
        out->kind = V_CONST;
        out->ndim = 0;
        out->numel = 1;
        out->f = al_calloc(1, sizeof(float));
        return out->f ? AL_OK : AL_ENOMEM;
    }
    if (!attr_is(a, ATYPE(TENSOR)) || !a->t) return nerr(nd, AL_EFORMAT, "attribute 'value' must be a tensor");
    return load_tensor(a->t, nm(nd->name), out);
}

static al_status op_constant_of_shape(imp *I, const Onnx__NodeProto *nd) {
    static const char *const ok[] = {"value", NULL};
    val *s, fillv;
    al_status st;
    if ((st = check_attrs(nd, ok)) || (st = get_const(I, nd, 0, 1, 1, "shape", &s))) return st;
    if ((st = value_attr(nd, &fillv))) return st;
    double v = fillv.numel != 1 ? NAN : fillv.is_int ? (double)fillv.i[0] : (double)fillv.f[0];
    int64_t iv = fillv.numel == 1 && fillv.is_int ? fillv.i[0] : 0; /* exact: a double holds 53 bits */
    int is_int = fillv.is_int;
    val_free(&fillv);
    if (isnan(v)) return nerr(nd, AL_EFORMAT, "attribute 'value' must hold one element");
    if (s->ndim != 1 || s->numel > MAXR) return nerr(nd, AL_EUNSUPPORTED, "the shape must be a 1-D vector of at most %d", MAXR);
    val t;
    memset(&t, 0, sizeof t);
    t.kind = V_CONST;
    t.is_int = is_int;
    t.ndim = (int)s->numel;
    int sym = 0;
    for (size_t d = 0; d < s->numel; d++) {
        t.dims[d] = s->i[d];
        if (s->i[d] == BATCH) sym = 1;
        else if (s->i[d] < 0 || s->i[d] > MAX_DIM) return nerr(nd, AL_EFORMAT, "dimension %lld is out of range", (long long)s->i[d]);
    }
    if (sym) {
        t.fill = 1;
        t.fillv = v;
        return define(I, nd, nd->output[0], &t);
    }
    if (numel_of(t.dims, (size_t)t.ndim, &t.numel) || t.numel > ((size_t)1 << 24))
        return nerr(nd, AL_ERANGE, "the constant is too large");
    if (is_int) {
        t.i = al_malloc(t.numel ? t.numel * sizeof(int64_t) : 1);
        if (!t.i) return AL_ENOMEM;
        for (size_t q = 0; q < t.numel; q++) t.i[q] = iv;
    } else {
        t.f = al_malloc(t.numel ? t.numel * sizeof(float) : 1);
        if (!t.f) return AL_ENOMEM;
        for (size_t q = 0; q < t.numel; q++) t.f[q] = (float)v;
    }
    return define(I, nd, nd->output[0], &t);
}

static al_status op_constant(imp *I, const Onnx__NodeProto *nd) {
    static const char *const ok[] = {"value", "value_float", "value_floats", "value_int", "value_ints", NULL};
    al_status st = check_attrs(nd, ok);
    if (st) return st;
    if (nd->n_attribute != 1) return nerr(nd, AL_EFORMAT, "a Constant needs exactly one value attribute");
    const Onnx__AttributeProto *a = nd->attribute[0];
    const char *an = nm(a->name);
    val t;
    memset(&t, 0, sizeof t);
    t.kind = V_CONST;
    if (!strcmp(an, "value")) {
        if ((st = value_attr(nd, &t))) return st;
    } else if (!strcmp(an, "value_float") || !strcmp(an, "value_floats")) {
        int one = an[11] == '\0';
        size_t n = one ? 1 : a->n_floats;
        if ((one && !a->has_f) || n > MAX_NUMEL) return nerr(nd, AL_EFORMAT, "bad '%s'", an);
        t.ndim = one ? 0 : 1;
        t.dims[0] = (int64_t)n;
        t.numel = n;
        t.f = copy_floats(one ? &a->f : a->floats, n);
        if (!t.f) return AL_ENOMEM;
    } else {
        int one = an[9] == '\0';
        size_t n = one ? 1 : a->n_ints;
        if ((one && !a->has_i) || n > MAX_NUMEL) return nerr(nd, AL_EFORMAT, "bad '%s'", an);
        t.is_int = 1;
        t.ndim = one ? 0 : 1;
        t.dims[0] = (int64_t)n;
        t.numel = n;
        t.i = al_malloc(n ? n * sizeof(int64_t) : 1);
        if (!t.i) return AL_ENOMEM;
        if (n) memcpy(t.i, one ? &a->i : a->ints, n * sizeof(int64_t));
    }
    return define(I, nd, nd->n_output ? nd->output[0] : NULL, &t);
}

static al_status op_transpose(imp *I, const Onnx__NodeProto *nd) {
    static const char *const ok[] = {"perm", NULL};
    val *x;
    const int64_t *perm;
    size_t n = 0;
    al_status st;
    if ((st = check_attrs(nd, ok)) || (st = get_in(I, nd, 0, 1, &x)) || (st = attr_ints(nd, "perm", &perm, &n))) return st;
    if ((x->kind != V_RUN && x->kind != V_CONST) || x->pad)
        return nerr(nd, AL_EUNSUPPORTED, "only the transpose of a layer's output or of a constant is supported");
    int r = x->ndim;
    int64_t p[MAXR];
    if (n && n != (size_t)r) return nerr(nd, AL_EFORMAT, "attribute 'perm' has %zu entries for rank %d", n, r);
    unsigned seen = 0;
    for (int d = 0; d < r; d++) {
        p[d] = n ? perm[d] : r - 1 - d;
        if (p[d] < 0 || p[d] >= r || (seen >> p[d] & 1u)) return nerr(nd, AL_EFORMAT, "attribute 'perm' is not a permutation");
        seen |= 1u << p[d];
    }
    if (x->kind == V_CONST) { /* folded (torch's F.pad export computes its pads so): t[i] = x[i permuted] */
        if (x->fill) return nerr(nd, AL_EUNSUPPORTED, "a transposed constant that depends on the batch size");
        val t;
        memset(&t, 0, sizeof t);
        t.kind = V_CONST;
        t.is_int = x->is_int;
        t.ndim = r;
        t.numel = x->numel;
        int64_t xst[MAXR], xs[MAXR], acc = 1;
        for (int d = r - 1; d >= 0; d--) {
            xst[d] = acc;
            acc *= x->dims[d];
        }
        for (int d = 0; d < r; d++) {
            t.dims[d] = x->dims[p[d]];
            xs[d] = xst[p[d]];
        }
        if ((st = const_gather(&t, x, NULL, NULL, xs))) return st;
        return define(I, nd, nd->output[0], &t);
    }
    /* When the per-sample data keeps its order (axes other than the batch
     * and of size > 1 stay in the same relative order) no layer is needed;
     * otherwise a transpose layer permutes the logical per-sample axes. */
    int last = -1, reorder = 0;
    val t = *x;
    t.f = NULL;
    t.i = NULL;
    t.fresh = 0;
    for (int d = 0; d < r; d++) {
        int s = (int)p[d];
        t.dims[d] = x->dims[s];
        if (s == x->bax) {
            t.bax = d;
            if (x->bpart <= 1) continue;
        }
        if (x->dims[s] == 1) continue;
        if (s < last) reorder = 1;
        last = s;
    }
    if (!reorder) return define(I, nd, nd->output[0], &t);
    int node;
    al_shape is, os;
    if ((st = want_logical(I, nd, x, &node, &is))) return st;
    pend *L = NULL;
    if ((st = emit(I, nd, AL_L_TRANSPOSE, &L))) return st;
    int k = 0;
    for (int d = 0; d < r; d++) {
        int a = ps_axis(x, (int)p[d]);
        if (a < 0) continue;
        L->cfg.dims[k] = a;
        os.d[k] = is.d[a];
        k++;
    }
    L->cfg.ndims = k;
    os.ndim = k;
    return define_like(I, nd, &t, t.dims, r, &os);
}

static al_status op_pad(imp *I, const Onnx__NodeProto *nd) {
    static const char *const ok[] = {"mode", "pads", "value", NULL};
    val *x, *pv, *cv;
    al_status st;
    char mode[32];
    if ((st = check_attrs(nd, ok)) || (st = get_current(I, nd, 0, &x)) ||
        (st = attr_str(nd, "mode", "constant", mode, sizeof mode)))
        return st;
    if (strcmp(mode, "constant"))
        return nerr(nd, AL_EUNSUPPORTED, "attribute 'mode' = %s: only constant (zero) padding is supported (not reflect, "
                                         "edge or wrap)", mode);
    const int64_t *p;
    size_t n = 0;
    float value = 0.0f;
    if (I->opset < 11) {
        if ((st = attr_ints(nd, "pads", &p, &n)) || (st = attr_float(nd, "value", 0.0f, &value))) return st;
    } else {
        if ((st = get_const(I, nd, 1, 1, 1, "pads", &pv)) || (st = get_const(I, nd, 2, 0, 0, "constant_value", &cv))) return st;
        if (in_name(nd, 3)) return nerr(nd, AL_EUNSUPPORTED, "input 'axes' is not supported");
        p = pv->i;
        n = pv->numel;
        if (cv && cv->numel != 1) return nerr(nd, AL_EUNSUPPORTED, "constant_value must be a scalar");
        if (cv) value = cv->f[0];
    }
    if (value != 0.0f) return nerr(nd, AL_EUNSUPPORTED, "padding value %g: only zero padding is supported", (double)value);
    if (!exact(x, 4) || n != 8) return shape_err(nd, x, "[N, C, H, W] with 8 pads");
    if (p[0] || p[1] || p[4] || p[5]) return nerr(nd, AL_EUNSUPPORTED, "only H and W may be padded (not N or C)");
    for (int q = 0; q < 8; q++)
        if (p[q] < 0 || p[q] > 64) return nerr(nd, AL_EUNSUPPORTED, "pad %lld: each must be 0..64 (no cropping)", (long long)p[q]);
    if (p[2] != p[3] || p[2] != p[6] || p[2] != p[7]) {
        /* not the same on all four sides: a pad layer ({t, l, b, r} = ONNX's H begin, W begin, H end, W end) */
        pend *L = NULL;
        if ((st = emit(I, nd, AL_L_PAD, &L))) return st;
        L->cfg.pads[0] = (int)p[2];
        L->cfg.pads[1] = (int)p[3];
        L->cfg.pads[2] = (int)p[6];
        L->cfg.pads[3] = (int)p[7];
        int64_t od[4] = {x->dims[0], x->dims[1], x->dims[2] + p[2] + p[6], x->dims[3] + p[3] + p[7]};
        al_shape os = {3, {x->os.d[0], (int)od[2], (int)od[3]}};
        return define_layer_out(I, nd, od, 4, 0, &os, 0);
    }
    val t = *x;
    t.f = NULL;
    t.i = NULL;
    t.fresh = 0;
    t.pad += (int)p[2];
    return define(I, nd, nd->output[0], &t);
}

static al_status op_softmax(imp *I, const Onnx__NodeProto *nd) {
    static const char *const ok[] = {"axis", NULL};
    val *x;
    al_status st;
    int64_t axis;
    if ((st = check_attrs(nd, ok)) || (st = get_current(I, nd, 0, &x)) ||
        (st = attr_int(nd, "axis", I->opset < 13 ? 1 : -1, &axis)))
        return st;
    if (axis < 0) axis += x->ndim;
    const char *o = nd->n_output ? nm(nd->output[0]) : "";
    int last = axis == x->ndim - 1 || (I->opset < 13 && axis == 1 && x->ndim == 2);
    if (!is_graph_output(I, o) || uses(I, o) != 1 || I->g->n_output != 1) {
        /* inside the graph (attention): a softmax layer over that axis */
        if (strcmp(nm(nd->op_type), "Softmax") || I->opset < 13)
            return nerr(nd, AL_EUNSUPPORTED, "inside the graph only Softmax of opset 13 or later (one axis) is supported");
        if (axis < 0 || axis >= x->ndim || ps_axis(x, (int)axis) < 0)
            return nerr(nd, AL_EUNSUPPORTED, "attribute 'axis' = %lld is the batch axis or out of range", (long long)axis);
        int node;
        al_shape os;
        if ((st = want_logical(I, nd, x, &node, &os))) return st;
        pend *L = NULL;
        if ((st = emit(I, nd, AL_L_SOFTMAX, &L))) return st;
        L->cfg.axis = ps_axis(x, (int)axis);
        return define_like(I, nd, x, x->dims, x->ndim, &os);
    }
    if (!last) return nerr(nd, AL_EUNSUPPORTED, "attribute 'axis' = %lld: only the last axis is supported", (long long)axis);
    note(I, strcmp(nm(nd->op_type), "Softmax") ? "final LogSoftmax dropped: the model outputs logits"
                                                : "final Softmax dropped: the model outputs logits");
    val t = *x;
    t.f = NULL;
    t.i = NULL;
    t.fresh = 0;
    t.softmax = 1;
    return define(I, nd, o, &t);
}

static al_status op_identity(imp *I, const Onnx__NodeProto *nd) {
    val *x;
    al_status st;
    if ((st = check_attrs(nd, NULL)) || (st = get_in(I, nd, 0, 1, &x))) return st;
    val t = *x;
    t.fresh = 0;
    t.f = NULL;
    t.i = NULL;
    if (x->kind == V_CONST && !x->fill) {
        if (x->is_int) {
            t.i = al_malloc(x->numel ? x->numel * sizeof(int64_t) : 1);
            if (!t.i) return AL_ENOMEM;
            if (x->numel) memcpy(t.i, x->i, x->numel * sizeof(int64_t));
        } else if (!(t.f = copy_floats(x->f, x->numel))) {
            return AL_ENOMEM;
        }
    }
    return define(I, nd, nd->output[0], &t);
}

/* A constant that is zero everywhere (an LSTM's initial state). */
static int all_zero(const val *v) {
    if (v->kind != V_CONST) return 0;
    if (v->fill) return v->fillv == 0.0;
    for (size_t q = 0; q < v->numel; q++)
        if (v->is_int ? v->i[q] != 0 : v->f[q] != 0.0f) return 0;
    return 1;
}

/* What the LSTM and GRU importers refuse alike: clip, activation_alpha/beta,
 * activations other than the default `want` (n of them), a layout other than
 * 0 or 1, sequence_lens. */
static al_status rnn_check_opts(const Onnx__NodeProto *nd, int64_t layout, const char *const *want, size_t n,
                                const char *want_msg) {
    if (attr(nd, "clip")) return nerr(nd, AL_EUNSUPPORTED, "attribute 'clip' is not supported");
    if (attr(nd, "activation_alpha") || attr(nd, "activation_beta"))
        return nerr(nd, AL_EUNSUPPORTED, "attribute 'activation_alpha/beta' is not supported");
    const Onnx__AttributeProto *acts = attr(nd, "activations");
    if (acts) {
        int okact = acts->n_strings == n;
        for (size_t q = 0; okact && q < n; q++)
            okact = acts->strings[q].len == strlen(want[q]) && !memcmp(acts->strings[q].data, want[q], acts->strings[q].len);
        if (!okact) return nerr(nd, AL_EUNSUPPORTED, "attribute 'activations' must be %s", want_msg);
    }
    if (layout != 0 && layout != 1) return nerr(nd, AL_EUNSUPPORTED, "attribute 'layout' = %lld", (long long)layout);
    if (in_name(nd, 4)) return nerr(nd, AL_EUNSUPPORTED, "input 'sequence_lens' is not supported (every sequence has the full length)");
    return AL_OK;
}

/* An initial state z (already known to be zeros) is [1, N, H]: N the batch
 * size (from Shape) or the export's fixed batch. */
static al_status rnn_state_shape(const Onnx__NodeProto *nd, const val *x, const val *z, const char *name, int64_t H) {
    int64_t nb = x->dims[x->bax];
    if (!z || (z->ndim == 3 && z->dims[0] == 1 && z->dims[2] == H && (z->dims[1] == BATCH || (nb > 0 && z->dims[1] == nb))))
        return AL_OK;
    char a[160];
    fmt_dims(a, sizeof a, z->dims, z->ndim, -1);
    return nerr(nd, AL_EUNSUPPORTED, "%s has shape %s: it must be [1, batch, %lld]", name, a, (long long)H);
}

/* The recurrent layer itself, for the LSTM (G = 4 gates) and the GRU (G = 3):
 * checks X [T, N, E] (layout 0, torch's) or [N, T, E] (layout 1), W
 * [1, G*H, E], R [1, G*H, H] and B [1, 2*G*H]; emits a layer of `type`
 * whose gate g is ONNX's gate from[g] (weights, then input and recurrent
 * biases); its output Y is [T, 1, N, H] (layout 0) or [N, T, 1, H], and
 * Y_h, Y_c, when read, its ports 1 and 2. */
static al_status rnn_emit(imp *I, const Onnx__NodeProto *nd, const val *x, const val *W, const val *R, const val *B,
                          int64_t H, int64_t layout, al_layer_type type, int G, const int *from) {
    int tax = layout ? 1 : 0, bax = layout ? 0 : 1;
    if (x->ndim != 3 || x->bax != bax || x->os.ndim != 2 || x->dims[tax] != x->os.d[0] || x->dims[2] != x->os.d[1])
        return shape_err(nd, x, layout ? "[N, T, E] (layout 1)" : "[T, N, E] (a Transpose of the batch-first input)");
    int T = x->os.d[0], E = x->os.d[1];
    if (H < 1 || H > MAX_DIM) return nerr(nd, AL_EFORMAT, "attribute 'hidden_size' = %lld is out of range", (long long)H);
    if (W->ndim != 3 || W->dims[0] != 1 || W->dims[1] != G * H || W->dims[2] != E)
        return nerr(nd, AL_EFORMAT, "W must be [1, %d*%lld, %d]", G, (long long)H, E);
    if (R->ndim != 3 || R->dims[0] != 1 || R->dims[1] != G * H || R->dims[2] != H)
        return nerr(nd, AL_EFORMAT, "R must be [1, %d*%lld, %lld]", G, (long long)H, (long long)H);
    if (B && (B->ndim != 2 || B->dims[0] != 1 || B->dims[1] != 2 * G * H))
        return nerr(nd, AL_EFORMAT, "B must be [1, %d*%lld]", 2 * G, (long long)H);
    pend *L = NULL;
    al_status st;
    if ((st = emit(I, nd, type, &L))) return st;
    L->cfg.units = (int)H;
    size_t h = (size_t)H, g = (size_t)G;
    const val *srcs[2] = {W, R};
    static const char *const wn[2] = {"weight_ih", "weight_hh"}, *const bn[2] = {"bias_ih", "bias_hh"};
    for (int m = 0; m < 2; m++) {
        size_t cols = (size_t)srcs[m]->dims[2];
        float *w = al_malloc(g * h * cols * sizeof(float));
        if (!w) return AL_ENOMEM;
        for (int gte = 0; gte < G; gte++)
            memcpy(w + (size_t)gte * h * cols, srcs[m]->f + (size_t)from[gte] * h * cols, h * cols * sizeof(float));
        if ((st = set_param(L, wn[m], &w, g * h * cols))) {
            al_free(w);
            return st;
        }
    }
    for (int m = 0; m < 2; m++) {
        float *b = al_calloc(g * h, sizeof(float));
        if (!b) return AL_ENOMEM;
        if (B)
            for (int gte = 0; gte < G; gte++)
                memcpy(b + (size_t)gte * h, B->f + (size_t)m * g * h + (size_t)from[gte] * h, h * sizeof(float));
        if ((st = set_param(L, bn[m], &b, g * h))) {
            al_free(b);
            return st;
        }
    }
    /* the final states Y_h (and an LSTM's Y_c) when something reads them:
     * ports 1 and 2 of the layer (lstm H outputs=3, gru H outputs=2) */
    int nout = 1;
    for (int q = 1; q < (type == AL_L_LSTM ? 3 : 2) && q < (int)nd->n_output; q++)
        if (uses(I, nm(nd->output[q]))) nout = q + 1;
    if (nout > 1) L->cfg.nout = nout;
    int64_t od[4];
    if (layout) {
        od[0] = x->dims[0], od[1] = T, od[2] = 1, od[3] = H;
    } else {
        od[0] = T, od[1] = 1, od[2] = x->dims[1], od[3] = H;
    }
    al_shape os = {2, {T, (int)H, 0}};
    if ((st = define_layer_out(I, nd, od, 4, layout ? 0 : 2, &os, 0))) return st;
    for (int q = 1; q < nout; q++) {
        const char *out = nm(nd->output[q]);
        if (!uses(I, out)) continue;
        if (find(I, out)) return nerr(nd, AL_EFORMAT, "output '%.100s' is defined twice", out);
        /* [1, N, H] (layout 0) or [N, 1, H]; per sample the port holds [H] */
        val t;
        memset(&t, 0, sizeof t);
        t.kind = V_RUN;
        t.ndim = 3;
        t.dims[0] = layout ? x->dims[0] : 1;
        t.dims[1] = layout ? 1 : x->dims[1];
        t.dims[2] = H;
        t.bax = layout ? 0 : 1;
        t.node = I->nl - 1;
        t.port = q;
        t.os.ndim = 1;
        t.os.d[0] = (int)H;
        if ((st = define(I, nd, out, &t))) return st;
    }
    return AL_OK;
}

static al_status op_lstm(imp *I, const Onnx__NodeProto *nd) {
    static const char *const ok[] = {"hidden_size", "direction", "activations", "input_forget", "layout", "clip",
                                     "activation_alpha", "activation_beta", NULL};
    static const char *const acts[3] = {"Sigmoid", "Tanh", "Tanh"};
    val *x, *W, *R, *B, *h0, *c0;
    al_status st;
    int64_t H, inf, layout;
    char dir[32];
    if ((st = check_attrs(nd, ok)) || (st = get_current(I, nd, 0, &x)) || (st = get_const(I, nd, 1, 1, 0, "W", &W)) ||
        (st = get_const(I, nd, 2, 1, 0, "R", &R)) || (st = get_const(I, nd, 3, 0, 0, "B", &B)) ||
        (st = get_in(I, nd, 5, 0, &h0)) || (st = get_in(I, nd, 6, 0, &c0)) ||
        (st = attr_int(nd, "hidden_size", 0, &H)) || (st = attr_int(nd, "input_forget", 0, &inf)) ||
        (st = attr_int(nd, "layout", 0, &layout)) || (st = attr_str(nd, "direction", "forward", dir, sizeof dir)))
        return st;
    if (nd->n_output > 3) return nerr(nd, AL_EFORMAT, "an LSTM has at most 3 outputs, this one %zu", nd->n_output);
    if (strcmp(dir, "forward"))
        return nerr(nd, AL_EUNSUPPORTED, "attribute 'direction' = %s: only a forward (single-direction) LSTM is supported", dir);
    if (inf) return nerr(nd, AL_EUNSUPPORTED, "attribute 'input_forget' = %lld is not supported", (long long)inf);
    if ((st = rnn_check_opts(nd, layout, acts, 3, "Sigmoid, Tanh, Tanh"))) return st;
    if (in_name(nd, 7)) return nerr(nd, AL_EUNSUPPORTED, "input 'P' (peepholes) is not supported");
    if ((h0 && !all_zero(h0)) || (c0 && !all_zero(c0)))
        return nerr(nd, AL_EUNSUPPORTED, "initial_h and initial_c must be absent or constant zeros");
    if ((st = rnn_state_shape(nd, x, h0, "initial_h", H)) || (st = rnn_state_shape(nd, x, c0, "initial_c", H))) return st;
    /* ONNX stacks the gates i, o, f, c; ours (PyTorch's) are i, f, g, o */
    static const int from[4] = {0, 2, 3, 1};
    return rnn_emit(I, nd, x, W, R, B, H, layout, AL_L_LSTM, 4, from);
}

/* GRU: PyTorch's nn.GRU as both exporters write it (linear_before_reset = 1,
 * forward, zero or absent initial_h). ONNX stacks the gates z, r, h; ours
 * (PyTorch's) are r, z, n. */
static al_status op_gru(imp *I, const Onnx__NodeProto *nd) {
    static const char *const ok[] = {"hidden_size", "direction", "activations", "linear_before_reset", "layout", "clip",
                                     "activation_alpha", "activation_beta", NULL};
    static const char *const acts[2] = {"Sigmoid", "Tanh"};
    val *x, *W, *R, *B, *h0;
    al_status st;
    int64_t H, lbr, layout;
    char dir[32];
    if ((st = check_attrs(nd, ok)) || (st = get_current(I, nd, 0, &x)) || (st = get_const(I, nd, 1, 1, 0, "W", &W)) ||
        (st = get_const(I, nd, 2, 1, 0, "R", &R)) || (st = get_const(I, nd, 3, 0, 0, "B", &B)) ||
        (st = get_in(I, nd, 5, 0, &h0)) || (st = attr_int(nd, "hidden_size", 0, &H)) ||
        (st = attr_int(nd, "linear_before_reset", 0, &lbr)) || (st = attr_int(nd, "layout", 0, &layout)) ||
        (st = attr_str(nd, "direction", "forward", dir, sizeof dir)))
        return st;
    if (nd->n_output > 2) return nerr(nd, AL_EFORMAT, "a GRU has at most 2 outputs, this one %zu", nd->n_output);
    if (strcmp(dir, "forward"))
        return nerr(nd, AL_EUNSUPPORTED, "attribute 'direction' = %s: only a forward (single-direction) GRU is supported", dir);
    if (lbr != 1)
        return nerr(nd, AL_EUNSUPPORTED, "attribute 'linear_before_reset' = %lld: only 1 (PyTorch's GRU) is supported",
                    (long long)lbr);
    if ((st = rnn_check_opts(nd, layout, acts, 2, "Sigmoid, Tanh"))) return st;
    if (h0 && !all_zero(h0)) return nerr(nd, AL_EUNSUPPORTED, "initial_h must be absent or constant zeros");
    if ((st = rnn_state_shape(nd, x, h0, "initial_h", H))) return st;
    static const int from[3] = {1, 0, 2};
    return rnn_emit(I, nd, x, W, R, B, H, layout, AL_L_GRU, 3, from);
}

/* ---- the graph ----------------------------------------------------------------------- */

static al_status run_node(imp *I, const Onnx__NodeProto *nd) {
    const char *op = nm(nd->op_type), *dom = nm(nd->domain);
    if (*dom && strcmp(dom, "ai.onnx")) return nerr(nd, AL_EUNSUPPORTED, "operator domain '%.60s' is not supported", dom);
    if (nd->n_output < 1) return nerr(nd, AL_EFORMAT, "the node has no output");
    I->read_from = READ_PREV; /* set by get_current or the op */
    I->read_port = 0;
    if (!strcmp(op, "Conv")) return op_conv(I, nd);
    if (!strcmp(op, "Gemm")) return op_gemm(I, nd);
    if (!strcmp(op, "MatMul")) return op_matmul(I, nd);
    if (!strcmp(op, "Add")) return op_add(I, nd);
    if (!strcmp(op, "Sum")) return op_sum(I, nd, 0);
    if (!strcmp(op, "Mean")) return op_sum(I, nd, 1);
    if (!strcmp(op, "Relu")) return op_act(I, nd, AL_L_RELU);
    if (!strcmp(op, "Sigmoid")) return op_act(I, nd, AL_L_SIGMOID);
    if (!strcmp(op, "Tanh")) return op_act(I, nd, AL_L_TANH);
    if (!strcmp(op, "HardSwish")) return op_act(I, nd, AL_L_HARDSWISH);
    if (!strcmp(op, "HardSigmoid")) return op_hardsigmoid(I, nd);
    if (!strcmp(op, "Mul")) return op_mul(I, nd);
    if (!strcmp(op, "ReduceMean")) return op_reducemean(I, nd);
    if (!strcmp(op, "Clip")) return op_clip(I, nd);
    if (!strcmp(op, "MaxPool")) return op_pool(I, nd, 1);
    if (!strcmp(op, "AveragePool")) return op_pool(I, nd, 0);
    if (!strcmp(op, "GlobalAveragePool")) return op_gap(I, nd);
    if (!strcmp(op, "BatchNormalization")) return op_batchnorm(I, nd);
    if (!strcmp(op, "Flatten")) return op_flatten_node(I, nd);
    if (!strcmp(op, "Reshape")) return op_reshape(I, nd);
    if (!strcmp(op, "Gather")) return op_gather(I, nd);
    if (!strcmp(op, "LSTM")) return op_lstm(I, nd);
    if (!strcmp(op, "GRU")) return op_gru(I, nd);
    if (!strcmp(op, "Softmax") || !strcmp(op, "LogSoftmax")) return op_softmax(I, nd);
    if (!strcmp(op, "Dropout")) return op_dropout(I, nd);
    if (!strcmp(op, "Identity")) return op_identity(I, nd);
    if (!strcmp(op, "Constant")) return op_constant(I, nd);
    if (!strcmp(op, "ConstantOfShape")) return op_constant_of_shape(I, nd);
    if (!strcmp(op, "Shape")) return op_shape(I, nd);
    if (!strcmp(op, "Unsqueeze")) return op_squeeze(I, nd, 1);
    if (!strcmp(op, "Squeeze")) return op_squeeze(I, nd, 0);
    if (!strcmp(op, "Concat")) return op_concat(I, nd);
    if (!strcmp(op, "Expand")) return op_expand(I, nd);
    if (!strcmp(op, "Slice")) return op_slice(I, nd);
    if (!strcmp(op, "Transpose")) return op_transpose(I, nd);
    if (!strcmp(op, "Pad")) return op_pad(I, nd);
    if (!strcmp(op, "Div")) return op_div(I, nd);
    if (!strcmp(op, "Split")) return op_split(I, nd);
    if (!strcmp(op, "Max")) return op_minmax(I, nd, 1);
    if (!strcmp(op, "Min")) return op_minmax(I, nd, 0);
    if (!strcmp(op, "Sub")) return op_arith(I, nd, '-');
    if (!strcmp(op, "Mod")) return op_arith(I, nd, '%');
    if (!strcmp(op, "Range")) return op_range(I, nd);
    if (!strcmp(op, "Equal")) return op_equal_where(I, nd, 0);
    if (!strcmp(op, "Where")) return op_equal_where(I, nd, 1);
    if (!strcmp(op, "Cast")) return op_cast(I, nd, 0);
    if (!strcmp(op, "Sqrt")) return op_cast(I, nd, 1);
    if (!strcmp(op, "LayerNormalization")) return op_layernorm(I, nd);
    return nerr(nd, AL_EUNSUPPORTED, "operator '%.60s' is not supported (docs/ONNX.md lists the supported ones)", op);
}

/* The one runtime input: float [N, ...] (1 to 3 per-sample dims) or integer
 * token ids [N, T]. */
static al_status graph_input(imp *I) {
    const Onnx__GraphProto *g = I->g;
    const Onnx__ValueInfoProto *in = NULL;
    for (size_t k = 0; k < g->n_input; k++) {
        if (find(I, nm(g->input[k]->name))) continue; /* an initializer: the only values defined yet */
        if (in) return al_error(AL_EUNSUPPORTED, "ONNX: the graph has more than one input ('%.100s', '%.100s')", nm(in->name), nm(g->input[k]->name));
        in = g->input[k];
    }
    if (!in) return al_error(AL_EFORMAT, "ONNX: the graph has no input");
    const char *name = nm(in->name);
    const Onnx__TypeProto *tp = in->type;
    if (!tp || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type || !tp->tensor_type->shape)
        return al_error(AL_EUNSUPPORTED, "ONNX: input '%.100s' must be a tensor of known shape", name);
    int et = tp->tensor_type->has_elem_type ? tp->tensor_type->elem_type : 0;
    if (et != T_FLOAT && et != T_INT64 && et != T_INT32)
        return al_error(AL_EUNSUPPORTED, "ONNX: input '%.100s' has element type %d; float or integer token ids are supported", name, et);
    const Onnx__TensorShapeProto *sh = tp->tensor_type->shape;
    I->input_tokens = et != T_FLOAT;
    if (sh->n_dim < 2 || sh->n_dim > 4 || (I->input_tokens && sh->n_dim != 2))
        return al_error(AL_EUNSUPPORTED, "ONNX: input '%.100s' has %zu dimensions; [N, C, H, W], [N, T, F], [N, F] or token ids [N, T] are supported",
                        name, sh->n_dim);
    val t;
    memset(&t, 0, sizeof t);
    t.kind = V_RUN;
    t.node = -1;
    t.ndim = (int)sh->n_dim;
    for (size_t d = 0; d < sh->n_dim; d++) {
        const Onnx__TensorShapeProto__Dimension *dm = sh->dim[d];
        int known = dm->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
        if (d == 0) {
            if (known && dm->dim_value > MAX_DIM)
                return al_error(AL_EUNSUPPORTED, "ONNX: input '%.100s' has a fixed batch of %lld, more than %lld", name,
                                (long long)dm->dim_value, (long long)MAX_DIM);
            t.dims[0] = known && dm->dim_value > 0 ? dm->dim_value : -1;
            continue;
        }
        if (!known || dm->dim_value < 1 || dm->dim_value > MAX_DIM)
            return al_error(AL_EUNSUPPORTED, "ONNX: input '%.100s' dimension %zu must be a fixed size in 1..%lld", name, d,
                            (long long)MAX_DIM);
        t.dims[d] = dm->dim_value;
        t.os.d[d - 1] = (int)dm->dim_value;
    }
    t.os.ndim = t.ndim - 1;
    I->in = t.os;
    return define(I, NULL, name, &t);
}

static al_status import_model(const Onnx__ModelProto *mp, al_model **out) {
    imp *I = al_calloc(1, sizeof *I);
    if (!I) return AL_ENOMEM;
    al_model *m = NULL;
    al_status st = AL_OK;
    const Onnx__GraphProto *g = mp->graph;
    if (!g) {
        st = al_error(AL_EFORMAT, "ONNX: the model has no graph");
        goto done;
    }
    I->g = g;
    I->opset = -1;
    for (size_t k = 0; k < mp->n_opset_import; k++) {
        const char *d = nm(mp->opset_import[k]->domain);
        if ((!*d || !strcmp(d, "ai.onnx")) && mp->opset_import[k]->has_version) I->opset = mp->opset_import[k]->version;
    }
    if (I->opset < 1 || I->opset > 1000) {
        st = al_error(AL_EFORMAT, "ONNX: the model does not import the default operator set");
        goto done;
    }
    if (g->n_node > MAX_GRAPH || g->n_initializer > MAX_GRAPH || g->n_input > MAX_GRAPH || g->n_output > MAX_GRAPH) {
        st = al_error(AL_ERANGE, "ONNX: the graph is too large (%zu nodes, %zu initializers; at most %d)", g->n_node,
                      g->n_initializer, MAX_GRAPH);
        goto done;
    }
    if (g->n_sparse_initializer) {
        st = al_error(AL_EUNSUPPORTED, "ONNX: sparse initializers are not supported");
        goto done;
    }
    if (g->n_output != 1) {
        st = al_error(AL_EUNSUPPORTED, "ONNX: the graph has %zu outputs; exactly one is supported", g->n_output);
        goto done;
    }
    /* every operator writes at least one output: the pattern matchers read a
     * node's output[0] without asking */
    for (size_t k = 0; k < g->n_node; k++)
        if (g->node[k]->n_output == 0) {
            st = al_error(AL_EINVAL, "ONNX: node %zu (%.60s) has no output", k, nm(g->node[k]->op_type));
            goto done;
        }
    if ((st = names_build(I, g))) goto done;
    for (size_t k = 0; k < g->n_initializer && !st; k++) {
        val t;
        const char *name = nm(g->initializer[k]->name);
        if (!(st = load_tensor(g->initializer[k], name, &t))) st = define(I, NULL, name, &t);
    }
    if (st || (st = graph_input(I))) goto done;
    if (!(I->skip = al_calloc(g->n_node ? g->n_node : 1, 1))) {
        st = AL_ENOMEM;
        goto done;
    }
    for (size_t k = 0; k < g->n_node && !st; k++)
        if (!I->skip[k]) st = run_node(I, g->node[k]);
    if (st) goto done;

    const char *oname = nm(g->output[0]->name);
    val *y = find(I, oname);
    if (!y || y->kind != V_RUN) {
        st = al_error(AL_EUNSUPPORTED, "ONNX: the graph output '%.100s' is not computed from the input", oname);
        goto done;
    }
    if (I->nl == 0) {
        st = al_error(AL_EUNSUPPORTED, "ONNX: the graph has no layers");
        goto done;
    }
    if (y->node != I->nl - 1 || y->port || y->pad) {
        st = al_error(AL_EUNSUPPORTED, "ONNX: the graph output '%.100s' is not the last layer's output", oname);
        goto done;
    }
    /* ONNX output numel per sample must be ours */
    size_t on = 1;
    for (int d = 0; d < y->ndim; d++)
        if (d != y->bax) on *= (size_t)y->dims[d];
    if (on != al_shape_numel(&y->os)) {
        st = al_error(AL_EUNSUPPORTED, "ONNX: the output has %zu values per sample, the imported model %zu", on,
                      al_shape_numel(&y->os));
        goto done;
    }

    al_layer_cfg *cfg = al_malloc(sizeof *cfg * (size_t)I->nl);
    if (!cfg) {
        st = AL_ENOMEM;
        goto done;
    }
    for (int i = 0; i < I->nl; i++) cfg[i] = I->L[i].cfg;
    st = al_model_build(&I->in, I->input_tokens, cfg, I->nl, &m);
    al_free(cfg);
    if (st) goto done;
    for (int i = 0; i < I->nl && !st; i++) {
        al_node *nd = &m->nodes[i];
        pend *p = &I->L[i];
        if (nd->nparams != p->np)
            st = al_error(AL_ESHAPE, "ONNX: layer %d (%s) has %d weight tensors, the file gave %d", i,
                          al_layer_type_name(nd->cfg.type), nd->nparams, p->np);
        for (int q = 0; q < nd->nparams && !st; q++) {
            size_t n = 0;
            const float *w = param(p, nd->params[q].name, &n);
            if (!w || n != nd->params[q].n)
                st = al_error(AL_ESHAPE, "ONNX: layer %d (%s): %s has %zu values, the layer needs %zu", i,
                              al_layer_type_name(nd->cfg.type), nd->params[q].name, n, nd->params[q].n);
            else
                memcpy(nd->params[q].w, w, n * sizeof(float));
        }
    }
    char buf[160];
    if (!st && (mp->producer_name || mp->producer_version)) {
        snprintf(buf, sizeof buf, "%.60s %.60s", nm(mp->producer_name), nm(mp->producer_version));
        st = al_model_set_meta(m, "onnx.producer", buf);
    }
    if (!st) {
        snprintf(buf, sizeof buf, "%lld", (long long)I->opset);
        st = al_model_set_meta(m, "onnx.opset", buf);
    }
    if (!st && I->notes[0]) st = al_model_set_meta(m, "onnx.notes", I->notes);
    if (!st && I->notes[0]) al_log(AL_LOG_INFO, "ONNX import: %s", I->notes);

done:
    al_free(I->skip);
    al_free(I->names);
    al_free(I->rdr);
    for (size_t k = 0; k < I->nv; k++) val_free(&I->v[k]);
    al_free(I->v);
    for (int i = 0; i < I->nl; i++)
        for (int q = 0; q < I->L[i].np; q++) al_free(I->L[i].w[q]);
    al_free(I->L);
    al_free(I);
    if (st) {
        al_model_free(m);
        return st;
    }
    *out = m;
    return AL_OK;
}

/* ---- entry points -------------------------------------------------------------------- */

/* protobuf-c reports a failed allocation as it does malformed data (a NULL
 * message); u, an int, records that one failed so the import can say so */
static void *pb_alloc(void *u, size_t n) {
    void *p = al_malloc(n ? n : 1);
    if (!p) *(int *)u = 1;
    return p;
}
static void pb_free(void *u, void *p) {
    (void)u;
    al_free(p);
}

al_status al_model_import_onnx_mem(const void *buf, size_t n, al_model **out) {
    if (!out || (!buf && n)) return al_error(AL_EINVAL, "al_model_import_onnx_mem: NULL argument");
    *out = NULL;
    if (n == 0) return al_error(AL_EFORMAT, "ONNX: the file is empty");
    if (n > MAX_FILE) return al_error(AL_ERANGE, "ONNX: the file is larger than 2 GiB");
    int oom = 0;
    ProtobufCAllocator a = {pb_alloc, pb_free, &oom};
    Onnx__ModelProto *mp = onnx__model_proto__unpack(&a, n, buf);
    if (!mp && oom) return al_error(AL_ENOMEM, "ONNX: out of memory while parsing the protobuf data");
    if (!mp) return al_error(AL_EFORMAT, "ONNX: not a valid ONNX model (the protobuf data is malformed or truncated)");
    al_status st = import_model(mp, out);
    onnx__model_proto__free_unpacked(mp, &a);
    return st;
}

al_status al_model_import_onnx(const char *path, al_model **out) {
    if (!path || !out) return al_error(AL_EINVAL, "al_model_import_onnx: NULL argument");
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return al_error(AL_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fclose(f);
        return al_error(AL_EIO, "%s: not a regular file", path);
    }
    if ((unsigned long long)sb.st_size > MAX_FILE) {
        fclose(f);
        return al_error(AL_ERANGE, "%s: larger than 2 GiB", path);
    }
    size_t n = (size_t)sb.st_size;
    void *buf = al_malloc(n ? n : 1);
    if (!buf) {
        fclose(f);
        return AL_ENOMEM;
    }
    size_t r = n ? fread(buf, 1, n, f) : 0;
    int bad = ferror(f);
    fclose(f);
    if (bad || r != n) {
        al_free(buf);
        return al_error(AL_EIO, "%s: read error", path);
    }
    al_status st = al_model_import_onnx_mem(buf, n, out);
    al_free(buf);
    if (st) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", al_last_error());
        return al_error(st, "%s: %s", path, msg);
    }
    return AL_OK;
}
