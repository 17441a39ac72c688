#!/usr/bin/env bash
# `autlearn personalize` without --user: the device job on the user's own
# data (an IDX directory's training split, scored on --test DIR or the
# directory's test split). A cloud model pre-trained on classes 0-7 learns
# classes 8 and 9, which it never saw: the output grows (imprinting), the
# JSON names the new classes and scores old and new apart, the personal
# model keeps the class names. Checkpoints change nothing, a resume (killed
# mid-run when the machine is slow enough, else a finished checkpoint) ends
# with the same model, and refusals are clear.
#   bash tests/test_personalize_own.sh <path-to-autlearn> <source-dir>
set -u
. "$(dirname "$0")/lib.sh"
tl_init personalize_own "$@"

mkdir -p "$TMP/all" "$TMP/old" "$TMP/new" "$TMP/new8" "$TMP/dev"
"$PY" "$SRC/tests/make_idx.py" "$TMP/all" 200 300 || exit 1
"$PY" "$SRC/tests/make_idx.py" "$TMP/old" 1000 200 0-7 || exit 1
"$PY" "$SRC/tests/make_idx.py" "$TMP/new" 200 100 8,9 || exit 1
"$PY" "$SRC/tests/make_idx.py" "$TMP/new8" 100 100 8 || exit 1
ARCH="input 1x28x28; conv 4 k=3 p=1; relu; maxpool k=2; flatten; dense 16; relu; dense 8"
"$BIN" pretrain --data "$TMP/old" --arch "$ARCH" --epochs 4 --public-frac 0.9 --out "$TMP/cloud8.gguf" >/dev/null 2>"$TMP/err" ||
    { echo "pretrain failed: $(cat "$TMP/err")" >&2; exit 1; }

# ---- new classes: 8 and 9 from the user's images, scored on all 10 ----------------------------
P=(personalize --model "$TMP/cloud8.gguf" --data "$TMP/new" --test "$TMP/all" --label-prior 0 --epochs 2 --lr 0.003)
expect_ok "own data with new classes" "${P[@]}" --out "$TMP/dev/p.gguf" --json
cp "$TMP/out" "$TMP/p.json"
check "only the personal model is written, owner-only" test "$(ls -A "$TMP/dev")" = p.gguf -a \
    "$(stat -c %a "$TMP/dev/p.gguf")" = 600
check "--json: own-data keys, new classes 8 and 9, old and new scored apart" "$PY" -c '
import json, sys
j = json.load(open(sys.argv[1]))
assert j["user"] is None and j["data"].endswith("/new") and j["test"].endswith("/all"), j
assert j["classes"] == 10 and j["new_classes"] == ["8", "9"], j
assert j["samples"] > 20 and j["test_samples"] == 300, j
for k in ("test_acc_before", "test_acc_after", "test_acc_old_before", "test_acc_old_after", "test_acc_new_after"):
    assert 0 <= j[k] <= 1, (k, j)
# before: the cloud cannot name 8 or 9 (60 of 300 test images): at most 80%
assert j["test_acc_before"] <= 0.8 + 1e-9 and j["test_acc_new_after"] > 0.3, j
assert j["bytes_uploaded"] == 0 and j["cache"] and j["cache_hits"] > 0 and j["resumed_at_step"] is None, j
assert j["steps"] > 0 and j["freeze"] >= 1 and j["batch_used"] == 32, j
' "$TMP/p.json"
run info "$TMP/dev/p.gguf" --json
check "the personal model has 10 outputs and the class names" "$PY" -c '
import json, sys
j = json.load(open(sys.argv[1]))
assert j["metadata"]["autlearn.classes"] == chr(10).join(str(k) for k in range(10)), j["metadata"]
assert j["output"] == [10] and j["nodes"][-1]["output"] == [10], j["nodes"][-1]
' "$TMP/out"
run "${P[@]}" --out "$TMP/dev/q.gguf"
check "the text line names the new classes and both scores" grep -q "10 classes (new: 8, 9); test accuracy .* (old classes .*, new classes" "$TMP/out"
check "the same job gives the same model" cmp -s "$TMP/dev/p.gguf" "$TMP/dev/q.gguf"
rm -f "$TMP/dev/q.gguf"

