/* Nodes with several outputs: a split is one node of n outputs (ports);
 * every reference to an earlier tensor names its port (spec "s@1", cfg
 * in_port / src_port / more_port). Checked here:
 *  - forward against a plain reference (the parts copied out);
 *  - gradients by finite differences, weights and input, on odd shapes:
 *    the outputs go to different consumers, one is read twice, one is
 *    never read, the model input is split, the last node is a split (the
 *    model's output is its port 0);
 *  - the memory plans (liveness and naive, every freeze point, with the
 *    input gradient) are sound; each output has its own buffers, alive
 *    until its last reader ran;
 *  - the frozen frontier holds a later output of a split: a forward from
 *    it at every freeze point, and a personalization job with the runtime
 *    cache trains exactly as one without, and resumed from a checkpoint as
 *    uninterrupted;
 *  - the canonical spec parses back; the model file (format version 5,
 *    only when ports are used) loads and predicts bit for bit;
 *  - compile and compress keep the ports and predict the same;
 *  - an lstm's and a gru's final states as ports (outputs=3, outputs=2):
 *    finite differences through h_T and c_T, file round trip;
 *  - refusals with clear messages: a port past the outputs, a port of a
 *    single-output node or of the model input, several outputs on another
 *    layer, sizes that do not add up, bad keys in a file. */
#include "al_test.h"
#include "autlearn_cloud.h"
#include "cloud/compile/compile.h"
#include "cloud/compile/compress.h"

#include <unistd.h>

/* 0 a, 1 s (4 outputs: [3,2] [3,4] [3,1] [3,3]), 2 p = tanh(s@1), 3 q =
 * dense(s@0), 4 r = q + p, 5 c = concat(r, s@1, s@2), 6 flatten, 7 dense.
 * s@1 is read twice, s@3 never. */
#define SPEC_FD                                                                                                 \
    "input 3x5; a: dense 10; s: split axis=-1 sizes=2,4,1,3; p: tanh in=s@1; q: dense 4 in=s; r: add p; "     \
    "c: concat s@1,s@2 axis=-1 in=r; flatten; dense 3"
/* the model input split along its first axis; the last node is a split */
#define SPEC_IN                                                                                                 \
    "input 5x3; s: split axis=0 sizes=1,3,1 in=input; d: dense 3 in=s@1; e: add s@0; f: mul s@2 bcast=1; "     \
    "flatten; g: dense 5; split axis=0 sizes=2,3"
/* an LSTM's final h and c and a GRU's final h read by later nodes (odd sizes) */
#define SPEC_RNN                                                                                                \
    "input 5x3; l: lstm 4 outputs=3; a: add l@2 in=l@1; d: dense 2; f: flatten in=l; g: dense 2; s: sum d; "  \
    "r: gru 3 outputs=2 in=l; h: dense 2 in=r@1; mul s bcast=1"
/* a conv net whose channels are split in two branches */
#define SPEC_CONV                                                                                               \
    "input 3x6x5; c0: conv 5 k=3 p=1; t0: tanh; s: split axis=0 sizes=2,3; b1: conv 3 k=3 p=1 in=s@1; "          \
    "b0: conv 3 k=1 in=s; m: add b1; k: concat s@1 axis=0; gap; dense 4"

static void test_forward_reference(void) {
    al_model *m;
    /* y = cat(s@2, s@0, s@1) along axis 1 of [2,7,3] split 2,4,1 */
    REQUIRE_OK(al_model_from_spec("input 2x7x3; s: split axis=1 sizes=2,4,1 in=input; concat s,s@1 axis=1 in=s@2", 1,
                                  &m));
    CHECK(m->ntensors == 4 && m->nodes[0].cfg.nout == 3);
    CHECK(m->nodes[0].out.d[1] == 2 && m->nodes[0].xout[0].d[1] == 4 && m->nodes[0].xout[1].d[1] == 1);
    CHECK(m->nodes[1].cfg.in_port == 2 && m->nodes[1].cfg.src_port == 0 && m->nodes[1].cfg.more_port[0] == 1);
    const int n = 3;
    float *x = al_test_rand_input(m, n, 1), *y = al_test_predict(m, x, n);
    static const int from[7] = {6, 0, 1, 2, 3, 4, 5}; /* row h of y is row from[h] of x */
    int bad = 0;
    for (int s = 0; s < n; s++)
        for (int c = 0; c < 2; c++)
            for (int h = 0; h < 7; h++)
                for (int w = 0; w < 3; w++)
                    bad += y[(((size_t)s * 2 + c) * 7 + h) * 3 + w] != x[(((size_t)s * 2 + c) * 7 + from[h]) * 3 + w];
    CHECK(bad == 0);
    CHECK(m->nodes[0].vt->macs(&m->nodes[0]) == 0);
    free(x);
    free(y);
    al_model_free(m);
}

