/* The tensor operators (issue 14): silu, gelu, clip, scale, softmax over
 * any axis, layernorm, reducemean/reducesum, transpose, reshape, squeeze,
 * unsqueeze, identity, slice, broadcasting add/sub/mul/div, concat and
 * matmul. Gradients by finite differences on odd shapes (4-dim shapes
 * included); forward values against plain loops written here; refusals of
 * bad options and shapes; spec and model-file round trips of every option;
 * thread-count independence; and a multi-head self-attention block written
 * in the spec language from these operators: its gradients check, it
 * matches a plain implementation, and it trains. (PyTorch goldens of the
 * operators and of the block: tests/test_golden.c.) */
#include "al_test.h"

#include <unistd.h>

static int gradchecks(const char *const *specs, size_t n, const gc_opts *o) {
    int fails = 0;
    for (size_t i = 0; i < n; i++) {
        int f = gradcheck_spec(specs[i], o);
        if (f) fprintf(stderr, "gradcheck failed: %s\n", specs[i]);
        fails += f != 0;
    }
    return fails;
}

#define NSPECS(a) (sizeof a / sizeof a[0])

static void test_gradients(void) {
    gc_opts o = gc_defaults();
    static const char *const unary[] = {
        "input 3x5; silu",
        "input 2x3x5; dense 4; silu",
        "input 7; gelu",
        "input 3x5; gelu approximate=tanh",
        "input 3x5; clip min=-0.5 max=0.7",
        "input 3x5; scale -0.7 shift=0.2",
        "input 3x5; softmax",
        "input 3x4x5; softmax axis=1",
        "input 3x4x5; softmax axis=0",
        "input 2x3x10; reshape shape=2,3,2,5; softmax axis=2",
        "input 3x5; layernorm",
        "input 2x3x7; dense 7; layernorm eps=0.001",
        "input 3x4x5; reducemean axes=1",
        "input 3x4x5; reducesum axes=0,2 keepdims=1",
        "input 3x4x5; reducemean",
        "input 2x3x10; reshape shape=2,3,2,5; reducesum axes=-1,1",
        "input 2x3x5; transpose perm=2,0,1",
        "input 2x3x10; reshape shape=2,3,2,5; transpose perm=3,1,0,2; dense 3",
        "input 2x3x5; reshape shape=5,-1; dense 2",
        "input 3x1x5; squeeze; dense 2",
        "input 1x3x1; squeeze axes=-1",
        "input 3x5; unsqueeze axes=0,-1; dense 2",
        "input 3x5; identity; dense 2",
        "input 3x7x2; slice axis=1 start=1 end=-1 step=2",
        "input 9; slice start=-4",
        "input 2x5x3; slice axis=-1 start=1; dense 2",
        /* learned tensors: a ViT's position embedding and class token(s) */
        "input 3x5; addp; dense 2",
        "input 2x3x5; addp; tanh",
        "input 3x5; prepend axis=0; dense 2",
        "input 2x3x5; prepend 2 axis=1; tanh",
        "input 2x3x5; prepend axis=-1; addp; dense 3",
    };
    CHECK(gradchecks(unary, NSPECS(unary), &o) == 0);
    static const char *const binary[] = {
        "input 3x5; dense 5; sub -1",
        "input 3x5; dense 1; add -1",
        "input 3x5; reducemean axes=0; sub -1",
        "input 2x3x4; reshape shape=2,1,3,4; add -1",
        "input 3x5; sigmoid; scale 1 shift=0.5; dense 5 in=input; div 1",
        "input 3x5; reducemean axes=1 keepdims=1; sigmoid; scale 1 shift=0.5; dense 5 in=input; div 2",
        "input 3x5; dense 1; mul -1 bcast=1",
        "input 2x3x5; reducemean axes=0; mul -1 bcast=1",
        "input 3x5; dense 4; concat -1 axis=1",
        "input 2x3x5; dense 5; concat -1 axis=0",
        "input 2x3x5; dense 5; concat -1 axis=-2; dense 2",
        "input 4x3; dense 4; matmul -1",
        "input 3x3; matmul -1",
        "input 2x4x3; reducemean axes=0; dense 4; matmul -1",
        "input 2x4x3; reducemean axes=0; transpose perm=1,0; dense 5; matmul 2 in=input",
        "input 2x3x4; reshape shape=2,1,3,4; transpose perm=0,1,3,2; dense 5; matmul 2 in=input", /* [2,3,4]@[2,1,4,5]: [2,2,3,5] */
    };
    CHECK(gradchecks(binary, NSPECS(binary), &o) == 0);
}

/* ---- forward values against plain loops ---------------------------------------- */

