//===- LaunchPlan.cpp - a cuda launch plan as JSON -------------------------===//

#include "ube/Support/LaunchPlan.h"

#include "PlanExprJson.h"

#include <algorithm>
#include <climits>
#include <cstring>
#include <iterator>
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

/// A field given by an expression: {"expr": N}.
json exprField(ExprRef ref) { return {{"expr", ref}}; }

/// A field's JSON: its value, or the expression that gives it.
json field(uint64_t value, ExprRef ref) {
  return ref == kStatic ? json(value) : exprField(ref);
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
    if (auto exprs = j.find("exprs"); exprs != j.end()) {
      if (!exprs->is_array())
        return bad("'exprs' is not a list");
      // Symbol indices are the runtime's to check against the entry point.
      if (!planExprsFromJson(*exprs, SIZE_MAX, plan.exprs, error_))
        return false;
    }
    exprCount_ = plan.exprs.size();
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

  /// A field that may be an expression: a number, or {"expr": N}.
  bool sized(const json &v, uint64_t &value, ExprRef &ref) {
    if (v.is_number_unsigned()) {
      value = v.get<uint64_t>();
      return true;
    }
    if (v.is_object() && v.size() == 1 && v.contains("expr") && v["expr"].is_number_unsigned() &&
        v["expr"].get<uint64_t>() < exprCount_) {
      ref = v["expr"].get<ExprRef>();
      return true;
    }
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
      return (b.contains("bytes") && sized(b["bytes"], buffer.bytes, buffer.bytesExpr)) ||
             bad("temporary buffer without a size");
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

  /// Three launch dimensions; `refs` (the grid's) may name expressions.
  bool readDims(const json &s, const char *key, unsigned (&dims)[3], ExprRef *refs) {
    auto it = s.find(key);
    if (it == s.end() || !it->is_array() || it->size() != 3)
      return bad(std::string("'") + key + "' must hold 3 dimensions");
    for (int d = 0; d < 3; ++d) {
      const json &v = (*it)[d];
      uint64_t value = 0;
      ExprRef ref = kStatic;
      bool read = refs ? sized(v, value, ref) : v.is_number_unsigned();
      if (read && !refs)
        value = v.get<uint64_t>();
      if (!read || (ref == kStatic && (value == 0 || value > 0x7fffffffu)))
        return bad(std::string("bad '") + key + "' dimension");
      dims[d] = unsigned(value);
      if (refs)
        refs[d] = ref;
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
    if (!readDims(s, "grid", step.grid, step.gridExpr) ||
        !readDims(s, "block", step.block, nullptr))
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
      } else if ((key == "i64" || key == "i32") &&
                 (value.is_number_integer() || sized(value, arg.bits, arg.expr))) {
        arg.kind = key == "i64" ? LaunchArg::I64 : LaunchArg::I32;
        if (arg.expr == kStatic) {
          int64_t v = value.get<int64_t>();
          std::memcpy(&arg.bits, &v, 8);
        }
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
    auto optional = [&](const char *key, uint64_t &out, ExprRef &ref) {
      return !s.contains(key) || sized(s[key], out, ref);
    };
    if (!optional("src_offset", step.srcOffset, step.srcOffsetExpr) ||
        !optional("dst_offset", step.dstOffset, step.dstOffsetExpr) || !s.contains("bytes") ||
        !sized(s["bytes"], step.bytes, step.bytesExpr))
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
  size_t exprCount_ = 0;
};

json bufferToJson(const LaunchBuffer &buffer) {
  switch (buffer.kind) {
  case LaunchBuffer::Argument:
    return {{"kind", "argument"}, {"index", buffer.index}};
  case LaunchBuffer::Temporary:
    return {{"kind", "temporary"}, {"bytes", field(buffer.bytes, buffer.bytesExpr)}};
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
    return {{"i32", arg.expr == kStatic ? json(value) : exprField(arg.expr)}};
  case LaunchArg::I64:
    return {{"i64", arg.expr == kStatic ? json(value) : exprField(arg.expr)}};
  case LaunchArg::F32:
    return {{"f32_bits", arg.bits}};
  case LaunchArg::F64:
    break;
  }
  return {{"f64_bits", arg.bits}};
}

json stepToJson(const LaunchStep &step) {
  if (step.kind == LaunchStep::Copy)
    return {{"op", "copy"},
            {"src", step.src},
            {"src_offset", field(step.srcOffset, step.srcOffsetExpr)},
            {"dst", step.dst},
            {"dst_offset", field(step.dstOffset, step.dstOffsetExpr)},
            {"bytes", field(step.bytes, step.bytesExpr)}};
  json args = json::array();
  for (const LaunchArg &arg : step.args)
    args.push_back(argToJson(arg));
  return {{"op", "launch"},
          {"module", step.module},
          {"kernel", step.kernel},
          {"grid",
           {field(step.grid[0], step.gridExpr[0]), field(step.grid[1], step.gridExpr[1]),
            field(step.grid[2], step.gridExpr[2])}},
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
  json out{{"buffers", std::move(buffers)}, {"steps", std::move(steps)}};
  if (plan.symbolic()) {
    out["exprs"] = planExprsToJson(plan.exprs);
  }
  return out.dump();
}

bool launchPlanFromJson(const std::string &text, LaunchPlan &plan, std::string &error) {
  plan = {};
  return PlanReader(error).read(text, plan);
}

bool resolveLaunchPlan(LaunchPlan &plan, const std::vector<int64_t> &symbols,
                       std::string &error) {
  std::vector<int64_t> values;
  if (!evaluatePlanExprs(plan.exprs, symbols, values, error))
    return false;
  // Sizes and offsets are never negative; grid dimensions fit 31 bits.
  auto size = [&](ExprRef ref, uint64_t &field, const char *what, uint64_t limit = INT64_MAX) {
    if (ref == kStatic)
      return true;
    if (values[size_t(ref)] < 0 || uint64_t(values[size_t(ref)]) > limit) {
      error = std::string(what) + " of " + std::to_string(values[size_t(ref)]) +
              " (expression " + std::to_string(ref) + ")";
      return false;
    }
    field = uint64_t(values[size_t(ref)]);
    return true;
  };
  for (LaunchBuffer &buffer : plan.buffers)
    if (!size(buffer.bytesExpr, buffer.bytes, "a temporary buffer"))
      return false;
  for (LaunchStep &step : plan.steps) {
    for (int d = 0; d < 3; ++d) {
      // CUDA's limits: 2^31 - 1 blocks along x, 65535 along y and z.
      uint64_t grid = step.grid[d];
      if (!size(step.gridExpr[d], grid, "a grid dimension", d == 0 ? 0x7fffffffu : 65535u))
        return false;
      step.grid[d] = unsigned(grid);
    }
    for (LaunchArg &arg : step.args)
      if (arg.expr != kStatic)
        arg.bits = uint64_t(values[size_t(arg.expr)]);
    if (!size(step.srcOffsetExpr, step.srcOffset, "a copy offset") ||
        !size(step.dstOffsetExpr, step.dstOffset, "a copy offset") ||
        !size(step.bytesExpr, step.bytes, "a copy size"))
      return false;
  }
  return true;
}

} // namespace ube