static void test_gradients(void) {
    gc_opts o = gc_defaults();
    o.batch = 2;
    CHECK(gradcheck_spec(SPEC_FD, &o) == 0);
    CHECK(gradcheck_spec(SPEC_IN, &o) == 0);
    CHECK(gradcheck_spec(SPEC_CONV, &o) == 0);
    CHECK(gradcheck_spec(SPEC_RNN, &o) == 0);
    /* only the final states read (the sequence output unread by anyone) */
    CHECK(gradcheck_spec("input 4x3; l: lstm 3 outputs=3; a: add l@2 in=l@1; dense 2", &o) == 0);
    CHECK(gradcheck_spec("input 4x3; g: gru 3 outputs=2; dense 2 in=g@1", &o) == 0);
    /* one output read only as another node's operand, the other as a primary input */
    CHECK(gradcheck_spec("input 7; a: dense 5; s: split axis=0 sizes=3,2; b: dense 2 in=s@1; sum s@1,b in=b; "
                         "concat s axis=0; dense 2",
                         &o) == 0);
}

static void test_plans(void) {
    const char *specs[] = {SPEC_FD, SPEC_IN, SPEC_CONV, SPEC_RNN};
    for (int s = 0; s < 4; s++) {
        al_model *m;
        REQUIRE_OK(al_model_from_spec(specs[s], 1, &m));
        al_test_plans_valid(m, 3, specs[s]);
        al_model_free(m);
    }
    /* SPEC_FD trained whole: every output of s has its own activation,
     * alive until its last reader; the unread s@3 has zeros (dside) for
     * its gradient, and no dact */
    al_model *m;
    REQUIRE_OK(al_model_from_spec(SPEC_FD, 1, &m));
    m->want_input_grad = 1;
    al_memplan p;
    REQUIRE_OK(al_memplan_build(m, 2, 0, &p));
    const int last[4] = {3, 5, 5, -1};
    for (int port = 0; port < 4; port++) {
        const al_membuf *b = al_memplan_find_port(&p, AL_MB_ACT, 1, port);
        CHECK(b != NULL && b->bytes >= sizeof(float) * 2 * 3 * (size_t)m->nodes[1].cfg.sizes[port]);
        if (b && last[port] >= 0) CHECK(b->t1[b->nlive - 1] >= last[port]);
    }
    CHECK(al_memplan_find_port(&p, AL_MB_DACT, 1, 3) == NULL && al_memplan_find_port(&p, AL_MB_DSIDE, 1, 3) != NULL);
    CHECK(al_memplan_find_port(&p, AL_MB_DACT, 1, 1) != NULL && al_memplan_find_port(&p, AL_MB_DSIDE, 1, 1) != NULL);
    CHECK(al_memplan_find_port(&p, AL_MB_ACT, 1, 4) == NULL);
    CHECK(m->t_last_reader[al_model_tensor(m, 1, 1)] == 5 && m->t_last_primary[al_model_tensor(m, 1, 1)] == 2);
    CHECK(m->t_last_reader[al_model_tensor(m, 1, 3)] == -1);
    al_memplan_free(&p);
    al_model_free(m);
}

