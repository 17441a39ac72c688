/* libFuzzer target for the image decoders: JPEG (libjpeg-turbo, with the
 * EXIF orientation parser) and PNG (libpng), told apart by signature, then
 * preprocessing (resize both ways, crop) of whatever decoded.
 *
 * What must hold: any status with a message; no pixel buffer after a
 * failure; on success 1 or 3 channels, sides >= 1 and within the fuzzing
 * pixel cap, and finite preprocessed values in [0, 1]. The EXIF parser also
 * runs on the raw input (any bytes: a result in 1..8). The seeds
 * (tests/fuzz/corpus/fuzz_image) are the golden test images.
 * Build and run: scripts/fuzz.sh (CMake -DAL_FUZZ=ON, clang). */
#include "fuzz_common.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_begin();
    int o = al_exif_orientation(data, size);
    FUZZ_ASSERT(o >= 1 && o <= 8);
    al_image img;
    al_status st = al_image_decode(data, size, &img);
    fuzz_check_status(st);
    if (st != AL_OK) {
        FUZZ_ASSERT(img.pixels == NULL);
        return 0;
    }
    FUZZ_ASSERT(img.channels == 1 || img.channels == 3);
    FUZZ_ASSERT(img.width >= 1 && img.height >= 1 && (long long)img.width * img.height <= (1LL << 22));
    static const int sizes[3][3] = {{3, 5, 7}, {1, 33, 17}, {3, 2, 40}};
    for (int k = 0; k < 3; k++) {
        al_image_prep p;
        al_image_prep_default(&p, sizes[k][0], sizes[k][1], sizes[k][2]);
        p.resize = k == 1 ? AL_RESIZE_CROP : AL_RESIZE_STRETCH;
        size_t n = (size_t)p.channels * p.height * p.width;
        float out[3 * 33 * 40];
        st = al_image_preprocess(&img, &p, out);
        fuzz_check_status(st);
        if (st != AL_OK) continue;
        for (size_t i = 0; i < n; i++) FUZZ_ASSERT(isfinite(out[i]) && out[i] >= -1e-5f && out[i] <= 1.0f + 1e-5f);
    }
    al_image_free(&img);
    return 0;
}
