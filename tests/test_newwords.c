/* The keyboard on the user's own text: the text check (UTF-8, binary,
 * empty), new words (al_vocab_learn), the grown model (al_lm_grow: every
 * cloud word keeps its probability, the new words share <unk>'s, the new
 * rows start from <unk>'s, the file round-trips, int8 weights refuse),
 * personalization on a buffer (the new word is learned and suggested;
 * a text of only unknown words is refused unless it teaches new words),
 * word top-3 and keystrokes over every word target, and out of memory at
 * every allocation of a text job that grows the model. */
#include "al_test.h"
#include "train/train.h"

#include <math.h>
#include <unistd.h>

static char dir[512];

static const char *path(const char *name) {
    static char buf[4][640];
    static int i;
    i = (i + 1) % 4;
    snprintf(buf[i], sizeof buf[i], "%s/%s", dir, name);
    return buf[i];
}

static void test_check(void) {
    const char *ok = "Na\xc3\xafve caf\xc3\xa9 \xf0\x9f\x98\x80 \xe2\x80\x94 fine.\n\tyes\r\n";
    CHECK_OK(al_text_check(ok, strlen(ok), "t"));
    CHECK_STATUS(al_text_check("", 0, "t"), AL_EINVAL);
    CHECK(strstr(al_last_error(), "empty") != NULL);
    const char *bad[] = {"abc \xff def", "\xc0\x80", "x\xed\xa0\x80", "cut \xe2\x82", "\xf4\x90\x80\x80", "\x80"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_STATUS(al_text_check(bad[i], strlen(bad[i]), "f.txt"), AL_EFORMAT);
        CHECK(strstr(al_last_error(), "f.txt is not UTF-8") != NULL);
    }
    CHECK_STATUS(al_text_check("ab\0cd", 5, "bin"), AL_EFORMAT);
    CHECK(strstr(al_last_error(), "binary") != NULL);
    char ctl[400];
    for (int i = 0; i < 400; i++) ctl[i] = (char)(i % 3 ? 'a' : 1);
    CHECK_STATUS(al_text_check(ctl, sizeof ctl, "bin"), AL_EFORMAT);
}

static void test_learn(void) {
    al_vocab *v;
    REQUIRE_OK(al_vocab_parse("<unk>\n</s>\n<num>\nthe\ncat\n.", &v));
    const char *t = "The zed, the zed; ZED yak yak 1999 foo . yak "
                    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa "
                    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    int added;
    uint64_t *cnt, unk;
    REQUIRE_OK(al_vocab_learn(v, t, strlen(t), 2, 10, &added, &cnt, &unk));
    /* zed 3, yak 3 (byte order: yak first), foo once; ',' ';' and the overlong tokens are not words */
    CHECK(added == 2 && al_vocab_size(v) == 8);
    CHECK(!strcmp(al_vocab_word(v, 6), "yak") && !strcmp(al_vocab_word(v, 7), "zed"));
    CHECK(cnt[0] == 3 && cnt[1] == 3);
    CHECK(unk == 3 + 3 + 1 + 1 + 1 + 2); /* zed yak foo , ; and the two overlong tokens */
    al_free(cnt);
    CHECK(al_vocab_lookup(v, "zed", 3) == 7);
    al_ids ids = {0}, lens = {0};
    const char *u = "zed, foo <num> aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    REQUIRE_OK(al_vocab_encode_lens(v, u, strlen(u), &ids, &lens));
    /* zed , foo < num > <unk>: letters for words, 48 for the overlong one, 0 for the rest */
    int32_t want_len[] = {3, 0, 3, 0, 3, 0, AL_TOK_MAXLEN};
    CHECK(lens.n == 7);
    for (int i = 0; i < 7 && lens.n == 7; i++) CHECK(lens.v[i] == want_len[i]);
    CHECK(ids.v[0] == 7 && ids.v[2] == AL_TOK_UNK);
    al_ids_free(&ids);
    al_ids_free(&lens);
    /* the cap; a second learn adds nothing new; an existing word is refused */
    REQUIRE_OK(al_vocab_learn(v, "foo foo bar bar", 15, 2, 1, &added, NULL, NULL));
    CHECK(added == 1 && !strcmp(al_vocab_word(v, 8), "bar"));
    CHECK_STATUS(al_vocab_add(v, "the", 3), AL_EINVAL);
    CHECK_STATUS(al_vocab_add(v, "a b", 3), AL_EINVAL);
    char *s = al_vocab_serialize(v);
    al_vocab *v2;
    REQUIRE_OK(al_vocab_parse(s, &v2));
    CHECK(al_vocab_size(v2) == 9 && al_vocab_lookup(v2, "bar", 3) == 8);
    al_free(s);
    al_vocab_free(v2);
    al_vocab_free(v);
}

