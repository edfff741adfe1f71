//===- LowerToLinalg.cpp - ube -> linalg/tensor/arith/math ----------------===//
//
// Primitive ube ops become structured ops on tensors: elementwise ops one
// linalg.generic each (broadcast operands read through affine maps with the
// broadcast dimensions pinned to 0), reductions and matmul linalg.generic with
// reduction iterators, data movement tensor/linalg ops. Composite ops are
// decomposed first by the --ube-decompose patterns.
//
//===----------------------------------------------------------------------===//

#include "passes/Linalg/Passes.h"
#include "passes/Graph/Passes.h"

#include "passes/Linalg/Accumulation.h"
#include "passes/Linalg/ElementwiseBody.h"
#include "passes/Linalg/AxisLowering.h"
#include "passes/Linalg/WindowLowering.h"
#include "passes/Linalg/Philox.h"
#include "dialects/ube/UbeAttention.h"
#include "dialects/ube/UbeOps.h"

#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Utils/ReshapeOpsUtils.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/AffineMap.h"
#include "mlir/Transforms/DialectConversion.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "llvm/ADT/TypeSwitch.h"

#include <cmath>

namespace ube {
#define GEN_PASS_DEF_UBELOWERTOLINALG
#include "passes/Linalg/Passes.h.inc"
} // namespace ube

using namespace mlir;
using namespace ube;

