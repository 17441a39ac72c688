#!/usr/bin/python3
"""The cloud side of scripts/pytorch-to-device.sh: trains torchvision's
MobileNetV2 (width 0.5) with Debian's PyTorch on an image folder (one
subfolder per class, as scripts/make-image-folder.py writes them) and
exports it to ONNX with a dynamic batch axis, and its class names (one per
line, in output order) beside it.

usage: train-mobilenet.py FOLDER OUT.onnx EPOCHS

FOLDER holds train/ and test/; the images are read at their size, scaled to
[0, 1] and normalized with ImageNet's mean and std (the same numbers go to
`autlearn import --mean/--std`). SGD, momentum 0.9, cosine schedule, batch
64, seed 0, 2 threads; prints the test accuracy after every epoch.
"""
import os, sys, time, numpy as np, torch, torchvision
from PIL import Image
root, out, epochs = sys.argv[1], sys.argv[2], int(sys.argv[3])
torch.manual_seed(0); torch.set_num_threads(2)
classes = sorted(d for d in os.listdir(os.path.join(root, 'train')) if os.path.isdir(os.path.join(root, 'train', d)))
mean = np.array([0.485, 0.456, 0.406], np.float32); std = np.array([0.229, 0.224, 0.225], np.float32)
def load(split):
    xs, ys = [], []
    for k, c in enumerate(classes):
        d = os.path.join(root, split, c)
        for f in sorted(os.listdir(d)):
            a = np.asarray(Image.open(os.path.join(d, f)).convert('RGB'), np.float32) / 255.0
            xs.append(((a - mean) / std).transpose(2, 0, 1)); ys.append(k)
    return torch.tensor(np.stack(xs)), torch.tensor(ys)
x, y = load('train'); xt, yt = load('test')
m = torchvision.models.mobilenet_v2(width_mult=0.5, num_classes=len(classes))
opt = torch.optim.SGD(m.parameters(), lr=0.05, momentum=0.9, weight_decay=4e-5)
sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs * ((len(x) + 63) // 64))
t0 = time.time()
for e in range(epochs):
    m.train(); perm = torch.randperm(len(x))
    for i in range(0, len(x), 64):
        b = perm[i:i + 64]
        opt.zero_grad(); loss = torch.nn.functional.cross_entropy(m(x[b]), y[b]); loss.backward(); opt.step(); sched.step()
    m.eval()
    with torch.no_grad(): acc = (m(xt).argmax(1) == yt).float().mean().item()
    print(f'epoch {e + 1}: loss {loss.item():.3f}, test accuracy {acc:.3f} ({time.time() - t0:.0f} s)', flush=True)
m.eval()
torch.onnx.export(m, x[:2], out, opset_version=13, input_names=['x'], output_names=['y'], dynamic_axes={'x': {0: 'n'}, 'y': {0: 'n'}})
with open(os.path.splitext(out)[0] + '.classes', 'w') as f:
    f.write('\n'.join(classes) + '\n')
