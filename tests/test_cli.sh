#!/usr/bin/env bash
# End-to-end test of the autlearn CLI on a tiny synthetic IDX data set.
#   bash tests/test_cli.sh <path-to-autlearn> [<source-dir>]
# Trains an MLP for two epochs, then checks info/eval/predict (text and
# --json), that eval reproduces train's test accuracy from the saved file, and
# that bad input of every kind fails with a message and a small exit code
# (never a crash or a sanitizer report). Exits 1 if any check fails.
set -u

. "$(dirname "$0")/lib.sh"
tl_init cli "$@"



# expect_no_crash DESC ARGS...: any outcome but a signal or a sanitizer report.
expect_no_crash() {
    local desc=$1
    shift
    run "$@"
    if [ "$rc" -ge 128 ]; then
        bad "$desc: exit $rc (crash or signal)"
    elif sanitizer_report; then
        bad "$desc: sanitizer report"
    else
        ok
    fi
}


json_ok() { "$PY" -c 'import json,sys; json.load(open(sys.argv[1]))' "$1" 2>/dev/null; }

# ---- a synthetic data set: 10 classes, each a bright 6x6 block at its own place
# in a 28x28 image over noise; train split plain, test split gzipped ----------
DATA=$TMP/data
mkdir -p "$DATA"
"$PY" "$SRC/tests/make_idx.py" "$DATA" 600 200
if [ ! -f "$DATA/t10k-labels-idx1-ubyte.gz" ]; then
    echo "test_cli: could not generate the data set with $PY" >&2
    exit 1
fi

MODEL=$TMP/m.gguf

# ---- help and version ----------------------------------------------------------
expect_ok "--help" --help
check "--help prints usage" grep -q '^usage: autlearn' "$TMP/out"
expect_ok "--version" --version
check "--version prints the version" grep -qE '^autlearn [0-9]+\.[0-9]+\.[0-9]+' "$TMP/out"
for c in train eval predict info; do
    expect_ok "$c --help" "$c" --help
    check "$c --help prints usage" grep -q "^usage: autlearn $c" "$TMP/out"
done
expect_ok "help train" help train
check "help train prints train's usage" grep -q '^usage: autlearn train' "$TMP/out"

# ---- train ---------------------------------------------------------------------------
expect_ok "train" train --arch mlp --data "$DATA" --epochs 2 --limit 500 --batch 16 --seed 3 --out "$MODEL" --json
cp "$TMP/out" "$TMP/train.json"
cp "$TMP/err" "$TMP/train.err"
check "train writes the model file" test -s "$MODEL"
check "train --json parses" json_ok "$TMP/train.json"
check "train --json has the documented fields" "$PY" -c '
import json, sys
j = json.load(open(sys.argv[1]))
need = ["command", "epochs", "test_acc", "test_loss", "train_loss", "seconds", "samples", "model", "params", "macs"]
missing = [k for k in need if k not in j]
assert not missing, missing
assert j["command"] == "train" and j["epochs"] == 2 and j["samples"] == 1000, j
assert j["params"] == 784 * 128 + 128 + 128 * 10 + 10, j["params"]
assert j["model"] == sys.argv[2]
' "$TMP/train.json" "$MODEL"
check "train learns the synthetic task (test_acc > 0.8)" "$PY" -c '
import json, sys; a = json.load(open(sys.argv[1]))["test_acc"]; assert a > 0.8, a' "$TMP/train.json"
check "train prints per-epoch lines on stderr" grep -q '^epoch 2/2' "$TMP/train.err"
check "no progress bar (carriage return) when stderr is a pipe" bash -c "! grep -q \$'\r' '$TMP/train.err'"

expect_ok "train (text output)" train --arch mlp --data "$DATA" --epochs 1 --limit 100 --out "$TMP/m2.gguf" --quiet
check "train prints the test accuracy" grep -q '^test accuracy' "$TMP/out"
check "train --quiet prints nothing on stderr" test ! -s "$TMP/err"

