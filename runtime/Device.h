//===- Device.h - the device plugin interface ------------------------*- C++ -*-===//
//
// A device is a plugin found by name in a registry. It provides memory,
// loading of the executable's sections for that device, launching an entry
// point, and synchronization. A new device is one folder beside cpu/ that
// implements this interface and registers a factory.
//
//===----------------------------------------------------------------------===//

#ifndef UBE_RUNTIME_DEVICE_H
#define UBE_RUNTIME_DEVICE_H

#include "ube/Support/ExecutableFormat.h"
#include "ube/runtime.h"

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace ube::runtime {

/// A failure: a code and a message. Success is an empty optional<Error>.
struct Error {
  ube_status_code code;
  std::string message;
};
using MaybeError = std::optional<Error>;

/// Device code loaded from an executable, ready to launch.
class LoadedCode {
public:
  virtual ~LoadedCode() = default;
  /// The variant of a multi-build executable that was loaded; empty for one
  /// build.
  std::string variant;
};

struct MemoryStats {
  uint64_t allocatedBytes = 0; ///< In live buffers.
  uint64_t peakBytes = 0;
};

class Device {
public:
  virtual ~Device() = default;
  virtual const char *name() const = 0;
  /// Whether device memory is directly addressable by the host.
  virtual bool hostVisible() const = 0;
  virtual MaybeError allocate(size_t bytes, void **out) = 0;
  virtual void deallocate(void *ptr, size_t bytes) = 0;
  virtual MaybeError copyToDevice(void *dst, const void *src, size_t bytes) = 0;
  virtual MaybeError copyToHost(void *dst, const void *src, size_t bytes) = 0;
  /// Loads the device's sections of a validated executable.
  virtual MaybeError load(const ExecutableView &executable, const std::string &displayName,
                          std::unique_ptr<LoadedCode> &out) = 0;
  /// Runs `entry` with buffers = inputs then outputs (device pointers).
  virtual MaybeError launch(LoadedCode &code, size_t entry, void **buffers) = 0;
  virtual MaybeError synchronize() = 0;
  virtual MemoryStats memoryStats() const = 0;
  /// Host threads that run a launch's parallel loops; 0 for devices whose
  /// code does not run on host threads.
  virtual size_t threadCount() const { return 0; }
  virtual MaybeError setThreadCount(size_t threads) {
    return Error{UBE_INVALID_ARGUMENT,
                 std::string(name()) + ": the device has no host threads to set"};
  }
};

using DeviceFactory = std::function<MaybeError(std::unique_ptr<Device> &)>;

/// Registers a device plugin under `name` (done once per plugin at startup).
void registerDevice(const std::string &name, DeviceFactory factory);
MaybeError createDevice(const std::string &name, std::unique_ptr<Device> &out);
std::vector<std::string> registeredDevices();

} // namespace ube::runtime

#endif // UBE_RUNTIME_DEVICE_H
