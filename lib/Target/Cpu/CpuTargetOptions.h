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
  Option<std::string> cpu{*this, "cpu",
                          llvm::cl::desc("The CPU model to compile for, as LLVM names it "
                                         "('native': this host's model and features)"),
                          llvm::cl::init("native")};
  Option<bool> printMemoryPlan{*this, "print-memory-plan",
                               llvm::cl::desc("Print each entry point's memory plan: where "
                                              "every temporary lives in the arena, and when"),
                               llvm::cl::init(false)};
};

} // namespace ube

#endif // UBE_TARGET_CPU_CPUTARGETOPTIONS_H
