/* What the image and the text scenario (scenario_image.c, scenario_text.c)
 * share: the methods' names and per-user results, their statistics, the
 * clocks and the resident-set meter of the device jobs, the per-user loop of
 * a device method, the learning-curve callback, federated averaging, and
 * al_sim_say(), the only place the scenario code prints. */
#include "sim.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *const al_method_names[AL_M_COUNT] = {"global",   "local",     "autonomous", "centralized", "fedavg",
                                                  "global+p", "central+p", "fedavg+p",   "fedavg-ft",   "fedper",
                                                  "fedrep",   "ditto"};

void al_sim_say(const al_scenario_config *c, const char *fmt, ...) {
    if (!c->verbose) return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void al_sim_say_method(const al_scenario_config *c, int method, const al_method_result *m) {
    if (m->ppl)
        al_sim_say(c, "%s: top-3 %.4f, top-1 %.4f, perplexity %.1f", al_method_names[method], m->mean_acc, m->mean_top1,
                   m->mean_ppl);
    else
        al_sim_say(c, "%s: mean accuracy %.4f", al_method_names[method], m->mean_acc);
}

/* ---- clocks and resident set ---- */

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

/* A "Name:   N kB" line of /proc/self/status in MB; 0 when unknown. */
static double status_mb(const char *key) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return 0.0;
    char line[256];
    double mb = 0.0;
    size_t n = strlen(key);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, n) == 0) mb = strtod(line + n, NULL) / 1024.0;
    fclose(f);
    return mb;
}

double al_rss_peak_mb(void) { return status_mb("VmHWM:"); }

double al_sim_rss_now_mb(void) { return status_mb("VmRSS:"); }

void al_sim_clock_start(al_sim_clock *k) {
    k->w0 = al_wall_seconds();
    k->c0 = al_cpu_seconds();
}

void al_sim_clock_stop(const al_sim_clock *k, double eval_seconds, double *wall, double *cpu) {
    double w1 = al_wall_seconds(), c1 = al_cpu_seconds();
    *wall = w1 - k->w0 - eval_seconds;
    *cpu = c1 - k->c0 - eval_seconds * (c1 - k->c0) / (w1 - k->w0 > 0 ? w1 - k->w0 : 1);
}

void al_sim_meter_begin(al_sim_meter *t, al_method_result *m, int users, int share) {
    t->m = m;
    t->users = users;
    t->share = share;
    t->base = al_sim_rss_now_mb();
    t->peak = 0;
}

void al_sim_meter_peak(al_sim_meter *t) {
    double pk = al_rss_peak_mb() - t->base;
    if (pk > t->peak) t->peak = pk;
}

void al_sim_meter_add(al_sim_meter *t, double wall, double cpu, double macs) {
    al_method_result *m = t->m;
    if (t->share) {
        m->seconds += wall / t->users;
        m->cpu_seconds += cpu / t->users;
        m->macs += macs / t->users;
    } else {
        m->seconds += wall;
        m->cpu_seconds += cpu;
        m->macs += macs;
    }
}

void al_sim_meter_end(al_sim_meter *t) {
    al_method_result *m = t->m;
    if (!t->share) {
        m->seconds /= t->users;
        m->cpu_seconds /= t->users;
        m->macs /= t->users;
    }
    m->peak_rss_mb = t->peak;
}

/* ---- results ---- */

void al_scenario_result_free(al_scenario_result *r) {
    if (!r) return;
    for (int i = 0; i < AL_M_COUNT; i++) {
        free(r->m[i].acc);
        free(r->m[i].acc_top1);
        free(r->m[i].ppl);
        free(r->m[i].saved);
        free(r->m[i].word_acc);
        free(r->m[i].acc_seen);
        free(r->m[i].acc_new);
        free(r->m[i].body_crc);
        free(r->m[i].head_crc);
        free(r->m[i].model_crc);
        free(r->m[i].dist);
    }
    free(r->dominant);
    if (r->user_names)
        for (int k = 0; k < r->users; k++) free(r->user_names[k]);
    free(r->user_names);
    if (r->choice)
        for (int k = 0; k < r->users; k++) free(r->choice[k]);
    free(r->choice);
    memset(r, 0, sizeof *r);
}

