//===- WindowLowering.cpp - ube.conv and pooling to linalg ----------------===//
//
// Each op is one linalg.generic over the output positions and the window,
// reading the input padded once (tensor.pad) at (position·stride +
// offset·dilation). Groups are views: the input's channels and the weight's
// output channels are split into [groups, per group].
//
//===----------------------------------------------------------------------===//

#include "passes/Linalg/WindowLowering.h"

#include "passes/Linalg/Accumulation.h"
#include "dialects/ube/UbeOps.h"
#include "passes/Utils/KernelBuilding.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/AffineMap.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/Transforms/DialectConversion.h"

#include <limits>

using namespace mlir;

namespace ube {
namespace {

RankedTensorType tensorType(Value v) { return cast<RankedTensorType>(v.getType()); }


/// `x` [N, C, *S] padded by `window` (and its ceil-mode overhang) with `pad`.
Value padded(OpBuilder &b, Location loc, Value x, const Window &window, Value pad) {
  auto type = tensorType(x);
  SmallVector<OpFoldResult> low(2, b.getIndexAttr(0)), high(2, b.getIndexAttr(0));
  SmallVector<int64_t> shape(type.getShape());
  bool any = false;
  for (int64_t d = 0; d < window.rank(); ++d) {
    int64_t size = type.getDimSize(d + 2);
    low.push_back(b.getIndexAttr(window.padBegin[d]));
    if (ShapedType::isDynamic(size)) {
      Value overhang = window.overhang(b, loc, d, tensor::DimOp::create(b, loc, x, d + 2));
      high.push_back(getAsOpFoldResult(arith::AddIOp::create(
          b, loc, overhang, arith::ConstantIndexOp::create(b, loc, window.padEnd[d]))));
      any |= window.padBegin[d] || window.padEnd[d] || window.ceilMode;
      continue;
    }
    int64_t end = window.padEnd[d] + window.overhang(d, size);
    high.push_back(b.getIndexAttr(end));
    shape[d + 2] = size + window.padBegin[d] + end;
    any |= window.padBegin[d] || end;
  }
  if (!any)
    return x;
  return tensor::PadOp::create(b, loc, RankedTensorType::get(shape, type.getElementType()), x,
                               low, high, pad);
}

/// The sizes of the window's output [N, `channels`..., *out] over `x` [N, C,
/// *S]: N read from `x`, the planes computed where symbolic.
SmallVector<OpFoldResult> windowOutputSizes(OpBuilder &b, Location loc, Value x,
                                            ArrayRef<int64_t> channels, const Window &window) {
  SmallVector<OpFoldResult> sizes = {tensor::getMixedSize(b, loc, x, 0)};
  for (int64_t c : channels)
    sizes.push_back(b.getIndexAttr(c));
  for (int64_t d = 0; d < window.rank(); ++d) {
    int64_t size = tensorType(x).getDimSize(d + 2);
    sizes.push_back(ShapedType::isDynamic(size)
                        ? OpFoldResult(window.outputSize(b, loc, d,
                                                         tensor::DimOp::create(b, loc, x, d + 2)))
                        : OpFoldResult(b.getIndexAttr(window.outputSize(d, size))));
  }
  return sizes;
}

/// The map reading the padded input at dims (leading..., position·stride +
/// offset·dilation) of a loop nest whose positions start at `positions` and
/// window offsets at `offsets`.
AffineMap windowReadMap(MLIRContext *context, unsigned loops, ArrayRef<unsigned> leading,
                        unsigned positions, unsigned offsets, const Window &window) {
  SmallVector<AffineExpr> exprs;
  for (unsigned d : leading)
    exprs.push_back(getAffineDimExpr(d, context));
  for (int64_t d = 0; d < window.rank(); ++d)
    exprs.push_back(getAffineDimExpr(positions + d, context) * window.stride[d] +
                    getAffineDimExpr(offsets + d, context) * window.dilation[d]);
  return AffineMap::get(loops, 0, exprs, context);
}

AffineMap dimsMap(MLIRContext *context, unsigned loops, ArrayRef<unsigned> dims) {
  SmallVector<AffineExpr> exprs;
  for (unsigned d : dims)
    exprs.push_back(getAffineDimExpr(d, context));
  return AffineMap::get(loops, 0, exprs, context);
}

SmallVector<unsigned> range(unsigned begin, unsigned count) {
  SmallVector<unsigned> r;
  for (unsigned i = 0; i < count; ++i)
    r.push_back(begin + i);
  return r;
}

struct LowerConv : OpConversionPattern<ConvOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(ConvOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *context = rewriter.getContext();
    Window window = op.window();
    unsigned r = window.rank();
    auto resultType = op.getType();
    Type element = resultType.getElementType(), acc = accumulatorType(element);
    int64_t groups = op.getGroups();
    auto weightType = tensorType(adaptor.getWeight());
    int64_t outChannels = weightType.getDimSize(0), perGroupIn = weightType.getDimSize(1);
    int64_t perGroupOut = outChannels / groups;

    Value zero = arith::ConstantOp::create(rewriter, loc, rewriter.getZeroAttr(element));
    Value x = padded(rewriter, loc, adaptor.getInput(), window, zero);
    // [N, C, *S] -> [N, G, C/G, *S] and [O, C/G, *K] -> [G, O/G, C/G, *K].
    auto xType = tensorType(x);
    SmallVector<int64_t> xShape = {xType.getDimSize(0), groups, perGroupIn};
    llvm::append_range(xShape, xType.getShape().drop_front(2));
    SmallVector<ReassociationIndices> xGroups = {{0}, {1, 2}};
    for (unsigned d = 0; d < r; ++d)
      xGroups.push_back({int64_t(3 + d)});
    x = tensor::ExpandShapeOp::create(rewriter, loc,
                                      RankedTensorType::get(xShape, xType.getElementType()), x,
                                      xGroups);
    SmallVector<int64_t> wShape = {groups, perGroupOut, perGroupIn};
    llvm::append_range(wShape, weightType.getShape().drop_front(2));
    SmallVector<ReassociationIndices> wGroups = {{0, 1}, {2}};
    for (unsigned d = 0; d < r; ++d)
      wGroups.push_back({int64_t(3 + d)});
    Value w = tensor::ExpandShapeOp::create(
        rewriter, loc, RankedTensorType::get(wShape, element), adaptor.getWeight(), wGroups);

    // The result [N, G, O/G, *out] in the accumulator type, starting from
    // the bias (or zero).
    SmallVector<int64_t> outShape = {resultType.getDimSize(0), groups, perGroupOut};
    llvm::append_range(outShape, resultType.getShape().drop_front(2));
    auto accType = RankedTensorType::get(outShape, acc);
    SmallVector<OpFoldResult> outSizes = windowOutputSizes(
        rewriter, loc, adaptor.getInput(), {groups, perGroupOut}, window);
    Value init = tensor::EmptyOp::create(rewriter, loc, outSizes, acc);
    unsigned outRank = outShape.size();
    SmallVector<utils::IteratorType> parallel(outRank, utils::IteratorType::parallel);
    if (Value bias = adaptor.getBias()) {
      bias = tensor::ExpandShapeOp::create(
          rewriter, loc, RankedTensorType::get({groups, perGroupOut}, element), bias,
          SmallVector<ReassociationIndices>{{0, 1}});
      init = linalg::GenericOp::create(
                 rewriter, loc, accType, bias, init,
                 ArrayRef<AffineMap>{dimsMap(context, outRank, {1, 2}),
                                     AffineMap::getMultiDimIdentityMap(outRank, context)},
                 parallel,
                 [&](OpBuilder &b, Location l, ValueRange args) {
                   linalg::YieldOp::create(b, l, widened(b, l, args[0], acc));
                 })
                 .getResult(0);
    } else {
      Value accZero = arith::ConstantOp::create(rewriter, loc, rewriter.getZeroAttr(acc));
      init = linalg::FillOp::create(rewriter, loc, accZero, init).getResult(0);
    }

    // Loops: n, g, o, positions (r), c, offsets (r).
    unsigned loops = 4 + 2 * r, positions = 3, channel = 3 + r, offsets = 4 + r;
    SmallVector<unsigned> wDims = {1, 2, channel};
    llvm::append_range(wDims, range(offsets, r));
    SmallVector<unsigned> outDims = {0, 1, 2};
    llvm::append_range(outDims, range(positions, r));
    SmallVector<AffineMap> maps = {
        windowReadMap(context, loops, {0, 1, channel}, positions, offsets, window),
        dimsMap(context, loops, wDims), dimsMap(context, loops, outDims)};
    SmallVector<utils::IteratorType> iterators(loops, utils::IteratorType::parallel);
    for (unsigned d = channel; d < loops; ++d)
      iterators[d] = utils::IteratorType::reduction;
    auto flags = reductionFlags(context);
    Value sum = linalg::GenericOp::create(
                    rewriter, loc, accType, ValueRange{x, w}, init, maps, iterators,
                    [&](OpBuilder &b, Location l, ValueRange args) {
                      Value product = arith::MulFOp::create(b, l, widened(b, l, args[0], acc),
                                                            widened(b, l, args[1], acc), flags);
                      linalg::YieldOp::create(
                          b, l, arith::AddFOp::create(b, l, args[2], product, flags).getResult());
                    })
                    .getResult(0);
    SmallVector<ReassociationIndices> merge = {{0}, {1, 2}};
    for (unsigned d = 0; d < r; ++d)
      merge.push_back({int64_t(3 + d)});
    Value merged = tensor::CollapseShapeOp::create(rewriter, loc, sum, merge);
    rewriter.replaceOp(op, rounded(rewriter, loc, merged, resultType));
    return success();
  }
};

/// One generic over [N, C, *out] × window, combining into `init`; `window`
/// shapes the offset loops through an unread tensor of the kernel's size.
Value windowReduce(OpBuilder &b, Location loc, Value x, const Window &window, Value init,
                   function_ref<Value(OpBuilder &, Location, Value, Value)> combine) {
  MLIRContext *context = b.getContext();
  unsigned r = window.rank(), loops = 2 + 2 * r, positions = 2, offsets = 2 + r;
  Value kernel = tensor::EmptyOp::create(b, loc, window.kernel, b.getI8Type());
  SmallVector<unsigned> outDims = {0, 1};
  llvm::append_range(outDims, range(positions, r));
  SmallVector<AffineMap> maps = {
      windowReadMap(context, loops, {0, 1}, positions, offsets, window),
      dimsMap(context, loops, range(offsets, r)), dimsMap(context, loops, outDims)};
  SmallVector<utils::IteratorType> iterators(loops, utils::IteratorType::parallel);
  for (unsigned d = offsets; d < loops; ++d)
    iterators[d] = utils::IteratorType::reduction;
  return linalg::GenericOp::create(b, loc, init.getType(), ValueRange{x, kernel}, init, maps,
                                   iterators,
                                   [&](OpBuilder &nb, Location l, ValueRange args) {
                                     linalg::YieldOp::create(nb, l,
                                                             combine(nb, l, args[0], args[2]));
                                   })
      .getResult(0);
}

/// The window's output over `x` filled with `value`, of `type`'s element.
Value filledWindow(OpBuilder &b, Location loc, RankedTensorType type, Value x,
                   const Window &window, Value value) {
  SmallVector<OpFoldResult> sizes =
      windowOutputSizes(b, loc, x, {tensorType(x).getDimSize(1)}, window);
  if (ShapedType::isDynamic(tensorType(x).getDimSize(1)))
    sizes[1] = tensor::getMixedSize(b, loc, x, 1);
  Value empty = tensor::EmptyOp::create(b, loc, sizes, type.getElementType());
  return linalg::FillOp::create(b, loc, value, empty).getResult(0);
}

struct LowerMaxPool : OpConversionPattern<MaxPoolOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(MaxPoolOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Window window = op.window();
    auto type = op.getType();
    auto element = cast<FloatType>(type.getElementType());
    Value lowest = arith::ConstantOp::create(
        rewriter, loc, rewriter.getFloatAttr(element, -std::numeric_limits<double>::infinity()));
    Value x = padded(rewriter, loc, adaptor.getInput(), window, lowest);
    Value init = filledWindow(rewriter, loc, type, adaptor.getInput(), window, lowest);
    rewriter.replaceOp(op, windowReduce(rewriter, loc, x, window, init,
                                        [](OpBuilder &b, Location l, Value v, Value a) -> Value {
                                          return arith::MaximumFOp::create(b, l, a, v);
                                        }));
    return success();
  }
};

