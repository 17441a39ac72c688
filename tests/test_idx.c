/* IDX loading (plain and gzip), its error cases, the directory finder, the
 * real Fashion-MNIST when installed, and the dataset helpers. */
#include "al_test.h"

#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define FASHION_DIR "/usr/share/datasets/fashion-mnist"

static char tmpdir[256];

static void put32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static void write_bytes(const char *path, const unsigned char *b, size_t n, int gz) {
    if (gz) {
        gzFile f = gzopen(path, "wb");
        if (!f || gzwrite(f, b, (unsigned)n) != (int)n || gzclose(f) != Z_OK) {
            fprintf(stderr, "cannot write %s\n", path);
            exit(1);
        }
    } else {
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(b, 1, n, f) != n || fclose(f) != 0) {
            fprintf(stderr, "cannot write %s\n", path);
            exit(1);
        }
    }
}

/* An images file of n HxW images, pixel (i, y, x) = (i*31 + y*7 + x) & 255,
 * with `extra` bytes added (negative: removed) and the given magic. */
static size_t make_images(unsigned char *b, uint32_t magic, uint32_t n, uint32_t h, uint32_t w, int extra) {
    put32(b, magic);
    put32(b + 4, n);
    put32(b + 8, h);
    put32(b + 12, w);
    size_t k = 16;
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t y = 0; y < h; y++)
            for (uint32_t x = 0; x < w; x++) b[k++] = (unsigned char)((i * 31 + y * 7 + x) & 255);
    for (int e = 0; e < extra; e++) b[k++] = 0xab;
    return extra < 0 ? k - (size_t)(-extra) : k;
}

static size_t make_labels(unsigned char *b, uint32_t magic, uint32_t n, const unsigned char *labels, int extra) {
    put32(b, magic);
    put32(b + 4, n);
    memcpy(b + 8, labels, n);
    size_t k = 8 + n;
    for (int e = 0; e < extra; e++) b[k++] = 0;
    return extra < 0 ? k - (size_t)(-extra) : k;
}

static void path_of(char *out, size_t cap, const char *name) { snprintf(out, cap, "%s/%s", tmpdir, name); }

static const unsigned char LABELS[5] = {3, 0, 7, 1, 3};

static void check_tiny(const al_dataset *d) {
    CHECK(al_dataset_size(d) == 5);
    al_tensor s = al_dataset_x_shape(d);
    CHECK(s.ndim == 3 && s.shape[0] == 1 && s.shape[1] == 4 && s.shape[2] == 3);
    CHECK(al_dataset_y_len(d) == 1);
    CHECK(al_dataset_num_classes(d) == 8);
    for (int i = 0; i < 5; i++) {
        CHECK(al_dataset_y(d, i)[0] == LABELS[i]);
        const float *x = al_dataset_x(d, i);
        for (int y = 0; y < 4; y++)
            for (int xx = 0; xx < 3; xx++)
                CHECK_NEAR(x[y * 3 + xx], (double)((i * 31 + y * 7 + xx) & 255) / 255.0, 1e-7);
    }
    CHECK(al_dataset_x(d, 5) == NULL && al_dataset_y(d, -1) == NULL);
}

static void test_roundtrip(void) {
    static unsigned char img[16 + 5 * 12 + 8], lab[8 + 5 + 8];
    size_t ni = make_images(img, 0x803, 5, 4, 3, 0), nl = make_labels(lab, 0x801, 5, LABELS, 0);
    char ip[512], lp[512];
    for (int gz = 0; gz < 2; gz++) {
        path_of(ip, sizeof ip, gz ? "train-images-idx3-ubyte.gz" : "plain-images");
        path_of(lp, sizeof lp, gz ? "train-labels-idx1-ubyte.gz" : "plain-labels");
        write_bytes(ip, img, ni, gz);
        write_bytes(lp, lab, nl, gz);
        al_dataset *d = NULL;
        CHECK_OK(al_idx_load(ip, lp, &d));
        if (d) check_tiny(d);
        al_dataset_free(d);
    }
    /* the directory finder: train split present (gz), test split missing, then plain t10k */
    al_dataset *d = NULL;
    CHECK_OK(al_idx_load_dir(tmpdir, 0, &d));
    if (d) check_tiny(d);
    al_dataset_free(d);
    d = NULL;
    CHECK_STATUS(al_idx_load_dir(tmpdir, 1, &d), AL_EIO);
    CHECK(d == NULL);
    CHECK(strstr(al_last_error(), "t10k-images-idx3-ubyte") != NULL);
    path_of(ip, sizeof ip, "t10k-images-idx3-ubyte");
    path_of(lp, sizeof lp, "t10k-labels-idx1-ubyte");
    write_bytes(ip, img, ni, 0);
    write_bytes(lp, lab, nl, 0);
    CHECK_OK(al_idx_load_dir(tmpdir, 1, &d));
    if (d) check_tiny(d);
    al_dataset_free(d);
    d = NULL;
    CHECK_STATUS(al_idx_load_dir(tmpdir, 2, &d), AL_EINVAL);
}

