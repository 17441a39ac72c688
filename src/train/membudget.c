/* Memory budgets of personalization jobs: what a job allocates at its peak,
 * computed before it starts from the same layouts the allocating code uses
 * (the model's plan by a dry run of al_model_plan, the other blocks by the
 * same arena carving), and the fitting of that need into a budget: the
 * cache bound shrinks first, then the batch halves, else AL_EBUDGET.
 * The planner takes a description of the job (al_mem_job, train.h), not a
 * personalization config: personalization (personalize.c), its text path
 * (lm.c: its windows are staging, and the LSTM states of its stream pass
 * are cache entries that cannot be recomputed, so the bound never drops
 * below them without a spill file) and the plain trainer
 * (al_trainer_plan_memory: no source, no cache) each describe theirs.
 *
 * What is counted and what is not is documented with al_mem_plan in
 * include/autlearn.h. Every figure is an upper bound of what the job can
 * make resident: buffers that a step never touches (gradients of frozen
 * nodes' weights) are counted too. The activation block is the memory
 * planner's arena (src/model/memplan.c) for the job's freeze point. */

#include "train/train.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* Small structures (trainer, batch source, cache and GGUF writer state, the
 * checkpoint writer's 64 KiB staging chunk): a fixed allowance. */
#define AL_MEM_OVERHEAD ((size_t)192 << 10)

/* Everything about a job that does not depend on the batch or cache bound. */
typedef struct {
    const al_model *m;
    int freeze;               /* first trainable node */
    size_t xn, yo, feat;     /* floats per sample: input, output, input of node freeze */
    int n, y_len;            /* training samples, labels per sample */
    size_t weights, grads, optim, snapshot_fixed, best, resume_file;
    size_t recurrent_units;       /* sum of the LSTM and GRU nodes' units (carried state rows in the snapshot) */
    int snapshot;            /* the trainer keeps a rollback snapshot */
    int cached;              /* the job uses the cache */
    size_t entries;          /* distinct (sample, variant) keys the job can store */
    int spill;
    size_t cache_min;        /* bytes of entries that cannot be recomputed exactly (kept in memory) */
    size_t extra;            /* the caller's job's own staging (al_mem_job.staging) */
    int train_rows;          /* only some output rows trained (head.c): its block grows with the batch */
    int no_stage;            /* the plain trainer: no batch source */
    int threads;             /* the pool's (the chunked forward's size depends on it) */
} job;

static size_t arena_size(const size_t *floats, int k) {
    al_arena a = {0};
    for (int i = 0; i < k; i++) (void)al_arena_floats(&a, floats[i]);
    return a.used;
}

/* The hash index of the cache holding `held` entries, at its peak (a grow
 * keeps the old table while it fills the new one); see cache.c. */
static size_t index_bytes(size_t held) {
    size_t cap = 1024;
    while (cap < 2 * (held + 1)) cap *= 2;
    size_t e = 24; /* sizeof of cache.c's entry: id, variant, spilled, loc */
    return cap * e + (cap > 1024 ? cap / 2 * e : 0);
}

