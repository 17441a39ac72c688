#!/usr/bin/env python3
"""Writes long ONNX chains to time `autlearn import` on large graphs (the
importer's name lookups must not grow with the graph):
    /usr/bin/python3 bench/onnx_chain.py KIND NODES OUT.onnx
KIND:
  act     x [N, 8] through NODES nodes cycling Relu, Identity, Sigmoid, Tanh
  add     Relu then Add(relu, its input) (a residual), NODES nodes in all
  gemm    Gemm 8x8 (weight and bias initializers, also listed as graph
          inputs, as exports before opset 9 write them) then Relu, NODES in all
Needs Debian's python3-onnx."""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def main(kind, n, out):
    nodes, inits, extra_in = [], [], []
    cur = "x"
    rng = np.random.default_rng(0)
    for k in range(n):
        o = f"v{k}"
        if kind == "act":
            op = ("Relu", "Identity", "Sigmoid", "Tanh")[k % 4]
            nodes.append(helper.make_node(op, [cur], [o], name=f"n{k}"))
        elif kind == "add":
            if k % 2 == 0:
                nodes.append(helper.make_node("Relu", [cur], [o], name=f"n{k}"))
            else:
                nodes.append(helper.make_node("Add", [cur, f"v{k - 2}" if k >= 2 else "x"], [o], name=f"n{k}"))
        elif kind == "gemm":
            if k % 2 == 0:
                w, b = f"w{k}", f"b{k}"
                inits.append(numpy_helper.from_array((rng.standard_normal((8, 8)) * 0.3).astype(np.float32), w))
                inits.append(numpy_helper.from_array((rng.standard_normal(8) * 0.1).astype(np.float32), b))
                extra_in += [helper.make_tensor_value_info(t.name, TensorProto.FLOAT, list(t.dims)) for t in inits[-2:]]
                nodes.append(helper.make_node("Gemm", [cur, w, b], [o], name=f"n{k}", transB=1))
            else:
                nodes.append(helper.make_node("Relu", [cur], [o], name=f"n{k}"))
        else:
            raise SystemExit(f"unknown kind {kind}")
        cur = o
    nodes[-1].output[0] = "y"
    g = helper.make_graph(nodes, f"chain_{kind}",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 8])] + extra_in,
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 8])], initializer=inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], producer_name="onnx_chain")
    onnx.save(m, out)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
