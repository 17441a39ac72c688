#!/usr/bin/env bash
# `autlearn personalize --data FOLDER`: the device job on the user's own
# photos (an image folder). A cloud model pre-trained on an image folder of
# 9 classes (scripts/make-image-folder.py: JPEG and PNG, 20x20, color, from
# a synthetic IDX set) is personalized on a user's folder of other images
# that holds all 10 classes: the folders are matched to the model's classes
# by name, 'boot' (which the cloud never saw) becomes a new class, the
# model's stored preprocessing reads the images (eval of the personal model
# reproduces the job's score), --val holds images out, skipped files are
# reported, the job's switches run, checkpoints change nothing and a resume
# ends with the same model; and refusals: a model without preprocessing, a
# test folder with a class neither the model nor the training folder has,
# mixed folder and IDX, --val with --test.
#   bash tests/test_personalize_images.sh <path-to-autlearn> <source-dir>
set -u
. "$(dirname "$0")/lib.sh"
tl_init personalize_images "$@"

expect_err() { # DESC CODE PATTERN ARGS...: exits CODE with PATTERN on stderr, writes no --out
    local desc=$1 code=$2 pat=$3
    shift 3
    rm -f "$TMP/x.gguf"
    run "$@"
    if [ "$rc" -ne "$code" ]; then
        bad "$desc: exit $rc, expected $code"
    elif ! grep -q -- "$pat" "$TMP/err"; then
        bad "$desc: stderr lacks '$pat'"
    elif [ -e "$TMP/x.gguf" ]; then
        bad "$desc: wrote the output"
    else
        ok
    fi
}

IDX=$TMP/idx C=$TMP/cloud U=$TMP/user
mkdir -p "$IDX" "$TMP/dev"
"$PY" "$SRC/tests/make_idx.py" "$IDX" 800 400 >/dev/null || exit 1
# the cloud's folder: 30 training images per class, 'boot' held apart; the
# user's: the next images (--skip 30), 10 per class and 8 to test, all classes
if ! "$PY" "$SRC/scripts/make-image-folder.py" --data "$IDX" --out "$C" --size 20 --color --per-class 30 \
    --test-per-class 10 --hold-out boot >"$TMP/mk.log" 2>&1 ||
    ! "$PY" "$SRC/scripts/make-image-folder.py" --data "$IDX" --out "$U" --size 20 --color --per-class 10 \
        --test-per-class 8 --skip 30 >"$TMP/mk.log" 2>&1; then
    echo "test_personalize_images: make-image-folder.py failed (needs python3-pil, python3-numpy):" >&2
    cat "$TMP/mk.log" >&2
    exit 1
fi
check "the user's photos are not the cloud's" sh -c '! cmp -s "$1/train/bag/00000.jpg" "$2/train/bag/00000.jpg"' _ \
    "$C" "$U"
ARCH='input 3x16x16; conv 4 k=3 p=1; relu; maxpool k=2; flatten; dense 16; relu; dense 9'
expect_ok "pretrain on the cloud's folder" pretrain --data "$C/train" --test "$C/test" --arch "$ARCH" --epochs 10 \
    --out "$TMP/cloud.gguf"

# ---- the user's folder: known classes by name, 'boot' new ------------------------------------
P=(personalize --model "$TMP/cloud.gguf" --data "$U/train" --test "$U/test" --epochs 4 --recipe config)
expect_ok "personalize on an image folder" "${P[@]}" --out "$TMP/dev/p.gguf" --json
cp "$TMP/out" "$TMP/p.json"
check "the folder summaries on stderr" grep -q "user/train: 100 images in 10 classes (0 skipped" "$TMP/err"
check "only the personal model is written, owner-only" test "$(ls -A "$TMP/dev")" = p.gguf -a \
    "$(stat -c %a "$TMP/dev/p.gguf")" = 600
