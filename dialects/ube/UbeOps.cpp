//===- UbeOps.cpp - ube dialect operations -------------------------------===//
//
// Shape and dtype inference doubles as verification: each op's
// `inferReturnTypes` checks its operands and attributes and reports the first
// problem at the op's location, so the importer, the parser and the verifier
// all give the same message.
//
//===----------------------------------------------------------------------===//

#include "dialects/ube/UbeOps.h"

#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Traits.h"
#include "mlir/Interfaces/ViewLikeInterface.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/PatternMatch.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallSet.h"

#include <cmath>
#include <cstdio>

using namespace mlir;
using namespace ube;

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

namespace {
using Loc = std::optional<Location>;

std::string shapeString(ArrayRef<int64_t> shape) {
  std::string s = "[";
  llvm::interleave(
      shape, [&](int64_t d) { s += ShapedType::isDynamic(d) ? "?" : std::to_string(d); },
      [&] { s += ", "; });
  return s + "]";
}

/// Sizes that may agree: equal, or one of them dynamic. A dynamic size is
/// not known here; the graph importer checks the symbols behind them by
/// building the graph again with sizes for the symbols.
bool sameSize(int64_t a, int64_t b) {
  return a == b || ShapedType::isDynamic(a) || ShapedType::isDynamic(b);
}
bool sameSizes(ArrayRef<int64_t> a, ArrayRef<int64_t> b) {
  return a.size() == b.size() &&
         llvm::all_of(llvm::zip(a, b),
                      [](auto p) { return sameSize(std::get<0>(p), std::get<1>(p)); });
}

/// A double as a person writes it: 0.5, 1e-05, -1.
std::string number(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%g", value);
  return buffer;
}

/// Returns the ranked tensor type of `value`, or reports that `what` must be
/// one. Inference can run before ODS type constraints are checked (the parser
/// infers while parsing), so it never assumes the operand types.
FailureOr<RankedTensorType> rankedType(Loc loc, Value value, StringRef what) {
  if (!value)
    return emitOptionalError(loc, what, " is missing");
  if (auto type = dyn_cast<RankedTensorType>(value.getType()))
    return type;
  return emitOptionalError(loc, what, " must be a ranked tensor, got ",
                           value.getType());
}

/// Normalizes a possibly negative axis into [0, rank).
FailureOr<int64_t> normalizeAxis(Loc loc, int64_t axis, int64_t rank,
                                 StringRef what = "axis") {
  if (axis < -rank || axis >= rank || rank == 0)
    return emitOptionalError(loc, what, " ", axis,
                             " is out of range for a tensor of rank ", rank);
  return axis < 0 ? axis + rank : axis;
}

LogicalResult checkSameElementType(Loc loc, RankedTensorType a,
                                   RankedTensorType b, StringRef aName,
                                   StringRef bName) {
  if (a.getElementType() == b.getElementType())
    return success();
  return emitOptionalError(loc, aName, " and ", bName,
                           " must have the same element type, got ",
                           a.getElementType(), " and ", b.getElementType());
}

LogicalResult checkSameShape(Loc loc, RankedTensorType a, RankedTensorType b,
                             StringRef aName, StringRef bName) {
  if (sameSizes(a.getShape(), b.getShape()))
    return success();
  return emitOptionalError(loc, aName, " and ", bName,
                           " must have the same shape, got ",
                           shapeString(a.getShape()), " and ",
                           shapeString(b.getShape()));
}

bool isFloatTensor(RankedTensorType type) {
  return isa<FloatType>(type.getElementType());
}

/// The element type of a scalar loss result: that of its inputs.
void pushScalar(RankedTensorType like, SmallVectorImpl<Type> &types) {
  types.push_back(RankedTensorType::get({}, like.getElementType()));
}

/// numpy broadcasting of all `operands`; the result element type is
/// `elementType` when given, else the common element type of the operands.
LogicalResult inferBroadcastResult(Loc loc, ArrayRef<Value> operands,
                                   Type elementType,
                                   SmallVectorImpl<Type> &types) {
  SmallVector<int64_t> shape;
  Type common;
  for (auto [i, operand] : llvm::enumerate(operands)) {
    auto type = rankedType(loc, operand, "operand #" + std::to_string(i));
    if (failed(type))
      return failure();
    if (common && type->getElementType() != common)
      return emitOptionalError(loc, "operands must have the same element type, got ",
                               common, " and ", type->getElementType());
    common = type->getElementType();
    SmallVector<int64_t> next;
    if (!OpTrait::util::getBroadcastedShape(shape, type->getShape(), next))
      return emitOptionalError(loc, "shapes ", shapeString(shape), " and ",
                               shapeString(type->getShape()),
                               " are not broadcast-compatible");
    shape = std::move(next);
  }
  types.push_back(RankedTensorType::get(shape, elementType ? elementType : common));
  return success();
}

LogicalResult inferReductionResult(Loc loc, Value input, ArrayRef<int64_t> axes,
                                   bool keepdims, SmallVectorImpl<Type> &types) {
  auto type = rankedType(loc, input, "input");
  if (failed(type))
    return failure();
  int64_t rank = type->getRank();
  llvm::SmallVector<bool> reduced(rank, axes.empty());
  for (int64_t axis : axes) {
    auto normalized = normalizeAxis(loc, axis, rank);
    if (failed(normalized))
      return failure();
    if (reduced[*normalized])
      return emitOptionalError(loc, "axis ", axis, " is listed twice");
    reduced[*normalized] = true;
  }
  SmallVector<int64_t> shape;
  for (int64_t d = 0; d < rank; ++d) {
    if (!reduced[d])
      shape.push_back(type->getDimSize(d));
    else if (keepdims)
      shape.push_back(1);
  }
  types.push_back(RankedTensorType::get(shape, type->getElementType()));
  return success();
}

/// argmax/argmin: the input's shape without `axis` (size 1 with
/// `keepdims`), of i64 positions.
LogicalResult inferArgReductionResult(Loc loc, Value input, int64_t axis, bool keepdims,
                                      SmallVectorImpl<Type> &types) {
  auto type = rankedType(loc, input, "input");
  if (failed(type))
    return failure();
  auto normalized = normalizeAxis(loc, axis, type->getRank());
  if (failed(normalized))
    return failure();
  SmallVector<int64_t> shape(type->getShape());
  if (keepdims)
    shape[*normalized] = 1;
  else
    shape.erase(shape.begin() + *normalized);
  types.push_back(RankedTensorType::get(shape, IntegerType::get(type->getContext(), 64)));
  return success();
}

/// topk: i64 positions, the input's shape with `k` along `axis` (0 < k <=
/// its size).
LogicalResult inferTopkResult(Loc loc, Value input, int64_t k, int64_t axis,
                               SmallVectorImpl<Type> &types) {
  auto type = rankedType(loc, input, "input");
  if (failed(type))
    return failure();
  auto normalized = normalizeAxis(loc, axis, type->getRank());
  if (failed(normalized))
    return failure();
  int64_t size = type->getDimSize(*normalized);
  if (k < 1 || (!ShapedType::isDynamic(size) && k > size))
    return emitOptionalError(loc, "k = ", k, " must be in [1, ", size, "], the size of axis ",
                             axis);
  SmallVector<int64_t> shape(type->getShape());
  shape[*normalized] = k;
  types.push_back(RankedTensorType::get(shape, IntegerType::get(type->getContext(), 64)));
  return success();
}

/// The reduced result of a loss with `reduction` over per-element values
/// shaped `shape`.
void pushReduced(StringRef reduction, ArrayRef<int64_t> shape, Type elementType,
                 SmallVectorImpl<Type> &types) {
  if (reduction == "none")
    types.push_back(RankedTensorType::get(shape, elementType));
  else
    types.push_back(RankedTensorType::get({}, elementType));
}

LogicalResult checkPositive(Loc loc, double value, StringRef name) {
  if (value > 0.0)
    return success();
  return emitOptionalError(loc, name, " must be positive, got ", number(value));
}
/// The properties that type inference reads. ODS adaptors read properties
/// only and do not apply defaults, while the parser hands inherent attributes
/// over in the attribute dictionary; this merges both and fills defaults.
template <typename OpTy>
typename OpTy::Properties resolveProperties(MLIRContext *context,
                                            DictionaryAttr attributes,
                                            OpaqueProperties properties) {
  using Properties = typename OpTy::Properties;
  Properties resolved;
  if (properties)
    resolved = *properties.as<Properties *>();
  if constexpr (!std::is_same_v<Properties, EmptyProperties>) {
    // The parser may have started the properties (operand segments) and
    // left the rest in the dictionary.
    if (attributes)
      for (NamedAttribute attr : attributes)
        OpTy::setInherentAttr(resolved, attr.getName().getValue(), attr.getValue());
    OperationName(OpTy::getOperationName(), context)
        .populateDefaultProperties(OpaqueProperties(&resolved));
  }
  return resolved;
}
} // namespace

#define GET_OP_CLASSES
#include "dialects/ube/UbeOps.cpp.inc"

//===----------------------------------------------------------------------===//
// Elementwise
//===----------------------------------------------------------------------===//

OpFoldResult NegOp::fold(FoldAdaptor) {
  if (auto inner = getInput().getDefiningOp<NegOp>())
    return inner.getInput();
  return {};
}

LogicalResult CompareOp::inferTypes(MLIRContext *context, Loc loc,
                                          Adaptor adaptor,
                                          SmallVectorImpl<Type> &types) {
  return inferBroadcastResult(loc, {adaptor.getLhs(), adaptor.getRhs()},
                              IntegerType::get(context, 1), types);
}