expect_ok "train with a spec, adam, step schedule, clipping, patience, freeze" \
    train --arch "input 1x28x28; flatten; dense 32; relu; dense 10" --data "$DATA" --epochs 3 --limit 200 \
    --optim adam --lr 0.002 --sched step --step-size 1 --gamma 0.5 --warmup 5 --clip 5 --patience 1 \
    --freeze 1 --threads 2 --out "$TMP/m3.gguf" --json
check "train (spec) --json parses" json_ok "$TMP/out"
expect_ok "train --init fine-tunes a saved model" train --init "$MODEL" --data "$DATA" --epochs 1 --limit 100 \
    --optim adamw --out "$TMP/m4.gguf" --quiet

# a finished checkpoint's weights are the result only for the data it trained on
expect_ok "train --checkpoint" train --arch mlp --data "$DATA" --epochs 1 --limit 100 --checkpoint "$TMP/t.ckpt" \
    --out "$TMP/m5.gguf" --quiet
expect_ok "train --resume from the finished checkpoint, same data" train --arch mlp --data "$DATA" --epochs 1 \
    --limit 100 --checkpoint "$TMP/t.ckpt" --resume --out "$TMP/m6.gguf" --quiet
check "... writes the finished run's model" cmp -s "$TMP/m5.gguf" "$TMP/m6.gguf"
expect_fail "train --resume from a finished checkpoint of other data" 1 train --arch mlp --data "$DATA" --epochs 1 \
    --limit 120 --checkpoint "$TMP/t.ckpt" --resume --out "$TMP/m7.gguf" --quiet
check "... says so" grep -q "finished run on other training data" "$TMP/err"
check "... and writes no model" test ! -e "$TMP/m7.gguf"

# ---- info ----------------------------------------------------------------------------
expect_ok "info" info "$MODEL"
check "info shows the spec" grep -q '^spec: *input 1x28x28; flatten; dense 128; relu; dense 10' "$TMP/out"
check "info shows the nodes and what each reads" grep -qE '^ +1 +dense +0 +128 +100480 ' "$TMP/out"
check "info shows the metadata" grep -q 'autlearn.trained_on = data' "$TMP/out"
expect_ok "info --json" info "$MODEL" --json
check "info --json parses and is complete" "$PY" -c '
import json, os, sys
j = json.load(open(sys.argv[1]))
assert j["command"] == "info"
assert [n["type"] for n in j["nodes"]] == ["flatten", "dense", "relu", "dense"], j["nodes"]
assert j["nodes"][1]["params"] == 100480 and j["nodes"][1]["output"] == [128]
assert all(n["trainable"] for n in j["nodes"])
assert j["params"] == sum(n["params"] for n in j["nodes"]) == 101770
assert j["macs"] == sum(n["macs"] for n in j["nodes"]) and j["macs"] > 0
assert j["input"] == [1, 28, 28] and j["output"] == [10]
assert j["file_bytes"] == os.path.getsize(sys.argv[2])
assert j["metadata"]["autlearn.trained_on"] == "data", j["metadata"]
assert j["metadata"]["autlearn.train.epochs"] == "2", j["metadata"]
' "$TMP/out" "$MODEL"
expect_ok "info of a model with frozen nodes" info "$TMP/m3.gguf" --json
check "info reports frozen nodes" "$PY" -c '
import json, sys
j = json.load(open(sys.argv[1]))
assert j["first_trainable"] == 1 and not j["nodes"][0]["trainable"] and j["nodes"][1]["trainable"], j' "$TMP/out"

# ---- a model with 4-dim tensors (the tensor operators): trains, saves, info shows them
expect_ok "train a spec with 4-dim tensors" train --arch "input 1x28x28; reshape shape=2,2,7,28; \
transpose perm=0,1,3,2; softmax axis=2; gelu; flatten; dense 10" --data "$DATA" --epochs 1 --limit 100 \
    --out "$TMP/m4.gguf" --quiet
expect_ok "info of a model with 4-dim tensors" info "$TMP/m4.gguf"
check "info shows a 4-dim output" grep -qE '^ +1 +transpose +0 +2x2x28x7 ' "$TMP/out"
expect_ok "info --json of a model with 4-dim tensors" info "$TMP/m4.gguf" --json
check "... lists 4 dimensions" "$PY" -c '
import json, sys
j = json.load(open(sys.argv[1]))
assert j["nodes"][1]["output"] == [2, 2, 28, 7], j["nodes"][1]
' "$TMP/out"

