#!/usr/bin/env bash
# End-to-end test of the autonomous-learning pipeline on a small synthetic
# IDX data set: pretrain (cloud), personalize (device), scenario (all
# baselines, JSON and SVG). Checks the documented JSON keys and invariants,
# owner-only personal files, that personalization writes nothing but its
# output, and clean usage errors.
#   bash tests/test_scenario.sh <path-to-autlearn> <source-dir>
set -u
. "$(dirname "$0")/lib.sh"
tl_init scenario "$@"

DATA=$TMP/data
mkdir -p "$DATA"
"$PY" "$SRC/tests/make_idx.py" "$DATA" 2000 1000 || { echo "cannot make data" >&2; exit 1; }
ARCH="input 1x28x28; conv 4 k=3 p=1; relu; maxpool k=2; flatten; dense 16; relu; dense 10"

"$BIN" pretrain --data "$DATA" --arch "$ARCH" --epochs 1 --out "$TMP/cloud.gguf" --json >"$TMP/pre.json" 2>"$TMP/err"
check "pretrain succeeds" test $? -eq 0
check "pretrain writes the cloud model" test -s "$TMP/cloud.gguf"
check "pretrain --json has public_samples = half the training split" "$PY" -c '
import json,sys; j=json.load(open(sys.argv[1])); assert j["public_samples"]==1000, j; assert j["freeze"]=="6", j' "$TMP/pre.json"

# the device: run from an empty directory, write into another; nothing else may appear
mkdir -p "$TMP/cwd" "$TMP/dev"
( cd "$TMP/cwd" && "$BIN" personalize --recipe config --model "$TMP/cloud.gguf" --data "$DATA" --user 2 --users 4 --per-user 50 \
    --test-per-user 40 --epochs 4 --out "$TMP/dev/personal.gguf" --json >"$TMP/pers.json" 2>"$TMP/err" )
check "personalize succeeds" test $? -eq 0
check "personalize writes nothing in the working directory" test -z "$(ls -A "$TMP/cwd")"
check "personalize writes only its output" test "$(ls -A "$TMP/dev")" = personal.gguf
check "the personal model is owner-only" test "$(stat -c %a "$TMP/dev/personal.gguf")" = 600
check "personalize --json: uploads nothing, cache reused, accuracy fields" "$PY" -c '
import json,sys; j=json.load(open(sys.argv[1]))
assert j["bytes_uploaded"]==0 and j["samples"]==50 and j["freeze"]==6, j
assert 0<=j["test_acc_before"]<=1 and 0<=j["test_acc_after"]<=1, j
assert j["cache_hits"]==50*3, j' "$TMP/pers.json"
"$BIN" personalize --recipe config --model "$TMP/cloud.gguf" --data "$DATA" --user 2 --users 4 --per-user 50 --test-per-user 40 \
    --epochs 4 --cache-mb 0 --cache-spill "$TMP/dev/spill.bin" --out "$TMP/dev/personal2.gguf" --json >"$TMP/pers2.json" 2>"$TMP/err"
check "personalize with a spilling cache succeeds" test $? -eq 0
check "the spill file is removed at the end" test ! -e "$TMP/dev/spill.bin"
check "a spilling cache trains the same model, byte for byte" cmp -s "$TMP/dev/personal.gguf" "$TMP/dev/personal2.gguf"
check "spilled entries were reused" "$PY" -c '
import json,sys; a=json.load(open(sys.argv[1])); b=json.load(open(sys.argv[2]))
assert b["cache_entries_spilled"]==50 and b["cache_hits"]==150, b
assert a["test_acc_after"]==b["test_acc_after"], (a,b)' "$TMP/pers.json" "$TMP/pers2.json"
"$BIN" eval --model "$TMP/dev/personal.gguf" --data "$DATA" --json >"$TMP/ev.json" 2>"$TMP/err"
check "the personal model loads and evaluates" test $? -eq 0

"$BIN" scenario image --data "$DATA" --arch "$ARCH" --users 3 --per-user 40 --test-per-user 30 --pretrain-epochs 1 \
    --epochs 3 --local-epochs 2 --rounds 2 --aug-variants 2 --json "$TMP/s.json" --svg "$TMP/s.svg" --quiet \
    >"$TMP/out" 2>"$TMP/err"
