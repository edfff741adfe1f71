//===- NpyFuzzer.cpp - libFuzzer target for the .npy reader ------------------===//
//
// Feeds arbitrary bytes to parseNpy. A parsed array must hold exactly the
// bytes its dtype and shape say.
//
//===----------------------------------------------------------------------===//

#include "FuzzCheck.h"
#include "ube/Support/Npy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ube::NpyArray array;
  std::string error;
  if (!ube::parseNpy(data, size, "fuzz.npy", array, error)) {
    UBE_FUZZ_CHECK(!error.empty());
    return 0;
  }
  auto elements = ube::numElements(array.shape);
  UBE_FUZZ_CHECK(elements && array.data.size() == *elements * ube::dtypeSize(array.dtype));
  ube::fuzz::touch(array.data.data(), array.data.size());
  return 0;
}
