#!/usr/bin/env bash
# The README's "new words" table: the keyboard on each scenario user's own
# text (personalize --text), before personalization, after it without new
# words and after it with new words; top-3 and keystrokes saved over every
# word target of the user's latest address (an <unk> target a miss, an
# unknown word typed in full), the device's training CPU time and memory.
#
#   scripts/measure-newwords.sh [OUT_DIR=build/newwords] [CLOUD_MODEL]
#
# Users: the scenario's default 10 (the presidents with most addresses since
# 1901, ties by name; docs/TEXT.md). A user's text: every address but the
# latest (the most recent 30,000 tokens are trained, as in the scenario);
# the test text: the latest address, read only for the final table.
# Without CLOUD_MODEL the scenario's cloud LM is pre-trained first (public
# text only, seed 1; about 3 minutes). The setting --new-words N is chosen
# on validation text only: each user's text with its last tenth held out
# (personalize --text without --test), N in $GRID, the best mean
# validation word top-3 (ties: the smaller N). The table reports the mean
# over users with a 95% t-interval; one seed (the run is deterministic).
# Needs data/sotu (scripts/fetch-data.sh sotu) and build/autlearn.
# JOBS parallel jobs (default 2), one thread each. A job whose JSON exists in
# OUT_DIR is not run again (rerun after an interruption, or to reprint).
# About 60 personalize runs of 6-7 CPU-seconds each (20 minutes on 2 loaded cores).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-build/newwords}
CLOUD=${2:-}
GRID=${GRID:-"2 3 5 10"}
JOBS=${JOBS:-2}
BIN=build/autlearn
DATA=data/sotu
mkdir -p "$OUT"
if [ -z "$CLOUD" ]; then
    CLOUD=$OUT/cloud.gguf
    [ -s "$CLOUD" ] || "$BIN" pretrain --scenario text --data "$DATA" --out "$CLOUD" --threads "$JOBS" >&2
fi
USERS=$(python3 - "$DATA" <<'PY'
import os, sys, collections
c = collections.Counter()
for f in os.listdir(sys.argv[1]):
    if f.endswith(".txt") and int(f[:4]) >= 1901:
        c["_".join(f[5:-4].split("_")[:-1])] += 1
print(" ".join(sorted(c, key=lambda n: (-c[n], n))[:10]))
PY
)
echo "users: $USERS" >&2

# one job: user, N, mode (val|test) -> $OUT/<mode>-<user>-<N>.json
job() {
    local u=$1 n=$2 mode=$3 files
    [ -s "$OUT/$mode-$u-$n.json" ] && return 0 # done in an earlier run
    files=$(ls "$DATA"/*_"$u"_*.txt | sort)
    local train test
    train=$(echo "$files" | head -n -1)
    test=$(echo "$files" | tail -n 1)
    local extra=()
    [ "$mode" = test ] && extra=(--test "$test")
    # shellcheck disable=SC2086
    "$BIN" personalize --model "$CLOUD" --text $train "${extra[@]}" --new-words "$n" --threads 1 \
        --out "$OUT/$mode-$u-$n.gguf" --json >"$OUT/$mode-$u-$n.json"
    rm -f "$OUT/$mode-$u-$n.gguf"
}
export -f job
export BIN CLOUD DATA OUT

for n in $GRID; do for u in $USERS; do echo "$u $n val"; done; done |
    xargs -P "$JOBS" -L 1 bash -c 'job $0 $1 $2'
BEST=$(python3 - "$OUT" "$GRID" "$USERS" <<'PY'
import json, sys
out, grid, users = sys.argv[1], [int(x) for x in sys.argv[2].split()], sys.argv[3].split()
best = None
for n in grid:
    m = sum(json.load(open("%s/val-%s-%d.json" % (out, u, n)))["test_word_top3_after"] for u in users) / len(users)
    print("validation: --new-words %d: word top-3 %.4f" % (n, m), file=sys.stderr)
    if best is None or m > best[1] + 1e-12: best = (n, m)
print(best[0])
PY
)
echo "chosen on validation: --new-words $BEST" >&2
for n in 0 "$BEST"; do for u in $USERS; do echo "$u $n test"; done; done |
    xargs -P "$JOBS" -L 1 bash -c 'job $0 $1 $2'
python3 - "$OUT" "$BEST" "$USERS" <<'PY'
import json, math, sys
out, best, users = sys.argv[1], int(sys.argv[2]), sys.argv[3].split()
def load(u, n): return json.load(open("%s/test-%s-%d.json" % (out, u, n)))
T975 = {9: 2.262, 8: 2.306, 4: 2.776, 1: 12.706}
def ci(xs):
    n = len(xs); m = sum(xs) / n
    if n < 2: return m, 0.0
    s = math.sqrt(sum((x - m) ** 2 for x in xs) / (n - 1))
    return m, T975.get(n - 1, 2.0) * s / math.sqrt(n)
rows = [("before (the cloud model)", "test_word_top3_before", "test_keystroke_savings_before", None),
        ("after, no new words", "test_word_top3_after", "test_keystroke_savings_after", 0),
        ("after, new words (--new-words %d)" % best, "test_word_top3_after", "test_keystroke_savings_after", best)]
print("| model | word top-3 % | keystrokes saved % | new words/user | training CPU s/user | job peak MB |")
print("|---|---|---|---|---|---|")
for name, kt, ks, n in rows:
    js = [load(u, 0 if n is None else n) for u in users]
    t, tc = ci([100 * j[kt] for j in js]); k, kc = ci([100 * j[ks] for j in js])
    if n is None:
        print("| %s | %.2f ± %.2f | %.2f ± %.2f | – | – | – |" % (name, t, tc, k, kc)); continue
    w = sum(j["new_words"] for j in js) / len(js)
    cpu = sum(j["train_cpu_seconds"] + j["predict_cpu_seconds"] for j in js) / len(js)
    mem = sum(j["job_peak_alloc_mb"] for j in js) / len(js)
    print("| %s | %.2f ± %.2f | %.2f ± %.2f | %.0f | %.2f | %.1f |" % (name, t, tc, k, kc, w, cpu, mem))
d = [100 * (load(u, best)["test_word_top3_after"] - load(u, 0)["test_word_top3_after"]) for u in users]
m, c = ci(d)
print("\nnew words minus no new words, word top-3: %+.2f ± %.2f points (paired, %d users)" % (m, c, len(users)))
d = [100 * (load(u, best)["test_keystroke_savings_after"] - load(u, 0)["test_keystroke_savings_after"]) for u in users]
m, c = ci(d)
print("keystrokes saved: %+.2f ± %.2f points" % (m, c))
js0, jsn = [load(u, 0) for u in users], [load(u, best) for u in users]
print("word targets per user: %.0f; unknown to the cloud vocabulary: %.2f%%, to the grown one: %.2f%%" %
      (sum(j["test_word_targets"] for j in js0) / len(users),
       100 * sum(j["test_word_unknown_before"] / j["test_word_targets"] for j in js0) / len(users),
       100 * sum(j["test_word_unknown_after"] / j["test_word_targets"] for j in jsn) / len(users)))
print("top-3 over all targets (the scenario's figure): before %.2f%%, after %.2f%% (no new words), %.2f%% (new words)" %
      (100 * sum(j["test_top3_before"] for j in js0) / len(users), 100 * sum(j["test_top3_after"] for j in js0) / len(users),
       100 * sum(j["test_top3_after"] for j in jsn) / len(users)))
PY
