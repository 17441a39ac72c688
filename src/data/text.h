/* Text for the input-method scenario (internal): the keyboard tokenizer, the
 * vocabulary, corpora of text files, and token streams cut into training
 * windows for truncated back-propagation through time. docs/TEXT.md
 * describes the tokenizer and the vocabulary file format. */
#ifndef AL_TEXT_H
#define AL_TEXT_H

#include "al_internal.h"

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

/* ---- language models: training, the keyboard's predict pass, evaluation ------------
 * (src/train/lm.c). A model here is a 'tokens T' model whose output is T rows
 * of vocabulary logits: embedding -> LSTM -> dense (the reference LM). */

/* Truncated BPTT over a dataset laid out by al_text_windows with cfg->batch
 * streams: no shuffling, the LSTM state carried from batch to batch and
 * reset at the start of every epoch. */
al_status al_lm_train(al_model *m, al_pool *pool, const al_dataset *d, const al_train_config *cfg,
                      al_train_report *r);

typedef struct al_lm_eval {
    double top1, top3;  /* next-token accuracy; an <unk> target is a miss */
    double loss, ppl;   /* mean cross-entropy (nats) over all targets, exp of it */
    double saved;       /* keystroke savings: see docs/TEXT.md */
    long tokens;
} al_lm_eval;
/* Next-token prediction over one stream of n ids read as typed: windows of T
 * tokens in order, the state carried from the first (zero) to the last. */
al_status al_lm_evaluate(al_model *m, al_pool *pool, const int32_t *ids, long n, const al_vocab *v, al_lm_eval *r);

/* The keyboard's predict pass over one stream as typed (windows of T in order,
 * state carried): the suggestions are computed and the frozen prefix's output
 * of each window is stored in the cache under the window's start offset. */
al_status al_lm_predict_stream(al_model *m, al_pool *pool, const int32_t *ids, long n, al_cache *c);

/* Personalization of a language model on the device: the user's stream of n
 * ids, windows keyed by offset. A prefix holding the LSTM (freeze point at
 * the output layer) takes its features from the cache, which a predict pass
 * filled; windows it lacks are computed by one pass over the stream (counted
 * in prefix_samples). With the LSTM trainable, training is TBPTT over
 * c->train.batch streams. cache may be NULL: no runtime cache, so a prefix
 * holding the LSTM is recomputed at every epoch by one pass over the stream
 * with its state carried, into a private buffer of the windows' features
 * (the same weights as with a cache; prefix_samples counts every pass, the
 * report's cache statistics are that buffer's). */
al_status al_lm_personalize(al_model *m, al_pool *pool, const int32_t *ids, long n, al_cache *cache,
                            const al_personalize_config *c, al_personalize_report *r);
/* The memory plan of al_lm_personalize over a stream of n ids (the
 * al_personalize_plan_memory of the text path; nothing is allocated). With
 * c->mem_budget_bytes > 0, al_lm_personalize trains within it: the cache
 * bound shrinks first, but with the LSTM in the frozen prefix never below
 * the stream pass's windows (their features carry the state of the whole
 * stream before them and cannot be recomputed exactly) unless the cache has
 * a spill file; then the batch halves (with the LSTM trained: fewer
 * streams); else AL_EBUDGET before anything is allocated. The caller's
 * stream is not counted (`dataset`); the windows cut from it are (staging). */
al_status al_lm_plan_memory(const al_model *m, const al_pool *pool, long n, const al_cache *cache,
                            const al_personalize_config *c, al_mem_plan *out);

#endif /* AL_TEXT_H */
