/* The architecture spec: a small text language (docs/SPEC.md).
 *   input 1x28x28; conv 32 k=3 p=1; relu; maxpool k=2; flatten; dense 10
 *   tokens 20; embedding 64 vocab=5001; lstm 128; dense 5001
 * Statements are separated by ';' or newlines; each is a keyword, an optional
 * positional value and key=value options. */
#include "model/model.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name, *spec;
} builtins[] = {
    {"refcnn", "input 1x28x28; conv 32 k=3 p=1; relu; maxpool k=2; conv 64 k=3 p=1; relu; maxpool k=2; "
               "conv 128 k=3 p=1; relu; maxpool k=2; flatten; dense 256; relu; dense 10"},
    {"reflm", "tokens 20; embedding 64 vocab=5001; lstm 128; dense 5001"},
    {"mlp", "input 1x28x28; flatten; dense 128; relu; dense 10"},
};

const char *al_spec_builtin(const char *name) {
    for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++)
        if (strcmp(builtins[i].name, name) == 0) return builtins[i].spec;
    return NULL;
}

static int parse_int(const char *s, int lo, int hi, int *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return 0;
    *out = (int)v;
    return 1;
}

static int parse_float(const char *s, float lo, float hi, float *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi)) return 0;
    *out = (float)v;
    return 1;
}

/* A comma-separated list of 1..AL_SHAPE_MAX integers in lo..hi. */
static int parse_list(const char *s, int lo, int hi, int *v, int *nv) {
    char buf[96];
    if (strlen(s) >= sizeof buf) return 0;
    snprintf(buf, sizeof buf, "%s", s);
    *nv = 0;
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (*nv == AL_SHAPE_MAX || !parse_int(t, lo, hi, &v[*nv])) return 0;
        (*nv)++;
    }
    return *nv > 0 && s[strlen(s) - 1] != ',';
}

/* axes=0,2 or axes=-1: the set as cfg.axes bits (al_axes_bit) */
static int parse_axes(const char *s, int *axes) {
    int v[AL_SHAPE_MAX], nv;
    if (!parse_list(s, -AL_SHAPE_MAX, AL_SHAPE_MAX - 1, v, &nv)) return 0;
    *axes = 0;
    for (int i = 0; i < nv; i++) {
        if (*axes & al_axes_bit(v[i])) return 0;
        *axes |= al_axes_bit(v[i]);
    }
    return 1;
}

/* split's sizes=2,3,4: 1..AL_MAX_OUTS part sizes, the number of outputs. */
static int parse_sizes(const char *s, al_layer_cfg *c) {
    int k = 0;
    for (const char *p = s;; k++) {
        char num[16];
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (k >= AL_MAX_OUTS || len == 0 || len >= sizeof num) return 0;
        memcpy(num, p, len);
        num[len] = '\0';
        if (!parse_int(num, 1, 1 << 24, &c->sizes[k])) return 0;
        if (!comma) break;
        p = comma + 1;
    }
    c->nout = k + 1;
    return 1;
}

/* Splits `stmt` (modified in place) into words. */
static int split_words(char *stmt, char **w, int max) {
    int n = 0;
    char *p = stmt;
    while (*p) {
        while (*p && isspace((unsigned char)*p)) p++;
        if (!*p) break;
        if (n == max) return -1;
        w[n++] = p;
        while (*p && !isspace((unsigned char)*p)) p++;
        if (*p) *p++ = '\0';
    }
    return n;
}

#define BIG (1 << 24)
/* The longest spec text: room for the canonical spec of a model of
 * AL_MAX_NODES nodes (al_spec_format writes at most 160 bytes a node, plus a
 * name, an in= and 10 bytes per extra operand of a concat or sum or per
 * part of a split), so every model's canonical spec parses back. */
#define SPEC_MAX_BYTES ((size_t)64 << 20)

/* A reference to an earlier layer's output: its index, -1 or "input" for
 * the model input, or a name given to one of layers[0..idx); then
 * optionally "@port" for output `port` of a node of several (docs/SPEC.md,
 * "Ports"; the model builder checks the port against the node). */
