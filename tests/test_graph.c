/* The model as a graph: a node's primary input may be any earlier node's
 * output or the model input (spec option in=K, cfg.back), so a tensor can
 * have several readers. Checked here:
 *  - gradients through fan-out (a tensor read by several nodes, as primary
 *    input and as an add's or a mul's operand; the model input read by
 *    several nodes; a tensor read only as a second operand) by finite
 *    differences, weights and input;
 *  - the same numbers as the chain: a graph that only reorders a chain's
 *    reads predicts what the chain predicts;
 *  - the memory plans (liveness and naive, every freeze point, with the
 *    input gradient) are sound, and the liveness plan keeps a tensor alive
 *    until its last reader;
 *  - the canonical spec parses back; the model file (format version 3 for a
 *    graph, 1 still for a chain) loads and predicts bit for bit;
 *  - the frozen frontier at K (every tensor below K that a node at or past
 *    K reads): its tensors, their packing, and a forward from a packed
 *    frontier that gives exactly the full forward's output at every K;
 *  - refusals: a reference to a later node, a node whose output nobody
 *    reads, a freeze point with the model input on the frontier;
 *  - compile keeps a batch norm whose input has another reader, folds the
 *    others, and predicts the same; compress factorizes a graph's dense and
 *    conv layers and predicts the same;
 *  - the device job on a graph frozen where the frontier is two tensors,
 *    its frozen convs int8: the cache trains exactly as recomputing, and
 *    slices of 3 steps give the weights of one uninterrupted run;
 *  - names: "name: layer" in the spec, references by name (in=, add, mul,
 *    "input"), al_model_find_node, the canonical spec and the model file
 *    keep them, compile and compress keep them on the output tensor; bad
 *    and duplicate names are refused. */
#include "al_test.h"
#include "autlearn_cloud.h"
#include "cloud/compile/compile.h"
#include "cloud/compile/compress.h"

#include <unistd.h>

/* conv 0 is read by tanh 1 and conv 2 (in=0) as primary input and by add
 * 4 as its operand; add 4 is read only as mul 6's operand (x2) */
#define SPEC_CNN                                                                                                \
    "input 3x7x5; conv 4 k=3 p=1; tanh; conv 4 k=1 in=0; sigmoid; add 0; dwconv k=3 p=1 in=1; mul 4; "          \
    "gap; dense 3"
/* the input is read by dense 0, dense 1 (in=-1) and add 4 (-1); dense 0
 * and add 7 only as an add's operand; add 3 by add 4 and dense 5 (in=3) */
#define SPEC_MLP                                                                                                \
    "input 6; dense 6; dense 6 in=-1; tanh; add 0; add -1; dense 5 in=3; tanh; add 5; dense 5 in=4; add 7; "   \
    "dense 2"

static void test_gradients(void) {
    gc_opts o = gc_defaults();
    o.batch = 2;
    CHECK(gradcheck_spec(SPEC_CNN, &o) == 0);
    CHECK(gradcheck_spec(SPEC_MLP, &o) == 0);
    /* a tensor with two primary readers where the earlier one's gradient
     * goes through dxbuf, and a sequence model reading its embedding twice */
    CHECK(gradcheck_spec("input 5; dense 4; tanh; dense 4 in=0; sigmoid; add 1; dense 4 in=0; add 4; dense 2", &o) == 0);
    CHECK(gradcheck_spec("tokens 6; embedding 4 vocab=9; lstm 5; dense 5 in=0; add 1; dense 9", &o) == 0);
    /* the routes in SPEC_MLP: the input's last primary reader is dense 1,
     * add 3's is dense 5; dense 0 and add 7 have no primary reader */
    al_model *m;
    REQUIRE_OK(al_model_from_spec(SPEC_MLP, 1, &m));
    CHECK(m->nodes[0].dx_direct == 0 && m->nodes[1].dx_direct == 1);
    CHECK(m->nodes[4].dx_direct == 0 && m->nodes[5].dx_direct == 1);
    CHECK(m->nodes[0].primary_read == 0 && m->nodes[7].primary_read == 0);
    CHECK(m->nodes[1].primary_read == 1 && m->nodes[3].primary_read == 1);
    al_model_free(m);
}

