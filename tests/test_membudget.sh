#!/usr/bin/env bash
# The memory budget of `autlearn personalize --mem-budget MB`, end to end, on
# a model with a large frozen prefix (two 64-filter convolutions at 28x28)
# and the runtime cache:
#  - a small budget shrinks the cache bound and the batch (reported in the
#    JSON), trains exactly as that batch asked for without a budget, and the
#    process's peak RSS minus the baseline stays within the budget plus a
#    tolerance, while the same job without a budget goes well past it (so
#    the check can fail);
#  - a budget too small exits 1 before training with the AL_EBUDGET message
#    naming the need and the budget, and writes no output;
#  - a generous budget changes nothing: same batch, same cache bound, the
#    same model bytes as without --mem-budget.
# Peak RSS is what the process reports in its JSON (peak_rss_mb: Linux
# VmHWM, the peak of its own resident set since exec; measured through a
# parent instead, as ru_maxrss of a child, it would include the parent's
# resident set copied at fork, e.g. a python's ~10 MiB). The baseline is the same command with
# --dry-run: it loads the model and the data and plans, then stops, so
# "peak - baseline" is what the job itself adds (weights and data are in
# both; the budget counts the weights too, so this is on the safe side).
# The tolerance (TOL_MB) covers what the plan does not see: libc's malloc
# arenas and stdio buffers and page rounding. Under ASan (shadow memory,
# quarantine, redzones) RSS says nothing about the library's allocations:
# the RSS comparison is skipped there, with a message; the rest still runs.
#   bash tests/test_membudget.sh <path-to-autlearn> <source-dir>
set -u
BIN=$(readlink -f "${1:?usage: test_membudget.sh <autlearn> <source-dir>}")
SRC=${2:?usage: test_membudget.sh <autlearn> <source-dir>}
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
TMP=$(mktemp -d "${TMPDIR:-/tmp}/autlearn-mem.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
export AL_THREADS=1
BUDGET=16
TOL_MB=2
pass=0
fail=0
check() {
    local desc=$1
    shift
    if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $desc" >&2; fi
}
asan=0
if nm -D "$BIN" 2>/dev/null | grep -q '__asan_init' || ldd "$BIN" 2>/dev/null | grep -q libasan; then asan=1; fi

# the exit status and peak RSS in KiB of one --json run: rss OUTFILE cmd...
# (stdout to OUTFILE.out, stderr to OUTFILE.err; the peak as the run reports it)
rss() {
    local o=$1
    shift
    "$PY" -c '
import json, subprocess, sys
o = sys.argv[1]
with open(o + ".out", "w") as out, open(o + ".err", "w") as err:
    rc = subprocess.run(sys.argv[2:], stdout=out, stderr=err).returncode
try:
    kib = int(json.load(open(o + ".out"))["peak_rss_mb"] * 1024)
except Exception:
    kib = 0
print(rc, kib)' "$o" "$@"
}

DATA=$TMP/data
mkdir -p "$DATA"
"$PY" "$SRC/tests/make_idx.py" "$DATA" 600 300 || { echo "cannot make data" >&2; exit 1; }
ARCH="input 1x28x28; conv 64 k=3 p=1; relu; conv 64 k=3 p=1; relu; maxpool k=2; flatten; dense 10"
"$BIN" pretrain --data "$DATA" --arch "$ARCH" --epochs 1 --batch 64 --out "$TMP/cloud.gguf" >/dev/null 2>"$TMP/err"
check "pretrain succeeds" test $? -eq 0
# --freeze 2: the second conv trains, so a batch of 32 keeps its activations and
# im2col columns for backward (tens of MB); frozen below the dense only, the
# frozen part runs in chunks and the job needs a few MB at any batch
P="$BIN personalize --recipe config --freeze 2 --model $TMP/cloud.gguf --data $DATA --user 1 --users 3 --per-user 40 --test-per-user 30 --epochs 2"

# the baseline: load and plan only
read -r rc base < <(rss "$TMP/base" $P --out "$TMP/none.gguf" --mem-budget $BUDGET --dry-run --json)
check "--dry-run succeeds" test "$rc" -eq 0
check "--dry-run writes no model" test ! -e "$TMP/none.gguf"
check "--dry-run prints the plan" "$PY" -c '
import json,sys; j=json.load(open(sys.argv[1]))
assert j["dry_run"] is True and j["mem_budget_mb"]==float(sys.argv[2]) and j["planned_mb"]<=j["mem_budget_mb"], j' \
    "$TMP/base.out" $BUDGET

# no budget: the reference, and the proof that the budget matters
read -r rc full < <(rss "$TMP/full" $P --out "$TMP/full.gguf" --json)
check "personalize without a budget succeeds" test "$rc" -eq 0
check "without a budget: batch 32, cache 64 MiB, no budget in the JSON" "$PY" -c '
import json,sys; j=json.load(open(sys.argv[1]))
assert j["mem_budget_mb"] is None and j["batch_used"]==32 and j["batch_requested"]==32 and j["cache_mb_used"]==64, j
assert j["planned_mb"]>float(sys.argv[2]) and not j["batch_shrunk"], j' "$TMP/full.out" $BUDGET

# a small budget: the cache bound, then the batch give way
read -r rc small < <(rss "$TMP/small" $P --out "$TMP/small.gguf" --mem-budget $BUDGET --json)
check "personalize --mem-budget $BUDGET succeeds" test "$rc" -eq 0
check "the small budget shrank cache and batch and says so" "$PY" -c '
import json,sys; j=json.load(open(sys.argv[1])); b=float(sys.argv[2])
assert j["mem_budget_mb"]==b and j["planned_mb"]<=b, j
assert j["batch_shrunk"] is True and 1<=j["batch_used"]<32 and j["batch_requested"]==32, j
assert j["cache_mb_used"]<j["cache_mb_requested"]==64 and j["cache_past_bound"]=="recompute", j
p=j["planned_parts_mb"]; assert abs(sum(p.values())-j["planned_mb"])<1e-3, j' "$TMP/small.out" $BUDGET
bu=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["batch_used"])' "$TMP/small.out" 2>/dev/null || echo 0)
check "the budget's warning is on stderr" grep -q "memory budget" "$TMP/small.err"
"$BIN" personalize --recipe config --freeze 2 --model "$TMP/cloud.gguf" --data "$DATA" --user 1 --users 3 --per-user 40 \
    --test-per-user 30 --epochs 2 --batch "$bu" --out "$TMP/batch.gguf" >/dev/null 2>"$TMP/err"