LogicalResult WhereOp::inferTypes(MLIRContext *context, Loc loc,
                                        Adaptor adaptor,
                                        SmallVectorImpl<Type> &types) {
  auto cond = rankedType(loc, adaptor.getCondition(), "condition");
  auto lhs = rankedType(loc, adaptor.getLhs(), "lhs");
  auto rhs = rankedType(loc, adaptor.getRhs(), "rhs");
  if (failed(cond) || failed(lhs) || failed(rhs) ||
      failed(checkSameElementType(loc, *lhs, *rhs, "lhs", "rhs")))
    return failure();
  // Broadcast the three shapes; the condition's i1 must not decide the type.
  SmallVector<int64_t> shape;
  for (RankedTensorType type : {*cond, *lhs, *rhs}) {
    SmallVector<int64_t> next;
    if (!OpTrait::util::getBroadcastedShape(shape, type.getShape(), next))
      return emitOptionalError(loc, "shapes ", shapeString(shape), " and ",
                               shapeString(type.getShape()),
                               " are not broadcast-compatible");
    shape = std::move(next);
  }
  types.push_back(RankedTensorType::get(shape, lhs->getElementType()));
  return success();
}

OpFoldResult CastOp::fold(FoldAdaptor) {
  if (getInput().getType() == getType())
    return getInput();
  return {};
}

//===----------------------------------------------------------------------===//
// Contractions
//===----------------------------------------------------------------------===//

LogicalResult MatmulOp::inferTypes(MLIRContext *, Loc loc,
                                         Adaptor adaptor,
                                         SmallVectorImpl<Type> &types) {
  auto lhs = rankedType(loc, adaptor.getLhs(), "lhs");
  auto rhs = rankedType(loc, adaptor.getRhs(), "rhs");
  if (failed(lhs) || failed(rhs) ||
      failed(checkSameElementType(loc, *lhs, *rhs, "lhs", "rhs")))
    return failure();
  if (lhs->getRank() == 0 || rhs->getRank() == 0)
    return emitOptionalError(loc, "operands must have rank at least 1");
  SmallVector<int64_t> a(lhs->getShape()), b(rhs->getShape());
  bool vectorLhs = a.size() == 1, vectorRhs = b.size() == 1;
  if ((vectorLhs && adaptor.getTransposeLhs()) ||
      (vectorRhs && adaptor.getTransposeRhs()))
    return emitOptionalError(loc, "a rank-1 operand cannot be transposed");
  if (vectorLhs)
    a.insert(a.begin(), 1);
  if (vectorRhs)
    b.push_back(1);
  if (adaptor.getTransposeLhs())
    std::swap(a[a.size() - 1], a[a.size() - 2]);
  if (adaptor.getTransposeRhs())
    std::swap(b[b.size() - 1], b[b.size() - 2]);
  int64_t m = a[a.size() - 2], k = a.back(), k2 = b[b.size() - 2], n = b.back();
  if (!sameSize(k, k2))
    return emitOptionalError(loc, "contraction dimensions differ: lhs ",
                             shapeString(lhs->getShape()), " has ", k,
                             ", rhs ", shapeString(rhs->getShape()), " has ", k2);
  SmallVector<int64_t> batch;
  ArrayRef<int64_t> batchA = ArrayRef(a).drop_back(2), batchB = ArrayRef(b).drop_back(2);
  if (!OpTrait::util::getBroadcastedShape(batchA, batchB, batch))
    return emitOptionalError(loc, "batch dimensions ", shapeString(batchA), " and ",
                             shapeString(batchB), " are not broadcast-compatible");
  if (!vectorLhs)
    batch.push_back(m);
  if (!vectorRhs)
    batch.push_back(n);
  types.push_back(RankedTensorType::get(batch, lhs->getElementType()));
  return success();
}

LogicalResult LinearOp::inferTypes(MLIRContext *, Loc loc,
                                         Adaptor adaptor,
                                         SmallVectorImpl<Type> &types) {
  auto input = rankedType(loc, adaptor.getInput(), "input");
  auto weight = rankedType(loc, adaptor.getWeight(), "weight");
  if (failed(input) || failed(weight) ||
      failed(checkSameElementType(loc, *input, *weight, "input", "weight")))
    return failure();
  if (input->getRank() < 1 || weight->getRank() != 2)
    return emitOptionalError(loc, "expects input [..., in] and weight [out, in], got ",
                             shapeString(input->getShape()), " and ",
                             shapeString(weight->getShape()));
  int64_t in = input->getShape().back(), out = weight->getDimSize(0);
  if (!sameSize(weight->getDimSize(1), in))
    return emitOptionalError(loc, "weight ", shapeString(weight->getShape()),
                             " does not match input features ", in);
  if (Value biasValue = adaptor.getBias()) {
    auto bias = rankedType(loc, biasValue, "bias");
    if (failed(bias) ||
        failed(checkSameElementType(loc, *input, *bias, "input", "bias")))
      return failure();
    if (!sameSizes(bias->getShape(), ArrayRef<int64_t>{out}))
      return emitOptionalError(loc, "bias ", shapeString(bias->getShape()),
                               " must have shape [", out, "]");
  }
  SmallVector<int64_t> shape(input->getShape());
  shape.back() = out;
  types.push_back(RankedTensorType::get(shape, input->getElementType()));
  return success();
}

//===----------------------------------------------------------------------===//
// Convolution and pooling
//===----------------------------------------------------------------------===//

namespace {

/// `[N, C, *S]` with 1 to 3 spatial dimensions.
FailureOr<RankedTensorType> channelsFirst(Loc loc, Value value, StringRef what) {
  auto type = rankedType(loc, value, what);
  if (failed(type))
    return failure();
  if (type->getRank() < 3 || type->getRank() > 5)
    return emitOptionalError(loc, what, " must be [N, C, spatial...] with 1 to 3 spatial "
                             "dimensions, got ", shapeString(type->getShape()));
  return type;
}

/// [N, C', out...] for `window` over `input`'s spatial dimensions.
RankedTensorType windowedType(RankedTensorType input, int64_t channels, const Window &window) {
  SmallVector<int64_t> shape = {input.getDimSize(0), channels};
  for (int64_t d = 0; d < window.rank(); ++d)
    shape.push_back(window.outputSize(d, input.getDimSize(d + 2)));
  return RankedTensorType::get(shape, input.getElementType());
}

FailureOr<Window> convWindow(Loc loc, RankedTensorType input, RankedTensorType weight,
                             std::optional<ArrayRef<int64_t>> stride,
                             std::optional<ArrayRef<int64_t>> padding,
                             std::optional<ArrayRef<int64_t>> dilation) {
  ArrayRef<int64_t> kernel = weight.getShape().drop_front(2);
  if (llvm::any_of(kernel, ShapedType::isDynamic))
    return emitOptionalError(loc, "weight ", shapeString(weight.getShape()),
                             " must have a static kernel size");
  return Window::get(loc, input.getShape().drop_front(2), kernel, stride, padding, dilation);
}

} // namespace

LogicalResult Im2colOp::inferTypes(MLIRContext *, Loc loc, Adaptor adaptor,
                                   SmallVectorImpl<Type> &types) {
  auto input = rankedType(loc, adaptor.getInput(), "input");
  if (failed(input))
    return failure();
  ArrayRef<int64_t> shape = input->getShape(), kernel = adaptor.getKernel();
  if (shape.size() != 4 || ShapedType::isDynamic(shape[1]))
    return emitOptionalError(loc, "input must be [B, C, H, W] with a static C, got ",
                             shapeString(shape));
  SmallVector<int64_t> dilation(2, 1), stride(2, 1);
  if (auto given = adaptor.getDilation())
    dilation.assign(given->begin(), given->end());
  if (auto given = adaptor.getStride())
    stride.assign(given->begin(), given->end());
  auto positive = [](ArrayRef<int64_t> sizes) {
    return sizes.size() == 2 && llvm::all_of(sizes, [](int64_t v) { return v >= 1; });
  };
  if (!positive(kernel) || !positive(dilation) || !positive(stride))
    return emitOptionalError(loc, "kernel, dilation and stride need two positive sizes");
  int64_t depth = shape[1] * kernel[0] * kernel[1];
  Type element = input->getElementType();
  // [B, depth, length], or the images side by side: [1, depth, B · length].
  auto imagesAsColumns = [&](int64_t length) {
    if (!adaptor.getBatchColumns())
      return RankedTensorType::get({shape[0], depth, length}, element);
    bool symbolic = ShapedType::isDynamic(shape[0]) || ShapedType::isDynamic(length);
    return RankedTensorType::get({1, depth, symbolic ? ShapedType::kDynamic : shape[0] * length},
                                 element);
  };
  std::optional<int64_t> given = adaptor.getLength();
  if (!given) {
    // Over the window's output positions, counted from the plane's size.
    if (adaptor.getColumns())
      return emitOptionalError(loc, "columns needs a length");
    auto window = Window::get(loc, shape.drop_front(2), kernel, stride, std::nullopt, dilation);
    if (failed(window))
      return failure();
    int64_t rows = window->outputSize(0, shape[2]), columns = window->outputSize(1, shape[3]);
    int64_t length = ShapedType::isDynamic(rows) || ShapedType::isDynamic(columns)
                         ? ShapedType::kDynamic
                         : rows * columns;
    types.push_back(imagesAsColumns(length));
    return success();
  }
  if (ShapedType::isDynamic(shape[2]) || ShapedType::isDynamic(shape[3]))
    return emitOptionalError(loc, "a length needs a static H and W, got ", shapeString(shape));
  int64_t width = shape[3], columns = adaptor.getColumns().value_or(width);
  int64_t length = *given;
  if (columns < 1 || length < 1)
    return emitOptionalError(loc, "columns and length must be positive");
  // The farthest position read: the last position's, or the end of the row
  // before it (a wider column).
  auto offsetOf = [&](int64_t j) {
    return stride[0] * (j / columns) * width + stride[1] * (j % columns);
  };
  int64_t farthest = offsetOf(length - 1);
  if (length - 1 >= columns)
    farthest = std::max(farthest, offsetOf((length - 1) / columns * columns - 1));
  int64_t last = (kernel[0] - 1) * dilation[0] * width + (kernel[1] - 1) * dilation[1];
  if (farthest + last >= shape[2] * width)
    return emitOptionalError(loc, "length ", length, " reads up to element ", farthest + last,
                             " of the plane of ", shape[2] * width, " elements");
  types.push_back(imagesAsColumns(length));
  return success();
}

