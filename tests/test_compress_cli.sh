#!/usr/bin/env bash
# End-to-end test of `autlearn compress` on tiny synthetic data: an image
# model pre-trained on a synthetic IDX set is compressed by a MAC target and
# retrained (the JSON's numbers agree with `info` and `eval` of the written
# file); a language model pre-trained on a synthetic corpus is compressed and
# retrained through the text scenario; bad arguments exit 2, a file that is
# not a model exits 1 and writes nothing; libautlearn_cloud.a holds no LAPACK.
#   bash tests/test_compress_cli.sh <path-to-autlearn> <source-dir>
set -u
. "$(dirname "$0")/lib.sh"
tl_init compress_cli "$@"

TL_MSG="autlearn compress" # expect_fail (lib.sh): the message names the command

# ---- image ----
DATA=$TMP/idx
mkdir -p "$DATA"
"$PY" "$SRC/tests/make_idx.py" "$DATA" 600 200 || { echo "cannot make data" >&2; exit 1; }
ARCH="input 1x28x28; conv 8 k=3 p=1; relu; maxpool k=2; conv 16 k=3 p=1; relu; maxpool k=2; flatten; dense 32; relu; dense 10"
"$BIN" pretrain --data "$DATA" --arch "$ARCH" --epochs 3 --lr 0.05 --out "$TMP/cloud.gguf" >/dev/null 2>"$TMP/err"
check "pretrain succeeds" test $? -eq 0

expect_ok "compress --mac-reduction 2 with retraining" compress --model "$TMP/cloud.gguf" --out "$TMP/small.gguf" \
    --mac-reduction 2 --data "$DATA" --retrain-epochs 2 --json
cp "$TMP/out" "$TMP/c.json"
"$BIN" info "$TMP/small.gguf" --json >"$TMP/info.json" 2>"$TMP/err"
check "info reads the compressed model" test $? -eq 0
"$BIN" eval --model "$TMP/small.gguf" --data "$DATA" --json >"$TMP/eval.json" 2>"$TMP/err"
check "eval reads the compressed model" test $? -eq 0
check "compress JSON: MACs halved as the file says, per-layer ranks, accuracies, eval agrees" "$PY" -c '
import json,sys
c=json.load(open(sys.argv[1])); i=json.load(open(sys.argv[2])); e=json.load(open(sys.argv[3]))
assert c["macs_after"]*2 <= c["macs_before"], c
assert c["macs_after"] == i["macs"], (c["macs_after"], i["macs"])
assert c["params_after"] == i["params"], (c["params_after"], i["params"])
L=c["layers"]; assert [l["type"] for l in L]==["conv","conv","dense","dense"], L
for l in L:
    assert 0 <= l["rank"] <= l["full_rank"] and 0 < l["energy"] <= 1, l
    if l["rank"]: assert l["macs_after"] < l["macs_before"] and l["rank"]*(l["m"]+l["n"]) < l["m"]*l["n"], l
    else: assert l["macs_after"] == l["macs_before"], l
assert sum(l["macs_before"]-l["macs_after"] for l in L) == c["macs_before"]-c["macs_after"]
a=c["accuracy"]; assert a["metric"]=="top1" and c["retrain_epochs"]==2, a
assert all(0 <= a[k] <= 1 for k in ("before","factorized","retrained")), a
assert abs(a["retrained"]-e["acc"]) < 1e-9, (a, e)
' "$TMP/c.json" "$TMP/info.json" "$TMP/eval.json"

expect_ok "compress --energy 0.5 without data" compress --model "$TMP/cloud.gguf" --out "$TMP/e.gguf" --energy 0.5
check "table: per-layer rows, totals, no accuracy without data" grep -q "total MACs" "$TMP/out"
check "no accuracy line without --data" test "$(grep -c accuracy "$TMP/out")" -eq 0
expect_ok "compress --param-reduction 1.5 --json" compress --model "$TMP/cloud.gguf" --out "$TMP/p.gguf" \
    --param-reduction 1.5 --json
check "param-reduction reached, accuracy null" "$PY" -c '
import json,sys; c=json.load(open(sys.argv[1]))
assert c["params_after"]*1.5 <= c["params_before"] and c["accuracy"] is None, c' "$TMP/out"

