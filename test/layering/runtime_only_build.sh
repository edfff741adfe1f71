#!/usr/bin/env bash
# A deployment build: the runtime and ube-run alone (UBE_RUNTIME_ONLY, no
# LLVM or MLIR configured or linked) with only the cpu device plugin
# (UBE_DEVICES=cpu). It runs an executable the full build compiled, and
# names the plugins it has when asked for the one left out.
#
#   runtime_only_build.sh SOURCE_DIR BUILD_DIR UBE_COMPILE C_COMPILER CXX_COMPILER
set -euo pipefail
src=$1 out=$2 ube_compile=$3 cc=$4 cxx=$5
launcher=()
if command -v ccache > /dev/null; then
  launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
cmake -G Ninja -S "$src" -B "$out" -DUBE_RUNTIME_ONLY=ON -DUBE_DEVICES=cpu \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="$cxx" \
  "${launcher[@]}" > "$out.configure.log"
cmake --build "$out" --target ube-run > "$out.build.log"
run="$out/bin/ube-run"

if ldd "$run" | grep -E "libLLVM|libMLIR"; then
  echo "FAIL: ube-run of a runtime-only build links LLVM or MLIR"; exit 1
fi
"$ube_compile" "$src/examples/mlp.json" -o "$out/mlp.ube"
"$run" "$out/mlp.ube" --function=predict > "$out/run.log"
if "$run" "$out/mlp.ube" --device=cuda > "$out/cuda.log" 2>&1; then
  echo "FAIL: a runtime without the cuda plugin ran on cuda"; exit 1
fi
grep -q "no device plugin named 'cuda' (available: cpu)" "$out/cuda.log" ||
  { echo "FAIL: unexpected message:"; cat "$out/cuda.log"; exit 1; }
echo "runtime-only build without the cuda plugin: ok"
