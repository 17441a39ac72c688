/* The public API on bad arguments: every call below gets a NULL pointer, a
 * negative or out-of-range count or index, a non-finite setting or data of
 * the wrong shape, and must answer with the documented status (or a neutral
 * value from an accessor), never crash or read past a buffer (the suite
 * also runs under ASan and UBSan). What a refused call must leave as it
 * was is checked where the API promises it. A sweep of every public
 * function with each pointer NULL in turn found the cases of this file's
 * first part crashing or succeeding (session 24). */
#include "al_test.h"

#include <autlearn_cloud.h>

#define SPEC "input 1x8x8; flatten; dense 16; relu; dense 3"
#define N 12

static float X[N * 64];
static int32_t L[N];

static al_dataset *dataset(void) {
    al_tensor s = {NULL, 3, {1, 8, 8, 0}};
    for (int i = 0; i < N * 64; i++) X[i] = (float)(i % 7) / 7.0f;
    for (int i = 0; i < N; i++) L[i] = i % 3;
    al_dataset *d;
    REQUIRE_OK(al_dataset_from_arrays(X, L, N, &s, 1, 3, &d));
    return d;
}

static al_model *model(const char *spec) {
    al_model *m;
    REQUIRE_OK(al_model_from_spec(spec, 7, &m));
    return m;
}

/* Accessors and value functions: a neutral answer for NULL. */
static void test_null_accessors(void) {
    al_rng_seed(NULL, 1, 2);
    CHECK(al_rng_u32(NULL) == 0);
    CHECK(al_rng_below(NULL, 10) == 0);
    CHECK(al_rng_uniform(NULL) == 0.0f);
    CHECK(al_rng_normal(NULL) == 0.0f);
    al_tensor t = al_model_input_shape(NULL);
    CHECK(t.ndim == 0 && al_tensor_numel(&t) == 0);
    t = al_model_output_shape(NULL);
    CHECK(t.ndim == 0);
    CHECK(al_model_num_params(NULL) == 0);
    CHECK(al_model_macs(NULL) == 0);
    CHECK(al_model_num_nodes(NULL) == 0);
    CHECK(al_model_spec(NULL) == NULL);
    CHECK(al_model_node_type(NULL, 0) == NULL && al_model_node_name(NULL, 0) == NULL);
    CHECK(al_model_find_node(NULL, "x") == -1);
    CHECK(al_model_num_classes(NULL) == 0);
    CHECK(al_dataset_size(NULL) == 0 && al_dataset_x(NULL, 0) == NULL && al_dataset_y(NULL, 0) == NULL);
    al_augment_config_default(NULL);
    al_train_config_default(NULL);
    al_personalize_config_default(NULL);
    al_text_job_default(NULL);
    al_image_prep_default(NULL, 3, 8, 8);
    al_users_config_default(NULL); /* the cloud library's */
    /* a negative dimension is no shape: 0 elements, not a wrapped size */
    memset(&t, 0, sizeof t);
    t.ndim = 2;
    t.shape[0] = -3;
    t.shape[1] = 5;
    CHECK(al_tensor_numel(&t) == 0);
    t.shape[0] = 3;
    CHECK(al_tensor_numel(&t) == 15);
    t.ndim = AL_MAX_DIMS + 1; /* past shape[]: not read */
    CHECK(al_tensor_numel(&t) == 0);
    /* the real shapes still come through */
    al_model *m = model(SPEC);
    t = al_model_input_shape(m);
    CHECK(t.ndim == 3 && al_tensor_numel(&t) == 64);
    t = al_model_output_shape(m);
    CHECK(al_tensor_numel(&t) == 3);
    CHECK(al_model_num_params(m) == 64 * 16 + 16 + 16 * 3 + 3);
    al_model_free(m);
}

/* Metadata that a model file cannot hold is refused when it is set, not
 * when the trained model is saved. */
