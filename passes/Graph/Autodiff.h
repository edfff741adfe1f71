//===- Autodiff.h - building gradients of ube functions --------*- C++ -*-===//
//
// Shared by --ube-autodiff and --ube-build-train-step.
//
//===----------------------------------------------------------------------===//

#ifndef UBE_PASSES_GRAPH_AUTODIFF_H
#define UBE_PASSES_GRAPH_AUTODIFF_H

#include "mlir/Dialect/Func/IR/FuncOps.h"

#include <string>

namespace ube {

/// Builds, before `fn`'s return, the gradient of its float scalar result
/// `lossIndex` with respect to each argument in `wrt` (zeros for one the
/// loss does not depend on), by a reverse sweep over the ops' VJP rules
/// (DifferentiableOpInterface). The signature is unchanged.
mlir::FailureOr<llvm::SmallVector<mlir::Value>>
buildGradients(mlir::func::FuncOp fn, int64_t lossIndex, llvm::ArrayRef<int64_t> wrt);

/// An argument's `ube.name`, or argN.
std::string argumentName(mlir::func::FuncOp fn, unsigned index);

/// Appends `values` to `fn`'s results, named `names` (ube.name).
void appendResults(mlir::func::FuncOp fn, mlir::ValueRange values,
                   llvm::ArrayRef<std::string> names);

} // namespace ube

#endif // UBE_PASSES_GRAPH_AUTODIFF_H
