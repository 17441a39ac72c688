#!/usr/bin/env bash
# The installed copy works for a program outside the tree.
#   bash tests/test_install.sh <build-dir>/autlearn <source-dir>
# Installs the build that holds the given CLI into a temporary prefix
# (cmake --install), checks the files, then builds tests/install/app.c against
# that prefix four ways and runs each: pkg-config with the shared and with the
# static library, and find_package(autlearn) with autlearn::autlearn and
# autlearn::autlearn_static. In a sanitizer build (AL_SANITIZE=ON) the library
# is instrumented, so the program is built with the same compiler and
# -fsanitize flags. Exits 1 if any check fails.
set -u

BIN=${1:?usage: test_install.sh <autlearn-binary> <source-dir>}
SRC=${2:?usage: test_install.sh <autlearn-binary> <source-dir>}
BUILD=$(cd "$(dirname "$BIN")" && pwd)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/autlearn-install.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
export AL_THREADS=1

pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() {
    fail=$((fail + 1))
    echo "FAIL: $*" >&2
    [ -s "$TMP/log" ] && sed 's/^/    /' "$TMP/log" | tail -15 >&2
}

cache() { sed -n "s/^$1:[A-Z]*=//p" "$BUILD/CMakeCache.txt"; }
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
    echo "test_install: $BUILD is not a CMake build directory" >&2
    exit 1
fi
CC_BUILD=$(cache CMAKE_C_COMPILER)
CFLAGS_APP=""
if [ "$(cache AL_SANITIZE)" = ON ]; then
    CFLAGS_APP="-fsanitize=address,undefined -fno-sanitize-recover=all"
    echo "test_install: sanitizer build: the programs are built with $CFLAGS_APP"
fi

# ---- install ------------------------------------------------------------------
P=$TMP/prefix
if cmake --install "$BUILD" --prefix "$P" >"$TMP/log" 2>&1; then ok; else bad "cmake --install"; fi
LIBDIR=$(dirname "$(find "$P" -name libautlearn.a | head -1)")
for f in include/autlearn.h bin/autlearn; do
    if [ -f "$P/$f" ]; then ok; else bad "missing $f"; fi
done
for f in libautlearn.a libautlearn.so libautlearn.so.0 pkgconfig/autlearn.pc cmake/autlearn/autlearnConfig.cmake \
    cmake/autlearn/autlearnConfigVersion.cmake cmake/autlearn/autlearnTargets.cmake; do
    if [ -e "$LIBDIR/$f" ]; then ok; else bad "missing <libdir>/$f"; fi
done
if [ -L "$LIBDIR/libautlearn.so" ] && [ -L "$LIBDIR/libautlearn.so.0" ]; then ok; else bad "soname links"; fi
if readelf -d "$LIBDIR/libautlearn.so" 2>/dev/null | grep -q 'SONAME.*libautlearn\.so\.0\]'; then ok; else
    bad "SONAME of libautlearn.so is not libautlearn.so.0"
fi
# the installed CLI runs
if "$P/bin/autlearn" --help >"$TMP/log" 2>&1; then ok; else bad "installed autlearn --help"; fi
# the installed header compiles on its own, warning-free
printf '#include <autlearn.h>\nint main(void) { return al_version() == 0; }\n' >"$TMP/h.c"
if "$CC_BUILD" -std=c11 -Wall -Wextra -Wpedantic -Werror -I"$P/include" -c "$TMP/h.c" -o "$TMP/h.o" >"$TMP/log" 2>&1; then
    ok
else
    bad "the installed header does not compile cleanly"
fi

# run_app DESC EXE: runs it, expects "ok <version> ..." and a model file
run_app() {
    rm -f "$TMP/model.gguf"
    if "$2" "$TMP/model.gguf" >"$TMP/log" 2>&1 && grep -q '^ok 0\.' "$TMP/log" && [ -s "$TMP/model.gguf" ]; then
        ok
    else
        bad "$1: the program failed"
    fi
}