# ---- eval ------------------------------------------------------------------------------
expect_ok "eval --json" eval --model "$MODEL" --data "$DATA" --json
cp "$TMP/out" "$TMP/eval.json"
check "eval --json parses" json_ok "$TMP/eval.json"
check "eval reproduces train's final test accuracy and loss from the file" "$PY" -c '
import json, sys
t = json.load(open(sys.argv[1])); e = json.load(open(sys.argv[2]))
assert e["samples"] == 200 and e["split"] == "test", e
assert e["acc"] == t["test_acc"], (e["acc"], t["test_acc"])
assert abs(e["loss"] - t["test_loss"]) <= 1e-9 * max(1.0, abs(t["test_loss"])), (e["loss"], t["test_loss"])
' "$TMP/train.json" "$TMP/eval.json"
expect_ok "eval (text)" eval --model "$MODEL" --data "$DATA"
check "eval prints the accuracy" grep -qE 'accuracy [0-9.]+' "$TMP/out"
expect_ok "eval --split train --batch 7 --limit 50" eval --model "$MODEL" --data "$DATA" --split train --batch 7 --limit 50 --json
check "eval --limit counts samples" "$PY" -c '
import json, sys; j = json.load(open(sys.argv[1])); assert j["samples"] == 50 and j["split"] == "train", j' "$TMP/out"

# ---- predict -----------------------------------------------------------------------------
expect_ok "predict (text)" predict --model "$MODEL" --data "$DATA"
cp "$TMP/out" "$TMP/pred.txt"
check "predict prints one line per test sample" test "$(wc -l <"$TMP/pred.txt")" -eq 200
check "predict lines are 'index predicted label class:prob'" "$PY" -c '
import sys
for i, line in enumerate(open(sys.argv[1])):
    f = line.split()
    assert len(f) == 4 and int(f[0]) == i and 0 <= int(f[1]) < 10 and 0 <= int(f[2]) < 10, line
    c, p = f[3].split(":"); assert int(c) == int(f[1]) and 0.0 < float(p) <= 1.0, line
' "$TMP/pred.txt"
check "predict's accuracy matches eval's" "$PY" -c '
import json, sys
rows = [l.split() for l in open(sys.argv[1])]
acc = sum(r[1] == r[2] for r in rows) / len(rows)
e = json.load(open(sys.argv[2]))
assert abs(acc - e["acc"]) < 1e-12, (acc, e["acc"])
' "$TMP/pred.txt" "$TMP/eval.json"
expect_ok "predict --json --top 3 --limit 20" predict --model "$MODEL" --data "$DATA" --json --top 3 --limit 20
check "predict --json is an array of 20 with sorted top-3 probabilities" "$PY" -c '
import json, sys
a = json.load(open(sys.argv[1]))
assert isinstance(a, list) and len(a) == 20
for i, r in enumerate(a):
    assert r["index"] == i and len(r["top"]) == 3 and r["top"][0]["class"] == r["predicted"]
    p = [t["prob"] for t in r["top"]]
    assert p == sorted(p, reverse=True) and 0.0 <= sum(p) <= 1.0 + 1e-5, p
    assert len({t["class"] for t in r["top"]}) == 3
' "$TMP/out"

# raw float32 input: the first 5 test images, as the IDX loader scales them
"$PY" - "$DATA" "$TMP/x.f32" <<'EOF'
import gzip, struct, sys
raw = gzip.open(sys.argv[1] + "/t10k-images-idx3-ubyte.gz").read()[16:16 + 5 * 784]
open(sys.argv[2], "wb").write(struct.pack("<%df" % len(raw), *[b / 255.0 for b in raw]))
EOF
expect_ok "predict --input FILE.f32" predict --model "$MODEL" --input "$TMP/x.f32"
check "predict --input gives one line per sample with '-' labels" test "$(grep -c ' - ' "$TMP/out")" -eq 5
check "predict --input agrees with --data" bash -c "diff <(awk '{print \$1, \$2}' '$TMP/out') <(head -5 '$TMP/pred.txt' | awk '{print \$1, \$2}')"
expect_ok "predict --input --json --limit 2" predict --model "$MODEL" --input "$TMP/x.f32" --json --limit 2
check "predict --input --json has null labels" "$PY" -c '
import json, sys; a = json.load(open(sys.argv[1])); assert len(a) == 2 and all(r["label"] is None for r in a), a' "$TMP/out"

