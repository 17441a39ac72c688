/* Model files (GGUF v3): CRC-32, the generic reader and writer, bit-exact
 * save/load round trips, truncation at every byte, bit flips, hand-crafted
 * hostile headers (with valid checksums, so the checks behind the CRC are
 * reached) and the atomicity of save. Temporary files live in a mkdtemp
 * directory under /tmp that is removed at the end. */
#include "al_test_gguf.h"
#include "model/model.h"

#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[64];

/* A path in tmpdir; the result lives until 4 more calls (copy to keep it). */
static const char *tpath(const char *name) {
    static char buf[4][256];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

/* Names of the entries in tmpdir, joined by spaces (sorted by the caller's
 * expectations: we only compare counts and look for ".tmp."). */
static int dir_entries(int *has_tmp) {
    DIR *d = opendir(tmpdir);
    int n = 0;
    *has_tmp = 0;
    if (!d) return -1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        n++;
        if (strstr(e->d_name, ".tmp.")) *has_tmp = 1;
    }
    closedir(d);
    return n;
}

static unsigned char *slurp(const char *path, size_t *n) {
    void *b;
    if (gguf_read_file(path, &b, n) != AL_OK) {
        fprintf(stderr, "cannot read %s: %s\n", path, al_last_error());
        exit(1);
    }
    return b;
}

/* ---- a tracking allocator: the largest single request -------------------- */

static size_t max_alloc;
static void *track_malloc(void *user, size_t n) {
    (void)user;
    if (n > max_alloc) max_alloc = n;
    return malloc(n);
}
static void track_free(void *user, void *p) {
    (void)user;
    free(p);
}
static void track_begin(void) {
    al_allocator a = {track_malloc, track_free, NULL};
    max_alloc = 0;
    al_set_allocator(&a);
}
static void track_end(void) { al_set_allocator(NULL); }

/* ---- CRC-32 ---------------------------------------------------------------- */

static void test_crc32(void) {
    const char *s = "123456789";
    CHECK(al_crc32(0, s, 9) == 0xCBF43926u); /* the standard check value */
    CHECK(al_crc32(al_crc32(0, s, 4), s + 4, 5) == 0xCBF43926u);
    CHECK(al_crc32(0, s, 0) == 0);
    unsigned char z[32] = {0};
    CHECK(al_crc32(0, z, 32) == 0x190A55ADu);
}

/* ---- generic writer / reader ------------------------------------------------- */

static const int32_t ai[3] = {7, -8, 9};
static const double ad[2] = {0.5, -1e300};
static const char *const as[3] = {"a", "", "ccc"};

static void set_all(gguf_writer *w) {
    CHECK_OK(gguf_set_u8(w, "t.u8", 200));
    CHECK_OK(gguf_set_i8(w, "t.i8", -5));
    CHECK_OK(gguf_set_u16(w, "t.u16", 60000));
    CHECK_OK(gguf_set_i16(w, "t.i16", -30000));
    CHECK_OK(gguf_set_u32(w, "t.u32", 4000000000u));
    CHECK_OK(gguf_set_i32(w, "t.i32", -2000000000));
    CHECK_OK(gguf_set_u64(w, "t.u64", 0xFEDCBA9876543210ull));
    CHECK_OK(gguf_set_i64(w, "t.i64", -((int64_t)1 << 60)));
    CHECK_OK(gguf_set_f32(w, "t.f32", -1.25f));
    CHECK_OK(gguf_set_f64(w, "t.f64", 3.141592653589793));
    CHECK_OK(gguf_set_bool(w, "t.bool", 1));
    CHECK_OK(gguf_set_str(w, "t.str", "héllo"));
    CHECK_OK(gguf_set_arr(w, "t.arr_i32", GGUF_T_I32, ai, 3));
    CHECK_OK(gguf_set_arr(w, "t.arr_f64", GGUF_T_F64, ad, 2));
    CHECK_OK(gguf_set_arr_str(w, "t.arr_str", as, 3));
}

