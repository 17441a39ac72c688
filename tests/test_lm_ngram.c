/* The user's bigram model and its mixture with a language model
 * (al_lm_ngram_*, al_lm_evaluate_mix, al_lm_mix_eval, al_lm_mix_choose):
 * the bigram probabilities against counts made here by brute force (and
 * they sum to 1), counting in parts against the same counts, the mixture's
 * top-3 and log-loss against a mixture computed here from the model's
 * known softmax (a model whose output layer has zero weights predicts
 * softmax(bias) everywhere), weight 0 against al_lm_evaluate, and the
 * choice of the weight on a user whose next word follows from the last. */
#include "al_test.h"

#define V 9
#define T 5
static const char *SPEC = "tokens 5; embedding 4 vocab=9; lstm 6; dense 9";

static al_model *bias_only(const float *bias) {
    al_model *m = NULL;
    if (al_model_from_spec(SPEC, 3, &m) != AL_OK) return NULL;
    al_node *o = &m->nodes[m->nnodes - 1];
    memset(o->params[0].w, 0, sizeof(float) * o->params[0].n);
    for (int j = 0; j < V; j++) o->params[1].w[j] = bias[j];
    return m;
}

static void random_stream(int32_t *ids, long n, uint64_t seed) {
    al_rng r;
    al_rng_seed(&r, seed, 3);
    for (long i = 0; i < n; i++) ids[i] = (int32_t)al_rng_below(&r, V);
}

/* p_bigram(w | a) from explicit counts (the formula of ngram.c). */
static double brute(const double uni[V], double big[V][V], double n, int a, int w) {
    double ca = 0, na = 0;
    for (int j = 0; j < V; j++) ca += big[a][j], na += big[a][j] > 0;
    double p1 = (uni[w] + 0.5) / (n + 0.5 * V);
    if (ca == 0) return p1;
    return (big[a][w] > 0 ? (big[a][w] - AL_LM_NGRAM_DISCOUNT) / ca : 0.0) + AL_LM_NGRAM_DISCOUNT * na / ca * p1;
}

static void test_counts(void) {
    int32_t a[60], b[45];
    random_stream(a, 60, 1);
    random_stream(b, 45, 2);
    double uni[V] = {0}, big[V][V] = {{0}};
    for (int i = 0; i < 60; i++) uni[a[i]] += 1;
    for (int i = 0; i < 45; i++) uni[b[i]] += 1;
    for (int i = 0; i + 1 < 60; i++) big[a[i]][a[i + 1]] += 1;
    for (int i = 0; i + 1 < 45; i++) big[b[i]][b[i + 1]] += 1;
    al_lm_ngram *g = NULL;
    REQUIRE_OK(al_lm_ngram_new(V, &g));
    CHECK(al_lm_ngram_words(g) == V);
    /* two streams counted in turn: no bigram across them */
    CHECK_OK(al_lm_ngram_count(g, a, 60));
    CHECK_OK(al_lm_ngram_count(g, b, 45));
    double p[V];
    for (int prev = -1; prev <= V; prev++) {
        al_lm_ngram_probs(g, prev, p);
        double s = 0;
        int ctx = prev >= 0 && prev < V ? prev : 0;
        double none[V][V] = {{0}};
        for (int w = 0; w < V; w++) {
            s += p[w];
            /* outside 0..V-1: the unigram alone */
            double want = prev >= 0 && prev < V ? brute(uni, big, 105, ctx, w) : brute(uni, none, 105, 0, w);
            CHECK_NEAR(p[w], want, 1e-12);
        }
        CHECK_NEAR(s, 1.0, 1e-12);
    }
    /* a bad id: an error naming it, nothing counted */
    int32_t bad[3] = {1, V, 2};
    CHECK_STATUS(al_lm_ngram_count(g, bad, 3), AL_ERANGE);
    for (int prev = 0; prev < V; prev++) {
        al_lm_ngram_probs(g, prev, p);
        for (int w = 0; w < V; w++) CHECK_NEAR(p[w], brute(uni, big, 105, prev, w), 1e-12);
    }
    CHECK_STATUS(al_lm_ngram_count(g, NULL, 3), AL_EINVAL);
    CHECK_OK(al_lm_ngram_count(g, a, 0));
    al_lm_ngram_free(g);
    CHECK_STATUS(al_lm_ngram_new(0, &g), AL_ERANGE);
    CHECK_STATUS(al_lm_ngram_new(V, NULL), AL_EINVAL);
    /* an empty model: the uniform unigram */
    REQUIRE_OK(al_lm_ngram_new(V, &g));
    al_lm_ngram_probs(g, 3, p);
    for (int w = 0; w < V; w++) CHECK_NEAR(p[w], 1.0 / V, 1e-12);
    al_lm_ngram_free(g);
}

