#!/usr/bin/env bash
# `autlearn report`: a scenario JSON (from a small run on synthetic IDX data)
# becomes one self-contained HTML page. Renders the page with headless
# Chromium and the scenario's SVG with rsvg-convert, and checks the PNGs are
# real pictures (many colours, the methods' colours present), that the page
# loads nothing from outside, and that bad JSON of every kind fails with
# exit 1 and a message, never a crash, and leaves no output file.
#   bash tests/test_report.sh <path-to-autlearn> <source-dir>
set -u
. "$(dirname "$0")/lib.sh"
tl_init report "$@"

DATA=$TMP/data
mkdir -p "$DATA"
"$PY" "$SRC/tests/make_idx.py" "$DATA" 2000 1000 || { echo "cannot make data" >&2; exit 1; }
ARCH="input 1x28x28; conv 4 k=3 p=1; relu; maxpool k=2; flatten; dense 16; relu; dense 10"
"$BIN" scenario image --data "$DATA" --arch "$ARCH" --users 4 --per-user 40 --test-per-user 30 --pretrain-epochs 1 \
    --epochs 4 --local-epochs 3 --rounds 3 --json "$TMP/s.json" --svg "$TMP/s.svg" --quiet >/dev/null 2>"$TMP/err"
check "scenario succeeds" test $? -eq 0

mkdir -p "$TMP/out"
"$BIN" report "$TMP/s.json" -o "$TMP/out/report.html" >"$TMP/stdout" 2>"$TMP/err"
check "report succeeds" test $? -eq 0
check "report writes only the page" test "$(ls -A "$TMP/out")" = report.html
"$BIN" report "$TMP/s.json" --out "$TMP/out/r2.html" --title "Run <1> & co" --json >"$TMP/rj" 2>"$TMP/err"
check "report --out --title --json succeeds" test $? -eq 0
check "report --json names the output" "$PY" -c '
import json,sys; j=json.load(open(sys.argv[1])); assert j["command"]=="report" and j["output"].endswith("r2.html"), j' "$TMP/rj"
check "the title is HTML-escaped" grep -q "<title>Run &lt;1&gt; &amp; co</title>" "$TMP/out/r2.html"

check "the page is self-contained, with every method, bar and curve" "$PY" - "$TMP/out/report.html" "$TMP/s.json" <<'PYEOF'
import json, re, sys, xml.etree.ElementTree as ET
from html.parser import HTMLParser
page = open(sys.argv[1], encoding="utf-8").read()
run = json.load(open(sys.argv[2]))
assert page.startswith("<!DOCTYPE html>"), page[:40]
# nothing from outside: no scripts, links, images, imports, urls or sources
for bad in ["<script", "<link", "<img", "<iframe", "@import", "url(", " src=", " href="]:
    assert bad not in page.lower(), bad
assert not re.search(r"https?://(?!www\.w3\.org/2000/svg\")", page), re.findall(r"https?://\S+", page)
class P(HTMLParser):
    def __init__(self):
        super().__init__(); self.stack = []; self.tags = {}
    def handle_starttag(self, t, a):
        self.tags[t] = self.tags.get(t, 0) + 1
P().feed(page)
svgs = re.findall(r"<svg.*?</svg>", page, re.S)
assert len(svgs) == 2, len(svgs)
ns = "{http://www.w3.org/2000/svg}"
bars = [r for r in ET.fromstring(svgs[0]).iter(ns + "rect") if r.find(ns + "title") is not None]
assert len(bars) == 4 * 5, len(bars)
curves = ET.fromstring(svgs[1])
assert len(list(curves.iter(ns + "polyline"))) == 3  # local, autonomous, fedavg train on the device
assert len(list(curves.iter(ns + "line"))) >= 2      # global, centralized: dashed
for m in ["global", "local", "autonomous", "centralized", "fedavg"]:
    assert m in page, m
    assert "%.2f%%" % (100 * run[m]["mean_acc"]) in page, (m, run[m]["mean_acc"])
for h in ["Accuracy by method", "Accuracy per user", "Learning curves", "Cost on the device", "Per user", "Configuration"]:
    assert h in page, h
PYEOF

# rendering: the SVG with librsvg, the page with headless Chromium
COLORS=("#1f77b4" "#d62728" "#2ca02c" "#ff7f0e")
png_ok() { # file min-width: a decodable PNG with many colours, no colour covering all of it, each method colour present
    "$PY" "$SRC/tests/png_stats.py" "$1" "${COLORS[@]}" >"$1.json" || return 1
    "$PY" -c '
import json,sys; s=json.load(open(sys.argv[1])); w=int(sys.argv[2])
print("  %s: %dx%d, %d distinct pixel values, commonest %.0f%%" % (sys.argv[1].rsplit("/",1)[-1][:-5], s["width"], s["height"], s["distinct"], 100*s["most_common_share"]))
assert s["width"] >= w and s["height"] >= 300, s
assert s["distinct"] >= 20 and s["most_common_share"] < 0.95, s
assert all(n >= 200 for n in s["near"].values()), s["near"]' "$1.json" "$2"
}
if command -v rsvg-convert >/dev/null; then
    rsvg-convert -o "$TMP/s.png" "$TMP/s.svg" 2>"$TMP/err"
    check "rsvg-convert renders the scenario SVG" test -s "$TMP/s.png"
    check "the SVG's PNG is a picture" png_ok "$TMP/s.png" 900
