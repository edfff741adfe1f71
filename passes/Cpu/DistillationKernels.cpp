//===- CpuDistillationKernels.cpp - fused kd_loss kernels for CPUs --------===//
//
// kd_loss and its gradient as loops over rows whose inner loops walk the
// vocabulary one vector at a time, on tensors (bufferization turns the reads
// and writes into loads and stores of the caller's buffers). Per row:
//
//   statistics pass  for each chunk of the row: lane-wise maxima of s/T and
//                    t/T (and s at T=1 when a hard-label term needs it), then
//                    rescale the running sums once, then accumulate exp(x - m)
//                    per lane and W = sum exp(t/T - m_t) (t - s)/T. Lanes are
//                    combined at the end of the row: lse = M + log sum z e^{m-M}.
//   loss             KL_r = W/Z_t - lse_t + lse_s, NLL_r = lse_1 - s[y_r].
//   gradient pass    d = c_kl (e^{s/T - lse_s} - e^{t/T - lse_t})
//                        + c_ce (e^{s - lse_1} - onehot(y_r)), written directly.
//
// The full-vector part of each row runs unmasked; a ragged end is one masked
// step (its padding never reaches a sum or the output).
//
//===----------------------------------------------------------------------===//

#include "passes/Cpu/Passes.h"

#include "dialects/ube/UbeOps.h"
#include "passes/Utils/KernelBuilding.h"

#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include <limits>
#include <type_traits>

namespace ube {
#define GEN_PASS_DEF_UBECPUDISTILLATIONKERNELS
#include "passes/Cpu/Passes.h.inc"
} // namespace ube

using namespace mlir;
using namespace ube;

namespace {

/// The attributes kd_loss and kd_loss_grad share.
struct KdParams {
  double temperature;
  bool scaleByTemperatureSquared;
  double alpha;
  int64_t ignoreIndex;
  /// The weight of the mean KL term: T² or 1.
  double klWeight() const {
    return scaleByTemperatureSquared ? temperature * temperature : 1.0;
  }
};

/// Builds the row kernels for one op: logits viewed as [rows, vocab].
class RowKernelBuilder {
public:
  RowKernelBuilder(ImplicitLocOpBuilder &b, Value student, Value teacher, Value labels,
                   const KdParams &params, int64_t lanes, int64_t chunk)
      : b(b), params(params), lanes(lanes), chunk(chunk) {
    // The row count may be symbolic (a batch of any length): an index value,
    // a constant when static.
    auto type = cast<RankedTensorType>(student.getType());
    vocab = type.getShape().back();
    IndexMath x(b);
    rowCount = x.c(1);
    for (int64_t d = 0; d + 1 < type.getRank(); ++d)
      rowCount = x.mul(rowCount, x.dim(student, d));
    rows = x.constant(rowCount).value_or(ShapedType::kDynamic);
    f32 = b.getF32Type();
    vec = VectorType::get({lanes}, f32);
    OpFoldResult rowSize = getAsOpFoldResult(rowCount);
    this->student = reshapeTo(b, student, ArrayRef<OpFoldResult>{rowSize, b.getIndexAttr(vocab)});
    this->teacher = reshapeTo(b, teacher, ArrayRef<OpFoldResult>{rowSize, b.getIndexAttr(vocab)});
    if (labels)
      this->labels = reshapeTo(b, labels, ArrayRef<OpFoldResult>{rowSize});
    needPlainStats = params.alpha != 0.0 && params.temperature != 1.0;
    inverseT = scalar(1.0 / params.temperature);
  }

  /// The scalar loss, as a rank-0 tensor.
  Value buildLoss() {
    SmallVector<Value> totals =
        loop(index(0), rowCount, index(1), lossSumsInit(),
             [&](Value row, ValueRange sums) { return addRowLoss(row, rowStats(row), sums); });
    return finishLoss(totals);
  }

  /// d loss / d student logits for the rank-0 upstream gradient `grad`, as
  /// [rows, vocab].
  Value buildGradient(Value grad) {
    Value perRow = gradientPerRow(grad);
    Value init = emptyRows();
    SmallVector<Value> result = loop(index(0), rowCount, index(1), ValueRange{init},
                                     [&](Value row, ValueRange out) -> SmallVector<Value> {
                                       return {writeRowGradient(row, rowStats(row), perRow,
                                                                out[0])};
                                     });
    return result[0];
  }

