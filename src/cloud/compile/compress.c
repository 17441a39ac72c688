/* SVD low-rank compression: rank selection and factorization (compress.h). */
#include "compress.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void al_compress_plan_free(al_compress_plan *p) {
    if (!p) return;
    for (int i = 0; i < p->nlayers; i++) {
        al_free(p->layers[i].u);
        al_free(p->layers[i].s);
        al_free(p->layers[i].vt);
    }
    al_free(p->layers);
    memset(p, 0, sizeof *p);
}

static int has_bias(const al_compress_layer *l, const al_node *nd) {
    return l->kind != AL_CK_LSTM_IH && l->kind != AL_CK_LSTM_HH && nd->cfg.bias;
}

/* Appends layer l of node nd (weight parameter q) to the plan with its SVD. */
static al_status add_layer(al_compress_plan *p, const al_node *nd, al_compress_layer l, int q) {
    l.full = AL_MIN(l.m, l.n);
    l.macs_before = l.macs_after = l.rows * (uint64_t)l.m * (uint64_t)l.n;
    l.params_before = (size_t)l.m * (size_t)l.n + (has_bias(&l, nd) ? (size_t)l.m : 0);
    l.params_after = l.params_before;
    l.energy = 1.0;
    l.u = al_malloc(sizeof(float) * (size_t)l.m * (size_t)l.full);
    l.s = al_malloc(sizeof(float) * (size_t)l.full);
    l.vt = al_malloc(sizeof(float) * (size_t)l.full * (size_t)l.n);
    p->layers[p->nlayers++] = l;
    if (!l.u || !l.s || !l.vt) return AL_ENOMEM;
    return al_svd(nd->params[q].w, l.m, l.n, l.u, l.s, l.vt);
}

al_status al_compress_analyze(const al_model *m, al_compress_plan *p) {
    if (!m || !p) return al_error(AL_EINVAL, "al_compress_analyze: NULL argument");
    memset(p, 0, sizeof *p);
    /* one entry per dense, conv and LSTM (W_ih), another for an LSTM's W_hh */
    size_t cap = 0;
    for (int i = 0; i < m->nnodes; i++) {
        al_layer_type t = m->nodes[i].cfg.type;
        cap += t == AL_L_DENSE || t == AL_L_CONV2D || t == AL_L_LSTM;
        cap += t == AL_L_LSTM && m->nodes[i].cfg.rank == 0;
    }
    if (cap == 0) return al_error(AL_EINVAL, "the model has no layer to factorize (dense, conv or lstm)");
    p->layers = al_calloc(cap, sizeof *p->layers);
    if (!p->layers) return AL_ENOMEM;
    for (int i = 0; i < m->nnodes; i++) {
        const al_node *nd = &m->nodes[i];
        al_compress_layer l;
        memset(&l, 0, sizeof l);
        l.node = i;
        if (nd->cfg.type == AL_L_DENSE) {
            /* weight [out, in]; applied to every leading position of the input */
            l.kind = AL_CK_DENSE;
            l.m = nd->params[0].dims[0];
            l.n = nd->params[0].dims[1];
            l.rows = 1;
            for (int d = 0; d < nd->in.ndim - 1; d++) l.rows *= (uint64_t)nd->in.d[d];
        } else if (nd->cfg.type == AL_L_CONV2D) {
            /* weight [F, C, k, k] read as F x (C*k*k); one row per output pixel */
            l.kind = AL_CK_CONV;
            l.m = nd->params[0].dims[0];
            l.n = nd->params[0].dims[1] * nd->params[0].dims[2] * nd->params[0].dims[3];
            l.rows = (uint64_t)nd->out.d[1] * (uint64_t)nd->out.d[2];
        } else if (nd->cfg.type == AL_L_LSTM) {
            /* weight_ih [4H, E], applied at each of T steps */
            l.kind = AL_CK_LSTM_IH;
            l.m = nd->params[0].dims[0];
            l.n = nd->params[0].dims[1];
            l.rows = (uint64_t)nd->in.d[0];
        } else {
            continue;
        }
        al_status st = add_layer(p, nd, l, 0);
        if (!st && nd->cfg.type == AL_L_LSTM && nd->cfg.rank == 0) {
            /* weight_hh [4H, H], also applied at each of T steps */
            l.kind = AL_CK_LSTM_HH;
            l.m = nd->params[1].dims[0];
            l.n = nd->params[1].dims[1];
            st = add_layer(p, nd, l, 1);
        }
        if (st) {
            al_compress_plan_free(p);
            return st;
        }
    }
    p->macs_before = p->macs_after = al_model_macs(m);
    p->params_before = p->params_after = al_model_num_params(m);
    p->threshold = 1.0;
    return AL_OK;
}

