/* Nodes with any number of inputs: concat and sum read their primary input
 * and a list of earlier outputs (cfg.src, then cfg.more; spec
 * "concat 3,5,7" or "concat in=a,b,c"). Checked here:
 *  - forward against a plain reference (the copies and sums written out);
 *  - gradients by finite differences, weights and input, on odd shapes,
 *    with 3 to 5 inputs including the model input and a repeated operand;
 *  - the canonical spec parses back; the model file (format version 4 with
 *    autlearn.layer.N.more) loads and predicts bit for bit;
 *  - the memory plans (liveness and naive, every freeze point, with the
 *    input gradient) are sound and keep every operand alive until its
 *    reader ran;
 *  - the frozen frontier of a DenseNet-like block (4 tensors at once) and
 *    a forward from it at every freeze point;
 *  - compile and compress keep the operand lists and predict the same;
 *  - a personalization job frozen inside the block trains exactly the
 *    same with the runtime cache as recomputing, and resumed from a
 *    checkpoint as uninterrupted;
 *  - refusals: too many inputs (spec and configs, naming the node), a list
 *    on a layer that takes one operand, operands given twice, shapes that
 *    do not match. */
#include "al_test.h"
#include "autlearn_cloud.h"
#include "cloud/compile/compile.h"
#include "cloud/compile/compress.h"

#include <unistd.h>

/* a DenseNet-like block (tanh, not relu: no kink for the finite
 * differences): each conv reads the concat of everything before
 * it; the last concat repeats r0. At freeze 6 the frontier is {r0, c1, c2,
 * k2}. */
#define SPEC_DENSE                                                                                              \
    "input 1x8x8; stem: conv 3 k=3 p=1; r0: tanh; c1: conv 2 k=3 p=1; k1: concat in=r0,c1 axis=0; "            \
    "c2: conv 2 k=3 p=1; k2: concat in=r0,c1,c2 axis=0; c3: conv 2 k=1; k3: concat r0,c1,c2,c3,r0 axis=0 in=k2; " \
    "gap; dense 3"
/* odd shapes along the last axis: b [2,3,4], a [2,3,5], the input [2,3,5] */
#define SPEC_ODD                                                                                                \
    "input 2x3x5; a: conv 2 k=1; b: slice axis=2 start=1 in=input; concat a,input,b,a axis=-1 in=b; flatten; "  \
    "dense 3"
/* concat and sum over the model input and a repeated operand */
#define SPEC_VEC                                                                                                \
    "input 5; a: dense 3; b: tanh in=input; cat: concat a,input,b,a axis=0; d: dense 5; "                      \
    "s: sum input,b,input in=d; dense 2"

static void test_forward_reference(void) {
    /* y = cat(b, x, a, x) along axis 1 of [2,3,5]: a = 2x, b = -x */
    al_model *m;
    REQUIRE_OK(al_model_from_spec("input 2x3x5; a: scale 2; b: scale -1 in=input; concat input,a,input axis=1", 1, &m));
    CHECK(m->nodes[2].cfg.nmore == 2 && m->nodes[2].out.d[1] == 12);
    const int n = 3;
    float *x = al_test_rand_input(m, n, 1), *y = al_test_predict(m, x, n);
    int bad = 0;
    for (int s = 0; s < n; s++)
        for (int c = 0; c < 2; c++)
            for (int h = 0; h < 12; h++)
                for (int w = 0; w < 5; w++) {
                    float xv = x[((size_t)s * 2 + c) * 15 + (size_t)(h % 3) * 5 + w];
                    float want = h < 3 ? -xv : h < 6 ? xv : h < 9 ? 2 * xv : xv;
                    bad += y[(((size_t)s * 2 + c) * 12 + h) * 5 + w] != want;
                }
    CHECK(bad == 0);
    free(x);
    free(y);
    al_model_free(m);
    /* sum: a + x + a + a, added in operand order */
    REQUIRE_OK(al_model_from_spec("input 7; a: scale 2; sum input,a,a", 1, &m));
    x = al_test_rand_input(m, n, 2);
    y = al_test_predict(m, x, n);
    bad = 0;
    for (int i = 0; i < n * 7; i++) {
        float a = 2 * x[i], want = a + x[i];
        want += a;
        want += a;
        bad += y[i] != want;
    }
    CHECK(bad == 0);
    CHECK(m->nodes[1].vt->macs(&m->nodes[1]) == 3 * 7);
    free(x);
    free(y);
    al_model_free(m);
}

