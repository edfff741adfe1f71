//===- CpuVariants.cpp - which build of a cpu executable this host runs ---===//

#include "CpuVariants.h"

#include "ube/Support/CpuFeatures.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace ube::runtime {

MaybeError chooseCpuBuild(const Manifest &manifest, const std::vector<std::string> &host,
                          const std::string &forced, const std::string &displayName,
                          CpuBuild &build) {
  auto lacking = [&](const std::vector<std::string> &missing) {
    return fmt::format("whose instructions this host's CPU lacks ({})", fmt::join(missing, ", "));
  };
  const std::string advice =
      "compile it for this host (ube-compile --cpu=native) or for a level it has "
      "(--cpu=x86-64-v3)";
  if (manifest.variants.empty()) {
    std::vector<std::string> missing = missingCpuFeatures(manifest.requiredFeatures, host);
    if (!missing.empty())
      return Error{UBE_INVALID_EXECUTABLE,
                   fmt::format("{}: compiled for {}, {}; {}", displayName, manifest.targetInfo,
                               lacking(missing), advice)};
    build = {section::kHostObject, ""};
    return std::nullopt;
  }
  std::vector<std::string> names, refusals;
  const Variant *best = nullptr;
  for (const Variant &variant : manifest.variants) {
    names.push_back(variant.name);
    std::vector<std::string> missing = missingCpuFeatures(variant.requiredFeatures, host);
    if (!forced.empty() && variant.name != forced)
      continue;
    if (!missing.empty()) {
      refusals.push_back(fmt::format("{} needs {}", variant.name, fmt::join(missing, ", ")));
      continue;
    }
    if (!best || variant.requiredFeatures.size() > best->requiredFeatures.size())
      best = &variant;
  }
  if (best) {
    build = {best->section, best->name};
    return std::nullopt;
  }
  if (!forced.empty() && refusals.empty())
    return Error{UBE_INVALID_ARGUMENT,
                 fmt::format("{}: UBE_CPU_VARIANT={} names no variant of the executable ({})",
                             displayName, forced, fmt::join(names, ", "))};
  if (!forced.empty())
    return Error{UBE_INVALID_EXECUTABLE,
                 fmt::format("{}: UBE_CPU_VARIANT={} does not run on this host's CPU ({})",
                             displayName, forced, fmt::join(refusals, "; "))};
  return Error{UBE_INVALID_EXECUTABLE,
               fmt::format("{}: no variant of the executable runs on this host's CPU ({}); {}",
                           displayName, fmt::join(refusals, "; "), advice)};
}

} // namespace ube::runtime
