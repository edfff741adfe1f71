//===- LaunchPlan.cpp - a cuda launch plan as JSON -------------------------===//

#include "ube/Support/LaunchPlan.h"

#include <cstring>
#include <nlohmann/json.hpp>

namespace ube {
namespace {

using json = nlohmann::ordered_json;

bool getUnsigned(const json &object, const char *key, uint64_t &out) {
  auto it = object.find(key);
  if (it == object.end() || !it->is_number_unsigned())
    return false;
  out = it->get<uint64_t>();
  return true;
}

class PlanReader {
public:
  explicit PlanReader(std::string &error) : error_(error) {}

  bool read(const std::string &text, LaunchPlan &plan) {
    json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object())
      return bad("not a JSON object");
    auto buffers = j.find("buffers"), steps = j.find("steps");
    if (buffers == j.end() || steps == j.end() || !buffers->is_array() || !steps->is_array())
      return bad("missing buffers or steps");
    for (const json &b : *buffers) {
      plan.buffers.emplace_back();
      if (!readBuffer(b, plan.buffers.back()))
        return false;
    }
    for (const json &s : *steps) {
      plan.steps.emplace_back();
      if (!readStep(s, plan.buffers.size(), plan.steps.back()))
        return false;
    }
    return true;
  }

private:
  bool bad(const std::string &why) {
    error_ = why;
    return false;
  }

  bool readBuffer(const json &b, LaunchBuffer &buffer) {
    if (!b.is_object() || !b.contains("kind") || !b["kind"].is_string())
      return bad("buffer without kind");
    std::string kind = b["kind"];
    if (kind == "argument") {
      buffer.kind = LaunchBuffer::Argument;
      return getUnsigned(b, "index", buffer.index) || bad("argument buffer without an index");
    }
    if (kind == "temporary") {
      buffer.kind = LaunchBuffer::Temporary;
      return getUnsigned(b, "bytes", buffer.bytes) || bad("temporary buffer without a size");
    }
    if (kind == "constant") {
      buffer.kind = LaunchBuffer::Constant;
      return (getUnsigned(b, "offset", buffer.index) && getUnsigned(b, "bytes", buffer.bytes)) ||
             bad("constant buffer outside the constants section");
    }
    return bad("unknown buffer '" + kind + "'");
  }

  bool bufferRef(const json &v, size_t buffers, size_t &out) {
    if (!v.is_number_unsigned() || v.get<uint64_t>() >= buffers)
      return bad("bad buffer reference");
    out = v.get<size_t>();
    return true;
  }

  bool readDims(const json &s, const char *key, unsigned (&dims)[3]) {
    auto it = s.find(key);
    if (it == s.end() || !it->is_array() || it->size() != 3)
      return bad(std::string("'") + key + "' must hold 3 dimensions");
    for (int d = 0; d < 3; ++d) {
      const json &v = (*it)[d];
      if (!v.is_number_unsigned() || v.get<uint64_t>() == 0 ||
          v.get<uint64_t>() > 0x7fffffffu)
        return bad(std::string("bad '") + key + "' dimension");
      dims[d] = v.get<unsigned>();
    }
    return true;
  }

