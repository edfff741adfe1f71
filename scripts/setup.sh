#!/usr/bin/env bash
# Installs, idempotently and only what is missing, every Debian package that ube's build,
# tests, demo and benchmarks use. Safe to run repeatedly; needs root (or sudo) only when
# something is actually missing.
set -euo pipefail

PACKAGES=(
  # Compiler toolchain: LLVM/MLIR 22 (shared libraries, headers, CMake config, tablegen),
  # lit/FileCheck, clang and lld.
  llvm-22-dev llvm-22-tools libmlir-22-dev mlir-22-tools clang-22 lld-22
  # Sanitizer and libFuzzer runtimes for the sanitizer build (scripts/test-sanitize.sh).
  libclang-rt-22-dev
  # Build system.
  cmake ninja-build ccache
  # C++ libraries.
  libgtest-dev libgmock-dev libfmt-dev nlohmann-json3-dev pybind11-dev
  # Python side: extension headers, references for numerics, the test runner.
  python3-dev python3-numpy python3-torch python3-onnx python3-pytest python3-jsonschema
  # Loss-curve plots of ube.distill / ube.fit.
  python3-matplotlib
  # A real BLAS, so that PyTorch/numpy comparisons are meaningful.
  libopenblas0-pthread
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