static int parse_ref_port(const char *s, const al_layer_cfg *layers, int idx, int *out, int *port) {
    char buf[AL_MAX_NAME + 16];
    const char *at = strchr(s, '@');
    *port = 0;
    if (at) {
        if ((size_t)(at - s) >= sizeof buf || !parse_int(at + 1, 0, AL_MAX_OUTS - 1, port)) return 0;
        memcpy(buf, s, (size_t)(at - s));
        buf[at - s] = '\0';
        s = buf;
    }
    if (!strcmp(s, "input")) {
        *out = -1;
        return *port == 0;
    }
    if (parse_int(s, -1, AL_MAX_NODES, out)) return *out >= 0 || *port == 0;
    if (!al_name_valid(s)) return 0;
    for (int i = idx - 1; i >= 0; i--)
        if (!strcmp(layers[i].name, s)) {
            *out = i;
            return 1;
        }
    return 0;
}

/* A comma-separated list of references (parse_ref_port) into the extra
 * operands of an n-ary layer: src, then more[]. Returns 0 on a bad
 * reference, -1 past AL_MAX_SRCS. */
static int parse_refs(char *s, const al_layer_cfg *layers, int idx, al_layer_cfg *c) {
    int k = 0;
    for (char *p = s;; k++) {
        char *comma = strchr(p, ',');
        if (comma) *comma = '\0';
        if (k >= AL_MAX_SRCS) return -1;
        if (!parse_ref_port(p, layers, idx, al_cfg_src_ref(c, k), al_cfg_src_port_ref(c, k))) return 0;
        if (!comma) break;
        p = comma + 1;
    }
    c->nmore = k;
    return 1;
}

/* The optional "name:" before a statement's layer, kept in c->name; moves
 * *w past it. */
static al_status parse_name(char ***pw, int *nw, int idx, const al_layer_cfg *prev, al_layer_cfg *c) {
    char **w = *pw;
    size_t wl = strlen(w[0]);
    if (wl > 1 && w[0][wl - 1] == ':') { /* "name: layer ..." */
        w[0][wl - 1] = '\0';
        if (!al_name_valid(w[0]))
            return al_error(AL_EINVAL, "spec: '%s' is not a valid layer name (statement %d): 1 to %d printable "
                                       "characters without space ; = : , not starting with a digit or sign, not 'input'",
                            w[0], idx + 1, AL_MAX_NAME - 1);
        for (int i = 0; i < idx; i++)
            if (!strcmp(prev[i].name, w[0])) return al_error(AL_EINVAL, "spec: two layers are named '%s'", w[0]);
        snprintf(c->name, sizeof c->name, "%s", w[0]);
        *pw = w + 1;
        if (--*nw < 1) return al_error(AL_EINVAL, "spec: '%s:' names no layer", c->name);
    }
    return AL_OK;
}

/* in=REF (the primary input) or, for concat and sum, in=REF,REF,...
 * (the primary input, then the operands in order). */
static al_status parse_in(const char *layer, char *val, int idx, const al_layer_cfg *prev, al_layer_cfg *c) {
    int x = -1;
    char *comma = strchr(val, ',');
    if (comma) { /* in=primary,operand,...: the inputs of a concat or a sum, in order */
        if (!al_layer_nary(c->type))
            return al_error(AL_EINVAL, "spec: '%s' (layer %d) reads one primary input; only concat and sum "
                                       "take a list in=", layer, idx);
        if (c->src != -2)
            return al_error(AL_EINVAL, "spec: '%s' (layer %d): the operands are given twice", layer, idx);
        *comma = '\0';
        int r = parse_refs(comma + 1, prev, idx, c);
        if (r < 0)
            return al_error(AL_ERANGE, "spec: '%s' (layer %d) reads more than %d inputs", layer, idx,
                            AL_MAX_SRCS + 1);
        if (!r) return al_error(AL_EINVAL, "spec: '%s': bad value for in: '%s'", layer, comma + 1);
    }
    if (!parse_ref_port(val, prev, idx, &x, &c->in_port))
        return al_error(AL_EINVAL, "spec: '%s': bad value for in: '%s'", layer, val);
    if (x >= idx)
        return al_error(AL_EINVAL, "spec: '%s' (layer %d) reads in=%d, which is not an earlier layer", layer,
                        idx, x);
    c->back = idx - 1 - x;
    return AL_OK;
}

