#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test suite: lit, GoogleTest,
# pytest and ONNX conformance in build/, then the sanitizer build (ASan + UBSan:
# lit, GoogleTest, and a smoke run of each fuzz target) in build-sanitize/.
# Exits non-zero if anything fails. UBE_SKIP_SANITIZE=1 skips the second half.
# Each stage's wall time is printed as it ends, and all of them on the last line
# ("test.sh stages: ..."), so CI's time budget can be watched.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${UBE_BUILD_DIR:-build}

STAGES=()
FAILED=()
stage() {  # stage NAME COMMAND...: runs COMMAND and records its wall time under NAME
  local name=$1 start=$SECONDS status=0
  shift
  "$@" || status=$?
  STAGES+=("$name $((SECONDS - start)) s")
  echo "== stage $name: $((SECONDS - start)) s$([ $status -eq 0 ] || echo ", failed ($status)")"
  return $status
}
report() {
  local IFS=,
  echo "test.sh stages:${STAGES[*]/#/ }; total $SECONDS s"
}
trap report EXIT

stage setup scripts/setup.sh
stage build scripts/build.sh
# One ctest run per suite (lit, unit, pytest, onnx), each its own stage; a failing
# suite does not keep the others from running.
SUITES=($(ctest --test-dir "$BUILD_DIR" -N | sed -n 's/^ *Test *#[0-9]*: //p'))
for suite in "${SUITES[@]}"; do
  stage "$suite" ctest --test-dir "$BUILD_DIR" --output-on-failure -R "^$suite\$" ||
    FAILED+=("$suite")
done
if [ "${UBE_SKIP_SANITIZE:-0}" != 1 ]; then
  SUITES+=(sanitize)
  stage sanitize scripts/test-sanitize.sh || FAILED+=(sanitize)
fi
report
trap - EXIT
echo "suites: $((${#SUITES[@]} - ${#FAILED[@]})) passed, ${#FAILED[@]} failed${FAILED:+ (${FAILED[*]})}"
[ ${#FAILED[@]} -eq 0 ]
