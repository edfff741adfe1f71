//===- Pipelines.h - ube -> linalg on tensors --------------------*- C++ -*-===//

#ifndef UBE_PASSES_LINALG_PIPELINES_H
#define UBE_PASSES_LINALG_PIPELINES_H

#include "mlir/Pass/PassManager.h"

namespace ube {

/// ube -> linalg on tensors, with cleanups.
void buildLinalgPipeline(mlir::OpPassManager &pm);

/// Registers --ube-linalg-pipeline.
void registerLinalgPipelines();

} // namespace ube

#endif // UBE_PASSES_LINALG_PIPELINES_H
