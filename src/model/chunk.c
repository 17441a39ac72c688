/* The forward in chunks of samples (model.h, "the chunked forward").
 *
 * A forward runs node by node over the whole batch, so each activation of
 * a batch of 32 MobileNet images (up to 14 MB at 48x48x48 floats) leaves
 * the caches before the next node reads it, and the frozen part of a CNN
 * is bound by memory. Nodes that keep nothing for backward can run
 * instead in chunks of a few samples: every node of the range on samples
 * [c0, c0 + nb), then the next chunk, so a node's input and output stay
 * in the caches between the two nodes.
 *
 * The range [from, e): al_chunk_end stops at the first node that backward
 * reaches (al_memplan_lowest: its activations and aux are kept for the
 * whole batch), that trains in this forward (dropout's stream, batch
 * statistics), or that carries recurrent state between calls (LSTM,
 * GRU). Within it:
 *  - a tensor that only nodes of the range read (not the model output) is
 *    chunk-local: it lives in a small arena sized for nb samples, placed
 *    by liveness like the main plan (al_memplan_place); so does each
 *    node's scratch and aux;
 *  - every other tensor the range writes (read past it: the range's last
 *    output among them), and every tensor it reads from below, keeps its
 *    own buffer: chunk c0 reads and writes it at sample c0 (bytes for a
 *    tensor that travels as int8).
 * The main plan may give a tensor read from below and one written for the
 * caller the same bytes (one dies before the other is made); run by chunks,
 * the second would overwrite samples the first has still to hand over, so
 * al_chunk_ready refuses such a range and the forward runs whole.
 *
 * On several threads each thread takes an even share of the batch through
 * the range in its own chunks (model.c, chunk_task): its own arena, its own
 * copy of the node that runs (operands and aux are bound per thread) and a
 * GEMM pack buffer lent from the plan, the nodes on one thread each.
 *
 * The arenas go where they cost nothing when they fit: the largest span of
 * the memory plan that no buffer alive during the range's steps holds but
 * the whole-batch buffers of its chunk-local tensors and its nodes'
 * scratch and aux, which the chunks leave untouched (al_chunk_gap, found
 * when the plan is made). A chunk of the default size that does not fit
 * there gives way to the largest of at least half its size that does
 * (fit_nb).
 *
 * Every layer computes a sample from that sample alone in this mode, so
 * the result is the whole-batch forward's, bit for bit (tests/test_chunk.c). */

#include "model/model.h"

#include <stdlib.h>
#include <string.h>

/* Bytes of samples a chunk's widest node may touch (its inputs and
 * outputs) on one thread: about an L2 cache (bench_train mnv2_frozen on
 * the 2-core EPYC, session 16: 2 to 4 samples of MobileNetV2-0.5 at
 * 96x96, whose widest node reads and writes 0.55 MB a sample). */
#define CHUNK_BYTES ((size_t)2 << 20)

void al_model_set_forward_chunk(al_model *m, int samples) {
    if (m) m->chunk = samples;
}

/* A node that may run in chunks: it does not train in this forward
 * (trains: it would) and carries no recurrent state between calls. */
static int chunk_node_ok(const al_node *nd, int trains) {
    return !trains && nd->cfg.type != AL_L_LSTM && nd->cfg.type != AL_L_GRU;
}

int al_chunk_end(const al_model *m, int from, int to, int training) {
    if (m->chunk < 0 || m->observe) return from;
    int e = AL_MIN(to, al_memplan_forward_lowest(m));
    for (int i = from; i < e; i++)
        if (!chunk_node_ok(&m->nodes[i], training && m->nodes[i].trainable)) return i;
    return AL_MAX(e, from);
}

/* Bytes of one sample of tensor t (-1: the model input): as this forward
 * stores it (i8_plan has run: a tensor that travels as int8 takes bytes),
 * or as floats (as_floats). */
static size_t sample_bytes(const al_model *m, int t, int as_floats) {
    if (t < 0) return sizeof(float) * al_shape_numel(&m->in);
    size_t es = !as_floats && t < m->nnodes && m->i8_y[t] > 0.0f ? 1 : sizeof(float);
    return es * al_shape_numel(al_model_tensor_shape(m, t));
}

