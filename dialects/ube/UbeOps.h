//===- UbeOps.h - ube dialect operations ---------------------------*- C++ -*-===//

#ifndef UBE_DIALECTS_UBE_UBEOPS_H
#define UBE_DIALECTS_UBE_UBEOPS_H

#include "dialects/ube/UbeDialect.h"
#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#define GET_OP_CLASSES
#include "dialects/ube/UbeOps.h.inc"

#endif // UBE_DIALECTS_UBE_UBEOPS_H
