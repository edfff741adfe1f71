//===- FuzzCheck.h - invariants the fuzz targets assert ------------*- C++ -*-===//
//
// A fuzz target finds crashes by itself; these checks turn silent misbehaviour
// (a failure without a message, a buffer shorter than claimed) into crashes
// libFuzzer reports too.
//
//===----------------------------------------------------------------------===//

#ifndef UBE_TEST_FUZZ_FUZZCHECK_H
#define UBE_TEST_FUZZ_FUZZCHECK_H

#include <cstdint>
#include <cstdio>
#include <cstdlib>

#define UBE_FUZZ_CHECK(cond)                                                            \
  do {                                                                                  \
    if (!(cond)) {                                                                      \
      std::fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n", __FILE__, __LINE__,   \
                   #cond);                                                              \
      std::abort();                                                                     \
    }                                                                                   \
  } while (false)

namespace ube::fuzz {
/// Reads every byte, so that ASan sees a range that is not really there.
inline void touch(const uint8_t *data, size_t size) {
  volatile uint8_t sink = 0;
  for (size_t i = 0; i < size; ++i)
    sink ^= data[i];
}
} // namespace ube::fuzz

#endif // UBE_TEST_FUZZ_FUZZCHECK_H
