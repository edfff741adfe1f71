//===- ConvolutionsAsMatmuls.cpp - ube.conv as patches times weights ------===//
//
// im2col in ube ops: the window's taps gathered into a patch matrix, one
// matmul with the weight. The patches cost K copies of the input; the
// product then runs on the matmul kernels (packed panels, register tiles,
// parallel tasks) instead of a scalar loop nest per output.
//
//===----------------------------------------------------------------------===//

#include "passes/Graph/Passes.h"

#include "dialects/ube/UbeBuilder.h"
#include "dialects/ube/UbeOps.h"
#include "dialects/ube/UbeWindowGrad.h"

#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace ube {
#define GEN_PASS_DEF_UBECONVOLUTIONSASMATMULS
#include "passes/Graph/Passes.h.inc"
} // namespace ube

using namespace mlir;
using namespace ube;

namespace {

constexpr int64_t kMaxTaps = 256;

struct ConvAsMatmul : OpRewritePattern<ConvOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(ConvOp op, PatternRewriter &rewriter) const override {
    auto inputType = op.getInput().getType(), resultType = op.getType();
    if (!inputType.hasStaticShape() || !resultType.hasStaticShape())
      return rewriter.notifyMatchFailure(op, "symbolic sizes");
    UbeBuilder u(rewriter, op.getLoc());
    Window window = op.window();
    int64_t r = window.rank(), groups = op.getGroups();
    ArrayRef<int64_t> in = inputType.getShape(), out = resultType.getShape();
    int64_t n = in[0], channels = in[1], outChannels = out[1];
    int64_t perGroupIn = channels / groups, perGroupOut = outChannels / groups;
    int64_t positions = 1, taps = 1;
    for (int64_t d = 0; d < r; ++d) {
      positions *= out[2 + d];
      taps *= window.kernel[d];
    }
    // Every tap is a copy of the input: past this many the loop nest is the
    // better trade (a long 1-D kernel). So it is for one output channel per
    // group (depthwise): a matmul of one row does no better than the loop.
    if (taps > kMaxTaps)
      return rewriter.notifyMatchFailure(op, "too many taps");
    if (perGroupOut == 1)
      return rewriter.notifyMatchFailure(op, "one output channel per group");
    int64_t depth = perGroupIn * taps;
    Value patches = u.reshape(convPatches(u, op.getInput(), window, out.drop_front(2), groups),
                              groups == 1 ? SmallVector<int64_t>{n, depth, positions}
                                          : SmallVector<int64_t>{n, groups, depth, positions});
    // The weight [O, C/G, *K] as [G, O/G, C/G · K]: its rows read (c, tap)
    // in the patches' order.
    Value weight = u.reshape(op.getWeight(),
                             groups == 1 ? SmallVector<int64_t>{outChannels, depth}
                                         : SmallVector<int64_t>{groups, perGroupOut, depth});
    Value product = u.matmul(weight, patches);
    Value result = u.reshape(product, out);
    if (Value bias = op.getBias()) {
      SmallVector<int64_t> column = {outChannels};
      column.append(r, 1);
      result = u.add(result, u.reshape(bias, column));
    }
    rewriter.replaceOp(op, result);
    return success();
  }
};

struct UbeConvolutionsAsMatmulsPass
    : ube::impl::UbeConvolutionsAsMatmulsBase<UbeConvolutionsAsMatmulsPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<ConvAsMatmul>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
