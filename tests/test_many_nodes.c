/* Models far past the old cap of 64 nodes (src/model/model.h, AL_MAX_NODES
 * now bounds untrusted input only). A residual CNN of about 300 nodes,
 * written in the spec language, goes through everything a model does:
 *  - it builds, its canonical spec parses back to the same model;
 *  - its memory plans (liveness and naive, at several freeze points, with
 *    the input gradient) are sound (al_memplan_check), al_model_plan
 *    allocates what they say, and the liveness plan shrinks as more is frozen;
 *  - it trains: the loss is finite and falls, and the gradient of the
 *    deepest weights (backward through every node) checks by finite
 *    differences;
 *  - it saves and loads byte for byte, and the loaded model predicts bit
 *    for bit the same;
 *  - a run broken by a checkpoint and a crash ends bit for bit where the
 *    uninterrupted run ends;
 *  - it compiles (batch norms folded, activations fused, a dropout dropped,
 *    the node map, the stored plan) and predicts the same compiled;
 *  - it compresses (every conv and dense factorized at full rank) into a
 *    model of about 400 nodes that predicts the same.
 * Then a 1000-node chain plans soundly, and the limits: AL_MAX_NODES nodes
 * build from a spec, one more is refused with a message, as is a model file
 * whose layer count its metadata cannot back. */
#include "al_test.h"
#include "cloud/compile/compile.h"
#include "cloud/compile/compress.h"

#include <sys/stat.h>
#include <unistd.h>

#define BLOCKS 72 /* residual blocks: conv, batchnorm, relu, add */
#define DENSE_BLOCKS 4
#define FREEZE_BLOCKS 40 /* the freeze point used for compile: after this many blocks */

static char dir[256];

static const char *path_in(const char *name) {
    static char buf[2][320];
    static int k;
    k ^= 1;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

/* input 1x8x8; conv 8 (node 0); dropout (1); BLOCKS x [conv 8; batchnorm;
 * act; add <block input>]; maxpool; flatten; dense 16; act; DENSE_BLOCKS x
 * [dense 16; act; add <block input>]; dense 3. Block b's conv is node
 * 2 + 4b. act is relu, or tanh with avgpool for maxpool (a smooth model). */
static char *big_spec(const char *act, int *nodes) {
    size_t cap = 64 * (BLOCKS + DENSE_BLOCKS + 8), o = 0;
    char *s = malloc(cap);
#define PUT(...) o += (size_t)snprintf(s + o, cap - o, __VA_ARGS__)
    PUT("input 1x8x8; conv 8 k=3 p=1; dropout 0.1");
    int n = 2, in = 1;
    for (int b = 0; b < BLOCKS; b++) {
        PUT("; conv 8 k=3 p=1; batchnorm; %s; add %d", act, in);
        in = n + 3;
        n += 4;
    }
    PUT("; %s k=2; flatten; dense 16; %s", strcmp(act, "relu") ? "avgpool" : "maxpool", act);
    n += 4;
    in = n - 1;
    for (int b = 0; b < DENSE_BLOCKS; b++) {
        PUT("; dense 16; %s; add %d", act, in);
        in = n + 2;
        n += 3;
    }
    PUT("; dense 3");
    n++;
#undef PUT
    REQUIRE_OK(o < cap ? AL_OK : AL_ERANGE);
    *nodes = n;
    return s;
}

static al_model *act_model(const char *act, uint64_t seed) {
    int n;
    char *spec = big_spec(act, &n);
    al_model *m;
    REQUIRE_OK(al_model_from_spec(spec, seed, &m));
    CHECK(m->nnodes == n);
    free(spec);
    return m;
}

static al_model *big_model(uint64_t seed) { return act_model("relu", seed); }

/* max over outputs of |a - b| / max(1, |a|) */
static double max_rel(const float *a, const float *b, size_t k) {
    double d = 0;
    for (size_t i = 0; i < k; i++) d = fmax(d, fabs((double)a[i] - b[i]) / fmax(1.0, fabs((double)a[i])));
    return d;
}

static unsigned char *slurp(const char *p, size_t *n) {
    FILE *f = fopen(p, "rb");
    REQUIRE_OK(f ? AL_OK : AL_EIO);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)len + 1);
    REQUIRE_OK(fread(b, 1, (size_t)len, f) == (size_t)len ? AL_OK : AL_EIO);
    fclose(f);
    *n = (size_t)len;
    return b;
}

