#!/usr/bin/env python3
"""Normalizer for the autlearn regression capture (run.sh).

  normalize.py zero-json IN OUT
      IN's timing/memory-measurement fields set to 0 (for `autlearn report`).
  normalize.py results RAW WORK RES TREE OUTDIR
      RAW/NAME.{out,err,rc,cmd} and WORK's output files -> RES (normalized),
      RES/sha256.txt: sha256 and size of every file the commands wrote.
  normalize.py text FILE / json FILE
      print one file normalized (for eyeballing).

Removed: wall and CPU times, peak RSS / memory measured at run time, speedups
computed from times, absolute paths. Kept: every loss, accuracy, count, MAC,
planned memory (deterministic), rank, shape, and the bytes of every file.
"""
import hashlib
import json
import os
import re
import sys

# JSON keys whose values are measured, not computed: dropped (results) or
# zeroed (zero-json). Matched against the key alone, case-insensitive.
VOLATILE_KEY = re.compile(
    r"(seconds|(^|_)secs?($|_)|(^|_)ms($|_)|(^|_)us($|_)|elapsed|timestamp|(^|_)time($|_)|wall|"
    r"cpu|rss|speedup|per_sec|throughput|_per_s$|(^|_)date($|_)|hostname|(^|_)pid($|_))",
    re.I)
# the scenario JSON's "seconds" object (text) and "autonomous_epoch_seconds"
# are caught by 'seconds'; cost.*.{seconds_per_user,cpu_seconds_per_user,peak_rss_mb}
# by seconds/cpu/rss.

# deterministic, but measured through the allocator: moves by a few bytes when
# an internal struct or array changes size, without any numeric result changing.
# Kept out of results/ and listed in OUTDIR/soft/ instead (compare.sh shows a
# difference there as information, not as a failure).
SOFT_KEYS = {"job_peak_alloc_mb"}
SOFT = []  # (file, json path, value) collected while stripping


def is_volatile(key):
    return bool(VOLATILE_KEY.search(key))


def strip_json(x, zero=False, path=""):
    if isinstance(x, dict):
        out = {}
        for k, v in x.items():
            if is_volatile(k):
                if zero:
                    out[k] = zero_of(v)
                continue
            if k in SOFT_KEYS and not zero:
                SOFT.append((path + "." + k, v))
                continue
            out[k] = strip_json(v, zero, path + "." + k)
        return out
    if isinstance(x, list):
        return [strip_json(v, zero, "%s[%d]" % (path, i)) for i, v in enumerate(x)]
    if isinstance(x, str):
        return sub_paths(x)
    return x


def zero_of(v):
    if isinstance(v, dict):
        return {k: zero_of(w) for k, w in v.items()}
    if isinstance(v, list):
        return [zero_of(w) for w in v]
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    return 0


def sub_paths(s):
    for a, b in PATHS:
        s = s.replace(a, b)
    return s


PATHS = []

NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
TEXT_RULES = [
    # durations: "14.1 s", "0.02 s", "3 ms", "12.5 us", "1.2s"
    (re.compile(r"(?<![\w.])" + NUM + r"\s?(?:s|ms|us|µs|sec|seconds|min)\b(?!=)"), "<T>"),
    # speedups from timings: "56.8x faster"
    (re.compile(NUM + r"x faster"), "<X>x faster"),
    # throughput
    (re.compile(NUM + r"\s?(?:samples|tokens|steps|images)/s\b"), "<RATE>"),
]
# whole lines that only report measured quantities (RSS etc.)
RSS_LINE = re.compile(r"\b(rss|RSS|peak memory rise|resident)\b")
# table header columns that are measured, per row of a method table
VOLATILE_COLS = {"s/user", "cpu-s/user", "rss_MB"}


