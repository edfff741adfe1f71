#!/usr/bin/env bash
# GPU check, second half (on a machine with an NVIDIA GPU, its driver,
# PyTorch and numpy; no LLVM): runs what scripts/gpu-prepare.sh made.
#   scripts/gpu-check.sh [DIR] [RUNS]
set -euo pipefail
DIR=${1:-gpu-check}
PYTHON=${PYTHON:-python3}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
exec "$PYTHON" "$DIR/check.py" "${2:-20}"
