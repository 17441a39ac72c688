/* The keyboard tokenizer, the vocabulary, text corpora and TBPTT windows
 * (data.h; the rules are in docs/TEXT.md). Everything read from files is
 * bounded: file sizes, file counts, token lengths, vocabulary sizes. */

#include "data/data.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- tokenizer ------------------------------------------------------------------ */

static int is_letter(unsigned char ch) { return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch >= 0x80; }
static int is_digit(unsigned char ch) { return ch >= '0' && ch <= '9'; }

/* Typographic UTF-8 punctuation folded to ASCII: ' " -. Returns the byte
 * count consumed (3) and the ASCII character, or 0. */
static int fold_utf8(const unsigned char *p, size_t left, char *out) {
    if (left < 3 || p[0] != 0xE2 || p[1] != 0x80) return 0;
    switch (p[2]) {
    case 0x98:
    case 0x99: *out = '\''; return 3;
    case 0x9C:
    case 0x9D: *out = '"'; return 3;
    case 0x93:
    case 0x94: *out = '-'; return 3;
    case 0xA6: *out = '.'; return 3; /* ellipsis */
    default: return 0;
    }
}

/* Words after which a period does not end the sentence. */
static int is_abbrev(const char *w, size_t n) {
    static const char *const ab[] = {"mr", "mrs", "ms", "dr", "st", "jr", "sr", "gen", "gov", "sen", "rep", "hon",
                                     "messrs", "vs", "etc", "inc", "co", "ltd", "no", "lt", "col", "capt", "prof",
                                     "u.s", "e.g", "i.e", "a.m", "p.m"};
    if (n == 1) return w[0] != 'i' && w[0] != 'a'; /* initials: "Harry S. Truman" */
    for (size_t i = 0; i < sizeof ab / sizeof ab[0]; i++)
        if (strlen(ab[i]) == n && memcmp(ab[i], w, n) == 0) return 1;
    /* any dotted acronym such as "u.s.a" */
    return n >= 3 && w[1] == '.';
}

typedef struct {
    al_token_fn fn;
    void *user;
    char buf[AL_TOK_MAXLEN];
    size_t len;
    int too_long, has_digit;
    int last_eos;     /* the last token emitted was </s> (collapse runs) */
    char last_word[AL_TOK_MAXLEN];
    size_t last_word_len;
} tok_state;

static void emit(tok_state *t, const char *s, size_t n) {
    t->fn(t->user, s, n);
    t->last_eos = n == 4 && memcmp(s, "</s>", 4) == 0;
}

static void flush_word(tok_state *t) {
    if (!t->len && !t->too_long) return;
    if (t->too_long)
        emit(t, "<unk>", 5);
    else if (t->has_digit)
        emit(t, "<num>", 5);
    else
        emit(t, t->buf, t->len);
    t->last_word_len = t->too_long ? 0 : t->len;
    if (!t->too_long) memcpy(t->last_word, t->buf, t->len);
    t->len = 0;
    t->too_long = t->has_digit = 0;
}

static void add_char(tok_state *t, char ch) {
    if (t->len + 1 >= AL_TOK_MAXLEN) {
        t->too_long = 1;
        return;
    }
    t->buf[t->len++] = ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
}