static void test_gradients(void) {
    gc_opts o = gc_defaults();
    o.batch = 2;
    CHECK(gradcheck_spec(SPEC_ODD, &o) == 0);
    CHECK(gradcheck_spec(SPEC_VEC, &o) == 0);
    CHECK(gradcheck_spec(SPEC_DENSE, &o) == 0);
    /* the operand list read only as operands: a concat whose primary input
     * is the model input, the inputs of the block read by nothing else */
    CHECK(gradcheck_spec("input 4; a: dense 3; b: dense 2 in=input; c: sigmoid in=a; concat a,b,c,b in=input; dense 2",
                         &o) == 0);
}

static void test_spec_and_file(void) {
    char dir[] = "/tmp/al-nary.XXXXXX";
    REQUIRE_OK(mkdtemp(dir) ? AL_OK : AL_EIO);
    char path[64];
    snprintf(path, sizeof path, "%s/n.gguf", dir);
    const char *specs[] = {SPEC_DENSE, SPEC_ODD, SPEC_VEC};
    for (int s = 0; s < 3; s++) {
        al_model *m, *m2, *l;
        REQUIRE_OK(al_model_from_spec(specs[s], 2, &m));
        REQUIRE_OK(al_model_from_spec(al_model_spec(m), 2, &m2));
        CHECK(strcmp(al_model_spec(m), al_model_spec(m2)) == 0);
        REQUIRE_OK(al_model_save(m, path));
        REQUIRE_OK(al_model_load(path, &l));
        CHECK(strcmp(al_model_spec(m), al_model_spec(l)) == 0);
        for (int i = 0; i < m->nnodes; i++) {
            CHECK(l->nodes[i].cfg.nmore == m->nodes[i].cfg.nmore);
            for (int k = 0; k < al_cfg_nsrc(&m->nodes[i].cfg); k++)
                CHECK(al_cfg_src(&l->nodes[i].cfg, k) == al_cfg_src(&m->nodes[i].cfg, k));
        }
        CHECK(al_test_file_version(path) == 4);
        al_test_same_outputs(m, l);
        al_model_free(m);
        al_model_free(m2);
        al_model_free(l);
    }
    /* the list forms: "concat in=a,b,c" is "concat b,c in=a" */
    al_model *a, *b;
    REQUIRE_OK(al_model_from_spec("input 4; a: dense 3; b: dense 2 in=input; concat in=a,b,input,a axis=0", 1, &a));
    REQUIRE_OK(al_model_from_spec("input 4; a: dense 3; b: dense 2 in=input; concat b,input,a axis=0 in=a", 1, &b));
    CHECK(strcmp(al_model_spec(a), al_model_spec(b)) == 0);
    CHECK(strstr(al_model_spec(a), "concat 1,-1,0 axis=0 in=0") != NULL);
    CHECK(a->nodes[2].out.d[0] == 12);
    al_model_free(a);
    al_model_free(b);
    /* a two-input concat is written as before (version 3 only for its in=) */
    REQUIRE_OK(al_model_from_spec("input 4; a: dense 3; concat -1 axis=0", 1, &a));
    REQUIRE_OK(al_model_save(a, path));
    gguf_reader *r;
    REQUIRE_OK(gguf_reader_open_file(path, 0, &r));
    uint32_t ver = 0;
    CHECK_OK(gguf_get_u32(r, "autlearn.format_version", &ver));
    CHECK(ver == 1 && gguf_find_kv(r, "autlearn.layer.1.more") < 0);
    gguf_reader_free(r);
    al_model_free(a);
    /* a file whose .more names a later node, or sits on a one-operand layer */
    REQUIRE_OK(al_model_from_spec("input 4; a: dense 3; b: dense 2 in=input; concat a,input,b axis=0 in=b; dense 2",
                                  1, &a));
    a->nodes[2].cfg.more[1] = 3;
    REQUIRE_OK(al_model_save(a, path));
    CHECK_STATUS(al_model_load(path, &b), AL_EFORMAT);
    CHECK(strstr(al_last_error(), "layer 2 (concat) reads node 3, which is not an earlier node") != NULL);
    a->nodes[2].cfg.more[1] = 1;
    a->nodes[3].cfg.nmore = 1;
    REQUIRE_OK(al_model_save(a, path));
    CHECK_STATUS(al_model_load(path, &b), AL_EFORMAT);
    CHECK(strstr(al_last_error(), "layer 3 (dense) cannot read more than two inputs") != NULL);
    al_model_free(a);
    unlink(path);
    rmdir(dir);
}

