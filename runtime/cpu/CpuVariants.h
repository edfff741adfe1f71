//===- CpuVariants.h - which build of a cpu executable this host runs -*- C++ -*-===//
//
// A cpu executable holds one build of its code, or several (variants, e.g.
// x86-64-v3 and x86-64-v4). Each names the ISA features it was compiled
// with; the host has some set of them (CpuFeatures.h). This picks the build
// to map, before anything is mapped: the most capable variant the host can
// run, or the one UBE_CPU_VARIANT names (tests run every variant a host can
// execute this way). A pure function of (manifest, host features, choice).
//
//===----------------------------------------------------------------------===//

#ifndef UBE_RUNTIME_CPU_CPUVARIANTS_H
#define UBE_RUNTIME_CPU_CPUVARIANTS_H

#include "../Device.h"

namespace ube::runtime {

/// The build to load: its host code's section and its variant's name
/// (empty for an executable with one build).
struct CpuBuild {
  std::string section;
  std::string variant;
};

/// The build of `manifest` a host with features `host` runs: its one build
/// (refused when the host lacks a required feature), else the variant named
/// `forced` when not empty, else the runnable variant with the most required
/// features (the first of equals). Errors name `displayName`, the CPUs and
/// the missing features.
MaybeError chooseCpuBuild(const Manifest &manifest, const std::vector<std::string> &host,
                          const std::string &forced, const std::string &displayName,
                          CpuBuild &build);

} // namespace ube::runtime

#endif // UBE_RUNTIME_CPU_CPUVARIANTS_H
