/* Image decoding (JPEG through libjpeg-turbo, PNG through libpng), EXIF
 * orientation, and preprocessing into a model's input (docs/DATA.md).
 *
 * Both decoders report errors through callbacks that longjmp back here,
 * never exit or print. The pixel count is checked from the header before any
 * pixel buffer exists (AL_IMAGE_MAX_PIXELS), so a small file claiming a huge
 * image costs nothing. Without the libraries (AL_HAVE_IMAGES undefined) every
 * decoding call returns AL_EUNSUPPORTED; preprocessing still works. */
#include "data/data.h"

#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef AL_HAVE_IMAGES
#include <jpeglib.h>
#include <jerror.h>
#include <png.h>
#endif

/* Fuzzing: a lower cap keeps each input fast and its memory small. */
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
#define PIXEL_CAP (1L << 22)
#else
#define PIXEL_CAP AL_IMAGE_MAX_PIXELS
#endif
/* An image file larger than this is refused before it is read. */
#define FILE_CAP ((long long)256 << 20)

int al_images_supported(void) {
#ifdef AL_HAVE_IMAGES
    return 1;
#else
    return 0;
#endif
}

void al_image_free(al_image *img) {
    if (!img) return;
    al_free(img->pixels);
    memset(img, 0, sizeof *img);
}

static al_status check_dims(long w, long h, const char *what) {
    if (w <= 0 || h <= 0) return al_error(AL_EFORMAT, "%s: image of %ldx%ld pixels", what, w, h);
    if (w > AL_IMAGE_MAX_SIDE || h > AL_IMAGE_MAX_SIDE || (long long)w * h > PIXEL_CAP)
        return al_error(AL_ERANGE, "%s: image of %ldx%ld pixels is over the limit (%ld pixels, sides up to %d)", what,
                        w, h, (long)PIXEL_CAP, AL_IMAGE_MAX_SIDE);
    return AL_OK;
}

/* ---- EXIF orientation ------------------------------------------------------------ */