static void test_plans(void) {
    const char *specs[] = {SPEC_DENSE, SPEC_VEC};
    for (int s = 0; s < 2; s++) {
        al_model *m;
        REQUIRE_OK(al_model_from_spec(specs[s], 1, &m));
        al_test_plans_valid(m, 3, specs[s]);
        /* every operand lives at least until its reader's forward; a frozen
         * reader's step is its forward index */
        for (int whole = 0; whole < 2; whole++) { /* chunks on (a slim plan) and off */
            al_model_set_forward_chunk(m, whole ? -1 : 0);
            al_memplan p;
            REQUIRE_OK(al_memplan_build_at(m, 2, 0, m->nnodes, &p));
            CHECK(whole ? p.slim == 0 : p.slim >= 2);
            for (int j = 0; j < m->nnodes; j++)
                for (int k = 0; k < al_cfg_nsrc(&m->nodes[j].cfg); k++) {
                    int t = al_cfg_src(&m->nodes[j].cfg, k);
                    if (t < 0) continue;
                    const al_membuf *b = al_memplan_find(&p, AL_MB_ACT, t);
                    if (!b) /* in the chunk arena: only chunked nodes read it */
                        CHECK(p.slim > 0 && m->t_last_reader[t] < p.slim);
                    else
                        CHECK(b->t1[b->nlive - 1] >= j);
                }
            al_memplan_free(&p);
        }
        al_model_set_forward_chunk(m, 0);
        al_model_free(m);
    }
}

static void test_frontier(void) {
    al_model *m;
    REQUIRE_OK(al_model_from_spec(SPEC_DENSE, 5, &m));
    CHECK(al_model_frontier_count(m, 6) == 4);
    CHECK(al_model_frontier_numel(m, 6) == (size_t)(3 + 2 + 2 + 7) * 64);
    CHECK(al_model_frontier_count(m, 8) == 1); /* k3 alone */
    CHECK(al_model_src_across(m, 1) == -1);
    const int n = 3;
    float *x = al_test_rand_input(m, n, 11), *y = al_test_predict(m, x, n);
    REQUIRE_OK(al_model_plan(m, n));
    for (int K = 1; K < m->nnodes; K++) {
        size_t feat = al_model_frontier_numel(m, K);
        float *pk = malloc(sizeof(float) * feat * n);
        REQUIRE_OK(al_model_forward_range(m, NULL, 0, K, x, n, 0));
        al_model_frontier_pack(m, K, n, pk);
        for (int t = 0; t < K; t++) memset(m->act[t], 0xff, sizeof(float) * n * al_shape_numel(&m->nodes[t].out));
        const float *out;
        REQUIRE_OK(al_model_forward_from(m, NULL, K, pk, n, 0, &out));
        CHECK(memcmp(out, y, sizeof(float) * n * 3) == 0);
        free(pk);
    }
    free(x);
    free(y);
    al_model_free(m);
    /* the model input as a concat's operand is refused on the frontier */
    REQUIRE_OK(al_model_from_spec(SPEC_VEC, 5, &m));
    CHECK(al_model_src_across(m, 2) == 2 && al_model_src_across(m, 3) == 4 && al_model_src_across(m, 5) == -1);
    al_model_free(m);
}

