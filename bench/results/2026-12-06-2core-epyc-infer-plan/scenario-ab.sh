#!/usr/bin/env bash
# Session 21: the image scenario's device jobs, OLD (a build of dd2cb79)
# against NEW (a build of the session's head), alternating, the order
# reversed every other round; one line per run: accuracies and the cost
# block of autonomous and local.
# usage: ab.sh OLD_AUTLEARN NEW_AUTLEARN CLOUD_GGUF DATA_DIR USERS ROUNDS
set -u
OLD=$1; NEW=$2; CLOUD=$3; D=$4; U=$5; R=$6
run() { # label bin
  "$2" scenario image --data "$D" --threads 2 --cloud "$CLOUD" --methods autonomous,local --users "$U" \
      --json /tmp/sc-ab.json >/dev/null 2>&1
  python3 - /tmp/sc-ab.json "$1" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
c = j["cost"]
print(sys.argv[2], "autonomous acc %.4f s/user %.3f cpu/user %.3f peak_rss_mb %.1f | local acc %.4f s/user %.3f peak_rss_mb %.1f" % (
    j["autonomous"]["mean_acc"], c["autonomous"]["seconds_per_user"], c["autonomous"]["cpu_seconds_per_user"],
    c["autonomous"]["peak_rss_mb"], j["local"]["mean_acc"], c["local"]["seconds_per_user"], c["local"]["peak_rss_mb"]))
PY
}
for r in $(seq 1 "$R"); do
  if [ $((r % 2)) = 1 ]; then o="old new"; else o="new old"; fi
  for v in $o; do b=$OLD; [ $v = new ] && b=$NEW; run $v "$b"; done
done
