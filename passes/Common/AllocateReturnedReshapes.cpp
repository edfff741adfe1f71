//===- AllocateReturnedReshapes.cpp - returned reshapes as their own buffers -===//
//
// A kernel computes into a buffer of its own shape ([rows, length], [N · C,
// plane]) and the function returns a reshape of it. buffer-results-to-
// out-params makes a returned allocation the caller's output buffer, but a
// returned view gets copied into it: a whole pass over the output. Here the
// buffer is allocated in the returned shape instead and the kernel writes
// through the inverse reshape of it, so the output is written once.
//
//===----------------------------------------------------------------------===//

#include "passes/Common/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"

namespace ube {
#define GEN_PASS_DEF_UBEALLOCATERETURNEDRESHAPES
#include "passes/Common/Passes.h.inc"
} // namespace ube

using namespace mlir;

namespace {

/// Reallocates `alloc` in `reshape`'s shape (static and identity-laid-out
/// both); `alloc`'s users get the inverse reshape of the new buffer.
/// Returns the new buffer, or null when the shapes do not allow it.
Value allocateAsReshaped(memref::AllocOp alloc, Operation *reshape) {
  auto shaped = cast<MemRefType>(reshape->getResult(0).getType());
  if (!shaped.hasStaticShape() || !shaped.getLayout().isIdentity() ||
      !alloc.getType().hasStaticShape() || !alloc.getType().getLayout().isIdentity())
    return {};
  OpBuilder b(alloc);
  auto fresh = memref::AllocOp::create(b, alloc.getLoc(), shaped, alloc.getAlignmentAttr());
  Value view;
  if (auto expand = dyn_cast<memref::ExpandShapeOp>(reshape))
    view = memref::CollapseShapeOp::create(b, alloc.getLoc(), alloc.getType(), fresh,
                                           expand.getReassociationIndices());
  else
    view = memref::ExpandShapeOp::create(
        b, alloc.getLoc(), alloc.getType().getShape(), fresh,
        cast<memref::CollapseShapeOp>(reshape).getReassociationIndices());
  if (view.getType() != alloc.getType()) {
    view.getDefiningOp()->erase();
    fresh.erase();
    return {};
  }
  alloc.replaceAllUsesWith(view);
  alloc.erase();
  reshape->replaceAllUsesWith(ValueRange{fresh});
  reshape->erase();
  return fresh;
}

/// The allocation `value` reshapes, if no other returned value is it or
/// reshapes it.
memref::AllocOp reshapedAlloc(Value value, func::ReturnOp ret) {
  Operation *reshape = value.getDefiningOp();
  if (!isa_and_nonnull<memref::ExpandShapeOp, memref::CollapseShapeOp>(reshape))
    return nullptr;
  auto alloc = reshape->getOperand(0).getDefiningOp<memref::AllocOp>();
  if (!alloc || alloc->getBlock() != ret->getBlock())
    return nullptr;
  for (Operation *user : alloc->getUsers()) {
    if (user == ret)
      return nullptr;
    if (user != reshape && isa<memref::ExpandShapeOp, memref::CollapseShapeOp>(user) &&
        llvm::is_contained(user->getUsers(), ret.getOperation()))
      return nullptr;
  }
  if (llvm::count(ret->getOperands(), value) != 1)
    return nullptr;
  return alloc;
}

struct UbeAllocateReturnedReshapesPass
    : ube::impl::UbeAllocateReturnedReshapesBase<UbeAllocateReturnedReshapesPass> {
  void runOnOperation() override {
    getOperation().walk([](func::ReturnOp ret) {
      for (OpOperand &operand : ret->getOpOperands())
        if (memref::AllocOp alloc = reshapedAlloc(operand.get(), ret))
          allocateAsReshaped(alloc, operand.get().getDefiningOp());
    });
  }
};

} // namespace
