#!/usr/bin/env bash
# Regression capture for autlearn: runs a fixed set of deterministic CLI
# commands against TREE/build/autlearn and writes normalized outputs to
# OUTDIR/results (what compare.sh diffs). Raw outputs and scratch files go to
# OUTDIR/raw and OUTDIR/work (not compared); OUTDIR/timing.tsv has per-command
# wall times (not compared).
#
#   run.sh TREE OUTDIR
#
# TREE must have build/autlearn built and data/ with fashion-mnist and sotu
# (scripts/fetch-data.sh fashion; scripts/fetch-data.sh sotu). Env: THREADS
# (default 2), DATA (another data dir), ONNX_FIXTURES (default
# TREE/../shared/fixtures/onnx; the import step is skipped without it),
# KEEP_WORK=1 keeps OUTDIR/work.
set -u
TREE=$(readlink -f "${1:?usage: run.sh TREE OUTDIR}")
OUTDIR=${2:?usage: run.sh TREE OUTDIR}
HERE=$(dirname "$(readlink -f "$0")")
BIN=$TREE/build/autlearn
DATA=$(readlink -f "${DATA:-$TREE/data}")
T=${THREADS:-2}
FIX=${ONNX_FIXTURES:-$TREE/../shared/fixtures/onnx}
PY=/usr/bin/python3

[ -x "$BIN" ] || { echo "run.sh: no $BIN (build it: make build)" >&2; exit 2; }
[ -f "$DATA/fashion-mnist/train-images-idx3-ubyte.gz" ] || { echo "run.sh: no $DATA/fashion-mnist" >&2; exit 2; }
[ -d "$DATA/sotu" ] || { echo "run.sh: no $DATA/sotu" >&2; exit 2; }

rm -rf "$OUTDIR"
mkdir -p "$OUTDIR"
OUTDIR=$(readlink -f "$OUTDIR")
W=$OUTDIR/work
RAW=$OUTDIR/raw
RES=$OUTDIR/results
mkdir -p "$W" "$RAW" "$RES"
# every command runs in $W with relative paths, data through a symlink, so
# that paths printed by the tool are the same for every tree
ln -s "$DATA" "$W/data"
cd "$W" || exit 2
export AL_THREADS=1   # every command below passes --threads where it has one
unset AL_GEMM AL_CONV AL_CONV_SIMD AL_CONV_IMPLICIT AL_I8GEMM
printf 'step\trc\tseconds\n' >"$OUTDIR/timing.tsv"
START=$(date +%s.%N)

# run NAME ARGS...: autlearn ARGS > raw/NAME.out 2> raw/NAME.err, rc to raw/NAME.rc
run() {
    local name=$1
    shift
    local t0 t1 rc
    t0=$(date +%s.%N)
    "$BIN" "$@" >"$RAW/$name.out" 2>"$RAW/$name.err"
    rc=$?
    t1=$(date +%s.%N)
    echo "$rc" >"$RAW/$name.rc"
    printf '%s\t%s\t%.2f\n' "$name" "$rc" "$(echo "$t1 - $t0" | bc)" >>"$OUTDIR/timing.tsv"
    printf '%s' "$*" >"$RAW/$name.cmd"
    # steps named *_fail are meant to fail (exit 1, the error message is compared)
    case "$name:$rc" in
        *_fail:1 | *:0) ;;
        *) echo "run.sh: $name exited $rc: $(tail -c 300 "$RAW/$name.err")" >&2 ;;
    esac
}

FM=data/fashion-mnist
# ---------------------------------------------------------------- image: cloud
run pretrain_img pretrain --data $FM --out cloud.gguf --epochs 1 --public-frac 0.2 --threads $T --seed 1 --json
run info_cloud info cloud.gguf
run info_cloud_json info cloud.gguf --json
run info_cloud_f10 info cloud.gguf --freeze 10 --batch 16 --json

# ---------------------------------------------------------------- image: scenario
run scen_img scenario image --data $FM --users 6 --per-user 200 --test-per-user 200 --public-frac 0.2 \
    --pretrain-epochs 1 --epochs 5 --local-epochs 5 --rounds 3 --central-epochs 1 --threads $T \
    --json scen_img.json --svg scen_img.svg --save-cloud scen_img_cloud.gguf
