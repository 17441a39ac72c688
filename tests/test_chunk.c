/* The chunked forward (src/model/chunk.c; al_model_set_forward_chunk):
 * the frozen nodes run a few samples at a time through the whole frozen
 * range. Checked here, bit for bit against the same model run node by node
 * over the whole batch (chunk -1):
 *  - the output of graphs with adds, muls, splits, concats, sums, the
 *    model input read by several nodes, batch norm, pools and an LSTM
 *    (where the range must stop), frozen at every point, in chunks of 1,
 *    2, 3, 5 and more samples than the batch, on 1 and 3 threads;
 *  - forward_range to every node K and the frontier packed there (what the
 *    runtime cache stores), and the forward from that frontier;
 *  - a training forward and backward: the gradients of the trained part
 *    behind a chunked frozen prefix;
 *  - the int8 chain (tensors that travel as bytes, an int8 add) under
 *    every int8 variant;
 *  - a range whose plan gives a tensor read from below and one written
 *    whole the same bytes: refused (al_chunk_ready), and still the same;
 *  - the chunk size: the setting, the cache-sized default, an LSTM's end;
 *  - a node failing inside a chunk on a pool thread: its status and message;
 *  - the slim plan, which has no whole-batch buffers for the chunked
 *    range (every test above also runs its chunked forwards in one, made
 *    afresh): its buffers, the arena's span, batches smaller than the
 *    thread count (one part on the caller), a forward that must run the
 *    range whole (a whole plan from then on), a new freeze point, an
 *    observer, an input inside the plan, and the memory budget's bound;
 *  - inference on an unfrozen model (al_model_predict, al_evaluate): a plan
 *    as for the model frozen entirely, every graph shape; a training plan
 *    that holds the batch serves it; training re-plans after it. */
#include "al_test.h"
#include "autlearn_cloud.h"
#include "cloud/compile/quant.h"
#include "kernels/kernels.h"

/* graph shapes of test_graph*.c, and a small MobileNet-like net */
static const char *const SPECS[] = {
    "input 3x7x5; conv 4 k=3 p=1; tanh; conv 4 k=1 in=0; sigmoid; add 0; dwconv k=3 p=1 in=1; mul 4; gap; dense 3",
    "input 6; dense 6; dense 6 in=-1; tanh; add 0; add -1; dense 5 in=3; tanh; add 5; dense 5 in=4; add 7; dense 2",
    "input 3x5; a: dense 10; s: split axis=-1 sizes=2,4,1,3; p: tanh in=s@1; q: dense 4 in=s; r: add p; "
    "c: concat s@1,s@2 axis=-1 in=r; flatten; dense 3",
    "input 5x3; s: split axis=0 sizes=1,3,1 in=input; d: dense 3 in=s@1; e: add s@0; f: mul s@2 bcast=1; "
    "flatten; g: dense 5; split axis=0 sizes=2,3",
    "input 1x8x8; stem: conv 3 k=3 p=1; r0: tanh; c1: conv 2 k=3 p=1; k1: concat in=r0,c1 axis=0; "
    "c2: conv 2 k=3 p=1; k2: concat in=r0,c1,c2 axis=0; c3: conv 2 k=1; k3: concat r0,c1,c2,c3,r0 axis=0 in=k2; "
    "gap; dense 3",
    "input 5; a: dense 3; b: tanh in=input; cat: concat a,input,b,a axis=0; d: dense 5; s: sum input,b,input in=d; "
    "dense 2",
    "input 2x9x9; conv 6 k=3 p=1; batchnorm; relu; maxpool 2; conv 8 k=3 p=1; relu6; avgpool 2; dropout 0.3; "
    "flatten; dense 4",
    "input 3x16x16; conv 8 k=3 s=2 p=1 act=relu6; dwconv k=3 p=1 act=relu6; conv 4 k=1; conv 24 k=1 act=relu6; "
    "dwconv k=3 s=2 p=1 act=relu6; conv 8 k=1; conv 48 k=1 act=relu6; dwconv k=3 p=1 act=relu6; conv 8 k=1; add 5; "
    "gap; dense 5",
    "input 5x3; l: lstm 4 outputs=3; a: add l@2 in=l@1; d: dense 2; f: flatten in=l; g: dense 2; s: sum d; "
    "r: gru 3 outputs=2 in=l; h: dense 2 in=r@1; mul s bcast=1",
};
#define NSPECS ((int)(sizeof SPECS / sizeof SPECS[0]))

static size_t out_numel(const al_model *m) { return al_shape_numel(&m->nodes[m->nnodes - 1].out); }

/* A plan made afresh: slim when chunks are on (al_chunk_slim). */
static void fresh_plan(al_model *m) {
    al_model_release_plan(m);
    m->plan_whole = 0;
}

/* The prediction of m on n samples in chunks of `chunk`, in the plan for
 * training at m's freeze point (made afresh when chunk >= 0), or with
 * `infer` in the plan al_model_predict makes for itself when none is there
 * (afresh: the inference plan, as for the model frozen entirely). */
static float *predict_as(al_model *m, al_pool *pool, const float *x, int n, int chunk, int infer) {
    float *y = malloc(sizeof(float) * (size_t)n * out_numel(m));
    al_model_set_forward_chunk(m, chunk);
    if (chunk >= 0) fresh_plan(m);
    if (!infer) REQUIRE_OK(al_model_plan(m, m->maxbatch > 0 ? m->maxbatch : AL_MIN(n, 64)));
    REQUIRE_OK(al_model_predict(m, pool, x, n, y));
    return y;
}

static float *predict(al_model *m, al_pool *pool, const float *x, int n, int chunk) {
    return predict_as(m, pool, x, n, chunk, 0);
}

static int same(const float *a, const float *b, size_t n) { return memcmp(a, b, sizeof(float) * n) == 0; }

/* The gradients of m's trained parameters into g (dir 0), or 1 when they
 * equal g (dir 1). */
