//===- LaunchPlanBuilder.cpp - a cuda entry point's host side as a plan ---===//

#include "LaunchPlanBuilder.h"

#include "passes/Utils/SizeExprs.h"

#include "dialects/ube/UbeDialect.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/TypeSwitch.h"


using namespace mlir;

namespace ube {
namespace {

using Size = SizeExpr;

/// What a memref descriptor holds besides its pointers.
struct Layout {
  Size offset;
  SmallVector<Size> sizes, strides;
};

/// The element size in bytes of a memref (i1 is a byte).
int64_t elementBytes(MemRefType type) {
  unsigned width = type.getElementTypeBitWidth();
  return width == 1 ? 1 : width / 8;
}

/// Bytes of a dense or resource-backed constant.
FailureOr<std::vector<uint8_t>> constantBytes(Attribute value, Location loc) {
  if (auto resource = dyn_cast<DenseResourceElementsAttr>(value)) {
    AsmResourceBlob *blob = resource.getRawHandle().getBlob();
    if (!blob)
      return emitError(loc) << "constant '" << resource.getRawHandle().getKey()
                            << "' has no data";
    ArrayRef<char> data = blob->getData();
    return std::vector<uint8_t>(data.begin(), data.end());
  }
  auto dense = dyn_cast<DenseElementsAttr>(value);
  if (!dense)
    return emitError(loc) << "unsupported constant kind for the cuda target";
  auto type = cast<ShapedType>(dense.getType());
  unsigned width = type.getElementTypeBitWidth();
  size_t elementBytes = width == 1 ? 1 : width / 8;
  std::vector<uint8_t> bytes(type.getNumElements() * elementBytes);
  for (int64_t i = 0; i < type.getNumElements(); ++i) {
    APInt bits = isa<FloatType>(type.getElementType())
                     ? dense.getValues<APFloat>()[i].bitcastToAPInt()
                     : dense.getValues<APInt>()[i];
    uint64_t raw = bits.getZExtValue();
    for (size_t b = 0; b < elementBytes; ++b)
      bytes[i * elementBytes + b] = uint8_t(raw >> (8 * b));
  }
  return bytes;
}

/// A function's host side, turned into buffers, steps and expressions.
class PlanBuilder {
public:
  PlanBuilder(func::FuncOp fn, std::vector<uint8_t> &constants)
      : fn_(fn), constants_(constants) {}

  FailureOr<LaunchPlan> build();

private:
  // Sizes.
  FailureOr<Size> dimOf(ShapedDimOpInterface dim);
  FailureOr<SmallVector<Size>> rowMajorStrides(ArrayRef<Size> sizes, Operation *at);

  // Buffers.
  size_t addBuffer(LaunchBuffer buffer) {
    plan_.buffers.push_back(buffer);
    return plan_.buffers.size() - 1;
  }
  FailureOr<size_t> bufferOf(Value memref, Operation *user) {
    auto it = buffers_.find(memref);
    if (it == buffers_.end())
      return user->emitOpError("uses a buffer the cuda launch plan cannot follow");
    return it->second;
  }
  LogicalResult addArgument(BlockArgument arg);
  LogicalResult addConstant(memref::GetGlobalOp op);
  LogicalResult addAlloc(Operation *alloc);
  LogicalResult addView(Operation *view);
  FailureOr<Layout> viewLayout(Operation *view, const Layout &source);
  LogicalResult withStaticFields(Value memref, Layout &layout);

  // Steps.
  LogicalResult addLaunch(gpu::LaunchFuncOp launch);
  LogicalResult addCopy(memref::CopyOp copy);

