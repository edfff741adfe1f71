# lit configuration for ube, after mlir/examples/standalone.
import os

import lit.formats
from lit.llvm import llvm_config

config.name = "ube"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".test"]
config.excludes = ["Inputs", "unit", "python", "CMakeLists.txt", "lit.cfg.py",
                   "lit.site.cfg.py"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.ube_obj_root, "test")

llvm_config.with_system_environment(["HOME", "TMP", "TEMP", "PATH", "ASAN_OPTIONS",
                                     "UBSAN_OPTIONS", "LSAN_OPTIONS"])
llvm_config.use_default_substitutions()

config.substitutions.append(("%PATH%", config.environment["PATH"]))
config.substitutions.append(("%ube_src", config.ube_src_root))
# Ahead of lit's default %python (the interpreter running lit).
if config.ube_sanitize:
    # The helpers import the instrumented extension: preload the sanitizer
    # runtime, and leave CPython's own (deliberate) leaks unreported.
    config.substitutions.insert(
        0, ("%python", "env LD_PRELOAD={} ASAN_OPTIONS=detect_leaks=0 {}".format(
            config.ube_sanitizer_runtime, config.python_executable)))
    config.available_features.add("sanitize")
else:
    config.substitutions.insert(0, ("%python", config.python_executable))
# Helper scripts import the ube package of the build tree.
config.environment["PYTHONPATH"] = os.path.join(config.ube_obj_root, "python")

# Our tools first, then FileCheck, not, count, split-file from LLVM 22.
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)
llvm_config.with_environment("PATH", config.ube_tools_dir, append_path=True)
tools = ["ube-opt", "ube-compile", "ube-run"]
llvm_config.add_tool_substitutions(tools, [config.ube_tools_dir])

# The compile targets built in (UBE_TARGETS): "REQUIRES: target-cuda".
for target in config.ube_targets:
    config.available_features.add("target-" + target)

# Whether this host can run code for a CPU with AMX and AVX-512 FP16
# (Sapphire Rapids and later): the refusal tests compile for one.
try:
    with open("/proc/cpuinfo") as cpuinfo:
        flags = cpuinfo.read()
except OSError:
    flags = ""
if "amx_tile" not in flags or "avx512_fp16" not in flags:
    config.available_features.add("host-lacks-amx")
if " avx2" in flags and " fma" in flags:
    config.available_features.add("host-avx2")

# The CUDA toolkit's ptxas (for cubin) and whether a CUDA driver is present.
import ctypes
import shutil

if os.path.exists("/usr/local/cuda/bin/ptxas") or shutil.which("ptxas"):
    config.available_features.add("ptxas")
try:
    ctypes.CDLL("libcuda.so.1")
except OSError:
    config.available_features.add("no-cuda-driver")
