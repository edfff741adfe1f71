//===- CudaDevice.cpp - the NVIDIA GPU device plugin ----------------------===//
//
// Talks to the CUDA driver API through libcuda.so.1, opened with dlopen, so
// nothing links against CUDA and a machine without a driver or a GPU gets a
// clear UBE_UNAVAILABLE error. An executable for this device has no host
// code: each entry point carries a launch plan (buffers and steps, see
// lib/Target/Cuda) that launch() executes. Kernels load from cubin when it
// matches the GPU, else from PTX (JIT). Weights are uploaded once per load.
// Device memory goes through a caching allocator. With UBE_CUDA_PROFILE=1 set,
// each kernel is timed with events and an executable prints, when released,
// its kernels by total time.
//
//===----------------------------------------------------------------------===//

#include "../CachingAllocator.h"
#include "../Device.h"
#include "LaunchPlan.h"
#include "ModuleImage.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <fmt/format.h>
#include <map>
#include <mutex>
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
using CUevent = struct CUevent_st *;
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
  X(cuEventCreate, CUresult(CUevent *, unsigned))                           \
  X(cuEventRecord, CUresult(CUevent, CUstream))                             \
  X(cuEventSynchronize, CUresult(CUevent))                                  \
  X(cuEventElapsedTime, CUresult(float *, CUevent, CUevent))                \
  X(cuEventDestroy_v2, CUresult(CUevent))                                   \
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

/// A launch plan with its kernels resolved in the loaded modules.
struct ResolvedPlan {
  LaunchPlan plan;
  std::vector<CUfunction> functions; ///< Per step; null for copies.
  EntryPoint entry;                  ///< Its signature, for symbolic sizes.
};

class CudaDevice;

/// UBE_CUDA_PROFILE=1: time per kernel (module), summed over invocations.
struct KernelProfile {
  struct Entry {
    double ms = 0;
    size_t launches = 0;
    unsigned grid = 0, block = 0;
  };
  std::map<std::string, Entry> kernels;
  size_t invocations = 0;

  static bool enabled() {
    const char *v = std::getenv("UBE_CUDA_PROFILE");
    return v && *v && std::strcmp(v, "0") != 0;
  }
  void print(const std::string &name) const {
    std::vector<std::pair<std::string, Entry>> sorted(kernels.begin(), kernels.end());
    std::sort(sorted.begin(), sorted.end(),
              [](const auto &a, const auto &b) { return a.second.ms > b.second.ms; });
    double total = 0;
    for (const auto &[kernel, entry] : sorted)
      total += entry.ms;
    std::fprintf(stderr, "ube cuda profile: %s: %zu invocations, %.3f ms of kernels each\n",
                 name.c_str(), invocations, invocations ? total / double(invocations) : 0.0);
    std::fprintf(stderr, "%10s %6s %8s %10s %6s  %s\n", "ms/call", "share", "launches",
                 "grid", "block", "kernel");
    for (const auto &[kernel, entry] : sorted)
      std::fprintf(stderr, "%10.4f %5.1f%% %8zu %10u %6u  %s\n",
                   entry.ms / double(std::max<size_t>(invocations, 1)),
                   total > 0 ? 100 * entry.ms / total : 0.0, entry.launches, entry.grid,
                   entry.block, kernel.c_str());
  }
};

class CudaCode : public LoadedCode {
public:
  explicit CudaCode(CudaDevice &device) : device(device) {}
  ~CudaCode() override;
  CudaDevice &device;
  std::string name;
  std::vector<CUmodule> modules;
  CUdeviceptr constants = 0;
  std::vector<ResolvedPlan> plans;
  std::unique_ptr<KernelProfile> profile; ///< Null unless UBE_CUDA_PROFILE is set.
};

