/* Writes the seed corpora of the fuzz targets into tests/fuzz/corpus/ (they
 * are committed; run this only to regenerate them):
 *   fuzz_gguf/  small saved models covering every layer type (int8 weights and
 *               static activation scales among them)
 *   fuzz_idx/   IDX label+image pairs in fuzz_idx's one-input layout
 *   fuzz_spec/  spec strings (one file each)
 *   fuzz_checkpoint/  checkpoints of fuzz_ckpt_setup's trainer: mid-epoch,
 *               at an epoch's end, after a completed run
 * (fuzz_text's seeds are written by hand: tests/fuzz/corpus/fuzz_text/)
 * Built by CMake with -DAL_FUZZ=ON:  build-fuzz/gen_corpus tests/fuzz/corpus */
#include "fuzz_common.h"
#include "cloud/compile/quant.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

static const char *const specs[] = {
    "input 4; dense 3",
    "input 1x6x6; conv 2 k=3 p=1; batchnorm; relu; maxpool k=2; flatten; dense 3",
    "input 2x5x5; dwconv k=3 p=1 bias=0; relu6; avgpool k=2 s=1; gap; dense 2",
    "tokens 3; embedding 4 vocab=7; lstm 5; dense 7",
    "input 6; dense 6; tanh; add -1; dropout 0.3; dense 6; sigmoid; add 1; dense 2 bias=0",
    "input 3x4; dense 5; relu; lstm 2; flatten; dense 2",
    "input 1x8x8; conv 3 k=2 s=2; batchnorm eps=0.001 momentum=0.2; maxpool 2 p=1; flatten; dense 4",
    "input 2x5x5; conv 4 k=3 p=1; hardswish; gap; dense 2; relu; dense 4; hardsigmoid; mul 1; mul from=0; flatten; dense 2",
    "input 3x4x5; silu; gelu approximate=tanh; clip min=-1 max=2; scale 0.5 shift=0.1; softmax axis=1; layernorm; "
    "reducemean axes=0,-1 keepdims=1; squeeze axes=2; unsqueeze axes=0; reshape shape=2,-1; transpose perm=1,0; "
    "identity; slice axis=-1 start=1 step=2; dense 2",
    "input 2x3x4; dense 4; sub -1; div 0; mul -1 bcast=1; reducemean axes=0; add 3; concat -1 axis=0; "
    "t: transpose perm=0,2,1; matmul t in=6; reducesum axes=1",
    /* nodes with n inputs: concat and sum over the input and a repeated operand */
    "input 2x3x4; a: conv 2 k=1; b: tanh in=input; c: concat a,input,b,a axis=0 in=b; d: conv 2 k=1; "
    "s: sum a,d,input in=b; concat in=s,d,input,d axis=-1; flatten; dense 2",
    /* a node of several outputs: a split read by port (primary input, operand list, second operand) */
    "input 2x6x5; a: conv 4 k=1; s: split axis=0 sizes=1,2,1; t: tanh in=s@1; u: concat s,s@2 axis=0 in=t; "
    "m: mul s@0 bcast=1; sum u in=m; flatten; dense 2",
    /* an lstm's and a gru's final states as ports */
    "input 4x3; l: lstm 3 outputs=3; a: add l@2 in=l@1; r: gru 2 outputs=2 in=l; h: dense 3 in=r@1; sum a; dense 2",
    /* dilations, a pad layer, max and min (issue 14) */
    "input 3x9x8; a: conv 4 k=3 s=2 p=2 dil=2; b: dwconv k=3 p=2 dil=2; c: gconv 4 g=2 k=3 p=3 "
    "dil=3; pad pads=1,0,2,3 in=a; conv 4 k=4; max c; min b; flatten; dense 2",
};

static void die(const char *what) {
    fprintf(stderr, "gen_corpus: %s: %s (%s)\n", what, strerror(errno), al_last_error());
    exit(1);
}

static void put(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) die(path);
}

static void mk(const char *d) {
    if (mkdir(d, 0755) != 0 && errno != EEXIST) die(d);
}

static size_t be32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
    return 4;
}

/* An IDX pair of n images HxW in fuzz_idx's layout: LE length of the labels
 * file, the labels file, the images file (either gzipped on request). */