/* A graph that computes what a chain computes: the chain "dense 4; tanh;
 * dense 3" against the graph that reads its first layer's output through
 * an extra identity-like path is hard to make equal; instead the same
 * chain written with explicit in= (every node naming its previous node)
 * must give the same model, spec and numbers. */
static void test_same_as_chain(void) {
    al_model *a, *b;
    REQUIRE_OK(al_model_from_spec("input 1x6x6; conv 3 k=3; relu; flatten; dense 4", 3, &a));
    REQUIRE_OK(al_model_from_spec("input 1x6x6; conv 3 k=3 in=-1; relu in=0; flatten in=1; dense 4 in=2", 3, &b));
    CHECK(strcmp(al_model_spec(a), al_model_spec(b)) == 0);
    float *x = al_test_rand_input(a, 3, 1), *ya = al_test_predict(a, x, 3), *yb = al_test_predict(b, x, 3);
    CHECK(memcmp(ya, yb, sizeof(float) * 12) == 0);
    free(x);
    free(ya);
    free(yb);
    al_model_free(a);
    al_model_free(b);
    /* reading the model input twice: dense(x) + dense'(x) equals one dense
     * with the summed weights */
    REQUIRE_OK(al_model_from_spec("input 5; dense 3; dense 3 in=-1; add 0", 4, &a));
    REQUIRE_OK(al_model_from_spec("input 5; dense 3", 4, &b));
    for (int p = 0; p < 2; p++)
        for (size_t k = 0; k < a->nodes[0].params[p].n; k++)
            b->nodes[0].params[p].w[k] = a->nodes[0].params[p].w[k] + a->nodes[1].params[p].w[k];
    x = al_test_rand_input(a, 4, 2);
    ya = al_test_predict(a, x, 4);
    yb = al_test_predict(b, x, 4);
    double d = al_test_max_abs_diff(ya, yb, 12);
    CHECK(d < 1e-5);
    free(x);
    free(ya);
    free(yb);
    al_model_free(a);
    al_model_free(b);
}

static void test_plans(void) {
    const char *specs[] = {SPEC_CNN, SPEC_MLP};
    for (int s = 0; s < 2; s++) {
        al_model *m;
        REQUIRE_OK(al_model_from_spec(specs[s], 1, &m));
        al_test_plans_valid(m, 3, specs[s]);
        al_memplan p;
        REQUIRE_OK(al_memplan_build_at(m, 2, 0, 0, &p));
        /* every tensor lives until its last reader's backward step */
        int n = m->nnodes;
        for (int j = 0; j < n; j++) {
            int x = al_node_input(&m->nodes[j]);
            if (x < 0) continue;
            const al_membuf *b = al_memplan_find(&p, AL_MB_ACT, x);
            CHECK(b != NULL && b->t1[b->nlive - 1] >= 2 * n - 1 - j);
        }
        al_memplan_free(&p);
        /* al_model_plan allocates what the plan says; training steps run */
        CHECK(al_model_plan_bytes(m, 4) > 0);
        al_model_free(m);
    }
}

