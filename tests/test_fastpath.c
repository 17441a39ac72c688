/* Fast paths of the small layers against plain references written here, on
 * odd sizes: maxpool's 2x2/2 path (ties, NaN, odd H and W, 1 to 2 threads)
 * and ReLU's branch-free loops (NaN passes the forward, 0 gets no gradient)
 * must equal their references bit for bit (both only compare and copy);
 * softmax cross-entropy (float polynomial exponentials, rows over threads)
 * must match a double-precision reference to float accuracy, and its
 * threaded form must equal the single-threaded one bit for bit; conv
 * backward in chunks of samples must match direct loops and be the same on
 * 1 and 2 threads. */
#include "al_test.h"

/* Values with many ties (a few levels) and a NaN now and then. */
static float val(uint32_t i, int with_nan) {
    uint32_t h = i * 2654435761u + 7u;
    h ^= h >> 15;
    h *= 2246822519u;
    h ^= h >> 13;
    if (with_nan && (h >> 8) % 97u == 0) return NAN;
    return (float)((int)((h >> 24) % 5u) - 2);
}

static int same(float a, float b) { return (isnan(a) && isnan(b)) || a == b; }

/* PyTorch's max pool: first maximum in scan order, the first NaN wins. */
static void ref_maxpool(const float *x, int planes, int H, int W, float *y, int *arg) {
    int OH = H / 2, OW = W / 2;
    for (int p = 0; p < planes; p++)
        for (int oh = 0; oh < OH; oh++)
            for (int ow = 0; ow < OW; ow++) {
                float best = -INFINITY;
                int bi = -1;
                for (int h = 2 * oh; h < 2 * oh + 2 && !isnan(best); h++)
                    for (int w = 2 * ow; w < 2 * ow + 2; w++) {
                        float v = x[((size_t)p * H + h) * W + w];
                        if (bi < 0 || v > best || isnan(v)) {
                            best = v;
                            bi = h * W + w;
                            if (isnan(v)) break;
                        }
                    }
                y[((size_t)p * OH + oh) * OW + ow] = best;
                arg[((size_t)p * OH + oh) * OW + ow] = bi;
            }
}

static void check_maxpool(int n, int C, int H, int W, int threads, int with_nan) {
    char spec[128];
    snprintf(spec, sizeof spec, "input %dx%dx%d; maxpool k=2", C, H, W);
    al_model *m = NULL;
    al_pool *pool = NULL;
    REQUIRE_OK(al_model_from_spec(spec, 1, &m));
    REQUIRE_OK(al_pool_new(threads, &pool));
    m->want_input_grad = 1;
    REQUIRE_OK(al_model_plan(m, n));
    int planes = n * C, OH = H / 2, OW = W / 2;
    size_t xin = (size_t)planes * H * W, yn = (size_t)planes * OH * OW;
    float *x = malloc(sizeof(float) * xin), *y = malloc(sizeof(float) * yn), *dy = malloc(sizeof(float) * yn);
    float *dx = calloc(xin, sizeof(float));
    int *arg = malloc(sizeof(int) * yn);
    if (!x || !y || !dy || !dx || !arg) exit(1);
    for (size_t i = 0; i < xin; i++) x[i] = val((uint32_t)i, with_nan);
    for (size_t i = 0; i < yn; i++) dy[i] = 0.25f + (float)(i % 13);
    ref_maxpool(x, planes, H, W, y, arg);
    for (size_t o = 0; o < yn; o++) dx[(o / ((size_t)OH * OW)) * (size_t)H * W + (size_t)arg[o]] += dy[o];
    const float *out = NULL;
    REQUIRE_OK(al_model_forward_from(m, pool, 0, x, n, 1, &out));
    int bad = 0;
    for (size_t i = 0; i < yn; i++) bad += !same(out[i], y[i]);
    CHECK(bad == 0);
    REQUIRE_OK(al_model_backward(m, pool, x, dy, n));
    int badg = 0;
    for (size_t i = 0; i < xin; i++) badg += !same(m->dinput[i], dx[i]);
    CHECK(badg == 0);
    if (bad || badg)
        fprintf(stderr, "maxpool n=%d C=%d %dx%d threads %d nan %d: %d outputs, %d gradients differ\n", n, C, H, W,
                threads, with_nan, bad, badg);
    free(x);
    free(y);
    free(dy);
    free(dx);
    free(arg);
    al_model_free(m);
    al_pool_free(pool);
}

