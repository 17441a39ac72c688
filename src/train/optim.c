/* SGD (momentum, Nesterov, L2 weight decay), Adam (L2) and AdamW (decoupled
 * weight decay), element for element as PyTorch's single-tensor code paths,
 * and global-norm gradient clipping. The state is allocated once, when the
 * trainer is created; a step allocates nothing. Per element the arithmetic is
 * in float like PyTorch's; bias corrections are computed in double. */

#include "train/train.h"

#include <math.h>
#include <string.h>

/* A tensor the optimizer updates: of a trainable node, not state, and in
 * the configured subset (al_train_config.param_subset). */
static int param_trained(const al_node *nd, const al_param *p, int subset) {
    if (!nd->trainable || p->is_state || !p->g) return 0;
    int norm = nd->cfg.type == AL_L_BATCHNORM;
    if (subset == AL_PARAMS_BIAS) return norm || strcmp(p->name, "bias") == 0;
    if (subset == AL_PARAMS_NORM) return norm;
    return 1;
}

al_status al_optim_init(al_optim *o, al_model *m, const al_train_config *cfg) {
    if (!o || !m || !cfg) return al_error(AL_EINVAL, "al_optim_init: NULL argument");
    memset(o, 0, sizeof *o);
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
    o->lr_split = cfg->lr_split > 0 && cfg->lr_split < m->nnodes ? &m->nodes[cfg->lr_split] : NULL;
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
            if (param_trained(&m->nodes[i], &m->nodes[i].params[j], o->subset)) {
                np++;
                nf += m->nodes[i].params[j].n;
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
        int k = 0;
        for (int i = 0; i < m->nnodes; i++)
            for (int j = 0; j < m->nodes[i].nparams; j++) {
                al_param *pr = &m->nodes[i].params[j];
                if (!param_trained(&m->nodes[i], pr, o->subset)) continue;
                float *b1 = nbuf >= 1 ? al_arena_floats(&a, pr->n) : NULL;
                float *b2 = nbuf >= 2 ? al_arena_floats(&a, pr->n) : NULL;
                float *b3 = cfg->l2sp != 0.0 ? al_arena_floats(&a, pr->n) : NULL;
                if (pass == 1) {
                    p[k] = pr;
                    nodes[k] = &m->nodes[i];
                    s1[k] = b1;
                    s2[k] = b2;
                    anc[k] = b3;
                    /* the starting point L2-SP pulls toward: the weights now */
                    if (b3) memcpy(b3, pr->w, sizeof(float) * pr->n);
                }
                k++;
            }
        if (pass == 1) {
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
        for (int j = 0; j < m->nodes[i].nparams; j++) np += param_trained(&m->nodes[i], &m->nodes[i].params[j], o->subset);
    if (np != o->np) return 0;
    for (int i = 0; i < o->np; i++)
        if (!param_trained(o->node[i], o->p[i], o->subset)) return 0;
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

void al_optim_step(al_optim *o, float lr) {
    o->t++;
    float step_size = lr, bc2_sqrt = 1.0f;
    if (o->kind != AL_OPT_SGD) {
        double bc1 = 1.0 - pow((double)o->beta1, (double)o->t);
        double bc2 = 1.0 - pow((double)o->beta2, (double)o->t);
        step_size = (float)((double)lr / bc1);
        bc2_sqrt = (float)sqrt(bc2);
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

double al_optim_clip(al_optim *o, double clip) {
    double ss = 0.0;
    const int *rows;
    size_t len;
    for (int i = 0; i < o->np; i++) {
        int nr = tensor_rows(o, i, &rows, &len);
        for (int k = 0; k < nr; k++) ss += sum_squares(o->p[i]->g + (rows ? (size_t)rows[k] * len : 0), len);
    }
    double norm = sqrt(ss);
    if (clip > 0.0 && isfinite(norm) && norm > clip) {
        float c = (float)(clip / (norm + 1e-6));
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
