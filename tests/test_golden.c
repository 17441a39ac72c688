/* Golden tests against PyTorch: every tests/golden/<case>.bin written by
 * scripts/gen_golden.py (format in its docstring) holds a spec, input x, loss
 * weights r, PyTorch's output y, input gradient dx, weights and weight
 * gradients under autlearn's names. The model is built from the spec, its
 * weights overwritten with the stored ones, run forward in training mode and
 * backward with dlogits = r, and y, dx, every gradient and the batch-norm
 * running statistics are compared within 1e-4 absolute + 1e-4 relative.
 * Softmax cross-entropy cases call al_softmax_ce directly.
 *
 * Each model case runs twice, on the calling thread and on a 3-thread pool.
 * The test fails when the directory holds no case, a file is unreadable or
 * malformed, a case's layer is missing, or nothing was compared.
 *
 * Usage: test_golden [DIR]   (default: $AL_GOLDEN_DIR, else tests/golden) */
#include "al_test.h"

#include <dirent.h>
#include <stdint.h>

#define GD_TOL 1e-4
#define GD_MAX_RECS 256


typedef struct gd_rec {
    char name[96];
    int kind; /* 0 floats, 1 string */
    int ndim;
    int dims[4];
    size_t n;
    float *f;  /* kind 0: n floats (malloc'd) */
    char *s;   /* kind 1: NUL-terminated (malloc'd) */
} gd_rec;

typedef struct gd_file {
    const char *name;
    int nrec;
    gd_rec rec[GD_MAX_RECS];
} gd_file;

static long g_checks;   /* tensors compared */

static void gd_free(gd_file *g) {
    for (int i = 0; i < g->nrec; i++) {
        free(g->rec[i].f);
        free(g->rec[i].s);
    }
    g->nrec = 0;
}

static uint32_t rd_u32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Reads and validates a whole file; every length is checked against what is
 * left. Returns 0 on success, prints why and returns 1 otherwise. */
static int gd_load(const char *path, gd_file *g) {
    g->nrec = 0;
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        fprintf(stderr, "golden: cannot open %s\n", path);
        return 1;
    }
    unsigned char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 65536;
            if (cap > ((size_t)64 << 20)) break;
            unsigned char *nb = realloc(buf, cap);
            if (!nb) break;
            buf = nb;
        }
        size_t got = fread(buf + len, 1, cap - len, fp);
        len += got;
        if (got == 0) break;
    }
    int err = ferror(fp) || !feof(fp);
    fclose(fp);
    if (err || !buf) {
        fprintf(stderr, "golden: cannot read %s\n", path);
        free(buf);
        return 1;
    }
    size_t o = 0;