static void test_frontier(void) {
    al_model *m;
    REQUIRE_OK(al_model_from_spec(SPEC_FD, 5, &m));
    /* at 2: s@0 (q), s@1 (p, c), s@2 (c); s@3 is read by nobody */
    CHECK(al_model_frontier_count(m, 2) == 3 && al_model_frontier_numel(m, 2) == 3 * (2 + 4 + 1));
    /* at 4: s@1, s@2 (c), p, q (r) */
    CHECK(al_model_frontier_count(m, 4) == 4 && al_model_frontier_numel(m, 4) == 3 * (4 + 1 + 4 + 4));
    CHECK(al_model_frontier_plain(m, 6) && !al_model_frontier_plain(m, 2));
    const int n = 3;
    float *x = al_test_rand_input(m, n, 11), *y = al_test_predict(m, x, n);
    REQUIRE_OK(al_model_plan(m, n));
    for (int K = 1; K < m->nnodes; K++) {
        size_t feat = al_model_frontier_numel(m, K);
        float *pk = malloc(sizeof(float) * feat * n), *row = malloc(sizeof(float) * feat);
        REQUIRE_OK(al_model_forward_range(m, NULL, 0, K, x, n, 0));
        al_model_frontier_pack(m, K, n, pk);
        al_model_frontier_row(m, K, 1, row);
        CHECK(memcmp(row, pk + feat, sizeof(float) * feat) == 0);
        for (int t = 0; t < m->ntensors; t++)
            if (m->t_node[t] < K)
                memset(m->act[t], 0xff, sizeof(float) * n * al_shape_numel(al_model_tensor_shape(m, t)));
        const float *out;
        REQUIRE_OK(al_model_forward_from(m, NULL, K, pk, n, 0, &out));
        CHECK(memcmp(out, y, sizeof(float) * n * 3) == 0);
        free(pk);
        free(row);
    }
    free(x);
    free(y);
    al_model_free(m);
}

/* the frontier at 2 is s@1 alone: one tensor, but not node 1's first output */
#define SPEC_JOB "input 1x8x8; c: conv 4 k=3 p=1; s: split axis=0 sizes=1,3; t: tanh in=s@1; gap; dense 3"

static al_model *job_model(void) {
    al_model *m;
    REQUIRE_OK(al_model_from_spec(SPEC_JOB, 9, &m));
    REQUIRE_OK(al_model_freeze(m, 2));
    return m;
}

static void test_job(void) {
    al_dataset *d = al_test_images(24, 3);
    al_personalize_config c;
    al_test_job_config(&c, 2, 2);
    al_model *a = job_model(), *b = job_model();
    CHECK(al_model_frontier_count(a, 2) == 1 && !al_model_frontier_plain(a, 2));
    CHECK(al_model_frontier_numel(a, 2) == 3 * 64);
    al_cache *cache;
    REQUIRE_OK(al_cache_new(16 << 20, NULL, &cache));
    al_personalize_report ra, rb;
    REQUIRE_OK(al_personalize(a, NULL, d, NULL, NULL, &c, NULL, &ra));
    REQUIRE_OK(al_personalize(b, NULL, d, NULL, cache, &c, NULL, &rb));
    CHECK(memcmp(a->wblock, b->wblock, sizeof(float) * a->nweights) == 0);
    CHECK(rb.prefix_samples == (uint64_t)d->n && isfinite(ra.train.final_loss));
    /* prediction through the cache (hits gathered in a buffer of their own) */
    float *ya = malloc(sizeof(float) * 3 * (size_t)d->n), *yb = malloc(sizeof(float) * 3 * (size_t)d->n);
    REQUIRE_OK(al_model_predict(a, NULL, d->x, d->n, ya));
    for (int pass = 0; pass < 2; pass++) { /* misses, then hits */
        REQUIRE_OK(al_model_predict_cached(b, NULL, d->x, d->n, NULL, cache, yb));
        CHECK(al_test_max_abs_diff(ya, yb, 3 * (size_t)d->n) < 1e-5);
    }
    free(ya);
    free(yb);
    al_cache_free(cache);
    /* the same job stopped after 3 steps, checkpointed, resumed in a new
     * trainer on a fresh model: the weights of the uninterrupted run */
    al_test_resume_matches(job_model, d, &c, a, "multiout");
    al_model_free(a);
    al_model_free(b);
    al_dataset_free(d);
}