static void test_generic(void) {
    gguf_writer *w;
    REQUIRE_OK(gguf_writer_new(0, &w));
    set_all(w);
    CHECK_STATUS(gguf_set_u8(w, "t.u8", 1), AL_EINVAL); /* duplicate: sticky */
    gguf_writer_free(w);

    REQUIRE_OK(gguf_writer_new(64, &w));
    set_all(w);
    float f[6] = {1, -2, 3.5f, 0, -0.0f, 1e-40f};
    uint64_t ne_f[2] = {3, 2};
    CHECK_OK(gguf_add_tensor(w, "f", GGML_T_F32, 2, ne_f, f));
    int8_t q[5] = {-128, -1, 0, 1, 127};
    uint64_t ne_q[1] = {5};
    CHECK_OK(gguf_add_tensor(w, "q", GGML_T_I8, 1, ne_q, q));
    unsigned char blk[34];
    for (int i = 0; i < 34; i++) blk[i] = (unsigned char)(i * 7);
    uint64_t ne_b[1] = {32};
    CHECK_OK(gguf_add_tensor(w, "q8", GGML_T_Q8_0, 1, ne_b, blk));
    uint64_t ne_bad[1] = {31};
    CHECK_STATUS(gguf_add_tensor(w, "q8bad", GGML_T_Q8_0, 1, ne_bad, blk), AL_EINVAL);
    /* the failure is remembered: save reports it and creates nothing */
    CHECK_STATUS(gguf_writer_save(w, tpath("g.gguf")), AL_EINVAL);
    CHECK(access(tpath("g.gguf"), F_OK) != 0);
    gguf_writer_free(w);

    REQUIRE_OK(gguf_writer_new(64, &w));
    set_all(w);
    CHECK_OK(gguf_add_tensor(w, "f", GGML_T_F32, 2, ne_f, f));
    CHECK_OK(gguf_add_tensor(w, "q", GGML_T_I8, 1, ne_q, q));
    CHECK_OK(gguf_add_tensor(w, "q8", GGML_T_Q8_0, 1, ne_b, blk));
    REQUIRE_OK(gguf_writer_save(w, tpath("g.gguf")));
    gguf_writer_free(w);

    size_t n;
    unsigned char *b = slurp(tpath("g.gguf"), &n);
    CHECK(n > 24 && memcmp(b, "GGUF", 4) == 0);
    CHECK(b[4] == 3 && b[5] == 0 && b[6] == 0 && b[7] == 0);
    CHECK(b[8] == 3 && b[16] == 3 + 15); /* tensor count, kv count (3 added by the writer) */
    CHECK(n % 64 == 0);

    gguf_reader *r;
    REQUIRE_OK(gguf_reader_open_mem(b, n, GGUF_REQUIRE_CRC, &r));
    uint8_t u8;
    int8_t i8;
    uint16_t u16;
    int16_t i16;
    uint32_t u32;
    int32_t i32;
    uint64_t u64;
    int64_t i64;
    float f32;
    double f64;
    int bo;
    gguf_str s;
    CHECK(gguf_get_u8(r, "t.u8", &u8) == AL_OK && u8 == 200);
    CHECK(gguf_get_i8(r, "t.i8", &i8) == AL_OK && i8 == -5);
    CHECK(gguf_get_u16(r, "t.u16", &u16) == AL_OK && u16 == 60000);
    CHECK(gguf_get_i16(r, "t.i16", &i16) == AL_OK && i16 == -30000);
    CHECK(gguf_get_u32(r, "t.u32", &u32) == AL_OK && u32 == 4000000000u);
    CHECK(gguf_get_i32(r, "t.i32", &i32) == AL_OK && i32 == -2000000000);
    CHECK(gguf_get_u64(r, "t.u64", &u64) == AL_OK && u64 == 0xFEDCBA9876543210ull);
    CHECK(gguf_get_i64(r, "t.i64", &i64) == AL_OK && i64 == -((int64_t)1 << 60));
    CHECK(gguf_get_f32(r, "t.f32", &f32) == AL_OK && f32 == -1.25f);
    CHECK(gguf_get_f64(r, "t.f64", &f64) == AL_OK && f64 == 3.141592653589793);
    CHECK(gguf_get_bool(r, "t.bool", &bo) == AL_OK && bo == 1);
    CHECK(gguf_get_str(r, "t.str", &s) == AL_OK && gguf_str_eq(s, "héllo"));
    CHECK(gguf_get_u32(r, GGUF_KEY_ALIGNMENT, &u32) == AL_OK && u32 == 64);
    CHECK_STATUS(gguf_get_u32(r, "t.i32", &u32), AL_EFORMAT); /* no silent conversions */
    CHECK_STATUS(gguf_get_u32(r, "t.nope", &u32), AL_EFORMAT);
    CHECK(strstr(al_last_error(), "t.nope") != NULL);
    int32_t ri[4];
    double rd[2];
    size_t k;
    gguf_type et;
    CHECK(gguf_get_arr(r, "t.arr_i32", GGUF_T_I32, ri, 4, &k) == AL_OK && k == 3 && ri[0] == 7 && ri[1] == -8 &&
          ri[2] == 9);
    CHECK_STATUS(gguf_get_arr(r, "t.arr_i32", GGUF_T_I32, ri, 2, &k), AL_ERANGE);
    CHECK_STATUS(gguf_get_arr(r, "t.arr_i32", GGUF_T_U32, ri, 4, &k), AL_EFORMAT);
    CHECK(gguf_get_arr(r, "t.arr_f64", GGUF_T_F64, rd, 2, &k) == AL_OK && rd[0] == 0.5 && rd[1] == -1e300);
    CHECK(gguf_get_arr_info(r, "t.arr_str", &et, &u64) == AL_OK && et == GGUF_T_STRING && u64 == 3);
    CHECK(gguf_get_arr_str(r, "t.arr_str", 2, &s) == AL_OK && gguf_str_eq(s, "ccc"));
    CHECK(gguf_get_arr_str(r, "t.arr_str", 1, &s) == AL_OK && s.n == 0);
    CHECK_STATUS(gguf_get_arr_str(r, "t.arr_str", 3, &s), AL_ERANGE);
    CHECK(gguf_num_tensors(r) == 3);
    const gguf_tensor *t = gguf_find_tensor(r, "f");
    CHECK(t && t->type == GGML_T_F32 && t->ndim == 2 && t->ne[0] == 3 && t->ne[1] == 2 && t->nelem == 6);
    if (t) {
        float g[6];
        CHECK((size_t)(t->data - b) % 64 == 0);
        CHECK(gguf_tensor_read_f32(t, g, 6) == AL_OK && memcmp(g, f, sizeof f) == 0);
        CHECK_STATUS(gguf_tensor_read_f32(t, g, 5), AL_EFORMAT);
        /* little-endian on disk whatever the host: 1.0f is 00 00 80 3f */
        CHECK(t->data[0] == 0 && t->data[1] == 0 && t->data[2] == 0x80 && t->data[3] == 0x3f);
    }
    t = gguf_find_tensor(r, "q");
    CHECK(t && t->type == GGML_T_I8 && t->nbytes == 5 && memcmp(t->data, q, 5) == 0);
    t = gguf_find_tensor(r, "q8");
    CHECK(t && t->type == GGML_T_Q8_0 && t->nbytes == 34 && memcmp(t->data, blk, 34) == 0);
    CHECK(gguf_find_tensor(r, "nope") == NULL);
    gguf_reader_free(r);

    /* the file API, owning its buffer */
    REQUIRE_OK(gguf_reader_open_file(tpath("g.gguf"), GGUF_REQUIRE_CRC, &r));
    CHECK(gguf_find_kv(r, "t.str") >= 0);
    gguf_reader_free(r);
    al_free(b);
    unlink(tpath("g.gguf"));
}

