#!/usr/bin/python3
"""Training benchmark, PyTorch side: the twin of bench/bench_train.c.

Jobs (--job): cnn (below), mnv2 / mnv2_frozen / mnv2_frozen_int8 / mnv2_frozen_int8s / mnv2_frozen_int8all (the
same int8 twin)
(torchvision's MobileNetV2-0.5 at 96x96 with its batch norms folded, as
`autlearn import` makes it: a training step with features[:15] frozen, and
the frozen forward alone in float and int8; see job_mnv2*), lm (the reference LM by truncated BPTT over B
parallel streams of the same synthetic token stream: nn.Embedding(5001, 64),
nn.LSTM(64, 128), nn.Linear(128, 5001), the state carried and detached from
batch to batch), personalize (the reference CNN frozen below its output
layer, 10 epochs, batch 32, lr 0.01, momentum 0.9, shuffled, as a PyTorch
user writes it: the frozen prefix's features computed once under
torch.no_grad() for all the images, inside the timer, then the head trained
on them), personalize_nocache (the same job with the frozen prefix run again
on every batch of every epoch: the second, named twin).

cnn trains the reference CNN (conv3x3(32)-ReLU-maxpool2, conv3x3(64)-ReLU-maxpool2,
conv3x3(128)-ReLU-maxpool2, flatten, dense(256)-ReLU, dense(10); padding 1;
input 1x28x28) with SGD + momentum at a fixed learning rate, batch B, the first
`samples` training images in order, and prints one JSON line with the same
fields as the C program ("impl":"pytorch").

Timed: the training loop only; data loading, model build and one warm-up step
on the first batch are outside the timer. Memory: the RSS high-water mark is
reset after the data is loaded (/proc/self/clear_refs), then read with
resource.getrusage at the end, exactly as bench_train.c does; base_rss_mb is
the resident set at the reset (torch imported, data loaded) and
rss_increase_mb the peak above it. Every run records PyTorch's thread
settings and whether they oversubscribe the machine (thread_settings), and
the machine (cpu, cores).

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


BASE_RSS = [None]


def current_rss_mb():
    """The resident set now (/proc/self/statm), MB."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2.0 ** 20
    except (OSError, ValueError, IndexError):
        return None


def reset_peak_rss():
    """Resets the RSS high-water mark and records the footprint at that point
    (libraries imported, data loaded): rss_increase_mb is the peak above it."""
    BASE_RSS[0] = current_rss_mb()
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


def synthetic_tokens(n, vocab):
    """The same ids as bench_train.c's synth_token."""
    i = np.arange(n, dtype=np.uint64)
    h = (i * np.uint64(2654435761) + np.uint64(40503)) & np.uint64(0xFFFFFFFF)
    h ^= h >> np.uint64(16)
    return (h % np.uint64(vocab)).astype(np.int64)


class RefLM(nn.Module):
    def __init__(self, vocab=5001, emb=64, hidden=128):
        super().__init__()
        self.emb = nn.Embedding(vocab, emb)
        self.lstm = nn.LSTM(emb, hidden, batch_first=True)
        self.out = nn.Linear(hidden, vocab)

    def forward(self, x, state):
        h, state = self.lstm(self.emb(x), state)
        return self.out(h), state


def step_flops_cnn(batch):
    convs = [(32, 784, 9), (64, 196, 288), (128, 49, 576)]
    dense = [(256, 1152), (10, 256)]
    macs = [f * p * k for f, p, k in convs] + [o * i for o, i in dense]
    return 2.0 * batch * (macs[0] * 2 + sum(3 * m for m in macs[1:]))


