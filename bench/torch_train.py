#!/usr/bin/python3
"""Training benchmark, PyTorch side: the twin of bench/bench_train.c.

Trains the reference CNN (conv3x3(32)-ReLU-maxpool2, conv3x3(64)-ReLU-maxpool2,
conv3x3(128)-ReLU-maxpool2, flatten, dense(256)-ReLU, dense(10); padding 1;
input 1x28x28) with SGD + momentum at a fixed learning rate, batch B, the first
`samples` training images in order, and prints one JSON line with the same
fields as the C program ("impl":"pytorch").

Timed: the training loop only; data loading, model build and one warm-up step
on the first batch are outside the timer. Memory: the RSS high-water mark is
reset after the data is loaded (/proc/self/clear_refs), then read with
resource.getrusage at the end, exactly as bench_train.c does.

Run with Debian's /usr/bin/python3 (python3-torch, python3-numpy).
"""
import argparse
import gzip
import json
import os
import resource
import struct
import sys
import time

import numpy as np

try:
    import torch
    import torch.nn as nn
except ImportError:
    sys.stderr.write("torch_train.py: PyTorch is missing; install python3-torch "
                     "(make bench does: scripts/deps.sh bench)\n")
    sys.exit(3)


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def reset_peak_rss():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def open_idx(directory, stem):
    for name, opener in ((stem, open), (stem + ".gz", gzip.open)):
        path = os.path.join(directory, name)
        if os.path.exists(path):
            return opener(path, "rb")
    raise FileNotFoundError("%s/%s[.gz] not found" % (directory, stem))


def read_exact(f, n, what):
    b = f.read(n)
    if len(b) != n:
        raise ValueError("%s: truncated (wanted %d bytes, got %d)" % (what, n, len(b)))
    return b


def load_idx(directory, n):
    """The first n training images (float32 in [0,1], n x 1 x 28 x 28) and labels."""
    with open_idx(directory, "train-images-idx3-ubyte") as f:
        magic, count, rows, cols = struct.unpack(">IIII", read_exact(f, 16, "images header"))
        if magic != 0x803 or rows != 28 or cols != 28:
            raise ValueError("images: bad header (magic %#x, %dx%d)" % (magic, rows, cols))
        if count < n:
            raise ValueError("images: %d samples, %d requested" % (count, n))
        x = np.frombuffer(read_exact(f, n * 784, "images"), dtype=np.uint8)
    with open_idx(directory, "train-labels-idx1-ubyte") as f:
        magic, count = struct.unpack(">II", read_exact(f, 8, "labels header"))
        if magic != 0x801 or count < n:
            raise ValueError("labels: bad header (magic %#x, %d labels)" % (magic, count))
        y = np.frombuffer(read_exact(f, n, "labels"), dtype=np.uint8)
    x = (x.astype(np.float32) / np.float32(255.0)).reshape(n, 1, 28, 28)
    return x, y.astype(np.int64)


def synthetic(n):
    """The same bytes as bench_train.c's synth_pixel / synth_label."""
    f = np.arange(n * 784, dtype=np.uint64)
    h = (f * np.uint64(2654435761) + np.uint64(12345)) & np.uint64(0xFFFFFFFF)
    x = ((h >> np.uint64(24)).astype(np.float32) / np.float32(255.0)).reshape(n, 1, 28, 28)
    i = np.arange(n, dtype=np.uint64)
    hy = (i * np.uint64(2246822519) + np.uint64(977)) & np.uint64(0xFFFFFFFF)
    y = ((hy >> np.uint64(24)) % np.uint64(10)).astype(np.int64)
    return x, y


def refcnn():
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 128, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(128 * 3 * 3, 256), nn.ReLU(), nn.Linear(256, 10))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=2048)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--data", default=None)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    if min(a.samples, a.epochs, a.threads, a.batch) <= 0 or not a.lr > 0:
        ap.error("samples, epochs, threads, batch and lr must be positive")
    if a.samples % a.batch:
        ap.error("samples (%d) must be a multiple of batch (%d)" % (a.samples, a.batch))

    torch.set_num_threads(a.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    torch.manual_seed(a.seed)

    xs, ys = load_idx(a.data, a.samples) if a.data else synthetic(a.samples)
    x = torch.from_numpy(xs)
    y = torch.from_numpy(ys)
    load_peak = peak_rss_mb()
    reset = reset_peak_rss()

    model = refcnn()
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=a.momentum, nesterov=False, weight_decay=0.0)
    loss_fn = nn.CrossEntropyLoss()

    def step(xb, yb):
        opt.zero_grad(set_to_none=False)
        loss = loss_fn(model(xb), yb)
        loss.backward()
        opt.step()
        return loss.item()

    for _ in range(a.epochs):  # warm-up, not timed: `epochs` epochs over the first batch, as bench_train
        step(x[:a.batch], y[:a.batch])

    steps = 0
    epoch_loss = 0.0
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(a.epochs):
        epoch_loss = 0.0
        for s in range(0, a.samples, a.batch):
            epoch_loss += step(x[s:s + a.batch], y[s:s + a.batch])
            steps += 1
    secs, cpu = time.perf_counter() - t0, time.process_time() - c0
    final_loss = epoch_loss / (a.samples // a.batch)
    peak = peak_rss_mb()
    out = {"impl": "pytorch", "threads": a.threads, "batch": a.batch, "steps": steps,
           "seconds": round(secs, 4), "ms_per_step": round(1000.0 * secs / steps, 3),
           "peak_rss_mb": round(peak, 1), "final_loss": round(final_loss, 6),
           "samples": a.samples, "epochs": a.epochs, "data": "idx" if a.data else "synthetic",
           "process_peak_rss_mb": round(max(load_peak, peak), 1), "rss_reset": reset,
           "cpu_seconds": round(cpu, 4),
           "torch": torch.__version__}
    print(json.dumps(out, separators=(",", ":")))


if __name__ == "__main__":
    main()