static al_model *build(const char *spec, int maxbatch) {
    al_model *m;
    REQUIRE_OK(al_model_from_spec(spec, 3, &m));
    m->want_input_grad = 1;
    REQUIRE_OK(al_model_plan(m, maxbatch));
    return m;
}

static float *randn(size_t n, uint64_t seed) {
    float *x = malloc(sizeof(float) * n);
    al_rng r;
    al_rng_seed(&r, seed, 5);
    for (size_t i = 0; i < n; i++) x[i] = al_rng_normal(&r);
    return x;
}

static void test_values(void) {
    const float *y;
    /* transpose [2,3,4] by (2,0,1): y[k][i][j] = x[i][j][k] */
    al_model *m = build("input 2x3x4; transpose perm=2,0,1", 2);
    CHECK(m->nodes[0].out.ndim == 3 && m->nodes[0].out.d[0] == 4 && m->nodes[0].out.d[1] == 2 &&
          m->nodes[0].out.d[2] == 3);
    float *x = randn(48, 1);
    REQUIRE_OK(al_model_forward_from(m, NULL, 0, x, 2, 0, &y));
    int bad = 0;
    for (int s = 0; s < 2; s++)
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 3; j++)
                for (int k = 0; k < 4; k++) bad += y[s * 24 + k * 6 + i * 3 + j] != x[s * 24 + i * 12 + j * 4 + k];
    CHECK(bad == 0);
    al_model_free(m);

    /* reducesum over axes 0 and 2 of [2,3,4]: [3] */
    m = build("input 2x3x4; reducesum axes=0,-1", 2);
    CHECK(m->nodes[0].out.ndim == 1 && m->nodes[0].out.d[0] == 3);
    REQUIRE_OK(al_model_forward_from(m, NULL, 0, x, 2, 0, &y));
    for (int s = 0; s < 2; s++)
        for (int j = 0; j < 3; j++) {
            double t = 0;
            for (int i = 0; i < 2; i++)
                for (int k = 0; k < 4; k++) t += x[s * 24 + i * 12 + j * 4 + k];
            CHECK_NEAR(y[s * 3 + j], t, 1e-5);
        }
    al_model_free(m);

    /* slice of axis 2 (size 4) from -3 by 2: elements 1 and 3 */
    m = build("input 2x3x4; slice axis=2 start=-3 step=2", 2);
    CHECK(m->nodes[0].out.d[2] == 2);
    REQUIRE_OK(al_model_forward_from(m, NULL, 0, x, 2, 0, &y));
    bad = 0;
    for (int r = 0; r < 12; r++) bad += y[2 * r] != x[4 * r + 1] || y[2 * r + 1] != x[4 * r + 3];
    CHECK(bad == 0);
    al_model_free(m);

    /* softmax over axis 0 of [2,3,4]: each (j,k) column sums to 1, ratios are exp differences */
    m = build("input 2x3x4; softmax axis=0", 2);
    REQUIRE_OK(al_model_forward_from(m, NULL, 0, x, 2, 0, &y));
    for (int s = 0; s < 2; s++)
        for (int c = 0; c < 12; c++) {
            float a = y[s * 24 + c], b = y[s * 24 + 12 + c];
            CHECK_NEAR(a + b, 1.0, 1e-6);
            CHECK_NEAR(a, 1.0 / (1.0 + exp((double)x[s * 24 + 12 + c] - x[s * 24 + c])), 1e-6);
        }
    al_model_free(m);

    /* layernorm (weight 1, bias 0): each row has mean 0 and variance 1/(1+eps/var) */
    m = build("input 6x8; layernorm", 2);
    float *x96 = randn(96, 2);
    REQUIRE_OK(al_model_forward_from(m, NULL, 0, x96, 2, 0, &y));
    for (int r = 0; r < 12; r++) {
        double s1 = 0, s2 = 0, xm = 0, xv = 0;
        for (int j = 0; j < 8; j++) xm += x96[r * 8 + j] / 8.0;
        for (int j = 0; j < 8; j++) xv += (x96[r * 8 + j] - xm) * (x96[r * 8 + j] - xm) / 8.0;
        for (int j = 0; j < 8; j++) {
            s1 += y[r * 8 + j];
            s2 += (double)y[r * 8 + j] * y[r * 8 + j];
        }
        CHECK_NEAR(s1 / 8, 0.0, 1e-6);
        CHECK_NEAR(s2 / 8, xv / (xv + 1e-5), 1e-5);
    }
    al_model_free(m);

    /* broadcasting: [3,1] (dense 1) op [3,5] (the input), and mul bcast=1 with a rank-1 operand
     * aligned at the last axis ([5] * [3,5]) where the squeeze-excite scale would align at the first */
    const char *ops[] = {"add", "sub", "div", "mul"};
    for (int o = 0; o < 4; o++) {
        char spec[128];
        snprintf(spec, sizeof spec, "input 3x5; dense 1; sigmoid; %s -1%s", ops[o], o == 3 ? " bcast=1" : "");
        m = build(spec, 2);
        float *x15 = randn(30, 3 + (uint64_t)o);
        REQUIRE_OK(al_model_forward_from(m, NULL, 0, x15, 2, 0, &y));
        const float *a = m->act[1];
        int off = 0;
        for (int s = 0; s < 2; s++)
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 5; j++) {
                    float av = a[s * 3 + i], bv = x15[s * 15 + i * 5 + j];
                    float want = o == 0 ? av + bv : o == 1 ? av - bv : o == 2 ? av / bv : av * bv;
                    off += y[s * 15 + i * 5 + j] != want;
                }
        CHECK(off == 0);
        al_model_free(m);
        free(x15);
    }
    m = build("input 3x5; reducemean axes=0; mul -1 bcast=1", 1);
    float *x15 = randn(15, 9);
    REQUIRE_OK(al_model_forward_from(m, NULL, 0, x15, 1, 0, &y));
    bad = 0;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 5; j++) bad += y[i * 5 + j] != m->act[0][j] * x15[i * 5 + j];
    CHECK(bad == 0);
    al_model_free(m);
    free(x15);

    /* concat along axis 1 of [3,4] and [3,5] */
    m = build("input 3x5; dense 4; concat -1 axis=1", 2);
    float *x30 = randn(30, 4);
    REQUIRE_OK(al_model_forward_from(m, NULL, 0, x30, 2, 0, &y));
    bad = 0;
    for (int s = 0; s < 2; s++)
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 9; j++)
                bad += y[s * 27 + i * 9 + j] != (j < 4 ? m->act[0][s * 12 + i * 4 + j] : x30[s * 15 + i * 5 + j - 4]);
    CHECK(bad == 0);
    al_model_free(m);
    free(x30);

    /* matmul with a stretched batch: [4,4] @ [2,4,3] */
    m = build("input 2x4x3; reducemean axes=0; dense 4; matmul -1", 2);
    CHECK(m->nodes[2].out.ndim == 3 && m->nodes[2].out.d[0] == 2 && m->nodes[2].out.d[2] == 3);
    CHECK(al_model_macs(m) > 2 * 4 * 4 * 3);
    REQUIRE_OK(al_model_forward_from(m, NULL, 0, x, 2, 0, &y));
    for (int s = 0; s < 2; s++)
        for (int b = 0; b < 2; b++)
            for (int i = 0; i < 4; i++)
                for (int j = 0; j < 3; j++) {
                    double t = 0;
                    for (int k = 0; k < 4; k++) t += (double)m->act[1][s * 16 + i * 4 + k] * x[s * 24 + b * 12 + k * 3 + j];
                    CHECK_NEAR(y[s * 24 + b * 12 + i * 3 + j], t, 1e-5);
                }
    al_model_free(m);

    /* gelu and silu at a few points */
    m = build("input 4; gelu", 1);
    const float gx[4] = {-3.0f, -0.5f, 0.0f, 2.0f};
    REQUIRE_OK(al_model_forward_from(m, NULL, 0, gx, 1, 0, &y));
    for (int i = 0; i < 4; i++) CHECK_NEAR(y[i], 0.5 * gx[i] * (1 + erf(gx[i] / sqrt(2.0))), 1e-6);
    al_model_free(m);
    m = build("input 4; gelu approximate=tanh", 1);
    REQUIRE_OK(al_model_forward_from(m, NULL, 0, gx, 1, 0, &y));
    for (int i = 0; i < 4; i++)
        CHECK_NEAR(y[i], 0.5 * gx[i] * (1 + tanh(sqrt(2 / 3.14159265358979323846) * (gx[i] + 0.044715 * pow(gx[i], 3)))), 1e-6);
    al_model_free(m);
    m = build("input 4; silu", 1);
    REQUIRE_OK(al_model_forward_from(m, NULL, 0, gx, 1, 0, &y));
    for (int i = 0; i < 4; i++) CHECK_NEAR(y[i], gx[i] / (1 + exp(-gx[i])), 1e-6);
    al_model_free(m);
    m = build("input 4; clip min=-1 max=0.25", 1);
    REQUIRE_OK(al_model_forward_from(m, NULL, 0, gx, 1, 0, &y));
    CHECK(y[0] == -1.0f && y[1] == -0.5f && y[2] == 0.0f && y[3] == 0.25f);
    al_model_free(m);
    free(x);
    free(x96);
}

