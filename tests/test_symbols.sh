#!/usr/bin/env bash
# The device library keeps to its promises, read from its symbols (issue 13):
#   bash tests/test_symbols.sh <build-dir>/autlearn <source-dir>
# Reads, with nm, the libraries next to the given CLI: libautlearn.a and the
# real file behind libautlearn.so (libautlearn.so.0.x.y), and checks both:
#   cloud    the device library defines no symbol of the cloud library: no
#            global symbol that libautlearn_cloud.a defines (T/D/B/R/...), and
#            no name of the cloud's families (al_scenario_*, al_compress_*,
#            al_svd, al_compile*, al_quantize_* at compile time, al_users_*,
#            al_model_import_onnx*, al_sim_*, al_json_*, al_report_*, *_json,
#            *_svg, *html*, onnx__*, protobuf_c_*). In the .so every defined
#            symbol counts, the hidden ones too (-fvisibility=hidden makes
#            them local, they are still code of the library).
#   print    it never prints: its undefined symbols name no printf-family or
#            puts-family call, no perror/err/warn/error/syslog, no write or
#            writev, and not stdout or stderr themselves. The library writes
#            the files it opens (models, checkpoints, temp files) with fwrite
#            on a FILE from fopen/fdopen and with pwrite; it needs no fprintf,
#            fputs or fputc at all, so those are refused too. Without the
#            stdout/stderr objects no FILE call can reach the terminal, and a
#            pwrite to a terminal or pipe fails (ESPIPE).
#   exit     it never exits: no exit, _exit, _Exit, quick_exit, abort, raise,
#            pthread_exit, and no assert (__assert_fail aborts). kill is
#            referenced: gguf.c probes with kill(pid, 0) whether the writer
#            of a stale temp file still runs (signal 0 sends nothing).
# In a sanitizer build (AL_SANITIZE=ON, or AL_FUZZ=ON) the instrumented code
# also references the sanitizer runtime (__asan_*, __ubsan_*_abort, ...),
# which reports and aborts by design; those names are set aside there and
# everything else is checked in full. In a plain build they must be absent.
# Hardening that the toolchain may add (__stack_chk_fail, __*_chk other than
# the printf family) is set aside the same way.
# The checks prove they can fail: the cloud library itself must be caught
# defining al_svd, and a small archive and shared object built here with a
# cloud name, printf, fprintf(stderr), puts, exit and abort must be caught on
# each. Exits 1 if any check fails; a violation names the symbol, the object
# file and the function that references it.
set -u

BIN=${1:?usage: test_symbols.sh <autlearn-binary> <source-dir>}
SRC=${2:?usage: test_symbols.sh <autlearn-binary> <source-dir>}
BUILD=$(cd "$(dirname "$BIN")" && pwd)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/autlearn-symbols.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
: "$SRC"

pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() {
    fail=$((fail + 1))
    echo "FAIL: $*" >&2
}

for tool in nm objdump ar; do
    command -v "$tool" >/dev/null || { echo "test_symbols: $tool not found (binutils)" >&2; exit 1; }
done
cache() { sed -n "s/^$1:[A-Z]*=//p" "$BUILD/CMakeCache.txt" 2>/dev/null; }
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
    echo "test_symbols: $BUILD is not a CMake build directory" >&2
    exit 1
fi
CC_BUILD=$(cache CMAKE_C_COMPILER)

DEV_A=$BUILD/libautlearn.a
DEV_SO=$(readlink -f "$BUILD/libautlearn.so" 2>/dev/null || true)
CLOUD_A=$BUILD/libautlearn_cloud.a
for f in "$DEV_A" "$DEV_SO" "$CLOUD_A"; do
    if [ -n "$f" ] && [ -f "$f" ]; then ok; else
        echo "test_symbols: missing ${f:-$BUILD/libautlearn.so} (build the libraries first)" >&2
        exit 1
    fi
done

SANITIZED=0
if [ "$(cache AL_SANITIZE)" = ON ] || [ "$(cache AL_FUZZ)" = ON ]; then SANITIZED=1; fi

