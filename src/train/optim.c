/* SGD (momentum, Nesterov, L2 weight decay), Adam (L2) and AdamW (decoupled
 * weight decay), element for element as PyTorch's single-tensor code paths,
 * and global-norm gradient clipping. The state is allocated once, when the
 * trainer is created; a step allocates nothing. Per element the arithmetic is
 * in float like PyTorch's; bias corrections are computed in double. */

#include "train/train.h"

#include <math.h>
#include <string.h>

/* Whether tensor p of node nd is in the parameter subset (train.h). */
int al_optim_in_subset(const al_node *nd, const al_param *p, int subset) {
    int norm = nd->cfg.type == AL_L_BATCHNORM;
    if (subset == AL_PARAMS_BIAS) return norm || strcmp(p->name, "bias") == 0;
    if (subset == AL_PARAMS_NORM) return norm;
    return 1;
}

/* A tensor the optimizer updates: of a trainable node before the frozen
 * suffix (end: its first node, NULL: none; nodes are stored in order, so a
 * pointer comparison), not state, and in the configured subset
 * (al_train_config.param_subset). */
static int param_trained(const al_node *nd, const al_param *p, int subset, const al_node *end) {
    if (!nd->trainable || p->is_state || !p->g || (end && nd >= end)) return 0;
    return al_optim_in_subset(nd, p, subset);
}

/* L2-SP's reference (cfg->l2sp_ref) must hold the same tensors as m, of the
 * same sizes, in the same order: its value of each is read where m's lies. */
static al_status ref_matches(const al_model *m, const al_model *ref) {
    if (ref->nnodes != m->nnodes || ref->nweights != m->nweights)
        return al_error(AL_EINVAL, "l2sp_ref: the reference model has %d nodes and %zu weights, the trained one %d and "
                                   "%zu (the same architecture is needed)",
                        ref->nnodes, ref->nweights, m->nnodes, m->nweights);
    for (int i = 0; i < m->nnodes; i++) {
        const al_node *a = &m->nodes[i], *b = &ref->nodes[i];
        if (a->nparams != b->nparams)
            return al_error(AL_EINVAL, "l2sp_ref: node %d has %d tensors in the reference, %d in the trained model", i,
                            b->nparams, a->nparams);
        for (int j = 0; j < a->nparams; j++)
            if (a->params[j].n != b->params[j].n || a->params[j].w - m->wblock != b->params[j].w - ref->wblock)
                return al_error(AL_EINVAL, "l2sp_ref: node %d's tensor %d differs in size or place from the trained "
                                           "model's", i, j);
    }
    return AL_OK;
}

