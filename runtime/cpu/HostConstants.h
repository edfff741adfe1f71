//===- HostConstants.h - a cpu executable's constants, in its code -*- C++ -*-===//
//
// From format 3 on, the large constants of a cpu executable (weights, packed
// weight panels) are not in its host object but in its own "constants"
// section; the object reserves an uninitialized, page-aligned region for
// them (`ube_constants`, with its size in `ube_constants_size`) that its code
// addresses. Loading copies the section there once and makes the pages
// read-only. Objects of formats 1 and 2 hold their constants themselves.
//
//===----------------------------------------------------------------------===//

#ifndef UBE_RUNTIME_CPU_HOSTCONSTANTS_H
#define UBE_RUNTIME_CPU_HOSTCONSTANTS_H

#include "../Device.h"

namespace ube::runtime {

/// Fills the constants region of the host object `handle` (dlopen'ed) from
/// section `name` of `executable`. An object without a region and an
/// executable without the section is fine; one without the other, or sizes
/// that differ, is an invalid executable; errors name `displayName`.
MaybeError fillHostConstants(void *handle, const ExecutableView &executable,
                             const std::string &displayName, const std::string &name);

} // namespace ube::runtime

#endif // UBE_RUNTIME_CPU_HOSTCONSTANTS_H