#define VOCAB "<unk>\n</s>\n<num>\nthe\ncat\nsat\non\nmat\n.\n,"
#define V0 10

static al_model *lm(const char *spec) {
    al_model *m;
    if (al_model_from_spec(spec, 7, &m)) return NULL;
    if (al_model_set_meta(m, "autlearn.vocab", VOCAB)) {
        al_model_free(m);
        return NULL;
    }
    return m;
}

/* softmax of row t of the model's output for ids x (T = 4) */
static void probs(al_model *m, const float *x, int t, double *p, int V) {
    const float *z;
    if (al_model_plan(m, 1) || al_model_forward_from(m, NULL, 0, x, 1, 0, &z)) {
        CHECK(0);
        return;
    }
    const float *r = z + (size_t)t * (size_t)V;
    double mx = -INFINITY, s = 0;
    for (int j = 0; j < V; j++) mx = fmax(mx, r[j]);
    for (int j = 0; j < V; j++) s += exp(r[j] - mx);
    for (int j = 0; j < V; j++) p[j] = exp(r[j] - mx) / s;
}

static void test_grow(const char *spec) {
    al_model *m = lm(spec);
    REQUIRE_OK(m ? AL_OK : AL_EINVAL);
    REQUIRE_OK(al_model_freeze(m, al_model_resolve_freeze(m, -1)));
    const int freeze = m->freeze;
    float x[4] = {3, 4, 5, 6};
    double p0[V0], p1[V0 + 2];
    probs(m, x, 3, p0, V0);
    al_model *cloud;
    REQUIRE_OK(al_model_clone(m, &cloud));
    const char *t = "the cat sat on the zork mat . the zork , blip blip blip zork flurb";
    int added;
    REQUIRE_OK(al_lm_learn_words(m, t, strlen(t), 2, 5, &added));
    CHECK(added == 2);
    CHECK(al_model_output_shape(m).shape[1] == V0 + 2 && m->nodes[0].cfg.vocab == V0 + 2 && m->freeze == freeze);
    CHECK(strstr(al_model_spec(m), "vocab=12") != NULL);
    CHECK(al_model_meta(m, "autlearn.new_words") && !strcmp(al_model_meta(m, "autlearn.new_words"), "2"));
    probs(m, x, 3, p1, V0 + 2);
    /* every cloud word keeps its probability; blip (3) and zork (3) and what
     * is left of <unk> (flurb: 1) share <unk>'s: 3/8, 3/8 and 2/8 of it */
    double worst = 0;
    for (int j = 1; j < V0; j++) worst = fmax(worst, fabs(p1[j] - p0[j]) / p0[j]);
    CHECK(worst < 1e-5);
    CHECK_NEAR(p1[0] + p1[V0] + p1[V0 + 1], p0[0], 1e-6 * (1 + p0[0]) + 1e-7);
    CHECK_NEAR(p1[V0] / p0[0], 3.0 / 8.0, 1e-4);
    CHECK_NEAR(p1[0] / p0[0], 2.0 / 8.0, 1e-4);
    /* the new rows start from <unk>'s */
    const al_node *e = &m->nodes[0], *o = &m->nodes[m->nnodes - 1];
    int D = e->cfg.units, H = o->params[0].dims[1];
    CHECK(!memcmp(e->params[0].w + (size_t)V0 * D, e->params[0].w, sizeof(float) * (size_t)D));
    CHECK(!memcmp(o->params[0].w + (size_t)(V0 + 1) * H, o->params[0].w, sizeof(float) * (size_t)H));
    /* and the cloud rows are the cloud's, bit for bit */
    CHECK(!memcmp(e->params[0].w, cloud->nodes[0].params[0].w, sizeof(float) * (size_t)V0 * D));
    /* the file round-trips: spec, vocabulary, weights */
    REQUIRE_OK(al_model_save(m, path("grown.gguf")));
    al_model *l;
    REQUIRE_OK(al_model_load(path("grown.gguf"), &l));
    CHECK(!strcmp(al_model_spec(l), al_model_spec(m)) && l->nweights == m->nweights);
    CHECK(!memcmp(l->wblock, m->wblock, sizeof(float) * m->nweights));
    CHECK(!strcmp(al_model_meta(l, "autlearn.vocab"), al_model_meta(m, "autlearn.vocab")));
    CHECK(strstr(al_model_meta(l, "autlearn.vocab"), "\nblip\nzork") != NULL);
    /* the personal model learns more of the same words: ids go on from 12 */
    int more;
    REQUIRE_OK(al_lm_learn_words(l, "quux quux", 9, 2, 5, &more));
    CHECK(more == 1 && al_model_output_shape(l).shape[1] == V0 + 3);
    al_model_free(l);
    /* int8 weights on the output layer cannot grow: refused, the model unchanged */
    int last = cloud->nnodes - 1, N = cloud->nodes[last].params[0].dims[0], K = cloud->nodes[last].params[0].dims[1];
    int8_t *q = calloc((size_t)N * K, 1);
    float *sc = malloc(sizeof(float) * (size_t)N);
    for (int i = 0; i < N; i++) sc[i] = 0.01f;
    REQUIRE_OK(al_model_freeze(cloud, cloud->nnodes));
    REQUIRE_OK(al_quant_install(cloud, last, q, sc));
    CHECK_STATUS(al_lm_learn_words(cloud, t, strlen(t), 2, 5, &added), AL_EUNSUPPORTED);
    CHECK(strstr(al_last_error(), "int8") != NULL && added == 0);
    CHECK(al_model_output_shape(cloud).shape[1] == V0);
    free(q);
    free(sc);
    al_model_free(cloud);
    al_model_free(m);
}

