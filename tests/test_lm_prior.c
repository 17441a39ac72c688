/* The unigram prior of a language model and the device's text recipe
 * chooser (al_lm_marginal, al_lm_prior_shift, al_lm_personalize_auto):
 * checked on a model whose output layer has zero weights, so its every
 * prediction is softmax(bias) and the expected numbers are known exactly;
 * the chooser's gate keeps the cloud model when nothing can beat it, and
 * keeps a personal model when the prior does. */
#include "al_test.h"
#include "train/train.h"

#include <math.h>

#define V 9
#define T 5
static const char *SPEC = "tokens 5; embedding 4 vocab=9; lstm 6; dense 9";
static const char *SPEC_NOBIAS = "tokens 5; embedding 4 vocab=9; lstm 6; dense 9 bias=0";

/* A stream over words 0..V-1, most of it words 6, 7 and 8. */
static void stream(int32_t *ids, long n, uint64_t seed) {
    al_rng r;
    al_rng_seed(&r, seed, 7);
    for (long i = 0; i < n; i++) {
        uint32_t u = al_rng_below(&r, 10);
        ids[i] = u < 7 ? (int32_t)(6 + u % 3) : (int32_t)al_rng_below(&r, V);
    }
}

static al_model *bias_only(const char *spec, const float *bias) {
    al_model *m = NULL;
    if (al_model_from_spec(spec, 3, &m) != AL_OK) return NULL;
    al_node *o = &m->nodes[m->nnodes - 1];
    memset(o->params[0].w, 0, sizeof(float) * o->params[0].n);
    if (bias && o->nparams > 1)
        for (int j = 0; j < V; j++) o->params[1].w[j] = bias[j];
    return m;
}

static void test_marginal_and_shift(void) {
    const float bias[V] = {0.5f, -1.0f, 0.25f, 2.0f, 0.0f, -0.5f, 1.0f, 0.1f, -2.0f};
    al_model *m = bias_only(SPEC, bias);
    CHECK(m != NULL);
    if (!m) return;
    int32_t ids[203];
    stream(ids, 203, 11);
    double q[V], want[V], z = 0;
    uint64_t macs = 0;
    CHECK_OK(al_lm_marginal(m, NULL, ids, 203, q, &macs));
    for (int j = 0; j < V; j++) z += exp((double)bias[j]);
    for (int j = 0; j < V; j++) {
        want[j] = exp((double)bias[j]) / z;
        CHECK_NEAR(q[j], want[j], 1e-6);
    }
    CHECK(macs == al_macs_range(m, 0, m->nnodes) * 41); /* ceil(202 / 5) windows */
    /* strength 1 against the model's own marginal: softmax of the new bias is
     * the user's smoothed frequency, exactly (Bayes' rule) */
    double p[V] = {0};
    for (int i = 0; i < 203; i++) p[ids[i]] += 1;
    for (int j = 0; j < V; j++) p[j] = (p[j] + AL_LM_PRIOR_PSEUDO) / (203 + V * AL_LM_PRIOR_PSEUDO);
    CHECK_OK(al_lm_prior_shift(m, q, ids, 203, 1.0));
    double q2[V];
    CHECK_OK(al_lm_marginal(m, NULL, ids, 203, q2, NULL));
    for (int j = 0; j < V; j++) CHECK_NEAR(q2[j], p[j], 1e-5);
    /* strength 0 changes nothing; half strength moves the bias half as far */
    al_model *h = bias_only(SPEC, bias);
    CHECK_OK(al_lm_prior_shift(h, q, ids, 203, 0.0));
    for (int j = 0; j < V; j++) CHECK(h->nodes[h->nnodes - 1].params[1].w[j] == bias[j]);
    CHECK_OK(al_lm_prior_shift(h, q, ids, 203, 0.5));
    for (int j = 0; j < V; j++)
        CHECK_NEAR(h->nodes[h->nnodes - 1].params[1].w[j] - bias[j], 0.5 * log(p[j] / q[j]), 1e-5);
    /* errors: strength out of range, NULL, a model without an output bias */
    CHECK_STATUS(al_lm_prior_shift(h, q, ids, 203, -1.0), AL_ERANGE);
    CHECK_STATUS(al_lm_prior_shift(h, NULL, ids, 203, 1.0), AL_EINVAL);
    al_model *nb = bias_only(SPEC_NOBIAS, NULL);
    CHECK_STATUS(al_lm_prior_shift(nb, q, ids, 203, 1.0), AL_EUNSUPPORTED);
    al_model_free(nb);
    al_model_free(h);
    al_model_free(m);
}

