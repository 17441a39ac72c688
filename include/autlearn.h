/* autlearn: on-device training of neural networks (autonomous learning).
 *
 * The device library's one installed header (libautlearn: what a phone runs).
 * The cloud library's header, autlearn_cloud.h, adds the cloud side on top.
 * Conventions:
 *  - every fallible call returns al_status (0 = AL_OK, negative = error) and
 *    sets a per-thread message readable with al_last_error();
 *  - the library never exits and never prints; it logs through al_set_log();
 *  - handles (al_model, al_trainer, al_dataset, al_pool) are opaque; the caller
 *    owns what it creates and frees it with the matching *_free call;
 *  - al_tensor is a read-only view: the library owns its data unless the
 *    caller built the view over its own memory;
 *  - threads: distinct handles may be used from different threads at the
 *    same time, and a job's results do not depend on what other threads
 *    run (tests/test_concurrent.c; `make test-tsan`). One handle is used by
 *    one thread at a time: a model (a prediction plans its buffers in it),
 *    a trainer, a cache, a pool; a dataset is only read once made, so
 *    concurrent jobs may share one. al_set_log and al_set_allocator are
 *    process-wide: set them before other threads call the library.
 */
#ifndef AUTLEARN_H
#define AUTLEARN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define AL_VERSION_MAJOR 0
#define AL_VERSION_MINOR 1
#define AL_VERSION_PATCH 0

#if defined(_WIN32)
#define AL_API
#elif defined(__GNUC__)
#define AL_API __attribute__((visibility("default")))
#else
#define AL_API
#endif

/* ---- status, errors, logging, allocation -------------------------------- */

typedef enum al_status {
    AL_OK = 0,
    AL_EINVAL = -1,      /* bad argument or bad option value */
    AL_ENOMEM = -2,      /* an allocation failed */
    AL_EIO = -3,         /* a file could not be opened, read or written */
    AL_EFORMAT = -4,     /* a file is malformed, truncated or hostile */
    AL_ECHECKSUM = -5,   /* a file's checksum does not match its content */
    AL_ESHAPE = -6,      /* tensor shapes do not fit together */
    AL_EUNSUPPORTED = -7,/* a valid request this build cannot serve */
    AL_ERANGE = -8,      /* a value is out of its allowed range */
    AL_ENUMERIC = -9,    /* NaN or Inf in loss or gradients */
    AL_EBUDGET = -10,    /* a memory budget cannot be met */
    AL_ESTATE = -11,     /* call not valid in the object's current state */
    AL_ECANCELED = -12   /* stopped on request (callback returned non-zero) */
} al_status;

AL_API const char *al_strerror(al_status s);   /* static string, never NULL */
AL_API const char *al_status_name(al_status s);/* "AL_EINVAL" etc. */
AL_API const char *al_last_error(void);        /* this thread's last message */
AL_API const char *al_version(void);

typedef enum al_log_level { AL_LOG_DEBUG = 0, AL_LOG_INFO = 1, AL_LOG_WARN = 2, AL_LOG_ERROR = 3 } al_log_level;
typedef void (*al_log_fn)(void *user, al_log_level level, const char *msg);
/* Installs a process-wide log sink (NULL: discard, the default). It is
 * called on the thread that logs, so jobs on several threads may call it
 * at the same time. */
AL_API void al_set_log(al_log_fn fn, void *user, al_log_level min_level);

/* Replaceable allocator (process-wide; set before creating any object).
 * NULL functions restore the libc defaults. */
typedef struct al_allocator {
    void *(*malloc_fn)(void *user, size_t size);
    void (*free_fn)(void *user, void *ptr);
    void *user;
} al_allocator;
AL_API void al_set_allocator(const al_allocator *a);

/* ---- random numbers ------------------------------------------------------ */

/* PCG32: a seed plus a stream id gives an independent sequence. The struct is
 * public so callers can keep it on the stack; treat the fields as private. */
typedef struct al_rng { uint64_t state, inc; } al_rng;
AL_API void al_rng_seed(al_rng *r, uint64_t seed, uint64_t stream);
AL_API uint32_t al_rng_u32(al_rng *r);
AL_API uint32_t al_rng_below(al_rng *r, uint32_t bound); /* uniform in [0,bound) */
AL_API float al_rng_uniform(al_rng *r);                 /* uniform in [0,1) */
AL_API float al_rng_normal(al_rng *r);                  /* standard normal */

/* ---- threads -------------------------------------------------------------- */

/* A fixed set of worker threads. Work is split statically by (ith, nth), so a
 * result depends only on the thread count, never on timing. */
typedef struct al_pool al_pool;
AL_API al_status al_pool_new(int nthreads, al_pool **out); /* nthreads<=0: AL_THREADS or 1 */
AL_API void al_pool_free(al_pool *p);
AL_API int al_pool_size(const al_pool *p);
/* Thread count from the AL_THREADS environment variable (default 1). */
AL_API int al_threads_default(void);
/* How long (microseconds, 0 to 100000) an idle worker waits for the next task
 * spinning on its core before it sleeps. A training step issues tens to
 * hundreds of tasks a few microseconds apart; a worker that slept pays a
 * wake-up through the kernel at the next one. Default: the AL_SPIN_US
 * environment variable, else 100. Lower it (0: sleep at once) where idle
 * cores burning for that long cost more than the speed: the pool then runs
 * the same parts and gives the same results. A spinning worker yields its
 * core about every microsecond, so a thread with work is not kept waiting.
 * Takes effect at each worker's next wait. AL_EINVAL for NULL, AL_ERANGE
 * outside 0..100000 (the setting then stays as it was). */
AL_API al_status al_pool_set_spin_us(al_pool *p, int us);
AL_API int al_pool_spin_us(const al_pool *p); /* 0 for NULL */

/* ---- tensors ---------------------------------------------------------------- */

#define AL_MAX_DIMS 4
typedef struct al_tensor {
    float *data;                 /* row-major, NCHW for images */
    int ndim;
    int shape[AL_MAX_DIMS];
} al_tensor;
/* The product of the dimensions; 0 for NULL or what is not a shape (ndim
 * outside 1..AL_MAX_DIMS, a negative dimension). */
AL_API size_t al_tensor_numel(const al_tensor *t);

/* ---- models ----------------------------------------------------------------- */

typedef struct al_model al_model;

