/* The JNI side of the Java binding (the classes in bindings/java/src/ai/autlearn).
 *
 * Ownership: a Java Model owns one jal_model (model + thread pool), a Java
 * Dataset one al_dataset; both are passed down as jlong pointers that the
 * Java side guarantees are live (it throws AL_ESTATE after close and frees
 * each pointer exactly once). Arrays are copied in and out with
 * Get/Set<Type>ArrayRegion, never pinned, because a call can run long on
 * worker threads. Every library error becomes an ai.autlearn.AutlearnException
 * carrying the status, its name and al_last_error() of this thread. */
#include <jni.h>

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "autlearn.h"
#include "ai_autlearn_Dataset.h"
#include "ai_autlearn_Model.h"
#include "ai_autlearn_Native.h"

typedef struct jal_model {
    al_model *m;
    al_pool *pool;
} jal_model;

static void *from_handle(jlong h) { return (void *)(intptr_t)h; }
static jlong to_handle(void *p) { return (jlong)(intptr_t)p; }

/* Throws AutlearnException(status, name, message); returns so the caller can
 * return a dummy value at once (a pending exception forbids most JNI calls). */
static void throw_status(JNIEnv *env, al_status st, const char *msg) {
    if ((*env)->ExceptionCheck(env)) return;
    jclass cls = (*env)->FindClass(env, "ai/autlearn/AutlearnException");
    if (!cls) return; /* NoClassDefFoundError pending */
    jmethodID ctor = (*env)->GetMethodID(env, cls, "<init>", "(ILjava/lang/String;Ljava/lang/String;)V");
    if (!ctor) return;
    jstring name = (*env)->NewStringUTF(env, al_status_name(st));
    jstring text = name ? (*env)->NewStringUTF(env, msg && *msg ? msg : al_strerror(st)) : NULL;
    if (!text) return; /* OutOfMemoryError pending */
    jobject ex = (*env)->NewObject(env, cls, ctor, (jint)st, name, text);
    if (ex) (*env)->Throw(env, (jthrowable)ex);
}

static void throw_last(JNIEnv *env, al_status st) { throw_status(env, st, al_last_error()); }

static void throw_oom(JNIEnv *env) { throw_status(env, AL_ENOMEM, "out of memory in the Java binding"); }

/* A Java string as modified UTF-8 (fine for paths and specs); NULL with an
 * exception pending on failure. Release with ReleaseStringUTFChars. */
static const char *utf(JNIEnv *env, jstring s) {
    if (!s) {
        throw_status(env, AL_EINVAL, "null string");
        return NULL;
    }
    return (*env)->GetStringUTFChars(env, s, NULL);
}

static jal_model *wrap(JNIEnv *env, al_model *m, jint threads) {
    jal_model *w = calloc(1, sizeof *w);
    if (!w) {
        al_model_free(m);
        throw_oom(env);
        return NULL;
    }
    al_status st = al_pool_new(threads > 0 ? threads : 0, &w->pool);
    if (st) {
        throw_last(env, st);
        al_model_free(m);
        free(w);
        return NULL;
    }
    w->m = m;
    return w;
}

JNIEXPORT jstring JNICALL Java_ai_autlearn_Native_version(JNIEnv *env, jclass cls) {
    (void)cls;
    return (*env)->NewStringUTF(env, al_version());
}

JNIEXPORT jlong JNICALL Java_ai_autlearn_Model_nativeLoad(JNIEnv *env, jclass cls, jstring path, jint threads) {
    (void)cls;
    const char *p = utf(env, path);
    if (!p) return 0;
    al_model *m = NULL;
    al_status st = al_model_load(p, &m);
    (*env)->ReleaseStringUTFChars(env, path, p);
    if (st) {
        throw_last(env, st);
        return 0;
    }
    return to_handle(wrap(env, m, threads));
}

JNIEXPORT jlong JNICALL Java_ai_autlearn_Model_nativeFromSpec(JNIEnv *env, jclass cls, jstring spec, jlong seed,
                                                              jint threads) {
    (void)cls;
    const char *s = utf(env, spec);
    if (!s) return 0;
    al_model *m = NULL;
    al_status st = al_model_from_spec(s, (uint64_t)seed, &m);
    (*env)->ReleaseStringUTFChars(env, spec, s);
    if (st) {
        throw_last(env, st);
        return 0;
    }
    return to_handle(wrap(env, m, threads));
}

JNIEXPORT void JNICALL Java_ai_autlearn_Model_nativeFree(JNIEnv *env, jclass cls, jlong h) {
    (void)env;
    (void)cls;
    jal_model *w = from_handle(h);
    if (!w) return;
    al_model_free(w->m);
    al_pool_free(w->pool);
    free(w);
}

