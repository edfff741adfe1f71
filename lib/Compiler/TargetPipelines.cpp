//===- TargetPipelines.cpp - a compile's passes as registered pipelines ---===//
//
// --ube-<target>-pipeline (cpu, cuda) is the passes ube-compile runs
// for that target, up to a stage, so ube-opt reproduces any stage of a
// compile (and --dump-pass-pipeline prints it as text).
//
//===----------------------------------------------------------------------===//

#include "ube/Compiler.h"

#include "ube/Target/Target.h"

#include "mlir/Pass/PassOptions.h"
#include "mlir/Pass/PassRegistry.h"

using namespace mlir;

namespace ube {

namespace {

/// The options every target's pipeline takes; the rest of the text is the
/// target's own options.
struct CompilePipelineOptions : PassPipelineOptions<CompilePipelineOptions> {
  Option<std::string> emit{*this, "emit",
                           llvm::cl::desc("Stop after this stage: ube, linalg, or llvm (the "
                                          "target's lowest MLIR level, before translation)"),
                           llvm::cl::init("llvm")};
  Option<bool> fusedKernels{*this, "fused-kernels",
                            llvm::cl::desc("Use the target's fused kernels"),
                            llvm::cl::init(true)};
};

/// Splits "emit=llvm cpu=znver4" into the generic options' text and the
/// target's, by key.
std::pair<std::string, std::string> splitPipelineOptions(llvm::StringRef text) {
  std::string generic, target;
  llvm::SmallVector<llvm::StringRef> words;
  text.split(words, ' ', -1, /*KeepEmpty=*/false);
  for (llvm::StringRef word : words) {
    llvm::StringRef key = word.split('=').first;
    std::string &into = key == "emit" || key == "fused-kernels" ? generic : target;
    into += (into.empty() ? "" : " ") + word.str();
  }
  return {generic, target};
}

void registerTargetPipeline(const Target &target) {
  std::string name = target.name().str();
  registerPassPipeline(
      "ube-" + name + "-pipeline",
      "The passes of ube-compile --target=" + name + ", up to emit=STAGE",
      [name](OpPassManager &pm, llvm::StringRef text,
             function_ref<LogicalResult(const Twine &)> errorHandler) -> LogicalResult {
        auto [genericText, targetText] = splitPipelineOptions(text);
        CompilePipelineOptions pipelineOptions;
        if (failed(pipelineOptions.parseFromString(genericText)))
          return failure();
        CompileOptions options;
        options.target = name;
        options.targetOptions = targetText;
        options.fusedKernels = pipelineOptions.fusedKernels;
        std::optional<EmitStage> stage = parseEmitStage(pipelineOptions.emit);
        if (!stage || *stage > EmitStage::Llvm)
          return errorHandler("emit=" + pipelineOptions.emit + ": the pipeline stops at ube, "
                              "linalg or llvm (later stages are ube-compile's serializer)");
        options.emit = *stage;
        std::string error;
        if (failed(checkTarget(options, error)))
          return errorHandler(error);
        if (!lookupTarget(name)->variants(options).empty())
          return errorHandler("the options select several builds, which only ube-compile's "
                              "executable holds: give the pipeline one");
        buildCompilePipeline(pm, options);
        return success();
      },
      [&target](function_ref<void(const detail::PassOptions &)> handler) {
        handler(CompilePipelineOptions());
        handler(*target.createOptions());
      });
}

} // namespace

void registerTargetPipelines() {
  registerBuiltinTargets();
  for (llvm::StringRef name : registeredTargetNames())
    registerTargetPipeline(*lookupTarget(name));
}

} // namespace ube
