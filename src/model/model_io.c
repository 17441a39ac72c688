/* Model files: a GGUF v3 container (gguf.c) with the architecture as
 * autlearn.* metadata and one F32 tensor per parameter, named
 * "{node}.{param}" ("0.weight", "3.running_mean"). docs/FORMAT.md lists every
 * key. Loading rebuilds the graph from the per-layer keys (the spec string is
 * informational only), and checks every tensor against the shapes the layers
 * declare before any weight memory is allocated. */

#include "model/model.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define AL_MODEL_FORMAT_VERSION 1u
/* Written instead of 1 when a layer has a fused activation
 * (autlearn.layer.N.act) or a low-rank LSTM (autlearn.layer.N.rank), so
 * that a build that does not know the key refuses the file rather than
 * dropping the activation or misreading the weights. */
#define AL_MODEL_FORMAT_VERSION_ACT 2u
/* Written when a node reads an earlier node than the previous one as its
 * primary input (autlearn.layer.N.in: the model is a graph, not a chain),
 * or a pool uses ceil mode (autlearn.layer.N.ceil), or a mul broadcasts
 * (autlearn.layer.N.mode 1; an older build would read it as the
 * squeeze-excite scale).
 * Versions 1 and 2 load unchanged: every node reads the previous one. */
#define AL_MODEL_FORMAT_VERSION_GRAPH 3u
/* Written when a concat or a sum reads more than two inputs
 * (autlearn.layer.N.more: the operands after src), which a version-3 build
 * would drop. Versions 1 to 3 load unchanged: no node has a .more. */
#define AL_MODEL_FORMAT_VERSION_NARY 4u
/* Version 5 is written when a node has several outputs (a split:
 * autlearn.layer.N.outputs and .sizes) or a reference names a later output
 * of one (.in_port, .src_port, .more_port), or when a conv, dwconv or gconv
 * is dilated (.dil): what a version-4 build would misread (or drop, and
 * compute another convolution). Versions 1 to 4 load unchanged: every
 * reference is to port 0, no node has a .dil. */
#define AL_MODEL_FORMAT_VERSION_5 5u
/* Version 6 is written when a quantized layer carries a static input scale
 * (autlearn.layer.N.in_scale, from calibration: the int8 chain), so that a
 * build that would drop it refuses the file rather than run the frozen part
 * with other scales than the ones its accuracy was measured with. Versions
 * 1 to 5 load unchanged: no layer has one. */
#define AL_MODEL_FORMAT_VERSION_6 6u
/* Version 7 is written when a frozen add carries a static input scale
 * (autlearn.layer.N.add_scale, from calibration: the int8 residual add),
 * which a version-6 build would drop. Versions 1 to 6 load unchanged: no
 * add has one. */
#define AL_MODEL_FORMAT_VERSION_7 7u
#define AL_MODEL_FORMAT_VERSION_LAST AL_MODEL_FORMAT_VERSION_7
#define AL_ARCH "autlearn"
#define BIG (1 << 24) /* the spec parser's limit on sizes */

static const char *layer_key(char *buf, size_t cap, int i, const char *field) {
    snprintf(buf, cap, "autlearn.layer.%d.%s", i, field);
    return buf;
}

static void tensor_name(char *buf, size_t cap, int node, const char *param) { snprintf(buf, cap, "%d.%s", node, param); }

/* ---- save -------------------------------------------------------------------------- */

/* 1 when a layer needs the version-5 keys: several outputs, or a reference
 * to a port other than 0. */
/* A frozen add's static scale is saved; a trainable add's (unfrozen after
 * calibration) is not used, and not saved. */
static int saves_add_scale(const al_node *nd) { return nd->add_scale > 0.0f && !nd->trainable; }

static int uses_ports(const al_layer_cfg *c) {
    if (c->type == AL_L_SPLIT || c->nout > 1 || c->in_port) return 1;
    for (int k = 0; k < al_cfg_nsrc(c); k++)
        if (al_cfg_src_port(c, k)) return 1;
    return 0;
}

/* The version-5 keys of layer i (docs/FORMAT.md), each only where used. */
static void save_ports(gguf_writer *w, int i, const al_layer_cfg *c) {
    char k[96];
    if (c->type == AL_L_SPLIT) {
        int32_t sv[AL_MAX_OUTS];
        int no = AL_MIN(AL_MAX(c->nout, 0), AL_MAX_OUTS);
        for (int q = 0; q < no; q++) sv[q] = c->sizes[q];
        gguf_set_i32(w, layer_key(k, sizeof k, i, "outputs"), no);
        gguf_set_arr(w, layer_key(k, sizeof k, i, "sizes"), GGUF_T_I32, sv, (size_t)no);
    } else if (c->nout > 1) { /* lstm, gru: their final states as ports */
        gguf_set_i32(w, layer_key(k, sizeof k, i, "outputs"), c->nout);
    }
    if (c->in_port) gguf_set_i32(w, layer_key(k, sizeof k, i, "in_port"), c->in_port);
    if (al_cfg_nsrc(c) > 0 && c->src_port) gguf_set_i32(w, layer_key(k, sizeof k, i, "src_port"), c->src_port);
    int any = 0;
    int32_t mv[AL_MAX_SRCS - 1];
    for (int q = 0; q < c->nmore && q < AL_MAX_SRCS - 1; q++) {
        mv[q] = c->more_port[q];
        any |= mv[q] != 0;
    }
    if (any && al_layer_nary(c->type))
        gguf_set_arr(w, layer_key(k, sizeof k, i, "more_port"), GGUF_T_I32, mv, (size_t)AL_MIN(c->nmore, AL_MAX_SRCS - 1));
}

