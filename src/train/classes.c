/* New classes on the device: a label the model does not know becomes a new
 * output class. The output layer (the last node, a dense layer) grows by
 * one row per new class, and each new row starts by imprinting from the
 * class's frozen features (Qi, Brown, Lowe: "Low-Shot Learning with Imprinted
 * Weights", CVPR 2018), adapted to an unnormalized linear classifier:
 *
 *   f_i     the output layer's input for sample i (the frozen features)
 *   mu_j    the mean of f_i over new class j's samples
 *   c       the mean of f_i over all of the data's samples (every class)
 *   r_j     mu_j - c less its projection onto the span of the old rows of W
 *           (mu_j - c is mu_j when the data holds class j alone; mu_j when
 *           the projection leaves nothing, e.g. more classes than features)
 *   s       the mean Euclidean norm of the old rows
 *   w_j   = s * r_j / |r_j|          (the class's own direction, at the
 *                                      scale of the rows it competes with)
 *   b_j   = mean_i max_k z_k(f_i) - w_j . mu_j   over class j's samples,
 *           z_k the old logits        (at its own mean the new class scores
 *                                      what the strongest old class scores
 *                                      on its samples on average)
 *
 * Why the projection: frozen features after a ReLU are all positive, so
 * any two of them point roughly the same way, and a row along the plain
 * mean mu_j scores every image high, old classes' too. The part of mu_j in
 * the old rows' span is what the old classes already measure; the rest is
 * what tells the new class apart; centering by the data's mean first (as
 * few-shot nearest-centroid methods center features) removes what all of
 * the user's images share. Measured on Fashion-MNIST (a cloud model of 8
 * classes, 20 images of each of 2 new ones, validation images, 3 draws):
 * the plain mean cost the old classes 7 points before any training, the
 * projected one 2.0, centered and projected 1.5, with more of the new
 * classes right (README, "New classes on the device").
 * Why this bias: the new logit has to be on the old logits' scale, which is
 * set by the cloud's training and not by any constant. Level with the best
 * old class on the class's own samples: the new class wins about half of
 * them before any step, and less elsewhere, where the features point away
 * from r_j. Training then moves the rows from there. The class names go to
 * the model's "autlearn.classes" metadata (output order, joined by '\n'). */
#include "train/train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLASSES_KEY "autlearn.classes"
#define MAX_NAME AL_CLASS_NAME_MAX
#define MAX_CLASSES (1 << 20)

/* The output layer m can grow: its index, or -1 with the error set. */
static int output_node(const al_model *m) {
    int L = m->nnodes - 1;
    const al_node *o = L >= 1 ? &m->nodes[L] : NULL;
    if (!o || o->cfg.type != AL_L_DENSE)
        return al_error(AL_EINVAL, "new classes need a dense output layer as the model's last node"), -1;
    if (o->cfg.act != AL_ACT_NONE)
        return al_error(AL_EINVAL, "new classes need an output layer without activation (logits)"), -1;
    if (o->q) return al_error(AL_EINVAL, "the output layer holds int8 weights: it cannot grow"), -1;
    size_t F = al_shape_numel(&m->nodes[L - 1].out);
    if (o->nparams < 1 || o->cfg.back || o->cfg.in_port || o->params[0].dims[1] != (int)F ||
        o->params[0].dims[0] != o->cfg.units)
        return al_error(AL_EINVAL, "the output layer does not classify one feature vector per sample"), -1;
    return L;
}

int al_model_num_classes(const al_model *m) {
    if (!m || m->nnodes < 1) return 0;
    return (int)al_shape_numel(&m->nodes[m->nnodes - 1].out);
}

al_status al_model_class_name(const al_model *m, int k, char *buf, size_t cap) {
    if (!m || !buf || cap == 0) return al_error(AL_EINVAL, "al_model_class_name: NULL argument");
    int K = al_model_num_classes(m);
    if (k < 0 || k >= K) return al_error(AL_ERANGE, "class %d is out of range (the model has %d)", k, K);
    const char *s = al_model_meta(m, CLASSES_KEY);
    for (int i = 0; s && i < k; i++) {
        s = strchr(s, '\n');
        if (s) s++;
    }
    if (!s) { /* no names (or fewer than classes): the label number */
        snprintf(buf, cap, "%d", k);
        return AL_OK;
    }
    size_t n = strcspn(s, "\n");
    if (n >= cap) return al_error(AL_ERANGE, "class %d's name is longer than %zu bytes", k, cap - 1);
    memcpy(buf, s, n);
    buf[n] = '\0';
    return AL_OK;
}

