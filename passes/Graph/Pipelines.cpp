//===- Pipelines.cpp - graph-level pipelines on the ube dialect -----------===//

#include "passes/Graph/Pipelines.h"

#include "passes/Graph/Passes.h"

#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

namespace ube {

void buildGraphPipeline(OpPassManager &pm) {
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  pm.addNestedPass<func::FuncOp>(createUbeFuseNormalizations());
  pm.addNestedPass<func::FuncOp>(createUbeFuseDistillation());
  pm.addNestedPass<func::FuncOp>(createUbeFuseAttention());
  pm.addPass(createUbeAutodiff());
  pm.addPass(createUbeBuildTrainStep());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
}

void buildExpansionPipeline(OpPassManager &pm) {
  pm.addNestedPass<func::FuncOp>(createUbeExpandProjectedKd());
}

void buildFallbackExpansionPipeline(OpPassManager &pm) {
  pm.addNestedPass<func::FuncOp>(createUbeExpandFeatureMap());
}

void registerGraphPipelines() {
  PassPipelineRegistration<>("ube-graph-pipeline", "Graph-level rewrites on the ube dialect",
                             buildGraphPipeline);
}

} // namespace ube
