//===- LaunchPlan.cpp - check cuda launch plans against their executable --===//

#include "LaunchPlan.h"

#include <fmt/format.h>

namespace ube::runtime {
namespace {

/// `offset + bytes <= size`, without overflow.
bool fits(uint64_t offset, uint64_t bytes, uint64_t size) {
  return offset <= size && bytes <= size - offset;
}

/// The signature of argument `index` (inputs, then outputs).
const TensorSignature &argument(const EntryPoint &entry, uint64_t index) {
  return index < entry.inputs.size() ? entry.inputs[index]
                                     : entry.outputs[index - entry.inputs.size()];
}

/// Whether a buffer's size is known before an invocation.
bool staticallySized(const EntryPoint &entry, const LaunchBuffer &buffer) {
  if (buffer.kind == LaunchBuffer::Argument)
    return !argument(entry, buffer.index).symbolic();
  return buffer.bytesExpr == kStatic;
}

/// Why one of `plan`'s copies does not fit its buffers, or empty; `all`:
/// also those whose ranges are only known per invocation.
std::string checkCopies(const EntryPoint &entry, const LaunchPlan &plan, bool all) {
  for (const LaunchStep &step : plan.steps) {
    if (step.kind != LaunchStep::Copy)
      continue;
    bool known = step.srcOffsetExpr == kStatic && step.dstOffsetExpr == kStatic &&
                 step.bytesExpr == kStatic && staticallySized(entry, plan.buffers[step.src]) &&
                 staticallySized(entry, plan.buffers[step.dst]);
    if ((all || known) && (!fits(step.srcOffset, step.bytes, plan.buffers[step.src].bytes) ||
                           !fits(step.dstOffset, step.bytes, plan.buffers[step.dst].bytes)))
      return "copy outside its buffers";
  }
  return "";
}

/// Why `plan` does not fit `exe` and `entry`, or empty; argument buffers of
/// static shapes get their sizes (symbolic ones get theirs per invocation).
std::string checkAgainst(const ExecutableView &exe, const EntryPoint &entry, LaunchPlan &plan) {
  size_t arguments = entry.inputs.size() + entry.outputs.size();
  const Section *constants = exe.findSection(section::kConstants);
  for (const PlanExpr &expr : plan.exprs)
    if (expr.op == PlanExpr::Symbol && uint64_t(expr.value) >= entry.symbols.size())
      return fmt::format("an expression names symbol {} (the entry has {})", expr.value,
                         entry.symbols.size());
  for (LaunchBuffer &buffer : plan.buffers) {
    if (buffer.kind == LaunchBuffer::Argument) {
      if (buffer.index >= arguments)
        return fmt::format("argument buffer index out of range (the entry has {} arguments)",
                           arguments);
      const TensorSignature &t = argument(entry, buffer.index);
      if (!t.symbolic())
        buffer.bytes = uint64_t(*numBytes(t.shape, t.dtype));
    } else if (buffer.kind == LaunchBuffer::Constant &&
               (!constants || !fits(buffer.index, buffer.bytes, constants->size))) {
      return "constant buffer outside the constants section";
    }
  }
  for (const LaunchStep &step : plan.steps)
    if (step.kind == LaunchStep::Launch && !exe.findSection(section::ptx(step.module)))
      return "no module '" + step.module + "'";
  return checkCopies(entry, plan, /*all=*/false);
}

} // namespace

MaybeError parseLaunchPlan(const ExecutableView &executable, const EntryPoint &entry,
                           const std::string &displayName, LaunchPlan &plan) {
  std::string why;
  if (launchPlanFromJson(entry.plan, plan, why))
    why = checkAgainst(executable, entry, plan);
  if (why.empty())
    return std::nullopt;
  return Error{UBE_INVALID_EXECUTABLE, fmt::format("{} ({}): malformed launch plan: {}",
                                                   displayName, entry.name, why)};
}

MaybeError instantiateLaunchPlan(const LaunchPlan &plan, const EntryPoint &entry,
                                 const std::vector<int64_t> &symbols,
                                 const std::string &displayName, LaunchPlan &out) {
  out = plan;
  std::string why;
  if (resolveLaunchPlan(out, symbols, why)) {
    for (LaunchBuffer &buffer : out.buffers) {
      if (buffer.kind != LaunchBuffer::Argument)
        continue;
      const TensorSignature &t = argument(entry, buffer.index);
      if (t.symbolic())
        buffer.bytes = uint64_t(*numBytes(resolvedShape(entry, t, symbols), t.dtype));
    }
    why = checkCopies(entry, out, /*all=*/true);
  }
  if (why.empty())
    return std::nullopt;
  return Error{UBE_INVALID_EXECUTABLE,
               fmt::format("{} ({}): the launch plan fails at these sizes: {}", displayName,
                           entry.name, why)};
}

MaybeError findPtxModules(const ExecutableView &executable, const std::string &displayName,
                          std::vector<std::pair<std::string, const Section *>> &modules) {
  for (const Section &section : executable.manifest.sections) {
    if (section.name.rfind("ptx:", 0) != 0)
      continue;
    const uint8_t *ptx = executable.section(section);
    if (section.size == 0 || ptx[section.size - 1] != 0)
      return Error{UBE_INVALID_EXECUTABLE,
                   fmt::format("{}: PTX of '{}' is not NUL-terminated", displayName,
                               section.name.substr(4))};
    modules.emplace_back(section.name.substr(4), &section);
  }
  return std::nullopt;
}

} // namespace ube::runtime
