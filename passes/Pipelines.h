//===- Pipelines.h - the pass pipelines of the compile path --------*- C++ -*-===//

#ifndef UBE_PASSES_PIPELINES_H
#define UBE_PASSES_PIPELINES_H

#include "mlir/Pass/PassManager.h"

#include <string>

namespace ube {

/// Graph-level cleanups on the ube dialect (canonicalize, CSE).
void buildGraphPipeline(mlir::OpPassManager &pm);
/// Target-independent expansions into ops the target's kernels take (before
/// the kernel pipeline): projected_kd_loss by chunks of rows.
void buildExpansionPipeline(mlir::OpPassManager &pm);
/// Expansions of what the target's kernels did not take (after the kernel
/// pipeline): projected feature_map_loss by chunks of tokens, which the
/// cpu target's fused feature-map kernel does in one pass instead.
void buildFallbackExpansionPipeline(mlir::OpPassManager &pm);
/// ube -> linalg on tensors, with elementwise producer/consumer fusion.
void buildLinalgPipeline(mlir::OpPassManager &pm);
/// linalg on tensors -> the LLVM dialect for a host CPU: bufferization with
/// results as out-parameters, temporaries planned into one arena per entry
/// point (the plan printed with `printMemoryPlan`), parallel loops handed to
/// the runtime's thread pool, loops, polynomial math, bare-pointer calls and
/// `ube_entry_*` wrappers.
void buildHostCodegenPipeline(mlir::OpPassManager &pm, bool printMemoryPlan = false);

/// linalg on tensors -> outlined GPU kernels in PTX (gpu.binary) for `chip`,
/// with a host side of allocations, views, copies and gpu.launch_func only.
/// `libdevice` (libdevice.10.bc) is linked into the kernels.
void buildCudaCodegenPipeline(mlir::OpPassManager &pm, const std::string &chip,
                              const std::string &ptxFeatures, const std::string &libdevice);

/// Registers the pipelines above as ube-graph-pipeline, ube-linalg-pipeline
/// and ube-host-codegen-pipeline, for ube-opt.
void registerUbePipelines();

} // namespace ube

#endif // UBE_PASSES_PIPELINES_H
