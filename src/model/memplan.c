/* The memory planner: buffers, their live intervals over one training step,
 * and offsets in one arena by liveness (model.h; docs/COMPILE.md).
 *
 * Placement is greedy: buffers are taken in some order (largest first, or
 * in schedule order; the smaller result wins), and each goes into the
 * smallest gap between the already placed buffers whose lifetimes
 * intersect its own (best fit), or above all of them; those buffers are
 * found by time, through a segment tree over the steps ("placement"
 * below), not by a pass over every buffer placed before. Buffers
 * with disjoint lifetimes may share bytes; that is where the saving comes
 * from: a frozen prefix needs only two activations at a time, gradients
 * exist only between the backward steps that write and read them, and each
 * node's scratch lives only during its own forward and backward steps. */

#include "model/model.h"

#include <stdio.h>
#include <string.h>

#define ALIGN64(x) (((x) + 63u) & ~(size_t)63u)
/* The pointer tables take 8 bytes per entry on every platform, so the plan
 * (and the peak stored in a compiled model) does not depend on the pointer
 * size of the machine that computed it. */
#define TABLE_ENTRY 8u

int al_memplan_lowest(const al_model *m) { return al_memplan_lowest_at(m, -1); }

int al_memplan_forward_lowest(const al_model *m) {
    const int L = al_memplan_lowest(m);
    return m->infer && m->plan_block ? AL_MAX(L, m->plan_lowest) : L;
}

int al_memplan_lowest_at(const al_model *m, int freeze) {
    if (m->want_input_grad) return 0;
    for (int i = 0; i < m->nnodes; i++) {
        const al_node *nd = &m->nodes[i];
        if (freeze >= 0 ? i < freeze : !nd->trainable) continue;
        for (int p = 0; p < nd->nparams; p++)
            if (!nd->params[p].is_state) return i;
    }
    return m->nnodes;
}

void al_memplan_add(al_memplan *p, al_membuf_kind kind, int node, int port, size_t bytes, int t0, int t1) {
    if (bytes == 0) return;
    al_membuf *b = &p->buf[p->nbuf++];
    memset(b, 0, sizeof *b);
    b->kind = kind;
    b->node = node;
    b->port = port;
    b->bytes = ALIGN64(bytes);
    b->nlive = 1;
    b->t0[0] = t0;
    b->t1[0] = t1;
}

static void add_buf(al_memplan *p, al_membuf_kind kind, int node, size_t bytes, int t0, int t1) {
    al_memplan_add(p, kind, node, 0, bytes, t0, t1);
}

static int lives_overlap(const al_membuf *a, const al_membuf *b) {
    for (int i = 0; i < a->nlive; i++)
        for (int j = 0; j < b->nlive; j++)
            if (a->t0[i] <= b->t1[j] && b->t0[j] <= a->t1[i]) return 1;
    return 0;
}

/* Lists the buffers with their live intervals (schedule in model.h). In
 * a slim plan (es > 0, al_chunk_slim) the chunk-local tensors of [0, es)
 * and those nodes' scratch and aux have none: the chunk arena, kept over
 * steps [0, er) in `reserve` bytes, holds them.
 * side (ntensors + 1 entries, zeroed; [t + 1] for tensor t, [0] the input),
 * last_read and last_primary (ntensors entries each) are scratch. */