class CudaDevice : public Device {
public:
  CudaDevice(Driver driver, CUdevice device, CUcontext context, std::string name,
             GpuArchitecture architecture)
      : driver_(std::move(driver)), device_(device), context_(context),
        deviceName_(std::move(name)), architecture_(architecture),
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
  GpuArchitecture architecture_;
  mutable CachingAllocator allocator_;
};

CudaCode::~CudaCode() {
  if (profile)
    profile->print(name);
  device.makeCurrent();
  for (CUmodule m : modules)
    device.driver_.cuModuleUnload(m);
  if (constants)
    device.deallocate(reinterpret_cast<void *>(constants), 0);
}

MaybeError CudaDevice::load(const ExecutableView &exe, const std::string &displayName,
                            std::unique_ptr<LoadedCode> &out) {
  // Validate everything the file says before the driver sees any of it.
  std::vector<std::pair<std::string, const Section *>> ptxModules;
  if (MaybeError e = findPtxModules(exe, displayName, ptxModules))
    return e;
  std::vector<LaunchPlan> plans(exe.manifest.entries.size());
  for (size_t i = 0; i < plans.size(); ++i)
    if (MaybeError e = parseLaunchPlan(exe, exe.manifest.entries[i], displayName, plans[i]))
      return e;

  bool haveCubins = !ptxModules.empty();
  for (const auto &[module, ptx] : ptxModules)
    haveCubins = haveCubins && exe.findSection(section::cubin(module));
  ModuleImage image;
  if (MaybeError e = chooseModuleImage(exe.manifest.requiredFeatures, haveCubins, architecture_,
                                       deviceName_, displayName, image))
    return e;

  if (MaybeError e = makeCurrent())
    return e;
  auto code = std::make_unique<CudaCode>(*this);
  code->name = displayName;
  if (KernelProfile::enabled())
    code->profile = std::make_unique<KernelProfile>();
  std::map<std::string, CUmodule> modules;
  for (const auto &[module, ptx] : ptxModules) {
    CUmodule handle = nullptr;
    // The cubin when it fits this GPU; else the driver compiles the PTX
    // (also when an executable from before required_features has a cubin
    // for another GPU).
    const Section *cubin = exe.findSection(section::cubin(module));
    if (image != ModuleImage::Cubin || !cubin ||
        driver_.cuModuleLoadData(&handle, exe.section(*cubin)) != CUDA_SUCCESS)
      if (MaybeError e = driver_.check(driver_.cuModuleLoadData(&handle, exe.section(*ptx)),
                                       "loading PTX (cuModuleLoadData)"))
        return e;
    code->modules.push_back(handle);
    modules[module] = handle;
  }
  if (const Section *constants = exe.findSection(section::kConstants); constants && constants->size) {
    void *ptr;
    if (MaybeError e = allocate(constants->size, &ptr))
      return e;
    code->constants = reinterpret_cast<CUdeviceptr>(ptr);
    if (MaybeError e = copyToDevice(ptr, exe.section(*constants), constants->size))
      return e;
  }
  for (size_t i = 0; i < plans.size(); ++i) {
    ResolvedPlan resolved{std::move(plans[i]), {}, exe.manifest.entries[i]};
    for (const LaunchStep &step : resolved.plan.steps) {
      CUfunction function = nullptr;
      if (step.kind == LaunchStep::Launch)
        if (MaybeError e = driver_.check(driver_.cuModuleGetFunction(
                                             &function, modules.at(step.module),
                                             step.kernel.c_str()),
                                         "cuModuleGetFunction"))
          return e;
      resolved.functions.push_back(function);
    }
    code->plans.push_back(std::move(resolved));
  }
  out = std::move(code);
  return std::nullopt;
}

