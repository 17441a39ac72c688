#!/usr/bin/env python3
"""Exports torchvision's mobile and residual networks with Debian's PyTorch
(python3-torch, python3-torchvision) for the ONNX import test, with a probe
input and PyTorch's output as raw little-endian float32 files.

usage: onnx_export_vision.py OUTDIR

Writes OUTDIR/{name}.onnx, {name}.x.f32 (2 x 3 x 64 x 64) and {name}.y.f32 for
  resnet18     ResNet-18 (projection shortcuts: a 1x1 conv reading the block input)
  mnv2         MobileNetV2, width 0.5 (inverted residuals)
  mnv3         MobileNetV3-Small (squeeze-excite, Hardswish, Hardsigmoid)
  squeezenet   SqueezeNet 1.1 (fire modules: a Concat of two branches; ceil-mode pools)
  effnet       EfficientNet-B0 (SiLU written as x * Sigmoid(x), squeeze-excite, 5x5 depthwise)
  shufflenet   ShuffleNetV2 x0.5 (channel split and shuffle: Split, Reshape, Transpose)
  regnet       RegNetY-400MF (grouped convolutions, squeeze-excite)
  vit          a small VisionTransformer (patch 16, 2 layers, 2 heads, width 32):
               class token (Expand + Concat), position embedding (Add), fused
               q/k/v with the heads folded into the batch axis; at opset 13
               LayerNorm and GELU are written as their arithmetic
  vit17        the same at opset 17 (LayerNormalization)
each with 10 classes, random weights (seed 0) and batch-norm statistics drawn
away from 0 and 1 so that folding them is exercised, in eval mode, exported at
opset 13 (vit17: 17) with a dynamic batch axis.
"""
import os
import sys

import numpy as np
import torch
import torchvision


def build(name):
    if name == "resnet18":
        return torchvision.models.resnet18(num_classes=10)
    if name == "mnv2":
        return torchvision.models.mobilenet_v2(width_mult=0.5, num_classes=10)
    if name == "mnv3":
        return torchvision.models.mobilenet_v3_small(num_classes=10)
    if name == "squeezenet":
        return torchvision.models.squeezenet1_1(num_classes=10)
    if name == "effnet":
        return torchvision.models.efficientnet_b0(num_classes=10)
    if name == "shufflenet":
        return torchvision.models.shufflenet_v2_x0_5(num_classes=10)
    if name == "regnet":
        return torchvision.models.regnet_y_400mf(num_classes=10)
    if name in ("vit", "vit17"):
        from torchvision.models.vision_transformer import VisionTransformer
        m = VisionTransformer(image_size=64, patch_size=16, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64,
                              num_classes=10)
        with torch.no_grad():  # torchvision starts the head and the class token at zero
            m.heads.head.weight.normal_(0, 0.2)
            m.heads.head.bias.normal_(0, 0.2)
            m.class_token.normal_(0, 1.0)
        return m
    raise ValueError(name)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(1)
    for name in ["resnet18", "mnv2", "mnv3", "squeezenet", "effnet", "shufflenet", "regnet", "vit", "vit17"]:
        torch.manual_seed(0)
        m = build(name).eval()
        with torch.no_grad():
            for mod in m.modules():
                if isinstance(mod, torch.nn.BatchNorm2d):
                    mod.running_mean.uniform_(-0.2, 0.2)
                    mod.running_var.uniform_(0.5, 1.5)
        x = torch.randn(2, 3, 64, 64)
        with torch.no_grad():
            y = m(x).numpy()
        path = os.path.join(out, name + ".onnx")
        torch.onnx.export(m, x, path, opset_version=17 if name == "vit17" else 13, input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "n"}, "y": {0: "n"}})
        x.numpy().astype("<f4").tofile(os.path.join(out, name + ".x.f32"))
        y.astype("<f4").tofile(os.path.join(out, name + ".y.f32"))


if __name__ == "__main__":
    main()
