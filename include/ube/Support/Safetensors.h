//===- Safetensors.h - read and write .safetensors files ----------*- C++ -*-===//
//
// The safetensors format: an 8-byte little-endian header length N, N bytes of
// JSON mapping each tensor name to {dtype, shape, data_offsets: [begin, end]}
// (offsets relative to the data section) plus an optional "__metadata__"
// object of strings, then the data section.
//
// The reader validates everything before handing out a byte: header bounds,
// JSON shape, dtypes, offsets inside the file, byte sizes matching shapes, and
// no overlapping tensors. LLVM-free.
//
//===----------------------------------------------------------------------===//

#ifndef UBE_SUPPORT_SAFETENSORS_H
#define UBE_SUPPORT_SAFETENSORS_H

#include "ube/Support/DType.h"
#include "ube/Support/FileIO.h"

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace ube {

struct SafetensorsEntry {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  uint64_t offset = 0; ///< Byte offset of the data within the file.
  uint64_t size = 0;   ///< Byte size of the data.
};

class SafetensorsFile {
public:
  /// Opens and validates `path`. On failure returns null and sets `error` to a
  /// message that names the file.
  static std::unique_ptr<SafetensorsFile> open(const std::string &path,
                                               std::string &error);
  /// Validates an in-memory image. `displayName` names it in errors.
  static std::unique_ptr<SafetensorsFile> fromBytes(std::vector<uint8_t> bytes,
                                                    const std::string &displayName,
                                                    std::string &error);
  /// Validates the bytes of a file (mapped or held).
  static std::unique_ptr<SafetensorsFile> fromBytes(std::shared_ptr<const FileBytes> bytes,
                                                    const std::string &displayName,
                                                    std::string &error);

  const std::string &path() const { return path_; }
  /// Entries sorted by name.
  const std::vector<SafetensorsEntry> &entries() const { return entries_; }
  const SafetensorsEntry *find(const std::string &name) const;
  const uint8_t *data(const SafetensorsEntry &entry) const {
    return bytes_->data() + entry.offset;
  }
  /// The file's bytes (mapped when opened from a path): hold on to them to
  /// use data() without a copy beyond this object's life.
  const std::shared_ptr<const FileBytes> &bytes() const { return bytes_; }
  const std::map<std::string, std::string> &metadata() const { return metadata_; }

private:
  std::string path_;
  std::shared_ptr<const FileBytes> bytes_;
  std::vector<SafetensorsEntry> entries_;
  std::map<std::string, std::string> metadata_;
};

/// Collects tensors and writes them as one safetensors file, tensors in name
/// order with 8-byte aligned data.
class SafetensorsWriter {
public:
  /// Adds a tensor; `bytes` must hold numElements(shape) * dtypeSize(dtype)
  /// bytes. Returns false (and sets `error`) on a duplicate name or size mismatch.
  bool add(const std::string &name, DType dtype, std::vector<int64_t> shape,
           const void *bytes, size_t size, std::string &error);
  void setMetadata(const std::string &key, const std::string &value) {
    metadata_[key] = value;
  }
  bool empty() const { return tensors_.empty(); }
  bool write(const std::string &path, std::string &error) const;

private:
  struct Tensor {
    DType dtype;
    std::vector<int64_t> shape;
    std::vector<uint8_t> bytes;
  };
  std::map<std::string, Tensor> tensors_;
  std::map<std::string, std::string> metadata_;
};

} // namespace ube

#endif // UBE_SUPPORT_SAFETENSORS_H