  /// Both in one pass of statistics per row (a training step needs both):
  /// {loss, gradient}.
  std::pair<Value, Value> buildLossAndGradient(Value grad) {
    Value perRow = gradientPerRow(grad);
    SmallVector<Value> state = lossSumsInit();
    state.push_back(emptyRows());
    SmallVector<Value> result =
        loop(index(0), rowCount, index(1), state, [&](Value row, ValueRange args) {
          RowStats stats = rowStats(row);
          SmallVector<Value> next = addRowLoss(row, stats, args.drop_back());
          next.push_back(writeRowGradient(row, stats, perRow, args.back()));
          return next;
        });
    return {finishLoss(ArrayRef<Value>(result).drop_back()), result.back()};
  }

  /// `rows` ([rows, vocab], the kernel's gradient) in the logits' shape.
  Value inShapeOf(Value rows, Value logits) {
    IndexMath x(b);
    SmallVector<OpFoldResult> shape;
    for (int64_t d = 0; d < cast<RankedTensorType>(logits.getType()).getRank(); ++d)
      shape.push_back(getAsOpFoldResult(x.dim(logits, d)));
    return reshapeTo(b, rows, shape);
  }

private:
  /// An uninitialized [rows, vocab] tensor.
  Value emptyRows() {
    SmallVector<Value> dynamic;
    if (ShapedType::isDynamic(rows))
      dynamic.push_back(rowCount);
    return tensor::EmptyOp::create(b, ArrayRef<int64_t>{rows, vocab}, f32, dynamic);
  }

  struct RowStats {
    Value lseStudent, lseTeacher; ///< log-sum-exp of s/T and t/T.
    Value weightedCross;          ///< sum softmax(t/T) (t - s)/T.
    Value lsePlain;               ///< log-sum-exp of s (T = 1), when needed.
  };

  /// The running sums of the loss over rows (f64): KL, NLL, counted rows.
  SmallVector<Value> lossSumsInit() {
    Value zero = arith::ConstantOp::create(b, b.getF64FloatAttr(0.0));
    return {zero, zero, zero};
  }

  /// Adds row `row`'s KL (and NLL) terms to `sums` when the row counts.
  SmallVector<Value> addRowLoss(Value row, const RowStats &stats, ValueRange sums) {
    Value kl = sub(add(stats.weightedCross, stats.lseStudent), stats.lseTeacher);
    Value countedF = arith::SelectOp::create(b, rowCounted(row), scalar(1.0), scalar(0.0));
    Value klSum = add64(sums[0], mul(kl, countedF));
    Value nllSum = sums[1];
    if (params.alpha != 0.0) {
      // NLL = lse - s[y]; a label outside the vocabulary picks nothing (0),
      // as the composition does, and is never read.
      Value label = labelAt(row);
      Value inRange = arith::AndIOp::create(
          b, arith::CmpIOp::create(b, arith::CmpIPredicate::sge, label, index(0)),
          arith::CmpIOp::create(b, arith::CmpIPredicate::slt, label, index(vocab)));
      Value safe = arith::SelectOp::create(b, inRange, label, index(0));
      Value picked = tensor::ExtractOp::create(b, student, ValueRange{row, safe});
      Value nll =
          arith::SelectOp::create(b, inRange, sub(stats.lsePlain, picked), scalar(0.0));
      nllSum = add64(nllSum, mul(nll, countedF));
    }
    return {klSum, nllSum, add64(sums[2], countedF)};
  }

  /// The loss from the row sums, as a rank-0 tensor.
  Value finishLoss(ArrayRef<Value> totals) {
    Type f64 = b.getF64Type();
    Value denominator = arith::MaximumFOp::create(
        b, totals[2], arith::ConstantOp::create(b, b.getF64FloatAttr(1.0)));
    auto weighted = [&](Value sum, double weight) {
      return arith::MulFOp::create(b, arith::DivFOp::create(b, sum, denominator),
                                   arith::ConstantOp::create(b, b.getFloatAttr(f64, weight)));
    };
    Value loss = weighted(totals[0], params.klWeight());
    if (params.alpha != 0.0)
      loss = arith::AddFOp::create(b, loss, weighted(totals[1], params.alpha));
    loss = arith::TruncFOp::create(b, f32, loss);
    return tensor::FromElementsOp::create(b, RankedTensorType::get({}, f32), loss);
  }

