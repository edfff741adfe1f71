//===- GraphMatchers.cpp - matching ube ops that frontends spell out ------===//

#include "passes/Graph/GraphMatchers.h"

#include "dialects/ube/UbeOps.h"

using namespace mlir;

namespace ube {

std::optional<std::pair<Value, Value>> matchQueryKeyProduct(Value scores) {
  auto matmul = scores.getDefiningOp<MatmulOp>();
  if (!matmul || matmul.getTransposeLhs())
    return std::nullopt;
  Value query = matmul.getLhs(), key = matmul.getRhs();
  if (!matmul.getTransposeRhs()) {
    auto transpose = key.getDefiningOp<TransposeOp>();
    int64_t rank = cast<RankedTensorType>(key.getType()).getRank();
    if (!transpose || rank < 2)
      return std::nullopt;
    SmallVector<int64_t> swapLast;
    for (int64_t d = 0; d < rank - 2; ++d)
      swapLast.push_back(d);
    swapLast.append({rank - 1, rank - 2});
    if (transpose.getPerm() != ArrayRef<int64_t>(swapLast))
      return std::nullopt;
    key = transpose.getInput();
  }
  return std::make_pair(query, key);
}

} // namespace ube
