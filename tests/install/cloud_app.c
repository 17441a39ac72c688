/* A cloud-side program built against an installed autlearn
 * (tests/test_install.sh): autlearn_cloud.h and libautlearn_cloud.a on top of
 * the device library. It splits a synthetic data set into public data and
 * two simulated users (al_users_split), trains a small model on the public
 * data, freezes it below the output layer, quantizes the frozen part to int8
 * (al_quantize_frozen), checks the quantized model still classifies, saves
 * and reloads it, and asks the ONNX importer to read garbage (which pulls the
 * importer, and protobuf-c where it is built, into the link).
 *   cloud_app <model-path>   prints "ok <version> ...", exits 0 on success */
#include <autlearn_cloud.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#define FAIL(what)                                                                                              \
    do {                                                                                                        \
        fprintf(stderr, "cloud_app: %s failed: %s\n", what, al_last_error());                                  \
        goto out;                                                                                               \
    } while (0)

enum { NTRAIN = 360, NTEST = 180, H = 6, W = 6, CLASSES = 3 };

/* class k: a bright 2-row band at rows 2k, 2k+1, plus noise */
static void make(al_rng *r, float *x, int32_t *lab, int n) {
    for (int i = 0; i < n; i++) {
        lab[i] = i % CLASSES;
        for (int p = 0; p < H * W; p++) x[i * H * W + p] = 0.2f * al_rng_uniform(r) + (p / W / 2 == lab[i] ? 0.8f : 0.0f);
    }
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: cloud_app <model-path>\n");
        return 2;
    }
    int rc = 1;
    al_model *m = NULL, *back = NULL;
    al_pool *pool = NULL;
    al_dataset *train = NULL, *test = NULL;
    al_users *u = NULL;
    al_trainer *t = NULL;
    static float xtr[NTRAIN * H * W], xte[NTEST * H * W];
    static int32_t ltr[NTRAIN], lte[NTEST];

    al_rng r;
    al_rng_seed(&r, 11, 0);
    make(&r, xtr, ltr, NTRAIN);
    make(&r, xte, lte, NTEST);
    al_tensor xs = {NULL, 3, {1, H, W, 0}};
    if (al_dataset_from_arrays(xtr, ltr, NTRAIN, &xs, 1, CLASSES, &train)) FAIL("al_dataset_from_arrays");
    if (al_dataset_from_arrays(xte, lte, NTEST, &xs, 1, CLASSES, &test)) FAIL("al_dataset_from_arrays");

    /* the cloud: public data and two users */
    al_users_config uc;
    al_users_config_default(&uc);
    uc.seed = 3;
    uc.users = 2;
    uc.per_user = 40;
    uc.test_per_user = 30;
    uc.public_frac = 0.5;
    uc.dominant = 1;
    if (al_users_split(train, test, &uc, &u)) FAIL("al_users_split");
    const al_dataset *pub = al_users_public(u);
    if (al_users_count(u) != 2 || !pub || al_dataset_size(al_users_train(u, 1)) != 40 ||
        al_dataset_size(al_users_test(u, 0)) != 30 || al_users_train(u, 2) != NULL) {
        fprintf(stderr, "cloud_app: unexpected split: %d users\n", al_users_count(u));
        goto out;
    }

    /* pretrain on the public data */
    if (al_model_from_spec("input 1x6x6; conv 4 k=3 p=1; relu; flatten; dense 32; relu; dense 3", 1, &m))
        FAIL("al_model_from_spec");
    if (al_pool_new(1, &pool)) FAIL("al_pool_new");
    al_train_config c;
    al_train_config_default(&c);
    c.epochs = 4;
    c.batch = 16;
    c.lr = 0.05;
    if (al_trainer_new(m, pool, &c, &t)) FAIL("al_trainer_new");
    al_train_report rep;
    if (al_trainer_run(t, pub, NULL, &rep)) FAIL("al_trainer_run");
    al_trainer_free(t);
    t = NULL;

    /* freeze below the output layer (the last dense), quantize the frozen part */
    int out_layer = -1;
    for (int i = 0; i < al_model_num_nodes(m); i++) {
        const char *ty = al_model_node_type(m, i);
        if (ty && strcmp(ty, "dense") == 0) out_layer = i;
    }
    if (out_layer < 0 || al_model_freeze(m, out_layer)) FAIL("al_model_freeze");
    int nq = 0;
    if (al_quantize_frozen(m, &nq)) FAIL("al_quantize_frozen");
    if (nq < 1) { /* dense 32 over 144 inputs is frozen and wide enough */
        fprintf(stderr, "cloud_app: al_quantize_frozen quantized %d nodes\n", nq);
        goto out;
    }
    double loss, acc;
    if (al_evaluate(m, pool, al_users_test(u, 0), 32, &loss, &acc)) FAIL("al_evaluate");
    if (!(acc >= 0.6)) { /* the bands are easy: chance is 1/3 */
        fprintf(stderr, "cloud_app: accuracy %.3f after quantization\n", acc);
        goto out;
    }
    if (al_model_save(m, argv[1])) FAIL("al_model_save");
    if (al_model_load(argv[1], &back)) FAIL("al_model_load");
    if (al_model_freeze_point(back) != out_layer) {
        fprintf(stderr, "cloud_app: freeze point %d after loading, not %d\n", al_model_freeze_point(back), out_layer);
        goto out;
    }

    /* the ONNX importer is linked: garbage is malformed (or, built without
     * protobuf-c, unsupported) */
    static const unsigned char junk[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x42};
    al_model *im = NULL;
    al_status st = al_model_import_onnx_mem(junk, sizeof junk, &im);
    al_model_free(im);
    if (st != AL_EFORMAT && st != AL_EUNSUPPORTED) {
        fprintf(stderr, "cloud_app: al_model_import_onnx_mem on garbage returned %d\n", (int)st);
        goto out;
    }
    printf("ok %s users=%d int8=%d acc=%.3f onnx=%s\n", al_version(), al_users_count(u), nq, acc,
           st == AL_EFORMAT ? "built" : "not built");
    rc = 0;
out:
    al_trainer_free(t);
    al_model_free(back);
    al_model_free(m);
    al_users_free(u);
    al_dataset_free(test);
    al_dataset_free(train);
    al_pool_free(pool);
    return rc;
}
