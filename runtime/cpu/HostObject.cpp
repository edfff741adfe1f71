//===- HostObject.cpp - check a cpu executable's host code ----------------===//

#include "HostObject.h"

#include <cstring>
#include <elf.h>
#include <fmt/format.h>

namespace ube::runtime {
namespace {

#if defined(__x86_64__)
constexpr uint16_t kHostMachine = EM_X86_64;
constexpr const char *kHostMachineName = "x86-64";
#elif defined(__aarch64__)
constexpr uint16_t kHostMachine = EM_AARCH64;
constexpr const char *kHostMachineName = "aarch64";
#else
#error "ube's cpu runtime knows x86-64 and aarch64 hosts"
#endif

} // namespace

MaybeError findHostObject(const ExecutableView &exe, const std::string &displayName,
                          const std::string &name, const Section *&hostObject) {
  auto bad = [&](const std::string &why) {
    return Error{UBE_INVALID_EXECUTABLE, fmt::format("{}: host code {}", displayName, why)};
  };
  hostObject = exe.findSection(name);
  if (!hostObject)
    return Error{UBE_INVALID_EXECUTABLE,
                 fmt::format("{}: no '{}' section for the cpu device", displayName, name)};
  Elf64_Ehdr header;
  if (hostObject->size < sizeof header)
    return bad("is too short for an ELF header");
  std::memcpy(&header, exe.section(*hostObject), sizeof header);
  if (std::memcmp(header.e_ident, ELFMAG, SELFMAG) != 0)
    return bad("is not an ELF object");
  if (header.e_ident[EI_CLASS] != ELFCLASS64 || header.e_ident[EI_DATA] != ELFDATA2LSB)
    return bad("is not a 64-bit little-endian ELF object");
  if (header.e_type != ET_DYN)
    return bad("is not a shared object");
  if (header.e_machine != kHostMachine)
    return bad(fmt::format("is for ELF machine {}, but this host is {}", header.e_machine,
                           kHostMachineName));
  uint64_t phEnd = header.e_phoff + uint64_t(header.e_phnum) * header.e_phentsize;
  if (header.e_phentsize != sizeof(Elf64_Phdr) || header.e_phnum == 0 ||
      header.e_phoff > hostObject->size || phEnd > hostObject->size)
    return bad("has its program headers outside the section (truncated?)");
  return std::nullopt;
}

} // namespace ube::runtime