static void test_meta_keys(void) {
    al_model *m = model(SPEC);
    CHECK_STATUS(al_model_set_meta(m, "", "v"), AL_EINVAL);
    CHECK_STATUS(al_model_set_meta(m, "autlearn.spec", "input 1; dense 1"), AL_EINVAL);
    CHECK_STATUS(al_model_set_meta(m, "autlearn.layer.0.units", "5"), AL_EINVAL);
    CHECK_STATUS(al_model_set_meta(m, "autlearn.input.shape", "1"), AL_EINVAL);
    CHECK_STATUS(al_model_set_meta(m, "general.architecture", "x"), AL_EINVAL);
    CHECK_STATUS(al_model_set_meta(m, "autlearn.crc32", "0"), AL_EINVAL);
    size_t big = 65536;
    char *k = malloc(big + 1);
    REQUIRE_OK(k ? AL_OK : AL_ENOMEM);
    memset(k, 'k', big);
    k[big] = '\0';
    CHECK_STATUS(al_model_set_meta(m, k, "v"), AL_EINVAL);
    k[big - 1] = '\0'; /* 65,535 bytes: the most a file holds */
    CHECK_OK(al_model_set_meta(m, k, "v"));
    CHECK_OK(al_model_set_meta(m, "user.note", "kept"));
    CHECK(al_model_meta(m, "") == NULL && al_model_meta(m, "autlearn.spec") == NULL);
    /* so every model the API lets one make can be saved and loaded */
    char path[] = "/tmp/autlearn-api-args-XXXXXX";
    int fd = mkstemp(path);
    REQUIRE_OK(fd >= 0 ? AL_OK : AL_EIO);
    close(fd);
    CHECK_OK(al_model_save(m, path));
    al_model *l = NULL;
    CHECK_OK(al_model_load(path, &l));
    CHECK(l && al_model_meta(l, "user.note") && strcmp(al_model_meta(l, "user.note"), "kept") == 0);
    CHECK(l && al_model_meta(l, k) && strcmp(al_model_meta(l, k), "v") == 0);
    al_model_free(l);
    unlink(path);
    free(k);
    al_model_free(m);
}

/* Augmentation strengths that are not finite numbers, or a shift past
 * AL_AUGMENT_MAX_SHIFT, are refused; a job with variants refuses them
 * before it trains or changes the model. */
static void test_augment_limits(void) {
    float src[16], dst[16];
    for (int i = 0; i < 16; i++) src[i] = (float)i / 16.0f;
    al_augment_config a;
    float *fields[] = {&a.rotate_deg, &a.brightness, &a.contrast, &a.noise};
    for (int f = 0; f < 4; f++)
        for (int v = 0; v < 2; v++) {
            al_augment_config_default(&a);
            *fields[f] = v ? INFINITY : NAN;
            CHECK_STATUS(al_augment_image(&a, 1, 2, 1, src, dst, 1, 4, 4), AL_ERANGE);
        }
    al_augment_config_default(&a);
    a.shift = AL_AUGMENT_MAX_SHIFT + 1;
    CHECK_STATUS(al_augment_image(&a, 1, 2, 1, src, dst, 1, 4, 4), AL_ERANGE);
    a.shift = AL_AUGMENT_MAX_SHIFT; /* the limit itself: every pixel shifted out or kept, all finite */
    CHECK_OK(al_augment_image(&a, 1, 2, 1, src, dst, 1, 4, 4));
    for (int i = 0; i < 16; i++) CHECK(dst[i] >= 0.0f && dst[i] <= 1.0f);
    al_augment_config_default(&a);
    a.cutout = 1 << 30; /* larger than the image: the whole image */
    a.noise = 0.0f;
    CHECK_OK(al_augment_image(&a, 1, 2, 1, src, dst, 1, 4, 4));
    for (int i = 0; i < 16; i++) CHECK(dst[i] == 0.0f);

    al_model *m = model("input 1x8x8; conv 4 k=3 p=1; relu; flatten; dense 3"), *ref = model("input 1x8x8; conv 4 k=3 p=1; relu; flatten; dense 3");
    al_dataset *d = dataset();
    al_personalize_config c;
    al_personalize_config_default(&c);
    c.train.epochs = 1;
    c.aug_variants = 3;
    c.aug.noise = NAN;
    al_personalize_report r;
    CHECK_STATUS(al_personalize(m, NULL, d, NULL, NULL, &c, NULL, &r), AL_ERANGE);
    CHECK(m->nweights == ref->nweights && memcmp(m->wblock, ref->wblock, sizeof(float) * m->nweights) == 0);
    CHECK(al_model_freeze_point(m) == al_model_freeze_point(ref));
    al_dataset_free(d);
    al_model_free(ref);
    al_model_free(m);
}