static int grads(const al_model *m, float *g, int dir) {
    size_t o = 0;
    int eq = 1;
    for (int i = al_memplan_lowest(m); i < m->nnodes; i++)
        for (int p = 0; p < m->nodes[i].nparams; p++) {
            const al_param *q = &m->nodes[i].params[p];
            if (q->is_state || !q->g) continue;
            if (dir == 0)
                memcpy(g + o, q->g, sizeof(float) * q->n);
            else
                eq &= same(g + o, q->g, q->n);
            o += q->n;
        }
    return eq;
}

/* A training step of m and of the reference w (the same weights and
 * freeze point) on x: 1 when m's gradients equal w's bit for bit. */
static int step_grads_same(al_model *m, al_model *w, al_pool *pool, const float *x, int n) {
    const size_t no = (size_t)n * out_numel(m);
    float *dy = malloc(sizeof(float) * no), *g = malloc(sizeof(float) * (m->nweights ? m->nweights : 1));
    for (size_t i = 0; i < no; i++) dy[i] = 0.01f * (float)((int)(i % 7) - 3);
    int eq = 0;
    for (int v = 0; v < 2; v++) {
        al_model *o = v ? m : w;
        const float *out;
        al_model_zero_grad(o);
        REQUIRE_OK(al_model_forward_from(o, pool, 0, x, n, 1, &out));
        REQUIRE_OK(al_model_backward(o, pool, x, dy, n));
        eq = grads(o, g, v);
    }
    free(dy);
    free(g);
    return eq;
}

/* Every freeze point, every chunk size, 1 and 3 threads: the output. */
static void test_outputs(al_pool *pool3) {
    static const int chunks[] = {1, 2, 3, 5, 64, 0};
    const int n = 7;
    for (int s = 0; s < NSPECS; s++) {
        al_model *m;
        REQUIRE_OK(al_model_from_spec(SPECS[s], 3, &m));
        al_test_randomize_bn(m, 5);
        float *x = al_test_rand_input(m, n, 11);
        for (int f = 0; f <= m->nnodes; f++) {
            REQUIRE_OK(al_model_freeze(m, f));
            float *ref = predict(m, NULL, x, n, -1);
            for (int t = 0; t < 2; t++)
                for (size_t c = 0; c < sizeof chunks / sizeof *chunks; c++) {
                    float *y = predict(m, t ? pool3 : NULL, x, n, chunks[c]);
                    int ok = same(y, ref, (size_t)n * out_numel(m));
                    if (!ok) fprintf(stderr, "spec %d freeze %d chunk %d threads %d: differs\n", s, f, chunks[c], t ? 3 : 1);
                    CHECK(ok);
                    free(y);
                }
            /* unfrozen, the plan al_model_predict makes for itself: as for
             * the model frozen entirely (no gradients), its prefix slim */
            for (int t = 0; t < 2 && f == 0; t++)
                for (size_t c = 0; c < sizeof chunks / sizeof *chunks; c++) {
                    float *y = predict_as(m, t ? pool3 : NULL, x, n, chunks[c], 1);
                    int ok = same(y, ref, (size_t)n * out_numel(m)) && m->plan_lowest == m->nnodes &&
                             m->plan_size == al_model_plan_bytes_at(m, n, m->nnodes);
                    for (int k = 0; k < m->ntensors; k++) ok &= m->dact[k] == NULL;
                    if (!ok) fprintf(stderr, "spec %d inference plan chunk %d threads %d: differs\n", s, chunks[c], t ? 3 : 1);
                    CHECK(ok);
                    free(y);
                }
            free(ref);
        }
        free(x);
        al_model_free(m);
    }
}

/* forward_range(0, K) in chunks leaves the frontier at K, and the forward
 * from it, as the whole batch does; also where the plan made the chunked
 * range unsafe (counted: at least one such K must occur). */
static void test_frontier(void) {
    const int n = 5;
    int refused = 0, chunked = 0;
    for (int s = 0; s < NSPECS; s++) {
        al_model *m;
        REQUIRE_OK(al_model_from_spec(SPECS[s], 4, &m));
        REQUIRE_OK(al_model_freeze(m, m->nnodes));
        float *x = al_test_rand_input(m, n, 12);
        float *ref = predict(m, NULL, x, n, -1);
        REQUIRE_OK(al_model_plan(m, n));
        for (int K = 1; K < m->nnodes; K++) {
            size_t feat = al_model_frontier_numel(m, K);
            float *pa = malloc(sizeof(float) * feat * n), *pb = malloc(sizeof(float) * feat * n);
            al_model_set_forward_chunk(m, -1);
            REQUIRE_OK(al_model_forward_range(m, NULL, 0, K, x, n, 0));
            al_model_frontier_pack(m, K, n, pa);
            /* the range's output, m->act[K - 1], whoever reads it */
            size_t on = (size_t)n * al_shape_numel(&m->nodes[K - 1].out);
            float *ya = malloc(sizeof(float) * on);
            memcpy(ya, m->act[K - 1], sizeof(float) * on);
            al_model_set_forward_chunk(m, 2);
            if (K % 2) fresh_plan(m); /* slim: forward_range below its range runs it whole */
            REQUIRE_OK(al_model_forward_range(m, NULL, 0, K, x, n, 0));
            al_model_frontier_pack(m, K, n, pb);
            int ok = memcmp(pa, pb, sizeof(float) * feat * n) == 0 && same(ya, m->act[K - 1], on);
            if (!ok) fprintf(stderr, "spec %d: frontier or output at %d differs\n", s, K);
            CHECK(ok);
            free(ya);
            /* from the frontier, in chunks (where no later node reads the model input) */
            if (al_model_src_across(m, K) >= 0) {
                free(pa);
                free(pb);
                continue;
            }
            const float *out;
            REQUIRE_OK(al_model_forward_from(m, NULL, K, pb, n, 0, &out));
            ok = same(out, ref, (size_t)n * out_numel(m));
            if (!ok) fprintf(stderr, "spec %d: forward from %d differs\n", s, K);
            CHECK(ok);
            int e = al_chunk_end(m, K, m->nnodes, 0);
            if (e - K >= 2) {
                int two = 2, r = al_chunk_ready(m, 1, K, e, &two, pb, n);
                refused += !r;
                chunked += r;
            }
            free(pa);
            free(pb);
        }
        free(ref);
        free(x);
        al_model_free(m);
    }
    if (refused == 0 || chunked == 0) fprintf(stderr, "frontier ranges: %d chunked, %d refused\n", chunked, refused);
    CHECK(refused >= 1 && chunked >= 1);
}

