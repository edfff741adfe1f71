//===- CpuRowKernels.cpp - softmax and normalization rows for CPUs --------===//
//
// softmax, log_softmax, layer_norm and rms_norm normalize each row of the
// last axis.
// The linalg lowering computes them as separate reductions and elementwise
// ops; here each becomes, on tensors,
//
//   scf.forall over groups of rows (tasks for the thread pool)
//     for each row of the group:
//       statistics  softmax: lane maxima, M = max; lane sums of exp(x − M),
//                   S = sum. layer_norm: lane sums, mean; lane sums of
//                   (x − mean)², var (the exact two-step formula, on the row
//                   while it is in L1). rms_norm: lane sums of x².
//       output      exp(x − M) / S (the sums pass wrote exp(x − M) into the
//                   output row; this scales it), (x − M) − log S,
//                   (x − mean)·rstd·w + b or x·rstd·w, written into the
//                   task's rows.
//
// Rows walk the last axis one vector at a time; a ragged end is one masked
// step whose padding never reaches a statistic or the output.
//
//===----------------------------------------------------------------------===//

#include "passes/Cpu/Passes.h"

#include "dialects/ube/UbeOps.h"
#include "passes/Utils/KernelBuilding.h"

#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include <functional>
#include <limits>

namespace ube {
#define GEN_PASS_DEF_UBECPUROWKERNELS
#include "passes/Cpu/Passes.h.inc"
} // namespace ube

using namespace mlir;
using namespace ube;

namespace {

enum class RowOp { Softmax, LogSoftmax, LayerNorm, RmsNorm };

/// Builds the kernel of one op on `input` viewed as [rows, length].
class RowKernelBuilder {
public:
  RowKernelBuilder(ImplicitLocOpBuilder &b, RowOp kind, Value input, int64_t lanes,
                   int64_t taskElements)
      : b(b), ix(b), kind(kind), lanes(lanes), input(input) {
    // Sizes may be symbolic: they fold to constants when static.
    auto type = cast<RankedTensorType>(input.getType());
    length = ix.dim(input, type.getRank() - 1);
    rows = ix.c(1);
    for (int64_t d = 0; d + 1 < type.getRank(); ++d)
      rows = ix.mul(rows, ix.dim(input, d));
    rowsPerTask =
        ix.min(rows, ix.max(ix.c(1), ix.ceilDiv(ix.c(taskElements), length)));
    f32 = b.getF32Type();
    vec = VectorType::get({lanes}, f32);
    x = reshapeTo(b, input,
                  ArrayRef<OpFoldResult>{getAsOpFoldResult(rows), getAsOpFoldResult(length)});
  }

  /// The normalized rows, in `input`'s shape; `weight` and `bias` (layer
  /// and RMS norm, [length] or null) scale and shift them.
  Value build(Value weight = {}, Value bias = {}, double epsilon = 0) {
    this->weight = weight;
    this->bias = bias;
    this->epsilon = epsilon;
    Value groups = ix.ceilDiv(rows, rowsPerTask);
    auto rowsType = cast<RankedTensorType>(x.getType());
    SmallVector<Value> dynamicSizes;
    for (Value size : {rows, length})
      if (!ix.constant(size))
        dynamicSizes.push_back(size);
    Value init = tensor::EmptyOp::create(b, rowsType.getShape(), f32, dynamicSizes);
    auto forall = scf::ForallOp::create(b, ArrayRef<OpFoldResult>{getAsOpFoldResult(groups)},
                                        ValueRange{init}, std::nullopt);
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(forall.getBody());
      Value group = forall.getInductionVars()[0];
      Value begin = arith::MulIOp::create(b, group, rowsPerTask);
      // The last group takes the rows left.
      Value count = arith::MinSIOp::create(b, rowsPerTask, arith::SubIOp::create(b, rows, begin));
      SmallVector<OpFoldResult> offsets = {begin, b.getIndexAttr(0)};
      SmallVector<OpFoldResult> sizes = {count, getAsOpFoldResult(length)};
      SmallVector<OpFoldResult> strides(2, b.getIndexAttr(1));
      auto sliceType = RankedTensorType::get({ShapedType::kDynamic, rowsType.getDimSize(1)}, f32);
      Value slice = tensor::ExtractSliceOp::create(b, sliceType, forall.getRegionIterArgs()[0],
                                                   offsets, sizes, strides);
      slice = buildLoop(b, index(0), count, index(1), ValueRange{slice},
                        [&](Value r, ValueRange out) -> SmallVector<Value> {
                          return {writeRow(arith::AddIOp::create(b, begin, r), r, out[0])};
                        })[0];
      b.setInsertionPointToStart(forall.getTerminator().getBody());
      tensor::ParallelInsertSliceOp::create(b, slice, forall.getRegionIterArgs()[0], offsets,
                                            sizes, strides);
    }
    auto type = cast<RankedTensorType>(input.getType());
    SmallVector<OpFoldResult> shape;
    for (int64_t d = 0; d < type.getRank(); ++d)
      shape.push_back(getAsOpFoldResult(ix.dim(input, d)));
    return reshapeTo(b, forall.getResult(0), shape);
  }

private:
  using VectorBody =
      llvm::function_ref<SmallVector<Value>(Value at, Value mask, ValueRange state)>;