/* ---- models: bit-exact round trips -------------------------------------------- */

/* 1 if every layer type of the spec has a vtable in this build. */
static int have_layers(const char *spec) {
    al_layer_cfg *L;
    al_shape in;
    int tok, n;
    if (al_spec_parse_alloc(spec, &in, &tok, &L, &n) != AL_OK) return 0;
    int ok = 1;
    for (int i = 0; i < n; i++)
        if (!al_layer_vtable(L[i].type)) {
            if (ok) fprintf(stderr, "test_gguf: skipped '%s': layer '%s' not built yet\n", spec, al_layer_type_name(L[i].type));
            ok = 0;
        }
    al_free(L);
    return ok;
}

static int same_model(const al_model *a, const al_model *b) {
    int ok = a->nnodes == b->nnodes && a->input_tokens == b->input_tokens && a->in.ndim == b->in.ndim &&
             memcmp(a->in.d, b->in.d, sizeof(int) * (size_t)a->in.ndim) == 0 && a->freeze == b->freeze &&
             a->nweights == b->nweights && strcmp(a->spec, b->spec) == 0 && a->nmeta == b->nmeta;
    if (!ok) return 0;
    for (int i = 0; i < a->nnodes; i++) {
        const al_layer_cfg *x = &a->nodes[i].cfg, *y = &b->nodes[i].cfg;
        if (x->type != y->type || x->units != y->units || x->k != y->k || x->stride != y->stride || x->pad != y->pad ||
            x->vocab != y->vocab || x->src != y->src || x->bias != y->bias ||
            memcmp(&x->rate, &y->rate, 4) || memcmp(&x->eps, &y->eps, 4) || memcmp(&x->momentum, &y->momentum, 4) ||
            a->nodes[i].trainable != b->nodes[i].trainable || a->nodes[i].nparams != b->nodes[i].nparams)
            return 0;
        for (int p = 0; p < a->nodes[i].nparams; p++) {
            const al_param *pa = &a->nodes[i].params[p], *pb = &b->nodes[i].params[p];
            if (strcmp(pa->name, pb->name) || pa->n != pb->n || memcmp(pa->w, pb->w, sizeof(float) * pa->n)) return 0;
        }
    }
    for (int i = 0; i < a->nmeta; i++) {
        const char *v = al_model_meta(b, a->meta_key[i]);
        if (!v || strcmp(v, a->meta_val[i])) return 0;
    }
    return 1;
}

/* Saves, loads, compares; then saves the loaded copy and compares bytes. */
static void roundtrip(const char *spec, int freeze) {
    al_model *m, *m2;
    REQUIRE_OK(al_model_from_spec(spec, 7, &m));
    /* every weight, running statistics included, gets a distinct value; a few
     * get the values a careless writer would mangle */
    al_rng rng;
    al_rng_seed(&rng, 99, 1);
    for (size_t i = 0; i < m->nweights; i++) m->wblock[i] = al_rng_normal(&rng);
    uint32_t specials[4] = {0x7fc12345u /* NaN with payload */, 0x80000000u /* -0 */, 0x00000001u /* denormal */,
                            0xff800000u /* -inf */};
    for (int i = 0; i < 4 && (size_t)i < m->nweights; i++) memcpy(&m->wblock[i], &specials[i], 4);
    REQUIRE_OK(al_model_freeze(m, freeze));
    REQUIRE_OK(al_model_set_meta(m, "autlearn.scenario", "image"));
    REQUIRE_OK(al_model_set_meta(m, "general.name", "a \"test\" model; ünïcode"));
    char p[256], p2[256];
    snprintf(p, sizeof p, "%s", tpath("m.gguf"));
    snprintf(p2, sizeof p2, "%s", tpath("m2.gguf"));
    REQUIRE_OK(al_model_save(m, p));
    al_status st = al_model_load(p, &m2);
    CHECK_OK(st);
    if (st == AL_OK) {
        CHECK(same_model(m, m2));
        CHECK(al_model_freeze_point(m2) == freeze);
        CHECK(strcmp(al_model_meta(m2, "autlearn.scenario"), "image") == 0);
        REQUIRE_OK(al_model_save(m2, p2));
        size_t n1, n2;
        unsigned char *b1 = slurp(p, &n1), *b2 = slurp(p2, &n2);
        CHECK(n1 == n2 && memcmp(b1, b2, n1) == 0);
        al_free(b1);
        al_free(b2);
        /* and it predicts the same */
        if (!m->input_tokens) {
            size_t xi = al_shape_numel(&m->in), yo = al_shape_numel(&m->nodes[m->nnodes - 1].out);
            float *x = calloc(2 * xi, sizeof(float)), *y1 = calloc(2 * yo, sizeof(float)), *y2 = calloc(2 * yo, sizeof(float));
            for (size_t i = 0; i < 2 * xi; i++) x[i] = al_rng_normal(&rng);
            /* the specials would make outputs NaN; put ordinary values back in both */
            for (int i = 0; i < 4 && (size_t)i < m->nweights; i++) m->wblock[i] = m2->wblock[i] = 0.25f;
            CHECK_OK(al_model_predict(m, NULL, x, 2, y1));
            CHECK_OK(al_model_predict(m2, NULL, x, 2, y2));
            CHECK(memcmp(y1, y2, sizeof(float) * 2 * yo) == 0);
            free(x);
            free(y1);
            free(y2);
        }
        al_model_free(m2);
    }
    unlink(p);
    unlink(p2);
    al_model_free(m);
}

