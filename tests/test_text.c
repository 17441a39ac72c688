/* Text: the keyboard tokenizer, the vocabulary (and its place in the model
 * file), hostile corpora, TBPTT window layout, and the runtime cache of the
 * language model: training after a predict pass does no frozen-layer work
 * for cached windows and ends with the same weights as without the cache. */
#include "al_test.h"
#include "train/train.h"

#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    char tok[64][AL_TOK_MAXLEN];
    int n;
} toks;

static void collect(void *user, const char *t, size_t len) {
    toks *k = user;
    if (k->n < 64) {
        memcpy(k->tok[k->n], t, len);
        k->tok[k->n][len] = '\0';
    }
    k->n++;
}

static void expect_tokens(const char *text, const char *const *want, int nwant) {
    toks k = {0};
    al_text_tokenize(text, strlen(text), collect, &k);
    int same = k.n == nwant;
    for (int i = 0; same && i < nwant; i++) same = !strcmp(k.tok[i], want[i]);
    if (!same) {
        fprintf(stderr, "tokenize(\"%s\") gave %d tokens:", text, k.n);
        for (int i = 0; i < k.n && i < 64; i++) fprintf(stderr, " [%s]", k.tok[i]);
        fprintf(stderr, "\n");
    }
    CHECK(same);
}

static void test_tokenizer(void) {
    const char *a[] = {"mr", "speaker", ",", "we've", "created", "<num>", "jobs", "</s>", "the", "u.s", "economy",
                       "grew", "<num>", "%", "</s>"};
    expect_tokens("Mr. Speaker, we've created 1,000,000 jobs. [Applause] The U.S. economy grew 3.5%!", a, 15);
    /* typographic quotes and dashes fold to ASCII; a run of dashes is one token */
    const char *b[] = {"\"", "don't", "\"", "-", "he", "said", "-", "in", "<num>", "</s>"};
    expect_tokens("\xE2\x80\x9C" "Don\xE2\x80\x99t\xE2\x80\x9D -- he said \xE2\x80\x94 in the1990s...", b, 10);
    /* sentence ends collapse, no </s> before the first sentence; initials are not ends */
    const char *c[] = {"harry", "s", "truman", "</s>", "why", "</s>", "i", "</s>"};
    expect_tokens("?! Harry S. Truman. Why?!? I.", c, 8);
    /* NULs and control bytes are spaces; an overlong word is <unk> */
    char buf[200];
    memset(buf, 'x', sizeof buf);
    memcpy(buf, "ab\0cd ", 6);
    buf[199] = '\0';
    const char *d[] = {"ab", "cd", "<unk>"};
    toks k = {0};
    al_text_tokenize(buf, 199, collect, &k);
    CHECK(k.n == 3);
    for (int i = 0; i < 3 && i < k.n; i++) CHECK(!strcmp(k.tok[i], d[i]));
    /* an unclosed bracket is just punctuation */
    const char *e[] = {"[", "laughter"};
    expect_tokens("[Laughter", e, 2);
}

