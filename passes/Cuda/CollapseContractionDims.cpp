//===- CollapseContractionDims.cpp - one k loop per contraction -----------===//
//
// Reshape folding by expansion leaves contractions with several reduction
// loops (a projection over heads x head size, a weight gradient summed over
// batch x tokens) and several m or n loops. The tiled matmul kernels take
// one k loop, so without this such a contraction runs one thread per output
// with a serial sum. Runs of adjacent loops of one iterator type that every
// operand indexes contiguously fold into one loop (views, no copies).
//
//===----------------------------------------------------------------------===//

#include "passes/Cuda/Passes.h"

#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace ube {
#define GEN_PASS_DEF_UBECUDACOLLAPSECONTRACTIONDIMS
#include "passes/Cuda/Passes.h.inc"
} // namespace ube

using namespace mlir;

namespace {

/// The longest runs of adjacent loops of one iterator type that every
/// indexing map keeps together, of two loops or more; none unless the op
/// has a reduction loop and two inputs (a contraction).
SmallVector<ReassociationIndices> collapsibleRuns(linalg::LinalgOp op) {
  auto generic = dyn_cast<linalg::GenericOp>(op.getOperation());
  if (!generic || generic.getNumReductionLoops() == 0 || generic.getNumDpsInputs() != 2)
    return {};
  SmallVector<AffineMap> maps = generic.getIndexingMapsArray();
  // (Constant indices, as in a broadcast along a size-1 dimension, make
  // collapsed operands of the wrong rank upstream.)
  if (!llvm::all_of(maps, [](AffineMap m) { return m.isProjectedPermutation(); }))
    return {};
  auto iterators = generic.getIteratorTypesArray();
  SmallVector<ReassociationIndices> runs;
  ReassociationIndices run;
  auto close = [&] {
    if (run.size() > 1)
      runs.push_back(run);
    run.clear();
  };
  for (int64_t d = 0; d < int64_t(iterators.size()); ++d) {
    if (!run.empty()) {
      ReassociationIndices longer = run;
      longer.push_back(d);
      if (iterators[d] == iterators[run.front()] &&
          linalg::areDimSequencesPreserved(maps, {longer})) {
        run = longer;
        continue;
      }
      close();
    }
    run.push_back(d);
  }
  close();
  return runs;
}

struct UbeCudaCollapseContractionDimsPass
    : ube::impl::UbeCudaCollapseContractionDimsBase<UbeCudaCollapseContractionDimsPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    linalg::populateCollapseDimensions(patterns, collapsibleRuns);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
  }
};

} // namespace
