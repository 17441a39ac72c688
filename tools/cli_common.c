/* Helpers shared by the subcommands: see cli.h. */
#include "cli.h"
#include "cloud/sim/sim.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

/* ---- errors ----------------------------------------------------------------- */

int cli_fail(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "autlearn %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return CLI_EXIT_RUNTIME;
}

int cli_fail_lib(const char *cmd, al_status st) {
    const char *msg = al_last_error();
    if (!msg || !*msg) msg = al_strerror(st);
    return cli_fail(cmd, "%s", msg);
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "autlearn %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n(see 'autlearn %s --help')\n", cmd);
    va_end(ap);
    return CLI_EXIT_USAGE;
}

int cli_finish(const char *cmd, int code) {
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "autlearn %s: writing the output failed: %s\n", cmd, strerror(errno));
        return code ? code : CLI_EXIT_RUNTIME;
    }
    return code;
}

/* ---- option parsing ------------------------------------------------------------ */

void cli_args_init(cli_args *a, const char *cmd, int argc, char **argv) {
    memset(a, 0, sizeof *a);
    a->cmd = cmd;
    a->argc = argc;
    a->argv = argv;
    a->i = 0;
}

int cli_next(cli_args *a) {
    if (a->error || a->help) return 0;
    if (++a->i >= a->argc) return 0;
    a->arg = a->argv[a->i];
    return 1;
}

/* Does the current argument name option `name` ("--name" or "--name=...")?
 * *inl receives the text after '=' (NULL when absent). */
static int match(const cli_args *a, const char *name, const char **inl) {
    const char *s = a->arg;
    *inl = NULL;
    if (s[0] != '-' || s[1] != '-') return 0;
    s += 2;
    size_t n = strlen(name);
    if (strncmp(s, name, n) != 0) return 0;
    if (s[n] == '\0') return 1;
    if (s[n] == '=') {
        *inl = s + n + 1;
        return 1;
    }
    return 0;
}

/* The value of the option just matched: inline, or the next argument. */
static const char *take_value(cli_args *a, const char *name, const char *inl) {
    if (inl) {
        if (!*inl) {
            a->error = cli_usage_error(a->cmd, "--%s needs a value", name);
            return NULL;
        }
        return inl;
    }
    if (a->i + 1 >= a->argc) {
        a->error = cli_usage_error(a->cmd, "--%s needs a value", name);
        return NULL;
    }
    const char *v = a->argv[a->i + 1];
    if (v[0] == '-' && v[1] == '-') {
        a->error = cli_usage_error(a->cmd, "--%s needs a value, got the option '%s'", name, v);
        return NULL;
    }
    a->i++;
    return v;
}

int cli_flag(cli_args *a, const char *name) {
    const char *inl;
    if (!strcmp(name, "help") && !strcmp(a->arg, "-h")) {
        a->help = 1;
        return 1;
    }
    if (!match(a, name, &inl)) return 0;
    if (inl) {
        a->error = cli_usage_error(a->cmd, "--%s takes no value", name);
        return 1;
    }
    if (!strcmp(name, "help")) a->help = 1;
    return 1;
}

int cli_str(cli_args *a, const char *name, const char **out) {
    const char *inl;
    if (!match(a, name, &inl)) return 0;
    const char *v = take_value(a, name, inl);
    if (v) *out = v;
    return 1;
}

int cli_parse_long(const char *s, long lo, long hi, long *out) {
    if (!s || !*s || (*s != '-' && *s != '+' && (*s < '0' || *s > '9'))) return 0;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return 0;
    *out = v;
    return 1;
}

int cli_parse_double(const char *s, double lo, double hi, double *out) {
    /* strtod would also take "nan", "inf", hex floats and leading spaces */
    if (!s || !*s || (*s != '-' && *s != '+' && *s != '.' && (*s < '0' || *s > '9'))) return 0;
    for (const char *p = s; *p; p++)
        if (*p == 'x' || *p == 'X' || *p == 'n' || *p == 'N' || *p == 'i' || *p == 'I') return 0;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || !(v >= lo && v <= hi)) return 0;
    *out = v;
    return 1;
}

