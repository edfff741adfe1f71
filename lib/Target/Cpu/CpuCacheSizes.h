//===- CpuCacheSizes.h - the caches a cpu build is blocked for -*- C++ -*-===//
//
// The matmul kernels size their K blocks from the target CPU's per-core L2
// (a task's lhs rows, packed or read in place, must stay there while every
// panel passes over them), and pack lhs only where a micro-tile's rows would
// evict each other from one L1 set (more rows in a set than it has ways).
// For 'native' the caches are this host's (Linux sysfs); for a named model,
// its microarchitecture's; for anything else (psABI levels, unknown models)
// a conservative 32 KiB 8-way L1 and 256 KiB L2, which every x86-64 core of
// the last decade meets.
//
//===----------------------------------------------------------------------===//

#ifndef UBE_TARGET_CPU_CPUCACHESIZES_H
#define UBE_TARGET_CPU_CPUCACHESIZES_H

#include "llvm/ADT/StringRef.h"

#include <cstdint>

namespace ube {

/// One core's data caches.
struct CpuCaches {
  int64_t l1Bytes;
  int64_t l1Ways;
  int64_t l2Bytes;
};

/// The per-core caches of `cpu` as --cpu names it (one model, not a list).
CpuCaches cpuCaches(llvm::StringRef cpu);

} // namespace ube

#endif // UBE_TARGET_CPU_CPUCACHESIZES_H
