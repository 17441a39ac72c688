#!/usr/bin/env bash
# Image folders in the CLI (docs/CLI.md, "Image folders").
#   bash tests/test_images.sh <path-to-autlearn> [<source-dir>]
# Writes a synthetic IDX set (tests/make_idx.py), turns it into an image
# folder with scripts/make-image-folder.py (JPEG and PNG, 20x20, color, one
# class held apart), then: train with --test and with --val, info (text and
# JSON show the preprocessing and the classes), eval reproduces train's test
# accuracy from the file, predict, pretrain, a gray model on color images,
# classes matched by name; and bad input: a class the model does not know,
# one class, a corrupt / truncated / non-image / huge-header file, an empty
# class, a symlink loop, a folder without a usable image, image options on
# an IDX directory. Exits 1 if any check fails.
set -u

. "$(dirname "$0")/lib.sh"
tl_init images "$@"

json_ok() { "$PY" -c 'import json,sys; json.load(open(sys.argv[1]))' "$1" 2>/dev/null; }
expect_err() { # DESC CODE PATTERN ARGS...: exits CODE with PATTERN on stderr
    local desc=$1 code=$2 pat=$3
    shift 3
    run "$@"
    if [ "$rc" -ne "$code" ]; then
        bad "$desc: exit $rc, expected $code"
    elif ! grep -q -- "$pat" "$TMP/err"; then
        bad "$desc: stderr lacks '$pat'"
    elif sanitizer_report; then
        bad "$desc: sanitizer report"
    else
        ok
    fi
}

if ! "$BIN" info --help >/dev/null 2>&1; then
    echo "test_images: the binary does not run" >&2
    exit 1
fi
IDX=$TMP/idx
mkdir -p "$IDX"
"$PY" "$SRC/tests/make_idx.py" "$IDX" 400 100 >/dev/null
F=$TMP/folder
if ! "$PY" "$SRC/scripts/make-image-folder.py" --data "$IDX" --out "$F" --size 20 --color --per-class 12 \
    --test-per-class 6 --hold-out boot >"$TMP/mk.log" 2>&1; then
    echo "test_images: make-image-folder.py failed (needs python3-pil, python3-numpy):" >&2
    cat "$TMP/mk.log" >&2
    exit 1
fi
check "make-image-folder: 9 training classes" [ "$(ls "$F/train" | wc -l)" -eq 9 ]
check "make-image-folder: the held-out class apart" [ -d "$F/new/train/boot" ] && [ ! -d "$F/train/boot" ]
check "make-image-folder: JPEG and PNG" [ -f "$F/train/bag/00000.jpg" ] && [ -f "$F/train/bag/00001.png" ]

ARCH='input 3x16x16; conv 4 k=3 p=1; relu; maxpool k=2; flatten; dense 9'
expect_ok "train on an image folder with --test" train --arch "$ARCH" --data "$F/train" --test "$F/test" \
    --epochs 2 --out "$TMP/m.gguf" --resize crop --mean 0.5 --std 0.5,0.4,0.3 --quiet
check "train: the folder summary" grep -q "108 images in 9 classes" "$TMP/err"
train_acc=$(sed -n 's/^test accuracy \([0-9.]*\) .*/\1/p' "$TMP/out")
expect_ok "info" info "$TMP/m.gguf"
check "info: the preprocessing" grep -q "images:  3x16x16, resize crop, scale 0.00392156886, mean 0.5,0.5,0.5, std 0.5,0.400000006,0.300000012" "$TMP/out"
check "info: the classes in label order" grep -q "classes: 9: bag, coat, dress, pullover, sandal, shirt, sneaker, trouser, tshirt" "$TMP/out"
expect_ok "info --json" info --json "$TMP/m.gguf"
check "info --json: parses, has image and classes" "$PY" -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["image"]["channels"] == 3 and d["image"]["resize"] == "crop" and d["image"]["std"][2] > 0.29
assert d["classes"][0] == "bag" and len(d["classes"]) == 9
assert d["metadata"]["autlearn.image.size"] == "3x16x16"' "$TMP/out"
expect_ok "eval on the test folder" eval --model "$TMP/m.gguf" --data "$F/test"
eval_acc=$(sed -n 's/.*accuracy \([0-9.]*\)$/\1/p' "$TMP/out")
check "eval reproduces train's test accuracy ($train_acc = $eval_acc)" [ -n "$train_acc" ] && [ "$train_acc" = "$eval_acc" ]
expect_ok "eval --json" eval --model "$TMP/m.gguf" --data "$F/test" --json
check "eval --json: split folder, 54 samples" "$PY" -c '
import json, sys
d = json.load(open(sys.argv[1])); assert d["split"] == "folder" and d["samples"] == 54' "$TMP/out"
expect_ok "predict on the test folder" predict --model "$TMP/m.gguf" --data "$F/test" --json --top 2
check "predict --json parses" json_ok "$TMP/out"
expect_err "eval: a class the model does not know" 1 "not one of the model's 9 classes" \
    eval --model "$TMP/m.gguf" --data "$F/new/test"