al_status al_optim_init(al_optim *o, al_model *m, const al_train_config *cfg) {
    if (!o || !m || !cfg) return al_error(AL_EINVAL, "al_optim_init: NULL argument");
    memset(o, 0, sizeof *o);
    if (cfg->l2sp != 0.0 && cfg->l2sp_ref) {
        al_status st = ref_matches(m, cfg->l2sp_ref);
        if (st) return st;
    }
    o->kind = cfg->optim;
    o->momentum = (float)cfg->momentum;
    o->weight_decay = (float)cfg->weight_decay;
    o->beta1 = (float)cfg->beta1;
    o->beta2 = (float)cfg->beta2;
    o->eps = (float)cfg->eps;
    o->nesterov = cfg->nesterov;
    if (cfg->param_subset < AL_PARAMS_ALL || cfg->param_subset > AL_PARAMS_NORM)
        return al_error(AL_EINVAL, "param_subset must be AL_PARAMS_ALL, _BIAS or _NORM, got %d", cfg->param_subset);
    o->subset = cfg->param_subset;
    o->l2sp = (float)cfg->l2sp;
    o->lr_below = (float)cfg->lr_below;
    if (cfg->lr_split < 0 || cfg->lr_split > m->nnodes)
        return al_error(AL_EINVAL, "lr_split must be in 0..%d (the model's nodes), got %d", m->nnodes, cfg->lr_split);
    /* the split's node, or one past the last node: every node lies below it */
    o->lr_split = cfg->lr_split > 0 ? m->nodes + cfg->lr_split : NULL;
    if (cfg->train_end < 0 || cfg->train_end > m->nnodes)
        return al_error(AL_EINVAL, "train_end must be in 0..%d (the model's nodes), got %d", m->nnodes, cfg->train_end);
    o->train_end = cfg->train_end > 0 && cfg->train_end < m->nnodes ? &m->nodes[cfg->train_end] : NULL;
    int nbuf = 0;
    if (o->kind == AL_OPT_SGD)
        nbuf = o->momentum != 0.0f ? 1 : 0;
    else if (o->kind == AL_OPT_ADAM || o->kind == AL_OPT_ADAMW)
        nbuf = 2;
    else
        return al_error(AL_EINVAL, "unknown optimizer kind %d", (int)cfg->optim);

    int np = 0;
    size_t nf = 0;
    for (int i = 0; i < m->nnodes; i++)
        for (int j = 0; j < m->nodes[i].nparams; j++)
            if (param_trained(&m->nodes[i], &m->nodes[i].params[j], o->subset, o->train_end)) {
                np++;
                nf += m->nodes[i].params[j].n;
            }
    if (!np && o->train_end) {
        /* a frozen suffix over every tensor that would train leaves nothing to train */
        for (int i = cfg->train_end; i < m->nnodes; i++)
            for (int j = 0; j < m->nodes[i].nparams; j++)
                if (param_trained(&m->nodes[i], &m->nodes[i].params[j], o->subset, NULL))
                    return al_error(AL_EINVAL, "train_end %d holds every tensor that would train (the model's "
                                               "freeze point is %d): nothing would train",
                                    cfg->train_end, m->freeze);
    }
    /* two passes over one block: pointer tables, then the state floats */
    al_arena a = {0};
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) {
            a.size = a.used;
            a.used = 0;
            a.base = al_malloc(a.size ? a.size : 1);
            if (!a.base) return AL_ENOMEM;
            o->block = a.base;
        }
        al_param **p = al_arena_bytes(&a, sizeof(al_param *) * (size_t)(np ? np : 1));
        const al_node **nodes = al_arena_bytes(&a, sizeof(al_node *) * (size_t)(np ? np : 1));
        float **s1 = al_arena_bytes(&a, sizeof(float *) * (size_t)(np ? np : 1));
        float **s2 = al_arena_bytes(&a, sizeof(float *) * (size_t)(np ? np : 1));
        float **anc = al_arena_bytes(&a, sizeof(float *) * (size_t)(np ? np : 1));
        size_t *off = al_arena_bytes(&a, sizeof(size_t) * (size_t)(np + 1));
        long *chunk0 = al_arena_bytes(&a, sizeof(long) * (size_t)(np + 1));
        if (pass == 1) {
            off[0] = 0;
            chunk0[0] = 0;
        }
        int k = 0;
        for (int i = 0; i < m->nnodes; i++)
            for (int j = 0; j < m->nodes[i].nparams; j++) {
                al_param *pr = &m->nodes[i].params[j];
                if (!param_trained(&m->nodes[i], pr, o->subset, o->train_end)) continue;
                float *b1 = nbuf >= 1 ? al_arena_floats(&a, pr->n) : NULL;
                float *b2 = nbuf >= 2 ? al_arena_floats(&a, pr->n) : NULL;
                float *b3 = cfg->l2sp != 0.0 ? al_arena_floats(&a, pr->n) : NULL;
                if (pass == 1) {
                    p[k] = pr;
                    nodes[k] = &m->nodes[i];
                    s1[k] = b1;
                    s2[k] = b2;
                    anc[k] = b3;
                    /* the point L2-SP pulls toward: the weights now, or the reference's (same place) */
                    if (b3)
                        memcpy(b3, cfg->l2sp_ref ? cfg->l2sp_ref->wblock + (pr->w - m->wblock) : pr->w,
                               sizeof(float) * pr->n);
                    off[k + 1] = off[k] + pr->n;
                    chunk0[k + 1] = chunk0[k] + (long)((pr->n + AL_OPTIM_CHUNK - 1) / AL_OPTIM_CHUNK);
                }
                k++;
            }
        long nchunks = pass == 1 ? chunk0[np] : 0;
        double *partial = NULL;
        if (pass == 0) {
            long c = 0;
            for (int i = 0; i < m->nnodes; i++)
                for (int j = 0; j < m->nodes[i].nparams; j++)
                    if (param_trained(&m->nodes[i], &m->nodes[i].params[j], o->subset, o->train_end))
                        c += (long)((m->nodes[i].params[j].n + AL_OPTIM_CHUNK - 1) / AL_OPTIM_CHUNK);
            al_arena_bytes(&a, sizeof(double) * (size_t)(c ? c : 1));
        } else {
            partial = al_arena_bytes(&a, sizeof(double) * (size_t)(nchunks ? nchunks : 1));
        }
        if (pass == 1) {
            o->off = off;
            o->chunk0 = chunk0;
            o->partial = partial;
            o->p = p;
            o->node = nodes;
            o->s1 = s1;
            o->s2 = s2;
            o->anchor = anc;
        }
    }
    o->np = np;
    o->nfloats = nf;
    al_optim_reset(o);
    return AL_OK;
}

