#!/usr/bin/env bash
# The device's recipe chooser against each fixed recipe (docs/RECIPES.md,
# README "The device's recipe"): `scenario image` (default label shift),
# global and autonomous only, one cloud model per seed (pre-trained once,
# reused from out/cloud-sS.gguf as scripts/image-personalization.sh makes
# it). Prints one markdown row per recipe: autonomous mean accuracy per
# seed (gain over global) and the mean over seeds ± the 95% t-interval,
# then the chooser's distance to the best fixed recipe (paired over seeds)
# and, per user, its personal model against the cloud model: below it by
# more than the test set's noise (2 binomial standard errors of the
# cloud model's accuracy on that user's test set)?
#   scripts/recipe-compare.sh [SEEDS...]     default: 1 2 3
#   AUTLEARN=build/autlearn AL_THREADS=1 scripts/recipe-compare.sh 1
#   RECIPES="auto" scripts/recipe-compare.sh   run only these rows again (the
#                                              table reads the others' JSON)
#   EXTRA="--shift feature --users 6" TAG=feature scripts/recipe-compare.sh
#                                              other users (scenario options),
#                                              their JSON kept apart by TAG
#   CLOUD=out/tune10/cloud-newclass-0.05-5-seed%d.gguf EXTRA="--shift newclass ..."
#                                              each seed's cloud from elsewhere
#                                              (printf pattern, %d the seed)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/fetch-data.sh fashion
threads=${AL_THREADS:-1}
bin=${AUTLEARN:-build/autlearn}
seeds=("$@")
[ ${#seeds[@]} -gt 0 ] || seeds=(1 2 3)
mkdir -p out
cloud_of() {  # cloud_of SEED: that seed's cloud model
  if [ -n "${CLOUD:-}" ]; then printf "$CLOUD" "$1"; else echo "out/cloud-s$1.gguf"; fi
}
for s in "${seeds[@]}"; do
  c=$(cloud_of "$s")
  if [ ! -f "$c" ]; then
    [ -z "${CLOUD:-}" ] || { echo "recipe-compare: no cloud model $c" >&2; exit 1; }
    "$bin" pretrain --data data/fashion-mnist --seed "$s" --threads "$threads" --out "$c" >/dev/null
  fi
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
    "$bin" scenario image --cloud "$(cloud_of "$s")" --seed "$s" --methods global,autonomous \
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
run full --recipe full
run full+aug --recipe full --aug-variants 4
/usr/bin/python3 - "$tag" "${seeds[*]}" "${names[@]}" <<'PY'
import json, math, sys
sys.path.insert(0, "scripts")
from tune import interval  # mean and 95% t-interval over seeds, as tune.py's tables
tag = sys.argv[1]
seeds = sys.argv[2].split()
names = sys.argv[3:]
print("| recipe | " + " | ".join(f"seed {s}" for s in seeds) + " | mean ± 95% CI |")
print("|---|" + "---|" * (len(seeds) + 1))
accs = {}
for n in names:
    cells = []
    accs[n] = []
    for s in seeds:
        j = json.load(open(f"out/recipe-{tag}{n}-s{s}.json"))
        g, a = j["global"]["mean_acc"], j["autonomous"]["mean_acc"]
        accs[n].append(100 * a)
        cells.append(f"{100*a:.2f} ({100*(a-g):+.2f})")
    m, hw = interval(accs[n])
    print(f"| {n} | " + " | ".join(cells) + f" | {m:.2f} ± {hw:.2f} |")
means = {n: sum(v) / len(v) for n, v in accs.items()}
best = max((v, n) for n, v in means.items() if n != "auto")
d, hw = interval([a - b for a, b in zip(accs["auto"], accs[best[1]])])
print(f"\nbest fixed recipe: {best[1]} {best[0]:.2f}%; auto {means['auto']:.2f}% "
      f"({d:+.2f} ± {hw:.2f} points, paired over seeds)")
below = total = 0
for s in seeds:
    j = json.load(open(f"out/recipe-{tag}auto-s{s}.json"))
    n = j["config"]["test_per_user"]
    pa, pg = j["autonomous"]["per_user"], j["global"]["per_user"]
    diff = [a - g for a, g in zip(pa, pg)]
    # the noise of one user's test set: 2 binomial standard errors of the cloud model's accuracy
    worse = [i for i, (a, g) in enumerate(zip(pa, pg)) if g - a > 2 * math.sqrt(max(g * (1 - g), 1e-12) / n)]
    below += len(worse)
    total += len(pa)
    print(f"seed {s}: auto per user vs global: worst {100*min(diff):+.2f}, users below global {sum(x < 0 for x in diff)} "
          f"of {len(diff)}, below by more than 2 SE: {len(worse)}")
print(f"users below the cloud model by more than the test set's noise (2 SE): {below} of {total}")
PY
