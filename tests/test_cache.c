/* The runtime cache: hits return what was stored, the bound is honoured,
 * spill and drop work past it, a changed prefix clears it, cached
 * inference equals plain inference, and the binding covers the data and
 * the augmentation: other data or another augmentation (or its seed)
 * recomputes, the same job hits. */
#include "al_test.h"

#include <sys/stat.h>
#include <unistd.h>

static void test_store(const char *dir) {
    al_cache *c;
    char spill[512];
    snprintf(spill, sizeof spill, "%s/spill.bin", dir);
    /* room for 10 entries of 8 floats in memory, the rest spills */
    REQUIRE_OK(al_cache_new(10 * 8 * sizeof(float), spill, &c));
    al_cache_bind(c, 8, 1234);
    float f[8], g[8];
    for (int id = 0; id < 30; id++) {
        for (int j = 0; j < 8; j++) f[j] = (float)(id * 100 + j);
        al_cache_store(c, (uint64_t)id, id % 3, f);
    }
    al_cache_stats s;
    al_cache_get_stats(c, &s);
    CHECK(s.entries_mem == 10 && s.entries_spilled == 20 && s.dropped == 0);
    CHECK(s.bytes_mem == 10 * 8 * sizeof(float));
    struct stat sb;
    CHECK(stat(spill, &sb) == 0 && (sb.st_mode & 0777) == 0600);
    for (int id = 0; id < 30; id++) {
        CHECK(al_cache_lookup(c, (uint64_t)id, id % 3, g) == 1);
        CHECK(g[0] == (float)(id * 100) && g[7] == (float)(id * 100 + 7));
        CHECK(al_cache_lookup(c, (uint64_t)id, id % 3 + 1, g) == 0);
    }
    al_cache_get_stats(c, &s);
    CHECK(s.hits == 30 && s.misses == 30);
    al_cache_bind(c, 8, 999); /* another prefix: cleared */
    CHECK(al_cache_lookup(c, 0, 0, g) == 0);
    CHECK(stat(spill, &sb) != 0); /* spill file removed with the entries */
    al_cache_free(c);

    /* no spill file: past the bound entries are dropped, never an error */
    REQUIRE_OK(al_cache_new(5 * 8 * sizeof(float), NULL, &c));
    al_cache_bind(c, 8, 1);
    for (int id = 0; id < 3000; id++) al_cache_store(c, (uint64_t)id, 0, f);
    al_cache_get_stats(c, &s);
    CHECK(s.entries_mem == 5 && s.dropped == 2995);
    CHECK(al_cache_lookup(c, 4, 0, g) == 1 && al_cache_lookup(c, 5, 0, g) == 0);
    al_cache_free(c);
    /* a spill path in a missing directory is refused when the cache is
     * made; a directory that goes away before the first spill degrades to
     * recomputation */
    CHECK_STATUS(al_cache_new(0, "/nonexistent-dir/x/spill", &c), AL_EIO);
    char sub[600], gone[700];
    snprintf(sub, sizeof sub, "%s/sub", dir);
    snprintf(gone, sizeof gone, "%s/spill.bin", sub);
    REQUIRE_OK(mkdir(sub, 0700) == 0 ? AL_OK : AL_EIO);
    REQUIRE_OK(al_cache_new(0, gone, &c));
    REQUIRE_OK(rmdir(sub) == 0 ? AL_OK : AL_EIO);
    al_cache_bind(c, 8, 1);
    al_cache_store(c, 1, 0, f);
    al_cache_get_stats(c, &s);
    CHECK(s.dropped == 1 && s.entries_spilled == 0);
    CHECK(al_cache_lookup(c, 1, 0, g) == 0);
    al_cache_free(c);
}

static void test_predict(void) {
    al_model *m;
    REQUIRE_OK(al_model_from_spec("input 6; dense 8; relu; dense 5; relu; dense 3", 3, &m));
    REQUIRE_OK(al_model_freeze(m, 2));
    const int n = 37;
    float x[37 * 6], y0[37 * 3], y1[37 * 3], y2[37 * 3];
    uint64_t ids[37];
    al_rng r;
    al_rng_seed(&r, 5, 1);
    for (int i = 0; i < n * 6; i++) x[i] = al_rng_normal(&r);
    for (int i = 0; i < n; i++) ids[i] = 1000 + (uint64_t)i;
    REQUIRE_OK(al_model_predict(m, NULL, x, n, y0));
    al_cache *c;
    REQUIRE_OK(al_cache_new(1 << 20, NULL, &c));
    REQUIRE_OK(al_model_predict_cached(m, NULL, x, n, ids, c, y1));
    CHECK(memcmp(y0, y1, sizeof y0) == 0);
    al_cache_stats s;
    al_cache_get_stats(c, &s);
    CHECK(s.entries_mem == (uint64_t)n);
    /* second pass: every prefix output comes from the cache. Poison the
     * input to prove the prefix is not recomputed. */
    float bad[37 * 6];
    for (int i = 0; i < n * 6; i++) bad[i] = 1e6f;
    REQUIRE_OK(al_model_predict_cached(m, NULL, bad, n, ids, c, y2));
    CHECK(memcmp(y0, y2, sizeof y0) == 0);
    al_cache_stats s2;
    al_cache_get_stats(c, &s2);
    CHECK(s2.hits - s.hits == (uint64_t)n);
    /* changing a frozen weight changes the fingerprint: recomputed */
    m->nodes[0].params[0].w[0] += 1.0f;
    REQUIRE_OK(al_model_predict_cached(m, NULL, x, n, ids, c, y2));
    REQUIRE_OK(al_model_predict(m, NULL, x, n, y1));
    CHECK(memcmp(y1, y2, sizeof y1) == 0);
    CHECK(memcmp(y0, y2, sizeof y0) != 0);
    al_cache_free(c);
    al_model_free(m);
}

