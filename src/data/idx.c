/* IDX files (the MNIST family: MNIST, Fashion-MNIST, KMNIST), plain or
 * gzipped; zlib's gzread reads both transparently.
 *
 * Layout, big-endian: magic 0x0000TTDD (TT = 0x08: unsigned bytes, DD = number
 * of dimensions), DD u32 sizes, then the items. Images are 3-D (n, H, W),
 * labels 1-D (n). Every size is bounded and the file must end exactly where
 * its header says: a file that is truncated, padded or lies about its sizes is
 * AL_EFORMAT, never a crash or an over-read.
 *
 * Result: n samples of shape [1, H, W], pixels / 255 in [0, 1]; y_len 1;
 * num_classes = max label + 1 (at most 256 for byte labels). */
#include "data/data.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#define IDX_MAGIC_IMAGES 0x00000803u
#define IDX_MAGIC_LABELS 0x00000801u
#define IDX_MAX_ITEMS (1u << 24)
#define IDX_MAX_SIDE 4096u
#define IDX_CHUNK (1u << 16)

/* Reads up to n bytes; *got < n means the file ended early. Only a read or
 * decompression error is an error here. */
static al_status read_some(gzFile f, const char *path, void *buf, size_t n, size_t *got) {
    size_t done = 0;
    while (done < n) {
        unsigned want = (unsigned)AL_MIN(n - done, (size_t)1 << 30);
        errno = 0;
        int r = gzread(f, (char *)buf + done, want);
        if (r < 0) {
            int zerr;
            const char *msg = gzerror(f, &zerr);
            if (zerr == Z_ERRNO) return al_error(AL_EIO, "%s: read error: %s", path, strerror(errno));
            /* a cut-off gzip stream lands here ("unexpected end of file") */
            return al_error(AL_EFORMAT, "%s: corrupt or truncated gzip data after %zu bytes: %s", path, done, msg);
        }
        if (r == 0) break;
        done += (size_t)r;
    }
    *got = done;
    return AL_OK;
}

static uint32_t be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* An open IDX file after its header. */
typedef struct idx_file {
    gzFile f;
    uint32_t dims[3];
    int direct;        /* not gzip: the file size is known up front */
    long long fsize;   /* bytes on disk */
} idx_file;

/* Opens `path`, reads the magic and `ndim` sizes and checks that the file
 * can hold the data the header announces before anything is allocated: a
 * plain file must have exactly that size; a gzip file cannot expand more
 * than ~1032:1 (deflate's limit), so a tiny file claiming gigabytes fails. */
static al_status open_idx(const char *path, uint32_t magic, int ndim, idx_file *x) {
    memset(x, 0, sizeof *x);
    struct stat sb;
    if (stat(path, &sb) != 0) return al_error(AL_EIO, "%s: cannot open: %s", path, strerror(errno));
    if (!S_ISREG(sb.st_mode)) return al_error(AL_EIO, "%s: not a regular file", path);
    x->fsize = (long long)sb.st_size;
    errno = 0;
    gzFile f = gzopen(path, "rb");
    if (!f)
        return al_error(errno ? AL_EIO : AL_ENOMEM, "%s: cannot open: %s", path,
                        errno ? strerror(errno) : "zlib out of memory");
    unsigned char h[16];
    size_t hn = 4 + 4 * (size_t)ndim, got;
    al_status st = read_some(f, path, h, hn, &got);
    if (st != AL_OK) goto fail;
    if (got < hn) {
        st = al_error(AL_EFORMAT, "%s: truncated: the header needs %zu bytes, the file has %zu", path, hn, got);
        goto fail;
    }
    uint32_t mg = be32(h);
    if (mg != magic) {
        st = al_error(AL_EFORMAT, "%s: bad magic 0x%08x, expected 0x%08x (%s of unsigned bytes)", path, mg, magic,
                      ndim == 1 ? "IDX labels" : "IDX images");
        goto fail;
    }
    uint64_t need = 1;
    for (int i = 0; i < ndim; i++) {
        x->dims[i] = be32(h + 4 + 4 * i);
        uint32_t cap = i == 0 ? IDX_MAX_ITEMS : IDX_MAX_SIDE;
        if (x->dims[i] == 0 || x->dims[i] > cap) {
            st = al_error(AL_EFORMAT, "%s: dimension %d is %u, must be in 1..%u", path, i, x->dims[i], cap);
            goto fail;
        }
        need *= x->dims[i];
    }
    x->direct = gzdirect(f);
    if (x->direct && (uint64_t)x->fsize != hn + need) {
        st = al_error(AL_EFORMAT, "%s: the header announces %llu bytes of data (%llu in all) but the file has %lld%s",
                      path, (unsigned long long)need, (unsigned long long)(hn + need), x->fsize,
                      (uint64_t)x->fsize < hn + need ? " (truncated)" : " (extra bytes)");
        goto fail;
    }
    if (!x->direct && need > (uint64_t)x->fsize * 1100u) {
        st = al_error(AL_EFORMAT, "%s: the header announces %llu bytes, more than a %lld-byte gzip file can hold",
                      path, (unsigned long long)need, x->fsize);
        goto fail;
    }
    x->f = f;
    return AL_OK;
fail:
    gzclose(f);
    return st;
}