struct LowerAvgPool : OpConversionPattern<AvgPoolOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(AvgPoolOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *context = rewriter.getContext();
    Window window = op.window();
    auto type = op.getType();
    Type element = type.getElementType(), acc = accumulatorType(element);
    auto accType = RankedTensorType::get(type.getShape(), acc);
    Value zero = arith::ConstantOp::create(rewriter, loc, rewriter.getZeroAttr(element));
    Value accZero = arith::ConstantOp::create(rewriter, loc, rewriter.getZeroAttr(acc));
    Value x = padded(rewriter, loc, adaptor.getInput(), window, zero);
    Value init = filledWindow(rewriter, loc, accType, adaptor.getInput(), window, accZero);
    auto flags = reductionFlags(context);
    Value sum = windowReduce(rewriter, loc, x, window, init,
                             [&](OpBuilder &b, Location l, Value v, Value a) -> Value {
                               return arith::AddFOp::create(b, l, a, widened(b, l, v, acc),
                                                            flags);
                             });
    int64_t rank = type.getRank();
    auto identity = AffineMap::getMultiDimIdentityMap(rank, context);
    SmallVector<utils::IteratorType> parallel(rank, utils::IteratorType::parallel);
    ArrayRef<int64_t> in = tensorType(adaptor.getInput()).getShape().drop_front(2);
    ArrayRef<int64_t> out = type.getShape().drop_front(2);
    Value mean;
    if (!llvm::any_of(in, ShapedType::isDynamic)) {
      // The divisor of each output position, a constant [*out].
      SmallVector<double> divisors = window.tapCounts(in, op.getCountIncludePad());
      auto divisorType = RankedTensorType::get(out, acc);
      SmallVector<Attribute> values;
      for (double v : divisors)
        values.push_back(rewriter.getFloatAttr(acc, v));
      Value divisor = arith::ConstantOp::create(rewriter, loc,
                                                DenseElementsAttr::get(divisorType, values));
      mean = linalg::GenericOp::create(
                 rewriter, loc, accType, ValueRange{sum, divisor}, init,
                 ArrayRef<AffineMap>{identity, dimsMap(context, rank, range(2, rank - 2)),
                                     identity},
                 parallel,
                 [&](OpBuilder &b, Location l, ValueRange args) {
                   linalg::YieldOp::create(
                       b, l, arith::DivFOp::create(b, l, args[0], args[1]).getResult());
                 })
                 .getResult(0);
    } else {
      // On symbolic planes each position counts its taps as it divides:
      // per dimension, the offsets k < K whose i·stride − padBegin +
      // k·dilation falls in [low, high), the input (or, counting padding,
      // the padded input).
      SmallVector<Value> sizes;
      for (int64_t d = 0; d < window.rank(); ++d)
        sizes.push_back(tensor::DimOp::create(rewriter, loc, adaptor.getInput(), d + 2));
      bool includePad = op.getCountIncludePad();
      mean = linalg::GenericOp::create(
                 rewriter, loc, accType, ValueRange{sum}, init,
                 ArrayRef<AffineMap>{identity, identity}, parallel,
                 [&](OpBuilder &b, Location l, ValueRange args) {
                   auto c = [&](int64_t v) -> Value {
                     return arith::ConstantIndexOp::create(b, l, v);
                   };
                   Value count = c(1);
                   for (int64_t d = 0; d < window.rank(); ++d) {
                     Value start = arith::SubIOp::create(
                         b, l,
                         arith::MulIOp::create(b, l, linalg::IndexOp::create(b, l, 2 + d),
                                               c(window.stride[d])),
                         c(window.padBegin[d]));
                     Value low = c(includePad ? -window.padBegin[d] : 0);
                     Value high = includePad
                                      ? arith::AddIOp::create(b, l, sizes[d], c(window.padEnd[d]))
                                            .getResult()
                                      : sizes[d];
                     Value dilation = c(window.dilation[d]);
                     // First k: ceil((low − start) / dilation), at least 0;
                     // last: floor((high − 1 − start) / dilation), at most K − 1.
                     Value first = arith::MaxSIOp::create(
                         b, l,
                         arith::CeilDivSIOp::create(b, l, arith::SubIOp::create(b, l, low, start),
                                                    dilation),
                         c(0));
                     Value last = arith::MinSIOp::create(
                         b, l,
                         arith::FloorDivSIOp::create(
                             b, l,
                             arith::SubIOp::create(b, l,
                                                   arith::SubIOp::create(b, l, high, c(1)),
                                                   start),
                             dilation),
                         c(window.kernel[d] - 1));
                     Value taps = arith::MaxSIOp::create(
                         b, l,
                         arith::AddIOp::create(b, l, arith::SubIOp::create(b, l, last, first),
                                               c(1)),
                         c(0));
                     count = arith::MulIOp::create(b, l, count, taps);
                   }
                   Value divisor = arith::SIToFPOp::create(
                       b, l, acc, arith::IndexCastOp::create(b, l, b.getI64Type(), count));
                   linalg::YieldOp::create(
                       b, l, arith::DivFOp::create(b, l, args[0], divisor).getResult());
                 })
                 .getResult(0);
    }
    rewriter.replaceOp(op, rounded(rewriter, loc, mean, type));
    return success();
  }
};

