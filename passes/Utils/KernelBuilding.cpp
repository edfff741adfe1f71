//===- KernelBuilding.cpp - helpers of the CPU kernel passes --------------===//

#include "passes/Utils/KernelBuilding.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
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

Value reshapeTo(ImplicitLocOpBuilder &b, Value value, ArrayRef<OpFoldResult> shape) {
  auto type = cast<RankedTensorType>(value.getType());
  SmallVector<int64_t> staticShape;
  for (OpFoldResult size : shape)
    staticShape.push_back(getConstantIntValue(size).value_or(ShapedType::kDynamic));
  if (type.getRank() >= static_cast<int64_t>(shape.size()) ||
      llvm::count(staticShape, ShapedType::kDynamic) == 0)
    return reshapeTo(b, value, staticShape);
  auto target = RankedTensorType::get(staticShape, type.getElementType());
  SmallVector<ReassociationIndices> groups(type.getRank());
  int64_t extra = target.getRank() - type.getRank();
  for (int64_t i = 0; i < target.getRank(); ++i)
    groups[std::max<int64_t>(0, i - extra)].push_back(i);
  return tensor::ExpandShapeOp::create(b, target, value, groups, shape);
}

OpFoldResult mulSizes(OpBuilder &b, Location loc, OpFoldResult x, OpFoldResult y) {
  auto cx = getConstantIntValue(x), cy = getConstantIntValue(y);
  if (cx && cy)
    return b.getIndexAttr(*cx * *cy);
  if (cx == 1)
    return y;
  if (cy == 1)
    return x;
  return arith::MulIOp::create(b, loc, getValueOrCreateConstantIndexOp(b, loc, x),
                               getValueOrCreateConstantIndexOp(b, loc, y))
      .getResult();
}

Value IndexMath::c(int64_t value) { return arith::ConstantIndexOp::create(b, value); }
Value IndexMath::add(Value x, Value y) { return b.createOrFold<arith::AddIOp>(x, y); }
Value IndexMath::sub(Value x, Value y) { return b.createOrFold<arith::SubIOp>(x, y); }
Value IndexMath::mul(Value x, Value y) { return b.createOrFold<arith::MulIOp>(x, y); }
Value IndexMath::div(Value x, Value y) { return b.createOrFold<arith::DivUIOp>(x, y); }
Value IndexMath::rem(Value x, Value y) { return b.createOrFold<arith::RemUIOp>(x, y); }
Value IndexMath::ceilDiv(Value x, Value y) { return b.createOrFold<arith::CeilDivUIOp>(x, y); }
Value IndexMath::min(Value x, Value y) { return b.createOrFold<arith::MinUIOp>(x, y); }
Value IndexMath::max(Value x, Value y) { return b.createOrFold<arith::MaxUIOp>(x, y); }
Value IndexMath::eq(Value x, Value y) {
  return b.createOrFold<arith::CmpIOp>(arith::CmpIPredicate::eq, x, y);
}
Value IndexMath::lt(Value x, Value y) {
  return b.createOrFold<arith::CmpIOp>(arith::CmpIPredicate::ult, x, y);
}
Value IndexMath::select(Value condition, Value x, Value y) {
  return b.createOrFold<arith::SelectOp>(condition, x, y);
}
Value IndexMath::andI(Value x, Value y) { return b.createOrFold<arith::AndIOp>(x, y); }
Value IndexMath::dim(Value value, int64_t d) {
  auto type = cast<ShapedType>(value.getType());
  if (!type.isDynamicDim(d))
    return c(type.getDimSize(d));
  return tensor::DimOp::create(b, value, d);
}
std::optional<int64_t> IndexMath::constant(Value value) { return getConstantIntValue(value); }
SmallVector<Value> IndexMath::delinearize(Value linear, ValueRange sizes) {
  SmallVector<Value> coords(sizes.size());
  for (int64_t d = sizes.size() - 1; d >= 0; --d) {
    coords[d] = rem(linear, sizes[d]);
    linear = div(linear, sizes[d]);
  }
  return coords;
}

} // namespace ube