/* Bytes of one sample that node i reads and writes, counted as floats: the
 * chunk's size then does not depend on which tensors travel as int8 (the
 * every-conv int8 MobileNet took 6.72 ms in chunks of 4, 6.67 in chunks of
 * 8, the same within the runs' spread), and al_chunk_arena_bytes can size
 * the arena before any forward. */
static size_t node_bytes(const al_model *m, int i) {
    const al_node *nd = &m->nodes[i];
    size_t b = sample_bytes(m, al_model_tensor(m, al_node_input(nd), nd->cfg.in_port), 1);
    for (int p = 0; p < al_cfg_nout(&nd->cfg); p++) b += sample_bytes(m, al_model_tensor(m, i, p), 1);
    for (int k = 0; k < al_cfg_nsrc(&nd->cfg); k++)
        b += sample_bytes(m, al_model_tensor(m, al_cfg_src(&nd->cfg, k), al_cfg_src_port(&nd->cfg, k)), 1);
    return b;
}

/* The most samples a chunk of [from, e) may take, by the caches: the
 * widest node's inputs and outputs within CHUNK_BYTES, and with its
 * scratch within twice that. (The scratch bounds the arena, which a slim
 * plan holds: refcnn compiled, its ReLUs fused, took chunks of 16 by the
 * first rule, a 5.6 MB arena mostly of the second conv's im2col columns;
 * the second gives 11, 3.96 MB, and its image job trained as fast: CPU
 * 0.0892 s against 0.0917, medians of 16, one pinned thread, session 20.
 * Counting the scratch within CHUNK_BYTES itself, chunks of 6 for the
 * uncompiled refcnn, was 9% slower.) */
static size_t chunk_cap(const al_model *m, int from, int e) {
    size_t widest = 1, heaviest = 1;
    for (int i = from; i < e; i++) {
        const size_t b = node_bytes(m, i);
        widest = AL_MAX(widest, b);
        heaviest = AL_MAX(heaviest, b + sizeof(float) * m->nodes[i].ws_per_sample);
    }
    return AL_MAX((size_t)1, AL_MIN(CHUNK_BYTES / widest, 2 * CHUNK_BYTES / heaviest));
}

/* On several threads each thread takes an even share of the batch through
 * the range in its own chunks, with its own arena and the nodes on one
 * thread each: no parallel region per node. (Chunks split per node over
 * the threads instead, a region per node per chunk, were slower than the
 * whole batch on the 2-core machine: bench_train mnv2_frozen, session 16,
 * chunks of 7 to 16 at 2 threads, medians 11.6 to 12.5 against 10.7 and
 * 11.0 ms.) A batch smaller than the thread count is not chunked by
 * default: the nodes' own threads serve it. */
int al_chunk_samples(const al_model *m, int from, int e, int n, int threads) {
    if (e - from < 2 || n <= 1) return n; /* one node alone passes nothing on through the caches */
    if (m->chunk > 0) return AL_MIN(m->chunk, n);
    if (threads > n) return n;
    const size_t nb = chunk_cap(m, from, e);
    /* A thread's share at most, cut in chunks of even size. The image
     * scenario's job (refcnn frozen below its output layer, batch 32, 200
     * images, no cache; training CPU, medians of 12 and 8, one thread
     * pinned, session 17) trained 5% slower than whole in chunks of 10,
     * 10, 10 and 2 (0.224 s against 0.214 s), as fast in 8, 8, 8 and 8
     * (0.217 s against 0.221 s). */
    size_t share = threads > 1 ? ((size_t)n + (size_t)threads - 1) / (size_t)threads : (size_t)n;
    size_t k = (share + nb - 1) / nb;
    return (int)((share + k - 1) / k);
}

/* A tensor made in [from, e) that lives in the chunk arena: no node past
 * the range reads it, and it is not the model output. (Every output of a
 * node but the last is read, al_model_build; so node e - 1's is read past
 * the range, and stays whole for the caller.) */
static int chunk_local(const al_model *m, int t, int e) { return t != m->nnodes - 1 && m->t_last_reader[t] < e; }

/* The arena of [from, e) for chunks of nb samples: lists the local tensors,
 * scratch and aux with their live steps (step j: node from + j) in p
 * (allocated here; the caller frees it) and places them. With cp, also
 * cp's lists of the tensors read from below and written whole (cp->off
 * marks the inputs listed, then holds AL_CHUNK_FULL everywhere). */
