/* Test helper: copies a GGUF file's key-value pairs through the generic
 * reader and writer, letting the test change or drop each one on the way
 * (the tests that check what the loader refuses make their hostile files
 * this way). The checksums and the alignment are left out: the writer
 * writes its own. */
#ifndef AL_TEST_GGUF_H
#define AL_TEST_GGUF_H

#include "al_test.h"
#include "model/model.h"

/* One key-value pair on its way; the field that matches `type` holds the
 * value (arrays: 32-bit integers only, as the model files have). */
typedef struct {
    const char *key;
    gguf_type type;
    char str[512];
    uint32_t u32;
    int32_t i32;
    float f32;
    int b;
    int32_t arr[64];
    size_t narr;
} al_test_kv;

/* Called for each pair before it is written: change *kv, or return 0 to
 * leave the pair out. */
typedef int (*al_test_kv_edit)(al_test_kv *kv, void *ctx);

static void al_test_copy_kvs(const gguf_reader *r, gguf_writer *w, al_test_kv_edit edit, void *ctx) {
    for (size_t i = 0; i < gguf_num_kv(r); i++) {
        gguf_str ks = gguf_kv_key(r, i);
        char key[128];
        snprintf(key, sizeof key, "%.*s", (int)ks.n, ks.p);
        if (!strcmp(key, GGUF_KEY_CRC_HEADER) || !strcmp(key, GGUF_KEY_CRC_DATA) || !strcmp(key, GGUF_KEY_ALIGNMENT))
            continue;
        al_test_kv kv;
        memset(&kv, 0, sizeof kv);
        kv.key = key;
        kv.type = gguf_kv_type(r, i);
        switch (kv.type) {
        case GGUF_T_STRING: {
            gguf_str s;
            REQUIRE_OK(gguf_kv_str(r, i, &s));
            snprintf(kv.str, sizeof kv.str, "%.*s", (int)s.n, s.p);
            break;
        }
        case GGUF_T_U32: REQUIRE_OK(gguf_get_u32(r, key, &kv.u32)); break;
        case GGUF_T_I32: REQUIRE_OK(gguf_get_i32(r, key, &kv.i32)); break;
        case GGUF_T_F32: REQUIRE_OK(gguf_get_f32(r, key, &kv.f32)); break;
        case GGUF_T_BOOL: REQUIRE_OK(gguf_get_bool(r, key, &kv.b)); break;
        case GGUF_T_ARRAY: REQUIRE_OK(gguf_get_arr(r, key, GGUF_T_I32, kv.arr, 64, &kv.narr)); break;
        default: CHECK(!"a key type the model files do not use"); continue;
        }
        if (edit && !edit(&kv, ctx)) continue;
        switch (kv.type) {
        case GGUF_T_STRING: gguf_set_str(w, key, kv.str); break;
        case GGUF_T_U32: gguf_set_u32(w, key, kv.u32); break;
        case GGUF_T_I32: gguf_set_i32(w, key, kv.i32); break;
        case GGUF_T_F32: gguf_set_f32(w, key, kv.f32); break;
        case GGUF_T_BOOL: gguf_set_bool(w, key, kv.b); break;
        default: gguf_set_arr(w, key, GGUF_T_I32, kv.arr, kv.narr); break;
        }
    }
}

#endif