/* ---- build and spec ----------------------------------------------------------------- */

static void test_build(void) {
    al_model *m = big_model(1);
    CHECK(m->nnodes > 300);
    /* the canonical spec builds the same model again */
    al_model *m2;
    REQUIRE_OK(al_model_from_spec(al_model_spec(m), 1, &m2));
    CHECK(m2->nnodes == m->nnodes && strcmp(al_model_spec(m2), al_model_spec(m)) == 0);
    CHECK(m2->nweights == m->nweights && memcmp(m2->wblock, m->wblock, sizeof(float) * m->nweights) == 0);
    /* the adds read what the spec says */
    CHECK(m->nodes[5].cfg.type == AL_L_ADD && m->nodes[5].cfg.src == 1);
    CHECK(m->nodes[4 * BLOCKS + 1].cfg.type == AL_L_ADD && m->nodes[4 * BLOCKS + 1].cfg.src == 4 * BLOCKS - 3);
    al_model *c;
    REQUIRE_OK(al_model_clone(m, &c));
    CHECK(c->nnodes == m->nnodes && memcmp(c->wblock, m->wblock, sizeof(float) * m->nweights) == 0);
    al_model_free(c);
    al_model_free(m2);
    al_model_free(m);
}

/* ---- the memory plan ---------------------------------------------------------------- */

static void check_plans(al_model *m, int batch) {
    for (int naive = 0; naive < 2; naive++) {
        al_memplan p;
        REQUIRE_OK(al_memplan_build(m, batch, naive, &p));
        /* a slim plan (a frozen prefix that runs in chunks) leaves that
         * prefix's tensors to the chunk arena */
        CHECK(p.end == 2 * m->nnodes + 1 && p.nbuf <= 6 * m->nnodes + 5 && (p.slim > 0 || p.nbuf > m->nnodes));
        CHECK(!naive || p.slim == 0);
        al_test_slim_plan(m, &p);
        char why[256];
        int bad = al_memplan_check(&p, why, sizeof why);
        if (bad) fprintf(stderr, "plan of %d nodes (naive %d, freeze %d): %s\n", m->nnodes, naive, m->freeze, why);
        CHECK(!bad);
        CHECK(naive || (p.total >= p.live_peak && p.live_peak > 0));
        m->plan_naive = naive;
        CHECK(al_model_plan_bytes(m, batch) == p.total);
        al_model_release_plan(m); /* a plan for a larger batch would stay */
        REQUIRE_OK(al_model_plan(m, batch));
        const al_membuf *b = al_memplan_find(&p, AL_MB_ACT, m->nnodes - 1);
        CHECK(b && (char *)m->act[m->nnodes - 1] == m->plan_block + b->offset);
        b = al_memplan_find(&p, AL_MB_ACT, m->nnodes / 2);
        if (m->nnodes / 2 < p.slim && m->t_last_reader[m->nnodes / 2] < p.slim)
            CHECK(!b && !m->act[m->nnodes / 2] && m->plan_slim == p.slim); /* in the chunk arena */
        else
            CHECK(b && (char *)m->act[m->nnodes / 2] == m->plan_block + b->offset);
        al_model_release_plan(m);
        m->plan_naive = 0;
        al_memplan_free(&p);
    }
}