static al_status chunk_layout(const al_model *m, int from, int e, int nb, al_memplan *p, al_chunkplan *cp) {
    const int nt = m->ntensors;
    memset(p, 0, sizeof *p);
    p->end = e - from;
    p->buf = al_malloc(sizeof *p->buf * (3 * (size_t)(e - from) + (size_t)nt));
    if (!p->buf) return AL_ENOMEM;
    if (cp)
        for (int t = 0; t < nt; t++) cp->off[t] = AL_CHUNK_FULL;
    for (int i = from; i < e; i++) {
        const al_node *nd = &m->nodes[i];
        const int s = i - from;
        for (int k = -1; cp && k < al_cfg_nsrc(&nd->cfg); k++) {
            int r = k < 0 ? al_model_tensor(m, al_node_input(nd), nd->cfg.in_port)
                          : al_model_tensor(m, al_cfg_src(&nd->cfg, k), al_cfg_src_port(&nd->cfg, k));
            if (r >= 0 && m->t_node[r] < from && cp->off[r] == AL_CHUNK_FULL) {
                cp->off[r] = 0;
                cp->ins[cp->nins++] = r;
            }
        }
        for (int q = 0; q < al_cfg_nout(&nd->cfg); q++) {
            int t = al_model_tensor(m, i, q);
            if (!chunk_local(m, t, e)) {
                if (cp) cp->outs[cp->nouts++] = t;
                continue;
            }
            size_t bytes = sizeof(float) * (size_t)nb * al_shape_numel(al_node_out(nd, q));
            al_memplan_add(p, AL_MB_ACT, i, q, bytes ? bytes : 64, s, AL_MAX(m->t_last_reader[t], i) - from);
        }
        size_t ws = sizeof(float) * (nd->ws_fixed + (size_t)nb * nd->ws_per_sample);
        size_t aux = sizeof(float) * (nd->aux_fixed + (size_t)nb * nd->aux_per_sample);
        al_memplan_add(p, AL_MB_WS, i, 0, ws, s, s); /* none when 0 */
        al_memplan_add(p, AL_MB_AUX, i, 0, aux, s, s);
    }
    if (p->nbuf == 0) al_memplan_add(p, AL_MB_TABLES, -1, 0, 64, 0, 0);
    for (int k = 0; cp && k < cp->nins; k++) cp->off[cp->ins[k]] = AL_CHUNK_FULL;
    return al_memplan_place(p);
}

/* Floats of the GEMM pack buffer lent to each part of a forward of
 * [from, e) in chunks of nb on `threads` threads. On one thread the range
 * runs on the caller, whose own buffer serves it as it serves the
 * whole-batch forward: none is lent (the image job's memory). On several,
 * which thread runs which part is not fixed (core/pool.c), so a part's own
 * buffer would be allocated on whichever thread ran it: each part gets one
 * from the plan, of the most its nodes' GEMMs ask at chunks of nb (the
 * layers' pack_floats; a chunk of fewer asks no more), in whole 64 bytes.
 * That is far below the most any GEMM can ask (al_gemm_pack_floats_max,
 * 2.2 MB on AVX-512): MobileNetV2-0.5's frozen part at 96x96 in chunks of
 * 3 asks 56,832 floats (0.22 MB). */
static size_t lent_floats(const al_model *m, int from, int e, int nb, int threads) {
    if (threads <= 1) return 0;
    size_t f = 0;
    for (int i = from; i < e; i++) {
        const al_node *nd = &m->nodes[i];
        if (nd->vt->pack_floats) f = AL_MAX(f, nd->vt->pack_floats(nd, nb, 0));
    }
    return (f + 15) & ~(size_t)15;
}

/* The chunk plan's block for an arena of `arena` bytes and a lent pack
 * buffer of `pack` floats per thread, and 64 bytes to align the buffers;
 * 0 when that overflows. */
static size_t block_bytes(size_t arena, size_t pack, int threads) {
    const size_t T = (size_t)AL_MAX(threads, 1);
    if (pack > (SIZE_MAX - arena) / sizeof(float)) return 0;
    const size_t per = arena + pack * sizeof(float);
    return per > (SIZE_MAX - 64) / T ? 0 : per * T + 64;
}

