#!/usr/bin/env bash
# Session 21: `autlearn predict` on a model frozen as imported (node 0), a
# plan for a training step (OLD: a build of dd2cb79) against the inference
# plan (NEW: al_model_plan_infer). MobileNetV2-0.5 from the shared ONNX
# fixture (PyTorch 2.11's dynamo export), 256 random inputs at 3x96x96, at
# batches 32 and 256 on 1 and 2 threads; farm-bench times each whole
# process, OLD and NEW in turn (A B A B ...), and gives the ratio pair by pair.
# The outputs of the two builds are compared byte for byte first.
# usage: ab.sh OLD_AUTLEARN NEW_AUTLEARN [RUNS]
set -eu
OLD=$(readlink -f "$1"); NEW=$(readlink -f "$2"); N=${3:-8}
here=$(cd "$(dirname "$0")" && pwd)
fix=$here/../../../../shared/fixtures/onnx/mnv2_050.dynamo.onnx
w=$(mktemp -d); trap 'rm -rf "$w"' EXIT
cd "$w"
"$NEW" import "$fix" -o mnv2.gguf >/dev/null
python3 -c "
import array, random
random.seed(0)
open('x.f32', 'wb').write(array.array('f', (random.random() for _ in range(256 * 3 * 96 * 96))).tobytes())"
for b in 32 256; do
  "$OLD" predict --model mnv2.gguf --input x.f32 --batch $b --top 3 > old.txt
  "$NEW" predict --model mnv2.gguf --input x.f32 --batch $b --top 3 > new.txt
  cmp old.txt new.txt && echo "batch $b: the same predictions (256 lines, top 3)"
done
for t in 1 2; do for b in 32 256; do
  echo "== threads $t, batch $b (A: new, B: old)"
  farm-bench -n "$N" --timeout 600 \
    --vs "$OLD predict --model mnv2.gguf --input x.f32 --batch $b --threads $t" \
    -- "$NEW" predict --model mnv2.gguf --input x.f32 --batch $b --threads $t 2>&1 | grep -v '^note'
done; done
