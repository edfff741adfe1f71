#!/usr/bin/env bash
# Installs, idempotently and only what is missing, everything ube's build, tests, demo and
# benchmarks use:
#   1. Debian packages: LLVM/MLIR 22, clang, lld, the build tools, the C++ libraries;
#   2. the project's virtual environment .venv/, made from the machine's python3
#      (UBE_SETUP_PYTHON picks another), with every package pinned in
#      python/requirements.txt and torch held to its CPU build by python/constraints.txt.
# Safe to run repeatedly: a second run installs nothing and says so. Needs root (or sudo)
# only when a Debian package is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  # Compiler toolchain: LLVM/MLIR 22 (shared libraries, headers, CMake config, tablegen),
  # lit/FileCheck, clang and lld.
  llvm-22-dev llvm-22-tools libmlir-22-dev mlir-22-tools clang-22 lld-22
  # Sanitizer and libFuzzer runtimes for the sanitizer build (scripts/test-sanitize.sh).
  libclang-rt-22-dev
  # Build system.
  cmake ninja-build ccache
  # C++ libraries.
  libgtest-dev libgmock-dev libfmt-dev nlohmann-json3-dev
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} Debian packages present"
else
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The virtual environment. Every pip call carries the constraints file, so nothing can
# replace the CPU torch with a CUDA build.
VENV=.venv
REQUIREMENTS=python/requirements.txt
CONSTRAINTS=python/constraints.txt
if [ ! -x "$VENV/bin/python" ]; then
  PYTHON=${UBE_SETUP_PYTHON:-python3}
  echo "setup: creating $VENV from $(command -v "$PYTHON") ($("$PYTHON" --version 2>&1))"
  "$PYTHON" -m venv "$VENV"
fi

# Which pinned packages are absent or at another version (a fast look at the installed
# metadata; pip itself takes seconds even when there is nothing to do).
outdated=$("$VENV/bin/python" - "$REQUIREMENTS" <<'EOF'
import importlib.metadata as metadata
import re
import sys

for line in open(sys.argv[1]):
    requirement = line.split("#")[0].strip()
    if not requirement:
        continue
    name, version = requirement.split("==")
    try:
        installed = metadata.version(name)
    except metadata.PackageNotFoundError:
        installed = None
    # A local label (torch's "+cpu") is not part of the pin.
    if installed is None or re.sub(r"\+.*", "", installed) != version:
        print(f"{name}=={version} (have {installed or 'none'})")
EOF
)
if [ -z "$outdated" ]; then
  echo "setup: $VENV has every package of $REQUIREMENTS at its pinned version"
  exit 0
fi
echo "setup: installing into $VENV:" $outdated
# (The machine's pip configuration names package indexes that may lack a package: pip's
# "Location ... is ignored" warning for each is left out.)
"$VENV/bin/python" -m pip install --quiet --require-virtualenv --disable-pip-version-check \
  -r "$REQUIREMENTS" -c "$CONSTRAINTS" 2>&1 | { grep -v "^WARNING: Location '.*' is ignored" || true; }
"$VENV/bin/python" -m pip check --disable-pip-version-check