#define NEED(k)                                                                                                 \
    do {                                                                                                        \
        if ((size_t)(k) > len - o) {                                                                            \
            fprintf(stderr, "golden: %s is truncated at byte %zu\n", path, o);                                  \
            goto bad;                                                                                           \
        }                                                                                                       \
    } while (0)
    NEED(12);
    if (memcmp(buf, "ALGD", 4) != 0 || rd_u32(buf + 4) != 1) {
        fprintf(stderr, "golden: %s: bad magic or version\n", path);
        goto bad;
    }
    uint32_t count = rd_u32(buf + 8);
    o = 12;
    if (count == 0 || count > GD_MAX_RECS) {
        fprintf(stderr, "golden: %s: %u records (want 1..%d)\n", path, count, GD_MAX_RECS);
        goto bad;
    }
    for (uint32_t i = 0; i < count; i++) {
        gd_rec *r = &g->rec[g->nrec];
        memset(r, 0, sizeof *r);
        NEED(4);
        uint32_t nl = rd_u32(buf + o);
        o += 4;
        if (nl == 0 || nl >= sizeof r->name) {
            fprintf(stderr, "golden: %s: record name length %u\n", path, nl);
            goto bad;
        }
        NEED(nl);
        memcpy(r->name, buf + o, nl);
        o += nl;
        NEED(8);
        uint32_t kind = rd_u32(buf + o), ndim = rd_u32(buf + o + 4);
        o += 8;
        if (kind > 1 || ndim > 4 || (kind == 1 && ndim != 1)) {
            fprintf(stderr, "golden: %s: record %s has kind %u ndim %u\n", path, r->name, kind, ndim);
            goto bad;
        }
        NEED(4 * (size_t)ndim);
        size_t n = 1;
        for (uint32_t d = 0; d < ndim; d++) {
            uint32_t v = rd_u32(buf + o + 4 * d);
            if (v == 0 || v > (1u << 24) || n > ((size_t)1 << 24) / v) {
                fprintf(stderr, "golden: %s: record %s has bad dimension %u\n", path, r->name, v);
                goto bad;
            }
            r->dims[d] = (int)v;
            n *= v;
        }
        o += 4 * (size_t)ndim;
        r->kind = (int)kind;
        r->ndim = (int)ndim;
        r->n = n;
        g->nrec++; /* from here on the record owns what it allocates */
        if (kind == 1) {
            NEED(n);
            r->s = malloc(n + 1);
            if (!r->s) goto bad;
            memcpy(r->s, buf + o, n);
            r->s[n] = '\0';
            o += n;
        } else {
            NEED(4 * n);
            r->f = malloc(sizeof(float) * n);
            if (!r->f) goto bad;
            for (size_t j = 0; j < n; j++) {
                uint32_t u = rd_u32(buf + o + 4 * j);
                memcpy(&r->f[j], &u, 4);
            }
            o += 4 * n;
        }
    }
    if (o != len) {
        fprintf(stderr, "golden: %s: %zu trailing bytes\n", path, len - o);
        goto bad;
    }
#undef NEED
    free(buf);
    return 0;
bad:
    free(buf);
    gd_free(g);
    return 1;
}

static const gd_rec *gd_find(const gd_file *g, const char *name) {
    for (int i = 0; i < g->nrec; i++)
        if (strcmp(g->rec[i].name, name) == 0) return &g->rec[i];
    return NULL;
}

static const gd_rec *gd_floats(const gd_file *g, const char *name) {
    const gd_rec *r = gd_find(g, name);
    return r && r->kind == 0 ? r : NULL;
}

/* Compares n floats, prints the largest errors; returns 1 on a mismatch. */
static int gd_compare(const char *cas, const char *label, const char *what, const float *got, const float *want,
                      size_t n) {
    double max_abs = 0, max_rel = 0, max_ref = 0;
    size_t bad = 0, worst = 0;
    for (size_t i = 0; i < n; i++) {
        double a = got[i], b = want[i], d = fabs(a - b);
        if (fabs(b) > max_ref) max_ref = fabs(b);
        if (!(d <= GD_TOL + GD_TOL * fabs(b))) { /* NaN fails too */
            if (bad == 0 || !(d <= max_abs)) worst = i;
            bad++;
        }
        if (!(d <= max_abs)) max_abs = d;
        double rel = d / fmax(fabs(b), 1e-6);
        if (!(rel <= max_rel)) max_rel = rel;
    }
    g_checks++;
    fprintf(stderr, "  %-24s %s %-22s n=%-5zu max abs err %.3g  max rel err %.3g  (max |ref| %.3g)%s\n", cas, label,
            what, n, max_abs, max_rel, max_ref, bad ? "  MISMATCH" : "");
    /* an all-zero reference would let a layer that writes nothing pass */
    if (max_ref == 0.0) {
        fprintf(stderr, "golden %s %s %s: the reference is all zero, the case is degenerate\n", cas, label, what);
        return 1;
    }
    if (bad) {
        fprintf(stderr, "golden %s %s %s: %zu of %zu values off; worst [%zu] autlearn %.8g pytorch %.8g\n", cas, label,
                what, bad, n, worst, (double)got[worst], (double)want[worst]);
        return 1;
    }
    return 0;
}