/* A training step behind a frozen prefix: the prefix runs in chunks, the
 * rest whole; the gradients are the whole batch's. */
static void test_training(al_pool *pool3) {
    const int n = 6;
    for (int s = 0; s < NSPECS; s++) {
        al_model *m;
        REQUIRE_OK(al_model_from_spec(SPECS[s], 6, &m));
        float *x = al_test_rand_input(m, n, 13);
        size_t no = (size_t)n * out_numel(m);
        float *dy = malloc(sizeof(float) * no), *g = malloc(sizeof(float) * m->nweights);
        for (size_t i = 0; i < no; i++) dy[i] = 0.01f * (float)((int)(i % 13) - 6);
        for (int f = 1; f < m->nnodes; f++) {
            REQUIRE_OK(al_model_freeze(m, f));
            for (int t = 0; t < 2; t++) /* a weight gradient's sums depend on the thread count */
                for (int c = 0; c < 2; c++) {
                    al_pool *pool = t ? pool3 : NULL;
                    al_model_set_forward_chunk(m, c ? 2 : -1);
                    if (c) fresh_plan(m);
                    al_model_zero_grad(m);
                    al_rng_seed(&m->rng, 77, 0xd0); /* the same dropout masks */
                    const float *y;
                    REQUIRE_OK(al_model_forward_from(m, pool, 0, x, n, 1, &y));
                    REQUIRE_OK(al_model_backward(m, pool, x, dy, n));
                    if (!c) {
                        grads(m, g, 0);
                        continue;
                    }
                    int ok = grads(m, g, 1);
                    if (!ok) fprintf(stderr, "spec %d freeze %d threads %d: gradients differ\n", s, f, t ? 3 : 1);
                    CHECK(ok);
                }
        }
        free(dy);
        free(g);
        free(x);
        al_model_free(m);
    }
}

/* The int8 chain: tensors that travel as int8 bytes and an int8 add. */
static void test_int8(al_pool *pool3) {
    const char *spec = "input 3x12x12; conv 32 k=3 p=1 act=relu; dwconv k=3 p=1 act=relu6; conv 32 k=1; add 0; "
                       "conv 48 k=1 act=relu6; dwconv k=3 s=2 p=1 act=relu6; conv 16 k=1 act=relu; flatten; "
                       "dense 64 act=relu; dense 5";
    const int n = 9, ncal = 16;
    al_model *m;
    REQUIRE_OK(al_model_from_spec(spec, 13, &m));
    REQUIRE_OK(al_model_freeze(m, 9));
    for (int i = 0; i < 9; i++)
        if (i != 3 && i != 7) REQUIRE_OK(al_quantize_node(m, i));
    float *x = al_test_rand_input(m, n + ncal, 21);
    REQUIRE_OK(al_quantize_calibrate_x(m, NULL, x + (size_t)n * al_shape_numel(&m->in), ncal, 99.0, NULL));
    CHECK(al_model_i8_links(m) >= 5 && al_model_i8_adds(m) == 1);
    for (int v = 0; v < AL_I8_NVARIANTS; v++) {
        if (!al_i8_force((al_i8_variant)v)) continue;
        float *ref = predict(m, NULL, x, n, -1);
        static const int chunks[] = {1, 2, 4};
        for (int t = 0; t < 2; t++)
            for (int c = 0; c < 3; c++) {
                float *y = predict(m, t ? pool3 : NULL, x, n, chunks[c]);
                int ok = same(y, ref, (size_t)n * out_numel(m));
                if (!ok) fprintf(stderr, "int8 (%s) chunk %d: differs\n", al_i8_variant_name((al_i8_variant)v), chunks[c]);
                CHECK(ok);
                CHECK(m->cplan && m->cplan->nb == chunks[c] && m->cplan->threads == (t ? 3 : 1));
                free(y);
            }
        /* the plan for chunks of 4 serves chunks of 2 (kept: made again, it
         * would be for 2) */
        float *y = malloc(sizeof(float) * (size_t)n * out_numel(m));
        al_model_set_forward_chunk(m, 2);
        REQUIRE_OK(al_model_predict(m, pool3, x, n, y));
        CHECK(m->cplan && m->cplan->nb == 4 && same(y, ref, (size_t)n * out_numel(m)));
        free(y);
        free(ref);
    }
    al_i8_force(AL_I8_AUTO);
    free(x);
    al_model_free(m);
}

