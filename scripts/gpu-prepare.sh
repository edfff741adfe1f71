#!/usr/bin/env bash
# GPU check, first half (here, no GPU needed): builds the runtime and ube-run,
# compiles the end-to-end cases, the benchmarks and the training cases
# (ube.distill's step, weights drawn there) for cuda:ARCH, writes inputs and
# CPU reference outputs (the training cases' losses over 20 steps), all into
# one folder (default gpu-check/, ignored by git, about 45 MB) that
# scripts/gpu-check.sh runs on a GPU machine (PyTorch and transformers there
# for the peers).
#   scripts/gpu-prepare.sh [OUT_DIR] [sm_90]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-gpu-check}
ARCH=${2:-sm_90}
scripts/setup.sh
scripts/build.sh >/dev/null
rm -rf "$OUT"
mkdir -p "$OUT"
.venv/bin/python scripts/gpu/make_cases.py "$OUT" --arch "$ARCH"
du -sh "$OUT"