/* Loops over the classes walk the list once with al_class_name_next
 * (train.h). Each al_model_class_name call walks the list from its first
 * line, and loops over k that called it took O(K x lines): matching one
 * name against a 6 KB model file of 2^26 outputs and 1000 names took some
 * 7 minutes. */
al_status al_class_name_next(const char **s, int k, char *buf) {
    if (!*s) {
        snprintf(buf, MAX_NAME, "%d", k);
        return AL_OK;
    }
    size_t n = strcspn(*s, "\n");
    if (n >= MAX_NAME) return al_error(AL_ERANGE, "class %d's name is longer than %d bytes", k, MAX_NAME - 1);
    memcpy(buf, *s, n);
    buf[n] = '\0';
    *s = (*s)[n] ? *s + n + 1 : NULL;
    return AL_OK;
}

/* The class from `from` on (those past the list's last line, named by their
 * number) that name s names, or -1: s is k written as "%d", from <= k < K. */
static int numbered_class(const char *s, int from, int K) {
    size_t n = strlen(s);
    if (n < 1 || n > 10 || (s[0] == '0' && n > 1) || strspn(s, "0123456789") != n) return -1;
    long long v = strtoll(s, NULL, 10);
    return v >= from && v < K ? (int)v : -1;
}

/* The first class of m (K of them) named s, or -1; AL_ERANGE for a name in
 * the list that is too long (as al_model_class_name), met before a match. */
static al_status find_class(const al_model *m, int K, const char *s, int *k_out) {
    char buf[MAX_NAME];
    const char *l = al_model_meta(m, CLASSES_KEY);
    int k = 0;
    *k_out = -1;
    for (; k < K && l; k++) {
        al_status st = al_class_name_next(&l, k, buf);
        if (st) return st;
        if (!strcmp(buf, s)) {
            *k_out = k;
            return AL_OK;
        }
    }
    *k_out = numbered_class(s, k, K);
    return AL_OK;
}

al_status al_model_match_classes(const al_model *m, const char *const *names, int n, int *map, int *n_unknown) {
    if (!m || (n > 0 && (!names || !map))) return al_error(AL_EINVAL, "al_model_match_classes: NULL argument");
    if (n < 0) return al_error(AL_ERANGE, "al_model_match_classes: negative count");
    int K = al_model_num_classes(m), unknown = 0;
    for (int j = 0; j < n; j++) {
        if (!names[j]) return al_error(AL_EINVAL, "al_model_match_classes: name %d is NULL", j);
        al_status st = find_class(m, K, names[j], &map[j]);
        if (st) return st;
        unknown += map[j] < 0;
    }
    if (n_unknown) *n_unknown = unknown;
    return AL_OK;
}

/* Per new class j (label K + j): the summed features (F each, in mean),
 * the summed top old logit over its samples (top) and their count; and
 * the mean feature of all of d's labelled samples (center, F). */
