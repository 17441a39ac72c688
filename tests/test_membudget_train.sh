#!/usr/bin/env bash
# The memory budget of plain training (`autlearn train --mem-budget MB`),
# end to end, on a model whose activations dominate (two 16-filter
# convolutions at 28x28, batch 64 asked for):
#  - a small budget halves the batch until the plan fits (reported in the
#    JSON and on stderr), trains exactly as that batch asked for without a
#    budget, and the process's peak RSS minus the baseline stays within the
#    budget plus a tolerance, while the same job without a budget goes well
#    past it (so the check can fail);
#  - a budget too small even for batch 1 exits 1 before training with the
#    AL_EBUDGET message naming the need and the budget, and writes nothing;
#  - a generous budget changes nothing.
# Peak RSS is what the process reports in its JSON (peak_rss_mb: Linux
# VmHWM since exec); the baseline is the same command with --dry-run
# (data loaded, model built, plan made). Under ASan the RSS comparison is
# skipped (shadow memory); the plan is checked through the allocator hook in
# test_membudget_plan.
#   bash tests/test_membudget_train.sh <path-to-autlearn> <source-dir>
set -u
. "$(dirname "$0")/lib.sh"
tl_init membudget_train "$@"
BUDGET=8
TOL_MB=2
asan=0
if nm -D "$BIN" 2>/dev/null | grep -q '__asan_init' || ldd "$BIN" 2>/dev/null | grep -q libasan; then asan=1; fi
jget() { "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$@"; }

DATA=$TMP/data
mkdir -p "$DATA"
"$PY" "$SRC/tests/make_idx.py" "$DATA" 256 100 || { echo "cannot make data" >&2; exit 1; }
T=(train --data "$DATA" --arch "input 1x28x28; conv 16 k=3 p=1; relu; conv 16 k=3 p=1; relu; maxpool k=2; flatten; dense 10"
   --epochs 2 --quiet --json)

run "${T[@]}" --batch 64 --out "$TMP/none.gguf" --mem-budget $BUDGET --dry-run
check "--dry-run succeeds" test "$rc" -eq 0
cp "$TMP/out" "$TMP/base.json"
check "--dry-run writes no model" test ! -e "$TMP/none.gguf"
check "--dry-run prints the plan: the batch halved into the budget" "$PY" -c '
import json,sys; j=json.load(open(sys.argv[1])); b=float(sys.argv[2])
assert j["command"]=="train" and j["dry_run"] is True and j["mem_budget_mb"]==b and j["planned_mb"]<=b, j
assert j["batch_requested"]==64 and 1<=j["batch_used"]<64 and j["batch_shrunk"] is True and "cache_mb_used" not in j, j
p=j["planned_parts_mb"]; assert abs(sum(p.values())-j["planned_mb"])<1e-3, j' "$TMP/base.json" $BUDGET

run "${T[@]}" --batch 64 --out "$TMP/full.gguf"
check "train without a budget succeeds" test "$rc" -eq 0
cp "$TMP/out" "$TMP/full.json"
check "without a budget: batch 64, planned past the budget" "$PY" -c '
import json,sys; j=json.load(open(sys.argv[1]))
assert j["mem_budget_mb"] is None and j["batch_used"]==64 and j["planned_mb"]>float(sys.argv[2]), j' "$TMP/full.json" $BUDGET

run "${T[@]}" --batch 64 --out "$TMP/small.gguf" --mem-budget $BUDGET
check "train --mem-budget $BUDGET succeeds" test "$rc" -eq 0
cp "$TMP/out" "$TMP/small.json"
bu=$(jget "$TMP/small.json" batch_used 2>/dev/null || echo 0)
check "the batch shrank to the dry run's, within the budget" "$PY" -c '
import json,sys; j=json.load(open(sys.argv[1])); d=json.load(open(sys.argv[2]))
assert j["batch_used"]==d["batch_used"] and j["planned_mb"]==d["planned_mb"]<=j["mem_budget_mb"], (j, d)' \
    "$TMP/small.json" "$TMP/base.json"
check "the budget's note is on stderr" grep -q "memory budget $BUDGET.00 MiB: batch $bu (asked 64)" "$TMP/err"
run "${T[@]}" --batch "$bu" --out "$TMP/batch.gguf"
check "the shrunk job trains exactly as batch $bu asked for" cmp -s "$TMP/small.gguf" "$TMP/batch.gguf"
check "a smaller batch changes the result" bash -c "! cmp -s '$TMP/small.gguf' '$TMP/full.gguf'"

if [ "$asan" -eq 1 ]; then
    echo "test_membudget_train: ASan build: peak-RSS comparison skipped (shadow memory and quarantine dominate RSS)"
else
    base=$(jget "$TMP/base.json" peak_rss_mb)
    full=$(jget "$TMP/full.json" peak_rss_mb)
    small=$(jget "$TMP/small.json" peak_rss_mb)
    echo "test_membudget_train: peak RSS: baseline $base MiB, no budget $full MiB, budget $BUDGET MiB (batch $bu): $small MiB"
    check "peak RSS - baseline <= budget $BUDGET MiB + $TOL_MB MiB" \
        "$PY" -c 'import sys; b,s,B,T=map(float,sys.argv[1:]); assert b>0 and s-b<=B+T, (b,s)' "$base" "$small" $BUDGET $TOL_MB
    check "without the budget the job goes past it: the check can fail" \
        "$PY" -c 'import sys; b,f,B,T=map(float,sys.argv[1:]); assert f-b>B+T, (b,f)' "$base" "$full" $BUDGET $TOL_MB
fi

run "${T[@]}" --batch 64 --out "$TMP/tiny.gguf" --mem-budget 1
check "a budget too small exits 1" test "$rc" -eq 1
check "it names the budget and the need" grep -qE "memory budget of 1.00 MiB cannot be met: this training needs at least [0-9.]+ MiB even with batch 1" "$TMP/err"
check "it fails before training (nothing on stdout)" test ! -s "$TMP/out"
check "no output file" test ! -e "$TMP/tiny.gguf"
run "${T[@]}" --out "$TMP/x.gguf" --mem-budget 0
check "a zero budget is a usage error" test "$rc" -eq 2

run "${T[@]}" --batch 64 --out "$TMP/big.gguf" --mem-budget 4096
check "a generous budget succeeds" test "$rc" -eq 0
check "a generous budget keeps the batch" "$PY" -c '
import json,sys; j=json.load(open(sys.argv[1])); assert j["batch_used"]==64 and not j["batch_shrunk"] and j["mem_budget_mb"]==4096, j' "$TMP/out"
check "a generous budget gives the same model bytes" cmp -s "$TMP/big.gguf" "$TMP/full.gguf"

tl_end