/* Build a model from a text spec or a built-in name ("refcnn", "reflm"):
 *   "input 1x28x28; conv 32 k=3 p=1; relu; maxpool k=2; flatten; dense 10"
 * The grammar is in docs/SPEC.md. Weights are initialised from `seed`. */
AL_API al_status al_model_from_spec(const char *spec, uint64_t seed, al_model **out);
AL_API void al_model_free(al_model *m);
/* Loads and verifies (CRC32, bounds) a GGUF model file. */
AL_API al_status al_model_load(const char *path, al_model **out);
/* Writes atomically: a temporary file, fsync, rename, fsync of the directory. */
AL_API al_status al_model_save(const al_model *m, const char *path);

/* A deep copy: architecture, weights, freeze point, metadata, and the
 * execution settings (al_model_set_forward_chunk among them). */
AL_API al_status al_model_clone(const al_model *m, al_model **out);
/* Copies the weights of a model of the same architecture. */
AL_API al_status al_model_copy_weights(al_model *dst, const al_model *src);

/* Nodes [0, freeze) are frozen, the rest trainable. */
AL_API al_status al_model_freeze(al_model *m, int freeze);
AL_API int al_model_num_nodes(const al_model *m);
AL_API int al_model_freeze_point(const al_model *m);
AL_API const char *al_model_node_type(const al_model *m, int i);
/* The name of node i's output tensor ("" when it has none; NULL for a bad
 * index): given in the spec as "name: layer ...", or by the ONNX import (the
 * ONNX node's name). Names are unique within a model. */
AL_API const char *al_model_node_name(const al_model *m, int i);
/* The node whose output tensor is named `name`, or -1. Freezing "at" a
 * tensor is al_model_freeze(m, al_model_find_node(m, name) + 1): the node
 * that makes it and everything before it are frozen. */
AL_API int al_model_find_node(const al_model *m, const char *name);
/* Per-sample input and output shapes (no batch dimension). */
AL_API al_tensor al_model_input_shape(const al_model *m);
AL_API al_tensor al_model_output_shape(const al_model *m);
AL_API size_t al_model_num_params(const al_model *m);        /* trainable + frozen weights */
AL_API uint64_t al_model_macs(const al_model *m);            /* forward MACs per sample */
/* The canonical spec string of the architecture (owned by the model). */
AL_API const char *al_model_spec(const al_model *m);
/* Metadata string stored with the model (e.g. "autlearn.scenario"); NULL if absent. */
AL_API const char *al_model_meta(const al_model *m, const char *key);
/* AL_EINVAL for a key a model file cannot hold: empty, over 65,535 bytes, or
 * one of the layout's own (docs/FORMAT.md, "Free-form metadata"). */
AL_API al_status al_model_set_meta(al_model *m, const char *key, const char *value);

/* Inference on n samples: x holds n * prod(input shape) floats (token ids as
 * floats for text models); y receives n * prod(output shape) floats (logits).
 * It plans inference alone: a plan the model has that holds its batch serves
 * as it is; one it makes is made as for the model frozen entirely (no
 * gradients, nothing kept for backward), whatever the freeze point
 * (docs/COMPILE.md, "Inference plans"). al_evaluate plans the same way. */
AL_API al_status al_model_predict(al_model *m, al_pool *pool, const float *x, int n, float *y);
/* Frees the model's planned buffers (activations, their gradients, scratch:
 * what a training step or a prediction planned); the weights stay. The
 * next call that runs the model plans again for what it does. After
 * training, an app that only predicts gets the training plan's memory back
 * this way (al_personalize does it itself when its job ends). The carried
 * recurrent state (al_model_set_carry_state) starts from zeros again. */
AL_API void al_model_release_memory(al_model *m);
/* The frozen forward in chunks of samples (docs/KERNELS.md, "the chunked
 * forward"): nodes that keep nothing for backward run a few samples at a
 * time through the whole frozen part, so activations stay in the caches;
 * the result is the same bit for bit, at any thread count. On several
 * threads each takes its share of the batch through the frozen part alone.
 * samples 0 (the default): a chunk is sized so its widest node's inputs and
 * outputs fill about 2 MB, at most a thread's share (no chunks when the
 * batch has fewer samples than the pool has threads), the share cut in
 * chunks of even size; > 0: that many samples; < 0: never (node by node
 * over the whole batch). */
AL_API void al_model_set_forward_chunk(al_model *m, int samples);

/* ---- data ----------------------------------------------------------------- */

/* A dataset: n samples, each with an input of prod(x shape) floats and a
 * target of prod(y shape) int32 labels (one class, or one per time step). */
typedef struct al_dataset al_dataset;
AL_API void al_dataset_free(al_dataset *d);
AL_API int al_dataset_size(const al_dataset *d);
AL_API al_tensor al_dataset_x_shape(const al_dataset *d);   /* per sample */
AL_API int al_dataset_y_len(const al_dataset *d);           /* labels per sample */
AL_API int al_dataset_num_classes(const al_dataset *d);
/* Views (owned by the dataset). */
AL_API const float *al_dataset_x(const al_dataset *d, int i);
AL_API const int32_t *al_dataset_y(const al_dataset *d, int i);
/* A dataset over copies of caller data. */
AL_API al_status al_dataset_from_arrays(const float *x, const int32_t *y, int n, const al_tensor *x_shape,
                                        int y_len, int num_classes, al_dataset **out);
/* The subset listed by idx (copies). */
AL_API al_status al_dataset_subset(const al_dataset *d, const int *idx, int n, al_dataset **out);
/* IDX files (MNIST family), plain or .gz; pixels scaled to [0,1]. */
AL_API al_status al_idx_load(const char *images_path, const char *labels_path, al_dataset **out);
/* A directory with train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz],
 * t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]. */
AL_API al_status al_idx_load_dir(const char *dir, int test_split, al_dataset **out);
/* Writes one-channel images (1 x H x W, pixels in [0, 1], stored as
 * round(255 x)) and their labels (0..255) as an IDX pair, plain. */
AL_API al_status al_idx_save(const al_dataset *d, const char *images_path, const char *labels_path);

/* ---- images: decoding, preprocessing, image datasets (docs/DATA.md) ---- */

/* JPEG (libjpeg-turbo) and PNG (libpng). Builds without them (cmake
 * -DAL_IMAGES=OFF) return AL_EUNSUPPORTED from every decoding call;
 * al_images_supported() says which. Pixel buffers need no decoder. */
AL_API int al_images_supported(void);

