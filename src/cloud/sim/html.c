/* The HTML scenario report (html.h). The page is built from the parsed JSON
 * only: every string from the file is HTML-escaped, every number is checked
 * (null and missing values show as a dash and are left out of the charts). */
#include "html.h"
#include "sim.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const hcolors[AL_M_COUNT] = {"#7f7f7f", "#d62728", "#1f77b4", "#2ca02c", "#ff7f0e",
                                                "#bcbd22", "#17becf", "#9467bd", "#8c564b", "#e377c2",
                                                "#393b79", "#637939"};
static const char *const hdesc[AL_M_COUNT] = {
    "the pre-trained cloud model as is",
    "trained from scratch on the user's data only",
    "cloud model personalized on the device (frozen prefix, cache, augmentation)",
    "cloud model trained on public + all users' data pooled in the cloud",
    "federated averaging from the cloud model",
    "the cloud model, output bias shifted by the user's class mix",
    "centralized, output bias shifted by the user's class mix",
    "fedavg, output bias shifted by the user's class mix",
    "fedavg, then personalized on the device",
    "FedPer: shared body averaged over rounds, personal output layer per user",
    "FedRep: each round the personal output layer trained first, then the shared body under it",
    "Ditto: fedavg, and beside it a personal model per user pulled toward the global one",
};

#define MAX_USERS 100000
#define MAX_CURVE 100000

typedef struct hmethod {
    int present;
    double mean, std, top1;
    double *acc;      /* users values, NAN where missing */
    double *curve;
    int ncurve;
    const al_json *cost;
} hmethod;

typedef struct hdoc {
    const al_json *doc;
    const char *scenario;
    int users;
    hmethod m[AL_M_COUNT];
    double lo;        /* lower end of the accuracy axes */
} hdoc;

static void esc(FILE *f, const char *s) {
    for (; s && *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default: fputc(*s, f);
        }
    }
}

/* A percentage, or a dash for a missing value. */
static void pct(FILE *f, double v) {
    if (isfinite(v))
        fprintf(f, "%.2f%%", 100.0 * v);
    else
        fputs("&ndash;", f);
}

/* 1234567 -> "1.23 M"; a dash when missing. */
static void si(FILE *f, double v, const char *unit) {
    static const char *const pre[] = {"", "k", "M", "G", "T", "P"};
    if (!isfinite(v)) {
        fputs("&ndash;", f);
        return;
    }
    int k = 0;
    double a = fabs(v);
    while (a >= 1000.0 && k < 5) {
        a /= 1000.0;
        v /= 1000.0;
        k++;
    }
    if (k == 0 && v == floor(v))
        fprintf(f, "%.0f %s", v, unit);
    else
        fprintf(f, "%.3g %s%s", v, pre[k], unit);
}

static void num(FILE *f, double v, const char *fmt) {
    if (isfinite(v))
        fprintf(f, fmt, v);
    else
        fputs("&ndash;", f);
}

/* A number array (null entries become NAN) of at most `max` items. */
static al_status read_array(const al_json *a, const char *what, int max, double **out, int *n) {
    *out = NULL;
    *n = 0;
    if (!a) return AL_OK;
    if (a->type != AL_JSON_ARR) return al_error(AL_EFORMAT, "not a scenario report: %s is not an array", what);
    if (a->n > max) return al_error(AL_EFORMAT, "not a scenario report: %s has %d entries (at most %d)", what, a->n, max);
    if (a->n == 0) return AL_OK;
    double *v = al_malloc(sizeof(double) * (size_t)a->n);
    if (!v) return AL_ENOMEM;
    for (int i = 0; i < a->n; i++) {
        const al_json *e = &a->items[i];
        if (e->type != AL_JSON_NUM && e->type != AL_JSON_NULL) {
            al_free(v);
            return al_error(AL_EFORMAT, "not a scenario report: %s[%d] is not a number", what, i);
        }
        v[i] = al_json_num(e);
    }
    *out = v;
    *n = a->n;
    return AL_OK;
}