check "--json: an image folder, 'boot' new, old and new scored apart" "$PY" -c '
import json, sys
j = json.load(open(sys.argv[1]))
assert j["user"] is None and j["images"] is True and j["val"] is None, j
assert j["data"].endswith("/user/train") and j["test"].endswith("/user/test"), j
assert j["classes"] == 10 and j["new_classes"] == ["boot"], j
assert j["samples"] == 100 and j["test_samples"] == 80, j
for k in ("test_acc_before", "test_acc_after", "test_acc_old_before", "test_acc_old_after", "test_acc_new_after"):
    assert 0 <= j[k] <= 1, (k, j)
# before: the cloud cannot name boot (8 of 80 test images)
assert j["test_acc_before"] <= 0.9 + 1e-9 and j["test_acc_new_after"] > 0.3, j
assert j["test_acc_after"] > j["test_acc_before"], j
assert j["bytes_uploaded"] == 0 and j["cache"] and j["cache_hits"] > 0 and j["steps"] > 0, j
' "$TMP/p.json"
expect_ok "info --json of the personal model" info --json "$TMP/dev/p.gguf"
check "the personal model: 10 outputs, 'boot' last, the cloud's preprocessing" "$PY" -c '
import json, sys
j = json.load(open(sys.argv[1]))
assert j["output"] == [10] and len(j["classes"]) == 10 and j["classes"][-1] == "boot", j["classes"]
assert j["classes"][0] == "bag" and j["metadata"]["autlearn.image.size"] == "3x16x16", j["metadata"]
' "$TMP/out"
expect_ok "eval of the personal model on the user's test folder" eval --model "$TMP/dev/p.gguf" --data "$U/test" --json
check "eval reproduces the job's score" "$PY" -c '
import json, sys
p, e = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert e["samples"] == 80 and abs(e["acc"] - p["test_acc_after"]) < 1e-12, (e, p["test_acc_after"])
' "$TMP/p.json" "$TMP/out"
run "${P[@]}" --out "$TMP/q.gguf"
check "the text line names the new class and both scores" grep -q \
    "own data: 100 images, 10 classes (new: boot); test accuracy .* (old classes .*, new classes" "$TMP/out"
check "the same job gives the same model" cmp -s "$TMP/dev/p.gguf" "$TMP/q.gguf"

# ---- --val, the default split, skipped files -------------------------------------------------
expect_ok "--val 0.3" personalize --model "$TMP/cloud.gguf" --data "$U/train" --val 0.3 --epochs 1 \
    --out "$TMP/v.gguf" --json
check "--val 0.3: 3 of each class's 10 held out" "$PY" -c '
import json, sys
j = json.load(open(sys.argv[1])); assert j["val"] == 0.3 and j["test"].endswith("/user/train"), j
assert j["test_samples"] == 30 and j["samples"] == 70 and j["new_classes"] == ["boot"], j' "$TMP/out"
B=$TMP/bad
cp -r "$U/train" "$B"
head -c 200 "$U/train/coat/00000.jpg" >"$B/coat/cut.jpg"
echo "notes" >"$B/coat/notes.txt"
expect_ok "a folder with a bad file; no --test: --val 0.1" personalize --model "$TMP/cloud.gguf" --data "$B" \
    --epochs 1 --out "$TMP/b.gguf" --json
check "the bad file skipped and named" grep -q "100 images in 10 classes (1 skipped, 1 other entries ignored)" \
    "$TMP/err" && grep -q "warning: .*cut.jpg" "$TMP/err"
check "the default split holds out one image per class" "$PY" -c '
import json, sys
j = json.load(open(sys.argv[1])); assert j["val"] == 0.1 and j["test_samples"] == 10 and j["samples"] == 90, j
' "$TMP/out"

# ---- the job's switches ----------------------------------------------------------------------
expect_ok "--aug-variants, --predict-first, --mem-budget, --freeze, --l2sp, --label-prior" "${P[@]}" \
    --out "$TMP/s.gguf" --aug-variants 2 --predict-first --mem-budget 64 --freeze 4 --l2sp 0.5 --label-prior 2 --json
