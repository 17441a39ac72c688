#!/usr/bin/env python3
"""Exports the ONNX import test's models with PyTorch, with inputs and
PyTorch's outputs as raw little-endian float32 files.

usage: onnx_export.py OUTDIR

Writes into OUTDIR:
  cnn.onnx  cnn.in.f32  cnn.out.f32   a CNN with batch norm (2-D after a residual
                                      add, 1-D after a Gemm; torch fuses the one
                                      after a Conv), dropout, depthwise conv, ReLU6,
                                      padded average pooling, a flatten + Gemm head
                                      and a final Softmax
  gap.onnx  gap.in.f32  gap.out.f32   Conv -> GlobalAveragePool -> view(n, -1) -> Linear
  ceil.onnx ceil.in.f32 ceil.out.f32  MaxPool and AveragePool (padded) in ceil mode on odd sizes
  lm.onnx   lm.in.f32   lm.out.f32    the reference LM's shape (embedding ->
                                      LSTM -> Linear, batch_first), smaller
  se.onnx   se.in.f32   se.out.f32    MobileNetV3's pieces: Hardswish, a squeeze-excite
                                      block (AdaptiveAvgPool -> 1x1 Conv -> ReLU -> 1x1 Conv
                                      -> Hardsigmoid -> Mul), a residual add, a Hardswish
                                      classifier; opset 13, where torch writes Hardswish
                                      as x * HardSigmoid(x)
  se14.onnx                           the same at opset 14 (HardSwish); its outputs are
                                      se.out.f32
  group.onnx (.in.f32, .out.f32)  grouped convolutions (2 and 3 groups)
  range.onnx (.in.f32, .out.f32)  Range/Shape/Cast shape arithmetic and an in-order reshape
  expand.onnx (.in.f32, .out.f32)  an Expand of a layer output
  bad_dilation.onnx  a Conv dilated differently in H and W
  dilation.onnx (.in.f32, .out.f32)  dilated Conv, depthwise and grouped (stride 2 + dilation 2 + padding,
                                  dilation 3), a non-square input
  asympad.onnx (.in.f32, .out.f32)  Pads with different sides (F.pad: ONNX Pad) before Convs (one
                                  the 'same' padding of an even kernel) and an AvgPool; a zero Pad
                                  before a MaxPool
  maxmin.onnx (.in.f32, .out.f32)  torch.maximum / torch.minimum of layer outputs, broadcast over
                                  channels and over H, W (a pooled gate), clamp_min by a number
  autopad.onnx (.in.f32, .out.f32)  written with onnx.helper: Conv with auto_pad SAME_UPPER and
                                  SAME_LOWER, an AveragePool with pads [0, 1, 1, 0], a MaxPool with
                                  pads [1, 0, 0, 1], a 3-input Max
                                  and a Min with a constant number (outputs computed with torch)
  bad_reflect.onnx  a reflect Pad;  bad_maxpool_asym.onnx  a MaxPool padded as wide as its window
  bad_bilstm.onnx  a bidirectional LSTM
  softmax_mid.onnx (.in.f32, .out.f32)  a Softmax in the middle of the graph
  bad_softmax_mid.onnx  a Softmax over the batch axis in the middle of the graph
  bad_leaky.onnx   an operator we do not have (LeakyRelu)
  bad_hsig.onnx    se14.onnx with a HardSigmoid of alpha 0.2 (not PyTorch's)
  bad_mulconst.onnx  a Mul by a constant vector (a Mul by one number is a scale layer)
  split.onnx (.in.f32, .out.f32)  Split, Slice and Concat of layer outputs, a Mul by one number
  rnnstate.onnx (.in.f32, .out.f32)  an LSTM's and a GRU's final states (Y_h, Y_c) read by the head
  splitbr.onnx (.in.f32, .out.f32)  torch.split feeding different branches (one split node each)
  densecat.onnx (.in.f32, .out.f32)  a DenseNet-like block: Concats of 3 and of 4 layer outputs
                                  (the block input among them, one repeated)
  summean.onnx (.in.f32, .out.f32)  Sum of 3 and Mean of 4 layer outputs (written with
                                  onnx.helper: torch exports no Sum; the outputs are PyTorch's)
  bad_slice.onnx   a Slice of a layer's output along the batch axis
  bad_token_after.onnx  a learned token concatenated after the tokens
  bad_h0.onnx      lm.onnx with an initial state that is a learned vector expanded over the batch
Run with Debian's /usr/bin/python3 (python3-torch, python3-onnx).
"""
import os
import sys

