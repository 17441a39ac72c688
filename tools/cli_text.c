/* `personalize --text FILE...`: the keyboard on the user's own text files
 * (docs/TEXT.md, "The user's own text"; docs/CLI.md). Reads and checks the
 * files, holds out a test text (--test FILE..., else the last tenth),
 * measures the cloud model on it, learns the new words of the training text
 * and grows the model by them, and leaves the token streams for the text
 * path of cmd_personalize.c (predict pass, training, the report). */
#include "cli.h"
#include "train/train.h"

#include <stdlib.h>
#include <string.h>

#define MAX_FILES 100000
#define MAX_TOTAL ((size_t)1 << 30)

/* FILE after --text or --test, and the arguments after it that are not options. */
static int take_files(cli_args *a, const char *name, const char ***list, int *n) {
    const char *f = NULL;
    if (!cli_str(a, name, &f)) return 0;
    for (;;) {
        if (f) {
            if (*n >= MAX_FILES) {
                a->error = cli_usage_error(a->cmd, "--%s: more than %d files", name, MAX_FILES);
                return 1;
            }
            const char **nl = realloc(*list, sizeof(char *) * (size_t)(*n + 1));
            if (!nl) {
                a->error = cli_fail(a->cmd, "out of memory");
                return 1;
            }
            *list = nl;
            (*list)[(*n)++] = f;
        }
        if (a->i + 1 >= a->argc || a->argv[a->i + 1][0] == '-' || !a->argv[a->i + 1][0]) break;
        f = a->argv[++a->i];
    }
    return 1;
}

int cli_text_option(cli_args *a, cli_text_files *f) {
    return take_files(a, "text", &f->train, &f->ntrain) || take_files(a, "test", &f->test, &f->ntest) ||
           cli_int(a, "new-words", 0, 1 << 30, &f->min_count) ||
           cli_int(a, "max-new-words", 0, 1 << 24, &f->max_new);
}

void cli_text_files_free(cli_text_files *f) {
    free(f->train);
    free(f->test);
    f->train = f->test = NULL;
}

/* The files, checked one by one (al_text_read_file), joined by line breaks. */
static al_status read_all(const char *const *files, int n, char **out, size_t *len) {
    char *all = NULL;
    size_t used = 0;
    al_status st = AL_OK;
    for (int i = 0; i < n && !st; i++) {
        char *t = NULL;
        size_t k = 0;
        if ((st = al_text_read_file(files[i], &t, &k))) break;
        if (used + k + 1 > MAX_TOTAL) {
            st = al_error(AL_ERANGE, "the text files hold over %zu MiB in all", MAX_TOTAL >> 20);
        } else {
            char *na = al_malloc(used + k + 2);
            if (!na) {
                st = AL_ENOMEM;
            } else {
                if (used) memcpy(na, all, used);
                memcpy(na + used, t, k);
                used += k;
                na[used++] = '\n';
                na[used] = '\0';
                al_free(all);
                all = na;
            }
        }
        al_free(t);
    }
    if (st) {
        al_free(all);
        return st;
    }
    *out = all;
    *len = used;
    return AL_OK;
}

/* Without --test: the text after the first line break past 90% of its
 * bytes (else after the first whitespace there) is held out. */
static size_t tail_start(const char *s, size_t n) {
    size_t i = n - n / 10, last = n; /* last: the last byte that is not whitespace, + 1 */
    while (last > 0 && (unsigned char)s[last - 1] <= ' ') last--;
    for (size_t j = i; j < last; j++)
        if (s[j] == '\n') return j + 1;
    for (size_t j = i; j < last; j++)
        if ((unsigned char)s[j] <= ' ') return j + 1;
    return n;
}

al_status cli_text_load(const cli_text_files *f, al_model *m, al_pool *pool, long cap, cli_text_data *d) {
    char *text = NULL, *test = NULL;
    size_t len = 0, tlen = 0;
    al_status st = read_all(f->train, f->ntrain, &text, &len);
    if (!st && f->ntest) st = read_all(f->test, f->ntest, &test, &tlen);
    const char *tr = text, *te = test;
    size_t trn = len, ten = tlen;
    if (!st && !f->ntest) {
        trn = tail_start(text, len);
        te = text + trn;
        ten = len - trn;
        if (ten == 0) st = al_error(AL_EINVAL, "the text is too short to hold out a tenth for testing; give --test FILE");
    }
    /* the cloud model on the test text first: the "before" */
    al_ids t0 = {0};
    if (!st) st = al_lm_encode(m, te, ten, &t0, &d->test_lens);
    if (!st && t0.n < 2) st = al_error(AL_EINVAL, "the test text has %ld tokens: nothing to measure", t0.n);
    if (!st) st = al_lm_evaluate_lens(m, pool, t0.v, d->test_lens.v, t0.n, NULL, &d->before);
    al_ids_free(&t0);
    al_ids_free(&d->test_lens);
    if (!st) st = al_lm_learn_words(m, tr, trn, f->min_count, f->max_new, &d->new_words);
    if (!st) st = al_lm_encode(m, tr, trn, &d->train, NULL);
    if (!st) st = al_lm_check_stream(d->train.v, d->train.n, "the training text");
    if (!st) st = al_lm_encode(m, te, ten, &d->test, &d->test_lens);
    if (!st && cap > 0 && d->train.n > cap) {
        memmove(d->train.v, d->train.v + (d->train.n - cap), sizeof(int32_t) * (size_t)cap);
        d->train.n = cap;
    }
    al_free(text);
    al_free(test);
    return st;
}

void cli_text_data_free(cli_text_data *d) {
    al_ids_free(&d->train);
    al_ids_free(&d->test);
    al_ids_free(&d->test_lens);
}