/* The size of a chunk and the range's end. */
static void test_sizes(void) {
    al_model *m;
    /* 64x32x32 floats in and out of the widest node: 512 KB a sample */
    REQUIRE_OK(al_model_from_spec("input 64x32x32; dwconv k=3 p=1; relu; gap; dense 2", 1, &m));
    REQUIRE_OK(al_model_freeze(m, 3));
    CHECK(al_chunk_end(m, 0, 4, 1) == 3); /* stops at the trained dense */
    CHECK(al_chunk_samples(m, 0, 3, 32, 1) == 4);  /* 2 MB / 512 KB */
    CHECK(al_chunk_samples(m, 0, 3, 32, 2) == 4);
    CHECK(al_chunk_samples(m, 0, 3, 16, 8) == 2);  /* a thread's share at most */
    CHECK(al_chunk_samples(m, 0, 3, 8, 1) == 4);   /* 2 MB: 4 samples */
    CHECK(al_chunk_samples(m, 0, 3, 30, 1) == 4);  /* 8 chunks: 7 of 4, then 2 */
    CHECK(al_chunk_samples(m, 0, 3, 17, 1) == 4);  /* 5 chunks of at most 4: 4 + 4 + 4 + 4 + 1 */
    CHECK(al_chunk_samples(m, 0, 3, 10, 1) == 4);  /* 3 chunks: 4 + 4 + 2 */
    CHECK(al_chunk_samples(m, 0, 3, 9, 1) == 3);   /* 3 chunks of 3, not 4 + 4 + 1 */
    CHECK(al_chunk_samples(m, 0, 3, 5, 1) == 3);   /* 3 + 2, not 4 + 1 */
    CHECK(al_chunk_samples(m, 0, 3, 18, 2) == 3);  /* shares of 9 in 3 chunks of 3 */
    CHECK(al_chunk_samples(m, 0, 3, 41, 1) == 4);  /* 11 chunks of at most 4 (ceil(41 / 11) = 4) */
    CHECK(al_chunk_samples(m, 0, 3, 20, 3) == 4);  /* shares of 7 in 2 chunks of 4 */
    CHECK(al_chunk_samples(m, 0, 3, 3, 4) == 3);   /* fewer samples than threads: no chunks */
    CHECK(al_chunk_samples(m, 1, 2, 32, 1) == 32); /* one node alone: no chunks */
    CHECK(al_chunk_samples(m, 0, 3, 3, 1) == 3);   /* never more than the batch */
    /* the arena the memory budget counts is the one a forward makes; here
     * in a whole plan (test_slim: the slim one) */
    m->plan_whole = 1;
    float *x = al_test_rand_input(m, 32, 3), *y = malloc(sizeof(float) * 32 * 2);
    REQUIRE_OK(al_model_predict(m, NULL, x, 32, y));
    size_t bound = 1, two = 1;
    REQUIRE_OK(al_chunk_arena_bound(m, 3, 32, 1, &bound));
    REQUIRE_OK(al_chunk_arena_bound(m, 3, 32, 2, &two));
    /* an arena per thread, and on several threads a GEMM pack buffer per
     * thread of what the range's GEMMs ask (on one, the caller's own
     * serves; here none on any: the dwconv, the relu and the gap make no
     * GEMM call, test_lent has ranges that do): here in the span of the
     * plan that the dwconv's and the relu's whole outputs (8 MB each) take
     * and the chunks leave unused, so nothing beyond the plan */
    const size_t pack = 0, a = m->cplan ? m->cplan->bytes : 0;
    const al_chunkplan *cp = m->cplan;
    CHECK(cp && cp->nb == 4 && cp->threads == 1 && cp->pack_floats == 0 && !cp->owned && bound == 0 && two == 0);
    /* the span: inside the plan, clear of the range's whole output (the
     * gap's, read by the dense) and of the pointer tables */
    const size_t plan = al_model_plan_bytes(m, 32);
    const char *blk = cp ? cp->block : NULL, *pb = m->plan_block;
    CHECK(blk && blk >= pb && blk + a + 64 <= pb + plan);
    const char *g = (const char *)m->act[2], *tab = (const char *)(void *)m->act;
    CHECK(blk && (g + 32 * 64 * sizeof(float) <= blk || blk + a + 64 <= g));
    CHECK(blk && (tab + 3 * 8 * (size_t)m->ntensors <= blk || blk + a + 64 <= tab));
    /* chunks of 16 on 2 threads: arenas of 8 MB do not fit in 16 MB:
     * allocated, and counted */
    al_model_set_forward_chunk(m, 16);
    size_t a16 = 0, two16 = 0;
    REQUIRE_OK(al_chunk_arena_bytes(m, 0, 3, 16, &a16));
    REQUIRE_OK(al_chunk_arena_bound(m, 3, 32, 2, &two16));
    CHECK(two16 == 2 * (a16 + pack) + 64 && two16 > 16u << 20);
    al_pool *pool2;
    REQUIRE_OK(al_pool_new(2, &pool2));
    float *y2 = malloc(sizeof(float) * 32 * 2);
    REQUIRE_OK(al_model_predict(m, pool2, x, 32, y2));
    /* a prediction's range takes in the dense (trained only in training):
     * each part is lent what its GEMM of 16 rows asks, in whole 64 bytes */
    const size_t dense16 = (al_gemm_pack_floats(16, 2, 64) + 15) & ~(size_t)15;
    CHECK(m->cplan && m->cplan->owned && m->cplan->nb == 16 && m->cplan->to == 4 &&
          m->cplan->pack_floats == dense16 && same(y2, y, 32 * 2));
    al_model_set_forward_chunk(m, 0);
    /* 16 samples on 2 threads, planned for 16: chunks of 4 asked (shares of
     * 8); the plan's unused span (the dwconv's and the relu's whole
     * outputs) holds the block of the largest size from 2 up that fits
     * (two arenas), or, with none, the block is allocated */
    al_model_release_plan(m);
    REQUIRE_OK(al_model_predict(m, pool2, x, 16, y2));
    CHECK(same(y2, y, 16 * 2));
    const size_t gap = m->chunk_gap[0].size;
    int want = 0;
    for (int nb = 4; nb >= 2 && !want; nb = nb == 4 ? 3 : nb - 1) {
        size_t an = 0;
        REQUIRE_OK(al_chunk_arena_bytes(m, 0, 3, nb, &an));
        if (2 * (an + pack) + 64 <= gap) want = nb;
    }
    size_t bound16 = 1, a4 = 0;
    REQUIRE_OK(al_chunk_arena_bound(m, 3, 16, 2, &bound16));
    REQUIRE_OK(al_chunk_arena_bytes(m, 0, 3, 4, &a4));
    /* at least one of the two whole outputs (4 MB; here about both) */
    CHECK(gap >= 16 * 64 * 32 * 32 * sizeof(float) && m->cplan && m->cplan->asked == 4);
    if (want)
        CHECK(m->cplan && !m->cplan->owned && m->cplan->nb == want && bound16 == 0);
    else
        CHECK(m->cplan && m->cplan->owned && m->cplan->nb == 4 && bound16 == 2 * (a4 + pack) + 64);
    fprintf(stderr, "test_chunk: 16 samples on 2 threads: span %zu bytes, chunks of %d (0: allocated)\n", gap, want);
    free(y2);
    al_pool_free(pool2);
    /* the dwconv's and the relu's outputs, 4 samples (1 MB) each, alive
     * together while the relu runs; little more */
    const size_t mb = (size_t)4 * 64 * 32 * 32 * sizeof(float);
    CHECK(a >= 2 * mb && a <= 2 * mb + 65536);
    free(x);
    free(y);
    al_model_set_forward_chunk(m, 5);
    CHECK(al_chunk_samples(m, 0, 3, 32, 1) == 5 && al_chunk_samples(m, 0, 3, 32, 4) == 5);
    al_model_set_forward_chunk(m, -1);
    CHECK(al_chunk_end(m, 0, 4, 0) == 0);
    /* a clone keeps the setting (and the other execution settings) */
    m->plan_naive = 1;
    m->i8_chain = 0;
    al_model *c;
    REQUIRE_OK(al_model_clone(m, &c));
    CHECK(c->chunk == -1 && c->plan_naive == 1 && c->i8_chain == 0 && al_chunk_end(c, 0, 4, 0) == 0);
    al_model_free(c);
    al_model_free(m);
    REQUIRE_OK(al_model_from_spec(SPECS[NSPECS - 1], 1, &m));
    REQUIRE_OK(al_model_freeze(m, m->nnodes));
    CHECK(al_chunk_end(m, 0, m->nnodes, 0) == 0); /* an LSTM first */
    CHECK(al_chunk_end(m, 1, m->nnodes, 0) == 6); /* up to the GRU */
    al_model_free(m);
}

