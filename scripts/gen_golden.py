#!/usr/bin/python3
"""Golden values from PyTorch for tests/test_golden.c.

    /usr/bin/python3 scripts/gen_golden.py tests/golden      (or: make golden)

For each case a tiny PyTorch twin of an autlearn spec is built (the spec is
parsed here with the same keywords and defaults as src/model/spec.c), input
and weights are drawn from a seeded generator, the forward runs in training
mode, and the backward uses the loss L = sum(r * y) for a fixed random r, so
dL/dy = r. Everything is CPU float32; the seed of a case is derived from its
name, so adding a case never changes the others.

File format (<case>.bin, little-endian throughout):

    "ALGD"              4 bytes magic
    u32 version         1
    u32 count           number of records
    count records, each:
        u32 name_len, name bytes (ASCII, no NUL)
        u32 kind        0 = float32 tensor, 1 = string
        u32 ndim        0..4 (a string has ndim 1, dims[0] = its length)
        u32 dims[ndim]
        payload         prod(dims) float32 values, or the string's bytes

Records of a model case:
    spec                     the autlearn spec (string)
    freeze                   [1] optional: nodes below it are frozen (eval
                             mode, no weight gradients)
    x                        input, batch first; token ids as floats
    r                        the loss weights (= dL/dy), shape of y
    y                        output
    dx                       dL/dx (absent when the input holds tokens)
    <i>.<name>               every parameter of node i under autlearn's name
                             (weight, bias, running_mean, weight_ih ...), the
                             values loaded before the forward
    <i>.<name>.grad          its gradient (absent for frozen nodes and for
                             batch-norm running statistics)
    <i>.<name>.after         batch-norm running statistics after the forward
Records of a loss case (softmax cross-entropy, nn.CrossEntropyLoss mean with
ignore_index=-1, so targets < 0 are not counted):
    logits [rows,k], targets [rows] (floats), loss [1] (mean over counted rows),
    dlogits [rows,k], correct [1] (argmax hits among counted rows)

Dropout has no deterministic PyTorch twin (the masks come from different
generators), so it has no golden case; its gradient check lives in its own test.
"""
import os
import struct
import sys
import zlib

import torch
import torch.nn as nn
import torch.nn.functional as F

MAGIC = b"ALGD"
VERSION = 1