/* Data of another shape than the model's input: every entry point that
 * takes training data says so (AL_ESHAPE) before it reads a sample. The
 * batch-norm recipe ran its forwards over such data and returned AL_OK;
 * the memory plans planned it. */
static void test_data_shape(void) {
    al_model *m = model("input 1x8x8; conv 4 k=3 p=1; batchnorm; relu; flatten; dense 3");
    al_model *ref = model("input 1x8x8; conv 4 k=3 p=1; batchnorm; relu; flatten; dense 3");
    float x[N * 16];
    for (int i = 0; i < N * 16; i++) x[i] = (float)(i % 5);
    al_tensor s = {NULL, 1, {16, 0, 0, 0}};
    al_dataset *small;
    REQUIRE_OK(al_dataset_from_arrays(x, L, N, &s, 1, 3, &small));
    al_personalize_config c;
    al_personalize_report r;
    al_mem_plan p;
    const al_recipe recipes[] = {AL_RECIPE_BN, AL_RECIPE_PRIOR, AL_RECIPE_HEAD, AL_RECIPE_CONFIG};
    for (size_t k = 0; k < sizeof recipes / sizeof recipes[0]; k++) {
        al_personalize_config_default(&c);
        c.train.epochs = 1;
        c.recipe = recipes[k];
        CHECK_STATUS(al_personalize(m, NULL, small, NULL, NULL, &c, NULL, &r), AL_ESHAPE);
        CHECK_STATUS(al_personalize_plan_memory(m, NULL, small, NULL, &c, &p), AL_ESHAPE);
    }
    al_personalize_config_default(&c);
    al_auto_report ar;
    CHECK_STATUS(al_personalize_auto(m, NULL, small, NULL, NULL, &c, &ar), AL_ESHAPE);
    CHECK(strstr(al_last_error(), "training data") != NULL);
    al_trainer *t = NULL;
    CHECK_STATUS(al_personalize_new(m, NULL, small, NULL, NULL, &c, &t), AL_ESHAPE);
    CHECK(t == NULL);
    al_train_config tc;
    al_train_config_default(&tc);
    CHECK_STATUS(al_trainer_plan_memory(m, NULL, small, &tc, 0, &p), AL_ESHAPE);
    /* nothing changed: weights, batch-norm statistics, freeze point */
    CHECK(memcmp(m->wblock, ref->wblock, sizeof(float) * m->nweights) == 0);
    CHECK(al_model_freeze_point(m) == al_model_freeze_point(ref));
    /* labels past the model's classes: AL_ERANGE, from the plan too */
    al_dataset *d = dataset();
    int32_t y4[N];
    for (int i = 0; i < N; i++) y4[i] = i % 4;
    al_dataset *four;
    al_tensor xs = al_dataset_x_shape(d);
    REQUIRE_OK(al_dataset_from_arrays(X, y4, N, &xs, 1, 4, &four));
    al_personalize_config_default(&c);
    CHECK_STATUS(al_personalize_plan_memory(m, NULL, four, NULL, &c, &p), AL_ERANGE);
    CHECK_STATUS(al_trainer_plan_memory(m, NULL, four, &tc, 0, &p), AL_ERANGE);
    /* and the right data still plans */
    CHECK_OK(al_personalize_plan_memory(m, NULL, d, NULL, &c, &p));
    CHECK_OK(al_trainer_plan_memory(m, NULL, d, &tc, 0, &p));
    CHECK(p.total > 0);
    CHECK_STATUS(al_trainer_plan_memory(m, NULL, NULL, &tc, 0, &p), AL_EINVAL);
    CHECK_STATUS(al_trainer_plan_memory(m, NULL, d, &tc, 0, NULL), AL_EINVAL);
    CHECK_STATUS(al_personalize_plan_memory(m, NULL, NULL, NULL, &c, &p), AL_EINVAL);
    al_dataset_free(four);
    al_dataset_free(d);
    al_dataset_free(small);
    al_model_free(ref);
    al_model_free(m);
}

