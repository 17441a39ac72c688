/* Scenario reports: a JSON document for machines and an SVG figure for
 * people (per-user accuracy by method, and the learning curves). */
#include "sim.h"

#include <errno.h>
#include <math.h>
#include <string.h>

static const char *const colors[AL_M_COUNT] = {"#7f7f7f", "#d62728", "#1f77b4", "#2ca02c", "#ff7f0e",
                                               "#bcbd22", "#17becf", "#9467bd", "#8c564b", "#e377c2",
                                               "#393b79", "#637939"};

static void json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; s && *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch < 0x20)
            fprintf(f, "\\u%04x", ch);
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

static void json_num(FILE *f, double v) {
    if (isfinite(v))
        fprintf(f, "%.6g", v);
    else
        fputs("null", f);
}

static void json_arr(FILE *f, const double *v, int n) {
    fputc('[', f);
    for (int i = 0; i < n; i++) {
        if (i) fputc(',', f);
        json_num(f, v[i]);
    }
    fputc(']', f);
}

/* Writes to a temporary name and renames, so a reader never sees half a file. */
static FILE *open_tmp(const char *path, char *tmp, size_t cap) {
    snprintf(tmp, cap, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) al_error(AL_EIO, "cannot write %s: %s", tmp, strerror(errno));
    return f;
}

static al_status close_tmp(FILE *f, const char *tmp, const char *path) {
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        remove(tmp);
        return al_error(AL_EIO, "write to %s failed", tmp);
    }
    if (rename(tmp, path) != 0) {
        remove(tmp);
        return al_error(AL_EIO, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
    }
    return AL_OK;
}

