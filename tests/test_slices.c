/* Training in slices: any sequence of al_trainer_run_slice calls (random
 * step budgets, time budgets, two trainers interleaved, two runs in a row)
 * gives bit for bit the weights and report of uninterrupted runs, for the
 * plain trainer (SGD, Adam, early stopping with an evaluation set) and for
 * personalization (al_personalize_new, with the runtime cache). */
#include "al_test.h"

#define SPEC "input 2; dense 16; batchnorm; relu; dropout 0.2; dense 3"

static al_train_config config(al_optim_kind k, int patience) {
    al_train_config c;
    al_train_config_default(&c);
    c.optim = k;
    c.lr = k == AL_OPT_SGD ? 0.05 : 0.01;
    c.batch = 16;
    c.epochs = patience ? 12 : 5;
    c.patience = patience;
    c.seed = 3;
    c.sched = AL_SCHED_COSINE;
    c.warmup_steps = 4;
    return c;
}

typedef struct job {
    al_model *m;
    al_trainer *t;
} job;

static job job_new(const al_train_config *c) {
    job j;
    REQUIRE_OK(al_model_from_spec(SPEC, 5, &j.m));
    REQUIRE_OK(al_trainer_new(j.m, NULL, c, &j.t));
    return j;
}

static void job_free(job *j) {
    al_trainer_free(j->t);
    al_model_free(j->m);
}

static int same(const job *a, const job *b) {
    return a->m->nweights == b->m->nweights && memcmp(a->m->wblock, b->m->wblock, sizeof(float) * a->m->nweights) == 0;
}

static void same_report(const al_train_report *a, const al_train_report *b) {
    CHECK(a->epochs_run == b->epochs_run && a->best_epoch == b->best_epoch && a->stopped_early == b->stopped_early);
    CHECK(a->final_loss == b->final_loss && a->final_train_acc == b->final_train_acc);
    CHECK(a->best_eval_loss == b->best_eval_loss && a->final_eval_acc == b->final_eval_acc);
    CHECK(a->steps == b->steps && a->samples == b->samples);
}

/* Random step budgets of 1..max_budget; two runs in a row. */
static void test_steps(const al_train_config *c, const al_dataset *tr, const al_dataset *ev, uint64_t seed,
                       int max_budget) {
    job ref = job_new(c), sl = job_new(c);
    al_train_report rr1, rr2, r;
    REQUIRE_OK(al_trainer_run(ref.t, tr, ev, &rr1));
    REQUIRE_OK(al_trainer_run(ref.t, tr, ev, &rr2));
    al_rng rng;
    al_rng_seed(&rng, seed, 2);
    for (int run = 0; run < 2; run++) {
        int done = 0, slices = 0;
        long long last = 0;
        while (!done) {
            long long budget = 1 + al_rng_below(&rng, (uint32_t)max_budget);
            REQUIRE_OK(al_trainer_run_slice(sl.t, tr, ev, budget, 0.0, &done, &r));
            /* a slice never overruns its budget; the report grows with the run */
            CHECK(r.steps - last <= budget && r.steps >= last);
            CHECK(done || r.steps - last == budget);
            last = r.steps;
            slices++;
        }
        same_report(&r, run == 0 ? &rr1 : &rr2);
        CHECK(slices > 3);
        if (run == 0) {
            al_trainer_pos p;
            al_trainer_get_pos(sl.t, &p);
            CHECK(!p.in_run && p.runs_done == 1 && p.steps_done == rr1.steps);
        }
    }
    CHECK(same(&ref, &sl));
    job_free(&ref);
    job_free(&sl);
}

/* Time budgets: where the slices end depends on the clock, the result does not. */
static void test_time(const al_dataset *tr, const al_dataset *ev) {
    al_train_config c = config(AL_OPT_ADAM, 0);
    job ref = job_new(&c), sl = job_new(&c);
    al_train_report rr, r;
    REQUIRE_OK(al_trainer_run(ref.t, tr, ev, &rr));
    int done = 0, slices = 0;
    while (!done) {
        REQUIRE_OK(al_trainer_run_slice(sl.t, tr, ev, 0, 0.02, &done, &r));
        slices++;
    }
    CHECK(slices > 5);
    CHECK(same(&ref, &sl));
    same_report(&r, &rr);
    job_free(&ref);
    job_free(&sl);
}