/* ---- refusals ------------------------------------------------------------------- */

static void test_errors(void) {
    static const struct {
        const char *spec;
        al_status st;
    } bad[] = {
        {"input 3x5; softmax axis=2", AL_ESHAPE},
        {"input 3x5; softmax axis=9", AL_EINVAL},
        {"input 3x5; reducemean axes=2", AL_ESHAPE},
        {"input 3x5; reducemean axes=1,1", AL_EINVAL},
        {"input 3x5; reducemean keepdims=2", AL_EINVAL},
        {"input 3x5; transpose perm=0,0", AL_EINVAL},
        {"input 3x5; transpose perm=1,0,2", AL_ESHAPE},
        {"input 3x5; transpose", AL_EINVAL},
        {"input 3x5; reshape shape=4,-1", AL_ESHAPE},
        {"input 3x5; reshape shape=-1,-1", AL_EINVAL},
        {"input 3x5; reshape shape=1,1,1,1,15", AL_EINVAL},
        {"input 3x5; reshape shape=0,15", AL_EINVAL},
        {"input 3x5; reshape shape=16777216,16777216,16777216,16777216", AL_ESHAPE},
        {"input 3x5; squeeze", AL_OK}, /* no axis of size 1: a copy, as ONNX */
        {"input 3x5; squeeze axes=0", AL_ESHAPE},
        {"input 1x1; squeeze", AL_ESHAPE},
        {"input 2x3x5; unsqueeze axes=0,1", AL_ESHAPE},
        {"input 3x5; unsqueeze", AL_EINVAL},
        {"input 3x5; slice axis=1 start=5", AL_ESHAPE},
        {"input 3x5; slice axis=1 start=3 end=2", AL_ESHAPE},
        {"input 3x5; slice step=0", AL_EINVAL},
        {"input 3x5; clip min=1 max=0", AL_EINVAL},
        {"input 3x5; gelu approximate=fast", AL_EINVAL},
        {"input 3x5; dense 4; add -1", AL_ESHAPE},
        {"input 3x5; dense 4; sub -1", AL_ESHAPE},
        {"input 3x5; dense 4; div -1", AL_ESHAPE},
        {"input 3x5; dense 4; mul -1 bcast=1", AL_ESHAPE},
        {"input 3x5; sub", AL_EINVAL},
        {"input 3x5; dense 4; concat -1 axis=0", AL_ESHAPE},
        {"input 3x5; dense 4; concat -1 axis=2", AL_ESHAPE},
        {"input 3x5; flatten; concat -1", AL_ESHAPE},
        {"input 3x5; dense 4; matmul -1", AL_ESHAPE},
        {"input 5; matmul -1", AL_ESHAPE},
        {"input 2x3x3; reducemean axes=0; reshape shape=1,3,3; matmul 1 in=input", AL_OK},
        {"input 2x3x3; reshape shape=1,2,3,3; matmul -1", AL_OK},
        {"input 2x3x3; reshape shape=2,1,3,3; dense 4; transpose perm=0,1,3,2; matmul 0", AL_OK},
        {"input 2x3x3; reshape shape=3,2,3; matmul -1", AL_ESHAPE},
        {"input 2x3x3; dense 5; matmul 7", AL_EINVAL},
        {"input 2x3x3; layernorm eps=0", AL_EINVAL},
    };
    for (size_t i = 0; i < NSPECS(bad); i++) {
        al_model *m = NULL;
        al_status st = al_model_from_spec(bad[i].spec, 1, &m);
        if (st != bad[i].st) fprintf(stderr, "%s: got %d (%s), want %d\n", bad[i].spec, st, al_last_error(), bad[i].st);
        CHECK(st == bad[i].st);
        al_model_free(m);
    }
}