# ---- cases -------------------------------------------------------------------
# (name, spec, batch, options)
CASES = [
    ("dense", "input 7; dense 5", 3, {}),
    ("dense_seq_nobias", "input 3x6; dense 4 bias=0", 2, {}),
    ("conv_s2p1", "input 3x7x7; conv 4 k=3 s=2 p=1", 2, {}),
    ("conv_1x1", "input 5x4x4; conv 6 k=1", 3, {}),
    ("conv_k2_nobias", "input 2x5x6; conv 3 k=2 bias=0", 2, {}),
    ("dwconv", "input 4x6x6; dwconv k=3 p=1", 2, {}),
    ("dwconv_s2", "input 3x7x7; dwconv k=3 s=2 p=1", 2, {}),
    # grouped convolution (PyTorch's groups=3), odd shapes
    ("gconv", "input 6x7x5; gconv 9 g=3 k=3 s=2 p=1", 2, {}),
    # dilated convolutions (ONNX dilations; DeepLab): stride 2 + dilation 2 + padding, non-square inputs
    ("conv_dil", "input 3x9x8; conv 4 k=3 s=2 p=2 dil=2", 2, {}),
    ("conv_dil_relu", "input 2x8x11; conv 3 k=2 p=1 dil=3 act=relu", 2, {}),
    ("dwconv_dil", "input 4x9x7; dwconv k=3 s=2 p=1 dil=2 act=relu6", 2, {}),
    ("gconv_dil", "input 6x8x9; gconv 4 g=2 k=3 p=2 dil=3", 2, {}),
    ("maxpool", "input 3x6x6; maxpool k=2", 2, {}),
    ("maxpool_pad", "input 2x7x7; maxpool k=3 s=2 p=1", 3, {}),
    ("avgpool", "input 3x6x6; avgpool k=2", 2, {}),
    ("avgpool_pad", "input 2x7x7; avgpool k=3 s=2 p=1", 3, {}),
    ("gap", "input 3x4x5; gap", 3, {}),
    ("batchnorm", "input 3x4x4; batchnorm", 4, {"bn_random": True}),
    ("batchnorm_1d_opts", "input 6; batchnorm eps=0.001 momentum=0.3", 4, {"bn_random": True}),
    # batch norm frozen (eval mode, running statistics) below a trainable dense
    ("batchnorm_eval", "input 3x4x4; batchnorm; flatten; dense 4", 3, {"bn_random": True, "freeze": 1}),
    ("relu", "input 3x4x4; relu", 2, {}),
    ("relu6", "input 3x4x4; relu6", 2, {"xscale": 5.0}),
    ("tanh", "input 3x4x4; tanh", 2, {"xscale": 2.0}),
    ("sigmoid", "input 3x4x4; sigmoid", 2, {"xscale": 3.0}),
    ("flatten", "input 2x3x4; flatten", 3, {}),
    ("embedding", "tokens 6; embedding 5 vocab=9", 3, {}),
    ("lstm", "input 5x4; lstm 3", 2, {}),
    ("lstm_lm", "tokens 5; embedding 4 vocab=11; lstm 6; dense 11", 3, {}),
    ("gru", "input 5x4; gru 3", 2, {}),
    ("gru_lm", "tokens 5; embedding 4 vocab=11; gru 6; dense 11", 3, {}),
    ("add", "input 6; dense 6; tanh; add 0; dense 3", 3, {}),
    # x spread over all three pieces of the hard activations (|x| > 3 too)
    ("hardswish", "input 3x4x4; hardswish", 2, {"xscale": 3.0}),
    ("hardsigmoid", "input 3x4x4; hardsigmoid", 2, {"xscale": 3.0}),
    # MobileNetV3's squeeze-excite block: the gate scales node 1 per channel
    ("squeeze_excite", "input 3x5x5; conv 6 k=3 p=1; hardswish; gap; dense 3; relu; dense 6; hardsigmoid; mul 1; "
     "conv 4 k=1; flatten; dense 3", 2, {}),
    ("mul_elementwise", "input 6; dense 6; tanh; dense 6; mul 0; dense 3", 3, {}),
    # the tensor operators (issue 14)
    ("silu", "input 3x4x5; silu", 2, {"xscale": 3.0}),
    ("gelu", "input 3x7; gelu", 2, {"xscale": 3.0}),
    ("gelu_tanh", "input 3x7; gelu approximate=tanh", 2, {"xscale": 3.0}),
    ("clip", "input 3x7; clip min=-0.5 max=1.2", 2, {}),
    ("scale", "input 3x7; dense 4; scale -0.35 shift=0.5", 2, {}),
    ("softmax_axis", "input 3x4x5; softmax axis=1", 2, {}),
    ("softmax_last", "input 4x6; dense 6; softmax", 3, {}),
    ("layernorm", "input 3x7; dense 7; layernorm eps=0.001", 2, {}),
    ("reducesum", "input 3x4x5; reducesum axes=-1", 2, {}),
    ("reducemean_keep", "input 3x4x5; reducemean axes=0,2 keepdims=1; dense 2", 2, {}),
    ("transpose", "input 2x3x4; transpose perm=2,0,1; dense 3", 2, {}),
    ("reshape_squeeze", "input 2x3x4; reshape shape=4,-1,2; unsqueeze axes=0; squeeze axes=0; identity; dense 3",
     2, {}),
    ("expand", "input 4x1; expand shape=3,4,5; dense 3", 2, {}),
    ("slice", "input 3x7x2; slice axis=1 start=1 end=-1 step=2", 2, {}),
    ("bcast_add_sub", "input 3x5; dense 1; add -1; reducemean axes=0; sub 1", 2, {}),
    ("bcast_mul_div", "input 3x5; reducemean axes=1 keepdims=1; sigmoid; scale 1 shift=0.5; dense 5 in=input; "
     "div 2; mul -1 bcast=1", 2, {}),
    ("concat", "input 3x5; dense 4; concat -1 axis=-1; dense 2", 2, {}),
    # n-input concat (torch.cat of 4 and of 3 tensors): the model input, a
    # repeated operand, in= lists; and an n-input sum
    ("concat_n", "input 3x5; a: dense 4; b: dense 2 in=input; c: tanh in=a; concat a,input,b axis=-1; dense 3",
     2, {}),
    ("concat_in_list", "input 2x3x4; d: conv 2 k=1; e: sigmoid; concat in=e,input,e axis=0; conv 3 k=3 p=1", 2, {}),
    ("sum_n", "input 6; a: dense 6; b: tanh in=input; sum a,input,a in=b; dense 2", 3, {}),
    # a ViT's position embedding and class token: learned tensors added and prepended
    ("addp", "input 3x5; addp; dense 2", 2, {}),
    ("prepend", "input 4x6; prepend axis=0; addp; dense 3", 2, {}),
    ("prepend_n", "input 2x3x5; prepend 2 axis=1; tanh", 3, {}),
    # one split node of three outputs (torch.split), its ports read by different
    # nodes, one of them twice, in an operand list and as a primary input
    ("split_ports", "input 3x7x2; a: dense 3; s: split axis=1 sizes=2,4,1; t: tanh in=s@1; "
     "c: concat s@2,s,s@1 axis=1 in=t; dense 2", 2, {}),
    # the split of the model input; a later output unused, the last node reading port 1
    ("split_input", "input 5x3; s: split axis=0 sizes=1,3,1 in=input; d: dense 3 in=s@1; add s@0; dense 2", 2, {}),
    # an LSTM's and a GRU's final states as ports (nn.LSTM's (y, (h_n, c_n)), nn.GRU's (y, h_n))
    ("lstm_ports", "input 5x3; l: lstm 4 outputs=3; a: add l@2 in=l@1; d: dense 2; f: flatten in=l; g: dense 2; "
     "sum d", 2, {}),
    ("gru_ports", "input 5x3; g: gru 4 outputs=2; f: flatten in=g; d: dense 3; e: dense 3 in=g@1; add d", 2, {}),
    ("matmul_bcast", "input 2x4x3; reducemean axes=0; transpose perm=1,0; dense 5; matmul 2 in=input", 2, {}),
    # element-wise max / min of two layer outputs, NumPy broadcasting (torch.maximum / torch.minimum)
    ("max_bcast", "input 3x5; a: dense 5; b: dense 1 in=input; max a; dense 2", 2, {}),
    ("min_bcast", "input 4x3; a: dense 3; b: reducemean axes=0 in=a; min a; tanh; dense 2", 2, {}),
    # zero padding of H and W, a different amount on each side (F.pad), then a conv
    ("pad", "input 2x5x4; pad pads=1,0,2,3; conv 3 k=2", 2, {}),
    ("pad_s2", "input 3x6x7; conv 4 k=1; pad pads=0,1,1,0; conv 2 k=2 s=2", 2, {}),
    # -inf padding before a max pool (an ONNX MaxPool padded unevenly)
    ("pad_maxpool", "input 2x5x6; pad pads=0,1,1,0 value=-inf; maxpool k=2", 2, {}),
    # multi-head self-attention (2 heads of 4 over 5 steps), residual, layer norm
    ("attention", "input 5x8; q: dense 8; k: dense 8 in=input; v: dense 8 in=input; "
     "qh: reshape shape=5,2,4 in=q; qt: transpose perm=1,0,2; kh: reshape shape=5,2,4 in=k; kt: transpose perm=1,2,0; "
     "vh: reshape shape=5,2,4 in=v; vt: transpose perm=1,0,2; s: matmul kt in=qt; ss: scale 0.5; "
     "p: softmax axis=-1; o: matmul vt in=p; ot: transpose perm=1,0,2; oc: reshape shape=5,8; proj: dense 8; "
     "res: add input; ln: layernorm", 2, {}),
    ("refcnn_small", "input 1x8x8; conv 4 k=3 p=1; relu; maxpool k=2; flatten; dense 5", 3, {}),
    ("cnn_two_blocks", "input 1x12x12; conv 4 k=3 p=1; relu; maxpool k=2; conv 6 k=3 p=1; relu; "
     "maxpool k=2; flatten; dense 10", 2, {}),
    # frozen conv prefix, trainable tail (the on-device transfer setting)
    ("cnn_frozen_prefix", "input 1x8x8; conv 4 k=3 p=1; relu; maxpool k=2; flatten; dense 5", 2, {"freeze": 3}),
]