static void list_buffers(const al_model *m, size_t B, int naive, int L, int es, int er, size_t reserve, al_memplan *p,
                         unsigned char *side, int *last_read, int *last_primary) {
    const int n = m->nnodes, nt = m->ntensors, END = p->end;
#define TB(i) (2 * n - 1 - (i))
    /* last_read[t]: the last step at which a node reads tensor t: the
     * forward of every reader; the backward of a primary reader (its x),
     * of a mul reading it as its second operand (the scale's gradient is
     * sum dy * x2; an add's backward does not read it). side[t + 1]: the
     * gradient of t arrives through dside too: some reader adds to it (an
     * add or mul through cfg.src, a concat or sum through cfg.more, a
     * primary reader other than the last), or nobody reads it (a later
     * output of a split left unused: its gradient is dside's zeros) */
    for (int t = 0; t < nt; t++) last_read[t] = last_primary[t] = -1;
    for (int j = 0; j < n; j++) {
        const al_node *nd = &m->nodes[j];
        int x = al_model_tensor(m, al_node_input(nd), nd->cfg.in_port);
        if (!nd->dx_direct) side[x + 1] = 1;
        if (x >= 0) {
            last_primary[x] = j;
            int t = j >= L ? TB(j) : j;
            if (t > last_read[x]) last_read[x] = t;
        }
        for (int k = 0; k < al_cfg_nsrc(&nd->cfg); k++) {
            int s = al_model_tensor(m, al_cfg_src(&nd->cfg, k), al_cfg_src_port(&nd->cfg, k));
            side[s + 1] = 1;
            if (s < 0) continue;
            int t = al_layer_bwd_reads_src(nd->cfg.type) && j >= L ? TB(j) : j;
            if (t > last_read[s]) last_read[s] = t;
        }
    }
    for (int t = 0; t < nt; t++)
        if (m->t_last_reader[t] < 0 && t != n - 1) side[t + 1] = 1;
    add_buf(p, AL_MB_TABLES, -1, 3 * TABLE_ENTRY * (size_t)nt, 0, END);
    size_t ws_max = 0;
    for (int i = 0; i < n; i++) {
        const al_node *nd = &m->nodes[i];
        size_t aux = sizeof(float) * (nd->aux_fixed + B * nd->aux_per_sample);
        size_t ws = sizeof(float) * (nd->ws_fixed + B * nd->ws_per_sample);
        size_t state = (nd->cfg.type == AL_L_LSTM || nd->cfg.type == AL_L_GRU) ? sizeof(float) * 2 * B * (size_t)nd->cfg.units : 0;
        /* the gradient of a primary input this node shares with a later reader */
        size_t dxb = nd->dx_direct ? 0 : sizeof(float) * al_shape_numel(&nd->in) * B;
        int x = al_node_input(nd);
        if (ws > ws_max) ws_max = ws;
        if (naive) {
            for (int q = 0; q < al_cfg_nout(&nd->cfg); q++) {
                int t = al_model_tensor(m, i, q);
                size_t o = sizeof(float) * al_shape_numel(al_node_out(nd, q)) * B;
                al_memplan_add(p, AL_MB_ACT, i, q, o, 0, END);
                al_memplan_add(p, AL_MB_DACT, i, q, o, 0, END);
                if (side[t + 1]) al_memplan_add(p, AL_MB_DSIDE, i, q, o, 0, END);
            }
            add_buf(p, AL_MB_AUX, i, aux, 0, END);
            add_buf(p, AL_MB_STATE, i, state, 0, END);
            add_buf(p, AL_MB_DX, i, dxb, 0, END);
            continue;
        }
        for (int q = 0; q < al_cfg_nout(&nd->cfg); q++) {
            int t = al_model_tensor(m, i, q);
            size_t o = sizeof(float) * al_shape_numel(al_node_out(nd, q)) * B;
            /* act[t]: written by forward i; read by its readers (last_read)
             * and by backward i (its y) */
            int t1 = last_read[t] > i ? last_read[t] : i;
            if (i < es && t != n - 1 && m->t_last_reader[t] < es) continue; /* in the chunk arena */
            if (i >= L) t1 = AL_MAX(t1, TB(i));
            if (t == n - 1) t1 = END; /* the logits: the caller may read them at any time */
            al_memplan_add(p, AL_MB_ACT, i, q, o, i, t1);
            /* dact[t]: written (dx) by backward of its last primary reader r,
             * read by backward i; the last node's gradient is the caller's
             * dlogits, and a tensor no node reads as its primary input has
             * only dside */
            int r = last_primary[t];
            if (i >= L && r >= 0) al_memplan_add(p, AL_MB_DACT, i, q, o, TB(r), TB(i));
            /* dside[t]: zeroed when backward starts, accumulated by the readers
             * that add to it, read by backward i */
            if (side[t + 1] && i >= L) al_memplan_add(p, AL_MB_DSIDE, i, q, o, n, TB(i));
        }
        if (i < es) continue; /* scratch and aux in the chunk arena; es <= L */
        /* aux: kept for backward i; below L only forward i's own working memory */
        add_buf(p, AL_MB_AUX, i, aux, i, i >= L ? TB(i) : i);
        add_buf(p, AL_MB_STATE, i, state, 0, END);
        add_buf(p, AL_MB_WS, i, ws, i, i);
        if (i >= L && ws > 0) {
            al_membuf *b = &p->buf[p->nbuf - 1];
            b->nlive = 2;
            b->t0[1] = b->t1[1] = TB(i);
        }
        /* dxbuf: written by backward i, added to dside[x] at once */
        if (i >= L && (x >= L || (x < 0 && m->want_input_grad))) add_buf(p, AL_MB_DX, i, dxb, TB(i), TB(i));
    }
    if (es > 0) add_buf(p, AL_MB_CHUNK, -1, reserve, 0, er - 1);
    size_t in = sizeof(float) * al_shape_numel(&m->in) * B;
    if (naive) {
        add_buf(p, AL_MB_WS, -1, ws_max, 0, END);
        if (m->want_input_grad) add_buf(p, AL_MB_DINPUT, -1, in, 0, END);
        if (side[0]) add_buf(p, AL_MB_DSIDE_INPUT, -1, in, 0, END);
    } else {
        /* the caller reads the input gradient at any time (tests) */
        if (m->want_input_grad) add_buf(p, AL_MB_DINPUT, -1, in, 0, END);
        if (side[0] && m->want_input_grad) add_buf(p, AL_MB_DSIDE_INPUT, -1, in, n, END);
    }
#undef TB
}

