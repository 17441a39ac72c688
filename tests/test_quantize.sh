#!/usr/bin/env bash
# autlearn quantize end to end on a tiny synthetic IDX set: train a small
# CNN, quantize its frozen part, check the JSON, that eval of the int8 file
# is close to the float file's accuracy, that info/eval load it, that
# re-quantizing is stable (same bytes), --calib (static scales, the int8
# chain and the int8 residual add: close to float), and the usage/runtime
# errors.
#   bash tests/test_quantize.sh <path-to-autlearn> [<source-dir>]
set -u

. "$(dirname "$0")/lib.sh"
tl_init quantize "$@"

json_ok() { "$PY" -c 'import json,sys; json.load(open(sys.argv[1]))' "$1" 2>/dev/null; }
# acc_close MIN FLOAT.json INT8.json: the float accuracy above MIN, the int8
# one within 3 points of it
acc_close() {
    "$PY" -c '
import json, sys
f = json.load(open(sys.argv[2]))["acc"]; q = json.load(open(sys.argv[3]))["acc"]
assert f > float(sys.argv[1]), f
assert abs(f - q) <= 0.03, (f, q)
' "$@"
}

DATA=$TMP/data
mkdir -p "$DATA"
"$PY" "$SRC/tests/make_idx.py" "$DATA" 400 200
[ -f "$DATA/t10k-labels-idx1-ubyte.gz" ] || { echo "test_quantize: no data set" >&2; exit 1; }

ARCH="input 1x28x28; conv 8 k=3 p=1; relu; maxpool k=2; conv 16 k=3 p=1; relu; maxpool k=2; flatten; dense 32; relu; dense 10"
expect_ok "train a small CNN" train --arch "$ARCH" --data "$DATA" --epochs 2 --batch 16 --seed 2 --out "$TMP/f.gguf" --quiet

expect_ok "quantize --help" quantize --help
check "quantize --help prints usage" grep -q '^usage: autlearn quantize' "$TMP/out"

# freeze below the last dense: conv 2 (K = 72) and dense 32 are quantized;
# conv 1 (K = 9 < 32) stays float
expect_ok "quantize --freeze 9 --json" quantize --model "$TMP/f.gguf" --freeze 9 --out "$TMP/q.gguf" --json
cp "$TMP/out" "$TMP/q.json"
check "quantize --json parses" json_ok "$TMP/q.json"
check "quantize --json lists the quantized nodes" "$PY" -c '
import json, sys
j = json.load(open(sys.argv[1]))
assert j["command"] == "quantize" and j["freeze"] == 9, j
assert [q["node"] for q in j["quantized"]] == [3, 7], j["quantized"]
assert [q["type"] for q in j["quantized"]] == ["conv", "dense"], j["quantized"]
' "$TMP/q.json"
check "the int8 file is smaller" test "$(stat -c %s "$TMP/q.gguf")" -lt "$(stat -c %s "$TMP/f.gguf")"

expect_ok "eval float" eval --model "$TMP/f.gguf" --data "$DATA" --json
cp "$TMP/out" "$TMP/ef.json"
expect_ok "eval int8" eval --model "$TMP/q.gguf" --data "$DATA" --json
cp "$TMP/out" "$TMP/eq.json"
check "int8 accuracy within 3 points of float" acc_close 0.5 "$TMP/ef.json" "$TMP/eq.json"
expect_ok "info loads the int8 file" info "$TMP/q.gguf"

# quantizing an int8 file again keeps its int8 weights: the same bytes
expect_ok "quantize again" quantize --model "$TMP/q.gguf" --freeze 9 --out "$TMP/q2.gguf"
check "quantize prints the quantized layers" grep -q '2 layer(s) below node 9' "$TMP/out"
check "re-quantizing is stable" cmp -s "$TMP/q.gguf" "$TMP/q2.gguf"

