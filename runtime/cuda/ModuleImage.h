//===- ModuleImage.h - which image of a GPU module a GPU can load --*- C++ -*-===//
//
// A cuda executable carries each kernel module as PTX for the architecture
// it was compiled for (its manifest's required_features: ["sm_90"]) and,
// when the compiling machine had ptxas, as a cubin for that architecture.
// A cubin runs on GPUs of the same major version and a minor at least its
// own; PTX is compiled by the driver for any GPU at least as new. Anything
// else is refused before the driver sees it, naming both architectures.
// CUDA-free, so it is unit-tested without a GPU.
//
//===----------------------------------------------------------------------===//

#ifndef UBE_RUNTIME_CUDA_MODULEIMAGE_H
#define UBE_RUNTIME_CUDA_MODULEIMAGE_H

#include "../Device.h"

namespace ube::runtime {

/// A compute capability, e.g. {9, 0} for sm_90.
struct GpuArchitecture {
  int major = 0, minor = 0;
  bool operator<(const GpuArchitecture &o) const {
    return major != o.major ? major < o.major : minor < o.minor;
  }
};

/// "sm_90" -> {9, 0}; "sm_100" -> {10, 0}; nullopt for anything else.
std::optional<GpuArchitecture> parseGpuArchitecture(const std::string &name);

enum class ModuleImage { Cubin, Ptx };

/// The image to load on a GPU of architecture `gpu` (named `gpuName` in
/// errors) from an executable compiled for `compiledFor` (the manifest's
/// required_features; empty for executables that predate it: then the
/// cubin is tried and PTX is the fallback, as before), with or without
/// cubins.
MaybeError chooseModuleImage(const std::vector<std::string> &compiledFor, bool haveCubin,
                             GpuArchitecture gpu, const std::string &gpuName,
                             const std::string &displayName, ModuleImage &image);

} // namespace ube::runtime

#endif // UBE_RUNTIME_CUDA_MODULEIMAGE_H