  /// grad / N, with N the counted rows (at least 1).
  Value gradientPerRow(Value grad) {
    Value upstream = tensor::ExtractOp::create(b, grad, ValueRange{});
    Value count = arith::UIToFPOp::create(
        b, f32, arith::IndexCastUIOp::create(b, b.getI64Type(), rowCount));
    if (labels) {
      SmallVector<Value> counted =
          loop(index(0), rowCount, index(1), ValueRange{scalar(0.0)},
               [&](Value row, ValueRange sum) -> SmallVector<Value> {
                 Value one =
                     arith::SelectOp::create(b, rowCounted(row), scalar(1.0), scalar(0.0));
                 return {add(sum[0], one)};
               });
      count = arith::MaximumFOp::create(b, counted[0], scalar(1.0));
    }
    return arith::DivFOp::create(b, upstream, count);
  }

  /// Writes row `row` of the gradient into `out` (a second pass over the row).
  Value writeRowGradient(Value row, const RowStats &stats, Value perRow, Value out) {
    Value weight = arith::SelectOp::create(b, rowCounted(row), perRow, scalar(0.0));
    Value klCoefficient = splat(mul(weight, scalar(params.klWeight() / params.temperature)));
    Value ceCoefficient = splat(mul(weight, scalar(params.alpha)));
    Value lseS = splat(stats.lseStudent), lseT = splat(stats.lseTeacher);
    Value lse1 = needPlainStats ? splat(stats.lsePlain) : lseS;
    Value label = params.alpha != 0.0 ? labelAt(row) : Value();
    auto indexVector = VectorType::get({lanes}, b.getIndexType());
    auto body = [&](Value at, Value mask, ValueRange state) -> SmallVector<Value> {
      Value s = read(student, row, at, mask), t = read(teacher, row, at, mask);
      Value ps = exp(sub(mul(s, splat(inverseT)), lseS));
      Value pt = exp(sub(mul(t, splat(inverseT)), lseT));
      Value d = mul(klCoefficient, sub(ps, pt));
      if (params.alpha != 0.0) {
        Value p1 = needPlainStats ? exp(sub(s, lse1)) : ps;
        Value ids = arith::AddIOp::create(b, vector::StepOp::create(b, indexVector),
                                          vector::BroadcastOp::create(b, indexVector, at));
        Value isLabel = arith::CmpIOp::create(b, arith::CmpIPredicate::eq, ids,
                                              vector::BroadcastOp::create(b, indexVector, label));
        Value target =
            arith::SelectOp::create(b, isLabel, splat(scalar(1.0)), splat(scalar(0.0)));
        d = add(d, mul(ceCoefficient, sub(p1, target)));
      }
      return {vector::TransferWriteOp::create(b, d, state[0], ValueRange{row, at},
                                              ArrayRef<bool>{mask == nullptr})
                  .getResult()};
    };
    return forEachVector(ValueRange{out}, body)[0];
  }

  SmallVector<Value> loop(Value begin, Value end, Value step, ValueRange state, LoopBody body) {
    return buildLoop(b, begin, end, step, state, body);
  }

  // Scalar and vector arithmetic (operands of one kind, f32).
  Value index(int64_t v) { return arith::ConstantIndexOp::create(b, v); }
  Value scalar(double v) { return arith::ConstantOp::create(b, b.getF32FloatAttr(float(v))); }
  Value splat(Value s) { return vector::BroadcastOp::create(b, vec, s); }
  Value add(Value x, Value y) { return arith::AddFOp::create(b, x, y); }
  Value sub(Value x, Value y) { return arith::SubFOp::create(b, x, y); }
  Value mul(Value x, Value y) { return arith::MulFOp::create(b, x, y); }
  Value max(Value x, Value y) { return arith::MaximumFOp::create(b, x, y); }
  Value exp(Value x) { return math::ExpOp::create(b, x); }
  Value add64(Value sum, Value x) {
    return arith::AddFOp::create(b, sum, arith::ExtFOp::create(b, b.getF64Type(), x));
  }

