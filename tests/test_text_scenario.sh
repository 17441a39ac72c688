#!/usr/bin/env bash
# End-to-end test of the input-method scenario on a small synthetic corpus of
# "addresses" (YYYY_first_last_party.txt): pretrain --scenario text,
# personalize --scenario text (the predict pass fills the cache, training
# runs no frozen-layer work), scenario text with every method and
# --select-public; checks the JSON keys, owner-only files and errors.
#   bash tests/test_text_scenario.sh <path-to-autlearn> <source-dir>
set -u
. "$(dirname "$0")/lib.sh"
tl_init text_scenario "$@"

# 8 presidents x 3 addresses; each has a habit (a phrase of their own) so the
# device has something to learn that public text does not show.
DATA=$TMP/sotu
mkdir -p "$DATA"
"$PY" "$SRC/tests/make_sotu.py" "$DATA" 8 || { echo "cannot make data" >&2; exit 1; }
ARCH="tokens 20; embedding 8 vocab=63; lstm 16; dense 63"
COMMON=(--data "$DATA" --vocab 60 --arch "$ARCH" --batch 4)

"$BIN" pretrain --scenario text "${COMMON[@]}" --users ann_lee,bob_roe --epochs 2 --lr 0.01 \
    --out "$TMP/cloud.gguf" --json >"$TMP/pre.json" 2>"$TMP/err"
check "pretrain --scenario text succeeds" test $? -eq 0
check "pretrain --scenario text: public tokens, freeze at the output layer" "$PY" -c '
import json,sys; j=json.load(open(sys.argv[1])); assert j["public_tokens"]>1000 and j["freeze"]==2, j' "$TMP/pre.json"
check "the cloud model holds its vocabulary" grep -q "autlearn.vocab" "$TMP/cloud.gguf"

mkdir -p "$TMP/dev"
"$BIN" personalize --scenario text --model "$TMP/cloud.gguf" --data "$DATA" --user ann_lee --epochs 3 --lr 0.01 \
    --batch 4 --out "$TMP/dev/personal.gguf" --json >"$TMP/pers.json" 2>"$TMP/err"
check "personalize --scenario text succeeds" test $? -eq 0
check "personalize writes only its output, owner-only" test "$(ls -A "$TMP/dev")" = personal.gguf -a \
    "$(stat -c %a "$TMP/dev/personal.gguf")" = 600
check "personalize --scenario text: no frozen-layer work after the predict pass, every window from the cache" "$PY" -c '
import json,sys; j=json.load(open(sys.argv[1]))
windows=(j["tokens"]-1)//20
assert j["prefix_windows"]==0 and j["cache_hits"]==3*windows and windows>0, j
assert j["bytes_uploaded"]==0 and 0<=j["test_top3_after"]<=1 and j["test_ppl_after"]>=1, j' "$TMP/pers.json"

"$BIN" scenario text "${COMMON[@]}" --users ann_lee,bob_roe,cal_poe --pretrain-epochs 2 --pretrain-lr 0.01 \
    --epochs 2 --lr 0.01 --local-epochs 1 --rounds 1 --select-public \
    --json "$TMP/s.json" --svg "$TMP/s.svg" --quiet >"$TMP/out" 2>"$TMP/err"
check "scenario text succeeds" test $? -eq 0
check "scenario text JSON: every method, top-3/top-1/perplexity, the cost block, users, selection" "$PY" -c '
import json,sys; j=json.load(open(sys.argv[1]))
assert j["scenario"]=="text" and j["user_names"]==["ann_lee","bob_roe","cal_poe"], j["user_names"]
for m in ["global","local","autonomous","centralized","fedavg"]:
    r=j[m]
    assert len(r["per_user"])==3 and all(0<=a<=1 for a in r["per_user"]), (m,r)
    assert abs(r["mean_acc"]-sum(r["per_user"])/3)<1e-5, (m,r)
    assert 0<=r["mean_top1"]<=r["mean_acc"]+1e-9 and r["mean_ppl"]>=1, (m,r)
    assert len(r["per_user_top1"])==3 and len(r["per_user_ppl"])==3, (m,r)
    assert 0<=r["mean_word_top3"]<=1, (m,r)
    c=j["cost"][m]
    for k in ["seconds_per_user","cpu_seconds_per_user","peak_rss_mb","macs_per_user","bytes_uploaded"]:
        assert k in c and c[k] is not None and c[k]>=0, (m,k,c)
c=j["cost"]
assert c["autonomous"]["bytes_uploaded"]==0 and c["local"]["bytes_uploaded"]==0
assert c["fedavg"]["bytes_uploaded"]>0 and c["centralized"]["bytes_uploaded"]>0
# (autonomous is the recipe chooser by default: its search may cost more than local training)
assert 0<c["autonomous"]["macs_per_user"] and 0<c["local"]["macs_per_user"]
assert len(j["autonomous_choice"])==3
assert len(j["autonomous"]["curve"])==2 and len(j["fedavg"]["curve"])==1
s=j["selection"]
assert all(0<=s[k]<=1 for k in ["global_random","global_selected","autonomous_random","autonomous_selected"]), s
assert j["seconds"]["pretrain"]>0 and "autonomous" in j["seconds"]
' "$TMP/s.json"
check "the SVG is well-formed" "$PY" -c 'import sys, xml.etree.ElementTree as ET; ET.parse(sys.argv[1])' "$TMP/s.svg"
check "scenario text prints top-3, top-1 and where the time went" grep -q "^time: data" "$TMP/out"

# errors: unknown users, hostile file names, a model without a vocabulary
"$BIN" scenario text "${COMMON[@]}" --users nobody_here --json "$TMP/x.json" --quiet >/dev/null 2>"$TMP/err"
check "an unknown user is a runtime error" test $? -eq 1
check "it names the user" grep -q nobody_here "$TMP/err"
echo x >"$DATA/1999_bad.txt"
"$BIN" scenario text "${COMMON[@]}" --json "$TMP/x.json" --quiet >/dev/null 2>"$TMP/err"
check "a file name without year, president and party is refused" test $? -eq 1
check "it names the file" grep -q 1999_bad.txt "$TMP/err"
rm -f "$DATA/1999_bad.txt"
"$BIN" personalize --scenario text --model "$TMP/nonexistent.gguf" --user ann_lee --out "$TMP/z.gguf" >/dev/null 2>"$TMP/err"
check "a missing model is a runtime error" test $? -eq 1
check "no output after a failure" test ! -e "$TMP/z.gguf"
"$BIN" personalize --scenario text --model "$TMP/cloud.gguf" --out "$TMP/z.gguf" >/dev/null 2>"$TMP/err"
check "personalize --scenario text without --user is a usage error" test $? -eq 2

tl_end
