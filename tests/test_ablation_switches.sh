#!/usr/bin/env bash
# The ablation's switches (bench/ablation.sh): `autlearn personalize
# --no-cache`, `--naive-plan` and `--forward-chunk`, on the image and the text path, on tiny
# synthetic data. Each switch turns a cost optimization off without changing
# the result: the personal model is byte-identical to the default run's,
# while the work (prefix samples, MACs) or the planned memory grows as it
# should. On the text path the LSTM of the frozen prefix is recomputed at
# every epoch by a pass over the stream with its state carried, so the
# windows' features, and the weights, are those of the cached run.
#   bash tests/test_ablation_switches.sh <path-to-autlearn> <source-dir>
set -u
. "$(dirname "$0")/lib.sh"
tl_init ablation_switches "$@"

jget() { "$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

# ---- images ----------------------------------------------------------------------
DATA=$TMP/data
mkdir -p "$DATA"
"$PY" "$SRC/tests/make_idx.py" "$DATA" 1000 200 || { echo "cannot make data" >&2; exit 1; }
expect_ok "pretrain (images)" pretrain --data "$DATA" --epochs 1 --out "$TMP/cloud.gguf" \
    --arch "input 1x28x28; conv 4 k=3 p=1; relu; maxpool k=2; conv 8 k=3 p=1; relu; maxpool k=2; flatten; dense 16; relu; dense 10"
P=(personalize --recipe config --model "$TMP/cloud.gguf" --data "$DATA" --user 1 --users 4 --per-user 40 --test-per-user 20
    --epochs 3 --json)
expect_ok "personalize, defaults" "${P[@]}" --out "$TMP/p-def.gguf"
cp "$TMP/out" "$TMP/def.json"
expect_ok "personalize --no-cache" "${P[@]}" --no-cache --out "$TMP/p-nc.gguf"
cp "$TMP/out" "$TMP/nc.json"
expect_ok "personalize --naive-plan" "${P[@]}" --naive-plan --out "$TMP/p-np.gguf"
cp "$TMP/out" "$TMP/np.json"
expect_ok "personalize --no-cache --naive-plan" "${P[@]}" --no-cache --naive-plan --out "$TMP/p-both.gguf"
for v in nc np both; do
    check "images: --$v gives the default run's model bytes" cmp -s "$TMP/p-def.gguf" "$TMP/p-$v.gguf"
done
check "images: the JSON says which switches were on" "$PY" -c '
import json, sys
d, n, p = (json.load(open(f)) for f in sys.argv[1:4])
assert d["cache"] is True and d["naive_plan"] is False, d
assert n["cache"] is False and n["naive_plan"] is False, n
assert p["cache"] is True and p["naive_plan"] is True, p
assert d["train_cpu_seconds"] >= 0 and n["train_cpu_seconds"] >= 0, (d, n)
' "$TMP/def.json" "$TMP/nc.json" "$TMP/np.json"
# 40 images x 3 epochs: with the cache the prefix runs once per image, without it every epoch
check "images: no cache = 3x the prefix work and more MACs, no cache hits" "$PY" -c '
import json, sys
d, n = (json.load(open(f)) for f in sys.argv[1:3])
assert d["cache_hits"] == 80 and n["cache_hits"] == 0, (d, n)
assert n["macs"] > 2 * d["macs"], (d["macs"], n["macs"])
assert d["test_acc_after"] == n["test_acc_after"], (d, n)
' "$TMP/def.json" "$TMP/nc.json"
check "images: the naive plan plans more memory" "$PY" -c '
import json, sys
d, p = (json.load(open(f)) for f in sys.argv[1:3])
assert p["planned_parts_mb"]["activations"] > d["planned_parts_mb"]["activations"], (d, p)
' "$TMP/def.json" "$TMP/np.json"
# the app classified the photos before (--predict-first): the cache is full
# when training starts, so training runs no prefix at all; same weights
expect_ok "personalize --predict-first" "${P[@]}" --predict-first --out "$TMP/p-pf.gguf"
cp "$TMP/out" "$TMP/pf.json"
expect_ok "personalize --predict-first --no-cache" "${P[@]}" --predict-first --no-cache --out "$TMP/p-pfnc.gguf"
cp "$TMP/out" "$TMP/pfnc.json"
check "images: --predict-first gives the default run's model bytes" cmp -s "$TMP/p-def.gguf" "$TMP/p-pf.gguf"
check "images: --predict-first --no-cache too" cmp -s "$TMP/p-def.gguf" "$TMP/p-pfnc.gguf"
check "images: after --predict-first every lookup hits and training runs only the suffix" "$PY" -c '
import json, sys
d, f, fn = (json.load(open(x)) for x in sys.argv[1:4])
assert f["cache_hits"] == 120, f["cache_hits"]            # 40 images x 3 epochs
assert f["macs"] < d["macs"] and 3 * f["macs"] < fn["macs"], (d["macs"], f["macs"], fn["macs"])
assert f["predict_cpu_seconds"] >= 0 and d["predict_cpu_seconds"] is None, (f, d)
assert fn["cache_hits"] == 0 and fn["macs"] == json.load(open(sys.argv[4]))["macs"], fn
' "$TMP/def.json" "$TMP/pf.json" "$TMP/pfnc.json" "$TMP/nc.json"
# the frozen part in chunks of samples (al_model_set_forward_chunk): this
# model's 28x28 images fit the caches whole, so the default does not chunk;
# forced chunks of 1 and of 3 (the prefix every epoch, in training mode:
# --no-cache) and none at all (-1) all give the default run's bytes
expect_ok "personalize --forward-chunk 1" "${P[@]}" --forward-chunk 1 --out "$TMP/p-c1.gguf"
cp "$TMP/out" "$TMP/c1.json"
expect_ok "personalize --no-cache --forward-chunk 3" "${P[@]}" --no-cache --forward-chunk 3 --out "$TMP/p-c3.gguf"
expect_ok "personalize --forward-chunk -1" "${P[@]}" --forward-chunk -1 --out "$TMP/p-cm1.gguf"
for v in c1 c3 cm1; do
    check "images: $v gives the default run's model bytes" cmp -s "$TMP/p-def.gguf" "$TMP/p-$v.gguf"
done
check "images: the JSON names the chunk setting" "$PY" -c '
import json, sys
d, c = (json.load(open(f)) for f in sys.argv[1:3])
assert d["forward_chunk"] == 0 and c["forward_chunk"] == 1, (d["forward_chunk"], c["forward_chunk"])
' "$TMP/def.json" "$TMP/c1.json"
expect_fail "personalize --forward-chunk -2" 2 "${P[@]}" --forward-chunk -2 --out "$TMP/x.gguf"
expect_ok "personalize --dry-run --naive-plan" "${P[@]}" --naive-plan --dry-run --out "$TMP/x.gguf"
check "dry run writes nothing" test ! -e "$TMP/x.gguf"

# ---- text ------------------------------------------------------------------------
SOTU=$TMP/sotu
mkdir -p "$SOTU"
"$PY" "$SRC/tests/make_sotu.py" "$SOTU" 4 || { echo "cannot make text" >&2; exit 1; }
expect_ok "pretrain (text)" pretrain --scenario text --data "$SOTU" --vocab 60 \
    --arch "tokens 20; embedding 8 vocab=63; lstm 16; dense 63" --batch 4 --users bob_roe,cal_poe --epochs 1 \
    --lr 0.01 --out "$TMP/lm.gguf"
T=(personalize --scenario text --model "$TMP/lm.gguf" --data "$SOTU" --user ann_lee --epochs 3 --batch 4 --json)
expect_ok "text: defaults" "${T[@]}" --out "$TMP/t-def.gguf"
cp "$TMP/out" "$TMP/tdef.json"
expect_ok "text: --no-cache" "${T[@]}" --no-cache --out "$TMP/t-nc.gguf"
cp "$TMP/out" "$TMP/tnc.json"
expect_ok "text: --no-cache --naive-plan" "${T[@]}" --no-cache --naive-plan --out "$TMP/t-both.gguf"
cp "$TMP/out" "$TMP/tboth.json"
check "text: --no-cache gives the cached run's model bytes" cmp -s "$TMP/t-def.gguf" "$TMP/t-nc.gguf"
check "text: --no-cache --naive-plan too" cmp -s "$TMP/t-def.gguf" "$TMP/t-both.gguf"
# the cached run takes every window from the predict pass; without a cache the
# prefix runs over the whole stream once per epoch
check "text: no cache = one prefix pass per epoch, more MACs" "$PY" -c '
import json, sys
d, n = (json.load(open(f)) for f in sys.argv[1:3])
assert d["cache"] is True and n["cache"] is False, (d, n)
assert d["prefix_windows"] == 0 and d["cache_hits"] > 0, d
assert n["cache_hits"] == 0, n
w = (n["tokens"] - 1) // 20
assert w > 0 and n["prefix_windows"] == 3 * w, (n["prefix_windows"], w)
assert n["macs"] > d["macs"] and n["test_top3_after"] == d["test_top3_after"], (d, n)
' "$TMP/tdef.json" "$TMP/tnc.json"
# the LSTM trained (freeze 1): the prefix is the embedding, no recurrence to carry
expect_ok "text: freeze 1" "${T[@]}" --freeze 1 --out "$TMP/t1-def.gguf"
expect_ok "text: freeze 1 --no-cache" "${T[@]}" --freeze 1 --no-cache --out "$TMP/t1-nc.gguf"
check "text, freeze 1: --no-cache gives the same model bytes" cmp -s "$TMP/t1-def.gguf" "$TMP/t1-nc.gguf"

# only the user's most used words trained (--train-words): fewer MACs; the
# other output rows keep the cloud's bytes; the freeze point must be the
# output layer; the cache does not change the result here either
expect_ok "text: --train-words 10" "${T[@]}" --train-words 10 --out "$TMP/tw.gguf"
cp "$TMP/out" "$TMP/tw.json"
expect_ok "text: --train-words 10 --no-cache" "${T[@]}" --train-words 10 --no-cache --out "$TMP/tw-nc.gguf"
check "text, --train-words: --no-cache gives the same model bytes" cmp -s "$TMP/tw.gguf" "$TMP/tw-nc.gguf"
check "text, --train-words: fewer MACs, reported, a model unlike the default's" "$PY" -c '
import json, sys
d, w = (json.load(open(f)) for f in sys.argv[1:3])
assert w["train_words"] == 10 and d["train_words"] == 0, (d, w)
assert w["freeze"] == 2 and 0 < w["macs"] < d["macs"], (d["macs"], w["macs"])
' "$TMP/tdef.json" "$TMP/tw.json"
check "text, --train-words: a different model than training every row" bash -c '! cmp -s "$1" "$2"' _ "$TMP/t-def.gguf" "$TMP/tw.gguf"
expect_fail "text: --train-words with the LSTM trained" 1 "${T[@]}" --train-words 10 --freeze 1 --out "$TMP/tw1.gguf"
check "text, --train-words --freeze 1: the message says why" grep -q "freeze point must be the output layer" "$TMP/err"

tl_end
