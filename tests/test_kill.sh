#!/usr/bin/env bash
# Crash safety of personalization: a real `autlearn personalize` with
# --checkpoint/--checkpoint-every/--resume is killed with SIGKILL at 50+
# random moments (while loading, training, writing a checkpoint, writing the
# model) and started again each time with the same command line. After every
# kill:
#   - the checkpoint file, when there is one, loads and verifies (`autlearn
#     info`), and it never goes backwards;
#   - progress lost is at most one interval: the checkpoint holds at least
#     the last step the killed process reported as written;
#   - at most one temporary file per target is left (the one being written
#     at the moment of the kill), and the next save removes it;
#   - the personal model, when it exists, is complete: byte-identical to the
#     one of an uninterrupted run with the same seed.
# At the end the model is byte-identical to the uninterrupted run's and no
# temporary file is left.
#   bash tests/test_kill.sh <path-to-autlearn> <source-dir>
set -u
BIN=$(readlink -f "${1:?usage: test_kill.sh <autlearn> <source-dir>}")
SRC=${2:?usage: test_kill.sh <autlearn> <source-dir>}
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
# tmpfs when there is one: the same write-fsync-rename sequence without the
# disk's fsync latency (tens of ms under load), so the test stays fast
BASE=${TMPDIR:-}
[ -z "$BASE" ] && [ -d /dev/shm ] && [ -w /dev/shm ] && BASE=/dev/shm
TMP=$(mktemp -d "${BASE:-/tmp}/autlearn-kill.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
export AL_THREADS=1
KILLS=${AL_KILLS:-55}
SEED=${AL_KILL_SEED:-$$}
RANDOM=$SEED
pass=0
fail=0
check() {
    local desc=$1
    shift
    if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $desc" >&2; fi
}
now_ms() { echo $(($(date +%s%N) / 1000000)); }

DATA=$TMP/data
mkdir -p "$DATA" "$TMP/dev"
"$PY" "$SRC/tests/make_idx.py" "$DATA" 2000 200 || { echo "cannot make data" >&2; exit 1; }
# the cloud model: a quick start, its accuracy does not matter here
ARCH="input 1x28x28; conv 8 k=3 p=1; relu; maxpool k=2; conv 8 k=3 p=1; relu; maxpool k=2; flatten; dense 16; relu; dense 10"
"$BIN" train --data "$DATA" --arch "$ARCH" --epochs 1 --limit 200 --quiet --out "$TMP/cloud.gguf" >/dev/null 2>"$TMP/err" ||
    { echo "training the cloud model failed: $(cat "$TMP/err")" >&2; exit 1; }
# The device: the first conv block frozen (its outputs cached), the second
# conv and the head trained; 100 images, batch 10, 30 epochs: 300 steps, two
# augmented variants per image.
P=(personalize --model "$TMP/cloud.gguf" --data "$DATA" --user 1 --users 2 --per-user 100 --test-per-user 20
   --freeze 3 --epochs 30 --batch 10 --aug-variants 2)
TOTAL=300

t0=$(now_ms)
"$BIN" "${P[@]}" --out "$TMP/ref.gguf" >/dev/null 2>"$TMP/err" ||
    { echo "FAIL: the uninterrupted run: $(cat "$TMP/err")" >&2; exit 1; }
T_REF=$(($(now_ms) - t0))
# the same run with checkpoints, uninterrupted
t0=$(now_ms)
"$BIN" "${P[@]}" --out "$TMP/full.gguf" --checkpoint "$TMP/full.ckpt" --checkpoint-every 2 >/dev/null 2>"$TMP/err"
check "the checkpointed run succeeds" test $? -eq 0
T_FULL=$(($(now_ms) - t0))
check "checkpoints do not change the result" cmp -s "$TMP/ref.gguf" "$TMP/full.gguf"
# start-up alone: a resume from the finished checkpoint trains nothing
t0=$(now_ms)
"$BIN" "${P[@]}" --out "$TMP/full.gguf" --checkpoint "$TMP/full.ckpt" --resume >/dev/null 2>"$TMP/err"
check "a resume from a finished checkpoint succeeds" test $? -eq 0
T_START=$(($(now_ms) - t0))
check "... and writes the same model" cmp -s "$TMP/ref.gguf" "$TMP/full.gguf"
STEP_US=$(((T_FULL - T_START) * 1000 / TOTAL + 1))
# Kill moments: uniform in [0, WINDOW): the start-up (loading, the user
# split, the first evaluation) and about 20 steps, so that most attempts die
# before the end and many between checkpoints. The window adapts to the
# machine's speed as it goes (sanitizers, load): it shrinks after an attempt
# that got far and grows after one that died before its first checkpoint.
WINDOW=$((T_START + 20 * STEP_US / 1000 + 5))
echo "test_kill: seed $SEED, $KILLS kills in a window of $WINDOW ms (start-up $T_START ms, a step with checkpoints $STEP_US us)"

CK=$TMP/dev/p.ckpt
OUT=$TMP/dev/p.gguf
last_ck=-1      # steps in the checkpoint after the previous kill
mid_training=0  # kills between two checkpoints of one process
finished=0      # attempts that completed before their kill
bad=0
lives=0        # times the job ran to its end and started over
for i in $(seq 1 "$KILLS"); do
    # A finished job (the checkpoint at the last step; its model was
    # compared with the reference below) starts over from nothing, so that
    # kills keep landing in training however fast the steps are.
    if [ "$last_ck" -ge "$TOTAL" ]; then
        rm -f "$CK" "$OUT"
        last_ck=-1
        lives=$((lives + 1))
    fi
    every=$((1 + RANDOM % 3))
    delay=$((RANDOM % WINDOW))
    : >"$TMP/err.$i"
    "$BIN" "${P[@]}" --out "$OUT" --checkpoint "$CK" --checkpoint-every "$every" --resume --verbose \
        >"$TMP/out" 2>"$TMP/err.$i" &
    pid=$!
    sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    rc=$?
    if [ "$rc" -eq 0 ]; then
        finished=$((finished + 1))
    elif [ "$rc" -ne 137 ]; then
        echo "attempt $i exited with $rc: $(tail -2 "$TMP/err.$i")" >&2
        bad=$((bad + 1))
    fi
    # the last checkpoint this process reported as written
    wrote=$(sed -n 's/.*checkpoint .*: step \([0-9]*\) written.*/\1/p' "$TMP/err.$i" | tail -1)
    [ -n "$wrote" ] && [ "$rc" -ne 0 ] && [ "$wrote" -lt "$TOTAL" ] && mid_training=$((mid_training + 1))
    before=$last_ck
    if [ -e "$CK" ]; then
        if ! "$BIN" info "$CK" --json >"$TMP/info.json" 2>"$TMP/info.err"; then
            echo "after kill $i the checkpoint does not load: $(cat "$TMP/info.err")" >&2
            bad=$((bad + 1))
            break
        fi
        steps=$(sed -n 's/.*"steps_done": *\([0-9]*\).*/\1/p' "$TMP/info.json")
        if [ "$steps" -lt "$last_ck" ] || { [ -n "$wrote" ] && [ "$steps" -lt "$wrote" ]; }; then
            echo "after kill $i the checkpoint holds step $steps; before it: $last_ck, written by the killed run: ${wrote:-none} (interval $every)" >&2
            bad=$((bad + 1))
        fi
        last_ck=$steps
        [ "$(stat -c %a "$CK")" = 600 ] || { echo "checkpoint mode $(stat -c %a "$CK")" >&2; bad=$((bad + 1)); }
    elif [ -n "$wrote" ]; then
        echo "after kill $i there is no checkpoint although step $wrote was written" >&2
        bad=$((bad + 1))
    fi
    ntmp_ck=$(find "$TMP/dev" -name 'p.ckpt.tmp.*' | wc -l)
    ntmp_out=$(find "$TMP/dev" -name 'p.gguf.tmp.*' | wc -l)
    if [ "$ntmp_ck" -gt 1 ] || [ "$ntmp_out" -gt 1 ]; then
        echo "after kill $i: $ntmp_ck checkpoint and $ntmp_out model temporary files" >&2
        bad=$((bad + 1))
    fi
    others=$(find "$TMP/dev" -type f ! -name 'p.ckpt' ! -name 'p.gguf' ! -name 'p.ckpt.tmp.*' ! -name 'p.gguf.tmp.*' | wc -l)
    [ "$others" -eq 0 ] || { echo "after kill $i: unexpected files in the output directory" >&2; bad=$((bad + 1)); }
    if [ -e "$OUT" ] && ! cmp -s "$OUT" "$TMP/ref.gguf"; then
        echo "after kill $i the personal model differs from the uninterrupted run's" >&2
        bad=$((bad + 1))
    fi
    [ -n "${AL_KILL_TRACE:-}" ] && echo "kill $i: window $WINDOW delay $delay every $every rc $rc wrote ${wrote:-none} checkpoint $before -> $last_ck" >&2
    if [ "$rc" -eq 0 ] || [ $((last_ck - before)) -gt 5 ]; then
        WINDOW=$((WINDOW * 3 / 4 + 1))
    elif [ -z "$wrote" ]; then
        WINDOW=$((WINDOW * 5 / 4 + 2))
    fi
done
check "every kill left a loadable checkpoint, no lost interval, no half-written file" test "$bad" -eq 0
check "kills landed between checkpoints during training ($mid_training of $KILLS)" test "$mid_training" -ge 10

"$BIN" "${P[@]}" --out "$OUT" --checkpoint "$CK" --checkpoint-every 2 --resume --json >"$TMP/final.json" 2>"$TMP/err"
check "the last resume completes" test $? -eq 0
check "the final model is byte-identical to the uninterrupted run's" cmp -s "$OUT" "$TMP/ref.gguf"
check "no temporary file is left" test -z "$(find "$TMP/dev" -name '*.tmp.*')"
check "the checkpoint records the finished run" "$PY" -c '
import json, subprocess, sys
j = json.loads(subprocess.run([sys.argv[1], "info", sys.argv[2], "--json"], capture_output=True, check=True).stdout)
assert j["kind"] == "checkpoint" and j["steps_done"] == int(sys.argv[3]) and not j["in_run"], j' "$BIN" "$CK" "$TOTAL"
# the last kill may have landed before or after the job finished: the final
# run resumes from whatever step the checkpoint held then
check "--json reports the resume" "$PY" -c '
import json, sys; j = json.load(open(sys.argv[1])); ck = int(sys.argv[3])
assert j["resumed_at_step"] == (ck if ck >= 0 else None) and j["steps"] == int(sys.argv[2]), j' \
    "$TMP/final.json" "$TOTAL" "$last_ck"
echo "test_kill: $finished of $KILLS attempts finished before their kill, $mid_training killed between checkpoints, $lives restarts after a finished job"

# refusals: other options or data with the same checkpoint, and a damaged checkpoint
# (0.02: any rate but the default)
"$BIN" "${P[@]}" --lr 0.02 --out "$TMP/x.gguf" --checkpoint "$CK" --resume >/dev/null 2>"$TMP/err"
check "resuming with another learning rate is refused" test $? -eq 1
check "... saying which option differs" grep -q "lr = " "$TMP/err"
"$BIN" "${P[@]}" --user 0 --out "$TMP/x.gguf" --checkpoint "$CK" --resume >/dev/null 2>"$TMP/err"
check "resuming on another user's data is refused" test $? -eq 1
check "no output after a refusal" test ! -e "$TMP/x.gguf"
cp "$CK" "$TMP/bad.ckpt"
# a flipped bit in the weights: the structure parses, the CRC does not match
printf '\x01' | dd of="$TMP/bad.ckpt" bs=1 seek=$(($(stat -c %s "$CK") - 9)) conv=notrunc 2>/dev/null
"$BIN" info "$TMP/bad.ckpt" >/dev/null 2>"$TMP/err"
check "a damaged checkpoint does not load" test $? -eq 1
"$BIN" "${P[@]}" --out "$TMP/x.gguf" --checkpoint "$TMP/bad.ckpt" --resume >/dev/null 2>"$TMP/err"
check "resuming from a damaged checkpoint fails cleanly" test $? -eq 1
check "... with the reason" grep -qi "checksum\|crc" "$TMP/err"
"$BIN" "${P[@]}" --out "$TMP/x.gguf" --resume >/dev/null 2>"$TMP/err"
check "--resume without --checkpoint is a usage error" test $? -eq 2

echo "test_kill: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
