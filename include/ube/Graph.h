//===- Graph.h - graph files <-> the ube dialect -------------------*- C++ -*-===//
//
// Graph file v1 (docs/graph-format.md): a JSON file naming inputs,
// parameters, nodes, outputs and entry functions, with parameter data in a
// .safetensors file beside it.
//
// Import: one func.func per entry function; graph inputs are function
// arguments (with a `ube.name` argument attribute); parameters are
// `ube.constant dense_resource<NAME>` ops whose blobs hold the safetensors
// data; every op is located at its node: NameLoc(node, file:line:col).
//
//===----------------------------------------------------------------------===//

#ifndef UBE_GRAPH_H
#define UBE_GRAPH_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "llvm/ADT/StringRef.h"

namespace mlir {
class DialectRegistry;
class MLIRContext;
} // namespace mlir

namespace ube {

/// The newest graph-file format version this build reads and writes, and the
/// oldest it still reads. Version 2 added symbolic dimensions; a graph
/// without them is written as version 1, which older builds read.
constexpr int kGraphFormatVersion = 2;
constexpr int kOldestGraphFormatVersion = 1;

/// Imports the graph file at `path`. Problems are reported as MLIR
/// diagnostics located in the file (line, column and node); returns null then.
mlir::OwningOpRef<mlir::ModuleOp> importGraphFile(llvm::StringRef path,
                                                  mlir::MLIRContext *context);

/// Imports graph JSON held in memory; `path` names it in locations and is
/// where a relative `weights` path is resolved from.
mlir::OwningOpRef<mlir::ModuleOp> importGraph(llvm::StringRef json,
                                              llvm::StringRef path,
                                              mlir::MLIRContext *context);

/// Writes `module` as a graph file at `jsonPath`, with parameter data in
/// `<stem>.safetensors` beside it. Fails, with a diagnostic at the offending
/// op, on anything a graph file cannot hold (non-ube ops, control flow).
mlir::LogicalResult exportGraph(mlir::ModuleOp module, llvm::StringRef jsonPath);

/// Registers the ube dialect and the upstream dialects ube's IR uses.
void registerUbeDialects(mlir::DialectRegistry &registry);

/// Loads a module from a graph file (.json) or MLIR (.mlir, anything else).
mlir::OwningOpRef<mlir::ModuleOp> loadModule(llvm::StringRef path,
                                             mlir::MLIRContext *context);

} // namespace ube

#endif // UBE_GRAPH_H