static void test_spec_and_file(void) {
    char dir[] = "/tmp/al-graph.XXXXXX";
    REQUIRE_OK(mkdtemp(dir) ? AL_OK : AL_EIO);
    char path[64], path2[64];
    snprintf(path, sizeof path, "%s/g.gguf", dir);
    snprintf(path2, sizeof path2, "%s/c.gguf", dir);
    const char *specs[] = {SPEC_CNN, SPEC_MLP};
    for (int s = 0; s < 2; s++) {
        al_model *m, *m2, *l;
        REQUIRE_OK(al_model_from_spec(specs[s], 2, &m));
        /* the canonical spec names every non-previous read and parses back */
        CHECK(strstr(al_model_spec(m), " in=") != NULL);
        REQUIRE_OK(al_model_from_spec(al_model_spec(m), 2, &m2));
        CHECK(strcmp(al_model_spec(m), al_model_spec(m2)) == 0);
        REQUIRE_OK(al_model_save(m, path));
        REQUIRE_OK(al_model_load(path, &l));
        CHECK(strcmp(al_model_spec(m), al_model_spec(l)) == 0);
        CHECK(al_test_file_version(path) == 3);
        al_test_same_outputs(m, l);
        al_model_free(m);
        al_model_free(m2);
        al_model_free(l);
    }
    /* a chain still writes version 1 */
    al_model *c;
    REQUIRE_OK(al_model_from_spec("input 4; dense 3; relu; dense 2", 1, &c));
    REQUIRE_OK(al_model_save(c, path2));
    gguf_reader *r;
    REQUIRE_OK(gguf_reader_open_file(path2, 0, &r));
    uint32_t ver = 0;
    CHECK_OK(gguf_get_u32(r, "autlearn.format_version", &ver));
    CHECK(ver == 1);
    gguf_reader_free(r);
    al_model_free(c);
    /* a depthwise conv with a fused activation writes version 2 and loads
     * back with it */
    REQUIRE_OK(al_model_from_spec("input 2x5x5; dwconv 3 p=1 act=relu6; flatten; dense 2", 3, &c));
    REQUIRE_OK(al_model_save(c, path2));
    REQUIRE_OK(gguf_reader_open_file(path2, 0, &r));
    CHECK_OK(gguf_get_u32(r, "autlearn.format_version", &ver));
    CHECK(ver == 2);
    gguf_reader_free(r);
    al_model *cl;
    REQUIRE_OK(al_model_load(path2, &cl));
    CHECK(cl->nodes[0].cfg.act == AL_ACT_RELU6);
    float *cx = al_test_rand_input(c, 3, 5), *cya = al_test_predict(c, cx, 3), *cyb = al_test_predict(cl, cx, 3);
    CHECK(memcmp(cya, cyb, sizeof(float) * 3 * 2) == 0);
    free(cx);
    free(cya);
    free(cyb);
    al_model_free(cl);
    al_model_free(c);
    unlink(path);
    unlink(path2);
    rmdir(dir);
}

static void test_refusals(void) {
    al_model *m = NULL;
    CHECK_STATUS(al_model_from_spec("input 4; dense 3; dense 3 in=1", 1, &m), AL_EINVAL);
    CHECK(strstr(al_last_error(), "not an earlier layer") != NULL);
    CHECK_STATUS(al_model_from_spec("input 4; dense 3; dense 3 in=-2", 1, &m), AL_EINVAL);
    /* node 0's output is never read */
    CHECK_STATUS(al_model_from_spec("input 4; dense 3; dense 2 in=-1", 1, &m), AL_EINVAL);
    CHECK(strstr(al_last_error(), "layer 0 (dense): its output is never read") != NULL);
    CHECK(m == NULL);
    /* build from configs: a back past the input */
    al_layer_cfg l[2];
    memset(l, 0, sizeof l);
    l[0].type = l[1].type = AL_L_DENSE;
    l[0].units = l[1].units = 2;
    l[0].bias = l[1].bias = 1;
    l[1].back = 2;
    al_shape in = {1, {3, 0, 0}};
    CHECK_STATUS(al_model_build(&in, 0, l, 2, &m), AL_EINVAL);
    /* the model input cannot be part of the frozen frontier: in SPEC_MLP
     * dense 1 reads it, add 4 adds it */
    REQUIRE_OK(al_model_from_spec(SPEC_MLP, 1, &m));
    CHECK(al_model_src_across(m, 0) == -1);
    CHECK(al_model_src_across(m, 1) == 1 && strcmp(al_model_src_verb(m, 1), "reads") == 0);
    for (int k = 2; k <= 4; k++) CHECK(al_model_src_across(m, k) == 4 && strcmp(al_model_src_verb(m, 4), "adds") == 0);
    for (int k = 5; k <= m->nnodes; k++) CHECK(al_model_src_across(m, k) == -1);
    REQUIRE_OK(al_model_plan(m, 2));
    float *x = al_test_rand_input(m, 2, 3);
    CHECK_STATUS(al_model_forward_range(m, NULL, 3, m->nnodes, x, 2, 0), AL_ESTATE);
    CHECK(strstr(al_last_error(), "node 4 reads the model input") != NULL);
    free(x);
    al_model_free(m);
}