al_status al_model_save(const al_model *m, const char *path) {
    if (!m || !path) return al_error(AL_EINVAL, "al_model_save: NULL argument");
    for (int i = 0; i < m->nmeta; i++) {
        al_status st = al_model_meta_key_check(m->meta_key[i]);
        if (st) return st;
    }
    gguf_writer *w;
    al_status st = gguf_writer_new(GGUF_DEFAULT_ALIGNMENT, &w);
    if (st) return st;
    /* The writer remembers its first failure and gguf_writer_save reports
     * it, so the setters' results need not be checked one by one. */
    gguf_set_str(w, "general.architecture", AL_ARCH);
    /* the oldest version that can hold the model, so older readers load what they can */
    uint32_t ver = AL_MODEL_FORMAT_VERSION;
    for (int i = 0; i < m->nnodes; i++) {
        const al_layer_cfg *c = &m->nodes[i].cfg;
        if ((c->act || c->rank) && ver < AL_MODEL_FORMAT_VERSION_ACT) ver = AL_MODEL_FORMAT_VERSION_ACT;
        /* a graph, ceil mode, or an option a version-2 reader would ignore on a type it knows
         * (mul's broadcasting mode) */
        if ((c->back || c->ceil || (c->type == AL_L_MUL && c->mode)) && ver < AL_MODEL_FORMAT_VERSION_GRAPH)
            ver = AL_MODEL_FORMAT_VERSION_GRAPH;
        if (c->nmore > 0 && ver < AL_MODEL_FORMAT_VERSION_NARY) ver = AL_MODEL_FORMAT_VERSION_NARY;
        if ((uses_ports(c) || c->dil > 1) && ver < AL_MODEL_FORMAT_VERSION_5) ver = AL_MODEL_FORMAT_VERSION_5;
        if (m->nodes[i].q && m->nodes[i].q->in_scale > 0.0f && ver < AL_MODEL_FORMAT_VERSION_6)
            ver = AL_MODEL_FORMAT_VERSION_6;
        if (saves_add_scale(&m->nodes[i])) ver = AL_MODEL_FORMAT_VERSION_7;
    }
    gguf_set_u32(w, "autlearn.format_version", ver);
    gguf_set_str(w, "autlearn.spec", m->spec ? m->spec : "");
    gguf_set_bool(w, "autlearn.input.tokens", m->input_tokens);
    int32_t shape[3] = {0, 0, 0};
    for (int d = 0; d < m->in.ndim && d < 3; d++) shape[d] = m->in.d[d];
    gguf_set_arr(w, "autlearn.input.shape", GGUF_T_I32, shape, (size_t)m->in.ndim);
    gguf_set_u32(w, "autlearn.layer_count", (uint32_t)m->nnodes);
    gguf_set_u32(w, "autlearn.first_trainable", (uint32_t)m->freeze);
    char k[96];
    for (int i = 0; i < m->nnodes; i++) {
        const al_node *nd = &m->nodes[i];
        const al_layer_cfg *c = &nd->cfg;
        gguf_set_str(w, layer_key(k, sizeof k, i, "type"), al_layer_type_name(c->type));
        gguf_set_i32(w, layer_key(k, sizeof k, i, "units"), c->units);
        gguf_set_i32(w, layer_key(k, sizeof k, i, "k"), c->k);
        gguf_set_i32(w, layer_key(k, sizeof k, i, "stride"), c->stride);
        gguf_set_i32(w, layer_key(k, sizeof k, i, "pad"), c->pad);
        gguf_set_i32(w, layer_key(k, sizeof k, i, "vocab"), c->vocab);
        gguf_set_i32(w, layer_key(k, sizeof k, i, "src"), c->src);
        gguf_set_bool(w, layer_key(k, sizeof k, i, "bias"), c->bias);
        gguf_set_f32(w, layer_key(k, sizeof k, i, "rate"), c->rate);
        gguf_set_f32(w, layer_key(k, sizeof k, i, "eps"), c->eps);
        gguf_set_f32(w, layer_key(k, sizeof k, i, "momentum"), c->momentum);
        gguf_set_bool(w, layer_key(k, sizeof k, i, "trainable"), nd->trainable);
        if (c->act) gguf_set_i32(w, layer_key(k, sizeof k, i, "act"), c->act);
        if (c->rank) gguf_set_i32(w, layer_key(k, sizeof k, i, "rank"), c->rank);
        if (c->back) gguf_set_i32(w, layer_key(k, sizeof k, i, "in"), i - 1 - c->back);
        if (c->name[0]) gguf_set_str(w, layer_key(k, sizeof k, i, "name"), c->name);
        if (c->ceil) gguf_set_i32(w, layer_key(k, sizeof k, i, "ceil"), c->ceil);
        if (c->group) gguf_set_i32(w, layer_key(k, sizeof k, i, "group"), c->group);
        if (c->dil > 1) gguf_set_i32(w, layer_key(k, sizeof k, i, "dil"), c->dil);
        if (c->type == AL_L_PAD) {
            int32_t pv[4] = {c->pads[0], c->pads[1], c->pads[2], c->pads[3]};
            gguf_set_arr(w, layer_key(k, sizeof k, i, "pads"), GGUF_T_I32, pv, 4);
            if (c->padval != 0.0f) gguf_set_f32(w, layer_key(k, sizeof k, i, "value"), c->padval);
        }
        /* the tensor operators' options, each only where it is not 0 (clip's bounds always) */
        if (c->axis) gguf_set_i32(w, layer_key(k, sizeof k, i, "axis"), c->axis);
        if (c->axes) gguf_set_i32(w, layer_key(k, sizeof k, i, "axes"), c->axes);
        if (c->keepdims) gguf_set_bool(w, layer_key(k, sizeof k, i, "keepdims"), c->keepdims);
        if (c->start) gguf_set_i32(w, layer_key(k, sizeof k, i, "start"), c->start);
        if (c->end) gguf_set_i32(w, layer_key(k, sizeof k, i, "end"), c->end);
        if (c->step) gguf_set_i32(w, layer_key(k, sizeof k, i, "step"), c->step);
        if (c->mode) gguf_set_i32(w, layer_key(k, sizeof k, i, "mode"), c->mode);
        if (c->nmore > 0) {
            int32_t mv[AL_MAX_SRCS - 1];
            for (int q = 0; q < c->nmore && q < AL_MAX_SRCS - 1; q++) mv[q] = c->more[q];
            gguf_set_arr(w, layer_key(k, sizeof k, i, "more"), GGUF_T_I32, mv, (size_t)AL_MIN(c->nmore, AL_MAX_SRCS - 1));
        }
        if (c->ndims) {
            int32_t dv[AL_SHAPE_MAX];
            for (int d = 0; d < c->ndims && d < AL_SHAPE_MAX; d++) dv[d] = c->dims[d];
            gguf_set_arr(w, layer_key(k, sizeof k, i, "dims"), GGUF_T_I32, dv, (size_t)c->ndims);
        }
        if (c->type == AL_L_CLIP) {
            gguf_set_f32(w, layer_key(k, sizeof k, i, "min"), c->lo);
            gguf_set_f32(w, layer_key(k, sizeof k, i, "max"), c->hi);
        }
        if (c->type == AL_L_SCALE) {
            gguf_set_f32(w, layer_key(k, sizeof k, i, "alpha"), c->alpha);
            gguf_set_f32(w, layer_key(k, sizeof k, i, "beta"), c->beta);
        }
        save_ports(w, i, c);
        if (nd->q && nd->q->in_scale > 0.0f) gguf_set_f32(w, layer_key(k, sizeof k, i, "in_scale"), nd->q->in_scale);
        if (saves_add_scale(nd)) gguf_set_f32(w, layer_key(k, sizeof k, i, "add_scale"), nd->add_scale);
    }
    for (int i = 0; i < m->nmeta; i++) gguf_set_str(w, m->meta_key[i], m->meta_val[i]);
    for (int i = 0; i < m->nnodes; i++)
        for (int p = 0; p < m->nodes[i].nparams; p++) {
            const al_param *pr = &m->nodes[i].params[p];
            uint64_t ne[GGUF_MAX_DIMS];
            /* GGUF lists the fastest-varying dimension first: reverse
             * PyTorch's order, so dense [out, in] is stored as ne = {in, out}. */
            for (int d = 0; d < pr->ndim; d++) ne[d] = (uint64_t)pr->dims[pr->ndim - 1 - d];
            tensor_name(k, sizeof k, i, pr->name);
            const struct al_qnode *q = m->nodes[i].q;
            if (q && p == 0) {
                /* a quantized weight: the int8 values (same shape) and one
                 * F32 scale per output channel; the floats are q * scale */
                gguf_add_tensor(w, k, GGML_T_I8, pr->ndim, ne, q->w);
                uint64_t nsc = (uint64_t)q->N;
                tensor_name(k, sizeof k, i, "weight_scale");
                gguf_add_tensor(w, k, GGML_T_F32, 1, &nsc, q->scale);
            } else {
                gguf_add_tensor(w, k, GGML_T_F32, pr->ndim, ne, pr->w);
            }
        }
    st = gguf_writer_save(w, path);
    gguf_writer_free(w);
    return st;
}

