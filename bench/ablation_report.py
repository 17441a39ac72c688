#!/usr/bin/env python3
"""The tables of bench/ablation.sh from its runs: OUT/ablation.json and
OUT/ablation.md (also printed). Run by the script at its end; by hand:

    /usr/bin/python3 bench/ablation_report.py OUT OUT/runs.jsonl OUT/steps.jsonl OUT/work SECONDS THREADS

Every ratio is to the baseline, which is the library's default (liveness
memory planner, chunked frozen forward, no cache, uncompiled, uncompressed);
the naive layout and the unchunked frozen forward are their own rows. The headline CPU ratio is training + the inference pass that ran
before it (and filled the cache where there is one); the training-only ratio
is a separate column that assumes the inference pass already ran.

Accuracy target: the all-on configuration may be at most 1 point below the
baseline (a gain is not a miss)."""
import json, os, sys
out, runs, steps, work, total, threads = sys.argv[1:7]
rows = [json.loads(l) for l in open(runs) if l.strip()]
for r in rows:
    r.setdefault("predict_cpu_seconds", 0.0)
    # the job's work: training and the inference pass that filled the cache
    r["job_cpu_seconds"] = r["train_cpu_seconds"] + r["predict_cpu_seconds"]
step_rows = [json.loads(l) for l in open(steps) if l.strip()]
all_configs = ["baseline", "naive", "unchunked", "compression", "compiler", "cache", "words", "all"]
keys = ["seconds", "cpu_seconds", "train_cpu_seconds", "predict_cpu_seconds", "job_cpu_seconds", "job_peak_alloc_mb", "planned_mb", "peak_rss_mb", "macs", "acc"]
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
                 "job_cpu": mean[c]["job_cpu_seconds"] / b["job_cpu_seconds"],
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
                           "planner_only_bytes": j["planner_only_bytes"],
                           "ratio": j["ratio"], "ratio_to_planner": j["peak_bytes"] / j["planner_only_bytes"], "int8_nodes": j["int8_nodes"], "fused_act": j["fused_act"]}
    comp = os.path.join(work, "%s-compress.json" % ("img" if sc == "image" else "txt"))
    compress = None
    if os.path.exists(comp):
        j = json.load(open(comp))
        compress = {"mac_reduction": j["mac_reduction"], "accuracy": j["accuracy"]}
    a = ratio["all"]
    targets = {"all_job_cpu_at_most_tenth": a["job_cpu"] <= 0.1,
               "all_train_cpu_at_most_tenth_inference_pass_already_ran": a["train_cpu"] <= 0.1,
               "all_process_cpu_at_most_tenth": a["cpu"] <= 0.1,
               "all_accuracy_at_most_1_point_lower": a["acc_points"] >= -1.0,
               "plan_at_most_half_of_naive": all(p["ratio"] <= 0.5 for p in plans.values()) if plans else None}
    res["scenarios"][sc] = {"means": mean, "ratios_to_baseline": ratio, "compile_plans": plans,
                            "compress": compress, "targets": targets, "rows": rs}
    metric = "top-1 %" if sc == "image" else "top-3 %"
    md.append("### %s scenario (%d users, means per user)\n" % (sc, mean["baseline"]["users"]))
    md.append("| configuration | s | CPU-s | inference pass CPU-s | training CPU-s | job CPU-s (training + inference pass) | job peak MB (allocated) | planned MB | process peak RSS MB | MACs | %s | CPU-s ratio (process) | **job CPU-s ratio** | training CPU-s ratio (inference pass already ran) | job memory ratio | accuracy vs baseline |" % metric)
    md.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    names = {"baseline": "baseline (planner)", "naive": "naive layout",
             "unchunked": "frozen part unchunked", "compression": "+ compression",
             "compiler": "+ compiler", "cache": "+ cache", "words": "+ user words", "all": "**all**"}
    for c in configs:
        m, r = mean[c], ratio[c]
        md.append("| %s | %.2f | %.2f | %.3f | %.3f | %.3f | %.1f | %.1f | %.0f | %.3g | %.2f | %.3f | %.3f | %.3f | %.2f | %+.2f |" % (
            names[c], m["seconds"], m["cpu_seconds"], m["predict_cpu_seconds"], m["train_cpu_seconds"],
            m["job_cpu_seconds"], m["job_peak_alloc_mb"], m["planned_mb"], m["peak_rss_mb"], m["macs"],
            100 * m["acc"], r["cpu"], r["job_cpu"], r["train_cpu"], r["job_memory"], r["acc_points"]))
    md.append("")
    for name, p in plans.items():
        md.append("- planned peak training memory (`autlearn compile --int8 --batch %d`, %s model): %.2f MB compiled, %.2f MB planner alone (compilation adds %.3f), %.2f MB naive layout (%.3f)" % (
            p["batch"], "compressed" if name == "compile-small" else "cloud", p["peak_bytes"] / 1e6,
            p["planner_only_bytes"] / 1e6, p["ratio_to_planner"], p["uncompiled_bytes"] / 1e6, p["ratio"]))
    if compress:
        md.append("- compression: MACs / %.2f; accuracy %s" % (compress["mac_reduction"], compress["accuracy"]))
    md.append("- targets: " + ", ".join("%s %s" % (k, "yes" if v else "NO" if v is not None else "n/a") for k, v in targets.items()))
    md.append("")
md.append("cloud steps: " + ", ".join("%s %.0f s" % (s["step"], s["seconds"]) for s in step_rows))
md.append("whole run: %d s, threads %s" % (int(total), threads))
open(os.path.join(out, "ablation.json"), "w").write(json.dumps(res, indent=1) + "\n")
open(os.path.join(out, "ablation.md"), "w").write("\n".join(md) + "\n")
print("\n".join(md))
