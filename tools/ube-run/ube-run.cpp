//===- ube-run.cpp - run a compiled executable ----------------------------===//
//
//   ube-run EXE.ube [--function=NAME] [--input=NAME=FILE.npy]...
//           [--output-dir=DIR] [--steps=N] [--benchmark=N] [--seed=S] [--device=cpu]
//   ube-run --info EXE.ube
//
// Inputs not given are random with a fixed seed: floats uniform in [-1, 1),
// integers in [0, 8), booleans fair coins. Outputs are printed and, with
// --output-dir, written as NAME.npy. Uses only the runtime C API: no LLVM.
//
//===----------------------------------------------------------------------===//

#include "ube/Support/DType.h"
#include "ube/Support/ExecutableFormat.h"
#include "ube/Support/FileIO.h"
#include "ube/Support/Npy.h"
#include "ube/Version.h"
#include "ube/runtime.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <sys/stat.h>
#include <vector>

namespace {

struct Options {
  std::string executable;
  std::string function;
  std::map<std::string, std::string> inputs; // name -> .npy path
  std::map<std::string, int64_t> dims;       // symbol -> size, for random inputs
  std::string outputDir;
  std::string device; ///< Empty: the executable's target.
  int benchmark = 0;
  int steps = 0; ///< >0: a training step run this many times, its updates carried.
  uint64_t seed = 0;
  size_t threads = 0; ///< 0: the device's default (UBE_NUM_THREADS or all).
  bool info = false;  ///< Describe the executable instead of running it.
  bool verbose = false;
};

constexpr const char *kUsage =
    "usage: ube-run EXE.ube [--function=NAME] [--input=NAME=FILE.npy]...\n"
    "               [--dims=SYMBOL=N,...] [--output-dir=DIR] [--steps=N] [--benchmark=N]\n"
    "               [--seed=S] [--device=NAME]\n"
    "               [--threads=N] [--verbose] | --info EXE.ube | --version\n"
    "\n"
    "Runs one entry point of a compiled executable (the first, unless --function\n"
    "names another) on the device it was compiled for (or --device). Inputs not\n"
    "given are random with --seed (default 0); --dims gives the sizes of the\n"
    "symbols a random input's shape names (an executable compiled from a graph\n"
    "with symbolic dimensions runs at any size within their bounds); a derived\n"
    "symbol not given is computed from the symbols its size names.\n"
    "--steps=N runs a training step N times on the same batch: each output named\n"
    "like an input (a parameter or optimizer state) is that input of the next\n"
    "step, an i64 scalar input named 'step' counts from its value (else 1), and\n"
    "each step's scalar outputs (the losses) are printed.\n"
    "--benchmark=N runs it N more times (steps, with --steps) and prints the\n"
    "median and spread.\n"
    "--threads=N runs parallel loops on N threads (cpu; default UBE_NUM_THREADS,\n"
    "else every hardware thread); results do not depend on it.\n"
    "--verbose says which build of a multi-ISA executable runs (the most capable\n"
    "the host has; UBE_CPU_VARIANT=NAME chooses another) and how much scratch\n"
    "memory (the arena) a call of these shapes takes.\n"
    "--info prints what the executable is (format version, producer, target,\n"
    "required CPU features, sections, entry points) without loading its code.\n";

int fail(const std::string &message) {
  std::fprintf(stderr, "ube-run: %s\n", message.c_str());
  return 1;
}

/// `text` as a count from 1 to `max`, or nullopt.
std::optional<long> count(const std::string &text, long max) {
  char *end;
  long n = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || *end || n < 1 || n > max)
    return std::nullopt;
  return n;
}

