/* Memory budgets: the dry-run size of a model's plan is what al_model_plan
 * allocates; the plan of a whole personalization job bounds what it really
 * allocates (measured through the allocator hook); fitting into a budget
 * shrinks the cache bound first, then halves the batch, else AL_EBUDGET
 * before anything is allocated; a budget that fits changes nothing, and a
 * shrunk batch trains exactly as if that batch had been asked for. */
#include "al_test.h"
#include "train/train.h"

#include <unistd.h>

/* ---- an allocator that counts live bytes and their peak -------------------- */

static size_t live, peak;
static void *cnt_malloc(void *u, size_t n) {
    (void)u;
    char *p = malloc(n + 16);
    if (!p) return NULL;
    memcpy(p, &n, sizeof n);
    live += n;
    if (live > peak) peak = live;
    return p + 16;
}
static void cnt_free(void *u, void *q) {
    (void)u;
    if (!q) return;
    char *p = (char *)q - 16;
    size_t n;
    memcpy(&n, p, sizeof n);
    live -= n;
    free(p);
}

/* a frozen conv prefix with large activations, a small trained suffix */
#define SPEC "input 1x8x8; conv 8 k=3 p=1; relu; conv 8 k=3 p=1; relu; flatten; dense 12; relu; dense 3"
#define FREEZE 5

static al_model *fresh(void) {
    al_model *m;
    REQUIRE_OK(al_model_from_spec(SPEC, 5, &m));
    return m;
}

static void cfg_for(al_personalize_config *c, int batch) {
    al_personalize_config_default(c);
    c->train.epochs = 3;
    c->train.batch = batch;
    c->train.lr = 0.05;
    c->freeze = FREEZE;
}

/* The dry run of al_model_plan measures exactly the block it allocates. */
static void test_plan_bytes(void) {
    int batches[] = {1, 3, 16, 64};
    for (int k = 0; k < 4; k++) {
        al_model *m = fresh();
        size_t want = al_model_plan_bytes(m, batches[k]);
        CHECK(want > 0);
        size_t before = live;
        REQUIRE_OK(al_model_plan(m, batches[k]));
        CHECK(live - before == want);
        CHECK(al_model_plan_bytes(m, 2 * batches[k]) > want); /* activations grow with the batch */
        al_model_free(m);
    }
    al_model *m = fresh();
    CHECK(al_model_plan_bytes(m, 0) == 0);
    /* release and re-plan smaller */
    REQUIRE_OK(al_model_plan(m, 32));
    size_t at32 = live;
    al_model_release_plan(m);
    REQUIRE_OK(al_model_plan(m, 4));
    CHECK(live < at32 && m->maxbatch == 4);
    al_model_free(m);
}

/* The plan bounds the bytes the job allocates at its peak, and is not loose
 * by more than the fixed allowance and the parts a step need not touch. */
static void check_job(const al_dataset *d, al_pool *pool, al_personalize_config *c, size_t cache_bytes,
                      const char *spill, size_t budget, al_personalize_report *r, al_model **out) {
    al_model *m = fresh();
    al_cache *cache = NULL;
    if (cache_bytes != (size_t)-1) REQUIRE_OK(al_cache_new(cache_bytes, spill, &cache));
    c->mem_budget_bytes = budget;
    al_mem_plan p;
    REQUIRE_OK(al_personalize_plan_memory(m, pool, d, cache, c, &p));
    size_t base = live;
    peak = live;
    REQUIRE_OK(al_personalize(m, pool, d, NULL, cache, c, NULL, r));
    size_t used = peak - base;
    CHECK(r->mem.total == p.total && r->mem.batch_used == p.batch_used && r->mem.cache_used == p.cache_used);
    if (getenv("MB_DEBUG") || used > p.total) fprintf(stderr, "B %d/%d cache %zu: job allocated %zu bytes at its peak, planned %zu (gemm %zu)\n", p.batch_used, p.batch_requested, p.cache_used, used, p.total, p.gemm);
    CHECK(used <= p.total);
    /* not loose: beyond the fixed allowance and the pack buffers that an
     * earlier job may have made, at least 70% of the plan is allocated */
    CHECK(used + p.overhead >= (p.total - p.gemm) / 10 * 7);
    if (budget) CHECK(p.total <= budget);
    CHECK(p.total == p.weights + p.grads + p.optim + p.activations + p.batch_buffers + p.staging + p.snapshot +
                         p.cache + p.cache_index + p.gemm + p.overhead);
    CHECK(p.dataset == (size_t)d->n * (64 * sizeof(float) + sizeof(int32_t)));
    al_cache_free(cache);
    *out = m;
}