static void hdoc_free(hdoc *h) {
    for (int i = 0; i < AL_M_COUNT; i++) {
        al_free(h->m[i].acc);
        al_free(h->m[i].curve);
    }
}

static al_status hdoc_read(const al_json *doc, hdoc *h) {
    memset(h, 0, sizeof *h);
    h->doc = doc;
    if (!doc || doc->type != AL_JSON_OBJ)
        return al_error(AL_EFORMAT, "not a scenario report: the top level is not a JSON object");
    h->scenario = al_json_str(al_json_get(doc, "scenario"));
    if (!h->scenario)
        return al_error(AL_EFORMAT, "not a scenario report: no \"scenario\" string (write one with 'autlearn scenario ... --json')");
    const al_json *cost = al_json_get(doc, "cost");
    if (cost && cost->type != AL_JSON_OBJ) return al_error(AL_EFORMAT, "not a scenario report: \"cost\" is not an object");
    int any = 0;
    for (int i = 0; i < AL_M_COUNT; i++) {
        const al_json *o = al_json_get(doc, al_method_names[i]);
        if (!o) continue;
        if (o->type != AL_JSON_OBJ)
            return al_error(AL_EFORMAT, "not a scenario report: \"%s\" is not an object", al_method_names[i]);
        hmethod *m = &h->m[i];
        m->present = 1;
        m->mean = al_json_num(al_json_get(o, "mean_acc"));
        m->std = al_json_num(al_json_get(o, "std_acc"));
        m->top1 = al_json_num(al_json_get(o, "mean_top1"));
        char what[64];
        snprintf(what, sizeof what, "%s.per_user", al_method_names[i]);
        int n = 0;
        al_status st = read_array(al_json_get(o, "per_user"), what, MAX_USERS, &m->acc, &n);
        if (st) return st;
        if (!al_json_get(o, "per_user"))
            return al_error(AL_EFORMAT, "not a scenario report: \"%s\" has no per_user array", al_method_names[i]);
        if (any && n != h->users)
            return al_error(AL_EFORMAT, "not a scenario report: %s has %d users, an earlier method %d", what, n, h->users);
        h->users = n;
        snprintf(what, sizeof what, "%s.curve", al_method_names[i]);
        if ((st = read_array(al_json_get(o, "curve"), what, MAX_CURVE, &m->curve, &m->ncurve)) != AL_OK) return st;
        m->cost = al_json_get(cost, al_method_names[i]);
        if (m->cost && m->cost->type != AL_JSON_OBJ) m->cost = NULL;
        any = 1;
    }
    if (!any)
        return al_error(AL_EFORMAT, "not a scenario report: no method results (global, local, autonomous, centralized, fedavg)");
    /* the accuracy axes start at the lowest value seen, rounded down to 10% */
    double lo = 1.0;
    for (int i = 0; i < AL_M_COUNT; i++) {
        if (!h->m[i].present) continue;
        for (int k = 0; k < h->users; k++)
            if (isfinite(h->m[i].acc[k])) lo = fmin(lo, h->m[i].acc[k]);
        for (int e = 0; e < h->m[i].ncurve; e++)
            if (isfinite(h->m[i].curve[e])) lo = fmin(lo, h->m[i].curve[e]);
    }
    lo = floor(lo * 10.0) / 10.0;
    h->lo = fmin(fmax(lo, 0.0), 0.9);
    return AL_OK;
}

static double yof(const hdoc *h, double v, double top, double bottom) {
    double c = fmin(fmax(v, h->lo), 1.0);
    return bottom - (bottom - top) * (c - h->lo) / (1.0 - h->lo);
}

