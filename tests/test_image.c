/* Images: decoding (JPEG, PNG, EXIF orientation) and preprocessing against
 * PIL and PyTorch (tests/golden/images, scripts/gen_image_golden.py); bad
 * input (truncated, corrupt, a header claiming 60000x60000 pixels, EXIF
 * with bad offsets); image folders (classes, matching by name, skipped and
 * ignored files, empty class, one class, symlink loops); file lists; pixel
 * buffers (RGBA, ARGB with strides); the model's image metadata. */
#include "al_test.h"

#include <errno.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define GOLD AL_SOURCE_DIR "/tests/golden/images"

static uint8_t *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)len + 1);
    if (fread(b, 1, (size_t)len, f) != (size_t)len) exit(1);
    fclose(f);
    *n = (size_t)len;
    return b;
}

static void write_all(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
    fclose(f);
}

/* ---- golden: decoding and preprocessing ---------------------------------------------- */

static void test_golden(void) {
    FILE *f = fopen(GOLD "/expected.txt", "r");
    REQUIRE_OK(f ? AL_OK : AL_EIO);
    char kind[16], name[64];
    int ndec = 0, nprep = 0;
    while (fscanf(f, "%15s %63s", kind, name) == 2) {
        char path[512];
        snprintf(path, sizeof path, GOLD "/%s", name);
        al_image img;
        al_status st = al_image_read(path, &img);
        CHECK_OK(st);
        if (!strcmp(kind, "decode")) {
            int w, h, c;
            if (fscanf(f, "%d %d %d", &w, &h, &c) != 3) break;
            int bad = 0, maxd = 0;
            if (st == AL_OK && (img.width != w || img.height != h || img.channels != c)) {
                fprintf(stderr, "%s: decoded %dx%dx%d, PIL %dx%dx%d\n", name, img.width, img.height, img.channels, w,
                        h, c);
                bad = 1;
            }
            for (long i = 0; i < (long)w * h * c; i++) {
                int v;
                if (fscanf(f, "%d", &v) != 1) exit(1);
                if (st == AL_OK && !bad) {
                    int d = abs((int)img.pixels[i] - v);
                    if (d > maxd) maxd = d;
                }
            }
            if (maxd) fprintf(stderr, "%s: decoded pixels differ from PIL's by up to %d\n", name, maxd);
            CHECK(!bad && maxd == 0);
            ndec++;
        } else {
            al_image_prep p;
            char rs[16];
            memset(&p, 0, sizeof p);
            if (fscanf(f, "%d %d %d %15s %f %f %f %f %f %f %f", &p.channels, &p.height, &p.width, rs, &p.scale,
                       &p.mean[0], &p.mean[1], &p.mean[2], &p.std[0], &p.std[1], &p.std[2]) != 11)
                break;
            p.resize = !strcmp(rs, "crop") ? AL_RESIZE_CROP : AL_RESIZE_STRETCH;
            size_t n = (size_t)p.channels * p.height * p.width;
            float *got = calloc(n, sizeof(float));
            if (st == AL_OK) CHECK_OK(al_image_preprocess(&img, &p, got));
            double maxd = 0;
            for (size_t i = 0; i < n; i++) {
                float v;
                if (fscanf(f, "%f", &v) != 1) exit(1);
                double d = fabs(got[i] - v);
                if (d > maxd) maxd = d;
            }
            if (maxd > 2e-4) fprintf(stderr, "%s %dx%dx%d %s: differs from PyTorch by %g\n", name, p.channels,
                                     p.height, p.width, rs, maxd);
            CHECK(maxd <= 2e-4);
            free(got);
            nprep++;
        }
        al_image_free(&img);
    }
    fclose(f);
    CHECK(ndec == 18);
    CHECK(nprep == 7);
}

/* ---- bad input ---------------------------------------------------------------------------- */

/* The largest single allocation through the library's allocator. */
static size_t biggest;
static void *count_malloc(void *u, size_t n) {
    (void)u;
    if (n > biggest) biggest = n;
    return malloc(n);
}
static void count_free(void *u, void *p) {
    (void)u;
    free(p);
}

