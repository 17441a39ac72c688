/* ONNX import of a graph near the size limit (65,536 nodes): 60,000 nodes,
 * built in memory (the protobuf written by hand, no python3-onnx needed) and
 * imported with al_model_import_onnx_mem. The importer's name lookups (a
 * value by name, how many nodes read it, the layer names taken) once scanned
 * the whole graph for every node, which took minutes here; with them indexed
 * the import takes well under a second, so this test stays fast only while
 * they do (it asserts the result, never the time). Checks the layer count,
 * the names and the output shape, and the output of a 600-node chain
 * against the same chain computed here; and that a failing allocation
 * anywhere in the import of a short chain gives an error and no model.
 *   test_onnx_large [UNITS]   (default 10000 units of 6 nodes)
 * Skips when the build has no ONNX import. */
#include "al_test.h"
#include "autlearn_cloud.h"

#include <stdint.h>

#define F 8 /* features per sample */

/* ---- a protobuf writer: just what a ModelProto needs ---- */

typedef struct buf {
    unsigned char *p;
    size_t n, cap;
    int oom;
} buf;

static void put(buf *b, const void *s, size_t n) {
    if (b->oom) return;
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n) cap *= 2;
        unsigned char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

static void varint(buf *b, uint64_t v) {
    unsigned char c[10];
    int n = 0;
    do {
        c[n++] = (unsigned char)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    put(b, c, (size_t)n);
}

static void field_int(buf *b, int field, uint64_t v) {
    varint(b, (uint64_t)field << 3);
    varint(b, v);
}

static void field_bytes(buf *b, int field, const void *s, size_t n) {
    varint(b, (uint64_t)field << 3 | 2);
    varint(b, n);
    put(b, s, n);
}

static void field_str(buf *b, int field, const char *s) { field_bytes(b, field, s, strlen(s)); }

/* Appends message m as field `field` of b, and empties m. */
static void field_msg(buf *b, int field, buf *m) {
    field_bytes(b, field, m->p, m->n);
    b->oom |= m->oom;
    m->n = 0;
}

/* NodeProto: input 1, output 2, name 3, op_type 4 */
static void node(buf *g, buf *t, const char *op, const char *name, const char *in0, const char *in1, const char *out) {
    field_str(t, 1, in0);
    if (in1) field_str(t, 1, in1);
    field_str(t, 2, out);
    field_str(t, 3, name);
    field_str(t, 4, op);
    field_msg(g, 1, t); /* GraphProto.node */
}

/* ValueInfoProto of a float [N, F] (N symbolic) as GraphProto field `field` */
static void value_info(buf *g, buf *t, int field, const char *name) {
    buf d = {0}, s = {0}, tt = {0}, tp = {0};
    field_str(&d, 2, "N"); /* Dimension.dim_param */
    field_msg(&s, 1, &d);  /* TensorShapeProto.dim */
    field_int(&d, 1, F);   /* Dimension.dim_value */
    field_msg(&s, 1, &d);
    field_int(&tt, 1, 1);   /* TypeProto.Tensor.elem_type: FLOAT */
    field_msg(&tt, 2, &s);  /* .shape */
    field_msg(&tp, 1, &tt); /* TypeProto.tensor_type */
    field_str(t, 1, name);
    field_msg(t, 2, &tp); /* ValueInfoProto.type */
    field_msg(g, field, t);
    t->oom |= d.oom | s.oom | tt.oom | tp.oom;
    free(d.p), free(s.p), free(tt.p), free(tp.p);
}

/* TensorProto (float): dims 1, data_type 2, name 8, raw_data 9 (little-endian) */
static void initializer(buf *g, buf *t, const char *name, const int64_t *dims, int nd, const float *v, size_t n) {
    for (int k = 0; k < nd; k++) field_int(t, 1, (uint64_t)dims[k]);
    field_int(t, 2, 1);
    field_str(t, 8, name);
    unsigned char *raw = malloc(n * 4 + 1);
    if (!raw) {
        t->oom = 1;
        return;
    }
    for (size_t k = 0; k < n; k++) {
        uint32_t u;
        memcpy(&u, &v[k], 4);
        for (int j = 0; j < 4; j++) raw[4 * k + (size_t)j] = (unsigned char)(u >> (8 * j));
    }
    field_bytes(t, 9, raw, n * 4);
    free(raw);
    field_msg(g, 5, t); /* GraphProto.initializer */
}

/* The chain, `units` times from x: d = MatMul(c, W); e = Add(d, B) (the
 * dense's bias); r = Relu(e); s = Add(r, c) (a residual); i = Identity(s);
 * c = Tanh(i). W and B are one initializer each, read by every unit. The
 * last Tanh writes y. */
static void chain_model(buf *mp, int units, const float *W, const float *B) {
    buf g = {0}, t = {0}, o = {0};
    char nm[6][32], cur[32] = "x";
    for (int u = 0; u < units; u++) {
        static const char *const op[6] = {"MatMul", "Add", "Relu", "Add", "Identity", "Tanh"};
        for (int j = 0; j < 6; j++) snprintf(nm[j], sizeof nm[j], "u%d_%s%d", u, op[j], j);
        if (u == units - 1) snprintf(nm[5], sizeof nm[5], "y");
        node(&g, &t, "MatMul", nm[0], cur, "W", nm[0]);
        node(&g, &t, "Add", nm[1], nm[0], "B", nm[1]);
        node(&g, &t, "Relu", nm[2], nm[1], NULL, nm[2]);
        node(&g, &t, "Add", nm[3], nm[2], cur, nm[3]);
        node(&g, &t, "Identity", nm[4], nm[3], NULL, nm[4]);
        node(&g, &t, "Tanh", nm[5], nm[4], NULL, nm[5]);
        snprintf(cur, sizeof cur, "%s", nm[5]);
    }
    field_str(&g, 2, "chain");
    const int64_t wd[2] = {F, F}, bd[1] = {F};
    initializer(&g, &t, "W", wd, 2, W, F * F);
    initializer(&g, &t, "B", bd, 1, B, F);
    value_info(&g, &t, 11, "x");
    value_info(&g, &t, 12, "y");
    field_int(mp, 1, 8);          /* ModelProto.ir_version */
    field_str(mp, 2, "test_onnx_large");
    field_msg(mp, 7, &g);         /* .graph */
    field_str(&o, 1, "");         /* OperatorSetIdProto.domain */
    field_int(&o, 2, 13);         /* .version */
    field_msg(mp, 8, &o);         /* .opset_import */
    mp->oom |= g.oom | t.oom | o.oom;
    free(g.p), free(t.p), free(o.p);
}

/* Imports the chain of `units` units: its layer count, names and output
 * shape; with `run`, also its output against the chain computed here in
 * double (two samples). */
static void check_chain(int units, int run) {
    float W[F * F], B[F];
    for (int k = 0; k < F * F; k++) W[k] = 0.05f * (float)((k * 7) % 11 - 5);
    for (int k = 0; k < F; k++) B[k] = 0.01f * (float)(k - 3);
    buf mp = {0};
    chain_model(&mp, units, W, B);
    if (mp.oom) {
        fprintf(stderr, "test_onnx_large: out of memory building the model\n");
        exit(1);
    }
    al_model *m = NULL;
    REQUIRE_OK(al_model_import_onnx_mem(mp.p, mp.n, &m));
    free(mp.p);
    /* 4 layers a unit: dense (MatMul with the Add as its bias), relu, add, tanh */
    CHECK(al_model_num_nodes(m) == 4 * units);
    al_tensor ys = al_model_output_shape(m);
    CHECK(ys.ndim == 1 && ys.shape[0] == F);
    /* each layer takes its ONNX node's name: the first and the last unit's */
    CHECK(al_model_find_node(m, "u0_MatMul0") == 0);
    CHECK(al_model_find_node(m, "u0_Tanh5") == 3);
    char last[32];
    snprintf(last, sizeof last, "u%d_Add3", units - 1);
    CHECK(al_model_find_node(m, last) == 4 * units - 2);
    CHECK(al_model_find_node(m, "y") == 4 * units - 1);
    if (run) {
        float x[2 * F], y[2 * F];
        for (int k = 0; k < 2 * F; k++) x[k] = 0.3f * (float)(k % 5) - 0.5f;
        CHECK_OK(al_model_predict(m, NULL, x, 2, y));
        double err = 0;
        for (int s = 0; s < 2; s++) {
            double c[F], e[F];
            for (int k = 0; k < F; k++) c[k] = x[s * F + k];
            for (int u = 0; u < units; u++) {
                for (int j = 0; j < F; j++) {
                    double a = B[j];
                    for (int k = 0; k < F; k++) a += c[k] * W[k * F + j]; /* MatMul: W is [K, M] */
                    e[j] = a > 0 ? a : 0;
                }
                for (int j = 0; j < F; j++) c[j] = tanh(e[j] + c[j]);
            }
            for (int k = 0; k < F; k++) err = fmax(err, fabs(c[k] - y[s * F + k]));
        }
        if (err > 1e-4) fprintf(stderr, "test_onnx_large: %d units: output differs by %g\n", units, err);
        CHECK(err <= 1e-4);
    }
    al_model_free(m);
}

/* Allocation number `fail_at` (counting from 1) fails; 0: none does. */
static long fail_at, nalloc;
static void *oom_malloc(void *u, size_t n) {
    (void)u;
    return ++nalloc == fail_at ? NULL : malloc(n);
}
static void oom_free(void *u, void *p) {
    (void)u;
    free(p);
}

/* Every allocation of the import of a short chain failing in turn:
 * AL_ENOMEM, also inside protobuf-c's parse, and no model (under ASan in
 * make test: no leak). */
static void check_oom(void) {
    float W[F * F] = {0}, B[F] = {0};
    buf mp = {0};
    chain_model(&mp, 3, W, B);
    if (mp.oom) exit(1);
    const al_allocator a = {oom_malloc, oom_free, NULL};
    al_set_allocator(&a);
    long clean;
    al_model *m = NULL;
    fail_at = 0, nalloc = 0;
    al_status st = al_model_import_onnx_mem(mp.p, mp.n, &m);
    CHECK(st == AL_OK);
    al_model_free(m);
    clean = nalloc;
    for (fail_at = 1; fail_at <= clean; fail_at++) {
        nalloc = 0;
        m = NULL;
        st = al_model_import_onnx_mem(mp.p, mp.n, &m);
        if (st != AL_ENOMEM || m) {
            fprintf(stderr, "allocation %ld of %ld failing: %s, model %p\n", fail_at, clean, al_status_name(st), (void *)m);
            al_test_failures++;
        }
        al_model_free(m);
    }
    al_set_allocator(NULL);
    free(mp.p);
}

int main(int argc, char **argv) {
    al_model *m = NULL;
    if (al_model_import_onnx_mem("x", 1, &m) == AL_EUNSUPPORTED && strstr(al_last_error(), "not built")) {
        fprintf(stderr, "test_onnx_large: SKIP: %s\n", al_last_error());
        return 0;
    }
    int units = argc > 1 ? atoi(argv[1]) : 10000;
    if (units < 1 || units > 10922) units = 10000; /* 6 nodes each, at most 65,536 */
    /* the output of a short chain (running a long one costs the memory
     * planner, not the import, time that grows with the square of the layers) */
    check_chain(100, 1);
    check_chain(units, 0);
    check_oom();
    TEST_END("test_onnx_large");
}