check "scenario succeeds" test $? -eq 0
check "scenario JSON has every method, per-user accuracies and the cost block" "$PY" -c '
import json,sys; j=json.load(open(sys.argv[1]))
methods=["global","local","autonomous","centralized","fedavg"]
for m in methods:
    r=j[m]
    assert len(r["per_user"])==3 and all(0<=a<=1 for a in r["per_user"]), (m,r)
    assert abs(r["mean_acc"]-sum(r["per_user"])/3)<1e-5, (m,r)
    assert r["std_acc"]>=0, (m,r)
    c=j["cost"][m]
    for k in ["seconds_per_user","cpu_seconds_per_user","peak_rss_mb","macs_per_user","bytes_uploaded"]:
        assert k in c and c[k] is not None and c[k]>=0, (m,k,c)
c=j["cost"]
assert c["autonomous"]["bytes_uploaded"]==0 and c["global"]["bytes_uploaded"]==0 and c["local"]["bytes_uploaded"]==0
params=4*9+4+(784*16+16)+(16*10+10)
assert c["fedavg"]["bytes_uploaded"]==2*params*4, c["fedavg"]
assert c["centralized"]["bytes_uploaded"]==40*(784+1), c["centralized"]
assert c["autonomous"]["macs_per_user"]>0 and c["autonomous"]["macs_per_user"]<c["local"]["macs_per_user"]
assert len(j["autonomous"]["curve"])==3 and len(j["fedavg"]["curve"])==2 and len(j["local"]["curve"])==2
assert len(j["dominant_classes"])==3 and all(len(d)==2 for d in j["dominant_classes"])
assert j["cloud_public_val_acc"] is None and j["pretrain_lr"]==0.05, j["cloud_public_val_acc"]
' "$TMP/s.json"
check "the SVG is well-formed XML with one bar per user and method" "$PY" -c '
import sys, xml.etree.ElementTree as ET
t=ET.parse(sys.argv[1]); ns="{http://www.w3.org/2000/svg}"
bars=[r for r in t.iter(ns+"rect") if r.find(ns+"title") is not None]
assert len(bars)==15, len(bars)
assert len(list(t.iter(ns+"polyline")))==3' "$TMP/s.svg"
check "scenario prints the table" grep -q "^autonomous" "$TMP/out"
# the chooser's held-out fraction (--auto-val): 40 images a user, 30% of each class held out
"$BIN" scenario image --data "$DATA" --cloud "$TMP/cloud.gguf" --users 2 --per-user 40 --test-per-user 20 \
    --methods global,autonomous --auto-val 0.3 --json "$TMP/av.json" >/dev/null 2>"$TMP/err"
check "scenario --auto-val runs" test $? -eq 0
check "scenario --auto-val holds out its fraction of each user's images" grep -qE "^autonomous: user 2 chose .*\(searched on 2[6-9] of its images, checked on 1[1-4]\)" "$TMP/err"
check "scenario --auto-val is in the JSON config" "$PY" -c 'import json,sys; assert json.load(open(sys.argv[1]))["config"]["auto_val"]==0.3' "$TMP/av.json"
"$BIN" scenario image --data "$DATA" --cloud "$TMP/cloud.gguf" --users 2 --per-user 40 --auto-val 0.95 >/dev/null 2>"$TMP/err"
check "scenario --auto-val out of range is a usage error" test $? -eq 2

# the extra baselines (prior-corrected, fedavg-ft, fedper) on users who differ in class mix and look,
# scored on their validation split
"$BIN" scenario image --data "$DATA" --cloud "$TMP/cloud.gguf" --users 3 --per-user 40 --test-per-user 30 \
    --val-per-user 10 --public-val 20 --evaluate validation --shift both --epochs 2 --rounds 2 \
    --methods global,global+p,central+p,fedavg+p,fedavg-ft,fedper --json "$TMP/b.json" >"$TMP/out" 2>"$TMP/err"
