//===- CudaTargetOptions.h - what the cuda target takes -----------*- C++ -*-===//
//
// The cuda target's options: CompileOptions::targetOptions text ("cuda:sm_90"
// sets chip), ube-compile's --target-options (and its --cuda-path
// shorthand), keyword arguments of ube.compile, and the options of
// --ube-cuda-pipeline. A new option is declared here and read in
// CudaTarget.cpp; nothing else changes.
//
//===----------------------------------------------------------------------===//

#ifndef UBE_TARGET_CUDA_CUDATARGETOPTIONS_H
#define UBE_TARGET_CUDA_CUDATARGETOPTIONS_H

#include "mlir/Pass/PassOptions.h"

namespace ube {

struct CudaTargetOptions : mlir::PassPipelineOptions<CudaTargetOptions> {
  Option<std::string> chip{*this, "chip",
                           llvm::cl::desc("The GPU architecture, sm_NN (--target=cuda:sm_NN)"),
                           llvm::cl::init("sm_80")};
  Option<std::string> cudaPath{*this, "cuda-path",
                               llvm::cl::desc("The CUDA toolkit: libdevice, and ptxas for cubin"),
                               llvm::cl::init("/usr/local/cuda")};
};

} // namespace ube

#endif // UBE_TARGET_CUDA_CUDATARGETOPTIONS_H