/* ---- load -------------------------------------------------------------------------- */

static al_status get_int(const gguf_reader *r, const char *key, int lo, int hi, int *out) {
    int32_t v;
    al_status st = gguf_get_i32(r, key, &v);
    if (st) return st;
    if (v < lo || v > hi) return al_error(AL_EFORMAT, "model file: %s = %d is outside %d..%d", key, (int)v, lo, hi);
    *out = (int)v;
    return AL_OK;
}

static al_status get_real(const gguf_reader *r, const char *key, float lo, float hi, float *out) {
    float v;
    al_status st = gguf_get_f32(r, key, &v);
    if (st) return st;
    if (!(v >= lo && v <= hi))
        return al_error(AL_EFORMAT, "model file: %s = %g is outside %g..%g", key, (double)v, (double)lo, (double)hi);
    *out = v;
    return AL_OK;
}

static al_status read_ports(const gguf_reader *r, int i, const char *name, al_layer_cfg *c);

static al_status read_layer(const gguf_reader *r, int i, al_layer_cfg *c, int *trainable) {
    char k[96];
    gguf_str ts;
    memset(c, 0, sizeof *c);
    al_status st = gguf_get_str(r, layer_key(k, sizeof k, i, "type"), &ts);
    if (st) return st;
    char name[32];
    if (ts.n >= sizeof name || memchr(ts.p, 0, ts.n))
        return al_error(AL_EFORMAT, "model file: layer %d has an invalid type name", i);
    memcpy(name, ts.p, ts.n);
    name[ts.n] = '\0';
    if (!al_layer_type_from_name(name, &c->type))
        return al_error(AL_EFORMAT, "model file: layer %d has unknown type '%s'", i, name);
    if ((st = get_int(r, layer_key(k, sizeof k, i, "units"), 0, BIG, &c->units)) ||
        (st = get_int(r, layer_key(k, sizeof k, i, "k"), 0, 64, &c->k)) ||
        (st = get_int(r, layer_key(k, sizeof k, i, "stride"), 0, 64, &c->stride)) ||
        (st = get_int(r, layer_key(k, sizeof k, i, "pad"), 0, 64, &c->pad)) ||
        (st = get_int(r, layer_key(k, sizeof k, i, "vocab"), 0, BIG, &c->vocab)) ||
        (st = get_int(r, layer_key(k, sizeof k, i, "src"), -1, AL_MAX_NODES - 1, &c->src)) ||
        (st = gguf_get_bool(r, layer_key(k, sizeof k, i, "bias"), &c->bias)) ||
        (st = get_real(r, layer_key(k, sizeof k, i, "rate"), 0.0f, 0.99f, &c->rate)) ||
        (st = get_real(r, layer_key(k, sizeof k, i, "eps"), 0.0f, 1.0f, &c->eps)) ||
        (st = get_real(r, layer_key(k, sizeof k, i, "momentum"), 0.0f, 1.0f, &c->momentum)) ||
        (st = gguf_get_bool(r, layer_key(k, sizeof k, i, "trainable"), trainable)))
        return st;
    if (gguf_find_kv(r, layer_key(k, sizeof k, i, "act")) >= 0) {
        if ((st = get_int(r, k, 0, AL_ACT_COUNT - 1, &c->act))) return st;
        if (c->act && c->type != AL_L_DENSE && c->type != AL_L_CONV2D && c->type != AL_L_DWCONV2D)
            return al_error(AL_EFORMAT, "model file: layer %d (%s) cannot have a fused activation", i, name);
    }
    if (gguf_find_kv(r, layer_key(k, sizeof k, i, "name")) >= 0) {
        gguf_str nmv;
        if ((st = gguf_get_str(r, k, &nmv))) return st;
        if (nmv.n == 0 || nmv.n >= AL_MAX_NAME || memchr(nmv.p, 0, nmv.n))
            return al_error(AL_EFORMAT, "model file: layer %d has an invalid name", i);
        memcpy(c->name, nmv.p, nmv.n);
        c->name[nmv.n] = '\0';
        if (!al_name_valid(c->name)) return al_error(AL_EFORMAT, "model file: layer %d has an invalid name", i);
    }
    if (gguf_find_kv(r, layer_key(k, sizeof k, i, "group")) >= 0) {
        if ((st = get_int(r, k, 0, BIG, &c->group))) return st;
        if (c->group && c->type != AL_L_GCONV)
            return al_error(AL_EFORMAT, "model file: layer %d (%s) cannot have groups", i, name);
    }
    if (gguf_find_kv(r, layer_key(k, sizeof k, i, "dil")) >= 0) {
        if ((st = get_int(r, k, 1, 64, &c->dil))) return st;
        if (c->dil > 1 && c->type != AL_L_CONV2D && c->type != AL_L_DWCONV2D && c->type != AL_L_GCONV)
            return al_error(AL_EFORMAT, "model file: layer %d (%s) cannot have a dilation", i, name);
    }
    if (c->type == AL_L_PAD) { /* top, left, bottom, right */
        int32_t pv[4];
        size_t nv;
        if ((st = gguf_get_arr(r, layer_key(k, sizeof k, i, "pads"), GGUF_T_I32, pv, 4, &nv))) return st;
        if (nv != 4) return al_error(AL_EFORMAT, "model file: %s must hold 4 values, has %zu", k, nv);
        for (int q = 0; q < 4; q++) {
            if (pv[q] < 0 || pv[q] > 64) return al_error(AL_EFORMAT, "model file: %s[%d] = %d is outside 0..64", k, q, (int)pv[q]);
            c->pads[q] = pv[q];
        }
        if (gguf_find_kv(r, layer_key(k, sizeof k, i, "value")) >= 0 &&
            (st = get_real(r, k, -INFINITY, INFINITY, &c->padval)))
            return st;
    }
    if (gguf_find_kv(r, layer_key(k, sizeof k, i, "ceil")) >= 0) {
        if ((st = get_int(r, k, 0, 1, &c->ceil))) return st;
        if (c->ceil && c->type != AL_L_MAXPOOL && c->type != AL_L_AVGPOOL)
            return al_error(AL_EFORMAT, "model file: layer %d (%s) cannot have ceil mode", i, name);
    }
    if (gguf_find_kv(r, layer_key(k, sizeof k, i, "in")) >= 0) {
        int x;
        if ((st = get_int(r, k, -1, i - 1, &x))) return st;
        c->back = i - 1 - x;
    }
    /* the tensor operators' options (absent: 0); each layer's shape() checks them against its input */
    static const struct {
        const char *key;
        size_t off;
        int lo, hi;
    } opt[] = {
        {"axis", offsetof(al_layer_cfg, axis), -AL_SHAPE_MAX, AL_SHAPE_MAX - 1},
        {"axes", offsetof(al_layer_cfg, axes), 0, (1 << (2 * AL_SHAPE_MAX)) - 1},
        {"start", offsetof(al_layer_cfg, start), -BIG, BIG},
        {"end", offsetof(al_layer_cfg, end), -BIG, AL_SLICE_END},
        {"step", offsetof(al_layer_cfg, step), 0, BIG},
        {"mode", offsetof(al_layer_cfg, mode), 0, 1},
    };
    for (size_t o = 0; o < sizeof opt / sizeof opt[0]; o++)
        if (gguf_find_kv(r, layer_key(k, sizeof k, i, opt[o].key)) >= 0 &&
            (st = get_int(r, k, opt[o].lo, opt[o].hi, (int *)((char *)c + opt[o].off))))
            return st;
    if (gguf_find_kv(r, layer_key(k, sizeof k, i, "keepdims")) >= 0 && (st = gguf_get_bool(r, k, &c->keepdims)))
        return st;
    if (gguf_find_kv(r, layer_key(k, sizeof k, i, "more")) >= 0) {
        /* the operands of a concat or sum after src: earlier nodes or -1 */
        int32_t mv[AL_MAX_SRCS - 1];
        size_t nv;
        if (!al_layer_nary(c->type))
            return al_error(AL_EFORMAT, "model file: layer %d (%s) cannot read more than two inputs", i, name);
        if ((st = gguf_get_arr(r, k, GGUF_T_I32, mv, AL_MAX_SRCS - 1, &nv)))
            return al_error(st, "model file: layer %d (%s) reads more than %d inputs", i, name, AL_MAX_SRCS + 1);
        for (size_t q = 0; q < nv; q++) {
            if (mv[q] < -1 || mv[q] >= i)
                return al_error(AL_EFORMAT, "model file: layer %d (%s) reads node %d, which is not an earlier node", i,
                                name, (int)mv[q]);
            c->more[q] = mv[q];
        }
        c->nmore = (int)nv;
    }
    if (gguf_find_kv(r, layer_key(k, sizeof k, i, "dims")) >= 0) {
        int32_t dv[AL_SHAPE_MAX];
        size_t nv;
        if ((st = gguf_get_arr(r, k, GGUF_T_I32, dv, AL_SHAPE_MAX, &nv))) return st;
        if (nv < 1) return al_error(AL_EFORMAT, "model file: %s is empty", k);
        for (size_t d = 0; d < nv; d++) {
            if (dv[d] < -1 || dv[d] > BIG) return al_error(AL_EFORMAT, "model file: %s[%zu] = %d is outside -1..%d", k, d, (int)dv[d], BIG);
            c->dims[d] = dv[d];
        }
        c->ndims = (int)nv;
    }
    if (c->type == AL_L_CLIP &&
        ((st = get_real(r, layer_key(k, sizeof k, i, "min"), -INFINITY, INFINITY, &c->lo)) ||
         (st = get_real(r, layer_key(k, sizeof k, i, "max"), -INFINITY, INFINITY, &c->hi))))
        return st;
    if (c->type == AL_L_SCALE &&
        ((st = get_real(r, layer_key(k, sizeof k, i, "alpha"), -1e30f, 1e30f, &c->alpha)) ||
         (st = get_real(r, layer_key(k, sizeof k, i, "beta"), -1e30f, 1e30f, &c->beta))))
        return st;
    if (gguf_find_kv(r, layer_key(k, sizeof k, i, "rank")) >= 0) {
        /* the LSTM's shape function checks it against the hidden size */
        if ((st = get_int(r, k, 0, BIG, &c->rank))) return st;
        if (c->rank && c->type != AL_L_LSTM)
            return al_error(AL_EFORMAT, "model file: layer %d (%s) cannot have a rank", i, name);
    }
    return read_ports(r, i, name, c);
}

