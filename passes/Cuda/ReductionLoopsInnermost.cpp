//===- ReductionLoopsInnermost.cpp - parallel loops first -----------------===//

#include "passes/Cuda/Passes.h"

#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/IR/PatternMatch.h"

namespace ube {
#define GEN_PASS_DEF_UBECUDAREDUCTIONLOOPSINNERMOST
#include "passes/Cuda/Passes.h.inc"
} // namespace ube

using namespace mlir;

namespace {
struct UbeCudaReductionLoopsInnermostPass
    : ube::impl::UbeCudaReductionLoopsInnermostBase<UbeCudaReductionLoopsInnermostPass> {
  void runOnOperation() override {
    IRRewriter rewriter(&getContext());
    SmallVector<linalg::GenericOp> generics;
    getOperation().walk([&](linalg::GenericOp op) { generics.push_back(op); });
    for (linalg::GenericOp op : generics) {
      // The interchange vector lists, for each new loop, the old loop it is.
      SmallVector<unsigned> order;
      auto iterators = op.getIteratorTypesArray();
      for (auto [i, it] : llvm::enumerate(iterators))
        if (it == utils::IteratorType::parallel)
          order.push_back(i);
      for (auto [i, it] : llvm::enumerate(iterators))
        if (it != utils::IteratorType::parallel)
          order.push_back(i);
      bool identity = true;
      for (auto [i, o] : llvm::enumerate(order))
        identity &= i == o;
      if (identity)
        continue;
      rewriter.setInsertionPoint(op);
      if (failed(linalg::interchangeGenericOp(rewriter, op, order))) {
        op.emitOpError("could not reorder its loops");
        return signalPassFailure();
      }
    }
  }
};
} // namespace
