#!/usr/bin/env bash
# The memory budget of text personalization (`autlearn personalize
# --scenario text --mem-budget MB`), end to end, on a tiny LM whose LSTM is
# frozen: its states over the user's stream (made by the keyboard's predict
# pass) are cache entries that cannot be recomputed exactly (a window
# recomputed alone would start from a zero state), so the budget must hold
# them, or the cache must spill them to its file:
#  - a budget below them without --cache-spill exits 1 before anything is
#    trained or written, naming the windows and the spill file;
#  - the same budget with --cache-spill trains the very same model bytes as
#    the run without a budget, and the process's peak RSS minus the
#    baseline stays within the budget plus a tolerance, while the run
#    without a budget goes well past it (so the check can fail);
#  - a budget too small even with a spill file is the same clear error;
#  - a generous budget changes nothing.
# Peak RSS is what the process reports in its JSON (peak_rss_mb: Linux
# VmHWM, the peak of its own resident set since exec; a parent's RSS, as in
# a measurement through fork, does not count). The baseline is the same
# command with --dry-run (model, vocabulary and text loaded, the plan made).
# The tolerance covers what the plan does not see (libc's malloc arenas,
# stdio buffers, page rounding). Under ASan (shadow memory, quarantine) RSS
# says nothing about the library's allocations: that comparison is skipped;
# test_membudget_plan checks the text plan through the allocator hook.
#   bash tests/test_membudget_text.sh <path-to-autlearn> <source-dir>
set -u
. "$(dirname "$0")/lib.sh"
tl_init membudget_text "$@"
BUDGET=4
TOL_MB=2
asan=0
if nm -D "$BIN" 2>/dev/null | grep -q '__asan_init' || ldd "$BIN" 2>/dev/null | grep -q libasan; then asan=1; fi
jget() { "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$@"; }

# ann_lee types two long addresses (about 22,000 tokens to train on) and a
# short latest one (the test text); the others' short addresses are public
DATA=$TMP/sotu
mkdir -p "$DATA"
"$PY" "$SRC/tests/make_sotu.py" "$DATA" 3 40 1500 || { echo "cannot make data" >&2; exit 1; }
# the frozen prefix: embedding and an LSTM of 80 (a window's states: 20 x 80 floats)
run pretrain --scenario text --data "$DATA" --vocab 60 --arch "tokens 20; embedding 8 vocab=63; lstm 80; dense 63" \
    --batch 4 --users ann_lee --epochs 1 --lr 0.01 --out "$TMP/cloud.gguf"
check "pretrain --scenario text succeeds" test "$rc" -eq 0
P=(personalize --scenario text --model "$TMP/cloud.gguf" --data "$DATA" --user ann_lee --epochs 2 --lr 0.01 --batch 8)
SPILL=$TMP/dev/spill.bin
mkdir -p "$TMP/dev"

run "${P[@]}" --out "$TMP/none.gguf" --cache-spill "$SPILL" --mem-budget $BUDGET --dry-run --json
check "--dry-run succeeds" test "$rc" -eq 0
cp "$TMP/out" "$TMP/base.json"
check "--dry-run writes nothing" test ! -e "$TMP/none.gguf" -a ! -e "$SPILL"
check "--dry-run prints the plan within the budget, the windows spilled" "$PY" -c '
import json,sys; j=json.load(open(sys.argv[1])); b=float(sys.argv[2])
assert j["dry_run"] is True and j["mem_budget_mb"]==b and j["planned_mb"]<=b and j["cache_past_bound"]=="spill", j
assert j["batch_used"]==8 and j["cache_mb_used"]<j["cache_mb_requested"], j' "$TMP/base.json" $BUDGET

# no budget: the reference; the windows' states take about 8 MiB of cache
run "${P[@]}" --out "$TMP/full.gguf" --json
check "personalize without a budget succeeds" test "$rc" -eq 0
cp "$TMP/out" "$TMP/full.json"
check "without a budget: every window from the cache in memory" "$PY" -c '
import json,sys; j=json.load(open(sys.argv[1]))
assert j["mem_budget_mb"] is None and j["batch_used"]==8 and j["cache_entries_spilled"]==0, j
assert j["prefix_windows"]==0 and j["cache_hits"]>0 and j["planned_parts_mb"]["cache"]>float(sys.argv[2]), j' \
    "$TMP/full.json" $BUDGET