/* The version-5 keys (save_ports): the outputs of a split, the ports of
 * the references; al_model_build checks each port against its node. */
static al_status read_ports(const gguf_reader *r, int i, const char *name, al_layer_cfg *c) {
    char k[96];
    al_status st;
    int has_out = gguf_find_kv(r, layer_key(k, sizeof k, i, "outputs")) >= 0;
    if ((has_out && al_layer_max_outs(c->type) == 1) || (!has_out && c->type == AL_L_SPLIT))
        return al_error(AL_EFORMAT, "model file: layer %d (%s) %s", i, name,
                        has_out ? "cannot have several outputs" : "has no autlearn.layer.N.outputs");
    if (has_out && c->type != AL_L_SPLIT) {
        if ((st = get_int(r, k, 1, al_layer_max_outs(c->type), &c->nout))) return st;
    } else if (has_out) {
        int32_t sv[AL_MAX_OUTS];
        size_t nv;
        if ((st = get_int(r, k, 1, AL_MAX_OUTS, &c->nout))) return st;
        if (gguf_find_kv(r, layer_key(k, sizeof k, i, "sizes")) < 0)
            return al_error(AL_EFORMAT, "model file: layer %d (%s) has no %s", i, name, k);
        if ((st = gguf_get_arr(r, k, GGUF_T_I32, sv, AL_MAX_OUTS, &nv))) return st;
        if (nv != (size_t)c->nout)
            return al_error(AL_EFORMAT, "model file: %s has %zu sizes for %d outputs", k, nv, c->nout);
        for (size_t q = 0; q < nv; q++) {
            if (sv[q] < 1 || sv[q] > BIG)
                return al_error(AL_EFORMAT, "model file: %s[%zu] = %d is outside 1..%d", k, q, (int)sv[q], BIG);
            c->sizes[q] = sv[q];
        }
    }
    if (gguf_find_kv(r, layer_key(k, sizeof k, i, "in_port")) >= 0 && (st = get_int(r, k, 0, AL_MAX_OUTS - 1, &c->in_port)))
        return st;
    if (gguf_find_kv(r, layer_key(k, sizeof k, i, "src_port")) >= 0) {
        if (!al_layer_reads_src(c->type))
            return al_error(AL_EFORMAT, "model file: layer %d (%s) reads no second operand", i, name);
        if ((st = get_int(r, k, 0, AL_MAX_OUTS - 1, &c->src_port))) return st;
    }
    if (gguf_find_kv(r, layer_key(k, sizeof k, i, "more_port")) >= 0) {
        int32_t mv[AL_MAX_SRCS - 1];
        size_t nv;
        if (!al_layer_nary(c->type))
            return al_error(AL_EFORMAT, "model file: layer %d (%s) cannot read more than two inputs", i, name);
        if ((st = gguf_get_arr(r, k, GGUF_T_I32, mv, AL_MAX_SRCS - 1, &nv))) return st;
        if (nv != (size_t)c->nmore)
            return al_error(AL_EFORMAT, "model file: %s has %zu ports for %d operands", k, nv, c->nmore);
        for (size_t q = 0; q < nv; q++) {
            if (mv[q] < 0 || mv[q] >= AL_MAX_OUTS)
                return al_error(AL_EFORMAT, "model file: %s[%zu] = %d is outside 0..%d", k, q, (int)mv[q], AL_MAX_OUTS - 1);
            c->more_port[q] = mv[q];
        }
    }
    return AL_OK;
}

