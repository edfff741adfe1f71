// Which image of a kernel module the cuda device loads on which GPU: the
// cubin on its own architecture family, PTX (JIT) on newer GPUs, a refusal
// naming both architectures on older ones. CUDA-free.
#include "cuda/ModuleImage.h"

#include <gtest/gtest.h>

namespace {

using namespace ube::runtime;

ModuleImage choose(const std::vector<std::string> &compiledFor, bool haveCubin,
                   GpuArchitecture gpu) {
  ModuleImage image;
  MaybeError error = chooseModuleImage(compiledFor, haveCubin, gpu, "GPU", "m.ube", image);
  EXPECT_FALSE(error) << error->message;
  return image;
}

TEST(ModuleImage, ParsesArchitectures) {
  EXPECT_EQ(parseGpuArchitecture("sm_90")->major, 9);
  EXPECT_EQ(parseGpuArchitecture("sm_86")->minor, 6);
  EXPECT_EQ(parseGpuArchitecture("sm_100")->major, 10);
  EXPECT_FALSE(parseGpuArchitecture("gfx90a"));
  EXPECT_FALSE(parseGpuArchitecture("sm_9"));
  EXPECT_FALSE(parseGpuArchitecture("sm_9x"));
}

TEST(ModuleImage, CubinOnItsFamilyPtxOnNewerGpus) {
  EXPECT_EQ(choose({"sm_90"}, true, {9, 0}), ModuleImage::Cubin);
  EXPECT_EQ(choose({"sm_80"}, true, {8, 6}), ModuleImage::Cubin);  // same major, newer minor
  EXPECT_EQ(choose({"sm_80"}, true, {9, 0}), ModuleImage::Ptx);    // H100 runs A100 code by JIT
  EXPECT_EQ(choose({"sm_90"}, false, {9, 0}), ModuleImage::Ptx);   // no ptxas at compile time
  EXPECT_EQ(choose({"sm_90"}, true, {10, 0}), ModuleImage::Ptx);
  // Executables from before required_features: the cubin is tried first.
  EXPECT_EQ(choose({}, true, {8, 0}), ModuleImage::Cubin);
  EXPECT_EQ(choose({}, false, {8, 0}), ModuleImage::Ptx);
}

TEST(ModuleImage, OlderGpusAreRefusedNamingBoth) {
  ModuleImage image;
  MaybeError error =
      chooseModuleImage({"sm_90"}, true, {8, 0}, "NVIDIA A100 (sm_80)", "m.ube", image);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->code, UBE_INVALID_EXECUTABLE);
  EXPECT_EQ(error->message, "m.ube: compiled for sm_90 (cubin and PTX), which this GPU, NVIDIA "
                            "A100 (sm_80), cannot run; compile it with --target=cuda:sm_80");
  error = chooseModuleImage({"sm_86"}, false, {8, 0}, "GPU", "m.ube", image);
  ASSERT_TRUE(error);
  EXPECT_NE(error->message.find("compiled for sm_86 (PTX)"), std::string::npos);
  error = chooseModuleImage({"avx2"}, true, {9, 0}, "GPU", "m.ube", image);
  ASSERT_TRUE(error);
  EXPECT_NE(error->message.find("name no GPU architecture"), std::string::npos);
}

} // namespace
