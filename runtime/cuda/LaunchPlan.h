//===- LaunchPlan.h - a cuda entry point's launch plan ------------*- C++ -*-===//
//
// A cuda executable has no host code: each entry point carries a plan (JSON,
// written by lib/Target/Cuda) listing its buffers (the entry's arguments,
// temporaries, slices of the constants section) and its steps (kernel
// launches, device-to-device copies). The plan comes from a file, so it is
// validated completely before anything runs: every buffer reference, every
// copy range and every constant range must lie inside its buffer, every
// kernel inside a module the executable carries. CUDA-free, so the fuzz
// target (test/fuzz) exercises it without a GPU.
//
//===----------------------------------------------------------------------===//

#ifndef UBE_RUNTIME_CUDA_LAUNCHPLAN_H
#define UBE_RUNTIME_CUDA_LAUNCHPLAN_H

#include "../Device.h"

namespace ube::runtime {

struct LaunchBuffer {
  enum Kind { Argument, Temporary, Constant } kind = Argument;
  uint64_t index = 0; ///< Argument index (inputs, then outputs), or constant offset.
  uint64_t bytes = 0;
};

struct LaunchArg {
  enum Kind { Pointer, I32, I64, F32, F64 } kind = Pointer;
  size_t buffer = 0; ///< For Pointer.
  uint64_t bits = 0; ///< For scalars: the value's bit pattern.
};

struct LaunchStep {
  enum Kind { Launch, Copy } kind = Launch;
  // Launch.
  std::string module, kernel;
  unsigned grid[3] = {1, 1, 1}, block[3] = {1, 1, 1};
  std::vector<LaunchArg> args;
  // Copy.
  size_t src = 0, dst = 0;
  uint64_t srcOffset = 0, dstOffset = 0, bytes = 0;
};

struct LaunchPlan {
  std::vector<LaunchBuffer> buffers;
  std::vector<LaunchStep> steps;
};

/// Parses and validates `entry`'s plan against the executable it came from;
/// errors name `displayName` and the entry.
MaybeError parseLaunchPlan(const ExecutableView &executable, const EntryPoint &entry,
                           const std::string &displayName, LaunchPlan &plan);

/// The sections that hold the PTX of each module, keyed by module name
/// ("ptx:NAME"); fails on PTX that is not NUL-terminated.
MaybeError findPtxModules(const ExecutableView &executable, const std::string &displayName,
                          std::vector<std::pair<std::string, const Section *>> &modules);

} // namespace ube::runtime

#endif // UBE_RUNTIME_CUDA_LAUNCHPLAN_H