static unsigned rd16(const uint8_t *p, int be) { return be ? (unsigned)p[0] << 8 | p[1] : (unsigned)p[1] << 8 | p[0]; }
static uint32_t rd32(const uint8_t *p, int be) {
    return be ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]
              : (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

/* The orientation tag (0x0112) of IFD0 in an APP1 payload ("Exif\0\0" and a
 * TIFF header); 1 when absent, malformed or out of 1..8. Every offset is
 * checked against len. */
int al_exif_orientation(const uint8_t *p, size_t len) {
    if (len < 14 || memcmp(p, "Exif\0\0", 6) != 0) return 1;
    const uint8_t *t = p + 6;
    size_t n = len - 6;
    int be;
    if (t[0] == 'I' && t[1] == 'I')
        be = 0;
    else if (t[0] == 'M' && t[1] == 'M')
        be = 1;
    else
        return 1;
    if (rd16(t + 2, be) != 42) return 1;
    uint32_t ifd = rd32(t + 4, be);
    if (ifd < 8 || ifd > n - 2) return 1;
    unsigned count = rd16(t + ifd, be);
    size_t e = (size_t)ifd + 2;
    for (unsigned i = 0; i < count; i++, e += 12) {
        if (e + 12 > n) return 1;
        if (rd16(t + e, be) != 0x0112) continue;
        unsigned type = rd16(t + e + 2, be);
        uint32_t cnt = rd32(t + e + 4, be);
        if (type != 3 || cnt < 1) return 1; /* SHORT, inline in the value field */
        unsigned v = rd16(t + e + 8, be);
        return v >= 1 && v <= 8 ? (int)v : 1;
    }
    return 1;
}

/* Applies an EXIF orientation (2..8) to img, replacing its pixels. Display
 * pixel (x, y) comes from source (sx, sy); 5..8 swap the sides. */
static al_status apply_orientation(al_image *img, int o) {
    if (o <= 1 || o > 8) return AL_OK;
    int W = img->width, H = img->height, C = img->channels;
    int swap = o >= 5;
    int dw = swap ? H : W, dh = swap ? W : H;
    uint8_t *dst = al_malloc((size_t)W * H * C);
    if (!dst) return AL_ENOMEM;
    for (int y = 0; y < dh; y++)
        for (int x = 0; x < dw; x++) {
            int sx, sy;
            switch (o) {
            case 2: sx = W - 1 - x; sy = y; break;
            case 3: sx = W - 1 - x; sy = H - 1 - y; break;
            case 4: sx = x; sy = H - 1 - y; break;
            case 5: sx = y; sy = x; break;
            case 6: sx = y; sy = H - 1 - x; break;
            case 7: sx = W - 1 - y; sy = H - 1 - x; break;
            default: sx = W - 1 - y; sy = x; break; /* 8 */
            }
            memcpy(dst + ((size_t)y * dw + x) * C, img->pixels + ((size_t)sy * W + sx) * C, (size_t)C);
        }
    al_free(img->pixels);
    img->pixels = dst;
    img->width = dw;
    img->height = dh;
    return AL_OK;
}

#ifdef AL_HAVE_IMAGES

/* ---- JPEG ----------------------------------------------------------------------- */

/* A progressive JPEG is decoded scan by scan, and every scan is a pass over
 * all blocks of the image, however few bytes it takes: 20000 empty scans of
 * an 8192x8192 image (a 2 MB file) took 197 s to decode. Encoders write a
 * few dozen scans at most (libjpeg's progression: 10); past this many the
 * file is refused, as djpeg -maxscans does. */
#define JPEG_MAX_SCANS 500

typedef struct jerr {
    struct jpeg_error_mgr pub;
    jmp_buf jb;
    int truncated;
    int too_many_scans;
    char msg[JMSG_LENGTH_MAX];
} jerr;

static void j_error_exit(j_common_ptr c) {
    jerr *e = (jerr *)c->err;
    c->err->format_message(c, e->msg);
    longjmp(e->jb, 1);
}

/* Warnings are tolerated (many cameras write small oddities), except the
 * end of the data before the image is complete: libjpeg would pad with gray. */
static void j_emit(j_common_ptr c, int level) {
    if (level >= 0) return;
    jerr *e = (jerr *)c->err;
    if (c->err->msg_code == JWRN_JPEG_EOF) e->truncated = 1;
    c->err->num_warnings++;
}

static void j_output(j_common_ptr c) { (void)c; }

/* Called by libjpeg as it reads the scans (before each row of blocks). */
static void j_progress(j_common_ptr c) {
    if (!c->is_decompressor || ((j_decompress_ptr)c)->input_scan_number <= JPEG_MAX_SCANS) return;
    jerr *e = (jerr *)c->err;
    e->too_many_scans = 1;
    longjmp(e->jb, 1);
}

static al_status decode_jpeg(const uint8_t *data, size_t len, al_image *out) {
    struct jpeg_decompress_struct ci;
    jerr e;
    uint8_t *volatile px = NULL;
    volatile al_status vst = AL_OK;
    memset(&ci, 0, sizeof ci);
    memset(&e, 0, sizeof e);
    ci.err = jpeg_std_error(&e.pub);
    e.pub.error_exit = j_error_exit;
    e.pub.emit_message = j_emit;
    e.pub.output_message = j_output;
    struct jpeg_progress_mgr prog;
    memset(&prog, 0, sizeof prog);
    prog.progress_monitor = j_progress;
    if (setjmp(e.jb)) {
        jpeg_destroy_decompress(&ci);
        al_free(px);
        if (vst != AL_OK) return vst;
        if (e.too_many_scans)
            return al_error(AL_EFORMAT, "JPEG: more than %d scans (a progressive image is decoded once per scan; "
                                        "encoders write a few dozen)", JPEG_MAX_SCANS);
        return al_error(AL_EFORMAT, "corrupt JPEG: %s", e.msg);
    }
    jpeg_create_decompress(&ci);
    ci.mem->max_memory_to_use = (long)512 << 20;
    ci.progress = &prog;
    jpeg_mem_src(&ci, data, (unsigned long)len);
    jpeg_save_markers(&ci, JPEG_APP0 + 1, 0xFFFF);
    jpeg_read_header(&ci, TRUE);
    al_status st = check_dims((long)ci.image_width, (long)ci.image_height, "JPEG");
    if (st == AL_OK && ci.num_components != 1 && ci.num_components != 3)
        st = al_error(AL_EUNSUPPORTED, "JPEG with %d color components (CMYK?) is not supported", ci.num_components);
    if (st != AL_OK) {
        jpeg_destroy_decompress(&ci);
        return st;
    }
    int orient = 1;
    for (jpeg_saved_marker_ptr m = ci.marker_list; m; m = m->next)
        if (m->marker == JPEG_APP0 + 1 && m->data_length >= 6 && memcmp(m->data, "Exif\0\0", 6) == 0) {
            orient = al_exif_orientation(m->data, m->data_length);
            break;
        }
    ci.out_color_space = ci.num_components == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_start_decompress(&ci);
    int w = (int)ci.output_width, h = (int)ci.output_height, C = ci.output_components;
    px = al_malloc((size_t)w * h * C);
    if (!px) {
        vst = AL_ENOMEM;
        longjmp(e.jb, 1);
    }
    while (ci.output_scanline < ci.output_height) {
        JSAMPROW row = px + (size_t)ci.output_scanline * w * C;
        if (jpeg_read_scanlines(&ci, &row, 1) != 1) break;
        if (e.truncated) break;
    }
    if (e.truncated || ci.output_scanline < ci.output_height) {
        jpeg_destroy_decompress(&ci);
        al_free(px);
        return al_error(AL_EFORMAT, "truncated JPEG: the data ends before the image does");
    }
    jpeg_finish_decompress(&ci);
    jpeg_destroy_decompress(&ci);
    out->width = w;
    out->height = h;
    out->channels = C;
    out->pixels = px;
    st = apply_orientation(out, orient);
    if (st != AL_OK) al_image_free(out);
    return st;
}

/* ---- PNG ------------------------------------------------------------------------ */

typedef struct psrc {
    const uint8_t *p;
    size_t len, pos;
    jmp_buf jb;
    char msg[200];
} psrc;

static void p_read(png_structp png, png_bytep outp, size_t n) {
    psrc *s = png_get_io_ptr(png);
    if (n > s->len - s->pos) png_error(png, "truncated PNG: the data ends before the image does");
    memcpy(outp, s->p + s->pos, n);
    s->pos += n;
}

static void p_error(png_structp png, png_const_charp msg) {
    psrc *s = png_get_error_ptr(png);
    snprintf(s->msg, sizeof s->msg, "%s", msg);
    longjmp(s->jb, 1);
}

static void p_warn(png_structp png, png_const_charp msg) {
    (void)png;
    (void)msg;
}

static al_status decode_png(const uint8_t *data, size_t len, al_image *out) {
    psrc s;
    memset(&s, 0, sizeof s);
    s.p = data;
    s.len = len;
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &s, p_error, p_warn);
    if (!png) return al_error(AL_ENOMEM, "PNG: out of memory");
    png_infop info = png_create_info_struct(png);
    uint8_t *volatile px = NULL;
    png_bytep *volatile rows = NULL;
    volatile al_status vst = AL_OK;
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return al_error(AL_ENOMEM, "PNG: out of memory");
    }
    if (setjmp(s.jb)) {
        png_destroy_read_struct(&png, &info, NULL);
        al_free(px);
        al_free(rows);
        if (vst != AL_OK) return vst;
        return al_error(AL_EFORMAT, "corrupt PNG: %s", s.msg);
    }
    png_set_read_fn(png, &s, p_read);
    png_set_user_limits(png, AL_IMAGE_MAX_SIDE, AL_IMAGE_MAX_SIDE);
    png_set_chunk_malloc_max(png, (png_alloc_size_t)8 << 20);
    png_read_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    al_status st = check_dims((long)w, (long)h, "PNG");
    if (st != AL_OK) {
        vst = st;
        longjmp(s.jb, 1);
    }
    int ct = png_get_color_type(png, info);
    if (ct == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (ct == PNG_COLOR_TYPE_GRAY) png_set_expand_gray_1_2_4_to_8(png);
    if (png_get_bit_depth(png, info) == 16) png_set_scale_16(png);
    /* expanding a palette or gray with tRNS adds alpha too: dropped */
    if ((ct & PNG_COLOR_MASK_ALPHA) || png_get_valid(png, info, PNG_INFO_tRNS)) png_set_strip_alpha(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    int C = png_get_channels(png, info);
    if ((C != 1 && C != 3) || png_get_rowbytes(png, info) != (size_t)w * C) png_error(png, "unexpected pixel layout");
    px = al_malloc((size_t)w * h * C);
    rows = al_malloc(sizeof(png_bytep) * h);
    if (!px || !rows) {
        vst = AL_ENOMEM;
        longjmp(s.jb, 1);
    }
    for (png_uint_32 y = 0; y < h; y++) rows[y] = px + (size_t)y * w * C;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    al_free(rows);
    out->width = (int)w;
    out->height = (int)h;
    out->channels = C;
    out->pixels = px;
    return AL_OK;
}
#endif /* AL_HAVE_IMAGES */

al_status al_image_decode(const void *data, size_t len, al_image *out) {
    if (!out) return al_error(AL_EINVAL, "al_image_decode: out is NULL");
    memset(out, 0, sizeof *out);
    if (!data && len) return al_error(AL_EINVAL, "al_image_decode: NULL data");
#ifdef AL_HAVE_IMAGES
    const uint8_t *p = data;
    if (len >= 3 && p[0] == 0xFF && p[1] == 0xD8 && p[2] == 0xFF) return decode_jpeg(p, len, out);
    if (len >= 8 && memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0) {
        /* the IHDR chunk comes first: its size is checked before libpng
         * reads on (and before any allocation) */
        if (len >= 24 && memcmp(p + 12, "IHDR", 4) == 0) {
            uint32_t w = rd32(p + 16, 1), h = rd32(p + 20, 1);
            if (w > 0 && h > 0 && w < 0x80000000u && h < 0x80000000u) {
                al_status st = check_dims((long)w, (long)h, "PNG");
                if (st != AL_OK) return st;
            }
        }
        return decode_png(p, len, out);
    }
    return al_error(AL_EFORMAT, "not a JPEG or PNG file (unknown signature)");
#else
    return al_error(AL_EUNSUPPORTED, "this build has no image decoders (cmake -DAL_IMAGES=ON)");
#endif
}

al_status al_image_read(const char *path, al_image *out) {
    if (!out || !path) return al_error(AL_EINVAL, "al_image_read: NULL argument");
    memset(out, 0, sizeof *out);
#ifndef AL_HAVE_IMAGES
    return al_error(AL_EUNSUPPORTED, "this build has no image decoders (cmake -DAL_IMAGES=ON)");
#else
    /* non-blocking: a FIFO named like an image must not hang the loader */
    int fd = open(path, O_RDONLY | O_NONBLOCK);
    if (fd < 0) return al_error(AL_EIO, "cannot open %s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return al_error(AL_EIO, "%s is not a regular file", path);
    }
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        close(fd);
        return al_error(AL_EIO, "cannot open %s: %s", path, strerror(errno));
    }
    if ((long long)sb.st_size > FILE_CAP) {
        fclose(f);
        return al_error(AL_ERANGE, "%s: %lld bytes is over the %lld-byte limit of an image file", path,
                        (long long)sb.st_size, FILE_CAP);
    }
    size_t n = (size_t)sb.st_size;
    uint8_t *buf = al_malloc(n ? n : 1);
    if (!buf) {
        fclose(f);
        return AL_ENOMEM;
    }
    size_t got = n ? fread(buf, 1, n, f) : 0;
    int bad = got != n || ferror(f);
    fclose(f);
    if (bad) {
        al_free(buf);
        return al_error(AL_EIO, "cannot read %s", path);
    }
    al_status st = al_image_decode(buf, n, out);
    al_free(buf);
    if (st != AL_OK && st != AL_ENOMEM) {
        char msg[300];
        snprintf(msg, sizeof msg, "%s", al_last_error());
        return al_error(st, "%s: %s", path, msg);
    }
    return st;
#endif
}

