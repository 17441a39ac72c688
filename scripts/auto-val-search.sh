#!/usr/bin/env bash
# The chooser's held-out fraction (scenario image --auto-val F), searched on
# the users' validation split only (README, "The device's recipe"): for the
# feature and label shifts and seeds 1-3, the chooser at F = 0.2, 0.3, 0.4,
# the chooser by K-fold cross-validation at K = 3 and 5 (--auto-folds K,
# tags auto-k3, auto-k5) and the fixed recipes full and head, scored with --evaluate validation
# (the test images untouched), each seed's cloud out/cloud-sS.gguf as
# scripts/recipe-compare.sh makes it. Prints the mean validation accuracy
# per setting and the device's CPU seconds per user (the chooser's search
# and final job; JSON "cost"). JSON in out/av/ (kept: a rerun reads what is there).
#   scripts/auto-val-search.sh            AUTLEARN=build/autlearn by default
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/fetch-data.sh fashion
bin=${AUTLEARN:-build/autlearn}
mkdir -p out/av
settings=("auto 0.2" "auto 0.3" "auto 0.4" "auto k3" "auto k5" "full" "head")
for s in 1 2 3; do
  [ -f "out/cloud-s$s.gguf" ] || "$bin" pretrain --data data/fashion-mnist --seed "$s" --out "out/cloud-s$s.gguf" >/dev/null
done
for sh in feature label; do
  for s in 1 2 3; do
    for v in "${settings[@]}"; do
      read -r recipe frac <<< "$v"
      tag=$recipe${frac:+-$frac}
      o=out/av/$sh-$tag-s$s.json
      [ -f "$o" ] && continue
      extra=()
      case "${frac:-}" in
        k*) extra=(--auto-folds "${frac#k}") ;;
        ?*) extra=(--auto-val "$frac") ;;
      esac
      "$bin" scenario image --data data/fashion-mnist --shift "$sh" --users 6 --per-user 250 --val-per-user 50 \
        --test-per-user 200 --rounds 5 --threads 1 --seed "$s" --cloud "out/cloud-s$s.gguf" --evaluate validation \
        --methods global,autonomous --recipe "$recipe" "${extra[@]}" --quiet --json "$o" >/dev/null
    done
  done
done
/usr/bin/python3 - <<'PY'
import json
for sh in ["feature", "label"]:
    for tag in ["auto-0.2", "auto-0.3", "auto-0.4", "auto-k3", "auto-k5", "full", "head"]:
        j = [json.load(open(f"out/av/{sh}-{tag}-s{s}.json")) for s in (1, 2, 3)]
        v = [100 * x["autonomous"]["mean_acc"] for x in j]
        cpu = sum(x["cost"]["autonomous"]["cpu_seconds_per_user"] for x in j) / 3
        print(f"{sh} {tag}: " + " ".join(f"{x:.2f}" for x in v) + f"  mean {sum(v) / 3:.2f}  cpu-s/user {cpu:.2f}")
PY
