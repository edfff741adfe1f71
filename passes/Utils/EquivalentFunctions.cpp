//===- EquivalentFunctions.cpp - functions that do the same thing ---------===//

#include "passes/Utils/EquivalentFunctions.h"

#include "mlir/IR/OperationSupport.h"

using namespace mlir;

namespace ube {

/// Order-sensitive hash of a function's type and body, up to value
/// identities and locations.
static size_t hashFunction(func::FuncOp fn) {
  llvm::hash_code hash = hash_value(fn.getFunctionType());
  fn.getBody().walk([&](Operation *op) {
    hash = llvm::hash_combine(
        hash, OperationEquivalence::computeHash(op, OperationEquivalence::ignoreHashValue,
                                                OperationEquivalence::ignoreHashValue,
                                                OperationEquivalence::IgnoreLocations));
  });
  return size_t(hash);
}

func::FuncOp EquivalentFunctions::find(func::FuncOp fn) {
  auto it = byHash_.find(hashFunction(fn));
  if (it == byHash_.end())
    return nullptr;
  for (func::FuncOp earlier : it->second)
    if (earlier.getFunctionType() == fn.getFunctionType() &&
        OperationEquivalence::isRegionEquivalentTo(&earlier.getBody(), &fn.getBody(),
                                                   OperationEquivalence::IgnoreLocations))
      return earlier;
  return nullptr;
}

void EquivalentFunctions::add(func::FuncOp fn) { byHash_[hashFunction(fn)].push_back(fn); }

} // namespace ube
