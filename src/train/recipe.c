/* Device recipes and the chooser (docs/RECIPES.md).
 *
 * A recipe says what a personalization job changes: the label-prior shift
 * only, the output layer, the output layer and the layer before it, the
 * batch-norm statistics, the biases, everything from a lower freeze
 * point, or everything. al_recipe_resolve turns one into the freeze point and the trained
 * tensors of an ordinary job (personalize.c runs it); the chooser that
 * picks one per user is chooser.c, above personalize.c. */
#include "train/train.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const recipe_names[AL_RECIPE_COUNT] = {"config", "prior", "head", "last-block",
                                                          "bn",     "bias",  "deep", "full", "auto"};

const char *al_recipe_name(al_recipe r) {
    return (int)r >= 0 && (int)r < AL_RECIPE_COUNT ? recipe_names[r] : "?";
}

al_status al_recipe_parse(const char *name, al_recipe *out) {
    if (!name || !out) return al_error(AL_EINVAL, "al_recipe_parse: NULL argument");
    for (int i = 0; i < AL_RECIPE_COUNT; i++)
        if (strcmp(name, recipe_names[i]) == 0) {
            *out = (al_recipe)i;
            return AL_OK;
        }
    return al_error(AL_EINVAL, "unknown recipe '%s' (auto, prior, head, last-block, bn, bias, deep, full or config)", name);
}

/* A layer with trained weights that is not a normalization: the layers a
 * freeze point is counted by (a batch norm goes with the layer before it). */
static int weighted(const al_node *nd) {
    if (nd->cfg.type == AL_L_BATCHNORM || nd->cfg.type == AL_L_LAYERNORM) return 0;
    for (int p = 0; p < nd->nparams; p++)
        if (!nd->params[p].is_state) return 1;
    return 0;
}

/* The k-th weighted node from the end (k = 1: the output layer), or -1. */
static int weighted_from_end(const al_model *m, int k) {
    for (int i = m->nnodes - 1; i >= 0; i--)
        if (weighted(&m->nodes[i]) && --k == 0) return i;
    return -1;
}

static int first_of(const al_model *m, int type) {
    for (int i = 0; i < m->nnodes; i++)
        if ((int)m->nodes[i].cfg.type == type) return i;
    return -1;
}

int al_recipe_freeze(const al_model *m, al_recipe r) {
    int f = -1;
    switch (r) {
    case AL_RECIPE_PRIOR:
    case AL_RECIPE_HEAD: f = weighted_from_end(m, 1); break;
    case AL_RECIPE_LAST_BLOCK: f = weighted_from_end(m, 2); break;
    case AL_RECIPE_DEEP: f = weighted_from_end(m, 3); break;
    case AL_RECIPE_FULL: f = weighted_from_end(m, 1) >= 0 ? 0 : -1; break;
    case AL_RECIPE_BN: f = first_of(m, AL_L_BATCHNORM); break;
    case AL_RECIPE_BIAS:
        for (int i = 0; i < m->nnodes && f < 0; i++)
            for (int p = 0; p < m->nodes[i].nparams; p++)
                if (!m->nodes[i].params[p].is_state) f = i;
        break;
    default: break;
    }
    /* a freeze point the suffix cannot run from (the model input read across it) */
    if (f >= 0 && al_model_src_across(m, f) >= 0) return -1;
    return f;
}

al_status al_recipe_resolve(const al_model *m, const al_personalize_config *c, al_personalize_config *out) {
    *out = *c;
    al_recipe r = c->recipe;
    if (r == AL_RECIPE_CONFIG) return AL_OK;
    if ((int)r < 0 || (int)r >= AL_RECIPE_COUNT)
        return al_error(AL_EINVAL, "unknown recipe %d", (int)r);
    if (r == AL_RECIPE_AUTO)
        return al_error(AL_EINVAL, "recipe auto is the chooser's: call al_personalize_auto");
    int f = al_recipe_freeze(m, r);
    /* (a resolved config passes again: its freeze point is the recipe's) */
    if ((c->freeze >= 0 && c->freeze != f) || c->train_rows > 0)
        return al_error(AL_EINVAL, "recipe %s sets the freeze point and the trained rows itself: leave freeze at -1 "
                                   "and train_rows at 0",
                        al_recipe_name(r));
    if (f < 0) {
        if (r == AL_RECIPE_BN) return al_error(AL_EINVAL, "recipe bn: the model has no batch-norm layer");
        return al_error(AL_EINVAL, "recipe %s does not apply to this model (too few layers with weights)",
                        al_recipe_name(r));
    }
    out->freeze = f;
    out->train.param_subset = r == AL_RECIPE_BIAS ? AL_PARAMS_BIAS : r == AL_RECIPE_BN ? AL_PARAMS_NORM : AL_PARAMS_ALL;
    return AL_OK;
}

int al_recipe_trains(const al_personalize_config *c) {
    return !(c->recipe == AL_RECIPE_PRIOR || (c->recipe == AL_RECIPE_BN && !c->bn_affine));
}

static uint64_t node_macs(const al_node *nd) { return nd->vt->macs ? nd->vt->macs(nd) : 0; }

uint64_t al_macs_range(const al_model *m, int from, int to) {
    uint64_t s = 0;
    for (int i = from; i < to && i < m->nnodes; i++) s += node_macs(&m->nodes[i]);
    return s;
}

/* Batch-norm running statistics re-estimated on d as PyTorch's
 * torch.optim.swa_utils.update_bn does: the model frozen below its first
 * batch norm, the forward in training mode (each batch norm normalizes by
 * its batch's statistics) through the last batch norm, batch b of the data
 * moving the running statistics with momentum 1/b: their mean over the
 * batches. A last batch of one sample joins the one before it (a single
 * value has no variance). */
al_status al_bn_reestimate(al_model *m, al_pool *pool, const al_dataset *d, int batch, uint64_t *macs) {
    int first = first_of(m, AL_L_BATCHNORM), last = -1;
    for (int i = 0; i < m->nnodes; i++)
        if (m->nodes[i].cfg.type == AL_L_BATCHNORM) last = i;
    if (first < 0) return al_error(AL_EINVAL, "recipe bn: the model has no batch-norm layer");
    if (d->n < 2) return al_error(AL_EINVAL, "recipe bn: re-estimating the statistics needs 2 samples or more");
    if (batch < 2) batch = 2;
    al_status st = al_model_freeze(m, first < m->freeze ? first : m->freeze);
    if (st) return st;
    float *saved = al_malloc(sizeof(float) * (size_t)m->nnodes);
    if (!saved) return AL_ENOMEM;
    for (int i = 0; i < m->nnodes; i++) saved[i] = m->nodes[i].cfg.momentum;
    size_t xn = al_shape_numel(&d->xs);
    int nb = 0;
    for (int o = 0; o < d->n && st == AL_OK;) {
        int b = d->n - o < batch ? d->n - o : batch;
        if (d->n - o - b == 1) b++; /* no batch of one */
        nb++;
        for (int i = 0; i < m->nnodes; i++)
            if (m->nodes[i].cfg.type == AL_L_BATCHNORM) m->nodes[i].cfg.momentum = 1.0f / (float)nb;
        st = al_model_forward_range(m, pool, 0, last + 1, d->x + (size_t)o * xn, b, 1);
        o += b;
    }
    for (int i = 0; i < m->nnodes; i++) m->nodes[i].cfg.momentum = saved[i];
    al_free(saved);
    if (macs) *macs = al_macs_range(m, 0, last + 1) * (uint64_t)d->n;
    return st;
}

/* ---- the chooser ---------------------------------------------------------------- */
