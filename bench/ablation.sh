#!/usr/bin/env bash
# Ablation of the cost optimizations (issue #5, made fair in #18): for the
# image and the text scenario, in one run, the device's personalization job
# in seven (image) or eight (text) configurations, each user's job in each
# configuration its own process. Every row is measured against the library's
# default, not a straw man: the liveness memory planner is the default for
# every model, compiled or not, so the baseline uses it too.
#
#   baseline     the uncompressed cloud model, uncompiled, the library's
#                default memory plan (liveness planner) and frozen forward
#                (in chunks of samples), no runtime cache (--no-cache)
#   naive layout the baseline with the naive memory layout (--naive-plan:
#                every activation its own buffer), to show what the planner
#                buys; no other row uses it
#   unchunked    the baseline with the frozen part run node by node over the
#                whole batch (--forward-chunk -1), to show what the chunked
#                forward (the default since session 16) buys; no other row
#                uses it
#   +compression the SVD-compressed model (autlearn compress, retrained on the
#                public data), otherwise as the baseline
#   +compiler    the cloud model compiled at the freeze point with int8 frozen
#                layers (autlearn compile --int8: int8 frozen part, folding,
#                fusion), otherwise as the baseline: the row shows only what
#                compilation adds over the planner
#   +cache       the uncompressed, uncompiled model with the runtime cache
#   +user words  (text) the baseline training only the output rows of the
#                user's 512 most used words (--train-words 512; the softmax
#                stays exact, the frozen rows' share is computed once a window)
#   all          the compressed model compiled --int8, cache;
#                text: also --train-words 512, with the compressed output
#                layer's first factor frozen (compiled at the last node)
#
# Every job first runs the app's inference pass over the user's data (images:
# --predict-first; text: the keyboard's predict pass), which fills the cache
# where there is one. Its CPU seconds (predict_cpu_seconds) are reported and
# the headline ratio is training + that pass: the cache's gain is not counted
# without the work that filled it. The training-only ratio is a separate,
# named column ("inference pass already ran").
#
# The cloud side runs once per scenario: pretrain (scenario defaults),
# compress (image --mac-reduction 2 with two retraining epochs, text
# --mac-reduction 3 with one, on the public data), compile --int8 of the cloud and of the
# compressed model (text: at its output layer). Every job runs `autlearn personalize` with the scenario's
# default user data and settings.
#
# Per job: wall seconds and CPU seconds (user + system) of the whole process
# (/usr/bin/time), the CPU seconds of the training itself and of the inference
# pass before it (personalize --json: predict_cpu_seconds), the job's peak
# of allocated bytes (personalize --json: train_cpu_seconds,
# job_peak_alloc_mb), the planned memory, the process's peak RSS, the MACs
# spent, and the accuracy on the user's private test set (image: top-1; text:
# top-3 next word). Writes OUT/runs.jsonl (one line per job), OUT/ablation.json
# (rows, per-configuration means, ratios to the baseline, compile plans,
# cloud-side steps) and OUT/ablation.md (the tables), and prints the tables.
#
# usage: bench/ablation.sh [--users N] [--text-users N] [--threads T]
#                          [--scenario image|text|both] [--out DIR] [--reuse]
#   --users N       image users to run (default: all 20 of the scenario)
#   --text-users N  text users to run (default: all 10 of the scenario)
#   --threads T     threads of every step (default 1: CPU seconds stay honest
#                   on a shared machine)
#   --reuse         keep the cloud-side models already in OUT/work (a quick
#                   rerun of the device jobs; the README numbers are without it)
# Environment: BUILD (build directory, default build), AL_ABL_IMAGE_DATA
# (default data/fashion-mnist), AL_ABL_TEXT_DATA (default data/sotu).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD:-build}"
case "$build" in /*) ;; *) build="$root/$build" ;; esac
bin="$build/autlearn"
py=/usr/bin/python3
img_data="${AL_ABL_IMAGE_DATA:-$root/data/fashion-mnist}"
txt_data="${AL_ABL_TEXT_DATA:-$root/data/sotu}"
img_users=20
txt_users=10
threads=1
scen=both
out="$root/out/ablation"
reuse=0

die() { echo "bench/ablation.sh: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
  case "$1" in
    --users) img_users="$2"; shift 2 ;;
    --text-users) txt_users="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --scenario) scen="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --reuse) reuse=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done
case "$scen" in image|text|both) ;; *) die "--scenario image|text|both" ;; esac
[ -x "$bin" ] || die "$bin not found; build first (cmake --build $build)"
[ -x /usr/bin/time ] || die "/usr/bin/time not found (Debian package 'time')"
[ -x "$py" ] || die "$py not found"

work="$out/work"
mkdir -p "$work"
runs="$out/runs.jsonl"
steps="$out/steps.jsonl"
: >"$runs"
[ "$reuse" = 1 ] && [ -f "$steps" ] || : >"$steps"
t_start=$(date +%s)

# step NAME OUTFILE ARGS...: a cloud-side command, its JSON kept, timed
step() {
  local name=$1 target=$2
  shift 2
  if [ "$reuse" = 1 ] && [ -s "$target" ] && [ -s "$work/$name.json" ]; then
    echo "  $name: reusing $target" >&2
    return
  fi
  echo "  $name: autlearn $*" >&2
  local t0 t1
  t0=$(date +%s.%N)
  "$bin" "$@" --json >"$work/$name.json" 2>"$work/$name.err" ||
    { tail -5 "$work/$name.err" >&2; die "$name failed"; }
  t1=$(date +%s.%N)
  "$py" -c 'import json, sys; print(json.dumps({"step": sys.argv[1], "seconds": float(sys.argv[3]) - float(sys.argv[2])}))' \
    "$name" "$t0" "$t1" >>"$steps"
}

# job SCENARIO CONFIG USER MODEL FLAGS...: one personalization in its own process
job() {
  local sc=$1 cfg=$2 user=$3 model=$4
  shift 4
  local tf="$work/time.txt" jf="$work/job.json"
  local args=(personalize --model "$model" --user "$user" --out "$work/personal.gguf" --threads "$threads" --json)
  if [ "$sc" = text ]; then
    args+=(--scenario text --data "$txt_data")
  else
    # the gallery app classified the photos when they were taken: every
    # configuration runs that predict pass first (kept in the cache where
    # there is one), as the text path runs its keyboard's predict pass
    args+=(--data "$img_data" --predict-first)
  fi
  /usr/bin/time -f '%e %U %S' -o "$tf" "$bin" "${args[@]}" "$@" >"$jf" 2>"$work/job.err" ||
    { tail -5 "$work/job.err" >&2; die "$sc $cfg user $user failed"; }
  "$py" - "$sc" "$cfg" "$user" "$tf" "$jf" >>"$runs" <<'EOF'
import json, sys
sc, cfg, user, tf, jf = sys.argv[1:6]
wall, usr, sys_ = (float(v) for v in open(tf).read().split()[-3:])
j = json.load(open(jf))
acc = j["test_acc_after"] if sc == "image" else j["test_top3_after"]
before = j["test_acc_before"] if sc == "image" else j["test_top3_before"]
print(json.dumps({"scenario": sc, "config": cfg, "user": user, "seconds": wall, "cpu_seconds": usr + sys_,
                  "train_cpu_seconds": j["train_cpu_seconds"], "train_seconds": j["seconds"],
                  "predict_cpu_seconds": j["predict_cpu_seconds"] or 0.0,
                  "peak_rss_mb": j["peak_rss_mb"], "job_peak_alloc_mb": j["job_peak_alloc_mb"],
                  "planned_mb": j["planned_mb"], "macs": j["macs"], "acc": acc, "acc_before": before,
                  "cache_hits": j["cache_hits"], "cache": j["cache"], "naive_plan": j["naive_plan"],
                  "forward_chunk": j["forward_chunk"]}))
EOF
  tail -n 1 "$runs" | "$py" -c 'import json, sys; r = json.loads(sys.stdin.read())
print("    %-5s %-12s user %-22s %6.2f s  cpu %6.2f s  train cpu %6.3f s  predict cpu %6.3f s  alloc %6.1f MB  MACs %.3g  acc %.4f" % (
    r["scenario"], r["config"], r["user"], r["seconds"], r["cpu_seconds"], r["train_cpu_seconds"],
    r["predict_cpu_seconds"], r["job_peak_alloc_mb"], r["macs"], r["acc"]))' >&2
}

# the text configurations' trained output rows (--train-words)
words=512

# configs SCENARIO USER CLOUD SMALL COMPILED SMALL_COMPILED: the seven (text: eight), interleaved per user
configs() {
  local sc=$1 u=$2
  job "$sc" baseline "$u" "$3" --no-cache
  job "$sc" naive "$u" "$3" --no-cache --naive-plan
  job "$sc" unchunked "$u" "$3" --no-cache --forward-chunk -1
  job "$sc" compression "$u" "$4" --no-cache
  job "$sc" compiler "$u" "$5" --no-cache
  job "$sc" cache "$u" "$3"
  if [ "$sc" = text ]; then
    job "$sc" words "$u" "$3" --no-cache --train-words "$words"
    job "$sc" all "$u" "$6" --train-words "$words"
  else
    job "$sc" all "$u" "$6"
  fi
}

echo "ablation: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), threads $threads" >&2

if [ "$scen" != text ]; then
  [ -d "$img_data" ] || die "no image data in $img_data (scripts/fetch-data.sh fashion)"
  echo "image scenario: cloud side" >&2
  step img-pretrain "$work/img-cloud.gguf" pretrain --data "$img_data" --out "$work/img-cloud.gguf" --threads "$threads"
  step img-compress "$work/img-small.gguf" compress --model "$work/img-cloud.gguf" --out "$work/img-small.gguf" \
    --mac-reduction 2 --data "$img_data" --retrain-epochs 2 --threads "$threads"
  step img-compile "$work/img-compiled.gguf" compile --model "$work/img-cloud.gguf" \
    --out "$work/img-compiled.gguf" --int8 --batch 32
  step img-compile-small "$work/img-small-compiled.gguf" compile --model "$work/img-small.gguf" \
    --out "$work/img-small-compiled.gguf" --int8 --batch 32
  echo "image scenario: $img_users users x 7 configurations" >&2
  for u in $(seq 0 $((img_users - 1))); do
    configs image "$u" "$work/img-cloud.gguf" "$work/img-small.gguf" "$work/img-compiled.gguf" \
      "$work/img-small-compiled.gguf"
  done
fi

if [ "$scen" != image ]; then
  [ -d "$txt_data" ] || die "no text data in $txt_data (scripts/fetch-data.sh sotu)"
  echo "text scenario: cloud side" >&2
  step txt-pretrain "$work/txt-cloud.gguf" pretrain --scenario text --data "$txt_data" --out "$work/txt-cloud.gguf" \
    --threads "$threads"
  step txt-compress "$work/txt-small.gguf" compress --model "$work/txt-cloud.gguf" --out "$work/txt-small.gguf" \
    --mac-reduction 3 --data "$txt_data" --retrain-epochs 1 --threads "$threads"
  # the text job's batch is 8 windows
  step txt-compile "$work/txt-compiled.gguf" compile --model "$work/txt-cloud.gguf" \
    --out "$work/txt-compiled.gguf" --int8 --batch 8
  # at the compressed output layer's last factor (the last node): only its rows train
  last=$("$bin" info --model "$work/txt-small.gguf" --json | "$py" -c 'import json, sys; print(len(json.load(sys.stdin)["nodes"]) - 1)')
  step txt-compile-small "$work/txt-small-compiled.gguf" compile --model "$work/txt-small.gguf" \
    --out "$work/txt-small-compiled.gguf" --int8 --batch 8 --freeze "$last"
  # the scenario's users: the presidents with most addresses since 1901 (src/cloud/sim/scenario_text.c)
  users=$("$py" - "$txt_data" "$txt_users" <<'EOF'
import os, sys
d, want = sys.argv[1], int(sys.argv[2])
count = {}
for f in sorted(os.listdir(d)):
    if not f.endswith(".txt") or f.startswith(".") or len(f) < 12:
        continue
    year, name = int(f[:4]), f[5:-4].rsplit("_", 1)[0]
    if year >= 1901:
        count[name] = count.get(name, 0) + 1
names = sorted((n for n in count if count[n] >= 2), key=lambda n: (-count[n], n))[:10]
print(" ".join(names[:want]))
EOF
)
  echo "text scenario: users $users; 8 configurations each" >&2
  for u in $users; do
    configs text "$u" "$work/txt-cloud.gguf" "$work/txt-small.gguf" "$work/txt-compiled.gguf" \
      "$work/txt-small-compiled.gguf"
  done
fi

t_end=$(date +%s)
"$py" "$root/bench/ablation_report.py" "$out" "$runs" "$steps" "$work" $((t_end - t_start)) "$threads"
