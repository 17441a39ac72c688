/* The network compiler: folding, fusion and the stored memory plan
 * (compile.h; docs/COMPILE.md). One walk over the input nodes decides for
 * each whether it is kept (a new node), folded or fused into the node just
 * kept, or dropped; then the new graph is built, the weights copied (folded
 * where a batch norm was absorbed) and the plan computed and recorded. */
#include "compile.h"
#include "quant.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void al_compile_defaults(al_compile_opts *o) {
    memset(o, 0, sizeof *o);
    o->fold_bn = o->fuse_act = o->drop_dropout = 1;
    o->batch = 32;
    o->calib_pct = AL_CALIB_PCT_DEFAULT;
    o->quant_min_k = AL_QUANT_MIN_K;
}

/* What became of the input nodes: new node j was made from origin[j] and
 * absorbed bn[j] (a folded batch norm, or -1) and act_from[j] (a fused
 * activation node, or -1). */
typedef struct cplan {
    int nn;
    /* one entry per input node (the most the compiled model can have) */
    al_layer_cfg *cfg;
    int *origin, *bn, *act_from;
    int *feeds_add; /* the output of some input node mapped to j is read by another node than the next */
    int *is_src;    /* input node i's output is read by another node than node i + 1 (as an add's, a
                     * mul's, a concat's ... operand, or as a later node's primary input) */
    int *ints;      /* the block behind the int arrays */
} cplan;

static void cplan_free(cplan *p) {
    al_free(p->cfg);
    al_free(p->ints);
    memset(p, 0, sizeof *p);
}

static al_status cplan_alloc(cplan *p, int n) {
    memset(p, 0, sizeof *p);
    p->cfg = al_malloc(sizeof *p->cfg * (size_t)n);
    p->ints = al_calloc(5 * (size_t)n, sizeof *p->ints);
    if (!p->cfg || !p->ints) {
        cplan_free(p);
        return AL_ENOMEM;
    }
    p->origin = p->ints;
    p->bn = p->origin + n;
    p->act_from = p->bn + n;
    p->feeds_add = p->act_from + n;
    p->is_src = p->feeds_add + n;
    return AL_OK;
}

void al_compile_report_free(al_compile_report *r) {
    if (!r) return;
    al_free(r->map);
    r->map = NULL;
}

static int can_absorb(const cplan *p, int j, int prev_old, const int *map) {
    if (j < 0 || map[prev_old] != j) return 0; /* j must produce the previous node's output */
    const al_layer_cfg *c = &p->cfg[j];
    return (c->type == AL_L_CONV2D || c->type == AL_L_DENSE || c->type == AL_L_DWCONV2D) && c->act == AL_ACT_NONE &&
           !p->feeds_add[j];
}