int al_compress_energy_rank(const al_compress_layer *l, double energy) {
    double total = 0;
    for (int j = 0; j < l->full; j++) total += (double)l->s[j] * l->s[j];
    double want = energy * total, cum = 0;
    for (int j = 0; j < l->full; j++) {
        cum += (double)l->s[j] * l->s[j];
        /* the relative slack absorbs rounding of the sum at energy 1 */
        if (cum >= want * (1.0 - 1e-12)) return j + 1;
    }
    return l->full;
}

/* Sets layer l to rank r (0: kept), honouring the MAC rule unless forced. */
static void set_rank(al_compress_layer *l, int r, int force) {
    if (r > l->full) r = l->full;
    if (r > 0 && !force && (uint64_t)r * (uint64_t)(l->m + l->n) >= (uint64_t)l->m * (uint64_t)l->n) r = 0;
    l->rank = r;
    size_t bias = l->params_before - (size_t)l->m * (size_t)l->n;
    if (r == 0) {
        l->energy = 1.0;
        l->macs_after = l->macs_before;
        l->params_after = l->params_before;
        return;
    }
    double total = 0, kept = 0;
    for (int j = 0; j < l->full; j++) {
        double e = (double)l->s[j] * l->s[j];
        total += e;
        if (j < r) kept += e;
    }
    l->energy = total > 0 ? kept / total : 1.0;
    l->macs_after = l->rows * (uint64_t)r * (uint64_t)(l->m + l->n);
    l->params_after = (size_t)r * (size_t)(l->m + l->n) + bias;
}

static void totals(al_compress_plan *p) {
    p->macs_after = p->macs_before;
    p->params_after = p->params_before;
    for (int i = 0; i < p->nlayers; i++) {
        const al_compress_layer *l = &p->layers[i];
        p->macs_after = p->macs_after - l->macs_before + l->macs_after;
        p->params_after = p->params_after - l->params_before + l->params_after;
    }
}

static void apply_energy(al_compress_plan *p, double e, int force) {
    for (int i = 0; i < p->nlayers; i++) set_rank(&p->layers[i], al_compress_energy_rank(&p->layers[i], e), force);
    p->threshold = e;
    totals(p);
}

al_status al_compress_choose(al_compress_plan *p, const al_compress_policy *pol) {
    if (!p || !pol) return al_error(AL_EINVAL, "al_compress_choose: NULL argument");
    double v = pol->value;
    switch (pol->kind) {
    case AL_RANK_ENERGY:
        if (!(v > 0.0 && v <= 1.0)) return al_error(AL_EINVAL, "energy must be in (0, 1], got %g", v);
        apply_energy(p, v, pol->force);
        return AL_OK;
    case AL_RANK_FIXED:
        if (!(v >= 1.0 && v <= (double)(1 << 30))) return al_error(AL_EINVAL, "rank must be at least 1, got %g", v);
        for (int i = 0; i < p->nlayers; i++) set_rank(&p->layers[i], (int)v, pol->force);
        p->threshold = -1;
        totals(p);
        return AL_OK;
    case AL_RANK_MACS:
    case AL_RANK_PARAMS: {
        const int macs = pol->kind == AL_RANK_MACS;
        const char *what = macs ? "MACs" : "parameters";
        if (!(v > 1.0 && v < 1e9)) return al_error(AL_EINVAL, "%s reduction factor must be > 1, got %g", what, v);
        double before = macs ? (double)p->macs_before : (double)p->params_before, target = before / v;
#define METRIC() (macs ? (double)p->macs_after : (double)p->params_after)
        /* the metric grows with the threshold: the largest threshold whose
         * metric meets the target, by bisection (near 0 every layer has rank 1) */
        apply_energy(p, 1e-9, pol->force);
        if (METRIC() > target)
            return al_error(AL_ERANGE, "cannot reduce %s by %gx: rank 1 everywhere gives %.3gx (%.0f -> %.0f)", what, v,
                            before / METRIC(), before, METRIC());
        double lo = 1e-9, hi = 1.0;
        apply_energy(p, hi, pol->force);
        if (METRIC() > target) {
            for (int it = 0; it < 60; it++) {
                double mid = 0.5 * (lo + hi);
                apply_energy(p, mid, pol->force);
                if (METRIC() <= target)
                    lo = mid;
                else
                    hi = mid;
            }
            apply_energy(p, lo, pol->force);
        }
#undef METRIC
        return AL_OK;
    }
    }
    return al_error(AL_EINVAL, "unknown rank policy %d", (int)pol->kind);
}