void al_text_tokenize(const char *s, size_t n, al_token_fn fn, void *user) {
    tok_state t;
    memset(&t, 0, sizeof t);
    t.fn = fn;
    t.user = user;
    t.last_eos = 1; /* no </s> before the first sentence */
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    int after_word = 0; /* the previous token was a word (for abbreviations) */
    while (i < n) {
        unsigned char ch = p[i];
        char f;
        int k = ch == 0xE2 ? fold_utf8(p + i, n - i, &f) : 0;
        if (k) ch = (unsigned char)f;
        else k = 1;
        int in_word = t.len > 0 || t.too_long;
        if (is_letter(ch) || is_digit(ch)) {
            if (!in_word) after_word = 0;
            add_char(&t, (char)ch);
            if (is_digit(ch)) t.has_digit = 1;
            i += (size_t)k;
            continue;
        }
        if (in_word && i + (size_t)k < n) {
            unsigned char nx = p[i + (size_t)k];
            /* inside a word: don't, o'clock; 1,000 and 3.5; u.s.a */
            if (ch == '\'' && is_letter(nx) && !t.has_digit) {
                add_char(&t, '\'');
                i += (size_t)k;
                continue;
            }
            if ((ch == ',' || ch == '.') && t.has_digit && is_digit(nx)) {
                add_char(&t, (char)ch);
                i += (size_t)k;
                continue;
            }
            if (ch == '.' && is_letter(nx) && !t.has_digit &&
                (t.len == 1 || (t.len >= 3 && t.buf[t.len - 2] == '.'))) {
                add_char(&t, '.');
                i += (size_t)k;
                continue;
            }
        }
        if (in_word) {
            flush_word(&t);
            after_word = 1;
        }
        if (ch == '[') {
            /* transcript notes such as [Laughter]: not typed by anyone */
            size_t j = i + 1;
            while (j < n && j - i < 64 && p[j] != ']' && p[j] != '[') j++;
            if (j < n && p[j] == ']') {
                i = j + 1;
                continue;
            }
        }
        if (ch == '.' || ch == '!' || ch == '?') {
            int abbrev = ch == '.' && after_word && is_abbrev(t.last_word, t.last_word_len);
            if (!abbrev && !t.last_eos) emit(&t, "</s>", 4);
            after_word = 0;
            i += (size_t)k;
            continue;
        }
        after_word = 0;
        if (ch <= ' ' || ch == 0x7f) {
            i += (size_t)k;
            continue;
        }
        if (ch == '-') {
            /* a run of dashes, ASCII or typographic, is one token */
            i += (size_t)k;
            for (;;) {
                char f2;
                int k2;
                if (i < n && p[i] == '-')
                    i++;
                else if (i < n && p[i] == 0xE2 && (k2 = fold_utf8(p + i, n - i, &f2)) != 0 && f2 == '-')
                    i += (size_t)k2;
                else
                    break;
            }
            emit(&t, "-", 1);
            continue;
        }
        char c1 = (char)ch;
        emit(&t, &c1, 1);
        i += (size_t)k;
    }
    flush_word(&t);
}

/* ---- vocabulary -------------------------------------------------------------------- */

typedef struct {
    char *w;     /* NULL: empty slot */
    uint32_t len;
    int32_t id;  /* counting mode: unused */
    uint64_t count;
} vslot;

struct al_vocab {
    vslot *tab;
    size_t cap, used;
    char **words; /* id -> word (after finish / parse) */
    int nwords;
    int wcap;     /* entries of words (al_vocab_add grows it); 0: nwords */
    int counting;
    al_status err; /* first failure while counting */
};

static const char *const specials[AL_TOK_SPECIALS] = {"<unk>", "</s>", "<num>"};

static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

static vslot *vfind(const al_vocab *v, const char *w, size_t n) {
    if (!v->cap) return NULL;
    size_t mask = v->cap - 1;
    for (size_t i = hash_bytes(w, n) & mask;; i = (i + 1) & mask) {
        vslot *s = &v->tab[i];
        if (!s->w || (s->len == n && memcmp(s->w, w, n) == 0)) return s;
    }
}

static al_status vgrow(al_vocab *v) {
    size_t ncap = v->cap ? v->cap * 2 : 1024;
    vslot *nt = al_calloc(ncap, sizeof *nt);
    if (!nt) return AL_ENOMEM;
    vslot *old = v->tab;
    size_t ocap = v->cap;
    v->tab = nt;
    v->cap = ncap;
    for (size_t i = 0; i < ocap; i++)
        if (old[i].w) *vfind(v, old[i].w, old[i].len) = old[i];
    al_free(old);
    return AL_OK;
}

/* The slot of w, inserted (count 0, id -1) when absent; NULL on no memory. */
static vslot *vinsert(al_vocab *v, const char *w, size_t n) {
    if ((v->used + 1) * 2 > v->cap && vgrow(v) != AL_OK) return NULL;
    vslot *s = vfind(v, w, n);
    if (s->w) return s;
    char *c = al_malloc(n + 1);
    if (!c) return NULL;
    memcpy(c, w, n);
    c[n] = '\0';
    s->w = c;
    s->len = (uint32_t)n;
    s->id = -1;
    s->count = 0;
    v->used++;
    return s;
}

void al_vocab_free(al_vocab *v) {
    if (!v) return;
    for (size_t i = 0; i < v->cap; i++) al_free(v->tab[i].w);
    al_free(v->tab);
    al_free(v->words);
    al_free(v);
}

al_status al_vocab_new(al_vocab **out) {
    if (!out) return al_error(AL_EINVAL, "al_vocab_new: out is NULL");
    *out = NULL;
    al_vocab *v = al_calloc(1, sizeof *v);
    if (!v) return AL_ENOMEM;
    v->counting = 1;
    for (int i = 0; i < AL_TOK_SPECIALS; i++)
        if (!vinsert(v, specials[i], strlen(specials[i]))) {
            al_vocab_free(v);
            return AL_ENOMEM;
        }
    *out = v;
    return AL_OK;
}

