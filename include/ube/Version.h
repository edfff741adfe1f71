//===- Version.h - the ube version ---------------------------------*- C++ -*-===//

#ifndef UBE_VERSION_H
#define UBE_VERSION_H

namespace ube {
inline constexpr const char *kVersion = "0.6.0";
} // namespace ube

#endif // UBE_VERSION_H