static void idx_pair(const char *path, int n, int h, int w, int gz_labels, int gz_images) {
    unsigned char lab[64], img[2048];
    size_t ln = be32(lab, 0x801) + be32(lab + 4, (uint32_t)n);
    for (int i = 0; i < n; i++) lab[ln++] = (unsigned char)(i * 3 % 10);
    size_t in = be32(img, 0x803) + be32(img + 4, (uint32_t)n) + be32(img + 8, (uint32_t)h) + be32(img + 12, (uint32_t)w);
    for (int i = 0; i < n * h * w; i++) img[in++] = (unsigned char)(i * 37);
    unsigned char lz[256], iz[4096];
    uLongf lzn = sizeof lz, izn = sizeof iz;
    const unsigned char *lp = lab, *ip = img;
    if (gz_labels || gz_images) {
        /* gzip framing: deflateInit2 with windowBits 16+15 */
        for (int k = 0; k < 2; k++) {
            if (!(k ? gz_images : gz_labels)) continue;
            z_stream z;
            memset(&z, 0, sizeof z);
            if (deflateInit2(&z, 9, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY) != Z_OK) die("deflateInit2");
            z.next_in = (unsigned char *)(k ? img : lab);
            z.avail_in = (uInt)(k ? in : ln);
            z.next_out = k ? iz : lz;
            z.avail_out = (uInt)(k ? sizeof iz : sizeof lz);
            if (deflate(&z, Z_FINISH) != Z_STREAM_END) die("deflate");
            if (k)
                izn = z.total_out, ip = iz, in = izn;
            else
                lzn = z.total_out, lp = lz, ln = lzn;
            deflateEnd(&z);
        }
    }
    unsigned char out[8192];
    size_t o = 0;
    out[o++] = (unsigned char)ln;
    out[o++] = (unsigned char)(ln >> 8);
    out[o++] = 0;
    out[o++] = 0;
    memcpy(out + o, lp, ln);
    o += ln;
    memcpy(out + o, ip, in);
    o += in;
    put(path, out, o);
}