/* A decoded image: 8-bit, channels 1 (gray) or 3 (RGB), rows top to
 * bottom, EXIF orientation already applied. Alpha is dropped (as PIL's
 * convert does); palettes are expanded; 16-bit samples are scaled to 8 bits
 * (rounded). pixels is al_malloc'd: free with al_image_free. */
typedef struct al_image {
    int width, height, channels;
    uint8_t *pixels;               /* height * width * channels, interleaved */
} al_image;
/* Images over AL_IMAGE_MAX_PIXELS (width * height, from the header) are
 * refused (AL_ERANGE) before any pixel is allocated; so are sides over
 * AL_IMAGE_MAX_SIDE. */
#define AL_IMAGE_MAX_PIXELS (64L * 1024 * 1024)
#define AL_IMAGE_MAX_SIDE 65500
/* Decodes a JPEG or PNG (told apart by their signatures, not the name).
 * Truncated or corrupt data: AL_EFORMAT with the decoder's message. */
AL_API al_status al_image_decode(const void *data, size_t len, al_image *out);
AL_API al_status al_image_read(const char *path, al_image *out);
AL_API void al_image_free(al_image *img);

/* How images become a model's input; stored in the model file (keys
 * autlearn.image.*, docs/FORMAT.md). Steps, in order: convert to the
 * model's channels (gray from RGB: 0.299 R + 0.587 G + 0.114 B; RGB from
 * gray: the gray value three times), resize to height x width, then
 * x = (v * scale - mean[c]) / std[c] for each value v in 0..255. */
typedef enum al_resize_rule {
    /* bilinear to height x width, ignoring the aspect ratio (antialiased
     * when shrinking: a triangle filter widened by the scale factor, as
     * PIL's and PyTorch's antialias=True bilinear) */
    AL_RESIZE_STRETCH = 0,
    /* keeps the aspect ratio: bilinear (as above) so that the image covers
     * height x width (sides rounded), then the centered height x width crop */
    AL_RESIZE_CROP = 1
} al_resize_rule;
typedef struct al_image_prep {
    int channels;          /* 1 or 3 */
    int height, width;     /* 1..4096 each */
    al_resize_rule resize;
    float scale;           /* default 1/255 */
    float mean[3], std[3]; /* per channel (only [0] for gray); default 0 and 1 */
} al_image_prep;
/* Defaults: stretch, scale 1/255, mean 0, std 1 (values in [0,1], as IDX). */
AL_API void al_image_prep_default(al_image_prep *p, int channels, int height, int width);
AL_API al_status al_image_prep_check(const al_image_prep *p);
/* One image into channels * height * width floats (CHW) at out. */
AL_API al_status al_image_preprocess(const al_image *img, const al_image_prep *p, float *out);

/* Model metadata: the preprocessing (keys autlearn.image.*) and the class
 * names (autlearn.classes: the names joined by '\n' in output-index order;
 * names are 1..255 bytes without '\n', '\r', '/' or NUL, distinct).
 * al_model_image_prep: AL_ESTATE when the model holds none, AL_EFORMAT
 * when its keys are malformed. */
AL_API al_status al_model_set_image_prep(al_model *m, const al_image_prep *p);
AL_API al_status al_model_image_prep(const al_model *m, al_image_prep *out);
typedef struct al_class_list {
    int n;
    char **names;          /* n names; free the list with al_class_list_free */
} al_class_list;
AL_API al_status al_model_set_classes(al_model *m, const char *const *names, int n);
/* An empty list (n = 0) when the model holds no autlearn.classes. */
AL_API al_status al_model_classes(const al_model *m, al_class_list *out);
AL_API void al_class_list_free(al_class_list *l);

/* What a loader did besides the dataset. Files that cannot be used are
 * skipped, not errors (docs/DATA.md says which case is which); warnings
 * holds one line per skipped file ("path: reason") and per empty class.
 * classes holds the dataset's class names in label order: the caller's
 * known classes first (when given), then the folder's new ones
 * (new_classes of them, sorted by name). Free with al_image_report_free. */
typedef struct al_image_report {
    int skipped;           /* image files not loaded (unreadable, corrupt, too large) */
    int ignored;           /* entries that are not image files (other names, hidden, deeper folders) */
    int empty_classes;     /* class folders without a usable image (their labels stay) */
    int new_classes;
    int n_warnings;
    char **warnings;
    al_class_list classes;
} al_image_report;
AL_API void al_image_report_free(al_image_report *r);

/* An image folder: one subfolder per class, named by the class, holding
 * .jpg/.jpeg/.png files (any case); nothing deeper is read. Without known
 * classes (known == NULL) the classes are the subfolders sorted by name
 * (bytewise) and at least two are needed; with known classes (a model's)
 * a subfolder takes the index of its name, and unknown names become new
 * classes after them (reported). Images are read in name order within a
 * class, classes in label order. rep may be NULL. */
AL_API al_status al_dataset_from_image_folder(const char *dir, const al_image_prep *p, const char *const *known,
                                              int n_known, al_image_report *rep, al_dataset **out);
/* A list of n image files with their labels (0..num_classes-1); unusable
 * files are skipped as in a folder (rep->classes stays empty). */
AL_API al_status al_dataset_from_image_files(const char *const *paths, const int32_t *labels, int n,
                                             int num_classes, const al_image_prep *p, al_image_report *rep,
                                             al_dataset **out);
/* Decoded pixel buffers, 8 bits per channel, alpha ignored:
 * AL_PIXELS_RGBA: bytes R, G, B, A per pixel (Android's copyPixelsToBuffer);
 * AL_PIXELS_ARGB: one 32-bit native-endian int 0xAARRGGBB per pixel
 *                 (Android's Bitmap.getPixels). Image i has widths[i] x
 * heights[i] pixels, rows strides[i] bytes apart (>= 4 * width). */
typedef enum al_pixel_format { AL_PIXELS_RGBA = 0, AL_PIXELS_ARGB = 1 } al_pixel_format;
AL_API al_status al_dataset_from_pixels(const void *const *pixels, const int *widths, const int *heights,
                                        const int *strides, al_pixel_format fmt, const int32_t *labels, int n,
                                        int num_classes, const al_image_prep *p, al_dataset **out);

/* ---- training --------------------------------------------------------------- */

typedef enum al_optim_kind { AL_OPT_SGD = 0, AL_OPT_ADAM = 1, AL_OPT_ADAMW = 2 } al_optim_kind;
typedef enum al_sched_kind { AL_SCHED_CONST = 0, AL_SCHED_STEP = 1, AL_SCHED_COSINE = 2 } al_sched_kind;