al_status al_scenario_write_json(const al_scenario_config *c, const al_scenario_result *r, const char *path) {
    char tmp[4096];
    FILE *f = open_tmp(path, tmp, sizeof tmp);
    if (!f) return AL_EIO;
    fprintf(f, "{\n  \"scenario\": ");
    json_str(f, c->scenario);
    fprintf(f, ",\n  \"config\": {\"data\": ");
    json_str(f, c->data_dir);
    fprintf(f, ", \"arch\": ");
    json_str(f, c->arch);
    al_personalize_config pd;
    al_personalize_config_default(&pd); /* the chooser's default held-out fraction */
    double auto_val = c->auto_val > 0 ? c->auto_val : pd.val_fraction;
    /* the image chooser's folds as device_job sets them; with K folds the
     * single split's fraction is not used: null */
    int folds = al_sim_auto_folds(c);
    if (c->scenario && strcmp(c->scenario, "image") != 0) folds = 0; /* the text chooser: its single split */
    char av[32];
    if (folds > 1) snprintf(av, sizeof av, "null");
    else snprintf(av, sizeof av, "%g", auto_val);
    fprintf(f,
            ", \"users\": %d, \"per_user\": %d, \"test_per_user\": %d, \"public_frac\": %g, \"dominant\": %d, "
            "\"dominant_frac\": %g, \"pretrain_epochs\": %d, \"epochs\": %d, \"lr\": %g, \"local_epochs\": %d, "
            "\"rounds\": %d, \"fed_epochs\": %d, \"central_epochs\": %d, \"freeze\": %d, \"aug_variants\": %d, "
            "\"label_prior\": %g, \"l2sp\": %g, \"cache_mb\": %.1f, \"batch\": %d, \"threads\": %d, \"seed\": %llu, "
            "\"shift\": \"%s\", \"val_per_user\": %d, \"public_val\": %d, \"evaluate\": \"%s\", "
            "\"fed_lr\": %g, \"new_classes\": %d, \"fed_cosine\": %d, \"fedrep_head_epochs\": %d, \"auto_val\": %s, "
            "\"auto_folds\": %d, \"rehearsal\": %d, \"ditto_lambda\": %g, \"ditto_epochs\": %d, \"ngram_mix\": %d},\n",
            c->users.users, c->users.per_user, c->users.test_per_user, c->users.public_frac, c->users.dominant,
            c->users.dominant_frac, c->pretrain_epochs, c->epochs, c->lr, c->local_epochs, c->rounds, c->fed_epochs,
            c->central_epochs, r->freeze, c->aug_variants, c->label_prior, c->l2sp, (double)c->cache_bytes / 1048576.0, c->batch, c->threads,
            (unsigned long long)c->seed,
            c->users.shift == AL_SHIFT_FEATURE    ? "feature"
            : c->users.shift == AL_SHIFT_BOTH     ? "both"
            : c->users.shift == AL_SHIFT_NEWCLASS ? "newclass"
                                                  : "label",
            c->users.val_per_user, c->users.public_val, c->eval_validation ? "validation" : "test", c->fed_lr,
            c->users.shift == AL_SHIFT_NEWCLASS ? c->users.new_classes : 0, c->fed_cosine, c->fedrep_head_epochs, av,
            folds, c->rehearsal, c->ditto_lambda, c->ditto_epochs > 0 ? c->ditto_epochs : c->fed_epochs,
            c->ngram_mix);
    fprintf(f, "  \"pretrain_lr\": %g,\n  \"cloud_public_val_acc\": ", c->pretrain_lr);
    json_num(f, r->cloud_public_val_acc >= 0 ? r->cloud_public_val_acc : NAN); /* null: no --public-val */
    fprintf(f, ",\n  \"pretrain_seconds\": ");
    json_num(f, r->pretrain_seconds);
    fprintf(f, ",\n  \"public_samples\": %.0f,\n  \"macs_per_sample\": %.0f,\n", r->public_samples, r->macs_per_sample);
    fprintf(f, "  \"autonomous_epoch_seconds\": {\"first\": ");
    json_num(f, r->first_epoch_seconds);
    fprintf(f, ", \"later\": ");
    json_num(f, r->later_epoch_seconds);
    fprintf(f, ", \"speedup\": ");
    json_num(f, r->later_epoch_seconds > 0 ? r->first_epoch_seconds / r->later_epoch_seconds : NAN);
    fprintf(f, "},\n  \"dominant_classes\": [");
    for (int k = 0; k < r->users; k++) {
        fprintf(f, "%s[", k ? "," : "");
        for (int j = 0; j < r->ndominant; j++) fprintf(f, "%s%d", j ? "," : "", r->dominant[k * r->ndominant + j]);
        fputc(']', f);
    }
    fprintf(f, "],\n");
    if (r->user_names) {
        /* text scenario: who the users are, the text sizes, where the time went */
        fprintf(f, "  \"user_names\": [");
        for (int k = 0; k < r->users; k++) {
            if (k) fputc(',', f);
            json_str(f, r->user_names[k]);
        }
        fprintf(f, "],\n  \"text\": {\"user_tokens_mean\": %.0f, \"test_tokens_mean\": %.0f, \"user_tokens_cap\": %ld, "
                   "\"pretrain_tokens\": %ld, \"select_public\": %d, \"vocab_words\": %d},\n",
                r->user_tokens_mean, r->test_tokens_mean, c->user_tokens, c->pretrain_tokens, c->select_public,
                c->vocab_words);
        fprintf(f, "  \"seconds\": {\"data\": ");
        json_num(f, r->seconds_data);
        fprintf(f, ", \"pretrain\": ");
        json_num(f, r->pretrain_seconds);
        for (int i = 0; i < AL_M_COUNT; i++)
            if (r->m[i].ran) {
                fprintf(f, ", \"%s\": ", al_method_names[i]);
                json_num(f, r->seconds_method[i]);
            }
        fprintf(f, "},\n");
        if (r->public_val_top3 > 0) {
            fprintf(f, "  \"public_val_top3\": ");
            json_num(f, r->public_val_top3);
            fprintf(f, ",\n");
        }
        if (r->choice) {
            fprintf(f, "  \"autonomous_choice\": [");
            for (int k = 0; k < r->users; k++) {
                if (k) fputc(',', f);
                json_str(f, r->choice[k] ? r->choice[k] : "");
            }
            fprintf(f, "],\n");
        }
        if (r->sel_global[0] >= 0) {
            fprintf(f, "  \"selection\": {\"global_random\": ");
            json_num(f, r->sel_global[0]);
            fprintf(f, ", \"global_selected\": ");
            json_num(f, r->sel_global[1]);
            fprintf(f, ", \"autonomous_random\": ");
            json_num(f, r->sel_autonomous[0]);
            fprintf(f, ", \"autonomous_selected\": ");
            json_num(f, r->sel_autonomous[1]);
            fprintf(f, "},\n");
        }
    }
    int first = 1;
    for (int i = 0; i < AL_M_COUNT; i++) {
        const al_method_result *m = &r->m[i];
        if (!m->ran) continue;
        fprintf(f, "  \"%s\": {\"mean_acc\": ", al_method_names[i]);
        json_num(f, m->mean_acc);
        fprintf(f, ", \"std_acc\": ");
        json_num(f, m->std_acc);
        if (m->acc_top1) {
            fprintf(f, ", \"mean_top1\": ");
            json_num(f, m->mean_top1);
        }
        if (m->ppl) {
            fprintf(f, ", \"mean_ppl\": ");
            json_num(f, m->mean_ppl);
            fprintf(f, ", \"mean_keystroke_savings\": ");
            json_num(f, m->mean_saved);
            if (m->word_acc) {
                /* top-3 over word targets only, an <unk> target a miss */
                fprintf(f, ", \"mean_word_top3\": ");
                json_num(f, m->mean_word_acc);
            }
            fprintf(f, ", \"per_user_top1\": ");
            json_arr(f, m->acc_top1, r->users);
            fprintf(f, ", \"per_user_ppl\": ");
            json_arr(f, m->ppl, r->users);
        }
        if (m->acc_seen && m->acc_new) {
            /* newclass: the classes the cloud saw and those it never saw, apart (users without any: -1, left
             * out of the mean) */
            const double *v[2] = {m->acc_seen, m->acc_new};
            const char *name[2] = {"seen", "new"};
            for (int h = 0; h < 2; h++) {
                double sum = 0;
                int n = 0;
                for (int k = 0; k < r->users; k++)
                    if (v[h][k] >= 0) {
                        sum += v[h][k];
                        n++;
                    }
                fprintf(f, ", \"mean_acc_%s\": ", name[h]);
                json_num(f, n ? sum / n : -1.0);
                fprintf(f, ", \"per_user_%s\": ", name[h]);
                json_arr(f, v[h], r->users);
            }
        }
        if (m->body_crc && m->head_crc) {
            /* fedper, fedrep: the body every user is scored with (one value: it is shared) and each
             * user's own output layer */
            const uint32_t *v[2] = {m->body_crc, m->head_crc};
            const char *name[2] = {"body", "head"};
            for (int h = 0; h < 2; h++) {
                fprintf(f, ", \"per_user_%s_crc32\": [", name[h]);
                for (int k = 0; k < r->users; k++) fprintf(f, "%s%lu", k ? "," : "", (unsigned long)v[h][k]);
                fputc(']', f);
            }
        }
        if (m->model_crc) {
            /* ditto: each user's personal model (the whole weight block) */
            fprintf(f, ", \"per_user_model_crc32\": [");
            for (int k = 0; k < r->users; k++) fprintf(f, "%s%lu", k ? "," : "", (unsigned long)m->model_crc[k]);
            fputc(']', f);
        }
        if (m->dist) {
            fprintf(f, ", \"per_user_distance_to_global\": ");
            json_arr(f, m->dist, r->users);
        }
        fprintf(f, ", \"per_user\": ");
        json_arr(f, m->acc, r->users);
        fprintf(f, ", \"curve\": ");
        json_arr(f, m->curve, m->ncurve);
        fprintf(f, "},\n");
        first = 0;
    }
    (void)first;
    fprintf(f, "  \"cost\": {");
    first = 1;
    for (int i = 0; i < AL_M_COUNT; i++) {
        const al_method_result *m = &r->m[i];
        if (!m->ran) continue;
        fprintf(f, "%s\n    \"%s\": {\"seconds_per_user\": ", first ? "" : ",", al_method_names[i]);
        json_num(f, m->seconds);
        fprintf(f, ", \"cpu_seconds_per_user\": ");
        json_num(f, m->cpu_seconds);
        fprintf(f, ", \"peak_rss_mb\": ");
        json_num(f, m->peak_rss_mb);
        fprintf(f, ", \"macs_per_user\": ");
        json_num(f, m->macs);
        fprintf(f, ", \"bytes_uploaded\": ");
        json_num(f, m->bytes_uploaded);
        fprintf(f, ", \"bytes_downloaded\": ");
        json_num(f, m->bytes_downloaded);
        if (m->clients_dropped) fprintf(f, ", \"clients_dropped\": %d", m->clients_dropped);
        if (m->diverged) fprintf(f, ", \"diverged_users\": %d", m->diverged);
        fputc('}', f);
        first = 0;
    }
    fprintf(f, "\n  }\n}\n");
    return close_tmp(f, tmp, path);
}

