#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test suite (lit, GoogleTest).
# Exits non-zero if anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
scripts/build.sh
ctest --test-dir "${UBE_BUILD_DIR:-build}" --output-on-failure
