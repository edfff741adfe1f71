//===- MarkInPlaceUpdates.cpp - results that may overwrite their argument --===//
//
// A training step returns every parameter and optimizer state under the
// name of the input it replaces. Passing the input's buffer as the output's
// makes the update in place (no second set of parameters), which is safe
// when each element is read before it is written and never read again. This
// pass proves that on linalg on tensors, after elementwise fusion (later
// passes only tile ops and give values buffers; they keep the order of the
// function's ops), and records the pairs for the manifest.
//
//===----------------------------------------------------------------------===//

#include "passes/Common/Passes.h"

#include "dialects/ube/UbeDialect.h"

namespace ube {
#define GEN_PASS_DEF_UBEMARKINPLACEUPDATES
#include "passes/Common/Passes.h.inc"
} // namespace ube

using namespace mlir;

namespace {

/// `value` and every value that may share its buffer after bufferization:
/// views (reshapes, slices, casts), selects between it and another tensor
/// (bernoulli_select), results of ops it is the destination of; every
/// tensor result of an op not in destination style, to be safe.
static llvm::SetVector<Value> viewsOf(Value value) {
  llvm::SetVector<Value> views;
  views.insert(value);
  for (size_t i = 0; i < views.size(); ++i)
    for (OpOperand &use : views[i].getUses()) {
      Operation *user = use.getOwner();
      if (auto dps = dyn_cast<DestinationStyleOpInterface>(user)) {
        if (dps.isDpsInit(&use))
          views.insert(dps.getTiedOpResult(&use));
        continue;
      }
      for (Value result : user->getResults())
        if (isa<TensorType>(result.getType()))
          views.insert(result);
    }
  return views;
}

/// Whether result `resultIndex` of `fn` may be written into the buffer of
/// argument `argIndex`; if so, the update gets an initial value of its own
/// (see below).
static bool updateInPlace(func::FuncOp fn, unsigned argIndex, unsigned resultIndex,
                          bool scalarReads) {
  Block &body = fn.front();
  auto ret = cast<func::ReturnOp>(body.getTerminator());
  auto result = dyn_cast<OpResult>(ret.getOperand(resultIndex));
  auto update = result ? dyn_cast<linalg::GenericOp>(result.getOwner()) : nullptr;
  if (!update || update->getBlock() != &body ||
      update.getNumParallelLoops() != update.getNumLoops())
    return false;
  AffineMap written = update.getIndexingMapMatchingResult(result);
  if (!written.isPermutation())
    return false;
  for (Value view : viewsOf(fn.getArgument(argIndex))) {
    for (OpOperand &use : view.getUses()) {
      // A scalar read (tensor.extract) may be repeated later where a target
      // recomputes scalars inside the kernels that use them (cuda).
      if (!scalarReads && isa<tensor::ExtractOp>(use.getOwner()))
        return false;
      Operation *op = body.findAncestorOpInBlock(*use.getOwner());
      if (op == update.getOperation()) {
        // The update itself reads the argument only at the element it writes.
        if (use.getOwner() != op || view != fn.getArgument(argIndex) ||
            update.getMatchingIndexingMap(&use) != written)
          return false;
      } else if (!op || !op->isBeforeInBlock(update)) {
        return false;
      }
    }
  }
  // The result's buffer must be first written by the update itself. A
  // shared `tensor.empty` (CSE merges them) would let bufferization write an
  // earlier, dead value into the same buffer, which then becomes the
  // argument's: the update would read its argument after that write.
  OpOperand *init = update.getDpsInitOperand(result.getResultNumber());
  if (update.payloadUsesValueFromOperand(init))
    return false;
  OpBuilder b(update);
  // Symbolic sizes: the old initial value's.
  auto shared = init->get().getDefiningOp<tensor::EmptyOp>();
  init->set(tensor::EmptyOp::create(
      b, update.getLoc(),
      shared ? shared.getMixedSizes() : tensor::getMixedSizes(b, update.getLoc(), init->get()),
      cast<RankedTensorType>(result.getType()).getElementType()));
  return true;
}

struct UbeMarkInPlaceUpdatesPass
    : ube::impl::UbeMarkInPlaceUpdatesBase<UbeMarkInPlaceUpdatesPass> {
  using Base::Base;
  void runOnOperation() override {
    func::FuncOp fn = getOperation();
    if (fn.isExternal() || !fn.getBody().hasOneBlock())
      return;
    llvm::StringMap<unsigned> arguments;
    for (unsigned i = 0; i < fn.getNumArguments(); ++i)
      if (auto name = fn.getArgAttrOfType<StringAttr>(i, ube::UbeDialect::NameAttrHelper::getNameStr()))
        arguments[name.getValue()] = i;
    SmallVector<int64_t> pairs;
    for (unsigned j = 0; j < fn.getNumResults(); ++j) {
      auto name = fn.getResultAttrOfType<StringAttr>(j, ube::UbeDialect::NameAttrHelper::getNameStr());
      auto it = name ? arguments.find(name.getValue()) : arguments.end();
      if (it == arguments.end() ||
          fn.getArgument(it->second).getType() != fn.getResultTypes()[j])
        continue;
      if (updateInPlace(fn, it->second, j, scalarReads))
        pairs.append({int64_t(j), int64_t(it->second)});
    }
    if (!pairs.empty())
      fn->setAttr(ube::UbeDialect::InPlaceAttrHelper::getNameStr(), DenseI64ArrayAttr::get(fn.getContext(), pairs));
  }
};

} // namespace
