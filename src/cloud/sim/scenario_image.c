/* The image scenario: one simulation, on one machine, of a cloud and its
 * users' devices, comparing per user
 *   global       the pre-trained cloud model as is
 *   local        the same architecture trained from scratch on the user's data
 *   autonomous   cloud model + on-device transfer learning (frozen prefix,
 *                augmentation, runtime cache) on the user's data
 *   centralized  the cloud model trained further on public + all private data
 *                pooled (what privacy forbids)
 *   fedavg       federated averaging from the cloud model
 * Every device-side job is timed on its own; evaluation for the learning
 * curves is excluded from the cost. */
#include "sim.h"


#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *const al_method_names[AL_M_COUNT] = {"global", "local", "autonomous", "centralized", "fedavg"};

void al_scenario_config_default(al_scenario_config *c) {
    memset(c, 0, sizeof *c);
    c->scenario = "image";
    c->data_dir = "data/fashion-mnist";
    c->arch = "refcnn";
    al_users_config_default(&c->users);
    c->pretrain_epochs = 3;
    c->pretrain_lr = 0.05;
    c->epochs = 10;
    /* device defaults measured on seeds 1-3 (README, "Choosing the defaults"):
     * label-prior correction, then a gentle fine-tune of the output layer
     * held near that starting point by L2-SP */
    c->lr = 0.01;
    c->fed_lr = 0.05;
    c->local_epochs = 20;
    c->local_lr = 0.02;
    c->rounds = 5;
    c->fed_epochs = 1;
    c->central_epochs = 1;
    c->freeze = -1;
    c->aug_variants = 1;
    al_augment_config_default(&c->aug);
    c->label_prior = 1.0;
    c->l2sp = 1.0;
    c->lr_split = 0;
    c->lr_below = 1.0;
    c->cache_bytes = (size_t)64 << 20;
    c->batch = 32;
    c->threads = 1;
    c->seed = 1;
}

double al_wall_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double al_cpu_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void al_rss_reset_peak(void) {
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f) return;
    fputs("5", f);
    fclose(f);
}

double al_rss_peak_mb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return 0.0;
    char line[256];
    double mb = 0.0;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0) mb = strtod(line + 6, NULL) / 1024.0;
    fclose(f);
    return mb;
}

double al_sim_rss_now_mb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return 0.0;
    char line[256];
    double mb = 0.0;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) mb = strtod(line + 6, NULL) / 1024.0;
    fclose(f);
    return mb;
}

void al_scenario_result_free(al_scenario_result *r) {
    if (!r) return;
    for (int i = 0; i < AL_M_COUNT; i++) {
        free(r->m[i].acc);
        free(r->m[i].acc_top1);
        free(r->m[i].ppl);
        free(r->m[i].saved);
    }
    free(r->dominant);
    if (r->user_names)
        for (int k = 0; k < r->users; k++) free(r->user_names[k]);
    free(r->user_names);
    memset(r, 0, sizeof *r);
}

