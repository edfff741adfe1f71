//===- SafetensorsFuzzer.cpp - libFuzzer target for the safetensors reader ---===//
//
// Feeds arbitrary bytes to SafetensorsFile::fromBytes. Every tensor of a file
// that validates must lie inside it, with the byte size its shape says.
//
//===----------------------------------------------------------------------===//

#include "FuzzCheck.h"
#include "ube/Support/Safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string error;
  auto file = ube::SafetensorsFile::fromBytes(std::vector<uint8_t>(data, data + size),
                                              "fuzz.safetensors", error);
  if (!file) {
    UBE_FUZZ_CHECK(!error.empty());
    return 0;
  }
  for (const ube::SafetensorsEntry &entry : file->entries()) {
    auto elements = ube::numElements(entry.shape);
    UBE_FUZZ_CHECK(elements && entry.size == *elements * ube::dtypeSize(entry.dtype));
    UBE_FUZZ_CHECK(entry.offset <= size && entry.size <= size - entry.offset);
    UBE_FUZZ_CHECK(file->find(entry.name) == &entry);
    ube::fuzz::touch(file->data(entry), entry.size);
  }
  return 0;
}