JNIEXPORT void JNICALL Java_ai_autlearn_Model_nativeReleaseMemory(JNIEnv *env, jclass cls, jlong h) {
    (void)env;
    (void)cls;
    jal_model *w = from_handle(h);
    al_model_release_memory(w->m);
}

JNIEXPORT void JNICALL Java_ai_autlearn_Model_nativeSetSpinMicros(JNIEnv *env, jclass cls, jlong h, jint us) {
    (void)cls;
    jal_model *w = from_handle(h);
    al_status st = al_pool_set_spin_us(w->pool, (int)us);
    if (st) throw_last(env, st);
}

JNIEXPORT jint JNICALL Java_ai_autlearn_Model_nativeSpinMicros(JNIEnv *env, jclass cls, jlong h) {
    (void)env;
    (void)cls;
    jal_model *w = from_handle(h);
    return al_pool_spin_us(w->pool);
}

static size_t shape_numel(al_tensor t) {
    size_t n = 1;
    for (int i = 0; i < t.ndim; i++) n *= (size_t)t.shape[i];
    return n;
}

/* x: n * prod(input shape) floats -> n * prod(output shape) logits. */
JNIEXPORT jfloatArray JNICALL Java_ai_autlearn_Model_nativePredict(JNIEnv *env, jclass cls, jlong h, jfloatArray x,
                                                                   jint n) {
    (void)cls;
    jal_model *w = from_handle(h);
    if (n <= 0) {
        throw_status(env, AL_EINVAL, "predict: n must be positive");
        return NULL;
    }
    size_t in = shape_numel(al_model_input_shape(w->m)), out = shape_numel(al_model_output_shape(w->m));
    jsize len = (*env)->GetArrayLength(env, x);
    if ((size_t)len != in * (size_t)n) {
        char msg[160];
        snprintf(msg, sizeof msg, "predict: x has %ld floats, %d samples of %zu need %zu", (long)len, (int)n, in,
                 in * (size_t)n);
        throw_status(env, AL_ESHAPE, msg);
        return NULL;
    }
    if (out * (size_t)n > (size_t)INT32_MAX) {
        throw_status(env, AL_ERANGE, "predict: the output does not fit a Java array; predict fewer samples");
        return NULL;
    }
    float *xb = malloc(sizeof(float) * (in * (size_t)n));
    float *yb = malloc(sizeof(float) * (out * (size_t)n));
    jfloatArray y = NULL;
    if (!xb || !yb) {
        throw_oom(env);
        goto done;
    }
    (*env)->GetFloatArrayRegion(env, x, 0, len, xb);
    al_status st = al_model_predict(w->m, w->pool, xb, n, yb);
    if (st) {
        throw_last(env, st);
        goto done;
    }
    y = (*env)->NewFloatArray(env, (jsize)(out * (size_t)n));
    if (y) (*env)->SetFloatArrayRegion(env, y, 0, (jsize)(out * (size_t)n), yb);
done:
    free(xb);
    free(yb);
    return y;
}

JNIEXPORT void JNICALL Java_ai_autlearn_Model_nativeSave(JNIEnv *env, jclass cls, jlong h, jstring path) {
    (void)cls;
    jal_model *w = from_handle(h);
    const char *p = utf(env, path);
    if (!p) return;
    al_status st = al_model_save(w->m, p);
    (*env)->ReleaseStringUTFChars(env, path, p);
    if (st) throw_last(env, st);
}

/* A Java byte[] copied into a NUL-terminated malloc'd buffer (*n bytes);
 * NULL with an exception pending on failure. */
static char *bytes(JNIEnv *env, jbyteArray a, size_t *n) {
    if (!a) {
        throw_status(env, AL_EINVAL, "null array");
        return NULL;
    }
    jsize k = (*env)->GetArrayLength(env, a);
    char *b = malloc((size_t)k + 1);
    if (!b) {
        throw_oom(env);
        return NULL;
    }
    (*env)->GetByteArrayRegion(env, a, 0, k, (jbyte *)b);
    b[k] = '\0';
    *n = (size_t)k;
    return b;
}

JNIEXPORT void JNICALL Java_ai_autlearn_Model_nativeSetMeta(JNIEnv *env, jclass cls, jlong h, jstring key,
                                                            jbyteArray value) {
    (void)cls;
    jal_model *w = from_handle(h);
    size_t n;
    char *v = bytes(env, value, &n);
    if (!v) return;
    if (strlen(v) != n) {
        free(v);
        throw_status(env, AL_EINVAL, "a metadata value cannot hold a NUL character");
        return;
    }
    const char *k = utf(env, key);
    if (k) {
        al_status st = al_model_set_meta(w->m, k, v);
        (*env)->ReleaseStringUTFChars(env, key, k);
        if (st) throw_last(env, st);
    }
    free(v);
}

