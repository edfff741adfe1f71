//===- CpuDevice.cpp - the host CPU device plugin -------------------------===//
//
// Memory is 64-byte aligned host memory. The executable's "host.so" section
// is a shared object; it is written to an anonymous memory file and
// dlopen'ed from there (no temporary file on disk), its constants region is
// filled from the "constants" section (HostConstants.h), and each entry
// point's `void ube_entry_NAME(void **buffers)` symbol is resolved.
// Parallel loops in the code call back into the device's thread pool through
// the object's `ube_host_parallel_for` pointer, set at load time.
//
//===----------------------------------------------------------------------===//

#include "../Device.h"
#include "CpuVariants.h"
#include "HostConstants.h"
#include "HostObject.h"
#include "ThreadPool.h"

#include "ube/Support/CpuFeatures.h"

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <fmt/format.h>
#include <mutex>
#include <sys/mman.h>
#include <unistd.h>

namespace ube::runtime {
namespace {

using EntryFn = void (*)(void **);
using ParallelForFn = void (*)(ThreadPool::Task task, void *ctx, int64_t count);

/// The pool of the launch running on this thread (null outside launches).
thread_local ThreadPool *launchPool = nullptr;

/// What `ube_host_parallel_for` points at in every loaded object.
void parallelFor(ThreadPool::Task task, void *ctx, int64_t count) {
  if (launchPool)
    launchPool->parallelFor(task, ctx, count);
  else
    task(ctx, 0, count);
}

class CpuCode : public LoadedCode {
public:
  ~CpuCode() override {
    if (handle)
      dlclose(handle);
    if (fd >= 0)
      close(fd);
  }
  void *handle = nullptr;
  /// The memory file stays open while the code is loaded: the loader knows
  /// objects by path, and "/proc/self/fd/N" must not name two live ones.
  int fd = -1;
  std::vector<EntryFn> entries;
};

class CpuDevice : public Device {
  static constexpr size_t kHugePageBytes = size_t(2) << 20;

public:
  const char *name() const override { return "cpu"; }
  bool hostVisible() const override { return true; }

  MaybeError allocate(size_t bytes, void **out) override {
    size_t alignment = bytes >= kHugePageBytes ? kHugePageBytes : 64;
    size_t rounded = (std::max<size_t>(bytes, 1) + alignment - 1) / alignment * alignment;
    *out = std::aligned_alloc(alignment, rounded);
    if (!*out)
      return Error{UBE_RESOURCE_EXHAUSTED,
                   fmt::format("cpu: cannot allocate {} bytes", bytes)};
    // Large buffers (arenas: the packed panels the matmul kernels keep in
    // L2) on transparent huge pages where the system gives them on request.
    // On 4 KiB pages their physical placement, different for each buffer,
    // decides which L2 sets they crowd: three copies of one 1024³
    // executable in one process ran at 0.83, 0.95 and 0.98× PyTorch's speed
    // (2048³: 0.82, 0.92, 0.93×; 1 thread, Emerald Rapids), on huge pages
    // at 0.98, 0.98, 1.00× (0.93, 0.95, 0.95×).
    if (alignment == kHugePageBytes)
      madvise(*out, rounded, MADV_HUGEPAGE);
    uint64_t now = allocated_ += bytes;
    uint64_t peak = peak_.load();
    while (now > peak && !peak_.compare_exchange_weak(peak, now))
      ;
    return std::nullopt;
  }
  void deallocate(void *ptr, size_t bytes) override {
    std::free(ptr);
    allocated_ -= bytes;
  }
  MaybeError copyToDevice(void *dst, const void *src, size_t bytes) override {
    std::memcpy(dst, src, bytes);
    return std::nullopt;
  }
  MaybeError copyToHost(void *dst, const void *src, size_t bytes) override {
    std::memcpy(dst, src, bytes);
    return std::nullopt;
  }