/* Personalization on a buffer: a phrase with a new word, typed often. */
static void test_personalize_text(void) {
    al_model *m = lm("tokens 4; embedding 8 vocab=10; lstm 16; dense 10");
    REQUIRE_OK(m ? AL_OK : AL_EINVAL);
    char text[8192] = "";
    for (int i = 0; i < 150; i++) strcat(text, i % 3 ? "the cat sat on the zork . " : "the zork sat on the mat . ");
    const char *test = "the cat sat on the zork . the zork sat on the mat .";
    al_pool *pool;
    REQUIRE_OK(al_pool_new(1, &pool));
    al_ids ti = {0}, tl = {0};
    al_lm_eval before, after;
    REQUIRE_OK(al_lm_encode(m, test, strlen(test), &ti, &tl));
    REQUIRE_OK(al_lm_evaluate_lens(m, pool, ti.v, tl.v, ti.n, NULL, &before));
    /* zork is a word target the cloud cannot suggest */
    CHECK(before.word_targets == 11 && before.word_top3 <= 9.0 / 11 + 1e-9);
    al_ids_free(&ti);
    al_ids_free(&tl);
    al_personalize_config pc;
    al_personalize_config_default(&pc);
    al_train_recipe_text(&pc.train, 4, 8, 0.03, 5);
    al_text_job j;
    al_text_job_default(&j);
    j.new_word_min_count = 3;
    al_cache *cache;
    REQUIRE_OK(al_cache_new(1 << 20, NULL, &cache));
    al_personalize_report r;
    /* new words off: a text of only unknown words is refused */
    al_text_job off;
    al_text_job_default(&off);
    CHECK_STATUS(al_lm_personalize_text(m, pool, "zork blip zork blip zork", 24, NULL, &pc, &off, &r), AL_EINVAL);
    CHECK(strstr(al_last_error(), "no word the model knows") != NULL);
    CHECK_STATUS(al_lm_personalize_text(m, pool, "bad \xff text", 10, NULL, &pc, &j, &r), AL_EFORMAT);
    REQUIRE_OK(al_lm_personalize_text(m, pool, text, strlen(text), cache, &pc, &j, &r));
    CHECK(r.new_words == 1 && r.train.steps > 0);
    CHECK(r.cache.hits > 0 && r.prefix_samples == 0); /* the predict pass filled the cache */
    REQUIRE_OK(al_lm_encode(m, test, strlen(test), &ti, &tl));
    CHECK(ti.v[5] == V0); /* zork */
    REQUIRE_OK(al_lm_evaluate_lens(m, pool, ti.v, tl.v, ti.n, NULL, &after));
    CHECK(after.word_targets == before.word_targets);
    CHECK(after.word_top3 > before.word_top3);
    CHECK(after.word_saved > before.word_saved);
    al_ids_free(&ti);
    al_ids_free(&tl);
    /* from a file, the same (a fresh model) */
    FILE *f = fopen(path("mine.txt"), "wb");
    REQUIRE_OK(f ? AL_OK : AL_EIO);
    fputs(text, f);
    fclose(f);
    al_model *m2 = lm("tokens 4; embedding 8 vocab=10; lstm 16; dense 10");
    al_personalize_report r2;
    REQUIRE_OK(al_lm_personalize_file(m2, pool, path("mine.txt"), NULL, &pc, &j, &r2));
    CHECK(r2.new_words == 1 && !memcmp(m2->wblock, m->wblock, sizeof(float) * m->nweights));
    CHECK_STATUS(al_lm_personalize_file(m2, pool, path("none.txt"), NULL, &pc, &j, &r2), AL_EIO);
    al_model_free(m2);
    al_cache_free(cache);
    al_model_free(m);
    al_pool_free(pool);
}

