//===- ModuleImage.cpp - which image of a GPU module a GPU can load -------===//

#include "ModuleImage.h"

#include <fmt/format.h>

namespace ube::runtime {

std::optional<GpuArchitecture> parseGpuArchitecture(const std::string &name) {
  if (name.rfind("sm_", 0) != 0 || name.size() < 5 || name.size() > 6)
    return std::nullopt;
  int value = 0;
  for (char c : name.substr(3)) {
    if (c < '0' || c > '9')
      return std::nullopt;
    value = value * 10 + (c - '0');
  }
  return GpuArchitecture{value / 10, value % 10};
}

MaybeError chooseModuleImage(const std::vector<std::string> &compiledFor, bool haveCubin,
                             GpuArchitecture gpu, const std::string &gpuName,
                             const std::string &displayName, ModuleImage &image) {
  if (compiledFor.empty()) {
    image = haveCubin ? ModuleImage::Cubin : ModuleImage::Ptx;
    return std::nullopt;
  }
  std::optional<GpuArchitecture> target;
  if (compiledFor.size() == 1)
    target = parseGpuArchitecture(compiledFor.front());
  if (!target)
    return Error{UBE_INVALID_EXECUTABLE,
                 fmt::format("{}: the manifest's required_features name no GPU architecture "
                             "(expected one sm_NN)",
                             displayName)};
  if (haveCubin && gpu.major == target->major && !(gpu < *target)) {
    image = ModuleImage::Cubin;
    return std::nullopt;
  }
  if (!(gpu < *target)) {
    image = ModuleImage::Ptx;
    return std::nullopt;
  }
  return Error{UBE_INVALID_EXECUTABLE,
               fmt::format("{}: compiled for {} ({}), which this GPU, {}, cannot run; compile "
                           "it with --target=cuda:sm_{}{}",
                           displayName, compiledFor.front(), haveCubin ? "cubin and PTX" : "PTX",
                           gpuName, gpu.major, gpu.minor)};
}

} // namespace ube::runtime
