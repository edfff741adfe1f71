//===- EquivalentFunctions.h - functions that do the same thing -*- C++ -*-===//
//
// Outlining passes (kernels, parallel tasks) give each layer of a model a
// function of its own; layers of the same shape give functions that differ
// only in names, value identities and locations. This index finds an
// earlier such function, so the later one is dropped for it and every
// following pass and LLVM handle that code once.
//
//===----------------------------------------------------------------------===//

#ifndef UBE_PASSES_UTILS_EQUIVALENTFUNCTIONS_H
#define UBE_PASSES_UTILS_EQUIVALENTFUNCTIONS_H

#include "mlir/Dialect/Func/IR/FuncOps.h"

#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/SmallVector.h"

namespace ube {

class EquivalentFunctions {
public:
  /// An indexed function with `fn`'s type and a body equivalent to its (up
  /// to value identities and locations), or null.
  mlir::func::FuncOp find(mlir::func::FuncOp fn);
  /// Indexes `fn`; `find` may return it from now on.
  void add(mlir::func::FuncOp fn);

private:
  llvm::DenseMap<size_t, llvm::SmallVector<mlir::func::FuncOp>> byHash_;
};

} // namespace ube

#endif // UBE_PASSES_UTILS_EQUIVALENTFUNCTIONS_H
