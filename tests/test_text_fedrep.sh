#!/usr/bin/env bash
# FedRep in the text scenario on a tiny synthetic corpus: each round every
# user trains its own output layer with the body held, then the LSTM under
# its held output layer; only the LSTM goes up (the embedding stays the
# cloud's, as fedavg's). Checks the bytes, one shared body and a head per
# user (their CRC-32 in the JSON), that the body step never moves a head
# (no head step: every head is still the cloud's), and that its validation
# scores never read the test text.
#   bash tests/test_text_fedrep.sh <path-to-autlearn> <source-dir>
set -u
. "$(dirname "$0")/lib.sh"
tl_init text_fedrep "$@"

DATA=$TMP/sotu
mkdir -p "$DATA"
"$PY" "$SRC/tests/make_sotu.py" "$DATA" 6 || { echo "cannot make data" >&2; exit 1; }
ARCH="tokens 20; embedding 8 vocab=63; lstm 16; dense 63"
COMMON=(--data "$DATA" --vocab 60 --batch 4 --device-batch 2 --users ann_lee,bob_roe,cal_poe
        --pretrain-epochs 2 --pretrain-lr 0.01 --fed-lr 0.01 --rounds 2 --val-per-user 200 --quiet)

expect_ok "scenario text runs fedrep beside fedavg" scenario text "${COMMON[@]}" --arch "$ARCH" \
    --methods fedavg,fedrep --save-cloud "$TMP/cloud.gguf" --json "$TMP/t1.json"
expect_ok "fedrep without a head step" scenario text "${COMMON[@]}" --cloud "$TMP/cloud.gguf" --methods fedrep \
    --fedrep-head-epochs 0 --json "$TMP/t0.json"
check "fedrep uploads the LSTM only, shares it, keeps a head per user that the body step leaves alone" "$PY" -c '
import json,sys; j=json.load(open(sys.argv[1])); j0=json.load(open(sys.argv[2]))
r,c=j["fedrep"],j["cost"]
head=16*63+63
assert j["config"]["fedrep_head_epochs"]==2, j["config"]
assert len(r["per_user"])==3 and all(0<=a<=1 for a in r["per_user"]) and len(r["per_user_ppl"])==3, r
# fedavg uploads all but the embedding each round: fedrep the same less the output layer
assert c["fedrep"]["bytes_uploaded"]==c["fedavg"]["bytes_uploaded"]-2*head*4>0, c
body=c["fedrep"]["bytes_uploaded"]/2
model=c["fedavg"]["bytes_downloaded"]/3   # fedavg: the cloud model, each round'"'"'s and the final one
assert c["fedrep"]["bytes_downloaded"]==model+2*body, (c, model, body)
assert c["fedrep"]["macs_per_user"]>0, c["fedrep"]
b,h=r["per_user_body_crc32"],r["per_user_head_crc32"]
assert len(set(b))==1 and len(set(h))==3, (b,h)
r0=j0["fedrep"]
assert len(set(r0["per_user_head_crc32"]))==1 and len(set(r0["per_user_body_crc32"]))==1, r0
assert r0["per_user_body_crc32"][0]!=b[0], (r0,b)
' "$TMP/t1.json" "$TMP/t0.json"

# validation: every user's latest address (the test text) replaced leaves fedrep's validation scores as they were
expect_ok "fedrep on validation" scenario text "${COMMON[@]}" --cloud "$TMP/cloud.gguf" --methods fedrep \
    --evaluate validation --json "$TMP/v1.json"
for f in "$DATA"/1903_* "$DATA"/1907_* "$DATA"/1911_*; do
    "$PY" -c 'import sys; open(sys.argv[1],"w").write(("w1 w2 w3 w5 w8 w13 w21 w34. " * 80)+"\n")' "$f"
done
expect_ok "fedrep on validation again" scenario text "${COMMON[@]}" --cloud "$TMP/cloud.gguf" --methods fedrep \
    --evaluate validation --json "$TMP/v2.json"
check "fedrep's validation scores do not read the test text" "$PY" -c '
import json,sys; a,b=(json.load(open(p))["fedrep"] for p in sys.argv[1:3])
assert a["per_user"]==b["per_user"] and a["per_user_ppl"]==b["per_user_ppl"], (a,b)' "$TMP/v1.json" "$TMP/v2.json"

tl_end