static void count_tok(void *user, const char *tok, size_t len) {
    al_vocab *v = user;
    if (v->err) return;
    vslot *s = vinsert(v, tok, len);
    if (!s) {
        v->err = AL_ENOMEM;
        return;
    }
    s->count++;
}

al_status al_vocab_count_text(al_vocab *v, const char *s, size_t n) {
    if (!v || (!s && n)) return al_error(AL_EINVAL, "al_vocab_count_text: NULL argument");
    if (!v->counting) return al_error(AL_ESTATE, "the vocabulary is finished; it no longer counts");
    al_text_tokenize(s, n, count_tok, v);
    return v->err ? al_error(v->err, "out of memory while counting words") : AL_OK;
}

static int is_special(const char *w) {
    for (int i = 0; i < AL_TOK_SPECIALS; i++)
        if (!strcmp(w, specials[i])) return i;
    return -1;
}

static int by_count(const void *a, const void *b) {
    const vslot *x = *(const vslot *const *)a, *y = *(const vslot *const *)b;
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    return strcmp(x->w, y->w);
}

/* Assigns ids from the word list: the table keeps only the words. */
static al_status index_words(al_vocab *v) {
    for (int i = 0; i < v->nwords; i++) {
        vslot *s = vfind(v, v->words[i], strlen(v->words[i]));
        if (!s || !s->w) return al_error(AL_EINVAL, "vocabulary: internal index error");
        s->id = i;
    }
    return AL_OK;
}

al_status al_vocab_finish(al_vocab *v, int max_words) {
    if (!v) return al_error(AL_EINVAL, "al_vocab_finish: NULL argument");
    if (!v->counting) return al_error(AL_ESTATE, "the vocabulary is already finished");
    if (max_words < 1 || max_words > (1 << 24) - AL_TOK_SPECIALS)
        return al_error(AL_ERANGE, "vocabulary size must be in 1..%d, got %d", (1 << 24) - AL_TOK_SPECIALS, max_words);
    size_t n = 0;
    vslot **all = al_malloc(sizeof(vslot *) * (v->used ? v->used : 1));
    if (!all) return AL_ENOMEM;
    for (size_t i = 0; i < v->cap; i++)
        if (v->tab[i].w && is_special(v->tab[i].w) < 0) all[n++] = &v->tab[i];
    qsort(all, n, sizeof *all, by_count);
    size_t keep = AL_MIN(n, (size_t)max_words);
    v->words = al_malloc(sizeof(char *) * (keep + AL_TOK_SPECIALS));
    if (!v->words) {
        al_free(all);
        return AL_ENOMEM;
    }
    for (int i = 0; i < AL_TOK_SPECIALS; i++) v->words[i] = vfind(v, specials[i], strlen(specials[i]))->w;
    for (size_t i = 0; i < keep; i++) v->words[AL_TOK_SPECIALS + i] = all[i]->w;
    /* drop the words that did not make it */
    for (size_t i = keep; i < n; i++) {
        al_free(all[i]->w);
        all[i]->w = NULL;
    }
    al_free(all);
    v->nwords = (int)keep + AL_TOK_SPECIALS;
    /* rebuild the table with the kept words only (deleted slots break probing) */
    vslot *old = v->tab;
    size_t ocap = v->cap;
    v->tab = NULL;
    v->cap = v->used = 0;
    al_status st = AL_OK;
    size_t want = 1024;
    while (want < (size_t)v->nwords * 2) want *= 2;
    v->tab = al_calloc(want, sizeof *v->tab);
    if (!v->tab) st = AL_ENOMEM;
    else v->cap = want;
    for (size_t i = 0; i < ocap; i++) {
        if (!old[i].w) continue;
        if (st) {
            al_free(old[i].w);
            continue;
        }
        *vfind(v, old[i].w, old[i].len) = old[i];
        v->used++;
    }
    al_free(old);
    if (st) {
        v->nwords = 0;
        return st;
    }
    v->counting = 0;
    return index_words(v);
}

int al_vocab_size(const al_vocab *v) { return v ? v->nwords : 0; }

const char *al_vocab_word(const al_vocab *v, int id) {
    if (!v || id < 0 || id >= v->nwords) return NULL;
    return v->words[id];
}

int al_vocab_lookup(const al_vocab *v, const char *w, size_t len) {
    if (!v || v->counting || !w) return AL_TOK_UNK;
    const vslot *s = vfind(v, w, len);
    return s && s->w && s->id >= 0 ? s->id : AL_TOK_UNK;
}