  /// Row `row` of the input, normalized into row `outRow` of `out`.
  Value writeRow(Value row, Value outRow, Value out) {
    Value zero = splat(0.0);
    auto masked = [&](Value mask, Value value, Value padding) -> Value {
      return mask ? arith::SelectOp::create(b, mask, value, padding).getResult() : value;
    };
    // The output pass: the value of the vector at `at`, given the row of
    // `out` written so far.
    std::function<Value(Value at, Value mask, Value out)> output;
    if (kind == RowOp::RmsNorm) {
      Value squares = forEachVector(ValueRange{zero}, [&](Value at, Value mask, ValueRange acc) {
        Value v = read(x, row, at, mask);
        return SmallVector<Value>{math::FmaOp::create(b, v, v, acc[0]).getResult()};
      }, 1, [&](Value x, Value y) { return add(x, y); })[0];
      Value meanSquare = div(reduce(vector::CombiningKind::ADD, squares), lengthAsFloat());
      Value rms = math::SqrtOp::create(b, add(meanSquare, scalar(epsilon)));
      Value rstdVector = vector::BroadcastOp::create(b, vec, div(scalar(1.0), rms));
      output = [&, rstdVector](Value at, Value mask, Value) {
        Value y = mul(read(x, row, at, mask), rstdVector);
        return weight ? mul(y, read(weight, ValueRange{at}, mask)) : y;
      };
    } else if (kind == RowOp::LayerNorm) {
      auto plus = [&](Value x, Value y) { return add(x, y); };
      Value sum = forEachVector(ValueRange{zero}, [&](Value at, Value mask, ValueRange acc) {
        return SmallVector<Value>{add(acc[0], read(x, row, at, mask))};
      }, 1, plus)[0];
      Value mean = div(reduce(vector::CombiningKind::ADD, sum), lengthAsFloat());
      Value meanVector = vector::BroadcastOp::create(b, vec, mean);
      Value squares = forEachVector(ValueRange{zero}, [&](Value at, Value mask, ValueRange acc) {
        Value d = masked(mask, sub(read(x, row, at, mask), meanVector), zero);
        return SmallVector<Value>{math::FmaOp::create(b, d, d, acc[0]).getResult()};
      }, 1, plus)[0];
      Value variance = div(reduce(vector::CombiningKind::ADD, squares), lengthAsFloat());
      Value rstd = div(scalar(1.0), math::SqrtOp::create(b, add(variance, scalar(epsilon))));
      Value rstdVector = vector::BroadcastOp::create(b, vec, rstd);
      output = [&, meanVector, rstdVector](Value at, Value mask, Value) {
        Value y = mul(sub(read(x, row, at, mask), meanVector), rstdVector);
        if (weight)
          y = mul(y, read(weight, ValueRange{at}, mask));
        if (bias)
          y = add(y, read(bias, ValueRange{at}, mask));
        return y;
      };
    } else {
      Value lowest = splat(-std::numeric_limits<float>::max());
      Value maxima = forEachVector(ValueRange{lowest}, [&](Value at, Value mask, ValueRange acc) {
        return SmallVector<Value>{
            arith::MaximumFOp::create(b, acc[0], masked(mask, read(x, row, at, mask), lowest))
                .getResult()};
      }, 1, [&](Value x, Value y) { return arith::MaximumFOp::create(b, x, y).getResult(); })[0];
      Value top = reduce(vector::CombiningKind::MAXIMUMF, maxima);
      Value topVector = vector::BroadcastOp::create(b, vec, top);
      // softmax keeps exp(x − M) in the output row (in L1) for the output
      // pass to scale, instead of computing it twice; a row of one vector
      // recomputes it instead (storing it would be overwritten at once,
      // which the canonicalizer folds into a write past the read of it,
      // and bufferization then copies the row).
      bool single = ix.constant(length).value_or(lanes + 1) <= lanes;
      bool keep = kind == RowOp::Softmax && !single;
      SmallVector<Value> state = {zero};
      if (keep)
        state.push_back(out);
      state = forEachVector(state, [&](Value at, Value mask, ValueRange acc) {
        Value e = math::ExpOp::create(b, sub(read(x, row, at, mask), topVector));
        SmallVector<Value> next = {add(acc[0], masked(mask, e, zero))};
        if (keep)
          next.push_back(write(e, acc[1], outRow, at, mask));
        return next;
      }, 1, [&](Value x, Value y) { return add(x, y); });
      Value total = reduce(vector::CombiningKind::ADD, state[0]);
      if (keep) {
        out = state[1];
        Value inverse = vector::BroadcastOp::create(b, vec, div(scalar(1.0), total));
        output = [&, inverse](Value at, Value mask, Value current) {
          return mul(read(current, outRow, at, mask), inverse);
        };
      } else if (kind == RowOp::Softmax) {
        Value inverse = vector::BroadcastOp::create(b, vec, div(scalar(1.0), total));
        output = [&, topVector, inverse](Value at, Value mask, Value) {
          return mul(math::ExpOp::create(b, sub(read(x, row, at, mask), topVector)), inverse);
        };
      } else {
        // (x − M) − log S: x − M is exact, where M + log S would round at
        // the magnitude of M.
        Value logSum = vector::BroadcastOp::create(b, vec, math::LogOp::create(b, total));
        output = [&, topVector, logSum](Value at, Value mask, Value) {
          return sub(sub(read(x, row, at, mask), topVector), logSum);
        };
      }
    }
    return forEachVector(ValueRange{out}, [&](Value at, Value mask, ValueRange acc) {
      return SmallVector<Value>{write(output(at, mask, acc[0]), acc[0], outRow, at, mask)};
    })[0];
  }