/* Orders for the greedy placement. Size first packs the big scratch
 * buffers well; schedule order (first step, then size) keeps a chain of
 * activations from fragmenting around them. Neither wins on every graph, so
 * the planner tries each and keeps the smaller arena (ties: the first). */
enum { ORDER_SIZE, ORDER_SCHEDULE, ORDER_SPAN, NORDERS };

static int before(const al_membuf *a, const al_membuf *b, int how) {
    if (how == ORDER_SCHEDULE && a->t0[0] != b->t0[0]) return a->t0[0] < b->t0[0];
    if (how == ORDER_SPAN) {
        int la = a->t1[a->nlive - 1] - a->t0[0], lb = b->t1[b->nlive - 1] - b->t0[0];
        if (la != lb) return la > lb;
    }
    return a->bytes > b->bytes;
}

/* A stable merge sort of the indices a[0..n) (tmp: n more) by less(x, y)
 * over the plan's buffers: ties keep their order, so the result is the one
 * insertion sort gives, in n log n. */
typedef int (*buf_less)(const al_memplan *p, int x, int y, int how);

static void stable_sort(const al_memplan *p, int *a, int *tmp, int n, buf_less less, int how) {
    for (int w = 1; w < n; w *= 2) {
        for (int lo = 0; lo < n; lo += 2 * w) {
            int mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            int i = lo, j = mid, k = lo;
            while (i < mid && j < hi) tmp[k++] = less(p, a[j], a[i], how) ? a[j++] : a[i++];
            while (i < mid) tmp[k++] = a[i++];
            while (j < hi) tmp[k++] = a[j++];
        }
        memcpy(a, tmp, sizeof *a * (size_t)n);
    }
}

static int less_order(const al_memplan *p, int x, int y, int how) { return before(&p->buf[x], &p->buf[y], how); }

static int less_offset(const al_memplan *p, int x, int y, int how) {
    (void)how;
    return p->buf[x].offset < p->buf[y].offset;
}

/* ---- placement ----------------------------------------------------------------
 *
 * Buffer b goes into the smallest gap between the placed buffers alive at
 * some step b is (ties: the lowest gap), or above them all. For b of
 * positive size those gaps are the holes in the union of the placed
 * buffers' closed byte spans [offset, offset + bytes] (two that touch leave
 * no gap b fits; an empty buffer still cuts a hole in two), so they follow
 * from that union alone, whatever the order of buffers at equal offsets.
 *
 * The placed buffers are found by time, not by a pass over all of them: a
 * segment tree over the steps [0, end] keeps at each node the union of the
 * spans of the buffers whose interval covers the node's steps but not its
 * parent's (cover), and of those with such a node in its subtree (sub;
 * at a leaf, cover). The buffers alive during steps [a, b] are those in
 * sub of the nodes that [a, b] splits into and in cover of the nodes above
 * them: a query reads at most 4 lists per level and an insertion writes as
 * many. A list is a union, so many buffers packed side by side are a few
 * spans in it: on a chain whose activations all live until backward (every
 * buffer meets every other) a query reads a few spans where a pass over the
 * placed buffers read all of them. The scan over the merged lists is the
 * pass's scan over the conflicting buffers sorted by offset, gap for gap.
 * An empty buffer (al_memplan_add makes none) is placed by that pass, whose
 * gap of 0 depends on the order of equal offsets. */