static void test_roundtrip(void) {
    roundtrip("input 3; dense 4; dense 2", 1);
    roundtrip("input 5; dense 3 bias=0; dense 2", 0);
    const char *more[] = {
        "input 2x6x6; conv 3 k=3 p=1; batchnorm; relu; maxpool k=2; flatten; dense 4",
        "input 1x5x5; conv 2 k=3 s=2 p=1 bias=0; batchnorm eps=0.001 momentum=0.3; flatten; dropout 0.25; dense 3",
        "tokens 5; embedding 4 vocab=11; lstm 6; dense 11",
        "input 4; dense 4; relu; add 0; dense 2",
        "input 3x6x6; conv 8 k=3 p=1; hardswish; gap; dense 4; relu; dense 8; hardsigmoid; mul 1; flatten; dense 3",
    };
    int ran = 0, total = (int)(sizeof more / sizeof more[0]);
    for (int i = 0; i < total; i++)
        if (have_layers(more[i])) {
            roundtrip(more[i], 2);
            ran++;
        }
    fprintf(stderr, "test_gguf: round trips with conv/batchnorm/lstm/...: %d of %d ran\n", ran, total);
}

/* ---- corrupt and truncated files ---------------------------------------------- */

static unsigned char *small_model_file(size_t *n) {
    al_model *m;
    REQUIRE_OK(al_model_from_spec("input 3; dense 4; dense 2", 3, &m));
    REQUIRE_OK(al_model_set_meta(m, "autlearn.scenario", "ime"));
    REQUIRE_OK(al_model_save(m, tpath("small.gguf")));
    al_model_free(m);
    unsigned char *b = slurp(tpath("small.gguf"), n);
    unlink(tpath("small.gguf"));
    return b;
}

static void test_truncation(void) {
    size_t n;
    unsigned char *b = small_model_file(&n);
    al_model *m;
    REQUIRE_OK(al_model_load_mem(b, n, &m));
    al_model_free(m);
    int bad_status = 0, bad_msg = 0;
    for (size_t len = 0; len < n; len++) {
        /* an exact-size copy, so ASan sees any read past the end */
        unsigned char *c = malloc(len ? len : 1);
        memcpy(c, b, len);
        al_status st = al_model_load_mem(c, len, &m);
        if (st != AL_EFORMAT) {
            if (bad_status++ < 5)
                fprintf(stderr, "truncated to %zu: %s (%s)\n", len, al_status_name(st), al_last_error());
            if (st == AL_OK) al_model_free(m);
        } else if (!strstr(al_last_error(), "truncated at byte")) {
            if (bad_msg++ < 5) fprintf(stderr, "truncated to %zu: message '%s'\n", len, al_last_error());
        }
        free(c);
    }
    CHECK(bad_status == 0);
    CHECK(bad_msg == 0);
    al_free(b);
}

static void test_bitflips(void) {
    size_t n;
    unsigned char *b = small_model_file(&n);
    unsigned char *c = malloc(n);
    int bad = 0, nchk = 0, nfmt = 0;
    const unsigned char masks[3] = {0x01, 0x80, 0xff};
    for (size_t pos = 0; pos < n; pos++)
        for (int k = 0; k < 3; k++) {
            memcpy(c, b, n);
            c[pos] ^= masks[k];
            al_model *m;
            al_status st = al_model_load_mem(c, n, &m);
            if (st == AL_ECHECKSUM)
                nchk++;
            else if (st == AL_EFORMAT)
                nfmt++;
            else {
                if (bad++ < 5) fprintf(stderr, "flip %02x at %zu: %s (%s)\n", masks[k], pos, al_status_name(st), al_last_error());
                if (st == AL_OK) al_model_free(m);
            }
        }
    CHECK(bad == 0);
    CHECK(nchk > 0 && nfmt > 0);
    /* a flip inside the weights is reported as a data checksum mismatch */
    memcpy(c, b, n);
    c[n - 40] ^= 0x10;
    al_model *m;
    CHECK_STATUS(al_model_load_mem(c, n, &m), AL_ECHECKSUM);
    CHECK(strstr(al_last_error(), "checksum") != NULL);
    free(c);
    al_free(b);
}

/* ---- hand-crafted files ------------------------------------------------------------ */

typedef struct bb {
    unsigned char d[4096];
    size_t n;
    size_t crc_h, crc_d; /* offsets of the two CRC values */
} bb;

static void bb_le(bb *b, uint64_t v, int w) {
    for (int i = 0; i < w; i++) b->d[b->n++] = (unsigned char)(v >> (8 * i));
}
static void bb_zero(bb *b, size_t n) {
    memset(b->d + b->n, 0, n);
    b->n += n;
}
static void bb_str(bb *b, const char *s) {
    bb_le(b, strlen(s), 8);
    memcpy(b->d + b->n, s, strlen(s));
    b->n += strlen(s);
}
/* Header with nkv KVs of which the first two are the CRC placeholders. */
static void bb_begin(bb *b, uint64_t nt, uint64_t nkv) {
    memset(b, 0, sizeof *b);
    bb_le(b, GGUF_MAGIC, 4);
    bb_le(b, 3, 4);
    bb_le(b, nt, 8);
    bb_le(b, nkv, 8);
    bb_str(b, GGUF_KEY_CRC_HEADER);
    bb_le(b, GGUF_T_U32, 4);
    b->crc_h = b->n;
    bb_le(b, 0, 4);
    bb_str(b, GGUF_KEY_CRC_DATA);
    bb_le(b, GGUF_T_U32, 4);
    b->crc_d = b->n;
    bb_le(b, 0, 4);
}
static void bb_tensor(bb *b, const char *name, int ndim, const uint64_t *ne, uint32_t type, uint64_t off) {
    bb_str(b, name);
    bb_le(b, (uint64_t)ndim, 4);
    for (int d = 0; d < ndim; d++) bb_le(b, ne[d], 8);
    bb_le(b, type, 4);
    bb_le(b, off, 8);
}
static size_t bb_pad(bb *b) {
    while (b->n % 32) b->d[b->n++] = 0;
    return b->n;
}
/* Fills in valid CRCs for a file whose data section starts at ds. */
static void bb_seal(bb *b, size_t ds) {
    uint32_t d = al_crc32(0, b->d + ds, b->n - ds);
    for (int i = 0; i < 4; i++) b->d[b->crc_d + i] = (unsigned char)(d >> (8 * i));
    uint32_t h = al_crc32(0, b->d, ds); /* header CRC field is still 0 */
    for (int i = 0; i < 4; i++) b->d[b->crc_h + i] = (unsigned char)(h >> (8 * i));
}

