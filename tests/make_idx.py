#!/usr/bin/env python3
"""Writes a small synthetic IDX data set (the MNIST layout) for tests.

usage: make_idx.py DIR NTRAIN NTEST [CLASSES]

10 classes, each a bright 6x6 block at its own place in a 28x28 image over
noise; CLASSES (e.g. "0-7" or "8,9") keeps only those labels (the same
images, the others left out). The training split is written plain, the test split gzipped, so both
readers are exercised. Standard library only.
"""
import gzip
import random
import struct
import sys


def write(d, prefix, n, seed, gz, keep=None):
    rng = random.Random(seed)
    imgs, labels = bytearray(), bytearray()
    m = 0
    for i in range(n):
        c = i % 10 if prefix == "t10k" else rng.randrange(10)
        img = [rng.randrange(0, 80) for _ in range(28 * 28)]
        r0, c0 = 2 + 13 * (c // 5), 1 + 5 * (c % 5)
        for r in range(r0, r0 + 6):
            for q in range(c0, min(c0 + 6, 28)):
                img[r * 28 + q] = rng.randrange(180, 256)
        if keep is not None and c not in keep:
            continue
        imgs += bytes(img)
        labels.append(c)
        m += 1
    op = gzip.open if gz else open
    ext = ".gz" if gz else ""
    with op(f"{d}/{prefix}-images-idx3-ubyte{ext}", "wb") as f:
        f.write(struct.pack(">IIII", 0x803, m, 28, 28) + bytes(imgs))
    with op(f"{d}/{prefix}-labels-idx1-ubyte{ext}", "wb") as f:
        f.write(struct.pack(">II", 0x801, m) + bytes(labels))


if __name__ == "__main__":
    d, ntrain, ntest = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    keep = None
    if len(sys.argv) > 4:
        keep = set()
        for part in sys.argv[4].split(","):
            lo, _, hi = part.partition("-")
            keep.update(range(int(lo), int(hi or lo) + 1))
    write(d, "train", ntrain, 1, False, keep)
    write(d, "t10k", ntest, 2, True, keep)
