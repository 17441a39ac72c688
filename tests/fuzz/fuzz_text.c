/* libFuzzer target for the text side (src/data/text.c): the corpus reader,
 * the keyboard tokenizer, the vocabulary and its file form (the model
 * metadata autlearn.vocab, which arrives inside model files), and the TBPTT
 * windows.
 *
 * Input layout: byte 0 picks the corpus kind (SOTU, plain, mail), byte 1 is
 * a length L <= 64, the next L bytes name the file (a '/' or NUL becomes
 * '_'; ".txt" is appended), the rest is the file's content. The file is
 * written to a private temporary directory and read with
 * al_text_corpus_add_dir. Independently the content is parsed as a
 * vocabulary. What must hold: any status with a message; a corpus that
 * loads gives a vocabulary that serializes and parses back to the same
 * words, ids in range, and windows that fit. The content is also a user's
 * text (personalize --text): al_text_check accepts it or says why; when it
 * passes, its new words (at least twice, at most 8) grow a tiny language
 * model whose vocabulary, shapes and encoded ids agree.
 * Build and run: scripts/fuzz.sh (CMake -DAL_FUZZ=ON, clang). */
#include "fuzz_common.h"
#include "train/train.h"

#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A vocabulary from the corpus and everything that must hold of it. */
static void vocab_roundtrip(const al_text_corpus *c) {
    al_vocab *v = NULL, *v2 = NULL;
    al_ids ids = {0};
    char *ser = NULL;
    al_status st = al_vocab_new(&v);
    fuzz_check_status(st);
    if (st) return;
    for (int i = 0; i < c->n && !st; i++) st = al_vocab_count_text(v, c->docs[i].text, c->docs[i].len);
    if (!st) st = al_vocab_finish(v, 40);
    fuzz_check_status(st);
    if (st) goto out;
    int nv = al_vocab_size(v);
    FUZZ_ASSERT(nv >= AL_TOK_SPECIALS && nv <= 40 + AL_TOK_SPECIALS);
    ser = al_vocab_serialize(v);
    if (!ser) goto out;
    st = al_vocab_parse(ser, &v2);
    fuzz_check_status(st);
    if (st == AL_OK) {
        FUZZ_ASSERT(al_vocab_size(v2) == nv);
        for (int i = 0; i < nv; i++) {
            FUZZ_ASSERT(strcmp(al_vocab_word(v, i), al_vocab_word(v2, i)) == 0);
            FUZZ_ASSERT(al_vocab_lookup(v2, al_vocab_word(v, i), strlen(al_vocab_word(v, i))) == i);
        }
    } else {
        FUZZ_ASSERT(st == AL_ENOMEM); /* what serialize writes, parse reads */
    }
    for (int i = 0; i < c->n && !st; i++) st = al_vocab_encode(v, c->docs[i].text, c->docs[i].len, &ids);
    fuzz_check_status(st);
    if (st) goto out;
    for (long i = 0; i < ids.n; i++) FUZZ_ASSERT(ids.v[i] >= 0 && ids.v[i] < nv);
    if (ids.n > 1) {
        al_dataset *d = NULL;
        uint64_t *off = NULL;
        st = al_text_windows(ids.v, ids.n, 4, 2, nv, &d, &off);
        fuzz_check_status(st);
        if (!st) {
            int n = al_dataset_size(d);
            FUZZ_ASSERT(n >= 2 && n % 2 == 0 && (long)n * 4 < ids.n && al_dataset_y_len(d) == 4);
            for (int i = 0; i < n; i++) FUZZ_ASSERT(off[i] + 4 < (uint64_t)ids.n);
        }
        al_dataset_free(d);
        al_free(off);
    }
out:
    al_free(ser);
    al_ids_free(&ids);
    al_vocab_free(v);
    al_vocab_free(v2);
}

/* The user's-text path: the check, new words, the grown model. */
static void user_text(const char *s, size_t n) {
    al_status st = al_text_check(s, n, "fuzz");
    fuzz_check_status(st);
    if (st) return;
    al_model *m = NULL;
    st = al_model_from_spec("tokens 4; embedding 2 vocab=6; lstm 2; dense 6", 1, &m);
    if (!st) st = al_model_set_meta(m, "autlearn.vocab", "<unk>\n</s>\n<num>\nthe\n.\n,");
    fuzz_check_status(st);
    if (st) {
        al_model_free(m);
        return;
    }
    int added = 0;
    st = al_lm_learn_words(m, s, n, 2, 8, &added);
    fuzz_check_status(st);
    if (st == AL_OK) {
        FUZZ_ASSERT(added >= 0 && added <= 8);
        FUZZ_ASSERT(al_model_output_shape(m).shape[1] == 6 + added);
        al_ids ids = {0}, lens = {0};
        st = al_lm_encode(m, s, n, &ids, &lens);
        fuzz_check_status(st);
        if (!st) {
            FUZZ_ASSERT(ids.n == lens.n);
            for (long i = 0; i < ids.n; i++) FUZZ_ASSERT(ids.v[i] >= 0 && ids.v[i] < 6 + added && lens.v[i] >= 0);
        }
        al_ids_free(&ids);
        al_ids_free(&lens);
    }
    al_model_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_begin();
    const char *dir = fuzz_scratch_dir();
    if (size < 2 || size > (1 << 20)) return 0;
    int kind = data[0] % 3;
    size_t l = AL_MIN((size_t)data[1], (size_t)64);
    if (l > size - 2) l = size - 2;
    char name[80];
    for (size_t i = 0; i < l; i++) name[i] = (data[2 + i] == '/' || data[2 + i] == 0) ? '_' : (char)data[2 + i];
    memcpy(name + l, ".txt", 5);
    const uint8_t *body = data + 2 + l;
    size_t n = size - 2 - l;

    /* the content as a vocabulary file (a NUL ends it, as in metadata) */
    char *s = malloc(n + 1);
    FUZZ_ASSERT(s);
    memcpy(s, body, n);
    s[n] = '\0';
    user_text(s, n);
    al_vocab *pv = NULL;
    al_status st = al_vocab_parse(s, &pv);
    fuzz_check_status(st);
    FUZZ_ASSERT(st == AL_OK ? pv != NULL : pv == NULL);
    if (pv) {
        FUZZ_ASSERT(al_vocab_size(pv) >= AL_TOK_SPECIALS);
        al_ids ids = {0};
        fuzz_check_status(al_vocab_encode(pv, s, n, &ids));
        for (long i = 0; i < ids.n; i++) FUZZ_ASSERT(ids.v[i] >= 0 && ids.v[i] < al_vocab_size(pv));
        al_ids_free(&ids);
        al_vocab_free(pv);
    }
    free(s);

    /* the content as a corpus file */
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (!fuzz_write_file(path, body, n)) return 0; /* a name the file system refuses ("..", too long) */
    fuzz_begin();
    al_text_corpus c = {0};
    st = al_text_corpus_add_dir(&c, dir, kind);
    fuzz_check_status(st);
    if (st == AL_OK) {
        FUZZ_ASSERT(c.n == 1 && c.docs[0].len <= n && c.docs[0].text[c.docs[0].len] == '\0' && c.docs[0].name);
        vocab_roundtrip(&c);
    } else {
        FUZZ_ASSERT(c.n == 0 && c.docs == NULL);
    }
    al_text_corpus_free(&c);
    unlink(path);
    return 0;
}