static void test_fit(const al_dataset *d, al_pool *pool) {
    al_personalize_config c;
    cfg_for(&c, 16);
    al_model *m = fresh();
    al_cache *cache;
    REQUIRE_OK(al_cache_new((size_t)64 << 20, NULL, &cache));
    al_mem_plan p0, p;
    REQUIRE_OK(al_personalize_plan_memory(m, pool, d, cache, &c, &p0));
    CHECK(p0.batch_used == 16 && p0.batch_requested == 16);
    CHECK(p0.cache_requested == (size_t)64 << 20 && p0.cache_used == p0.cache_requested);
    CHECK(p0.cache > 0 && p0.activations > 0 && p0.optim > 0 && p0.budget == 0);
    /* the whole need fits: nothing changes */
    c.mem_budget_bytes = p0.total;
    REQUIRE_OK(al_personalize_plan_memory(m, pool, d, cache, &c, &p));
    CHECK(p.batch_used == 16 && p.cache_used == p0.cache_requested && p.total == p0.total);
    /* one byte less: the cache gives way, the batch stays */
    c.mem_budget_bytes = p0.total - 1;
    REQUIRE_OK(al_personalize_plan_memory(m, pool, d, cache, &c, &p));
    CHECK(p.batch_used == 16 && p.cache_used < p0.cache_requested && p.total <= c.mem_budget_bytes);
    /* no room for the cache at batch 16: the batch halves until it fits
     * (to 8: on 2 threads batch 4 needs more than 8, whose two chunk
     * arenas fit in the plan's unused span where batch 4's do not) */
    al_personalize_config c8 = c;
    c8.train.batch = 8;
    c8.mem_budget_bytes = 0;
    al_mem_plan p8;
    al_cache *none;
    REQUIRE_OK(al_cache_new(0, NULL, &none));
    REQUIRE_OK(al_personalize_plan_memory(m, pool, d, none, &c8, &p8));
    al_cache_free(none);
    c.mem_budget_bytes = p8.total + 4096;
    REQUIRE_OK(al_personalize_plan_memory(m, pool, d, cache, &c, &p));
    CHECK(p.batch_used == 8 && p.batch_requested == 16);
    CHECK(p.total <= c.mem_budget_bytes && p.cache_used < p0.cache_requested);
    /* batch 1 without a cache does not fit: AL_EBUDGET naming both */
    al_personalize_config c1 = c;
    c1.train.batch = 1;
    c1.mem_budget_bytes = 0;
    al_mem_plan p1;
    REQUIRE_OK(al_personalize_plan_memory(m, pool, d, NULL, &c1, &p1));
    c.mem_budget_bytes = p1.total - 1;
    CHECK_STATUS(al_personalize_plan_memory(m, pool, d, cache, &c, &p), AL_EBUDGET);
    CHECK(strstr(al_last_error(), "cannot be met") && strstr(al_last_error(), "MiB"));
    /* ... and al_personalize refuses before training or allocating anything big */
    size_t before = live;
    peak = live;
    al_personalize_report r;
    CHECK_STATUS(al_personalize(m, pool, d, NULL, cache, &c, NULL, &r), AL_EBUDGET);
    /* the planner's own buffer lists (about 0.5 KiB a node), nothing sized by the batch */
    CHECK(peak - before < 8192 && live == before && m->maxbatch == 0);
    al_cache_free(cache);
    al_model_free(m);
}