static al_status class_means(al_model *m, al_pool *pool, const al_dataset *d, int L, int K, int n_new,
                             double *mean, double *top, int *count, double *center) {
    const al_node *o = &m->nodes[L];
    size_t F = al_shape_numel(&m->nodes[L - 1].out), xn = al_shape_numel(&m->in);
    const float *W = o->params[0].w, *b = o->cfg.bias && o->nparams > 1 ? o->params[1].w : NULL;
    enum { CHUNK = 32 };
    float *x = al_malloc(sizeof(float) * xn * CHUNK);
    int *who = al_malloc(sizeof(int) * CHUNK);
    al_status st = x && who ? al_model_plan(m, CHUNK) : AL_ENOMEM;
    long total = 0;
    for (int i = 0; i < d->n && st == AL_OK;) {
        int nb = 0;
        for (; i < d->n && nb < CHUNK; i++) {
            int y = d->y[(size_t)i * (size_t)d->y_len];
            if (y < 0) continue;
            memcpy(x + (size_t)nb * xn, d->x + (size_t)i * xn, sizeof(float) * xn);
            who[nb++] = y >= K && y < K + n_new ? y - K : -1;
        }
        if (nb == 0) break;
        /* the features: the prefix up to the output layer, inference mode */
        if ((st = al_model_forward_range(m, pool, 0, L, x, nb, 0)) != AL_OK) break;
        const float *f = m->act[L - 1];
        for (int s = 0; s < nb; s++) {
            const float *fs = f + (size_t)s * F;
            int j = who[s];
            for (size_t c = 0; c < F; c++) center[c] += fs[c];
            total++;
            if (j < 0) continue;
            double best = -INFINITY;
            for (int k = 0; k < K; k++) {
                double z = b ? b[k] : 0.0;
                for (size_t c = 0; c < F; c++) z += (double)W[(size_t)k * F + c] * fs[c];
                if (z > best) best = z;
            }
            for (size_t c = 0; c < F; c++) mean[(size_t)j * F + c] += fs[c];
            top[j] += best;
            count[j]++;
        }
    }
    for (size_t c = 0; c < F && total > 0; c++) center[c] /= (double)total;
    al_free(x);
    al_free(who);
    return st;
}

static double dot_d(const double *a, const double *b, size_t n) {
    double d = 0.0;
    for (size_t c = 0; c < n; c++) d += a[c] * b[c];
    return d;
}

/* An orthonormal basis of the old rows' span (modified Gram-Schmidt, in
 * q: at most K x F); returns its size. Rows that add nothing are left out. */
static int old_basis(const float *W, int K, size_t F, double *q) {
    int nq = 0;
    for (int k = 0; k < K; k++) {
        double *v = q + (size_t)nq * F, n0 = 0.0;
        for (size_t c = 0; c < F; c++) {
            v[c] = W[(size_t)k * F + c];
            n0 += v[c] * v[c];
        }
        for (int t = 0; t < nq; t++) {
            double d = dot_d(v, q + (size_t)t * F, F);
            for (size_t c = 0; c < F; c++) v[c] -= d * q[(size_t)t * F + c];
        }
        double n = sqrt(dot_d(v, v, F));
        if (!(n > 1e-6 * sqrt(n0))) continue;
        for (size_t c = 0; c < F; c++) v[c] /= n;
        nq++;
    }
    return nq;
}

/* The imprinted rows (n_new x F) and biases, by the rule at the top; q is
 * scratch: (K + 1) x F doubles, the basis and the residual after it. */
static void imprint_rows(const al_node *o, int K, int n_new, size_t F, double *mean, const double *top,
                         const int *count, const double *center, double *q, float *wn, float *bn) {
    const float *W = o->params[0].w;
    double s = 0.0;
    for (int k = 0; k < K; k++) {
        double n2 = 0.0;
        for (size_t c = 0; c < F; c++) n2 += (double)W[(size_t)k * F + c] * W[(size_t)k * F + c];
        s += sqrt(n2);
    }
    s /= K;
    int nq = old_basis(W, K, F, q);
    for (int j = 0; j < n_new; j++) {
        double *mu = mean + (size_t)j * F, *r = q + (size_t)nq * F;
        for (size_t c = 0; c < F; c++) mu[c] /= count[j];
        /* centered by the data's mean; when the data is this class alone, not */
        double mn = sqrt(dot_d(mu, mu, F));
        for (size_t c = 0; c < F; c++) r[c] = mu[c] - center[c];
        if (!(sqrt(dot_d(r, r, F)) > 1e-6 * mn)) memcpy(r, mu, sizeof(double) * F);
        double rn0 = sqrt(dot_d(r, r, F));
        for (int t = 0; t < nq; t++) {
            double d = dot_d(r, q + (size_t)t * F, F);
            for (size_t c = 0; c < F; c++) r[c] -= d * q[(size_t)t * F + c];
        }
        /* nothing left outside the old rows' span: the plain mean */
        const double *dir = sqrt(dot_d(r, r, F)) > 1e-6 * rn0 ? r : mu;
        double norm = sqrt(dot_d(dir, dir, F)), dt = 0.0;
        for (size_t c = 0; c < F; c++) {
            float w = norm > 0.0 ? (float)(s * dir[c] / norm) : 0.0f;
            wn[(size_t)j * F + c] = w;
            dt += (double)w * mu[c];
        }
        bn[j] = (float)(top[j] / count[j] - dt);
    }
}

