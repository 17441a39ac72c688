#!/usr/bin/env bash
# Privacy: the device path cannot talk to a network, and writes only where
# the caller says, owner-only.
#  (a) the library (static and shared) and the CLI import no socket-family,
#      name-resolution, raw-syscall, dynamic-loading or process-spawning
#      function, and link no library beyond libc/libm/libz/pthreads, the
#      image decoders libjpeg and libpng (docs/DATA.md; they import no such
#      function either) and the sanitizer runtimes in a sanitizer build;
#  (b) a whole `autlearn personalize` run under `strace -f -e trace=%network`
#      makes no network system call (strace is checked first on a process
#      that does open a socket: no tracing, e.g. ptrace denied, is a FAILURE,
#      never a skip);
#  (c) the same run under `strace -f -e trace=%file`, from an empty working
#      directory with HOME and TMPDIR pointing at empty directories and
#      umask 000, with the runtime cache spilling to a file next to the
#      output (--cache-mb 0 --cache-spill): every file it creates, writes,
#      renames or removes is under the --out directory; the spill file is
#      created owner-only and removed at the end, even when a symlink to
#      elsewhere sat at its path; afterwards that directory holds only the
#      personal model, with mode 0600; the working directory, HOME and
#      TMPDIR are still empty.
#   bash tests/test_privacy.sh <path-to-autlearn> <source-dir>
set -u
BIN=$(readlink -f "${1:?usage: test_privacy.sh <autlearn> <source-dir>}")
SRC=${2:?usage: test_privacy.sh <autlearn> <source-dir>}
LIBDIR=$(dirname "$BIN")
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
TMP=$(mktemp -d "${TMPDIR:-/tmp}/autlearn-priv.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
export AL_THREADS=2
pass=0
fail=0
check() {
    local desc=$1
    shift
    if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $desc" >&2; fi
}

# ---- (a) imports ---------------------------------------------------------------
# Undefined symbols of an object, one name a line, without @VERSION.
imports() { nm "$@" 2>/dev/null | awk '$1 == "U" { sub(/@.*/, "", $2); print $2 }' | sort -u; }
FORBIDDEN='^(socket|socketpair|connect|bind|listen|accept|accept4|send|sendto|sendmsg|sendmmsg|recv|recvfrom|recvmsg|recvmmsg|shutdown|getsockopt|setsockopt|getsockname|getpeername|getaddrinfo|getaddrinfo_a|freeaddrinfo|getnameinfo|gethostbyname|gethostbyname2|gethostbyname_r|gethostbyname2_r|gethostbyaddr|gethostbyaddr_r|gethostent|getservbyname|getservbyport|getprotobyname|inet_pton|inet_ntop|inet_addr|inet_aton|inet_ntoa|if_nametoindex|if_nameindex|res_init|res_query|res_search|res_nquery|res_nsearch|__res_init|__res_query|__res_search|syscall|dlopen|dlsym|dlvsym|dlmopen|fork|vfork|clone|clone3|system|popen|posix_spawn|posix_spawnp|execl|execlp|execle|execv|execvp|execvpe|execve|fexecve|curl_.*|SSL_.*|BIO_.*)$'
check_imports() {
    local what=$1 list=$2
    check "nm lists the imports of $what (fopen or open among them)" grep -qxE '(fopen|fopen64|open|open64|gzopen)' "$list"
    local bad
    bad=$(grep -xE "$FORBIDDEN" "$list" | tr '\n' ' ')
    check "$what imports no network, name-resolution, raw-syscall, loading or spawning function (found: ${bad:-none})" \
        test -z "$bad"
}
command -v nm >/dev/null || echo "FAIL: nm (binutils) is not installed" >&2
check "nm is available" command -v nm >/dev/null
check "readelf is available" command -v readelf >/dev/null

check "the static library is next to the binary" test -f "$LIBDIR/libautlearn.a"
imports "$LIBDIR/libautlearn.a" >"$TMP/imp_static"
check_imports libautlearn.a "$TMP/imp_static"

SO=$(ls "$LIBDIR"/libautlearn.so.*.*.* 2>/dev/null | head -n 1)
[ -n "$SO" ] || SO=$LIBDIR/libautlearn.so
check "the shared library is next to the binary" test -f "$SO"
imports -D "$SO" >"$TMP/imp_shared"
check_imports libautlearn.so "$TMP/imp_shared"

imports -D "$BIN" >"$TMP/imp_cli"
check_imports "the autlearn CLI" "$TMP/imp_cli"

# Linked libraries: libc, libm, libz, pthreads, the loader, libjpeg and
# libpng (image decoding; checked like ours below), and in a sanitizer build
# its runtimes and libgcc_s/libstdc++ they pull in.
for obj in "$SO" "$BIN"; do
    needed=$(readelf -d "$obj" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
    check "$(basename "$obj") links something (readelf works)" test -n "$needed"
    other=$(for l in $needed; do
        case $l in
        libc.so.* | libm.so.* | libz.so.* | libpthread.so.* | ld-linux*.so.* | libasan.so.* | libubsan.so.* | \
            libgcc_s.so.* | libstdc++.so.* | libdl.so.* | librt.so.* | libjpeg.so.* | libpng16.so.*) ;;
        *) echo "$l" ;;
        esac
    done | tr '\n' ' ')
    check "$(basename "$obj") links only libc/libm/libz/pthreads/libjpeg/libpng (other: ${other:-none})" test -z "$other"
