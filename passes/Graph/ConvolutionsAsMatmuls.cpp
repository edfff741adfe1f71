//===- ConvolutionsAsMatmuls.cpp - ube.conv as patches times weights ------===//
//
// im2col in ube ops: the window's taps gathered into a patch matrix, one
// matmul with the weight; the product then runs on the matmul kernels
// (packed panels, register tiles, parallel tasks) instead of a scalar loop
// nest per output. A 2-D convolution's patches are a ube.im2col, which
// the cpu matmul kernels pack straight from the input (no patch matrix):
// at stride 1 over the padded plane's whole width (contiguous runs; the
// wrapped-around columns are cropped from the product), strided over the
// output's positions (gathered). A 1-D convolution is one as a plane of
// height 1. Small planes (a 4 × 4 output) put the batch's positions side
// by side in one matrix's columns, which the panels gather. 3-D
// convolutions gather their patches as K strided slices (K copies of the
// input).
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

/// Whether `n` images of `positions` output positions each are better as one
/// matrix of n · positions columns than as n matrices of `columns` columns
/// each (positions, or the padded plane's whole rows at stride 1): the cpu
/// matmul kernels compute whole panels of 32 columns (two AVX-512 vectors),
/// so a 4 × 4 output computes 32 columns for 16, and a batch of 8 side by
/// side 128 for 128. Taken when it saves a fifth of the columns.
static bool shareColumns(int64_t n, int64_t columns, int64_t positions) {
  constexpr int64_t kPanel = 32;
  if (ShapedType::isDynamic(n))
    return false;
  int64_t apart = n * llvm::alignTo(columns, kPanel);
  int64_t together = llvm::alignTo(n * positions, kPanel);
  return n > 1 && together * 5 <= apart * 4;
}

/// `n` · `factor`, symbolic when `n` is.
static int64_t times(int64_t n, int64_t factor) {
  return ShapedType::isDynamic(n) ? n : n * factor;
}

/// `x` reshaped to `shape`, whose first size may be symbolic (the batch, or
/// the batch times the groups): then it is `lead`.
static Value reshapeLead(UbeBuilder &u, Value x, ArrayRef<int64_t> shape, Value lead) {
  return ShapedType::isDynamic(shape[0]) ? u.reshape(x, shape, lead) : u.reshape(x, shape);
}

/// A 1-D window as the 2-D window [1, K] over planes of height 1.
static Window asPlane(Window window) {
  for (SmallVector<int64_t> *ones : {&window.kernel, &window.stride, &window.dilation})
    ones->insert(ones->begin(), 1);
  for (SmallVector<int64_t> *zeros : {&window.padBegin, &window.padEnd})
    zeros->insert(zeros->begin(), 0);
  return window;
}

/// `v` [N, C, L] as [N, C, 1, L] (symbolic sizes kept).
static Value withHeight(UbeBuilder &u, Value v) {
  SmallVector<int64_t> shape(UbeBuilder::typeOf(v).getShape());
  shape.insert(shape.begin() + 2, 1);
  return u.reshape(v, shape, u.symbolicSizes(v));
}