typedef struct al_epoch_info {
    int epoch;            /* 1-based */
    int step, steps;      /* steps done in this epoch / per epoch */
    double loss;          /* mean training loss so far in this epoch */
    double train_acc;     /* running training accuracy in this epoch */
    double eval_loss, eval_acc; /* < 0 when not evaluated */
    double lr;
    double seconds;       /* wall time of the epoch so far */
} al_epoch_info;

/* Return non-zero to stop training (AL_ECANCELED). `final` is 1 at epoch end. */
typedef int (*al_progress_fn)(void *user, const al_epoch_info *info, int final);

typedef struct al_train_config {
    al_optim_kind optim;
    double lr;
    double momentum;       /* SGD */
    int nesterov;          /* SGD */
    double weight_decay;   /* SGD: L2 added to the gradient; AdamW: decoupled */
    double beta1, beta2, eps; /* Adam */
    al_sched_kind sched;
    int step_size;         /* STEP: epochs between decays */
    double gamma;          /* STEP: decay factor */
    int warmup_steps;      /* linear warm-up from 0 */
    double min_lr;         /* COSINE floor */
    double clip_norm;      /* global gradient-norm clipping; 0 = off */
    int epochs;
    int batch;
    int shuffle;
    uint64_t seed;
    int patience;          /* early stopping on eval loss; 0 = off */
    al_progress_fn progress;
    void *progress_user;
    /* Checkpoints and rollback points (see al_trainer_checkpoint). Every
     * checkpoint_every steps (counted over all runs) the trainer keeps its
     * whole state in memory as the last good state and, with a path, also
     * writes it to checkpoint_path (atomically); it also writes one when a
     * run completes. 0 = off: then the last good state is taken at the
     * start of each epoch (only when max_rollbacks > 0). */
    const char *checkpoint_path;  /* borrowed; NULL: in memory only */
    int checkpoint_every;
    /* Divergence: NaN or Inf in the loss or the gradients rolls the trainer
     * back to the last good state and multiplies the learning rate by
     * rollback_lr_factor (logged as a warning, counted in the report), at
     * most max_rollbacks times per run; then AL_ENUMERIC with the last good
     * weights in the model. max_rollbacks 0: AL_ENUMERIC at once. */
    int max_rollbacks;            /* default 3 */
    double rollback_lr_factor;    /* in (0,1), default 0.1 */
    /* L2-SP (Li, Grandvalet, Davoine 2018): adds l2sp * (w - w0) to each
     * trained tensor's gradient (after clipping), w0 its value when the
     * trainer was created: weight decay toward the starting point (the
     * cloud model) instead of toward zero. 0 = off (default). */
    double l2sp;
    /* Discriminative learning rates: trained nodes below node lr_split
     * train at lr * lr_below, the rest at lr. lr_split 0 = off (default;
     * lr_below defaults to 1); at most the model's node count (which puts
     * every node below the split). */
    int lr_split;
    double lr_below;
    /* Which tensors of the trainable nodes train (the rest keep their values
     * bit for bit): AL_PARAMS_ALL (default); AL_PARAMS_BIAS, every tensor
     * named "bias" and the batch-norm affine (TinyTL's bias-only); or
     * AL_PARAMS_NORM, the batch-norm affine only. Batch-norm running
     * statistics are state, not trained: a training pass still moves them. */
    int param_subset;
    /* A frozen suffix: nodes at or after node train_end keep their weights
     * bit for bit (no optimizer state, not in the clipped norm nor in
     * L2-SP) while the gradient still flows through them to the trained
     * nodes below, so the nodes [freeze point, train_end) train. FedRep's
     * body step trains the body under a fixed output layer this way.
     * 0 = off (default); at most the model's node count. A suffix that
     * holds every tensor that would train: AL_EINVAL (nothing would). */
    int train_end;
    /* L2-SP's reference: with l2sp > 0 the trained tensors are pulled
     * toward this model's values of them instead of their own at the
     * trainer's creation (the proximal term l2sp/2 * ||w - w_ref||^2 of a
     * personal model toward the current global one, as in Ditto). A model
     * of the same architecture (the same tensors, sizes and order); read
     * once, when the trainer is created (borrowed for that call only; a
     * checkpoint does not hold it). NULL = the starting point (default). */
    const al_model *l2sp_ref;
} al_train_config;

enum { AL_PARAMS_ALL = 0, AL_PARAMS_BIAS = 1, AL_PARAMS_NORM = 2 };

/* Fills sensible defaults (SGD momentum 0.9, lr 0.01, batch 32, 1 epoch ...). */
AL_API void al_train_config_default(al_train_config *c);

typedef struct al_train_report {
    int epochs_run;
    int best_epoch;
    double final_loss, final_train_acc;
    double best_eval_loss, best_eval_acc, final_eval_acc;
    double seconds;
    long long steps;
    long long samples;
    int stopped_early;
    int rollbacks;         /* divergences rolled back in this run */
    double lr_scale;       /* the learning-rate factor they left (1 = none) */
} al_train_report;

typedef struct al_trainer al_trainer;
AL_API al_status al_trainer_new(al_model *m, al_pool *pool, const al_train_config *cfg, al_trainer **out);
AL_API void al_trainer_free(al_trainer *t);
/* Trains for cfg->epochs over `train`, evaluating on `eval` (may be NULL) after
 * each epoch. With early stopping the best weights are restored at the end. */
AL_API al_status al_trainer_run(al_trainer *t, const al_dataset *train, const al_dataset *eval,
                                al_train_report *r);
/* Training in slices: like al_trainer_run, but returns after at most
 * max_steps steps or once max_ms milliseconds have passed (checked between
 * steps; at least one step runs; <= 0: no limit), with *done = 1 when the
 * run is complete. The next slice (or al_trainer_run) continues the same
 * run where this one stopped; any sequence of slices gives bit for bit the
 * weights of one uninterrupted run. `r` receives the run's report so far.
 * A run in progress also ends on an error other than a failed checkpoint
 * write; after cancellation (progress callback) the next call starts anew. */
AL_API al_status al_trainer_run_slice(al_trainer *t, const al_dataset *train, const al_dataset *eval,
                                      long long max_steps, double max_ms, int *done, al_train_report *r);