/* Two jobs sliced in turn: no state is shared between trainers. */
static void test_interleaved(const al_dataset *tr, const al_dataset *ev) {
    al_train_config ca = config(AL_OPT_SGD, 0), cb = config(AL_OPT_ADAMW, 0);
    cb.seed = 9;
    job ra = job_new(&ca), rb = job_new(&cb), a = job_new(&ca), b = job_new(&cb);
    REQUIRE_OK(al_trainer_run(ra.t, tr, NULL, NULL));
    REQUIRE_OK(al_trainer_run(rb.t, ev, NULL, NULL));
    int da = 0, db = 0;
    while (!da || !db) {
        if (!da) REQUIRE_OK(al_trainer_run_slice(a.t, tr, NULL, 3, 0.0, &da, NULL));
        if (!db) REQUIRE_OK(al_trainer_run_slice(b.t, ev, NULL, 2, 0.0, &db, NULL));
    }
    CHECK(same(&ra, &a) && same(&rb, &b));
    CHECK(!same(&ra, &rb));
    job_free(&ra);
    job_free(&rb);
    job_free(&a);
    job_free(&b);
}

/* ---- personalization in slices ------------------------------------------------------- */

#define PSPEC "input 1x8x8; flatten; dense 24; relu; dense 16; relu; dense 3"

static void test_personalize(void) {
    al_dataset *d = al_test_images(44, 4), *t = al_test_images(30, 5);
    al_personalize_config c;
    al_personalize_config_default(&c);
    c.train.epochs = 5;
    c.train.batch = 8;
    c.train.lr = 0.05;
    c.freeze = 3;
    c.aug_variants = 3;
    c.aug.noise = 0.05f;
    al_model *ref, *m;
    REQUIRE_OK(al_model_from_spec(PSPEC, 11, &ref));
    REQUIRE_OK(al_model_from_spec(PSPEC, 11, &m));
    al_personalize_report rr;
    REQUIRE_OK(al_personalize(ref, NULL, d, NULL, NULL, &c, t, &rr));
    al_cache *cache;
    REQUIRE_OK(al_cache_new(64 << 20, NULL, &cache));
    al_trainer *tr;
    REQUIRE_OK(al_personalize_new(m, NULL, d, NULL, cache, &c, &tr));
    al_rng rng;
    al_rng_seed(&rng, 77, 1);
    int done = 0, slices = 0;
    al_train_report r;
    while (!done) {
        REQUIRE_OK(al_trainer_run_slice(tr, d, t, 1 + al_rng_below(&rng, 4), 0.0, &done, &r));
        slices++;
    }
    CHECK(slices > 5);
    CHECK(memcmp(m->wblock, ref->wblock, sizeof(float) * m->nweights) == 0);
    same_report(&r, &rr.train);
    al_cache_stats cs;
    al_cache_get_stats(cache, &cs);
    CHECK(cs.hits > 0); /* the cache was used across slices */
    al_trainer_free(tr);
    al_cache_free(cache);
    al_model_free(ref);
    al_model_free(m);
    al_dataset_free(d);
    al_dataset_free(t);
}

int main(void) {
    al_dataset *tr = al_test_blobs(150, 1, 0), *ev = al_test_blobs(60, 2, 0);
    al_train_config c = config(AL_OPT_SGD, 0);
    test_steps(&c, tr, NULL, 1, 9);
    c = config(AL_OPT_ADAM, 0);
    test_steps(&c, tr, ev, 2, 3);
    c = config(AL_OPT_SGD, 2);
    c.nesterov = 1;
    test_steps(&c, tr, ev, 3, 25);
    test_time(tr, ev);
    test_interleaved(tr, ev);
    test_personalize();
    al_dataset_free(tr);
    al_dataset_free(ev);
    TEST_END("test_slices");
}