CE_CASES = [
    # (name, rows, k, logit scale, targets with -1 = ignored (None: all random))
    ("softmax_ce", 5, 4, 1.0, None),
    ("softmax_ce_ignore_large", 6, 7, 40.0, [2, -1, 0, 6, -1, 3]),
]


# ---- spec parsing (mirrors src/model/spec.c) ---------------------------------
POSITIONAL = {"dense": "units", "conv": "units", "lstm": "units", "gru": "units", "embedding": "units",
              "dropout": "rate", "add": "src", "mul": "src", "maxpool": "k", "avgpool": "k", "dwconv": "k",
              "gconv": "units", "sub": "src", "div": "src", "concat": "src", "matmul": "src", "scale": "alpha",
              "sum": "src", "prepend": "units", "max": "src", "min": "src"}
FLOAT_KEYS = ("eps", "momentum", "rate", "min", "max", "alpha", "shift", "value")
LIST_KEYS = ("axes", "shape", "perm", "sizes", "pads")
REF_KEYS = ("src", "in")


def parse_spec(spec):
    """Layers as dicts; "in" is the index of the primary input (-1: the model
    input), every reference (in=, from=, a binary op's operand) resolved to
    an index, names included; a reference to port p > 0 of a split ("s@1")
    is the pair (index, p)."""
    stmts = [s.split() for s in spec.replace("\n", ";").split(";") if s.strip()]
    head = stmts[0]
    tokens = head[0] == "tokens"
    shape = [int(v) for v in head[1].split("x")]
    layers = []
    names = {}

    def ref(v):
        if "@" in v:
            v, p = v.split("@")
            if int(p):
                return (ref(v), int(p))
        if v == "input":
            return -1
        return names[v] if v in names else int(v)

    for w in stmts[1:]:
        if w[0].endswith(":"):
            names[w[0][:-1]] = len(layers)
            w = w[1:]
        c = {"type": w[0], "bias": 1, "pad": 0, "eps": 1e-5, "momentum": 0.1, "in": len(layers) - 1}
        if w[0] == "softmax":
            c["axis"] = -1
        if w[0] == "slice":
            c.update({"axis": 0, "start": 0, "end": None, "step": 1})
        for i, word in enumerate(w[1:]):
            if "=" in word:
                k, v = word.split("=", 1)
                key = {"s": "stride", "p": "pad", "from": "src"}.get(k, k)
            else:
                key, v = POSITIONAL[w[0]], word
            if key in REF_KEYS and "," in v:  # concat, sum: a list of operands (in=: the primary first)
                refs = [ref(a) for a in v.split(",")]
                if key == "in":
                    c["in"], refs = refs[0], refs[1:]
                c["src"], c["srcs"] = refs[0], refs
            elif key in REF_KEYS:
                c[key] = ref(v)
            elif key in FLOAT_KEYS or key == "rate":
                c[key] = float(v)
            elif key in LIST_KEYS:
                c[key] = [int(a) for a in v.split(",")]
            elif key in ("approximate", "act"):
                c[key] = v
            else:
                c[key] = int(v)
        if c["type"] in ("conv", "dwconv", "gconv"):
            c.setdefault("k", 3)
            c.setdefault("stride", 1)
        if c["type"] in ("maxpool", "avgpool"):
            c.setdefault("k", 2)
            c.setdefault("stride", c["k"])
        layers.append(c)
    return tokens, shape, layers