  func::FuncOp fn_;
  std::vector<uint8_t> &constants_;
  LaunchPlan plan_;
  llvm::DenseMap<Value, size_t> buffers_;
  llvm::DenseMap<Value, Layout> layouts_;
  SizeExprBuilder sizes_{"the cuda launch plan",
                         [this](ShapedDimOpInterface dim) { return dimOf(dim); }};
};

/// A buffer's size: what its layout holds.
FailureOr<Size> PlanBuilder::dimOf(ShapedDimOpInterface dim) {
  auto index = getConstantIntValue(dim.getDimension());
  auto layout = layouts_.find(dim.getShapedValue());
  if (!index || layout == layouts_.end())
    return dim.emitOpError("reads a size the cuda launch plan cannot follow");
  return layout->second.sizes[*index];
}

FailureOr<SmallVector<Size>> PlanBuilder::rowMajorStrides(ArrayRef<Size> sizes, Operation *at) {
  SmallVector<Size> strides(sizes.size(), Size{1});
  for (int64_t d = int64_t(sizes.size()) - 2; d >= 0; --d) {
    auto s = sizes_.apply(PlanExpr::MulI, strides[d + 1], sizes[d + 1], at);
    if (failed(s))
      return failure();
    strides[d] = *s;
  }
  return strides;
}

LogicalResult PlanBuilder::addArgument(BlockArgument arg) {
  auto type = dyn_cast<MemRefType>(arg.getType());
  if (!type)
    return fn_.emitOpError("argument ") << arg.getArgNumber() << " is not a buffer";
  buffers_[arg] = addBuffer({LaunchBuffer::Argument, arg.getArgNumber(), 0});
  // Symbolic sizes are the symbols 'ube.dims' names, in order.
  auto symbols = fn_->getAttrOfType<ArrayAttr>(UbeDialect::SymbolsAttrHelper::getNameStr());
  auto dims = fn_.getArgAttrOfType<ArrayAttr>(arg.getArgNumber(),
                                              UbeDialect::DimsAttrHelper::getNameStr());
  Layout layout;
  unsigned next = 0;
  for (int64_t size : type.getShape()) {
    if (!ShapedType::isDynamic(size)) {
      layout.sizes.push_back(Size{size});
      continue;
    }
    std::optional<unsigned> symbol;
    if (symbols && dims && next < dims.size())
      for (auto [k, s] : llvm::enumerate(symbols.getAsRange<DimSymbolAttr>()))
        if (s.getName() == cast<StringAttr>(dims[next]).getValue())
          symbol = k;
    if (!symbol)
      return fn_.emitOpError("argument ")
             << arg.getArgNumber() << " has a size that no symbol of 'ube.symbols' names";
    ++next;
    layout.sizes.push_back(sizes_.symbol(*symbol));
  }
  if (!type.getLayout().isIdentity())
    return fn_.emitOpError("argument ") << arg.getArgNumber() << " is not a dense buffer";
  auto strides = rowMajorStrides(layout.sizes, fn_);
  if (failed(strides))
    return failure();
  layout.strides = std::move(*strides);
  layouts_[arg] = std::move(layout);
  return success();
}

LogicalResult PlanBuilder::addConstant(memref::GetGlobalOp op) {
  auto global = SymbolTable::lookupNearestSymbolFrom<memref::GlobalOp>(op, op.getNameAttr());
  if (!global || !global.getInitialValue())
    return op.emitOpError("refers to a global without a value");
  auto bytes = constantBytes(*global.getInitialValue(), op.getLoc());
  if (failed(bytes))
    return failure();
  constants_.resize((constants_.size() + 255) / 256 * 256);
  size_t offset = constants_.size();
  constants_.insert(constants_.end(), bytes->begin(), bytes->end());
  buffers_[op.getResult()] = addBuffer({LaunchBuffer::Constant, offset, bytes->size()});
  Layout layout;
  return withStaticFields(op.getResult(), layout);
}

LogicalResult PlanBuilder::addAlloc(Operation *alloc) {
  Value result = alloc->getResult(0);
  auto type = cast<MemRefType>(result.getType());
  if (!type.getLayout().isIdentity())
    return alloc->emitOpError("allocates a strided buffer");
  Layout layout;
  ValueRange dynamicSizes = isa<memref::AllocOp>(alloc)
                                ? cast<memref::AllocOp>(alloc).getDynamicSizes()
                                : cast<memref::AllocaOp>(alloc).getDynamicSizes();
  unsigned next = 0;
  for (int64_t size : type.getShape()) {
    FailureOr<Size> s = ShapedType::isDynamic(size) ? sizes_.valueOf(dynamicSizes[next++], alloc)
                                                    : FailureOr<Size>(Size{size});
    if (failed(s))
      return failure();
    layout.sizes.push_back(*s);
  }
  auto strides = rowMajorStrides(layout.sizes, alloc);
  auto elements = sizes_.product(layout.sizes, alloc);
  if (failed(strides) || failed(elements))
    return failure();
  auto bytes = sizes_.apply(PlanExpr::MulI, *elements, Size{elementBytes(type)}, alloc);
  if (failed(bytes))
    return failure();
  layout.strides = std::move(*strides);
  buffers_[result] = addBuffer({LaunchBuffer::Temporary, 0, uint64_t(bytes->constant),
                                bytes->isConstant() ? kStatic : bytes->expr});
  layouts_[result] = std::move(layout);
  return success();
}

/// Fills `layout` from `memref`'s type where the type is static: sizes,
/// strides and offset it states need no expression.
LogicalResult PlanBuilder::withStaticFields(Value memref, Layout &layout) {
  auto type = cast<MemRefType>(memref.getType());
  SmallVector<int64_t> strides;
  int64_t offset;
  if (failed(type.getStridesAndOffset(strides, offset)))
    return memref.getDefiningOp()->emitOpError("has a layout the cuda target cannot pass");
  layout.sizes.resize(type.getRank());
  layout.strides.resize(type.getRank());
  for (int64_t d = 0; d < type.getRank(); ++d) {
    if (!type.isDynamicDim(d))
      layout.sizes[d] = Size{type.getDimSize(d)};
    if (!ShapedType::isDynamic(strides[d]))
      layout.strides[d] = Size{strides[d]};
  }
  if (!ShapedType::isDynamic(offset))
    layout.offset = Size{offset};
  layouts_[memref] = layout;
  return success();
}

FailureOr<Layout> PlanBuilder::viewLayout(Operation *view, const Layout &source) {
  auto fail = [&]() -> FailureOr<Layout> { return failure(); };
  auto values = [&](ArrayRef<OpFoldResult> list) -> FailureOr<SmallVector<Size>> {
    SmallVector<Size> out;
    for (OpFoldResult v : list) {
      auto s = sizes_.valueOf(v, view);
      if (failed(s))
        return failure();
      out.push_back(*s);
    }
    return out;
  };
  Layout layout;
  if (isa<memref::CastOp>(view))
    return source;
  if (auto cast = dyn_cast<memref::ReinterpretCastOp>(view)) {
    auto offset = sizes_.valueOf(cast.getMixedOffsets()[0], view);
    auto sizes = values(cast.getMixedSizes()), strides = values(cast.getMixedStrides());
    if (failed(offset) || failed(sizes) || failed(strides))
      return fail();
    return Layout{*offset, std::move(*sizes), std::move(*strides)};
  }
  if (auto subview = dyn_cast<memref::SubViewOp>(view)) {
    auto offsets = values(subview.getMixedOffsets()), sizes = values(subview.getMixedSizes()),
         steps = values(subview.getMixedStrides());
    if (failed(offsets) || failed(sizes) || failed(steps))
      return fail();
    llvm::SmallBitVector dropped = subview.getDroppedDims();
    layout.offset = source.offset;
    for (size_t d = 0; d < offsets->size(); ++d) {
      auto moved = sizes_.apply(PlanExpr::MulI, (*offsets)[d], source.strides[d], view);
      if (failed(moved))
        return fail();
      auto offset = sizes_.apply(PlanExpr::AddI, layout.offset, *moved, view);
      auto stride = sizes_.apply(PlanExpr::MulI, source.strides[d], (*steps)[d], view);
      if (failed(offset) || failed(stride))
        return fail();
      layout.offset = *offset;
      if (!dropped.test(d)) {
        layout.sizes.push_back((*sizes)[d]);
        layout.strides.push_back(*stride);
      }
    }
    return layout;
  }
  if (auto collapse = dyn_cast<memref::CollapseShapeOp>(view)) {
    // A collapsed group is contiguous: its stride is its innermost one's.
    layout.offset = source.offset;
    for (ReassociationIndices group : collapse.getReassociationIndices()) {
      SmallVector<Size> sizes;
      for (int64_t d : group)
        sizes.push_back(source.sizes[d]);
      auto size = sizes_.product(sizes, view);
      if (failed(size))
        return fail();
      layout.sizes.push_back(*size);
      layout.strides.push_back(source.strides[group.back()]);
    }
    return layout;
  }
  auto expand = cast<memref::ExpandShapeOp>(view);
  auto sizes = values(expand.getMixedOutputShape());
  if (failed(sizes))
    return fail();
  layout.offset = source.offset;
  layout.sizes = *sizes;
  layout.strides.resize(sizes->size());
  for (auto [d, group] : llvm::enumerate(expand.getReassociationIndices())) {
    Size stride = source.strides[d];
    for (int64_t j : llvm::reverse(group)) {
      layout.strides[j] = stride;
      if (j == group.front())
        break;
      auto next = sizes_.apply(PlanExpr::MulI, stride, (*sizes)[j], view);
      if (failed(next))
        return fail();
      stride = *next;
    }
  }
  return layout;
}

LogicalResult PlanBuilder::addView(Operation *view) {
  // A view reads its source's buffer; its layout travels in the descriptor.
  Value source = view->getOperand(0);
  auto root = bufferOf(source, view);
  if (failed(root))
    return failure();
  buffers_[view->getResult(0)] = *root;
  auto layout = viewLayout(view, layouts_.at(source));
  if (failed(layout))
    return failure();
  // What the result type states is exact (a cast may make a size static).
  return withStaticFields(view->getResult(0), *layout);
}

LogicalResult PlanBuilder::addLaunch(gpu::LaunchFuncOp launch) {
  LaunchStep step;
  step.module = launch.getKernelModuleName().str();
  step.kernel = launch.getKernelName().str();
  auto integer = [](LaunchArg::Kind kind, Size s) {
    LaunchArg arg{kind, 0, uint64_t(s.constant)};
    arg.expr = s.expr;
    return arg;
  };
  for (Value operand : launch.getKernelOperands()) {
    Type type = operand.getType();
    if (isa<MemRefType>(type)) {
      auto buffer = bufferOf(operand, launch);
      if (failed(buffer))
        return failure();
      // The memref descriptor, field by field: allocated and aligned
      // pointer, offset, sizes, strides.
      const Layout &layout = layouts_.at(operand);
      step.args.push_back({LaunchArg::Pointer, *buffer, 0});
      step.args.push_back({LaunchArg::Pointer, *buffer, 0});
      step.args.push_back(integer(LaunchArg::I64, layout.offset));
      for (Size size : layout.sizes)
        step.args.push_back(integer(LaunchArg::I64, size));
      for (Size stride : layout.strides)
        step.args.push_back(integer(LaunchArg::I64, stride));
      continue;
    }
    if (type.isIndex() || isa<IntegerType>(type)) {
      auto value = sizes_.valueOf(operand, launch);
      if (failed(value))
        return failure();
      unsigned width = type.isIndex() ? 64 : type.getIntOrFloatBitWidth();
      step.args.push_back(integer(width <= 32 ? LaunchArg::I32 : LaunchArg::I64, *value));
      continue;
    }
    FloatAttr f;
    if (!matchPattern(operand, m_Constant(&f)))
      return launch.emitOpError("passes a kernel argument computed on the host");
    // As bit patterns: JSON has no inf or NaN (a max-reduction starts at -inf).
    if (!f.getType().isF32() && !f.getType().isF64())
      return launch.emitOpError("passes a scalar of type ") << f.getType();
    step.args.push_back({f.getType().isF32() ? LaunchArg::F32 : LaunchArg::F64, 0,
                         f.getValue().bitcastToAPInt().getZExtValue()});
  }
  Value grid[3] = {launch.getGridSizeX(), launch.getGridSizeY(), launch.getGridSizeZ()};
  Value block[3] = {launch.getBlockSizeX(), launch.getBlockSizeY(), launch.getBlockSizeZ()};
  for (int d = 0; d < 3; ++d) {
    auto size = sizes_.valueOf(grid[d], launch);
    if (failed(size))
      return failure();
    step.grid[d] = unsigned(size->constant);
    step.gridExpr[d] = size->expr;
    auto threads = getConstantIntValue(block[d]);
    if (!threads)
      return launch.emitOpError("needs a constant block size for the cuda target");
    step.block[d] = unsigned(*threads);
  }
  plan_.steps.push_back(std::move(step));
  return success();
}

LogicalResult PlanBuilder::addCopy(memref::CopyOp copy) {
  auto src = bufferOf(copy.getSource(), copy), dst = bufferOf(copy.getTarget(), copy);
  if (failed(src) || failed(dst))
    return failure();
  // Dense buffers only: an identity layout, or static strides that are.
  auto dense = [](Value v) {
    auto type = cast<MemRefType>(v.getType());
    SmallVector<int64_t> strides;
    int64_t offset;
    return type.getLayout().isIdentity() ||
           (succeeded(type.getStridesAndOffset(strides, offset)) && type.hasStaticShape() &&
            type.areTrailingDimsContiguous(type.getRank()));
  };
  if (!dense(copy.getSource()) || !dense(copy.getTarget()))
    return copy.emitOpError("copies a non-contiguous buffer on the host");
  auto bytes = [&](Value v, Size elements) {
    return sizes_.apply(PlanExpr::MulI, elements, Size{elementBytes(cast<MemRefType>(v.getType()))},
                 copy);
  };
  const Layout &from = layouts_.at(copy.getSource()), &to = layouts_.at(copy.getTarget());
  auto elements = sizes_.product(from.sizes, copy);
  if (failed(elements))
    return failure();
  auto size = bytes(copy.getSource(), *elements);
  auto srcOffset = bytes(copy.getSource(), from.offset);
  auto dstOffset = bytes(copy.getTarget(), to.offset);
  if (failed(size) || failed(srcOffset) || failed(dstOffset))
    return failure();
  LaunchStep step;
  step.kind = LaunchStep::Copy;
  step.src = *src;
  step.dst = *dst;
  step.srcOffset = uint64_t(srcOffset->constant);
  step.srcOffsetExpr = srcOffset->expr;
  step.dstOffset = uint64_t(dstOffset->constant);
  step.dstOffsetExpr = dstOffset->expr;
  step.bytes = uint64_t(size->constant);
  step.bytesExpr = size->expr;
  plan_.steps.push_back(std::move(step));
  return success();
}

FailureOr<LaunchPlan> PlanBuilder::build() {
  for (BlockArgument arg : fn_.getArguments())
    if (failed(addArgument(arg)))
      return failure();
  for (Operation &op : fn_.getBody().front()) {
    LogicalResult result =
        llvm::TypeSwitch<Operation *, LogicalResult>(&op)
            .Case([&](memref::GetGlobalOp g) { return addConstant(g); })
            .Case<memref::AllocOp, memref::AllocaOp>([&](Operation *a) { return addAlloc(a); })
            .Case<memref::CollapseShapeOp, memref::ExpandShapeOp, memref::SubViewOp,
                  memref::ReinterpretCastOp, memref::CastOp>(
                [&](Operation *view) { return addView(view); })
            .Case([&](gpu::LaunchFuncOp launch) { return addLaunch(launch); })
            .Case([&](memref::CopyOp copy) { return addCopy(copy); })
            .Case<memref::DeallocOp, func::ReturnOp>([](Operation *) { return success(); })
            .Default([&](Operation *other) -> LogicalResult {
              // Sizes are evaluated where a step uses them.
              if (isMemoryEffectFree(other) && other->getNumRegions() == 0)
                return success();
              return other->emitOpError("is not supported on the host side of the cuda "
                                        "target yet");
            });
    if (failed(result))
      return failure();
  }
  plan_.exprs = sizes_.takeExprs();
  return std::move(plan_);
}

} // namespace

FailureOr<LaunchPlan> buildLaunchPlan(func::FuncOp fn, std::vector<uint8_t> &constants) {
  return PlanBuilder(fn, constants).build();
}

} // namespace ube