  /// `value` written at [row, at] of `tensor` (masked at the ragged end).
  Value write(Value value, Value tensor, Value row, Value at, Value mask) {
    auto op = vector::TransferWriteOp::create(b, value, tensor, ValueRange{row, at},
                                              ArrayRef<bool>{true});
    if (mask)
      op.getMaskMutable().assign(mask);
    return op.getResult();
  }

  /// Runs `body` over a row one vector at a time, threading `state`: full
  /// vectors in a loop without masks, then a ragged end as one masked step.
  /// The first `reductions` values of `state` are lane-wise reductions (their
  /// initial values the identity of `combine`): the loop keeps kUnroll
  /// independent copies of them, combined after it, so that it is not bound
  /// by the latency of one chain of adds. The other values (tensors being
  /// written) thread through every step in order.
  SmallVector<Value> forEachVector(ValueRange state, VectorBody body, int64_t reductions = 0,
                                   function_ref<Value(Value, Value)> combine = nullptr) {
    SmallVector<Value> values(state);
    Value full = ix.mul(ix.div(length, ix.c(lanes)), ix.c(lanes));
    int64_t step = lanes * kUnroll;
    Value unrolled = reductions ? ix.mul(ix.div(full, ix.c(step)), ix.c(step)) : ix.c(0);
    if (ix.constant(unrolled) != 0) {
      SmallVector<Value> copies;
      for (int64_t u = 0; u < kUnroll; ++u)
        copies.append(values.begin(), values.begin() + reductions);
      copies.append(values.begin() + reductions, values.end());
      copies = buildLoop(
          b, index(0), unrolled, index(step), copies,
          [&](Value at, ValueRange args) -> SmallVector<Value> {
            SmallVector<Value> sums, rest(args.drop_front(kUnroll * reductions));
            for (int64_t u = 0; u < kUnroll; ++u) {
              SmallVector<Value> one(args.slice(u * reductions, reductions));
              one.append(rest);
              SmallVector<Value> next =
                  body(arith::AddIOp::create(b, at, index(u * lanes)), nullptr, one);
              sums.append(next.begin(), next.begin() + reductions);
              rest.assign(next.begin() + reductions, next.end());
            }
            sums.append(rest);
            return sums;
          });
      for (int64_t r = 0; r < reductions; ++r) {
        values[r] = copies[r];
        for (int64_t u = 1; u < kUnroll; ++u)
          values[r] = combine(values[r], copies[u * reductions + r]);
      }
      std::copy(copies.begin() + kUnroll * reductions, copies.end(),
                values.begin() + reductions);
    }
    if (ix.constant(ix.lt(unrolled, full)) != 0)
      values = buildLoop(b, unrolled, full, index(lanes), values,
                         [&](Value at, ValueRange args) { return body(at, nullptr, args); });
    Value ragged = ix.lt(full, length);
    if (ix.constant(ragged) == 0)
      return values;
    auto maskedStep = [&]() {
      Value mask = vector::CreateMaskOp::create(b, VectorType::get({lanes}, b.getI1Type()),
                                                ValueRange{ix.sub(length, full)});
      return body(full, mask, values);
    };
    if (ix.constant(ragged))
      return maskedStep();
    // A symbolic length: the masked step where the row has a ragged end.
    auto ifOp = scf::IfOp::create(b, ValueRange(values).getTypes(), ragged, true, true);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(ifOp.thenBlock());
    scf::YieldOp::create(b, maskedStep());
    b.setInsertionPointToStart(ifOp.elseBlock());
    scf::YieldOp::create(b, values);
    return ifOp.getResults();
  }

