//===- AxisLowering.cpp - argmax/argmin, cumsum and topk to linalg --------===//
//
// Ops that read positions along one axis. argmax/argmin are one
// linalg.generic reducing over the axis into two results, the extreme value
// and its position (linalg.index). cumsum is a reduction over a second loop
// on the axis that adds the elements on the chosen side of each position:
// n² additions for an axis of n, no buffer beyond the result, and the same
// code on every target. topk is two such reductions: each element's rank
// in the order (how many elements come before it), then for each of the k
// output positions the position of the element of that rank.
//
//===----------------------------------------------------------------------===//

#include "passes/Linalg/AxisLowering.h"

#include "dialects/ube/UbeOps.h"
#include "passes/Linalg/Accumulation.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/AffineMap.h"
#include "mlir/Transforms/DialectConversion.h"

using namespace mlir;

namespace ube {
namespace {

RankedTensorType tensorType(Value v) { return cast<RankedTensorType>(v.getType()); }

/// An empty tensor of `shape` (dynamic sizes read from `source`'s dims at
/// `sourceDims`, one per result dim).
Value emptyLike(OpBuilder &b, Location loc, Value source, ArrayRef<int64_t> sourceDims,
                Type elementType) {
  auto type = tensorType(source);
  SmallVector<int64_t> shape;
  SmallVector<Value> dynamic;
  for (int64_t d : sourceDims) {
    shape.push_back(type.getDimSize(d));
    if (type.isDynamicDim(d))
      dynamic.push_back(tensor::DimOp::create(b, loc, source, d));
  }
  return tensor::EmptyOp::create(b, loc, shape, elementType, dynamic);
}

Value filled(OpBuilder &b, Location loc, Value empty, TypedAttr value) {
  Value init = arith::ConstantOp::create(b, loc, value);
  return linalg::FillOp::create(b, loc, init, empty).getResult(0);
}

/// `reduced` (the input's dims without `axis`) with a unit `axis` again,
/// which joins the dimension after it (before it when it is last).
Value keepAxis(OpBuilder &b, Location loc, Value reduced, RankedTensorType resultType,
               int64_t axis) {
  int64_t rank = resultType.getRank();
  SmallVector<ReassociationIndices> groups;
  for (int64_t d = 0; d < rank; ++d)
    if (d != axis)
      groups.push_back({d});
  if (axis < rank - 1)
    groups[axis].insert(groups[axis].begin(), axis);
  else if (!groups.empty())
    groups.back().push_back(axis);
  return tensor::ExpandShapeOp::create(b, loc, resultType, reduced, groups);
}

template <typename OpTy>
struct LowerArgReduction : OpConversionPattern<OpTy> {
  using OpConversionPattern<OpTy>::OpConversionPattern;
  LogicalResult matchAndRewrite(OpTy op, typename OpTy::Adaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    constexpr bool isMax = std::is_same_v<OpTy, ArgmaxOp>;
    Location loc = op.getLoc();
    Value input = adaptor.getInput();
    auto type = tensorType(input);
    int64_t rank = type.getRank();
    int64_t axis = op.getAxis() < 0 ? op.getAxis() + rank : op.getAxis();
    Type element = type.getElementType();
    bool isFloat = isa<FloatType>(element);
    bool last = op.getSelectLastIndex();
    MLIRContext *context = rewriter.getContext();

    SmallVector<int64_t> kept;
    SmallVector<AffineExpr> outExprs;
    SmallVector<utils::IteratorType> iterators;
    for (int64_t d = 0; d < rank; ++d) {
      iterators.push_back(d == axis ? utils::IteratorType::reduction
                                    : utils::IteratorType::parallel);
      if (d != axis) {
        kept.push_back(d);
        outExprs.push_back(getAffineDimExpr(d, context));
      }
    }
    // The starting value loses to every element (ties go to the first
    // position, or with `last` every element replaces it).
    TypedAttr start;
    if (auto floatType = dyn_cast<FloatType>(element))
      start = rewriter.getFloatAttr(
          element, APFloat::getInf(floatType.getFloatSemantics(), /*Negative=*/isMax));
    else
      start = rewriter.getIntegerAttr(
          element, isMax ? APInt::getSignedMinValue(element.getIntOrFloatBitWidth())
                         : APInt::getSignedMaxValue(element.getIntOrFloatBitWidth()));
    Type i64 = rewriter.getI64Type();
    Value values = filled(rewriter, loc, emptyLike(rewriter, loc, input, kept, element), start);
    Value positions = filled(rewriter, loc, emptyLike(rewriter, loc, input, kept, i64),
                             rewriter.getI64IntegerAttr(0));
    AffineMap outMap = AffineMap::get(rank, 0, outExprs, context);
    SmallVector<AffineMap> maps = {AffineMap::getMultiDimIdentityMap(rank, context), outMap,
                                   outMap};
    auto generic = linalg::GenericOp::create(
        rewriter, loc, TypeRange{values.getType(), positions.getType()}, input,
        ValueRange{values, positions}, maps, iterators,
        [&](OpBuilder &b, Location l, ValueRange args) {
          Value x = args[0], best = args[1];
          Value better;
          if (isFloat) {
            using P = arith::CmpFPredicate;
            P beats = isMax ? (last ? P::OGE : P::OGT) : (last ? P::OLE : P::OLT);
            better = arith::CmpFOp::create(b, l, beats, x, best);
            // NaN is the extreme: the first NaN wins, or the last with `last`.
            Value nan = arith::CmpFOp::create(b, l, P::UNO, x, x);
            if (!last)
              nan = arith::AndIOp::create(
                  b, l, nan, arith::CmpFOp::create(b, l, P::ORD, best, best));
            better = arith::OrIOp::create(b, l, better, nan);
          } else {
            using P = arith::CmpIPredicate;
            P beats = isMax ? (last ? P::sge : P::sgt) : (last ? P::sle : P::slt);
            better = arith::CmpIOp::create(b, l, beats, x, best);
          }
          Value position =
              arith::IndexCastOp::create(b, l, b.getI64Type(), linalg::IndexOp::create(b, l, axis));
          linalg::YieldOp::create(b, l,
                                  ValueRange{arith::SelectOp::create(b, l, better, x, best),
                                             arith::SelectOp::create(b, l, better, position,
                                                                     args[2])});
        });
    Value result = generic.getResult(1);
    auto resultType = cast<RankedTensorType>(op.getType());
    if (op.getKeepdims())
      result = keepAxis(rewriter, loc, result, resultType, axis);
    rewriter.replaceOp(op, result);
    return success();
  }
};

/// result[..., i, ...] = Σ_j input[..., j, ...] over the j on i's side:
/// loops (the result's dims, j), j a reduction.
struct LowerCumsum : OpConversionPattern<CumsumOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(CumsumOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value input = adaptor.getInput();
    auto type = tensorType(input);
    int64_t rank = type.getRank();
    int64_t axis = op.getAxis() < 0 ? op.getAxis() + rank : op.getAxis();
    Type element = type.getElementType();
    bool isFloat = isa<FloatType>(element);
    Type accumulator = accumulatorType(element);
    MLIRContext *context = rewriter.getContext();

    SmallVector<int64_t> dims;
    SmallVector<AffineExpr> readExprs;
    for (int64_t d = 0; d < rank; ++d) {
      dims.push_back(d);
      readExprs.push_back(getAffineDimExpr(d == axis ? rank : d, context));
    }
    SmallVector<utils::IteratorType> iterators(rank, utils::IteratorType::parallel);
    iterators.push_back(utils::IteratorType::reduction);
    TypedAttr zero = isFloat ? TypedAttr(rewriter.getFloatAttr(accumulator, 0.0))
                             : TypedAttr(rewriter.getIntegerAttr(accumulator, 0));
    Value init = filled(rewriter, loc, emptyLike(rewriter, loc, input, dims, accumulator), zero);
    SmallVector<AffineMap> maps = {AffineMap::get(rank + 1, 0, readExprs, context),
                                   AffineMap::getMultiDimIdentityMap(rank + 1, context)
                                       .getMajorSubMap(rank)};
    using P = arith::CmpIPredicate;
    P side = op.getReverse() ? (op.getExclusive() ? P::ugt : P::uge)
                             : (op.getExclusive() ? P::ult : P::ule);
    auto generic = linalg::GenericOp::create(
        rewriter, loc, init.getType(), input, init, maps, iterators,
        [&](OpBuilder &b, Location l, ValueRange args) {
          Value j = linalg::IndexOp::create(b, l, rank);
          Value i = linalg::IndexOp::create(b, l, axis);
          Value counted = arith::CmpIOp::create(b, l, side, j, i);
          Value x = widened(b, l, args[0], accumulator);
          Value sum = isFloat ? arith::AddFOp::create(b, l, args[1], x).getResult()
                              : arith::AddIOp::create(b, l, args[1], x).getResult();
          linalg::YieldOp::create(b, l, ValueRange{arith::SelectOp::create(b, l, counted, sum,
                                                                           args[1])});
        });
    rewriter.replaceOp(op, rounded(rewriter, loc, generic.getResult(0), type));
    return success();
  }
};

/// An empty tensor shaped like `source` but `size` along `axis`.
Value emptyAlong(OpBuilder &b, Location loc, Value source, int64_t axis, int64_t size,
                 Type elementType) {
  auto type = tensorType(source);
  SmallVector<int64_t> shape(type.getShape());
  shape[axis] = size;
  SmallVector<Value> dynamic;
  for (int64_t d = 0; d < type.getRank(); ++d)
    if (d != axis && type.isDynamicDim(d))
      dynamic.push_back(tensor::DimOp::create(b, loc, source, d));
  return tensor::EmptyOp::create(b, loc, shape, elementType, dynamic);
}

struct LowerTopk : OpConversionPattern<TopkOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(TopkOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *context = rewriter.getContext();
    Value input = adaptor.getInput();
    auto type = tensorType(input);
    int64_t rank = type.getRank();
    int64_t axis = op.getAxis() < 0 ? op.getAxis() + rank : op.getAxis();
    bool isFloat = isa<FloatType>(type.getElementType()), largest = op.getLargest();
    Type i64 = rewriter.getI64Type();

    // Loops (the lane's dims, j), j a reduction: x_i at the identity, x_j
    // with the axis read at j.
    SmallVector<AffineExpr> at, atJ;
    for (int64_t d = 0; d < rank; ++d) {
      at.push_back(getAffineDimExpr(d, context));
      atJ.push_back(getAffineDimExpr(d == axis ? rank : d, context));
    }
    AffineMap identity = AffineMap::get(rank + 1, 0, at, context);
    AffineMap alongJ = AffineMap::get(rank + 1, 0, atJ, context);
    SmallVector<utils::IteratorType> iterators(rank, utils::IteratorType::parallel);
    iterators.push_back(utils::IteratorType::reduction);

    // rank[i] = #{j : x_j before x_i}: more extreme, or equal at a lower
    // position (NaN the largest; NaNs equal to each other).
    Value zero = filled(rewriter, loc, emptyAlong(rewriter, loc, input, axis,
                                                  type.getDimSize(axis), i64),
                        rewriter.getI64IntegerAttr(0));
    auto ranks = linalg::GenericOp::create(
        rewriter, loc, zero.getType(), ValueRange{input, input}, zero,
        ArrayRef<AffineMap>{identity, alongJ, identity}, iterators,
        [&](OpBuilder &b, Location l, ValueRange args) {
          Value xi = args[0], xj = args[1];
          Value beats, ties;
          if (isFloat) {
            using P = arith::CmpFPredicate;
            Value nanI = arith::CmpFOp::create(b, l, P::UNO, xi, xi);
            Value nanJ = arith::CmpFOp::create(b, l, P::UNO, xj, xj);
            beats = arith::CmpFOp::create(b, l, largest ? P::OGT : P::OLT, xj, xi);
            Value nanBeats = largest
                                 ? arith::AndIOp::create(b, l, nanJ,
                                                         arith::CmpFOp::create(b, l, P::ORD, xi,
                                                                               xi))
                                 : arith::AndIOp::create(b, l, nanI,
                                                         arith::CmpFOp::create(b, l, P::ORD, xj,
                                                                               xj));
            beats = arith::OrIOp::create(b, l, beats, nanBeats);
            ties = arith::OrIOp::create(b, l, arith::CmpFOp::create(b, l, P::OEQ, xj, xi),
                                        arith::AndIOp::create(b, l, nanI, nanJ));
          } else {
            using P = arith::CmpIPredicate;
            beats = arith::CmpIOp::create(b, l, largest ? P::sgt : P::slt, xj, xi);
            ties = arith::CmpIOp::create(b, l, P::eq, xj, xi);
          }
          Value earlier = arith::CmpIOp::create(b, l, arith::CmpIPredicate::ult,
                                                linalg::IndexOp::create(b, l, rank),
                                                linalg::IndexOp::create(b, l, axis));
          Value before =
              arith::OrIOp::create(b, l, beats, arith::AndIOp::create(b, l, ties, earlier));
          linalg::YieldOp::create(
              b, l, ValueRange{arith::AddIOp::create(
                        b, l, args[2], arith::ExtUIOp::create(b, l, b.getI64Type(), before))});
        });

    // result[r] = the i whose rank is r: loops (the output's dims, i), i a
    // reduction.
    Value indices = filled(rewriter, loc, emptyAlong(rewriter, loc, input, axis, op.getK(), i64),
                           rewriter.getI64IntegerAttr(0));
    auto picked = linalg::GenericOp::create(
        rewriter, loc, indices.getType(), ranks.getResult(0), indices,
        ArrayRef<AffineMap>{alongJ, identity}, iterators,
        [&](OpBuilder &b, Location l, ValueRange args) {
          Value r = arith::IndexCastOp::create(b, l, b.getI64Type(),
                                               linalg::IndexOp::create(b, l, axis));
          Value i = arith::IndexCastOp::create(b, l, b.getI64Type(),
                                               linalg::IndexOp::create(b, l, rank));
          Value hit = arith::CmpIOp::create(b, l, arith::CmpIPredicate::eq, args[0], r);
          linalg::YieldOp::create(b, l, ValueRange{arith::SelectOp::create(b, l, hit, i,
                                                                           args[1])});
        });
    rewriter.replaceOp(op, picked.getResults());
    return success();
  }
};

} // namespace

void populateAxisLoweringPatterns(RewritePatternSet &patterns) {
  patterns.add<LowerArgReduction<ArgmaxOp>, LowerArgReduction<ArgminOp>, LowerCumsum,
               LowerTopk>(patterns.getContext());
}

} // namespace ube
