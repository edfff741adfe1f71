//===- LaunchPlan.cpp - check cuda launch plans against their executable --===//

#include "LaunchPlan.h"

#include <fmt/format.h>

namespace ube::runtime {
namespace {

/// `offset + bytes <= size`, without overflow.
bool fits(uint64_t offset, uint64_t bytes, uint64_t size) {
  return offset <= size && bytes <= size - offset;
}

/// Why `plan` does not fit `exe` and `entry`, or empty; argument buffers
/// get their sizes.
std::string checkAgainst(const ExecutableView &exe, const EntryPoint &entry, LaunchPlan &plan) {
  size_t arguments = entry.inputs.size() + entry.outputs.size();
  const Section *constants = exe.findSection(section::kConstants);
  for (LaunchBuffer &buffer : plan.buffers) {
    if (buffer.kind == LaunchBuffer::Argument) {
      if (buffer.index >= arguments)
        return fmt::format("argument buffer index out of range (the entry has {} arguments)",
                           arguments);
      const TensorSignature &t = buffer.index < entry.inputs.size()
                                     ? entry.inputs[buffer.index]
                                     : entry.outputs[buffer.index - entry.inputs.size()];
      if (t.symbolic())
        return fmt::format("'{}' has symbolic dimensions, which cuda launch plans do not take",
                           t.name);
      buffer.bytes = uint64_t(*numBytes(t.shape, t.dtype));
    } else if (buffer.kind == LaunchBuffer::Constant &&
               (!constants || !fits(buffer.index, buffer.bytes, constants->size))) {
      return "constant buffer outside the constants section";
    }
  }
  for (const LaunchStep &step : plan.steps) {
    if (step.kind == LaunchStep::Launch && !exe.findSection(section::ptx(step.module)))
      return "no module '" + step.module + "'";
    if (step.kind == LaunchStep::Copy &&
        (!fits(step.srcOffset, step.bytes, plan.buffers[step.src].bytes) ||
         !fits(step.dstOffset, step.bytes, plan.buffers[step.dst].bytes)))
      return "copy outside its buffers";
  }
  return "";
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