static void test_frontier(void) {
    al_model *m;
    REQUIRE_OK(al_model_from_spec(SPEC_MLP, 5, &m));
    /* which tensors each freeze point needs (see SPEC_MLP) */
    static const struct {
        int K, count;
        size_t numel;
    } want[] = {{5, 2, 12}, {6, 2, 11}, {7, 3, 16}, {8, 2, 11}, {9, 2, 10}, {10, 1, 5}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        int K = want[i].K;
        if (al_model_frontier_count(m, K) != want[i].count || al_model_frontier_numel(m, K) != want[i].numel)
            fprintf(stderr, "frontier at %d: %d tensors, %zu floats\n", K, al_model_frontier_count(m, K),
                    al_model_frontier_numel(m, K));
        CHECK(al_model_frontier_count(m, K) == want[i].count && al_model_frontier_numel(m, K) == want[i].numel);
    }
    const int n = 3;
    float *x = al_test_rand_input(m, n, 11);
    float *y = al_test_predict(m, x, n);
    REQUIRE_OK(al_model_plan(m, n));
    for (int K = 5; K < m->nnodes; K++) {
        size_t feat = al_model_frontier_numel(m, K);
        float *pk = malloc(sizeof(float) * feat * n), *row = malloc(sizeof(float) * feat);
        REQUIRE_OK(al_model_forward_range(m, NULL, 0, K, x, n, 0));
        al_model_frontier_pack(m, K, n, pk);
        al_model_frontier_row(m, K, 1, row);
        CHECK(memcmp(row, pk + feat, sizeof(float) * feat) == 0);
        /* clobber every activation below K: the suffix must need only the pack */
        for (int t = 0; t < K; t++) memset(m->act[t], 0xff, sizeof(float) * n * al_shape_numel(&m->nodes[t].out));
        const float *out;
        REQUIRE_OK(al_model_forward_from(m, NULL, K, pk, n, 0, &out));
        CHECK(memcmp(out, y, sizeof(float) * n * 2) == 0);
        free(pk);
        free(row);
    }
    free(x);
    free(y);
    al_model_free(m);
}

static void test_compile_compress(void) {
    /* conv 0's output is read by batchnorm 1 and by conv 3 (in=0): the
     * batch norm cannot fold into it; conv 3 + batchnorm 4 + relu 5 fold */
    const char *spec = "input 2x6x6; conv 4 k=3 p=1; batchnorm; relu; conv 4 k=1 in=0; batchnorm; relu; add 2; "
                       "flatten; dense 5; relu; dense 3";
    al_model *m, *c, *z;
    REQUIRE_OK(al_model_from_spec(spec, 5, &m));
    al_test_randomize_bn(m, 5);
    REQUIRE_OK(al_model_freeze(m, 8));
    al_compile_report r;
    REQUIRE_OK(al_compile(m, 8, NULL, &c, &r));
    CHECK(r.folded_bn == 1 && r.map[4] == r.map[3]);
    CHECK(r.map[1] != r.map[0]);
    float *x = al_test_rand_input(m, 3, 9), *ya = al_test_predict(m, x, 3), *yb = al_test_predict(c, x, 3);
    double d = al_test_max_abs_diff(ya, yb, 9);
    fprintf(stderr, "test_graph: compiled %d -> %d nodes, predictions differ by %.3g\n", m->nnodes, c->nnodes, d);
    CHECK(d < 1e-4);
    free(yb);
    al_compile_report_free(&r);
    al_model_free(c);
    /* compress at full rank: same predictions */
    al_compress_plan p;
    REQUIRE_OK(al_compress_analyze(m, &p));
    al_compress_policy pol = {AL_RANK_FIXED, 1e6, 1};
    REQUIRE_OK(al_compress_choose(&p, &pol));
    REQUIRE_OK(al_compress_apply(m, &p, &z));
    CHECK(z->nnodes > m->nnodes);
    yb = al_test_predict(z, x, 3);
    d = al_test_max_abs_diff(ya, yb, 9);
    fprintf(stderr, "test_graph: compressed %d -> %d nodes, predictions differ by %.3g\n", m->nnodes, z->nnodes, d);
    CHECK(d < 1e-4);
    al_compress_plan_free(&p);
    free(x);
    free(ya);
    free(yb);
    al_model_free(z);
    al_model_free(m);
}