namespace {

RankedTensorType tensorType(Value v) { return cast<RankedTensorType>(v.getType()); }

/// The size of each dimension of `type`, for a dynamic one `sizeOf(d)`.
using SizeOf = function_ref<OpFoldResult(int64_t dim)>;

/// A tensor.empty of `type`; its dynamic sizes come from `sizeOf`.
Value emptyTensor(OpBuilder &b, Location loc, RankedTensorType type, SizeOf sizeOf) {
  SmallVector<OpFoldResult> sizes;
  for (auto [d, size] : llvm::enumerate(type.getShape()))
    sizes.push_back(ShapedType::isDynamic(size) ? sizeOf(d) : b.getIndexAttr(size));
  return tensor::EmptyOp::create(b, loc, sizes, type.getElementType());
}

/// The size of `value`'s dimension `dim`: a constant, or tensor.dim.
OpFoldResult dimOf(OpBuilder &b, Location loc, Value value, int64_t dim) {
  return tensor::getMixedSize(b, loc, value, dim);
}

/// The size of `value`'s dimension `dim` as an index Value.
Value dimValue(OpBuilder &b, Location loc, Value value, int64_t dim) {
  return getValueOrCreateConstantIndexOp(b, loc, dimOf(b, loc, value, dim));
}

/// The source of each dynamic dimension of the broadcast result `type` of
/// `inputs`: the first input whose aligned dimension is dynamic (the graph
/// importer has checked that such dimensions agree). Fails when none is.
FailureOr<SmallVector<OpFoldResult>> broadcastSizes(OpBuilder &b, Location loc,
                                                    RankedTensorType type, ValueRange inputs) {
  SmallVector<OpFoldResult> sizes;
  for (auto [d, size] : llvm::enumerate(type.getShape())) {
    if (!ShapedType::isDynamic(size)) {
      sizes.push_back(b.getIndexAttr(size));
      continue;
    }
    OpFoldResult source;
    for (Value input : inputs) {
      auto inputType = cast<RankedTensorType>(input.getType());
      int64_t i = d - (type.getRank() - inputType.getRank());
      if (i >= 0 && inputType.isDynamicDim(i)) {
        source = dimOf(b, loc, input, i);
        break;
      }
    }
    if (!source)
      return failure();
    sizes.push_back(source);
  }
  return sizes;
}

/// The map reading an operand of `operandShape` inside a loop nest over
/// `resultShape` with numpy broadcasting: trailing dimensions align, and a
/// size-1 dimension broadcast against a larger one reads index 0.
AffineMap broadcastMap(MLIRContext *context, ArrayRef<int64_t> operandShape,
                       ArrayRef<int64_t> resultShape) {
  int64_t offset = resultShape.size() - operandShape.size();
  SmallVector<AffineExpr> exprs;
  for (auto [i, size] : llvm::enumerate(operandShape)) {
    if (size == 1 && resultShape[offset + i] != 1)
      exprs.push_back(getAffineConstantExpr(0, context));
    else
      exprs.push_back(getAffineDimExpr(offset + i, context));
  }
  return AffineMap::get(resultShape.size(), 0, exprs, context);
}

using ScalarBody = function_ref<Value(OpBuilder &, Location, ValueRange)>;

/// One linalg.generic computing `body` elementwise over broadcast `inputs`
/// into a result of `sizes` (the result's, when not given).
Value buildElementwise(OpBuilder &b, Location loc, RankedTensorType resultType,
                       ValueRange inputs, ScalarBody body,
                       std::optional<ArrayRef<OpFoldResult>> sizes = std::nullopt) {
  MLIRContext *context = b.getContext();
  SmallVector<AffineMap> maps;
  for (Value input : inputs)
    maps.push_back(broadcastMap(context, tensorType(input).getShape(), resultType.getShape()));
  maps.push_back(AffineMap::getMultiDimIdentityMap(resultType.getRank(), context));
  SmallVector<utils::IteratorType> iterators(resultType.getRank(),
                                             utils::IteratorType::parallel);
  SmallVector<OpFoldResult> resultSizes;
  if (sizes)
    resultSizes.assign(sizes->begin(), sizes->end());
  else
    resultSizes = *broadcastSizes(b, loc, resultType, inputs);
  Value init = tensor::EmptyOp::create(b, loc, resultSizes, resultType.getElementType());
  auto generic = linalg::GenericOp::create(
      b, loc, resultType, inputs, ValueRange{init}, maps, iterators,
      [&](OpBuilder &nested, Location nestedLoc, ValueRange args) {
        Value result = body(nested, nestedLoc, args.drop_back());
        linalg::YieldOp::create(nested, nestedLoc, result);
      });
  return generic.getResult(0);
}

Value floatConstant(OpBuilder &b, Location loc, Type type, double value) {
  return arith::ConstantOp::create(b, loc, b.getFloatAttr(type, value));
}

struct LowerElementwise : ConversionPattern {
  LowerElementwise(MLIRContext *context)
      : ConversionPattern(MatchAnyOpTypeTag(), /*benefit=*/1, context) {}
  LogicalResult matchAndRewrite(Operation *op, ArrayRef<Value> operands,
                                ConversionPatternRewriter &rewriter) const override {
    if (!isElementwise(op))
      return failure();
    auto resultType = cast<RankedTensorType>(op->getResult(0).getType());
    // A broadcast to symbolic sizes given as operands reads just its input.
    auto broadcast = dyn_cast<BroadcastToOp>(op);
    if (broadcast && !broadcast.getSizes().empty()) {
      SmallVector<OpFoldResult> sizes;
      const Value *given = operands.begin() + 1;
      for (int64_t size : resultType.getShape())
        sizes.push_back(ShapedType::isDynamic(size) ? OpFoldResult(*given++)
                                                    : OpFoldResult(rewriter.getIndexAttr(size)));
      Value result = buildElementwise(
          rewriter, op->getLoc(), resultType, operands.front(),
          [&](OpBuilder &, Location, ValueRange args) { return args[0]; }, sizes);
      rewriter.replaceOp(op, result);
      return success();
    }
    auto sizes = broadcastSizes(rewriter, op->getLoc(), resultType, operands);
    if (failed(sizes))
      return op->emitOpError("has a symbolic result size that no operand gives: ")
             << resultType << " from " << ValueRange(operands).getTypes();
    Value result = buildElementwise(
        rewriter, op->getLoc(), resultType, operands,
        [&](OpBuilder &b, Location loc, ValueRange args) {
          return buildElementwiseBody(op, b, loc, args, resultType.getElementType());
        },
        *sizes);
    rewriter.replaceOp(op, result);
    return success();
  }
};

/// Reduction of `input` over the dimensions flagged in `reduced`, without
/// keepdims, into the type of `identity`. `combine` merges the accumulator
/// (second arg) with an element.
Value buildReduction(OpBuilder &b, Location loc, Value input, ArrayRef<bool> reduced,
                     TypedAttr identity, ScalarBody combine) {
  MLIRContext *context = b.getContext();
  auto type = tensorType(input);
  SmallVector<int64_t> shape;
  SmallVector<AffineExpr> outExprs;
  SmallVector<utils::IteratorType> iterators;
  for (int64_t d = 0; d < type.getRank(); ++d) {
    iterators.push_back(reduced[d] ? utils::IteratorType::reduction
                                   : utils::IteratorType::parallel);
    if (!reduced[d]) {
      shape.push_back(type.getDimSize(d));
      outExprs.push_back(getAffineDimExpr(d, context));
    }
  }
  auto resultType = RankedTensorType::get(shape, identity.getType());
  Value init = arith::ConstantOp::create(b, loc, identity);
  Value empty = emptyTensor(b, loc, resultType, [&](int64_t d) {
    int64_t kept = -1;
    for (int64_t i = 0; i < type.getRank(); ++i)
      if (!reduced[i] && ++kept == d)
        return dimOf(b, loc, input, i);
    llvm_unreachable("result dimension out of range");
  });
  Value filled = linalg::FillOp::create(b, loc, init, empty).getResult(0);
  SmallVector<AffineMap> maps = {AffineMap::getMultiDimIdentityMap(type.getRank(), context),
                                 AffineMap::get(type.getRank(), 0, outExprs, context)};
  auto generic = linalg::GenericOp::create(
      b, loc, resultType, input, filled, maps, iterators,
      [&](OpBuilder &nested, Location nestedLoc, ValueRange args) {
        linalg::YieldOp::create(nested, nestedLoc, combine(nested, nestedLoc, args));
      });
  return generic.getResult(0);
}

template <typename OpTy>
struct LowerReduction : OpConversionPattern<OpTy> {
  using OpConversionPattern<OpTy>::OpConversionPattern;
  LogicalResult matchAndRewrite(OpTy op, typename OpTy::Adaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto type = tensorType(adaptor.getInput());
    int64_t rank = type.getRank();
    SmallVector<bool> reduced(rank, op.getAxes().empty());
    for (int64_t axis : op.getAxes())
      reduced[axis < 0 ? axis + rank : axis] = true;
    Type elementType = type.getElementType();
    bool isFloat = isa<FloatType>(elementType);
    constexpr bool isMax = std::is_same_v<OpTy, ReduceMaxOp>;
    constexpr bool isMin = std::is_same_v<OpTy, ReduceMinOp>;
    TypedAttr identity;
    if constexpr (isMax || isMin) {
      unsigned width = elementType.getIntOrFloatBitWidth();
      identity = isFloat ? TypedAttr(rewriter.getFloatAttr(
                               elementType, APFloat::getInf(cast<FloatType>(elementType)
                                                                .getFloatSemantics(),
                                                            /*Negative=*/isMax)))
                         : TypedAttr(rewriter.getIntegerAttr(
                               elementType, isMax ? APInt::getSignedMinValue(width)
                                                  : APInt::getSignedMaxValue(width)));
    } else {
      identity = isFloat ? TypedAttr(rewriter.getFloatAttr(accumulatorType(elementType), 0.0))
                         : TypedAttr(rewriter.getIntegerAttr(elementType, 0));
    }
    Type accumulator = identity.getType();
    Value result = buildReduction(
        rewriter, loc, adaptor.getInput(), reduced, identity,
        [&](OpBuilder &b, Location l, ValueRange args) -> Value {
          if constexpr (isMax)
            return isFloat ? arith::MaximumFOp::create(b, l, args[0], args[1],
                                                       reductionFlags(b.getContext()))
                                 .getResult()
                           : arith::MaxSIOp::create(b, l, args[0], args[1]).getResult();
          if constexpr (isMin)
            return isFloat ? arith::MinimumFOp::create(b, l, args[0], args[1],
                                                       reductionFlags(b.getContext()))
                                 .getResult()
                           : arith::MinSIOp::create(b, l, args[0], args[1]).getResult();
          return isFloat ? arith::AddFOp::create(b, l, widened(b, l, args[0], accumulator),
                                                 args[1], reductionFlags(b.getContext()))
                               .getResult()
                         : arith::AddIOp::create(b, l, args[0], args[1]).getResult();
        });
    if constexpr (std::is_same_v<OpTy, ReduceMeanOp>) {
      auto reducedType = tensorType(result);
      // 1 / the number of elements reduced, a constant unless some are dynamic.
      int64_t count = 1;
      Value dynamicCount;
      for (int64_t d = 0; d < rank; ++d) {
        if (!reduced[d])
          continue;
        if (!type.isDynamicDim(d)) {
          count *= type.getDimSize(d);
          continue;
        }
        Value size = dimValue(rewriter, loc, adaptor.getInput(), d);
        dynamicCount = dynamicCount ? arith::MulIOp::create(rewriter, loc, dynamicCount, size)
                                    : size;
      }
      Value scale = floatConstant(rewriter, loc, accumulator, 1.0 / double(count));
      if (dynamicCount) {
        Value asFloat = arith::UIToFPOp::create(
            rewriter, loc, accumulator,
            arith::IndexCastUIOp::create(rewriter, loc, rewriter.getI64Type(), dynamicCount));
        scale = arith::DivFOp::create(rewriter, loc, scale, asFloat);
      }
      result = buildElementwise(rewriter, loc, reducedType, result,
                                [&](OpBuilder &b, Location l, ValueRange args) -> Value {
                                  return arith::MulFOp::create(b, l, args[0], scale);
                                });
    }
    auto reducedType = tensorType(result);
    result = rounded(rewriter, loc, result,
                     RankedTensorType::get(reducedType.getShape(), elementType));
    // keepdims: the reduced dimensions come back as size 1. Each kept
    // dimension is grouped with the reduced ones before it; trailing reduced
    // ones join the last group (no groups at all when everything is reduced).
    if (op.getType() != result.getType()) {
      SmallVector<ReassociationIndices> groups;
      ReassociationIndices pending;
      for (int64_t d = 0; d < rank; ++d) {
        pending.push_back(d);
        if (!reduced[d]) {
          groups.push_back(pending);
          pending.clear();
        }
      }
      if (!pending.empty() && !groups.empty())
        llvm::append_range(groups.back(), pending);
      result = tensor::ExpandShapeOp::create(rewriter, loc, op.getType(), result, groups);
    }
    rewriter.replaceOp(op, result);
    return success();
  }
};

struct LowerMatmul : OpConversionPattern<MatmulOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(MatmulOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    auto lhsType = tensorType(adaptor.getLhs()), rhsType = tensorType(adaptor.getRhs());
    if (lhsType.getRank() < 2 || rhsType.getRank() < 2)
      return rewriter.notifyMatchFailure(op, "rank-1 operands are decomposed first");
    MLIRContext *context = rewriter.getContext();
    Location loc = op.getLoc();
    auto resultType = op.getType();
    int64_t rank = resultType.getRank(); // batch dims + m, n
    int64_t batch = rank - 2;
    // Loop order: batch..., m, then n and k with the one that walks the rhs
    // contiguously innermost: k for a transposed rhs ([n, k], dot products),
    // else n ([k, n]: each step updates a contiguous output row).
    bool kInnermost = op.getTransposeRhs();
    int64_t nLoop = kInnermost ? batch + 1 : batch + 2, kLoop = kInnermost ? rank : batch + 1;
    AffineExpr m = getAffineDimExpr(batch, context), n = getAffineDimExpr(nLoop, context),
               k = getAffineDimExpr(kLoop, context);
    auto operandMap = [&](RankedTensorType type, AffineExpr row, AffineExpr column,
                          bool transposed) {
      SmallVector<AffineExpr> exprs;
      int64_t operandBatch = type.getRank() - 2;
      for (int64_t i = 0; i < operandBatch; ++i) {
        int64_t d = batch - operandBatch + i;
        bool broadcast = type.getDimSize(i) == 1 && resultType.getDimSize(d) != 1;
        exprs.push_back(broadcast ? getAffineConstantExpr(0, context)
                                  : getAffineDimExpr(d, context));
      }
      exprs.push_back(transposed ? column : row);
      exprs.push_back(transposed ? row : column);
      return AffineMap::get(rank + 1, 0, exprs, context);
    };
    SmallVector<AffineExpr> outExprs;
    for (int64_t d = 0; d <= batch; ++d)
      outExprs.push_back(getAffineDimExpr(d, context));
    outExprs.push_back(n);
    SmallVector<AffineMap> maps = {operandMap(lhsType, m, k, op.getTransposeLhs()),
                                   operandMap(rhsType, k, n, op.getTransposeRhs()),
                                   AffineMap::get(rank + 1, 0, outExprs, context)};
    SmallVector<utils::IteratorType> iterators(rank + 1, utils::IteratorType::parallel);
    iterators[kLoop] = utils::IteratorType::reduction;
    Type elementType = resultType.getElementType();
    bool isFloat = isa<FloatType>(elementType);
    Type accumulator = accumulatorType(elementType);
    auto accumulatorTensor = RankedTensorType::get(resultType.getShape(), accumulator);
    Value zero = arith::ConstantOp::create(rewriter, loc, rewriter.getZeroAttr(accumulator));
    // Batch dimensions from whichever operand has them, m from lhs, n from rhs.
    Value empty = emptyTensor(rewriter, loc, accumulatorTensor, [&](int64_t d) -> OpFoldResult {
      auto fromOperand = [&](Value operand, int64_t dim) {
        return dimOf(rewriter, loc, operand, dim);
      };
      if (d == batch)
        return fromOperand(adaptor.getLhs(), lhsType.getRank() - (op.getTransposeLhs() ? 1 : 2));
      if (d == batch + 1)
        return fromOperand(adaptor.getRhs(), rhsType.getRank() - (op.getTransposeRhs() ? 2 : 1));
      for (auto [operand, type] :
           {std::pair{adaptor.getLhs(), lhsType}, {adaptor.getRhs(), rhsType}}) {
        int64_t i = d - (batch - (type.getRank() - 2));
        if (i >= 0 && type.isDynamicDim(i))
          return fromOperand(operand, i);
      }
      llvm_unreachable("a dynamic batch dimension comes from a dynamic operand dimension");
    });
    Value init = linalg::FillOp::create(rewriter, loc, zero, empty).getResult(0);
    auto generic = linalg::GenericOp::create(
        rewriter, loc, accumulatorTensor, ValueRange{adaptor.getLhs(), adaptor.getRhs()}, init,
        maps, iterators, [&](OpBuilder &b, Location l, ValueRange args) {
          auto flags = reductionFlags(b.getContext());
          Value product =
              isFloat ? arith::MulFOp::create(b, l, widened(b, l, args[0], accumulator),
                                              widened(b, l, args[1], accumulator), flags)
                            .getResult()
                      : arith::MulIOp::create(b, l, args[0], args[1]).getResult();
          Value sum = isFloat ? arith::AddFOp::create(b, l, args[2], product, flags).getResult()
                              : arith::AddIOp::create(b, l, args[2], product).getResult();
          linalg::YieldOp::create(b, l, sum);
        });
    rewriter.replaceOp(op, rounded(rewriter, loc, generic.getResult(0), resultType));
    return success();
  }
};