/* Splits "<i>.<param>[.grad|.after]"; returns 1 when it has that form. */
static int gd_param_key(const char *name, int *node, char *param, size_t cap, const char **suffix) {
    char *end;
    long i = strtol(name, &end, 10);
    if (end == name || *end != '.' || i < 0 || i >= AL_MAX_NODES) return 0;
    const char *p = end + 1, *dot = strchr(p, '.');
    size_t k = dot ? (size_t)(dot - p) : strlen(p);
    if (k == 0 || k >= cap) return 0;
    memcpy(param, p, k);
    param[k] = '\0';
    *node = (int)i;
    *suffix = dot ? dot : "";
    return 1;
}

static al_param *model_param(al_model *m, int node, const char *name) {
    if (node < 0 || node >= m->nnodes) return NULL;
    for (int p = 0; p < m->nodes[node].nparams; p++)
        if (strcmp(m->nodes[node].params[p].name, name) == 0) return &m->nodes[node].params[p];
    return NULL;
}

/* Overwrites every parameter with the stored one, checking names and dims. */
static int load_weights(const gd_file *g, al_model *m) {
    int fails = 0;
    for (int i = 0; i < m->nnodes; i++)
        for (int p = 0; p < m->nodes[i].nparams; p++) {
            al_param *pr = &m->nodes[i].params[p];
            char key[128];
            snprintf(key, sizeof key, "%d.%s", i, pr->name);
            const gd_rec *r = gd_floats(g, key);
            if (!r) {
                fprintf(stderr, "golden %s: no record %s for node %d (%s)\n", g->name, key, i,
                        m->nodes[i].vt->name);
                fails++;
                continue;
            }
            int same = r->ndim == pr->ndim && r->n == pr->n;
            for (int d = 0; same && d < r->ndim; d++) same = r->dims[d] == pr->dims[d];
            if (!same) {
                fprintf(stderr, "golden %s: %s has dims [%d,%d,%d,%d]/%d in the file, [%d,%d,%d,%d]/%d in the model\n",
                        g->name, key, r->dims[0], r->dims[1], r->dims[2], r->dims[3], r->ndim, pr->dims[0],
                        pr->dims[1], pr->dims[2], pr->dims[3], pr->ndim);
                fails++;
                continue;
            }
            memcpy(pr->w, r->f, sizeof(float) * pr->n);
        }
    return fails;
}

/* One forward + backward on `pool`, compared with the file. */
static int run_model(const gd_file *g, al_model *m, al_pool *pool, const char *label, int n, const float *x,
                     const gd_rec *r, const gd_rec *y, const gd_rec *dx) {
    int fails = load_weights(g, m);
    if (fails) return fails;
    al_model_zero_grad(m);
    al_model_reset_state(m);
    const float *out;
    al_status st = al_model_forward_from(m, pool, 0, x, n, 1, &out);
    if (st != AL_OK) {
        fprintf(stderr, "golden %s: forward: %s\n", g->name, al_last_error());
        return 1;
    }
    fails += gd_compare(g->name, label, "y", out, y->f, y->n);
    st = al_model_backward(m, pool, x, r->f, n);
    if (st != AL_OK) {
        fprintf(stderr, "golden %s: backward: %s\n", g->name, al_last_error());
        return fails + 1;
    }
    if (dx) fails += gd_compare(g->name, label, "dx", m->dinput, dx->f, dx->n);
    for (int i = 0; i < m->nnodes; i++)
        for (int p = 0; p < m->nodes[i].nparams; p++) {
            al_param *pr = &m->nodes[i].params[p];
            char key[128];
            if (pr->is_state) {
                snprintf(key, sizeof key, "%d.%s.after", i, pr->name);
                const gd_rec *a = gd_floats(g, key);
                if (!a || a->n != pr->n) {
                    fprintf(stderr, "golden %s: missing or mis-sized %s\n", g->name, key);
                    fails++;
                    continue;
                }
                fails += gd_compare(g->name, label, key, pr->w, a->f, pr->n);
                continue;
            }
            snprintf(key, sizeof key, "%d.%s.grad", i, pr->name);
            const gd_rec *gr = gd_floats(g, key);
            if (gr) {
                if (gr->n != pr->n) {
                    fprintf(stderr, "golden %s: %s has %zu values, the model %zu\n", g->name, key, gr->n, pr->n);
                    fails++;
                    continue;
                }
                fails += gd_compare(g->name, label, key, pr->g, gr->f, pr->n);
            } else {
                /* frozen in PyTorch: autlearn must not have touched the gradient */
                double s = 0;
                for (size_t j = 0; j < pr->n; j++) s += fabs(pr->g[j]);
                g_checks++;
                fprintf(stderr, "  %-24s %s %-22s frozen, |grad| sum %.3g%s\n", g->name, label, key, s,
                        s != 0.0 ? "  MISMATCH" : "");
                if (s != 0.0) fails++;
            }
        }
    return fails;
}