/* ---- preprocessing ---------------------------------------------------------------- */

void al_image_prep_default(al_image_prep *p, int channels, int height, int width) {
    if (!p) return;
    memset(p, 0, sizeof *p);
    p->channels = channels;
    p->height = height;
    p->width = width;
    p->resize = AL_RESIZE_STRETCH;
    p->scale = 1.0f / 255.0f;
    for (int c = 0; c < 3; c++) p->std[c] = 1.0f;
}

al_status al_image_prep_check(const al_image_prep *p) {
    if (!p) return al_error(AL_EINVAL, "image preprocessing: NULL");
    if (p->channels != 1 && p->channels != 3)
        return al_error(AL_EINVAL, "image preprocessing: channels must be 1 or 3, got %d", p->channels);
    if (p->height < 1 || p->height > 4096 || p->width < 1 || p->width > 4096)
        return al_error(AL_EINVAL, "image preprocessing: size %dx%d, each side must be in 1..4096", p->height,
                        p->width);
    if (p->resize != AL_RESIZE_STRETCH && p->resize != AL_RESIZE_CROP)
        return al_error(AL_EINVAL, "image preprocessing: unknown resize rule %d", (int)p->resize);
    if (!isfinite(p->scale) || p->scale == 0.0f)
        return al_error(AL_EINVAL, "image preprocessing: scale must be finite and non-zero");
    for (int c = 0; c < p->channels; c++)
        if (!isfinite(p->mean[c]) || !isfinite(p->std[c]) || !(fabsf(p->std[c]) > 1e-12f))
            return al_error(AL_EINVAL, "image preprocessing: channel %d: mean must be finite, std finite and non-zero",
                            c);
    return AL_OK;
}