static void test_results(const al_dataset *d, al_pool *pool) {
    al_personalize_config c;
    al_personalize_report r0, r1, r2, r3, r4;
    al_model *m0, *m1, *m2, *m3, *m4;
    /* no budget, a generous one: bit-identical */
    cfg_for(&c, 16);
    check_job(d, pool, &c, (size_t)64 << 20, NULL, 0, &r0, &m0);
    cfg_for(&c, 16);
    check_job(d, pool, &c, (size_t)64 << 20, NULL, (size_t)1 << 30, &r1, &m1);
    CHECK(r1.mem.batch_used == 16 && r1.mem.cache_used == (size_t)64 << 20);
    CHECK(memcmp(m0->wblock, m1->wblock, sizeof(float) * m0->nweights) == 0);
    CHECK(r0.cache.entries_mem == (uint64_t)d->n && r1.cache.entries_mem == (uint64_t)d->n);
    /* a budget that halves the batch to 8 trains as batch 8 asked for */
    al_personalize_config c8;
    cfg_for(&c8, 8);
    al_mem_plan p8;
    al_cache *none;
    al_model *unplanned = fresh();
    REQUIRE_OK(al_cache_new(0, NULL, &none));
    REQUIRE_OK(al_personalize_plan_memory(unplanned, pool, d, none, &c8, &p8));
    al_cache_free(none);
    al_model_free(unplanned);
    size_t budget = p8.total + 4096;
    cfg_for(&c, 16);
    check_job(d, pool, &c, (size_t)64 << 20, NULL, budget, &r2, &m2);
    CHECK(r2.mem.batch_used == 8 && r2.mem.batch_requested == 16);
    CHECK(r2.cache.entries_mem < (uint64_t)d->n); /* the bound shrank: some recomputed */
    cfg_for(&c, 8);
    check_job(d, pool, &c, (size_t)-1, NULL, 0, &r3, &m3);
    CHECK(memcmp(m2->wblock, m3->wblock, sizeof(float) * m2->nweights) == 0);
    CHECK(memcmp(m2->wblock, m0->wblock, sizeof(float) * m2->nweights) != 0);
    /* the same budget with a spill file: past the bound entries go there */
    char spill[] = "/tmp/al_membudget_spill_XXXXXX";
    int fd = mkstemp(spill);
    CHECK(fd >= 0);
    if (fd >= 0) close(fd);
    cfg_for(&c, 16);
    check_job(d, pool, &c, (size_t)64 << 20, spill, budget, &r4, &m4);
    CHECK(r4.mem.batch_used == 8 && r4.mem.cache_spill == 1 && r2.mem.cache_spill == 0);
    CHECK(r4.cache.entries_spilled > 0 && r4.cache.entries_mem + r4.cache.entries_spilled == (uint64_t)d->n);
    CHECK(memcmp(m4->wblock, m3->wblock, sizeof(float) * m4->nweights) == 0);
    CHECK(access(spill, F_OK) != 0); /* removed with the cache */
    unlink(spill);
    /* Adam and a model already planned for a larger batch: planned anew */
    cfg_for(&c, 16);
    c.train.optim = AL_OPT_ADAM;
    c.train.lr = 0.01;
    al_model *m5 = fresh();
    REQUIRE_OK(al_model_plan(m5, 64));
    c.mem_budget_bytes = budget + (size_t)64 * 1024;
    al_personalize_report r5;
    const size_t base5 = live - m5->plan_size;
    REQUIRE_OK(al_personalize(m5, pool, d, NULL, NULL, &c, NULL, &r5));
    /* the job's plan freed when it ended, the one for 64 too */
    CHECK(r5.mem.batch_used < 16 && r5.mem.total <= c.mem_budget_bytes && m5->plan_block == NULL && live == base5);
    /* the same job as a trainer, which keeps its plan until freed: made
     * for the budgeted batch */
    REQUIRE_OK(al_model_plan(m5, 64));
    al_trainer *t5;
    al_train_report tr5;
    REQUIRE_OK(al_personalize_new(m5, pool, d, NULL, NULL, &c, &t5));
    REQUIRE_OK(al_trainer_run(t5, d, NULL, &tr5));
    CHECK(m5->maxbatch == r5.mem.batch_used);
    al_trainer_free(t5);
    al_model_free(m5);
    al_model_free(m0);
    al_model_free(m1);
    al_model_free(m2);
    al_model_free(m3);
    al_model_free(m4);
}