/* The factorized entry of node `node` that inserts a node before it (every
 * kind but W_hh), or NULL. */
static const al_compress_layer *plan_layer(const al_compress_plan *p, int node) {
    for (int i = 0; i < p->nlayers; i++)
        if (p->layers[i].node == node && p->layers[i].rank > 0 && p->layers[i].kind != AL_CK_LSTM_HH)
            return &p->layers[i];
    return NULL;
}

/* The factorized W_hh entry of node `node`, or NULL. */
static const al_compress_layer *plan_hh(const al_compress_plan *p, int node) {
    for (int i = 0; i < p->nlayers; i++)
        if (p->layers[i].node == node && p->layers[i].rank > 0 && p->layers[i].kind == AL_CK_LSTM_HH)
            return &p->layers[i];
    return NULL;
}

/* Copies every parameter of src whose name and size dst shares. */
static void copy_params(const al_node *src, al_node *dst) {
    for (int q = 0; q < src->nparams; q++)
        for (int k = 0; k < dst->nparams; k++)
            if (!strcmp(src->params[q].name, dst->params[k].name) && src->params[q].n == dst->params[k].n)
                memcpy(dst->params[k].w, src->params[q].w, sizeof(float) * src->params[q].n);
}

/* W1 [r, n] = sqrt(S_r) V_r^T (rows ld1 = n);  W2 [m, r] = U_r sqrt(S_r) */
static void set_factors(const al_compress_layer *l, float *w1, float *w2) {
    const int r = l->rank, full = l->full;
    for (int j = 0; j < r; j++) {
        float sq = sqrtf(l->s[j]);
        for (int c = 0; c < l->n; c++) w1[(size_t)j * l->n + c] = sq * l->vt[(size_t)j * l->n + c];
        for (int row = 0; row < l->m; row++) w2[(size_t)row * r + j] = l->u[(size_t)row * full + j] * sq;
    }
}