static void test_plan(void) {
    al_model *m = big_model(2);
    int n = m->nnodes;
    int freezes[] = {0, 2 + 4 * FREEZE_BLOCKS, n - 1};
    size_t prev = 0;
    for (int f = 0; f < 3; f++) {
        REQUIRE_OK(al_model_freeze(m, freezes[f]));
        check_plans(m, 4);
        size_t bytes = al_model_plan_bytes(m, 4);
        CHECK(bytes > 0 && (f == 0 || bytes < prev)); /* a longer frozen prefix needs less */
        prev = bytes;
    }
    REQUIRE_OK(al_model_freeze(m, 0));
    m->want_input_grad = 1;
    check_plans(m, 3);
    m->want_input_grad = 0;
    /* al_model_plan_bytes_at agrees with freezing */
    size_t at = al_model_plan_bytes_at(m, 4, freezes[1]);
    REQUIRE_OK(al_model_freeze(m, freezes[1]));
    CHECK(at == al_model_plan_bytes(m, 4));
    al_model_free(m);

    /* a 1000-node chain with residual adds (dense, relu, add) */
    size_t cap = 32 * 1100, o = 0;
    char *spec = malloc(cap);
    o += (size_t)snprintf(spec + o, cap - o, "input 6; dense 6");
    int k = 1;
    while (k + 3 <= 1000) {
        o += (size_t)snprintf(spec + o, cap - o, "; dense 6; relu; add %d", k - 1);
        k += 3;
    }
    REQUIRE_OK(al_model_from_spec(spec, 3, &m));
    CHECK(m->nnodes == k && k > 990);
    for (int f = 0; f < 2; f++) {
        REQUIRE_OK(al_model_freeze(m, f ? k / 2 : 0));
        check_plans(m, 2);
    }
    al_model_free(m);
    free(spec);
}

/* ---- training and gradients --------------------------------------------------------- */

static double epoch_loss[8];
static int record(void *user, const al_epoch_info *info, int final) {
    (void)user;
    if (final && info->epoch >= 1 && info->epoch <= 8) epoch_loss[info->epoch - 1] = info->loss;
    return 0;
}

static al_train_config config(void) {
    al_train_config c;
    al_train_config_default(&c);
    c.optim = AL_OPT_ADAM;
    c.lr = 0.002;
    c.batch = 16;
    c.epochs = 4;
    c.seed = 5;
    return c;
}

static void test_train(const al_dataset *d) {
    al_model *m = big_model(3);
    al_train_config c = config();
    c.progress = record;
    al_trainer *t;
    REQUIRE_OK(al_trainer_new(m, NULL, &c, &t));
    al_train_report r;
    REQUIRE_OK(al_trainer_run(t, d, NULL, &r));
    fprintf(stderr, "%d nodes: epoch losses %.4f %.4f %.4f %.4f\n", m->nnodes, epoch_loss[0], epoch_loss[1],
            epoch_loss[2], epoch_loss[3]);
    for (int e = 0; e < 4; e++) CHECK(isfinite(epoch_loss[e]));
    CHECK(epoch_loss[3] < 0.8 * epoch_loss[0]);
    al_trainer_free(t);
    al_model_free(m);
}

/* d(sum r * y)/d(w) of the first conv (node 0, below all 300 nodes) and of a
 * conv in the middle, by central differences. The same architecture with
 * tanh for relu and avgpool for maxpool: a relu network is piecewise linear
 * in its weights with thousands of kinks within any usable step, and max
 * pooling adds more. The batch norms and the
 * dropout are frozen (inference mode: a fixed affine map, the identity) and
 * each residual branch is scaled down (batch norm weight 0.1), so that 72
 * blocks stay a well-conditioned function of the deepest weights. */
