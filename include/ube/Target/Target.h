//===- Target.h - compilation targets and their registry ----------*- C++ -*-===//
//
// A target is a name, a codegen pipeline (linalg on tensors -> the target's
// lowest MLIR level) and a serializer (-> LLVM IR, assembly, object, .ube).
// A new device adds one Target subclass in lib/Target/<Name>/ and registers it.
//
//===----------------------------------------------------------------------===//

#ifndef UBE_TARGET_TARGET_H
#define UBE_TARGET_TARGET_H

#include "ube/Compiler.h"
#include "ube/Support/ExecutableFormat.h"

#include "mlir/Pass/PassManager.h"

#include <memory>
#include <vector>

namespace ube {

class Target {
public:
  virtual ~Target() = default;
  virtual llvm::StringRef name() const = 0;
  /// Checks target-specific options (what follows "name:" in --target).
  virtual mlir::LogicalResult validateOptions(llvm::StringRef targetOptions,
                                              const CompileOptions &options,
                                              std::string &error) const = 0;
  /// Replaces ube ops with target-specific fused kernels before the generic
  /// lowering to linalg (only when `options.fusedKernels`); none by default.
  virtual void buildKernelPipeline(mlir::OpPassManager &pm,
                                   const CompileOptions &options) const {}
  /// Lowers linalg on tensors to what `serialize` takes.
  virtual void buildCodegenPipeline(mlir::OpPassManager &pm,
                                    const CompileOptions &options) const = 0;
  /// Writes `stage` (Llvm, Asm, Obj or Exe) of the lowered module. `manifest`
  /// holds the entry points; the target fills in its own fields.
  virtual mlir::LogicalResult serialize(mlir::ModuleOp module, const CompileOptions &options,
                                        EmitStage stage, Manifest manifest,
                                        llvm::raw_ostream &out) const = 0;
};

void registerTarget(std::unique_ptr<Target> target);
/// Null when no target has that name.
const Target *lookupTarget(llvm::StringRef name);
std::vector<llvm::StringRef> registeredTargetNames();

/// Registers the targets built into this library (cpu, cuda).
void registerBuiltinTargets();

} // namespace ube

#endif // UBE_TARGET_TARGET_H