/// A copy: result [B, C, KH, KW, length] reads the plane flattened to
/// [B, C, H·W] at sh·W·(j / Q) + sw·(j mod Q) + kh·dh·W + kw·dw (affine;
/// j + kh·dh·W + kw·dw when contiguous), then viewed as [B, C·KH·KW,
/// length] ([1, C, KH, KW, B·length] with batch_columns). Targets without
/// the cpu matmul kernels' implicit packing materialize the patches this way.
struct LowerIm2col : OpConversionPattern<Im2colOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(Im2colOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto inputType = tensorType(adaptor.getInput());
    ArrayRef<int64_t> in = inputType.getShape(), kernel = op.getKernel();
    auto [dh, dw] = op.dilations();
    Type element = inputType.getElementType();
    Value flat = tensor::CollapseShapeOp::create(
        rewriter, loc, adaptor.getInput(), SmallVector<ReassociationIndices>{{0}, {1}, {2, 3}});
    if (ShapedType::isDynamic(op.getType().getDimSize(2))) {
      rewriter.replaceOp(op, gatherPositions(rewriter, op, adaptor.getInput(), flat));
      return success();
    }
    // (A static result with batch_columns has a static batch.)
    int64_t images = op.getBatchColumns() ? in[0] : 1;
    int64_t width = in[3], length = op.getType().getDimSize(2) / images;
    MLIRContext *context = rewriter.getContext();
    auto d = [&](unsigned i) { return getAffineDimExpr(i, context); };
    auto [sh, sw] = op.strides();
    int64_t columns = op.rowLength();
    // With batch_columns, column d4 is image d4 / length's position d4 mod
    // length.
    AffineExpr j = images > 1 ? d(4) % length : d(4);
    AffineExpr image = images > 1 ? d(4).floorDiv(length) : d(0);
    AffineExpr position =
        op.isContiguous() ? j : j.floorDiv(columns) * (sh * width) + (j % columns) * sw;
    AffineMap read = AffineMap::get(
        5, 0, {image, d(1), position + d(2) * (dh * width) + d(3) * dw}, context);
    SmallVector<OpFoldResult> sizes = {
        images > 1 ? rewriter.getIndexAttr(1) : tensor::getMixedSize(rewriter, loc, flat, 0),
        rewriter.getIndexAttr(in[1]), rewriter.getIndexAttr(kernel[0]),
        rewriter.getIndexAttr(kernel[1]), rewriter.getIndexAttr(images * length)};
    Value init = tensor::EmptyOp::create(rewriter, loc, sizes, element);
    Value taps = linalg::GenericOp::create(
                     rewriter, loc, init.getType(), ValueRange{flat}, ValueRange{init},
                     ArrayRef<AffineMap>{read, AffineMap::getMultiDimIdentityMap(5, context)},
                     SmallVector<utils::IteratorType>(5, utils::IteratorType::parallel),
                     [](OpBuilder &b, Location l, ValueRange args) {
                       linalg::YieldOp::create(b, l, args[0]);
                     })
                     .getResult(0);
    rewriter.replaceOpWithNewOp<tensor::CollapseShapeOp>(
        op, op.getType(), taps, SmallVector<ReassociationIndices>{{0}, {1, 2, 3}, {4}});
    return success();
  }

  /// Symbolic planes (or a symbolic batch side by side): the positions'
  /// offsets are products of sizes known at run time, which no indexing map
  /// can hold, so each element is read by index (`flat` is `input` as
  /// [B, C, H·W]).
  static Value gatherPositions(ConversionPatternRewriter &rewriter, Im2colOp op, Value input,
                               Value flat) {
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    IndexMath x(b);
    ArrayRef<int64_t> kernel = op.getKernel();
    int64_t sh = op.strides()[0], sw = op.strides()[1];
    int64_t dh = op.dilations()[0], dw = op.dilations()[1];
    int64_t channels = op.getInput().getType().getDimSize(1);
    Value width = x.dim(input, 3);
    Value columns = op.rowLength(b, b.getLoc()), length = op.positions(b, b.getLoc());
    Value rowStride = x.mul(width, x.c(sh));
    bool batched = op.getBatchColumns();
    SmallVector<OpFoldResult> sizes = {
        batched ? OpFoldResult(b.getIndexAttr(1)) : tensor::getMixedSize(b, b.getLoc(), flat, 0),
        b.getIndexAttr(channels), b.getIndexAttr(kernel[0]), b.getIndexAttr(kernel[1]),
        batched ? x.mul(x.dim(input, 0), length) : length};
    Value init = tensor::EmptyOp::create(b, sizes, op.getType().getElementType());
    MLIRContext *context = b.getContext();
    Value taps =
        linalg::GenericOp::create(
            b, init.getType(), ValueRange{}, ValueRange{init},
            ArrayRef<AffineMap>{AffineMap::getMultiDimIdentityMap(5, context)},
            SmallVector<utils::IteratorType>(5, utils::IteratorType::parallel),
            [&](OpBuilder &nested, Location loc, ValueRange) {
              ImplicitLocOpBuilder ib(loc, nested);
              IndexMath y(ib);
              auto index = [&](int64_t d) { return linalg::IndexOp::create(ib, d); };
              // Position j's start, plus tap (kh, kw)'s offset; with
              // batch_columns, column d4 is image d4 / length's position
              // d4 mod length.
              Value j = index(4), image = index(0);
              if (batched) {
                image = y.div(j, length);
                j = y.rem(j, length);
              }
              Value start =
                  y.add(y.mul(y.div(j, columns), rowStride), y.mul(y.rem(j, columns), y.c(sw)));
              Value tap = y.add(y.mul(index(2), y.mul(width, y.c(dh))), y.mul(index(3), y.c(dw)));
              Value position = y.add(start, tap);
              Value value =
                  tensor::ExtractOp::create(ib, flat, ValueRange{image, index(1), position});
              linalg::YieldOp::create(ib, value);
            })
            .getResult(0);
    return tensor::CollapseShapeOp::create(b, op.getType(), taps,
                                           SmallVector<ReassociationIndices>{{0}, {1, 2, 3}, {4}});
  }
};

} // namespace

void populateWindowLoweringPatterns(RewritePatternSet &patterns) {
  patterns.add<LowerConv, LowerMaxPool, LowerAvgPool, LowerIm2col>(patterns.getContext());
}

} // namespace ube