# ---- errors ----
M=(--model "$TMP/cloud.gguf")
expect_fail "no --model" 2 compress --out "$TMP/x.gguf"
expect_fail "no --out" 2 compress "${M[@]}"
expect_fail "two policies" 2 compress "${M[@]}" --out "$TMP/x.gguf" --energy 0.9 --mac-reduction 2
expect_fail "energy 0" 2 compress "${M[@]}" --out "$TMP/x.gguf" --energy 0
expect_fail "energy 1.5" 2 compress "${M[@]}" --out "$TMP/x.gguf" --energy 1.5
expect_fail "mac-reduction 1" 2 compress "${M[@]}" --out "$TMP/x.gguf" --mac-reduction 1
expect_fail "mac-reduction abc" 2 compress "${M[@]}" --out "$TMP/x.gguf" --mac-reduction abc
expect_fail "retrain without data" 2 compress "${M[@]}" --out "$TMP/x.gguf" --retrain-epochs 1
expect_fail "unknown scenario" 2 compress "${M[@]}" --out "$TMP/x.gguf" --scenario audio
expect_fail "unknown option" 2 compress "${M[@]}" --out "$TMP/x.gguf" --bogus
echo "not a model" >"$TMP/junk.gguf"
expect_fail "a file that is not a model" 1 compress --model "$TMP/junk.gguf" --out "$TMP/x.gguf"
expect_fail "a missing model" 1 compress --model "$TMP/none.gguf" --out "$TMP/x.gguf"
expect_fail "an unreachable target" 1 compress "${M[@]}" --out "$TMP/x.gguf" --mac-reduction 1000
expect_fail "text scenario on an image model" 1 compress "${M[@]}" --out "$TMP/x.gguf" --scenario text --data "$DATA"
expect_fail "image data that is not there" 1 compress "${M[@]}" --out "$TMP/x.gguf" --data "$TMP/nodata"
check "no output file after the failures" test ! -e "$TMP/x.gguf"
expect_ok "--help" compress --help
check "--help names the policies" grep -q -- "--mac-reduction" "$TMP/out"

# ---- text: the LM's LSTM input and output layer ----
TDATA=$TMP/sotu
mkdir -p "$TDATA"
"$PY" - "$TDATA" <<'EOF' || { echo "cannot make data" >&2; exit 1; }
import random, sys
d = sys.argv[1]
words = ["w" + chr(97 + i % 26) + chr(97 + i // 26) for i in range(70)]
for k, name in enumerate(["ann_lee", "bob_roe", "cal_poe", "dee_fox", "eve_kim"]):
    r = random.Random(k)
    for a in range(3):
        out = [r.choice(words[:40] if r.random() < 0.7 else words) for _ in range(400)]
        open("%s/%d_%s_%s.txt" % (d, 1901 + k * 4 + a, name, "dr"[k % 2]), "w").write(" ".join(out) + ".\n")
EOF
TARCH="tokens 20; embedding 16 vocab=63; lstm 16; dense 63"
TCOMMON=(--data "$TDATA" --vocab 60 --users ann_lee,bob_roe --batch 4)
"$BIN" pretrain --scenario text "${TCOMMON[@]}" --arch "$TARCH" --epochs 1 --lr 0.01 --out "$TMP/lm.gguf" \
    >/dev/null 2>"$TMP/err"
check "pretrain --scenario text succeeds" test $? -eq 0
expect_ok "compress the LM with retraining" compress --model "$TMP/lm.gguf" --out "$TMP/lm-small.gguf" \
    --energy 0.6 "${TCOMMON[@]}" --retrain-epochs 1 --lr 0.005 --json
cp "$TMP/out" "$TMP/lm.json"
"$BIN" info "$TMP/lm-small.gguf" --json >"$TMP/lminfo.json" 2>"$TMP/err"
check "info reads the compressed LM" test $? -eq 0
check "LM: LSTM input and output layer factorized, top-3 reported, freeze point moved" "$PY" -c '
import json,sys
c=json.load(open(sys.argv[1])); i=json.load(open(sys.argv[2]))
L={l["type"]: l for l in c["layers"]}
assert L["lstm W_ih"]["rank"] > 0 and L["dense"]["rank"] > 0, c["layers"]
assert c["macs_after"] == i["macs"] and c["macs_after"] < c["macs_before"], (c, i)
a=c["accuracy"]; assert c["scenario"]=="text" and a["metric"]=="top3", a
assert all(0 <= a[k] <= 1 for k in ("before","factorized","retrained")), a
types=[n["type"] for n in i["nodes"]]; assert types==["embedding","dense","lstm","dense","dense"], types
assert i["metadata"]["autlearn.freeze"]=="3", i["metadata"]
' "$TMP/lm.json" "$TMP/lminfo.json"
expect_fail "LM with another vocabulary" 1 compress --model "$TMP/lm.gguf" --out "$TMP/x.gguf" --data "$TDATA" \
    --vocab 30 --users ann_lee,bob_roe --energy 0.6
check "no output file after the LM failure" test ! -e "$TMP/x.gguf"

# ---- the device library needs no LAPACK ----
LIB=$(dirname "$BIN")/libautlearn_cloud.a
if command -v nm >/dev/null && [ -f "$LIB" ]; then
    nm "$LIB" 2>/dev/null >"$TMP/nm"
    check "libautlearn_cloud.a defines the SVD" grep -qE ' T al_svd$' "$TMP/nm"
    check "libautlearn_cloud.a references no LAPACK symbol" test "$(grep -ciE 'lapack|gesdd|gesvd|gesvj' "$TMP/nm")" -eq 0
fi
tl_end
