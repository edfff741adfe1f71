//===- CudaDevice.cpp - the NVIDIA GPU device plugin ----------------------===//
//
// Talks to the CUDA driver API through libcuda.so.1, opened with dlopen, so
// nothing links against CUDA and a machine without a driver or a GPU gets a
// clear UBE_UNAVAILABLE error. An executable for this device has no host
// code: each entry point carries a launch plan (buffers and steps, see
// lib/Target/Cuda) that launch() executes. Kernels load from cubin when it
// matches the GPU, else from PTX (JIT). Weights are uploaded once per load.
// Device memory goes through a caching allocator.
//
//===----------------------------------------------------------------------===//

#include "../CachingAllocator.h"
#include "../Device.h"

#include <cstring>
#include <dlfcn.h>
#include <fmt/format.h>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <type_traits>

namespace ube::runtime {
namespace {

using CUresult = int;
using CUdevice = int;
using CUdeviceptr = unsigned long long;
using CUcontext = struct CUctx_st *;
using CUmodule = struct CUmod_st *;
using CUfunction = struct CUfunc_st *;
using CUstream = struct CUstream_st *;
constexpr CUresult CUDA_SUCCESS = 0;
constexpr int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75;
constexpr int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76;

/// The driver entry points we use, resolved from libcuda.so.1.
struct Driver {
  void *library = nullptr;
#define UBE_CUDA_FUNCTIONS(X)                                                    \
  X(cuInit, CUresult(unsigned))                                             \
  X(cuDeviceGetCount, CUresult(int *))                                      \
  X(cuDeviceGet, CUresult(CUdevice *, int))                                 \
  X(cuDeviceGetName, CUresult(char *, int, CUdevice))                       \
  X(cuDeviceGetAttribute, CUresult(int *, int, CUdevice))                   \
  X(cuDevicePrimaryCtxRetain, CUresult(CUcontext *, CUdevice))              \
  X(cuDevicePrimaryCtxRelease_v2, CUresult(CUdevice))                       \
  X(cuCtxSetCurrent, CUresult(CUcontext))                                   \
  X(cuCtxSynchronize, CUresult())                                           \
  X(cuMemAlloc_v2, CUresult(CUdeviceptr *, size_t))                         \
  X(cuMemFree_v2, CUresult(CUdeviceptr))                                    \
  X(cuMemcpyHtoD_v2, CUresult(CUdeviceptr, const void *, size_t))           \
  X(cuMemcpyDtoH_v2, CUresult(void *, CUdeviceptr, size_t))                 \
  X(cuMemcpyDtoD_v2, CUresult(CUdeviceptr, CUdeviceptr, size_t))            \
  X(cuModuleLoadData, CUresult(CUmodule *, const void *))                   \
  X(cuModuleUnload, CUresult(CUmodule))                                     \
  X(cuModuleGetFunction, CUresult(CUfunction *, CUmodule, const char *))    \
  X(cuLaunchKernel, CUresult(CUfunction, unsigned, unsigned, unsigned,      \
                                 unsigned, unsigned, unsigned, unsigned,        \
                                 CUstream, void **, void **))                   \
  X(cuGetErrorString, CUresult(CUresult, const char **))
#define UBE_DECLARE(name, type) std::add_pointer_t<type> name = nullptr;
  UBE_CUDA_FUNCTIONS(UBE_DECLARE)
#undef UBE_DECLARE

