/* New classes on the device: the grown output layer keeps the old rows and
 * every other weight bit for bit, its new rows follow the imprinting rule
 * (recomputed here from the frozen features by a plain loop), shapes and
 * class names are right, the grown model saves, loads and trains, and bad
 * requests are refused. Also matching class names and relabelling. */
#include "al_test.h"

#include <unistd.h>

#define SPEC "input 1x6x6; flatten; dense 10; relu; dense 3"
#define N 30

static al_dataset *make_data(void) {
    float x[N * 36];
    int32_t y[N];
    al_rng r;
    al_rng_seed(&r, 9, 2);
    for (int i = 0; i < N; i++) {
        y[i] = i % 5; /* 0..2 known, 3 and 4 new */
        for (int j = 0; j < 36; j++) x[i * 36 + j] = al_rng_uniform(&r) + (j % 5 == y[i] ? 0.8f : 0.0f);
    }
    al_tensor sh = {NULL, 3, {1, 6, 6}};
    al_dataset *d;
    REQUIRE_OK(al_dataset_from_arrays(x, y, N, &sh, 1, 5, &d));
    return d;
}

/* x = A^-1 y for a 3 x 3 system, by Cramer's rule. */
static void solve3(double A[3][3], const double *y, double *x) {
    double det = A[0][0] * (A[1][1] * A[2][2] - A[1][2] * A[2][1]) - A[0][1] * (A[1][0] * A[2][2] - A[1][2] * A[2][0]) +
                 A[0][2] * (A[1][0] * A[2][1] - A[1][1] * A[2][0]);
    for (int i = 0; i < 3; i++) {
        double B[3][3];
        memcpy(B, A, sizeof B);
        for (int r = 0; r < 3; r++) B[r][i] = y[r];
        x[i] = (B[0][0] * (B[1][1] * B[2][2] - B[1][2] * B[2][1]) - B[0][1] * (B[1][0] * B[2][2] - B[1][2] * B[2][0]) +
                B[0][2] * (B[1][0] * B[2][1] - B[1][1] * B[2][0])) / det;
    }
}

/* The rule, from the cloud model m by a plain loop: w (2 x 10), b (2). The
 * centered class mean's part outside the old rows' span by least squares
 * (normal equations), not by the library's Gram-Schmidt. */
static void expected_rows(al_model *m, const al_dataset *d, double *w, double *b) {
    const int F = 10, K = 3;
    const al_node *o = &m->nodes[3];
    double mu[2][10] = {{0}}, top[2] = {0}, s = 0.0, cen[10] = {0};
    int cnt[2] = {0};
    REQUIRE_OK(al_model_plan(m, 1));
    for (int i = 0; i < d->n; i++) {
        int j = d->y[i] - K;
        REQUIRE_OK(al_model_forward_range(m, NULL, 0, 3, d->x + (size_t)i * 36, 1, 0));
        const float *f = m->act[2];
        for (int c = 0; c < F; c++) cen[c] += f[c] / d->n; /* every sample's */
        if (j < 0) continue;
        double best = -1e300;
        for (int k = 0; k < K; k++) {
            double z = o->params[1].w[k];
            for (int c = 0; c < F; c++) z += (double)o->params[0].w[k * F + c] * f[c];
            best = z > best ? z : best;
        }
        for (int c = 0; c < F; c++) mu[j][c] += f[c];
        top[j] += best;
        cnt[j]++;
    }
    for (int k = 0; k < K; k++) {
        double q = 0.0;
        for (int c = 0; c < F; c++) q += (double)o->params[0].w[k * F + c] * o->params[0].w[k * F + c];
        s += sqrt(q) / K;
    }
    const float *W = o->params[0].w;
    double G[3][3];
    for (int a = 0; a < 3; a++)
        for (int e = 0; e < 3; e++) {
            G[a][e] = 0.0;
            for (int c = 0; c < F; c++) G[a][e] += (double)W[a * F + c] * W[e * F + c];
        }
    for (int j = 0; j < 2; j++) {
        double m1[10], r[10], y[3], x[3], nrm = 0.0, dot = 0.0;
        for (int c = 0; c < F; c++) m1[c] = mu[j][c] / cnt[j];
        for (int a = 0; a < 3; a++) {
            y[a] = 0.0;
            for (int c = 0; c < F; c++) y[a] += (double)W[a * F + c] * (m1[c] - cen[c]);
        }
        solve3(G, y, x);
        for (int c = 0; c < F; c++) {
            r[c] = m1[c] - cen[c];
            for (int a = 0; a < 3; a++) r[c] -= x[a] * W[a * F + c];
            nrm += r[c] * r[c];
        }
        nrm = sqrt(nrm);
        for (int c = 0; c < F; c++) {
            w[j * F + c] = s * r[c] / nrm;
            dot += w[j * F + c] * m1[c];
        }
        b[j] = top[j] / cnt[j] - dot;
    }
}