char *al_vocab_serialize(const al_vocab *v) {
    if (!v || v->counting) {
        al_error(AL_ESTATE, "al_vocab_serialize: the vocabulary is not finished");
        return NULL;
    }
    size_t n = 1;
    for (int i = 0; i < v->nwords; i++) n += strlen(v->words[i]) + 1;
    char *s = al_malloc(n);
    if (!s) return NULL;
    size_t o = 0;
    for (int i = 0; i < v->nwords; i++) {
        size_t k = strlen(v->words[i]);
        if (i) s[o++] = '\n';
        memcpy(s + o, v->words[i], k);
        o += k;
    }
    s[o] = '\0';
    return s;
}

al_status al_vocab_parse(const char *s, al_vocab **out) {
    if (!s || !out) return al_error(AL_EINVAL, "al_vocab_parse: NULL argument");
    *out = NULL;
    al_vocab *v = al_calloc(1, sizeof *v);
    if (!v) return AL_ENOMEM;
    size_t lines = 1;
    for (const char *p = s; *p; p++) lines += *p == '\n';
    al_status st = AL_OK;
    if (lines > (1u << 24)) {
        st = al_error(AL_EFORMAT, "vocabulary: %zu words, at most %d allowed", lines, 1 << 24);
        goto fail;
    }
    v->words = al_malloc(sizeof(char *) * lines);
    if (!v->words) {
        st = AL_ENOMEM;
        goto fail;
    }
    const char *p = s;
    for (size_t i = 0; i < lines; i++) {
        const char *e = strchr(p, '\n');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == 0 || n >= AL_TOK_MAXLEN) {
            st = al_error(AL_EFORMAT, "vocabulary: word %zu is empty or longer than %d bytes", i, AL_TOK_MAXLEN - 1);
            goto fail;
        }
        for (size_t j = 0; j < n; j++)
            if ((unsigned char)p[j] <= ' ') {
                st = al_error(AL_EFORMAT, "vocabulary: word %zu contains a space or control byte", i);
                goto fail;
            }
        if (i < AL_TOK_SPECIALS && (strlen(specials[i]) != n || memcmp(specials[i], p, n) != 0)) {
            st = al_error(AL_EFORMAT, "vocabulary: word %zu must be %s", i, specials[i]);
            goto fail;
        }
        vslot *sl = vinsert(v, p, n);
        if (!sl) {
            st = AL_ENOMEM;
            goto fail;
        }
        if (sl->id >= 0) {
            st = al_error(AL_EFORMAT, "vocabulary: word %zu ('%.*s') appears twice", i, (int)n, p);
            goto fail;
        }
        sl->id = (int32_t)i;
        v->words[i] = sl->w;
        v->nwords = (int)i + 1;
        p = e ? e + 1 : p + n;
    }
    if (v->nwords < AL_TOK_SPECIALS) {
        st = al_error(AL_EFORMAT, "vocabulary: %d words, the %d specials are missing", v->nwords, AL_TOK_SPECIALS);
        goto fail;
    }
    *out = v;
    return AL_OK;
fail:
    al_vocab_free(v);
    return st;
}

void al_ids_free(al_ids *a) {
    if (!a) return;
    al_free(a->v);
    memset(a, 0, sizeof *a);
}

al_status al_ids_push(al_ids *a, int32_t id) {
    if (a->n == a->cap) {
        long ncap = a->cap ? a->cap * 2 : 4096;
        if (ncap > (1L << 31)) return al_error(AL_ERANGE, "token stream longer than 2^31 tokens");
        int32_t *nv = al_malloc(sizeof(int32_t) * (size_t)ncap);
        if (!nv) return AL_ENOMEM;
        if (a->n) memcpy(nv, a->v, sizeof(int32_t) * (size_t)a->n);
        al_free(a->v);
        a->v = nv;
        a->cap = ncap;
    }
    a->v[a->n++] = id;
    return AL_OK;
}

typedef struct {
    const al_vocab *v;
    al_ids *out;
    al_status err;
} enc_state;

static void enc_tok(void *user, const char *tok, size_t len) {
    enc_state *e = user;
    if (e->err) return;
    e->err = al_ids_push(e->out, al_vocab_lookup(e->v, tok, len));
}

al_status al_vocab_encode(const al_vocab *v, const char *s, size_t n, al_ids *out) {
    if (!v || !out || (!s && n)) return al_error(AL_EINVAL, "al_vocab_encode: NULL argument");
    if (v->counting) return al_error(AL_ESTATE, "al_vocab_encode: the vocabulary is not finished");
    enc_state e = {v, out, AL_OK};
    al_text_tokenize(s, n, enc_tok, &e);
    return e.err;
}