/* stem (0) is read by a (2) and by the shortcut conv (5); at freeze 5 the
 * frontier is {stem, add 4} */
#define SPEC_JOB                                                                                                \
    "input 1x8x8; stem: conv 4 k=3 p=1; relu; a: conv 4 k=3 p=1 in=stem; relu; add 1; conv 4 k=1 in=stem; "     \
    "add 4; flatten; dense 3"

static al_model *job_model(void) {
    al_model *m;
    REQUIRE_OK(al_model_from_spec(SPEC_JOB, 9, &m));
    REQUIRE_OK(al_model_freeze(m, 5));
    int q = 0;
    REQUIRE_OK(al_quantize_frozen(m, &q));
    CHECK(q == 1 && al_node_is_quantized(m, 2)); /* a (K = 36); the stem's K = 9 stays float */
    return m;
}

static void test_job(void) {
    al_dataset *d = al_test_images(40, 3);
    al_personalize_config c;
    al_test_job_config(&c, 3, 5);
    al_model *a = job_model(), *b = job_model(), *s = job_model();
    CHECK(al_model_frontier_count(a, 5) == 2);
    al_cache *cache;
    REQUIRE_OK(al_cache_new(16 << 20, NULL, &cache));
    al_personalize_report ra, rb;
    REQUIRE_OK(al_personalize(a, NULL, d, NULL, NULL, &c, NULL, &ra));
    REQUIRE_OK(al_personalize(b, NULL, d, NULL, cache, &c, NULL, &rb));
    CHECK(memcmp(a->wblock, b->wblock, sizeof(float) * a->nweights) == 0);
    CHECK(rb.prefix_samples == (uint64_t)d->n && isfinite(ra.train.final_loss));
    al_cache_free(cache);
    /* the same job in slices of 3 steps */
    al_trainer *t;
    REQUIRE_OK(al_personalize_new(s, NULL, d, NULL, NULL, &c, &t));
    int done = 0, slices = 0;
    al_train_report r;
    while (!done && slices < 1000) {
        REQUIRE_OK(al_trainer_run_slice(t, d, NULL, 3, 0, &done, &r));
        slices++;
    }
    CHECK(done && slices > 2);
    CHECK(memcmp(a->wblock, s->wblock, sizeof(float) * a->nweights) == 0);
    al_trainer_free(t);
    al_model_free(a);
    al_model_free(b);
    al_model_free(s);
    al_dataset_free(d);
}