/* Writes model m as the fuzz_gguf seed `name` under dir, and frees it. */
static void save_seed(al_model *m, const char *dir, const char *name) {
    char p[4096];
    snprintf(p, sizeof p, "%s/fuzz_gguf/%s", dir, name);
    if (al_model_save(m, p) != AL_OK) die(p);
    al_model_free(m);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: gen_corpus DIR\n");
        return 2;
    }
    char p[4096];
    mk(argv[1]);
    snprintf(p, sizeof p, "%s/fuzz_gguf", argv[1]);
    mk(p);
    snprintf(p, sizeof p, "%s/fuzz_spec", argv[1]);
    mk(p);
    snprintf(p, sizeof p, "%s/fuzz_idx", argv[1]);
    mk(p);
    int ns = (int)(sizeof specs / sizeof specs[0]);
    for (int i = 0; i < ns; i++) {
        al_model *m;
        if (al_model_from_spec(specs[i], (uint64_t)i + 1, &m) != AL_OK) die(specs[i]);
        /* a freeze point and free-form metadata in some of them */
        if (i % 2 == 1 && al_model_freeze(m, 1) != AL_OK) die("freeze");
        if (i % 3 == 0 && al_model_set_meta(m, "autlearn.freeze", "1") != AL_OK) die("meta");
        snprintf(p, sizeof p, "%s/fuzz_gguf/model%d.gguf", argv[1], i);
        if (al_model_save(m, p) != AL_OK) die(p);
        al_model_free(m);
        snprintf(p, sizeof p, "%s/fuzz_spec/spec%d.txt", argv[1], i);
        put(p, specs[i], strlen(specs[i]));
    }
    {
        /* int8 frozen part: an I8 conv weight (K = 36) and an I8 dense weight
         * (K = 108), each with its F32 scale tensor */
        al_model *m;
        if (al_model_from_spec("input 4x6x6; conv 3 k=3 p=1; relu; flatten; dense 5; dense 3", 9, &m) != AL_OK ||
            al_model_freeze(m, 4) != AL_OK || al_quantize_frozen(m, NULL) != AL_OK)
            die("quantize");
        save_seed(m, argv[1], "model_int8.gguf");
    }
    {
        /* an I8 dwconv weight (C = 4, k = 3) with its F32 scale tensor */
        al_model *m;
        if (al_model_from_spec("input 4x6x6; dwconv k=3 p=1 act=relu6; flatten; dense 3", 9, &m) != AL_OK ||
            al_model_freeze(m, 1) != AL_OK || al_quantize_frozen_dw(m, NULL) != AL_OK)
            die("quantize dwconv");
        save_seed(m, argv[1], "model_int8dw.gguf");
    }
    {
        /* static input scales (autlearn.layer.N.in_scale, version 6): an
         * int8 chain conv -> dwconv -> conv and a dense, calibrated */
        al_model *m;
        float xc[4 * 4 * 6 * 6];
        for (int i = 0; i < 4 * 4 * 6 * 6; i++) xc[i] = (float)((i * 37) % 23) / 11.0f - 1.0f;
        if (al_model_from_spec("input 4x6x6; conv 32 k=3 p=1 act=relu; dwconv k=3 p=1 act=relu6; conv 8 k=1; "
                               "flatten; dense 5 act=relu; dense 3",
                               9, &m) != AL_OK ||
            al_model_freeze(m, 5) != AL_OK || al_quantize_frozen_dw(m, NULL) != AL_OK ||
            al_quantize_calibrate_x(m, NULL, xc, 4, 99.0, NULL) != AL_OK)
            die("calibrate");
        save_seed(m, argv[1], "model_int8chain.gguf");
    }
    {
        /* a static add scale (autlearn.layer.N.add_scale, version 7): the
         * int8 residual add of node 0's and node 2's outputs, calibrated */
        al_model *m;
        float xc[4 * 4 * 6 * 6];
        for (int i = 0; i < 4 * 4 * 6 * 6; i++) xc[i] = (float)((i * 29) % 19) / 9.0f - 1.0f;
        int n = 0;
        if (al_model_from_spec("input 4x6x6; conv 32 k=3 p=1 act=relu; dwconv k=3 p=1 act=relu6; conv 32 k=1; add 0; "
                               "conv 8 k=1; flatten; dense 3",
                               9, &m) != AL_OK ||
            al_model_freeze(m, 6) != AL_OK || al_quantize_frozen_dw(m, NULL) != AL_OK ||
            al_quantize_calibrate_x(m, NULL, xc, 4, 99.0, &n) != AL_OK || m->nodes[3].add_scale <= 0.0f)
            die("calibrate the add");
        save_seed(m, argv[1], "model_int8add.gguf");
    }
    static const char *const more[] = {"refcnn", "reflm", "mlp",
                                       "input 1x28x28\nconv 32 k=3 p=1\nrelu\nmaxpool k=2\nflatten\ndense 10\n"};
    for (size_t i = 0; i < sizeof more / sizeof more[0]; i++) {
        snprintf(p, sizeof p, "%s/fuzz_spec/more%zu.txt", argv[1], i);
        put(p, more[i], strlen(more[i]));
    }
    snprintf(p, sizeof p, "%s/fuzz_idx/plain_3x4x4", argv[1]);
    idx_pair(p, 3, 4, 4, 0, 0);
    snprintf(p, sizeof p, "%s/fuzz_idx/plain_1x1x1", argv[1]);
    idx_pair(p, 1, 1, 1, 0, 0);
    snprintf(p, sizeof p, "%s/fuzz_idx/plain_10x2x3", argv[1]);
    idx_pair(p, 10, 2, 3, 0, 0);
    snprintf(p, sizeof p, "%s/fuzz_idx/gz_images_5x6x6", argv[1]);
    idx_pair(p, 5, 6, 6, 0, 1);
    snprintf(p, sizeof p, "%s/fuzz_idx/gz_both_4x5x5", argv[1]);
    idx_pair(p, 4, 5, 5, 1, 1);
    /* checkpoints at three points of fuzz_ckpt_setup's run */
    snprintf(p, sizeof p, "%s/fuzz_checkpoint", argv[1]);
    mk(p);
    al_model *m;
    al_dataset *d;
    al_trainer *t;
    if (fuzz_ckpt_setup(&m, &d, &t) != AL_OK) die("checkpoint setup");
    static const long long slices[] = {2, 3, 100};
    for (int i = 0; i < 3; i++) {
        int done;
        al_train_report r;
        if (al_trainer_run_slice(t, d, d, slices[i], 0, &done, &r) != AL_OK) die("slice");
        snprintf(p, sizeof p, "%s/fuzz_checkpoint/ckpt%d", argv[1], i);
        if (al_trainer_checkpoint(t, p) != AL_OK) die(p);
    }
    al_trainer_free(t);
    al_dataset_free(d);
    al_model_free(m);
    return 0;
}
