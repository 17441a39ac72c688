#!/usr/bin/env bash
# personalize --text FILE...: the keyboard on the user's own text files, and
# new words learned on the device. A cloud LM pre-trained on public
# "addresses" of made-up words; the user types words that the cloud
# vocabulary lacks. Checks: the new words get entries (JSON new_words, the
# model file's vocabulary and shapes), word top-3 and keystrokes rise over
# the same word targets, --new-words 0 keeps the cloud's vocabulary,
# checkpoints resume, --dry-run plans the grown model, the grown model
# evaluates, compiles and quantizes; bad input (invalid UTF-8, binary,
# empty, a file over 64 MiB, only unknown words, a directory, misuse) gives
# a clear error and no output.
#   bash tests/test_text_files.sh <path-to-autlearn> <source-dir>
set -u
. "$(dirname "$0")/lib.sh"
tl_init text_files "$@"

DATA=$TMP/sotu
mkdir -p "$DATA" "$TMP/me"
# public presidents use words a..; the user (ann_lee's style) also types
# names the public never wrote (zorvex, quilla, brandu)
"$PY" - "$DATA" "$TMP/me" <<'PYEOF'
import random, sys
d, me = sys.argv[1], sys.argv[2]
syl = ["ka", "lo", "mi", "nu", "ra", "te", "vo", "si", "da", "pe"]
words = [a + b for a in syl for b in syl][:60]
names = ["bob_roe", "cal_poe", "dee_fox", "eve_kim"]
for k, name in enumerate(names):
    r = random.Random(k)
    for a in range(3):
        out = []
        for s in range(80):
            out += [r.choice(words) for _ in range(r.randint(4, 9))]
            out[-1] += r.choice([".", ".", ","])
        open("%s/%d_%s_%s.txt" % (d, 1901 + k * 4 + a, name, "dr"[k % 2]), "w").write(" ".join(out) + "\n")
r = random.Random(99)
mine = ["zorvex", "quilla", "brandu"]
for f, n in [("a.txt", 150), ("b.txt", 150), ("test.txt", 60)]:
    out = []
    for s in range(n):
        if r.random() < 0.6:
            out += ["kaka", r.choice(mine), "lolo"]
        out += [r.choice(words[:30]) for _ in range(r.randint(3, 6))]
        out[-1] += "."
    open("%s/%s" % (me, f), "w").write(" ".join(out) + "\n")
PYEOF
ARCH="tokens 20; embedding 8 vocab=64; lstm 16; dense 64"
"$BIN" pretrain --scenario text --data "$DATA" --vocab 61 --arch "$ARCH" --batch 4 --users bob_roe --epochs 2 \
    --lr 0.01 --out "$TMP/cloud.gguf" >/dev/null 2>"$TMP/err"
check "pretrain --scenario text succeeds" test $? -eq 0

P=(personalize --model "$TMP/cloud.gguf" --text "$TMP/me/a.txt" "$TMP/me/b.txt" --test "$TMP/me/test.txt" --batch 4
   --epochs 8 --lr 0.03)
expect_ok "personalize --text with new words" "${P[@]}" --out "$TMP/p.gguf" --json
cp "$TMP/out" "$TMP/p.json"
check "three new words, word top-3 and keystrokes saved rise on the same targets" "$PY" -c '
import json,sys; j=json.load(open(sys.argv[1]))
assert j["new_words"]==3 and j["user"] is None and j["bytes_uploaded"]==0, j
assert j["test_word_targets"]>100 and j["test_word_top3_after"]>j["test_word_top3_before"]+0.05, j
assert j["test_keystroke_savings_after"]>j["test_keystroke_savings_before"], j
assert j["cache_hits"]>0 and j["prefix_windows"]==0, j' "$TMP/p.json"
run info "$TMP/p.gguf" --json
check "the personal model stores its grown vocabulary and layers" "$PY" -c '
import json,sys; j=json.load(open(sys.argv[1])); s=json.dumps(j)
assert "vocab=67" in s and "dense 67" in s, s[:400]' "$TMP/out"
check "the vocabulary holds the new words" grep -qa zorvex "$TMP/p.gguf"