/* A union of byte spans: n sorted, disjoint, non-touching (lo, hi) pairs
 * at pool[2 * at ...], room for cap. */
typedef struct span_list {
    size_t at;
    int n, cap;
} span_list;

typedef struct span_cursor {
    const size_t *s; /* (lo, hi) pairs */
    int i, n;
} span_cursor;

/* The tree over steps [0, steps): the node of [l, r] is (l + r) | (l != r),
 * 2 * steps - 1 of them. */
typedef struct placer {
    int steps;
    span_list *cover, *sub; /* 2 * steps each */
    size_t *pool;           /* the lists' pairs */
    size_t used, cap;       /* pairs */
    span_cursor *cur;       /* the lists of one query: 4 per level and interval */
    int ncur;
} placer;

static int tree_node(int l, int r) { return (l + r) | (l != r); }

static void placer_free(placer *pl) {
    al_free(pl->cover);
    al_free(pl->pool);
}

static al_status placer_init(placer *pl, const al_memplan *p) {
    memset(pl, 0, sizeof *pl);
    if (p->end < 0 || p->end >= (1 << 28)) return al_error(AL_ENOMEM, "memory plan of %d steps", p->end);
    pl->steps = p->end + 1;
    int levels = 1;
    while ((1 << (levels - 1)) < pl->steps) levels++;
    const size_t nodes = 2 * (size_t)pl->steps, ncur = 8 * (size_t)levels;
    /* cover and sub, then the cursors, in one block */
    pl->cover = al_malloc(sizeof *pl->cover * 2 * nodes + sizeof *pl->cur * ncur);
    pl->cap = 2 * (size_t)p->nbuf + nodes;
    pl->pool = al_malloc(sizeof *pl->pool * 2 * pl->cap);
    if (!pl->cover || !pl->pool) {
        placer_free(pl);
        return AL_ENOMEM;
    }
    pl->sub = pl->cover + nodes;
    pl->cur = (span_cursor *)(pl->sub + nodes);
    return AL_OK;
}

static void placer_reset(placer *pl) {
    memset(pl->cover, 0, sizeof *pl->cover * 4 * (size_t)pl->steps);
    pl->used = 0;
}

/* A pool with room for `need` more pairs: the lists copied into a new
 * block (each with its room) without the space they left behind when they
 * moved; at least twice what they take, and no smaller than before. */
static al_status pool_grow(placer *pl, size_t need) {
    const size_t nl = 4 * (size_t)pl->steps; /* cover and sub */
    size_t live = 0;
    for (size_t v = 0; v < nl; v++) live += (size_t)pl->cover[v].cap;
    const size_t ncap = AL_MAX(2 * (live + need), pl->cap);
    size_t *np = al_malloc(sizeof *np * 2 * ncap);
    if (!np) return AL_ENOMEM;
    size_t at = 0;
    for (size_t v = 0; v < nl; v++) {
        span_list *l = &pl->cover[v];
        memcpy(np + 2 * at, pl->pool + 2 * l->at, sizeof *np * 2 * (size_t)l->n);
        l->at = at;
        at += (size_t)l->cap;
    }
    al_free(pl->pool);
    pl->pool = np;
    pl->cap = ncap;
    pl->used = at;
    return AL_OK;
}

