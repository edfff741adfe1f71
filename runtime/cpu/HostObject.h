//===- HostObject.h - a cpu executable's host code ----------------*- C++ -*-===//
//
// A cpu executable carries its code as an ELF shared object in the
// "host.so" section. Before the dynamic loader maps it, its header is checked
// to describe a shared object for this machine, with its program headers
// inside the section: a foreign or truncated object gets a clear error
// rather than whatever the loader makes of it. This checks form, not intent:
// a well-formed object runs whatever code it holds (docs/security.md).
//
//===----------------------------------------------------------------------===//

#ifndef UBE_RUNTIME_CPU_HOSTOBJECT_H
#define UBE_RUNTIME_CPU_HOSTOBJECT_H

#include "../Device.h"

namespace ube::runtime {

/// Finds and checks the host object of `executable` in section `name`
/// (host.so, or a variant's); errors name `displayName`.
MaybeError findHostObject(const ExecutableView &executable, const std::string &displayName,
                          const std::string &name, const Section *&hostObject);

} // namespace ube::runtime

#endif // UBE_RUNTIME_CPU_HOSTOBJECT_H