/* Where a trainer (or a checkpoint file) stands. */
typedef struct al_trainer_pos {
    long long epochs_done, steps_done; /* over all runs */
    long long runs_done;               /* completed runs */
    int in_run;                        /* 1: a run is in progress (resumable) */
    int epoch;                         /* 0-based epoch of the run in progress */
    long long step;                    /* steps done in that epoch */
    int rollbacks;
    double lr_scale;
} al_trainer_pos;
AL_API void al_trainer_get_pos(const al_trainer *t, al_trainer_pos *p);
/* The report of the run in progress, or of the last one (also after resuming
 * from a checkpoint of a finished run); seconds are this process's. */
AL_API void al_trainer_get_report(const al_trainer *t, al_train_report *r);
/* For a trainer restored from a checkpoint of a finished run (whose weights
 * are then the result): AL_EINVAL, naming the checkpoint's data, when it was
 * trained on other data than `train`; AL_OK otherwise (also when no run
 * finished yet: al_trainer_run checks the data then). */
AL_API al_status al_trainer_check_finished(const al_trainer *t, const al_dataset *train);

/* Crash-safe checkpoints: the model's weights, the optimizer state, the
 * position (epoch, step in the epoch, the shuffle and dropout streams,
 * carried LSTM state, early-stopping state, report so far) and fingerprints
 * of the configuration, the architecture and the run's data, in a GGUF file
 * written atomically (temporary file, fsync, rename, fsync of the
 * directory) with CRC-32s checked on load. Temporary files left by a killed
 * process are removed by the next save to the same path. */
AL_API al_status al_trainer_checkpoint(al_trainer *t, const char *path);
/* Restores a checkpoint into a trainer made with the same architecture and
 * configuration (AL_EINVAL naming the first difference otherwise). A run
 * in progress at the checkpoint goes on at the next al_trainer_run/_slice
 * with exactly the batches it would have had; that call refuses other data
 * (AL_EINVAL). On any error the trainer and model are unchanged. */
AL_API al_status al_trainer_resume(al_trainer *t, const char *path);
/* Reads and verifies a checkpoint file's position without a trainer. */
AL_API al_status al_checkpoint_info(const char *path, al_trainer_pos *p);

/* Loss and accuracy of a model over a dataset (planned as al_model_predict). */
AL_API al_status al_evaluate(al_model *m, al_pool *pool, const al_dataset *d, int batch, double *loss,
                             double *acc);

/* ---- data augmentation on the device ------------------------------------------ */

/* Image augmentation, each part configurable and seeded. A sample's variant v
 * is a pure function of (seed, sample id, v): variant 0 is the sample as is,
 * variants 1.. are augmented, so a cache can hold K fixed variants. */
typedef struct al_augment_config {
    int shift;          /* max shift in pixels each way, zero padded (default 2) */
    float rotate_deg;   /* max rotation in degrees either way (default 10) */
    int hflip;          /* 1: mirror with probability 1/2 (default 0: it can change meaning) */
    float brightness;   /* max additive brightness change (default 0.1) */
    float contrast;     /* max relative contrast change (default 0.2) */
    float noise;        /* standard deviation of added Gaussian noise (default 0.02) */
    int cutout;         /* side of a zeroed square at a random place, 0 = off (default 0) */
} al_augment_config;
#define AL_AUGMENT_MAX_SHIFT 65536
AL_API void al_augment_config_default(al_augment_config *c);
/* src and dst hold one C x H x W image (they must not overlap); values are
 * clamped to [0,1]. AL_ERANGE for a negative or non-finite strength, a
 * contrast of 1 or more, or a shift over AL_AUGMENT_MAX_SHIFT; a
 * personalization job with variants checks its config so before it
 * starts. */
AL_API al_status al_augment_image(const al_augment_config *c, uint64_t seed, uint64_t sample_id, int variant,
                                  const float *src, float *dst, int C, int H, int W);

/* ---- the runtime cache of frozen-layer outputs ---------------------------------- */

/* Holds, per (sample id, variant), the output of a model's frozen prefix, so
 * later epochs (and training after inference) skip the frozen layers. It is
 * bounded by max_bytes of memory; past that, entries go to the spill file
 * (created owner-only at spill_path, removed by al_cache_free) or, with
 * spill_path NULL, are not kept and get recomputed. al_cache_new fails with
 * AL_EIO when the spill path's directory does not exist or cannot be
 * written. Past that a cache never makes a call fail: when it cannot
 * store, the caller recomputes. It is bound to one
 * model prefix (weights and freeze point); a different prefix clears it.
 * An entry is keyed by its sample: the id the caller gives, or, where ids
 * are NULL, a hash of the sample's content (an id must name one content:
 * that is the caller's promise). An augmented variant (> 0) is also bound
 * to the augmentation settings and seed it was made with, and is served
 * only to a job with the same ones. So a cache reused with other data or
 * other augmentation recomputes instead of serving stale features. */
typedef struct al_cache al_cache;
AL_API al_status al_cache_new(size_t max_bytes, const char *spill_path, al_cache **out);
AL_API void al_cache_free(al_cache *c);
AL_API void al_cache_clear(al_cache *c);
typedef struct al_cache_stats {
    uint64_t hits, misses;            /* lookups */
    uint64_t entries_mem, entries_spilled;
    uint64_t bytes_mem, bytes_spilled;
    uint64_t dropped;                 /* entries not kept (bound reached, no spill) */
} al_cache_stats;
AL_API void al_cache_get_stats(const al_cache *c, al_cache_stats *s);
/* Inference that fills the cache: like al_model_predict, and for each sample
 * ids[i] (ids NULL: its content) the frozen prefix's output (variant 0) is
 * looked up or stored. It plans inference alone, as al_model_predict, the
 * frontier at the freeze point kept whole. A
 * model whose add or mul past the freeze point reads a node below the
 * frontier is predicted without the cache. */
AL_API al_status al_model_predict_cached(al_model *m, al_pool *pool, const float *x, int n, const uint64_t *ids,
                                         al_cache *c, float *y);

/* ---- personalization: transfer learning on the device ------------------------ */

/* Device recipes (docs/RECIPES.md): what a personalization job changes.
 * Every recipe starts with the label-prior shift when label_prior > 0. */
