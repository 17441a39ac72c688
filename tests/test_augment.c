/* Augmentation: reproducible per (seed, sample, variant), variant 0 is the
 * identity, each part does what it says, and bad arguments are refused. */
#include "al_test.h"

#define H 12
#define W 10

int main(void) {
    float img[H * W], a[H * W], b[H * W];
    for (int i = 0; i < H * W; i++) img[i] = (float)((i * 37) % 17) / 16.0f;
    al_augment_config c;
    al_augment_config_default(&c);
    REQUIRE_OK(al_augment_image(&c, 1, 5, 0, img, a, 1, H, W));
    CHECK(memcmp(a, img, sizeof img) == 0);
    REQUIRE_OK(al_augment_image(&c, 1, 5, 1, img, a, 1, H, W));
    REQUIRE_OK(al_augment_image(&c, 1, 5, 1, img, b, 1, H, W));
    CHECK(memcmp(a, b, sizeof a) == 0);          /* reproducible */
    CHECK(memcmp(a, img, sizeof a) != 0);        /* changed */
    REQUIRE_OK(al_augment_image(&c, 1, 5, 2, img, b, 1, H, W));
    CHECK(memcmp(a, b, sizeof a) != 0);          /* another variant differs */
    REQUIRE_OK(al_augment_image(&c, 1, 6, 1, img, b, 1, H, W));
    CHECK(memcmp(a, b, sizeof a) != 0);          /* another sample differs */
    for (int i = 0; i < H * W; i++) CHECK(a[i] >= 0.0f && a[i] <= 1.0f);

    /* a pure shift moves pixels by whole steps, zero filled */
    al_augment_config s = {0};
    s.shift = 3;
    int moved = 0;
    for (int v = 1; v < 20; v++) {
        REQUIRE_OK(al_augment_image(&s, 3, 9, v, img, a, 1, H, W));
        /* find the shift that explains a */
        int found = 0;
        for (int ty = -3; ty <= 3 && !found; ty++)
            for (int tx = -3; tx <= 3 && !found; tx++) {
                int ok = 1;
                for (int y = 0; y < H && ok; y++)
                    for (int x = 0; x < W && ok; x++) {
                        int sy = y - ty, sx = x - tx;
                        float want = (sy >= 0 && sy < H && sx >= 0 && sx < W) ? img[sy * W + sx] : 0.0f;
                        ok = fabsf(a[y * W + x] - want) < 1e-5f;
                    }
                if (ok) {
                    found = 1;
                    moved += tx != 0 || ty != 0;
                }
            }
        CHECK(found);
    }
    CHECK(moved > 10);
    /* mirror */
    al_augment_config f = {0};
    f.hflip = 1;
    int flips = 0;
    for (int v = 1; v < 20; v++) {
        REQUIRE_OK(al_augment_image(&f, 3, 9, v, img, a, 1, H, W));
        int mirrored = 1, same = 1;
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                mirrored &= fabsf(a[y * W + x] - img[y * W + (W - 1 - x)]) < 1e-5f;
                same &= fabsf(a[y * W + x] - img[y * W + x]) < 1e-5f;
            }
        CHECK(mirrored || same);
        flips += mirrored;
    }
    CHECK(flips > 3 && flips < 17);
    /* cutout zeroes a square of the given side */
    al_augment_config co = {0};
    co.cutout = 4;
    float ones[H * W];
    for (int i = 0; i < H * W; i++) ones[i] = 1.0f;
    REQUIRE_OK(al_augment_image(&co, 3, 9, 1, ones, a, 1, H, W));
    int zeros = 0;
    for (int i = 0; i < H * W; i++) zeros += a[i] == 0.0f;
    CHECK(zeros == 16);
    /* rotation by a small angle keeps the image mass roughly */
    al_augment_config ro = {0};
    ro.rotate_deg = 8;
    REQUIRE_OK(al_augment_image(&ro, 3, 9, 1, img, a, 1, H, W));
    double sa = 0, si = 0;
    for (int i = 0; i < H * W; i++) {
        sa += a[i];
        si += img[i];
    }
    CHECK(fabs(sa - si) < 0.25 * si);
    CHECK(memcmp(a, img, sizeof a) != 0);
    /* errors */
    CHECK_STATUS(al_augment_image(&c, 1, 1, 1, img, a, 0, H, W), AL_ESHAPE);
    CHECK_STATUS(al_augment_image(&c, 1, 1, -1, img, a, 1, H, W), AL_ERANGE);
    CHECK_STATUS(al_augment_image(NULL, 1, 1, 1, img, a, 1, H, W), AL_EINVAL);
    c.contrast = 1.5f;
    CHECK_STATUS(al_augment_image(&c, 1, 1, 1, img, a, 1, H, W), AL_ERANGE);
    TEST_END("test_augment");
}
