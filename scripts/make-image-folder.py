#!/usr/bin/python3
"""Writes an image folder from Fashion-MNIST's IDX files, for the demo and the
tests: JPEG and PNG files at another size than 28x28, gray or tinted color,
one subfolder per class, with classes the caller names held apart.

    python3 scripts/make-image-folder.py --out DIR [options]

    DIR/train/<class>/<n>.jpg|png     training images (--per-class per class)
    DIR/test/<class>/...              test images (--test-per-class per class)
    DIR/new/train/<class>/...         the --hold-out classes, split the same way
    DIR/new/test/<class>/...

Class names: tshirt trouser pullover dress coat sandal shirt sneaker bag boot
(Fashion-MNIST's labels 0..9). Images come from the IDX training split
(train/) and test split (test/) in file order, so a run is deterministic.

options:
  --data DIR            the IDX directory (default data/fashion-mnist)
  --size N              side of the written images (default 32; any size)
  --color               tint each image with a random color (RGB files; seeded)
  --format jpg|png|mixed  file format (default mixed: alternating)
  --per-class N         training images per class (default 100)
  --test-per-class N    test images per class (default 20)
  --hold-out A,B        class names (or labels) written under DIR/new/ only
  --skip N              leave out each class's first N training images (a user's
                        photos apart from the cloud's training images: write the
                        cloud's folder with --per-class N, the user's with --skip N;
                        test images are never trained on, so they are not skipped)
  --seed S              tint seed (default 1)
Needs python3-pil and numpy.
"""
import argparse
import gzip
import os
import struct
import sys

import numpy as np
from PIL import Image

NAMES = ["tshirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot"]


def read_idx(path):
    op = gzip.open if path.endswith(".gz") else open
    with op(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    nd = magic & 0xFF
    dims = struct.unpack(">" + "I" * nd, data[4:4 + 4 * nd])
    return np.frombuffer(data, np.uint8, offset=4 + 4 * nd).reshape(dims)


def find(d, base):
    for n in (base, base + ".gz"):
        if os.path.exists(os.path.join(d, n)):
            return os.path.join(d, n)
    sys.exit(f"make-image-folder: {d} has no {base}[.gz] (scripts/fetch-data.sh fashion)")


def main():
    ap = argparse.ArgumentParser(description="Fashion-MNIST to an image folder")
    ap.add_argument("--data", default="data/fashion-mnist")
    ap.add_argument("--out", required=True)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--color", action="store_true")
    ap.add_argument("--format", choices=["jpg", "png", "mixed"], default="mixed")
    ap.add_argument("--per-class", type=int, default=100)
    ap.add_argument("--test-per-class", type=int, default=20)
    ap.add_argument("--hold-out", default="")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--skip", type=int, default=0)
    a = ap.parse_args()
    if a.skip < 0:
        sys.exit("make-image-folder: --skip must be >= 0")
    if not 1 <= a.size <= 4096:
        sys.exit("make-image-folder: --size must be in 1..4096")
    held = set()
    for h in filter(None, a.hold_out.split(",")):
        if h.isdigit() and int(h) < 10:
            held.add(int(h))
        elif h in NAMES:
            held.add(NAMES.index(h))
        else:
            sys.exit(f"make-image-folder: unknown class '{h}' (one of {' '.join(NAMES)} or 0..9)")
    rng = np.random.default_rng(a.seed)
    total = 0
    for split, prefix, count in (("train", "train", a.per_class), ("test", "t10k", a.test_per_class)):
        x = read_idx(find(a.data, f"{prefix}-images-idx3-ubyte"))
        y = read_idx(find(a.data, f"{prefix}-labels-idx1-ubyte"))
        for k in range(10):
            skip = a.skip if split == "train" else 0
            idx = np.nonzero(y == k)[0][skip:skip + count]
            sub = os.path.join(a.out, "new", split) if k in held else os.path.join(a.out, split)
            d = os.path.join(sub, NAMES[k])
            os.makedirs(d, exist_ok=True)
            for j, i in enumerate(idx):
                im = Image.fromarray(x[i], "L").resize((a.size, a.size), Image.BILINEAR)
                if a.color:
                    tint = rng.uniform(0.4, 1.0, 3)
                    g = np.asarray(im, np.float64)[:, :, None]
                    im = Image.fromarray(np.clip(g * tint, 0, 255).astype(np.uint8), "RGB")
                fmt = a.format if a.format != "mixed" else ("jpg" if j % 2 == 0 else "png")
                path = os.path.join(d, f"{j:05d}.{fmt}")
                if fmt == "jpg":
                    im.save(path, quality=92)
                else:
                    im.save(path)
                total += 1
    print(f"make-image-folder: wrote {total} images to {a.out} ({a.size}x{a.size}, "
          f"{'color' if a.color else 'gray'}, held out: {','.join(NAMES[k] for k in sorted(held)) or 'none'})")


if __name__ == "__main__":
    main()