# depthwise convs: float by default, int8 with --dw (node 2, K = 9)
DWARCH="input 1x28x28; conv 32 k=3 p=1 act=relu6; dwconv k=3 s=2 p=1 act=relu6; conv 32 k=1 act=relu6; maxpool k=2; flatten; dense 10"
expect_ok "train a depthwise CNN" train --arch "$DWARCH" --data "$DATA" --epochs 5 --batch 16 --seed 2 --out "$TMP/dwf.gguf" --quiet
expect_ok "quantize without --dw" quantize --model "$TMP/dwf.gguf" --freeze 5 --out "$TMP/dwq0.gguf" --json
check "without --dw the depthwise conv stays float" "$PY" -c '
import json, sys
j = json.load(open(sys.argv[1]))
assert [q["node"] for q in j["quantized"]] == [2], j["quantized"]
' "$TMP/out"
expect_ok "quantize --dw" quantize --model "$TMP/dwf.gguf" --freeze 5 --out "$TMP/dwq.gguf" --dw --json
check "--dw quantizes the depthwise conv too" "$PY" -c '
import json, sys
j = json.load(open(sys.argv[1]))
assert [q["node"] for q in j["quantized"]] == [1, 2], j["quantized"]
assert [q["type"] for q in j["quantized"]] == ["dwconv", "conv"], j["quantized"]
' "$TMP/out"
expect_ok "eval depthwise float" eval --model "$TMP/dwf.gguf" --data "$DATA" --json
cp "$TMP/out" "$TMP/dwef.json"
expect_ok "eval depthwise int8" eval --model "$TMP/dwq.gguf" --data "$DATA" --json
check "int8 depthwise accuracy within 3 points of float" acc_close 0.3 "$TMP/dwef.json" "$TMP/out"

# --calib: static input scales, the int8 chain and the int8 residual add
# (node 4 adds node 1's output to node 3's: both int8, so the add runs in
# int8); node 0 (K = 9) stays float
RESARCH="input 1x28x28; conv 32 k=3 p=1 act=relu6; conv 32 k=1 act=relu6; dwconv k=3 p=1 act=relu6; conv 32 k=1; add 1; maxpool k=2; flatten; dense 10"
expect_ok "train a residual CNN" train --arch "$RESARCH" --data "$DATA" --epochs 3 --batch 16 --seed 2 --out "$TMP/rf.gguf" --quiet
expect_ok "quantize --dw --calib" quantize --model "$TMP/rf.gguf" --freeze 5 --dw --calib "$DATA" --calib-samples 64 --out "$TMP/rq.gguf" --json
check "--calib: scales, edges and the int8 add" "$PY" -c '
import json, sys
j = json.load(open(sys.argv[1]))
assert [q["node"] for q in j["quantized"]] == [1, 2, 3], j["quantized"]
assert j["static_scales"] == 4 and j["int8_edges"] == 3 and j["int8_adds"] == 1, j
' "$TMP/out"
expect_ok "quantize --dw --calib (text)" quantize --model "$TMP/rf.gguf" --freeze 5 --dw --calib "$DATA" --calib-samples 64 --calib-pct 100 --out "$TMP/rq100.gguf"
check "quantize --calib prints the chain" grep -q '4 static input scales calibrated on .*; 3 nodes hand int8 on, 1 add(s) run in int8' "$TMP/out"
expect_ok "eval residual float" eval --model "$TMP/rf.gguf" --data "$DATA" --json
cp "$TMP/out" "$TMP/ref.json"
expect_ok "eval residual int8 chain" eval --model "$TMP/rq.gguf" --data "$DATA" --json
check "int8 chain accuracy within 3 points of float" acc_close 0.3 "$TMP/ref.json" "$TMP/out"
run quantize --model "$TMP/rf.gguf" --freeze 5 --calib "$TMP/nodata" --out "$TMP/x.gguf"
check "--calib on a missing folder: exit 1" test "$rc" -eq 1
run quantize --model "$TMP/rf.gguf" --freeze 5 --calib "$DATA" --calib-pct 0 --out "$TMP/x.gguf"
check "--calib-pct 0: exit 2" test "$rc" -eq 2

run quantize --model "$TMP/f.gguf" --freeze 2 --out "$TMP/none.gguf"
check "nothing to quantize: exit 1" test "$rc" -eq 1
check "nothing to quantize: message" grep -q '^autlearn quantize: no dense or conv' "$TMP/err"
run quantize --model "$TMP/f.gguf" --freeze 99 --out "$TMP/x.gguf"
check "freeze beyond the model: exit 2" test "$rc" -eq 2
run quantize --model "$TMP/f.gguf"
check "missing --out: exit 2" test "$rc" -eq 2
run quantize --model "$TMP/missing.gguf" --out "$TMP/x.gguf"
check "missing file: exit 1" test "$rc" -eq 1

tl_end
