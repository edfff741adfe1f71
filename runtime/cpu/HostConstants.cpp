//===- HostConstants.cpp - fill a cpu executable's constants region -------===//

#include "HostConstants.h"

#include <cstring>
#include <dlfcn.h>
#include <fmt/format.h>
#include <sys/mman.h>
#include <unistd.h>

namespace ube::runtime {

MaybeError fillHostConstants(void *handle, const ExecutableView &exe,
                             const std::string &displayName, const std::string &name) {
  auto bad = [&](const std::string &why) {
    return Error{UBE_INVALID_EXECUTABLE, fmt::format("{}: {}", displayName, why)};
  };
  auto *region = static_cast<uint8_t *>(dlsym(handle, kHostConstantsSymbol));
  const Section *constants = exe.findSection(name);
  if (!region && !constants)
    return std::nullopt;
  if (!region)
    return bad(fmt::format("has a '{}' section, but its host code has no '{}' region to load "
                           "it into",
                           name, kHostConstantsSymbol));
  if (!constants)
    return bad(fmt::format("its host code needs the constants of a '{}' section, which it lacks",
                           name));
  const auto *size =
      static_cast<const uint64_t *>(dlsym(handle, kHostConstantsSizeSymbol));
  if (!size)
    return bad(fmt::format("host code has a '{}' region but no '{}'",
                           kHostConstantsSymbol, kHostConstantsSizeSymbol));
  if (*size != constants->size)
    return bad(fmt::format("the '{}' section has {} bytes, but its host code expects {}", name,
                           constants->size, *size));
  std::memcpy(region, exe.section(*constants), constants->size);
  // Read-only from now on, as constants in the object were: a stray write
  // faults rather than corrupting the weights. The object reserves whole
  // pages of kHostConstantsPageBytes; with larger pages, the region may
  // share one and stays writable.
  size_t page = size_t(sysconf(_SC_PAGESIZE));
  if (page == kHostConstantsPageBytes && reinterpret_cast<uintptr_t>(region) % page == 0 &&
      *size)
    mprotect(region, (*size + page - 1) / page * page, PROT_READ);
  return std::nullopt;
}

} // namespace ube::runtime
