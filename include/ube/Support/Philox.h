//===- Philox.h - Philox-4x32-10 counter-based random numbers -----*- C++ -*-===//
//
// The reference implementation of the random draws that compiled code makes
// (dropout masks, Bernoulli module replacement); generated code on every
// target reproduces it bit for bit. Salmon et al., "Parallel random numbers:
// as easy as 1, 2, 3" (SC'11), with Random123's constants. LLVM-free.
//
//===----------------------------------------------------------------------===//

#ifndef UBE_SUPPORT_PHILOX_H
#define UBE_SUPPORT_PHILOX_H

#include <array>
#include <cstdint>

namespace ube {

inline constexpr uint32_t kPhiloxM0 = 0xD2511F53u, kPhiloxM1 = 0xCD9E8D57u;
inline constexpr uint32_t kPhiloxW0 = 0x9E3779B9u, kPhiloxW1 = 0xBB67AE85u;
inline constexpr int kPhiloxRounds = 10;

inline std::array<uint32_t, 4> philox4x32(std::array<uint32_t, 4> c,
                                          std::array<uint32_t, 2> k) {
  for (int round = 0; round < kPhiloxRounds; ++round) {
    if (round) {
      k[0] += kPhiloxW0;
      k[1] += kPhiloxW1;
    }
    uint64_t p0 = uint64_t(kPhiloxM0) * c[0], p1 = uint64_t(kPhiloxM1) * c[2];
    uint32_t hi0 = uint32_t(p0 >> 32), lo0 = uint32_t(p0);
    uint32_t hi1 = uint32_t(p1 >> 32), lo1 = uint32_t(p1);
    c = {hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0};
  }
  return c;
}

/// A uniform float in [0, 1) from 32 random bits: the top 24 bits / 2^24.
inline float philoxUniform(uint32_t bits) { return float(bits >> 8) * (1.0f / 16777216.0f); }

/// The draw behind `dropout` for element `index` and behind
/// `bernoulli_select` for `module_id`: counter (index, step), key seed.
inline float philoxUniformAt(uint64_t index, uint64_t step, uint64_t seed) {
  auto out = philox4x32({uint32_t(index), uint32_t(index >> 32), uint32_t(step),
                         uint32_t(step >> 32)},
                        {uint32_t(seed), uint32_t(seed >> 32)});
  return philoxUniform(out[0]);
}

} // namespace ube

#endif // UBE_SUPPORT_PHILOX_H
