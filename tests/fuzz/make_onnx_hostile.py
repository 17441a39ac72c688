#!/usr/bin/env python3
"""Writes the hostile ONNX files of tests/fuzz/corpus/fuzz_onnx/hostile_*.onnx
(tests/test_onnx_hostile.c imports each and checks the error):
    /usr/bin/python3 tests/fuzz/make_onnx_hostile.py tests/fuzz/corpus/fuzz_onnx
Each is a small valid protobuf whose numbers drove the importer into integer
overflow or an out-of-bounds read before it checked them. Needs Debian's
python3-onnx."""
import sys

import onnx
from onnx import TensorProto, helper

I64MAX = 2**63 - 1


def i64(name, vals, dims=None):
    return helper.make_tensor(name, TensorProto.INT64, [len(vals)] if dims is None else dims, vals)


def save(out, name, nodes, in_dims, inits=(), opset=13, out_dims=None):
    g = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, in_dims)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_dims)],
        initializer=list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], producer_name="make_onnx_hostile")
    onnx.save(m, f"{out}/hostile_{name}.onnx")


def main(out):
    # Range of int64 near INT64_MAX: the count taken in doubles was one too
    # many and start + delta passed 2^63. Exactly one element; index 1 of it
    # is out of range.
    s = 2**63 - 2**40 - 1000
    save(out, "range_overflow", [
        helper.make_node("Range", ["s", "l", "d"], ["r"], name="range"),
        helper.make_node("Gather", ["r", "one"], ["g"], name="gather"),
        helper.make_node("Relu", ["x"], ["y"], name="relu"),
    ], ["N", 4], [i64("s", [s], []), i64("l", [I64MAX], []), i64("d", [I64MAX - s + 1], []), i64("one", [1], [])])

    # ConstantOfShape of int64 INT64_MAX: the value went through a double and
    # back (2^63: overflow). The pads it fills must be named exactly.
    save(out, "cos_int64max", [
        helper.make_node("ConstantOfShape", ["one"], ["c"], name="cos",
                         value=helper.make_tensor("v", TensorProto.INT64, [1], [I64MAX])),
        helper.make_node("Concat", ["z2", "c", "z5"], ["pads"], name="cat", axis=0),
        helper.make_node("Pad", ["x", "pads"], ["y"], name="pad"),
    ], ["N", 1, 4, 4], [i64("one", [1]), i64("z2", [0, 0]), i64("z5", [0, 0, 0, 0, 0])])

    # Slice of an empty int64 constant with a negative step: one element was
    # read from the empty buffer. The slice is empty; index 0 of it is out of range.
    save(out, "slice_empty_negstep", [
        helper.make_node("Slice", ["e", "st", "en", "ax", "sp"], ["s"], name="slice"),
        helper.make_node("Gather", ["s", "zero"], ["g"], name="gather"),
        helper.make_node("Relu", ["x"], ["y"], name="relu"),
    ], ["N", 4], [i64("e", [], [0]), i64("st", [-1]), i64("en", [-10]), i64("ax", [0]), i64("sp", [-1]),
                  i64("zero", [0], [])])

    # Slice of a layer output with step INT64_MAX: (end - start + step - 1)
    # overflowed, and the step was cut to an int. One element, as numpy's x[:, ::big].
    save(out, "slice_step_max", [
        helper.make_node("Relu", ["x"], ["r"], name="relu"),
        helper.make_node("Slice", ["r", "st", "en", "ax", "sp"], ["y"], name="slice"),
    ], ["N", 8], [i64("st", [0]), i64("en", [8]), i64("ax", [1]), i64("sp", [I64MAX])], out_dims=["N", 1])

    # A fixed batch of 2^62: Reshape's inferred size multiplied it by the
    # per-sample size (overflow). Refused at the input.
    save(out, "batch_huge", [
        helper.make_node("Relu", ["x"], ["r"], name="relu"),
        helper.make_node("Reshape", ["r", "shp"], ["y"], name="reshape"),
    ], [2**62, 4], [i64("shp", [-1])])

    # 2^72 values per sample (three axes of 2^24): Reshape's product of the
    # per-sample sizes overflowed. Refused at the input.
    save(out, "input_numel_huge", [
        helper.make_node("Relu", ["x"], ["r"], name="relu"),
        helper.make_node("Reshape", ["r", "shp"], ["y"], name="reshape"),
    ], ["N", 2**24, 2**24, 2**24], [i64("shp", [-1])])

    # Expand of [N, 1, 1, 1] to [N, 2^24, 2^24, 2^24]: the same, past the input.
    save(out, "expand_numel_huge", [
        helper.make_node("Relu", ["x"], ["r"], name="relu"),
        helper.make_node("Expand", ["r", "shp"], ["e"], name="expand"),
        helper.make_node("Reshape", ["e", "flat"], ["y"], name="reshape"),
    ], ["N", 1, 1, 1], [i64("shp", [1, 2**24, 2**24, 2**24]), i64("flat", [-1])])

    # Concat of 65 inputs of 2^26 features each (a Flatten of [4096, 16384]):
    # the per-sample size, an int, overflowed while the inputs were added up.
    save(out, "concat_numel_huge", [
        helper.make_node("Flatten", ["x"], ["f"], name="flat", axis=1),
        helper.make_node("Concat", ["f"] * 65, ["y"], name="cat", axis=1),
    ], ["N", 4096, 16384])

    # Concat of a ConstantOfShape [N, N, 3] (the batch size on axis 1, from
    # Shape and Gather) with a layer output [N, 1, 3] along axis 1: the
    # prepended constant's size, the batch symbol INT64_MIN, wrapped the
    # element count (2^63 floats into a 0-byte buffer). Refused.
    save(out, "prepend_batch_axis", [
        helper.make_node("Relu", ["x"], ["r"], name="relu"),
        helper.make_node("Shape", ["r"], ["s"], name="shape"),
        helper.make_node("Gather", ["s", "idx"], ["s2"], name="gather"),
        helper.make_node("ConstantOfShape", ["s2"], ["c"], name="cos"),
        helper.make_node("Concat", ["c", "r"], ["y"], name="cat", axis=1),
    ], ["N", 1, 3], [i64("idx", [0, 0, 2])])

if __name__ == "__main__":
    main(sys.argv[1])
