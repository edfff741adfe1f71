//===- ApproximateMath.cpp - polynomial approximations of math ops --------===//

#include "passes/Common/Passes.h"

#include "mlir/Dialect/Math/Transforms/Approximation.h"
#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace ube {
#define GEN_PASS_DEF_UBEAPPROXIMATEMATH
#include "passes/Common/Passes.h.inc"
} // namespace ube

using namespace mlir;

namespace {
struct UbeApproximateMathPass : ube::impl::UbeApproximateMathBase<UbeApproximateMathPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    static constexpr StringLiteral kApproximated[] = {"math.exp", "math.log", "math.log1p",
                                                     "math.tanh", "math.erf"};
    auto chosen = [](StringRef name) { return llvm::is_contained(kApproximated, name); };
    populateMathF32ExpansionPatterns(patterns, chosen);
    populateMathPolynomialApproximationPatterns(patterns, chosen);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};
} // namespace