static al_status plan_passes(const al_model *in, int K, const al_compile_opts *o, cplan *p, al_compile_report *r) {
    int *is_src = p->is_src; /* zeroed */
    for (int i = 0; i < in->nnodes; i++) {
        const al_node *nd = &in->nodes[i];
        for (int k = 0; k < al_cfg_nsrc(&nd->cfg); k++)
            if (al_cfg_src(&nd->cfg, k) >= 0) is_src[al_cfg_src(&nd->cfg, k)] = 1;
        if (nd->cfg.back && al_node_input(nd) >= 0) is_src[al_node_input(nd)] = 1;
    }
    p->nn = 0;
    for (int i = 0; i < in->nnodes; i++) {
        const al_node *nd = &in->nodes[i];
        int j = p->nn - 1; /* the node kept last */
        al_layer_type t = nd->cfg.type;
        int x = al_node_input(nd), xmap = x < 0 ? -1 : r->map[x]; /* the input, and where it went */
        if (nd->cfg.back) { /* reads an earlier node than the previous: nothing to absorb into */
        } else if (o->fold_bn && t == AL_L_BATCHNORM && i < K && i > 0 && can_absorb(p, j, i - 1, r->map) &&
            p->bn[j] < 0 && (p->cfg[j].type == AL_L_CONV2D || in->nodes[i - 1].out.ndim == 1)) {
            /* a dense on a sequence ([T, in] -> [T, N]) normalises over T, not N: not foldable */
            p->bn[j] = i;
            p->cfg[j].bias = 1;
            p->feeds_add[j] |= is_src[i];
            r->map[i] = j;
            r->folded_bn++;
            continue;
        } else if (o->fuse_act && (t == AL_L_RELU || t == AL_L_RELU6) && i > 0 && can_absorb(p, j, i - 1, r->map)) {
            p->cfg[j].act = t == AL_L_RELU ? AL_ACT_RELU : AL_ACT_RELU6;
            p->act_from[j] = i;
            p->feeds_add[j] |= is_src[i];
            r->map[i] = j;
            r->fused_act++;
            continue;
        }
        /* (a dropout reading a later output of a split stays: a node's readers are remapped to a node, port 0) */
        if (o->drop_dropout && t == AL_L_DROPOUT && i < K && in->nnodes > 1 && (xmap >= 0 || i + 1 < in->nnodes) &&
            nd->cfg.in_port == 0) {
            r->map[i] = xmap; /* its output is its input: node xmap's, or the model input */
            if (xmap >= 0) p->feeds_add[xmap] |= is_src[i];
            r->dropped++;
            continue;
        }
        p->cfg[p->nn] = nd->cfg;
        p->cfg[p->nn].back = p->nn - 1 - xmap;
        for (int k = 0; k < al_cfg_nsrc(&nd->cfg); k++) {
            int *s = al_cfg_src_ref(&p->cfg[p->nn], k);
            if (*s >= 0) *s = r->map[*s];
        }
        p->origin[p->nn] = i;
        p->bn[p->nn] = p->act_from[p->nn] = -1;
        p->feeds_add[p->nn] = is_src[i];
        r->map[i] = p->nn++;
    }
    if (p->nn == 0) return al_error(AL_EINVAL, "compile: every node would be removed");
    return AL_OK;
}

/* Copies node j's weights from its origin, folding the absorbed batch norm
 * (frozen: the affine map y = x * scale + shift with the running
 * statistics, computed as batchnorm.c does) into the weight rows and bias:
 *   W'[f, :] = W[f, :] * scale[f],  b'[f] = b[f] * scale[f] + shift[f]. */
static void copy_weights(const al_model *in, const cplan *p, int j, al_node *dst) {
    const al_node *src = &in->nodes[p->origin[j]];
    for (int q = 0; q < src->nparams; q++) memcpy(dst->params[q].w, src->params[q].w, sizeof(float) * src->params[q].n);
    if (p->bn[j] < 0) return;
    const al_node *bn = &in->nodes[p->bn[j]];
    const float *gamma = bn->params[0].w, *beta = bn->params[1].w, *mean = bn->params[2].w, *var = bn->params[3].w;
    float *w = dst->params[0].w, *b = dst->params[1].w;
    int F = dst->params[0].dims[0];
    size_t row = dst->params[0].n / (size_t)F;
    for (int f = 0; f < F; f++) {
        float is = (float)(1.0 / sqrt((double)var[f] + (double)bn->cfg.eps));
        float scale = gamma[f] * is, shift = beta[f] - mean[f] * scale;
        for (size_t k = 0; k < row; k++) w[(size_t)f * row + k] *= scale;
        float b0 = src->cfg.bias ? b[f] : 0.0f;
        b[f] = b0 * scale + shift;
    }
}

static al_status set_meta_int(al_model *m, const char *key, long long v) {
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", v);
    return al_model_set_meta(m, key, buf);
}