static void put_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void test_bad_input(void) {
    al_image img;
    size_t n;
    uint8_t *png = read_all(GOLD "/big.png", &n), *jpg;
    /* truncated: every cut of the PNG fails cleanly */
    for (size_t cut = 0; cut < n; cut += 97) CHECK(al_image_decode(png, cut, &img) != AL_OK && !img.pixels);
    CHECK_STATUS(al_image_decode(png, n - 20, &img), AL_EFORMAT);
    /* a flipped byte inside IDAT: the chunk's CRC */
    png[n / 2] ^= 0x55;
    CHECK_STATUS(al_image_decode(png, n, &img), AL_EFORMAT);
    png[n / 2] ^= 0x55;
    CHECK_OK(al_image_decode(png, n, &img));
    al_image_free(&img);
    /* a header claiming 60000x60000 (IHDR at offset 16; the CRC fixed up):
     * refused from the header, nothing large allocated */
    uint8_t hdr[64];
    memcpy(hdr, png, 33);
    put_be32(hdr + 16, 60000);
    put_be32(hdr + 20, 60000);
    {
        uLong crc = crc32(0L, hdr + 12, 17);
        put_be32(hdr + 29, (uint32_t)crc);
    }
    al_allocator a = {count_malloc, count_free, NULL};
    al_set_allocator(&a);
    biggest = 0;
    CHECK_STATUS(al_image_decode(hdr, 33, &img), AL_ERANGE);
    CHECK(strstr(al_last_error(), "60000x60000") != NULL);
    CHECK(biggest < 1 << 20);
    al_set_allocator(NULL);
    /* 100000x100000 is over libpng's side limit: refused as well */
    put_be32(hdr + 16, 100000);
    put_be32(hdr + 20, 100000);
    put_be32(hdr + 29, (uint32_t)crc32(0L, hdr + 12, 17));
    CHECK(al_image_decode(hdr, 33, &img) != AL_OK && !img.pixels);
    free(png);

    jpg = read_all(GOLD "/rgb.jpg", &n);
    for (size_t cut = 0; cut < n; cut += 37) CHECK(al_image_decode(jpg, cut, &img) != AL_OK && !img.pixels);
    CHECK_STATUS(al_image_decode(jpg, n - 40, &img), AL_EFORMAT);
    CHECK(strstr(al_last_error(), "JPEG") != NULL);
    /* the SOF0 marker's height and width: 60000x60000 */
    for (size_t i = 2; i + 9 < n; i++)
        if (jpg[i] == 0xFF && (jpg[i + 1] == 0xC0 || jpg[i + 1] == 0xC2)) {
            jpg[i + 5] = 60000 >> 8;
            jpg[i + 6] = 60000 & 0xFF;
            jpg[i + 7] = 60000 >> 8;
            jpg[i + 8] = 60000 & 0xFF;
            break;
        }
    al_set_allocator(&a);
    biggest = 0;
    CHECK_STATUS(al_image_decode(jpg, n, &img), AL_ERANGE);
    CHECK(biggest < 1 << 20);
    al_set_allocator(NULL);
    free(jpg);
    /* neither format */
    CHECK_STATUS(al_image_decode("hello, world", 12, &img), AL_EFORMAT);
    CHECK_STATUS(al_image_read("/nonexistent/x.png", &img), AL_EIO);

    /* EXIF: the tag, both byte orders; bad offsets and types give 1 */
    uint8_t ex[40] = "Exif\0\0II\x2a\0\x08\0\0\0\x01\0\x12\x01\x03\0\x01\0\0\0\x06\0\0\0";
    CHECK(al_exif_orientation(ex, 28) == 6);
    CHECK(al_exif_orientation(ex, 27) == 1); /* the entry runs past the end */
    ex[14] = 0x02;                           /* two entries, only one present */
    CHECK(al_exif_orientation(ex, 30) == 6);
    ex[14] = 0x01;
    ex[18] = 0x04; /* LONG, not SHORT */
    CHECK(al_exif_orientation(ex, 30) == 1);
    ex[18] = 0x03;
    ex[24] = 9; /* out of 1..8 */
    CHECK(al_exif_orientation(ex, 30) == 1);
    ex[24] = 6;
    CHECK(al_exif_orientation(ex, 30) == 6);
    ex[10] = 0xF0; /* IFD offset past the end */
    CHECK(al_exif_orientation(ex, 30) == 1);
    CHECK(al_exif_orientation(ex, 5) == 1);
}