/* The text recipe of the device (Adam, cosine, clipping at norm 1): the
 * library's al_train_recipe_text, written out with the public API. */
JNIEXPORT jint JNICALL Java_ai_autlearn_Model_nativePersonalizeText(JNIEnv *env, jclass cls, jlong h, jbyteArray text,
                                                                    jint epochs, jdouble lr, jint batch,
                                                                    jint min_count, jlong seed) {
    (void)cls;
    jal_model *w = from_handle(h);
    size_t n;
    char *t = bytes(env, text, &n);
    if (!t) return 0;
    al_personalize_config pc;
    al_personalize_config_default(&pc);
    al_train_config_default(&pc.train);
    pc.train.optim = AL_OPT_ADAM;
    pc.train.sched = AL_SCHED_COSINE;
    pc.train.clip_norm = 1.0;
    pc.train.epochs = epochs;
    pc.train.lr = lr;
    pc.train.batch = batch;
    pc.train.seed = (uint64_t)seed;
    al_text_job j;
    al_text_job_default(&j);
    j.new_word_min_count = min_count;
    al_cache *cache = NULL;
    al_personalize_report r;
    memset(&r, 0, sizeof r);
    al_status st = al_cache_new((size_t)64 << 20, NULL, &cache);
    if (!st) st = al_lm_personalize_text(w->m, w->pool, t, n, cache, &pc, &j, &r);
    al_cache_free(cache);
    free(t);
    if (st) throw_last(env, st);
    return st ? 0 : r.new_words;
}

static jdoubleArray doubles(JNIEnv *env, const double *v, jsize n) {
    jdoubleArray a = (*env)->NewDoubleArray(env, n);
    if (a) (*env)->SetDoubleArrayRegion(env, a, 0, n, v);
    return a;
}

JNIEXPORT jdoubleArray JNICALL Java_ai_autlearn_Model_nativeEvaluate(JNIEnv *env, jclass cls, jlong h, jlong d,
                                                                     jint batch) {
    (void)cls;
    jal_model *w = from_handle(h);
    double v[2];
    al_status st = al_evaluate(w->m, w->pool, from_handle(d), batch, &v[0], &v[1]);
    if (st) {
        throw_last(env, st);
        return NULL;
    }
    return doubles(env, v, 2);
}

JNIEXPORT jintArray JNICALL Java_ai_autlearn_Model_nativeShape(JNIEnv *env, jclass cls, jlong h, jint which) {
    (void)cls;
    jal_model *w = from_handle(h);
    al_tensor t = which ? al_model_output_shape(w->m) : al_model_input_shape(w->m);
    jint s[AL_MAX_DIMS];
    for (int i = 0; i < t.ndim && i < AL_MAX_DIMS; i++) s[i] = t.shape[i];
    jintArray a = (*env)->NewIntArray(env, t.ndim);
    if (a) (*env)->SetIntArrayRegion(env, a, 0, t.ndim, s);
    return a;
}

JNIEXPORT jlong JNICALL Java_ai_autlearn_Model_nativeNumParams(JNIEnv *env, jclass cls, jlong h) {
    (void)env;
    (void)cls;
    return (jlong)al_model_num_params(((jal_model *)from_handle(h))->m);
}

JNIEXPORT jstring JNICALL Java_ai_autlearn_Model_nativeSpec(JNIEnv *env, jclass cls, jlong h) {
    (void)cls;
    const char *s = al_model_spec(((jal_model *)from_handle(h))->m);
    return (*env)->NewStringUTF(env, s ? s : "");
}

JNIEXPORT jint JNICALL Java_ai_autlearn_Model_nativeNodes(JNIEnv *env, jclass cls, jlong h, jint which) {
    (void)env;
    (void)cls;
    al_model *m = ((jal_model *)from_handle(h))->m;
    return which ? al_model_freeze_point(m) : al_model_num_nodes(m);
}

/* Trainer: one personalization run (al_personalize_new) trained in slices
 * (al_trainer_run_slice). The trainer borrows the model, its pool and the
 * training dataset; the Java side passes them live to every slice and frees
 * the trainer alone (al_trainer_free touches neither model nor data). */
