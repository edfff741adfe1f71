//===- DeviceRegistry.cpp - device plugins by name ------------------------===//

#include "Device.h"

#include <fmt/format.h>
#include <map>
#include <mutex>

namespace ube::runtime {

// The factories of the plugins this runtime was built with (UBE_DEVICES).
#define UBE_DEVICE_PLUGIN(name, factory) MaybeError factory(std::unique_ptr<Device> &out);
#include "DevicePlugins.inc"
#undef UBE_DEVICE_PLUGIN

namespace {
struct Registry {
  std::mutex mutex;
  std::map<std::string, DeviceFactory> factories;
  Registry() {
#define UBE_DEVICE_PLUGIN(name, factory) factories[name] = factory;
#include "DevicePlugins.inc"
#undef UBE_DEVICE_PLUGIN
  }
};
Registry &registry() {
  static Registry r;
  return r;
}
} // namespace

void registerDevice(const std::string &name, DeviceFactory factory) {
  Registry &r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  r.factories[name] = std::move(factory);
}

MaybeError createDevice(const std::string &name, std::unique_ptr<Device> &out) {
  Registry &r = registry();
  DeviceFactory factory;
  {
    std::lock_guard<std::mutex> lock(r.mutex);
    auto it = r.factories.find(name);
    if (it == r.factories.end()) {
      std::string known;
      for (auto &[n, f] : r.factories)
        known += (known.empty() ? "" : ", ") + n;
      return Error{UBE_NOT_FOUND,
                   fmt::format("no device plugin named '{}' (available: {})", name, known)};
    }
    factory = it->second;
  }
  return factory(out);
}

std::vector<std::string> registeredDevices() {
  Registry &r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  std::vector<std::string> names;
  for (auto &[n, f] : r.factories)
    names.push_back(n);
  return names;
}

} // namespace ube::runtime