/* Writes images/labels (plain or gz) and expects `want` with `msg` in the message. */
static void expect_error(const unsigned char *img, size_t ni, const unsigned char *lab, size_t nl, int gz,
                         al_status want, const char *msg, int line) {
    char ip[512], lp[512];
    path_of(ip, sizeof ip, gz ? "bad-images.gz" : "bad-images");
    path_of(lp, sizeof lp, gz ? "bad-labels.gz" : "bad-labels");
    write_bytes(ip, img, ni, gz);
    write_bytes(lp, lab, nl, gz);
    al_dataset *d = (al_dataset *)1;
    al_status st = al_idx_load(ip, lp, &d);
    if (st != want || (st != AL_OK && d != NULL) || (msg && !strstr(al_last_error(), msg))) {
        fprintf(stderr, "line %d (gz %d): got %s \"%s\", want %s with \"%s\"\n", line, gz, al_status_name(st),
                al_last_error(), al_status_name(want), msg ? msg : "");
        al_test_failures++;
    }
    if (st == AL_OK) al_dataset_free(d);
}

static void test_errors(void) {
    static unsigned char img[16 + 6 * 12 + 16], lab[8 + 6 + 16];
    unsigned char six[6] = {3, 0, 7, 1, 3, 2};
    for (int gz = 0; gz < 2; gz++) {
        size_t ni = make_images(img, 0x803, 5, 4, 3, 0), nl = make_labels(lab, 0x801, 5, LABELS, 0);
        /* sanity: the unmodified pair loads */
        expect_error(img, ni, lab, nl, gz, AL_OK, NULL, __LINE__);
        /* truncated pixels: the byte counts are in the message */
        expect_error(img, ni - 5, lab, nl, gz, AL_EFORMAT, gz ? "need 60 bytes" : "announces 60 bytes", __LINE__);
        expect_error(img, ni - 5, lab, nl, gz, AL_EFORMAT, gz ? "has 55" : "has 71", __LINE__);
        /* truncated labels, truncated header */
        expect_error(img, ni, lab, nl - 2, gz, AL_EFORMAT, "truncated", __LINE__);
        expect_error(img, 10, lab, nl, gz, AL_EFORMAT, "header", __LINE__);
        /* extra trailing bytes */
        size_t nx = make_images(img, 0x803, 5, 4, 3, 3);
        expect_error(img, nx, lab, nl, gz, AL_EFORMAT, "extra", __LINE__);
        size_t lx = make_labels(lab, 0x801, 5, LABELS, 1);
        expect_error(img, ni, lab, lx, gz, AL_EFORMAT, "extra", __LINE__);
        /* wrong magic (labels as images, and a 16-bit type) */
        make_images(img, 0x801, 5, 4, 3, 0);
        expect_error(img, ni, lab, nl, gz, AL_EFORMAT, "magic", __LINE__);
        make_images(img, 0x803, 5, 4, 3, 0);
        make_labels(lab, 0x0b01, 5, LABELS, 0);
        expect_error(img, ni, lab, nl, gz, AL_EFORMAT, "magic", __LINE__);
        /* counts differ: both numbers named */
        nl = make_labels(lab, 0x801, 6, six, 0);
        expect_error(img, ni, lab, nl, gz, AL_EFORMAT, "5 images", __LINE__);
        expect_error(img, ni, lab, nl, gz, AL_EFORMAT, "6 labels", __LINE__);
        /* zero and oversized dimensions */
        nl = make_labels(lab, 0x801, 5, LABELS, 0);
        put32(img + 8, 0);
        expect_error(img, ni, lab, nl, gz, AL_EFORMAT, "dimension 1", __LINE__);
        put32(img + 8, 5000);
        expect_error(img, ni, lab, nl, gz, AL_EFORMAT, "dimension 1", __LINE__);
        /* a header announcing gigabytes in a tiny file: refused before allocating */
        make_images(img, 0x803, 5, 4, 3, 0);
        put32(img + 4, 1u << 24);
        put32(img + 8, 4096);
        put32(img + 12, 4096);
        make_labels(lab, 0x801, 5, LABELS, 0);
        put32(lab + 4, 1u << 24);
        expect_error(img, ni, lab, nl, gz, AL_EFORMAT, NULL, __LINE__);
    }
    /* a corrupt gzip stream */
    {
        size_t ni = make_images(img, 0x803, 5, 4, 3, 0), nl = make_labels(lab, 0x801, 5, LABELS, 0);
        char ip[512], lp[512];
        path_of(ip, sizeof ip, "corrupt-images.gz");
        path_of(lp, sizeof lp, "corrupt-labels");
        write_bytes(ip, img, ni, 1);
        write_bytes(lp, lab, nl, 0);
        FILE *f = fopen(ip, "r+b");
        REQUIRE_OK(f ? AL_OK : AL_EIO);
        fseek(f, 0, SEEK_END);
        long sz = ftell(f);
        fseek(f, sz / 2, SEEK_SET);
        unsigned char junk[8] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
        fwrite(junk, 1, sizeof junk, f);
        fclose(f);
        al_dataset *d = NULL;
        al_status st = al_idx_load(ip, lp, &d);
        CHECK(st == AL_EFORMAT);
        CHECK(d == NULL);
        al_dataset_free(d);
    }
    /* missing file */
    al_dataset *d = NULL;
    CHECK_STATUS(al_idx_load("/nonexistent/x", "/nonexistent/y", &d), AL_EIO);
    CHECK_STATUS(al_idx_load(NULL, "/nonexistent/y", &d), AL_EINVAL);
}

