// Which build of a cpu executable a host runs: the pure function of
// (manifest, host features, UBE_CPU_VARIANT) the cpu device calls before it
// maps any code.
#include "cpu/CpuVariants.h"

#include <gtest/gtest.h>

namespace {

using namespace ube;
using namespace ube::runtime;

const std::vector<std::string> kV2 = {"sse4.2", "popcnt"};
const std::vector<std::string> kV3 = {"sse4.2", "popcnt", "avx2", "fma"};
const std::vector<std::string> kV4 = {"sse4.2", "popcnt", "avx2", "fma", "avx512f"};

Manifest threeVariants() {
  Manifest m;
  m.targetInfo = "v2 | v3 | v4";
  m.requiredFeatures = kV2;
  m.variants = {{"x86-64-v2", "x86_64 x86-64-v2", kV2, "host.so:x86-64-v2"},
                {"x86-64-v4", "x86_64 x86-64-v4", kV4, "host.so:x86-64-v4"},
                {"x86-64-v3", "x86_64 x86-64-v3", kV3, "host.so:x86-64-v3"}};
  return m;
}

std::string chosen(const Manifest &m, const std::vector<std::string> &host,
                   const std::string &forced = "") {
  CpuBuild build;
  MaybeError error = chooseCpuBuild(m, host, forced, "m.ube", build);
  return error ? "error: " + error->message : build.variant + " " + build.section;
}

TEST(CpuVariants, TheMostCapableVariantTheHostRuns) {
  Manifest m = threeVariants();
  EXPECT_EQ(chosen(m, kV4), "x86-64-v4 host.so:x86-64-v4");
  EXPECT_EQ(chosen(m, kV3), "x86-64-v3 host.so:x86-64-v3");
  EXPECT_EQ(chosen(m, kV2), "x86-64-v2 host.so:x86-64-v2");
  EXPECT_EQ(chosen(m, {"sse2"}),
            "error: m.ube: no variant of the executable runs on this host's CPU (x86-64-v2 needs "
            "popcnt, sse4.2; x86-64-v4 needs avx2, avx512f, fma, popcnt, sse4.2; x86-64-v3 "
            "needs avx2, fma, popcnt, sse4.2); compile it for this host (ube-compile "
            "--cpu=native) or for a level it has (--cpu=x86-64-v3)");
}

TEST(CpuVariants, UbeCpuVariantChoosesAnotherRunnableOne) {
  Manifest m = threeVariants();
  EXPECT_EQ(chosen(m, kV4, "x86-64-v2"), "x86-64-v2 host.so:x86-64-v2");
  EXPECT_EQ(chosen(m, kV3, "x86-64-v4"),
            "error: m.ube: UBE_CPU_VARIANT=x86-64-v4 does not run on this host's CPU "
            "(x86-64-v4 needs avx512f)");
  EXPECT_EQ(chosen(m, kV4, "x86-64-v5"),
            "error: m.ube: UBE_CPU_VARIANT=x86-64-v5 names no variant of the executable "
            "(x86-64-v2, x86-64-v4, x86-64-v3)");
}

TEST(CpuVariants, OneBuildIsCheckedAsAWhole) {
  Manifest m;
  m.targetInfo = "x86_64 skylake-avx512";
  m.requiredFeatures = kV4;
  EXPECT_EQ(chosen(m, kV4), " host.so");
  EXPECT_EQ(chosen(m, kV3),
            "error: m.ube: compiled for x86_64 skylake-avx512, whose instructions this host's "
            "CPU lacks (avx512f); compile it for this host (ube-compile --cpu=native) or for a "
            "level it has (--cpu=x86-64-v3)");
  m.requiredFeatures.clear(); // format 1: nothing recorded, nothing checked
  EXPECT_EQ(chosen(m, {}), " host.so");
}

} // namespace