MaybeError CudaDevice::launch(LoadedCode &loaded, size_t entry, void **buffers) {
  auto &code = static_cast<CudaCode &>(loaded);
  const ResolvedPlan &resolved = code.plans.at(entry);
  const std::vector<CUfunction> &functions = resolved.functions;
  // A plan with expressions, or of an entry with symbols (its copies of
  // symbolic buffers are checked at each call), is evaluated at this call's
  // symbol sizes, which follow the arguments (and the arena, which cuda
  // entries do not take).
  bool perCall = resolved.plan.symbolic() || !resolved.entry.symbols.empty();
  LaunchPlan instance;
  if (perCall) {
    const EntryPoint &e = resolved.entry;
    std::vector<int64_t> symbols;
    if (!e.symbols.empty()) {
      size_t at = e.inputs.size() + e.outputs.size() + (e.arenaBytes ? 1 : 0);
      const auto *sizes = static_cast<const int64_t *>(buffers[at]);
      symbols.assign(sizes, sizes + e.symbols.size());
    }
    if (MaybeError error = instantiateLaunchPlan(resolved.plan, e, symbols, code.name, instance))
      return error;
  }
  const LaunchPlan &plan = perCall ? instance : resolved.plan;
  if (MaybeError e = makeCurrent())
    return e;
  std::vector<CUdeviceptr> pointers(plan.buffers.size());
  std::vector<void *> temporaries;
  auto release = [&] {
    for (void *t : temporaries)
      deallocate(t, 0);
  };
  for (size_t i = 0; i < plan.buffers.size(); ++i) {
    const LaunchBuffer &b = plan.buffers[i];
    if (b.kind == LaunchBuffer::Argument) {
      pointers[i] = reinterpret_cast<CUdeviceptr>(buffers[b.index]);
    } else if (b.kind == LaunchBuffer::Constant) {
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
  KernelProfile *profile = code.profile.get();
  std::vector<CUevent> events;
  if (profile) {
    ++profile->invocations;
    events.resize(plan.steps.size() + 1);
    for (CUevent &event : events)
      driver_.cuEventCreate(&event, 0);
    driver_.cuEventRecord(events[0], nullptr);
  }
  for (size_t s = 0; s < plan.steps.size(); ++s) {
    const LaunchStep &step = plan.steps[s];
    MaybeError error;
    bool empty = step.kind == LaunchStep::Launch &&
                 (step.grid[0] == 0 || step.grid[1] == 0 || step.grid[2] == 0);
    if (empty || (step.kind == LaunchStep::Copy && step.bytes == 0)) {
      // Nothing to run at these sizes.
    } else if (step.kind == LaunchStep::Launch) {
      slots.resize(step.args.size());
      params.resize(step.args.size());
      for (size_t a = 0; a < step.args.size(); ++a) {
        const LaunchArg &arg = step.args[a];
        slots[a] = arg.kind == LaunchArg::Pointer ? pointers[arg.buffer] : arg.bits;
        params[a] = &slots[a];
      }
      error = driver_.check(driver_.cuLaunchKernel(functions[s], step.grid[0], step.grid[1],
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
    if (profile)
      driver_.cuEventRecord(events[s + 1], nullptr);
    if (error) {
      release();
      return error;
    }
  }
  if (profile) {
    driver_.cuEventSynchronize(events.back());
    for (size_t s = 0; s < plan.steps.size(); ++s) {
      const LaunchStep &step = plan.steps[s];
      float ms = 0;
      driver_.cuEventElapsedTime(&ms, events[s], events[s + 1]);
      auto &entry = profile->kernels[step.kind == LaunchStep::Launch ? step.module : "(copy)"];
      entry.ms += ms;
      ++entry.launches;
      if (step.kind == LaunchStep::Launch) {
        entry.grid = step.grid[0] * step.grid[1] * step.grid[2];
        entry.block = step.block[0] * step.block[1] * step.block[2];
      }
    }
    for (CUevent event : events)
      driver_.cuEventDestroy_v2(event);
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
                                     fmt::format("{} (sm_{}{})", name, major, minor),
                                     GpuArchitecture{major, minor});
  return std::nullopt;
}

} // namespace ube::runtime
