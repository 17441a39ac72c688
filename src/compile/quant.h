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
 * per sample), so a sample's output does not depend on the rest of its
 * batch (the activation cache relies on that). int32 accumulation, then
 * y = acc * scale_x * scale_w[c] + bias[c] in float.
 *
 * A node uses the int8 forward while it holds int8 weights (nd->q) and is
 * frozen; al_model_freeze drops the int8 weights of nodes it makes
 * trainable (their floats stay), so a trained node is never run with stale
 * int8 weights. Quantizing raises the nodes' scratch and drops the model's
 * plan (the next forward plans again). */
#ifndef AL_COMPILE_QUANT_H
#define AL_COMPILE_QUANT_H

#include "al_internal.h"

#include <stdint.h>

struct al_qnode {
    int N, K;        /* output channels (rows of w); inputs per channel (in, or C*k*k) */
    int8_t *w;       /* N x K, row-major (PyTorch's weight layout, flattened) */
    float *scale;    /* N */
    int32_t *rowsum; /* N: sum_k w[c][k], for the VNNI kernel */
    uint32_t *wpack; /* w packed for the VNNI kernels (kernels/int8.h): dense
                      * always, conv when al_i8conv_same_applies; else NULL */
};

/* Nodes with fewer inputs per output channel (K = in, or C*k*k) stay float
 * in al_quantize_frozen: with K this short the int8 kernels spend their time
 * on edges and reductions, not products (a C = 1 3x3 conv, K = 9, ran 6x
 * slower in int8 than in float on bench_conv), and the rounding would buy
 * nothing. */
#define AL_QUANT_MIN_K 32

/* Quantizes every dense and conv node below m->first_trainable (the frozen
 * prefix) with K >= AL_QUANT_MIN_K; nodes already quantized are kept as
 * they are. *count (may be
 * NULL) gets the number of quantized nodes afterwards. The compiler's entry
 * point (autlearn compile --int8) and autlearn quantize's. */
al_status al_quantize_frozen(al_model *m, int *count);
/* Quantizes node i (dense or conv, frozen). */
al_status al_quantize_node(al_model *m, int i);
/* Drops every node's int8 weights; the dequantized floats stay. */
void al_dequantize(al_model *m);
/* 1 when node i holds int8 weights. */
int al_node_is_quantized(const al_model *m, int i);
int al_model_quantized_count(const al_model *m);

/* Installs int8 weights read from a file (model_io.c): q is N x K, scale
 * N (finite, > 0); sets the float weights to q * scale. */
al_status al_quant_install(al_model *m, int i, const int8_t *q, const float *scale);
/* Copies src's int8 weights into dst (same architecture; al_model_clone). */
al_status al_quant_copy(al_model *dst, const al_model *src);
void al_qnode_free(struct al_qnode *q);

/* The int8 forward of a dense or conv node with nd->q (the layers' forward
 * calls it for frozen quantized nodes). */
al_status al_quant_forward(al_node *nd, const al_exec *e, const float *x, float *y, int n);

#endif
