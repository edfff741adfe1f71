//===- AttentionKernels.cpp - flash attention for CPUs --------------------===//
//
// ube.scaled_dot_product_attention as one kernel that never holds a matrix
// of scores, for any (symbolic) number of queries and keys:
//
//   scf.forall over (matrix, group of query rows): tasks for the thread pool
//     keysT      the matrix's keys transposed, [E, S rounded up to a block],
//                so that a vector of scores is E broadcast-FMAs
//     per tile of R query rows:
//       per block of C keys (up to the tile's last row under is_causal):
//         scores   R × C/lanes vectors Σ_e q[r, e]·keysT[e, block], scaled;
//                  the mask's bias added and clamped at the lowest float,
//                  keys after the row (causal) the lowest float, keys past
//                  S -inf (the padding of the last block)
//         online   per row: m' = max(m, the block's max), α = exp(m − m'),
//                  p = exp(s − m'), l = α·l + p (lane-wise), O = α·O + p·V
//       output     O / Σ l; under a mask, zeros for a row whose largest
//                  score is the lowest float (every key masked)
//
// which is what the decomposition (dialects/ube/UbeAttention.cpp) computes,
// in a different order of sums. Dropout, 16-bit floats and operands that do
// not fit the views below are left to it.
//
//===----------------------------------------------------------------------===//

#include "passes/Cpu/Passes.h"

#include "dialects/ube/UbeBuilder.h"
#include "dialects/ube/UbeOps.h"
#include "passes/Utils/KernelBuilding.h"

#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include <limits>

namespace ube {
#define GEN_PASS_DEF_UBECPUATTENTIONKERNELS
#include "passes/Cpu/Passes.h.inc"
} // namespace ube

using namespace mlir;
using namespace ube;

namespace {

RankedTensorType tensorType(Value v) { return cast<RankedTensorType>(v.getType()); }

/// Whether dimension `i` of `operand` (aligned to the right with `shape`)
/// broadcasts: a static 1 against a size that is not.
bool broadcasts(RankedTensorType operand, int64_t i, ArrayRef<int64_t> shape) {
  int64_t d = shape.size() - operand.getRank() + i;
  return operand.getDimSize(i) == 1 && shape[d] != 1;
}

/// Whether `operand` broadcasts to `shape` dimension by dimension: each of
/// its sizes 1 or `shape`'s own (symbolic in both when symbolic).
bool broadcastsTo(RankedTensorType operand, ArrayRef<int64_t> shape) {
  if (operand.getRank() > static_cast<int64_t>(shape.size()))
    return false;
  int64_t offset = shape.size() - operand.getRank();
  for (auto [i, size] : llvm::enumerate(operand.getShape()))
    if (size != 1 && size != shape[offset + i])
      return false;
  return true;
}

/// Why the kernel does not take `op`; empty when it does.
std::string unsupported(ScaledDotProductAttentionOp op) {
  if (!op.getDropoutP().isZero())
    return "dropout";
  if (op->hasAttr(UbeDialect::RecomputedByGradientAttrHelper::getNameStr()))
    return "its gradient recomputes it (the composition shares that work)";
  auto q = tensorType(op.getQuery()), k = tensorType(op.getKey()),
       v = tensorType(op.getValue()), result = op.getType();
  for (RankedTensorType t : {q, k, v, result})
    if (!t.getElementType().isF32() || llvm::is_contained(t.getShape(), 0))
      return "not non-empty f32";
  int64_t n = q.getRank();
  if (k.getRank() != n || v.getRank() != n)
    return "key or value of another rank than the query";
  int64_t e = q.getDimSize(n - 1), ev = v.getDimSize(n - 1);
  if (ShapedType::isDynamic(e) || ShapedType::isDynamic(ev) || k.getDimSize(n - 1) != e)
    return "a symbolic head size";
  if (k.getDimSize(n - 2) != v.getDimSize(n - 2))
    return "keys and values of different lengths";
  SmallVector<int64_t> expected(q.getShape());
  expected.back() = ev;
  if (result.getShape() != ArrayRef<int64_t>(expected))
    return "a result broadcast beyond the query";
  // Keys and values: each batch dimension the query's, 1, or (heads) a
  // divisor of the query's heads.
  for (RankedTensorType t : {k, v})
    for (int64_t d = 0; d + 2 < n; ++d) {
      int64_t size = t.getDimSize(d), queries = q.getDimSize(d);
      bool grouped = d == n - 3 && !ShapedType::isDynamic(size) &&
                     !ShapedType::isDynamic(queries) && queries % size == 0;
      if (size != 1 && size != queries && !grouped)
        return "key or value batch dimensions that do not broadcast to the query's";
    }
  if (Value mask = op.getMask()) {
    auto m = tensorType(mask);
    if (!m.getElementType().isF32() && !m.getElementType().isInteger(1))
      return "a mask neither f32 nor i1";
    SmallVector<int64_t> scores(q.getShape().drop_back());
    scores.push_back(k.getDimSize(n - 2));
    if (!broadcastsTo(m, scores))
      return "a mask that does not broadcast to the scores dimension by dimension";
  }
  return "";
}

struct KernelShape {
  int64_t lanes, tileRows, keyBlock, minTasks;
};

/// Builds the kernel of one op.
class AttentionKernelBuilder {
public:
  AttentionKernelBuilder(ImplicitLocOpBuilder &b, ScaledDotProductAttentionOp op, Value mask,
                         const KernelShape &shape)
      : b(b), ix(b), op(op), mask(mask), lanes(shape.lanes), tileRows(shape.tileRows),
        keyVectors(shape.keyBlock / shape.lanes), minTasks(shape.minTasks) {
    q = op.getQuery(), k = op.getKey(), v = op.getValue();
    n = tensorType(q).getRank();
    // Fewer known query rows than a tile (one row: a decoding step) make a
    // smaller tile rather than repeat the last row.
    int64_t queries = tensorType(q).getDimSize(n - 2);
    if (!ShapedType::isDynamic(queries))
      tileRows = std::min(tileRows, queries);
    headSize = tensorType(q).getDimSize(n - 1);
    valueSize = tensorType(v).getDimSize(n - 1);
    valueVectors = llvm::divideCeil(valueSize, lanes);
    f32 = b.getF32Type();
    vec = VectorType::get({lanes}, f32);
    maskVec = VectorType::get({lanes}, b.getI1Type());
  }