static void test_compile_compress(void) {
    /* a batch norm inside the block folds into its conv; the concats'
     * operand lists follow the renumbering */
    const char *spec = "input 1x8x8; stem: conv 3 k=3 p=1; r0: relu; c1: conv 2 k=3 p=1; batchnorm; b1: relu; "
                       "c2: conv 2 k=3 p=1 in=r0; batchnorm; b2: relu; k: concat r0,b2,b1,r0 axis=0 in=stem; gap; dense 4";
    al_model *m, *c, *z;
    REQUIRE_OK(al_model_from_spec(spec, 5, &m));
    al_test_randomize_bn(m, 5);
    REQUIRE_OK(al_model_freeze(m, 9));
    al_compile_report r;
    REQUIRE_OK(al_compile(m, 9, NULL, &c, &r));
    CHECK(r.folded_bn == 2 && r.fused_act == 2 && c->nnodes == m->nnodes - 4);
    CHECK(c->nodes[r.map[8]].cfg.nmore == 3);
    float *x = al_test_rand_input(m, 3, 9), *ya = al_test_predict(m, x, 3), *yb = al_test_predict(c, x, 3);
    double d = al_test_max_abs_diff(ya, yb, 12);
    CHECK(d < 1e-4);
    free(yb);
    al_compile_report_free(&r);
    al_model_free(c);
    al_compress_plan p;
    REQUIRE_OK(al_compress_analyze(m, &p));
    al_compress_policy pol = {AL_RANK_FIXED, 1e6, 1};
    REQUIRE_OK(al_compress_choose(&p, &pol));
    REQUIRE_OK(al_compress_apply(m, &p, &z));
    CHECK(z->nnodes > m->nnodes);
    yb = al_test_predict(z, x, 3);
    d = al_test_max_abs_diff(ya, yb, 12);
    CHECK(d < 1e-4);
    al_compress_plan_free(&p);
    free(x);
    free(ya);
    free(yb);
    al_model_free(z);
    al_model_free(m);
}

static al_model *job_model(void) {
    al_model *m;
    REQUIRE_OK(al_model_from_spec(SPEC_DENSE, 9, &m));
    REQUIRE_OK(al_model_freeze(m, 6));
    return m;
}

static void test_job(void) {
    al_dataset *d = al_test_images(32, 3);
    al_personalize_config c;
    al_test_job_config(&c, 2, 6);
    al_model *a = job_model(), *b = job_model();
    CHECK(al_model_frontier_count(a, 6) == 4);
    al_cache *cache;
    REQUIRE_OK(al_cache_new(16 << 20, NULL, &cache));
    al_personalize_report ra, rb;
    REQUIRE_OK(al_personalize(a, NULL, d, NULL, NULL, &c, NULL, &ra));
    REQUIRE_OK(al_personalize(b, NULL, d, NULL, cache, &c, NULL, &rb));
    CHECK(memcmp(a->wblock, b->wblock, sizeof(float) * a->nweights) == 0);
    CHECK(rb.prefix_samples == (uint64_t)d->n && isfinite(ra.train.final_loss));
    al_cache_free(cache);
    /* the same job stopped after 3 steps, checkpointed, resumed in a new
     * trainer on a fresh model: the weights of the uninterrupted run */
    al_test_resume_matches(job_model, d, &c, a, "nary");
    al_model_free(a);
    al_model_free(b);
    al_dataset_free(d);
}