static int model_case(const gd_file *g, const char *spec, al_pool *pool3) {
    /* which layers does it need? */
    al_layer_cfg *layers;
    al_shape in;
    int tokens = 0, nl = 0;
    if (al_spec_parse_alloc(spec, &in, &tokens, &layers, &nl) != AL_OK) {
        fprintf(stderr, "golden %s: spec '%s': %s\n", g->name, spec, al_last_error());
        return 1;
    }
    for (int i = 0; i < nl; i++)
        if (!al_layer_vtable(layers[i].type)) {
            fprintf(stderr, "golden %s: layer %s is missing from the library\n", g->name,
                    al_layer_type_name(layers[i].type));
            al_free(layers);
            return 1;
        }
    al_free(layers);
    al_model *m;
    if (al_model_from_spec(spec, 1, &m) != AL_OK) {
        fprintf(stderr, "golden %s: spec '%s': %s\n", g->name, spec, al_last_error());
        return 1;
    }
    int fails = 0;
    /* every parameter record must name a parameter of the model */
    for (int k = 0; k < g->nrec; k++) {
        int node;
        char pn[64];
        const char *suffix;
        if (!gd_param_key(g->rec[k].name, &node, pn, sizeof pn, &suffix)) continue;
        if (!model_param(m, node, pn)) {
            fprintf(stderr, "golden %s: record %s names no parameter of the model\n", g->name, g->rec[k].name);
            fails++;
        }
    }
    const gd_rec *x = gd_floats(g, "x"), *r = gd_floats(g, "r"), *y = gd_floats(g, "y"), *dx = gd_floats(g, "dx");
    const gd_rec *fr = gd_floats(g, "freeze");
    size_t xin = al_shape_numel(&m->in), yout = al_shape_numel(&m->nodes[m->nnodes - 1].out);
    int n = x && x->ndim >= 1 ? x->dims[0] : 0;
    if (!x || !r || !y || n <= 0 || x->n != (size_t)n * xin || y->n != (size_t)n * yout || r->n != y->n ||
        (dx && dx->n != x->n) || (!dx != !!m->input_tokens)) {
        fprintf(stderr, "golden %s: x, r, y or dx missing or of the wrong size for spec '%s'\n", g->name, spec);
        al_model_free(m);
        return fails + 1;
    }
    if (fr) {
        if (fr->n != 1 || al_model_freeze(m, (int)fr->f[0]) != AL_OK) {
            fprintf(stderr, "golden %s: bad freeze record\n", g->name);
            al_model_free(m);
            return fails + 1;
        }
    }
    m->want_input_grad = dx != NULL;
    if (al_model_plan(m, n) != AL_OK) {
        fprintf(stderr, "golden %s: plan: %s\n", g->name, al_last_error());
        al_model_free(m);
        return fails + 1;
    }
    if (!fails) fails += run_model(g, m, NULL, "t1", n, x->f, r, y, dx);
    if (!fails) fails += run_model(g, m, pool3, "t3", n, x->f, r, y, dx);
    al_model_free(m);
    return fails;
}