static void test_spec_and_file(void) {
    char dir[] = "/tmp/al-multiout.XXXXXX";
    REQUIRE_OK(mkdtemp(dir) ? AL_OK : AL_EIO);
    char path[64];
    snprintf(path, sizeof path, "%s/m.gguf", dir);
    const char *specs[] = {SPEC_FD, SPEC_IN, SPEC_CONV, SPEC_RNN};
    for (int s = 0; s < 4; s++) {
        al_model *m, *m2, *l;
        REQUIRE_OK(al_model_from_spec(specs[s], 2, &m));
        REQUIRE_OK(al_model_from_spec(al_model_spec(m), 2, &m2));
        CHECK(strcmp(al_model_spec(m), al_model_spec(m2)) == 0);
        REQUIRE_OK(al_model_freeze(m, 3));
        REQUIRE_OK(al_model_save(m, path));
        REQUIRE_OK(al_model_load(path, &l));
        CHECK(strcmp(al_model_spec(m), al_model_spec(l)) == 0 && l->ntensors == m->ntensors);
        for (int i = 0; i < m->nnodes; i++) {
            const al_layer_cfg *a = &m->nodes[i].cfg, *b = &l->nodes[i].cfg;
            CHECK(a->nout == b->nout && a->in_port == b->in_port && a->src_port == b->src_port);
            CHECK(memcmp(a->sizes, b->sizes, sizeof a->sizes) == 0 && memcmp(a->more_port, b->more_port, sizeof a->more_port) == 0);
        }
        CHECK(al_test_file_version(path) == 5);
        al_test_same_outputs(m, l);
        al_model_free(m);
        al_model_free(m2);
        al_model_free(l);
    }
    /* the canonical form: ports as index@port, port 0 bare */
    al_model *a, *b;
    REQUIRE_OK(al_model_from_spec("input 6; a: dense 5; s: split axis=0 sizes=2,3; concat s@0,a axis=0 in=s@1", 1, &a));
    CHECK(strstr(al_model_spec(a), "split axis=0 sizes=2,3") != NULL);
    CHECK(strstr(al_model_spec(a), "concat 1,0 axis=0 in=1@1") != NULL);
    REQUIRE_OK(al_model_from_spec("input 6; a: dense 5; s: split axis=0 sizes=2,3; concat 1@0,0 axis=0 in=1@1", 1, &b));
    CHECK(strcmp(al_model_spec(a), al_model_spec(b)) == 0);
    al_model_free(a);
    al_model_free(b);
    /* no ports, no version 5 (a model of one-output nodes is written as before) */
    REQUIRE_OK(al_model_from_spec("input 4; a: dense 3; concat -1 axis=0", 1, &a));
    REQUIRE_OK(al_model_save(a, path));
    gguf_reader *r;
    REQUIRE_OK(gguf_reader_open_file(path, 0, &r));
    uint32_t ver = 0;
    CHECK_OK(gguf_get_u32(r, "autlearn.format_version", &ver));
    CHECK(ver == 1 && gguf_find_kv(r, "autlearn.layer.0.outputs") < 0 && gguf_find_kv(r, "autlearn.layer.1.in_port") < 0);
    gguf_reader_free(r);
    al_model_free(a);
    /* files with a port past the outputs, ports on a layer that has no such
     * operand, sizes that do not match the outputs */
    REQUIRE_OK(al_model_from_spec("input 6; a: dense 5; s: split axis=0 sizes=2,3; concat s@0 axis=0 in=s@1; dense 2", 1, &a));
    a->nodes[2].cfg.in_port = 2;
    REQUIRE_OK(al_model_save(a, path));
    CHECK_STATUS(al_model_load(path, &b), AL_EFORMAT);
    CHECK(strstr(al_last_error(), "layer 2 (concat) reads port 2 of node 1") != NULL);
    a->nodes[2].cfg.in_port = 1;
    a->nodes[3].cfg.in_port = 1; /* port 1 of the concat */
    REQUIRE_OK(al_model_save(a, path));
    CHECK_STATUS(al_model_load(path, &b), AL_EFORMAT);
    CHECK(strstr(al_last_error(), "layer 3 (dense) reads port 1 of node 2") != NULL);
    a->nodes[3].cfg.in_port = 0;
    a->nodes[1].cfg.sizes[1] = 4;
    REQUIRE_OK(al_model_save(a, path));
    CHECK_STATUS(al_model_load(path, &b), AL_EFORMAT);
    CHECK(strstr(al_last_error(), "split: the parts add up to 6") != NULL);
    al_model_free(a);
    unlink(path);
    rmdir(dir);
}