/* Adam at lr 0.01, batch 16: the plain trainer's jobs below. */
static al_train_config adam_config(int epochs) {
    al_train_config c;
    al_train_config_default(&c);
    c.epochs = epochs;
    c.batch = 16;
    c.optim = AL_OPT_ADAM;
    c.lr = 0.01;
    return c;
}

/* Trains m with c on d (and evaluates, with eval) and checks what the job
 * allocated at its peak against plan p: bounded, and not loose beyond the
 * fixed allowance and the pack buffers. */
static void run_within(al_model *m, al_pool *pool, const al_train_config *c, const al_dataset *d, int eval,
                       const al_mem_plan *p, const char *what) {
    size_t base = live;
    peak = live;
    al_trainer *t;
    al_train_report r;
    REQUIRE_OK(al_trainer_new(m, pool, c, &t));
    REQUIRE_OK(al_trainer_run(t, d, eval ? d : NULL, &r));
    if (eval) REQUIRE_OK(al_evaluate(m, pool, d, c->batch, NULL, NULL));
    size_t used = peak - base;
    al_trainer_free(t);
    if (getenv("MB_DEBUG") || used > p->total)
        fprintf(stderr, "%s: allocated %zu at the peak, planned %zu\n", what, used, p->total);
    CHECK(used <= p->total);
    CHECK(used + p->overhead >= (p->total - p->gemm) / 10 * 7);
}

/* The optimizer's part of the plan counts exactly the tensors the optimizer
 * keeps state for: a parameter subset (bias-only) or a frozen suffix
 * (train_end) plans less than everything, and the plan still bounds the job. */
static void test_optim_part(const al_dataset *d, al_pool *pool) {
    al_train_config c = adam_config(1);
    al_model *m = fresh();
    al_mem_plan all, bias, suffix;
    REQUIRE_OK(al_trainer_plan_memory(m, pool, d, &c, 0, &all));
    c.param_subset = AL_PARAMS_BIAS;
    REQUIRE_OK(al_trainer_plan_memory(m, pool, d, &c, 0, &bias));
    c.param_subset = AL_PARAMS_ALL;
    c.train_end = m->nnodes - 1; /* the output layer held */
    REQUIRE_OK(al_trainer_plan_memory(m, pool, d, &c, 0, &suffix));
    /* Adam: two state floats per trained weight */
    size_t out_w = 0, biases = 0;
    for (int i = 0; i < m->nnodes; i++)
        for (int k = 0; k < m->nodes[i].nparams; k++) {
            const al_param *pr = &m->nodes[i].params[k];
            if (pr->is_state) continue;
            if (i == m->nnodes - 1) out_w += pr->n;
            if (al_optim_in_subset(&m->nodes[i], pr, AL_PARAMS_BIAS)) biases += pr->n;
        }
    CHECK(biases > 0 && out_w > 0);
    CHECK(all.optim - suffix.optim >= 2 * sizeof(float) * out_w);
    CHECK(bias.optim < all.optim && bias.optim >= 2 * sizeof(float) * biases);
    for (int k = 0; k < 2; k++) {
        al_model *mk = fresh();
        c.param_subset = k == 0 ? AL_PARAMS_BIAS : AL_PARAMS_ALL;
        c.train_end = k == 0 ? 0 : mk->nnodes - 1;
        run_within(mk, pool, &c, d, 0, k == 0 ? &bias : &suffix, k == 0 ? "bias-only" : "frozen suffix");
        al_model_free(mk);
    }
    al_model_free(m);
}

/* ---- the plain trainer (al_trainer_plan_memory) ------------------------------------ */

/* The plan bounds what al_trainer_new and a run with evaluation allocate;
 * a budget halves the batch (the caller trains with batch_used). */
