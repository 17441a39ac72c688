/* Out of memory through a whole device cycle (SQLite's method): load the
 * cloud model and the IDX data, draw the users, fill the runtime cache by
 * inference, train, personalize with augmentation and a spilling cache,
 * save the personal model. A clean run counts its N allocations; then for
 * every k in 1..N allocation k fails and the cycle must
 *  - return AL_ENOMEM with a message that says so, or AL_OK when the failed
 *    allocation was one the library may do without (the cache's: it then
 *    recomputes) - and then the personal model is bit-identical to the
 *    clean run's, since a cache never changes a result;
 *  - leave no output, temporary or spill file behind after a failure;
 *  - not crash nor leak (this test runs under ASan + LeakSanitizer in
 *    `make test`).
 * k = N + 1 must succeed again. */
#include "autlearn_cloud.h"
#include "al_test.h"

#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define SPEC "input 1x8x8; conv 4 k=3 p=1; relu; maxpool k=2; flatten; dense 16; relu; dense 10"
#define FREEZE 4 /* the flatten's output comes from the cache */

static char dir[512];
static al_cache_stats last_cache; /* of the last cycle that personalized */

static const char *path(const char *name) {
    static char buf[4][640];
    static int i;
    i = (i + 1) % 4;
    snprintf(buf[i], sizeof buf[i], "%s/%s", dir, name);
    return buf[i];
}

static void be32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* n 8x8 images of 10 classes, a bright 3x3 block at a class-specific place;
 * the test split gzipped so both readers run. */
static void write_idx(const char *prefix, int n, int gz, uint32_t seed) {
    unsigned char *img = malloc(16 + (size_t)n * 64), *lab = malloc(8 + (size_t)n);
    REQUIRE_OK(img && lab ? AL_OK : AL_ENOMEM);
    be32(img, 0x803);
    be32(img + 4, (uint32_t)n);
    be32(img + 8, 8);
    be32(img + 12, 8);
    be32(lab, 0x801);
    be32(lab + 4, (uint32_t)n);
    uint32_t r = seed;
    for (int i = 0; i < n; i++) {
        int c = i % 10;
        lab[8 + i] = (unsigned char)c;
        unsigned char *p = img + 16 + (size_t)i * 64;
        for (int j = 0; j < 64; j++) {
            r = r * 1664525u + 1013904223u;
            p[j] = (unsigned char)(r >> 26);
        }
        int y0 = c / 5 * 4, x0 = c % 5;
        for (int y = y0; y < y0 + 3; y++)
            for (int x = x0; x < x0 + 3; x++) p[y * 8 + x] = 200;
    }
    char ip[640], lp[640];
    snprintf(ip, sizeof ip, "%s/%s-images-idx3-ubyte%s", dir, prefix, gz ? ".gz" : "");
    snprintf(lp, sizeof lp, "%s/%s-labels-idx1-ubyte%s", dir, prefix, gz ? ".gz" : "");
    const char *paths[2] = {ip, lp};
    const unsigned char *bufs[2] = {img, lab};
    size_t lens[2] = {16 + (size_t)n * 64, 8 + (size_t)n};
    for (int f = 0; f < 2; f++) {
        if (gz) {
            gzFile g = gzopen(paths[f], "wb");
            REQUIRE_OK(g && gzwrite(g, bufs[f], (unsigned)lens[f]) == (int)lens[f] && gzclose(g) == Z_OK ? AL_OK
                                                                                                       : AL_EIO);
        } else {
            FILE *o = fopen(paths[f], "wb");
            REQUIRE_OK(o && fwrite(bufs[f], 1, lens[f], o) == lens[f] && fclose(o) == 0 ? AL_OK : AL_EIO);
        }
    }
    free(img);
    free(lab);
}

/* The files of the directory other than the inputs (must be none after a
 * failed cycle, only personal.gguf after a good one). */
static int stray_files(char *first, size_t cap) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *s = e->d_name;
        if (!strcmp(s, ".") || !strcmp(s, "..") || !strcmp(s, "cloud.gguf") || strstr(s, "-idx")) continue;
        if (n++ == 0) snprintf(first, cap, "%s", s);
    }
    closedir(d);
    return n;
}