check "scenario runs the extra baselines" test $? -eq 0
check "fedavg-ft runs the device's recipe chooser, as autonomous does" grep -qE "^fedavg-ft: user 3 chose (kept the cloud model|[a-z+-]+: the best)" "$TMP/err"
check "every extra baseline has per-user scores and every cost field" "$PY" -c '
import json,sys; j=json.load(open(sys.argv[1]))
assert j["config"]["shift"]=="both" and j["config"]["evaluate"]=="validation" and j["config"]["val_per_user"]==10, j["config"]
assert j["config"]["public_val"]==20 and 0<j["cloud_public_val_acc"]<=1, j["cloud_public_val_acc"]
c=j["cost"]
for m in ["global","global+p","centralized","central+p","fedavg","fedavg+p","fedavg-ft","fedper"]:
    r=j[m]
    assert len(r["per_user"])==3 and all(0<=a<=1 for a in r["per_user"]), (m,r)
    for k in ["seconds_per_user","cpu_seconds_per_user","peak_rss_mb","macs_per_user","bytes_uploaded","bytes_downloaded"]:
        assert k in c[m] and c[m][k] is not None and c[m][k]>=0, (m,k,c[m])
    assert c[m]["bytes_downloaded"]>0, (m,c[m])
params=4*9+4+(784*16+16)+(16*10+10)
assert c["fedavg+p"]["bytes_uploaded"]==2*params*4 and c["fedavg"]["bytes_downloaded"]==3*params*4, c
assert c["fedper"]["bytes_uploaded"]==2*(params-170)*4, c["fedper"]
# down: the cloud model, then the mean body of each round (the last one the final body it is scored with)
assert c["fedper"]["bytes_downloaded"]==params*4+2*(params-170)*4, c["fedper"]
assert c["fedavg-ft"]["macs_per_user"]>c["fedavg"]["macs_per_user"]>0 and c["fedper"]["macs_per_user"]>0, c
assert c["central+p"]["bytes_uploaded"]==30*(784+1), c["central+p"]
' "$TMP/b.json"
# a client whose training diverges: the server leaves its update out of the round (clients_dropped),
# a device job that diverges keeps its last good weights (diverged_users); the run goes on. The cloud
# model's weights are so large that every forward pass overflows: each client's loss is NaN at its
# first step and stays NaN after every rollback, so no round has an update and fedavg's model stays
# the cloud model
"$PY" - "$TMP/huge.onnx" <<'PYEOF'
import sys, numpy as np, onnx
from onnx import helper, TensorProto, numpy_helper
W = np.full((10, 784), 1e37, np.float32)
g = helper.make_graph([helper.make_node("Flatten", ["x"], ["f"], axis=1), helper.make_node("Gemm", ["f", "W", "b"], ["y"], transB=1)],
    "huge", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 28, 28])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])],
    [numpy_helper.from_array(W, "W"), numpy_helper.from_array(np.zeros(10, np.float32), "b")])
onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), sys.argv[1])
PYEOF
"$BIN" import "$TMP/huge.onnx" --out "$TMP/huge.gguf" >/dev/null 2>&1
"$BIN" scenario image --data "$DATA" --cloud "$TMP/huge.gguf" --users 3 --per-user 40 --test-per-user 30 \
    --rounds 2 --recipe config --methods global,fedavg,fedavg-ft,fedper,fedrep,ditto --json "$TMP/d.json" >/dev/null 2>"$TMP/err"
check "scenario: diverging clients do not stop the run" test $? -eq 0
check "scenario: dropped clients are counted; a round without updates keeps the global model" "$PY" -c '
import json,sys; j=json.load(open(sys.argv[1])); c=j["cost"]
assert c["fedavg"]["clients_dropped"]==6 and c["fedavg-ft"]["clients_dropped"]==6 and c["fedper"]["clients_dropped"]==6, c
assert c["fedrep"]["clients_dropped"]==6, c
# ditto: the client updates left out as fedavg'"'"'s; every personal step diverged, each device keeps its last good weights
assert c["ditto"]["clients_dropped"]==6 and c["ditto"]["diverged_users"]==6, c
assert c["fedavg-ft"]["diverged_users"]==3 and "diverged_users" not in c["fedavg"], c
assert "clients_dropped" not in c["global"], c
for m in ["fedavg","fedavg-ft","fedper","fedrep","ditto"]: assert j[m]["per_user"]==j["global"]["per_user"], (m, j[m], j["global"])
# no client sent an update: nothing was uploaded
for m in ["fedavg","fedavg-ft","fedper","fedrep","ditto"]: assert c[m]["bytes_uploaded"]==0, (m, c[m])
' "$TMP/d.json"
check "scenario: the dropped update is named" grep -q "^fedavg: round 2: user 3.s training diverged; its update is left out" "$TMP/err"
# FedRep: each round the personal head first (the body held), then the body under the held head; only
# the body goes up. Every user is scored with the same body and a head of its own.
"$BIN" scenario image --data "$DATA" --cloud "$TMP/cloud.gguf" --users 3 --per-user 40 --test-per-user 30 --rounds 2 \
    --methods fedavg,fedper,fedrep --json "$TMP/r.json" >"$TMP/out" 2>"$TMP/err"
