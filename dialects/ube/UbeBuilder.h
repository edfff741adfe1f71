//===- UbeBuilder.h - building ube ops with inferred types ------*- C++ -*-===//
//
// Shorthands for building primitive ube ops at one location, used by the
// decompositions (passes/Decompose.cpp) and the gradient rules (UbeVjp.cpp).
//
//===----------------------------------------------------------------------===//

#ifndef UBE_DIALECTS_UBE_UBEBUILDER_H
#define UBE_DIALECTS_UBE_UBEBUILDER_H

#include "dialects/ube/UbeOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

namespace ube {

using llvm::cast;
using llvm::isa;
using mlir::APFloat;
using mlir::ArrayRef;
using mlir::Attribute;
using mlir::DenseElementsAttr;
using mlir::FloatType;
using mlir::ImplicitLocOpBuilder;
using mlir::Location;
using mlir::OpBuilder;
using mlir::RankedTensorType;
using mlir::SmallVector;
using mlir::StringRef;
using mlir::Type;
using mlir::Value;

/// Builds primitive ube ops at one location; every result type is inferred.
class UbeBuilder {
public:
  UbeBuilder(OpBuilder &builder, Location loc) : b(loc, builder) {}

  static RankedTensorType typeOf(Value v) { return cast<RankedTensorType>(v.getType()); }

  /// A rank-0 constant of `elementType`.
  Value scalar(Type elementType, double value) {
    auto type = RankedTensorType::get({}, elementType);
    Attribute element = isa<FloatType>(elementType)
                            ? Attribute(b.getFloatAttr(elementType, value))
                            : Attribute(b.getIntegerAttr(elementType, static_cast<int64_t>(value)));
    return ConstantOp::create(b, type, DenseElementsAttr::get(type, element));
  }
  /// The most negative finite value of a float type (stands in for -inf in masks).
  Value lowest(Type elementType) {
    auto floatType = cast<FloatType>(elementType);
    auto type = RankedTensorType::get({}, elementType);
    APFloat value = APFloat::getLargest(floatType.getFloatSemantics(), /*Negative=*/true);
    return ConstantOp::create(b, type, DenseElementsAttr::get(type, value));
  }

  Value add(Value x, Value y) { return AddOp::create(b, x, y); }
  Value sub(Value x, Value y) { return SubOp::create(b, x, y); }
  Value mul(Value x, Value y) { return MulOp::create(b, x, y); }
  Value div(Value x, Value y) { return DivOp::create(b, x, y); }
  Value maximum(Value x, Value y) { return MaximumOp::create(b, x, y); }
  Value exp(Value x) { return ExpOp::create(b, x); }
  Value log(Value x) { return LogOp::create(b, x); }
  Value neg(Value x) { return NegOp::create(b, x); }
  Value abs(Value x) { return AbsOp::create(b, x); }
  Value rsqrt(Value x) { return RsqrtOp::create(b, x); }
  Value where(Value c, Value x, Value y) { return WhereOp::create(b, c, x, y); }
  Value compare(StringRef predicate, Value x, Value y) {
    return CompareOp::create(b, x, y, b.getStringAttr(predicate));
  }
  Value castTo(Value x, Type elementType) {
    return CastOp::create(b, RankedTensorType::get(typeOf(x).getShape(), elementType), x);
  }
  Value reshape(Value x, ArrayRef<int64_t> shape) {
    auto type = RankedTensorType::get(shape, typeOf(x).getElementType());
    return type == x.getType() ? x : ReshapeOp::create(b, type, x).getResult();
  }
  Value reduceSum(Value x, ArrayRef<int64_t> axes = {}, bool keepdims = false) {
    return ReduceSumOp::create(b, x, b.getDenseI64ArrayAttr(axes), b.getBoolAttr(keepdims));
  }
  Value reduceMax(Value x, ArrayRef<int64_t> axes, bool keepdims) {
    return ReduceMaxOp::create(b, x, b.getDenseI64ArrayAttr(axes), b.getBoolAttr(keepdims));
  }
  Value reduceMean(Value x, ArrayRef<int64_t> axes = {}, bool keepdims = false) {
    return ReduceMeanOp::create(b, x, b.getDenseI64ArrayAttr(axes), b.getBoolAttr(keepdims));
  }
  Value matmul(Value x, Value y, bool transposeRhs = false, bool transposeLhs = false) {
    return MatmulOp::create(b, x, y, b.getBoolAttr(transposeLhs), b.getBoolAttr(transposeRhs));
  }
  /// -1, 0 or 1 by the sign of each element.
  Value sign(Value x) {
    Type type = elementTypeOf(x);
    Value zero = scalar(type, 0.0);
    return where(compare("gt", x, zero), scalar(type, 1.0),
                 where(compare("lt", x, zero), scalar(type, -1.0), zero));
  }
  Value logSoftmax(Value x, int64_t axis) {
    return LogSoftmaxOp::create(b, x, b.getI64IntegerAttr(axis));
  }
  Value softmax(Value x, int64_t axis) {
    return SoftmaxOp::create(b, x, b.getI64IntegerAttr(axis));
  }
  /// Mean over the rows of `perRow` whose `valid` flag (0/1, same shape) is
  /// set; 0 when no row is.
  Value maskedMean(Value perRow, Value validFloat) {
    Value count = maximum(reduceSum(validFloat), scalar(elementTypeOf(perRow), 1.0));
    return div(reduceSum(mul(perRow, validFloat)), count);
  }
  /// Elements [begin, end) of `x` along `axis` and all of them along the
  /// other dimensions (read at run time where symbolic); a symbolic `end` is
  /// the end of the dimension. `x` itself when that is all of it.
  Value slice(Value x, int64_t axis, int64_t begin, int64_t end) {
    ArrayRef<int64_t> shape = typeOf(x).getShape();
    if (begin == 0 && end == shape[axis])
      return x;
    SmallVector<int64_t> start(shape.size(), 0), limit(shape), stride(shape.size(), 1);
    start[axis] = begin;
    limit[axis] = end;
    return slice(x, start, limit, stride);
  }
  /// The strided slice [start, limit) of `x`; a symbolic limit is
  /// `runtimeLimits[d]` where given (an index), else the end of its
  /// dimension, read at run time.
  Value slice(Value x, ArrayRef<int64_t> start, ArrayRef<int64_t> limit,
              ArrayRef<int64_t> stride, mlir::ValueRange runtimeLimits = {}) {
    SmallVector<int64_t> limitOrRuntime(limit);
    SmallVector<Value> limits;
    for (auto [d, size] : llvm::enumerate(limitOrRuntime))
      if (mlir::ShapedType::isDynamic(size)) {
        size = -1; // SliceOp's runtime limit
        limits.push_back(d < runtimeLimits.size() && runtimeLimits[d]
                             ? runtimeLimits[d]
                             : mlir::tensor::DimOp::create(b, x, d).getResult());
      }
    return SliceOp::create(b, x, start, limitOrRuntime, stride, limits);
  }
  Value concat(mlir::ValueRange xs, int64_t axis) {
    return xs.size() == 1 ? xs.front() : ConcatOp::create(b, xs, axis).getResult();
  }
  Value transpose(Value x, ArrayRef<int64_t> perm) {
    return TransposeOp::create(b, x, b.getDenseI64ArrayAttr(perm));
  }
  Value broadcastTo(Value x, ArrayRef<int64_t> shape) {
    auto type = RankedTensorType::get(shape, typeOf(x).getElementType());
    return type == x.getType() ? x : BroadcastToOp::create(b, type, x).getResult();
  }