static void test_compile_compress(void) {
    /* batch norms fold into the convs of both branches; the ports follow the renumbering */
    const char *spec = "input 3x6x5; c0: conv 5 k=3 p=1; batchnorm; t0: relu; s: split axis=0 sizes=2,3; "
                       "b1: conv 3 k=3 p=1 in=s@1; batchnorm; r1: relu; b0: conv 3 k=1 in=s; m: add r1; "
                       "dropout 0.2 in=s@1; k: concat 9 axis=0 in=m; gap; dense 4";
    al_model *m, *c, *z;
    REQUIRE_OK(al_model_from_spec(spec, 5, &m));
    al_test_randomize_bn(m, 5);
    REQUIRE_OK(al_model_freeze(m, 12));
    al_compile_report r;
    REQUIRE_OK(al_compile(m, 12, NULL, &c, &r));
    CHECK(r.folded_bn == 2 && r.fused_act == 2 && r.dropped == 0 && c->nnodes == m->nnodes - 4);
    CHECK(c->nodes[r.map[3]].cfg.type == AL_L_SPLIT && c->nodes[r.map[4]].cfg.in_port == 1);
    CHECK(c->nodes[r.map[9]].cfg.type == AL_L_DROPOUT && c->nodes[r.map[9]].cfg.in_port == 1);
    float *x = al_test_rand_input(m, 3, 9), *ya = al_test_predict(m, x, 3), *yb = al_test_predict(c, x, 3);
    CHECK(al_test_max_abs_diff(ya, yb, 12) < 1e-4);
    free(yb);
    al_compile_report_free(&r);
    al_model_free(c);
    /* compress (full rank, forced: the same function): a dense reading a
     * later output is factorized; the factor reads that port */
    al_model *d;
    REQUIRE_OK(al_model_from_spec("input 12; a: dense 24; s: split axis=0 sizes=8,16; h: dense 20 in=s@1; "
                                  "concat s axis=0; dense 4", 6, &d));
    al_compress_plan p;
    REQUIRE_OK(al_compress_analyze(d, &p));
    al_compress_policy pol = {AL_RANK_FIXED, 1e6, 1};
    REQUIRE_OK(al_compress_choose(&p, &pol));
    REQUIRE_OK(al_compress_apply(d, &p, &z));
    CHECK(z->nnodes > d->nnodes);
    int found = 0;
    for (int i = 0; i < z->nnodes; i++)
        if (z->nodes[i].cfg.in_port == 1) found = z->nodes[i].cfg.type == AL_L_DENSE && z->nodes[i].cfg.units == 16;
    CHECK(found);
    float *xd = al_test_rand_input(d, 3, 2), *yd = al_test_predict(d, xd, 3), *yz = al_test_predict(z, xd, 3);
    CHECK(al_test_max_abs_diff(yd, yz, 12) < 1e-4);
    al_compress_plan_free(&p);
    free(xd);
    free(yd);
    free(yz);
    al_model_free(z);
    al_model_free(d);
    free(x);
    free(ya);
    al_model_free(m);
}