static void check_relu(long k, int threads) {
    char spec[64];
    snprintf(spec, sizeof spec, "input %ld; relu", k);
    al_model *m = NULL;
    al_pool *pool = NULL;
    REQUIRE_OK(al_model_from_spec(spec, 1, &m));
    REQUIRE_OK(al_pool_new(threads, &pool));
    m->want_input_grad = 1;
    REQUIRE_OK(al_model_plan(m, 3));
    size_t nk = 3 * (size_t)k;
    float *x = malloc(sizeof(float) * nk), *dy = malloc(sizeof(float) * nk);
    if (!x || !dy) exit(1);
    for (size_t i = 0; i < nk; i++) {
        x[i] = val((uint32_t)i, 1);
        dy[i] = 1.0f + (float)(i % 7);
    }
    const float *y = NULL;
    REQUIRE_OK(al_model_forward_from(m, pool, 0, x, 3, 1, &y));
    int bad = 0;
    for (size_t i = 0; i < nk; i++) bad += !same(y[i], x[i] > 0.0f || isnan(x[i]) ? x[i] : 0.0f);
    CHECK(bad == 0);
    REQUIRE_OK(al_model_backward(m, pool, x, dy, 3));
    int badg = 0;
    for (size_t i = 0; i < nk; i++) badg += !same(m->dinput[i], x[i] > 0.0f ? dy[i] : 0.0f);
    CHECK(badg == 0);
    if (bad || badg) fprintf(stderr, "relu k=%ld threads %d: %d outputs, %d gradients differ\n", k, threads, bad, badg);
    free(x);
    free(dy);
    al_model_free(m);
    al_pool_free(pool);
}

/* rows x k logits over a wide range (z - max down to about -60). */
static void check_softmax(int rows, int k) {
    size_t nk = (size_t)rows * (size_t)k;
    float *z = malloc(sizeof(float) * nk), *d1 = malloc(sizeof(float) * nk), *d2 = malloc(sizeof(float) * nk);
    int32_t *t = malloc(sizeof(int32_t) * (size_t)rows);
    if (!z || !d1 || !d2 || !t) exit(1);
    al_rng rng;
    al_rng_seed(&rng, (uint64_t)rows * 1000 + (uint64_t)k, 3);
    for (size_t i = 0; i < nk; i++) z[i] = 10.0f * al_rng_normal(&rng);
    for (int r = 0; r < rows; r++) t[r] = r % 5 == 4 ? -1 : (int32_t)al_rng_below(&rng, (uint32_t)k);
    al_pool *pool = NULL;
    REQUIRE_OK(al_pool_new(2, &pool));
    double l1, l2;
    long c1, c2, a1, a2;
    float scale = 1.0f / (float)rows;
    al_softmax_ce(z, t, rows, k, scale, d1, &l1, &c1, &a1);
    al_softmax_ce_pool(pool, z, t, rows, k, scale, d2, &l2, &c2, &a2);
    CHECK(c1 == c2 && a1 == a2);
    CHECK(memcmp(d1, d2, sizeof(float) * nk) == 0);
    CHECK_NEAR(l1, l2, 1e-9 * fabs(l1) + 1e-12);
    /* the reference: libm exp in double */
    double ls = 0, maxerr = 0;
    long cnt = 0, cor = 0;
    for (int r = 0; r < rows; r++) {
        const float *zr = z + (size_t)r * k;
        if (t[r] < 0) {
            for (int j = 0; j < k; j++) maxerr = fmax(maxerr, fabs((double)d1[(size_t)r * k + j]));
            continue;
        }
        double mx = zr[0], se = 0;
        int am = 0;
        for (int j = 1; j < k; j++)
            if (zr[j] > mx) {
                mx = zr[j];
                am = j;
            }
        for (int j = 0; j < k; j++) se += exp((double)zr[j] - mx);
        ls += log(se) - ((double)zr[t[r]] - mx);
        cnt++;
        cor += am == t[r];
        for (int j = 0; j < k; j++) {
            double g = (exp((double)zr[j] - mx) / se - (j == t[r])) * scale;
            maxerr = fmax(maxerr, fabs(g - (double)d1[(size_t)r * k + j]));
        }
    }
    CHECK(cnt == c1 && cor == a1);
    CHECK_NEAR(l1, ls, 1e-6 * (fabs(ls) + 1.0));
    CHECK(maxerr <= 1e-6 * scale);
    if (maxerr > 1e-6 * scale) fprintf(stderr, "softmax %dx%d: gradient error %g\n", rows, k, maxerr);
    free(z);
    free(d1);
    free(d2);
    free(t);
    al_pool_free(pool);
}

/* Conv backward in chunks of samples (one sample per chunk at this size)
 * against direct loops, and bitwise the same on 1 and 2 threads. */