std::array<int64_t, 2> Im2colOp::dilations() {
  if (auto dilation = getDilation())
    return {(*dilation)[0], (*dilation)[1]};
  return {1, 1};
}

std::array<int64_t, 2> Im2colOp::strides() {
  if (auto stride = getStride())
    return {(*stride)[0], (*stride)[1]};
  return {1, 1};
}

Window Im2colOp::window() {
  auto [sh, sw] = strides();
  auto [dh, dw] = dilations();
  ArrayRef<int64_t> kernel = getKernel();
  Window window;
  window.kernel = {kernel[0], kernel[1]};
  window.stride = {sh, sw};
  window.dilation = {dh, dw};
  window.padBegin = window.padEnd = {0, 0};
  return window;
}

int64_t Im2colOp::rowLength() {
  int64_t width = getInput().getType().getDimSize(3);
  if (!getLength())
    return window().outputSize(1, width);
  return getColumns().value_or(width);
}

Value Im2colOp::rowLength(OpBuilder &b, Location loc) {
  int64_t columns = rowLength();
  if (!ShapedType::isDynamic(columns))
    return arith::ConstantIndexOp::create(b, loc, columns);
  return window().outputSize(b, loc, 1, tensor::DimOp::create(b, loc, getInput(), 3));
}

Value Im2colOp::positions(OpBuilder &b, Location loc) {
  if (std::optional<int64_t> length = getLength())
    return arith::ConstantIndexOp::create(b, loc, *length);
  int64_t rows = window().outputSize(0, getInput().getType().getDimSize(2)),
          columns = rowLength();
  if (!ShapedType::isDynamic(rows) && !ShapedType::isDynamic(columns))
    return arith::ConstantIndexOp::create(b, loc, rows * columns);
  Value runtimeRows =
      window().outputSize(b, loc, 0, tensor::DimOp::create(b, loc, getInput(), 2));
  return arith::MulIOp::create(b, loc, runtimeRows, rowLength(b, loc));
}

bool Im2colOp::isContiguous() {
  return getLength() && !getBatchColumns() && strides() == std::array<int64_t, 2>{1, 1} &&
         rowLength() == getInput().getType().getDimSize(3);
}

Value Im2colOp::imagesPerMatrix(OpBuilder &b, Location loc) {
  if (!getBatchColumns())
    return arith::ConstantIndexOp::create(b, loc, 1);
  return b.createOrFold<tensor::DimOp>(loc, getInput(), 0);
}

Value Im2colOp::tapOffset(OpBuilder &b, Location loc, Value t, Value width) {
  int64_t kw = getKernel()[1];
  auto [dh, dw] = dilations();
  auto c = [&](int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); };
  Value row = arith::DivUIOp::create(b, loc, t, c(kw));
  Value column = arith::RemUIOp::create(b, loc, t, c(kw));
  return arith::AddIOp::create(
      b, loc, arith::MulIOp::create(b, loc, row, arith::MulIOp::create(b, loc, c(dh), width)),
      arith::MulIOp::create(b, loc, column, c(dw)));
}

LogicalResult ConvOp::inferTypes(MLIRContext *, Loc loc, Adaptor adaptor,
                                 SmallVectorImpl<Type> &types) {
  auto input = channelsFirst(loc, adaptor.getInput(), "input");
  auto weight = rankedType(loc, adaptor.getWeight(), "weight");
  if (failed(input) || failed(weight) ||
      failed(checkSameElementType(loc, *input, *weight, "input", "weight")))
    return failure();
  if (weight->getRank() != input->getRank())
    return emitOptionalError(loc, "weight ", shapeString(weight->getShape()),
                             " must be [O, C / groups, kernel...] of the input's rank ",
                             input->getRank());
  int64_t groups = adaptor.getGroups();
  int64_t channels = input->getDimSize(1), out = weight->getDimSize(0);
  if (groups < 1)
    return emitOptionalError(loc, "groups must be at least 1, got ", groups);
  if (ShapedType::isDynamic(channels) || ShapedType::isDynamic(out))
    return emitOptionalError(loc, "channel counts must be static, got input ",
                             shapeString(input->getShape()), " and weight ",
                             shapeString(weight->getShape()));
  if (channels % groups || out % groups)
    return emitOptionalError(loc, groups, " groups do not divide ", channels,
                             " input channels and ", out, " output channels");
  if (!sameSize(weight->getDimSize(1), channels / groups))
    return emitOptionalError(loc, "weight ", shapeString(weight->getShape()), " must have ",
                             channels / groups, " input channels per group (", channels,
                             " channels in ", groups, " groups)");
  if (Value biasValue = adaptor.getBias()) {
    auto bias = rankedType(loc, biasValue, "bias");
    if (failed(bias) || failed(checkSameElementType(loc, *input, *bias, "input", "bias")))
      return failure();
    if (!sameSizes(bias->getShape(), ArrayRef<int64_t>{out}))
      return emitOptionalError(loc, "bias ", shapeString(bias->getShape()),
                               " must have shape [", out, "]");
  }
  auto window = convWindow(loc, *input, *weight, adaptor.getStride(), adaptor.getPadding(),
                           adaptor.getDilation());
  if (failed(window))
    return failure();
  types.push_back(windowedType(*input, out, *window));
  return success();
}

Window ConvOp::window() {
  return *convWindow(std::nullopt, getInput().getType(), getWeight().getType(), getStride(),
                     getPadding(), getDilation());
}

namespace {
/// Whether `value` is a constant +0 broadcast (or not) to its shape.
bool isPositiveZeros(Value value) {
  if (auto broadcast = value.getDefiningOp<BroadcastToOp>())
    value = broadcast.getInput();
  SplatElementsAttr splat;
  if (!matchPattern(value, m_Constant(&splat)))
    return false;
  if (auto f = dyn_cast<FloatAttr>(splat.getSplatValue<Attribute>()))
    return f.getValue().isPosZero();
  return false;
}

/// conv(concat(zeros, x, zeros) along a spatial axis) is conv(x) with that
/// much more padding: what an explicit zero pad before a convolution
/// becomes (MobileNetV2's TensorFlow-style "same" padding in transformers,
/// ONNX's Pad before Conv). The padded copy of the input is never made.
struct FoldZeroPaddingIntoConv : OpRewritePattern<ConvOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(ConvOp op, PatternRewriter &rewriter) const override {
    auto concat = op.getInput().getDefiningOp<ConcatOp>();
    if (!concat)
      return failure();
    auto type = cast<RankedTensorType>(concat.getType());
    int64_t rank = type.getRank(), axis = concat.getAxis();
    if (axis < 0)
      axis += rank;
    OperandRange parts = concat.getInputs();
    if (axis < 2 || parts.size() < 2 || parts.size() > 3 ||
        !llvm::any_of(parts, isPositiveZeros))
      return failure();
    bool leading = isPositiveZeros(parts.front()), trailing = isPositiveZeros(parts.back());
    // One input between the zero blocks.
    if (int64_t(parts.size()) != 1 + leading + trailing)
      return failure();
    Value x = parts[leading ? 1 : 0];
    auto extent = [&](Value v) { return cast<RankedTensorType>(v.getType()).getDimSize(axis); };
    if (ShapedType::isDynamic(extent(x)))
      return failure();
    Window window = op.window();
    int64_t spatial = rank - 2, d = axis - 2;
    SmallVector<int64_t> padding(window.padBegin);
    padding.append(window.padEnd);
    padding[d] += leading ? extent(parts.front()) : 0;
    padding[spatial + d] += trailing ? extent(parts.back()) : 0;
    rewriter.replaceOpWithNewOp<ConvOp>(op, op.getType(), x, op.getWeight(), op.getBias(),
                                        op.getStrideAttr(),
                                        rewriter.getDenseI64ArrayAttr(padding),
                                        op.getDilationAttr(), op.getGroupsAttr());
    return success();
  }
};
} // namespace

void ConvOp::getCanonicalizationPatterns(RewritePatternSet &patterns, MLIRContext *context) {
  patterns.add<FoldZeroPaddingIntoConv>(context);
}

namespace {
template <typename Adaptor>
LogicalResult inferPool(Loc loc, Adaptor adaptor, SmallVectorImpl<Type> &types) {
  auto input = channelsFirst(loc, adaptor.getInput(), "input");
  if (failed(input))
    return failure();
  if (int64_t(adaptor.getKernel().size()) != input->getRank() - 2)
    return emitOptionalError(loc, "kernel has ", adaptor.getKernel().size(),
                             " sizes for an input with ", input->getRank() - 2,
                             " spatial dimensions");
  auto window = Window::get(loc, input->getShape().drop_front(2), adaptor.getKernel(),
                            adaptor.getStride(), adaptor.getPadding(), adaptor.getDilation(),
                            adaptor.getCeilMode());
  if (failed(window))
    return failure();
  types.push_back(windowedType(*input, input->getDimSize(1), *window));
  return success();
}
} // namespace

LogicalResult MaxPoolOp::inferTypes(MLIRContext *, Loc loc, Adaptor adaptor,
                                    SmallVectorImpl<Type> &types) {
  return inferPool(loc, adaptor, types);
}

LogicalResult MaxPoolIndicesOp::inferTypes(MLIRContext *context, Loc loc, Adaptor adaptor,
                                           SmallVectorImpl<Type> &types) {
  if (failed(inferPool(loc, adaptor, types)))
    return failure();
  types.back() = cast<RankedTensorType>(types.back()).clone(IntegerType::get(context, 64));
  return success();
}

Window MaxPoolIndicesOp::window() {
  return *Window::get(std::nullopt, getInput().getType().getShape().drop_front(2), getKernel(),
                      getStride(), getPadding(), getDilation(), getCeilMode());
}

Window MaxPoolOp::window() {
  return *Window::get(std::nullopt, getInput().getType().getShape().drop_front(2), getKernel(),
                      getStride(), getPadding(), getDilation(), getCeilMode());
}

