#!/usr/bin/env bash
# The installed copy works for a program outside the tree.
#   bash tests/test_install.sh <build-dir>/autlearn <source-dir>
# Installs the build that holds the given CLI into a temporary prefix
# (cmake --install), checks the files, then builds and runs against that prefix:
#   the device app (tests/install/app.c, autlearn.h only) four ways: pkg-config
#     autlearn with the shared and with the static library, find_package(autlearn)
#     with autlearn::autlearn and autlearn::autlearn_static; and once more,
#     static and shared, from a copy of the prefix with the cloud library and
#     its header and .pc file deleted. It links the device library alone: no
#     link line names libautlearn_cloud and no binary holds or needs a symbol
#     that libautlearn_cloud.a defines;
#   the cloud app (tests/install/cloud_app.c, autlearn_cloud.h: al_users_split,
#     al_quantize_frozen, the ONNX importer, on top of the device API) two ways:
#     pkg-config autlearn_cloud and find_package -> autlearn::autlearn_cloud.
#     When the cloud library was built with ONNX import it needs protobuf-c,
#     which autlearn_cloud.pc (Requires) and the exported target
#     (autlearn::protobuf_c) must bring along.
# In a sanitizer build (AL_SANITIZE=ON) the library is instrumented, so the
# programs are built with the same compiler and -fsanitize flags. Exits 1 if
# any check fails.
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
for f in include/autlearn.h include/autlearn_cloud.h bin/autlearn; do
    if [ -f "$P/$f" ]; then ok; else bad "missing $f"; fi
done
for f in libautlearn.a libautlearn.so libautlearn.so.0 libautlearn_cloud.a pkgconfig/autlearn.pc \
    pkgconfig/autlearn_cloud.pc cmake/autlearn/autlearnConfig.cmake \
    cmake/autlearn/autlearnConfigVersion.cmake cmake/autlearn/autlearnTargets.cmake; do
    if [ -e "$LIBDIR/$f" ]; then ok; else bad "missing <libdir>/$f"; fi
done
if [ -L "$LIBDIR/libautlearn.so" ] && [ -L "$LIBDIR/libautlearn.so.0" ]; then ok; else bad "soname links"; fi
if readelf -d "$LIBDIR/libautlearn.so" 2>/dev/null | grep -q 'SONAME.*libautlearn\.so\.0\]'; then ok; else
    bad "SONAME of libautlearn.so is not libautlearn.so.0"
fi
# the installed CLI runs
if "$P/bin/autlearn" --help >"$TMP/log" 2>&1; then ok; else bad "installed autlearn --help"; fi
# the installed headers compile on their own, warning-free
for h in autlearn.h autlearn_cloud.h; do
    printf '#include <%s>\nint main(void) { return al_version() == 0; }\n' "$h" >"$TMP/h.c"
    if "$CC_BUILD" -std=c11 -Wall -Wextra -Wpedantic -Werror -I"$P/include" -c "$TMP/h.c" -o "$TMP/h.o" >"$TMP/log" 2>&1; then
        ok
    else
        bad "the installed $h does not compile cleanly"
    fi
done
# the device header does not pull in the cloud one
if grep -Eq '^[[:space:]]*#[[:space:]]*include.*autlearn_cloud' "$P/include/autlearn.h"; then bad "autlearn.h includes autlearn_cloud.h"; else ok; fi

# what the cloud library defines (its global symbols), and whether it needs
# protobuf-c (ONNX import built)
nm --defined-only "$LIBDIR/libautlearn_cloud.a" 2>/dev/null | awk 'NF == 3 && $2 ~ /^[A-TV-Z]$/ { print $3 }' |
    sort -u >"$TMP/cloud_syms"
if [ "$(wc -l <"$TMP/cloud_syms")" -ge 50 ] && grep -qx al_users_split "$TMP/cloud_syms"; then ok; else
    bad "nm read $(wc -l <"$TMP/cloud_syms") symbols of libautlearn_cloud.a, al_users_split not among them"
fi
NEEDS_PBC=0
if nm --undefined-only "$LIBDIR/libautlearn_cloud.a" 2>/dev/null | grep -q ' protobuf_c_'; then NEEDS_PBC=1; fi

# no_cloud DESC EXE: the program neither holds nor needs a symbol of the cloud library
no_cloud() {
    local hits
    hits=$({ nm --defined-only "$2" 2>/dev/null; nm -D --undefined-only "$2" 2>/dev/null; } |
        awk 'NF >= 2 { n = $NF; sub(/@.*/, "", n); print n }' | sort -u | comm -12 - "$TMP/cloud_syms" | head -5 | paste -sd' ' -)
    if [ -z "$hits" ]; then ok; else bad "$1: the device app has cloud symbols: $hits"; fi
}
# has_cloud DESC EXE: the cloud app does hold them (the check above can see them)
has_cloud() {
    if nm --defined-only "$2" 2>/dev/null | awk '{ print $NF }' | grep -qx al_users_split; then ok; else
        bad "$1: al_users_split not found in the cloud app (nm)"
    fi
}

# run_app DESC EXE: runs it, expects "ok <version> ..." and a model file
run_app() {
    rm -f "$TMP/model.gguf"
    if "$2" "$TMP/model.gguf" >"$TMP/log" 2>&1 && grep -q '^ok 0\.' "$TMP/log" && [ -s "$TMP/model.gguf" ]; then
        ok
    else
        bad "$1: the program failed"
    fi
}

# run_cloud_app DESC EXE: runs it, expects "ok <version> ... onnx=built" when
# the library was built with ONNX import, and a model file
run_cloud_app() {
    rm -f "$TMP/cloud.gguf"
    local want='^ok 0\..* onnx=not built$'
    [ "$NEEDS_PBC" = 1 ] && want='^ok 0\..* onnx=built$'
    if "$2" "$TMP/cloud.gguf" >"$TMP/log" 2>&1 && grep -q "$want" "$TMP/log" && [ -s "$TMP/cloud.gguf" ]; then
        ok
    else
        bad "$1: the cloud program failed"
    fi
}