done
# the image decoders the library links: no network, loading or spawning either
for dec in $(ldd "$SO" 2>/dev/null | awk '$1 ~ /^lib(jpeg|png16)\.so/ { print $3 }'); do
    imports -D "$dec" >"$TMP/imp_dec"
    bad=$(grep -xE "$FORBIDDEN" "$TMP/imp_dec" | tr '\n' ' ')
    check "$(basename "$dec") imports no network, loading or spawning function (found: ${bad:-none})" test -z "$bad"
done

# ---- (b), (c) a personalization run under strace -----------------------------------
if ! command -v strace >/dev/null; then
    echo "FAIL: strace is not installed (scripts/deps.sh test installs it)" >&2
    fail=$((fail + 1))
    echo "test_privacy: $pass passed, $fail failed"
    exit 1
fi
# LeakSanitizer cannot run under ptrace; leaks are test_scenario's concern
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"

# Does tracing work here? A process that opens a socket must show it.
strace -f -qq -e trace=%network -o "$TMP/control.log" "$PY" -c \
    'import socket; s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.close()' >/dev/null 2>"$TMP/control.err"
rc=$?
check "strace runs here (ptrace allowed): $(head -c 300 "$TMP/control.err")" test $rc -eq 0
check "strace -e trace=%network sees a socket() call" grep -q 'socket(' "$TMP/control.log"