/* Adds [lo, hi] to the union l. */
static al_status span_add(placer *pl, span_list *l, size_t lo, size_t hi) {
    size_t *s = pl->pool + 2 * l->at;
    /* i: the first span that reaches lo; j: the first that starts past hi */
    int a = 0, z = l->n;
    while (a < z) {
        int mid = a + (z - a) / 2;
        if (s[2 * mid + 1] < lo) a = mid + 1;
        else z = mid;
    }
    const int i = a;
    z = l->n;
    while (a < z) {
        int mid = a + (z - a) / 2;
        if (s[2 * mid] <= hi) a = mid + 1;
        else z = mid;
    }
    const int j = a;
    if (j > i) { /* [lo, hi] joins spans i .. j - 1 */
        lo = AL_MIN(lo, s[2 * i]);
        hi = AL_MAX(hi, s[2 * j - 1]);
        memmove(s + 2 * (i + 1), s + 2 * j, sizeof *s * 2 * (size_t)(l->n - j));
        l->n -= j - i - 1;
    } else {
        if (l->n == l->cap) { /* to the pool's end with twice the room */
            const size_t cap = l->cap ? 2 * (size_t)l->cap : 1;
            if (pl->used + cap > pl->cap && pool_grow(pl, cap) != AL_OK) return AL_ENOMEM;
            memcpy(pl->pool + 2 * pl->used, pl->pool + 2 * l->at, sizeof *s * 2 * (size_t)l->n);
            l->at = pl->used;
            l->cap = (int)cap; /* at most twice the buffers, far below INT_MAX */
            pl->used += cap;
            s = pl->pool + 2 * l->at;
        }
        memmove(s + 2 * (i + 1), s + 2 * i, sizeof *s * 2 * (size_t)(l->n - i));
        l->n++;
    }
    s[2 * i] = lo;
    s[2 * i + 1] = hi;
    return AL_OK;
}

/* Adds the span [lo, hi] of a buffer alive over steps [a, b] to the node
 * of steps [l, r] and below. */
static al_status tree_add(placer *pl, int l, int r, int a, int b, size_t lo, size_t hi) {
    if (b < l || r < a) return AL_OK;
    const int v = tree_node(l, r);
    if (l == r) return span_add(pl, &pl->cover[v], lo, hi);
    al_status st = span_add(pl, &pl->sub[v], lo, hi);
    if (st) return st;
    if (a <= l && r <= b) return span_add(pl, &pl->cover[v], lo, hi);
    const int mid = l + (r - l) / 2;
    st = tree_add(pl, l, mid, a, b, lo, hi);
    return st ? st : tree_add(pl, mid + 1, r, a, b, lo, hi);
}

static void take(placer *pl, const span_list *s) {
    if (s->n > 0) pl->cur[pl->ncur++] = (span_cursor){pl->pool + 2 * s->at, 0, s->n};
}

/* Collects the lists of the buffers alive during some step of [a, b]. */
static void tree_query(placer *pl, int l, int r, int a, int b) {
    if (b < l || r < a) return;
    const int v = tree_node(l, r);
    if (a <= l && r <= b) {
        take(pl, l == r ? &pl->cover[v] : &pl->sub[v]);
        return;
    }
    take(pl, &pl->cover[v]);
    const int mid = l + (r - l) / 2;
    tree_query(pl, l, mid, a, b);
    tree_query(pl, mid + 1, r, a, b);
}

static size_t cursor_lo(const span_cursor *c) { return c->s[2 * c->i]; }

