//===- Accumulation.cpp - how sums accumulate in the lowering -------------===//

#include "passes/Linalg/Accumulation.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/AffineMap.h"

using namespace mlir;

namespace ube {

Value widened(OpBuilder &b, Location loc, Value x, Type type) {
  return x.getType() == type ? x : arith::ExtFOp::create(b, loc, type, x).getResult();
}

Value rounded(OpBuilder &b, Location loc, Value x, RankedTensorType type) {
  auto xType = cast<RankedTensorType>(x.getType());
  if (xType.getElementType() == type.getElementType())
    return x;
  int64_t rank = xType.getRank();
  Value init =
      tensor::EmptyOp::create(b, loc, tensor::getMixedSizes(b, loc, x), type.getElementType());
  auto identity = AffineMap::getMultiDimIdentityMap(rank, b.getContext());
  return linalg::GenericOp::create(
             b, loc, type, x, init, ArrayRef<AffineMap>{identity, identity},
             SmallVector<utils::IteratorType>(rank, utils::IteratorType::parallel),
             [&](OpBuilder &nb, Location l, ValueRange args) {
               linalg::YieldOp::create(
                   nb, l, arith::TruncFOp::create(nb, l, type.getElementType(), args[0])
                              .getResult());
             })
      .getResult(0);
}

} // namespace ube