  Value build() {
    Value queries = ix.dim(q, n - 2);
    keys = ix.dim(k, n - 2);
    Value matrices = ix.c(1);
    for (int64_t d = 0; d + 2 < n; ++d) {
      batchSizes.push_back(ix.dim(q, d));
      matrices = ix.mul(matrices, batchSizes.back());
    }
    // Enough tasks for the threads: a matrix's tiles split into groups
    // when there are fewer than minTasks matrices.
    Value tiles = ix.ceilDiv(queries, ix.c(tileRows));
    Value groups = ix.max(ix.c(1), ix.min(tiles, ix.ceilDiv(ix.c(minTasks), matrices)));
    Value tilesPerGroup = ix.ceilDiv(tiles, groups);
    groups = ix.ceilDiv(tiles, tilesPerGroup);

    RankedTensorType resultType = op.getType();
    SmallVector<Value> dynamicSizes;
    for (int64_t d = 0; d < n; ++d)
      if (resultType.isDynamicDim(d))
        dynamicSizes.push_back(ix.dim(q, d));
    Value init = tensor::EmptyOp::create(b, resultType.getShape(), f32, dynamicSizes);
    Value tasks = ix.mul(matrices, groups);
    auto forall = scf::ForallOp::create(b, ArrayRef<OpFoldResult>{getAsOpFoldResult(tasks)},
                                        ValueRange{init}, std::nullopt);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(forall.getBody());
    Value task = forall.getInductionVars()[0];
    Value matrix = ix.div(task, groups);
    coords = ix.delinearize(matrix, batchSizes);
    keyCoords = operandCoordinates(k);
    valueCoords = operandCoordinates(v);
    Value rowBegin = ix.mul(ix.mul(ix.rem(task, groups), tilesPerGroup), ix.c(tileRows));
    Value rowCount = ix.min(ix.mul(tilesPerGroup, ix.c(tileRows)), ix.sub(queries, rowBegin));
    Value keysT = transposedKeys();
    // The probabilities of a tile's block, which p·V broadcasts from memory
    // (an extract of a register's lane costs three shuffles).
    Value scratch = tensor::EmptyOp::create(
        b, RankedTensorType::get({tileRows, keyVectors * lanes}, f32), ValueRange{});

    SmallVector<OpFoldResult> offsets, sizes, strides(n, b.getIndexAttr(1));
    for (Value c : coords) {
      offsets.push_back(c);
      sizes.push_back(b.getIndexAttr(1));
    }
    offsets.append({rowBegin, b.getIndexAttr(0)});
    sizes.append({rowCount, b.getIndexAttr(valueSize)});
    auto sliceType = RankedTensorType::get({ShapedType::kDynamic, valueSize}, f32);
    Value shared = forall.getRegionIterArgs()[0];
    Value slice =
        tensor::ExtractSliceOp::create(b, sliceType, shared, offsets, sizes, strides);
    slice = buildLoop(b, ix.c(0), rowCount, ix.c(tileRows), ValueRange{slice, scratch},
                      [&](Value local, ValueRange out) -> SmallVector<Value> {
                        Value p = out[1];
                        Value first = ix.add(rowBegin, local);
                        Value rows = tile(first, local, queries, keysT, out[0], p);
                        return {rows, p};
                      })[0];
    b.setInsertionPointToStart(forall.getTerminator().getBody());
    tensor::ParallelInsertSliceOp::create(b, slice, shared, offsets, sizes, strides);
    return forall.getResult(0);
  }

private:
  /// The batch indices of key or value `operand` at the query's `coords`:
  /// 0 where it broadcasts, the query head over the group size for grouped
  /// heads.
  SmallVector<Value> operandCoordinates(Value operand) {
    auto type = tensorType(operand);
    ArrayRef<int64_t> queryShape = tensorType(q).getShape();
    SmallVector<Value> result;
    for (int64_t d = 0; d + 2 < n; ++d) {
      int64_t size = type.getDimSize(d), queries = queryShape[d];
      if (broadcasts(type, d, queryShape))
        result.push_back(ix.c(0));
      else if (size != queries) // grouped heads
        result.push_back(ix.div(coords[d], ix.c(queries / size)));
      else
        result.push_back(coords[d]);
    }
    return result;
  }

