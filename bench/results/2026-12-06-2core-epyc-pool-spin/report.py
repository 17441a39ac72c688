#!/usr/bin/env python3
"""Medians of ab.sh's output: bench_pool's cost above the ideal by gap and
build, and the training steps at 2, 4 and 8 threads (OLD and NEW run in turn; the ratio
NEW / OLD of each pair, then their median)."""
import json, statistics as st, sys
pool, steps, cur = {}, {}, None
for line in open(sys.argv[1] if len(sys.argv) > 1 else "ab.txt"):
    w = line.split()
    if line.startswith("== bench_pool"):
        cur = line.split(": ", 1)[1].strip()
    elif cur and len(w) == 5 and w[0].isdigit():
        pool.setdefault((cur, int(w[0]), float(w[1])), []).append(float(w[4]))
    elif line.startswith("step "):
        _, job, t, b, js = line.split(" ", 4)
        d = json.loads(js)
        steps.setdefault((job, int(t), b), []).append((d["ms_per_step"], 1000 * d["cpu_seconds"] / d["steps"]))
builds = list(dict.fromkeys(k[0] for k in pool))
gaps = sorted({k[2] for k in pool})
print("| bench_pool 50 2000, 2 threads: us a task above the ideal, median of rounds | " + " | ".join(f"gap {g:g} us" for g in gaps) + " |")
print("|---|" + "---|" * len(gaps))
for b in builds:
    print(f"| {b} | " + " | ".join(f"{st.median(pool[(b, 2, g)]):.1f}" for g in gaps) + " |")
print()
print("| step | threads | OLD ms a step | NEW ms a step | NEW / OLD, median of pairs (range) | OLD CPU ms | NEW CPU ms |")
print("|---|---|---|---|---|---|---|")
for job, t in dict.fromkeys(k[:2] for k in steps):
    o, n = steps[(job, t, "old")], steps[(job, t, "new")]
    rs = [b[0] / a[0] for a, b in zip(o, n)]
    r = st.median(rs)
    print(f"| {job} | {t} | {st.median(x[0] for x in o):.2f} | {st.median(x[0] for x in n):.2f} | {r:.3f} ({min(rs):.2f}-{max(rs):.2f}) "
          f"| {st.median(x[1] for x in o):.2f} | {st.median(x[1] for x in n):.2f} |")