static void test_mixture(void) {
    const float bias[V] = {0.5f, -1.0f, 0.25f, 2.0f, 0.0f, -0.5f, 1.0f, 0.1f, -2.0f};
    al_model *m = bias_only(bias);
    CHECK(m != NULL);
    if (!m) return;
    int32_t tr[300], ev[157];
    random_stream(tr, 300, 7);
    random_stream(ev, 157, 8);
    al_lm_ngram *g = NULL;
    REQUIRE_OK(al_lm_ngram_new(V, &g));
    REQUIRE_OK(al_lm_ngram_count(g, tr, 300));
    /* weight 0 is the model alone, bit for bit */
    al_lm_eval e0, ea;
    CHECK_OK(al_lm_evaluate(m, NULL, ev, 157, NULL, &e0));
    CHECK_OK(al_lm_evaluate_mix(m, NULL, g, 0.0, ev, NULL, 157, NULL, &ea));
    CHECK(memcmp(&e0, &ea, sizeof e0) == 0);
    CHECK_OK(al_lm_evaluate_mix(m, NULL, NULL, 0.3, ev, NULL, 157, NULL, &ea));
    CHECK(memcmp(&e0, &ea, sizeof e0) == 0);
    /* weight w: the mixture computed here from softmax(bias) */
    double pm[V], z = 0;
    for (int j = 0; j < V; j++) z += exp((double)bias[j]);
    for (int j = 0; j < V; j++) pm[j] = exp((double)bias[j]) / z;
    const double ws[3] = {0.0, 0.25, 0.9};
    al_lm_eval e3[3];
    uint64_t macs = 0;
    CHECK_OK(al_lm_mix_eval(m, NULL, g, ws, 3, ev, 157, e3, &macs));
    CHECK(macs == al_macs_range(m, 0, m->nnodes) * 32); /* ceil(156 / 5) windows */
    CHECK(e3[0].top3 == e0.top3 && e3[0].loss == e0.loss);
    for (int k = 1; k < 3; k++) {
        double loss = 0;
        long hits = 0;
        for (int i = 0; i + 1 < 157; i++) {
            double pb[V], mix[V];
            al_lm_ngram_probs(g, ev[i], pb);
            for (int j = 0; j < V; j++) mix[j] = (1 - ws[k]) * pm[j] + ws[k] * pb[j];
            int y = ev[i + 1], better = 0;
            for (int j = 1; j < V; j++) better += j != y && mix[j] > mix[y]; /* <unk> (0) never suggested */
            hits += y != 0 && better < 3;
            loss -= log(mix[y]);
        }
        CHECK_NEAR(e3[k].top3, (double)hits / 156, 1e-12);
        CHECK_NEAR(e3[k].loss, loss / 156, 1e-6);
        CHECK(e3[k].tokens == 156);
        al_lm_eval one;
        CHECK_OK(al_lm_evaluate_mix(m, NULL, g, ws[k], ev, NULL, 157, NULL, &one));
        CHECK(one.top3 == e3[k].top3 && one.loss == e3[k].loss);
    }
    /* errors: a weight outside 0..1, a bigram model of other words, too many weights */
    CHECK_STATUS(al_lm_evaluate_mix(m, NULL, g, 1.5, ev, NULL, 157, NULL, &ea), AL_ERANGE);
    CHECK_STATUS(al_lm_evaluate_mix(m, NULL, g, -0.1, ev, NULL, 157, NULL, &ea), AL_ERANGE);
    al_lm_ngram *g2 = NULL;
    REQUIRE_OK(al_lm_ngram_new(V + 1, &g2));
    CHECK_STATUS(al_lm_evaluate_mix(m, NULL, g2, 0.2, ev, NULL, 157, NULL, &ea), AL_EINVAL);
    al_lm_ngram_free(g2);
    al_lm_eval many[AL_LM_MIX_NWEIGHTS + 1];
    double wmany[AL_LM_MIX_NWEIGHTS + 1] = {0};
    CHECK_STATUS(al_lm_mix_eval(m, NULL, g, wmany, AL_LM_MIX_NWEIGHTS + 1, ev, 157, many, NULL), AL_EINVAL);
    al_lm_ngram_free(g);
    al_model_free(m);
}

