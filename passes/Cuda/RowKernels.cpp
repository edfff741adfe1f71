//===- RowKernels.cpp - softmax and normalization rows for GPUs -----------===//
//
// softmax, log_softmax, layer_norm and rms_norm over the last axis. The
// linalg lowering computes them as separate reductions and an elementwise
// pass, three kernels that each read the whole input from memory. Here each
// becomes, on tensors, one scf.forall over rows whose row is a short
// program of scalar loops:
//
//   softmax      M = max x;  S = sum exp(x - M);  out = exp(x - M) / S
//   log_softmax  M = max x;  S = sum exp(x - M);  out = (x - M) - log S
//   layer_norm   mean = sum x / n;  var = sum (x - mean)^2 / n;
//                out = (x - mean) * rsqrt(var + eps) * w + b
//   rms_norm     ms = sum x^2 / n;  out = x * rsqrt(ms + eps) * w
//
// which ube-cuda-map-to-launches runs as one block per row: each loop
// strided over the block's threads, each sum or maximum combined across the
// block (gpu.all_reduce), so the row is read from memory once and the later
// passes find it in cache. Rows and their length may be symbolic sizes.
//
//===----------------------------------------------------------------------===//

#include "passes/Cuda/Passes.h"

#include "dialects/ube/UbeOps.h"
#include "passes/Utils/KernelBuilding.h"

#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include <cmath>

namespace ube {
#define GEN_PASS_DEF_UBECUDAROWKERNELS
#include "passes/Cuda/Passes.h.inc"
} // namespace ube

using namespace mlir;
using namespace ube;

namespace {

enum class RowOp { Softmax, LogSoftmax, LayerNorm, RmsNorm };

class RowProgram {
public:
  RowProgram(ImplicitLocOpBuilder &b, RowOp kind, Value input, Value weight, Value bias,
             double epsilon)
      : b(b), kind(kind), weight(weight), bias(bias), epsilon(epsilon) {
    shape = tensor::getMixedSizes(b, b.getLoc(), input);
    length = shape.back();
    rows = b.getIndexAttr(1);
    for (OpFoldResult size : ArrayRef(shape).drop_back())
      rows = mulSizes(b, b.getLoc(), rows, size);
    x = reshapeTo(b, input, ArrayRef<OpFoldResult>{rows, length});
  }

  /// The normalized rows, in the input's shape.
  Value build() {
    Value init = tensor::EmptyOp::create(b, ArrayRef<OpFoldResult>{rows, length},
                                         b.getF32Type());
    auto forall =
        scf::ForallOp::create(b, ArrayRef<OpFoldResult>{rows}, ValueRange{init}, std::nullopt);
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(forall.getBody());
      Value row = forall.getInductionVars()[0];
      SmallVector<OpFoldResult> offsets = {row, b.getIndexAttr(0)};
      SmallVector<OpFoldResult> sizes = {b.getIndexAttr(1), length};
      SmallVector<OpFoldResult> strides(2, b.getIndexAttr(1));
      auto sliceType = RankedTensorType::get(
          {1, getConstantIntValue(length).value_or(ShapedType::kDynamic)}, b.getF32Type());
      Value out = tensor::ExtractSliceOp::create(b, sliceType, forall.getRegionIterArgs()[0],
                                                 offsets, sizes, strides);
      out = writeRow(row, out);
      b.setInsertionPointToStart(forall.getTerminator().getBody());
      tensor::ParallelInsertSliceOp::create(b, out, forall.getRegionIterArgs()[0], offsets,
                                            sizes, strides);
    }
    return reshapeTo(b, forall.getResult(0), shape);
  }

private:
  Value c(double v) { return arith::ConstantOp::create(b, b.getF32FloatAttr(float(v))); }
  Value index(int64_t v) { return arith::ConstantIndexOp::create(b, v); }
  Value end() { return getValueOrCreateConstantIndexOp(b, b.getLoc(), length); }
  Value element(Value row, Value at) { return tensor::ExtractOp::create(b, x, {row, at}); }

  /// A sum (or maximum) over the row of `f(x_j)`.
  Value reduce(Value row, bool maximum, function_ref<Value(Value)> f) {
    return buildLoop(b, index(0), end(), index(1), ValueRange{c(maximum ? -INFINITY : 0.0)},
                     [&](Value at, ValueRange acc) -> SmallVector<Value> {
                       Value v = f(element(row, at));
                       if (maximum)
                         return {arith::MaximumFOp::create(b, acc[0], v)};
                       return {arith::AddFOp::create(b, acc[0], v)};
                     })[0];
  }