  /// One vector of `tensor` at `indices` ([row, at] of the input or the
  /// output, [at] of a weight or bias); masked reads pad with 0.
  Value read(Value tensor, ValueRange indices, Value mask) {
    auto op = vector::TransferReadOp::create(b, vec, tensor, indices, scalar(0.0),
                                             ArrayRef<bool>{true});
    if (mask)
      op.getMaskMutable().assign(mask);
    return op;
  }
  Value read(Value tensor, Value row, Value at, Value mask) {
    return read(tensor, ValueRange{row, at}, mask);
  }

  Value index(int64_t v) { return arith::ConstantIndexOp::create(b, v); }
  /// The row length as f32 (a mean's divisor).
  Value lengthAsFloat() {
    if (std::optional<int64_t> known = ix.constant(length))
      return scalar(double(*known));
    Value count = arith::IndexCastUIOp::create(b, b.getI64Type(), length);
    return arith::UIToFPOp::create(b, f32, count);
  }
  Value scalar(double v) { return arith::ConstantOp::create(b, b.getF32FloatAttr(float(v))); }
  Value splat(double v) {
    return arith::ConstantOp::create(b, DenseElementsAttr::get(vec, b.getF32FloatAttr(float(v))));
  }
  Value add(Value x, Value y) { return arith::AddFOp::create(b, x, y); }
  Value sub(Value x, Value y) { return arith::SubFOp::create(b, x, y); }
  Value mul(Value x, Value y) { return arith::MulFOp::create(b, x, y); }
  Value div(Value x, Value y) { return arith::DivFOp::create(b, x, y); }
  Value reduce(vector::CombiningKind combining, Value v) {
    return vector::ReductionOp::create(b, combining, v);
  }

