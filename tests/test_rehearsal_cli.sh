#!/usr/bin/env bash
# Rehearsal through the CLI: `pretrain --exemplars E --exemplars-out DIR`
# writes E public images of each of the cloud's classes as an IDX pair
# (read back: the count, one label per class E times, pixels that are
# public images), and `personalize --rehearsal DIR` mixes them in where the
# user's data hold a class the cloud never saw (a cloud of classes 0-7, a
# user with 0-9): the job reports them and its model differs from the one
# without; with no new class (a user of 0-7) the model is the same byte for
# byte. Refusals: --exemplars without --exemplars-out, a missing directory,
# exemplars whose labels the model does not have.
#   bash tests/test_rehearsal_cli.sh <path-to-autlearn> <source-dir>
set -u
. "$(dirname "$0")/lib.sh"
tl_init rehearsal_cli "$@"

OLD=$TMP/old NEW=$TMP/new SEEN=$TMP/seen
mkdir -p "$OLD" "$NEW" "$SEEN"
"$PY" "$SRC/tests/make_idx.py" "$OLD" 600 100 0-7 >/dev/null || exit 1
"$PY" "$SRC/tests/make_idx.py" "$NEW" 300 100 >/dev/null || exit 1
"$PY" "$SRC/tests/make_idx.py" "$SEEN" 300 100 0-7 >/dev/null || exit 1
ARCH='input 1x28x28; flatten; dense 16; relu; dense 8'

expect_ok "pretrain with exemplars" pretrain --data "$OLD" --out "$TMP/cloud.gguf" --arch "$ARCH" --epochs 2 \
    --exemplars 5 --exemplars-out "$TMP/ex"
check "the exemplars: 40 images, 5 of each of the 8 classes, each one of the data's" "$PY" - "$TMP/ex" "$OLD" <<'PYEOF'
import struct, sys
ex, old = sys.argv[1], sys.argv[2]
def read(d):
    im = open(d + "/train-images-idx3-ubyte", "rb").read()
    lb = open(d + "/train-labels-idx1-ubyte", "rb").read()
    m, n, h, w = struct.unpack(">IIII", im[:16])
    assert m == 0x803 and (h, w) == (28, 28), (m, h, w)
    assert struct.unpack(">II", lb[:8]) == (0x801, n)
    return [(im[16 + i * 784:16 + (i + 1) * 784], lb[8 + i]) for i in range(n)]
e, o = read(ex), set(read(old))
assert len(e) == 40, len(e)
assert [y for _, y in e] == [k for k in range(8) for _ in range(5)]
assert all(s in o for s in e)
assert len(set(x for x, _ in e)) == 40
PYEOF

job() { # OUT DATA [ARGS...]
    local out=$1 data=$2
    shift 2
    run personalize --model "$TMP/cloud.gguf" --data "$data" --out "$out" --recipe config --freeze 0 --epochs 2 \
        --json "$@"
}
job "$TMP/p.gguf" "$NEW" --rehearsal "$TMP/ex"
check "new classes with exemplars: ran" [ "$rc" -eq 0 ]
check "new classes with exemplars: 40 reported" grep -q '"rehearsal_samples": 40' "$TMP/out"
job "$TMP/p0.gguf" "$NEW"
check "new classes without exemplars: ran, none reported" grep -q '"rehearsal_samples": 0' "$TMP/out"
check "the exemplars change the new-class model" bash -c "! cmp -s '$TMP/p.gguf' '$TMP/p0.gguf'"
job "$TMP/s.gguf" "$SEEN" --rehearsal "$TMP/ex"
check "no new class: ran" [ "$rc" -eq 0 ]
job "$TMP/s0.gguf" "$SEEN"
check "no new class: the exemplars change nothing" cmp -s "$TMP/s.gguf" "$TMP/s0.gguf"

TL_MSG="autlearn pretrain"
expect_fail "--exemplars alone" 2 pretrain --data "$OLD" --out "$TMP/x.gguf" --exemplars 5
TL_MSG="autlearn personalize"
expect_fail "a missing exemplar directory" 1 personalize --model "$TMP/cloud.gguf" --data "$NEW" --out "$TMP/x.gguf" \
    --rehearsal "$TMP/nowhere"
# exemplars of 10 classes for a model of 8
expect_ok "pretrain on 10 classes" pretrain --data "$NEW" --out "$TMP/c10.gguf" --arch 'input 1x28x28; flatten; dense 10' \
    --epochs 1 --exemplars 2 --exemplars-out "$TMP/ex10"
expect_fail "exemplars of classes the model lacks" 1 personalize --model "$TMP/cloud.gguf" --data "$NEW" \
    --out "$TMP/x.gguf" --rehearsal "$TMP/ex10"
check "... says so" grep -q "the model has 8 classes" "$TMP/err"
tl_end