  /// The label of `row` as an index (ignore_index included).
  Value labelAt(Value row) {
    Value label = tensor::ExtractOp::create(b, labels, ValueRange{row});
    return arith::IndexCastOp::create(b, b.getIndexType(), label);
  }
  /// Whether `row` counts (its label is not ignore_index); always without labels.
  Value rowCounted(Value row) {
    if (!labels)
      return arith::ConstantOp::create(b, b.getBoolAttr(true));
    return arith::CmpIOp::create(b, arith::CmpIPredicate::ne, labelAt(row),
                                 index(params.ignoreIndex));
  }

  /// One vector of `tensor[row, at...]`; masked reads pad with 0.
  Value read(Value tensor, Value row, Value at, Value mask) {
    return vector::TransferReadOp::create(b, vec, tensor, ValueRange{row, at}, scalar(0.0),
                                          ArrayRef<bool>{mask == nullptr});
  }

  using VectorBody =
      llvm::function_ref<SmallVector<Value>(Value at, Value mask, ValueRange state)>;

  /// Runs `body` over a row one vector at a time, threading `state`: full
  /// vectors in a loop without masks, then a ragged end as one masked step.
  SmallVector<Value> forEachVector(ValueRange state, VectorBody body) {
    SmallVector<Value> values(state);
    int64_t full = vocab / lanes * lanes;
    if (full > 0)
      values = loop(index(0), index(full), index(lanes), values,
                    [&](Value at, ValueRange args) { return body(at, nullptr, args); });
    if (full < vocab)
      values = body(index(full), tailMask(), values);
    return values;
  }

  /// The lanes of the last vector of a row that lie inside it.
  Value tailMask() {
    return vector::CreateMaskOp::create(b, VectorType::get({lanes}, b.getI1Type()),
                                        ValueRange{index(vocab % lanes)});
  }

  /// Processes the vectors of [begin, end) (a chunk) for the statistics:
  /// `state` is {m_s, z_s, m_t, z_t, w[, m_1, z_1]}, lane-wise.
  SmallVector<Value> statsChunk(Value row, Value begin, Value end, Value mask,
                                ValueRange state) {
    Value lowest = splat(scalar(-std::numeric_limits<float>::max()));
    // Pass 1: the chunk's lane maxima.
    auto maxima = [&](Value at, Value m, ValueRange acc) -> SmallVector<Value> {
      Value s = read(student, row, at, m), t = read(teacher, row, at, m);
      Value ss = mul(s, splat(inverseT)), ts = mul(t, splat(inverseT));
      if (m) {
        ss = arith::SelectOp::create(b, m, ss, lowest);
        ts = arith::SelectOp::create(b, m, ts, lowest);
        s = arith::SelectOp::create(b, m, s, lowest);
      }
      SmallVector<Value> next = {max(acc[0], ss), max(acc[1], ts)};
      if (needPlainStats)
        next.push_back(max(acc[2], s));
      return next;
    };
    SmallVector<Value> chunkMax = {lowest, lowest};
    if (needPlainStats)
      chunkMax.push_back(lowest);
    chunkMax = overChunk(begin, end, mask, chunkMax, maxima);

    // Rescale the running sums to the new maxima, once per chunk.
    Value ms = max(state[0], chunkMax[0]), mt = max(state[2], chunkMax[1]);
    Value teacherScale = exp(sub(state[2], mt));
    SmallVector<Value> sums = {mul(state[1], exp(sub(state[0], ms))),
                               mul(state[3], teacherScale), mul(state[4], teacherScale)};
    Value m1;
    if (needPlainStats) {
      m1 = max(state[5], chunkMax[2]);
      sums.push_back(mul(state[6], exp(sub(state[5], m1))));
    }
    // Pass 2: the sums of exp and the teacher-weighted difference.
    auto accumulate = [&](Value at, Value m, ValueRange acc) -> SmallVector<Value> {
      Value s = read(student, row, at, m), t = read(teacher, row, at, m);
      Value ss = mul(s, splat(inverseT)), ts = mul(t, splat(inverseT));
      Value es = exp(sub(ss, ms)), et = exp(sub(ts, mt));
      Value zero = splat(scalar(0.0));
      if (m) {
        es = arith::SelectOp::create(b, m, es, zero);
        et = arith::SelectOp::create(b, m, et, zero);
      }
      SmallVector<Value> next = {add(acc[0], es), add(acc[1], et),
                                 math::FmaOp::create(b, et, sub(ts, ss), acc[2])};
      if (needPlainStats) {
        Value e1 = exp(sub(s, m1));
        if (m)
          e1 = arith::SelectOp::create(b, m, e1, zero);
        next.push_back(add(acc[3], e1));
      }
      return next;
    };
    sums = overChunk(begin, end, mask, sums, accumulate);
    SmallVector<Value> next = {ms, sums[0], mt, sums[1], sums[2]};
    if (needPlainStats)
      next.append({m1, sums[3]});
    return next;
  }