/* ---- the user's own text: words, new words, lengths ---------------------------------- */

int al_token_is_word(const char *tok, size_t len) {
    /* the keystroke count's rule (al_lm_evaluate): a token that starts like a
     * word; "<unk>" (an overlong token) is a word too, of unknown letters */
    if (len == 5 && memcmp(tok, "<unk>", 5) == 0) return 1;
    return len > 0 && ((unsigned char)tok[0] >= 'a' || tok[0] == '\'');
}

al_status al_vocab_add(al_vocab *v, const char *w, size_t n) {
    if (!v || !w) return al_error(AL_EINVAL, "al_vocab_add: NULL argument");
    if (v->counting) return al_error(AL_ESTATE, "al_vocab_add: the vocabulary is not finished");
    if (n == 0 || n >= AL_TOK_MAXLEN) return al_error(AL_EINVAL, "vocabulary: a word of %zu bytes", n);
    for (size_t j = 0; j < n; j++)
        if ((unsigned char)w[j] <= ' ') return al_error(AL_EINVAL, "vocabulary: a word with a space or control byte");
    if (v->nwords >= (1 << 24)) return al_error(AL_ERANGE, "vocabulary: at most %d words", 1 << 24);
    if (al_vocab_lookup(v, w, n) != AL_TOK_UNK || (n == 5 && memcmp(w, "<unk>", 5) == 0))
        return al_error(AL_EINVAL, "vocabulary: '%.*s' is already a word", (int)n, w);
    int cap = v->wcap > v->nwords ? v->wcap : v->nwords;
    if (v->nwords + 1 > cap) {
        int ncap = cap < 16 ? 16 : cap * 2;
        char **nw = al_malloc(sizeof(char *) * (size_t)ncap);
        if (!nw) return AL_ENOMEM;
        if (v->nwords) memcpy(nw, v->words, sizeof(char *) * (size_t)v->nwords);
        al_free(v->words);
        v->words = nw;
        v->wcap = ncap;
    }
    vslot *s = vinsert(v, w, n);
    if (!s) return AL_ENOMEM;
    s->id = v->nwords;
    v->words[v->nwords++] = s->w;
    return AL_OK;
}

typedef struct {
    const al_vocab *v;   /* the vocabulary the words are new to */
    al_vocab *count;     /* counting: the new words */
    uint64_t unk;        /* tokens that v maps to <unk> */
    al_status err;
} learn_state;

static void learn_tok(void *user, const char *tok, size_t len) {
    learn_state *l = user;
    if (l->err || al_vocab_lookup(l->v, tok, len) != AL_TOK_UNK) return;
    l->unk++;
    if (!al_token_is_word(tok, len) || (len == 5 && memcmp(tok, "<unk>", 5) == 0)) return;
    vslot *s = vinsert(l->count, tok, len);
    if (!s) {
        l->err = AL_ENOMEM;
        return;
    }
    s->count++;
}

al_status al_vocab_learn(al_vocab *v, const char *s, size_t n, int min_count, int max_new, int *added,
                         uint64_t **counts, uint64_t *unk) {
    if (!v || (!s && n) || !added) return al_error(AL_EINVAL, "al_vocab_learn: NULL argument");
    *added = 0;
    if (counts) *counts = NULL;
    if (unk) *unk = 0;
    if (v->counting) return al_error(AL_ESTATE, "al_vocab_learn: the vocabulary is not finished");
    if (min_count < 1 || max_new < 0) return al_error(AL_EINVAL, "new words: min count %d, cap %d", min_count, max_new);
    learn_state l = {v, NULL, 0, AL_OK};
    al_status st = al_vocab_new(&l.count);
    if (st) return st;
    al_text_tokenize(s, n, learn_tok, &l);
    if (unk) *unk = l.unk;
    vslot **all = NULL;
    uint64_t *cnt = NULL;
    if ((st = l.err)) goto done;
    size_t m = 0;
    all = al_malloc(sizeof(vslot *) * (l.count->used ? l.count->used : 1));
    if (!all) {
        st = AL_ENOMEM;
        goto done;
    }
    for (size_t i = 0; i < l.count->cap; i++)
        if (l.count->tab[i].w && l.count->tab[i].count >= (uint64_t)min_count && is_special(l.count->tab[i].w) < 0)
            all[m++] = &l.count->tab[i];
    qsort(all, m, sizeof *all, by_count);
    size_t keep = AL_MIN(m, (size_t)max_new);
    if ((size_t)v->nwords + keep > (size_t)1 << 24) keep = ((size_t)1 << 24) - (size_t)v->nwords;
    if (counts && !(cnt = al_malloc(sizeof(uint64_t) * (keep ? keep : 1)))) {
        st = AL_ENOMEM;
        goto done;
    }
    for (size_t i = 0; i < keep && !st; i++) {
        if (!(st = al_vocab_add(v, all[i]->w, all[i]->len))) {
            if (cnt) cnt[i] = all[i]->count;
            ++*added;
        }
    }
done:
    al_free(all);
    al_vocab_free(l.count);
    if (st) {
        al_free(cnt);
        return st == AL_ENOMEM ? al_error(st, "out of memory while learning new words") : st;
    }
    if (counts) *counts = cnt;
    else al_free(cnt);
    return AL_OK;
}