static void test_gradcheck(void) {
    al_model *m = act_model("tanh", 4);
    for (int i = 0; i < m->nnodes; i++) {
        al_node *nd = &m->nodes[i];
        if (nd->cfg.type == AL_L_BATCHNORM)
            for (size_t c = 0; c < nd->params[0].n; c++) nd->params[0].w[c] = 0.1f;
        if (nd->cfg.type == AL_L_BATCHNORM || nd->cfg.type == AL_L_DROPOUT) nd->trainable = 0;
    }
    const int n = 2;
    float *x = al_test_rand_input(m, n, 7);
    size_t k = (size_t)n * al_shape_numel(&m->nodes[m->nnodes - 1].out);
    float *r = malloc(sizeof(float) * k);
    al_rng g;
    al_rng_seed(&g, 11, 1);
    for (size_t i = 0; i < k; i++) r[i] = al_rng_normal(&g);
    REQUIRE_OK(al_model_plan(m, n));
    const float *y;
    al_model_zero_grad(m);
    REQUIRE_OK(al_model_forward_from(m, NULL, 0, x, n, 1, &y));
    REQUIRE_OK(al_model_backward(m, NULL, x, r, n));
    gc_opts o = {n, 1, 2e-3, 1e-2, 1e-3, 40, 0, NULL};
    int bad = 0;
    int nodes[2] = {0, 2 + 4 * (BLOCKS / 2)};
    for (int q = 0; q < 2; q++) {
        al_param *p = &m->nodes[nodes[q]].params[0];
        float *gcopy = malloc(sizeof(float) * p->n);
        memcpy(gcopy, p->g, sizeof(float) * p->n);
        double gmax = 0;
        for (size_t i = 0; i < p->n; i++) gmax = fmax(gmax, fabs(gcopy[i]));
        CHECK(gmax > 0); /* the gradient reached it */
        char what[32];
        snprintf(what, sizeof what, "node %d weight", nodes[q]);
        bad += gc_compare(what, p->w, gcopy, p->n, m, x, r, n, &o);
        free(gcopy);
    }
    CHECK(bad == 0);
    free(r);
    free(x);
    al_model_free(m);
}

/* ---- files: model and checkpoint ---------------------------------------------------- */

static void test_save_load(void) {
    al_model *m = big_model(5);
    REQUIRE_OK(al_model_freeze(m, 2 + 4 * FREEZE_BLOCKS));
    REQUIRE_OK(al_model_set_meta(m, "test.note", "many nodes"));
    const char *a = path_in("a.gguf"), *b = path_in("b.gguf");
    REQUIRE_OK(al_model_save(m, a));
    al_model *l;
    REQUIRE_OK(al_model_load(a, &l));
    CHECK(l->nnodes == m->nnodes && l->freeze == m->freeze && !strcmp(al_model_spec(l), al_model_spec(m)));
    REQUIRE_OK(al_model_save(l, b));
    size_t na, nb;
    unsigned char *ba = slurp(a, &na), *bb = slurp(b, &nb);
    CHECK(na == nb && memcmp(ba, bb, na) == 0);
    float *x = al_test_rand_input(m, 5, 8);
    float *ya = al_test_predict(m, x, 5), *yb = al_test_predict(l, x, 5);
    CHECK(memcmp(ya, yb, sizeof(float) * 5 * 3) == 0);
    free(ya);
    free(yb);
    free(x);
    free(ba);
    free(bb);
    unlink(a);
    unlink(b);
    al_model_free(l);
    al_model_free(m);
}

static void test_checkpoint(const al_dataset *d) {
    al_train_config c = config();
    c.epochs = 2;
    /* uninterrupted */
    al_model *m = big_model(6);
    al_trainer *t;
    REQUIRE_OK(al_trainer_new(m, NULL, &c, &t));
    al_train_report rref, r;
    REQUIRE_OK(al_trainer_run(t, d, NULL, &rref));
    float *wref = malloc(sizeof(float) * m->nweights);
    memcpy(wref, m->wblock, sizeof(float) * m->nweights);
    size_t nw = m->nweights;
    al_trainer_free(t);
    al_model_free(m);
    /* 5 steps, a checkpoint, 2 more steps lost in a crash, then a fresh model
     * and trainer resume and finish */
    const char *ck = path_in("run.ckpt");
    m = big_model(6);
    REQUIRE_OK(al_trainer_new(m, NULL, &c, &t));
    int done = 0;
    REQUIRE_OK(al_trainer_run_slice(t, d, NULL, 5, 0.0, &done, &r));
    CHECK(!done);
    REQUIRE_OK(al_trainer_checkpoint(t, ck));
    REQUIRE_OK(al_trainer_run_slice(t, d, NULL, 2, 0.0, &done, &r));
    al_trainer_free(t);
    al_model_free(m);
    m = big_model(99); /* other weights: the checkpoint must supply them */
    REQUIRE_OK(al_trainer_new(m, NULL, &c, &t));
    REQUIRE_OK(al_trainer_resume(t, ck));
    REQUIRE_OK(al_trainer_run(t, d, NULL, &r));
    CHECK(m->nweights == nw && memcmp(m->wblock, wref, sizeof(float) * nw) == 0);
    CHECK(r.steps == rref.steps && r.final_loss == rref.final_loss);
    al_trainer_free(t);
    al_model_free(m);
    /* another freeze point is refused, naming it */
    m = big_model(6);
    REQUIRE_OK(al_model_freeze(m, 2 + 4 * FREEZE_BLOCKS));
    REQUIRE_OK(al_trainer_new(m, NULL, &c, &t));
    CHECK_STATUS(al_trainer_resume(t, ck), AL_EINVAL);
    CHECK(strstr(al_last_error(), "freeze point") != NULL);
    al_trainer_free(t);
    al_model_free(m);
    free(wref);
    unlink(ck);
}