# ---- known classes only, the directory's own test split; the switches run -------------------
expect_ok "own data, no new class" personalize --model "$TMP/cloud8.gguf" --data "$TMP/old" --out "$TMP/k.gguf" \
    --epochs 1 --aug-variants 2 --predict-first --mem-budget 64 --json
check "--json: no new class, no split score" "$PY" -c '
import json, sys
j = json.load(open(sys.argv[1]))
assert j["new_classes"] == [] and j["classes"] == 8 and j["test_acc_new_after"] is None, j
assert j["test"].endswith("/old") and j["test_samples"] > 100 and j["mem_budget_mb"] == 64, j
assert j["predict_cpu_seconds"] is not None and j["cache_hits"] > 0, j
' "$TMP/out"
expect_ok "--dry-run prints the plan, writes nothing" personalize --model "$TMP/cloud8.gguf" --data "$TMP/new" \
    --test "$TMP/all" --out "$TMP/dry.gguf" --dry-run
check "... nothing written" test ! -e "$TMP/dry.gguf"
expect_ok "--train-rows 2: only the new rows" "${P[@]}" --train-rows 2 --out "$TMP/rows.gguf" --json
check "--train-rows: the freeze point is the output layer" "$PY" -c '
import json, sys
j = json.load(open(sys.argv[1])); assert j["freeze"] == 6 and j["new_classes"] == ["8", "9"], j' "$TMP/out"

# ---- checkpoints and resume --------------------------------------------------------------------
R=("${P[@]}" --epochs 60 --batch 4)
expect_ok "reference run" "${R[@]}" --out "$TMP/ref.gguf"
expect_ok "the same run with checkpoints" "${R[@]}" --out "$TMP/ck.gguf" --checkpoint "$TMP/ck.ckpt" --checkpoint-every 3
check "checkpoints do not change the model" cmp -s "$TMP/ref.gguf" "$TMP/ck.gguf"
# killed once a checkpoint exists (mid-run on most machines), then resumed
CK=$TMP/dev/k.ckpt
"$BIN" "${R[@]}" --out "$TMP/dev/k.gguf" --checkpoint "$CK" --checkpoint-every 2 >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 400); do [ -e "$CK" ] && break; sleep 0.005; done
kill -9 "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
expect_ok "resume" "${R[@]}" --out "$TMP/dev/k.gguf" --checkpoint "$CK" --resume --json
check "the resumed job says where it went on from" "$PY" -c '
import json, sys
j = json.load(open(sys.argv[1])); assert j["resumed_at_step"] is None or j["resumed_at_step"] > 0, j
print("test_personalize_own: resumed at step", j["resumed_at_step"], "of", j["steps"])' "$TMP/out"
check "the resumed model equals the uninterrupted one" cmp -s "$TMP/ref.gguf" "$TMP/dev/k.gguf"
run "${R[@]}" --data "$TMP/all" --test "$TMP/all" --out "$TMP/x.gguf" --checkpoint "$CK" --resume
check "a resume on other data is refused" test "$rc" -eq 1 -a ! -e "$TMP/x.gguf"
check "... saying so" grep -qi "data\|differ" "$TMP/err"

# ---- refusals ----------------------------------------------------------------------------------
run personalize --model "$TMP/cloud8.gguf" --data "$TMP/new" --users 4 --out "$TMP/x.gguf"
check "--users without --user: usage error" test "$rc" -eq 2
check "... naming --user" grep -q "need --user K" "$TMP/err"
run personalize --model "$TMP/cloud8.gguf" --data "$TMP/new" --user 0 --test "$TMP/all" --out "$TMP/x.gguf"
check "--test with --user: usage error" test "$rc" -eq 2
check "... saying why" grep -q "test and --val are for your own data" "$TMP/err"
run personalize --model "$TMP/cloud8.gguf" --data "$TMP/new8" --test "$TMP/all" --out "$TMP/x.gguf"
check "a test class nobody knows is refused" test "$rc" -eq 1 -a ! -e "$TMP/x.gguf"
check "... naming it" grep -q "class '9', which neither the model nor the training data has" "$TMP/err"
run personalize --model "$TMP/cloud8.gguf" --data "$TMP/nonexistent" --out "$TMP/x.gguf"
check "a missing directory is refused" test "$rc" -eq 1 -a ! -e "$TMP/x.gguf"
tl_end
