#!/usr/bin/python3
"""bench/run.sh's summary: reads the runs (JSON lines), the GEMM and the
library-size JSON named by the environment (RUNS, GEMM, SIZE), prints one
table of ratios (autlearn / PyTorch: below 1 is faster or smaller) with the
issue's targets, and writes everything to OUT (results.json, which the
README's table is built from)."""
import json
import os
import platform
import statistics

runs = [json.loads(l) for l in open(os.environ["RUNS"]) if l.strip()]
gemm = json.load(open(os.environ["GEMM"]))
size = json.load(open(os.environ["SIZE"]))


def median_run(impl, job, t):
    if impl == "autlearn" and job == "personalize_nocache":
        job = "personalize"  # one autlearn job, two PyTorch twins
    rs = sorted((r for r in runs if r["impl"] == impl and r.get("job", "cnn") == job and r["threads"] == t),
                key=lambda r: r["seconds"])
    return rs[(len(rs) - 1) // 2] if rs else None


cpu = ""
try:
    for l in open("/proc/cpuinfo"):
        if l.startswith("model name"):
            cpu = l.split(":", 1)[1].strip()
            break
except OSError:
    pass

best_gemm = max([s[k] for s in gemm.get("sizes", []) for k in ("autlearn_gflops", "openblas_gflops")] or [0])
peak = gemm.get("fma_peak_gflops") or best_gemm  # GFLOP/s of one core


def frac(r):
    """Fraction of the machine's peak (peak of one core x threads) the step's counted FLOPs reach."""
    if not peak or not r.get("flops_per_step") or not r["ms_per_step"]:
        return None
    return r["flops_per_step"] / (r["ms_per_step"] * 1e-3) * 1e-9 / (peak * r["threads"])


summary = []
JOBS = ("cnn", "lm", "personalize", "personalize_nocache", "mnv2", "mnv2_frozen", "mnv2_frozen_int8",
        "mnv2_frozen_int8s", "mnv2_frozen_int8all")


def increase_ratio(a, p):
    """Peak RSS above each process's footprint once its libraries (and the
    data) are loaded, autlearn / PyTorch."""
    ia, ip = a.get("rss_increase_mb"), p.get("rss_increase_mb")
    return ia / ip if ia is not None and ip and ip > 0 else None

for job in JOBS:
    for t in sorted({r["threads"] for r in runs if r.get("job", "cnn") == job and r["impl"] == "pytorch"}):
        a, p = median_run("autlearn", job, t), median_run("pytorch", job, t)
        if not a or not p:
            continue
        summary.append({"job": job, "threads": t, "autlearn": a, "pytorch": p,
                        "time_ratio": a["seconds"] / p["seconds"],
                        "cpu_ratio": a["cpu_seconds"] / p["cpu_seconds"],
                        "mem_ratio": a["peak_rss_mb"] / p["peak_rss_mb"],
                        "mem_increase_ratio": increase_ratio(a, p),
                        "machine": "%s, %s cores" % (p.get("cpu") or cpu or "?", p.get("cores") or os.cpu_count()),
                        "torch": p.get("torch"), "torch_threads": p.get("torch_threads"),
                        "torch_interop_threads": p.get("torch_interop_threads"),
                        "oversubscribed": p.get("oversubscribed"),
                        "process_mem_ratio": a["process_peak_rss_mb"] / p["process_peak_rss_mb"],
                        "autlearn_peak_fraction": frac(a), "pytorch_peak_fraction": frac(p)})


def find(job, t):
    for s in summary:
        if s["job"] == job and s["threads"] == t:
            return s
    return None


derived = {}
c1, c2, l1, l2 = find("cnn", 1), find("cnn", 2), find("lm", 1), find("lm", 2)
if c1 and c2:
    derived["cnn_speedup_2t_autlearn"] = c1["autlearn"]["seconds"] / c2["autlearn"]["seconds"]
    derived["cnn_speedup_2t_pytorch"] = c1["pytorch"]["seconds"] / c2["pytorch"]["seconds"]
if l1 and l2:
    derived["lm_2t_vs_pytorch_1t"] = l2["autlearn"]["seconds"] / l1["pytorch"]["seconds"]
if gemm.get("sizes"):
    derived["gemm_min_ratio_128_1024"] = min(s["autlearn_gflops"] / s["openblas_gflops"] for s in gemm["sizes"]
                                             if s["n"] >= 128 and s["openblas_gflops"] > 0) \
        if gemm.get("openblas") else None
if summary:
    derived["max_mem_ratio"] = max(s["mem_ratio"] for s in summary)
    inc = [s["mem_increase_ratio"] for s in summary if s["mem_increase_ratio"] is not None]
    if inc:
        derived["max_mem_increase_ratio"] = max(inc)

doc = {"benchmark": "autlearn vs pytorch/openblas", "data": os.environ.get("DATA", ""),
       "cpu": cpu, "cores": os.cpu_count(), "machine": platform.machine(),
       "loadavg_before": float(os.environ.get("LOAD", "0")),
       "peak_gflops_per_core": peak, "peak_source": "fma loop" if gemm.get("fma_peak_gflops") else "best gemm",
       "gemm": gemm, "library_size": size, "summary": summary, "derived": derived, "runs": runs}
with open(os.environ["OUT"], "w") as f:
    json.dump(doc, f, indent=1)
    f.write("\n")

nrep = max([sum(1 for r in runs if r["impl"] == "autlearn" and r.get("job") == s["job"] and r["threads"] == s["threads"])
            for s in summary] or [0])
if runs or gemm.get("sizes"):
    print("autlearn vs PyTorch %s%s on %s (%d cores), load average %.2f before the runs"
          % (runs[0].get("torch", "?") if runs and "torch" in runs[0] else
             next((r["torch"] for r in runs if "torch" in r), "?"),
             " / OpenBLAS (SGEMM)" if gemm.get("sizes") else "", cpu or "?", os.cpu_count() or 0,
             float(os.environ.get("LOAD", "0"))))
pt_threads = sorted({(r["threads"], r.get("torch_threads"), r.get("torch_interop_threads"), r.get("omp_num_threads"),
                      r.get("mkl_num_threads"), r.get("openblas_num_threads")) for r in runs if r["impl"] == "pytorch"},
                    key=str)
if pt_threads:
    print("PyTorch threads (asked: torch.get_num_threads(), interop threads, OMP / MKL / OPENBLAS_NUM_THREADS): %s" %
          "; ".join("%s: %s, %s, %s / %s / %s" % t for t in pt_threads))
    bad = sorted({p for r in runs if r["impl"] == "pytorch" for p in r.get("thread_problems", [])})
    print("  oversubscription: %s" % ("NONE found (every PyTorch run: intra-op threads as asked, one interop"
                                      " thread, the three variables as asked, no more threads than cores)"
                                      if not bad else "FOUND: " + "; ".join(bad)))
if gemm.get("sizes"):
    print("\nSGEMM, 1 thread, GFLOP/s (best of 5; core peak %.1f GFLOP/s from an FMA loop)" % peak)
    print("%6s  %9s  %9s  %6s" % ("n", "autlearn", "openblas", "ratio"))
    for s in gemm["sizes"]:
        r = s["autlearn_gflops"] / s["openblas_gflops"] if s["openblas_gflops"] else float("nan")
        print("%6d  %9.1f  %9.1f  %6.2f" % (s["n"], s["autlearn_gflops"], s["openblas_gflops"], r))
if summary:
    print("\nTraining, median of %d run(s) by wall time; ratio = autlearn / pytorch" % nrep)
    print("%-19s %2s  %9s  %9s  %6s  %6s  %7s  %7s  %6s  %6s  %6s  %6s  %7s  %7s  %5s  %5s  %s" % (
        "job", "T", "al ms", "pt ms", "time", "cpu", "al MB", "pt MB", "mem", "al +MB", "pt +MB", "+mem",
        "al peak", "pt peak", "al cr", "pt cr", "machine, peer, threads"))
    for s in summary:
        a, p = s["autlearn"], s["pytorch"]
        whole = s["job"].startswith("personalize")
        ms_a = a["ms_per_step"] if not whole else 1e3 * a["seconds"]
        ms_p = p["ms_per_step"] if not whole else 1e3 * p["seconds"]
        fa, fp = s["autlearn_peak_fraction"], s["pytorch_peak_fraction"]
        ia, ip = a.get("rss_increase_mb"), p.get("rss_increase_mb")
        print("%-19s %2d  %9.2f  %9.2f  %6.2f  %6.2f  %7.1f  %7.1f  %6.2f  %6s  %6s  %6s  %7s  %7s  %5.2f  %5.2f  %s" % (
            s["job"], s["threads"], ms_a, ms_p, s["time_ratio"], s["cpu_ratio"], a["peak_rss_mb"],
            p["peak_rss_mb"], s["mem_ratio"], "%.1f" % ia if ia is not None else "-",
            "%.1f" % ip if ip is not None else "-",
            "%.2f" % s["mem_increase_ratio"] if s["mem_increase_ratio"] is not None else "-",
            "%.0f%%" % (100 * fa) if fa and not whole else "-",
            "%.0f%%" % (100 * fp) if fp and not whole else "-",
            a["cpu_seconds"] / a["seconds"], p["cpu_seconds"] / p["seconds"],
            "%s; PyTorch %s; %d thread%s (torch %s, interop %s)" % (
                s["machine"], s["torch"], s["threads"], "" if s["threads"] == 1 else "s", s["torch_threads"],
                s["torch_interop_threads"])))
    print("mnv2: MobileNetV2-0.5, 96x96, features[:15] frozen, a training step; mnv2_frozen(_int8): the frozen"
          " part's forward\nper batch (autlearn int8: the 1x1 convs with >= 32 input channels, int8s: the same with"
          " static scales\n(compile --calib), int8all: every conv, static scales (--int8-dw --int8-min-k 8 --calib);"
          "\nPyTorch int8: the %s engine, every conv)"
          % (next((r["torch_qengine"] for r in runs if r.get("torch_qengine")), "?")))
    print("personalize: PyTorch computes the frozen features once (inside the timer), as its users would;"
          " personalize_nocache:\nthe same autlearn job against PyTorch recomputing the frozen part every epoch")
    print("ms: per training step (personalize: the whole job); cpu: ratio of process CPU time; MB: peak RSS"
          " while training (whole\nprocess, loaded libraries included); +MB: that peak above the process's"
          " footprint once its libraries and data\nare loaded (+mem: their ratio);\npeak: the step's conv/dense/LSTM FLOPs per second over (core peak x threads);"
          " cr: cores the run got (CPU time / wall time):\nwell below T at T threads means other work held the"
          " cores, and that row's times say little")
if size:
    print("\nsize, bytes (stripped: strip --strip-unneeded of a copy)")
    print("%-24s %10s %10s" % ("file", "built", "stripped"))
    for f in size.get("files") or [{"file": size["library"], "bytes": size["bytes"],
                                    "stripped_bytes": size["stripped_bytes"]}]:
        print("%-24s %10d %10d" % (f["file"], f["bytes"], f["stripped_bytes"]))
    print("libautlearn.a's largest objects: %s" % ", ".join("%s %d" % (o["object"], o["bytes"]) for o in size["top"][:5]))

targets = []
if derived.get("gemm_min_ratio_128_1024") is not None:
    targets.append(("SGEMM >= 0.85x OpenBLAS, 128..1024", derived["gemm_min_ratio_128_1024"], ">=", 0.85))
if c1:
    targets.append(("CNN step 1T <= 0.8x PyTorch", c1["time_ratio"], "<=", 0.8))
if "cnn_speedup_2t_autlearn" in derived:
    targets.append(("CNN 2T >= 1.7x faster than 1T", derived["cnn_speedup_2t_autlearn"], ">=", 1.7))
if l1:
    targets.append(("LM step 1T <= 1.0x PyTorch", l1["time_ratio"], "<=", 1.0))
if "lm_2t_vs_pytorch_1t" in derived:
    targets.append(("LM step 2T <= 0.6x PyTorch 1T", derived["lm_2t_vs_pytorch_1t"], "<=", 0.6))
for s in summary:  # issue 18: MobileNet-class work at most 0.8x PyTorch's time
    if s["job"].startswith("mnv2"):
        targets.append(("%s %dT <= 0.8x PyTorch" % (s["job"], s["threads"]), s["time_ratio"], "<=", 0.8))
if "max_mem_ratio" in derived:
    targets.append(("peak memory <= 0.2x PyTorch (worst job)", derived["max_mem_ratio"], "<=", 0.2))
if "max_mem_increase_ratio" in derived:  # reported beside the target, which is on the whole process
    print("\nmemory above each process's loaded libraries and data, autlearn / PyTorch, worst job: %.2f"
          % derived["max_mem_increase_ratio"])
if size:
    # issue 6: under 1 MB; issue 13 (the device/cloud cut): under the 0.91 MB of before the cut
    if "shared_stripped_bytes" in size:
        targets.append(("stripped libautlearn.so < 0.91 MB", size["shared_stripped_bytes"] / 1e6, "<", 0.91))
    targets.append(("stripped libautlearn.a < 0.91 MB", size["stripped_bytes"] / 1e6, "<", 0.91))
if targets:
    print("\ntargets:")
    for name, v, op, goal in targets:
        ok = v >= goal if op == ">=" else v <= goal if op == "<=" else v < goal
        print("  %-42s %7.2f  %s" % (name, v, "met" if ok else "NOT met"))
print("\nresults: %s" % os.environ["OUT"])