expect_ok "personalize --text --new-words 0" "${P[@]}" --new-words 0 --out "$TMP/p0.gguf" --json
check "without new words: the cloud vocabulary, a lower word top-3" "$PY" -c '
import json,sys; a=json.load(open(sys.argv[1])); b=json.load(open(sys.argv[2]))
assert a["new_words"]==0 and a["test_word_top3_before"]==b["test_word_top3_before"], (a,b)
assert a["test_word_top3_after"]<b["test_word_top3_after"], (a,b)' "$TMP/out" "$TMP/p.json"
expect_ok "personalize --text --train-words 10" "${P[@]}" --train-words 10 --out "$TMP/tw.gguf" --json
check "only the user's 10 most used words' rows trained: the new words among them" "$PY" -c '
import json,sys; j=json.load(open(sys.argv[1]))
assert j["new_words"]==3 and j["train_words"]==10 and j["test_word_top3_after"]>j["test_word_top3_before"]+0.05, j' "$TMP/out"
expect_ok "personalize --text --no-cache --freeze 1" "${P[@]}" --no-cache --freeze 1 --epochs 1 --out "$TMP/nc.gguf" --json
check "the LSTM trained too, no cache: the prefix recomputed" "$PY" -c '
import json,sys; j=json.load(open(sys.argv[1])); assert j["new_words"]==3 and j["freeze"]==1 and not j["cache"], j' "$TMP/out"
expect_ok "personalize --text without --test holds out a tail" personalize --model "$TMP/cloud.gguf" \
    --text "$TMP/me/a.txt" --batch 4 --epochs 1 --out "$TMP/t.gguf" --json
check "the held-out tail is about a tenth" "$PY" -c '
import json,sys; j=json.load(open(sys.argv[1])); r=j["test_tokens"]/(j["tokens"]+j["test_tokens"])
assert 0.05<r<0.15, j' "$TMP/out"

# checkpoints: a run resumed from a finished checkpoint writes the same model
expect_ok "personalize --text with a checkpoint" "${P[@]}" --out "$TMP/c.gguf" --checkpoint "$TMP/ck"
check "the checkpointed run equals the plain one" cmp -s "$TMP/c.gguf" "$TMP/p.gguf"
expect_ok "personalize --text --resume" "${P[@]}" --out "$TMP/c2.gguf" --checkpoint "$TMP/ck" --resume
check "the resumed run writes the same model" cmp -s "$TMP/c2.gguf" "$TMP/p.gguf"
expect_ok "personalize --text --dry-run" "${P[@]}" --out "$TMP/d.gguf" --dry-run --mem-budget 64 --json
check "a dry run writes nothing" test ! -e "$TMP/d.gguf"
cp "$TMP/out" "$TMP/dry3.json"
expect_ok "personalize --text --dry-run --new-words 0" "${P[@]}" --out "$TMP/d.gguf" --dry-run --mem-budget 64 \
    --new-words 0 --json
check "the budget counts the grown layers: weights, gradients and optimizer state" "$PY" -c '
import json,sys; a=json.load(open(sys.argv[1]))["planned_parts_mb"]; b=json.load(open(sys.argv[2]))["planned_parts_mb"]
assert all(a[k]>b[k] for k in ["weights","gradients","optimizer"]), (a,b)' "$TMP/dry3.json" "$TMP/out"
run "${P[@]}" --out "$TMP/d.gguf" --mem-budget 0.25
check "a budget too small for the grown job: exit 1 before training, nothing written" test "$rc" -eq 1 -a ! -e "$TMP/d.gguf"
check "it names the budget" grep -q "budget" "$TMP/err"

