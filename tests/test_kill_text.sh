#!/usr/bin/env bash
# Crash safety of text personalization (`autlearn personalize --scenario
# text` with --checkpoint/--checkpoint-every/--resume), the twin of
# test_kill.sh for the input-method path: a tiny synthetic corpus and LM are
# made here, then the personalization is killed with SIGKILL at random
# moments and started again with the same command line, for two freeze
# points:
#   - at the output layer: the LSTM is frozen, its states come from the
#     cache the predict pass fills (refilled after every restart);
#   - after the embedding: the LSTM is trained by TBPTT with its state
#     carried from batch to batch, so a checkpoint inside an epoch must hold
#     the carried h and c rows.
# After every kill: the checkpoint, when there is one, loads and verifies
# (`autlearn info`) and never goes backwards, it holds at least the last
# step the killed process reported as written, at most one temporary file
# per target is left, and the personal model, when it exists, is
# byte-identical to an uninterrupted run's. At the end the model is
# byte-identical to the uninterrupted run's and no temporary file is left.
#   bash tests/test_kill_text.sh <path-to-autlearn> <source-dir>
set -u
. "$(dirname "$0")/lib.sh"
tl_init kill_text "$@"
# tmpfs when there is one: the same write-fsync-rename sequence without the
# disk's fsync latency, so the kills land in training rather than in fsync
BASE=${TMPDIR:-}
[ -z "$BASE" ] && [ -d /dev/shm ] && [ -w /dev/shm ] && BASE=/dev/shm
DEV=$(mktemp -d "${BASE:-/tmp}/autlearn-kill-text.XXXXXX")
trap 'rm -rf "$TMP" "$DEV"' EXIT
KILLS=${AL_KILLS:-24}
SEED=${AL_KILL_SEED:-$$}
RANDOM=$SEED
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# 4 presidents x 3 addresses of synthetic words, each with a habit of their own
DATA=$TMP/sotu
mkdir -p "$DATA"
"$PY" "$SRC/tests/make_sotu.py" "$DATA" 4 || { echo "cannot make data" >&2; exit 1; }
"$BIN" pretrain --scenario text --data "$DATA" --vocab 60 --arch "tokens 20; embedding 8 vocab=63; lstm 16; dense 63" \
    --batch 4 --users bob_roe,cal_poe --epochs 2 --lr 0.01 --out "$TMP/cloud.gguf" >/dev/null 2>"$TMP/err" ||
    { echo "FAIL: pretrain: $(cat "$TMP/err")" >&2; exit 1; }

