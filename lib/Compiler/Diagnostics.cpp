//===- Diagnostics.cpp - printing diagnostics safely ---------------------===//

#include "ube/Diagnostics.h"

#include "llvm/Support/ConvertUTF.h"
#include "llvm/Support/Format.h"

namespace ube {

void EscapingOstream::write_impl(const char *data, size_t size) {
  const auto *bytes = reinterpret_cast<const llvm::UTF8 *>(data);
  for (size_t i = 0; i < size;) {
    unsigned char c = bytes[i];
    if (c == '\n' || c == '\t' || (c >= 0x20 && c < 0x7f)) {
      out << char(c);
      ++i;
      continue;
    }
    unsigned length = c >= 0x80 ? llvm::getNumBytesForUTF8(c) : 0;
    if (length > 1 && i + length <= size &&
        llvm::isLegalUTF8Sequence(bytes + i, bytes + i + length)) {
      out.write(data + i, length);
      i += length;
      continue;
    }
    out << "\\x" << llvm::format_hex_no_prefix(c, 2);
    ++i;
  }
  position += size;
}

} // namespace ube