static void test_refusals(void) {
    al_model *m = NULL;
    /* 66 inputs in the spec */
    char spec[1024];
    size_t o = (size_t)snprintf(spec, sizeof spec, "input 2; a: relu; concat a");
    for (int k = 1; k < AL_MAX_SRCS + 1; k++) o += (size_t)snprintf(spec + o, sizeof spec - o, ",a");
    snprintf(spec + o, sizeof spec - o, " axis=0");
    CHECK_STATUS(al_model_from_spec(spec, 1, &m), AL_ERANGE);
    CHECK(strstr(al_last_error(), "more than 65 inputs") != NULL && m == NULL);
    /* 65 is the most */
    char *comma = strrchr(spec, ',');
    memmove(comma, comma + 2, strlen(comma + 2) + 1);
    REQUIRE_OK(al_model_from_spec(spec, 1, &m));
    CHECK(m->nodes[1].cfg.nmore == AL_MAX_SRCS - 1 && m->nodes[1].out.d[0] == 2 * (AL_MAX_SRCS + 1));
    al_model_free(m);
    m = NULL;
    const char *bad[] = {
        "input 3; a: dense 3; dense 2 in=a,a",        /* a list on a one-input layer */
        "input 3; a: dense 3; add a,a",               /* add takes one operand */
        "input 3; a: dense 3; concat a in=a,a",       /* operands given twice */
        "input 3; a: dense 3; concat a,later axis=0; later: relu", /* a later node */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        al_status s = al_model_from_spec(bad[i], 1, &m);
        if (s != AL_EINVAL) fprintf(stderr, "spec '%s' gave %d\n", bad[i], (int)s);
        CHECK(s == AL_EINVAL && m == NULL);
    }
    /* shapes that do not match: the operand named in the message */
    CHECK_STATUS(al_model_from_spec("input 3; a: dense 3; b: dense 2 in=input; concat a,b,input axis=0 in=b", 1, &m),
                 AL_OK);
    al_model_free(m);
    m = NULL;
    CHECK_STATUS(al_model_from_spec("input 3; a: dense 3; b: dense 2 in=input; sum a,input in=b", 1, &m), AL_ESHAPE);
    CHECK(strstr(al_last_error(), "sum: operand 1 has shape [3]") != NULL);
    CHECK_STATUS(al_model_from_spec("input 3x2; a: dense 3; b: dense 2 in=input; concat a,input axis=0 in=b", 1, &m),
                 AL_ESHAPE);
    CHECK(strstr(al_last_error(), "(operand 1)") != NULL);
    /* configs: too many inputs, named; a list on a binary layer */
    al_layer_cfg l[2];
    memset(l, 0, sizeof l);
    l[0].type = AL_L_RELU;
    l[1].type = AL_L_CONCAT;
    l[1].nmore = AL_MAX_SRCS;
    strcpy(l[1].name, "wide");
    al_shape in = {1, {3, 0, 0}};
    CHECK_STATUS(al_model_build(&in, 0, l, 2, &m), AL_ERANGE);
    CHECK(strstr(al_last_error(), "layer 1 (concat wide): 66 inputs, at most 65") != NULL);
    l[1].type = AL_L_ADD;
    l[1].nmore = 1;
    CHECK_STATUS(al_model_build(&in, 0, l, 2, &m), AL_EINVAL);
    CHECK(strstr(al_last_error(), "only concat and sum") != NULL);
    l[1].type = AL_L_SUM;
    l[1].more[0] = 1; /* itself */
    CHECK_STATUS(al_model_build(&in, 0, l, 2, &m), AL_EINVAL);
    CHECK(m == NULL);
}

int main(void) {
    test_forward_reference();
    test_gradients();
    test_spec_and_file();
    test_plans();
    test_frontier();
    test_compile_compress();
    test_job();
    test_refusals();
    TEST_END("test_graph_nary");
}