check "scenario runs fedrep" test $? -eq 0
check "fedrep: one round's progress line each" test "$(grep -c "^fedrep: round [12]/2 done" "$TMP/err")" -eq 2
"$BIN" scenario image --data "$DATA" --cloud "$TMP/cloud.gguf" --users 3 --per-user 40 --test-per-user 30 --rounds 2 \
    --methods fedrep --fedrep-head-epochs 0 --json "$TMP/r0.json" --quiet >/dev/null 2>"$TMP/err"
check "fedrep without a head step runs" test $? -eq 0
check "fedrep uploads the body only, shares it, keeps a head per user that the body step leaves alone" "$PY" -c '
import json,sys; j=json.load(open(sys.argv[1])); j0=json.load(open(sys.argv[2]))
r,c=j["fedrep"],j["cost"]
params=4*9+4+(784*16+16)+(16*10+10); head=16*10+10
assert j["config"]["fedrep_head_epochs"]==2 and j0["config"]["fedrep_head_epochs"]==0, j["config"]
assert len(r["per_user"])==3 and all(0<=a<=1 for a in r["per_user"]), r
assert c["fedrep"]["bytes_uploaded"]==2*(params-head)*4 < c["fedavg"]["bytes_uploaded"]==2*params*4, c
assert c["fedrep"]["bytes_downloaded"]==params*4+2*(params-head)*4, c["fedrep"]
assert c["fedrep"]["macs_per_user"]>0 and c["fedrep"]["cpu_seconds_per_user"]>=0, c["fedrep"]
for m in ("fedper","fedrep"):
    b,h=j[m]["per_user_body_crc32"],j[m]["per_user_head_crc32"]
    assert len(b)==3 and len(set(b))==1, (m,b)      # one body, shared
    assert len(set(h))==3, (m,h)                    # a head per user
assert "per_user_body_crc32" not in j["fedavg"], j["fedavg"]
# no head step: every head is still the cloud model'"'"'s (the body steps held it), the body trained
r0=j0["fedrep"]
assert len(set(r0["per_user_head_crc32"]))==1 and len(set(r0["per_user_body_crc32"]))==1, r0
assert r0["per_user_body_crc32"][0]!=r["per_user_body_crc32"][0], (r0, r)
' "$TMP/r.json" "$TMP/r0.json"
# Ditto: fedavg as is, and beside it each user's personal model, trained each round toward the round's
# global model (--ditto-lambda), never uploaded; each user is scored with its own
DIT=(scenario image --data "$DATA" --cloud "$TMP/cloud.gguf" --users 3 --per-user 40 --test-per-user 30 --rounds 2
     --shift feature --methods fedavg,ditto --quiet)
expect_ok "ditto, lambda 0" "${DIT[@]}" --ditto-lambda 0 --json "$TMP/dl0.json"
expect_ok "ditto, lambda 1" "${DIT[@]}" --ditto-lambda 1 --json "$TMP/dl1.json"
expect_ok "ditto, lambda 1 again" "${DIT[@]}" --ditto-lambda 1 --json "$TMP/dl1b.json"
expect_ok "ditto, lambda 10" "${DIT[@]}" --ditto-lambda 10 --json "$TMP/dl10.json"
expect_ok "ditto, lambda 0, another global model" "${DIT[@]}" --ditto-lambda 0 --fed-epochs 2 --ditto-epochs 1 \
    --json "$TMP/dl0e.json"