al_status al_compress_apply(const al_model *m, const al_compress_plan *p, al_model **out) {
    if (!m || !p || !out) return al_error(AL_EINVAL, "al_compress_apply: NULL argument");
    *out = NULL;
    /* at most two new nodes per old one */
    al_layer_cfg *cfg = al_malloc(sizeof *cfg * 2 * (size_t)m->nnodes);
    int *first = al_malloc(sizeof *first * ((size_t)m->nnodes + 1)), n = 0; /* first[i]: new index of old node i's first node */
    al_model *o = NULL;
    al_status st = AL_OK;
    if (!cfg || !first) {
        st = AL_ENOMEM;
        goto done;
    }
    for (int i = 0; i < m->nnodes; i++) {
        const al_node *nd = &m->nodes[i];
        const al_compress_layer *l = plan_layer(p, i), *hh = plan_hh(p, i);
        if ((l && (l->m != nd->params[0].dims[0] || l->node >= m->nnodes)) ||
            (hh && (nd->cfg.type != AL_L_LSTM || nd->cfg.rank || hh->m != nd->params[1].dims[0] ||
                    hh->n != nd->params[1].dims[1]))) {
            st = al_error(AL_EINVAL, "the compression plan is for another model (node %d)", i);
            goto done;
        }
        first[i] = n;
        if (n + (l ? 2 : 1) > AL_MAX_NODES) {
            st = al_error(AL_ERANGE, "the factorized model would have more than %d layers", AL_MAX_NODES);
            goto done;
        }
        al_layer_cfg c = nd->cfg;
        if (hh) c.rank = hh->rank;
        /* the output of old node x is the output of its last new node */
        for (int k = 0; k < al_cfg_nsrc(&c); k++) {
            int *s = al_cfg_src_ref(&c, k);
            if (*s >= 0) *s = first[*s] + (plan_layer(p, *s) ? 1 : 0);
        }
        int x = al_node_input(nd), xnew = x < 0 ? -1 : first[x] + (plan_layer(p, x) ? 1 : 0);
        c.back = n - 1 - xnew; /* the first new node reads what the old one read */
        if (!l) {
            cfg[n++] = c;
            continue;
        }
        al_layer_cfg a;
        memset(&a, 0, sizeof a);
        if (l->kind == AL_CK_CONV) {
            /* k x k conv to r channels (same stride and padding), then 1x1 to F */
            a = c;
            a.units = l->rank;
            a.bias = 0;
            a.name[0] = '\0'; /* the name stays with the old layer's output: b's */
            cfg[n++] = a;
            al_layer_cfg b;
            memset(&b, 0, sizeof b);
            b.type = AL_L_CONV2D;
            b.units = c.units;
            b.k = 1;
            b.stride = 1;
            b.bias = c.bias; /* b.back = 0: it reads the factor a */
            memcpy(b.name, c.name, sizeof b.name);
            cfg[n++] = b;
        } else {
            /* dense r bias=0 on the last dimension, then the layer itself reading r */
            a.type = AL_L_DENSE;
            a.units = l->rank;
            a.bias = 0;
            a.back = c.back;
            a.in_port = c.in_port;
            cfg[n++] = a;
            c.back = 0; /* the layer reads the factor a */
            c.in_port = 0;
            cfg[n++] = c;
        }
    }
    first[m->nnodes] = n;
    if ((st = al_model_build(&m->in, m->input_tokens, cfg, n, &o))) goto done;
    for (int i = 0; i < m->nnodes; i++) {
        const al_node *src = &m->nodes[i];
        const al_compress_layer *l = plan_layer(p, i), *hh = plan_hh(p, i);
        /* the node that takes src's place (after the inserted factor, if any) */
        al_node *dst = &o->nodes[first[i] + (l ? 1 : 0)];
        /* the parameters kept as they were (bias; LSTM: W_hh, biases); a
         * factorized weight's size differs, so it is not copied */
        copy_params(src, dst);
        if (l) set_factors(l, o->nodes[first[i]].params[0].w, dst->params[0].w);
        /* LSTM W_hh = U V: weight_hh_u [4H, r] = W2, weight_hh_v [r, H] = W1 */
        if (hh) set_factors(hh, dst->params[2].w, dst->params[1].w);
    }
    o->rng = m->rng;
    int ft = m->freeze;
    (void)al_model_freeze(o, ft >= 0 && ft <= m->nnodes ? first[ft] : 0);
    for (int i = 0; i < m->nmeta && !st; i++) {
        const char *val = m->meta_val[i];
        char buf[32];
        if (!strcmp(m->meta_key[i], "autlearn.freeze")) {
            char *end;
            long k = strtol(val, &end, 10);
            if (*end == '\0' && end != val && k >= 0 && k <= m->nnodes) {
                snprintf(buf, sizeof buf, "%d", first[k]);
                val = buf;
            }
        }
        st = al_model_set_meta(o, m->meta_key[i], val);
    }
done:
    al_free(cfg);
    al_free(first);
    if (st) {
        al_model_free(o);
        return st;
    }
    *out = o;
    return AL_OK;
}
