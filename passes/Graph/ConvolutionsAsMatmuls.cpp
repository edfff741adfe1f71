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
    // Patches [N, G, C/G, taps, positions]: tap t is the strided slice of
    // the padded input at that offset.
    Value x = op.getInput();
    for (int64_t d = 0; d < r; ++d)
      x = padAxis(u, x, 2 + d, window.padBegin[d], window.padEnd[d]);
    SmallVector<Value> tapValues;
    SmallVector<int64_t> offset(r, 0);
    SmallVector<int64_t> tapShape = {n, groups, perGroupIn, 1, positions};
    for (int64_t t = 0; t < taps; ++t) {
      SmallVector<int64_t> start = {0, 0}, limit = {n, channels}, stride = {1, 1};
      for (int64_t d = 0; d < r; ++d) {
        start.push_back(offset[d] * window.dilation[d]);
        limit.push_back(start.back() + (out[2 + d] - 1) * window.stride[d] + 1);
        stride.push_back(window.stride[d]);
      }
      Value tap = x;
      if (start != SmallVector<int64_t>(UbeBuilder::typeOf(x).getShape().size(), 0) ||
          ArrayRef<int64_t>(limit) != UbeBuilder::typeOf(x).getShape() ||
          llvm::any_of(stride, [](int64_t s) { return s != 1; }))
        tap = SliceOp::create(u.b, x, u.b.getDenseI64ArrayAttr(start),
                              u.b.getDenseI64ArrayAttr(limit), u.b.getDenseI64ArrayAttr(stride));
      tapValues.push_back(u.reshape(tap, tapShape));
      for (int64_t d = r - 1; d >= 0 && ++offset[d] == window.kernel[d]; --d)
        offset[d] = 0;
    }
    int64_t depth = perGroupIn * taps;
    Value patches = u.reshape(tapValues.size() == 1 ? tapValues[0] : u.concat(tapValues, 3),
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