/* Counts the observer's calls (test_slim). */
static void count_node(void *ctx, int node, const float *x, int n) {
    (void)node;
    (void)x;
    *(int *)ctx += n;
}

/* The slim plan: the chunked range [0, 3) of a net whose dwconv and relu
 * outputs take 8 MB each at batch 32 has no whole-batch buffers; its
 * forwards give the whole plan's results bit for bit. */
static void test_slim(al_pool *pool3) {
    al_model *m, *w;
    const char *spec = "input 64x32x32; dwconv k=3 p=1; relu; gap; dense 2";
    REQUIRE_OK(al_model_from_spec(spec, 1, &m));
    REQUIRE_OK(al_model_from_spec(spec, 1, &w));
    REQUIRE_OK(al_model_freeze(m, 3));
    REQUIRE_OK(al_model_freeze(w, 3));
    al_model_set_forward_chunk(w, -1); /* the reference: node by node over the batch */
    const int N = 32;
    float *x = al_test_rand_input(m, N, 5), *ref = predict(w, NULL, x, N, -1);
    /* the plan: no dwconv or relu output, scratch or aux; the gap's output
     * (read by the dense) and the logits whole; a span for the arena of a
     * one-thread forward of 32 (chunks of 4: two 1 MB outputs) */
    al_memplan p, pw;
    REQUIRE_OK(al_memplan_build(m, N, 0, &p));
    m->plan_whole = 1;
    REQUIRE_OK(al_memplan_build(m, N, 0, &pw));
    m->plan_whole = 0;
    al_test_slim_plan(m, &p);
    size_t a4 = 0;
    REQUIRE_OK(al_chunk_arena_bytes(m, 0, 3, 4, &a4));
    const al_membuf *span = al_memplan_find(&p, AL_MB_CHUNK, -1);
    CHECK(p.slim == 3 && pw.slim == 0 && span && span->bytes == a4 + 64 && span->t0[0] == 0 && span->t1[0] == 2);
    CHECK(!al_memplan_find(&p, AL_MB_ACT, 0) && !al_memplan_find(&p, AL_MB_ACT, 1) && al_memplan_find(&p, AL_MB_ACT, 2));
    const size_t mb8 = (size_t)N * 64 * 32 * 32 * sizeof(float);
    fprintf(stderr, "test_chunk: slim plan %zu bytes, whole %zu\n", p.total, pw.total);
    CHECK(pw.total >= 2 * mb8 && p.total < a4 + (1u << 20) && p.total == al_model_plan_bytes(m, N));
    al_memplan_free(&pw);
    /* one thread: chunks of 4 in the span, nothing beyond the plan */
    float *y = predict(m, NULL, x, N, 0);
    CHECK(same(y, ref, (size_t)N * 2) && m->plan_slim == 3 && !m->act[0] && !m->act[1]);
    CHECK(m->cplan && !m->cplan->owned && m->cplan->nb == 4 && m->cplan->threads == 1 &&
          m->cplan->block == m->plan_block + span->offset);
    size_t bound = 1;
    REQUIRE_OK(al_chunk_arena_bound(m, 3, N, 1, &bound));
    CHECK(bound == 0);
    free(y);
    al_memplan_free(&p);
    /* two threads: an arena each and no pack buffer (no GEMM in the
     * range): two arenas of chunks of 2 fit in the span made for one of 4,
     * so nothing beyond the plan either, and the memory budget counts
     * nothing (a pack buffer of al_gemm_pack_floats_max each did not fit) */
    al_pool *pool2;
    REQUIRE_OK(al_pool_new(2, &pool2));
    y = predict(m, pool2, x, N, 0);
    size_t a2 = 0;
    REQUIRE_OK(al_chunk_arena_bytes(m, 0, 3, 2, &a2));
    CHECK(same(y, ref, (size_t)N * 2) && m->cplan && m->cplan->threads == 2 && !m->cplan->owned &&
          m->cplan->nb == 2 && m->cplan->pack_floats == 0 && 2 * a2 <= a4);
    REQUIRE_OK(al_chunk_arena_bound(m, 3, N, 2, &bound));
    CHECK(bound == 0);
    free(y);
    al_pool_free(pool2);
    /* batches smaller than the thread count and of one, in a plan for 32:
     * one part on the caller (each node on the pool), in the span (a plan
     * made for one sample is whole: a chunk would be the batch) */
    for (int n = 1; n <= 2; n++) {
        float *r = predict(w, NULL, x, n, -1);
        fresh_plan(m);
        REQUIRE_OK(al_model_plan(m, N));
        y = malloc(sizeof(float) * (size_t)n * 2);
        REQUIRE_OK(al_model_predict(m, pool3, x, n, y));
        CHECK(same(y, r, (size_t)n * 2) && m->plan_slim == 3 && m->cplan && m->cplan->threads == 1 &&
              m->cplan->nb == n && !m->cplan->owned);
        free(y);
        free(r);
    }
    fresh_plan(m);
    REQUIRE_OK(al_model_plan(m, 1));
    CHECK(m->plan_slim == 0);
    /* training: the forward and the gradients of the dense are the whole
     * plan's */
    CHECK(step_grads_same(m, w, pool3, x, N) && m->plan_slim == 3);
    /* a forward that ends inside the range needs the relu's output whole:
     * a whole plan, from then on */
    REQUIRE_OK(al_model_forward_range(w, NULL, 0, 2, x, N, 0));
    REQUIRE_OK(al_model_forward_range(m, NULL, 0, 2, x, N, 0));
    CHECK(m->plan_whole == 1 && m->plan_slim == 0 && m->act[1] &&
          memcmp(m->act[1], w->act[1], sizeof(float) * (size_t)N * 64 * 32 * 32) == 0);
    fresh_plan(m);
    /* an input inside the plan, for a forward that would change it: refused */
    REQUIRE_OK(al_model_plan(m, N));
    CHECK(m->plan_slim == 3);
    CHECK_STATUS(al_model_forward_range(m, NULL, 1, 4, (const float *)(void *)m->plan_block, N, 0), AL_ESTATE);
    CHECK(strstr(al_last_error(), "lies in the memory plan") != NULL && m->plan_whole == 0);
    /* a freeze point inside the range: the evaluation forward still runs
     * [0, 3) in chunks; the training forward, [0, 2): a slim plan made for
     * it */
    REQUIRE_OK(al_model_freeze(m, 2));
    REQUIRE_OK(al_model_freeze(w, 2));
    y = malloc(sizeof(float) * (size_t)N * 2);
    REQUIRE_OK(al_model_predict(m, NULL, x, N, y));
    CHECK(same(y, ref, (size_t)N * 2) && m->plan_slim == 3);
    const float *om, *ow;
    REQUIRE_OK(al_model_forward_from(m, NULL, 0, x, N, 1, &om));
    REQUIRE_OK(al_model_forward_from(w, NULL, 0, x, N, 1, &ow));
    CHECK(same(om, ow, (size_t)N * 2) && m->plan_slim == 2 && m->plan_whole == 0);
    /* an observer sees every node's input: a whole plan while it looks */
    int seen = 0;
    m->observe = count_node;
    m->observe_ctx = &seen;
    REQUIRE_OK(al_model_predict(m, NULL, x, N, y));
    m->observe = NULL;
    CHECK(seen == 4 * N && m->plan_slim == 0 && m->plan_whole == 0 && same(y, ref, (size_t)N * 2));
    free(y);
    free(ref);
    free(x);
    al_model_free(w);
    al_model_free(m);
}