/* "conv+batchnorm+relu(0-2) maxpool(3) ...": what each compiled node was. */
static char *node_notes(const al_model *in, const cplan *p) {
    size_t cap = (size_t)p->nn * 48 + 1, o = 0;
    char *s = al_malloc(cap);
    if (!s) return NULL;
    s[0] = '\0';
    for (int j = 0; j < p->nn; j++) {
        int first = p->origin[j], last = first;
        if (p->bn[j] > last) last = p->bn[j];
        if (p->act_from[j] > last) last = p->act_from[j];
        o += (size_t)snprintf(s + o, cap - o, "%s%s%s%s%s%s", j ? " " : "",
                              al_layer_type_name(in->nodes[first].cfg.type), p->bn[j] >= 0 ? "+" : "",
                              p->bn[j] >= 0 ? "batchnorm" : "", p->act_from[j] >= 0 ? "+" : "",
                              p->act_from[j] >= 0 ? al_layer_type_name(in->nodes[p->act_from[j]].cfg.type) : "");
        if (last > first)
            o += (size_t)snprintf(s + o, cap - o, "(%d-%d)", first, last);
        else
            o += (size_t)snprintf(s + o, cap - o, "(%d)", first);
        if (o >= cap) break;
    }
    return s;
}

/* The span plan p keeps for the chunk arena (0: none). */
static size_t arena_span(const al_memplan *p) {
    const al_membuf *b = al_memplan_find(p, AL_MB_CHUNK, -1);
    return b ? b->bytes : 0;
}

