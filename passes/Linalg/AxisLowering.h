//===- AxisLowering.h - argmax/argmin and cumsum to linalg ------*- C++ -*-===//

#ifndef UBE_PASSES_LINALG_AXISLOWERING_H
#define UBE_PASSES_LINALG_AXISLOWERING_H

#include "mlir/IR/PatternMatch.h"

namespace ube {

/// Conversion patterns lowering ube.argmax, ube.argmin and ube.cumsum to
/// linalg.generic (--ube-lower-to-linalg).
void populateAxisLoweringPatterns(mlir::RewritePatternSet &patterns);

} // namespace ube

#endif // UBE_PASSES_LINALG_AXISLOWERING_H