static void test_trainer(const al_dataset *d, al_pool *pool) {
    al_train_config c = adam_config(2);
    c.patience = 2; /* the best weights' copy too */
    al_model *m = fresh();
    al_mem_plan p16, p4, p;
    REQUIRE_OK(al_trainer_plan_memory(m, pool, d, &c, 0, &p16));
    CHECK(p16.batch_used == 16 && p16.cache == 0 && p16.staging == 0 && p16.budget == 0);
    c.batch = 4;
    REQUIRE_OK(al_trainer_plan_memory(m, pool, d, &c, 0, &p4));
    c.batch = 16;
    REQUIRE_OK(al_trainer_plan_memory(m, pool, d, &c, p4.total, &p));
    CHECK(p.batch_used == 4 && p.batch_requested == 16 && p.total == p4.total);
    c.batch = p.batch_used;
    run_within(m, pool, &c, d, 1, &p, "trainer");
    /* batch 1 does not fit: AL_EBUDGET before anything is allocated */
    c.batch = 1;
    al_mem_plan p1;
    al_model *m2 = fresh();
    REQUIRE_OK(al_trainer_plan_memory(m2, pool, d, &c, 0, &p1));
    c.batch = 16;
    (void)al_error(AL_EINVAL, "(no error yet)");
    CHECK_STATUS(al_trainer_plan_memory(m2, pool, d, &c, p1.total - 1, &p), AL_EBUDGET);
    CHECK(strstr(al_last_error(), "this training needs at least") != NULL);
    al_model_free(m2);
    al_model_free(m);
}

/* ---- the text path (al_lm_plan_memory, al_lm_personalize) ---------------------- */

#define LM_SPEC "tokens 6; embedding 5 vocab=23; lstm 16; dense 23"
#define LM_N 1500L

static void lm_stream(int32_t *ids) {
    al_rng r;
    al_rng_seed(&r, 9, 4);
    for (long i = 0; i < LM_N; i++) ids[i] = i % 6 == 5 ? AL_TOK_EOS : 3 + (int32_t)al_rng_below(&r, 20);
}

static void lm_cfg(al_personalize_config *c, int freeze, int batch) {
    al_personalize_config_default(c);
    c->train.epochs = 2;
    c->train.batch = batch;
    c->train.lr = 0.05;
    c->freeze = freeze;
}

/* One al_lm_personalize on a fresh model: the plan bounds what it allocates
 * at its peak (the windows, the stream pass, a cache of its own) and is not
 * loose; returns the model and report. */
static al_model *lm_job(al_pool *pool, const int32_t *ids, al_personalize_config *c, al_cache *cache,
                        al_personalize_report *r) {
    al_model *m;
    REQUIRE_OK(al_model_from_spec(LM_SPEC, 3, &m));
    al_mem_plan p;
    REQUIRE_OK(al_lm_plan_memory(m, pool, LM_N, cache, c, &p));
    size_t base = live;
    peak = live;
    REQUIRE_OK(al_lm_personalize(m, pool, ids, LM_N, cache, c, r));
    size_t used = peak - base;
    if (getenv("MB_DEBUG") || used > p.total)
        fprintf(stderr, "text: B %d/%d cache %zu: allocated %zu at the peak, planned %zu\n", p.batch_used,
                p.batch_requested, p.cache_used, used, p.total);
    CHECK(used <= p.total);
    CHECK(used + p.overhead >= (p.total - p.gemm) / 10 * 7);
    CHECK(r->mem.total == p.total && r->mem.batch_used == p.batch_used && r->mem.cache_used == p.cache_used);
    CHECK(p.dataset == (size_t)LM_N * sizeof(int32_t));
    return m;
}