typedef enum al_recipe {
    AL_RECIPE_CONFIG = 0,  /* as configured: freeze, train_rows, aug_variants (the job before recipes) */
    AL_RECIPE_PRIOR,       /* the label-prior bias shift only: nothing trained */
    AL_RECIPE_HEAD,        /* the output layer (the last node with weights) */
    AL_RECIPE_LAST_BLOCK,  /* the output layer and the weighted layer before it */
    AL_RECIPE_BN,          /* batch-norm running statistics re-estimated on the user's data
                            * (bn_affine: then the batch-norm affine trained too) */
    AL_RECIPE_BIAS,        /* every bias and batch-norm affine trained, all other weights frozen */
    AL_RECIPE_DEEP,        /* from the third weighted layer from the end (a lower freeze point) */
    AL_RECIPE_FULL,        /* everything trained (freeze point 0) */
    AL_RECIPE_AUTO         /* the device chooses (al_personalize_auto) */
} al_recipe;
#define AL_RECIPE_COUNT 9
/* "config", "prior", "head", "last-block", "bn", "bias", "deep", "full", "auto". */
AL_API const char *al_recipe_name(al_recipe r);
/* The recipe of a name above; AL_EINVAL (naming the choices) otherwise. */
AL_API al_status al_recipe_parse(const char *name, al_recipe *out);

typedef struct al_personalize_config {
    al_train_config train;  /* optimizer, epochs, batch, seed ... */
    int freeze;             /* the freeze point (first trainable node); -1: the model's default: its
                             * stored autlearn.freeze, else the output layer; with train_rows > 0,
                             * the output layer */
    int aug_variants;       /* K >= 1 fixed variants per sample (0 = as is, 1..K-1 augmented) */
    al_augment_config aug;
    /* 1: when train.checkpoint_path names an existing checkpoint, continue
     * from it (a finished one only restores the final weights, and is
     * refused, AL_EINVAL, when it trained on other data). The cache
     * may be empty then: it is refilled, with the same results. Without
     * a checkpoint_path: AL_EINVAL. */
    int resume;
    /* Memory budget of the whole job in bytes (0: none); see
     * al_personalize_plan_memory. With a budget the cache's bound is
     * lowered and the batch may shrink (which changes the result). */
    size_t mem_budget_bytes;
    /* Label-prior correction (Bayes' rule for a shifted class prior): when
     * > 0, before training, the output layer's bias b_k gets
     * log(p_k / q_k), p_k = (n_k + label_prior) / (n + K * label_prior) the
     * class frequencies of `train` smoothed by this pseudo-count, q_k the
     * cloud's training prior (the model's "autlearn.class_prior" metadata,
     * else uniform). Applies when the last node is a trainable dense layer
     * with a bias and one output per class of a single-label `train`; a
     * no-op otherwise. 0 = off (default here; the image scenario and
     * `autlearn personalize` use 1). */
    double label_prior;
    /* Only some rows of the output layer trained (0: all, the default):
     * the rows (weights and bias) of the train_rows classes most frequent
     * in the training labels (for a language model: the user's most used
     * words); the others keep their cloud values. The loss stays the exact
     * softmax cross-entropy over all classes: the frozen rows' share of each
     * position's softmax is computed once per sample and kept, so a step
     * costs train_rows instead of all classes' multiply-adds. Needs the
     * freeze point at the output layer (a dense layer, the last node) and
     * no augmentation variants. */
    int train_rows;
    /* The recipe (AL_RECIPE_CONFIG: freeze, train_rows and aug_variants as
     * set). A fixed recipe sets the freeze point and the trained tensors
     * itself (freeze and train_rows must be left at -1 and 0);
     * aug_variants applies as set. AL_RECIPE_AUTO: only al_personalize_auto. */
    al_recipe recipe;
    int bn_affine;          /* AL_RECIPE_BN: also train the batch-norm affine (default 0) */
    /* The chooser (al_personalize_auto): the fraction of each class held
     * out for validation (default 0.2), the compute budget of its search
     * in multiply-adds (0: none; default 0), and the augmentation variants
     * of its augmented candidates (default 4). */
    double val_fraction;
    /* The chooser's K-fold cross-validation (images; the text chooser
     * uses val_fraction): 2..10 (default 5, AL_AUTO_DEFAULT_FOLDS): every
     * sample held out once -- each class's seeded shuffle dealt into K
     * folds, each candidate trained K times on the other folds and scored
     * by its accuracy pooled over all samples (val_fraction is then not
     * read); with fewer samples than K, one fold a sample. 0 or 1: the
     * single split above (a fifth of the search's cost). */
    int val_folds;
    uint64_t budget_macs;
    int auto_aug_variants;
    /* The text chooser: 1 (default) also scores every candidate mixed with
     * the user's bigram model (counted on the training part of the user's
     * text) at weights 0.1 to 0.4, and keeps the best weight with the pick
     * (the model's "autlearn.ngram_mix"; the keyboard mixes in its bigram
     * model of the whole text); 0: the model alone. */
    int ngram_mix;
    /* Rehearsal for new classes (NULL: off, the default): exemplars of the
     * cloud's classes (labels 0..num_classes-1 of this set, e.g. a few
     * public images per class shipped with the model). When `train` holds
     * a label at or above the set's num_classes (a class the cloud never
     * saw, grown by al_model_add_classes), the job trains on `train` and the
     * exemplars together, with L2-SP off (the exemplars keep the cloud's
     * classes instead), no label-prior shift before training, and after it
     * the output bias shifted by log(p_k / m_k): p the class frequencies of
     * `train`, m those of the mix, both smoothed by label_prior's
     * pseudo-count (1 when label_prior is 0). Otherwise (no new class, a
     * multi-label or text job) a no-op. The samples must have the shape of
     * `train`'s (AL_EINVAL otherwise). Not counted by the memory plan: the
     * mix is a copy of `train` and the exemplars. */
    const al_dataset *rehearsal;
} al_personalize_config;
AL_API void al_personalize_config_default(al_personalize_config *c);

/* The memory plan of a personalization job: what it allocates at its peak,
 * before training starts, part by part (bytes). Counted: the model's weights
 * and gradients, the optimizer state, the activation block planned for the
 * batch (activations, their gradients, saved state, scratch; and the chunked
 * forward's arena, al_model_set_forward_chunk), the trainer's
 * batch buffers, label buffer and sample order, personalization's staging
 * buffers, the rollback snapshot and early-stopping copy, the runtime
 * cache's bound and its index, the GEMM pack buffer each pool thread keeps
 * (at the most any pass of this job asks of one thread: the layers' GEMM
 * shapes at the batch; a buffer an earlier job made larger is kept, its
 * excess not counted: it exists before the job), and a fixed allowance for
 * small structures.
 * Not counted: the caller's dataset and id list (they exist before the job
 * and after it; `dataset` reports their size), the thread pool's stacks,
 * and code. Within a budget, the cache bound shrinks first (down to 0: past
 * it entries go to the spill file if the cache has one, else they are
 * recomputed), then the batch halves (down to 1); what remains after the
 * batch is fixed goes back to the cache, up to its own bound. */
