/* A generic GGUF (version 3) reader and writer: typed key-value metadata and
 * named tensors at aligned offsets, little-endian on every host. Model files
 * (model_io.c) and checkpoints are built on it; the layout and the autlearn
 * keys are documented in docs/FORMAT.md.
 *
 * Both sides add integrity: the writer always emits two uint32 keys,
 * GGUF_KEY_CRC_HEADER (CRC-32 of bytes [0, data_start) with that key's own 4
 * value bytes read as zero) and GGUF_KEY_CRC_DATA (CRC-32 of bytes
 * [data_start, end of file)); the reader verifies them after a purely
 * structural, bounds-checked parse and before anything else is interpreted.
 *
 * Ownership: strings and tensors handed out by the reader point into its
 * buffer (gguf_str is NOT NUL-terminated) and live as long as the reader; a
 * reader opened over caller memory borrows it. The writer copies keys, names
 * and values, but only borrows tensor data until gguf_writer_save returns. */
#ifndef AL_GGUF_H
#define AL_GGUF_H

#include "al_internal.h"

#include <stdio.h>

#define GGUF_MAGIC 0x46554747u /* "GGUF" read as a little-endian uint32 */
#define GGUF_VERSION 3u
#define GGUF_DEFAULT_ALIGNMENT 32u
#define GGUF_MAX_DIMS 4
#define GGUF_MAX_NAME 64              /* tensor name bytes (ggml's limit) */
#define GGUF_MAX_KEY 65535            /* key bytes (the spec's limit) */
#define GGUF_MAX_STRING (1ull << 30)  /* any string value */
#define GGUF_MAX_KV (1ull << 20)
#define GGUF_MAX_TENSORS (1ull << 20)
#define GGUF_MAX_ALIGNMENT 65536u

#define GGUF_KEY_ALIGNMENT "general.alignment"
#define GGUF_KEY_CRC_HEADER "autlearn.crc32"
#define GGUF_KEY_CRC_DATA "autlearn.crc32_data"

/* Metadata value types (the spec's numbering). */
typedef enum gguf_type {
    GGUF_T_U8 = 0,
    GGUF_T_I8 = 1,
    GGUF_T_U16 = 2,
    GGUF_T_I16 = 3,
    GGUF_T_U32 = 4,
    GGUF_T_I32 = 5,
    GGUF_T_F32 = 6,
    GGUF_T_BOOL = 7,
    GGUF_T_STRING = 8,
    GGUF_T_ARRAY = 9,
    GGUF_T_U64 = 10,
    GGUF_T_I64 = 11,
    GGUF_T_F64 = 12,
    GGUF_T_COUNT
} gguf_type;

/* Tensor element types (ggml's numbering). Only these are known; a file with
 * another type fails with AL_EUNSUPPORTED. Q8_0 is blocks of 32 elements:
 * an f16 scale then 32 int8 (34 bytes), and ne[0] must be a multiple of 32. */
enum {
    GGML_T_F32 = 0,
    GGML_T_F16 = 1,
    GGML_T_Q8_0 = 8,
    GGML_T_I8 = 24,
    GGML_T_I16 = 25,
    GGML_T_I32 = 26,
    GGML_T_I64 = 27,
    GGML_T_F64 = 28
};

const char *gguf_type_name(gguf_type t);
const char *gguf_ggml_type_name(uint32_t t); /* "F32", ..., "?" */

/* A string inside a file: pointer and length, not NUL-terminated. */
typedef struct gguf_str {
    const char *p;
    size_t n;
} gguf_str;
int gguf_str_eq(gguf_str s, const char *c);

/* ---- writer ------------------------------------------------------------------
 * Collects KVs and tensors, then gguf_writer_save writes them in one go.
 * Setters return a status, and the first failure is also remembered, so a
 * caller may issue many setters and check only gguf_writer_save's result.
 * Keys must be unique (AL_EINVAL otherwise). */
typedef struct gguf_writer gguf_writer;

/* alignment: a power of two up to GGUF_MAX_ALIGNMENT; 0 = the default 32.
 * Emits GGUF_KEY_CRC_HEADER, GGUF_KEY_CRC_DATA and general.alignment. */
al_status gguf_writer_new(uint32_t alignment, gguf_writer **out);
void gguf_writer_free(gguf_writer *w);

al_status gguf_set_u8(gguf_writer *w, const char *key, uint8_t v);
al_status gguf_set_i8(gguf_writer *w, const char *key, int8_t v);
al_status gguf_set_u16(gguf_writer *w, const char *key, uint16_t v);
al_status gguf_set_i16(gguf_writer *w, const char *key, int16_t v);
al_status gguf_set_u32(gguf_writer *w, const char *key, uint32_t v);
al_status gguf_set_i32(gguf_writer *w, const char *key, int32_t v);
al_status gguf_set_u64(gguf_writer *w, const char *key, uint64_t v);
al_status gguf_set_i64(gguf_writer *w, const char *key, int64_t v);
al_status gguf_set_f32(gguf_writer *w, const char *key, float v);
al_status gguf_set_f64(gguf_writer *w, const char *key, double v);
al_status gguf_set_bool(gguf_writer *w, const char *key, int v);
al_status gguf_set_str(gguf_writer *w, const char *key, const char *v);
/* An array of n numbers or bools of type elem, given as host values (bool:
 * one byte each, 0 or 1). */
