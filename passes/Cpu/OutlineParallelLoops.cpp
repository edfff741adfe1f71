//===- OutlineParallelLoops.cpp - scf.forall -> task function + dispatch --===//
//
// Each outermost bufferized scf.forall becomes
//
//   func.func private @F_taskN(%begin: index, %end: index, captures...)
//     (internal linkage): for i in [begin, end): the body at the forall's
//     indices delinearized from i;
//   func.func private @F_dispatchN(%count: index, captures...)
//     a declaration marked `ube.parallel_task = "F_taskN"`, which
//     --ube-cpu-emit-parallel-dispatch defines once in the LLVM dialect: it hands
//     the task and its captures to the runtime's thread pool;
//
// and the loop is replaced by a call of the dispatch. Captures travel as
// bare pointers (memrefs with a static shape and the identity layout) or
// 8-byte scalars. Any other memref (a strided view: a chunk or a row block
// of a larger buffer; a buffer of symbolic shape) travels as its base
// buffer's pointer plus its dynamic offset, sizes and strides, and is
// rebuilt in the task with memref.reinterpret_cast. Dynamic bounds travel
// as scalars too; the call computes the iteration count. A loop capturing
// anything else stays a loop (--scf-forall-to-for runs it serially).
// Constants are cloned into the task.
// A loop whose task would be the same as an earlier one (same signature and
// body: the same layer shape over other buffers) calls the earlier dispatch.
//
//===----------------------------------------------------------------------===//

#include "passes/Cpu/Passes.h"

#include "dialects/ube/UbeDialect.h"
#include "passes/Utils/EquivalentFunctions.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Transforms/RegionUtils.h"

namespace ube {
#define GEN_PASS_DEF_UBECPUOUTLINEPARALLELLOOPS
#include "passes/Cpu/Passes.h.inc"
} // namespace ube

using namespace mlir;

