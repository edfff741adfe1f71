//===- FuseNormalizations.cpp - RMS norms spelled out -> ube.rms_norm -----===//
//
// Llama's and T5's RMSNorm modules write the norm by hand:
//   x * rsqrt(mean(x ** 2, -1, keepdim=True) + eps) * weight
// which exports as pow (or mul x·x), reduce_mean, add, rsqrt, mul, mul. As
// one ube.rms_norm it runs as a row kernel and differentiates by its own
// rule instead of five.
//
// What must hold: the mean over trailing axes with keepdims, of the square
// of the same x that is multiplied, plus a positive scalar constant; the
// weight (folded in only when the norm has no other user) shaped like the
// normalized dimensions.
//
//===----------------------------------------------------------------------===//

#include "passes/Graph/Passes.h"

#include "dialects/ube/UbeOps.h"
#include "passes/Graph/GraphMatchers.h"

#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace ube {
#define GEN_PASS_DEF_UBEFUSENORMALIZATIONS
#include "passes/Graph/Passes.h.inc"
} // namespace ube

using namespace mlir;
using namespace ube;

namespace {

/// Whether `square` is x·x or x ** 2.
bool isSquareOf(Value square, Value x) {
  if (auto mul = square.getDefiningOp<MulOp>())
    return mul.getLhs() == x && mul.getRhs() == x;
  if (auto pow = square.getDefiningOp<PowOp>())
    return pow.getLhs() == x && scalarConstant(pow.getRhs()) == 2.0;
  return false;
}

/// The first normalized axis when `mean` reduces exactly the trailing axes
/// [axis, rank) with keepdims.
std::optional<int64_t> trailingAxes(ReduceMeanOp mean) {
  int64_t rank = cast<RankedTensorType>(mean.getInput().getType()).getRank();
  ArrayRef<int64_t> axes = mean.getAxes();
  if (!mean.getKeepdims() || axes.empty() || int64_t(axes.size()) > rank)
    return std::nullopt;
  SmallVector<bool> reduced(rank, false);
  for (int64_t axis : axes)
    reduced[axis < 0 ? axis + rank : axis] = true;
  int64_t first = rank - int64_t(axes.size());
  for (int64_t d = 0; d < rank; ++d)
    if (reduced[d] != (d >= first))
      return std::nullopt;
  return first - rank;
}

/// x * rsqrt(mean(x²) + eps) -> rms_norm(x).
struct FuseRmsNorm : OpRewritePattern<MulOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(MulOp op, PatternRewriter &rewriter) const override {
    for (auto [x, scale] : bothOrders(op)) {
      auto rsqrt = scale.getDefiningOp<RsqrtOp>();
      auto add = rsqrt ? rsqrt.getInput().getDefiningOp<AddOp>() : nullptr;
      if (!add || x.getType() != op.getType())
        continue;
      for (auto [meanValue, epsilonValue] : bothOrders(add)) {
        auto mean = meanValue.getDefiningOp<ReduceMeanOp>();
        std::optional<double> epsilon = scalarConstant(epsilonValue);
        if (!mean || !epsilon || *epsilon <= 0 || !isSquareOf(mean.getInput(), x))
          continue;
        std::optional<int64_t> axis = trailingAxes(mean);
        if (!axis || add.getType() != mean.getType())
          continue;
        rewriter.replaceOpWithNewOp<RmsNormOp>(op, x, /*weight=*/Value(),
                                               rewriter.getI64IntegerAttr(*axis),
                                               rewriter.getF64FloatAttr(*epsilon));
        return success();
      }
    }
    return rewriter.notifyMatchFailure(op, "not x * rsqrt(mean(x²) + eps)");
  }
};

/// rms_norm(x) * w -> rms_norm(x, w), w shaped like the normalized dims.
struct FuseRmsNormWeight : OpRewritePattern<MulOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(MulOp op, PatternRewriter &rewriter) const override {
    for (auto [normalized, weight] : bothOrders(op)) {
      auto norm = normalized.getDefiningOp<RmsNormOp>();
      if (!norm || norm.getWeight() || !norm->hasOneUse() || norm.getType() != op.getType())
        continue;
      auto type = cast<RankedTensorType>(norm.getType());
      auto weightType = cast<RankedTensorType>(weight.getType());
      int64_t axis = norm.getAxis() < 0 ? norm.getAxis() + type.getRank() : norm.getAxis();
      if (weightType.getShape() != type.getShape().drop_front(axis) ||
          weightType.getElementType() != type.getElementType())
        continue;
      rewriter.replaceOpWithNewOp<RmsNormOp>(op, norm.getInput(), weight, norm.getAxisAttr(),
                                             norm.getEpsilonAttr());
      return success();
    }
    return rewriter.notifyMatchFailure(op, "not an unweighted rms_norm times its weight");
  }
};

struct UbeFuseNormalizationsPass
    : ube::impl::UbeFuseNormalizationsBase<UbeFuseNormalizationsPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<FuseRmsNorm, FuseRmsNormWeight>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