static void test_refusals(void) {
    al_model *m = NULL;
    struct {
        const char *spec, *msg;
        al_status st;
    } bad[] = {
        {"input 6; a: dense 5; s: split axis=0 sizes=2,3; dense 2 in=s@2", "reads port 2 of node 1 (split s), which has 2 outputs (ports 0..1)", AL_EINVAL},
        {"input 6; a: dense 5; dense 2 in=a@1", "reads port 1 of node 0 (dense a), which has 1 output (ports 0..0)", AL_EINVAL},
        {"input 6; a: dense 5; s: split axis=0 sizes=2,3; sum s@5 in=s", "reads port 5 of node 1", AL_EINVAL},
        {"input 6; a: dense 5; split axis=0 sizes=2,4", "split: the parts add up to 6, axis 0 of the input has 5", AL_ESHAPE},
        {"input 6; a: dense 5; split axis=1 sizes=2,3", "split: axis 1 is outside", AL_ESHAPE},
        {"input 6; a: dense 5; split axis=0", "split needs sizes=", AL_EINVAL},
        {"input 6; a: dense 5; split axis=0 sizes=2,0,3", "bad value for sizes", AL_EINVAL},
        {"input 6; a: dense 5; dense 2 in=input@1", "bad value for in: 'input@1'", AL_EINVAL},
        {"input 6; a: dense 5; dense 2 in=a@x", "bad value for in: 'a@x'", AL_EINVAL},
        {"input 6; a: dense 5; dense 2 in=a@64", "bad value for in: 'a@64'", AL_EINVAL},
        {"input 4x3; l: lstm 3 outputs=4; dense 2", "bad value for outputs: '4'", AL_EINVAL},
        {"input 4x3; l: gru 3 outputs=3; dense 2", "bad value for outputs: '3'", AL_EINVAL},
        {"input 4x3; l: dense 3 outputs=2; dense 2", "unknown option 'outputs'", AL_EINVAL},
        {"input 4x3; l: lstm 3; dense 2 in=l@1", "reads port 1 of node 0 (lstm l), which has 1 output", AL_EINVAL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        al_status s = al_model_from_spec(bad[i].spec, 1, &m);
        if (s != bad[i].st || !strstr(al_last_error(), bad[i].msg))
            fprintf(stderr, "spec '%s' gave %s: %s\n", bad[i].spec, al_status_name(s), al_last_error());
        CHECK(s == bad[i].st && m == NULL && strstr(al_last_error(), bad[i].msg) != NULL);
    }
    /* 64 outputs are the most */
    char spec[512];
    size_t o = (size_t)snprintf(spec, sizeof spec, "input 65; split axis=0 sizes=2");
    for (int k = 1; k < AL_MAX_OUTS; k++) o += (size_t)snprintf(spec + o, sizeof spec - o, ",1");
    REQUIRE_OK(al_model_from_spec(spec, 1, &m));
    CHECK(m->nodes[0].cfg.nout == AL_MAX_OUTS && m->ntensors == AL_MAX_OUTS);
    al_model_free(m);
    m = NULL;
    snprintf(spec + o, sizeof spec - o, ",1");
    CHECK_STATUS(al_model_from_spec(spec, 1, &m), AL_EINVAL);
    /* configs: several outputs on another layer; a port of the input */
    al_layer_cfg l[2];
    memset(l, 0, sizeof l);
    l[0].type = AL_L_RELU;
    l[0].nout = 2;
    l[1].type = AL_L_RELU;
    al_shape in = {1, {3, 0, 0}};
    CHECK_STATUS(al_model_build(&in, 0, l, 2, &m), AL_EINVAL);
    CHECK(strstr(al_last_error(), "layer 0 (relu): 2 outputs; only split (up to 64), lstm (3) and gru (2) have several") != NULL);
    l[0].nout = 0;
    l[0].in_port = 1;
    CHECK_STATUS(al_model_build(&in, 0, l, 2, &m), AL_EINVAL);
    CHECK(strstr(al_last_error(), "reads port 1 of the model input") != NULL && m == NULL);
    l[0].in_port = 0;
    l[1].src_port = 1; /* a relu reads no second operand */
    CHECK_STATUS(al_model_build(&in, 0, l, 2, &m), AL_EINVAL);
    CHECK(strstr(al_last_error(), "layer 1 (relu): a port is given for an operand it does not read") != NULL);
    /* a split whose outputs nobody reads (not the last node) */
    CHECK_STATUS(al_model_from_spec("input 6; s: split axis=0 sizes=2,4; dense 2 in=input", 1, &m), AL_EINVAL);
    CHECK(strstr(al_last_error(), "layer 0 (split): its output is never read") != NULL);
}

int main(void) {
    test_forward_reference();
    test_gradients();
    test_plans();
    test_frontier();
    test_job();
    test_spec_and_file();
    test_compile_compress();
    test_refusals();
    TEST_END("test_graph_multiout");
}
