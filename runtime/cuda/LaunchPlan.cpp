//===- LaunchPlan.cpp - parse and validate cuda launch plans --------------===//

#include "LaunchPlan.h"

#include <cstring>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace ube::runtime {
namespace {

using json = nlohmann::json;

/// `offset + bytes <= size`, without overflow.
bool fits(uint64_t offset, uint64_t bytes, uint64_t size) {
  return offset <= size && bytes <= size - offset;
}

bool getUnsigned(const json &object, const char *key, uint64_t &out) {
  auto it = object.find(key);
  if (it == object.end() || !it->is_number_unsigned())
    return false;
  out = it->get<uint64_t>();
  return true;
}

class PlanParser {
public:
  PlanParser(const ExecutableView &exe, const EntryPoint &entry, const std::string &displayName)
      : exe_(exe), entry_(entry), where_(fmt::format("{} ({})", displayName, entry.name)) {}

  MaybeError parse(LaunchPlan &plan) {
    json j = json::parse(entry_.plan, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object())
      return bad("not a JSON object");
    auto buffers = j.find("buffers"), steps = j.find("steps");
    if (buffers == j.end() || steps == j.end() || !buffers->is_array() || !steps->is_array())
      return bad("missing buffers or steps");
    for (const json &b : *buffers) {
      plan.buffers.emplace_back();
      if (MaybeError e = parseBuffer(b, plan.buffers.back()))
        return e;
    }
    for (const json &s : *steps) {
      plan.steps.emplace_back();
      if (MaybeError e = parseStep(s, plan.buffers, plan.steps.back()))
        return e;
    }
    return std::nullopt;
  }

private:
  Error bad(const std::string &why) const {
    return Error{UBE_INVALID_EXECUTABLE, fmt::format("{}: malformed launch plan: {}", where_, why)};
  }

  MaybeError parseBuffer(const json &b, LaunchBuffer &buffer) const {
    if (!b.is_object() || !b.contains("kind") || !b["kind"].is_string())
      return bad("buffer without kind");
    std::string kind = b["kind"];
    if (kind == "argument") {
      size_t arguments = entry_.inputs.size() + entry_.outputs.size();
      if (!getUnsigned(b, "index", buffer.index) || buffer.index >= arguments)
        return bad(fmt::format("argument buffer index out of range (the entry has {} arguments)",
                               arguments));
      const TensorSignature &t = buffer.index < entry_.inputs.size()
                                     ? entry_.inputs[buffer.index]
                                     : entry_.outputs[buffer.index - entry_.inputs.size()];
      buffer = {LaunchBuffer::Argument, buffer.index,
                uint64_t(*numBytes(t.shape, t.dtype))};
      return std::nullopt;
    }
    if (kind == "temporary") {
      buffer.kind = LaunchBuffer::Temporary;
      if (!getUnsigned(b, "bytes", buffer.bytes))
        return bad("temporary buffer without a size");
      return std::nullopt;
    }
    if (kind == "constant") {
      buffer.kind = LaunchBuffer::Constant;
      const Section *constants = exe_.findSection(section::kConstants);
      if (!getUnsigned(b, "offset", buffer.index) || !getUnsigned(b, "bytes", buffer.bytes) ||
          !constants || !fits(buffer.index, buffer.bytes, constants->size))
        return bad("constant buffer outside the constants section");
      return std::nullopt;
    }
    return bad("unknown buffer '" + kind + "'");
  }

  MaybeError bufferRef(const json &v, const std::vector<LaunchBuffer> &buffers,
                       size_t &out) const {
    if (!v.is_number_unsigned() || v.get<uint64_t>() >= buffers.size())
      return bad("bad buffer reference");
    out = v.get<size_t>();
    return std::nullopt;
  }