void al_optim_free(al_optim *o) {
    if (!o) return;
    al_free(o->block);
    memset(o, 0, sizeof *o);
}

void al_optim_reset(al_optim *o) {
    o->t = 0;
    for (int i = 0; i < o->np; i++) {
        if (o->s1[i]) memset(o->s1[i], 0, sizeof(float) * o->p[i]->n);
        if (o->s2[i]) memset(o->s2[i], 0, sizeof(float) * o->p[i]->n);
    }
}

int al_optim_matches(const al_optim *o, const al_model *m) {
    int np = 0;
    for (int i = 0; i < m->nnodes; i++)
        for (int j = 0; j < m->nodes[i].nparams; j++)
            np += param_trained(&m->nodes[i], &m->nodes[i].params[j], o->subset, o->train_end);
    if (np != o->np) return 0;
    for (int i = 0; i < o->np; i++)
        if (!param_trained(o->node[i], o->p[i], o->subset, o->train_end)) return 0;
    return 1;
}

/* PyTorch SGD: g += wd*w; buf = mu*buf + g (buf = g at the first step, the
 * same thing from a zero buffer since dampening is 0); g = nesterov ?
 * g + mu*buf : buf; w -= lr*g. */
/* The common case (momentum, no weight decay, no Nesterov) in a loop the
 * compiler vectorizes without alias checks; the same arithmetic as below. */
static void sgd_momentum(float *restrict w, const float *restrict g, float *restrict buf, size_t n, float mu,
                         float lr) {
    for (size_t i = 0; i < n; i++) {
        float b = mu * buf[i] + g[i];
        buf[i] = b;
        w[i] -= lr * b;
    }
}

static void sgd_range(const al_optim *o, float *w, const float *g, float *buf, const float *anchor, size_t n,
                      float lr) {
    float wd = o->weight_decay, mu = o->momentum, sp = o->l2sp;
    if (buf && wd == 0.0f && !o->nesterov && (sp == 0.0f || !anchor)) {
        sgd_momentum(w, g, buf, n, mu, lr);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        float d = g[i];
        if (wd != 0.0f) d += wd * w[i];
        if (anchor) d += sp * (w[i] - anchor[i]);
        if (buf) {
            buf[i] = mu * buf[i] + d;
            d = o->nesterov ? d + mu * buf[i] : buf[i];
        }
        w[i] -= lr * d;
    }
}

/* PyTorch Adam/AdamW: (AdamW: w *= 1 - lr*wd) (Adam: g += wd*w);
 * m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g^2;
 * w -= (lr/bc1) * m / (sqrt(v)/sqrt(bc2) + eps), bc_i = 1 - b_i^t. */
static void adam_range(const al_optim *o, float *w, const float *g, float *m, float *v, const float *anchor,
                       size_t n, float lr, float step_size, float bc2_sqrt) {
    float wd = o->weight_decay, b1 = o->beta1, b2 = o->beta2, eps = o->eps, sp = o->l2sp;
    float decay = 1.0f - lr * wd;
    int decoupled = o->kind == AL_OPT_ADAMW;
    for (size_t i = 0; i < n; i++) {
        float d = g[i];
        if (anchor) d += sp * (w[i] - anchor[i]);
        if (wd != 0.0f) {
            if (decoupled)
                w[i] *= decay;
            else
                d += wd * w[i];
        }
        m[i] = m[i] * b1 + (1.0f - b1) * d;
        v[i] = v[i] * b2 + (1.0f - b2) * d * d;
        float denom = sqrtf(v[i]) / bc2_sqrt + eps;
        w[i] -= step_size * (m[i] / denom);
    }
}

/* Tensor i restricted to some of its rows (al_optim_restrict_rows): the
 * rows' first element and their length; else the whole tensor as one row. */
static int tensor_rows(const al_optim *o, int i, const int **rows, size_t *len) {
    const al_param *p = o->p[i];
    if (o->rnode && o->node[i] == o->rnode && p->ndim >= 1 && p->dims[0] > 0) {
        *rows = o->rrows;
        *len = p->n / (size_t)p->dims[0];
        return o->rn;
    }
    *rows = NULL;
    *len = p->n;
    return 1;
}