def tensor_of(ref, outs, model_in):
    """The tensor a reference names: the model input (-1), a node's output,
    or port p of a split's tuple of outputs ((index, p))"""
    i, p = ref if isinstance(ref, tuple) else (ref, 0)
    if i < 0:
        return model_in
    return outs[i][p] if isinstance(outs[i], tuple) else outs[i]


def tdim(a, rank):
    """torch's dim of per-sample axis a of a tensor of per-sample rank `rank`"""
    return (a + rank if a < 0 else a) + 1


def same_rank(a, b):
    """pads the per-sample axes of the lower-rank operand with leading ones
    (after the batch), so that torch broadcasts the per-sample axes as NumPy"""
    while a.dim() < b.dim():
        a = a.unsqueeze(1)
    while b.dim() < a.dim():
        b = b.unsqueeze(1)
    return a, b


class Node(nn.Module):
    """One autlearn node; `params` maps autlearn names to torch tensors."""

    def __init__(self, c, in_shape):
        super().__init__()
        self.c = c
        t = c["type"]
        self.mod = None
        self.params = {}
        if t == "dense":
            self.mod = nn.Linear(in_shape[-1], c["units"], bias=bool(c["bias"]))
            out = in_shape[:-1] + [c["units"]]
            self.params = {"weight": self.mod.weight}
            if c["bias"]:
                self.params["bias"] = self.mod.bias
        elif t in ("conv", "dwconv", "gconv"):
            C, H, W = in_shape
            Fo = C if t == "dwconv" else c["units"]
            groups = {"conv": 1, "dwconv": C, "gconv": c.get("g", 1)}[t]
            d = c.get("dil", 1)
            self.mod = nn.Conv2d(C, Fo, c["k"], c["stride"], c["pad"], dilation=d, groups=groups,
                                 bias=bool(c["bias"]))
            oh = (H + 2 * c["pad"] - d * (c["k"] - 1) - 1) // c["stride"] + 1
            ow = (W + 2 * c["pad"] - d * (c["k"] - 1) - 1) // c["stride"] + 1
            out = [Fo, oh, ow]
            self.params = {"weight": self.mod.weight}
            if c["bias"]:
                self.params["bias"] = self.mod.bias
            if c.get("act"):  # a fused activation (act=relu|relu6)
                self.mod = nn.Sequential(self.mod, {"relu": nn.ReLU(), "relu6": nn.ReLU6()}[c["act"]])
        elif t in ("maxpool", "avgpool"):
            C, H, W = in_shape
            if t == "maxpool":
                self.mod = nn.MaxPool2d(c["k"], c["stride"], c["pad"])
            else:
                self.mod = nn.AvgPool2d(c["k"], c["stride"], c["pad"], count_include_pad=True)
            out = [C, (H + 2 * c["pad"] - c["k"]) // c["stride"] + 1, (W + 2 * c["pad"] - c["k"]) // c["stride"] + 1]
        elif t == "gap":
            self.mod = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1))
            out = [in_shape[0]]
        elif t == "batchnorm":
            cls = nn.BatchNorm2d if len(in_shape) == 3 else nn.BatchNorm1d
            self.mod = cls(in_shape[0], eps=c["eps"], momentum=c["momentum"])
            out = list(in_shape)
            self.params = {"weight": self.mod.weight, "bias": self.mod.bias,
                           "running_mean": self.mod.running_mean, "running_var": self.mod.running_var}
        elif t in ("relu", "relu6", "tanh", "sigmoid", "hardswish", "hardsigmoid"):
            self.mod = {"relu": nn.ReLU(), "relu6": nn.ReLU6(), "tanh": nn.Tanh(), "sigmoid": nn.Sigmoid(),
                        "hardswish": nn.Hardswish(), "hardsigmoid": nn.Hardsigmoid()}[t]
            out = list(in_shape)
        elif t == "flatten":
            self.mod = nn.Flatten(1)
            n = 1
            for d in in_shape:
                n *= d
            out = [n]
        elif t == "embedding":
            self.mod = nn.Embedding(c["vocab"], c["units"])
            out = list(in_shape) + [c["units"]]
            self.params = {"weight": self.mod.weight}
        elif t == "lstm":
            self.mod = nn.LSTM(in_shape[-1], c["units"], num_layers=1, batch_first=True)
            out = [in_shape[0], c["units"]]
            self.params = {"weight_ih": self.mod.weight_ih_l0, "weight_hh": self.mod.weight_hh_l0,
                           "bias_ih": self.mod.bias_ih_l0, "bias_hh": self.mod.bias_hh_l0}
        elif t == "gru":
            self.mod = nn.GRU(in_shape[-1], c["units"], num_layers=1, batch_first=True)
            out = [in_shape[0], c["units"]]
            self.params = {"weight_ih": self.mod.weight_ih_l0, "weight_hh": self.mod.weight_hh_l0,
                           "bias_ih": self.mod.bias_ih_l0, "bias_hh": self.mod.bias_hh_l0}
        elif t == "layernorm":
            self.mod = nn.LayerNorm(in_shape[-1], eps=c["eps"])
            self.params = {"weight": self.mod.weight, "bias": self.mod.bias}
        elif t == "silu":
            self.mod = nn.SiLU()
        elif t == "gelu":
            self.mod = nn.GELU(approximate=c.get("approximate", "none"))
        elif t == "addp":  # a learned tensor of the input's per-sample shape
            self.weight = nn.Parameter(0.5 * torch.randn(in_shape))
            self.params = {"weight": self.weight}
        elif t == "prepend":  # learned entries before the input along one axis
            ps = list(in_shape)
            ps[c.get("axis", 0)] = c.get("units", 1)
            self.weight = nn.Parameter(0.5 * torch.randn(ps))
            self.params = {"weight": self.weight}
        elif t in ("add", "mul", "sub", "div", "max", "min", "pad", "concat", "sum", "matmul", "clip", "scale", "softmax",
                   "reducemean",
                   "reducesum", "transpose", "reshape", "squeeze", "unsqueeze", "identity", "slice", "expand",
                   "split"):
            pass
        else:
            raise ValueError("no PyTorch twin for layer '%s'" % t)
        self.out_shape = None  # set by model_case from a forward

    def forward(self, x, outs, model_in):
        t = self.c["type"]
        c = self.c
        r = x.dim() - 1  # per-sample rank
        if t == "split":  # a tuple: output p is port p
            return torch.split(x, c["sizes"], dim=tdim(c.get("axis", 0), r))
        if t in ("concat", "sum"):
            ops = [x] + [tensor_of(s, outs, model_in) for s in c.get("srcs", [c["src"]])]
            if t == "sum":
                return sum(ops[1:], ops[0])
            return torch.cat(ops, dim=tdim(c.get("axis", 0), r))
        if t in ("add", "sub", "div", "max", "min", "concat", "matmul") or (t == "mul" and c.get("bcast", 0)):
            a, b = same_rank(x, tensor_of(c["src"], outs, model_in))
            if t == "concat":
                return torch.cat([x, b], dim=tdim(c.get("axis", 0), r))
            return {"add": torch.add, "sub": torch.sub, "div": torch.div, "mul": torch.mul,
                    "max": torch.maximum, "min": torch.minimum, "matmul": torch.matmul}[t](a, b)
        if t == "pad":  # pads = top, left, bottom, right; F.pad takes (left, right, top, bottom)
            p = c["pads"]
            return F.pad(x, (p[1], p[3], p[0], p[2]), value=c.get("value", 0.0))
        if t == "addp":
            return x + self.weight
        if t == "prepend":
            p = self.weight.unsqueeze(0).expand([x.shape[0]] + list(self.weight.shape))
            return torch.cat([p, x], dim=tdim(c.get("axis", 0), r))
        if t == "clip":
            return torch.clamp(x, c.get("min", float("-inf")), c.get("max", float("inf")))
        if t == "scale":
            return x * c["alpha"] + c.get("shift", 0.0)
        if t == "softmax":
            return torch.softmax(x, dim=tdim(c["axis"], r))
        if t in ("reducemean", "reducesum"):
            dims = [tdim(a, r) for a in c.get("axes", range(r))]
            f = torch.mean if t == "reducemean" else torch.sum
            y = f(x, dim=dims, keepdim=bool(c.get("keepdims", 0)))
            return y.reshape(x.shape[0], 1) if y.dim() == 1 else y
        if t == "transpose":
            return x.permute([0] + [p + 1 for p in c["perm"]])
        if t == "reshape":
            return x.reshape([x.shape[0]] + c["shape"])
        if t == "squeeze":
            axes = [tdim(a, r) for a in c["axes"]] if "axes" in c else [d for d in range(1, r + 1) if x.shape[d] == 1]
            for d in sorted(axes, reverse=True):
                x = x.squeeze(d)
            return x
        if t == "unsqueeze":
            ro = r + len(c["axes"])
            for d in sorted(tdim(a, ro) for a in c["axes"]):
                x = x.unsqueeze(d)
            return x
        if t == "identity":
            return x
        if t == "expand":
            # NumPy's rule, aligned on the right: the per-sample axes grow to c["shape"]
            shape = c["shape"]
            while x.dim() - 1 < len(shape):
                x = x.unsqueeze(1)
            return x.expand([x.shape[0]] + shape)
        if t == "slice":
            d = tdim(c["axis"], r)
            idx = [slice(None)] * x.dim()
            idx[d] = slice(c["start"], c["end"], c["step"])
            return x[tuple(idx)]
        if t == "mul":
            # the scale x covers the earlier tensor's leading axes: [N, C] -> [N, C, 1, 1]
            x2 = tensor_of(self.c["src"], outs, model_in)
            return x2 * x.reshape(list(x.shape) + [1] * (x2.dim() - x.dim()))
        if t == "embedding":
            return self.mod(x.long())
        if t in ("lstm", "gru"):
            y, hs = self.mod(x)
            if c.get("outputs", 1) > 1:  # the final states as ports: h_n (and c_n), batch first
                hs = hs if t == "lstm" else (hs,)
                return (y,) + tuple(h[0] for h in hs)[:c["outputs"] - 1]
            return y
        return self.mod(x)