# ---- bad input: usage errors (exit 2) ------------------------------------------------
expect_fail "no command" 2
expect_fail "unknown command" 2 frobnicate
expect_fail "unknown global option" 2 --frobnicate
expect_fail "unknown option" 2 train --arch mlp --data "$DATA" --out "$TMP/x.gguf" --frobnicate
expect_fail "unexpected argument" 2 eval stray --model "$MODEL" --data "$DATA"
expect_fail "non-numeric --epochs" 2 train --arch mlp --data "$DATA" --out "$TMP/x.gguf" --epochs abc
expect_fail "trailing junk in --epochs" 2 train --arch mlp --data "$DATA" --out "$TMP/x.gguf" --epochs 5x
expect_fail "empty --epochs=" 2 train --arch mlp --data "$DATA" --out "$TMP/x.gguf" --epochs=
expect_fail "zero --batch" 2 train --arch mlp --data "$DATA" --out "$TMP/x.gguf" --batch 0
expect_fail "negative --batch" 2 eval --model "$MODEL" --data "$DATA" --batch -4
expect_fail "huge --batch" 2 eval --model "$MODEL" --data "$DATA" --batch 99999999999999999999
expect_fail "--lr nan" 2 train --arch mlp --data "$DATA" --out "$TMP/x.gguf" --lr nan
expect_fail "--lr inf" 2 train --arch mlp --data "$DATA" --out "$TMP/x.gguf" --lr 1e999
expect_fail "--lr 0" 2 train --arch mlp --data "$DATA" --out "$TMP/x.gguf" --lr 0
expect_fail "--momentum 1" 2 train --arch mlp --data "$DATA" --out "$TMP/x.gguf" --momentum 1
expect_fail "bad --optim" 2 train --arch mlp --data "$DATA" --out "$TMP/x.gguf" --optim rmsprop
expect_fail "bad --seed" 2 train --arch mlp --data "$DATA" --out "$TMP/x.gguf" --seed -1
expect_fail "missing value at the end" 2 train --arch mlp --data "$DATA" --out
expect_fail "option where a value belongs" 2 train --arch mlp --data --out "$TMP/x.gguf"
expect_fail "value given to a flag" 2 eval --model "$MODEL" --data "$DATA" --json=yes
expect_fail "train without --data" 2 train --arch mlp --out "$TMP/x.gguf"
expect_fail "train without --out" 2 train --arch mlp --data "$DATA"
expect_fail "train with --arch and --init" 2 train --arch mlp --init "$MODEL" --data "$DATA" --out "$TMP/x.gguf"
expect_fail "train --freeze beyond the model" 2 train --arch mlp --data "$DATA" --out "$TMP/x.gguf" --freeze 4
expect_fail "eval without --model" 2 eval --data "$DATA"
expect_fail "info without a file" 2 info
expect_fail "info with two files" 2 info "$MODEL" "$MODEL"
expect_fail "predict without --data or --input" 2 predict --model "$MODEL"
expect_fail "predict with --data and --input" 2 predict --model "$MODEL" --data "$DATA" --input "$TMP/x.f32"
expect_fail "predict --top 0" 2 predict --model "$MODEL" --data "$DATA" --top 0
expect_fail "predict --top above the classes" 2 predict --model "$MODEL" --data "$DATA" --top 11
expect_fail "bad --split" 2 eval --model "$MODEL" --data "$DATA" --split validation

