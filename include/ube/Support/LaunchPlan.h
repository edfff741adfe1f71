//===- LaunchPlan.h - a cuda entry point's launch plan ------------*- C++ -*-===//
//
// A cuda executable has no host code: each entry point carries a plan in the
// manifest (docs/runtime-abi.md) listing its buffers (the entry's arguments,
// temporaries, slices of the constants section) and its steps (kernel
// launches, device-to-device copies). lib/Target/Cuda builds it and writes it
// with launchPlanToJson; the runtime's cuda plugin reads it back with
// launchPlanFromJson and then checks it against the executable it came from.
// An entry point with symbolic dimensions has a plan whose sizes (grids,
// temporaries, copy ranges, scalar arguments) may be expressions of the
// symbols, evaluated once per invocation by resolveLaunchPlan.
// LLVM-free: the runtime links this.
//
//===----------------------------------------------------------------------===//

#ifndef UBE_SUPPORT_LAUNCHPLAN_H
#define UBE_SUPPORT_LAUNCHPLAN_H

#include "ube/Support/PlanExpr.h"

#include <cstdint>
#include <string>
#include <vector>

namespace ube {

struct LaunchBuffer {
  enum Kind { Argument, Temporary, Constant } kind = Argument;
  /// Argument: its index (inputs, then outputs). Constant: its offset in
  /// the constants section.
  uint64_t index = 0;
  /// Temporary and Constant: the size. Argument: filled in by the runtime
  /// from the entry point's signature (not written).
  uint64_t bytes = 0;
  ExprRef bytesExpr = kStatic; ///< Temporary: a size computed per invocation.
};

struct LaunchArg {
  enum Kind { Pointer, I32, I64, F32, F64 } kind = Pointer;
  size_t buffer = 0; ///< Pointer: the buffer's index in the plan.
  uint64_t bits = 0; ///< Scalars: the value's bit pattern (integers sign-extended).
  ExprRef expr = kStatic; ///< I32, I64: a value computed per invocation.
};

struct LaunchStep {
  enum Kind { Launch, Copy } kind = Launch;
  // Launch: a kernel of a GPU module.
  std::string module, kernel;
  /// A grid computed per invocation may have a 0 dimension: nothing to run.
  unsigned grid[3] = {1, 1, 1}, block[3] = {1, 1, 1};
  ExprRef gridExpr[3] = {kStatic, kStatic, kStatic};
  std::vector<LaunchArg> args;
  // Copy: bytes from one buffer to another, device to device.
  size_t src = 0, dst = 0;
  uint64_t srcOffset = 0, dstOffset = 0, bytes = 0;
  ExprRef srcOffsetExpr = kStatic, dstOffsetExpr = kStatic, bytesExpr = kStatic;
};

struct LaunchPlan {
  std::vector<LaunchBuffer> buffers;
  std::vector<LaunchStep> steps;
  /// Expressions of the symbols that the fields above refer to.
  std::vector<PlanExpr> exprs;
  bool symbolic() const { return !exprs.empty(); }
};

/// The plan as JSON, the form the manifest carries.
std::string launchPlanToJson(const LaunchPlan &plan);

/// Reads a plan's JSON: its structure, the kinds of its buffers, steps and
/// arguments, buffer references inside the plan, launch dimensions. What
/// needs the executable (argument sizes, sections, ranges inside buffers)
/// is the reader's to check. False with `error` saying what is wrong.
bool launchPlanFromJson(const std::string &text, LaunchPlan &plan, std::string &error);

/// Evaluates `plan`'s expressions with the symbols' sizes (in the entry
/// point's `symbols` order) and writes each into the fields that refer to
/// it; the fields then hold this invocation's plan. False with `error` on
/// a symbol out of range, an overflow, a division by zero, or a value out
/// of its field's range (a negative size, a grid dimension past CUDA's
/// limits: 2^31 - 1 blocks along x, 65535 along y and z).
bool resolveLaunchPlan(LaunchPlan &plan, const std::vector<int64_t> &symbols,
                       std::string &error);

} // namespace ube

#endif // UBE_SUPPORT_LAUNCHPLAN_H