static void test_dataset_helpers(void) {
    float x[4 * 2] = {0, 1, 2, 3, 4, 5, 6, 7};
    int32_t y[4] = {1, -1, 0, 2};
    al_tensor s = {NULL, 1, {2, 0, 0, 0}};
    al_dataset *d = NULL, *sub = NULL;
    REQUIRE_OK(al_dataset_from_arrays(x, y, 4, &s, 1, 3, &d));
    x[0] = 99; /* a copy was taken */
    CHECK(al_dataset_x(d, 0)[0] == 0.0f);
    CHECK(al_dataset_num_classes(d) == 3);
    int idx[3] = {3, 3, 1};
    REQUIRE_OK(al_dataset_subset(d, idx, 3, &sub));
    CHECK(al_dataset_size(sub) == 3);
    CHECK(al_dataset_x(sub, 0)[1] == 7.0f && al_dataset_x(sub, 1)[0] == 6.0f && al_dataset_x(sub, 2)[0] == 2.0f);
    CHECK(al_dataset_y(sub, 0)[0] == 2 && al_dataset_y(sub, 2)[0] == -1);
    al_dataset_free(sub);
    sub = NULL;
    int badidx[2] = {0, 4};
    CHECK_STATUS(al_dataset_subset(d, badidx, 2, &sub), AL_ERANGE);
    CHECK(sub == NULL);
    badidx[1] = -1;
    CHECK_STATUS(al_dataset_subset(d, badidx, 2, &sub), AL_ERANGE);
    REQUIRE_OK(al_dataset_subset(d, NULL, 0, &sub));
    CHECK(al_dataset_size(sub) == 0);
    al_dataset_free(sub);
    al_dataset_free(d);
    d = NULL;
    y[3] = 3; /* == num_classes */
    CHECK_STATUS(al_dataset_from_arrays(x, y, 4, &s, 1, 3, &d), AL_ERANGE);
    CHECK(strstr(al_last_error(), "sample 3") != NULL);
    CHECK(d == NULL);
    y[3] = 2;
    al_tensor bad = {NULL, 1, {0, 0, 0, 0}};
    CHECK_STATUS(al_dataset_from_arrays(x, y, 4, &bad, 1, 3, &d), AL_ESHAPE);
    CHECK_STATUS(al_dataset_from_arrays(x, y, 4, &s, 0, 3, &d), AL_ERANGE);
    CHECK_STATUS(al_dataset_from_arrays(NULL, y, 4, &s, 1, 3, &d), AL_EINVAL);
    /* allocation failure at each allocation in turn: a clean error, no leak */
    for (long k = 1; k <= 3; k++) {
        al_alloc_fail_at(k);
        al_status st = al_dataset_from_arrays(x, y, 4, &s, 1, 3, &d);
        al_alloc_fail_at(0);
        CHECK(st == AL_ENOMEM || st == AL_OK);
        if (st == AL_OK) al_dataset_free(d);
        else CHECK(d == NULL);
    }
}

