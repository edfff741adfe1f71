//===- JsonLocator.h - source positions of JSON values ------------*- C++ -*-===//
//
// nlohmann_json keeps no source positions, so after a successful parse this
// scans the text once more and records where each value starts, keyed by its
// JSON pointer ("/nodes/3/inputs/1"), down to a fixed depth.
//
//===----------------------------------------------------------------------===//

#ifndef UBE_LIB_IMPORT_JSONLOCATOR_H
#define UBE_LIB_IMPORT_JSONLOCATOR_H

#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringRef.h"

#include <cstddef>
#include <utility>
#include <vector>

namespace ube {

class JsonLocator {
public:
  /// `text` must be valid JSON; values deeper than `maxDepth` are not recorded.
  JsonLocator(llvm::StringRef text, int maxDepth = 4);

  /// 1-based line and column of the value at `pointer`, or of the closest
  /// recorded ancestor.
  std::pair<unsigned, unsigned> lineColumn(llvm::StringRef pointer) const;
  /// 1-based line and column of a byte offset.
  std::pair<unsigned, unsigned> lineColumnOfOffset(size_t offset) const;

private:
  void scanValue(size_t &pos, std::string &pointer, int depth);
  void skipSpace(size_t &pos) const;
  void skipString(size_t &pos) const;

  llvm::StringRef text_;
  int maxDepth_;
  llvm::StringMap<size_t> offsets_;
  std::vector<size_t> lineStarts_;
};

} // namespace ube

#endif // UBE_LIB_IMPORT_JSONLOCATOR_H
