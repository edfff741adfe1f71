//===- ElementwiseBody.h - the computation of one elementwise ube op -*- C++ -*-===//
//
// What an elementwise ube op (add, gelu, where, cast...) computes on one
// element, as arith/math ops. Shared by the linalg lowering (the body of a
// linalg.generic, on scalars) and by kernels that apply such ops to values
// already in registers (the CPU matmul epilogue, on vectors of f32).
//
//===----------------------------------------------------------------------===//

#ifndef UBE_PASSES_LINALG_ELEMENTWISEBODY_H
#define UBE_PASSES_LINALG_ELEMENTWISEBODY_H

#include "mlir/IR/Builders.h"

namespace ube {

/// Whether `op` is an elementwise ube op (one result; operands broadcast).
bool isElementwise(mlir::Operation *op);

/// Whether `op` is one of the float ops a kernel applies to its results in
/// registers before storing them (arithmetic and activations: a matmul's or
/// a convolution's epilogue).
bool isFloatEpilogueOp(mlir::Operation *op);

/// `op` applied to `args` (its operands' values: scalars, or vectors of
/// them; floats, integers or i1 as the op takes); `resultType` is the
/// result's element type.
mlir::Value buildElementwiseBody(mlir::Operation *op, mlir::OpBuilder &b, mlir::Location loc,
                                 mlir::ValueRange args, mlir::Type resultType);

} // namespace ube

#endif // UBE_PASSES_LINALG_ELEMENTWISEBODY_H
