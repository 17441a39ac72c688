/* The data level (src/data): datasets, IDX files, and text for the
 * keyboard: the tokenizer, the vocabulary, token streams, corpora and the
 * windows of truncated BPTT. Calls only core. */
#ifndef AL_DATA_H
#define AL_DATA_H

#include "core/core.h"

/* ---- datasets (src/data) ------------------------------------------------------ */

struct al_dataset {
    int n;
    al_shape xs;       /* per-sample input shape */
    int y_len;
    int num_classes;
    float *x;          /* n * numel(xs) */
    int32_t *y;        /* n * y_len */
};
/* A dataset with uninitialised x and y (al_malloc'd separately; freed by
 * al_dataset_free) for loaders to fill. Validates and caps the sizes. */
al_status al_dataset_alloc(int n, const al_shape *xs, int y_len, int num_classes, al_dataset **out);

/* ---- images (src/data/image.c, image_folder.c) ------------------------------------ */

/* The EXIF orientation (1..8) in an APP1 payload starting "Exif\0\0";
 * 1 when absent or malformed. Bounds-checked against len. */
int al_exif_orientation(const uint8_t *p, size_t len);

/* ---- text (src/data/text.c) ------------------------------------------------------ */
/* Ids of the special tokens; words follow from AL_TOK_SPECIALS on. */
#define AL_TOK_UNK 0      /* "<unk>": a word outside the vocabulary */
#define AL_TOK_EOS 1      /* "</s>": the end of a sentence (. ! ?) */
#define AL_TOK_NUM 2      /* "<num>": any token with a digit in it */
#define AL_TOK_SPECIALS 3
#define AL_TOK_MAXLEN 48  /* longer tokens become "<unk>" */

/* ---- tokenizer ------------------------------------------------------------------ */

/* Called once per token; tok holds len bytes (not NUL-terminated, len <
 * AL_TOK_MAXLEN) and is only valid during the call. */
typedef void (*al_token_fn)(void *user, const char *tok, size_t len);
/* Splits n bytes of text (any bytes; NULs are whitespace) into tokens. */
void al_text_tokenize(const char *s, size_t n, al_token_fn fn, void *user);

/* ---- vocabulary -------------------------------------------------------------------- */

typedef struct al_vocab al_vocab;
/* An empty vocabulary holding only the specials, in counting mode. */
al_status al_vocab_new(al_vocab **out);
void al_vocab_free(al_vocab *v);
/* Counting mode: tokenizes the text and counts every token. */
al_status al_vocab_count_text(al_vocab *v, const char *s, size_t n);
/* Keeps the specials and the max_words most frequent tokens (ties: byte
 * order), ending counting mode. */
al_status al_vocab_finish(al_vocab *v, int max_words);
int al_vocab_size(const al_vocab *v);
const char *al_vocab_word(const al_vocab *v, int id);     /* NULL when out of range */
int al_vocab_lookup(const al_vocab *v, const char *w, size_t len); /* AL_TOK_UNK when absent */
/* The words joined by '\n' in id order (al_malloc'd): the model metadata
 * value autlearn.vocab. */
char *al_vocab_serialize(const al_vocab *v);
/* Parses autlearn.vocab; checks the specials, no empty, overlong or
 * duplicate words, at most 2^24 words. */
al_status al_vocab_parse(const char *s, al_vocab **out);

/* A growable array of token ids. */
typedef struct al_ids {
    int32_t *v;
    long n, cap;
} al_ids;
void al_ids_free(al_ids *a);
al_status al_ids_push(al_ids *a, int32_t id);
/* Tokenizes and appends the ids of the text (unknown words: AL_TOK_UNK). */
al_status al_vocab_encode(const al_vocab *v, const char *s, size_t n, al_ids *out);

/* ---- the user's own text (docs/TEXT.md, "The user's own text") -------------------- */

/* 1 when a token counts as a word (keystrokes, new words): it starts with a
 * letter or apostrophe, or is "<unk>" (a token too long to keep). */
int al_token_is_word(const char *tok, size_t len);
/* Appends a word to a finished vocabulary (id: the old size); AL_EINVAL
 * when it is there already or is not a valid word. */
al_status al_vocab_add(al_vocab *v, const char *w, size_t n);
/* New words: the word tokens of the text that v lacks and that occur at
 * least min_count times, at most max_new of them, most frequent first
 * (ties: byte order), appended to v. *added receives their number;
 * counts (optional, al_malloc'd, *added entries) their occurrences; unk
 * (optional) how many tokens of the text v mapped to <unk> before. */
al_status al_vocab_learn(al_vocab *v, const char *s, size_t n, int min_count, int max_new, int *added,
                         uint64_t **counts, uint64_t *unk);
/* al_vocab_encode, and per token its length in bytes when it is a word
 * (al_token_is_word; an overlong token counts AL_TOK_MAXLEN), else 0. */
al_status al_vocab_encode_lens(const al_vocab *v, const char *s, size_t n, al_ids *out, al_ids *lens);
/* Checks a user's text: not empty, valid UTF-8 (no overlong forms, no
 * surrogates), no NUL byte and at most 1% (+8) other control bytes; the
 * error names `name`. */
al_status al_text_check(const char *s, size_t n, const char *name);

/* ---- corpora --------------------------------------------------------------------- */

typedef struct al_text_doc {
    int year;        /* State of the Union: the year in the file name; else 0 */
    char *name;      /* "barack_obama" (SOTU) or the file name without .txt */
    char *text;      /* NUL-terminated, len bytes */
    size_t len;
} al_text_doc;

typedef struct al_text_corpus {
    int n;
    al_text_doc *docs;
} al_text_corpus;

enum { AL_CORPUS_SOTU = 0, AL_CORPUS_PLAIN = 1, AL_CORPUS_MAIL = 2 };
/* Reads every regular *.txt file of `dir` (not recursive), sorted by name.
 * AL_CORPUS_SOTU: names must be YYYY_first_last_party.txt (a State of the
 * Union address: year, president, party suffix), sorted by year, name.
 * AL_CORPUS_MAIL: e-mail messages; the header (up to the first empty line)
 * is skipped. Files over 64 MiB, more than 100,000 files or 1 GiB in all
 * are errors. Appends to *c (which may hold documents already). */
al_status al_text_corpus_add_dir(al_text_corpus *c, const char *dir, int kind);
void al_text_corpus_free(al_text_corpus *c);

/* ---- windows for truncated BPTT ---------------------------------------------------- */

/* Cuts a token stream into B parallel streams of W windows of T tokens each
 * and lays them out so that consecutive batches of B samples continue each
 * stream: sample w*B + j is window w of stream j, whose input is
 * ids[s + w*T .. +T) and target ids[s + w*T + 1 .. +T), s = j*W*T (the
 * stream length is a multiple of T, so every window starts at a multiple of
 * T). W = floor((n-1) / (B*T)); at least one window is needed. offsets (if
 * not NULL, al_malloc'd) receive each sample's start position in the
 * stream: a window's cache id. */
al_status al_text_windows(const int32_t *ids, long n, int T, int B, int vocab, al_dataset **out,
                          uint64_t **offsets);

#endif /* AL_DATA_H */
