//===- GraphImportFuzzer.cpp - libFuzzer target for the graph importer -------===//
//
// An input is a graph file and, optionally, its weights: the JSON text, then
// (after a line "#safetensors", see kWeightsSeparator) the bytes of the
// safetensors file its "weights" field may name as "w.safetensors". Both are
// written to a private directory and imported as a user's files would be. A
// graph that imports must verify; one that does not must have said why.
//
//===----------------------------------------------------------------------===//

#include "FuzzCheck.h"
#include "ube/Graph.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"

#include <fstream>
#include <memory>
#include <string_view>

namespace {

constexpr std::string_view kWeightsSeparator = "\n#safetensors\n";

struct Fixture {
  std::unique_ptr<mlir::MLIRContext> context;
  unsigned inputsInContext = 0;
  std::string directory, graphPath, weightsPath;

  /// The context for the next input. Weights become resource blobs that live
  /// as long as their context, so it is replaced now and then to keep the
  /// fuzzer's memory flat.
  mlir::MLIRContext &nextContext() {
    if (!context || ++inputsInContext == 256) {
      mlir::DialectRegistry registry;
      ube::registerUbeDialects(registry);
      // One thread: the fuzzer's process should not spawn a pool per context.
      context = std::make_unique<mlir::MLIRContext>(registry,
                                                    mlir::MLIRContext::Threading::DISABLED);
      context->loadAllAvailableDialects();
      inputsInContext = 0;
    }
    return *context;
  }

  Fixture() {
    llvm::SmallString<128> dir;
    if (llvm::sys::fs::createUniqueDirectory("ube-fuzz-graph", dir))
      std::abort();
    directory = dir.str().str();
    graphPath = directory + "/graph.json";
    weightsPath = directory + "/w.safetensors";
  }
  ~Fixture() {
    llvm::sys::fs::remove(weightsPath);
    llvm::sys::fs::remove(directory);
  }
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static Fixture fixture;
  std::string_view input(reinterpret_cast<const char *>(data), size);
  size_t split = input.find(kWeightsSeparator);
  std::string_view json = input.substr(0, split);
  {
    std::ofstream weights(fixture.weightsPath, std::ios::binary | std::ios::trunc);
    if (split != std::string_view::npos) {
      std::string_view bytes = input.substr(split + kWeightsSeparator.size());
      weights.write(bytes.data(), std::streamsize(bytes.size()));
    }
  }
  mlir::MLIRContext &context = fixture.nextContext();
  unsigned errors = 0;
  mlir::ScopedDiagnosticHandler handler(&context, [&](mlir::Diagnostic &diag) {
    if (diag.getSeverity() == mlir::DiagnosticSeverity::Error)
      ++errors;
    return mlir::success();
  });
  mlir::OwningOpRef<mlir::ModuleOp> module =
      ube::importGraph(llvm::StringRef(json.data(), json.size()), fixture.graphPath,
                       &context);
  if (!module) {
    UBE_FUZZ_CHECK(errors > 0);
    return 0;
  }
  UBE_FUZZ_CHECK(errors == 0);
  UBE_FUZZ_CHECK(mlir::succeeded(mlir::verify(*module)));
  return 0;
}