/* ---- spec and file round trips ---------------------------------------------------- */

#define ATTN_SPEC                                                                                               \
    "input 5x8; "                                                                                               \
    "q: dense 8; k: dense 8 in=input; v: dense 8 in=input; "                                                    \
    "qh: reshape shape=5,2,4 in=q; qt: transpose perm=1,0,2; "                                                  \
    "kh: reshape shape=5,2,4 in=k; kt: transpose perm=1,2,0; "                                                  \
    "vh: reshape shape=5,2,4 in=v; vt: transpose perm=1,0,2; "                                                  \
    "s: matmul kt in=qt; ss: scale 0.5; p: softmax axis=-1; "                                                   \
    "o: matmul vt in=p; ot: transpose perm=1,0,2; oc: reshape shape=5,8; "                                      \
    "proj: dense 8; res: add input; ln: layernorm"

static void test_round_trips(void) {
    static const char *const specs[] = {
        "input 3x5; silu; gelu; gelu approximate=tanh; clip min=-0.5 max=2; scale -0.25 shift=1.5; identity",
        "input 3x4x5; softmax axis=1; layernorm eps=0.001; reducemean axes=0,-1 keepdims=1; squeeze axes=2; "
        "unsqueeze axes=0,-1; reducesum axes=1; squeeze",
        "input 2x3x10; reshape shape=2,3,2,-1; transpose perm=3,1,0,2; slice axis=-2 start=1 end=3 step=1; "
        "slice axis=0 start=-4 end=-1 step=2",
        "input 3x5; dense 5; sub -1; div 0; mul -1 bcast=1; mul 0; add 1; concat -1 axis=-1; dense 3; matmul 7",
        "input 3x5; clip",
        "input 2x3x5; prepend 2 axis=1; addp; prepend axis=-1",
        ATTN_SPEC,
    };
    char path[] = "/tmp/al-tensor-ops.XXXXXX";
    int fd = mkstemp(path);
    REQUIRE_OK(fd >= 0 ? AL_OK : AL_EIO);
    close(fd);
    for (size_t i = 0; i < NSPECS(specs); i++) {
        al_model *m, *m2, *l;
        REQUIRE_OK(al_model_from_spec(specs[i], 5, &m));
        REQUIRE_OK(al_model_from_spec(al_model_spec(m), 5, &m2));
        CHECK(strcmp(al_model_spec(m), al_model_spec(m2)) == 0);
        CHECK(memcmp(m->nodes, m2->nodes, 0) == 0);
        for (int j = 0; j < m->nnodes; j++) CHECK(memcmp(&m->nodes[j].cfg, &m2->nodes[j].cfg, sizeof(al_layer_cfg)) == 0);
        REQUIRE_OK(al_model_save(m, path));
        REQUIRE_OK(al_model_load(path, &l));
        CHECK(strcmp(al_model_spec(m), al_model_spec(l)) == 0);
        for (int j = 0; j < m->nnodes; j++) {
            al_layer_cfg a = m->nodes[j].cfg, b = l->nodes[j].cfg;
            CHECK(memcmp(&a, &b, sizeof a) == 0);
        }
        REQUIRE_OK(al_model_plan(m, 2));
        REQUIRE_OK(al_model_plan(l, 2));
        size_t nin = 2 * al_shape_numel(&m->in), nout = 2 * al_shape_numel(&m->nodes[m->nnodes - 1].out);
        float *x = randn(nin, 11), *ya = malloc(sizeof(float) * nout);
        const float *y;
        REQUIRE_OK(al_model_forward_from(m, NULL, 0, x, 2, 0, &y));
        memcpy(ya, y, sizeof(float) * nout);
        REQUIRE_OK(al_model_forward_from(l, NULL, 0, x, 2, 0, &y));
        CHECK(memcmp(ya, y, sizeof(float) * nout) == 0);
        free(x);
        free(ya);
        al_model_free(m);
        al_model_free(m2);
        al_model_free(l);
    }
    unlink(path);
}

