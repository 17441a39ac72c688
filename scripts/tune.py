#!/usr/bin/env python3
"""Validation-only tuning with the same budget for every method, then one
test run per seed (README, "Evidence: tuned baselines and shifted users").

For each method group the same number of settings (GRID, 4 each) is run on
the users' validation split (autlearn scenario image --evaluate validation
--val-per-user V) of the tune seed; every method keeps the setting with the
best mean validation accuracy. Only then are the chosen settings run on the
test split, once per seed, and the table gives mean +- the 95% t-interval
over seeds. Each seed's cloud model is pre-trained once (the public data do
not depend on --shift label/feature/both) and shared by every run of that
seed; --shift newclass has clouds of its own (pre-trained on the seen
classes only), and its table gives the accuracy on the seen and on the new
classes apart. Per user, the autonomous model is compared with the cloud
model on the same test set: below it by more than 2 binomial standard
errors of that set is counted.

    python3 scripts/tune.py --bin build/autlearn --shift feature --users 6 \
        --seeds 1,2,3,4,5 --out /tmp/tune-feature
"""
import argparse
import json
import math
import os
import subprocess
import sys

# method group -> (methods it reports, settings); every group the same size
FED = [["--fed-lr", "0.01", "--fed-epochs", "1"], ["--fed-lr", "0.05", "--fed-epochs", "1"],
       ["--fed-lr", "0.01", "--fed-epochs", "2", "--fed-cosine"],
       ["--fed-lr", "0.05", "--fed-epochs", "2", "--fed-cosine"]]
GRID = {
    "autonomous": (["autonomous"], [[], ["--freeze", "0", "--rehearsal", "20"], ["--freeze", "0", "--lr", "0.03"],
                                    ["--freeze", "0", "--lr", "0.03", "--rehearsal", "20"]]),
    "global+p": (["global", "global+p"], [["--label-prior", a] for a in ("0.5", "1", "2", "4")]),
    "local": (["local"], [["--local-lr", lr, "--local-epochs", e] for lr in ("0.02", "0.05") for e in ("10", "20")]),
    "centralized": (["centralized", "central+p"],
                    [["--central-lr", lr, "--central-epochs", e] for lr in ("0.002", "0.01") for e in ("1", "2")]),
    "fedavg": (["fedavg", "fedavg+p", "fedavg-ft"], FED),
    "fedper": (["fedper"], FED),
    # fedavg's four settings for the body step, the head step twice the body's epochs
    "fedrep": (["fedrep"], [st + ["--fedrep-head-epochs", str(2 * int(st[3]))] for st in FED]),
    # Ditto: fedavg's chosen client settings under label shift (0.01, 1 epoch) and under feature shift
    # (0.05, 2 epochs, cosine), each with the personal step's pull lambda 0.1 and 1 (the personal step
    # as many epochs as the client's update: --ditto-epochs defaults to --fed-epochs)
    "ditto": (["ditto"], [st + ["--ditto-lambda", lam] for st in (FED[0], FED[3]) for lam in ("0.1", "1")]),
}
# The baselines that fine-tune on the device get autonomous's chosen device
# step (README: every trick autonomous uses that they could use too): fedavg's
# group (its fedavg-ft runs the device's job on FedAvg's model) all of
# autonomous's chosen setting appended to each of its own; fedrep's head step
# and ditto's personal step its exemplars (--rehearsal, a no-op without new
# classes). autonomous is searched first.
DEVICE_STEP = {"fedavg": "all", "fedrep": "--rehearsal", "ditto": "--rehearsal"}


def device_step(group, auto, table=None):
    what = (DEVICE_STEP if table is None else table).get(group)
    if what == "all":
        return list(auto)
    if what and what in auto:
        i = auto.index(what)
        return auto[i:i + 2]
    return []


T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}


REUSE = False


