//===- RowMajorStrides.h - strides of a dense row-major view ---*- C++ -*-===//
//
// A buffer viewed at sizes that may be symbolic (an entry point's bare
// pointer, a flattened expansion) has the strides of a dense row-major
// layout: each the product of the sizes after it, folded where static.
//
//===----------------------------------------------------------------------===//

#ifndef UBE_PASSES_UTILS_ROWMAJORSTRIDES_H
#define UBE_PASSES_UTILS_ROWMAJORSTRIDES_H

#include "mlir/IR/Builders.h"

namespace ube {

/// The row-major strides of `sizes`, built at `b`'s insertion point where
/// not constants.
llvm::SmallVector<mlir::OpFoldResult> rowMajorStrides(mlir::OpBuilder &b, mlir::Location loc,
                                                      llvm::ArrayRef<mlir::OpFoldResult> sizes);

} // namespace ube

#endif // UBE_PASSES_UTILS_ROWMAJORSTRIDES_H