static void test_text(al_pool *pool) {
    static int32_t ids[LM_N];
    lm_stream(ids);
    const size_t windows = (LM_N - 1) / 6, entry = sizeof(float) * 6 * 16;
    al_personalize_config c;
    al_personalize_report r0, r1, r2, r3;
    /* the LSTM frozen: its states come from the stream pass, all kept in a cache of the job's own */
    lm_cfg(&c, 2, 8);
    al_model *m0 = lm_job(pool, ids, &c, NULL, &r0);
    CHECK(r0.mem.cache == windows * entry && r0.mem.cache_used == windows * entry);
    CHECK(r0.cache.entries_mem == windows && r0.cache.dropped == 0);
    /* a budget below those windows even at batch 1: refused before
     * anything is allocated, naming them, although a cache's bound and
     * the batch could shrink */
    lm_cfg(&c, 2, 1);
    al_mem_plan p1, p;
    al_model *m;
    REQUIRE_OK(al_model_from_spec(LM_SPEC, 3, &m));
    REQUIRE_OK(al_lm_plan_memory(m, pool, LM_N, NULL, &c, &p1));
    CHECK(p1.cache == windows * entry);
    al_cache *cache;
    REQUIRE_OK(al_cache_new((size_t)64 << 20, NULL, &cache));
    lm_cfg(&c, 2, 8);
    c.mem_budget_bytes = p1.total - windows * entry / 2;
    size_t before = live;
    peak = live;
    (void)al_error(AL_EINVAL, "(no error yet)"); /* a stale message must not pass the check below */
    CHECK_STATUS(al_lm_personalize(m, pool, ids, LM_N, cache, &c, &r1), AL_EBUDGET);
    CHECK(strstr(al_last_error(), "cannot be recomputed") && strstr(al_last_error(), "spill"));
    CHECK(peak - before < 4096 && live == before);
    CHECK_STATUS(al_lm_plan_memory(m, pool, LM_N, NULL, &c, &p), AL_EBUDGET);
    al_model_free(m);
    al_cache_free(cache);
    /* the same budget with a spill file: the windows past the bound go to
     * disk and are read back exactly: the same weights as the batch the
     * budget left, asked for without a budget */
    char spill[] = "/tmp/al_membudget_lm_XXXXXX";
    int fd = mkstemp(spill);
    CHECK(fd >= 0);
    if (fd >= 0) close(fd);
    REQUIRE_OK(al_cache_new((size_t)64 << 20, spill, &cache));
    al_model *m1 = lm_job(pool, ids, &c, cache, &r1);
    CHECK(r1.mem.cache_spill == 1 && r1.mem.cache_used < windows * entry && r1.mem.total <= c.mem_budget_bytes);
    CHECK(r1.cache.entries_spilled > 0 && r1.cache.entries_mem + r1.cache.entries_spilled == windows);
    CHECK(r1.prefix_samples == windows); /* one stream pass, no window recomputed */
    al_cache_free(cache);
    CHECK(access(spill, F_OK) != 0);
    unlink(spill);
    lm_cfg(&c, 2, r1.mem.batch_used);
    al_model *m1b = lm_job(pool, ids, &c, NULL, &r2);
    CHECK(r2.cache.entries_spilled == 0 && r2.mem.batch_used == r1.mem.batch_used);
    CHECK(memcmp(m1->wblock, m1b->wblock, sizeof(float) * m0->nweights) == 0);
    al_model_free(m1b);
    /* the LSTM trained (TBPTT): a budget that holds batch 2 but not 4 cuts
     * the text into 2 streams and trains exactly as batch 2 asked for */
    lm_cfg(&c, 1, 2);
    REQUIRE_OK(al_model_from_spec(LM_SPEC, 3, &m));
    al_mem_plan p2, p4;
    REQUIRE_OK(al_lm_plan_memory(m, pool, LM_N, NULL, &c, &p2));
    c.train.batch = 4;
    REQUIRE_OK(al_lm_plan_memory(m, pool, LM_N, NULL, &c, &p4));
    al_model_free(m);
    CHECK(p4.total > p2.total);
    lm_cfg(&c, 1, 2);
    al_model *m2 = lm_job(pool, ids, &c, NULL, &r2);
    lm_cfg(&c, 1, 8);
    c.mem_budget_bytes = p2.total;
    al_model *m3 = lm_job(pool, ids, &c, NULL, &r3);
    CHECK(r3.mem.batch_used == 2 && r3.mem.batch_requested == 8 && r3.mem.total <= p2.total);
    CHECK(r3.train.steps == r2.train.steps && r3.suffix_samples == r2.suffix_samples);
    CHECK(memcmp(m3->wblock, m2->wblock, sizeof(float) * m2->nweights) == 0);
    CHECK(memcmp(m3->wblock, m0->wblock, sizeof(float) * m0->nweights) != 0);
    /* only some output rows trained (the LSTM's state windows cached, the
     * output layer the trainable part): the plan counts the rows' block */
    lm_cfg(&c, 2, 8);
    al_mem_plan pall;
    REQUIRE_OK(al_model_from_spec(LM_SPEC, 3, &m));
    REQUIRE_OK(al_lm_plan_memory(m, pool, LM_N, NULL, &c, &pall));
    al_model_free(m);
    c.train_rows = 7;
    al_personalize_report r4;
    al_model *m4 = lm_job(pool, ids, &c, NULL, &r4);
    CHECK(r4.mem.staging > pall.staging && r4.mem.total == pall.total + (r4.mem.staging - pall.staging));
    CHECK(r4.train.steps > 0 && r4.macs > 0);
    al_model_free(m4);
    al_model_free(m0);
    al_model_free(m1);
    al_model_free(m2);
    al_model_free(m3);
}