expect_ok "ditto, lambda 1, another global model" "${DIT[@]}" --ditto-lambda 1 --fed-epochs 2 --ditto-epochs 1 \
    --json "$TMP/dl1e.json"
expect_ok "ditto, one user, lambda 0" "${DIT[@]}" --users 1 --ditto-lambda 0 --json "$TMP/du.json"
check "ditto: fedavg's bytes, its own device work beside fedavg's, a personal model per user pulled toward the global one" "$PY" -c '
import json,sys
l0,l1,l1b,l10,l0e,l1e,u=(json.load(open(p)) for p in sys.argv[1:8])
assert l1["config"]["ditto_lambda"]==1 and l0["config"]["ditto_lambda"]==0 and l1["config"]["ditto_epochs"]==1, l1["config"]
assert l0e["config"]["ditto_epochs"]==1 and l0e["config"]["fed_epochs"]==2, l0e["config"]
for j in (l0,l1,l10,l0e):
    c,d=j["cost"]["fedavg"],j["cost"]["ditto"]
    assert d["bytes_uploaded"]==c["bytes_uploaded"]>0 and d["bytes_downloaded"]==c["bytes_downloaded"], (c,d)
    # the personal step: as many samples as the client update at ditto_epochs / fed_epochs of its MACs
    want=c["macs_per_user"]*(1+j["config"]["ditto_epochs"]/j["config"]["fed_epochs"])
    assert abs(d["macs_per_user"]-want)<=1e-5*want, (c,d)   # (the JSON keeps 6 digits)
    assert d["peak_rss_mb"]>=c["peak_rss_mb"] and d["cpu_seconds_per_user"]>=c["cpu_seconds_per_user"], (c,d)
    r=j["ditto"]
    assert len(r["per_user"])==3 and all(0<=a<=1 for a in r["per_user"]), r
    assert len(set(r["per_user_model_crc32"]))==3, r          # a model per user
    assert "per_user_model_crc32" not in j["fedavg"], j["fedavg"]
assert l0["fedavg"]==l1["fedavg"]==l10["fedavg"], "the personal step must not touch the global model"
assert l1["ditto"]==l1b["ditto"], (l1["ditto"], l1b["ditto"])  # deterministic for a seed
# the larger lambda, the closer each personal model to the global one
dist=[sum(j["ditto"]["per_user_distance_to_global"])/3 for j in (l0,l1,l10)]
assert dist[0]>dist[1]>dist[2]>0, dist
# lambda 0: local training from the start, whatever the global model does; lambda 1 follows it
assert l0["ditto"]["per_user_model_crc32"]==l0e["ditto"]["per_user_model_crc32"], (l0["ditto"], l0e["ditto"])
assert l0["fedavg"]["per_user"]!=l0e["fedavg"]["per_user"] or l0["cost"]["fedavg"]["macs_per_user"]!=l0e["cost"]["fedavg"]["macs_per_user"]
assert all(a!=b for a,b in zip(l1["ditto"]["per_user_model_crc32"], l1e["ditto"]["per_user_model_crc32"])), (l1["ditto"], l1e["ditto"])
# one user, lambda 0: its personal steps are its client updates (same samples, same order), so the personal
# model is the global one
assert u["ditto"]["per_user_distance_to_global"]==[0] and u["ditto"]["per_user"]==u["fedavg"]["per_user"], u
' "$TMP/dl0.json" "$TMP/dl1.json" "$TMP/dl1b.json" "$TMP/dl10.json" "$TMP/dl0e.json" "$TMP/dl1e.json" "$TMP/du.json"
# classes the cloud never saw (--shift newclass): the cloud knows 7 of the 10 labels, each user holds
# an unseen one at least; the device grows its output layer and predicts them
"$BIN" scenario image --data "$DATA" --arch "$ARCH" --users 3 --per-user 60 --test-per-user 60 --pretrain-epochs 2 \
    --epochs 3 --local-epochs 3 --rounds 2 --shift newclass --save-cloud "$TMP/cloud7.gguf" \
    --methods global,global+p,local,autonomous,centralized,fedavg,fedavg-ft,fedper,fedrep,ditto --json "$TMP/n.json" --quiet \
    >"$TMP/out" 2>"$TMP/err"