  bool readLaunch(const json &s, size_t buffers, LaunchStep &step) {
    step.kind = LaunchStep::Launch;
    auto module = s.find("module"), kernel = s.find("kernel");
    if (module == s.end() || !module->is_string())
      return bad("launch without a module name");
    if (kernel == s.end() || !kernel->is_string() || kernel->get<std::string>().empty())
      return bad("launch without a kernel name");
    step.module = *module;
    step.kernel = *kernel;
    if (!readDims(s, "grid", step.grid) || !readDims(s, "block", step.block))
      return false;
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
        if (!bufferRef(value, buffers, arg.buffer))
          return false;
      } else if ((key == "i64" || key == "i32") && value.is_number_integer()) {
        arg.kind = key == "i64" ? LaunchArg::I64 : LaunchArg::I32;
        int64_t v = value.get<int64_t>();
        std::memcpy(&arg.bits, &v, 8);
      } else if ((key == "f32_bits" || key == "f64_bits") && value.is_number_unsigned()) {
        // A float's bit pattern (JSON has no inf or NaN); the kernel reads
        // the low 4 bytes for f32.
        arg.kind = key == "f32_bits" ? LaunchArg::F32 : LaunchArg::F64;
        arg.bits = value.get<uint64_t>();
      } else {
        return bad("unknown argument kind '" + key + "'");
      }
      step.args.push_back(arg);
    }
    return true;
  }

  bool readCopy(const json &s, size_t buffers, LaunchStep &step) {
    step.kind = LaunchStep::Copy;
    if (!bufferRef(s.value("src", json()), buffers, step.src) ||
        !bufferRef(s.value("dst", json()), buffers, step.dst))
      return false;
    auto optional = [&](const char *key, uint64_t &out) {
      return !s.contains(key) || getUnsigned(s, key, out);
    };
    if (!optional("src_offset", step.srcOffset) || !optional("dst_offset", step.dstOffset) ||
        !getUnsigned(s, "bytes", step.bytes))
      return bad("bad copy range");
    return true;
  }

  bool readStep(const json &s, size_t buffers, LaunchStep &step) {
    if (!s.is_object() || !s.contains("op") || !s["op"].is_string())
      return bad("step without op");
    std::string op = s["op"];
    if (op == "launch")
      return readLaunch(s, buffers, step);
    if (op == "copy")
      return readCopy(s, buffers, step);
    return bad("unknown step '" + op + "'");
  }

  std::string &error_;
};

json bufferToJson(const LaunchBuffer &buffer) {
  switch (buffer.kind) {
  case LaunchBuffer::Argument:
    return {{"kind", "argument"}, {"index", buffer.index}};
  case LaunchBuffer::Temporary:
    return {{"kind", "temporary"}, {"bytes", buffer.bytes}};
  case LaunchBuffer::Constant:
    break;
  }
  return {{"kind", "constant"}, {"offset", buffer.index}, {"bytes", buffer.bytes}};
}

json argToJson(const LaunchArg &arg) {
  int64_t value;
  std::memcpy(&value, &arg.bits, 8);
  switch (arg.kind) {
  case LaunchArg::Pointer:
    return {{"ptr", arg.buffer}};
  case LaunchArg::I32:
    return {{"i32", value}};
  case LaunchArg::I64:
    return {{"i64", value}};
  case LaunchArg::F32:
    return {{"f32_bits", arg.bits}};
  case LaunchArg::F64:
    break;
  }
  return {{"f64_bits", arg.bits}};
}

json stepToJson(const LaunchStep &step) {
  if (step.kind == LaunchStep::Copy)
    return {{"op", "copy"},           {"src", step.src},
            {"src_offset", step.srcOffset}, {"dst", step.dst},
            {"dst_offset", step.dstOffset}, {"bytes", step.bytes}};
  json args = json::array();
  for (const LaunchArg &arg : step.args)
    args.push_back(argToJson(arg));
  return {{"op", "launch"},
          {"module", step.module},
          {"kernel", step.kernel},
          {"grid", {step.grid[0], step.grid[1], step.grid[2]}},
          {"block", {step.block[0], step.block[1], step.block[2]}},
          {"args", std::move(args)}};
}

} // namespace

std::string launchPlanToJson(const LaunchPlan &plan) {
  json buffers = json::array(), steps = json::array();
  for (const LaunchBuffer &buffer : plan.buffers)
    buffers.push_back(bufferToJson(buffer));
  for (const LaunchStep &step : plan.steps)
    steps.push_back(stepToJson(step));
  return json{{"buffers", std::move(buffers)}, {"steps", std::move(steps)}}.dump();
}

bool launchPlanFromJson(const std::string &text, LaunchPlan &plan, std::string &error) {
  plan = {};
  return PlanReader(error).read(text, plan);
}

} // namespace ube
