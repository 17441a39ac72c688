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
    TEST_END("test_softmax_ce");
}