int cli_int(cli_args *a, const char *name, long lo, long hi, int *out) {
    const char *inl;
    if (!match(a, name, &inl)) return 0;
    const char *v = take_value(a, name, inl);
    if (!v) return 1;
    long x;
    if (!cli_parse_long(v, lo, hi, &x))
        a->error = cli_usage_error(a->cmd, "--%s: expected an integer in %ld..%ld, got '%s'", name, lo, hi, v);
    else
        *out = (int)x;
    return 1;
}

int cli_u64(cli_args *a, const char *name, uint64_t *out) {
    const char *inl;
    if (!match(a, name, &inl)) return 0;
    const char *v = take_value(a, name, inl);
    if (!v) return 1;
    char *end;
    errno = 0;
    unsigned long long x = 0;
    int ok = v[0] >= '0' && v[0] <= '9';
    if (ok) {
        x = strtoull(v, &end, 10);
        ok = !errno && end != v && !*end;
    }
    if (!ok)
        a->error = cli_usage_error(a->cmd, "--%s: expected a non-negative integer below 2^64, got '%s'", name, v);
    else
        *out = (uint64_t)x;
    return 1;
}

int cli_double(cli_args *a, const char *name, double lo, double hi, double *out) {
    const char *inl;
    if (!match(a, name, &inl)) return 0;
    const char *v = take_value(a, name, inl);
    if (!v) return 1;
    if (!cli_parse_double(v, lo, hi, out))
        a->error = cli_usage_error(a->cmd, "--%s: expected a number in [%g, %g], got '%s'", name, lo, hi, v);
    return 1;
}

int cli_choice(cli_args *a, const char *name, const char *const *choices, int *out) {
    const char *inl;
    if (!match(a, name, &inl)) return 0;
    const char *v = take_value(a, name, inl);
    if (!v) return 1;
    for (int k = 0; choices[k]; k++)
        if (!strcmp(v, choices[k])) {
            *out = k;
            return 1;
        }
    char list[256];
    size_t o = 0;
    list[0] = '\0';
    for (int k = 0; choices[k] && o < sizeof list; k++) {
        int w = snprintf(list + o, sizeof list - o, k ? ", %s" : "%s", choices[k]);
        if (w < 0) break;
        o += (size_t)w;
    }
    a->error = cli_usage_error(a->cmd, "--%s: expected one of %s, got '%s'", name, list, v);
    return 1;
}

int cli_positional(cli_args *a, const char **out) {
    const char *s = a->arg;
    if (s[0] == '-' && s[1] != '\0') return 0;
    if (*out) {
        a->error = cli_usage_error(a->cmd, "unexpected argument '%s'", s);
        return 1;
    }
    *out = s;
    return 1;
}

int cli_unknown(cli_args *a) {
    if (a->arg[0] == '-')
        a->error = cli_usage_error(a->cmd, "unknown option '%s'", a->arg);
    else
        a->error = cli_usage_error(a->cmd, "unexpected argument '%s'", a->arg);
    return 1;
}

static void log_verbose(void *user, al_log_level level, const char *msg) {
    (void)user;
    fprintf(stderr, "autlearn: %s: %s\n",
            level >= AL_LOG_ERROR ? "error" : level >= AL_LOG_WARN ? "warning" : "info", msg);
}

void cli_log_verbose(void) { al_set_log(log_verbose, NULL, AL_LOG_INFO); }

int cli_pool(const char *cmd, int threads, al_pool **out) {
    al_status st = al_pool_new(threads, out);
    if (st != AL_OK) return cli_fail_lib(cmd, st);
    return CLI_EXIT_OK;
}

