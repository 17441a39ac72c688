/* A program built against an installed autlearn (tests/test_install.sh): only
 * the public header and the installed libraries. It builds a small CNN from a
 * spec, trains it a few steps on synthetic data, saves it, loads it back and
 * checks that the loaded model predicts exactly what the trained one does.
 *   app <model-path>     prints "ok <version> <accuracy>", exits 0 on success */
#include <autlearn.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAIL(what)                                                                                              \
    do {                                                                                                        \
        fprintf(stderr, "app: %s failed: %s\n", what, al_last_error());                                        \
        goto out;                                                                                               \
    } while (0)

enum { N = 96, H = 6, W = 6, CLASSES = 3 };

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: app <model-path>\n");
        return 2;
    }
    int rc = 1;
    al_model *m = NULL, *back = NULL;
    al_pool *pool = NULL;
    al_dataset *d = NULL;
    al_trainer *t = NULL;
    static float x[N * H * W], y1[N * CLASSES], y2[N * CLASSES];
    static int32_t lab[N];

    /* class k: a bright 2-row band at rows 2k, 2k+1, plus noise */
    al_rng r;
    al_rng_seed(&r, 7, 0);
    for (int i = 0; i < N; i++) {
        lab[i] = i % CLASSES;
        for (int p = 0; p < H * W; p++) {
            int row = p / W;
            x[i * H * W + p] = 0.2f * al_rng_uniform(&r) + (row / 2 == lab[i] ? 0.8f : 0.0f);
        }
    }
    al_tensor xs = {NULL, 3, {1, H, W, 0}};
    if (al_dataset_from_arrays(x, lab, N, &xs, 1, CLASSES, &d)) FAIL("al_dataset_from_arrays");
    if (al_model_from_spec("input 1x6x6; conv 4 k=3 p=1; relu; flatten; dense 3", 1, &m))
        FAIL("al_model_from_spec");
    if (al_pool_new(1, &pool)) FAIL("al_pool_new");
    al_train_config c;
    al_train_config_default(&c);
    c.epochs = 3;
    c.batch = 16;
    c.lr = 0.1;
    if (al_trainer_new(m, pool, &c, &t)) FAIL("al_trainer_new");
    al_train_report rep;
    if (al_trainer_run(t, d, d, &rep)) FAIL("al_trainer_run");
    if (rep.steps != 3 * N / 16 || !isfinite(rep.final_loss)) {
        fprintf(stderr, "app: report: %lld steps, loss %g\n", rep.steps, rep.final_loss);
        goto out;
    }
    double loss, acc;
    if (al_evaluate(m, pool, d, 32, &loss, &acc)) FAIL("al_evaluate");
    if (acc < 0.6) { /* the bands are easy: chance is 1/3 */
        fprintf(stderr, "app: accuracy %.3f after training\n", acc);
        goto out;
    }
    if (al_model_save(m, argv[1])) FAIL("al_model_save");
    if (al_model_load(argv[1], &back)) FAIL("al_model_load");
    if (al_model_predict(m, pool, x, N, y1) || al_model_predict(back, pool, x, N, y2)) FAIL("al_model_predict");
    if (memcmp(y1, y2, sizeof y1) != 0) {
        fprintf(stderr, "app: the loaded model predicts differently\n");
        goto out;
    }
    printf("ok %s %.3f\n", al_version(), acc);
    rc = 0;
out:
    al_trainer_free(t);
    al_model_free(back);
    al_model_free(m);
    al_dataset_free(d);
    al_pool_free(pool);
    return rc;
}
