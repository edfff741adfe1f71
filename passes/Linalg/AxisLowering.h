//===- AxisLowering.h - argmax/argmin, cumsum, topk to linalg --*- C++ -*-===//

#ifndef UBE_PASSES_LINALG_AXISLOWERING_H
#define UBE_PASSES_LINALG_AXISLOWERING_H

#include "mlir/IR/PatternMatch.h"

namespace ube {

/// Conversion patterns lowering ube.argmax, ube.argmin, ube.cumsum and ube.topk to
/// linalg.generic (--ube-lower-to-linalg).
void populateAxisLoweringPatterns(mlir::RewritePatternSet &patterns);

} // namespace ube

#endif // UBE_PASSES_LINALG_AXISLOWERING_H
