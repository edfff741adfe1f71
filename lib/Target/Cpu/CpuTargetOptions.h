//===- CpuTargetOptions.h - what the cpu target takes -------------*- C++ -*-===//
//
// The cpu target's options: CompileOptions::targetOptions text, ube-compile's
// --target-options (and its --cpu/--print-memory-plan shorthands), keyword
// arguments of ube.compile, and the options of --ube-cpu-pipeline. A new
// option is declared here and read in CpuTarget.cpp; nothing else changes.
//
//===----------------------------------------------------------------------===//

#ifndef UBE_TARGET_CPU_CPUTARGETOPTIONS_H
#define UBE_TARGET_CPU_CPUTARGETOPTIONS_H

#include "mlir/Pass/PassOptions.h"

namespace ube {

struct CpuTargetOptions : mlir::PassPipelineOptions<CpuTargetOptions> {
  Option<std::string> cpu{
      *this, "cpu",
      llvm::cl::desc("The CPU to compile for: a model as LLVM names it ('native': this "
                     "host's), an x86-64 psABI level (x86-64-v2, -v3, -v4), or several "
                     "separated by commas for one executable with a build for each, of "
                     "which the runtime runs the most capable the host has ('portable': "
                     "x86-64-v2,x86-64-v3,x86-64-v4)"),
      llvm::cl::init("native")};
  Option<bool> printMemoryPlan{*this, "print-memory-plan",
                               llvm::cl::desc("Print each entry point's memory plan: where "
                                              "every temporary lives in the arena, and when"),
                               llvm::cl::init(false)};
};

/// The CPUs `cpu` names: one, or the variants of a multi-ISA executable.
inline std::vector<std::string> cpuVariants(llvm::StringRef cpu) {
  if (cpu == "portable")
    return {"x86-64-v2", "x86-64-v3", "x86-64-v4"};
  llvm::SmallVector<llvm::StringRef> names;
  cpu.split(names, ',', -1, /*KeepEmpty=*/true);
  return std::vector<std::string>(names.begin(), names.end());
}

} // namespace ube

#endif // UBE_TARGET_CPU_CPUTARGETOPTIONS_H
