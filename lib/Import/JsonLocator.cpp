//===- JsonLocator.cpp - source positions of JSON values ------------------===//

#include "JsonLocator.h"

#include <algorithm>
#include <cstring>
#include <string>

namespace ube {

JsonLocator::JsonLocator(llvm::StringRef text, int maxDepth)
    : text_(text), maxDepth_(maxDepth) {
  lineStarts_.push_back(0);
  for (size_t i = 0; i < text.size(); ++i)
    if (text[i] == '\n')
      lineStarts_.push_back(i + 1);
  size_t pos = 0;
  std::string pointer;
  skipSpace(pos);
  if (pos < text_.size())
    scanValue(pos, pointer, 0);
}

void JsonLocator::skipSpace(size_t &pos) const {
  while (pos < text_.size() &&
         (text_[pos] == ' ' || text_[pos] == '\t' || text_[pos] == '\n' ||
          text_[pos] == '\r'))
    ++pos;
}

void JsonLocator::skipString(size_t &pos) const {
  ++pos; // opening quote
  while (pos < text_.size() && text_[pos] != '"')
    pos += text_[pos] == '\\' ? 2 : 1;
  ++pos; // closing quote
}

void JsonLocator::scanValue(size_t &pos, std::string &pointer, int depth) {
  if (depth <= maxDepth_)
    offsets_[pointer] = pos;
  char c = text_[pos];
  size_t saved = pointer.size();
  if (c == '{' || c == '[') {
    bool object = c == '{';
    char close = object ? '}' : ']';
    ++pos;
    skipSpace(pos);
    for (size_t index = 0; pos < text_.size() && text_[pos] != close; ++index) {
      pointer += '/';
      if (object) {
        size_t keyStart = pos;
        skipString(pos);
        // JSON pointer escaping (~0, ~1) is not needed for our keys' lookups;
        // keys are recorded verbatim.
        pointer += text_.substr(keyStart + 1, pos - keyStart - 2).str();
        skipSpace(pos);
        ++pos; // ':'
        skipSpace(pos);
      } else {
        pointer += std::to_string(index);
      }
      scanValue(pos, pointer, depth + 1);
      pointer.resize(saved);
      skipSpace(pos);
      if (pos < text_.size() && text_[pos] == ',') {
        ++pos;
        skipSpace(pos);
      }
    }
    ++pos; // close
    return;
  }
  if (c == '"') {
    skipString(pos);
    return;
  }
  // Number, true, false, null: up to the next delimiter.
  while (pos < text_.size() && !std::strchr(",]} \t\r\n", text_[pos]))
    ++pos;
}

std::pair<unsigned, unsigned> JsonLocator::lineColumnOfOffset(size_t offset) const {
  auto it = std::upper_bound(lineStarts_.begin(), lineStarts_.end(), offset);
  size_t line = static_cast<size_t>(it - lineStarts_.begin()); // 1-based
  return {static_cast<unsigned>(line),
          static_cast<unsigned>(offset - lineStarts_[line - 1] + 1)};
}

std::pair<unsigned, unsigned> JsonLocator::lineColumn(llvm::StringRef pointer) const {
  std::string p = pointer.str();
  while (true) {
    auto it = offsets_.find(p);
    if (it != offsets_.end())
      return lineColumnOfOffset(it->second);
    if (p.empty())
      return {1, 1};
    p.resize(p.rfind('/'));
  }
}

} // namespace ube