static void heap_down(span_cursor *h, int n, int i) {
    for (;;) {
        int c = 2 * i + 1, m = i;
        if (c < n && cursor_lo(&h[c]) < cursor_lo(&h[m])) m = c;
        if (c + 1 < n && cursor_lo(&h[c + 1]) < cursor_lo(&h[m])) m = c + 1;
        if (m == i) return;
        span_cursor t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

/* Moves c to its first span that ends above top (c->n: none), by
 * doubling steps then halving: spans that end at or below top neither
 * open a hole nor raise top. */
static void skip_below(span_cursor *c, size_t top) {
    int lo = c->i, step = 1;
    while (lo + step < c->n && c->s[2 * (lo + step) + 1] <= top) {
        lo += step;
        step *= 2;
    }
    /* s[lo] ends at or below top; the first that ends above lies in (lo, lo + step] */
    int hi = AL_MIN(lo + step, c->n);
    lo++;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (c->s[2 * mid + 1] <= top) lo = mid + 1;
        else hi = mid;
    }
    c->i = lo;
}

/* The offset for `bytes` (> 0) among the collected lists: the spans merged
 * by lo, each hole between them a gap. */
static size_t fit(placer *pl, size_t bytes) {
    span_cursor *h = pl->cur;
    int n = pl->ncur;
    for (int i = n / 2 - 1; i >= 0; i--) heap_down(h, n, i);
    size_t top = 0, best = 0, best_gap = (size_t)-1;
    while (n > 0) {
        const size_t lo = h[0].s[2 * h[0].i], hi = h[0].s[2 * h[0].i + 1];
        if (hi <= top) {
            skip_below(&h[0], top);
        } else {
            if (lo > top) {
                size_t gap = lo - top;
                if (gap >= bytes && gap < best_gap) {
                    best_gap = gap;
                    best = top;
                    if (gap == bytes) return best; /* no later gap is closer */
                }
            }
            top = hi;
            h[0].i++;
        }
        if (h[0].i == h[0].n) h[0] = h[--n];
        heap_down(h, n, 0);
    }
    return best_gap != (size_t)-1 ? best : top;
}

/* The offset of the k-th buffer of order by the pass over the k placed
 * before it: those alive with it, sorted by offset (stable: ties in
 * placement order), the gap before each. conf and tmp: k entries each. */
static size_t fit_pass(al_memplan *p, const int *order, int k, int *conf, int *tmp) {
    const al_membuf *b = &p->buf[order[k]];
    int nc = 0;
    for (int q = 0; q < k; q++)
        if (lives_overlap(b, &p->buf[order[q]])) conf[nc++] = order[q];
    stable_sort(p, conf, tmp, nc, less_offset, 0);
    size_t top = 0, best = 0, best_gap = (size_t)-1;
    for (int i = 0; i < nc; i++) {
        const al_membuf *c = &p->buf[conf[i]];
        if (c->offset >= top) {
            size_t gap = c->offset - top;
            if (gap >= b->bytes && gap < best_gap) {
                best_gap = gap;
                best = top;
            }
        }
        if (c->offset + c->bytes > top) top = c->offset + c->bytes;
    }
    return best_gap != (size_t)-1 ? best : top;
}

/* Best fit among the placed buffers that are alive at the same time, the
 * buffers taken in order `how`: sets each offset and *total, the arena
 * size. order, conf and tmp are scratch of nbuf entries each. */
static al_status place(al_memplan *p, int how, placer *pl, int *order, int *conf, int *tmp, size_t *total) {
    const int nb = p->nbuf, last = pl->steps - 1;
    /* stable: ties keep list order so the plan is deterministic */
    for (int i = 0; i < nb; i++) order[i] = i;
    stable_sort(p, order, tmp, nb, less_order, how);
    placer_reset(pl);
    *total = 0;
    for (int k = 0; k < nb; k++) {
        al_membuf *b = &p->buf[order[k]];
        if (b->bytes == 0) {
            b->offset = fit_pass(p, order, k, conf, tmp);
        } else {
            pl->ncur = 0;
            for (int i = 0; i < b->nlive; i++) tree_query(pl, 0, last, b->t0[i], b->t1[i]);
            b->offset = fit(pl, b->bytes);
        }
        if (b->offset + b->bytes > *total) *total = b->offset + b->bytes;
        for (int i = 0; i < b->nlive; i++) {
            al_status st = tree_add(pl, 0, last, b->t0[i], b->t1[i], b->offset, b->offset + b->bytes);
            if (st) return st;
        }
    }
    return AL_OK;
}

/* The most bytes alive at any one step: no placement can do better. A
 * sweep over the steps [0, end]: d (end + 2 entries) holds the change of
 * the live sum at each step (modulo 2^64; every prefix sum is exact). */
static size_t live_peak(const al_memplan *p, size_t *d) {
    memset(d, 0, sizeof *d * ((size_t)p->end + 2));
    for (int i = 0; i < p->nbuf; i++) {
        const al_membuf *b = &p->buf[i];
        int t0[2], t1[2], k = b->nlive;
        for (int j = 0; j < k; j++) t0[j] = b->t0[j], t1[j] = b->t1[j];
        if (k == 2 && t0[0] <= t1[1] && t0[1] <= t1[0]) { /* overlapping: count the union once */
            t0[0] = AL_MIN(t0[0], t0[1]);
            t1[0] = AL_MAX(t1[0], t1[1]);
            k = 1;
        }
        for (int j = 0; j < k; j++) {
            d[t0[j]] += b->bytes;
            d[t1[j] + 1] -= b->bytes;
        }
    }
    size_t peak = 0, sum = 0;
    for (int t = 0; t <= p->end; t++) {
        sum += d[t];
        if (sum > peak) peak = sum;
    }
    return peak;
}

al_status al_memplan_place(al_memplan *p) {
    const size_t cap = (size_t)(p->nbuf > 0 ? p->nbuf : 1);
    /* order, conf and the sort's (cap each); the offsets of the best
     * placement (cap) and the sweep (end + 2); the tree */
    int *order = al_malloc(sizeof *order * 3 * cap);
    size_t *off = al_malloc(sizeof *off * (cap + (size_t)p->end + 2));
    placer pl;
    al_status st = placer_init(&pl, p);
    if (!order || !off || st) {
        al_free(order);
        al_free(off);
        if (!st) placer_free(&pl);
        return AL_ENOMEM;
    }
    int *conf = order + cap, *tmp = conf + cap;
    p->live_peak = live_peak(p, off + cap);
    size_t best;
    st = place(p, 0, &pl, order, conf, tmp, &best);
    for (int i = 0; i < p->nbuf; i++) off[i] = p->buf[i].offset;
    for (int how = 1; !st && how < NORDERS && best > p->live_peak; how++) {
        size_t t;
        st = place(p, how, &pl, order, conf, tmp, &t);
        if (!st && t < best) {
            best = t;
            for (int i = 0; i < p->nbuf; i++) off[i] = p->buf[i].offset;
        }
    }
    for (int i = 0; i < p->nbuf; i++) p->buf[i].offset = off[i];
    p->total = best;
    placer_free(&pl);
    al_free(order);
    al_free(off);
    return st;
}

void al_memplan_free(al_memplan *p) {
    if (!p) return;
    al_free(p->buf);
    p->buf = NULL;
    p->nbuf = 0;
}

al_status al_memplan_build_slim(const al_model *m, int maxbatch, int naive, int freeze, int es, int er, size_t reserve,
                                al_memplan *p) {
    if (!m || !p) return al_error(AL_EINVAL, "al_memplan_build: NULL argument");
    memset(p, 0, sizeof *p);
    if (freeze > m->nnodes) return al_error(AL_ERANGE, "freeze point %d out of range 0..%d", freeze, m->nnodes);
    if (maxbatch <= 0 || maxbatch > (1 << 20)) return al_error(AL_ERANGE, "batch %d out of range", maxbatch);
    if (m->nnodes < 1 || m->nnodes > AL_MAX_NODES)
        return al_error(AL_ERANGE, "al_memplan_build: %d nodes, must be 1..%d", m->nnodes, AL_MAX_NODES);
    const int n = m->nnodes, nt = m->ntensors;
    /* at most 7 buffers per node (act, dact, dside, aux, state, ws, dx), 3
     * per further output (act, dact, dside) and 5 model-wide ones (tables,
     * the naive scratch, dinput, dside_input, the slim plan's chunk span) */
    const size_t cap = 7 * (size_t)n + 3 * (size_t)(nt - n) + 5;
    if (naive || es < 2 || er < es || er > n) es = er = 0; /* no slim range */
    p->end = 2 * n + 1;
    p->buf = al_malloc(sizeof *p->buf * cap);
    /* scratch: last_read and last_primary (nt each), side (nt + 1 bytes, in
     * nt + 1 ints) */
    int *iw = al_malloc(sizeof *iw * (3 * (size_t)nt + 1));
    if (!p->buf || !iw) {
        al_free(iw);
        al_memplan_free(p);
        return AL_ENOMEM;
    }
    unsigned char *side = (unsigned char *)(iw + 2 * nt);
    memset(side, 0, (size_t)nt + 1);
    p->naive = naive;
    p->lowest = al_memplan_lowest_at(m, freeze);
    p->slim = es;
    list_buffers(m, (size_t)maxbatch, naive, p->lowest, es, er, reserve, p, side, iw, iw + nt);
    al_free(iw);
    if (naive) { /* end to end, in list order */
        size_t off = 0;
        for (int i = 0; i < p->nbuf; i++) {
            p->buf[i].offset = off;
            off += p->buf[i].bytes;
        }
        p->total = off;
    } else if (al_memplan_place(p) != AL_OK) {
        al_memplan_free(p);
        return AL_ENOMEM;
    }
    if (p->total == 0) p->total = 64;
    return AL_OK;
}

static const char *kind_name(al_membuf_kind k) {
    static const char *const names[] = {"tables", "act", "dact", "dside", "aux", "state", "ws", "dinput", "dside_input", "dx", "chunk"};
    return (unsigned)k < sizeof names / sizeof names[0] ? names[k] : "?";
}

int al_memplan_check(const al_memplan *p, char *why, size_t cap) {
    for (int i = 0; i < p->nbuf; i++) {
        const al_membuf *a = &p->buf[i];
        if (a->offset % 64 || a->offset + a->bytes > p->total) {
            snprintf(why, cap, "%s[%d@%d] at %zu+%zu lies outside the arena of %zu bytes", kind_name(a->kind), a->node,
                     a->port, a->offset, a->bytes, p->total);
            return 1;
        }
        for (int j = i + 1; j < p->nbuf; j++) {
            const al_membuf *b = &p->buf[j];
            if (!lives_overlap(a, b)) continue;
            if (a->offset < b->offset + b->bytes && b->offset < a->offset + a->bytes) {
                snprintf(why, cap, "%s[%d@%d] (bytes %zu+%zu, steps %d..%d) and %s[%d@%d] (bytes %zu+%zu, steps %d..%d) overlap",
                         kind_name(a->kind), a->node, a->port, a->offset, a->bytes, a->t0[0], a->t1[a->nlive - 1],
                         kind_name(b->kind), b->node, b->port, b->offset, b->bytes, b->t0[0], b->t1[b->nlive - 1]);
                return 1;
            }
        }
    }
    return 0;
}

const al_membuf *al_memplan_find_port(const al_memplan *p, al_membuf_kind kind, int node, int port) {
    for (int i = 0; i < p->nbuf; i++)
        if (p->buf[i].kind == kind && p->buf[i].node == node && p->buf[i].port == port) return &p->buf[i];
    return NULL;
}

const al_membuf *al_memplan_find(const al_memplan *p, al_membuf_kind kind, int node) {
    return al_memplan_find_port(p, kind, node, 0);
}

/* The planned block goes with the plan: freed here, carved by al_model_plan
 * (model.c). The int8 runtime (quant.c) drops a plan whose scratch grew. */
int al_model_tensor(const al_model *m, int node, int port) {
    return node < 0 ? -1 : port == 0 ? node : m->xbase[node] + port - 1;
}

const al_shape *al_model_tensor_shape(const al_model *m, int t) {
    return al_node_out(&m->nodes[m->t_node[t]], m->t_port[t]);
}

/* The chunked forward's plan (chunk.c) goes with the memory plan. */
void al_chunk_release(al_model *m) {
    al_chunkplan *cp = m->cplan;
    if (!cp) return;
    if (cp->owned) al_free(cp->block); /* else a span of the memory plan */
    al_free(cp->off);
    al_free(cp->ins);
    al_free(cp->tnodes);
    al_free(cp->tmore);
    al_free(cp->tst);
    al_free(cp->tmsg);
    al_free(cp);
    m->cplan = NULL;
}

void al_model_release_plan(al_model *m) {
    if (!m) return;
    al_chunk_release(m);
    al_free(m->plan_block);
    m->plan_block = NULL;
    m->act = m->dact = m->dside = NULL;
    m->ws = m->dinput = m->dside_input = NULL;
    m->ws_n = 0;
    m->maxbatch = 0;
    m->plan_slim = 0;
    m->plan_size = 0;
    for (int i = 0; i < m->nnodes; i++) {
        m->nodes[i].aux = NULL;
        m->nodes[i].state = NULL;
        m->nodes[i].maxbatch = 0;
        m->nodes[i].ws = NULL;
        m->nodes[i].dxbuf = NULL;
    }

}