check "--json: the switches took" "$PY" -c '
import json, sys
j = json.load(open(sys.argv[1]))
assert j["freeze"] == 4 and j["mem_budget_mb"] == 64 and j["predict_cpu_seconds"] is not None, j
assert j["cache_hits"] > 0 and j["new_classes"] == ["boot"], j' "$TMP/out"
expect_ok "--no-cache" "${P[@]}" --out "$TMP/nc.gguf" --no-cache
check "--no-cache: the same model" cmp -s "$TMP/dev/p.gguf" "$TMP/nc.gguf"
expect_ok "--train-rows 1: the new row only" "${P[@]}" --train-rows 1 --out "$TMP/rows.gguf" --json
check "--train-rows: the freeze point is the output layer" "$PY" -c '
import json, sys
j = json.load(open(sys.argv[1])); assert j["freeze"] == 6 and j["new_classes"] == ["boot"], j' "$TMP/out"

# ---- checkpoints and resume ------------------------------------------------------------------
R=("${P[@]}" --epochs 40 --batch 4)
expect_ok "reference run" "${R[@]}" --out "$TMP/ref.gguf"
expect_ok "with checkpoints" "${R[@]}" --out "$TMP/ck.gguf" --checkpoint "$TMP/ck.ckpt" --checkpoint-every 3
check "checkpoints do not change the model" cmp -s "$TMP/ref.gguf" "$TMP/ck.gguf"
CK=$TMP/k.ckpt
"$BIN" "${R[@]}" --out "$TMP/k.gguf" --checkpoint "$CK" --checkpoint-every 2 >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 400); do [ -e "$CK" ] && break; sleep 0.005; done
kill -9 "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
expect_ok "resume" "${R[@]}" --out "$TMP/k.gguf" --checkpoint "$CK" --resume --json
check "the resumed job says where it went on from" "$PY" -c '
import json, sys
j = json.load(open(sys.argv[1])); assert j["resumed_at_step"] is None or j["resumed_at_step"] > 0, j
print("test_personalize_images: resumed at step", j["resumed_at_step"], "of", j["steps"])' "$TMP/out"
check "the resumed model equals the uninterrupted one" cmp -s "$TMP/ref.gguf" "$TMP/k.gguf"
expect_err "a resume on other images is refused" 1 "on other training data" "${R[@]:0:5}" --recipe config --val 0.3 --epochs 40 --batch 4 \
    --out "$TMP/x.gguf" --checkpoint "$CK" --resume

# ---- refusals --------------------------------------------------------------------------------
expect_ok "a model without image preprocessing (pre-trained on IDX)" pretrain --data "$IDX" \
    --arch 'input 1x28x28; flatten; dense 10' --epochs 1 --out "$TMP/plain.gguf"
expect_err "a model without preprocessing is refused" 1 "holds no image preprocessing" \
    personalize --model "$TMP/plain.gguf" --data "$U/train" --test "$U/test" --out "$TMP/x.gguf"
check "... saying what to do" grep -q "input-size" "$TMP/err"
mkdir -p "$TMP/noboot"
cp -r "$U/train/bag" "$U/train/coat" "$U/train/tshirt" "$TMP/noboot/"
expect_err "a test folder with a class nobody knows is refused" 1 "class folder 'boot' is not a class of" \
    personalize --model "$TMP/cloud.gguf" --data "$TMP/noboot" --test "$U/test" --out "$TMP/x.gguf"
expect_err "--val with --test" 2 "either --test or --val" "${P[@]}" --val 0.2 --out "$TMP/x.gguf"
expect_err "--test an IDX directory with a folder" 2 "must be one too" \
    personalize --model "$TMP/cloud.gguf" --data "$U/train" --test "$IDX" --out "$TMP/x.gguf"
expect_err "--val on an IDX directory" 2 "for image folders" \
    personalize --model "$TMP/plain.gguf" --data "$IDX" --val 0.2 --out "$TMP/x.gguf"
expect_err "--val with --user" 2 "for your own data" \
    personalize --model "$TMP/plain.gguf" --data "$IDX" --user 0 --val 0.2 --out "$TMP/x.gguf"
tl_end
