//===- CpuFeatures.cpp - x86 ISA features, recorded and checked -----------===//

#include "ube/Support/CpuFeatures.h"

#include <algorithm>
#include <set>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

namespace ube {

namespace {
// XCR0 state components the OS must save (Intel SDM vol. 1, 13.1): XMM and
// YMM for AVX, opmask and ZMM for AVX-512, tile config and data for AMX.
// SSE needs none (FXSAVE covers it).
constexpr uint64_t kAvx = 3 << 1, kAvx512 = 7 << 5 | kAvx, kAmx = uint64_t(3) << 17;
using R = CpuFeatureInfo::Register;
} // namespace

const std::vector<CpuFeatureInfo> &checkedCpuFeatures() {
  static const std::vector<CpuFeatureInfo> features = {
      // Leaf 1.
      {"cx8", 1, 0, R::Edx, 8, 0},
      {"cmov", 1, 0, R::Edx, 15, 0},
      {"fxsr", 1, 0, R::Edx, 24, 0},
      {"sse", 1, 0, R::Edx, 25, 0},
      {"sse2", 1, 0, R::Edx, 26, 0},
      {"sse3", 1, 0, R::Ecx, 0, 0},
      {"pclmul", 1, 0, R::Ecx, 1, 0},
      {"ssse3", 1, 0, R::Ecx, 9, 0},
      {"fma", 1, 0, R::Ecx, 12, kAvx},
      {"cx16", 1, 0, R::Ecx, 13, 0},
      {"sse4.1", 1, 0, R::Ecx, 19, 0},
      {"sse4.2", 1, 0, R::Ecx, 20, 0},
      {"movbe", 1, 0, R::Ecx, 22, 0},
      {"popcnt", 1, 0, R::Ecx, 23, 0},
      {"aes", 1, 0, R::Ecx, 25, 0},
      {"xsave", 1, 0, R::Ecx, 26, 0},
      {"avx", 1, 0, R::Ecx, 28, kAvx},
      {"f16c", 1, 0, R::Ecx, 29, kAvx},
      {"rdrnd", 1, 0, R::Ecx, 30, 0},
      // Leaf 7, subleaf 0.
      {"fsgsbase", 7, 0, R::Ebx, 0, 0},
      {"bmi", 7, 0, R::Ebx, 3, 0},
      {"avx2", 7, 0, R::Ebx, 5, kAvx},
      {"bmi2", 7, 0, R::Ebx, 8, 0},
      {"avx512f", 7, 0, R::Ebx, 16, kAvx512},
      {"avx512dq", 7, 0, R::Ebx, 17, kAvx512},
      {"rdseed", 7, 0, R::Ebx, 18, 0},
      {"adx", 7, 0, R::Ebx, 19, 0},
      {"avx512ifma", 7, 0, R::Ebx, 21, kAvx512},
      {"clflushopt", 7, 0, R::Ebx, 23, 0},
      {"clwb", 7, 0, R::Ebx, 24, 0},
      {"avx512cd", 7, 0, R::Ebx, 28, kAvx512},
      {"sha", 7, 0, R::Ebx, 29, 0},
      {"avx512bw", 7, 0, R::Ebx, 30, kAvx512},
      {"avx512vl", 7, 0, R::Ebx, 31, kAvx512},
      {"avx512vbmi", 7, 0, R::Ecx, 1, kAvx512},
      {"avx512vbmi2", 7, 0, R::Ecx, 6, kAvx512},
      {"gfni", 7, 0, R::Ecx, 8, 0},
      {"vaes", 7, 0, R::Ecx, 9, kAvx},
      {"vpclmulqdq", 7, 0, R::Ecx, 10, kAvx},
      {"avx512vnni", 7, 0, R::Ecx, 11, kAvx512},
      {"avx512bitalg", 7, 0, R::Ecx, 12, kAvx512},
      {"avx512vpopcntdq", 7, 0, R::Ecx, 14, kAvx512},
      {"avx512vp2intersect", 7, 0, R::Edx, 8, kAvx512},
      {"amx-bf16", 7, 0, R::Edx, 22, kAmx},
      {"avx512fp16", 7, 0, R::Edx, 23, kAvx512},
      {"amx-tile", 7, 0, R::Edx, 24, kAmx},
      {"amx-int8", 7, 0, R::Edx, 25, kAmx},
      // Leaf 7, subleaf 1.
      {"avxvnni", 7, 1, R::Eax, 4, kAvx},
      {"avx512bf16", 7, 1, R::Eax, 5, kAvx512},
      {"cmpccxadd", 7, 1, R::Eax, 7, 0},
      {"amx-fp16", 7, 1, R::Eax, 21, kAmx},
      {"avxifma", 7, 1, R::Eax, 23, kAvx},
      {"avxvnniint8", 7, 1, R::Edx, 4, kAvx},
      {"avxneconvert", 7, 1, R::Edx, 5, kAvx},
      {"amx-complex", 7, 1, R::Edx, 8, kAmx},
      // Extended leaf 0x80000001.
      {"lzcnt", 0x80000001, 0, R::Ecx, 5, 0},
      {"sse4a", 0x80000001, 0, R::Ecx, 6, 0},
      {"prfchw", 0x80000001, 0, R::Ecx, 8, 0},
  };
  return features;
}

bool isCheckedCpuFeature(const std::string &name) {
  const auto &features = checkedCpuFeatures();
  return std::any_of(features.begin(), features.end(),
                     [&](const CpuFeatureInfo &f) { return name == f.name; });
}

std::vector<std::string> hostCpuFeatures() {
  std::vector<std::string> host;
#if defined(__x86_64__)
  unsigned a, b, c, d;
  if (!__get_cpuid(0, &a, &b, &c, &d))
    return host;
  uint32_t maxLeaf = a;
  uint32_t maxExtended = __get_cpuid_max(0x80000000, nullptr);
  // XCR0: what register state the OS saves (xgetbv needs OSXSAVE).
  uint64_t xcr0 = 0;
  if (__get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 27))) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    xcr0 = uint64_t(hi) << 32 | lo;
  }
  for (const CpuFeatureInfo &f : checkedCpuFeatures()) {
    bool extended = f.leaf >= 0x80000000;
    if ((extended && f.leaf > maxExtended) || (!extended && f.leaf > maxLeaf))
      continue;
    unsigned regs[4];
    __cpuid_count(f.leaf, f.subleaf, regs[0], regs[1], regs[2], regs[3]);
    if ((regs[f.reg] >> f.bit & 1) && (xcr0 & f.xcr0) == f.xcr0)
      host.push_back(f.name);
  }
  std::sort(host.begin(), host.end());
#endif
  return host;
}

std::vector<std::string> missingCpuFeatures(const std::vector<std::string> &required,
                                            const std::vector<std::string> &available) {
  std::set<std::string> have(available.begin(), available.end());
  std::set<std::string> missing;
  for (const std::string &name : required)
    if (isCheckedCpuFeature(name) && !have.count(name))
      missing.insert(name);
  return {missing.begin(), missing.end()};
}

} // namespace ube