/* Out of memory at every allocation of a text job that grows the model. */
static al_status oom_cycle(const char *text) {
    al_model *m = NULL;
    al_cache *cache = NULL;
    al_status st;
    if ((st = al_model_load(path("cloud.gguf"), &m))) goto out;
    if ((st = al_cache_new(1 << 20, NULL, &cache))) goto out;
    al_personalize_config pc;
    al_personalize_config_default(&pc);
    al_train_recipe_text(&pc.train, 4, 2, 0.03, 5);
    al_text_job j;
    al_text_job_default(&j);
    j.new_word_min_count = 3;
    al_personalize_report r;
    if ((st = al_lm_personalize_text(m, NULL, text, strlen(text), cache, &pc, &j, &r))) goto out;
    if (r.new_words != 1) st = al_error(AL_EINVAL, "test: %d new words", r.new_words);
    else st = al_model_save(m, path("personal.gguf"));
out:
    al_cache_free(cache);
    al_model_free(m);
    return st;
}

static void test_oom(void) {
    al_model *m = lm("tokens 4; embedding 8 vocab=10; lstm 16; dense 10");
    REQUIRE_OK(al_model_save(m, path("cloud.gguf")));
    al_model_free(m);
    char text[4096] = "";
    for (int i = 0; i < 40; i++) strcat(text, "the cat sat on the zork . ");
    REQUIRE_OK(oom_cycle(text));
    al_alloc_fail_at(0);
    REQUIRE_OK(oom_cycle(text));
    long total = al_alloc_count();
    CHECK(total > 20);
    int bad = 0, enomem = 0;
    for (long k = 1; k <= total + 1; k++) {
        unlink(path("personal.gguf"));
        al_alloc_fail_at(k);
        al_status st = oom_cycle(text);
        al_alloc_fail_at(0);
        if (st == AL_ENOMEM) {
            enomem++;
            if (!strstr(al_last_error(), "memory")) {
                fprintf(stderr, "k=%ld: AL_ENOMEM with message '%s'\n", k, al_last_error());
                bad++;
            }
            if (access(path("personal.gguf"), F_OK) == 0) bad++;
        } else if (st != AL_OK) {
            fprintf(stderr, "k=%ld: %s (%s)\n", k, al_status_name(st), al_last_error());
            bad++;
        }
    }
    CHECK(bad == 0 && enomem > 10);
    unlink(path("personal.gguf"));
}

int main(void) {
    snprintf(dir, sizeof dir, "%s/test_newwords.XXXXXX", AL_BINARY_DIR);
    REQUIRE_OK(mkdtemp(dir) ? AL_OK : AL_EIO);
    test_check();
    test_learn();
    test_grow("tokens 4; embedding 8 vocab=10; lstm 16; dense 10");
    test_grow("tokens 4; embedding 8 vocab=10; lstm 16; dense 3 bias=0; dense 10"); /* a factored output layer */
    test_personalize_text();
    test_oom();
    unlink(path("grown.gguf"));
    unlink(path("cloud.gguf"));
    unlink(path("mine.txt"));
    rmdir(dir);
    TEST_END("test_newwords");
}