def run(bin_, args, out_json, log, scenario="image"):
    # image: autonomous as a fixed recipe searched like every other method
    # (the device's own chooser, --recipe auto, is measured by
    # recipe-compare.sh); text: the scenario's own defaults
    cmd = [bin_, "scenario", scenario] + (["--recipe", "config"] if scenario == "image" else []) + args + \
        ["--json", out_json, "--quiet"]
    # the command beside its JSON: --reuse takes a run only when its command was the same
    stamp = out_json + ".cmd"
    if REUSE and os.path.exists(out_json) and os.path.exists(stamp):
        with open(stamp) as f:
            same = f.read() == " ".join(cmd)
        if same:
            # --reuse: a run an earlier (interrupted or shorter) invocation finished, with the same command
            print("= reused", " ".join(cmd), file=log, flush=True)
            with open(out_json) as f:
                return json.load(f)
    print("+", " ".join(cmd), file=log, flush=True)
    r = subprocess.run(cmd, stdout=log, stderr=log)
    if r.returncode != 0:
        sys.exit("failed: " + " ".join(cmd))
    with open(stamp, "w") as f:
        f.write(" ".join(cmd))
    with open(out_json) as f:
        return json.load(f)


def interval(xs):
    n = len(xs)
    m = sum(xs) / n
    if n < 2:
        return m, float("nan")
    sd = math.sqrt(sum((x - m) ** 2 for x in xs) / (n - 1))
    return m, T95.get(n - 1, 1.96) * sd / math.sqrt(n)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default="build/autlearn")
    ap.add_argument("--data", default="data/fashion-mnist")
    ap.add_argument("--shift", default="label", choices=["label", "feature", "both", "newclass"])
    ap.add_argument("--users", type=int, default=20)
    ap.add_argument("--per-user", type=int, default=250, help="drawn per user, validation included")
    ap.add_argument("--val-per-user", type=int, default=50)
    ap.add_argument("--test-per-user", type=int, default=200)
    ap.add_argument("--seeds", default="1,2,3,4,5")
    ap.add_argument("--tune-seed", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=5, help="fedavg/fedper rounds: the upload budget")
    ap.add_argument("--groups", default=",".join(GRID), help="method groups to run")
    ap.add_argument("--out", required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--pretrain-lr", default=None, help="the cloud's pre-training lr (scripts/tune-cloud.py chooses it)")
    ap.add_argument("--pretrain-epochs", default=None, help="the cloud's pre-training epochs (scripts/tune-cloud.py)")
    ap.add_argument("--reuse", action="store_true",
                    help="take a run's JSON from OUT when an earlier invocation ran the same command there "
                         "(add seeds or groups, or go on after an interruption)")
    a = ap.parse_args()
    global REUSE
    REUSE = a.reuse
    os.makedirs(a.out, exist_ok=True)
    log = open(os.path.join(a.out, "log.txt"), "a")
    seeds = [int(s) for s in a.seeds.split(",")]
    groups = a.groups.split(",")
    base = ["--data", a.data, "--shift", a.shift, "--users", str(a.users), "--per-user", str(a.per_user),
            "--val-per-user", str(a.val_per_user), "--test-per-user", str(a.test_per_user),
            "--rounds", str(a.rounds), "--threads", str(a.threads)]
    # the clouds, one per seed (shared across shifts: written where --out's parent can reuse them;
    # newclass: its own, pre-trained on the seen classes only)
    clouds = {}
    nc = a.shift == "newclass"
    pre = (["--pretrain-lr", a.pretrain_lr] if a.pretrain_lr else []) + \
        (["--pretrain-epochs", a.pretrain_epochs] if a.pretrain_epochs else [])
    tag = "".join("-" + v for v in (a.pretrain_lr, a.pretrain_epochs) if v)  # other settings, other files
    for s in sorted(set(seeds + [a.tune_seed])):
        path = os.path.join(os.path.dirname(os.path.abspath(a.out)),
                            ("cloud-newclass%s-seed%d.gguf" if nc else "cloud%s-seed%d.gguf") % (tag, s))
        if not os.path.exists(path):
            run(a.bin, ["--data", a.data, "--users", "1", "--methods", "global", "--seed", str(s),
                        "--save-cloud", path] + (["--shift", "newclass"] if nc else []) + pre,
                os.path.join(a.out, "cloud%d.json" % s), log)
        clouds[s] = path
    # 1. search on validation (tune seed); autonomous first (DEVICE_STEP)
    if any(g in DEVICE_STEP for g in groups) and "autonomous" not in groups:
        sys.exit("the groups %s take autonomous's chosen device step: add the autonomous group (--reuse "
                 "reruns nothing)" % ",".join(g for g in groups if g in DEVICE_STEP))
    groups.sort(key=lambda g: g != "autonomous")
    chosen = {}
    search = {}
    for g in groups:
        methods, settings = GRID[g]
        if g in DEVICE_STEP:
            settings = [st + device_step(g, chosen["autonomous"][1]) for st in settings]
        best = {}
        for i, st in enumerate(settings):
            j = run(a.bin, base + st + ["--seed", str(a.tune_seed), "--cloud", clouds[a.tune_seed],
                                        "--evaluate", "validation", "--methods", ",".join(methods)],
                    os.path.join(a.out, "val-%s-%d.json" % (g, i)), log)
            for m in methods:
                v = j[m]["mean_acc"]
                search.setdefault(m, []).append((" ".join(st) or "(defaults)", v))
                if m not in best or v > best[m][0]:
                    best[m] = (v, st)
        for m in methods:
            chosen[m] = best[m]
    # 2. the chosen settings on test, once per seed
    res = {}
    for m, (_, st) in chosen.items():
        group = next(g for g in groups if m in GRID[g][0])
        for s in seeds:
            j = run(a.bin, base + st + ["--seed", str(s), "--cloud", clouds[s], "--methods", m],
                    os.path.join(a.out, "test-%s-%d.json" % (m.replace("+", "p"), s)), log)
            res.setdefault(m, []).append((j[m]["mean_acc"], j["cost"][m], j[m]))
        del group
    # 3. the table
    order = ["global", "global+p", "local", "autonomous", "centralized", "central+p", "fedavg", "fedavg+p",
             "fedavg-ft", "fedper", "fedrep", "ditto"]
    lines = ["| method | test accuracy %% (mean ± 95%% CI, %d seeds) |%s chosen on validation | device MACs/user | "
             "CPU s/user | peak MB | bytes up/user | bytes down/user |" % (
                 len(seeds), " seen classes % | new classes % |" if nc else ""),
             "|---|---|---|---|---|---|---|---|" + ("---|---|" if nc else "")]
    summary = {"config": vars(a), "chosen": {}, "search": search, "test": {}}
    for m in order:
        if m not in res:
            continue
        accs = [100 * x for x, _, _ in res[m]]
        mean, hw = interval(accs)
        keys = sorted(set().union(*(c.keys() for _, c, _ in res[m])))  # clients_dropped: only where some were
        cost = {k: sum(c.get(k, 0) for _, c, _ in res[m]) / len(res[m]) for k in keys}
        st = "(nothing to tune)" if m == "global" else " ".join(chosen[m][1]) or "(defaults)"
        apart = ""
        summary["test"][m] = {"per_seed": accs, "mean": mean, "ci95": hw, "cost": cost}
        if nc:
            for h in ("seen", "new"):
                v = [100 * r["mean_acc_" + h] for _, _, r in res[m]]
                hm, hh = interval(v)
                apart += " %.2f ± %.2f |" % (hm, hh)
                summary["test"][m]["per_seed_" + h] = v
        lines.append("| %s | %.2f ± %.2f |%s %s (val %.2f) | %.3g | %.3f | %.1f | %.3g | %.3g |" % (
            m, mean, hw, apart, st if m == "global" else "`%s`" % st, 100 * chosen[m][0], cost["macs_per_user"], cost["cpu_seconds_per_user"],
            cost["peak_rss_mb"], cost["bytes_uploaded"], cost.get("bytes_downloaded", 0)))
        summary["chosen"][m] = st
    # runs that went on past a divergence (scenario's rules: a client's update left out of its round; a device
    # job that keeps its last good weights), summed over seeds
    for m in order:
        for key, what in (("clients_dropped", "client updates left out of their round"),
                          ("diverged_users", "users whose device training diverged (kept their last good weights)")):
            n = sum(c.get(key, 0) for _, c, _ in res.get(m, []))
            if n:
                lines.append("")
                lines.append("%s: %d %s, over the %d seeds" % (m, n, what, len(seeds)))
                summary["test"][m][key] = n
    # the gain from the prior and from training, paired over seeds
    def paired(x, y):
        if x in res and y in res:
            d = [100 * (b[0] - a_[0]) for a_, b in zip(res[x], res[y])]
            m, hw = interval(d)
            lines.append("")
            lines.append("%s − %s: %+.2f ± %.2f points (paired over seeds)" % (y, x, m, hw))
    paired("global", "global+p")
    paired("global+p", "autonomous")
    paired("global", "autonomous")
    paired("fedavg-ft", "autonomous")
    paired("centralized", "autonomous")
    paired("central+p", "autonomous")
    # per user: the personal model against the cloud model on the same test set (the noise: 2 binomial
    # standard errors of the cloud model's accuracy on that user's test set)
    if "global" in res and "autonomous" in res:
        below = worse = total = 0
        worst = 0.0
        n = a.test_per_user
        for (_, _, g), (_, _, p) in zip(res["global"], res["autonomous"]):
            for ga, pa in zip(g["per_user"], p["per_user"]):
                total += 1
                below += pa < ga
                worst = min(worst, 100 * (pa - ga))
                worse += ga - pa > 2 * math.sqrt(max(ga * (1 - ga), 1e-12) / n)
        lines.append("")
        lines.append("autonomous per user against the cloud model (%d users × seeds): %d below it, %d below by more "
                     "than 2 SE of the user's %d test images; worst %+.2f points" % (total, below, worse, n, worst))
        summary["per_user_vs_global"] = {"users": total, "below": below, "below_2se": worse, "worst": worst}
    table = "\n".join(lines)
    print(table)
    with open(os.path.join(a.out, "table.md"), "w") as f:
        f.write(table + "\n")
    with open(os.path.join(a.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)


# ---- the text scenario (--scenario text): next-word top-3, users = presidents ----
# The same protocol: 4 settings per method group searched on the users'
# validation text (the most recent --val-per-user tokens of each user's
# private text) with the tune seed, then the chosen settings on the test
# text (each user's latest address) once per seed. FedAvg's upload budget:
# at most 4 rounds of its trained weights; it trains at the device's batch.
TEXT_FED = [["--fed-lr", lr, "--fed-epochs", e, "--rounds", r] for lr in ("0.003", "0.01")
            for e, r in (("1", "4"), ("2", "2"))]
TEXT_GRID = {
    "autonomous": (["autonomous"], [["--lr", lr, "--epochs", e] for lr in ("0.003", "0.01") for e in ("2", "3")]),
    "global+p": (["global", "global+p"], [["--label-prior", a] for a in ("0.25", "0.5", "1", "2")]),
    "local": (["local"], [["--local-lr", lr, "--local-epochs", e] for lr in ("0.002", "0.005") for e in ("2", "4")]),
    "centralized": (["centralized", "central+p"],
                    [["--central-lr", lr, "--central-epochs", e] for lr in ("0.003", "0.01") for e in ("1", "2")]),
    "fedavg": (["fedavg", "fedavg+p", "fedavg-ft"], TEXT_FED),
    # fedavg's four settings for the body step (the LSTM), the head step twice the body's epochs
    "fedrep": (["fedrep"], [st + ["--fedrep-head-epochs", str(2 * int(st[3]))] for st in TEXT_FED]),
    # Ditto: fedavg's two 4-round client settings (fedavg chose 0.003), lambda 0.1 and 1
    "ditto": (["ditto"], [st + ["--ditto-lambda", lam] for st in (TEXT_FED[0], TEXT_FED[2]) for lam in ("0.1", "1")]),
}
# fedavg-ft's device step in the text scenario: autonomous's chosen --lr and
# --epochs (the chooser runs on FedAvg's model as on the cloud's; FedAvg's
# client reads --fed-lr and --fed-epochs, so fedavg and fedavg+p do not
# change). FedRep and Ditto train with the client's settings.
TEXT_DEVICE_STEP = {"fedavg": "all"}
# the device's fixed recipes, run on test with autonomous's chosen settings
# (not searched: the rows the chooser is measured against)
TEXT_RECIPES = [("recipe prior", ["--recipe", "prior", "--label-prior", "0.5"]),
                ("recipe head", ["--recipe", "head"]), ("recipe last-block", ["--recipe", "last-block"]),
                ("recipe deep", ["--recipe", "deep"]),
                # the chooser without the user's bigram model: what the mixture adds
                ("autonomous, no bigram", ["--ngram-mix", "0"])]


def text_main():
    ap = argparse.ArgumentParser(description="tune.py --scenario text: " + __doc__.split("\n")[0])
    ap.add_argument("--scenario", choices=["text"], required=True)
    ap.add_argument("--bin", default="build/autlearn")
    ap.add_argument("--data", default="data/sotu")
    ap.add_argument("--users", default="franklin_d_roosevelt,dwight_d_eisenhower,barack_obama,george_w_bush,"
                    "harry_s_truman,theodore_roosevelt", help="presidents (default: 6 of the 10 default users)")
    ap.add_argument("--user-tokens", type=int, default=4000, help="private tokens per user, validation included")
    ap.add_argument("--val-per-user", type=int, default=800, help="validation tokens per user (the most recent)")
    ap.add_argument("--pretrain-tokens", type=int, default=100000)
    ap.add_argument("--public-val", type=int, default=10000)
    ap.add_argument("--vocab", type=int, default=2000)
    ap.add_argument("--seeds", default="1,2,3,4,5")
    ap.add_argument("--tune-seed", type=int, default=1)
    ap.add_argument("--groups", default=",".join(TEXT_GRID))
    ap.add_argument("--out", required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--pretrain-lr", default=None,
                    help="the cloud's pre-training lr (scripts/tune-cloud.py --scenario text chooses it)")
    ap.add_argument("--pretrain-epochs", default=None,
                    help="the cloud's pre-training epochs (scripts/tune-cloud.py --scenario text)")
    ap.add_argument("--reuse", action="store_true",
                    help="take a run's JSON from OUT when it is there (an earlier invocation with the same settings)")
    a = ap.parse_args()
    global REUSE
    REUSE = a.reuse
    os.makedirs(a.out, exist_ok=True)
    log = open(os.path.join(a.out, "log.txt"), "a")
    seeds = [int(s) for s in a.seeds.split(",")]
    groups = a.groups.split(",")
    # the cloud's settings: only its pre-training reads them (other settings, other files)
    pre = (["--pretrain-lr", a.pretrain_lr] if a.pretrain_lr else []) + \
        (["--pretrain-epochs", a.pretrain_epochs] if a.pretrain_epochs else [])
    tag = "".join("-" + v for v in (a.pretrain_lr, a.pretrain_epochs) if v)
    base = ["--data", a.data, "--users", a.users, "--user-tokens", str(a.user_tokens), "--val-per-user", str(a.val_per_user),
            "--pretrain-tokens", str(a.pretrain_tokens), "--public-val", str(a.public_val), "--vocab", str(a.vocab),
            "--threads", str(a.threads)]
    clouds, cloud_val = {}, {}
    for s in sorted(set(seeds + [a.tune_seed])):
        path = os.path.join(a.out, "cloud%s-seed%d.gguf" % (tag, s))
        j = run(a.bin, base + ["--methods", "global", "--evaluate", "validation", "--seed", str(s)] +
                     ([] if os.path.exists(path) else ["--save-cloud", path] + pre) +
                     (["--cloud", path] if os.path.exists(path) else []),
                     os.path.join(a.out, "cloud%s-seed%d.json" % (tag, s)), log, "text")
        clouds[s] = path
        cloud_val[s] = j.get("public_val_top3")
    chosen, search = {}, {}
    # autonomous first: fedavg-ft's device step is autonomous's chosen one (TEXT_DEVICE_STEP)
    if any(g in TEXT_DEVICE_STEP for g in groups) and "autonomous" not in groups:
        sys.exit("the groups %s take autonomous's chosen device step: add the autonomous group (--reuse "
                 "reruns nothing)" % ",".join(g for g in groups if g in TEXT_DEVICE_STEP))
    groups.sort(key=lambda g: g != "autonomous")
    for g in groups:
        methods, settings = TEXT_GRID[g]
        if g in TEXT_DEVICE_STEP:
            settings = [st + device_step(g, chosen["autonomous"][1], TEXT_DEVICE_STEP) for st in settings]
        best = {}
        for i, st in enumerate(settings):
            j = run(a.bin, base + st + ["--seed", str(a.tune_seed), "--cloud", clouds[a.tune_seed],
                                             "--evaluate", "validation", "--methods", ",".join(methods)],
                         os.path.join(a.out, "val-%s-%d.json" % (g.replace("+", "p"), i)), log, "text")
            for m in methods:
                v = j[m]["mean_acc"]
                search.setdefault(m, []).append((" ".join(st) or "(defaults)", v))
                if m not in best or v > best[m][0]:
                    best[m] = (v, st)
        chosen.update(best)
    res, choices = {}, {}
    # one test run per seed for the methods that chose the same setting
    # (a method's numbers do not depend on which others run beside it)
    runs = {}
    for m, (_, st) in chosen.items():
        runs.setdefault(tuple(st), []).append((m, m))
    if "autonomous" in chosen:
        for name, extra in TEXT_RECIPES:
            runs[tuple(chosen["autonomous"][1] + extra)] = [(name, "autonomous")]
    for i, (st, names) in enumerate(runs.items()):
        for s in seeds:
            j = run(a.bin, base + list(st) + ["--seed", str(s), "--cloud", clouds[s], "--methods",
                                                   ",".join(sorted(set(m for _, m in names)))],
                         os.path.join(a.out, "test-%d-%d.json" % (i, s)), log, "text")
            for name, m in names:
                res.setdefault(name, []).append((j[m]["mean_acc"], j["cost"][m]))
                if name == "autonomous":
                    choices.setdefault(s, j.get("autonomous_choice"))
    order = ["global", "global+p", "local", "autonomous"] + [n for n, _ in TEXT_RECIPES] + \
        ["centralized", "central+p", "fedavg", "fedavg+p", "fedavg-ft", "fedrep", "ditto"]
    lines = ["| method | test top-3 %% (mean ± 95%% CI, %d seeds) | chosen on validation | device MACs/user | "
             "CPU s/user | peak MB | bytes up/user | bytes down/user |" % len(seeds),
             "|---|---|---|---|---|---|---|---|"]
    summary = {"config": vars(a), "chosen": {}, "search": search, "test": {}, "cloud_public_val_top3": cloud_val,
               "autonomous_choice": choices}
    for m in order:
        if m not in res:
            continue
        accs = [100 * x for x, _ in res[m]]
        mean, hw = interval(accs)
        keys = sorted(set().union(*(c.keys() for _, c in res[m])))
        cost = {k: sum(c.get(k, 0) for _, c in res[m]) / len(res[m]) for k in keys}
        if m == "global":
            st, val = "(nothing to tune)", chosen["global"][0]
        elif m in dict(TEXT_RECIPES):
            st, val = "autonomous's settings, " + m, None
        else:
            st, val = "`%s`" % (" ".join(chosen[m][1]) or "(defaults)"), chosen[m][0]
        lines.append("| %s | %.2f ± %.2f | %s%s | %.3g | %.3f | %.1f | %.3g | %.3g |" % (
            m, mean, hw, st, "" if val is None else " (val %.2f)" % (100 * val), cost["macs_per_user"],
            cost["cpu_seconds_per_user"], cost["peak_rss_mb"], cost["bytes_uploaded"],
            cost.get("bytes_downloaded", 0)))
        summary["chosen"][m] = st
        summary["test"][m] = {"per_seed": accs, "mean": mean, "ci95": hw, "cost": cost}

    def paired(x, y):
        if x in res and y in res:
            d = [100 * (b[0] - a_[0]) for a_, b in zip(res[x], res[y])]
            m, hw = interval(d)
            lines.append("")
            lines.append("%s − %s: %+.2f ± %.2f points (paired over seeds)" % (y, x, m, hw))
            summary.setdefault("paired", {})["%s-%s" % (y, x)] = [m, hw]
    paired("global", "global+p")
    paired("global+p", "autonomous")
    paired("global", "autonomous")
    for other in ["local", "centralized", "central+p", "fedavg", "fedavg+p", "fedavg-ft", "fedrep", "ditto"] + \
            [n for n, _ in TEXT_RECIPES]:
        paired(other, "autonomous")
    table = "\n".join(lines)
    print(table)
    with open(os.path.join(a.out, "table.md"), "w") as f:
        f.write(table + "\n")
    with open(os.path.join(a.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)


if __name__ == "__main__":
    if "--scenario" in sys.argv and "text" in sys.argv:
        text_main()
    else:
        main()