typedef struct {
    const al_vocab *v;
    al_ids *out, *lens;
    al_status err;
} enc_len_state;

static void enc_len_tok(void *user, const char *tok, size_t len) {
    enc_len_state *e = user;
    if (e->err) return;
    int w = al_token_is_word(tok, len);
    int32_t l = !w ? 0 : (len == 5 && memcmp(tok, "<unk>", 5) == 0) ? AL_TOK_MAXLEN : (int32_t)len;
    if (!(e->err = al_ids_push(e->out, al_vocab_lookup(e->v, tok, len)))) e->err = al_ids_push(e->lens, l);
}

al_status al_vocab_encode_lens(const al_vocab *v, const char *s, size_t n, al_ids *out, al_ids *lens) {
    if (!v || !out || !lens || (!s && n)) return al_error(AL_EINVAL, "al_vocab_encode_lens: NULL argument");
    if (v->counting) return al_error(AL_ESTATE, "al_vocab_encode_lens: the vocabulary is not finished");
    enc_len_state e = {v, out, lens, AL_OK};
    al_text_tokenize(s, n, enc_len_tok, &e);
    return e.err;
}

/* A user's text: UTF-8, not binary. The tokenizer takes any bytes; a check
 * here gives the user a reason instead of a model trained on garbage. */
al_status al_text_check(const char *s, size_t n, const char *name) {
    if (!name) name = "the text";
    if (!s && n) return al_error(AL_EINVAL, "al_text_check: NULL text");
    if (n == 0) return al_error(AL_EINVAL, "%s is empty", name);
    const unsigned char *p = (const unsigned char *)s;
    size_t ctrl = 0;
    for (size_t i = 0; i < n;) {
        unsigned char c = p[i];
        if (c == 0) return al_error(AL_EFORMAT, "%s looks binary: a NUL byte at offset %zu", name, i);
        if (c < 0x80) {
            ctrl += c < 0x20 && c != '\n' && c != '\r' && c != '\t' && c != '\f' && c != '\v';
            i++;
            continue;
        }
        /* the sequence length and the allowed range of its second byte
         * (no overlong forms, no surrogates, nothing past U+10FFFF) */
        int k;
        unsigned char lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) k = 2;
        else if (c >= 0xE0 && c <= 0xEF) {
            k = 3;
            if (c == 0xE0) lo = 0xA0;
            if (c == 0xED) hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            k = 4;
            if (c == 0xF0) lo = 0x90;
            if (c == 0xF4) hi = 0x8F;
        } else {
            return al_error(AL_EFORMAT, "%s is not UTF-8: byte 0x%02x at offset %zu cannot start a character", name, c, i);
        }
        if (n - i < (size_t)k)
            return al_error(AL_EFORMAT, "%s is not UTF-8: a character cut off at offset %zu", name, i);
        for (int j = 1; j < k; j++) {
            unsigned char d = p[i + (size_t)j];
            if (d < (j == 1 ? lo : 0x80) || d > (j == 1 ? hi : 0xBF))
                return al_error(AL_EFORMAT, "%s is not UTF-8: byte 0x%02x at offset %zu", name, d, i + (size_t)j);
        }
        i += (size_t)k;
    }
    if (ctrl > n / 100 + 8)
        return al_error(AL_EFORMAT, "%s looks binary: %zu control bytes in %zu", name, ctrl, n);
    return AL_OK;
}

/* ---- corpora --------------------------------------------------------------------- */

#define MAX_FILE_BYTES ((size_t)64 << 20)
#define MAX_TOTAL_BYTES ((size_t)1 << 30)
#define MAX_FILES 100000

void al_text_corpus_free(al_text_corpus *c) {
    if (!c) return;
    for (int i = 0; i < c->n; i++) {
        al_free(c->docs[i].name);
        al_free(c->docs[i].text);
    }
    al_free(c->docs);
    memset(c, 0, sizeof *c);
}

