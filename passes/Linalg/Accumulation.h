//===- Accumulation.h - how sums accumulate in the lowering -----*- C++ -*-===//

#ifndef UBE_PASSES_LINALG_ACCUMULATION_H
#define UBE_PASSES_LINALG_ACCUMULATION_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/BuiltinTypes.h"

namespace ube {

/// Floating-point reductions may be reassociated (and multiply-adds
/// contracted), which lets LLVM vectorize them. The order is fixed by the
/// compiled code, so results are deterministic run to run.
inline mlir::arith::FastMathFlagsAttr reductionFlags(mlir::MLIRContext *context) {
  return mlir::arith::FastMathFlagsAttr::get(
      context, mlir::arith::FastMathFlags::reassoc | mlir::arith::FastMathFlags::contract);
}

/// Sums and products of 16-bit floats accumulate in f32 and round once, as
/// PyTorch's and onnxruntime's CPU kernels do: rounding every partial sum
/// to 11 significant bits loses several ulps over a row.
inline mlir::Type accumulatorType(mlir::Type elementType) {
  if (elementType.isF16() || elementType.isBF16())
    return mlir::Float32Type::get(elementType.getContext());
  return elementType;
}

/// `x`, a scalar, extended to `type` when it is narrower.
mlir::Value widened(mlir::OpBuilder &b, mlir::Location loc, mlir::Value x, mlir::Type type);

/// `x`, a tensor accumulated in f32, rounded once to the element type of
/// `type` (itself when it has that type already).
mlir::Value rounded(mlir::OpBuilder &b, mlir::Location loc, mlir::Value x,
                    mlir::RankedTensorType type);

} // namespace ube

#endif // UBE_PASSES_LINALG_ACCUMULATION_H