al_status al_scenario_write_svg(const al_scenario_config *c, const al_scenario_result *r, const char *path) {
    char tmp[4096];
    FILE *f = open_tmp(path, tmp, sizeof tmp);
    if (!f) return AL_EIO;
    const int W = 1000, H = 760;
    /* panel 1: per-user accuracy by method; panel 2: learning curves */
    const double x0 = 70, x1 = W - 30, y0 = 70, y1 = 330, cy0 = 440, cy1 = 700;
    double lo = 1.0, hi = 0.0;
    int nm = 0;
    for (int i = 0; i < AL_M_COUNT; i++) {
        if (!r->m[i].ran) continue;
        nm++;
        for (int k = 0; k < r->users; k++) {
            lo = fmin(lo, r->m[i].acc[k]);
            hi = fmax(hi, r->m[i].acc[k]);
        }
        for (int e = 0; e < r->m[i].ncurve; e++) {
            lo = fmin(lo, r->m[i].curve[e]);
            hi = fmax(hi, r->m[i].curve[e]);
        }
    }
    /* the axis spans the data in steps of 10 points (text accuracies are ~25%) */
    lo = floor(lo * 10.0) / 10.0;
    if (lo > 0.9) lo = 0.9;
    if (lo < 0) lo = 0;
    hi = fmin(1.0, floor(hi * 10.0) / 10.0 + 0.1);
    if (hi <= lo) hi = fmin(1.0, lo + 0.1);
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
               "font-family=\"sans-serif\" font-size=\"12\">\n", W, H, W, H);
    fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    fprintf(f, "<text x=\"%d\" y=\"28\" font-size=\"18\" text-anchor=\"middle\">autlearn %s scenario: accuracy per user "
               "(%d users, %.0f private %s each)</text>\n", W / 2, c->scenario, r->users,
            r->user_names ? r->user_tokens_mean : (double)c->users.per_user, r->user_names ? "tokens" : "samples");
    /* legend */
    double lx = x0;
    for (int i = 0; i < AL_M_COUNT; i++) {
        if (!r->m[i].ran) continue;
        fprintf(f, "<rect x=\"%.0f\" y=\"42\" width=\"12\" height=\"12\" fill=\"%s\"/>"
                   "<text x=\"%.0f\" y=\"53\">%s %.1f%%</text>\n", lx, colors[i], lx + 16, al_method_names[i],
                100.0 * r->m[i].mean_acc);
        lx += 170;
    }
    /* axes and grid, panel 1 */
    for (int g = 0; g <= 5; g++) {
        double v = lo + (hi - lo) * g / 5.0, y = y1 - (y1 - y0) * g / 5.0;
        fprintf(f, "<line x1=\"%.0f\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                   "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">%.0f%%</text>\n", x0, y, x1, y, x0 - 6, y + 4,
                100 * v);
    }
    double gw = (x1 - x0) / (r->users ? r->users : 1), bw = nm ? (gw * 0.8) / nm : 0;
    for (int k = 0; k < r->users; k++) {
        int j = 0;
        for (int i = 0; i < AL_M_COUNT; i++) {
            if (!r->m[i].ran) continue;
            double v = fmin(fmax(r->m[i].acc[k], lo), hi), h = (y1 - y0) * (v - lo) / (hi - lo);
            fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"><title>user %d %s "
                       "%.2f%%</title></rect>\n", x0 + gw * k + gw * 0.1 + bw * j, y1 - h, bw, h, colors[i], k,
                    al_method_names[i], 100 * r->m[i].acc[k]);
            j++;
        }
        fprintf(f, "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">%d</text>\n", x0 + gw * (k + 0.5), y1 + 16, k);
    }
    fprintf(f, "<text x=\"%d\" y=\"%.0f\" text-anchor=\"middle\">user</text>\n", W / 2, y1 + 34);
    fprintf(f, "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"black\"/>\n", x0, y1, x1, y1);
    /* panel 2: curves */
    fprintf(f, "<text x=\"%d\" y=\"%.0f\" font-size=\"16\" text-anchor=\"middle\">learning curves: mean accuracy over "
               "users after each epoch (fedavg: each round)</text>\n", W / 2, cy0 - 18);
    int maxe = 1;
    for (int i = 0; i < AL_M_COUNT; i++)
        if (r->m[i].ran && r->m[i].ncurve > maxe) maxe = r->m[i].ncurve;
    for (int g = 0; g <= 5; g++) {
        double v = lo + (hi - lo) * g / 5.0, y = cy1 - (cy1 - cy0) * g / 5.0;
        fprintf(f, "<line x1=\"%.0f\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                   "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">%.0f%%</text>\n", x0, y, x1, y, x0 - 6, y + 4,
                100 * v);
    }
    for (int e = 1; e <= maxe; e++)
        if (maxe <= 20 || e % 5 == 0)
            fprintf(f, "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">%d</text>\n",
                    x0 + (x1 - x0) * (e - 1) / (maxe > 1 ? maxe - 1 : 1), cy1 + 16, e);
    fprintf(f, "<text x=\"%d\" y=\"%.0f\" text-anchor=\"middle\">epoch / round</text>\n", W / 2, cy1 + 34);
    for (int i = 0; i < AL_M_COUNT; i++) {
        const al_method_result *m = &r->m[i];
        if (!m->ran) continue;
        if (m->ncurve == 0) {
            /* no training on the device: a horizontal reference line */
            double y = cy1 - (cy1 - cy0) * (fmax(m->mean_acc, lo) - lo) / (hi - lo);
            fprintf(f, "<line x1=\"%.0f\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\" "
                       "stroke-dasharray=\"6,4\"/>\n", x0, y, x1, y, colors[i]);
            continue;
        }
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2.5\" points=\"", colors[i]);
        for (int e = 0; e < m->ncurve; e++) {
            double x = x0 + (x1 - x0) * e / (maxe > 1 ? maxe - 1 : 1);
            double y = cy1 - (cy1 - cy0) * (fmax(m->curve[e], lo) - lo) / (hi - lo);
            fprintf(f, "%.1f,%.1f ", x, y);
        }
        fprintf(f, "\"/>\n");
    }
    fprintf(f, "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"black\"/>\n", x0, cy1, x1, cy1);
    fprintf(f, "</svg>\n");
    return close_tmp(f, tmp, path);
}