static al_status open_bb(const bb *b) {
    /* an exact-size heap copy, so ASan catches reads past the end */
    unsigned char *c = malloc(b->n);
    memcpy(c, b->d, b->n);
    gguf_reader *r = NULL;
    al_status st = gguf_reader_open_mem(c, b->n, GGUF_REQUIRE_CRC, &r);
    gguf_reader_free(r);
    free(c);
    return st;
}

static void test_hostile(void) {
    bb b;
    size_t ds;
    uint64_t ne[4];
    track_begin();

    /* sanity: a valid crafted file with one F32 tensor opens */
    bb_begin(&b, 1, 2);
    ne[0] = 2;
    bb_tensor(&b, "x", 1, ne, GGML_T_F32, 0);
    ds = bb_pad(&b);
    bb_le(&b, 0x3f800000u, 4);
    bb_le(&b, 0x40000000u, 4);
    bb_pad(&b);
    bb_seal(&b, ds);
    CHECK_OK(open_bb(&b));

    /* the same with a corrupted CRC */
    b.d[b.crc_h] ^= 1;
    CHECK_STATUS(open_bb(&b), AL_ECHECKSUM);

    /* wrong magic, version 2, big-endian */
    bb_begin(&b, 0, 2);
    ds = bb_pad(&b);
    bb_seal(&b, ds);
    CHECK_OK(open_bb(&b));
    b.d[0] = 'X';
    CHECK_STATUS(open_bb(&b), AL_EFORMAT);
    CHECK(strstr(al_last_error(), "not a GGUF file") != NULL);
    b.d[0] = 'G';
    b.d[4] = 2;
    CHECK_STATUS(open_bb(&b), AL_EFORMAT);
    CHECK(strstr(al_last_error(), "version 2") != NULL);
    b.d[4] = 0;
    b.d[7] = 3;
    CHECK_STATUS(open_bb(&b), AL_EFORMAT);
    CHECK(strstr(al_last_error(), "big-endian") != NULL);

    /* huge tensor count, huge KV count */
    bb_begin(&b, (uint64_t)1 << 62, 2);
    ds = bb_pad(&b);
    bb_seal(&b, ds);
    CHECK_STATUS(open_bb(&b), AL_EFORMAT);
    bb_begin(&b, 0, UINT64_MAX);
    ds = bb_pad(&b);
    bb_seal(&b, ds);
    CHECK_STATUS(open_bb(&b), AL_EFORMAT);

    /* a key of length 2^63, a string value of length 2^63 */
    bb_begin(&b, 0, 3);
    bb_le(&b, (uint64_t)1 << 63, 8);
    bb_le(&b, 0, 8);
    ds = bb_pad(&b);
    bb_seal(&b, ds);
    CHECK_STATUS(open_bb(&b), AL_EFORMAT);
    bb_begin(&b, 0, 3);
    bb_str(&b, "k");
    bb_le(&b, GGUF_T_STRING, 4);
    bb_le(&b, (uint64_t)1 << 63, 8);
    ds = bb_pad(&b);
    bb_seal(&b, ds);
    CHECK_STATUS(open_bb(&b), AL_EFORMAT);
    /* ... and one just past the end of the file */
    bb_begin(&b, 0, 3);
    bb_str(&b, "k");
    bb_le(&b, GGUF_T_STRING, 4);
    bb_le(&b, 100, 8);
    ds = bb_pad(&b);
    bb_seal(&b, ds);
    CHECK_STATUS(open_bb(&b), AL_EFORMAT);

    /* arrays: 2^61 int32s, 2^60 strings, nested, unknown element type */
    uint64_t arr_n[4] = {(uint64_t)1 << 61, (uint64_t)1 << 60, 1, 1};
    uint32_t arr_t[4] = {GGUF_T_I32, GGUF_T_STRING, GGUF_T_ARRAY, 99};
    for (int i = 0; i < 4; i++) {
        bb_begin(&b, 0, 3);
        bb_str(&b, "a");
        bb_le(&b, GGUF_T_ARRAY, 4);
        bb_le(&b, arr_t[i], 4);
        bb_le(&b, arr_n[i], 8);
        bb_le(&b, 0, 8);
        ds = bb_pad(&b);
        bb_seal(&b, ds);
        CHECK_STATUS(open_bb(&b), AL_EFORMAT);
    }
    /* unknown value type, duplicate key, bad alignment */
    bb_begin(&b, 0, 3);
    bb_str(&b, "k");
    bb_le(&b, 13, 4);
    bb_le(&b, 0, 8);
    ds = bb_pad(&b);
    bb_seal(&b, ds);
    CHECK_STATUS(open_bb(&b), AL_EFORMAT);
    bb_begin(&b, 0, 4);
    bb_str(&b, "k");
    bb_le(&b, GGUF_T_U8, 4);
    bb_le(&b, 1, 1);
    bb_str(&b, "k");
    bb_le(&b, GGUF_T_U8, 4);
    bb_le(&b, 2, 1);
    ds = bb_pad(&b);
    bb_seal(&b, ds);
    CHECK_STATUS(open_bb(&b), AL_EFORMAT);
    CHECK(strstr(al_last_error(), "duplicate") != NULL);
    bb_begin(&b, 0, 3);
    bb_str(&b, GGUF_KEY_ALIGNMENT);
    bb_le(&b, GGUF_T_U32, 4);
    bb_le(&b, 48, 4);
    ds = bb_pad(&b);
    bb_seal(&b, ds);
    CHECK_STATUS(open_bb(&b), AL_EFORMAT);

    /* tensors with valid CRCs: huge dims, overflowing product, zero dim,
     * 5 dims, offset beyond the file, misaligned offset, overlap, a name
     * longer than 64 bytes, unknown type, duplicate names */
    struct {
        int ndim;
        uint64_t ne[4];
        uint32_t type;
        uint64_t off;
        al_status want;
    } cases[] = {
        {2, {(uint64_t)1 << 62, (uint64_t)1 << 62}, GGML_T_F32, 0, AL_EFORMAT},
        {3, {(uint64_t)1 << 32, (uint64_t)1 << 32, (uint64_t)1 << 32}, GGML_T_F32, 0, AL_EFORMAT},
        {4, {2, 2, 2, (uint64_t)1 << 63}, GGML_T_I8, 0, AL_EFORMAT},
        {2, {UINT64_MAX, UINT64_MAX}, GGML_T_F64, 0, AL_EFORMAT},
        {1, {0}, GGML_T_F32, 0, AL_EFORMAT},
        {1, {2}, GGML_T_F32, 1u << 20, AL_EFORMAT},
        {1, {2}, GGML_T_F32, UINT64_MAX - 3, AL_EFORMAT},
        {1, {2}, GGML_T_F32, 4, AL_EFORMAT},
        {1, {2}, 2 /* Q4_0 */, 0, AL_EUNSUPPORTED},
        {1, {2}, GGML_T_F32, 0, AL_OK},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bb_begin(&b, 1, 2);
        bb_tensor(&b, "t", cases[i].ndim, cases[i].ne, cases[i].type, cases[i].off);
        ds = bb_pad(&b);
        bb_le(&b, 0, 8);
        bb_pad(&b);
        bb_seal(&b, ds);
        al_status st = open_bb(&b);
        if (st != cases[i].want)
            fprintf(stderr, "hostile tensor case %zu: %s (%s)\n", i, al_status_name(st), al_last_error());
        CHECK(st == cases[i].want);
    }
    bb_begin(&b, 1, 2);
    bb_str(&b, "t");
    bb_le(&b, 5, 4);
    for (int d = 0; d < 5; d++) bb_le(&b, 1, 8);
    bb_le(&b, GGML_T_F32, 4);
    bb_le(&b, 0, 8);
    ds = bb_pad(&b);
    bb_zero(&b, 32);
    bb_seal(&b, ds);
    CHECK_STATUS(open_bb(&b), AL_EFORMAT);
    ne[0] = 4;
    for (int dup = 0; dup < 3; dup++) {
        bb_begin(&b, 2, 2);
        bb_tensor(&b, "t", 1, ne, GGML_T_F32, 0);
        bb_tensor(&b, dup == 1 ? "t" : "u", 1, ne, GGML_T_F32, dup == 2 ? 32 : 0);
        ds = bb_pad(&b);
        bb_le(&b, 0, 8);
        bb_le(&b, 0, 8);
        bb_pad(&b);
        bb_le(&b, 0, 8);
        bb_le(&b, 0, 8);
        bb_pad(&b);
        bb_seal(&b, ds);
        CHECK_STATUS(open_bb(&b), dup == 2 ? AL_OK : AL_EFORMAT); /* 0: overlap, 1: same name */
    }
    char longname[80];
    memset(longname, 'n', 65);
    longname[65] = '\0';
    bb_begin(&b, 1, 2);
    bb_tensor(&b, longname, 1, ne, GGML_T_F32, 0);
    ds = bb_pad(&b);
    bb_zero(&b, 16);
    bb_pad(&b);
    bb_seal(&b, ds);
    CHECK_STATUS(open_bb(&b), AL_EFORMAT);

    /* the GGUF is fine but has no checksum keys */
    bb_begin(&b, 0, 0);
    b.n = 24;
    bb_pad(&b);
    CHECK_STATUS(open_bb(&b), AL_EFORMAT);
    CHECK(strstr(al_last_error(), "checksum") != NULL);

    track_end();
    CHECK(max_alloc < ((size_t)1 << 20));
    if (max_alloc >= ((size_t)1 << 20)) fprintf(stderr, "hostile files: an allocation of %zu bytes\n", max_alloc);
}

