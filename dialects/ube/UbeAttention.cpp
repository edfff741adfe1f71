//===- UbeAttention.cpp - attention in primitive ube ops ------------------===//

#include "dialects/ube/UbeAttention.h"

#include <limits>

using namespace mlir;

namespace ube {

std::string AttentionComposition::unsupported(ScaledDotProductAttentionOp op) {
  auto query = UbeBuilder::typeOf(op.getQuery()), key = UbeBuilder::typeOf(op.getKey());
  int64_t rank = query.getRank();
  if (op.getIsCausal() &&
      (query.isDynamicDim(rank - 2) || key.isDynamicDim(rank - 2)))
    return "is_causal on a symbolic length";
  if (rank >= 3 && (query.isDynamicDim(rank - 3) || key.isDynamicDim(rank - 3)) &&
      query.getDimSize(rank - 3) != key.getDimSize(rank - 3))
    return "a symbolic number of heads";
  return "";
}

AttentionComposition::AttentionComposition(UbeBuilder &u, ScaledDotProductAttentionOp op)
    : u(u), op(op) {
  auto queryShape = UbeBuilder::typeOf(op.getQuery()).getShape();
  auto keyShape = UbeBuilder::typeOf(op.getKey()).getShape();
  int64_t rank = queryShape.size();
  if (rank >= 3)
    groups = queryShape[rank - 3] / keyShape[rank - 3];
  // 16-bit floats are computed in f32 (products, softmax, sums), as the
  // fused kernels of PyTorch and onnxruntime do, and rounded once at the end.
  Type type = u.b.getF32Type();
  auto widened = [&](Value x) {
    return UbeBuilder::elementTypeOf(x).isF32() ? x : u.castTo(x, type);
  };
  // The scale goes on the query ([L, E]), not on the scores ([L, S]).
  query = grouped(u.mul(widened(op.getQuery()), u.scalar(type, op.getScaleOrDefault())),
                  groups);
  key = grouped(widened(op.getKey()), 1);
  value = grouped(widened(op.getValue()), 1);
  Value scores = u.matmul(query, key, /*transposeRhs=*/true);

  Value keep;
  if (Value m = op.getMask()) {
    // Left-padded to the scores' rank, then the grouped view of its heads
    // (a mask broadcast over the heads stays broadcast over both parts).
    auto maskShape = UbeBuilder::typeOf(m).getShape();
    SmallVector<int64_t> padded(rank - maskShape.size(), 1);
    padded.append(maskShape.begin(), maskShape.end());
    mask = u.reshape(m, padded);
    if (rank >= 3 && groups > 1) {
      if (padded[rank - 3] == 1)
        padded.insert(padded.begin() + (rank - 3), 1);
      else {
        padded[rank - 3] /= groups;
        padded.insert(padded.begin() + (rank - 2), groups);
      }
      mask = u.reshape(mask, padded);
    }
    if (UbeBuilder::elementTypeOf(m).isInteger(1))
      keep = mask;
    else
      scores = u.add(scores, widened(mask));
  }
  if (op.getIsCausal()) {
    // Query i sees keys j <= i.
    int64_t rows = queryShape[rank - 2], cols = keyShape[rank - 2];
    SmallVector<bool> lower(rows * cols);
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < cols; ++j)
        lower[i * cols + j] = j <= i;
    auto causalType = RankedTensorType::get({rows, cols}, u.b.getI1Type());
    Value causal = ConstantOp::create(u.b, causalType, DenseElementsAttr::get(causalType, lower));
    keep = keep ? LogicalAndOp::create(u.b, keep, causal).getResult() : causal;
  }
  double infinity = std::numeric_limits<double>::infinity();
  if (keep)
    scores = u.where(keep, scores, u.scalar(type, -infinity));
  Value hasKey;
  if (op.getMask() || op.getIsCausal()) {
    // A row whose every score is -inf attends to nothing: zeros, as PyTorch
    // gives. Clamping to the lowest finite value keeps the softmax finite.
    hasKey = u.compare("gt", u.reduceMax(scores, {-1}, /*keepdims=*/true),
                       u.scalar(type, -infinity));
    scores = u.maximum(scores, u.lowest(type));
  }
  probabilities = u.softmax(scores, -1);
  if (hasKey)
    probabilities = u.where(hasKey, probabilities, u.scalar(type, 0.0));
}

Value AttentionComposition::grouped(Value x, int64_t groupSize) {
  auto shape = UbeBuilder::typeOf(x).getShape();
  int64_t rank = shape.size();
  if (rank < 3 || groups == 1)
    return x;
  SmallVector<int64_t> view(shape);
  view[rank - 3] /= groupSize;
  view.insert(view.begin() + (rank - 2), groupSize);
  return u.reshape(x, view);
}

Value AttentionComposition::ungrouped(Value grad, Value operand, Value groupedOperand) {
  Value summed = u.sumToShapeOf(grad, groupedOperand);
  return narrowed(u.reshapeLike(summed, operand), UbeBuilder::elementTypeOf(operand));
}

Value AttentionComposition::narrowed(Value x, Type elementType) {
  return UbeBuilder::elementTypeOf(x) == elementType ? x : u.castTo(x, elementType);
}

Value AttentionComposition::output() {
  return narrowed(u.reshape(u.matmul(probabilities, value), op.getType().getShape()),
                  op.getType().getElementType());
}

/// With P the probabilities and S the scores (of the scaled query):
///   dV = Pᵀ·g, dP = g·Vᵀ, dS = P ⊙ (dP − rowsum(dP ⊙ P)),
///   dQ = scale·dS·K, dK = dSᵀ·(scale·Q), d(float mask) = dS;
/// each summed over what was broadcast (batch dimensions, a group's heads).
void AttentionComposition::gradients(Value g, SmallVectorImpl<Value> &grads) {
  Type type = u.b.getF32Type();
  if (!UbeBuilder::elementTypeOf(g).isF32())
    g = u.castTo(g, type);
  g = grouped(g, groups);
  Value p = probabilities;
  Value dP = u.matmul(g, value, /*transposeRhs=*/true);
  Value dS = u.mul(p, u.sub(dP, u.reduceSum(u.mul(dP, p), {-1}, /*keepdims=*/true)));
  Value dQuery = u.mul(u.matmul(dS, key), u.scalar(type, op.getScaleOrDefault()));
  grads[0] = ungrouped(dQuery, op.getQuery(), query);
  grads[1] = ungrouped(u.matmul(dS, query, /*transposeRhs=*/false, /*transposeLhs=*/true),
                       op.getKey(), key);
  grads[2] = ungrouped(u.matmul(p, g, /*transposeRhs=*/false, /*transposeLhs=*/true),
                       op.getValue(), value);
  if (Value m = op.getMask(); m && !UbeBuilder::elementTypeOf(m).isInteger(1))
    grads[3] = ungrouped(dS, m, mask);
}

} // namespace ube