/* ---- compile and compress ----------------------------------------------------------- */

static void test_compile(void) {
    al_model *m = big_model(7);
    al_test_randomize_bn(m, 7);
    const int K = 2 + 4 * FREEZE_BLOCKS;
    REQUIRE_OK(al_model_freeze(m, K));
    al_model *c;
    al_compile_report r;
    REQUIRE_OK(al_compile(m, K, NULL, &c, &r));
    /* each frozen block's conv + batchnorm + relu becomes one conv; the
     * frozen dropout goes; the relus after the dense layers fuse (trainable
     * too: fusion is exact for training) */
    CHECK(r.nodes_in == m->nnodes && r.folded_bn == FREEZE_BLOCKS && r.dropped == 1);
    CHECK(r.fused_act == FREEZE_BLOCKS + 1 + DENSE_BLOCKS);
    CHECK(r.nodes_out == m->nnodes - r.folded_bn - r.fused_act - r.dropped && c->nnodes == r.nodes_out);
    CHECK(r.freeze_out == K - 2 * FREEZE_BLOCKS - 1 && c->freeze == r.freeze_out);
    CHECK(r.map != NULL && r.map[K - 1] == r.freeze_out - 1 && r.map[m->nnodes - 1] == c->nnodes - 1);
    CHECK(r.map[1] == 0 && r.map[2] == 1 && r.map[3] == 1 && r.map[4] == 1 && r.map[5] == 2);
    for (int i = K; i < 2 + 4 * BLOCKS; i++) CHECK(r.map[i] == i - (K - r.freeze_out));
    al_compile_report_free(&r);
    al_compile_report_free(&r); /* twice is harmless */
    size_t stored, now;
    CHECK_OK(al_compile_check_plan(c, &stored, &now));
    CHECK(stored > 0 && stored == now);
    float *x = al_test_rand_input(m, 4, 9);
    float *ya = al_test_predict(m, x, 4), *yb = al_test_predict(c, x, 4);
    double d = max_rel(ya, yb, 4 * 3);
    fprintf(stderr, "compiled %d -> %d nodes: predictions differ by %.3g\n", m->nnodes, c->nnodes, d);
    CHECK(d <= 1e-4);
    free(ya);
    free(yb);
    free(x);
    al_model_free(c);
    al_model_free(m);
}

