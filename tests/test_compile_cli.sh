#!/usr/bin/env bash
# autlearn compile and the memory lines of autlearn info, end to end on a tiny
# synthetic IDX set:
#   bash tests/test_compile_cli.sh <path-to-autlearn> [<source-dir>]
# Trains a small CNN with batch norm and refcnn for one short epoch, compiles
# them, and checks that the compiled files predict the same probabilities
# (within 1e-4), that refcnn's compiled peak at the default freeze point is
# at most half the uncompiled one, that info reports and verifies the stored
# plan and reports the inference plan, that personalize runs on a compiled file, and the usage errors.
set -u

. "$(dirname "$0")/lib.sh"
tl_init compile_cli "$@"

DATA=$TMP/data
mkdir -p "$DATA"
"$PY" "$SRC/tests/make_idx.py" "$DATA" 1000 200 || { echo "cannot make data" >&2; exit 1; }
BN="input 1x28x28; conv 4 k=3 p=1; batchnorm; relu; maxpool k=2; conv 8 k=3 p=1 bias=0; batchnorm; relu6; maxpool k=2; flatten; dense 16; relu; dense 10"

expect_ok "compile --help" compile --help
check "compile --help prints usage" grep -q '^usage: autlearn compile' "$TMP/out"

expect_ok "train a BN CNN" train --arch "$BN" --data "$DATA" --epochs 1 --limit 256 --batch 32 --out "$TMP/bn.gguf" --quiet
expect_ok "compile it (default freeze: the output layer)" compile --model "$TMP/bn.gguf" --out "$TMP/bnc.gguf" --json
check "compile --json: 2 BNs folded, 3 activations fused, freeze 11 -> 6" "$PY" -c '
import json, sys
j = json.load(open(sys.argv[1]))
assert j["command"] == "compile" and j["nodes_in"] == 12 and j["nodes_out"] == 7, j
assert j["folded_bn"] == 2 and j["fused_act"] == 3 and j["freeze_in"] == 11 and j["freeze"] == 6, j
assert 0 < j["peak_bytes"] < j["uncompiled_bytes"] and j["batch"] == 32, j
assert j["nodes"].startswith("conv+batchnorm+relu(0-2) maxpool(3) conv+batchnorm+relu6(4-6)"), j["nodes"]
' "$TMP/out"

# a long spec: at most 24 layers printed, then how many more and the command that lists them
LONG="input 1x28x28; flatten$(for i in $(seq 30); do printf '; dense 8'; done); dense 10"
expect_ok "train a 32-layer model" train --arch "$LONG" --data "$DATA" --epochs 1 --limit 64 --batch 32 --out "$TMP/long.gguf" --quiet
expect_ok "compile it" compile --model "$TMP/long.gguf" --out "$TMP/longc.gguf"
check "compile prints 24 layers of 32, then 8 more and 'autlearn info'" "$PY" -c '
import sys
line = [l for l in open(sys.argv[1]) if l.startswith("spec:")][0]
assert line.split("; ... (")[0].count("; ") == 24 and line.endswith("; ... (8 more layers; \x27autlearn info " + sys.argv[2] + "\x27 lists them all)\n"), line
' "$TMP/out" "$TMP/longc.gguf"
expect_ok "info lists every layer" info --model "$TMP/longc.gguf"
check "info prints the 32 layers" "$PY" -c '
import sys
line = [l for l in open(sys.argv[1]) if l.startswith("spec:")][0]
assert line.count("; ") == 32 and "more layers" not in line, line
' "$TMP/out"

# the same predictions: every class probability within 1e-4
for m in bn bnc; do
    expect_ok "predict $m" predict --model "$TMP/$m.gguf" --data "$DATA" --limit 64 --top 10 --json
    cp "$TMP/out" "$TMP/$m.pred"
done
check "compiled and uncompiled predict the same (1e-4)" "$PY" -c '
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
assert len(a) == len(b) == 64
for x, y in zip(a, b):
    pa = {t["class"]: t["prob"] for t in x["top"]}
    pb = {t["class"]: t["prob"] for t in y["top"]}
    assert pa.keys() == pb.keys() and all(abs(pa[c] - pb[c]) <= 1e-4 for c in pa), (pa, pb)
' "$TMP/bn.pred" "$TMP/bnc.pred"

