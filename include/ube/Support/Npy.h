//===- Npy.h - read and write numpy .npy files --------------------*- C++ -*-===//
//
// The .npy format, versions 1.0-3.0, C order, little-endian, for the dtypes
// ube uses: f32 '<f4', f16 '<f2', i32 '<i4', i64 '<i8', i1 '|b1' (bf16 has no
// numpy dtype). Every header field and size is validated. LLVM-free.
//
//===----------------------------------------------------------------------===//

#ifndef UBE_SUPPORT_NPY_H
#define UBE_SUPPORT_NPY_H

#include "ube/Support/DType.h"

#include <cstdint>
#include <string>
#include <vector>

namespace ube {

struct NpyArray {
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  std::vector<uint8_t> data;
};

/// Parses an in-memory .npy image; errors name `displayName`.
bool parseNpy(const uint8_t *bytes, size_t size, const std::string &displayName,
              NpyArray &out, std::string &error);
bool readNpy(const std::string &path, NpyArray &out, std::string &error);
bool writeNpy(const std::string &path, DType dtype, const std::vector<int64_t> &shape,
              const void *data, std::string &error);

} // namespace ube

#endif // UBE_SUPPORT_NPY_H
