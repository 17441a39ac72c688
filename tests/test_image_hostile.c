/* Hostile image files (tests/fuzz/corpus/fuzz_image/hostile_*, written by
 * tests/fuzz/make_image_hostile.py): each must fail with its status and
 * message. Skips when the build has no image decoders. */
#include "al_test.h"

#define CORPUS AL_SOURCE_DIR "/tests/fuzz/corpus/fuzz_image"

static void expect(const char *name, al_status want, const char *msg) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", CORPUS, name);
    al_image img;
    al_status st = al_image_read(path, &img);
    al_test_expect(name, st, want, msg);
    if (st == AL_OK) al_image_free(&img);
}

int main(void) {
    if (!al_images_supported()) {
        fprintf(stderr, "test_image_hostile: SKIP: no image decoders in this build\n");
        return 0;
    }
    /* a progressive JPEG of 501 scans that code nothing: libjpeg decodes
     * every scan over the whole image (20000 such scans of 8192x8192, a 2 MB
     * file, took 197 s); more than 500 are refused, 500 decode */
    expect("hostile_scans.jpg", AL_EFORMAT, "hostile_scans.jpg: JPEG: more than 500 scans");
    expect("scans_500.jpg", AL_OK, NULL);
    expect("rgb.jpg", AL_OK, NULL);
    expect("gray.jpg", AL_OK, NULL);
    TEST_END("test_image_hostile");
}
