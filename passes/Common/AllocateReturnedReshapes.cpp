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

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/Dominance.h"

namespace ube {
#define GEN_PASS_DEF_UBEALLOCATERETURNEDRESHAPES
#include "passes/Common/Passes.h.inc"
} // namespace ube

using namespace mlir;

namespace {

/// The sizes of `reshape`'s result (an expand_shape's are its operands, a
/// collapse_shape's the products of `alloc`'s sizes over each group), built
/// before `alloc`; none where a symbolic one is not known there.
std::optional<SmallVector<Value>> reshapedSizes(memref::AllocOp alloc, Operation *reshape,
                                                DominanceInfo &dominance) {
  auto shaped = cast<MemRefType>(reshape->getResult(0).getType());
  SmallVector<Value> sizes;
  if (auto expand = dyn_cast<memref::ExpandShapeOp>(reshape)) {
    for (Value size : expand.getOutputShape()) {
      if (!dominance.properlyDominates(size, alloc))
        return std::nullopt;
      sizes.push_back(size);
    }
    return sizes;
  }
  OpBuilder b(alloc);
  Location loc = alloc.getLoc();
  for (auto [d, group] :
       llvm::enumerate(cast<memref::CollapseShapeOp>(reshape).getReassociationIndices())) {
    if (!shaped.isDynamicDim(d))
      continue;
    Value product;
    for (int64_t source : group) {
      Value size = alloc.getType().isDynamicDim(source)
                       ? alloc.getDynamicSizes()[alloc.getType().getDynamicDimIndex(source)]
                       : arith::ConstantIndexOp::create(b, loc, alloc.getType().getDimSize(source));
      product = product ? arith::MulIOp::create(b, loc, product, size) : size;
    }
    sizes.push_back(product);
  }
  return sizes;
}

/// Reallocates `alloc` in `reshape`'s shape (identity-laid-out both, sizes
/// static or symbolic); `alloc`'s users get the inverse reshape of the new
/// buffer. Returns the new buffer, or null when the shapes do not allow it.
Value allocateAsReshaped(memref::AllocOp alloc, Operation *reshape, DominanceInfo &dominance) {
  auto shaped = cast<MemRefType>(reshape->getResult(0).getType());
  if (!shaped.getLayout().isIdentity() || !alloc.getType().getLayout().isIdentity())
    return {};
  std::optional<SmallVector<Value>> sizes = reshapedSizes(alloc, reshape, dominance);
  if (!sizes)
    return {};
  OpBuilder b(alloc);
  auto fresh = memref::AllocOp::create(b, alloc.getLoc(), shaped, *sizes,
                                       alloc.getAlignmentAttr());
  Value view;
  if (auto expand = dyn_cast<memref::ExpandShapeOp>(reshape))
    view = memref::CollapseShapeOp::create(b, alloc.getLoc(), alloc.getType(), fresh,
                                           expand.getReassociationIndices());
  else
    view = memref::ExpandShapeOp::create(
        b, alloc.getLoc(), alloc.getType(), fresh,
        cast<memref::CollapseShapeOp>(reshape).getReassociationIndices(),
        alloc.getMixedSizes());
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
    DominanceInfo dominance(getOperation());
    getOperation().walk([&](func::ReturnOp ret) {
      for (OpOperand &operand : ret->getOpOperands())
        if (memref::AllocOp alloc = reshapedAlloc(operand.get(), ret))
          allocateAsReshaped(alloc, operand.get().getDefiningOp(), dominance);
    });
  }
};

} // namespace
