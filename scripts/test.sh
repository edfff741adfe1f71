#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test suite: lit, GoogleTest,
# pytest and ONNX conformance in build/, then the sanitizer build (ASan + UBSan:
# lit, GoogleTest, and a smoke run of each fuzz target) in build-sanitize/.
# Exits non-zero if anything fails. UBE_SKIP_SANITIZE=1 skips the second half.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
scripts/build.sh
ctest --test-dir "${UBE_BUILD_DIR:-build}" --output-on-failure
if [ "${UBE_SKIP_SANITIZE:-0}" != 1 ]; then
  scripts/test-sanitize.sh
fi
