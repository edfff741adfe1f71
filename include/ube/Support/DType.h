//===- DType.h - tensor element types shared by every file format -*- C++ -*-===//
//
// LLVM-free: used by the compiler, the runtime and the Python extension.
//
//===----------------------------------------------------------------------===//

#ifndef UBE_SUPPORT_DTYPE_H
#define UBE_SUPPORT_DTYPE_H

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ube {

/// Values are the C API's `ube_dtype` (runtime.h): new types go at the end.
enum class DType : uint8_t { F32, F16, BF16, I1, I32, I64, F64, I8, I16, U8, U16, U32, U64 };

/// Every dtype, in declaration order.
inline constexpr DType kAllDTypes[] = {DType::F32, DType::F16, DType::BF16,
                                       DType::I1,  DType::I32, DType::I64,
                                       DType::F64, DType::I8,  DType::I16,
                                       DType::U8,  DType::U16, DType::U32,
                                       DType::U64};

/// Bytes per element in memory and in safetensors (i1 is one byte, 0 or 1).
size_t dtypeSize(DType dtype);
/// The graph-file spelling: "f32", "f16", "bf16", "i1", "i32", "i64", "f64",
/// "i8", "i16", "u8", "u16", "u32", "u64".
std::string_view dtypeName(DType dtype);
/// The safetensors spelling: "F32", "F16", "BF16", "BOOL", "I32", "I64", "F64",
/// "I8", "I16", "U8", "U16", "U32", "U64".
std::string_view dtypeSafetensorsName(DType dtype);
std::optional<DType> parseDType(std::string_view name);
std::optional<DType> parseSafetensorsDType(std::string_view name);
/// A comma-separated list of the graph-file spellings, for error messages.
std::string dtypeNameList();
/// Whether elements are integers (i1 included) rather than floats.
bool isIntegerDType(DType dtype);
/// Whether elements are unsigned integers (u8 ... u64).
bool isUnsignedDType(DType dtype);

/// The number of elements of `shape`, or nullopt when a dimension is negative
/// or the product overflows int64.
std::optional<int64_t> numElements(const std::vector<int64_t> &shape);
/// The byte size of a `dtype` tensor of `shape`, or nullopt when a dimension
/// is negative or the size overflows int64.
std::optional<int64_t> numBytes(const std::vector<int64_t> &shape, DType dtype);
/// "[2, 3]".
std::string shapeToString(const std::vector<int64_t> &shape);

} // namespace ube

#endif // UBE_SUPPORT_DTYPE_H