static void test_grow(const al_dataset *d, const char *dir) {
    al_model *m, *cloud;
    REQUIRE_OK(al_model_from_spec(SPEC, 4, &m));
    REQUIRE_OK(al_model_freeze(m, 3));
    REQUIRE_OK(al_model_clone(m, &cloud));
    double w[20], b[2];
    expected_rows(cloud, d, w, b);
    CHECK(al_model_num_classes(m) == 3);
    /* the cloud's class prior grows with the classes: the old ones keep their shares within 3/5 */
    REQUIRE_OK(al_model_set_meta(m, "autlearn.class_prior", "0.5,0.25,0.25"));
    const char *names[2] = {"cat", "dog"};
    REQUIRE_OK(al_model_add_classes(m, NULL, d, 2, names));
    const char *prior = al_model_meta(m, "autlearn.class_prior");
    CHECK(prior && strcmp(prior, "0.3,0.15,0.15,0.2,0.2") == 0);
    /* shapes */
    CHECK(al_model_num_classes(m) == 5);
    CHECK(al_model_output_shape(m).shape[0] == 5);
    const al_node *o = &m->nodes[3], *oc = &cloud->nodes[3];
    CHECK(o->cfg.units == 5 && o->params[0].dims[0] == 5 && o->params[0].dims[1] == 10 && o->params[1].n == 5);
    CHECK(al_model_freeze_point(m) == 3);
    /* every weight below the output layer and the old rows: unchanged */
    for (int i = 0; i < 3; i++)
        for (int p = 0; p < m->nodes[i].nparams; p++)
            CHECK(memcmp(m->nodes[i].params[p].w, cloud->nodes[i].params[p].w,
                         sizeof(float) * cloud->nodes[i].params[p].n) == 0);
    CHECK(memcmp(o->params[0].w, oc->params[0].w, sizeof(float) * 30) == 0);
    CHECK(memcmp(o->params[1].w, oc->params[1].w, sizeof(float) * 3) == 0);
    /* new rows: the imprinting rule */
    for (int j = 0; j < 20; j++) CHECK_NEAR(o->params[0].w[30 + j], w[j], 1e-5);
    /* ... so each new row is orthogonal to the old rows, with their mean norm */
    for (int j = 0; j < 2; j++)
        for (int k = 0; k < 3; k++) {
            double dt = 0.0;
            for (int c = 0; c < 10; c++) dt += (double)o->params[0].w[(3 + j) * 10 + c] * o->params[0].w[k * 10 + c];
            CHECK_NEAR(dt, 0.0, 1e-5);
        }
    for (int j = 0; j < 2; j++) CHECK_NEAR(o->params[1].w[3 + j], b[j], 1e-4);
    CHECK(fabs(w[0]) + fabs(w[10]) > 0.0);
    /* names in output order */
    const char *meta = al_model_meta(m, "autlearn.classes");
    CHECK(meta && !strcmp(meta, "0\n1\n2\ncat\ndog"));
    char nm[16];
    CHECK_OK(al_model_class_name(m, 4, nm, sizeof nm));
    CHECK(!strcmp(nm, "dog"));
    CHECK_STATUS(al_model_class_name(m, 5, nm, sizeof nm), AL_ERANGE);
    CHECK_STATUS(al_model_class_name(m, 3, nm, 3), AL_ERANGE);
    /* the old classes' logits are unchanged on every sample */
    float y0[N * 3], y1[N * 5];
    REQUIRE_OK(al_model_predict(cloud, NULL, d->x, N, y0));
    REQUIRE_OK(al_model_predict(m, NULL, d->x, N, y1));
    for (int i = 0; i < N; i++)
        for (int k = 0; k < 3; k++) CHECK(y0[i * 3 + k] == y1[i * 5 + k]);
    /* save and load */
    char path[512];
    snprintf(path, sizeof path, "%s/grown.gguf", dir);
    REQUIRE_OK(al_model_save(m, path));
    al_model *l;
    REQUIRE_OK(al_model_load(path, &l));
    CHECK(al_model_num_classes(l) == 5 && l->nweights == m->nweights);
    CHECK(memcmp(l->wblock, m->wblock, sizeof(float) * m->nweights) == 0);
    CHECK(al_model_meta(l, "autlearn.classes") && !strcmp(al_model_meta(l, "autlearn.classes"), meta));
    float y2[N * 5];
    REQUIRE_OK(al_model_predict(l, NULL, d->x, N, y2));
    CHECK(memcmp(y1, y2, sizeof y1) == 0);
    unlink(path);
    /* it trains with the rest: the new rows move, the prefix does not */
    al_personalize_config c;
    al_personalize_config_default(&c);
    c.train.epochs = 3;
    c.train.batch = 8;
    c.freeze = 3;
    al_personalize_report r;
    REQUIRE_OK(al_personalize(l, NULL, d, NULL, NULL, &c, NULL, &r));
    CHECK(isfinite(r.train.final_loss));
    CHECK(memcmp(l->nodes[3].params[0].w + 30, o->params[0].w + 30, sizeof(float) * 20) != 0);
    CHECK(memcmp(l->nodes[1].params[0].w, m->nodes[1].params[0].w, sizeof(float) * m->nodes[1].params[0].n) == 0);
    /* a second growth appends after the first: names numbered by default */
    al_dataset *d2;
    int map6[5] = {0, 1, 2, 3, 5};
    REQUIRE_OK(al_dataset_subset(d, (int[]){4, 9, 14}, 3, &d2)); /* label 4 each */
    REQUIRE_OK(al_dataset_map_labels(d2, map6, 5, 6));
    REQUIRE_OK(al_model_add_classes(l, NULL, d2, 1, NULL));
    CHECK(!strcmp(al_model_meta(l, "autlearn.classes"), "0\n1\n2\ncat\ndog\n5"));
    al_dataset_free(d2);
    al_model_free(l);
    al_model_free(m);
    al_model_free(cloud);
}

