/* New words learned on the device, and personalization on the user's own
 * text (train.h; docs/TEXT.md, "The user's own text").
 *
 * A word of the user's text that the cloud vocabulary lacks, seen at least
 * min_count times, gets an id after the cloud's (V, V+1, ...): the
 * embedding (weight [V, D]) and the output layer (weight [V, H], bias [V])
 * grow by one row each. Initialisation, per new word w with c_w
 * occurrences, C the user's <unk> tokens before, b the output bias:
 *   embedding row w     = the <unk> row (the frozen prefix reads w as it
 *                         read <unk>: the cloud's features stay valid)
 *   output row w        = the <unk> row
 *   b[w]                = b[unk] + log(c_w / (C + 1))
 *   b[unk]             <- b[unk] + log((C - sum c_w + 1) / (C + 1))
 * The new words and what remains of <unk> share <unk>'s old probability
 * in the user's proportions, so every cloud word keeps its probability
 * exactly before training (the softmax's sum is unchanged); training then
 * moves the new rows like any other. The model's autlearn.vocab is
 * replaced by the grown vocabulary. */

#include "train/train.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* The rows [0, V0) of a grown [V1, ...] parameter from the old [V0, ...]. */
static void copy_rows(float *dst, const float *src, size_t V0, size_t V1, size_t row, size_t unk_row_src) {
    memcpy(dst, src, sizeof(float) * V0 * row);
    for (size_t r = V0; r < V1; r++) memcpy(dst + r * row, src + unk_row_src * row, sizeof(float) * row);
}

