//===- FuseReturnedProducers.cpp - fuse producers the return also reads ---===//
//
// Upstream's elementwise fusion fuses a producer into a consumer only when
// the consumer is its one use. A value the function returns and also reads
// (a training step's new optimizer moments, which the parameter update
// reads) then stays a separate loop nest that writes it out, and its
// consumer reads it back. Fusing it anyway costs nothing: the fused op
// yields the producer's value for the return, so nothing is computed twice.
//
//===----------------------------------------------------------------------===//

#include "passes/Common/Passes.h"

#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace ube {
#define GEN_PASS_DEF_UBEFUSERETURNEDPRODUCERS
#include "passes/Common/Passes.h.inc"
} // namespace ube

using namespace mlir;

namespace {

/// Whether every use of `fused`'s value other than `fused` itself is the
/// function's return.
bool otherUsesAreReturns(OpOperand &fused) {
  return llvm::all_of(fused.get().getUses(), [&](OpOperand &use) {
    return &use == &fused || isa<func::ReturnOp>(use.getOwner());
  });
}

/// A consumer with such a producer becomes one op that also yields the
/// producer's values, which the return then reads instead.
struct FuseReturnedProducer : OpRewritePattern<linalg::GenericOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(linalg::GenericOp consumer,
                                PatternRewriter &rewriter) const override {
    for (OpOperand &operand : consumer->getOpOperands()) {
      auto producer = operand.get().getDefiningOp<linalg::GenericOp>();
      if (!producer || operand.get().hasOneUse() || !otherUsesAreReturns(operand) ||
          !linalg::areElementwiseOpsFusable(&operand))
        continue;
      FailureOr<linalg::ElementwiseOpFusionResult> fused =
          linalg::fuseElementwiseOps(rewriter, &operand);
      if (failed(fused))
        continue;
      for (auto [original, replacement] : fused->replacements)
        rewriter.replaceAllUsesExcept(original, replacement, fused->fusedOp);
      rewriter.replaceOp(consumer,
                         fused->fusedOp->getResults().take_back(consumer->getNumResults()));
      return success();
    }
    return rewriter.notifyMatchFailure(consumer, "no producer whose other uses are returns");
  }
};

struct UbeFuseReturnedProducersPass
    : ube::impl::UbeFuseReturnedProducersBase<UbeFuseReturnedProducersPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<FuseReturnedProducer>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