static unsigned char *slurp(const char *p, size_t *n) {
    FILE *f = fopen(p, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(len > 0 ? (size_t)len : 1);
    *n = b ? fread(b, 1, (size_t)len, f) : 0;
    fclose(f);
    return b;
}

/* The whole device cycle. Everything is freed whatever happens. */
static al_status cycle(void) {
    al_pool *pool = NULL;
    al_model *m = NULL;
    al_dataset *train = NULL, *test = NULL;
    al_users *u = NULL;
    al_cache *cache = NULL;
    al_trainer *t = NULL;
    uint64_t *ids = NULL;
    float *y = NULL;
    al_status st;
    if ((st = al_pool_new(2, &pool))) goto out;
    if ((st = al_model_load(path("cloud.gguf"), &m))) goto out;
    if ((st = al_idx_load_dir(dir, 0, &train))) goto out;
    if ((st = al_idx_load_dir(dir, 1, &test))) goto out;
    al_users_config uc;
    al_users_config_default(&uc);
    uc.seed = 3;
    uc.users = 2;
    uc.per_user = 24;
    uc.test_per_user = 10;
    if ((st = al_users_split(train, test, &uc, &u))) goto out;
    const al_dataset *utr = al_users_train(u, 1), *ute = al_users_test(u, 1);
    int n = al_dataset_size(utr);

    /* the cloud side's retraining on public data: Adam, eval, early stop */
    al_train_config tc;
    al_train_config_default(&tc);
    tc.optim = AL_OPT_ADAM;
    tc.lr = 0.01;
    tc.batch = 16;
    tc.epochs = 2;
    tc.patience = 1;
    tc.seed = 5;
    if ((st = al_trainer_new(m, pool, &tc, &t))) goto out;
    if ((st = al_trainer_run(t, al_users_public(u), ute, NULL))) goto out;
    al_trainer_free(t);
    t = NULL;

    /* the device: inference fills the cache (a third in memory, the rest
     * spilled), then personalization reads it */
    if ((st = al_model_freeze(m, FREEZE))) goto out;
    size_t feat = 4 * 4 * 4;
    if ((st = al_cache_new(feat * sizeof(float) * (size_t)n / 3, path("spill.bin"), &cache))) goto out;
    ids = malloc(sizeof *ids * (size_t)n);
    y = malloc(sizeof(float) * 10 * (size_t)n);
    if (!ids || !y) {
        st = al_error(AL_ENOMEM, "test: out of memory");
        goto out;
    }
    for (int i = 0; i < n; i++) ids[i] = (uint64_t)al_users_train_origin(u, 1, i);
    if ((st = al_model_predict_cached(m, pool, al_dataset_x(utr, 0), n, ids, cache, y))) goto out;
    al_personalize_config pc;
    al_personalize_config_default(&pc);
    pc.train.epochs = 3;
    pc.train.batch = 8;
    pc.train.lr = 0.05;
    pc.train.seed = 11;
    pc.aug_variants = 2;
    al_personalize_report pr;
    if ((st = al_personalize(m, pool, utr, ids, cache, &pc, ute, &pr))) goto out;
    last_cache = pr.cache;
    double loss, acc;
    if ((st = al_evaluate(m, pool, ute, 8, &loss, &acc))) goto out;
    if ((st = al_model_set_meta(m, "autlearn.personalized", "1"))) goto out;
    st = al_model_save(m, path("personal.gguf"));
out:
    free(ids);
    free(y);
    al_trainer_free(t);
    al_cache_free(cache);
    al_users_free(u);
    al_dataset_free(train);
    al_dataset_free(test);
    al_model_free(m);
    al_pool_free(pool);
    return st;
}

/* ---- the image-folder loader (src/data/image_folder.c) ------------------------------
 * Decoding JPEG and PNG, EXIF orientation, resizing, skipped files and their
 * warnings, classes matched by name: every allocation fails in turn. */
static char imgdir[600];

static void copy_gold(const char *name, const char *rel, size_t cut) {
    char src[700], dst[700];
    snprintf(src, sizeof src, "%s/tests/golden/images/%s", AL_SOURCE_DIR, name);
    snprintf(dst, sizeof dst, "%s/%s", imgdir, rel);
    size_t n = 0;
    unsigned char *b = slurp(src, &n);
    FILE *f = fopen(dst, "wb");
    if (!b || !f || fwrite(b, 1, cut && cut < n ? cut : n, f) == 0) {
        fprintf(stderr, "test_oom: cannot copy %s\n", name);
        exit(1);
    }
    fclose(f);
    free(b);
}

static al_status folder_cycle(void) {
    al_image_prep p;
    al_image_prep_default(&p, 3, 6, 7);
    p.resize = AL_RESIZE_CROP;
    const char *known[2] = {"b", "z"};
    al_image_report r;
    al_dataset *d = NULL;
    al_status st = al_dataset_from_image_folder(imgdir, &p, known, 2, &r, &d);
    if (st == AL_OK) {
        if (al_dataset_size(d) != 4 || r.skipped != 1 || r.classes.n != 3) st = al_error(AL_EINVAL, "wrong result");
        al_image_report_free(&r);
    }
    al_dataset_free(d);
    return st;
}

static void image_oom(void) {
    if (!al_images_supported()) return;
    snprintf(imgdir, sizeof imgdir, "%s/test_oom_img.XXXXXX", AL_BINARY_DIR);
    REQUIRE_OK(mkdtemp(imgdir) ? AL_OK : AL_EIO);
    char sub[700];
    snprintf(sub, sizeof sub, "%s/a", imgdir);
    CHECK(mkdir(sub, 0700) == 0);
    snprintf(sub, sizeof sub, "%s/b", imgdir);
    CHECK(mkdir(sub, 0700) == 0);
    copy_gold("orient6.jpg", "a/1.jpg", 0);
    copy_gold("palette.png", "a/2.png", 0);
    copy_gold("rgb16.png", "b/1.png", 0);
    copy_gold("gray.jpg", "b/2.jpg", 0);
    copy_gold("rgb.jpg", "b/3.jpg", 200); /* truncated: skipped with a warning */
    al_alloc_fail_at(0);
    REQUIRE_OK(folder_cycle());
    long total = al_alloc_count();
    int enomem = 0, bad = 0;
    for (long k = 1; k <= total + 1; k++) {
        al_alloc_fail_at(k);
        al_status st = folder_cycle();
        al_alloc_fail_at(0);
        if (k > total) {
            CHECK_OK(st);
        } else if (st == AL_ENOMEM && strstr(al_last_error(), "memory")) {
            enomem++;
        } else {
            fprintf(stderr, "image folder, k=%ld: %s (%s), expected AL_ENOMEM\n", k, al_status_name(st),
                    al_last_error());
            bad++;
        }
    }
    fprintf(stderr, "test_oom: image folder: %ld allocations, %d failed cleanly\n", total, enomem);
    CHECK(bad == 0 && total > 20);
    char cmd[800];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", imgdir);
    CHECK(system(cmd) == 0);
}

int main(void) {
    snprintf(dir, sizeof dir, "%s/test_oom.XXXXXX", AL_BINARY_DIR);
    REQUIRE_OK(mkdtemp(dir) ? AL_OK : AL_EIO);
    write_idx("train", 300, 0, 1);
    write_idx("t10k", 100, 1, 2);
    al_model *cloud;
    REQUIRE_OK(al_model_from_spec(SPEC, 1, &cloud));
    REQUIRE_OK(al_model_save(cloud, path("cloud.gguf")));
    al_model_free(cloud);

    /* the clean run: its allocation count and its result. A first run
     * warms what lives as long as the thread (GEMM's pack buffer of this
     * thread), so that every later run makes the same allocations. */
    REQUIRE_OK(cycle());
    CHECK(unlink(path("personal.gguf")) == 0);
    al_alloc_fail_at(0);
    REQUIRE_OK(cycle());
    long total = al_alloc_count();
    size_t ref_n = 0;
    unsigned char *ref = slurp(path("personal.gguf"), &ref_n);
    REQUIRE_OK(ref && ref_n > 0 ? AL_OK : AL_EIO);
    CHECK(unlink(path("personal.gguf")) == 0);
    char stray[256] = "";
    CHECK(stray_files(stray, sizeof stray) == 0);
    /* the cache really spilled, so its file's paths run too */
    CHECK(last_cache.entries_mem > 0 && last_cache.entries_spilled > 0 && last_cache.hits > 0);
    CHECK(total > 50);

    int enomem = 0, absorbed = 0, bad = 0;
    for (long k = 1; k <= total + 1; k++) {
        al_alloc_fail_at(k);
        al_status st = cycle();
        long used = al_alloc_count();
        al_alloc_fail_at(0);
        if (st == AL_ENOMEM) {
            enomem++;
            if (!strstr(al_last_error(), "memory")) {
                fprintf(stderr, "k=%ld: AL_ENOMEM with message '%s'\n", k, al_last_error());
                bad++;
            }
            if (stray_files(stray, sizeof stray) != 0) {
                fprintf(stderr, "k=%ld: '%s' left behind after a failed cycle\n", k, stray);
                bad++;
            }
            continue;
        }
        if (st != AL_OK) {
            fprintf(stderr, "k=%ld: %s (%s), expected AL_ENOMEM\n", k, al_status_name(st), al_last_error());
            bad++;
            continue;
        }
        /* a success: either k is past the last allocation, or the failure
         * was absorbed; both give the clean run's model exactly */
        if (k <= total) {
            absorbed++;
            fprintf(stderr, "k=%ld: the failed allocation was absorbed\n", k);
        }
        if (k > total) CHECK(used == total);
        size_t n = 0;
        unsigned char *got = slurp(path("personal.gguf"), &n);
        if (!got || n != ref_n || memcmp(got, ref, n) != 0) {
            fprintf(stderr, "k=%ld: the cycle succeeded but the personal model differs from the clean run's\n", k);
            bad++;
        }
        free(got);
        CHECK(unlink(path("personal.gguf")) == 0);
        if (stray_files(stray, sizeof stray) != 0) {
            fprintf(stderr, "k=%ld: '%s' left behind\n", k, stray);
            bad++;
        }
        if (k > total) break;
    }
    fprintf(stderr, "test_oom: %ld allocations; %d failed cleanly with AL_ENOMEM, %d absorbed (cache)\n", total,
            enomem, absorbed);
    CHECK(bad == 0);
    CHECK(enomem + absorbed == total);
    /* most allocations are not optional */
    CHECK(enomem > total / 2);

    image_oom();

    free(ref);
    unlink(path("cloud.gguf"));
    unlink(path("train-images-idx3-ubyte"));
    unlink(path("train-labels-idx1-ubyte"));
    unlink(path("t10k-images-idx3-ubyte.gz"));
    unlink(path("t10k-labels-idx1-ubyte.gz"));
    CHECK(rmdir(dir) == 0);
    TEST_END("test_oom");
}
