#!/usr/bin/env bash
# FedRep in the text scenario on a tiny synthetic corpus: each round every
# user trains its own output layer with the body held, then the LSTM under
# its held output layer; only the LSTM goes up (the embedding stays the
# cloud's, as fedavg's). Checks the bytes, one shared body and a head per
# user (their CRC-32 in the JSON), that the body step never moves a head
# (no head step: every head is still the cloud's), and that its validation
# scores never read the test text. Ditto beside fedavg: its bytes, its MACs,
# a personal LM per user, and with one user and lambda 0 fedavg's model.
# Both are scored with the user's bigram mixture (the device's weight): the
# same personal models as with --ngram-mix 0, other scores, and the weight's
# choice in their MACs.
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

# Ditto: fedavg as is, and beside it each user's personal LM (all but the embedding, as fedavg's client)
# trained toward the round's global model; nothing more goes up
expect_ok "scenario text runs ditto" scenario text "${COMMON[@]}" --cloud "$TMP/cloud.gguf" --methods ditto \
    --ditto-lambda 0.1 --ngram-mix 0 --json "$TMP/d1.json"
expect_ok "ditto again" scenario text "${COMMON[@]}" --cloud "$TMP/cloud.gguf" --methods ditto \
    --ditto-lambda 0.1 --ngram-mix 0 --json "$TMP/d2.json"
expect_ok "ditto, one user, lambda 0" scenario text "${COMMON[@]}" --users ann_lee --cloud "$TMP/cloud.gguf" \
    --methods ditto --ditto-lambda 0 --ngram-mix 0 --json "$TMP/d0.json"
check "ditto: fedavg's bytes, twice its device MACs, a personal LM per user, deterministic" "$PY" -c '
import json,sys; j,j2,u=(json.load(open(p)) for p in sys.argv[1:4]); c=j["cost"]
assert j["config"]["ditto_lambda"]==0.1 and j["config"]["ditto_epochs"]==1, j["config"]
assert c["ditto"]["bytes_uploaded"]==c["fedavg"]["bytes_uploaded"]>0, c
assert c["ditto"]["bytes_downloaded"]==c["fedavg"]["bytes_downloaded"], c
assert abs(c["ditto"]["macs_per_user"]-2*c["fedavg"]["macs_per_user"])<=1e-5*c["ditto"]["macs_per_user"], c
r=j["ditto"]
assert len(r["per_user"])==3 and all(0<=a<=1 for a in r["per_user"]) and len(r["per_user_ppl"])==3, r
assert len(set(r["per_user_model_crc32"]))==3 and all(d>0 for d in r["per_user_distance_to_global"]), r
assert j["ditto"]==j2["ditto"] and j["fedavg"]==j2["fedavg"], "not deterministic"
# one user, lambda 0: the personal steps are its client updates, the personal LM the global one
assert u["ditto"]["per_user_distance_to_global"]==[0] and u["ditto"]["per_user"]==u["fedavg"]["per_user"], u
' "$TMP/d1.json" "$TMP/d2.json" "$TMP/d0.json"

# the bigram mixture (the default): the same personal models, scored mixed, the weight's choice in the MACs
expect_ok "fedrep and ditto with the bigram mixture" scenario text "${COMMON[@]}" --cloud "$TMP/cloud.gguf" \
    --methods fedrep,ditto --ditto-lambda 0.1 --json "$TMP/m1.json"
expect_ok "fedrep and ditto without it" scenario text "${COMMON[@]}" --cloud "$TMP/cloud.gguf" \
    --methods fedrep,ditto --ditto-lambda 0.1 --ngram-mix 0 --json "$TMP/m0.json"
check "fedrep and ditto: mixed scores of the same personal models, the weight's choice counted once" "$PY" -c '
import json,sys; m,n=(json.load(open(p)) for p in sys.argv[1:3])
assert m["config"]["ngram_mix"] and not n["config"]["ngram_mix"], (m["config"], n["config"])
for k in ("fedrep","ditto"):
    crc=[c for c in m[k] if c.endswith("crc32")]
    assert crc and all(m[k][c]==n[k][c] for c in crc), (k, m[k], n[k])
    assert m[k]["per_user"]!=n[k]["per_user"], (k, m[k]["per_user"])
# choosing the weight is the same work for both (the cloud model on the same text)
dr=m["cost"]["fedrep"]["macs_per_user"]-n["cost"]["fedrep"]["macs_per_user"]
dd=m["cost"]["ditto"]["macs_per_user"]-n["cost"]["ditto"]["macs_per_user"]
assert dr>0 and abs(dr-dd)<=1e-6*dr, (dr, dd)
' "$TMP/m1.json" "$TMP/m0.json"

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