/* Each GEMM layer alone (a model of that one node), trained from its
 * input: a forward and a backward of n samples on 1 and 3 threads ask no
 * thread's own pack buffer for more than the layer's pack_floats
 * (al_model_pack_floats of the one node). Every conv route (a sample at a
 * time on large images, over the batch on small ones, a 1x1 conv's input
 * gradient a sample at a time, dilated, grouped, Winograd), the dense on
 * one and several rows a sample, the matmul, the LSTM with and without
 * rank, the GRU. */
static void test_layer_bounds(al_pool *pool3) {
    static const char *const specs[] = {
        "input 3x20x20; conv 5 k=3 p=1 act=relu",
        "input 4x8x8; conv 6 k=3 p=1",
        "input 8x16x16; conv 5 k=1",
        "input 3x12x12; conv 4 k=3 p=2 dil=2",
        "input 4x10x10; gconv 6 g=2 k=3 p=1",
        "input 40; dense 7",
        "input 5x40; dense 7",
        "input 8x20; dense 20; transpose perm=1,0; matmul -1",
        "input 6x5; lstm 12",
        "input 6x5; lstm 8 rank=3",
        "input 6x5; gru 10",
    };
    static const int ns[] = {13, 5, 1};
    int checked = 0;
    for (size_t s = 0; s < sizeof specs / sizeof *specs; s++)
        for (int wino = 0; wino < 2; wino++)
            for (int t = 0; t < 2; t++) {
                al_conv_force(wino ? AL_CONV_WINOGRAD : AL_CONV_AUTO);
                al_pool *pool = t ? pool3 : NULL;
                al_model *m;
                REQUIRE_OK(al_model_from_spec(specs[s], 7, &m));
                const size_t yo = al_shape_numel(&m->nodes[m->nnodes - 1].out); /* the logits */
                float *x = al_test_rand_input(m, 13, 5), *dy = malloc(sizeof(float) * 13 * yo);
                for (size_t i = 0; i < 13 * yo; i++) dy[i] = 0.01f * (float)((int)(i % 7) - 3);
                for (size_t k = 0; k < sizeof ns / sizeof *ns; k++) {
                    const float *out;
                    (void)al_gemm_own_peak(1);
                    REQUIRE_OK(al_model_forward_from(m, pool, 0, x, ns[k], 1, &out));
                    REQUIRE_OK(al_model_backward(m, pool, x, dy, ns[k]));
                    const size_t asked = al_gemm_own_peak(0), bound = al_model_pack_floats(m, ns[k], 0);
                    if (asked > bound)
                        fprintf(stderr, "layer bound: %s wino %d threads %d, %d samples: asked %zu floats, bound %zu\n",
                                specs[s], wino, t ? 3 : 1, ns[k], asked, bound);
                    CHECK(asked <= bound);
                    checked += asked > 0;
                }
                free(x);
                free(dy);
                al_model_free(m);
            }
    al_conv_force(AL_CONV_AUTO);
    CHECK(checked >= 100 || al_gemm_current() == AL_GEMM_REF);
}

/* The GEMM pack buffers of the pool's threads: the plan counts each at
 * al_gemm_own_bytes of the most any pass of the job asks of one thread
 * (al_model_pack_floats); training (every freeze point's backward reach)
 * and evaluating at the planned batch on 1 and 3 threads never asks more
 * of a thread's own buffer (al_gemm_own_peak). Every layer that calls the
 * GEMM, each conv route (a sample at a time on large images, over the
 * batch on small ones, grouped, dilated), the LSTM with and without rank. */
