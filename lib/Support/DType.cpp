//===- DType.cpp - tensor element types -----------------------------------===//

#include "ube/Support/DType.h"

namespace ube {

size_t dtypeSize(DType dtype) {
  switch (dtype) {
  case DType::F32: return 4;
  case DType::F16: return 2;
  case DType::BF16: return 2;
  case DType::I1: return 1;
  case DType::I32: return 4;
  case DType::I64: return 8;
  case DType::F64: return 8;
  case DType::I8: return 1;
  case DType::I16: return 2;
  case DType::U8: return 1;
  case DType::U16: return 2;
  case DType::U32: return 4;
  case DType::U64: return 8;
  }
  return 0;
}

std::string_view dtypeName(DType dtype) {
  switch (dtype) {
  case DType::F32: return "f32";
  case DType::F16: return "f16";
  case DType::BF16: return "bf16";
  case DType::I1: return "i1";
  case DType::I32: return "i32";
  case DType::I64: return "i64";
  case DType::F64: return "f64";
  case DType::I8: return "i8";
  case DType::I16: return "i16";
  case DType::U8: return "u8";
  case DType::U16: return "u16";
  case DType::U32: return "u32";
  case DType::U64: return "u64";
  }
  return "?";
}

std::string_view dtypeSafetensorsName(DType dtype) {
  switch (dtype) {
  case DType::F32: return "F32";
  case DType::F16: return "F16";
  case DType::BF16: return "BF16";
  case DType::I1: return "BOOL";
  case DType::I32: return "I32";
  case DType::I64: return "I64";
  case DType::F64: return "F64";
  case DType::I8: return "I8";
  case DType::I16: return "I16";
  case DType::U8: return "U8";
  case DType::U16: return "U16";
  case DType::U32: return "U32";
  case DType::U64: return "U64";
  }
  return "?";
}

std::optional<DType> parseDType(std::string_view name) {
  for (DType d : kAllDTypes)
    if (dtypeName(d) == name)
      return d;
  return std::nullopt;
}

std::optional<DType> parseSafetensorsDType(std::string_view name) {
  for (DType d : kAllDTypes)
    if (dtypeSafetensorsName(d) == name)
      return d;
  return std::nullopt;
}

std::string dtypeNameList() {
  std::string s;
  for (DType d : kAllDTypes) {
    if (!s.empty())
      s += ", ";
    s += dtypeName(d);
  }
  return s;
}

bool isIntegerDType(DType dtype) {
  return dtype == DType::I1 || dtype == DType::I8 || dtype == DType::I16 || dtype == DType::I32 ||
         dtype == DType::I64 || isUnsignedDType(dtype);
}

bool isUnsignedDType(DType dtype) {
  return dtype == DType::U8 || dtype == DType::U16 || dtype == DType::U32 || dtype == DType::U64;
}

std::optional<int64_t> numElements(const std::vector<int64_t> &shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0 || (d != 0 && n > INT64_MAX / d))
      return std::nullopt;
    n *= d;
  }
  return n;
}

std::optional<int64_t> numBytes(const std::vector<int64_t> &shape, DType dtype) {
  auto count = numElements(shape);
  int64_t size = int64_t(dtypeSize(dtype));
  if (!count || *count > INT64_MAX / size)
    return std::nullopt;
  return *count * size;
}

std::string shapeToString(const std::vector<int64_t> &shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i)
      s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

} // namespace ube
