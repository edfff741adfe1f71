//===- CpuDevice.cpp - the host CPU device plugin -------------------------===//
//
// Memory is 64-byte aligned host memory. The executable's "host.so" section
// is a shared object; it is written to an anonymous memory file and
// dlopen'ed from there (no temporary file on disk), and each entry point's
// `void ube_entry_NAME(void **buffers)` symbol is resolved at load time.
//
//===----------------------------------------------------------------------===//

#include "../Device.h"
#include "HostObject.h"

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <fmt/format.h>
#include <sys/mman.h>
#include <unistd.h>

namespace ube::runtime {
namespace {

using EntryFn = void (*)(void **);

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
public:
  const char *name() const override { return "cpu"; }
  bool hostVisible() const override { return true; }

  MaybeError allocate(size_t bytes, void **out) override {
    size_t rounded = (std::max<size_t>(bytes, 1) + 63) / 64 * 64;
    *out = std::aligned_alloc(64, rounded);
    if (!*out)
      return Error{UBE_RESOURCE_EXHAUSTED,
                   fmt::format("cpu: cannot allocate {} bytes", bytes)};
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
    const Section *host;
    if (MaybeError e = findHostObject(exe, displayName, host))
      return e;
    int fd = memfd_create("ube-host", MFD_CLOEXEC);
    if (fd < 0)
      return Error{UBE_INTERNAL, fmt::format("memfd_create: {}", std::strerror(errno))};
    const uint8_t *data = exe.section(*host);
    for (uint64_t written = 0; written < host->size;) {
      ssize_t n = write(fd, data + written, host->size - written);
      if (n <= 0) {
        close(fd);
        return Error{UBE_INTERNAL, fmt::format("writing host code: {}", std::strerror(errno))};
      }
      written += uint64_t(n);
    }
    auto code = std::make_unique<CpuCode>();
    code->fd = fd;
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
    static_cast<CpuCode &>(code).entries.at(entry)(buffers);
    return std::nullopt;
  }
  MaybeError synchronize() override { return std::nullopt; }
  MemoryStats memoryStats() const override { return {allocated_.load(), peak_.load()}; }

private:
  std::atomic<uint64_t> allocated_{0}, peak_{0};
};
} // namespace

std::unique_ptr<Device> createCpuDevice() { return std::make_unique<CpuDevice>(); }

} // namespace ube::runtime
