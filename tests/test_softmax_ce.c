/* Softmax cross-entropy: known values, numerical stability, ignored rows,
 * accuracy counting, and dlogits against central differences. */
#include "al_test.h"

static double mean_loss(const float *z, const int32_t *t, int rows, int k) {
    double ls;
    long cnt, cor;
    al_softmax_ce(z, t, rows, k, 1.0f, NULL, &ls, &cnt, &cor);
    return cnt ? ls / (double)cnt : 0.0;
}

int main(void) {
    /* known values: log(e^1 + e^2 + e^3) - z_t; softmax(1,2,3) */
    {
        float z[6] = {1, 2, 3, 1, 2, 3};
        int32_t t[2] = {2, 0};
        float dz[6];
        double ls;
        long cnt, cor;
        al_softmax_ce(z, t, 2, 3, 0.5f, dz, &ls, &cnt, &cor);
        CHECK(cnt == 2);
        CHECK(cor == 1);
        /* float exponentials (a 2-ulp polynomial), summed in double */
        CHECK_NEAR(ls, 0.40760596444438 + 2.40760596444438, 1e-6);
        const double p[3] = {0.09003057317038, 0.24472847105480, 0.66524095577482};
        for (int j = 0; j < 3; j++) {
            CHECK_NEAR(dz[j], 0.5 * (p[j] - (j == 2)), 1e-7);
            CHECK_NEAR(dz[3 + j], 0.5 * (p[j] - (j == 0)), 1e-7);
        }
    }
    /* stability: huge logits neither overflow nor lose the answer */
    {
        float z[4] = {1000.0f, 1000.0f, -1000.0f, 0.0f};
        int32_t t[2] = {0, 1};
        float dz[4];
        double ls;
        long cnt, cor;
        al_softmax_ce(z, t, 2, 2, 1.0f, dz, &ls, &cnt, &cor);
        CHECK(isfinite(ls));
        CHECK_NEAR(ls, log(2.0), 1e-9);
        CHECK_NEAR(dz[0], -0.5, 1e-7);
        CHECK_NEAR(dz[1], 0.5, 1e-7);
        CHECK_NEAR(dz[2], 0.0, 1e-7);
        CHECK_NEAR(dz[3], 0.0, 1e-7);
        CHECK(cor == 2); /* a tie goes to the first index, as torch.argmax */
    }
    /* ignored rows (negative targets): no loss, no count, zero gradient */
    {
        float z[6] = {0.3f, -1.0f, 2.0f, 5.0f, 1.0f, -2.0f};
        int32_t t[2] = {-1, 0};
        float dz[6];
        for (int j = 0; j < 6; j++) dz[j] = 99.0f;
        double ls;
        long cnt, cor;
        al_softmax_ce(z, t, 2, 3, 1.0f, dz, &ls, &cnt, &cor);
        CHECK(cnt == 1);
        CHECK(cor == 1);
        for (int j = 0; j < 3; j++) CHECK(dz[j] == 0.0f);
        CHECK(dz[3] < 0.0f && dz[4] > 0.0f && dz[5] > 0.0f);
        double one = log(exp(5.0) + exp(1.0) + exp(-2.0)) - 5.0;
        CHECK_NEAR(ls, one, 1e-7);
        /* a gradient row sums to 0 */
        CHECK_NEAR(dz[3] + dz[4] + dz[5], 0.0, 1e-7);
    }
    /* dlogits == d(mean loss)/dz by central differences */
    {
        enum { R = 5, K = 7 };
        float z[R * K], dz[R * K];
        int32_t t[R] = {3, -1, 0, 6, 2};
        al_rng rng;
        al_rng_seed(&rng, 5, 1);
        for (int i = 0; i < R * K; i++) z[i] = 2.0f * al_rng_normal(&rng);
        double ls;
        long cnt, cor;
        al_softmax_ce(z, t, R, K, 1.0f / 4.0f, dz, &ls, &cnt, &cor);
        CHECK(cnt == 4);
        int bad = 0;
        for (int i = 0; i < R * K; i++) {
            float o = z[i];
            const float e = 1e-2f;
            z[i] = o + e;
            double fp = mean_loss(z, t, R, K);
            z[i] = o - e;
            double fm = mean_loss(z, t, R, K);
            z[i] = o;
            double num = (fp - fm) / ((double)(o + e) - (double)(o - e));
            if (fabs(num - dz[i]) > 1e-4 + 1e-3 * fabs(num)) {
                fprintf(stderr, "dlogits[%d]: analytic %g numeric %g\n", i, (double)dz[i], num);
                bad++;
            }
        }
        CHECK(bad == 0);
    }
    /* NaN logits surface as a NaN loss (the trainer turns it into AL_ENUMERIC) */
    {
        float z[2] = {NAN, 0.0f};
        int32_t t[1] = {1};
        double ls;
        long cnt, cor;
        al_softmax_ce(z, t, 1, 2, 1.0f, NULL, &ls, &cnt, &cor);
        CHECK(!isfinite(ls));
    }
    /* al_row_max under every GEMM variant (the AVX-512 form rides on it)
     * against the plain loop (AL_GEMM_REF): the same bits and the same
     * first argmax, on rows of every tail length, NaNs (first, inside,
     * all), infinities, signed zeros tied for the maximum, repeated maxima */
    {
        enum { KMAX = 5001 };
        float *z = malloc(sizeof(float) * KMAX);
        al_rng r;
        al_rng_seed(&r, 77, 1);
        int lens[] = {1, 2, 15, 16, 17, 31, 32, 33, 47, 100, 257, KMAX};
        int bad = 0, rows = 0;
        for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++)
            for (int kind = 0; kind < 8; kind++) {
                int k = lens[li];
                for (int j = 0; j < k; j++) z[j] = al_rng_normal(&r);
                switch (kind) {
                case 1: z[0] = NAN; break;
                case 2: z[k / 2] = NAN; z[k - 1] = INFINITY; break;
                case 3: for (int j = 0; j < k; j++) z[j] = NAN; break;
                case 4: for (int j = 0; j < k; j++) z[j] = -INFINITY; break;
                case 5: for (int j = 0; j < k; j++) z[j] = (j % 3) ? -1.0f : (j % 2 ? 0.0f : -0.0f); break;
                case 6: z[k - 1] = 9.0f; z[k / 3] = 9.0f; break;
                case 7: for (int j = 0; j < k; j++) z[j] = (float)(j % 5); break;
                default: break;
                }
                float want = 0.0f, got = 0.0f;
                int wam = -1, gam = -1;
                CHECK(al_gemm_force(AL_GEMM_REF));
                want = al_row_max(z, k, &wam);
                for (int v = 0; v < AL_GEMM_NVARIANTS; v++) {
                    if (!al_gemm_force((al_gemm_variant)v)) continue;
                    got = al_row_max(z, k, &gam);
                    if (memcmp(&got, &want, sizeof got) != 0 || gam != wam) {
                        if (bad++ < 3)
                            fprintf(stderr, "row_max %s k=%d kind %d: %g at %d, want %g at %d\n",
                                    al_gemm_variant_name((al_gemm_variant)v), k, kind, got, gam, want, wam);
                    }
                }
                al_gemm_force(AL_GEMM_AUTO);
                rows++;
            }
        CHECK(bad == 0);
        CHECK(rows == 96);
        free(z);
    }
    TEST_END("test_softmax_ce");
}
