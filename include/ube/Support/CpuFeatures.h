//===- CpuFeatures.h - x86 ISA features, recorded and checked -----*- C++ -*-===//
//
// The instruction-set features a cpu executable's code may use, named as
// LLVM names them: the cpu target records those its code was compiled with
// in the manifest ("required_features"), and the cpu device checks them
// against the host (cpuid, and XCR0 for the register state the OS saves)
// before it maps any code, so an executable built for a newer CPU is
// refused with the features named instead of dying with SIGILL. One table
// for both sides. LLVM-free.
//
//===----------------------------------------------------------------------===//

#ifndef UBE_SUPPORT_CPUFEATURES_H
#define UBE_SUPPORT_CPUFEATURES_H

#include <cstdint>
#include <string>
#include <vector>

namespace ube {

/// Where cpuid reports a feature, and the XCR0 bits (register state the OS
/// must save) its instructions need.
struct CpuFeatureInfo {
  const char *name; ///< LLVM's name: "avx2", "avx512f", "amx-tile", ...
  uint32_t leaf, subleaf;
  enum Register : uint8_t { Eax, Ebx, Ecx, Edx } reg;
  uint8_t bit;
  uint64_t xcr0;
};

/// The features ube records and checks.
const std::vector<CpuFeatureInfo> &checkedCpuFeatures();

/// Whether the check knows `name`.
bool isCheckedCpuFeature(const std::string &name);

/// The checked features this host has and its OS enables, sorted; empty
/// on other architectures than x86-64.
std::vector<std::string> hostCpuFeatures();

/// The features of `required` that `available` lacks, sorted. Names the
/// check does not know are not required of the host (an executable from a
/// newer compiler may record more).
std::vector<std::string> missingCpuFeatures(const std::vector<std::string> &required,
                                            const std::vector<std::string> &available);

} // namespace ube

#endif // UBE_SUPPORT_CPUFEATURES_H
