//===- Pipelines.cpp - the cuda target's pipeline -------------------------===//

#include "passes/Cuda/Pipelines.h"

#include "passes/Common/Passes.h"
#include "passes/Common/Pipelines.h"
#include "passes/Cuda/Passes.h"
#include "passes/Graph/Passes.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/SCF/Transforms/Passes.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

namespace ube {

void buildCudaKernelPipeline(OpPassManager &pm) {
  pm.addNestedPass<func::FuncOp>(createUbeLowerUnsigned());
  // Composite ops (attention) expose their softmax; the norms stay whole.
  UbeDecomposeOptions decompose;
  decompose.keepNormalizations = true;
  pm.addNestedPass<func::FuncOp>(createUbeDecompose(decompose));
  pm.addNestedPass<func::FuncOp>(createUbeCudaRowKernels());
}

void buildCudaCodegenPipeline(OpPassManager &pm, const CudaCodegenPipelineOptions &options) {
  // No deallocation pipeline: the runtime frees an invocation's temporaries
  // when it ends, and the host side must stay plain allocations and launches.
  {
    OpPassManager &fn = pm.nest<func::FuncOp>();
    fn.addPass(createUbeCudaDuplicateElementwiseProducers());
    fn.addPass(createLinalgElementwiseOpFusionPass());
    fn.addPass(createUbeCudaReductionLoopsInnermost());
    fn.addPass(createUbeCudaCollapseContractionDims());
    // Parameters and optimizer state updated in their own buffers; scalar
    // reads are recomputed in kernels, so they keep an argument in place.
    UbeMarkInPlaceUpdatesOptions inPlace;
    inPlace.scalarReads = false;
    fn.addPass(createUbeMarkInPlaceUpdates(inPlace));
    fn.addPass(createUbeReadOnlyArguments());
  }
  buildFunctionBoundaryBufferization(pm);
  {
    OpPassManager &fn = pm.nest<func::FuncOp>();
    fn.addPass(createUbeCudaMatmulKernels());
    fn.addPass(createUbeLowerStridedCopies());
    fn.addPass(createConvertLinalgToParallelLoopsPass());
    fn.addPass(createForallToParallelLoopPass());
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
    buildMathAndControlFlowLowering(kernels);
    kernels.addPass(createConvertGpuOpsToNVVMOps());
    kernels.addPass(createCanonicalizerPass());
    kernels.addPass(createReconcileUnrealizedCastsPass());
  }
  GpuNVVMAttachTargetOptions target;
  target.chip = options.chip;
  target.features = options.ptxFeatures;
  target.optLevel = 3;
  if (!options.libdevice.empty())
    target.linkLibs = {options.libdevice};
  pm.addPass(createGpuNVVMAttachTarget(target));
  GpuModuleToBinaryPassOptions binary;
  binary.compilationTarget = "isa";
  pm.addPass(createGpuModuleToBinaryPass(binary));
}

void registerCudaPipelines() {
  PassPipelineRegistration<>("ube-cuda-kernel-pipeline",
                             "ube ops -> the cuda target's row programs",
                             buildCudaKernelPipeline);
  PassPipelineRegistration<CudaCodegenPipelineOptions>(
      "ube-cuda-codegen-pipeline", "linalg on tensors -> GPU kernels in PTX and their host side",
      buildCudaCodegenPipeline);
}

} // namespace ube