static void test_vocab(void) {
    al_vocab *v;
    REQUIRE_OK(al_vocab_new(&v));
    const char *text = "the cat. the dog. the cat sat. a bird";
    REQUIRE_OK(al_vocab_count_text(v, text, strlen(text)));
    REQUIRE_OK(al_vocab_finish(v, 3));
    CHECK(al_vocab_size(v) == AL_TOK_SPECIALS + 3);
    CHECK(!strcmp(al_vocab_word(v, 0), "<unk>") && !strcmp(al_vocab_word(v, 1), "</s>"));
    CHECK(!strcmp(al_vocab_word(v, 3), "the"));  /* 3 times */
    CHECK(!strcmp(al_vocab_word(v, 4), "cat"));  /* 2 times */
    CHECK(!strcmp(al_vocab_word(v, 5), "a"));    /* 1 time, first in byte order */
    CHECK(al_vocab_lookup(v, "bird", 4) == AL_TOK_UNK);
    CHECK(al_vocab_lookup(v, "cat", 3) == 4);
    CHECK(al_vocab_word(v, 6) == NULL && al_vocab_word(v, -1) == NULL);
    al_ids ids = {0};
    REQUIRE_OK(al_vocab_encode(v, "The cat, 42 birds.", 18, &ids));
    int32_t want[] = {3, 4, AL_TOK_UNK, AL_TOK_NUM, AL_TOK_UNK, AL_TOK_EOS};
    CHECK(ids.n == 6);
    for (int i = 0; i < 6 && i < ids.n; i++) CHECK(ids.v[i] == want[i]);
    al_ids_free(&ids);
    /* stored in the model file as metadata: a round trip is exact */
    char *s = al_vocab_serialize(v);
    REQUIRE_OK(s ? AL_OK : AL_ENOMEM);
    al_model *m, *m2;
    REQUIRE_OK(al_model_from_spec("tokens 4; embedding 2 vocab=6; lstm 3; dense 6", 1, &m));
    REQUIRE_OK(al_model_set_meta(m, "autlearn.vocab", s));
    char path[] = "/tmp/al_test_text_XXXXXX";
    int fd = mkstemp(path);
    REQUIRE_OK(fd >= 0 ? AL_OK : AL_EIO);
    close(fd);
    REQUIRE_OK(al_model_save(m, path));
    REQUIRE_OK(al_model_load(path, &m2));
    unlink(path);
    al_vocab *v2;
    REQUIRE_OK(al_vocab_parse(al_model_meta(m2, "autlearn.vocab"), &v2));
    CHECK(al_vocab_size(v2) == al_vocab_size(v));
    for (int i = 0; i < al_vocab_size(v); i++) CHECK(!strcmp(al_vocab_word(v, i), al_vocab_word(v2, i)));
    CHECK(al_vocab_lookup(v2, "cat", 3) == 4);
    al_vocab_free(v2);
    al_model_free(m);
    al_model_free(m2);
    al_free(s);
    /* hostile vocabularies */
    const char *bad[] = {"", "<unk>\n</s>", "the\n</s>\n<num>", "<unk>\n</s>\n<num>\nx\nx", "<unk>\n</s>\n<num>\n\nx",
                         "<unk>\n</s>\n<num>\na b", "<unk>\n</s>\n<num>\n\x01"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        al_vocab *h = NULL;
        CHECK_STATUS(al_vocab_parse(bad[i], &h), AL_EFORMAT);
        CHECK(h == NULL);
    }
    char longw[100] = "<unk>\n</s>\n<num>\n";
    memset(longw + strlen(longw), 'y', 60);
    CHECK_STATUS(al_vocab_parse(longw, &v2), AL_EFORMAT);
    CHECK_STATUS(al_vocab_count_text(v, "x", 1), AL_ESTATE);
    al_vocab_free(v);
}

static void test_windows(void) {
    int32_t ids[100];
    for (int i = 0; i < 100; i++) ids[i] = i;
    al_dataset *d;
    uint64_t *off;
    /* T=4, B=3: W = 99 / 12 = 8 windows per stream, streams of 32 tokens */
    REQUIRE_OK(al_text_windows(ids, 100, 4, 3, 100, &d, &off));
    CHECK(d->n == 24 && d->y_len == 4 && d->xs.d[0] == 4);
    for (int w = 0; w < 8; w++)
        for (int j = 0; j < 3; j++) {
            int s = w * 3 + j, p = j * 32 + w * 4;
            CHECK(off[s] == (uint64_t)p);
            for (int t = 0; t < 4; t++) {
                CHECK(d->x[s * 4 + t] == (float)(p + t));
                CHECK(d->y[s * 4 + t] == p + t + 1);
            }
        }
    al_dataset_free(d);
    al_free(off);
    CHECK_STATUS(al_text_windows(ids, 10, 4, 3, 100, &d, NULL), AL_EINVAL); /* too short */
    CHECK_STATUS(al_text_windows(ids, 100, 4, 3, 50, &d, NULL), AL_ERANGE); /* id outside the vocabulary */
}

static void write_file(const char *dir, const char *name, const char *text) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    if (!f) {
        fprintf(stderr, "cannot write %s\n", p);
        exit(1);
    }
    fputs(text, f);
    fclose(f);
}

