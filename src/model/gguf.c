/* GGUF version 3, read and written byte by byte in little-endian order so
 * files are identical on every host. Layout (docs/FORMAT.md):
 *
 *   "GGUF" u32 version=3 | u64 tensor_count | u64 kv_count
 *   kv_count x  { string key | u32 type | value }
 *   tensor_count x { string name | u32 ndim | u64 ne[ndim] | u32 ggml_type | u64 offset }
 *   zero padding to the alignment                      <- data_start
 *   tensor data, each tensor at data_start + offset (aligned), padded
 *
 * string = u64 length + bytes (no NUL); array = u32 elem type + u64 count +
 * elements. The reader works in three phases so that nothing read from the
 * file is trusted before its checksum is checked:
 *   1. structure: every length and count is checked against the bytes left
 *      before it is used, so the parse cannot read out of bounds and its
 *      allocations are bounded by the file size;
 *   2. extents: dimension products (overflow-checked), offsets and sizes
 *      of the tensors inside the file, so a cut-off file says "truncated";
 *   3. checksums (GGUF_KEY_CRC_HEADER / GGUF_KEY_CRC_DATA);
 *   4. tensors: known types, unique names, no overlaps. */

#include "model/model.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- shared helpers ------------------------------------------------------------ */

static const unsigned char type_size[GGUF_T_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

const char *gguf_type_name(gguf_type t) {
    static const char *const names[GGUF_T_COUNT] = {"uint8", "int8",  "uint16", "int16", "uint32",
                                                    "int32", "float32", "bool", "string", "array",
                                                    "uint64", "int64", "float64"};
    return (unsigned)t < GGUF_T_COUNT ? names[t] : "?";
}

/* Block size (elements), bytes per block and the byte-swap unit of a ggml
 * type; 0 when the type is unknown. */
static int ggml_info(uint32_t t, unsigned *blk, unsigned *bytes, unsigned *width) {
    unsigned b = 1, s, wd;
    switch (t) {
    case GGML_T_F32: s = wd = 4; break;
    case GGML_T_F16: s = wd = 2; break;
    case GGML_T_Q8_0: b = 32, s = 34, wd = 1; break;
    case GGML_T_I8: s = wd = 1; break;
    case GGML_T_I16: s = wd = 2; break;
    case GGML_T_I32: s = wd = 4; break;
    case GGML_T_I64: s = wd = 8; break;
    case GGML_T_F64: s = wd = 8; break;
    default: return 0;
    }
    if (blk) *blk = b;
    if (bytes) *bytes = s;
    if (width) *width = wd;
    return 1;
}

const char *gguf_ggml_type_name(uint32_t t) {
    switch (t) {
    case GGML_T_F32: return "F32";
    case GGML_T_F16: return "F16";
    case GGML_T_Q8_0: return "Q8_0";
    case GGML_T_I8: return "I8";
    case GGML_T_I16: return "I16";
    case GGML_T_I32: return "I32";
    case GGML_T_I64: return "I64";
    case GGML_T_F64: return "F64";
    default: return "?";
    }
}

int gguf_str_eq(gguf_str s, const char *c) {
    size_t n = strlen(c);
    return s.n == n && memcmp(s.p, c, n) == 0;
}

static uint64_t rd_le(const unsigned char *p, unsigned width) {
    uint64_t v = 0;
    for (unsigned i = 0; i < width; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static void wr_le(unsigned char *p, uint64_t v, unsigned width) {
    for (unsigned i = 0; i < width; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* Host value of `width` bytes at p, as an integer (floats by their bits). */
static uint64_t host_bits(const void *p, unsigned width) {
    switch (width) {
    case 1: return *(const uint8_t *)p;
    case 2: {
        uint16_t v;
        memcpy(&v, p, 2);
        return v;
    }
    case 4: {
        uint32_t v;
        memcpy(&v, p, 4);
        return v;
    }
    default: {
        uint64_t v;
        memcpy(&v, p, 8);
        return v;
    }
    }
}

static void put_host_bits(void *p, uint64_t v, unsigned width) {
    switch (width) {
    case 1: *(uint8_t *)p = (uint8_t)v; break;
    case 2: {
        uint16_t x = (uint16_t)v;
        memcpy(p, &x, 2);
        break;
    }
    case 4: {
        uint32_t x = (uint32_t)v;
        memcpy(p, &x, 4);
        break;
    }
    default: memcpy(p, &v, 8); break;
    }
}

/* Padding that brings `o` to a multiple of the power of two `a`. */
static uint64_t pad_to(uint64_t o, uint64_t a) { return (a - (o & (a - 1))) & (a - 1); }

static int is_pow2(uint64_t a) { return a && !(a & (a - 1)); }

/* ---- writer ------------------------------------------------------------------------ */

typedef struct wtensor {
    char name[GGUF_MAX_NAME + 1];
    uint32_t type;
    int ndim;
    uint64_t ne[GGUF_MAX_DIMS];
    uint64_t nbytes;
    unsigned width;
    const void *data;
    uint64_t offset;
} wtensor;

/* The names written so far (keys, or tensor names) by hash: open
 * addressing, at most half full, entries 1 + the name's index (0: empty),
 * so that a duplicate check costs O(1), not a pass over every earlier name
 * (a model of 16,000 layers, 17 keys each, took 40 to 70 s to save). */
typedef struct name_index {
    size_t *slot;
    size_t cap; /* a power of two, or 0 */
} name_index;

struct gguf_writer {
    uint32_t alignment;
    unsigned char *kv; /* the serialized KV section */
    size_t kv_n, kv_cap;
    uint64_t nkv;
    char **keys;
    size_t nkeys, keys_cap;
    size_t crc_hdr_off, crc_data_off; /* offsets of the two CRC values inside kv */
    wtensor *t;
    size_t nt, t_cap;
    name_index kidx, tidx; /* keys, tensor names */
    al_status err; /* first failure, replayed by write/save */
    char msg[256];
};

/* Name i of the keys (tens 0) or the tensors (tens 1) */
static const char *wname(const gguf_writer *w, int tens, size_t i) { return tens ? w->t[i].name : w->keys[i]; }

static uint64_t name_hash(const char *s) { /* FNV-1a */
    uint64_t h = 14695981039346656037u;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

/* The slot of name s in h: its entry, or the empty slot where it would go */
static size_t *index_slot(const gguf_writer *w, const name_index *h, int tens, const char *s) {
    size_t mask = h->cap - 1, i = (size_t)name_hash(s) & mask;
    while (h->slot[i] && strcmp(wname(w, tens, h->slot[i] - 1), s) != 0) i = (i + 1) & mask;
    return &h->slot[i];
}

/* 1 when name s is in h */
static int index_has(const gguf_writer *w, const name_index *h, int tens, const char *s) {
    return h->cap && *index_slot(w, h, tens, s) != 0;
}

/* Adds name n (0-based: the last of n + 1 so far) to h, doubling the
 * table when it would be more than half full */
static al_status index_add(const gguf_writer *w, name_index *h, int tens, size_t n) {
    if (2 * (n + 1) > h->cap) {
        size_t cap = h->cap ? 2 * h->cap : 64;
        if (cap > SIZE_MAX / 2 / sizeof(size_t)) return al_error(AL_ENOMEM, "GGUF writer: too many names");
        name_index g = {al_calloc(cap, sizeof(size_t)), cap};
        if (!g.slot) return AL_ENOMEM;
        for (size_t i = 0; i < n; i++) *index_slot(w, &g, tens, wname(w, tens, i)) = i + 1;
        al_free(h->slot);
        *h = g;
    }
    *index_slot(w, h, tens, wname(w, tens, n)) = n + 1;
    return AL_OK;
}

static al_status werr(gguf_writer *w, al_status s) {
    if (s != AL_OK && w->err == AL_OK) {
        w->err = s;
        snprintf(w->msg, sizeof w->msg, "%s", al_last_error());
    }
    return s;
}

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 1;
    size_t c = *cap ? *cap : 16;
    while (c < need) {
        if (c > SIZE_MAX / 2 / elem) return 0;
        c *= 2;
    }
    void *q = al_malloc(c * elem);
    if (!q) return 0;
    if (*p) memcpy(q, *p, *cap * elem);
    al_free(*p);
    *p = q;
    *cap = c;
    return 1;
}

static al_status put(gguf_writer *w, const void *p, size_t n) {
    if (n > SIZE_MAX - w->kv_n) return al_error(AL_ENOMEM, "GGUF writer: metadata too large");
    void *kv = w->kv;
    if (!grow(&kv, &w->kv_cap, w->kv_n + n, 1)) return AL_ENOMEM;
    w->kv = kv;
    memcpy(w->kv + w->kv_n, p, n);
    w->kv_n += n;
    return AL_OK;
}

static al_status put_le(gguf_writer *w, uint64_t v, unsigned width) {
    unsigned char b[8];
    /* all 8 bytes, then the first `width`: with wr_le(b, v, width) aarch64
     * gcc 12 warns (-Wstringop-overflow) of writes past b it cannot bound */
    wr_le(b, v, 8);
    return put(w, b, width);
}

static al_status put_str(gguf_writer *w, const char *s, size_t n) {
    al_status st = put_le(w, n, 8);
    return st ? st : put(w, s, n);
}

/* Validates and records the key, then writes it and the value type. */
static al_status begin_kv(gguf_writer *w, const char *key, gguf_type t) {
    if (w->err) return w->err;
    if (!key) return werr(w, al_error(AL_EINVAL, "GGUF writer: NULL key"));
    size_t n = strlen(key);
    if (n == 0 || n > GGUF_MAX_KEY)
        return werr(w, al_error(AL_EINVAL, "GGUF writer: key length %zu not in 1..%d", n, GGUF_MAX_KEY));
    if (index_has(w, &w->kidx, 0, key))
        return werr(w, al_error(AL_EINVAL, "GGUF writer: duplicate key '%s'", key));
    void *keys = w->keys;
    if (!grow(&keys, &w->keys_cap, w->nkeys + 1, sizeof(char *))) return werr(w, AL_ENOMEM);
    w->keys = keys;
    char *k = al_strdup(key);
    if (!k) return werr(w, AL_ENOMEM);
    w->keys[w->nkeys++] = k;
    al_status st = index_add(w, &w->kidx, 0, w->nkeys - 1);
    if (!st) st = put_str(w, key, n);
    if (!st) st = put_le(w, (uint64_t)t, 4);
    if (!st) w->nkv++;
    return werr(w, st);
}

static al_status set_scalar(gguf_writer *w, const char *key, gguf_type t, uint64_t bits) {
    al_status st = begin_kv(w, key, t);
    if (!st) st = werr(w, put_le(w, bits, type_size[t]));
    return st;
}

al_status gguf_set_u8(gguf_writer *w, const char *key, uint8_t v) { return set_scalar(w, key, GGUF_T_U8, v); }
al_status gguf_set_i8(gguf_writer *w, const char *key, int8_t v) { return set_scalar(w, key, GGUF_T_I8, (uint8_t)v); }
al_status gguf_set_u16(gguf_writer *w, const char *key, uint16_t v) { return set_scalar(w, key, GGUF_T_U16, v); }
al_status gguf_set_i16(gguf_writer *w, const char *key, int16_t v) {
    return set_scalar(w, key, GGUF_T_I16, (uint16_t)v);
}
al_status gguf_set_u32(gguf_writer *w, const char *key, uint32_t v) { return set_scalar(w, key, GGUF_T_U32, v); }
al_status gguf_set_i32(gguf_writer *w, const char *key, int32_t v) {
    return set_scalar(w, key, GGUF_T_I32, (uint32_t)v);
}
al_status gguf_set_u64(gguf_writer *w, const char *key, uint64_t v) { return set_scalar(w, key, GGUF_T_U64, v); }
al_status gguf_set_i64(gguf_writer *w, const char *key, int64_t v) {
    return set_scalar(w, key, GGUF_T_I64, (uint64_t)v);
}
al_status gguf_set_f32(gguf_writer *w, const char *key, float v) {
    return set_scalar(w, key, GGUF_T_F32, host_bits(&v, 4));
}
al_status gguf_set_f64(gguf_writer *w, const char *key, double v) {
    return set_scalar(w, key, GGUF_T_F64, host_bits(&v, 8));
}
al_status gguf_set_bool(gguf_writer *w, const char *key, int v) { return set_scalar(w, key, GGUF_T_BOOL, v != 0); }

al_status gguf_set_str(gguf_writer *w, const char *key, const char *v) {
    if (!v) return werr(w, al_error(AL_EINVAL, "GGUF writer: NULL string for key '%s'", key ? key : "?"));
    size_t n = strlen(v);
    if (n > GGUF_MAX_STRING) return werr(w, al_error(AL_ERANGE, "GGUF writer: string for '%s' too long", key));
    al_status st = begin_kv(w, key, GGUF_T_STRING);
    if (!st) st = werr(w, put_str(w, v, n));
    return st;
}

al_status gguf_set_arr(gguf_writer *w, const char *key, gguf_type elem, const void *v, size_t n) {
    if ((unsigned)elem >= GGUF_T_COUNT || elem == GGUF_T_STRING || elem == GGUF_T_ARRAY)
        return werr(w, al_error(AL_EINVAL, "GGUF writer: array '%s': element type %d is not numeric", key ? key : "?",
                                (int)elem));
    if (n && !v) return werr(w, al_error(AL_EINVAL, "GGUF writer: array '%s': NULL data", key ? key : "?"));
    al_status st = begin_kv(w, key, GGUF_T_ARRAY);
    if (!st) st = put_le(w, (uint64_t)elem, 4);
    if (!st) st = put_le(w, n, 8);
    unsigned sz = type_size[elem];
    for (size_t i = 0; i < n && !st; i++) {
        uint64_t b = host_bits((const unsigned char *)v + i * sz, sz);
        st = put_le(w, elem == GGUF_T_BOOL ? b != 0 : b, sz);
    }
    return werr(w, st);
}

al_status gguf_set_arr_str(gguf_writer *w, const char *key, const char *const *v, size_t n) {
    if (n && !v) return werr(w, al_error(AL_EINVAL, "GGUF writer: array '%s': NULL data", key ? key : "?"));
    for (size_t i = 0; i < n; i++)
        if (!v[i]) return werr(w, al_error(AL_EINVAL, "GGUF writer: array '%s': NULL string %zu", key ? key : "?", i));
    al_status st = begin_kv(w, key, GGUF_T_ARRAY);
    if (!st) st = put_le(w, GGUF_T_STRING, 4);
    if (!st) st = put_le(w, n, 8);
    for (size_t i = 0; i < n && !st; i++) st = put_str(w, v[i], strlen(v[i]));
    return werr(w, st);
}

al_status gguf_writer_new(uint32_t alignment, gguf_writer **out) {
    if (!out) return al_error(AL_EINVAL, "gguf_writer_new: out is NULL");
    *out = NULL;
    if (alignment == 0) alignment = GGUF_DEFAULT_ALIGNMENT;
    if (!is_pow2(alignment) || alignment > GGUF_MAX_ALIGNMENT)
        return al_error(AL_EINVAL, "GGUF writer: alignment %u is not a power of two up to %u", alignment,
                        GGUF_MAX_ALIGNMENT);
    gguf_writer *w = al_calloc(1, sizeof *w);
    if (!w) return AL_ENOMEM;
    w->alignment = alignment;
    /* The CRCs come first: placeholders, patched by gguf_writer_write. */
    al_status st = set_scalar(w, GGUF_KEY_CRC_HEADER, GGUF_T_U32, 0);
    w->crc_hdr_off = w->kv_n - 4;
    if (!st) st = set_scalar(w, GGUF_KEY_CRC_DATA, GGUF_T_U32, 0);
    w->crc_data_off = w->kv_n - 4;
    if (!st) st = gguf_set_u32(w, GGUF_KEY_ALIGNMENT, alignment);
    if (st) {
        gguf_writer_free(w);
        return st;
    }
    *out = w;
    return AL_OK;
}

void gguf_writer_free(gguf_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->nkeys; i++) al_free(w->keys[i]);
    al_free(w->keys);
    al_free(w->kv);
    al_free(w->t);
    al_free(w->kidx.slot);
    al_free(w->tidx.slot);
    al_free(w);
}

al_status gguf_add_tensor(gguf_writer *w, const char *name, uint32_t ggml_type, int ndim, const uint64_t *ne,
                          const void *data) {
    if (w->err) return w->err;
    if (!name || !ne || !data) return werr(w, al_error(AL_EINVAL, "GGUF writer: add_tensor: NULL argument"));
    size_t len = strlen(name);
    if (len == 0 || len > GGUF_MAX_NAME)
        return werr(w, al_error(AL_EINVAL, "GGUF writer: tensor name '%s' must have 1..%d bytes", name, GGUF_MAX_NAME));
    unsigned blk, bytes, width;
    if (!ggml_info(ggml_type, &blk, &bytes, &width))
        return werr(w, al_error(AL_EUNSUPPORTED, "GGUF writer: tensor '%s': unknown ggml type %u", name, ggml_type));
    if (ndim < 1 || ndim > GGUF_MAX_DIMS)
        return werr(w, al_error(AL_EINVAL, "GGUF writer: tensor '%s': %d dimensions", name, ndim));
    uint64_t nel = 1;
    for (int d = 0; d < ndim; d++) {
        if (ne[d] == 0 || ne[d] > (uint64_t)INT64_MAX / nel)
            return werr(w, al_error(AL_EINVAL, "GGUF writer: tensor '%s': bad dimension %d", name, d));
        nel *= ne[d];
    }
    if (ne[0] % blk)
        return werr(w, al_error(AL_EINVAL, "GGUF writer: tensor '%s': ne[0] must be a multiple of %u", name, blk));
    if (nel / blk > (uint64_t)(SIZE_MAX / 2) / bytes)
        return werr(w, al_error(AL_ERANGE, "GGUF writer: tensor '%s' is too large", name));
    if (index_has(w, &w->tidx, 1, name))
        return werr(w, al_error(AL_EINVAL, "GGUF writer: duplicate tensor '%s'", name));
    void *t = w->t;
    if (!grow(&t, &w->t_cap, w->nt + 1, sizeof(wtensor))) return werr(w, AL_ENOMEM);
    w->t = t;
    wtensor *x = &w->t[w->nt++];
    memset(x, 0, sizeof *x);
    memcpy(x->name, name, len + 1);
    x->type = ggml_type;
    x->ndim = ndim;
    for (int d = 0; d < GGUF_MAX_DIMS; d++) x->ne[d] = d < ndim ? ne[d] : 1;
    x->nbytes = nel / blk * bytes;
    x->width = width;
    x->data = data;
    return werr(w, index_add(w, &w->tidx, 1, w->nt - 1));
}

/* Serializes header + KVs + tensor infos + padding (the CRC values still 0). */
static al_status build_header(gguf_writer *w, unsigned char **out, size_t *out_n) {
    uint64_t off = 0;
    uint64_t hn = 24 + (uint64_t)w->kv_n;
    for (size_t i = 0; i < w->nt; i++) {
        wtensor *t = &w->t[i];
        t->offset = off;
        uint64_t end = off + t->nbytes;
        if (end < off || end + w->alignment < end) return al_error(AL_ERANGE, "GGUF writer: data too large");
        off = end + pad_to(end, w->alignment);
        hn += 8 + strlen(t->name) + 4 + 8 * (uint64_t)t->ndim + 4 + 8;
    }
    hn += pad_to(hn, w->alignment);
    if (hn > SIZE_MAX / 2) return al_error(AL_ERANGE, "GGUF writer: header too large");
    unsigned char *h = al_calloc(1, (size_t)hn);
    if (!h) return AL_ENOMEM;
    size_t o = 0;
    wr_le(h + o, GGUF_MAGIC, 4), o += 4;
    wr_le(h + o, GGUF_VERSION, 4), o += 4;
    wr_le(h + o, w->nt, 8), o += 8;
    wr_le(h + o, w->nkv, 8), o += 8;
    memcpy(h + o, w->kv, w->kv_n), o += w->kv_n;
    for (size_t i = 0; i < w->nt; i++) {
        const wtensor *t = &w->t[i];
        size_t len = strlen(t->name);
        wr_le(h + o, len, 8), o += 8;
        memcpy(h + o, t->name, len), o += len;
        wr_le(h + o, (uint64_t)t->ndim, 4), o += 4;
        for (int d = 0; d < t->ndim; d++) wr_le(h + o, t->ne[d], 8), o += 8;
        wr_le(h + o, t->type, 4), o += 4;
        wr_le(h + o, t->offset, 8), o += 8;
    }
    *out = h;
    *out_n = (size_t)hn;
    return AL_OK;
}

static al_status emit(FILE *f, const void *p, size_t n, uint32_t *crc) {
    *crc = al_crc32(*crc, p, n);
    if (f && n && fwrite(p, 1, n, f) != n) return al_error(AL_EIO, "GGUF writer: write failed: %s", strerror(errno));
    return AL_OK;
}

/* Streams the data section (converted to little-endian, with padding) to f
 * (or only checksums it when f is NULL). */
static al_status data_pass(const gguf_writer *w, FILE *f, uint32_t *crc) {
    enum { CHUNK = 1 << 16 };
    unsigned char *buf = al_malloc(CHUNK);
    if (!buf) return AL_ENOMEM;
    al_status st = AL_OK;
    *crc = 0;
    for (size_t i = 0; i < w->nt && !st; i++) {
        const wtensor *t = &w->t[i];
        const unsigned char *src = t->data;
        uint64_t done = 0;
        while (done < t->nbytes && !st) {
            size_t k = (size_t)AL_MIN((uint64_t)CHUNK, t->nbytes - done);
            for (size_t j = 0; j < k; j += t->width) wr_le(buf + j, host_bits(src + done + j, t->width), t->width);
            st = emit(f, buf, k, crc);
            done += k;
        }
        size_t pad = (size_t)pad_to(t->nbytes, w->alignment);
        if (!st && pad) {
            memset(buf, 0, pad);
            st = emit(f, buf, pad, crc);
        }
    }
    al_free(buf);
    return st;
}

al_status gguf_writer_write(gguf_writer *w, FILE *f) {
    if (!w || !f) return al_error(AL_EINVAL, "gguf_writer_write: NULL argument");
    if (w->err) return al_error(w->err, "%s", w->msg);
    unsigned char *h = NULL;
    size_t hn = 0;
    al_status st = build_header(w, &h, &hn);
    if (st) return st;
    uint32_t dcrc, dcrc2, hcrc = 0;
    st = data_pass(w, NULL, &dcrc);
    if (!st) {
        wr_le(h + 24 + w->crc_data_off, dcrc, 4);
        hcrc = al_crc32(0, h, hn); /* the header CRC field is still zero here */
        wr_le(h + 24 + w->crc_hdr_off, hcrc, 4);
        st = emit(f, h, hn, &hcrc);
    }
    if (!st) st = data_pass(w, f, &dcrc2);
    if (!st && dcrc2 != dcrc) st = al_error(AL_EIO, "GGUF writer: tensor data changed while it was being written");
    al_free(h);
    return st;
}

/* ---- atomic save -------------------------------------------------------------------- */

static void fsync_parent_dir(const char *path) {
    const char *slash = strrchr(path, '/');
    char dir[4096];
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else if ((size_t)(slash - path) < sizeof dir)
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    else
        return;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        al_log(AL_LOG_WARN, "cannot open directory %s to sync it: %s", dir, strerror(errno));
        return;
    }
    /* The rename is done at this point; a failed directory sync only weakens
     * durability across power loss, so it is logged rather than reported. */
    if (fsync(fd) != 0 && errno != EINVAL && errno != EROFS)
        al_log(AL_LOG_WARN, "fsync of directory %s failed: %s", dir, strerror(errno));
    close(fd);
}

void gguf_remove_stale_temps(const char *path) {
    if (!path || !*path) return;
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    char dir[4096];
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else if ((size_t)(slash - path) < sizeof dir)
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    else
        return;
    size_t bl = strlen(base);
    if (bl == 0) return;
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        /* "<base>.tmp.<pid>.<seq>", exactly as gguf_writer_save names them */
        const char *nm = e->d_name;
        if (strncmp(nm, base, bl) != 0 || strncmp(nm + bl, ".tmp.", 5) != 0) continue;
        const char *q = nm + bl + 5;
        long pid = 0;
        while (*q >= '0' && *q <= '9' && pid < 1L << 40) pid = pid * 10 + (*q++ - '0');
        if (pid <= 0 || *q != '.' || !(q[1] >= '0' && q[1] <= '9')) continue;
        for (q++; *q >= '0' && *q <= '9'; q++) {
        }
        if (*q) continue;
        /* a live process (or one we may not signal) may still rename it */
        if ((pid_t)pid == getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        char full[4096 + 256];
        snprintf(full, sizeof full, "%s/%s", dir, nm);
        if (unlink(full) == 0)
            al_log(AL_LOG_INFO, "removed %s, left by process %ld that no longer runs", full, pid);
    }
    closedir(d);
}

al_status gguf_writer_save(gguf_writer *w, const char *path) {
    if (!w || !path) return al_error(AL_EINVAL, "gguf_writer_save: NULL argument");
    if (!*path) return al_error(AL_EINVAL, "cannot save to an empty path");
    if (w->err) return al_error(w->err, "%s", w->msg);
    gguf_remove_stale_temps(path);
    static _Atomic unsigned long seq;
    size_t plen = strlen(path);
    char *tmp = al_malloc(plen + 64);
    if (!tmp) return AL_ENOMEM;
    int fd = -1;
    for (int tries = 0; tries < 16 && fd < 0; tries++) {
        snprintf(tmp, plen + 64, "%s.tmp.%ld.%lu", path, (long)getpid(), seq++);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0 && errno != EEXIST) break;
    }
    if (fd < 0) {
        al_status st = al_error(AL_EIO, "cannot create %s: %s", tmp, strerror(errno));
        al_free(tmp);
        return st;
    }
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        al_status st = al_error(AL_EIO, "cannot open %s: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        al_free(tmp);
        return st;
    }
    al_status st = gguf_writer_write(w, f);
    if (!st && fflush(f) != 0) st = al_error(AL_EIO, "cannot write %s: %s", tmp, strerror(errno));
    if (!st && fsync(fileno(f)) != 0) st = al_error(AL_EIO, "cannot sync %s: %s", tmp, strerror(errno));
    if (fclose(f) != 0 && !st) st = al_error(AL_EIO, "cannot close %s: %s", tmp, strerror(errno));
    if (!st && rename(tmp, path) != 0) st = al_error(AL_EIO, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
    if (st)
        unlink(tmp);
    else
        fsync_parent_dir(path);
    al_free(tmp);
    return st;
}

/* ---- reader ------------------------------------------------------------------------- */

typedef struct rkv {
    gguf_str key;
    uint32_t type;
    uint32_t elem; /* arrays */
    uint64_t n;    /* arrays: element count */
    size_t off;    /* the value (strings: the length field; arrays: the first element) */
} rkv;

typedef struct sidx {
    const char *p;
    size_t n;
    size_t i;
} sidx;

struct gguf_reader {
    const unsigned char *b;
    size_t n;
    void *owned;
    rkv *kv;
    sidx *kv_sorted;
    size_t nkv;
    gguf_tensor *t;
    sidx *t_sorted;
    size_t nt;
    uint32_t alignment;
    size_t data_start;
};

typedef struct cur {
    const unsigned char *b;
    size_t n, o;
} cur;

static al_status need(const cur *c, uint64_t k, const char *what) {
    if (k > c->n - c->o)
        return al_error(AL_EFORMAT, "GGUF: truncated at byte %zu: %s at byte %zu needs %llu bytes", c->n, what, c->o,
                        (unsigned long long)k);
    return AL_OK;
}

static al_status rd(cur *c, unsigned width, uint64_t *v, const char *what) {
    al_status st = need(c, width, what);
    if (st) return st;
    *v = rd_le(c->b + c->o, width);
    c->o += width;
    return AL_OK;
}

static al_status rd_str(cur *c, uint64_t max, gguf_str *s, const char *what) {
    size_t at = c->o;
    uint64_t len;
    al_status st = rd(c, 8, &len, what);
    if (st) return st;
    if (len > max)
        return al_error(AL_EFORMAT, "GGUF: %s at byte %zu has length %llu, more than the limit %llu", what, at,
                        (unsigned long long)len, (unsigned long long)max);
    if ((st = need(c, len, what))) return st;
    s->p = (const char *)c->b + c->o;
    s->n = (size_t)len;
    c->o += (size_t)len;
    return AL_OK;
}

static int cmp_sidx(const void *a, const void *b) {
    const sidx *x = a, *y = b;
    int r = memcmp(x->p, y->p, AL_MIN(x->n, y->n));
    if (r) return r;
    return x->n < y->n ? -1 : x->n > y->n;
}

static long find_sorted(const sidx *s, size_t n, const char *p, size_t len) {
    size_t lo = 0, hi = n;
    sidx key = {p, len, 0};
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int r = cmp_sidx(&s[mid], &key);
        if (r == 0) return (long)s[mid].i;
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static al_status parse_value(cur *c, rkv *kv) {
    char what[96];
    snprintf(what, sizeof what, "value of '%.*s'", (int)AL_MIN(kv->key.n, 48), kv->key.p);
    if (kv->type >= GGUF_T_COUNT)
        return al_error(AL_EFORMAT, "GGUF: key '%.*s' at byte %zu has unknown value type %u", (int)AL_MIN(kv->key.n, 48),
                        kv->key.p, c->o - 4, kv->type);
    kv->off = c->o;
    if (kv->type == GGUF_T_STRING) {
        gguf_str s;
        return rd_str(c, GGUF_MAX_STRING, &s, what);
    }
    if (kv->type != GGUF_T_ARRAY) {
        al_status st = need(c, type_size[kv->type], what);
        if (!st) c->o += type_size[kv->type];
        return st;
    }
    uint64_t elem, n;
    al_status st = rd(c, 4, &elem, what);
    if (!st) st = rd(c, 8, &n, what);
    if (st) return st;
    kv->elem = (uint32_t)elem;
    kv->n = n;
    kv->off = c->o;
    if (elem == GGUF_T_ARRAY) return al_error(AL_EFORMAT, "GGUF: %s: nested arrays are not supported", what);
    if (elem >= GGUF_T_COUNT) return al_error(AL_EFORMAT, "GGUF: %s: unknown array element type %llu", what,
                                              (unsigned long long)elem);
    size_t left = c->n - c->o;
    if (elem == GGUF_T_STRING) {
        if (n > left / 8)
            return al_error(AL_EFORMAT, "GGUF: truncated at byte %zu: %s: %llu strings cannot fit in %zu bytes", c->n,
                            what, (unsigned long long)n, left);
        for (uint64_t i = 0; i < n; i++) {
            gguf_str s;
            if ((st = rd_str(c, GGUF_MAX_STRING, &s, what))) return st;
        }
        return AL_OK;
    }
    if (n > left / type_size[elem])
        return al_error(AL_EFORMAT, "GGUF: truncated at byte %zu: %s: %llu elements of %u bytes cannot fit in %zu bytes",
                        c->n, what, (unsigned long long)n, type_size[elem], left);
    c->o += (size_t)n * type_size[elem];
    return AL_OK;
}

/* Phase 1: everything up to the start of the data section. */
static al_status parse_structure(gguf_reader *r) {
    cur c = {r->b, r->n, 0};
    uint64_t magic, version, nt, nkv;
    al_status st = rd(&c, 4, &magic, "the magic");
    if (st) return st;
    if (magic != GGUF_MAGIC)
        return al_error(AL_EFORMAT, "not a GGUF file: the first bytes are %02x %02x %02x %02x, expected 'GGUF'",
                        r->b[0], r->b[1], r->b[2], r->b[3]);
    if ((st = rd(&c, 4, &version, "the version"))) return st;
    if (version != GGUF_VERSION) {
        if (version == 0x03000000u) return al_error(AL_EFORMAT, "GGUF: big-endian files are not supported");
        return al_error(AL_EFORMAT, "GGUF: version %llu is not supported (this reader reads version 3)",
                        (unsigned long long)version);
    }
    if ((st = rd(&c, 8, &nt, "the tensor count")) || (st = rd(&c, 8, &nkv, "the metadata count"))) return st;
    /* Smallest encodings: a KV is a key of >= 1 byte (9) + type (4) + a
     * 1-byte value; a tensor info is a name of >= 1 byte (9) + ndim (4) +
     * one dimension (8) + type (4) + offset (8). */
    size_t left = c.n - c.o;
    if (nkv > GGUF_MAX_KV || nkv > left / 14)
        return al_error(AL_EFORMAT, "GGUF: truncated at byte %zu or corrupt: %llu metadata entries cannot fit in it",
                        c.n, (unsigned long long)nkv);
    if (nt > GGUF_MAX_TENSORS || nt > left / 33)
        return al_error(AL_EFORMAT, "GGUF: truncated at byte %zu or corrupt: %llu tensors cannot fit in it", c.n,
                        (unsigned long long)nt);
    r->nkv = (size_t)nkv;
    r->nt = (size_t)nt;
    r->kv = al_calloc(r->nkv ? r->nkv : 1, sizeof(rkv));
    r->kv_sorted = al_calloc(r->nkv ? r->nkv : 1, sizeof(sidx));
    r->t = al_calloc(r->nt ? r->nt : 1, sizeof(gguf_tensor));
    r->t_sorted = al_calloc(r->nt ? r->nt : 1, sizeof(sidx));
    if (!r->kv || !r->kv_sorted || !r->t || !r->t_sorted) return AL_ENOMEM;
    for (size_t i = 0; i < r->nkv; i++) {
        rkv *kv = &r->kv[i];
        uint64_t type;
        if ((st = rd_str(&c, GGUF_MAX_KEY, &kv->key, "a metadata key"))) return st;
        if (kv->key.n == 0) return al_error(AL_EFORMAT, "GGUF: empty metadata key at byte %zu", c.o - 8);
        if ((st = rd(&c, 4, &type, "a value type"))) return st;
        kv->type = (uint32_t)type;
        if ((st = parse_value(&c, kv))) return st;
        r->kv_sorted[i] = (sidx){kv->key.p, kv->key.n, i};
    }
    qsort(r->kv_sorted, r->nkv, sizeof(sidx), cmp_sidx);
    for (size_t i = 1; i < r->nkv; i++)
        if (cmp_sidx(&r->kv_sorted[i - 1], &r->kv_sorted[i]) == 0)
            return al_error(AL_EFORMAT, "GGUF: duplicate metadata key '%.*s'", (int)AL_MIN(r->kv_sorted[i].n, 64),
                            r->kv_sorted[i].p);
    r->alignment = GGUF_DEFAULT_ALIGNMENT;
    long ai = gguf_find_kv(r, GGUF_KEY_ALIGNMENT);
    if (ai >= 0) {
        if (r->kv[ai].type != GGUF_T_U32)
            return al_error(AL_EFORMAT, "GGUF: %s has type %s, expected uint32", GGUF_KEY_ALIGNMENT,
                            gguf_type_name((gguf_type)r->kv[ai].type));
        uint32_t a = (uint32_t)rd_le(r->b + r->kv[ai].off, 4);
        if (!is_pow2(a) || a > GGUF_MAX_ALIGNMENT)
            return al_error(AL_EFORMAT, "GGUF: alignment %u is not a power of two up to %u", a, GGUF_MAX_ALIGNMENT);
        r->alignment = a;
    }
    for (size_t i = 0; i < r->nt; i++) {
        gguf_tensor *t = &r->t[i];
        uint64_t ndim, type;
        if ((st = rd_str(&c, GGUF_MAX_NAME, &t->name, "a tensor name"))) return st;
        if ((st = rd(&c, 4, &ndim, "a tensor's dimension count"))) return st;
        if (ndim < 1 || ndim > GGUF_MAX_DIMS)
            return al_error(AL_EFORMAT, "GGUF: tensor '%.*s' has %llu dimensions, expected 1..%d", (int)t->name.n,
                            t->name.p, (unsigned long long)ndim, GGUF_MAX_DIMS);
        t->ndim = (int)ndim;
        for (int d = 0; d < GGUF_MAX_DIMS; d++) t->ne[d] = 1;
        for (int d = 0; d < t->ndim; d++)
            if ((st = rd(&c, 8, &t->ne[d], "a tensor dimension"))) return st;
        if ((st = rd(&c, 4, &type, "a tensor type")) || (st = rd(&c, 8, &t->offset, "a tensor offset"))) return st;
        t->type = (uint32_t)type;
        r->t_sorted[i] = (sidx){t->name.p, t->name.n, i};
    }
    uint64_t pad = pad_to(c.o, r->alignment);
    if (pad > c.n - c.o)
        return al_error(AL_EFORMAT, "GGUF: truncated at byte %zu: the tensor data section would start at byte %llu",
                        c.n, (unsigned long long)(c.o + pad));
    r->data_start = c.o + (size_t)pad;
    return AL_OK;
}

/* Phase 2: the header CRC covers [0, data_start) with its own value bytes
 * taken as zero; the data CRC covers [data_start, end). */
static al_status verify_crc(gguf_reader *r, unsigned flags) {
    long hi = gguf_find_kv(r, GGUF_KEY_CRC_HEADER), di = gguf_find_kv(r, GGUF_KEY_CRC_DATA);
    if (hi < 0 || di < 0) {
        if (flags & GGUF_REQUIRE_CRC)
            return al_error(AL_EFORMAT, "GGUF: the file has no checksum (%s / %s missing)", GGUF_KEY_CRC_HEADER,
                            GGUF_KEY_CRC_DATA);
        return AL_OK;
    }
    if (r->kv[hi].type != GGUF_T_U32 || r->kv[di].type != GGUF_T_U32)
        return al_error(AL_EFORMAT, "GGUF: checksum keys must have type uint32");
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
    /* A fuzzer cannot forge checksums; let it reach the checks behind them. */
    return AL_OK;
#endif
    size_t ho = r->kv[hi].off;
    static const unsigned char zero[4] = {0, 0, 0, 0};
    uint32_t h = al_crc32(0, r->b, ho);
    h = al_crc32(h, zero, 4);
    h = al_crc32(h, r->b + ho + 4, r->data_start - ho - 4);
    uint32_t hs = (uint32_t)rd_le(r->b + ho, 4);
    if (h != hs)
        return al_error(AL_ECHECKSUM,
                        "GGUF: header checksum mismatch (stored 0x%08x, computed 0x%08x over bytes 0..%zu): the file "
                        "is corrupt",
                        hs, h, r->data_start);
    uint32_t d = al_crc32(0, r->b + r->data_start, r->n - r->data_start);
    uint32_t ds = (uint32_t)rd_le(r->b + r->kv[di].off, 4);
    if (d != ds)
        return al_error(AL_ECHECKSUM,
                        "GGUF: tensor data checksum mismatch (stored 0x%08x, computed 0x%08x over bytes %zu..%zu): "
                        "the file is corrupt",
                        ds, d, r->data_start, r->n);
    return AL_OK;
}

typedef struct span {
    uint64_t off, end;
    size_t i;
} span;

static int cmp_span(const void *a, const void *b) {
    const span *x = a, *y = b;
    return x->off < y->off ? -1 : x->off > y->off;
}

/* Before the checksums: every tensor of a known type must lie inside the
 * file, padding included (as ggml writes it), so a cut-off file reports
 * "truncated" rather than a checksum error. Unknown types are left to
 * check_tensors, after the checksums. */
static al_status check_extents(gguf_reader *r) {
    uint64_t dsize = r->n - r->data_start;
    for (size_t i = 0; i < r->nt; i++) {
        gguf_tensor *t = &r->t[i];
        int nn = (int)t->name.n;
        unsigned blk, bytes;
        if (!ggml_info(t->type, &blk, &bytes, NULL)) continue;
        /* Elements are capped at 2^58 (far beyond any file) so that the
         * byte count below cannot overflow; whether the file actually holds
         * them is the extent check's business. */
        uint64_t nel = 1;
        for (int d = 0; d < t->ndim; d++) {
            if (t->ne[d] == 0 || t->ne[d] > ((uint64_t)1 << 58) / nel)
                return al_error(AL_EFORMAT, "GGUF: tensor '%.*s': dimension %d is %llu, %s", nn, t->name.p, d,
                                (unsigned long long)t->ne[d],
                                t->ne[d] ? "the element count overflows" : "tensors cannot be empty");
            nel *= t->ne[d];
        }
        if (t->ne[0] % blk)
            return al_error(AL_EFORMAT, "GGUF: tensor '%.*s': ne[0] = %llu is not a multiple of the block size %u", nn,
                            t->name.p, (unsigned long long)t->ne[0], blk);
        uint64_t nb = nel / blk * bytes; /* < 2^59 */
        if (t->offset % r->alignment)
            return al_error(AL_EFORMAT, "GGUF: tensor '%.*s': offset %llu is not a multiple of the alignment %u", nn,
                            t->name.p, (unsigned long long)t->offset, r->alignment);
        uint64_t padded = nb + pad_to(nb, r->alignment);
        if (t->offset > dsize || padded > dsize - t->offset)
            return al_error(AL_EFORMAT,
                            "GGUF: truncated at byte %zu: tensor '%.*s' (%llu bytes at data offset %llu) needs the "
                            "file to reach byte %llu",
                            r->n, nn, t->name.p, (unsigned long long)nb, (unsigned long long)t->offset,
                            (unsigned long long)r->data_start + t->offset + padded);
        t->nelem = nel;
        t->nbytes = (size_t)nb;
        t->data = r->b + r->data_start + (size_t)t->offset;
    }
    return AL_OK;
}

/* After the checksums: known types, unique names, no overlaps. */
static al_status check_tensors(gguf_reader *r) {
    for (size_t i = 0; i < r->nt; i++)
        if (!ggml_info(r->t[i].type, NULL, NULL, NULL))
            return al_error(AL_EUNSUPPORTED, "GGUF: tensor '%.*s' has ggml type %u, which this build cannot read",
                            (int)r->t[i].name.n, r->t[i].name.p, r->t[i].type);
    qsort(r->t_sorted, r->nt, sizeof(sidx), cmp_sidx);
    for (size_t i = 1; i < r->nt; i++)
        if (cmp_sidx(&r->t_sorted[i - 1], &r->t_sorted[i]) == 0)
            return al_error(AL_EFORMAT, "GGUF: duplicate tensor name '%.*s'", (int)r->t_sorted[i].n, r->t_sorted[i].p);
    if (r->nt > 1) {
        span *s = al_malloc(sizeof(span) * r->nt);
        if (!s) return AL_ENOMEM;
        for (size_t i = 0; i < r->nt; i++) s[i] = (span){r->t[i].offset, r->t[i].offset + r->t[i].nbytes, i};
        qsort(s, r->nt, sizeof(span), cmp_span);
        for (size_t i = 1; i < r->nt; i++)
            if (s[i].off < s[i - 1].end) {
                const gguf_tensor *x = &r->t[s[i - 1].i], *y = &r->t[s[i].i];
                al_free(s);
                return al_error(AL_EFORMAT, "GGUF: tensors '%.*s' and '%.*s' overlap", (int)x->name.n, x->name.p,
                                (int)y->name.n, y->name.p);
            }
        al_free(s);
    }
    return AL_OK;
}

al_status gguf_reader_open_mem(const void *buf, size_t n, unsigned flags, gguf_reader **out) {
    if (!out || (!buf && n)) return al_error(AL_EINVAL, "gguf_reader_open_mem: NULL argument");
    *out = NULL;
    gguf_reader *r = al_calloc(1, sizeof *r);
    if (!r) return AL_ENOMEM;
    r->b = buf;
    r->n = n;
    al_status st = parse_structure(r);
    if (!st) st = check_extents(r);
    if (!st) st = verify_crc(r, flags);
    if (!st) st = check_tensors(r);
    if (st) {
        gguf_reader_free(r);
        return st;
    }
    *out = r;
    return AL_OK;
}

al_status gguf_read_file(const char *path, void **buf, size_t *n) {
    if (!path || !buf || !n) return al_error(AL_EINVAL, "gguf_read_file: NULL argument");
    *buf = NULL;
    *n = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return al_error(AL_EIO, "cannot open %s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        al_status st = al_error(AL_EIO, "cannot stat %s: %s", path, strerror(errno));
        close(fd);
        return st;
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return al_error(AL_EIO, "%s is not a regular file", path);
    }
    if (sb.st_size < 0 || (uintmax_t)sb.st_size > SIZE_MAX / 2) {
        close(fd);
        return al_error(AL_EFORMAT, "%s is too large to load", path);
    }
    size_t size = (size_t)sb.st_size;
    unsigned char *b = al_malloc(size ? size : 1);
    if (!b) {
        close(fd);
        return AL_ENOMEM;
    }
    size_t got = 0;
    while (got < size) {
        ssize_t k = read(fd, b + got, AL_MIN(size - got, (size_t)1 << 30));
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            al_status st = k < 0 ? al_error(AL_EIO, "cannot read %s: %s", path, strerror(errno))
                                 : al_error(AL_EIO, "%s shrank while being read", path);
            close(fd);
            al_free(b);
            return st;
        }
        got += (size_t)k;
    }
    close(fd);
    *buf = b;
    *n = size;
    return AL_OK;
}

al_status gguf_reader_open_file(const char *path, unsigned flags, gguf_reader **out) {
    if (!out) return al_error(AL_EINVAL, "gguf_reader_open_file: out is NULL");
    *out = NULL;
    void *b;
    size_t n;
    al_status st = gguf_read_file(path, &b, &n);
    if (st) return st;
    st = gguf_reader_open_mem(b, n, flags, out);
    if (st) {
        al_free(b);
        return st;
    }
    (*out)->owned = b;
    return AL_OK;
}

void gguf_reader_free(gguf_reader *r) {
    if (!r) return;
    al_free(r->kv);
    al_free(r->kv_sorted);
    al_free(r->t);
    al_free(r->t_sorted);
    al_free(r->owned);
    al_free(r);
}

size_t gguf_num_kv(const gguf_reader *r) { return r->nkv; }
gguf_str gguf_kv_key(const gguf_reader *r, size_t i) { return r->kv[i].key; }
gguf_type gguf_kv_type(const gguf_reader *r, size_t i) { return (gguf_type)r->kv[i].type; }

long gguf_find_kv(const gguf_reader *r, const char *key) {
    return find_sorted(r->kv_sorted, r->nkv, key, strlen(key));
}

static al_status lookup(const gguf_reader *r, const char *key, gguf_type t, const rkv **out) {
    long i = gguf_find_kv(r, key);
    if (i < 0) return al_error(AL_EFORMAT, "GGUF: missing key '%s'", key);
    if (r->kv[i].type != (uint32_t)t)
        return al_error(AL_EFORMAT, "GGUF: key '%s' has type %s, expected %s", key,
                        gguf_type_name((gguf_type)r->kv[i].type), gguf_type_name(t));
    *out = &r->kv[i];
    return AL_OK;
}

static al_status get_scalar(const gguf_reader *r, const char *key, gguf_type t, void *v) {
    const rkv *kv = NULL;
    al_status st = lookup(r, key, t, &kv);
    if (st) return st;
    uint64_t bits = rd_le(r->b + kv->off, type_size[t]);
    if (t == GGUF_T_BOOL && bits > 1)
        return al_error(AL_EFORMAT, "GGUF: key '%s' is a bool with value %u", key, (unsigned)bits);
    put_host_bits(v, bits, type_size[t]);
    return AL_OK;
}

al_status gguf_get_u8(const gguf_reader *r, const char *key, uint8_t *v) { return get_scalar(r, key, GGUF_T_U8, v); }
al_status gguf_get_i8(const gguf_reader *r, const char *key, int8_t *v) { return get_scalar(r, key, GGUF_T_I8, v); }
al_status gguf_get_u16(const gguf_reader *r, const char *key, uint16_t *v) { return get_scalar(r, key, GGUF_T_U16, v); }
al_status gguf_get_i16(const gguf_reader *r, const char *key, int16_t *v) { return get_scalar(r, key, GGUF_T_I16, v); }
al_status gguf_get_u32(const gguf_reader *r, const char *key, uint32_t *v) { return get_scalar(r, key, GGUF_T_U32, v); }
al_status gguf_get_i32(const gguf_reader *r, const char *key, int32_t *v) { return get_scalar(r, key, GGUF_T_I32, v); }
al_status gguf_get_u64(const gguf_reader *r, const char *key, uint64_t *v) { return get_scalar(r, key, GGUF_T_U64, v); }
al_status gguf_get_i64(const gguf_reader *r, const char *key, int64_t *v) { return get_scalar(r, key, GGUF_T_I64, v); }
al_status gguf_get_f32(const gguf_reader *r, const char *key, float *v) { return get_scalar(r, key, GGUF_T_F32, v); }
al_status gguf_get_f64(const gguf_reader *r, const char *key, double *v) { return get_scalar(r, key, GGUF_T_F64, v); }

al_status gguf_get_bool(const gguf_reader *r, const char *key, int *v) {
    uint8_t b = 0;
    al_status st = get_scalar(r, key, GGUF_T_BOOL, &b);
    if (!st) *v = b;
    return st;
}

static gguf_str str_at(const gguf_reader *r, size_t off) {
    gguf_str s = {(const char *)r->b + off + 8, (size_t)rd_le(r->b + off, 8)};
    return s;
}

al_status gguf_get_str(const gguf_reader *r, const char *key, gguf_str *v) {
    const rkv *kv = NULL;
    al_status st = lookup(r, key, GGUF_T_STRING, &kv);
    if (!st) *v = str_at(r, kv->off);
    return st;
}

al_status gguf_kv_str(const gguf_reader *r, size_t i, gguf_str *v) {
    if (i >= r->nkv || r->kv[i].type != GGUF_T_STRING)
        return al_error(AL_EFORMAT, "GGUF: metadata entry %zu is not a string", i);
    *v = str_at(r, r->kv[i].off);
    return AL_OK;
}

al_status gguf_get_arr_info(const gguf_reader *r, const char *key, gguf_type *elem, uint64_t *n) {
    const rkv *kv = NULL;
    al_status st = lookup(r, key, GGUF_T_ARRAY, &kv);
    if (st) return st;
    *elem = (gguf_type)kv->elem;
    *n = kv->n;
    return AL_OK;
}

al_status gguf_get_arr(const gguf_reader *r, const char *key, gguf_type elem, void *dst, size_t cap, size_t *n) {
    const rkv *kv = NULL;
    al_status st = lookup(r, key, GGUF_T_ARRAY, &kv);
    if (st) return st;
    if (kv->elem != (uint32_t)elem || elem == GGUF_T_STRING)
        return al_error(AL_EFORMAT, "GGUF: array '%s' holds %s, expected %s", key, gguf_type_name((gguf_type)kv->elem),
                        gguf_type_name(elem));
    if (kv->n > cap)
        return al_error(AL_ERANGE, "GGUF: array '%s' has %llu elements, at most %zu expected", key,
                        (unsigned long long)kv->n, cap);
    unsigned sz = type_size[elem];
    for (size_t i = 0; i < (size_t)kv->n; i++) {
        uint64_t bits = rd_le(r->b + kv->off + i * sz, sz);
        if (elem == GGUF_T_BOOL && bits > 1)
            return al_error(AL_EFORMAT, "GGUF: array '%s' element %zu is a bool with value %u", key, i, (unsigned)bits);
        put_host_bits((unsigned char *)dst + i * sz, bits, sz);
    }
    *n = (size_t)kv->n;
    return AL_OK;
}

al_status gguf_get_arr_str(const gguf_reader *r, const char *key, size_t j, gguf_str *v) {
    const rkv *kv = NULL;
    al_status st = lookup(r, key, GGUF_T_ARRAY, &kv);
    if (st) return st;
    if (kv->elem != GGUF_T_STRING)
        return al_error(AL_EFORMAT, "GGUF: array '%s' holds %s, expected string", key,
                        gguf_type_name((gguf_type)kv->elem));
    if (j >= kv->n) return al_error(AL_ERANGE, "GGUF: array '%s' has no element %zu", key, j);
    size_t off = kv->off; /* lengths were validated by the parse */
    for (size_t i = 0; i < j; i++) off += 8 + (size_t)rd_le(r->b + off, 8);
    *v = str_at(r, off);
    return AL_OK;
}

size_t gguf_num_tensors(const gguf_reader *r) { return r->nt; }

const gguf_tensor *gguf_tensor_at(const gguf_reader *r, size_t i) { return i < r->nt ? &r->t[i] : NULL; }

const gguf_tensor *gguf_find_tensor(const gguf_reader *r, const char *name) {
    long i = find_sorted(r->t_sorted, r->nt, name, strlen(name));
    return i < 0 ? NULL : &r->t[i];
}

al_status gguf_tensor_read_f32(const gguf_tensor *t, float *dst, size_t n) {
    if (t->type != GGML_T_F32)
        return al_error(AL_EFORMAT, "GGUF: tensor '%.*s' has type %s, expected F32", (int)t->name.n, t->name.p,
                        gguf_ggml_type_name(t->type));
    if (t->nelem != n)
        return al_error(AL_EFORMAT, "GGUF: tensor '%.*s' has %llu elements, expected %zu", (int)t->name.n, t->name.p,
                        (unsigned long long)t->nelem, n);
    for (size_t i = 0; i < n; i++) {
        uint32_t bits = (uint32_t)rd_le(t->data + 4 * i, 4);
        memcpy(&dst[i], &bits, 4);
    }
    return AL_OK;
}
