//===- LaunchPlan.h - a cuda entry point's plan, checked ----------*- C++ -*-===//
//
// The plan of include/ube/Support/LaunchPlan.h comes from a file, so it is
// validated completely before anything runs: every buffer reference, every
// copy range and every constant range must lie inside its buffer, every
// kernel inside a module the executable carries. CUDA-free, so the fuzz
// target (test/fuzz) exercises it without a GPU.
//
//===----------------------------------------------------------------------===//

#ifndef UBE_RUNTIME_CUDA_LAUNCHPLAN_H
#define UBE_RUNTIME_CUDA_LAUNCHPLAN_H

#include "../Device.h"

#include "ube/Support/LaunchPlan.h"

namespace ube::runtime {

/// Reads `entry`'s plan and checks it against the executable it came from
/// (argument buffers get their sizes from the entry's signature); errors
/// name `displayName` and the entry. What depends on symbolic sizes (the
/// expressions' values, copies touching such buffers) is checked by
/// instantiateLaunchPlan.
MaybeError parseLaunchPlan(const ExecutableView &executable, const EntryPoint &entry,
                           const std::string &displayName, LaunchPlan &plan);

/// `plan` (parsed for `entry`: one with symbols, or a plan with
/// expressions) at one invocation's symbol sizes (bound and checked by the
/// runtime): its expressions evaluated into its fields, its symbolic
/// argument buffers sized, and its copies checked against them.
MaybeError instantiateLaunchPlan(const LaunchPlan &plan, const EntryPoint &entry,
                                 const std::vector<int64_t> &symbols,
                                 const std::string &displayName, LaunchPlan &out);

/// The sections that hold the PTX of each module, keyed by module name
/// ("ptx:NAME"); fails on PTX that is not NUL-terminated.
MaybeError findPtxModules(const ExecutableView &executable, const std::string &displayName,
                          std::vector<std::pair<std::string, const Section *>> &modules);

} // namespace ube::runtime

#endif // UBE_RUNTIME_CUDA_LAUNCHPLAN_H
