#!/usr/bin/env python3
"""The table of ab.sh's output (ab.txt): per job and thread count, the
planned memory (MB; the same in every round), the median over rounds of
the RSS increase (MB), the median of the rounds' new/old ratios of ms a
step (1 and 2 threads; more threads than this machine's 2 cores are not
timed), and whether the final loss is the same in every run."""
import json, statistics, sys
from collections import defaultdict
rows = defaultdict(list)
for line in open(sys.argv[1] if len(sys.argv) > 1 else "ab.txt"):
    if not line.startswith("run "):
        continue
    _, r, job, t, b, js = line.split(" ", 5)
    rows[(job, int(t), b)].append(json.loads(js))
jobs = []
for (job, t, b) in rows:
    if job not in jobs:
        jobs.append(job)
print("| job | threads | planned MB: old | new | new - old | RSS increase MB: old | new | ms a step, new / old | same loss |")
print("|---|---|---|---|---|---|---|---|---|")
for job in jobs:
    for t in sorted({k[1] for k in rows if k[0] == job}):
        o, n = rows[(job, t, "old")], rows[(job, t, "new")]
        po, pn = {x["planned_mb"] for x in o}, {x["planned_mb"] for x in n}
        plan = "| – | – | – " if max(po) < 0 else f"| {max(po):.1f} | {max(pn):.1f} | {max(pn) - max(po):+.1f} "
        if len(po) > 1 or len(pn) > 1:
            plan = "| varies " * 3
        mo = statistics.median(x["rss_increase_mb"] for x in o)
        mn = statistics.median(x["rss_increase_mb"] for x in n)
        ratio = statistics.median(b["ms_per_step"] / a["ms_per_step"] for a, b in zip(o, n)) if t <= 2 else None
        same = len({x["final_loss"] for x in o + n}) == 1
        rs = f"{ratio:.2f}" if ratio else "–"
        print(f"| {job} | {t} {plan}| {mo:.1f} | {mn:.1f} | {rs} | {'yes' if same else 'NO'} |")
print(f"\n{len(next(iter(rows.values())))} rounds")