# ---- the rules ------------------------------------------------------------------------
# names of the cloud's families (extended regular expression), and the device
# names they would catch by accident: al_quantize_row_* is the int8 runtime's
# quantization of activations at run time (kernels.h)
CLOUD_RE='^(al_scenario_|al_compress_|al_svd|al_compile|al_quantize_|al_users_|al_model_import_onnx|al_sim_|al_json_|al_report_|al_method_names$|onnx__|protobuf_c_)|_json$|_svg$|html'
CLOUD_ALLOW_RE='^al_quantize_row_'
PRINT_RE='^(printf|vprintf|fprintf|vfprintf|dprintf|vdprintf|wprintf|vwprintf|fwprintf|vfwprintf|__(v?f?|v?d)printf_chk|__(v?f?)wprintf_chk|puts|fputs|fputs_unlocked|putchar|putchar_unlocked|putc|putc_unlocked|_IO_putc|fputc|fputc_unlocked|__overflow|putw|putwchar|fputwc|fputws|putwc|perror|psignal|psiginfo|herror|err|errx|verr|verrx|warn|warnx|vwarn|vwarnx|error|error_at_line|syslog|vsyslog|__syslog_chk|__vsyslog_chk|write|writev|stdout|stderr|_IO_2_1_stdout_|_IO_2_1_stderr_|_IO_stdout_|_IO_stderr_)$'
EXIT_RE='^(exit|_exit|_Exit|quick_exit|abort|raise|pthread_exit|__assert_fail|__assert_perror_fail|__assert)$'
SANITIZER_RE='^__(asan|ubsan|lsan|tsan|msan|sanitizer|sancov)_'
HARDENING_RE='^(__stack_chk_fail|__stack_chk_guard|__chk_fail|__[a-z0-9_]+_chk)$'

# syms FILE defined|undefined: "name<TAB>object" per symbol. An archive names
# its member; a shared object names itself. Defined: in an archive the global
# ones (upper-case nm types but U), in a shared object every one in its
# symbol table (hidden symbols are local there), the dynamic table when it
# is stripped. Undefined: U and weak-undefined (w, v); versions (@GLIBC_..)
# are cut off.
syms() {
    local file=$1 which=$2
    case "$file" in
    *.a)
        if [ "$which" = defined ]; then nm -A --defined-only "$file" 2>/dev/null; else nm -A --undefined-only "$file" 2>/dev/null; fi
        ;;
    *)
        if [ "$which" = defined ]; then
            nm -A --defined-only "$file" 2>/dev/null || nm -A -D --defined-only "$file" 2>/dev/null
        else
            nm -A -D --undefined-only "$file" 2>/dev/null
        fi
        ;;
    esac | awk -v path="$file" -v which="$which" -v archive="$([ "${file%.a}" != "$file" ] && echo 1)" '
        NF >= 2 {
            where = $1; type = $(NF - 1); name = $NF
            sub(/:[0-9a-fA-F]*$/, "", where)
            if (index(where, path ":") == 1) where = substr(where, length(path) + 2)
            sub(/@.*/, "", name)
            if (which == "defined" && archive && type !~ /^[A-TV-Z]$/) next
            if (which == "undefined" && type !~ /^[Uwv]$/) next
            print name "\t" where
        }' | sort -u
}

# caller OBJ_IN_ARCHIVE ARCHIVE SYM: the functions in that object that reference SYM
caller() {
    local obj=$1 archive=$2 sym=$3 dir
    dir=$TMP/x.$RANDOM
    mkdir -p "$dir" && (cd "$dir" && ar x "$archive" "$obj" 2>/dev/null)
    [ -f "$dir/$obj" ] || { echo "?"; return; }
    objdump -dr --no-show-raw-insn "$dir/$obj" 2>/dev/null | awk -v s="$sym" '
        /^[0-9a-f]+ <.*>:$/ { fn = $2; gsub(/[<>:]/, "", fn) }
        /R_[A-Z0-9_]+/ { r = $NF; sub(/[-+]0x[0-9a-f]+$/, "", r); sub(/@.*/, "", r); if (r == s && fn != "") seen[fn] = 1 }
        END { n = 0; for (f in seen) { printf "%s%s", (n++ ? ", " : ""), f } if (!n) printf "?"; print "" }'
    rm -rf "$dir"
}

# check LIB CLOUD_SET_FILE: prints one line per violation, "rule: symbol (where)"
check() {
    local lib=$1 cloud_set=$2 name where
    syms "$lib" defined >"$TMP/def"
    syms "$lib" undefined >"$TMP/undef"
    # cloud: a cloud global defined here, or a cloud family's name
    cut -f1 "$TMP/def" | sort -u | comm -12 - "$cloud_set" | while read -r name; do
        echo "cloud: $name (defined in $(awk -F'\t' -v n="$name" '$1 == n { print $2 }' "$TMP/def" | paste -sd, -))"
    done
    while IFS=$'\t' read -r name where; do
        if [[ $name =~ $CLOUD_RE ]] && ! [[ $name =~ $CLOUD_ALLOW_RE ]]; then
            echo "cloud-name: $name (defined in $where)"
        fi
    done <"$TMP/def"
    # print, exit: what the library calls
    while IFS=$'\t' read -r name where; do
        local rule=""
        if [[ $name =~ $SANITIZER_RE ]]; then
            [ "$SANITIZED" = 1 ] && continue
            rule="sanitizer runtime in a plain build"
        elif [[ $name =~ $PRINT_RE ]]; then
            rule="print"
        elif [[ $name =~ $EXIT_RE ]]; then
            rule="exit"
        elif [[ $name =~ $HARDENING_RE ]]; then
            continue
        fi
        [ -n "$rule" ] || continue
        case "$lib" in
        *.a) echo "$rule: $name (referenced in $where by $(caller "$where" "$lib" "$name"))" ;;
        *) echo "$rule: $name (referenced by $(basename "$lib"))" ;;
        esac
    done <"$TMP/undef"
}

