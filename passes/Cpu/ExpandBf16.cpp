//===- ExpandBf16.cpp - bf16 conversions as integer ops ---------*- C++ -*-===//
//
// Arithmetic on bf16 done in f32, and the f32 <-> bf16 conversions as
// integer arithmetic on the f32 bits (upstream arith's emulation and bf16
// expansion), so that code for a CPU without bf16 conversion instructions
// calls no compiler-rt routine (`__truncsfbf2`) the executable's host code
// cannot resolve.
//
//===----------------------------------------------------------------------===//

#include "passes/Cpu/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Transforms/Passes.h"
#include "mlir/Transforms/DialectConversion.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace ube {
#define GEN_PASS_DEF_UBECPUEXPANDBF16
#include "passes/Cpu/Passes.h.inc"
} // namespace ube

using namespace mlir;

namespace {

struct UbeCpuExpandBf16Pass : ube::impl::UbeCpuExpandBf16Base<UbeCpuExpandBf16Pass> {
  void runOnOperation() override {
    MLIRContext *context = &getContext();
    // Arithmetic on bf16 in f32 (LLVM would promote it the same way, with
    // a truncation call per result).
    Type bf16 = BFloat16Type::get(context);
    TypeConverter converter;
    arith::populateEmulateUnsupportedFloatsConversions(converter, {bf16},
                                                       Float32Type::get(context));
    RewritePatternSet emulation(context);
    arith::populateEmulateUnsupportedFloatsPatterns(emulation, converter);
    ConversionTarget target(*context);
    arith::populateEmulateUnsupportedFloatsLegality(target, converter);
    if (failed(applyPartialConversion(getOperation(), target, std::move(emulation))))
      return signalPassFailure();
    // Then the conversions as integer ops.
    RewritePatternSet expansion(context);
    arith::populateExpandBFloat16Patterns(expansion);
    if (failed(applyPatternsGreedily(getOperation(), std::move(expansion))))
      signalPassFailure();
  }
};

} // namespace