/* A user whose next word follows from the last (a cycle through words
 * 3..8, one word in ten random), against a uniform cloud model: the bigram
 * mixture is chosen, by al_lm_mix_choose and by the chooser, whose pick
 * keeps the cloud weights when nothing else is asked of it. */
static void test_choice(void) {
    int32_t ids[1501];
    al_rng r;
    al_rng_seed(&r, 4, 4);
    for (int i = 0; i < 1501; i++) ids[i] = al_rng_below(&r, 10) == 0 ? (int32_t)al_rng_below(&r, V) : 3 + i % 6;
    const float zero[V] = {0};
    al_model *m = bias_only(zero);
    CHECK(m != NULL);
    if (!m) return;
    double w = -1;
    uint64_t macs = 0;
    CHECK_OK(al_lm_mix_choose(m, NULL, ids, 1501, 0.2, 0.0, &w, &macs));
    CHECK(w == al_lm_mix_weights[AL_LM_MIX_NWEIGHTS - 1] && macs > 0); /* the strongest: the bigram knows */
    CHECK_OK(al_lm_mix_choose(m, NULL, ids, 12, 0.2, 0.5, &w, NULL)); /* too short to split */
    CHECK(w == 0.0);
    CHECK_STATUS(al_lm_mix_choose(m, NULL, ids, 1501, 0.0, 0.0, &w, NULL), AL_ERANGE);
    CHECK_STATUS(al_lm_mix_choose(m, NULL, NULL, 1501, 0.2, 0.0, &w, NULL), AL_EINVAL);
    /* the chooser: training at lr 1e-9 moves nothing, the prior cannot
     * learn the order: the bigram (with or without the prior) wins */
    al_model *ref = NULL;
    REQUIRE_OK(al_model_clone(m, &ref));
    al_personalize_config pc;
    al_personalize_config_default(&pc);
    CHECK(pc.ngram_mix == 1);
    al_train_recipe_text(&pc.train, 2, 1, 1e-9, 9);
    al_lm_auto_report ar;
    CHECK_OK(al_lm_personalize_auto(m, NULL, ids, 1501, NULL, &pc, &ar));
    CHECK(ar.a.kept == 1 && ar.mix_chosen > 0.0 && ar.a.recipe == AL_RECIPE_PRIOR);
    CHECK(ar.loss[ar.a.best] < ar.cloud_val_loss && ar.a.tries[ar.a.best].val_acc > ar.a.cloud_val_acc + 0.3);
    CHECK(strstr(ar.a.why, "bigram") != NULL && strstr(ar.a.why, "below the cloud model") != NULL);
    const char *meta = al_model_meta(m, AL_LM_MIX_META);
    CHECK(meta != NULL && meta && fabs(atof(meta) - ar.mix_chosen) < 1e-9);
    /* the output layer's weights stay the cloud's (only its bias may carry the prior) */
    CHECK(al_test_max_abs_diff(m->nodes[m->nnodes - 1].params[0].w, ref->nodes[ref->nnodes - 1].params[0].w,
                               m->nodes[m->nnodes - 1].params[0].n) == 0.0);
    /* every try's weight is one of the weights tried */
    for (int i = 0; i < ar.a.ntries; i++) {
        int found = 0;
        for (int k = 0; k < AL_LM_MIX_NWEIGHTS; k++) found |= ar.mix[i] == al_lm_mix_weights[k];
        CHECK(found);
    }
    /* without the mixture: no weight anywhere, none stored */
    al_model_free(m);
    REQUIRE_OK(al_model_clone(ref, &m));
    pc.ngram_mix = 0;
    CHECK_OK(al_lm_personalize_auto(m, NULL, ids, 1501, NULL, &pc, &ar));
    CHECK(ar.mix_chosen == 0.0 && al_model_meta(m, AL_LM_MIX_META) == NULL);
    for (int i = 0; i < ar.a.ntries; i++) CHECK(ar.mix[i] == 0.0);
    al_model_free(m);
    al_model_free(ref);
}

int main(void) {
    test_counts();
    test_mixture();
    test_choice();
    TEST_END("test_lm_ngram");
}