# ---- the cloud library's globals ----------------------------------------------------------
syms "$CLOUD_A" defined | cut -f1 | sort -u >"$TMP/cloud_set"
n_cloud=$(wc -l <"$TMP/cloud_set")
if [ "$n_cloud" -ge 50 ] && grep -qx al_svd "$TMP/cloud_set" && grep -qx al_scenario_image "$TMP/cloud_set"; then ok; else
    bad "libautlearn_cloud.a: $n_cloud global symbols read, al_svd/al_scenario_image not among them (nm parsing broken?)"
fi

# ---- the device library, static and shared ----------------------------------------------------
[ "$SANITIZED" = 1 ] && echo "test_symbols: sanitizer build: references to the sanitizer runtime (__asan_*, __ubsan_*, ...) are set aside; every other symbol is checked"
for lib in "$DEV_A" "$DEV_SO"; do
    n_def=$(syms "$lib" defined | wc -l)
    n_undef=$(syms "$lib" undefined | wc -l)
    # something was read: the library defines its API and calls libc
    if [ "$n_def" -ge 100 ] && [ "$n_undef" -ge 20 ] && syms "$lib" defined | cut -f1 | grep -qx al_model_save &&
        syms "$lib" undefined | cut -f1 | grep -qx fwrite; then
        ok
    else
        bad "$(basename "$lib"): read $n_def defined and $n_undef undefined symbols, expected al_model_save and fwrite among them"
    fi
    check "$lib" "$TMP/cloud_set" >"$TMP/violations"
    if [ -s "$TMP/violations" ]; then
        bad "$(basename "$lib") breaks the device library's rules:"
        sed 's/^/    /' "$TMP/violations" >&2
    else
        ok
        echo "test_symbols: $(basename "$lib"): $n_def defined, $n_undef undefined symbols: no cloud symbol, no print, no exit"
    fi
done

# ---- the checks can fail ------------------------------------------------------------------
# the cloud library breaks the cloud rule (it is the cloud)
check "$CLOUD_A" "$TMP/cloud_set" >"$TMP/violations"
if grep -q '^cloud: al_svd ' "$TMP/violations" && grep -q '^cloud-name: al_svd ' "$TMP/violations"; then ok; else
    bad "the check does not catch al_svd in libautlearn_cloud.a"
fi
# a library that prints, exits and defines a cloud name, as an archive and as
# a shared object
cat >"$TMP/bad.c" <<'EOF'
#include <stdio.h>
#include <stdlib.h>
int al_svd(int n) { return n + 1; }
void al_bad_print(int n) { printf("%d\n", n); fprintf(stderr, "n=%d\n", n); puts("x"); }
void al_bad_exit(int n) { if (n) exit(n); abort(); }
EOF
if [ -n "$CC_BUILD" ] && "$CC_BUILD" -O1 -fPIC -c "$TMP/bad.c" -o "$TMP/bad.o" >"$TMP/log" 2>&1 &&
    ar rcs "$TMP/libbad.a" "$TMP/bad.o" && "$CC_BUILD" -shared -o "$TMP/libbad.so" "$TMP/bad.o" >>"$TMP/log" 2>&1; then
    for lib in "$TMP/libbad.a" "$TMP/libbad.so"; do
        check "$lib" "$TMP/cloud_set" >"$TMP/violations"
        missing=""
        for want in '^cloud: al_svd ' '^cloud-name: al_svd ' '^print: (printf|__printf_chk) ' '^print: stderr ' \
            '^print: puts ' '^exit: exit ' '^exit: abort '; do
            grep -Eq "$want" "$TMP/violations" || missing="$missing $want"
        done
        case "$lib" in *.a) grep -q 'referenced in bad.o by al_bad_exit' "$TMP/violations" || missing="$missing caller" ;; esac
        if [ -z "$missing" ]; then ok; else
            bad "$(basename "$lib"): the check missed:$missing"
            sed 's/^/    /' "$TMP/violations" >&2
        fi
    done
else
    bad "could not build the counter-example library with '$CC_BUILD'"
    sed 's/^/    /' "$TMP/log" >&2
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