al_status al_sim_results_alloc(al_scenario_result *r, int users, int lm) {
    for (int i = 0; i < AL_M_COUNT; i++) {
        al_method_result *m = &r->m[i];
        m->acc = calloc((size_t)users, sizeof(double));
        if (lm) {
            m->acc_top1 = calloc((size_t)users, sizeof(double));
            m->ppl = calloc((size_t)users, sizeof(double));
            m->saved = calloc((size_t)users, sizeof(double));
            m->word_acc = calloc((size_t)users, sizeof(double));
        }
        if (!m->acc || (lm && (!m->acc_top1 || !m->ppl || !m->saved || !m->word_acc))) return al_error(AL_ENOMEM, "out of memory");
    }
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
    double wa = 0;
    for (int i = 0; i < n && m->word_acc; i++) wa += m->word_acc[i];
    m->mean_word_acc = wa / n;
    m->mean_ppl = pp / n;
    m->mean_saved = sv / n;
}

void al_sim_curve_mean(al_method_result *m, int points, int users) {
    m->ncurve = AL_MIN(points, AL_MAX_CURVE);
    for (int e = 0; e < m->ncurve; e++) m->curve[e] /= users;
}

int al_sim_auto_folds(const al_scenario_config *c) {
    if (c->auto_folds > 0) return c->auto_folds;
    if (c->auto_val > 0) return 1;
    al_personalize_config d;
    al_personalize_config_default(&d);
    return d.val_folds;
}

void al_sim_method_done(al_method_result *m, int users) {
    m->ran = 1;
    al_sim_stats(m, users);
}

al_status al_sim_each_user(al_method_result *m, int users, int share, int curve_points, al_sim_user_job job,
                           void *ctx) {
    al_sim_meter t;
    al_sim_meter_begin(&t, m, users, share);
    for (int k = 0; k < users; k++) {
        al_status st = job(ctx, k, &t);
        if (st) return st;
    }
    al_sim_curve_mean(m, curve_points, users);
    al_sim_meter_end(&t);
    al_sim_method_done(m, users);
    return AL_OK;
}

int al_sim_on_epoch(void *user, const al_epoch_info *info, int final) {
    al_sim_curve *cb = user;
    if (!final || !cb->test) return 0;
    double t0 = al_wall_seconds();
    double acc = 0;
    al_status st = cb->eval(cb, &acc);
    if (st) {
        cb->st = st;
        return 1;
    }
    if (info->epoch - 1 < AL_MAX_CURVE) cb->curve[info->epoch - 1] += acc;
    cb->eval_seconds += al_wall_seconds() - t0;
    return 0;
}

al_status al_sim_run_methods(const al_scenario_config *c, al_scenario_result *r, al_status (*run)(void *ctx, int method),
                             void *ctx) {
    /* the by-products (central+p, fedavg+p, fedavg-ft, ditto) are filled by their base method's run */
    static const int order[AL_M_COUNT] = {AL_M_GLOBAL,       AL_M_AUTONOMOUS,   AL_M_LOCAL,     AL_M_CENTRALIZED,
                                          AL_M_FEDAVG,       AL_M_GLOBAL_PRIOR, AL_M_FEDPER,    AL_M_FEDREP,
                                          AL_M_CENTRAL_PRIOR, AL_M_FEDAVG_PRIOR, AL_M_FEDAVG_FT, AL_M_DITTO};
    unsigned mask = c->methods ? c->methods : AL_M_CLASSIC;
    for (int i = 0; i < AL_M_COUNT; i++) {
        int method = order[i];
        if (!(mask & (1u << method))) continue;
        double t0 = al_wall_seconds();
        al_status st = run(ctx, method);
        if (st) return st;
        r->seconds_method[method] = al_wall_seconds() - t0;
        if (method != AL_M_FEDAVG && r->m[method].ran) al_sim_say_method(c, method, &r->m[method]);
    }
    return AL_OK;
}