/* ---- threads ---------------------------------------------------------------------- */

/* Large enough that the layers split their loops over the pool: outputs and
 * gradients equal bit for bit with 1 and 3 threads. */
static void test_threads(void) {
    static const char *const specs[] = {
        "input 16x32x64; gelu; softmax axis=1; layernorm; transpose perm=2,0,1; reducemean axes=1; dense 8",
        "input 16x32x64; dense 64; sub -1; reducemean axes=0 keepdims=1; mul -1 bcast=1; concat -1 axis=0; "
        "slice axis=2 start=3 step=2; silu; dense 8",
        "input 16x32x64; addp; prepend 3 axis=1; addp; dense 8",
    };
    al_pool *pool;
    REQUIRE_OK(al_pool_new(3, &pool));
    for (size_t s = 0; s < NSPECS(specs); s++) {
        float *out[2], *g[2], *dx[2];
        size_t nin = 0, nout = 0, ng = 0;
        for (int t = 0; t < 2; t++) {
            al_model *m = build(specs[s], 4);
            nin = 4 * al_shape_numel(&m->in);
            nout = 4 * al_shape_numel(&m->nodes[m->nnodes - 1].out);
            float *x = randn(nin, 21), *dl = randn(nout, 22);
            const float *y;
            REQUIRE_OK(al_model_forward_from(m, t ? pool : NULL, 0, x, 4, 1, &y));
            out[t] = malloc(sizeof(float) * nout);
            memcpy(out[t], y, sizeof(float) * nout);
            al_model_zero_grad(m);
            REQUIRE_OK(al_model_backward(m, t ? pool : NULL, x, dl, 4));
            int w = 0; /* the first node with weights: layernorm, dense */
            while (m->nodes[w].nparams == 0) w++;
            const al_param *p = &m->nodes[w].params[0];
            ng = p->n;
            g[t] = malloc(sizeof(float) * ng);
            memcpy(g[t], p->g, sizeof(float) * ng);
            dx[t] = malloc(sizeof(float) * nin);
            memcpy(dx[t], m->dinput, sizeof(float) * nin);
            free(x);
            free(dl);
            al_model_free(m);
        }
        CHECK(memcmp(out[0], out[1], sizeof(float) * nout) == 0);
        CHECK(memcmp(g[0], g[1], sizeof(float) * ng) == 0);
        CHECK(memcmp(dx[0], dx[1], sizeof(float) * nin) == 0);
        for (int t = 0; t < 2; t++) {
            free(out[t]);
            free(g[t]);
            free(dx[t]);
        }
    }
    al_pool_free(pool);
}