  MaybeError load(const ExecutableView &exe, const std::string &displayName,
                  std::unique_ptr<LoadedCode> &out) override {
    // Before any code is mapped: code for a CPU with more than this one
    // would die of SIGILL at the first such instruction.
    static const std::vector<std::string> host = hostCpuFeatures();
    const char *forced = std::getenv("UBE_CPU_VARIANT");
    CpuBuild build;
    if (MaybeError e = chooseCpuBuild(exe.manifest, host, forced ? forced : "", displayName,
                                      build))
      return e;
    const Section *hostObject;
    if (MaybeError e = findHostObject(exe, displayName, build.section, hostObject))
      return e;
    int fd = memfd_create("ube-host", MFD_CLOEXEC);
    if (fd < 0)
      return Error{UBE_INTERNAL, fmt::format("memfd_create: {}", std::strerror(errno))};
    const uint8_t *data = exe.section(*hostObject);
    for (uint64_t written = 0; written < hostObject->size;) {
      ssize_t n = write(fd, data + written, hostObject->size - written);
      if (n <= 0) {
        close(fd);
        return Error{UBE_INTERNAL, fmt::format("writing host code: {}", std::strerror(errno))};
      }
      written += uint64_t(n);
    }
    auto code = std::make_unique<CpuCode>();
    code->fd = fd;
    code->variant = build.variant;
    std::string path = fmt::format("/proc/self/fd/{}", fd);
    // RTLD_NOLOAD first: an object already known under this path would be
    // returned instead of ours (it cannot be, while every loaded object keeps
    // its file open, but a wrong answer is worse than an error).
    if (void *stale = dlopen(path.c_str(), RTLD_NOW | RTLD_NOLOAD)) {
      dlclose(stale);
      return Error{UBE_INTERNAL, fmt::format("{}: the loader already has an object at {}",
                                             displayName, path)};
    }
    code->handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!code->handle)
      return Error{UBE_INVALID_EXECUTABLE,
                   fmt::format("{}: cannot load the host code: {}", displayName, dlerror())};
    std::string constants = build.variant.empty()
                                ? section::kConstants
                                : section::ofVariant(section::kConstants, build.variant);
    if (MaybeError e = fillHostConstants(code->handle, exe, displayName, constants))
      return e;
    // Objects without parallel loops have no hook.
    if (void *hook = dlsym(code->handle, "ube_host_parallel_for"))
      *static_cast<ParallelForFn *>(hook) = &parallelFor;
    for (const EntryPoint &entry : exe.manifest.entries) {
      void *symbol = dlsym(code->handle, entry.symbol.c_str());
      if (!symbol)
        return Error{UBE_INVALID_EXECUTABLE,
                     fmt::format("{}: the host code lacks entry point '{}' ({})", displayName,
                                 entry.name, entry.symbol)};
      code->entries.push_back(reinterpret_cast<EntryFn>(symbol));
    }
    out = std::move(code);
    return std::nullopt;
  }

  MaybeError launch(LoadedCode &code, size_t entry, void **buffers) override {
    std::shared_ptr<ThreadPool> pool = currentPool();
    ThreadPool *outer = launchPool;
    launchPool = pool.get();
    static_cast<CpuCode &>(code).entries.at(entry)(buffers);
    launchPool = outer;
    return std::nullopt;
  }

  size_t threadCount() const override { return currentPool()->threads(); }
  MaybeError setThreadCount(size_t threads) override {
    if (threads == 0 || threads > 4096)
      return Error{UBE_INVALID_ARGUMENT,
                   fmt::format("cpu: thread count must be between 1 and 4096 (got {})", threads)};
    // Launches running now keep the pool they started with.
    auto pool = std::make_shared<ThreadPool>(threads);
    std::lock_guard<std::mutex> lock(poolMutex_);
    pool_ = std::move(pool);
    return std::nullopt;
  }
  MaybeError synchronize() override { return std::nullopt; }
  MemoryStats memoryStats() const override { return {allocated_.load(), peak_.load()}; }

private:
  std::shared_ptr<ThreadPool> currentPool() const {
    std::lock_guard<std::mutex> lock(poolMutex_);
    return pool_;
  }

  std::atomic<uint64_t> allocated_{0}, peak_{0};
  mutable std::mutex poolMutex_;
  std::shared_ptr<ThreadPool> pool_ =
      std::make_shared<ThreadPool>(ThreadPool::defaultThreads());
};
} // namespace

MaybeError createCpuDevice(std::unique_ptr<Device> &out) {
  out = std::make_unique<CpuDevice>();
  return std::nullopt;
}

} // namespace ube::runtime
