/* ONNX import (cloud side): turns an ONNX model exported by PyTorch (or any
 * other framework) into an autlearn model. Built as its own static library,
 * libautlearn_onnx, only when protobuf-c is found (cmake/onnx.cmake); the
 * device library libautlearn does not depend on it. docs/ONNX.md lists the
 * supported operators and attributes. */
#ifndef AL_ONNX_IMPORT_H
#define AL_ONNX_IMPORT_H

#include "autlearn.h"

#ifdef __cplusplus
extern "C" {
#endif

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
#endif /* AL_ONNX_IMPORT_H */