import numpy as np
import onnx
import onnx.helper
import onnx.numpy_helper
import torch
import torch.nn as nn

OPSET = 13  # torch 1.13 exports 7..17; 13 moves Squeeze/Unsqueeze axes to inputs


class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 8, 3, padding=1)
        self.b1 = nn.BatchNorm2d(8)
        self.p1 = nn.MaxPool2d(2)
        self.c2 = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.b2 = nn.BatchNorm2d(8)
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.p2 = nn.AvgPool2d(3, stride=2, padding=1)
        self.c3 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.drop = nn.Dropout(0.25)
        self.fc1 = nn.Linear(16 * 4 * 4, 32)
        self.b3 = nn.BatchNorm1d(32)
        self.fc2 = nn.Linear(32, 10)

    def logits(self, x):
        x = self.p1(torch.relu(self.b1(self.c1(x))))            # 8x14x14 (b1 fused into c1)
        x = self.b2(x + self.c2(x))                              # residual add, batch norm
        x = torch.clamp(self.dw(x), 0.0, 6.0)                    # ReLU6 (Clip)
        x = torch.sigmoid(self.c3(self.p2(x)))                   # 8x7x7 -> 16x4x4
        x = torch.flatten(x, 1)
        return self.fc2(torch.tanh(self.b3(self.fc1(self.drop(x)))))

    def forward(self, x):
        return torch.softmax(self.logits(x), dim=1)              # dropped on import


class GAP(nn.Module):
    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(3, 12, 3, padding=1)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(12, 5)

    def forward(self, x):
        x = self.gap(torch.relu(self.c(x)))
        return self.fc(x.view(x.size(0), -1))


class LM(nn.Module):
    def __init__(self, vocab=50, emb=16, hidden=24):
        super().__init__()
        self.emb = nn.Embedding(vocab, emb)
        self.lstm = nn.LSTM(emb, hidden, batch_first=True)
        self.out = nn.Linear(hidden, vocab)

    def forward(self, t):
        h, _ = self.lstm(self.emb(t))
        return self.out(h)


class SE(nn.Module):
    """A MobileNetV3 block in small: expand, depthwise, squeeze-excite,
    project, residual; then the classifier with Hardswish."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.Hardswish())
        self.expand = nn.Sequential(nn.Conv2d(8, 16, 1), nn.Hardswish())
        self.dw = nn.Sequential(nn.Conv2d(16, 16, 3, padding=1, groups=16), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(16, 4, 1)
        self.fc2 = nn.Conv2d(4, 16, 1)
        self.project = nn.Conv2d(16, 8, 1)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1), nn.Linear(8, 12), nn.Hardswish(),
                                  nn.Dropout(0.2), nn.Linear(12, 5))

    def forward(self, x):
        x = self.stem(x)
        h = self.dw(self.expand(x))
        s = nn.functional.hardsigmoid(self.fc2(torch.relu(self.fc1(self.pool(h)))))
        return self.head(x + self.project(h * s))


def randomize_bn(m, g):
    for mod in m.modules():
        if isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d)):
            n = mod.num_features
            mod.running_mean.copy_(torch.randn(n, generator=g) * 0.3)
            mod.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            mod.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            mod.bias.data.copy_(torch.randn(n, generator=g) * 0.2)


def export(model, x, path, dynamic=True, opset=OPSET):
    model.eval()
    torch.onnx.export(model, x, path, opset_version=opset, input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}} if dynamic else None,
                      do_constant_folding=True)


def keep_dropout(path, before_op, ratio):
    """torch drops Dropout in eval mode; put one back in front of the first
    `before_op` node, so the importer's Dropout mapping is exercised."""
    m = onnx.load(path)
    g = m.graph
    for i, nd in enumerate(g.node):
        if nd.op_type == before_op:
            src = nd.input[0]
            nd.input[0] = src + "_dropped"
            r = onnx.helper.make_tensor("dropout_ratio", onnx.TensorProto.FLOAT, [], [ratio])
            g.initializer.append(r)
            g.node.insert(i, onnx.helper.make_node("Dropout", [src, "dropout_ratio"], [src + "_dropped"],
                                                   name="inserted_dropout"))
            break
    onnx.checker.check_model(m)
    onnx.save(m, path)


