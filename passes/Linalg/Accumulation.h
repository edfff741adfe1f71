//===- Accumulation.h - how sums accumulate in the lowering -----*- C++ -*-===//

#ifndef UBE_PASSES_LINALG_ACCUMULATION_H
#define UBE_PASSES_LINALG_ACCUMULATION_H

#include "mlir/Dialect/Arith/IR/Arith.h"

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

} // namespace ube

#endif // UBE_PASSES_LINALG_ACCUMULATION_H
