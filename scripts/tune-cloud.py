#!/usr/bin/env python3
"""The cloud's pre-training settings chosen on the cloud's own validation
split (README, "Evidence: tuned baselines and shifted users").

The public data are the only data the cloud sees. `--public-val V` carves V
of the public images out before pre-training; the cloud model trained on the
rest is scored on them (`cloud_public_val_acc` in the scenario's JSON). Each
of the GRID settings (the same number every method gets in scripts/tune.py)
is run on each tune seed; the setting with the best mean validation accuracy
wins. Neither the users' data nor any test split is read. The script prints
one markdown row per setting and the flags of the winner, to give
scripts/tune.py and `autlearn scenario` (--pretrain-lr, --pretrain-epochs).

    python3 scripts/tune-cloud.py --bin build/autlearn --out /tmp/tune-cloud
"""
import argparse
import json
import os
import subprocess
import sys

# (--pretrain-lr, --pretrain-epochs): the default (0.05, 3) and its neighbours
GRID = [("0.02", "3"), ("0.05", "3"), ("0.1", "3"), ("0.05", "5")]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default="build/autlearn")
    ap.add_argument("--data", default="data/fashion-mnist")
    ap.add_argument("--public-val", type=int, default=3000, help="public images held out for the cloud's validation")
    ap.add_argument("--seeds", default="1", help="tune seeds (comma-separated)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    log = open(os.path.join(a.out, "log.txt"), "a")
    seeds = [int(s) for s in a.seeds.split(",")]
    rows = []
    for lr, ep in GRID:
        accs = []
        for s in seeds:
            out = os.path.join(a.out, "lr%s-e%s-s%d.json" % (lr, ep, s))
            if not os.path.exists(out):
                cmd = [a.bin, "scenario", "image", "--data", a.data, "--users", "1", "--methods", "global",
                       "--public-val", str(a.public_val), "--pretrain-lr", lr, "--pretrain-epochs", ep,
                       "--seed", str(s), "--threads", str(a.threads), "--json", out, "--quiet"]
                print("+", " ".join(cmd), file=log, flush=True)
                if subprocess.run(cmd, stdout=log, stderr=log).returncode != 0:
                    sys.exit("failed: " + " ".join(cmd))
            with open(out) as f:
                j = json.load(f)
            v = j.get("cloud_public_val_acc")
            if v is None:
                sys.exit("%s: no cloud_public_val_acc (an autlearn without --public-val scoring?)" % out)
            accs.append(v)
        rows.append((sum(accs) / len(accs), lr, ep, accs))
    best = max(rows, key=lambda r: r[0])
    print("| --pretrain-lr | --pretrain-epochs | cloud validation accuracy (%d public images held out; seeds %s) |"
          % (a.public_val, a.seeds))
    print("|---|---|---|")
    for m, lr, ep, accs in rows:
        mark = " **(chosen)**" if (lr, ep) == (best[1], best[2]) else ""
        print("| %s | %s | %.2f%%%s |" % (lr, ep, 100 * m, mark))
    print("chosen: --pretrain-lr %s --pretrain-epochs %s" % (best[1], best[2]))


if __name__ == "__main__":
    main()
