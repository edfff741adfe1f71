//===- ube-opt.cpp - the ube optimizer driver -----------------------------===//
//
// mlir-opt with the ube dialect and passes. It also reads graph files
// (INPUT.json) and writes them (-o OUTPUT.json), so each step of the
// pipeline can be run on a user's graph and inspected.
//
//===----------------------------------------------------------------------===//

#include "ube/Compiler.h"
#include "ube/Diagnostics.h"
#include "ube/Graph.h"
#include "ube/Version.h"

#include "mlir/IR/AsmState.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/ToolOutputFile.h"

using namespace mlir;

/// Graph-file input or output: load (importing JSON), run the pipeline given
/// on the command line, then print MLIR or export a graph file.
static LogicalResult runOnGraphFiles(StringRef input, StringRef output,
                                     DialectRegistry &registry) {
  MlirOptMainConfig config = MlirOptMainConfig::createFromCLOptions();
  MLIRContext context(registry);
  ube::DiagnosticPrinter diagnostics(&context);
  OwningOpRef<ModuleOp> module = ube::loadModule(input, &context);
  if (!module)
    return failure();
  PassManager pm(&context, ModuleOp::getOperationName(), OpPassManager::Nesting::Implicit);
  applyDefaultTimingPassManagerCLOptions(pm);
  if (failed(applyPassManagerCLOptions(pm)) ||
      failed(config.setupPassPipeline(pm)) || failed(pm.run(*module)))
    return failure();
  if (output.ends_with(".json"))
    return ube::exportGraph(*module, output);
  std::string error;
  auto file = openOutputFile(output, &error);
  if (!file) {
    llvm::errs() << error << "\n";
    return failure();
  }
  module->print(file->os(), OpPrintingFlags());
  file->os() << "\n";
  file->keep();
  return success();
}

int main(int argc, char **argv) {
  llvm::cl::AddExtraVersionPrinter(
      [](llvm::raw_ostream &os) { os << "ube " << ube::kVersion << "\n"; });
  ube::registerCompilerPasses();
  DialectRegistry registry;
  ube::registerCompilerDialects(registry);

  auto [input, output] = registerAndParseCLIOptions(
      argc, argv, "ube optimizer driver: .mlir or graph-file (.json) input\n",
      registry);
  if (StringRef(input).ends_with(".json") || StringRef(output).ends_with(".json"))
    return asMainReturnCode(runOnGraphFiles(input, output, registry));
  return asMainReturnCode(MlirOptMain(argc, argv, input, output, registry));
}