/* "1946_harry_s_truman_d.txt" -> year 1946, name "harry_s_truman". */
static int parse_sotu_name(const char *f, int *year, char *name, size_t cap) {
    size_t n = strlen(f);
    if (n < 4 + 1 + 1 + 1 + 1 + 4 || strcmp(f + n - 4, ".txt") != 0) return 0;
    for (int i = 0; i < 4; i++)
        if (!is_digit((unsigned char)f[i])) return 0;
    if (f[4] != '_') return 0;
    *year = (f[0] - '0') * 1000 + (f[1] - '0') * 100 + (f[2] - '0') * 10 + (f[3] - '0');
    const char *b = f + 5, *e = f + n - 4;
    const char *us = e;
    while (us > b && us[-1] != '_') us--;
    if (us <= b + 1 || us == e) return 0; /* needs a name and a party suffix */
    size_t k = (size_t)(us - 1 - b);
    if (k >= cap) return 0;
    for (size_t i = 0; i < k; i++)
        if (!((b[i] >= 'a' && b[i] <= 'z') || b[i] == '_')) return 0;
    for (const char *q = us; q < e; q++)
        if (!(*q >= 'a' && *q <= 'z')) return 0;
    memcpy(name, b, k);
    name[k] = '\0';
    return 1;
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int by_year(const void *a, const void *b) {
    const al_text_doc *x = a, *y = b;
    if (x->year != y->year) return x->year < y->year ? -1 : 1;
    return strcmp(x->name, y->name);
}

static al_status read_text_file(const char *path, char **out, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return al_error(AL_EIO, "cannot open %s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fclose(f);
        return al_error(AL_EIO, "%s is not a regular file", path);
    }
    if ((unsigned long long)sb.st_size > MAX_FILE_BYTES) {
        fclose(f);
        return al_error(AL_ERANGE, "%s: %lld bytes, text files over %zu MiB are refused", path,
                        (long long)sb.st_size, MAX_FILE_BYTES >> 20);
    }
    size_t n = (size_t)sb.st_size;
    char *buf = al_malloc(n + 1);
    if (!buf) {
        fclose(f);
        return AL_ENOMEM;
    }
    size_t got = fread(buf, 1, n, f);
    int bad = ferror(f);
    fclose(f);
    if (bad || got != n) {
        al_free(buf);
        return al_error(AL_EIO, "%s: read %zu of %zu bytes", path, got, n);
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return AL_OK;
}

al_status al_text_read_file(const char *path, char **text, size_t *len) {
    if (!path || !text || !len) return al_error(AL_EINVAL, "al_text_read_file: NULL argument");
    *text = NULL;
    *len = 0;
    char *buf;
    size_t n;
    al_status st = read_text_file(path, &buf, &n);
    if (st) return st;
    if ((st = al_text_check(buf, n, path))) {
        al_free(buf);
        return st;
    }
    *text = buf;
    *len = n;
    return AL_OK;
}

al_status al_text_corpus_add_dir(al_text_corpus *c, const char *dir, int kind) {
    if (!c || !dir) return al_error(AL_EINVAL, "al_text_corpus_add_dir: NULL argument");
    DIR *d = opendir(dir);
    if (!d) return al_error(AL_EIO, "cannot open directory %s: %s", dir, strerror(errno));
    char **names = NULL;
    size_t nn = 0, cap = 0;
    al_status st = AL_OK;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t k = strlen(de->d_name);
        if (k < 5 || strcmp(de->d_name + k - 4, ".txt") != 0 || de->d_name[0] == '.') continue;
        if (nn == MAX_FILES) {
            st = al_error(AL_ERANGE, "%s: more than %d text files", dir, MAX_FILES);
            break;
        }
        if (nn == cap) {
            size_t ncap = cap ? cap * 2 : 256;
            char **nv = al_malloc(sizeof(char *) * ncap);
            if (!nv) {
                st = AL_ENOMEM;
                break;
            }
            if (nn) memcpy(nv, names, sizeof(char *) * nn);
            al_free(names);
            names = nv;
            cap = ncap;
        }
        if (!(names[nn] = al_strdup(de->d_name))) {
            st = AL_ENOMEM;
            break;
        }
        nn++;
    }
    closedir(d);
    if (!st && nn == 0) st = al_error(AL_EFORMAT, "%s holds no .txt files", dir);
    if (!st) qsort(names, nn, sizeof *names, by_name);
    size_t total = 0;
    for (int i = 0; i < c->n; i++) total += c->docs[i].len;
    al_text_doc *docs = NULL;
    if (!st) {
        docs = al_calloc((size_t)c->n + nn, sizeof *docs);
        if (!docs) st = AL_ENOMEM;
        else if (c->n) memcpy(docs, c->docs, sizeof *docs * (size_t)c->n);
    }
    int n0 = c->n, nd = c->n;
    char *path = NULL;
    for (size_t i = 0; i < nn && !st; i++) {
        char name[256];
        int year = 0;
        if (kind == AL_CORPUS_SOTU) {
            if (!parse_sotu_name(names[i], &year, name, sizeof name)) {
                st = al_error(AL_EFORMAT, "%s/%s: not a State of the Union file name (YYYY_first_last_party.txt)", dir,
                              names[i]);
                break;
            }
        } else {
            snprintf(name, sizeof name, "%.*s", (int)AL_MIN(strlen(names[i]) - 4, sizeof name - 1), names[i]);
        }
        size_t pl = strlen(dir) + strlen(names[i]) + 2;
        path = al_malloc(pl);
        if (!path) {
            st = AL_ENOMEM;
            break;
        }
        snprintf(path, pl, "%s/%s", dir, names[i]);
        char *text = NULL;
        size_t len = 0;
        st = read_text_file(path, &text, &len);
        al_free(path);
        path = NULL;
        if (st) break;
        if (kind == AL_CORPUS_MAIL) {
            /* the body starts after the first empty line */
            char *b = strstr(text, "\n\n");
            char *b2 = strstr(text, "\r\n\r\n");
            if (b2 && (!b || b2 < b)) b = b2 + 2;
            size_t off = b ? (size_t)(b - text) + 2 : len;
            memmove(text, text + off, len - off + 1);
            len -= off;
        }
        total += len;
        if (total > MAX_TOTAL_BYTES) {
            al_free(text);
            st = al_error(AL_ERANGE, "%s: the corpus exceeds %zu MiB", dir, MAX_TOTAL_BYTES >> 20);
            break;
        }
        docs[nd].year = year;
        docs[nd].name = al_strdup(name);
        docs[nd].text = text;
        docs[nd].len = len;
        if (!docs[nd].name) {
            al_free(text);
            st = AL_ENOMEM;
            break;
        }
        nd++;
    }
    for (size_t i = 0; i < nn; i++) al_free(names[i]);
    al_free(names);
    if (st) {
        for (int i = n0; i < nd; i++) {
            al_free(docs[i].name);
            al_free(docs[i].text);
        }
        al_free(docs);
        return st;
    }
    if (kind == AL_CORPUS_SOTU) qsort(docs + n0, (size_t)(nd - n0), sizeof *docs, by_year);
    al_free(c->docs);
    c->docs = docs;
    c->n = nd;
    return AL_OK;
}

/* ---- windows --------------------------------------------------------------------- */

al_status al_text_windows(const int32_t *ids, long n, int T, int B, int vocab, al_dataset **out, uint64_t **offsets) {
    if (!out || (!ids && n)) return al_error(AL_EINVAL, "al_text_windows: NULL argument");
    *out = NULL;
    if (offsets) *offsets = NULL;
    if (T < 1 || B < 1 || T > (1 << 16) || B > (1 << 20))
        return al_error(AL_ERANGE, "windows of %d tokens in %d streams: out of range", T, B);
    long W = n > 1 ? (n - 1) / ((long)B * T) : 0;
    if (W < 1)
        return al_error(AL_EINVAL, "a text of %ld tokens is too short for %d streams of %d-token windows", n, B, T);
    if (W * (long)B > (1L << 30)) return al_error(AL_ERANGE, "too many windows");
    for (long i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= vocab)
            return al_error(AL_ERANGE, "token %ld has id %d outside the vocabulary of %d", i, (int)ids[i], vocab);
    al_shape xs = {1, {T, 0, 0}};
    al_dataset *d;
    al_status st = al_dataset_alloc((int)(W * B), &xs, T, vocab, &d);
    if (st) return st;
    uint64_t *off = NULL;
    if (offsets && !(off = al_malloc(sizeof(uint64_t) * (size_t)(W * B)))) {
        al_dataset_free(d);
        return AL_ENOMEM;
    }
    const long L = W * T;
    for (long w = 0; w < W; w++)
        for (int j = 0; j < B; j++) {
            long s = w * B + j, p = (long)j * L + w * T;
            float *x = d->x + (size_t)s * (size_t)T;
            int32_t *y = d->y + (size_t)s * (size_t)T;
            for (int t = 0; t < T; t++) {
                x[t] = (float)ids[p + t];
                y[t] = ids[p + t + 1];
            }
            if (off) off[s] = (uint64_t)p;
        }
    *out = d;
    if (offsets) *offsets = off;
    return AL_OK;
}
