//===- UbeDialect.h - the ube dialect -----------------------------*- C++ -*-===//

#ifndef UBE_DIALECTS_UBE_UBEDIALECT_H
#define UBE_DIALECTS_UBE_UBEDIALECT_H

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/Operation.h"

#include "dialects/ube/UbeOpsDialect.h.inc"

#define GET_ATTRDEF_CLASSES
#include "dialects/ube/UbeAttrs.h.inc"

#include "ube/Support/PlanExpr.h"

namespace ube {
/// Expression lists over an entry point's symbols (`ube.arena_exprs`) as an
/// attribute, in the manifest's JSON form ([["symbol", 0], ["const", 64],
/// ["muli", 0, 1]]), and back (failure when malformed).
mlir::ArrayAttr sizeExprsToAttr(mlir::MLIRContext *context, llvm::ArrayRef<PlanExpr> exprs);
mlir::FailureOr<std::vector<PlanExpr>> sizeExprsFromAttr(mlir::ArrayAttr attr);
} // namespace ube

#endif // UBE_DIALECTS_UBE_UBEDIALECT_H