/* The chunk size for a forward from node 0 through [0, e) that asks for
 * chunks of nb on `threads` threads, where its block must fit in `gap`
 * bytes (the plan's unused span): nb when it fits; for the default size
 * (m->chunk 0) else the largest size from ceil(nb / 2) up that fits (a
 * chunk of at least half the caches' size keeps most of the gain: the
 * image job trained as fast in chunks of 8 as of 10 or 16); 0 when none
 * does (the arenas are then allocated). */
static int fit_nb(const al_model *m, int e, int nb, int threads, size_t gap, al_status *st) {
    size_t a = 0, b;
    *st = AL_OK;
    if ((*st = al_chunk_arena_bytes(m, 0, e, nb, &a)) != AL_OK) return 0;
    if ((b = block_bytes(a, lent_floats(m, 0, e, nb, threads), threads)) && b <= gap) return nb;
    if (m->chunk > 0) return 0; /* the caller's size, or none */
    int lo = (nb + 1) / 2, hi = nb - 1, best = 0;
    while (lo <= hi) { /* the block grows with the chunk */
        int mid = lo + (hi - lo) / 2;
        if ((*st = al_chunk_arena_bytes(m, 0, e, mid, &a)) != AL_OK) return 0;
        if ((b = block_bytes(a, lent_floats(m, 0, e, mid, threads), threads)) && b <= gap) {
            best = mid;
            lo = mid + 1;
        } else {
            hi = mid - 1;
        }
    }
    return best;
}

/* The unused span of m's plan for the chunked range [from, e): its size
 * and offset, none (0) unless from is 0 and the plan was made for it. */
static size_t plan_gap(const al_model *m, int from, int e, size_t *off) {
    for (int k = 0; k < 2; k++)
        if (from == 0 && m->plan_block && m->chunk_gap[k].e == e && m->chunk_gap[k].size) {
            *off = m->chunk_gap[k].off;
            return m->chunk_gap[k].size;
        }
    return 0;
}

/* Makes m->cplan for [from, e) in chunks of nb samples on `threads`
 * threads (the last plan is freed first, so one exists at a time): in the
 * plan's unused span when a chunk of nb, or for the default size one of at
 * least half as many, fits there (fit_nb; cp->nb the size it holds), else
 * allocated. */
static al_status chunk_build(al_model *m, int from, int e, int nb, int threads) {
    const int nt = m->ntensors, nn = m->nnodes;
    const size_t T = (size_t)threads;
    al_chunk_release(m);
    al_chunkplan *cp = al_calloc(1, sizeof *cp);
    if (!cp) return AL_ENOMEM;
    for (int i = from; i < e; i++) cp->nmore = AL_MAX(cp->nmore, (size_t)AL_MAX(al_cfg_nsrc(&m->nodes[i].cfg) - 1, 0));
    cp->off = al_malloc(sizeof *cp->off * ((size_t)nt + 2 * (size_t)nn));
    cp->ins = al_malloc(sizeof *cp->ins * 2 * (size_t)nt);
    cp->tnodes = al_malloc(sizeof *cp->tnodes * T);
    cp->tmore = al_malloc(sizeof *cp->tmore * T * (cp->nmore ? cp->nmore : 1));
    cp->tst = al_malloc(sizeof *cp->tst * T);
    cp->tmsg = al_malloc(T * AL_CHUNK_MSG);
    al_memplan p;
    memset(&p, 0, sizeof p);
    if (!cp->off || !cp->ins || !cp->tnodes || !cp->tmore || !cp->tst || !cp->tmsg) goto oom;
    cp->ws_off = cp->off + nt;
    cp->aux_off = cp->ws_off + nn;
    cp->outs = cp->ins + nt;
    size_t goff = 0, gap = plan_gap(m, from, e, &goff);
    const int asked = nb;
    if (gap) {
        al_status st;
        int fit = fit_nb(m, e, nb, threads, gap, &st);
        if (st != AL_OK) goto oom;
        if (fit) nb = fit;
        else gap = 0;
    }
    if (chunk_layout(m, from, e, nb, &p, cp) != AL_OK) goto oom;
    cp->pack_floats = lent_floats(m, from, e, nb, threads);
    /* the arena and pack sizes are multiples of 64 */
    const size_t all = block_bytes(p.total, cp->pack_floats, threads);
    if (!all) {
        al_error(AL_ENOMEM, "chunk arenas of %zu bytes for %d threads overflow", p.total, threads);
        goto oom;
    }
    /* in the plan's span that the range leaves unused, when it fits */
    if (gap && all <= gap) cp->block = m->plan_block + goff;
    if (!cp->block) {
        cp->block = al_malloc(all);
        cp->owned = 1;
    }
    if (!cp->block) goto oom;
    /* the pack buffers 64-byte aligned, as the GEMM's own are */
    cp->pack = (float *)(void *)(((uintptr_t)(cp->block + p.total * T) + 63) & ~(uintptr_t)63);
    /* zero-sized scratch and aux: the block's start, never read */
    for (int i = from; i < e; i++) cp->ws_off[i] = cp->aux_off[i] = 0;
    for (int k = 0; k < p.nbuf; k++) {
        const al_membuf *b = &p.buf[k];
        if (b->kind == AL_MB_ACT) cp->off[al_model_tensor(m, b->node, b->port)] = b->offset;
        if (b->kind == AL_MB_WS) cp->ws_off[b->node] = b->offset;
        if (b->kind == AL_MB_AUX) cp->aux_off[b->node] = b->offset;
    }
    cp->bytes = p.total;
    cp->from = from;
    cp->to = e;
    cp->nb = nb;
    cp->asked = asked;
    cp->threads = threads;
    al_memplan_free(&p);
    m->cplan = cp;
    return AL_OK;
oom:
    al_memplan_free(&p);
    m->cplan = cp;
    al_chunk_release(m);
    return AL_ENOMEM;
}

