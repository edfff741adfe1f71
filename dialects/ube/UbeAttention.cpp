//===- UbeAttention.cpp - attention in primitive ube ops ------------------===//

#include "dialects/ube/UbeAttention.h"

#include <limits>

using namespace mlir;

namespace ube {

AttentionOperands::AttentionOperands(ScaledDotProductAttentionOp op)
    : query(op.getQuery()), key(op.getKey()), value(op.getValue()), mask(op.getMask()),
      step(op.getStep()), isCausal(op.getIsCausal()), scale(op.getScaleOrDefault()),
      dropoutP(op.getDropoutPAttr()), seed(op.getSeedAttr()), resultType(op.getType()) {}

AttentionOperands::AttentionOperands(ScaledDotProductAttentionGradOp op)
    : query(op.getQuery()), key(op.getKey()), value(op.getValue()), mask(op.getMask()),
      step(op.getStep()), isCausal(op.getIsCausal()), scale(op.getScaleOrDefault()),
      dropoutP(op.getDropoutPAttr()), seed(op.getSeedAttr()),
      resultType(op.getOutput().getType()) {}

AttentionOperands::AttentionOperands(Value query, Value key, Value value, Value mask,
                                     double scale)
    : query(query), key(key), value(value), mask(mask), scale(scale) {
  auto queryType = UbeBuilder::typeOf(query);
  SmallVector<int64_t> shape(queryType.getShape());
  shape.back() = UbeBuilder::typeOf(value).getShape().back();
  resultType = RankedTensorType::get(shape, queryType.getElementType());
}

std::string AttentionComposition::unsupported(const AttentionOperands &att) {
  auto query = UbeBuilder::typeOf(att.query), key = UbeBuilder::typeOf(att.key);
  int64_t rank = query.getRank();
  if (rank >= 3 && (query.isDynamicDim(rank - 3) || key.isDynamicDim(rank - 3)) &&
      query.getDimSize(rank - 3) != key.getDimSize(rank - 3))
    return "a symbolic number of heads";
  return "";
}

AttentionComposition::AttentionComposition(UbeBuilder &u, const AttentionOperands &att)
    : u(u), att(att) {
  auto queryShape = UbeBuilder::typeOf(att.query).getShape();
  auto keyShape = UbeBuilder::typeOf(att.key).getShape();
  int64_t rank = queryShape.size();
  if (rank >= 3)
    groups = queryShape[rank - 3] / keyShape[rank - 3];
  queries = queryShape[rank - 2];
  keys = keyShape[rank - 2];
  // 16-bit floats are computed in f32 (products, softmax, sums), as the
  // fused kernels of PyTorch and onnxruntime do, and rounded once at the end.
  Type type = u.b.getF32Type();
  auto widened = [&](Value x) {
    return UbeBuilder::elementTypeOf(x).isF32() ? x : u.castTo(x, type);
  };
  // The scale goes on the query ([L, E]), not on the scores ([L, S]).
  query = grouped(u.mul(widened(att.query), u.scalar(type, att.scale)),
                  groups);
  key = grouped(widened(att.key), 1);
  value = grouped(widened(att.value), 1);
  if (Value m = att.mask) {
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
    boolMask = UbeBuilder::elementTypeOf(m).isInteger(1);
    // A boolean mask becomes a bias of 0 or the lowest float, added once
    // per score (a dropped score then is the lowest float: finite).
    mask = boolMask ? u.where(mask, u.scalar(type, 0.0), u.lowest(type)) : widened(mask);
  }
}

bool AttentionComposition::blocked() const {
  return !ShapedType::isDynamic(keys) && !ShapedType::isDynamic(queries) && keys > kFlashKeys;
}

SmallVector<AttentionComposition::Block> AttentionComposition::blocks(int64_t size) {
  if (ShapedType::isDynamic(size))
    return {{0, size}};
  int64_t block = std::max(kMinBlock, int64_t(llvm::divideCeil(size, kMaxBlocks)));
  SmallVector<Block> result;
  for (int64_t begin = 0; begin < size; begin += block)
    result.push_back({begin, std::min(size, begin + block)});
  return result;
}

SmallVector<AttentionComposition::Block> AttentionComposition::visibleKeys(Block rows) {
  SmallVector<Block> result;
  for (Block cols : blocks(keys))
    if (!hidden(rows, cols))
      result.push_back(cols);
  return result;
}

Value AttentionComposition::rowsOf(Value x, Block rows) {
  int64_t axis = UbeBuilder::typeOf(x).getRank() - 2;
  if (UbeBuilder::typeOf(x).getDimSize(axis) == 1)
    return x; // broadcast over the rows
  return u.slice(x, axis, rows.first, rows.second);
}

Value AttentionComposition::maskBlock(Block rows, Block cols) {
  auto shape = UbeBuilder::typeOf(mask).getShape();
  Value block = rowsOf(mask, rows);
  return shape.back() == 1 ? block : u.slice(block, shape.size() - 1, cols.first, cols.second);
}

bool AttentionComposition::hidden(Block rows, Block cols) const {
  // Query i sees keys j <= i.
  return att.isCausal && !ShapedType::isDynamic(rows.second) && cols.first > rows.second - 1;
}

bool AttentionComposition::visible(Block rows, Block cols) const {
  return !att.isCausal || (!ShapedType::isDynamic(cols.second) && cols.second - 1 <= rows.first);
}

Value AttentionComposition::causalBias(Block rows, Block cols) {
  Type type = u.b.getF32Type();
  float lowest = std::numeric_limits<float>::lowest();
  if (!ShapedType::isDynamic(rows.second) && !ShapedType::isDynamic(cols.second)) {
    int64_t height = rows.second - rows.first, width = cols.second - cols.first;
    SmallVector<float> bias(height * width);
    for (int64_t i = 0; i < height; ++i)
      for (int64_t j = 0; j < width; ++j)
        bias[i * width + j] = cols.first + j <= rows.first + i ? 0.0f : lowest;
    auto biasType = RankedTensorType::get({height, width}, type);
    return ConstantOp::create(u.b, biasType,
                              DenseElementsAttr::get(biasType, ArrayRef<float>(bias)));
  }
  // Positions as floats (exact to 2^24): a block of symbolic size is the
  // whole of its dimension, whose size the query or key gives.
  auto positions = [&](Block block, Value of) {
    int64_t axis = UbeBuilder::typeOf(of).getRank() - 2;
    bool symbolic = ShapedType::isDynamic(block.second);
    int64_t extent = symbolic ? ShapedType::kDynamic : block.second - block.first;
    SmallVector<Value> sizes;
    if (symbolic)
      sizes.push_back(u.dimSize(of, axis));
    Value at = ArangeOp::create(u.b, RankedTensorType::get({extent}, type),
                                u.b.getF64FloatAttr(double(block.first)),
                                u.b.getF64FloatAttr(1.0), sizes);
    return std::make_pair(at, sizes);
  };
  auto [i, height] = positions(rows, query);
  auto [j, width] = positions(cols, key);
  int64_t h = UbeBuilder::typeOf(i).getDimSize(0);
  Value column = u.reshape(i, {h, 1}, height);
  return u.where(u.compare("le", j, column), u.scalar(type, 0.0), u.scalar(type, lowest));
}

Value AttentionComposition::scores(Block rows, Block cols, bool recomputed) {
  int64_t keyAxis = UbeBuilder::typeOf(key).getRank() - 2;
  Value keyBlock = u.slice(key, keyAxis, cols.first, cols.second);
  Value queryBlock = rowsOf(query, rows);
  Value scores;
  if (recomputed) {
    SmallVector<int64_t> perm;
    for (int64_t d = 0; d < keyAxis; ++d)
      perm.push_back(d);
    perm.append({keyAxis + 1, keyAxis});
    scores = u.matmul(queryBlock, u.transpose(keyBlock, perm));
  } else {
    scores = u.matmul(queryBlock, keyBlock, /*transposeRhs=*/true);
  }
  Type type = u.b.getF32Type();
  if (mask)
    scores = u.add(scores, maskBlock(rows, cols));
  if (!visible(rows, cols))
    scores = u.add(scores, causalBias(rows, cols));
  // Scores stay at least the lowest float: a float mask's -inf, or two
  // biases added, would make a row without keys NaN.
  if ((mask && !boolMask) || (mask && att.isCausal))
    scores = u.maximum(scores, u.lowest(type));
  return scores;
}

Value AttentionComposition::dropped(Value p, std::optional<std::pair<Block, Block>> block) {
  double rate = att.dropoutRate();
  if (rate == 0.0)
    return p;
  DenseI64ArrayAttr counterShape, counterOffset;
  if (block) {
    // The block's place in the whole: batch dimensions whole (symbolic ones
    // are the block's own size), then rows and keys.
    SmallVector<int64_t> shape(UbeBuilder::typeOf(p).getShape()), offset(shape.size(), 0);
    int64_t rank = shape.size();
    shape[rank - 2] = queries, shape[rank - 1] = keys;
    offset[rank - 2] = block->first.first, offset[rank - 1] = block->second.first;
    counterShape = u.b.getDenseI64ArrayAttr(shape);
    counterOffset = u.b.getDenseI64ArrayAttr(offset);
  }
  return DropoutOp::create(u.b, p, att.step, att.dropoutP, att.seed,
                           counterShape, counterOffset);
}

Value AttentionComposition::zeroedWithoutKeys(Value x, Value max) {
  if (!att.mask) // a causal mask leaves every row its first key
    return x;
  Type type = u.b.getF32Type();
  return u.where(u.compare("gt", max, u.lowest(type)), x, u.scalar(type, 0.0));
}

Value AttentionComposition::zeroedWithoutKeys(Value x, function_ref<Value()> scores) {
  if (!att.mask)
    return x;
  // Without a causal mask the mask alone says which rows keep a key: its
  // largest bias per row is a reduction over [L or 1, S], not over the
  // scores.
  Value max = att.isCausal ? scores() : mask;
  return zeroedWithoutKeys(x, u.reduceMax(max, {-1}, /*keepdims=*/true));
}

AttentionComposition::Statistics AttentionComposition::statistics(Block rows) {
  Statistics st;
  int64_t keyAxis = UbeBuilder::typeOf(value).getRank() - 2;
  for (Block cols : visibleKeys(rows)) {
    Value s = scores(rows, cols);
    Value blockMax = u.reduceMax(s, {-1}, /*keepdims=*/true);
    Value max = st.max ? u.maximum(st.max, blockMax) : blockMax;
    Value exps = u.exp(u.sub(s, max));
    Value blockSum = u.reduceSum(exps, {-1}, /*keepdims=*/true);
    Value blockOutput = u.matmul(dropped(exps, {{rows, cols}}),
                                 u.slice(value, keyAxis, cols.first, cols.second));
    if (st.max) { // what was summed before, rescaled to the new maximum
      Value rescale = u.exp(u.sub(st.max, max));
      blockSum = u.add(u.mul(st.sum, rescale), blockSum);
      blockOutput = u.add(u.mul(st.output, rescale), blockOutput);
    }
    st = {max, blockSum, blockOutput};
  }
  return st;
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
  Value result;
  Block all{0, keys};
  if (blocked()) {
    SmallVector<Value> parts;
    for (Block rows : blocks(queries)) {
      Statistics st = statistics(rows);
      parts.push_back(zeroedWithoutKeys(u.div(st.output, st.sum), st.max));
    }
    result = u.concat(parts, UbeBuilder::typeOf(query).getRank() - 2);
  } else {
    Value s = scores({0, queries}, all);
    // A row without keys is zeroed in the output ([L, E]), not in the
    // probabilities ([L, S]).
    result = zeroedWithoutKeys(u.matmul(dropped(u.softmax(s, -1)), value),
                               [&] { return s; });
  }
  return narrowed(u.reshape(result, att.resultType.getShape()),
                  att.resultType.getElementType());
}

/// With P the probabilities and S the scores (of the scaled query):
///   dV = Pᵀ·g, dP = g·Vᵀ, dS = P ⊙ (dP − rowsum(dP ⊙ P)),
///   dQ = scale·dS·K, dK = dSᵀ·(scale·Q), d(float mask) = dS;
/// each summed over what was broadcast (batch dimensions, a group's heads).
/// Flash-style, rowsum(dP ⊙ P) is rowsum(g ⊙ O) and each block's P is
/// recomputed as exp(S − log-sum-exp) from the forward's statistics. With
/// dropout Z (the mask over 1 − p), O = (P ⊙ Z)·V: dV = (P ⊙ Z)ᵀ·g and
/// dP = (g·Vᵀ) ⊙ Z, and rowsum(dP ⊙ P) is still rowsum(g ⊙ O).
void AttentionComposition::gradients(Value g, SmallVectorImpl<Value> &grads) {
  Type type = u.b.getF32Type();
  if (!UbeBuilder::elementTypeOf(g).isF32())
    g = u.castTo(g, type);
  g = grouped(g, groups);
  Value scale = u.scalar(type, att.scale);
  Value floatMask = mask && !boolMask ? att.mask : Value();
  // The rows without keys have zeros as outputs: their gradients are zero,
  // as if their probabilities were. Zeroing g's rows ([L, E]) makes dV,
  // dP and so dS zero there, without zeroing the probabilities ([L, S]).
  if (!blocked()) {
    Value s = scores({0, queries}, {0, keys});
    Value p = u.softmax(s, -1);
    g = zeroedWithoutKeys(g, [&] { return s; });
    Value dP = dropped(u.matmul(g, value, /*transposeRhs=*/true));
    Value dS = u.mul(p, u.sub(dP, u.reduceSum(u.mul(dP, p), {-1}, /*keepdims=*/true)));
    grads[0] = ungrouped(u.mul(u.matmul(dS, key), scale), att.query, query);
    grads[1] = ungrouped(u.matmul(dS, query, /*transposeRhs=*/false, /*transposeLhs=*/true),
                         att.key, key);
    grads[2] = ungrouped(u.matmul(dropped(p), g, /*transposeRhs=*/false,
                                  /*transposeLhs=*/true),
                         att.value, value);
    if (floatMask)
      grads[3] = ungrouped(dS, floatMask, mask);
    return;
  }
  int64_t axis = UbeBuilder::typeOf(key).getRank() - 2; // rows of q, k, v, g
  SmallVector<Block> keyBlocks = blocks(keys);
  auto accumulate = [&](Value &sum, Value x) { sum = sum ? u.add(sum, x) : x; };
  // Per key block, and per query block x key block for the float mask.
  SmallVector<Value> dKeys(keyBlocks.size()), dValues(keyBlocks.size());
  SmallVector<Value> dQueries;
  SmallVector<SmallVector<Value>> dMasks;
  for (Block rows : blocks(queries)) {
    Statistics st = statistics(rows);
    Value output = zeroedWithoutKeys(u.div(st.output, st.sum), st.max);
    Value logSumExp = u.add(st.max, u.log(st.sum));
    Value gRows = zeroedWithoutKeys(rowsOf(g, rows), st.max);
    Value queryRows = rowsOf(query, rows);
    Value rowDot = u.reduceSum(u.mul(gRows, output), {-1}, /*keepdims=*/true);
    Value dQuery;
    dMasks.emplace_back(keyBlocks.size());
    for (auto [index, cols] : llvm::enumerate(keyBlocks)) {
      if (hidden(rows, cols))
        continue; // no gradient from these rows
      Value p = u.exp(u.sub(scores(rows, cols, /*recomputed=*/true), logSumExp));
      accumulate(dValues[index], u.matmul(dropped(p, {{rows, cols}}), gRows,
                                          /*transposeRhs=*/false, /*transposeLhs=*/true));
      Value dP = dropped(u.matmul(gRows, u.slice(value, axis, cols.first, cols.second),
                                  /*transposeRhs=*/true),
                         {{rows, cols}});
      Value dS = u.mul(p, u.sub(dP, rowDot));
      accumulate(dQuery, u.matmul(dS, u.slice(key, axis, cols.first, cols.second)));
      accumulate(dKeys[index], u.matmul(dS, queryRows, /*transposeRhs=*/false,
                                        /*transposeLhs=*/true));
      if (floatMask)
        dMasks.back()[index] = u.sumToShapeOf(dS, maskBlock(rows, cols));
    }
    dQueries.push_back(dQuery);
  }
  // Key blocks no query sees (causal, more keys than queries) get zeros.
  auto filled = [&](Value grad, Value like) {
    return grad ? grad : u.broadcastLike(u.scalar(type, 0.0), like);
  };
  for (auto [index, cols] : llvm::enumerate(keyBlocks)) {
    dKeys[index] = filled(dKeys[index], u.slice(key, axis, cols.first, cols.second));
    dValues[index] = filled(dValues[index], u.slice(value, axis, cols.first, cols.second));
  }
  grads[0] = ungrouped(u.mul(u.concat(dQueries, axis), scale), att.query, query);
  grads[1] = ungrouped(u.concat(dKeys, axis), att.key, key);
  grads[2] = ungrouped(u.concat(dValues, axis), att.value, value);
  if (!floatMask)
    return;
  // The float mask's gradient: its blocks joined where it has the rows or
  // keys, summed where it broadcasts over them.
  auto shape = UbeBuilder::typeOf(mask).getShape();
  bool perRow = shape[axis] != 1, perKey = shape.back() != 1;
  SmallVector<Value> rowParts;
  for (auto [i, rows] : llvm::enumerate(blocks(queries))) {
    SmallVector<Value> parts;
    Value summed;
    for (auto [j, cols] : llvm::enumerate(keyBlocks)) {
      Value part = filled(dMasks[i][j], maskBlock(rows, cols));
      if (perKey)
        parts.push_back(part);
      else
        accumulate(summed, part);
    }
    rowParts.push_back(perKey ? u.concat(parts, axis + 1) : summed);
  }
  Value dMask = rowParts.front();
  if (perRow)
    dMask = u.concat(rowParts, axis);
  else
    for (Value part : ArrayRef<Value>(rowParts).drop_front())
      dMask = u.add(dMask, part);
  grads[3] = ungrouped(dMask, floatMask, mask);
}

} // namespace ube