static void test_compress(void) {
    al_model *m = big_model(8);
    al_compress_plan p;
    REQUIRE_OK(al_compress_analyze(m, &p));
    int convs = 1 + BLOCKS, dense = 1 + DENSE_BLOCKS + 1;
    CHECK(p.nlayers == convs + dense);
    al_compress_policy pol = {AL_RANK_FIXED, 1e6, 1};
    REQUIRE_OK(al_compress_choose(&p, &pol));
    al_model *o;
    REQUIRE_OK(al_compress_apply(m, &p, &o));
    CHECK(o->nnodes == m->nnodes + p.nlayers && o->nnodes > 380);
    /* the adds still read the outputs they read before */
    for (int i = 0, j = 0; i < m->nnodes; i++, j++) {
        const al_layer_type t = m->nodes[i].cfg.type;
        if (t == AL_L_CONV2D || t == AL_L_DENSE) j++; /* the inserted factor */
        CHECK(o->nodes[j].cfg.type == t);
    }
    float *x = al_test_rand_input(m, 4, 10);
    float *ya = al_test_predict(m, x, 4), *yb = al_test_predict(o, x, 4);
    double d = max_rel(ya, yb, 4 * 3);
    fprintf(stderr, "compressed %d -> %d nodes at full rank: predictions differ by %.3g\n", m->nnodes, o->nnodes, d);
    CHECK(d <= 1e-3);
    check_plans(o, 2);
    free(ya);
    free(yb);
    free(x);
    al_compress_plan_free(&p);
    al_model_free(o);
    al_model_free(m);
}

/* ---- out of memory ------------------------------------------------------------------ */

/* What allocates per node, on a model of 86 nodes: build, plans, a training
 * step, compile (its report), compress, save and load, a checkpoint and its
 * resume, and an LM pass (the saved carry flags). */