bool parseArgs(int argc, char **argv, Options &o, std::string &error) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&](const char *flag) -> std::optional<std::string> {
      std::string prefix = std::string(flag) + "=";
      if (arg.rfind(prefix, 0) == 0)
        return arg.substr(prefix.size());
      return std::nullopt;
    };
    if (arg == "-h" || arg == "--help") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else if (arg == "--version") {
      std::printf("ube-run (ube %s)\n", ube::kVersion);
      std::exit(0);
    } else if (arg == "--info") {
      o.info = true;
    } else if (arg == "--verbose") {
      o.verbose = true;
    } else if (auto v = value("--function")) {
      o.function = *v;
    } else if (auto v = value("--input")) {
      size_t eq = v->find('=');
      if (eq == std::string::npos || eq == 0) {
        error = "--input takes NAME=FILE.npy, got '" + *v + "'";
        return false;
      }
      o.inputs[v->substr(0, eq)] = v->substr(eq + 1);
    } else if (auto v = value("--dims")) {
      std::string list = *v;
      for (size_t at = 0; at <= list.size();) {
        size_t comma = std::min(list.find(',', at), list.size());
        std::string item = list.substr(at, comma - at);
        size_t eq = item.find('=');
        char *end = nullptr;
        long long n = eq == std::string::npos ? 0 : std::strtoll(item.c_str() + eq + 1, &end, 10);
        if (eq == std::string::npos || eq == 0 || !end || *end || n < 0) {
          error = "--dims takes SYMBOL=N[,SYMBOL=N...], got '" + *v + "'";
          return false;
        }
        o.dims[item.substr(0, eq)] = n;
        at = comma + 1;
      }
    } else if (auto v = value("--output-dir")) {
      o.outputDir = *v;
    } else if (auto v = value("--device")) {
      o.device = *v;
    } else if (auto v = value("--benchmark")) {
      auto n = count(*v, 1000000);
      if (!n) {
        error = "--benchmark takes a run count from 1 to 1000000";
        return false;
      }
      o.benchmark = int(*n);
    } else if (auto v = value("--steps")) {
      auto n = count(*v, 1000000);
      if (!n) {
        error = "--steps takes a step count from 1 to 1000000";
        return false;
      }
      o.steps = int(*n);
    } else if (auto v = value("--threads")) {
      auto n = count(*v, 4096);
      if (!n) {
        error = "--threads takes a thread count from 1 to 4096";
        return false;
      }
      o.threads = size_t(*n);
    } else if (auto v = value("--seed")) {
      char *end;
      o.seed = std::strtoull(v->c_str(), &end, 10);
      if (*end) {
        error = "--seed takes a non-negative integer";
        return false;
      }
    } else if (arg.rfind("-", 0) == 0) {
      error = "unknown option '" + arg + "'";
      return false;
    } else if (o.executable.empty()) {
      o.executable = arg;
    } else {
      error = "more than one executable given ('" + o.executable + "', '" + arg + "')";
      return false;
    }
  }
  if (o.executable.empty()) {
    error = "no executable given";
    return false;
  }
  return true;
}

/// Owns a runtime object with its release function.
template <typename T, void (*Release)(T *)> struct Handle {
  T *ptr = nullptr;
  ~Handle() {
    if (ptr)
      Release(ptr);
  }
};
using DeviceHandle = Handle<ube_device, ube_device_release>;
using ExecutableHandle = Handle<ube_executable, ube_executable_release>;
using BufferHandle = Handle<ube_buffer, ube_buffer_release>;

/// Turns a status into an error message (and frees it).
bool check(ube_status status, std::string &error) {
  if (!status)
    return true;
  error = ube_status_message(status);
  ube_status_free(status);
  return false;
}