# ---- pkg-config -----------------------------------------------------------------
export PKG_CONFIG_PATH=$LIBDIR/pkgconfig
for pc in autlearn autlearn_cloud; do
    if [ "$(pkg-config --modversion $pc 2>&1)" = "$(cache CMAKE_PROJECT_VERSION)" ]; then ok; else
        bad "pkg-config --modversion $pc: $(pkg-config --modversion $pc 2>&1)"
    fi
    case "$(pkg-config --variable=prefix $pc)" in
        "$P") ok ;;
        *) bad "$pc.pc prefix is $(pkg-config --variable=prefix $pc), not $P" ;;
    esac
done
# the device library's link lines name it alone
case "$(pkg-config --libs autlearn) $(pkg-config --static --libs autlearn)" in
    *autlearn_cloud* | *protobuf*) bad "pkg-config autlearn names the cloud library: $(pkg-config --static --libs autlearn)" ;;
    *) ok ;;
esac
# the cloud library brings protobuf-c along when it needs it
if [ "$NEEDS_PBC" = 1 ]; then
    case " $(pkg-config --libs autlearn_cloud) " in
        *" -lprotobuf-c "*) ok ;;
        *) bad "libautlearn_cloud.a needs protobuf-c; pkg-config --libs autlearn_cloud does not name it" ;;
    esac
fi
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
    no_cloud "pkg-config static" "$TMP/app_pc_static"
else
    bad "pkg-config static: build"
fi
[ -f "$TMP/app_pc_shared" ] && no_cloud "pkg-config shared" "$TMP/app_pc_shared"
# the cloud app: the cloud library, the static device library under it, protobuf-c
# shellcheck disable=SC2046,SC2086
if "$CC_BUILD" $CFLAGS_APP "$SRC/tests/install/cloud_app.c" -o "$TMP/cloud_pc" \
    $(pkg-config --cflags --libs autlearn_cloud) >"$TMP/log" 2>&1; then
    ok
    if readelf -d "$TMP/cloud_pc" | grep -q 'NEEDED.*libautlearn'; then bad "pkg-config cloud: needs libautlearn.so"; else ok; fi
    has_cloud "pkg-config cloud" "$TMP/cloud_pc"
    run_cloud_app "pkg-config autlearn_cloud" "$TMP/cloud_pc"
else
    bad "pkg-config autlearn_cloud: build"
fi

# ---- the device app without the cloud library -----------------------------------------
# a copy of the prefix with no trace of the cloud library: the device app
# still builds and runs, static and shared
D=$TMP/device-prefix
cp -a "$P" "$D"
DLIBDIR=$D/${LIBDIR#"$P"/}
rm -f "$D/include/autlearn_cloud.h" "$DLIBDIR/libautlearn_cloud.a" "$DLIBDIR/pkgconfig/autlearn_cloud.pc"
sed -i "s|^prefix=.*|prefix=$D|" "$DLIBDIR/pkgconfig/autlearn.pc"
DSTATIC=$(PKG_CONFIG_PATH=$DLIBDIR/pkgconfig pkg-config --static --libs autlearn)
DSTATIC=${DSTATIC/-lautlearn/-Wl,-Bstatic -lautlearn -Wl,-Bdynamic}
# shellcheck disable=SC2046,SC2086
if "$CC_BUILD" $CFLAGS_APP "$SRC/tests/install/app.c" -o "$TMP/app_dev_static" \
    $(PKG_CONFIG_PATH=$DLIBDIR/pkgconfig pkg-config --cflags autlearn) $DSTATIC >"$TMP/log" 2>&1; then
    ok
    run_app "device prefix, static" "$TMP/app_dev_static"
    no_cloud "device prefix, static" "$TMP/app_dev_static"
else
    bad "device app, static, without the cloud library: build"
fi
# shellcheck disable=SC2046,SC2086
if "$CC_BUILD" $CFLAGS_APP "$SRC/tests/install/app.c" -o "$TMP/app_dev_shared" \
    $(PKG_CONFIG_PATH=$DLIBDIR/pkgconfig pkg-config --cflags --libs autlearn) -Wl,-rpath,"$DLIBDIR" >"$TMP/log" 2>&1; then
    ok
    run_app "device prefix, shared" "$TMP/app_dev_shared"
    no_cloud "device prefix, shared" "$TMP/app_dev_shared"
else
    bad "device app, shared, without the cloud library: build"
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
    for a in app_shared app_static; do
        if grep -qs 'autlearn_cloud\|protobuf' "$TMP/consumer/CMakeFiles/$a.dir/link.txt"; then
            bad "find_package: $a's link line names the cloud library or protobuf-c"
        else
            ok
        fi
        no_cloud "find_package $a" "$TMP/consumer/$a"
    done
    if readelf -d "$TMP/consumer/cloud_app" | grep -q 'NEEDED.*libautlearn'; then bad "find_package: autlearn::autlearn_cloud needs libautlearn.so"; else ok; fi
    if [ "$NEEDS_PBC" = 1 ]; then
        if grep -qs 'protobuf-c' "$TMP/consumer/CMakeFiles/cloud_app.dir/link.txt"; then ok; else
            bad "find_package: autlearn::autlearn_cloud does not bring protobuf-c along"
        fi
    fi
    has_cloud "find_package autlearn::autlearn_cloud" "$TMP/consumer/cloud_app"
    run_cloud_app "find_package autlearn::autlearn_cloud" "$TMP/consumer/cloud_app"
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