static void fmt_dims(char *buf, size_t cap, const uint64_t *d, int n) {
    size_t o = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < n && o < cap; i++) o += (size_t)snprintf(buf + o, cap - o, i ? ", %llu" : "%llu", (unsigned long long)d[i]);
    if (o < cap) snprintf(buf + o, cap - o, "]");
}

/* The tensor for parameter p of node i, checked for type and shape. F32,
 * or I8 where an int8 weight is allowed (allow_i8: a frozen dense/conv
 * weight). */
static al_status match_tensor_q(const gguf_reader *r, int i, const al_param *p, int allow_i8,
                                const gguf_tensor **out) {
    char name[96];
    tensor_name(name, sizeof name, i, p->name);
    const gguf_tensor *t = gguf_find_tensor(r, name);
    if (!t) return al_error(AL_EFORMAT, "model file: tensor '%s' is missing", name);
    if (t->type == GGML_T_I8 && !allow_i8)
        return al_error(AL_EFORMAT, "model file: tensor '%s' is I8, but only the weight of a frozen dense, conv "
                        "or dwconv layer may be int8", name);
    if (t->type != GGML_T_F32 && t->type != GGML_T_I8)
        return al_error(AL_EFORMAT, "model file: tensor '%s' has type %s, expected F32", name,
                        gguf_ggml_type_name(t->type));
    int same = t->ndim == p->ndim;
    uint64_t want[GGUF_MAX_DIMS], have[GGUF_MAX_DIMS];
    for (int d = 0; d < p->ndim; d++) want[d] = (uint64_t)p->dims[d];
    for (int d = 0; d < t->ndim; d++) have[d] = t->ne[t->ndim - 1 - d];
    for (int d = 0; same && d < p->ndim; d++) same = have[d] == want[d];
    if (!same) {
        char a[96], b[96];
        fmt_dims(a, sizeof a, have, t->ndim);
        fmt_dims(b, sizeof b, want, p->ndim);
        return al_error(AL_EFORMAT, "model file: tensor '%s' has shape %s, the architecture needs %s", name, a, b);
    }
    *out = t;
    return AL_OK;
}

