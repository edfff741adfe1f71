//===- CpuTarget.h - the x86 (host) CPU target -----------------------*- C++ -*-===//

#ifndef UBE_LIB_TARGET_CPU_CPUTARGET_H
#define UBE_LIB_TARGET_CPU_CPUTARGET_H

#include "ube/Target/Target.h"

namespace ube {
std::unique_ptr<Target> createCpuTarget();
} // namespace ube

#endif // UBE_LIB_TARGET_CPU_CPUTARGET_H