/* m's names, then the new ones, joined by '\n'. */
static al_status store_names(al_model *m, int K, int n_new, const char *const *names) {
    size_t cap = (size_t)(K + n_new) * MAX_NAME + 1, len = 0;
    char *all = al_malloc(cap), buf[MAX_NAME];
    if (!all) return AL_ENOMEM;
    al_status st = AL_OK;
    const char *l = al_model_meta(m, CLASSES_KEY);
    for (int k = 0; k < K + n_new && st == AL_OK; k++) {
        if (k < K)
            st = al_class_name_next(&l, k, buf);
        else if (names)
            snprintf(buf, sizeof buf, "%s", names[k - K]);
        else
            snprintf(buf, sizeof buf, "%d", k);
        if (st) break;
        size_t n = strlen(buf);
        memcpy(all + len, buf, n);
        len += n;
        all[len++] = k + 1 < K + n_new ? '\n' : '\0';
    }
    if (st == AL_OK) st = al_model_set_meta(m, CLASSES_KEY, all);
    al_free(all);
    return st;
}

static al_status check_names(const al_model *m, int n_new, const char *const *names) {
    if (!names) return AL_OK;
    int K = al_model_num_classes(m);
    for (int j = 0; j < n_new; j++) {
        const char *s = names[j];
        if (!s || !*s) return al_error(AL_EINVAL, "new class %d has no name", j);
        if (strlen(s) >= MAX_NAME) return al_error(AL_ERANGE, "new class %d's name is over %d bytes", j, MAX_NAME - 1);
        if (strchr(s, '\n')) return al_error(AL_EINVAL, "new class name '%s' holds a newline", s);
        int k;
        al_status st = find_class(m, K, s, &k);
        if (st) return st;
        for (int i = 0; i < j && k < 0; i++)
            if (!strcmp(names[i], s)) k = K + i;
        if (k >= 0) return al_error(AL_EINVAL, "class name '%s' is taken", s);
    }
    return AL_OK;
}

/* The grown model: m's nodes, the output layer's units K + n_new, every
 * weight copied, the new rows and biases appended. */
static al_status grow(const al_model *m, int L, int n_new, const float *wn, const float *bn, al_model **out) {
    al_layer_cfg *layers = al_malloc(sizeof *layers * (size_t)m->nnodes);
    if (!layers) return AL_ENOMEM;
    for (int i = 0; i < m->nnodes; i++) layers[i] = m->nodes[i].cfg;
    int K = layers[L].units;
    layers[L].units = K + n_new;
    al_model *g;
    al_status st = al_model_build(&m->in, m->input_tokens, layers, m->nnodes, &g);
    al_free(layers);
    if (st) return st;
    for (int i = 0; i < m->nnodes; i++)
        for (int p = 0; p < m->nodes[i].nparams; p++) {
            const al_param *a = &m->nodes[i].params[p];
            al_param *z = &g->nodes[i].params[p];
            memcpy(z->w, a->w, sizeof(float) * a->n);
            if (i != L) continue;
            /* weight (K + n_new, F): old rows, then new; bias (K + n_new) */
            size_t per = a->n / (size_t)K;
            memcpy(z->w + a->n, p == 0 ? wn : bn, sizeof(float) * per * (size_t)n_new);
        }
    g->rng = m->rng;
    g->plan_naive = m->plan_naive;
    if (!st) st = al_model_freeze(g, m->freeze);
    if (!st) st = al_quant_copy(g, m);
    for (int i = 0; i < m->nmeta && st == AL_OK; i++) st = al_model_set_meta(g, m->meta_key[i], m->meta_val[i]);
    if (st) {
        al_model_free(g);
        return st;
    }
    *out = g;
    return AL_OK;
}

/* The cloud's class prior ("autlearn.class_prior", K comma-separated
 * shares; personalize.c's label-prior correction reads it) for the grown
 * model: the old classes keep their proportions within K / (K + n_new), each
 * new class gets 1 / (K + n_new) (the cloud saw none of them; a uniform
 * prior stays uniform). A missing or malformed prior is left as it is (the
 * reader then takes a uniform one). */