static al_status match_tensor(const gguf_reader *r, int i, const al_param *p, const gguf_tensor **out) {
    return match_tensor_q(r, i, p, 0, out);
}

/* Whether parameter p of a node of this config may be stored as int8. */
static int may_be_i8(const al_layer_cfg *c, int trainable, int p) {
    return p == 0 && !trainable && (c->type == AL_L_DENSE || c->type == AL_L_CONV2D || c->type == AL_L_DWCONV2D);
}

/* The F32 scale tensor "{i}.weight_scale" of an int8 weight with N output
 * channels. */
static al_status match_scale(const gguf_reader *r, int i, int N, const gguf_tensor **out) {
    char name[96];
    tensor_name(name, sizeof name, i, "weight_scale");
    const gguf_tensor *t = gguf_find_tensor(r, name);
    if (!t) return al_error(AL_EFORMAT, "model file: int8 weight of layer %d has no scale tensor '%s'", i, name);
    if (t->type != GGML_T_F32 || t->ndim != 1 || t->ne[0] != (uint64_t)N)
        return al_error(AL_EFORMAT, "model file: tensor '%s' must be F32 of shape [%d]", name, N);
    *out = t;
    return AL_OK;
}

/* The shape of output `port` of node r (-1: the model input) among the
 * tensors of the nodes before the one being checked; NULL when there is no
 * such output. */
static const al_shape *tensor_shape(const al_shape *in, const al_layer_cfg *layers, const al_shape *outs,
                                    const int *xb, int r, int port) {
    if (r < 0) return port == 0 ? in : NULL;
    if (port < 0 || port >= al_cfg_nout(&layers[r])) return NULL;
    return &outs[port == 0 ? r : xb[r] + port - 1];
}

/* Runs the layers' shape functions on scratch nodes (they allocate nothing)
 * and checks every declared parameter against its tensor, so that
 * al_model_build never allocates weights sized by numbers the file's own
 * data cannot back. Also rejects tensors no parameter claims. */
static al_status check_params(const gguf_reader *r, const al_shape *in, const al_layer_cfg *layers,
                               const int *trainable, int n) {
    size_t nt = gguf_num_tensors(r), matched = 0;
    unsigned char *seen = al_calloc(nt ? nt : 1, 1);
    /* every tensor's shape (port 0 of node i at i, the later outputs of a
     * split from n on, xb[i] + p - 1): the operands of the later nodes */
    size_t ntens = (size_t)n;
    for (int i = 0; i < n; i++) ntens += (size_t)al_cfg_nout(&layers[i]) - 1;
    al_shape *outs = al_malloc(sizeof *outs * (ntens > 0 ? ntens : 1));
    int *xb = al_malloc(sizeof *xb * (size_t)(n > 0 ? n : 1));
    if (!seen || !outs || !xb) {
        al_free(seen);
        al_free(outs);
        al_free(xb);
        return AL_ENOMEM;
    }
    al_status st = AL_OK;
    al_operand more[AL_MAX_SRCS - 1]; /* the scratch node's operands past the second */
    al_shape xout[AL_MAX_OUTS - 1];   /* its outputs past the first */
    int next = n;
    for (int i = 0; i < n && !st; i++) {
        al_node nd;
        memset(&nd, 0, sizeof nd);
        nd.cfg = layers[i];
        nd.index = i;
        nd.trainable = 1;
        nd.xout = xout;
        xb[i] = next;
        next += al_cfg_nout(&nd.cfg) - 1;
        /* read_layer bounded the primary input to an earlier node or -1 */
        const al_shape *xs = tensor_shape(in, layers, outs, xb, al_node_input(&nd), nd.cfg.in_port);
        if (!xs) {
            st = al_error(AL_EFORMAT, "model file: layer %d (%s) reads port %d of node %d, which has no such output", i,
                          al_layer_type_name(nd.cfg.type), nd.cfg.in_port, al_node_input(&nd));
            break;
        }
        al_shape cur = *xs;
        nd.in = cur;
        if (al_layer_reads_src(nd.cfg.type)) {
            /* read_layer bounded src to -1..AL_MAX_NODES-1 (and more[] to
             * earlier nodes); it must name an earlier node */
            if (nd.cfg.src >= i) {
                st = al_error(AL_EFORMAT, "model file: layer %d (%s) reads node %d, which is not an earlier node", i,
                              al_layer_type_name(nd.cfg.type), nd.cfg.src);
                break;
            }
            nd.more = more;
            for (int q = 0; q <= nd.cfg.nmore && !st; q++) {
                int s = al_cfg_src(&nd.cfg, q), sp = al_cfg_src_port(&nd.cfg, q);
                const al_shape *os = tensor_shape(in, layers, outs, xb, s, sp);
                if (!os)
                    st = al_error(AL_EFORMAT, "model file: layer %d (%s) reads port %d of node %d, which has no such output",
                                  i, al_layer_type_name(nd.cfg.type), sp, s);
                else if (q == 0)
                    nd.in2 = *os;
                else
                    more[q - 1].in = *os;
            }
            if (st) break;
        }
        nd.vt = al_layer_vtable(nd.cfg.type);
        if (!nd.vt) {
            st = al_error(AL_EUNSUPPORTED, "model file: layer %d (%s) is not available in this build", i,
                          al_layer_type_name(nd.cfg.type));
            break;
        }
        if (nd.cfg.type == AL_L_BATCHNORM) { /* the defaults al_model_build applies */
            if (nd.cfg.eps <= 0.0f) nd.cfg.eps = 1e-5f;
            if (nd.cfg.momentum <= 0.0f) nd.cfg.momentum = 0.1f;
        }
        if ((st = nd.vt->shape(&nd, &cur))) {
            char msg[400];
            snprintf(msg, sizeof msg, "%s", al_last_error());
            st = al_error(st == AL_ENOMEM ? st : AL_EFORMAT, "model file: layer %d (%s): %s", i, nd.vt->name, msg);
            break;
        }
        for (int q = 0; q < al_cfg_nout(&nd.cfg) && !st; q++) {
            const al_shape *os = al_node_out(&nd, q);
            if (os->ndim < 1 || os->ndim > AL_SHAPE_MAX || al_shape_numel_max(os, (size_t)1 << 26) == 0)
                st = al_error(AL_EFORMAT, "model file: layer %d (%s): output shape is empty or too large", i, nd.vt->name);
            else
                outs[q == 0 ? i : xb[i] + q - 1] = *os;
        }
        if (st) break;
        for (int p = 0; p < nd.nparams && !st; p++) {
            const gguf_tensor *t;
            if ((st = match_tensor_q(r, i, &nd.params[p], may_be_i8(&nd.cfg, trainable[i], p), &t))) break;
            seen[t - gguf_tensor_at(r, 0)] = 1;
            matched++;
            if (t->type == GGML_T_I8) {
                if ((st = match_scale(r, i, nd.params[p].dims[0], &t))) break;
                seen[t - gguf_tensor_at(r, 0)] = 1;
                matched++;
            }
        }
    }
    al_free(outs);
    al_free(xb);
    if (!st && matched != nt)
        for (size_t i = 0; i < nt; i++)
            if (!seen[i]) {
                const gguf_tensor *t = gguf_tensor_at(r, i);
                st = al_error(AL_EFORMAT, "model file: unexpected tensor '%.*s' (no layer has such a parameter)",
                              (int)t->name.n, t->name.p);
                break;
            }
    al_free(seen);
    return st;
}