  /// The matrix's keys transposed in panels of C keys, [S / C rounded up,
  /// E, C]: key j is column j % C of panel j / C, so a block's E rows are
  /// contiguous (rows of one [E, S] matrix, S·4 bytes apart, would fall in
  /// the same L1 sets). The padding after the last key is never
  /// initialized: its scores are replaced by -inf.
  Value transposedKeys() {
    int64_t width = keyVectors * lanes;
    auto type = RankedTensorType::get({ShapedType::kDynamic, headSize, width}, f32);
    Value keysT = tensor::EmptyOp::create(b, type, ValueRange{ix.ceilDiv(keys, ix.c(width))});
    return buildLoop(b, ix.c(0), keys, ix.c(1), ValueRange{keysT},
                     [&](Value j, ValueRange state) -> SmallVector<Value> {
                       SmallVector<Value> at(keyCoords);
                       at.append({j, Value()});
                       return buildLoop(b, ix.c(0), ix.c(headSize), ix.c(1), state,
                                        [&](Value e, ValueRange inner) -> SmallVector<Value> {
                                          at.back() = e;
                                          Value x = tensor::ExtractOp::create(b, k, at);
                                          return {tensor::InsertOp::create(
                                              b, x, inner[0],
                                              ValueRange{ix.div(j, ix.c(width)), e,
                                                         ix.rem(j, ix.c(width))})};
                                        });
                     })[0];
  }

  /// The mask's vector for row `row`, key vector `c` of the block at
  /// `block`; `valid`: the lanes before the last key (null: all of them).
  Value maskVector(Value row, Value block, int64_t c, Value valid) {
    auto type = tensorType(mask);
    SmallVector<int64_t> scores(tensorType(q).getShape().drop_back());
    scores.push_back(ShapedType::kDynamic);
    int64_t offset = n - type.getRank();
    SmallVector<Value> at;
    bool perKey = false;
    for (int64_t i = 0; i < type.getRank(); ++i) {
      int64_t d = offset + i;
      if (d == n - 1) {
        perKey = !broadcasts(type, i, scores);
        at.push_back(perKey ? ix.add(block, ix.c(c * lanes)) : ix.c(0));
      } else if (broadcasts(type, i, scores)) {
        at.push_back(ix.c(0));
      } else {
        at.push_back(d == n - 2 ? row : coords[d]);
      }
    }
    if (!perKey)
      return vector::BroadcastOp::create(b, vec, tensor::ExtractOp::create(b, mask, at));
    auto read = vector::TransferReadOp::create(b, vec, mask, at, scalar(0.0),
                                               ArrayRef<bool>{true});
    if (valid)
      read.getMaskMutable().assign(valid);
    return read;
  }