/* ---- model-level checks, through a GGUF copy with one change ------------------ */

enum { RW_COPY, RW_DROP, RW_EXTRA, RW_TRANSPOSE, RW_I32, RW_ARCH, RW_VERSION, RW_FREEZE, RW_HUGE, RW_BADTYPE, RW_NOKEY,
       RW_NAN, RW_MULSRC };

static int rewrite_kv(al_test_kv *kv, void *ctx) {
    int mode = *(const int *)ctx;
    const char *key = kv->key;
    if (mode == RW_NOKEY && !strcmp(key, "autlearn.layer.1.units")) return 0;
    if (mode == RW_ARCH && !strcmp(key, "general.architecture")) snprintf(kv->str, sizeof kv->str, "llama");
    if (mode == RW_BADTYPE && !strcmp(key, "autlearn.layer.1.type")) snprintf(kv->str, sizeof kv->str, "transformer");
    if (mode == RW_MULSRC && !strcmp(key, "autlearn.layer.1.type")) snprintf(kv->str, sizeof kv->str, "mul");
    /* 2: fused activations, 3: a graph, 4: n-input nodes, 5: ports, dilations, 6: static int8 scales,
     * 7: int8 adds */
    if (mode == RW_VERSION && !strcmp(key, "autlearn.format_version")) kv->u32 = 8;
    if (mode == RW_FREEZE && !strcmp(key, "autlearn.first_trainable")) kv->u32 = 99;
    if (mode == RW_HUGE && !strcmp(key, "autlearn.layer.0.units")) kv->i32 = 1 << 14;
    if (mode == RW_MULSRC && !strcmp(key, "autlearn.layer.1.src")) kv->i32 = 1; /* itself: not an earlier node */
    if (mode == RW_NAN && !strcmp(key, "autlearn.layer.0.rate")) kv->f32 = NAN;
    if (mode == RW_HUGE && kv->type == GGUF_T_ARRAY) kv->arr[0] = 1 << 14;
    return 1;
}