/* After the last item the (decompressed) stream must end. */
static al_status expect_eof(gzFile f, const char *path, uint64_t announced) {
    unsigned char c;
    size_t got;
    al_status st = read_some(f, path, &c, 1, &got);
    if (st != AL_OK) return st;
    if (got)
        return al_error(AL_EFORMAT, "%s: extra bytes after the %llu bytes of data the header announces", path,
                        (unsigned long long)announced);
    return AL_OK;
}

al_status al_idx_load(const char *images_path, const char *labels_path, al_dataset **out) {
    if (!out) return al_error(AL_EINVAL, "al_idx_load: out is NULL");
    *out = NULL;
    if (!images_path || !labels_path) return al_error(AL_EINVAL, "al_idx_load: NULL path");
    idx_file L = {0}, I = {0};
    unsigned char *buf = NULL;
    al_dataset *d = NULL;
    al_status st = open_idx(labels_path, IDX_MAGIC_LABELS, 1, &L);
    if (st != AL_OK) return st;
    st = open_idx(images_path, IDX_MAGIC_IMAGES, 3, &I);
    if (st != AL_OK) goto done;
    uint32_t n = L.dims[0], h = I.dims[1], w = I.dims[2];
    if (I.dims[0] != n) {
        st = al_error(AL_EFORMAT, "%s has %u images but %s has %u labels", images_path, I.dims[0], labels_path, n);
        goto done;
    }
    al_shape xs = {3, {1, (int)h, (int)w}};
    /* num_classes is known once the labels are read */
    st = al_dataset_alloc((int)n, &xs, 1, 1, &d);
    if (st != AL_OK) goto done;
    buf = al_malloc(IDX_CHUNK);
    if (!buf) {
        st = AL_ENOMEM;
        goto done;
    }

    int maxl = 0;
    for (size_t i = 0; i < n;) {
        size_t c = AL_MIN((size_t)IDX_CHUNK, (size_t)n - i), got;
        st = read_some(L.f, labels_path, buf, c, &got);
        if (st != AL_OK) goto done;
        if (got < c) {
            st = al_error(AL_EFORMAT, "%s: truncated: %u labels need %u bytes after the header, the file has %zu",
                          labels_path, n, n, i + got);
            goto done;
        }
        for (size_t j = 0; j < c; j++) {
            d->y[i + j] = buf[j];
            if (buf[j] > maxl) maxl = buf[j];
        }
        i += c;
    }
    st = expect_eof(L.f, labels_path, n);
    if (st != AL_OK) goto done;
    d->num_classes = maxl + 1; /* <= 256: labels are bytes */

    size_t total = (size_t)n * h * w;
    for (size_t i = 0; i < total;) {
        size_t c = AL_MIN((size_t)IDX_CHUNK, total - i), got;
        st = read_some(I.f, images_path, buf, c, &got);
        if (st != AL_OK) goto done;
        if (got < c) {
            st = al_error(AL_EFORMAT,
                          "%s: truncated: %u images of %ux%u need %zu bytes after the header, the file has %zu",
                          images_path, n, h, w, total, i + got);
            goto done;
        }
        for (size_t j = 0; j < c; j++) d->x[i + j] = (float)buf[j] * (1.0f / 255.0f);
        i += c;
    }
    st = expect_eof(I.f, images_path, total);
    if (st != AL_OK) goto done;
    *out = d;
    d = NULL;
done:
    al_free(buf);
    al_dataset_free(d);
    if (L.f) gzclose(L.f);
    if (I.f) gzclose(I.f);
    return st;
}