struct LowerTranspose : OpConversionPattern<TransposeOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(TransposeOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    Value init = emptyTensor(rewriter, op.getLoc(), op.getType(), [&](int64_t d) {
      return dimOf(rewriter, op.getLoc(), adaptor.getInput(), op.getPerm()[d]);
    });
    auto transpose =
        linalg::TransposeOp::create(rewriter, op.getLoc(), adaptor.getInput(), init, op.getPerm());
    rewriter.replaceOp(op, transpose.getResult());
    return success();
  }
};

struct LowerReshape : OpConversionPattern<ReshapeOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(ReshapeOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value input = adaptor.getInput();
    auto sourceType = tensorType(input);
    auto targetType = op.getType();
    auto allInOneGroup = [](int64_t rank) {
      ReassociationIndices group;
      for (int64_t d = 0; d < rank; ++d)
        group.push_back(d);
      return SmallVector<ReassociationIndices>{group};
    };
    // Symbolic result sizes given: one collapse, or one expansion to them,
    // where the shapes line up group by group ([b, s, 8] to [b, s, 2, 4]);
    // else all of the input in one row, expanded to them ([b·s, 8] to
    // [b, s, 8]: a group of several symbolic sizes, whose memref form
    // --ube-flatten-dynamic-expand-shapes views directly).
    if (!adaptor.getSizes().empty()) {
      SmallVector<OpFoldResult> sizes;
      auto given = adaptor.getSizes().begin();
      for (int64_t size : targetType.getShape())
        sizes.push_back(ShapedType::isDynamic(size) ? OpFoldResult(*given++)
                                                    : OpFoldResult(rewriter.getIndexAttr(size)));
      bool collapse = targetType.getRank() < sourceType.getRank();
      std::optional<SmallVector<ReassociationIndices>> groups =
          collapse ? getReassociationIndicesForReshape(sourceType, targetType)
                   : getReassociationIndicesForReshape(targetType, sourceType);
      if (groups && collapse) {
        rewriter.replaceOpWithNewOp<tensor::CollapseShapeOp>(op, targetType, input, *groups);
        return success();
      }
      if (groups && targetType.getRank() > sourceType.getRank()) {
        rewriter.replaceOpWithNewOp<tensor::ExpandShapeOp>(op, targetType, input, *groups,
                                                           sizes);
        return success();
      }
      Value flat = input;
      if (sourceType.getRank() == 0)
        flat = tensor::ExpandShapeOp::create(
            rewriter, loc, RankedTensorType::get({1}, sourceType.getElementType()), input,
            SmallVector<ReassociationIndices>{});
      else if (sourceType.getRank() > 1)
        flat = tensor::CollapseShapeOp::create(rewriter, loc, input,
                                               allInOneGroup(sourceType.getRank()));
      auto row = RankedTensorType::get({ShapedType::kDynamic}, sourceType.getElementType());
      if (tensorType(flat) != row)
        flat = tensor::CastOp::create(rewriter, loc, row, flat);
      if (targetType.getRank() == 1) {
        rewriter.replaceOpWithNewOp<tensor::CastOp>(op, targetType, flat);
        return success();
      }
      rewriter.replaceOpWithNewOp<tensor::ExpandShapeOp>(
          op, targetType, flat, allInOneGroup(targetType.getRank()), sizes);
      return success();
    }
    // Otherwise symbolic sizes follow from the input's: one collapse or one
    // expansion (its groups then have at most one dynamic size each).
    if (!sourceType.hasStaticShape() || !targetType.hasStaticShape()) {
      bool collapse = targetType.getRank() < sourceType.getRank();
      std::optional<SmallVector<ReassociationIndices>> groups =
          collapse ? getReassociationIndicesForReshape(sourceType, targetType)
                   : getReassociationIndicesForReshape(targetType, sourceType);
      if (!groups)
        return rewriter.notifyMatchFailure(op, "a reshape between symbolic shapes that is "
                                               "not one collapse or one expansion");
      if (collapse)
        rewriter.replaceOpWithNewOp<tensor::CollapseShapeOp>(op, targetType, input, *groups);
      else
        rewriter.replaceOpWithNewOp<tensor::ExpandShapeOp>(op, targetType, input, *groups);
      return success();
    }
    // Through a rank-1 (or, for scalars, rank-0) intermediate.
    if (sourceType.getRank() == 0) {
      rewriter.replaceOpWithNewOp<tensor::ExpandShapeOp>(op, targetType, input,
                                                         SmallVector<ReassociationIndices>{});
      return success();
    }
    if (targetType.getRank() == 0) {
      rewriter.replaceOpWithNewOp<tensor::CollapseShapeOp>(op, targetType, input,
                                                           SmallVector<ReassociationIndices>{});
      return success();
    }
    Value flat = input;
    if (sourceType.getRank() != 1)
      flat = tensor::CollapseShapeOp::create(rewriter, loc, input,
                                             allInOneGroup(sourceType.getRank()));
    Value result = flat;
    if (targetType.getRank() != 1)
      result = tensor::ExpandShapeOp::create(rewriter, loc, targetType, flat,
                                             allInOneGroup(targetType.getRank()));
    rewriter.replaceOp(op, result);
    return success();
  }
};

