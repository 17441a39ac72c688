/* An app's threads at once: each with its own model, pool and cache, all
 * reading one dataset, run image jobs (personalization with augmentation
 * and a cache, prediction with and without the cache, evaluation, the
 * recipe chooser) and keyboard jobs (a text with new words) at the same
 * time. Each result must be bit for bit what the same job gives alone: no
 * job may see another's state (the pack buffers are per thread, the kernel
 * choices and environment switches are read once, atomically). The
 * contract is among the conventions atop include/autlearn.h. `make
 * test-tsan` runs this test under ThreadSanitizer, which also reports a
 * race that happens to leave the results intact. */
#include "al_test.h"

#include <pthread.h>

#define NI 48
#define IMG_SPEC "input 3x16x16; conv 8 k=3 p=1; relu; conv 8 k=3 p=1 s=2; relu; gap; flatten; dense 3"
#define LM_SPEC "tokens 4; embedding 8 vocab=10; lstm 16; dense 10"
#define VOCAB "<unk>\n</s>\n<num>\nthe\ncat\nsat\non\nmat\n.\n,"
#define JOBS 5 /* 3 image jobs, 2 keyboard jobs */

static float X[NI * 3 * 16 * 16];
static al_dataset *D;

typedef struct {
    int k;
    al_status st;
    char msg[256];
    float *w;      /* the weights after the job */
    size_t nw;
    float y[NI * 3], yc[NI * 3]; /* predictions without and with the cache */
    double loss, acc;
    int best;      /* the chooser's recipe */
} result;

static void fail(result *r, al_status st) {
    r->st = st;
    snprintf(r->msg, sizeof r->msg, "%s", al_last_error());
}

static void keep_weights(result *r, const al_model *m) {
    r->nw = m->nweights;
    r->w = malloc(sizeof(float) * (r->nw ? r->nw : 1));
    if (r->w) memcpy(r->w, m->wblock, sizeof(float) * r->nw);
}

static void image_job(result *r) {
    al_model *m = NULL;
    al_pool *p = NULL;
    al_cache *c = NULL;
    al_status st = al_model_from_spec(IMG_SPEC, (uint64_t)r->k + 1, &m);
    if (!st) st = al_pool_new(2, &p);
    if (!st) st = al_cache_new(1 << 20, NULL, &c);
    al_personalize_config pc;
    al_personalize_config_default(&pc);
    pc.freeze = 4;
    pc.train.epochs = 2;
    pc.train.batch = 8;
    pc.aug_variants = 2;
    al_personalize_report rep;
    if (!st) st = al_personalize(m, p, D, NULL, c, &pc, NULL, &rep);
    if (!st) st = al_model_predict(m, p, X, NI, r->y);
    if (!st) st = al_model_predict_cached(m, p, X, NI, NULL, c, r->yc);
    if (!st) st = al_evaluate(m, p, D, 16, &r->loss, &r->acc);
    al_auto_report ar;
    al_personalize_config_default(&pc);
    pc.train.epochs = 1;
    pc.val_folds = 0;
    if (!st) st = al_personalize_auto(m, p, D, NULL, c, &pc, &ar);
    if (st) fail(r, st);
    else {
        r->best = ar.best;
        keep_weights(r, m);
    }
    al_cache_free(c);
    al_pool_free(p);
    al_model_free(m);
}

static void text_job(result *r) {
    static const char text[] = "the cat sat on the mat . the dog sat on the mat , zork zork zork blip blip the cat . "
                               "the cat sat on the mat . the dog sat on the mat , zork zork zork blip blip the cat . ";
    al_model *m = NULL;
    al_pool *p = NULL;
    al_status st = al_model_from_spec(LM_SPEC, (uint64_t)r->k + 1, &m);
    if (!st) st = al_model_set_meta(m, "autlearn.vocab", VOCAB);
    if (!st) st = al_pool_new(2, &p);
    al_personalize_config pc;
    al_personalize_config_default(&pc);
    pc.freeze = 1;
    pc.train.epochs = 2;
    pc.train.batch = 2;
    al_text_job j;
    al_text_job_default(&j);
    j.new_word_min_count = 2;
    al_personalize_report rep;
    if (!st) st = al_lm_personalize_text(m, p, text, sizeof text - 1, NULL, &pc, &j, &rep);
    if (st) fail(r, st);
    else keep_weights(r, m); /* the grown model's: new words included */
    al_pool_free(p);
    al_model_free(m);
}

static void *run(void *arg) {
    result *r = arg;
    if (r->k < 3) image_job(r);
    else text_job(r);
    return NULL;
}

static int same(const result *a, const result *b) {
    if (a->st != b->st || a->nw != b->nw || !a->w || !b->w) return 0;
    if (memcmp(a->w, b->w, sizeof(float) * a->nw)) return 0;
    if (a->k < 3)
        return !memcmp(a->y, b->y, sizeof a->y) && !memcmp(a->yc, b->yc, sizeof a->yc) && a->loss == b->loss &&
               a->acc == b->acc && a->best == b->best;
    return 1;
}

int main(void) {
    al_set_log(NULL, NULL, AL_LOG_ERROR);
    static int32_t y[NI];
    for (size_t i = 0; i < sizeof X / sizeof X[0]; i++) X[i] = (float)((i * 7) % 13) / 13.0f;
    for (int i = 0; i < NI; i++) y[i] = i % 3;
    al_tensor t = {NULL, 3, {3, 16, 16, 0}};
    REQUIRE_OK(al_dataset_from_arrays(X, y, NI, &t, 1, 3, &D));
    static result alone[JOBS], together[JOBS];
    /* each job alone, one after another */
    for (int k = 0; k < JOBS; k++) {
        alone[k].k = k;
        run(&alone[k]);
        if (alone[k].st) fprintf(stderr, "job %d alone: %s: %s\n", k, al_status_name(alone[k].st), alone[k].msg);
        CHECK(alone[k].st == AL_OK && alone[k].w != NULL);
    }
    /* the jobs differ (their seeds), so equal results below are not one job's */
    CHECK(alone[0].nw == alone[1].nw && memcmp(alone[0].w, alone[1].w, sizeof(float) * alone[0].nw) != 0);
    /* the keyboard jobs grew the vocabulary by the text's new words */
    al_model *base;
    REQUIRE_OK(al_model_from_spec(LM_SPEC, 1, &base));
    CHECK(alone[3].nw > base->nweights && alone[3].nw == alone[4].nw);
    al_model_free(base);
    /* all at once, twice (a second round starts with every kernel choice made) */
    for (int round = 0; round < 2; round++) {
        pthread_t th[JOBS];
        for (int k = 0; k < JOBS; k++) {
            free(together[k].w);
            memset(&together[k], 0, sizeof together[k]);
            together[k].k = k;
            REQUIRE_OK(pthread_create(&th[k], NULL, run, &together[k]) ? AL_ENOMEM : AL_OK);
        }
        for (int k = 0; k < JOBS; k++) pthread_join(th[k], NULL);
        for (int k = 0; k < JOBS; k++) {
            if (!same(&alone[k], &together[k]))
                fprintf(stderr, "round %d: job %d run beside the others differs from it alone (%s %s)\n", round, k,
                        al_status_name(together[k].st), together[k].msg);
            CHECK(same(&alone[k], &together[k]));
        }
    }
    for (int k = 0; k < JOBS; k++) {
        free(alone[k].w);
        free(together[k].w);
    }
    al_dataset_free(D);
    TEST_END("test_concurrent");
}
