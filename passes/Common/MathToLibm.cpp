//===- MathToLibm.cpp - libm calls for math ops LLVM cannot lower ---------===//

#include "passes/Common/Passes.h"

#include "mlir/Conversion/MathToLibm/MathToLibm.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Transforms/DialectConversion.h"

namespace ube {
#define GEN_PASS_DEF_UBEMATHTOLIBM
#include "passes/Common/Passes.h.inc"
} // namespace ube

using namespace mlir;

namespace {
struct UbeMathToLibmPass : ube::impl::UbeMathToLibmBase<UbeMathToLibmPass> {
  void runOnOperation() override {
    // Only the ops with no LLVM intrinsic become calls: the rest keep their
    // intrinsics (sqrt, floor, fma are instructions, not calls).
    ConversionTarget target(getContext());
    target.markUnknownOpDynamicallyLegal([](Operation *) { return true; });
    target.addIllegalOp<math::ErfOp, math::ErfcOp, math::TanOp, math::AtanOp, math::Atan2Op,
                        math::AsinOp, math::AcosOp, math::SinhOp, math::CoshOp, math::AsinhOp,
                        math::AcoshOp, math::AtanhOp, math::ExpM1Op, math::Log1pOp>();
    RewritePatternSet patterns(&getContext());
    populateMathToLibmConversionPatterns(patterns);
    if (failed(applyPartialConversion(getOperation(), target, std::move(patterns))))
      signalPassFailure();
  }
};
} // namespace