  /// Whether the mask has a row dimension (else one vector serves a tile).
  bool maskPerRow() {
    auto type = tensorType(mask);
    int64_t i = type.getRank() - 2;
    return i >= 0 && !broadcasts(type, i, tensorType(q).getShape());
  }

  /// One tile: query rows [first, first + R) of the matrix (those before
  /// `queries`), written at row `local` of `out`, the task's rows;
  /// `scratch` ([R, C]) holds a block's probabilities, updated.
  Value tile(Value first, Value local, Value queries, Value keysT, Value out, Value &scratch) {
    Value lastRow = ix.sub(queries, ix.c(1));
    SmallVector<Value> rows, readRows;
    for (int64_t r = 0; r < tileRows; ++r) {
      rows.push_back(ix.add(first, ix.c(r)));
      readRows.push_back(ix.min(rows.back(), lastRow)); // a ragged tile repeats its last row
    }
    // Under is_causal the tile's rows see keys up to its last row.
    Value end = keys;
    if (op.getIsCausal())
      end = ix.min(keys, ix.add(readRows.back(), ix.c(1)));
    double negInf = -std::numeric_limits<double>::infinity();
    SmallVector<Value> state;
    for (int64_t r = 0; r < tileRows; ++r) {
      for (int64_t w = 0; w < valueVectors; ++w)
        state.push_back(splat(0.0)); // O
      state.push_back(splat(negInf)); // m
      state.push_back(splat(0.0));    // l
    }
    int64_t perRow = valueVectors + 2;
    state.push_back(scratch);
    // Blocks of C keys, then the keys left one vector at a time, so a short
    // or ragged row computes at most a vector of padding.
    Value blockKeys = ix.c(keyVectors * lanes);
    Value fullEnd = ix.mul(ix.div(end, blockKeys), blockKeys);
    state = buildLoop(b, ix.c(0), fullEnd, blockKeys, state,
                      [&](Value block, ValueRange acc) {
                        return blockStep(keyVectors, /*ragged=*/false, block, acc, readRows,
                                         keysT);
                      });
    if (ix.constant(ix.lt(fullEnd, end)) != 0 && keyVectors > 1)
      state = buildLoop(b, fullEnd, end, ix.c(lanes), state,
                        [&](Value block, ValueRange acc) {
                          return blockStep(1, /*ragged=*/true, block, acc, readRows, keysT);
                        });
    scratch = state.back();
    // The output rows of the tile that exist.
    for (int64_t r = 0; r < tileRows; ++r) {
      Value total = vector::ReductionOp::create(b, vector::CombiningKind::ADD,
                                                state[r * perRow + valueVectors + 1]);
      Value inverse = vector::BroadcastOp::create(b, vec, arith::DivFOp::create(b, scalar(1.0),
                                                                                total));
      Value keyed;
      if (mask)
        keyed = arith::CmpFOp::create(b, arith::CmpFPredicate::OGT,
                                      state[r * perRow + valueVectors],
                                      splat(-std::numeric_limits<float>::max()));
      Value exists = ix.lt(rows[r], queries);
      auto ifOp = scf::IfOp::create(b, TypeRange{out.getType()}, exists, true, true);
      {
        OpBuilder::InsertionGuard guard(b);
        b.setInsertionPointToStart(ifOp.thenBlock());
        Value written = out;
        for (int64_t w = 0; w < valueVectors; ++w) {
          Value o = arith::MulFOp::create(b, state[r * perRow + w], inverse);
          if (keyed)
            o = arith::SelectOp::create(b, keyed, o, splat(0.0));
          Value lanesOfRow = valueMask(w);
          auto write = vector::TransferWriteOp::create(
              b, o, written, ValueRange{ix.add(local, ix.c(r)), ix.c(w * lanes)},
              ArrayRef<bool>{true});
          if (lanesOfRow)
            write.getMaskMutable().assign(lanesOfRow);
          written = write.getResult();
        }
        scf::YieldOp::create(b, written);
        b.setInsertionPointToStart(ifOp.elseBlock());
        scf::YieldOp::create(b, out);
      }
      out = ifOp.getResult(0);
    }
    return out;
  }

