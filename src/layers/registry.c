/* Layer type names (the spec keywords) and vtables. */
#include "layers/layers.h"

#include <string.h>

extern const al_layer_vt al_dense_vt, al_conv2d_vt, al_dwconv2d_vt, al_maxpool_vt, al_avgpool_vt, al_gap_vt,
    al_batchnorm_vt, al_relu_vt, al_relu6_vt, al_tanh_vt, al_sigmoid_vt, al_dropout_vt, al_flatten_vt,
    al_embedding_vt, al_lstm_vt, al_add_vt, al_hardswish_vt, al_hardsigmoid_vt, al_mul_vt, al_gru_vt, al_silu_vt,
    al_gelu_vt, al_clip_vt, al_softmax_vt, al_layernorm_vt, al_reducemean_vt, al_reducesum_vt, al_transpose_vt,
    al_reshape_vt, al_squeeze_vt, al_unsqueeze_vt, al_identity_vt, al_slice_vt, al_sub_vt, al_div_vt, al_concat_vt,
    al_matmul_vt, al_scale_vt, al_gconv_vt, al_expand_vt, al_sum_vt, al_addp_vt, al_prepend_vt, al_split_vt,
    al_max_vt, al_min_vt, al_pad_vt;

static const al_layer_vt *vtable_of(al_layer_type t) {
    switch (t) {
    case AL_L_DENSE: return &al_dense_vt;
    case AL_L_CONV2D: return &al_conv2d_vt;
    case AL_L_DWCONV2D: return &al_dwconv2d_vt;
    case AL_L_MAXPOOL: return &al_maxpool_vt;
    case AL_L_AVGPOOL: return &al_avgpool_vt;
    case AL_L_GAP: return &al_gap_vt;
    case AL_L_BATCHNORM: return &al_batchnorm_vt;
    case AL_L_RELU: return &al_relu_vt;
    case AL_L_RELU6: return &al_relu6_vt;
    case AL_L_TANH: return &al_tanh_vt;
    case AL_L_SIGMOID: return &al_sigmoid_vt;
    case AL_L_DROPOUT: return &al_dropout_vt;
    case AL_L_FLATTEN: return &al_flatten_vt;
    case AL_L_EMBEDDING: return &al_embedding_vt;
    case AL_L_LSTM: return &al_lstm_vt;
    case AL_L_ADD: return &al_add_vt;
    case AL_L_HARDSWISH: return &al_hardswish_vt;
    case AL_L_HARDSIGMOID: return &al_hardsigmoid_vt;
    case AL_L_MUL: return &al_mul_vt;
    case AL_L_GRU: return &al_gru_vt;
    case AL_L_SILU: return &al_silu_vt;
    case AL_L_GELU: return &al_gelu_vt;
    case AL_L_CLIP: return &al_clip_vt;
    case AL_L_SOFTMAX: return &al_softmax_vt;
    case AL_L_LAYERNORM: return &al_layernorm_vt;
    case AL_L_REDUCEMEAN: return &al_reducemean_vt;
    case AL_L_REDUCESUM: return &al_reducesum_vt;
    case AL_L_TRANSPOSE: return &al_transpose_vt;
    case AL_L_RESHAPE: return &al_reshape_vt;
    case AL_L_SQUEEZE: return &al_squeeze_vt;
    case AL_L_UNSQUEEZE: return &al_unsqueeze_vt;
    case AL_L_IDENTITY: return &al_identity_vt;
    case AL_L_SLICE: return &al_slice_vt;
    case AL_L_SUB: return &al_sub_vt;
    case AL_L_DIV: return &al_div_vt;
    case AL_L_CONCAT: return &al_concat_vt;
    case AL_L_MATMUL: return &al_matmul_vt;
    case AL_L_SCALE: return &al_scale_vt;
    case AL_L_GCONV: return &al_gconv_vt;
    case AL_L_EXPAND: return &al_expand_vt;
    case AL_L_SUM: return &al_sum_vt;
    case AL_L_ADDP: return &al_addp_vt;
    case AL_L_PREPEND: return &al_prepend_vt;
    case AL_L_SPLIT: return &al_split_vt;
    case AL_L_MAX: return &al_max_vt;
    case AL_L_MIN: return &al_min_vt;
    case AL_L_PAD: return &al_pad_vt;
    case AL_L_COUNT: break;
    }
    return NULL;
}

static const char *const names[AL_L_COUNT] = {
    "dense", "conv", "dwconv", "maxpool", "avgpool", "gap", "batchnorm", "relu",
    "relu6", "tanh", "sigmoid", "dropout", "flatten", "embedding", "lstm", "add",
    "hardswish", "hardsigmoid", "mul", "gru", "silu", "gelu", "clip", "softmax",
    "layernorm", "reducemean", "reducesum", "transpose", "reshape", "squeeze", "unsqueeze", "identity",
    "slice", "sub", "div", "concat", "matmul", "scale", "gconv", "expand", "sum",
    "addp", "prepend", "split", "max", "min", "pad",
};

const al_layer_vt *al_layer_vtable(al_layer_type t) {
    if ((int)t < 0 || t >= AL_L_COUNT) return NULL;
    return vtable_of(t);
}

extern const al_layer_multi_vt al_split_mvt, al_lstm_mvt, al_gru_mvt;

const al_layer_multi_vt *al_layer_multi_vtable(al_layer_type t) {
    return t == AL_L_SPLIT ? &al_split_mvt : t == AL_L_LSTM ? &al_lstm_mvt : t == AL_L_GRU ? &al_gru_mvt : NULL;
}

int al_layer_type_from_name(const char *name, al_layer_type *out) {
    for (int i = 0; i < AL_L_COUNT; i++)
        if (strcmp(names[i], name) == 0) {
            *out = (al_layer_type)i;
            return 1;
        }
    return 0;
}

const char *al_layer_type_name(al_layer_type t) {
    if ((int)t < 0 || t >= AL_L_COUNT) return "?";
    return names[t];
}

void al_node_param(al_node *nd, int i, const char *name, int ndim, const int *dims, int is_state) {
    al_param *p = &nd->params[i];
    p->name = name;
    p->ndim = ndim;
    p->n = 1;
    for (int d = 0; d < 4; d++) p->dims[d] = d < ndim ? dims[d] : 0;
    for (int d = 0; d < ndim; d++) p->n *= (size_t)dims[d];
    p->is_state = is_state;
    if (i >= nd->nparams) nd->nparams = i + 1;
}

int al_name_valid(const char *s) {
    if (!s || !*s || (*s >= '0' && *s <= '9') || *s == '-' || *s == '+' || !strcmp(s, "input")) return 0;
    size_t n = 0;
    for (; s[n]; n++) {
        unsigned char c = (unsigned char)s[n];
        if (n + 1 >= AL_MAX_NAME || c <= ' ' || c >= 127 || c == ';' || c == '=' || c == ':' || c == ',') return 0;
    }
    return 1;
}
