//===- AttentionKernels.cpp - flash attention kernels for CPUs ------------===//
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
//                  (under dropout O = α·O + (p ⊙ z)·V, z drawn per element
//                  as ube.dropout would from its index in [..., L, S])
//       output     O / Σ l; under a mask, zeros for a row whose largest
//                  score is the lowest float (every key masked)
//
// which is what the decomposition (dialects/ube/UbeAttention.cpp) computes,
// in a different order of sums. 16-bit floats and operands that do not fit
// the views below are left to it.
//
// The same tiles and blocks (AttentionKernelBase) make three more kernels:
// ube.scaled_dot_product_attention_grad (FlashAttention-2's backward, from
// the forward kernel's log-sum-exps when both are in the function), and
// ube.attention_transfer_loss with its gradient (two sides' scores per
// block; the gradient is the backward kernel with the teacher's
// probabilities in place of the values).
//
//===----------------------------------------------------------------------===//

#include "passes/Cpu/Passes.h"

#include "dialects/ube/UbeAttention.h"
#include "dialects/ube/UbeBuilder.h"
#include "dialects/ube/UbeOps.h"
#include "passes/Linalg/Philox.h"
#include "passes/Utils/KernelBuilding.h"

#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include <array>
#include <limits>
#include <numeric>

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

