//===- DepthwiseConvolutionsAsTaps.cpp - depthwise conv as tap sums -------===//
//
// A depthwise convolution (one input and one output channel per group, as
// in MobileNet's and ConvNeXt's blocks) has no matmul worth the name: each
// output is K products with its own channel's weights. As ube ops it is
// the sum over the K window taps of the tap's strided slice of the padded
// input times that tap's per-channel weight: elementwise ops that fuse into
// one vectorized loop over the output reading K shifted views, instead of
// a window loop nest per output element.
//
//===----------------------------------------------------------------------===//

#include "passes/Graph/Passes.h"

#include "dialects/ube/UbeBuilder.h"
#include "dialects/ube/UbeOps.h"
#include "dialects/ube/UbeWindowGrad.h"

#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace ube {
#define GEN_PASS_DEF_UBEDEPTHWISECONVOLUTIONSASTAPS
#include "passes/Graph/Passes.h.inc"
} // namespace ube

using namespace mlir;
using namespace ube;

namespace {

/// Past this many taps a sum of shifted views reads the input too often.
constexpr int64_t kMaxTaps = 64;

struct DepthwiseConvAsTaps : OpRewritePattern<ConvOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(ConvOp op, PatternRewriter &rewriter) const override {
    auto inputType = op.getInput().getType(), resultType = op.getType();
    // Symbolic batch and planes: the taps are sliced at run time.
    if (inputType.isDynamicDim(1))
      return rewriter.notifyMatchFailure(op, "symbolic channels");
    int64_t channels = inputType.getDimSize(1), groups = op.getGroups();
    if (groups != channels || resultType.getDimSize(1) != channels)
      return rewriter.notifyMatchFailure(op, "not one input and output channel per group");
    Window window = op.window();
    int64_t taps = 1;
    for (int64_t k : window.kernel)
      taps *= k;
    if (taps > kMaxTaps)
      return rewriter.notifyMatchFailure(op, "too many taps");
    UbeBuilder u(rewriter, op.getLoc());
    int64_t r = window.rank();
    // 16-bit floats are summed in f32, as the generic lowering does, and
    // rounded once.
    Type element = resultType.getElementType();
    Type sumType = element.getIntOrFloatBitWidth() < 32 ? rewriter.getF32Type() : element;
    auto widened = [&](Value v) { return element == sumType ? v : u.castTo(v, sumType); };
    // The weight [C, 1, *K] as [C, K]; tap t's column as [C, 1, ...].
    Value weight = u.reshape(widened(op.getWeight()), {channels, taps});
    SmallVector<int64_t> column = {channels};
    column.append(r, 1);
    Value sum;
    for (auto [t, tap] : llvm::enumerate(convTaps(u, widened(op.getInput()), window,
                                                  resultType.getShape().drop_front(2)))) {
      Value w = u.reshape(u.slice(weight, 1, t, t + 1), column);
      Value product = u.mul(tap, w);
      sum = sum ? u.add(sum, product) : product;
    }
    if (Value bias = op.getBias())
      sum = u.add(sum, u.reshape(widened(bias), column));
    rewriter.replaceOp(op, element == sumType ? sum : u.castTo(sum, element));
    return success();
  }
};

struct UbeDepthwiseConvolutionsAsTapsPass
    : ube::impl::UbeDepthwiseConvolutionsAsTapsBase<UbeDepthwiseConvolutionsAsTapsPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<DepthwiseConvAsTaps>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