/* ---- federated averaging ---- */

/* One round: every user trains from the global model; the global model
 * becomes their sample-weighted mean. A user whose training diverged
 * (AL_ENUMERIC) is left out of the mean and counted in *dropped.
 * fedsum: nweights doubles. */
static al_status fedavg_round(const al_scenario_config *c, const al_sim_fedavg *f, al_model *global, al_model *work,
                              int rd, int users, al_sim_meter *t, double *fedsum, int *dropped) {
    size_t nw = global->nweights;
    memset(fedsum, 0, sizeof(double) * nw);
    double total = 0;
    for (int k = 0; k < users; k++) {
        /* Ditto: the user's personal step toward this round's global model (not yet averaged) */
        if (f->personal) {
            al_status st = f->personal(f->ctx, global, rd, k);
            if (st) return st;
        }
        al_model_copy_weights(work, global);
        double weight = 0;
        al_status st = f->train(f->ctx, work, rd, k, t, &weight);
        if (st == AL_ENUMERIC) {
            al_sim_meter_peak(t); /* the job ran (and allocated) before it diverged */
            (*dropped)++;
            al_sim_say(c, "fedavg: round %d: user %d's training diverged; its update is left out", rd + 1, k + 1);
            continue;
        }
        if (st) return st;
        for (size_t i = 0; i < nw; i++) fedsum[i] += weight * work->wblock[i];
        total += weight;
    }
    if (total > 0)
        for (size_t i = 0; i < nw; i++) global->wblock[i] = (float)(fedsum[i] / total);
    return AL_OK;
}

al_status al_sim_fedavg_run(const al_scenario_config *c, const al_model *cloud, int users, const al_sim_fedavg *f,
                            al_method_result *m) {
    al_model *global = NULL, *work = NULL;
    double *fedsum = NULL;
    al_status st;
    al_sim_meter t;
    if (f->base_before_models) al_sim_meter_begin(&t, m, users, 0);
    if ((st = al_model_clone(cloud, &global)) || (st = al_model_freeze(global, f->freeze)) ||
        (st = al_model_clone(global, &work)))
        goto done;
    if (!(fedsum = calloc(global->nweights, sizeof(double)))) {
        st = al_error(AL_ENOMEM, "out of memory");
        goto done;
    }
    if (!f->base_before_models) al_sim_meter_begin(&t, m, users, 0);
    for (int rd = 0; rd < c->rounds; rd++) {
        if ((st = fedavg_round(c, f, global, work, rd, users, &t, fedsum, &m->clients_dropped))) goto done;
        double acc = 0;
        for (int k = 0; k < users; k++) {
            double a;
            if ((st = f->eval(f->ctx, global, k, rd == c->rounds - 1, &a))) goto done;
            acc += a;
        }
        if (rd < AL_MAX_CURVE) m->curve[rd] = acc / users;
        al_sim_say(c, "fedavg: round %d/%d %s %.4f", rd + 1, c->rounds, f->measure, acc / users);
    }
    if (f->final_weights) memcpy(f->final_weights, global->wblock, sizeof(float) * global->nweights);
    m->ncurve = AL_MIN(c->rounds, AL_MAX_CURVE);
    al_sim_meter_end(&t);
    al_sim_method_done(m, users);
done:
    free(fedsum);
    al_model_free(work);
    al_model_free(global);
    return st;
}

/* ---- a shared body, personal heads (fedper, fedrep) ---- */