static void test_refusals(const al_dataset *d) {
    al_model *m;
    REQUIRE_OK(al_model_from_spec(SPEC, 4, &m));
    size_t nw = m->nweights;
    /* a new class without samples (labels 3, 4 exist; 5 does not) */
    CHECK_STATUS(al_model_add_classes(m, NULL, d, 3, NULL), AL_EINVAL);
    CHECK(strstr(al_last_error(), "no sample") != NULL);
    const char *taken[2] = {"cat", "1"}, *empty[2] = {"cat", ""}, *nl[2] = {"a\nb", "c"}, *dup[2] = {"x", "x"};
    CHECK_STATUS(al_model_add_classes(m, NULL, d, 2, taken), AL_EINVAL);
    CHECK(strstr(al_last_error(), "taken") != NULL);
    CHECK_STATUS(al_model_add_classes(m, NULL, d, 2, empty), AL_EINVAL);
    CHECK_STATUS(al_model_add_classes(m, NULL, d, 2, nl), AL_EINVAL);
    CHECK_STATUS(al_model_add_classes(m, NULL, d, 2, dup), AL_EINVAL);
    CHECK_STATUS(al_model_add_classes(m, NULL, d, 0, NULL), AL_ERANGE);
    CHECK_STATUS(al_model_add_classes(m, NULL, d, N + 1, NULL), AL_EINVAL); /* more classes than samples */
    CHECK(m->nweights == nw && al_model_num_classes(m) == 3 && !al_model_meta(m, "autlearn.classes"));
    al_model_free(m);
    /* the output layer must be a plain dense layer */
    REQUIRE_OK(al_model_from_spec("input 1x6x6; flatten; dense 3; relu", 4, &m));
    CHECK_STATUS(al_model_add_classes(m, NULL, d, 2, NULL), AL_EINVAL);
    al_model_free(m);
    REQUIRE_OK(al_model_from_spec("input 1x6x6; flatten; dense 3 act=relu", 4, &m));
    CHECK_STATUS(al_model_add_classes(m, NULL, d, 2, NULL), AL_EINVAL);
    al_model_free(m);
    REQUIRE_OK(al_model_from_spec("input 1x5x5; flatten; dense 3", 4, &m));
    CHECK_STATUS(al_model_add_classes(m, NULL, d, 2, NULL), AL_ESHAPE);
    al_model_free(m);
}