static al_status job_init(job *j, const al_model *m, const al_pool *pool, const al_dataset *d,
                          const al_cache *cache, const al_mem_job *x) {
    memset(j, 0, sizeof *j);
    j->threads = al_pool_size(pool); /* 1 for NULL */
    j->m = m;
    j->freeze = x->freeze;
    if (j->freeze < 0 || j->freeze >= m->nnodes)
        return al_error(AL_ERANGE, "freeze point %d leaves nothing to train (the model has %d nodes)", j->freeze,
                        m->nnodes);
    j->xn = al_shape_numel(&m->in);
    j->yo = al_shape_numel(&m->nodes[m->nnodes - 1].out);
    j->feat = j->freeze > 0 ? al_model_frontier_numel(m, j->freeze) : j->xn;
    j->n = d->n;
    j->y_len = d->y_len;
    const al_train_config *tc = x->train;
    int nbuf = tc->optim == AL_OPT_SGD ? (tc->momentum != 0.0 ? 1 : 0) : 2;
    size_t ng = 0, trained = 0, trainable_all = 0, np = 0;
    /* the optimizer's tensors: from the freeze point to the frozen suffix
     * (train_end), in the parameter subset */
    int end = tc->train_end > 0 && tc->train_end < m->nnodes ? tc->train_end : m->nnodes;
    al_arena oa = {0};
    for (int pass = 0; pass < 2; pass++) {
        /* the optimizer's block: five pointer tables, then the state floats
         * (and L2-SP's copy of the starting weights) */
        if (pass == 1)
            for (int t = 0; t < 5; t++) (void)al_arena_bytes(&oa, sizeof(void *) * (np ? np : 1));
        for (int i = 0; i < m->nnodes; i++) {
            const al_node *nd = &m->nodes[i];
            for (int p = 0; p < nd->nparams; p++) {
                const al_param *pr = &nd->params[p];
                if (pass == 0) {
                    if (!pr->is_state) ng += pr->n;
                    if (i >= j->freeze) trainable_all += pr->n;
                }
                if (i < j->freeze || i >= end || pr->is_state || !al_optim_in_subset(nd, pr, tc->param_subset))
                    continue;
                if (pass == 0) {
                    np++;
                    trained += pr->n;
                } else {
                    for (int b = 0; b < nbuf + (tc->l2sp != 0.0); b++) (void)al_arena_floats(&oa, pr->n);
                }
            }
            if (pass == 0 && (nd->cfg.type == AL_L_LSTM || nd->cfg.type == AL_L_GRU)) j->recurrent_units += (size_t)nd->cfg.units;
        }
    }
    j->weights = sizeof(float) * (m->nweights ? m->nweights : 1);
    j->grads = sizeof(float) * (ng ? ng : 1);
    j->optim = oa.used ? oa.used : 1;
    j->snapshot = tc->max_rollbacks > 0 || tc->checkpoint_every > 0;
    if (j->snapshot) {
        size_t parts[4] = {trainable_all, nbuf >= 1 && np ? trained : 0, nbuf >= 2 && np ? trained : 0,
                           tc->patience > 0 ? m->nweights : 0};
        j->snapshot_fixed = arena_size(parts, 4);
    }
    if (tc->patience > 0) j->best = sizeof(float) * (m->nweights ? m->nweights : 1);
    struct stat sb;
    if (x->resume && tc->checkpoint_path && stat(tc->checkpoint_path, &sb) == 0 && sb.st_size > 0)
        j->resume_file = (size_t)sb.st_size; /* read whole and verified before it is restored */
    j->cached = (cache || x->own_cache) && j->freeze > 0 && !x->trainer_only;
    j->entries = (size_t)d->n * (size_t)(x->variants > 0 ? x->variants : 1);
    if (x->entries) j->entries = x->entries;
    j->spill = j->cached && cache && al_cache_has_spill(cache);
    if (j->cached && x->cache_required && !j->spill) j->cache_min = j->entries * sizeof(float) * j->feat;
    j->train_rows = x->train_rows;
    j->extra = x->staging;
    j->no_stage = x->trainer_only;
    return AL_OK;
}

/* The plan at batch B with cache bound cb. Fails only when the model's
 * memory plan cannot be made (out of memory). */
