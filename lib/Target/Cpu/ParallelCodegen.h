//===- ParallelCodegen.h - host code optimized and compiled on every core -*- C++ -*-===//
//
// LLVM's optimization and code generation of a model's host code (its
// kernels and their parallel tasks) take a fixed second or so whatever the
// model's size; on one core that was a third of a small model's compile.
// The module is split into linkable partitions (local symbols become hidden
// globals; functions are dealt out in module order), each optimized and
// compiled to an object of its own by a thread in an LLVM context of its
// own (the partitions go there as bitcode), and the objects are linked
// together. The partition count is fixed, not the machine's core count, so
// the executable is the same bytes on any machine and from any compile.
//
//===----------------------------------------------------------------------===//

#ifndef UBE_LIB_TARGET_CPU_PARALLELCODEGEN_H
#define UBE_LIB_TARGET_CPU_PARALLELCODEGEN_H

#include "mlir/IR/Location.h"
#include "mlir/Support/LLVM.h"
#include "llvm/Support/Error.h"

#include <memory>
#include <string>
#include <vector>

namespace llvm {
class Module;
class TargetMachine;
class raw_pwrite_stream;
} // namespace llvm

namespace ube {

class ConstantSection;

/// How many partitions the host code is compiled in.
constexpr unsigned kCodegenPartitions = 4;

/// -O3 on `module`, for `machine`.
llvm::Error optimizeHostCode(llvm::Module &module, llvm::TargetMachine &machine);

/// Emits `module` as an object file (assembly when `assembly`) to `out`.
llvm::Error emitHostCode(llvm::Module &module, llvm::TargetMachine &machine, bool assembly,
                         llvm::raw_pwrite_stream &out);

/// Optimizes and compiles `module` (translated, not optimized) into one
/// object file per path of `objectPaths`, in parallel, each with a machine
/// of its own from `createMachine` (it is called from several threads).
/// `constants` (moved out of `module`, whose module-level assembly defines
/// them) go into the first object only. `module` is consumed.
mlir::LogicalResult
compileInParallel(mlir::Location loc, llvm::Module &module,
                  llvm::function_ref<std::unique_ptr<llvm::TargetMachine>()> createMachine,
                  const ConstantSection &constants, const std::vector<std::string> &objectPaths);

} // namespace ube

#endif // UBE_LIB_TARGET_CPU_PARALLELCODEGEN_H
