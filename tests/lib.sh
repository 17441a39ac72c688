# Shared by the shell tests (tests/test_*.sh), which CTest runs as
#   bash tests/test_NAME.sh <autlearn binary> <source dir>
# A test sources this file and calls `tl_init NAME "$@"`, which sets BIN (the
# binary, absolute), SRC (the source tree), PY (Debian's python3), TMP (a
# private directory removed at exit) and AL_THREADS=1. Then:
#   ok / bad MSG           count a passed / failed check (bad prints MSG and
#                          the head of $TMP/err)
#   check DESC CMD...      a plain assertion
#   run ARGS...            runs the binary: stdout in $TMP/out, stderr in
#                          $TMP/err, status in $rc
#   sanitizer_report       true when $TMP/err holds a sanitizer report
#   expect_ok DESC ARGS... the binary succeeds without a sanitizer report
#   tl_end                 the closing "test_NAME: N passed, N failed" line and the
#                          exit status
tl_init() {
    TL_NAME=$1
    BIN=$(readlink -f "${2:?usage: test_$1.sh <autlearn binary> <source dir>}")
    SRC=${3:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
    PY=/usr/bin/python3
    [ -x "$PY" ] || PY=python3
    TMP=$(mktemp -d "${TMPDIR:-/tmp}/autlearn-$1.XXXXXX")
    trap 'rm -rf "$TMP"' EXIT
    export AL_THREADS=1
    pass=0
    fail=0
}

ok() { pass=$((pass + 1)); }

bad() {
    fail=$((fail + 1))
    echo "FAIL: $*" >&2
    if [ -s "$TMP/err" ]; then sed 's/^/    stderr: /' "$TMP/err" | head -5 >&2; fi
}

check() {
    local desc=$1
    shift
    if "$@"; then ok; else bad "$desc"; fi
}

run() {
    "$BIN" "$@" >"$TMP/out" 2>"$TMP/err"
    rc=$?
}

sanitizer_report() { grep -qE 'AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:' "$TMP/err"; }

expect_ok() {
    local desc=$1
    shift
    run "$@"
    if [ "$rc" -ne 0 ]; then
        bad "$desc: exit $rc, expected 0"
    elif sanitizer_report; then
        bad "$desc: sanitizer report"
    else
        ok
    fi
}

# expect_fail DESC CODE ARGS...: CODE is the exact expected status, or 'any'
# for any status in 1..127. A message starting with "$TL_MSG" is required
# (default "autlearn"; a test of one command may set it to "autlearn CMD").
expect_fail() {
    local desc=$1 code=$2
    shift 2
    run "$@"
    if [ "$rc" -eq 0 ]; then
        bad "$desc: succeeded, expected failure"
    elif [ "$rc" -ge 128 ]; then
        bad "$desc: exit $rc (crash or signal)"
    elif [ "$code" != any ] && [ "$rc" -ne "$code" ]; then
        bad "$desc: exit $rc, expected $code"
    elif ! grep -q "^${TL_MSG:-autlearn}" "$TMP/err"; then
        bad "$desc: no '${TL_MSG:-autlearn} ...' message on stderr"
    elif sanitizer_report; then
        bad "$desc: sanitizer report"
    else
        ok
    fi
}

tl_end() {
    echo "test_$TL_NAME: $pass passed, $fail failed"
    [ "$fail" -eq 0 ]
}