typedef struct al_mem_plan {
    size_t budget;              /* 0: none */
    size_t total;               /* the sum of the parts below: the planned peak */
    size_t weights, grads, optim, activations, batch_buffers, staging, snapshot, cache, cache_index, gemm, overhead;
    size_t dataset;             /* the caller's training data (not in total) */
    int batch_requested, batch_used;     /* batch_used < batch_requested: the result differs */
    size_t cache_requested, cache_used;  /* the cache's bound before and after */
    int cache_spill;            /* 1: past the bound entries go to the spill file; 0: recomputed */
} al_mem_plan;

/* Computes the plan of al_personalize(m, pool, train, ids, cache, c, ...)
 * without allocating anything or changing anything: with
 * c->mem_budget_bytes > 0 fitted into it (AL_EBUDGET, naming the need and
 * the budget, when even batch 1 without a cache does not fit), else as
 * configured. cache may be NULL. Data the job would refuse is refused here
 * the same way (AL_ESHAPE: samples of another shape than the model's
 * input; AL_ERANGE: a label past its classes). */
AL_API al_status al_personalize_plan_memory(const al_model *m, const al_pool *pool, const al_dataset *train,
                                            const al_cache *cache, const al_personalize_config *c, al_mem_plan *out);
/* The same plan for a plain trainer (al_trainer_new with config c on
 * `train`, evaluation at c->batch): no cache and no staging; a checkpoint
 * at c->checkpoint_path is counted when it exists (a resume reads it
 * whole). With budget > 0 the batch halves until the plan fits (AL_EBUDGET
 * when batch 1 does not); the caller trains with batch_used. Data checked
 * as al_trainer_run checks it. */
AL_API al_status al_trainer_plan_memory(const al_model *m, const al_pool *pool, const al_dataset *train,
                                        const al_train_config *c, size_t budget, al_mem_plan *out);

typedef struct al_personalize_report {
    al_train_report train;
    double first_epoch_seconds;  /* includes computing the frozen prefix */
    double later_epoch_seconds;  /* mean over epochs 2.. (0 with one epoch) */
    uint64_t prefix_samples;     /* frozen-prefix forward passes actually run */
    uint64_t suffix_samples;     /* trainable-suffix passes (forward + backward) */
    uint64_t macs;               /* MACs run: prefix forward + suffix forward and backward (2x forward) */
    al_cache_stats cache;        /* zeros without a cache */
    al_mem_plan mem;             /* the job's memory plan (batch and cache bound used) */
    int new_words;               /* text: words added to the vocabulary (al_lm_personalize_text) */
} al_personalize_report;

/* Transfer learning on private data: freezes the prefix, trains the rest on
 * `train` with augmentation; the frozen prefix's outputs come from `cache`
 * when it holds them (and are stored there otherwise). ids[i] names sample
 * i for the cache (NULL: its content's hash; augmentation then seeds by
 * position i). `eval` (may be NULL) is evaluated each
 * epoch. Nothing is written to disk except the cache's spill file. When
 * the job ends the model's training buffers are freed
 * (al_model_release_memory): a prediction after it plans inference alone. */
AL_API al_status al_personalize(al_model *m, al_pool *pool, const al_dataset *train, const uint64_t *ids,
                                al_cache *cache, const al_personalize_config *c, const al_dataset *eval,
                                al_personalize_report *r);
/* The same job as a trainer, for slices and checkpoints: al_trainer_run_slice,
 * al_trainer_checkpoint, al_trainer_resume and al_trainer_free work on it
 * (c->resume is ignored here). train, ids, cache and c are borrowed until
 * the trainer is freed. */
AL_API al_status al_personalize_new(al_model *m, al_pool *pool, const al_dataset *train, const uint64_t *ids,
                                    al_cache *cache, const al_personalize_config *c, al_trainer **out);

/* ---- the chooser: a recipe that fits its user ---------------------------------- */

/* One candidate the chooser considered. */
typedef struct al_recipe_try {
    al_recipe recipe;
    int aug_variants;      /* 1: no augmentation */
    int freeze;            /* its freeze point (-1: not applicable) */
    int status;            /* AL_TRY_RUN, AL_TRY_BUDGET (skipped: over the compute budget),
                            * AL_TRY_NA (not applicable to this model or data), AL_TRY_MEMORY
                            * (skipped: does not fit the memory budget) */
    double val_acc;        /* validation accuracy (run only; with folds: pooled over the K held-out folds) */
    uint64_t est_macs;     /* its cost estimated before it ran (what the budget is checked with; with
                            * folds: the sum of its K runs' estimates) */
    uint64_t macs;         /* what it ran: training, statistics and the validation pass */
} al_recipe_try;
enum { AL_TRY_RUN = 0, AL_TRY_BUDGET = 1, AL_TRY_NA = 2, AL_TRY_MEMORY = 3 };
#define AL_AUTO_MAX_TRIES 16
#define AL_AUTO_MAX_FOLDS 10    /* al_personalize_config.val_folds at most */
#define AL_AUTO_DEFAULT_FOLDS 5 /* al_personalize_config.val_folds by default */

typedef struct al_auto_report {
    int n_train, n_val;          /* the split of the user's training data; with folds: n_val all n
                                  * samples (each held out once), n_train the largest fold's training part */
    double val_fraction;
    int folds;                   /* K-fold cross-validation: K (0: the single split) */
    uint64_t budget_macs;        /* 0: none */
    uint64_t search_macs;        /* spent by the search (all candidates and the cloud's validation pass) */
    double cloud_val_acc;        /* the cloud model as given, on the validation split (with folds: on all n) */
    int ntries;
    al_recipe_try tries[AL_AUTO_MAX_TRIES];  /* in the order run: cheapest first */
    int best;                    /* index of the best candidate, -1: none ran */
    int kept;                    /* 1: the personal model kept; 0: the cloud model (the gate) */
    al_recipe recipe;            /* what the returned model is: the chosen recipe, or AL_RECIPE_CONFIG
                                  * with kept 0 (the cloud model unchanged) */
    int aug_variants;
    char why[192];               /* one sentence: what was chosen and why */
    al_personalize_report final; /* the final job on all the training data (zeros when the cloud model is kept) */
} al_auto_report;

