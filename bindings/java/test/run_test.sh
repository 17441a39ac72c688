#!/usr/bin/env bash
# Runs the Java binding's test (ai.autlearn.BindingTest) in a JVM with
# -Xcheck:jni, which makes the JVM verify every JNI call the library makes;
# any JNI warning fails the test.
#   bash run_test.sh <java> <autlearn.jar> <test-classes dir> <libautlearn_jni.so>
set -u
JAVA=${1:?usage: run_test.sh <java> <jar> <test-classes> <jni-lib>}
JAR=${2:?}
CLASSES=${3:?}
LIB=${4:?}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/autlearn-java.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
export AL_THREADS=1
"$JAVA" -Xcheck:jni -Xmx256m -cp "$JAR:$CLASSES" -Dautlearn.library="$LIB" ai.autlearn.BindingTest "$TMP" \
    >"$TMP/out" 2>"$TMP/err"
rc=$?
cat "$TMP/out"
cat "$TMP/err" >&2
if grep -q "WARNING in native method\|FATAL ERROR in native method" "$TMP/out" "$TMP/err"; then
    echo "test_java: FAIL: -Xcheck:jni reported misuse of JNI" >&2
    exit 1
fi
if [ "$rc" -ne 0 ]; then
    echo "test_java: FAIL: the Java test exited with $rc" >&2
    exit 1
fi
grep -q "BindingTest: [0-9]* passed, 0 failed" "$TMP/out" || { echo "test_java: FAIL: no summary line" >&2; exit 1; }
echo "test_java: ok"
