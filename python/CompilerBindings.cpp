//===- CompilerBindings.cpp - the ube._ube_compiler Python extension -------===//
//
// The compiler behind ube/CompileFile.h (no MLIR type crosses into this
// RTTI-and-exceptions file). Failures raise ube.CompileError with the
// compiler's diagnostics.
//
//===----------------------------------------------------------------------===//

#include "ube/CompileFile.h"

#include <pybind11/pybind11.h>

#include <string>

namespace py = pybind11;

PYBIND11_MODULE(_ube_compiler, m) {
  m.doc() = "ube compiler bindings (use ube.compile)";
  static py::object compileErrorType = py::module_::import("ube.errors").attr("CompileError");
  m.def(
      "compile_file",
      [](const std::string &path, const std::string &target, const std::string &targetOptions,
         const std::string &emit, bool fusedKernels) {
        ube::CompileFileResult result;
        {
          py::gil_scoped_release release;
          result = ube::compileFile(path, target, targetOptions, emit, fusedKernels);
        }
        if (!result.ok) {
          PyErr_SetString(compileErrorType.ptr(), result.diagnostics.c_str());
          throw py::error_already_set();
        }
        return py::bytes(result.output);
      },
      py::arg("path"), py::arg("target") = "cpu", py::arg("target_options") = "",
      py::arg("emit") = "exe",
      py::arg("fused_kernels") = true,
      "Compiles a graph file or MLIR file; returns the requested stage as bytes.");
}