run scen_img_b scenario image --data $FM --cloud cloud.gguf --users 3 --per-user 60 --test-per-user 50 \
    --public-frac 0.2 --methods global,autonomous,fedavg --freeze 10 --epochs 2 --rounds 1 \
    --aug-variants 2 --label-prior 0 --l2sp 0.5 --seed 7 --threads 1 --quiet --json scen_img_b.json --svg scen_img_b.svg

# ---------------------------------------------------------------- image: personalize
P=(personalize --model cloud.gguf --data $FM --user 1 --users 6 --per-user 200 --test-per-user 200 --epochs 5)
run pers_img "${P[@]}" --out pers.gguf --threads $T --json
run pers_img_text "${P[@]}" --out pers_text.gguf --threads $T
run pers_img_t1 "${P[@]}" --out pers_t1.gguf --threads 1 --json
run pers_img_nocache "${P[@]}" --out pers_nocache.gguf --threads $T --no-cache --json
run pers_img_naive "${P[@]}" --out pers_naive.gguf --threads $T --naive-plan --predict-first --json
run pers_img_spill "${P[@]}" --out pers_spill.gguf --threads $T --cache-mb 0 --cache-spill spill.bin --json
run pers_img_budget "${P[@]}" --out pers_budget.gguf --threads $T --mem-budget 12 --json
run pers_img_budget_cache "${P[@]}" --out pers_budget_cache.gguf --threads $T --mem-budget 18.6 --json
run pers_img_budget_fail "${P[@]}" --out pers_budget_fail.gguf --threads $T --mem-budget 3 --json
run pers_img_dry "${P[@]}" --out pers_dry.gguf --threads $T --dry-run --json
run pers_img_f10 personalize --model cloud.gguf --data $FM --user 2 --users 4 --per-user 100 --test-per-user 100 \
    --epochs 2 --freeze 10 --aug-variants 2 --label-prior 0 --l2sp 0 --lr 0.02 --batch 16 --seed 3 \
    --out pers_f10.gguf --threads $T --json
# checkpoint / resume: a checkpointed run, a resume from its finished checkpoint
run pers_img_ckpt "${P[@]}" --out pers_ckpt.gguf --threads $T --checkpoint pers.ckpt --checkpoint-every 5 --verbose --json
run pers_img_resume "${P[@]}" --out pers_resumed.gguf --threads $T --checkpoint pers.ckpt --resume --verbose --json
run info_pers_ckpt info pers.ckpt
run info_pers info pers.gguf --json

# ---------------------------------------------------------------- train / eval / predict
MLP="input 1x28x28; flatten; dense 64; relu; dense 10"
run train_mlp train --arch "$MLP" --data $FM --limit 3000 --epochs 2 --batch 32 --threads $T --out mlp.gguf --json
run train_cnn train --arch refcnn --data $FM --limit 1000 --epochs 1 --optim adam --sched step --step-size 1 \
    --clip 1 --warmup 5 --threads $T --quiet --out cnn.gguf --json
run train_adamw train --arch "$MLP" --data $FM --limit 2000 --epochs 2 --optim adamw --nesterov --patience 1 \
    --threads 1 --out mlp_adamw.gguf
run train_sgd_nest train --arch mlp --data $FM --limit 1500 --epochs 1 --nesterov --weight-decay 0.0005 --min-lr 0.001 \
    --seed 5 --threads $T --quiet --out mlp_nest.gguf --json
run train_ft train --init cloud.gguf --freeze 10 --data $FM --limit 1500 --epochs 1 --lr 0.01 --threads $T --quiet \
    --out ft.gguf --json
run train_budget train --arch refcnn --data $FM --limit 500 --epochs 1 --mem-budget 20 --threads $T --quiet \
    --out cnn_budget.gguf --json
run train_budget_fail train --arch refcnn --data $FM --limit 500 --epochs 1 --mem-budget 4 --threads $T --quiet \
    --out cnn_budget_fail.gguf --json
