/* Personalization: the runtime cache gives bit-identical training to
 * recomputing the frozen prefix, later epochs skip the prefix, a cache
 * filled by inference is reused, the frozen part never changes,
 * augmentation variants are reproducible, and the job frees its training
 * buffers when it ends (al_model_release_memory). */
#include "al_test.h"

#define SPEC "input 1x8x8; flatten; dense 24; relu; dense 16; relu; dense 3"

static al_model *fresh(void) {
    al_model *m;
    REQUIRE_OK(al_model_from_spec(SPEC, 11, &m));
    return m;
}

static void cfg_for(al_personalize_config *c, int variants) {
    al_personalize_config_default(c);
    c->train.epochs = 4;
    c->train.batch = 8;
    c->train.lr = 0.05;
    c->freeze = 3;
    c->aug_variants = variants;
    c->aug.noise = 0.05f;
}

static void test_cache_equivalence(const al_dataset *d, int variants, al_pool *pool) {
    al_personalize_config c;
    cfg_for(&c, variants);
    al_model *a = fresh(), *b = fresh(), *z = fresh();
    al_personalize_report ra, rb;
    REQUIRE_OK(al_personalize(a, pool, d, NULL, NULL, &c, NULL, &ra));
    al_cache *cache;
    REQUIRE_OK(al_cache_new(64 << 20, NULL, &cache));
    REQUIRE_OK(al_personalize(b, pool, d, NULL, cache, &c, NULL, &rb));
    CHECK(a->nweights == b->nweights);
    CHECK(memcmp(a->wblock, b->wblock, sizeof(float) * a->nweights) == 0);
    CHECK(ra.train.final_loss == rb.train.final_loss);
    /* without a cache the prefix runs for every sample of every epoch */
    CHECK(ra.prefix_samples == (uint64_t)d->n * 4);
    /* with it, once per (sample, variant) seen */
    CHECK(rb.prefix_samples == rb.cache.entries_mem);
    if (variants == 1) CHECK(rb.prefix_samples == (uint64_t)d->n);
    CHECK(rb.prefix_samples <= (uint64_t)d->n * (uint64_t)variants);
    CHECK(rb.suffix_samples == (uint64_t)d->n * 4);
    CHECK(rb.macs < ra.macs);
    /* the frozen part is bit-identical to the untrained model */
    size_t frozen = 0;
    for (int i = 0; i < 3; i++)
        for (int p = 0; p < a->nodes[i].nparams; p++) frozen += a->nodes[i].params[p].n;
    CHECK(frozen > 0 && memcmp(a->wblock, z->wblock, sizeof(float) * frozen) == 0);
    CHECK(memcmp(a->wblock, z->wblock, sizeof(float) * a->nweights) != 0);
    /* a tiny cache without spill file still trains identically (recomputes) */
    al_model *e = fresh();
    al_cache *tiny;
    REQUIRE_OK(al_cache_new(5 * 24 * sizeof(float), NULL, &tiny));
    al_personalize_report re;
    REQUIRE_OK(al_personalize(e, pool, d, NULL, tiny, &c, NULL, &re));
    CHECK(memcmp(a->wblock, e->wblock, sizeof(float) * a->nweights) == 0);
    CHECK(re.cache.entries_mem == 5 && re.cache.dropped > 0);
    al_cache_free(tiny);
    al_model_free(e);
    al_cache_free(cache);
    al_model_free(a);
    al_model_free(b);
    al_model_free(z);
}

/* An app that classified the photos already computed the prefix. */
static void test_predict_then_train(const al_dataset *d) {
    al_personalize_config c;
    cfg_for(&c, 1);
    al_model *a = fresh(), *b = fresh();
    REQUIRE_OK(al_model_freeze(b, 3));
    uint64_t *ids = malloc(sizeof(uint64_t) * (size_t)d->n);
    for (int i = 0; i < d->n; i++) ids[i] = 5000 + (uint64_t)i * 3;
    al_cache *cache;
    REQUIRE_OK(al_cache_new(64 << 20, NULL, &cache));
    float *y = malloc(sizeof(float) * 3 * (size_t)d->n);
    REQUIRE_OK(al_model_predict_cached(b, NULL, d->x, d->n, ids, cache, y));
    al_personalize_report ra, rb;
    REQUIRE_OK(al_personalize(a, NULL, d, ids, NULL, &c, NULL, &ra));
    REQUIRE_OK(al_personalize(b, NULL, d, ids, cache, &c, NULL, &rb));
    CHECK(rb.prefix_samples == 0); /* no frozen-layer work at all */
    CHECK(rb.cache.hits == (uint64_t)d->n * 4);
    CHECK(memcmp(a->wblock, b->wblock, sizeof(float) * a->nweights) == 0);
    free(y);
    free(ids);
    al_cache_free(cache);
    al_model_free(a);
    al_model_free(b);
}