  /// `body` over the vectors of [begin, end): a loop when unmasked, a single
  /// masked step at `begin` otherwise.
  SmallVector<Value> overChunk(Value begin, Value end, Value mask, ValueRange state,
                               VectorBody body) {
    if (mask)
      return body(begin, mask, state);
    return loop(begin, end, index(lanes), state,
                [&](Value at, ValueRange args) { return body(at, nullptr, args); });
  }

  RowStats rowStats(Value row) {
    Value lowest = splat(scalar(-std::numeric_limits<float>::max()));
    Value zero = splat(scalar(0.0));
    SmallVector<Value> state = {lowest, zero, lowest, zero, zero};
    if (needPlainStats)
      state.append({lowest, zero});
    int64_t full = vocab / lanes * lanes;
    if (full > 0)
      state = loop(index(0), index(full), index(chunk), state,
                   [&](Value begin, ValueRange args) {
                     Value end = arith::MinSIOp::create(
                         b, arith::AddIOp::create(b, begin, index(chunk)), index(full));
                     return statsChunk(row, begin, end, nullptr, args);
                   });
    if (full < vocab)
      state = statsChunk(row, index(full), index(vocab), tailMask(), state);
    // Combine the lanes: M = max m_l, sum = sum z_l e^{m_l - M}.
    auto combine = [&](Value m, ArrayRef<Value> sums) {
      Value top = vector::ReductionOp::create(b, vector::CombiningKind::MAXIMUMF, m);
      Value scale = exp(sub(m, splat(top)));
      SmallVector<Value> out = {top};
      for (Value s : sums)
        out.push_back(vector::ReductionOp::create(b, vector::CombiningKind::ADD, mul(s, scale)));
      return out;
    };
    SmallVector<Value> s = combine(state[0], {state[1]});
    SmallVector<Value> t = combine(state[2], {state[3], state[4]});
    RowStats stats;
    stats.lseStudent = add(s[0], math::LogOp::create(b, s[1]));
    stats.lseTeacher = add(t[0], math::LogOp::create(b, t[1]));
    stats.weightedCross = arith::DivFOp::create(b, t[2], t[1]);
    stats.lsePlain = stats.lseStudent;
    if (needPlainStats) {
      SmallVector<Value> p = combine(state[5], {state[6]});
      stats.lsePlain = add(p[0], math::LogOp::create(b, p[1]));
    }
    return stats;
  }