static void update_tensor(const al_optim *o, int i, float lr, float step_size, float bc2_sqrt) {
    const al_param *p = o->p[i];
    const int *rows;
    size_t len;
    int nr = tensor_rows(o, i, &rows, &len);
    for (int k = 0; k < nr; k++) {
        size_t off = rows ? (size_t)rows[k] * len : 0;
        float *s1 = o->s1[i] ? o->s1[i] + off : NULL, *s2 = o->s2[i] ? o->s2[i] + off : NULL;
        const float *anc = o->anchor[i] ? o->anchor[i] + off : NULL;
        if (o->kind == AL_OPT_SGD)
            sgd_range(o, p->w + off, p->g + off, s1, anc, len, lr);
        else
            adam_range(o, p->w + off, p->g + off, s1, s2, anc, len, lr, step_size, bc2_sqrt);
    }
}

void al_optim_restrict_rows(al_optim *o, const al_node *nd, const int *rows, int nrows) {
    o->rnode = nd;
    o->rrows = rows;
    o->rn = nrows;
}

/* Below this many trained floats the update, the norm and the clipping run
 * on the calling thread: waking the pool costs more than it saves. */
#define AL_OPTIM_PAR_MIN 65536

/* The pool is used when it has threads, the work is large enough and no
 * tensor is restricted to some rows (the row-restricted head trains few
 * floats). */
static int use_pool(const al_optim *o, al_pool *pool) {
    return pool && al_pool_size(pool) > 1 && o->nfloats >= AL_OPTIM_PAR_MIN && !o->rnode;
}

/* Part ith of nth of the trained floats, all tensors laid end to end
 * (o->off): [lo, hi), split at multiples of 16 floats (64 bytes), so two
 * threads never write the same cache line of a 64-byte-aligned tensor. */
static void flat_part(const al_optim *o, int ith, int nth, size_t *lo, size_t *hi) {
    long a, b, lines = (long)((o->nfloats + 15) / 16);
    al_split(lines, ith, nth, &a, &b);
    *lo = AL_MIN((size_t)a * 16, o->nfloats);
    *hi = AL_MIN((size_t)b * 16, o->nfloats);
}

/* Calls fn(o, i, a, b, arg) for each piece [a, b) of tensor i that falls
 * in thread ith's part of the flat range (flat_part), in tensor order. */
static void each_segment(const al_optim *o, int ith, int nth,
                         void (*fn)(const al_optim *o, int i, size_t a, size_t b, const void *arg), const void *arg) {
    size_t lo, hi;
    flat_part(o, ith, nth, &lo, &hi);
    for (int i = 0; i < o->np && lo < hi; i++) {
        if (o->off[i + 1] <= lo) continue;
        size_t a = lo - o->off[i], b = AL_MIN(hi, o->off[i + 1]) - o->off[i];
        fn(o, i, a, b, arg);
        lo = o->off[i] + b;
    }
}

typedef struct step_args {
    const al_optim *o;
    float lr, step_size, bc2_sqrt;
} step_args;

static void update_part(const al_optim *o, int i, size_t a, size_t b, float lr, float step_size, float bc2_sqrt) {
    if (!o->node[i]->trainable) return; /* frozen after the trainer was created: leave it alone */
    /* nodes are stored in order, so "below the split" is a pointer comparison */
    float scale = o->lr_split && o->node[i] < o->lr_split ? o->lr_below : 1.0f;
    const al_param *p = o->p[i];
    float *s1 = o->s1[i] ? o->s1[i] + a : NULL, *s2 = o->s2[i] ? o->s2[i] + a : NULL;
    const float *anc = o->anchor[i] ? o->anchor[i] + a : NULL;
    if (o->kind == AL_OPT_SGD)
        sgd_range(o, p->w + a, p->g + a, s1, anc, b - a, lr * scale);
    else
        adam_range(o, p->w + a, p->g + a, s1, s2, anc, b - a, lr * scale, step_size * scale, bc2_sqrt);
}

/* Every element is updated by its own arithmetic alone, so the split
 * changes no result: the weights are the same for every thread count. */
static void step_segment(const al_optim *o, int i, size_t a, size_t b, const void *va) {
    const step_args *sa = va;
    update_part(o, i, a, b, sa->lr, sa->step_size, sa->bc2_sqrt);
}

static void step_task(void *va, int ith, int nth) {
    each_segment(((const step_args *)va)->o, ith, nth, step_segment, va);
}