static al_status read_meta(const gguf_reader *r, al_model *m) {
    for (size_t i = 0; i < gguf_num_kv(r); i++) {
        if (gguf_kv_type(r, i) != GGUF_T_STRING) continue;
        gguf_str k = gguf_kv_key(r, i), v;
        if (al_model_meta_reserved(k.p, k.n)) continue;
        al_status st = gguf_kv_str(r, i, &v);
        if (st) return st;
        if (memchr(k.p, 0, k.n) || memchr(v.p, 0, v.n))
            return al_error(AL_EFORMAT, "model file: metadata '%.*s' contains a NUL byte", (int)AL_MIN(k.n, 64), k.p);
        if (k.n == 0) return al_error(AL_EFORMAT, "model file: a metadata key of 0 bytes");
        if (m->nmeta >= AL_MAX_META)
            return al_error(AL_EFORMAT, "model file: more than %d metadata strings", AL_MAX_META);
        char *ks = al_malloc(k.n + 1), *vs = al_malloc(v.n + 1);
        if (ks && vs) {
            memcpy(ks, k.p, k.n);
            ks[k.n] = '\0';
            memcpy(vs, v.p, v.n);
            vs[v.n] = '\0';
            st = al_model_set_meta(m, ks, vs);
        } else {
            st = AL_ENOMEM;
        }
        al_free(ks);
        al_free(vs);
        if (st) return st;
    }
    return AL_OK;
}

/* Node i's static scale under key `name` (absent: nothing to do), which
 * needs format version `need`; refused scales are AL_EFORMAT. */
static al_status load_scale(const gguf_reader *r, al_model *m, int i, const char *name, uint32_t need, uint32_t ver,
                            al_status (*set)(al_model *, int, float)) {
    char k[96];
    float sc;
    if (gguf_find_kv(r, layer_key(k, sizeof k, i, name)) < 0) return AL_OK;
    if (ver < need) return al_error(AL_EFORMAT, "model file: %s needs format version %u, the file says %u", k, need, ver);
    al_status st = gguf_get_f32(r, k, &sc);
    if (st == AL_OK && (st = set(m, i, sc)) != AL_OK) {
        char msg[400];
        snprintf(msg, sizeof msg, "%s", al_last_error());
        st = al_error(st == AL_ENOMEM ? st : AL_EFORMAT, "model file: %s", msg);
    }
    return st;
}