LogicalResult AvgPoolOp::inferTypes(MLIRContext *, Loc loc, Adaptor adaptor,
                                    SmallVectorImpl<Type> &types) {
  return inferPool(loc, adaptor, types);
}

Window AvgPoolOp::window() {
  return *Window::get(std::nullopt, getInput().getType().getShape().drop_front(2), getKernel(),
                      getStride(), getPadding(), getDilation(), getCeilMode());
}

namespace {
/// Checks that `grad` has the shape of the window op's result `expected`.
LogicalResult checkGradShape(Loc loc, RankedTensorType grad, RankedTensorType expected) {
  if (sameSizes(grad.getShape(), expected.getShape()))
    return success();
  return emitOptionalError(loc, "grad ", shapeString(grad.getShape()),
                           " does not have the shape of the op's result ",
                           shapeString(expected.getShape()));
}

/// `input_spatial` with its -1 sizes symbolic: one of the op's
/// `input_sizes` each.
FailureOr<SmallVector<int64_t>> inputSpatial(Loc loc, ArrayRef<int64_t> spatial,
                                             size_t runtimeSizes) {
  SmallVector<int64_t> shape;
  for (int64_t size : spatial) {
    if (size < -1)
      return emitOptionalError(loc, "input_spatial ", shapeString(spatial),
                               ": sizes are at least 0, or -1 for one known at run time");
    shape.push_back(size == -1 ? ShapedType::kDynamic : size);
  }
  if (size_t(llvm::count(spatial, -1)) != runtimeSizes)
    return emitOptionalError(loc, "input_spatial has ", llvm::count(spatial, -1),
                             " sizes of -1 but ", runtimeSizes, " input_sizes are given");
  return shape;
}

/// [N, C, *spatial] of `like`'s batch and `channels`.
RankedTensorType withSpatial(RankedTensorType like, int64_t channels,
                             ArrayRef<int64_t> spatial) {
  SmallVector<int64_t> shape = {like.getDimSize(0), channels};
  llvm::append_range(shape, spatial);
  return RankedTensorType::get(shape, like.getElementType());
}
} // namespace

LogicalResult ConvInputGradOp::inferTypes(MLIRContext *, Loc loc, Adaptor adaptor,
                                          SmallVectorImpl<Type> &types) {
  auto grad = channelsFirst(loc, adaptor.getGrad(), "grad");
  auto weight = rankedType(loc, adaptor.getWeight(), "weight");
  if (failed(grad) || failed(weight) ||
      failed(checkSameElementType(loc, *grad, *weight, "grad", "weight")))
    return failure();
  auto spatial = inputSpatial(loc, adaptor.getInputSpatial(), adaptor.getInputSizes().size());
  if (failed(spatial))
    return failure();
  if (int64_t(spatial->size()) != grad->getRank() - 2 || weight->getRank() != grad->getRank())
    return emitOptionalError(loc, "input_spatial ", shapeString(*spatial), " and weight ",
                             shapeString(weight->getShape()), " must match grad ",
                             shapeString(grad->getShape()), "'s spatial rank");
  int64_t groups = adaptor.getGroups();
  if (groups < 1 || ShapedType::isDynamic(weight->getDimSize(1)))
    return emitOptionalError(loc, "groups must be at least 1 and the weight's channels static");
  auto input = withSpatial(*grad, weight->getDimSize(1) * groups, *spatial);
  auto window = convWindow(loc, input, *weight, adaptor.getStride(), adaptor.getPadding(),
                           adaptor.getDilation());
  if (failed(window) ||
      failed(checkGradShape(loc, *grad, windowedType(input, weight->getDimSize(0), *window))))
    return failure();
  types.push_back(input);
  return success();
}

Window ConvInputGradOp::window() {
  auto grad = getGrad().getType();
  auto input = withSpatial(grad, 1, getType().getShape().drop_front(2));
  return *convWindow(std::nullopt, input, getWeight().getType(), getStride(), getPadding(),
                     getDilation());
}

LogicalResult ConvWeightGradOp::inferTypes(MLIRContext *, Loc loc, Adaptor adaptor,
                                           SmallVectorImpl<Type> &types) {
  auto input = channelsFirst(loc, adaptor.getInput(), "input");
  auto grad = channelsFirst(loc, adaptor.getGrad(), "grad");
  if (failed(input) || failed(grad) ||
      failed(checkSameElementType(loc, *input, *grad, "input", "grad")))
    return failure();
  ArrayRef<int64_t> kernel = adaptor.getKernel();
  int64_t groups = adaptor.getGroups();
  int64_t channels = input->getDimSize(1), out = grad->getDimSize(1);
  if (int64_t(kernel.size()) != input->getRank() - 2 || grad->getRank() != input->getRank())
    return emitOptionalError(loc, "kernel ", shapeString(kernel), " and grad ",
                             shapeString(grad->getShape()), " must match the input's rank ",
                             input->getRank());
  if (groups < 1 || ShapedType::isDynamic(channels) || ShapedType::isDynamic(out) ||
      channels % groups || out % groups)
    return emitOptionalError(loc, groups, " groups do not divide ", channels,
                             " input channels and ", out, " output channels");
  SmallVector<int64_t> weightShape = {out, channels / groups};
  llvm::append_range(weightShape, kernel);
  auto weight = RankedTensorType::get(weightShape, input->getElementType());
  auto window = convWindow(loc, *input, weight, adaptor.getStride(), adaptor.getPadding(),
                           adaptor.getDilation());
  if (failed(window) || failed(checkGradShape(loc, *grad, windowedType(*input, out, *window))))
    return failure();
  types.push_back(weight);
  return success();
}

Window ConvWeightGradOp::window() {
  return *Window::get(std::nullopt, getInput().getType().getShape().drop_front(2), getKernel(),
                      getStride(), getPadding(), getDilation());
}

bool ConvWeightGradOp::isDepthwise() {
  int64_t channels = getInput().getType().getDimSize(1);
  return getGroups() == channels && getGrad().getType().getDimSize(1) == channels;
}

LogicalResult AvgPoolGradOp::inferTypes(MLIRContext *, Loc loc, Adaptor adaptor,
                                        SmallVectorImpl<Type> &types) {
  auto grad = channelsFirst(loc, adaptor.getGrad(), "grad");
  if (failed(grad))
    return failure();
  auto spatial = inputSpatial(loc, adaptor.getInputSpatial(), adaptor.getInputSizes().size());
  if (failed(spatial))
    return failure();
  if (int64_t(spatial->size()) != grad->getRank() - 2 ||
      int64_t(adaptor.getKernel().size()) != grad->getRank() - 2)
    return emitOptionalError(loc, "input_spatial and kernel must have one size per spatial "
                             "dimension of grad ", shapeString(grad->getShape()));
  auto window = Window::get(loc, *spatial, adaptor.getKernel(), adaptor.getStride(),
                            adaptor.getPadding(), adaptor.getDilation(), adaptor.getCeilMode());
  auto input = withSpatial(*grad, grad->getDimSize(1), *spatial);
  if (failed(window) ||
      failed(checkGradShape(loc, *grad, windowedType(input, grad->getDimSize(1), *window))))
    return failure();
  types.push_back(input);
  return success();
}

Window AvgPoolGradOp::window() {
  return *Window::get(std::nullopt, getType().getShape().drop_front(2), getKernel(),
                      getStride(), getPadding(),
                      getDilation(), getCeilMode());
}

LogicalResult MaxPoolGradOp::inferTypes(MLIRContext *, Loc loc, Adaptor adaptor,
                                        SmallVectorImpl<Type> &types) {
  auto input = channelsFirst(loc, adaptor.getInput(), "input");
  auto grad = rankedType(loc, adaptor.getGrad(), "grad");
  if (failed(input) || failed(grad) ||
      failed(checkSameElementType(loc, *input, *grad, "input", "grad")))
    return failure();
  if (int64_t(adaptor.getKernel().size()) != input->getRank() - 2)
    return emitOptionalError(loc, "kernel has ", adaptor.getKernel().size(),
                             " sizes for an input with ", input->getRank() - 2,
                             " spatial dimensions");
  auto window = Window::get(loc, input->getShape().drop_front(2), adaptor.getKernel(),
                            adaptor.getStride(), adaptor.getPadding(), adaptor.getDilation(),
                            adaptor.getCeilMode());
  if (failed(window) ||
      failed(checkGradShape(loc, *grad, windowedType(*input, input->getDimSize(1), *window))))
    return failure();
  types.push_back(*input);
  return success();
}

Window MaxPoolGradOp::window() {
  return *Window::get(std::nullopt, getInput().getType().getShape().drop_front(2), getKernel(),
                      getStride(), getPadding(), getDilation(), getCeilMode());
}