al_status al_chunk_arena_bytes(const al_model *m, int from, int e, int nb, size_t *bytes) {
    *bytes = 0;
    if (e <= from) return AL_OK;
    al_memplan p;
    al_status st = chunk_layout(m, from, e, nb, &p, NULL);
    if (st == AL_OK) *bytes = p.total;
    al_memplan_free(&p);
    return st;
}

/* The first node in [0, e) that cannot run in chunks in a forward of the
 * model frozen at freeze (training: nodes from freeze on train; freeze <
 * 0: the trainable ones as m stands), or e. */
static int chunk_end_at(const al_model *m, int freeze, int e, int training) {
    for (int i = 0; i < e; i++)
        if (!chunk_node_ok(&m->nodes[i], training && (freeze >= 0 ? i >= freeze : m->nodes[i].trainable))) return i;
    return e;
}

int al_chunk_end_at(const al_model *m, int freeze, int training) {
    if (m->chunk < 0 || m->observe) return 0;
    return chunk_end_at(m, freeze, AL_MIN(m->nnodes, al_memplan_lowest_at(m, freeze)), training);
}

al_status al_chunk_slim(const al_model *m, int maxbatch, int freeze, int *es, int *er, size_t *reserve) {
    *es = *er = 0;
    *reserve = 0;
    if (m->chunk < 0 || m->observe || m->plan_whole || maxbatch < 2) return AL_OK;
    const int L = al_memplan_lowest_at(m, freeze);
    const int e1 = chunk_end_at(m, freeze, L, 1), e0 = chunk_end_at(m, freeze, L, 0);
    if (e1 < 2) return AL_OK; /* a range of one node never runs in chunks */
    size_t a = 0;
    al_status st = al_chunk_arena_bytes(m, 0, e0, al_chunk_samples(m, 0, e0, maxbatch, 1), &a);
    if (st != AL_OK) return st;
    *es = e1;
    *er = e0;
    *reserve = block_bytes(a, 0, 1);
    return AL_OK;
}

/* The plan builders live here, above memplan.c: they ask al_chunk_slim
 * for the slim range, then memplan.c for the plan with it. */
al_status al_memplan_build(const al_model *m, int maxbatch, int naive, al_memplan *p) {
    return al_memplan_build_at(m, maxbatch, naive, -1, p);
}

/* The plan with the slim range al_chunk_slim gives for the model frozen at
 * slim_at (slim 1: asked for), backward reaching as when frozen at freeze. */