/* Rewrites a model file through the generic reader and writer, changing one
 * thing; returns the load status of the result. */
static al_status rewrite_and_load(const unsigned char *b, size_t n, int mode) {
    gguf_reader *r;
    REQUIRE_OK(gguf_reader_open_mem(b, n, GGUF_REQUIRE_CRC, &r));
    gguf_writer *w;
    REQUIRE_OK(gguf_writer_new(0, &w));
    al_test_copy_kvs(r, w, rewrite_kv, &mode);
    static float bufs[8][64];
    static int32_t ibuf[64];
    for (size_t i = 0; i < gguf_num_tensors(r); i++) {
        const gguf_tensor *t = gguf_tensor_at(r, i);
        char name[80];
        snprintf(name, sizeof name, "%.*s", (int)t->name.n, t->name.p);
        if (mode == RW_DROP && !strcmp(name, "1.bias")) continue;
        REQUIRE_OK(gguf_tensor_read_f32(t, bufs[i], (size_t)t->nelem));
        uint64_t ne[4] = {t->ne[0], t->ne[1], t->ne[2], t->ne[3]};
        if (mode == RW_TRANSPOSE && !strcmp(name, "0.weight")) {
            ne[0] = t->ne[1];
            ne[1] = t->ne[0];
        }
        if (mode == RW_I32 && !strcmp(name, "0.weight"))
            gguf_add_tensor(w, name, GGML_T_I32, t->ndim, ne, ibuf);
        else
            gguf_add_tensor(w, name, GGML_T_F32, t->ndim, ne, bufs[i]);
    }
    if (mode == RW_EXTRA) {
        uint64_t ne[1] = {3};
        gguf_add_tensor(w, "5.weight", GGML_T_F32, 1, ne, bufs[0]);
    }
    REQUIRE_OK(gguf_writer_save(w, tpath("rw.gguf")));
    gguf_writer_free(w);
    gguf_reader_free(r);
    al_model *m = NULL;
    if (mode == RW_HUGE) track_begin();
    al_status st = al_model_load(tpath("rw.gguf"), &m);
    if (mode == RW_HUGE) {
        track_end();
        CHECK(max_alloc < ((size_t)1 << 20));
    }
    al_model_free(m);
    unlink(tpath("rw.gguf"));
    return st;
}

static void test_model_checks(void) {
    size_t n;
    unsigned char *b = small_model_file(&n);
    CHECK_STATUS(rewrite_and_load(b, n, RW_COPY), AL_OK);
    CHECK_STATUS(rewrite_and_load(b, n, RW_DROP), AL_EFORMAT);
    CHECK(strstr(al_last_error(), "'1.bias' is missing") != NULL);
    CHECK_STATUS(rewrite_and_load(b, n, RW_EXTRA), AL_EFORMAT);
    CHECK(strstr(al_last_error(), "unexpected tensor '5.weight'") != NULL);
    CHECK_STATUS(rewrite_and_load(b, n, RW_TRANSPOSE), AL_EFORMAT);
    CHECK(strstr(al_last_error(), "shape [3, 4]") != NULL);
    CHECK_STATUS(rewrite_and_load(b, n, RW_I32), AL_EFORMAT);
    CHECK_STATUS(rewrite_and_load(b, n, RW_ARCH), AL_EFORMAT);
    CHECK(strstr(al_last_error(), "not an autlearn model") != NULL);
    CHECK_STATUS(rewrite_and_load(b, n, RW_VERSION), AL_EUNSUPPORTED);
    CHECK_STATUS(rewrite_and_load(b, n, RW_FREEZE), AL_EFORMAT);
    CHECK_STATUS(rewrite_and_load(b, n, RW_HUGE), AL_EFORMAT);
    CHECK_STATUS(rewrite_and_load(b, n, RW_BADTYPE), AL_EFORMAT);
    CHECK_STATUS(rewrite_and_load(b, n, RW_NOKEY), AL_EFORMAT);
    CHECK(strstr(al_last_error(), "autlearn.layer.1.units") != NULL);
    CHECK_STATUS(rewrite_and_load(b, n, RW_NAN), AL_EFORMAT);
    CHECK_STATUS(rewrite_and_load(b, n, RW_MULSRC), AL_EFORMAT);
    CHECK(strstr(al_last_error(), "layer 1 (mul) reads node 1, which is not an earlier node") != NULL);
    al_free(b);

    /* a meta key the layout owns cannot be set (so every model can be
     * saved: test_api_args); the file keeps the layout's value */
    al_model *m;
    REQUIRE_OK(al_model_from_spec("input 3; dense 2", 1, &m));
    CHECK_STATUS(al_model_set_meta(m, "autlearn.layer.0.units", "5"), AL_EINVAL);
    CHECK(al_model_meta(m, "autlearn.layer.0.units") == NULL);
    CHECK_OK(al_model_save(m, tpath("x.gguf")));
    al_model_free(m);
    REQUIRE_OK(al_model_load(tpath("x.gguf"), &m));
    CHECK(al_model_output_shape(m).shape[0] == 2);
    al_model_free(m);
    unlink(tpath("x.gguf"));

    /* missing file, directory, empty file */
    CHECK_STATUS(al_model_load(tpath("nope.gguf"), &m), AL_EIO);
    CHECK(m == NULL);
    CHECK_STATUS(al_model_load(tmpdir, &m), AL_EIO);
    FILE *f = fopen(tpath("empty.gguf"), "wb");
    fclose(f);
    CHECK_STATUS(al_model_load(tpath("empty.gguf"), &m), AL_EFORMAT);
    CHECK(strstr(al_last_error(), "empty.gguf") != NULL);
    unlink(tpath("empty.gguf"));
}