static al_status job_plan(const job *j, int B, size_t cb, al_mem_plan *p) {
    const al_model *m = j->m;
    size_t b = (size_t)B;
    p->weights = j->weights;
    p->grads = j->grads;
    p->optim = j->optim;
    /* a model already planned for a larger batch keeps that block */
    int ab = AL_MAX(B, m->maxbatch);
    if (p->budget > 0) ab = B; /* with a budget, the job re-plans it for B */
    p->activations = al_model_plan_bytes_at(m, ab, j->freeze);
    if (p->activations == 0) return AL_ENOMEM; /* a plan is never empty; the message is set */
    /* and the chunked forward's arenas (model/chunk.c) where they do not
     * fit in the span of that plan the chunked range leaves unused */
    size_t chunk = 0;
    al_status st = al_chunk_arena_bound(m, j->freeze, ab, j->threads, &chunk);
    if (st != AL_OK) return st;
    p->activations += chunk;
    /* the trainer's block (model input and logit gradients), then the
     * source's block for node freeze's inputs when larger; both live while
     * the second is carved */
    size_t blk1[2] = {b * j->xn, b * j->yo}, blk2[2] = {b * j->feat, b * j->yo};
    p->batch_buffers = arena_size(blk1, 2) + (j->feat > j->xn ? arena_size(blk2, 2) : 0) +
                       sizeof(int32_t) * b * (size_t)j->y_len + sizeof(int) * (size_t)(j->n > 0 ? j->n : 1);
    p->staging = (j->no_stage ? 0 : sizeof(float) * j->xn * b + sizeof(int) * b) + j->extra;
    if (j->train_rows > 0) {
        const al_node *out = &m->nodes[m->nnodes - 1];
        p->staging += al_head_bytes(j->n, j->y_len, out->cfg.units, out->nparams ? out->params[0].dims[1] : 0,
                                    j->train_rows, B);
    }
    p->snapshot = 0;
    if (j->snapshot) {
        size_t lstm[1] = {2 * b * j->recurrent_units};
        p->snapshot = j->snapshot_fixed + (j->recurrent_units ? arena_size(lstm, 1) : 0);
    }
    p->snapshot += j->best + j->resume_file;
    p->cache = p->cache_index = 0;
    if (j->cached) {
        size_t eb = sizeof(float) * j->feat;
        size_t room = cb / eb, slots = AL_MIN(room, j->entries);
        /* memory comes in chunks of 256 slots, the last cut to the bound */
        size_t alloc = AL_MIN((slots + 255) / 256 * 256, room);
        p->cache = alloc * eb;
        p->cache_index = index_bytes(j->spill ? j->entries : slots);
        /* the chunk table: 16 pointers, doubled as chunks of 256 slots are added */
        size_t chunks = (slots + 255) / 256, ct = 16;
        while (ct < chunks) ct *= 2;
        p->cache_index += slots ? ct * sizeof(void *) * 3 / 2 : 0;
    }
    /* each pool thread's own GEMM pack buffer, at the most any pass of the
     * job asks of one thread (the chunked forward's parts have theirs
     * lent, counted with the arenas) */
    p->gemm = (size_t)j->threads * al_gemm_own_bytes(al_model_pack_floats(m, ab, j->freeze));
    p->overhead = AL_MEM_OVERHEAD;
    p->total = p->weights + p->grads + p->optim + p->activations + p->batch_buffers + p->staging + p->snapshot +
               p->cache + p->cache_index + p->gemm + p->overhead;
    p->batch_used = B;
    p->cache_used = j->cached ? cb : p->cache_requested;
    return AL_OK;
}

static double mib(size_t b) { return (double)b / (1024.0 * 1024.0); }

void al_mem_plan_apply(al_model *m, al_cache *cache, const al_mem_plan *p) {
    if (p->budget == 0) return;
    if (cache && p->cache_used < al_cache_bound(cache)) al_cache_set_bound(cache, p->cache_used);
    /* a model planned for a larger batch (an earlier predict or evaluation) is planned anew */
    if (m->maxbatch > p->batch_used) al_model_release_plan(m);
    if (p->batch_used < p->batch_requested || p->cache_used < p->cache_requested)
        al_log(AL_LOG_WARN,
               "memory budget %zu bytes: batch %d (asked %d), cache bound %zu bytes (asked %zu, past it %s); "
               "planned %zu bytes",
               p->budget, p->batch_used, p->batch_requested, p->cache_used, p->cache_requested,
               p->cache_spill ? "spilled" : "recomputed", p->total);
}

al_status al_trainer_plan_memory(const al_model *m, const al_pool *pool, const al_dataset *train,
                                 const al_train_config *c, size_t budget, al_mem_plan *out) {
    if (!c || !m || !train || !out) return al_error(AL_EINVAL, "al_trainer_plan_memory: NULL argument");
    al_status st = al_check_data(m, train, "training data", NULL); /* as al_trainer_run would */
    if (st) return st;
    al_mem_job x;
    memset(&x, 0, sizeof x);
    x.train = c;
    x.freeze = m->freeze;
    x.variants = 1;
    x.budget = budget;
    /* a checkpoint at the path may be resumed from: counted when it exists */
    x.resume = c->checkpoint_path != NULL;
    x.trainer_only = 1;
    return al_mem_plan_fit(m, pool, train, NULL, &x, out);
}

