//===- Pipelines.cpp - the pass pipelines of the compile path -------------===//

#include "passes/Pipelines.h"

#include "passes/Passes.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Conversion/VectorToSCF/VectorToSCF.h"
#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Dialect/SCF/Transforms/Passes.h"
#include "mlir/Dialect/Vector/Transforms/Passes.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

namespace ube {

void buildGraphPipeline(OpPassManager &pm) {
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  pm.addNestedPass<func::FuncOp>(createUbeFuseNormalizations());
  pm.addNestedPass<func::FuncOp>(createUbeFuseDistillation());
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

void buildLinalgPipeline(OpPassManager &pm) {
  OpPassManager &fn = pm.nest<func::FuncOp>();
  fn.addPass(createUbeLowerToLinalg());
  fn.addPass(createCanonicalizerPass());
  fn.addPass(createCSEPass());
}

/// Tensors to buffers across function boundaries (identity layouts), each
/// result a buffer of its own, results as out-parameters the caller passes.
/// `canonicalize` (cpu) first folds loop-carried buffers that a loop only
/// passes through (a fused kernel writing its result row by row), so that
/// the result is the allocation itself and becomes the caller's buffer.
static void addFunctionBoundaryBufferization(OpPassManager &pm, bool canonicalize = false) {
  bufferization::OneShotBufferizePassOptions bufferize;
  bufferize.bufferizeFunctionBoundaries = true;
  bufferize.functionBoundaryTypeConversion = bufferization::LayoutMapOption::IdentityLayoutMap;
  pm.addPass(bufferization::createOneShotBufferizePass(bufferize));
  if (canonicalize)
    pm.addPass(createCanonicalizerPass());
  pm.addNestedPass<func::FuncOp>(createUbeDistinctResultBuffers());
  bufferization::BufferResultsToOutParamsPassOptions outParams;
  outParams.hoistStaticAllocs = true;
  outParams.modifyPublicFunctions = true;
  pm.addPass(bufferization::createBufferResultsToOutParamsPass(outParams));
}

/// Before the conversion to LLVM (host) or NVVM (kernels), the same on both:
/// 16-bit math widened, transcendentals approximated, strided views and
/// affine maps expanded, structured control flow to branches.
static void addMathAndControlFlowLowering(OpPassManager &pm) {
  pm.addPass(math::createMathExtendToSupportedTypes());
  pm.addPass(createUbeApproximateMath());
  pm.addPass(memref::createExpandStridedMetadataPass());
  pm.addPass(createLowerAffinePass());
  pm.addPass(createSCFToControlFlowPass());
}

void buildHostCodegenPipeline(OpPassManager &pm, bool printMemoryPlan) {
  // Fused elementwise chains, then every sizeable op split into tasks for
  // the thread pool. Arguments are read-only: the caller's inputs.
  {
    OpPassManager &fn = pm.nest<func::FuncOp>();
    fn.addPass(createLinalgElementwiseOpFusionPass());
    fn.addPass(createUbeMarkInPlaceUpdates());
    fn.addPass(createUbeCpuParallelizeLinalg());
    fn.addPass(createCanonicalizerPass());
    fn.addPass(createUbeReadOnlyArguments());
  }
  addFunctionBoundaryBufferization(pm, /*canonicalize=*/true);
  bufferization::buildBufferDeallocationPipeline(pm);
  UbeCpuPlanMemoryOptions plan;
  plan.print = printMemoryPlan;
  pm.addPass(createUbeCpuPlanMemory(plan));
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
  addMathAndControlFlowLowering(pm);
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

void buildCudaCodegenPipeline(OpPassManager &pm, const std::string &chip,
                              const std::string &ptxFeatures, const std::string &libdevice) {
  // No deallocation pipeline: the runtime frees an invocation's temporaries
  // when it ends, and the host side must stay plain allocations and launches.
  {
    OpPassManager &fn = pm.nest<func::FuncOp>();
    fn.addPass(createUbeCudaDuplicateElementwiseProducers());
    fn.addPass(createLinalgElementwiseOpFusionPass());
    fn.addPass(createUbeCudaReductionLoopsInnermost());
    fn.addPass(createUbeReadOnlyArguments());
  }
  addFunctionBoundaryBufferization(pm);
  {
    OpPassManager &fn = pm.nest<func::FuncOp>();
    fn.addPass(createUbeCudaMatmulKernels());
    fn.addPass(createUbeLowerStridedCopies());
    fn.addPass(createConvertLinalgToParallelLoopsPass());
    fn.addPass(createCanonicalizerPass());
    fn.addPass(createUbeCudaMapToLaunches());
    fn.addPass(createCanonicalizerPass());
  }
  pm.addPass(createGpuLaunchSinkIndexComputationsPass());
  pm.addPass(createGpuKernelOutliningPass());
  pm.addPass(createCanonicalizerPass());
  {
    // Remaining math (abs, floor, sqrt, pow...) becomes libdevice calls.
    OpPassManager &kernels = pm.nest<gpu::GPUModuleOp>();
    kernels.addPass(createUbeCudaAlignWorkgroupMemory());
    kernels.addPass(createUbeCudaLowerAllReduce());
    addMathAndControlFlowLowering(kernels);
    kernels.addPass(createConvertGpuOpsToNVVMOps());
    kernels.addPass(createCanonicalizerPass());
    kernels.addPass(createReconcileUnrealizedCastsPass());
  }
  GpuNVVMAttachTargetOptions target;
  target.chip = chip;
  target.features = ptxFeatures;
  target.optLevel = 3;
  target.linkLibs = {libdevice};
  pm.addPass(createGpuNVVMAttachTarget(target));
  GpuModuleToBinaryPassOptions binary;
  binary.compilationTarget = "isa";
  pm.addPass(createGpuModuleToBinaryPass(binary));
}

void registerUbePipelines() {
  PassPipelineRegistration<>("ube-graph-pipeline", "Graph-level cleanups on the ube dialect",
                             buildGraphPipeline);
  PassPipelineRegistration<>("ube-linalg-pipeline", "Lower the ube dialect to linalg",
                             buildLinalgPipeline);
  PassPipelineRegistration<>("ube-host-codegen-pipeline",
                             "Lower linalg on tensors to the LLVM dialect for a host CPU",
                             [](OpPassManager &pm) { buildHostCodegenPipeline(pm); });
}

} // namespace ube