/* ---- atomic save ------------------------------------------------------------------- */

static void test_atomic(void) {
    al_model *m;
    REQUIRE_OK(al_model_from_spec("input 3; dense 4; dense 2", 5, &m));
    int has_tmp;
    CHECK(dir_entries(&has_tmp) == 0);
    char p[256];
    snprintf(p, sizeof p, "%s", tpath("a.gguf"));
    REQUIRE_OK(al_model_save(m, p));
    CHECK(dir_entries(&has_tmp) == 1 && !has_tmp);
    struct stat sb;
    CHECK(stat(p, &sb) == 0 && (sb.st_mode & 077) == 0);
    size_t n0;
    unsigned char *orig = slurp(p, &n0);

    /* a failing save into a missing directory leaves nothing behind */
    CHECK_STATUS(al_model_save(m, tpath("no/such/dir/a.gguf")), AL_EIO);
    CHECK(dir_entries(&has_tmp) == 1 && !has_tmp);
    /* rename onto a directory fails after the temp file was written */
    CHECK(mkdir(tpath("sub"), 0700) == 0);
    CHECK_STATUS(al_model_save(m, tpath("sub")), AL_EIO);
    CHECK(dir_entries(&has_tmp) == 2 && !has_tmp);
    rmdir(tpath("sub"));

    /* out of memory at every allocation of a save over the existing file:
     * the old file stays intact and no temporary file is left */
    al_model *m2;
    REQUIRE_OK(al_model_from_spec("input 3; dense 4; dense 2", 6, &m2));
    int failures = 0;
    for (long k = 1; k < 200; k++) {
        al_alloc_fail_at(k);
        al_status st = al_model_save(m2, p);
        al_alloc_fail_at(0);
        if (st == AL_OK) break;
        failures++;
        CHECK(st == AL_ENOMEM);
        CHECK(dir_entries(&has_tmp) == 1 && !has_tmp);
        size_t n1;
        unsigned char *now = slurp(p, &n1);
        CHECK(n1 == n0 && memcmp(now, orig, n0) == 0);
        al_free(now);
    }
    CHECK(failures > 3);
    /* the last iteration succeeded: the file now holds m2 */
    al_model *m3;
    REQUIRE_OK(al_model_load(p, &m3));
    CHECK(memcmp(m3->wblock, m2->wblock, sizeof(float) * m2->nweights) == 0);
    CHECK(dir_entries(&has_tmp) == 1 && !has_tmp);
    al_model_free(m3);
    al_model_free(m2);
    al_free(orig);
    unlink(p);
    al_model_free(m);
}

/* Many keys and tensors: a duplicate is found at every point of the
 * writer's name index (the first name, one written before and after the
 * index grew, the last), and distinct names all go in. 200,000 keys: a
 * check per earlier name (as before the index) would take minutes. */
static void test_many_names(void) {
    enum { NK = 200000, NT = 20000 };
    static const float one = 1.0f;
    const uint64_t ne = 1;
    const long probe[4] = {0, 40, 100, NK - 1};
    for (int tens = 0; tens < 2; tens++) {
        const long n = tens ? NT : NK;
        for (int p = 0; p < 4; p++) {
            gguf_writer *w;
            REQUIRE_OK(gguf_writer_new(0, &w));
            char name[64];
            al_status st = AL_OK;
            for (long i = 0; i < n && st == AL_OK; i++) {
                snprintf(name, sizeof name, "layer.%ld.units", i);
                st = tens ? gguf_add_tensor(w, name, GGML_T_F32, 1, &ne, &one) : gguf_set_i32(w, name, (int32_t)i);
            }
            CHECK_OK(st);
            long d = probe[p] < n ? probe[p] : n - 1;
            snprintf(name, sizeof name, "layer.%ld.units", d);
            st = tens ? gguf_add_tensor(w, name, GGML_T_F32, 1, &ne, &one) : gguf_set_i32(w, name, 0);
            CHECK_STATUS(st, AL_EINVAL);
            CHECK(strstr(al_last_error(), "duplicate") != NULL && strstr(al_last_error(), name) != NULL);
            gguf_writer_free(w);
        }
    }
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/al_gguf_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_crc32();
    test_generic();
    test_many_names();
    test_atomic();
    test_roundtrip();
    test_truncation();
    test_bitflips();
    test_hostile();
    test_model_checks();
    int has_tmp;
    int left = dir_entries(&has_tmp);
    CHECK(left == 0);
    if (left > 0) fprintf(stderr, "test_gguf: %d files left in %s\n", left, tmpdir);
    if (rmdir(tmpdir) != 0) fprintf(stderr, "test_gguf: cannot remove %s: %s\n", tmpdir, strerror(errno));
    TEST_END("test_gguf");
}
