/* The user's bigram model (train.h, "the user's bigram model"): the
 * keyboard's classic personal n-gram, counted on the user's own text and
 * mixed into the language model's next-word distribution,
 *
 *   p(w | h) = (1 - lambda) p_LM(w | h) + lambda p_bg(w | a),   a = the last word,
 *
 * p_bg interpolated absolute discounting (Ney, Essen, Kneser 1994):
 *
 *   p_bg(w | a) = max(c(a,w) - D, 0) / c(a) + D N(a) / c(a) * p_1(w),
 *   p_1(w)      = (c(w) + 1/2) / (n + V/2),
 *
 * D = AL_LM_NGRAM_DISCOUNT, c(a) the bigrams counted after a, N(a) their
 * distinct successors; a word never seen as a context backs off to p_1
 * alone. The counts stay on the device with the user's text; nothing is
 * trained. The distinct bigrams are kept sorted by (a, w) so that a
 * context's successors are one binary search away. */
#include "train/train.h"

#include <stdlib.h>
#include <string.h>

struct al_lm_ngram {
    int V;
    uint64_t n;     /* unigrams counted */
    uint64_t *uni;  /* V: c(w) */
    uint64_t *ctx;  /* V: c(a), the bigrams counted after a */
    uint64_t *succ; /* V: N(a), their distinct successors */
    uint64_t *key;  /* npairs distinct bigrams, a * V + w, ascending */
    uint64_t *cnt;  /* npairs: c(a, w) */
    size_t npairs;
};

al_status al_lm_ngram_new(int V, al_lm_ngram **out) {
    if (!out) return al_error(AL_EINVAL, "al_lm_ngram_new: NULL argument");
    *out = NULL;
    if (V < 1 || V > AL_LM_NGRAM_MAX_WORDS)
        return al_error(AL_ERANGE, "a bigram model over %d words (1..%d)", V, AL_LM_NGRAM_MAX_WORDS);
    al_lm_ngram *g = al_calloc(1, sizeof *g);
    if (!g) return AL_ENOMEM;
    g->V = V;
    g->uni = al_calloc((size_t)V, sizeof(uint64_t));
    g->ctx = al_calloc((size_t)V, sizeof(uint64_t));
    g->succ = al_calloc((size_t)V, sizeof(uint64_t));
    if (!g->uni || !g->ctx || !g->succ) {
        al_lm_ngram_free(g);
        return AL_ENOMEM;
    }
    *out = g;
    return AL_OK;
}

void al_lm_ngram_free(al_lm_ngram *g) {
    if (!g) return;
    al_free(g->uni);
    al_free(g->ctx);
    al_free(g->succ);
    al_free(g->key);
    al_free(g->cnt);
    al_free(g);
}

int al_lm_ngram_words(const al_lm_ngram *g) { return g ? g->V : 0; }

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

al_status al_lm_ngram_count(al_lm_ngram *g, const int32_t *ids, long n) {
    if (!g || (!ids && n > 0)) return al_error(AL_EINVAL, "al_lm_ngram_count: NULL argument");
    if (n < 1) return AL_OK;
    for (long i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= g->V)
            return al_error(AL_ERANGE, "token %ld has id %d outside the bigram model's %d words", i, (int)ids[i], g->V);
    /* the stream's bigrams, sorted, then merged with the counted ones */
    size_t m = (size_t)(n - 1);
    uint64_t *k = al_malloc(sizeof(uint64_t) * (m ? m : 1));
    if (!k) return AL_ENOMEM;
    for (size_t i = 0; i < m; i++) k[i] = (uint64_t)ids[i] * (uint64_t)g->V + (uint64_t)ids[i + 1];
    qsort(k, m, sizeof *k, cmp_u64);
    size_t distinct = 0;
    for (size_t i = 0; i < m; i++) distinct += i == 0 || k[i] != k[i - 1];
    size_t cap = g->npairs + distinct;
    uint64_t *nk = al_malloc(sizeof(uint64_t) * (cap ? cap : 1)), *nc = al_malloc(sizeof(uint64_t) * (cap ? cap : 1));
    if (!nk || !nc) {
        al_free(k);
        al_free(nk);
        al_free(nc);
        return AL_ENOMEM;
    }
    size_t a = 0, b = 0, o = 0;
    while (a < g->npairs || b < m) {
        if (b >= m || (a < g->npairs && g->key[a] < k[b])) {
            nk[o] = g->key[a];
            nc[o++] = g->cnt[a++];
            continue;
        }
        uint64_t key = k[b], c = 0;
        while (b < m && k[b] == key) b++, c++;
        if (a < g->npairs && g->key[a] == key) {
            c += g->cnt[a++];
        } else {
            g->succ[key / (uint64_t)g->V]++; /* a new successor of its context */
        }
        nk[o] = key;
        nc[o++] = c;
    }
    for (size_t i = 0; i < m; i++) g->ctx[ids[i]]++;
    for (long i = 0; i < n; i++) g->uni[ids[i]]++;
    g->n += (uint64_t)n;
    al_free(k);
    al_free(g->key);
    al_free(g->cnt);
    g->key = nk;
    g->cnt = nc;
    g->npairs = o;
    return AL_OK;
}

void al_lm_ngram_probs(const al_lm_ngram *g, int32_t prev, double *p) {
    const int V = g->V;
    const double den = (double)g->n + 0.5 * V;
    double bo = 1.0;
    uint64_t c = prev >= 0 && prev < V ? g->ctx[prev] : 0;
    if (c) bo = AL_LM_NGRAM_DISCOUNT * (double)g->succ[prev] / (double)c;
    for (int j = 0; j < V; j++) p[j] = bo * ((double)g->uni[j] + 0.5) / den;
    if (!c) return;
    /* the successors of prev: keys in [prev * V, (prev + 1) * V) */
    uint64_t lo_key = (uint64_t)prev * (uint64_t)V;
    size_t lo = 0, hi = g->npairs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (g->key[mid] < lo_key)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t i = lo; i < g->npairs && g->key[i] < lo_key + (uint64_t)V; i++)
        p[g->key[i] - lo_key] += ((double)g->cnt[i] - AL_LM_NGRAM_DISCOUNT) / (double)c;
}
