/* libFuzzer target for the IDX reader (al_idx_load: MNIST-family files,
 * plain or gzipped).
 *
 * One input holds both files: a 4-byte little-endian length L, then L bytes
 * of the labels file, then the images file (L is clamped to what is there).
 * The reader works on paths (it stats the file and lets zlib detect gzip),
 * so each input is written to two files in a private temporary directory,
 * removed at exit. What must hold: any status with a message; on success
 * the dataset is consistent (labels < num_classes <= 256, pixels in [0,1]).
 * Build and run: scripts/fuzz.sh (CMake -DAL_FUZZ=ON, clang). */
#include "fuzz_common.h"

#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_begin();
    const char *images = fuzz_scratch_path("images"), *labels = fuzz_scratch_path("labels");
    if (size < 4) return 0;
    size_t l = (size_t)data[0] | (size_t)data[1] << 8 | (size_t)data[2] << 16 | (size_t)data[3] << 24;
    if (l > size - 4) l = size - 4;
    FUZZ_ASSERT(fuzz_write_file(labels, data + 4, l));
    FUZZ_ASSERT(fuzz_write_file(images, data + 4 + l, size - 4 - l));

    al_dataset *d = (al_dataset *)1; /* must be overwritten */
    al_status st = al_idx_load(images, labels, &d);
    fuzz_check_status(st);
    if (st != AL_OK) {
        FUZZ_ASSERT(d == NULL);
        return 0;
    }
    int n = al_dataset_size(d), k = al_dataset_num_classes(d);
    al_tensor xs = al_dataset_x_shape(d);
    FUZZ_ASSERT(n >= 1 && k >= 1 && k <= 256 && al_dataset_y_len(d) == 1);
    FUZZ_ASSERT(xs.ndim == 3 && xs.shape[0] == 1 && xs.shape[1] >= 1 && xs.shape[2] >= 1);
    size_t px = (size_t)xs.shape[1] * (size_t)xs.shape[2];
    int maxl = -1;
    for (int i = 0; i < n; i++) {
        int y = al_dataset_y(d, i)[0];
        FUZZ_ASSERT(y >= 0 && y < k);
        if (y > maxl) maxl = y;
        const float *x = al_dataset_x(d, i);
        for (size_t j = 0; j < px; j++) FUZZ_ASSERT(x[j] >= 0.0f && x[j] <= 1.0f);
    }
    FUZZ_ASSERT(maxl == k - 1);
    al_dataset_free(d);
    return 0;
}
