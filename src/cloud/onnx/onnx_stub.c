/* ONNX import when the build has no protobuf-c (cmake/onnx.cmake): the
 * entry points exist and say how to get the real ones. */
#include "autlearn_cloud.h"
#include "core/core.h"

al_status al_model_import_onnx(const char *path, al_model **out) {
    AL_UNUSED(path);
    if (out) *out = NULL;
    return al_error(AL_EUNSUPPORTED, "ONNX import is not built: install libprotobuf-c-dev, protobuf-c-compiler "
                                     "and python3-onnx, then configure again");
}

al_status al_model_import_onnx_mem(const void *buf, size_t n, al_model **out) {
    AL_UNUSED(buf);
    AL_UNUSED(n);
    if (out) *out = NULL;
    return al_model_import_onnx(NULL, out);
}
