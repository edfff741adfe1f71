//===- ConstantData.h - letting go of weights a compile no longer needs -*- C++ -*-===//
//
// A model's weights are resource blobs owned by the MLIRContext, not by the
// ops that use them: when a pass replaces a weight (the cpu matmul kernels
// pack each weight into panels), the original's bytes stay in memory until
// the context dies, and a large teacher's compile holds its weights twice.
// ConstantData remembers which blobs a module's compile may release (those
// the module used when the compile started, and those the compile created)
// and empties the ones nothing in the module refers to anymore. Blobs of
// other modules of the same context are never touched.
//
//===----------------------------------------------------------------------===//

#ifndef UBE_LIB_COMPILER_CONSTANTDATA_H
#define UBE_LIB_COMPILER_CONSTANTDATA_H

#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/StringSet.h"

namespace ube {

class ConstantData {
public:
  /// Notes what `module` uses now and which blobs exist.
  explicit ConstantData(mlir::ModuleOp module);

  /// Empties the blobs this compile may release that nothing in `module`
  /// refers to; returns their bytes.
  uint64_t releaseUnreferenced(mlir::ModuleOp module);

private:
  llvm::StringSet<> usedAtStart_, existingAtStart_;
};

} // namespace ube

#endif // UBE_LIB_COMPILER_CONSTANTDATA_H
