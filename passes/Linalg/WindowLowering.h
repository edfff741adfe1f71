//===- WindowLowering.h - ube.conv and pooling to linalg --------*- C++ -*-===//

#ifndef UBE_PASSES_LINALG_WINDOWLOWERING_H
#define UBE_PASSES_LINALG_WINDOWLOWERING_H

#include "mlir/IR/PatternMatch.h"

namespace ube {

/// Conversion patterns lowering ube.conv, ube.max_pool and ube.avg_pool to
/// linalg.generic over a padded input (--ube-lower-to-linalg).
void populateWindowLoweringPatterns(mlir::RewritePatternSet &patterns);

} // namespace ube

#endif // UBE_PASSES_LINALG_WINDOWLOWERING_H