static void test_corpus(void) {
    char dir[] = "/tmp/al_test_corpus_XXXXXX";
    REQUIRE_OK(mkdtemp(dir) ? AL_OK : AL_EIO);
    al_text_corpus c = {0};
    CHECK_STATUS(al_text_corpus_add_dir(&c, dir, AL_CORPUS_SOTU), AL_EFORMAT); /* empty */
    write_file(dir, "1999_bill_smith_d.txt", "Second address.");
    write_file(dir, "1990_bill_smith_d.txt", "First address.");
    write_file(dir, "2001_ann_lee_r.txt", "");
    write_file(dir, "notes.md", "ignored");
    REQUIRE_OK(al_text_corpus_add_dir(&c, dir, AL_CORPUS_SOTU));
    CHECK(c.n == 3);
    if (c.n == 3) {
        CHECK(c.docs[0].year == 1990 && !strcmp(c.docs[0].name, "bill_smith") && !strcmp(c.docs[0].text, "First address."));
        CHECK(c.docs[2].year == 2001 && !strcmp(c.docs[2].name, "ann_lee") && c.docs[2].len == 0);
    }
    al_text_corpus_free(&c);
    /* hostile names: no party, no year, odd characters */
    const char *bad[] = {"1999_smith.txt", "19x9_bill_smith_d.txt", "1999_Bill_smith_d.txt", "1999__d.txt",
                         "1999_bill_smith_.txt", "1999_bi;ll_smith_d.txt"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_file(dir, bad[i], "x");
        CHECK_STATUS(al_text_corpus_add_dir(&c, dir, AL_CORPUS_SOTU), AL_EFORMAT);
        CHECK(c.n == 0);
        char p[512];
        snprintf(p, sizeof p, "%s/%s", dir, bad[i]);
        unlink(p);
    }
    /* a directory named like a text file is not read */
    char sub[512];
    snprintf(sub, sizeof sub, "%s/2002_x_y_d.txt", dir);
    mkdir(sub, 0700);
    CHECK_STATUS(al_text_corpus_add_dir(&c, dir, AL_CORPUS_SOTU), AL_EIO);
    rmdir(sub);
    /* mail: the header is skipped */
    char mdir[] = "/tmp/al_test_mail_XXXXXX";
    REQUIRE_OK(mkdtemp(mdir) ? AL_OK : AL_EIO);
    write_file(mdir, "1.txt", "From: a@b\nSubject: hi\n\nHello there.\n");
    write_file(mdir, "2.txt", "no body at all");
    REQUIRE_OK(al_text_corpus_add_dir(&c, mdir, AL_CORPUS_MAIL));
    CHECK(c.n == 2 && !strcmp(c.docs[0].text, "Hello there.\n") && c.docs[1].len == 0);
    al_text_corpus_free(&c);
    CHECK_STATUS(al_text_corpus_add_dir(&c, "/nonexistent/dir", AL_CORPUS_PLAIN), AL_EIO);
    char p[512];
    snprintf(p, sizeof p, "%s/1.txt", mdir), unlink(p);
    snprintf(p, sizeof p, "%s/2.txt", mdir), unlink(p);
    rmdir(mdir);
    const char *names[] = {"1999_bill_smith_d.txt", "1990_bill_smith_d.txt", "2001_ann_lee_r.txt", "notes.md"};
    for (int i = 0; i < 4; i++) snprintf(p, sizeof p, "%s/%s", dir, names[i]), unlink(p);
    rmdir(dir);
}

/* A stream with structure: a few repeating phrases, so training moves weights. */
static void make_stream(int32_t *ids, long n, int V) {
    al_rng r;
    al_rng_seed(&r, 7, 1);
    long i = 0;
    while (i < n) {
        int phrase = (int)al_rng_below(&r, 4);
        for (int k = 0; k < 5 && i < n; k++) ids[i++] = (phrase * 5 + k) % (V - 3) + 3;
        if (i < n) ids[i++] = AL_TOK_EOS;
    }
}