/* Resampling weights along one axis: output indices [off, off + count) of
 * an axis of n_out samples over n_in inputs. Output i covers input taps
 * [start[i], start[i] + size[i]) with weights w[i*k ..]: the triangle filter
 * max(0, 1 - |d|), widened by the scale when shrinking, centred at
 * (i + 0.5) * n_in / n_out, normalized over the taps inside the image. */
typedef struct axis {
    int *start, *size;
    float *w;
    int k;
} axis;

static void axis_free(axis *a) {
    al_free(a->start);
    al_free(a->size);
    al_free(a->w);
}

static al_status axis_make(int n_in, int n_out, int off, int count, axis *a) {
    memset(a, 0, sizeof *a);
    double scale = (double)n_in / n_out;
    double support = scale >= 1.0 ? scale : 1.0, inv = scale >= 1.0 ? 1.0 / scale : 1.0;
    a->k = (int)ceil(2.0 * support) + 2;
    if (a->k > n_in) a->k = n_in;
    a->start = al_malloc(sizeof(int) * count);
    a->size = al_malloc(sizeof(int) * count);
    a->w = al_malloc(sizeof(float) * count * (size_t)a->k);
    if (!a->start || !a->size || !a->w) {
        axis_free(a);
        return AL_ENOMEM;
    }
    for (int j = 0; j < count; j++) {
        double center = scale * (off + j + 0.5);
        int lo = (int)(center - support + 0.5), hi = (int)(center + support + 0.5);
        if (lo < 0) lo = 0;
        if (hi > n_in) hi = n_in;
        if (hi - lo > a->k) hi = lo + a->k;
        if (hi <= lo) { /* cannot happen for n_in >= 1; keep one tap */
            lo = lo < n_in ? lo : n_in - 1;
            hi = lo + 1;
        }
        double tot = 0.0;
        float *w = a->w + (size_t)j * a->k;
        for (int t = lo; t < hi; t++) {
            double d = fabs((t - center + 0.5) * inv);
            double v = d < 1.0 ? 1.0 - d : 0.0;
            w[t - lo] = (float)v;
            tot += v;
        }
        for (int t = lo; t < hi; t++) w[t - lo] = tot > 0.0 ? (float)(w[t - lo] / tot) : 1.0f / (float)(hi - lo);
        a->start[j] = lo;
        a->size[j] = hi - lo;
    }
    return AL_OK;
}

