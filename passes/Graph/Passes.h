//===- Passes.h - graph-level rewrites on the ube dialect --------*- C++ -*-===//

#ifndef UBE_PASSES_GRAPH_PASSES_H
#define UBE_PASSES_GRAPH_PASSES_H

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Pass/Pass.h"

namespace ube {

#define GEN_PASS_DECL
#include "passes/Graph/Passes.h.inc"

/// Patterns of --ube-decompose (composite ube ops -> primitive ube ops);
/// with `keepNormalizations`, not those of softmax, log_softmax, layer_norm,
/// rms_norm; with `keepDepthwiseWeightGrads`, not depthwise convolutions'
/// conv_weight_grad.
void populateDecomposePatterns(mlir::RewritePatternSet &patterns,
                               bool keepNormalizations = false,
                               bool keepDepthwiseWeightGrads = false);

#define GEN_PASS_REGISTRATION
#include "passes/Graph/Passes.h.inc"

} // namespace ube

#endif // UBE_PASSES_GRAPH_PASSES_H