/* ---- folders, lists, pixels ------------------------------------------------------------------ */

static char tmpdir[256];

static void mk(const char *rel) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", tmpdir, rel);
    if (mkdir(p, 0700) != 0 && errno != EEXIST) exit(1);
}

static void put(const char *rel, const char *gold) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", tmpdir, rel);
    if (gold) {
        size_t n;
        char g[512];
        snprintf(g, sizeof g, GOLD "/%s", gold);
        uint8_t *b = read_all(g, &n);
        write_all(p, b, n);
        free(b);
    } else {
        write_all(p, "not an image\n", 13);
    }
}

static void lnk(const char *target, const char *rel) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", tmpdir, rel);
    if (symlink(target, p) != 0) exit(1);
}

static int has_warning(const al_image_report *r, const char *s) {
    for (int i = 0; i < r->n_warnings; i++)
        if (strstr(r->warnings[i], s)) return 1;
    return 0;
}

static void test_folder(void) {
    snprintf(tmpdir, sizeof tmpdir, "%s/test_image.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmpdir)) exit(1);
    mk("root");
    mk("root/shirt");
    mk("root/bag");
    mk("root/empty");
    mk("root/shirt/deeper");
    put("root/shirt/b.PNG", "rgb.png");
    put("root/shirt/a.jpg", "orient6.jpg");
    put("root/shirt/c.jpeg", "gray.jpg");
    put("root/shirt/readme.txt", NULL);
    put("root/shirt/fake.png", NULL); /* an image name, not an image: skipped */
    put("root/bag/x.png", "palette.png");
    put("root/bag/y.png", "gray16.png");
    put("root/top.png", "rgb.png");   /* not in a class folder: ignored */
    lnk("loop.jpg", "root/bag/loop.jpg");  /* a symlink loop: skipped */
    lnk("..", "root/bag/up.png");          /* a directory: ignored */
    lnk(".", "root/selfloop");             /* a class folder that is the folder itself */
    {
        char p[512];
        snprintf(p, sizeof p, "%s/root/bag/cut.jpg", tmpdir);
        size_t n;
        uint8_t *b = read_all(GOLD "/rgb.jpg", &n);
        write_all(p, b, n / 2);
        free(b);
    }
    al_image_prep p;
    al_image_prep_default(&p, 3, 6, 5);
    char root[512];
    snprintf(root, sizeof root, "%s/root", tmpdir);
    al_dataset *d = NULL;
    al_image_report r;
    REQUIRE_OK(al_dataset_from_image_folder(root, &p, NULL, 0, &r, &d));
    /* classes sorted by name: bag 0, empty 1, selfloop 2 (the folder itself:
     * its one image is top.png), shirt 3 */
    CHECK(r.classes.n == 4);
    if (r.classes.n == 4) {
        CHECK(!strcmp(r.classes.names[0], "bag") && !strcmp(r.classes.names[1], "empty") &&
              !strcmp(r.classes.names[2], "selfloop") && !strcmp(r.classes.names[3], "shirt"));
    }
    CHECK(al_dataset_size(d) == 6);
    CHECK(al_dataset_num_classes(d) == 4);
    CHECK(r.skipped == 3);       /* fake.png, loop.jpg, cut.jpg */
    CHECK(r.empty_classes == 1);
    CHECK(r.new_classes == 4);
    CHECK(has_warning(&r, "fake.png") && has_warning(&r, "loop.jpg") && has_warning(&r, "cut.jpg"));
    CHECK(has_warning(&r, "root/empty: no usable image"));
    CHECK(r.ignored >= 4); /* readme.txt, deeper, top.png, up.png */
    /* order: class by class, names sorted; a.jpg (orient6) is shirt's first */
    int want[6] = {0, 0, 2, 3, 3, 3};
    for (int i = 0; i < al_dataset_size(d) && i < 6; i++) CHECK(al_dataset_y(d, i)[0] == want[i]);
    if (al_dataset_size(d) == 6) {
        al_image img;
        float ref[3 * 6 * 5];
        REQUIRE_OK(al_image_read(GOLD "/orient6.jpg", &img));
        REQUIRE_OK(al_image_preprocess(&img, &p, ref));
        CHECK(!memcmp(ref, al_dataset_x(d, 3), sizeof ref));
        al_image_free(&img);
        REQUIRE_OK(al_image_read(GOLD "/rgb.png", &img));
        REQUIRE_OK(al_image_preprocess(&img, &p, ref));
        CHECK(!memcmp(ref, al_dataset_x(d, 4), sizeof ref));
        al_image_free(&img);
    }
    al_image_report_free(&r);
    al_dataset_free(d);

    /* matched to known classes by name; unknown ones appended, sorted */
    const char *known[3] = {"shirt", "coat", "bag"};
    REQUIRE_OK(al_dataset_from_image_folder(root, &p, known, 3, &r, &d));
    CHECK(r.classes.n == 5 && r.new_classes == 2);
    if (r.classes.n == 5)
        CHECK(!strcmp(r.classes.names[0], "shirt") && !strcmp(r.classes.names[2], "bag") &&
              !strcmp(r.classes.names[3], "empty") && !strcmp(r.classes.names[4], "selfloop"));
    CHECK(al_dataset_num_classes(d) == 5);
    if (al_dataset_size(d) == 6) CHECK(al_dataset_y(d, 0)[0] == 0 && al_dataset_y(d, 4)[0] == 2);
    al_image_report_free(&r);
    al_dataset_free(d);
    /* many known names, out of order, one twice: a folder takes the first
     * index of its name (found by binary search, image_folder.c) */
    {
        enum { NK = 3000 };
        static char kn[NK][16];
        const char *kk[NK];
        for (int i = 0; i < NK; i++) {
            snprintf(kn[i], sizeof kn[i], "k%04d", (i * 7919) % NK);
            kk[i] = kn[i];
        }
        kk[2900] = "bag";
        kk[1500] = "bag";
        kk[3] = "shirt";
        REQUIRE_OK(al_dataset_from_image_folder(root, &p, kk, NK, &r, &d));
        CHECK(r.classes.n == NK + 2 && r.new_classes == 2);
        if (r.classes.n == NK + 2)
            CHECK(!strcmp(r.classes.names[1500], "bag") && !strcmp(r.classes.names[NK], "empty") &&
                  !strcmp(r.classes.names[NK + 1], "selfloop"));
        /* files class by class in label order: shirt's 3 (label 3), bag's 2
         * (1500), selfloop's 1 */
        if (al_dataset_size(d) == 6)
            CHECK(al_dataset_y(d, 0)[0] == 3 && al_dataset_y(d, 2)[0] == 3 && al_dataset_y(d, 3)[0] == 1500 &&
                  al_dataset_y(d, 4)[0] == 1500 && al_dataset_y(d, 5)[0] == NK + 1);
        al_image_report_free(&r);
        al_dataset_free(d);
    }

    /* one class folder: an error without known classes, fine with them */
    mk("one");
    mk("one/only");
    put("one/only/a.png", "rgb.png");
    snprintf(root, sizeof root, "%s/one", tmpdir);
    CHECK_STATUS(al_dataset_from_image_folder(root, &p, NULL, 0, &r, &d), AL_EINVAL);
    CHECK(strstr(al_last_error(), "at least 2") != NULL);
    CHECK(d == NULL);
    const char *k2[2] = {"other", "only"};
    REQUIRE_OK(al_dataset_from_image_folder(root, &p, k2, 2, NULL, &d));
    CHECK(al_dataset_size(d) == 1 && al_dataset_y(d, 0)[0] == 1);
    al_dataset_free(d);
    /* no usable image at all; a missing folder */
    mk("none");
    mk("none/a");
    mk("none/b");
    put("none/a/x.png", NULL);
    snprintf(root, sizeof root, "%s/none", tmpdir);
    CHECK_STATUS(al_dataset_from_image_folder(root, &p, NULL, 0, &r, &d), AL_EINVAL);
    CHECK_STATUS(al_dataset_from_image_folder("/nonexistent/folder", &p, NULL, 0, &r, &d), AL_EIO);

    /* a list of files with labels */
    char f1[512], f2[512];
    snprintf(f1, sizeof f1, GOLD "/rgb.png");
    snprintf(f2, sizeof f2, "%s/none/a/x.png", tmpdir);
    const char *paths[3] = {f1, f2, f1};
    int32_t labels[3] = {1, 0, 2};
    REQUIRE_OK(al_dataset_from_image_files(paths, labels, 3, 3, &p, &r, &d));
    CHECK(al_dataset_size(d) == 2 && r.skipped == 1);
    if (al_dataset_size(d) == 2) CHECK(al_dataset_y(d, 0)[0] == 1 && al_dataset_y(d, 1)[0] == 2);
    al_image_report_free(&r);
    al_dataset_free(d);
    labels[0] = 3;
    CHECK_STATUS(al_dataset_from_image_files(paths, labels, 3, 3, &p, NULL, &d), AL_ERANGE);
}

static void test_pixels(void) {
    al_image img;
    REQUIRE_OK(al_image_read(GOLD "/rgb.png", &img));
    int w = img.width, h = img.height;
    int stride_rgba = 4 * w + 6, stride_argb = 4 * w + 8;
    uint8_t *rgba = calloc((size_t)stride_rgba * h, 1);
    uint32_t *argb = calloc((size_t)stride_argb / 4 * h, 4);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            const uint8_t *s = img.pixels + ((size_t)y * w + x) * 3;
            uint8_t *o = rgba + (size_t)y * stride_rgba + 4 * x;
            o[0] = s[0];
            o[1] = s[1];
            o[2] = s[2];
            o[3] = 77;
            argb[(size_t)y * (stride_argb / 4) + x] = 0xC0000000u | (uint32_t)s[0] << 16 | (uint32_t)s[1] << 8 | s[2];
        }
    al_image_prep p;
    al_image_prep_default(&p, 3, 4, 4);
    p.mean[1] = 0.5f;
    p.std[2] = 0.25f;
    float ref[3 * 4 * 4];
    REQUIRE_OK(al_image_preprocess(&img, &p, ref));
    const void *px[2] = {rgba, rgba};
    int ws[2] = {w, w}, hs[2] = {h, h}, ss[2] = {stride_rgba, stride_rgba};
    int32_t lab[2] = {1, 0};
    al_dataset *d;
    REQUIRE_OK(al_dataset_from_pixels(px, ws, hs, ss, AL_PIXELS_RGBA, lab, 2, 2, &p, &d));
    CHECK(al_dataset_size(d) == 2 && al_dataset_y(d, 0)[0] == 1);
    CHECK(!memcmp(ref, al_dataset_x(d, 1), sizeof ref));
    al_dataset_free(d);
    px[0] = argb;
    ss[0] = stride_argb;
    REQUIRE_OK(al_dataset_from_pixels(px, ws, hs, ss, AL_PIXELS_ARGB, lab, 1, 2, &p, &d));
    CHECK(!memcmp(ref, al_dataset_x(d, 0), sizeof ref));
    al_dataset_free(d);
    ss[0] = 4 * w - 4; /* too small a stride */
    CHECK_STATUS(al_dataset_from_pixels(px, ws, hs, ss, AL_PIXELS_ARGB, lab, 1, 2, &p, &d), AL_EINVAL);
    free(rgba);
    free(argb);
    al_image_free(&img);
}