struct LowerConcat : OpConversionPattern<ConcatOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(ConcatOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto resultType = op.getType();
    int64_t rank = resultType.getRank();
    int64_t axis = op.getAxis() < 0 ? op.getAxis() + rank : op.getAxis();
    ValueRange inputs = adaptor.getInputs();
    // Outside the axis every input has the result's sizes; along it, theirs add up.
    Value result = emptyTensor(rewriter, loc, resultType, [&](int64_t d) -> OpFoldResult {
      if (d != axis)
        return dimOf(rewriter, loc, inputs.front(), d);
      Value total = dimValue(rewriter, loc, inputs.front(), d);
      for (Value input : inputs.drop_front())
        total = arith::AddIOp::create(rewriter, loc, total, dimValue(rewriter, loc, input, d));
      return total;
    });
    OpFoldResult offset = rewriter.getIndexAttr(0);
    for (Value input : inputs) {
      SmallVector<OpFoldResult> offsets(rank, rewriter.getIndexAttr(0)), sizes, strides;
      offsets[axis] = offset;
      for (int64_t d = 0; d < rank; ++d) {
        sizes.push_back(dimOf(rewriter, loc, input, d));
        strides.push_back(rewriter.getIndexAttr(1));
      }
      // A computed input is copied into its slot of the result by a
      // linalg.copy, which the parallelization tiles into tasks (a padded
      // copy of a convolution's input was one serial copy per padded
      // axis). Constants are copied from their globals as they are.
      Value placed = input;
      if (!matchPattern(input, m_Constant())) {
        Value slot =
            tensor::ExtractSliceOp::create(rewriter, loc, result, offsets, sizes, strides);
        placed = linalg::CopyOp::create(rewriter, loc, input, slot).getResult(0);
      }
      result =
          tensor::InsertSliceOp::create(rewriter, loc, placed, result, offsets, sizes, strides);
      std::optional<int64_t> before = getConstantIntValue(offset);
      std::optional<int64_t> size = getConstantIntValue(sizes[axis]);
      if (before && size) {
        offset = rewriter.getIndexAttr(*before + *size);
        continue;
      }
      offset = arith::AddIOp::create(rewriter, loc,
                                     getValueOrCreateConstantIndexOp(rewriter, loc, offset),
                                     getValueOrCreateConstantIndexOp(rewriter, loc, sizes[axis]))
                   .getResult();
    }
    rewriter.replaceOp(op, result);
    return success();
  }
};