/* The values a layer cannot do without, then the defaults of what the
 * statement left out (seen_*: set explicitly). */
static al_status finish_layer(const char *layer, al_layer_cfg *c, int seen_k, int seen_s, int seen_axis) {
    switch (c->type) {
    case AL_L_DENSE:
    case AL_L_CONV2D:
    case AL_L_LSTM:
    case AL_L_GRU:
        if (c->units <= 0) return al_error(AL_EINVAL, "spec: '%s' needs a size, e.g. '%s 64'", layer, layer);
        break;
    case AL_L_GCONV:
        if (c->units <= 0 || c->group < 2)
            return al_error(AL_EINVAL, "spec: gconv needs a size and g= (2 or more groups), e.g. 'gconv 64 g=4'");
        break;
    case AL_L_EMBEDDING:
        if (c->units <= 0 || c->vocab <= 0)
            return al_error(AL_EINVAL, "spec: embedding needs a size and vocab=, e.g. 'embedding 64 vocab=5001'");
        break;
    case AL_L_ADD:
    case AL_L_MUL:
    case AL_L_SUB:
    case AL_L_DIV:
    case AL_L_MAX:
    case AL_L_MIN:
    case AL_L_CONCAT:
    case AL_L_SUM:
    case AL_L_MATMUL:
        if (c->src < -1)
            return al_error(AL_EINVAL, "spec: %s needs the earlier node, e.g. '%s 3' or '%s -1'", layer, layer, layer);
        break;
    case AL_L_RESHAPE:
        if (c->ndims < 1) return al_error(AL_EINVAL, "spec: reshape needs shape=, e.g. 'reshape shape=4,-1'");
        break;
    case AL_L_EXPAND:
        if (c->ndims < 1) return al_error(AL_EINVAL, "spec: expand needs shape=, e.g. 'expand shape=4,3,5'");
        break;
    case AL_L_TRANSPOSE:
        if (c->ndims < 1) return al_error(AL_EINVAL, "spec: transpose needs perm=, e.g. 'transpose perm=1,0,2'");
        break;
    case AL_L_UNSQUEEZE:
        if (!c->axes) return al_error(AL_EINVAL, "spec: unsqueeze needs axes=, e.g. 'unsqueeze axes=0'");
        break;
    case AL_L_CLIP:
        if (!(c->lo <= c->hi)) return al_error(AL_EINVAL, "spec: clip: min must not exceed max");
        break;
    case AL_L_SPLIT:
        if (c->nout < 1) return al_error(AL_EINVAL, "spec: split needs sizes=, e.g. 'split axis=0 sizes=2,3'");
        break;
    default: break;
    }
    if (c->type == AL_L_SOFTMAX && !seen_axis) c->axis = -1;
    if (c->type == AL_L_LAYERNORM && c->eps == 0.0f) c->eps = 1e-5f;
    if (!al_layer_reads_src(c->type)) c->src = 0;
    if (c->type == AL_L_CONV2D || c->type == AL_L_DWCONV2D || c->type == AL_L_GCONV) {
        if (!seen_k) c->k = 3;
        if (!seen_s) c->stride = 1;
    }
    if (c->type == AL_L_MAXPOOL || c->type == AL_L_AVGPOOL) {
        if (!seen_k) c->k = 2;
        if (!seen_s) c->stride = c->k;
    }
    if (c->type == AL_L_PREPEND && c->units == 0) c->units = 1;
    if (c->type == AL_L_DROPOUT && c->rate == 0.0f) c->rate = 0.5f;
    if (c->type == AL_L_BATCHNORM) {
        if (c->eps == 0.0f) c->eps = 1e-5f;
        if (c->momentum == 0.0f) c->momentum = 0.1f;
    }
    if (c->type != AL_L_DENSE && c->type != AL_L_CONV2D && c->type != AL_L_DWCONV2D && c->type != AL_L_GCONV) c->bias = 0;
    return AL_OK;
}

