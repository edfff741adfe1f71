//===- CpuCacheSizes.h - the L2 a cpu build is blocked for -*- C++ -*-----===//
//
// The matmul kernels size their K blocks from the target CPU's per-core L2
// (a task's lhs rows, packed or read in place, must stay there while every
// panel passes over them). For 'native' the size is this host's (Linux sysfs); for a named
// model, its microarchitecture's; for anything else (psABI levels, unknown
// models) a conservative 256 KiB, which every x86-64 core of the last decade
// meets.
//
//===----------------------------------------------------------------------===//

#ifndef UBE_TARGET_CPU_CPUCACHESIZES_H
#define UBE_TARGET_CPU_CPUCACHESIZES_H

#include "llvm/ADT/StringRef.h"

#include <cstdint>

namespace ube {

/// The per-core L2 of `cpu` as --cpu names it (one model, not a list).
int64_t cpuL2CacheBytes(llvm::StringRef cpu);

} // namespace ube

#endif // UBE_TARGET_CPU_CPUCACHESIZES_H