static void test_learns_and_errors(const al_dataset *d, const al_dataset *t) {
    al_personalize_config c;
    cfg_for(&c, 2);
    c.train.epochs = 15;
    c.freeze = 1; /* train everything above the flatten */
    al_model *m = fresh();
    double acc0, acc1;
    REQUIRE_OK(al_evaluate(m, NULL, t, 16, NULL, &acc0));
    al_personalize_report r;
    REQUIRE_OK(al_personalize(m, NULL, d, NULL, NULL, &c, t, &r));
    /* the job's training buffers are freed when it ends; an evaluation
     * after it plans inference alone */
    CHECK(m->plan_block == NULL && m->maxbatch == 0);
    REQUIRE_OK(al_evaluate(m, NULL, t, 16, NULL, &acc1));
    CHECK(acc1 > 0.9 && acc1 > acc0);
    CHECK(m->plan_block && m->plan_lowest == m->nnodes && m->plan_size == al_model_plan_bytes_at(m, 16, m->nnodes));
    /* al_model_release_memory: the buffers go, the predictions stay */
    float y0[3 * 16], y1[3 * 16];
    REQUIRE_OK(al_model_predict(m, NULL, al_dataset_x(t, 0), 16, y0));
    al_model_release_memory(m);
    CHECK(m->plan_block == NULL && m->maxbatch == 0);
    al_model_release_memory(m); /* twice: nothing to free */
    al_model_release_memory(NULL);
    REQUIRE_OK(al_model_predict(m, NULL, al_dataset_x(t, 0), 16, y1));
    CHECK(memcmp(y0, y1, sizeof y0) == 0 && m->plan_block);
    CHECK(r.first_epoch_seconds > 0.0 && r.later_epoch_seconds > 0.0);
    c.freeze = 6;
    CHECK_STATUS(al_personalize(m, NULL, d, NULL, NULL, &c, NULL, &r), AL_EINVAL);
    c.freeze = 3;
    c.aug_variants = 0;
    CHECK_STATUS(al_personalize(m, NULL, d, NULL, NULL, &c, NULL, &r), AL_ERANGE);
    al_model_free(m);
    /* augmentation needs an image input */
    REQUIRE_OK(al_model_from_spec("input 64; dense 8; dense 3", 1, &m));
    cfg_for(&c, 3);
    c.freeze = 1;
    al_dataset *flat;
    al_tensor xs = {NULL, 1, {64, 0, 0, 0}};
    REQUIRE_OK(al_dataset_from_arrays(d->x, d->y, d->n, &xs, 1, 3, &flat));
    CHECK_STATUS(al_personalize(m, NULL, flat, NULL, NULL, &c, NULL, &r), AL_EINVAL);
    al_dataset_free(flat);
    al_model_free(m);
}

/* A squeeze-excite model (mul reads node 1, the relu): at freeze point 4
 * the frozen frontier is two tensors, node 1's output (the mul's x2) and
 * node 3's (the gate's input); at 2 it is one. At both, the cache trains
 * exactly as recomputing does and cached inference gives what plain
 * inference gives. A model whose suffix reads the model input (add -1) is
 * refused at a freeze point past it. */
static void test_squeeze_excite(const al_dataset *d) {
    const char *se = "input 1x8x8; conv 4 k=3 p=1; relu; gap; dense 2; relu; dense 4; hardsigmoid; mul 1; "
                     "flatten; dense 3";
    al_personalize_config c;
    cfg_for(&c, 1);
    al_personalize_report r;
    for (int fz = 2; fz <= 4; fz += 2) {
        al_model *a, *b;
        REQUIRE_OK(al_model_from_spec(se, 3, &a));
        REQUIRE_OK(al_model_from_spec(se, 3, &b));
        CHECK(al_model_frontier_count(a, fz) == (fz == 4 ? 2 : 1));
        c.freeze = fz;
        al_cache *cache;
        REQUIRE_OK(al_cache_new(64 << 20, NULL, &cache));
        al_personalize_report rb;
        REQUIRE_OK(al_personalize(a, NULL, d, NULL, NULL, &c, NULL, &r));
        REQUIRE_OK(al_personalize(b, NULL, d, NULL, cache, &c, NULL, &rb));
        CHECK(memcmp(a->wblock, b->wblock, sizeof(float) * a->nweights) == 0);
        CHECK(r.train.final_loss == rb.train.final_loss && rb.prefix_samples == (uint64_t)d->n);
        al_cache_free(cache);
        /* inference through a cache: the same outputs as without */
        REQUIRE_OK(al_cache_new(64 << 20, NULL, &cache));
        uint64_t *ids = malloc(sizeof(uint64_t) * (size_t)d->n);
        for (int i = 0; i < d->n; i++) ids[i] = (uint64_t)i;
        float *y1 = malloc(sizeof(float) * 3 * (size_t)d->n), *y2 = malloc(sizeof(float) * 3 * (size_t)d->n);
        for (int k = 0; k < 2; k++) REQUIRE_OK(al_model_predict_cached(b, NULL, d->x, d->n, ids, cache, y1));
        REQUIRE_OK(al_model_predict(b, NULL, d->x, d->n, y2));
        CHECK(memcmp(y1, y2, sizeof(float) * 3 * (size_t)d->n) == 0);
        free(ids);
        free(y1);
        free(y2);
        al_cache_free(cache);
        al_model_free(a);
        al_model_free(b);
    }
    al_model *m;
    REQUIRE_OK(al_model_from_spec("input 1x8x8; conv 1 k=3 p=1; tanh; add -1; flatten; dense 3", 3, &m));
    c.freeze = 2;
    CHECK_STATUS(al_personalize(m, NULL, d, NULL, NULL, &c, NULL, &r), AL_EINVAL);
    CHECK(strstr(al_last_error(), "node 2 adds the model input across the freeze point 2") != NULL);
    al_model_free(m);
}

int main(void) {
    al_dataset *d = al_test_images(40, 1), *t = al_test_images(60, 2);
    test_cache_equivalence(d, 1, NULL);
    test_cache_equivalence(d, 3, NULL);
    al_pool *pool;
    REQUIRE_OK(al_pool_new(2, &pool));
    test_cache_equivalence(d, 2, pool);
    al_pool_free(pool);
    test_predict_then_train(d);
    test_learns_and_errors(d, t);
    test_squeeze_excite(d);
    al_dataset_free(d);
    al_dataset_free(t);
    TEST_END("test_personalize");
}