  /// One block of `vectors` key vectors at `block`: the tile's running
  /// statistics and outputs `acc` (per row: O, m, l; then the probabilities'
  /// scratch) updated. Only a `ragged` block has keys past the last one.
  SmallVector<Value> blockStep(int64_t vectors, bool ragged, Value block, ValueRange acc,
                               ArrayRef<Value> readRows, Value keysT) {
    int64_t rowsOfTile = readRows.size(), perRow = valueVectors + 2;
    Value lowest = splat(-std::numeric_limits<float>::max());
    Value negInf = splat(-std::numeric_limits<double>::infinity());
    SmallVector<Value> scores = blockScores(vectors, readRows, block, keysT);
    // The lanes before the last key (all of them unless ragged).
    SmallVector<Value> valid(vectors);
    if (ragged)
      for (int64_t c = 0; c < vectors; ++c)
        valid[c] = vector::CreateMaskOp::create(
            b, maskVec, ValueRange{ix.sub(keys, ix.add(block, ix.c(c * lanes)))});
    Value scale = splat(op.getScaleOrDefault());
    SmallVector<Value> biases(vectors); // a mask without rows: one per tile
    SmallVector<Value> next, probabilities;
    for (int64_t r = 0; r < rowsOfTile; ++r) {
      SmallVector<Value> s;
      Value top;
      for (int64_t c = 0; c < vectors; ++c) {
        Value x = arith::MulFOp::create(b, scores[r * vectors + c], scale);
        if (mask) {
          Value bias = biases[c];
          if (!bias)
            bias = maskVector(readRows[r], block, c, valid[c]);
          if (!maskPerRow())
            biases[c] = bias;
          x = arith::MaximumFOp::create(b, arith::AddFOp::create(b, x, bias), lowest);
        }
        if (op.getIsCausal()) {
          // Key j is visible to row i when j <= i.
          Value seen = vector::CreateMaskOp::create(
              b, maskVec,
              ValueRange{ix.sub(ix.add(readRows[r], ix.c(1)), ix.add(block, ix.c(c * lanes)))});
          x = arith::SelectOp::create(b, seen, x, lowest);
        }
        if (valid[c])
          x = arith::SelectOp::create(b, valid[c], x, negInf);
        s.push_back(x);
        top = top ? arith::MaximumFOp::create(b, top, x).getResult() : x;
      }
      Value mOld = acc[r * perRow + valueVectors];
      Value lOld = acc[r * perRow + valueVectors + 1];
      Value blockMax = vector::BroadcastOp::create(
          b, vec, vector::ReductionOp::create(b, vector::CombiningKind::MAXIMUMF, top));
      Value mNew = arith::MaximumFOp::create(b, mOld, blockMax);
      Value alpha = math::ExpOp::create(b, arith::SubFOp::create(b, mOld, mNew));
      Value sum;
      for (Value x : s) {
        Value p = math::ExpOp::create(b, arith::SubFOp::create(b, x, mNew));
        probabilities.push_back(p);
        sum = sum ? arith::AddFOp::create(b, sum, p).getResult() : p;
      }
      for (int64_t w = 0; w < valueVectors; ++w)
        next.push_back(arith::MulFOp::create(b, acc[r * perRow + w], alpha));
      next.push_back(mNew);
      next.push_back(math::FmaOp::create(b, lOld, alpha, sum));
    }
    Value probs = acc.back();
    for (int64_t r = 0; r < rowsOfTile; ++r)
      for (int64_t c = 0; c < vectors; ++c)
        probs = vector::TransferWriteOp::create(b, probabilities[r * vectors + c], probs,
                                                ValueRange{ix.c(r), ix.c(c * lanes)},
                                                ArrayRef<bool>{true})
                    .getResult();
    // O += p·V, one key at a time: its values row read once for the tile.
    Value lastKey = ix.sub(keys, ix.c(1));
    for (int64_t j = 0; j < vectors * lanes; ++j) {
      // Keys past the last one have p = 0; they read the last one's row.
      Value key = ix.add(block, ix.c(j));
      if (ragged)
        key = ix.min(key, lastKey);
      SmallVector<Value> values;
      for (int64_t w = 0; w < valueVectors; ++w)
        values.push_back(readValue(key, w));
      for (int64_t r = 0; r < rowsOfTile; ++r) {
        Value p = vector::BroadcastOp::create(
            b, vec, tensor::ExtractOp::create(b, probs, ValueRange{ix.c(r), ix.c(j)}));
        for (int64_t w = 0; w < valueVectors; ++w) {
          Value &o = next[r * perRow + w];
          o = math::FmaOp::create(b, p, values[w], o);
        }
      }
    }
    next.push_back(probs);
    return next;
  }

