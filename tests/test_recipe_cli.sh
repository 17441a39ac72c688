#!/usr/bin/env bash
# The device's recipe on the CLI (docs/RECIPES.md): `personalize` chooses by
# default and reports every candidate (text and --json), the cloud model is
# written unchanged when the gate keeps it, a fixed --recipe runs alone, the
# old flags imply --recipe config, bad combinations are usage errors, and
# `scenario image` runs the chooser and a fixed recipe; --auto-folds K
# validates by K-fold cross-validation (1: the single split, bit for bit).
#   bash tests/test_recipe_cli.sh <path-to-autlearn> <source-dir>
set -u
. "$(dirname "$0")/lib.sh"
tl_init recipe_cli "$@"

DATA=$TMP/data
mkdir -p "$DATA"
"$PY" "$SRC/tests/make_idx.py" "$DATA" 1200 400 || { echo "cannot make data" >&2; exit 1; }
ARCH="input 1x28x28; conv 4 k=3 p=1; relu; maxpool k=2; flatten; dense 16; relu; dense 10"
expect_ok "pretrain" pretrain --data "$DATA" --arch "$ARCH" --epochs 1 --out "$TMP/cloud.gguf"
U=(--model "$TMP/cloud.gguf" --data "$DATA" --user 1 --users 4 --per-user 60 --test-per-user 30 --epochs 3)

expect_ok "personalize, the default recipe (auto), --json" personalize "${U[@]}" --out "$TMP/a.gguf" --json
cp "$TMP/out" "$TMP/a.json"
check "the chooser's report is complete (5-fold cross-validation by default)" "$PY" -c '
import json, sys
j = json.load(open(sys.argv[1])); s = j["recipe_search"]
assert s["val_folds"] == 5 and s["val_samples"] == 60 and s["train_samples"] == 48, s
assert s["val_fraction"] == 0 and s["budget_macs"] == 0 and 0 <= s["cloud_val_acc"] <= 1, s
names = {t["recipe"] for t in s["tried"]}
assert names == {"prior", "head", "last-block", "bn", "bias", "deep", "full"}, names
ran = [t for t in s["tried"] if t["status"] == "run"]
assert len(ran) >= 8 and all(0 <= t["val_acc"] <= 1 and t["macs"] > 0 for t in ran), s
assert [t["status"] for t in s["tried"] if t["recipe"] == "bn"] == ["not_applicable"], s
assert s["search_macs"] > sum(t["macs"] for t in ran), s
best = s["tried"][s["best"]]
assert s["kept_personal"] == (best["val_acc"] > s["cloud_val_acc"]), s
assert j["recipe"] == s["chosen"] == (best["recipe"] if s["kept_personal"] else "cloud"), j
assert s["why"], s' "$TMP/a.json"
expect_ok "the same run again" personalize "${U[@]}" --out "$TMP/a2.gguf" --json
check "the chooser is deterministic for a seed" cmp -s "$TMP/a.gguf" "$TMP/a2.gguf"
expect_ok "text output" personalize "${U[@]}" --out "$TMP/a3.gguf"
check "the text output lists the candidates and the choice" \
    bash -c 'grep -qE "^recipe search: 5-fold cross-validation, each of the 60 samples held out once" "$1" && grep -q "^  deep " "$1" && grep -q "^recipe: " "$1"' _ "$TMP/out"

# the gate: a budget that admits only the cloud's validation pass runs nothing, so the cloud model stays
expect_ok "a budget too small for any candidate" personalize "${U[@]}" --budget-mmacs 0.000001 --out "$TMP/g.gguf" --json
check "nothing ran, the cloud model is kept" "$PY" -c '
import json, sys
j = json.load(open(sys.argv[1])); s = j["recipe_search"]
assert not s["kept_personal"] and j["recipe"] == "cloud" and s["best"] is None, s
assert all(t["status"] in ("over_budget", "not_applicable") for t in s["tried"]), s
assert j["steps"] == 0 and j["test_acc_after"] == j["test_acc_before"], j' "$TMP/out"
expect_ok "info on the kept cloud model" info --model "$TMP/g.gguf" --json
check "it says so in its metadata" grep -q '"autlearn.recipe": *"cloud"' "$TMP/out"

expect_ok "a fixed recipe" personalize "${U[@]}" --recipe deep --out "$TMP/d.gguf" --json
check "a fixed recipe runs alone at its freeze point" "$PY" -c '
import json, sys
j = json.load(open(sys.argv[1]))
assert j["recipe"] == "deep" and "recipe_search" not in j and j["freeze"] == 0 and j["steps"] > 0, j' "$TMP/out"
expect_ok "--freeze implies --recipe config" personalize "${U[@]}" --freeze 4 --out "$TMP/f.gguf" --json
check "the configured job" "$PY" -c '
import json, sys
j = json.load(open(sys.argv[1])); assert j["recipe"] == "config" and j["freeze"] == 4, j' "$TMP/out"
expect_fail "--recipe auto with --freeze" 2 personalize "${U[@]}" --recipe auto --freeze 4 --out "$TMP/x.gguf"
expect_fail "--recipe head with --freeze" 2 personalize "${U[@]}" --recipe head --freeze 4 --out "$TMP/x.gguf"
expect_fail "an unknown recipe" 2 personalize "${U[@]}" --recipe everything --out "$TMP/x.gguf"
expect_fail "--budget-mmacs with a fixed recipe" 2 personalize "${U[@]}" --recipe head --budget-mmacs 5 --out "$TMP/x.gguf"
expect_fail "bn on a model without batch norm" 1 personalize "${U[@]}" --recipe bn --out "$TMP/x.gguf"
check "says why" grep -q "no batch-norm layer" "$TMP/err"
check "no output after a failure" test ! -e "$TMP/x.gguf"