DATA=$TMP/data
mkdir -p "$DATA"
"$PY" "$SRC/tests/make_idx.py" "$DATA" 1000 400 || { echo "FAIL: cannot make data" >&2; exit 1; }
ARCH="input 1x28x28; conv 4 k=3 p=1; relu; maxpool k=2; flatten; dense 16; relu; dense 10"
"$BIN" pretrain --data "$DATA" --arch "$ARCH" --epochs 1 --out "$TMP/cloud.gguf" >/dev/null 2>"$TMP/err"
rc=$?
check "pretrain succeeds: $(head -c 300 "$TMP/err")" test $rc -eq 0
chmod 0444 "$TMP/cloud.gguf" "$DATA"/*

# One personalization run; $1 names the run, the rest goes to strace.
personalize() {
    local run=$1
    shift
    rm -rf "$TMP/$run"
    mkdir -p "$TMP/$run/cwd" "$TMP/$run/home" "$TMP/$run/tmp" "$TMP/$run/out" "$TMP/$run/elsewhere"
    # a planted symlink must not redirect the spilled features
    ln -s "$TMP/$run/elsewhere/leak" "$TMP/$run/out/cache.spill"
    (
        cd "$TMP/$run/cwd" || exit 1
        umask 000
        HOME=$TMP/$run/home TMPDIR=$TMP/$run/tmp strace "$@" -- "$BIN" personalize --model "$TMP/cloud.gguf" \
            --data "$DATA" --user 1 --users 4 --per-user 50 --test-per-user 40 --epochs 3 --aug-variants 2 \
            --cache-mb 0 --cache-spill "$TMP/$run/out/cache.spill" \
            --out "$TMP/$run/out/personal.gguf" --json >"$TMP/$run.json" 2>"$TMP/$run.err"
    )
}

# (b) no network system call at all
personalize net -f -qq -e trace=%network -o "$TMP/net.log"
rc=$?
check "personalize under strace succeeds: $(head -c 300 "$TMP/net.err")" test $rc -eq 0
check "personalize under strace writes the personal model" test -s "$TMP/net/out/personal.gguf"
check "personalize makes no network system call: $(head -c 300 "$TMP/net.log")" test ! -s "$TMP/net.log"
check "strace wrote its log" test -f "$TMP/net.log"

# (c) files: one log per process (-ff), fds shown with their paths (-y)
mkdir -p "$TMP/fs-logs"
personalize fs -f -ff -qq -y -e trace=%file -o "$TMP/fs-logs/trace"
rc=$?
check "personalize under strace -e trace=%file succeeds: $(head -c 300 "$TMP/fs.err")" test $rc -eq 0
check "the file trace is not empty (it sees the model being read)" grep -qs 'cloud.gguf' "$TMP"/fs-logs/trace.*
"$PY" - "$TMP/fs/out" "$TMP/fs/cwd" "$TMP"/fs-logs/trace.* >"$TMP/fs.report" 2>&1 <<'EOF'
# Every path a traced process creates, writes, renames, links, removes or
# changes must be under the output directory. Relative paths resolve against
# the working directory (or the directory fd strace -y shows).
import os, re, sys
out, cwd, logs = sys.argv[1], sys.argv[2], sys.argv[3:]
WRITE_FLAGS = ("O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC", "O_APPEND", "O_TMPFILE")
call = re.compile(r'^(\w+)\((.*)\)\s+=\s+(-?\d+|\?)')
strarg = re.compile(r'"((?:[^"\\]|\\.)*)"')
fdarg = re.compile(r'^(?:AT_FDCWD|\d+)(?:<([^>]*)>)?')
bad, seen = [], 0
def resolve(p, base):
    return os.path.normpath(p if p.startswith("/") else os.path.join(base, p))
def base_of(arg):
    m = fdarg.match(arg.strip())
    return m.group(1) if m and m.group(1) else cwd
for log in logs:
    for line in open(log, errors="replace"):
        m = call.match(line)
        if not m:
            continue
        name, args = m.group(1), m.group(2)
        parts = [a.strip() for a in re.split(r',\s*(?=(?:[^"]*"[^"]*")*[^"]*$)', args)]
        paths = []
        if name in ("open", "creat"):
            if name == "creat" or any(f in parts[1] for f in WRITE_FLAGS):
                paths.append(resolve(strarg.match(parts[0]).group(1), cwd))
        elif name in ("openat", "openat2"):
            if any(f in args for f in WRITE_FLAGS):
                paths.append(resolve(strarg.match(parts[1]).group(1), base_of(parts[0])))
        elif name in ("rename", "link", "symlink"):
            paths += [resolve(s, cwd) for s in strarg.findall(args)]
        elif name in ("renameat", "renameat2", "linkat"):
            paths.append(resolve(strarg.match(parts[1]).group(1), base_of(parts[0])))
            paths.append(resolve(strarg.match(parts[3]).group(1), base_of(parts[2])))
        elif name in ("symlinkat",):
            paths.append(resolve(strarg.match(parts[2]).group(1), base_of(parts[1])))
        elif name in ("unlink", "rmdir", "mkdir", "truncate", "chmod", "chown", "lchown", "mknod", "utime", "utimes",
                      "setxattr", "lsetxattr", "removexattr", "lremovexattr", "chdir", "chroot"):
            paths.append(resolve(strarg.match(parts[0]).group(1), cwd))
        elif name in ("unlinkat", "mkdirat", "fchmodat", "fchownat", "mknodat", "utimensat", "futimesat"):
            s = strarg.match(parts[1]) if len(parts) > 1 else None
            if s:
                paths.append(resolve(s.group(1), base_of(parts[0])))
        for p in paths:
            seen += 1
            if not (p == out or p.startswith(out + "/")):
                bad.append(f"{name}: {p}")
print(f"{seen} writes/changes, {len(bad)} outside {out}")
for b in bad[:20]:
    print("  " + b)
sys.exit(1 if bad or seen == 0 else 0)
EOF
rc=$?
check "every file personalize writes is under --out's directory: $(cat "$TMP/fs.report")" test $rc -eq 0
check "the output directory holds only the personal model: $(ls -A "$TMP/fs/out" | tr '\n' ' ')" \
    test "$(ls -A "$TMP/fs/out")" = personal.gguf
check "the personal model is owner-only (0600) even with umask 000" \
    test "$(stat -c %a "$TMP/fs/out/personal.gguf" 2>/dev/null)" = 600
check "the personal model is owned by the user" test -O "$TMP/fs/out/personal.gguf"
for d in cwd home tmp; do
    check "nothing is written in the run's $d: $(ls -A "$TMP/fs/$d" | tr '\n' ' ')" test -z "$(ls -A "$TMP/fs/$d")"
done
check "the traced run reports nothing uploaded and a spilling cache" "$PY" -c '
import json,sys; j=json.load(open(sys.argv[1])); assert j["bytes_uploaded"]==0 and j["cache_entries_spilled"]>0, j' \
    "$TMP/fs.json"
check "the spill file is created owner-only (0600, with umask 000)" \
    grep -qsE 'open(at)?\(.*/out/cache\.spill".*O_CREAT.*, 0600\)' "$TMP"/fs-logs/trace.*
check "the symlink at the spill path did not redirect the cache: $(ls -A "$TMP/fs/elsewhere" | tr '\n' ' ')" \
    test -z "$(ls -A "$TMP/fs/elsewhere")"

echo "test_privacy: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