check "the shrunk job trains exactly as batch $bu asked for" cmp -s "$TMP/small.gguf" "$TMP/batch.gguf"
check "a smaller batch changes the result" bash -c "! cmp -s '$TMP/small.gguf' '$TMP/full.gguf'"
$P --out "$TMP/spill.gguf" --mem-budget $BUDGET --cache-spill "$TMP/spill.bin" --json >"$TMP/spill.out" 2>"$TMP/err"
check "with a spill file, past the bound entries go to it" "$PY" -c '
import json,sys; j=json.load(open(sys.argv[1]))
assert j["cache_past_bound"]=="spill" and j["batch_used"]==int(sys.argv[2]), j' "$TMP/spill.out" "$bu"
check "spilling trains the same model" cmp -s "$TMP/small.gguf" "$TMP/spill.gguf"
check "the spill file is removed" test ! -e "$TMP/spill.bin"

if [ "$asan" -eq 1 ]; then
    echo "test_membudget: ASan build: peak-RSS comparison skipped (shadow memory and quarantine dominate RSS);" \
         "the budget's sizes are checked through the allocator hook in test_membudget.c"
else
    echo "peak RSS: baseline $((base / 1024)) MiB, no budget $((full / 1024)) MiB, budget $BUDGET MiB: $((small / 1024)) MiB"
    check "the runs report their peak RSS" test "$base" -gt 0 -a "$small" -gt 0 -a "$full" -gt 0
    check "peak RSS - baseline ($(((small - base) / 1024)) MiB) <= budget $BUDGET MiB + $TOL_MB MiB" \
        test $((small - base)) -le $(((BUDGET + TOL_MB) * 1024))
    check "without the budget the job goes past it ($(((full - base) / 1024)) MiB): the check can fail" \
        test $((full - base)) -gt $(((BUDGET + TOL_MB) * 1024))
fi

# too small: exit 1 before training, naming need and budget, no output
$P --out "$TMP/tiny.gguf" --mem-budget 4 >"$TMP/tiny.out" 2>"$TMP/tiny.err"
check "a budget too small exits 1" test $? -eq 1
check "it names the budget and the need" grep -qE "memory budget of 4.00 MiB cannot be met: .* needs at least [0-9.]+ MiB" "$TMP/tiny.err"
check "it fails before training (nothing on stdout)" test ! -s "$TMP/tiny.out"
check "no output file" test ! -e "$TMP/tiny.gguf"
"$BIN" personalize --model "$TMP/cloud.gguf" --data "$DATA" --user 1 --out "$TMP/x.gguf" --mem-budget -3 >/dev/null 2>&1
check "a negative budget is a usage error" test $? -eq 2

# generous: nothing changes
$P --out "$TMP/big.gguf" --mem-budget 4096 --json >"$TMP/big.out" 2>"$TMP/err"
check "a generous budget succeeds" test $? -eq 0
check "a generous budget keeps batch and cache" "$PY" -c '
import json,sys; j=json.load(open(sys.argv[1]))
assert j["batch_used"]==32 and not j["batch_shrunk"] and j["cache_mb_used"]==64 and j["mem_budget_mb"]==4096, j' "$TMP/big.out"
check "a generous budget gives the same model bytes" cmp -s "$TMP/big.gguf" "$TMP/full.gguf"

echo "test_membudget: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
