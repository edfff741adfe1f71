//===- FileIO.h - reading whole input files ----------------------*- C++ -*-===//
//
// Every file ube reads from a user (graph weights, .npy, .ube) goes through
// readRegularFile: it refuses what is not a regular file (a directory, a
// FIFO, /dev/zero, /dev/stdin), which would otherwise hang or exhaust memory,
// and its errors name the file. LLVM-free.
//
//===----------------------------------------------------------------------===//

#ifndef UBE_SUPPORT_FILEIO_H
#define UBE_SUPPORT_FILEIO_H

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace ube {

/// Reads all of `path` into `bytes`. On failure returns false and sets
/// `error` to "PATH: why".
bool readRegularFile(const std::string &path, std::vector<uint8_t> &bytes, std::string &error);

/// Hints that the pages wholly inside [begin, begin + size) will not be read
/// again soon, so the system may reclaim them: mapped file pages leave
/// memory (and are read back from the file if touched again); anonymous
/// memory stays without swap. Never changes the bytes.
void adviseReclaim(const void *begin, size_t size);

/// A file's bytes, read-only: mapped from a regular file (weights of many GB
/// are paged in as read and never copied) or held in memory.
class FileBytes {
public:
  explicit FileBytes(std::vector<uint8_t> bytes);
  ~FileBytes();
  FileBytes(const FileBytes &) = delete;
  FileBytes &operator=(const FileBytes &) = delete;

  /// Maps `path` (what readRegularFile refuses, this refuses too). The file
  /// must not shrink while mapped. Null on failure, with `error` set.
  static std::shared_ptr<const FileBytes> map(const std::string &path, std::string &error);

  const uint8_t *data() const { return data_; }
  size_t size() const { return size_; }
  /// Hands the mapped pages wholly inside [begin, begin + size) back to the
  /// system (a weight its user is done with); touched again, they are read
  /// from the file. Nothing for bytes held in memory.
  void release(const uint8_t *begin, size_t size) const;

private:
  FileBytes() = default;
  std::vector<uint8_t> owned_;
  const uint8_t *data_ = nullptr;
  size_t size_ = 0;
  bool mapped_ = false;
};

} // namespace ube

#endif // UBE_SUPPORT_FILEIO_H