/* Personalization jobs sharing one cache, ids NULL (keys: content hashes).
 * A job's prefix_samples count what it computed; its weights must equal a
 * cache-less run's, which a stale feature would break. */
#define BSPEC "input 1x6x6; flatten; dense 12; relu; dense 3"

static al_dataset *bind_data(uint64_t seed) {
    enum { N = 24 };
    float x[N * 36];
    int32_t y[N];
    al_rng r;
    al_rng_seed(&r, seed, 3);
    for (int i = 0; i < N * 36; i++) x[i] = al_rng_uniform(&r);
    for (int i = 0; i < N; i++) y[i] = i % 3;
    al_tensor sh = {NULL, 3, {1, 6, 6}};
    al_dataset *d;
    REQUIRE_OK(al_dataset_from_arrays(x, y, N, &sh, 1, 3, &d));
    return d;
}

static void bind_cfg(al_personalize_config *c, int variants, uint64_t seed, float noise) {
    al_personalize_config_default(c);
    c->train.epochs = 2;
    c->train.batch = 8;
    c->train.seed = seed;
    c->freeze = 3;
    c->aug_variants = variants;
    c->aug.noise = noise;
}

/* Runs the job with `cache` and without; checks equal weights and returns
 * the prefix passes run with the cache. */
static uint64_t bind_job(const al_dataset *d, const al_personalize_config *c, al_cache *cache) {
    al_model *a, *b;
    REQUIRE_OK(al_model_from_spec(BSPEC, 7, &a));
    REQUIRE_OK(al_model_from_spec(BSPEC, 7, &b));
    al_personalize_report ra, rb;
    REQUIRE_OK(al_personalize(a, NULL, d, NULL, cache, c, NULL, &ra));
    REQUIRE_OK(al_personalize(b, NULL, d, NULL, NULL, c, NULL, &rb));
    CHECK(memcmp(a->wblock, b->wblock, sizeof(float) * a->nweights) == 0);
    al_model_free(a);
    al_model_free(b);
    return ra.prefix_samples;
}

static void test_binding(void) {
    al_dataset *d1 = bind_data(1), *d2 = bind_data(2);
    int n = al_dataset_size(d1);
    al_cache *c;
    REQUIRE_OK(al_cache_new(16 << 20, NULL, &c));
    al_personalize_config p;
    /* no augmentation: one prefix pass per sample, then hits */
    bind_cfg(&p, 1, 5, 0.02f);
    CHECK(bind_job(d1, &p, c) == (uint64_t)n);
    CHECK(bind_job(d1, &p, c) == 0);  /* the same data: all hits */
    CHECK(bind_job(d2, &p, c) == (uint64_t)n); /* other data at the same positions: recomputed */
    CHECK(bind_job(d1, &p, c) == 0);  /* both are held, each under its own content */
    /* augmentation: K = 4 variants over 2 epochs */
    bind_cfg(&p, 4, 5, 0.02f);
    uint64_t first = bind_job(d1, &p, c);
    CHECK(first > 0);
    CHECK(bind_job(d1, &p, c) == 0); /* the same augmentation and seed: hits */
    bind_cfg(&p, 4, 6, 0.02f);       /* another seed: its augmented variants are recomputed */
    uint64_t seed2 = bind_job(d1, &p, c);
    CHECK(seed2 > 0);
    bind_cfg(&p, 4, 5, 0.2f);        /* other settings, the first seed: recomputed */
    CHECK(bind_job(d1, &p, c) == first);
    /* the variant-0 entries (no augmentation) are still good */
    bind_cfg(&p, 1, 5, 0.02f);
    CHECK(bind_job(d1, &p, c) == 0);
    al_cache_free(c);

    /* cached inference without ids keys by content: other data misses */
    al_model *m;
    REQUIRE_OK(al_model_from_spec(BSPEC, 7, &m));
    REQUIRE_OK(al_model_freeze(m, 3));
    REQUIRE_OK(al_cache_new(16 << 20, NULL, &c));
    float y1[24 * 3], y2[24 * 3];
    REQUIRE_OK(al_model_predict_cached(m, NULL, al_dataset_x(d1, 0), n, NULL, c, y1));
    REQUIRE_OK(al_model_predict_cached(m, NULL, al_dataset_x(d2, 0), n, NULL, c, y2));
    REQUIRE_OK(al_model_predict(m, NULL, al_dataset_x(d2, 0), n, y1));
    CHECK(memcmp(y1, y2, sizeof y1) == 0);
    al_cache_stats s;
    al_cache_get_stats(c, &s);
    CHECK(s.hits == 0 && s.entries_mem == (uint64_t)(2 * n));
    al_cache_free(c);
    al_model_free(m);
    al_dataset_free(d1);
    al_dataset_free(d2);
}

int main(void) {
    char dir[] = "/tmp/al_cache_XXXXXX";
    REQUIRE_OK(mkdtemp(dir) ? AL_OK : AL_EIO);
    test_store(dir);
    test_predict();
    test_binding();
    rmdir(dir);
    TEST_END("test_cache");
}