struct ConvAsMatmul : OpRewritePattern<ConvOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(ConvOp op, PatternRewriter &rewriter) const override {
    // A symbolic batch is the matmuls' batch (or the im2col's), counted at
    // run time; symbolic planes would need sizes derived from the input's.
    auto inputType = op.getInput().getType(), resultType = op.getType();
    if (!op.getWeight().getType().hasStaticShape() || inputType.isDynamicDim(1))
      return rewriter.notifyMatchFailure(op, "symbolic channels");
    Window window = op.window();
    int64_t r = window.rank(), groups = op.getGroups();
    ArrayRef<int64_t> in = inputType.getShape(), out = resultType.getShape();
    int64_t n = in[0], channels = in[1], outChannels = out[1];
    int64_t perGroupIn = channels / groups, perGroupOut = outChannels / groups;
    int64_t taps = 1;
    for (int64_t d = 0; d < r; ++d)
      taps *= window.kernel[d];
    // Every tap is a copy of the input: past this many the loop nest is the
    // better trade (a long 1-D kernel). So it is for one output channel per
    // group (depthwise): a matmul of one row does no better than the loop.
    if (taps > kMaxTaps)
      return rewriter.notifyMatchFailure(op, "too many taps");
    if (perGroupOut == 1)
      return rewriter.notifyMatchFailure(op, "one output channel per group");
    int64_t depth = perGroupIn * taps;
    bool strided = llvm::any_of(window.stride, [](int64_t s) { return s > 1; });
    UbeBuilder u(rewriter, op.getLoc());
    Value batch = u.dimSize(op.getInput(), 0);
    if (!staticButBatch(op)) {
      bool padded = llvm::all_of(llvm::concat<int64_t>(window.padBegin, window.padEnd),
                                 [](int64_t p) { return p >= 0; });
      rewriter.replaceOp(op, r <= 2 && padded ? symbolicPlanesIm2colProduct(u, op, window)
                                              : symbolicPlanesProduct(u, op, window));
      return success();
    }
    if (r == 2 && (taps > 1 || strided)) {
      rewriter.replaceOp(op, implicitPatchesProduct(u, op.getInput(), op.getWeight(),
                                                    op.getBias(), groups, window, out, batch));
      return success();
    }
    if (r == 1 && (taps > 1 || strided)) {
      SmallVector<int64_t> planeOut = {out[0], out[1], 1, out[2]};
      Value result = implicitPatchesProduct(u, withHeight(u, op.getInput()),
                                            withHeight(u, op.getWeight()), op.getBias(), groups,
                                            asPlane(window), planeOut, batch);
      rewriter.replaceOp(op, reshapeLead(u, result, out, batch));
      return success();
    }
    int64_t positions = ShapedType::getNumElements(out.drop_front(2));
    Value patches =
        reshapeLead(u, convPatches(u, op.getInput(), window, out.drop_front(2), groups),
                    groups == 1 ? SmallVector<int64_t>{n, depth, positions}
                                : SmallVector<int64_t>{n, groups, depth, positions},
                    batch);
    // The weight [O, C/G, *K] as [G, O/G, C/G · K]: its rows read (c, tap)
    // in the patches' order.
    Value weight = u.reshape(op.getWeight(),
                             groups == 1 ? SmallVector<int64_t>{outChannels, depth}
                                         : SmallVector<int64_t>{groups, perGroupOut, depth});
    Value product = u.matmul(weight, patches);
    Value result = reshapeLead(u, product, out, batch);
    if (Value bias = op.getBias()) {
      SmallVector<int64_t> column = {outChannels};
      column.append(r, 1);
      result = u.add(result, u.reshape(bias, column));
    }
    rewriter.replaceOp(op, result);
    return success();
  }

  /// Symbolic planes, 2-D (1-D as planes of height 1): a ube.im2col over
  /// the window's output positions of the padded input, counted at run
  /// time, whose columns the matmul kernels gather into their panels (no
  /// patch matrix), times the weight.
  static Value symbolicPlanesIm2colProduct(UbeBuilder &u, ConvOp op, Window window) {
    ArrayRef<int64_t> out = op.getType().getShape();
    int64_t groups = op.getGroups(), n = out[0], outChannels = out[1];
    Value input = op.getInput(), weight = op.getWeight();
    if (window.rank() == 1) {
      window = asPlane(window);
      input = withHeight(u, input);
      weight = withHeight(u, weight);
    }
    Value x = padAxis(u, input, 2, window.padBegin[0], window.padEnd[0]);
    x = padAxis(u, x, 3, window.padBegin[1], window.padEnd[1]);
    ArrayRef<int64_t> in = UbeBuilder::typeOf(x).getShape();
    Value batch = u.dimSize(x, 0);
    ImplicitLocOpBuilder &b = u.b;
    if (groups > 1) {
      SmallVector<Value> sizes;
      if (ShapedType::isDynamic(n))
        sizes.push_back(arith::MulIOp::create(b, batch, arith::ConstantIndexOp::create(b, groups)));
      llvm::append_range(sizes, u.sizesFrom(x, in.drop_front(2), {2, 3}));
      x = u.reshape(x, {times(n, groups), in[1] / groups, in[2], in[3]}, sizes);
    }
    int64_t depth = ShapedType::getNumElements(UbeBuilder::typeOf(weight).getShape().drop_front());
    // The output's planes, counted from the padded input's.
    Window slid = window;
    slid.padBegin = slid.padEnd = {0, 0};
    Value rows = slid.outputSize(b, b.getLoc(), 0, u.dimSize(x, 2));
    Value columns = slid.outputSize(b, b.getLoc(), 1, u.dimSize(x, 3));
    Value positions = arith::MulIOp::create(b, rows, columns);
    SmallVector<Value> lead;
    if (ShapedType::isDynamic(n))
      lead.push_back(batch);
    SmallVector<Value> sizes(lead);
    sizes.push_back(positions);
    // A pointwise window's patches are the planes themselves: [N·G, C/G,
    // H·W] is a view, whose rows the matmul kernels pack contiguously.
    Value patches;
    ArrayRef<int64_t> planes = UbeBuilder::typeOf(x).getShape();
    if (slid.kernel == SmallVector<int64_t>{1, 1} && slid.stride == SmallVector<int64_t>{1, 1}) {
      SmallVector<Value> flatSizes;
      if (ShapedType::isDynamic(planes[0]))
        flatSizes.push_back(u.dimSize(x, 0));
      flatSizes.push_back(positions);
      patches = u.reshape(x, {planes[0], planes[1], ShapedType::kDynamic}, flatSizes);
    } else {
      patches = Im2colOp::create(b, x, b.getDenseI64ArrayAttr(window.kernel),
                                 b.getDenseI64ArrayAttr(window.dilation),
                                 b.getDenseI64ArrayAttr(window.stride), IntegerAttr(),
                                 IntegerAttr(), UnitAttr());
    }
    if (groups > 1)
      patches = u.reshape(patches, {n, groups, depth, ShapedType::kDynamic}, sizes);
    Value product = u.matmul(
        u.reshape(weight, groups == 1 ? SmallVector<int64_t>{outChannels, depth}
                                      : SmallVector<int64_t>{groups, outChannels / groups, depth}),
        patches);
    // [N, O, *out] (a 1-D output has only the columns).
    SmallVector<Value> outSizes(lead);
    int64_t r = op.window().rank();
    if (r == 2 && ShapedType::isDynamic(out[2]))
      outSizes.push_back(rows);
    if (ShapedType::isDynamic(out.back()))
      outSizes.push_back(columns);
    Value result = u.reshape(product, out, outSizes);
    if (Value bias = op.getBias()) {
      SmallVector<int64_t> column = {outChannels};
      column.append(r, 1);
      result = u.add(result, u.reshape(bias, column));
    }
    return result;
  }

  /// Symbolic planes: the patches as strided slices of the padded input
  /// (one copy per tap, sized at run time), times the weight. The
  /// positions and the output's planes are counted at run time.
  static Value symbolicPlanesProduct(UbeBuilder &u, ConvOp op, const Window &window) {
    ArrayRef<int64_t> out = op.getType().getShape();
    int64_t groups = op.getGroups(), n = out[0], outChannels = out[1];
    ArrayRef<int64_t> weightShape = op.getWeight().getType().getShape();
    int64_t depth = ShapedType::getNumElements(weightShape.drop_front());
    Value patches = convPatches(u, op.getInput(), window, out.drop_front(2), groups);
    // [N, G, C/G, taps, P] as [N, G, C/G · taps, P]: the batch and the
    // positions from the patches.
    SmallVector<Value> lead = u.sizesFrom(patches, {n});
    SmallVector<Value> sizes(lead);
    sizes.push_back(u.dimSize(patches, 4));
    Value product;
    if (groups == 1) {
      patches = u.reshape(patches, {n, depth, ShapedType::kDynamic}, sizes);
      product = u.matmul(u.reshape(op.getWeight(), {outChannels, depth}), patches);
    } else {
      patches = u.reshape(patches, {n, groups, depth, ShapedType::kDynamic}, sizes);
      product = u.matmul(u.reshape(op.getWeight(), {groups, outChannels / groups, depth}),
                         patches);
    }
    // [N, O, *out].
    SmallVector<Value> outSizes(lead);
    for (int64_t d = 2; d < int64_t(out.size()); ++d)
      if (ShapedType::isDynamic(out[d]))
        outSizes.push_back(
            window.outputSize(u.b, u.b.getLoc(), d - 2, u.dimSize(op.getInput(), d)));
    Value result = u.reshape(product, out, outSizes);
    if (Value bias = op.getBias()) {
      SmallVector<int64_t> column = {outChannels};
      column.append(window.rank(), 1);
      result = u.add(result, u.reshape(bias, column));
    }
    return result;
  }

  /// ube.im2col of the padded input times the weight. Stride 1: over the
  /// padded plane's full width Wp (plus the rows its last taps run into),
  /// [N, O, OH, Wp] cropped to [N, O, OH, OW]. Strided: over the output's
  /// OH · OW positions, which the panels gather. `batch`: N as an index.
  static Value implicitPatchesProduct(UbeBuilder &u, Value input, Value weightIn, Value bias,
                                      int64_t groups, const Window &window,
                                      ArrayRef<int64_t> out, Value batch) {
    ArrayRef<int64_t> in = UbeBuilder::typeOf(input).getShape();
    int64_t n = in[0], channels = in[1], outChannels = out[1];
    bool strided = llvm::any_of(window.stride, [](int64_t s) { return s > 1; });
    int64_t width = in[3] + window.padBegin[1] + window.padEnd[1];
    int64_t height = in[2] + window.padBegin[0] + window.padEnd[0];
    int64_t overrun = strided ? 0 : (window.kernel[1] - 1) * window.dilation[1];
    int64_t extraRows = llvm::divideCeil(overrun, width);
    int64_t fullRows = height - (window.kernel[0] - 1) * window.dilation[0];
    bool batchColumns =
        groups == 1 && shareColumns(n, strided ? out[2] * out[3] : fullRows * width,
                                    out[2] * out[3]);
    if (strided || batchColumns)
      extraRows = 0;
    Value x = padAxis(u, input, 2, window.padBegin[0], window.padEnd[0] + extraRows);
    x = padAxis(u, x, 3, window.padBegin[1], window.padEnd[1]);
    // Gathered (strided, or images side by side): over the output's
    // positions. Contiguous: over the padded plane's whole width.
    bool gathered = strided || batchColumns;
    int64_t rows = gathered ? out[2] : fullRows;
    int64_t columns = gathered ? out[3] : width;
    ImplicitLocOpBuilder &b = u.b;
    if (groups > 1)
      x = reshapeLead(u, x, {times(n, groups), channels / groups, height + extraRows, width},
                      arith::MulIOp::create(b, batch, arith::ConstantIndexOp::create(b, groups)));
    Value patches = Im2colOp::create(
        b, x, b.getDenseI64ArrayAttr(window.kernel), b.getDenseI64ArrayAttr(window.dilation),
        gathered ? b.getDenseI64ArrayAttr(window.stride) : DenseI64ArrayAttr(),
        gathered ? b.getI64IntegerAttr(columns) : IntegerAttr(),
        b.getI64IntegerAttr(rows * columns), batchColumns ? b.getUnitAttr() : UnitAttr());
    int64_t depth = channels / groups * window.kernel[0] * window.kernel[1];
    if (groups > 1)
      patches = reshapeLead(u, patches, {n, groups, depth, rows * columns}, batch);
    Value weight = u.reshape(weightIn,
                             groups == 1 ? SmallVector<int64_t>{outChannels, depth}
                                         : SmallVector<int64_t>{groups, outChannels / groups,
                                                                depth});
    Value product = u.matmul(weight, patches);
    Value result =
        batchColumns
            ? u.transpose(u.reshape(product, {outChannels, n, rows, columns}), {1, 0, 2, 3})
            : reshapeLead(u, product, {n, outChannels, rows, columns}, batch);
    if (!gathered)
      result = u.slice(result, 3, 0, out[3]);
    if (bias)
      result = u.add(result, u.reshape(bias, {outChannels, 1, 1}));
    return result;
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