/* ---- multi-head self-attention ------------------------------------------------------ */

/* The block by plain loops from the model's own weights: x [T,E] per
 * sample, h = 2 heads of d = 4. */
static void attention_ref(const al_model *m, const float *x, float *out) {
    enum { T = 5, E = 8, H = 2, D = 4 };
    float q[T][E], k[T][E], v[T][E], o[T][E], pr[T][E], r[T][E];
    const float *W[3] = {m->nodes[0].params[0].w, m->nodes[1].params[0].w, m->nodes[2].params[0].w};
    const float *B[3] = {m->nodes[0].params[1].w, m->nodes[1].params[1].w, m->nodes[2].params[1].w};
    float (*qkv[3])[E] = {q, k, v};
    for (int w = 0; w < 3; w++)
        for (int t = 0; t < T; t++)
            for (int j = 0; j < E; j++) {
                double s = B[w][j];
                for (int i = 0; i < E; i++) s += (double)W[w][j * E + i] * x[t * E + i];
                qkv[w][t][j] = (float)s;
            }
    for (int h = 0; h < H; h++)
        for (int t = 0; t < T; t++) {
            double sc[T], mx = -1e30, sum = 0;
            for (int u = 0; u < T; u++) {
                double s = 0;
                for (int c = 0; c < D; c++) s += (double)q[t][h * D + c] * k[u][h * D + c];
                sc[u] = s / sqrt((double)D);
                if (sc[u] > mx) mx = sc[u];
            }
            for (int u = 0; u < T; u++) sum += sc[u] = exp(sc[u] - mx);
            for (int c = 0; c < D; c++) {
                double s = 0;
                for (int u = 0; u < T; u++) s += sc[u] / sum * v[u][h * D + c];
                o[t][h * D + c] = (float)s;
            }
        }
    int P = 15; /* proj: the dense after the reshape back */
    const float *Wp = m->nodes[P].params[0].w, *Bp = m->nodes[P].params[1].w;
    for (int t = 0; t < T; t++)
        for (int j = 0; j < E; j++) {
            double s = Bp[j];
            for (int i = 0; i < E; i++) s += (double)Wp[j * E + i] * o[t][i];
            pr[t][j] = (float)s;
            r[t][j] = pr[t][j] + x[t * E + j];
        }
    const float *g = m->nodes[P + 2].params[0].w, *b = m->nodes[P + 2].params[1].w;
    for (int t = 0; t < T; t++) {
        double mean = 0, var = 0;
        for (int j = 0; j < E; j++) mean += r[t][j] / (double)E;
        for (int j = 0; j < E; j++) var += (r[t][j] - mean) * (r[t][j] - mean) / (double)E;
        for (int j = 0; j < E; j++) out[t * E + j] = (float)((r[t][j] - mean) / sqrt(var + 1e-5) * g[j] + b[j]);
    }
}

