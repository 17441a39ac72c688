#!/usr/bin/env bash
# The levels of docs/ARCHITECTURE.md, checked on the sources: every file of a
# level includes only its own header and those of the levels below it
# (core < kernels < layers < model; core < data; model, data < train; the
# device levels < cloud), each level has exactly one private header, named
# after it, and no device file includes a cloud header.
#   bash tests/test_levels.sh <autlearn-binary> <source-dir>
set -u
SRC=${2:?usage: test_levels.sh <autlearn-binary> <source-dir>}
cd "$SRC" || exit 1
pass=0
fail=0
bad() {
    fail=$((fail + 1))
    echo "FAIL: $*" >&2
}

# allowed quoted includes per level (besides the public autlearn.h)
declare -A allow=(
    [core]="core/core.h"
    [kernels]="core/core.h kernels/kernels.h"
    [layers]="core/core.h kernels/kernels.h layers/layers.h"
    [data]="core/core.h data/data.h"
    [model]="core/core.h kernels/kernels.h layers/layers.h model/model.h"
    [train]="core/core.h kernels/kernels.h layers/layers.h model/model.h data/data.h train/train.h"
)
checked=0
for level in core kernels layers data model train; do
    headers=$(find "src/$level" -name '*.h' | sort)
    if [ "$headers" = "src/$level/$level.h" ]; then pass=$((pass + 1)); else
        bad "src/$level must hold one header, $level.h; it holds: $(echo "$headers" | tr '\n' ' ')"
    fi
    for f in $(find "src/$level" -name '*.[ch]' | sort); do
        checked=$((checked + 1))
        while IFS= read -r inc; do
            [ -z "$inc" ] && continue
            ok=0
            for a in autlearn.h ${allow[$level]}; do [ "$inc" = "$a" ] && ok=1; done
            if [ $ok = 1 ]; then pass=$((pass + 1)); else bad "$f includes \"$inc\": not $level's or a level below"; fi
        done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f")
    done
done
# the cloud may include the device levels and its own headers, never the CLI's
for f in $(find src/cloud -name '*.[ch]' | sort); do
    checked=$((checked + 1))
    if grep -qE '#[[:space:]]*include[[:space:]]*"(cli\.h|tools/)' "$f"; then bad "$f includes the CLI"; else pass=$((pass + 1)); fi
done
# the installed device header does not pull in the cloud's
if grep -qE '#[[:space:]]*include.*autlearn_cloud' include/autlearn.h; then bad "include/autlearn.h names the cloud header"; else pass=$((pass + 1)); fi
# the check read something: every level's files, a few dozen at least
if [ "$checked" -ge 60 ]; then pass=$((pass + 1)); else bad "only $checked files checked: the source tree was not found"; fi

echo "test_levels: $pass passed, $fail failed ($checked files)"
[ "$fail" -eq 0 ]