# ---- pkg-config -----------------------------------------------------------------
export PKG_CONFIG_PATH=$LIBDIR/pkgconfig
if [ "$(pkg-config --modversion autlearn 2>&1)" = "$(cache CMAKE_PROJECT_VERSION)" ]; then ok; else
    bad "pkg-config --modversion autlearn: $(pkg-config --modversion autlearn 2>&1)"
fi
case "$(pkg-config --variable=prefix autlearn)" in
    "$P") ok ;;
    *) bad "autlearn.pc prefix is $(pkg-config --variable=prefix autlearn), not $P" ;;
esac
# shared: the usual link line, plus an rpath since the prefix is not a system one
# shellcheck disable=SC2046,SC2086
if "$CC_BUILD" $CFLAGS_APP "$SRC/tests/install/app.c" -o "$TMP/app_pc_shared" $(pkg-config --cflags --libs autlearn) \
    -Wl,-rpath,"$LIBDIR" >"$TMP/log" 2>&1; then
    ok
    if readelf -d "$TMP/app_pc_shared" | grep -q 'NEEDED.*libautlearn\.so\.0'; then ok; else bad "pkg-config shared: libautlearn.so.0 not NEEDED"; fi
    run_app "pkg-config shared" "$TMP/app_pc_shared"
else
    bad "pkg-config shared: build"
fi
# static: the archive by name, then what it needs (pkg-config --static)
STATIC_LIBS=$(pkg-config --static --libs autlearn)
STATIC_LIBS=${STATIC_LIBS/-lautlearn/-Wl,-Bstatic -lautlearn -Wl,-Bdynamic}
# shellcheck disable=SC2046,SC2086
if "$CC_BUILD" $CFLAGS_APP "$SRC/tests/install/app.c" -o "$TMP/app_pc_static" $(pkg-config --cflags autlearn) \
    $STATIC_LIBS >"$TMP/log" 2>&1; then
    ok
    if readelf -d "$TMP/app_pc_static" | grep -q 'NEEDED.*libautlearn'; then bad "pkg-config static: still needs libautlearn.so"; else ok; fi
    run_app "pkg-config static" "$TMP/app_pc_static"
else
    bad "pkg-config static: build"
fi

# ---- find_package(autlearn) ---------------------------------------------------------
if cmake -S "$SRC/tests/install" -B "$TMP/consumer" -DCMAKE_PREFIX_PATH="$P" -DCMAKE_C_COMPILER="$CC_BUILD" \
    -DCMAKE_C_FLAGS="$CFLAGS_APP" -DCMAKE_BUILD_TYPE=Release >"$TMP/log" 2>&1 &&
    cmake --build "$TMP/consumer" -j 2 >"$TMP/log" 2>&1; then
    ok
    if readelf -d "$TMP/consumer/app_shared" | grep -q 'NEEDED.*libautlearn\.so\.0'; then ok; else bad "find_package: autlearn::autlearn is not the shared library"; fi
    if readelf -d "$TMP/consumer/app_static" | grep -q 'NEEDED.*libautlearn'; then bad "find_package: autlearn::autlearn_static needs libautlearn.so"; else ok; fi
    run_app "find_package autlearn::autlearn" "$TMP/consumer/app_shared"
    run_app "find_package autlearn::autlearn_static" "$TMP/consumer/app_static"
else
    bad "find_package(autlearn): configure or build"
fi
# a version the package does not offer is refused
mkdir -p "$TMP/v2"
printf 'cmake_minimum_required(VERSION 3.18)\nproject(v C)\nfind_package(autlearn 1.0 REQUIRED)\n' >"$TMP/v2/CMakeLists.txt"
if cmake -S "$TMP/v2" -B "$TMP/v2/b" -DCMAKE_PREFIX_PATH="$P" >"$TMP/log" 2>&1; then
    bad "find_package(autlearn 1.0) accepted version $(cache CMAKE_PROJECT_VERSION)"
else
    ok
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
