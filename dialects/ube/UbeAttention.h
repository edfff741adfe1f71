//===- UbeAttention.h - attention in primitive ube ops ----------*- C++ -*-===//
//
// ube.scaled_dot_product_attention spelled in primitive ube ops: what its
// decomposition (passes/Decompose.cpp) computes and what its gradient rule
// (UbeVjp.cpp) recomputes, so the two cannot drift apart.
//
//===----------------------------------------------------------------------===//

#ifndef UBE_DIALECTS_UBE_UBEATTENTION_H
#define UBE_DIALECTS_UBE_UBEATTENTION_H

#include "dialects/ube/UbeBuilder.h"

#include <string>

namespace ube {

/// The attention of one op. Grouped-query heads are handled by viewing the
/// query as [..., Hk, G, L, E] and the key and value as [..., Hk, 1, S, *]:
/// the products broadcast over the G query heads of a group, so keys and
/// values are never copied. Without groups the views are the operands.
class AttentionComposition {
public:
  AttentionComposition(UbeBuilder &u, ScaledDotProductAttentionOp op);

  /// What of `op` the composition cannot take on its symbolic sizes (a
  /// causal mask of a symbolic length, a symbolic number of heads); empty
  /// when it can.
  static std::string unsupported(ScaledDotProductAttentionOp op);

  /// The op's result: the probabilities times the values.
  Value output();
  /// The gradients of query, key, value and a float mask (null for a
  /// boolean mask) given `g`, the gradient of the result.
  void gradients(Value g, mlir::SmallVectorImpl<Value> &grads);

private:
  /// `x` (shaped like an operand whose heads sit at dimension rank-3) in
  /// the grouped view: heads split into [heads / groupSize, groupSize].
  Value grouped(Value x, int64_t groupSize);
  /// A gradient in the grouped view of `operand`'s shape, summed over what
  /// was broadcast and reshaped to the operand's shape.
  Value ungrouped(Value grad, Value operand, Value groupedOperand);
  /// `x` (computed in f32) in `elementType`.
  Value narrowed(Value x, Type elementType);

  UbeBuilder &u;
  ScaledDotProductAttentionOp op;
  int64_t groups = 1;
  Value query, key, value, mask; // grouped f32 views; `query` scaled
  Value probabilities;           // [..., Hk, G, L, S]
};

} // namespace ube

#endif // UBE_DIALECTS_UBE_UBEATTENTION_H
