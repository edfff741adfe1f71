//===- CpuCacheSizes.cpp - the caches a cpu build is blocked for ----------===//

#include "CpuCacheSizes.h"

#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/TargetParser/Host.h"

#include <string>

using namespace ube;

namespace {

constexpr int64_t KiB = 1024;

constexpr CpuCaches kDefaultCaches = {32 * KiB, 8, 256 * KiB};

/// Per-core caches of the microarchitectures LLVM names (L1 data size in
/// KiB, its ways, L2 in KiB); zeros for models not listed.
CpuCaches knownModelCaches(llvm::StringRef cpu) {
  return llvm::StringSwitch<CpuCaches>(cpu)
      .Case("znver5", {48, 12, 1024})
      .Case("znver4", {32, 8, 1024})
      .Cases({"znver1", "znver2", "znver3"}, {32, 8, 512})
      .Cases({"skylake-avx512", "cascadelake", "cooperlake"}, {32, 8, 1024})
      .Cases({"icelake-server", "icelake-client", "tigerlake", "rocketlake"}, {48, 12, 1280})
      .Cases({"sapphirerapids", "emeraldrapids", "graniterapids", "graniterapids-d"},
             {48, 12, 2048})
      .Cases({"alderlake", "raptorlake", "meteorlake"}, {48, 12, 1280})
      .Cases({"arrowlake", "arrowlake-s", "lunarlake", "pantherlake"}, {48, 12, 2560})
      .Cases({"haswell", "broadwell", "skylake"}, {32, 8, 256})
      .Default({0, 0, 0});
}

/// A size from sysfs ("32K", "1024K", "2M"), or 0.
int64_t parseSize(llvm::StringRef text) {
  text = text.trim();
  int64_t scale = 1;
  if (text.consume_back("K"))
    scale = KiB;
  else if (text.consume_back("M"))
    scale = KiB * KiB;
  int64_t value = 0;
  return text.getAsInteger(10, value) ? 0 : value * scale;
}

std::string readFile(const std::string &path) {
  auto buffer = llvm::MemoryBuffer::getFileAsStream(path);
  return buffer ? (*buffer)->getBuffer().trim().str() : std::string();
}

/// This host's caches as Linux reports them for cpu0; zero where it does
/// not.
CpuCaches hostCaches() {
  CpuCaches caches = {0, 0, 0};
  for (int index = 0; index < 8; ++index) {
    std::string dir = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(index) + "/";
    if (readFile(dir + "type") == "Instruction")
      continue;
    std::string level = readFile(dir + "level");
    if (level == "1") {
      caches.l1Bytes = parseSize(readFile(dir + "size"));
      int64_t ways = 0;
      caches.l1Ways =
          llvm::StringRef(readFile(dir + "ways_of_associativity")).getAsInteger(10, ways)
              ? 0
              : ways;
    } else if (level == "2") {
      caches.l2Bytes = parseSize(readFile(dir + "size"));
    }
  }
  return caches;
}

} // namespace

CpuCaches ube::cpuCaches(llvm::StringRef cpu) {
  CpuCaches caches = {0, 0, 0};
  if (cpu == "native") {
    caches = hostCaches();
    cpu = llvm::sys::getHostCPUName();
  }
  // What sysfs leaves out comes from the model, then the defaults.
  CpuCaches known = knownModelCaches(cpu);
  CpuCaches result = known.l2Bytes ? CpuCaches{known.l1Bytes * KiB, known.l1Ways,
                                               known.l2Bytes * KiB}
                                   : kDefaultCaches;
  // An L1's size and ways come from one source, so that their quotient (the
  // span of one way) is a real cache's.
  if (caches.l1Bytes && caches.l1Ways) {
    result.l1Bytes = caches.l1Bytes;
    result.l1Ways = caches.l1Ways;
  }
  if (caches.l2Bytes)
    result.l2Bytes = caches.l2Bytes;
  return result;
}