static al_status oom_cycle(const al_dataset *d) {
    char spec[2048];
    size_t o = (size_t)snprintf(spec, sizeof spec, "input 1x8x8; conv 4 k=3 p=1");
    int in = 0, n = 1;
    for (int b = 0; b < 20; b++) {
        o += (size_t)snprintf(spec + o, sizeof spec - o, "; conv 4 k=3 p=1; batchnorm; relu; add %d", in);
        in = n + 3;
        n += 4;
    }
    snprintf(spec + o, sizeof spec - o, "; maxpool k=2; flatten; dense 8; relu; dense 3");
    al_model *m = NULL, *c = NULL, *z = NULL, *l = NULL, *lm = NULL;
    al_trainer *t = NULL;
    al_compile_report r = {0};
    al_compress_plan p = {0};
    int have_p = 0;
    al_status st = al_model_from_spec(spec, 1, &m);
    if (!st && al_model_plan_bytes_at(m, 4, 41) == 0) st = AL_ENOMEM;
    if (!st) st = al_model_freeze(m, 41);
    if (!st) st = al_compile(m, 41, NULL, &c, &r);
    if (!st && (have_p = 1)) st = al_compress_analyze(m, &p);
    al_compress_policy pol = {AL_RANK_FIXED, 2, 1};
    if (!st) st = al_compress_choose(&p, &pol);
    if (!st) st = al_compress_apply(m, &p, &z);
    if (!st) st = al_model_save(c, path_in("oom.gguf"));
    if (!st) st = al_model_load(path_in("oom.gguf"), &l);
    al_train_config tc = config();
    tc.epochs = 1;
    if (!st) st = al_trainer_new(m, NULL, &tc, &t);
    int done = 0;
    al_train_report rep;
    if (!st) st = al_trainer_run_slice(t, d, NULL, 2, 0.0, &done, &rep);
    if (!st) st = al_trainer_checkpoint(t, path_in("oom.ckpt"));
    if (!st) st = al_trainer_resume(t, path_in("oom.ckpt"));
    if (!st) st = al_model_from_spec("tokens 4; embedding 4 vocab=10; lstm 4; dense 10", 1, &lm);
    int32_t ids[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    al_lm_eval ev;
    if (!st) st = al_lm_evaluate(lm, NULL, ids, 9, NULL, &ev);
    al_trainer_free(t);
    if (have_p) al_compress_plan_free(&p);
    al_compile_report_free(&r);
    al_model_free(lm);
    al_model_free(l);
    al_model_free(z);
    al_model_free(c);
    al_model_free(m);
    unlink(path_in("oom.gguf"));
    unlink(path_in("oom.ckpt"));
    return st;
}

/* Every allocation of the cycle fails in turn: AL_ENOMEM with a message that
 * says so, no crash, no leak (ASan + LeakSanitizer in make test). */
static void test_oom(const al_dataset *d) {
    al_alloc_fail_at(0);
    REQUIRE_OK(oom_cycle(d));
    al_alloc_fail_at(0);
    REQUIRE_OK(oom_cycle(d));
    long total = al_alloc_count();
    CHECK(total > 100);
    fprintf(stderr, "out of memory: each of %ld allocations fails in turn\n", total);
    int bad = 0;
    for (long k = 1; k <= total + 1; k++) {
        al_alloc_fail_at(k);
        al_status st = oom_cycle(d);
        al_alloc_fail_at(0);
        if (k > total ? st != AL_OK : st != AL_ENOMEM || !strstr(al_last_error(), "memory")) {
            if (bad++ < 5)
                fprintf(stderr, "allocation %ld of %ld failing: %s (%s)\n", k, total, al_status_name(st), al_last_error());
        }
    }
    CHECK(bad == 0);
}

/* ---- limits ------------------------------------------------------------------------- */

static void test_limits(void) {
    /* AL_MAX_NODES relus build from a spec; one more is refused */
    size_t cap = 16 + 6 * ((size_t)AL_MAX_NODES + 1);
    char *spec = malloc(cap);
    size_t o = (size_t)snprintf(spec, cap, "input 4");
    for (int i = 0; i < AL_MAX_NODES; i++) o += (size_t)snprintf(spec + o, cap - o, "; relu");
    al_model *m;
    REQUIRE_OK(al_model_from_spec(spec, 1, &m));
    CHECK(m->nnodes == AL_MAX_NODES);
    al_model_free(m);
    snprintf(spec + o, cap - o, "; relu");
    CHECK_STATUS(al_model_from_spec(spec, 1, &m), AL_ERANGE);
    CHECK(strstr(al_last_error(), "more than 65536 layers") != NULL);
    free(spec);
    al_layer_cfg l[2];
    memset(l, 0, sizeof l);
    l[0].type = AL_L_RELU;
    al_shape in = {1, {4, 0, 0}};
    CHECK_STATUS(al_model_build(&in, 0, l, AL_MAX_NODES + 1, &m), AL_ERANGE);
    CHECK(strstr(al_last_error(), "1 to 65536 layers") != NULL);
    /* a spec longer than 64 MiB */
    size_t big = ((size_t)64 << 20) + 16;
    spec = malloc(big + 1);
    memset(spec, ' ', big);
    memcpy(spec, "input 4; relu", 13);
    spec[big] = '\0';
    CHECK_STATUS(al_model_from_spec(spec, 1, &m), AL_ERANGE);
    CHECK(strstr(al_last_error(), "longer than 64 MiB") != NULL);
    free(spec);

    /* a model file claiming 1000 layers with a handful of keys */
    gguf_writer *w;
    REQUIRE_OK(gguf_writer_new(0, &w));
    gguf_set_str(w, "general.architecture", "autlearn");
    gguf_set_u32(w, "autlearn.format_version", 1);
    gguf_set_bool(w, "autlearn.input.tokens", 0);
    int32_t shape[1] = {4};
    gguf_set_arr(w, "autlearn.input.shape", GGUF_T_I32, shape, 1);
    gguf_set_u32(w, "autlearn.layer_count", 1000);
    gguf_set_u32(w, "autlearn.first_trainable", 0);
    const char *f = path_in("claims.gguf");
    REQUIRE_OK(gguf_writer_save(w, f));
    gguf_writer_free(w);
    CHECK_STATUS(al_model_load(f, &m), AL_EFORMAT);
    CHECK(strstr(al_last_error(), "layer count 1000 exceeds the file's") != NULL);
    unlink(f);
}

int main(void) {
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/al-nodes.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    REQUIRE_OK(mkdtemp(dir) ? AL_OK : AL_EIO);
    al_dataset *d = al_test_images(96, 1);
    test_build();
    test_plan();
    test_train(d);
    test_gradcheck();
    test_save_load();
    test_checkpoint(d);
    test_compile();
    test_compress();
    test_oom(d);
    test_limits();
    al_dataset_free(d);
    rmdir(dir);
    TEST_END("test_many_nodes");
}