JNIEXPORT jlong JNICALL Java_ai_autlearn_Model_nativeTrainerNew(JNIEnv *env, jclass cls, jlong h, jlong train,
                                                                jint epochs, jdouble lr, jint batch, jint freeze,
                                                                jlong seed, jint aug_variants) {
    (void)cls;
    jal_model *w = from_handle(h);
    al_personalize_config c;
    al_personalize_config_default(&c);
    c.train.epochs = epochs;
    c.train.lr = lr;
    c.train.batch = batch;
    c.train.seed = (uint64_t)seed;
    c.freeze = freeze;
    c.aug_variants = aug_variants;
    al_trainer *t = NULL;
    al_status st = al_personalize_new(w->m, w->pool, from_handle(train), NULL, NULL, &c, &t);
    if (st) {
        throw_last(env, st);
        return 0;
    }
    return to_handle(t);
}

/* One slice of at most max_steps steps / max_ms milliseconds (0: no limit).
 * Returns {epochs completed and steps run in the slice, loss and training
 * accuracy of the run's last epoch, eval accuracy (-1: none), seconds of
 * the run in this process (the Java side puts the slice's in), done, epochs
 * and steps of the run so far}. */
JNIEXPORT jdoubleArray JNICALL Java_ai_autlearn_Model_nativeTrainerSlice(JNIEnv *env, jclass cls, jlong h,
                                                                         jlong trainer, jlong train, jlong eval,
                                                                         jlong max_steps, jdouble max_ms) {
    (void)cls;
    (void)h; /* the model is the trainer's; the Java side checked it is open */
    al_trainer *t = from_handle(trainer);
    al_trainer_pos p0, p1;
    al_trainer_get_pos(t, &p0);
    int done = 0;
    al_train_report r;
    al_status st = al_trainer_run_slice(t, from_handle(train), from_handle(eval), (long long)max_steps, max_ms, &done, &r);
    if (st) {
        throw_last(env, st);
        return NULL;
    }
    al_trainer_get_pos(t, &p1);
    double v[9] = {(double)(p1.epochs_done - p0.epochs_done), (double)(p1.steps_done - p0.steps_done), r.final_loss,
                   r.final_train_acc, eval ? r.final_eval_acc : -1.0, r.seconds, done, r.epochs_run, (double)r.steps};
    return doubles(env, v, 9);
}

JNIEXPORT void JNICALL Java_ai_autlearn_Model_nativeTrainerFree(JNIEnv *env, jclass cls, jlong trainer) {
    (void)env;
    (void)cls;
    al_trainer_free(from_handle(trainer));
}

JNIEXPORT jlong JNICALL Java_ai_autlearn_Dataset_nativeFromArrays(JNIEnv *env, jclass cls, jfloatArray x,
                                                                  jintArray y, jint n, jintArray shape, jint y_len,
                                                                  jint num_classes) {
    (void)cls;
    jsize nd = (*env)->GetArrayLength(env, shape);
    if (nd < 1 || nd > AL_MAX_DIMS) {
        throw_status(env, AL_ESHAPE, "a sample shape has 1 to 4 dimensions");
        return 0;
    }
    al_tensor xs = {0};
    xs.ndim = nd;
    jint dims[AL_MAX_DIMS];
    (*env)->GetIntArrayRegion(env, shape, 0, nd, dims);
    size_t per = 1;
    for (int i = 0; i < nd; i++) {
        if (dims[i] <= 0) {
            throw_status(env, AL_ESHAPE, "sample shape dimensions must be positive");
            return 0;
        }
        xs.shape[i] = dims[i];
        per *= (size_t)dims[i];
    }
    jsize xlen = (*env)->GetArrayLength(env, x), ylen = (*env)->GetArrayLength(env, y);
    if ((size_t)xlen != per * (size_t)n || (size_t)ylen != (size_t)y_len * (size_t)n) {
        char msg[200];
        snprintf(msg, sizeof msg, "dataset: %d samples of %zu floats and %d labels need %zu and %zu values, got %ld and %ld",
                 (int)n, per, (int)y_len, per * (size_t)n, (size_t)y_len * (size_t)n, (long)xlen, (long)ylen);
        throw_status(env, AL_ESHAPE, msg);
        return 0;
    }
    float *xb = malloc(sizeof(float) * (size_t)(xlen ? xlen : 1));
    int32_t *yb = malloc(sizeof(int32_t) * (size_t)(ylen ? ylen : 1));
    al_dataset *d = NULL;
    if (!xb || !yb) {
        throw_oom(env);
        goto done;
    }
    (*env)->GetFloatArrayRegion(env, x, 0, xlen, xb);
    /* jint and int32_t are both 32-bit two's complement; copy element-wise anyway */
    jint *tmp = (*env)->GetIntArrayElements(env, y, NULL);
    if (!tmp) goto done;
    for (jsize i = 0; i < ylen; i++) yb[i] = (int32_t)tmp[i];
    (*env)->ReleaseIntArrayElements(env, y, tmp, JNI_ABORT);
    al_status st = al_dataset_from_arrays(xb, yb, n, &xs, y_len, num_classes, &d);
    if (st) {
        throw_last(env, st);
        d = NULL;
    }
done:
    free(xb);
    free(yb);
    return to_handle(d);
}

