//===- Safetensors.cpp - read and write .safetensors files ----------------===//

#include "ube/Support/Safetensors.h"
#include "ube/Support/FileIO.h"

#include <algorithm>
#include <cstring>
#include <fmt/format.h>
#include <fstream>
#include <nlohmann/json.hpp>

namespace ube {
namespace {
using json = nlohmann::json;

/// Headers beyond this are refused: real ones are a few hundred kB at most,
/// and a corrupt length must not make us allocate gigabytes.
constexpr uint64_t kMaxHeaderBytes = 100u << 20;


bool parseEntry(const std::string &path, const std::string &name, const json &value,
                uint64_t dataStart, uint64_t dataSize, SafetensorsEntry &entry,
                std::string &error) {
  auto fail = [&](const std::string &why) {
    error = fmt::format("{}: tensor '{}': {}", path, name, why);
    return false;
  };
  if (!value.is_object())
    return fail("header entry is not an object");
  auto dtypeIt = value.find("dtype");
  auto shapeIt = value.find("shape");
  auto offsetsIt = value.find("data_offsets");
  if (dtypeIt == value.end() || !dtypeIt->is_string())
    return fail("missing string field 'dtype'");
  if (shapeIt == value.end() || !shapeIt->is_array())
    return fail("missing array field 'shape'");
  if (offsetsIt == value.end() || !offsetsIt->is_array() || offsetsIt->size() != 2 ||
      !(*offsetsIt)[0].is_number_unsigned() || !(*offsetsIt)[1].is_number_unsigned())
    return fail("'data_offsets' must be two non-negative integers");
  std::string dtypeName = dtypeIt->get<std::string>();
  auto dtype = parseSafetensorsDType(dtypeName);
  if (!dtype) {
    std::string known;
    for (DType d : kAllDTypes)
      known += (known.empty() ? "" : ", ") + std::string(dtypeSafetensorsName(d));
    return fail(fmt::format("unsupported dtype '{}' (ube reads {})", dtypeName, known));
  }
  entry.name = name;
  entry.dtype = *dtype;
  entry.shape.clear();
  for (const json &dim : *shapeIt) {
    if (!dim.is_number_unsigned())
      return fail("shape entries must be non-negative integers");
    uint64_t d = dim.get<uint64_t>();
    if (d > static_cast<uint64_t>(INT64_MAX))
      return fail("shape dimension too large");
    entry.shape.push_back(static_cast<int64_t>(d));
  }
  uint64_t begin = (*offsetsIt)[0].get<uint64_t>();
  uint64_t end = (*offsetsIt)[1].get<uint64_t>();
  if (begin > end || end > dataSize)
    return fail(fmt::format("data_offsets [{}, {}] lie outside the {}-byte data "
                            "section (file truncated?)",
                            begin, end, dataSize));
  auto bytes = numBytes(entry.shape, entry.dtype);
  if (!bytes)
    return fail("element count overflows");
  uint64_t expected = uint64_t(*bytes);
  if (end - begin != expected)
    return fail(fmt::format("holds {} bytes but shape {} of {} needs {}", end - begin,
                            shapeToString(entry.shape), dtypeName, expected));
  entry.offset = dataStart + begin;
  entry.size = expected;
  return true;
}
} // namespace

std::unique_ptr<SafetensorsFile> SafetensorsFile::open(const std::string &path,
                                                       std::string &error) {
  std::shared_ptr<const FileBytes> bytes = FileBytes::map(path, error);
  if (!bytes)
    return nullptr;
  return fromBytes(std::move(bytes), path, error);
}

std::unique_ptr<SafetensorsFile>
SafetensorsFile::fromBytes(std::vector<uint8_t> bytes, const std::string &path,
                           std::string &error) {
  return fromBytes(std::make_shared<const FileBytes>(std::move(bytes)), path, error);
}

std::unique_ptr<SafetensorsFile>
SafetensorsFile::fromBytes(std::shared_ptr<const FileBytes> bytes, const std::string &path,
                           std::string &error) {
  auto file = std::unique_ptr<SafetensorsFile>(new SafetensorsFile());
  file->path_ = path;
  file->bytes_ = std::move(bytes);
  const FileBytes &b = *file->bytes_;
  if (b.size() < 8) {
    error = fmt::format("{}: not a safetensors file: {} bytes is shorter than the "
                        "8-byte header length",
                        path, b.size());
    return nullptr;
  }
  uint64_t headerSize = 0;
  for (int i = 7; i >= 0; --i)
    headerSize = (headerSize << 8) | b.data()[i];
  if (headerSize > kMaxHeaderBytes || headerSize > b.size() - 8) {
    error = fmt::format("{}: header length {} exceeds the file ({} bytes): "
                        "truncated or not a safetensors file",
                        path, headerSize, b.size());
    return nullptr;
  }
  const char *headerBegin = reinterpret_cast<const char *>(b.data() + 8);
  json header = json::parse(headerBegin, headerBegin + headerSize, nullptr,
                            /*allow_exceptions=*/false);
  if (header.is_discarded() || !header.is_object()) {
    error = fmt::format("{}: the header is not a JSON object", path);
    return nullptr;
  }
  uint64_t dataStart = 8 + headerSize;
  uint64_t dataSize = b.size() - dataStart;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (!it->is_object()) {
        error = fmt::format("{}: __metadata__ must be an object of strings", path);
        return nullptr;
      }
      for (auto m = it->begin(); m != it->end(); ++m) {
        if (!m->is_string()) {
          error = fmt::format("{}: __metadata__ value '{}' is not a string", path,
                              m.key());
          return nullptr;
        }
        file->metadata_[m.key()] = m->get<std::string>();
      }
      continue;
    }
    SafetensorsEntry entry;
    if (!parseEntry(path, it.key(), *it, dataStart, dataSize, entry, error))
      return nullptr;
    file->entries_.push_back(std::move(entry));
  }
  // Tensors must not overlap: check neighbours in offset order.
  std::vector<const SafetensorsEntry *> byOffset;
  for (const auto &e : file->entries_)
    byOffset.push_back(&e);
  std::sort(byOffset.begin(), byOffset.end(),
            [](auto *a, auto *b) { return a->offset < b->offset; });
  for (size_t i = 1; i < byOffset.size(); ++i) {
    const SafetensorsEntry *prev = byOffset[i - 1], *cur = byOffset[i];
    if (prev->size && cur->size && prev->offset + prev->size > cur->offset) {
      error = fmt::format("{}: tensors '{}' and '{}' overlap", path, prev->name,
                          cur->name);
      return nullptr;
    }
  }
  std::sort(file->entries_.begin(), file->entries_.end(),
            [](const auto &a, const auto &b) { return a.name < b.name; });
  return file;
}

