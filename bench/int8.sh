#!/usr/bin/env bash
# The frozen forward of MobileNetV2-0.5 at 96x96 (bench_train's mnv2_frozen
# jobs: torchvision's features[:15], batch 32, synthetic images) in float and
# in the int8 forms, side by side with PyTorch's float and int8 twins
# (bench/torch_train.py: FX post-training static quantization on the best
# engine the build has), R rounds interleaved at each thread count, each run
# its own process. Prints, per form and thread count, the median and the
# range of the CPU and wall ms per batch, and the ratios of the medians.
#
#   bench/int8.sh
#
# The forms (bench_train.c, mnv2_model; docs/COMPILE.md "int8 frozen part"):
#   float            compiled (ReLU6 fused), no int8
#   int8             compile --int8: the 1x1 convs of K >= 32, scales found at run time
#   int8 static      compile --int8 --calib: the same with static scales
#   dw               compile --int8-dw (scales at run time)
#   dw static        compile --int8-dw --calib
#   dw k8            compile --int8-dw --int8-min-k 8 (scales at run time)
#   dw k8 static     compile --int8-dw --int8-min-k 8 --calib: the int8 chain through every block,
#                    the residual adds in int8
#   dw k8 float add  the same with the residual adds in float (AL_BENCH_I8_ADD=0: what the int8 add adds)
#   dw k8 no chain   the same, floats between the layers (AL_BENCH_I8_CHAIN=0: what the chain adds)
# Environment: BUILD (build), AL_BENCH_THREADS ("1 2"), AL_BENCH_REPEAT (5),
# AL_BENCH_MNV2_SAMPLES (320), AL_BENCH_OUT (out/bench-int8), PYTHON (python3 on the
# PATH when it imports torch, else /usr/bin/python3: Debian's, as bench/run.sh).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${BUILD:-$root/build}"
bin="$build/bench_train"
py="${PYTHON:-python3}"
if [ -z "${PYTHON:-}" ] && ! "$py" -c 'import torch' 2>/dev/null && [ -x /usr/bin/python3 ]; then py=/usr/bin/python3; fi
threads="${AL_BENCH_THREADS:-1 2}"
repeat="${AL_BENCH_REPEAT:-5}"
samples="${AL_BENCH_MNV2_SAMPLES:-320}"
out="${AL_BENCH_OUT:-$root/out/bench-int8}"
[ -x "$bin" ] || { echo "bench/int8.sh: $bin not found; build first" >&2; exit 1; }
"$py" -c 'import torch, torchvision' 2>/dev/null || { echo "bench/int8.sh: PyTorch or torchvision missing (scripts/deps.sh bench)" >&2; exit 1; }
mkdir -p "$out"
runs="$out/runs.jsonl"
: >"$runs"

forms=(
  "float|mnv2_frozen|"
  "int8|mnv2_frozen_int8|"
  "int8 static|mnv2_frozen_int8s|"
  "dw|mnv2_frozen_int8|AL_BENCH_INT8_DW=1"
  "dw static|mnv2_frozen_int8s|AL_BENCH_INT8_DW=1"
  "dw k8|mnv2_frozen_int8|AL_BENCH_INT8_DW=1 AL_BENCH_INT8_MIN_K=8"
  "dw k8 static|mnv2_frozen_int8s|AL_BENCH_INT8_DW=1 AL_BENCH_INT8_MIN_K=8"
  "dw k8 float add|mnv2_frozen_int8s|AL_BENCH_INT8_DW=1 AL_BENCH_INT8_MIN_K=8 AL_BENCH_I8_ADD=0"
  "dw k8 no chain|mnv2_frozen_int8s|AL_BENCH_INT8_DW=1 AL_BENCH_INT8_MIN_K=8 AL_BENCH_I8_CHAIN=0"
  "pytorch float|mnv2_frozen|torch"
  "pytorch int8|mnv2_frozen_int8|torch"
)

one() { # label job envs threads
  local label="$1" job="$2" envs="$3" t="$4" line
  if [ "$envs" = torch ]; then
    line="$(OMP_NUM_THREADS="$t" OPENBLAS_NUM_THREADS="$t" MKL_NUM_THREADS="$t" \
      "$py" "$root/bench/torch_train.py" --job "$job" --threads "$t" --batch 32 --samples "$samples" 2>/dev/null | tail -n 1)"
  else
    # shellcheck disable=SC2086
    line="$(env $envs "$bin" --job "$job" --threads "$t" --batch 32 --samples "$samples" 2>/dev/null | tail -n 1)"
  fi
  case "$line" in "{"*"}") ;; *) echo "bench/int8.sh: $label ($job, $t threads) printed no JSON line" >&2; exit 1 ;; esac
  LABEL="$label" "$py" -c 'import json, os, sys; r = json.loads(sys.argv[1]); r["form"] = os.environ["LABEL"]; print(json.dumps(r))' "$line" >>"$runs"
  printf '  %-16s %s threads: %s\n' "$label" "$t" "$(tail -n 1 "$runs" | cut -c1-120)" >&2
}

echo "bench/int8.sh: load average $(cut -d' ' -f1-3 /proc/loadavg) before the runs; $repeat rounds" >&2
for r in $(seq 1 "$repeat"); do
  for t in $threads; do
    for f in "${forms[@]}"; do
      IFS='|' read -r label job envs <<<"$f"
      one "$label" "$job" "$envs" "$t"
    done
  done
done
echo "bench/int8.sh: load average $(cut -d' ' -f1-3 /proc/loadavg) after the runs" >&2

RUNS="$runs" "$py" - <<'EOF'
import json, os, statistics as st
runs = [json.loads(l) for l in open(os.environ["RUNS"])]
order = []
for r in runs:
    if r["form"] not in order: order.append(r["form"])
def cell(v): return "%.1f (%.1f-%.1f)" % (st.median(v), min(v), max(v))
print("MobileNetV2-0.5 frozen forward (features[:15]), batch 32, ms per batch: median (min-max) of %d runs"
      % max(1, len(runs) // max(1, len({(r["form"], r["threads"]) for r in runs}))))
for t in sorted({r["threads"] for r in runs}):
    print("\n%d thread%s" % (t, "" if t == 1 else "s"))
    print("%-16s %-22s %-22s %8s %8s %8s" % ("form", "CPU ms", "wall ms", "/float", "/int8", "/pt int8"))
    print("(ratios: of the CPU medians, to autlearn float, to autlearn int8 and to PyTorch int8)")
    med = {}
    pt = st.median([1000 * r["cpu_seconds"] / r["steps"] for r in runs if r["form"] == "pytorch int8" and r["threads"] == t] or [0])
    for f in order:
        rs = [r for r in runs if r["form"] == f and r["threads"] == t]
        if not rs: continue
        cpu = [1000 * r["cpu_seconds"] / r["steps"] for r in rs]
        wall = [r["ms_per_step"] for r in rs]
        med[f] = st.median(cpu)
        print("%-16s %-22s %-22s %8s %8s %8s" % (f, cell(cpu), cell(wall),
              "%.2f" % (med[f] / med["float"]) if "float" in med else "-",
              "%.2f" % (med[f] / med["int8"]) if "int8" in med else "-",
              "%.2f" % (med[f] / pt) if pt else "-"))
eng = next((r.get("torch_qengine") for r in runs if r.get("torch_qengine")), None)
tv = next((r.get("torch_version") or r.get("torch") for r in runs if r.get("impl") == "pytorch"), None)
print("\nPyTorch %s, int8 engine %s; CPU: %s" % (tv, eng, next((r.get("cpu") for r in runs if r.get("cpu")), "?")))
EOF