/* Inference on a model frozen as loaded (node 0): al_model_predict and
 * al_evaluate plan inference alone, not a training step's activations and
 * gradients; a plan that is there serves them as it is; training after
 * them makes its own. */
static void test_infer(al_pool *pool3) {
    al_model *m, *w;
    const char *spec = "input 64x32x32; dwconv k=3 p=1; relu; gap; dense 2";
    REQUIRE_OK(al_model_from_spec(spec, 1, &m));
    REQUIRE_OK(al_model_from_spec(spec, 1, &w));
    al_model_set_forward_chunk(w, -1); /* the reference: whole, node by node */
    const int N = 32;
    float *x = al_test_rand_input(m, N, 7), *ref = predict(w, NULL, x, N, -1);
    const size_t train = al_model_plan_bytes(m, N), inf = al_model_plan_bytes_at(m, N, m->nnodes);
    fprintf(stderr, "test_chunk: unfrozen, batch %d: training plan %zu bytes, inference %zu\n", N, train, inf);
    /* the training plan holds the dwconv's and the relu's outputs and
     * their gradients (8 MB each); inference, the arena's span */
    const size_t mb8 = (size_t)N * 64 * 32 * 32 * sizeof(float);
    CHECK(train >= 4 * mb8 && inf < mb8 / 2);
    float *y = malloc(sizeof(float) * (size_t)N * 2);
    REQUIRE_OK(al_model_predict(m, pool3, x, N, y));
    CHECK(same(y, ref, (size_t)N * 2) && m->plan_size == inf && m->plan_lowest == m->nnodes && m->plan_slim == 4 &&
          m->infer == 0);
    /* training next: its own plan, and the gradients of the whole model
     * as the reference's */
    CHECK(step_grads_same(m, w, pool3, x, N) && m->plan_lowest == 0 && m->plan_size == train);
    /* the training plan serves an evaluation of the batch it holds: kept */
    int32_t lab[32];
    for (int i = 0; i < N; i++) lab[i] = i % 2;
    al_tensor xs = al_model_input_shape(m);
    al_dataset *d;
    REQUIRE_OK(al_dataset_from_arrays(x, lab, N, &xs, 1, 2, &d));
    const char *block = m->plan_block;
    double acc[2];
    REQUIRE_OK(al_evaluate(m, pool3, d, N, NULL, &acc[0]));
    REQUIRE_OK(al_evaluate(w, pool3, d, N, NULL, &acc[1]));
    CHECK(acc[0] == acc[1] && m->plan_block == block && m->plan_lowest == 0 && m->infer == 0);
    /* a batch it does not hold: an inference plan for that batch */
    al_model_release_plan(m);
    REQUIRE_OK(al_model_plan(m, 8));
    REQUIRE_OK(al_evaluate(m, pool3, d, N, NULL, &acc[0]));
    CHECK(acc[0] == acc[1] && m->plan_lowest == m->nnodes && m->maxbatch == N && m->plan_size == inf);
    /* a failed inference call leaves no inference mode behind */
    CHECK_STATUS(al_model_infer(m, pool3, x, 0, NULL), AL_ERANGE);
    CHECK_STATUS(al_model_plan_infer(m, 0, m->nnodes), AL_ERANGE);
    CHECK_STATUS(al_model_plan_infer(m, N, 0), AL_ERANGE);
    CHECK_STATUS(al_model_infer_range(m, pool3, 0, 4, x, N, 5), AL_ERANGE);
    CHECK(m->infer == 0);
    /* the cache's prediction, frozen at 2 (the frontier: the relu's
     * output): a plan of inference whose slim range ends at 2, the frontier
     * whole, no buffer for backward; made again where the last plan (plain
     * inference: slim to the output) has no frontier */
    REQUIRE_OK(al_model_freeze(m, 2));
    al_model_release_plan(m);
    REQUIRE_OK(al_model_predict(m, pool3, x, N, y));
    CHECK(m->plan_slim == 4 && !m->act[1]);
    al_cache *cache;
    REQUIRE_OK(al_cache_new((size_t)64 << 20, NULL, &cache));
    float *yc = malloc(sizeof(float) * (size_t)N * 2);
    al_memplan pc;
    REQUIRE_OK(al_memplan_build_infer(m, N, 0, 2, &pc));
    for (int pass = 0; pass < 2; pass++) { /* misses, then hits */
        REQUIRE_OK(al_model_predict_cached(m, pool3, x, N, NULL, cache, yc));
        int ok = same(yc, ref, (size_t)N * 2) && m->plan_lowest == m->nnodes && m->plan_slim == 2 &&
                 m->plan_whole == 0 && m->act[1] && m->plan_size == pc.total && m->infer == 0;
        for (int k = 0; k < m->ntensors; k++) ok &= m->dact[k] == NULL;
        CHECK(ok);
    }
    al_cache_stats cs;
    al_cache_get_stats(cache, &cs);
    fprintf(stderr, "test_chunk: cache misses %llu hits %llu, plan %zu, training plan %zu\n", (unsigned long long)cs.misses,
            (unsigned long long)cs.hits, pc.total, al_model_plan_bytes(m, N));
    /* the lookups of a batch stop at its first miss */
    CHECK(cs.misses == 1 && cs.hits == (uint64_t)N && pc.total <= al_model_plan_bytes(m, N));
    al_memplan_free(&pc);
    al_cache_free(cache);
    free(yc);
    /* the model frozen entirely: the inference plan is its own plan */
    al_model_release_plan(m);
    REQUIRE_OK(al_model_freeze(m, m->nnodes));
    CHECK(al_model_plan_bytes(m, N) == inf);
    al_dataset_free(d);
    free(y);
    free(ref);
    free(x);
    al_model_free(w);
    al_model_free(m);
}