/* The device chooses its recipe (docs/RECIPES.md). It carves a validation
 * split from `train` (stratified per class, c->val_fraction of each class
 * rounded, at least one sample of every class with two or more, at least
 * one left to train; drawn with c->train.seed), runs the candidates --
 * prior, head, last-block, bn, bias, deep, the training ones also with
 * c->auto_aug_variants augmentation variants -- cheapest first (estimated
 * MACs), each on a copy of m trained on the rest, skipping those that
 * would pass c->budget_macs, and scores each on the split. The best
 * validation accuracy wins (ties: the cheaper). Gate: a training pick is
 * kept only if it beats the cloud model (m as given) on the split; the
 * prior shift (no training; label_prior > 0) only if it does at least as
 * well; else m is left unchanged. A kept pick is then trained again with its recipe on all of
 * `train` (the final job: cache, memory budget, checkpoints and resume as
 * al_personalize; c->train.checkpoint_path covers this job only -- the
 * search is recomputed, deterministically, after a crash). c->recipe and
 * c->freeze are not read; label_prior, the train config and the cache
 * apply to every candidate. Single-label data only.
 * With c->val_folds = K in 2..10 (K-fold cross-validation) the split is K
 * folds instead: each class's seeded shuffle dealt in turn into folds
 * 0..K-1 (the deal goes on from class to class, so fold sizes differ by one
 * at most and a class with fewer than K samples is held out in only some
 * folds); each candidate runs K times, trained on the other folds and
 * scored on the held-out one, its val_acc the accuracy pooled over all n
 * samples, its estimate the sum of the K runs'; the cloud model is scored on
 * all n. Fewer samples than K: AL_ERANGE; K out of 2..10 (other than 0
 * or 1): AL_ERANGE. */
AL_API al_status al_personalize_auto(al_model *m, al_pool *pool, const al_dataset *train, const uint64_t *ids,
                                     al_cache *cache, const al_personalize_config *c, al_auto_report *r);

/* ---- class names and new classes on the device ---------------------------------- */

/* A classifier's classes are its outputs; their names are the metadata
 * "autlearn.classes" (names joined by '\n' in output order), or the label
 * numbers "0", "1", ... where a model has none. */
AL_API int al_model_num_classes(const al_model *m);
/* Class k's name into buf (cap bytes, NUL-terminated); AL_ERANGE when it
 * does not fit or k is not a class. */
AL_API al_status al_model_class_name(const al_model *m, int k, char *buf, size_t cap);
/* Matches a dataset's n class names to the model's by name: map[j] = the
 * output of class j, or -1 where the model does not know it (*n_unknown
 * counts those; may be NULL). */
AL_API al_status al_model_match_classes(const al_model *m, const char *const *names, int n, int *map,
                                        int *n_unknown);
/* Relabels d in place: each label y (0..n_map-1) becomes map[y], which
 * must be >= 0 and < num_classes, and d's class count becomes num_classes;
 * AL_EINVAL (d unchanged) when a label has no class in map. */
AL_API al_status al_dataset_map_labels(al_dataset *d, const int *map, int n_map, int num_classes);
/* New classes by imprinting: the output layer (the last node: a dense layer
 * without activation, K outputs) grows to K + n_new. The old rows keep
 * their weights; new class j (its samples are those of d labelled K + j;
 * other labels are ignored) starts from its mean frozen feature mu_j (the
 * output layer's input): its row w_j = s * r_j / |r_j|, r_j the part of
 * mu_j - c outside the span of the old rows, c the mean feature of all of
 * d's labelled samples (not subtracted when d holds class j alone; mu_j
 * when nothing is left), s the
 * mean norm of the old rows, and its bias b_j = (the mean over its samples
 * of the largest old logit) - w_j . mu_j, so at its mean it scores what the
 * best old class scores on its samples (src/train/classes.c says why). The
 * model's "autlearn.classes" gets the old names and names[0..n_new) (NULL:
 * the label numbers). m keeps its handle, freeze point and metadata; any
 * trainer or plan made on it before is stale. AL_EINVAL when a new class
 * has no sample, a name is empty, taken or holds '\n', or the output layer
 * is not a plain dense layer. */
AL_API al_status al_model_add_classes(al_model *m, al_pool *pool, const al_dataset *d, int n_new,
                                      const char *const *names);

/* ---- the keyboard on the user's own text (docs/TEXT.md) ---------------------- */

/* Reads a user's text file: a regular file of at most 64 MiB, UTF-8 (no
 * overlong forms or surrogates), no NUL byte, at most 1% control bytes, not
 * empty; otherwise an error naming the file and the offset. *text is
 * al_malloc'd (free it with al_free) and NUL-terminated. */
AL_API al_status al_text_read_file(const char *path, char **text, size_t *len);

typedef struct al_text_job {
    /* New words: a word of the text that the model's vocabulary lacks and
     * that occurs at least this often gets its own entry: the embedding and
     * the output layer grow by its row (initialised from <unk>'s), trained
     * with the rest, and the model's vocabulary keeps it. 0: off (default). */
    int new_word_min_count;
    int max_new_words;  /* the cap (default 1000); the budget counts the grown layers */
    long max_tokens;    /* train on the most recent tokens only (0: all, the default) */
} al_text_job;
AL_API void al_text_job_default(al_text_job *j);
/* Personalizes a language model (a model with autlearn.vocab) on the
 * user's text, as the keyboard does: checks the text (al_text_read_file's
 * rules), learns its new words (j may be NULL: none), tokenizes it with the
 * model's vocabulary, runs the predict pass (filling `cache`, may be NULL)
 * and trains (c: al_personalize_config, text recipe; the freeze point
 * defaults to the output layer). A text of only unknown words (and no new
 * word) is AL_EINVAL. m may be replaced in place by its grown form (the
 * handle stays valid); save it with al_model_save. */
AL_API al_status al_lm_personalize_text(al_model *m, al_pool *pool, const char *text, size_t len, al_cache *cache,
                                        const al_personalize_config *c, const al_text_job *j,
                                        al_personalize_report *r);
/* The same on a file (al_text_read_file). */
AL_API al_status al_lm_personalize_file(al_model *m, al_pool *pool, const char *path, al_cache *cache,
                                        const al_personalize_config *c, const al_text_job *j,
                                        al_personalize_report *r);

#ifdef __cplusplus
}
#endif
#endif /* AUTLEARN_H */