al_status al_lm_grow(al_model *m, const al_vocab *v, const uint64_t *counts, uint64_t unk) {
    if (!m || !v) return al_error(AL_EINVAL, "al_lm_grow: NULL argument");
    if (!m->input_tokens || m->nnodes < 2) return al_error(AL_EINVAL, "not a language model: the input must be 'tokens T'");
    const int T = m->in.d[0];
    al_node *last = &m->nodes[m->nnodes - 1];
    size_t yo = al_shape_numel(&last->out);
    if (T < 1 || yo % (size_t)T) return al_error(AL_ESHAPE, "language model: outputs do not split into %d rows", T);
    const int V0 = (int)(yo / (size_t)T), V1 = al_vocab_size(v);
    if (V1 < V0) return al_error(AL_EINVAL, "a vocabulary of %d words for a model of %d", V1, V0);
    if (V1 == V0) return AL_OK;
    if (last->cfg.type != AL_L_DENSE || last->cfg.units != V0)
        return al_error(AL_EUNSUPPORTED, "new words: the output layer (node %d, %s) is not a dense layer of %d outputs",
                        m->nnodes - 1, last->vt->name, V0);
    int emb = 0;
    for (int i = 0; i < m->nnodes; i++) {
        const al_node *nd = &m->nodes[i];
        int grows = (nd->cfg.type == AL_L_EMBEDDING && nd->cfg.vocab == V0) || i == m->nnodes - 1;
        emb += nd->cfg.type == AL_L_EMBEDDING && nd->cfg.vocab == V0;
        if (grows && al_node_is_quantized(m, i))
            return al_error(AL_EUNSUPPORTED, "new words: node %d holds int8 weights, which cannot grow; personalize "
                                             "the float model (quantize after)", i);
    }
    if (!emb) return al_error(AL_EUNSUPPORTED, "new words: no embedding of %d ids to grow", V0);
    al_layer_cfg *cfg = al_malloc(sizeof *cfg * (size_t)m->nnodes);
    if (!cfg) return AL_ENOMEM;
    for (int i = 0; i < m->nnodes; i++) {
        cfg[i] = m->nodes[i].cfg;
        if (cfg[i].type == AL_L_EMBEDDING && cfg[i].vocab == V0) cfg[i].vocab = V1;
    }
    cfg[m->nnodes - 1].units = V1;
    al_model *g = NULL;
    al_status st = al_model_build(&m->in, m->input_tokens, cfg, m->nnodes, &g);
    al_free(cfg);
    if (st) return st;
    for (int i = 0; i < m->nnodes; i++) {
        al_node *a = &m->nodes[i], *b = &g->nodes[i];
        for (int p = 0; p < a->nparams; p++) {
            al_param *pa = &a->params[p], *pb = &b->params[p];
            if (pa->n == pb->n) {
                memcpy(pb->w, pa->w, sizeof(float) * pa->n);
                continue;
            }
            /* a grown parameter: rows are its first dimension */
            size_t row = pa->n / (size_t)V0;
            copy_rows(pb->w, pa->w, (size_t)V0, (size_t)V1, row, AL_TOK_UNK);
        }
    }
    /* the output bias: <unk>'s probability shared in the user's proportions */
    if (last->cfg.bias) {
        float *b = g->nodes[g->nnodes - 1].params[1].w;
        const double bu = (double)last->params[1].w[AL_TOK_UNK];
        double sum = 0;
        for (int w = V0; w < V1; w++) {
            double c = counts ? (double)counts[w - V0] : 1.0;
            sum += c;
            b[w] = (float)(bu + log(AL_MAX(c, 1.0) / ((double)unk + 1.0)));
        }
        double rest = (double)unk - sum;
        b[AL_TOK_UNK] = (float)(bu + log((AL_MAX(rest, 0.0) + 1.0) / ((double)unk + 1.0)));
    }
    g->rng = m->rng;
    g->plan_naive = m->plan_naive;
    char *vs = al_vocab_serialize(v);
    if (!vs) st = AL_ENOMEM;
    for (int i = 0; i < m->nmeta && !st; i++)
        st = al_model_set_meta(g, m->meta_key[i], strcmp(m->meta_key[i], "autlearn.vocab") ? m->meta_val[i] : vs);
    if (!st && !al_model_meta(g, "autlearn.vocab")) st = al_model_set_meta(g, "autlearn.vocab", vs);
    al_free(vs);
    char nw[24];
    snprintf(nw, sizeof nw, "%d", V1 - V0);
    if (!st) st = al_model_set_meta(g, "autlearn.new_words", nw);
    if (!st) st = al_model_freeze(g, m->freeze);
    if (st) {
        al_model_free(g);
        return st;
    }
    /* the caller's handle now holds the grown model */
    al_model tmp = *m;
    *m = *g;
    *g = tmp;
    al_model_free(g);
    return AL_OK;
}

/* The model's vocabulary (autlearn.vocab), checked against its outputs. */
static al_status model_vocab(const al_model *m, al_vocab **out) {
    const char *vs = al_model_meta(m, "autlearn.vocab");
    if (!vs) return al_error(AL_EINVAL, "the model has no vocabulary (autlearn.vocab): not a text model");
    al_status st = al_vocab_parse(vs, out);
    if (st) return st;
    if (!m->input_tokens || m->nnodes < 1) {
        al_vocab_free(*out);
        *out = NULL;
        return al_error(AL_EINVAL, "not a language model: the input must be 'tokens T'");
    }
    size_t yo = al_shape_numel(&m->nodes[m->nnodes - 1].out);
    if ((size_t)al_vocab_size(*out) * (size_t)m->in.d[0] > yo) {
        st = al_error(AL_EINVAL, "the model's vocabulary has %d words for %zu outputs", al_vocab_size(*out), yo);
        al_vocab_free(*out);
        *out = NULL;
    }
    return st;
}