al_status al_sim_personal_run(const al_scenario_config *c, const al_model *start, int users, const al_sim_personal *p,
                              al_method_result *m, size_t *head_floats) {
    al_model *global = NULL, *work = NULL;
    float *heads = NULL;
    double *sum = NULL;
    const char *name = al_method_names[p->method];
    al_status st;
    al_sim_meter t;
    if (p->base_before_models) al_sim_meter_begin(&t, m, users, 0);
    if ((st = al_model_clone(start, &global)) != AL_OK || (st = al_model_clone(start, &work)) != AL_OK) goto done;
    (void)al_model_freeze(work, p->freeze);
    /* the head: the output node's parameters, one span of the weight block */
    al_node *out = &work->nodes[work->nnodes - 1];
    if (out->nparams < 1) {
        st = al_error(AL_EINVAL, "%s: the output node has no parameters", name);
        goto done;
    }
    size_t h0 = (size_t)(out->params[0].w - work->wblock), hn = 0;
    for (int q = 0; q < out->nparams; q++) {
        if (out->params[q].w != work->wblock + h0 + hn) {
            st = al_error(AL_EINVAL, "%s: the output node's parameters are not one span", name);
            goto done;
        }
        hn += out->params[q].n;
    }
    size_t nw = work->nweights;
    heads = malloc(sizeof(float) * hn * (size_t)users);
    sum = malloc(sizeof(double) * nw);
    m->body_crc = calloc((size_t)users, sizeof(uint32_t));
    m->head_crc = calloc((size_t)users, sizeof(uint32_t));
    if (!heads || !sum || !m->body_crc || !m->head_crc) {
        st = al_error(AL_ENOMEM, "out of memory");
        goto done;
    }
    for (int k = 0; k < users; k++) memcpy(heads + hn * (size_t)k, start->wblock + h0, sizeof(float) * hn);
    if (!p->base_before_models) al_sim_meter_begin(&t, m, users, 0);
    for (int rd = 0; rd < c->rounds; rd++) {
        memset(sum, 0, sizeof(double) * nw);
        double total = 0;
        for (int k = 0; k < users; k++) {
            al_model_copy_weights(work, global);
            memcpy(work->wblock + h0, heads + hn * (size_t)k, sizeof(float) * hn);
            double weight = 0;
            if ((st = p->train(p->ctx, work, rd, k, &t, &weight)) == AL_ENUMERIC) {
                /* diverged: no update from this user this round (al_sim_fedavg_run's rule); its head stays */
                al_sim_meter_peak(&t);
                m->clients_dropped++;
                al_sim_say(c, "%s: round %d: user %d's training diverged; its update is left out", name, rd + 1,
                           k + 1);
                continue;
            }
            if (st != AL_OK) goto done;
            memcpy(heads + hn * (size_t)k, work->wblock + h0, sizeof(float) * hn);
            for (size_t i = 0; i < nw; i++) sum[i] += weight * work->wblock[i];
            total += weight;
        }
        st = AL_OK;
        if (total > 0)
            for (size_t i = 0; i < nw; i++) global->wblock[i] = (float)(sum[i] / total);
        if (p->method == AL_M_FEDREP) al_sim_say(c, "%s: round %d/%d done", name, rd + 1, c->rounds);
    }
    al_sim_meter_end(&t);
    for (int k = 0; k < users; k++) {
        al_model_copy_weights(work, global);
        memcpy(work->wblock + h0, heads + hn * (size_t)k, sizeof(float) * hn);
        m->body_crc[k] = al_crc32(al_crc32(0, work->wblock, sizeof(float) * h0), work->wblock + h0 + hn,
                                  sizeof(float) * (nw - h0 - hn));
        m->head_crc[k] = al_crc32(0, work->wblock + h0, sizeof(float) * hn);
        if ((st = p->score(p->ctx, work, k)) != AL_OK) goto done;
    }
    *head_floats = hn;
    al_sim_method_done(m, users);
done:
    free(heads);
    free(sum);
    al_model_free(global);
    al_model_free(work);
    return st;
}

/* ---- ditto: a personal model per user beside fedavg ---- */