static al_status load_reader(const gguf_reader *r, al_model **out) {
    gguf_str arch;
    al_status st = gguf_get_str(r, "general.architecture", &arch);
    if (st) return st;
    if (!gguf_str_eq(arch, AL_ARCH))
        return al_error(AL_EFORMAT, "not an autlearn model: general.architecture is '%.*s'", (int)AL_MIN(arch.n, 64),
                        arch.p);
    uint32_t ver, nl, first;
    if ((st = gguf_get_u32(r, "autlearn.format_version", &ver))) return st;
    if (ver < AL_MODEL_FORMAT_VERSION || ver > AL_MODEL_FORMAT_VERSION_LAST)
        return al_error(AL_EUNSUPPORTED, "model file format version %u; this build reads versions %u to %u", ver,
                        AL_MODEL_FORMAT_VERSION, AL_MODEL_FORMAT_VERSION_LAST);
    al_shape in;
    memset(&in, 0, sizeof in);
    int tokens;
    int32_t shape[3];
    size_t nd;
    if ((st = gguf_get_bool(r, "autlearn.input.tokens", &tokens))) return st;
    if ((st = gguf_get_arr(r, "autlearn.input.shape", GGUF_T_I32, shape, 3, &nd))) return st;
    if (nd < 1) return al_error(AL_EFORMAT, "model file: autlearn.input.shape is empty");
    in.ndim = (int)nd;
    size_t numel = 1;
    for (size_t d = 0; d < nd; d++) {
        if (shape[d] < 1 || shape[d] > BIG)
            return al_error(AL_EFORMAT, "model file: input dimension %zu is %d, must be in 1..%d", d, (int)shape[d], BIG);
        in.d[d] = shape[d];
        numel *= (size_t)shape[d];
        if (numel > (size_t)1 << 26) return al_error(AL_EFORMAT, "model file: the input shape is too large");
    }
    if ((st = gguf_get_u32(r, "autlearn.layer_count", &nl))) return st;
    if (nl < 1 || nl > AL_MAX_NODES)
        return al_error(AL_EFORMAT, "model file: layer count %u is outside 1..%d", nl, AL_MAX_NODES);
    /* each layer has a dozen keys of its own: a count the file's metadata
     * cannot back is refused before anything is sized by it */
    if (nl > gguf_num_kv(r))
        return al_error(AL_EFORMAT, "model file: layer count %u exceeds the file's %zu metadata keys", nl,
                        gguf_num_kv(r));
    if ((st = gguf_get_u32(r, "autlearn.first_trainable", &first))) return st;
    if (first > nl) return al_error(AL_EFORMAT, "model file: first trainable node %u is beyond %u layers", first, nl);
    al_layer_cfg *layers = al_malloc(sizeof *layers * nl);
    int *trainable = al_malloc(sizeof *trainable * nl);
    al_model *m = NULL;
    if (!layers || !trainable) {
        st = AL_ENOMEM;
        goto fail;
    }
    for (int i = 0; i < (int)nl && !st; i++) st = read_layer(r, i, &layers[i], &trainable[i]);
    if (!st) st = check_params(r, &in, layers, trainable, (int)nl);
    if (st) goto fail;
    if ((st = al_model_build(&in, tokens, layers, (int)nl, &m))) {
        char msg[400];
        snprintf(msg, sizeof msg, "%s", al_last_error());
        st = al_error(st == AL_ENOMEM ? st : AL_EFORMAT, "model file: the architecture is invalid: %s", msg);
        goto fail;
    }
    for (int i = 0; i < m->nnodes && !st; i++)
        for (int p = 0; p < m->nodes[i].nparams && !st; p++) {
            al_param *pr = &m->nodes[i].params[p];
            const gguf_tensor *t;
            st = match_tensor_q(r, i, pr, may_be_i8(&layers[i], trainable[i], p), &t);
            if (!st && t->type == GGML_T_F32) st = gguf_tensor_read_f32(t, pr->w, pr->n);
        }
    if (!st) st = al_model_freeze(m, (int)first);
    for (int i = 0; i < m->nnodes && !st; i++) m->nodes[i].trainable = trainable[i];
    /* int8 weights last: installing needs the node frozen, and sets the
     * floats to q * scale */
    for (int i = 0; i < m->nnodes && !st; i++) {
        const gguf_tensor *t = NULL, *ts = NULL;
        if (!m->nodes[i].nparams || !may_be_i8(&layers[i], trainable[i], 0)) continue;
        if ((st = match_tensor_q(r, i, &m->nodes[i].params[0], 1, &t)) || t->type != GGML_T_I8) continue;
        int N = m->nodes[i].params[0].dims[0];
        float *scale = al_malloc(sizeof(float) * (size_t)N);
        if (!scale) {
            st = AL_ENOMEM;
            break;
        }
        st = match_scale(r, i, N, &ts);
        if (!st) st = gguf_tensor_read_f32(ts, scale, (size_t)N);
        /* int8 has no byte order: the file's bytes are the values */
        if (!st) st = al_quant_install(m, i, (const int8_t *)t->data, scale);
        al_free(scale);
        if (st) {
            char msg[400];
            snprintf(msg, sizeof msg, "%s", al_last_error());
            st = al_error(st == AL_ENOMEM ? st : AL_EFORMAT, "model file: %s", msg);
        }
    }
    /* static input scales (version 6) on int8 layers, static add scales
     * (version 7) on frozen adds: each through its setter, which checks it */
    for (int i = 0; i < m->nnodes && !st; i++) {
        st = load_scale(r, m, i, "in_scale", AL_MODEL_FORMAT_VERSION_6, ver, al_quant_set_in_scale);
        if (!st) st = load_scale(r, m, i, "add_scale", AL_MODEL_FORMAT_VERSION_7, ver, al_quant_set_add_scale);
    }
    if (!st) st = read_meta(r, m);
fail:
    al_free(layers);
    al_free(trainable);
    if (st) {
        al_model_free(m);
        return st;
    }
    *out = m;
    return AL_OK;
}

al_status al_model_load_mem(const void *buf, size_t n, al_model **out) {
    if (!out) return al_error(AL_EINVAL, "al_model_load_mem: out is NULL");
    *out = NULL;
    if (!buf && n) return al_error(AL_EINVAL, "al_model_load_mem: NULL buffer");
    gguf_reader *r;
    al_status st = gguf_reader_open_mem(buf, n, GGUF_REQUIRE_CRC, &r);
    if (st) return st;
    st = load_reader(r, out);
    gguf_reader_free(r);
    return st;
}

al_status al_model_load(const char *path, al_model **out) {
    if (!out) return al_error(AL_EINVAL, "al_model_load: out is NULL");
    *out = NULL;
    if (!path) return al_error(AL_EINVAL, "al_model_load: path is NULL");
    void *buf;
    size_t n;
    al_status st = gguf_read_file(path, &buf, &n);
    if (st) return st;
    st = al_model_load_mem(buf, n, out);
    al_free(buf);
    if (st) {
        char msg[480];
        snprintf(msg, sizeof msg, "%s", al_last_error());
        return al_error(st, "%s: %s", path, msg);
    }
    return AL_OK;
}
