/* int8 quantization of the frozen part (docs/COMPILE.md, "int8").
 *
 * Weights: per output channel, symmetric: scale_c = max_k |w[c][k]| / 127,
 * q[c][k] = round(w[c][k] / scale_c) in [-127, 127]. After quantizing, the
 * node's float weights are overwritten with q * scale (dequantized), so the
 * float path and the int8 path compute with the same weights, and
 * unfreezing the node trains from exactly what the int8 path used.
 *
 * Activations: quantized dynamically in the forward pass, symmetric int8
 * with one scale per batch row (dense: per row of the last dimension; conv:
 * per sample; dwconv: per plane, i.e. sample and channel), so a sample's
 * output does not depend on the rest of its
 * batch (the activation cache relies on that). int32 accumulation, then
 * y = acc * scale_x * scale_w[c] + bias[c] in float.
 *
 * A node uses the int8 forward while it holds int8 weights (nd->q) and is
 * frozen; al_model_freeze drops the int8 weights of nodes it makes
 * trainable (their floats stay), so a trained node is never run with stale
 * int8 weights. Quantizing raises the nodes' scratch and drops the model's
 * plan (the next forward plans again). */
#ifndef AL_CLOUD_QUANT_H
#define AL_CLOUD_QUANT_H

#include "autlearn_cloud.h"
#include "model/model.h"


/* Nodes with fewer inputs per output channel (K = in, or C*k*k) stay float
 * in al_quantize_frozen: with K this short the int8 kernels spend their time
 * on edges and reductions, not products (a C = 1 3x3 conv, K = 9, ran 6x
 * slower in int8 than in float on bench_conv), and the rounding would buy
 * nothing. */
#define AL_QUANT_MIN_K 32

/* al_quantize_frozen (autlearn_cloud.h): every frozen dense and conv node
 * below m->freeze with K >= AL_QUANT_MIN_K; nodes already
 * quantized are kept. The compiler's entry point (autlearn compile --int8)
 * and autlearn quantize's. */
/* al_quantize_frozen (dw 0) or al_quantize_frozen_dw (dw 1) with another
 * threshold than AL_QUANT_MIN_K: the dense and conv nodes with K >= min_k
 * (autlearn compile --int8-min-k). */
al_status al_quantize_frozen_k(al_model *m, int dw, int min_k, int *count);
/* Quantizes node i (dense, conv or dwconv, frozen). */
al_status al_quantize_node(al_model *m, int i);
/* al_quantize_calibrate over n samples x laid end to end (the model's
 * input shape each). */
al_status al_quantize_calibrate_x(al_model *m, al_pool *pool, const float *x, int n, double pct, int *count);
/* The percentile al_quantize_calibrate uses unless told otherwise
 * (autlearn compile --calib-pct). */
#define AL_CALIB_PCT_DEFAULT 99.99
/* The int8 runtime (al_quant_install, al_dequantize, al_node_is_quantized,
 * al_model_quantized_count) is the device library's: model/model.h. */

#endif
