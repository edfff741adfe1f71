//===- Pipelines.h - graph-level pipelines on the ube dialect ----*- C++ -*-===//

#ifndef UBE_PASSES_GRAPH_PIPELINES_H
#define UBE_PASSES_GRAPH_PIPELINES_H

#include "mlir/Pass/PassManager.h"

namespace ube {

/// Graph-level rewrites on the ube dialect: cleanups, hand-written
/// normalizations and distillation losses fused into ops, gradients and
/// training steps built.
void buildGraphPipeline(mlir::OpPassManager &pm);
/// Target-independent expansions into ops the target's kernels take (before
/// the kernel pipeline): projected_kd_loss by chunks of rows.
void buildExpansionPipeline(mlir::OpPassManager &pm);
/// Expansions of what the target's kernels did not take (after the kernel
/// pipeline): projected feature_map_loss by chunks of tokens, which the
/// cpu target's fused feature-map kernel does in one pass instead.
void buildFallbackExpansionPipeline(mlir::OpPassManager &pm);

/// Registers --ube-graph-pipeline.
void registerGraphPipelines();

} // namespace ube

#endif // UBE_PASSES_GRAPH_PIPELINES_H
