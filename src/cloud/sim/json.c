/* The JSON reader of json.h: recursive descent over a bounded buffer. Every
 * read checks the end of input first; depth is capped so a hostile
 * "[[[[..." cannot exhaust the stack; growth of arrays is checked for
 * overflow. Errors carry line and column of the offending byte. */
#include "json.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct jp {
    const char *s;
    size_t len, pos;
} jp;

static al_status jp_fail(const jp *p, const char *what) {
    size_t line = 1, col = 1;
    for (size_t i = 0; i < p->pos && i < p->len; i++) {
        if (p->s[i] == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    if (p->pos >= p->len) return al_error(AL_EFORMAT, "bad JSON at line %zu column %zu (end of input): %s", line, col, what);
    unsigned char c = (unsigned char)p->s[p->pos];
    if (c >= 0x21 && c < 0x7f)
        return al_error(AL_EFORMAT, "bad JSON at line %zu column %zu (at '%c'): %s", line, col, c, what);
    return al_error(AL_EFORMAT, "bad JSON at line %zu column %zu (byte 0x%02x): %s", line, col, c, what);
}

static void skip_ws(jp *p) {
    while (p->pos < p->len) {
        char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        p->pos++;
    }
}

static int peek(const jp *p) { return p->pos < p->len ? (unsigned char)p->s[p->pos] : -1; }

static void free_value(al_json *j) {
    if (!j) return;
    al_free(j->str);
    for (int i = 0; i < j->n; i++) {
        free_value(&j->items[i]);
        if (j->keys) al_free(j->keys[i]);
    }
    al_free(j->items);
    al_free(j->keys);
    memset(j, 0, sizeof *j);
}

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static al_status read_hex4(jp *p, unsigned *out) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(peek(p));
        if (h < 0) return jp_fail(p, "\\u needs four hexadecimal digits");
        v = v * 16 + (unsigned)h;
        p->pos++;
    }
    *out = v;
    return AL_OK;
}

