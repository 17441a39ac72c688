/* Training only some rows of the output layer: the user's own words.
 *
 * A next-word model's output layer has a row per vocabulary word (5,003 for
 * the text scenario); a user's text uses a few hundred of them often. With
 * al_personalize_config.train_rows = N only the rows (weights and bias) of
 * the N classes most frequent in the training labels are trained; every
 * other row keeps its cloud value. The loss is still the exact softmax
 * cross-entropy over all classes: for a frozen input x (the cached features
 * of the layer below) the frozen rows' logits never change, so per label
 * position the trainer keeps, from the first time it sees the sample,
 *   rest  = log sum over frozen rows j of exp(w_j . x + b_j)
 *   z_y   = the target's logit when the target is a frozen row,
 *   top   = the largest frozen logit and its row (for the accuracy count),
 * and a step computes only the N trained logits z_s: the softmax runs over
 * [z_0 .. z_{N-1}, rest] (log sum exp of the whole row = log(sum_s e^{z_s}
 * + e^{rest})), a target among the frozen rows is the last column, whose
 * loss differs from the true one by the constant rest - z_y (added back),
 * and whose gradient with respect to the trained logits is the same. A step
 * costs 2 N x (features) multiply-adds per position instead of 2 V x
 * (features); the frozen rows cost one V-wide pass per sample, once.
 *
 * It needs the trainable part to be exactly the model's last node, a dense
 * layer without a fused activation, whose input the trainer is handed (the
 * batch source's node, the freeze point, or the model's input); the optimizer updates
 * only the trained rows (al_optim_restrict_rows), so the other rows stay
 * bit for bit. */

#include "train/train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct al_head {
    int ns, V, r, yl, n, B;
    int *rows;           /* ns: trained rows, ascending */
    int *pos;            /* V: position of a row in rows, -1 for a frozen row */
    int32_t *lab;        /* B*yl: label in the compact columns (ns: a frozen row; -1 none) */
    float *wc, *bc;      /* ns x r, ns: the trained rows gathered */
    float *dwc, *dbc;    /* ns x r, ns: their gradients */
    float *z, *dz;       /* B*yl x (ns+1): trained logits and rest; their gradients */
    float *rest;         /* n*yl x 3: rest, z_y (frozen target), top */
    int32_t *top_row;    /* n*yl: the frozen row of `top` */
    unsigned char *have; /* n: rest known */
    unsigned char *need; /* B: the batch's samples whose rest is computed now */
    const al_dataset *d; /* the training set the rows were chosen from (borrowed) */
    uint64_t macs;
    void *block;
};

/* The head's block, carved in one order by the planner and the allocator. */
static void carve(al_arena *a, al_head *h) {
    size_t rows = (size_t)h->B * (size_t)h->yl, ny = (size_t)h->n * (size_t)h->yl, ns = (size_t)h->ns;
    h->wc = al_arena_floats(a, ns * (size_t)h->r);
    h->bc = al_arena_floats(a, ns);
    h->dwc = al_arena_floats(a, ns * (size_t)h->r);
    h->dbc = al_arena_floats(a, ns);
    h->z = al_arena_floats(a, rows * (ns + 1));
    h->dz = al_arena_floats(a, rows * (ns + 1));
    h->rest = al_arena_floats(a, ny * 3);
    h->rows = al_arena_bytes(a, sizeof(int) * ns);
    h->pos = al_arena_bytes(a, sizeof(int) * (size_t)h->V);
    h->lab = al_arena_bytes(a, sizeof(int32_t) * rows);
    h->top_row = al_arena_bytes(a, sizeof(int32_t) * ny);
    h->have = al_arena_bytes(a, (size_t)h->n);
    h->need = al_arena_bytes(a, (size_t)h->B);
}

size_t al_head_bytes(int n, int y_len, int V, int r, int train_rows, int batch) {
    al_head h;
    memset(&h, 0, sizeof h);
    h.ns = AL_MIN(train_rows, V);
    h.V = V;
    h.r = r;
    h.yl = y_len;
    h.n = n;
    h.B = batch;
    al_arena a = {0};
    carve(&a, &h);
    return a.used;
}

/* The training part must be exactly the last node, a dense layer without a
 * fused activation, rows per sample = labels per sample. */
static al_status check_layer(const al_model *m, int freeze, int y_len, const char **why) {
    const al_node *nd = &m->nodes[m->nnodes - 1];
    if (nd->cfg.type != AL_L_DENSE || nd->cfg.act) {
        *why = "the model's last node is not a dense layer without a fused activation";
        return AL_EINVAL;
    }
    if (freeze != m->nnodes - 1 || m->freeze != m->nnodes - 1) {
        *why = "the freeze point must be the output layer (only the last node trained)";
        return AL_EINVAL;
    }
    size_t r = (size_t)nd->params[0].dims[1];
    if (al_shape_numel(&nd->in) != r * (size_t)y_len) {
        *why = "the output layer's rows per sample differ from the labels per sample";
        return AL_ESHAPE;
    }
    return AL_OK;
}

