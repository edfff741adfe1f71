//===- UbeDialect.h - the ube dialect -----------------------------*- C++ -*-===//

#ifndef UBE_DIALECTS_UBE_UBEDIALECT_H
#define UBE_DIALECTS_UBE_UBEDIALECT_H

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/Operation.h"

#include "dialects/ube/UbeOpsDialect.h.inc"

#define GET_ATTRDEF_CLASSES
#include "dialects/ube/UbeAttrs.h.inc"

#endif // UBE_DIALECTS_UBE_UBEDIALECT_H