run train_dry train --arch refcnn --data $FM --epochs 1 --dry-run --threads $T --out cnn_dry.gguf --json
# checkpoint: uninterrupted with checkpoints; resume from the finished checkpoint
TC=(train --arch "$MLP" --data $FM --limit 3000 --epochs 2 --batch 32 --threads $T --quiet --checkpoint-every 20)
run train_ckpt "${TC[@]}" --checkpoint mlp.ckpt --out mlp_ckpt.gguf --verbose --json
run train_resume "${TC[@]}" --checkpoint mlp.ckpt --resume --out mlp_resumed.gguf --verbose --json
run info_mlp_ckpt info mlp.ckpt --json
# a real interrupted run: kill -9 once the first checkpoint exists, then resume.
# Where it stops varies, so only the final model's checksum is compared
# (raw/train_kill.* are kept for reference, not compared).
TK=(train --arch refcnn --data $FM --limit 2000 --epochs 2 --batch 32 --threads $T --quiet --checkpoint-every 10)
rm -f kill.ckpt
"$BIN" "${TK[@]}" --checkpoint kill.ckpt --out cnn_killed.gguf >"$RAW/train_kill.out" 2>"$RAW/train_kill.err" &
KPID=$!
for _ in $(seq 1 600); do [ -f kill.ckpt ] && break; kill -0 $KPID 2>/dev/null || break; sleep 0.05; done
kill -9 $KPID 2>/dev/null && echo "killed after first checkpoint" >"$RAW/train_kill.note" ||
    echo "finished before the kill" >"$RAW/train_kill.note"
wait $KPID 2>/dev/null
"$BIN" "${TK[@]}" --checkpoint kill.ckpt --resume --out cnn_killed.gguf >>"$RAW/train_kill.out" 2>>"$RAW/train_kill.err"
echo "resume rc=$?" >>"$RAW/train_kill.note"
run train_nokill "${TK[@]}" --out cnn_nokill.gguf --json

run eval_mlp eval --model mlp.gguf --data $FM --limit 2000 --threads $T
run eval_mlp_json eval --model mlp.gguf --data $FM --split train --limit 1000 --batch 64 --threads $T --json
run eval_cloud eval --model cloud.gguf --data $FM --limit 2000 --threads $T --json
run eval_pers eval --model pers.gguf --data $FM --limit 2000 --threads 1 --json
run predict_cloud predict --model cloud.gguf --data $FM --limit 40 --top 3 --threads $T
run predict_pers_json predict --model pers.gguf --data $FM --split train --limit 20 --top 2 --threads $T --json \
    --raw pers_pred.f32

# ---------------------------------------------------------------- compress / compile / quantize
run compress_mac compress --model cloud.gguf --out comp_mac.gguf --mac-reduction 2 --data $FM --retrain-epochs 1 \
    --public-frac 0.2 --threads $T --json
run compress_energy compress --model cloud.gguf --out comp_energy.gguf --energy 0.9 --threads $T
run compress_param compress --model cloud.gguf --out comp_param.gguf --param-reduction 3 --threads $T --json
run info_comp info comp_mac.gguf
run eval_comp eval --model comp_mac.gguf --data $FM --limit 2000 --threads $T --json
run compile compile --model cloud.gguf --out compiled.gguf --json
run compile_text compile cloud.gguf --out compiled_f10.gguf --freeze 10 --batch 16
run compile_nofold compile --model cloud.gguf --out compiled_nofold.gguf --no-fold --no-fuse --json
run compile_int8 compile --model cloud.gguf --out compiled_int8.gguf --int8 --json
run compile_comp compile --model comp_mac.gguf --out compiled_comp.gguf --json
run info_compiled info compiled.gguf
run info_compiled_int8 info compiled_int8.gguf --json
run eval_compiled eval --model compiled.gguf --data $FM --limit 2000 --threads $T --json
run pers_compiled personalize --model compiled.gguf --data $FM --user 0 --users 4 --per-user 100 --test-per-user 100 \
    --epochs 2 --out pers_compiled.gguf --threads $T --json
run quantize quantize --model cloud.gguf --out quant.gguf --json
run quantize_f10 quantize --model cloud.gguf --out quant_f10.gguf --freeze 10
run info_quant info quant.gguf
run eval_quant eval --model quant.gguf --data $FM --limit 2000 --threads $T --json
run pers_quant personalize --model quant.gguf --data $FM --user 0 --users 4 --per-user 100 --test-per-user 100 \
    --epochs 2 --out pers_quant.gguf --threads $T --json

