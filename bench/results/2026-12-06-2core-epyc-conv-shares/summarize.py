#!/usr/bin/env python3
"""Medians of ab.sh's output (stdin): the model's ms a step and its
efficiency ceiling (one-thread CPU ms / (T x model ms)), and the real
runs' wall ms a step, shares on against off."""
import json, statistics, sys
rows = {}
for line in sys.stdin:
    kind, job, t, s, js = line.split(" ", 4)
    rows.setdefault((kind, job, int(t), int(s)), []).append(json.loads(js))
med = statistics.median
print("| job | T | model ms a step, off / on | ratio | efficiency ceiling, off / on |")
print("|---|---|---|---|---|")
for job in ("cnn", "mnv2"):
    one = {s: med([1000 * d["cpu_seconds"] / d["steps"] for d in rows[("wall", job, 1, s)]]) if ("wall", job, 1, s) in rows else None for s in (0, 1)}
    for t in (2, 4, 8, 16):
        if ("model", job, t, 0) not in rows: continue
        m = {s: med([d["model_ms_per_step"] for d in rows[("model", job, t, s)]]) for s in (0, 1)}
        w1 = {s: med([d["model_cpu_ms_per_step"] for d in rows[("model", job, t, s)]]) for s in (0, 1)}
        # the one-thread CPU time: the model's own one-part baseline is the
        # wall run's at 1 thread where there is one, else the T-part work
        base = one[0] if one[0] else None
        eff = lambda s: f"{base / (t * m[s]):.2f}" if base else "-"
        print(f"| {job} | {t} | {m[0]:.2f} / {m[1]:.2f} | {m[1] / m[0]:.2f} | {eff(0)} / {eff(1)} |")
print()
print("| job | threads | wall ms a step, off / on | ratio | runs |")
print("|---|---|---|---|---|")
for (kind, job, t, s) in sorted(k for k in rows if k[0] == "wall" and k[3] == 0):
    a = [d["ms_per_step"] for d in rows[(kind, job, t, 0)]]
    b = [d["ms_per_step"] for d in rows[(kind, job, t, 1)]]
    print(f"| {job} | {t} | {med(a):.2f} / {med(b):.2f} | {med(b) / med(a):.2f} | {len(a)} |")