  /// The row's statistics, then its outputs written into `out` ([1, n]).
  Value writeRow(Value row, Value out) {
    std::optional<int64_t> known = getConstantIntValue(length);
    Value n = known ? c(double(*known))
                    : arith::SIToFPOp::create(
                          b, b.getF32Type(),
                          arith::IndexCastOp::create(b, b.getI64Type(), end()));
    Value shift, scale;
    switch (kind) {
    case RowOp::Softmax:
    case RowOp::LogSoftmax:
      shift = reduce(row, true, [&](Value v) { return v; });
      scale = reduce(row, false, [&](Value v) {
        return math::ExpOp::create(b, arith::SubFOp::create(b, v, shift));
      });
      if (kind == RowOp::Softmax)
        scale = arith::DivFOp::create(b, c(1.0), scale);
      else
        scale = math::LogOp::create(b, scale);
      break;
    case RowOp::LayerNorm: {
      shift = arith::DivFOp::create(b, reduce(row, false, [&](Value v) { return v; }), n);
      Value var = arith::DivFOp::create(b, reduce(row, false, [&](Value v) {
        Value d = arith::SubFOp::create(b, v, shift);
        return arith::MulFOp::create(b, d, d);
      }), n);
      scale = math::RsqrtOp::create(b, arith::AddFOp::create(b, var, c(epsilon)));
      break;
    }
    case RowOp::RmsNorm: {
      Value ms = arith::DivFOp::create(
          b, reduce(row, false, [&](Value v) { return arith::MulFOp::create(b, v, v); }), n);
      scale = math::RsqrtOp::create(b, arith::AddFOp::create(b, ms, c(epsilon)));
      break;
    }
    }
    return buildLoop(b, index(0), end(), index(1), ValueRange{out},
                     [&](Value at, ValueRange state) -> SmallVector<Value> {
                       Value v = element(row, at), y;
                       switch (kind) {
                       case RowOp::Softmax:
                         y = arith::MulFOp::create(
                             b, math::ExpOp::create(b, arith::SubFOp::create(b, v, shift)),
                             scale);
                         break;
                       case RowOp::LogSoftmax:
                         y = arith::SubFOp::create(b, arith::SubFOp::create(b, v, shift), scale);
                         break;
                       case RowOp::LayerNorm:
                       case RowOp::RmsNorm:
                         y = arith::MulFOp::create(
                             b, kind == RowOp::LayerNorm ? arith::SubFOp::create(b, v, shift) : v,
                             scale);
                         if (weight)
                           y = arith::MulFOp::create(b, y, tensor::ExtractOp::create(b, weight, at));
                         if (bias)
                           y = arith::AddFOp::create(b, y, tensor::ExtractOp::create(b, bias, at));
                         break;
                       }
                       return {tensor::InsertOp::create(b, y, state[0], {index(0), at})};
                     })[0];
  }

  ImplicitLocOpBuilder &b;
  RowOp kind;
  Value weight, bias, x;
  double epsilon;
  SmallVector<OpFoldResult> shape; ///< The input's, which the output keeps.
  OpFoldResult rows, length;
};

/// f32 tensors, normalized over their last axis, rows of at least one
/// element (symbolic sizes are at least 1).
bool supported(Value input, int64_t axis) {
  auto type = dyn_cast<RankedTensorType>(input.getType());
  if (!type || !type.getElementType().isF32() || type.getRank() < 1 ||
      llvm::is_contained(type.getShape(), 0))
    return false;
  return axis == -1 || axis == type.getRank() - 1;
}

/// A weight or bias of the normalized shape [n] (or none).
bool vectorOrNone(Value v, int64_t length) {
  if (!v)
    return true;
  auto type = dyn_cast<RankedTensorType>(v.getType());
  return type && type.getRank() == 1 && type.getDimSize(0) == length &&
         type.getElementType().isF32();
}

template <typename OpTy>
struct RowsOf : OpRewritePattern<OpTy> {
  using OpRewritePattern<OpTy>::OpRewritePattern;
  LogicalResult matchAndRewrite(OpTy op, PatternRewriter &rewriter) const override {
    if (!supported(op.getInput(), op.getAxis()))
      return rewriter.notifyMatchFailure(op, "not f32 over the last axis");
    auto type = cast<RankedTensorType>(op.getInput().getType());
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    RowOp kind;
    Value weight, bias;
    double epsilon = 0;
    if constexpr (std::is_same_v<OpTy, SoftmaxOp>) {
      kind = RowOp::Softmax;
    } else if constexpr (std::is_same_v<OpTy, LogSoftmaxOp>) {
      kind = RowOp::LogSoftmax;
    } else {
      kind = std::is_same_v<OpTy, LayerNormOp> ? RowOp::LayerNorm : RowOp::RmsNorm;
      weight = op.getWeight();
      if constexpr (std::is_same_v<OpTy, LayerNormOp>)
        bias = op.getBias();
      epsilon = op.getEpsilon().convertToDouble();
      if (!vectorOrNone(weight, type.getShape().back()) ||
          !vectorOrNone(bias, type.getShape().back()))
        return rewriter.notifyMatchFailure(op, "weight or bias not of the row's shape");
    }
    RowProgram program(b, kind, op.getInput(), weight, bias, epsilon);
    rewriter.replaceOp(op, program.build());
    return success();
  }
};

struct UbeCudaRowKernelsPass : ube::impl::UbeCudaRowKernelsBase<UbeCudaRowKernelsPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<RowsOf<SoftmaxOp>, RowsOf<LogSoftmaxOp>, RowsOf<LayerNormOp>,
                 RowsOf<RmsNormOp>>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns), kernelRewriteConfig())))
      signalPassFailure();
  }
};

} // namespace
