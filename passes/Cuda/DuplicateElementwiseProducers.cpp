//===- DuplicateElementwiseProducers.cpp - recompute instead of store -----===//
//
// linalg-fuse-elementwise-ops fuses a producer into its consumer only when
// the consumer is its one user, so a value read by several kernels (t / T,
// read by the teacher's max, its exp-sum and the KL sum) is written out once
// and read back by each. On a GPU, where these kernels are bound by memory
// bandwidth, recomputing a few arithmetic ops per element is cheaper than a
// round trip through memory: this pass gives each linalg.generic user of a
// multi-use elementwise producer its own copy, so the fusion that follows
// folds every copy into its user.
//
//===----------------------------------------------------------------------===//

#include "passes/Cuda/Passes.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"

namespace ube {
#define GEN_PASS_DEF_UBECUDADUPLICATEELEMENTWISEPRODUCERS
#include "passes/Cuda/Passes.h.inc"
} // namespace ube

using namespace mlir;

namespace {

/// A linalg.generic on tensors with only parallel loops, one result, a
/// body of at most `maxOps` ops, and projected-permutation indexing maps.
bool isCheapElementwise(linalg::GenericOp op, int64_t maxOps) {
  if (!op.hasPureTensorSemantics() || op->getNumResults() != 1 ||
      op.getNumParallelLoops() != op.getNumLoops() ||
      int64_t(op.getBody()->getOperations().size()) > maxOps + 1)
    return false;
  return llvm::all_of(op.getIndexingMapsArray(),
                      [](AffineMap map) { return map.isProjectedPermutation(/*allowZeroInResults=*/true); });
}

/// Whether `use` reads the producer's result one element per element of it
/// (a permutation map), so fusing recomputes nothing more than once per use.
bool readsEachElementOnce(OpOperand &use) {
  auto consumer = dyn_cast<linalg::GenericOp>(use.getOwner());
  if (!consumer || !consumer.isDpsInput(&use))
    return false;
  return consumer.getMatchingIndexingMap(&use).isPermutation();
}

struct UbeCudaDuplicateElementwiseProducersPass
    : ube::impl::UbeCudaDuplicateElementwiseProducersBase<UbeCudaDuplicateElementwiseProducersPass> {
  using Base::Base;
  void runOnOperation() override {
    SmallVector<linalg::GenericOp> generics;
    getOperation().walk([&](linalg::GenericOp op) { generics.push_back(op); });
    // Users before producers: a copy adds uses to the producer's operands,
    // which are visited later and copied in turn.
    for (linalg::GenericOp producer : llvm::reverse(generics)) {
      Value result = producer->getResult(0);
      if (!isCheapElementwise(producer, maxOps) || result.use_empty() || result.hasOneUse() ||
          !llvm::all_of(result.getUses(), readsEachElementOnce))
        continue;
      SmallVector<OpOperand *> uses = llvm::map_to_vector(result.getUses(),
                                                          [](OpOperand &u) { return &u; });
      for (OpOperand *use : llvm::drop_begin(uses)) {
        OpBuilder b(use->getOwner());
        use->set(b.clone(*producer)->getResult(0));
      }
    }
  }
};

} // namespace