static void test_counts(void) {
    al_model *m = model(SPEC);
    al_cache *cache;
    REQUIRE_OK(al_cache_new(1 << 20, NULL, &cache));
    float y[N * 3];
    REQUIRE_OK(al_model_freeze(m, 2));
    CHECK_STATUS(al_model_predict(m, NULL, X, -1, y), AL_ERANGE);
    CHECK_STATUS(al_model_predict_cached(m, NULL, X, -1, NULL, cache, y), AL_ERANGE);
    CHECK_OK(al_model_predict_cached(m, NULL, X, 0, NULL, cache, y));
    CHECK_OK(al_model_predict_cached(m, NULL, X, 2, NULL, cache, y));
    al_cache_free(cache);
    /* a spill file where none can be made is said at once */
    al_cache *bad = NULL;
    CHECK_STATUS(al_cache_new(1000, "/nonexistent-autlearn-dir/spill", &bad), AL_EIO);
    CHECK(bad == NULL && strstr(al_last_error(), "/nonexistent-autlearn-dir") != NULL);
    CHECK_STATUS(al_cache_new(1000, "/etc/passwd/spill", &bad), AL_EIO);
    CHECK_STATUS(al_cache_new(1000, "", &bad), AL_EINVAL);
    CHECK_OK(al_cache_new(1000, "spill-in-the-working-directory", &bad)); /* made only when needed */
    CHECK(access("spill-in-the-working-directory", F_OK) != 0);
    al_cache_free(bad);
    /* a label map: which label has no class, and why */
    al_dataset *d = dataset();
    int map[3] = {0, 9, 1};
    CHECK_STATUS(al_dataset_map_labels(d, map, 3, 3), AL_EINVAL);
    CHECK(strstr(al_last_error(), "map[1] is 9") != NULL);
    CHECK_STATUS(al_dataset_map_labels(d, map, 1, 3), AL_EINVAL);
    CHECK(strstr(al_last_error(), "1 entries") != NULL);
    CHECK(al_dataset_y(d, 1)[0] == 1); /* unchanged */
    al_dataset_free(d);
    al_model_free(m);
}