static void y_grid(FILE *f, const hdoc *h, double x0, double x1, double top, double bottom) {
    for (int g = 0; g <= 5; g++) {
        double v = h->lo + (1.0 - h->lo) * g / 5.0, y = yof(h, v, top, bottom);
        fprintf(f, "<line x1=\"%.0f\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\" class=\"grid\"/>"
                   "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">%.0f%%</text>\n",
                x0, y, x1, y, x0 - 6, y + 4, 100 * v);
    }
    fprintf(f, "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" class=\"axis\"/>\n", x0, bottom, x1, bottom);
}

/* Grouped bars: one group per user, one bar per method. */
static void svg_bars(FILE *f, const hdoc *h) {
    const double W = 1000, H = 330, x0 = 60, x1 = W - 20, top = 20, bottom = 280;
    fprintf(f, "<svg class=\"chart\" viewBox=\"0 0 %.0f %.0f\" xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" "
               "aria-label=\"accuracy per user and method\">\n", W, H);
    y_grid(f, h, x0, x1, top, bottom);
    int nm = 0;
    for (int i = 0; i < AL_M_COUNT; i++) nm += h->m[i].present;
    double gw = (x1 - x0) / (h->users > 0 ? h->users : 1), bw = gw * 0.8 / (nm ? nm : 1);
    int label_every = h->users > 40 ? (h->users + 39) / 40 : 1;
    for (int k = 0; k < h->users; k++) {
        int j = 0;
        for (int i = 0; i < AL_M_COUNT; i++) {
            if (!h->m[i].present) continue;
            double v = h->m[i].acc[k];
            if (isfinite(v)) {
                double y = yof(h, v, top, bottom);
                fprintf(f, "<rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"%.1f\" fill=\"%s\"><title>user %d, %s: "
                           "%.2f%%</title></rect>\n",
                        x0 + gw * k + gw * 0.1 + bw * j, y, bw, bottom - y, hcolors[i], k, al_method_names[i], 100 * v);
            }
            j++;
        }
        if (k % label_every == 0)
            fprintf(f, "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">%d</text>\n", x0 + gw * (k + 0.5),
                    bottom + 16, k);
    }
    fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">user</text>\n</svg>\n", (x0 + x1) / 2, bottom + 36);
}

/* Mean accuracy over users after each epoch (fedavg: round); methods
 * without device training are dashed horizontal lines at their mean. */
static void svg_curves(FILE *f, const hdoc *h) {
    const double W = 1000, H = 330, x0 = 60, x1 = W - 20, top = 20, bottom = 280;
    fprintf(f, "<svg class=\"chart\" viewBox=\"0 0 %.0f %.0f\" xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" "
               "aria-label=\"learning curves\">\n", W, H);
    y_grid(f, h, x0, x1, top, bottom);
    int maxe = 1;
    for (int i = 0; i < AL_M_COUNT; i++)
        if (h->m[i].present && h->m[i].ncurve > maxe) maxe = h->m[i].ncurve;
    int step = maxe <= 20 ? 1 : (maxe + 19) / 20;
    for (int e = 1; e <= maxe; e++)
        if (e == 1 || e % step == 0)
            fprintf(f, "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">%d</text>\n",
                    x0 + (x1 - x0) * (e - 1) / (maxe > 1 ? maxe - 1 : 1), bottom + 16, e);
    fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">epoch (fedavg: round)</text>\n", (x0 + x1) / 2,
            bottom + 36);
    for (int i = 0; i < AL_M_COUNT; i++) {
        const hmethod *m = &h->m[i];
        if (!m->present) continue;
        if (m->ncurve == 0) {
            if (!isfinite(m->mean)) continue;
            double y = yof(h, m->mean, top, bottom);
            fprintf(f, "<line x1=\"%.0f\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\" "
                       "stroke-dasharray=\"6,4\"><title>%s (no device training): %.2f%%</title></line>\n",
                    x0, y, x1, y, hcolors[i], al_method_names[i], 100 * m->mean);
            continue;
        }
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2.5\" points=\"", hcolors[i]);
        for (int e = 0; e < m->ncurve; e++)
            if (isfinite(m->curve[e]))
                fprintf(f, "%.1f,%.1f ", x0 + (x1 - x0) * e / (maxe > 1 ? maxe - 1 : 1), yof(h, m->curve[e], top, bottom));
        fprintf(f, "\"/>\n");
        for (int e = 0; e < m->ncurve; e++)
            if (isfinite(m->curve[e]))
                fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"><title>%s, epoch %d: %.2f%%</title>"
                           "</circle>\n", x0 + (x1 - x0) * e / (maxe > 1 ? maxe - 1 : 1),
                        yof(h, m->curve[e], top, bottom), hcolors[i], al_method_names[i], e + 1, 100 * m->curve[e]);
    }
    fprintf(f, "</svg>\n");
}

