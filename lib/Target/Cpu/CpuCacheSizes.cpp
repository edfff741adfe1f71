//===- CpuCacheSizes.cpp - the L2 a cpu build is blocked for ---------------===//

#include "CpuCacheSizes.h"

#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/TargetParser/Host.h"

#include <string>

using namespace ube;

namespace {

constexpr int64_t KiB = 1024;

constexpr int64_t kDefaultL2 = 256 * KiB;

/// Per-core L2 of the microarchitectures LLVM names, in KiB; 0 for models
/// not listed.
int64_t knownModelL2(llvm::StringRef cpu) {
  return llvm::StringSwitch<int64_t>(cpu)
      .Cases({"znver4", "znver5"}, 1024)
      .Cases({"znver1", "znver2", "znver3"}, 512)
      .Cases({"skylake-avx512", "cascadelake", "cooperlake"}, 1024)
      .Cases({"icelake-server", "icelake-client", "tigerlake", "rocketlake"}, 1280)
      .Cases({"sapphirerapids", "emeraldrapids", "graniterapids", "graniterapids-d"}, 2048)
      .Cases({"alderlake", "raptorlake", "meteorlake"}, 1280)
      .Cases({"arrowlake", "arrowlake-s", "lunarlake", "pantherlake"}, 2560)
      .Cases({"haswell", "broadwell", "skylake"}, 256)
      .Default(0);
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

/// This host's L2 as Linux reports it for cpu0, or 0.
int64_t hostL2() {
  for (int index = 0; index < 8; ++index) {
    std::string dir = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(index) + "/";
    if (readFile(dir + "level") == "2" && readFile(dir + "type") != "Instruction")
      return parseSize(readFile(dir + "size"));
  }
  return 0;
}

} // namespace

int64_t ube::cpuL2CacheBytes(llvm::StringRef cpu) {
  if (cpu == "native") {
    if (int64_t host = hostL2())
      return host;
    cpu = llvm::sys::getHostCPUName();
  }
  int64_t known = knownModelL2(cpu) * KiB;
  return known ? known : kDefaultL2;
}