/// The result type of attention over `queryValue`, `keyValue`, `valueValue`
/// and `maskValue` (null when none), checked as the forward and its
/// gradient share them.
static FailureOr<RankedTensorType> inferAttention(Loc loc, Value queryValue, Value keyValue,
                                                 Value valueValue, Value maskValue,
                                                 std::optional<APFloat> scale) {
  auto query = rankedType(loc, queryValue, "query");
  auto key = rankedType(loc, keyValue, "key");
  auto value = rankedType(loc, valueValue, "value");
  if (failed(query) || failed(key) || failed(value) ||
      failed(checkSameElementType(loc, *query, *key, "query", "key")) ||
      failed(checkSameElementType(loc, *query, *value, "query", "value")))
    return failure();
  int64_t rank = query->getRank();
  if (rank < 2 || key->getRank() != rank || value->getRank() != rank)
    return emitOptionalError(loc, "query, key and value must have the same rank, at least 2, "
                             "got ", shapeString(query->getShape()), ", ",
                             shapeString(key->getShape()), " and ",
                             shapeString(value->getShape()));
  ArrayRef<int64_t> q = query->getShape(), k = key->getShape(), v = value->getShape();
  if (!sameSize(k.back(), q.back()))
    return emitOptionalError(loc, "query ", shapeString(q), " and key ", shapeString(k),
                             " must have the same feature size (last dimension)");
  if (!sameSizes(k.drop_back(), v.drop_back()))
    return emitOptionalError(loc, "key ", shapeString(k), " and value ", shapeString(v),
                             " must agree in every dimension but the last");
  // Heads: equal, or grouped (the key's heads divide the query's).
  if (rank >= 3) {
    int64_t queryHeads = q[rank - 3], keyHeads = k[rank - 3];
    if (!ShapedType::isDynamic(queryHeads) && !ShapedType::isDynamic(keyHeads) &&
        (keyHeads < 1 || queryHeads % keyHeads != 0))
      return emitOptionalError(loc, "key heads (", keyHeads, ") must divide query heads (",
                               queryHeads, ")");
  }
  SmallVector<int64_t> shape;
  ArrayRef<int64_t> batchQ = q.drop_back(std::min<int64_t>(rank, 3)),
                    batchK = k.drop_back(std::min<int64_t>(rank, 3));
  if (!OpTrait::util::getBroadcastedShape(batchQ, batchK, shape))
    return emitOptionalError(loc, "batch dimensions ", shapeString(batchQ), " and ",
                             shapeString(batchK), " are not broadcast-compatible");
  if (rank >= 3)
    shape.push_back(q[rank - 3]);
  shape.append({q[rank - 2], v.back()});
  if (maskValue) {
    auto mask = rankedType(loc, maskValue, "mask");
    if (failed(mask))
      return failure();
    Type maskElement = mask->getElementType();
    if (!maskElement.isInteger(1) && maskElement != query->getElementType())
      return emitOptionalError(loc, "mask must be boolean (i1) or of the query's element type ",
                               query->getElementType(), ", got ", maskElement);
    SmallVector<int64_t> scores(shape), broadcast;
    scores.back() = k[rank - 2];
    if (!OpTrait::util::getBroadcastedShape(scores, mask->getShape(), broadcast) ||
        !sameSizes(broadcast, scores))
      return emitOptionalError(loc, "mask ", shapeString(mask->getShape()),
                               " does not broadcast to the scores ", shapeString(scores));
  }
  if (scale && failed(checkPositive(loc, scale->convertToDouble(), "scale")))
    return failure();
  return RankedTensorType::get(shape, query->getElementType());
}

/// Attention's `dropout_p` in [0, 1).
static LogicalResult checkDropoutRate(Loc loc, const APFloat &rate) {
  double dropout = rate.convertToDouble();
  if (!(dropout >= 0.0 && dropout < 1.0))
    return emitOptionalError(loc, "dropout_p must be in [0, 1), got ", number(dropout));
  return success();
}

/// `scale`, or 1/sqrt(E) of `query`.
static double attentionScale(std::optional<APFloat> scale, Value query) {
  if (scale)
    return scale->convertToDouble();
  return 1.0 / std::sqrt(double(cast<RankedTensorType>(query.getType()).getShape().back()));
}

LogicalResult ScaledDotProductAttentionOp::inferTypes(MLIRContext *, Loc loc,
                                                     Adaptor adaptor,
                                                     SmallVectorImpl<Type> &types) {
  auto result = inferAttention(loc, adaptor.getQuery(), adaptor.getKey(), adaptor.getValue(),
                               adaptor.getMask(), adaptor.getScale());
  if (failed(result) || failed(checkDropoutRate(loc, adaptor.getDropoutP())))
    return failure();
  types.push_back(*result);
  return success();
}

double ScaledDotProductAttentionOp::getScaleOrDefault() {
  return attentionScale(getScale(), getQuery());
}

LogicalResult ScaledDotProductAttentionGradOp::inferTypes(MLIRContext *, Loc loc,
                                                         Adaptor adaptor,
                                                         SmallVectorImpl<Type> &types) {
  auto result = inferAttention(loc, adaptor.getQuery(), adaptor.getKey(), adaptor.getValue(),
                               adaptor.getMask(), adaptor.getScale());
  if (failed(result) || failed(checkDropoutRate(loc, adaptor.getDropoutP())))
    return failure();
  for (auto [value, what] : {std::pair{adaptor.getOutput(), "output"},
                             std::pair{adaptor.getGrad(), "grad"}}) {
    auto type = cast<RankedTensorType>(value.getType());
    if (type.getElementType() != result->getElementType() ||
        !sameSizes(type.getShape(), result->getShape()))
      return emitOptionalError(loc, what, " ", type, " must be the attention's result ",
                               *result);
  }
  types.append({adaptor.getQuery().getType(), adaptor.getKey().getType(),
                adaptor.getValue().getType()});
  return success();
}

double ScaledDotProductAttentionGradOp::getScaleOrDefault() {
  return attentionScale(getScale(), getQuery());
}

//===----------------------------------------------------------------------===//
// Normalization and reductions
//===----------------------------------------------------------------------===//

static LogicalResult inferAlongAxis(Loc loc, Value input, int64_t axis,
                                    SmallVectorImpl<Type> &types) {
  auto type = rankedType(loc, input, "input");
  if (failed(type) || failed(normalizeAxis(loc, axis, type->getRank())))
    return failure();
  types.push_back(*type);
  return success();
}

LogicalResult SoftmaxOp::inferTypes(MLIRContext *, Loc loc,
                                          Adaptor adaptor,
                                          SmallVectorImpl<Type> &types) {
  return inferAlongAxis(loc, adaptor.getInput(), adaptor.getAxis(), types);
}

LogicalResult LogSoftmaxOp::inferTypes(MLIRContext *, Loc loc,
                                             Adaptor adaptor,
                                             SmallVectorImpl<Type> &types) {
  return inferAlongAxis(loc, adaptor.getInput(), adaptor.getAxis(), types);
}

/// The normalized dimensions [axis, rank) of a normalization's input; each
/// of `affine` (named by `names`) must be shaped like them.
static LogicalResult checkNormalization(Loc loc, Value inputValue, int64_t axisAttr,
                                        double epsilon, ValueRange affine,
                                        ArrayRef<StringLiteral> names,
                                        SmallVectorImpl<Type> &types) {
  auto input = rankedType(loc, inputValue, "input");
  if (failed(input))
    return failure();
  auto axis = normalizeAxis(loc, axisAttr, input->getRank());
  if (failed(axis) || failed(checkPositive(loc, epsilon, "epsilon")))
    return failure();
  ArrayRef<int64_t> normalized = input->getShape().drop_front(*axis);
  for (auto [value, name] : llvm::zip(affine, names)) {
    auto type = rankedType(loc, value, name);
    if (failed(type) ||
        failed(checkSameElementType(loc, *input, *type, "input", name)))
      return failure();
    if (!sameSizes(type->getShape(), normalized))
      return emitOptionalError(loc, name, " ", shapeString(type->getShape()),
                               " must have the normalized shape ",
                               shapeString(normalized));
  }
  types.push_back(*input);
  return success();
}

LogicalResult LayerNormOp::inferTypes(MLIRContext *, Loc loc,
                                            Adaptor adaptor,
                                            SmallVectorImpl<Type> &types) {
  if (adaptor.getAffine().size() > 2)
    return emitOptionalError(loc, "takes at most two affine operands (weight, "
                                  "bias), got ", adaptor.getAffine().size());
  static constexpr StringLiteral kAffineNames[] = {"weight", "bias"};
  return checkNormalization(loc, adaptor.getInput(), adaptor.getAxis(),
                            adaptor.getEpsilon().convertToDouble(), adaptor.getAffine(),
                            kAffineNames, types);
}

LogicalResult RmsNormOp::inferTypes(MLIRContext *, Loc loc, Adaptor adaptor,
                                    SmallVectorImpl<Type> &types) {
  static constexpr StringLiteral kWeightName[] = {"weight"};
  SmallVector<Value, 1> weight;
  if (Value w = adaptor.getWeight())
    weight.push_back(w);
  return checkNormalization(loc, adaptor.getInput(), adaptor.getAxis(),
                            adaptor.getEpsilon().convertToDouble(), weight, kWeightName,
                            types);
}

//===----------------------------------------------------------------------===//
// Data movement
//===----------------------------------------------------------------------===//

LogicalResult TransposeOp::inferTypes(MLIRContext *, Loc loc,
                                            Adaptor adaptor,
                                            SmallVectorImpl<Type> &types) {
  auto input = rankedType(loc, adaptor.getInput(), "input");
  if (failed(input))
    return failure();
  ArrayRef<int64_t> perm = adaptor.getPerm();
  int64_t rank = input->getRank();
  if (static_cast<int64_t>(perm.size()) != rank)
    return emitOptionalError(loc, "perm has ", perm.size(),
                             " entries for a tensor of rank ", rank);
  llvm::SmallVector<bool> seen(rank, false);
  SmallVector<int64_t> shape;
  for (int64_t p : perm) {
    if (p < 0 || p >= rank || seen[p])
      return emitOptionalError(loc, "perm ", shapeString(perm),
                               " is not a permutation of [0, ", rank, ")");
    seen[p] = true;
    shape.push_back(input->getDimSize(p));
  }
  types.push_back(RankedTensorType::get(shape, input->getElementType()));
  return success();
}

OpFoldResult TransposeOp::fold(FoldAdaptor) {
  for (auto [i, p] : llvm::enumerate(getPerm()))
    if (static_cast<int64_t>(i) != p)
      return {};
  return getInput();
}

LogicalResult ReshapeOp::verify() {
  auto in = getInput().getType(), out = getType();
  if (in.getElementType() != out.getElementType())
    return emitOpError("cannot change the element type from ")
           << in.getElementType() << " to " << out.getElementType();
  // Sizes with symbols are checked by the importer's builds with sizes.
  if (in.hasStaticShape() && out.hasStaticShape() &&
      in.getNumElements() != out.getNumElements())
    return emitOpError("cannot reshape ") << shapeString(in.getShape()) << " ("
           << in.getNumElements() << " elements) to " << shapeString(out.getShape())
           << " (" << out.getNumElements() << " elements)";
  if (!getSizes().empty() && getSizes().size() != size_t(out.getNumDynamicDims()))
    return emitOpError("has ") << getSizes().size() << " sizes for the "
                               << out.getNumDynamicDims() << " symbolic sizes of "
                               << shapeString(out.getShape());
  return success();
}