static void test_fashion(void) {
    struct stat sb;
    if (stat(FASHION_DIR, &sb) != 0) {
        fprintf(stderr, "test_idx: %s not found (apt-get install dataset-fashion-mnist): Fashion-MNIST part SKIPPED\n",
                FASHION_DIR);
        return;
    }
    al_dataset *tr = NULL, *te = NULL;
    REQUIRE_OK(al_idx_load_dir(FASHION_DIR, 0, &tr));
    REQUIRE_OK(al_idx_load_dir(FASHION_DIR, 1, &te));
    CHECK(al_dataset_size(tr) == 60000);
    CHECK(al_dataset_size(te) == 10000);
    CHECK(al_dataset_num_classes(tr) == 10 && al_dataset_num_classes(te) == 10);
    al_tensor s = al_dataset_x_shape(tr);
    CHECK(s.ndim == 3 && s.shape[0] == 1 && s.shape[1] == 28 && s.shape[2] == 28);
    /* balanced classes (6000 / 1000 each) and pixels in [0,1] with some at 1 */
    int cnt[10] = {0};
    for (int i = 0; i < 60000; i++) cnt[al_dataset_y(tr, i)[0]]++;
    for (int c = 0; c < 10; c++) CHECK(cnt[c] == 6000);
    const float *x = al_dataset_x(te, 0);
    float lo = 1, hi = 0;
    for (int i = 0; i < 10000 * 784; i++) {
        lo = fminf(lo, x[i]);
        hi = fmaxf(hi, x[i]);
    }
    CHECK(lo == 0.0f && hi == 1.0f);
    al_dataset_free(tr);
    al_dataset_free(te);
}

/* al_idx_save: what it writes reads back the same (pixels that are k/255
 * exactly), and what IDX cannot hold is refused. */
static void test_save(void) {
    enum { NS = 7, H = 3, W = 5 };
    float x[NS * H * W];
    int32_t y[NS];
    for (int i = 0; i < NS * H * W; i++) x[i] = (float)((i * 37) % 256) * (1.0f / 255.0f); /* as the reader scales */
    for (int i = 0; i < NS; i++) y[i] = (i * 5) % 11;
    al_tensor sh = {NULL, 3, {1, H, W}};
    al_dataset *d, *back;
    REQUIRE_OK(al_dataset_from_arrays(x, y, NS, &sh, 1, 11, &d));
    char ip[300], lp[300];
    path_of(ip, sizeof ip, "saved-images");
    path_of(lp, sizeof lp, "saved-labels");
    CHECK_OK(al_idx_save(d, ip, lp));
    REQUIRE_OK(al_idx_load(ip, lp, &back));
    CHECK(back->n == NS && back->xs.d[1] == H && back->xs.d[2] == W && back->num_classes == 11);
    CHECK(memcmp(back->x, x, sizeof x) == 0);
    CHECK(memcmp(back->y, y, sizeof y) == 0);
    al_dataset_free(back);
    d->x[3] = 1.5f;
    CHECK_STATUS(al_idx_save(d, ip, lp), AL_EINVAL);
    al_dataset_free(d);
    al_tensor sh3 = {NULL, 3, {3, 1, 5}};
    REQUIRE_OK(al_dataset_from_arrays(x, y, NS, &sh3, 1, 11, &d));
    CHECK_STATUS(al_idx_save(d, ip, lp), AL_EINVAL); /* three channels */
    al_dataset_free(d);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/al_test_idx_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_roundtrip();
    test_save();
    test_errors();
    test_dataset_helpers();
    test_fashion();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    TEST_END("test_idx");
}
