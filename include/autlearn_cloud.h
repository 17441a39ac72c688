/* autlearn's cloud library (libautlearn_cloud): what runs where the model is
 * made, not on the device. It builds on the device library (autlearn.h,
 * included here) and adds the simulated users of the research scenarios,
 * int8 quantization of the frozen part and ONNX import (when built with
 * protobuf-c; al_model_import_onnx then returns AL_EUNSUPPORTED otherwise).
 * Compression, the compiler and the scenarios are used through the CLI
 * (`autlearn compress`, `compile`, `scenario`); docs/ARCHITECTURE.md. An app
 * on the device links libautlearn alone and never includes this header. */
#ifndef AUTLEARN_CLOUD_H
#define AUTLEARN_CLOUD_H

#include "autlearn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- users: the image scenario's split of a data set ------------------------ */

/* The training split is divided into public data (the cloud's) and a pool
 * from which users are drawn. Each user is non-IID: `dominant_frac` of their
 * samples come from `dominant` classes chosen per user, the rest uniformly
 * from the other classes; their private test set has the same class mix and
 * comes from the test split. No sample is in two users, nor in both public
 * and private data. Deterministic by seed. */
typedef struct al_users_config {
    uint64_t seed;
    int users;            /* default 20 */
    int per_user;         /* private training samples per user, default 200 */
    int test_per_user;    /* private test samples per user, default 200 */
    double public_frac;   /* share of the training split that is public, default 0.5 */
    int dominant;         /* dominant classes per user, default 2 */
    double dominant_frac; /* share of a user's samples from them, default 0.8 */
    int shift;            /* AL_SHIFT_*: how users differ from the public data (default label) */
    int val_per_user;     /* of per_user, carved out as the user's validation set (default 0) */
    int public_val;       /* public samples carved out as the cloud's validation set (default 0) */
    int new_classes;      /* newclass: the last new_classes labels are the cloud's unseen ones (default 3) */
} al_users_config;
/* label: users differ in class mix only; feature: each user's images (train,
 * validation, test) pass a transform of their own drawn from the seed, class
 * mix uniform; both: the two together; newclass: the public data hold only
 * the first C - new_classes labels (the seen classes: the cloud never sees
 * the others), and each user's first dominant class is an unseen one, the
 * class draws otherwise those of label (docs/SCENARIOS.md). */
enum { AL_SHIFT_LABEL = 0, AL_SHIFT_FEATURE = 1, AL_SHIFT_BOTH = 2, AL_SHIFT_NEWCLASS = 3 };
AL_API void al_users_config_default(al_users_config *c);

typedef struct al_users al_users;
AL_API al_status al_users_split(const al_dataset *train, const al_dataset *test, const al_users_config *c,
                                al_users **out);
AL_API void al_users_free(al_users *u);
AL_API int al_users_count(const al_users *u);
AL_API const al_dataset *al_users_public(const al_users *u);
AL_API const al_dataset *al_users_train(const al_users *u, int k); /* NULL when k is out of range */
AL_API const al_dataset *al_users_test(const al_users *u, int k);
/* User k's validation set (val_per_user samples carved from its training
 * draw, disjoint from train and test); NULL when none was asked for. */
AL_API const al_dataset *al_users_validation(const al_users *u, int k);
/* The cloud's validation set (public_val samples carved from the public
 * data); NULL when none was asked for. */
AL_API const al_dataset *al_users_public_validation(const al_users *u);
/* The dominant classes of user k (`dominant` entries), NULL when out of range. */
AL_API const int *al_users_dominant(const al_users *u, int k);
/* Index of sample i of user k's training set in the original training split. */
AL_API int al_users_train_origin(const al_users *u, int k, int i);

/* Exemplars for rehearsal (al_personalize_config.rehearsal): up to
 * per_class samples of each class of d (all of a class that has fewer),
 * drawn with seed, grouped by class in label order; the classes of d. A
 * few public images per class shipped with the cloud model. AL_EINVAL for
 * per_class < 1 or a multi-label d. */
AL_API al_status al_exemplars(const al_dataset *d, int per_class, uint64_t seed, al_dataset **out);

/* ---- int8 quantization of the frozen part -------------------------------------- */

/* Quantizes every frozen dense and conv node with at least 32 inputs per
 * output channel (per-channel symmetric int8; docs/COMPILE.md, "int8");
 * *count (may be NULL) gets the number of int8 nodes afterwards. The model's
 * float weights become the dequantized values. */
AL_API al_status al_quantize_frozen(al_model *m, int *count);
/* As al_quantize_frozen, and the frozen depthwise convs too (kernel <= 7,
 * not dilated; per-channel int8 weights, each input plane quantized with
 * its own scale). Off in al_quantize_frozen: with float activations between
 * the layers the int8 depthwise kernel is no faster than the float one on
 * the x86 CPUs measured (bench/README.md). */
AL_API al_status al_quantize_frozen_dw(al_model *m, int *count);
/* Static input scales for the int8 nodes (calibration; docs/COMPILE.md,
 * "int8 frozen part"): runs the frozen part in float (the dequantized
 * weights) over `samples` samples of d spread evenly over it (<= 0 or more
 * than d holds: all of them) and gives each int8 node the scale
 * p / 127 of its input, p the pct-th percentile of |x| over every value of
 * every sample (pct = 100: the largest |x|), in (0, 100]. A node with a
 * static scale reads an int8 input straight from an int8 node before it
 * that nothing else reads (no float between them: the int8 chain), and
 * quantizes a float input without searching for a scale. A frozen add of
 * two same-shape operands that come from int8 nodes (or such adds) gets
 * the scale of its primary operand too, and runs in int8 where both
 * operands arrive as int8 (the int8 residual add). A saved model keeps the
 * scales (file format version 6; 7 with an add's). *count (may be NULL):
 * nodes given a scale, adds included. pool may be NULL. */
AL_API al_status al_quantize_calibrate(al_model *m, al_pool *pool, const al_dataset *d, int samples, double pct,
                                       int *count);

/* ---- ONNX import ------------------------------------------------------------------ */

/* Reads an ONNX file and builds the equivalent model (weights included).
 * Anything the model cannot express exactly (an unsupported operator or
 * attribute, a branching graph) fails with AL_EUNSUPPORTED and a message
 * naming the ONNX node (name and op_type) and the attribute; a malformed or
 * hostile file fails with AL_EFORMAT. What the import changed on the way (a
 * final Softmax dropped: the model outputs logits) is stored in the model's
 * metadata "onnx.notes". The caller frees *out with al_model_free. */
AL_API al_status al_model_import_onnx(const char *path, al_model **out);
/* The same over n bytes in memory (borrowed). */
AL_API al_status al_model_import_onnx_mem(const void *buf, size_t n, al_model **out);

#ifdef __cplusplus
}
#endif
#endif /* AUTLEARN_CLOUD_H */
