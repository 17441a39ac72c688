#!/usr/bin/env bash
# A refactor must not change a result: compare the CLI outputs of two trees
# (say a worktree of the last release and this one), or of a tree against a
# run saved earlier. 76 deterministic commands (run.sh), their normalized
# stdout/stderr/JSON and the sha256 of every file they write.
#
#   compare.sh --trees TREE_A TREE_B  run run.sh on both, diff them
#   compare.sh TREE SAVED_DIR         run run.sh on TREE, diff against a saved run (a run.sh OUTDIR)
#
# Each TREE needs build/autlearn (make build) and data/ (run.sh says what).
# Env: BUILD=1 runs `make build` in each tree first; RUNS=DIR where runs go
# (default out/regress of the current directory); THREADS as for run.sh
# (default 2; both sides must use the same).
# Exit 0: identical; 1: differences (listed, diff in RUNS/NAME.diff); 2: usage/run error.
# A change of job_peak_alloc_mb alone (OUTDIR/soft/alloc.tsv) is printed as a note, exit 0.
set -u
HERE=$(dirname "$(readlink -f "$0")")
RUNS=${RUNS:-$PWD/out/regress}
mkdir -p "$RUNS"

capture() { # TREE -> prints the run dir
    local tree
    tree=$(readlink -f "$1")
    local name
    name=$(echo "$tree" | tr '/' '_' | sed 's/^_//')
    if [ "${BUILD:-0}" = 1 ]; then make -C "$tree" build >&2 || return 2; fi
    "$HERE/run.sh" "$tree" "$RUNS/$name" >&2 || return 2
    echo "$RUNS/$name"
}

if [ "${1:-}" = "--trees" ]; then
    [ $# -eq 3 ] || { sed -n '2,15p' "$0"; exit 2; }
    A=$(capture "$2") || exit 2
    B=$(capture "$3") || exit 2
else
    [ $# -eq 2 ] || { sed -n '2,15p' "$0"; exit 2; }
    A=$2
    [ -d "$A/results" ] || { echo "compare.sh: no $A/results" >&2; exit 2; }
    B=$(capture "$1") || exit 2
fi

DIFF=$RUNS/$(basename "$B").diff
diff -r -u "$A/results" "$B/results" >"$DIFF"
rc=$?
echo
echo "== $A/results  vs  $B/results"
# information only: allocator-measured peaks (job_peak_alloc_mb), not results
if [ -f "$A/soft/alloc.tsv" ] && [ -f "$B/soft/alloc.tsv" ] && ! cmp -s "$A/soft/alloc.tsv" "$B/soft/alloc.tsv"; then
    echo "note: job_peak_alloc_mb (bytes the allocator saw at peak; not a result) changed in" \
        "$(diff "$A/soft/alloc.tsv" "$B/soft/alloc.tsv" | grep -c '^>') step(s):"
    diff "$A/soft/alloc.tsv" "$B/soft/alloc.tsv" | grep '^[<>]' | head -8 | sed 's/^/  /'
fi
if [ $rc -eq 0 ]; then
    echo "IDENTICAL: $(ls "$B/results"/*.rc | wc -l) commands, $(grep -c . "$B/results/sha256.txt") output files (sha256), normalized stdout/stderr/JSON"
    rm -f "$DIFF"
    exit 0
fi
echo "DIFFERENCES (full diff: $DIFF)"
diff -rq "$A/results" "$B/results" | sed 's/^/  /'
echo "-- model/output files whose sha256 differs:"
diff <(awk '{print $3, $1}' "$A/results/sha256.txt") <(awk '{print $3, $1}' "$B/results/sha256.txt") |
    grep '^[<>]' | awk '{print $2}' | sort -u | sed 's/^/  /'
echo "-- exit codes that differ:"
for f in "$A"/results/*.rc; do
    g=$B/results/$(basename "$f")
    [ -f "$g" ] && ! cmp -s "$f" "$g" && echo "  $(basename "$f" .rc): $(cat "$f") -> $(cat "$g")"
done
echo "-- timings (not compared): $A/timing.tsv, $B/timing.tsv"
exit 1