OpFoldResult ReshapeOp::fold(FoldAdaptor adaptor) {
  if (getInput().getType() == getType())
    return getInput();
  if (auto dense = dyn_cast_if_present<DenseElementsAttr>(adaptor.getInput());
      dense && getType().hasStaticShape())
    return dense.reshape(getType());
  // reshape(reshape(x)) is one reshape of x, unless the outer one's symbolic
  // sizes follow from the inner one's shape.
  auto inner = getInput().getDefiningOp<ReshapeOp>();
  if (inner && (getType().hasStaticShape() || !getSizes().empty())) {
    getInputMutable().assign(inner.getInput());
    return getResult();
  }
  return {};
}

LogicalResult ArangeOp::verify() {
  RankedTensorType type = getType();
  if (type.getRank() != 1)
    return emitOpError("result must have rank 1, got ") << shapeString(type.getShape());
  Type element = type.getElementType();
  if (element.isInteger(1))
    return emitOpError("result must be of integers or floats, got i1");
  double start = getStart().convertToDouble(), step = getStep().convertToDouble();
  if (isa<IntegerType>(element) && (start != std::floor(start) || step != std::floor(step)))
    return emitOpError("an integer arange needs an integral start and step, got ")
           << start << " and " << step;
  if (getSizes().size() != size_t(type.getNumDynamicDims()))
    return emitOpError("has ") << getSizes().size() << " sizes for the "
                               << type.getNumDynamicDims() << " symbolic sizes of "
                               << shapeString(type.getShape());
  return success();
}

LogicalResult BroadcastToOp::verify() {
  auto in = getInput().getType(), out = getType();
  if (in.getElementType() != out.getElementType())
    return emitOpError("cannot change the element type from ")
           << in.getElementType() << " to " << out.getElementType();
  SmallVector<int64_t> shape;
  if (in.getRank() > out.getRank() ||
      !OpTrait::util::getBroadcastedShape(in.getShape(), out.getShape(), shape) ||
      ArrayRef<int64_t>(shape) != out.getShape())
    return emitOpError("cannot broadcast ") << shapeString(in.getShape())
           << " to " << shapeString(out.getShape());
  if (!getSizes().empty() && getSizes().size() != size_t(out.getNumDynamicDims()))
    return emitOpError("has ") << getSizes().size() << " sizes for the "
                               << out.getNumDynamicDims() << " symbolic sizes of "
                               << shapeString(out.getShape());
  return success();
}

OpFoldResult BroadcastToOp::fold(FoldAdaptor adaptor) {
  if (getInput().getType() == getType())
    return getInput();
  if (auto splat = dyn_cast_if_present<SplatElementsAttr>(adaptor.getInput());
      splat && getType().hasStaticShape())
    return SplatElementsAttr::get(getType(), splat.getSplatValue<Attribute>());
  return {};
}

LogicalResult ConcatOp::inferTypes(MLIRContext *, Loc loc,
                                         Adaptor adaptor,
                                         SmallVectorImpl<Type> &types) {
  if (adaptor.getInputs().empty())
    return emitOptionalError(loc, "expects at least one input");
  auto first = rankedType(loc, adaptor.getInputs().front(), "input #0");
  if (failed(first))
    return failure();
  auto axis = normalizeAxis(loc, adaptor.getAxis(), first->getRank());
  if (failed(axis))
    return failure();
  SmallVector<int64_t> shape(first->getShape());
  for (auto [i, value] : llvm::enumerate(adaptor.getInputs().drop_front())) {
    std::string name = "input #" + std::to_string(i + 1);
    auto type = rankedType(loc, value, name);
    if (failed(type) ||
        failed(checkSameElementType(loc, *first, *type, "input #0", name)))
      return failure();
    bool compatible = type->getRank() == first->getRank();
    for (int64_t d = 0; compatible && d < first->getRank(); ++d)
      compatible = d == *axis || sameSize(type->getDimSize(d), shape[d]);
    if (!compatible)
      return emitOptionalError(loc, name, " ", shapeString(type->getShape()),
                               " does not match ", shapeString(first->getShape()),
                               " outside axis ", *axis);
    shape[*axis] = ShapedType::isDynamic(shape[*axis]) ||
                           ShapedType::isDynamic(type->getDimSize(*axis))
                       ? ShapedType::kDynamic
                       : shape[*axis] + type->getDimSize(*axis);
  }
  types.push_back(RankedTensorType::get(shape, first->getElementType()));
  return success();
}

OpFoldResult ConcatOp::fold(FoldAdaptor) {
  if (getInputs().size() == 1 && getInputs().front().getType() == getType())
    return getInputs().front();
  return {};
}

LogicalResult SliceOp::inferTypes(MLIRContext *, Loc loc,
                                        Adaptor adaptor,
                                        SmallVectorImpl<Type> &types) {
  auto input = rankedType(loc, adaptor.getInput(), "input");
  if (failed(input))
    return failure();
  int64_t rank = input->getRank();
  ArrayRef<int64_t> start = adaptor.getStart(), limit = adaptor.getLimit(),
                    stride = adaptor.getStride();
  if (static_cast<int64_t>(start.size()) != rank ||
      static_cast<int64_t>(limit.size()) != rank ||
      static_cast<int64_t>(stride.size()) != rank)
    return emitOptionalError(loc, "start, limit and stride need ", rank,
                             " entries each, one per dimension");
  int64_t runtimeLimits = llvm::count(limit, -1);
  if (runtimeLimits != static_cast<int64_t>(adaptor.getLimits().size()))
    return emitOptionalError(loc, "limit has ", runtimeLimits, " entries of -1 but ",
                             adaptor.getLimits().size(), " runtime limits are given");
  SmallVector<int64_t> shape;
  for (int64_t d = 0; d < rank; ++d) {
    int64_t size = input->getDimSize(d);
    if (ShapedType::isDynamic(size) && limit[d] != -1)
      return emitOptionalError(loc, "dimension ", d,
                               " is symbolic: a slice of it ends at a runtime limit (-1)");
    if (limit[d] == -1) {
      if (start[d] < 0 || (!ShapedType::isDynamic(size) && start[d] > size) || stride[d] < 1)
        return emitOptionalError(loc, "dimension ", d, ": need 0 <= start (", start[d],
                                 ") <= size (", size, ") and a stride of at least 1");
      shape.push_back(ShapedType::kDynamic);
      continue;
    }
    if (start[d] < 0 || start[d] > limit[d] || limit[d] > size)
      return emitOptionalError(loc, "dimension ", d, ": need 0 <= start (",
                               start[d], ") <= limit (", limit[d], ") <= size (",
                               size, ")");
    if (stride[d] < 1)
      return emitOptionalError(loc, "dimension ", d, ": stride ", stride[d],
                               " must be at least 1");
    shape.push_back((limit[d] - start[d] + stride[d] - 1) / stride[d]);
  }
  types.push_back(RankedTensorType::get(shape, input->getElementType()));
  return success();
}

OpFoldResult SliceOp::fold(FoldAdaptor) {
  if (getInput().getType() != getType() ||
      !llvm::all_of(getStart(), [](int64_t s) { return s == 0; }) ||
      !llvm::all_of(getStride(), [](int64_t s) { return s == 1; }))
    return {};
  // A runtime limit takes the whole dimension only where it is its size
  // (a symbolic one may be smaller: a convolution's tap).
  auto limits = getLimits().begin();
  for (auto [d, limit] : llvm::enumerate(getLimit())) {
    if (limit != -1)
      continue;
    auto dim = (*limits++).getDefiningOp<tensor::DimOp>();
    std::optional<int64_t> index = dim ? dim.getConstantIndex() : std::nullopt;
    if (!dim || dim.getSource() != getInput() || index != int64_t(d))
      return {};
  }
  return getInput();
}

LogicalResult PadOp::inferTypes(MLIRContext *, Loc loc, Adaptor adaptor,
                                SmallVectorImpl<Type> &types) {
  auto input = rankedType(loc, adaptor.getInput(), "input");
  if (failed(input))
    return failure();
  int64_t rank = input->getRank();
  ArrayRef<int64_t> low = adaptor.getLow(), high = adaptor.getHigh();
  if (int64_t(low.size()) != rank || int64_t(high.size()) != rank)
    return emitOptionalError(loc, "low and high need ", rank, " entries each, one per dimension");
  for (auto [name, amounts, values] :
       {std::tuple(StringRef("low"), low, adaptor.getLowAmounts().size()),
        std::tuple(StringRef("high"), high, adaptor.getHighAmounts().size())})
    if (size_t(llvm::count_if(amounts, ShapedType::isDynamic)) != values)
      return emitOptionalError(loc, name, " has ", llvm::count_if(amounts, ShapedType::isDynamic),
                               " runtime amounts (?) but ", values, " are given");
  SmallVector<int64_t> shape;
  for (int64_t d = 0; d < rank; ++d) {
    int64_t size = input->getDimSize(d);
    if (ShapedType::isDynamic(size) || ShapedType::isDynamic(low[d]) ||
        ShapedType::isDynamic(high[d])) {
      shape.push_back(ShapedType::kDynamic);
      continue;
    }
    int64_t padded = size + low[d] + high[d];
    if (padded < 0 || (size > 0 && (-low[d] > size || -high[d] > size)))
      return emitOptionalError(loc, "dimension ", d, " of size ", size, " padded by ", low[d],
                               " and ", high[d], " has no size left");
    shape.push_back(padded);
  }
  types.push_back(RankedTensorType::get(shape, input->getElementType()));
  return success();
}

