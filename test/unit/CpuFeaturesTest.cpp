//===- CpuFeaturesTest.cpp - the host check of a cpu executable ------------===//
//
// The check is a pure function of (required, host) feature sets; the host's
// set comes from cpuid and XCR0.

#include "ube/Support/CpuFeatures.h"

#include <algorithm>
#include <gtest/gtest.h>

using namespace ube;

namespace {

TEST(CpuFeatures, MissingIsRequiredMinusAvailable) {
  EXPECT_EQ(missingCpuFeatures({"avx2", "fma", "avx512f", "amx-tile"}, {"avx2", "fma", "sse2"}),
            (std::vector<std::string>{"amx-tile", "avx512f"}));
  EXPECT_TRUE(missingCpuFeatures({}, {"avx2"}).empty());
  EXPECT_TRUE(missingCpuFeatures({"sse2"}, {"sse2", "avx"}).empty());
  // Duplicates are named once; names the check does not know (a newer
  // compiler's) are not held against the host.
  EXPECT_EQ(missingCpuFeatures({"avx512bw", "avx512bw", "future-isa"}, {}),
            (std::vector<std::string>{"avx512bw"}));
}

TEST(CpuFeatures, TableNamesAreUniqueAndKnown) {
  std::vector<std::string> names;
  for (const CpuFeatureInfo &f : checkedCpuFeatures()) {
    names.push_back(f.name);
    EXPECT_TRUE(isCheckedCpuFeature(f.name));
    EXPECT_LT(f.bit, 32);
  }
  std::sort(names.begin(), names.end());
  EXPECT_EQ(std::adjacent_find(names.begin(), names.end()), names.end());
  EXPECT_FALSE(isCheckedCpuFeature("avx3"));
}

TEST(CpuFeatures, HostHasTheX86_64Baseline) {
#if defined(__x86_64__)
  std::vector<std::string> host = hostCpuFeatures();
  EXPECT_TRUE(std::is_sorted(host.begin(), host.end()));
  for (const char *baseline : {"cmov", "cx8", "fxsr", "sse", "sse2"})
    EXPECT_TRUE(std::binary_search(host.begin(), host.end(), baseline)) << baseline;
  // AVX-512 is reported only with AVX-512F's register state enabled, and
  // every AVX-512 subset needs the foundation.
  bool f = std::binary_search(host.begin(), host.end(), "avx512f");
  for (const std::string &name : host)
    if (name.rfind("avx512", 0) == 0)
      EXPECT_TRUE(f) << name;
#else
  GTEST_SKIP() << "not an x86-64 host";
#endif
}

} // namespace