# classes matched by name: a test folder with the classes in another set
mkdir -p "$TMP/sub"
cp -r "$F/test/trouser" "$F/test/bag" "$TMP/sub/"
expect_ok "eval on two of the classes" eval --model "$TMP/m.gguf" --data "$TMP/sub" --json
check "eval: 12 samples" "$PY" -c 'import json,sys; assert json.load(open(sys.argv[1]))["samples"] == 12' "$TMP/out"

expect_ok "train with --val" train --arch "$ARCH" --data "$F/train" --val 0.25 --epochs 1 --out "$TMP/v.gguf" --json
check "train --val: 27 held out" "$PY" -c '
import json, sys
d = json.load(open(sys.argv[1])); assert d["test_size"] == 27 and d["train_size"] == 81, d' "$TMP/out"
expect_ok "train --init from the image model" train --init "$TMP/m.gguf" --data "$F/train" --test "$F/test" \
    --epochs 1 --out "$TMP/m2.gguf" --quiet
expect_ok "info of the fine-tuned model" info "$TMP/m2.gguf"
check "train --init keeps the stored preprocessing" grep -q "resize crop" "$TMP/out"
expect_ok "a gray model on color images" train --arch 'input 1x12x12; flatten; dense 9' --data "$F/train" \
    --epochs 1 --out "$TMP/g.gguf" --quiet
expect_err "train: outputs differ from the classes" 1 "has 9 classes but the model's output has 10" \
    train --arch 'input 3x16x16; flatten; dense 10' --data "$F/train" --epochs 1 --out "$TMP/x.gguf"
expect_err "train: a model input that is not an image" 1 "is not an image" \
    train --arch 'input 30; dense 9' --data "$F/train" --epochs 1 --out "$TMP/x.gguf"
expect_ok "pretrain on an image folder" pretrain --arch "$ARCH" --data "$F/train" --test "$F/test" --epochs 1 \
    --out "$TMP/c.gguf" --json
check "pretrain --json: 108 public images" "$PY" -c '
import json, sys
d = json.load(open(sys.argv[1])); assert d["public_samples"] == 108 and d["test_size"] == 54' "$TMP/out"
expect_ok "info of the cloud model" info "$TMP/c.gguf"
check "pretrain writes the classes" grep -q "classes: 9: bag," "$TMP/out"
expect_err "image options on an IDX directory" 2 "are for image folders" \
    train --arch "$ARCH" --data "$IDX" --val 0.2 --out "$TMP/x.gguf"

# ---- bad input -----------------------------------------------------------------------
B=$TMP/bad
mkdir -p "$B/a" "$B/b" "$B/empty"
cp "$F/train/bag/00000.jpg" "$F/train/bag/00001.png" "$B/a/"
cp "$F/train/coat/00000.jpg" "$F/train/coat/00001.png" "$B/b/"
head -c 300 "$F/train/coat/00002.jpg" >"$B/b/truncated.jpg"
echo "not an image" >"$B/b/notes.png"
echo "ignored" >"$B/b/readme.txt"
ln -s loop.jpg "$B/b/loop.jpg"
"$PY" - "$B/a/huge.png" <<'EOF'
import struct, sys, zlib
ihdr = struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0)
chunk = struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
open(sys.argv[1], "wb").write(b"\x89PNG\r\n\x1a\n" + chunk)
EOF
expect_ok "train on a folder with bad files" train --arch 'input 3x16x16; flatten; dense 3' --data "$B" \
    --val 0.5 --epochs 1 --out "$TMP/b.gguf"
check "bad files: 4 skipped, reported" grep -q "4 images in 3 classes (4 skipped" "$TMP/err"
check "bad files: the truncated JPEG named" grep -q "warning: .*truncated.jpg" "$TMP/err"
check "bad files: the huge header named" grep -q "warning: .*huge.png.*100000x100000.*over the limit" "$TMP/err"
check "bad files: the symlink loop named" grep -q "warning: .*loop.jpg" "$TMP/err"
check "bad files: the non-image named" grep -q "warning: .*notes.png: not a JPEG or PNG" "$TMP/err"
check "bad files: the empty class named" grep -q "warning: .*empty: no usable image" "$TMP/err"
mkdir -p "$TMP/one/only"
cp "$F/train/bag/00000.jpg" "$TMP/one/only/"
expect_err "one class" 1 "at least 2 are needed" train --arch "$ARCH" --data "$TMP/one" --out "$TMP/x.gguf"
mkdir -p "$TMP/none/a" "$TMP/none/b"
echo x >"$TMP/none/a/x.jpg"
expect_err "no usable image" 1 "no usable" train --arch "$ARCH" --data "$TMP/none" --out "$TMP/x.gguf"
check "nothing written on failure" [ ! -e "$TMP/x.gguf" ]

tl_end