static al_status parse_layer(char **w, int nw, int idx, const al_layer_cfg *prev, al_layer_cfg *c) {
    memset(c, 0, sizeof *c);
    al_status st = parse_name(&w, &nw, idx, prev, c);
    if (st) return st;
    if (!al_layer_type_from_name(w[0], &c->type))
        return al_error(AL_EINVAL, "spec: unknown layer '%s' (statement %d)", w[0], idx + 1);
    c->bias = 1;
    c->src = -2;
    int have_k = 0, have_s = 0, have_axis = 0;
    const al_layer_type t = c->type;
    if (t == AL_L_SLICE) {
        c->end = AL_SLICE_END;
        c->step = 1;
    }
    if (t == AL_L_SCALE) c->alpha = 1.0f;
    if (t == AL_L_CLIP) {
        c->lo = -INFINITY;
        c->hi = INFINITY;
    }
    for (int i = 1; i < nw; i++) {
        char *eq = strchr(w[i], '=');
        int ok = 1;
        if (!eq) {
            if (i != 1) return al_error(AL_EINVAL, "spec: '%s': only one positional value allowed", w[0]);
            switch (c->type) {
            case AL_L_DENSE:
            case AL_L_CONV2D:
            case AL_L_GCONV:
            case AL_L_LSTM:
            case AL_L_GRU:
            case AL_L_EMBEDDING:
            case AL_L_PREPEND: ok = parse_int(w[i], 1, BIG, &c->units); break;
            case AL_L_DROPOUT: ok = parse_float(w[i], 0.0f, 0.99f, &c->rate); break;
            case AL_L_SCALE: ok = parse_float(w[i], -1e30f, 1e30f, &c->alpha); break;
            case AL_L_ADD:
            case AL_L_MUL:
            case AL_L_SUB:
            case AL_L_DIV:
            case AL_L_MAX:
            case AL_L_MIN:
            case AL_L_MATMUL: ok = parse_ref_port(w[i], prev, idx, &c->src, &c->src_port); break;
            case AL_L_CONCAT:
            case AL_L_SUM:
                ok = parse_refs(w[i], prev, idx, c);
                if (ok < 0)
                    return al_error(AL_ERANGE, "spec: '%s' (layer %d) reads more than %d inputs", w[0], idx,
                                    AL_MAX_SRCS + 1);
                break;
            case AL_L_MAXPOOL:
            case AL_L_AVGPOOL:
            case AL_L_DWCONV2D:
                ok = parse_int(w[i], 1, 64, &c->k);
                have_k = 1;
                break;
            default: return al_error(AL_EINVAL, "spec: '%s' takes no positional value", w[0]);
            }
            if (!ok) return al_error(AL_EINVAL, "spec: '%s': bad value '%s'", w[0], w[i]);
            continue;
        }
        *eq = '\0';
        const char *key = w[i], *val = eq + 1;
        if (!strcmp(key, "k")) {
            ok = parse_int(val, 1, 64, &c->k);
            have_k = 1;
        } else if (!strcmp(key, "s")) {
            ok = parse_int(val, 1, 64, &c->stride);
            have_s = 1;
        } else if (!strcmp(key, "p"))
            ok = parse_int(val, 0, 64, &c->pad);
        else if (!strcmp(key, "vocab"))
            ok = parse_int(val, 1, BIG, &c->vocab);
        else if (!strcmp(key, "g") && t == AL_L_GCONV)
            ok = parse_int(val, 2, BIG, &c->group);
        else if (!strcmp(key, "dil") && (t == AL_L_CONV2D || t == AL_L_DWCONV2D || t == AL_L_GCONV))
            ok = parse_int(val, 1, 64, &c->dil);
        else if (!strcmp(key, "value") && t == AL_L_PAD)
            ok = parse_float(val, -INFINITY, INFINITY, &c->padval);
        else if (!strcmp(key, "pads") && t == AL_L_PAD) {
            int nv = 0;
            ok = parse_list(val, 0, 64, c->pads, &nv) && nv == 4;
        }
        else if (!strcmp(key, "bias"))
            ok = parse_int(val, 0, 1, &c->bias);
        else if (!strcmp(key, "rate"))
            ok = parse_float(val, 0.0f, 0.99f, &c->rate);
        else if (!strcmp(key, "eps"))
            ok = parse_float(val, 1e-12f, 1.0f, &c->eps);
        else if (!strcmp(key, "momentum"))
            ok = parse_float(val, 1e-6f, 1.0f, &c->momentum);
        else if (!strcmp(key, "from"))
            ok = parse_ref_port(val, prev, idx, &c->src, &c->src_port);
        else if (!strcmp(key, "in")) {
            al_status e = parse_in(w[0], eq + 1, idx, prev, c);
            if (e) return e;
        }
        else if (!strcmp(key, "ceil") && (c->type == AL_L_MAXPOOL || c->type == AL_L_AVGPOOL))
            ok = parse_int(val, 0, 1, &c->ceil);
        else if (!strcmp(key, "sizes") && t == AL_L_SPLIT)
            ok = parse_sizes(val, c);
        else if (!strcmp(key, "outputs") && (t == AL_L_LSTM || t == AL_L_GRU))
            ok = parse_int(val, 1, al_layer_max_outs(t), &c->nout);
        else if (!strcmp(key, "axis") && (t == AL_L_SOFTMAX || t == AL_L_CONCAT || t == AL_L_SLICE || t == AL_L_SPLIT ||
                                           t == AL_L_PREPEND)) {
            ok = parse_int(val, -AL_SHAPE_MAX, AL_SHAPE_MAX - 1, &c->axis);
            have_axis = 1;
        } else if (!strcmp(key, "axes") &&
                 (t == AL_L_REDUCEMEAN || t == AL_L_REDUCESUM || t == AL_L_SQUEEZE || t == AL_L_UNSQUEEZE))
            ok = parse_axes(val, &c->axes);
        else if (!strcmp(key, "keepdims") && (t == AL_L_REDUCEMEAN || t == AL_L_REDUCESUM))
            ok = parse_int(val, 0, 1, &c->keepdims);
        else if (!strcmp(key, "start") && t == AL_L_SLICE)
            ok = parse_int(val, -BIG, BIG, &c->start);
        else if (!strcmp(key, "end") && t == AL_L_SLICE)
            ok = parse_int(val, -BIG, BIG, &c->end);
        else if (!strcmp(key, "step") && t == AL_L_SLICE)
            ok = parse_int(val, 1, BIG, &c->step);
        else if (!strcmp(key, "approximate") && t == AL_L_GELU) {
            ok = !strcmp(val, "none") || !strcmp(val, "tanh");
            c->mode = !strcmp(val, "tanh");
        } else if (!strcmp(key, "bcast") && t == AL_L_MUL)
            ok = parse_int(val, 0, 1, &c->mode);
        else if (!strcmp(key, "shape") && t == AL_L_RESHAPE)
            ok = parse_list(val, -1, BIG, c->dims, &c->ndims);
        else if (!strcmp(key, "shape") && t == AL_L_EXPAND)
            ok = parse_list(val, 1, BIG, c->dims, &c->ndims);
        else if (!strcmp(key, "perm") && t == AL_L_TRANSPOSE)
            ok = parse_list(val, 0, AL_SHAPE_MAX - 1, c->dims, &c->ndims);
        else if (!strcmp(key, "shift") && t == AL_L_SCALE)
            ok = parse_float(val, -1e30f, 1e30f, &c->beta);
        else if (!strcmp(key, "min") && t == AL_L_CLIP)
            ok = parse_float(val, -INFINITY, INFINITY, &c->lo);
        else if (!strcmp(key, "max") && t == AL_L_CLIP)
            ok = parse_float(val, -INFINITY, INFINITY, &c->hi);
        else if (!strcmp(key, "rank") && c->type == AL_L_LSTM)
            ok = parse_int(val, 0, BIG, &c->rank);
        else if (!strcmp(key, "act") &&
                 (c->type == AL_L_DENSE || c->type == AL_L_CONV2D || c->type == AL_L_DWCONV2D)) {
            ok = 0;
            for (int a = 1; a < AL_ACT_COUNT; a++)
                if (!strcmp(val, al_act_name(a))) {
                    c->act = a;
                    ok = 1;
                }
        }
        else
            return al_error(AL_EINVAL, "spec: '%s': unknown option '%s'", w[0], key);
        if (!ok) return al_error(AL_EINVAL, "spec: '%s': bad value for %s: '%s'", w[0], key, val);
    }
    return finish_layer(w[0], c, have_k, have_s, have_axis);
}