/// Why the kernels do not take attention over `att`; empty when they do.
std::string unsupported(const AttentionOperands &att) {
  auto q = tensorType(att.query), k = tensorType(att.key), v = tensorType(att.value);
  for (RankedTensorType t : {q, k, v, att.resultType})
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
  if (att.resultType.getShape() != ArrayRef<int64_t>(expected))
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
  if (Value mask = att.mask) {
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

/// What the forward and backward kernels share: the operands' views, keys
/// (or values) transposed into panels, and a tile's masked scores.
class AttentionKernelBase {
public:
  AttentionKernelBase(ImplicitLocOpBuilder &b, const AttentionOperands &att, Value mask,
                      const KernelShape &shape)
      : b(b), ix(b), att(att), mask(mask), lanes(shape.lanes), tileRows(shape.tileRows),
        keyVectors(shape.keyBlock / shape.lanes), minTasks(shape.minTasks) {
    q = att.query, k = att.key, v = att.value;
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
    queries_ = ix.dim(q, n - 2);
    keys = ix.dim(k, n - 2);
    matrices = ix.c(1);
    for (int64_t d = 0; d + 2 < n; ++d) {
      batchSizes.push_back(ix.dim(q, d));
      matrices = ix.mul(matrices, batchSizes.back());
    }
    if (att.dropoutRate() > 0.0) {
      step = att.step ? tensor::ExtractOp::create(b, att.step, ValueRange{}).getResult()
                      : arith::ConstantOp::create(b, b.getI64IntegerAttr(0)).getResult();
      seed = arith::ConstantOp::create(b, b.getI64IntegerAttr(att.seed.getInt()));
    }
  }

  /// Sets the coordinates of query matrix `matrix` and of its keys and
  /// values.
  void setMatrix(Value matrix) {
    this->matrix = matrix;
    coords = ix.delinearize(matrix, batchSizes);
    keyCoords = operandCoordinates(k);
    valueCoords = operandCoordinates(v);
  }

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

  /// The matrix of `operand` (keys or values, `width` features) at
  /// `at` transposed in panels of C keys, [S / C rounded up, width, C]: key
  /// j is column j % C of panel j / C, so a block's rows are contiguous
  /// (rows of one [width, S] matrix, S·4 bytes apart, would fall in the same
  /// L1 sets). The padding after the last key is never initialized: its
  /// scores are replaced by -inf.
  Value panels(Value operand, ArrayRef<Value> at, int64_t width) {
    int64_t block = keyVectors * lanes;
    auto type = RankedTensorType::get({ShapedType::kDynamic, width, block}, f32);
    Value result = tensor::EmptyOp::create(b, type, ValueRange{ix.ceilDiv(keys, ix.c(block))});
    SmallVector<Value> index(at);
    index.append({Value(), Value()});
    return buildLoop(b, ix.c(0), keys, ix.c(1), ValueRange{result},
                     [&](Value j, ValueRange state) -> SmallVector<Value> {
                       index[n - 2] = j;
                       return buildLoop(b, ix.c(0), ix.c(width), ix.c(1), state,
                                        [&](Value e, ValueRange inner) -> SmallVector<Value> {
                                          index[n - 1] = e;
                                          Value x = tensor::ExtractOp::create(b, operand, index);
                                          return {tensor::InsertOp::create(
                                              b, x, inner[0],
                                              ValueRange{ix.div(j, ix.c(block)), e,
                                                         ix.rem(j, ix.c(block))})};
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

  /// The dropout's factors for row `row` and key vector `c` of the block at
  /// `block`: 1 / (1 - p) where ube.dropout of the [..., L, S]
  /// probabilities keeps an element (Philox of its row-major index), 0
  /// where it drops it. Null without dropout.
  Value keepScale(Value row, Value block, int64_t c) {
    double rate = att.dropoutRate();
    if (rate == 0.0)
      return {};
    Type i64 = b.getI64Type();
    auto indices = VectorType::get({lanes}, i64);
    Value first = ix.add(ix.mul(ix.add(ix.mul(matrix, queries_), row), keys),
                         ix.add(block, ix.c(c * lanes)));
    first = arith::IndexCastOp::create(b, i64, first);
    SmallVector<int64_t> offsets(lanes);
    std::iota(offsets.begin(), offsets.end(), 0);
    Value index = arith::AddIOp::create(
        b, vector::BroadcastOp::create(b, indices, first),
        arith::ConstantOp::create(b, DenseElementsAttr::get(indices, ArrayRef(offsets))));
    Value u = buildPhiloxUniform(b, b.getLoc(), index, step, seed);
    Value kept = arith::CmpFOp::create(b, arith::CmpFPredicate::OGE, u, splat(rate));
    return arith::SelectOp::create(b, kept, splat(1.0 / (1.0 - rate)), splat(0.0));
  }

  /// The lanes of key vector `c` of `block` before the last key, per key
  /// vector of a `ragged` block (null for the others).
  SmallVector<Value> validKeys(int64_t vectors, bool ragged, Value block) {
    SmallVector<Value> valid(vectors);
    if (ragged)
      for (int64_t c = 0; c < vectors; ++c)
        valid[c] = vector::CreateMaskOp::create(
            b, maskVec, ValueRange{ix.sub(keys, ix.add(block, ix.c(c * lanes)))});
    return valid;
  }

  /// The scaled scores of the tile's rows (`readRows`) against `vectors` key
  /// vectors at `block` (R × vectors vectors): the mask's bias added and
  /// clamped at the lowest float, keys after the row (causal) the lowest
  /// float, keys past the last one (lanes not `valid`) -inf.
  SmallVector<Value> maskedScores(int64_t vectors, ArrayRef<Value> valid, Value block,
                                  ArrayRef<Value> readRows, Value keysT) {
    Value lowest = splat(-std::numeric_limits<float>::max());
    Value negInf = splat(-std::numeric_limits<double>::infinity());
    SmallVector<Value> scores =
        blockProducts(q, coords, headSize, vectors, readRows, block, keysT);
    Value scale = splat(att.scale);
    SmallVector<Value> biases(vectors); // a mask without rows: one per tile
    for (auto [r, row] : llvm::enumerate(readRows))
      for (int64_t c = 0; c < vectors; ++c) {
        Value &x = scores[r * vectors + c];
        x = arith::MulFOp::create(b, x, scale);
        if (mask) {
          Value bias = biases[c];
          if (!bias)
            bias = maskVector(row, block, c, valid[c]);
          if (!maskPerRow())
            biases[c] = bias;
          x = arith::MaximumFOp::create(b, arith::AddFOp::create(b, x, bias), lowest);
        }
        if (att.isCausal) {
          // Key j is visible to row i when j <= i.
          Value seen = vector::CreateMaskOp::create(
              b, maskVec,
              ValueRange{ix.sub(ix.add(row, ix.c(1)), ix.add(block, ix.c(c * lanes)))});
          x = arith::SelectOp::create(b, seen, x, lowest);
        }
        if (valid[c])
          x = arith::SelectOp::create(b, valid[c], x, negInf);
      }
    return scores;
  }

  /// The products of rows `readRows` of `operand`'s matrix at `at` ([L,
  /// depth]) with `vectors` key vectors of `panelsT` ([.., depth, C]) at
  /// `block`: R × vectors vectors, `depth` broadcast-FMAs each.
  SmallVector<Value> blockProducts(Value operand, ArrayRef<Value> at, int64_t depth,
                                   int64_t vectors, ArrayRef<Value> readRows, Value block,
                                   Value panelsT) {
    SmallVector<Value> zeros(readRows.size() * vectors, splat(0.0));
    Value width = ix.c(keyVectors * lanes);
    Value panel = ix.div(block, width), column = ix.rem(block, width);
    return buildLoop(
        b, ix.c(0), ix.c(depth), ix.c(1), zeros,
        [&](Value e, ValueRange acc) -> SmallVector<Value> {
          SmallVector<Value> columns, next;
          for (int64_t c = 0; c < vectors; ++c)
            columns.push_back(vector::TransferReadOp::create(
                b, vec, panelsT, ValueRange{panel, e, ix.add(column, ix.c(c * lanes))},
                scalar(0.0), ArrayRef<bool>{true}));
          for (auto [r, row] : llvm::enumerate(readRows)) {
            SmallVector<Value> index(at);
            index.append({row, e});
            Value x =
                vector::BroadcastOp::create(b, vec, tensor::ExtractOp::create(b, operand, index));
            for (int64_t c = 0; c < vectors; ++c)
              next.push_back(math::FmaOp::create(b, x, columns[c], acc[r * vectors + c]));
          }
          return next;
        });
  }

  /// Vector `w` of row `row` of `operand`'s matrix at `at`, `size` features
  /// (lanes past them 0).
  Value readRow(Value operand, ArrayRef<Value> at, Value row, int64_t w, int64_t size) {
    SmallVector<Value> index(at);
    index.append({row, ix.c(w * lanes)});
    Value lanesOfRow = rowMask(w, size);
    auto read = vector::TransferReadOp::create(b, vec, operand, index, scalar(0.0),
                                               ArrayRef<bool>{true});
    if (lanesOfRow)
      read.getMaskMutable().assign(lanesOfRow);
    return read;
  }

  /// Writes `x` as vector `w` of row `row` of `dest` ([.., size]).
  Value writeRow(Value x, Value dest, Value row, int64_t w, int64_t size) {
    Value lanesOfRow = rowMask(w, size);
    auto write = vector::TransferWriteOp::create(b, x, dest, ValueRange{row, ix.c(w * lanes)},
                                                 ArrayRef<bool>{true});
    if (lanesOfRow)
      write.getMaskMutable().assign(lanesOfRow);
    return write.getResult();
  }

  /// The lanes of vector `w` of a row of `size` features within it; null
  /// when all are.
  Value rowMask(int64_t w, int64_t size) {
    int64_t left = size - w * lanes;
    if (left >= lanes)
      return {};
    return vector::ConstantMaskOp::create(b, maskVec, ArrayRef<int64_t>{left});
  }

  /// Rows [first, first + R) of a tile, and the rows it reads: a ragged
  /// tile repeats the matrix's last row.
  std::pair<SmallVector<Value>, SmallVector<Value>> tileRowsAt(Value first) {
    Value lastRow = ix.sub(queries_, ix.c(1));
    SmallVector<Value> rows, readRows;
    for (int64_t r = 0; r < tileRows; ++r) {
      rows.push_back(ix.add(first, ix.c(r)));
      readRows.push_back(ix.min(rows.back(), lastRow));
    }
    return {rows, readRows};
  }

  /// The end of the keys a tile whose last read row is `lastRow` sees:
  /// under is_causal, up to that row.
  Value keyEnd(Value lastRow) {
    return att.isCausal ? ix.min(keys, ix.add(lastRow, ix.c(1))) : keys;
  }

  /// Runs `step` over keys [0, end): blocks of C keys, then the keys left
  /// one vector at a time, so a short or ragged row computes at most a
  /// vector of padding.
  SmallVector<Value> overKeys(Value end, ValueRange state,
                              function_ref<SmallVector<Value>(int64_t vectors, bool ragged,
                                                              Value block, ValueRange state)>
                                  step) {
    Value blockKeys = ix.c(keyVectors * lanes);
    Value fullEnd = ix.mul(ix.div(end, blockKeys), blockKeys);
    SmallVector<Value> result =
        buildLoop(b, ix.c(0), fullEnd, blockKeys, state, [&](Value block, ValueRange acc) {
          return step(keyVectors, /*ragged=*/false, block, acc);
        });
    if (ix.constant(ix.lt(fullEnd, end)) != 0 && keyVectors > 1)
      result = buildLoop(b, fullEnd, end, ix.c(lanes), result, [&](Value block, ValueRange acc) {
        return step(1, /*ragged=*/true, block, acc);
      });
    return result;
  }

  /// Per row of a tile, the new running maximum and sum of exponentials
  /// (lane-wise) from the old ones and the row's `vectors` scores in `s`;
  /// appends exp(s − the new maximum) to `probabilities`. Returns α, the
  /// old terms' rescaling.
  Value onlineSoftmax(ArrayRef<Value> s, Value &m, Value &l,
                      SmallVectorImpl<Value> &probabilities) {
    Value top;
    for (Value x : s)
      top = top ? arith::MaximumFOp::create(b, top, x).getResult() : x;
    Value blockMax = vector::BroadcastOp::create(
        b, vec, vector::ReductionOp::create(b, vector::CombiningKind::MAXIMUMF, top));
    Value mNew = arith::MaximumFOp::create(b, m, blockMax);
    Value alpha = math::ExpOp::create(b, arith::SubFOp::create(b, m, mNew));
    Value sum;
    for (Value x : s) {
      Value p = math::ExpOp::create(b, arith::SubFOp::create(b, x, mNew));
      probabilities.push_back(p);
      sum = sum ? arith::AddFOp::create(b, sum, p).getResult() : p;
    }
    m = mNew;
    l = math::FmaOp::create(b, l, alpha, sum);
    return alpha;
  }

  /// A row's log-sum-exp from its running maximum `m` and lane-wise sums
  /// `l`: +inf for a row without keys, whose probabilities are then 0.
  Value logSumExpOf(Value m, Value l) {
    Value total = vector::ReductionOp::create(b, vector::CombiningKind::ADD, l);
    Value x = arith::AddFOp::create(b, vector::ExtractOp::create(b, m, 0),
                                    math::LogOp::create(b, total));
    if (Value keyed = hasKeys(m))
      x = arith::SelectOp::create(b, vector::ExtractOp::create(b, keyed, 0), x,
                                  scalar(std::numeric_limits<double>::infinity()));
    return x;
  }

  /// Whether a row whose running maximum is `m` has a key: with a mask, its
  /// largest score above the lowest float (a mask that drops every key
  /// leaves the lowest float).
  Value hasKeys(Value m) {
    if (!mask)
      return {};
    return arith::CmpFOp::create(b, arith::CmpFPredicate::OGT, m,
                                 splat(-std::numeric_limits<float>::max()));
  }

  /// The matrix's slice ([1, ..., rows, size] → [rows, size]) of an
  /// operand-shaped tensor: offsets, sizes, strides.
  struct SliceSpec {
    SmallVector<OpFoldResult> offsets, sizes, strides;
  };
  SliceSpec matrixSlice(Value rowBegin, Value rowCount, int64_t size) {
    SliceSpec spec;
    spec.strides.assign(n, b.getIndexAttr(1));
    for (Value c : coords) {
      spec.offsets.push_back(c);
      spec.sizes.push_back(b.getIndexAttr(1));
    }
    spec.offsets.append({rowBegin, b.getIndexAttr(0)});
    spec.sizes.append({rowCount, b.getIndexAttr(size)});
    return spec;
  }

  Value scalar(double x) { return arith::ConstantOp::create(b, b.getF32FloatAttr(float(x))); }
  Value splat(double x) {
    return arith::ConstantOp::create(b, DenseElementsAttr::get(vec, b.getF32FloatAttr(float(x))));
  }

  ImplicitLocOpBuilder &b;
  IndexMath ix;
  AttentionOperands att;
  Value q, k, v, mask; // mask: an f32 bias, or null
  int64_t n, headSize, valueSize, valueVectors;
  int64_t lanes, tileRows, keyVectors, minTasks;
  Type f32;
  VectorType vec, maskVec;
  SmallVector<Value> batchSizes, coords, keyCoords, valueCoords;
  Value queries_, keys, matrices, matrix;
  Value step, seed; // i64 scalars of the dropout's draws; null without dropout
};

/// The forward kernel of one op.
class AttentionKernelBuilder : AttentionKernelBase {
public:
  AttentionKernelBuilder(ImplicitLocOpBuilder &b, ScaledDotProductAttentionOp op, Value mask,
                         const KernelShape &shape)
      : AttentionKernelBase(b, AttentionOperands(op), mask, shape) {}

  /// The result and, `withLogSumExp`, each row's log-sum-exp ([..., L]:
  /// what the backward kernel would otherwise recompute).
  SmallVector<Value> build(bool withLogSumExp) {
    // Enough tasks for the threads: a matrix's tiles split into groups
    // when there are fewer than minTasks matrices.
    Value tiles = ix.ceilDiv(queries_, ix.c(tileRows));
    Value groups = ix.max(ix.c(1), ix.min(tiles, ix.ceilDiv(ix.c(minTasks), matrices)));
    Value tilesPerGroup = ix.ceilDiv(tiles, groups);
    groups = ix.ceilDiv(tiles, tilesPerGroup);

    RankedTensorType resultType = att.resultType;
    SmallVector<Value> inits{
        tensor::EmptyOp::create(b, resultType.getShape(), f32, dynamicSizes(q))};
    if (withLogSumExp) {
      SmallVector<Value> sizes = dynamicSizes(q);
      if (resultType.isDynamicDim(n - 1))
        sizes.pop_back();
      inits.push_back(tensor::EmptyOp::create(b, resultType.getShape().drop_back(), f32, sizes));
    }
    Value tasks = ix.mul(matrices, groups);
    auto forall = scf::ForallOp::create(b, ArrayRef<OpFoldResult>{getAsOpFoldResult(tasks)},
                                        inits, std::nullopt);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(forall.getBody());
    Value task = forall.getInductionVars()[0];
    setMatrix(ix.div(task, groups));
    Value rowBegin = ix.mul(ix.mul(ix.rem(task, groups), tilesPerGroup), ix.c(tileRows));
    Value rowCount = ix.min(ix.mul(tilesPerGroup, ix.c(tileRows)), ix.sub(queries_, rowBegin));
    Value keysT = panels(k, keyCoords, headSize);
    // The probabilities of a tile's block, which p·V broadcasts from memory
    // (an extract of a register's lane costs three shuffles).
    Value scratch = tensor::EmptyOp::create(
        b, RankedTensorType::get({tileRows, keyVectors * lanes}, f32), ValueRange{});

    SliceSpec at = matrixSlice(rowBegin, rowCount, valueSize);
    auto sliceType = RankedTensorType::get({ShapedType::kDynamic, valueSize}, f32);
    Value shared = forall.getRegionIterArgs()[0];
    Value slice = tensor::ExtractSliceOp::create(b, sliceType, shared, at.offsets, at.sizes,
                                                 at.strides);
    SmallVector<Value> state{slice, scratch};
    // The log-sum-exp's slice: the same rows.
    SliceSpec rowsAt = at;
    for (auto *list : {&rowsAt.offsets, &rowsAt.sizes, &rowsAt.strides})
      list->pop_back();
    if (withLogSumExp)
      state.push_back(tensor::ExtractSliceOp::create(
          b, RankedTensorType::get({ShapedType::kDynamic}, f32), forall.getRegionIterArgs()[1],
          rowsAt.offsets, rowsAt.sizes, rowsAt.strides));
    state = buildLoop(b, ix.c(0), rowCount, ix.c(tileRows), state,
                      [&](Value local, ValueRange out) -> SmallVector<Value> {
                        SmallVector<Value> next(out);
                        Value *lse = withLogSumExp ? &next[2] : nullptr;
                        next[0] = tile(ix.add(rowBegin, local), local, keysT, out[0], next[1],
                                       lse);
                        return next;
                      });
    b.setInsertionPointToStart(forall.getTerminator().getBody());
    tensor::ParallelInsertSliceOp::create(b, state[0], shared, at.offsets, at.sizes, at.strides);
    if (withLogSumExp)
      tensor::ParallelInsertSliceOp::create(b, state[2], forall.getRegionIterArgs()[1],
                                            rowsAt.offsets, rowsAt.sizes, rowsAt.strides);
    return forall.getResults();
  }

private:
  SmallVector<Value> dynamicSizes(Value like) {
    SmallVector<Value> sizes;
    for (int64_t d = 0; d < n; ++d)
      if (tensorType(like).isDynamicDim(d))
        sizes.push_back(ix.dim(like, d));
    return sizes;
  }

  /// One tile: query rows [first, first + R) of the matrix (those before
  /// the last), written at row `local` of `out`, the task's rows;
  /// `scratch` ([R, C]) holds a block's probabilities, updated; `lse`, when
  /// not null, the task's rows' log-sum-exps, updated.
  Value tile(Value first, Value local, Value keysT, Value out, Value &scratch, Value *lse) {
    SmallVector<Value> rows, readRows;
    std::tie(rows, readRows) = tileRowsAt(first);
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
    state = overKeys(keyEnd(readRows.back()), state,
                     [&](int64_t vectors, bool ragged, Value block, ValueRange acc) {
                       return blockStep(vectors, ragged, block, acc, readRows, keysT);
                     });
    scratch = state.back();
    // The output rows of the tile that exist.
    for (int64_t r = 0; r < tileRows; ++r) {
      Value total = vector::ReductionOp::create(b, vector::CombiningKind::ADD,
                                                state[r * perRow + valueVectors + 1]);
      Value inverse = vector::BroadcastOp::create(b, vec, arith::DivFOp::create(b, scalar(1.0),
                                                                                total));
      Value m = state[r * perRow + valueVectors], keyed = hasKeys(m);
      auto ifOp = scf::IfOp::create(b, TypeRange{out.getType()}, ix.lt(rows[r], queries_),
                                    true, true);
      {
        OpBuilder::InsertionGuard guard(b);
        b.setInsertionPointToStart(ifOp.thenBlock());
        Value written = out;
        for (int64_t w = 0; w < valueVectors; ++w) {
          Value o = arith::MulFOp::create(b, state[r * perRow + w], inverse);
          if (keyed)
            o = arith::SelectOp::create(b, keyed, o, splat(0.0));
          written = writeRow(o, written, ix.add(local, ix.c(r)), w, valueSize);
        }
        scf::YieldOp::create(b, written);
        b.setInsertionPointToStart(ifOp.elseBlock());
        scf::YieldOp::create(b, out);
      }
      out = ifOp.getResult(0);
      // A row past the last repeats the last, which is the task's last:
      // writing its log-sum-exp there writes the same value (without a
      // branch, whose tensors bufferization could not prove in place).
      if (lse)
        *lse = tensor::InsertOp::create(
            b, logSumExpOf(m, state[r * perRow + valueVectors + 1]), *lse,
            ix.min(ix.add(local, ix.c(r)), ix.sub(ix.dim(*lse, 0), ix.c(1))));
    }
    return out;
  }

  /// One block of `vectors` key vectors at `block`: the tile's running
  /// statistics and outputs `acc` (per row: O, m, l; then the probabilities'
  /// scratch) updated. Only a `ragged` block has keys past the last one.
  SmallVector<Value> blockStep(int64_t vectors, bool ragged, Value block, ValueRange acc,
                               ArrayRef<Value> readRows, Value keysT) {
    int64_t rowsOfTile = readRows.size(), perRow = valueVectors + 2;
    SmallVector<Value> scores =
        maskedScores(vectors, validKeys(vectors, ragged, block), block, readRows, keysT);
    SmallVector<Value> next, probabilities;
    for (int64_t r = 0; r < rowsOfTile; ++r) {
      Value m = acc[r * perRow + valueVectors], l = acc[r * perRow + valueVectors + 1];
      Value alpha = onlineSoftmax(ArrayRef<Value>(scores).slice(r * vectors, vectors), m, l,
                                  probabilities);
      // Dropout weighs the values, not the sums that normalize.
      for (int64_t c = 0; c < vectors; ++c)
        if (Value z = keepScale(readRows[r], block, c)) {
          Value &p = probabilities[r * vectors + c];
          p = arith::MulFOp::create(b, p, z);
        }
      for (int64_t w = 0; w < valueVectors; ++w)
        next.push_back(arith::MulFOp::create(b, acc[r * perRow + w], alpha));
      next.append({m, l});
    }
    Value probs = acc.back();
    for (int64_t r = 0; r < rowsOfTile; ++r)
      for (int64_t c = 0; c < vectors; ++c)
        probs = writeRow(probabilities[r * vectors + c], probs, ix.c(r), c, vectors * lanes);
    // O += p·V, one key at a time: its values row read once for the tile.
    // (A loop, not unrolled: see addProducts.)
    Value lastKey = ix.sub(keys, ix.c(1));
    SmallVector<Value> outputs;
    for (int64_t r = 0; r < rowsOfTile; ++r)
      for (int64_t w = 0; w < valueVectors; ++w)
        outputs.push_back(next[r * perRow + w]);
    outputs = buildLoop(
        b, ix.c(0), ix.c(vectors * lanes), ix.c(1), outputs,
        [&](Value j, ValueRange sums) -> SmallVector<Value> {
          SmallVector<Value> o(sums);
          // Keys past the last one have p = 0; they read the last one's row.
          Value key = ix.add(block, j);
          if (ragged)
            key = ix.min(key, lastKey);
          SmallVector<Value> values;
          for (int64_t w = 0; w < valueVectors; ++w)
            values.push_back(readRow(v, valueCoords, key, w, valueSize));
          for (int64_t r = 0; r < rowsOfTile; ++r) {
            Value p = vector::BroadcastOp::create(
                b, vec, tensor::ExtractOp::create(b, probs, ValueRange{ix.c(r), j}));
            for (int64_t w = 0; w < valueVectors; ++w)
              o[r * valueVectors + w] = math::FmaOp::create(b, p, values[w],
                                                            o[r * valueVectors + w]);
          }
          return o;
        });
    for (int64_t r = 0; r < rowsOfTile; ++r)
      for (int64_t w = 0; w < valueVectors; ++w)
        next[r * perRow + w] = outputs[r * valueVectors + w];
    next.push_back(probs);
    return next;
  }
};

/// The backward kernel of one gradient op, FlashAttention-2's order: one
/// task per query matrix, which first recomputes each row's log-sum-exp
/// (the forward's statistics) and rowsum(g ⊙ O), then walks the keys a
/// block at a time and, per block, the query rows a tile at a time:
///   P  = exp(S − lse)        the tile's probabilities, recomputed
///   dP = g·Vᵀ                from the values transposed into panels
///   dS = scale·P ⊙ (dP − rowsum(g ⊙ O))
///   dV_block += Pᵀ·g, dK_block += dSᵀ·Q  (the block's rows, in scratch)
///   dQ_tile  += dS·K                      (registers, then the task's rows)
/// No [L, S] tensor exists. dK and dV come out per query matrix; grouped
/// or broadcast keys and values are summed to their shapes after it.
///
/// With a `teacher` (attention_transfer_loss_grad: this side is the
/// student's), dS = w_row · (P − P_teacher), the teacher's probabilities
/// recomputed from its own scores and log-sum-exps, and there are no
/// values: the results are dQ and dK.
class AttentionGradKernelBuilder : AttentionKernelBase {
public:
  /// `forwardLse`: the forward kernel's log-sum-exps ([..., L]), or null
  /// to recompute them.
  AttentionGradKernelBuilder(ImplicitLocOpBuilder &b, ScaledDotProductAttentionGradOp op,
                             Value mask, const KernelShape &shape, Value forwardLse)
      : AttentionKernelBase(b, AttentionOperands(op), mask, shape), output(op.getOutput()),
        grad(op.getGrad()), forwardLse(forwardLse) {}

  /// The student's side of attention_transfer_loss_grad: `rowWeight` (an
  /// f32 scalar tensor) times `queryMask` ([B, L] i1, or null) weighs each
  /// query row.
  /// `lses`: the loss kernel's log-sum-exps of both sides, or none.
  AttentionGradKernelBuilder(ImplicitLocOpBuilder &b, const AttentionOperands &student,
                             Value mask, const KernelShape &shape, AttentionKernelBase &teacher,
                             Value rowWeight, Value queryMask, ArrayRef<Value> lses)
      : AttentionKernelBase(b, student, mask, shape), teacher(&teacher), rowWeight(rowWeight),
        queryMask(queryMask) {
    if (!lses.empty())
      forwardLse = lses[0], forwardTeacherLse = lses[1];
  }

  /// d_query, and d_key (and d_value) per query matrix.
  SmallVector<Value> build() {
    ArrayRef<int64_t> queryShape = tensorType(q).getShape();
    SmallVector<Value> batchDynamic;
    for (int64_t d = 0; d + 2 < n; ++d)
      if (ShapedType::isDynamic(queryShape[d]))
        batchDynamic.push_back(batchSizes[d]);
    auto perMatrix = [&](int64_t rows, Value rowCount, int64_t width) {
      SmallVector<int64_t> shape(queryShape.drop_back(2));
      shape.append({rows, width});
      SmallVector<Value> sizes(batchDynamic);
      if (ShapedType::isDynamic(rows))
        sizes.push_back(rowCount);
      return tensor::EmptyOp::create(b, shape, f32, sizes).getResult();
    };
    int64_t keyRows = tensorType(k).getDimSize(n - 2);
    SmallVector<Value> inits{perMatrix(queryShape[n - 2], queries_, headSize),
                             perMatrix(keyRows, keys, headSize)};
    if (!teacher)
      inits.push_back(perMatrix(keyRows, keys, valueSize));
    auto forall = scf::ForallOp::create(b, ArrayRef<OpFoldResult>{getAsOpFoldResult(matrices)},
                                        inits, std::nullopt);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(forall.getBody());
    setMatrix(forall.getInductionVars()[0]);
    Value keysT = panels(k, keyCoords, headSize);
    if (teacher) {
      teacher->setMatrix(forall.getInductionVars()[0]);
      teacherKeysT = teacher->panels(teacher->k, teacher->keyCoords, teacher->headSize);
    } else {
      valuesT = panels(v, valueCoords, valueSize);
    }
    statistics(keysT);

    SmallVector<SliceSpec> at{matrixSlice(ix.c(0), queries_, headSize),
                              matrixSlice(ix.c(0), keys, headSize),
                              matrixSlice(ix.c(0), keys, valueSize)};
    State state;
    SmallVector<Value> slices;
    for (auto [i, shared] : llvm::enumerate(forall.getRegionIterArgs())) {
      int64_t width = i == 2 ? valueSize : headSize;
      auto type = RankedTensorType::get({ShapedType::kDynamic, width}, f32);
      slices.push_back(tensor::ExtractSliceOp::create(b, type, shared, at[i].offsets,
                                                      at[i].sizes, at[i].strides));
    }
    state.dQ = slices[0], state.dK = slices[1];
    if (!teacher)
      state.dV = slices[2];
    // dQ accumulates over the key blocks in rows padded to whole tiles, so
    // that a tile writes all its rows.
    Value padded = ix.mul(ix.ceilDiv(queries_, ix.c(tileRows)), ix.c(tileRows));
    Value dQ = tensor::EmptyOp::create(
        b, RankedTensorType::get({ShapedType::kDynamic, headSize}, f32), ValueRange{padded});
    state.paddedDQ = zeroRows(dQ, ix.c(0), padded, headSize);
    int64_t blockKeys = keyVectors * lanes;
    auto scratch = [&](int64_t rows, int64_t width) {
      return tensor::EmptyOp::create(b, RankedTensorType::get({rows, width}, f32), ValueRange{})
          .getResult();
    };
    state.dS = scratch(tileRows, blockKeys);
    state.blockK = scratch(blockKeys, headSize);
    if (!teacher) {
      state.p = scratch(tileRows, blockKeys);
      state.blockV = scratch(blockKeys, valueSize);
    }
    state = state.with(overKeys(keys, state.pack(), [&](int64_t vectors, bool ragged,
                                                        Value block, ValueRange acc) {
      return blockGradients(vectors, ragged, block, state.with(acc), keysT).pack();
    }));
    state.dQ = copyRows(state.paddedDQ, state.dQ, queries_, headSize);
    b.setInsertionPointToStart(forall.getTerminator().getBody());
    for (auto [i, shared] : llvm::enumerate(forall.getRegionIterArgs()))
      tensor::ParallelInsertSliceOp::create(b, i == 0 ? state.dQ : i == 1 ? state.dK : state.dV,
                                            shared, at[i].offsets, at[i].sizes, at[i].strides);
    return forall.getResults();
  }

private:
  /// What the key and tile loops carry: the matrix's dQ, dK, dV, the
  /// padded dQ, the scratch of P and dS ([R, C]) and of the block's dK and
  /// dV rows ([C, E], [C, Ev]). Without values (a teacher), no dV, P or
  /// block's dV.
  struct State {
    Value dQ, dK, dV, paddedDQ, p, dS, blockK, blockV;

    std::array<Value *, 8> fields() {
      return {&dQ, &dK, &dV, &paddedDQ, &p, &dS, &blockK, &blockV};
    }
    /// The fields that are set, in order.
    SmallVector<Value> pack() const {
      SmallVector<Value> values;
      State copy = *this;
      for (Value *field : copy.fields())
        if (*field)
          values.push_back(*field);
      return values;
    }
    /// This state with the fields that are set taken from `values`.
    State with(ValueRange values) const {
      State result = *this;
      auto it = values.begin();
      for (Value *field : result.fields())
        if (*field)
          *field = *it++;
      return result;
    }
  };

  /// Per row of the matrix (padded to whole tiles): its log-sum-exp (the
  /// forward's, or recomputed), +inf for a row without keys or past the
  /// last (so that its P is 0); and rowsum(g ⊙ O), or with a teacher the
  /// teacher's log-sum-exp.
  void statistics(Value keysT) {
    Value padded = ix.mul(ix.ceilDiv(queries_, ix.c(tileRows)), ix.c(tileRows));
    auto type = RankedTensorType::get({ShapedType::kDynamic}, f32);
    Value init[2] = {tensor::EmptyOp::create(b, type, ValueRange{padded}),
                     tensor::EmptyOp::create(b, type, ValueRange{padded})};
    double inf = std::numeric_limits<double>::infinity();
    // Per row the running maximum and sums of this side (unless the
    // forward's are given) and of the teacher's.
    int64_t sides = forwardLse ? 0 : teacher ? 2 : 1;
    SmallVector<Value> result = buildLoop(
        b, ix.c(0), queries_, ix.c(tileRows), init,
        [&](Value first, ValueRange out) -> SmallVector<Value> {
          SmallVector<Value> rows, readRows;
          std::tie(rows, readRows) = tileRowsAt(first);
          SmallVector<Value> state;
          for (int64_t i = 0; i < tileRows * sides; ++i)
            state.append({splat(-inf), splat(0.0)}); // m, l
          if (sides)
            state = overKeys(
                keyEnd(readRows.back()), state,
                [&](int64_t vectors, bool ragged, Value block, ValueRange acc) {
                  SmallVector<Value> valid = validKeys(vectors, ragged, block);
                  SmallVector<SmallVector<Value>> scores;
                  scores.push_back(maskedScores(vectors, valid, block, readRows, keysT));
                  if (teacher)
                    scores.push_back(
                        teacher->maskedScores(vectors, valid, block, readRows, teacherKeysT));
                  SmallVector<Value> next, unused;
                  for (auto [side, s] : llvm::enumerate(scores))
                    for (int64_t r = 0; r < tileRows; ++r) {
                      int64_t i = 2 * (side * tileRows + r);
                      Value m = acc[i], l = acc[i + 1];
                      onlineSoftmax(ArrayRef<Value>(s).slice(r * vectors, vectors), m, l,
                                    unused);
                      next.append({m, l});
                    }
                  return next;
                });
          Value lse = out[0], second = out[1];
          for (int64_t r = 0; r < tileRows; ++r) {
            Value exists = ix.lt(rows[r], queries_);
            // Side 0 (this) or 1 (the teacher): given, or from the key loop.
            auto rowLse = [&](Value given, int64_t side) -> Value {
              SmallVector<Value> at(coords);
              at.push_back(readRows[r]);
              int64_t i = 2 * (side * tileRows + r);
              Value x = given ? tensor::ExtractOp::create(b, given, at).getResult()
                              : logSumExpOf(state[i], state[i + 1]);
              return arith::SelectOp::create(b, exists, x, scalar(inf));
            };
            lse = tensor::InsertOp::create(b, rowLse(forwardLse, 0), lse, ValueRange{rows[r]});
            Value y;
            if (teacher) {
              y = rowLse(forwardTeacherLse, 1);
            } else {
              Value dot = splat(0.0);
              for (int64_t w = 0; w < valueVectors; ++w)
                dot = math::FmaOp::create(b, readRow(grad, coords, readRows[r], w, valueSize),
                                          readRow(output, coords, readRows[r], w, valueSize),
                                          dot);
              y = vector::ReductionOp::create(b, vector::CombiningKind::ADD, dot);
            }
            second = tensor::InsertOp::create(b, y, second, ValueRange{rows[r]});
          }
          return {lse, second};
        });
    logSumExp = result[0];
    (teacher ? teacherLogSumExp : rowDots) = result[1];
  }

  /// `x` ([rows, width]) with rows [begin, end) zero.
  Value zeroRows(Value x, Value begin, Value end, int64_t width) {
    return buildLoop(b, begin, end, ix.c(1), ValueRange{x},
                     [&](Value row, ValueRange acc) -> SmallVector<Value> {
                       Value y = acc[0];
                       for (int64_t w = 0; w < int64_t(llvm::divideCeil(width, lanes)); ++w)
                         y = writeRow(splat(0.0), y, row, w, width);
                       return {y};
                     })[0];
  }

  /// Rows [0, count) of `from` into `to` (both [.., width]); `at`: the
  /// first row of `to`.
  Value copyRows(Value from, Value to, Value count, int64_t width, Value at = {}) {
    return buildLoop(b, ix.c(0), count, ix.c(1), ValueRange{to},
                     [&](Value row, ValueRange acc) -> SmallVector<Value> {
                       Value y = acc[0], dest = at ? ix.add(at, row) : row;
                       for (int64_t w = 0; w < int64_t(llvm::divideCeil(width, lanes)); ++w)
                         y = writeRow(readRow(from, {}, row, w, width), y, dest, w, width);
                       return {y};
                     })[0];
  }

  /// One block of `vectors` key vectors at `block` against every query row
  /// that sees it.
  State blockGradients(int64_t vectors, bool ragged, Value block, State acc, Value keysT) {
    SmallVector<Value> valid = validKeys(vectors, ragged, block);
    int64_t width = vectors * lanes;
    acc.blockK = zeroRows(acc.blockK, ix.c(0), ix.c(width), headSize);
    if (acc.blockV)
      acc.blockV = zeroRows(acc.blockV, ix.c(0), ix.c(width), valueSize);
    // Under is_causal the rows before the block's first key do not see it.
    Value firstTile = att.isCausal ? ix.mul(ix.div(block, ix.c(tileRows)), ix.c(tileRows))
                                   : ix.c(0);
    // The tile loop carries what its tiles update: not the matrix's dQ, dK
    // and dV.
    State tileState = acc;
    tileState.dQ = tileState.dK = tileState.dV = Value();
    State tiles = tileState.with(buildLoop(b, firstTile, queries_, ix.c(tileRows),
                                           tileState.pack(),
                                           [&](Value first, ValueRange state) {
                                             return tileGradients(vectors, valid, block, first,
                                                                  tileState.with(state), keysT)
                                                 .pack();
                                           }));
    // The block's rows that are keys, into the matrix's dK and dV.
    Value rows = ix.min(ix.c(width), ix.sub(keys, block));
    tiles.dQ = acc.dQ;
    tiles.dK = copyRows(tiles.blockK, acc.dK, rows, headSize, block);
    if (acc.dV)
      tiles.dV = copyRows(tiles.blockV, acc.dV, rows, valueSize, block);
    return tiles;
  }

  /// `blockRows` ([C, width]) + scratchᵀ·X: row j gains Σ_r scratch[r, j]·
  /// X[r], X the tile's rows (`readRows`) of `operand`'s matrix, held in
  /// registers; `keysOfBlock` rows.
  Value addProducts(Value blockRows, Value scratch, Value operand, ArrayRef<Value> readRows,
                    int64_t width, int64_t keysOfBlock) {
    int64_t vectorsOfRow = llvm::divideCeil(width, lanes);
    SmallVector<Value> x;
    for (Value row : readRows)
      for (int64_t w = 0; w < vectorsOfRow; ++w)
        x.push_back(readRow(operand, coords, row, w, width));
    // A loop over the keys, not unrolled: unrolled, the three loops of a
    // tile made basic blocks of thousands of instructions, which took LLVM
    // minutes to compile.
    return buildLoop(b, ix.c(0), ix.c(keysOfBlock), ix.c(1), ValueRange{blockRows},
                     [&](Value j, ValueRange acc) -> SmallVector<Value> {
                       Value out = acc[0];
                       for (int64_t w = 0; w < vectorsOfRow; ++w) {
                         Value sum = readRow(out, {}, j, w, width);
                         for (int64_t r = 0; r < tileRows; ++r)
                           sum = math::FmaOp::create(b, broadcastAt(scratch, r, j),
                                                     x[r * vectorsOfRow + w], sum);
                         out = writeRow(sum, out, j, w, width);
                       }
                       return {out};
                     })[0];
  }

  /// Element (r, j) of `scratch` in every lane.
  Value broadcastAt(Value scratch, int64_t r, Value j) {
    return vector::BroadcastOp::create(
        b, vec, tensor::ExtractOp::create(b, scratch, ValueRange{ix.c(r), j}));
  }

  /// Query rows [first, first + R) against the block: the padded dQ, the
  /// scratch and the block's rows of `acc` updated.
  State tileGradients(int64_t vectors, ArrayRef<Value> valid, Value block, Value first,
                      State acc, Value keysT) {
    SmallVector<Value> rows, readRows;
    std::tie(rows, readRows) = tileRowsAt(first);
    SmallVector<Value> s = maskedScores(vectors, valid, block, readRows, keysT);
    // What dS is made of besides P: the teacher's scores, or dP = g·Vᵀ.
    SmallVector<Value> other =
        teacher ? teacher->maskedScores(vectors, valid, block, readRows, teacherKeysT)
                : blockProducts(grad, coords, valueSize, vectors, readRows, block, valuesT);
    Value scale = splat(att.scale);
    auto perRow = [&](Value rowValues, Value row) -> Value {
      return vector::BroadcastOp::create(
          b, vec, tensor::ExtractOp::create(b, rowValues, ValueRange{row}));
    };
    for (int64_t r = 0; r < tileRows; ++r) {
      Value lse = perRow(logSumExp, rows[r]);
      Value weight, teacherLse, dot;
      if (teacher) {
        teacherLse = perRow(teacherLogSumExp, rows[r]);
        weight = tensor::ExtractOp::create(b, rowWeight, ValueRange{});
        if (queryMask)
          weight = arith::SelectOp::create(
              b, tensor::ExtractOp::create(b, queryMask, ValueRange{coords[0], readRows[r]}),
              weight, scalar(0.0));
        weight = vector::BroadcastOp::create(b, vec, weight);
      } else {
        dot = perRow(rowDots, rows[r]);
      }
      for (int64_t c = 0; c < vectors; ++c) {
        Value p = math::ExpOp::create(b, arith::SubFOp::create(b, s[r * vectors + c], lse));
        Value x = other[r * vectors + c], dS;
        if (teacher) {
          Value pt = math::ExpOp::create(b, arith::SubFOp::create(b, x, teacherLse));
          dS = arith::MulFOp::create(b, arith::SubFOp::create(b, p, pt), weight);
        } else {
          // Under dropout, dP = Z ⊙ g·Vᵀ and dV's weights are P ⊙ Z.
          Value z = keepScale(readRows[r], block, c), weights = p;
          if (z) {
            x = arith::MulFOp::create(b, x, z);
            weights = arith::MulFOp::create(b, p, z);
          }
          acc.p = writeRow(weights, acc.p, ix.c(r), c, vectors * lanes);
          dS = arith::MulFOp::create(
              b, arith::MulFOp::create(b, p, arith::SubFOp::create(b, x, dot)), scale);
        }
        if (valid[c]) // the panels past the last key are not initialized
          dS = arith::SelectOp::create(b, valid[c], dS, splat(0.0));
        acc.dS = writeRow(dS, acc.dS, ix.c(r), c, vectors * lanes);
      }
    }
    int64_t keyVectorsOfRow = llvm::divideCeil(headSize, lanes);
    // dV rows += Pᵀ·g and dK rows += dSᵀ·Q.
    if (!teacher)
      acc.blockV = addProducts(acc.blockV, acc.p, grad, readRows, valueSize, vectors * lanes);
    acc.blockK = addProducts(acc.blockK, acc.dS, q, readRows, headSize, vectors * lanes);
    // The tile's dQ += dS·K, its rows in registers, one key at a time.
    SmallVector<Value> dQRows;
    for (Value row : rows)
      for (int64_t w = 0; w < keyVectorsOfRow; ++w)
        dQRows.push_back(readRow(acc.paddedDQ, {}, row, w, headSize));
    Value lastKey = ix.sub(keys, ix.c(1));
    dQRows = buildLoop(
        b, ix.c(0), ix.c(vectors * lanes), ix.c(1), dQRows,
        [&](Value j, ValueRange sums) -> SmallVector<Value> {
          SmallVector<Value> next(sums);
          Value key = ix.min(ix.add(block, j), lastKey); // dS = 0 past the last key
          for (int64_t w = 0; w < keyVectorsOfRow; ++w) {
            Value keyRow = readRow(k, keyCoords, key, w, headSize);
            for (int64_t r = 0; r < tileRows; ++r) {
              Value &dq = next[r * keyVectorsOfRow + w];
              dq = math::FmaOp::create(b, broadcastAt(acc.dS, r, j), keyRow, dq);
            }
          }
          return next;
        });
    for (int64_t r = 0; r < tileRows; ++r)
      for (int64_t w = 0; w < keyVectorsOfRow; ++w)
        acc.paddedDQ =
            writeRow(dQRows[r * keyVectorsOfRow + w], acc.paddedDQ, rows[r], w, headSize);
    return acc;
  }

  Value output, grad, forwardLse;                 // attention's gradient
  AttentionKernelBase *teacher = nullptr;         // attention transfer's
  Value rowWeight, queryMask, forwardTeacherLse, teacherKeysT, teacherLogSumExp;
  Value valuesT, logSumExp, rowDots;
};

/// attention_transfer_loss per (batch, head): the sum over its query rows,
/// each weighted by the query mask, of KL(A_teacher ‖ A_student), walking
/// the keys a block at a time per tile of rows with both sides' running
/// maxima and sums and the teacher-weighted Σ exp(t − max_t)·(t − s),
/// rescaled as the teacher's maximum grows (the decomposition's formula).
class AttentionTransferKernelBuilder : AttentionKernelBase {
public:
  AttentionTransferKernelBuilder(ImplicitLocOpBuilder &b, const AttentionOperands &student,
                                 Value mask, const KernelShape &shape,
                                 AttentionKernelBase &teacher, Value queryMask)
      : AttentionKernelBase(b, student, mask, shape), teacher(teacher), queryMask(queryMask) {}

  /// The weighted sums of KL per (batch, head), [B·H]; and
  /// `withLogSumExps`, the student's and the teacher's log-sum-exp per row
  /// ([B, H, N] each: what the gradient's kernel would otherwise recompute).
  SmallVector<Value> build(bool withLogSumExps) {
    std::optional<int64_t> count = ix.constant(matrices);
    auto type = RankedTensorType::get({count.value_or(ShapedType::kDynamic)}, f32);
    SmallVector<Value> sizes;
    if (!count)
      sizes.push_back(matrices);
    SmallVector<Value> inits{tensor::EmptyOp::create(b, type, sizes)};
    auto rowsType = tensorType(q).clone(tensorType(q).getShape().drop_back(), f32);
    SmallVector<Value> rowSizes;
    for (int64_t d = 0; d + 1 < n; ++d)
      if (rowsType.isDynamicDim(d))
        rowSizes.push_back(ix.dim(q, d));
    if (withLogSumExps)
      for (int side = 0; side < 2; ++side)
        inits.push_back(tensor::EmptyOp::create(b, rowsType, rowSizes));
    auto forall = scf::ForallOp::create(b, ArrayRef<OpFoldResult>{getAsOpFoldResult(matrices)},
                                        inits, std::nullopt);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(forall.getBody());
    Value task = forall.getInductionVars()[0];
    setMatrix(task);
    teacher.setMatrix(task);
    Value keysT = panels(k, keyCoords, headSize);
    Value teacherKeysT = teacher.panels(teacher.k, teacher.keyCoords, teacher.headSize);
    double inf = std::numeric_limits<double>::infinity();
    // The matrix's rows of the log-sum-exps.
    SliceSpec rowsAt = matrixSlice(ix.c(0), queries_, 1);
    for (auto *list : {&rowsAt.offsets, &rowsAt.sizes, &rowsAt.strides})
      list->pop_back();
    SmallVector<Value> loopState{scalar(0.0)};
    for (Value shared : forall.getRegionIterArgs().drop_front())
      loopState.push_back(tensor::ExtractSliceOp::create(
          b, RankedTensorType::get({ShapedType::kDynamic}, f32), shared, rowsAt.offsets,
          rowsAt.sizes, rowsAt.strides));
    SmallVector<Value> results = buildLoop(
        b, ix.c(0), queries_, ix.c(tileRows), loopState,
        [&](Value first, ValueRange sum) -> SmallVector<Value> {
          SmallVector<Value> rows, readRows;
          std::tie(rows, readRows) = tileRowsAt(first);
          SmallVector<Value> state; // per row: m_s, l_s, m_t, l_t, the weighted sum
          for (int64_t r = 0; r < tileRows; ++r)
            state.append({splat(-inf), splat(0.0), splat(-inf), splat(0.0), splat(0.0)});
          state = overKeys(keys, state, [&](int64_t vectors, bool ragged, Value block,
                                            ValueRange acc) -> SmallVector<Value> {
            SmallVector<Value> valid = validKeys(vectors, ragged, block);
            SmallVector<Value> s = maskedScores(vectors, valid, block, readRows, keysT);
            SmallVector<Value> t =
                teacher.maskedScores(vectors, valid, block, readRows, teacherKeysT);
            SmallVector<Value> next;
            for (int64_t r = 0; r < tileRows; ++r) {
              auto rowOf = [&](ArrayRef<Value> x) { return x.slice(r * vectors, vectors); };
              Value ms = acc[5 * r], ls = acc[5 * r + 1], mt = acc[5 * r + 2],
                    lt = acc[5 * r + 3];
              SmallVector<Value> unused, teacherExps;
              onlineSoftmax(rowOf(s), ms, ls, unused);
              Value alpha = onlineSoftmax(rowOf(t), mt, lt, teacherExps);
              Value weighted = arith::MulFOp::create(b, acc[5 * r + 4], alpha);
              for (int64_t c = 0; c < vectors; ++c) {
                // A masked key is the lowest float on both sides (0); a
                // key past the last, -inf on both, would be NaN.
                Value diff = arith::SubFOp::create(b, t[r * vectors + c], s[r * vectors + c]);
                if (valid[c])
                  diff = arith::SelectOp::create(b, valid[c], diff, splat(0.0));
                weighted = math::FmaOp::create(b, teacherExps[c], diff, weighted);
              }
              next.append({ms, ls, mt, lt, weighted});
            }
            return next;
          });
          SmallVector<Value> result(sum);
          for (int64_t r = 0; r < tileRows; ++r) {
            if (withLogSumExps) {
              // A row past the last repeats the last: the same values.
              Value at = ix.min(rows[r], ix.sub(queries_, ix.c(1)));
              result[1] = tensor::InsertOp::create(
                  b, logSumExpOf(state[5 * r], state[5 * r + 1]), result[1], at);
              result[2] = tensor::InsertOp::create(
                  b, logSumExpOf(state[5 * r + 2], state[5 * r + 3]), result[2], at);
            }
            auto total = [&](Value x) {
              return vector::ReductionOp::create(b, vector::CombiningKind::ADD, x).getResult();
            };
            auto first = [&](Value x) { return vector::ExtractOp::create(b, x, 0).getResult(); };
            Value ls = total(state[5 * r + 1]), lt = total(state[5 * r + 3]);
            // Differences of maxima first: both may be large (or the lowest
            // float for a row without valid keys) while the KL is small.
            Value kl = arith::SubFOp::create(
                b, arith::DivFOp::create(b, total(state[5 * r + 4]), lt),
                arith::SubFOp::create(b, first(state[5 * r + 2]), first(state[5 * r])));
            kl = arith::AddFOp::create(
                b, kl, arith::SubFOp::create(b, math::LogOp::create(b, ls),
                                             math::LogOp::create(b, lt)));
            Value counted = ix.lt(rows[r], queries_);
            if (queryMask)
              counted = arith::AndIOp::create(
                  b, counted,
                  tensor::ExtractOp::create(b, queryMask, ValueRange{coords[0], readRows[r]}));
            result[0] = arith::AddFOp::create(
                b, result[0], arith::SelectOp::create(b, counted, kl, scalar(0.0)));
          }
          return result;
        });
    Value one = tensor::FromElementsOp::create(b, RankedTensorType::get({1}, f32), results[0]);
    b.setInsertionPointToStart(forall.getTerminator().getBody());
    tensor::ParallelInsertSliceOp::create(
        b, one, forall.getRegionIterArgs()[0], ArrayRef<OpFoldResult>{task},
        ArrayRef<OpFoldResult>{b.getIndexAttr(1)}, ArrayRef<OpFoldResult>{b.getIndexAttr(1)});
    for (auto [shared, rows] : llvm::zip(forall.getRegionIterArgs().drop_front(),
                                         ArrayRef<Value>(results).drop_front()))
      tensor::ParallelInsertSliceOp::create(b, rows, shared, rowsAt.offsets, rowsAt.sizes,
                                            rowsAt.strides);
    return forall.getResults();
  }

private:
  AttentionKernelBase &teacher;
  Value queryMask;
};

/// A boolean keep-mask as a bias (0 or the lowest float); a float mask, or
/// null, unchanged.
Value maskBias(PatternRewriter &rewriter, Location loc, Value mask) {
  if (!mask || tensorType(mask).getElementType().isF32())
    return mask;
  UbeBuilder u(rewriter, loc);
  Type f32 = rewriter.getF32Type();
  return u.where(mask, u.scalar(f32, 0.0), u.lowest(f32));
}

/// `grad` ([query batch..., S, *], one per query matrix) summed to the shape
/// of `operand` (a key or value whose heads are grouped or whose batch
/// dimensions broadcast).
Value summedTo(UbeBuilder &u, Value grad, Value operand) {
  auto gradShape = tensorType(grad).getShape(), shape = tensorType(operand).getShape();
  int64_t n = shape.size();
  if (n >= 3 && gradShape[n - 3] != shape[n - 3] && shape[n - 3] != 1) { // grouped heads
    SmallVector<int64_t> view(gradShape);
    view[n - 3] = shape[n - 3];
    view.insert(view.begin() + (n - 2), gradShape[n - 3] / shape[n - 3]);
    grad = u.reduceSum(u.reshape(grad, view), {n - 2}, /*keepdims=*/false);
  }
  return u.sumToShapeOf(grad, operand);
}

/// Whether `grad` differentiates `forward`: the same operands and
/// attributes, and `forward`'s result as the output.
bool differentiates(ScaledDotProductAttentionGradOp grad, ScaledDotProductAttentionOp forward) {
  return grad.getOutput() == forward.getResult() && grad.getQuery() == forward.getQuery() &&
         grad.getKey() == forward.getKey() && grad.getValue() == forward.getValue() &&
         grad.getMask() == forward.getMask() && grad.getIsCausal() == forward.getIsCausal() &&
         grad.getScaleOrDefault() == forward.getScaleOrDefault() &&
         grad.getStep() == forward.getStep() && grad.getDropoutP() == forward.getDropoutP() &&
         grad.getSeed() == forward.getSeed();
}

/// Replaces `op` with the backward kernel (`forwardLse`: the forward's
/// log-sum-exps, or null) and the sums of dK and dV to their operands.
void replaceGradient(PatternRewriter &rewriter, ScaledDotProductAttentionGradOp op, Value mask,
                     const KernelShape &shape, Value forwardLse) {
  ImplicitLocOpBuilder b(op.getLoc(), rewriter);
  SmallVector<Value> grads = AttentionGradKernelBuilder(b, op, mask, shape, forwardLse).build();
  UbeBuilder u(rewriter, op.getLoc());
  rewriter.replaceOp(op, {grads[0], summedTo(u, grads[1], op.getKey()),
                          summedTo(u, grads[2], op.getValue())});
}

/// The forward kernel; with the gradient ops of the same attention, it
/// keeps each row's log-sum-exp for their kernels.
struct FlashAttention : OpRewritePattern<ScaledDotProductAttentionOp> {
  FlashAttention(MLIRContext *context, KernelShape shape)
      : OpRewritePattern(context), shape(shape) {}

  LogicalResult matchAndRewrite(ScaledDotProductAttentionOp op,
                                PatternRewriter &rewriter) const override {
    std::string why = unsupported(AttentionOperands(op));
    if (!why.empty())
      return rewriter.notifyMatchFailure(op, why);
    SmallVector<ScaledDotProductAttentionGradOp> gradients;
    for (Operation *user : op->getUsers())
      if (auto grad = dyn_cast<ScaledDotProductAttentionGradOp>(user);
          grad && differentiates(grad, op) && !llvm::is_contained(gradients, grad))
        gradients.push_back(grad);
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    Value mask = maskBias(rewriter, op.getLoc(), op.getMask());
    SmallVector<Value> results =
        AttentionKernelBuilder(b, op, mask, shape).build(!gradients.empty());
    rewriter.replaceAllUsesWith(op.getResult(), results[0]);
    for (ScaledDotProductAttentionGradOp grad : gradients) {
      rewriter.setInsertionPoint(grad);
      replaceGradient(rewriter, grad, mask, shape, results[1]);
    }
    rewriter.eraseOp(op);
    return success();
  }

  KernelShape shape;
};

/// The backward kernel of a gradient op whose forward is not a kernel's:
/// the log-sum-exps recomputed.
struct FlashAttentionGrad : OpRewritePattern<ScaledDotProductAttentionGradOp> {
  FlashAttentionGrad(MLIRContext *context, KernelShape shape)
      : OpRewritePattern(context), shape(shape) {}

  LogicalResult matchAndRewrite(ScaledDotProductAttentionGradOp op,
                                PatternRewriter &rewriter) const override {
    std::string why = unsupported(AttentionOperands(op));
    if (!why.empty())
      return rewriter.notifyMatchFailure(op, why);
    if (auto forward = op.getOutput().getDefiningOp<ScaledDotProductAttentionOp>();
        forward && differentiates(op, forward) &&
        unsupported(AttentionOperands(forward)).empty())
      return rewriter.notifyMatchFailure(op, "taken with its forward");
    replaceGradient(rewriter, op, maskBias(rewriter, op.getLoc(), op.getMask()), shape, {});
    return success();
  }

  KernelShape shape;
};

/// The two sides of an attention_transfer_loss(_grad) op as attention
/// operands, the key mask [B, N] as a bias [B, 1, 1, N]; and the number of
/// query rows its mean counts (at least 1).
struct TransferSides {
  std::optional<AttentionOperands> student, teacher;
  Value bias, count;
};
template <typename Op>
TransferSides transferSides(PatternRewriter &rewriter, Op op) {
  TransferSides sides;
  UbeBuilder u(rewriter, op.getLoc());
  Value query = op.getStudentQuery();
  Type f32 = rewriter.getF32Type();
  if (Value mask = op.getMask()) {
    auto shape = tensorType(mask).getShape();
    SmallVector<Value> sizes;
    for (int64_t d = 0; d < 2; ++d)
      if (ShapedType::isDynamic(shape[d]))
        sizes.push_back(u.dimSize(mask, d));
    Value keys = u.reshape(mask, {shape[0], 1, 1, shape[1]}, sizes);
    sides.bias = u.where(keys, u.scalar(f32, 0.0), u.lowest(f32));
    Value rows = u.mul(u.reduceSum(u.castTo(mask, f32)), u.countOf(query, {1}));
    sides.count = u.maximum(rows, u.scalar(f32, 1.0));
  } else {
    sides.count = u.countOf(query, {0, 1, 2});
  }
  auto scaleOf = [](Value q) {
    return 1.0 / std::sqrt(double(tensorType(q).getShape().back()));
  };
  sides.student.emplace(query, op.getStudentKey(), op.getStudentKey(), sides.bias,
                        scaleOf(query));
  sides.teacher.emplace(op.getTeacherQuery(), op.getTeacherKey(), op.getTeacherKey(),
                        sides.bias, scaleOf(op.getTeacherQuery()));
  return sides;
}

/// Why the kernels do not take an attention_transfer_loss(_grad) op; empty
/// when they do.
template <typename Op>
std::string unsupportedTransfer(Op op) {
  for (Value x : {op.getStudentQuery(), op.getTeacherQuery()}) {
    auto type = tensorType(x);
    if (!type.getElementType().isF32() || llvm::is_contained(type.getShape(), 0))
      return "not non-empty f32";
    if (type.isDynamicDim(3))
      return "a symbolic head size";
  }
  return "";
}

/// Whether `grad` differentiates `loss`: the same operands, after it in its
/// block.
bool differentiates(AttentionTransferLossGradOp grad, AttentionTransferLossOp loss) {
  return grad.getStudentQuery() == loss.getStudentQuery() &&
         grad.getStudentKey() == loss.getStudentKey() &&
         grad.getTeacherQuery() == loss.getTeacherQuery() &&
         grad.getTeacherKey() == loss.getTeacherKey() && grad.getMask() == loss.getMask() &&
         grad->getBlock() == loss->getBlock() && loss->isBeforeInBlock(grad);
}

/// Replaces `op` with the backward kernel with the teacher's side, each
/// query row weighted by grad / the counted rows · 1/√d; `lses`: the loss
/// kernel's log-sum-exps, or none.
void replaceTransferGradient(PatternRewriter &rewriter, AttentionTransferLossGradOp op,
                             const TransferSides &sides, const KernelShape &shape,
                             ArrayRef<Value> lses) {
  UbeBuilder u(rewriter, op.getLoc());
  Value weight = u.mul(u.div(op.getGrad(), sides.count),
                       u.scalar(rewriter.getF32Type(), sides.student->scale));
  ImplicitLocOpBuilder b(op.getLoc(), rewriter);
  AttentionKernelBase teacher(b, *sides.teacher, sides.bias, shape);
  rewriter.replaceOp(op, AttentionGradKernelBuilder(b, *sides.student, sides.bias, shape,
                                                    teacher, weight, op.getMask(), lses)
                             .build());
}

/// attention_transfer_loss: the kernel's per-(batch, head) sums, summed in
/// order and divided by the counted rows; with its gradient ops, the
/// kernel keeps the log-sum-exps for theirs.
struct AttentionTransferLoss : OpRewritePattern<AttentionTransferLossOp> {
  AttentionTransferLoss(MLIRContext *context, KernelShape shape)
      : OpRewritePattern(context), shape(shape) {}

  LogicalResult matchAndRewrite(AttentionTransferLossOp op,
                                PatternRewriter &rewriter) const override {
    if (std::string why = unsupportedTransfer(op); !why.empty())
      return rewriter.notifyMatchFailure(op, why);
    SmallVector<AttentionTransferLossGradOp> gradients;
    for (Operation *user : op.getStudentQuery().getUsers())
      if (auto grad = dyn_cast<AttentionTransferLossGradOp>(user);
          grad && differentiates(grad, op) && !llvm::is_contained(gradients, grad))
        gradients.push_back(grad);
    TransferSides sides = transferSides(rewriter, op);
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    AttentionKernelBase teacher(b, *sides.teacher, sides.bias, shape);
    SmallVector<Value> results = AttentionTransferKernelBuilder(b, *sides.student, sides.bias,
                                                                shape, teacher, op.getMask())
                                     .build(!gradients.empty());
    UbeBuilder u(rewriter, op.getLoc());
    rewriter.replaceOp(op, u.div(u.reduceSum(results[0]), sides.count));
    for (AttentionTransferLossGradOp grad : gradients) {
      rewriter.setInsertionPoint(grad);
      replaceTransferGradient(rewriter, grad, sides, shape,
                              ArrayRef<Value>(results).drop_front());
    }
    return success();
  }

  KernelShape shape;
};

/// attention_transfer_loss_grad without its loss in the function: the
/// log-sum-exps recomputed.
struct AttentionTransferLossGrad : OpRewritePattern<AttentionTransferLossGradOp> {
  AttentionTransferLossGrad(MLIRContext *context, KernelShape shape)
      : OpRewritePattern(context), shape(shape) {}

  LogicalResult matchAndRewrite(AttentionTransferLossGradOp op,
                                PatternRewriter &rewriter) const override {
    if (std::string why = unsupportedTransfer(op); !why.empty())
      return rewriter.notifyMatchFailure(op, why);
    for (Operation *user : op.getStudentQuery().getUsers())
      if (auto loss = dyn_cast<AttentionTransferLossOp>(user); loss && differentiates(op, loss))
        return rewriter.notifyMatchFailure(op, "taken with its loss");
    replaceTransferGradient(rewriter, op, transferSides(rewriter, op), shape, {});
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
    patterns.add<FlashAttention, FlashAttentionGrad, AttentionTransferLoss,
                 AttentionTransferLossGrad>(
        &getContext(), KernelShape{vectorWidth, tileRows, keyBlock, minTasks});
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns), kernelRewriteConfig())))
      signalPassFailure();
  }
};

} // namespace