/* Source row y converted to C planar float rows (row[c * W + x], 0..255). */
static void convert_row(const al_image *im, int y, int C, float *row) {
    int W = im->width, S = im->channels;
    const uint8_t *p = im->pixels + (size_t)y * W * S;
    if (S == C) {
        for (int x = 0; x < W; x++)
            for (int c = 0; c < C; c++) row[(size_t)c * W + x] = p[(size_t)x * S + c];
    } else if (S == 3) { /* to gray */
        for (int x = 0; x < W; x++)
            row[x] = 0.299f * p[3 * (size_t)x] + 0.587f * p[3 * (size_t)x + 1] + 0.114f * p[3 * (size_t)x + 2];
    } else { /* gray to C copies */
        for (int x = 0; x < W; x++)
            for (int c = 0; c < C; c++) row[(size_t)c * W + x] = p[x];
    }
}

al_status al_image_preprocess(const al_image *img, const al_image_prep *p, float *out) {
    if (!img || !out || !img->pixels) return al_error(AL_EINVAL, "al_image_preprocess: NULL argument");
    al_status st = al_image_prep_check(p);
    if (st != AL_OK) return st;
    if (img->channels != 1 && img->channels != 3)
        return al_error(AL_EINVAL, "al_image_preprocess: an image has 1 or 3 channels, got %d", img->channels);
    st = check_dims(img->width, img->height, "al_image_preprocess");
    if (st != AL_OK) return st;
    int W = img->width, H = img->height, C = p->channels, OH = p->height, OW = p->width;
    /* the full resized size; CROP covers OHxOW and keeps the centre */
    int RH = OH, RW = OW, oy = 0, ox = 0;
    if (p->resize == AL_RESIZE_CROP) {
        double s = fmax((double)OH / H, (double)OW / W);
        double rh = floor((double)H * s + 0.5), rw = floor((double)W * s + 0.5);
        RH = rh < OH ? OH : rh > 1e8 ? 100000000 : (int)rh;
        RW = rw < OW ? OW : rw > 1e8 ? 100000000 : (int)rw;
        oy = (RH - OH) / 2;
        ox = (RW - OW) / 2;
    }
    axis ay, ax;
    if ((st = axis_make(H, RH, oy, OH, &ay)) != AL_OK) return st;
    if ((st = axis_make(W, RW, ox, OW, &ax)) != AL_OK) {
        axis_free(&ay);
        return st;
    }
    float *row = al_malloc(sizeof(float) * (size_t)C * W);
    float *acc = al_malloc(sizeof(float) * (size_t)C * W);
    if (!row || !acc) {
        st = AL_ENOMEM;
        goto done;
    }
    /* vertical first, one output row at a time, so memory stays O(width) */
    for (int oyi = 0; oyi < OH; oyi++) {
        memset(acc, 0, sizeof(float) * (size_t)C * W);
        const float *wy = ay.w + (size_t)oyi * ay.k;
        for (int t = 0; t < ay.size[oyi]; t++) {
            convert_row(img, ay.start[oyi] + t, C, row);
            float wt = wy[t];
            for (size_t i = 0; i < (size_t)C * W; i++) acc[i] += wt * row[i];
        }
        for (int c = 0; c < C; c++) {
            const float *a = acc + (size_t)c * W;
            float *o = out + ((size_t)c * OH + oyi) * OW;
            float sc = p->scale / p->std[c], sh = p->mean[c] / p->std[c];
            for (int oxi = 0; oxi < OW; oxi++) {
                const float *wx = ax.w + (size_t)oxi * ax.k;
                const float *src = a + ax.start[oxi];
                float v = 0.0f;
                for (int t = 0; t < ax.size[oxi]; t++) v += wx[t] * src[t];
                o[oxi] = v * sc - sh;
            }
        }
    }
done:
    al_free(row);
    al_free(acc);
    axis_free(&ay);
    axis_free(&ax);
    return st;
}
