// The caches a cpu build is blocked for: a named model's from the table, an
// unknown one's the conservative defaults, this host's from sysfs.
#include "Target/Cpu/CpuCacheSizes.h"

#include <gtest/gtest.h>

namespace {

using namespace ube;

constexpr int64_t KiB = 1024;

TEST(CpuCaches, NamedModels) {
  CpuCaches emerald = cpuCaches("emeraldrapids");
  EXPECT_EQ(emerald.l1Bytes, 48 * KiB);
  EXPECT_EQ(emerald.l1Ways, 12);
  EXPECT_EQ(emerald.l2Bytes, 2048 * KiB);
  CpuCaches zen4 = cpuCaches("znver4");
  EXPECT_EQ(zen4.l1Bytes, 32 * KiB);
  EXPECT_EQ(zen4.l1Ways, 8);
  EXPECT_EQ(zen4.l2Bytes, 1024 * KiB);
}

TEST(CpuCaches, UnknownModelsGetTheDefaults) {
  for (const char *cpu : {"x86-64-v3", "x86-64", "no-such-cpu"}) {
    CpuCaches caches = cpuCaches(cpu);
    EXPECT_EQ(caches.l1Bytes, 32 * KiB) << cpu;
    EXPECT_EQ(caches.l1Ways, 8) << cpu;
    EXPECT_EQ(caches.l2Bytes, 256 * KiB) << cpu;
  }
}

TEST(CpuCaches, NativeIsARealCache) {
  CpuCaches host = cpuCaches("native");
  EXPECT_GE(host.l1Bytes, 16 * KiB);
  EXPECT_GE(host.l1Ways, 2);
  // The span of one way: a power of two of at least a page.
  int64_t span = host.l1Bytes / host.l1Ways;
  EXPECT_EQ(span & (span - 1), 0) << span;
  EXPECT_GE(span, 4 * KiB);
  EXPECT_GE(host.l2Bytes, 256 * KiB);
}

} // namespace
