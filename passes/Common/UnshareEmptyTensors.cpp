//===- UnshareEmptyTensors.cpp - one tensor.empty per use -----------------===//
//
// CSE leaves one tensor.empty for all the ops of a function with a
// destination of the same type; one-shot bufferization's analysis then sees
// them all alias one buffer and checks every in-place write against every
// read of that alias set, in time quadratic in the number of layers. Each
// use gets a clone of the empty tensor, placed in the empty's own block just
// before the op that holds the use (not inside that op's regions, where the
// buffer would be allocated per iteration).
//
//===----------------------------------------------------------------------===//

#include "passes/Common/Passes.h"

namespace ube {
#define GEN_PASS_DEF_UBEUNSHAREEMPTYTENSORS
#include "passes/Common/Passes.h.inc"
} // namespace ube

using namespace mlir;

namespace {

struct UbeUnshareEmptyTensorsPass
    : ube::impl::UbeUnshareEmptyTensorsBase<UbeUnshareEmptyTensorsPass> {
  void runOnOperation() override {
    SmallVector<tensor::EmptyOp> shared;
    getOperation().walk([&](tensor::EmptyOp empty) {
      if (!empty->hasOneUse() && !empty->use_empty())
        shared.push_back(empty);
    });
    for (tensor::EmptyOp empty : shared) {
      Block *block = empty->getBlock();
      // In program order; the first keeps the original.
      SmallVector<std::pair<Operation *, OpOperand *>> uses;
      for (OpOperand &use : empty->getUses())
        uses.push_back({block->findAncestorOpInBlock(*use.getOwner()), &use});
      llvm::sort(uses, [](auto a, auto b) { return a.first->isBeforeInBlock(b.first); });
      for (auto [user, use] : llvm::drop_begin(uses)) {
        OpBuilder b(user);
        use->set(b.clone(*empty)->getResult(0));
      }
    }
  }
};
} // namespace