  MaybeError open() {
    library = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!library)
      return Error{UBE_UNAVAILABLE,
                   fmt::format("no CUDA driver: cannot load libcuda.so.1 ({})", dlerror())};
#define UBE_RESOLVE(name, type)                                                  \
  name = reinterpret_cast<std::add_pointer_t<type>>(dlsym(library, #name));                         \
  if (!name)                                                                    \
    return Error{UBE_UNAVAILABLE, "the CUDA driver lacks " #name};
    UBE_CUDA_FUNCTIONS(UBE_RESOLVE)
#undef UBE_RESOLVE
    return std::nullopt;
  }

  std::string describe(CUresult result) const {
    const char *text = nullptr;
    if (cuGetErrorString)
      cuGetErrorString(result, &text);
    return fmt::format("CUDA error {} ({})", result, text ? text : "unknown");
  }
  MaybeError check(CUresult result, const char *what) const {
    if (result == CUDA_SUCCESS)
      return std::nullopt;
    return Error{result == 2 ? UBE_RESOURCE_EXHAUSTED : UBE_INTERNAL,
                 fmt::format("cuda: {} failed: {}", what, describe(result))};
  }
};

struct PlanArg {
  enum Kind { Pointer, I32, I64, F32, F64 } kind;
  int64_t buffer = -1;
  uint64_t bits = 0;
};
struct PlanStep {
  bool isLaunch = true;
  CUfunction function = nullptr;
  unsigned grid[3] = {1, 1, 1}, block[3] = {1, 1, 1};
  std::vector<PlanArg> args;
  int64_t src = 0, dst = 0;
  uint64_t srcOffset = 0, dstOffset = 0, bytes = 0;
};
struct PlanBuffer {
  enum Kind { Argument, Temporary, Constant } kind;
  uint64_t index = 0; ///< Argument index, or constant offset.
  uint64_t bytes = 0;
};
struct Plan {
  std::vector<PlanBuffer> buffers;
  std::vector<PlanStep> steps;
};

class CudaDevice;

class CudaCode : public LoadedCode {
public:
  explicit CudaCode(CudaDevice &device) : device(device) {}
  ~CudaCode() override;
  CudaDevice &device;
  std::vector<CUmodule> modules;
  CUdeviceptr constants = 0;
  std::vector<Plan> plans;
};

class CudaDevice : public Device {
public:
  CudaDevice(Driver driver, CUdevice device, CUcontext context, std::string name)
      : driver_(std::move(driver)), device_(device), context_(context),
        deviceName_(std::move(name)),
        allocator_([this](size_t bytes) -> void * {
          CUdeviceptr ptr = 0;
          return driver_.cuMemAlloc_v2(&ptr, bytes) == CUDA_SUCCESS
                     ? reinterpret_cast<void *>(ptr)
                     : nullptr;
        },
                   [this](void *ptr) {
                     driver_.cuMemFree_v2(reinterpret_cast<CUdeviceptr>(ptr));
                   }) {}
  ~CudaDevice() override {
    makeCurrent();
    allocator_.releaseCached();
    driver_.cuDevicePrimaryCtxRelease_v2(device_);
  }

  const char *name() const override { return "cuda"; }
  bool hostVisible() const override { return false; }

  /// The context is current per thread; every entry point sets it.
  MaybeError makeCurrent() const { return driver_.check(driver_.cuCtxSetCurrent(context_), "cuCtxSetCurrent"); }

  MaybeError allocate(size_t bytes, void **out) override {
    if (MaybeError e = makeCurrent())
      return e;
    *out = allocator_.allocate(bytes);
    if (!*out)
      return Error{UBE_RESOURCE_EXHAUSTED,
                   fmt::format("cuda: out of device memory allocating {} bytes", bytes)};
    return std::nullopt;
  }
  void deallocate(void *ptr, size_t) override { allocator_.deallocate(ptr); }

  MaybeError copyToDevice(void *dst, const void *src, size_t bytes) override {
    if (MaybeError e = makeCurrent())
      return e;
    return driver_.check(driver_.cuMemcpyHtoD_v2(reinterpret_cast<CUdeviceptr>(dst), src, bytes),
                         "cuMemcpyHtoD");
  }
  MaybeError copyToHost(void *dst, const void *src, size_t bytes) override {
    if (MaybeError e = makeCurrent())
      return e;
    return driver_.check(driver_.cuMemcpyDtoH_v2(dst, reinterpret_cast<CUdeviceptr>(src), bytes),
                         "cuMemcpyDtoH");
  }

  MaybeError load(const ExecutableView &exe, const std::string &displayName,
                  std::unique_ptr<LoadedCode> &out) override;
  MaybeError launch(LoadedCode &code, size_t entry, void **buffers) override;
  MaybeError synchronize() override {
    if (MaybeError e = makeCurrent())
      return e;
    return driver_.check(driver_.cuCtxSynchronize(), "cuCtxSynchronize");
  }
  MemoryStats memoryStats() const override {
    auto s = allocator_.stats();
    return {s.allocatedBytes, s.peakAllocatedBytes};
  }

  Driver driver_;

private:
  CUdevice device_;
  CUcontext context_;
  std::string deviceName_;
  mutable CachingAllocator allocator_;
};

CudaCode::~CudaCode() {
  device.makeCurrent();
  for (CUmodule m : modules)
    device.driver_.cuModuleUnload(m);
  if (constants)
    device.deallocate(reinterpret_cast<void *>(constants), 0);
}

MaybeError parsePlan(const std::string &text, const std::map<std::string, CUmodule> &modules,
                     const Driver &driver, Plan &plan, const std::string &where) {
  using json = nlohmann::json;
  json j = json::parse(text, nullptr, false);
  auto bad = [&](const std::string &why) {
    return Error{UBE_INVALID_EXECUTABLE, fmt::format("{}: malformed launch plan: {}", where, why)};
  };
  if (j.is_discarded() || !j.contains("buffers") || !j.contains("steps") ||
      !j["buffers"].is_array() || !j["steps"].is_array())
    return bad("missing buffers or steps");
  for (const json &b : j["buffers"]) {
    if (!b.is_object() || !b.contains("kind") || !b["kind"].is_string())
      return bad("buffer without kind");
    std::string kind = b["kind"];
    PlanBuffer buffer{PlanBuffer::Argument};
    if (kind == "argument" && b.value("index", json()).is_number_unsigned()) {
      buffer.index = b["index"];
    } else if (kind == "temporary" && b.value("bytes", json()).is_number_unsigned()) {
      buffer = {PlanBuffer::Temporary, 0, b["bytes"]};
    } else if (kind == "constant" && b.value("offset", json()).is_number_unsigned() &&
               b.value("bytes", json()).is_number_unsigned()) {
      buffer = {PlanBuffer::Constant, b["offset"], b["bytes"]};
    } else {
      return bad("unknown buffer '" + kind + "'");
    }
    plan.buffers.push_back(buffer);
  }
  auto bufferId = [&](const json &v, int64_t &out) {
    if (!v.is_number_unsigned() || v.get<uint64_t>() >= plan.buffers.size())
      return false;
    out = v.get<int64_t>();
    return true;
  };
  for (const json &s : j["steps"]) {
    PlanStep step;
    std::string op = s.value("op", "");
    if (op == "launch") {
      std::string module = s.value("module", ""), kernel = s.value("kernel", "");
      auto it = modules.find(module);
      if (it == modules.end())
        return bad("no module '" + module + "'");
      if (MaybeError e = driver.check(
              driver.cuModuleGetFunction(&step.function, it->second, kernel.c_str()),
              "cuModuleGetFunction"))
        return e;
      for (int d = 0; d < 3; ++d) {
        if (!s["grid"][d].is_number_unsigned() || !s["block"][d].is_number_unsigned())
          return bad("bad launch dimensions");
        step.grid[d] = s["grid"][d];
        step.block[d] = s["block"][d];
      }
      for (const json &a : s["args"]) {
        if (!a.is_object() || a.size() != 1)
          return bad("bad kernel argument");
        auto [key, value] = *a.items().begin();
        PlanArg arg{PlanArg::Pointer};
        if (key == "ptr") {
          if (!bufferId(value, arg.buffer))
            return bad("bad buffer reference");
        } else if ((key == "i64" || key == "i32") && value.is_number_integer()) {
          arg.kind = key == "i64" ? PlanArg::I64 : PlanArg::I32;
          int64_t v = value.get<int64_t>();
          std::memcpy(&arg.bits, &v, 8);
        } else if ((key == "f32_bits" || key == "f64_bits") && value.is_number_unsigned()) {
          // A float's bit pattern; the kernel reads the low 4 bytes for f32.
          arg.kind = key == "f32_bits" ? PlanArg::F32 : PlanArg::F64;
          arg.bits = value.get<uint64_t>();
        } else {
          return bad("unknown argument kind '" + key + "'");
        }
        step.args.push_back(arg);
      }
    } else if (op == "copy") {
      step.isLaunch = false;
      if (!bufferId(s.value("src", json()), step.src) ||
          !bufferId(s.value("dst", json()), step.dst))
        return bad("bad copy");
      step.srcOffset = s.value("src_offset", 0ull);
      step.dstOffset = s.value("dst_offset", 0ull);
      step.bytes = s.value("bytes", 0ull);
    } else {
      return bad("unknown step '" + op + "'");
    }
    plan.steps.push_back(std::move(step));
  }
  return std::nullopt;
}

MaybeError CudaDevice::load(const ExecutableView &exe, const std::string &displayName,
                            std::unique_ptr<LoadedCode> &out) {
  if (MaybeError e = makeCurrent())
    return e;
  auto code = std::make_unique<CudaCode>(*this);
  std::map<std::string, CUmodule> modules;
  for (const Section &section : exe.manifest.sections) {
    if (section.name.rfind("ptx:", 0) != 0)
      continue;
    std::string module = section.name.substr(4);
    CUmodule handle = nullptr;
    // Prefer the cubin; it fails to load on another architecture, and the
    // driver then compiles the PTX for this GPU.
    const Section *cubin = exe.findSection("cubin:" + module);
    if (!cubin || driver_.cuModuleLoadData(&handle, exe.section(*cubin)) != CUDA_SUCCESS) {
      const uint8_t *ptx = exe.section(section);
      if (section.size == 0 || ptx[section.size - 1] != 0)
        return Error{UBE_INVALID_EXECUTABLE,
                     fmt::format("{}: PTX of '{}' is not NUL-terminated", displayName, module)};
      if (MaybeError e = driver_.check(driver_.cuModuleLoadData(&handle, ptx),
                                       "loading PTX (cuModuleLoadData)"))
        return e;
    }
    code->modules.push_back(handle);
    modules[module] = handle;
  }
  if (const Section *constants = exe.findSection("constants"); constants && constants->size) {
    void *ptr;
    if (MaybeError e = allocate(constants->size, &ptr))
      return e;
    code->constants = reinterpret_cast<CUdeviceptr>(ptr);
    if (MaybeError e = copyToDevice(ptr, exe.section(*constants), constants->size))
      return e;
  }
  for (const EntryPoint &entry : exe.manifest.entries) {
    Plan plan;
    if (MaybeError e = parsePlan(entry.plan, modules, driver_, plan,
                                 displayName + " (" + entry.name + ")"))
      return e;
    code->plans.push_back(std::move(plan));
  }
  out = std::move(code);
  return std::nullopt;
}

MaybeError CudaDevice::launch(LoadedCode &loaded, size_t entry, void **buffers) {
  auto &code = static_cast<CudaCode &>(loaded);
  const Plan &plan = code.plans.at(entry);
  if (MaybeError e = makeCurrent())
    return e;
  std::vector<CUdeviceptr> pointers(plan.buffers.size());
  std::vector<void *> temporaries;
  auto release = [&] {
    for (void *t : temporaries)
      deallocate(t, 0);
  };
  for (size_t i = 0; i < plan.buffers.size(); ++i) {
    const PlanBuffer &b = plan.buffers[i];
    if (b.kind == PlanBuffer::Argument) {
      pointers[i] = reinterpret_cast<CUdeviceptr>(buffers[b.index]);
    } else if (b.kind == PlanBuffer::Constant) {
      pointers[i] = code.constants + b.index;
    } else {
      void *ptr;
      if (MaybeError e = allocate(b.bytes, &ptr)) {
        release();
        return e;
      }
      temporaries.push_back(ptr);
      pointers[i] = reinterpret_cast<CUdeviceptr>(ptr);
    }
  }
  std::vector<uint64_t> slots;
  std::vector<void *> params;
  for (const PlanStep &step : plan.steps) {
    MaybeError error;
    if (step.isLaunch) {
      slots.resize(step.args.size());
      params.resize(step.args.size());
      for (size_t a = 0; a < step.args.size(); ++a) {
        const PlanArg &arg = step.args[a];
        slots[a] = arg.kind == PlanArg::Pointer ? pointers[arg.buffer] : arg.bits;
        params[a] = &slots[a];
      }
      error = driver_.check(driver_.cuLaunchKernel(step.function, step.grid[0], step.grid[1],
                                                   step.grid[2], step.block[0], step.block[1],
                                                   step.block[2], 0, nullptr, params.data(),
                                                   nullptr),
                            "cuLaunchKernel");
    } else {
      error = driver_.check(driver_.cuMemcpyDtoD_v2(pointers[step.dst] + step.dstOffset,
                                                    pointers[step.src] + step.srcOffset,
                                                    step.bytes),
                            "cuMemcpyDtoD");
    }
    if (error) {
      release();
      return error;
    }
  }
  // Temporaries go back to the cache only once the kernels using them ran.
  MaybeError synced = synchronize();
  release();
  return synced;
}

} // namespace

MaybeError createCudaDevice(std::unique_ptr<Device> &out) {
  Driver driver;
  if (MaybeError e = driver.open())
    return e;
  if (CUresult r = driver.cuInit(0); r != CUDA_SUCCESS)
    return Error{UBE_UNAVAILABLE, fmt::format("no CUDA device: cuInit failed: {}",
                                              driver.describe(r))};
  int count = 0;
  if (driver.cuDeviceGetCount(&count) != CUDA_SUCCESS || count == 0)
    return Error{UBE_UNAVAILABLE, "no CUDA device: the driver sees no GPU"};
  CUdevice device;
  CUcontext context;
  char name[256] = {};
  if (MaybeError e = driver.check(driver.cuDeviceGet(&device, 0), "cuDeviceGet"))
    return e;
  driver.cuDeviceGetName(name, sizeof name - 1, device);
  int major = 0, minor = 0;
  driver.cuDeviceGetAttribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, device);
  driver.cuDeviceGetAttribute(&minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, device);
  if (MaybeError e = driver.check(driver.cuDevicePrimaryCtxRetain(&context, device),
                                  "cuDevicePrimaryCtxRetain"))
    return e;
  out = std::make_unique<CudaDevice>(std::move(driver), device, context,
                                     fmt::format("{} (sm_{}{})", name, major, minor));
  return std::nullopt;
}

} // namespace ube::runtime
