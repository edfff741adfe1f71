//===- Pipelines.h - the cuda target's pipeline ------------------*- C++ -*-===//

#ifndef UBE_PASSES_CUDA_PIPELINES_H
#define UBE_PASSES_CUDA_PIPELINES_H

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassOptions.h"

namespace ube {

struct CudaCodegenPipelineOptions : mlir::PassPipelineOptions<CudaCodegenPipelineOptions> {
  Option<std::string> chip{*this, "chip", llvm::cl::desc("The GPU architecture, sm_NN"),
                           llvm::cl::init("sm_80")};
  Option<std::string> ptxFeatures{*this, "features", llvm::cl::desc("PTX features, e.g. +ptx80"),
                                  llvm::cl::init("+ptx80")};
  Option<std::string> libdevice{*this, "libdevice",
                                llvm::cl::desc("libdevice.10.bc, linked into the kernels"),
                                llvm::cl::init("")};
};

/// linalg on tensors -> outlined GPU kernels in PTX (gpu.binary) for the
/// chip, with a host side of allocations, views, copies and gpu.launch_func
/// only.
void buildCudaCodegenPipeline(mlir::OpPassManager &pm, const CudaCodegenPipelineOptions &options);

/// The cuda target's kernels on ube ops, before the linalg lowering:
/// softmax and the norms as one-pass row programs.
void buildCudaKernelPipeline(mlir::OpPassManager &pm);

/// Registers --ube-cuda-codegen-pipeline.
void registerCudaPipelines();

} // namespace ube

#endif // UBE_PASSES_CUDA_PIPELINES_H