/* Out of memory at every allocation of a growth: AL_ENOMEM with a message
 * and the model untouched, or the growth done. */
static void test_oom(const al_dataset *d) {
    al_model *m, *ref;
    REQUIRE_OK(al_model_from_spec(SPEC, 4, &ref));
    REQUIRE_OK(al_model_clone(ref, &m));
    al_alloc_fail_at(0);
    REQUIRE_OK(al_model_add_classes(m, NULL, d, 2, NULL));
    long total = al_alloc_count();
    al_model_free(m);
    CHECK(total > 5);
    int failed = 0;
    for (long k = 1; k <= total + 1; k++) {
        REQUIRE_OK(al_model_clone(ref, &m));
        al_alloc_fail_at(k);
        al_status st = al_model_add_classes(m, NULL, d, 2, NULL);
        al_alloc_fail_at(0);
        if (st == AL_OK) {
            CHECK(al_model_num_classes(m) == 5);
        } else {
            failed++;
            CHECK(st == AL_ENOMEM && strstr(al_last_error(), "memory") != NULL);
            CHECK(al_model_num_classes(m) == 3 && m->nweights == ref->nweights);
            CHECK(memcmp(m->wblock, ref->wblock, sizeof(float) * ref->nweights) == 0);
        }
        al_model_free(m);
    }
    CHECK(failed > 0);
    al_model_free(ref);
}

static void test_match(void) {
    al_model *m;
    REQUIRE_OK(al_model_from_spec(SPEC, 4, &m));
    const char *a[3] = {"2", "0", "shirt"};
    int map[3], unk = -1;
    REQUIRE_OK(al_model_match_classes(m, a, 3, map, &unk));
    CHECK(map[0] == 2 && map[1] == 0 && map[2] == -1 && unk == 1);
    REQUIRE_OK(al_model_set_meta(m, "autlearn.classes", "tshirt\ntrouser\nshirt"));
    REQUIRE_OK(al_model_match_classes(m, a, 3, map, &unk));
    CHECK(map[0] == -1 && map[1] == -1 && map[2] == 2 && unk == 2);
    al_model_free(m);
    /* relabelling: checked whole first */
    al_dataset *d = make_data();
    int bad[5] = {0, 1, 2, -1, 4};
    CHECK_STATUS(al_dataset_map_labels(d, bad, 5, 5), AL_EINVAL);
    CHECK(d->y[3] == 3);
    int rev[5] = {4, 3, 2, 1, 0};
    REQUIRE_OK(al_dataset_map_labels(d, rev, 5, 5));
    CHECK(d->y[0] == 4 && d->y[3] == 1);
    CHECK_STATUS(al_dataset_map_labels(d, rev, 4, 5), AL_EINVAL); /* label 4 beyond the map */
    al_dataset_free(d);
}

int main(void) {
    char dir[] = "/tmp/al_classes_XXXXXX";
    REQUIRE_OK(mkdtemp(dir) ? AL_OK : AL_EIO);
    al_dataset *d = make_data();
    test_grow(d, dir);
    test_refusals(d);
    test_oom(d);
    test_match();
    al_dataset_free(d);
    rmdir(dir);
    TEST_END("test_classes");
}
