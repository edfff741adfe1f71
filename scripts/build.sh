#!/usr/bin/env bash
# Configures (once) and builds ube into build/ with Ninja, clang-22 and ccache.
# Re-running rebuilds only what changed. UBE_BUILD_DIR picks another build
# directory; UBE_CMAKE_ARGS adds configure options (read on first configure).
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR=${UBE_BUILD_DIR:-build}
# Paths relative to the checkout in ccache's keys, so that another clone (CI)
# reuses what this machine compiled before.
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD}
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  cmake -G Ninja -S . -B "$BUILD_DIR" \
    -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22 \
    -DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache \
    -DCMAKE_EXE_LINKER_FLAGS=-fuse-ld=lld-22 -DCMAKE_SHARED_LINKER_FLAGS=-fuse-ld=lld-22 \
    -DCMAKE_MODULE_LINKER_FLAGS=-fuse-ld=lld-22 ${UBE_CMAKE_ARGS:-}
fi
cmake --build "$BUILD_DIR"
