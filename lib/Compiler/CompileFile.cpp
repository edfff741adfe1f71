//===- CompileFile.cpp - the compiler API in plain C++ types --------------===//

#include "ube/CompileFile.h"

#include "ube/Compiler.h"
#include "ube/Diagnostics.h"
#include "ube/Graph.h"

#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/raw_ostream.h"

namespace ube {

CompileFileResult compileFile(const std::string &path, const std::string &target,
                              const std::string &targetOptions, const std::string &emit,
                              bool fusedKernels) {
  CompileFileResult result;
  llvm::raw_string_ostream diagnosticsStream(result.diagnostics);
  auto stage = parseEmitStage(emit);
  if (!stage) {
    diagnosticsStream << "error: unknown emit stage '" << emit << "' (expected one of "
                      << emitStageNames() << ")\n";
    return result;
  }
  CompileOptions options;
  options.target = target;
  options.targetOptions = targetOptions;
  options.emit = *stage;
  options.fusedKernels = fusedKernels;
  std::string error;
  if (failed(checkTarget(options, error))) {
    diagnosticsStream << "error: " << error << "\n";
    return result;
  }
  registerCompilerPasses();
  mlir::DialectRegistry registry;
  registerCompilerDialects(registry);
  mlir::MLIRContext context(registry);
  DiagnosticPrinter diagnostics(&context, diagnosticsStream);
  mlir::OwningOpRef<mlir::ModuleOp> module = loadModule(path, &context);
  if (!module)
    return result;
  llvm::raw_string_ostream out(result.output);
  result.ok = succeeded(compileModule(*module, options, out));
  out.flush();
  if (!result.ok)
    result.output.clear();
  return result;
}

} // namespace ube