/// start + step·i, computed per element from its index.
struct LowerArange : OpConversionPattern<ArangeOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(ArangeOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    RankedTensorType type = op.getType();
    Type element = type.getElementType();
    Value empty = tensor::EmptyOp::create(rewriter, loc, type.getShape(), element,
                                          adaptor.getSizes());
    auto map = rewriter.getMultiDimIdentityMap(1);
    auto generic = linalg::GenericOp::create(
        rewriter, loc, type, ValueRange{}, ValueRange{empty}, ArrayRef<AffineMap>{map},
        ArrayRef<utils::IteratorType>{utils::IteratorType::parallel},
        [&](OpBuilder &b, Location loc, ValueRange) {
          Value i = linalg::IndexOp::create(b, loc, 0);
          double start = op.getStart().convertToDouble(), step = op.getStep().convertToDouble();
          Value value;
          if (auto integer = dyn_cast<IntegerType>(element)) {
            Value wide = arith::IndexCastOp::create(b, loc, b.getI64Type(), i);
            auto constant = [&](double v) {
              return arith::ConstantOp::create(b, loc, b.getI64IntegerAttr(int64_t(v)));
            };
            value = arith::AddIOp::create(
                b, loc, constant(start), arith::MulIOp::create(b, loc, wide, constant(step)));
            if (integer.getWidth() != 64)
              value = arith::TruncIOp::create(b, loc, element, value);
          } else {
            Value wide = arith::UIToFPOp::create(
                b, loc, b.getF64Type(), arith::IndexCastUIOp::create(b, loc, b.getI64Type(), i));
            auto constant = [&](double v) {
              return arith::ConstantOp::create(b, loc, b.getF64FloatAttr(v));
            };
            value = arith::AddFOp::create(
                b, loc, constant(start), arith::MulFOp::create(b, loc, wide, constant(step)));
            value = arith::TruncFOp::create(b, loc, element, value);
          }
          linalg::YieldOp::create(b, loc, value);
        });
    rewriter.replaceOp(op, generic.getResult(0));
    return success();
  }
};

struct LowerSlice : OpConversionPattern<SliceOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(SliceOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    SmallVector<OpFoldResult> offsets, sizes, strides;
    auto runtimeLimit = adaptor.getLimits().begin();
    Location loc = op.getLoc();
    auto inputType = cast<RankedTensorType>(op.getInput().getType());
    for (auto [d, start, size, stride] :
         llvm::enumerate(op.getStart(), op.getType().getShape(), op.getStride())) {
      offsets.push_back(rewriter.getIndexAttr(start));
      strides.push_back(rewriter.getIndexAttr(stride));
      if (!ShapedType::isDynamic(size)) {
        sizes.push_back(rewriter.getIndexAttr(size));
        continue;
      }
      // A runtime limit, clamped to the dimension: ceil((limit - start) / stride).
      auto constant = [&](int64_t v) { return arith::ConstantIndexOp::create(rewriter, loc, v); };
      Value extent = inputType.isDynamicDim(d)
                         ? tensor::DimOp::create(rewriter, loc, adaptor.getInput(), d).getResult()
                         : constant(inputType.getDimSize(d)).getResult();
      Value limit = arith::MinSIOp::create(rewriter, loc, *runtimeLimit++, extent);
      limit = arith::MaxSIOp::create(rewriter, loc, limit, constant(start));
      Value span = arith::SubIOp::create(rewriter, loc, limit, constant(start));
      sizes.push_back(
          arith::CeilDivSIOp::create(rewriter, loc, span, constant(stride)).getResult());
    }
    rewriter.replaceOpWithNewOp<tensor::ExtractSliceOp>(op, op.getType(), adaptor.getInput(),
                                                        offsets, sizes, strides);
    return success();
  }
};

