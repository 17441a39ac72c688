/* The runtime cache: hits return what was stored, the bound is honoured,
 * spill and drop work past it, a changed prefix clears it, and cached
 * inference equals plain inference. */
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
    /* a spill path in a missing directory degrades to recomputation */
    REQUIRE_OK(al_cache_new(0, "/nonexistent-dir/x/spill", &c));
    al_cache_bind(c, 8, 1);
    al_cache_store(c, 1, 0, f);
    al_cache_get_stats(c, &s);
    CHECK(s.dropped == 1);
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

int main(void) {
    char dir[] = "/tmp/al_cache_XXXXXX";
    REQUIRE_OK(mkdtemp(dir) ? AL_OK : AL_EIO);
    test_store(dir);
    test_predict();
    rmdir(dir);
    TEST_END("test_cache");
}