static void test_gemm_bound(al_pool *pool3) {
    static const char *const specs[] = {
        "input 3x20x20; conv 16 k=3 p=1 act=relu; conv 24 k=1; gconv 24 g=2 k=3 s=2 p=1; conv 8 k=3 p=2 dil=2; "
        "flatten; dense 16; dense 3",
        "input 8x16; dense 8; matmul -1; flatten; dense 3",
        "input 6x5; lstm 12; lstm 8 rank=3; flatten; dense 3",
        "input 6x5; gru 10; flatten; dense 3",
        "refcnn",
    };
    const int n = 24;
    int checked = 0;
    for (size_t s = 0; s < sizeof specs / sizeof *specs; s++)
        for (int t = 0; t < 2; t++) {
            al_pool *pool = t ? pool3 : NULL;
            al_model *m;
            REQUIRE_OK(al_model_from_spec(specs[s], 7, &m));
            float *x = al_test_rand_input(m, n, 5);
            int32_t *y = malloc(sizeof(int32_t) * n);
            for (int i = 0; i < n; i++) y[i] = i % 3;
            al_tensor xs = {NULL, m->in.ndim, {0}};
            for (int k = 0; k < m->in.ndim; k++) xs.shape[k] = m->in.d[k];
            al_dataset *d;
            REQUIRE_OK(al_dataset_from_arrays(x, y, n, &xs, 1, (int)al_shape_numel(&m->nodes[m->nnodes - 1].out), &d));
            for (int f = 0; f < m->nnodes; f += (m->nnodes + 2) / 3) {
                al_model *c;
                REQUIRE_OK(al_model_clone(m, &c));
                al_train_config cfg;
                al_train_config_default(&cfg);
                cfg.epochs = 1;
                cfg.batch = 8;
                cfg.lr = 0.01;
                REQUIRE_OK(al_model_freeze(c, f));
                al_mem_plan p;
                REQUIRE_OK(al_trainer_plan_memory(c, pool, d, &cfg, 0, &p));
                (void)al_gemm_own_peak(1);
                al_trainer *tr;
                al_train_report rep;
                REQUIRE_OK(al_trainer_new(c, pool, &cfg, &tr));
                REQUIRE_OK(al_trainer_run(tr, d, d, &rep));
                double acc;
                REQUIRE_OK(al_evaluate(c, pool, d, cfg.batch, NULL, &acc));
                al_trainer_free(tr);
                const size_t asked = al_gemm_own_peak(0), T = (size_t)al_pool_size(pool);
                if (al_gemm_own_bytes(asked) * T > p.gemm)
                    fprintf(stderr, "gemm bound: %s freeze %d threads %zu: asked %zu floats, planned %zu bytes\n",
                            specs[s], f, T, asked, p.gemm);
                CHECK(al_gemm_own_bytes(asked) * T <= p.gemm);
                /* far below the most any GEMM can ask (which the plan counted before) */
                CHECK(p.gemm < T * al_gemm_pack_bytes_max() || al_gemm_current() == AL_GEMM_REF);
                checked += asked > 0;
                al_model_free(c);
            }
            al_dataset_free(d);
            free(x);
            free(y);
            al_model_free(m);
        }
    CHECK(checked >= 20 || al_gemm_current() == AL_GEMM_REF);
}

int main(void) {
    al_allocator a = {cnt_malloc, cnt_free, NULL};
    al_set_allocator(&a);
    al_dataset *d = al_test_images(300, 7);
    al_pool *pool;
    REQUIRE_OK(al_pool_new(2, &pool));
    test_plan_bytes();
    test_fit(d, pool);
    test_results(d, pool);
    test_trainer(d, pool);
    test_optim_part(d, pool);
    test_text(pool);
    al_pool *pool3;
    REQUIRE_OK(al_pool_new(3, &pool3));
    test_layer_bounds(pool3);
    test_gemm_bound(pool3);
    al_pool_free(pool3);
    al_pool_free(pool);
    al_dataset_free(d);
    /* (the main thread's GEMM pack buffer stays until the process exits) */
    CHECK(live <= al_gemm_pack_bytes_max());
    al_set_allocator(NULL);
    TEST_END("test_membudget_plan");
}