  // Shapes that may be symbolic: taken from a tensor `like` of that shape,
  // its symbolic sizes read with tensor.dim.

  /// The sizes of `shape`'s symbolic (`?`) dimensions, in order, each read
  /// from dimension `from[d]` of `x` (dimension d without `from`).
  llvm::SmallVector<Value> sizesFrom(Value x, ArrayRef<int64_t> shape,
                                     ArrayRef<int64_t> from = {}) {
    llvm::SmallVector<Value> sizes;
    for (auto [d, size] : llvm::enumerate(shape))
      if (mlir::ShapedType::isDynamic(size))
        sizes.push_back(mlir::tensor::DimOp::create(b, x, from.empty() ? int64_t(d) : from[d]));
    return sizes;
  }
  /// The sizes of `like`'s symbolic (`?`) dimensions, in order.
  llvm::SmallVector<Value> symbolicSizes(Value like) {
    return sizesFrom(like, typeOf(like).getShape());
  }
  /// The size of dimension `d` of `x` as an index (a constant when static).
  Value dimSize(Value x, int64_t d) {
    if (!typeOf(x).isDynamicDim(d))
      return mlir::arith::ConstantIndexOp::create(b, typeOf(x).getDimSize(d));
    return mlir::tensor::DimOp::create(b, x, d);
  }
  /// `x` reshaped to `shape`, whose symbolic (`?`) sizes are `sizes`, in order.
  Value reshape(Value x, ArrayRef<int64_t> shape, mlir::ValueRange sizes) {
    auto type = RankedTensorType::get(shape, typeOf(x).getElementType());
    return type == x.getType() ? x : ReshapeOp::create(b, type, x, sizes).getResult();
  }
  /// `x` [..., d] as rows [n, d], n the product of its leading sizes.
  Value rows(Value x) {
    auto type = typeOf(x);
    if (type.hasStaticShape())
      return reshape(x, {type.getNumElements() / std::max<int64_t>(type.getShape().back(), 1),
                         type.getShape().back()});
    Value count = dimSize(x, 0);
    for (int64_t d = 1; d + 1 < type.getRank(); ++d)
      count = mlir::arith::MulIOp::create(b, count, dimSize(x, d));
    return reshape(x, {mlir::ShapedType::kDynamic, type.getShape().back()}, count);
  }
  /// The number of elements of `x` along `dims`, as a rank-0 tensor of
  /// `x`'s element type: a constant when those sizes are static, else
  /// counted at run time.
  Value countOf(Value x, ArrayRef<int64_t> dims) {
    auto type = typeOf(x);
    SmallVector<int64_t> shape;
    SmallVector<Value> sizes;
    int64_t count = 1;
    for (int64_t d : dims) {
      shape.push_back(type.getDimSize(d));
      if (type.isDynamicDim(d))
        sizes.push_back(mlir::tensor::DimOp::create(b, x, d));
      else
        count *= type.getDimSize(d);
    }
    if (sizes.empty())
      return scalar(type.getElementType(), double(count));
    auto onesType = RankedTensorType::get(shape, type.getElementType());
    Value ones = BroadcastToOp::create(b, onesType, scalar(type.getElementType(), 1.0), sizes);
    return reduceSum(ones);
  }
  /// `x` reshaped to `like`'s shape (the same sizes where their types agree).
  Value reshapeLike(Value x, Value like) {
    auto type = RankedTensorType::get(typeOf(like).getShape(), typeOf(x).getElementType());
    if (type == x.getType())
      return x;
    return ReshapeOp::create(b, type, x, symbolicSizes(like)).getResult();
  }
  /// `x` broadcast to `like`'s shape.
  Value broadcastLike(Value x, Value like) {
    auto type = RankedTensorType::get(typeOf(like).getShape(), typeOf(x).getElementType());
    if (type == x.getType())
      return x;
    return BroadcastToOp::create(b, type, x, symbolicSizes(like)).getResult();
  }
  /// sumToShape to `like`'s shape.
  Value sumToShapeOf(Value x, Value like) {
    if (typeOf(like).hasStaticShape())
      return sumToShape(x, typeOf(like).getShape());
    return reshapeLike(sumBroadcastAxes(x, typeOf(like).getShape()), like);
  }
  /// `x` summed (keepdims) over the axes along which a value of `shape`
  /// was broadcast to it: its extra leading ones, and 1s it was stretched.
  Value sumBroadcastAxes(Value x, ArrayRef<int64_t> shape) {
    auto xShape = typeOf(x).getShape();
    int64_t lead = int64_t(xShape.size()) - int64_t(shape.size());
    SmallVector<int64_t> axes;
    for (int64_t d = 0; d < int64_t(xShape.size()); ++d)
      if (d < lead || (shape[d - lead] == 1 && xShape[d] != 1))
        axes.push_back(d);
    return axes.empty() ? x : reduceSum(x, axes, /*keepdims=*/true);
  }
  /// The number of elements of `x` along `axes`, in `x`'s element type,
  /// broadcastable against `x`: a scalar when the sizes are static, else
  /// counted at run time into `x`'s rank with the counted axes kept as 1.
  Value countAlong(Value x, ArrayRef<int64_t> axes) {
    auto type = typeOf(x);
    Type element = type.getElementType();
    int64_t count = 1;
    bool symbolic = false;
    for (int64_t d : axes) {
      symbolic |= type.isDynamicDim(d);
      count *= type.isDynamicDim(d) ? 1 : type.getDimSize(d);
    }
    if (!symbolic)
      return scalar(element, double(count));
    return reduceSum(broadcastLike(scalar(element, 1.0), x), axes, /*keepdims=*/true);
  }
  /// Sums `x` (broadcast from a value of shape `shape` with numpy rules)
  /// back to `shape`: the gradient of a broadcast.
  Value sumToShape(Value x, ArrayRef<int64_t> shape) {
    if (typeOf(x).getShape() == shape)
      return x;
    return reshape(sumBroadcastAxes(x, shape), shape);
  }
  /// `labels` [...] one-hot over `classes` ([..., classes], i1), by comparing
  /// each label with 0..classes-1 (a label out of range matches none).
  Value oneHot(Value labels, int64_t classes) {
    auto labelsType = typeOf(labels);
    Type indexType = labelsType.getElementType();
    SmallVector<mlir::APInt> iota;
    for (int64_t c = 0; c < classes; ++c)
      iota.push_back(mlir::APInt(indexType.getIntOrFloatBitWidth(), c, /*isSigned=*/true));
    auto iotaType = RankedTensorType::get({classes}, indexType);
    Value classIds = ConstantOp::create(b, iotaType, DenseElementsAttr::get(iotaType, iota));
    SmallVector<int64_t> column(labelsType.getShape());
    column.push_back(1);
    return compare("eq", reshape(labels, column), classIds);
  }
  static Type elementTypeOf(Value v) { return typeOf(v).getElementType(); }
  /// The dimensions [axis, rank) a normalization over `axis` (possibly
  /// negative) of `x` reduces.
  static SmallVector<int64_t> normalizedAxes(Value x, int64_t axis) {
    int64_t rank = typeOf(x).getRank();
    SmallVector<int64_t> axes;
    for (int64_t d = axis < 0 ? axis + rank : axis; d < rank; ++d)
      axes.push_back(d);
    return axes;
  }

  ImplicitLocOpBuilder b;
};

} // namespace ube

#endif // UBE_DIALECTS_UBE_UBEBUILDER_H