# the budget without a spill file: the windows cannot be given up
run "${P[@]}" --out "$TMP/nospill.gguf" --mem-budget $BUDGET --json
check "a budget below the stream's windows, without a spill file, exits 1" test "$rc" -eq 1
check "it names the budget, the windows and the spill file" grep -qE \
    "memory budget of $BUDGET.00 MiB cannot be met: .* [0-9.]+ MiB are cache entries that cannot be recomputed exactly \([0-9]+ windows.*spill file" "$TMP/err"
check "it fails before training (nothing on stdout)" test ! -s "$TMP/out"
check "no output file" test ! -e "$TMP/nospill.gguf"

# the same budget with a spill file: exact, and within the budget
run "${P[@]}" --out "$TMP/small.gguf" --mem-budget $BUDGET --cache-spill "$SPILL" --json
check "personalize --mem-budget $BUDGET --cache-spill succeeds" test "$rc" -eq 0
cp "$TMP/out" "$TMP/small.json"
check "the windows went to the spill file, none recomputed" "$PY" -c '
import json,sys; j=json.load(open(sys.argv[1])); b=float(sys.argv[2])
assert j["mem_budget_mb"]==b and j["planned_mb"]<=b and j["batch_used"]==8 and not j["batch_shrunk"], j
assert j["cache_past_bound"]=="spill" and j["cache_entries_spilled"]>0 and j["prefix_windows"]==0, j
assert j["cache_mb_used"]<j["cache_mb_requested"], j' "$TMP/small.json" $BUDGET
check "spilled windows train the same model bytes as no budget" cmp -s "$TMP/small.gguf" "$TMP/full.gguf"
check "the spill file is removed" test ! -e "$SPILL"
run "${P[@]}" --out "$TMP/small2.gguf" --mem-budget $BUDGET --cache-spill "$SPILL"
check "... and in text: the plan, then the result" grep -q "^memory: planned .* of a $BUDGET.00 MiB budget" "$TMP/out"

if [ "$asan" -eq 1 ]; then
    echo "test_membudget_text: ASan build: peak-RSS comparison skipped (shadow memory and quarantine dominate RSS);" \
         "test_membudget_plan checks the text plan through the allocator hook"
else
    base=$(jget "$TMP/base.json" peak_rss_mb)
    full=$(jget "$TMP/full.json" peak_rss_mb)
    small=$(jget "$TMP/small.json" peak_rss_mb)
    echo "test_membudget_text: peak RSS: baseline $base MiB, no budget $full MiB, budget $BUDGET MiB with spill: $small MiB"
    check "peak RSS - baseline <= budget $BUDGET MiB + $TOL_MB MiB" \
        "$PY" -c 'import sys; b,s,B,T=map(float,sys.argv[1:]); assert b>0 and s-b<=B+T, (b,s)' "$base" "$small" $BUDGET $TOL_MB
    check "without the budget the job goes past it: the check can fail" \
        "$PY" -c 'import sys; b,f,B,T=map(float,sys.argv[1:]); assert f-b>B+T, (b,f)' "$base" "$full" $BUDGET $TOL_MB
fi

# too small even with a spill file: the same clear error, before training
run "${P[@]}" --out "$TMP/tiny.gguf" --mem-budget 1 --cache-spill "$SPILL"
check "a budget too small even with a spill file exits 1" test "$rc" -eq 1
check "it names the budget and the need" grep -qE "memory budget of 1.00 MiB cannot be met: .* needs at least [0-9.]+ MiB" "$TMP/err"
check "nothing on stdout, no output, no spill file" test ! -s "$TMP/out" -a ! -e "$TMP/tiny.gguf" -a ! -e "$SPILL"
run "${P[@]}" --out "$TMP/x.gguf" --mem-budget -3
check "a negative budget is a usage error" test "$rc" -eq 2

# generous: nothing changes
run "${P[@]}" --out "$TMP/big.gguf" --mem-budget 4096 --json
check "a generous budget succeeds" test "$rc" -eq 0
check "a generous budget keeps batch and cache" "$PY" -c '
import json,sys; j=json.load(open(sys.argv[1]))
assert j["batch_used"]==8 and j["cache_mb_used"]==256 and j["cache_entries_spilled"]==0 and j["mem_budget_mb"]==4096, j' "$TMP/out"
check "a generous budget gives the same model bytes" cmp -s "$TMP/big.gguf" "$TMP/full.gguf"

tl_end