typedef struct {
    int id;
    long count;
} row_count;

static int by_count(const void *a, const void *b) {
    const row_count *x = a, *y = b;
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

static int by_id(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

al_status al_trainer_set_head(al_trainer *t, const al_dataset *train, int train_rows) {
    if (!t || !train) return al_error(AL_EINVAL, "al_trainer_set_head: NULL argument");
    al_model *m = t->m;
    if (train_rows <= 0) return al_error(AL_ERANGE, "trained output rows must be positive, got %d", train_rows);
    const char *why = NULL;
    al_status st = check_layer(m, t->freeze, train->y_len, &why);
    if (st) return al_error(st, "training only some output rows: %s", why);
    const al_node *nd = &m->nodes[m->nnodes - 1];
    const int V = nd->cfg.units;
    /* the most frequent labels first (ties: the lower row) */
    row_count *rc = al_malloc(sizeof(row_count) * (size_t)V);
    if (!rc) return AL_ENOMEM;
    for (int j = 0; j < V; j++) rc[j].id = j, rc[j].count = 0;
    size_t ny = (size_t)train->n * (size_t)train->y_len;
    for (size_t i = 0; i < ny; i++)
        if (train->y[i] >= 0 && train->y[i] < V) rc[train->y[i]].count++;
    qsort(rc, (size_t)V, sizeof *rc, by_count);
    int ns = 0;
    while (ns < AL_MIN(train_rows, V) && rc[ns].count > 0) ns++;
    if (ns == 0) {
        al_free(rc);
        return al_error(AL_EINVAL, "training only some output rows: the training data has no labels");
    }
    al_head *h = al_calloc(1, sizeof *h);
    if (!h) {
        al_free(rc);
        return AL_ENOMEM;
    }
    h->ns = ns;
    h->V = V;
    h->r = nd->params[0].dims[1];
    h->yl = train->y_len;
    h->n = train->n;
    h->B = t->cfg.batch;
    h->d = train;
    al_arena a = {0};
    carve(&a, h);
    a.size = a.used;
    a.used = 0;
    a.base = h->block = al_malloc(a.size ? a.size : 1);
    if (!a.base) {
        al_free(rc);
        al_free(h);
        return AL_ENOMEM;
    }
    carve(&a, h);
    for (int s = 0; s < ns; s++) h->rows[s] = rc[s].id;
    al_free(rc);
    qsort(h->rows, (size_t)ns, sizeof(int), by_id);
    for (int j = 0; j < V; j++) h->pos[j] = -1;
    for (int s = 0; s < ns; s++) h->pos[h->rows[s]] = s;
    memset(h->have, 0, (size_t)h->n);
    al_head_free(t->head);
    t->head = h;
    al_optim_restrict_rows(&t->opt, nd, h->rows, ns);
    return AL_OK;
}

void al_head_free(al_head *h) {
    if (!h) return;
    al_free(h->block);
    al_free(h);
}

uint64_t al_head_macs(const al_head *h) { return h ? h->macs : 0; }
void al_head_forget(al_head *h) {
    if (h) memset(h->have, 0, (size_t)h->n);
}

/* The frozen rows' part of the rows [lo, hi) of a batch whose full logits
 * are in zf (V per row): rest, frozen target logit, top. */
typedef struct {
    const al_head *h;
    float *zf;
    const int *idx;
    const int32_t *yb;
    const unsigned char *need; /* per batch sample: 1 when its rest is unknown */
    int rows;
} rest_args;

static void rest_rows(void *va, int ith, int nth) {
    rest_args *a = va;
    const al_head *h = a->h;
    long lo, hi;
    al_split(a->rows, ith, nth, &lo, &hi);
    for (long q = lo; q < hi; q++) {
        int j = (int)(q / h->yl), p = (int)(q % h->yl);
        if (!a->need[j]) continue;
        float *z = a->zf + (size_t)q * (size_t)h->V;
        size_t at = (size_t)a->idx[j] * (size_t)h->yl + (size_t)p;
        int32_t y = a->yb[q];
        float zy = y >= 0 && y < h->V && h->pos[y] < 0 ? z[y] : 0.0f;
        /* trained rows out of the sum: far below any logit (exp gives 0 or
         * the smallest float, against a sum of at least 1) */
        for (int s = 0; s < h->ns; s++) z[h->rows[s]] = -1e30f;
        int am;
        float mx = al_row_max(z, h->V, &am);
        double se = al_softmax_expsum(z, h->V, mx);
        h->rest[at * 3 + 0] = (float)((double)mx + log(se));
        h->rest[at * 3 + 1] = zy;
        h->rest[at * 3 + 2] = mx;
        h->top_row[at] = am;
    }
}

al_status al_head_step(al_trainer *t, const al_dataset *train, const int *idx, int b, const int32_t *yb, long want,
                       double *loss, long *count, long *correct) {
    al_head *h = t->head;
    if (train != h->d || b > h->B)
        return al_error(AL_ESTATE, "the trained output rows were chosen for another training set; set them again");
    al_model *m = t->m;
    al_node *nd = &m->nodes[m->nnodes - 1];
    const int ns = h->ns, V = h->V, r = h->r, yl = h->yl, k = ns + 1;
    const int R = b * yl;
    const float *x = t->xb, *w = nd->params[0].w, *bias = nd->cfg.bias ? nd->params[1].w : NULL;
    /* the frozen rows of samples seen for the first time: the whole row of
     * logits once (into the logit-gradient buffer, unused here) */
    unsigned char *need = h->need;
    int any = 0;
    for (int j = 0; j < b; j++) any |= need[j] = !h->have[idx[j]];
    if (any) {
        float *zf = t->dlogits;
        for (int q = 0; q < R; q++) {
            if (bias)
                memcpy(zf + (size_t)q * V, bias, sizeof(float) * (size_t)V);
            else
                memset(zf + (size_t)q * V, 0, sizeof(float) * (size_t)V);
        }
        al_sgemm(t->pool, 0, 1, R, V, r, 1.0f, x, r, w, r, 1.0f, zf, V);
        h->macs += (uint64_t)R * (uint64_t)V * (uint64_t)r;
        rest_args ra = {h, zf, idx, yb, need, R};
        if (al_pool_size(t->pool) > 1 && R >= al_pool_size(t->pool))
            al_pool_run(t->pool, rest_rows, &ra);
        else
            rest_rows(&ra, 0, 1);
        for (int j = 0; j < b; j++) h->have[idx[j]] = 1;
    }
    /* the trained rows, gathered */
    for (int s = 0; s < ns; s++) {
        memcpy(h->wc + (size_t)s * r, w + (size_t)h->rows[s] * r, sizeof(float) * (size_t)r);
        h->bc[s] = bias ? bias[h->rows[s]] : 0.0f;
    }
    /* z = [x Wc^T + bc, rest] */
    for (int q = 0; q < R; q++) {
        float *zq = h->z + (size_t)q * k;
        memcpy(zq, h->bc, sizeof(float) * (size_t)ns);
        size_t at = (size_t)idx[q / yl] * (size_t)yl + (size_t)(q % yl);
        zq[ns] = h->rest[at * 3];
        int32_t y = yb[q];
        h->lab[q] = y < 0 || y >= V ? -1 : h->pos[y] >= 0 ? h->pos[y] : ns;
    }
    al_sgemm(t->pool, 0, 1, R, ns, r, 1.0f, x, r, h->wc, r, 1.0f, h->z, k);
    double l;
    long cn, cr_unused;
    al_softmax_ce_pool(t->pool, h->z, h->lab, R, k, 1.0f / (float)want, h->dz, &l, &cn, &cr_unused);
    /* the true loss of a frozen target, and the accuracy over all rows */
    long cr = 0;
    for (int q = 0; q < R; q++) {
        if (h->lab[q] < 0) continue;
        size_t at = (size_t)idx[q / yl] * (size_t)yl + (size_t)(q % yl);
        const float *zq = h->z + (size_t)q * k;
        float best = zq[0];
        int bs = 0;
        for (int s = 1; s < ns; s++)
            if (zq[s] > best) best = zq[s], bs = s;
        float top = h->rest[at * 3 + 2];
        int pred = best >= top ? h->rows[bs] : h->top_row[at];
        cr += pred == yb[q];
        if (h->lab[q] == ns) l += (double)h->rest[at * 3] - (double)h->rest[at * 3 + 1];
    }
    /* gradients of the trained rows: dWc = dz[:, :ns]^T x, dbc = column sums */
    al_sgemm(t->pool, 1, 0, ns, r, R, 1.0f, h->dz, k, x, r, 0.0f, h->dwc, r);
    h->macs += 2 * (uint64_t)R * (uint64_t)ns * (uint64_t)r;
    float *gw = nd->params[0].g, *gb = bias ? nd->params[1].g : NULL;
    for (int s = 0; s < ns; s++) memcpy(gw + (size_t)h->rows[s] * r, h->dwc + (size_t)s * r, sizeof(float) * (size_t)r);
    if (gb) {
        memset(h->dbc, 0, sizeof(float) * (size_t)ns);
        for (int q = 0; q < R; q++) {
            const float *dq = h->dz + (size_t)q * k;
            for (int s = 0; s < ns; s++) h->dbc[s] += dq[s];
        }
        for (int s = 0; s < ns; s++) gb[h->rows[s]] = h->dbc[s];
    }
    *loss = l;
    *count = cn;
    *correct = cr;
    return AL_OK;
}