al_status al_lm_learn_words(al_model *m, const char *text, size_t len, int min_count, int max_new, int *added) {
    if (!m || !added || (!text && len)) return al_error(AL_EINVAL, "al_lm_learn_words: NULL argument");
    *added = 0;
    if (min_count <= 0 || max_new <= 0) return AL_OK; /* off */
    al_vocab *v = NULL;
    uint64_t *counts = NULL, unk = 0;
    al_status st = model_vocab(m, &v);
    if (!st && (size_t)al_vocab_size(v) * (size_t)m->in.d[0] != al_shape_numel(&m->nodes[m->nnodes - 1].out))
        st = al_error(AL_EUNSUPPORTED, "new words: the model has more outputs than its %d vocabulary words (its "
                                       "new words would have no rows of their own); --new-words 0",
                      al_vocab_size(v));
    if (!st) st = al_vocab_learn(v, text, len, min_count, max_new, added, &counts, &unk);
    if (!st && *added) st = al_lm_grow(m, v, counts, unk);
    if (st) *added = 0;
    al_free(counts);
    al_vocab_free(v);
    return st;
}

al_status al_lm_encode(const al_model *m, const char *text, size_t len, al_ids *ids, al_ids *lens) {
    al_vocab *v = NULL;
    al_status st = model_vocab(m, &v);
    if (!st) st = lens ? al_vocab_encode_lens(v, text, len, ids, lens) : al_vocab_encode(v, text, len, ids);
    al_vocab_free(v);
    return st;
}

/* ---- the public entry: personalization on the user's text ----------------------------- */

void al_text_job_default(al_text_job *j) {
    if (!j) return;
    memset(j, 0, sizeof *j);
    j->new_word_min_count = 0;
    j->max_new_words = 1000;
    j->max_tokens = 0;
}

al_status al_lm_personalize_text(al_model *m, al_pool *pool, const char *text, size_t len, al_cache *cache,
                                 const al_personalize_config *c, const al_text_job *j, al_personalize_report *r) {
    al_personalize_report local;
    if (!r) r = &local;
    memset(r, 0, sizeof *r);
    if (!m || !c || (!text && len)) return al_error(AL_EINVAL, "al_lm_personalize_text: NULL argument");
    al_text_job dj;
    if (!j) {
        al_text_job_default(&dj);
        j = &dj;
    }
    al_status st = al_text_check(text, len, "the text");
    if (st) return st;
    int added = 0;
    if ((st = al_lm_learn_words(m, text, len, j->new_word_min_count, j->max_new_words, &added))) return st;
    al_ids ids = {0};
    if ((st = al_lm_encode(m, text, len, &ids, NULL))) goto done;
    if ((st = al_lm_check_stream(ids.v, ids.n, "the text"))) goto done;
    const int32_t *p = ids.v;
    long n = ids.n;
    if (j->max_tokens > 0 && n > j->max_tokens) {
        p += n - j->max_tokens;
        n = j->max_tokens;
    }
    /* the keyboard's predict pass, as while the user typed, then training */
    if ((st = al_model_freeze(m, al_personalize_freeze(m, c)))) goto done;
    if ((st = al_lm_predict_stream(m, pool, p, n, cache))) goto done;
    st = al_lm_personalize(m, pool, p, n, cache, c, r);
done:
    r->new_words = added;
    al_ids_free(&ids);
    return st;
}

al_status al_lm_personalize_file(al_model *m, al_pool *pool, const char *path, al_cache *cache,
                                 const al_personalize_config *c, const al_text_job *j, al_personalize_report *r) {
    char *text = NULL;
    size_t len = 0;
    al_status st = al_text_read_file(path, &text, &len);
    if (!st) st = al_lm_personalize_text(m, pool, text, len, cache, c, j, r);
    al_free(text);
    return st;
}

al_status al_lm_check_stream(const int32_t *ids, long n, const char *name) {
    long known = 0;
    for (long i = 0; i < n; i++) known += ids[i] != AL_TOK_UNK;
    if (n == 0) return al_error(AL_EINVAL, "%s has no tokens", name);
    if (known == 0)
        return al_error(AL_EINVAL, "%s has no word the model knows (all %ld tokens are <unk>) and none was learned "
                                   "as a new word",
                        name, n);
    return AL_OK;
}