static void test_meta(void) {
    al_model *m;
    REQUIRE_OK(al_model_from_spec("input 3x8x8; flatten; dense 3", 1, &m));
    al_image_prep p, q;
    CHECK_STATUS(al_model_image_prep(m, &q), AL_ESTATE);
    al_image_prep_default(&p, 3, 8, 8);
    p.resize = AL_RESIZE_CROP;
    p.mean[0] = 0.485f;
    p.mean[1] = 0.456f;
    p.mean[2] = 0.406f;
    p.std[0] = 0.229f;
    p.std[1] = 0.224f;
    p.std[2] = 0.225f;
    REQUIRE_OK(al_model_set_image_prep(m, &p));
    CHECK(!strcmp(al_model_meta(m, "autlearn.image.size"), "3x8x8"));
    CHECK(!strcmp(al_model_meta(m, "autlearn.image.resize"), "crop"));
    REQUIRE_OK(al_model_image_prep(m, &q));
    CHECK(!memcmp(&p, &q, sizeof p));
    const char *names[3] = {"T-shirt/top", "coat", "bag"};
    CHECK_STATUS(al_model_set_classes(m, names, 3), AL_EINVAL); /* '/' */
    names[0] = "tshirt";
    names[2] = "coat";
    CHECK_STATUS(al_model_set_classes(m, names, 3), AL_EINVAL); /* twice */
    names[2] = "bag";
    REQUIRE_OK(al_model_set_classes(m, names, 3));
    CHECK(!strcmp(al_model_meta(m, "autlearn.classes"), "tshirt\ncoat\nbag"));
    al_class_list l;
    REQUIRE_OK(al_model_classes(m, &l));
    CHECK(l.n == 3 && !strcmp(l.names[2], "bag"));
    al_class_list_free(&l);
    /* malformed values */
    al_model_set_meta(m, "autlearn.classes", "a\n\nb");
    CHECK_STATUS(al_model_classes(m, &l), AL_EFORMAT);
    al_model_set_meta(m, "autlearn.classes", "a\nb\na");
    CHECK_STATUS(al_model_classes(m, &l), AL_EFORMAT);
    al_model_set_meta(m, "autlearn.image.mean", "0.1,0.2");
    CHECK_STATUS(al_model_image_prep(m, &q), AL_EFORMAT);
    al_model_set_meta(m, "autlearn.image.mean", "0,0,0");
    al_model_set_meta(m, "autlearn.image.size", "2x8x8");
    CHECK_STATUS(al_model_image_prep(m, &q), AL_EFORMAT);
    /* digits only, no sign, no space, nothing past 2^30 (sscanf's %d took
     * the first three and is undefined past INT_MAX) */
    const char *bad_sizes[] = {"3x8x8x", "+3x8x8", " 3x8x8", "3x 8x8", "3x-8x8", "3x8x99999999999",
                               "3x8x4294967304", "3x8", "3xx8x8", "x3x8x8", "3x8x0", ""};
    for (size_t i = 0; i < sizeof bad_sizes / sizeof bad_sizes[0]; i++) {
        al_model_set_meta(m, "autlearn.image.size", bad_sizes[i]);
        if (al_model_image_prep(m, &q) != AL_EFORMAT) fprintf(stderr, "size '%s' was accepted\n", bad_sizes[i]);
        CHECK_STATUS(al_model_image_prep(m, &q), AL_EFORMAT);
    }
    al_model_set_meta(m, "autlearn.image.size", "3x8x8");
    REQUIRE_OK(al_model_image_prep(m, &q));
    CHECK(q.channels == 3 && q.height == 8 && q.width == 8);
    al_model_free(m);
}

int main(void) {
    if (!al_images_supported()) {
        fprintf(stderr, "test_image: skipped: built without image decoding (AL_IMAGES=OFF)\n");
        test_meta();
        return al_test_failures ? 1 : 0;
    }
    test_golden();
    test_bad_input();
    test_folder();
    test_pixels();
    test_meta();
    if (tmpdir[0]) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    }
    if (al_test_failures) fprintf(stderr, "test_image: %d failures\n", al_test_failures);
    return al_test_failures ? 1 : 0;
}