/* A node that fails inside a chunk, on a pool thread: the forward returns
 * its status, and the message names it. */
static void test_failure(al_pool *pool3) {
    al_model *m;
    REQUIRE_OK(al_model_from_spec("tokens 4; embedding 3 vocab=10; flatten; dense 5; relu; dense 2", 1, &m));
    REQUIRE_OK(al_model_freeze(m, 4));
    const int n = 9;
    float x[9 * 4];
    for (int i = 0; i < n * 4; i++) x[i] = (float)(i % 10);
    float y[9 * 2];
    for (int t = 0; t < 2; t++) {
        al_pool *pool = t ? pool3 : NULL;
        al_model_set_forward_chunk(m, 2);
        REQUIRE_OK(al_model_predict(m, pool, x, n, y));
        x[7 * 4 + 2] = 12.0f; /* sample 7: the last chunk of the last thread */
        CHECK_STATUS(al_model_predict(m, pool, x, n, y), AL_ERANGE);
        CHECK(strstr(al_last_error(), "embedding: token id 12 at sample 1 ") != NULL &&
              strstr(al_last_error(), "(a chunk of samples from 6)") != NULL);
        CHECK(m->cplan && m->cplan->threads == (t ? 3 : 1));
        x[7 * 4 + 2] = 2.0f;
    }
    al_model_free(m);
}

/* Ranges with GEMMs: every conv route, gconv, dense, matmul. */
static const char *const LENT_SPECS[] = {
    "input 3x32x32; conv 16 k=3 p=1 act=relu; conv 24 k=1; dwconv k=3 s=2 p=1 act=relu6; conv 40 k=1 act=relu6; "
    "gconv 40 g=2 k=3 p=1; conv 16 k=3 s=2 p=2 dil=2; conv 48 k=1 act=relu6; flatten; dense 64; tanh; dense 3",
    "input 8x16; dense 8; matmul -1; flatten; dense 32; dense 3",
};

/* The observer of test_lent_nodes: before node i runs, the misses of
 * the node before it are counted, and node i's buffer is lent. */
typedef struct lent_watch {
    const al_model *m;
    float *buf;
    int last, n, bad, lent;
    unsigned long misses;
} lent_watch;