static void legend(FILE *f, const hdoc *h) {
    fprintf(f, "<p class=\"legend\">");
    for (int i = 0; i < AL_M_COUNT; i++)
        if (h->m[i].present)
            fprintf(f, "<span><i style=\"background:%s\"></i>%s</span>", hcolors[i], al_method_names[i]);
    fprintf(f, "</p>\n");
}

/* The title, or "autlearn <scenario> scenario". */
static void page_title(FILE *f, const hdoc *h, const char *title) {
    if (title)
        esc(f, title);
    else {
        fputs("autlearn ", f);
        esc(f, h->scenario);
        fputs(" scenario", f);
    }
}

/* From the doctype to the page's heading and note. */
static void page_head(FILE *f, const hdoc *h, const char *title) {
    fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
               "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>");
    page_title(f, h, title);
    fputs("</title>\n<style>\n"
          "body{font-family:system-ui,-apple-system,\"Segoe UI\",Roboto,\"DejaVu Sans\",sans-serif;color:#222;"
          "background:#fff;max-width:1100px;margin:0 auto;padding:16px 24px;line-height:1.4}\n"
          "h1{font-size:1.6em;margin:0.2em 0}h2{font-size:1.2em;margin:1.4em 0 0.4em;border-bottom:1px solid #ddd}\n"
          "table{border-collapse:collapse;margin:0.4em 0;font-size:0.92em}\n"
          "th,td{border:1px solid #ddd;padding:3px 8px;text-align:right}th{background:#f4f4f4}\n"
          "td.l,th.l{text-align:left}td.best{font-weight:bold;background:#eef5ff}\n"
          ".bar{display:inline-block;height:10px;vertical-align:middle;margin-right:6px}\n"
          ".legend span{margin-right:18px;white-space:nowrap}"
          ".legend i{display:inline-block;width:12px;height:12px;margin-right:5px;vertical-align:-1px}\n"
          "svg.chart{width:100%;height:auto;font-size:12px;font-family:inherit}\n"
          "svg .grid{stroke:#e3e3e3}svg .axis{stroke:#000}svg text{fill:#333}\n"
          ".note{color:#666;font-size:0.88em}\n"
          "</style>\n</head>\n<body>\n<h1>", f);
    page_title(f, h, title);
    fprintf(f, "</h1>\n<p class=\"note\">%d users; each method is evaluated per user on that user's private test "
               "set. Autonomous learning trains on the device only: no sample, gradient or model leaves it.</p>\n",
            h->users);
}