static int ce_case(const gd_file *g) {
    const gd_rec *lg = gd_floats(g, "logits"), *tg = gd_floats(g, "targets"), *ls = gd_floats(g, "loss");
    const gd_rec *dl = gd_floats(g, "dlogits"), *cr = gd_floats(g, "correct");
    if (!lg || !tg || !ls || !dl || !cr || lg->ndim != 2 || tg->n != (size_t)lg->dims[0] || dl->n != lg->n ||
        ls->n != 1 || cr->n != 1) {
        fprintf(stderr, "golden %s: logits, targets, loss, dlogits or correct missing or mis-sized\n", g->name);
        return 1;
    }
    int rows = lg->dims[0], k = lg->dims[1];
    int32_t *t = malloc(sizeof(int32_t) * (size_t)rows);
    float *d = malloc(sizeof(float) * lg->n);
    long expect_count = 0;
    for (int i = 0; i < rows; i++) {
        t[i] = (int32_t)tg->f[i];
        expect_count += t[i] >= 0;
    }
    /* mean loss: the caller scales by 1/counted rows */
    double loss_sum = -1;
    long count = -1, correct = -1;
    al_softmax_ce(lg->f, t, rows, k, 1.0f / (float)expect_count, d, &loss_sum, &count, &correct);
    int fails = 0;
    g_checks++;
    if (count != expect_count || correct != (long)cr->f[0]) {
        fprintf(stderr, "golden %s: count %ld (want %ld), correct %ld (want %g)\n", g->name, count, expect_count,
                correct, (double)cr->f[0]);
        fails++;
    }
    float mean = count > 0 ? (float)(loss_sum / (double)count) : NAN;
    fails += gd_compare(g->name, "t1", "loss (mean)", &mean, ls->f, 1);
    fails += gd_compare(g->name, "t1", "dlogits", d, dl->f, dl->n);
    free(t);
    free(d);
    return fails;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int main(int argc, char **argv) {
    char dir[1024];
    const char *env = getenv("AL_GOLDEN_DIR");
    if (argc > 1)
        snprintf(dir, sizeof dir, "%s", argv[1]);
    else if (env && *env)
        snprintf(dir, sizeof dir, "%s", env);
    else
        snprintf(dir, sizeof dir, "%s/tests/golden", AL_SOURCE_DIR);

    DIR *dp = opendir(dir);
    if (!dp) {
        fprintf(stderr, "golden: cannot open directory %s (run `make golden`)\n", dir);
        return 1;
    }
    char *names[512];
    int nf = 0;
    struct dirent *de;
    while ((de = readdir(dp)) != NULL) {
        size_t l = strlen(de->d_name);
        if (l > 4 && strcmp(de->d_name + l - 4, ".bin") == 0 && nf < 512) names[nf++] = strdup(de->d_name);
    }
    closedir(dp);
    qsort(names, (size_t)nf, sizeof names[0], cmp_str);
    CHECK(nf > 0);
    if (nf == 0) fprintf(stderr, "golden: no *.bin in %s (run `make golden`)\n", dir);

    al_pool *pool3;
    REQUIRE_OK(al_pool_new(3, &pool3));
    static gd_file g;
    int ran = 0;
    for (int i = 0; i < nf; i++) {
        char path[1600], cas[256];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        snprintf(cas, sizeof cas, "%.*s", (int)(strlen(names[i]) - 4), names[i]);
        if (gd_load(path, &g) != 0) {
            CHECK(!"golden file unreadable or malformed");
            continue;
        }
        g.name = cas;
        const gd_rec *spec = gd_find(&g, "spec");
        long before = g_checks;
        int fails;
        if (spec && spec->kind == 1)
            fails = model_case(&g, spec->s, pool3);
        else if (gd_find(&g, "logits"))
            fails = ce_case(&g);
        else {
            fprintf(stderr, "golden %s: neither a spec nor logits\n", cas);
            fails = 1;
        }
        if (fails) fprintf(stderr, "FAILED %s: %d mismatch(es)\n", cas, fails);
        al_test_failures += fails;
        ran++;
        /* a case must compare something */
        CHECK(g_checks > before);
        gd_free(&g);
    }
    for (int i = 0; i < nf; i++) free(names[i]);
    al_pool_free(pool3);
    fprintf(stderr, "golden: %d file(s), %d run, %ld tensor comparisons\n", nf, ran, g_checks);
    CHECK(g_checks > 0);
    TEST_END("test_golden");
}