/// The result filled with the pad value, then the kept part of the input
/// copied into place. Per dimension, with amounts `low` and `high`
/// (negative: cropped): the input from max(-low, 0), into the result at
/// max(low, 0), size - max(-low, 0) - max(-high, 0) elements.
struct LowerPad : OpConversionPattern<PadOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(PadOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value input = adaptor.getInput();
    RankedTensorType type = op.getType();
    // Integer arithmetic on sizes, folded where both sides are known.
    auto fold = [&](OpFoldResult a, OpFoldResult b, auto compute, auto create) -> OpFoldResult {
      std::optional<int64_t> x = getConstantIntValue(a), y = getConstantIntValue(b);
      if (x && y)
        return rewriter.getIndexAttr(compute(*x, *y));
      return create(getValueOrCreateConstantIndexOp(rewriter, loc, a),
                    getValueOrCreateConstantIndexOp(rewriter, loc, b));
    };
    auto isZero = [](OpFoldResult a) { return isConstantIntValue(a, 0); };
    auto add = [&](OpFoldResult a, OpFoldResult b) {
      if (isZero(b))
        return a;
      return fold(a, b, std::plus<int64_t>(), [&](Value x, Value y) -> OpFoldResult {
        return arith::AddIOp::create(rewriter, loc, x, y).getResult();
      });
    };
    auto sub = [&](OpFoldResult a, OpFoldResult b) {
      if (isZero(b))
        return a;
      return fold(a, b, std::minus<int64_t>(), [&](Value x, Value y) -> OpFoldResult {
        return arith::SubIOp::create(rewriter, loc, x, y).getResult();
      });
    };
    OpFoldResult zero = rewriter.getIndexAttr(0);
    auto positivePart = [&](OpFoldResult a) {
      return fold(a, zero, [](int64_t x, int64_t y) { return std::max(x, y); },
                  [&](Value x, Value y) -> OpFoldResult {
                    return arith::MaxSIOp::create(rewriter, loc, x, y).getResult();
                  });
    };
    auto amounts = [&](ArrayRef<int64_t> fixed, ValueRange runtime) {
      SmallVector<OpFoldResult> all;
      auto next = runtime.begin();
      for (int64_t amount : fixed)
        all.push_back(ShapedType::isDynamic(amount) ? OpFoldResult(*next++)
                                                    : rewriter.getIndexAttr(amount));
      return all;
    };
    SmallVector<OpFoldResult> low = amounts(op.getLow(), adaptor.getLowAmounts());
    SmallVector<OpFoldResult> high = amounts(op.getHigh(), adaptor.getHighAmounts());
    SmallVector<OpFoldResult> from, into, kept, ones(type.getRank(), rewriter.getIndexAttr(1));
    for (int64_t d = 0; d < type.getRank(); ++d) {
      OpFoldResult size = dimOf(rewriter, loc, input, d);
      OpFoldResult cropLow = positivePart(sub(zero, low[d]));
      OpFoldResult cropHigh = positivePart(sub(zero, high[d]));
      from.push_back(cropLow);
      into.push_back(positivePart(low[d]));
      kept.push_back(positivePart(sub(sub(size, cropLow), cropHigh)));
    }
    Value result = emptyTensor(rewriter, loc, type, [&](int64_t d) {
      return add(add(dimOf(rewriter, loc, input, d), low[d]), high[d]);
    });
    Type element = type.getElementType();
    double value = op.getValue().convertToDouble();
    TypedAttr fill = isa<FloatType>(element)
                         ? TypedAttr(rewriter.getFloatAttr(element, value))
                         : TypedAttr(rewriter.getIntegerAttr(
                               element, element.isInteger(1) ? value != 0 : int64_t(value)));
    result = linalg::FillOp::create(rewriter, loc,
                                    arith::ConstantOp::create(rewriter, loc, fill).getResult(),
                                    result)
                 .getResult(0);
    Value piece = tensor::ExtractSliceOp::create(rewriter, loc, input, from, kept, ones);
    Value slot = tensor::ExtractSliceOp::create(rewriter, loc, result, into, kept, ones);
    piece = linalg::CopyOp::create(rewriter, loc, piece, slot).getResult(0);
    rewriter.replaceOpWithNewOp<tensor::InsertSliceOp>(op, piece, result, into, kept, ones);
    return success();
  }
};

/// An integer id as an index clamped into [0, size): out-of-range ids read
/// (gather) or update (scatter_add) the nearest row instead of out of bounds.
Value clampedIndex(OpBuilder &b, Location loc, Value id, Value size) {
  Value index = arith::IndexCastOp::create(b, loc, b.getIndexType(), id);
  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  Value one = arith::ConstantIndexOp::create(b, loc, 1);
  Value last = arith::SubIOp::create(b, loc, size, one);
  return arith::MinSIOp::create(b, loc, arith::MaxSIOp::create(b, loc, index, zero), last);
}