# refcnn: the issue's check at the default freeze point, batch 32; and freeze 0
expect_ok "train refcnn" train --arch refcnn --data "$DATA" --epochs 1 --limit 64 --batch 32 --out "$TMP/ref.gguf" --quiet
expect_ok "compile refcnn" compile "$TMP/ref.gguf" --out "$TMP/refc.gguf" --json
check "refcnn: compiled peak <= half the uncompiled one" "$PY" -c '
import json, sys
j = json.load(open(sys.argv[1]))
assert j["freeze_in"] == 12 and j["batch"] == 32, j
assert 2 * j["peak_bytes"] <= j["uncompiled_bytes"], j
' "$TMP/out"
expect_ok "compile refcnn --freeze 0" compile "$TMP/ref.gguf" --out "$TMP/refc0.gguf" --freeze 0 --batch 8 --json
check "freeze 0: still smaller, plan for batch 8" "$PY" -c '
import json, sys
j = json.load(open(sys.argv[1]))
assert j["freeze"] == 0 and j["batch"] == 8 and j["peak_bytes"] < j["uncompiled_bytes"], j
' "$TMP/out"

# info: the planned peak against the naive layout, and the stored plan verified
expect_ok "info on the uncompiled model" info "$TMP/ref.gguf" --freeze 12 --batch 32
check "info prints the planned and naive peak" grep -qE '^memory: +peak training memory at batch 32, freeze 12: [0-9]+ bytes planned, [0-9]+ naive' "$TMP/out"
check "info prints the inference plans" grep -qE '^ +inference \(predict, eval\) at batch 32: [0-9]+ bytes planned; with the runtime cache at freeze 12: [0-9]+$' "$TMP/out"
expect_ok "info --json at freeze 0" info "$TMP/ref.gguf" --freeze 0 --batch 32 --json
check "info --json: inference plans far less than a training step at freeze 0" "$PY" -c '
import json, sys
m = json.load(open(sys.argv[1]))["memory"]
assert m["freeze"] == 0 and 0 < 4 * m["inference_bytes"] < m["peak_bytes"], m
assert "cached_inference_bytes" not in m, m  # no cache at freeze 0
' "$TMP/out"
expect_ok "info on the compiled model" info "$TMP/refc.gguf" --json
check "info --json: the stored plan equals this build's" "$PY" -c '
import json, sys
j = json.load(open(sys.argv[1]))
m = j["memory"]
assert m["batch"] == 32 and m["freeze"] == j["first_trainable"] == 8, m
assert m["stored_peak_bytes"] == m["peak_bytes"] and m["stored_matches"] is True, m
assert 0 < m["inference_bytes"] <= m["cached_inference_bytes"] <= m["peak_bytes"], m
assert j["metadata"]["autlearn.freeze"] == "8" and "autlearn.plan.passes" in j["metadata"], j["metadata"]
' "$TMP/out"
expect_ok "info (text) on the compiled model" info "$TMP/refc.gguf"
check "info prints the stored plan" grep -qE '^plan: +stored peak [0-9]+ bytes \(equals this build' "$TMP/out"

# the device side: personalize reads the compiled file's freeze point
expect_ok "personalize a compiled model" personalize --recipe config --model "$TMP/refc.gguf" --data "$DATA" --user 1 --users 4 \
    --per-user 40 --test-per-user 20 --epochs 1 --out "$TMP/p.gguf" --json
check "personalize used the compiled freeze point" "$PY" -c '
import json, sys; j = json.load(open(sys.argv[1])); assert j["freeze"] == 8 and j["steps"] > 0, j' "$TMP/out"

# errors
# the job options' one rule (docs/CLI.md): --freeze beyond the loaded model is a usage error
expect_fail "freeze beyond the model" 2 compile "$TMP/ref.gguf" --out "$TMP/x.gguf" --freeze 20
check "the message names the freeze point and the nodes" grep -q -- "--freeze 20 is beyond the model's 13 nodes" "$TMP/err"
check "nothing written on error" test ! -e "$TMP/x.gguf"
expect_fail "missing --out" 2 compile "$TMP/ref.gguf"
expect_fail "bad --batch" 2 compile "$TMP/ref.gguf" --out "$TMP/x.gguf" --batch 0
expect_fail "missing model file" 1 compile "$TMP/none.gguf" --out "$TMP/x.gguf"
expect_fail "info --freeze beyond the model" 2 info "$TMP/ref.gguf" --freeze 30

tl_end