def norm_text(text):
    out = []
    vol_idx = None
    ncols = 0
    for line in text.splitlines():
        toks = line.split()
        if toks and any(t in VOLATILE_COLS for t in toks):
            vol_idx = {i for i, t in enumerate(toks) if t in VOLATILE_COLS}
            ncols = len(toks)
            out.append(line)
            continue
        if vol_idx is not None:
            if len(toks) == ncols and toks:
                toks = ["<M>" if i in vol_idx else t for i, t in enumerate(toks)]
                out.append(" ".join(toks))
                continue
            vol_idx = None
        line = sub_paths(line)
        for rx, rep in TEXT_RULES:
            line = rx.sub(rep, line)
        if RSS_LINE.search(line):
            line = re.sub(NUM + r"\s?(?:MB|MiB|KiB|kB|B|bytes)\b", "<MEM>", line)
        out.append(line)
    return "\n".join(out) + ("\n" if out else "")


def norm_maybe_json(text):
    """stdout: JSON (object or array) when it parses, else text."""
    s = text.strip()
    if s[:1] in "{[":
        try:
            return json.dumps(strip_json(json.loads(s)), indent=1, sort_keys=True) + "\n"
        except ValueError:
            pass
    return norm_text(text)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


# files of the work dir that are inputs, not outputs
INPUTS = {"cnn_bn.legacy.onnx", "cnn_bn.x.f32", "data"}
# raw step names whose outputs are not deterministic (where a kill lands)
SKIP_STEPS = {"train_kill"}


def results(raw, work, res, tree, outdir):
    os.makedirs(os.path.join(res, "files"), exist_ok=True)
    soft = []
    for fn in sorted(os.listdir(raw)):
        name, ext = os.path.splitext(fn)
        if name in SKIP_STEPS:
            continue
        src = os.path.join(raw, fn)
        with open(src, encoding="utf-8", errors="replace") as f:
            text = f.read()
        if ext == ".out":
            del SOFT[:]
            text = norm_maybe_json(text)
            soft += ["%s%s\t%r" % (name, p, v) for p, v in SOFT]
        elif ext == ".err":
            text = norm_text(text)
        elif ext in (".rc", ".cmd"):
            text = text.strip() + "\n"
        else:
            continue
        with open(os.path.join(res, fn), "w") as f:
            f.write(text)
    lines = []
    for fn in sorted(os.listdir(work)):
        p = os.path.join(work, fn)
        if fn in INPUTS or os.path.islink(p) or not os.path.isfile(p):
            continue
        if not fn.endswith(".json"):  # JSON files hold timings: compared normalized, below
            lines.append("%s  %10d  %s" % (sha256(p), os.path.getsize(p), fn))
        if fn.endswith(".json"):
            with open(p) as f:
                j = json.load(f)
            with open(os.path.join(res, "files", fn), "w") as f:
                f.write(json.dumps(strip_json(j), indent=1, sort_keys=True) + "\n")
        elif fn.endswith((".svg", ".html")):
            with open(p, encoding="utf-8", errors="replace") as f:
                t = sub_paths(f.read())
            with open(os.path.join(res, "files", fn), "w") as f:
                f.write(t)
    with open(os.path.join(res, "sha256.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    os.makedirs(os.path.join(outdir, "soft"), exist_ok=True)
    with open(os.path.join(outdir, "soft", "alloc.tsv"), "w") as f:
        f.write("\n".join(soft) + "\n")


def main():
    a = sys.argv[1:]
    if not a:
        sys.exit(__doc__)
    if a[0] == "zero-json":
        with open(a[1]) as f:
            j = json.load(f)
        with open(a[2], "w") as f:
            json.dump(strip_json(j, zero=True), f, indent=1)
        return
    if a[0] == "results":
        raw, work, res, tree, outdir = a[1:6]
        PATHS[:] = [(work + "/", ""), (work, "<WORK>"), (outdir, "<OUT>"), (tree, "<TREE>")]
        results(raw, work, res, tree, outdir)
        return
    if a[0] in ("text", "json"):
        with open(a[1]) as f:
            t = f.read()
        sys.stdout.write(norm_maybe_json(t) if a[0] == "json" else norm_text(t))
        return
    sys.exit(__doc__)


if __name__ == "__main__":
    main()