def save_f32(path, a):
    np.ascontiguousarray(a, dtype="<f4").tofile(path)


def export_io(out, name, model, x):
    """Exports model (eval mode) as NAME.onnx with its probe input and
    PyTorch's output on it, NAME.in.f32 and NAME.out.f32."""
    model.eval()
    export(model, x, f"{out}/{name}.onnx")
    with torch.no_grad():
        y = model(x)
    save_f32(f"{out}/{name}.in.f32", x.numpy())
    save_f32(f"{out}/{name}.out.f32", y.numpy())


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(7)
    g = torch.Generator().manual_seed(7)

    cnn = CNN()
    with torch.no_grad():
        randomize_bn(cnn, g)
    cnn.eval()
    x = torch.rand(5, 1, 28, 28, generator=g)
    export(cnn, x, f"{out}/cnn.onnx")
    keep_dropout(f"{out}/cnn.onnx", "Gemm", 0.25)
    with torch.no_grad():
        y = cnn.logits(x)
    save_f32(f"{out}/cnn.in.f32", x.numpy())
    save_f32(f"{out}/cnn.out.f32", y.numpy())  # logits: the importer drops the final Softmax

    gap = GAP()
    export_io(out, "gap", gap, torch.rand(4, 3, 9, 9, generator=g))

    # pools in ceil mode on odd sizes: a last window that runs past the
    # border (max: only what lies inside; average: divided by the window
    # clipped to the padded input), as SqueezeNet and GoogLeNet use them
    ceil = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.MaxPool2d(3, 2, ceil_mode=True),
                         nn.AvgPool2d(3, 2, padding=1, ceil_mode=True), nn.Flatten(), nn.Linear(4 * 4 * 4, 5))
    export_io(out, "ceil", ceil, torch.rand(2, 3, 15, 14, generator=g) * 2.0 - 1.0)  # pools: 13x12 -> 6x6 -> 4x4

    lm = LM()
    lm.eval()
    t = torch.randint(0, 50, (3, 12), generator=g)
    export(lm, t, f"{out}/lm.onnx")
    with torch.no_grad():
        y = lm(t)
    save_f32(f"{out}/lm.in.f32", t.numpy().astype(np.float32))
    save_f32(f"{out}/lm.out.f32", y.numpy())

    se = SE()
    with torch.no_grad():
        randomize_bn(se, g)
        for mod in (se.fc1, se.fc2):  # gates spread over hardsigmoid's three pieces
            mod.weight.mul_(4.0)
            mod.bias.copy_(torch.randn(mod.bias.shape, generator=g) * 2.0)
    se.eval()
    x = torch.rand(3, 3, 10, 10, generator=g) * 4.0 - 2.0
    export(se, x, f"{out}/se.onnx")
    export(se, x, f"{out}/se14.onnx", opset=14)
    with torch.no_grad():
        y = se(x)
    save_f32(f"{out}/se.in.f32", x.numpy())
    save_f32(f"{out}/se.out.f32", y.numpy())
    m = onnx.load(f"{out}/se14.onnx")
    for nd in m.graph.node:
        if nd.op_type == "HardSigmoid":
            for a in nd.attribute:
                if a.name == "alpha":
                    a.f = 0.2
            break
    onnx.save(m, f"{out}/bad_hsig.onnx")

    class MulConst(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(6, 6)
            self.register_buffer("k", torch.arange(6, dtype=torch.float32))

        def forward(self, x):
            return torch.relu(self.fc(x)) * self.k

    export(MulConst(), torch.rand(2, 6), f"{out}/bad_mulconst.onnx")

    # shape arithmetic through Range (torch.arange of a size read by Shape,
    # Cast), and a reshape of a layer output that keeps the data in order
    class Rng(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(6, 6)

        def forward(self, x):
            r = torch.arange(0, x.shape[1], 2)
            return self.fc(x).reshape(x.shape[0], r.shape[0], 2)

    rng = Rng()
    export_io(out, "range", rng, torch.rand(2, 6, generator=g))

    # an Expand of a layer output (broadcast over a new width)
    class Exp(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(6, 3)
            self.out = nn.Linear(12, 2)

        def forward(self, x):
            h = torch.tanh(self.fc(x)).unsqueeze(2)
            h = h.expand(h.shape[0], 3, 4)
            return self.out(h.flatten(1))

    ex = Exp()
    export_io(out, "expand", ex, torch.rand(2, 6, generator=g))

    # a grouped convolution (ResNeXt, ShuffleNet): gconv
    grp = nn.Sequential(nn.Conv2d(4, 6, 3, padding=1, groups=2), nn.ReLU(), nn.Conv2d(6, 6, 1, groups=3),
                        nn.Flatten(), nn.Linear(6 * 5 * 5, 3))
    export_io(out, "group", grp, torch.randn(2, 4, 5, 5, generator=g))
    bad = nn.Sequential(nn.Conv2d(4, 4, 3, dilation=(1, 2)), nn.ReLU())
    export(bad, torch.rand(1, 4, 8, 8), f"{out}/bad_dilation.onnx")

    class BiLSTM(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(10, 4)
            self.lstm = nn.LSTM(4, 6, batch_first=True, bidirectional=True)

        def forward(self, t):
            return self.lstm(self.emb(t))[0]

    export(BiLSTM(), torch.randint(0, 10, (2, 5)), f"{out}/bad_bilstm.onnx")

    class Mid(nn.Module):
        def __init__(self, dim):
            super().__init__()
            self.fc = nn.Linear(6, 6)
            self.dim = dim

        def forward(self, x):
            return self.fc(torch.softmax(x, dim=self.dim))

    mid = Mid(1)
    export_io(out, "softmax_mid", mid, torch.rand(2, 6, generator=g))
    export(Mid(0), torch.rand(2, 6), f"{out}/bad_softmax_mid.onnx")

    class SliceOut(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(6, 6)

        def forward(self, x):
            return self.fc(x)[1:, :3]  # the batch axis

    export(SliceOut(), torch.rand(2, 6), f"{out}/bad_slice.onnx")

    class TokenAfter(nn.Module):  # a learned token after the tokens (prepend only puts it first)
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(6, 4)
            self.tok = nn.Parameter(torch.randn(1, 1, 4))

        def forward(self, x):
            return torch.cat([self.fc(x), self.tok.expand(x.shape[0], -1, -1)], dim=1)

    export(TokenAfter(), torch.rand(2, 3, 6), f"{out}/bad_token_after.onnx")

    # Split, Slice and Concat of layer outputs, a Mul by one number, one
    # tensor concatenated with itself
    class SplitCat(nn.Module):
        def __init__(self):
            super().__init__()
            self.c = nn.Conv2d(3, 8, 3, padding=1)
            self.fc = nn.Linear(8 * 5 * 5, 4)

        def forward(self, x):
            a, b, _ = torch.split(self.c(x), [3, 3, 2], dim=1)
            z = torch.cat([torch.relu(a) * 2.0, torch.sigmoid(b)], dim=1)
            w = z[:, 1:5]
            return self.fc(torch.cat([w, w], dim=1).flatten(1))

    sc = SplitCat()
    export_io(out, "split", sc, torch.randn(2, 3, 5, 5, generator=g))

    # torch.split (sizes, and one size) feeding different branches: each Split is
    # one node of several outputs (ports); q is read three times, the first
    # split's last part by nothing
    class SplitBranches(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(6, 10)
            self.a = nn.Linear(4, 3)
            self.b = nn.Linear(3, 3)

        def forward(self, x):
            p, q, _ = torch.split(self.fc(x), [4, 3, 3], dim=1)
            u, v = torch.tanh(q).split(2, dim=1)  # parts of 2 and 1
            return torch.cat([self.a(p) + self.b(q), torch.sigmoid(q), u * 2.0, v], dim=1)

    export_io(out, "splitbr", SplitBranches(), torch.randn(3, 6, generator=g))

    # an LSTM's and a GRU's final states read by the head: Y_h and Y_c are
    # ports 1 and 2 of the recurrent node (the GRU's sequence output unused)
    class RnnState(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(5, 6, batch_first=True)
            self.gru = nn.GRU(6, 4, batch_first=True)
            self.a = nn.Linear(6, 3)
            self.b = nn.Linear(6, 3)
            self.c = nn.Linear(4, 3)

        def forward(self, x):
            y, (h, c) = self.lstm(x)
            _, hg = self.gru(y)
            return self.a(h[0]) + self.b(c[0]) * 0.5 + self.c(hg[0])

    export_io(out, "rnnstate", RnnState(), torch.randn(2, 7, 5, generator=g))

    # a DenseNet-like block: every conv reads the concat of the block input
    # and the convs before it; the last concat has 4 inputs, one repeated
    class DenseCat(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 4, 3, padding=1)
            self.c1 = nn.Conv2d(4, 3, 3, padding=1)
            self.c2 = nn.Conv2d(7, 3, 1)
            self.fc = nn.Linear(4 + 3 + 3 + 4, 5)

        def forward(self, x):
            h = torch.relu(self.stem(x))
            a = torch.tanh(self.c1(h))
            b = torch.sigmoid(self.c2(torch.cat([h, a], dim=1)))
            z = torch.cat([h, a, b, h], dim=1)
            return self.fc(z.mean(dim=(2, 3)))

    export_io(out, "densecat", DenseCat(), torch.randn(2, 3, 6, 5, generator=g))

    # Sum and Mean of layer outputs; torch exports neither, so the graph is
    # written by hand and its output computed with torch
    w1 = torch.randn(6, 6, generator=g)
    w2 = torch.randn(6, 6, generator=g)
    w3 = torch.randn(4, 6, generator=g)
    X = onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["batch", 6])
    Y = onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["batch", 4])
    inits = [onnx.numpy_helper.from_array(t.numpy(), n) for t, n in ((w1, "w1"), (w2, "w2"), (w3, "w3"))]
    nodes = [
        onnx.helper.make_node("Gemm", ["x", "w1"], ["a"], name="fa", transB=1),
        onnx.helper.make_node("Tanh", ["a"], ["ta"], name="ta"),
        onnx.helper.make_node("Gemm", ["x", "w2"], ["b"], name="fb", transB=1),
        onnx.helper.make_node("Sum", ["ta", "b", "x"], ["s"], name="sum3"),
        onnx.helper.make_node("Sigmoid", ["s"], ["ss"], name="sig"),
        onnx.helper.make_node("Mean", ["ss", "ta", "x", "ta"], ["m"], name="mean4"),
        onnx.helper.make_node("Gemm", ["m", "w3"], ["y"], name="fc", transB=1),
    ]
    gr = onnx.helper.make_graph(nodes, "summean", [X], [Y], inits)
    mdl = onnx.helper.make_model(gr, opset_imports=[onnx.helper.make_opsetid("", OPSET)])
    onnx.checker.check_model(mdl)
    onnx.save(mdl, f"{out}/summean.onnx")
    x = torch.randn(3, 6, generator=g)
    ta = torch.tanh(x @ w1.T)
    ss = torch.sigmoid(ta + x @ w2.T + x)
    y = ((ss + ta + x + ta) / 4) @ w3.T
    save_f32(f"{out}/summean.in.f32", x.numpy())
    save_f32(f"{out}/summean.out.f32", y.numpy())

    # lm.onnx with a learned initial state: its ConstantOfShape zeros replaced
    # by an Expand of a non-uniform [1, 1, H] over the batch
    m = onnx.load(f"{out}/lm.onnx")
    hid = [a.i for nd in m.graph.node if nd.op_type == "LSTM" for a in nd.attribute if a.name == "hidden_size"][0]
    for k, nd in enumerate(m.graph.node):
        if nd.op_type == "ConstantOfShape":
            h0 = np.linspace(-0.5, 0.5, hid, dtype=np.float32).reshape(1, 1, hid)
            m.graph.initializer.append(onnx.numpy_helper.from_array(h0, "h0_learned"))
            m.graph.node[k].CopyFrom(onnx.helper.make_node("Expand", ["h0_learned", nd.input[0]], list(nd.output),
                                                           name="/lstm/Expand"))
            break
    onnx.save(m, f"{out}/bad_h0.onnx")
    export(nn.Sequential(nn.Linear(6, 6), nn.LeakyReLU()), torch.rand(2, 6), f"{out}/bad_leaky.onnx")

    # dilated convolutions (issue 14): plain, depthwise, grouped; non-square input
    dil = nn.Sequential(nn.Conv2d(3, 6, 3, stride=2, padding=2, dilation=2), nn.ReLU(),
                        nn.Conv2d(6, 6, 3, padding=2, dilation=2, groups=6), nn.ReLU6(),
                        nn.Conv2d(6, 4, 3, dilation=3, groups=2), nn.Flatten(), nn.Linear(4 * 3 * 2, 3))
    export_io(out, "dilation", dil, torch.randn(2, 3, 17, 15, generator=g))

    # padding that differs by side: ZeroPad2d (ONNX Pad), padding='same' with an even kernel, a Pad
    # before an average pool
    class AsymPad(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1 = nn.Conv2d(3, 4, 3)
            self.c2 = nn.Conv2d(4, 4, 4)  # 'same' by hand: torch 1.13 cannot export padding="same"
            self.fc = nn.Linear(4 * 2 * 3, 3)

        def forward(self, x):
            h = torch.relu(self.c1(nn.functional.pad(x, (1, 2, 0, 1))))  # (left, right, top, bottom)
            h = torch.tanh(self.c2(nn.functional.pad(h, (1, 2, 1, 2))))  # TensorFlow's 'same', even kernel
            h = nn.functional.avg_pool2d(nn.functional.pad(h, (0, 1, 1, 0)), 2)
            h = nn.functional.max_pool2d(nn.functional.pad(h, (1, 1, 1, 1)), 2)  # zeros that count in the max
            return self.fc(h.flatten(1))

    export_io(out, "asympad", AsymPad(), torch.randn(2, 3, 7, 6, generator=g))

    # torch.maximum / torch.minimum of layer outputs (ONNX Max, Min), broadcast
    class MaxMin(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Conv2d(3, 4, 3, padding=1)
            self.b = nn.Conv2d(3, 1, 3, padding=1)
            self.g = nn.Conv2d(4, 4, 1)
            self.fc = nn.Linear(4 * 5 * 6, 3)

        def forward(self, x):
            a = self.a(x)
            m = torch.maximum(a, self.b(x))  # [N, 4, H, W] and [N, 1, H, W]
            gate = self.g(nn.functional.adaptive_avg_pool2d(m, 1))  # [N, 4, 1, 1]
            z = torch.minimum(m, gate)
            return self.fc(torch.clamp_min(z, -0.25).flatten(1))

    export_io(out, "maxmin", MaxMin(), torch.randn(2, 3, 5, 6, generator=g))

    # auto_pad SAME_UPPER / SAME_LOWER, an unevenly padded AveragePool, a 3-input Max and a Min with a
    # number: torch exports none of these, so the graph is written by hand, its output computed with torch
    F_ = nn.functional
    w1 = torch.randn(4, 3, 4, 4, generator=g) * 0.3
    b1 = torch.randn(4, generator=g) * 0.1
    w2 = torch.randn(4, 4, 3, 3, generator=g) * 0.3
    w3 = torch.randn(4, 4, 2, 2, generator=g) * 0.3
    wf = torch.randn(3, 4 * 5 * 4, generator=g) * 0.3
    X = onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["batch", 3, 9, 8])
    Y = onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["batch", 3])
    inits = [onnx.numpy_helper.from_array(t.numpy(), n) for t, n in
             ((w1, "w1"), (b1, "b1"), (w2, "w2"), (w3, "w3"), (wf, "wf"))]
    inits.append(onnx.numpy_helper.from_array(np.array(0.5, dtype=np.float32), "half"))
    nodes = [
        # 9x8, k 4, s 2: out 5x4, pads H 3 (1 | 2), W 2 (1 | 1): upper puts the odd one at the end
        onnx.helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="same_upper", auto_pad="SAME_UPPER",
                              strides=[2, 2]),
        onnx.helper.make_node("Relu", ["c1"], ["r1"], name="r1"),
        # 5x4, k 3, dilation 2: pads 4 (2 | 2) each: even
        onnx.helper.make_node("Conv", ["r1", "w2"], ["c2"], name="same_dil", auto_pad="SAME_LOWER",
                              dilations=[2, 2]),
        # 5x4, k 2, s 1: pads 1 (lower: 1 | 0)
        onnx.helper.make_node("Conv", ["c2", "w3"], ["c3"], name="same_lower", auto_pad="SAME_LOWER"),
        onnx.helper.make_node("Tanh", ["c3"], ["t3"], name="t3"),
        onnx.helper.make_node("Max", ["c2", "t3", "r1"], ["m3"], name="max3"),
        onnx.helper.make_node("Min", ["m3", "half"], ["mh"], name="min_half"),
        # 5x4 padded [0, 1, 1, 0] -> 6x5, k 2 s 1 -> 5x4; the max pool the same (-inf padding) -> 5x4
        onnx.helper.make_node("AveragePool", ["mh"], ["ap"], name="avg_uneven", kernel_shape=[2, 2],
                              pads=[0, 1, 1, 0], strides=[1, 1], count_include_pad=1),
        onnx.helper.make_node("MaxPool", ["ap"], ["mp"], name="mp", kernel_shape=[2, 2], strides=[1, 1],
                              pads=[1, 0, 0, 1]),
        onnx.helper.make_node("Flatten", ["mp"], ["fl"], name="flat"),
        onnx.helper.make_node("Gemm", ["fl", "wf"], ["y"], name="fc", transB=1),
    ]
    gr = onnx.helper.make_graph(nodes, "autopad", [X], [Y], inits)
    mdl = onnx.helper.make_model(gr, opset_imports=[onnx.helper.make_opsetid("", OPSET)])
    onnx.checker.check_model(mdl)
    onnx.save(mdl, f"{out}/autopad.onnx")
    x = torch.randn(2, 3, 9, 8, generator=g)
    r1 = torch.relu(F_.conv2d(F_.pad(x, (1, 1, 1, 2)), w1, b1, stride=2))
    c2 = F_.conv2d(F_.pad(r1, (2, 2, 2, 2)), w2, dilation=2)
    t3 = torch.tanh(F_.conv2d(F_.pad(c2, (1, 0, 1, 0)), w3))
    mh = torch.minimum(torch.maximum(torch.maximum(c2, t3), r1), torch.tensor(0.5))
    ap = F_.avg_pool2d(F_.pad(mh, (1, 0, 0, 1)), 2, stride=1)
    mp = F_.max_pool2d(F_.pad(ap, (0, 1, 1, 0), value=float("-inf")), 2, stride=1)
    y = mp.flatten(1) @ wf.T
    save_f32(f"{out}/autopad.in.f32", x.numpy())
    save_f32(f"{out}/autopad.out.f32", y.numpy())
    for bad_name, node in (("bad_reflect", onnx.helper.make_node("Pad", ["x", "pads"], ["y"], name="reflect",
                                                                    mode="reflect")),
                           ("bad_maxpool_asym", onnx.helper.make_node("MaxPool", ["x"], ["y"], name="mp_uneven",
                                                                         kernel_shape=[2, 2], pads=[0, 2, 1, 0]))):
        Yb = onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)
        pi = [onnx.numpy_helper.from_array(np.array([0, 0, 1, 1, 0, 0, 2, 1], dtype=np.int64), "pads")]
        gb = onnx.helper.make_graph([node], bad_name, [X], [Yb], pi if bad_name == "bad_reflect" else [])
        onnx.save(onnx.helper.make_model(gb, opset_imports=[onnx.helper.make_opsetid("", OPSET)]),
                  f"{out}/{bad_name}.onnx")


if __name__ == "__main__":
    main()
