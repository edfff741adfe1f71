//===- Registration.cpp - what a compiler context needs -------------------===//

#include "ube/Compiler.h"
#include "ube/Graph.h"

#include "passes/Passes.h"
#include "passes/Pipelines.h"

#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"

#include <mutex>

namespace ube {

void registerCompilerDialects(mlir::DialectRegistry &registry) {
  mlir::registerAllDialects(registry);
  mlir::registerAllExtensions(registry);
  // LLVM IR translation of host and device (NVVM) code.
  mlir::registerAllToLLVMIRTranslations(registry);
  registerUbeDialects(registry);
}

void registerCompilerPasses() {
  static std::once_flag once;
  std::call_once(once, [] {
    mlir::registerAllPasses();
    registerUbePasses();
    registerUbePipelines();
    registerTargetPipelines();
  });
}

} // namespace ube