/* Accuracy by method, per user and over the epochs. */
static void page_accuracy(FILE *f, const hdoc *h) {
    fputs("<h2>Accuracy by method</h2>\n<table>\n<tr><th class=\"l\">method</th><th class=\"l\">what it is</th>"
          "<th>mean accuracy</th><th>std over users</th>", f);
    int has_top1 = 0;
    for (int i = 0; i < AL_M_COUNT; i++) has_top1 |= h->m[i].present && isfinite(h->m[i].top1);
    if (has_top1) fputs("<th>mean top-1</th>", f);
    fputs("</tr>\n", f);
    for (int i = 0; i < AL_M_COUNT; i++) {
        const hmethod *m = &h->m[i];
        if (!m->present) continue;
        fprintf(f, "<tr><td class=\"l\"><span class=\"bar\" style=\"background:%s;width:%.0fpx\"></span>%s</td>"
                   "<td class=\"l\">%s</td><td>", hcolors[i], isfinite(m->mean) ? 10 + 90 * fmax(m->mean, 0) : 0.0,
                al_method_names[i], hdesc[i]);
        pct(f, m->mean);
        fputs("</td><td>", f);
        pct(f, m->std);
        fputs("</td>", f);
        if (has_top1) {
            fputs("<td>", f);
            pct(f, m->top1);
            fputs("</td>", f);
        }
        fputs("</tr>\n", f);
    }
    fputs("</table>\n<h2>Accuracy per user</h2>\n", f);
    legend(f, h);
    svg_bars(f, h);
    fputs("<h2>Learning curves</h2>\n<p class=\"note\">Mean accuracy over users after each epoch (federated "
          "averaging: after each round). Dashed: methods without training on the device.</p>\n", f);
    legend(f, h);
    svg_curves(f, h);
}

/* The device cost per user, the autonomous epochs, the cloud. */
static void page_cost(FILE *f, const hdoc *h) {
    const al_json *doc = h->doc;
    fputs("<h2>Cost on the device, per user</h2>\n<table>\n<tr><th class=\"l\">method</th><th>wall time</th>"
          "<th>CPU time</th><th>peak memory rise</th><th>MACs</th><th>uploaded</th></tr>\n", f);
    for (int i = 0; i < AL_M_COUNT; i++) {
        const hmethod *m = &h->m[i];
        if (!m->present) continue;
        fprintf(f, "<tr><td class=\"l\">%s</td><td>", al_method_names[i]);
        num(f, al_json_num(al_json_get(m->cost, "seconds_per_user")), "%.3g s");
        fputs("</td><td>", f);
        num(f, al_json_num(al_json_get(m->cost, "cpu_seconds_per_user")), "%.3g s");
        fputs("</td><td>", f);
        num(f, al_json_num(al_json_get(m->cost, "peak_rss_mb")), "%.1f MB");
        fputs("</td><td>", f);
        si(f, al_json_num(al_json_get(m->cost, "macs_per_user")), "");
        fputs("</td><td>", f);
        si(f, al_json_num(al_json_get(m->cost, "bytes_uploaded")), "B");
        fputs("</td></tr>\n", f);
    }
    fputs("</table>\n", f);
    const al_json *ae = al_json_get(doc, "autonomous_epoch_seconds");
    double first = al_json_num(al_json_get(ae, "first")), later = al_json_num(al_json_get(ae, "later"));
    double sp = al_json_num(al_json_get(ae, "speedup"));
    if (isfinite(first) || isfinite(later)) {
        fputs("<p>Autonomous learning, one epoch on the device: first ", f);
        num(f, first, "%.4f s");
        fputs(" (runs the frozen layers), later ", f);
        num(f, later, "%.5f s");
        fputs(" (read from the runtime cache)", f);
        if (isfinite(sp)) fprintf(f, ": %.1f&times; faster", sp);
        fputs(".</p>\n", f);
    }
    double pre = al_json_num(al_json_get(doc, "pretrain_seconds"));
    double pubs = al_json_num(al_json_get(doc, "public_samples"));
    double macs = al_json_num(al_json_get(doc, "macs_per_sample"));
    if (isfinite(pre) || isfinite(pubs) || isfinite(macs)) {
        fputs("<p>Cloud: pre-training ", f);
        num(f, pre, "%.1f s");
        fputs(" on ", f);
        num(f, pubs, "%.0f");
        fputs(" public samples; the model costs ", f);
        si(f, macs, "");
        fputs(" MACs per sample (forward).</p>\n", f);
    }
}