def state_names(node):
    return ("running_mean", "running_var") if node.c["type"] == "batchnorm" else ()


# ---- file writing ----------------------------------------------------------------
class Writer:
    def __init__(self):
        self.recs = []

    def tensor(self, name, t):
        a = t.detach().to(torch.float32).contiguous().cpu()
        dims = list(a.shape)
        assert len(dims) <= 4, name
        body = struct.pack("<I", 0) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<I", d) for d in dims)
        body += struct.pack("<%df" % a.numel(), *a.flatten().tolist())
        self._add(name, body)

    def string(self, name, s):
        b = s.encode("ascii")
        self._add(name, struct.pack("<III", 1, 1, len(b)) + b)

    def _add(self, name, body):
        nb = name.encode("ascii")
        self.recs.append(struct.pack("<I", len(nb)) + nb + body)

    def save(self, path):
        data = MAGIC + struct.pack("<II", VERSION, len(self.recs)) + b"".join(self.recs)
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
        return len(data)


def case_generator(name):
    g = torch.Generator().manual_seed(zlib.crc32(name.encode()) & 0x7FFFFFFF)
    torch.manual_seed(zlib.crc32(name.encode()) & 0x7FFFFFFF)
    return g


def model_case(name, spec, batch, opt):
    g = case_generator(name)
    tokens, shape, layers = parse_spec(spec)
    nodes = []
    # every node's output shape from a forward of one zero sample (draws nothing
    # from the generators, so the weights are those of the modules' creation order)
    dummy = torch.zeros([1] + shape)
    douts = []
    for c in layers:
        xin = tensor_of(c["in"], douts, dummy)
        nd = Node(c, list(xin.shape[1:]))
        nd.eval()  # batch norm: no running-statistics update
        with torch.no_grad():
            o = nd(xin.long() if nd.c["type"] == "embedding" else xin, douts, dummy)
        nd.out_shape = list((o[0] if isinstance(o, tuple) else o).shape[1:])
        douts.append(o)
        nodes.append(nd)
    freeze = opt.get("freeze", 0)
    with torch.no_grad():
        for nd in nodes:
            # PyTorch's default init already matches autlearn's; batch norm gets
            # random affine weights and statistics so the test can tell them apart.
            if nd.c["type"] == "layernorm":
                D = nd.params["weight"].shape[0]
                nd.params["weight"].copy_(1.0 + 0.5 * torch.randn(D, generator=g))
                nd.params["bias"].copy_(0.5 * torch.randn(D, generator=g))
            if nd.c["type"] == "batchnorm" and opt.get("bn_random"):
                C = nd.params["weight"].shape[0]
                nd.params["weight"].copy_(1.0 + 0.5 * torch.randn(C, generator=g))
                nd.params["bias"].copy_(0.5 * torch.randn(C, generator=g))
                nd.params["running_mean"].copy_(0.5 * torch.randn(C, generator=g))
                nd.params["running_var"].copy_(0.5 + 1.5 * torch.rand(C, generator=g))
    for i, nd in enumerate(nodes):
        nd.train(i >= freeze)
        for p in nd.parameters():
            p.requires_grad_(i >= freeze)

    if tokens:
        vocab = layers[0]["vocab"]
        x = torch.randint(0, vocab, [batch] + shape, generator=g).to(torch.float32)
        x[0, 0] = x[0, 1]  # a repeated id: its embedding gradient accumulates
    else:
        x = opt.get("xscale", 1.0) * torch.randn([batch] + shape, generator=g)
        x.requires_grad_(True)

    w = Writer()
    w.string("spec", spec)
    if freeze:
        w.tensor("freeze", torch.tensor([float(freeze)]))
    w.tensor("x", x)
    for i, nd in enumerate(nodes):
        for pname, p in nd.params.items():
            w.tensor("%d.%s" % (i, pname), p)

    outs = []
    for nd in nodes:
        outs.append(nd(tensor_of(nd.c["in"], outs, x), outs, x))
    y = outs[-1][0] if isinstance(outs[-1], tuple) else outs[-1]
    r = torch.randn(y.shape, generator=g)
    (r * y).sum().backward()

    w.tensor("r", r)
    w.tensor("y", y)
    if not tokens:
        w.tensor("dx", x.grad)
    for i, nd in enumerate(nodes):
        for pname, p in nd.params.items():
            if pname in state_names(nd):
                w.tensor("%d.%s.after" % (i, pname), p)
            elif i >= freeze:
                w.tensor("%d.%s.grad" % (i, pname), p.grad)
    return w


