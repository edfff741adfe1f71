//===- CompileFile.h - the compiler API in plain C++ types ---------*- C++ -*-===//
//
// For callers that must not see MLIR types (the Python extension, built with
// RTTI and exceptions): compile a file, get bytes and diagnostics back.
//
//===----------------------------------------------------------------------===//

#ifndef UBE_COMPILEFILE_H
#define UBE_COMPILEFILE_H

#include <string>

namespace ube {

struct CompileFileResult {
  bool ok = false;
  std::string output;      ///< The requested stage (an executable for "exe").
  std::string diagnostics; ///< "file:line:col: error: ..." as ube-compile prints them.
};

/// Compiles a graph file (.json) or MLIR file; `target`, `targetOptions`
/// and `fusedKernels` as in CompileOptions; `emit` is a stage name (ube,
/// linalg, llvm, asm, obj, exe). Thread-safe.
CompileFileResult compileFile(const std::string &path, const std::string &target = "cpu",
                              const std::string &targetOptions = "",
                              const std::string &emit = "exe", bool fusedKernels = true);

} // namespace ube

#endif // UBE_COMPILEFILE_H