struct LowerGather : OpConversionPattern<GatherOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(GatherOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto resultType = op.getType();
    auto inputType = tensorType(adaptor.getInput());
    auto indicesType = tensorType(adaptor.getIndices());
    int64_t axis = op.getAxis() < 0 ? op.getAxis() + inputType.getRank() : op.getAxis();
    int64_t indexRank = indicesType.getRank();
    SmallVector<utils::IteratorType> iterators(resultType.getRank(),
                                               utils::IteratorType::parallel);
    // Result: the input's dimensions before the axis, the indices', the input's after.
    Value empty = emptyTensor(rewriter, loc, resultType, [&](int64_t d) {
      if (d < axis)
        return dimOf(rewriter, loc, adaptor.getInput(), d);
      if (d < axis + indexRank)
        return dimOf(rewriter, loc, adaptor.getIndices(), d - axis);
      return dimOf(rewriter, loc, adaptor.getInput(), d - indexRank + 1);
    });
    Value rows = dimValue(rewriter, loc, adaptor.getInput(), axis);
    auto generic = linalg::GenericOp::create(
        rewriter, loc, resultType, ValueRange{}, empty,
        AffineMap::getMultiDimIdentityMap(resultType.getRank(), getContext()), iterators,
        [&](OpBuilder &b, Location l, ValueRange) {
          SmallVector<Value> loop;
          for (int64_t d = 0; d < resultType.getRank(); ++d)
            loop.push_back(linalg::IndexOp::create(b, l, d));
          Value id = tensor::ExtractOp::create(
              b, l, adaptor.getIndices(), ArrayRef(loop).slice(axis, indexRank));
          Value index = clampedIndex(b, l, id, rows);
          SmallVector<Value> at(ArrayRef(loop).take_front(axis));
          at.push_back(index);
          llvm::append_range(at, ArrayRef(loop).drop_front(axis + indexRank));
          Value element = tensor::ExtractOp::create(b, l, adaptor.getInput(), at);
          linalg::YieldOp::create(b, l, element);
        });
    rewriter.replaceOp(op, generic.getResult(0));
    return success();
  }
};

/// Zeros, then one row update per index in order (scf.for over the rows;
/// each update is a row-sized linalg.add, in place after bufferization).
struct LowerScatterAdd : OpConversionPattern<ScatterAddOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(ScatterAddOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto resultType = op.getType();
    auto updatesType = tensorType(adaptor.getUpdates());
    int64_t rank = resultType.getRank();
    Value updates = adaptor.getUpdates();
    Value zero = arith::ConstantOp::create(rewriter, loc,
                                           rewriter.getZeroAttr(resultType.getElementType()));
    // The table's row count: static, or `rows`; the rest is updates' rows'.
    Value empty = emptyTensor(rewriter, loc, resultType, [&](int64_t d) -> OpFoldResult {
      return d == 0 ? OpFoldResult(adaptor.getRows()) : dimOf(rewriter, loc, updates, d);
    });
    Value init = linalg::FillOp::create(rewriter, loc, zero, empty).getResult(0);
    auto index = [&](OpBuilder &b, int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); };
    SmallVector<int64_t> rowShape(updatesType.getShape());
    rowShape[0] = 1;
    auto rowType = RankedTensorType::get(rowShape, resultType.getElementType());
    SmallVector<OpFoldResult> sizes, strides(rank, rewriter.getIndexAttr(1));
    for (int64_t d = 0; d < rank; ++d)
      sizes.push_back(d == 0 ? rewriter.getIndexAttr(1) : dimOf(rewriter, loc, updates, d));
    Value tableRows = resultType.isDynamicDim(0) ? adaptor.getRows()
                                                 : index(rewriter, resultType.getDimSize(0));
    auto loop = scf::ForOp::create(
        rewriter, loc, index(rewriter, 0), dimValue(rewriter, loc, updates, 0),
        index(rewriter, 1), ValueRange{init},
        [&](OpBuilder &b, Location l, Value p, ValueRange acc) {
          Value id = tensor::ExtractOp::create(b, l, adaptor.getIndices(), ValueRange{p});
          Value row = clampedIndex(b, l, id, tableRows);
          auto offsets = [&](Value first) {
            SmallVector<OpFoldResult> o(rank, b.getIndexAttr(0));
            o[0] = first;
            return o;
          };
          Value update = tensor::ExtractSliceOp::create(b, l, rowType, adaptor.getUpdates(),
                                                        offsets(p), sizes, strides);
          Value current = tensor::ExtractSliceOp::create(b, l, rowType, acc[0], offsets(row),
                                                         sizes, strides);
          Value sum = linalg::AddOp::create(b, l, ValueRange{current, update},
                                            ValueRange{current})
                          .getResult(0);
          Value next = tensor::InsertSliceOp::create(b, l, sum, acc[0], offsets(row), sizes,
                                                     strides);
          scf::YieldOp::create(b, l, next);
        });
    rewriter.replaceOp(op, loop.getResult(0));
    return success();
  }
};

struct LowerConstant : OpConversionPattern<ConstantOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(ConstantOp op, OpAdaptor,
                                ConversionPatternRewriter &rewriter) const override {
    rewriter.replaceOpWithNewOp<arith::ConstantOp>(op, op.getType(), op.getValue());
    return success();
  }
};

Value extractScalar(OpBuilder &b, Location loc, Value tensor) {
  return tensor::ExtractOp::create(b, loc, tensor, ValueRange{});
}