const SafetensorsEntry *SafetensorsFile::find(const std::string &name) const {
  auto it = std::lower_bound(entries_.begin(), entries_.end(), name,
                             [](const auto &e, const std::string &n) { return e.name < n; });
  return it != entries_.end() && it->name == name ? &*it : nullptr;
}

bool SafetensorsWriter::add(const std::string &name, DType dtype,
                            std::vector<int64_t> shape, const void *bytes,
                            size_t size, std::string &error) {
  if (name == "__metadata__" || tensors_.count(name)) {
    error = fmt::format("tensor name '{}' is reserved or already used", name);
    return false;
  }
  auto count = numElements(shape);
  if (!count || static_cast<uint64_t>(*count) * dtypeSize(dtype) != size) {
    error = fmt::format("tensor '{}': {} bytes do not match shape {} of {}", name,
                        size, shapeToString(shape), dtypeName(dtype));
    return false;
  }
  const auto *p = static_cast<const uint8_t *>(bytes);
  tensors_[name] = Tensor{dtype, std::move(shape), std::vector<uint8_t>(p, p + size)};
  return true;
}

bool SafetensorsWriter::write(const std::string &path, std::string &error) const {
  json header = json::object();
  if (!metadata_.empty())
    header["__metadata__"] = metadata_;
  uint64_t offset = 0;
  for (const auto &[name, t] : tensors_) {
    header[name] = {{"dtype", dtypeSafetensorsName(t.dtype)},
                    {"shape", t.shape},
                    {"data_offsets", {offset, offset + t.bytes.size()}}};
    offset += t.bytes.size();
  }
  std::string text = header.dump();
  // Pad with spaces so the data section starts 8-byte aligned.
  text.append((8 - (8 + text.size()) % 8) % 8, ' ');
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) {
    error = fmt::format("{}: cannot write file: {}", path, std::strerror(errno));
    return false;
  }
  uint64_t n = text.size();
  for (int i = 0; i < 8; ++i)
    out.put(static_cast<char>((n >> (8 * i)) & 0xff));
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  for (const auto &[name, t] : tensors_)
    out.write(reinterpret_cast<const char *>(t.bytes.data()),
              static_cast<std::streamsize>(t.bytes.size()));
  if (!out.flush()) {
    error = fmt::format("{}: write failed", path);
    return false;
  }
  return true;
}

} // namespace ube
