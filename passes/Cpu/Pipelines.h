//===- Pipelines.h - the cpu target's pipelines ------------------*- C++ -*-===//

#ifndef UBE_PASSES_CPU_PIPELINES_H
#define UBE_PASSES_CPU_PIPELINES_H

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassOptions.h"

namespace ube {

struct CpuKernelPipelineOptions : mlir::PassPipelineOptions<CpuKernelPipelineOptions> {
  Option<int64_t> vectorWidth{*this, "vector-width",
                              llvm::cl::desc("f32 lanes of the CPU's widest vectors: 8 (AVX2) "
                                             "or 16 (AVX-512)"),
                              llvm::cl::init(8)};
  Option<int64_t> l1CacheBytes{*this, "l1-cache-bytes",
                               llvm::cl::desc("Per-core L1 data cache of the target CPU"),
                               llvm::cl::init(32 * 1024)};
  Option<int64_t> l1Ways{*this, "l1-ways",
                         llvm::cl::desc("Ways of the L1 data cache: the matmul kernels pack "
                                        "lhs where a micro-tile's rows outnumber them in "
                                        "one set"),
                         llvm::cl::init(8)};
  Option<int64_t> l2CacheBytes{*this, "l2-cache-bytes",
                               llvm::cl::desc("Per-core L2 of the target CPU: the matmul "
                                              "kernels' K blocks are sized to it"),
                               llvm::cl::init(256 * 1024)};
};

/// ube ops -> the cpu target's fused kernels (distillation losses, feature
/// maps, row kernels, matmuls), the composite ops decomposed around them.
void buildCpuKernelPipeline(mlir::OpPassManager &pm, const CpuKernelPipelineOptions &options);

struct CpuCodegenPipelineOptions : mlir::PassPipelineOptions<CpuCodegenPipelineOptions> {
  Option<bool> printMemoryPlan{*this, "print-memory-plan",
                               llvm::cl::desc("Print each entry point's memory plan"),
                               llvm::cl::init(false)};
  Option<bool> expandBf16{*this, "expand-bf16",
                          llvm::cl::desc("Convert f32 to and from bf16 with integer ops (for "
                                         "CPUs without bf16 conversion instructions)"),
                          llvm::cl::init(true)};
};

/// linalg on tensors -> the LLVM dialect for a host CPU: bufferization with
/// results as out-parameters, temporaries planned into one arena per entry
/// point, parallel loops handed to the runtime's thread pool, loops,
/// polynomial math, bare-pointer calls and `ube_entry_*` wrappers.
void buildCpuCodegenPipeline(mlir::OpPassManager &pm, const CpuCodegenPipelineOptions &options);

/// Registers --ube-cpu-kernel-pipeline and --ube-cpu-codegen-pipeline.
void registerCpuPipelines();

} // namespace ube

#endif // UBE_PASSES_CPU_PIPELINES_H