al_status al_sim_ditto_begin(al_sim_ditto *d, const al_model *start, int freeze, int batch, int users,
                             al_method_result *m) {
    memset(d, 0, sizeof *d);
    d->m = m;
    d->users = users;
    d->nw = start->nweights;
    /* the simulation holds every user's personal model; a device holds its own */
    if (!(d->v = malloc(sizeof(float) * d->nw * (size_t)(users > 0 ? users : 1))) ||
        !(d->global = malloc(sizeof(float) * (d->nw ? d->nw : 1))) ||
        !(m->model_crc = calloc((size_t)(users > 0 ? users : 1), sizeof(uint32_t))) ||
        !(m->dist = calloc((size_t)(users > 0 ? users : 1), sizeof(double))))
        return al_error(AL_ENOMEM, "out of memory");
    for (int k = 0; k < users; k++) memcpy(d->v + d->nw * (size_t)k, start->wblock, sizeof(float) * d->nw);
    memcpy(d->global, start->wblock, sizeof(float) * d->nw);
    /* the base: after every user's stored model (the simulation's), before the step's model and
     * its planned buffers (the device's personal model: they count in the step's peak) */
    al_sim_meter_begin(&d->t, m, users, 0);
    al_status st = al_model_clone(start, &d->work);
    if (st == AL_OK) st = al_model_freeze(d->work, freeze);
    if (st == AL_OK) st = al_model_plan(d->work, batch);
    return st;
}

void al_sim_ditto_load(al_sim_ditto *d, int k) {
    memcpy(d->work->wblock, d->v + d->nw * (size_t)k, sizeof(float) * d->nw);
}

void al_sim_ditto_store(al_sim_ditto *d, int k) {
    memcpy(d->v + d->nw * (size_t)k, d->work->wblock, sizeof(float) * d->nw);
}

al_status al_sim_ditto_end(al_sim_ditto *d, const al_method_result *fedavg,
                           al_status (*score)(void *ctx, al_model *model, int k), void *ctx) {
    al_method_result *m = d->m;
    al_sim_meter_end(&d->t); /* the personal steps' means per user and their peak */
    m->seconds += fedavg->seconds;
    m->cpu_seconds += fedavg->cpu_seconds;
    m->macs += fedavg->macs;
    if (fedavg->peak_rss_mb > m->peak_rss_mb) m->peak_rss_mb = fedavg->peak_rss_mb;
    /* only the global model's update goes up, and the global models come down, as fedavg's */
    m->bytes_uploaded = fedavg->bytes_uploaded;
    m->bytes_downloaded = fedavg->bytes_downloaded;
    m->clients_dropped = fedavg->clients_dropped;
    for (int k = 0; k < d->users; k++) {
        al_sim_ditto_load(d, k);
        m->model_crc[k] = al_crc32(0, d->work->wblock, sizeof(float) * d->nw);
        double dd = 0, ww = 0;
        for (size_t i = 0; i < d->nw; i++) {
            double e = (double)d->work->wblock[i] - (double)d->global[i];
            dd += e * e;
            ww += (double)d->global[i] * (double)d->global[i];
        }
        m->dist[k] = ww > 0 ? sqrt(dd / ww) : sqrt(dd);
        al_status st = score(ctx, d->work, k);
        if (st) return st;
    }
    al_sim_method_done(m, d->users);
    return AL_OK;
}

void al_sim_ditto_free(al_sim_ditto *d) {
    free(d->v);
    free(d->global);
    al_model_free(d->work);
    d->global = NULL;
    d->v = NULL;
    d->work = NULL;
}

void al_sim_copy_costs(al_method_result *e, const al_method_result *m) {
    e->seconds = m->seconds;
    e->cpu_seconds = m->cpu_seconds;
    e->macs = m->macs;
    e->peak_rss_mb = m->peak_rss_mb;
    e->bytes_uploaded = m->bytes_uploaded;
    e->bytes_downloaded = m->bytes_downloaded;
    e->clients_dropped = m->clients_dropped;
}
