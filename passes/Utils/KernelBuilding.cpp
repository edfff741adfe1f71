//===- KernelBuilding.cpp - helpers of the CPU kernel passes --------------===//

#include "passes/Utils/KernelBuilding.h"

#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;

namespace ube {

GreedyRewriteConfig kernelRewriteConfig() {
  return GreedyRewriteConfig()
      .setRegionSimplificationLevel(GreedySimplifyRegionLevel::Disabled)
      .enableFolding(false);
}

SmallVector<Value> buildLoop(ImplicitLocOpBuilder &b, Value begin, Value end, Value step,
                             ValueRange state, LoopBody body) {
  auto loop = scf::ForOp::create(b, begin, end, step, state,
                                 [&](OpBuilder &nested, Location, Value iv, ValueRange args) {
                                   OpBuilder::InsertionGuard guard(b);
                                   b.setInsertionPoint(nested.getInsertionBlock(),
                                                       nested.getInsertionPoint());
                                   scf::YieldOp::create(b, body(iv, args));
                                 });
  return loop.getResults();
}

bool isAvailableBefore(Value value, Operation *op) {
  if (Operation *def = value.getDefiningOp())
    return def->getBlock() == op->getBlock() && def->isBeforeInBlock(op);
  return cast<BlockArgument>(value).getOwner()->findAncestorOpInBlock(*op) != nullptr;
}

Value reshapeTo(ImplicitLocOpBuilder &b, Value value, ArrayRef<int64_t> shape) {
  auto type = cast<RankedTensorType>(value.getType());
  if (type.getShape() == shape)
    return value;
  auto target = RankedTensorType::get(shape, type.getElementType());
  auto grouping = [](int64_t fromRank, int64_t toRank) {
    // Collapse [a, b, c, v] -> [a*b*c, v]: {{0, 1, 2}, {3}}; to rank 1: {{all}};
    // a scalar has no groups (labels of rank-1 logits).
    SmallVector<ReassociationIndices> groups(toRank);
    for (int64_t i = 0; i < fromRank && toRank > 0; ++i)
      groups[std::max<int64_t>(0, toRank - (fromRank - i))].push_back(i);
    return groups;
  };
  if (type.getRank() > target.getRank())
    return tensor::CollapseShapeOp::create(b, target, value,
                                           grouping(type.getRank(), target.getRank()));
  return tensor::ExpandShapeOp::create(b, target, value,
                                       grouping(target.getRank(), type.getRank()));
}

} // namespace ube