static void test_attention(void) {
    al_model *m;
    REQUIRE_OK(al_model_from_spec(ATTN_SPEC, 8, &m));
    CHECK(m->nnodes == 18);
    CHECK(m->nodes[15].cfg.type == AL_L_DENSE && m->nodes[17].cfg.type == AL_L_LAYERNORM);
    CHECK(m->nodes[9].out.ndim == 3 && m->nodes[9].out.d[0] == 2 && m->nodes[9].out.d[1] == 5 &&
          m->nodes[9].out.d[2] == 5); /* the scores [h, T, T] */
    /* layernorm with random affine weights, so the reference sees them */
    al_rng r;
    al_rng_seed(&r, 8, 1);
    for (int j = 0; j < 8; j++) {
        m->nodes[17].params[0].w[j] = 1.0f + 0.3f * al_rng_normal(&r);
        m->nodes[17].params[1].w[j] = 0.3f * al_rng_normal(&r);
    }
    REQUIRE_OK(al_model_plan(m, 3));
    float *x = randn(3 * 40, 31), ref[40];
    const float *y;
    REQUIRE_OK(al_model_forward_from(m, NULL, 0, x, 3, 0, &y));
    double err = 0;
    for (int s = 0; s < 3; s++) {
        attention_ref(m, x + 40 * s, ref);
        for (int i = 0; i < 40; i++) err = fmax(err, fabs(ref[i] - y[40 * s + i]));
    }
    CHECK(err < 1e-5);
    al_model_free(m);

    /* gradients of every weight and the input */
    gc_opts o = gc_defaults();
    o.max_checks = 40;
    CHECK(gradcheck_spec(ATTN_SPEC, &o) == 0);

    /* it trains: plain SGD on a regression target (y* = the reversed sequence of x's first
     * features) lowers the squared error at least threefold */
    REQUIRE_OK(al_model_from_spec(ATTN_SPEC "; dense 3", 9, &m));
    enum { N = 16 };
    REQUIRE_OK(al_model_plan(m, N));
    float *xs = randn(N * 40, 41), tgt[N * 15], dl[N * 15];
    for (int s = 0; s < N; s++)
        for (int t = 0; t < 5; t++)
            for (int c = 0; c < 3; c++) tgt[s * 15 + t * 3 + c] = xs[s * 40 + (4 - t) * 8 + c];
    double first = 0, last = 0;
    for (int it = 0; it < 300; it++) {
        REQUIRE_OK(al_model_forward_from(m, NULL, 0, xs, N, 1, &y));
        double loss = 0;
        for (int i = 0; i < N * 15; i++) {
            double d = y[i] - tgt[i];
            loss += d * d / (N * 15);
            dl[i] = (float)(2 * d / (N * 15));
        }
        if (it == 0) first = loss;
        last = loss;
        al_model_zero_grad(m);
        REQUIRE_OK(al_model_backward(m, NULL, xs, dl, N));
        for (int i = 0; i < m->nnodes; i++)
            for (int p = 0; p < m->nodes[i].nparams; p++) {
                al_param *pr = &m->nodes[i].params[p];
                for (size_t j = 0; j < pr->n; j++) pr->w[j] -= 0.3f * pr->g[j];
            }
    }
    fprintf(stderr, "attention: loss %.4f -> %.4f\n", first, last);
    CHECK(last < first / 3);
    free(xs);
    free(x);
    al_model_free(m);
}

/* The block behind an input projection (so that no node past a freeze point
 * reads the model input): from every freeze point the suffix run from the
 * packed frozen frontier (several tensors: x, q, k, v, the heads...) gives
 * the full forward's output bit for bit. */
static void test_attention_frontier(void) {
    const char *spec = "input 5x8; x: dense 8; q: dense 8; k: dense 8 in=x; v: dense 8 in=x; "
                       "qh: reshape shape=5,2,4 in=q; qt: transpose perm=1,0,2; kh: reshape shape=5,2,4 in=k; "
                       "kt: transpose perm=1,2,0; vh: reshape shape=5,2,4 in=v; vt: transpose perm=1,0,2; "
                       "s: matmul kt in=qt; ss: scale 0.5; p: softmax; o: matmul vt in=p; "
                       "ot: transpose perm=1,0,2; oc: reshape shape=5,8; proj: dense 8; res: add x; ln: layernorm";
    al_model *m = build(spec, 3);
    const int n = 3;
    size_t nout = (size_t)n * 40;
    float *x = randn((size_t)n * 40, 51), *y = malloc(sizeof(float) * nout);
    const float *out;
    REQUIRE_OK(al_model_forward_from(m, NULL, 0, x, n, 0, &out));
    memcpy(y, out, sizeof(float) * nout);
    int multi = 0;
    for (int K = 1; K < m->nnodes; K++) {
        CHECK(al_model_src_across(m, K) < 0);
        multi += al_model_frontier_count(m, K) > 1;
        size_t feat = al_model_frontier_numel(m, K);
        float *pk = malloc(sizeof(float) * feat * n);
        REQUIRE_OK(al_model_forward_range(m, NULL, 0, K, x, n, 0));
        al_model_frontier_pack(m, K, n, pk);
        for (int t = 0; t < K; t++) memset(m->act[t], 0xff, sizeof(float) * n * al_shape_numel(&m->nodes[t].out));
        REQUIRE_OK(al_model_forward_from(m, NULL, K, pk, n, 0, &out));
        if (memcmp(out, y, sizeof(float) * nout) != 0) fprintf(stderr, "frontier at %d differs\n", K);
        CHECK(memcmp(out, y, sizeof(float) * nout) == 0);
        free(pk);
    }
    CHECK(multi >= 10);
    free(x);
    free(y);
    al_model_free(m);
}

