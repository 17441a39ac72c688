#!/usr/bin/env bash
# The text scenario's evidence machinery on a tiny synthetic corpus:
# --evaluate validation never reads the test text (changing every user's
# latest address leaves every validation score as it was, while the test
# scores move), the device's recipe chooser (the default) reports per user
# what it chose, its gate keeps the cloud model when no candidate beats it
# on validation (a model without an output bias has no prior candidate, and
# training at a learning rate of 1e-9 changes no ranking), and the unigram
# prior baselines and fedavg-ft run.
#   bash tests/test_text_evidence.sh <path-to-autlearn> <source-dir>
set -u
. "$(dirname "$0")/lib.sh"
tl_init text_evidence "$@"

DATA=$TMP/sotu
mkdir -p "$DATA"
"$PY" "$SRC/tests/make_sotu.py" "$DATA" 6 || { echo "cannot make data" >&2; exit 1; }
ARCH="tokens 20; embedding 8 vocab=63; lstm 16; dense 63"
COMMON=(--data "$DATA" --vocab 60 --batch 4 --device-batch 2 --users ann_lee,bob_roe,cal_poe
        --pretrain-epochs 2 --pretrain-lr 0.01 --epochs 2 --lr 0.01 --local-epochs 1 --rounds 1
        --val-per-user 200 --public-val 300 --quiet)
ALL=global,global+p,local,autonomous,centralized,central+p,fedavg,fedavg+p,fedavg-ft

"$BIN" scenario text "${COMMON[@]}" --arch "$ARCH" --methods $ALL --evaluate validation \
    --save-cloud "$TMP/cloud.gguf" --json "$TMP/v1.json" >/dev/null 2>"$TMP/err"
check "scenario text --evaluate validation succeeds with every text method" test $? -eq 0
check "the chooser's sentence per user, the cloud's public validation top-3, every method scored" "$PY" -c '
import json,sys; j=json.load(open(sys.argv[1]))
ch=j["autonomous_choice"]; assert len(ch)==3 and all(len(c)>10 for c in ch), ch
assert 0<j["public_val_top3"]<=1, j.get("public_val_top3")
for m in sys.argv[2].split(","):
    assert len(j[m]["per_user"])==3 and all(0<=a<=1 for a in j[m]["per_user"]), m
c=j["cost"]
assert c["fedavg-ft"]["macs_per_user"]>c["fedavg"]["macs_per_user"]>0
assert c["global+p"]["macs_per_user"]>0 and c["central+p"]["bytes_uploaded"]==c["centralized"]["bytes_uploaded"]>0
' "$TMP/v1.json" $ALL
"$BIN" scenario text "${COMMON[@]}" --cloud "$TMP/cloud.gguf" --methods $ALL --json "$TMP/t1.json" >/dev/null 2>"$TMP/err"
check "the same on test" test $? -eq 0

# every user's latest address (the test text) replaced by other words
for f in "$DATA"/1903_* "$DATA"/1907_* "$DATA"/1911_*; do
    "$PY" -c 'import sys; open(sys.argv[1],"w").write(("w1 w2 w3 w5 w8 w13 w21 w34. " * 80)+"\n")' "$f"
done
"$BIN" scenario text "${COMMON[@]}" --cloud "$TMP/cloud.gguf" --methods $ALL --evaluate validation \
    --json "$TMP/v2.json" >/dev/null 2>"$TMP/err"
check "scenario text --evaluate validation succeeds again" test $? -eq 0
"$BIN" scenario text "${COMMON[@]}" --cloud "$TMP/cloud.gguf" --methods $ALL --json "$TMP/t2.json" >/dev/null 2>"$TMP/err"
check "validation scores do not depend on the test text; test scores do" "$PY" -c '
import json,sys
v1,v2,t1,t2=(json.load(open(p)) for p in sys.argv[1:5])
for m in sys.argv[5].split(","):
    assert v1[m]["per_user"]==v2[m]["per_user"], (m, v1[m]["per_user"], v2[m]["per_user"])
    assert v1[m]["per_user_ppl"]==v2[m]["per_user_ppl"], m
assert t1["global"]["per_user"]!=t2["global"]["per_user"], "the test text changed: its scores must"
' "$TMP/v1.json" "$TMP/v2.json" "$TMP/t1.json" "$TMP/t2.json" $ALL

# the gate: no output bias (no prior candidate), training that changes
# nothing, no bigram mixture
NOBIAS="tokens 20; embedding 8 vocab=63; lstm 16; dense 63 bias=0"
"$BIN" scenario text "${COMMON[@]}" --arch "$NOBIAS" --lr 1e-9 --epochs 1 --ngram-mix 0 --methods global,autonomous \
    --json "$TMP/g.json" >/dev/null 2>"$TMP/err"