static al_status extend_prior(al_model *g, int K, int n_new) {
    const char *s = al_model_meta(g, "autlearn.class_prior");
    if (!s) return AL_OK;
    double *v = al_malloc(sizeof(double) * (size_t)K), sum = 0.0;
    char *buf = al_malloc((size_t)(K + n_new) * 24 + 1);
    al_status st = v && buf ? AL_OK : AL_ENOMEM;
    int ok = st == AL_OK;
    for (int k = 0; ok && k < K; k++) {
        char *end;
        v[k] = strtod(s, &end);
        ok = end != s && v[k] > 0.0 && v[k] <= 1.0 && (k < K - 1 ? *end == ',' : *end == '\0');
        sum += ok ? v[k] : 0.0;
        s = end + 1;
    }
    if (ok) {
        size_t len = 0;
        for (int k = 0; k < K + n_new; k++) {
            double q = k < K ? v[k] / sum * K / (K + n_new) : 1.0 / (K + n_new);
            len += (size_t)snprintf(buf + len, 24, "%s%.6g", k ? "," : "", q);
        }
        st = al_model_set_meta(g, "autlearn.class_prior", buf);
    }
    al_free(v);
    al_free(buf);
    return st;
}

al_status al_model_add_classes(al_model *m, al_pool *pool, const al_dataset *d, int n_new, const char *const *names) {
    if (!m || !d) return al_error(AL_EINVAL, "al_model_add_classes: NULL argument");
    int L = output_node(m);
    if (L < 0) return AL_EINVAL;
    int K = m->nodes[L].cfg.units;
    if (n_new < 1 || n_new > MAX_CLASSES - K)
        return al_error(AL_ERANGE, "new classes must be 1..%d, got %d", MAX_CLASSES - K, n_new);
    if (d->y_len != 1) return al_error(AL_EINVAL, "new classes need one label per sample, got %d", d->y_len);
    if (n_new > d->n) /* each needs a sample: no allocation sized by a bare count */
        return al_error(AL_EINVAL, "%d new classes need at least as many samples, got %d", n_new, d->n);
    int same = d->xs.ndim == m->in.ndim;
    for (int i = 0; same && i < m->in.ndim; i++) same = d->xs.d[i] == m->in.d[i];
    if (!same) return al_error(AL_ESHAPE, "the samples' shape is not the model's input");
    al_status st = check_names(m, n_new, names);
    if (st) return st;
    size_t F = al_shape_numel(&m->nodes[L - 1].out);
    double *mean = al_calloc((size_t)n_new * F, sizeof(double)), *top = al_calloc((size_t)n_new, sizeof(double));
    int *count = al_calloc((size_t)n_new, sizeof(int));
    float *wn = al_malloc(sizeof(float) * (size_t)n_new * F), *bn = al_malloc(sizeof(float) * (size_t)n_new);
    double *q = al_malloc(sizeof(double) * ((size_t)K + 1) * F), *center = al_calloc(F, sizeof(double));
    al_model *g = NULL;
    st = mean && top && count && wn && bn && q && center ? AL_OK : AL_ENOMEM;
    if (!st) st = class_means(m, pool, d, L, K, n_new, mean, top, count, center);
    for (int j = 0; j < n_new && st == AL_OK; j++)
        if (count[j] == 0) {
            char nm[MAX_NAME];
            snprintf(nm, sizeof nm, "%s", names ? names[j] : "");
            if (!names) snprintf(nm, sizeof nm, "%d", K + j);
            st = al_error(AL_EINVAL, "new class %s (label %d) has no sample to imprint from", nm, K + j);
        }
    if (!st) {
        imprint_rows(&m->nodes[L], K, n_new, F, mean, top, count, center, q, wn, bn);
        if (!m->nodes[L].cfg.bias) memset(bn, 0, sizeof(float) * (size_t)n_new); /* no bias to set */
        st = grow(m, L, n_new, wn, bn, &g);
    }
    if (!st) st = store_names(g, K, n_new, names);
    if (!st) st = extend_prior(g, K, n_new);
    if (!st) {
        /* the caller's handle now holds the grown model */
        al_model old = *m;
        *m = *g;
        *g = old;
    }
    al_model_free(g);
    al_free(mean);
    al_free(top);
    al_free(count);
    al_free(wn);
    al_free(bn);
    al_free(q);
    al_free(center);
    return st;
}