# ---- bad input: runtime errors (exit 1) ----------------------------------------------
expect_fail "nonexistent data directory" 1 train --arch mlp --data "$TMP/nope" --out "$TMP/x.gguf"
check "no model written after a failed run" test ! -e "$TMP/x.gguf"
expect_fail "bad spec" 1 train --arch "input 1x28x28; frobnicate 3" --data "$DATA" --out "$TMP/x.gguf"
expect_fail "unknown built-in" 1 train --arch nosuchnet --data "$DATA" --out "$TMP/x.gguf"
expect_fail "architecture that does not fit the data" 1 \
    train --arch "input 3x32x32; flatten; dense 10" --data "$DATA" --epochs 1 --out "$TMP/x.gguf"
expect_fail "too few classes for the labels" 1 \
    train --arch "input 1x28x28; flatten; dense 4" --data "$DATA" --epochs 1 --out "$TMP/x.gguf"
expect_fail "unwritable --out" 1 train --arch mlp --data "$DATA" --epochs 1 --limit 10 --out "$TMP/nodir/x.gguf"
expect_fail "nonexistent model" 1 eval --model "$TMP/nope.gguf" --data "$DATA"
expect_fail "nonexistent model (info)" 1 info "$TMP/nope.gguf"
expect_fail "a directory as the model" 1 info "$TMP"
: >"$TMP/empty.gguf"
expect_fail "empty model file" 1 info "$TMP/empty.gguf"
head -c 4096 /dev/urandom >"$TMP/noise.gguf"
expect_fail "random bytes as the model" 1 eval --model "$TMP/noise.gguf" --data "$DATA"
size=$(wc -c <"$MODEL")
head -c $((size / 2)) "$MODEL" >"$TMP/trunc.gguf"
expect_fail "truncated model" 1 eval --model "$TMP/trunc.gguf" --data "$DATA"

# flip one byte of a copy of the model at offset $2 into $1
flip() { "$PY" -c '
import sys
b = bytearray(open(sys.argv[1], "rb").read()); o = int(sys.argv[3]) % len(b); b[o] ^= 0x5A
open(sys.argv[2], "wb").write(bytes(b))' "$MODEL" "$1" "$2"; }
flip "$TMP/corrupt.gguf" $((size / 2))
expect_fail "corrupted model (byte flipped in the weights)" 1 eval --model "$TMP/corrupt.gguf" --data "$DATA"
flip "$TMP/corrupt.gguf" $((size - 1))
expect_fail "corrupted model (last byte flipped)" 1 info "$TMP/corrupt.gguf"
flip "$TMP/corrupt.gguf" 5
expect_fail "corrupted model (version byte flipped)" 1 predict --model "$TMP/corrupt.gguf" --data "$DATA"
# header and metadata region: any outcome but a crash
for off in 8 9 16 17 24 25 32 40 48 56 64 80 96 128 160 200 256 300 400 512 700 1000; do
    flip "$TMP/corrupt.gguf" "$off"
    expect_no_crash "model with byte $off flipped" info "$TMP/corrupt.gguf" --json
    if [ "$rc" -eq 0 ]; then check "info --json of byte-$off-flipped model parses" json_ok "$TMP/out"; fi
done

printf 'abc' >"$TMP/short.f32"
expect_fail "--input not a multiple of one sample" 1 predict --model "$MODEL" --input "$TMP/short.f32"
expect_fail "empty --input" 1 predict --model "$MODEL" --input "$TMP/empty.gguf"
expect_fail "nonexistent --input" 1 predict --model "$MODEL" --input "$TMP/nope.f32"

mkdir -p "$TMP/bad"
cp "$DATA"/train-* "$TMP/bad/"
head -c 1000 "$DATA/t10k-images-idx3-ubyte.gz" >"$TMP/bad/t10k-images-idx3-ubyte.gz"
cp "$DATA/t10k-labels-idx1-ubyte.gz" "$TMP/bad/"
expect_fail "truncated IDX test split" 1 eval --model "$MODEL" --data "$TMP/bad"
expect_fail "truncated IDX test split (train)" 1 train --arch mlp --data "$TMP/bad" --epochs 1 --out "$TMP/x.gguf"

tl_end