check "scenario text with a model that cannot improve succeeds" test $? -eq 0
check "the gate keeps the cloud model for every user: autonomous equals global" "$PY" -c '
import json,sys; j=json.load(open(sys.argv[1]))
assert all(c.startswith("kept the cloud model") for c in j["autonomous_choice"]), j["autonomous_choice"]
assert j["autonomous"]["per_user"]==j["global"]["per_user"], (j["autonomous"]["per_user"], j["global"]["per_user"])
' "$TMP/g.json"
# and with a learning rate that learns the users' habits, it personalizes
"$BIN" scenario text "${COMMON[@]}" --arch "$ARCH" --lr 0.03 --epochs 4 --methods global,autonomous \
    --json "$TMP/p.json" >/dev/null 2>"$TMP/err"
check "the chooser keeps a personal model where one beats the cloud model on validation" "$PY" -c '
import json,sys; j=json.load(open(sys.argv[1]))
kept=[c for c in j["autonomous_choice"] if not c.startswith("kept")]
assert kept and all("below the cloud model" in c for c in kept), j["autonomous_choice"]
' "$TMP/p.json"
# the same model with the user's bigram model mixed in (the default): the
# bigram alone beats the cloud model that training cannot move
"$BIN" scenario text "${COMMON[@]}" --arch "$NOBIAS" --lr 1e-9 --epochs 1 --methods global,autonomous \
    --json "$TMP/b.json" >/dev/null 2>"$TMP/err"
check "the chooser keeps the bigram mixture where it beats the cloud model" "$PY" -c '
import json,sys; j=json.load(open(sys.argv[1]))
ch=j["autonomous_choice"]
assert all(c.startswith("bigram ") for c in ch), ch
assert sum(j["autonomous"]["per_user_ppl"])<sum(j["global"]["per_user_ppl"]), (j["autonomous"], j["global"])
' "$TMP/b.json"
# the +p methods mix it in too (at the weight the device chooses with the cloud model)
for mix in 0 1; do
    "$BIN" scenario text "${COMMON[@]}" --cloud "$TMP/cloud.gguf" --ngram-mix $mix --methods global+p,central+p \
        --json "$TMP/m$mix.json" >/dev/null 2>"$TMP/err"
done
check "global+p and central+p with the bigram mixture differ from without" "$PY" -c '
import json,sys; a,b=(json.load(open(p)) for p in sys.argv[1:3])
for m in ("global+p","central+p"):
    assert a[m]["per_user_ppl"]!=b[m]["per_user_ppl"], (m, a[m], b[m])
' "$TMP/m0.json" "$TMP/m1.json"

# personalize --scenario text --recipe auto: the same chooser on one device
"$BIN" personalize --scenario text --model "$TMP/cloud.gguf" --data "$DATA" --user ann_lee --epochs 2 --lr 0.01 \
    --batch 2 --recipe auto --out "$TMP/pers.gguf" --json >"$TMP/pers.json" 2>"$TMP/err"
check "personalize --scenario text --recipe auto succeeds" test $? -eq 0
check "personalize --recipe auto reports its search; a kept pick beat the cloud model on validation" "$PY" -c '
import json,sys; j=json.load(open(sys.argv[1])); r=j["recipe_search"]
assert r["val_tokens"]>0 and r["train_tokens"]>r["val_tokens"] and r["search_macs"]>0, r
assert (j["recipe"]=="cloud")==(not r["kept"]) and r["why"], j
assert not r["kept"] or "below the cloud model" in r["why"], r
assert 0<=r["ngram_mix"]<=0.4 and r["cloud_val_loss"]>0, r
' "$TMP/pers.json"
expect_fail "personalize --recipe auto with --train-words" 2 personalize --scenario text --model "$TMP/cloud.gguf" \
    --data "$DATA" --user ann_lee --recipe auto --train-words 5 --out "$TMP/x.gguf"

# fixed recipes, and errors
for r in prior head last-block deep; do
    "$BIN" scenario text "${COMMON[@]}" --arch "$ARCH" --recipe $r --methods autonomous --json "$TMP/r.json" \
        >/dev/null 2>"$TMP/err"
    check "scenario text --recipe $r succeeds" test $? -eq 0
done
expect_fail "--evaluate validation without --val-per-user" 2 scenario text --data "$DATA" --vocab 60 --batch 4 \
    --users ann_lee,bob_roe --evaluate validation --json "$TMP/x.json" --quiet
expect_fail "an image recipe on text" 1 scenario text "${COMMON[@]}" --arch "$ARCH" --recipe bn --methods autonomous \
    --json "$TMP/x.json"
expect_fail "a validation split that leaves too little to train" 1 scenario text "${COMMON[@]}" --arch "$ARCH" \
    --val-per-user 5000 --json "$TMP/x.json"
expect_fail "fedper on text" 2 scenario text "${COMMON[@]}" --methods fedper --json "$TMP/x.json"

tl_end