void cli_shape_str(const al_tensor *t, char *buf, size_t cap) {
    size_t o = 0;
    if (cap) buf[0] = '\0';
    for (int i = 0; i < t->ndim && o < cap; i++) {
        int w = snprintf(buf + o, cap - o, i ? "x%d" : "%d", t->shape[i]);
        if (w < 0) break;
        o += (size_t)w;
    }
}

void cli_basename(const char *path, char *buf, size_t cap) {
    if (!cap) return;
    size_t end = strlen(path);
    while (end > 1 && path[end - 1] == '/') end--;
    size_t start = end;
    while (start > 0 && path[start - 1] != '/') start--;
    size_t n = end - start;
    if (n == 0 && end > 0) n = 1; /* the path "/" */
    if (n >= cap) n = cap - 1;
    memcpy(buf, path + start, n);
    buf[n] = '\0';
}

double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- JSON output ----------------------------------------------------------------- */

void cli_json_init(cli_json *j, FILE *f) {
    memset(j, 0, sizeof *j);
    j->f = f;
    j->first[0] = 1;
}

/* Length of the valid UTF-8 sequence at s, or 0 if it is not one. */
static int utf8_len(const unsigned char *s) {
    unsigned c = s[0];
    int n;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F; /* no UTF-16 surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else
        return 0;
    if (s[1] < lo || s[1] > hi) return 0;
    for (int k = 2; k < n; k++)
        if (s[k] < 0x80 || s[k] > 0xBF) return 0;
    return n;
}

void cli_json_escape(FILE *f, const char *str) {
    const unsigned char *s = (const unsigned char *)str;
    fputc('"', f);
    while (*s) {
        unsigned c = *s;
        if (c == '"' || c == '\\') {
            fputc('\\', f);
            fputc((int)c, f);
            s++;
        } else if (c < 0x20 || c == 0x7F) {
            switch (c) {
            case '\n': fputs("\\n", f); break;
            case '\t': fputs("\\t", f); break;
            case '\r': fputs("\\r", f); break;
            case '\b': fputs("\\b", f); break;
            case '\f': fputs("\\f", f); break;
            default: fprintf(f, "\\u%04x", c); break;
            }
            s++;
        } else if (c < 0x80) {
            fputc((int)c, f);
            s++;
        } else {
            int n = utf8_len(s);
            if (n) {
                fwrite(s, 1, (size_t)n, f);
                s += n;
            } else {
                fputs("\\ufffd", f);
                s++;
            }
        }
    }
    fputc('"', f);
}

/* Comma, indentation and key before a value. */
static void pre(cli_json *j, const char *key) {
    if (!j->first[j->depth]) fputc(',', j->f);
    j->first[j->depth] = 0;
    if (j->depth > 0) {
        fputc('\n', j->f);
        for (int d = 0; d < j->depth; d++) fputs("  ", j->f);
    }
    if (key) {
        cli_json_escape(j->f, key);
        fputs(": ", j->f);
    }
}

static void json_open(cli_json *j, const char *key, int ch) {
    pre(j, key);
    fputc(ch, j->f);
    if (j->depth + 1 < (int)(sizeof j->first / sizeof j->first[0])) j->depth++;
    j->first[j->depth] = 1;
}

static void json_close(cli_json *j, int ch) {
    int empty = j->first[j->depth];
    if (j->depth > 0) j->depth--;
    if (!empty) {
        fputc('\n', j->f);
        for (int d = 0; d < j->depth; d++) fputs("  ", j->f);
    }
    fputc(ch, j->f);
}

void cli_json_begin_object(cli_json *j, const char *key) { json_open(j, key, '{'); }
void cli_json_end_object(cli_json *j) { json_close(j, '}'); }
void cli_json_begin_array(cli_json *j, const char *key) { json_open(j, key, '['); }
void cli_json_end_array(cli_json *j) { json_close(j, ']'); }

void cli_json_str(cli_json *j, const char *key, const char *v) {
    pre(j, key);
    if (v)
        cli_json_escape(j->f, v);
    else
        fputs("null", j->f);
}

void cli_json_num(cli_json *j, const char *key, double v) {
    pre(j, key);
    if (!isfinite(v)) {
        fputs("null", j->f);
        return;
    }
    /* the shortest of %.15g / %.17g that reads back as the same double */
    char buf[40];
    snprintf(buf, sizeof buf, "%.15g", v);
    if (strtod(buf, NULL) != v) snprintf(buf, sizeof buf, "%.17g", v);
    fputs(buf, j->f);
}

void cli_json_num_digits(cli_json *j, const char *key, double v, int digits) {
    pre(j, key);
    if (!isfinite(v))
        fputs("null", j->f);
    else
        fprintf(j->f, "%.*g", digits < 1 ? 1 : digits > 17 ? 17 : digits, v);
}

void cli_json_int(cli_json *j, const char *key, long long v) {
    pre(j, key);
    fprintf(j->f, "%lld", v);
}

void cli_json_bool(cli_json *j, const char *key, int v) {
    pre(j, key);
    fputs(v ? "true" : "false", j->f);
}

void cli_json_null(cli_json *j, const char *key) {
    pre(j, key);
    fputs("null", j->f);
}

void cli_json_end(cli_json *j) { fputc('\n', j->f); }

/* ---- progress on stderr ------------------------------------------------------------ */

void cli_progress_init(cli_progress *p) {
    memset(p, 0, sizeof *p);
    p->enabled = isatty(fileno(stderr));
    p->last = -1.0;
}

static int term_width(void) {
#ifdef TIOCGWINSZ
    struct winsize ws;
    if (ioctl(fileno(stderr), TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20) return ws.ws_col;
#endif
    return 80;
}

void cli_progress_draw(cli_progress *p, const char *prefix, long long done, long long total, const char *text,
                       int force) {
    if (!p->enabled) return;
    double t = cli_now();
    if (!force && p->last >= 0.0 && t - p->last < 0.1) return;
    p->last = t;
    enum { BAR = 16 };
    char line[512];
    int fill = total > 0 ? (int)((double)BAR * (double)done / (double)total) : 0;
    if (fill > BAR) fill = BAR;
    if (fill < 0) fill = 0;
    size_t o = 0;
    if (prefix) {
        int w = snprintf(line, 200, "%s ", prefix);
        o = w < 0 ? 0 : w >= 200 ? 199 : (size_t)w;
    }
    line[o++] = '[';
    for (int k = 0; k < BAR; k++) line[o++] = k < fill ? '=' : (k == fill ? '>' : ' ');
    line[o++] = ']';
    snprintf(line + o, sizeof line - o, " %lld/%lld %s", done, total, text ? text : "");
    /* a wrapped line would defeat the carriage return */
    size_t w = (size_t)term_width() - 1;
    if (w < sizeof line) line[w] = '\0';
    fprintf(stderr, "\r%s\033[K", line);
    fflush(stderr);
    p->drawn = 1;
}

void cli_progress_clear(cli_progress *p) {
    if (!p->enabled || !p->drawn) return;
    fputs("\r\033[K", stderr);
    fflush(stderr);
    p->drawn = 0;
}

void cli_print_spec(const char *label, const char *spec, const char *file) {
    if (!spec) spec = "(none)";
    /* the layers are "; "-separated after the input */
    const char *cut = NULL, *q = spec;
    long layers = 0;
    while ((q = strstr(q, "; ")) != NULL) {
        if (++layers == CLI_SPEC_LAYERS + 1) cut = q;
        q += 2;
    }
    if (!cut) {
        printf("%s%s\n", label, spec);
        return;
    }
    printf("%s%.*s; ... (%ld more layers; 'autlearn info %s' lists them all)\n", label, (int)(cut - spec), spec,
           layers - CLI_SPEC_LAYERS, file);
}