check "scenario --shift newclass succeeds" test $? -eq 0
check "newclass: the cloud never predicts an unseen class, the device and the pooling baselines do, above chance" "$PY" -c '
import json,sys; j=json.load(open(sys.argv[1]))
assert j["config"]["shift"]=="newclass" and j["config"]["new_classes"]==3, j["config"]
assert 0 < j["public_samples"] < 0.8*1000, j["public_samples"]   # 7 of 10 classes of the 1000 public samples
assert all(d[0] >= 7 for d in j["dominant_classes"]), j["dominant_classes"]
for m in ["global","global+p","local","autonomous","centralized","fedavg","fedavg-ft","fedper","fedrep","ditto"]:
    r=j[m]
    assert len(r["per_user_seen"])==3 and len(r["per_user_new"])==3, (m,r)
    assert 0<=r["mean_acc_seen"]<=1 and 0<=r["mean_acc_new"]<=1, (m,r)
assert j["global"]["mean_acc_new"]==0 and j["global+p"]["mean_acc_new"]==0, j["global"]
for m in ["autonomous","centralized","fedavg-ft"]:
    assert j[m]["mean_acc_new"] > 0.3, (m, j[m])   # chance is 1 in 8 or fewer outputs
assert j["autonomous"]["mean_acc"] > j["global"]["mean_acc"] + 0.1, (j["autonomous"], j["global"])
' "$TMP/n.json"
"$BIN" info "$TMP/cloud7.gguf" >"$TMP/info" 2>&1
check "newclass: the cloud model has 7 outputs" grep -qE "dense 7\b" "$TMP/info"
# --rehearsal E: 5 public images of each of the 7 seen classes mixed in on the device by autonomous and
# by the baselines' device steps (fedavg-ft's fine-tuning, fedrep's head step, ditto's personal step),
# counted once in their bytes down; under label shift (no new class) the same results and bytes as without
for e in 0 5; do
    "$BIN" scenario image --data "$DATA" --cloud "$TMP/cloud7.gguf" --users 2 --per-user 60 --test-per-user 60 \
        --epochs 2 --recipe config --freeze 0 --shift newclass --rehearsal $e --rounds 2 \
        --methods autonomous,fedavg-ft,fedrep,ditto \
        --json "$TMP/re$e.json" --quiet >/dev/null 2>"$TMP/err" || bad "newclass --rehearsal $e failed"
    "$BIN" scenario image --data "$DATA" --cloud "$TMP/cloud.gguf" --users 2 --per-user 60 --test-per-user 60 \
        --epochs 2 --recipe config --freeze 0 --rehearsal $e --rounds 2 --methods autonomous,fedavg-ft,fedrep,ditto \
        --json "$TMP/rl$e.json" --quiet >/dev/null 2>"$TMP/err" || bad "label --rehearsal $e failed"
done
check "--rehearsal: the exemplars' bytes down under newclass (autonomous, fedavg-ft, fedrep, ditto); they train on them; a no-op under label shift" "$PY" -c '
import json,sys; a,b,c,d=(json.load(open(f)) for f in sys.argv[1:])
assert a["config"]["rehearsal"]==0 and b["config"]["rehearsal"]==5, b["config"]
px=784
for m in ["autonomous","fedavg-ft","fedrep","ditto"]:
    assert abs(b["cost"][m]["bytes_downloaded"]-a["cost"][m]["bytes_downloaded"]-(24+35*(1+px)))<1, (m,a["cost"][m],b["cost"][m])
    # more samples trained: the exemplars (fedavg-ft, ditto: every step; fedrep: its head step)
    assert b["cost"][m]["macs_per_user"]>a["cost"][m]["macs_per_user"], (m,a["cost"][m],b["cost"][m])
    assert c["cost"][m]["macs_per_user"]==d["cost"][m]["macs_per_user"], (m,c["cost"][m],d["cost"][m])
    assert c[m]["per_user"]==d[m]["per_user"], (m,c[m],d[m])
    # no device fetches exemplars it would not use
    assert c["cost"][m]["bytes_downloaded"]==d["cost"][m]["bytes_downloaded"], (m,c["cost"][m],d["cost"][m])
