//===- UbeOps.h - ube dialect operations ---------------------------*- C++ -*-===//

#ifndef UBE_DIALECTS_UBE_UBEOPS_H
#define UBE_DIALECTS_UBE_UBEOPS_H

#include "dialects/ube/UbeDialect.h"
#include "dialects/ube/UbeWindow.h"
#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "dialects/ube/UbeInterfaces.h.inc"

#define GET_OP_CLASSES
#include "dialects/ube/UbeOps.h.inc"

namespace ube {
/// Attaches the gradient rules (DifferentiableOpInterface) to the ube ops.
void attachVjpRules(mlir::MLIRContext &context);
} // namespace ube

#endif // UBE_DIALECTS_UBE_UBEOPS_H
