//===- Registration.cpp - what a compiler context needs -------------------===//

#include "ube/Compiler.h"
#include "ube/Graph.h"

#include "ube/Target/Target.h"

#include "passes/Common/Passes.h"
#include "passes/Graph/Passes.h"
#include "passes/Graph/Pipelines.h"
#include "passes/Linalg/Passes.h"
#include "passes/Linalg/Pipelines.h"

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
    registerUbeGraphPasses();
    registerUbeLinalgPasses();
    registerUbeCommonPasses();
    registerGraphPipelines();
    registerLinalgPipelines();
    // Each target's own passes and pipelines, from its folder.
    registerBuiltinTargets();
    for (llvm::StringRef name : registeredTargetNames())
      lookupTarget(name)->registerPasses();
    registerTargetPipelines();
  });
}

} // namespace ube
