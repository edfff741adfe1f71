//===- ModuleLoader.cpp - dialect registration and input loading ----------===//

#include "ube/Graph.h"

#include "dialects/ube/UbeDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Parser/Parser.h"
#include "llvm/Support/SourceMgr.h"

using namespace mlir;

namespace ube {

void registerUbeDialects(DialectRegistry &registry) {
  registry.insert<ube::UbeDialect, func::FuncDialect>();
}

OwningOpRef<ModuleOp> loadModule(StringRef path, MLIRContext *context) {
  if (path.ends_with(".json"))
    return importGraphFile(path, context);
  return parseSourceFile<ModuleOp>(path, context);
}

} // namespace ube
