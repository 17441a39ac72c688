#!/usr/bin/env bash
# The device's recipe chooser against each fixed recipe (docs/RECIPES.md,
# README "The device's recipe"): `scenario image` (default label shift),
# global and autonomous only, one cloud model per seed (pre-trained once,
# reused from out/cloud-sS.gguf as scripts/image-personalization.sh makes
# it). Prints one markdown row per recipe: autonomous mean accuracy per
# seed (gain over global) and the mean over seeds, then the chooser's
# distance to the best fixed recipe and its worst user against global.
#   scripts/recipe-compare.sh [SEEDS...]     default: 1 2 3
#   AUTLEARN=build/autlearn AL_THREADS=1 scripts/recipe-compare.sh 1
#   RECIPES="auto" scripts/recipe-compare.sh   run only these rows again (the
#                                              table reads the others' JSON)
#   EXTRA="--shift feature --users 6" TAG=feature scripts/recipe-compare.sh
#                                              other users (scenario options),
#                                              their JSON kept apart by TAG
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/fetch-data.sh fashion
threads=${AL_THREADS:-1}
bin=${AUTLEARN:-build/autlearn}
seeds=("$@")
[ ${#seeds[@]} -gt 0 ] || seeds=(1 2 3)
mkdir -p out
for s in "${seeds[@]}"; do
  [ -f "out/cloud-s$s.gguf" ] || "$bin" pretrain --data data/fashion-mnist --seed "$s" --threads "$threads" \
    --out "out/cloud-s$s.gguf" >/dev/null
done
names=()
only=" ${RECIPES:-} "
read -r -a extra <<< "${EXTRA:-}"
tag=${TAG:+$TAG-}
run() {  # run NAME ARGS...
  local name=$1; shift
  names+=("$name")
  [ "$only" = "  " ] || [[ "$only" == *" $name "* ]] || return 0
  for s in "${seeds[@]}"; do
    "$bin" scenario image --cloud "out/cloud-s$s.gguf" --seed "$s" --methods global,autonomous \
      --threads "$threads" --quiet --json "out/recipe-$tag$name-s$s.json" "${extra[@]}" "$@" >/dev/null
  done
}
run auto --recipe auto
run prior --recipe prior
run head --recipe head
run head+aug --recipe head --aug-variants 4
run last-block --recipe last-block
run last-block+aug --recipe last-block --aug-variants 4
run bias --recipe bias
run bias+aug --recipe bias --aug-variants 4
run deep --recipe deep
run deep+aug --recipe deep --aug-variants 4
/usr/bin/python3 - "$tag" "${seeds[*]}" "${names[@]}" <<'PY'
import json, sys
tag = sys.argv[1]
seeds = sys.argv[2].split()
names = sys.argv[3:]
print("| recipe | " + " | ".join(f"seed {s}" for s in seeds) + " | mean |")
print("|---|" + "---|" * (len(seeds) + 1))
means = {}
for n in names:
    cells, accs = [], []
    for s in seeds:
        j = json.load(open(f"out/recipe-{tag}{n}-s{s}.json"))
        g, a = j["global"]["mean_acc"], j["autonomous"]["mean_acc"]
        accs.append(a)
        cells.append(f"{100*a:.2f} ({100*(a-g):+.2f})")
    means[n] = sum(accs) / len(accs)
    print(f"| {n} | " + " | ".join(cells) + f" | {100*means[n]:.2f} |")
best = max((v, n) for n, v in means.items() if n != "auto")
print(f"\nbest fixed recipe: {best[1]} {100*best[0]:.2f}%; auto {100*means['auto']:.2f}% "
      f"({100*(means['auto']-best[0]):+.2f} points)")
for s in seeds:
    j = json.load(open(f"out/recipe-{tag}auto-s{s}.json"))
    d = [a - g for a, g in zip(j["autonomous"]["per_user"], j["global"]["per_user"])]
    print(f"seed {s}: auto per user vs global: worst {100*min(d):+.2f}, users below global {sum(x < 0 for x in d)} of {len(d)}")
PY
