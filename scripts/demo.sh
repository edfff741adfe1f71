#!/usr/bin/env bash
# Installs what is missing, builds, and runs the main job on the embedded
# example (examples/mlp.json, a 2-layer MLP classifier with GELU, softmax
# probabilities and a cross-entropy loss): import into the ube dialect,
# compile for this CPU into an executable, run it, and show the outputs.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
scripts/build.sh >/dev/null
BIN=${UBE_BUILD_DIR:-build}/bin
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

echo "== 1. examples/mlp.json in the ube dialect (weights elided):"
"$BIN/ube-opt" examples/mlp.json --canonicalize --mlir-elide-resource-strings-if-larger=32

echo
echo "== 2. compiled for this CPU:"
"$BIN/ube-compile" examples/mlp.json -o "$OUT/mlp.ube"
ls -l "$OUT/mlp.ube" | awk '{print $5 " bytes: " $9}'

echo
echo "== 3. run: predict (random input x, seed 0) and loss (x and labels):"
"$BIN/ube-run" "$OUT/mlp.ube" --function=predict --output-dir="$OUT/out"
"$BIN/ube-run" "$OUT/mlp.ube" --function=loss --benchmark=100
echo "outputs written as .npy to the output directory, e.g. probs.npy"