al_status gguf_set_arr(gguf_writer *w, const char *key, gguf_type elem, const void *v, size_t n);
al_status gguf_set_arr_str(gguf_writer *w, const char *key, const char *const *v, size_t n);

/* A tensor: ne[0] is the fastest-varying dimension (ggml order, the reverse
 * of PyTorch's). `data` holds the elements as host values (F32: floats,
 * I32: int32_t, ...; Q8_0: the raw blocks) and is read by gguf_writer_save. */
al_status gguf_add_tensor(gguf_writer *w, const char *name, uint32_t ggml_type, int ndim, const uint64_t *ne,
                          const void *data);

/* Writes to `f` sequentially (no seeking; a pipe works). */
al_status gguf_writer_write(gguf_writer *w, FILE *f);
/* Atomic: writes "<path>.tmp.<pid>.<seq>" (mode 0600) in the target's
 * directory, fflush + fsync, renames it over `path`, fsyncs the directory.
 * On failure the temporary file is removed and `path` is untouched. */
al_status gguf_writer_save(gguf_writer *w, const char *path);
/* Removes "<path>.tmp.<pid>.<seq>" files whose process no longer exists
 * (killed during a save; nobody will rename them). gguf_writer_save calls
 * it before writing, so at most one temporary file per path outlives a
 * crash, and only until the next save. */
void gguf_remove_stale_temps(const char *path);

/* ---- reader ------------------------------------------------------------------ */
typedef struct gguf_reader gguf_reader;

typedef struct gguf_tensor {
    gguf_str name;
    uint32_t type;          /* ggml type code */
    int ndim;
    uint64_t ne[GGUF_MAX_DIMS]; /* ne[0] fastest; unused dims are 1 */
    uint64_t nelem;
    uint64_t offset;        /* relative to the start of the data section */
    size_t nbytes;
    const unsigned char *data; /* little-endian bytes inside the reader's buffer */
} gguf_tensor;

#define GGUF_REQUIRE_CRC 1u /* fail (AL_EFORMAT) when the CRC keys are absent */

/* Reads a whole regular file into one al_malloc'd buffer sized by fstat
 * (the caller frees it with al_free). */
al_status gguf_read_file(const char *path, void **buf, size_t *n);
/* Parses and verifies `buf` (borrowed; must outlive the reader). */
al_status gguf_reader_open_mem(const void *buf, size_t n, unsigned flags, gguf_reader **out);
/* Reads the whole file with one allocation sized by fstat, then as above. */
al_status gguf_reader_open_file(const char *path, unsigned flags, gguf_reader **out);
void gguf_reader_free(gguf_reader *r);

size_t gguf_num_kv(const gguf_reader *r);
gguf_str gguf_kv_key(const gguf_reader *r, size_t i);
gguf_type gguf_kv_type(const gguf_reader *r, size_t i);
/* Index of `key`, or -1. */
long gguf_find_kv(const gguf_reader *r, const char *key);

/* Typed getters: AL_EFORMAT with the key in the message when the key is
 * missing or has another type (no conversions), or a bool is not 0/1. */
al_status gguf_get_u8(const gguf_reader *r, const char *key, uint8_t *v);
al_status gguf_get_i8(const gguf_reader *r, const char *key, int8_t *v);
al_status gguf_get_u16(const gguf_reader *r, const char *key, uint16_t *v);
al_status gguf_get_i16(const gguf_reader *r, const char *key, int16_t *v);
al_status gguf_get_u32(const gguf_reader *r, const char *key, uint32_t *v);
al_status gguf_get_i32(const gguf_reader *r, const char *key, int32_t *v);
al_status gguf_get_u64(const gguf_reader *r, const char *key, uint64_t *v);
al_status gguf_get_i64(const gguf_reader *r, const char *key, int64_t *v);
al_status gguf_get_f32(const gguf_reader *r, const char *key, float *v);
al_status gguf_get_f64(const gguf_reader *r, const char *key, double *v);
al_status gguf_get_bool(const gguf_reader *r, const char *key, int *v);
al_status gguf_get_str(const gguf_reader *r, const char *key, gguf_str *v);
/* The string value of KV i (AL_EFORMAT if it is not a string). */
al_status gguf_kv_str(const gguf_reader *r, size_t i, gguf_str *v);
/* Arrays: element type and length; then the elements as host values into
 * dst (cap elements; AL_ERANGE when the array is longer), or string j. */
al_status gguf_get_arr_info(const gguf_reader *r, const char *key, gguf_type *elem, uint64_t *n);
al_status gguf_get_arr(const gguf_reader *r, const char *key, gguf_type elem, void *dst, size_t cap, size_t *n);
al_status gguf_get_arr_str(const gguf_reader *r, const char *key, size_t j, gguf_str *v);

size_t gguf_num_tensors(const gguf_reader *r);
const gguf_tensor *gguf_tensor_at(const gguf_reader *r, size_t i);
const gguf_tensor *gguf_find_tensor(const gguf_reader *r, const char *name); /* NULL if absent */
/* Decodes an F32 tensor of exactly n elements into host floats (bit-exact). */
al_status gguf_tensor_read_f32(const gguf_tensor *t, float *dst, size_t n);

#endif /* AL_GGUF_H */
