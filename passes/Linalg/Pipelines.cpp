//===- Pipelines.cpp - ube -> linalg on tensors ---------------------------===//

#include "passes/Linalg/Pipelines.h"

#include "passes/Linalg/Passes.h"

#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

namespace ube {

void buildLinalgPipeline(OpPassManager &pm) {
  OpPassManager &fn = pm.nest<func::FuncOp>();
  fn.addPass(createUbeLowerToLinalg());
  fn.addPass(createUbeDeriveSymbolSizes());
  fn.addPass(createCanonicalizerPass());
  fn.addPass(createCSEPass());
}

void registerLinalgPipelines() {
  PassPipelineRegistration<>("ube-linalg-pipeline", "Lower the ube dialect to linalg",
                             buildLinalgPipeline);
}

} // namespace ube