def job_lm(a):
    T, V = 20, 5001
    W = a.samples // a.batch
    ids = torch.from_numpy(synthetic_tokens(a.batch * W * T + 1, V))
    # stream j = ids[j*W*T : (j+1)*W*T (+1 for the last target)], window w of it is batch w, row j
    x = ids[:-1].view(a.batch, W * T)
    y = ids[1:].view(a.batch, W * T)
    load_peak = peak_rss_mb()
    reset = reset_peak_rss()
    model = RefLM(V)
    opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=a.momentum)
    loss_fn = nn.CrossEntropyLoss()

    def run(nwin):
        state = None
        total = 0.0
        for w in range(nwin):
            xb, yb = x[:, w * T:(w + 1) * T], y[:, w * T:(w + 1) * T]
            opt.zero_grad(set_to_none=False)
            logits, state = model(xb, state)
            loss = loss_fn(logits.reshape(-1, V), yb.reshape(-1))
            loss.backward()
            opt.step()
            state = tuple(s.detach() for s in state)
            total += loss.item()
        return total / nwin

    run(1)  # warm-up, not timed
    t0, c0 = time.perf_counter(), time.process_time()
    loss = 0.0
    for _ in range(a.epochs):
        loss = run(W)
    secs, cpu = time.perf_counter() - t0, time.process_time() - c0
    steps = a.epochs * W
    lstm = 4 * 128 * (64 + 128)
    flops = 2.0 * a.batch * T * 3 * (lstm + 128 * V)  # lstm and dense: forward, dW, dx (as bench_train.c counts)
    return secs, cpu, steps, loss, load_peak, reset, flops


MNV2_FREEZE = 15  # torchvision's features[:15] frozen: autlearn's nodes [0, 78)


def mnv2_synthetic(n):
    """bench_train.c's mnv2_data: synth_pixel over 3x96x96 per sample, synth_label."""
    per = 3 * 96 * 96
    f = np.arange(n * per, dtype=np.uint64)
    h = (f * np.uint64(2654435761) + np.uint64(12345)) & np.uint64(0xFFFFFFFF)
    x = ((h >> np.uint64(24)).astype(np.float32) / np.float32(255.0)).reshape(n, 3, 96, 96)
    i = np.arange(n, dtype=np.uint64)
    hy = (i * np.uint64(2246822519) + np.uint64(977)) & np.uint64(0xFFFFFFFF)
    y = ((hy >> np.uint64(24)) % np.uint64(10)).astype(np.int64)
    return torch.from_numpy(x), torch.from_numpy(y)