/* A vision transformer built from the spec alone: patches by a strided
 * conv, a learned class token prepended and a position embedding added,
 * one attention block, the class token's output classified. Its gradients
 * check (every weight, the input), it trains, and every freeze point's
 * frontier reproduces the forward. */
#define VIT_SPEC                                                                                                \
    "input 3x8x8; conv 8 k=4 s=4; reshape shape=8,4; transpose perm=1,0; prepend axis=0; t: addp; "           \
    "q: dense 8; k: dense 8 in=t; v: dense 8 in=t; "                                                          \
    "qh: reshape shape=5,2,4 in=q; qt: transpose perm=1,0,2; "                                                \
    "kh: reshape shape=5,2,4 in=k; kt: transpose perm=1,2,0; "                                                \
    "vh: reshape shape=5,2,4 in=v; vt: transpose perm=1,0,2; "                                                \
    "s: matmul kt in=qt; ss: scale 0.5; p: softmax axis=-1; "                                                 \
    "o: matmul vt in=p; ot: transpose perm=1,0,2; oc: reshape shape=5,8; "                                    \
    "proj: dense 8; res: add t; ln: layernorm; cls: slice axis=0 end=1; flatten; dense 3"

static void test_vit(void) {
    gc_opts o = gc_defaults();
    o.max_checks = 40;
    CHECK(gradcheck_spec(VIT_SPEC, &o) == 0);

    /* it trains: SGD on a 3-class task (the class is which quarter of the image is brightest, or none) */
    al_model *m = build(VIT_SPEC, 16);
    enum { N = 16 };
    float *x = randn((size_t)N * 192, 61), dl[N * 3];
    int lab[N];
    for (int i = 0; i < N; i++) {
        lab[i] = i % 3;
        for (int c = 0; c < 3; c++)
            for (int r = 0; r < 4; r++)
                for (int q = 0; q < 4; q++) x[(size_t)i * 192 + (size_t)c * 64 + (size_t)(r + 4 * (lab[i] & 1)) * 8 + q + 4 * (lab[i] >> 1)] += 2.0f;
    }
    REQUIRE_OK(m->nodes[3].cfg.type == AL_L_PREPEND && m->nodes[4].cfg.type == AL_L_ADDP ? AL_OK : AL_EINVAL);
    CHECK(m->nodes[3].params[0].n == 8 && m->nodes[4].params[0].n == 40);
    float pos0[40];
    memcpy(pos0, m->nodes[4].params[0].w, sizeof pos0);
    double first = 0, last = 0;
    for (int it = 0; it < 60; it++) {
        const float *y;
        REQUIRE_OK(al_model_forward_from(m, NULL, 0, x, N, 1, &y));
        double loss = 0;
        for (int i = 0; i < N; i++) {
            double mx = fmax(fmax(y[3 * i], y[3 * i + 1]), y[3 * i + 2]), z = 0;
            for (int c = 0; c < 3; c++) z += exp(y[3 * i + c] - mx);
            for (int c = 0; c < 3; c++) dl[3 * i + c] = (float)((exp(y[3 * i + c] - mx) / z - (c == lab[i])) / N);
            loss += (log(z) + mx - y[3 * i + lab[i]]) / N;
        }
        if (it == 0) first = loss;
        last = loss;
        al_model_zero_grad(m);
        REQUIRE_OK(al_model_backward(m, NULL, x, dl, N));
        for (int j = 0; j < m->nnodes; j++)
            for (int p = 0; p < m->nodes[j].nparams; p++) {
                al_param *pr = &m->nodes[j].params[p];
                if (pr->g)
                    for (size_t e = 0; e < pr->n; e++) pr->w[e] -= 0.1f * pr->g[e];
            }
    }
    if (!(last < 0.5 * first)) fprintf(stderr, "vit: loss %.4f -> %.4f\n", first, last);
    CHECK(last < 0.5 * first);
    /* the class token (zeros at the start) and the position embedding moved */
    double tok = 0, pos = 0;
    for (int e = 0; e < 8; e++) tok = fmax(tok, fabs(m->nodes[3].params[0].w[e]));
    for (int e = 0; e < 40; e++) pos = fmax(pos, fabs(m->nodes[4].params[0].w[e] - pos0[e]));
    CHECK(tok > 1e-4 && pos > 1e-4);
    al_test_plans_valid(m, 4, "vit");
    free(x);
    al_model_free(m);
}

int main(void) {
    test_gradients();
    test_values();
    test_errors();
    test_round_trips();
    test_threads();
    test_attention();
    test_attention_frontier();
    test_vit();
    TEST_END("test_tensor_ops");
}