  ImplicitLocOpBuilder &b;
  KdParams params;
  int64_t lanes, chunk, rows = 0, vocab = 0;
  /// The row count as an index value (rows: its constant, or dynamic).
  Value rowCount;
  Type f32;
  VectorType vec;
  Value student, teacher, labels, inverseT;
  bool needPlainStats = false;
};

/// Whether the fused kernels handle `logits`: f32 with a static vocabulary
/// (the rows may be symbolic, and are at least 1 then).
bool supported(Value logits) {
  auto type = dyn_cast<RankedTensorType>(logits.getType());
  return type && type.getElementType().isF32() && type.getRank() >= 1 &&
         !type.isDynamicDim(type.getRank() - 1) && !llvm::is_contained(type.getShape(), 0);
}

template <typename OpTy>
KdParams paramsOf(OpTy op) {
  return {op.getTemperature().convertToDouble(), op.getScaleByTemperatureSquared(),
          op.getAlpha().convertToDouble(), op.getIgnoreIndex()};
}

/// kd_loss → the loss kernel, kd_loss_grad → the gradient kernel.
template <typename OpTy>
struct FuseKd : OpRewritePattern<OpTy> {
  FuseKd(MLIRContext *context, int64_t lanes, int64_t chunk)
      : OpRewritePattern<OpTy>(context), lanes(lanes), chunk(chunk) {}
  LogicalResult matchAndRewrite(OpTy op, PatternRewriter &rewriter) const override {
    if (!supported(op.getStudentLogits()))
      return rewriter.notifyMatchFailure(op, "not f32 logits with a static vocabulary");
    if constexpr (std::is_same_v<OpTy, KdLossOp>) {
      for (Operation *user : op.getStudentLogits().getUsers())
        if (auto grad = dyn_cast<KdLossGradOp>(user); grad && partnerLoss(grad) == op)
          return rewriter.notifyMatchFailure(op, "built together with its gradient");
    }
    if constexpr (std::is_same_v<OpTy, KdLossGradOp>) {
      if (KdLossOp loss = partnerLoss(op)) {
        // The loss and its gradient together: one statistics pass per row.
        rewriter.setInsertionPoint(loss);
        ImplicitLocOpBuilder b(loss.getLoc(), rewriter);
        RowKernelBuilder kernel(b, op.getStudentLogits(), op.getTeacherLogits(),
                                op.getLabels(), paramsOf(op), lanes, chunk);
        auto [value, gradient] = kernel.buildLossAndGradient(op.getGrad());
        rewriter.replaceOp(op, kernel.inShapeOf(gradient, op.getStudentLogits()));
        rewriter.replaceOp(loss, value);
        return success();
      }
    }
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    RowKernelBuilder kernel(b, op.getStudentLogits(), op.getTeacherLogits(), op.getLabels(),
                            paramsOf(op), lanes, chunk);
    if constexpr (std::is_same_v<OpTy, KdLossGradOp>)
      rewriter.replaceOp(op, kernel.inShapeOf(kernel.buildGradient(op.getGrad()),
                                              op.getStudentLogits()));
    else
      rewriter.replaceOp(op, kernel.buildLoss());
    return success();
  }

  /// The kd_loss of the same operands and attributes as `grad`, earlier in
  /// its block, with `grad`'s upstream gradient available before it; or null.
  static KdLossOp partnerLoss(KdLossGradOp grad) {
    return findLossOfGradient<KdLossOp>(
        grad, grad.getStudentLogits(), grad.getGrad(), [&](KdLossOp loss) {
          return loss.getStudentLogits() == grad.getStudentLogits() &&
                 loss.getTeacherLogits() == grad.getTeacherLogits() &&
                 loss.getLabels() == grad.getLabels() &&
                 loss.getTemperature() == grad.getTemperature() &&
                 loss.getScaleByTemperatureSquared() == grad.getScaleByTemperatureSquared() &&
                 loss.getAlpha() == grad.getAlpha() &&
                 loss.getIgnoreIndex() == grad.getIgnoreIndex();
        });
  }
  int64_t lanes, chunk;
};

struct UbeCpuDistillationKernelsPass
    : ube::impl::UbeCpuDistillationKernelsBase<UbeCpuDistillationKernelsPass> {
  using Base::Base;
  void runOnOperation() override {
    if (vectorWidth < 1 || chunkSize < vectorWidth || chunkSize % vectorWidth != 0) {
      getOperation().emitError("ube-cpu-distillation-kernels: chunk-size must be a positive "
                               "multiple of vector-width");
      return signalPassFailure();
    }
    RewritePatternSet patterns(&getContext());
    patterns.add<FuseKd<KdLossOp>, FuseKd<KdLossGradOp>>(&getContext(), vectorWidth,
                                                          chunkSize);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns), kernelRewriteConfig())))
      signalPassFailure();
  }
};

} // namespace