static al_status build_sliced(const al_model *m, int maxbatch, int naive, int slim, int slim_at, int freeze,
                              al_memplan *p) {
    int es = 0, er = 0;
    size_t reserve = 0;
    if (slim && m && p && !naive && slim_at <= m->nnodes && maxbatch > 0 && maxbatch <= (1 << 20)) {
        al_status st = al_chunk_slim(m, maxbatch, slim_at, &es, &er, &reserve);
        if (st != AL_OK) {
            memset(p, 0, sizeof *p);
            return st;
        }
    }
    return al_memplan_build_slim(m, maxbatch, naive, freeze, es, er, reserve, p);
}

al_status al_memplan_build_at(const al_model *m, int maxbatch, int naive, int freeze, al_memplan *p) {
    return build_sliced(m, maxbatch, naive, 1, freeze, freeze, p);
}

al_status al_memplan_build_infer(const al_model *m, int maxbatch, int naive, int cut, al_memplan *p) {
    return build_sliced(m, maxbatch, naive, cut >= 1, cut, m ? m->nnodes : 0, p);
}

/* 1 when buffer b of the main plan keeps bytes a chunked forward of
 * [0, e) needs: it is alive during the range's steps, and it is not the
 * whole-batch buffer of one of its chunk-local tensors nor one of its
 * nodes' scratch and aux (the chunks have their own in the arena), nor a
 * slim plan's span kept for the arena. */
static int gap_used(const al_model *m, const al_membuf *b, int e) {
    if (b->kind == AL_MB_CHUNK) return 0; /* kept for the arenas */
    if (b->node >= 0 && b->node < e) {
        if (b->kind == AL_MB_WS || b->kind == AL_MB_AUX) return 0;
        if (b->kind == AL_MB_ACT && chunk_local(m, al_model_tensor(m, b->node, b->port), e)) return 0;
    }
    for (int j = 0; j < b->nlive; j++)
        if (b->t0[j] <= e - 1) return 1; /* forward step i is node i's */
    return 0;
}

static int span_less(const void *a, const void *b) {
    const size_t *x = a, *y = b;
    return x[0] < y[0] ? -1 : x[0] > y[0];
}

al_status al_chunk_gap(const al_model *m, const al_memplan *p, int e, size_t *off, size_t *size) {
    *off = *size = 0;
    size_t *sp = al_malloc(sizeof *sp * 2 * (size_t)(p->nbuf > 0 ? p->nbuf : 1));
    if (!sp) return AL_ENOMEM;
    size_t k = 0;
    for (int i = 0; i < p->nbuf; i++)
        if (gap_used(m, &p->buf[i], e)) {
            sp[2 * k] = p->buf[i].offset;
            sp[2 * k + 1] = p->buf[i].offset + p->buf[i].bytes;
            k++;
        }
    qsort(sp, k, 2 * sizeof *sp, span_less);
    size_t top = 0; /* offsets and sizes are multiples of 64: so is every span */
    for (size_t i = 0; i <= k; i++) {
        size_t start = i < k ? sp[2 * i] : AL_MAX(p->total, top);
        if (start > top && start - top > *size) {
            *off = top;
            *size = start - top;
        }
        if (i < k) top = AL_MAX(top, sp[2 * i + 1]);
    }
    al_free(sp);
    return AL_OK;
}