static int file_exists(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* Finds <dir>/<prefix>-<kind>-idx<N>-ubyte[.gz] (or the "<kind>.idx<N>-ubyte"
 * spelling some mirrors use). */
static al_status find_file(const char *dir, const char *prefix, const char *kind, int nd, char *path, size_t cap) {
    static const char *const forms[] = {"%s/%s-%s-idx%d-ubyte", "%s/%s-%s-idx%d-ubyte.gz", "%s/%s-%s.idx%d-ubyte",
                                        "%s/%s-%s.idx%d-ubyte.gz"};
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        int w = snprintf(path, cap, forms[i], dir, prefix, kind, nd);
        if (w < 0 || (size_t)w >= cap) return al_error(AL_EINVAL, "data directory path is too long: %s", dir);
        if (file_exists(path)) return AL_OK;
    }
    return al_error(AL_EIO, "%s: no %s-%s-idx%d-ubyte or %s-%s-idx%d-ubyte.gz", dir, prefix, kind, nd, prefix, kind, nd);
}

al_status al_idx_load_dir(const char *dir, int test_split, al_dataset **out) {
    if (!out) return al_error(AL_EINVAL, "al_idx_load_dir: out is NULL");
    *out = NULL;
    if (!dir) return al_error(AL_EINVAL, "al_idx_load_dir: dir is NULL");
    if (test_split != 0 && test_split != 1)
        return al_error(AL_EINVAL, "al_idx_load_dir: test_split must be 0 (train) or 1 (test), got %d", test_split);
    const char *prefix = test_split ? "t10k" : "train";
    char ip[4096], lp[4096];
    al_status st = find_file(dir, prefix, "images", 3, ip, sizeof ip);
    if (st != AL_OK) return st;
    st = find_file(dir, prefix, "labels", 1, lp, sizeof lp);
    if (st != AL_OK) return st;
    return al_idx_load(ip, lp, out);
}

/* One IDX file: the header (magic, sizes) then the bytes. */
static al_status write_idx(const char *path, uint32_t magic, const uint32_t *dims, int nd, const unsigned char *b,
                           size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return al_error(AL_EIO, "%s: cannot write: %s", path, strerror(errno));
    unsigned char h[16];
    uint32_t v[4] = {magic, 0, 0, 0};
    for (int i = 0; i < nd; i++) v[1 + i] = dims[i];
    for (int i = 0; i <= nd; i++)
        for (int j = 0; j < 4; j++) h[4 * i + j] = (unsigned char)(v[i] >> (24 - 8 * j));
    int ok = fwrite(h, 1, 4 * (size_t)(nd + 1), f) == 4 * (size_t)(nd + 1) && fwrite(b, 1, n, f) == n;
    if (fclose(f) != 0) ok = 0;
    return ok ? AL_OK : al_error(AL_EIO, "%s: write error", path);
}

al_status al_idx_save(const al_dataset *d, const char *images_path, const char *labels_path) {
    if (!d || !images_path || !labels_path) return al_error(AL_EINVAL, "al_idx_save: NULL argument");
    int H = d->xs.ndim == 3 ? d->xs.d[1] : d->xs.ndim == 2 ? d->xs.d[0] : 0;
    int W = d->xs.ndim == 3 ? d->xs.d[2] : d->xs.ndim == 2 ? d->xs.d[1] : 0;
    if ((d->xs.ndim == 3 && d->xs.d[0] != 1) || H < 1 || W < 1 || d->y_len != 1)
        return al_error(AL_EINVAL, "IDX holds one-channel images (1 x H x W) with one label each");
    size_t xn = (size_t)H * (size_t)W, n = (size_t)d->n;
    unsigned char *px = al_malloc(n > 0 ? xn * n : 1), *lb = al_malloc(n > 0 ? n : 1);
    al_status st = AL_OK;
    if (!px || !lb) {
        st = al_error(AL_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < xn * n; i++) {
        float x = d->x[i];
        if (!(x >= 0.0f && x <= 1.0f)) {
            st = al_error(AL_EINVAL, "IDX: sample %zu has a pixel %g outside [0, 1]", i / xn, (double)x);
            goto done;
        }
        px[i] = (unsigned char)(x * 255.0f + 0.5f);
    }
    for (size_t i = 0; i < n; i++) {
        if (d->y[i] < 0 || d->y[i] > 255) {
            st = al_error(AL_EINVAL, "IDX: sample %zu has label %d outside 0..255", i, (int)d->y[i]);
            goto done;
        }
        lb[i] = (unsigned char)d->y[i];
    }
    uint32_t di[3] = {(uint32_t)n, (uint32_t)H, (uint32_t)W}, dl[1] = {(uint32_t)n};
    if ((st = write_idx(images_path, IDX_MAGIC_IMAGES, di, 3, px, xn * n)) == AL_OK)
        st = write_idx(labels_path, IDX_MAGIC_LABELS, dl, 1, lb, n);
done:
    al_free(px);
    al_free(lb);
    return st;
}
