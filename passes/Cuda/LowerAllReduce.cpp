//===- LowerGpuAllReduce.cpp - gpu.all_reduce -> shuffles + shared memory -===//

#include "passes/Cuda/Passes.h"

#include "mlir/Dialect/ControlFlow/IR/ControlFlowOps.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace ube {
#define GEN_PASS_DEF_UBECUDALOWERALLREDUCE
#include "passes/Cuda/Passes.h.inc"
} // namespace ube

using namespace mlir;

namespace {
struct UbeCudaLowerAllReducePass
    : ube::impl::UbeCudaLowerAllReduceBase<UbeCudaLowerAllReducePass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateGpuAllReducePatterns(patterns);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};
} // namespace
