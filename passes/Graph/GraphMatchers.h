//===- GraphMatchers.h - matching ube ops that frontends spell out -*- C++ -*-===//
//
// Small matchers shared by the graph-level fusions (FuseDistillation.cpp,
// FuseNormalizations.cpp), which recognize composite computations written in
// primitive ube ops.
//
//===----------------------------------------------------------------------===//

#ifndef UBE_PASSES_GRAPH_GRAPHMATCHERS_H
#define UBE_PASSES_GRAPH_GRAPHMATCHERS_H

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Matchers.h"

#include <array>
#include <optional>
#include <utility>

namespace ube {

/// The operands of a binary op in both orders, for matching commutative
/// spellings: (lhs, rhs), then (rhs, lhs).
template <typename OpTy>
std::array<std::pair<mlir::Value, mlir::Value>, 2> bothOrders(OpTy op) {
  return {{{op.getLhs(), op.getRhs()}, {op.getRhs(), op.getLhs()}}};
}

/// The value of a float constant with a single element (any shape).
inline std::optional<double> scalarConstant(mlir::Value value) {
  mlir::DenseElementsAttr attr;
  if (!mlir::matchPattern(value, mlir::m_Constant(&attr)) || attr.getNumElements() != 1 ||
      !llvm::isa<mlir::FloatType>(attr.getElementType()))
    return std::nullopt;
  return (*attr.getValues<llvm::APFloat>().begin()).convertToDouble();
}

/// `scores` as `q · kᵀ`: a matmul whose right-hand side is transposed by its
/// attribute or by a transpose op swapping the last two axes. Returns
/// (q, k), k untransposed.
std::optional<std::pair<mlir::Value, mlir::Value>> matchQueryKeyProduct(mlir::Value scores);

} // namespace ube

#endif // UBE_PASSES_GRAPH_GRAPHMATCHERS_H