void al_optim_step(al_optim *o, al_pool *pool, float lr) {
    o->t++;
    float step_size = lr, bc2_sqrt = 1.0f;
    if (o->kind != AL_OPT_SGD) {
        double bc1 = 1.0 - pow((double)o->beta1, (double)o->t);
        double bc2 = 1.0 - pow((double)o->beta2, (double)o->t);
        step_size = (float)((double)lr / bc1);
        bc2_sqrt = (float)sqrt(bc2);
    }
    if (use_pool(o, pool)) {
        step_args sa = {o, lr, step_size, bc2_sqrt};
        al_pool_run(pool, step_task, &sa);
        return;
    }
    for (int i = 0; i < o->np; i++) {
        /* frozen after the trainer was created: leave it alone */
        if (!o->node[i]->trainable) continue;
        /* nodes are stored in order, so "below the split" is a pointer comparison */
        float scale = o->lr_split && o->node[i] < o->lr_split ? o->lr_below : 1.0f;
        update_tensor(o, i, lr * scale, step_size * scale, bc2_sqrt);
    }
}

/* Sum of squares in 8 interleaved double sums (a fixed order, so the same
 * on every run): one running sum is bound by the add latency, and the
 * trainer takes this norm every step (1M gradients for the reference LM). */
static double sum_squares(const float *g, size_t n) {
    double acc[8] = {0};
    size_t j = 0;
    for (; j + 8 <= n; j += 8)
        for (int l = 0; l < 8; l++) acc[l] += (double)g[j + l] * g[j + l];
    for (; j < n; j++) acc[0] += (double)g[j] * g[j];
    return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

/* Chunk c of tensor i: AL_OPTIM_CHUNK floats from c * AL_OPTIM_CHUNK (the
 * last one shorter). */
static void chunk_range(const al_optim *o, int i, long c, size_t *a, size_t *b) {
    *a = (size_t)(c - o->chunk0[i]) * AL_OPTIM_CHUNK;
    *b = AL_MIN(*a + AL_OPTIM_CHUNK, o->p[i]->n);
}

/* The chunks' sums of squares, each into its own slot: the norm adds them
 * in chunk order, so it is the same for every thread count. */
static void norm_task(void *va, int ith, int nth) {
    const al_optim *o = va;
    long lo, hi;
    al_split(o->chunk0[o->np], ith, nth, &lo, &hi);
    int i = 0;
    for (long c = lo; c < hi; c++) {
        while (o->chunk0[i + 1] <= c) i++;
        size_t a, b;
        chunk_range(o, i, c, &a, &b);
        o->partial[c] = sum_squares(o->p[i]->g + a, b - a);
    }
}

typedef struct scale_args {
    const al_optim *o;
    float c;
} scale_args;

static void scale_segment(const al_optim *o, int i, size_t a, size_t b, const void *va) {
    const scale_args *sa = va;
    float *g = o->p[i]->g;
    for (size_t j = a; j < b; j++) g[j] *= sa->c;
}

static void scale_task(void *va, int ith, int nth) {
    each_segment(((const scale_args *)va)->o, ith, nth, scale_segment, va);
}

/* The norm is the sum of per-chunk sums (AL_OPTIM_CHUNK floats of one
 * tensor each; rows of a row-restricted tensor are chunks of their own) in
 * a fixed order, with or without the pool. */
double al_optim_clip(al_optim *o, al_pool *pool, double clip) {
    double ss = 0.0;
    const int *rows;
    size_t len;
    int par = use_pool(o, pool);
    if (par) {
        al_pool_run(pool, norm_task, o);
        for (long c = 0; c < o->chunk0[o->np]; c++) ss += o->partial[c];
    } else {
        for (int i = 0; i < o->np; i++) {
            int nr = tensor_rows(o, i, &rows, &len);
            for (int k = 0; k < nr; k++) {
                const float *g = o->p[i]->g + (rows ? (size_t)rows[k] * len : 0);
                for (size_t a = 0; a < len; a += AL_OPTIM_CHUNK)
                    ss += sum_squares(g + a, AL_MIN((size_t)AL_OPTIM_CHUNK, len - a));
            }
        }
    }
    double norm = sqrt(ss);
    if (clip > 0.0 && isfinite(norm) && norm > clip) {
        float c = (float)(clip / (norm + 1e-6));
        if (par) {
            scale_args sa = {o, c};
            al_pool_run(pool, scale_task, &sa);
            return norm;
        }
        for (int i = 0; i < o->np; i++) {
            int nr = tensor_rows(o, i, &rows, &len);
            for (int k = 0; k < nr; k++) {
                float *g = o->p[i]->g + (rows ? (size_t)rows[k] * len : 0);
                for (size_t j = 0; j < len; j++) g[j] *= c;
            }
        }
    }
    return norm;
}
