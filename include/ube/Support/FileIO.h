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
#include <string>
#include <vector>

namespace ube {

/// Reads all of `path` into `bytes`. On failure returns false and sets
/// `error` to "PATH: why".
bool readRegularFile(const std::string &path, std::vector<uint8_t> &bytes, std::string &error);

} // namespace ube

#endif // UBE_SUPPORT_FILEIO_H