# the personal models differ under newclass (each user holds a new class), are the same without one
assert all(x!=y for x,y in zip(a["fedrep"]["per_user_head_crc32"], b["fedrep"]["per_user_head_crc32"])), (a["fedrep"],b["fedrep"])
assert all(x!=y for x,y in zip(a["ditto"]["per_user_model_crc32"], b["ditto"]["per_user_model_crc32"])), (a["ditto"],b["ditto"])
for m,k in [("fedrep","per_user_head_crc32"),("fedrep","per_user_body_crc32"),("ditto","per_user_model_crc32")]:
    assert c[m][k]==d[m][k], (m,k,c[m],d[m])
# the global model and fedavg are the same with the exemplars: only the personal steps use them
assert a["fedavg"]["per_user"]==b["fedavg"]["per_user"], (a["fedavg"],b["fedavg"])
assert a["cost"]["fedavg"]["bytes_downloaded"]==b["cost"]["fedavg"]["bytes_downloaded"], (a["cost"],b["cost"])
' "$TMP/re0.json" "$TMP/re5.json" "$TMP/rl0.json" "$TMP/rl5.json"
"$BIN" scenario image --data "$DATA" --cloud "$TMP/cloud.gguf" --shift newclass --users 2 --per-user 40 \
    --test-per-user 20 --json "$TMP/y.json" --quiet >/dev/null 2>"$TMP/err"
check "newclass with a cloud model that saw every class: a runtime error" test $? -eq 1
check "... that says why" grep -q "the cloud model has 10 classes, the public data 7 seen ones" "$TMP/err"
"$BIN" scenario image --data "$DATA" --shift newclass --new-classes 9 --users 2 --per-user 40 --test-per-user 20 \
    --json "$TMP/y.json" --quiet >/dev/null 2>"$TMP/err"
check "newclass with fewer than 2 seen classes: a runtime error that says why" grep -q "new classes must be 1..8" "$TMP/err"
"$BIN" scenario image --data "$DATA" --new-classes 2 --json "$TMP/y.json" >/dev/null 2>"$TMP/err"
check "--new-classes without --shift newclass: a usage error" test $? -eq 2
check "... that says why" grep -q "needs --shift newclass" "$TMP/err"
for args in "scenario image --json $TMP/y.json --shift sideways" "scenario image --json $TMP/y.json --evaluate validation" \
            "scenario text --json $TMP/y.json --methods fedper" "scenario text --json $TMP/y.json --shift newclass"; do
    "$BIN" $args >/dev/null 2>"$TMP/err"
    check "usage error ($args) exits 2" test $? -eq 2
done

# nothing leaves the device: the library has no socket-family symbol at all
LIB=$(dirname "$BIN")/libautlearn.a
if [ -f "$LIB" ] && command -v nm >/dev/null; then
    check "the library references no network call" test -z "$(nm -u "$LIB" 2>/dev/null | grep -wE 'socket|connect|bind|listen|accept|sendto|sendmsg|recvfrom|getaddrinfo|gethostbyname')"
    check "nm sees the library's imports" test -n "$(nm -u "$LIB" 2>/dev/null | grep -w fopen)"
else
    check "static library present next to the binary" false
fi

# usage errors: exit 2 with a message, never a crash
for args in "personalize --model $TMP/cloud.gguf --data $DATA --user 9 --users 4 --out $TMP/x.gguf" \
            "scenario image --data $DATA" "scenario image --json $TMP/y.json --methods bogus" \
            "scenario text2 --json $TMP/y.json" "pretrain --data $DATA"; do
    "$BIN" $args >/dev/null 2>"$TMP/err"
    rc=$?
    check "usage error ($args) exits 2" test "$rc" -eq 2
    check "usage error ($args) says why" grep -q '^autlearn' "$TMP/err"
done
"$BIN" personalize --model "$TMP/nonexistent.gguf" --data "$DATA" --user 0 --out "$TMP/z.gguf" >/dev/null 2>"$TMP/err"
check "a missing model is a runtime error" test $? -eq 1
check "no output after a failure" test ! -e "$TMP/z.gguf"

tl_end
