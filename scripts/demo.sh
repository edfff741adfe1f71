#!/usr/bin/env bash
# Installs what is missing, builds, and runs the main job on the embedded
# example: a 2-layer MLP classifier graph file (examples/mlp.json) imported
# into the ube dialect, canonicalized, and written back as a graph file.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
scripts/build.sh >/dev/null
BIN=${UBE_BUILD_DIR:-build}/bin
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

echo "== examples/mlp.json in the ube dialect (weights elided):"
"$BIN/ube-opt" examples/mlp.json --canonicalize --mlir-elide-resource-strings-if-larger=32

echo
echo "== exported back to a graph file and re-imported:"
"$BIN/ube-opt" examples/mlp.json -o "$OUT/mlp.json"
cat "$OUT/mlp.json"
if diff <("$BIN/ube-opt" examples/mlp.json) <("$BIN/ube-opt" "$OUT/mlp.json") >/dev/null; then
  echo "round trip: identical IR"
else
  echo "round trip: IR differs" >&2
  exit 1
fi