static al_status parse_input(char **w, int nw, al_shape *in, int *tokens) {
    memset(in, 0, sizeof *in);
    *tokens = !strcmp(w[0], "tokens");
    if (nw != 2) return al_error(AL_EINVAL, "spec: '%s' needs one shape, e.g. 'input 1x28x28'", w[0]);
    char *p = w[1];
    while (*p) {
        if (in->ndim == 3) return al_error(AL_EINVAL, "spec: input has more than 3 dimensions");
        char *x = strchr(p, 'x');
        if (x) *x = '\0';
        if (!parse_int(p, 1, BIG, &in->d[in->ndim])) return al_error(AL_EINVAL, "spec: bad input dimension '%s'", p);
        in->ndim++;
        if (!x) break;
        p = x + 1;
    }
    if (in->ndim == 0) return al_error(AL_EINVAL, "spec: empty input shape");
    if (*tokens && in->ndim != 1) return al_error(AL_EINVAL, "spec: 'tokens' takes one length, e.g. 'tokens 20'");
    return AL_OK;
}

al_status al_spec_parse(const char *spec, al_shape *in, int *input_tokens, al_layer_cfg *layers, int max, int *n) {
    if (!spec || !in || !input_tokens || !layers || !n) return al_error(AL_EINVAL, "spec: NULL argument");
    const char *b = al_spec_builtin(spec);
    if (b) spec = b;
    size_t len = strlen(spec);
    if (len > SPEC_MAX_BYTES) return al_error(AL_ERANGE, "spec: longer than %zu MiB", SPEC_MAX_BYTES >> 20);
    char *buf = al_strdup(spec);
    if (!buf) return AL_ENOMEM;
    *n = 0;
    int have_input = 0;
    al_status st = AL_OK;
    char *save = NULL;
    int idx = 0;
    for (char *stmt = strtok_r(buf, ";\n", &save); stmt; stmt = strtok_r(NULL, ";\n", &save), idx++) {
        char *w[16];
        int nw = split_words(stmt, w, 16);
        if (nw < 0) {
            st = al_error(AL_EINVAL, "spec: statement %d has too many words", idx + 1);
            break;
        }
        if (nw == 0) continue;
        if (!have_input) {
            if (strcmp(w[0], "input") && strcmp(w[0], "tokens")) {
                st = al_error(AL_EINVAL, "spec: must start with 'input CxHxW' or 'tokens T', got '%s'", w[0]);
                break;
            }
            st = parse_input(w, nw, in, input_tokens);
            if (st) break;
            have_input = 1;
            continue;
        }
        if (*n >= max) {
            st = al_error(AL_ERANGE, "spec: more than %d layers", max);
            break;
        }
        st = parse_layer(w, nw, *n, layers, &layers[*n]);
        if (st) break;
        (*n)++;
    }
    al_free(buf);
    if (st == AL_OK && !have_input) st = al_error(AL_EINVAL, "spec: empty (expected 'input ...; layer; ...')");
    if (st == AL_OK && *n == 0) st = al_error(AL_EINVAL, "spec: no layers");
    return st;
}