OpFoldResult PadOp::fold(FoldAdaptor) {
  auto zero = [](int64_t amount) { return amount == 0; };
  if (llvm::all_of(getLow(), zero) && llvm::all_of(getHigh(), zero))
    return getInput();
  return {};
}

LogicalResult GatherOp::inferTypes(MLIRContext *, Loc loc,
                                         Adaptor adaptor,
                                         SmallVectorImpl<Type> &types) {
  auto input = rankedType(loc, adaptor.getInput(), "input");
  auto indices = rankedType(loc, adaptor.getIndices(), "indices");
  if (failed(input) || failed(indices))
    return failure();
  auto axis = normalizeAxis(loc, adaptor.getAxis(), input->getRank());
  if (failed(axis))
    return failure();
  SmallVector<int64_t> shape(input->getShape().take_front(*axis));
  llvm::append_range(shape, indices->getShape());
  llvm::append_range(shape, input->getShape().drop_front(*axis + 1));
  types.push_back(RankedTensorType::get(shape, input->getElementType()));
  return success();
}

OpFoldResult ConstantOp::fold(FoldAdaptor) { return getValue(); }

LogicalResult DropoutOp::inferTypes(MLIRContext *, Loc loc,
                                          Adaptor adaptor,
                                          SmallVectorImpl<Type> &types) {
  auto input = rankedType(loc, adaptor.getInput(), "input");
  if (failed(input))
    return failure();
  double rate = adaptor.getRate().convertToDouble();
  if (!(rate >= 0.0 && rate < 1.0))
    return emitOptionalError(loc, "rate must be in [0, 1), got ", number(rate));
  auto counterShape = adaptor.getCounterShape(), counterOffset = adaptor.getCounterOffset();
  if (!counterShape != !counterOffset)
    return emitOptionalError(loc, "counter_shape and counter_offset go together");
  if (counterShape) {
    ArrayRef<int64_t> shape = input->getShape();
    if (int64_t(counterShape->size()) != input->getRank() ||
        int64_t(counterOffset->size()) != input->getRank())
      return emitOptionalError(loc, "counter_shape and counter_offset need one entry per "
                               "dimension of the input ", shapeString(shape));
    for (int64_t d = 0; d < input->getRank(); ++d)
      if (ShapedType::isDynamic((*counterShape)[d])
              ? (*counterOffset)[d] != 0
              : (*counterOffset)[d] < 0 || ShapedType::isDynamic(shape[d]) ||
                    (*counterOffset)[d] + shape[d] > (*counterShape)[d])
        return emitOptionalError(loc, "the input ", shapeString(shape), " at ",
                                 shapeString(*counterOffset), " is not a block of ",
                                 shapeString(*counterShape));
  }
  types.push_back(*input);
  return success();
}

OpFoldResult DropoutOp::fold(FoldAdaptor) {
  if (getRate().isZero())
    return getInput();
  return {};
}

//===----------------------------------------------------------------------===//
// Losses
//===----------------------------------------------------------------------===//

/// Checks that integer `labels` index the rows of `logits` ([..., C] vs [...]).
static LogicalResult checkLabels(Loc loc, RankedTensorType logits, Value labelsValue) {
  auto labels = rankedType(loc, labelsValue, "labels");
  if (failed(labels))
    return failure();
  if (!isa<IntegerType>(labels->getElementType()) ||
      labels->getElementType().getIntOrFloatBitWidth() < 32)
    return emitOptionalError(loc, "labels must be i32 or i64, got ",
                             labels->getElementType());
  if (logits.getRank() < 1 || !sameSizes(labels->getShape(), logits.getShape().drop_back()))
    return emitOptionalError(loc, "labels ", shapeString(labels->getShape()),
                             " must have the shape of the logits without the "
                             "class axis, ",
                             shapeString(logits.getShape().drop_back()));
  return success();
}

LogicalResult CrossEntropyOp::inferTypes(MLIRContext *, Loc loc,
                                               Adaptor adaptor,
                                               SmallVectorImpl<Type> &types) {
  auto logits = rankedType(loc, adaptor.getLogits(), "logits");
  if (failed(logits) || failed(checkLabels(loc, *logits, adaptor.getLabels())))
    return failure();
  pushReduced(adaptor.getReduction(), logits->getShape().drop_back(),
              logits->getElementType(), types);
  return success();
}

LogicalResult MseLossOp::inferTypes(MLIRContext *, Loc loc,
                                          Adaptor adaptor,
                                          SmallVectorImpl<Type> &types) {
  auto input = rankedType(loc, adaptor.getInput(), "input");
  auto target = rankedType(loc, adaptor.getTarget(), "target");
  if (failed(input) || failed(target) ||
      failed(checkSameElementType(loc, *input, *target, "input", "target")) ||
      failed(checkSameShape(loc, *input, *target, "input", "target")))
    return failure();
  pushReduced(adaptor.getReduction(), input->getShape(), input->getElementType(),
              types);
  return success();
}

//===----------------------------------------------------------------------===//
// Distillation
//===----------------------------------------------------------------------===//

/// A rank-0 `grad` of the loss's element type `like`.
static LogicalResult checkScalarGrad(Loc loc, Value gradValue, RankedTensorType like) {
  auto grad = rankedType(loc, gradValue, "grad");
  if (failed(grad))
    return failure();
  if (grad->getRank() != 0 || grad->getElementType() != like.getElementType())
    return emitOptionalError(loc, "grad must be a scalar of the loss's element type ",
                             like.getElementType(), ", got ", *grad);
  return success();
}

/// What kd_loss checks of its logits' types (given, or those of the
/// projections of projected_kd_loss), labels and attributes.
static LogicalResult checkKdLogits(Loc loc, RankedTensorType student, RankedTensorType teacher,
                                   Value labels, double temperature, APFloat alpha) {
  if (failed(checkSameElementType(loc, student, teacher, "student logits", "teacher logits")) ||
      failed(checkSameShape(loc, student, teacher, "student logits", "teacher logits")) ||
      failed(checkPositive(loc, temperature, "temperature")))
    return failure();
  if (student.getRank() < 1)
    return emitOptionalError(loc, "logits need a vocabulary axis");
  if (!isFloatTensor(student))
    return emitOptionalError(loc, "logits must be floating point");
  if (labels)
    return checkLabels(loc, student, labels);
  if (!alpha.isZero())
    return emitOptionalError(loc, "alpha ", number(alpha.convertToDouble()),
                             " weighs a hard-label term, which needs labels");
  return success();
}

/// What kd_loss and its gradient check of their common operands; returns
/// the student logits' type.
static FailureOr<RankedTensorType> checkKdLossOperands(Loc loc, Value studentLogits,
                                                       Value teacherLogits, Value labels,
                                                       double temperature, APFloat alpha) {
  auto student = rankedType(loc, studentLogits, "student logits");
  auto teacher = rankedType(loc, teacherLogits, "teacher logits");
  if (failed(student) || failed(teacher) ||
      failed(checkKdLogits(loc, *student, *teacher, labels, temperature, alpha)))
    return failure();
  return *student;
}

LogicalResult KdLossOp::inferTypes(MLIRContext *, Loc loc, Adaptor adaptor,
                                   SmallVectorImpl<Type> &types) {
  auto student = checkKdLossOperands(loc, adaptor.getStudentLogits(),
                                     adaptor.getTeacherLogits(), adaptor.getLabels(),
                                     adaptor.getTemperature().convertToDouble(),
                                     adaptor.getAlpha());
  if (failed(student))
    return failure();
  pushScalar(*student, types);
  return success();
}

LogicalResult KdLossGradOp::inferTypes(MLIRContext *, Loc loc, Adaptor adaptor,
                                       SmallVectorImpl<Type> &types) {
  auto student = checkKdLossOperands(loc, adaptor.getStudentLogits(),
                                     adaptor.getTeacherLogits(), adaptor.getLabels(),
                                     adaptor.getTemperature().convertToDouble(),
                                     adaptor.getAlpha());
  if (failed(student) || failed(checkScalarGrad(loc, adaptor.getGrad(), *student)))
    return failure();
  types.push_back(*student);
  return success();
}

/// What projected_kd_loss and its gradient check: each side's hidden states
/// [..., D] and weight [V, D], and kd_loss's checks of the logits they make.
/// Returns the student's hidden and weight types.
template <typename Adaptor>
static FailureOr<std::pair<RankedTensorType, RankedTensorType>>
checkProjectedKdOperands(Loc loc, Adaptor adaptor) {
  auto studentHidden = rankedType(loc, adaptor.getStudentHidden(), "student hidden states");
  auto studentWeight = rankedType(loc, adaptor.getStudentWeight(), "student weight");
  auto teacherHidden = rankedType(loc, adaptor.getTeacherHidden(), "teacher hidden states");
  auto teacherWeight = rankedType(loc, adaptor.getTeacherWeight(), "teacher weight");
  if (failed(studentHidden) || failed(studentWeight) || failed(teacherHidden) ||
      failed(teacherWeight))
    return failure();
  auto logitsOf = [&](RankedTensorType hidden, RankedTensorType weight,
                      StringRef side) -> FailureOr<RankedTensorType> {
    if (hidden.getRank() < 1 || weight.getRank() != 2 ||
        !sameSize(weight.getDimSize(1), hidden.getShape().back()))
      return emitOptionalError(loc, side, " weight ", shapeString(weight.getShape()),
                               " must be [vocabulary, ", hidden.getShape().back(),
                               "] for hidden states ", shapeString(hidden.getShape()));
    if (weight.getElementType() != hidden.getElementType())
      return emitOptionalError(loc, side, " hidden states and weight differ in element type");
    SmallVector<int64_t> shape(hidden.getShape().drop_back());
    shape.push_back(weight.getDimSize(0));
    return RankedTensorType::get(shape, hidden.getElementType());
  };
  auto student = logitsOf(*studentHidden, *studentWeight, "student");
  auto teacher = logitsOf(*teacherHidden, *teacherWeight, "teacher");
  if (failed(student) || failed(teacher) ||
      failed(checkKdLogits(loc, *student, *teacher, adaptor.getLabels(),
                           adaptor.getTemperature().convertToDouble(), adaptor.getAlpha())))
    return failure();
  return std::make_pair(*studentHidden, *studentWeight);
}