al_status al_mem_plan_fit(const al_model *m, const al_pool *pool, const al_dataset *train, const al_cache *cache,
                          const al_mem_job *x, al_mem_plan *out) {
    if (!m || !train || !x || !x->train || !out) return al_error(AL_EINVAL, "al_personalize_plan_memory: NULL argument");
    memset(out, 0, sizeof *out);
    if (x->train->batch <= 0 || x->train->batch > (1 << 20))
        return al_error(AL_EINVAL, "batch must be in 1..%d, got %d", 1 << 20, x->train->batch);
    job j;
    al_status st = job_init(&j, m, pool, train, cache, x);
    if (st) return st;
    al_mem_plan p;
    memset(&p, 0, sizeof p);
    p.budget = x->budget;
    p.batch_requested = x->train->batch;
    /* a cache of the job's own is bounded by what it holds */
    p.cache_requested = cache ? al_cache_bound(cache) : j.cached ? j.entries * sizeof(float) * j.feat : 0;
    p.cache_spill = j.spill;
    p.dataset = (size_t)train->n * (sizeof(float) * al_shape_numel(&train->xs) + sizeof(int32_t) * (size_t)train->y_len);
    size_t budget = p.budget;
    int B = p.batch_requested;
    size_t cb = p.cache_requested;
    if ((st = job_plan(&j, B, cb, &p))) return st;
    if (budget == 0 || p.total <= budget) {
        *out = p;
        return AL_OK;
    }
    /* the cache gives way first (down to the entries that cannot be
     * recomputed, unless the caller bounded it lower), then the batch halves */
    size_t cmin = AL_MIN(j.cache_min, cb);
    if ((st = job_plan(&j, B, cmin, &p))) return st;
    while (p.total > budget && B > 1) {
        B /= 2;
        if ((st = job_plan(&j, B, cmin, &p))) return st;
    }
    if (p.total > budget && cmin > 0)
        return al_error(AL_EBUDGET,
                        "the memory budget of %.2f MiB cannot be met: this personalization needs at least %.2f MiB "
                        "even with batch 1, of which %.2f MiB are cache entries that cannot be recomputed exactly "
                        "(%zu windows of the frozen prefix's carried state; a spill file for the cache would keep "
                        "them on disk); the rest: weights %.2f, gradients %.2f, optimizer %.2f, activations %.2f, "
                        "buffers %.2f, snapshot %.2f, GEMM packing %.2f, other %.2f MiB (the training data, %.2f MiB, "
                        "are not counted)",
                        mib(budget), mib(p.total), mib(p.cache), j.entries, mib(p.weights), mib(p.grads),
                        mib(p.optim), mib(p.activations), mib(p.batch_buffers + p.staging), mib(p.snapshot),
                        mib(p.gemm), mib(p.overhead + p.cache_index), mib(p.dataset));
    if (p.total > budget)
        return al_error(AL_EBUDGET,
                        "the memory budget of %.2f MiB cannot be met: this %s needs at least %.2f MiB "
                        "even with batch 1%s (weights %.2f, gradients %.2f, optimizer %.2f, activations "
                        "%.2f, buffers %.2f, snapshot %.2f, GEMM packing %.2f, other %.2f MiB; the training data, "
                        "%.2f MiB, are not counted)",
                        mib(budget), j.no_stage ? "training" : "personalization", mib(p.total),
                        j.cached ? " and no cache" : "", mib(p.weights), mib(p.grads), mib(p.optim), mib(p.activations),
                        mib(p.batch_buffers + p.staging), mib(p.snapshot), mib(p.gemm), mib(p.overhead + p.cache_index),
                        mib(p.dataset));
    /* what is left goes back to the cache, up to its own bound: the
     * largest bound that fits (the need grows with the bound, in steps of
     * whole entries and chunks) */
    if (j.cached) {
        size_t lo = cmin, hi = AL_MIN(cb, cmin + (budget - p.total));
        while (lo < hi) {
            size_t mid = lo + (hi - lo + 1) / 2;
            if ((st = job_plan(&j, B, mid, &p))) return st;
            if (p.total <= budget)
                lo = mid;
            else
                hi = mid - 1;
        }
        if ((st = job_plan(&j, B, lo, &p))) return st;
    }
    *out = p;
    return AL_OK;
}