def fold_bn(m):
    """Every Conv2d followed by a BatchNorm2d becomes one Conv2d with a bias
    (eval-mode statistics), the BatchNorm an Identity: the network
    `autlearn import` makes of the same model's ONNX export."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval
    for child in m.children():
        fold_bn(child)
    kids = list(m.named_children())
    for (n1, c), (n2, b) in zip(kids, kids[1:]):
        if isinstance(c, nn.Conv2d) and isinstance(b, nn.BatchNorm2d):
            setattr(m, n1, fuse_conv_bn_eval(c, b))
            setattr(m, n2, nn.Identity())
    return m


def mnv2_parts():
    """torchvision's mobilenet_v2(width_mult=0.5, num_classes=10), batch norms
    folded, dropout off (the ONNX export and autlearn have none): the frozen
    prefix features[:15] and the trained rest."""
    import torchvision
    m = fold_bn(torchvision.models.mobilenet_v2(width_mult=0.5, num_classes=10).eval())
    frozen = m.features[:MNV2_FREEZE]
    head = nn.Sequential(m.features[MNV2_FREEZE:], nn.AdaptiveAvgPool2d(1), nn.Flatten(), m.classifier[1])
    return m, frozen, head


def job_mnv2(a):
    """A training step: frozen forward under no_grad, the rest trained (SGD, momentum)."""
    x, y = mnv2_synthetic(a.samples)
    load_peak = peak_rss_mb()
    reset = reset_peak_rss()
    _, frozen, head = mnv2_parts()
    for p in frozen.parameters():
        p.requires_grad_(False)
    frozen.eval()
    head.train()
    opt = torch.optim.SGD(head.parameters(), lr=a.lr, momentum=a.momentum)
    loss_fn = nn.CrossEntropyLoss()

    def step(xb, yb):
        with torch.no_grad():
            f = frozen(xb)
        opt.zero_grad(set_to_none=False)
        loss = loss_fn(head(f), yb)
        loss.backward()
        opt.step()
        return loss.item()

    step(x[:a.batch], y[:a.batch])  # warm-up, not timed
    steps, loss_sum = 0, 0.0
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(a.epochs):
        loss_sum = 0.0
        for s in range(0, a.samples, a.batch):
            loss_sum += step(x[s:s + a.batch], y[s:s + a.batch])
            steps += 1
    secs, cpu = time.perf_counter() - t0, time.process_time() - c0
    return secs, cpu, steps, loss_sum / (a.samples // a.batch), load_peak, reset, 0.0


def best_qengine():
    have = torch.backends.quantized.supported_engines
    want = os.environ.get("AL_BENCH_QENGINE")
    if want:
        return want
    return next((e for e in ("x86", "fbgemm", "qnnpack") if e in have), "qnnpack")


QENGINE = best_qengine()


def job_mnv2_frozen(a, int8):
    """The frozen prefix alone, forward under torch.inference_mode(); int8:
    post-training static quantization (FX graph mode) of the unfolded
    prefix, calibrated on the first batch; every conv, depthwise and first
    included, runs in int8. The engine is PyTorch's best for an x86 CPU that
    this build has: x86, else fbgemm, else qnnpack (Debian's PyTorch 1.13
    has only qnnpack of these; its onednn engine crashes in convert_fx
    here); AL_BENCH_QENGINE names one instead."""
    x, _ = mnv2_synthetic(a.samples)
    load_peak = peak_rss_mb()
    reset = reset_peak_rss()
    if int8:
        import copy
        import torchvision
        from torch.ao.quantization import get_default_qconfig_mapping
        from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx
        engine = QENGINE
        torch.backends.quantized.engine = engine
        m = torchvision.models.mobilenet_v2(width_mult=0.5, num_classes=10).eval()
        prefix = copy.deepcopy(m.features[:MNV2_FREEZE]).eval()
        prepared = prepare_fx(prefix, get_default_qconfig_mapping(engine), example_inputs=(x[:a.batch],))
        with torch.inference_mode():
            prepared(x[:a.batch])
        frozen = convert_fx(prepared)
    else:
        _, frozen, _ = mnv2_parts()
        frozen.eval()
    with torch.inference_mode():
        out = frozen(x[:a.batch])  # warm-up, not timed
        steps = 0
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(a.epochs):
            for s in range(0, a.samples, a.batch):
                out = frozen(x[s:s + a.batch])
                steps += 1
        secs, cpu = time.perf_counter() - t0, time.process_time() - c0
    return secs, cpu, steps, float(out.float().mean()), load_peak, reset, 0.0


def job_personalize(a, x, y, cache):
    """cache: the frozen prefix's features for all the images once (inside the
    timer), then 10 epochs of the head on them; else the prefix again on every
    batch of every epoch. The same shuffles and the same head steps either way."""
    load_peak = peak_rss_mb()
    reset = reset_peak_rss()
    model = refcnn()
    prefix, head = model[:12], model[12]
    for p in prefix.parameters():
        p.requires_grad_(False)
    prefix.eval()
    opt = torch.optim.SGD(head.parameters(), lr=a.lr, momentum=a.momentum)
    loss_fn = nn.CrossEntropyLoss()
    g = torch.Generator().manual_seed(a.seed)
    epochs, steps, loss_sum = 10, 0, 0.0
    t0, c0 = time.perf_counter(), time.process_time()
    feats = None
    if cache:
        with torch.no_grad():
            feats = torch.cat([prefix(x[s:s + a.batch]) for s in range(0, a.samples, a.batch)])
    for _ in range(epochs):
        perm = torch.randperm(a.samples, generator=g)
        loss_sum, nb = 0.0, 0
        for s in range(0, a.samples, a.batch):
            idx = perm[s:s + a.batch]
            if cache:
                f = feats[idx]
            else:
                with torch.no_grad():
                    f = prefix(x[idx])
            opt.zero_grad(set_to_none=False)
            loss = loss_fn(head(f), y[idx])
            loss.backward()
            opt.step()
            loss_sum += loss.item()
            nb += 1
            steps += 1
        loss_sum /= nb
    secs, cpu = time.perf_counter() - t0, time.process_time() - c0
    return secs, cpu, steps, loss_sum, load_peak, reset, 0.0


def thread_settings(asked):
    """PyTorch's thread settings as the run saw them, and whether they
    oversubscribe the machine: intra-op threads other than asked, more
    inter-op threads than one (the jobs run one op at a time), an OpenMP /
    MKL / OpenBLAS variable unset or other than asked (Debian's libtorch
    then runs BLAS on OpenBLAS's own pool beside its OpenMP one), or more
    threads than cores."""
    env = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    intra, inter = torch.get_num_threads(), torch.get_num_interop_threads()
    problems = []
    if intra != asked:
        problems.append("torch.get_num_threads() = %d, asked %d" % (intra, asked))
    if inter != 1:
        problems.append("interop threads = %d" % inter)
    for k, v in env.items():
        if v != str(asked):
            problems.append("%s = %s" % (k, v))
    if asked > (os.cpu_count() or asked):
        problems.append("%d threads on %d cores" % (asked, os.cpu_count()))
    return {"torch_threads": intra, "torch_interop_threads": inter,
            "omp_num_threads": env["OMP_NUM_THREADS"], "mkl_num_threads": env["MKL_NUM_THREADS"],
            "openblas_num_threads": env["OPENBLAS_NUM_THREADS"],
            "oversubscribed": bool(problems), "thread_problems": problems}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--job", choices=("cnn", "lm", "personalize", "personalize_nocache", "mnv2", "mnv2_frozen",
                                      "mnv2_frozen_int8", "mnv2_frozen_int8s", "mnv2_frozen_int8all"),
                    default="cnn")
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
    if a.samples % a.batch and not a.job.startswith("personalize"):
        ap.error("samples (%d) must be a multiple of batch (%d)" % (a.samples, a.batch))

    torch.set_num_threads(a.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    torch.manual_seed(a.seed)

    if a.job == "lm":
        finish(a, *job_lm(a), data="synthetic")
        return
    if a.job == "mnv2":
        finish(a, *job_mnv2(a), data="synthetic")
        return
    if a.job in ("mnv2_frozen", "mnv2_frozen_int8", "mnv2_frozen_int8s", "mnv2_frozen_int8all"):
        # mnv2_frozen_int8s/int8all: autlearn's static scales (int8all: every conv, as here); PyTorch's int8 is
        # static (calibrated), every conv, anyway
        finish(a, *job_mnv2_frozen(a, "int8" in a.job), data="synthetic")
        return
    xs, ys = load_idx(a.data, a.samples) if a.data else synthetic(a.samples)
    x = torch.from_numpy(xs)
    y = torch.from_numpy(ys)
    if a.job.startswith("personalize"):
        finish(a, *job_personalize(a, x, y, a.job == "personalize"), data="idx" if a.data else "synthetic",
               epochs=10)
        return
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
    finish(a, secs, cpu, steps, final_loss, load_peak, reset, step_flops_cnn(a.batch),
           data="idx" if a.data else "synthetic")


def machine():
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "")
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count()}


def finish(a, secs, cpu, steps, final_loss, load_peak, reset, flops, data, epochs=None):
    peak = peak_rss_mb()
    out = {"impl": "pytorch", "job": a.job, "threads": a.threads, "batch": a.batch, "steps": steps,
           "seconds": round(secs, 4), "ms_per_step": round(1000.0 * secs / steps, 3),
           "peak_rss_mb": round(peak, 1), "final_loss": round(final_loss, 6),
           "samples": a.samples, "epochs": epochs or a.epochs, "data": data,
           "process_peak_rss_mb": round(max(load_peak, peak), 1), "rss_reset": reset,
           "base_rss_mb": round(BASE_RSS[0], 1) if BASE_RSS[0] is not None else None,
           "rss_increase_mb": round(peak - BASE_RSS[0], 1) if BASE_RSS[0] is not None else None,
           "cpu_seconds": round(cpu, 4), "flops_per_step": round(flops),
           "torch": torch.__version__, "torch_qengine": QENGINE}
    out.update(thread_settings(a.threads))
    out.update(machine())
    print(json.dumps(out, separators=(",", ":")))


if __name__ == "__main__":
    main()
