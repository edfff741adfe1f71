#!/usr/bin/env bash
# Installs what is missing, builds, and runs the main job: a tour of the
# compiler on the embedded MLP graph (examples/mlp.json: import into the ube
# dialect, compile for this CPU, run), then the compression of a pre-trained
# language model on real text (examples/distill_minilm.py): all-MiniLM-L6-v2
# fine-tuned with ube's compiled steps to classify Debian package synopses
# by section, distilled into a 3-layer student, against the same student
# trained on the labels alone. The last lines are `student saved to: DIR`,
# `teacher accuracy: X`, `student accuracy: Y` and `scratch accuracy: Z`.
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

echo
echo "== 4. compress a pre-trained language model (examples/distill_minilm.py; outputs in ${DEMO_OUT:-demo-out}/):"
.venv/bin/python examples/distill_minilm.py --out "${DEMO_OUT:-demo-out}"
