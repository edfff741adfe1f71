//===- OutlineKernels.cpp - ops with regions -> calls of shared kernels ---===//
//
// Each op with regions at the top level of a public function becomes
//
//   func.func private @__ube_F_kernelN(captures...) -> results
//     (internal linkage): the views it reads through, the op, and the
//     insertion of its results where its destination slices came from;
//
// called where the op was. A kernel equal to an earlier one (the same layer
// shape over other weights) is dropped for it. See Passes.td for what the
// kernel takes in and what stays an argument.
//
//===----------------------------------------------------------------------===//

#include "passes/Common/Passes.h"

#include "passes/Utils/EquivalentFunctions.h"

#include "mlir/IR/IRMapping.h"
#include "mlir/Interfaces/LoopLikeInterface.h"
#include "mlir/Transforms/RegionUtils.h"

namespace ube {
#define GEN_PASS_DEF_UBEOUTLINEKERNELS
#include "passes/Common/Passes.h.inc"
} // namespace ube

using namespace mlir;

namespace {

/// Ops that only look at their source's buffer differently.
bool isView(Operation *op) {
  return isa<tensor::ExtractSliceOp, tensor::ExpandShapeOp, tensor::CollapseShapeOp,
             tensor::CastOp>(op);
}

/// Constants a kernel holds itself: scalars and vectors. Tensors (weights)
/// are arguments, so the layers' kernels stay equal.
bool isClonedConstant(Value value) {
  Operation *def = value.getDefiningOp();
  return def && def->hasTrait<OpTrait::ConstantLike>() && !isa<TensorType>(value.getType());
}

/// The op's destinations, each with the result that is written into it.
SmallVector<std::pair<OpOperand *, OpResult>> destinations(Operation *op) {
  SmallVector<std::pair<OpOperand *, OpResult>> tied;
  if (auto dps = dyn_cast<DestinationStyleOpInterface>(op)) {
    for (OpOperand &init : dps.getDpsInitsMutable())
      if (isa<TensorType>(init.get().getType()))
        tied.push_back({&init, dps.getTiedOpResult(&init)});
  } else if (auto loop = dyn_cast<LoopLikeOpInterface>(op)) {
    for (auto [init, result] : llvm::zip(loop.getInitsMutable(), op->getResults()))
      if (isa<TensorType>(init.get().getType()))
        tied.push_back({&init, cast<OpResult>(result)});
  }
  return tied;
}

bool sameSlice(tensor::ExtractSliceOp slice, tensor::InsertSliceOp insert) {
  return slice.getSource() == insert.getDest() &&
         isEqualConstantIntOrValueArray(slice.getMixedOffsets(), insert.getMixedOffsets()) &&
         isEqualConstantIntOrValueArray(slice.getMixedSizes(), insert.getMixedSizes()) &&
         isEqualConstantIntOrValueArray(slice.getMixedStrides(), insert.getMixedStrides());
}

/// A slice of an empty tensor written by `op` and inserted into another
/// empty tensor (whatever lies outside the slice is undefined either way)
/// becomes a slice of an empty tensor of its own, inserted back into it.
/// Other ops' slices of the same empty tensor stay theirs: written in place
/// by several calls, it would be copied before each.
void privatizeEmptySlice(OpOperand &init, tensor::ExtractSliceOp slice,
                         tensor::InsertSliceOp insert) {
  auto from = slice.getSource().getDefiningOp<tensor::EmptyOp>();
  auto into = insert.getDest().getDefiningOp<tensor::EmptyOp>();
  if (!from || !into || from.getType() != into.getType() ||
      (from == into && slice->hasOneUse()))
    return;
  OpBuilder b(init.getOwner());
  Operation *empty = b.clone(*from);
  IRMapping mapping;
  mapping.map(slice.getSource(), empty->getResult(0));
  init.set(b.clone(*slice, mapping)->getResult(0));
  insert.getDestMutable().assign(empty->getResult(0));
  llvm::SmallSetVector<Operation *, 3> unused;
  unused.insert(slice);
  unused.insert(from);
  unused.insert(into);
  for (Operation *op : unused)
    if (op->use_empty())
      op->erase();
}

/// What one op's kernel takes: the ops cloned into it (in block order),
/// its arguments, and the values its results replace.
struct Kernel {
  Operation *op;
  SmallVector<Operation *> ops;       ///< Views, empties, the op, insertions.
  llvm::SetVector<Value> arguments;   ///< Values of the caller's block.
  llvm::SetVector<Value> constants;   ///< Cloned at the kernel's start.
  SmallVector<Value> results;         ///< The caller's values the call replaces.
};

/// The kernel of `op`, or nullopt when it must stay inline (it writes into
/// a view other than a slice it is inserted back into, or allocates a result
/// of symbolic shape).
std::optional<Kernel> gather(Operation *op) {
  Block *block = op->getBlock();
  Kernel kernel{op, {op}, {}, {}, {}};
  llvm::SmallPtrSet<Operation *, 16> inside = {op};
  for (Value result : op->getResults())
    kernel.results.push_back(result);

  // A result of symbolic shape that no destination holds (tensor.pad) would
  // be allocated inside the kernel, where the caller's memory plan cannot
  // size it: the op stays in the caller, which allocates it by its sizes.
  auto tied = destinations(op);
  for (Value result : op->getResults()) {
    auto type = dyn_cast<RankedTensorType>(result.getType());
    if (type && !type.hasStaticShape() &&
        llvm::none_of(tied, [&](auto &pair) { return pair.second == result; }))
      return std::nullopt;
  }

  SmallVector<Value> worklist;
  for (auto [init, result] : tied) {
    Operation *def = init->get().getDefiningOp();
    if (!def || def->getBlock() != block || !isView(def))
      continue;
    // Written in place only as a slice of a whole tensor, inserted back.
    auto slice = dyn_cast<tensor::ExtractSliceOp>(def);
    auto insert = result.hasOneUse() ? dyn_cast<tensor::InsertSliceOp>(*result.user_begin())
                                     : nullptr;
    if (slice && insert) {
      privatizeEmptySlice(*init, slice, insert);
      slice = init->get().getDefiningOp<tensor::ExtractSliceOp>();
    }
    Operation *source = slice ? slice.getSource().getDefiningOp() : nullptr;
    if (!slice || !insert || insert.getSource() != result || insert->getBlock() != block ||
        !sameSlice(slice, insert) || (source && isView(source)))
      return std::nullopt;
    for (Operation *added : {slice.getOperation(), insert.getOperation()})
      if (inside.insert(added).second)
        kernel.ops.push_back(added);
    kernel.results[result.getResultNumber()] = insert.getResult();
    llvm::append_range(worklist, slice->getOperands());
    llvm::append_range(worklist, insert->getOperands());
  }
  for (OpOperand &operand : op->getOpOperands())
    worklist.push_back(operand.get());
  llvm::SetVector<Value> above;
  for (Region &region : op->getRegions())
    getUsedValuesDefinedAbove(region, above);
  llvm::append_range(worklist, above);

  llvm::SmallPtrSet<Value, 32> seen;
  while (!worklist.empty()) {
    Value value = worklist.pop_back_val();
    Operation *def = value.getDefiningOp();
    if (!seen.insert(value).second || (def && inside.contains(def)))
      continue;
    if (isClonedConstant(value)) {
      kernel.constants.insert(value);
      continue;
    }
    bool local = def && def->getBlock() == block;
    // An empty tensor used only in the op's regions is scratch of the
    // kernel's (or its tasks'), not a buffer the caller plans.
    bool scratch = local && isa<tensor::EmptyOp>(def) && above.contains(value) &&
                   llvm::all_of(value.getUsers(),
                                [&](Operation *user) { return op->isProperAncestor(user); });
    if (local && (isView(def) || scratch)) {
      kernel.ops.push_back(def);
      inside.insert(def);
      llvm::append_range(worklist, def->getOperands());
      continue;
    }
    kernel.arguments.insert(value);
  }
  llvm::sort(kernel.ops, [](Operation *a, Operation *b) { return a->isBeforeInBlock(b); });
  return kernel;
}

struct UbeOutlineKernelsPass : ube::impl::UbeOutlineKernelsBase<UbeOutlineKernelsPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    ube::EquivalentFunctions kernels;
    for (auto fn : llvm::to_vector(module.getOps<func::FuncOp>())) {
      if (!fn.isPublic() || fn.isExternal())
        continue;
      SmallVector<Operation *> ops;
      for (Operation &op : fn.getBody().front())
        if (op.getNumRegions() > 0)
          ops.push_back(&op);
      int number = 0;
      for (Operation *op : ops)
        if (std::optional<Kernel> kernel = gather(op))
          outline(*kernel, fn, number, kernels);
    }
  }

  void outline(Kernel &kernel, func::FuncOp parent, int &number,
               ube::EquivalentFunctions &kernels) {
    MLIRContext *context = &getContext();
    Location loc = kernel.op->getLoc();
    OpBuilder b(parent);
    SmallVector<Type> resultTypes;
    for (Value result : kernel.results)
      resultTypes.push_back(result.getType());
    auto fn = func::FuncOp::create(
        b, loc, "__ube_" + parent.getName().str() + "_kernel" + std::to_string(number),
        b.getFunctionType(TypeRange(kernel.arguments.getArrayRef()), resultTypes));
    fn.setPrivate();
    // Read by --convert-func-to-llvm: a kernel is not an entry point.
    fn->setAttr("llvm.linkage", LLVM::LinkageAttr::get(context, LLVM::Linkage::Internal));
    Block *entry = fn.addEntryBlock();
    OpBuilder body = OpBuilder::atBlockBegin(entry);
    IRMapping mapping;
    for (auto [argument, value] : llvm::zip(entry->getArguments(), kernel.arguments))
      mapping.map(value, argument);
    for (Value constant : kernel.constants)
      mapping.map(constant, body.clone(*constant.getDefiningOp())->getResult(0));
    for (Operation *op : kernel.ops)
      body.clone(*op, mapping);
    SmallVector<Value> returned;
    for (Value result : kernel.results)
      returned.push_back(mapping.lookup(result));
    func::ReturnOp::create(body, loc, returned);

    if (func::FuncOp earlier = kernels.find(fn)) {
      fn.erase();
      fn = earlier;
    } else {
      kernels.add(fn);
      ++number;
    }
    b.setInsertionPoint(kernel.op);
    auto call = func::CallOp::create(b, loc, fn, kernel.arguments.getArrayRef());
    for (auto [result, value] : llvm::zip(call.getResults(), kernel.results))
      value.replaceAllUsesWith(result);
    for (Operation *op : llvm::reverse(kernel.ops))
      if (op->use_empty())
        op->erase();
  }
};

} // namespace