al_status al_chunk_arena_bound(const al_model *m, int freeze, int plan_batch, int threads, size_t *bytes) {
    *bytes = 0;
    if (m->chunk < 0 || plan_batch <= 1) return AL_OK;
    const int L = al_memplan_lowest_at(m, freeze), T = AL_MAX(threads, 1);
    const size_t ab = (size_t)plan_batch;
    /* the plan the forward will have: its unused span, and whether it is
     * slim (every forward from node 0 then runs its range in chunks) */
    al_memplan p;
    al_status st = al_memplan_build_at(m, plan_batch, m->plan_naive, freeze, &p);
    for (int training = 0; training < 2 && st == AL_OK; training++) {
        const int e = chunk_end_at(m, freeze, L, training), slim = p.slim > 0;
        if (e < 2) continue;
        /* the largest chunk of a forward of at most plan_batch samples on
         * T parts (al_chunk_samples: no chunks below the thread count, a
         * thread's share at most), and in a slim plan on one part, where
         * al_chunk_samples says whole (al_model_forward_range) */
        size_t nbs[2] = {0, 0};
        if (m->chunk > 0) {
            nbs[0] = AL_MIN((size_t)m->chunk, ab);
            if (slim) nbs[1] = nbs[0];
            if (T == 1 && nbs[0] >= ab) nbs[0] = 0; /* whole */
        } else {
            const size_t cap = chunk_cap(m, 0, e);
            if ((size_t)T <= ab) nbs[0] = AL_MIN(cap, (ab + (size_t)T - 1) / (size_t)T);
            if (T == 1 && nbs[0] >= ab) nbs[0] = 0; /* whole */
            if (slim) nbs[1] = T == 1 ? AL_MIN(cap, ab) : AL_MIN(ab, (size_t)T - 1);
        }
        size_t off, gap = 0;
        if ((nbs[0] || nbs[1]) && (st = al_chunk_gap(m, &p, e, &off, &gap)) != AL_OK) break;
        for (int k = 0; k < 2 && st == AL_OK; k++) {
            const int parts = k ? 1 : T;
            size_t a = 0, b;
            if (!nbs[k]) continue;
            /* A forward that asks for chunks of at most nb finds one that
             * fits in the unused span when this does (fit_nb looks from
             * half its size up, and the block grows with the chunk) */
            if (gap && fit_nb(m, e, (int)nbs[k], parts, gap, &st)) continue; /* nothing beyond the plan */
            if (st != AL_OK) break;
            /* allocated: the block for chunks of nb */
            if ((st = al_chunk_arena_bytes(m, 0, e, (int)nbs[k], &a)) != AL_OK) break;
            if (!(b = block_bytes(a, lent_floats(m, 0, e, (int)nbs[k], parts), parts))) {
                st = al_error(AL_ENOMEM, "chunk arenas for %d threads overflow", parts);
                break;
            }
            *bytes = AL_MAX(*bytes, b);
        }
    }
    al_memplan_free(&p);
    return st;
}

/* [a, a + an) and [b, b + bn) share a byte */
static int bytes_meet(const void *a, size_t an, const void *b, size_t bn) {
    const char *x = a, *y = b;
    return an && bn && x < y + bn && y < x + an;
}

/* Bytes of tensor t for n samples as this forward stores it. */
static size_t tensor_bytes(const al_model *m, int t, int n) { return (size_t)n * sample_bytes(m, t, 0); }

/* 1 when no tensor the range writes whole shares a byte with one it reads
 * from below (or with the model input x): see the file comment. */
static int chunk_safe(const al_model *m, const al_chunkplan *cp, const float *x, int n) {
    const size_t xn = cp->from == 0 ? sizeof(float) * (size_t)n * al_shape_numel(&m->in) : 0;
    /* arenas in the plan's unused span: not where the input lies */
    if (!cp->owned && bytes_meet(cp->block, block_bytes(cp->bytes, cp->pack_floats, cp->threads), x, xn)) return 0;
    for (int o = 0; o < cp->nouts; o++) {
        const int t = cp->outs[o];
        const size_t tn = tensor_bytes(m, t, n);
        if (bytes_meet(m->act[t], tn, x, xn)) return 0;
        for (int k = 0; k < cp->nins; k++)
            if (bytes_meet(m->act[t], tn, m->act[cp->ins[k]], tensor_bytes(m, cp->ins[k], n))) return 0;
    }
    return 1;
}

int al_chunk_ready(al_model *m, int threads, int from, int e, int *nb, const float *x, int n) {
    const al_chunkplan *cp = m->cplan;
    /* a plan made for more samples a chunk serves fewer (a training batch
     * and an evaluation batch of another size share one plan) */
    if (!cp || cp->from != from || cp->to != e || cp->asked < *nb || cp->threads != threads) {
        if (chunk_build(m, from, e, *nb, threads) != AL_OK) return 0; /* no arena: the forward runs whole */
        cp = m->cplan;
    }
    *nb = AL_MIN(*nb, cp->nb); /* made smaller to fit in the plan's unused span */
    return chunk_safe(m, cp, x, n);
}