static void cache_case(int freeze) {
    const int V = 23;
    const long n = 1200;
    int32_t ids[1200];
    make_stream(ids, n, V);
    al_pool *pool;
    REQUIRE_OK(al_pool_new(2, &pool));
    al_model *base, *a, *b;
    REQUIRE_OK(al_model_from_spec("tokens 6; embedding 5 vocab=23; lstm 7; dense 23", 3, &base));
    REQUIRE_OK(al_model_clone(base, &a));
    REQUIRE_OK(al_model_clone(base, &b));
    al_personalize_config pc;
    al_personalize_config_default(&pc);
    pc.train.epochs = 3;
    pc.train.batch = 4;
    pc.train.lr = 0.05;
    pc.freeze = freeze;
    /* a: the keyboard's predict pass fills the cache, then training */
    al_cache *c;
    REQUIRE_OK(al_cache_new((size_t)64 << 20, NULL, &c));
    REQUIRE_OK(al_model_freeze(a, freeze));
    REQUIRE_OK(al_lm_predict_stream(a, pool, ids, n, c));
    al_cache_stats cs;
    al_cache_get_stats(c, &cs);
    long windows = (n - 1) / 6; /* windows the predict pass stores */
    CHECK(cs.entries_mem == (uint64_t)windows);
    al_personalize_report ra, rb;
    REQUIRE_OK(al_lm_personalize(a, pool, ids, n, c, &pc, &ra));
    /* b: no cache at all */
    REQUIRE_OK(al_lm_personalize(b, pool, ids, n, NULL, &pc, &rb));
    CHECK(ra.prefix_samples == 0);
    CHECK(rb.prefix_samples > 0);
    /* no cache: the LSTM prefix is recomputed by one pass over the stream per epoch */
    CHECK(freeze != 2 || rb.prefix_samples == 3 * (uint64_t)windows);
    CHECK(ra.suffix_samples == rb.suffix_samples && ra.suffix_samples > 0);
    CHECK(ra.cache.hits == ra.suffix_samples);
    CHECK(freeze == 1 ? ra.macs == rb.macs : ra.macs < rb.macs); /* an embedding costs no MACs */
    CHECK(a->nweights == b->nweights && memcmp(a->wblock, b->wblock, sizeof(float) * a->nweights) == 0);
    CHECK(memcmp(a->wblock, base->wblock, sizeof(float) * a->nweights) != 0); /* it trained */
    /* the frozen embedding did not move */
    CHECK(memcmp(a->nodes[0].params[0].w, base->nodes[0].params[0].w, sizeof(float) * base->nodes[0].params[0].n) == 0);
    /* evaluation: sane numbers, and the trained model beats the untrained one */
    al_lm_eval e0, e1;
    REQUIRE_OK(al_lm_evaluate(base, pool, ids, 600, NULL, &e0));
    REQUIRE_OK(al_lm_evaluate(a, pool, ids, 600, NULL, &e1));
    CHECK(e1.tokens == 599 && e1.top1 <= e1.top3 && e1.top3 <= 1.0 && isfinite(e1.ppl) && e1.ppl >= 1.0);
    CHECK(e1.loss < e0.loss);
    al_cache_free(c);
    al_model_free(base);
    al_model_free(a);
    al_model_free(b);
    al_pool_free(pool);
}

/* TBPTT with the state carried from window to window. Stream: blocks
 * "X a Y" where X (one of two) decides Y; with windows of 4 tokens, half
 * the blocks straddle a window boundary, so Y is predictable there only
 * through the carried state. Per block: a after X is certain, the next X a
 * coin flip; top-1 is 2.5/3 = 0.83 with the carried state, 2.25/3 = 0.75
 * when the state restarted at every window, 2/3 with no memory at all. */
static void test_tbptt(const char *spec) {
    const int V = 8;
    static int32_t ids[9000];
    al_rng r;
    al_rng_seed(&r, 11, 2);
    for (int b = 0; b < 3000; b++) {
        int k = (int)al_rng_below(&r, 2);
        ids[b * 3] = 3 + k;
        ids[b * 3 + 1] = 5;
        ids[b * 3 + 2] = 6 + k;
    }
    al_pool *pool;
    REQUIRE_OK(al_pool_new(2, &pool));
    al_model *m;
    REQUIRE_OK(al_model_from_spec(spec, 5, &m));
    al_dataset *d;
    REQUIRE_OK(al_text_windows(ids, 9000, 4, 8, V, &d, NULL));
    al_train_config tc;
    al_train_config_default(&tc);
    tc.optim = AL_OPT_ADAM;
    tc.lr = 0.01;
    tc.batch = 8;
    tc.epochs = 6;
    tc.clip_norm = 1.0;
    al_train_report tr;
    REQUIRE_OK(al_lm_train(m, pool, d, &tc, &tr));
    al_lm_eval e;
    REQUIRE_OK(al_lm_evaluate(m, pool, ids, 9000, NULL, &e));
    fprintf(stderr, "tbptt (%s): top-1 %.4f, loss %.4f\n", spec, e.top1, e.loss);
    CHECK(e.top1 > 0.8);
    CHECK_STATUS(al_lm_train(m, pool, d, &(al_train_config){.batch = 7, .lr = 0.1, .epochs = 1}, &tr), AL_EINVAL);
    al_dataset_free(d);
    al_model_free(m);
    al_pool_free(pool);
}

int main(void) {
    test_tokenizer();
    test_vocab();
    test_windows();
    test_corpus();
    cache_case(2); /* output layer only: the cache holds the LSTM outputs of the typed stream */
    cache_case(1); /* LSTM + output: the cache holds embeddings; TBPTT over 4 streams */
    test_tbptt("tokens 4; embedding 8 vocab=8; lstm 16; dense 8");
    test_tbptt("tokens 4; embedding 8 vocab=8; gru 16; dense 8"); /* the GRU carries h alike */
    TEST_END("test_text");
}