  /// The scores of the tile's rows (`readRows`) against `vectors` key
  /// vectors at `block`: R × vectors vectors, unscaled.
  SmallVector<Value> blockScores(int64_t vectors, ArrayRef<Value> readRows, Value block,
                                 Value keysT) {
    SmallVector<Value> zeros(readRows.size() * vectors, splat(0.0));
    Value width = ix.c(keyVectors * lanes);
    Value panel = ix.div(block, width), column = ix.rem(block, width);
    return buildLoop(
        b, ix.c(0), ix.c(headSize), ix.c(1), zeros,
        [&](Value e, ValueRange acc) -> SmallVector<Value> {
          SmallVector<Value> columns, next;
          for (int64_t c = 0; c < vectors; ++c)
            columns.push_back(vector::TransferReadOp::create(
                b, vec, keysT, ValueRange{panel, e, ix.add(column, ix.c(c * lanes))},
                scalar(0.0), ArrayRef<bool>{true}));
          for (auto [r, row] : llvm::enumerate(readRows)) {
            SmallVector<Value> at(coords);
            at.append({row, e});
            Value x = vector::BroadcastOp::create(b, vec, tensor::ExtractOp::create(b, q, at));
            for (int64_t c = 0; c < vectors; ++c)
              next.push_back(math::FmaOp::create(b, x, columns[c], acc[r * vectors + c]));
          }
          return next;
        });
  }

  /// Vector `w` of the values row of key `key`.
  Value readValue(Value key, int64_t w) {
    SmallVector<Value> at(valueCoords);
    at.append({key, ix.c(w * lanes)});
    Value lanesOfRow = valueMask(w);
    auto read = vector::TransferReadOp::create(b, vec, v, at, scalar(0.0),
                                               ArrayRef<bool>{true});
    if (lanesOfRow)
      read.getMaskMutable().assign(lanesOfRow);
    return read;
  }

  /// The lanes of vector `w` of a values row within Ev; null when all are.
  Value valueMask(int64_t w) {
    int64_t left = valueSize - w * lanes;
    if (left >= lanes)
      return {};
    return vector::ConstantMaskOp::create(b, maskVec, ArrayRef<int64_t>{left});
  }

  Value scalar(double x) { return arith::ConstantOp::create(b, b.getF32FloatAttr(float(x))); }
  Value splat(double x) {
    return arith::ConstantOp::create(b, DenseElementsAttr::get(vec, b.getF32FloatAttr(float(x))));
  }

  ImplicitLocOpBuilder &b;
  IndexMath ix;
  ScaledDotProductAttentionOp op;
  Value q, k, v, mask; // mask: an f32 bias, or null
  int64_t n, headSize, valueSize, valueVectors;
  int64_t lanes, tileRows, keyVectors, minTasks;
  Type f32;
  VectorType vec, maskVec;
  SmallVector<Value> batchSizes, coords, keyCoords, valueCoords;
  Value keys;
};

struct FlashAttention : OpRewritePattern<ScaledDotProductAttentionOp> {
  FlashAttention(MLIRContext *context, KernelShape shape)
      : OpRewritePattern(context), shape(shape) {}

  LogicalResult matchAndRewrite(ScaledDotProductAttentionOp op,
                                PatternRewriter &rewriter) const override {
    std::string why = unsupported(op);
    if (!why.empty())
      return rewriter.notifyMatchFailure(op, why);
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    Value mask = op.getMask();
    if (mask && !tensorType(mask).getElementType().isF32()) {
      // A boolean keep-mask as a bias: 0 or the lowest float.
      UbeBuilder u(rewriter, op.getLoc());
      Type f32 = rewriter.getF32Type();
      mask = u.where(mask, u.scalar(f32, 0.0), u.lowest(f32));
    }
    rewriter.replaceOp(op, AttentionKernelBuilder(b, op, mask, shape).build());
    return success();
  }

  KernelShape shape;
};

struct UbeCpuAttentionKernelsPass
    : ube::impl::UbeCpuAttentionKernelsBase<UbeCpuAttentionKernelsPass> {
  using Base::Base;
  void runOnOperation() override {
    if (vectorWidth < 1 || tileRows < 1 || keyBlock < vectorWidth ||
        keyBlock % vectorWidth != 0 || minTasks < 1) {
      getOperation().emitError("ube-cpu-attention-kernels: vector-width, tile-rows and "
                               "min-tasks must be positive, key-block a multiple of the "
                               "width");
      return signalPassFailure();
    }
    RewritePatternSet patterns(&getContext());
    patterns.add<FlashAttention>(&getContext(),
                                 KernelShape{vectorWidth, tileRows, keyBlock, minTasks});
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns), kernelRewriteConfig())))
      signalPassFailure();
  }
};

} // namespace