float halfToFloat(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000) << 16, exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
  uint32_t bits;
  if (exponent == 0) {
    if (mantissa == 0) {
      bits = sign;
    } else { // subnormal
      int e = -1;
      do {
        ++e;
        mantissa <<= 1;
      } while (!(mantissa & 0x400));
      bits = sign | uint32_t(127 - 15 - e) << 23 | (mantissa & 0x3ff) << 13;
    }
  } else if (exponent == 31) {
    bits = sign | 0x7f800000 | mantissa << 13;
  } else {
    bits = sign | (exponent + 127 - 15) << 23 | mantissa << 13;
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

/// Element `i` of an array of T, as a double.
template <typename T>
double loadAs(const uint8_t *data, size_t i) {
  T v;
  std::memcpy(&v, data + sizeof(T) * i, sizeof(T));
  return double(v);
}

double elementAt(const uint8_t *data, ube::DType dtype, size_t i) {
  switch (dtype) {
  case ube::DType::F32: return loadAs<float>(data, i);
  case ube::DType::F16: {
    uint16_t h;
    std::memcpy(&h, data + 2 * i, 2);
    return halfToFloat(h);
  }
  case ube::DType::BF16: {
    uint32_t bits = uint32_t(data[2 * i] | data[2 * i + 1] << 8) << 16;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
  }
  case ube::DType::I1: return data[i] != 0;
  case ube::DType::I32: return loadAs<int32_t>(data, i);
  case ube::DType::I64: return loadAs<int64_t>(data, i);
  case ube::DType::F64: return loadAs<double>(data, i);
  case ube::DType::I8: return loadAs<int8_t>(data, i);
  case ube::DType::I16: return loadAs<int16_t>(data, i);
  case ube::DType::U8: return loadAs<uint8_t>(data, i);
  case ube::DType::U16: return loadAs<uint16_t>(data, i);
  case ube::DType::U32: return loadAs<uint32_t>(data, i);
  case ube::DType::U64: return loadAs<uint64_t>(data, i);
  }
  return 0;
}

/// Fills `bytes` with seeded random values of `dtype`.
void randomFill(std::vector<uint8_t> &bytes, ube::DType dtype, std::mt19937_64 &rng) {
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  size_t n = bytes.size() / ube::dtypeSize(dtype);
  for (size_t i = 0; i < n; ++i) {
    switch (dtype) {
    case ube::DType::F32: {
      float f = uniform(rng);
      std::memcpy(&bytes[4 * i], &f, 4);
      break;
    }
    case ube::DType::F16:
    case ube::DType::BF16: {
      // Exactly representable values k/256 in [-1, 1).
      float f = float(int(rng() % 512) - 256) / 256.0f;
      uint32_t bits;
      std::memcpy(&bits, &f, 4);
      uint16_t h;
      if (dtype == ube::DType::BF16) {
        h = uint16_t(bits >> 16);
      } else if (f == 0.0f) {
        h = uint16_t((bits >> 16) & 0x8000);
      } else {
        int exponent = int((bits >> 23) & 0xff) - 127 + 15;
        h = uint16_t(((bits >> 16) & 0x8000) | (exponent << 10) | ((bits >> 13) & 0x3ff));
      }
      std::memcpy(&bytes[2 * i], &h, 2);
      break;
    }
    case ube::DType::I1: bytes[i] = uint8_t(rng() & 1); break;
    case ube::DType::I32: {
      int32_t v = int32_t(rng() % 8);
      std::memcpy(&bytes[4 * i], &v, 4);
      break;
    }
    case ube::DType::I64: {
      int64_t v = int64_t(rng() % 8);
      std::memcpy(&bytes[8 * i], &v, 8);
      break;
    }
    case ube::DType::F64: {
      double v = uniform(rng);
      std::memcpy(&bytes[8 * i], &v, 8);
      break;
    }
    case ube::DType::I8:
    case ube::DType::U8: bytes[i] = uint8_t(rng() % 8); break;
    case ube::DType::I16:
    case ube::DType::U16: {
      uint16_t v = uint16_t(rng() % 8);
      std::memcpy(&bytes[2 * i], &v, 2);
      break;
    }
    case ube::DType::U32: {
      uint32_t v = uint32_t(rng() % 8);
      std::memcpy(&bytes[4 * i], &v, 4);
      break;
    }
    case ube::DType::U64: {
      uint64_t v = rng() % 8;
      std::memcpy(&bytes[8 * i], &v, 8);
      break;
    }
    }
  }
}

void printTensor(const std::string &name, ube::DType dtype, const std::vector<int64_t> &shape,
                 const uint8_t *data) {
  size_t n = size_t(*ube::numElements(shape));
  std::string text;
  constexpr size_t kShown = 16;
  for (size_t i = 0; i < n && i < kShown; ++i) {
    double v = elementAt(data, dtype, i);
    text += (i ? " " : "") + (ube::isUnsignedDType(dtype)  ? fmt::format("{}", uint64_t(v))
                              : ube::isIntegerDType(dtype) ? fmt::format("{}", int64_t(v))
                                                         : fmt::format("{:.6g}", v));
  }
  if (n > kShown)
    text += fmt::format(" ... ({} values)", n);
  std::printf("%s: %s %s = [%s]\n", name.c_str(), std::string(ube::dtypeName(dtype)).c_str(),
              ube::shapeToString(shape).c_str(), text.c_str());
}

/// --info: the manifest, read and checked as the loader does, but no code
/// mapped (so it works for executables this host cannot run).
int printInfo(const std::string &path, const std::vector<uint8_t> &image) {
  ube::ExecutableView view;
  std::string error;
  if (!ube::readExecutable(image.data(), image.size(), path, view, error))
    return fail(error);
  const ube::Manifest &m = view.manifest;
  fmt::print("{}\n  format version: {} (this runtime reads {} to {})\n  producer: {}\n"
             "  target: {} ({})\n",
             path, m.formatVersion, ube::kOldestReadableFormatVersion,
             ube::kExecutableFormatVersion, m.producer, m.target, m.targetInfo);
  if (!m.requiredFeatures.empty())
    fmt::print("  required features: {}\n", fmt::join(m.requiredFeatures, " "));
  for (const ube::Variant &v : m.variants)
    fmt::print("  variant {} ({}): {}; features {}\n", v.name, v.targetInfo, v.section,
               fmt::join(v.requiredFeatures, " "));
  for (const ube::Section &s : m.sections)
    fmt::print("  section {}: {} bytes\n", s.name, s.size);
  auto signature = [](const std::vector<ube::TensorSignature> &tensors) {
    std::vector<std::string> parts;
    for (const ube::TensorSignature &t : tensors)
      parts.push_back(fmt::format("{}: {}{}", t.name, ube::dtypeName(t.dtype),
                                  ube::signatureShapeString(t)));
    return fmt::format("{}", fmt::join(parts, ", "));
  };
  for (const ube::EntryPoint &e : m.entries) {
    fmt::print("  {}({}) -> ({})", e.name, signature(e.inputs), signature(e.outputs));
    if (!e.arenaExprs.empty())
      fmt::print(", arena sized at each call from its symbols{}",
                 e.arenaBytes ? fmt::format(" (at most {} bytes)", e.arenaBytes) : "");
    else if (e.arenaBytes)
      fmt::print(", arena {} bytes", e.arenaBytes);
    fmt::print("\n");
    std::vector<std::string> names;
    for (const ube::DimSymbol &d : e.symbols)
      names.push_back(d.name);
    auto namedBy = [&](const std::vector<ube::TensorSignature> &list, const ube::DimSymbol &d) {
      return std::any_of(list.begin(), list.end(), [&](const ube::TensorSignature &t) {
        return std::find(t.dims.begin(), t.dims.end(), d.name) != t.dims.end();
      });
    };
    size_t checked = 0;
    for (const ube::DimSymbol &d : e.symbols)
      if (d.derived() && (namedBy(e.outputs, d) || namedBy(e.inputs, d)))
        fmt::print("    symbol {} = {}, at least {} (computed at each call{})\n", d.name,
                   ube::planExprString(d.size, names), d.min,
                   namedBy(e.inputs, d) ? ", checked against the inputs" : "");
      else if (d.derived())
        ++checked; // a size inside the code: listed by count
      else
        fmt::print("    symbol {}: {} to {}{}\n", d.name, d.min,
                   d.max ? std::to_string(d.max) : "any",
                   d.multipleOf > 1 ? fmt::format(", a multiple of {}", d.multipleOf) : "");
    if (checked)
      fmt::print("    {} more sizes computed from the symbols, each checked at each call\n",
                 checked);
  }
  return 0;
}

/// --steps: a training step run again and again on the same batch. Each
/// output named like an input (a parameter or optimizer state) carries over:
/// written into that input's buffer where the executable updates it in
/// place, else the two buffers trade places before the next step. The i64
/// scalar input `step` (the optimizer's step counter, as ube.TrainingStep
/// feeds it) counts.
class TrainingLoop {
public:
  static constexpr const char *kCounter = "step";

  static std::optional<TrainingLoop> plan(ube_executable *exe, size_t function,
                                          std::vector<ube_buffer *> &in,
                                          std::vector<ube_buffer *> &out, int64_t firstStep,
                                          std::string &error) {
    TrainingLoop loop(exe, function, in, out, firstStep);
    std::map<std::string, size_t> inputs;
    for (size_t j = 0; j < in.size(); ++j) {
      ube_tensor_info info;
      ube_function_input(exe, function, j, &info);
      inputs[info.name] = j;
      if (info.name == std::string_view(kCounter) && info.rank == 0 &&
          static_cast<ube::DType>(info.dtype) == ube::DType::I64)
        loop.counter_ = ptrdiff_t(j);
    }
    for (size_t i = 0; i < out.size(); ++i) {
      ube_tensor_info info;
      ube_function_output(exe, function, i, &info);
      auto input = inputs.find(info.name);
      if (input == inputs.end()) {
        if (info.rank == 0)
          loop.losses_.push_back(i);
        continue;
      }
      size_t j = input->second;
      if (ube_buffer_dtype(in[j]) != ube_buffer_dtype(out[i]) ||
          ube_buffer_size_bytes(in[j]) != ube_buffer_size_bytes(out[i])) {
        error = fmt::format("--steps: output '{}' differs from the input of its name in dtype "
                            "or size, so it cannot carry over", info.name);
        return std::nullopt;
      }
      if (ube_function_output_in_place_of(exe, function, i) == ptrdiff_t(j))
        out[i] = in[j];
      else
        loop.traded_.emplace_back(j, i);
      if (ptrdiff_t(j) == loop.counter_)
        loop.counter_ = -1; // the step carries its own counter
      loop.carriedNames_.emplace_back(j, info.name);
    }
    if (loop.carriedNames_.empty()) {
      error = fmt::format("--steps: '{}' is not a training step (no output is named like an "
                          "input)",
                          ube_executable_function_name(exe, function));
      return std::nullopt;
    }
    return loop;
  }

  /// The carried inputs named PARAM.STATE after another carried input PARAM.
  std::vector<size_t> optimizerState() const {
    std::map<std::string, size_t> carried;
    for (auto [j, name] : carriedNames_)
      carried[name] = j;
    std::vector<size_t> state;
    for (auto [j, name] : carriedNames_) {
      size_t dot = name.rfind('.');
      if (dot != std::string::npos && carried.count(name.substr(0, dot)))
        state.push_back(j);
    }
    return state;
  }

  /// Runs the next step through `invoke`.
  bool step(const std::function<bool()> &invoke, std::string &error) {
    if (number_ > first_)
      for (auto [j, i] : traded_)
        std::swap((*in_)[j], (*out_)[i]);
    if (counter_ >= 0 &&
        !check(ube_buffer_copy_from_host((*in_)[counter_], &number_, sizeof(number_)), error))
      return false;
    ++number_;
    return invoke();
  }

  /// "step N: loss 1.25 kd 0.5": the last step's scalar outputs.
  void printLosses() const {
    std::string line = fmt::format("step {}:", number_ - 1);
    for (size_t i : losses_) {
      ube_tensor_info info;
      ube_function_output(exe_, function_, i, &info);
      std::vector<uint8_t> host(ube_buffer_size_bytes((*out_)[i]));
      std::string error;
      if (!check(ube_buffer_copy_to_host((*out_)[i], host.data(), host.size()), error))
        continue;
      line += fmt::format(" {} {:.9g}", info.name,
                          elementAt(host.data(), static_cast<ube::DType>(info.dtype), 0));
    }
    std::printf("%s\n", line.c_str());
  }

private:
  TrainingLoop(ube_executable *exe, size_t function, std::vector<ube_buffer *> &in,
               std::vector<ube_buffer *> &out, int64_t firstStep)
      : exe_(exe), function_(function), in_(&in), out_(&out), first_(firstStep),
        number_(firstStep) {}

  ube_executable *exe_;
  size_t function_;
  std::vector<ube_buffer *> *in_, *out_;
  std::vector<std::pair<size_t, size_t>> traded_; ///< (input, output) trading places
  std::vector<size_t> losses_;                    ///< scalar outputs not carried
  std::vector<std::pair<size_t, std::string>> carriedNames_; ///< (input, name)
  ptrdiff_t counter_ = -1;
  int64_t first_, number_;
};

int run(const Options &o) {
  std::string error;
  std::vector<uint8_t> image;
  if (!ube::readRegularFile(o.executable, image, error))
    return fail(error);
  if (o.info)
    return printInfo(o.executable, image);
  // The manifest, read once: the device the executable was compiled for and
  // which symbol each symbolic size is. The loader reports any problem with
  // the file itself.
  ube::ExecutableView view;
  bool readable = ube::readExecutable(image.data(), image.size(), o.executable, view, error);
  std::string deviceName = o.device;
  if (deviceName.empty())
    deviceName = readable ? view.manifest.target : "cpu";
  DeviceHandle device;
  if (!check(ube_device_open(deviceName.c_str(), &device.ptr), error))
    return fail(error);
  if (o.threads && !check(ube_device_set_thread_count(device.ptr, o.threads), error))
    return fail(error);
  ExecutableHandle exe;
  if (!check(ube_executable_load_memory(device.ptr, image.data(), image.size(),
                                        o.executable.c_str(), &exe.ptr),
             error))
    return fail(error);
  if (o.verbose) {
    std::string variant = ube_executable_variant(exe.ptr);
    std::fprintf(stderr, "ube-run: loaded %s on %s%s\n", o.executable.c_str(),
                 deviceName.c_str(), variant.empty() ? "" : (", variant " + variant).c_str());
  }
  size_t function = 0;
  if (!o.function.empty() &&
      !check(ube_executable_find_function(exe.ptr, o.function.c_str(), &function), error))
    return fail(error);
  const char *fnName = ube_executable_function_name(exe.ptr, function);
  if (!fnName)
    return fail(o.executable + ": the executable has no functions");

  // The loader accepted the file, so the manifest read above is its own.
  const ube::EntryPoint &entry = view.manifest.entries.at(function);
  size_t numInputs = ube_function_input_count(exe.ptr, function);
  size_t numOutputs = ube_function_output_count(exe.ptr, function);
  std::vector<BufferHandle> inputs(numInputs), outputs(numOutputs);
  std::vector<std::vector<uint8_t>> inputData(numInputs);
  std::map<std::string, std::string> unused = o.inputs;
  std::mt19937_64 rng(o.seed);
  std::vector<std::vector<int64_t>> inputShapes;
  // Derived symbols not given are computed from the given ones (a strided
  // stage's planes from the image's), as each call checks them.
  std::map<std::string, int64_t> dims = o.dims;
  for (const ube::DimSymbol &d : entry.symbols) {
    if (!d.derived() || dims.count(d.name))
      continue;
    std::vector<int64_t> symbols, values;
    bool known = true;
    for (const ube::DimSymbol &s : entry.symbols) {
      auto it = dims.find(s.name);
      symbols.push_back(it == dims.end() ? 0 : it->second);
    }
    for (const ube::PlanExpr &node : d.size)
      if (node.op == ube::PlanExpr::Symbol && !dims.count(entry.symbols[node.value].name))
        known = false;
    std::string unused;
    if (known && ube::evaluatePlanExprs(d.size, symbols, values, unused))
      dims[d.name] = values.back();
  }
  int64_t firstStep = 1; // --steps: the step counter's start
  for (size_t i = 0; i < numInputs; ++i) {
    ube_tensor_info info;
    check(ube_function_input(exe.ptr, function, i, &info), error);
    auto dtype = static_cast<ube::DType>(info.dtype);
    const ube::TensorSignature &sig = entry.inputs.at(i);
    std::vector<int64_t> shape(info.shape, info.shape + info.rank);
    auto given = o.inputs.find(info.name);
    if (given != o.inputs.end()) {
      unused.erase(info.name);
      ube::NpyArray array;
      if (!ube::readNpy(given->second, array, error))
        return fail(error);
      // Symbolic sizes are the file's; ube_invoke checks that they agree.
      bool fits = array.dtype == dtype && array.shape.size() == shape.size();
      for (size_t d = 0; fits && d < shape.size(); ++d)
        fits = shape[d] == ube::kSymbolicDim || shape[d] == array.shape[d];
      if (!fits)
        return fail(fmt::format("{}: input '{}' of '{}' expects {} {}, the file holds {} {}",
                                given->second, info.name, fnName, ube::dtypeName(dtype),
                                ube::signatureShapeString(sig), ube::dtypeName(array.dtype),
                                ube::shapeToString(array.shape)));
      shape = array.shape;
      inputData[i] = std::move(array.data);
      if (info.name == std::string_view(TrainingLoop::kCounter) && dtype == ube::DType::I64 &&
          inputData[i].size() == sizeof(int64_t))
        std::memcpy(&firstStep, inputData[i].data(), sizeof(int64_t));
    } else {
      size_t next = 0;
      for (int64_t &size : shape) {
        if (size != ube::kSymbolicDim)
          continue;
        auto known = dims.find(sig.dims[next++]);
        if (known == dims.end())
          return fail(fmt::format("function '{}': input '{}' has symbolic dimensions: give it "
                                  "(--input) or the sizes (--dims={}=N)",
                                  fnName, info.name, sig.dims[next - 1]));
        size = known->second;
      }
      auto count = ube::numElements(shape);
      if (!count)
        return fail(fmt::format("input '{}': {} is too large", info.name,
                                ube::shapeToString(shape)));
      inputData[i].resize(size_t(*count) * ube::dtypeSize(dtype));
      randomFill(inputData[i], dtype, rng);
    }
    size_t bytes = inputData[i].size();
    inputShapes.push_back(shape);
    if (!check(ube_buffer_allocate(device.ptr, info.dtype, info.rank, shape.data(),
                                   &inputs[i].ptr),
               error) ||
        !check(ube_buffer_copy_from_host(inputs[i].ptr, inputData[i].data(), bytes), error))
      return fail(error);
  }
  if (!unused.empty()) {
    std::string names;
    for (size_t i = 0; i < numInputs; ++i) {
      ube_tensor_info info;
      ube_function_input(exe.ptr, function, i, &info);
      names += (names.empty() ? "" : ", ") + std::string(info.name);
    }
    return fail(fmt::format("function '{}' has no input '{}' (its inputs: {})", fnName,
                            unused.begin()->first, names));
  }
  std::vector<const int64_t *> shapePointers;
  for (const std::vector<int64_t> &shape : inputShapes)
    shapePointers.push_back(shape.data());
  if (o.verbose) {
    uint64_t arenaBytes = 0;
    if (!check(ube_function_arena_bytes(exe.ptr, function, shapePointers.data(), numInputs,
                                        &arenaBytes),
               error))
      return fail(error);
    std::fprintf(stderr, "ube-run: %s's scratch arena at these shapes: %llu bytes (%.2f MiB)\n",
                 fnName, (unsigned long long)arenaBytes, double(arenaBytes) / (1 << 20));
  }
  for (size_t i = 0; i < numOutputs; ++i) {
    ube_tensor_info info;
    ube_function_output(exe.ptr, function, i, &info);
    // Symbolic sizes from the inputs' (an error names what disagrees).
    std::vector<int64_t> shape(info.shape, info.shape + info.rank);
    bool symbolic = std::count(shape.begin(), shape.end(), ube::kSymbolicDim) > 0;
    if ((symbolic && !check(ube_function_output_shape(exe.ptr, function, shapePointers.data(),
                                                      numInputs, i, shape.data()),
                            error)) ||
        !check(ube_buffer_allocate(device.ptr, info.dtype, info.rank, shape.data(),
                                   &outputs[i].ptr),
               error))
      return fail(error);
  }
  std::vector<ube_buffer *> in, out;
  for (auto &b : inputs)
    in.push_back(b.ptr);
  for (auto &b : outputs)
    out.push_back(b.ptr);
  auto invoke = [&] {
    return check(ube_invoke(exe.ptr, function, in.data(), in.size(), out.data(), out.size()),
                 error);
  };
  std::optional<TrainingLoop> loop;
  if (o.steps > 0) {
    loop = TrainingLoop::plan(exe.ptr, function, in, out, firstStep, error);
    if (!loop)
      return fail(error);
    // Optimizer state not given starts at zeros, as PyTorch's optimizers do.
    for (size_t j : loop->optimizerState()) {
      ube_tensor_info info;
      ube_function_input(exe.ptr, function, j, &info);
      if (o.inputs.count(info.name))
        continue;
      std::vector<uint8_t> zeros(inputData[j].size());
      if (!check(ube_buffer_copy_from_host(in[j], zeros.data(), zeros.size()), error))
        return fail(error);
    }
  }
  // One invocation, or with --steps one training step.
  std::function<bool()> next = [&] { return loop ? loop->step(invoke, error) : invoke(); };
  for (int s = 0; s < std::max(o.steps, 1); ++s) {
    if (!next())
      return fail(error);
    if (loop)
      loop->printLosses();
  }

  if (!o.outputDir.empty()) {
    // mkdir -p: every missing parent too.
    for (size_t at = o.outputDir.find('/', 1); at != std::string::npos;
         at = o.outputDir.find('/', at + 1))
      ::mkdir(o.outputDir.substr(0, at).c_str(), 0755);
    ::mkdir(o.outputDir.c_str(), 0755);
  }
  for (size_t i = 0; i < numOutputs; ++i) {
    ube_tensor_info info;
    ube_function_output(exe.ptr, function, i, &info);
    auto dtype = static_cast<ube::DType>(info.dtype);
    const int64_t *dims = ube_buffer_shape(out[i]);
    std::vector<int64_t> shape(dims, dims + info.rank);
    std::vector<uint8_t> host(ube_buffer_size_bytes(out[i]));
    if (!check(ube_buffer_copy_to_host(out[i], host.data(), host.size()), error))
      return fail(error);
    printTensor(info.name, dtype, shape, host.data());
    if (!o.outputDir.empty() &&
        !ube::writeNpy(o.outputDir + "/" + info.name + ".npy", dtype, shape, host.data(), error))
      return fail(error);
  }

  if (o.benchmark > 0) {
    std::vector<double> ms;
    for (int r = 0; r < o.benchmark; ++r) {
      auto start = std::chrono::steady_clock::now();
      if (!next())
        return fail(error);
      ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() -
                                                             start)
                       .count());
    }
    std::sort(ms.begin(), ms.end());
    auto at = [&](double q) { return ms[size_t(q * double(ms.size() - 1) + 0.5)]; };
    std::printf("benchmark: %s on %s, %d runs: median %.4f ms (p10 %.4f, p90 %.4f, min %.4f, "
                "max %.4f)\n",
                fnName, deviceName.c_str(), o.benchmark, at(0.5), at(0.1), at(0.9), ms.front(), ms.back());
  }
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  Options options;
  std::string error;
  if (!parseArgs(argc, argv, options, error)) {
    std::fprintf(stderr, "ube-run: %s\n%s", error.c_str(), kUsage);
    return 2;
  }
  return run(options);
}