LogicalResult ProjectedKdLossOp::inferTypes(MLIRContext *, Loc loc, Adaptor adaptor,
                                            SmallVectorImpl<Type> &types) {
  auto student = checkProjectedKdOperands(loc, adaptor);
  if (failed(student))
    return failure();
  pushScalar(student->first, types);
  return success();
}

LogicalResult ProjectedKdLossGradOp::inferTypes(MLIRContext *, Loc loc, Adaptor adaptor,
                                                SmallVectorImpl<Type> &types) {
  auto student = checkProjectedKdOperands(loc, adaptor);
  if (failed(student) || failed(checkScalarGrad(loc, adaptor.getGrad(), student->first)))
    return failure();
  types.push_back(student->first);
  types.push_back(student->second);
  return success();
}

/// What feature_map_loss and its gradient check of their common operands;
/// returns the types of the student and (when given) the projection.
static FailureOr<std::pair<RankedTensorType, RankedTensorType>>
checkFeatureMapOperands(Loc loc, Value studentValue, Value teacherValue, Value projectionValue,
                        double epsilon) {
  auto student = rankedType(loc, studentValue, "student");
  auto teacher = rankedType(loc, teacherValue, "teacher");
  if (failed(student) || failed(teacher) ||
      failed(checkSameElementType(loc, *student, *teacher, "student", "teacher")) ||
      failed(checkPositive(loc, epsilon, "epsilon")))
    return failure();
  if (student->getRank() < 1 || teacher->getRank() != student->getRank() ||
      !sameSizes(student->getShape().drop_back(), teacher->getShape().drop_back()))
    return emitOptionalError(loc, "student ", shapeString(student->getShape()),
                             " and teacher ", shapeString(teacher->getShape()),
                             " must agree on every axis but the hidden (last) one");
  int64_t ds = student->getShape().back(), dt = teacher->getShape().back();
  RankedTensorType projectionType;
  if (projectionValue) {
    auto projection = rankedType(loc, projectionValue, "projection");
    if (failed(projection) ||
        failed(checkSameElementType(loc, *student, *projection, "student",
                                    "projection")))
      return failure();
    if (!sameSizes(projection->getShape(), ArrayRef<int64_t>{ds, dt}))
      return emitOptionalError(loc, "projection ", shapeString(projection->getShape()),
                               " must be [", ds, ", ", dt, "] (student width × teacher width)");
    projectionType = *projection;
  } else if (!sameSize(ds, dt)) {
    return emitOptionalError(loc, "student width ", ds, " differs from teacher width ",
                             dt, "; a projection operand is needed");
  }
  return std::make_pair(*student, projectionType);
}

LogicalResult FeatureMapLossOp::inferTypes(MLIRContext *, Loc loc, Adaptor adaptor,
                                           SmallVectorImpl<Type> &types) {
  auto operands = checkFeatureMapOperands(loc, adaptor.getStudent(), adaptor.getTeacher(),
                                          adaptor.getProjection(),
                                          adaptor.getEpsilon().convertToDouble());
  if (failed(operands))
    return failure();
  pushScalar(operands->first, types);
  return success();
}

LogicalResult FeatureMapLossGradOp::inferTypes(MLIRContext *, Loc loc, Adaptor adaptor,
                                               SmallVectorImpl<Type> &types) {
  auto operands = checkFeatureMapOperands(loc, adaptor.getStudent(), adaptor.getTeacher(),
                                          adaptor.getProjection(),
                                          adaptor.getEpsilon().convertToDouble());
  if (failed(operands) || failed(checkScalarGrad(loc, adaptor.getGrad(), operands->first)))
    return failure();
  types.push_back(operands->first);
  if (operands->second)
    types.push_back(operands->second);
  return success();
}

/// What attention_transfer_loss and its gradient check of their common
/// operands; returns the student query's type.
static FailureOr<RankedTensorType>
checkAttentionOperands(Loc loc, Value studentQuery, Value studentKey, Value teacherQuery,
                       Value teacherKey, Value maskValue) {
  std::pair<Value, StringRef> operands[] = {{studentQuery, "student query"},
                                            {studentKey, "student key"},
                                            {teacherQuery, "teacher query"},
                                            {teacherKey, "teacher key"}};
  SmallVector<RankedTensorType> t;
  for (auto [value, name] : operands) {
    auto type = rankedType(loc, value, name);
    if (failed(type))
      return failure();
    if (type->getRank() != 4)
      return emitOptionalError(loc, name, " ", shapeString(type->getShape()),
                               " must be [batch, heads, tokens, head_dim]");
    if (!t.empty() && failed(checkSameElementType(loc, t.front(), *type,
                                                  "student query", name)))
      return failure();
    t.push_back(*type);
  }
  for (int side = 0; side < 2; ++side) {
    RankedTensorType q = t[2 * side], k = t[2 * side + 1];
    if (!sameSizes(q.getShape(), k.getShape()))
      return emitOptionalError(loc, side ? "teacher" : "student", " query ",
                               shapeString(q.getShape()), " and key ",
                               shapeString(k.getShape()), " must have the same shape");
  }
  if (!sameSizes(t[0].getShape().take_front(3), t[2].getShape().take_front(3)))
    return emitOptionalError(loc, "student ", shapeString(t[0].getShape()),
                             " and teacher ", shapeString(t[2].getShape()),
                             " must agree on batch, heads and tokens");
  if (maskValue) {
    auto mask = rankedType(loc, maskValue, "mask");
    if (failed(mask))
      return failure();
    SmallVector<int64_t> expected{t[0].getDimSize(0), t[0].getDimSize(2)};
    if (!sameSizes(mask->getShape(), expected))
      return emitOptionalError(loc, "mask ", shapeString(mask->getShape()),
                               " must be [batch, tokens] = ", shapeString(expected));
  }
  return t[0];
}

LogicalResult AttentionTransferLossOp::inferTypes(MLIRContext *, Loc loc, Adaptor adaptor,
                                                  SmallVectorImpl<Type> &types) {
  auto query = checkAttentionOperands(loc, adaptor.getStudentQuery(), adaptor.getStudentKey(),
                                      adaptor.getTeacherQuery(), adaptor.getTeacherKey(),
                                      adaptor.getMask());
  if (failed(query))
    return failure();
  pushScalar(*query, types);
  return success();
}

LogicalResult AttentionTransferLossGradOp::inferTypes(MLIRContext *, Loc loc, Adaptor adaptor,
                                                      SmallVectorImpl<Type> &types) {
  auto query = checkAttentionOperands(loc, adaptor.getStudentQuery(), adaptor.getStudentKey(),
                                      adaptor.getTeacherQuery(), adaptor.getTeacherKey(),
                                      adaptor.getMask());
  if (failed(query) || failed(checkScalarGrad(loc, adaptor.getGrad(), *query)))
    return failure();
  types.append({*query, *query}); // the student's query and key share a shape
  return success();
}

LogicalResult TransferProbabilityOp::verify() {
  double slope = getSlope().convertToDouble();
  double offset = getOffset().convertToDouble();
  if (!(slope >= 0.0))
    return emitOpError("slope must be non-negative, got ") << number(slope);
  if (!(offset >= 0.0 && offset <= 1.0))
    return emitOpError("offset must be in [0, 1], got ") << number(offset);
  return success();
}

OpFoldResult BernoulliSelectOp::fold(FoldAdaptor) {
  if (getStudent() == getTeacher())
    return getStudent();
  return {};
}

LogicalResult SgdUpdateOp::verify() {
  double momentum = getMomentum().convertToDouble();
  double decay = getWeightDecay().convertToDouble();
  if (!(momentum >= 0.0))
    return emitOpError("momentum must be non-negative, got ") << number(momentum);
  if (!(decay >= 0.0))
    return emitOpError("weight_decay must be non-negative, got ") << number(decay);
  if (getNesterov() && momentum == 0.0)
    return emitOpError("nesterov needs a positive momentum");
  return success();
}

LogicalResult AdamwUpdateOp::verify() {
  double beta1 = getBeta1().convertToDouble(), beta2 = getBeta2().convertToDouble();
  if (!(beta1 >= 0.0 && beta1 < 1.0))
    return emitOpError("beta1 must be in [0, 1), got ") << number(beta1);
  if (!(beta2 >= 0.0 && beta2 < 1.0))
    return emitOpError("beta2 must be in [0, 1), got ") << number(beta2);
  if (!(getEpsilon().convertToDouble() > 0.0))
    return emitOpError("epsilon must be positive, got ")
           << number(getEpsilon().convertToDouble());
  if (!(getWeightDecay().convertToDouble() >= 0.0))
    return emitOpError("weight_decay must be non-negative, got ")
           << number(getWeightDecay().convertToDouble());
  return success();
}

LogicalResult ScatterAddOp::verify() {
  auto updates = cast<RankedTensorType>(getUpdates().getType());
  auto indices = cast<RankedTensorType>(getIndices().getType());
  auto result = cast<RankedTensorType>(getType());
  if (indices.getRank() != 1)
    return emitOpError("indices must be a vector, got ") << indices;
  if (updates.getRank() < 1 || !sameSize(updates.getDimSize(0), indices.getDimSize(0)))
    return emitOpError("updates must have one row per index, got ") << updates << " and "
                                                                       << indices;
  if (result.getRank() != updates.getRank() ||
      !sameSizes(result.getShape().drop_front(), updates.getShape().drop_front()) ||
      result.getElementType() != updates.getElementType())
    return emitOpError("result ") << result << " must be the updates' rows " << updates
                                  << " stacked along a first dimension";
  if (result.isDynamicDim(0) != bool(getRows()))
    return emitOpError("takes `rows` exactly when its row count is symbolic, got ") << result;
  if (!result.isDynamicDim(0) && result.getDimSize(0) < 1)
    return emitOpError("result needs at least one row");
  return success();
}