  static constexpr int64_t kUnroll = 4;

  ImplicitLocOpBuilder &b;
  IndexMath ix;
  RowOp kind;
  int64_t lanes;
  Value input, rows, length, rowsPerTask;
  Type f32;
  VectorType vec;
  Value x, weight, bias;
  double epsilon = 0;
};

/// Whether the kernels handle normalizing `input` over axis `axis`: f32,
/// non-empty (symbolic sizes are at least 1), the last axis.
bool supported(Value input, int64_t axis) {
  auto type = dyn_cast<RankedTensorType>(input.getType());
  if (!type || !type.getElementType().isF32() || type.getRank() < 1 ||
      llvm::is_contained(type.getShape(), 0))
    return false;
  return axis == -1 || axis == type.getRank() - 1;
}

template <typename OpTy>
struct SoftmaxRows : OpRewritePattern<OpTy> {
  SoftmaxRows(MLIRContext *context, int64_t lanes, int64_t taskElements)
      : OpRewritePattern<OpTy>(context), lanes(lanes), taskElements(taskElements) {}
  LogicalResult matchAndRewrite(OpTy op, PatternRewriter &rewriter) const override {
    if (!supported(op.getInput(), op.getAxis()))
      return rewriter.notifyMatchFailure(op, "not f32 over the last axis");
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    RowOp kind = std::is_same_v<OpTy, SoftmaxOp> ? RowOp::Softmax : RowOp::LogSoftmax;
    RowKernelBuilder kernel(b, kind, op.getInput(), lanes, taskElements);
    rewriter.replaceOp(op, kernel.build());
    return success();
  }
  int64_t lanes, taskElements;
};

/// layer_norm and rms_norm; their weight and bias have the normalized
/// shape, [length] over the last axis.
template <typename OpTy>
struct NormalizationRows : OpRewritePattern<OpTy> {
  NormalizationRows(MLIRContext *context, int64_t lanes, int64_t taskElements)
      : OpRewritePattern<OpTy>(context), lanes(lanes), taskElements(taskElements) {}
  LogicalResult matchAndRewrite(OpTy op, PatternRewriter &rewriter) const override {
    if (!supported(op.getInput(), op.getAxis()))
      return rewriter.notifyMatchFailure(op, "not f32 over the last axis");
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    constexpr bool isLayerNorm = std::is_same_v<OpTy, LayerNormOp>;
    RowKernelBuilder kernel(b, isLayerNorm ? RowOp::LayerNorm : RowOp::RmsNorm, op.getInput(),
                            lanes, taskElements);
    Value bias;
    if constexpr (isLayerNorm)
      bias = op.getBias();
    rewriter.replaceOp(op, kernel.build(op.getWeight(), bias, op.getEpsilon().convertToDouble()));
    return success();
  }
  int64_t lanes, taskElements;
};

struct UbeCpuRowKernelsPass : ube::impl::UbeCpuRowKernelsBase<UbeCpuRowKernelsPass> {
  using Base::Base;
  void runOnOperation() override {
    if (vectorWidth < 1 || taskElements < 1) {
      getOperation().emitError("ube-cpu-row-kernels: vector-width and task-elements must be "
                               "positive");
      return signalPassFailure();
    }
    RewritePatternSet patterns(&getContext());
    patterns.add<SoftmaxRows<SoftmaxOp>, SoftmaxRows<LogSoftmaxOp>>(&getContext(), vectorWidth,
                                                                     taskElements);
    if (layerNorm)
      patterns.add<NormalizationRows<LayerNormOp>, NormalizationRows<RmsNormOp>>(
          &getContext(), vectorWidth, taskElements);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns), kernelRewriteConfig())))
      signalPassFailure();
  }
};

} // namespace
