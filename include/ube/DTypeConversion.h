//===- DTypeConversion.h - ube::DType <-> MLIR element types ------*- C++ -*-===//

#ifndef UBE_DTYPECONVERSION_H
#define UBE_DTYPECONVERSION_H

#include "ube/Support/DType.h"

#include "mlir/IR/BuiltinTypes.h"

#include <optional>

namespace ube {

inline mlir::Type toElementType(DType dtype, mlir::MLIRContext *context) {
  switch (dtype) {
  case DType::F32: return mlir::Float32Type::get(context);
  case DType::F16: return mlir::Float16Type::get(context);
  case DType::BF16: return mlir::BFloat16Type::get(context);
  case DType::I1: return mlir::IntegerType::get(context, 1);
  case DType::I32: return mlir::IntegerType::get(context, 32);
  case DType::I64: return mlir::IntegerType::get(context, 64);
  case DType::F64: return mlir::Float64Type::get(context);
  case DType::I8: return mlir::IntegerType::get(context, 8);
  case DType::I16: return mlir::IntegerType::get(context, 16);
  case DType::U8: return mlir::IntegerType::get(context, 8, mlir::IntegerType::Unsigned);
  case DType::U16: return mlir::IntegerType::get(context, 16, mlir::IntegerType::Unsigned);
  case DType::U32: return mlir::IntegerType::get(context, 32, mlir::IntegerType::Unsigned);
  case DType::U64: return mlir::IntegerType::get(context, 64, mlir::IntegerType::Unsigned);
  }
  return {};
}

inline std::optional<DType> toDType(mlir::Type type) {
  for (DType dtype : kAllDTypes)
    if (toElementType(dtype, type.getContext()) == type)
      return dtype;
  return std::nullopt;
}

} // namespace ube

#endif // UBE_DTYPECONVERSION_H