namespace {

/// Whether `value` can be passed to a task through an 8-byte slot.
bool isPassable(Value value) {
  Type type = value.getType();
  if (auto memref = dyn_cast<MemRefType>(type))
    return memref.hasStaticShape() && memref.getLayout().isIdentity();
  if (type.isIndex())
    return true;
  return type.isIntOrFloat() && type.getIntOrFloatBitWidth() <= 64;
}

/// Whether `value` is a memref that a task rebuilds from its base buffer,
/// offset, sizes and strides: a strided view, or a buffer of dynamic shape.
bool isRebuiltView(Value value) {
  auto memref = dyn_cast<MemRefType>(value.getType());
  if (!memref || memref.getRank() == 0 || isPassable(value))
    return false;
  return memref.getLayout().isIdentity() || isa<StridedLayoutAttr>(memref.getLayout());
}

/// The iterations of [lb, ub) by `step` (0 when ub <= lb): a constant when
/// all three are, else computed at `b`'s insertion point from `value`s.
OpFoldResult tripCount(OpBuilder &b, Location loc, OpFoldResult lb, OpFoldResult ub,
                       OpFoldResult step, function_ref<Value(OpFoldResult)> value) {
  std::optional<int64_t> l = getConstantIntValue(lb), u = getConstantIntValue(ub),
                         s = getConstantIntValue(step);
  if (l && u && s)
    return b.getIndexAttr(*u > *l ? (*u - *l + *s - 1) / *s : 0);
  Value span = arith::SubIOp::create(b, loc, value(ub), value(lb));
  Value rounded = arith::AddIOp::create(
      b, loc, span, arith::SubIOp::create(b, loc, value(step), value(b.getIndexAttr(1))));
  Value trips = arith::DivSIOp::create(b, loc, rounded, value(step));
  return arith::MaxSIOp::create(b, loc, trips, value(b.getIndexAttr(0))).getResult();
}

struct UbeCpuOutlineParallelLoopsPass
    : ube::impl::UbeCpuOutlineParallelLoopsBase<UbeCpuOutlineParallelLoopsPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    tasks_ = {};
    dispatches_.clear();
    SmallVector<scf::ForallOp> loops;
    module.walk([&](scf::ForallOp loop) {
      if (!loop->getParentOfType<scf::ForallOp>() && loop.getNumResults() == 0)
        loops.push_back(loop);
    });
    llvm::DenseMap<func::FuncOp, int> counts;
    for (scf::ForallOp loop : loops) {
      auto parent = loop->getParentOfType<func::FuncOp>();
      if (failed(outline(loop, parent, counts[parent])))
        continue;
      ++counts[parent];
    }
  }

  /// Outlined tasks, to find an earlier one that does what a new one does:
  /// layers of the same shape give the same loops over other buffers. One
  /// task each would make LLVM compile the same code once per layer.
  ube::EquivalentFunctions tasks_;
  /// Each outlined task's dispatch.
  llvm::DenseMap<func::FuncOp, func::FuncOp> dispatches_;

  LogicalResult outline(scf::ForallOp loop, func::FuncOp parent, int number) {
    // Bounds and steps, each a constant or a value of the parent.
    SmallVector<OpFoldResult> lbs = loop.getMixedLowerBound(), ubs = loop.getMixedUpperBound(),
                              steps = loop.getMixedStep();
    int64_t staticCount = 1;
    bool isStatic = true;
    for (auto [lb, ub, step] : llvm::zip(lbs, ubs, steps)) {
      std::optional<int64_t> l = getConstantIntValue(lb), u = getConstantIntValue(ub),
                             s = getConstantIntValue(step);
      if (!l || !u || !s) {
        isStatic = false;
        continue;
      }
      staticCount *= *u > *l ? (*u - *l + *s - 1) / *s : 0;
    }
    if (isStatic && staticCount < 2)
      return failure();

    llvm::SetVector<Value> above;
    getUsedValuesDefinedAbove(loop.getRegion(), above);
    SmallVector<Value> captures, constants, views;
    for (Value value : above) {
      Operation *def = value.getDefiningOp();
      if (def && def->hasTrait<OpTrait::ConstantLike>())
        constants.push_back(value);
      else if (isPassable(value))
        captures.push_back(value);
      else if (isRebuiltView(value))
        views.push_back(value);
      else
        return failure();
    }

    MLIRContext *context = &getContext();
    OpBuilder b(parent);
    Location loc = loop.getLoc();
    // Dynamic bounds and steps are captured like any scalar.
    for (OpFoldResult bound : llvm::concat<OpFoldResult>(lbs, ubs, steps))
      if (auto value = dyn_cast<Value>(bound); value && !above.contains(value)) {
        above.insert(value);
        captures.push_back(value);
      }
    // Each view's base buffer, then its dynamic offset, sizes and strides.
    struct ViewCapture {
      Value view;
      unsigned base;
      /// Offset (if dynamic), then sizes, then strides.
      SmallVector<unsigned> dynamic;
    };
    SmallVector<ViewCapture> viewCaptures;
    OpBuilder before(loop);
    for (Value view : views) {
      auto metadata = memref::ExtractStridedMetadataOp::create(before, loc, view);
      auto type = cast<MemRefType>(view.getType());
      auto [strides, offset] = type.getStridesAndOffset();
      ViewCapture capture{view, unsigned(captures.size()), {}};
      captures.push_back(metadata.getBaseBuffer());
      auto captureIfDynamic = [&](int64_t value, Value runtime) {
        if (!ShapedType::isDynamic(value))
          return;
        capture.dynamic.push_back(captures.size());
        captures.push_back(runtime);
      };
      captureIfDynamic(offset, metadata.getOffset());
      for (auto [d, size] : llvm::enumerate(type.getShape()))
        captureIfDynamic(size, metadata.getSizes()[d]);
      for (auto [d, stride] : llvm::enumerate(strides))
        captureIfDynamic(stride, metadata.getStrides()[d]);
      viewCaptures.push_back(std::move(capture));
    }
    Type indexType = b.getIndexType();
    // Kernels (--ube-outline-kernels) are named __ube_* already.
    std::string prefix = parent.getName().str();
    if (!parent.getName().starts_with("__ube_"))
      prefix = "__ube_" + prefix;
    std::string taskName = prefix + "_task" + std::to_string(number);
    std::string dispatchName = prefix + "_dispatch" + std::to_string(number);

    SmallVector<Type> taskInputs = {indexType, indexType};
    for (Value capture : captures)
      taskInputs.push_back(capture.getType());
    auto task = func::FuncOp::create(b, loc, taskName, b.getFunctionType(taskInputs, {}));
    task.setPrivate();
    // Read by --convert-func-to-llvm: the task is not an entry point.
    task->setAttr("llvm.linkage",
                  LLVM::LinkageAttr::get(context, LLVM::Linkage::Internal));
    Block *entry = task.addEntryBlock();
    OpBuilder body = OpBuilder::atBlockBegin(entry);
    IRMapping mapping;
    for (Value constant : constants)
      mapping.map(constant, body.clone(*constant.getDefiningOp())->getResult(0));
    for (auto [i, capture] : llvm::enumerate(captures))
      mapping.map(capture, entry->getArgument(i + 2));
    for (const ViewCapture &capture : viewCaptures) {
      auto type = cast<MemRefType>(capture.view.getType());
      auto [staticStrides, staticOffset] = type.getStridesAndOffset();
      const unsigned *dynamic = capture.dynamic.begin();
      auto fold = [&](int64_t value) -> OpFoldResult {
        if (!ShapedType::isDynamic(value))
          return body.getIndexAttr(value);
        return entry->getArgument(2 + *dynamic++);
      };
      OpFoldResult offset = fold(staticOffset);
      SmallVector<OpFoldResult> sizes, strides;
      for (int64_t size : type.getShape())
        sizes.push_back(fold(size));
      for (int64_t stride : staticStrides)
        strides.push_back(fold(stride));
      mapping.map(capture.view,
                  memref::ReinterpretCastOp::create(body, loc, type,
                                                    entry->getArgument(2 + capture.base),
                                                    offset, sizes, strides)
                      .getResult());
    }
    Value one = arith::ConstantIndexOp::create(body, loc, 1);
    auto serial = scf::ForOp::create(body, loc, entry->getArgument(0), entry->getArgument(1), one);
    func::ReturnOp::create(body, loc);
    body.setInsertionPointToStart(serial.getBody());
    // Row-major: the last forall dimension varies fastest.
    auto inTask = [&](OpFoldResult value) -> Value {
      if (auto runtime = dyn_cast<Value>(value))
        return mapping.lookup(runtime);
      return arith::ConstantIndexOp::create(body, loc, *getConstantIntValue(value));
    };
    Value rest = serial.getInductionVar();
    SmallVector<Value> ivs(lbs.size());
    for (int64_t d = lbs.size() - 1; d >= 0; --d) {
      Value position = rest;
      if (d > 0) {
        Value trip = getValueOrCreateConstantIndexOp(
            body, loc, tripCount(body, loc, lbs[d], ubs[d], steps[d], inTask));
        position = arith::RemUIOp::create(body, loc, rest, trip);
        rest = arith::DivUIOp::create(body, loc, rest, trip);
      }
      if (!isConstantIntValue(steps[d], 1))
        position = arith::MulIOp::create(body, loc, position, inTask(steps[d]));
      if (!isConstantIntValue(lbs[d], 0))
        position = arith::AddIOp::create(body, loc, position, inTask(lbs[d]));
      ivs[d] = position;
    }
    for (auto [iv, value] : llvm::zip(loop.getInductionVars(), ivs))
      mapping.map(iv, value);
    for (Operation &op : loop.getBody()->without_terminator())
      body.clone(op, mapping);

    func::FuncOp dispatch;
    if (func::FuncOp earlier = tasks_.find(task)) {
      dispatch = dispatches_.lookup(earlier);
      task.erase();
    } else {
      SmallVector<Type> dispatchInputs = {indexType};
      for (Value capture : captures)
        dispatchInputs.push_back(capture.getType());
      b.setInsertionPoint(parent);
      dispatch =
          func::FuncOp::create(b, loc, dispatchName, b.getFunctionType(dispatchInputs, {}));
      dispatch.setPrivate();
      dispatch->setAttr(ube::UbeDialect::ParallelTaskAttrHelper::getNameStr(), b.getStringAttr(taskName));
      tasks_.add(task);
      dispatches_[task] = dispatch;
    }

    b.setInsertionPoint(loop);
    auto value = [&](OpFoldResult v) { return getValueOrCreateConstantIndexOp(b, loc, v); };
    OpFoldResult count = b.getIndexAttr(1);
    for (auto [lb, ub, step] : llvm::zip(lbs, ubs, steps)) {
      OpFoldResult trips = tripCount(b, loc, lb, ub, step, value);
      std::optional<int64_t> a = getConstantIntValue(count), c = getConstantIntValue(trips);
      count = a && c ? OpFoldResult(b.getIndexAttr(*a * *c))
                     : OpFoldResult(arith::MulIOp::create(b, loc, value(count), value(trips))
                                        .getResult());
    }
    SmallVector<Value> operands = {value(count)};
    llvm::append_range(operands, captures);
    func::CallOp::create(b, loc, dispatch, operands);
    loop.erase();
    return success();
  }
};

} // namespace
