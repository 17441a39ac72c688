#!/usr/bin/env python3
"""The tables of bench/ablation.sh from its runs: OUT/ablation.json and
OUT/ablation.md (also printed). Run by the script at its end; by hand:

    /usr/bin/python3 bench/ablation_report.py OUT OUT/runs.jsonl OUT/steps.jsonl OUT/work SECONDS THREADS

Accuracy target: the all-on configuration may be at most 1 point below the
baseline (a gain is not a miss)."""
import json, os, sys
out, runs, steps, work, total, threads = sys.argv[1:7]
rows = [json.loads(l) for l in open(runs) if l.strip()]
step_rows = [json.loads(l) for l in open(steps) if l.strip()]
all_configs = ["baseline", "compression", "compiler", "cache", "words", "all"]
keys = ["seconds", "cpu_seconds", "train_cpu_seconds", "job_peak_alloc_mb", "planned_mb", "peak_rss_mb", "macs", "acc"]
res = {"threads": int(threads), "total_seconds": int(total), "cloud_steps": step_rows, "scenarios": {}}
md = []
for sc in ["image", "text"]:
    rs = [r for r in rows if r["scenario"] == sc]
    if not rs:
        continue
    configs = [c for c in all_configs if any(r["config"] == c for r in rs)]
    mean = {}
    for c in configs:
        cr = [r for r in rs if r["config"] == c]
        mean[c] = {k: sum(r[k] for r in cr) / len(cr) for k in keys}
        mean[c]["users"] = len(cr)
    b = mean["baseline"]
    ratio = {c: {"cpu": mean[c]["cpu_seconds"] / b["cpu_seconds"],
                 "train_cpu": mean[c]["train_cpu_seconds"] / b["train_cpu_seconds"],
                 "job_memory": mean[c]["job_peak_alloc_mb"] / b["job_peak_alloc_mb"],
                 "macs": mean[c]["macs"] / b["macs"],
                 "acc_points": 100 * (mean[c]["acc"] - b["acc"])} for c in configs}
    plans = {}
    for name in ("compile", "compile-small"):
        f = os.path.join(work, "%s-%s.json" % ("img" if sc == "image" else "txt", name))
        if os.path.exists(f):
            j = json.load(open(f))
            plans[name] = {"batch": j["batch"], "uncompiled_bytes": j["uncompiled_bytes"], "peak_bytes": j["peak_bytes"],
                           "ratio": j["ratio"], "int8_nodes": j["int8_nodes"], "fused_act": j["fused_act"]}
    comp = os.path.join(work, "%s-compress.json" % ("img" if sc == "image" else "txt"))
    compress = None
    if os.path.exists(comp):
        j = json.load(open(comp))
        compress = {"mac_reduction": j["mac_reduction"], "accuracy": j["accuracy"]}
    a = ratio["all"]
    targets = {"all_train_cpu_at_most_tenth": a["train_cpu"] <= 0.1,
               "all_process_cpu_at_most_tenth": a["cpu"] <= 0.1,
               "all_accuracy_at_most_1_point_lower": a["acc_points"] >= -1.0,
               "compiled_plan_at_most_half": all(p["ratio"] <= 0.5 for p in plans.values()) if plans else None}
    res["scenarios"][sc] = {"means": mean, "ratios_to_baseline": ratio, "compile_plans": plans,
                            "compress": compress, "targets": targets, "rows": rs}
    metric = "top-1 %" if sc == "image" else "top-3 %"
    md.append("### %s scenario (%d users, means per user)\n" % (sc, mean["baseline"]["users"]))
    md.append("| configuration | s | CPU-s | training CPU-s | job peak MB (allocated) | planned MB | process peak RSS MB | MACs | %s | CPU-s ratio | training CPU-s ratio | job memory ratio | accuracy vs baseline |" % metric)
    md.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    names = {"baseline": "baseline", "compression": "+ compression", "compiler": "+ compiler",
             "cache": "+ cache", "words": "+ user words", "all": "**all**"}
    for c in configs:
        m, r = mean[c], ratio[c]
        md.append("| %s | %.2f | %.2f | %.3f | %.1f | %.1f | %.0f | %.3g | %.2f | %.3f | %.3f | %.2f | %+.2f |" % (
            names[c], m["seconds"], m["cpu_seconds"], m["train_cpu_seconds"], m["job_peak_alloc_mb"],
            m["planned_mb"], m["peak_rss_mb"], m["macs"], 100 * m["acc"], r["cpu"], r["train_cpu"],
            r["job_memory"], r["acc_points"]))
    md.append("")
    for name, p in plans.items():
        md.append("- planned peak training memory (`autlearn compile --int8 --batch %d`, %s model): %.2f MB compiled vs %.2f MB uncompiled (%.3f)" % (
            p["batch"], "compressed" if name == "compile-small" else "cloud", p["peak_bytes"] / 1e6,
            p["uncompiled_bytes"] / 1e6, p["ratio"]))
    if compress:
        md.append("- compression: MACs / %.2f; accuracy %s" % (compress["mac_reduction"], compress["accuracy"]))
    md.append("- targets: " + ", ".join("%s %s" % (k, "yes" if v else "NO" if v is not None else "n/a") for k, v in targets.items()))
    md.append("")
md.append("cloud steps: " + ", ".join("%s %.0f s" % (s["step"], s["seconds"]) for s in step_rows))
md.append("whole run: %d s, threads %s" % (int(total), threads))
open(os.path.join(out, "ablation.json"), "w").write(json.dumps(res, indent=1) + "\n")
open(os.path.join(out, "ablation.md"), "w").write("\n".join(md) + "\n")
print("\n".join(md))