else
    check "rsvg-convert is installed (scripts/deps.sh test: librsvg2-bin)" false
fi
CHROME=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [ -n "$CHROME" ]; then
    mkdir -p "$TMP/profile" "$TMP/home"
    SANDBOX=()
    [ "$(id -u)" -eq 0 ] && SANDBOX=(--no-sandbox)
    HOME=$TMP/home timeout 120 "$CHROME" --headless "${SANDBOX[@]}" --disable-gpu --disable-background-networking \
        --disable-component-update --disable-sync --no-first-run --user-data-dir="$TMP/profile" \
        --screenshot="$TMP/report.png" --window-size=1200,900 "file://$TMP/out/report.html" >"$TMP/chrome.log" 2>&1
    check "chromium renders the page (exit 0)" test $? -eq 0
    check "chromium wrote a screenshot" test -s "$TMP/report.png"
    check "the page's PNG is a picture" png_ok "$TMP/report.png" 1200
else
    check "chromium is installed (scripts/deps.sh test)" false
fi

# bad input: exit 1 with a message, no output file, an earlier file untouched
bad_json() { # name content
    printf '%s' "$2" >"$TMP/bad-$1.json"
    rm -f "$TMP/out/x.html" "$TMP/out/x.html.tmp"
    "$BIN" report "$TMP/bad-$1.json" -o "$TMP/out/x.html" >/dev/null 2>"$TMP/err"
    local rc=$?
    check "bad JSON ($1) exits 1 (got $rc)" test "$rc" -eq 1
    check "bad JSON ($1) says why" grep -q '^autlearn report: ' "$TMP/err"
    check "bad JSON ($1) leaves no output" test ! -e "$TMP/out/x.html" -a ! -e "$TMP/out/x.html.tmp"
}
head -c 1000 "$TMP/s.json" >"$TMP/trunc.json"
bad_json truncated "$(cat "$TMP/trunc.json")"
bad_json empty ""
bad_json spaces "   "
bad_json garbage $'\x01\x02\xff\xfe{'
bad_json trailing '{"scenario":"image"} x'
bad_json comma '{"scenario":"image",}'
bad_json nan '{"scenario":"image","global":{"per_user":[NaN]}}'
bad_json bigexp '{"scenario":"image","global":{"per_user":[1e999]}}'
bad_json leading0 '{"scenario":"image","global":{"per_user":[01]}}'
bad_json surrogate '{"scenario":"\ud800x"}'
bad_json badescape '{"scenario":"\q"}'
bad_json shortu '{"scenario":"\u12"}'
bad_json ctrl $'{"scenario":"a\tb"}'
bad_json unterminated '{"scenario":"image'
bad_json notobject '[1,2,3]'
bad_json noscenario '{"global":{"per_user":[0.5]}}'
bad_json nomethods '{"scenario":"image"}'
bad_json stringacc '{"scenario":"image","global":{"per_user":["0.5"]}}'
bad_json methodarray '{"scenario":"image","global":[0.5]}'
bad_json mismatch '{"scenario":"image","global":{"per_user":[0.5]},"local":{"per_user":[0.5,0.6]}}'
bad_json nesting "$("$PY" -c 'print("["*100000 + "]"*100000)')"
bad_json opens "$("$PY" -c 'print("{\"a\":"*5000)')"
# a bad run must not clobber an existing report
cp "$TMP/out/report.html" "$TMP/keep.html"
"$BIN" report "$TMP/bad-garbage.json" -o "$TMP/out/report.html" >/dev/null 2>&1
check "a failed report leaves the earlier file as it was" cmp -s "$TMP/keep.html" "$TMP/out/report.html"
"$BIN" report "$TMP/none.json" -o "$TMP/out/y.html" >/dev/null 2>"$TMP/err"
check "a missing input is a runtime error" test $? -eq 1
check "a missing input leaves no output" test ! -e "$TMP/out/y.html"
# the reader takes what it should: nulls and extra keys, unicode escapes
printf '%s' '{"scenario":"im\u00e9ge \ud83d\ude00 <b>","extra":[true,false,null,{"x":-1.5e-3}],"global":{"mean_acc":null,"per_user":[0.5,null]},"autonomous":{"mean_acc":0.75,"per_user":[1,0.5],"curve":[0.5,0.75]}}' >"$TMP/min.json"
"$BIN" report "$TMP/min.json" -o "$TMP/out/min.html" >/dev/null 2>"$TMP/err"
check "a minimal report with nulls and escapes renders" test $? -eq 0
check "strings from the file are escaped, escapes decoded" grep -q "imége 😀 &lt;b&gt;" "$TMP/out/min.html"

# usage errors: exit 2
for args in "report" "report $TMP/s.json" "report $TMP/s.json -o" "report $TMP/s.json -o $TMP/z.html --bogus" \
            "report a.json b.json -o $TMP/z.html"; do
    "$BIN" $args >/dev/null 2>"$TMP/err"
    rc=$?
    check "usage error ($args) exits 2 (got $rc)" test "$rc" -eq 2
done
check "no output after usage errors" test ! -e "$TMP/z.html"

tl_end