/* The rest of the sweep: NULL for each required pointer gives AL_EINVAL. */
static void test_null_pointers(void) {
    al_model *m = model(SPEC), *o = NULL;
    al_dataset *d = dataset(), *od = NULL;
    al_train_config tc;
    al_train_config_default(&tc);
    al_personalize_config pc;
    al_personalize_config_default(&pc);
    float y[N * 3];
    double loss, acc;
    CHECK_STATUS(al_model_from_spec(NULL, 1, &o), AL_EINVAL);
    CHECK_STATUS(al_model_from_spec(SPEC, 1, NULL), AL_EINVAL);
    CHECK_STATUS(al_model_load(NULL, &o), AL_EINVAL);
    CHECK_STATUS(al_model_save(NULL, "/tmp/x"), AL_EINVAL);
    CHECK_STATUS(al_model_save(m, NULL), AL_EINVAL);
    CHECK_STATUS(al_model_save(m, ""), AL_EINVAL);
    CHECK(strstr(al_last_error(), "empty path") != NULL);
    CHECK_STATUS(al_model_clone(NULL, &o), AL_EINVAL);
    CHECK_STATUS(al_model_copy_weights(m, NULL), AL_EINVAL);
    CHECK_STATUS(al_model_freeze(NULL, 1), AL_EINVAL);
    CHECK_STATUS(al_model_set_meta(m, NULL, "v"), AL_EINVAL);
    CHECK_STATUS(al_model_predict(m, NULL, NULL, 1, y), AL_EINVAL);
    CHECK_STATUS(al_model_predict(m, NULL, X, 1, NULL), AL_EINVAL);
    CHECK_STATUS(al_model_predict_cached(m, NULL, X, 1, NULL, NULL, NULL), AL_EINVAL);
    CHECK_STATUS(al_dataset_from_arrays(X, NULL, N, NULL, 1, 3, &od), AL_EINVAL);
    CHECK_STATUS(al_dataset_subset(d, NULL, 2, &od), AL_EINVAL);
    CHECK_STATUS(al_trainer_new(m, NULL, NULL, NULL), AL_EINVAL);
    CHECK_STATUS(al_trainer_run(NULL, d, NULL, NULL), AL_EINVAL);
    CHECK_STATUS(al_evaluate(m, NULL, NULL, 4, &loss, &acc), AL_EINVAL);
    CHECK_STATUS(al_personalize(m, NULL, NULL, NULL, NULL, &pc, NULL, NULL), AL_EINVAL);
    CHECK_STATUS(al_personalize(m, NULL, d, NULL, NULL, NULL, NULL, NULL), AL_EINVAL);
    CHECK_STATUS(al_personalize_auto(m, NULL, NULL, NULL, NULL, &pc, NULL), AL_EINVAL);
    CHECK_STATUS(al_personalize_new(m, NULL, d, NULL, NULL, &pc, NULL), AL_EINVAL);
    CHECK_STATUS(al_cache_new(10, NULL, NULL), AL_EINVAL);
    CHECK_STATUS(al_recipe_parse(NULL, NULL), AL_EINVAL);
    CHECK_STATUS(al_augment_image(NULL, 1, 1, 1, X, y, 1, 2, 2), AL_EINVAL);
    CHECK_STATUS(al_text_read_file(NULL, NULL, NULL), AL_EINVAL);
    CHECK_STATUS(al_model_class_name(m, 0, NULL, 8), AL_EINVAL);
    CHECK_STATUS(al_model_match_classes(m, NULL, 1, NULL, NULL), AL_EINVAL);
    CHECK_STATUS(al_dataset_map_labels(NULL, NULL, 0, 3), AL_EINVAL);
    CHECK_STATUS(al_model_add_classes(m, NULL, NULL, 1, NULL), AL_EINVAL);
    CHECK_STATUS(al_pool_new(2, NULL), AL_EINVAL);
    CHECK_STATUS(al_pool_set_spin_us(NULL, 5), AL_EINVAL);
    CHECK(o == NULL && od == NULL);
    al_model_free(NULL);
    al_dataset_free(NULL);
    al_trainer_free(NULL);
    al_cache_free(NULL);
    al_pool_free(NULL);
    al_image_free(NULL);
    al_class_list_free(NULL);
    al_image_report_free(NULL);
    al_model_release_memory(NULL);
    al_model_set_forward_chunk(NULL, 3);
    al_dataset_free(d);
    al_model_free(m);
}

/* Node indexes of the training settings: lr_split and train_end past the
 * node count, a frozen suffix that covers every trainable node (it trained
 * nothing and returned AL_OK), a personalization freeze below -1 (it acted
 * as -1) and resume without a checkpoint path (ignored) are refused before
 * the model changes. lr_split at the node count puts every node below the
 * split: with lr_below 0 nothing moves (it acted as off). */