def ce_case(name, rows, k, scale, targets):
    g = case_generator(name)
    logits = (scale * torch.randn(rows, k, generator=g)).requires_grad_(True)
    if targets is None:
        t = torch.randint(0, k, (rows,), generator=g)
    else:
        t = torch.tensor(targets, dtype=torch.long)
    loss = F.cross_entropy(logits, t, ignore_index=-1, reduction="mean")
    loss.backward()
    counted = t >= 0
    correct = (logits.detach().argmax(1) == t)[counted].sum()
    w = Writer()
    w.tensor("logits", logits)
    w.tensor("targets", t.to(torch.float32))
    w.tensor("loss", loss.reshape(1))
    w.tensor("dlogits", logits.grad)
    w.tensor("correct", correct.to(torch.float32).reshape(1))
    return w


def main():
    if len(sys.argv) != 2:
        sys.stderr.write("usage: gen_golden.py OUTDIR\n")
        return 2
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    total = 0
    for name, spec, batch, opt in CASES:
        total += model_case(name, spec, batch, opt).save(os.path.join(out, name + ".bin"))
    for name, rows, k, scale, targets in CE_CASES:
        total += ce_case(name, rows, k, scale, targets).save(os.path.join(out, name + ".bin"))
    n = len(CASES) + len(CE_CASES)
    print("gen_golden: wrote %d cases, %d bytes, to %s" % (n, total, out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