JNIEXPORT jstring JNICALL Java_ai_autlearn_Model_nativeClasses(JNIEnv *env, jclass cls, jlong h) {
    (void)cls;
    const char *s = al_model_meta(((jal_model *)from_handle(h))->m, "autlearn.classes");
    return s ? (*env)->NewStringUTF(env, s) : NULL;
}

/* ARGB ints (Bitmap.getPixels) into a dataset, preprocessed for the model
 * (its autlearn.image.* keys, else its input shape). The Java side checked
 * the counts and that each array holds width * height ints. */
JNIEXPORT jlong JNICALL Java_ai_autlearn_Dataset_nativeFromArgb(JNIEnv *env, jclass cls, jobjectArray pixels,
                                                                jintArray widths, jintArray heights, jintArray labels,
                                                                jint num_classes, jlong model) {
    (void)cls;
    al_model *m = ((jal_model *)from_handle(model))->m;
    al_image_prep p;
    al_status st = al_model_image_prep(m, &p);
    if (st == AL_ESTATE) {
        al_tensor is = al_model_input_shape(m);
        if (is.ndim != 3) {
            throw_status(env, AL_ESHAPE, "the model's input is not an image (channels x height x width)");
            return 0;
        }
        al_image_prep_default(&p, is.shape[0], is.shape[1], is.shape[2]);
        st = AL_OK;
    }
    if (st != AL_OK) {
        throw_last(env, st);
        return 0;
    }
    jsize n = (*env)->GetArrayLength(env, pixels);
    int *w = malloc(sizeof(int) * (size_t)n), *h = malloc(sizeof(int) * (size_t)n), *stride = malloc(sizeof(int) * (size_t)n);
    int32_t *lab = malloc(sizeof(int32_t) * (size_t)n);
    uint32_t **bufs = calloc((size_t)n, sizeof(uint32_t *));
    al_dataset *d = NULL;
    if (!w || !h || !stride || !lab || !bufs) {
        throw_oom(env);
        goto done;
    }
    (*env)->GetIntArrayRegion(env, widths, 0, n, (jint *)w);
    (*env)->GetIntArrayRegion(env, heights, 0, n, (jint *)h);
    (*env)->GetIntArrayRegion(env, labels, 0, n, (jint *)lab);
    for (jsize i = 0; i < n; i++) {
        jintArray a = (jintArray)(*env)->GetObjectArrayElement(env, pixels, i);
        if (!a) goto done;
        jsize len = (*env)->GetArrayLength(env, a);
        if (w[i] <= 0 || w[i] > INT_MAX / 4 || (long long)w[i] * h[i] != (long long)len) {
            (*env)->DeleteLocalRef(env, a);
            throw_status(env, AL_EINVAL, "an image's pixel count is not width x height");
            goto done;
        }
        bufs[i] = malloc(sizeof(uint32_t) * (size_t)(len ? len : 1));
        if (!bufs[i]) {
            (*env)->DeleteLocalRef(env, a);
            throw_oom(env);
            goto done;
        }
        /* jint holds 0xAARRGGBB as a native-endian 32-bit int, as AL_PIXELS_ARGB reads it */
        (*env)->GetIntArrayRegion(env, a, 0, len, (jint *)bufs[i]);
        (*env)->DeleteLocalRef(env, a);
        stride[i] = 4 * w[i];
    }
    st = al_dataset_from_pixels((const void *const *)bufs, w, h, stride, AL_PIXELS_ARGB, lab, n, num_classes, &p, &d);
    if (st) {
        throw_last(env, st);
        d = NULL;
    }
done:
    if (bufs)
        for (jsize i = 0; i < n; i++) free(bufs[i]);
    free(bufs);
    free(w);
    free(h);
    free(stride);
    free(lab);
    return to_handle(d);
}

JNIEXPORT void JNICALL Java_ai_autlearn_Dataset_nativeFree(JNIEnv *env, jclass cls, jlong h) {
    (void)env;
    (void)cls;
    al_dataset_free(from_handle(h));
}