al_status al_spec_parse_alloc(const char *spec, al_shape *in, int *input_tokens, al_layer_cfg **layers, int *n) {
    if (!spec || !in || !input_tokens || !layers || !n) return al_error(AL_EINVAL, "spec: NULL argument");
    *layers = NULL;
    *n = 0;
    const char *b = al_spec_builtin(spec);
    if (b) spec = b;
    /* a layer per statement at most; past AL_MAX_NODES, al_spec_parse says so */
    size_t max = 1, len = 0;
    for (const char *c = spec; *c && len <= SPEC_MAX_BYTES; c++, len++)
        if (*c == ';' || *c == '\n') max++;
    if (len > SPEC_MAX_BYTES) return al_error(AL_ERANGE, "spec: longer than %zu MiB", SPEC_MAX_BYTES >> 20);
    if (max > AL_MAX_NODES) max = AL_MAX_NODES;
    al_layer_cfg *l = al_malloc(sizeof *l * max);
    if (!l) return AL_ENOMEM;
    al_status st = al_spec_parse(spec, in, input_tokens, l, (int)max, n);
    if (st) {
        al_free(l);
        *n = 0;
        return st;
    }
    *layers = l;
    return AL_OK;
}

/* A reference to tensor (node r, port p) as the parser reads it. */
static int fmt_ref(char *buf, size_t cap, int r, int p) {
    return p ? snprintf(buf, cap, "%d@%d", r, p) : snprintf(buf, cap, "%d", r);
}