static void check_conv_chunks(void) {
    /* a sample's column matrix is 288 x 1089 floats, more than half of a
     * chunk (conv2d.c, CONV_BWD_CHUNK_FLOATS) */
    enum { N = 3, C = 32, H = 33, W = 33, F = 7, K = 3, P = 1 };
    const char *spec = "input 32x33x33; conv 7 k=3 p=1";
    size_t xn = (size_t)N * C * H * W, yn = (size_t)N * F * H * W, wn = (size_t)F * C * K * K;
    float *x = malloc(sizeof(float) * xn), *dy = malloc(sizeof(float) * yn);
    float *dw[2], *db[2], *dx[2];
    double *rw = calloc(wn, sizeof(double)), *rx = calloc(xn, sizeof(double));
    if (!x || !dy || !rw || !rx) exit(1);
    al_rng rng;
    al_rng_seed(&rng, 11, 2);
    for (size_t i = 0; i < xn; i++) x[i] = al_rng_normal(&rng);
    for (size_t i = 0; i < yn; i++) dy[i] = al_rng_normal(&rng);
    const float *wt = NULL;
    for (int t = 0; t < 2; t++) {
        al_model *m = NULL;
        al_pool *pool = NULL;
        REQUIRE_OK(al_model_from_spec(spec, 5, &m));
        REQUIRE_OK(al_pool_new(t + 1, &pool));
        m->want_input_grad = 1;
        REQUIRE_OK(al_model_plan(m, N));
        const float *y = NULL;
        REQUIRE_OK(al_model_forward_from(m, pool, 0, x, N, 1, &y));
        al_model_zero_grad(m);
        REQUIRE_OK(al_model_backward(m, pool, x, dy, N));
        dw[t] = malloc(sizeof(float) * wn);
        db[t] = malloc(sizeof(float) * F);
        dx[t] = malloc(sizeof(float) * xn);
        if (!dw[t] || !db[t] || !dx[t]) exit(1);
        memcpy(dw[t], m->nodes[0].params[0].g, sizeof(float) * wn);
        memcpy(db[t], m->nodes[0].params[1].g, sizeof(float) * F);
        memcpy(dx[t], m->dinput, sizeof(float) * xn);
        if (t == 0) {
            float *wc = malloc(sizeof(float) * wn);
            if (!wc) exit(1);
            memcpy(wc, m->nodes[0].params[0].w, sizeof(float) * wn);
            wt = wc;
        }
        al_model_free(m);
        al_pool_free(pool);
    }
    CHECK(memcmp(dw[0], dw[1], sizeof(float) * wn) == 0);
    CHECK(memcmp(db[0], db[1], sizeof(float) * F) == 0);
    CHECK(memcmp(dx[0], dx[1], sizeof(float) * xn) == 0);
    /* direct loops in double */
    for (int i = 0; i < N; i++)
        for (int f = 0; f < F; f++)
            for (int oy = 0; oy < H; oy++)
                for (int ox = 0; ox < W; ox++) {
                    double g = dy[(((size_t)i * F + f) * H + oy) * W + ox];
                    for (int c = 0; c < C; c++)
                        for (int ky = 0; ky < K; ky++)
                            for (int kx = 0; kx < K; kx++) {
                                int iy = oy + ky - P, ix = ox + kx - P;
                                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                                size_t xi = (((size_t)i * C + c) * H + iy) * W + ix;
                                size_t wi = (((size_t)f * C + c) * K + ky) * K + kx;
                                rw[wi] += g * x[xi];
                                rx[xi] += g * wt[wi];
                            }
                }
    int bad = 0;
    for (size_t i = 0; i < wn; i++) bad += fabs(rw[i] - dw[0][i]) > 1e-3 * (1.0 + fabs(rw[i]));
    for (size_t i = 0; i < xn; i++) bad += fabs(rx[i] - dx[0][i]) > 1e-4 * (1.0 + fabs(rx[i]));
    for (int f = 0; f < F; f++) {
        double s = 0;
        for (int i = 0; i < N; i++)
            for (int q = 0; q < H * W; q++) s += dy[((size_t)i * F + f) * H * W + q];
        bad += fabs(s - db[0][f]) > 1e-3 * (1.0 + fabs(s));
    }
    CHECK(bad == 0);
    if (bad) fprintf(stderr, "conv chunks: %d gradients off the direct loops\n", bad);
    for (int t = 0; t < 2; t++) {
        free(dw[t]);
        free(db[t]);
        free(dx[t]);
    }
    free((void *)wt);
    free(x);
    free(dy);
    free(rw);
    free(rx);
}

int main(void) {
    static const int sz[] = {2, 3, 7, 33};
    for (int t = 1; t <= 2; t++)
        for (int a = 0; a < 4; a++)
            for (int b = 0; b < 4; b++) {
                check_maxpool(1, 1, sz[a], sz[b], t, 0);
                check_maxpool(3, 7, sz[a], sz[b], t, 1);
            }
    check_maxpool(2, 33, 28, 28, 2, 1); /* enough work for the threads to split it */
    check_maxpool(2, 3, 9, 67, 1, 1);   /* 33 windows a row: two full blocks of 16 (AVX-512) and one */
    check_conv_chunks();
    static const long ks[] = {1, 7, 33, 257, 40000};
    for (int t = 1; t <= 2; t++)
        for (int i = 0; i < 5; i++) check_relu(ks[i], t);
    /* both exp paths: the portable loop (GEMM variant c) and, where the CPU
     * has it, the AVX-512 kernel */
    static const int sk[] = {1, 7, 33, 257, 5001};
    static const al_gemm_variant vs[] = {AL_GEMM_C, AL_GEMM_AVX2, AL_GEMM_AVX512};
    for (int v = 0; v < 3; v++) {
        if (!al_gemm_force(vs[v])) continue;
        for (int a = 0; a < 4; a++)
            for (int b = 0; b < 5; b++) check_softmax(sk[a], sk[b]);
        check_softmax(640, 1001); /* rows x k large enough for the threads */
    }
    al_gemm_force(AL_GEMM_AUTO);
    TEST_END("test_fastpath");
}