al_status al_compile(const al_model *in, int freeze, const al_compile_opts *o, al_model **out,
                     al_compile_report *r) {
    if (!in || !out) return al_error(AL_EINVAL, "al_compile: NULL argument");
    *out = NULL;
    al_compile_opts defaults;
    if (!o) {
        al_compile_defaults(&defaults);
        o = &defaults;
    }
    if (freeze < 0 || freeze > in->nnodes)
        return al_error(AL_ERANGE, "compile: freeze point %d out of range 0..%d (the model has %d nodes)", freeze,
                        in->nnodes, in->nnodes);
    int across = al_model_src_across(in, freeze);
    if (across >= 0)
        return al_error(AL_EINVAL,
                        "compile: node %d %s the model input across the freeze point %d (the frozen "
                        "prefix's outputs cannot include it); move the freeze point",
                        across, al_model_src_verb(in, across), freeze);
    if (o->batch <= 0 || o->batch > (1 << 20))
        return al_error(AL_ERANGE, "compile: batch %d out of range 1..%d", o->batch, 1 << 20);
    al_compile_report rep;
    memset(&rep, 0, sizeof rep);
    rep.nodes_in = in->nnodes;
    rep.freeze_in = freeze;
    rep.batch = o->batch;
    cplan pl, *p = &pl;
    al_model *m = NULL;
    al_memplan mp = {0};
    char *notes = NULL;
    rep.map = al_malloc(sizeof *rep.map * (size_t)in->nnodes);
    al_status st = rep.map ? cplan_alloc(p, in->nnodes) : AL_ENOMEM;
    if (st) {
        al_free(rep.map);
        return st;
    }
    st = plan_passes(in, freeze, o, p, &rep);
    if (!st) st = al_model_build(&in->in, in->input_tokens, p->cfg, p->nn, &m);
    if (st) goto done;
    for (int j = 0; j < p->nn; j++) copy_weights(in, p, j, &m->nodes[j]);
    m->rng = in->rng;
    m->chunk = in->chunk; /* the execution setting the plans below depend on */
    rep.nodes_out = p->nn;
    rep.freeze_out = 0;
    for (int j = 0; j < p->nn; j++) rep.freeze_out += p->origin[j] < freeze;
    if ((st = al_model_freeze(m, rep.freeze_out))) goto done;
    /* int8 for the frozen part, after folding so the folded weights are the
     * ones quantized (src/cloud/compile/quant.h: dense/conv with K >= 32) */
    if (o->quantize_frozen && (st = al_quantize_frozen_k(m, o->quantize_dw, o->quant_min_k, &rep.quantized)))
        goto done;
    /* static input scales from the calibration samples (the int8 chain) */
    if (o->quantize_frozen && o->calib_x &&
        (st = al_quantize_calibrate_x(m, NULL, o->calib_x, o->calib_n, o->calib_pct, &rep.calibrated)))
        goto done;
    /* the plans: the input as it was (naive), the input with the planner
     * alone, and the compiled model */
    if ((st = al_memplan_build_at(in, o->batch, 1, freeze, &mp))) goto done;
    rep.uncompiled_bytes = mp.total;
    al_memplan_free(&mp);
    if ((st = al_memplan_build_at(in, o->batch, 0, freeze, &mp))) goto done;
    rep.input_plan_bytes = mp.total;
    rep.input_arena_bytes = arena_span(&mp);
    al_memplan_free(&mp);
    if ((st = al_memplan_build(m, o->batch, 0, &mp))) goto done;
    rep.plan_bytes = mp.total;
    rep.arena_bytes = arena_span(&mp);
    al_memplan_free(&mp);
    for (int i = 0; i < in->nmeta && !st; i++)
        if (strncmp(in->meta_key[i], "autlearn.plan.", 14) != 0)
            st = al_model_set_meta(m, in->meta_key[i], in->meta_val[i]);
    char passes[128];
    int np = snprintf(passes, sizeof passes, "fold_bn=%d fuse_act=%d drop_dropout=%d quantize_frozen=%d",
                      rep.folded_bn, rep.fused_act, rep.dropped, rep.quantized);
    if (rep.calibrated && np > 0 && (size_t)np < sizeof passes)
        snprintf(passes + np, sizeof passes - (size_t)np, " static_scales=%d", rep.calibrated);
    notes = node_notes(in, p);
    if (!notes && !st) st = AL_ENOMEM;
    if (!st) st = set_meta_int(m, "autlearn.freeze", rep.freeze_out);
    if (!st) st = set_meta_int(m, "autlearn.plan.batch", o->batch);
    if (!st) st = set_meta_int(m, "autlearn.plan.peak_bytes", (long long)rep.plan_bytes);
    if (!st) st = set_meta_int(m, "autlearn.plan.uncompiled_bytes", (long long)rep.uncompiled_bytes);
    if (!st) st = set_meta_int(m, "autlearn.plan.source_freeze", freeze);
    if (!st) st = al_model_set_meta(m, "autlearn.plan.passes", passes);
    if (!st) st = al_model_set_meta(m, "autlearn.plan.nodes", notes);
done:
    al_free(notes);
    cplan_free(p);
    if (st) {
        al_compile_report_free(&rep);
        al_model_free(m);
        return st;
    }
    if (r)
        *r = rep;
    else
        al_compile_report_free(&rep);
    *out = m;
    return AL_OK;
}

al_status al_compile_check_plan(const al_model *m, size_t *stored, size_t *now) {
    if (!m || !stored || !now) return al_error(AL_EINVAL, "al_compile_check_plan: NULL argument");
    *stored = *now = 0;
    const char *b = al_model_meta(m, "autlearn.plan.batch"), *pk = al_model_meta(m, "autlearn.plan.peak_bytes");
    if (!b || !pk) return AL_OK;
    char *e1, *e2;
    long batch = strtol(b, &e1, 10);
    unsigned long long peak = strtoull(pk, &e2, 10);
    if (*e1 || *e2 || batch <= 0 || batch > (1 << 20))
        return al_error(AL_EFORMAT, "autlearn.plan.batch '%s' / peak_bytes '%s' are not valid numbers", b, pk);
    al_memplan mp;
    al_status st = al_memplan_build(m, (int)batch, 0, &mp);
    if (st) return st;
    *now = mp.total;
    al_memplan_free(&mp);
    *stored = (size_t)peak;
    if (*now != *stored)
        return al_error(AL_ESTATE, "the stored plan's peak %llu bytes at batch %ld differs from this build's %zu bytes",
                        peak, batch, *now);
    return AL_OK;
}