char *al_spec_format(const al_shape *in, int input_tokens, const al_layer_cfg *layers, int n) {
    size_t cap = 64 + (size_t)n * (160 + AL_MAX_NAME + 16);
    for (int i = 0; i < n; i++) { /* ",65535@63" per extra operand, "65535," per split part */
        if (layers[i].nmore > 0) cap += 10 * (size_t)AL_MIN(layers[i].nmore, AL_MAX_SRCS - 1);
        if (layers[i].type == AL_L_SPLIT) cap += 10 * (size_t)AL_MIN(AL_MAX(layers[i].nout, 0), AL_MAX_OUTS);
    }
    char ref[32];
    char *s = al_malloc(cap);
    if (!s) return NULL;
    size_t o = 0;
#define PUT(...) o += (size_t)snprintf(s + o, o < cap ? cap - o : 0, __VA_ARGS__)
    PUT("%s ", input_tokens ? "tokens" : "input");
    for (int d = 0; d < in->ndim; d++) PUT(d ? "x%d" : "%d", in->d[d]);
    for (int i = 0; i < n; i++) {
        const al_layer_cfg *c = &layers[i];
        PUT("; %s%s%s", c->name, c->name[0] ? ": " : "", al_layer_type_name(c->type));
        switch (c->type) {
        case AL_L_DENSE: PUT(" %d", c->units); break;
        case AL_L_CONV2D: PUT(" %d k=%d s=%d p=%d", c->units, c->k, c->stride, c->pad); break;
        case AL_L_GCONV: PUT(" %d g=%d k=%d s=%d p=%d", c->units, c->group, c->k, c->stride, c->pad); break;
        case AL_L_DWCONV2D:
        case AL_L_MAXPOOL:
        case AL_L_AVGPOOL:
            PUT(" k=%d s=%d p=%d", c->k, c->stride, c->pad);
            if (c->ceil) PUT(" ceil=1");
            break;
        case AL_L_LSTM:
            PUT(" %d", c->units);
            if (c->rank) PUT(" rank=%d", c->rank);
            if (c->nout > 1) PUT(" outputs=%d", c->nout);
            break;
        case AL_L_GRU:
            PUT(" %d", c->units);
            if (c->nout > 1) PUT(" outputs=%d", c->nout);
            break;
        case AL_L_EMBEDDING: PUT(" %d vocab=%d", c->units, c->vocab); break;
        case AL_L_DROPOUT: PUT(" %g", (double)c->rate); break;
        case AL_L_ADD:
        case AL_L_SUB:
        case AL_L_DIV:
        case AL_L_MAX:
        case AL_L_MIN:
        case AL_L_MATMUL:
            fmt_ref(ref, sizeof ref, c->src, c->src_port);
            PUT(" %s", ref);
            break;
        case AL_L_PAD:
            PUT(" pads=%d,%d,%d,%d", c->pads[0], c->pads[1], c->pads[2], c->pads[3]);
            if (c->padval != 0.0f) PUT(" value=%.9g", (double)c->padval);
            break;
        case AL_L_CONCAT:
        case AL_L_SUM:
            fmt_ref(ref, sizeof ref, c->src, c->src_port);
            PUT(" %s", ref);
            for (int k = 0; k < c->nmore && k < AL_MAX_SRCS - 1; k++) {
                fmt_ref(ref, sizeof ref, c->more[k], c->more_port[k]);
                PUT(",%s", ref);
            }
            if (c->type == AL_L_CONCAT) PUT(" axis=%d", c->axis);
            break;
        case AL_L_MUL:
            fmt_ref(ref, sizeof ref, c->src, c->src_port);
            PUT(" %s", ref);
            if (c->mode) PUT(" bcast=1");
            break;
        case AL_L_SPLIT:
            PUT(" axis=%d sizes=", c->axis);
            for (int k = 0; k < c->nout && k < AL_MAX_OUTS; k++) PUT(k ? ",%d" : "%d", c->sizes[k]);
            break;
        case AL_L_GELU:
            if (c->mode) PUT(" approximate=tanh");
            break;
        case AL_L_CLIP: PUT(" min=%.9g max=%.9g", (double)c->lo, (double)c->hi); break;
        case AL_L_SCALE:
            PUT(" %.9g", (double)c->alpha);
            if (c->beta != 0.0f) PUT(" shift=%.9g", (double)c->beta);
            break;
        case AL_L_LAYERNORM:
            if (c->eps != 1e-5f) PUT(" eps=%.9g", (double)c->eps);
            break;
        case AL_L_REDUCEMEAN:
        case AL_L_REDUCESUM:
        case AL_L_SQUEEZE:
        case AL_L_UNSQUEEZE:
            if (c->axes) {
                PUT(" axes=");
                const char *sep = "";
                for (int b = 0; b < 2 * AL_SHAPE_MAX; b++)
                    if (c->axes >> b & 1) {
                        PUT("%s%d", sep, b < AL_SHAPE_MAX ? b : b - 2 * AL_SHAPE_MAX);
                        sep = ",";
                    }
            }
            if (c->keepdims) PUT(" keepdims=1");
            break;
        case AL_L_RESHAPE:
        case AL_L_EXPAND:
        case AL_L_TRANSPOSE:
            PUT(" %s=", c->type == AL_L_TRANSPOSE ? "perm" : "shape");
            for (int d = 0; d < c->ndims && d < AL_SHAPE_MAX; d++) PUT(d ? ",%d" : "%d", c->dims[d]);
            break;
        case AL_L_SOFTMAX: PUT(" axis=%d", c->axis); break;
        case AL_L_PREPEND: PUT(" %d axis=%d", c->units, c->axis); break;
        case AL_L_SLICE:
            PUT(" axis=%d start=%d step=%d", c->axis, c->start, c->step);
            if (c->end != AL_SLICE_END) PUT(" end=%d", c->end);
            break;
        case AL_L_BATCHNORM:
            if (c->eps != 1e-5f) PUT(" eps=%g", (double)c->eps);
            if (c->momentum != 0.1f) PUT(" momentum=%g", (double)c->momentum);
            break;
        default: break;
        }
        if ((c->type == AL_L_DENSE || c->type == AL_L_CONV2D || c->type == AL_L_DWCONV2D || c->type == AL_L_GCONV) &&
            !c->bias)
            PUT(" bias=0");
        if (c->dil > 1) PUT(" dil=%d", c->dil);
        if (c->back || c->in_port) {
            fmt_ref(ref, sizeof ref, i - 1 - c->back, c->in_port);
            PUT(" in=%s", ref);
        }
        if (al_act_name(c->act)) PUT(" act=%s", al_act_name(c->act));
    }
#undef PUT
    if (o >= cap) {
        al_free(s);
        al_error(AL_ENOMEM, "spec too long to format");
        return NULL;
    }
    return s;
}