struct LowerDropout : OpConversionPattern<DropoutOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(DropoutOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto type = op.getType();
    Type i64 = rewriter.getI64Type();
    Value step = adaptor.getStep()
                     ? extractScalar(rewriter, loc, adaptor.getStep())
                     : arith::ConstantOp::create(rewriter, loc, rewriter.getI64IntegerAttr(0))
                           .getResult();
    Value seed = arith::ConstantOp::create(rewriter, loc,
                                           rewriter.getI64IntegerAttr(op.getSeed()));
    double rate = op.getRate().convertToDouble();
    // The counter space: the input's own shape, or the larger tensor of
    // which it is a block.
    std::optional<ArrayRef<int64_t>> counterShape = op.getCounterShape();
    std::optional<ArrayRef<int64_t>> counterOffset = op.getCounterOffset();
    auto i64Constant = [&](OpBuilder &b, Location l, int64_t v) -> Value {
      return arith::ConstantOp::create(b, l, b.getI64IntegerAttr(v));
    };
    SmallVector<Value> sizes;
    for (int64_t d = 0; d < type.getRank(); ++d)
      sizes.push_back(counterShape && !ShapedType::isDynamic((*counterShape)[d])
                          ? i64Constant(rewriter, loc, (*counterShape)[d])
                                   : arith::IndexCastOp::create(
                                         rewriter, loc, i64,
                                         dimValue(rewriter, loc, adaptor.getInput(), d))
                                         .getResult());
    Value result = buildElementwise(
        rewriter, loc, type, adaptor.getInput(),
        [&](OpBuilder &b, Location l, ValueRange args) -> Value {
          // Row-major linear index of the element.
          Value index = i64Constant(b, l, 0);
          for (int64_t d = 0; d < type.getRank(); ++d) {
            Value at = arith::IndexCastOp::create(b, l, i64, linalg::IndexOp::create(b, l, d));
            if (counterOffset && (*counterOffset)[d] != 0)
              at = arith::AddIOp::create(b, l, at, i64Constant(b, l, (*counterOffset)[d]));
            index = arith::AddIOp::create(b, l, arith::MulIOp::create(b, l, index, sizes[d]), at);
          }
          Value u = buildPhiloxUniform(b, l, index, step, seed);
          Value keep = arith::CmpFOp::create(b, l, arith::CmpFPredicate::OGE, u,
                                             floatConstant(b, l, b.getF32Type(), rate));
          Type elementType = args[0].getType();
          Value scaled = arith::MulFOp::create(b, l, args[0],
                                               floatConstant(b, l, elementType, 1.0 / (1.0 - rate)));
          return arith::SelectOp::create(b, l, keep, scaled, floatConstant(b, l, elementType, 0.0));
        });
    rewriter.replaceOp(op, result);
    return success();
  }
};

struct LowerTransferProbability : OpConversionPattern<TransferProbabilityOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(TransferProbabilityOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Type f64 = rewriter.getF64Type();
    Value step = arith::SIToFPOp::create(rewriter, loc, f64,
                                         extractScalar(rewriter, loc, adaptor.getStep()));
    Value p = arith::AddFOp::create(
        rewriter, loc,
        arith::MulFOp::create(rewriter, loc, step,
                              floatConstant(rewriter, loc, f64, op.getSlope().convertToDouble())),
        floatConstant(rewriter, loc, f64, op.getOffset().convertToDouble()));
    p = arith::MinimumFOp::create(rewriter, loc, p, floatConstant(rewriter, loc, f64, 1.0));
    p = arith::TruncFOp::create(rewriter, loc, rewriter.getF32Type(), p);
    rewriter.replaceOpWithNewOp<tensor::FromElementsOp>(op, op.getType(), p);
    return success();
  }
};

struct LowerBernoulliSelect : OpConversionPattern<BernoulliSelectOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(BernoulliSelectOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value moduleId = arith::ConstantOp::create(
        rewriter, loc, rewriter.getI64IntegerAttr(op.getModuleId()));
    Value seed = arith::ConstantOp::create(rewriter, loc,
                                           rewriter.getI64IntegerAttr(op.getSeed()));
    Value u = buildPhiloxUniform(rewriter, loc, moduleId,
                                 extractScalar(rewriter, loc, adaptor.getStep()), seed);
    Value useStudent = arith::CmpFOp::create(
        rewriter, loc, arith::CmpFPredicate::OLT, u,
        extractScalar(rewriter, loc, adaptor.getProbability()));
    rewriter.replaceOpWithNewOp<arith::SelectOp>(op, useStudent, adaptor.getStudent(),
                                                 adaptor.getTeacher());
    return success();
  }
};

struct UbeLowerToLinalgPass : ube::impl::UbeLowerToLinalgBase<UbeLowerToLinalgPass> {
  void runOnOperation() override {
    MLIRContext *context = &getContext();
    // projected_kd_loss lowers on static shapes only (it is expanded
    // before), attention with grouped heads only on static head counts:
    // refuse the others by name.
    WalkResult unsupported = getOperation()->walk([&](Operation *op) {
      std::optional<AttentionOperands> attention;
      if (auto forward = dyn_cast<ScaledDotProductAttentionOp>(op))
        attention.emplace(forward);
      else if (auto gradient = dyn_cast<ScaledDotProductAttentionGradOp>(op))
        attention.emplace(gradient);
      if (attention) {
        std::string why = AttentionComposition::unsupported(*attention);
        if (why.empty())
          return WalkResult::advance();
        op->emitOpError("on symbolic dimensions: ") << why << " is not supported yet";
        return WalkResult::interrupt();
      }
      if (!isa<ProjectedKdLossOp, ProjectedKdLossGradOp>(op))
        return WalkResult::advance();
      auto symbolic = [](Type t) {
        auto tensor = dyn_cast<RankedTensorType>(t);
        return tensor && !tensor.hasStaticShape();
      };
      if (llvm::none_of(op->getOperandTypes(), symbolic) &&
          llvm::none_of(op->getResultTypes(), symbolic))
        return WalkResult::advance();
      op->emitOpError("on symbolic dimensions is not supported yet");
      return WalkResult::interrupt();
    });
    if (unsupported.wasInterrupted())
      return signalPassFailure();
    {
      RewritePatternSet patterns(context);
      populateDecomposePatterns(patterns);
      if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
        return signalPassFailure();
    }
    ConversionTarget target(*context);
    target.addIllegalDialect<UbeDialect>();
    target.addLegalDialect<linalg::LinalgDialect, tensor::TensorDialect, arith::ArithDialect,
                           math::MathDialect, func::FuncDialect, scf::SCFDialect>();
    RewritePatternSet patterns(context);
    patterns.add<LowerElementwise>(context);
    patterns.add<LowerReduction<ReduceSumOp>, LowerReduction<ReduceMeanOp>,
                 LowerReduction<ReduceMaxOp>, LowerReduction<ReduceMinOp>, LowerMatmul, LowerTranspose, LowerReshape,
                 LowerConcat, LowerArange, LowerSlice, LowerPad, LowerGather, LowerScatterAdd,
                 LowerConstant, LowerDropout,
                 LowerTransferProbability, LowerBernoulliSelect>(context);
    populateWindowLoweringPatterns(patterns);
    populateAxisLoweringPatterns(patterns);
    if (failed(applyPartialConversion(getOperation(), target, std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