# K-fold cross-validation (--auto-folds): every sample held out once, the folds in the report
expect_ok "personalize --auto-folds 3" personalize "${U[@]}" --auto-folds 3 --out "$TMP/k.gguf" --json
check "the K-fold search's report" "$PY" -c '
import json, sys
j = json.load(open(sys.argv[1])); s = j["recipe_search"]
assert s["val_folds"] == 3 and s["val_samples"] == 60 and s["train_samples"] == 40, s
ran = [t for t in s["tried"] if t["status"] == "run"]
assert len(ran) >= 8 and all(0 <= t["val_acc"] <= 1 for t in ran) and "3-fold" in s["why"], s' "$TMP/out"
expect_ok "personalize --auto-folds 1: the single split" personalize "${U[@]}" --auto-folds 1 --out "$TMP/k1.gguf" --json
cp "$TMP/out" "$TMP/k1.json"
check "the single split reports no folds, 20% held out" "$PY" -c '
import json, sys; s = json.load(open(sys.argv[1]))["recipe_search"]
assert s["val_folds"] == 0 and s["val_fraction"] == 0.2 and s["train_samples"] + s["val_samples"] == 60, s' "$TMP/k1.json"
expect_ok "the single split, text output" personalize "${U[@]}" --auto-folds 1 --out "$TMP/k1b.gguf"
check "its text output says so" grep -qE "^recipe search: [0-9]+ samples trained, [0-9]+ held out" "$TMP/out"
expect_ok "personalize --auto-folds 5 is the default" personalize "${U[@]}" --auto-folds 5 --out "$TMP/k5.gguf"
check "the same model as without it" cmp -s "$TMP/a.gguf" "$TMP/k5.gguf"
expect_ok "personalize --auto-val 0.2: the single split" personalize "${U[@]}" --auto-val 0.2 --out "$TMP/v2.gguf"
check "the same model as --auto-folds 1" cmp -s "$TMP/k1.gguf" "$TMP/v2.gguf"
expect_fail "--auto-folds 11" 2 personalize "${U[@]}" --auto-folds 11 --out "$TMP/x.gguf"
expect_fail "--auto-folds with --auto-val" 2 personalize "${U[@]}" --auto-folds 3 --auto-val 0.3 --out "$TMP/x.gguf"
expect_fail "--auto-folds with a fixed recipe" 2 personalize "${U[@]}" --recipe head --auto-folds 3 --out "$TMP/x.gguf"

S=(scenario image --data "$DATA" --cloud "$TMP/cloud.gguf" --users 3 --per-user 40 --test-per-user 30 --epochs 2
   --methods global,autonomous)
expect_ok "scenario with the chooser" "${S[@]}" --json "$TMP/s.json"
check "it says per user what it chose" bash -c '[ "$(grep -c "^autonomous: user [0-9] chose " "$1")" = 3 ]' _ "$TMP/err"
check "scenario JSON has the autonomous results" "$PY" -c '
import json, sys
j = json.load(open(sys.argv[1])); a = j["autonomous"]
assert len(a["per_user"]) == 3 and len(a["curve"]) == 2, a' "$TMP/s.json"
expect_ok "scenario with the chooser's K-fold validation" "${S[@]}" --auto-folds 2 --json "$TMP/k.json"
check "scenario --auto-folds is in the JSON config, the single split's fraction null" "$PY" -c '
import json, sys; c = json.load(open(sys.argv[1]))["config"]; assert c["auto_folds"] == 2 and c["auto_val"] is None, c
c = json.load(open(sys.argv[2]))["config"]; assert c["auto_folds"] == 5 and c["auto_val"] is None, c' "$TMP/k.json" "$TMP/s.json"
check "each user chose by 2-fold cross-validation, and its line says so" bash -c '
[ "$(grep -c "^autonomous: user [0-9] chose .*2-fold.* 40 samples" "$1")" = 3 ] && ! grep -q "chose .*(searched on" "$1"' _ "$TMP/err"
expect_ok "scenario with the chooser's single split" "${S[@]}" --auto-val 0.2 --json "$TMP/k1.json"
check "... each user's line" bash -c '[ "$(grep -c "^autonomous: user [0-9] chose .*(searched on [0-9]* of its images, checked on [0-9]*)$" "$1")" = 3 ]' _ "$TMP/err"
check "... in its JSON config, and each user's line says so" "$PY" -c '
import json, sys; c = json.load(open(sys.argv[1]))["config"]; assert c["auto_folds"] == 1 and c["auto_val"] == 0.2, c' "$TMP/k1.json"
check "... each user's line" bash -c '[ "$(grep -c "^autonomous: user [0-9] chose .*(searched on [0-9]* of its images, checked on [0-9]*)$" "$1")" = 3 ]' _ "$TMP/err"
expect_fail "scenario: --auto-folds with --auto-val" 2 "${S[@]}" --auto-folds 3 --auto-val 0.3
expect_ok "scenario with a fixed recipe" "${S[@]}" --recipe prior --quiet --json "$TMP/p.json"
expect_fail "scenario: an unknown recipe" 2 "${S[@]}" --recipe everything

tl_end
