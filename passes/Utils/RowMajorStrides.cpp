//===- RowMajorStrides.cpp - strides of a dense row-major view ------------===//

#include "passes/Utils/RowMajorStrides.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"

using namespace mlir;

namespace ube {

SmallVector<OpFoldResult> rowMajorStrides(OpBuilder &b, Location loc,
                                          ArrayRef<OpFoldResult> sizes) {
  SmallVector<OpFoldResult> strides(sizes.size(), b.getIndexAttr(1));
  for (int64_t d = int64_t(sizes.size()) - 2; d >= 0; --d) {
    std::optional<int64_t> inner = getConstantIntValue(strides[d + 1]),
                           size = getConstantIntValue(sizes[d + 1]);
    if (inner && size) {
      strides[d] = b.getIndexAttr(*inner * *size);
      continue;
    }
    if (inner == 1) {
      strides[d] = sizes[d + 1];
      continue;
    }
    strides[d] = arith::MulIOp::create(b, loc,
                                       getValueOrCreateConstantIndexOp(b, loc, strides[d + 1]),
                                       getValueOrCreateConstantIndexOp(b, loc, sizes[d + 1]))
                     .getResult();
  }
  return strides;
}

} // namespace ube
