//===- Pipelines.cpp - the cpu target's pipelines -------------------------===//

#include "passes/Cpu/Pipelines.h"

#include "passes/Common/Passes.h"
#include "passes/Common/Pipelines.h"
#include "passes/Cpu/Passes.h"
#include "passes/Graph/Passes.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Conversion/VectorToSCF/VectorToSCF.h"
#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Dialect/SCF/Transforms/Passes.h"
#include "mlir/Dialect/Vector/Transforms/Passes.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

namespace ube {

void buildCpuKernelPipeline(OpPassManager &pm, const CpuKernelPipelineOptions &options) {
  int64_t lanes = options.vectorWidth;
  // Register tiles of products: MR × NR/lanes accumulators + NR/lanes panel
  // vectors + 1 broadcast within 16 (AVX2) or 32 (AVX-512) vector registers.
  int64_t panelWidth = 2 * lanes, tileRows = lanes >= 16 ? 12 : 6;
  pm.addNestedPass<func::FuncOp>(createUbeLowerUnsigned());
  // Attention before the decomposition would spell it in matmuls. Tiles of
  // R rows × C keys: R·C/lanes score vectors and R·Ev/lanes output vectors
  // in registers (MiniLM, 8 × 12 × 300 × 32 on znver4: C = 4 vectors 1.2×
  // faster than 2, R = 4 as fast as 6; its AVX2 build: R = 2 and C = 4
  // vectors the fastest of 10 shapes, as fast as AVX-512's).
  UbeCpuAttentionKernelsOptions attention;
  attention.vectorWidth = lanes;
  attention.keyBlock = 4 * lanes;
  attention.tileRows = lanes >= 16 ? 4 : 2;
  pm.addNestedPass<func::FuncOp>(createUbeCpuAttentionKernels(attention));
  UbeCpuDistillationKernelsOptions kernels;
  kernels.vectorWidth = lanes;
  pm.addNestedPass<func::FuncOp>(createUbeCpuDistillationKernels(kernels));
  UbeCpuFeatureMapKernelsOptions featureMaps;
  featureMaps.vectorWidth = lanes;
  featureMaps.panelWidth = panelWidth;
  featureMaps.tileRows = tileRows;
  pm.addNestedPass<func::FuncOp>(createUbeCpuFeatureMapKernels(featureMaps));
  // Matmuls of composite ops (linear, attention) are visible once those are
  // decomposed; softmax and the norms stay whole for the row kernels.
  UbeDecomposeOptions decompose;
  decompose.keepNormalizations = true;
  decompose.keepDepthwiseWeightGrads = true;
  pm.addNestedPass<func::FuncOp>(createUbeDecompose(decompose));
  UbeCpuDepthwiseKernelsOptions depthwise;
  depthwise.vectorWidth = lanes;
  pm.addNestedPass<func::FuncOp>(createUbeCpuDepthwiseKernels(depthwise));
  // What the kernels leave (16-bit floats): sums of shifted views.
  pm.addNestedPass<func::FuncOp>(createUbeDepthwiseConvolutionsAsTaps());
  pm.addNestedPass<func::FuncOp>(createUbeConvolutionsAsMatmuls());
  UbeCpuRowKernelsOptions rows;
  rows.vectorWidth = lanes;
  pm.addNestedPass<func::FuncOp>(createUbeCpuRowKernels(rows));
  UbeCpuMatmulKernelsOptions matmuls;
  matmuls.vectorWidth = lanes;
  matmuls.panelWidth = panelWidth;
  matmuls.tileRows = tileRows;
  matmuls.l1WaySpan = options.l1CacheBytes / std::max<int64_t>(1, options.l1Ways);
  matmuls.l1Ways = options.l1Ways;
  // K blocks as long as L2 allows: a task's lhs rows ((TPB + 1) × MR per
  // k, the ragged tile included) and the panel passing over them (NR per
  // k) in 3/4 of it. Longer blocks mean fewer passes that reload and store
  // the accumulators (1024³ on znver4: KC 256 → 1024, 95 → 105 GFLOP/s).
  int64_t bytesPerK =
      ((matmuls.tilesPerTask + 1) * tileRows + panelWidth) * int64_t(sizeof(float));
  matmuls.kBlock = std::max<int64_t>(128, options.l2CacheBytes * 3 / 4 / bytesPerK / 64 * 64);
  matmuls.panelGroupBytes = std::max<int64_t>(1, options.l2CacheBytes / 2);
  pm.addNestedPass<func::FuncOp>(createUbeCpuMatmulKernels(matmuls));
}

void buildCpuCodegenPipeline(OpPassManager &pm, const CpuCodegenPipelineOptions &options) {
  // Fused elementwise chains, then every sizeable op split into tasks for
  // the thread pool. Arguments are read-only: the caller's inputs.
  {
    OpPassManager &fn = pm.nest<func::FuncOp>();
    fn.addPass(createLinalgElementwiseOpFusionPass());
    fn.addPass(createUbeFuseReturnedProducers());
    fn.addPass(createUbeMarkInPlaceUpdates());
    fn.addPass(createUbeCpuParallelizeLinalg());
    // Symbolic sizes read back to the arguments' dimensions, so that each
    // layer's size and task arithmetic is the same values and CSE keeps one
    // (MiniLM's distillation step: 12,000 index ops down to 1,000).
    fn.addPass(memref::createResolveRankedShapeTypeResultDimsPass());
    fn.addPass(createCanonicalizerPass());
    fn.addPass(createCSEPass());
    fn.addPass(createUbeReadOnlyArguments());
  }
  // Each kernel bufferized and compiled once, however many layers call it.
  buildFunctionBoundaryBufferization(pm, /*canonicalize=*/true, /*outlineKernels=*/true);
  bufferization::buildBufferDeallocationPipeline(pm);
  UbeCpuPlanMemoryOptions plan;
  plan.print = options.printMemoryPlan;
  pm.addPass(createUbeCpuPlanMemory(plan));
  pm.addPass(createUbeCpuSpecializeInPlaceKernels());
  // Buffers of symbolic shapes as bare pointers, viewed with the symbols' sizes.
  pm.addPass(createUbeCpuSymbolicEntryPoints());
  // Parallel loops (the matmul kernels' tasks) become calls into the
  // runtime's thread pool; any left run serially.
  pm.addPass(createUbeCpuOutlineParallelLoops());
  {
    OpPassManager &fn = pm.nest<func::FuncOp>();
    fn.addPass(createForallToForLoopPass());
    fn.addPass(createUbeLowerStridedCopies());
    fn.addPass(createConvertLinalgToLoopsPass());
  }
  // Fused kernels' vector code: transfers to loads/stores (masked at the
  // ragged end of a row), then the rest with the arith/math lowering below.
  {
    OpPassManager &fn = pm.nest<func::FuncOp>();
    fn.addPass(createConvertVectorToSCFPass(VectorTransferToSCFOptions().enableFullUnroll()));
    fn.addPass(vector::createLowerVectorMaskPass());
  }
  buildMathAndControlFlowLowering(pm);
  if (options.expandBf16)
    pm.addPass(createUbeCpuExpandBf16());
  pm.addPass(createUbeMathToLibm());
  pm.addPass(createFinalizeMemRefToLLVMConversionPass());
  pm.addPass(createConvertVectorToLLVMPass());
  pm.addPass(createConvertMathToLLVMPass());
  pm.addPass(createArithToLLVMConversionPass());
  pm.addPass(createConvertIndexToLLVMPass());
  ConvertFuncToLLVMPassOptions funcToLLVM;
  funcToLLVM.useBarePtrCallConv = true;
  pm.addPass(createConvertFuncToLLVMPass(funcToLLVM));
  pm.addPass(createConvertControlFlowToLLVMPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
  pm.addPass(createUbeCpuEmitParallelDispatch());
  pm.addPass(createUbeCpuEmitEntryPoints());
  pm.addPass(createCanonicalizerPass());
}

void registerCpuPipelines() {
  PassPipelineRegistration<CpuKernelPipelineOptions>(
      "ube-cpu-kernel-pipeline", "ube ops -> the cpu target's fused kernels",
      buildCpuKernelPipeline);
  PassPipelineRegistration<CpuCodegenPipelineOptions>(
      "ube-cpu-codegen-pipeline", "linalg on tensors -> the LLVM dialect for a host CPU",
      buildCpuCodegenPipeline);
}

} // namespace ube