  MaybeError parseDims(const json &s, const char *key, unsigned (&dims)[3]) const {
    auto it = s.find(key);
    if (it == s.end() || !it->is_array() || it->size() != 3)
      return bad(fmt::format("'{}' must hold 3 dimensions", key));
    for (int d = 0; d < 3; ++d) {
      const json &v = (*it)[d];
      if (!v.is_number_unsigned() || v.get<uint64_t>() == 0 ||
          v.get<uint64_t>() > 0x7fffffffu)
        return bad(fmt::format("bad '{}' dimension", key));
      dims[d] = v.get<unsigned>();
    }
    return std::nullopt;
  }

  MaybeError parseLaunch(const json &s, const std::vector<LaunchBuffer> &buffers,
                         LaunchStep &step) const {
    step.kind = LaunchStep::Launch;
    step.module = s.value("module", "");
    step.kernel = s.value("kernel", "");
    if (!exe_.findSection(section::ptx(step.module)))
      return bad("no module '" + step.module + "'");
    if (step.kernel.empty())
      return bad("launch without a kernel name");
    if (MaybeError e = parseDims(s, "grid", step.grid))
      return e;
    if (MaybeError e = parseDims(s, "block", step.block))
      return e;
    if (uint64_t(step.block[0]) * step.block[1] * step.block[2] > 1024)
      return bad("more than 1024 threads per block");
    auto args = s.find("args");
    if (args == s.end() || !args->is_array())
      return bad("launch without args");
    for (const json &a : *args) {
      if (!a.is_object() || a.size() != 1)
        return bad("bad kernel argument");
      const std::string &key = a.begin().key();
      const json &value = a.begin().value();
      LaunchArg arg;
      if (key == "ptr") {
        if (MaybeError e = bufferRef(value, buffers, arg.buffer))
          return e;
      } else if ((key == "i64" || key == "i32") && value.is_number_integer()) {
        arg.kind = key == "i64" ? LaunchArg::I64 : LaunchArg::I32;
        int64_t v = value.get<int64_t>();
        std::memcpy(&arg.bits, &v, 8);
      } else if ((key == "f32_bits" || key == "f64_bits") && value.is_number_unsigned()) {
        // A float's bit pattern; the kernel reads the low 4 bytes for f32.
        arg.kind = key == "f32_bits" ? LaunchArg::F32 : LaunchArg::F64;
        arg.bits = value.get<uint64_t>();
      } else {
        return bad("unknown argument kind '" + key + "'");
      }
      step.args.push_back(arg);
    }
    return std::nullopt;
  }

  MaybeError parseCopy(const json &s, const std::vector<LaunchBuffer> &buffers,
                       LaunchStep &step) const {
    step.kind = LaunchStep::Copy;
    if (MaybeError e = bufferRef(s.value("src", json()), buffers, step.src))
      return e;
    if (MaybeError e = bufferRef(s.value("dst", json()), buffers, step.dst))
      return e;
    auto optional = [&](const char *key, uint64_t &out) {
      return !s.contains(key) || getUnsigned(s, key, out);
    };
    if (!optional("src_offset", step.srcOffset) || !optional("dst_offset", step.dstOffset) ||
        !getUnsigned(s, "bytes", step.bytes))
      return bad("bad copy range");
    if (!fits(step.srcOffset, step.bytes, buffers[step.src].bytes) ||
        !fits(step.dstOffset, step.bytes, buffers[step.dst].bytes))
      return bad("copy outside its buffers");
    return std::nullopt;
  }

  MaybeError parseStep(const json &s, const std::vector<LaunchBuffer> &buffers,
                       LaunchStep &step) const {
    if (!s.is_object() || !s.contains("op") || !s["op"].is_string())
      return bad("step without op");
    std::string op = s["op"];
    if (op == "launch")
      return parseLaunch(s, buffers, step);
    if (op == "copy")
      return parseCopy(s, buffers, step);
    return bad("unknown step '" + op + "'");
  }

  const ExecutableView &exe_;
  const EntryPoint &entry_;
  std::string where_;
};

} // namespace

MaybeError parseLaunchPlan(const ExecutableView &executable, const EntryPoint &entry,
                           const std::string &displayName, LaunchPlan &plan) {
  plan = {};
  return PlanParser(executable, entry, displayName).parse(plan);
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