# ---------------------------------------------------------------- report (HTML of the scenario JSON, timing zeroed)
"$PY" "$HERE/normalize.py" zero-json "$W/scen_img.json" "$W/scen_img.zeroed.json"
run report report scen_img.zeroed.json -o scen_img.html --title regress --json

# ---------------------------------------------------------------- ONNX import (fixture from shared/, if present)
if [ -f "$FIX/cnn_bn.legacy.onnx" ]; then
    cp "$FIX/cnn_bn.legacy.onnx" "$FIX/cnn_bn.x.f32" "$W/"
    run import_cnn import cnn_bn.legacy.onnx -o cnn_bn.gguf --json
    run predict_import predict --model cnn_bn.gguf --input cnn_bn.x.f32 --top 3 --raw cnn_bn.y.f32 --threads 1
fi

# ---------------------------------------------------------------- text
SOTU=data/sotu
TU=barack_obama,ronald_reagan,franklin_d_roosevelt
TXT=(--data $SOTU --users $TU --pretrain-tokens 120000 --vocab 1000)
run pretrain_txt pretrain --scenario text "${TXT[@]}" --epochs 1 --threads $T --json --out tcloud.gguf
run info_tcloud info tcloud.gguf --json
PT=(personalize --scenario text --model tcloud.gguf --data $SOTU --user ronald_reagan --user-tokens 6000 --epochs 2)
run pers_txt "${PT[@]}" --out tpers.gguf --threads $T --json
run pers_txt_lstm "${PT[@]}" --freeze 1 --batch 4 --out tpers_lstm.gguf --threads $T --json
run pers_txt_words "${PT[@]}" --train-words 100 --out tpers_words.gguf --threads $T --json
run pers_txt_nocache "${PT[@]}" --no-cache --out tpers_nocache.gguf --threads 1 --json
run pers_txt_ckpt "${PT[@]}" --freeze 1 --batch 4 --checkpoint tpers.ckpt --checkpoint-every 7 --out tpers_ckpt.gguf \
    --threads $T --verbose --json
run pers_txt_resume "${PT[@]}" --freeze 1 --batch 4 --checkpoint tpers.ckpt --resume --out tpers_resumed.gguf \
    --threads $T --verbose --json
run pers_txt_dry "${PT[@]}" --dry-run --out tpers_dry.gguf --threads $T --json
run scen_txt scenario text "${TXT[@]}" --user-tokens 6000 --pretrain-epochs 1 --epochs 2 --local-epochs 1 --rounds 2 \
    --threads $T --json scen_txt.json --svg scen_txt.svg --save-cloud scen_txt_cloud.gguf
run scen_txt_b scenario text "${TXT[@]}" --cloud tcloud.gguf --user-tokens 3000 --methods global,autonomous,fedavg \
    --train-words 80 --device-batch 4 --rounds 1 --epochs 2 --threads 1 --quiet --json scen_txt_b.json
run scen_txt_sel scenario text --data $SOTU --users barack_obama,george_w_bush --pretrain-tokens 30000 --vocab 500 \
    --user-tokens 2000 --select-public --methods global,autonomous --epochs 1 --threads $T --quiet --json scen_txt_sel.json
run compress_txt compress --model tcloud.gguf --out tcomp.gguf --scenario text "${TXT[@]}" --mac-reduction 1.5 \
    --retrain-epochs 1 --threads $T --json
run compile_txt compile --model tcloud.gguf --out tcompiled.gguf --json
run pers_tcomp "${PT[@]/tcloud.gguf/tcomp.gguf}" --out tpers_comp.gguf --threads $T --json

END=$(date +%s.%N)
printf 'TOTAL\t-\t%.2f\n' "$(echo "$END - $START" | bc)" >>"$OUTDIR/timing.tsv"

# ---------------------------------------------------------------- normalize into results/
"$PY" "$HERE/normalize.py" results "$RAW" "$W" "$RES" "$TREE" "$OUTDIR"
[ "${KEEP_WORK:-0}" = 1 ] || rm -rf "$W"
echo "run.sh: $(grep -c . "$RES/sha256.txt") files checksummed, $(ls "$RAW"/*.rc | wc -l) commands," \
    "$(awk -F'\t' '$1=="TOTAL"{print $3}' "$OUTDIR/timing.tsv") s; results in $RES" >&2