/* Per user: the dominant classes (images) and every method's accuracy, the best marked. */
static void page_users(FILE *f, const hdoc *h) {
    const al_json *dom = al_json_get(h->doc, "dominant_classes");
    fputs("<h2>Per user</h2>\n<table>\n<tr><th>user</th>", f);
    if (dom && dom->type == AL_JSON_ARR) fputs("<th class=\"l\">dominant classes</th>", f);
    for (int i = 0; i < AL_M_COUNT; i++)
        if (h->m[i].present) fprintf(f, "<th>%s</th>", al_method_names[i]);
    fputs("</tr>\n", f);
    for (int k = 0; k < h->users; k++) {
        fprintf(f, "<tr><td>%d</td>", k);
        if (dom && dom->type == AL_JSON_ARR) {
            fputs("<td class=\"l\">", f);
            const al_json *d = k < dom->n ? &dom->items[k] : NULL;
            for (int j = 0; d && d->type == AL_JSON_ARR && j < d->n && j < 64; j++)
                if (isfinite(al_json_num(&d->items[j]))) fprintf(f, "%s%.0f", j ? ", " : "", al_json_num(&d->items[j]));
            fputs("</td>", f);
        }
        double best = -1;
        for (int i = 0; i < AL_M_COUNT; i++)
            if (h->m[i].present && isfinite(h->m[i].acc[k])) best = fmax(best, h->m[i].acc[k]);
        for (int i = 0; i < AL_M_COUNT; i++) {
            if (!h->m[i].present) continue;
            double v = h->m[i].acc[k];
            fprintf(f, "<td%s>", isfinite(v) && v == best ? " class=\"best\"" : "");
            pct(f, v);
            fputs("</td>", f);
        }
        fputs("</tr>\n", f);
    }
    fputs("</table>\n", f);
}

/* The configuration: every scalar of "config". */
static void page_config(FILE *f, const hdoc *h) {
    const al_json *cfg = al_json_get(h->doc, "config");
    if (cfg && cfg->type == AL_JSON_OBJ && cfg->n > 0) {
        fputs("<h2>Configuration</h2>\n<table>\n", f);
        for (int i = 0; i < cfg->n; i++) {
            const al_json *v = &cfg->items[i];
            fputs("<tr><th class=\"l\">", f);
            esc(f, cfg->keys[i]);
            fputs("</th><td class=\"l\">", f);
            if (v->type == AL_JSON_STR)
                esc(f, v->str);
            else if (v->type == AL_JSON_NUM)
                fprintf(f, "%.6g", v->num);
            else if (v->type == AL_JSON_BOOL)
                fputs(v->num ? "true" : "false", f);
            else
                fputs("&ndash;", f);
            fputs("</td></tr>\n", f);
        }
        fputs("</table>\n", f);
    }
}

static void write_page(FILE *f, const hdoc *h, const char *title) {
    page_head(f, h, title);
    page_accuracy(f, h);
    page_cost(f, h);
    page_users(f, h);
    page_config(f, h);
    fprintf(f, "<p class=\"note\">Made by autlearn %s (autlearn report).</p>\n</body>\n</html>\n", al_version());
}

al_status al_report_html(const al_json *doc, const char *title, const char *path) {
    if (!path) return al_error(AL_EINVAL, "al_report_html: NULL path");
    hdoc h;
    al_status st = hdoc_read(doc, &h);
    if (st) {
        hdoc_free(&h);
        return st;
    }
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp) {
        hdoc_free(&h);
        return al_error(AL_EINVAL, "output path too long");
    }
    FILE *f = fopen(tmp, "w");
    if (!f) {
        hdoc_free(&h);
        return al_error(AL_EIO, "cannot write %s: %s", tmp, strerror(errno));
    }
    write_page(f, &h, title);
    hdoc_free(&h);
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        remove(tmp);
        return al_error(AL_EIO, "write to %s failed", tmp);
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        remove(tmp);
        return al_error(AL_EIO, "cannot rename %s to %s: %s", tmp, path, strerror(e));
    }
    return AL_OK;
}