# series NAME TOTAL_STEPS personalize-args...: the uninterrupted run, then
# KILLS/2 killed attempts, then the final resume
series() {
    local name=$1 total=$2
    shift 2
    local P=(personalize --scenario text --model "$TMP/cloud.gguf" --data "$DATA" --user ann_lee "$@")
    local ref=$TMP/$name.ref.gguf dir=$DEV/$name
    mkdir -p "$dir"
    local t0
    t0=$(now_ms)
    run "${P[@]}" --out "$ref"
    [ "$rc" -eq 0 ] || { bad "$name: the uninterrupted run"; return; }
    local t_ref=$(($(now_ms) - t0))
    run "${P[@]}" --out "$TMP/$name.full.gguf" --checkpoint "$TMP/$name.full.ckpt" --checkpoint-every 2 --json
    check "$name: the checkpointed run succeeds" test "$rc" -eq 0
    check "$name: checkpoints do not change the result" cmp -s "$ref" "$TMP/$name.full.gguf"
    check "$name: the run has $total steps" "$PY" -c '
import json,sys; j=json.load(open(sys.argv[1])); assert j["steps"]==int(sys.argv[2]) and j["resumed_at_step"] is None, j' \
        "$TMP/out" "$total"
    # the window of kill moments: the start-up and some of the steps; it
    # adapts as it goes (sanitizers, load), as in test_kill.sh
    local window=$((t_ref / 2 + 5))
    local CK=$dir/p.ckpt OUT=$dir/p.gguf last_ck=-1 mid=0 problems=0 kills=$((KILLS / 2))
    echo "test_kill_text: $name: seed $SEED, $kills kills, first window $window ms (uninterrupted run $t_ref ms)"
    local lives=0
    for i in $(seq 1 "$kills"); do
        # a finished job (its model was compared with the reference after
        # the kill that finished it) starts over from nothing, as in
        # test_kill.sh, so that kills keep landing in training however fast
        # the steps are
        if [ "$last_ck" -ge "$total" ]; then
            rm -f "$CK" "$OUT"
            last_ck=-1
            lives=$((lives + 1))
        fi
        local every=$((1 + RANDOM % 3)) delay=$((RANDOM % window))
        : >"$TMP/err.k"
        "$BIN" "${P[@]}" --out "$OUT" --checkpoint "$CK" --checkpoint-every "$every" --resume --verbose \
            >/dev/null 2>"$TMP/err.k" &
        local pid=$!
        sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
        kill -9 "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        local krc=$?
        if [ "$krc" -ne 0 ] && [ "$krc" -ne 137 ]; then
            echo "$name: attempt $i exited with $krc: $(tail -2 "$TMP/err.k")" >&2
            problems=$((problems + 1))
        fi
        local wrote
        wrote=$(sed -n 's/.*checkpoint .*: step \([0-9]*\) written.*/\1/p' "$TMP/err.k" | tail -1)
        [ -n "$wrote" ] && [ "$krc" -ne 0 ] && [ "$wrote" -lt "$total" ] && mid=$((mid + 1))
        local before=$last_ck
        if [ -e "$CK" ]; then
            if ! "$BIN" info "$CK" --json >"$TMP/info.json" 2>"$TMP/info.err"; then
                echo "$name: after kill $i the checkpoint does not load: $(cat "$TMP/info.err")" >&2
                problems=$((problems + 1))
                break
            fi
            local steps
            steps=$(sed -n 's/.*"steps_done": *\([0-9]*\).*/\1/p' "$TMP/info.json")
            if [ "$steps" -lt "$last_ck" ] || { [ -n "$wrote" ] && [ "$steps" -lt "$wrote" ]; }; then
                echo "$name: after kill $i the checkpoint holds step $steps; before: $last_ck, written: ${wrote:-none}" >&2
                problems=$((problems + 1))
            fi
            last_ck=$steps
        elif [ -n "$wrote" ]; then
            echo "$name: after kill $i there is no checkpoint although step $wrote was written" >&2
            problems=$((problems + 1))
        fi
        if [ "$(find "$dir" -name 'p.ckpt.tmp.*' | wc -l)" -gt 1 ] || [ "$(find "$dir" -name 'p.gguf.tmp.*' | wc -l)" -gt 1 ]; then
            echo "$name: after kill $i more than one temporary file per target" >&2
            problems=$((problems + 1))
        fi
        if [ -e "$OUT" ] && ! cmp -s "$OUT" "$ref"; then
            echo "$name: after kill $i the personal model differs from the uninterrupted run's" >&2
            problems=$((problems + 1))
        fi
        if [ "$krc" -eq 0 ] || [ $((last_ck - before)) -gt $((total / 8)) ]; then
            window=$((window * 3 / 4 + 1))
        elif [ -z "$wrote" ]; then
            window=$((window * 5 / 4 + 2))
        fi
    done
    echo "test_kill_text: $name: $mid of $kills attempts killed between checkpoints, $lives restarts after a finished job, the checkpoint at step $last_ck of $total"
    check "$name: every kill left a loadable checkpoint, no lost interval, no half-written file" test "$problems" -eq 0
    check "$name: kills landed between checkpoints during training ($mid of $kills)" test "$mid" -ge 3
    run "${P[@]}" --out "$OUT" --checkpoint "$CK" --checkpoint-every 2 --resume --json
    check "$name: the last resume completes" test "$rc" -eq 0
    check "$name: the final model is byte-identical to the uninterrupted run's" cmp -s "$OUT" "$ref"
    check "$name: no temporary file is left" test -z "$(find "$dir" -name '*.tmp.*')"
    check "$name: --json reports the resume and every step" "$PY" -c '
import json,sys; j=json.load(open(sys.argv[1])); r=int(sys.argv[3])
assert j["resumed_at_step"]==(r if r >= 0 else None) and j["steps"]==int(sys.argv[2]), j' \
        "$TMP/out" "$total" "$last_ck"
}

# 1030 private tokens: 51 windows of 20. Frozen LSTM (freeze 2): one stream,
# 13 steps of batch 4 per epoch; trained LSTM (freeze 1): 4 streams of 12
# windows, 12 steps per epoch.
series frozen-lstm 780 --epochs 60 --lr 0.01 --batch 4
series tbptt 360 --epochs 30 --lr 0.01 --batch 4 --freeze 1

# refusals: other options with the same checkpoint, and --resume alone
P=(personalize --scenario text --model "$TMP/cloud.gguf" --data "$DATA" --user ann_lee --epochs 60 --batch 4)
run "${P[@]}" --lr 0.02 --out "$TMP/x.gguf" --checkpoint "$DEV/frozen-lstm/p.ckpt" --resume
check "resuming with another learning rate is refused" test "$rc" -eq 1
check "... saying which option differs" grep -q "lr = " "$TMP/err"
run "${P[@]}" --lr 0.01 --user bob_roe --out "$TMP/x.gguf" --checkpoint "$DEV/frozen-lstm/p.ckpt" --resume
check "resuming on another user's text is refused" test "$rc" -eq 1
check "no output after a refusal" test ! -e "$TMP/x.gguf"
run "${P[@]}" --out "$TMP/x.gguf" --resume
check "--resume without --checkpoint is a usage error" test "$rc" -eq 2

tl_end