static void test_node_settings(void) {
    al_model *m = model(SPEC), *ref = model(SPEC); /* nodes: flatten, dense, relu, dense */
    al_dataset *d = dataset();
    CHECK(m->nnodes == 4);
    al_train_config tc;
    al_train_config_default(&tc);
    tc.epochs = 1;
    tc.batch = 4;
    al_trainer *t = NULL;
    tc.lr_split = 5;
    CHECK_STATUS(al_trainer_new(m, NULL, &tc, &t), AL_EINVAL);
    CHECK(strstr(al_last_error(), "lr_split") != NULL);
    tc.lr_split = 4;
    tc.lr_below = 0.0;
    al_train_report rep;
    REQUIRE_OK(al_trainer_new(m, NULL, &tc, &t));
    REQUIRE_OK(al_trainer_run(t, d, NULL, &rep));
    CHECK(rep.steps == 3);
    CHECK(memcmp(m->wblock, ref->wblock, sizeof(float) * m->nweights) == 0);
    al_trainer_free(t);
    tc.lr_split = 3; /* the last dense trains, the first does not */
    REQUIRE_OK(al_trainer_new(m, NULL, &tc, &t));
    REQUIRE_OK(al_trainer_run(t, d, NULL, &rep));
    const al_param *w1 = &m->nodes[1].params[0], *w3 = &m->nodes[3].params[0];
    CHECK(memcmp(w1->w, ref->nodes[1].params[0].w, sizeof(float) * w1->n) == 0);
    CHECK(memcmp(w3->w, ref->nodes[3].params[0].w, sizeof(float) * w3->n) != 0);
    al_trainer_free(t);
    REQUIRE_OK(al_model_copy_weights(m, ref));

    tc.lr_split = 0;
    REQUIRE_OK(al_model_freeze(m, 2));
    for (int end = 1; end <= 2; end++) {
        tc.train_end = end;
        t = NULL;
        CHECK_STATUS(al_trainer_new(m, NULL, &tc, &t), AL_EINVAL);
        CHECK(t == NULL && strstr(al_last_error(), "nothing would train") != NULL);
    }
    tc.train_end = 3; /* node 2 (relu) trains, but it holds no tensor */
    CHECK_STATUS(al_trainer_new(m, NULL, &tc, &t), AL_EINVAL);
    tc.train_end = 4; /* the model's node count: no frozen suffix */
    REQUIRE_OK(al_trainer_new(m, NULL, &tc, &t));
    al_trainer_free(t);
    REQUIRE_OK(al_model_freeze(m, 0));
    tc.train_end = 3; /* the first dense trains under the held output layer */
    REQUIRE_OK(al_trainer_new(m, NULL, &tc, &t));
    REQUIRE_OK(al_trainer_run(t, d, NULL, &rep));
    CHECK(memcmp(w1->w, ref->nodes[1].params[0].w, sizeof(float) * w1->n) != 0);
    CHECK(memcmp(w3->w, ref->nodes[3].params[0].w, sizeof(float) * w3->n) == 0);
    al_trainer_free(t);
    REQUIRE_OK(al_model_copy_weights(m, ref));

    al_personalize_config c;
    al_personalize_config_default(&c);
    c.train.epochs = 1;
    c.freeze = -2;
    al_personalize_report r;
    al_auto_report ar;
    al_mem_plan p;
    CHECK_STATUS(al_personalize(m, NULL, d, NULL, NULL, &c, NULL, &r), AL_ERANGE);
    CHECK(strstr(al_last_error(), "freeze") != NULL);
    CHECK_STATUS(al_personalize_auto(m, NULL, d, NULL, NULL, &c, &ar), AL_ERANGE);
    CHECK_STATUS(al_personalize_plan_memory(m, NULL, d, NULL, &c, &p), AL_ERANGE);
    c.freeze = -1;
    c.resume = 1;
    CHECK_STATUS(al_personalize(m, NULL, d, NULL, NULL, &c, NULL, &r), AL_EINVAL);
    CHECK(strstr(al_last_error(), "checkpoint_path") != NULL);
    CHECK_STATUS(al_personalize_auto(m, NULL, d, NULL, NULL, &c, &ar), AL_EINVAL);
    t = NULL;
    CHECK_STATUS(al_personalize_new(m, NULL, d, NULL, NULL, &c, &t), AL_EINVAL);
    CHECK(t == NULL);
    CHECK(memcmp(m->wblock, ref->wblock, sizeof(float) * m->nweights) == 0);
    CHECK(al_model_freeze_point(m) == 0); /* as the last freeze above left it */
    al_dataset_free(d);
    al_model_free(ref);
    al_model_free(m);
}

int main(void) {
    al_set_log(NULL, NULL, AL_LOG_ERROR);
    test_null_accessors();
    test_meta_keys();
    test_augment_limits();
    test_data_shape();
    test_counts();
    test_null_pointers();
    test_node_settings();
    TEST_END("test_api_args");
}
