//===- Philox.h - Philox-4x32-10 in arith ops ------------------------*- C++ -*-===//
//
// Emits the draw of include/ube/Support/Philox.h as arith ops, so every
// target computes the same bits: for one element (a linalg body) or for a
// vector of them (a cpu kernel's lanes).
//
//===----------------------------------------------------------------------===//

#ifndef UBE_PASSES_LINALG_PHILOX_H
#define UBE_PASSES_LINALG_PHILOX_H

#include "mlir/IR/Builders.h"

namespace ube {

/// `philoxUniformAt(index, step, seed)`: an f32 in [0, 1) from an i64
/// `index` (or a vector of them, giving a vector of f32) and i64 scalars
/// `step` and `seed`.
mlir::Value buildPhiloxUniform(mlir::OpBuilder &b, mlir::Location loc, mlir::Value index,
                               mlir::Value step, mlir::Value seed);

} // namespace ube

#endif // UBE_PASSES_LINALG_PHILOX_H