static void test_chooser(void) {
    int32_t ids[1001];
    stream(ids, 1001, 5);
    al_personalize_config pc;
    al_personalize_config_default(&pc);
    al_train_recipe_text(&pc.train, 2, 1, 1e-9, 9);
    pc.ngram_mix = 0; /* the bigram mixture: test_lm_ngram.c */
    /* the gate: no prior candidate (no output bias), training at lr 1e-9
     * changes no ranking: the cloud model is kept, unchanged */
    al_model *m = NULL, *ref = NULL;
    REQUIRE_OK(al_model_from_spec(SPEC_NOBIAS, 4, &m));
    REQUIRE_OK(al_model_clone(m, &ref));
    al_lm_auto_report r;
    CHECK_OK(al_lm_personalize_auto(m, NULL, ids, 1001, NULL, &pc, &r));
    CHECK(r.a.kept == 0 && r.prior_chosen == 0.0);
    CHECK(!strncmp(r.a.why, "kept the cloud model", 20));
    CHECK(r.val_tokens == 200 && r.train_tokens == 801);
    int ran = 0, na = 0;
    for (int i = 0; i < r.a.ntries; i++) {
        ran += r.a.tries[i].status == AL_TRY_RUN;
        na += r.a.tries[i].status == AL_TRY_NA && r.a.tries[i].recipe == AL_RECIPE_PRIOR;
    }
    CHECK(ran == 3 && na == AL_LM_PRIOR_NSTRENGTHS); /* head, last-block, deep; the priors not applicable */
    CHECK(al_test_max_abs_diff(m->wblock, ref->wblock, m->nweights) == 0.0);
    /* a budget below the cheapest candidate: nothing runs, the cloud model is kept */
    pc.budget_macs = 1;
    CHECK_OK(al_lm_personalize_auto(m, NULL, ids, 1001, NULL, &pc, &r));
    CHECK(r.a.kept == 0 && r.a.best < 0 && strstr(r.a.why, "budget") != NULL);
    pc.budget_macs = 0;
    /* too short a stream: no split, the cloud model */
    CHECK_OK(al_lm_personalize_auto(m, NULL, ids, 12, NULL, &pc, &r));
    CHECK(r.a.kept == 0 && r.a.ntries == 0);
    al_model_free(m);
    al_model_free(ref);
    /* a uniform cloud model (zero output weights and bias) suggests words
     * 1, 2, 3 (never <unk>, 0); this user mostly types 6, 7, 8: the prior
     * beats the cloud model on validation and is kept */
    const float zero[V] = {0};
    m = bias_only(SPEC, zero);
    CHECK(m != NULL);
    if (!m) return;
    CHECK_OK(al_lm_personalize_auto(m, NULL, ids, 1001, NULL, &pc, &r));
    CHECK(r.a.kept == 1 && r.prior_chosen > 0.0);
    CHECK(r.a.best >= 0 && r.a.tries[r.a.best].val_acc > r.a.cloud_val_acc + 0.3);
    CHECK(r.loss[r.a.best] < r.cloud_val_loss);
    CHECK(strstr(r.a.why, "below the cloud model") != NULL);
    al_lm_eval e;
    CHECK_OK(al_lm_evaluate(m, NULL, ids + 801, 200, NULL, &e));
    CHECK(e.top3 > r.a.cloud_val_acc + 0.3);
    CHECK_STATUS(al_lm_personalize_auto(m, NULL, NULL, 5, NULL, &pc, &r), AL_EINVAL);
    pc.val_fraction = 0.0;
    CHECK_STATUS(al_lm_personalize_auto(m, NULL, ids, 1001, NULL, &pc, &r), AL_ERANGE);
    al_model_free(m);
}

int main(void) {
    test_marginal_and_shift();
    test_chooser();
    TEST_END("test_lm_prior");
}
