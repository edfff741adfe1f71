//===- TargetRegistry.cpp - compilation targets by name -------------------===//

#include "ube/Target/Target.h"

#include "llvm/ADT/StringMap.h"

#include <mutex>

namespace ube {

// The factories of the targets this library was built with (UBE_TARGETS).
#define UBE_TARGET(factory) std::unique_ptr<Target> factory();
#include "Targets.inc"
#undef UBE_TARGET

namespace {
llvm::StringMap<std::unique_ptr<Target>> &registry() {
  static llvm::StringMap<std::unique_ptr<Target>> targets;
  return targets;
}
std::mutex registryMutex;
} // namespace

void registerTarget(std::unique_ptr<Target> target) {
  std::lock_guard<std::mutex> lock(registryMutex);
  llvm::StringRef name = target->name();
  registry()[name] = std::move(target);
}

const Target *lookupTarget(llvm::StringRef name) {
  std::lock_guard<std::mutex> lock(registryMutex);
  auto it = registry().find(name);
  return it == registry().end() ? nullptr : it->second.get();
}

std::vector<llvm::StringRef> registeredTargetNames() {
  std::lock_guard<std::mutex> lock(registryMutex);
  std::vector<llvm::StringRef> names;
  for (auto &entry : registry())
    names.push_back(entry.getKey());
  llvm::sort(names);
  return names;
}

std::string targetOptionText(const Target &target, const CompileOptions &options) {
  llvm::StringRef suffix = llvm::StringRef(options.target).split(':').second;
  std::string text;
  if (!suffix.empty() && !target.suffixOption().empty())
    text = (target.suffixOption() + "=" + suffix + " ").str();
  return text + options.targetOptions;
}

void registerBuiltinTargets() {
  static std::once_flag once;
  std::call_once(once, [] {
#define UBE_TARGET(factory) registerTarget(factory());
#include "Targets.inc"
#undef UBE_TARGET
  });
}

} // namespace ube