# the grown model on the cloud's tools
expect_ok "compile the grown model" compile --model "$TMP/p.gguf" --out "$TMP/pc.gguf"
expect_ok "compress the grown model" compress --model "$TMP/p.gguf" --out "$TMP/pz.gguf" --mac-reduction 2
printf 'kaka frobnic lolo. kaka frobnic lolo. kaka frobnic mimi.\n' >"$TMP/me/c.txt"
expect_ok "personalize the compressed grown model: it grows again" personalize --model "$TMP/pz.gguf" \
    --text "$TMP/me/a.txt" "$TMP/me/c.txt" --test "$TMP/me/test.txt" --batch 4 --epochs 1 --out "$TMP/pz2.gguf" --json
check "one more new word, after the first three" "$PY" -c '
import json,sys; j=json.load(open(sys.argv[1])); assert j["new_words"]==1, j' "$TMP/out"
run info "$TMP/pz2.gguf"
check "the factored output layer grew to 68 rows" grep -q "dense 68" "$TMP/out"

# bad input
bad_input() { # description, pattern in the error, file
    run personalize --model "$TMP/cloud.gguf" --text "$3" --batch 4 --out "$TMP/z.gguf"
    check "$1: exit 1" test "$rc" -eq 1
    check "$1: the error says so" grep -q "$2" "$TMP/err"
    check "$1: no output" test ! -e "$TMP/z.gguf"
    if sanitizer_report; then bad "$1: sanitizer report"; fi
}
printf 'kaka lolo \xff\xfe mimi.\n' >"$TMP/inv.txt"
bad_input "invalid UTF-8" "is not UTF-8: byte 0xff at offset 10" "$TMP/inv.txt"
head -c 3000 /dev/urandom >"$TMP/bin.txt"
printf '\0' >>"$TMP/bin.txt"
bad_input "a binary file" "inv.txt\|bin.txt" "$TMP/bin.txt"
: >"$TMP/empty.txt"
bad_input "an empty file" "empty.txt is empty" "$TMP/empty.txt"
truncate -s 300M "$TMP/huge.txt"
bad_input "a file of 300 MB" "over 64 MiB are refused" "$TMP/huge.txt"
rm -f "$TMP/huge.txt"
# only unknown words: each once is refused; repeated, they are learned as new words
"$PY" -c 'import sys; open(sys.argv[1],"w").write(" ".join(["xy%sz%s" % (chr(97+i%26), chr(97+i//26%26)) for i in range(600)]))' "$TMP/unk.txt"
bad_input "only unknown words" "no word the model knows" "$TMP/unk.txt"
"$PY" -c 'import sys; open(sys.argv[1],"w").write(" ".join(["xyzzy%s" % chr(97+i%26) for i in range(3000)]))' "$TMP/unk2.txt"
expect_ok "only unknown words, repeated" personalize --model "$TMP/cloud.gguf" --text "$TMP/unk2.txt" --batch 4 \
    --epochs 1 --out "$TMP/u.gguf" --json
check "they are learned as new words" "$PY" -c 'import json,sys; assert json.load(open(sys.argv[1]))["new_words"]==26' "$TMP/out"
bad_input "a directory" "not a regular file" "$TMP/me"
bad_input "a missing file" "cannot open" "$TMP/nope.txt"
# one line of 2 MB without a break: fine (the tokenizer streams)
"$PY" -c 'import sys; open(sys.argv[1],"w").write(" ".join(["kaka lolo zorvex mimi"]*100000))' "$TMP/line.txt"
expect_ok "one line of 2 MB" personalize --model "$TMP/cloud.gguf" --text "$TMP/line.txt" --batch 4 --epochs 1 \
    --out "$TMP/l.gguf" --json
check "the line's new word learned" "$PY" -c 'import json,sys; assert json.load(open(sys.argv[1]))["new_words"]==1' "$TMP/out"

run personalize --model "$TMP/cloud.gguf" --user ann_lee --text "$TMP/me/a.txt" --out "$TMP/z.gguf"
check "--text with --user is a usage error" test "$rc" -eq 2
run personalize --scenario text --model "$TMP/cloud.gguf" --user ann_lee --new-words 2 --out "$TMP/z.gguf"
check "--new-words without --text is a usage error" test "$rc" -eq 2

tl_end