static void lent_settle(lent_watch *w) {
    if (w->last >= 0 && al_gemm_lend_misses() != w->misses) {
        const al_node *nd = &w->m->nodes[w->last];
        fprintf(stderr, "lent: node %d (%s), %d samples: %zu floats lent, %lu misses\n", w->last, nd->vt->name, w->n,
                nd->vt->pack_floats ? nd->vt->pack_floats(nd, w->n, 0) : 0, al_gemm_lend_misses() - w->misses);
        w->bad++;
    }
}

static void lent_node(void *ctx, int node, const float *x, int n) {
    (void)x;
    lent_watch *w = ctx;
    lent_settle(w);
    const al_node *nd = &w->m->nodes[node];
    const size_t f = nd->vt->pack_floats ? nd->vt->pack_floats(nd, n, 0) : 0;
    w->bad += f > al_gemm_pack_floats_max();
    w->lent += f > 0;
    w->last = node;
    w->n = n;
    w->misses = al_gemm_lend_misses();
    al_gemm_lend_buffer(w->buf, f);
}

/* Each node's pack_floats against what its forward asks: each node runs
 * on the caller's thread, for 1, 5 and 13 samples, with a buffer of
 * exactly that many floats lent (0 for a layer without pack_floats, which
 * must then make no GEMM call), and no request misses it. Every spec
 * here, conv forced to Winograd and not. */
static void test_lent_nodes(void) {
    static const int ns[] = {13, 5, 1}; /* the first sets the plan's batch */
    const size_t most = al_gemm_pack_floats_max();
    lent_watch w = {NULL, malloc(sizeof(float) * (most ? most : 1)), -1, 0, 0, 0, 0};
    for (int s = 0; s < NSPECS + 2; s++)
        for (int wino = 0; wino < 2; wino++) {
            al_conv_force(wino ? AL_CONV_WINOGRAD : AL_CONV_AUTO);
            al_model *m;
            REQUIRE_OK(al_model_from_spec(s < NSPECS ? SPECS[s] : LENT_SPECS[s - NSPECS], 3, &m));
            al_test_randomize_bn(m, 5);
            float *x = al_test_rand_input(m, 13, 9), *y = malloc(sizeof(float) * 13 * out_numel(m));
            w.m = m;
            m->observe = lent_node;
            m->observe_ctx = &w;
            for (size_t k = 0; k < sizeof ns / sizeof *ns; k++) {
                w.last = -1;
                REQUIRE_OK(al_model_predict(m, NULL, x, ns[k], y));
                lent_settle(&w);
                CHECK(w.n == ns[k]); /* one batch */
                al_gemm_lend_buffer(NULL, 0);
            }
            free(x);
            free(y);
            al_model_free(m);
        }
    al_conv_force(AL_CONV_AUTO);
    CHECK(w.bad == 0);
    CHECK(al_gemm_current() == AL_GEMM_REF || w.lent > 50);
    free(w.buf);
}

/* The GEMM pack buffers lent to the parts on several threads: of what
 * the range's GEMMs ask (the layers' pack_floats), far below the most any
 * GEMM can ask, and never too small: no request of any part misses its
 * buffer (al_gemm_lend_misses), for every route of the conv (a sample at a
 * time for large images, one over the batch for small ones, dilated,
 * grouped, Winograd), the dense, the matmul, chunks of 1 to 5 and the
 * default, a last chunk shorter than the rest, and a plan made for larger
 * chunks serving smaller ones; the outputs are the whole batch's. */
static void test_lent(al_pool *pool3) {
    static const int chunks[] = {0, 1, 2, 5};
    al_pool *pool2;
    REQUIRE_OK(al_pool_new(2, &pool2));
    const int n = 13;
    for (int s = 0; s < 2; s++)
        for (int wino = 0; wino < 2; wino++) {
            al_conv_force(wino ? AL_CONV_WINOGRAD : AL_CONV_AUTO);
            al_model *m;
            REQUIRE_OK(al_model_from_spec(LENT_SPECS[s], 3, &m));
            REQUIRE_OK(al_model_freeze(m, m->nnodes - 1));
            float *x = al_test_rand_input(m, n, 21), *ref = predict(m, NULL, x, n, -1);
            for (int t = 0; t < 2; t++)
                for (size_t c = 0; c < sizeof chunks / sizeof *chunks; c++) {
                    const unsigned long before = al_gemm_lend_misses();
                    float *y = predict(m, t ? pool3 : pool2, x, n, chunks[c]);
                    const al_chunkplan *cp = m->cplan;
                    int ok = same(y, ref, (size_t)n * out_numel(m)) && al_gemm_lend_misses() == before && cp &&
                             cp->threads == (t ? 3 : 2);
                    /* the same plan, chunks of 1 (made for more) */
                    al_model_set_forward_chunk(m, 1);
                    REQUIRE_OK(al_model_predict(m, t ? pool3 : pool2, x, n, y));
                    ok &= same(y, ref, (size_t)n * out_numel(m)) && al_gemm_lend_misses() == before;
                    if (al_gemm_current() != AL_GEMM_REF)
                        ok &= cp == m->cplan && cp->pack_floats > 0 && cp->pack_floats < al_gemm_pack_floats_max() / 2;
                    if (!ok)
                        fprintf(stderr, "lent spec %d wino %d threads %d chunk %d: pack %zu floats, misses %lu\n", s,
                                wino, t ? 3 : 2, chunks[c], cp ? cp->pack_floats : 0, al_gemm_lend_misses() - before);
                    CHECK(ok);
                    free(y);
                }
            free(x);
            free(ref);
            al_model_free(m);
        }
    al_conv_force(AL_CONV_AUTO);
    al_pool_free(pool2);
}

int main(void) {
    al_pool *pool3;
    REQUIRE_OK(al_pool_new(3, &pool3));
    test_sizes();
    test_outputs(pool3);
    test_frontier();
    test_training(pool3);
    test_int8(pool3);
    test_failure(pool3);
    test_slim(pool3);
    test_infer(pool3);
    test_lent_nodes();
    test_lent(pool3);
    al_pool_free(pool3);
    TEST_END("test_chunk");
}