static void say(const al_scenario_config *c, const char *fmt, ...) AL_PRINTF(2, 3);
static void say(const al_scenario_config *c, const char *fmt, ...) {
    if (!c->verbose) return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* Public + all private training data in one set (the centralized baseline). */
static al_status pool_data(const al_users *u, al_dataset **out) {
    const al_dataset *pub = al_users_public(u);
    int n = pub->n;
    for (int k = 0; k < al_users_count(u); k++) n += al_users_train(u, k)->n;
    al_dataset *d;
    al_status st = al_dataset_alloc(n, &pub->xs, 1, pub->num_classes, &d);
    if (st) return st;
    size_t xn = al_shape_numel(&pub->xs);
    int o = 0;
    for (int k = -1; k < al_users_count(u); k++) {
        const al_dataset *s = k < 0 ? pub : al_users_train(u, k);
        memcpy(d->x + (size_t)o * xn, s->x, sizeof(float) * xn * (size_t)s->n);
        memcpy(d->y + o, s->y, sizeof(int32_t) * (size_t)s->n);
        o += s->n;
    }
    *out = d;
    return AL_OK;
}

void al_sim_stats(al_method_result *m, int n) {
    double s = 0, s2 = 0, t1 = 0;
    for (int i = 0; i < n; i++) {
        s += m->acc[i];
        t1 += m->acc_top1 ? m->acc_top1[i] : 0;
    }
    m->mean_acc = s / n;
    for (int i = 0; i < n; i++) s2 += (m->acc[i] - m->mean_acc) * (m->acc[i] - m->mean_acc);
    m->std_acc = n > 1 ? sqrt(s2 / (n - 1)) : 0.0;
    m->mean_top1 = t1 / n;
    double pp = 0, sv = 0;
    for (int i = 0; i < n && m->ppl; i++) pp += m->ppl[i];
    for (int i = 0; i < n && m->saved; i++) sv += m->saved[i];
    m->mean_ppl = pp / n;
    m->mean_saved = sv / n;
}

/* Per-epoch evaluation for the learning curves, timed so it can be taken
 * out of the device cost. */
typedef struct {
    al_model *m;
    al_pool *pool;
    const al_dataset *test;
    int batch;
    double *curve;   /* accumulates over users */
    int max;
    double eval_seconds;
    al_status st;
} curve_cb;

static int on_epoch(void *user, const al_epoch_info *info, int final) {
    curve_cb *cb = user;
    if (!final || !cb->test) return 0;
    double t0 = al_wall_seconds();
    double acc = 0;
    al_status st = al_evaluate(cb->m, cb->pool, cb->test, cb->batch, NULL, &acc);
    if (st) {
        cb->st = st;
        return 1;
    }
    if (info->epoch - 1 < cb->max) cb->curve[info->epoch - 1] += acc;
    cb->eval_seconds += al_wall_seconds() - t0;
    return 0;
}

al_status al_sim_load_users(const al_scenario_config *c, al_users **out) {
    al_dataset *train = NULL, *test = NULL;
    al_status st = al_idx_load_dir(c->data_dir, 0, &train);
    if (st == AL_OK) st = al_idx_load_dir(c->data_dir, 1, &test);
    al_users_config uc = c->users;
    uc.seed = c->seed;
    if (st == AL_OK) st = al_users_split(train, test, &uc, out);
    al_dataset_free(train);
    al_dataset_free(test);
    return st;
}

al_status al_sim_pretrain(const al_scenario_config *c, al_pool *pool, const al_dataset *pub, al_progress_fn progress,
                          void *progress_user, al_model **out) {
    al_model *m;
    al_status st = al_model_from_spec(c->arch, c->seed, &m);
    if (st) return st;
    al_train_config tc;
    al_train_recipe_image(&tc, c->batch, c->pretrain_epochs, c->pretrain_lr, c->seed);
    tc.progress = progress;
    tc.progress_user = progress_user;
    al_trainer *t;
    if ((st = al_trainer_new(m, pool, &tc, &t)) == AL_OK) {
        al_train_report tr;
        st = al_trainer_run(t, pub, NULL, &tr);
        al_trainer_free(t);
    }
    if (st == AL_OK) st = al_model_set_meta(m, "autlearn.scenario", c->scenario);
    if (st == AL_OK) {
        char buf[32];
        snprintf(buf, sizeof buf, "%d", al_model_arch_freeze(m));
        st = al_model_set_meta(m, "autlearn.freeze", buf);
    }
    if (st == AL_OK && pub->y_len == 1 && pub->num_classes >= 2 && pub->num_classes <= 1024 && pub->n > 0) {
        /* the public class prior, for the device's label-prior correction */
        int K = pub->num_classes;
        double *cnt = calloc((size_t)K, sizeof(double));
        char *buf = malloc((size_t)K * 24 + 1);
        if (!cnt || !buf) {
            st = al_error(AL_ENOMEM, "out of memory");
        } else {
            for (int i = 0; i < pub->n; i++)
                if (pub->y[i] >= 0 && pub->y[i] < K) cnt[pub->y[i]] += 1.0;
            size_t o = 0;
            for (int k = 0; k < K; k++)
                o += (size_t)snprintf(buf + o, 24, "%s%.6g", k ? "," : "", (cnt[k] + 1.0) / (pub->n + K));
            st = al_model_set_meta(m, "autlearn.class_prior", buf);
        }
        free(cnt);
        free(buf);
    }
    if (st) {
        al_model_free(m);
        return st;
    }
    *out = m;
    return AL_OK;
}

al_status al_scenario_image(const al_scenario_config *c, al_scenario_result *r) {
    memset(r, 0, sizeof *r);
    al_dataset *pooled = NULL;
    al_users *u = NULL;
    al_model *cloud = NULL, *work = NULL;
    al_pool *pool = NULL;
    double *fedsum = NULL;
    al_status st;
    unsigned mask = c->methods ? c->methods : (1u << AL_M_COUNT) - 1;

    al_users_config uc = c->users;
    if ((st = al_sim_load_users(c, &u)) != AL_OK) goto done;
    const int U = al_users_count(u);
    r->users = U;
    r->ndominant = uc.dominant;
    r->dominant = calloc((size_t)U * (size_t)uc.dominant, sizeof(int));
    for (int i = 0; i < AL_M_COUNT; i++) {
        r->m[i].acc = calloc((size_t)U, sizeof(double));
        if (!r->m[i].acc) {
            st = al_error(AL_ENOMEM, "out of memory");
            goto done;
        }
    }
    for (int k = 0; k < U; k++) memcpy(r->dominant + k * uc.dominant, al_users_dominant(u, k), sizeof(int) * (size_t)uc.dominant);
    if ((st = al_pool_new(c->threads, &pool)) != AL_OK) goto done;
    r->public_samples = al_users_public(u)->n;

    /* ---- cloud: pre-train on public data ---- */
    double t0 = al_wall_seconds();
    if (c->cloud_model) {
        if ((st = al_model_load(c->cloud_model, &cloud)) != AL_OK) goto done;
    } else {
        say(c, "cloud: pre-training %s on %d public samples, %d epochs", c->arch, al_users_public(u)->n,
            c->pretrain_epochs);
        if ((st = al_sim_pretrain(c, pool, al_users_public(u), NULL, NULL, &cloud)) != AL_OK) goto done;
        if (c->save_cloud && (st = al_model_save(cloud, c->save_cloud)) != AL_OK) goto done;
    }
    r->pretrain_seconds = al_wall_seconds() - t0;
    r->macs_per_sample = (double)al_model_macs(cloud);
    r->freeze = al_model_resolve_freeze(cloud, c->freeze);
    if (r->freeze >= cloud->nnodes) {
        st = al_error(AL_ERANGE, "freeze point %d out of range (the model has %d nodes)", r->freeze, cloud->nnodes);
        goto done;
    }
    say(c, "cloud: ready in %.1f s; freeze point %d of %d nodes", r->pretrain_seconds, r->freeze, cloud->nnodes);
    size_t xn = al_shape_numel(&cloud->in);
    double model_macs = (double)al_model_macs(cloud);

    /* ---- global ---- */
    if (mask & (1u << AL_M_GLOBAL)) {
        al_method_result *m = &r->m[AL_M_GLOBAL];
        for (int k = 0; k < U; k++)
            if ((st = al_evaluate(cloud, pool, al_users_test(u, k), c->batch, NULL, &m->acc[k])) != AL_OK) goto done;
        m->ran = 1;
        al_sim_stats(m, U);
        say(c, "global: mean accuracy %.4f", m->mean_acc);
    }

    /* ---- autonomous ---- */
    if (mask & (1u << AL_M_AUTONOMOUS)) {
        al_method_result *m = &r->m[AL_M_AUTONOMOUS];
        double base = al_sim_rss_now_mb(), peak = 0;
        for (int k = 0; k < U; k++) {
            const al_dataset *tr = al_users_train(u, k);
            if ((st = al_model_clone(cloud, &work)) != AL_OK) goto done;
            al_cache *cache = NULL;
            if ((st = al_cache_new(c->cache_bytes, NULL, &cache)) != AL_OK) goto done;
            al_personalize_config pc;
            al_personalize_config_default(&pc);
            al_train_recipe_image(&pc.train, c->batch, c->epochs, c->lr, c->seed + 1000 + (uint64_t)k);
            pc.freeze = r->freeze;
            pc.aug_variants = c->aug_variants;
            pc.aug = c->aug;
            pc.label_prior = c->label_prior;
            pc.train.l2sp = c->l2sp;
            pc.train.lr_split = c->lr_split;
            pc.train.lr_below = c->lr_below;
            curve_cb cb = {work, pool, al_users_test(u, k), c->batch, m->curve, AL_MAX_CURVE, 0, AL_OK};
            pc.train.progress = on_epoch;
            pc.train.progress_user = &cb;
            uint64_t *ids = malloc(sizeof(uint64_t) * (size_t)tr->n);
            for (int i = 0; i < tr->n; i++) ids[i] = (uint64_t)al_users_train_origin(u, k, i);
            al_personalize_report pr;
            al_rss_reset_peak();
            double w0 = al_wall_seconds(), c0 = al_cpu_seconds();
            st = al_personalize(work, pool, tr, ids, cache, &pc, NULL, &pr);
            double w1 = al_wall_seconds(), c1 = al_cpu_seconds();
            double pk = al_rss_peak_mb() - base;
            free(ids);
            al_cache_free(cache);
            if (st == AL_OK && cb.st) st = cb.st;
            if (st) goto done;
            if (pk > peak) peak = pk;
            m->seconds += w1 - w0 - cb.eval_seconds;
            m->cpu_seconds += c1 - c0 - cb.eval_seconds * (c1 - c0) / (w1 - w0 > 0 ? w1 - w0 : 1);
            m->macs += (double)pr.macs;
            r->first_epoch_seconds += pr.first_epoch_seconds;
            r->later_epoch_seconds += pr.later_epoch_seconds;
            if ((st = al_evaluate(work, pool, al_users_test(u, k), c->batch, NULL, &m->acc[k])) != AL_OK) goto done;
            say(c, "autonomous: user %d/%d accuracy %.4f (%.2f s; first epoch %.3f s, later %.4f s)", k + 1, U,
                m->acc[k], w1 - w0 - cb.eval_seconds, pr.first_epoch_seconds, pr.later_epoch_seconds);
            al_model_free(work);
            work = NULL;
        }
        m->ncurve = AL_MIN(c->epochs, AL_MAX_CURVE);
        for (int e = 0; e < m->ncurve; e++) m->curve[e] /= U;
        m->seconds /= U;
        m->cpu_seconds /= U;
        m->macs /= U;
        m->peak_rss_mb = peak > 0 ? peak : 0;
        r->first_epoch_seconds /= U;
        r->later_epoch_seconds /= U;
        m->ran = 1;
        al_sim_stats(m, U);
        say(c, "autonomous: mean accuracy %.4f", m->mean_acc);
    }

    /* ---- local: from scratch on the user's data ---- */
    if (mask & (1u << AL_M_LOCAL)) {
        al_method_result *m = &r->m[AL_M_LOCAL];
        double base = al_sim_rss_now_mb(), peak = 0;
        for (int k = 0; k < U; k++) {
            const al_dataset *tr = al_users_train(u, k);
            if ((st = al_model_from_spec(cloud->spec, c->seed + 2000 + (uint64_t)k, &work)) != AL_OK) goto done;
            al_train_config tc;
            al_train_recipe_image(&tc, c->batch, c->local_epochs, c->local_lr, c->seed + 3000 + (uint64_t)k);
            curve_cb cb = {work, pool, al_users_test(u, k), c->batch, m->curve, AL_MAX_CURVE, 0, AL_OK};
            tc.progress = on_epoch;
            tc.progress_user = &cb;
            al_trainer *t;
            if ((st = al_trainer_new(work, pool, &tc, &t)) != AL_OK) goto done;
            al_rss_reset_peak();
            double w0 = al_wall_seconds(), c0 = al_cpu_seconds();
            al_train_report tr2;
            st = al_trainer_run(t, tr, NULL, &tr2);
            double w1 = al_wall_seconds(), c1 = al_cpu_seconds();
            double pk = al_rss_peak_mb() - base;
            al_trainer_free(t);
            if (st == AL_OK && cb.st) st = cb.st;
            if (st) goto done;
            if (pk > peak) peak = pk;
            m->seconds += w1 - w0 - cb.eval_seconds;
            m->cpu_seconds += c1 - c0 - cb.eval_seconds * (c1 - c0) / (w1 - w0 > 0 ? w1 - w0 : 1);
            m->macs += 3.0 * model_macs * (double)tr2.samples;
            if ((st = al_evaluate(work, pool, al_users_test(u, k), c->batch, NULL, &m->acc[k])) != AL_OK) goto done;
            al_model_free(work);
            work = NULL;
        }
        m->ncurve = AL_MIN(c->local_epochs, AL_MAX_CURVE);
        for (int e = 0; e < m->ncurve; e++) m->curve[e] /= U;
        m->seconds /= U;
        m->cpu_seconds /= U;
        m->macs /= U;
        m->peak_rss_mb = peak;
        m->ran = 1;
        al_sim_stats(m, U);
        say(c, "local: mean accuracy %.4f", m->mean_acc);
    }

    /* ---- centralized: everything pooled in the cloud ---- */
    if (mask & (1u << AL_M_CENTRALIZED)) {
        al_method_result *m = &r->m[AL_M_CENTRALIZED];
        if ((st = pool_data(u, &pooled)) != AL_OK) goto done;
        if ((st = al_model_clone(cloud, &work)) != AL_OK) goto done;
        (void)al_model_freeze(work, 0);
        al_train_config tc;
        al_train_recipe_image(&tc, c->batch, c->central_epochs, c->pretrain_lr * 0.2, c->seed + 4000);
        al_trainer *t;
        if ((st = al_trainer_new(work, pool, &tc, &t)) != AL_OK) goto done;
        say(c, "centralized: training on %d pooled samples, %d epochs", pooled->n, c->central_epochs);
        al_train_report tr2;
        st = al_trainer_run(t, pooled, NULL, &tr2);
        al_trainer_free(t);
        if (st) goto done;
        for (int k = 0; k < U; k++)
            if ((st = al_evaluate(work, pool, al_users_test(u, k), c->batch, NULL, &m->acc[k])) != AL_OK) goto done;
        /* the device does no training; it uploads its raw samples (8-bit pixels) and labels */
        m->bytes_uploaded = (double)uc.per_user * (double)(xn + 1);
        m->ran = 1;
        al_sim_stats(m, U);
        al_model_free(work);
        work = NULL;
        say(c, "centralized: mean accuracy %.4f", m->mean_acc);
    }

    /* ---- federated averaging from the cloud model ---- */
    if (mask & (1u << AL_M_FEDAVG)) {
        al_method_result *m = &r->m[AL_M_FEDAVG];
        al_model *global = NULL;
        if ((st = al_model_clone(cloud, &global)) != AL_OK) goto done;
        (void)al_model_freeze(global, 0);
        if ((st = al_model_clone(global, &work)) != AL_OK) {
            al_model_free(global);
            goto done;
        }
        size_t nw = global->nweights;
        fedsum = calloc(nw, sizeof(double));
        double base = al_sim_rss_now_mb(), peak = 0;
        for (int rd = 0; rd < c->rounds && st == AL_OK; rd++) {
            memset(fedsum, 0, sizeof(double) * nw);
            double total = 0;
            for (int k = 0; k < U && st == AL_OK; k++) {
                const al_dataset *tr = al_users_train(u, k);
                al_model_copy_weights(work, global);
                al_train_config tc;
                al_train_recipe_image(&tc, c->batch, c->fed_epochs, c->fed_lr > 0 ? c->fed_lr : c->lr, c->seed + 5000 + (uint64_t)(rd * U + k));
                tc.sched = AL_SCHED_CONST;
                al_trainer *t;
                if ((st = al_trainer_new(work, pool, &tc, &t)) != AL_OK) break;
                al_rss_reset_peak();
                double w0 = al_wall_seconds(), c0 = al_cpu_seconds();
                al_train_report tr2;
                st = al_trainer_run(t, tr, NULL, &tr2);
                m->seconds += al_wall_seconds() - w0;
                m->cpu_seconds += al_cpu_seconds() - c0;
                double pk = al_rss_peak_mb() - base;
                if (pk > peak) peak = pk;
                al_trainer_free(t);
                m->macs += 3.0 * model_macs * (double)tr2.samples;
                for (size_t i = 0; i < nw; i++) fedsum[i] += (double)tr->n * work->wblock[i];
                total += tr->n;
            }
            if (st) break;
            for (size_t i = 0; i < nw; i++) global->wblock[i] = (float)(fedsum[i] / total);
            double acc = 0;
            for (int k = 0; k < U && st == AL_OK; k++) {
                double a;
                st = al_evaluate(global, pool, al_users_test(u, k), c->batch, NULL, &a);
                acc += a;
                if (rd == c->rounds - 1) m->acc[k] = a;
            }
            if (rd < AL_MAX_CURVE) m->curve[rd] = acc / U;
            say(c, "fedavg: round %d/%d mean accuracy %.4f", rd + 1, c->rounds, acc / U);
        }
        al_model_free(global);
        if (st) goto done;
        m->ncurve = AL_MIN(c->rounds, AL_MAX_CURVE);
        m->seconds /= U;
        m->cpu_seconds /= U;
        m->macs /= U;
        m->peak_rss_mb = peak;
        m->bytes_uploaded = (double)c->rounds * (double)nw * sizeof(float);
        m->ran = 1;
        al_sim_stats(m, U);
        al_model_free(work);
        work = NULL;
    }
done:
    free(fedsum);
    al_model_free(work);
    al_model_free(cloud);
    al_pool_free(pool);
    al_users_free(u);
    al_dataset_free(pooled);
    if (st) al_scenario_result_free(r);
    return st;
}