static size_t put_utf8(char *d, unsigned cp) {
    if (cp < 0x80) {
        d[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        d[0] = (char)(0xc0 | (cp >> 6));
        d[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        d[0] = (char)(0xe0 | (cp >> 12));
        d[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        d[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    d[0] = (char)(0xf0 | (cp >> 18));
    d[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    d[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    d[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* A string starting at '"'. The decoded text is never longer than the raw
 * one (an escape of 6 bytes gives at most 3, a surrogate pair of 12 gives 4),
 * so one allocation of the raw length suffices. */
static al_status parse_string(jp *p, char **out) {
    p->pos++; /* the opening quote */
    size_t start = p->pos, end = start;
    while (end < p->len && p->s[end] != '"') end += p->s[end] == '\\' ? 2 : 1;
    if (end >= p->len) {
        p->pos = p->len;
        return jp_fail(p, "unterminated string");
    }
    char *d = al_malloc(end - start + 1);
    if (!d) return AL_ENOMEM;
    size_t k = 0;
    while (p->pos < end) {
        unsigned char c = (unsigned char)p->s[p->pos];
        if (c < 0x20) {
            al_free(d);
            return jp_fail(p, "control character in a string (escape it)");
        }
        if (c != '\\') {
            d[k++] = (char)c;
            p->pos++;
            continue;
        }
        p->pos++;
        int e = peek(p);
        p->pos++;
        switch (e) {
        case '"': d[k++] = '"'; break;
        case '\\': d[k++] = '\\'; break;
        case '/': d[k++] = '/'; break;
        case 'b': d[k++] = '\b'; break;
        case 'f': d[k++] = '\f'; break;
        case 'n': d[k++] = '\n'; break;
        case 'r': d[k++] = '\r'; break;
        case 't': d[k++] = '\t'; break;
        case 'u': {
            unsigned cp = 0;
            al_status st = read_hex4(p, &cp);
            if (st) {
                al_free(d);
                return st;
            }
            if (cp >= 0xd800 && cp < 0xdc00) {
                unsigned lo = 0;
                if (p->pos + 1 < end && p->s[p->pos] == '\\' && p->s[p->pos + 1] == 'u') {
                    p->pos += 2;
                    if ((st = read_hex4(p, &lo)) != AL_OK) {
                        al_free(d);
                        return st;
                    }
                    if (lo < 0xdc00 || lo > 0xdfff) {
                        al_free(d);
                        return jp_fail(p, "a high surrogate must be followed by a low one");
                    }
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                } else {
                    al_free(d);
                    return jp_fail(p, "unpaired surrogate in \\u escape");
                }
            } else if (cp >= 0xdc00 && cp <= 0xdfff) {
                al_free(d);
                return jp_fail(p, "unpaired surrogate in \\u escape");
            }
            if (cp == 0) {
                al_free(d);
                return jp_fail(p, "\\u0000 is not supported");
            }
            k += put_utf8(d + k, cp);
            break;
        }
        default:
            p->pos--;
            al_free(d);
            return jp_fail(p, "unknown escape in a string");
        }
        if (p->pos > end) { /* an escape ran over the closing quote, e.g. "\u12" */
            al_free(d);
            p->pos = end;
            return jp_fail(p, "truncated escape");
        }
    }
    d[k] = '\0';
    p->pos = end + 1;
    *out = d;
    return AL_OK;
}

/* The RFC 8259 number grammar, checked before strtod (which accepts more:
 * hex, inf, nan, leading '+'). */
static al_status parse_number(jp *p, double *out) {
    size_t i = p->pos;
    if (i < p->len && p->s[i] == '-') i++;
    if (i >= p->len || p->s[i] < '0' || p->s[i] > '9') return jp_fail(p, "expected a value");
    if (p->s[i] == '0')
        i++;
    else
        while (i < p->len && p->s[i] >= '0' && p->s[i] <= '9') i++;
    if (i < p->len && p->s[i] == '.') {
        i++;
        if (i >= p->len || p->s[i] < '0' || p->s[i] > '9') {
            p->pos = i;
            return jp_fail(p, "a digit must follow the decimal point");
        }
        while (i < p->len && p->s[i] >= '0' && p->s[i] <= '9') i++;
    }
    if (i < p->len && (p->s[i] == 'e' || p->s[i] == 'E')) {
        i++;
        if (i < p->len && (p->s[i] == '+' || p->s[i] == '-')) i++;
        if (i >= p->len || p->s[i] < '0' || p->s[i] > '9') {
            p->pos = i;
            return jp_fail(p, "a digit must follow the exponent");
        }
        while (i < p->len && p->s[i] >= '0' && p->s[i] <= '9') i++;
    }
    char buf[64];
    size_t n = i - p->pos;
    if (n >= sizeof buf) return jp_fail(p, "number too long");
    memcpy(buf, p->s + p->pos, n);
    buf[n] = '\0';
    errno = 0;
    double v = strtod(buf, NULL);
    if (!isfinite(v)) return jp_fail(p, "number out of range");
    *out = v;
    p->pos = i;
    return AL_OK;
}

static int match_word(jp *p, const char *w) {
    size_t n = strlen(w);
    if (p->len - p->pos < n || memcmp(p->s + p->pos, w, n) != 0) return 0;
    p->pos += n;
    return 1;
}

/* Appends a zeroed slot to items (and keys when with_keys); *cap doubles. */
static al_status grow(al_json *j, int *cap, int with_keys) {
    if (j->n < *cap) return AL_OK;
    if (*cap > (1 << 26)) return al_error(AL_EFORMAT, "JSON array or object with too many items");
    int nc = *cap ? *cap * 2 : 8;
    al_json *ni = al_calloc((size_t)nc, sizeof *ni);
    char **nk = with_keys ? al_calloc((size_t)nc, sizeof *nk) : NULL;
    if (!ni || (with_keys && !nk)) {
        al_free(ni);
        al_free(nk);
        return AL_ENOMEM;
    }
    if (j->n) {
        memcpy(ni, j->items, sizeof *ni * (size_t)j->n);
        if (with_keys) memcpy(nk, j->keys, sizeof *nk * (size_t)j->n);
    }
    al_free(j->items);
    al_free(j->keys);
    j->items = ni;
    j->keys = nk;
    *cap = nc;
    return AL_OK;
}

static al_status parse_value(jp *p, al_json *v, int depth) {
    skip_ws(p);
    int c = peek(p);
    if (c < 0) return jp_fail(p, "expected a value");
    if (c == '{' || c == '[') {
        if (depth >= AL_JSON_MAX_DEPTH) return jp_fail(p, "nested too deeply");
        int obj = c == '{', cap = 0;
        char close = obj ? '}' : ']';
        v->type = obj ? AL_JSON_OBJ : AL_JSON_ARR;
        p->pos++;
        skip_ws(p);
        if (peek(p) == close) {
            p->pos++;
            return AL_OK;
        }
        for (;;) {
            al_status st = grow(v, &cap, obj);
            if (st) return st;
            skip_ws(p);
            if (obj) {
                if (peek(p) != '"') return jp_fail(p, "expected a string key");
                if ((st = parse_string(p, &v->keys[v->n])) != AL_OK) return st;
                skip_ws(p);
                if (peek(p) != ':') {
                    v->n++; /* so the key is freed */
                    return jp_fail(p, "expected ':' after a key");
                }
                p->pos++;
            }
            st = parse_value(p, &v->items[v->n], depth + 1);
            v->n++;
            if (st) return st;
            skip_ws(p);
            int d = peek(p);
            if (d == ',') {
                p->pos++;
                continue;
            }
            if (d == close) {
                p->pos++;
                return AL_OK;
            }
            return jp_fail(p, obj ? "expected ',' or '}'" : "expected ',' or ']'");
        }
    }
    if (c == '"') {
        v->type = AL_JSON_STR;
        return parse_string(p, &v->str);
    }
    if (match_word(p, "true")) {
        v->type = AL_JSON_BOOL;
        v->num = 1;
        return AL_OK;
    }
    if (match_word(p, "false")) {
        v->type = AL_JSON_BOOL;
        return AL_OK;
    }
    if (match_word(p, "null")) {
        v->type = AL_JSON_NULL;
        return AL_OK;
    }
    v->type = AL_JSON_NUM;
    return parse_number(p, &v->num);
}

al_status al_json_parse(const char *text, size_t len, al_json **out) {
    if (!out) return al_error(AL_EINVAL, "al_json_parse: NULL argument");
    *out = NULL;
    if (!text && len) return al_error(AL_EINVAL, "al_json_parse: NULL text");
    al_json *root = al_calloc(1, sizeof *root);
    if (!root) return AL_ENOMEM;
    jp p = {text, len, 0};
    al_status st = parse_value(&p, root, 0);
    if (!st) {
        skip_ws(&p);
        if (p.pos != p.len) st = jp_fail(&p, "trailing characters after the value");
    }
    if (st) {
        al_json_free(root);
        return st;
    }
    *out = root;
    return AL_OK;
}

al_status al_json_load(const char *path, al_json **out) {
    if (!path || !out) return al_error(AL_EINVAL, "al_json_load: NULL argument");
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return al_error(AL_EIO, "cannot open %s: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *buf = al_malloc(cap);
    if (!buf) {
        fclose(f);
        return AL_ENOMEM;
    }
    for (;;) {
        if (n == cap) {
            if (cap >= AL_JSON_MAX_FILE) {
                al_free(buf);
                fclose(f);
                return al_error(AL_EFORMAT, "%s is larger than %u MB", path, AL_JSON_MAX_FILE >> 20);
            }
            char *nb = al_malloc(cap * 2);
            if (!nb) {
                al_free(buf);
                fclose(f);
                return AL_ENOMEM;
            }
            memcpy(nb, buf, n);
            al_free(buf);
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        al_free(buf);
        return al_error(AL_EIO, "cannot read %s", path);
    }
    al_status st = al_json_parse(buf, n, out);
    al_free(buf);
    if (st == AL_EFORMAT) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", al_last_error());
        return al_error(AL_EFORMAT, "%s: %s", path, msg);
    }
    return st;
}

void al_json_free(al_json *j) {
    if (!j) return;
    free_value(j);
    al_free(j);
}

const al_json *al_json_get(const al_json *j, const char *key) {
    if (!j || j->type != AL_JSON_OBJ || !key) return NULL;
    for (int i = j->n - 1; i >= 0; i--)
        if (!strcmp(j->keys[i], key)) return &j->items[i];
    return NULL;
}

double al_json_num(const al_json *j) { return j && j->type == AL_JSON_NUM ? j->num : NAN; }

const char *al_json_str(const al_json *j) { return j && j->type == AL_JSON_STR ? j->str : NULL; }