static void test_names(void) {
    const char *spec = "input 4x5x5; stem: conv 6 k=3 p=1; a: relu; b: conv 6 k=1 in=stem; sum: add a; gap; "
                       "logits: dense 3";
    al_model *m, *n2, *l;
    REQUIRE_OK(al_model_from_spec(spec, 3, &m));
    CHECK(al_model_find_node(m, "stem") == 0 && al_model_find_node(m, "sum") == 3 &&
          al_model_find_node(m, "logits") == 5);
    CHECK(al_model_find_node(m, "nope") == -1 && al_model_find_node(m, "") == -1);
    CHECK(strcmp(al_model_node_name(m, 2), "b") == 0 && strcmp(al_model_node_name(m, 4), "") == 0);
    CHECK(al_model_node_name(m, 6) == NULL);
    CHECK(al_node_input(&m->nodes[2]) == 0 && m->nodes[3].cfg.src == 1);
    CHECK(strstr(al_model_spec(m), "; b: conv 6 k=1 s=1 p=0 in=0; sum: add 1;") != NULL);
    REQUIRE_OK(al_model_from_spec(al_model_spec(m), 3, &n2));
    CHECK(strcmp(al_model_spec(m), al_model_spec(n2)) == 0);
    char path[] = "/tmp/al-names.XXXXXX";
    int fd = mkstemp(path);
    REQUIRE_OK(fd >= 0 ? AL_OK : AL_EIO);
    close(fd);
    REQUIRE_OK(al_model_save(m, path));
    REQUIRE_OK(al_model_load(path, &l));
    CHECK(al_model_find_node(l, "b") == 2 && strcmp(al_model_spec(l), al_model_spec(m)) == 0);
    unlink(path);
    /* compress keeps the name on the layer's output (the second factor) */
    al_compress_plan p;
    REQUIRE_OK(al_compress_analyze(m, &p));
    al_compress_policy pol = {AL_RANK_FIXED, 2, 1};
    REQUIRE_OK(al_compress_choose(&p, &pol));
    al_model *z;
    REQUIRE_OK(al_compress_apply(m, &p, &z));
    int st = al_model_find_node(z, "stem");
    CHECK(st == 1 && z->nodes[0].cfg.name[0] == '\0' && al_node_input(&z->nodes[al_model_find_node(z, "b") - 1]) == st);
    al_compress_plan_free(&p);
    al_model_free(z);
    al_model_free(l);
    al_model_free(n2);
    al_model_free(m);
    /* references to the input by name and number */
    REQUIRE_OK(al_model_from_spec("input 3; h: dense 3; add input", 1, &m));
    CHECK(m->nodes[1].cfg.src == -1);
    al_model_free(m);
    /* refusals */
    const char *bad[] = {"input 3; 1x: dense 3",      "input 3; input: dense 3",    "input 3; a: dense 3; a: relu",
                         "input 3; a: dense 3; add b", "input 3; a=b: dense 3",     "input 3; a:",
                         "input 3; dense 3 in=later; later: relu"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        m = NULL;
        al_status s2 = al_model_from_spec(bad[i], 1, &m);
        if (s2 != AL_EINVAL) fprintf(stderr, "spec '%s' gave %d\n", bad[i], (int)s2);
        CHECK(s2 == AL_EINVAL && m == NULL);
    }
    /* al_model_build checks names too (configs not from a spec) */
    al_layer_cfg c[2];
    memset(c, 0, sizeof c);
    c[0].type = c[1].type = AL_L_DENSE;
    c[0].units = c[1].units = 2;
    strcpy(c[0].name, "x");
    strcpy(c[1].name, "x");
    al_shape in = {1, {3, 0, 0}};
    CHECK_STATUS(al_model_build(&in, 0, c, 2, &m), AL_EINVAL);
    CHECK(strstr(al_last_error(), "two layers are named 'x'") != NULL);
    strcpy(c[1].name, "has space");
    CHECK_STATUS(al_model_build(&in, 0, c, 2, &m), AL_EINVAL);
    memset(c[1].name, 'a', sizeof c[1].name); /* not terminated */
    CHECK_STATUS(al_model_build(&in, 0, c, 2, &m), AL_EINVAL);
}

int main(void) {
    test_gradients();
    test_same_as_chain();
    test_plans();
    test_spec_and_file();
    test_refusals();
    test_frontier();
    test_compile_compress();
    test_names();
    test_job();
    TEST_END("test_graph");
}
