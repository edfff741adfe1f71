//===- Npy.cpp - read and write numpy .npy files --------------------------===//

#include "ube/Support/Npy.h"
#include "ube/Support/FileIO.h"

#include <cerrno>
#include <cstring>
#include <fmt/format.h>
#include <fstream>

namespace ube {
namespace {

constexpr char kMagic[] = "\x93NUMPY";

const char *descrOf(DType dtype) {
  switch (dtype) {
  case DType::F32: return "<f4";
  case DType::F16: return "<f2";
  case DType::I32: return "<i4";
  case DType::I64: return "<i8";
  case DType::I1: return "|b1";
  case DType::F64: return "<f8";
  case DType::I8: return "|i1";
  case DType::I16: return "<i2";
  case DType::U8: return "|u1";
  case DType::U16: return "<u2";
  case DType::U32: return "<u4";
  case DType::U64: return "<u8";
  case DType::BF16: return nullptr;
  }
  return nullptr;
}

/// The value text after `'key':` in the header dictionary, or npos.
size_t valueStart(const std::string &header, const std::string &key) {
  size_t at = header.find("'" + key + "'");
  if (at == std::string::npos)
    return at;
  at = header.find(':', at);
  if (at == std::string::npos)
    return at;
  at += 1;
  while (at < header.size() && header[at] == ' ')
    ++at;
  return at;
}
} // namespace

bool parseNpy(const uint8_t *bytes, size_t size, const std::string &name, NpyArray &out,
              std::string &error) {
  auto fail = [&](const std::string &why) {
    error = fmt::format("{}: {}", name, why);
    return false;
  };
  if (size < 10 || std::memcmp(bytes, kMagic, 6) != 0)
    return fail("not a .npy file (bad magic)");
  uint8_t major = bytes[6];
  size_t headerLength, headerStart;
  if (major == 1) {
    headerLength = bytes[8] | (size_t(bytes[9]) << 8);
    headerStart = 10;
  } else if (major == 2 || major == 3) {
    if (size < 12)
      return fail("truncated .npy header");
    headerLength = bytes[8] | (size_t(bytes[9]) << 8) | (size_t(bytes[10]) << 16) |
                   (size_t(bytes[11]) << 24);
    headerStart = 12;
  } else {
    return fail(fmt::format("unsupported .npy version {}", major));
  }
  if (headerLength > size - headerStart)
    return fail("truncated .npy header");
  std::string header(reinterpret_cast<const char *>(bytes + headerStart), headerLength);

  size_t at = valueStart(header, "descr");
  if (at == std::string::npos || at >= header.size() || header[at] != '\'')
    return fail("the header has no 'descr'");
  size_t end = header.find('\'', at + 1);
  if (end == std::string::npos)
    return fail("malformed 'descr'");
  std::string descr = header.substr(at + 1, end - at - 1);
  if (descr == "<b1")
    descr = "|b1";
  bool known = false;
  for (DType d : kAllDTypes)
    if (const char *s = descrOf(d); s && descr == s) {
      out.dtype = d;
      known = true;
    }
  if (!known)
    return fail(fmt::format("unsupported dtype '{}' (ube reads float32, float64, float16, "
                            "int8-64, uint8-64 and bool arrays)",
                            descr));

  at = valueStart(header, "fortran_order");
  if (at == std::string::npos)
    return fail("the header has no 'fortran_order'");
  if (header.compare(at, 4, "True") == 0)
    return fail("Fortran-order arrays are not supported; save with np.ascontiguousarray");

  at = valueStart(header, "shape");
  if (at == std::string::npos || at >= header.size() || header[at] != '(')
    return fail("the header has no 'shape' tuple");
  end = header.find(')', at);
  if (end == std::string::npos)
    return fail("malformed 'shape'");
  out.shape.clear();
  std::string dims = header.substr(at + 1, end - at - 1);
  size_t pos = 0;
  while (pos < dims.size()) {
    while (pos < dims.size() && (dims[pos] == ' ' || dims[pos] == ','))
      ++pos;
    if (pos >= dims.size())
      break;
    size_t digits = pos;
    while (digits < dims.size() && std::isdigit(static_cast<unsigned char>(dims[digits])))
      ++digits;
    if (digits == pos || digits - pos > 15)
      return fail("malformed 'shape'");
    out.shape.push_back(std::stoll(dims.substr(pos, digits - pos)));
    pos = digits;
  }
  auto count = numElements(out.shape);
  size_t dataStart = headerStart + headerLength;
  if (!count || uint64_t(*count) > (size - dataStart) / dtypeSize(out.dtype) ||
      uint64_t(*count) * dtypeSize(out.dtype) != size - dataStart)
    return fail(fmt::format("holds {} data bytes but shape {} of {} needs {}",
                            size - dataStart, shapeToString(out.shape),
                            dtypeName(out.dtype),
                            count ? uint64_t(*count) * dtypeSize(out.dtype) : 0));
  out.data.assign(bytes + dataStart, bytes + size);
  return true;
}

bool readNpy(const std::string &path, NpyArray &out, std::string &error) {
  std::vector<uint8_t> bytes;
  if (!readRegularFile(path, bytes, error))
    return false;
  return parseNpy(bytes.data(), bytes.size(), path, out, error);
}

bool writeNpy(const std::string &path, DType dtype, const std::vector<int64_t> &shape,
              const void *data, std::string &error) {
  const char *descr = descrOf(dtype);
  if (!descr) {
    error = fmt::format("{}: {} has no .npy dtype", path, dtypeName(dtype));
    return false;
  }
  std::string dims;
  for (int64_t d : shape)
    dims += std::to_string(d) + ", ";
  if (shape.size() > 1)
    dims.resize(dims.size() - 2);
  else if (shape.size() == 1)
    dims.pop_back();
  std::string header =
      fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': ({}), }}", descr, dims);
  // Pad with spaces and a newline so the data is 64-byte aligned (v1.0).
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) {
    error = fmt::format("{}: cannot write file: {}", path, std::strerror(errno));
    return false;
  }
  out.write(kMagic, 6);
  out.put(1);
  out.put(0);
  out.put(char(header.size() & 0xff));
  out.put(char(header.size() >> 8));
  out << header;
  out.write(static_cast<const char *>(data),
            std::streamsize(*numElements(shape) * dtypeSize(dtype)));
  if (!out.flush()) {
    error = fmt::format("{}: write failed", path);
    return false;
  }
  return true;
}

} // namespace ube
